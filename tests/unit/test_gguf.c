/* test_gguf.c: the GGUF reader and writer: real files from ../shared, round trips
 * (file and pipe), writer refusals, and named malformed inputs built in memory. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

#include "lb_dtype.h"
#include "lb_gguf.h"
#include "lb_le.h"
#include "lb_model.h"
#include "lb_writer.h"

static char tmpdir[512];

/* ---- a byte builder for GGUF files in memory ---------------------------------------- */

typedef struct buf { uint8_t *p; size_t n, cap; } buf;

static void b_put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n) c *= 2;
        b->p = realloc(b->p, c);
        if (!b->p) abort();
        b->cap = c;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void b_u8(buf *b, uint8_t v) { b_put(b, &v, 1); }
static void b_u32(buf *b, uint32_t v) { uint8_t x[4]; lb_st32(x, v); b_put(b, x, 4); }
static void b_u64(buf *b, uint64_t v) { uint8_t x[8]; lb_st64(x, v); b_put(b, x, 8); }
static void b_str(buf *b, const char *s) { b_u64(b, strlen(s)); b_put(b, s, strlen(s)); }
static void b_hdr(buf *b, uint32_t version, uint64_t n_t, uint64_t n_kv)
{
    b_put(b, "GGUF", 4); b_u32(b, version); b_u64(b, n_t); b_u64(b, n_kv);
}
static void b_kv_str(buf *b, const char *k, const char *v) { b_str(b, k); b_u32(b, LB_V_STR); b_str(b, v); }
static void b_kv_u32(buf *b, const char *k, uint32_t v) { b_str(b, k); b_u32(b, LB_V_U32); b_u32(b, v); }
/* A tensor info with ne[] given innermost first, as on disk. */
static void b_tinfo(buf *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off)
{
    b_str(b, name); b_u32(b, nd);
    for (uint32_t i = 0; i < nd; i++) b_u64(b, ne[i]);
    b_u32(b, type); b_u64(b, off);
}
static void b_pad(buf *b, size_t a) { while (b->n % a) b_u8(b, 0); }
static void b_zeros(buf *b, size_t n) { while (n--) b_u8(b, 0); }

/* The valid base file the malformed cases start from; records section boundaries. */
typedef struct layout { size_t after_magic, after_version, after_counts, after_kv0, mid_kv1,
                        after_kvs, mid_tinfo, after_tinfos, data_start, mid_data, end; } layout;

static buf base_file(layout *L)
{
    buf b = { 0 };
    uint64_t ne_a[2] = { 3, 2 }, ne_b[1] = { 32 };
    b_put(&b, "GGUF", 4); L->after_magic = b.n;
    b_u32(&b, 3); L->after_version = b.n;
    b_u64(&b, 2); b_u64(&b, 2); L->after_counts = b.n;
    b_kv_str(&b, "general.architecture", "llama"); L->after_kv0 = b.n;
    L->mid_kv1 = b.n + 10;
    b_kv_u32(&b, "general.alignment", 32); L->after_kvs = b.n;
    b_tinfo(&b, "a", 2, ne_a, LB_F32, 0);
    L->mid_tinfo = b.n + 5;
    b_tinfo(&b, "b", 1, ne_b, LB_Q8_0, 32);
    L->after_tinfos = b.n;
    b_pad(&b, 32); L->data_start = b.n;
    for (int i = 0; i < 24; i++) b_u8(&b, (uint8_t)i);
    b_zeros(&b, 8);
    L->mid_data = b.n + 10;
    for (int i = 0; i < 34; i++) b_u8(&b, (uint8_t)(100 + i));
    L->end = b.n;
    return b;
}

/* ---- helpers -------------------------------------------------------------------------- */

static int open_mem(lb_model **m, const buf *b, lb_err *e)
{
    lb_err_clear(e);
    return lb_model_open_mem(m, b->p, b->n, "gguf", e);
}

/* One named malformed case: must fail with LB_EFORMAT and a message containing want. */
static void expect_bad(const char *name, const buf *b, const char *want)
{
    lb_model *m = NULL;
    lb_err e;
    char s[800];
    tap_begin("malformed: %s", name);
    int rc = open_mem(&m, b, &e);
    lb_err_str(&e, s, sizeof s);
    CHECK(rc == LB_EFORMAT, "rc %d (want %d): %s", rc, LB_EFORMAT, s);
    CHECK(m == NULL, "model returned on error");
    CHECK(strstr(s, want) != NULL, "message '%s' lacks '%s'", s, want);
    lb_model_close(m);
    tap_end();
}

static int value_eq(const lb_value *a, const lb_value *b)
{
    if (a->type != b->type || a->n != b->n) return 0;
    switch (a->type) {
    case LB_V_STR: return memcmp(a->v.s, b->v.s, (size_t)a->n + 1) == 0;
    case LB_V_ARR:
        if (a->arr_type != b->arr_type) return 0;
        for (uint64_t i = 0; i < a->n; i++)
            if (!value_eq(&a->v.arr[i], &b->v.arr[i])) return 0;
        return 1;
    case LB_V_F32: case LB_V_F64: return memcmp(&a->v.f, &b->v.f, sizeof a->v.f) == 0;
    default: return a->v.u == b->v.u;
    }
}

/* Write model m (kv and tensors) to an open output. */
static int write_model(lb_model *m, lb_out *out, lb_err *e)
{
    lb_wtensor *wt = calloc(m->n_tensors + 1, sizeof *wt);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        wt[i].name = t->name; wt[i].type = t->type; wt[i].ndim = t->ndim;
        memcpy(wt[i].shape, t->shape, sizeof t->shape);
    }
    lb_writer *w;
    int rc = lb_writer_begin(&w, &lb_gguf_writer_ops, out, m->kv, m->n_kv, wt, m->n_tensors, e);
    static uint8_t chunk[70000];
    for (size_t i = 0; !rc && i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        for (uint64_t off = 0; !rc && off < t->nbytes; off += sizeof chunk) {
            size_t k = t->nbytes - off < sizeof chunk ? (size_t)(t->nbytes - off) : sizeof chunk;
            rc = lb_tensor_read(m, t, off, chunk, k, e);
            if (!rc) rc = lb_writer_data(w, chunk, k, e);
        }
    }
    if (!rc) rc = lb_writer_end(w, e);
    else lb_writer_abort(w);
    free(wt);
    return rc;
}

