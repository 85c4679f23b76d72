/* test_scan.c: the scan library (verify/lb_scan.h): findings and verdicts, the lint passes on
 * in-memory files (every finding, not only the first), and real files from ../shared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_le.h"
#include "lb_scan.h"
#include "scan_int.h"
#include "tap.h"

#include <zlib.h>

static size_t count_id(const lb_scan_file *r, const char *id, int sev)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->f[i].id, id) && r->f[i].sev == sev) n++;
    return n;
}

static void empty(lb_scan_file *r)
{
    memset(r, 0, sizeof *r);
    r->worst = -1;
    r->format = "test";
}

static void test_verdicts(void)
{
    lb_scan_file r;
    tap_begin("verdict: none and info are clean, else the worst severity");
    empty(&r);
    CHECK(!strcmp(lb_scan_verdict(&r), "clean"), "empty: %s", lb_scan_verdict(&r));
    lb_scan_add(&r, "NOT_A_MODEL", LB_SEV_INFO, LB_NO_OFFSET, "text file");
    CHECK(!strcmp(lb_scan_verdict(&r), "clean"), "info: %s", lb_scan_verdict(&r));
    lb_scan_addi(&r, "DATA_GAP", LB_SEV_WARNING, "tensor", "a", 12, "gap of %d bytes", 4);
    CHECK(!strcmp(lb_scan_verdict(&r), "warning"), "warning: %s", lb_scan_verdict(&r));
    lb_scan_add(&r, "PICKLE_GLOBAL", LB_SEV_MALICIOUS, 3, "posix.system");
    lb_scan_add(&r, "TRUNCATED", LB_SEV_ERROR, 9, "cut");
    CHECK(!strcmp(lb_scan_verdict(&r), "malicious"), "malicious stays: %s", lb_scan_verdict(&r));
    CHECK(r.n == 4 && !strcmp(r.f[1].item, "tensor 'a'") && r.f[1].offset == 12 &&
          !strcmp(r.f[1].msg, "gap of 4 bytes"), "finding fields: %s / %s", r.f[1].item, r.f[1].msg);
    CHECK(lb_scan_has(&r, "TRUNCATED") && !lb_scan_has(&r, "NAN_VALUES"), "lb_scan_has");
    lb_scan_file_free(&r);
    tap_end();

    tap_begin("findings past the cap are counted, and still count for the verdict");
    empty(&r);
    for (int i = 0; i < LB_SCAN_MAX_FINDINGS + 5; i++) lb_scan_add(&r, "DATA_GAP", LB_SEV_WARNING, (uint64_t)i, "x");
    lb_scan_add(&r, "NAN_VALUES", LB_SEV_ERROR, 0, "y");
    CHECK(r.n == LB_SCAN_MAX_FINDINGS && r.dropped == 6, "n %zu dropped %zu", r.n, r.dropped);
    CHECK(r.worst == LB_SEV_ERROR, "worst %d", r.worst);
    lb_scan_file_free(&r);
    tap_end();
}

/* A safetensors file in memory: header text padded to 8, then data bytes. */
static uint8_t *st_file(const char *hdr, size_t data, size_t *n)
{
    size_t h = strlen(hdr), hp = (h + 7) / 8 * 8;
    uint8_t *b = calloc(1, 8 + hp + data);
    lb_st64(b, hp);
    memcpy(b + 8, hdr, h);
    memset(b + 8 + h, ' ', hp - h);
    *n = 8 + hp + data;
    return b;
}

