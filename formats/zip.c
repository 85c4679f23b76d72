/* zip.c: a small strict zip reader (lb_zip.h).
 *
 * On-disk layout (PKWARE APPNOTE 6.3), all integers little-endian:
 *   local header  (30 bytes): "PK\3\4" ver flags method time date crc32 csize usize
 *                              name_len extra_len, then name, extra, data
 *   central entry (46 bytes): "PK\1\2" made ver flags method time date crc32 csize usize
 *                              name_len extra_len comment_len disk iattr eattr local_off,
 *                              then name, extra, comment
 *   zip64 record  (56+ bytes): "PK\6\6" size made ver disk cd_disk n_disk n cd_size cd_off
 *   zip64 locator (20 bytes): "PK\6\7" disk record_off ndisks
 *   EOCD          (22 bytes): "PK\5\6" disk cd_disk n_disk n cd_size cd_off comment_len
 * A 32-bit field of all ones defers to the zip64 record / the zip64 extra field (0x0001). */
#include "lb_zip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lb_le.h"

struct lb_zip {
    lb_zip_read_fn read;
    void *ctx;
    uint64_t size;
    int flags;
    lb_zip_entry *e;
    size_t n;
    uint64_t cd_off;   /* entries' data must end before this */
};

typedef struct memsrc { const uint8_t *p; size_t n; } memsrc;

static int mem_read(void *ctx, uint64_t off, void *buf, size_t n, lb_err *err)
{
    const memsrc *m = ctx;
    if (off > m->n || n > m->n - off)
        return lb_err_set(err, LB_EFORMAT, off, "truncated: %zu bytes needed, %llu available", n,
                          (unsigned long long)(off > m->n ? 0 : m->n - off));
    memcpy(buf, m->p + off, n);
    return LB_OK;
}

static int rd(lb_zip *z, uint64_t off, void *buf, size_t n, lb_err *err)
{
    if (off > z->size || n > z->size - off)
        return lb_err_set(err, LB_EFORMAT, off, "truncated zip: %zu bytes needed at offset %llu, file has %llu",
                          n, (unsigned long long)off, (unsigned long long)z->size);
    return z->read(z->ctx, off, buf, n, err);
}

/* ---- end of central directory ---- */

typedef struct cdinfo { uint64_t n, size, off, end; } cdinfo;

/* The EOCD: the last "PK\5\6" whose comment runs exactly to the end of the file. */
static int find_eocd(lb_zip *z, uint64_t *pos, uint8_t rec[22], lb_err *err)
{
    uint64_t span = z->size < 22 + 65535 ? z->size : 22 + 65535;
    if (z->size < 22) return lb_err_set(err, LB_EFORMAT, 0, "not a zip: %llu bytes, too short for an end record",
                                        (unsigned long long)z->size);
    uint8_t *buf = malloc((size_t)span);
    if (!buf) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    uint64_t base = z->size - span;
    int rc = rd(z, base, buf, (size_t)span, err);
    if (rc) { free(buf); return rc; }
    for (uint64_t i = span - 22 + 1; i-- > 0;) {
        if (lb_ld32(buf + i) != 0x06054b50) continue;
        if (i + 22 + lb_ld16(buf + i + 20) != span) continue;
        memcpy(rec, buf + i, 22);
        *pos = base + i;
        free(buf);
        return LB_OK;
    }
    free(buf);
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "not a zip: no end-of-central-directory record");
}