static int write_file(lb_model *m, const char *path, lb_err *e)
{
    lb_out *out;
    LB_TRY(lb_out_open(&out, path, LB_OUT_FORCE, e));
    int rc = write_model(m, out, e);
    if (rc) { lb_out_abort(out); return rc; }
    return lb_out_commit(out, e);
}

/* Compare two models: kv (keys, types, values) and tensors (names, types, shapes, data). */
static void compare_models(lb_model *a, lb_model *b)
{
    CHECK(a->n_kv == b->n_kv, "kv count %zu vs %zu", a->n_kv, b->n_kv);
    for (size_t i = 0; i < a->n_kv && i < b->n_kv; i++) {
        CHECK(strcmp(a->kv[i].key, b->kv[i].key) == 0, "key %zu: %s vs %s", i, a->kv[i].key, b->kv[i].key);
        CHECK(value_eq(&a->kv[i].val, &b->kv[i].val), "value of %s differs", a->kv[i].key);
    }
    CHECK(a->alignment == b->alignment, "alignment %" PRIu64 " vs %" PRIu64, a->alignment, b->alignment);
    CHECK(a->n_tensors == b->n_tensors, "tensor count %zu vs %zu", a->n_tensors, b->n_tensors);
    static uint8_t x[65536], y[65536];
    for (size_t i = 0; i < a->n_tensors && i < b->n_tensors; i++) {
        const lb_tensor *s = &a->tensors[i], *t = &b->tensors[i];
        CHECK(strcmp(s->name, t->name) == 0, "tensor %zu name %s vs %s", i, s->name, t->name);
        CHECK(s->type == t->type && s->ndim == t->ndim && s->nbytes == t->nbytes,
              "tensor %s: type/ndim/nbytes differ", s->name);
        CHECK(memcmp(s->shape, t->shape, sizeof s->shape) == 0, "tensor %s: shape differs", s->name);
        CHECK(t->offset % b->alignment == 0, "tensor %s: offset %" PRIu64 " unaligned", t->name, t->offset);
        int same = s->nbytes == t->nbytes;
        lb_err e;
        for (uint64_t off = 0; same && off < s->nbytes; off += sizeof x) {
            size_t k = s->nbytes - off < sizeof x ? (size_t)(s->nbytes - off) : sizeof x;
            same = !lb_tensor_read(a, s, off, x, k, &e) && !lb_tensor_read(b, t, off, y, k, &e) &&
                   memcmp(x, y, k) == 0;
        }
        CHECK(same, "tensor %s: data differs", s->name);
    }
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(sz > 0 ? (size_t)sz : 1);
    *n = fread(p, 1, (size_t)sz, f);
    fclose(f);
    return p;
}

/* ---- real files ------------------------------------------------------------------------- */

static const char *const shared_files[] = {
    "models/gguf/stories260K.gguf", "models/gguf/tiny-llama-trained-f32.gguf",
    "models/gguf/ggml-vocab-llama-spm.gguf", "models/gguf/ggml-vocab-gpt-2.gguf",
    "models/gguf/ggml-vocab-bert-bge.gguf", "models/imatrix/stories260K-imatrix.gguf", NULL
};

static lb_model *open_shared(const char *sh, const char *rel, lb_err *e)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", sh, rel);
    lb_model *m = NULL;
    lb_err_clear(e);
    if (lb_model_open(&m, p, e)) return NULL;
    return m;
}

