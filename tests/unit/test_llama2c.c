/* test_llama2c.c: llama2.c checkpoints (v0/v1/v2) and tokenizer.bin: real files from
 * ../shared/models/llama2c (checked against llama.cpp's own GGUF of the same weights),
 * synthetic files built here, and named malformed cases. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_llama2c.h"
#include "lb_model.h"
#include "tap.h"

static const char *shared;

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = b ? fread(b, 1, (size_t)sz, f) : 0;
    fclose(f);
    return b;
}

static uint64_t kv_u(const lb_model *m, const char *key)
{
    const lb_kv *kv = lb_model_kv(m, key);
    return kv ? kv->val.v.u : UINT64_MAX;
}

/* ---- a tiny GGUF reader, only for the cross-check (the real one is formats/gguf_read.c) ---- */

typedef struct gg_t { char name[80]; int nd; uint64_t ne[4]; uint32_t type; uint64_t off; } gg_t;
typedef struct gg { const uint8_t *b; size_t n, p; int bad; uint64_t align; gg_t *t; uint64_t nt; size_t data; } gg;

static uint64_t gg_u(gg *g, int k)
{
    if (g->bad || g->p + (size_t)k > g->n) { g->bad = 1; return 0; }
    uint64_t v = k == 1 ? g->b[g->p] : k == 2 ? lb_ld16(g->b + g->p) : k == 4 ? lb_ld32(g->b + g->p) : lb_ld64(g->b + g->p);
    g->p += (size_t)k;
    return v;
}

static void gg_str(gg *g, char *out, size_t cap)
{
    uint64_t len = gg_u(g, 8);
    if (g->bad || len > g->n - g->p) { g->bad = 1; return; }
    if (out) snprintf(out, cap, "%.*s", (int)len, (const char *)g->b + g->p);
    g->p += (size_t)len;
}

static void gg_val(gg *g, uint32_t type, int depth, int is_align)
{
    static const int sz[13] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    if (type == 8) { gg_str(g, NULL, 0); return; }
    if (type == 9 && depth < 3) {
        uint32_t et = (uint32_t)gg_u(g, 4);
        uint64_t cnt = gg_u(g, 8);
        for (uint64_t i = 0; i < cnt && !g->bad; i++) gg_val(g, et, depth + 1, 0);
        return;
    }
    if (type > 12 || !sz[type]) { g->bad = 1; return; }
    uint64_t v = gg_u(g, sz[type]);
    if (is_align) g->align = v;
}

static int gg_parse(gg *g)
{
    g->align = 32;
    if (g->n < 24 || memcmp(g->b, "GGUF", 4)) return -1;
    g->p = 8;
    g->nt = gg_u(g, 8);
    uint64_t nkv = gg_u(g, 8);
    for (uint64_t i = 0; i < nkv && !g->bad; i++) {
        char key[128];
        gg_str(g, key, sizeof key);
        gg_val(g, (uint32_t)gg_u(g, 4), 0, strcmp(key, "general.alignment") == 0);
    }
    if (g->bad || g->nt > 1000) return -1;
    g->t = calloc(g->nt, sizeof *g->t);
    for (uint64_t i = 0; i < g->nt && !g->bad; i++) {
        gg_str(g, g->t[i].name, sizeof g->t[i].name);
        g->t[i].nd = (int)gg_u(g, 4);
        if (g->t[i].nd < 1 || g->t[i].nd > 4) return -1;
        for (int d = 0; d < g->t[i].nd; d++) g->t[i].ne[d] = gg_u(g, 8);
        g->t[i].type = (uint32_t)gg_u(g, 4);
        g->t[i].off = gg_u(g, 8);
    }
    g->data = (g->p + g->align - 1) / g->align * g->align;
    return g->bad ? -1 : 0;
}

/* ---- stories260K.bin (v0) vs stories260K.gguf ------------------------------------------ */