static void test_safetensors_mem(void)
{
    /* a: ok [0,16); b: shape says 8 bytes, offsets span 16, and overlaps a; c: duplicate of a;
     * d: past the end after a jump; e: unaligned f32 */
    const char *hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,24]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[24,28]},"
                      "\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9000,9004]},"
                      "\"e\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[30,34]}}";
    size_t n;
    uint8_t *b = st_file(hdr, 40, &n);
    lb_src *src;
    lb_err err;
    lb_err_clear(&err);
    lb_scan_file r;
    empty(&r);
    tap_begin("safetensors lint: every finding in one pass");
    CHECK(lb_src_mem(&src, b, n, "mem.safetensors", &err) == LB_OK, "src: %s", err.msg);
    CHECK(lb_scan_is_safetensors(b, n), "detected by content");
    lb_scan_safetensors(&r, src, b, n);
    CHECK(count_id(&r, "SHAPE_SIZE_MISMATCH", LB_SEV_ERROR) == 1, "shape/size");
    CHECK(count_id(&r, "OFFSET_OVERLAP", LB_SEV_ERROR) == 1, "overlap");
    CHECK(count_id(&r, "DUPLICATE_NAME", LB_SEV_ERROR) == 1, "duplicate");
    CHECK(count_id(&r, "OFFSET_OUT_OF_BOUNDS", LB_SEV_ERROR) == 1, "out of bounds");
    CHECK(count_id(&r, "OFFSET_UNALIGNED", LB_SEV_WARNING) == 1, "unaligned");
    CHECK(count_id(&r, "TRAILING_DATA", LB_SEV_WARNING) == 1, "trailing");
    size_t hp = (strlen(hdr) + 7) / 8 * 8;
    int found = 0;
    for (size_t i = 0; i < r.n; i++)
        if (!strcmp(r.f[i].id, "OFFSET_OVERLAP")) found = r.f[i].offset == 8 + hp + 8 && !strcmp(r.f[i].item, "tensor 'b'");
    CHECK(found, "overlap names b at its absolute data offset");
    for (size_t i = 0; i < r.n; i++)
        if (!strcmp(r.f[i].id, "DUPLICATE_NAME")) found = r.f[i].offset == 8 + (uint64_t)(strstr(hdr, "\"a\":{\"dtype\":\"F32\",\"shape\":[1]") - hdr);
    CHECK(found, "duplicate points at the later key");
    lb_src_close(src);
    lb_scan_file_free(&r);
    tap_end();
    free(b);

    tap_begin("safetensors lint: truncated file is one TRUNCATED finding");
    b = st_file("{\"a\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[0,16]},"
                "\"b\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[16,32]}}", 20, &n);
    empty(&r);
    lb_src_mem(&src, b, n, "mem2", &err);
    lb_scan_safetensors(&r, src, b, n);
    CHECK(count_id(&r, "TRUNCATED", LB_SEV_ERROR) == 1 && r.n == 1, "%zu findings, first %s", r.n, r.n ? r.f[0].id : "-");
    CHECK(r.n && r.f[0].offset == n, "offset is the file size");
    lb_src_close(src);
    lb_scan_file_free(&r);
    free(b);
    tap_end();
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* Offset just after the GGUF string s (u64 length + bytes) in b, or 0. */
static size_t gguf_find(const uint8_t *b, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + 8 + k <= n; i++)
        if (lb_ld64(b + i) == k && !memcmp(b + i + 8, s, k)) return i + 8 + k;
    return 0;
}

static void test_gguf_real(const char *shared)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/models/gguf/stories260K.gguf", shared);
    lb_scan_file r;
    lb_err err;
    lb_err_clear(&err);
    lb_scan_opts deep = { 1 };
    tap_begin("real stories260K.gguf: no findings, with --deep too");
    CHECK(lb_scan_file_path(path, &deep, &r, &err) == LB_OK, "%s", err.msg);
    CHECK(r.n == 0 && !strcmp(r.format, "gguf"), "%zu findings (%s), format %s", r.n, r.n ? r.f[0].msg : "", r.format);
    lb_scan_file_free(&r);
    tap_end();

    size_t n;
    uint8_t *b = slurp(path, &n);
    tap_begin("gguf lint: block_count and duplicate name in one pass, no false tokenizer finding");
    CHECK(b != NULL, "read %s", path);
    if (b) {
        size_t bc = gguf_find(b, n, "llama.block_count"), tt = gguf_find(b, n, "tokenizer.ggml.token_type");
        size_t k4 = gguf_find(b, n, "blk.4.attn_k.weight");
        CHECK(bc && tt && k4, "found the fields");
        lb_st32(b + bc + 4, 7);
        memcpy(b + k4 - 19, "blk.4.attn_v", 12);
        lb_src *src;
        lb_src_mem(&src, b, n, "mem.gguf", &err);
        empty(&r);
        lb_scan_gguf(&r, src);
        CHECK(count_id(&r, "GGUF_BLOCK_COUNT", LB_SEV_ERROR) == 1, "block count");
        CHECK(count_id(&r, "DUPLICATE_NAME", LB_SEV_ERROR) == 1, "duplicate");
        CHECK(count_id(&r, "GGUF_TOKENIZER_LENGTHS", LB_SEV_ERROR) == 0, "no false tokenizer finding");
        CHECK(r.n == 2, "%zu findings", r.n);
        lb_scan_file_free(&r);
        lb_src_close(src);

        /* a truncated copy: the lint stops at the end of the bytes with one TRUNCATED */
        lb_src_mem(&src, b, 3000, "cut.gguf", &err);
        empty(&r);
        lb_scan_gguf(&r, src);
        CHECK(count_id(&r, "TRUNCATED", LB_SEV_ERROR) >= 1, "truncated header: %s", r.n ? r.f[0].id : "-");
        lb_scan_file_free(&r);
        lb_src_close(src);
    }
    free(b);
    tap_end();
}

