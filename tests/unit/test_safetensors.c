/* test_safetensors.c: the safetensors reader and writer against every real file in
 * ../shared/models, round trips, and named malformed inputs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_model.h"
#include "lb_safetensors.h"
#include "lb_writer.h"
#include "tap.h"

static char tmp[512];

static const char *errstr(const lb_err *e)
{
    static char buf[1024];
    return lb_err_str(e, buf, sizeof buf);
}

static int write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = b ? fread(b, 1, (size_t)sz, f) : 0;
    fclose(f);
    return b;
}

/* A file: u64 length + hdr + `data` bytes of a pattern. */
static uint8_t *st_make(const char *hdr, size_t data, size_t *n)
{
    size_t h = strlen(hdr);
    *n = 8 + h + data;
    uint8_t *b = malloc(*n ? *n : 1);
    lb_st64(b, h);
    memcpy(b + 8, hdr, h);
    for (size_t i = 0; i < data; i++) b[8 + h + i] = (uint8_t)(i * 7 + 1);
    return b;
}

/* ---- real files ------------------------------------------------------------------- */

typedef struct real { const char *path; uint64_t params, tensors; int type; } real;

static const real reals[] = {
    { "hf/capp-gpt2/model.safetensors", 236224, 52, LB_F32 },
    { "hf/tiny-gpt2-random/model.safetensors", 811520, 16, LB_F32 },
    { "hf/peft-gpt2-lora/adapter_model.safetensors", 299520, 25, LB_F32 },
    { "hf/mlx-lora-discollama/adapters.safetensors", 212992, 8, LB_F32 },
    { "safetensors/torchtune-gemma_hf_checkpoint.safetensors", 65984, 11, LB_F16 },
    { "hf/tiny-llama-trained/model.safetensors", 3410176, 39, LB_F32 },
    { "hf/stories260K-llama/model.safetensors", 0, 0, LB_F32 },
    { "hf/stories260K-llama-bf16-sharded", 0, 0, LB_BF16 },
    { "hf/stories260K-llama-bf16-sharded/model-00001-of-00002.safetensors", 0, 0, LB_BF16 },
    { "hf/stories260K-llama-bf16-sharded/model-00002-of-00002.safetensors", 0, 0, LB_BF16 },
};

static void test_real(const char *shared)
{
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) {
        const real *r = &reals[i];
        char p[1200];
        snprintf(p, sizeof p, "%s/models/%s", shared, r->path);
        tap_begin("read %s", r->path);
        lb_model *m;
        lb_err e;
        lb_err_clear(&e);
        int rc = lb_model_open(&m, p, &e);
        CHECK(rc == LB_OK, "open: %s", errstr(&e));
        if (rc) { tap_end(); continue; }
        lb_totals t = lb_model_totals(m);
        if (r->params) {
            CHECK(t.params == r->params, "params %llu, want %llu", (unsigned long long)t.params,
                  (unsigned long long)r->params);
            CHECK(t.tensors == r->tensors, "tensors %llu, want %llu", (unsigned long long)t.tensors,
                  (unsigned long long)r->tensors);
        }
        int types_ok = 1;
        for (size_t k = 0; k < m->n_tensors; k++) types_ok &= m->tensors[k].type == r->type;
        CHECK(types_ok, "dtype");
        /* every tensor is readable, first and last byte */
        int read_ok = 1;
        for (size_t k = 0; k < m->n_tensors; k++) {
            uint8_t b;
            const lb_tensor *x = &m->tensors[k];
            if (!x->nbytes) continue;
            read_ok &= lb_tensor_read(m, x, 0, &b, 1, &e) == LB_OK;
            read_ok &= lb_tensor_read(m, x, x->nbytes - 1, &b, 1, &e) == LB_OK;
        }
        CHECK(read_ok, "tensor reads: %s", errstr(&e));
        if (strstr(r->path, "capp-gpt2")) {
            const lb_kv *kv = lb_model_kv(m, "format");
            CHECK(kv && kv->val.type == LB_V_STR && strcmp(kv->val.v.s, "pt") == 0, "__metadata__ format=pt");
        }
        if (strstr(r->path, "discollama")) CHECK(m->n_kv == 0, "no metadata");
        if (!strstr(r->path, "sharded")) {
            CHECK(strcmp(m->format, "safetensors") == 0, "format %s", m->format);
            CHECK(m->n_files == 1 && m->files[0].data_start > 8 && m->files[0].data_start % 8 == 0,
                  "data_start %llu", (unsigned long long)m->files[0].data_start);
            CHECK(m->n_tensors == 0 || m->tensors[0].offset >= m->files[0].data_start, "absolute offsets");
        }
        lb_model_close(m);
        tap_end();
    }
}