static void test_stories(void)
{
    char p[1024], q[1024];
    snprintf(p, sizeof p, "%s/models/llama2c/stories260K.bin", shared);
    snprintf(q, sizeof q, "%s/models/gguf/stories260K.gguf", shared);
    lb_model *m = NULL;
    lb_err err;
    lb_err_clear(&err);
    tap_begin("llama2c v0 stories260K.bin: header and tensors");
    int rc = lb_model_open(&m, p, &err);
    CHECK(rc == LB_OK, "open: %s", err.msg);
    if (rc) { tap_end(); return; }
    CHECK(strcmp(m->format, "llama2c") == 0, "format %s", m->format);
    CHECK(m->version == 0, "version %u", m->version);
    CHECK(kv_u(m, "llama.embedding_length") == 64, "dim");
    CHECK(kv_u(m, "llama.feed_forward_length") == 172, "hidden");
    CHECK(kv_u(m, "llama.block_count") == 5, "layers");
    CHECK(kv_u(m, "llama.attention.head_count") == 8, "heads");
    CHECK(kv_u(m, "llama.attention.head_count_kv") == 4, "kv heads");
    CHECK(kv_u(m, "llama.vocab_size") == 512, "vocab");
    CHECK(kv_u(m, "llama.context_length") == 512, "seq");
    CHECK(kv_u(m, "llama.rope.dimension_count") == 8, "rope dims");
    CHECK(kv_u(m, "llama2c.shared_classifier") == 1, "shared");
    const lb_kv *arch = lb_model_kv(m, "general.architecture");
    CHECK(arch && arch->val.type == LB_V_STR && strcmp(arch->val.v.s, "llama") == 0, "architecture");
    CHECK(m->n_tensors == 47, "%zu tensors", m->n_tensors);
    CHECK(!lb_model_find(m, "output.weight"), "shared classifier: no output.weight");
    const lb_tensor *t = lb_model_find(m, "blk.4.attn_k.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == 32 && t->shape[1] == 64 && t->type == LB_F32, "attn_k shape");
    t = lb_model_find(m, "blk.0.ffn_down.weight");
    CHECK(t && t->shape[0] == 64 && t->shape[1] == 172, "ffn_down shape");
    t = lb_model_find(m, "blk.0.ffn_gate.weight");
    CHECK(t && t->shape[0] == 172 && t->shape[1] == 64, "ffn_gate shape");
    t = lb_model_find(m, "token_embd.weight");
    CHECK(t && t->shape[0] == 512 && t->shape[1] == 64 && t->offset == 28, "token_embd");
    lb_totals tot = lb_model_totals(m);
    /* 264128 floats in the file minus the two 512x4 RoPE tables */
    CHECK(tot.params == 264128 - 4096, "params %llu", (unsigned long long)tot.params);
    tap_end();

    tap_begin("llama2c v0 stories260K.bin: every tensor byte-identical to stories260K.gguf");
    size_t gn;
    uint8_t *gb = slurp(q, &gn);
    gg g = { .b = gb, .n = gn };
    CHECK(gb && gg_parse(&g) == 0, "parse %s", q);
    size_t matched = 0;
    for (uint64_t i = 0; gb && !g.bad && i < g.nt; i++) {
        const gg_t *gt = &g.t[i];
        if (strcmp(gt->name, "output.weight") == 0) continue;   /* llama.cpp's copy of the tied embedding */
        t = lb_model_find(m, gt->name);
        CHECK(t != NULL, "tensor %s missing", gt->name);
        if (!t) continue;
        CHECK(gt->type == 0 && t->ndim == gt->nd, "%s: type/ndim", gt->name);
        uint64_t ne = 1;
        for (int d = 0; d < gt->nd; d++) {
            CHECK(t->shape[d] == gt->ne[gt->nd - 1 - d], "%s: dim %d", gt->name, d);
            ne *= gt->ne[d];
        }
        CHECK(ne * 4 == t->nbytes && g.data + gt->off + t->nbytes <= gn, "%s: size", gt->name);
        uint8_t *buf = malloc(t->nbytes);
        rc = lb_tensor_read(m, t, 0, buf, t->nbytes, &err);
        CHECK(rc == 0 && memcmp(buf, gb + g.data + gt->off, t->nbytes) == 0, "%s: bytes differ", gt->name);
        free(buf);
        matched++;
    }
    CHECK(matched == 47 && g.nt == 48, "matched %zu of %llu", matched, (unsigned long long)g.nt);
    /* the GGUF's output.weight is the embedding, which is what shared means */
    for (uint64_t i = 0; gb && !g.bad && i < g.nt; i++)
        if (strcmp(g.t[i].name, "output.weight") == 0) {
            const lb_tensor *e = lb_model_find(m, "token_embd.weight");
            uint8_t *buf = malloc(e->nbytes);
            CHECK(lb_tensor_read(m, e, 0, buf, e->nbytes, &err) == 0 &&
                  memcmp(buf, gb + g.data + g.t[i].off, e->nbytes) == 0, "output.weight != token_embd");
            free(buf);
        }
    free(g.t);
    free(gb);
    tap_end();

    tap_begin("llama2c v0 stories260K.bin: same tensors as lowbit's GGUF reader gives for stories260K.gguf");
    lb_model *ref = NULL;
    rc = lb_model_open(&ref, q, &err);
    CHECK(rc == 0 && strcmp(ref->format, "gguf") == 0, "open gguf: %s", err.msg);
    for (size_t i = 0; !rc && i < m->n_tensors; i++) {
        const lb_tensor *a = &m->tensors[i], *b = lb_model_find(ref, a->name);
        CHECK(b && b->type == a->type && b->ndim == a->ndim && b->nbytes == a->nbytes &&
              memcmp(a->shape, b->shape, sizeof a->shape) == 0, "%s: missing or different", a->name);
        if (!b || b->nbytes != a->nbytes) continue;
        uint8_t *x = malloc(a->nbytes), *y = malloc(b->nbytes);
        CHECK(lb_tensor_read(m, a, 0, x, a->nbytes, &err) == 0 && lb_tensor_read(ref, b, 0, y, b->nbytes, &err) == 0 &&
              memcmp(x, y, a->nbytes) == 0, "%s: bytes differ", a->name);
        free(x);
        free(y);
    }
    CHECK(!rc && ref->n_tensors == m->n_tensors + 1, "tensor counts");
    lb_model_close(ref);
    lb_model_close(m);
    tap_end();
}

/* ---- pr468-model_qint80.bin (v2, group 64) ------------------------------------------- */

static void test_pr468(void)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/models/llama2c/pr468-model_qint80.bin", shared);
    lb_model *m = NULL;
    lb_err err;
    lb_err_clear(&err);
    tap_begin("llama2c v2 pr468-model_qint80.bin: header and dequantized values");
    int rc = lb_model_open(&m, p, &err);
    CHECK(rc == LB_OK, "open: %s", err.msg);
    if (rc) { tap_end(); return; }
    size_t fn;
    uint8_t *fb = slurp(p, &fn);
    CHECK(m->version == 2 && kv_u(m, "llama2c.group_size") == 64, "version/group");
    CHECK(kv_u(m, "llama.embedding_length") == 64 && kv_u(m, "llama.feed_forward_length") == 192 &&
          kv_u(m, "llama.block_count") == 4 && kv_u(m, "llama.attention.head_count") == 4 &&
          kv_u(m, "llama.attention.head_count_kv") == 4 && kv_u(m, "llama.vocab_size") == 1024 &&
          kv_u(m, "llama.context_length") == 64 && kv_u(m, "llama2c.shared_classifier") == 1, "header values");
    CHECK(m->n_tensors == 1 + 9 * 4 + 1, "%zu tensors", m->n_tensors);
    /* the file's scales are not f16-exact, so matrices come out as F32 */
    const lb_tensor *emb = lb_model_find(m, "token_embd.weight");
    CHECK(emb && emb->type == LB_F32 && emb->shape[0] == 1024 && emb->shape[1] == 64, "token_embd F32");
    /* independent layout: 256-byte header, 9 norms of 64 floats, then int8 + scales */
    uint64_t at = 256 + 4 * 64 * 9;
    const struct { const char *name; uint64_t rows, cols; } order[] = { { "token_embd.weight", 1024, 64 } };
    uint64_t n = order[0].rows * order[0].cols;
    float *v = malloc(n * 4);
    rc = lb_tensor_read(m, emb, 0, v, n * 4, &err);
    CHECK(rc == 0, "read: %s", err.msg);
    size_t bad = 0;
    for (uint64_t i = 0; i < n && fb; i++) {
        float want = (float)(int8_t)fb[at + i] * lb_ldf32(fb + at + n + 4 * (i / 64));
        uint32_t a, b;
        memcpy(&a, &want, 4);
        memcpy(&b, &v[i], 4);
        if (a != b) bad++;
    }
    CHECK(bad == 0, "%zu values differ from int8 x scale", bad);
    /* an unaligned window reads the same bytes */
    uint8_t win[13];
    CHECK(lb_tensor_read(m, emb, 4093, win, sizeof win, &err) == 0 &&
          memcmp(win, (uint8_t *)v + 4093, sizeof win) == 0, "unaligned window");
    /* the last matrix: blk.3.ffn_up [192, 64] ends exactly at the end of the file */
    const lb_tensor *up = lb_model_find(m, "blk.3.ffn_up.weight");
    CHECK(up && up->shape[0] == 192 && up->shape[1] == 64, "ffn_up shape");
    if (up && fb) {
        uint64_t un = 192 * 64, qo = fn - un - un / 64 * 4;
        float last;
        CHECK(lb_tensor_read(m, up, up->nbytes - 4, &last, 4, &err) == 0, "read last");
        float want = (float)(int8_t)fb[qo + un - 1] * lb_ldf32(fb + fn - 4);
        CHECK(memcmp(&last, &want, 4) == 0, "last value %g want %g", last, want);
    }
    /* every tensor readable in full */
    for (size_t i = 0; i < m->n_tensors; i++) {
        uint8_t *b = malloc(m->tensors[i].nbytes);
        CHECK(lb_tensor_read(m, &m->tensors[i], 0, b, m->tensors[i].nbytes, &err) == 0, "read %s", m->tensors[i].name);
        free(b);
    }
    free(v);
    free(fb);
    lb_model_close(m);
    tap_end();
}

