/* stats.c: streaming tensor statistics (lb_stats.h). */
#include "lb_stats.h"

#include <math.h>
#include <stdlib.h>

#include "lb_dtype.h"

lb_dequant_fn lb_stats_block_dequant;

void lb_stats_init(lb_stats *s)
{
    *s = (lb_stats){ 0 };
    s->min = INFINITY;
    s->max = -INFINITY;
}

void lb_stats_add(lb_stats *s, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (isnan(v)) { s->nan++; continue; }
        if (isinf(v)) { s->inf++; continue; }
        if (v == 0) s->zeros++;
        if (v < s->min) s->min = v;
        if (v > s->max) s->max = v;
        s->sum += v;
        s->sumsq += (double)v * v;
        s->count++;
    }
}

void lb_stats_finish(lb_stats *s)
{
    if (!s->count) {
        s->min = s->max = s->mean = s->std = 0;
        return;
    }
    s->mean = s->sum / (double)s->count;
    double var = s->sumsq / (double)s->count - s->mean * s->mean;
    s->std = var > 0 ? sqrt(var) : 0;
}

#define CHUNK_BYTES (4u << 20)

int lb_tensor_to_f32(lb_model *m, const lb_tensor *t,
                     int (*fn)(const float *x, size_t n, void *ctx), void *ctx, lb_err *err)
{
    const lb_type_traits *tt = lb_type_get(t->type);
    if (!tt) return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "unknown type");
    if (tt->kind == LB_KIND_BLOCK && !lb_stats_block_dequant)
        return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                           "no dequantizer for type %s", tt->name);
    /* chunks hold whole blocks */
    uint64_t per = CHUNK_BYTES / tt->type_size;
    if (!per) per = 1;
    size_t cbytes = (size_t)(per * tt->type_size);
    uint8_t *raw = malloc(cbytes);
    float *f = malloc((size_t)per * tt->blck * sizeof *f);
    int rc = (!raw || !f) ? lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory") : LB_OK;
    for (uint64_t off = 0; !rc && off < t->nbytes; off += cbytes) {
        size_t n = t->nbytes - off < cbytes ? (size_t)(t->nbytes - off) : cbytes;
        rc = lb_tensor_read(m, t, off, raw, n, err);
        if (rc) break;
        uint64_t nel = n / tt->type_size * tt->blck;
        if (tt->kind == LB_KIND_BLOCK) {
            if (lb_stats_block_dequant(t->type, raw, f, nel))
                rc = lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "cannot dequantize %s", tt->name);
        } else {
            lb_plain_to_f32(t->type, raw, f, (size_t)nel);
        }
        if (!rc) rc = fn(f, (size_t)nel, ctx);
    }
    free(raw);
    free(f);
    return rc;
}

static int stats_chunk(const float *x, size_t n, void *ctx)
{
    lb_stats_add(ctx, x, n);
    return LB_OK;
}

int lb_tensor_stats(lb_model *m, const lb_tensor *t, lb_stats *s, lb_err *err)
{
    lb_stats_init(s);
    int rc = lb_tensor_to_f32(m, t, stats_chunk, s, err);
    lb_stats_finish(s);
    return rc;
}