/* The BF16 shards hold the F32 folder's tensors, rounded to BF16. */
static void test_sharded_vs_f32(const char *shared)
{
    char p32[1200], pbf[1200];
    snprintf(p32, sizeof p32, "%s/models/hf/stories260K-llama", shared);
    snprintf(pbf, sizeof pbf, "%s/models/hf/stories260K-llama-bf16-sharded", shared);
    tap_begin("sharded bf16 set matches the f32 folder");
    lb_model *a = NULL, *b = NULL;
    lb_err e;
    int rc = lb_model_open(&a, p32, &e);
    CHECK(rc == LB_OK, "open f32: %s", errstr(&e));
    if (!rc) rc = lb_model_open(&b, pbf, &e);
    CHECK(rc == LB_OK, "open bf16: %s", errstr(&e));
    if (!rc) {
        CHECK(strcmp(b->format, "safetensors-sharded") == 0, "format %s", b->format);
        CHECK(b->n_files == 2, "%zu files", b->n_files);
        CHECK(a->n_tensors == b->n_tensors && a->n_tensors > 0, "%zu vs %zu tensors", a->n_tensors, b->n_tensors);
        const lb_kv *ts = lb_model_kv(b, "total_size");
        lb_totals tb = lb_model_totals(b);
        CHECK(ts && ts->val.type == LB_V_U64 && ts->val.v.u == tb.bytes, "total_size kv = %llu bytes",
              (unsigned long long)tb.bytes);
        CHECK(lb_model_totals(a).params == tb.params, "params");
        size_t same_shape = 0, rounded = 0, total = 0, in_both_files = 0;
        for (size_t i = 0; i < a->n_tensors; i++) {
            const lb_tensor *x = &a->tensors[i], *y = lb_model_find(b, x->name);
            if (!y) continue;
            in_both_files |= 1u << y->file;
            if (y->type == LB_BF16 && y->ndim == x->ndim &&
                memcmp(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim) == 0)
                same_shape++;
            float *f = malloc(x->nbytes);
            uint8_t *h = malloc(y->nbytes);
            if (f && h && !lb_tensor_read(a, x, 0, f, x->nbytes, &e) && !lb_tensor_read(b, y, 0, h, y->nbytes, &e))
                for (uint64_t k = 0; k < x->nelem; k++, total++) {
                    float v = lb_ldf32((uint8_t *)f + 4 * k);
                    rounded += lb_f32_to_bf16(v) == lb_ld16(h + 2 * k);
                }
            free(f);
            free(h);
        }
        CHECK(same_shape == a->n_tensors, "%zu of %zu tensors with the same name, shape and BF16 dtype",
              same_shape, a->n_tensors);
        CHECK(in_both_files == 3, "tensors come from both shards");
        CHECK(total > 0 && rounded == total, "%zu of %zu values are the f32 values rounded to bf16", rounded, total);
    }
    lb_model_close(a);
    lb_model_close(b);
    tap_end();
}

/* ---- round trip ---------------------------------------------------------------------- */

/* Write m as one safetensors file, streaming the data in odd-sized pieces. String
 * kvs only (safetensors metadata is string -> string). */
