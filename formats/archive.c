/* archive.c: weight files and HF-style folders inside tar/zip/7z archives (lb_archive.h).
 *
 * How it reads:
 *   1. listing pass: every header in order; per regular entry its name (checked: no absolute
 *      path, no ".."), declared size, and its first 4 KiB, bid against the registered formats.
 *      In a plain (unfiltered) tar, the data offset of an entry is the number of bytes
 *      libarchive has consumed when the header is returned; it is trusted only if the first
 *      bytes read there equal the bytes libarchive returns, and the next header starts right
 *      after the padded data. A model.safetensors.index.json is read whole into memory.
 *   2. selection (pick()): index, model.safetensors, model.gguf, or the one entry bid on.
 *   3. copy pass, only if a needed entry is not in place: the archive is read again from the
 *      start and each needed entry streamed into an unlinked temporary file, checked against
 *      its declared size and the total cap before and while copying. */
#include "lb_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lb_le.h"
#include "lb_safetensors.h"

#define HEAD_BYTES 4096
#define RD_BUF     (256u * 1024u)
#define COPY_BUF   (1u << 20)
#define MAX_NAME   4096
#define MAX_NAME_BYTES (64u << 20)
#define INDEX_NAME "model.safetensors.index.json"

static const lb_archive_limits default_limits = {
    .max_temp_bytes = 64ull << 30,
    .max_mem_entry = 64ull << 20,
    .max_entries = 1000000,
};
static lb_archive_limits cur_limits = {
    .max_temp_bytes = 64ull << 30,
    .max_mem_entry = 64ull << 20,
    .max_entries = 1000000,
};

lb_archive_limits lb_archive_default_limits(void) { return default_limits; }

void lb_archive_set_limits(const lb_archive_limits *lim)
{
    cur_limits = lim ? *lim : default_limits;
}

/* ---- detection ------------------------------------------------------------------- */

static int tar_checksum_ok(const uint8_t *h, size_t n)
{
    if (n < 512) return 0;
    uint64_t want = 0;
    int digits = 0;
    for (int i = 148; i < 156; i++) {
        if (h[i] >= '0' && h[i] <= '7') { want = want * 8 + (uint64_t)(h[i] - '0'); digits++; }
        else if (h[i] == ' ' || h[i] == 0) { if (digits) break; }
        else return 0;
    }
    if (!digits) return 0;
    uint64_t sum = 0;
    for (int i = 0; i < 512; i++) sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return sum == want && h[0] != 0;
}

int lb_archive_torch_entry(const char *name)
{
    size_t n = strlen(name);
    return strcmp(name, "data.pkl") == 0 || (n > 9 && strcmp(name + n - 9, "/data.pkl") == 0);
}

static int npy_entry(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".npy") == 0;
}

/* Zips that are a format of their own, not archives of weight files (lb_archive.h). */
typedef struct zip_kind {
    const char *format;             /* the lb_format that reads the whole zip, once registered */
    const char *what;               /* for the message until then */
    int all;                        /* 1: every entry must match; 0: any entry */
    int (*match)(const char *entry);
} zip_kind;

static const zip_kind zip_kinds[] = {
    { "pytorch", "PyTorch zip checkpoint", 0, lb_archive_torch_entry },  /* torch.save */
    { "npz",     "NumPy .npz archive",     1, npy_entry },               /* numpy.savez */
};
#define N_ZIP_KINDS (sizeof zip_kinds / sizeof *zip_kinds)

/* First local header of a zip: does its entry name look like one of zip_kinds? */
static int zip_first_is_kind(const uint8_t *h, size_t n)
{
    if (n < 30) return 0;
    size_t len = lb_ld16(h + 26);
    if (len == 0 || len >= MAX_NAME || 30 + len > n) return 0;
    char name[MAX_NAME];
    memcpy(name, h + 30, len);
    name[len] = 0;
    for (size_t k = 0; k < N_ZIP_KINDS; k++)
        if (zip_kinds[k].match(name)) return 1;
    return 0;
}

int lb_archive_bid(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    if (n >= 4 && memcmp(h, "PK\3\4", 4) == 0)
        return zip_first_is_kind(h, n) ? LB_ARCHIVE_BID_ZIP_FORMAT : LB_ARCHIVE_BID;
    if (n >= 4 && memcmp(h, "PK\5\6", 4) == 0) return LB_ARCHIVE_BID;       /* empty zip */
    if (n >= 6 && memcmp(h, "7z\xbc\xaf\x27\x1c", 6) == 0) return LB_ARCHIVE_BID;
    if (n >= 6 && memcmp(h, "\xfd" "7zXZ\0", 6) == 0) return LB_ARCHIVE_BID;
    if (n >= 4 && memcmp(h, "\x28\xb5\x2f\xfd", 4) == 0) return LB_ARCHIVE_BID;
    if (n >= 3 && h[0] == 0x1f && h[1] == 0x8b && h[2] == 8) return LB_ARCHIVE_BID;
    if (n >= 4 && memcmp(h, "BZh", 3) == 0 && h[3] >= '1' && h[3] <= '9') return LB_ARCHIVE_BID;
    if (tar_checksum_ok(h, n)) return LB_ARCHIVE_BID_TAR;
    return 0;
}

