/* test_zip.c: the strict zip reader (formats/zip.c) on zips built here byte by byte
 * (one named corruption each) and on the real zips in ../shared. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lb_le.h"
#include "lb_zip.h"
#include "tap.h"

/* ---- a tiny zip writer ---- */

typedef struct buf { uint8_t *p; size_t n, cap; } buf;
static void put(buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) { b->cap = (b->n + n) * 2 + 256; b->p = realloc(b->p, b->cap); }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void p16(buf *b, uint16_t v) { uint8_t x[2]; lb_st16(x, v); put(b, x, 2); }
static void p32(buf *b, uint32_t v) { uint8_t x[4]; lb_st32(x, v); put(b, x, 4); }
static void p64(buf *b, uint64_t v) { uint8_t x[8]; lb_st64(x, v); put(b, x, 8); }

typedef struct ent {
    const char *name, *local_name;  /* local_name NULL: same as name */
    const uint8_t *data;
    size_t n;
    int deflate;
    uint16_t flags;
    int bad_crc;                    /* store a wrong CRC (both headers) */
    uint64_t fake_usize;            /* declared size override (both headers), 0: real */
    uint64_t fake_csize;            /* compressed size override (both headers), 0: real */
} ent;

enum { W_ZIP64 = 1, W_BAD_COUNT = 2 };

static uint8_t *deflate_raw(const uint8_t *d, size_t n, size_t *out)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&s, (uLong)n);
    uint8_t *o = malloc(cap);
    s.next_in = (Bytef *)d;
    s.avail_in = (uInt)n;
    s.next_out = o;
    s.avail_out = (uInt)cap;
    deflate(&s, Z_FINISH);
    *out = cap - s.avail_out;
    deflateEnd(&s);
    return o;
}

static buf build(const ent *e, int ne, int opts)
{
    buf z = { 0 }, cd = { 0 };
    for (int i = 0; i < ne; i++) {
        size_t cn = e[i].n;
        uint8_t *c = e[i].deflate ? deflate_raw(e[i].data, e[i].n, &cn) : NULL;
        uint32_t crc = (uint32_t)crc32(0, e[i].data, (uInt)e[i].n) ^ (e[i].bad_crc ? 1u : 0u);
        uint64_t us = e[i].fake_usize ? e[i].fake_usize : e[i].n, cs = e[i].fake_csize ? e[i].fake_csize : cn;
        const char *ln = e[i].local_name ? e[i].local_name : e[i].name;
        int z64 = opts & W_ZIP64;
        uint64_t off = z.n;
        p32(&z, 0x04034b50); p16(&z, z64 ? 45 : 20); p16(&z, e[i].flags); p16(&z, e[i].deflate ? 8 : 0);
        p16(&z, 0); p16(&z, 0); p32(&z, crc);
        p32(&z, z64 ? 0xffffffffu : (uint32_t)cs); p32(&z, z64 ? 0xffffffffu : (uint32_t)us);
        p16(&z, (uint16_t)strlen(ln)); p16(&z, z64 ? 20 : 0);
        put(&z, ln, strlen(ln));
        if (z64) { p16(&z, 1); p16(&z, 16); p64(&z, us); p64(&z, cs); }
        put(&z, c ? c : e[i].data, cn);
        p32(&cd, 0x02014b50); p16(&cd, 20); p16(&cd, z64 ? 45 : 20); p16(&cd, e[i].flags);
        p16(&cd, e[i].deflate ? 8 : 0); p16(&cd, 0); p16(&cd, 0); p32(&cd, crc);
        p32(&cd, z64 ? 0xffffffffu : (uint32_t)cs); p32(&cd, z64 ? 0xffffffffu : (uint32_t)us);
        p16(&cd, (uint16_t)strlen(e[i].name)); p16(&cd, z64 ? 28 : 0); p16(&cd, 0);
        p16(&cd, 0); p16(&cd, 0); p32(&cd, 0); p32(&cd, z64 ? 0xffffffffu : (uint32_t)off);
        put(&cd, e[i].name, strlen(e[i].name));
        if (z64) { p16(&cd, 1); p16(&cd, 24); p64(&cd, us); p64(&cd, cs); p64(&cd, off); }
        free(c);
    }
    uint64_t cdoff = z.n;
    put(&z, cd.p, cd.n);
    uint16_t count = (uint16_t)(ne + ((opts & W_BAD_COUNT) ? 1000 : 0));
    if (opts & W_ZIP64) {
        uint64_t rec = z.n;
        p32(&z, 0x06064b50); p64(&z, 44); p16(&z, 45); p16(&z, 45); p32(&z, 0); p32(&z, 0);
        p64(&z, (uint64_t)ne); p64(&z, (uint64_t)ne); p64(&z, cd.n); p64(&z, cdoff);
        p32(&z, 0x07064b50); p32(&z, 0); p64(&z, rec); p32(&z, 1);
        p32(&z, 0x06054b50); p16(&z, 0xffff); p16(&z, 0xffff); p16(&z, 0xffff); p16(&z, 0xffff);
        p32(&z, 0xffffffffu); p32(&z, 0xffffffffu); p16(&z, 0);
    } else {
        p32(&z, 0x06054b50); p16(&z, 0); p16(&z, 0); p16(&z, count); p16(&z, count);
        p32(&z, (uint32_t)cd.n); p32(&z, (uint32_t)cdoff); p16(&z, 0);
    }
    free(cd.p);
    return z;
}