/* ---- synthetic files ----------------------------------------------------------------- */

typedef struct syn {
    int version, dim, hidden, layers, heads, kv, vocab, seq, shared, gs;
    int f16_exact;     /* v2: all scales exact in f16 */
    int bad_scale_at;  /* v2: matrix index whose first scale is made inexact (-1: none) */
} syn;

typedef struct buf { uint8_t *b; size_t n, cap; } buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->b = realloc(b->b, b->cap);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put32(buf *b, uint32_t v) { uint8_t x[4]; lb_st32(x, v); put(b, x, 4); }
static void putf(buf *b, float f) { uint8_t x[4]; lb_stf32(x, f); put(b, x, 4); }

/* f32 tensor number `id`: values id + i/1024 (exact in f32) */
static void f32_tensor(buf *b, int id, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) putf(b, (float)id + (float)(i % 1024) / 1024.0f);
}

static int8_t qval(int id, uint64_t i) { return (int8_t)((int)((i * 7 + (uint64_t)id * 13) % 255) - 127); }
static float sval(const syn *s, int id, uint64_t g)
{
    if (id == s->bad_scale_at && g == 0) return 0.1f;
    return s->f16_exact ? (float)(g % 2000 + 1) / 4096.0f : 0.1f + (float)g * 1e-3f;
}

