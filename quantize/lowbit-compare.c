/* lowbit-compare: error metrics between two models, tensor by tensor
 * (docs/lowbit-compare.md). Either side may be quantized; both are decoded to f32. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_json.h"
#include "lb_metrics.h"
#include "lb_model.h"
#include "lb_quant.h"
#include "lb_tool.h"

static const lb_opt opts[] = {
    { "json", 0, NULL, "print one JSON document on stdout" },
    { "quiet", 'q', NULL, "print only the totals" },
    { NULL, 0, NULL, NULL }
};
static const lb_tool tool = {
    "lowbit-compare", "[--json] [-q] REFERENCE CANDIDATE",
    "Compare CANDIDATE with REFERENCE tensor by tensor (matched by name): RMSE, relative RMSE,\n"
    "max |error|, SQNR, cosine; totals; tensors present on one side only. Works on any files\n"
    "lowbit reads, e.g. llama.cpp's own quantizations.", opts
};

typedef struct { int json, quiet; } options;

static void on_opt(int idx, const char *arg, void *ctx)
{
    options *o = ctx;
    (void)arg;
    if (idx == 0) o->json = 1;
    else o->quiet = 1;
}

#define CHUNK_F32 (4u << 20)

static int same_shape(const lb_tensor *a, const lb_tensor *b)
{
    return a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof(uint64_t) * (size_t)a->ndim);
}

/* Decode both tensors chunk by chunk (whole rows) and accumulate the metrics. */
static int compare(lb_model *ma, const lb_tensor *a, lb_model *mb, const lb_tensor *b, lb_metrics *m, lb_err *err)
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

static void add_metrics(cJSON *o, const lb_metrics_result *r)
{
    cJSON_AddNumberToObject(o, "rmse", r->rmse);
    cJSON_AddNumberToObject(o, "rel_rmse", r->rel_rmse);
    cJSON_AddNumberToObject(o, "max_abs", r->max_abs);
    if (r->sqnr_db < 1e300) cJSON_AddNumberToObject(o, "sqnr_db", r->sqnr_db);
    else cJSON_AddNullToObject(o, "sqnr_db");
    cJSON_AddNumberToObject(o, "cosine", r->cosine);
}

