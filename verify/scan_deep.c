/* scan_deep.c: value checks of `scan --deep`, through the strict reader.
 *
 * Every float tensor (f32, f16, bf16, f64, fp8) is streamed through f32 in bounded chunks
 * (lb_tensor_to_f32) and checked for:
 *   NAN_VALUES / INF_VALUES  error: any NaN or +-Inf (offset: the first one)
 *   ALL_ZERO                 warning for a matrix (2+ dims), info for a vector (zero
 *                            biases are normal at initialization)
 *   CONSTANT                 same severities: every value equal, not zero (norm weights
 *                            start at 1.0)
 *   ABSURD_MAGNITUDE         warning: |x| > LB_SCAN_ABSURD (1e4); trained weights sit
 *                            well below 10, norm gains below a few hundred
 * Block-quantized tensors are decoded through lb_stats_block_dequant (the tool sets it to
 * the quantize/ kernels); types without a kernel are listed in one info finding. Integer
 * tensors are not checked (ids, masks, counters). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_model.h"
#include "lb_quant.h"
#include "lb_scan.h"
#include "lb_stats.h"

typedef struct deep_acc {
    uint64_t seen, nan, inf, zero, big;
    uint64_t first_nan, first_inf, first_big;   /* element index */
    float    first, maxabs;
    int      constant;
} deep_acc;

static int deep_chunk(const float *x, size_t n, void *ctx)
{
    deep_acc *a = ctx;
    for (size_t i = 0; i < n; i++, a->seen++) {
        float v = x[i];
        if (a->seen == 0) a->first = v;
        else if (!(v == a->first)) a->constant = 0;
        if (isnan(v)) { if (!a->nan++) a->first_nan = a->seen; continue; }
        if (isinf(v)) { if (!a->inf++) a->first_inf = a->seen; continue; }
        if (v == 0) a->zero++;
        float m = fabsf(v);
        if (m > a->maxabs) a->maxabs = m;
        if (m > LB_SCAN_ABSURD && !a->big++) a->first_big = a->seen;
    }
    return LB_OK;
}

/* Byte offset of element i (block types: of the block holding it). */
static uint64_t elem_off(const lb_tensor *t, const lb_type_traits *tt, uint64_t i)
{
    return t->offset + i / tt->blck * tt->type_size;
}

#define CHUNK (4u << 20)