static void q_tensor(buf *b, const syn *s, int id, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) { int8_t q = qval(id, i); put(b, &q, 1); }
    for (uint64_t g = 0; g < n / (uint64_t)s->gs; g++) putf(b, sval(s, id, g));
}

/* Matrix kinds in file order with their element counts. */
static void build(const syn *s, buf *b)
{
    uint64_t dim = (uint64_t)s->dim, hid = (uint64_t)s->hidden, L = (uint64_t)s->layers;
    uint64_t kvd = dim / (uint64_t)s->heads * (uint64_t)s->kv, voc = (uint64_t)s->vocab;
    uint64_t mats[8] = { voc * dim, dim * dim, kvd * dim, kvd * dim, dim * dim, hid * dim, dim * hid, hid * dim };
    memset(b, 0, sizeof *b);
    int32_t hv[7] = { s->dim, s->hidden, s->layers, s->heads, s->kv, s->vocab, s->seq };
    if (s->version == 0) {
        if (!s->shared) hv[5] = -hv[5];
        for (int i = 0; i < 7; i++) put32(b, (uint32_t)hv[i]);
        int id = 1;
        f32_tensor(b, id++, mats[0]);
        for (uint64_t l = 0; l < L; l++) f32_tensor(b, id++, dim);          /* rms_att */
        for (int k = 1; k <= 4; k++)
            for (uint64_t l = 0; l < L; l++) f32_tensor(b, id++, mats[k]);
        for (uint64_t l = 0; l < L; l++) f32_tensor(b, id++, dim);          /* rms_ffn */
        for (int k = 5; k <= 7; k++)
            for (uint64_t l = 0; l < L; l++) f32_tensor(b, id++, mats[k]);
        f32_tensor(b, id++, dim);
        f32_tensor(b, 999, (uint64_t)s->seq * (dim / (uint64_t)s->heads));  /* both freq tables */
        if (!s->shared) f32_tensor(b, id++, mats[0]);
        return;
    }
    put32(b, LB_LLAMA2C_MAGIC);
    put32(b, (uint32_t)s->version);
    for (int i = 0; i < 7; i++) put32(b, (uint32_t)hv[i]);
    uint8_t sh = (uint8_t)s->shared;
    put(b, &sh, 1);
    if (s->version == 2) put32(b, (uint32_t)s->gs);
    while (b->n < 256) { uint8_t z = 0; put(b, &z, 1); }
    int id = 1;
    for (uint64_t l = 0; l < 2 * L + 1; l++) f32_tensor(b, id++, dim);      /* norms */
    int mid = 0;
    for (int k = 0; k < 8; k++)
        for (uint64_t l = 0; l < (k ? L : 1); l++, mid++) {
            if (s->version == 1) f32_tensor(b, id++, mats[k]);
            else q_tensor(b, s, mid, mats[k]);
        }
    if (!s->shared) {
        if (s->version == 1) f32_tensor(b, id++, mats[0]);
        else q_tensor(b, s, mid, mats[0]);
    }
}