static int rewrite(lb_model *m, const char *out_path, lb_err *e)
{
    lb_out *o;
    LB_TRY(lb_out_open(&o, out_path, LB_OUT_FORCE, e));
    lb_wtensor *wt = calloc(m->n_tensors + 1, sizeof *wt);
    lb_kv *kv = calloc(m->n_kv + 1, sizeof *kv);
    size_t nkv = 0;
    for (size_t i = 0; i < m->n_kv; i++)
        if (m->kv[i].val.type == LB_V_STR) kv[nkv++] = m->kv[i];
    for (size_t i = 0; i < m->n_tensors; i++) {
        wt[i].name = m->tensors[i].name;
        wt[i].type = m->tensors[i].type;
        wt[i].ndim = m->tensors[i].ndim;
        memcpy(wt[i].shape, m->tensors[i].shape, sizeof wt[i].shape);
    }
    lb_writer *w;
    int rc = lb_writer_begin(&w, &lb_safetensors_writer_ops, o, kv, nkv, wt, m->n_tensors, e);
    uint8_t buf[4099];
    for (size_t i = 0; !rc && i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        for (uint64_t off = 0; !rc && off < t->nbytes;) {
            size_t k = t->nbytes - off < sizeof buf ? (size_t)(t->nbytes - off) : sizeof buf;
            rc = lb_tensor_read(m, t, off, buf, k, e);
            if (!rc) rc = lb_writer_data(w, buf, k, e);
            off += k;
        }
    }
    if (!rc) rc = lb_writer_end(w, e);
    else lb_writer_abort(w);
    if (!rc) rc = lb_out_commit(o, e);
    else lb_out_abort(o);
    free(wt);
    free(kv);
    return rc;
}

/* Same names, dtypes, shapes, string metadata and bytes, in the same order. */
static int same_model(lb_model *a, lb_model *b, char *why, size_t n)
{
    if (a->n_tensors != b->n_tensors) { snprintf(why, n, "tensor count"); return 0; }
    size_t nstr = 0;
    for (size_t i = 0; i < a->n_kv; i++) {
        if (a->kv[i].val.type != LB_V_STR) continue;
        nstr++;
        const lb_kv *k = lb_model_kv(b, a->kv[i].key);
        if (!k || k->val.type != LB_V_STR || strcmp(k->val.v.s, a->kv[i].val.v.s)) {
            snprintf(why, n, "metadata '%s'", a->kv[i].key);
            return 0;
        }
    }
    if (nstr != b->n_kv) { snprintf(why, n, "metadata count"); return 0; }
    uint8_t *x = malloc(1 << 16), *y = malloc(1 << 16);
    int ok = x && y;
    lb_err e;
    for (size_t i = 0; ok && i < a->n_tensors; i++) {
        const lb_tensor *s = &a->tensors[i], *t = &b->tensors[i];
        if (strcmp(s->name, t->name) || s->type != t->type || s->ndim != t->ndim ||
            memcmp(s->shape, t->shape, sizeof s->shape)) {
            snprintf(why, n, "tensor %zu '%s' differs", i, s->name);
            ok = 0;
            break;
        }
        for (uint64_t off = 0; ok && off < s->nbytes; off += 1 << 16) {
            size_t k = s->nbytes - off < (1 << 16) ? (size_t)(s->nbytes - off) : (1 << 16);
            if (lb_tensor_read(a, s, off, x, k, &e) || lb_tensor_read(b, t, off, y, k, &e) || memcmp(x, y, k)) {
                snprintf(why, n, "data of '%s' differs at %llu", s->name, (unsigned long long)off);
                ok = 0;
            }
        }
    }
    free(x);
    free(y);
    return ok;
}

static void test_roundtrip(const char *shared)
{
    int identical = 0, files = 0;
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) {
        char p[1200], out[1024], why[256] = "";
        snprintf(p, sizeof p, "%s/models/%s", shared, reals[i].path);
        snprintf(out, sizeof out, "%s/rt%zu.safetensors", tmp, i);
        tap_begin("round trip %s", reals[i].path);
        lb_model *a = NULL, *b = NULL;
        lb_err e;
        int rc = lb_model_open(&a, p, &e);
        if (!rc) rc = rewrite(a, out, &e);
        CHECK(rc == LB_OK, "read/write: %s", errstr(&e));
        if (!rc) rc = lb_model_open(&b, out, &e);
        CHECK(rc == LB_OK, "read back: %s", errstr(&e));
        if (!rc) {
            CHECK(same_model(a, b, why, sizeof why), "%s", why);
            CHECK(b->files[0].data_start % 8 == 0, "header padded to a multiple of 8");
            size_t n1, n2;
            uint8_t *x = read_all(out, &n2);
            uint8_t *y = a->n_files == 1 ? read_all(p, &n1) : NULL;
            if (y) {
                int same = n1 == n2 && memcmp(x, y, n1) == 0;
                files++;
                identical += same;
                /* written by HF safetensors: our writer lays it out the same way (MLX
                 * writes "__metadata__": null and another key order) */
                if (!strstr(reals[i].path, "mlx")) CHECK(same, "rewrite is byte-identical to the original");
            }
            free(x);
            free(y);
        }
        lb_model_close(a);
        lb_model_close(b);
        unlink(out);
        tap_end();
    }
    printf("INFO safetensors rewrite is byte-identical to the original for %d of %d single files\n",
           identical, files);
}