void lb_scan_deep_values(lb_scan_file *r, const char *name, int type, int ndim, uint64_t nelem, uint64_t offset,
                         lb_deep_read rd, void *ctx)
{
    const lb_type_traits *tt = lb_type_get(type);
    if (!tt || nelem % tt->blck || (tt->kind == LB_KIND_BLOCK && !lb_stats_block_dequant)) return;
    deep_acc a;
    memset(&a, 0, sizeof a);
    a.constant = 1;
    lb_err err;
    lb_err_clear(&err);
    /* chunks of whole blocks */
    uint64_t per = CHUNK / tt->type_size ? CHUNK / tt->type_size : 1, nblk = nelem / tt->blck;
    uint8_t *raw = malloc((size_t)(per * tt->type_size));
    float *f = malloc((size_t)(per * tt->blck) * sizeof *f);
    int rc = !raw || !f ? -1 : 0;
    for (uint64_t b = 0; !rc && b < nblk; b += per) {
        uint64_t k = nblk - b < per ? nblk - b : per;
        rc = rd(ctx, b * tt->type_size, raw, (size_t)(k * tt->type_size), &err);
        if (rc) break;
        if (tt->kind == LB_KIND_BLOCK) rc = lb_stats_block_dequant(type, raw, f, k * tt->blck);
        else rc = lb_plain_to_f32(type, raw, f, (size_t)(k * tt->blck));
        if (rc) { snprintf(err.msg, sizeof err.msg, "cannot decode %s", tt->name); break; }
        deep_chunk(f, (size_t)(k * tt->blck), &a);
    }
    free(raw);
    free(f);
    if (rc) {
        lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "tensor", name, offset, "cannot read its data: %s",
                     raw && f ? err.msg : "out of memory");
        return;
    }
    unsigned long long n = (unsigned long long)nelem;
    lb_tensor t = { .offset = offset };
    if (a.nan)
        lb_scan_addi(r, "NAN_VALUES", LB_SEV_ERROR, "tensor", name, elem_off(&t, tt, a.first_nan),
                     "%llu NaN values of %llu (first at element %llu)", (unsigned long long)a.nan, n,
                     (unsigned long long)a.first_nan);
    if (a.inf)
        lb_scan_addi(r, "INF_VALUES", LB_SEV_ERROR, "tensor", name, elem_off(&t, tt, a.first_inf),
                     "%llu infinite values of %llu (first at element %llu)", (unsigned long long)a.inf, n,
                     (unsigned long long)a.first_inf);
    if (a.big)
        lb_scan_addi(r, "ABSURD_MAGNITUDE", LB_SEV_WARNING, "tensor", name, elem_off(&t, tt, a.first_big),
                     "%llu values with |x| > %g (max %g, first at element %llu)", (unsigned long long)a.big,
                     LB_SCAN_ABSURD, (double)a.maxabs, (unsigned long long)a.first_big);
    if (nelem < 2 || a.nan || a.inf) return;
    int sev = ndim >= 2 ? LB_SEV_WARNING : LB_SEV_INFO;
    if (a.zero == nelem)
        lb_scan_addi(r, "ALL_ZERO", sev, "tensor", name, offset, "all %llu values are zero", n);
    else if (a.constant)
        lb_scan_addi(r, "CONSTANT", sev, "tensor", name, offset, "all %llu values are %g", n, (double)a.first);
}

typedef struct model_rd { lb_model *m; const lb_tensor *t; } model_rd;

static int model_read(void *ctx, uint64_t off, void *buf, size_t n, lb_err *err)
{
    model_rd *c = ctx;
    return lb_tensor_read(c->m, c->t, off, buf, n, err);
}

static void deep_tensor(lb_scan_file *r, lb_model *m, const lb_tensor *t)
{
    model_rd c = { m, t };
    lb_scan_deep_values(r, t->name, t->type, t->ndim, t->nelem, t->offset, model_read, &c);
}

void lb_scan_deep(lb_scan_file *r, const char *path)
{
    lb_model *m;
    lb_err err;
    lb_err_clear(&err);
    if (lb_model_open(&m, path, &err)) {
        lb_scan_add(r, "DEEP_SKIPPED", LB_SEV_INFO, LB_NO_OFFSET,
                    "value checks skipped: the strict reader refuses the file (%s)", err.msg);
        return;
    }
    const lb_kv *ty = lb_model_kv(m, "general.type");
    if (ty && ty->val.type == LB_V_STR && !strcmp(ty->val.v.s, "imatrix")) {
        lb_scan_add(r, "DEEP_SKIPPED", LB_SEV_INFO, LB_NO_OFFSET,
                    "value checks skipped: an importance matrix holds activation statistics, not weights");
        lb_model_close(m);
        return;
    }
    size_t blocks = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        const lb_type_traits *tt = lb_type_get(t->type);
        if (!tt || (tt->kind != LB_KIND_FLOAT && tt->kind != LB_KIND_BLOCK)) continue;
        if (tt->kind == LB_KIND_BLOCK && (!lb_stats_block_dequant || !lb_qkernel_get(t->type))) {
            blocks++;
            continue;
        }
        deep_tensor(r, m, t);
    }
    if (blocks)
        lb_scan_add(r, "DEEP_SKIPPED", LB_SEV_INFO, LB_NO_OFFSET,
                    "value checks skipped for %zu block-quantized tensor(s) (no dequantizer linked)", blocks);
    lb_model_close(m);
}