/* Scan bytes written to a temporary file. */
static int scan_bytes(const void *b, size_t n, lb_scan_file *r)
{
    char path[] = "/tmp/test_scan.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
    lb_err err;
    lb_err_clear(&err);
    int rc = lb_scan_file_path(path, NULL, r, &err);
    remove(path);
    return rc;
}

static const lb_finding *find(const lb_scan_file *r, const char *id, const char *item)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->f[i].id, id) && (!item || !strcmp(r->f[i].item, item))) return &r->f[i];
    return NULL;
}

static void test_pickles(void)
{
    lb_scan_file r;
    tap_begin("pickle: protocol 0 os.system is malicious, at its GLOBAL opcode");
    static const char p0[] = "(S'x'\np0\ncos\nsystem\np1\n(S'ls'\ntR.";
    CHECK(scan_bytes(p0, sizeof p0 - 1, &r) == LB_OK, "scan");
    const lb_finding *f = find(&r, "PICKLE_GLOBAL", "global 'os.system'");
    CHECK(f && f->sev == LB_SEV_MALICIOUS && f->offset == 9, "finding %s", f ? f->msg : "missing");
    CHECK(!strcmp(r.format, "pickle") && !strcmp(lb_scan_verdict(&r), "malicious"), "%s %s", r.format, lb_scan_verdict(&r));
    lb_scan_file_free(&r);
    tap_end();

    tap_begin("pickle: allow-listed globals are info, unknown ones suspicious");
    static const uint8_t p2[] = "\x80\x02" "ccollections\nOrderedDict\nq\x00)Rq\x01" "c__main__\nNet\nq\x02)\x81q\x03\x86q\x04.";
    CHECK(scan_bytes(p2, sizeof p2 - 1, &r) == LB_OK, "scan");
    f = find(&r, "PICKLE_GLOBAL", "global 'collections.OrderedDict'");
    CHECK(f && f->sev == LB_SEV_INFO && f->offset == 2, "OrderedDict: %s", f ? f->msg : "missing");
    f = find(&r, "PICKLE_GLOBAL", "global '__main__.Net'");
    CHECK(f && f->sev == LB_SEV_SUSPICIOUS, "__main__.Net: %s", f ? f->msg : "missing");
    CHECK(!strcmp(lb_scan_verdict(&r), "suspicious"), "%s", lb_scan_verdict(&r));
    lb_scan_file_free(&r);
    tap_end();

    tap_begin("pickle: a pickle inside a pickle's bytes is suspicious, its globals classified");
    static const uint8_t inner[] = "\x80\x02" "cbuiltins\neval\nq\x00X\x01\x00\x00\x00" "1\x85R.";
    uint8_t outer[128];
    size_t k, in = sizeof inner - 1;
    memcpy(outer, "\x80\x03" "C", 3);
    k = 3;
    outer[k++] = (uint8_t)in;
    memcpy(outer + k, inner, in); k += in;
    outer[k++] = '.';
    CHECK(scan_bytes(outer, k, &r) == LB_OK, "scan");
    f = find(&r, "PICKLE_NESTED", NULL);
    CHECK(f && f->sev == LB_SEV_SUSPICIOUS && f->offset == 4, "nested: %s", f ? f->msg : "missing");
    f = find(&r, "PICKLE_GLOBAL", "global 'builtins.eval'");
    CHECK(f && f->sev == LB_SEV_MALICIOUS && f->offset == 6, "inner eval: %s", f ? f->msg : "missing");
    lb_scan_file_free(&r);
    tap_end();

    tap_begin("pickle: a text file that starts like protocol 0 is not a pickle");
    static const char txt[] = "cat\ndog\nbird\n";
    CHECK(scan_bytes(txt, sizeof txt - 1, &r) == LB_OK, "scan");
    CHECK(!strcmp(r.format, "text") && r.n == 1 && !strcmp(r.f[0].id, "NOT_A_MODEL"), "%s %zu", r.format, r.n);
    lb_scan_file_free(&r);
    tap_end();
}

