/* convert_run.c: run GGUF files lowbit-convert wrote in the real llama.cpp (tests/interop/convert.sh).
 *
 * usage:
 *   convert_run LIBDIR greedy MODEL PROMPT N   print "TOKENS id..." then "TEXT ..." of the greedy
 *                                             continuation of PROMPT (BOS added)
 *   convert_run LIBDIR probe MODEL IDS.npy LOGITS.npy
 *                                             all positions of IDS in one batch; print
 *                                             "MAXDIFF d" against LOGITS ([n, vocab] f32)
 *   convert_run LIBDIR run MODEL N            decode "Once upon a time" and N greedy tokens;
 *                                             print "FINITE n" (logit rows checked)
 *   convert_run LIBDIR tokens MODEL TEXT      load vocab-only; print "TOKENS id..." of TEXT (BOS added)
 *   convert_run - mkmodel KIND DIR            write an HF folder (config.json + random weights
 *                                             via lowbit's safetensors writer) of KIND qwen2,
 *                                             mistral or llama3 (llama3 rope scaling)
 * Errors go to stderr with exit status 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "llama.h"

#include "lb_dtype.h"
#include "lb_io.h"
#include "lb_le.h"
#include "lb_writer.h"

static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static int die(const char *what)
{
    fprintf(stderr, "convert_run: %s\n", what);
    return 1;
}

/* ---- llama.cpp --------------------------------------------------------------------------- */

typedef struct run { struct llama_model *model; struct llama_context *ctx; const struct llama_vocab *vocab; int n_vocab; } run;

static int load(run *r, const char *libdir, const char *path, int n_ctx)
{
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    ggml_backend_load_all_from_path(libdir);
    struct llama_model_params mp = llama_model_default_params();
    r->model = llama_model_load_from_file(path, mp);
    if (!r->model) return die("llama_model_load_from_file failed");
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = cp.n_ubatch = (uint32_t)n_ctx;
    cp.n_threads = cp.n_threads_batch = 1;
    r->ctx = llama_init_from_model(r->model, cp);
    if (!r->ctx) return die("llama_init_from_model failed");
    r->vocab = llama_model_get_vocab(r->model);
    r->n_vocab = llama_vocab_n_tokens(r->vocab);
    return 0;
}

static void unload(run *r)
{
    if (r->ctx) llama_free(r->ctx);
    if (r->model) llama_model_free(r->model);
    llama_backend_free();
}

static int argmax(const float *l, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++) if (l[i] > l[b]) b = i;
    return b;
}

static int finite_row(const float *l, int n)
{
    for (int i = 0; i < n; i++) if (!isfinite(l[i])) return 0;
    return 1;
}

/* Greedy continuation; rows = number of logit rows seen, all finite (else -1). */
static int greedy(run *r, const char *prompt, int n, llama_token *out, int *rows)
{
    llama_token toks[256];
    int nt = llama_tokenize(r->vocab, prompt, (int32_t)strlen(prompt), toks, 256, true, false);
    if (nt <= 0) return die("llama_tokenize failed");
    *rows = 0;
    if (llama_decode(r->ctx, llama_batch_get_one(toks, nt))) return die("llama_decode failed");
    for (int i = 0; i < n; i++) {
        float *l = llama_get_logits_ith(r->ctx, -1);
        if (!l) return die("no logits");
        if (!finite_row(l, r->n_vocab)) return die("logits not finite");
        (*rows)++;
        llama_token t = argmax(l, r->n_vocab);
        out[i] = t;
        if (llama_decode(r->ctx, llama_batch_get_one(&out[i], 1))) return die("llama_decode failed");
    }
    return 0;
}

static int cmd_greedy(const char *libdir, const char *model, const char *prompt, int n)
{
    run r = { 0 };
    llama_token out[256];
    int rows, rc = load(&r, libdir, model, 256);
    if (n > 200) n = 200;
    if (!rc) rc = greedy(&r, prompt, n, out, &rows);
    if (!rc) {
        printf("TOKENS");
        for (int i = 0; i < n; i++) printf(" %d", out[i]);
        printf("\nTEXT ");
        for (int i = 0; i < n; i++) {
            char buf[64];
            int k = llama_token_to_piece(r.vocab, out[i], buf, sizeof buf, 0, false);
            if (k > 0) fwrite(buf, 1, (size_t)k, stdout);
        }
        printf("\n");
    }
    unload(&r);
    return rc;
}

