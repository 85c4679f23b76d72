/* arch.c: the architecture tables (lb_arch.h) and what is read from config.json.
 *
 * Facts follow llama.cpp's converter (convert_hf_to_gguf.py with conversion/{base,llama,
 * qwen,gpt2}.py and gguf-py's tensor_mapping.py): the tensor names, which tensors are
 * dropped, the q/k un-permutation (llama and mistral only; qwen2 runs neox-style rope and
 * keeps HF's layout), gpt2's Conv1D transposes, and the GGUF keys each class writes. */
#include "lb_arch.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_le.h"

/* ---- the tables ------------------------------------------------------------------------ */

#define T1(hf, gg, xf, fl, d0) { hf, gg, xf, fl, 1, { d0, LB_D_NONE } }
#define T2(hf, gg, xf, fl, d0, d1) { hf, gg, xf, fl, 2, { d0, d1 } }
#define T_END { NULL, NULL, 0, 0, 0, { 0, 0 } }

/* Llama 2/3, TinyLlama, SmolLM, Mistral: HF rotate-half q/k are un-permuted. */
static const lb_arch_tensor llama_global[] = {
    T2("model.embed_tokens.weight", "token_embd.weight", LB_XF_NONE, 0, LB_D_VOCAB, LB_D_EMBD),
    T1("model.norm.weight", "output_norm.weight", LB_XF_NONE, 0, LB_D_EMBD),
    T2("lm_head.weight", "output.weight", LB_XF_NONE, LB_TF_OPTIONAL | LB_TF_LM_HEAD, LB_D_VOCAB, LB_D_EMBD),
    T_END
};
static const lb_arch_tensor llama_block[] = {
    T1("model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight", LB_XF_NONE, 0, LB_D_EMBD),
    T2("model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight", LB_XF_PERM_Q, 0, LB_D_Q, LB_D_EMBD),
    T2("model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight", LB_XF_PERM_K, 0, LB_D_KV, LB_D_EMBD),
    T2("model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight", LB_XF_NONE, 0, LB_D_KV, LB_D_EMBD),
    T2("model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight", LB_XF_NONE, 0, LB_D_EMBD, LB_D_Q),
    /* attention_bias: true (rare in llamas) */
    T1("model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias", LB_XF_PERM_Q, LB_TF_OPTIONAL, LB_D_Q),
    T1("model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias", LB_XF_PERM_K, LB_TF_OPTIONAL, LB_D_KV),
    T1("model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias", LB_XF_NONE, LB_TF_OPTIONAL, LB_D_KV),
    T1("model.layers.%d.self_attn.o_proj.bias", "blk.%d.attn_output.bias", LB_XF_NONE, LB_TF_OPTIONAL, LB_D_EMBD),
    T1("model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight", LB_XF_NONE, 0, LB_D_EMBD),
    T2("model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight", LB_XF_NONE, 0, LB_D_FF, LB_D_EMBD),
    T2("model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight", LB_XF_NONE, 0, LB_D_FF, LB_D_EMBD),
    T2("model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight", LB_XF_NONE, 0, LB_D_EMBD, LB_D_FF),
    /* mlp_bias: true */
    T1("model.layers.%d.mlp.gate_proj.bias", "blk.%d.ffn_gate.bias", LB_XF_NONE, LB_TF_OPTIONAL, LB_D_FF),
    T1("model.layers.%d.mlp.up_proj.bias", "blk.%d.ffn_up.bias", LB_XF_NONE, LB_TF_OPTIONAL, LB_D_FF),
    T1("model.layers.%d.mlp.down_proj.bias", "blk.%d.ffn_down.bias", LB_XF_NONE, LB_TF_OPTIONAL, LB_D_EMBD),
    T_END
};

