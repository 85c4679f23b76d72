/* qrun.c: the quantization pipeline (lb_qrun.h). */
#include "lb_qrun.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_quant.h"
#include "lb_writer.h"

#include <openssl/evp.h>

/* ---- the input file's sha256, computed from the bytes the pipeline reads anyway ---- */

typedef struct srchash {
    EVP_MD_CTX *ctx;     /* NULL: not hashing */
    lb_src     *src;
    uint64_t    upto;    /* bytes of the file hashed so far */
} srchash;

/* Hash file bytes [h->upto, off) that no tensor read covers (header, padding). */
static int hash_gap(srchash *h, uint64_t off, lb_err *err)
{
    uint8_t buf[65536];
    while (h->ctx && h->upto < off) {
        size_t n = off - h->upto < sizeof buf ? (size_t)(off - h->upto) : sizeof buf;
        LB_TRY(lb_src_read(h->src, h->upto, buf, n, err));
        EVP_DigestUpdate(h->ctx, buf, n);
        h->upto += n;
    }
    return LB_OK;
}

static void hash_bytes(srchash *h, uint64_t off, const void *p, size_t n)
{
    if (!h || !h->ctx || off != h->upto) return;   /* only strictly sequential reads */
    EVP_DigestUpdate(h->ctx, p, n);
    h->upto += n;
}

/* ---- one tensor, in chunks of rows ---- */

/* Rows per chunk: chunk_bytes of f32, at least 1, at most the tensor and LB_QRUN_MAX_ROWS
 * (the per-row metrics of a chunk stay small whatever the row length). */
#define LB_QRUN_MAX_ROWS 65536
/* A worker takes its rows through decode, check, quantize, decode and metrics this many
 * values at a time (whole rows, at least one): 64 KiB of f32 in x and as much in hat. */
#define LB_QRUN_STEP_VALUES 16384
static uint64_t step_rows(uint64_t ne0) { return ne0 >= LB_QRUN_STEP_VALUES ? 1 : LB_QRUN_STEP_VALUES / ne0; }

/* Two of raw, q and rowm: the workers fill one set while the calling thread hashes,
 * writes and merges the other (the previous chunk). x and hat are the workers' alone. */
typedef struct bufs {
    uint8_t *raw[2], *q[2];
    float *x, *hat;
    lb_metrics *rowm[2];
    size_t cap_raw, cap_q, cap_f, cap_rows;
} bufs;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    free(*p);
    *p = malloc(need * elem);
    *cap = *p ? need : 0;
    return *p ? 0 : -1;
}

static int bufs_need(bufs *b, size_t raw, size_t q, size_t f, size_t rows, lb_err *err)
{
    int bad = 0;
    size_t c;
    if (raw > b->cap_raw) {
        for (int k = 0; k < 2; k++) { c = 0; bad |= grow((void **)&b->raw[k], &c, raw, 1); }
        b->cap_raw = bad ? 0 : raw;
    }
    if (q > b->cap_q) {
        for (int k = 0; k < 2; k++) { c = 0; bad |= grow((void **)&b->q[k], &c, q, 1); }
        b->cap_q = bad ? 0 : q;
    }
    if (f > b->cap_f) {
        c = 0; bad |= grow((void **)&b->x, &c, f, sizeof(float));
        c = 0; bad |= grow((void **)&b->hat, &c, f, sizeof(float));
        b->cap_f = bad ? 0 : f;
    }
    if (rows > b->cap_rows) {
        for (int k = 0; k < 2; k++) { c = 0; bad |= grow((void **)&b->rowm[k], &c, rows, sizeof(lb_metrics)); }
        b->cap_rows = bad ? 0 : rows;
    }
    if (bad) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    return LB_OK;
}

static void bufs_free(bufs *b)
{
    for (int k = 0; k < 2; k++) { free(b->raw[k]); free(b->q[k]); free(b->rowm[k]); }
    free(b->x); free(b->hat);
    memset(b, 0, sizeof *b);
}