/* ---- writer ------------------------------------------------------------------------ */

static void test_writer(void)
{
    char out[1024];
    snprintf(out, sizeof out, "%s/w.safetensors", tmp);
    lb_err e;
    lb_out *o;

    tap_begin("writer refuses GGUF block types, naming the tensor");
    lb_wtensor q = { "blk.0.q", LB_Q4_K, 2, { 4, 256 } };
    lb_writer *w = NULL;
    CHECK(lb_out_open(&o, out, LB_OUT_FORCE, &e) == LB_OK, "open");
    int rc = lb_writer_begin(&w, &lb_safetensors_writer_ops, o, NULL, 0, &q, 1, &e);
    CHECK(rc == LB_EFORMAT && strstr(errstr(&e), "blk.0.q") && strstr(errstr(&e), "q4_K"), "%s", errstr(&e));
    lb_out_abort(o);
    tap_end();

    tap_begin("writer refuses non-string metadata, naming the key");
    lb_wtensor f = { "w", LB_F32, 1, { 2 } };
    lb_kv kv = { "n_layers", { .type = LB_V_U32, .v.u = 4 } };
    CHECK(lb_out_open(&o, out, LB_OUT_FORCE, &e) == LB_OK, "open");
    rc = lb_writer_begin(&w, &lb_safetensors_writer_ops, o, &kv, 1, &f, 1, &e);
    CHECK(rc == LB_EFORMAT && strstr(errstr(&e), "n_layers") && strstr(errstr(&e), "only strings"), "%s", errstr(&e));
    lb_out_abort(o);
    tap_end();

    tap_begin("writer refuses duplicate tensor names");
    lb_wtensor two[2] = { { "w", LB_F32, 1, { 2 } }, { "w", LB_F16, 1, { 2 } } };
    CHECK(lb_out_open(&o, out, LB_OUT_FORCE, &e) == LB_OK, "open");
    rc = lb_writer_begin(&w, &lb_safetensors_writer_ops, o, NULL, 0, two, 2, &e);
    CHECK(rc == LB_EFORMAT && strstr(errstr(&e), "duplicate"), "%s", errstr(&e));
    lb_out_abort(o);
    tap_end();

    tap_begin("writer: exact header, escaping, empty and scalar tensors, all dtypes");
    static const int types[] = { LB_F64, LB_F32, LB_F16, LB_BF16, LB_F8_E4M3, LB_F8_E5M2, LB_I8, LB_I16,
                                  LB_I32, LB_I64, LB_U8, LB_U16, LB_U32, LB_U64, LB_BOOL };
    lb_wtensor ts[17];
    char names[17][32];
    size_t nt = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++, nt++) {
        snprintf(names[nt], sizeof names[nt], "t%zu", i);
        ts[nt] = (lb_wtensor){ names[nt], types[i], 2, { 3, 5 } };
        total += 15 * lb_type_get(types[i])->type_size;
    }
    ts[nt++] = (lb_wtensor){ "empty \"q\"\n\\", LB_F32, 2, { 0, 7 } };
    ts[nt++] = (lb_wtensor){ "scalar", LB_F32, 0, { 0 } };
    total += 4;
    lb_kv md = { "note", { .type = LB_V_STR, .n = 5, .v.s = "h\"i\t" } };
    md.val.n = strlen(md.val.v.s);
    CHECK(lb_out_open(&o, out, LB_OUT_FORCE, &e) == LB_OK, "open");
    rc = lb_writer_begin(&w, &lb_safetensors_writer_ops, o, &md, 1, ts, nt, &e);
    CHECK(rc == LB_OK, "begin: %s", errstr(&e));
    for (uint64_t k = 0; !rc && k < total; k++) {
        uint8_t b = (uint8_t)(k * 13);
        rc = lb_writer_data(w, &b, 1, &e);
    }
    uint8_t extra = 0;
    CHECK(!rc && lb_writer_data(w, &extra, 1, &e) == LB_EUSAGE, "more data than declared is refused");
    if (!rc) rc = lb_writer_end(w, &e);
    if (!rc) rc = lb_out_commit(o, &e);
    else lb_out_abort(o);
    CHECK(rc == LB_OK, "write: %s", errstr(&e));
    size_t n;
    uint8_t *file = read_all(out, &n);
    uint64_t h = file && n >= 8 ? lb_ld64(file) : 0;
    CHECK(file && h % 8 == 0 && 8 + h + total == n, "length field %llu, file %zu", (unsigned long long)h, n);
    CHECK(file && memcmp(file + 8, "{\"__metadata__\":{\"note\":\"h\\\"i\\t\"},\"t0\":{\"dtype\":\"F64\","
                         "\"shape\":[3,5],\"data_offsets\":[0,120]}", 91) == 0, "header text");
    free(file);
    lb_model *m = NULL;
    rc = lb_model_open(&m, out, &e);
    CHECK(rc == LB_OK, "read back: %s", errstr(&e));
    if (!rc) {
        const lb_tensor *em = lb_model_find(m, "empty \"q\"\n\\"), *sc = lb_model_find(m, "scalar");
        CHECK(m->n_tensors == nt && em && em->nbytes == 0 && sc && sc->ndim == 0 && sc->nbytes == 4,
              "escaped, empty and scalar tensors");
        int ok = 1;
        for (size_t i = 0; i < sizeof types / sizeof *types; i++) ok &= m->tensors[i].type == types[i];
        CHECK(ok, "every dtype kept");
        const lb_kv *k = lb_model_kv(m, "note");
        CHECK(k && strcmp(k->val.v.s, "h\"i\t") == 0, "metadata");
        uint8_t b;
        CHECK(lb_tensor_read(m, sc, 3, &b, 1, &e) == 0 && b == (uint8_t)((total - 1) * 13), "last byte");
    }
    lb_model_close(m);
    unlink(out);
    tap_end();

    tap_begin("writer: no tensors, metadata only");
    CHECK(lb_out_open(&o, out, LB_OUT_FORCE, &e) == LB_OK, "open");
    rc = lb_writer_begin(&w, &lb_safetensors_writer_ops, o, &md, 1, NULL, 0, &e);
    if (!rc) rc = lb_writer_end(w, &e);
    if (!rc) rc = lb_out_commit(o, &e);
    else lb_out_abort(o);
    m = NULL;
    if (!rc) rc = lb_model_open(&m, out, &e);
    CHECK(rc == LB_OK && m->n_tensors == 0 && m->n_kv == 1, "%s", errstr(&e));
    lb_model_close(m);
    unlink(out);
    tap_end();
}