/* Qwen2: the llama layout with q/k/v biases, no un-permutation. */
static const lb_arch_tensor qwen2_block[] = {
    T1("model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight", LB_XF_NONE, 0, LB_D_EMBD),
    T2("model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight", LB_XF_NONE, 0, LB_D_Q, LB_D_EMBD),
    T2("model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight", LB_XF_NONE, 0, LB_D_KV, LB_D_EMBD),
    T2("model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight", LB_XF_NONE, 0, LB_D_KV, LB_D_EMBD),
    T1("model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias", LB_XF_NONE, 0, LB_D_Q),
    T1("model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias", LB_XF_NONE, 0, LB_D_KV),
    T1("model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias", LB_XF_NONE, 0, LB_D_KV),
    T2("model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight", LB_XF_NONE, 0, LB_D_EMBD, LB_D_Q),
    T1("model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight", LB_XF_NONE, 0, LB_D_EMBD),
    T2("model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight", LB_XF_NONE, 0, LB_D_FF, LB_D_EMBD),
    T2("model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight", LB_XF_NONE, 0, LB_D_FF, LB_D_EMBD),
    T2("model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight", LB_XF_NONE, 0, LB_D_EMBD, LB_D_FF),
    T_END
};

/* GPT-2: Conv1D weights are stored [in, out] and transposed; c_attn stays fused. Names are
 * matched with and without the "transformer." prefix (both occur on the Hub). */
static const lb_arch_tensor gpt2_global[] = {
    T2("wte.weight", "token_embd.weight", LB_XF_NONE, 0, LB_D_VOCAB, LB_D_EMBD),
    T2("wpe.weight", "position_embd.weight", LB_XF_NONE, LB_TF_F32, LB_D_CTX, LB_D_EMBD),
    T1("ln_f.weight", "output_norm.weight", LB_XF_NONE, 0, LB_D_EMBD),
    T1("ln_f.bias", "output_norm.bias", LB_XF_NONE, 0, LB_D_EMBD),
    T2("lm_head.weight", "output.weight", LB_XF_NONE, LB_TF_OPTIONAL | LB_TF_LM_HEAD, LB_D_VOCAB, LB_D_EMBD),
    T_END
};
static const lb_arch_tensor gpt2_block[] = {
    T1("h.%d.ln_1.weight", "blk.%d.attn_norm.weight", LB_XF_NONE, 0, LB_D_EMBD),
    T1("h.%d.ln_1.bias", "blk.%d.attn_norm.bias", LB_XF_NONE, 0, LB_D_EMBD),
    T2("h.%d.attn.c_attn.weight", "blk.%d.attn_qkv.weight", LB_XF_TRANSPOSE, 0, LB_D_EMBD, LB_D_QKV),
    T1("h.%d.attn.c_attn.bias", "blk.%d.attn_qkv.bias", LB_XF_NONE, 0, LB_D_QKV),
    T2("h.%d.attn.c_proj.weight", "blk.%d.attn_output.weight", LB_XF_TRANSPOSE, 0, LB_D_EMBD, LB_D_EMBD),
    T1("h.%d.attn.c_proj.bias", "blk.%d.attn_output.bias", LB_XF_NONE, 0, LB_D_EMBD),
    T1("h.%d.ln_2.weight", "blk.%d.ffn_norm.weight", LB_XF_NONE, 0, LB_D_EMBD),
    T1("h.%d.ln_2.bias", "blk.%d.ffn_norm.bias", LB_XF_NONE, 0, LB_D_EMBD),
    T2("h.%d.mlp.c_fc.weight", "blk.%d.ffn_up.weight", LB_XF_TRANSPOSE, 0, LB_D_EMBD, LB_D_FF),
    T1("h.%d.mlp.c_fc.bias", "blk.%d.ffn_up.bias", LB_XF_NONE, 0, LB_D_FF),
    T2("h.%d.mlp.c_proj.weight", "blk.%d.ffn_down.weight", LB_XF_TRANSPOSE, 0, LB_D_FF, LB_D_EMBD),
    T1("h.%d.mlp.c_proj.bias", "blk.%d.ffn_down.bias", LB_XF_NONE, 0, LB_D_EMBD),
    T_END
};