typedef struct job {
    lb_model       *in;
    const lb_tensor *t;
    int             type;          /* output type */
    const float    *w;             /* imatrix weights: n_mat * ne0, or NULL */
    uint64_t        n_mat;         /* experts (3-D tensors), else 1 */
    int             nthreads, allow_nonfinite;
    uint64_t        chunk_bytes;
    lb_writer      *wr;            /* NULL: measure only */
    int             pwrite;        /* 1: the workers write their blocks (seekable output) */
    lb_qrun_sink    sink;          /* or: hand the output blocks to a callback */
    void           *sink_ctx;
    srchash        *hash;
    lb_metrics     *m;
    bufs           *b;
    lb_qrun_progress progress;
    void           *ctx;
    size_t          index;
} job;

static int check_finite(const job *j, const float *x, uint64_t n, uint64_t first, lb_err *err)
{
    if (j->allow_nonfinite) return LB_OK;
    /* one pass without branches, 4 values at a time (GCC/clang vectors: SSE2, NEON, or
     * scalar code where there are none); the search for the first bad value only on a hit */
    typedef uint32_t v4u __attribute__((vector_size(16)));
    typedef int32_t v4i __attribute__((vector_size(16)));
    v4i bad4 = { 0, 0, 0, 0 };
    uint64_t i4 = 0;
    for (; i4 + 4 <= n; i4 += 4) {
        v4u u;
        memcpy(&u, x + i4, sizeof u);
        bad4 |= (u & 0x7f800000u) == 0x7f800000u;
    }
    uint32_t bad = (uint32_t)(bad4[0] | bad4[1] | bad4[2] | bad4[3]);
    for (; i4 < n; i4++) {
        uint32_t u;
        memcpy(&u, &x[i4], 4);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    if (!bad) return LB_OK;
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return lb_err_item(err, LB_EFORMAT, "tensor", j->t->name, LB_NO_OFFSET,
                               "value %s at index %llu (use --allow-nonfinite to quantize anyway)",
                               isnan(x[i]) ? "NaN" : "Inf", (unsigned long long)(first + i));
    return LB_OK;
}

/* Quantize rows [r0, r0+n) of f32 x (x, q and hat point at row r0) in runs of rows that
 * share an expert (and so an imatrix row: w + e * ne0), decode the blocks back into hat.
 * The same step for writing and for the planner's measurements. */
static int quantize_rows(int type, const float *x, uint8_t *q, float *hat, uint64_t r0, uint64_t n, uint64_t ne0,
                         uint64_t rows_per_mat, const float *w, int nthreads, lb_err *err)
{
    size_t out_row = lb_quant_row_size(type, (int64_t)ne0);
    for (uint64_t a = r0; a < r0 + n;) {
        uint64_t e = a / rows_per_mat, b = (e + 1) * rows_per_mat;
        if (b > r0 + n) b = r0 + n;
        LB_TRY(lb_quantize_rows_mt(type, x + (a - r0) * ne0, q + (a - r0) * out_row, (int64_t)(b - a), (int64_t)ne0,
                                   w ? w + e * ne0 : NULL, nthreads, NULL, err));
        a = b;
    }
    return lb_dequantize_any(type, q, hat, (int64_t)(n * ne0), err);
}

/* The planner's step: a chunk's rows quantized and measured into m, row by row. */
static int quantize_chunk(int type, const float *x, uint8_t *q, float *hat, uint64_t r0, uint64_t n, uint64_t ne0,
                          uint64_t rows_per_mat, const float *w, int nthreads, lb_metrics *m, lb_err *err)
{
    LB_TRY(quantize_rows(type, x, q, hat, r0, n, ne0, rows_per_mat, w, nthreads, err));
    for (uint64_t r = 0; r < n; r++)
        lb_metrics_add(m, x + r * ne0, hat + r * ne0, w ? w + ((r0 + r) / rows_per_mat) * ne0 : NULL, (int64_t)ne0);
    return LB_OK;
}

/* One worker's share of a chunk: rows [a, b) of the tensor, chunk starting at row c0.
 * Everything that scales with the data happens here: read (when the source allows
 * concurrent reads), decode, the finiteness check, quantize, decode again, and each row's
 * metrics, kept per row so that merging them in row order gives the same sums for any
 * number of workers. */
typedef struct share {
    const job *j;
    int        slot;            /* which of the double buffers */
    int        reads;           /* 1: read the input rows here */
    uint64_t   c0, a, b;        /* tensor rows */
    uint64_t   out_off;         /* file offset of row c0's blocks (pwrite mode) */
    int        rc;
    lb_err     err;
} share;

static void *run_share(void *arg)
{
    share *s = arg;
    const job *j = s->j;
    const lb_tensor *t = j->t;
    const lb_type_traits *it = lb_type_get(t->type);
    uint64_t ne0 = t->shape[t->ndim - 1], nrows = t->nelem / ne0;
    uint64_t rows_per_mat = j->n_mat ? nrows / j->n_mat : nrows;
    size_t in_row = (size_t)(ne0 / it->blck * it->type_size), out_row = lb_quant_row_size(j->type, (int64_t)ne0);
    uint64_t n = s->b - s->a, k = s->a - s->c0;
    uint8_t *raw = j->b->raw[s->slot] + k * in_row, *q = j->b->q[s->slot] + k * out_row;
    float *x = j->b->x + k * ne0, *hat = j->b->hat + k * ne0;
    lb_metrics *rm = j->b->rowm[s->slot] + k;
    lb_err_clear(&s->err);
    s->rc = LB_OK;
    if (!n) return NULL;
    if (s->reads && (s->rc = lb_tensor_read(j->in, t, s->a * in_row, raw, (size_t)(n * in_row), &s->err))) return NULL;
    /* a few rows at a time through every step, in the same x and hat (they stay in cache) */
    uint64_t step = step_rows(ne0);
    for (uint64_t r = 0; r < n; r += step) {
        uint64_t m = n - r < step ? n - r : step;
        if ((s->rc = lb_dequantize_any(t->type, raw + r * in_row, x, (int64_t)(m * ne0), &s->err))) return NULL;
        if ((s->rc = check_finite(j, x, m * ne0, (s->a + r) * ne0, &s->err))) return NULL;
        if ((s->rc = quantize_rows(j->type, x, q + r * out_row, hat, s->a + r, m, ne0, rows_per_mat, j->w, 1, &s->err)))
            return NULL;
        for (uint64_t i = 0; i < m; i++) {
            lb_metrics_init(&rm[r + i]);
            lb_metrics_add(&rm[r + i], x + i * ne0, hat + i * ne0,
                           j->w ? j->w + ((s->a + r + i) / rows_per_mat) * ne0 : NULL, (int64_t)ne0);
        }
    }
    if (j->pwrite) s->rc = lb_writer_pwrite(j->wr, s->out_off + k * out_row, q, (size_t)(n * out_row), &s->err);
    return NULL;
}

/* First row of part p of np over n rows: the first n % np parts get one row more. */
static uint64_t part_start(uint64_t n, uint64_t np, uint64_t p)
{
    uint64_t q = n / np, r = n % np;
    return q * p + (p < r ? p : r);
}

/* Start chunk [c0, c0+n) on nt workers (the last one may be the calling thread: tid[i]
 * is 0 where no thread was started, and such a share runs in join_chunk). */
enum { MAX_WORKERS = 256 };
typedef struct crew { share sh[MAX_WORKERS]; pthread_t tid[MAX_WORKERS]; int started[MAX_WORKERS]; int n; } crew;

static void start_chunk(crew *c, const job *j, int slot, int reads, uint64_t c0, uint64_t n, uint64_t out_off)
{
    int nt = j->nthreads < 1 ? 1 : j->nthreads > MAX_WORKERS ? MAX_WORKERS : j->nthreads;
    if ((uint64_t)nt > n) nt = (int)n;
    c->n = nt;
    for (int p = 0; p < nt; p++) {
        share *s = &c->sh[p];
        s->j = j; s->slot = slot; s->reads = reads; s->c0 = c0; s->out_off = out_off;
        s->a = c0 + part_start(n, (uint64_t)nt, (uint64_t)p);
        s->b = c0 + part_start(n, (uint64_t)nt, (uint64_t)p + 1);
        c->started[p] = nt > 1 && pthread_create(&c->tid[p], NULL, run_share, s) == 0;
    }
}

/* Wait for the chunk; the first failing share (in row order) gives the error. */
static int join_chunk(crew *c, lb_err *err)
{
    int rc = LB_OK;
    for (int p = 0; p < c->n; p++) {
        if (c->started[p]) pthread_join(c->tid[p], NULL);
        else run_share(&c->sh[p]);
    }
    for (int p = 0; p < c->n && !rc; p++)
        if ((rc = c->sh[p].rc) && err) *err = c->sh[p].err;
    c->n = 0;
    return rc;
}

/* The calling thread's part of a finished chunk: hash its input bytes, merge its rows'
 * metrics in order, hand its blocks to the writer or sink, report progress. */
static int finish_chunk(job *j, int slot, uint64_t c0, uint64_t n, size_t in_row, size_t out_row, lb_err *err)
{
    hash_bytes(j->hash, j->t->offset + c0 * in_row, j->b->raw[slot], (size_t)(n * in_row));
    for (uint64_t r = 0; r < n; r++) lb_metrics_merge(j->m, &j->b->rowm[slot][r]);
    if (j->wr && !j->pwrite) LB_TRY(lb_writer_data(j->wr, j->b->q[slot], (size_t)(n * out_row), err));
    if (j->sink) LB_TRY(j->sink(j->sink_ctx, j->b->q[slot], (size_t)(n * out_row), c0 * out_row, err));
    if (j->progress) j->progress(j->index, n * in_row, j->ctx);
    return LB_OK;
}

/* Chunk k is computed by the workers while the calling thread finishes chunk k-1, so
 * hashing and writing overlap the quantization. Sources that cannot be read from several
 * threads at once (archive members, deflated storages: ops->read) are read here, before
 * the chunk starts. */
static int run_tensor(job *j, lb_err *err)
{
    const lb_tensor *t = j->t;
    const lb_type_traits *it = lb_type_get(t->type);
    uint64_t ne0 = t->ndim ? t->shape[t->ndim - 1] : 1;
    uint64_t nrows = ne0 ? t->nelem / ne0 : 0;
    size_t in_row = (size_t)(ne0 / it->blck * it->type_size);
    size_t out_row = lb_quant_row_size(j->type, (int64_t)ne0);
    if (!out_row)
        return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                           "no kernel for %s rows of %llu", lb_type_get(j->type) ? lb_type_get(j->type)->name : "?",
                           (unsigned long long)ne0);
    if (!nrows) return LB_OK;
    uint64_t rpc = j->chunk_bytes / (ne0 * sizeof(float));
    if (rpc < 1) rpc = 1;
    if (rpc > LB_QRUN_MAX_ROWS) rpc = LB_QRUN_MAX_ROWS;
    if (rpc > nrows) rpc = nrows;
    LB_TRY(bufs_need(j->b, (size_t)rpc * in_row, (size_t)rpc * out_row, (size_t)(rpc * ne0), (size_t)rpc, err));
    int concurrent_reads = !(j->in->ops && j->in->ops->read);
    crew *c = calloc(1, sizeof *c);
    if (!c) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    int rc = LB_OK, slot = 0, have_prev = 0;
    uint64_t prev0 = 0, prevn = 0;
    for (uint64_t r0 = 0; !rc && r0 < nrows; r0 += rpc) {
        uint64_t n = nrows - r0 < rpc ? nrows - r0 : rpc;
        if (!concurrent_reads) rc = lb_tensor_read(j->in, t, r0 * in_row, j->b->raw[slot], (size_t)(n * in_row), err);
        if (rc) break;
        uint64_t out_off = 0;
        if (j->pwrite && (rc = lb_writer_reserve(j->wr, (size_t)(n * out_row), &out_off, err))) break;
        start_chunk(c, j, slot, concurrent_reads, r0, n, out_off);
        if (have_prev) rc = finish_chunk(j, slot ^ 1, prev0, prevn, in_row, out_row, err);
        lb_err werr;
        int wrc = join_chunk(c, &werr);
        if (!rc && wrc) { rc = wrc; if (err) *err = werr; }
        have_prev = 1; prev0 = r0; prevn = n; slot ^= 1;
    }
    if (!rc && have_prev) rc = finish_chunk(j, slot ^ 1, prev0, prevn, in_row, out_row, err);
    free(c);
    return rc;
}

