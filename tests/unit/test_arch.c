/* test_arch.c: the architecture tables (convert/arch.c): name matching, config.json reading,
 * the GGUF keys written, and llama3's rope_freqs against a double-precision evaluation of
 * llama.cpp's formula. Needs nothing from ../shared. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb_arch.h"
#include "tap.h"

static char dir[600];

static int write_config(const char *json, const lb_arch **a, lb_hparams *hp, lb_err *e)
{
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    fputs(json, f);
    fclose(f);
    return lb_arch_config(p, a, hp, e);
}

static void t_match(void)
{
    const lb_arch *ll = lb_arch_find("LlamaForCausalLM"), *g2 = lb_arch_find("GPT2LMHeadModel");
    const lb_arch_tensor *t;
    int bid;
    tap_begin("arch: HF names map to llama.cpp names, with block numbers");
    CHECK(ll && g2, "llama or gpt2 row missing");
    if (ll && g2) {
        CHECK(lb_arch_match(ll, "model.layers.12.self_attn.k_proj.weight", &t, &bid) == 1 && bid == 12 &&
              !strcmp(t->gguf, "blk.%d.attn_k.weight") && t->xform == LB_XF_PERM_K, "k_proj");
        CHECK(lb_arch_match(ll, "model.embed_tokens.weight", &t, &bid) == 1 && bid == -1 &&
              !strcmp(t->gguf, "token_embd.weight"), "embed_tokens");
        CHECK(lb_arch_match(ll, "model.layers.3.self_attn.rotary_emb.inv_freq", &t, &bid) == 0, "inv_freq not skipped");
        CHECK(lb_arch_match(ll, "model.layers.03.mlp.up_proj.weight", &t, &bid) == -1, "leading zero accepted");
        CHECK(lb_arch_match(ll, "model.layers.x.mlp.up_proj.weight", &t, &bid) == -1, "non-number accepted");
        CHECK(lb_arch_match(ll, "model.layers.1.mlp.up_proj.weightX", &t, &bid) == -1, "suffix not checked");
        CHECK(lb_arch_match(g2, "transformer.h.0.attn.c_attn.weight", &t, &bid) == 1 &&
              t->xform == LB_XF_TRANSPOSE && !strcmp(t->gguf, "blk.%d.attn_qkv.weight"), "gpt2 with prefix");
        CHECK(lb_arch_match(g2, "h.0.attn.c_attn.weight", &t, &bid) == 1, "gpt2 without prefix");
        CHECK(lb_arch_match(g2, "h.0.attn.masked_bias", &t, &bid) == 0, "masked_bias not skipped");
        CHECK(lb_arch_match_gguf(ll, "blk.4.ffn_down.weight", &t, &bid) == 1 && bid == 4, "gguf side");
        CHECK(lb_arch_find("MistralForCausalLM") && !strcmp(lb_arch_find("MistralForCausalLM")->gguf_arch, "llama"),
              "mistral is not written as llama");
        CHECK(!strcmp(lb_arch_supported(), "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel"),
              "supported list: %s", lb_arch_supported());
    }
    tap_end();
}

static const lb_kv *find(const lb_kvlist *l, const char *k)
{
    for (size_t i = 0; i < l->n; i++) if (!strcmp(l->kv[i].key, k)) return &l->kv[i];
    return NULL;
}

static void t_config(void)
{
    const lb_arch *a;
    lb_hparams hp;
    lb_err e;
    tap_begin("arch: config.json hyperparameters and the keys llama.cpp writes");
    int rc = write_config("{\"architectures\": [\"MistralForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 96,"
                          " \"num_hidden_layers\": 3, \"num_attention_heads\": 8, \"num_key_value_heads\": 2,"
                          " \"head_dim\": 16, \"vocab_size\": 100, \"rms_norm_eps\": 1e-6, \"rope_theta\": 1e6,"
                          " \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}, \"sliding_window\": null}",
                          &a, &hp, &e);
    CHECK(rc == 0, "%s", e.msg);
    if (!rc) {
        CHECK(lb_arch_dim(&hp, LB_D_Q) == 128 && lb_arch_dim(&hp, LB_D_KV) == 32, "q/kv dims from head_dim");
        lb_kvlist l = { 0 };
        CHECK(lb_arch_kvs(a, &hp, &l, &e) == 0, "%s", e.msg);
        const lb_kv *k;
        CHECK((k = find(&l, "llama.attention.key_length")) && k->val.v.u == 16, "key_length");
        CHECK((k = find(&l, "llama.rope.dimension_count")) && k->val.v.u == 16, "rope.dimension_count");
        CHECK((k = find(&l, "llama.rope.freq_base")) && k->val.type == LB_V_F32 && k->val.v.f == 1e6, "freq_base");
        CHECK((k = find(&l, "llama.rope.scaling.type")) && !strcmp(k->val.v.s, "linear"), "scaling type");
        CHECK((k = find(&l, "llama.rope.scaling.factor")) && k->val.v.f == 2.0, "scaling factor");
        CHECK(!find(&l, "llama.context_length"), "context_length written without max_position_embeddings");
        CHECK((k = find(&l, "llama.vocab_size")) && k->val.v.u == 100, "vocab_size");
        lb_kvlist_free(&l);
    }
    tap_end();

    tap_begin("arch: gpt2 feed_forward_length is 4 * n_embd when n_inner is null");
    rc = write_config("{\"architectures\": [\"GPT2LMHeadModel\"], \"n_embd\": 16, \"n_inner\": null, \"n_layer\": 1,"
                      " \"n_head\": 2, \"n_ctx\": 32, \"n_positions\": 32, \"vocab_size\": 50, \"layer_norm_epsilon\": 1e-5}",
                      &a, &hp, &e);
    CHECK(rc == 0, "%s", e.msg);
    if (!rc) {
        lb_kvlist l = { 0 };
        CHECK(lb_arch_kvs(a, &hp, &l, &e) == 0, "%s", e.msg);
        const lb_kv *k;
        CHECK((k = find(&l, "gpt2.feed_forward_length")) && k->val.v.u == 64, "ff");
        CHECK(!find(&l, "gpt2.attention.head_count_kv") && !find(&l, "gpt2.vocab_size"), "keys llama.cpp does not write for gpt2");
        CHECK(l.n == 6, "%zu keys, want 6", l.n);
        CHECK(lb_arch_dim(&hp, LB_D_QKV) == 48, "qkv dim");
        lb_kvlist_free(&l);
    }
    tap_end();

    static const struct { const char *name, *json, *msg; } bad[] = {
        { "not JSON", "{\"architectures\": [", "malformed" },
        { "no architectures", "{\"hidden_size\": 8}", "no 'architectures'" },
        { "unknown class", "{\"architectures\": [\"BertModel\"]}", "'BertModel' is not supported (supported: LlamaForCausalLM" },
        { "no layers", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8, \"num_attention_heads\": 2,"
                       " \"vocab_size\": 4, \"intermediate_size\": 8}", "num_hidden_layers" },
        { "fractional size", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8.5}", "'hidden_size' must be a non-negative integer" },
        { "implausible layer count", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8, \"num_attention_heads\": 2,"
                                     " \"num_hidden_layers\": 4000000000, \"vocab_size\": 4, \"intermediate_size\": 8}", "implausible" },
        { "heads do not divide", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 10, \"num_attention_heads\": 3,"
                                 " \"num_hidden_layers\": 1, \"vocab_size\": 4, \"intermediate_size\": 8}", "not a multiple" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tap_begin("arch: bad config.json: %s", bad[i].name);
        rc = write_config(bad[i].json, &a, &hp, &e);
        CHECK(rc == LB_EFORMAT, "rc %d", rc);
        CHECK(strstr(e.msg, bad[i].msg) != NULL, "message: %s", e.msg);
        CHECK(strstr(e.item, "config.json") != NULL, "file not named: %s", e.item);
        tap_end();
    }
}

/* llama.cpp's formula in double precision; ours runs in float32 as torch does. */
static void t_rope_freqs(void)
{
    const lb_arch *a;
    lb_hparams hp;
    lb_err e;
    tap_begin("arch: llama3 rope_freqs match llama.cpp's formula (Llama 3.1 parameters)");
    int rc = write_config("{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 4096, \"intermediate_size\": 14336,"
                          " \"num_hidden_layers\": 32, \"num_attention_heads\": 32, \"num_key_value_heads\": 8,"
                          " \"vocab_size\": 128256, \"rope_theta\": 500000.0, \"rope_scaling\": {\"factor\": 8.0,"
                          " \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192,"
                          " \"rope_type\": \"llama3\"}}", &a, &hp, &e);
    CHECK(rc == 0, "%s", e.msg);
    float *f = NULL;
    size_t n = 0;
    if (!rc) CHECK(lb_arch_rope_freqs(a, &hp, &f, &n, &e) == 0 && n == 64, "n %zu", n);
    for (size_t i = 0; f && i < n; i++) {
        double freq = 1.0 / pow(500000.0, (double)(2 * i) / 128.0), wl = 2 * M_PI / freq, want;
        if (wl < 8192.0 / 4.0) want = 1;
        else if (wl > 8192.0 / 1.0) want = 8;
        else {
            double s = (8192.0 / wl - 1.0) / (4.0 - 1.0);
            want = 1 / ((1 - s) / 8 + s);
        }
        CHECK(fabs(f[i] - want) <= 1e-5 * want, "factor %zu: %.9g, want %.9g", i, f[i], want);
    }
    CHECK(f && f[0] == 1.0f && f[63] == 8.0f, "ends are not 1 and 8");
    free(f);
    tap_end();
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/arch.XXXXXX", getenv("LOWBIT_TMP") ? getenv("LOWBIT_TMP") : "/tmp");
    if (!mkdtemp(dir)) return 1;
    t_match();
    t_config();
    t_rope_freqs();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
    TAP_EXIT();
}