static int read_zip64_end(lb_zip *z, uint64_t eocd, cdinfo *cd, lb_err *err)
{
    uint8_t loc[20] = { 0 }, r[56] = { 0 };
    if (eocd < 20) return lb_err_set(err, LB_EFORMAT, eocd, "zip64 fields without a zip64 locator");
    uint64_t lpos = eocd - 20;
    LB_TRY(rd(z, lpos, loc, 20, err));
    if (lb_ld32(loc) != 0x07064b50) return lb_err_set(err, LB_EFORMAT, lpos, "zip64 fields without a zip64 locator");
    if (lb_ld32(loc + 4) != 0 || lb_ld32(loc + 16) != 1)
        return lb_err_set(err, LB_EFORMAT, lpos, "multi-disk zip not supported");
    uint64_t rpos = lb_ld64(loc + 8);
    if (rpos > lpos || lpos - rpos < 56)
        return lb_err_set(err, LB_EFORMAT, lpos, "zip64 end record offset %llu out of bounds", (unsigned long long)rpos);
    LB_TRY(rd(z, rpos, r, 56, err));
    if (lb_ld32(r) != 0x06064b50) return lb_err_set(err, LB_EFORMAT, rpos, "bad zip64 end record signature");
    if (lb_ld64(r + 4) != lpos - rpos - 12)
        return lb_err_set(err, LB_EFORMAT, rpos, "zip64 end record size does not reach the locator");
    if (lb_ld32(r + 16) != 0 || lb_ld32(r + 20) != 0 || lb_ld64(r + 24) != lb_ld64(r + 32))
        return lb_err_set(err, LB_EFORMAT, rpos, "multi-disk zip not supported");
    cd->n = lb_ld64(r + 32);
    cd->size = lb_ld64(r + 40);
    cd->off = lb_ld64(r + 48);
    cd->end = rpos;
    return LB_OK;
}

static int read_end(lb_zip *z, cdinfo *cd, lb_err *err)
{
    uint8_t r[22] = { 0 }, sig[4] = { 0 };
    uint64_t pos = 0;
    LB_TRY(find_eocd(z, &pos, r, err));
    uint16_t disk = lb_ld16(r + 4), cdisk = lb_ld16(r + 6), n_disk = lb_ld16(r + 8), n = lb_ld16(r + 10);
    uint32_t size = lb_ld32(r + 12), off = lb_ld32(r + 16);
    cd->n = n;
    cd->size = size;
    cd->off = off;
    cd->end = pos;
    /* A zip64 locator right before the EOCD (PyTorch writes one even for small files):
     * its record is authoritative; 32-bit fields must be all ones or agree with it. */
    if (pos >= 20) LB_TRY(rd(z, pos - 20, sig, 4, err));
    if (pos >= 20 && lb_ld32(sig) == 0x07064b50) {
        LB_TRY(read_zip64_end(z, pos, cd, err));
        if ((n != 0xffff && n != cd->n) || (size != 0xffffffffu && size != cd->size) ||
            (off != 0xffffffffu && off != cd->off))
            return lb_err_set(err, LB_EFORMAT, pos, "end record disagrees with the zip64 end record");
    } else if (n == 0xffff || size == 0xffffffffu || off == 0xffffffffu) {
        return lb_err_set(err, LB_EFORMAT, pos, "zip64 fields without a zip64 locator");
    } else if (disk != 0 || cdisk != 0 || n_disk != n) {
        return lb_err_set(err, LB_EFORMAT, pos, "multi-disk zip not supported");
    }
    uint64_t e;
    if (lb_add64(cd->off, cd->size, &e) || e != cd->end)
        return lb_err_set(err, LB_EFORMAT, pos, "central directory (%llu bytes at %llu) does not end at the end record (%llu)",
                          (unsigned long long)cd->size, (unsigned long long)cd->off, (unsigned long long)cd->end);
    if (cd->size > ((uint64_t)1 << 30))
        return lb_err_set(err, LB_EFORMAT, pos, "central directory of %llu bytes (limit 1 GiB)",
                          (unsigned long long)cd->size);
    if (cd->n > cd->size / 46)
        return lb_err_set(err, LB_EFORMAT, pos, "%llu entries cannot fit in a %llu-byte central directory",
                          (unsigned long long)cd->n, (unsigned long long)cd->size);
    return LB_OK;
}

/* ---- central directory ---- */

/* In lenient mode (LB_ZIP_LENIENT) a problem of one entry is noted on it and the archive
 * is still read; otherwise it refuses the archive. */
