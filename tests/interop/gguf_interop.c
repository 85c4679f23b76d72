/* gguf_interop.c: does the real llama.cpp (ggml's gguf_init_from_file) accept the GGUF
 * files lowbit writes, and see in them what lowbit sees?
 *
 * For each file: lowbit writes it (a round trip of every shared GGUF, and a synthetic file
 * with every kv type, several tensor types incl. quantized blocks of random bytes, and
 * alignment 64), then ggml reads it with no_alloc=true and we compare kv count, keys, types
 * and values, tensor names, types, shapes (ggml's ne[] reversed) and absolute offsets
 * (gguf_get_data_offset + gguf_get_tensor_offset). For the synthetic file ggml also loads
 * the data (no_alloc=false) and the bytes must match.
 *
 * usage: gguf_interop TMPDIR [SHARED]   prints PASS/FAIL/SKIP/INFO lines */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ggml.h"
#include "gguf.h"

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_model.h"
#include "lb_writer.h"

static int failed;
static char why[512];

#define EXPECT(cond, ...) do { if (!(cond)) { if (!why[0]) snprintf(why, sizeof why, __VA_ARGS__); ok = 0; } } while (0)

static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)level; (void)text; (void)user;
}

static void report(const char *name, int ok)
{
    if (ok) printf("PASS %s\n", name);
    else { printf("FAIL %s: %s\n", name, why); failed++; }
    why[0] = 0;
    fflush(stdout);
}

/* ---- writing with lowbit ------------------------------------------------------------------ */

/* Write kv + tensors with data blobs (data[i] may be NULL: read from model src). */
static int write_gguf(const char *path, const lb_kv *kv, size_t n_kv, const lb_wtensor *t, size_t n_t,
                      lb_model *src, uint8_t *const *data, lb_err *e)
{
    lb_out *out;
    lb_writer *w;
    LB_TRY(lb_out_open(&out, path, LB_OUT_FORCE, e));
    int rc = lb_writer_begin(&w, &lb_gguf_writer_ops, out, kv, n_kv, t, n_t, e);
    if (rc) { lb_out_abort(out); return rc; }
    static uint8_t chunk[65536];
    for (size_t i = 0; !rc && i < n_t; i++) {
        uint64_t n = w->nbytes[i];
        for (uint64_t off = 0; !rc && off < n; off += sizeof chunk) {
            size_t k = n - off < sizeof chunk ? (size_t)(n - off) : sizeof chunk;
            if (data) rc = lb_writer_data(w, data[i] + off, k, e);
            else {
                rc = lb_tensor_read(src, &src->tensors[i], off, chunk, k, e);
                if (!rc) rc = lb_writer_data(w, chunk, k, e);
            }
        }
    }
    if (!rc) rc = lb_writer_end(w, e);
    else lb_writer_abort(w);
    if (rc) { lb_out_abort(out); return rc; }
    return lb_out_commit(out, e);
}

/* ---- comparing with ggml's view --------------------------------------------------------------- */

static size_t elem_size(int t)
{
    switch (t) {
    case LB_V_U8: case LB_V_I8: case LB_V_BOOL: return 1;
    case LB_V_U16: case LB_V_I16: return 2;
    case LB_V_U32: case LB_V_I32: case LB_V_F32: return 4;
    case LB_V_U64: case LB_V_I64: case LB_V_F64: return 8;
    default: return 0;
    }
}

/* A scalar as its on-disk bytes. */
static void scalar_bytes(const lb_value *v, uint8_t *b)
{
    switch (v->type) {
    case LB_V_U8: case LB_V_I8: b[0] = (uint8_t)v->v.u; break;
    case LB_V_BOOL: b[0] = v->v.u != 0; break;
    case LB_V_U16: case LB_V_I16: lb_st16(b, (uint16_t)v->v.u); break;
    case LB_V_U32: case LB_V_I32: lb_st32(b, (uint32_t)v->v.u); break;
    case LB_V_F32: lb_stf32(b, (float)v->v.f); break;
    case LB_V_F64: lb_stf64(b, v->v.f); break;
    default: lb_st64(b, v->v.u); break;
    }
}

