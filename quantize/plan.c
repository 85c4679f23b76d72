/* plan.c: choose a type per tensor for a size budget (lb_plan.h). */
#include "lb_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_metrics.h"
#include "lb_qrun.h"
#include "lb_quant.h"

/* Every type some llama.cpp mix can pick, so every mix can be priced from the measurements. */
static const int candidates[] = { LB_Q2_K, LB_Q3_K, LB_Q4_K, LB_Q5_K, LB_Q6_K, LB_Q4_0, LB_Q4_1, LB_Q5_0,
                                  LB_Q5_1, LB_Q8_0, LB_IQ4_NL, LB_IQ4_XS, LB_F16, LB_BF16, LB_F32 };
#define NCAND (sizeof candidates / sizeof candidates[0])

typedef struct opt { int type; uint64_t bytes; double err; } opt;

typedef struct tplan {
    int     free_choice;     /* 1: the planner chooses; 0: fixed to the mix's type */
    opt    *opts; size_t n;  /* candidates that fit the row length, sorted by bytes */
    size_t  pick;            /* index into opts */
    int     fixed_type;
    uint64_t fixed_bytes;
    double  fixed_err;
} tplan;

typedef struct mixcmp { int ftype; uint64_t bytes; double err; int fits; } mixcmp;

struct lb_plan_result {
    tplan   *t; size_t n;
    uint64_t overhead;       /* header and padding bytes, estimated */
    uint64_t budget;         /* tensor bytes allowed */
    double   target_bpw;
    uint64_t target_bytes;
    mixcmp   mixes[64]; size_t n_mixes;
    int      from_mix;       /* ftype of the mix the plan started from, or -1 */
};

/* ---- sizes ---- */

static uint64_t value_bytes(const lb_value *v)
{
    switch (v->type) {
    case LB_V_U8: case LB_V_I8: case LB_V_BOOL: return 1;
    case LB_V_U16: case LB_V_I16: return 2;
    case LB_V_U32: case LB_V_I32: case LB_V_F32: return 4;
    case LB_V_U64: case LB_V_I64: case LB_V_F64: return 8;
    case LB_V_STR: return 8 + v->n;
    case LB_V_ARR: {
        uint64_t s = 12;
        for (uint64_t i = 0; i < v->n; i++) s += value_bytes(&v->v.arr[i]);
        return s;
    }
    }
    return 0;
}

/* The GGUF header lowbit-quantize writes: the input's keys plus ~1 KiB of its own,
 * tensor infos, and up to an alignment unit of padding per tensor. */
static uint64_t overhead_of(const lb_model *m)
{
    uint64_t s = 24 + 1024;
    for (size_t i = 0; i < m->n_kv; i++) s += 8 + strlen(m->kv[i].key) + 4 + value_bytes(&m->kv[i].val);
    for (size_t i = 0; i < m->n_tensors; i++) s += 8 + strlen(m->tensors[i].name) + 4 + 8 * (uint64_t)m->tensors[i].ndim + 12 + 32;
    return s + 32;
}

static uint64_t tensor_bytes(const lb_tensor *t, int type)
{
    uint64_t b = 0;
    return lb_type_nbytes(type, t->nelem, &b) ? UINT64_MAX : b;
}

/* Error as a total: weighted mean square error times the element count (plain mse where
 * no importance weights apply), so tensors add up on one scale. */
static double total_err(const lb_metrics *m)
{
    lb_metrics_result r = lb_metrics_result_of(m);
    return r.wmse * (double)m->n;
}

static int cmp_opt(const void *a, const void *b)
{
    const opt *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? -1 : 1;
    return x->err < y->err ? -1 : x->err > y->err;
}

static int overridden(const lb_plan_opts *o, const char *name)
{
    for (size_t i = 0; i < o->n_overrides; i++)
        if (lb_mix_override_matches(o->overrides[i], name) == 1) return 1;
    return 0;
}

/* ---- measuring ---- */

