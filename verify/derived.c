/* derived.c: check that a quantized GGUF derives from a source (lb_derived.h). */
#include "lb_derived.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_compare.h"
#include "lb_dtype.h"
#include "lb_hash.h"
#include "lb_mix.h"
#include "lb_qrun.h"

const char *lb_derived_status_name(int s)
{
    static const char *n[] = { "ok", "error outside its type's band", "bytes differ from a re-run of the recipe",
                               "type differs from the recipe", "missing from the quantized file",
                               "not in the source", "shape differs", "kept tensor changed" };
    return s >= 0 && s <= LB_DV_KEPT_CHANGED ? n[s] : "?";
}

static const char *kv_str(const lb_model *m, const char *key)
{
    const lb_kv *kv = lb_model_kv(m, key);
    return kv && kv->val.type == LB_V_STR ? kv->val.v.s : NULL;
}

/* ---- the recipe -> mix options ---- */

typedef struct recipe {
    cJSON *j;
    lb_mix_opts mo;
    const char *ttype[64];
    int ok;
} recipe;

static int type_of(const cJSON *j, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(j, key));
    const lb_type_traits *t = s ? lb_type_by_name(s) : NULL;
    return t ? t->id : -1;
}

static void recipe_parse(recipe *r, const char *text)
{
    memset(r, 0, sizeof *r);
    r->j = text ? cJSON_Parse(text) : NULL;
    const cJSON *ft = cJSON_GetObjectItem(r->j, "ftype");
    if (!cJSON_IsNumber(ft)) return;
    r->mo = lb_mix_opts_default((int)ft->valuedouble);
    r->mo.pure = cJSON_IsTrue(cJSON_GetObjectItem(r->j, "pure"));
    r->mo.leave_output_tensor = cJSON_IsTrue(cJSON_GetObjectItem(r->j, "leave_output_tensor"));
    r->mo.allow_requantize = 1;
    r->mo.output_tensor_type = type_of(r->j, "output_tensor_type");
    r->mo.token_embedding_type = type_of(r->j, "token_embedding_type");
    const cJSON *a = cJSON_GetObjectItem(r->j, "tensor_type"), *e;
    size_t n = 0;
    cJSON_ArrayForEach(e, a) if (cJSON_IsString(e) && n < 64) r->ttype[n++] = e->valuestring;
    r->mo.overrides = r->ttype;
    r->mo.n_overrides = n;
    r->ok = 1;
}

/* ---- byte comparison against a re-run ---- */

typedef struct cmpctx { lb_model *q; const lb_tensor *t; uint8_t *buf; size_t cap; uint64_t first_diff; int differ; } cmpctx;