/* ---- libarchive over an lb_src ------------------------------------------------------- */

typedef struct rd {
    lb_src  *src;
    uint64_t pos;
    uint8_t *buf;
} rd;

static la_ssize_t rd_read(struct archive *a, void *ud, const void **out)
{
    rd *r = ud;
    const uint8_t *mem = lb_src_memptr(r->src);
    uint64_t size = lb_src_size(r->src);
    if (mem) {
        uint64_t k = r->pos < size ? size - r->pos : 0;
        if (k > RD_BUF) k = RD_BUF;
        *out = mem + r->pos;
        r->pos += k;
        return (la_ssize_t)k;
    }
    size_t got;
    lb_err e;
    lb_err_clear(&e);
    if (lb_src_read_some(r->src, r->pos, r->buf, RD_BUF, &got, &e)) {
        archive_set_error(a, EIO, "%s", e.msg);
        return -1;
    }
    r->pos += got;
    *out = r->buf;
    return (la_ssize_t)got;
}

static la_int64_t rd_seek(struct archive *a, void *ud, la_int64_t off, int whence)
{
    rd *r = ud;
    int64_t size = (int64_t)lb_src_size(r->src), base;
    switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = (int64_t)r->pos; break;
    case SEEK_END: base = size; break;
    default: return ARCHIVE_FATAL;
    }
    if ((off < 0 && -off > base) || (off > 0 && off > INT64_MAX - base)) {
        archive_set_error(a, EINVAL, "seek out of range");
        return ARCHIVE_FATAL;
    }
    r->pos = (uint64_t)(base + off);
    return (la_int64_t)r->pos;
}

static la_int64_t rd_skip(struct archive *a, void *ud, la_int64_t req)
{
    (void)a;
    rd *r = ud;
    uint64_t size = lb_src_size(r->src);
    uint64_t left = r->pos < size ? size - r->pos : 0;
    uint64_t k = req > 0 ? (uint64_t)req : 0;
    if (k > left) k = left;
    r->pos += k;
    return (la_int64_t)k;
}

static int reader_open(struct archive **out, rd *r, lb_src *src, lb_err *err)
{
    *out = NULL;
    r->src = src;
    r->pos = 0;
    if (!r->buf && !lb_src_memptr(src) && !(r->buf = malloc(RD_BUF)))
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    struct archive *a = archive_read_new();
    if (!a) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_7zip(a);
    archive_read_support_format_raw(a);
    archive_read_set_callback_data(a, r);
    archive_read_set_read_callback(a, rd_read);
    archive_read_set_seek_callback(a, rd_seek);
    archive_read_set_skip_callback(a, rd_skip);
    if (archive_read_open1(a) != ARCHIVE_OK) {
        const char *m = archive_error_string(a);
        lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "cannot read archive: %s",
                   m ? m : "unrecognized archive format");
        archive_read_free(a);
        return LB_EFORMAT;
    }
    *out = a;
    return LB_OK;
}

/* ---- the entry table ------------------------------------------------------------- */

typedef struct ent {
    char    *name;        /* normalized: no leading "./" */
    uint64_t ordinal;     /* header number in the archive (directories counted) */
    uint64_t size;        /* declared size (size_known) */
    int      size_known;
    int      in_place;    /* data at off in the archive file, contiguous */
    uint64_t off, next_hdr;
    const lb_format *fmt; /* best bid on the first bytes, or NULL */
    const char *what;     /* when no bid: what it looks like (lb_sniff_nonmodel), or NULL */
    void    *mem;         /* whole entry in memory (index JSON) */
    size_t   mem_len;
    int      need;        /* selected: needs a source */
    lb_src  *src;         /* opened source (until handed to a reader) */
} ent;

typedef struct arc {
    lb_src  *src;                 /* the archive file (our reference) */
    const char *path;
    lb_archive_limits lim;
    lb_archive_stats st;
    ent     *e;
    size_t   n, cap;
    int      is_zip;
    uint64_t headers;
    uint64_t name_bytes;          /* kept names, capped at MAX_NAME_BYTES */
    rd       r;
    lb_err  *err;
} arc;

static void arc_free(arc *A)
{
    for (size_t i = 0; i < A->n; i++) {
        free(A->e[i].name);
        free(A->e[i].mem);
        lb_src_close(A->e[i].src);
    }
    free(A->e);
    free(A->r.buf);
    lb_src_close(A->src);
}

static int arc_fail(struct archive *a, arc *A, const char *entry, const char *what)
{
    const char *m = archive_error_string(a);
    if (!m) m = "unknown error";
    if (entry) return lb_err_item(A->err, LB_EFORMAT, "entry", entry, LB_NO_OFFSET, "%s: %s", what, m);
    return lb_err_set(A->err, LB_EFORMAT, LB_NO_OFFSET, "%s: %s", what, m);
}

/* Absolute names, ".." components, drive letters and backslash tricks are refused; a
 * leading "./" is dropped. Returns the normalized name (malloc'd), or NULL with *bad set. */