static int entry_problem(lb_zip *z, lb_zip_entry *e, unsigned bit, uint64_t at, lb_err *err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int entry_problem(lb_zip *z, lb_zip_entry *e, unsigned bit, uint64_t at, lb_err *err, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (z->flags & LB_ZIP_LENIENT) {
        e->anomalies |= bit;
        return LB_OK;
    }
    return lb_err_item(err, LB_EFORMAT, "entry", e->name, at, "%s", msg);
}

/* A name we are willing to hand out: no traversal, no absolute path, no NUL/backslash. */
static const char *bad_name(const uint8_t *s, size_t n)
{
    if (n == 0) return "empty name";
    if (memchr(s, 0, n)) return "name contains a NUL byte";
    if (memchr(s, '\\', n)) return "name contains a backslash";
    if (s[0] == '/') return "absolute path";
    if (n >= 2 && s[1] == ':') return "drive-letter path";
    for (size_t i = 0; i < n;) {             /* each '/'-separated component */
        size_t j = i;
        while (j < n && s[j] != '/') j++;
        if (j - i == 2 && s[i] == '.' && s[i + 1] == '.') return "path traversal ('..' component)";
        i = j + 1;
    }
    return NULL;
}

/* zip64 extended information (0x0001): the 8-byte values for fields set to all ones. */
static int zip64_extra(const uint8_t *x, size_t n, lb_zip_entry *e, int need_u, int need_c, int need_o,
                       uint64_t at, lb_err *err)
{
    for (size_t i = 0; i + 4 <= n;) {
        uint16_t id = lb_ld16(x + i), len = lb_ld16(x + i + 2);
        if (i + 4 + len > n) return lb_err_item(err, LB_EFORMAT, "entry", e->name, at, "extra field runs past its header");
        if (id == 1) {
            const uint8_t *p = x + i + 4, *end = p + len;
            if (need_u) { if (end - p < 8) goto short64; e->usize = lb_ld64(p); p += 8; }
            if (need_c) { if (end - p < 8) goto short64; e->csize = lb_ld64(p); p += 8; }
            if (need_o) { if (end - p < 8) goto short64; e->local_offset = lb_ld64(p); p += 8; }
            return LB_OK;
        }
        i += 4 + (size_t)len;
    }
    if (!need_u && !need_c && !need_o) return LB_OK;
short64:
    return lb_err_item(err, LB_EFORMAT, "entry", e->name, at, "zip64 sizes missing from the extra field");
}

static int parse_central(lb_zip *z, const uint8_t *cd, const cdinfo *ci, char *names, lb_err *err)
{
    size_t p = 0;
    for (size_t k = 0; k < z->n; k++) {
        uint64_t at = ci->off + p;
        if (ci->size - p < 46 || lb_ld32(cd + p) != 0x02014b50)
            return lb_err_set(err, LB_EFORMAT, at, "central directory entry %zu: bad signature or truncated", k);
        const uint8_t *h = cd + p;
        size_t nl = lb_ld16(h + 28), xl = lb_ld16(h + 30), cl = lb_ld16(h + 32);
        if (ci->size - p - 46 < nl + xl + cl)
            return lb_err_set(err, LB_EFORMAT, at, "central directory entry %zu runs past the directory", k);
        lb_zip_entry *e = &z->e[k];
        memcpy(names, h + 46, nl);
        names[nl] = 0;
        e->name = names;
        names += nl + 1;
        const char *why = bad_name(h + 46, nl);
        if (why) {
            LB_TRY(entry_problem(z, e, LB_ZIP_A_UNSAFE_NAME, at, err, "%s: refusing the archive", why));
            e->unsafe_name = why;
        }
        e->flags = lb_ld16(h + 8);
        e->method = lb_ld16(h + 10);
        e->crc32 = lb_ld32(h + 16);
        e->csize = lb_ld32(h + 20);
        e->usize = lb_ld32(h + 24);
        e->local_offset = lb_ld32(h + 42);
        e->encrypted = e->flags & 1;
        if (lb_ld16(h + 34) != 0 && lb_ld16(h + 34) != 0xffff)
            return lb_err_item(err, LB_EFORMAT, "entry", e->name, at, "on disk %u: multi-disk zip not supported", lb_ld16(h + 34));
        if (e->flags & (1u << 6 | 1u << 13))
            e->encrypted = 1;   /* strong encryption / masked directory: never readable */
        LB_TRY(zip64_extra(h + 46 + nl, xl, e, e->usize == 0xffffffffu, e->csize == 0xffffffffu,
                           e->local_offset == 0xffffffffu, at, err));
        p += 46 + nl + xl + cl;
    }
    if (p != ci->size)
        return lb_err_set(err, LB_EFORMAT, ci->off + p, "%llu stray bytes after the last central directory entry",
                          (unsigned long long)(ci->size - p));
    return LB_OK;
}

/* The local header: same name (unless allowed), same CRC and sizes unless a data descriptor
 * follows; gives the data offset. */
static int check_local(lb_zip *z, lb_zip_entry *e, lb_err *err)
{
    uint8_t h[30];
    uint64_t at = e->local_offset;
    if (at >= z->cd_off || z->cd_off - at < 30)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, at, "local header offset %llu outside the data area",
                           (unsigned long long)at);
    LB_TRY(rd(z, at, h, 30, err));
    if (lb_ld32(h) != 0x04034b50) return lb_err_item(err, LB_EFORMAT, "entry", e->name, at, "bad local header signature");
    size_t nl = lb_ld16(h + 26), xl = lb_ld16(h + 28);
    size_t cl = strlen(e->name);
    uint16_t lflags = lb_ld16(h + 6);
    if (lflags & 1) e->encrypted = 1;
    int same = nl == cl;
    if (same) {
        char *buf = malloc(nl ? nl : 1);
        if (!buf) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        int rc = rd(z, at + 30, buf, nl, err);
        same = !rc && !memcmp(buf, e->name, nl);
        free(buf);
        if (rc) return rc;
    }
    if (!same) {
        if (!(z->flags & LB_ZIP_ALLOW_NAME_MISMATCH))
            return lb_err_item(err, LB_EFORMAT, "entry", e->name, at,
                               "local header name differs from the central directory name");
        e->name_mismatch = 1;
    }
    if (lb_ld16(h + 8) != e->method)
        LB_TRY(entry_problem(z, e, LB_ZIP_A_LOCAL_DIFFERS, at, err, "local header method %u differs from central %u",
                             lb_ld16(h + 8), e->method));
    if (!(e->flags & 8) && !(lflags & 8)) {
        uint32_t lc = lb_ld32(h + 18), lu = lb_ld32(h + 22);
        if (lb_ld32(h + 14) != e->crc32 || (lc != 0xffffffffu && lc != e->csize) ||
            (lu != 0xffffffffu && lu != e->usize))
            LB_TRY(entry_problem(z, e, LB_ZIP_A_LOCAL_DIFFERS, at, err,
                                 "local header CRC or sizes differ from the central directory"));
    }
    e->data_offset = at + 30 + nl + xl;
    uint64_t end;
    if (lb_add64(e->data_offset, e->csize, &end) || end > z->cd_off)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, at,
                           "data (%llu bytes at %llu) runs past the start of the central directory (%llu)",
                           (unsigned long long)e->csize, (unsigned long long)e->data_offset,
                           (unsigned long long)z->cd_off);
    if (e->method == 0 && !e->encrypted && e->csize != e->usize)
        LB_TRY(entry_problem(z, e, LB_ZIP_A_SIZES, at, err, "stored entry with compressed size %llu != size %llu",
                             (unsigned long long)e->csize, (unsigned long long)e->usize));
    return LB_OK;
}

