/* mk_llama: write a synthetic llama-shaped GGUF that llama.cpp loads (tests and benchmarks).
 *
 *   mk_llama OUT.gguf TOKENIZER.gguf [--type f16|f32] [--layers N] [--dim D] [--ffn F]
 *            [--tied] [--seed S] [--nan TENSOR] [--fast]
 * The tokenizer.* keys are copied from TOKENIZER.gguf (the vocabulary size sets
 * token_embd's rows). Weights are heavy-tailed (Student-t, 4 dof) with a per-row scale
 * spread, deterministic for a seed. --nan puts a NaN into one tensor (bad-input tests).
 * Streams tensor by tensor, so a multi-GiB model needs little memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_gguf.h"
#include "lb_writer.h"

static uint64_t rng = 88172645463325252ull;
static double uni(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void) { return sqrt(-2 * log(uni())) * cos(6.283185307179586 * uni()); }
static double student4(void)
{
    double z = normal(), c = 0;
    for (int i = 0; i < 4; i++) { double g = normal(); c += g * g; }
    return z / sqrt(c / 4);
}

static lb_value vu32(uint32_t x) { lb_value v = { .type = LB_V_U32 }; v.v.u = x; return v; }
static lb_value vf32(double x) { lb_value v = { .type = LB_V_F32 }; v.v.f = x; return v; }
static lb_value vstr(const char *s) { lb_value v = { .type = LB_V_STR, .n = strlen(s) }; v.v.s = (char *)s; return v; }

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: mk_llama OUT.gguf TOKENIZER.gguf [options]\n"); return 2; }
    int type = LB_F16, layers = 4, tied = 0, fast = 0;
    uint64_t dim = 256, ffn = 512;
    const char *nan_tensor = NULL;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) type = lb_type_by_name(argv[++i])->id;
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc) dim = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--ffn") && i + 1 < argc) ffn = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--tied")) tied = 1;
        else if (!strcmp(argv[i], "--fast")) fast = 1;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) rng ^= strtoull(argv[++i], NULL, 10) * 0x9E3779B97F4A7C15ull;
        else if (!strcmp(argv[i], "--nan") && i + 1 < argc) nan_tensor = argv[++i];
        else { fprintf(stderr, "mk_llama: bad option %s\n", argv[i]); return 2; }
    }
    lb_model *tok = NULL;
    lb_err e;
    if (lb_model_open(&tok, argv[2], &e)) { fprintf(stderr, "mk_llama: %s\n", e.msg); return 3; }
    const lb_kv *tokens = lb_model_kv(tok, "tokenizer.ggml.tokens");
    if (!tokens) { fprintf(stderr, "mk_llama: no tokenizer in %s\n", argv[2]); return 4; }
    uint64_t vocab = tokens->val.n, heads = dim / 64 ? dim / 64 : 1, kv_heads = heads > 1 ? heads / 2 : 1;
    lb_kv kv[64];
    size_t nk = 0;
    kv[nk++] = (lb_kv){ "general.architecture", vstr("llama") };
    kv[nk++] = (lb_kv){ "general.name", vstr("lowbit synthetic llama") };
    kv[nk++] = (lb_kv){ "llama.context_length", vu32(256) };
    kv[nk++] = (lb_kv){ "llama.embedding_length", vu32((uint32_t)dim) };
    kv[nk++] = (lb_kv){ "llama.feed_forward_length", vu32((uint32_t)ffn) };
    kv[nk++] = (lb_kv){ "llama.block_count", vu32((uint32_t)layers) };
    kv[nk++] = (lb_kv){ "llama.attention.head_count", vu32((uint32_t)heads) };
    kv[nk++] = (lb_kv){ "llama.attention.head_count_kv", vu32((uint32_t)kv_heads) };
    kv[nk++] = (lb_kv){ "llama.rope.dimension_count", vu32((uint32_t)(dim / heads)) };
    kv[nk++] = (lb_kv){ "llama.attention.layer_norm_rms_epsilon", vf32(1e-5) };
    kv[nk++] = (lb_kv){ "general.file_type", vu32(type == LB_F32 ? 0 : 1) };
    for (size_t i = 0; i < tok->n_kv && nk < 60; i++)
        if (!strncmp(tok->kv[i].key, "tokenizer.", 10)) kv[nk++] = tok->kv[i];
    /* tensors, in llama.cpp's usual file order */
    size_t cap = 16 + 9 * (size_t)layers, n = 0;
    lb_wtensor *t = calloc(cap, sizeof *t);
    char (*names)[64] = calloc(cap, 64);