#define K(k, s, f) { k, s, f }
#define K_END { NULL, 0, 0 }
/* TextModel.set_gguf_parameters order; LlamaModel adds vocab_size and rope.dimension_count. */
static const lb_arch_key llama_keys[] = {
    K("block_count", LB_K_LAYERS, 0), K("context_length", LB_K_CTX, LB_K_IF_GIVEN),
    K("embedding_length", LB_K_EMBD, 0), K("feed_forward_length", LB_K_FF, LB_K_IF_GIVEN),
    K("attention.head_count", LB_K_HEAD, 0), K("attention.head_count_kv", LB_K_HEAD_KV, LB_K_IF_GIVEN),
    K("rope.freq_base", LB_K_ROPE_THETA, LB_K_IF_GIVEN),
    K("attention.layer_norm_rms_epsilon", LB_K_RMS_EPS, LB_K_IF_GIVEN),
    K("attention.layer_norm_epsilon", LB_K_NORM_EPS, LB_K_IF_GIVEN),
    K("attention.key_length", LB_K_HEAD_DIM_KQ, LB_K_IF_GIVEN),
    K("attention.value_length", LB_K_HEAD_DIM_KQ, LB_K_IF_GIVEN),
    K("vocab_size", LB_K_VOCAB, 0), K("rope.dimension_count", LB_K_ROPE_DIM, 0),
    K_END
};
static const lb_arch_key qwen2_keys[] = {
    K("block_count", LB_K_LAYERS, 0), K("context_length", LB_K_CTX, LB_K_IF_GIVEN),
    K("embedding_length", LB_K_EMBD, 0), K("feed_forward_length", LB_K_FF, LB_K_IF_GIVEN),
    K("attention.head_count", LB_K_HEAD, 0), K("attention.head_count_kv", LB_K_HEAD_KV, LB_K_IF_GIVEN),
    K("rope.freq_base", LB_K_ROPE_THETA, LB_K_IF_GIVEN),
    K("attention.layer_norm_rms_epsilon", LB_K_RMS_EPS, LB_K_IF_GIVEN),
    K("attention.layer_norm_epsilon", LB_K_NORM_EPS, LB_K_IF_GIVEN),
    K("attention.key_length", LB_K_HEAD_DIM_KQ, LB_K_IF_GIVEN),
    K("attention.value_length", LB_K_HEAD_DIM_KQ, LB_K_IF_GIVEN),
    K_END
};
/* GPT2Model.set_gguf_parameters (its own list: no head_count_kv, no vocab_size) */
static const lb_arch_key gpt2_keys[] = {
    K("block_count", LB_K_LAYERS, 0), K("context_length", LB_K_CTX, 0),
    K("embedding_length", LB_K_EMBD, 0), K("feed_forward_length", LB_K_FF, 0),
    K("attention.head_count", LB_K_HEAD, 0), K("attention.layer_norm_epsilon", LB_K_NORM_EPS, 0),
    K_END
};

static const char *const skip_rotary[] = { ".rotary_emb.inv_freq", NULL };
static const char *const skip_gpt2[] = { ".attn.bias", ".attn.masked_bias", NULL };

static const lb_arch arch_llama = {
    "LlamaForCausalLM", "llama", NULL, llama_keys, llama_global, llama_block, skip_rotary, 1, 0
};
static const lb_arch arch_mistral = {
    "MistralForCausalLM", "llama", NULL, llama_keys, llama_global, llama_block, skip_rotary, 1, 0
};
static const lb_arch arch_qwen2 = {
    "Qwen2ForCausalLM", "qwen2", NULL, qwen2_keys, llama_global, qwen2_block, skip_rotary, 1, 0
};
static const lb_arch arch_gpt2 = {
    "GPT2LMHeadModel", "gpt2", "transformer.", gpt2_keys, gpt2_global, gpt2_block, skip_gpt2, 0, 1
};

const lb_arch *const lb_archs[] = { &arch_llama, &arch_mistral, &arch_qwen2, &arch_gpt2, NULL };

const lb_arch *lb_arch_find(const char *hf_arch)
{
    for (const lb_arch *const *a = lb_archs; *a; a++)
        if (strcmp((*a)->hf_arch, hf_arch) == 0) return *a;
    return NULL;
}

