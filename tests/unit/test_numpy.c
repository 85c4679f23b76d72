/* test_numpy.c: .npy and .npz: the real files in ../shared/models/numpy, synthetic files
 * for every dtype path (big-endian, f16, bool, Fortran order, v2/v3 headers), .npz
 * archives written here with libarchive (stored and deflated), and malformed cases. */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_model.h"
#include "lb_numpy.h"
#include "tap.h"

typedef struct buf { uint8_t *b; size_t n; } buf;

/* A .npy file: preamble, dict text padded with spaces + '\n' to a multiple of 64, data. */
static buf npy(int major, const char *dict, const void *data, size_t n)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
    buf b = { malloc(total + n + 1), total + n };
    memcpy(b.b, "\x93NUMPY", 6);
    b.b[6] = (uint8_t)major;
    b.b[7] = 0;
    if (major == 1) lb_st16(b.b + 8, (uint16_t)hlen); else lb_st32(b.b + 8, (uint32_t)hlen);
    memset(b.b + pre, ' ', hlen);
    memcpy(b.b + pre, dict, dl);
    b.b[total - 1] = '\n';
    if (n) memcpy(b.b + total, data, n);
    return b;
}

static lb_model *open_buf(buf b, const char *fmt, lb_err *err)
{
    lb_model *m = NULL;
    lb_err_clear(err);
    lb_model_open_mem(&m, b.b, b.n, fmt, err);
    return m;
}

static int read_all(lb_model *m, const char *name, void *out, size_t cap)
{
    const lb_tensor *t = name ? lb_model_find(m, name) : (m->n_tensors ? &m->tensors[0] : NULL);
    if (!t || t->nbytes > cap) return -1;
    return lb_tensor_read(m, t, 0, out, t->nbytes, NULL);
}

/* ---- real files ---------------------------------------------------------------------- */

static void test_candle(const char *shared)
{
    char p[1024];
    lb_err err;
    lb_model *m = NULL;
    snprintf(p, sizeof p, "%s/models/numpy/candle-test.npy", shared);
    tap_begin("npy candle-test.npy: int64 (10,) = 0..9");
    int rc = lb_model_open(&m, p, &err);
    CHECK(rc == 0, "open: %s", err.msg);
    if (!rc) {
        CHECK(strcmp(m->format, "npy") == 0 && m->version == 1, "format %s v%u", m->format, m->version);
        CHECK(m->n_tensors == 1 && strcmp(m->tensors[0].name, "candle-test") == 0, "name");
        const lb_tensor *t = &m->tensors[0];
        CHECK(t->type == LB_I64 && t->ndim == 1 && t->shape[0] == 10 && t->offset == 128, "type/shape/offset");
        uint8_t v[80];
        CHECK(read_all(m, NULL, v, sizeof v) == 0, "read");
        for (int i = 0; i < 10; i++) CHECK((int64_t)lb_ld64(v + 8 * i) == i, "v[%d] = %lld", i, (long long)lb_ld64(v + 8 * i));
    }
    lb_model_close(m);
    tap_end();

    snprintf(p, sizeof p, "%s/models/numpy/candle-test.npz", shared);
    tap_begin("npz candle-test.npz: x and x_plus_one = x + 1");
    rc = lb_model_open(&m, p, &err);
    CHECK(rc == 0, "open: %s", err.msg);
    if (!rc) {
        CHECK(strcmp(m->format, "npz") == 0 && m->n_tensors == 2, "format %s, %zu tensors", m->format, m->n_tensors);
        const lb_tensor *x = lb_model_find(m, "x"), *y = lb_model_find(m, "x_plus_one");
        CHECK(x && y && x->type == LB_I64 && y->type == LB_I64 && x->shape[0] == 10 && y->shape[0] == 10, "x, x_plus_one");
        uint8_t a[80], b[80];
        CHECK(read_all(m, "x", a, sizeof a) == 0 && read_all(m, "x_plus_one", b, sizeof b) == 0, "read");
        CHECK(m->n_files == 1, "%zu files", m->n_files);
        /* stored members are read in place: the offsets point into the archive */
        FILE *f = fopen(p, "rb");
        uint8_t z[668];
        size_t zn = f ? fread(z, 1, sizeof z, f) : 0;
        if (f) fclose(f);
        CHECK(x && zn == 668 && x->offset + 80 <= zn && memcmp(z + x->offset, a, 80) == 0, "x in place");
        CHECK(y && zn == 668 && y->offset + 80 <= zn && memcmp(z + y->offset, b, 80) == 0 && y->offset > x->offset,
              "x_plus_one in place");

        for (int i = 0; i < 10; i++) {
            CHECK((int64_t)lb_ld64(a + 8 * i) == i, "x[%d]", i);
            CHECK((int64_t)lb_ld64(b + 8 * i) == (int64_t)lb_ld64(a + 8 * i) + 1, "x_plus_one[%d]", i);
        }
    }
    lb_model_close(m);
    tap_end();
}

