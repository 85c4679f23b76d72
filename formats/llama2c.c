/* llama2c.c: llama2.c checkpoints (v0 legacy, v1 f32, v2 int8 groups) and tokenizer.bin.
 *
 * On-disk layouts: see lb_llama2c.h and docs/formats-llama2c.md. The header gives every
 * size, so the reader plans where each tensor sits and requires the plan to end exactly
 * at the end of the file. llama2.c stores matrices as [out, in] row-major, which is
 * llama.cpp's layout too (q/k are not permuted), so v0/v1 tensors are plain views.
 * v2 matrices go through a read op: Q8_0 blocks (lossless repacking) or F32 values. */
#include "lb_llama2c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"

/* ---- header ------------------------------------------------------------------ */

enum { H_DIM, H_HIDDEN, H_LAYERS, H_HEADS, H_KV_HEADS, H_VOCAB, H_SEQ, H_COUNT };
static const char *const hname[H_COUNT] = {
    "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"
};

typedef struct l2c_hdr {
    int      version;         /* 0, 1, 2 */
    int32_t  h[H_COUNT];      /* as stored (v0 vocab may be negative) */
    uint64_t h_off;           /* byte offset of h[0] */
    int      shared;          /* classifier shared with the embedding */
    int32_t  group_size;      /* v2 */
    uint64_t data_start;
} l2c_hdr;

/* Parse the fixed header from the first bytes; no size checks yet. */
static int parse_header(const uint8_t *b, size_t n, l2c_hdr *h, lb_err *err)
{
    memset(h, 0, sizeof *h);
    if (n >= 8 && lb_ld32(b) == LB_LLAMA2C_MAGIC) {
        int32_t v = (int32_t)lb_ld32(b + 4);
        if (v != 1 && v != 2)
            return lb_err_set(err, LB_EFORMAT, 4, "llama2c version %d is not supported (1 and 2 are)", v);
        if (n < LB_LLAMA2C_HEADER)
            return lb_err_set(err, LB_EFORMAT, n, "truncated llama2c header: %zu of %u bytes",
                              n, LB_LLAMA2C_HEADER);
        h->version = v;
        h->h_off = 8;
        if (b[36] > 1)
            return lb_err_set(err, LB_EFORMAT, 36, "shared_classifier flag is %u (0 or 1)", b[36]);
        h->shared = b[36];
        if (v == 2) h->group_size = (int32_t)lb_ld32(b + 37);
        h->data_start = LB_LLAMA2C_HEADER;
    } else {
        if (n < 4 * H_COUNT)
            return lb_err_set(err, LB_EFORMAT, n, "truncated llama2c header: %zu of %d bytes",
                              n, 4 * H_COUNT);
        h->version = 0;
        h->h_off = 0;
        h->data_start = 4 * H_COUNT;
    }
    for (int i = 0; i < H_COUNT; i++) h->h[i] = (int32_t)lb_ld32(b + h->h_off + 4 * i);
    if (h->version == 0) {
        h->shared = h->h[H_VOCAB] > 0;
        if (h->h[H_VOCAB] < 0 && h->h[H_VOCAB] != INT32_MIN) h->h[H_VOCAB] = -h->h[H_VOCAB];
    }
    return LB_OK;
}

