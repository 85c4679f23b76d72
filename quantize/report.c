/* report.c: the per-tensor error report of a quantization (lb_qrun.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_cpu.h"
#include "lb_dtype.h"
#include "lb_json.h"
#include "lb_qrun.h"

typedef struct sums { uint64_t params, bytes, in_bytes; double rel_w; } sums;

static sums sum_up(const lb_qreport *rep, size_t n)
{
    sums s = { 0, 0, 0, 0 };
    for (size_t i = 0; i < n; i++) {
        s.params += rep[i].nelem;
        s.bytes += rep[i].bytes;
        s.in_bytes += rep[i].in_bytes;
        if (rep[i].converted) s.rel_w += (double)rep[i].nelem * lb_metrics_result_of(&rep[i].m).rel_rmse;
    }
    if (s.params) s.rel_w /= (double)s.params;
    return s;
}

struct cJSON *lb_qreport_json(const lb_qreport *rep, size_t n, const char *tool, const char *input,
                              const char *output, const char *type, int ftype)
{
    cJSON *doc = lb_json_doc(tool);
    cJSON_AddStringToObject(doc, "input", input);
    cJSON_AddStringToObject(doc, "output", output);
    cJSON_AddStringToObject(doc, "type", type);
    cJSON_AddNumberToObject(doc, "ftype", ftype);
    cJSON_AddStringToObject(doc, "kernels", lb_cpu_name(lb_cpu_active()));
    cJSON *ts = cJSON_AddArrayToObject(doc, "tensors");
    for (size_t i = 0; i < n; i++) {
        lb_tensor t = { 0 };
        t.name = (char *)rep[i].name;
        t.type = rep[i].out_type;
        t.ndim = rep[i].ndim;
        memcpy(t.shape, rep[i].shape, sizeof t.shape);
        t.nelem = rep[i].nelem;
        t.offset = rep[i].offset;
        t.nbytes = rep[i].bytes;
        cJSON *o = lb_json_tensor(&t);
        cJSON_AddStringToObject(o, "from", lb_type_get(rep[i].in_type)->name);
        cJSON_AddBoolToObject(o, "quantized", rep[i].converted);
        cJSON_AddNumberToObject(o, "bpw", t.nelem ? 8.0 * (double)t.nbytes / (double)t.nelem : 0);
        lb_metrics_result r = lb_metrics_result_of(&rep[i].m);
        if (!rep[i].converted) r = (lb_metrics_result){ 0, 0, 0, 0, 0, 1, 0 };
        cJSON_AddNumberToObject(o, "rmse", r.rmse);
        cJSON_AddNumberToObject(o, "rel_rmse", r.rel_rmse);
        cJSON_AddNumberToObject(o, "max_abs", r.max_abs);
        if (rep[i].converted && r.sqnr_db < 1e300) cJSON_AddNumberToObject(o, "sqnr_db", r.sqnr_db);
        else cJSON_AddNullToObject(o, "sqnr_db");   /* no error: infinite */
        cJSON_AddNumberToObject(o, "cosine", r.cosine);
        cJSON_AddNumberToObject(o, "wmse", r.wmse);
        cJSON_AddItemToArray(ts, o);
    }
    sums s = sum_up(rep, n);
    lb_totals tt = { n, s.params, s.bytes, s.params ? 8.0 * (double)s.bytes / (double)s.params : 0 };
    cJSON *to = lb_json_totals(tt);
    cJSON_AddItemToObject(to, "input_bytes", lb_json_u64(s.in_bytes));
    cJSON_AddNumberToObject(to, "rel_rmse", s.rel_w);
    cJSON_AddItemToObject(doc, "totals", to);
    return doc;
}

char *lb_qreport_table(const lb_qreport *rep, size_t n)
{
    size_t w = 6;
    for (size_t i = 0; i < n; i++)
        if (strlen(rep[i].name) > w) w = strlen(rep[i].name);
    size_t cap = (n + 3) * (w + 160), k = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    k += (size_t)snprintf(s + k, cap - k, "%-*s %-7s %-7s %-14s %6s %11s %9s %10s %8s %9s\n", (int)w, "tensor", "type",
                          "from", "shape", "bpw", "rmse", "rel_rmse", "max_abs", "sqnr_dB", "cosine");
    for (size_t i = 0; i < n; i++) {
        char sh[64];
        size_t q = 0;
        sh[0] = 0;
        for (int d = 0; d < rep[i].ndim && q < sizeof sh; d++)
            q += (size_t)snprintf(sh + q, sizeof sh - q, "%s%" PRIu64, d ? "x" : "", rep[i].shape[d]);
        double bpw = rep[i].nelem ? 8.0 * (double)rep[i].bytes / (double)rep[i].nelem : 0;
        k += (size_t)snprintf(s + k, cap - k, "%-*s %-7s %-7s %-14s %6.2f", (int)w, rep[i].name,
                              lb_type_get(rep[i].out_type)->name, lb_type_get(rep[i].in_type)->name, sh, bpw);
        if (rep[i].converted) {
            lb_metrics_result r = lb_metrics_result_of(&rep[i].m);
            k += (size_t)snprintf(s + k, cap - k, " %11.4g %9.5f %10.4g %8.2f %9.6f\n", r.rmse, r.rel_rmse, r.max_abs,
                                  r.sqnr_db, r.cosine);
        } else {
            k += (size_t)snprintf(s + k, cap - k, " %11s %9s %10s %8s %9s\n", "-", "-", "-", "-", "(kept)");
        }
    }
    sums t = sum_up(rep, n);
    snprintf(s + k, cap - k, "total: %zu tensors, %" PRIu64 " params, %" PRIu64 " -> %" PRIu64 " bytes, %.3f bits per weight, "
             "parameter-weighted relative rmse %.6f; kernels: %s\n", n, t.params, t.in_bytes, t.bytes,
             t.params ? 8.0 * (double)t.bytes / (double)t.params : 0, t.rel_w, lb_cpu_name(lb_cpu_active()));
    return s;
}