static int same_value(const struct gguf_context *g, int64_t id, const lb_value *v)
{
    int t = (int)gguf_get_kv_type(g, id);
    if (t != v->type) return 0;
    if (t == LB_V_STR) return strlen(gguf_get_val_str(g, id)) == v->n && memcmp(gguf_get_val_str(g, id), v->v.s, v->n) == 0;
    if (t != LB_V_ARR) {
        uint8_t b[8];
        scalar_bytes(v, b);
        return memcmp(gguf_get_val_data(g, id), b, elem_size(t)) == 0;
    }
    if ((int)gguf_get_arr_type(g, id) != v->arr_type || gguf_get_arr_n(g, id) != v->n) return 0;
    if (v->arr_type == LB_V_STR) {
        for (uint64_t i = 0; i < v->n; i++) {
            const char *s = gguf_get_arr_str(g, id, (size_t)i);
            if (strlen(s) != v->v.arr[i].n || memcmp(s, v->v.arr[i].v.s, v->v.arr[i].n) != 0) return 0;
        }
        return 1;
    }
    const uint8_t *d = gguf_get_arr_data(g, id);
    size_t es = elem_size(v->arr_type);
    for (uint64_t i = 0; i < v->n; i++) {
        uint8_t b[8];
        scalar_bytes(&v->v.arr[i], b);
        if (memcmp(d + i * es, b, es) != 0) return 0;
    }
    return 1;
}

/* ggml reads `path` and must see what lowbit's reader sees in it. */
static void check_file(const char *name, const char *path, int load_data)
{
    int ok = 1;
    lb_err e;
    char s[800];
    lb_model *m = NULL;
    struct ggml_context *gctx = NULL;
    lb_err_clear(&e);
    EXPECT(lb_model_open(&m, path, &e) == 0, "lowbit cannot read its own output: %s", lb_err_str(&e, s, sizeof s));
    struct gguf_init_params p = { .no_alloc = !load_data, .ctx = load_data ? &gctx : NULL };
    struct gguf_context *g = gguf_init_from_file(path, p);
    EXPECT(g != NULL, "gguf_init_from_file refused the file");
    if (m && g) {
        EXPECT(gguf_get_version(g) == 3, "version %u", gguf_get_version(g));
        EXPECT(gguf_get_alignment(g) == m->alignment, "alignment %zu vs %" PRIu64, gguf_get_alignment(g), m->alignment);
        EXPECT(gguf_get_n_kv(g) == (int64_t)m->n_kv, "kv count %" PRId64 " vs %zu", gguf_get_n_kv(g), m->n_kv);
        for (size_t i = 0; ok && i < m->n_kv && (int64_t)i < gguf_get_n_kv(g); i++) {
            EXPECT(strcmp(gguf_get_key(g, (int64_t)i), m->kv[i].key) == 0, "key %zu: '%s' vs '%s'", i, gguf_get_key(g, (int64_t)i), m->kv[i].key);
            EXPECT(same_value(g, (int64_t)i, &m->kv[i].val), "key '%s': type or value differs", m->kv[i].key);
        }
        EXPECT(gguf_get_n_tensors(g) == (int64_t)m->n_tensors, "tensor count %" PRId64 " vs %zu", gguf_get_n_tensors(g), m->n_tensors);
        if (m->n_tensors)
            EXPECT(gguf_get_data_offset(g) == m->files[0].data_start, "data offset %zu vs %" PRIu64,
                   gguf_get_data_offset(g), m->files[0].data_start);
        for (size_t i = 0; ok && i < m->n_tensors && (int64_t)i < gguf_get_n_tensors(g); i++) {
            const lb_tensor *t = &m->tensors[i];
            int64_t id = (int64_t)i;
            EXPECT(strcmp(gguf_get_tensor_name(g, id), t->name) == 0, "tensor %zu name '%s' vs '%s'", i, gguf_get_tensor_name(g, id), t->name);
            EXPECT((int)gguf_get_tensor_type(g, id) == t->type, "tensor '%s': type %d vs %d", t->name, (int)gguf_get_tensor_type(g, id), t->type);
            const int64_t *ne = gguf_get_tensor_ne(g, id);
            for (int d = 0; d < 4; d++) {
                uint64_t want = d < t->ndim ? t->shape[t->ndim - 1 - d] : 1;
                EXPECT((uint64_t)ne[d] == want, "tensor '%s': ne[%d] %" PRId64 " vs %" PRIu64, t->name, d, ne[d], want);
            }
            EXPECT(gguf_get_tensor_size(g, id) == t->nbytes, "tensor '%s': size %zu vs %" PRIu64, t->name, gguf_get_tensor_size(g, id), t->nbytes);
            uint64_t abs = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id);
            EXPECT(abs == t->offset, "tensor '%s': offset %" PRIu64 " vs %" PRIu64, t->name, abs, t->offset);
            if (load_data && gctx) {
                struct ggml_tensor *gt = ggml_get_tensor(gctx, t->name);
                uint8_t *x = malloc(t->nbytes);
                EXPECT(gt && ggml_nbytes(gt) == t->nbytes, "tensor '%s' missing in ggml context", t->name);
                if (gt && x && ggml_nbytes(gt) == t->nbytes)
                    EXPECT(lb_tensor_read(m, t, 0, x, t->nbytes, &e) == 0 && memcmp(x, gt->data, t->nbytes) == 0,
                           "tensor '%s': data ggml loaded differs", t->name);
                free(x);
            }
        }
    }
    if (gctx) ggml_free(gctx);
    if (g) gguf_free(g);
    lb_model_close(m);
    report(name, ok);
}