/* Values must be positive and consistent (heads divide dim, kv heads divide heads). */
static int check_header(const l2c_hdr *h, lb_err *err)
{
    for (int i = 0; i < H_COUNT; i++)
        if (h->h[i] <= 0)
            return lb_err_set(err, LB_EFORMAT, h->h_off + 4 * i, "llama2c header: %s is %d (must be positive)",
                              hname[i], h->h[i]);
    if (h->h[H_LAYERS] > LB_LLAMA2C_MAX_LAYERS)
        return lb_err_set(err, LB_EFORMAT, h->h_off + 8, "llama2c header: n_layers %d is implausible (at most %d)",
                          h->h[H_LAYERS], LB_LLAMA2C_MAX_LAYERS);
    if (h->h[H_DIM] % h->h[H_HEADS])
        return lb_err_set(err, LB_EFORMAT, h->h_off + 12, "llama2c header: n_heads %d does not divide dim %d",
                          h->h[H_HEADS], h->h[H_DIM]);
    if (h->h[H_KV_HEADS] > h->h[H_HEADS] || h->h[H_HEADS] % h->h[H_KV_HEADS])
        return lb_err_set(err, LB_EFORMAT, h->h_off + 16, "llama2c header: n_kv_heads %d does not divide n_heads %d",
                          h->h[H_KV_HEADS], h->h[H_HEADS]);
    if (h->version == 2) {
        if (h->group_size <= 0)
            return lb_err_set(err, LB_EFORMAT, 37, "llama2c header: group_size is %d (must be positive)",
                              h->group_size);
        /* every quantized matrix has dim as a factor, so this makes all groups whole */
        if (h->h[H_DIM] % h->group_size)
            return lb_err_set(err, LB_EFORMAT, 37, "llama2c header: group_size %d does not divide dim %d",
                              h->group_size, h->h[H_DIM]);
    }
    return LB_OK;
}

/* ---- plan: where each tensor lives ------------------------------------------------ */

enum { K_EMBD, K_ATTN_NORM, K_Q, K_K, K_V, K_O, K_FFN_NORM, K_GATE, K_DOWN, K_UP,
       K_OUT_NORM, K_OUTPUT, K_FREQ, K_COUNT };

static const struct { const char *name; int per_layer, matrix; } kinfo[K_COUNT] = {
    [K_EMBD] = { "token_embd.weight", 0, 1 },
    [K_ATTN_NORM] = { "attn_norm.weight", 1, 0 },
    [K_Q] = { "attn_q.weight", 1, 1 },
    [K_K] = { "attn_k.weight", 1, 1 },
    [K_V] = { "attn_v.weight", 1, 1 },
    [K_O] = { "attn_output.weight", 1, 1 },
    [K_FFN_NORM] = { "ffn_norm.weight", 1, 0 },
    [K_GATE] = { "ffn_gate.weight", 1, 1 },
    [K_DOWN] = { "ffn_down.weight", 1, 1 },
    [K_UP] = { "ffn_up.weight", 1, 1 },
    [K_OUT_NORM] = { "output_norm.weight", 0, 0 },
    [K_OUTPUT] = { "output.weight", 0, 1 },
    [K_FREQ] = { "freq_cis", 0, 0 },   /* v0 only: both RoPE tables, skipped */
};

/* File order per version (K_OUTPUT is dropped when the classifier is shared). */
static const int order_v0[] = { K_EMBD, K_ATTN_NORM, K_Q, K_K, K_V, K_O, K_FFN_NORM, K_GATE,
                                K_DOWN, K_UP, K_OUT_NORM, K_FREQ, K_OUTPUT, -1 };
static const int order_v12[] = { K_ATTN_NORM, K_FFN_NORM, K_OUT_NORM, K_EMBD, K_Q, K_K, K_V,
                                 K_O, K_GATE, K_DOWN, K_UP, K_OUTPUT, -1 };

typedef struct l2c_plan {
    uint64_t rows[K_COUNT], cols[K_COUNT];  /* norms: rows 1, cols dim */
    uint64_t base[K_COUNT];                 /* offset of layer 0's copy */
    uint64_t size[K_COUNT];                 /* bytes of one copy on disk */
    uint64_t end;                           /* where the plan ends */
    uint64_t end_other;                     /* v0: end with the classifier flag flipped */
} l2c_plan;