static char *entry_name(const char *raw, int *bad)
{
    *bad = 0;
    if (!raw) { *bad = 1; return NULL; }
    if (raw[0] == '/' || raw[0] == '\\' || (raw[0] && raw[1] == ':')) { *bad = 1; return NULL; }
    while (raw[0] == '.' && raw[1] == '/') raw += 2;
    while (raw[0] == '/') raw++;
    const char *p = raw;
    while (*p) {
        size_t k = strcspn(p, "/\\");
        if (k == 2 && p[0] == '.' && p[1] == '.') { *bad = 1; return NULL; }
        p += k;
        if (*p) p++;
    }
    if (strlen(raw) >= MAX_NAME) { *bad = 1; return NULL; }
    return strdup(raw);
}

static const char *base_name(const char *s)
{
    const char *b = strrchr(s, '/');
    return b ? b + 1 : s;
}

static int read_some(struct archive *a, uint8_t *buf, size_t cap, size_t *got)
{
    *got = 0;
    while (*got < cap) {
        la_ssize_t k = archive_read_data(a, buf + *got, cap - *got);
        if (k < 0) return -1;
        if (k == 0) break;
        *got += (size_t)k;
    }
    return 0;
}

static const lb_format *bid_entry(const uint8_t *h, size_t n, uint64_t size)
{
    const lb_format *best = NULL;
    int best_bid = 0;
    for (const lb_format *const *f = lb_formats; *f; f++) {
        if (*f == &lb_fmt_archive) continue;      /* no archives in archives */
        int b = (*f)->bid(h, n, size);
        if (b > best_bid) { best_bid = b; best = *f; }
    }
    return best;
}

/* Whole index JSON into memory during the listing pass (it decides which shards to copy). */
static int slurp(struct archive *a, arc *A, ent *e, const uint8_t *head, size_t hn)
{
    if (e->size_known && e->size > A->lim.max_mem_entry)
        return lb_err_item(A->err, LB_EFORMAT, "entry", e->name, LB_NO_OFFSET,
                           "%llu bytes, more than the %llu-byte limit for index files",
                           (unsigned long long)e->size, (unsigned long long)A->lim.max_mem_entry);
    size_t cap = e->size_known ? (size_t)e->size + 1 : 65536, len = hn;
    uint8_t *p = malloc(cap > hn ? cap : hn + 1);
    if (!p) return lb_err_set(A->err, LB_EIO, LB_NO_OFFSET, "out of memory");
    if (cap <= hn) cap = hn + 1;
    memcpy(p, head, hn);
    for (;;) {
        if (len == cap) {
            if (cap > A->lim.max_mem_entry) {
                free(p);
                return lb_err_item(A->err, LB_EFORMAT, "entry", e->name, LB_NO_OFFSET,
                                   "more than the %llu-byte limit for index files",
                                   (unsigned long long)A->lim.max_mem_entry);
            }
            uint8_t *q = realloc(p, cap * 2);
            if (!q) { free(p); return lb_err_set(A->err, LB_EIO, LB_NO_OFFSET, "out of memory"); }
            p = q;
            cap *= 2;
        }
        la_ssize_t k = archive_read_data(a, p + len, cap - len);
        if (k < 0) { free(p); return arc_fail(a, A, e->name, "cannot read"); }
        if (k == 0) break;
        len += (size_t)k;
    }
    e->mem = p;
    e->mem_len = len;
    return LB_OK;
}

/* Where an entry's data starts in the archive file, when it is stored there as is;
 * UINT64_MAX otherwise. libarchive has consumed exactly the header(s) when it returns
 * one, so its byte count on an unfiltered archive is the data offset:
 *   - tar (ustar/pax/GNU/v7): data follows the 512-byte header blocks; sparse entries
 *     are not contiguous and are excluded; *is_tar is set so the caller checks the next
 *     header's position;
 *   - zip (seekable mode, which reads the central directory and seeks to each local
 *     header): data follows the local header; only method 0 (stored), unencrypted
 *     entries, found by the local header that ends exactly at the data offset. */
static uint64_t data_offset(struct archive *a, struct archive_entry *ae, lb_src *src, int *is_tar)
{
    *is_tar = 0;
    int base = archive_format(a) & ARCHIVE_FORMAT_BASE_MASK;
    if (archive_filter_count(a) != 1 || archive_filter_code(a, 0) != ARCHIVE_FILTER_NONE)
        return UINT64_MAX;
    if (!archive_entry_size_is_set(ae) || archive_entry_sparse_count(ae) > 0) return UINT64_MAX;
    la_int64_t off = archive_filter_bytes(a, 0);
    if (off < 30) return UINT64_MAX;
    if (base == ARCHIVE_FORMAT_TAR) {
        *is_tar = 1;
        return (uint64_t)off;
    }
    if (base != ARCHIVE_FORMAT_ZIP) return UINT64_MAX;
    uint8_t w[HEAD_BYTES + 30];
    size_t n = (uint64_t)off < sizeof w ? (size_t)off : sizeof w, got;
    uint64_t at = (uint64_t)off - n;
    lb_err e;
    if (lb_src_read_some(src, at, w, n, &got, &e) || got != n) return UINT64_MAX;
    for (size_t h = n - 30 + 1; h-- > 0;) {
        if (memcmp(w + h, "PK\3\4", 4) != 0) continue;
        if (h + 30 + (size_t)lb_ld16(w + h + 26) + lb_ld16(w + h + 28) != n) continue;
        if (lb_ld16(w + h + 8) != 0 || (lb_ld16(w + h + 6) & 1)) return UINT64_MAX;
        return (uint64_t)off;
    }
    return UINT64_MAX;
}

