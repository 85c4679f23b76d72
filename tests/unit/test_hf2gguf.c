/* test_hf2gguf.c: the architecture-aware HF -> GGUF conversion against llama.cpp's own
 * conversions of the same weights (../shared/models).
 *
 *   hf/stories260K-llama (F32)        == gguf/stories260K.gguf, tensor for tensor (q/k after
 *                                        the un-permutation). That file was written by
 *                                        llama.cpp's llama2.c converter, which also stores
 *                                        output.weight (a copy of the tied embedding);
 *                                        convert_hf_to_gguf.py writes no output.weight for a
 *                                        tied llama, and neither do we. Its context_length
 *                                        (2048) is not config.json's (512), so that key is
 *                                        not compared.
 *   hf/stories260K-llama-bf16-sharded == the BF16 rounding of those tensors, kept BF16
 *   hf/tiny-llama-trained             == gguf/tiny-llama-trained-f32.gguf (F32: bytes and
 *                                        every llama.* key); at F16 the F16 rounding
 *   hf/tiny-gpt2-random               c_attn etc. transposed, position_embd F32
 *   llama2c/stories260K.bin           == gguf/stories260K.gguf (llama.cpp-named source)
 * Every conversion also runs with tiny pieces (200-300 elements) and must give the same
 * bytes, so the bounded paths (row gathers, column strips) are exercised. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb_dtype.h"
#include "lb_hf2gguf.h"
#include "lb_le.h"
#include "lb_model.h"
#include "lb_quant.h"
#include "lb_writer.h"
#include "tap.h"

static char tmp[600];
static const char *sh;

static int convert(const char *rel, const lb_conv_opts *o, const char *out, lb_err *e)
{
    char src[1200];
    snprintf(src, sizeof src, "%s/models/%s", sh, rel);
    lb_conv *c;
    lb_out *f;
    int side;
    LB_TRY(lb_conv_open(&c, src, o, e));
    int rc = lb_out_open(&f, out, LB_OUT_FORCE, e);
    if (!rc) rc = lb_conv_write(c, f, &side, e);
    if (!rc) rc = lb_out_commit(f, e);
    else lb_out_abort(f);
    lb_conv_free(c);
    return rc;
}

static uint8_t *read_all(lb_model *m, const lb_tensor *t)
{
    uint8_t *b = malloc(t->nbytes ? t->nbytes : 1);
    lb_err e;
    if (b && lb_tensor_read(m, t, 0, b, t->nbytes, &e)) { free(b); return NULL; }
    return b;
}

static int same_shape(const lb_tensor *a, const lb_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++) if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

/* Expected bytes of `ours` from the F32 reference tensor: as is, or rounded to ours' type. */
static int matches_rounded(lb_model *mo, const lb_tensor *o, lb_model *mr, const lb_tensor *r, char *why, size_t n)
{
    uint8_t *a = read_all(mo, o), *b = read_all(mr, r);
    int ok = a && b && r->type == LB_F32;
    for (uint64_t i = 0; ok && i < r->nelem; i++) {
        float v = lb_ldf32(b + 4 * i);
        switch (o->type) {
        case LB_F32: ok = lb_ld32(a + 4 * i) == lb_ld32(b + 4 * i); break;
        case LB_F16: ok = lb_ld16(a + 2 * i) == lb_f32_to_f16(v); break;
        case LB_BF16: ok = lb_ld16(a + 2 * i) == lb_f32_to_bf16(v); break;
        default: ok = 0;
        }
        if (!ok) snprintf(why, n, "'%s' element %llu differs", o->name, (unsigned long long)i);
    }
    if (!a || !b) snprintf(why, n, "'%s' cannot be read", o->name);
    free(a);
    free(b);
    return ok;
}

/* Compare every tensor of ours with the reference (rounded to ours' type; `widen`: 1-D F32
 * tensors hold the value of an rounded source, bf16 -> f32). */