static void shapes(const l2c_hdr *h, l2c_plan *p)
{
    uint64_t dim = (uint64_t)h->h[H_DIM], hid = (uint64_t)h->h[H_HIDDEN];
    uint64_t voc = (uint64_t)h->h[H_VOCAB], hs = dim / (uint64_t)h->h[H_HEADS];
    uint64_t kv = hs * (uint64_t)h->h[H_KV_HEADS];
    for (int k = 0; k < K_COUNT; k++) { p->rows[k] = dim; p->cols[k] = dim; }
    p->rows[K_EMBD] = p->rows[K_OUTPUT] = voc;
    p->rows[K_K] = p->rows[K_V] = kv;
    p->rows[K_GATE] = p->rows[K_UP] = hid;
    p->cols[K_DOWN] = hid;
    p->rows[K_ATTN_NORM] = p->rows[K_FFN_NORM] = p->rows[K_OUT_NORM] = 1;
    /* run.c skips seq_len * head_size / 2 floats twice */
    p->rows[K_FREQ] = 2;
    p->cols[K_FREQ] = (uint64_t)h->h[H_SEQ] * hs / 2;
}

/* Bytes of one copy of kind k: f32, or (v2 matrices) int8 values + f32 group scales. */
static int kind_bytes(const l2c_hdr *h, const l2c_plan *p, int k, uint64_t *out)
{
    uint64_t n;
    if (lb_mul64(p->rows[k], p->cols[k], &n)) return -1;
    if (h->version == 2 && kinfo[k].matrix)
        return lb_add64(n, n / (uint64_t)h->group_size * 4, out);
    return lb_mul64(n, 4, out);
}

static int walk(const l2c_hdr *h, l2c_plan *p, int with_output, uint64_t *end)
{
    const int *order = h->version == 0 ? order_v0 : order_v12;
    uint64_t at = h->data_start;
    for (const int *k = order; *k >= 0; k++) {
        if (*k == K_OUTPUT && !with_output) continue;
        uint64_t copies = kinfo[*k].per_layer ? (uint64_t)h->h[H_LAYERS] : 1, all;
        if (kind_bytes(h, p, *k, &p->size[*k]) || lb_mul64(p->size[*k], copies, &all)) return -1;
        p->base[*k] = at;
        if (lb_add64(at, all, &at)) return -1;
    }
    *end = at;
    return 0;
}

/* The first tensor that does not fit in a file of `size` bytes, by name, and its start. */
static uint64_t cut_at(const l2c_hdr *h, const l2c_plan *p, uint64_t size, char *name, size_t cap)
{
    const int *order = h->version == 0 ? order_v0 : order_v12;
    for (const int *k = order; *k >= 0; k++) {
        if (*k == K_OUTPUT && h->shared) continue;
        uint64_t copies = kinfo[*k].per_layer ? (uint64_t)h->h[H_LAYERS] : 1;
        for (uint64_t l = 0; l < copies; l++) {
            uint64_t at = p->base[*k] + l * p->size[*k];
            if (at + p->size[*k] <= size) continue;
            if (kinfo[*k].per_layer) snprintf(name, cap, "blk.%llu.%s", (unsigned long long)l, kinfo[*k].name);
            else snprintf(name, cap, "%s", kinfo[*k].name);
            return at;
        }
    }
    snprintf(name, cap, "?");
    return size;
}

static int make_plan(const l2c_hdr *h, uint64_t file_size, l2c_plan *p, lb_err *err)
{
    memset(p, 0, sizeof *p);
    shapes(h, p);
    l2c_plan other = *p;
    int ovf = walk(h, p, !h->shared, &p->end);
    if (ovf) return lb_err_set(err, LB_EFORMAT, h->h_off, "llama2c header: sizes overflow 64 bits");
    if (walk(h, &other, h->shared, &p->end_other)) p->end_other = 0;
    if (p->end == file_size) return LB_OK;
    if (h->version == 0 && p->end_other == file_size)
        return lb_err_set(err, LB_EFORMAT, 20,
                          "llama2c v0: vocab_size sign says the classifier is %s, but the file size %llu "
                          "matches a %s one", h->shared ? "shared" : "separate",
                          (unsigned long long)file_size, h->shared ? "separate" : "shared");
    if (p->end > file_size) {
        char name[64];
        uint64_t at = cut_at(h, p, file_size, name, sizeof name);
        return lb_err_set(err, LB_EFORMAT, file_size,
                          "truncated llama2c v%d file: the header implies %llu bytes, the file has %llu "
                          "('%s' at %llu does not fit)", h->version, (unsigned long long)p->end,
                          (unsigned long long)file_size, name, (unsigned long long)at);
    }
    return lb_err_set(err, LB_EFORMAT, p->end,
                      "llama2c v%d file size %llu does not match the %llu bytes the header implies "
                      "(%llu bytes left over)", h->version, (unsigned long long)file_size,
                      (unsigned long long)p->end, (unsigned long long)(file_size - p->end));
}