const char *lb_arch_supported(void)
{
    static char buf[200];
    if (buf[0]) return buf;
    size_t at = 0;
    for (const lb_arch *const *a = lb_archs; *a; a++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s", a == lb_archs ? "" : ", ", (*a)->hf_arch);
    return buf;
}

/* ---- config.json ------------------------------------------------------------------------ */

#define CONFIG_MAX (16u << 20)

/* config.json names tried in order for each hyperparameter, as llama.cpp's find_hparam. */
static const char *const hp_names[LB_HP_COUNT][7] = {
    [LB_HP_LAYERS] = { "n_layers", "num_hidden_layers", "n_layer", "num_layers", NULL },
    [LB_HP_CTX] = { "max_position_embeddings", "n_ctx", "n_positions", "max_length",
                    "max_sequence_length", "model_max_length", NULL },
    [LB_HP_EMBD] = { "hidden_size", "n_embd", "dim", NULL },
    [LB_HP_FF] = { "intermediate_size", "n_inner", "hidden_dim", NULL },
    [LB_HP_HEAD] = { "num_attention_heads", "n_head", "n_heads", NULL },
    [LB_HP_HEAD_KV] = { "num_key_value_heads", "n_kv_heads", NULL },
    [LB_HP_VOCAB] = { "vocab_size", NULL },
    [LB_HP_HEAD_DIM] = { "head_dim", NULL },
};

static int cfg_err(lb_err *err, const char *path, const char *fmt, const char *a)
{
    lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, fmt, a);
    snprintf(err->item, sizeof err->item, "'%.150s'", path);
    return LB_EFORMAT;
}

static char *slurp(const char *path, lb_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int code = errno == ENOENT ? LB_EFORMAT : LB_EIO;
        lb_err_set(err, code, LB_NO_OFFSET, "%s", errno == ENOENT ? "missing (an HF model folder needs config.json)" : strerror(errno));
        snprintf(err->item, sizeof err->item, "'%.150s'", path);
        return NULL;
    }
    char *buf = malloc(CONFIG_MAX + 1);
    size_t n = buf ? fread(buf, 1, CONFIG_MAX + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > CONFIG_MAX) {
        free(buf);
        lb_err_set(err, buf ? (bad ? LB_EIO : LB_EFORMAT) : LB_EIO, LB_NO_OFFSET, "%s",
                   !buf ? "out of memory" : bad ? "read error" : "larger than 16 MiB");
        snprintf(err->item, sizeof err->item, "'%.150s'", path);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* A non-negative integer field (absent or null: *given = 0). */
static int get_int(const cJSON *root, const char *const *names, int64_t *v, int *given,
                   const char *path, lb_err *err)
{
    *given = 0;
    for (; *names; names++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, *names);
        if (!x || cJSON_IsNull(x)) continue;
        double d = x->valuedouble;
        if (!cJSON_IsNumber(x) || d < 0 || d > 4294967295.0 || d != floor(d)) {
            char msg[200];
            snprintf(msg, sizeof msg, "'%s' must be a non-negative integer", *names);
            return cfg_err(err, path, "%s", msg);
        }
        *v = (int64_t)d;
        *given = 1;
        return LB_OK;
    }
    return LB_OK;
}

static int get_num(const cJSON *o, const char *name, double *v, int *has, const char *path, lb_err *err)
{
    const cJSON *x = o ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
    if (!x || cJSON_IsNull(x)) return LB_OK;
    if (!cJSON_IsNumber(x)) {
        char msg[200];
        snprintf(msg, sizeof msg, "'%s' must be a number", name);
        return cfg_err(err, path, "%s", msg);
    }
    *v = x->valuedouble;
    *has = 1;
    return LB_OK;
}

static int read_rope(const cJSON *root, lb_hparams *hp, const char *path, lb_err *err)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (!r || cJSON_IsNull(r)) r = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (r && cJSON_IsNull(r)) r = NULL;
    if (r && !cJSON_IsObject(r)) return cfg_err(err, path, "%s", "'rope_scaling' must be an object or null");
    LB_TRY(get_num(root, "rope_theta", &hp->rope_theta, &hp->has_rope_theta, path, err));
    if (!hp->has_rope_theta)
        LB_TRY(get_num(root, "rotary_emb_base", &hp->rope_theta, &hp->has_rope_theta, path, err));
    if (!r) return LB_OK;
    if (!hp->has_rope_theta) LB_TRY(get_num(r, "rope_theta", &hp->rope_theta, &hp->has_rope_theta, path, err));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "rope_type");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(r, "type");
    if (cJSON_IsString(t)) snprintf(hp->rope_type, sizeof hp->rope_type, "%s", t->valuestring);
    int has;
    LB_TRY(get_num(r, "factor", &hp->rope_factor, &hp->has_factor, path, err));
    hp->rope_low = 1.0;
    hp->rope_high = 4.0;
    LB_TRY(get_num(r, "low_freq_factor", &hp->rope_low, &has, path, err));
    LB_TRY(get_num(r, "high_freq_factor", &hp->rope_high, &has, path, err));
    LB_TRY(get_num(r, "original_max_position_embeddings", &hp->rope_orig_ctx, &hp->has_orig_ctx, path, err));
    if (!hp->has_orig_ctx)
        LB_TRY(get_num(root, "original_max_position_embeddings", &hp->rope_orig_ctx, &hp->has_orig_ctx, path, err));
    LB_TRY(get_num(r, "extrapolation_factor", &hp->yarn_ext, &hp->has_yarn_ext, path, err));
    LB_TRY(get_num(r, "attention_factor", &hp->yarn_attn, &hp->has_yarn_attn, path, err));
    if (!hp->has_yarn_attn) LB_TRY(get_num(r, "attn_factor", &hp->yarn_attn, &hp->has_yarn_attn, path, err));
    LB_TRY(get_num(r, "beta_fast", &hp->yarn_beta_fast, &hp->has_yarn_beta_fast, path, err));
    LB_TRY(get_num(r, "beta_slow", &hp->yarn_beta_slow, &hp->has_yarn_beta_slow, path, err));
    return LB_OK;
}