static int cmd_run(const char *libdir, const char *model, int n)
{
    run r = { 0 };
    llama_token out[256];
    int rows = 0, rc = load(&r, libdir, model, 256);
    if (n > 200) n = 200;
    if (!rc) rc = greedy(&r, "Once upon a time", n, out, &rows);
    if (!rc) printf("FINITE %d\n", rows);
    unload(&r);
    return rc;
}

static int cmd_tokens(const char *libdir, const char *path, const char *text)
{
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    ggml_backend_load_all_from_path(libdir);
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model *m = llama_model_load_from_file(path, mp);
    if (!m) return die("llama_model_load_from_file (vocab_only) failed");
    llama_token toks[256];
    int n = llama_tokenize(llama_model_get_vocab(m), text, (int32_t)strlen(text), toks, 256, true, false);
    if (n > 0) {
        printf("TOKENS");
        for (int i = 0; i < n; i++) printf(" %d", toks[i]);
        printf("\n");
    }
    llama_model_free(m);
    llama_backend_free();
    return n > 0 ? 0 : die("llama_tokenize failed");
}

/* ---- .npy (version 1/2/3, little-endian, C order) ---------------------------------------------- */

static void *read_npy(const char *path, const char *descr, int64_t *shape, int *ndim)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t h[12];
    void *data = NULL;
    if (fread(h, 1, 10, f) != 10 || memcmp(h, "\x93NUMPY", 6) != 0) goto out;
    uint32_t hl = lb_ld16(h + 8);
    if (h[6] >= 2) {
        if (fread(h + 10, 1, 2, f) != 2) goto out;
        hl = lb_ld32(h + 8);
    }
    if (hl > 65536) goto out;
    char *txt = calloc(1, hl + 1);
    if (!txt || fread(txt, 1, hl, f) != hl) { free(txt); goto out; }
    char want[64];
    snprintf(want, sizeof want, "'descr': '%s'", descr);
    const char *sp = strstr(txt, "'shape': (");
    if (!strstr(txt, want) || strstr(txt, "'fortran_order': True") || !sp) { free(txt); goto out; }
    sp += 10;
    *ndim = 0;
    int64_t n = 1;
    while (*sp && *sp != ')' && *ndim < 4) {
        char *end;
        long long v = strtoll(sp, &end, 10);
        if (end == sp) break;
        shape[(*ndim)++] = v;
        n *= v;
        sp = end;
        while (*sp == ',' || *sp == ' ') sp++;
    }
    free(txt);
    data = malloc((size_t)n * 4);
    if (data && fread(data, 4, (size_t)n, f) != (size_t)n) { free(data); data = NULL; }
out:
    fclose(f);
    return data;
}

static int cmd_probe(const char *libdir, const char *model, const char *ids_path, const char *lg_path)
{
    int64_t si[4], sl[4];
    int ni = 0, nl = 0;
    int32_t *ids = read_npy(ids_path, "<i4", si, &ni);
    float *ref = read_npy(lg_path, "<f4", sl, &nl);
    if (!ids || !ref || ni != 1 || nl != 2 || sl[0] != si[0]) { free(ids); free(ref); return die("cannot read the probe .npy files"); }
    int n = (int)si[0];
    run r = { 0 };
    int rc = load(&r, libdir, model, 128);
    if (!rc && (n > 128 || sl[1] != r.n_vocab)) rc = die("probe does not fit the model");
    double maxd = 0;
    if (!rc) {
        struct llama_batch b = llama_batch_init(n, 0, 1);
        for (int i = 0; i < n; i++) {
            b.token[i] = ids[i];
            b.pos[i] = i;
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = 0;
            b.logits[i] = 1;
        }
        b.n_tokens = n;
        if (llama_decode(r.ctx, b)) rc = die("llama_decode failed");
        for (int i = 0; !rc && i < n; i++) {
            const float *l = llama_get_logits_ith(r.ctx, i);
            if (!l) { rc = die("no logits"); break; }
            for (int j = 0; j < r.n_vocab; j++) {
                double d = fabs((double)l[j] - (double)ref[(size_t)i * (size_t)r.n_vocab + (size_t)j]);
                if (!(d <= maxd)) maxd = d;   /* NaN propagates */
            }
        }
        llama_batch_free(b);
    }
    if (!rc) printf("MAXDIFF %.6g\n", maxd);
    unload(&r);
    free(ids);
    free(ref);
    return rc;
}