/* ---- bidding ------------------------------------------------------------------- */

int lb_llama2c_bid(const uint8_t *head, size_t n, uint64_t size)
{
    (void)size;
    if (n < 8 || lb_ld32(head) != LB_LLAMA2C_MAGIC) return 0;
    int32_t v = (int32_t)lb_ld32(head + 4);
    return v == 1 || v == 2 ? 90 : 40;  /* other versions: still ours, refused by open */
}

int lb_llama2c_bid_v0(const uint8_t *head, size_t n, uint64_t size)
{
    l2c_hdr h;
    l2c_plan p;
    if (n < 8 || lb_ld32(head) == LB_LLAMA2C_MAGIC) return 0;
    if (parse_header(head, n, &h, NULL) || check_header(&h, NULL)) return 0;
    return make_plan(&h, size, &p, NULL) == LB_OK ? 5 : 0;
}

/* ---- v2 matrices: int8 values + f32 scales, read as Q8_0 or F32 -------------------- */

typedef struct l2c_q {
    uint64_t q_off, s_off;   /* int8 values, f32 scales */
    uint64_t n;              /* elements */
    uint64_t gs;             /* group size */
} l2c_q;

#define CHUNK 4096u          /* elements decoded per step (a multiple of 32) */

/* Load int8 values [e, e+k) and the scales of the groups they touch. */
static int load_q(lb_src *s, const l2c_q *q, uint64_t e, size_t k, int8_t *qv, float *sc,
                  uint64_t *g0, lb_err *err)
{
    uint8_t raw[4 * (CHUNK + 1)];
    *g0 = e / q->gs;
    size_t ng = (size_t)((e + k - 1) / q->gs - *g0 + 1);
    LB_TRY(lb_src_read(s, q->q_off + e, qv, k, err));
    LB_TRY(lb_src_read(s, q->s_off + *g0 * 4, raw, ng * 4, err));
    for (size_t i = 0; i < ng; i++) sc[i] = lb_ldf32(raw + 4 * i);
    return LB_OK;
}

/* Copy the part of [from, from + len) (tensor byte coordinates) that falls in the request. */
static void put(uint8_t *dst, uint64_t off, size_t n, const uint8_t *src, uint64_t from, size_t len)
{
    uint64_t a = from > off ? from : off, b = from + len < off + n ? from + len : off + n;
    if (a < b) memcpy(dst + (a - off), src + (a - from), (size_t)(b - a));
}