static int same_bytes(arc *A, uint64_t off, const uint8_t *h, size_t n)
{
    uint8_t buf[HEAD_BYTES];
    size_t got;
    lb_err e;
    if (lb_src_read_some(A->src, off, buf, n, &got, &e) || got != n) return 0;
    return memcmp(buf, h, n) == 0;
}

static int push(arc *A, ent **out)
{
    if (A->n == A->cap) {
        size_t nc = A->cap ? A->cap * 2 : 64;
        ent *p = realloc(A->e, nc * sizeof *p);
        if (!p) return lb_err_set(A->err, LB_EIO, LB_NO_OFFSET, "out of memory");
        A->e = p;
        A->cap = nc;
    }
    *out = &A->e[A->n++];
    memset(*out, 0, sizeof **out);
    return LB_OK;
}

static int list_entry(struct archive *a, struct archive_entry *ae, arc *A, size_t *prev)
{
    int bad;
    char *name = entry_name(archive_entry_pathname(ae), &bad);
    if (bad) {
        const char *raw = archive_entry_pathname(ae);
        return lb_err_item(A->err, LB_EFORMAT, "entry", raw ? raw : "(unnamed)", LB_NO_OFFSET,
                           "unsafe name (absolute, '..' or too long): archive refused");
    }
    if (archive_entry_filetype(ae) != AE_IFREG || archive_entry_hardlink(ae) || !name[0]) {
        free(name);                          /* folders, links, devices: not weights */
        return LB_OK;
    }
    A->name_bytes += strlen(name) + 1;
    if (A->n >= A->lim.max_entries || A->name_bytes > MAX_NAME_BYTES) {
        free(name);
        return lb_err_set(A->err, LB_EFORMAT, LB_NO_OFFSET,
                          "more than %llu entries (or %u bytes of names): archive refused",
                          (unsigned long long)A->lim.max_entries, MAX_NAME_BYTES);
    }
    ent *e = NULL;
    int rc = push(A, &e);
    if (rc) { free(name); return rc; }
    e->name = name;
    e->ordinal = A->headers - 1;
    e->size_known = archive_entry_size_is_set(ae);
    e->size = e->size_known && archive_entry_size(ae) > 0 ? (uint64_t)archive_entry_size(ae) : 0;
    A->st.entries++;
    int is_tar;
    uint64_t off = data_offset(a, ae, A->src, &is_tar);
    uint8_t head[HEAD_BYTES];
    size_t hn;
    if (read_some(a, head, sizeof head, &hn)) return arc_fail(a, A, e->name, "cannot read");
    uint64_t end;
    size_t want = e->size < HEAD_BYTES ? (size_t)e->size : HEAD_BYTES;
    if (off != UINT64_MAX && hn == want && !lb_add64(off, e->size, &end) &&
        end <= lb_src_size(A->src) && same_bytes(A, off, head, hn)) {
        e->in_place = 1;
        e->off = off;
        if (is_tar) {
            e->next_hdr = end + (512 - e->size % 512) % 512;
            *prev = A->n - 1;
        }
    }
    uint64_t bsize = e->size_known ? e->size : (hn < HEAD_BYTES ? hn : UINT64_MAX / 2);
    e->fmt = bid_entry(head, hn, bsize);
    if (!e->fmt) e->what = lb_sniff_nonmodel(head, hn, bsize);
    if (strcmp(base_name(e->name), INDEX_NAME) == 0 && !e->in_place) return slurp(a, A, e, head, hn);
    return LB_OK;
}

static int list_pass(arc *A)
{
    struct archive *a;
    LB_TRY(reader_open(&a, &A->r, A->src, A->err));
    A->st.passes++;
    struct archive_entry *ae;
    size_t prev = SIZE_MAX;
    int rc = LB_OK;
    for (;;) {
        int ar = archive_read_next_header(a, &ae);
        if (ar == ARCHIVE_EOF) break;
        if (ar < ARCHIVE_WARN) { rc = arc_fail(a, A, NULL, "cannot read archive"); break; }
        if (prev != SIZE_MAX && (uint64_t)archive_read_header_position(a) != A->e[prev].next_hdr)
            A->e[prev].in_place = 0;         /* data not where we thought: copy it instead */
        prev = SIZE_MAX;
        A->headers++;
        if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_ZIP) A->is_zip = 1;
        if ((rc = list_entry(a, ae, A, &prev))) break;
    }
    archive_read_free(a);
    return rc;
}

/* ---- sources for the needed entries ------------------------------------------------ */