/* Required values, derived values and the checks the shapes rely on. */
static int derive(const lb_arch *a, lb_hparams *hp, const char *path, lb_err *err)
{
    static const int required[] = { LB_HP_LAYERS, LB_HP_EMBD, LB_HP_HEAD, LB_HP_VOCAB };
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        int h = required[i];
        if (hp->given[h] && (h == LB_HP_LAYERS || hp->v[h] > 0)) continue;
        char names[200];
        size_t at = 0;
        for (const char *const *n = hp_names[h]; *n && at < sizeof names; n++)
            at += (size_t)snprintf(names + at, sizeof names - at, "%s'%s'", at ? " or " : "", *n);
        return cfg_err(err, path, "no positive %s", names);
    }
    if (hp->v[LB_HP_LAYERS] > LB_ARCH_MAX_LAYERS)
        return cfg_err(err, path, "%s", "the layer count is implausible (more than 100000)");
    if (!hp->given[LB_HP_FF]) {
        if (!a->ff_4x) return cfg_err(err, path, "no '%s'", "intermediate_size");
        hp->v[LB_HP_FF] = 4 * hp->v[LB_HP_EMBD];
    }
    if (!hp->given[LB_HP_HEAD_KV] || hp->v[LB_HP_HEAD_KV] == 0) hp->v[LB_HP_HEAD_KV] = hp->v[LB_HP_HEAD];
    if (hp->v[LB_HP_HEAD] % hp->v[LB_HP_HEAD_KV])
        return cfg_err(err, path, "%s", "num_attention_heads is not a multiple of num_key_value_heads");
    if (!hp->given[LB_HP_HEAD_DIM] || hp->v[LB_HP_HEAD_DIM] == 0) {
        if (hp->v[LB_HP_EMBD] % hp->v[LB_HP_HEAD])
            return cfg_err(err, path, "%s", "hidden_size is not a multiple of num_attention_heads");
        hp->v[LB_HP_HEAD_DIM] = hp->v[LB_HP_EMBD] / hp->v[LB_HP_HEAD];
    }
    if (!hp->given[LB_HP_CTX] && a->keys == gpt2_keys)
        return cfg_err(err, path, "no '%s'", "n_ctx");
    return LB_OK;
}