static int read_q(lb_model *m, const lb_tensor *t, uint64_t off, void *buf, size_t n, lb_err *err)
{
    const l2c_q *q = t->fmt;
    lb_src *s = m->files[t->file].src;
    if (!q) {
        int rc = lb_src_read(s, t->offset + off, buf, n, err);
        if (rc && err) snprintf(err->item, sizeof err->item, "tensor '%.120s'", t->name);
        return rc;
    }
    if (n == 0) return LB_OK;
    int q8 = t->type == LB_Q8_0;
    uint64_t esz = q8 ? 34 : 4, per = q8 ? 32 : 1;       /* bytes per unit, elements per unit */
    uint64_t u0 = off / esz, u1 = (off + n + esz - 1) / esz;
    int8_t qv[CHUNK];
    float sc[CHUNK + 1];
    uint8_t out[CHUNK / 32 * 34 > CHUNK * 4 ? CHUNK / 32 * 34 : CHUNK * 4];
    for (uint64_t u = u0; u < u1;) {
        uint64_t k = u1 - u < CHUNK / per ? u1 - u : CHUNK / per, e = u * per, g0;
        int rc = load_q(s, q, e, (size_t)(k * per), qv, sc, &g0, err);
        if (rc) {
            if (err) snprintf(err->item, sizeof err->item, "tensor '%.120s'", t->name);
            return rc;
        }
        for (uint64_t i = 0; i < k * per; i++) {
            float scale = sc[(e + i) / q->gs - g0];
            if (!q8) lb_stf32(out + 4 * i, (float)qv[i] * scale);
            else {
                if (i % 32 == 0) lb_st16(out + i / 32 * 34, lb_f32_to_f16(scale));
                out[i / 32 * 34 + 2 + i % 32] = (uint8_t)qv[i];
            }
        }
        put(buf, off, n, out, u * esz, (size_t)(k * esz));
        u += k;
    }
    return LB_OK;
}

/* Q8_0 is lossless for a tensor when every scale survives f32 -> f16 -> f32 bit for bit. */
static int scales_fit_f16(lb_src *s, const l2c_q *q, int *fits, lb_err *err)
{
    uint8_t raw[4 * 1024];
    uint64_t ns = q->n / q->gs;
    *fits = 1;
    for (uint64_t i = 0; i < ns && *fits;) {
        size_t k = ns - i < 1024 ? (size_t)(ns - i) : 1024;
        LB_TRY(lb_src_read(s, q->s_off + 4 * i, raw, 4 * k, err));
        for (size_t j = 0; j < k; j++) {
            uint32_t a = lb_ld32(raw + 4 * j), b;
            float back = lb_f16_to_f32(lb_f32_to_f16(lb_ldf32(raw + 4 * j)));
            memcpy(&b, &back, 4);
            if (a != b) { *fits = 0; break; }
        }
        i += k;
    }
    return LB_OK;
}

static void free_tensor(lb_tensor *t)
{
    free(t->fmt);
    t->fmt = NULL;
}

static const lb_model_ops l2c_ops = { read_q, NULL, free_tensor };

/* ---- open ---------------------------------------------------------------------------- */

static int add_one(lb_model *m, const l2c_hdr *h, const l2c_plan *p, int k, int layer, lb_err *err)
{
    char name[64];
    if (kinfo[k].per_layer) snprintf(name, sizeof name, "blk.%d.%s", layer, kinfo[k].name);
    else snprintf(name, sizeof name, "%s", kinfo[k].name);
    uint64_t off = p->base[k] + (uint64_t)layer * p->size[k];
    uint64_t shape[2] = { p->rows[k], p->cols[k] };
    int ndim = kinfo[k].matrix ? 2 : 1;
    const uint64_t *sh = ndim == 2 ? shape : shape + 1;
    if (h->version != 2 || !kinfo[k].matrix)
        return lb_model_add_tensor(m, name, LB_F32, ndim, sh, off, 0, NULL, err);
    l2c_q *q = malloc(sizeof *q);
    if (!q) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    q->q_off = off;
    q->n = shape[0] * shape[1];
    q->s_off = off + q->n;
    q->gs = (uint64_t)h->group_size;
    int fits = 0, rc = LB_OK;
    if (q->gs % 32 == 0 && shape[1] % 32 == 0) rc = scales_fit_f16(m->files[0].src, q, &fits, err);
    lb_tensor *t = NULL;
    if (!rc) rc = lb_model_add_tensor(m, name, fits ? LB_Q8_0 : LB_F32, 2, shape, off, 0, &t, err);
    if (rc) {
        if (err && !err->item[0]) snprintf(err->item, sizeof err->item, "tensor '%.120s'", name);
        free(q);
        return rc;
    }
    t->fmt = q;
    return LB_OK;
}