/* ---- rows already in f32 (lowbit-convert) ---- */

typedef struct rows_share {
    int type;
    const float *x, *w;
    uint8_t *q;
    uint64_t a, b, ne0;
    lb_metrics *rowm;          /* NULL: no metrics */
    lb_writer *wr;
    uint64_t off;
    int rc;
    lb_err err;
} rows_share;

static void *run_rows_share(void *arg)
{
    rows_share *s = arg;
    lb_err_clear(&s->err);
    s->rc = LB_OK;
    uint64_t n = s->b - s->a, ne0 = s->ne0;
    if (!n) return NULL;
    size_t out_row = lb_quant_row_size(s->type, (int64_t)ne0);
    const float *x = s->x + s->a * ne0;
    uint8_t *q = s->q + s->a * out_row;
    if ((s->rc = lb_quantize_rows_mt(s->type, x, q, (int64_t)n, (int64_t)ne0, s->w, 1, NULL, &s->err))) return NULL;
    if (s->rowm) {
        uint64_t step = step_rows(ne0);
        float *hat = malloc((size_t)((step < n ? step : n) * ne0) * sizeof *hat);
        if (!hat) { s->rc = lb_err_set(&s->err, LB_EIO, LB_NO_OFFSET, "out of memory"); return NULL; }
        for (uint64_t r = 0; !s->rc && r < n; r += step) {
            uint64_t m = n - r < step ? n - r : step;
            s->rc = lb_dequantize_any(s->type, q + r * out_row, hat, (int64_t)(m * ne0), &s->err);
            for (uint64_t i = 0; !s->rc && i < m; i++) {
                lb_metrics_init(&s->rowm[s->a + r + i]);
                lb_metrics_add(&s->rowm[s->a + r + i], x + (r + i) * ne0, hat + i * ne0, NULL, (int64_t)ne0);
            }
        }
        free(hat);
    }
    if (!s->rc && s->wr) s->rc = lb_writer_pwrite(s->wr, s->off + s->a * out_row, q, (size_t)(n * out_row), &s->err);
    return NULL;
}