static char *display_name(const arc *A, const ent *e)
{
    size_t n = strlen(A->path) + strlen(e->name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", A->path, e->name);
    return s;
}

static int copy_entry(struct archive *a, arc *A, ent *e, uint8_t *buf)
{
    char *dn = display_name(A, e);
    if (!dn) return lb_err_set(A->err, LB_EIO, LB_NO_OFFSET, "out of memory");
    lb_src *t;
    int rc = lb_src_tmpfile(&t, dn, A->err);
    free(dn);
    if (rc) return rc;
    uint64_t total = 0;
    for (;;) {
        la_ssize_t k = archive_read_data(a, buf, COPY_BUF);
        if (k < 0) { rc = arc_fail(a, A, e->name, "cannot read"); break; }
        if (k == 0) break;
        total += (uint64_t)k;
        if (e->size_known && total > e->size) {
            rc = lb_err_item(A->err, LB_EFORMAT, "entry", e->name, LB_NO_OFFSET,
                             "data runs past its declared %llu bytes", (unsigned long long)e->size);
            break;
        }
        if (A->st.copied_bytes + total > A->lim.max_temp_bytes) {
            rc = lb_err_item(A->err, LB_EFORMAT, "entry", e->name, LB_NO_OFFSET,
                             "temporary copies exceed the %llu-byte cap",
                             (unsigned long long)A->lim.max_temp_bytes);
            break;
        }
        if ((rc = lb_src_append(t, buf, (size_t)k, A->err))) break;
    }
    if (!rc && e->size_known && total != e->size)
        rc = lb_err_item(A->err, LB_EFORMAT, "entry", e->name, LB_NO_OFFSET,
                         "truncated: %llu of its declared %llu bytes", (unsigned long long)total,
                         (unsigned long long)e->size);
    if (rc) { lb_src_close(t); return rc; }
    A->st.copied++;
    A->st.copied_bytes += total;
    e->src = t;
    return LB_OK;
}

static int copy_pass(arc *A)
{
    uint64_t declared = 0;
    size_t todo = 0;
    for (size_t i = 0; i < A->n; i++) {
        ent *e = &A->e[i];
        if (!e->need || e->src || e->in_place || e->mem) continue;
        todo++;
        if (e->size_known && (e->size > A->lim.max_temp_bytes ||
                              lb_add64(declared, e->size, &declared) || declared > A->lim.max_temp_bytes))
            return lb_err_item(A->err, LB_EFORMAT, "entry", e->name, LB_NO_OFFSET,
                               "declares %llu bytes: temporary copies would exceed the %llu-byte cap",
                               (unsigned long long)e->size, (unsigned long long)A->lim.max_temp_bytes);
    }
    if (!todo) return LB_OK;
    uint8_t *buf = malloc(COPY_BUF);
    if (!buf) return lb_err_set(A->err, LB_EIO, LB_NO_OFFSET, "out of memory");
    struct archive *a;
    int rc = reader_open(&a, &A->r, A->src, A->err);
    if (rc) { free(buf); return rc; }
    A->st.passes++;
    struct archive_entry *ae;
    uint64_t hdr = 0;
    size_t next = 0;
    while (todo && !rc) {
        int ar = archive_read_next_header(a, &ae);
        if (ar == ARCHIVE_EOF) {
            rc = lb_err_set(A->err, LB_EFORMAT, LB_NO_OFFSET, "archive changed between passes");
            break;
        }
        if (ar < ARCHIVE_WARN) { rc = arc_fail(a, A, NULL, "cannot read archive"); break; }
        while (next < A->n && A->e[next].ordinal < hdr) next++;
        if (next < A->n && A->e[next].ordinal == hdr) {
            ent *e = &A->e[next];
            if (e->need && !e->src && !e->in_place && !e->mem) {
                rc = copy_entry(a, A, e, buf);
                todo--;
            }
        }
        hdr++;
    }
    archive_read_free(a);
    free(buf);
    return rc;
}

/* Give every needed entry a source: a window of the archive, its memory, or a copy. */
static int open_needed(arc *A)
{
    LB_TRY(copy_pass(A));
    for (size_t i = 0; i < A->n; i++) {
        ent *e = &A->e[i];
        if (!e->need || e->src) continue;
        char *dn = display_name(A, e);
        if (!dn) return lb_err_set(A->err, LB_EIO, LB_NO_OFFSET, "out of memory");
        int rc;
        if (e->in_place) {
            rc = lb_src_sub(&e->src, A->src, e->off, e->size, dn, A->err);
            if (!rc) A->st.in_place++;
        } else {
            rc = lb_src_mem_owned(&e->src, e->mem, e->mem_len, dn, A->err);
            e->mem = NULL;                   /* owned by the source now (or freed) */
            if (!rc) A->st.in_memory++;
        }
        free(dn);
        if (rc) return rc;
    }
    return LB_OK;
}

/* ---- opening what was selected --------------------------------------------------- */

static int open_single(arc *A, lb_model *m, ent *e)
{
    if (!e->fmt && e->what)
        return lb_err_item(A->err, LB_EFORMAT, "entry", e->name, LB_NO_OFFSET, "this is a %s", e->what);
    if (!e->fmt)
        return lb_err_item(A->err, LB_EFORMAT, "entry", e->name, LB_NO_OFFSET,
                           "unrecognized format (not safetensors, GGUF, or another format lowbit reads)");
    e->need = 1;
    LB_TRY(open_needed(A));
    char *dn = display_name(A, e);
    if (!dn) return lb_err_set(A->err, LB_EIO, LB_NO_OFFSET, "out of memory");
    lb_src *s = e->src;
    e->src = NULL;                           /* the reader owns it from here */
    m->format = e->fmt->name;
    int rc = e->fmt->open(m, s, dn, A->err);
    free(dn);
    return rc;
}

static ent *find_entry(arc *A, const char *name)
{
    for (size_t i = 0; i < A->n; i++)
        if (strcmp(A->e[i].name, name) == 0) return &A->e[i];
    return NULL;
}

/* Move a one-file model's file, tensors and metadata into m. */
static int merge_shard(lb_model *m, lb_model *t, lb_err *err)
{
    if (t->n_files != 1 || t->priv)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "shard reader state cannot be merged");
    if (t->ops && m->ops && t->ops != m->ops)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "shard readers differ");
    int f = lb_model_add_file(m, t->files[0].path, t->files[0].src);
    t->files[0].src = NULL;
    if (f < 0) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    m->files[f].data_start = t->files[0].data_start;
    m->ops = t->ops;
    for (size_t i = 0; i < t->n_tensors; i++) {
        lb_tensor *src = &t->tensors[i], *dst;
        LB_TRY(lb_model_add_tensor(m, src->name, src->type, src->ndim, src->shape, src->offset, f,
                                   &dst, err));
        dst->fmt = src->fmt;
        src->fmt = NULL;
    }
    for (size_t i = 0; i < t->n_kv; i++)
        if (!lb_model_kv(m, t->kv[i].key)) LB_TRY(lb_model_add_kv(m, t->kv[i].key, &t->kv[i].val, err));
    return LB_OK;
}