/* ---- synthetic HF folders ------------------------------------------------------------------ */

typedef struct spec {
    const char *kind, *config;
    int embd, ff, layers, heads, kv_heads, head_dim, vocab, dtype, tied, qkv_bias;
} spec;

static const spec specs[] = {
    { "qwen2",
      "{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\", \"hidden_size\": 64,\n"
      " \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,\n"
      " \"num_key_value_heads\": 2, \"vocab_size\": 512, \"max_position_embeddings\": 256,\n"
      " \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, \"tie_word_embeddings\": true,\n"
      " \"use_sliding_window\": false, \"sliding_window\": 4096, \"max_window_layers\": 2,\n"
      " \"hidden_act\": \"silu\", \"bos_token_id\": 1, \"eos_token_id\": 2, \"torch_dtype\": \"bfloat16\"}\n",
      64, 128, 2, 4, 2, 16, 512, LB_BF16, 1, 1 },
    { "mistral",
      "{\"architectures\": [\"MistralForCausalLM\"], \"model_type\": \"mistral\", \"hidden_size\": 64,\n"
      " \"intermediate_size\": 160, \"num_hidden_layers\": 2, \"num_attention_heads\": 8,\n"
      " \"num_key_value_heads\": 2, \"head_dim\": 16, \"vocab_size\": 512,\n"
      " \"max_position_embeddings\": 512, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,\n"
      " \"sliding_window\": null, \"tie_word_embeddings\": false, \"hidden_act\": \"silu\",\n"
      " \"bos_token_id\": 1, \"eos_token_id\": 2, \"torch_dtype\": \"float16\"}\n",
      64, 160, 2, 8, 2, 16, 512, LB_F16, 0, 0 },
    { "llama3",
      "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 64,\n"
      " \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,\n"
      " \"num_key_value_heads\": 2, \"vocab_size\": 512, \"max_position_embeddings\": 1024,\n"
      " \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0, \"tie_word_embeddings\": true,\n"
      " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,\n"
      "   \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64},\n"
      " \"hidden_act\": \"silu\", \"bos_token_id\": 1, \"eos_token_id\": 2, \"torch_dtype\": \"float32\"}\n",
      64, 128, 2, 4, 2, 16, 512, LB_F32, 1, 0 },
};

typedef struct wt { char name[96]; uint64_t rows, cols; int norm; } wt;

static int add(wt *t, int n, const char *name, uint64_t rows, uint64_t cols, int norm)
{
    snprintf(t[n].name, sizeof t[n].name, "%s", name);
    t[n].rows = rows;
    t[n].cols = cols;
    t[n].norm = norm;
    return n + 1;
}

static uint32_t rng = 12345;
static float rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return ((float)(rng >> 8) / 16777216.0f - 0.5f) * 0.2f;
}