/* ---- synthetic .npy ------------------------------------------------------------------ */

static void test_dtypes(void)
{
    lb_err err;
    tap_begin("npy >f4 big-endian: byte-swapped on read, values equal");
    float vals[5] = { 1.5f, -2.25f, 3e10f, 0.0f, -1e-20f };
    uint8_t be[20];
    for (int i = 0; i < 5; i++) {
        uint32_t u;
        memcpy(&u, &vals[i], 4);
        be[4 * i] = (uint8_t)(u >> 24); be[4 * i + 1] = (uint8_t)(u >> 16);
        be[4 * i + 2] = (uint8_t)(u >> 8); be[4 * i + 3] = (uint8_t)u;
    }
    buf b = npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (5,), }", be, sizeof be);
    lb_model *m = open_buf(b, NULL, &err);
    CHECK(m != NULL, "open: %s", err.msg);
    if (m) {
        CHECK(m->tensors[0].type == LB_F32 && strcmp(m->tensors[0].name, "array") == 0, "type/name");
        uint8_t got[20];
        CHECK(read_all(m, NULL, got, sizeof got) == 0, "read");
        for (int i = 0; i < 5; i++) CHECK(lb_ldf32(got + 4 * i) == vals[i], "value %d: %g", i, lb_ldf32(got + 4 * i));
        uint8_t win[7];
        CHECK(lb_tensor_read(m, &m->tensors[0], 3, win, 7, &err) == 0 && memcmp(win, got + 3, 7) == 0, "unaligned window");
    }
    lb_model_close(m);
    free(b.b);
    tap_end();

    tap_begin("npy <f2, |b1, |u1, <i2, >u8, 0-d arrays: types and bytes");
    uint8_t h[6];
    lb_st16(h, lb_f32_to_f16(0.5f)); lb_st16(h + 2, lb_f32_to_f16(-3.0f)); lb_st16(h + 4, lb_f32_to_f16(65504.0f));
    b = npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", h, 6);
    m = open_buf(b, "npy", &err);
    uint8_t got[64];
    CHECK(m && m->tensors[0].type == LB_F16 && read_all(m, NULL, got, sizeof got) == 0 &&
          lb_f16_to_f32(lb_ld16(got + 2)) == -3.0f && lb_f16_to_f32(lb_ld16(got + 4)) == 65504.0f, "f2: %s", err.msg);
    lb_model_close(m);
    free(b.b);
    uint8_t bo[4] = { 1, 0, 0, 1 };
    b = npy(1, "{\"descr\": \"|b1\", \"fortran_order\": False, \"shape\": (2, 2)}", bo, 4);
    m = open_buf(b, "npy", &err);
    CHECK(m && m->tensors[0].type == LB_BOOL && m->tensors[0].ndim == 2 && read_all(m, NULL, got, 4) == 0 &&
          memcmp(got, bo, 4) == 0, "b1: %s", err.msg);
    lb_model_close(m);
    free(b.b);
    b = npy(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", bo, 4);
    m = open_buf(b, "npy", &err);
    CHECK(m && m->tensors[0].type == LB_U8, "u1: %s", err.msg);
    lb_model_close(m);
    free(b.b);
    uint8_t bu8[16] = { 0, 0, 0, 0, 0, 0, 1, 2, 0x80, 0, 0, 0, 0, 0, 0, 0xff };
    b = npy(1, "{'descr': '>u8', 'fortran_order': False, 'shape': (2,), }", bu8, 16);
    m = open_buf(b, "npy", &err);
    CHECK(m && m->tensors[0].type == LB_U64 && read_all(m, NULL, got, 16) == 0 &&
          lb_ld64(got) == 0x0102 && lb_ld64(got + 8) == 0x80000000000000ffull, "u8 big-endian: %s", err.msg);
    lb_model_close(m);
    free(b.b);
    int16_t i2 = -300;
    b = npy(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (), }", &i2, 2);
    m = open_buf(b, "npy", &err);
    CHECK(m && m->tensors[0].type == LB_I16 && m->tensors[0].ndim == 0 && m->tensors[0].nelem == 1 &&
          read_all(m, NULL, got, 2) == 0 && (int16_t)lb_ld16(got) == -300, "0-d i2: %s", err.msg);
    lb_model_close(m);
    free(b.b);
    b = npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 3), }", NULL, 0);
    m = open_buf(b, "npy", &err);
    CHECK(m && m->tensors[0].type == LB_F64 && m->tensors[0].nbytes == 0, "empty f8: %s", err.msg);
    lb_model_close(m);
    free(b.b);
    tap_end();

    tap_begin("npy v2 and v3 headers (u32 length)");
    int32_t iv[3] = { 7, -8, 9 };
    for (int major = 2; major <= 3; major++) {
        b = npy(major, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", iv, 12);
        m = open_buf(b, NULL, &err);
        CHECK(m && m->version == (uint32_t)major && m->tensors[0].type == LB_I32 && m->tensors[0].offset == b.n - 12 && m->tensors[0].offset % 64 == 0 &&
              read_all(m, NULL, got, 12) == 0 && memcmp(got, iv, 12) == 0, "v%d: %s", major, err.msg);
        lb_model_close(m);
        free(b.b);
    }
    tap_end();
}