static int same(const uint8_t *p, size_t n, const char *want, size_t wn)
{
    return p && n == wn && !memcmp(p, want, wn);
}

static void test_decoders(void)
{
    size_t k = 0;
    uint8_t *o;
    tap_begin("decoders: hex, with spaces between bytes, and what is not hex");
    o = lbs_hex((const uint8_t *)"80 04 95", 8, &k);
    CHECK(same(o, k, "\x80\x04\x95", 3), "spaced hex: %zu bytes", k);
    free(o);
    o = lbs_hex((const uint8_t *)"8004950", 7, &k);
    CHECK(!o, "an odd digit count is not hex");
    free(o);
    o = lbs_hex((const uint8_t *)"80g4", 4, &k);
    CHECK(!o, "a non-hex digit is not hex");
    free(o);
    tap_end();

    tap_begin("decoders: base64 standard, URL-safe, line breaks, padding");
    o = lbs_base64((const uint8_t *)"aGVsbG8gd29ybGQ=", 16, &k);
    CHECK(same(o, k, "hello world", 11), "standard: %zu", k);
    free(o);
    o = lbs_base64((const uint8_t *)"-_-_\n-_8=", 9, &k);
    CHECK(same(o, k, "\xfb\xff\xbf\xfb\xff", 5), "URL-safe with a line break: %zu", k);
    free(o);
    o = lbs_base64((const uint8_t *)"aGVs=bG8", 8, &k);
    CHECK(!o, "text after the padding is not base64");
    free(o);
    tap_end();

    tap_begin("decoders: latin-1 text is U+0080..U+00FF only");
    o = lbs_latin1((const uint8_t *)"caf\xc3\xa9\xc2\x80", 7, &k);
    CHECK(same(o, k, "caf\xe9\x80", 5), "latin-1: %zu", k);
    free(o);
    o = lbs_latin1((const uint8_t *)"\xe2\x82\xac", 3, &k);
    CHECK(!o, "U+20AC is not latin-1");
    free(o);
    o = lbs_latin1((const uint8_t *)"plain", 5, &k);
    CHECK(!o, "ASCII needs no decoding");
    free(o);
    tap_end();

    tap_begin("decoders: zlib complete, cut short, and capped");
    uint8_t plain[4000], z[5000];
    for (size_t i = 0; i < sizeof plain; i++) plain[i] = (uint8_t)(i * 7 % 251);
    uLongf zn = sizeof z;
    CHECK(compress(z, &zn, plain, sizeof plain) == Z_OK, "compress");
    CHECK(lbs_compression(z, zn) == LBS_Z_ZLIB, "zlib magic");
    int st;
    o = lbs_decompress(LBS_Z_ZLIB, z, zn, 1 << 20, &k, &st);
    CHECK(o && st == 0 && k == sizeof plain && !memcmp(o, plain, k), "complete: status %d, %zu bytes", st, k);
    free(o);
    o = lbs_decompress(LBS_Z_ZLIB, z, zn / 2, 1 << 20, &k, &st);
    CHECK(o && st == 1 && k < sizeof plain && !memcmp(o, plain, k), "cut: status %d, %zu bytes", st, k);
    free(o);
    o = lbs_decompress(LBS_Z_ZLIB, z, zn, 1000, &k, &st);
    CHECK(o && st == 2 && k == 1000, "capped: status %d, %zu bytes", st, k);
    free(o);
    CHECK(lbs_compression((const uint8_t *)"BZh9", 4) == LBS_Z_BZIP2 && lbs_compression((const uint8_t *)"xyzw", 4) == 0,
          "bzip2 magic, and none");
    tap_end();
}

int main(void)
{
    test_verdicts();
    test_decoders();
    test_pickles();
    test_safetensors_mem();
    const char *shared = tap_shared();
    if (shared) test_gguf_real(shared);
    else tap_skip("scan on real files", "needs ../shared/models (LOWBIT_SHARED)");
    TAP_EXIT();
}