static int index_metadata(lb_model *m, const cJSON *md, lb_err *err)
{
    if (!cJSON_IsObject(md)) return LB_OK;
    for (const cJSON *c = md->child; c; c = c->next) {
        if (cJSON_IsString(c)) {
            LB_TRY(lb_model_add_str(m, c->string, c->valuestring, err));
        } else if (cJSON_IsNumber(c) && c->valuedouble >= 0 && c->valuedouble < 9007199254740992.0 &&
                   c->valuedouble == (double)(uint64_t)c->valuedouble) {
            lb_value v = { .type = LB_V_U64, .v.u = (uint64_t)c->valuedouble };
            LB_TRY(lb_model_add_kv(m, c->string, &v, err));
        }
    }
    return LB_OK;
}

/* The shard list of an index: unique names, each an entry beside the index. */
static int index_shards(arc *A, ent *ix, const cJSON *wm, ent ***out, size_t *n_out)
{
    size_t dir = strlen(ix->name) - strlen(base_name(ix->name)), n = 0;
    ent **sh = calloc((size_t)cJSON_GetArraySize(wm) + 1, sizeof *sh);
    if (!sh) return lb_err_set(A->err, LB_EIO, LB_NO_OFFSET, "out of memory");
    char path[2 * MAX_NAME];
    for (const cJSON *c = wm->child; c; c = c->next) {
        const char *s = cJSON_GetStringValue(c);
        if (!s || !s[0] || strchr(s, '/') || strchr(s, '\\') || strcmp(s, "..") == 0 ||
            strlen(s) >= MAX_NAME) {
            free(sh);
            return lb_err_item(A->err, LB_EFORMAT, "entry", ix->name, LB_NO_OFFSET,
                               "tensor '%.100s': shard is not a plain file name", c->string);
        }
        snprintf(path, sizeof path, "%.*s%s", (int)dir, ix->name, s);
        ent *e = find_entry(A, path);
        if (!e) {
            free(sh);
            return lb_err_item(A->err, LB_EFORMAT, "entry", ix->name, LB_NO_OFFSET,
                               "shard '%.200s' named in the index is not in the archive", path);
        }
        size_t k = 0;
        while (k < n && sh[k] != e) k++;
        if (k == n) sh[n++] = e;
    }
    *out = sh;
    *n_out = n;
    return LB_OK;
}

/* Every tensor the index names must be in the shard it names. */
static int check_map(arc *A, lb_model *m, ent *ix, const cJSON *wm)
{
    for (const cJSON *c = wm->child; c; c = c->next) {
        const lb_tensor *t = lb_model_find(m, c->string);
        const char *want = cJSON_GetStringValue(c);
        if (!t)
            return lb_err_item(A->err, LB_EFORMAT, "tensor", c->string, LB_NO_OFFSET,
                               "named in '%.200s' but in none of its shards", ix->name);
        if (strcmp(base_name(m->files[t->file].path), want) != 0)
            return lb_err_item(A->err, LB_EFORMAT, "tensor", c->string, LB_NO_OFFSET,
                               "index maps it to shard '%.100s' but it is in '%.100s'", want,
                               base_name(m->files[t->file].path));
    }
    return LB_OK;
}