static int measure(lb_model *m, const lb_mix_result *plan, const lb_plan_opts *o, lb_plan_result *r, lb_err *err)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        tplan *tp = &r->t[i];
        tp->fixed_type = plan->t[i].type;
        tp->fixed_bytes = tensor_bytes(t, plan->t[i].type);
        tp->free_choice = plan->t[i].quantizable && plan->t[i].converted && !plan->t[i].manual &&
                          !overridden(o, t->name) && t->ndim >= 2;
        if (!tp->free_choice) continue;
        int types[NCAND];
        size_t n = 0;
        uint64_t ne0 = t->shape[t->ndim - 1];
        for (size_t k = 0; k < NCAND; k++)
            if (lb_quant_row_size(candidates[k], (int64_t)ne0) && candidates[k] != t->type) types[n++] = candidates[k];
        lb_metrics ms[NCAND];
        LB_TRY(lb_qrun_measure_types(m, t, types, n, o->imatrix, o->nthreads, 0, ms, err));
        tp->opts = calloc(n + 1, sizeof *tp->opts);
        if (!tp->opts) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        for (size_t k = 0; k < n; k++) tp->opts[k] = (opt){ types[k], tensor_bytes(t, types[k]), total_err(&ms[k]) };
        /* the input type itself, kept: no error */
        tp->opts[n++] = (opt){ t->type, t->nbytes, 0 };
        qsort(tp->opts, n, sizeof *tp->opts, cmp_opt);
        tp->n = n;
        /* the mix's own choice must be priced too */
        for (size_t k = 0; k < n; k++) if (tp->opts[k].type == tp->fixed_type) tp->fixed_err = tp->opts[k].err;
    }
    return LB_OK;
}

/* ---- choosing ---- */

static void totals(const lb_plan_result *r, uint64_t *bytes, double *e)
{
    *bytes = 0;
    *e = 0;
    for (size_t i = 0; i < r->n; i++) {
        const tplan *tp = &r->t[i];
        if (tp->free_choice) { *bytes += tp->opts[tp->pick].bytes; *e += tp->opts[tp->pick].err; }
        else *bytes += tp->fixed_bytes;
    }
}

/* For a price lambda, every tensor takes the option minimising err + lambda * bytes. */
static void pick_lambda(lb_plan_result *r, double lambda)
{
    for (size_t i = 0; i < r->n; i++) {
        tplan *tp = &r->t[i];
        if (!tp->free_choice) continue;
        size_t best = 0;
        double bv = INFINITY;
        for (size_t k = 0; k < tp->n; k++) {
            double v = tp->opts[k].err + lambda * (double)tp->opts[k].bytes;
            if (v < bv) { bv = v; best = k; }
        }
        tp->pick = best;
    }
}

/* Spend what is left of the budget on the upgrades with the best error drop per byte. */
static void greedy_fill(lb_plan_result *r)
{
    for (;;) {
        uint64_t bytes;
        double e;
        totals(r, &bytes, &e);
        double best_gain = 0;
        size_t bi = SIZE_MAX, bk = 0;
        for (size_t i = 0; i < r->n; i++) {
            tplan *tp = &r->t[i];
            if (!tp->free_choice) continue;
            const opt *cur = &tp->opts[tp->pick];
            for (size_t k = 0; k < tp->n; k++) {
                const opt *c = &tp->opts[k];
                if (c->err >= cur->err) continue;
                uint64_t add = c->bytes > cur->bytes ? c->bytes - cur->bytes : 0;
                if (bytes + add > r->budget) continue;
                double gain = (cur->err - c->err) / (double)(add + 1);
                if (gain > best_gain) { best_gain = gain; bi = i; bk = k; }
            }
        }
        if (bi == SIZE_MAX) return;
        r->t[bi].pick = bk;
    }
}

static void save(const lb_plan_result *r, size_t *picks)
{
    for (size_t i = 0; i < r->n; i++) picks[i] = r->t[i].pick;
}

static void restore(lb_plan_result *r, const size_t *picks)
{
    for (size_t i = 0; i < r->n; i++) r->t[i].pick = picks[i];
}

/* Price every llama.cpp mix from the measurements (a mix's type for a tensor is one of
 * its options, or its fixed type). */