static int config_text(const char *txt, const char *path, const lb_arch **arch, lb_hparams *hp, lb_err *err)
{
    memset(hp, 0, sizeof *hp);
    hp->tied = -1;
    *arch = NULL;
    cJSON *root = cJSON_Parse(txt);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cfg_err(err, path, "%s", "not a JSON object (malformed config.json)");
    }
    int rc = LB_OK;
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *a0 = cJSON_IsArray(as) ? cJSON_GetArrayItem(as, 0) : NULL;
    if (!cJSON_IsString(a0)) {
        rc = cfg_err(err, path, "no 'architectures' list naming the model class (supported: %s)", lb_arch_supported());
    } else if (!(*arch = lb_arch_find(a0->valuestring))) {
        char msg[320];
        snprintf(msg, sizeof msg, "architecture '%.60s' is not supported (supported: %.200s)", a0->valuestring, lb_arch_supported());
        rc = cfg_err(err, path, "%s", msg);
    }
    for (int h = 0; !rc && h < LB_HP_COUNT; h++)
        rc = get_int(root, hp_names[h], &hp->v[h], &hp->given[h], path, err);
    if (!rc) rc = get_num(root, "rms_norm_eps", &hp->rms_eps, &hp->has_rms_eps, path, err);
    if (!rc && !hp->has_rms_eps) rc = get_num(root, "norm_eps", &hp->rms_eps, &hp->has_rms_eps, path, err);
    if (!rc) rc = get_num(root, "layer_norm_eps", &hp->norm_eps, &hp->has_norm_eps, path, err);
    if (!rc && !hp->has_norm_eps) rc = get_num(root, "layer_norm_epsilon", &hp->norm_eps, &hp->has_norm_eps, path, err);
    if (!rc && !hp->has_norm_eps) rc = get_num(root, "norm_epsilon", &hp->norm_eps, &hp->has_norm_eps, path, err);
    if (!rc) rc = read_rope(root, hp, path, err);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (cJSON_IsBool(tie)) hp->tied = cJSON_IsTrue(tie);
    if (!rc && (*arch)->keys == gpt2_keys && !hp->has_norm_eps)
        rc = cfg_err(err, path, "no '%s'", "layer_norm_epsilon");
    if (!rc) rc = derive(*arch, hp, path, err);
    cJSON_Delete(root);
    return rc;
}

int lb_arch_config(const char *path, const lb_arch **arch, lb_hparams *hp, lb_err *err)
{
    *arch = NULL;
    char *txt = slurp(path, err);
    if (!txt) return err->code;
    int rc = config_text(txt, path, arch, hp, err);
    free(txt);
    return rc;
}

int lb_arch_config_mem(const void *data, size_t n, const char *name, const lb_arch **arch, lb_hparams *hp,
                       lb_err *err)
{
    *arch = NULL;
    if (n > CONFIG_MAX) return cfg_err(err, name, "%s", "larger than 16 MiB");
    char *txt = malloc(n + 1);
    if (!txt) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    memcpy(txt, data, n);
    txt[n] = 0;
    int rc = config_text(txt, name, arch, hp, err);
    free(txt);
    return rc;
}

uint64_t lb_arch_dim(const lb_hparams *hp, int dim)
{
    /* every value is at most 2^32 - 1 (get_int), so these products cannot overflow 64 bits
     * except QKV's, which saturates (no tensor has that many rows anyway) */
    uint64_t h = (uint64_t)hp->v[LB_HP_HEAD], kv = (uint64_t)hp->v[LB_HP_HEAD_KV];
    uint64_t hd = (uint64_t)hp->v[LB_HP_HEAD_DIM], qkv;
    switch (dim) {
    case LB_D_EMBD: return (uint64_t)hp->v[LB_HP_EMBD];
    case LB_D_FF: return (uint64_t)hp->v[LB_HP_FF];
    case LB_D_VOCAB: return (uint64_t)hp->v[LB_HP_VOCAB];
    case LB_D_Q: return h * hd;
    case LB_D_KV: return kv * hd;
    case LB_D_QKV: return lb_mul64(h + 2 * kv, hd, &qkv) ? UINT64_MAX : qkv;
    case LB_D_CTX: return (uint64_t)hp->v[LB_HP_CTX];
    default: return 0;
    }
}

/* ---- name matching ------------------------------------------------------------------------- */

/* pat has at most one "%d": a decimal block number without sign or leading zeros. */
static int match_pat(const char *pat, const char *name, int *bid)
{
    const char *d = strstr(pat, "%d");
    *bid = -1;
    if (!d) return strcmp(pat, name) == 0;
    size_t pre = (size_t)(d - pat);
    if (strncmp(pat, name, pre) != 0) return 0;
    const char *p = name + pre;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9')) return 0;
    long v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > 1000000) return 0;
    }
    if (strcmp(p, d + 2) != 0) return 0;
    *bid = (int)v;
    return 1;
}