/* The writer never seeks: write to a pipe (stdout of a child) and read the result back. */
static void test_pipe(void)
{
    tap_begin("writer streams to a pipe");
    int fd[2];
    CHECK(pipe(fd) == 0, "pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        lb_out *o;
        lb_writer *w;
        lb_err e;
        lb_wtensor t[2] = { { "a", LB_F32, 2, { 3, 1000 } }, { "b", LB_U8, 1, { 5 } } };
        lb_kv kv = { "format", { .type = LB_V_STR, .n = 2, .v.s = "pt" } };
        int rc = lb_out_open(&o, "-", 0, &e);
        if (!rc && lb_out_seekable(o)) rc = 1;
        if (!rc) rc = lb_writer_begin(&w, &lb_safetensors_writer_ops, o, &kv, 1, t, 2, &e);
        for (int i = 0; !rc && i < 12005; i++) {
            uint8_t b = (uint8_t)i;
            rc = lb_writer_data(w, &b, 1, &e);
        }
        if (!rc) rc = lb_writer_end(w, &e);
        if (!rc) rc = lb_out_commit(o, &e);
        _exit(rc ? 1 : 0);
    }
    close(fd[1]);
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(fd[0], buf + n, cap - n)) > 0) n += (size_t)r;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child writer failed");
    lb_model *m = NULL;
    lb_err e;
    int rc = lb_model_open_mem(&m, buf, n, "safetensors", &e);
    CHECK(rc == LB_OK, "read back: %s", errstr(&e));
    if (!rc) {
        uint8_t b;
        const lb_tensor *t = lb_model_find(m, "b");
        CHECK(m->n_tensors == 2 && t && t->nbytes == 5, "tensors");
        CHECK(t && lb_tensor_read(m, t, 4, &b, 1, &e) == 0 && b == (uint8_t)12004, "data");
        CHECK(lb_model_kv(m, "format") != NULL, "metadata");
    }
    lb_model_close(m);
    free(buf);
    tap_end();
}