static int by_offset(const void *a, const void *b)
{
    const lb_zip_entry *x = *(const lb_zip_entry *const *)a, *y = *(const lb_zip_entry *const *)b;
    return x->local_offset < y->local_offset ? -1 : x->local_offset > y->local_offset;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const lb_zip_entry *const *)a)->name, (*(const lb_zip_entry *const *)b)->name);
}

/* No two entries share bytes (overlapping entries are the classic zip-bomb trick), no
 * two share a name. */
static int check_layout(lb_zip *z, lb_err *err)
{
    if (z->n < 2) return LB_OK;
    const lb_zip_entry **v = malloc(z->n * sizeof *v);
    if (!v) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < z->n; i++) v[i] = &z->e[i];
    int rc = LB_OK;
    qsort(v, z->n, sizeof *v, by_offset);
    for (size_t i = 1; i < z->n && !rc; i++)
        if (!(v[i - 1]->anomalies & LB_ZIP_A_BAD_LOCAL) && !(v[i]->anomalies & LB_ZIP_A_BAD_LOCAL) &&
            v[i - 1]->data_offset + v[i - 1]->csize > v[i]->local_offset)
            rc = entry_problem(z, (lb_zip_entry *)v[i], LB_ZIP_A_OVERLAP, v[i]->local_offset, err,
                               "overlaps entry '%.100s'", v[i - 1]->name);
    qsort(v, z->n, sizeof *v, by_name);
    for (size_t i = 1; i < z->n && !rc; i++)
        if (!strcmp(v[i - 1]->name, v[i]->name))
            rc = entry_problem(z, (lb_zip_entry *)v[i], LB_ZIP_A_DUP_NAME, v[i]->local_offset, err,
                               "name appears twice");
    free(v);
    return rc;
}