static const uint8_t hello[] = "hello, strict zip reader";

/* Open (and read entry 0 fully); expect failure with msg at the given step. */
static void expect(const char *name, buf z, int flags, int fail_at_open, const char *msg)
{
    lb_zip *zip = NULL;
    lb_err err;
    lb_err_clear(&err);
    tap_begin("zip malformed: %s", name);
    int rc = lb_zip_open_mem(&zip, z.p, z.n, flags, &err);
    if (fail_at_open) {
        CHECK(rc == LB_EFORMAT, "open rc %d, expected LB_EFORMAT", rc);
    } else {
        CHECK(rc == LB_OK, "open: %s", err.msg);
        uint8_t *d = NULL;
        size_t n = 0;
        if (zip) rc = lb_zip_read(zip, lb_zip_entry_at(zip, 0), 1 << 20, &d, &n, &err);
        CHECK(rc == LB_EFORMAT, "read rc %d, expected LB_EFORMAT", rc);
        free(d);
    }
    CHECK(strstr(err.msg, msg) != NULL, "message '%s' lacks '%s'", err.msg, msg);
    lb_zip_close(zip);
    free(z.p);
    tap_end();
}

static void test_good(void)
{
    uint8_t big[100000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7 % 13);
    ent e[3] = {
        { .name = "archive/data.pkl", .data = hello, .n = sizeof hello },
        { .name = "archive/data/0", .data = big, .n = sizeof big, .deflate = 1 },
        { .name = "archive/version", .data = (const uint8_t *)"3\n", .n = 2 } };
    for (int z64 = 0; z64 < 2; z64++) {
        buf z = build(e, 3, z64 ? W_ZIP64 : 0);
        lb_zip *zip = NULL;
        lb_err err;
        lb_err_clear(&err);
        tap_begin("zip good%s: list, find, read stored and deflated, read_at", z64 ? " (zip64)" : "");
        int rc = lb_zip_open_mem(&zip, z.p, z.n, 0, &err);
        CHECK(rc == LB_OK, "open: %s", err.msg);
        if (zip) {
            CHECK(lb_zip_count(zip) == 3, "%zu entries", lb_zip_count(zip));
            const lb_zip_entry *pk = NULL, *d0 = lb_zip_find(zip, "archive/data/0");
            CHECK(lb_zip_find_suffix(zip, "data.pkl", &pk, &err) == LB_OK && pk, "find_suffix");
            CHECK(pk && pk->data_offset == 30 + 16 + (z64 ? 20 : 0) && pk->usize == sizeof hello, "stored data offset");
            CHECK(pk && !memcmp(z.p + pk->data_offset, hello, sizeof hello), "in-place data");
            uint8_t *d = NULL;
            size_t n = 0;
            CHECK(d0 && d0->method == 8 && lb_zip_read(zip, d0, 1 << 20, &d, &n, &err) == LB_OK, "inflate: %s", err.msg);
            CHECK(d && n == sizeof big && !memcmp(d, big, n), "inflated bytes");
            free(d);
            char part[5] = { 0 };
            CHECK(pk && lb_zip_read_at(zip, pk, 7, part, 4, &err) == LB_OK && !memcmp(part, "stri", 4), "read_at");
            CHECK(pk && lb_zip_read_at(zip, pk, sizeof hello - 2, part, 4, &err) == LB_EFORMAT, "read_at past end");
            CHECK(lb_zip_read(zip, d0, 1000, &d, &n, &err) == LB_EFORMAT && strstr(err.msg, "exceeds the limit"),
                  "max size honoured: %s", err.msg);
        }
        lb_zip_close(zip);
        free(z.p);
        tap_end();
    }
}

