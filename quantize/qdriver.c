/* qdriver.c: the row-parallel quantization driver and the decode-anything helper.
 *
 * Threads get whole rows, in contiguous ranges fixed by the row count and the thread
 * count alone, and every kernel's row bytes depend only on that row: the output is the
 * same for any nthreads, and the same as one call on all rows. */
#include <pthread.h>

#include "qimpl.h"

typedef struct job {
    const lb_qkernel *k;
    const float *src;
    uint8_t *dst;
    int64_t nrows, n_per_row;
    const float *imatrix;
    size_t written;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    j->written = j->nrows ? j->k->quantize(j->src, j->dst, j->nrows, j->n_per_row, j->imatrix) : 0;
    return NULL;
}

static int check_args(const lb_qkernel *k, int type, const float *src, const void *dst,
                      int64_t nrows, int64_t n_per_row, const float *imatrix, lb_err *err)
{
    const lb_type_traits *t = lb_type_get(type);
    const char *name = t ? t->name : "?";
    if (!k) return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "type '%s' (%d): no quantization kernel", name, type);
    if (nrows < 0 || n_per_row <= 0 || n_per_row % k->blck)
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET,
                          "type '%s': row of %lld values is not a positive multiple of the block size %u",
                          name, (long long)n_per_row, k->blck);
    uint64_t total;
    if (lb_mul64((uint64_t)nrows, (uint64_t)n_per_row, &total) || total > (uint64_t)INT64_MAX / 4)
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "type '%s': %lld rows of %lld values overflow",
                          name, (long long)nrows, (long long)n_per_row);
    if (nrows && (!src || !dst)) return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "type '%s': NULL buffer", name);
    if (k->needs_imatrix && !imatrix)
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "type '%s': needs an importance matrix", name);
    return LB_OK;
}

/* First row of part t of n: the first nrows % n parts get one row more. */
static int64_t row_start(int64_t nrows, int n, int t)
{
    int64_t q = nrows / n, r = nrows % n;
    return q * t + (t < r ? t : r);
}

int lb_quantize_rows_mt(int type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                        const float *imatrix, int nthreads, size_t *written, lb_err *err)
{
    const lb_qkernel *k = lb_qkernel_get(type);
    LB_TRY(check_args(k, type, src, dst, nrows, n_per_row, imatrix, err));
    const size_t row_bytes = lb_quant_row_size(type, n_per_row);
    enum { MAX_THREADS = 256 };
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    if (nthreads > nrows) nthreads = nrows > 0 ? (int)nrows : 1;

    job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS];
    for (int t = 0; t < nthreads; t++) {
        int64_t r0 = row_start(nrows, nthreads, t), r1 = row_start(nrows, nthreads, t + 1);
        jobs[t] = (job){ k, src + r0 * n_per_row, (uint8_t *)dst + (size_t)r0 * row_bytes,
                         r1 - r0, n_per_row, imatrix, 0 };
    }
    /* job 0 runs on the calling thread; a job whose thread cannot start runs here too */
    for (int t = 1; t < nthreads; t++) started[t] = pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0;
    run_job(&jobs[0]);
    size_t total = jobs[0].written;
    for (int t = 1; t < nthreads; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else run_job(&jobs[t]);
        total += jobs[t].written;
    }
    if (written) *written = total;
    return LB_OK;
}

int lb_dequantize_any(int type, const void *src, float *dst, int64_t n, lb_err *err)
{
    const lb_type_traits *t = lb_type_get(type);
    if (!t) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "type id %d: unknown type", type);
    if (n < 0 || (uint64_t)n % t->blck)
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "type '%s': %lld values is not a multiple of the block size %u",
                          t->name, (long long)n, t->blck);
    if (n && (!src || !dst)) return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "type '%s': NULL buffer", t->name);
    const lb_qkernel *k = lb_qkernel_get(type);
    if (k) {
        if (n) k->dequantize(src, dst, n);
        return LB_OK;
    }
    if (t->kind != LB_KIND_BLOCK && lb_plain_to_f32(type, src, dst, (size_t)n) == 0) return LB_OK;
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "type '%s': no decoder", t->name);
}