static const syn base = { 1, 64, 96, 2, 4, 2, 32, 8, 1, 64, 1, -1 };

static float first_f32(lb_model *m, const char *name)
{
    const lb_tensor *t = lb_model_find(m, name);
    float f = -1;
    if (t && t->type == LB_F32) lb_tensor_read(m, t, 0, &f, 4, NULL);
    return f;
}

static void test_v0_v1_synthetic(void)
{
    for (int version = 0; version <= 1; version++)
        for (int shared_cls = 0; shared_cls <= 1; shared_cls++) {
            syn s = base;
            s.version = version;
            s.shared = shared_cls;
            buf b;
            build(&s, &b);
            tap_begin("llama2c v%d synthetic, %s classifier: names, order, offsets", version,
                      shared_cls ? "shared" : "separate");
            lb_model *m = NULL;
            lb_err err;
            lb_err_clear(&err);
            int rc = lb_model_open_mem(&m, b.b, b.n, NULL, &err);   /* detection by content */
            CHECK(rc == 0, "open: %s", err.msg);
            if (!rc) {
                CHECK(m->version == (uint32_t)version && strcmp(m->format, "llama2c") == 0, "format");
                CHECK(m->n_tensors == (size_t)(2 + 9 * 2 + !shared_cls), "%zu tensors", m->n_tensors);
                /* the tag of each tensor tells where it was read from (see build) */
                int v0 = version == 0;
                CHECK(first_f32(m, "token_embd.weight") == (v0 ? 1.0f : 6.0f), "embd %g", first_f32(m, "token_embd.weight"));
                CHECK(first_f32(m, "blk.0.attn_norm.weight") == (v0 ? 2.0f : 1.0f), "attn_norm 0");
                CHECK(first_f32(m, "blk.1.attn_norm.weight") == (v0 ? 3.0f : 2.0f), "attn_norm 1");
                CHECK(first_f32(m, "blk.1.ffn_norm.weight") == (v0 ? 13.0f : 4.0f), "ffn_norm 1");
                CHECK(first_f32(m, "output_norm.weight") == (v0 ? 20.0f : 5.0f), "output_norm");
                CHECK(first_f32(m, "blk.1.attn_k.weight") == (v0 ? 7.0f : 10.0f), "attn_k 1");
                CHECK(first_f32(m, "blk.0.ffn_down.weight") == (v0 ? 16.0f : 17.0f), "ffn_down 0");
                CHECK(first_f32(m, "blk.1.ffn_up.weight") == (v0 ? 19.0f : 20.0f), "ffn_up 1");
                const lb_tensor *k = lb_model_find(m, "blk.1.attn_v.weight");
                CHECK(k && k->shape[0] == 32 && k->shape[1] == 64, "attn_v shape");
                if (!shared_cls) CHECK(first_f32(m, "output.weight") == (v0 ? 21.0f : 21.0f), "output");
                else CHECK(!lb_model_find(m, "output.weight"), "no output.weight");
            }
            lb_model_close(m);
            tap_end();
            free(b.b);
        }
}