int lb_zip_open(lb_zip **out, lb_zip_read_fn read, void *ctx, uint64_t size, int flags, lb_err *err)
{
    *out = NULL;
    lb_zip *z = calloc(1, sizeof *z);
    if (!z) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    z->read = read;
    z->ctx = ctx;
    z->size = size;
    if (flags & LB_ZIP_LENIENT) flags |= LB_ZIP_ALLOW_ENCRYPTED_FLAG | LB_ZIP_ALLOW_NAME_MISMATCH;
    z->flags = flags & (LB_ZIP_ALLOW_ENCRYPTED_FLAG | LB_ZIP_ALLOW_NAME_MISMATCH | LB_ZIP_LENIENT);
    cdinfo ci = { 0, 0, 0, 0 };
    uint8_t *cd = NULL;
    char *names = NULL;
    int rc = read_end(z, &ci, err);
    if (!rc) {
        z->cd_off = ci.off;
        z->n = (size_t)ci.n;
        cd = malloc(ci.size ? (size_t)ci.size : 1);
        /* names: at most cd size bytes plus one NUL each; entries: bounded by size / 46 */
        names = malloc((size_t)ci.size + (size_t)ci.n + 1);
        z->e = calloc(z->n ? z->n : 1, sizeof *z->e);
        if (!cd || !names || !z->e) rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    if (!rc) rc = rd(z, ci.off, cd, (size_t)ci.size, err);
    if (!rc) rc = parse_central(z, cd, &ci, names, err);
    for (size_t i = 0; !rc && i < z->n; i++) {
        rc = check_local(z, &z->e[i], err);
        if (rc && rc != LB_EIO && (flags & LB_ZIP_LENIENT)) {   /* lenient: this entry is unreadable */
            z->e[i].anomalies |= LB_ZIP_A_BAD_LOCAL;
            snprintf(z->e[i].problem, sizeof z->e[i].problem, "%.150s", err->msg);
            lb_err_clear(err);
            rc = LB_OK;
        }
    }
    if (!rc) rc = check_layout(z, err);
    free(cd);
    if (rc) {
        free(names);
        free(z->e);
        free(z);
        return rc;
    }
    /* names live in one block owned through the first entry's name */
    if (!z->n) free(names);
    *out = z;
    return LB_OK;
}

int lb_zip_open_mem(lb_zip **out, const void *data, size_t size, int flags, lb_err *err)
{
    memsrc *m = malloc(sizeof *m);
    *out = NULL;
    if (!m) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    m->p = data;
    m->n = size;
    int rc = lb_zip_open(out, mem_read, m, size, flags, err);
    if (rc) { free(m); return rc; }
    (*out)->flags |= 0x100;   /* owns ctx */
    return LB_OK;
}

static int src_read(void *ctx, uint64_t off, void *buf, size_t n, lb_err *err)
{
    return lb_src_read(ctx, off, buf, n, err);
}

int lb_zip_open_src(lb_zip **out, lb_src *src, int flags, lb_err *err)
{
    return lb_zip_open(out, src_read, src, lb_src_size(src), flags, err);
}

void lb_zip_close(lb_zip *z)
{
    if (!z) return;
    if (z->n) free((void *)z->e[0].name);
    if (z->flags & 0x100) free(z->ctx);
    free(z->e);
    free(z);
}

size_t lb_zip_count(const lb_zip *z) { return z ? z->n : 0; }

const lb_zip_entry *lb_zip_entry_at(const lb_zip *z, size_t i) { return z && i < z->n ? &z->e[i] : NULL; }

const lb_zip_entry *lb_zip_find(const lb_zip *z, const char *name)
{
    for (size_t i = 0; z && i < z->n; i++)
        if (!strcmp(z->e[i].name, name)) return &z->e[i];
    return NULL;
}

int lb_zip_find_suffix(const lb_zip *z, const char *suffix, const lb_zip_entry **e, lb_err *err)
{
    size_t sl = strlen(suffix);
    *e = NULL;
    for (size_t i = 0; z && i < z->n; i++) {
        const char *nm = z->e[i].name;
        size_t nl = strlen(nm);
        if (nl < sl || strcmp(nm + nl - sl, suffix) || (nl > sl && nm[nl - sl - 1] != '/')) continue;
        if (*e) return lb_err_item(err, LB_EFORMAT, "entry", nm, z->e[i].local_offset,
                                   "second entry ending in '%.60s' (first: '%.60s')", suffix, (*e)->name);
        *e = &z->e[i];
    }
    return LB_OK;
}

/* ---- reading ---- */

static int readable(lb_zip *z, const lb_zip_entry *e, lb_err *err)
{
    if (e->anomalies & LB_ZIP_A_BAD_LOCAL)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->local_offset, "%s", e->problem);
    if (e->encrypted && (!(z->flags & LB_ZIP_ALLOW_ENCRYPTED_FLAG) || (e->flags & (1u << 6 | 1u << 13))))
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->local_offset,
                           "encrypted (flag bit 0 set): refusing to read it");
    if (e->method != 0 && e->method != 8)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->local_offset,
                           "compression method %u not supported (only stored and deflated)", e->method);
    return LB_OK;
}