int lb_qrun_rows(int type, const float *x, uint8_t *q, uint64_t nrows, uint64_t ne0, const float *imatrix,
                 int nthreads, lb_metrics *m, lb_writer *wr, uint64_t off, lb_err *err)
{
    int nt = nthreads < 1 ? 1 : nthreads > MAX_WORKERS ? MAX_WORKERS : nthreads;
    if ((uint64_t)nt > nrows) nt = nrows ? (int)nrows : 1;
    lb_metrics *rowm = m && nrows ? malloc((size_t)nrows * sizeof *rowm) : NULL;
    rows_share *sh = calloc((size_t)nt, sizeof *sh);
    pthread_t *tid = calloc((size_t)nt, sizeof *tid);
    int *started = calloc((size_t)nt, sizeof *started);
    if ((m && nrows && !rowm) || !sh || !tid || !started) {
        free(rowm); free(sh); free(tid); free(started);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    for (int p = 0; p < nt; p++) {
        sh[p] = (rows_share){ type, x, imatrix, q, part_start(nrows, (uint64_t)nt, (uint64_t)p),
                              part_start(nrows, (uint64_t)nt, (uint64_t)p + 1), ne0, rowm, wr, off, 0, { 0 } };
        started[p] = p > 0 && pthread_create(&tid[p], NULL, run_rows_share, &sh[p]) == 0;
    }
    for (int p = 0; p < nt; p++) {
        if (started[p]) pthread_join(tid[p], NULL);
        else run_rows_share(&sh[p]);
    }
    int rc = LB_OK;
    for (int p = 0; p < nt && !rc; p++)
        if ((rc = sh[p].rc) && err) *err = sh[p].err;
    for (uint64_t r = 0; !rc && rowm && r < nrows; r++) lb_metrics_merge(m, &rowm[r]);
    free(rowm); free(sh); free(tid); free(started);
    return rc;
}

/* A tensor kept as it is: raw bytes through. */
static int copy_tensor(job *j, lb_err *err)
{
    const lb_tensor *t = j->t;
    LB_TRY(bufs_need(j->b, (size_t)j->chunk_bytes, 1, 1, 1, err));
    for (uint64_t off = 0; off < t->nbytes; off += j->chunk_bytes) {
        size_t n = t->nbytes - off < j->chunk_bytes ? (size_t)(t->nbytes - off) : (size_t)j->chunk_bytes;
        LB_TRY(lb_tensor_read(j->in, t, off, j->b->raw[0], n, err));
        hash_bytes(j->hash, t->offset + off, j->b->raw[0], n);
        LB_TRY(lb_writer_data(j->wr, j->b->raw[0], n, err));
        if (j->progress) j->progress(j->index, n, j->ctx);
    }
    return LB_OK;
}

static uint64_t n_mat_of(const lb_tensor *t)
{
    return t->ndim >= 3 ? t->shape[t->ndim - 3] : 1;
}

static int weights_for(const lb_imatrix *im, const lb_tensor *t, const float **w, lb_err *err)
{
    *w = NULL;
    if (!im) return LB_OK;
    uint64_t ne0 = t->shape[t->ndim - 1];
    return lb_imatrix_weights_for(im, t->name, ne0, n_mat_of(t), w, err);
}

int lb_qrun_tensor(lb_model *in, const lb_tensor *t, int type, const lb_imatrix *im, int nthreads,
                   lb_qrun_sink sink, void *ctx, lb_metrics *m, lb_err *err)
{
    bufs b = { 0 };
    job j = { 0 };
    j.in = in; j.t = t; j.type = type; j.n_mat = n_mat_of(t); j.nthreads = nthreads;
    j.allow_nonfinite = 1; j.chunk_bytes = LB_QRUN_CHUNK_DEFAULT;
    j.m = m; j.b = &b; j.sink = sink; j.sink_ctx = ctx;
    lb_metrics_init(m);
    int rc = weights_for(im, t, &j.w, err);
    if (!rc) rc = run_tensor(&j, err);
    bufs_free(&b);
    return rc;
}

int lb_qrun_measure(lb_model *in, const lb_tensor *t, int type, const lb_imatrix *im, int nthreads,
                    uint64_t chunk_bytes, lb_metrics *m, lb_err *err)
{
    return lb_qrun_measure_types(in, t, &type, 1, im, nthreads, chunk_bytes, m, err);
}

/* The planner's pass: read the tensor once, chunk by chunk, and quantize every chunk to
 * each candidate type, accumulating each type's metrics. */
int lb_qrun_measure_types(lb_model *in, const lb_tensor *t, const int *types, size_t ntypes,
                          const lb_imatrix *im, int nthreads, uint64_t chunk_bytes, lb_metrics *m,
                          lb_err *err)
{
    const lb_type_traits *it = lb_type_get(t->type);
    uint64_t ne0 = t->ndim ? t->shape[t->ndim - 1] : 1;
    uint64_t nrows = ne0 ? t->nelem / ne0 : 0, n_mat = n_mat_of(t);
    uint64_t rows_per_mat = n_mat ? nrows / n_mat : nrows;
    size_t in_row = (size_t)(ne0 / it->blck * it->type_size), out_row = 0;
    for (size_t k = 0; k < ntypes; k++) {
        size_t r = lb_quant_row_size(types[k], (int64_t)ne0);
        if (!r) return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "no kernel for type %d", types[k]);
        if (r > out_row) out_row = r;
        lb_metrics_init(&m[k]);
    }
    const float *w = NULL;
    LB_TRY(weights_for(im, t, &w, err));
    if (!chunk_bytes) chunk_bytes = LB_QRUN_CHUNK_DEFAULT;
    uint64_t rpc = chunk_bytes / (ne0 * sizeof(float));
    if (rpc < 1) rpc = 1;
    if (rpc > nrows) rpc = nrows;
    bufs b = { 0 };
    int rc = bufs_need(&b, (size_t)rpc * in_row, (size_t)rpc * out_row, (size_t)(rpc * ne0), 1, err);
    for (uint64_t r0 = 0; !rc && r0 < nrows; r0 += rpc) {
        uint64_t n = nrows - r0 < rpc ? nrows - r0 : rpc;
        rc = lb_tensor_read(in, t, r0 * in_row, b.raw[0], (size_t)(n * in_row), err);
        if (!rc) rc = lb_dequantize_any(t->type, b.raw[0], b.x, (int64_t)(n * ne0), err);
        for (size_t k = 0; !rc && k < ntypes; k++)
            rc = quantize_chunk(types[k], b.x, b.q[0], b.hat, r0, n, ne0, rows_per_mat, w, nthreads, &m[k], err);
    }
    bufs_free(&b);
    return rc;
}