static void compare(const char *name, const char *ours, const char *ref, int want_mat, int widen_bf16,
                    const char *ref_only)
{
    tap_begin("%s", name);
    lb_model *a = NULL, *b = NULL;
    lb_err e;
    char why[300] = "";
    CHECK(lb_model_open(&a, ours, &e) == 0, "open ours: %s", e.msg);
    CHECK(lb_model_open(&b, ref, &e) == 0, "open ref: %s", e.msg);
    if (a && b) {
        size_t expect = b->n_tensors - (ref_only && lb_model_find(b, ref_only) ? 1 : 0);
        CHECK(a->n_tensors == expect, "%zu tensors, reference has %zu", a->n_tensors, expect);
        for (size_t i = 0; i < a->n_tensors; i++) {
            const lb_tensor *o = &a->tensors[i], *r = lb_model_find(b, o->name);
            CHECK(r != NULL, "'%s' not in the reference", o->name);
            if (!r) continue;
            CHECK(same_shape(o, r), "'%s' shape differs", o->name);
            int want = o->ndim == 2 ? want_mat : LB_F32;
            CHECK(o->type == want, "'%s' is %s, want %s", o->name, lb_type_get(o->type)->name, lb_type_get(want)->name);
            if (o->ndim == 1 && widen_bf16) {
                uint8_t *x = read_all(a, o), *y = read_all(b, r);
                int ok = x && y;
                for (uint64_t k = 0; ok && k < o->nelem; k++)
                    ok = lb_ldf32(x + 4 * k) == lb_bf16_to_f32(lb_f32_to_bf16(lb_ldf32(y + 4 * k)));
                CHECK(ok, "'%s' is not the widened bf16 value", o->name);
                free(x);
                free(y);
            } else {
                CHECK(matches_rounded(a, o, b, r, why, sizeof why), "%s", why);
            }
        }
    }
    lb_model_close(a);
    lb_model_close(b);
    tap_end();
}

static const lb_kv *kv(const lb_model *m, const char *k) { return lb_model_kv(m, k); }

static int kv_equal(const lb_kv *x, const lb_kv *y)
{
    if (!x || !y || x->val.type != y->val.type) return 0;
    switch (x->val.type) {
    case LB_V_STR: return strcmp(x->val.v.s, y->val.v.s) == 0;
    case LB_V_F32: case LB_V_F64: return x->val.v.f == y->val.v.f;
    default: return x->val.v.u == y->val.v.u;
    }
}

static void compare_keys(const char *name, const char *ours, const char *ref, const char *const *keys)
{
    tap_begin("%s", name);
    lb_model *a = NULL, *b = NULL;
    lb_err e;
    CHECK(lb_model_open(&a, ours, &e) == 0, "open ours: %s", e.msg);
    CHECK(lb_model_open(&b, ref, &e) == 0, "open ref: %s", e.msg);
    if (a && b) {
        if (keys) {
            for (const char *const *k = keys; *k; k++)
                CHECK(kv_equal(kv(a, *k), kv(b, *k)), "key '%s' differs or is missing", *k);
        } else {  /* every llama.* key, both ways */
            for (size_t i = 0; i < b->n_kv; i++)
                if (!strncmp(b->kv[i].key, "llama.", 6))
                    CHECK(kv_equal(kv(a, b->kv[i].key), &b->kv[i]), "key '%s' differs or is missing", b->kv[i].key);
            for (size_t i = 0; i < a->n_kv; i++)
                if (!strncmp(a->kv[i].key, "llama.", 6))
                    CHECK(kv(b, a->kv[i].key), "key '%s' is not in the reference", a->kv[i].key);
            CHECK(kv_equal(kv(a, "general.file_type"), kv(b, "general.file_type")), "general.file_type differs");
            CHECK(kv_equal(kv(a, "general.size_label"), kv(b, "general.size_label")), "general.size_label differs");
        }
        CHECK(kv_equal(kv(a, "general.architecture"), kv(b, "general.architecture")), "architecture differs");
    }
    lb_model_close(a);
    lb_model_close(b);
    tap_end();
}