static void price_mixes(lb_model *m, const lb_plan_opts *o, lb_plan_result *r)
{
    lb_mix_hparams hp;
    lb_err e;
    if (lb_mix_hparams_get(m, &hp, &e)) return;
    const lb_mix_name *names;
    size_t nn = lb_mix_names(&names);
    for (size_t k = 0; k < nn && r->n_mixes < 64; k++) {
        if (names[k].alias || names[k].copy) continue;
        lb_mix_opts mo = lb_mix_opts_default(names[k].ftype);
        mo.overrides = o->overrides;
        mo.n_overrides = o->n_overrides;
        mo.has_imatrix = o->imatrix != NULL;
        mo.allow_requantize = 1;
        lb_mix_result *mr = NULL;
        if (lb_mix_plan(&mr, m->tensors, m->n_tensors, &hp, &mo, &e) || !mr) { lb_mix_result_free(mr); continue; }
        mixcmp mc = { names[k].ftype, 0, 0, 1 };
        for (size_t i = 0; i < r->n && mc.fits; i++) {
            const tplan *tp = &r->t[i];
            if (!tp->free_choice) { mc.bytes += tp->fixed_bytes; mc.err += tp->fixed_err; continue; }
            size_t kk;
            for (kk = 0; kk < tp->n && tp->opts[kk].type != mr->t[i].type; kk++) ;
            if (kk == tp->n) { mc.fits = 0; break; }   /* a type the planner did not measure */
            mc.bytes += tp->opts[kk].bytes;
            mc.err += tp->opts[kk].err;
        }
        lb_mix_result_free(mr);
        if (mc.fits) r->mixes[r->n_mixes++] = mc;
    }
}

/* Start from a mix's types. */
static void adopt_mix(lb_model *m, const lb_plan_opts *o, lb_plan_result *r, int ftype)
{
    lb_mix_hparams hp;
    lb_err e;
    lb_mix_opts mo = lb_mix_opts_default(ftype);
    mo.overrides = o->overrides;
    mo.n_overrides = o->n_overrides;
    mo.has_imatrix = o->imatrix != NULL;
    mo.allow_requantize = 1;
    lb_mix_result *mr = NULL;
    if (lb_mix_hparams_get(m, &hp, &e) || lb_mix_plan(&mr, m->tensors, m->n_tensors, &hp, &mo, &e)) { lb_mix_result_free(mr); return; }
    for (size_t i = 0; i < r->n; i++) {
        tplan *tp = &r->t[i];
        if (!tp->free_choice) continue;
        for (size_t k = 0; k < tp->n; k++) if (tp->opts[k].type == mr->t[i].type) tp->pick = k;
    }
    lb_mix_result_free(mr);
    r->from_mix = ftype;
}

