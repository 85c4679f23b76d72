/* scan_decode.c: the decoders the scanner peels payloads with (scan_int.h): compressed
 * streams (zlib, gzip and raw deflate through zlib; bzip2, xz, lzma and zstd through
 * libarchive's raw reader), hex, base64 and latin-1 text. All are bounded by the caller's
 * max and by the input; none trusts a declared size. */
#include "scan_int.h"

#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

int lbs_compression(const uint8_t *d, size_t n)
{
    if (n < 4) return LBS_Z_NONE;
    if (d[0] == 0x1f && d[1] == 0x8b && d[2] == 8) return LBS_Z_GZIP;
    if ((d[0] & 0x0f) == 8 && (d[0] >> 4) <= 7 && ((unsigned)d[0] << 8 | d[1]) % 31 == 0 && !(d[1] & 0x20))
        return LBS_Z_ZLIB;
    if (d[0] == 'B' && d[1] == 'Z' && d[2] == 'h' && d[3] >= '1' && d[3] <= '9') return LBS_Z_BZIP2;
    if (n >= 6 && !memcmp(d, "\xfd" "7zXZ\0", 6)) return LBS_Z_XZ;
    if (n >= 13 && d[0] == 0x5d && d[1] == 0 && d[2] == 0 && (d[3] | d[4]) != 0) return LBS_Z_LZMA;
    if (!memcmp(d, "\x28\xb5\x2f\xfd", 4)) return LBS_Z_ZSTD;
    return LBS_Z_NONE;
}

const char *lbs_compression_name(int kind)
{
    static const char *const names[] = { "none", "zlib", "gzip", "deflate", "bzip2", "xz", "lzma", "zstd" };
    return kind >= 0 && kind <= LBS_Z_ZSTD ? names[kind] : "?";
}

/* A growing output buffer. */
typedef struct obuf { uint8_t *p; size_t n, cap; uint64_t max; } obuf;

/* Room for at least one more byte below max; 0 when full or out of memory. */
static size_t room(obuf *o)
{
    if (o->n >= o->max) return 0;
    if (o->n + 1 >= o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 1u << 16;
        if (nc > o->max + 1) nc = (size_t)o->max + 1;
        uint8_t *q = realloc(o->p, nc);
        if (!q) return 0;
        o->p = q;
        o->cap = nc;
    }
    size_t k = o->cap - 1 - o->n;
    return o->n + k > o->max ? (size_t)(o->max - o->n) : k;
}

static uint8_t *finish(obuf *o, size_t *outn)
{
    if (!o->n) { free(o->p); return NULL; }
    o->p[o->n] = 0;
    *outn = o->n;
    return o->p;
}

static uint8_t *inflate_all(int wbits, const uint8_t *d, size_t n, uint64_t max, size_t *outn, int *status)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, wbits) != Z_OK) return NULL;
    obuf o = { NULL, 0, 0, max };
    z.next_in = (Bytef *)d;
    size_t left = n;
    int rc = Z_OK;
    *status = 1;
    for (;;) {
        size_t k = room(&o);
        if (!k) { *status = o.n >= max ? 2 : 1; break; }
        if (k > (1u << 30)) k = 1u << 30;
        z.next_out = o.p + o.n;
        z.avail_out = (uInt)k;
        uInt in = left > (1u << 30) ? (1u << 30) : (uInt)left;
        z.avail_in = in;
        rc = inflate(&z, Z_NO_FLUSH);
        left -= in - z.avail_in;
        o.n += k - z.avail_out;
        if (rc == Z_STREAM_END) { *status = 0; break; }
        if (rc != Z_OK && rc != Z_BUF_ERROR) break;
        if (rc == Z_BUF_ERROR && !left) break;   /* input ends inside the stream */
    }
    inflateEnd(&z);
    return finish(&o, outn);
}

static uint8_t *archive_filter(int kind, const uint8_t *d, size_t n, uint64_t max, size_t *outn, int *status)
{
    struct archive *a = archive_read_new();
    if (!a) return NULL;
    archive_read_support_format_raw(a);
    if (kind == LBS_Z_BZIP2) archive_read_support_filter_bzip2(a);
    else if (kind == LBS_Z_XZ) archive_read_support_filter_xz(a);
    else if (kind == LBS_Z_LZMA) archive_read_support_filter_lzma(a);
    else archive_read_support_filter_zstd(a);
    obuf o = { NULL, 0, 0, max };
    struct archive_entry *e;
    *status = 1;
    if (archive_read_open_memory(a, d, n) == ARCHIVE_OK && archive_read_next_header(a, &e) == ARCHIVE_OK &&
        archive_filter_count(a) > 1) {
        for (;;) {
            size_t k = room(&o);
            if (!k) { *status = o.n >= max ? 2 : 1; break; }
            la_ssize_t got = archive_read_data(a, o.p + o.n, k);
            if (got < 0) break;
            if (got == 0) { *status = 0; break; }
            o.n += (size_t)got;
        }
    }
    archive_read_free(a);
    return finish(&o, outn);
}

