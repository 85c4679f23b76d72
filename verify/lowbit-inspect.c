/* lowbit-inspect: show what a model file or folder holds (docs/lowbit-inspect.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_json.h"
#include "lb_model.h"
#include "lb_stats.h"
#include "lb_tool.h"

static const lb_opt opts[] = {
    { "json", 0, NULL, "print one JSON document on stdout (docs/json.md)" },
    { "stats", 's', NULL, "add per-tensor min, max, mean, std and NaN/Inf/zero counts" },
    { "no-metadata", 0, NULL, "leave metadata out of the text output" },
    { NULL, 0, NULL, NULL }
};
static const lb_tool tool = {
    "lowbit-inspect", "[--json] [--stats] PATH...",
    "Show the format, metadata, tensors and totals of model files or HF-style folders.", opts
};

typedef struct { int json, stats, no_meta; } options;

static void on_opt(int idx, const char *arg, void *ctx)
{
    options *o = ctx;
    (void)arg;
    if (idx == 0) o->json = 1;
    else if (idx == 1) o->stats = 1;
    else if (idx == 2) o->no_meta = 1;
}

static void shape_str(const lb_tensor *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%" PRIu64, i ? ", " : "", t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* One value, short: arrays show type, count and the first few elements. */
static void value_str(const lb_value *v, char *buf, size_t n)
{
    switch (v->type) {
    case LB_V_STR: {
        size_t k = 0;
        if (k < n) buf[k++] = '"';
        for (uint64_t i = 0; i < v->n && k + 8 < n; i++) {
            unsigned char c = (unsigned char)v->v.s[i];
            if (c == '\n') { buf[k++] = '\\'; buf[k++] = 'n'; }
            else if (c < 0x20 || c == 0x7f) k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
            else buf[k++] = (char)c;
            if (k > 100 && i + 1 < v->n) { k += (size_t)snprintf(buf + k, n - k, "..."); break; }
        }
        snprintf(buf + k, n - k, "\"");
        return;
    }
    case LB_V_ARR: {
        size_t k = (size_t)snprintf(buf, n, "[%s x %" PRIu64 "]", v->n && v->v.arr ? lb_vtype_name(v->arr_type) : lb_vtype_name(v->arr_type), v->n);
        for (uint64_t i = 0; i < v->n && i < 4 && k + 40 < n; i++) {
            char e[48];
            value_str(&v->v.arr[i], e, sizeof e);
            k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : " ", e);
        }
        if (v->n > 4 && k + 5 < n) snprintf(buf + k, n - k, ", ...");
        return;
    }
    case LB_V_BOOL: snprintf(buf, n, "%s", v->v.u ? "true" : "false"); return;
    case LB_V_F32: case LB_V_F64: snprintf(buf, n, "%.9g", v->v.f); return;
    case LB_V_I8: case LB_V_I16: case LB_V_I32: case LB_V_I64: snprintf(buf, n, "%" PRId64, v->v.i); return;
    default: snprintf(buf, n, "%" PRIu64, v->v.u); return;
    }
}

static cJSON *stats_json(const lb_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "min", s->min);
    cJSON_AddNumberToObject(o, "max", s->max);
    cJSON_AddNumberToObject(o, "mean", s->mean);
    cJSON_AddNumberToObject(o, "std", s->std);
    cJSON_AddItemToObject(o, "nan", lb_json_u64(s->nan));
    cJSON_AddItemToObject(o, "inf", lb_json_u64(s->inf));
    cJSON_AddItemToObject(o, "zeros", lb_json_u64(s->zeros));
    return o;
}