static int match_in(const lb_arch *a, const char *name, int gguf_side, const lb_arch_tensor **t, int *bid)
{
    for (int pass = 0; pass < 2; pass++) {
        const lb_arch_tensor *tab = pass ? a->block : a->global;
        for (; tab->hf; tab++) {
            if (match_pat(gguf_side ? tab->gguf : tab->hf, name, bid) && (*bid >= 0) == pass) {
                *t = tab;
                return 1;
            }
        }
    }
    return 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int lb_arch_match(const lb_arch *a, const char *name, const lb_arch_tensor **t, int *bid)
{
    for (const char *const *s = a->skip; *s; s++)
        if (has_suffix(name, *s)) return 0;
    if (match_in(a, name, 0, t, bid)) return 1;
    size_t pl = a->strip_prefix ? strlen(a->strip_prefix) : 0;
    if (pl && strncmp(name, a->strip_prefix, pl) == 0 && match_in(a, name + pl, 0, t, bid)) return 1;
    return -1;
}

int lb_arch_match_gguf(const lb_arch *a, const char *name, const lb_arch_tensor **t, int *bid)
{
    return match_in(a, name, 1, t, bid) ? 1 : -1;
}

/* ---- metadata ----------------------------------------------------------------------------- */

static int kv_add(lb_kvlist *l, const char *key, lb_value *v, lb_err *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        lb_kv *k = realloc(l->kv, cap * sizeof *k);
        if (!k) { lb_value_free(v); return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }
        l->kv = k;
        l->cap = cap;
    }
    char *kc = strdup(key);
    if (!kc) { lb_value_free(v); return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }
    l->kv[l->n].key = kc;
    l->kv[l->n++].val = *v;
    return LB_OK;
}

int lb_kvlist_str(lb_kvlist *l, const char *key, const char *s, lb_err *err)
{
    lb_value v = { .type = LB_V_STR, .n = strlen(s) };
    if (!(v.v.s = strdup(s))) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    return kv_add(l, key, &v, err);
}

int lb_kvlist_u32(lb_kvlist *l, const char *key, uint32_t u, lb_err *err)
{
    lb_value v = { .type = LB_V_U32, .v.u = u };
    return kv_add(l, key, &v, err);
}

int lb_kvlist_f32(lb_kvlist *l, const char *key, double f, lb_err *err)
{
    lb_value v = { .type = LB_V_F32, .v.f = (double)(float)f };
    return kv_add(l, key, &v, err);
}

int lb_kvlist_copy(lb_kvlist *l, const char *key, const lb_value *val, lb_err *err)
{
    lb_value v;
    if (lb_value_copy(&v, val)) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    return kv_add(l, key, &v, err);
}

void lb_kvlist_free(lb_kvlist *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->kv[i].key);
        lb_value_free(&l->kv[i].val);
    }
    free(l->kv);
    memset(l, 0, sizeof *l);
}

static int key_given(const lb_hparams *hp, int src)
{
    switch (src) {
    case LB_K_CTX: return hp->given[LB_HP_CTX];
    case LB_K_FF: return hp->given[LB_HP_FF];
    case LB_K_HEAD_KV: return hp->given[LB_HP_HEAD_KV];
    case LB_K_HEAD_DIM_KQ: return hp->given[LB_HP_HEAD_DIM];
    case LB_K_ROPE_THETA: return hp->has_rope_theta;
    case LB_K_RMS_EPS: return hp->has_rms_eps;
    case LB_K_NORM_EPS: return hp->has_norm_eps;
    default: return 1;
    }
}

static int rope_kvs(const char *ga, const lb_hparams *hp, lb_kvlist *l, lb_err *err)
{
    char k[128];
    int linear = strcmp(hp->rope_type, "linear") == 0, yarn = strcmp(hp->rope_type, "yarn") == 0;
    if (!(linear || yarn) || !hp->has_factor) return LB_OK;
    snprintf(k, sizeof k, "%s.rope.scaling.type", ga);
    LB_TRY(lb_kvlist_str(l, k, hp->rope_type, err));
    snprintf(k, sizeof k, "%s.rope.scaling.factor", ga);
    LB_TRY(lb_kvlist_f32(l, k, hp->rope_factor, err));
    if (!yarn) return LB_OK;
    if (!hp->has_orig_ctx)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "config.json: yarn rope scaling without 'original_max_position_embeddings'");
    snprintf(k, sizeof k, "%s.rope.scaling.original_context_length", ga);
    LB_TRY(lb_kvlist_u32(l, k, (uint32_t)hp->rope_orig_ctx, err));
    const struct { const char *k; int has; double v; } y[] = {
        { "yarn_ext_factor", hp->has_yarn_ext, hp->yarn_ext },
        { "yarn_attn_factor", hp->has_yarn_attn, hp->yarn_attn },
        { "yarn_beta_fast", hp->has_yarn_beta_fast, hp->yarn_beta_fast },
        { "yarn_beta_slow", hp->has_yarn_beta_slow, hp->yarn_beta_slow },
    };
    for (size_t i = 0; i < sizeof y / sizeof *y; i++) {
        if (!y[i].has) continue;
        snprintf(k, sizeof k, "%s.rope.scaling.%s", ga, y[i].k);
        LB_TRY(lb_kvlist_f32(l, k, y[i].v, err));
    }
    return LB_OK;
}