static int files_equal(const char *x, const char *y)
{
    FILE *a = fopen(x, "rb"), *b = fopen(y, "rb");
    int ok = a && b, ca = 0, cb = 0;
    while (ok && (ca = fgetc(a)) == (cb = fgetc(b)) && ca != EOF) {}
    ok = ok && ca == cb;
    if (a) fclose(a);
    if (b) fclose(b);
    return ok;
}

/* The same conversion in tiny pieces gives the same file. */
static void same_in_pieces(const char *name, const char *rel, lb_conv_opts o, const char *full, uint32_t chunk)
{
    char p[700];
    lb_err e;
    snprintf(p, sizeof p, "%s/pieces.gguf", tmp);
    o.chunk = chunk;
    tap_begin("%s in pieces of %u elements", name, chunk);
    int rc = convert(rel, &o, p, &e);
    CHECK(rc == 0, "convert: %s", e.msg);
    CHECK(rc || files_equal(p, full), "bytes differ from the one-piece conversion");
    tap_end();
}

static void ref_path(char *buf, size_t n, const char *rel) { snprintf(buf, n, "%s/models/%s", sh, rel); }

static void t_stories(void)
{
    char out[700], ref[1200];
    lb_err e;
    lb_conv_opts o = { .outtype = -1, .no_vocab = 1 };
    snprintf(out, sizeof out, "%s/stories.gguf", tmp);
    ref_path(ref, sizeof ref, "gguf/stories260K.gguf");
    tap_begin("stories260K-llama converts");
    CHECK(convert("hf/stories260K-llama", &o, out, &e) == 0, "%s", e.msg);
    tap_end();
    compare("stories260K-llama tensors == llama.cpp's stories260K.gguf", out, ref, LB_F32, 0, "output.weight");
    static const char *const keys[] = {
        "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
        "llama.attention.head_count_kv", "llama.block_count", "llama.rope.dimension_count",
        "llama.attention.layer_norm_rms_epsilon", NULL
    };
    compare_keys("stories260K-llama hyperparameters == stories260K.gguf", out, ref, keys);
    /* the reference's extra output.weight is the tied embedding itself */
    lb_model *b;
    tap_begin("stories260K.gguf output.weight is the tied token_embd");
    if (lb_model_open(&b, ref, &e) == 0) {
        const lb_tensor *x = lb_model_find(b, "output.weight"), *y = lb_model_find(b, "token_embd.weight");
        uint8_t *p = x ? read_all(b, x) : NULL, *q = y ? read_all(b, y) : NULL;
        CHECK(p && q && x->nbytes == y->nbytes && !memcmp(p, q, x->nbytes), "output.weight differs from token_embd");
        free(p);
        free(q);
        lb_model_close(b);
    } else CHECK(0, "open: %s", e.msg);
    tap_end();
    same_in_pieces("stories260K-llama", "hf/stories260K-llama", o, out, 200);

    snprintf(out, sizeof out, "%s/stories-bf16.gguf", tmp);
    tap_begin("stories260K-llama-bf16-sharded converts");
    CHECK(convert("hf/stories260K-llama-bf16-sharded", &o, out, &e) == 0, "%s", e.msg);
    tap_end();
    compare("bf16 shards stay BF16 == BF16 rounding of stories260K.gguf", out, ref, LB_BF16, 1, "output.weight");
    lb_model *m;
    tap_begin("bf16 shards: general.file_type is MOSTLY_BF16 (32)");
    CHECK(lb_model_open(&m, out, &e) == 0, "%s", e.msg);
    if (m) {
        const lb_kv *ft = kv(m, "general.file_type");
        CHECK(ft && ft->val.v.u == 32, "file_type %llu", ft ? (unsigned long long)ft->val.v.u : 999ull);
        lb_model_close(m);
    }
    tap_end();
    same_in_pieces("stories260K-llama-bf16-sharded", "hf/stories260K-llama-bf16-sharded", o, out, 200);
}