/* ---- output metadata ---- */

typedef struct kvset { lb_kv *kv; size_t n; } kvset;   /* values borrowed */

static void kv_put(kvset *s, const char *key, lb_value v)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0) {
            s->kv[i].val = v;
            return;
        }
    s->kv[s->n].key = (char *)key;
    s->kv[s->n].val = v;
    s->n++;
}

static lb_value v_u32(uint32_t x) { lb_value v = { .type = LB_V_U32 }; v.v.u = x; return v; }
static lb_value v_str(const char *s) { lb_value v = { .type = LB_V_STR, .n = strlen(s) }; v.v.s = (char *)s; return v; }

static int sorted_by_offset(const lb_model *m)
{
    for (size_t i = 1; i < m->n_tensors; i++)
        if (m->tensors[i].offset < m->tensors[i - 1].offset + m->tensors[i - 1].nbytes) return 0;
    return 1;
}

int lb_qrun(lb_model *in, const lb_mix_result *plan, lb_out *out, const lb_qrun_opts *o,
            lb_qreport *rep, lb_qrun_progress progress, void *ctx, lb_err *err)
{
    static const char zeros64[] = "0000000000000000000000000000000000000000000000000000000000000000";
    kvset kv = { 0 };
    kv.kv = calloc(in->n_kv + 8, sizeof *kv.kv);
    lb_wtensor *wt = calloc(in->n_tensors + 1, sizeof *wt);
    if (!kv.kv || !wt) { free(kv.kv); free(wt); return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }
    for (size_t i = 0; i < in->n_kv; i++) kv.kv[kv.n++] = in->kv[i];   /* borrowed */
    kv_put(&kv, "general.quantization_version", v_u32(2));
    kv_put(&kv, "general.file_type", v_u32((uint32_t)o->ftype));
    if (o->version) kv_put(&kv, "lowbit.version", v_str(o->version));
    if (o->recipe) kv_put(&kv, "lowbit.recipe", v_str(o->recipe));
    if (o->imatrix_sha256) kv_put(&kv, "lowbit.imatrix.sha256", v_str(o->imatrix_sha256));
    srchash hash = { 0 };
    int want_hash = o->source_sha256 && lb_out_seekable(out) && in->n_files == 1 && !(in->ops && in->ops->read) &&
                    sorted_by_offset(in);
    if (want_hash) {
        kv_put(&kv, LB_SOURCE_SHA_KEY, v_str(zeros64));   /* patched at the end */
        hash.ctx = EVP_MD_CTX_new();
        hash.src = in->files[0].src;
        if (!hash.ctx || !EVP_DigestInit_ex(hash.ctx, EVP_sha256(), NULL)) want_hash = 0;
    }
    for (size_t i = 0; i < in->n_tensors; i++) {
        const lb_tensor *t = &in->tensors[i];
        wt[i].name = t->name;
        wt[i].type = plan->t[i].type;
        wt[i].ndim = t->ndim;
        memcpy(wt[i].shape, t->shape, sizeof t->shape);
    }
    lb_writer *w = NULL;
    int rc = lb_writer_begin(&w, &lb_gguf_writer_ops, out, kv.kv, kv.n, wt, in->n_tensors, err);
    uint64_t sha_at = 0;
    if (!rc && want_hash)
        for (size_t i = 0; i < kv.n; i++)
            if (strcmp(kv.kv[i].key, LB_SOURCE_SHA_KEY) == 0) sha_at = w->kv_value_offset[i] + 8;
    bufs b = { 0 };
    for (size_t i = 0; !rc && i < in->n_tensors; i++) {
        const lb_tensor *t = &in->tensors[i];
        job j = { 0 };
        j.in = in; j.t = t; j.type = plan->t[i].type; j.n_mat = n_mat_of(t);
        j.nthreads = o->nthreads; j.allow_nonfinite = o->allow_nonfinite;
        j.chunk_bytes = o->chunk_bytes ? o->chunk_bytes : LB_QRUN_CHUNK_DEFAULT;
        j.wr = w; j.pwrite = lb_out_seekable(out); j.hash = want_hash ? &hash : NULL; j.m = &rep[i].m; j.b = &b;
        j.progress = progress; j.ctx = ctx; j.index = i;
        rep[i].name = t->name;
        rep[i].ndim = t->ndim;
        memcpy(rep[i].shape, t->shape, sizeof t->shape);
        rep[i].nelem = t->nelem;
        rep[i].in_bytes = t->nbytes;
        rep[i].in_type = t->type;
        rep[i].out_type = j.type;
        rep[i].converted = j.type != t->type;
        rep[i].offset = w->data_start + w->offset[i];
        rep[i].bytes = w->nbytes[i];
        lb_metrics_init(&rep[i].m);
        if (want_hash) rc = hash_gap(&hash, t->offset, err);
        if (!rc && rep[i].converted) {
            rc = weights_for(o->imatrix, t, &j.w, err);
            if (!rc) rc = run_tensor(&j, err);
        } else if (!rc) {
            rc = copy_tensor(&j, err);
        }
        lb_src_done(in->files[t->file].src, t->offset, t->nbytes);
    }
    bufs_free(&b);
    if (!rc) {
        rc = lb_writer_end(w, err);
        w = NULL;
    }
    if (!rc && want_hash) {
        char hex[65];
        unsigned char d[32];
        rc = hash_gap(&hash, lb_src_size(hash.src), err);
        EVP_DigestFinal_ex(hash.ctx, d, NULL);
        for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
        if (!rc) rc = lb_out_patch(out, sha_at, hex, 64, err);
    }
    lb_writer_abort(w);
    EVP_MD_CTX_free(hash.ctx);
    free(kv.kv);
    free(wt);
    return rc;
}