/* ---- the files ------------------------------------------------------------------------------- */

static void roundtrip(const char *tmp, const char *shared, const char *rel)
{
    char in[1024], out[1024], name[256];
    snprintf(in, sizeof in, "%s/%s", shared, rel);
    snprintf(out, sizeof out, "%s/interop-rt.gguf", tmp);
    snprintf(name, sizeof name, "interop round trip %s", strrchr(rel, '/') + 1);
    lb_err e;
    char s[800];
    lb_model *m = NULL;
    lb_err_clear(&e);
    if (access(in, R_OK) != 0) { printf("SKIP %s: needs ../shared/%s\n", name, rel); return; }
    int rc = lb_model_open(&m, in, &e);
    lb_wtensor *wt = NULL;
    if (!rc) {
        wt = calloc(m->n_tensors + 1, sizeof *wt);
        for (size_t i = 0; i < m->n_tensors; i++) {
            wt[i].name = m->tensors[i].name; wt[i].type = m->tensors[i].type; wt[i].ndim = m->tensors[i].ndim;
            memcpy(wt[i].shape, m->tensors[i].shape, sizeof wt[i].shape);
        }
        rc = write_gguf(out, m->kv, m->n_kv, wt, m->n_tensors, m, NULL, &e);
    }
    if (rc) {
        snprintf(why, sizeof why, "lowbit: %s", lb_err_str(&e, s, sizeof s));
        report(name, 0);
    } else {
        check_file(name, out, 1);
    }
    free(wt);
    lb_model_close(m);
    unlink(out);
}

static lb_value vs(int type, uint64_t u) { lb_value v = { .type = type }; v.v.u = u; return v; }
static lb_value vstr(const char *s) { lb_value v = { .type = LB_V_STR, .n = strlen(s) }; v.v.s = strdup(s); return v; }
static lb_value varr(int et, uint64_t n) { lb_value v = { .type = LB_V_ARR, .arr_type = et, .n = n }; v.v.arr = calloc(n + 1, sizeof *v.v.arr); return v; }