int lb_arch_kvs(const lb_arch *a, const lb_hparams *hp, lb_kvlist *l, lb_err *err)
{
    char k[128];
    for (const lb_arch_key *key = a->keys; key->key; key++) {
        if ((key->flags & LB_K_IF_GIVEN) && !key_given(hp, key->src)) continue;
        snprintf(k, sizeof k, "%s.%s", a->gguf_arch, key->key);
        const int64_t *v = hp->v;
        switch (key->src) {
        case LB_K_ROPE_THETA: LB_TRY(lb_kvlist_f32(l, k, hp->rope_theta, err)); break;
        case LB_K_RMS_EPS: LB_TRY(lb_kvlist_f32(l, k, hp->rms_eps, err)); break;
        case LB_K_NORM_EPS: LB_TRY(lb_kvlist_f32(l, k, hp->norm_eps, err)); break;
        default: {
            static const int hp_of[] = {
                [LB_K_LAYERS] = LB_HP_LAYERS, [LB_K_CTX] = LB_HP_CTX, [LB_K_EMBD] = LB_HP_EMBD,
                [LB_K_FF] = LB_HP_FF, [LB_K_HEAD] = LB_HP_HEAD, [LB_K_HEAD_KV] = LB_HP_HEAD_KV,
                [LB_K_VOCAB] = LB_HP_VOCAB, [LB_K_ROPE_DIM] = LB_HP_HEAD_DIM,
                [LB_K_HEAD_DIM_KQ] = LB_HP_HEAD_DIM,
            };
            LB_TRY(lb_kvlist_u32(l, k, (uint32_t)v[hp_of[key->src]], err));
        }
        }
    }
    if (a->rope) LB_TRY(rope_kvs(a->gguf_arch, hp, l, err));
    return LB_OK;
}

int lb_arch_rope_freqs(const lb_arch *a, const lb_hparams *hp, float **out, size_t *n, lb_err *err)
{
    *out = NULL;
    *n = 0;
    if (!a->rope || strcmp(hp->rope_type, "llama3") != 0) return LB_OK;
    size_t dim = (size_t)hp->v[LB_HP_HEAD_DIM], half = dim / 2;
    if (dim > (1u << 20))
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "config.json: head size %zu is implausible for rope_freqs", dim);
    float *f = malloc((half ? half : 1) * sizeof *f);
    if (!f) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    /* float32 throughout, as the torch expressions in llama.cpp's converter evaluate */
    float base = (float)(hp->has_rope_theta ? hp->rope_theta : 10000.0);
    float factor = (float)(hp->has_factor ? hp->rope_factor : 8.0);
    float low = (float)hp->rope_low, high = (float)hp->rope_high;
    float old_ctx = (float)(hp->has_orig_ctx ? hp->rope_orig_ctx : 8192.0);
    double low_wavelen = (double)old_ctx / hp->rope_low, high_wavelen = (double)old_ctx / hp->rope_high;
    for (size_t i = 0; i < half; i++) {
        float e = (float)(2 * i) / (float)dim;
        float freq = 1.0f / powf(base, e);
        float wavelen = (float)(2.0 * M_PI) / freq;
        if ((double)wavelen < high_wavelen) f[i] = 1.0f;
        else if ((double)wavelen > low_wavelen) f[i] = factor;
        else {
            float smooth = (old_ctx / wavelen - low) / (high - low);
            f[i] = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
    }
    *out = f;
    *n = half;
    return LB_OK;
}