static int add_tensors(lb_model *m, const l2c_hdr *h, const l2c_plan *p, lb_err *err)
{
    static const int per_layer[] = { K_ATTN_NORM, K_Q, K_K, K_V, K_O, K_FFN_NORM, K_GATE,
                                     K_DOWN, K_UP };
    LB_TRY(add_one(m, h, p, K_EMBD, 0, err));
    for (int l = 0; l < h->h[H_LAYERS]; l++)
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++)
            LB_TRY(add_one(m, h, p, per_layer[i], l, err));
    LB_TRY(add_one(m, h, p, K_OUT_NORM, 0, err));
    if (!h->shared) LB_TRY(add_one(m, h, p, K_OUTPUT, 0, err));
    return LB_OK;
}

static int add_u32(lb_model *m, const char *key, uint64_t v, lb_err *err)
{
    lb_value val = { .type = LB_V_U32, .v.u = v };
    return lb_model_add_kv(m, key, &val, err);
}

static int add_kvs(lb_model *m, const l2c_hdr *h, lb_err *err)
{
    static const char *const keys[H_COUNT] = {
        "llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
        "llama.attention.head_count", "llama.attention.head_count_kv", "llama.vocab_size",
        "llama.context_length"
    };
    LB_TRY(lb_model_add_str(m, "general.architecture", "llama", err));
    for (int i = 0; i < H_COUNT; i++) LB_TRY(add_u32(m, keys[i], (uint64_t)h->h[i], err));
    LB_TRY(add_u32(m, "llama.rope.dimension_count", (uint64_t)(h->h[H_DIM] / h->h[H_HEADS]), err));
    /* run.c's rmsnorm hard-codes 1e-5 */
    lb_value eps = { .type = LB_V_F32, .v.f = (double)1e-5f };
    LB_TRY(lb_model_add_kv(m, "llama.attention.layer_norm_rms_epsilon", &eps, err));
    LB_TRY(add_u32(m, "llama2c.version", (uint64_t)h->version, err));
    lb_value sh = { .type = LB_V_BOOL, .v.u = (uint64_t)h->shared };
    LB_TRY(lb_model_add_kv(m, "llama2c.shared_classifier", &sh, err));
    if (h->version == 2) LB_TRY(add_u32(m, "llama2c.group_size", (uint64_t)h->group_size, err));
    return LB_OK;
}

int lb_llama2c_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    if (lb_model_add_file(m, path, src) < 0) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    uint8_t head[LB_LLAMA2C_HEADER];
    size_t n;
    l2c_hdr h;
    l2c_plan p;
    LB_TRY(lb_src_read_some(src, 0, head, sizeof head, &n, err));
    LB_TRY(parse_header(head, n, &h, err));
    LB_TRY(check_header(&h, err));
    LB_TRY(make_plan(&h, lb_src_size(src), &p, err));
    m->version = (uint32_t)h.version;
    m->ops = &l2c_ops;
    m->files[0].data_start = h.data_start;
    LB_TRY(add_kvs(m, &h, err));
    return add_tensors(m, &h, &p, err);
}

const lb_format lb_fmt_llama2c = { "llama2c", lb_llama2c_bid, lb_llama2c_open };
const lb_format lb_fmt_llama2c_v0 = { "llama2c", lb_llama2c_bid_v0, lb_llama2c_open };

/* ---- tokenizer.bin ------------------------------------------------------------------ */

void lb_llama2c_tokenizer_free(lb_llama2c_tokenizer *t)
{
    if (!t) return;
    free(t->tokens);
    free(t->len);
    free(t->scores);
    free(t->blob_);
    free(t);
}