/* Fortran order: a[i][j] stored at j * rows + i. */
static void fortran_case(uint64_t rows, uint64_t cols, int big)
{
    lb_err err;
    tap_begin("npy fortran_order %s (%llu, %llu): transposed on read", big ? ">i4" : "<i4",
              (unsigned long long)rows, (unsigned long long)cols);
    size_t n = (size_t)(rows * cols);
    uint8_t *f = malloc(n * 4), *got = malloc(n * 4);
    for (uint64_t i = 0; i < rows; i++)
        for (uint64_t j = 0; j < cols; j++) {
            uint32_t v = (uint32_t)(i * 100000 + j);
            uint8_t *p = f + (j * rows + i) * 4;
            if (big) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }
            else lb_st32(p, v);
        }
    char dict[160];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': True, 'shape': (%llu, %llu), }",
             big ? ">i4" : "<i4", (unsigned long long)rows, (unsigned long long)cols);
    buf b = npy(1, dict, f, n * 4);
    lb_model *m = open_buf(b, "npy", &err);
    CHECK(m != NULL, "open: %s", err.msg);
    if (m) {
        const lb_tensor *t = &m->tensors[0];
        CHECK(t->shape[0] == rows && t->shape[1] == cols, "shape");
        CHECK(lb_tensor_read(m, t, 0, got, n * 4, &err) == 0, "read: %s", err.msg);
        size_t bad = 0;
        for (uint64_t i = 0; i < rows; i++)
            for (uint64_t j = 0; j < cols; j++)
                if (lb_ld32(got + (i * cols + j) * 4) != (uint32_t)(i * 100000 + j)) bad++;
        CHECK(bad == 0, "%zu elements misplaced", bad);
        /* windows at odd offsets, inside one row and across rows */
        uint64_t offs[4] = { 1, cols * 4 - 3, cols * 4 * (rows / 2) + 5, n * 4 - 9 };
        for (int k = 0; k < 4; k++) {
            uint8_t w[9];
            size_t len = offs[k] + 9 <= n * 4 ? 9 : (size_t)(n * 4 - offs[k]);
            CHECK(lb_tensor_read(m, t, offs[k], w, len, &err) == 0 && memcmp(w, got + offs[k], len) == 0,
                  "window at %llu", (unsigned long long)offs[k]);
        }
    }
    lb_model_close(m);
    free(b.b);
    free(f);
    free(got);
    tap_end();
}

/* ---- .npz written here -------------------------------------------------------------- */

static size_t zip_mem(void *out, size_t cap, int deflate, const char *const *names, const buf *members, int n)
{
    struct archive *a = archive_write_new();
    size_t used = 0;
    archive_write_set_format_zip(a);
    if (deflate) archive_write_zip_set_compression_deflate(a);
    else archive_write_zip_set_compression_store(a);
    archive_write_open_memory(a, out, cap, &used);
    for (int i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)members[i].n);
        archive_write_header(a, e);
        archive_write_data(a, members[i].b, members[i].n);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return used;
}