int lb_plan_choose(lb_model *m, lb_mix_result *plan, const lb_plan_opts *o, lb_plan_result **out, lb_err *err)
{
    *out = NULL;
    lb_plan_result *r = calloc(1, sizeof *r);
    if (!r || !(r->t = calloc(m->n_tensors + 1, sizeof *r->t))) {
        free(r);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    r->n = m->n_tensors;
    r->from_mix = -1;
    r->overhead = overhead_of(m);
    r->target_bpw = o->target_bpw;
    r->target_bytes = o->target_bytes;
    lb_totals tt = lb_model_totals(m);
    if (o->target_bytes) r->budget = o->target_bytes > r->overhead ? o->target_bytes - r->overhead : 0;
    else r->budget = (uint64_t)(o->target_bpw * (double)tt.params / 8.0);
    int rc = measure(m, plan, o, r, err);
    if (rc) { lb_plan_free(r); return rc; }
    /* smallest possible */
    for (size_t i = 0; i < r->n; i++) r->t[i].pick = 0;
    uint64_t bytes;
    double e;
    totals(r, &bytes, &e);
    if (bytes > r->budget) {
        uint64_t need = bytes + (o->target_bytes ? r->overhead : 0);
        rc = lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "the budget is too small: the smallest plan takes %llu bytes (%.3f bits per weight)",
                        (unsigned long long)need, tt.params ? 8.0 * (double)bytes / (double)tt.params : 0);
        lb_plan_free(r);
        return rc;
    }
    /* Lagrangian sweep: the smallest price whose choice fits */
    double lo = 0, hi = 1;
    pick_lambda(r, hi);
    totals(r, &bytes, &e);
    for (int it = 0; it < 200 && bytes > r->budget; it++) { hi *= 4; pick_lambda(r, hi); totals(r, &bytes, &e); }
    for (int it = 0; it < 100; it++) {
        double mid = (lo + hi) / 2;
        pick_lambda(r, mid);
        totals(r, &bytes, &e);
        if (bytes <= r->budget) hi = mid; else lo = mid;
    }
    pick_lambda(r, hi);
    greedy_fill(r);
    /* never worse than a llama.cpp mix that fits */
    price_mixes(m, o, r);
    size_t *picks = calloc(r->n + 1, sizeof *picks);
    double best_e;
    totals(r, &bytes, &best_e);
    save(r, picks);
    for (size_t k = 0; k < r->n_mixes; k++) {
        const mixcmp *mc = &r->mixes[k];
        if (mc->bytes > r->budget || mc->err >= best_e) continue;
        adopt_mix(m, o, r, mc->ftype);
        greedy_fill(r);
        double e2;
        totals(r, &bytes, &e2);
        if (e2 < best_e && bytes <= r->budget) { best_e = e2; save(r, picks); }
        else restore(r, picks);
    }
    restore(r, picks);
    free(picks);
    for (size_t i = 0; i < r->n; i++) {
        if (!r->t[i].free_choice) continue;
        plan->t[i].type = r->t[i].opts[r->t[i].pick].type;
        plan->t[i].converted = plan->t[i].type != plan->t[i].in_type;
    }
    *out = r;
    return LB_OK;
}

void lb_plan_totals(const lb_plan_result *r, uint64_t *file_bytes, double *error)
{
    totals(r, file_bytes, error);
    *file_bytes += r->overhead;
}

char *lb_plan_describe(const lb_model *m, const lb_plan_result *r)
{
    size_t cap = 256 + (m->n_tensors + r->n_mixes + 8) * 160, k = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    uint64_t bytes;
    double e;
    totals(r, &bytes, &e);
    lb_totals tt = lb_model_totals(m);
    k += (size_t)snprintf(s + k, cap - k, "%-40s %-7s %12s %12s\n", "tensor", "type", "bytes", "pred_rmse");
    for (size_t i = 0; i < r->n; i++) {
        const tplan *tp = &r->t[i];
        const lb_tensor *t = &m->tensors[i];
        int type = tp->free_choice ? tp->opts[tp->pick].type : tp->fixed_type;
        uint64_t b = tp->free_choice ? tp->opts[tp->pick].bytes : tp->fixed_bytes;
        double err = tp->free_choice ? tp->opts[tp->pick].err : tp->fixed_err;
        k += (size_t)snprintf(s + k, cap - k, "%-40.40s %-7s %12llu %12.4g%s\n", t->name, lb_type_get(type)->name,
                              (unsigned long long)b, t->nelem ? sqrt(err / (double)t->nelem) : 0,
                              tp->free_choice ? "" : "  (fixed)");
    }
    k += (size_t)snprintf(s + k, cap - k, "plan: %llu bytes (file about %llu), %.4f bits per weight, predicted total error %.6g; budget %llu tensor bytes\n",
                          (unsigned long long)bytes, (unsigned long long)(bytes + r->overhead),
                          tt.params ? 8.0 * (double)bytes / (double)tt.params : 0, e, (unsigned long long)r->budget);
    for (size_t i = 0; i < r->n_mixes; i++)
        k += (size_t)snprintf(s + k, cap - k, "mix %-8s %12llu bytes %8.4f bpw  error %.6g%s\n",
                              lb_mix_ftype_name(r->mixes[i].ftype), (unsigned long long)r->mixes[i].bytes,
                              tt.params ? 8.0 * (double)r->mixes[i].bytes / (double)tt.params : 0, r->mixes[i].err,
                              r->mixes[i].bytes <= r->budget ? "  (fits)" : "");
    return s;
}

void lb_plan_free(lb_plan_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) free(r->t[i].opts);
    free(r->t);
    free(r);
}