static void test_malformed(void)
{
    ent e = { .name = "data.pkl", .data = hello, .n = sizeof hello };
    buf z;

    z = build(&e, 1, 0);
    z.n -= 30;                                  /* cut into the central directory */
    expect("truncated file", z, 0, 1, "no end-of-central-directory record");

    { ent t = e; t.fake_csize = 4000; t.fake_usize = 4000;
      expect("truncated entry (data runs into the directory)", build(&t, 1, 0), 0, 1, "runs past the start of the central directory"); }
    { ent t = e; t.bad_crc = 1;
      expect("CRC mismatch", build(&t, 1, 0), 0, 0, "CRC mismatch"); }
    { ent t = e; t.bad_crc = 1; t.deflate = 1;
      expect("CRC mismatch (deflated)", build(&t, 1, 0), 0, 0, "CRC mismatch"); }
    { ent t = e; t.local_name = "datap.kl";
      expect("local/central name mismatch", build(&t, 1, 0), 0, 1, "local header name differs"); }
    { ent t = e; t.flags = 1;
      expect("encrypted flag", build(&t, 1, 0), 0, 0, "encrypted (flag bit 0 set)"); }
    { ent t = e; t.name = t.local_name = "../evil.pkl";
      expect("'../' name", build(&t, 1, 0), 0, 1, "path traversal"); }
    { ent t = e; t.name = t.local_name = "a/../../b";
      expect("'..' inside a name", build(&t, 1, 0), 0, 1, "path traversal"); }
    { ent t = e; t.name = t.local_name = "/etc/passwd";
      expect("absolute name", build(&t, 1, 0), 0, 1, "absolute path"); }
    { ent t = e; t.name = t.local_name = "c:\\x";
      expect("backslash name", build(&t, 1, 0), 0, 1, "backslash"); }
    expect("entry count larger than the directory", build(&e, 1, W_BAD_COUNT), 0, 1, "cannot fit");
    { ent t[2] = { e, e };
      expect("duplicate names", build(t, 2, 0), 0, 1, "appears twice"); }

    /* zip bombs: a huge declared size, and a real 8 MB of zeros declared as 100 bytes */
    { ent t = e; t.deflate = 1; t.fake_usize = (uint64_t)1 << 40;
      expect("zip bomb: declared size 1 TiB", build(&t, 1, W_ZIP64), 0, 0, "exceeds the limit"); }
    {
        lb_zip *zip = NULL;
        lb_err err;
        tap_begin("zip bomb: declared size impossible for the compressed size");
        ent t = e; t.deflate = 1; t.fake_usize = 1u << 30;
        buf b = build(&t, 1, 0);
        int rc = lb_zip_open_mem(&zip, b.p, b.n, 0, &err);
        uint8_t *d = NULL;
        size_t n;
        CHECK(rc == LB_OK, "open: %s", err.msg);
        if (zip) rc = lb_zip_read(zip, lb_zip_entry_at(zip, 0), (uint64_t)1 << 32, &d, &n, &err);
        CHECK(rc == LB_EFORMAT && strstr(err.msg, "zip bomb"), "got '%s'", err.msg);
        free(d);
        lb_zip_close(zip);
        free(b.p);
        tap_end();
    }
    {
        size_t zn = 8u << 20;
        uint8_t *zeros = calloc(1, zn);
        ent t = { .name = "bomb", .data = zeros, .n = zn, .deflate = 1, .fake_usize = 100 };
        expect("zip bomb: inflates past its declared size", build(&t, 1, 0), 0, 0, "inflates past its declared size");
        free(zeros);
    }

    /* lenient flags: what PyTorch accepts, recorded on the entry */
    {
        lb_zip *zip = NULL;
        lb_err err;
        tap_begin("zip lenient flags: name mismatch and encrypted bit read as plaintext");
        ent t = e; t.local_name = "datap.kl"; t.flags = 1;
        buf b = build(&t, 1, 0);
        int rc = lb_zip_open_mem(&zip, b.p, b.n, LB_ZIP_ALLOW_NAME_MISMATCH | LB_ZIP_ALLOW_ENCRYPTED_FLAG, &err);
        CHECK(rc == LB_OK, "open: %s", err.msg);
        const lb_zip_entry *x = zip ? lb_zip_entry_at(zip, 0) : NULL;
        CHECK(x && x->name_mismatch && x->encrypted && !strcmp(x->name, "data.pkl"), "entry flags");
        uint8_t *d = NULL;
        size_t n = 0;
        CHECK(x && lb_zip_read(zip, x, 1000, &d, &n, &err) == LB_OK && n == sizeof hello, "read: %s", err.msg);
        free(d);
        lb_zip_close(zip);
        free(b.p);
        tap_end();
    }
    {
        tap_begin("zip: not a zip, empty input");
        lb_zip *zip = NULL;
        lb_err err;
        CHECK(lb_zip_open_mem(&zip, "hello", 5, 0, &err) == LB_EFORMAT && strstr(err.msg, "not a zip"), "%s", err.msg);
        CHECK(lb_zip_open_mem(&zip, "", 0, 0, &err) == LB_EFORMAT, "empty");
        tap_end();
    }
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void test_real(const char *shared)
{
    static const struct { const char *path; int flags; int open_ok; size_t entries; const char *msg; } cases[] = {
        { "models/hf/stories260K-llama/pytorch_model.bin", 0, 1, 49, NULL },
        { "pickles/picklescan/new_pytorch_model.bin", 0, 1, 3, NULL },
        { "pickles/picklescan/object_arrays.npz", 0, 1, 2, NULL },
        { "pickles/modelaudit/malicious_eval.pt", 0, 1, 2, NULL },
        { "pickles/picklescan/malicious1_central_directory.zip", 0, 0, 0, "local header name differs" },
        { "pickles/picklescan/malicious1_central_directory.zip", LB_ZIP_ALLOW_NAME_MISMATCH, 1, 1, NULL },
        { "pickles/picklescan/malicious1_0x1.zip", 0, 1, 1, "encrypted" },
        { "pickles/modelscan/password_protected.zip", 0, 1, 1, "encrypted" },
        { "models/numpy/candle-test.npz", 0, 1, 2, NULL },
        { "pickles/picklescan/bad_pytorch.pt", 0, 0, 0, "not a zip" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1200];
        size_t n;
        snprintf(path, sizeof path, "%s/%s", shared, cases[i].path);
        uint8_t *d = slurp(path, &n);
        if (!d) { tap_skip(cases[i].path, "file missing"); continue; }
        tap_begin("zip real %s%s", cases[i].path, cases[i].flags ? " (lenient)" : "");
        lb_zip *z = NULL;
        lb_err err;
        lb_err_clear(&err);
        int rc = lb_zip_open_mem(&z, d, n, cases[i].flags, &err);
        CHECK((rc == LB_OK) == cases[i].open_ok, "open rc %d: %s", rc, err.msg);
        if (!cases[i].open_ok) CHECK(strstr(err.msg, cases[i].msg) != NULL, "message '%s'", err.msg);
        if (z) {
            CHECK(lb_zip_count(z) == cases[i].entries, "%zu entries", lb_zip_count(z));
            int bad = 0;
            uint64_t total = 0;
            for (size_t k = 0; k < lb_zip_count(z); k++) {
                uint8_t *b = NULL;
                size_t bn = 0;
                lb_err e2;
                lb_err_clear(&e2);
                if (lb_zip_read(z, lb_zip_entry_at(z, k), 1 << 26, &b, &bn, &e2)) {
                    bad++;
                    if (cases[i].msg) CHECK(strstr(e2.msg, cases[i].msg) != NULL, "read message '%s'", e2.msg);
                    else CHECK(0, "read %s: %s", lb_zip_entry_at(z, k)->name, e2.msg);
                }
                total += bn;
                free(b);
            }
            CHECK(!cases[i].msg || bad > 0, "expected a refused read");
            CHECK(cases[i].msg || total > 0, "no bytes read");
        }
        lb_zip_close(z);
        if (cases[i].open_ok && !cases[i].flags) {        /* the same through an lb_src file */
            lb_src *src = NULL;
            z = NULL;
            CHECK(lb_src_open(&src, path, &err) == LB_OK, "lb_src_open: %s", err.msg);
            if (src) CHECK(lb_zip_open_src(&z, src, 0, &err) == LB_OK && lb_zip_count(z) == cases[i].entries,
                           "lb_zip_open_src: %s", err.msg);
            if (z && lb_zip_count(z)) {
                uint8_t *b = NULL;
                size_t bn = 0;
                const lb_zip_entry *x = lb_zip_entry_at(z, lb_zip_count(z) - 1);
                int rc2 = lb_zip_read(z, x, 1 << 26, &b, &bn, &err);
                CHECK(cases[i].msg || (rc2 == LB_OK && bn == x->usize && !memcmp(b, d + x->data_offset, x->method ? 0 : bn)),
                      "read through lb_src: %s", err.msg);
                free(b);
            }
            lb_zip_close(z);
            lb_src_close(src);
        }
        free(d);
        tap_end();
    }
}

int main(void)
{
    test_good();
    test_malformed();
    const char *shared = tap_shared();
    if (shared) test_real(shared);
    else tap_skip("zip real files", "../shared not found (set LOWBIT_SHARED)");
    TAP_EXIT();
}