int lb_zip_read_at(lb_zip *z, const lb_zip_entry *e, uint64_t off, void *buf, size_t n, lb_err *err)
{
    LB_TRY(readable(z, e, err));
    if (e->method != 0)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->local_offset, "random access needs a stored entry");
    if (off > e->usize || n > e->usize - off)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->data_offset,
                           "read of %zu bytes at %llu past its size %llu", n, (unsigned long long)off,
                           (unsigned long long)e->usize);
    return rd(z, e->data_offset + off, buf, n, err);
}

int lb_zip_read_raw_at(lb_zip *z, const lb_zip_entry *e, uint64_t off, void *buf, size_t n, lb_err *err)
{
    if (e->anomalies & LB_ZIP_A_BAD_LOCAL)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->local_offset, "%s", e->problem);
    if (off > e->csize || n > e->csize - off)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->data_offset,
                           "read of %zu bytes at %llu past its stored size %llu", n, (unsigned long long)off,
                           (unsigned long long)e->csize);
    return rd(z, e->data_offset + off, buf, n, err);
}

static int inflate_entry(lb_zip *z, const lb_zip_entry *e, uint8_t *dst, lb_err *err)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "cannot start inflate");
    uint8_t in[65536];
    uint64_t pos = 0, outpos = 0;
    int zr = Z_OK, rc = LB_OK;
    while (zr != Z_STREAM_END) {
        if (s.avail_in == 0) {
            if (pos == e->csize) break;
            size_t k = e->csize - pos < sizeof in ? (size_t)(e->csize - pos) : sizeof in;
            if ((rc = rd(z, e->data_offset + pos, in, k, err))) break;
            pos += k;
            s.next_in = in;
            s.avail_in = (uInt)k;
        }
        /* one spare byte beyond the declared size tells "more data than declared" */
        uint8_t spare;
        uint64_t left = e->usize - outpos;
        s.next_out = left ? dst + outpos : &spare;
        s.avail_out = left ? (uInt)(left < (1u << 30) ? left : (1u << 30)) : 1;
        uInt before = s.avail_out;
        zr = inflate(&s, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            rc = lb_err_item(err, LB_EFORMAT, "entry", e->name, e->data_offset, "corrupt deflate data: %s",
                             s.msg ? s.msg : "error");
            break;
        }
        if (!left && s.avail_out == 0) {
            rc = lb_err_item(err, LB_EFORMAT, "entry", e->name, e->data_offset,
                             "inflates past its declared size %llu", (unsigned long long)e->usize);
            break;
        }
        if (left) outpos += before - s.avail_out;
        if (zr == Z_BUF_ERROR && s.avail_in == 0 && pos == e->csize) break;
    }
    inflateEnd(&s);
    if (rc) return rc;
    if (zr != Z_STREAM_END)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->data_offset, "truncated deflate data");
    if (s.avail_in || pos != e->csize)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->data_offset,
                           "deflate stream ends before its compressed size %llu", (unsigned long long)e->csize);
    if (outpos != e->usize)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->data_offset,
                           "inflates to %llu bytes, declared %llu", (unsigned long long)outpos,
                           (unsigned long long)e->usize);
    return LB_OK;
}