static void t_tiny(void)
{
    char out[700], ref[1200];
    lb_err e;
    lb_conv_opts o = { .outtype = -1, .no_vocab = 1 };
    snprintf(out, sizeof out, "%s/tiny.gguf", tmp);
    ref_path(ref, sizeof ref, "gguf/tiny-llama-trained-f32.gguf");
    tap_begin("tiny-llama-trained converts");
    CHECK(convert("hf/tiny-llama-trained", &o, out, &e) == 0, "%s", e.msg);
    tap_end();
    compare("tiny-llama-trained F32 == tiny-llama-trained-f32.gguf", out, ref, LB_F32, 0, NULL);
    compare_keys("tiny-llama-trained: every llama.* key, file_type, size_label as llama.cpp", out, ref, NULL);
    lb_model *m;
    tap_begin("general.name from the folder name as llama.cpp titles it");
    CHECK(lb_model_open(&m, out, &e) == 0, "%s", e.msg);
    if (m) {
        const lb_kv *nm = kv(m, "general.name"), *ty = kv(m, "general.type");
        CHECK(nm && !strcmp(nm->val.v.s, "Tiny Llama Trained"), "general.name '%s'", nm ? nm->val.v.s : "");
        CHECK(ty && !strcmp(ty->val.v.s, "model"), "general.type");
        lb_model_close(m);
    }
    tap_end();
    same_in_pieces("tiny-llama-trained", "hf/tiny-llama-trained", o, out, 300);

    o.outtype = LB_F16;
    snprintf(out, sizeof out, "%s/tiny-f16.gguf", tmp);
    tap_begin("tiny-llama-trained --outtype f16 converts");
    CHECK(convert("hf/tiny-llama-trained", &o, out, &e) == 0, "%s", e.msg);
    tap_end();
    compare("tiny-llama-trained F16 == F16 rounding of the F32 reference", out, ref, LB_F16, 0, NULL);
    same_in_pieces("tiny-llama-trained f16", "hf/tiny-llama-trained", o, out, 300);
}

/* GPT-2: Conv1D weights transposed, c_attn fused, position_embd F32, no output.weight. */
static void t_gpt2(void)
{
    char out[700], src[1200];
    lb_err e;
    lb_conv_opts o = { .outtype = LB_F16, .no_vocab = 1 };
    snprintf(out, sizeof out, "%s/gpt2.gguf", tmp);
    ref_path(src, sizeof src, "hf/tiny-gpt2-random");
    tap_begin("tiny-gpt2-random: Conv1D transposed, attn_qkv fused, position_embd F32");
    int rc = convert("hf/tiny-gpt2-random", &o, out, &e);
    CHECK(rc == 0, "%s", e.msg);
    lb_model *a = NULL, *b = NULL;
    if (!rc && lb_model_open(&a, out, &e) == 0 && lb_model_open(&b, src, &e) == 0) {
        CHECK(a->n_tensors == 16, "%zu tensors, want 16", a->n_tensors);
        CHECK(!lb_model_find(a, "output.weight"), "output.weight written for a tied gpt2");
        const lb_tensor *pe = lb_model_find(a, "position_embd.weight");
        CHECK(pe && pe->type == LB_F32, "position_embd is not F32");
        const lb_tensor *q = lb_model_find(a, "blk.0.attn_qkv.weight");
        const lb_tensor *c = lb_model_find(b, "transformer.h.0.attn.c_attn.weight");
        CHECK(q && c && q->type == LB_F16 && q->shape[0] == 48 && q->shape[1] == 16, "attn_qkv shape/type");
        if (q && c && q->shape[0] == c->shape[1]) {
            uint8_t *x = read_all(a, q), *y = read_all(b, c);
            int ok = x && y;
            for (uint64_t i = 0; ok && i < 48; i++)
                for (uint64_t j = 0; ok && j < 16; j++)
                    ok = lb_ld16(x + 2 * (i * 16 + j)) == lb_f32_to_f16(lb_ldf32(y + 4 * (j * 48 + i)));
            CHECK(ok, "attn_qkv is not c_attn transposed");
            free(x);
            free(y);
        }
        const lb_tensor *bias = lb_model_find(a, "blk.0.attn_qkv.bias");
        CHECK(bias && bias->type == LB_F32, "attn_qkv.bias not F32");
        const lb_kv *ff = kv(a, "gpt2.feed_forward_length");
        CHECK(ff && ff->val.v.u == 64, "feed_forward_length is not 4 * n_embd");
        CHECK(kv(a, "gpt2.attention.layer_norm_epsilon") != NULL, "no layer_norm_epsilon");
    } else if (!rc) CHECK(0, "open: %s", e.msg);
    lb_model_close(a);
    lb_model_close(b);
    tap_end();
    same_in_pieces("tiny-gpt2-random", "hf/tiny-gpt2-random", o, out, 200);
}