static void print_text(lb_model *m, const options *o, const lb_stats *st)
{
    printf("%s: %s", m->path, m->format);
    if (m->version) printf(" v%u", m->version);
    printf(", %zu file%s, %zu tensors, %zu metadata keys\n", m->n_files, m->n_files == 1 ? "" : "s",
           m->n_tensors, m->n_kv);
    if (!o->no_meta && m->n_kv) {
        printf("metadata:\n");
        for (size_t i = 0; i < m->n_kv; i++) {
            char buf[400];
            value_str(&m->kv[i].val, buf, sizeof buf);
            printf("  %-40s %-7s %s\n", m->kv[i].key, lb_vtype_name(m->kv[i].val.type), buf);
        }
    }
    if (m->n_tensors) {
        size_t w = 4;
        for (size_t i = 0; i < m->n_tensors; i++)
            if (strlen(m->tensors[i].name) > w) w = strlen(m->tensors[i].name);
        printf("tensors:\n  %-*s %-7s %-20s %12s %12s", (int)w, "name", "dtype", "shape", "offset", "bytes");
        if (o->stats) printf(" %12s %12s %12s %12s %6s %6s %8s", "min", "max", "mean", "std", "nan", "inf", "zeros");
        printf("\n");
        for (size_t i = 0; i < m->n_tensors; i++) {
            const lb_tensor *t = &m->tensors[i];
            char sh[128];
            shape_str(t, sh, sizeof sh);
            printf("  %-*s %-7s %-20s %12" PRIu64 " %12" PRIu64, (int)w, t->name, lb_type_get(t->type)->name, sh,
                   t->offset, t->nbytes);
            if (st)
                printf(" %12.6g %12.6g %12.6g %12.6g %6" PRIu64 " %6" PRIu64 " %8" PRIu64, st[i].min, st[i].max,
                       st[i].mean, st[i].std, st[i].nan, st[i].inf, st[i].zeros);
            printf("\n");
        }
    }
    lb_totals tt = lb_model_totals(m);
    printf("totals: %" PRIu64 " tensors, %" PRIu64 " params, %" PRIu64 " bytes, %.4f bits per weight\n",
           tt.tensors, tt.params, tt.bytes, tt.bpw);
}

static cJSON *model_json(lb_model *m, const lb_stats *st)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", m->path);
    cJSON_AddStringToObject(f, "format", m->format);
    if (m->version) cJSON_AddNumberToObject(f, "version", m->version);
    cJSON *files = cJSON_AddArrayToObject(f, "files");
    for (size_t i = 0; i < m->n_files; i++) cJSON_AddItemToArray(files, cJSON_CreateString(m->files[i].path));
    cJSON *md = cJSON_AddObjectToObject(f, "metadata");
    for (size_t i = 0; i < m->n_kv; i++) cJSON_AddItemToObject(md, m->kv[i].key, lb_json_value(&m->kv[i].val));
    cJSON *ts = cJSON_AddArrayToObject(f, "tensors");
    for (size_t i = 0; i < m->n_tensors; i++) {
        cJSON *t = lb_json_tensor(&m->tensors[i]);
        if (m->n_files > 1) cJSON_AddStringToObject(t, "file", m->files[m->tensors[i].file].path);
        if (st) cJSON_AddItemToObject(t, "stats", stats_json(&st[i]));
        cJSON_AddItemToArray(ts, t);
    }
    cJSON_AddItemToObject(f, "totals", lb_json_totals(lb_model_totals(m)));
    return f;
}

int main(int argc, char **argv)
{
    options o = { 0 };
    int first = lb_parse_opts(argc, argv, &tool, on_opt, &o);
    if (first >= argc) lb_usage_fail("no PATH given");
    cJSON *doc = o.json ? lb_json_doc("inspect") : NULL;
    cJSON *models = doc ? cJSON_AddArrayToObject(doc, "models") : NULL;
    cJSON *errors = doc ? cJSON_AddArrayToObject(doc, "errors") : NULL;
    int status = LB_OK;
    for (int i = first; i < argc; i++) {
        lb_err err;
        lb_err_clear(&err);
        lb_model *m = NULL;
        lb_stats *st = NULL;
        int rc = lb_model_open(&m, argv[i], &err);
        if (!rc && o.stats) {
            st = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *st);
            if (!st) rc = lb_err_set(&err, LB_EIO, LB_NO_OFFSET, "out of memory");
            for (size_t k = 0; !rc && k < m->n_tensors; k++)
                rc = lb_tensor_stats(m, &m->tensors[k], &st[k], &err);
        }
        if (rc) {
            lb_report(argv[i], &err);
            if (rc > status) status = rc;
            if (errors) {
                char buf[800];
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "path", argv[i]);
                cJSON_AddNumberToObject(e, "code", rc);
                cJSON_AddStringToObject(e, "message", lb_err_str(&err, buf, sizeof buf));
                cJSON_AddItemToArray(errors, e);
            }
        } else if (doc) {
            cJSON_AddItemToArray(models, model_json(m, st));
        } else {
            if (i > first) printf("\n");
            print_text(m, &o, st);
        }
        free(st);
        lb_model_close(m);
    }
    if (doc) {
        char *s = lb_json_print(doc);
        int w = s ? lb_stdout_write(s) : LB_EIO;
        if (w && !status) status = w;
        free(s);
        cJSON_Delete(doc);
    } else if (fflush(stdout) != 0 && !status) {
        lb_say(NULL, "cannot write to standard output");
        status = LB_EIO;
    }
    return status;
}