static int open_sharded(arc *A, lb_model *m, ent *ix)
{
    ix->need = 1;
    LB_TRY(open_needed(A));                  /* the index: in memory or in place */
    uint64_t n = lb_src_size(ix->src);
    if (n > A->lim.max_mem_entry)
        return lb_err_item(A->err, LB_EFORMAT, "entry", ix->name, LB_NO_OFFSET,
                           "%llu bytes, more than the %llu-byte limit for index files",
                           (unsigned long long)n, (unsigned long long)A->lim.max_mem_entry);
    char *txt = malloc((size_t)n + 1);
    if (!txt) return lb_err_set(A->err, LB_EIO, LB_NO_OFFSET, "out of memory");
    int rc = lb_src_read(ix->src, 0, txt, (size_t)n, A->err);
    if (rc) { free(txt); return rc; }
    txt[n] = 0;
    cJSON *root = cJSON_ParseWithLength(txt, (size_t)n);
    free(txt);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return lb_err_item(A->err, LB_EFORMAT, "entry", ix->name, LB_NO_OFFSET,
                           root ? "no \"weight_map\" object" : "not valid JSON");
    }
    ent **sh = NULL;
    size_t n_sh = 0;
    rc = index_shards(A, ix, wm, &sh, &n_sh);
    for (size_t i = 0; !rc && i < n_sh; i++) sh[i]->need = 1;
    if (!rc) rc = open_needed(A);
    m->format = "safetensors-sharded";
    for (size_t i = 0; !rc && i < n_sh; i++) {
        char *dn = display_name(A, sh[i]);
        lb_model *t = lb_model_new("safetensors", dn);
        if (!dn || !t) {
            free(dn); lb_model_close(t);
            rc = lb_err_set(A->err, LB_EIO, LB_NO_OFFSET, "out of memory");
            break;
        }
        lb_src *s = sh[i]->src;
        sh[i]->src = NULL;
        rc = lb_safetensors_open(t, s, dn, A->err);
        if (rc && A->err && !A->err->item[0])
            snprintf(A->err->item, sizeof A->err->item, "entry '%.140s'", sh[i]->name);
        if (!rc) rc = merge_shard(m, t, A->err);
        lb_model_close(t);
        free(dn);
    }
    if (!rc) rc = check_map(A, m, ix, wm);
    if (!rc) rc = lb_model_check_names(m, A->err);
    if (!rc) {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
        rc = index_metadata(m, md ? md : cJSON_GetObjectItemCaseSensitive(root, "__metadata__"), A->err);
    }
    free(sh);
    cJSON_Delete(root);
    return rc;
}

/* ---- selection ----------------------------------------------------------------- */

/* The zip-format rule (lb_archive.h): is this zip a torch.save checkpoint or an .npz?
 * Returns the kind and, in *hit, the entry that shows it. */
static const zip_kind *zip_format(const arc *A, const ent **hit)
{
    if (!A->is_zip || A->n == 0) return NULL;
    for (size_t k = 0; k < N_ZIP_KINDS; k++) {
        const zip_kind *z = &zip_kinds[k];
        size_t matched = 0;
        for (size_t i = 0; i < A->n; i++)
            if (z->match(A->e[i].name)) {
                if (!matched++) *hit = &A->e[i];
                if (!z->all) return z;
            }
        if (z->all && matched == A->n) return z;
    }
    return NULL;
}

static const lb_format *format_named(const char *name)
{
    for (const lb_format *const *f = lb_formats; *f; f++)
        if (strcmp((*f)->name, name) == 0) return *f;
    return NULL;
}

/* Exactly one entry with this base name (shallowest wins ties? no: ambiguity is an error). */
static int by_basename(arc *A, const char *base, ent **out)
{
    *out = NULL;
    int count = 0;
    for (size_t i = 0; i < A->n; i++)
        if (strcmp(base_name(A->e[i].name), base) == 0) {
            if (!count) *out = &A->e[i];
            count++;
        }
    if (count > 1)
        return lb_err_set(A->err, LB_EFORMAT, LB_NO_OFFSET,
                          "archive holds %d entries named '%s' ('%.150s', ...); it must hold one model",
                          count, base, (*out)->name);
    return LB_OK;
}

static int pick(arc *A, lb_model *m)
{
    ent *e;
    LB_TRY(by_basename(A, INDEX_NAME, &e));
    if (e) return open_sharded(A, m, e);
    static const char *const singles[] = { "model.safetensors", "model.gguf", NULL };
    for (const char *const *s = singles; *s; s++) {
        LB_TRY(by_basename(A, *s, &e));
        if (e) return open_single(A, m, e);
    }
    ent *found = NULL, *second = NULL;
    int count = 0;
    for (size_t i = 0; i < A->n; i++)
        if (A->e[i].fmt) {
            if (!count) found = &A->e[i];
            else if (count == 1) second = &A->e[i];
            count++;
        }
    for (size_t i = 0; count == 0 && i < A->n; i++) {
        const char *x = strrchr(A->e[i].name, '.');
        if (A->e[i].what && x && (!strcmp(x, ".safetensors") || !strcmp(x, ".gguf") || !strcmp(x, ".bin") ||
                                  !strcmp(x, ".pt") || !strcmp(x, ".pth")))
            return lb_err_set(A->err, LB_EFORMAT, LB_NO_OFFSET,
                              "archive holds no model file: entry '%.200s' is a %s", A->e[i].name, A->e[i].what);
    }
    if (count == 0)
        return lb_err_set(A->err, LB_EFORMAT, LB_NO_OFFSET,
                          "archive holds no model file (%llu entries, none safetensors, GGUF or "
                          "another format lowbit reads)", (unsigned long long)A->st.entries);
    if (count > 1)
        return lb_err_set(A->err, LB_EFORMAT, LB_NO_OFFSET,
                          "archive holds %d model files and no %s ('%.150s', '%.150s', ...)",
                          count, INDEX_NAME, found->name, second->name);
    return open_single(A, m, found);
}