static void test_real(const char *sh)
{
    lb_err e;
    char s[800];
    tap_begin("read stories260K.gguf");
    lb_model *m = open_shared(sh, "models/gguf/stories260K.gguf", &e);
    CHECK(m, "open: %s", lb_err_str(&e, s, sizeof s));
    if (m) {
        lb_totals t = lb_model_totals(m);
        CHECK(strcmp(m->format, "gguf") == 0, "format %s", m->format);
        CHECK(m->version == 3 && m->alignment == 32, "version %u alignment %" PRIu64, m->version, m->alignment);
        CHECK(t.tensors == 48, "%" PRIu64 " tensors", t.tensors);
        CHECK(t.params == 292800, "%" PRIu64 " elements", t.params);
        CHECK(t.bytes == 4 * 292800, "%" PRIu64 " bytes", t.bytes);
        const lb_kv *kv = lb_model_kv(m, "general.architecture");
        CHECK(kv && kv->val.type == LB_V_STR && strcmp(kv->val.v.s, "llama") == 0, "architecture");
        kv = lb_model_kv(m, "tokenizer.ggml.tokens");
        CHECK(kv && kv->val.type == LB_V_ARR && kv->val.arr_type == LB_V_STR && kv->val.n == 512, "tokens");
        const lb_tensor *te = lb_model_find(m, "token_embd.weight");
        CHECK(te && te->ndim == 2 && te->shape[0] == 512 && te->shape[1] == 64 && te->type == LB_F32,
              "token_embd.weight shape (outermost first)");
        CHECK(m->files[0].data_start % 32 == 0, "data_start %" PRIu64, m->files[0].data_start);
        int inside = 1;
        for (size_t i = 0; i < m->n_tensors; i++)
            inside &= m->tensors[i].offset >= m->files[0].data_start &&
                      m->tensors[i].offset + m->tensors[i].nbytes <= 1185376 &&
                      m->tensors[i].offset % 32 == 0;
        CHECK(inside, "absolute offsets inside the data section and aligned");
        float f[4];
        CHECK(te && lb_tensor_read(m, te, 0, f, sizeof f, &e) == 0 && f[0] == f[0], "read data");
    }
    lb_model_close(m);
    tap_end();

    static const struct { const char *file; const char *model; uint64_t ntok; } vocab[] = {
        { "models/gguf/ggml-vocab-llama-spm.gguf", "llama", 32000 },
        { "models/gguf/ggml-vocab-gpt-2.gguf", "gpt2", 50257 },
        { "models/gguf/ggml-vocab-bert-bge.gguf", "bert", 30522 },
    };
    for (size_t i = 0; i < sizeof vocab / sizeof vocab[0]; i++) {
        tap_begin("read vocab-only %s", strrchr(vocab[i].file, '/') + 1);
        m = open_shared(sh, vocab[i].file, &e);
        CHECK(m, "open: %s", lb_err_str(&e, s, sizeof s));
        if (m) {
            CHECK(m->n_tensors == 0, "%zu tensors", m->n_tensors);
            CHECK(m->files[0].data_start >= lb_src_size(m->files[0].src), "data offset past EOF is accepted");
            const lb_kv *kv = lb_model_kv(m, "tokenizer.ggml.tokens");
            CHECK(kv && kv->val.type == LB_V_ARR && kv->val.arr_type == LB_V_STR && kv->val.n == vocab[i].ntok,
                  "token array of %" PRIu64 " strings", vocab[i].ntok);
            kv = lb_model_kv(m, "tokenizer.ggml.model");
            CHECK(kv && kv->val.type == LB_V_STR && strcmp(kv->val.v.s, vocab[i].model) == 0, "tokenizer model");
        }
        lb_model_close(m);
        tap_end();
    }

    tap_begin("read tiny-llama-trained-f32.gguf");
    m = open_shared(sh, "models/gguf/tiny-llama-trained-f32.gguf", &e);
    CHECK(m, "open: %s", lb_err_str(&e, s, sizeof s));
    if (m) {
        lb_totals t = lb_model_totals(m);
        CHECK(t.tensors == 39 && t.params == 3410176, "%" PRIu64 " tensors, %" PRIu64 " params", t.tensors, t.params);
    }
    lb_model_close(m);
    tap_end();
}

static void test_roundtrips(const char *sh)
{
    for (const char *const *f = shared_files; *f; f++) {
        lb_err e;
        char s[800], out[1024];
        tap_begin("round trip %s", strrchr(*f, '/') + 1);
        lb_model *a = open_shared(sh, *f, &e), *b = NULL;
        CHECK(a, "open: %s", lb_err_str(&e, s, sizeof s));
        snprintf(out, sizeof out, "%s/rt.gguf", tmpdir);
        if (a) {
            int rc = write_file(a, out, &e);
            CHECK(rc == 0, "write: %s", lb_err_str(&e, s, sizeof s));
            rc = rc ? rc : lb_model_open(&b, out, &e);
            CHECK(rc == 0, "reread: %s", lb_err_str(&e, s, sizeof s));
            if (b) {
                CHECK(b->version == 3, "written version %u", b->version);
                compare_models(a, b);
                /* llama.cpp's files come back byte for byte; vocab-only files written by
                 * gguf-py lack the final header padding, which we add */
                char in[1024];
                size_t n1 = 0, n2 = 0;
                snprintf(in, sizeof in, "%s/%s", sh, *f);
                uint8_t *x = slurp(in, &n1), *y = slurp(out, &n2);
                int same = x && y && n2 >= n1 && n2 - n1 < 32 && memcmp(x, y, n1) == 0;
                for (size_t k = n1; same && k < n2; k++) same = y[k] == 0;
                CHECK(same, "output (%zu bytes) is not the input (%zu bytes) byte for byte", n2, n1);
                if (a->n_tensors) CHECK(n1 == n2, "size %zu vs %zu", n2, n1);
                free(x);
                free(y);
            }
        }
        lb_model_close(a);
        lb_model_close(b);
        unlink(out);
        tap_end();
    }
}

/* The same model written to a pipe (lb_out_open("-") in a child whose stdout is the pipe)
 * gives the same bytes as written to a file. */