static void t_vocab(void)
{
    char out[700], tok[1200];
    lb_err e;
    ref_path(tok, sizeof tok, "gguf/stories260K.gguf");
    lb_conv_opts o = { .outtype = -1, .vocab_only = 1, .tokenizer = tok, .pre = "default" };
    snprintf(out, sizeof out, "%s/vocab.gguf", tmp);
    tap_begin("--vocab-only: hyperparameters and tokenizer, no tensors; --pre sets the pre-tokenizer");
    int rc = convert("hf/stories260K-llama", &o, out, &e);
    CHECK(rc == 0, "%s", e.msg);
    lb_model *a = NULL;
    if (!rc && lb_model_open(&a, out, &e) == 0) {
        CHECK(a->n_tensors == 0, "%zu tensors", a->n_tensors);
        const lb_kv *t = kv(a, "tokenizer.ggml.tokens");
        CHECK(t && t->val.n == 512, "no 512 tokens");
        CHECK(kv(a, "llama.block_count") != NULL, "no hyperparameters");
        const lb_kv *p = kv(a, "tokenizer.ggml.pre");
        CHECK(p && !strcmp(p->val.v.s, "default"), "tokenizer.ggml.pre not set");
    } else if (!rc) CHECK(0, "open: %s", e.msg);
    lb_model_close(a);
    tap_end();
}

/* A model already named like llama.cpp (what the llama2.c reader gives) goes through the
 * same tables: stories260K.gguf to itself. */
static void t_native(void)
{
    char out[700], ref[1200];
    lb_err e;
    ref_path(ref, sizeof ref, "gguf/stories260K.gguf");
    snprintf(out, sizeof out, "%s/native.gguf", tmp);
    lb_conv_opts o = { .outtype = -1, .no_vocab = 1 };
    tap_begin("llama.cpp-named source (native path) converts");
    lb_model *m;
    lb_conv *c = NULL;
    lb_out *f;
    int side, rc = lb_model_open(&m, ref, &e);
    if (!rc) rc = lb_conv_open_native(&c, m, "/nonexistent", &o, &e);
    if (!rc) rc = lb_out_open(&f, out, LB_OUT_FORCE, &e);
    if (!rc) {
        rc = lb_conv_write(c, f, &side, &e);
        if (!rc) rc = lb_out_commit(f, &e); else lb_out_abort(f);
    }
    CHECK(rc == 0, "%s", e.msg);
    lb_conv_free(c);
    tap_end();
    if (!rc) compare("native path: every tensor as in the source", out, ref, LB_F32, 0, NULL);
}

/* llama2.c checkpoint (the llama2c reader names tensors like llama.cpp): the same tensors
 * as llama.cpp's stories260K.gguf, which was converted from this very file. */