/* One pass: count tokens (vocab 0) and check every record; fills t when t->tokens is set. */
static int tok_pass(lb_cur *c, lb_llama2c_tokenizer *t, uint32_t vocab, uint32_t *count)
{
    uint64_t blob = 0;
    uint32_t i = 0;
    c->what = "tokenizer";
    for (; vocab ? i < vocab : lb_cur_left(c) > 0; i++) {
        uint64_t at = c->pos;
        uint32_t score, len;
        if (i == UINT32_MAX) return lb_err_set(c->err, LB_EFORMAT, at, "too many tokens");
        LB_TRY(lb_cur_u32(c, &score));
        LB_TRY(lb_cur_u32(c, &len));
        if ((int32_t)len < 0 || len > t->max_token_length)
            return lb_err_set(c->err, LB_EFORMAT, at + 4, "token %u: length %d is not within 0..%u (max_token_length)",
                              i, (int32_t)len, t->max_token_length);
        if (len > lb_cur_left(c))
            return lb_err_set(c->err, LB_EFORMAT, at + 8, "token %u: length %u runs past the end of the file", i, len);
        if (t->tokens) {
            t->scores[i] = lb_ldf32(&score);
            t->len[i] = len;
            t->tokens[i] = t->blob_ + blob;
            LB_TRY(lb_cur_bytes(c, t->blob_ + blob, len));
            t->blob_[blob + len] = 0;
        } else {
            LB_TRY(lb_cur_skip(c, len));
        }
        blob += len + 1;
    }
    if (lb_cur_left(c))
        return lb_err_set(c->err, LB_EFORMAT, c->pos, "%llu bytes after the last of %u tokens",
                          (unsigned long long)lb_cur_left(c), i);
    *count = i;
    return LB_OK;
}

int lb_llama2c_tokenizer_read(lb_llama2c_tokenizer **out, lb_src *src, uint32_t vocab_size, lb_err *err)
{
    *out = NULL;
    uint64_t size = lb_src_size(src);
    if (vocab_size && (uint64_t)vocab_size * 8 > (size > 4 ? size - 4 : 0))
        return lb_err_set(err, LB_EFORMAT, size, "tokenizer: %u tokens need at least %llu bytes, the file has %llu",
                          vocab_size, (unsigned long long)vocab_size * 8 + 4, (unsigned long long)size);
    lb_llama2c_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    lb_cur c;
    int rc = lb_cur_init(&c, src, 0, size, err);
    if (!rc) {
        c.what = "tokenizer header";
        rc = lb_cur_u32(&c, &t->max_token_length);
    }
    if (!rc && ((int32_t)t->max_token_length <= 0))
        rc = lb_err_set(err, LB_EFORMAT, 0, "tokenizer: max_token_length is %d (must be positive)",
                        (int32_t)t->max_token_length);
    uint32_t n = 0;
    if (!rc) rc = tok_pass(&c, t, vocab_size, &n);  /* validate and count */
    if (!rc) {
        /* bytes + NUL per token, bounded by the file size checked above */
        t->tokens = malloc((n ? n : 1) * sizeof *t->tokens);
        t->len = malloc((n ? n : 1) * sizeof *t->len);
        t->scores = malloc((n ? n : 1) * sizeof *t->scores);
        t->blob_ = malloc((size_t)size + n + 1);
        if (!t->tokens || !t->len || !t->scores || !t->blob_)
            rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    if (!rc) {
        c.pos = 4;
        rc = tok_pass(&c, t, n, &t->n_tokens);
    }
    lb_cur_free(&c);
    if (rc) { lb_llama2c_tokenizer_free(t); return rc; }
    *out = t;
    return LB_OK;
}

int lb_llama2c_tokenizer_load(lb_llama2c_tokenizer **out, const char *path, uint32_t vocab_size, lb_err *err)
{
    lb_src *s;
    *out = NULL;
    LB_TRY(lb_src_open(&s, path, err));
    int rc = lb_llama2c_tokenizer_read(out, s, vocab_size, err);
    lb_src_close(s);
    return rc;
}
