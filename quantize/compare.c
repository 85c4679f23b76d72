/* compare.c: tensor-against-tensor error metrics (lb_compare.h). */
#include "lb_compare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_quant.h"

#define CHUNK_F32 (4u << 20)

int lb_same_shape(const lb_tensor *a, const lb_tensor *b)
{
    return a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof(uint64_t) * (size_t)a->ndim);
}

/* Decode both tensors chunk by chunk (whole rows) and accumulate the metrics. */
int lb_compare_tensor(lb_model *ma, const lb_tensor *a, lb_model *mb, const lb_tensor *b, lb_metrics *m, lb_err *err)
{
    uint64_t ne0 = a->ndim ? a->shape[a->ndim - 1] : 1;
    uint64_t nrows = ne0 ? a->nelem / ne0 : 0;
    const lb_type_traits *ta = lb_type_get(a->type), *tb = lb_type_get(b->type);
    size_t ra = (size_t)(ne0 / ta->blck * ta->type_size), rb = (size_t)(ne0 / tb->blck * tb->type_size);
    uint64_t rpc = CHUNK_F32 / 4 / (ne0 ? ne0 : 1);
    if (rpc < 1) rpc = 1;
    uint8_t *ba = malloc((size_t)rpc * ra + 1), *bb = malloc((size_t)rpc * rb + 1);
    float *fa = malloc((size_t)(rpc * ne0) * sizeof *fa + 4), *fb = malloc((size_t)(rpc * ne0) * sizeof *fb + 4);
    int rc = (!ba || !bb || !fa || !fb) ? lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory") : LB_OK;
    lb_metrics_init(m);
    for (uint64_t r0 = 0; !rc && r0 < nrows; r0 += rpc) {
        uint64_t n = nrows - r0 < rpc ? nrows - r0 : rpc;
        rc = lb_tensor_read(ma, a, r0 * ra, ba, (size_t)(n * ra), err);
        if (!rc) rc = lb_tensor_read(mb, b, r0 * rb, bb, (size_t)(n * rb), err);
        if (!rc) rc = lb_dequantize_any(a->type, ba, fa, (int64_t)(n * ne0), err);
        if (!rc) rc = lb_dequantize_any(b->type, bb, fb, (int64_t)(n * ne0), err);
        if (!rc) lb_metrics_add(m, fa, fb, NULL, (int64_t)(n * ne0));
    }
    free(ba); free(bb); free(fa); free(fb);
    if (rc && err && !err->item[0]) snprintf(err->item, sizeof err->item, "tensor '%.120s'", a->name);
    return rc;
}