static void t_llama2c(void)
{
    char out[700], ref[1200];
    lb_err e;
    lb_conv_opts o = { .outtype = -1, .no_vocab = 1 };
    snprintf(out, sizeof out, "%s/l2c.gguf", tmp);
    ref_path(ref, sizeof ref, "gguf/stories260K.gguf");
    tap_begin("llama2c/stories260K.bin converts");
    CHECK(convert("llama2c/stories260K.bin", &o, out, &e) == 0, "%s", e.msg);
    tap_end();
    compare("llama2c/stories260K.bin tensors == llama.cpp's stories260K.gguf", out, ref, LB_F32, 0, "output.weight");
    static const char *const keys[] = {
        "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
        "llama.attention.head_count_kv", "llama.block_count", "llama.rope.dimension_count",
        "llama.attention.layer_norm_rms_epsilon", NULL
    };
    compare_keys("llama2c/stories260K.bin hyperparameters == stories260K.gguf", out, ref, keys);
    o.no_vocab = 0;
    tap_begin("llama2c checkpoint without --tokenizer is refused");
    CHECK(convert("llama2c/stories260K.bin", &o, out, &e) == LB_EFORMAT && strstr(e.msg, "--tokenizer"), "%s", e.msg);
    tap_end();
}

/* A llama.cpp-named source with Q8_0 matrices (what llama2.c v2 checkpoints give): kept as
 * they are by default, decoded by the quantize library's kernel for --outtype f16. The source
 * is stories260K.gguf with every matrix whose rows are a multiple of 32 quantized here. */
static int write_q8_source(const char *path, lb_err *e)
{
    char ref[1200];
    ref_path(ref, sizeof ref, "gguf/stories260K.gguf");
    lb_model *m;
    LB_TRY(lb_model_open(&m, ref, e));
    lb_wtensor w[64];
    uint8_t *data[64] = { 0 };
    size_t n = m->n_tensors < 64 ? m->n_tensors : 64;
    int rc = LB_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const lb_tensor *t = &m->tensors[i];
        w[i] = (lb_wtensor){ t->name, t->type, t->ndim, { 0 } };
        memcpy(w[i].shape, t->shape, sizeof w[i].shape);
        uint8_t *raw = read_all(m, t);
        if (!raw) { rc = LB_EIO; break; }
        if (t->ndim == 2 && t->shape[1] % 32 == 0) {
            float *f = malloc(t->nelem * sizeof *f);
            data[i] = malloc(t->nelem / 32 * 34);
            for (uint64_t k = 0; f && k < t->nelem; k++) f[k] = lb_ldf32(raw + 4 * k);
            rc = f && data[i] ? lb_quantize_rows_mt(LB_Q8_0, f, data[i], (int64_t)t->shape[0], (int64_t)t->shape[1],
                                                    NULL, 1, NULL, e) : LB_EIO;
            w[i].type = LB_Q8_0;
            free(f);
            free(raw);
        } else {
            data[i] = raw;
        }
    }
    lb_out *out;
    lb_writer *wr;
    if (!rc) rc = lb_out_open(&out, path, LB_OUT_FORCE, e);
    if (!rc) {
        rc = lb_writer_begin(&wr, &lb_gguf_writer_ops, out, m->kv, m->n_kv, w, n, e);
        for (size_t i = 0; i < n && !rc; i++) {
            uint64_t b;
            lb_type_nbytes(w[i].type, w[i].shape[0] * (w[i].ndim > 1 ? w[i].shape[1] : 1), &b);
            rc = lb_writer_data(wr, data[i], (size_t)b, e);
        }
        if (!rc) rc = lb_writer_end(wr, e);
        if (!rc) rc = lb_out_commit(out, e);
        else lb_out_abort(out);
    }
    for (size_t i = 0; i < n; i++) free(data[i]);
    lb_model_close(m);
    return rc;
}

static int convert_native(const char *src, const lb_conv_opts *o, const char *out, lb_err *e)
{
    lb_model *m;
    lb_conv *c = NULL;
    lb_out *f;
    int side, rc = lb_model_open(&m, src, e);
    if (!rc) rc = lb_conv_open_native(&c, m, "/nonexistent", o, e);
    if (!rc) rc = lb_out_open(&f, out, LB_OUT_FORCE, e);
    if (!rc) {
        rc = lb_conv_write(c, f, &side, e);
        if (!rc) rc = lb_out_commit(f, e); else lb_out_abort(f);
    }
    lb_conv_free(c);
    return rc;
}