/* ---- malformed ------------------------------------------------------------------------ */

#define T1 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"

typedef struct bad { const char *name, *hdr; size_t data; const char *want; } bad;

static const bad bads[] = {
    { "header not JSON", "{\"a\":", 0, "not valid JSON" },
    { "header JSON is an array", "[1,2]   ", 0, "not an object" },
    { "header JSON is a string", "\"abc\"", 0, "not an object" },
    { "data after the JSON object", "{} x", 0, "data after the JSON object" },
    { "tensor entry not an object", "{\"a\":5}", 0, "not an object" },
    { "tensor entry is an array", "{\"a\":[1]}", 0, "not an object" },
    { "unknown dtype", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'Q4'" },
    { "lowercase dtype", "{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype" },
    { "dtype not a string", "{\"a\":{\"dtype\":1,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype is a number" },
    { "missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing dtype" },
    { "missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing shape" },
    { "missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing data_offsets" },
    { "shape not an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "shape is a number" },
    { "data_offsets of 3", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", 8, "[begin, end]" },
    { "negative offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "-8 is negative" },
    { "negative zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-0,0]}}", 0, "negative" },
    { "fractional offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}}", 8, "8.0 is not an integer" },
    { "exponent offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8e0]}}", 8, "not an integer" },
    { "rounds-to-integer offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,7.99999999999999999999]}}", 8, "not an integer" },
    { "leading zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,08]}}", 8, "leading zero" },
    { "fractional shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, "shape value 1.5 is not an integer" },
    { "negative shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape value -2 is negative" },
    { "2^53+1 offset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,9007199254740993]}}", 8, "9007199254740993 exceeds 2^53" },
    { "2^53+1 shape, zero elements", "{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740993,0],\"data_offsets\":[0,0]}}", 0, "9007199254740993 exceeds 2^53" },
    { "huge shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999999999],\"data_offsets\":[0,8]}}", 8, "exceeds 2^53" },
    { "element count overflows", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "overflows" },
    { "9 dimensions", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, "9 dimensions" },
    { "offsets past EOF", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past end of file" },
    { "begin > end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, "begin 8 is after end 0" },
    { "overlapping", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps tensor 'a'" },
    { "size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8 bytes" },
    { "gap in data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "belong to no tensor" },
    { "bytes after the last tensor", T1, 12, "after the last tensor" },
    { "duplicate tensor names", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate tensor name" },
    { "duplicate field", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "duplicate key 'dtype'" },
    { "metadata value not a string", "{\"__metadata__\":{\"k\":1}}", 0, "not a string" },
    { "metadata not an object", "{\"__metadata__\":\"pt\"}", 0, "not an object of strings" },
    { "duplicate metadata key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate key 'k'" },
    { "invalid UTF-8", "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "invalid UTF-8" },
    { "overlong UTF-8", "{\"a\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "invalid UTF-8" },
    { "UTF-8 surrogate", "{\"a\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "invalid UTF-8" },
    { "raw control character", "{\"a\tb\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "control character" },
    { "control character as whitespace", "{\x01}", 0, "control character" },
    { "\\u0000 in a name", "{\"a\\u0000\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "\\u0000" },
    { "nested too deep", "{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0, "nested too deeply" },
    { "header length 1", "{", 0, "too small" },
    { "header all spaces", "        ", 0, "not valid JSON" },
};

static void expect_bad(const char *name, const uint8_t *buf, size_t n, const char *want)
{
    tap_begin("malformed: %s", name);
    lb_model *m = NULL;
    lb_err e;
    lb_err_clear(&e);
    int rc = lb_model_open_mem(&m, buf, n, "safetensors", &e);
    CHECK(rc == LB_EFORMAT, "rc %d (%s)", rc, errstr(&e));
    CHECK(m == NULL, "no model on failure");
    CHECK(strstr(errstr(&e), want) != NULL, "message '%s' lacks '%s'", errstr(&e), want);
    lb_model_close(m);
    tap_end();
}

static void test_malformed(void)
{
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
        size_t n;
        uint8_t *b = st_make(bads[i].hdr, bads[i].data, &n);
        expect_bad(bads[i].name, b, n, bads[i].want);
        free(b);
    }
    /* truncation at each boundary of a valid file */
    size_t n;
    uint8_t *b = st_make(T1, 8, &n);
    size_t h = strlen(T1);
    expect_bad("truncated in the length field", b, 5, "shorter than the 8-byte");
    expect_bad("truncated to the length field", b, 8, "runs past end of file");
    expect_bad("truncated in the header", b, 8 + h / 2, "runs past end of file");
    expect_bad("truncated before the data", b, 8 + h, "past end of file");
    expect_bad("truncated in the data", b, n - 1, "past end of file");
    expect_bad("empty file", b, 0, "shorter than the 8-byte");
    lb_st64(b, (uint64_t)n);
    expect_bad("header length > file", b, n, "runs past end of file");
    lb_st64(b, 100000001);
    expect_bad("header length > 100 MB", b, n, "exceeds the 100000000-byte limit");
    lb_st64(b, UINT64_MAX);
    expect_bad("header length 2^64-1", b, n, "exceeds the 100000000-byte limit");
    lb_st64(b, 100000000);
    expect_bad("header length 100 MB, short file", b, n, "runs past end of file");
    lb_st64(b, h);
    tap_begin("valid base case opens and reads absolute offsets");
    lb_model *m = NULL;
    lb_err e;
    int rc = lb_model_open_mem(&m, b, n, "safetensors", &e);
    CHECK(rc == LB_OK, "%s", errstr(&e));
    CHECK(rc || (m->n_tensors == 1 && m->tensors[0].offset == 8 + h && m->files[0].data_start == 8 + h), "offset");
    lb_model_close(m);
    CHECK(lb_safetensors_bid(b, n, n) > 0, "bid accepts it");
    CHECK(lb_safetensors_bid(b, 8, n) == 0, "bid needs the first header byte");
    rc = lb_model_open_mem(&m, b, n, NULL, &e);
    CHECK(rc == LB_OK && strcmp(m->format, "safetensors") == 0, "detected by content: %s", errstr(&e));
    lb_model_close(m);
    tap_end();
    free(b);

    static const char *const goods[] = {
        "{}",
        "{\"__metadata__\":{}}     ",
        "{\"__metadata__\":null}",
        "  {\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}\n",
        "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},\"a\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[0,4]},\"x\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0],\"extra\":[1.5,{\"k\":null}]}}",
        "{\"caf\xc3\xa9 \\u00e9\\ud83d\\ude00\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}",
    };
    for (size_t i = 0; i < sizeof goods / sizeof *goods; i++) {
        tap_begin("valid edge case %zu", i);
        int data = strstr(goods[i], "data_offsets") ? 4 : 0;
        b = st_make(goods[i], (size_t)data, &n);
        rc = lb_model_open_mem(&m, b, n, "safetensors", &e);
        CHECK(rc == LB_OK, "%s", errstr(&e));
        lb_model_close(m);
        free(b);
        tap_end();
    }

    tap_begin("malformed inputs keep memory bounded");
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    CHECK(ru.ru_maxrss < 256 * 1024, "peak RSS %ld KiB", ru.ru_maxrss);
    tap_end();
}

/* ---- sharded sets -------------------------------------------------------------------- */

static void put(const char *dir, const char *name, const char *hdr, size_t data)
{
    char p[1024];
    size_t n;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (!hdr) return;
    uint8_t *b = st_make(hdr, data, &n);
    write_file(p, b, n);
    free(b);
}

static void put_text(const char *dir, const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_file(p, text, strlen(text));
}

#define SA "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"
#define SB "{\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}"
#define SAC "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"c\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[8,9]}}"

typedef struct shard_case { const char *name, *index, *s1, *s2, *want; } shard_case;

static const shard_case shard_cases[] = {
    { "shard missing", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"gone.safetensors\"}}", SA, NULL,
      "shard 'gone.safetensors': missing (the index maps tensor 'b' to it)" },
    { "tensor mapped to a shard that lacks it", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"z\":\"s2.safetensors\"}}", SA, SB,
      "tensor 'z': the index maps it to shard 's2.safetensors', which does not hold it" },
    { "tensor mapped to the wrong shard", "{\"weight_map\":{\"a\":\"s2.safetensors\",\"b\":\"s1.safetensors\"}}", SA, SB,
      "tensor 'a': the index maps it to shard 's2.safetensors', which does not hold it (it is in 's1.safetensors')" },
    { "index not JSON", "{\"weight_map\":{\"a\":\"s1.safetensors\",", SA, SB, "index is not valid JSON" },
    { "index without weight_map", "{\"metadata\":{}}", SA, SB, "no weight_map" },
    { "../ shard name", "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}", SA, SB, "plain file name" },
    { "absolute shard name", "{\"weight_map\":{\"a\":\"/etc/passwd\"}}", SA, SB, "plain file name" },
    { "shard name not a string", "{\"weight_map\":{\"a\":1}}", SA, SB, "not a shard file name" },
    { "tensor in two shards", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}", SA, SA,
      "duplicate tensor name" },
    { "duplicate weight_map key", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"a\":\"s2.safetensors\"}}", SA, SB,
      "duplicate key 'a'" },
    { "malformed shard", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}", SA,
      "{\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,5]}}", "shard 's2.safetensors'" },
};

static void test_sharded_malformed(void)
{
    char dir[600];
    for (size_t i = 0; i < sizeof shard_cases / sizeof *shard_cases; i++) {
        const shard_case *c = &shard_cases[i];
        snprintf(dir, sizeof dir, "%s/sh%zu", tmp, i);
        mkdir(dir, 0755);
        put_text(dir, "model.safetensors.index.json", c->index);
        put(dir, "s1.safetensors", c->s1, 8);
        put(dir, "s2.safetensors", c->s2, c->s2 && strstr(c->s2, "F16") ? 4 : 8);
        tap_begin("sharded malformed: %s", c->name);
        lb_model *m = NULL;
        lb_err e;
        lb_err_clear(&e);
        int rc = lb_model_open(&m, dir, &e);
        CHECK(rc == LB_EFORMAT && !m, "rc %d (%s)", rc, errstr(&e));
        CHECK(strstr(errstr(&e), c->want) != NULL, "message '%s' lacks '%s'", errstr(&e), c->want);
        lb_model_close(m);
        tap_end();
    }

    tap_begin("sharded: a tensor in a shard but not in the index is included");
    snprintf(dir, sizeof dir, "%s/shok", tmp);
    mkdir(dir, 0755);
    put_text(dir, "model.safetensors.index.json",
             "{\"metadata\":{\"total_size\":13,\"note\":\"x\",\"ratio\":0.5,\"flag\":true,\"skip\":[1]},"
             "\"weight_map\":{\"b\":\"s2.safetensors\",\"a\":\"s1.safetensors\"}}");
    put(dir, "s1.safetensors", SAC, 9);
    put(dir, "s2.safetensors", SB, 4);
    lb_model *m = NULL;
    lb_err e;
    int rc = lb_model_open(&m, dir, &e);
    CHECK(rc == LB_OK, "%s", errstr(&e));
    if (!rc) {
        CHECK(m->n_tensors == 3 && lb_model_find(m, "c") && lb_model_find(m, "c")->file == 0, "c included");
        CHECK(strcmp(m->tensors[0].name, "a") == 0 && m->tensors[2].file == 1, "shard order by name");
        const lb_kv *k = lb_model_kv(m, "total_size");
        CHECK(k && k->val.type == LB_V_U64 && k->val.v.u == 13, "total_size");
        k = lb_model_kv(m, "ratio");
        CHECK(k && k->val.type == LB_V_F64 && k->val.v.f == 0.5, "ratio");
        CHECK(lb_model_kv(m, "note") && lb_model_kv(m, "flag") && !lb_model_kv(m, "skip"), "kvs");
        uint8_t x[4];
        CHECK(lb_tensor_read(m, lb_model_find(m, "b"), 0, x, 4, &e) == 0 && x[0] == 1 && x[1] == 8, "shard data");
    }
    lb_model_close(m);
    tap_end();
}

int main(void)
{
    const char *t = getenv("LOWBIT_TMP");
    snprintf(tmp, sizeof tmp, "%s/st-XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(tmp)) { printf("FAIL setup: mkdtemp\n"); return 1; }
    test_malformed();
    test_sharded_malformed();
    test_writer();
    test_pipe();
    const char *shared = tap_shared();
    if (shared) {
        test_real(shared);
        test_sharded_vs_f32(shared);
        test_roundtrip(shared);
    } else {
        tap_skip("real safetensors files", "../shared not found (set LOWBIT_SHARED)");
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("INFO could not remove %s\n", tmp);
    TAP_EXIT();
}