int lb_zip_read(lb_zip *z, const lb_zip_entry *e, uint64_t max, uint8_t **data, size_t *len, lb_err *err)
{
    *data = NULL;
    *len = 0;
    LB_TRY(readable(z, e, err));
    if (e->usize > max || e->usize >= SIZE_MAX)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->local_offset,
                           "declared size %llu exceeds the limit %llu", (unsigned long long)e->usize,
                           (unsigned long long)max);
    /* deflate cannot expand more than 1032:1; a larger claim is a lie (or a bomb) */
    if (e->method == 8 && e->usize / 1032 > e->csize + 1)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->local_offset,
                           "declared size %llu impossible for %llu compressed bytes (zip bomb?)",
                           (unsigned long long)e->usize, (unsigned long long)e->csize);
    uint8_t *buf = malloc((size_t)e->usize + 1);
    if (!buf) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory for %llu bytes", (unsigned long long)e->usize);
    int rc = e->method == 0 ? rd(z, e->data_offset, buf, (size_t)e->usize, err) : inflate_entry(z, e, buf, err);
    if (!rc && !(z->flags & LB_ZIP_LENIENT)) {
        uLong c = crc32(0L, Z_NULL, 0);
        for (uint64_t off = 0; off < e->usize;) {
            uInt k = e->usize - off > (1u << 30) ? (1u << 30) : (uInt)(e->usize - off);
            c = crc32(c, buf + off, k);
            off += k;
        }
        if ((uint32_t)c != e->crc32)
            rc = lb_err_item(err, LB_EFORMAT, "entry", e->name, e->data_offset, "CRC mismatch: stored %08x, computed %08x",
                             e->crc32, (unsigned)c);
    }
    if (rc) { free(buf); return rc; }
    buf[e->usize] = 0;
    *data = buf;
    *len = (size_t)e->usize;
    return LB_OK;
}

int lb_zip_read_raw(lb_zip *z, const lb_zip_entry *e, uint64_t max, uint8_t **data, size_t *len, lb_err *err)
{
    *data = NULL;
    *len = 0;
    if (e->anomalies & LB_ZIP_A_BAD_LOCAL)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->local_offset, "%s", e->problem);
    if (e->csize > max || e->csize >= SIZE_MAX)
        return lb_err_item(err, LB_EFORMAT, "entry", e->name, e->local_offset,
                           "stored size %llu exceeds the limit %llu", (unsigned long long)e->csize,
                           (unsigned long long)max);
    uint8_t *buf = malloc((size_t)e->csize + 1);
    if (!buf) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory for %llu bytes", (unsigned long long)e->csize);
    int rc = rd(z, e->data_offset, buf, (size_t)e->csize, err);
    if (rc) { free(buf); return rc; }
    buf[e->csize] = 0;
    *data = buf;
    *len = (size_t)e->csize;
    return LB_OK;
}