uint8_t *lbs_decompress(int kind, const uint8_t *d, size_t n, uint64_t max, size_t *outn, int *status)
{
    *status = 1;
    if (!max) { *status = 2; return NULL; }
    switch (kind) {
    case LBS_Z_ZLIB: return inflate_all(15, d, n, max, outn, status);
    case LBS_Z_GZIP: return inflate_all(31, d, n, max, outn, status);
    case LBS_Z_DEFLATE: return inflate_all(-15, d, n, max, outn, status);
    case LBS_Z_BZIP2: case LBS_Z_XZ: case LBS_Z_LZMA: case LBS_Z_ZSTD:
        return archive_filter(kind, d, n, max, outn, status);
    default: return NULL;
    }
}

#define B LBS_C_B64
#define H (LBS_C_B64 | LBS_C_HEX)
#define S LBS_C_SPACE
const uint8_t lbs_class[256] = {
    ['\t'] = S, ['\n'] = S, ['\r'] = S, [' '] = S, ['+'] = B, ['-'] = B, ['/'] = B, ['_'] = B,
    ['0'] = H, ['1'] = H, ['2'] = H, ['3'] = H, ['4'] = H, ['5'] = H, ['6'] = H, ['7'] = H, ['8'] = H, ['9'] = H,
    ['A'] = H, ['B'] = H, ['C'] = H, ['D'] = H, ['E'] = H, ['F'] = H, ['G'] = B, ['H'] = B, ['I'] = B, ['J'] = B,
    ['K'] = B, ['L'] = B, ['M'] = B, ['N'] = B, ['O'] = B, ['P'] = B, ['Q'] = B, ['R'] = B, ['S'] = B, ['T'] = B,
    ['U'] = B, ['V'] = B, ['W'] = B, ['X'] = B, ['Y'] = B, ['Z'] = B,
    ['a'] = H, ['b'] = H, ['c'] = H, ['d'] = H, ['e'] = H, ['f'] = H, ['g'] = B, ['h'] = B, ['i'] = B, ['j'] = B,
    ['k'] = B, ['l'] = B, ['m'] = B, ['n'] = B, ['o'] = B, ['p'] = B, ['q'] = B, ['r'] = B, ['s'] = B, ['t'] = B,
    ['u'] = B, ['v'] = B, ['w'] = B, ['x'] = B, ['y'] = B, ['z'] = B,
};
#undef B
#undef H
#undef S

static int is_space(uint8_t c) { return lbs_class[c] & LBS_C_SPACE; }

static int hexval(uint8_t c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

uint8_t *lbs_hex(const uint8_t *s, size_t n, size_t *outn)
{
    uint8_t *o = malloc(n / 2 + 1);
    if (!o) return NULL;
    size_t k = 0, i = 0;
    while (i < n) {
        if (is_space(s[i])) { i++; continue; }
        if (i + 1 >= n || !lbs_is_hex(s[i]) || !lbs_is_hex(s[i + 1])) { free(o); return NULL; }
        o[k++] = (uint8_t)(hexval(s[i]) << 4 | hexval(s[i + 1]));
        i += 2;
    }
    if (!k) { free(o); return NULL; }
    o[k] = 0;
    *outn = k;
    return o;
}

uint8_t *lbs_base64(const uint8_t *s, size_t n, size_t *outn)
{
    uint8_t *o = malloc(n * 3 / 4 + 4);
    if (!o) return NULL;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        int v;
        if (is_space(c)) continue;
        if (c == '=') { pad++; continue; }
        if (pad) { free(o); return NULL; }   /* text after the padding */
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else { free(o); return NULL; }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; o[k++] = (uint8_t)(acc >> bits); }
    }
    if (!k || pad > 2) { free(o); return NULL; }
    o[k] = 0;
    *outn = k;
    return o;
}

uint8_t *lbs_latin1(const uint8_t *s, size_t n, size_t *outn)
{
    uint8_t *o = malloc(n + 1);
    if (!o) return NULL;
    size_t k = 0;
    int high = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) { o[k++] = s[i]; continue; }
        if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < n && (s[i + 1] & 0xc0) == 0x80) {
            o[k++] = (uint8_t)((s[i] & 0x03) << 6 | (s[i + 1] & 0x3f));
            i++;
            high = 1;
            continue;
        }
        free(o);
        return NULL;
    }
    if (!high) { free(o); return NULL; }
    o[k] = 0;
    *outn = k;
    return o;
}