static int cmp_sink(void *ctx, const void *data, size_t n, uint64_t at, lb_err *err)
{
    cmpctx *c = ctx;
    if (c->differ) return LB_OK;
    if (n > c->cap) {
        free(c->buf);
        c->buf = malloc(n);
        c->cap = c->buf ? n : 0;
        if (!c->buf) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    LB_TRY(lb_tensor_read(c->q, c->t, at, c->buf, n, err));
    if (memcmp(c->buf, data, n)) {
        const uint8_t *a = c->buf, *b = data;
        size_t i = 0;
        while (a[i] == b[i]) i++;
        c->differ = 1;
        c->first_diff = at + i;
    }
    return LB_OK;
}

static int raw_equal(lb_model *a, const lb_tensor *ta, lb_model *b, const lb_tensor *tb, int *eq, uint64_t *first, lb_err *err)
{
    enum { CH = 1 << 20 };
    uint8_t *x = malloc(CH), *y = malloc(CH);
    int rc = (!x || !y) ? lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory") : LB_OK;
    *eq = ta->nbytes == tb->nbytes;
    for (uint64_t off = 0; !rc && *eq && off < ta->nbytes; off += CH) {
        size_t n = ta->nbytes - off < CH ? (size_t)(ta->nbytes - off) : CH;
        rc = lb_tensor_read(a, ta, off, x, n, err);
        if (!rc) rc = lb_tensor_read(b, tb, off, y, n, err);
        if (!rc && memcmp(x, y, n)) {
            size_t i = 0;
            while (x[i] == y[i]) i++;
            *eq = 0;
            *first = off + i;
        }
    }
    free(x);
    free(y);
    return rc;
}

/* ---- the check ---- */

static int source_sha(lb_model *src, const char *want, lb_err *err)
{
    if (!want || src->n_files != 1) return 0;
    char hex[LB_SHA256_HEX];
    int rc = lb_sha256_src(src->files[0].src, hex, err);
    if (rc) return -2;
    return strcmp(hex, want) == 0 ? 1 : -1;
}

static int check_tensor(lb_model *src, const lb_tensor *ts, lb_model *q, const lb_tensor *tq, int plan_type,
                        const lb_derived_opts *o, int rederive, const lb_imatrix *im, lb_derived_tensor *d, lb_err *err)
{
    d->src_type = ts->type;
    d->q_type = tq->type;
    lb_metrics m;
    LB_TRY(lb_compare_tensor(src, ts, q, tq, &m, err));
    d->r = lb_metrics_result_of(&m);
    d->rel_rmse = d->r.rel_rmse;
    if (tq->type == ts->type) {   /* kept as it was: must be the same bytes */
        int eq;
        LB_TRY(raw_equal(src, ts, q, tq, &eq, &d->first_diff, err));
        d->band = 0;
        if (!eq) d->status = LB_DV_KEPT_CHANGED;
        return LB_OK;
    }
    if (rederive) {
        if (plan_type != tq->type) { d->status = LB_DV_TYPE_DIFFERS; return LB_OK; }
        cmpctx c = { q, tq, NULL, 0, 0, 0 };
        lb_metrics self;
        int rc = lb_qrun_tensor(src, ts, tq->type, im, o->nthreads, cmp_sink, &c, &self, err);
        free(c.buf);
        LB_TRY(rc);
        d->rederived = 1;
        d->band = lb_metrics_result_of(&self).rel_rmse;
        if (c.differ) { d->status = LB_DV_BYTES_DIFFER; d->first_diff = c.first_diff; }
        return LB_OK;
    }
    /* no recipe: what does this type do to this tensor? */
    lb_metrics self;
    LB_TRY(lb_qrun_measure(src, ts, tq->type, NULL, o->nthreads, 0, &self, err));
    d->band = LB_DERIVED_BAND * lb_metrics_result_of(&self).rel_rmse + 1e-12;
    if (!(d->rel_rmse <= d->band)) d->status = LB_DV_OUTSIDE_BAND;
    return LB_OK;
}

int lb_derived_check(lb_model *src, lb_model *q, const lb_derived_opts *o, lb_derived_result **out, lb_err *err)
{
    *out = NULL;
    lb_derived_result *r = calloc(1, sizeof *r);
    if (!r || !(r->t = calloc(src->n_tensors + q->n_tensors + 1, sizeof *r->t))) {
        free(r);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    recipe rec;
    recipe_parse(&rec, kv_str(q, "lowbit.recipe"));
    r->has_recipe = rec.ok;
    lb_mix_result *plan = NULL;
    const lb_imatrix *im = NULL;
    int rederive = rec.ok && !o->no_rederive;
    if (rederive) {
        const char *want_im = cJSON_GetStringValue(cJSON_GetObjectItem(rec.j, "imatrix_sha256"));
        if (want_im && (!o->imatrix || !o->imatrix_sha256 || strcmp(want_im, o->imatrix_sha256))) {
            snprintf(r->note, sizeof r->note, "made with an importance matrix (sha256 %.16s...): pass it with --imatrix to re-derive the bytes", want_im);
            rederive = 0;
        } else if (want_im) {
            im = o->imatrix;
            rec.mo.imatrix = im;
            rec.mo.has_imatrix = 1;
        }
    }
    int rc = LB_OK;
    if (rederive) {
        lb_mix_hparams hp;
        lb_err e;
        if (lb_mix_hparams_get(src, &hp, &e) || lb_mix_plan(&plan, src->tensors, src->n_tensors, &hp, &rec.mo, &e)) {
            snprintf(r->note, sizeof r->note, "the recipe cannot be re-run on this source: %.150s", e.msg);
            rederive = 0;
            lb_mix_result_free(plan);
            plan = NULL;
        }
    }
    r->rederived = rederive;
    r->source_sha_checked = source_sha(src, kv_str(q, "lowbit.source.sha256"), err);
    if (r->source_sha_checked == -2) rc = err->code;
    for (size_t i = 0; !rc && i < q->n_tensors; i++) {
        const lb_tensor *tq = &q->tensors[i], *ts = lb_model_find(src, tq->name);
        lb_derived_tensor *d = &r->t[r->n++];
        d->name = tq->name;
        d->q_type = tq->type;
        d->src_type = -1;
        if (!ts) { d->status = LB_DV_EXTRA; continue; }
        if (!lb_same_shape(ts, tq)) { d->status = LB_DV_SHAPE; d->src_type = ts->type; continue; }
        int plan_type = plan ? plan->t[ts - src->tensors].type : -1;
        rc = check_tensor(src, ts, q, tq, plan_type, o, rederive, im, d, err);
    }
    for (size_t i = 0; !rc && i < src->n_tensors; i++) {
        if (lb_model_find(q, src->tensors[i].name)) continue;
        lb_derived_tensor *d = &r->t[r->n++];
        d->name = src->tensors[i].name;
        d->src_type = src->tensors[i].type;
        d->q_type = -1;
        d->status = LB_DV_MISSING;
    }
    for (size_t i = 0; i < r->n; i++) r->n_failed += r->t[i].status != LB_DV_OK;
    lb_mix_result_free(plan);
    cJSON_Delete(rec.j);
    if (rc) { lb_derived_free(r); return rc; }
    *out = r;
    return LB_OK;
}

void lb_derived_free(lb_derived_result *r)
{
    if (!r) return;
    free(r->t);
    free(r);
}