static void test_npz(void)
{
    lb_err err;
    float fv[6] = { 1, 2, 3, 4, 5, 6 };
    uint8_t be[4] = { 0x3f, 0xc0, 0, 0 };   /* 1.5f big-endian */
    buf mem[3] = {
        npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", fv, 24),
        npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", be, 4),
        npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", fv, 24),
    };
    const char *names[3] = { "w.npy", "dir/scale.npy", "ft.npy" };
    static uint8_t z[65536];
    for (int deflate = 0; deflate <= 1; deflate++) {
        tap_begin("npz %s members: tensors named after members, transforms applied", deflate ? "deflated" : "stored");
        size_t zn = zip_mem(z, sizeof z, deflate, names, mem, 3);
        buf zb = { z, zn };
        lb_model *m = open_buf(zb, NULL, &err);
        CHECK(m != NULL, "open: %s", err.msg);
        if (m) {
            /* one file, the archive: members are not files on disk */
            CHECK(strcmp(m->format, "npz") == 0 && m->n_tensors == 3 && m->n_files == 1, "format/tensors/files");
            const lb_tensor *w = lb_model_find(m, "w");
            /* a stored member is read in place: its offset is where its data sits in the archive */
            if (!deflate) CHECK(w && w->offset + 24 <= zn && memcmp(z + w->offset, fv, 24) == 0, "w in place");
            else CHECK(w && w->offset == 128, "w offset inside the decompressed member: %llu",
                       w ? (unsigned long long)w->offset : 0ull);
            uint8_t got[24];
            CHECK(read_all(m, "w", got, 24) == 0 && memcmp(got, fv, 24) == 0, "w");
            CHECK(read_all(m, "dir/scale", got, 4) == 0 && lb_ldf32(got) == 1.5f, "dir/scale");
            /* Fortran (3, 2) from storage 1..6: a[i][j] = storage[j * 3 + i] */
            CHECK(read_all(m, "ft", got, 24) == 0 && lb_ldf32(got) == 1 && lb_ldf32(got + 4) == 4 &&
                  lb_ldf32(got + 8) == 2 && lb_ldf32(got + 20) == 6, "ft transposed");
        }
        lb_model_close(m);
        tap_end();
    }

    /* from a file (not memory), with a member larger than libarchive's read blocks */
    size_t big_n = 100000;
    float *big = malloc(big_n * 4);
    for (size_t i = 0; i < big_n; i++) big[i] = (float)i * 0.25f;
    buf bigm[1] = { npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (100000,), }", big, big_n * 4) };
    uint8_t *zbig = malloc(big_n * 4 + 65536);
    const char *bign[1] = { "big.npy" };
    char path[512];
    const char *tmp = getenv("LOWBIT_TMP");
    snprintf(path, sizeof path, "%s/lowbit-test-numpy-%d.npz", tmp ? tmp : "/tmp", (int)getpid());
    for (int deflate = 0; deflate <= 1; deflate++) {
        tap_begin("npz from a file, %s 400 KB member", deflate ? "deflated" : "stored");
        size_t zn = zip_mem(zbig, big_n * 4 + 65536, deflate, bign, bigm, 1);
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(zbig, 1, zn, f) == zn, "write %s", path);
        if (f) fclose(f);
        lb_model *m = NULL;
        lb_err_clear(&err);
        int rc = lb_model_open(&m, path, &err);
        CHECK(rc == 0, "open: %s", err.msg);
        if (!rc) {
            const lb_tensor *t = lb_model_find(m, "big");
            float *got = malloc(big_n * 4);
            CHECK(t && lb_tensor_read(m, t, 0, got, big_n * 4, &err) == 0 && memcmp(got, big, big_n * 4) == 0, "values");
            if (!deflate) CHECK(t && memcmp(zbig + t->offset, big, big_n * 4) == 0, "in place at %llu",
                                t ? (unsigned long long)t->offset : 0ull);
            free(got);
        }
        lb_model_close(m);
        remove(path);
        tap_end();
    }
    free(big);
    free(bigm[0].b);
    free(zbig);

    tap_begin("npz malformed: non-.npy member, bad member, truncated archive, duplicate names");
    const char *bad_names[2] = { "w.npy", "notes.txt" };
    size_t zn = zip_mem(z, sizeof z, 0, bad_names, mem, 2);
    buf zb = { z, zn };
    lb_model *m = open_buf(zb, "npz", &err);
    CHECK(!m && err.code == LB_EFORMAT && strstr(err.msg, "not a .npy file") && strstr(err.item, "notes.txt"),
          "non-npy member: %s %s", err.item, err.msg);
    buf broken[1] = { { mem[0].b, mem[0].n - 4 } };
    zn = zip_mem(z, sizeof z, 1, names, broken, 1);
    zb.n = zn;
    m = open_buf(zb, "npz", &err);
    CHECK(!m && err.code == LB_EFORMAT && strstr(err.msg, "data is 20 bytes") && strstr(err.item, "'w'"),
          "short member data: %s %s", err.item, err.msg);
    zn = zip_mem(z, sizeof z, 1, names, mem, 3);
    zb.n = zn / 2;
    m = open_buf(zb, "npz", &err);
    CHECK(!m && err.code == LB_EFORMAT, "truncated archive: %s", err.msg);
    const char *dup[2] = { "w.npy", "w.npy" };
    zn = zip_mem(z, sizeof z, 0, dup, mem, 2);
    zb.n = zn;
    m = open_buf(zb, "npz", &err);
    CHECK(!m && err.code == LB_EFORMAT && strstr(err.msg, "duplicate"), "duplicate: %s", err.msg);
    lb_model_close(m);
    tap_end();
    for (int i = 0; i < 3; i++) free(mem[i].b);
}