static void test_v2_synthetic(void)
{
    syn s = base;
    s.version = 2;
    s.gs = 32;
    s.shared = 0;
    s.bad_scale_at = 2;   /* blk.1.attn_q: one scale not exact in f16 */
    buf b;
    build(&s, &b);
    tap_begin("llama2c v2 synthetic: f16-exact scales become Q8_0, equal to int8 x scale");
    lb_model *m = NULL;
    lb_err err;
    lb_err_clear(&err);
    int rc = lb_model_open_mem(&m, b.b, b.n, "llama2c", &err);
    CHECK(rc == 0, "open: %s", err.msg);
    if (!rc) {
        const lb_tensor *q = lb_model_find(m, "blk.0.ffn_down.weight");   /* matrix index 1+2*5 */
        CHECK(q && q->type == LB_Q8_0 && q->shape[0] == 64 && q->shape[1] == 96, "ffn_down Q8_0");
        const lb_tensor *f = lb_model_find(m, "blk.1.attn_q.weight");
        CHECK(f && f->type == LB_F32, "attn_q with an inexact scale stays F32");
        const lb_tensor *o = lb_model_find(m, "output.weight");
        CHECK(o && o->type == LB_Q8_0 && o->shape[0] == 32, "output Q8_0");
        const lb_tensor *nrm = lb_model_find(m, "blk.1.ffn_norm.weight");
        CHECK(nrm && nrm->type == LB_F32 && first_f32(m, "blk.1.ffn_norm.weight") == 4.0f, "norms f32");
        if (q && q->type == LB_Q8_0) {
            uint8_t *blk = malloc(q->nbytes);
            CHECK(lb_tensor_read(m, q, 0, blk, q->nbytes, &err) == 0, "read");
            size_t bad = 0;
            for (uint64_t i = 0; i < q->nelem; i++) {
                const uint8_t *bb = blk + i / 32 * 34;
                float got = lb_f16_to_f32(lb_ld16(bb)) * (float)(int8_t)bb[2 + i % 32];
                float want = (float)qval(11, i) * sval(&s, 11, i / 32);
                if (memcmp(&got, &want, 4)) bad++;
            }
            CHECK(bad == 0, "%zu values differ", bad);
            uint8_t win[50];
            CHECK(lb_tensor_read(m, q, 33, win, sizeof win, &err) == 0 && memcmp(win, blk + 33, sizeof win) == 0,
                  "unaligned window");
            free(blk);
        }
        if (f && f->type == LB_F32) {
            float v[64 * 64];
            CHECK(lb_tensor_read(m, f, 0, v, sizeof v, &err) == 0, "read");
            size_t bad = 0;
            for (uint64_t i = 0; i < 64 * 64; i++) {
                float want = (float)qval(2, i) * sval(&s, 2, i / 32);
                if (memcmp(&v[i], &want, 4)) bad++;
            }
            CHECK(bad == 0, "%zu values differ", bad);
        }
    }
    lb_model_close(m);
    free(b.b);
    tap_end();

    tap_begin("llama2c v2 synthetic: group 64 with f16-exact scales and 96-wide rows");
    s.gs = 64;
    s.bad_scale_at = -1;
    build(&s, &b);
    rc = lb_model_open_mem(&m, b.b, b.n, "llama2c", &err);
    CHECK(rc == 0, "open: %s", err.msg);
    if (!rc) {
        const lb_tensor *t = lb_model_find(m, "blk.0.ffn_down.weight");
        CHECK(t && t->type == LB_Q8_0, "ffn_down [64, 96] group 64: Q8_0");
        t = lb_model_find(m, "blk.0.ffn_up.weight");
        CHECK(t && t->type == LB_Q8_0, "ffn_up Q8_0");
    }
    lb_model_close(m);
    free(b.b);
    tap_end();
}

/* ---- malformed ----------------------------------------------------------------------- */