static void test_pipe(const char *sh)
{
    lb_err e;
    char s[800], out[1024];
    tap_begin("write to a pipe gives the same bytes as to a file");
    lb_model *a = open_shared(sh, "models/gguf/stories260K.gguf", &e);
    CHECK(a, "open: %s", lb_err_str(&e, s, sizeof s));
    if (!a) { tap_end(); return; }
    snprintf(out, sizeof out, "%s/pipe-ref.gguf", tmpdir);
    CHECK(write_file(a, out, &e) == 0, "write file: %s", lb_err_str(&e, s, sizeof s));
    int fd[2];
    CHECK(pipe(fd) == 0, "pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        close(fd[1]);
        lb_out *o;
        int rc = lb_out_open(&o, "-", 0, &e);
        if (!rc && lb_out_seekable(o)) rc = 99;      /* a pipe must not look seekable */
        if (!rc) rc = write_model(a, o, &e);
        if (!rc) rc = lb_out_commit(o, &e);
        _exit(rc);
    }
    close(fd[1]);
    size_t cap = 1 << 21, n = 0;
    uint8_t *got = malloc(cap);
    for (;;) {
        if (n == cap) got = realloc(got, cap *= 2);
        ssize_t r = read(fd[0], got + n, cap - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    size_t fn = 0;
    uint8_t *want = slurp(out, &fn);
    CHECK(want && fn == n && memcmp(want, got, n) == 0, "pipe gave %zu bytes, file %zu (or they differ)", n, fn);
    free(want);
    free(got);
    unlink(out);
    lb_model_close(a);
    tap_end();
}

/* ---- synthetic: every kv type, nested arrays, quantized tensors, alignment 64 ------------------- */

static lb_value vscalar(int type, uint64_t u) { lb_value v = { .type = type }; v.v.u = u; return v; }
static lb_value vstr(const char *s) { lb_value v = { .type = LB_V_STR, .n = strlen(s) }; v.v.s = strdup(s); return v; }
static lb_value varr(int et, uint64_t n) { lb_value v = { .type = LB_V_ARR, .arr_type = et, .n = n }; v.v.arr = calloc(n + 1, sizeof *v.v.arr); return v; }

static void test_synthetic(void)
{
    lb_model *src = lb_model_new("gguf", "synthetic");
    lb_err e;
    char s[800], out[1024];
    tap_begin("round trip synthetic: all kv types, nested arrays, block types, alignment 64");
    lb_value v;
    v = vscalar(LB_V_U32, 64);                       lb_model_add_kv(src, "general.alignment", &v, &e);
    v = vscalar(LB_V_U8, 200);                       lb_model_add_kv(src, "t.u8", &v, &e);
    v = vscalar(LB_V_I8, 0); v.v.i = -7;             lb_model_add_kv(src, "t.i8", &v, &e);
    v = vscalar(LB_V_U16, 65535);                    lb_model_add_kv(src, "t.u16", &v, &e);
    v = vscalar(LB_V_I16, 0); v.v.i = -300;          lb_model_add_kv(src, "t.i16", &v, &e);
    v = vscalar(LB_V_I32, 0); v.v.i = -100000;       lb_model_add_kv(src, "t.i32", &v, &e);
    v = vscalar(LB_V_F32, 0); v.v.f = 0.15625;       lb_model_add_kv(src, "t.f32", &v, &e);
    v = vscalar(LB_V_BOOL, 1);                       lb_model_add_kv(src, "t.bool", &v, &e);
    v = vstr("h\xc3\xa9llo");                        lb_model_add_kv(src, "t.str", &v, &e);
    v = vscalar(LB_V_U64, UINT64_MAX);               lb_model_add_kv(src, "t.u64", &v, &e);
    v = vscalar(LB_V_I64, 0); v.v.i = INT64_MIN;     lb_model_add_kv(src, "t.i64", &v, &e);
    v = vscalar(LB_V_F64, 0); v.v.f = -1e300;        lb_model_add_kv(src, "t.f64", &v, &e);
    v = varr(LB_V_STR, 3);
    v.v.arr[0] = vstr("a"); v.v.arr[1] = vstr(""); v.v.arr[2] = vstr("ccc");
    lb_model_add_kv(src, "t.arr_str", &v, &e);
    v = varr(LB_V_ARR, 2);                           /* [[1,2],[]] of i32 */
    v.v.arr[0] = varr(LB_V_I32, 2);
    v.v.arr[0].v.arr[0] = vscalar(LB_V_I32, 1); v.v.arr[0].v.arr[1] = vscalar(LB_V_I32, 2);
    v.v.arr[1] = varr(LB_V_I32, 0);
    lb_model_add_kv(src, "t.arr_nested", &v, &e);
    v = varr(LB_V_F32, 0);                           lb_model_add_kv(src, "t.arr_empty", &v, &e);

    static const struct { const char *name; int type; int nd; uint64_t shape[4]; } ts[] = {
        { "w.f32", LB_F32, 2, { 3, 5 } }, { "w.f16", LB_F16, 1, { 7 } },
        { "w.q4_0", LB_Q4_0, 2, { 2, 64 } }, { "w.q4_K", LB_Q4_K, 3, { 2, 1, 256 } },
        { "w.q8_0", LB_Q8_0, 4, { 1, 2, 1, 32 } }, { "w.bf16", LB_BF16, 1, { 1 } },
        { "w.iq4_nl", LB_IQ4_NL, 1, { 32 } },
    };
    size_t nt = sizeof ts / sizeof ts[0];
    lb_wtensor wt[8];
    uint8_t *data[8];
    uint64_t nb[8];
    uint32_t rng = 12345;
    for (size_t i = 0; i < nt; i++) {
        wt[i].name = ts[i].name; wt[i].type = ts[i].type; wt[i].ndim = ts[i].nd;
        memcpy(wt[i].shape, ts[i].shape, sizeof ts[i].shape);
        uint64_t n = 1;
        for (int d = 0; d < ts[i].nd; d++) n *= ts[i].shape[d];
        lb_type_nbytes(ts[i].type, n, &nb[i]);
        data[i] = malloc(nb[i]);
        for (uint64_t k = 0; k < nb[i]; k++) { rng = rng * 1103515245u + 12345u; data[i][k] = (uint8_t)(rng >> 16); }
    }
    snprintf(out, sizeof out, "%s/synth.gguf", tmpdir);
    lb_out *o;
    lb_writer *w;
    int rc = lb_out_open(&o, out, LB_OUT_FORCE, &e);
    rc = rc ? rc : lb_writer_begin(&w, &lb_gguf_writer_ops, o, src->kv, src->n_kv, wt, nt, &e);
    CHECK(rc == 0, "begin: %s", lb_err_str(&e, s, sizeof s));
    /* stream in odd pieces that straddle tensor boundaries: concatenate everything first */
    size_t total = 0;
    for (size_t i = 0; i < nt; i++) total += nb[i];
    uint8_t *all = malloc(total);
    for (size_t i = 0, at = 0; i < nt; i++) { memcpy(all + at, data[i], nb[i]); at += nb[i]; }
    for (size_t at = 0; !rc && at < total; at += 7)
        rc = lb_writer_data(w, all + at, total - at < 7 ? total - at : 7, &e);
    rc = rc ? rc : lb_writer_end(w, &e);
    rc = rc ? rc : lb_out_commit(o, &e);
    CHECK(rc == 0, "write: %s", lb_err_str(&e, s, sizeof s));
    lb_model *b = NULL;
    rc = rc ? rc : lb_model_open(&b, out, &e);
    CHECK(rc == 0, "reread: %s", lb_err_str(&e, s, sizeof s));
    if (b) {
        CHECK(b->alignment == 64 && b->files[0].data_start % 64 == 0, "alignment 64");
        CHECK(b->n_kv == src->n_kv, "kv count");
        for (size_t i = 0; i < src->n_kv && i < b->n_kv; i++)
            CHECK(strcmp(src->kv[i].key, b->kv[i].key) == 0 && value_eq(&src->kv[i].val, &b->kv[i].val),
                  "kv %s differs", src->kv[i].key);
        CHECK(b->n_tensors == nt, "tensor count");
        for (size_t i = 0; i < nt && i < b->n_tensors; i++) {
            const lb_tensor *t = &b->tensors[i];
            CHECK(strcmp(t->name, ts[i].name) == 0 && t->type == ts[i].type && t->ndim == ts[i].nd &&
                  memcmp(t->shape, ts[i].shape, (size_t)t->ndim * 8) == 0 && t->nbytes == nb[i],
                  "tensor %s info", ts[i].name);
            CHECK(t->offset % 64 == 0, "tensor %s offset %" PRIu64, t->name, t->offset);
            uint8_t *x = malloc(nb[i]);
            CHECK(lb_tensor_read(b, t, 0, x, nb[i], &e) == 0 && memcmp(x, data[i], nb[i]) == 0,
                  "tensor %s data", ts[i].name);
            free(x);
        }
    }
    lb_model_close(b);
    for (size_t i = 0; i < nt; i++) free(data[i]);
    free(all);
    unlink(out);
    lb_model_close(src);
    tap_end();
}

static void test_writer_refusals(void)
{
    lb_err e;
    lb_out *o;
    lb_writer *w = NULL;
    char out[1024];
    snprintf(out, sizeof out, "%s/refuse.gguf", tmpdir);
    static const char long_name[] = "0123456789012345678901234567890123456789012345678901234567890123";
    static const struct { const char *what; lb_wtensor t; const char *want; } cases[] = {
        { "type ggml lacks (f8_e4m3)", { "x", LB_F8_E4M3, 1, { 4 } }, "cannot be stored" },
        { "type ggml lacks (u32)", { "x", LB_U32, 1, { 4 } }, "cannot be stored" },
        { "name of 64 bytes", { long_name, LB_F32, 1, { 4 } }, "at most 63" },
        { "0 dimensions", { "x", LB_F32, 0, { 0 } }, "0 dimensions" },
        { "5 dimensions", { "x", LB_F32, 5, { 1, 1, 1, 1, 1 } }, "5 dimensions" },
        { "dimension of 0", { "x", LB_F32, 2, { 0, 4 } }, "dimension 0 is 0" },
        { "row not a block multiple", { "x", LB_Q4_0, 2, { 2, 16 } }, "block size" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tap_begin("writer refuses %s", cases[i].what);
        CHECK(lb_out_open(&o, out, LB_OUT_FORCE, &e) == 0, "open");
        lb_err_clear(&e);
        int rc = lb_writer_begin(&w, &lb_gguf_writer_ops, o, NULL, 0, &cases[i].t, 1, &e);
        CHECK(rc == LB_EFORMAT, "rc %d", rc);
        CHECK(strstr(e.msg, cases[i].want) && strstr(e.item, "tensor '"), "message '%s: %s'", e.item, e.msg);
        CHECK(lb_out_tell(o) == 0, "nothing written");
        lb_out_abort(o);
        tap_end();
    }
    static const struct { const char *what; lb_value v; const char *want; } kvs[] = {
        { "general.alignment of type u64", { .type = LB_V_U64, .v.u = 32 }, "must be of type u32" },
        { "general.alignment 0", { .type = LB_V_U32, .v.u = 0 }, "power of two" },
        { "general.alignment 48", { .type = LB_V_U32, .v.u = 48 }, "power of two" },
    };
    for (size_t i = 0; i < sizeof kvs / sizeof kvs[0]; i++) {
        tap_begin("writer refuses %s", kvs[i].what);
        lb_kv kv = { "general.alignment", kvs[i].v };
        lb_wtensor t = { "x", LB_F32, 1, { 4 } };
        CHECK(lb_out_open(&o, out, LB_OUT_FORCE, &e) == 0, "open");
        int rc = lb_writer_begin(&w, &lb_gguf_writer_ops, o, &kv, 1, &t, 1, &e);
        CHECK(rc == LB_EFORMAT && strstr(e.msg, kvs[i].want), "rc %d, '%s'", rc, e.msg);
        lb_out_abort(o);
        tap_end();
    }
    tap_begin("writer refuses duplicate tensor names");
    {
        lb_wtensor t2[2] = { { "w", LB_F32, 1, { 4 } }, { "w", LB_F16, 1, { 4 } } };
        CHECK(lb_out_open(&o, out, LB_OUT_FORCE, &e) == 0, "open");
        int rc = lb_writer_begin(&w, &lb_gguf_writer_ops, o, NULL, 0, t2, 2, &e);
        CHECK(rc == LB_EFORMAT && strstr(e.msg, "duplicate tensor name") && strstr(e.item, "'w'"),
              "rc %d '%s: %s'", rc, e.item, e.msg);
        CHECK(lb_out_tell(o) == 0, "nothing written");
        lb_out_abort(o);
    }
    tap_end();
    tap_begin("writer refuses duplicate keys and mixed arrays");
    {
        lb_value el[2] = { { .type = LB_V_U8 }, { .type = LB_V_STR, .n = 0, .v.s = (char *)"" } };
        lb_kv kv[3] = { { "a", { .type = LB_V_U8 } }, { "a", { .type = LB_V_U8 } },
                        { "m", { .type = LB_V_ARR, .arr_type = LB_V_U8, .n = 2, .v.arr = el } } };
        CHECK(lb_out_open(&o, out, LB_OUT_FORCE, &e) == 0, "open");
        int rc = lb_writer_begin(&w, &lb_gguf_writer_ops, o, kv, 2, NULL, 0, &e);
        CHECK(rc == LB_EFORMAT && strstr(e.msg, "duplicate key"), "dup: rc %d '%s'", rc, e.msg);
        rc = lb_writer_begin(&w, &lb_gguf_writer_ops, o, kv + 1, 2, NULL, 0, &e);
        CHECK(rc == LB_EFORMAT && strstr(e.msg, "array element 1 is string"), "mixed: rc %d '%s'", rc, e.msg);
        lb_out_abort(o);
    }
    tap_end();
}

/* ---- malformed inputs ------------------------------------------------------------------------- */

/* A file with one tensor info (given raw) and data after it. */
static buf one_tensor(const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off, size_t data)
{
    buf b = { 0 };
    b_hdr(&b, 3, 1, 0);
    b_tinfo(&b, name, nd, ne, type, off);
    b_pad(&b, 32);
    b_zeros(&b, data);
    return b;
}

static void test_truncations(void)
{
    layout L;
    buf full = base_file(&L);
    tap_begin("base file for malformed cases is valid");
    lb_model *m;
    lb_err e;
    char s[800];
    CHECK(open_mem(&m, &full, &e) == 0, "%s", lb_err_str(&e, s, sizeof s));
    if (m) {
        CHECK(m->n_tensors == 2 && m->n_kv == 2, "counts");
        CHECK(m->tensors[1].offset == L.data_start + 32, "absolute offset");
    }
    lb_model_close(m);
    tap_end();
    tap_begin("version 2 files read like version 3");
    full.p[4] = 2;
    CHECK(open_mem(&m, &full, &e) == 0, "%s", lb_err_str(&e, s, sizeof s));
    CHECK(m && m->version == 2 && m->n_tensors == 2, "version/counts");
    lb_model_close(m);
    full.p[4] = 3;
    tap_end();
    const struct { const char *what; size_t at; const char *want; } cuts[] = {
        { "empty file", 0, "truncated header" },
        { "inside magic", 2, "truncated header" },
        { "after magic", L.after_magic, "truncated header" },
        { "inside version", L.after_magic + 2, "truncated header" },
        { "after version", L.after_version, "truncated header counts" },
        { "inside counts", L.after_version + 12, "truncated header counts" },
        { "after counts", L.after_counts, "metadata count 2 needs at least 28 bytes of metadata, 0 left" },
        { "inside kv 0 key", L.after_counts + 12, "metadata count 2 needs at least 28 bytes of metadata, 12 left (truncated or corrupt)" },
        { "inside kv 0 value", L.after_kv0 - 2, "key 'general.architecture': metadata value: string length 5 runs past end" },
        { "after kv 0", L.after_kv0, "truncated metadata key" },
        { "inside kv 1", L.mid_kv1, "metadata key: string length 17 runs past end" },
        { "inside kv 1 value", L.after_kvs - 2, "key 'general.alignment': truncated metadata value" },
        { "after kvs", L.after_kvs, "tensor count 2 needs at least 64 bytes of tensor infos, 0 left" },
        { "inside tensor info 1", L.mid_tinfo + 8, "tensor count 2 needs at least 64 bytes" },
        { "inside tensor info 2 offset", L.after_tinfos - 3, "tensor 'b': truncated tensor info" },
        { "after tensor infos", L.after_tinfos, "past end of file" },
        { "at data start", L.data_start, "tensor 'a': data" },
        { "inside data", L.mid_data, "tensor 'b': data" },
        { "one byte short", L.end - 1, "past end of file" },
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        buf b = { full.p, cuts[i].at, 0 };
        char name[128];
        snprintf(name, sizeof name, "truncated %s (%zu bytes)", cuts[i].what, cuts[i].at);
        expect_bad(name, &b, cuts[i].want);
    }
    free(full.p);
}

static void test_malformed(void)
{
    buf b = { 0 };
    layout L;
    uint64_t ne1[1] = { 4 };

    b = base_file(&L); memcpy(b.p, "GGUX", 4); expect_bad("wrong magic", &b, "bad magic"); free(b.p);
    b = base_file(&L); b.p[4] = 0; b.p[7] = 3; expect_bad("big-endian (version byte-swapped)", &b, "big-endian GGUF is not supported"); free(b.p);
    b = base_file(&L); memcpy(b.p, "FUGG", 4); expect_bad("big-endian magic", &b, "big-endian GGUF is not supported"); free(b.p);
    b = base_file(&L); b.p[4] = 1; expect_bad("version 1", &b, "GGUF version 1 is not supported"); free(b.p);
    b = base_file(&L); b.p[4] = 4; expect_bad("version 4", &b, "GGUF version 4 is not supported"); free(b.p);
    b = base_file(&L); b.p[4] = 0; expect_bad("version 0", &b, "GGUF version 0 is not supported"); free(b.p);

    b = (buf){ 0 }; b_hdr(&b, 3, 1ull << 40, 0); b_zeros(&b, 64);
    expect_bad("tensor count 2^40", &b, "tensor count 1099511627776 needs at least 35184372088832 bytes of tensor infos, 64 left"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1ull << 40); b_zeros(&b, 64);
    expect_bad("kv count 2^40", &b, "metadata count 1099511627776 needs at least"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, UINT64_MAX, UINT64_MAX);
    expect_bad("counts 2^64-1", &b, "metadata count 18446744073709551615 needs at least 18446744073709551615 bytes"); free(b.p);

    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_u64(&b, 1000); b_put(&b, "abc", 3); b_zeros(&b, 20);
    expect_bad("key length past EOF", &b, "string length 1000 runs past end of file"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_u64(&b, 1ull << 40); b_zeros(&b, 20);
    expect_bad("key length 2^40", &b, "exceeds limit"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, LB_V_STR); b_u64(&b, 1ull << 40); b_zeros(&b, 20);
    expect_bad("string value length 2^40", &b, "key 'k': metadata value: string length 1099511627776 exceeds limit"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, LB_V_STR); b_u64(&b, 30); b_zeros(&b, 20);
    expect_bad("string value past EOF", &b, "key 'k': metadata value: string length 30 runs past end"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, LB_V_ARR); b_u32(&b, LB_V_STR); b_u64(&b, 1ull << 28); b_zeros(&b, 64);
    expect_bad("array of 2^28 strings in 64 bytes", &b, "key 'k': array of 268435456 string elements runs past end"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, LB_V_ARR); b_u32(&b, LB_V_U8); b_u64(&b, 1ull << 40); b_zeros(&b, 64);
    expect_bad("array of 2^40 u8", &b, "exceeds limit"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, 13); b_zeros(&b, 8);
    expect_bad("unknown value type 13", &b, "key 'k': unknown value type 13"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, LB_V_ARR); b_u32(&b, 99); b_u64(&b, 1); b_zeros(&b, 8);
    expect_bad("unknown array element type 99", &b, "key 'k': unknown array element type 99"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_str(&b, "k");
    b_u32(&b, LB_V_ARR);
    for (int i = 0; i < 100; i++) { b_u32(&b, LB_V_ARR); b_u64(&b, 1); }
    b_u32(&b, LB_V_U8); b_u64(&b, 0);
    expect_bad("arrays nested 100 deep", &b, "key 'k': arrays nested more than 8 deep"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 2); b_kv_u32(&b, "k", 1); b_kv_u32(&b, "k", 2);
    expect_bad("duplicate key", &b, "key 'k': duplicate key (at byte offset 41)"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_kv_u32(&b, "", 1);
    expect_bad("empty key", &b, "metadata key 0 is empty"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_u64(&b, 3); b_put(&b, "a\0b", 3); b_u32(&b, LB_V_U8); b_u8(&b, 1);
    expect_bad("NUL in key", &b, "key contains a NUL byte"); free(b.p);

    static const uint32_t aligns[] = { 0, 3, 48 };
    for (size_t i = 0; i < 3; i++) {
        char nm[64];
        b = (buf){ 0 }; b_hdr(&b, 3, 1, 1); b_kv_u32(&b, "general.alignment", aligns[i]);
        b_tinfo(&b, "x", 1, ne1, LB_F32, 0); b_zeros(&b, 64);
        snprintf(nm, sizeof nm, "alignment %u", aligns[i]);
        expect_bad(nm, &b, "is not a non-zero power of two (at byte offset 24)"); free(b.p);
    }
    b = (buf){ 0 }; b_hdr(&b, 3, 0, 1); b_str(&b, "general.alignment"); b_u32(&b, LB_V_U64); b_u64(&b, 32);
    expect_bad("alignment of type u64", &b, "must be of type u32, not u64"); free(b.p);

    uint64_t ne9[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    b = one_tensor("x", 0, ne1, LB_F32, 0, 64); expect_bad("n_dims 0", &b, "tensor 'x': 0 dimensions"); free(b.p);
    b = one_tensor("x", 9, ne9, LB_F32, 0, 64); expect_bad("n_dims 9", &b, "tensor 'x': 9 dimensions"); free(b.p);
    b = one_tensor("x", 5, ne9, LB_F32, 0, 64); expect_bad("n_dims 5", &b, "tensor 'x': 5 dimensions (at least 1, at most 4)"); free(b.p);
    uint64_t ne0[2] = { 4, 0 };
    b = one_tensor("x", 2, ne0, LB_F32, 0, 64); expect_bad("dim of 0", &b, "tensor 'x': dimension 1 is 0"); free(b.p);
    uint64_t ne62[1] = { 1ull << 62 };
    b = one_tensor("x", 1, ne62, LB_F32, 0, 64); expect_bad("dim of 2^62 (f32)", &b, "tensor 'x': byte size of 4611686018427387904 f32 elements overflows"); free(b.p);
    b = one_tensor("x", 1, ne62, LB_I8, 0, 64); expect_bad("dim of 2^62 (i8)", &b, "tensor 'x': data [");  free(b.p);
    uint64_t ne63[1] = { 1ull << 63 };
    b = one_tensor("x", 1, ne63, LB_I8, 0, 64); expect_bad("dim of 2^63", &b, "dimension 0 is 9223372036854775808"); free(b.p);
    uint64_t nebig[2] = { 1ull << 32, 1ull << 32 };
    b = one_tensor("x", 2, nebig, LB_F32, 0, 64); expect_bad("element count overflow", &b, "tensor 'x': element count overflows"); free(b.p);
    uint64_t nesz[2] = { 1ull << 31, 1ull << 31 };
    b = one_tensor("x", 2, nesz, LB_F32, 0, 64); expect_bad("shape x size overflow", &b, "tensor 'x': byte size of 4611686018427387904 f32 elements overflows 64 bits"); free(b.p);
    uint64_t neq[1] = { 16 };
    b = one_tensor("x", 1, neq, LB_Q8_0, 0, 64); expect_bad("row not a block multiple", &b, "not a multiple of the q8_0 block size 32"); free(b.p);
    static const uint32_t badtypes[] = { 4, 5, 31, 36, 43, 100, 200, 0x80000000u };
    for (size_t i = 0; i < sizeof badtypes / sizeof badtypes[0]; i++) {
        char nm[64], want[64];
        snprintf(nm, sizeof nm, "unknown ggml type %u", badtypes[i]);
        snprintf(want, sizeof want, "tensor 'x': unknown ggml type %u", badtypes[i]);
        b = one_tensor("x", 1, ne1, badtypes[i], 0, 64); expect_bad(nm, &b, want); free(b.p);
    }
    b = one_tensor("x", 1, ne1, LB_F32, 4, 64); expect_bad("offset unaligned", &b, "tensor 'x': data offset 4 is not a multiple of the alignment 32"); free(b.p);
    b = one_tensor("x", 1, ne1, LB_F32, 1024, 64); expect_bad("offset past EOF", &b, "tensor 'x': data [1088, 1104) past end of file (128 bytes)"); free(b.p);
    b = one_tensor("x", 1, ne1, LB_F32, UINT64_MAX - 31, 64); expect_bad("offset overflows", &b, "tensor 'x': data offset"); free(b.p);
    char longname[70];
    memset(longname, 'n', 64); longname[64] = 0;
    b = one_tensor(longname, 1, ne1, LB_F32, 0, 64); expect_bad("tensor name of 64 bytes", &b, "name is 64 bytes (at most 63)"); free(b.p);

    uint64_t ne8[1] = { 8 };
    b = (buf){ 0 }; b_hdr(&b, 3, 2, 0);
    b_tinfo(&b, "a", 1, ne8, LB_F32, 0); b_tinfo(&b, "b", 1, ne1, LB_F32, 0); b_pad(&b, 32); b_zeros(&b, 64);
    expect_bad("overlapping tensors", &b, "data overlaps tensor"); free(b.p);
    b = (buf){ 0 }; b_hdr(&b, 3, 2, 0);
    b_tinfo(&b, "a", 1, ne1, LB_F32, 0); b_tinfo(&b, "a", 1, ne1, LB_F32, 32); b_pad(&b, 32); b_zeros(&b, 64);
    expect_bad("duplicate tensor names", &b, "tensor 'a': duplicate tensor name (at byte offset 57)"); free(b.p);
}

/* A malformed file read through a file (lb_model_open), not memory: same error, with offset. */
static void test_malformed_file(void)
{
    char path[1024], s[800];
    lb_err e;
    lb_model *m = NULL;
    uint64_t ne1[1] = { 4 };
    tap_begin("malformed through a file: unaligned offset, with byte offset");
    buf b = one_tensor("x", 1, ne1, LB_F32, 4, 64);
    snprintf(path, sizeof path, "%s/bad.gguf", tmpdir);
    FILE *f = fopen(path, "wb");
    fwrite(b.p, 1, b.n, f);
    fclose(f);
    lb_err_clear(&e);
    int rc = lb_model_open(&m, path, &e);
    lb_err_str(&e, s, sizeof s);
    CHECK(rc == LB_EFORMAT && !m, "rc %d", rc);
    CHECK(strstr(s, "tensor 'x': data offset 4 is not a multiple of the alignment 32"), "message '%s'", s);
    /* the offset field sits after magic, version, counts, name (8+1), n_dims, ne[0], type */
    CHECK(e.offset == 24 + 9 + 4 + 8 + 4, "error offset %" PRIu64, e.offset);
    free(b.p);
    tap_end();

    tap_begin("malformed through a file: truncated in the kv section");
    layout L;
    b = base_file(&L);
    f = fopen(path, "wb");
    fwrite(b.p, 1, L.mid_kv1, f);
    fclose(f);
    rc = lb_model_open(&m, path, &e);
    lb_err_str(&e, s, sizeof s);
    CHECK(rc == LB_EFORMAT && strstr(s, "runs past end of file"), "rc %d '%s'", rc, s);
    free(b.p);
    unlink(path);
    tap_end();

    tap_begin("open by content: bid on GGUF and FUGG magic only");
    CHECK(lb_gguf_bid((const uint8_t *)"GGUF\3\0\0\0", 8, 8) == 100, "GGUF");
    CHECK(lb_gguf_bid((const uint8_t *)"FUGG\0\0\0\3", 8, 8) == 100, "FUGG");
    CHECK(lb_gguf_bid((const uint8_t *)"GGU", 3, 3) == 0, "short");
    CHECK(lb_gguf_bid((const uint8_t *)"\x10\0\0\0\0\0\0\0{", 9, 9) == 0, "safetensors");
    tap_end();
}

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

/* Run the malformed cases with the address space capped a little above what we use now,
 * so a case that tried to allocate what a header claims (gigabytes) fails with LB_EIO and
 * shows up as a failed case. ASan reserves terabytes of address space, so it is skipped there. */
static void run_bounded(void (*fn)(void))
{
#ifndef HAVE_ASAN
    struct rlimit old, lim;
    long pages = 0, page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) { if (fscanf(f, "%ld", &pages) != 1) pages = 0; fclose(f); }
    if (pages && getrlimit(RLIMIT_AS, &old) == 0) {
        lim = old;
        lim.rlim_cur = (rlim_t)pages * (rlim_t)page + (256u << 20);
        if (old.rlim_cur == RLIM_INFINITY || lim.rlim_cur < old.rlim_cur) setrlimit(RLIMIT_AS, &lim);
        fn();
        setrlimit(RLIMIT_AS, &old);
        return;
    }
#endif
    fn();
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/test_gguf.XXXXXX", getenv("LOWBIT_TMP") ? getenv("LOWBIT_TMP") : "/tmp");
    if (!mkdtemp(tmpdir)) { printf("FAIL setup: mkdtemp\n"); return 1; }
    run_bounded(test_truncations);
    run_bounded(test_malformed);
    test_malformed_file();
    test_writer_refusals();
    test_synthetic();
    const char *sh = tap_shared();
    if (sh) {
        test_real(sh);
        test_roundtrips(sh);
        test_pipe(sh);
    } else {
        tap_skip("real GGUF files, round trips, pipe", "needs ../shared (models/gguf)");
    }
    rmdir(tmpdir);
    TAP_EXIT();
}