/* ---- malformed .npy -------------------------------------------------------------------- */

static void npy_fail(const char *name, buf b, const char *want)
{
    lb_err err;
    tap_begin("npy malformed: %s", name);
    lb_model *m = open_buf(b, "npy", &err);
    CHECK(m == NULL && err.code == LB_EFORMAT, "code %d", err.code);
    CHECK(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
    CHECK(strcmp(want, "refusing to load: object array holds a pickle (not a tensor type)") == 0 ||
          err.offset != LB_NO_OFFSET, "no offset in '%s'", err.msg);
    lb_model_close(m);
    free(b.b);
    tap_end();
}

static buf dict_only(const char *d, size_t data)
{
    uint8_t *z = calloc(1, data + 1);
    buf b = npy(1, d, z, data);
    free(z);
    return b;
}

static void test_malformed(void)
{
    npy_fail("object array", dict_only("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", 24),
             "refusing to load: object array holds a pickle (not a tensor type)");
    buf b = dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4);
    b.b[1] = 'X';
    npy_fail("bad magic", b, "no \\x93NUMPY magic");
    b = dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4);
    lb_st16(b.b + 8, 5000);
    npy_fail("header length past EOF", b, "runs past the end of the file");
    b = dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4);
    b.b[6] = 4;
    npy_fail("version 4", b, "npy version 4.0 is not supported");
    npy_fail("header not a dict", dict_only("['descr', '<f4']", 4), "not a dict");
    npy_fail("missing shape", dict_only("{'descr': '<f4', 'fortran_order': False}", 4), "no 'shape' key");
    npy_fail("missing descr", dict_only("{'fortran_order': False, 'shape': (1,)}", 4), "no 'descr' key");
    npy_fail("extra key", dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4),
             "unexpected key 'x'");
    npy_fail("duplicate key", dict_only("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4),
             "appears twice");
    npy_fail("unknown descr", dict_only("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8),
             "'<c8' is not a dtype lowbit reads");
    npy_fail("descr |f4", dict_only("{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", 4), "needs '<' or '>'");
    npy_fail("structured descr", dict_only("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4),
             "structured dtypes");
    npy_fail("negative dimension", dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 4),
             "negative dimension");
    npy_fail("dimension overflows", dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 4),
             "dimension overflows 64 bits");
    npy_fail("element count overflows", dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 4),
             "element count overflows");
    npy_fail("byte size overflows", dict_only("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }", 4),
             "data size overflows");
    npy_fail("data shorter than shape", dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20),
             "data is 20 bytes, the shape needs 24");
    npy_fail("data longer than shape", dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 12),
             "4 bytes after the array data");
    npy_fail("shape not a 1-tuple", dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8),
             "not a tuple");
    npy_fail("fortran_order not bool", dict_only("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", 8),
             "fortran_order is not True or False");
    npy_fail("fortran 3-D", dict_only("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2, 2), }", 32),
             "fortran_order arrays with 3 dimensions");
    npy_fail("junk after dict", dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 8),
             "unexpected bytes after the dict");
    npy_fail("unterminated string", dict_only("{'descr: '<f4'", 8), "expected ':'");
    npy_fail("more than 8 dims", dict_only("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4),
             "more than 8 dimensions");
}

int main(void)
{
    const char *shared = tap_shared();
    if (shared) test_candle(shared);
    else tap_skip("npy real files", "../shared not found (set LOWBIT_SHARED)");
    test_dtypes();
    fortran_case(3, 4, 0);
    fortran_case(5, 1, 1);
    fortran_case(700, 600, 1);    /* more than one 1 MiB tile */
    fortran_case(2, 300000, 0);   /* rows wider than a tile */
    test_npz();
    test_malformed();
    TAP_EXIT();
}