static void expect_fail(const char *name, const uint8_t *b, size_t n, const char *fmt, const char *want)
{
    tap_begin("llama2c malformed: %s", name);
    lb_model *m = NULL;
    lb_err err;
    lb_err_clear(&err);
    int rc = lb_model_open_mem(&m, b, n, fmt, &err);
    CHECK(rc == LB_EFORMAT, "rc %d (%s)", rc, err.msg);
    CHECK(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
    CHECK(err.offset != LB_NO_OFFSET, "no offset in '%s'", err.msg);
    CHECK(m == NULL, "model returned");
    lb_model_close(m);
    tap_end();
}

static void test_malformed(void)
{
    buf b;
    syn s = base;
    s.version = 0;
    build(&s, &b);
    expect_fail("v0 truncated by one byte", b.b, b.n - 1, "llama2c", "truncated llama2c v0");
    expect_fail("v0 cut inside the RoPE tables", b.b, b.n - 4, "llama2c", "'freq_cis' at");
    expect_fail("v0 header only", b.b, 20, "llama2c", "truncated llama2c header");
    lb_st32(b.b + 8, 0);
    expect_fail("v0 n_layers zero", b.b, b.n, "llama2c", "n_layers is 0");
    lb_st32(b.b + 8, 2);
    lb_st32(b.b, (uint32_t)-64);
    expect_fail("v0 negative dim", b.b, b.n, "llama2c", "dim is -64");
    lb_st32(b.b, 64);
    lb_st32(b.b + 12, 5);
    expect_fail("v0 heads not dividing dim", b.b, b.n, "llama2c", "does not divide dim");
    lb_st32(b.b + 12, 4);
    lb_st32(b.b + 16, 3);
    expect_fail("v0 kv heads not dividing heads", b.b, b.n, "llama2c", "does not divide n_heads");
    lb_st32(b.b + 16, 2);
    lb_st32(b.b + 20, (uint32_t)-32);
    expect_fail("v0 classifier flag contradicts size", b.b, b.n, "llama2c", "matches a shared one");
    lb_st32(b.b + 20, 32);
    lb_st32(b.b + 4, 0x7fffffff);
    lb_st32(b.b, 0x7fffffc0);
    expect_fail("v0 sizes overflow (huge dims)", b.b, b.n, "llama2c", "overflow");
    {
        lb_model *m = NULL;
        CHECK(lb_model_open_mem(&m, b.b, b.n, NULL, NULL) != 0, "implausible v0 detected");
        lb_model_close(m);
    }
    lb_st32(b.b, 64);
    lb_st32(b.b + 4, 96);
    b.b = realloc(b.b, b.n + 8);
    memset(b.b + b.n, 0, 8);
    expect_fail("v0 bytes left over", b.b, b.n + 8, "llama2c", "bytes left over");
    free(b.b);

    s = base;
    s.version = 2;
    s.gs = 32;
    build(&s, &b);
    lb_st32(b.b + 37, 0);
    expect_fail("v2 group_size 0", b.b, b.n, "llama2c", "group_size is 0");
    lb_st32(b.b + 37, 48);
    expect_fail("v2 group_size not dividing dim", b.b, b.n, "llama2c", "group_size 48 does not divide dim 64");
    lb_st32(b.b + 37, 32);
    expect_fail("v2 scale section truncated", b.b, b.n - 4, "llama2c", "truncated llama2c v2");
    expect_fail("v2 truncated names the tensor cut", b.b, b.n - 4, "llama2c", "'blk.1.ffn_up.weight' at 66048");
    expect_fail("v2 cut in the norms", b.b, 300, "llama2c", "'blk.0.attn_norm.weight' at 256 does not fit");
    b.b[36] = 7;
    expect_fail("v2 shared flag not 0/1", b.b, b.n, "llama2c", "shared_classifier flag is 7");
    b.b[36] = 1;
    lb_st32(b.b + 4, 3);
    expect_fail("magic with version 3", b.b, b.n, "llama2c", "version 3 is not supported");
    expect_fail("v2 header truncated", b.b, 100, "llama2c", "version 3");
    lb_st32(b.b + 4, 2);
    expect_fail("v2 header cut at 100 bytes", b.b, 100, "llama2c", "truncated llama2c header");
    free(b.b);
}

/* ---- tokenizer.bin ------------------------------------------------------------------- */

static void tok_case(const char *file, uint32_t vocab, uint32_t want_n, uint32_t want_max,
                     const char *t0, const char *t1, const char *t2)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/models/llama2c/%s", shared, file);
    tap_begin("llama2c tokenizer %s (vocab %s)", file, vocab ? "given" : "until EOF");
    lb_llama2c_tokenizer *t = NULL;
    lb_err err;
    lb_err_clear(&err);
    int rc = lb_llama2c_tokenizer_load(&t, p, vocab, &err);
    CHECK(rc == 0, "load: %s", err.msg);
    if (!rc) {
        CHECK(t->n_tokens == want_n, "%u tokens", t->n_tokens);
        CHECK(t->max_token_length == want_max, "max %u", t->max_token_length);
        CHECK(strcmp(t->tokens[0], t0) == 0 && strcmp(t->tokens[1], t1) == 0 && strcmp(t->tokens[2], t2) == 0,
              "tokens 0..2: '%s' '%s' '%s'", t->tokens[0], t->tokens[1], t->tokens[2]);
        uint32_t longest = 0;
        for (uint32_t i = 0; i < t->n_tokens; i++) if (t->len[i] > longest) longest = t->len[i];
        CHECK(longest == want_max, "longest token %u", longest);
        CHECK(t->len[0] == strlen(t0) && t->scores[0] == 0.0f, "len/score of token 0");
    }
    lb_llama2c_tokenizer_free(t);
    tap_end();
}