int main(int argc, char **argv)
{
    options o = { 0 };
    int first = lb_parse_opts(argc, argv, &tool, on_opt, &o);
    if (argc - first != 2) lb_usage_fail("need REFERENCE and CANDIDATE");
    const char *pa = argv[first], *pb = argv[first + 1];
    lb_err err;
    lb_err_clear(&err);
    lb_model *a = NULL, *b = NULL;
    if (lb_model_open(&a, pa, &err)) return lb_report(pa, &err);
    if (lb_model_open(&b, pb, &err)) { lb_model_close(a); return lb_report(pb, &err); }
    cJSON *doc = o.json ? lb_json_doc("compare") : NULL;
    cJSON *ts = NULL, *only_a = NULL, *only_b = NULL, *mism = NULL;
    if (doc) {
        cJSON_AddStringToObject(doc, "reference", pa);
        cJSON_AddStringToObject(doc, "candidate", pb);
        ts = cJSON_AddArrayToObject(doc, "tensors");
        only_a = cJSON_AddArrayToObject(doc, "only_in_reference");
        only_b = cJSON_AddArrayToObject(doc, "only_in_candidate");
        mism = cJSON_AddArrayToObject(doc, "shape_mismatch");
    }
    size_t w = 6;
    for (size_t i = 0; i < a->n_tensors; i++) if (strlen(a->tensors[i].name) > w) w = strlen(a->tensors[i].name);
    if (!doc && !o.quiet)
        printf("%-*s %-7s %-7s %12s %10s %11s %9s %10s\n", (int)w, "tensor", "ref", "cand", "rmse", "rel_rmse", "max_abs",
               "sqnr_dB", "cosine");
    lb_metrics total;
    lb_metrics_init(&total);
    double relw = 0;
    uint64_t params = 0;
    int findings = 0, rc = LB_OK;
    for (size_t i = 0; i < a->n_tensors && !rc; i++) {
        const lb_tensor *ta = &a->tensors[i], *tb = lb_model_find(b, ta->name);
        if (!tb) {
            findings++;
            if (doc) cJSON_AddItemToArray(only_a, cJSON_CreateString(ta->name));
            else printf("%-*s only in the reference\n", (int)w, ta->name);
            continue;
        }
        if (!same_shape(ta, tb)) {
            findings++;
            if (doc) cJSON_AddItemToArray(mism, cJSON_CreateString(ta->name));
            else printf("%-*s shapes differ\n", (int)w, ta->name);
            continue;
        }
        lb_metrics m;
        if ((rc = compare(a, ta, b, tb, &m, &err))) break;
        lb_metrics_merge(&total, &m);
        lb_metrics_result r = lb_metrics_result_of(&m);
        relw += r.rel_rmse * (double)ta->nelem;
        params += ta->nelem;
        if (doc) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "name", ta->name);
            cJSON_AddStringToObject(t, "reference_dtype", lb_type_get(ta->type)->name);
            cJSON_AddStringToObject(t, "candidate_dtype", lb_type_get(tb->type)->name);
            cJSON *sh = cJSON_AddArrayToObject(t, "shape");
            for (int d = 0; d < ta->ndim; d++) cJSON_AddItemToArray(sh, lb_json_u64(ta->shape[d]));
            add_metrics(t, &r);
            cJSON_AddItemToArray(ts, t);
        } else if (!o.quiet) {
            printf("%-*s %-7s %-7s %12.5g %10.6f %11.5g %9.2f %10.7f\n", (int)w, ta->name, lb_type_get(ta->type)->name,
                   lb_type_get(tb->type)->name, r.rmse, r.rel_rmse, r.max_abs, r.sqnr_db, r.cosine);
        }
    }
    for (size_t i = 0; !rc && i < b->n_tensors; i++) {
        if (lb_model_find(a, b->tensors[i].name)) continue;
        findings++;
        if (doc) cJSON_AddItemToArray(only_b, cJSON_CreateString(b->tensors[i].name));
        else printf("%-*s only in the candidate\n", (int)w, b->tensors[i].name);
    }
    if (rc) {
        lb_report(err.item[0] ? pa : pb, &err);
    } else {
        lb_metrics_result r = lb_metrics_result_of(&total);
        if (doc) {
            cJSON *t = cJSON_AddObjectToObject(doc, "totals");
            cJSON_AddItemToObject(t, "tensors", lb_json_u64((uint64_t)cJSON_GetArraySize(ts)));
            cJSON_AddItemToObject(t, "params", lb_json_u64(params));
            add_metrics(t, &r);
            cJSON_AddNumberToObject(t, "param_weighted_rel_rmse", params ? relw / (double)params : 0);
            cJSON_AddNumberToObject(t, "findings", findings);
            char *s = lb_json_print(doc);
            rc = s ? lb_stdout_write(s) : LB_EIO;
            free(s);
        } else {
            printf("total: %" PRIu64 " params compared, rmse %.6g, relative rmse %.6f (parameter-weighted %.6f), "
                   "max |error| %.6g, sqnr %.2f dB, cosine %.7f; %d tensor(s) unmatched\n", params, r.rmse, r.rel_rmse,
                   params ? relw / (double)params : 0, r.max_abs, r.sqnr_db, r.cosine, findings);
            if (fflush(stdout)) { lb_say(NULL, "cannot write to standard output"); rc = LB_EIO; }
        }
        if (!rc && findings) rc = LB_ECHECK;
    }
    cJSON_Delete(doc);
    lb_model_close(a);
    lb_model_close(b);
    return rc;
}