#define ADD(nm, ty, d0, d1) do { snprintf(names[n], 64, "%s", nm); t[n].name = names[n]; t[n].type = ty; \
        t[n].ndim = (d1) ? 2 : 1; t[n].shape[0] = d0; t[n].shape[1] = d1; n++; } while (0)
    ADD("token_embd.weight", type, vocab, dim);
    for (int l = 0; l < layers; l++) {
        char b[64];
        uint64_t kvd = dim / heads * kv_heads;
#define L(s) (snprintf(b, sizeof b, "blk.%d." s, l), b)
        ADD(L("attn_norm.weight"), LB_F32, dim, 0);
        ADD(L("attn_q.weight"), type, dim, dim);
        ADD(L("attn_k.weight"), type, kvd, dim);
        ADD(L("attn_v.weight"), type, kvd, dim);
        ADD(L("attn_output.weight"), type, dim, dim);
        ADD(L("ffn_norm.weight"), LB_F32, dim, 0);
        ADD(L("ffn_gate.weight"), type, ffn, dim);
        ADD(L("ffn_down.weight"), type, dim, ffn);
        ADD(L("ffn_up.weight"), type, ffn, dim);
    }
    ADD("output_norm.weight", LB_F32, dim, 0);
    if (!tied) ADD("output.weight", type, vocab, dim);
    lb_out *out;
    lb_writer *w;
    if (lb_out_open(&out, argv[1], LB_OUT_FORCE, &e) || lb_writer_begin(&w, &lb_gguf_writer_ops, out, kv, nk, t, n, &e)) {
        fprintf(stderr, "mk_llama: %s\n", e.msg);
        return 3;
    }
    /* --fast: weights drawn from a pool of 65536 Student-t values (one random index each),
     * for multi-GiB models whose content matters less than their size */
    enum { POOL = 65536 };
    float *pool = malloc(sizeof *pool * POOL);
    for (int k = 0; fast && k < POOL; k++) pool[k] = (float)student4();
    float *row = malloc(sizeof *row * (size_t)(ffn > dim ? ffn : dim));
    uint8_t *bytes = malloc(8 * (size_t)(ffn > dim ? ffn : dim));
    for (size_t i = 0; i < n; i++) {
        uint64_t cols = t[i].ndim == 2 ? t[i].shape[1] : t[i].shape[0], rows = t[i].ndim == 2 ? t[i].shape[0] : 1;
        int is_norm = t[i].ndim == 1;
        for (uint64_t r = 0; r < rows; r++) {
            double scale = is_norm ? 0 : 0.02 * exp(0.5 * normal());
            for (uint64_t c = 0; c < cols; c++)
                row[c] = is_norm ? (float)(1.0 + 0.1 * normal())
                         : fast  ? (float)scale * pool[(uint32_t)(uni() * POOL) % POOL]
                                 : (float)(scale * student4());
            if (nan_tensor && !strcmp(t[i].name, nan_tensor) && r == rows / 2) row[cols / 3] = NAN;
            lb_f32_to_plain(t[i].type, row, bytes, (size_t)cols);
            size_t rb = (size_t)cols * lb_type_get(t[i].type)->type_size;
            if (lb_writer_data(w, bytes, rb, &e)) { fprintf(stderr, "mk_llama: %s\n", e.msg); return 3; }
        }
    }
    if (lb_writer_end(w, &e) || lb_out_commit(out, &e)) { fprintf(stderr, "mk_llama: %s\n", e.msg); return 3; }
    free(pool); free(row); free(bytes); free(t); free(names);
    lb_model_close(tok);
    return 0;
}