static void tok_fail(const char *name, const uint8_t *b, size_t n, uint32_t vocab, const char *want)
{
    tap_begin("llama2c tokenizer malformed: %s", name);
    lb_src *s;
    lb_err err;
    lb_err_clear(&err);
    lb_src_mem(&s, b, n, "tok", &err);
    lb_llama2c_tokenizer *t = NULL;
    int rc = lb_llama2c_tokenizer_read(&t, s, vocab, &err);
    CHECK(rc == LB_EFORMAT && !t, "rc %d", rc);
    CHECK(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
    CHECK(err.offset != LB_NO_OFFSET, "no offset");
    lb_src_close(s);
    tap_end();
}

static void test_tokenizers(void)
{
    if (shared) {
        tok_case("tokenizer.bin", 32000, 32000, 27, "<unk>", "\n<s>\n", "\n</s>\n");
        tok_case("tokenizer.bin", 0, 32000, 27, "<unk>", "\n<s>\n", "\n</s>\n");
        tok_case("pr468-tok1024.bin", 0, 1024, 10, "<unk>", "\n<s>\n", "\n</s>\n");
        tok_case("utdnd-tok512.bin", 512, 512, 11, "<unk>", "<s>", "</s>");
    }
    buf b = { 0 };
    put32(&b, 4);
    putf(&b, 0.5f); put32(&b, 2); put(&b, "ab", 2);
    putf(&b, -1.0f); put32(&b, 4); put(&b, "wxyz", 4);
    tap_begin("llama2c tokenizer synthetic: two tokens");
    lb_src *s;
    lb_llama2c_tokenizer *t = NULL;
    lb_src_mem(&s, b.b, b.n, "tok", NULL);
    CHECK(lb_llama2c_tokenizer_read(&t, s, 0, NULL) == 0 && t->n_tokens == 2 &&
          strcmp(t->tokens[1], "wxyz") == 0 && t->scores[1] == -1.0f, "parse");
    lb_llama2c_tokenizer_free(t);
    lb_src_close(s);
    tap_end();
    tok_fail("length past EOF", b.b, b.n - 1, 0, "runs past the end of the file");
    tok_fail("fewer tokens than vocab", b.b, b.n, 3, "need at least");
    tok_fail("bytes after vocab tokens", b.b, b.n, 1, "bytes after the last of 1 tokens");
    lb_st32(b.b + 8, 5);
    tok_fail("length > max_token_length", b.b, b.n, 0, "length 5 is not within 0..4");
    lb_st32(b.b + 8, (uint32_t)-1);
    tok_fail("negative length", b.b, b.n, 0, "length -1");
    lb_st32(b.b + 8, 2);
    lb_st32(b.b, 0);
    tok_fail("max_token_length 0", b.b, b.n, 0, "max_token_length is 0");
    free(b.b);
}

int main(void)
{
    shared = tap_shared();
    if (shared) {
        test_stories();
        test_pr468();
    } else {
        tap_skip("llama2c real files", "../shared not found (set LOWBIT_SHARED)");
    }
    test_v0_v1_synthetic();
    test_v2_synthetic();
    test_malformed();
    test_tokenizers();
    TAP_EXIT();
}