static void synthetic(const char *tmp)
{
    lb_model *k = lb_model_new("gguf", "synthetic");   /* a holder for the kv list */
    lb_err e;
    lb_value v;
    v = vs(LB_V_U32, 64);                           lb_model_add_kv(k, "general.alignment", &v, &e);
    v = vstr("llama");                              lb_model_add_kv(k, "general.architecture", &v, &e);
    v = vs(LB_V_U8, 250);                           lb_model_add_kv(k, "x.u8", &v, &e);
    v = vs(LB_V_I8, 0); v.v.i = -128;               lb_model_add_kv(k, "x.i8", &v, &e);
    v = vs(LB_V_U16, 40000);                        lb_model_add_kv(k, "x.u16", &v, &e);
    v = vs(LB_V_I16, 0); v.v.i = -2;                lb_model_add_kv(k, "x.i16", &v, &e);
    v = vs(LB_V_U32, 4000000000u);                  lb_model_add_kv(k, "x.u32", &v, &e);
    v = vs(LB_V_I32, 0); v.v.i = -5;                lb_model_add_kv(k, "x.i32", &v, &e);
    v = vs(LB_V_F32, 0); v.v.f = 1e-5;              lb_model_add_kv(k, "x.f32", &v, &e);
    v = vs(LB_V_BOOL, 1);                           lb_model_add_kv(k, "x.bool", &v, &e);
    v = vstr("tab\there \xe2\x9c\x93");             lb_model_add_kv(k, "x.str", &v, &e);
    v = vs(LB_V_U64, 1ull << 60);                   lb_model_add_kv(k, "x.u64", &v, &e);
    v = vs(LB_V_I64, 0); v.v.i = -(1ll << 50);      lb_model_add_kv(k, "x.i64", &v, &e);
    v = vs(LB_V_F64, 0); v.v.f = 3.141592653589793; lb_model_add_kv(k, "x.f64", &v, &e);
    static const int scal[] = { LB_V_U8, LB_V_I8, LB_V_U16, LB_V_I16, LB_V_U32, LB_V_I32, LB_V_F32,
                                LB_V_BOOL, LB_V_U64, LB_V_I64, LB_V_F64 };
    for (size_t i = 0; i < sizeof scal / sizeof scal[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "x.arr_%s", lb_vtype_name(scal[i]));
        v = varr(scal[i], 5);
        for (int j = 0; j < 5; j++) {
            v.v.arr[j] = vs(scal[i], (uint64_t)(j * 37 + 1));
            if (scal[i] == LB_V_F32 || scal[i] == LB_V_F64) v.v.arr[j].v.f = j * 0.25 - 1;
            if (scal[i] == LB_V_BOOL) v.v.arr[j].v.u = j & 1;
        }
        lb_model_add_kv(k, key, &v, &e);
    }
    v = varr(LB_V_STR, 4);
    v.v.arr[0] = vstr("<s>"); v.v.arr[1] = vstr(""); v.v.arr[2] = vstr("\xe2\x96\x81the"); v.v.arr[3] = vstr("z");
    lb_model_add_kv(k, "x.arr_str", &v, &e);
    v = varr(LB_V_I32, 0);                          lb_model_add_kv(k, "x.arr_empty", &v, &e);

    static const struct { const char *name; int type; int nd; uint64_t shape[4]; } ts[] = {
        { "f32", LB_F32, 2, { 3, 5 } }, { "f16", LB_F16, 1, { 9 } }, { "bf16", LB_BF16, 2, { 2, 2 } },
        { "q4_0", LB_Q4_0, 2, { 3, 64 } }, { "q8_0", LB_Q8_0, 3, { 2, 2, 32 } },
        { "q4_K", LB_Q4_K, 2, { 2, 256 } }, { "q6_K", LB_Q6_K, 4, { 1, 1, 1, 512 } },
        { "iq4_xs", LB_IQ4_XS, 1, { 256 } }, { "iq2_xxs", LB_IQ2_XXS, 1, { 256 } },
        { "i32", LB_I32, 1, { 3 } }, { "f64", LB_F64, 1, { 2 } }, { "tq2_0", LB_TQ2_0, 1, { 256 } },
        { "mxfp4", LB_MXFP4, 1, { 64 } },
    };
    enum { NT = sizeof ts / sizeof ts[0] };
    lb_wtensor wt[NT];
    uint8_t *data[NT];
    uint32_t rng = 2024;
    for (size_t i = 0; i < NT; i++) {
        wt[i] = (lb_wtensor){ ts[i].name, ts[i].type, ts[i].nd, { 0 } };
        memcpy(wt[i].shape, ts[i].shape, sizeof ts[i].shape);
        uint64_t n = 1, nb;
        for (int d = 0; d < ts[i].nd; d++) n *= ts[i].shape[d];
        lb_type_nbytes(ts[i].type, n, &nb);
        data[i] = malloc(nb);
        for (uint64_t j = 0; j < nb; j++) { rng = rng * 1664525u + 1013904223u; data[i][j] = (uint8_t)(rng >> 24); }
    }
    char out[1024], s[800];
    snprintf(out, sizeof out, "%s/interop-synth.gguf", tmp);
    lb_err_clear(&e);
    if (write_gguf(out, k->kv, k->n_kv, wt, NT, NULL, data, &e)) {
        snprintf(why, sizeof why, "lowbit: %s", lb_err_str(&e, s, sizeof s));
        report("interop synthetic: every kv type, 13 tensor types, alignment 64", 0);
    } else {
        check_file("interop synthetic: every kv type, 13 tensor types, alignment 64", out, 1);
    }
    unlink(out);

    /* Arrays of arrays: lowbit reads and writes them, but ggml's reader refuses them. */
    v = varr(LB_V_ARR, 1);
    v.v.arr[0] = varr(LB_V_U8, 1);
    v.v.arr[0].v.arr[0] = vs(LB_V_U8, 1);
    lb_model_add_kv(k, "x.nested", &v, &e);
    if (write_gguf(out, k->kv, k->n_kv, wt, NT, NULL, data, &e) == 0) {
        struct gguf_init_params p = { .no_alloc = 1, .ctx = NULL };
        struct gguf_context *g = gguf_init_from_file(out, p);
        printf("INFO interop: llama.cpp %s a file with an array of arrays (lowbit reads and writes them)\n",
               g ? "accepts" : "refuses");
        if (g) gguf_free(g);
    }
    unlink(out);
    for (size_t i = 0; i < NT; i++) free(data[i]);
    lb_model_close(k);
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: gguf_interop TMPDIR [SHARED]\n"); return 2; }
    if (!getenv("LOWBIT_INTEROP_VERBOSE")) ggml_log_set(quiet_log, NULL);
    synthetic(argv[1]);
    static const char *const files[] = {
        "models/gguf/stories260K.gguf", "models/gguf/tiny-llama-trained-f32.gguf",
        "models/gguf/ggml-vocab-llama-spm.gguf", "models/gguf/ggml-vocab-gpt-2.gguf",
        "models/gguf/ggml-vocab-bert-bge.gguf", "models/imatrix/stories260K-imatrix.gguf", NULL
    };
    if (argc < 3 || !argv[2][0]) {
        printf("SKIP interop round trips of shared GGUFs: needs ../shared (LOWBIT_SHARED)\n");
    } else {
        for (const char *const *f = files; *f; f++) roundtrip(argv[1], argv[2], *f);
    }
    return failed ? 1 : 0;
}