static void t_native_q8(void)
{
    char q8[700], keep[700], f16[700], f16p[700];
    lb_err e;
    snprintf(q8, sizeof q8, "%s/q8src.gguf", tmp);
    snprintf(keep, sizeof keep, "%s/q8keep.gguf", tmp);
    snprintf(f16, sizeof f16, "%s/q8f16.gguf", tmp);
    snprintf(f16p, sizeof f16p, "%s/q8f16p.gguf", tmp);
    tap_begin("Q8_0 source: kept by default (file_type 7), decoded for --outtype f16, also in pieces");
    int rc = write_q8_source(q8, &e);
    CHECK(rc == 0, "writing the Q8_0 source: %s", e.msg);
    lb_conv_opts o = { .outtype = -1, .no_vocab = 1 };
    if (!rc) CHECK((rc = convert_native(q8, &o, keep, &e)) == 0, "keep: %s", e.msg);
    o.outtype = LB_F16;
    if (!rc) CHECK((rc = convert_native(q8, &o, f16, &e)) == 0, "f16: %s", e.msg);
    o.chunk = 200;
    if (!rc) CHECK((rc = convert_native(q8, &o, f16p, &e)) == 0, "f16 pieces: %s", e.msg);
    if (!rc) CHECK(files_equal(f16, f16p), "pieces of 200 elements give other bytes");
    lb_model *src = NULL, *k = NULL, *h = NULL;
    if (!rc && !lb_model_open(&src, q8, &e) && !lb_model_open(&k, keep, &e) && !lb_model_open(&h, f16, &e)) {
        const lb_kv *ft = kv(k, "general.file_type");
        CHECK(ft && ft->val.v.u == 7, "file_type is not MOSTLY_Q8_0");
        size_t n_q8 = 0;
        for (size_t i = 0; i < src->n_tensors; i++) {
            const lb_tensor *t = &src->tensors[i], *a = lb_model_find(k, t->name), *b = lb_model_find(h, t->name);
            if (!a || !b) continue;   /* output.weight: not written for a tied model */
            uint8_t *x = read_all(src, t), *y = read_all(k, a), *z = read_all(h, b);
            CHECK(x && y && a->type == t->type && a->nbytes == t->nbytes && !memcmp(x, y, t->nbytes), "'%s' not kept", t->name);
            if (t->type == LB_Q8_0) {
                n_q8++;
                float *f = malloc(t->nelem * sizeof *f);
                CHECK(f && lb_dequantize_any(LB_Q8_0, x, f, (int64_t)t->nelem, &e) == 0, "dequantize");
                int ok = b->type == LB_F16 && f && z;
                for (uint64_t j = 0; ok && j < t->nelem; j++) ok = lb_ld16(z + 2 * j) == lb_f32_to_f16(f[j]);
                CHECK(ok, "'%s' is not the f16 rounding of its Q8_0 values", t->name);
                free(f);
            }
            free(x);
            free(y);
            free(z);
        }
        CHECK(n_q8 >= 20, "only %zu Q8_0 tensors", n_q8);
    } else if (!rc) CHECK(0, "open: %s", e.msg);
    lb_model_close(src);
    lb_model_close(k);
    lb_model_close(h);
    tap_end();
}

int main(void)
{
    sh = tap_shared();
    if (!sh) {
        tap_skip("hf2gguf", "needs ../shared/models (hf/, gguf/)");
        return 0;
    }
    snprintf(tmp, sizeof tmp, "%s/hf2gguf.XXXXXX", getenv("LOWBIT_TMP") ? getenv("LOWBIT_TMP") : "/tmp");
    if (!mkdtemp(tmp)) return 1;
    t_stories();
    t_tiny();
    t_gpt2();
    t_vocab();
    t_native();
    t_llama2c();
    t_native_q8();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) {}
    TAP_EXIT();
}