/* ---- the format ------------------------------------------------------------------ */

int lb_archive_open_with(lb_model *m, lb_src *src, const char *path, const lb_archive_limits *lim,
                         lb_archive_stats *stats, lb_err *err)
{
    arc A;
    memset(&A, 0, sizeof A);
    A.src = src;
    A.path = path ? path : lb_src_name(src);
    A.lim = lim ? *lim : cur_limits;
    A.err = err;
    int rc = list_pass(&A);
    const ent *hit = NULL;
    const zip_kind *zk = rc ? NULL : zip_format(&A, &hit);
    if (zk) {
        const lb_format *f = format_named(zk->format);
        if (f) {
            A.src = NULL;                    /* handed over whole */
            arc_free(&A);
            m->format = f->name;
            return f->open(m, src, path ? path : lb_src_name(src), err);
        }
        rc = lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET,
                        "%s (entry '%.200s'): reading those is not yet supported", zk->what, hit->name);
    }
    if (!rc) rc = pick(&A, m);
    if (stats) *stats = A.st;
    arc_free(&A);
    return rc;
}

/* ---- side files ------------------------------------------------------------------- */

int lb_archive_model_is(const lb_model *m)
{
    struct stat st;
    size_t n = strlen(m->path);
    return m->n_files > 0 && m->files[0].path && strncmp(m->files[0].path, m->path, n) == 0 &&
           m->files[0].path[n] == '/' && stat(m->path, &st) == 0 && S_ISREG(st.st_mode);
}

static int read_whole(struct archive *a, const char *name, uint64_t max, void **data, size_t *len,
                      lb_err *err)
{
    size_t cap = 65536, n = 0;
    uint8_t *p = malloc(cap + 1);
    if (!p) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    for (;;) {
        if (n == cap) {
            if (cap > max) break;
            uint8_t *q = realloc(p, cap * 2 + 1);
            if (!q) { free(p); return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }
            p = q;
            cap *= 2;
        }
        la_ssize_t k = archive_read_data(a, p + n, cap - n);
        if (k < 0) {
            free(p);
            const char *m = archive_error_string(a);
            return lb_err_item(err, LB_EFORMAT, "entry", name, LB_NO_OFFSET, "cannot read: %s",
                               m ? m : "unknown error");
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    if (n > max) {
        free(p);
        return lb_err_item(err, LB_EFORMAT, "entry", name, LB_NO_OFFSET, "larger than the %llu-byte limit",
                           (unsigned long long)max);
    }
    p[n] = 0;
    *data = p;
    *len = n;
    return LB_OK;
}

int lb_archive_sidecar(const lb_model *m, const char *name, uint64_t max, void **data, size_t *len,
                       lb_err *err)
{
    *data = NULL;
    *len = 0;
    if (!lb_archive_model_is(m))
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "'%.200s' was not opened from an archive", m->path);
    const char *entry = m->files[0].path + strlen(m->path) + 1;
    size_t dir = strlen(entry) - strlen(base_name(entry));
    char want[2 * MAX_NAME];
    snprintf(want, sizeof want, "%.*s%s", (int)dir, entry, name);
    lb_src *src;
    LB_TRY(lb_src_open(&src, m->path, err));
    rd r = { 0 };
    struct archive *a;
    int rc = reader_open(&a, &r, src, err), found = 0;
    struct archive_entry *ae;
    while (!rc && !found) {
        int ar = archive_read_next_header(a, &ae);
        if (ar == ARCHIVE_EOF) break;
        if (ar < ARCHIVE_WARN) {
            const char *msg = archive_error_string(a);
            rc = lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "cannot read archive: %s", msg ? msg : "unknown error");
            break;
        }
        int bad;
        char *nm = entry_name(archive_entry_pathname(ae), &bad);
        if (nm && archive_entry_filetype(ae) == AE_IFREG && strcmp(nm, want) == 0) {
            found = 1;
            if (archive_entry_size_is_set(ae) && (uint64_t)archive_entry_size(ae) > max)
                rc = lb_err_item(err, LB_EFORMAT, "entry", want, LB_NO_OFFSET,
                                 "%llu bytes, larger than the %llu-byte limit",
                                 (unsigned long long)archive_entry_size(ae), (unsigned long long)max);
            else
                rc = read_whole(a, want, max, data, len, err);
        }
        free(nm);
    }
    if (a) archive_read_free(a);
    free(r.buf);
    lb_src_close(src);
    if (!rc && !found)
        rc = lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "no entry '%.300s' in the archive", want);
    return rc;
}

int lb_archive_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    return lb_archive_open_with(m, src, path, NULL, NULL, err);
}

const lb_format lb_fmt_archive = { "archive", lb_archive_bid, lb_archive_open };