static int cmd_mkmodel(const char *kind, const char *dir)
{
    const spec *s = NULL;
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) if (!strcmp(specs[i].kind, kind)) s = &specs[i];
    if (!s) return die("unknown kind");
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    if (!f || fputs(s->config, f) == EOF || fclose(f)) return die("cannot write config.json");
    wt t[64];
    int n = 0;
    uint64_t q = (uint64_t)(s->heads * s->head_dim), kv = (uint64_t)(s->kv_heads * s->head_dim);
    n = add(t, n, "model.embed_tokens.weight", (uint64_t)s->vocab, (uint64_t)s->embd, 0);
    n = add(t, n, "model.norm.weight", (uint64_t)s->embd, 0, 1);
    if (!s->tied) n = add(t, n, "lm_head.weight", (uint64_t)s->vocab, (uint64_t)s->embd, 0);
    for (int l = 0; l < s->layers; l++) {
        char b[96];
#define L(suffix, r, c, nm) (snprintf(b, sizeof b, "model.layers.%d.%s", l, suffix), n = add(t, n, b, r, c, nm))
        L("input_layernorm.weight", (uint64_t)s->embd, 0, 1);
        L("self_attn.q_proj.weight", q, (uint64_t)s->embd, 0);
        L("self_attn.k_proj.weight", kv, (uint64_t)s->embd, 0);
        L("self_attn.v_proj.weight", kv, (uint64_t)s->embd, 0);
        if (s->qkv_bias) {
            L("self_attn.q_proj.bias", q, 0, 0);
            L("self_attn.k_proj.bias", kv, 0, 0);
            L("self_attn.v_proj.bias", kv, 0, 0);
        }
        L("self_attn.o_proj.weight", (uint64_t)s->embd, q, 0);
        L("post_attention_layernorm.weight", (uint64_t)s->embd, 0, 1);
        L("mlp.gate_proj.weight", (uint64_t)s->ff, (uint64_t)s->embd, 0);
        L("mlp.up_proj.weight", (uint64_t)s->ff, (uint64_t)s->embd, 0);
        L("mlp.down_proj.weight", (uint64_t)s->embd, (uint64_t)s->ff, 0);
        L("self_attn.rotary_emb.inv_freq", (uint64_t)s->head_dim / 2, 0, 1);
#undef L
    }
    lb_wtensor w[64];
    for (int i = 0; i < n; i++) {
        w[i] = (lb_wtensor){ t[i].name, t[i].cols ? s->dtype : LB_F32, t[i].cols ? 2 : 1, { t[i].rows, t[i].cols } };
        if (strstr(t[i].name, "norm") || strstr(t[i].name, "bias") || strstr(t[i].name, "inv_freq")) w[i].type = s->dtype;
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    lb_out *out;
    lb_writer *wr;
    lb_err e;
    if (lb_out_open(&out, p, LB_OUT_FORCE, &e)) return die(e.msg);
    if (lb_writer_begin(&wr, &lb_safetensors_writer_ops, out, NULL, 0, w, (size_t)n, &e)) return die(e.msg);
    for (int i = 0; i < n; i++) {
        uint64_t k = t[i].rows * (t[i].cols ? t[i].cols : 1);
        float *v = malloc(k * sizeof *v);
        uint8_t *b = malloc(k * 4);
        if (!v || !b) return die("out of memory");
        for (uint64_t j = 0; j < k; j++) v[j] = t[i].norm ? 1.0f : rnd();
        lb_f32_to_plain(w[i].type, v, b, (size_t)k);
        if (lb_writer_data(wr, b, (size_t)(k * lb_type_get(w[i].type)->type_size), &e)) return die(e.msg);
        free(v);
        free(b);
    }
    if (lb_writer_end(wr, &e) || lb_out_commit(out, &e)) return die(e.msg);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[2], "mkmodel")) return cmd_mkmodel(argv[3], argv[4]);
    if (argc >= 6 && !strcmp(argv[2], "greedy")) return cmd_greedy(argv[1], argv[3], argv[4], atoi(argv[5]));
    if (argc >= 6 && !strcmp(argv[2], "probe")) return cmd_probe(argv[1], argv[3], argv[4], argv[5]);
    if (argc >= 5 && !strcmp(argv[2], "run")) return cmd_run(argv[1], argv[3], atoi(argv[4]));
    if (argc >= 5 && !strcmp(argv[2], "tokens")) return cmd_tokens(argv[1], argv[3], argv[4]);
    return die("usage: convert_run LIBDIR greedy|probe|run|tokens|mkmodel ...");
}
