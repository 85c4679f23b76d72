/* scan_archive.c: containers of pickles, by content: zip (PyTorch checkpoints, .npz, any
 * zip; zips in zips), 7z (libarchive), .npy (object arrays hold a pickle), compressed
 * streams (joblib-style zlib / gzip / bz2 / xz / lzma / zstd pickles), legacy torch.save
 * files and bare pickles (scan_pickle.c).
 *
 * Zips are read the way the most permissive loader reads them (LB_ZIP_LENIENT): an entry
 * with an unsafe name, a wrong CRC, a duplicate name or an "encrypted" flag over plaintext
 * is still scanned, and what is wrong with it is a finding of its own. What cannot be
 * read at all (an unknown compression method, a limit) is unscannable, never silence. */
#include "scan_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_pickle.h"
#include "lb_zip.h"

#define LEGACY_PREFIX ((uint64_t)64 << 20)  /* legacy torch files: pickles first, storages after */
#define PEEK          ((uint64_t)1 << 16)  /* bytes of a compressed file decoded to see what it is */
#define PEEK_NPY      8192                 /* bytes of a big .npy member read for its header */

/* ---- where bytes come from, the work budget ------------------------------------------ */

uint64_t lbs_file_off(const lbs_where *w, uint64_t off) { return w->exact ? w->base + off : w->base; }

const char *lbs_in(char *buf, size_t cap, const lbs_where *w, uint64_t off)
{
    char ent[260] = "";
    buf[0] = 0;
    if (w->entry[0] && w->exact) snprintf(ent, sizeof ent, "in entry '%.200s'", w->entry);
    else if (w->entry[0]) snprintf(ent, sizeof ent, "in entry '%.200s', byte %llu of it", w->entry, (unsigned long long)off);
    if (w->chain[0])
        snprintf(buf, cap, " (decoded from %s, byte %llu of that%s%s)", w->chain, (unsigned long long)off,
                 w->entry[0] ? ", in entry " : "", w->entry[0] ? w->entry : "");
    else if (ent[0])
        snprintf(buf, cap, " (%s)", ent);
    return buf;
}

void lbs_decoded(lbs_where *out, const lbs_where *w, uint64_t off, const char *how)
{
    out->entry = w->entry;
    out->base = lbs_file_off(w, off);
    out->exact = 0;
    if (!how[0]) snprintf(out->chain, sizeof out->chain, "%s", w->chain);
    else if (w->chain[0]) snprintf(out->chain, sizeof out->chain, "%.100s, then %s", w->chain, how);
    else snprintf(out->chain, sizeof out->chain, "%s", how);
}

void lbs_incomplete(lb_scan_file *r, uint64_t off, const char *why, const lbs_where *w)
{
    char e[400];
    for (size_t i = 0; i < r->n; i++)   /* one finding per reason */
        if (!strcmp(r->f[i].id, "SCAN_INCOMPLETE") && strstr(r->f[i].msg, why)) return;
    lb_scan_add(r, "SCAN_INCOMPLETE", LB_SEV_UNSCANNABLE, off, "not scanned completely: %s%s", why,
                w ? lbs_in(e, sizeof e, w, 0) : "");
}

int lbs_charge(lb_scan_file *r, uint64_t n)
{
    if (r->work >= n) { r->work -= n; return 0; }
    if (r->work) lbs_incomplete(r, LB_NO_OFFSET, "the work budget for hidden payloads ran out", NULL);
    r->work = 0;
    return -1;
}

static int is_zip(const uint8_t *d, size_t n) { return n >= 4 && (!memcmp(d, "PK\3\4", 4) || !memcmp(d, "PK\5\6", 4)); }
static int is_7z(const uint8_t *d, size_t n) { return n >= 6 && !memcmp(d, "7z\xbc\xaf\x27\x1c", 6); }
static int is_npy(const uint8_t *d, size_t n) { return n >= 6 && !memcmp(d, "\x93NUMPY", 6); }

/* ---- NumPy .npy ----------------------------------------------------------------------- */

/* Bytes per element from a simple descr ('<f4', '|b1', '<U10'); 0 if not simple. */
static uint64_t npy_itemsize(const char *descr)
{
    const char *p = descr;
    if (*p == '<' || *p == '>' || *p == '|' || *p == '=') p++;
    char kind = *p++;
    char *end;
    unsigned long long n = strtoull(p, &end, 10);
    if (end == p || *end) return 0;
    if (strchr("biufcSaVMm", kind)) return n;
    if (kind == 'U') return 4 * n;
    return 0;
}

/* header: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } */
static void scan_npy(lb_scan_file *r, const uint8_t *d, size_t n, uint64_t fsize, const lbs_where *w, int depth, int top)
{
    char e[400];
    if (top) r->format = "npy";
    if (n < 10) {
        lb_scan_add(r, "TRUNCATED", LB_SEV_ERROR, lbs_file_off(w, 0), "npy header cut off%s", lbs_in(e, sizeof e, w, 0));
        return;
    }
    uint64_t hl = d[6] == 1 ? lb_ld16(d + 8) : n >= 12 ? lb_ld32(d + 8) : 0;
    uint64_t hs = d[6] == 1 ? 10 : 12;
    if (hs + hl > n) {
        lb_scan_add(r, hs + hl > fsize ? "TRUNCATED" : "MALFORMED", LB_SEV_ERROR, lbs_file_off(w, 8),
                    "npy header of %llu bytes runs past the end%s", (unsigned long long)hl, lbs_in(e, sizeof e, w, 8));
        return;
    }
    char h[4096];
    size_t k = hl < sizeof h - 1 ? (size_t)hl : sizeof h - 1;
    memcpy(h, d + hs, k);
    h[k] = 0;
    char descr[64] = "";
    const char *p = strstr(h, "'descr':");
    if (p) sscanf(p + 8, " '%63[^']'", descr);
    uint64_t data = hs + hl;
    if (strchr(descr, 'O') || (p && p[8 + strspn(p + 8, " ")] == '[' && strstr(h, "'O'"))) {
        lbs_where wd = *w;
        if (w->exact) wd.base = w->base + data;
        lbs_pickle_buf(r, d + data, n - data, &wd, depth + 1, "the object array's pickle");
        if (n < fsize) lbs_incomplete(r, lbs_file_off(w, n), "an object array's pickle over the scan limit", w);
        return;
    }
    uint64_t item = npy_itemsize(descr), nel = 1;
    const char *s = strstr(h, "'shape':");
    if (!item || !s || !(s = strchr(s, '('))) return;
    for (s++; *s && *s != ')';) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s) break;
        if (lb_mul64(nel, v, &nel)) return;
        s = end + strspn(end, ", ");
    }
    uint64_t need;
    if (lb_mul64(nel, item, &need) || lb_add64(need, data, &need)) return;
    if (need > fsize)
        lb_scan_add(r, "TRUNCATED", LB_SEV_ERROR, lbs_file_off(w, fsize), "npy data needs %llu bytes, there are %llu%s",
                    (unsigned long long)need, (unsigned long long)fsize, lbs_in(e, sizeof e, w, fsize));
    else if (need < fsize)
        lb_scan_add(r, "TRAILING_DATA", LB_SEV_WARNING, lbs_file_off(w, need), "%llu bytes after the npy array data%s",
                    (unsigned long long)(fsize - need), lbs_in(e, sizeof e, w, need));
}

/* ---- zip ------------------------------------------------------------------------------ */

typedef struct src_ctx { lb_src *src; } src_ctx;

static int src_read(void *ctx, uint64_t off, void *buf, size_t n, lb_err *err)
{
    return lb_src_read(((src_ctx *)ctx)->src, off, buf, n, err);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* PyTorch keeps tensor storages as raw bytes in "<prefix>/data/<key>": data, not pickles. */
static int torch_storage(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return !strncmp(name, prefix, n) && !strncmp(name + n, "data/", 5);
}

/* What a loader would find in a zip member whose bytes are d: something to scan. */
static int recognizable(const uint8_t *d, size_t n)
{
    return n > 2 && (lbs_is_container(d, n) || (d[0] == 0x80 && d[1] <= 5) || lbs_compression(d, n) != LBS_Z_NONE ||
                     lbs_first_op(d[0]));
}

/* The anomalies lenient mode noted on an entry, as findings. */
static void entry_anomalies(lb_scan_file *r, const lb_zip_entry *en, const lbs_where *w)
{
    uint64_t at = lbs_file_off(w, en->local_offset);
    if (en->anomalies & LB_ZIP_A_UNSAFE_NAME)
        lb_scan_addi(r, "ZIP_UNSAFE_NAME", LB_SEV_MALICIOUS, "entry", en->name, at,
                     "%s: extracting the archive writes outside the target folder (scanned anyway)",
                     en->unsafe_name ? en->unsafe_name : "unsafe name");
    if (en->anomalies & LB_ZIP_A_DUP_NAME)
        lb_scan_addi(r, "ZIP_DUPLICATE_NAME", LB_SEV_SUSPICIOUS, "entry", en->name, at,
                     "a second entry of the same name: loaders disagree on which one they read (both scanned)");
    if (en->anomalies & LB_ZIP_A_OVERLAP)
        lb_scan_addi(r, "ZIP_OVERLAP", LB_SEV_ERROR, "entry", en->name, at,
                     "its bytes overlap another entry's (a zip bomb or a parser confusion)");
    if (en->anomalies & LB_ZIP_A_LOCAL_DIFFERS)
        lb_scan_addi(r, "ZIP_LOCAL_DIFFERS", LB_SEV_WARNING, "entry", en->name, at,
                     "the local header's method, CRC or sizes differ from the central directory's");
    if (en->anomalies & LB_ZIP_A_SIZES)
        lb_scan_addi(r, "ZIP_SIZES", LB_SEV_WARNING, "entry", en->name, at,
                     "stored (not compressed) but its compressed size %llu differs from its size %llu",
                     (unsigned long long)en->csize, (unsigned long long)en->usize);
    if (en->name_mismatch)
        lb_scan_addi(r, "ZIP_NAME_MISMATCH", LB_SEV_WARNING, "entry", en->name, at,
                     "the local header names it differently from the central directory (PyTorch "
                     "reads it under the central name, Python's zipfile refuses)");
}

/* An entry's content as a loader that ignores flags and CRCs would see it. NULL with *why
 * set when it cannot be decoded; *partial when the stream broke (what came before is kept). */
static uint8_t *entry_data(lb_zip *z, const lb_zip_entry *en, size_t *len, int *partial, const char **why,
                           lb_err *err)
{
    uint8_t *raw;
    size_t rn;
    *partial = 0;
    *why = NULL;
    if (en->method != 0 && en->method != 8 && en->method != 12 && en->method != 93) {
        *why = "compression method not supported by the scanner";
        return NULL;
    }
    if (lb_zip_read_raw(z, en, LBS_ENTRY_MAX, &raw, &rn, err)) { *why = err->msg; return NULL; }
    if (en->method == 0) { *len = rn; return raw; }
    int kind = en->method == 8 ? LBS_Z_DEFLATE : en->method == 12 ? LBS_Z_BZIP2 : LBS_Z_ZSTD, st;
    uint8_t *out = lbs_decompress(kind, raw, rn, LBS_ENTRY_MAX, len, &st);
    free(raw);
    if (!out) {
        if (!en->usize) { *len = 0; return calloc(1, 1); }
        *why = "the compressed data does not decompress";
        return NULL;
    }
    *partial = st != 0;
    return out;
}

/* A member too big to read whole: a plain .npy array (an .npz of big arrays) needs only its
 * header. 1 if it was one (and checked). */
static int big_npy(lb_scan_file *r, lb_zip *z, const lb_zip_entry *en, const lbs_where *w, int depth, size_t *npy)
{
    if ((en->method != 0 && en->method != 8) || en->encrypted) return 0;
    uint8_t raw[PEEK_NPY], *d = raw;
    size_t n = en->csize < sizeof raw ? (size_t)en->csize : sizeof raw;
    lb_err err;
    lb_err_clear(&err);
    if (lb_zip_read_raw_at(z, en, 0, raw, n, &err)) return 0;
    int st;
    if (en->method == 8 && !(d = lbs_decompress(LBS_Z_DEFLATE, raw, n, sizeof raw, &n, &st))) return 0;
    int ok = is_npy(d, n) && n >= 10;
    if (ok) {
        lbs_where we = { en->name, w->exact ? w->base + en->data_offset : w->base, w->exact && en->method == 0, "" };
        snprintf(we.chain, sizeof we.chain, "%s", w->chain);
        scan_npy(r, d, n, en->usize, &we, depth + 1, 0);
        (*npy)++;
    }
    if (d != raw) free(d);
    return ok;
}

static void scan_entry(lb_scan_file *r, lb_zip *z, const lb_zip_entry *en, const lbs_where *w, int depth, size_t *npy)
{
    uint64_t at = lbs_file_off(w, en->local_offset);
    if (en->anomalies & LB_ZIP_A_BAD_LOCAL) {
        lb_scan_addi(r, "ENTRY_NOT_SCANNED", LB_SEV_UNSCANNABLE, "entry", en->name, at, "cannot be read: %s",
                     en->problem);
        return;
    }
    if (en->csize > LBS_ENTRY_MAX || en->usize > LBS_ENTRY_MAX) {
        if (big_npy(r, z, en, w, depth, npy)) return;
        lb_scan_addi(r, "ENTRY_NOT_SCANNED", LB_SEV_UNSCANNABLE, "entry", en->name, at,
                     "%llu bytes, over the %llu-byte scan limit", (unsigned long long)en->usize,
                     (unsigned long long)LBS_ENTRY_MAX);
        return;
    }
    lb_err err;
    lb_err_clear(&err);
    size_t len = 0;
    int partial;
    const char *why;
    uint8_t *data = entry_data(z, en, &len, &partial, &why, &err);
    uint32_t crc = data ? (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len) : 0;
    if (en->encrypted) {
        /* ZipCrypto / AES: ciphertext. The flag over plaintext: torch.load reads it anyway. */
        int clear = data && !partial && (crc == en->crc32 || (en->method == 0 && recognizable(data, len)));
        if (!clear) {
            lb_scan_addi(r, "ZIP_ENCRYPTED", LB_SEV_INFO, "entry", en->name, at,
                         "encrypted (a password is needed to read it, by any loader; not scanned)");
            free(data);
            return;
        }
        lb_scan_addi(r, "ZIP_ENCRYPTED_FLAG", LB_SEV_WARNING, "entry", en->name, at,
                     "flagged encrypted but stored as plaintext (PyTorch reads it, Python's zipfile refuses)");
    }
    if (!data) {
        if (en->method == 0 || en->method == 8)
            lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "entry", en->name, at, "cannot read: %s", why);
        else
            lb_scan_addi(r, "ENTRY_NOT_SCANNED", LB_SEV_UNSCANNABLE, "entry", en->name, at,
                         "compression method %u: %s", en->method, why);
        return;
    }
    if (partial)
        lb_scan_addi(r, "ZIP_DATA_CORRUPT", LB_SEV_ERROR, "entry", en->name, at,
                     "the compressed data breaks after %zu bytes (those were scanned)", len);
    else if (!en->encrypted && crc != en->crc32)
        lb_scan_addi(r, "ZIP_CRC_MISMATCH", LB_SEV_ERROR, "entry", en->name, at,
                     "stored CRC-32 %08x, the data has %08x (PyTorch does not check it; scanned anyway)",
                     (unsigned)en->crc32, (unsigned)crc);
    if (len >= 6 && !memcmp(data, "\x93NUMPY", 6)) (*npy)++;
    lbs_where we = { en->name, w->exact ? w->base + en->data_offset : w->base, w->exact && en->method == 0, "" };
    snprintf(we.chain, sizeof we.chain, "%s", w->chain);
    if (depth >= LBS_MAX_NEST) {
        if (recognizable(data, len)) lbs_incomplete(r, at, "archives nested deeper than the layer limit", w);
    } else if (!lbs_blob(r, data, len, &we, depth + 1, 0) && len) {
        lbs_payload(r, data, len, &we, depth + 1, 1);   /* a text member may carry an encoded pickle */
    }
    free(data);
}

static void scan_zip(lb_scan_file *r, lb_zip *z, const lbs_where *w, int depth, int top)
{
    size_t cnt = lb_zip_count(z), npy = 0;
    char prefix[512] = "";
    int torch = 0;
    for (size_t i = 0; i < cnt; i++) {
        const char *nm = lb_zip_entry_at(z, i)->name;
        if (has_suffix(nm, "data.pkl") && strlen(nm) - 8 < sizeof prefix) {
            torch = 1;
            snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(nm) - 8), nm);
        }
    }
    for (size_t i = 0; i < cnt; i++) {
        const lb_zip_entry *en = lb_zip_entry_at(z, i);
        entry_anomalies(r, en, w);
        if (torch && torch_storage(en->name, prefix)) continue;
        scan_entry(r, z, en, w, depth, &npy);
    }
    if (top) r->format = torch ? "pytorch-zip" : cnt && npy == cnt ? "npz" : "zip";
}

static void scan_zip_mem(lb_scan_file *r, const uint8_t *d, size_t n, const lbs_where *w, int depth, int top)
{
    lb_zip *z;
    lb_err err;
    lb_err_clear(&err);
    char e[400];
    if (top) r->format = "zip";
    if (lb_zip_open_mem(&z, d, n, LB_ZIP_LENIENT, &err)) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, lbs_file_off(w, err.offset == LB_NO_OFFSET ? 0 : err.offset),
                    "zip: %s%s", err.msg, lbs_in(e, sizeof e, w, 0));
        return;
    }
    scan_zip(r, z, w, depth, top);
    lb_zip_close(z);
}

/* ---- 7z (libarchive) -------------------------------------------------------------------- */

static void scan_7z(lb_scan_file *r, const uint8_t *d, size_t n, const lbs_where *w, int depth, int top)
{
    if (top) r->format = "7z";
    struct archive *a = archive_read_new();
    if (!a) return;
    archive_read_support_format_7zip(a);
    archive_read_support_filter_all(a);
    if (archive_read_open_memory(a, d, n) != ARCHIVE_OK) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, lbs_file_off(w, 0), "7z: %s", archive_error_string(a));
        archive_read_free(a);
        return;
    }
    struct archive_entry *ae;
    int rc;
    while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(ae);
        char nm[512];
        snprintf(nm, sizeof nm, "%s", name ? name : "?");
        unsigned ft = archive_entry_filetype(ae);
        if (ft && ft != AE_IFREG) continue;   /* 7z entries may carry no type at all */
        int64_t sz = archive_entry_size(ae);
        if (sz < 0 || (uint64_t)sz > LBS_ENTRY_MAX) {
            lb_scan_addi(r, "ENTRY_NOT_SCANNED", LB_SEV_UNSCANNABLE, "entry", nm, lbs_file_off(w, 0),
                         "size unknown or over the scan limit");
            continue;
        }
        uint8_t *buf = malloc((size_t)sz + 1);
        la_ssize_t got = buf ? archive_read_data(a, buf, (size_t)sz) : -1;
        if (got < 0 || got != (la_ssize_t)sz) {
            if (archive_entry_is_encrypted(ae))
                lb_scan_addi(r, "ZIP_ENCRYPTED", LB_SEV_INFO, "entry", nm, lbs_file_off(w, 0), "encrypted; not scanned");
            else
                lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "entry", nm, lbs_file_off(w, 0), "7z: cannot read: %s",
                             archive_error_string(a));
            free(buf);
            continue;
        }
        lbs_where we = { nm, lbs_file_off(w, 0), 0, "" };
        snprintf(we.chain, sizeof we.chain, "%s", w->chain);
        if (!lbs_blob(r, buf, (size_t)sz, &we, depth + 1, 0) && sz) lbs_payload(r, buf, (size_t)sz, &we, depth + 1, 1);
        free(buf);
    }
    if (rc != ARCHIVE_EOF)
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, lbs_file_off(w, 0), "7z: %s", archive_error_string(a));
    archive_read_free(a);
}

/* ---- dispatch --------------------------------------------------------------------------- */


int lbs_is_container(const uint8_t *d, size_t n) { return is_zip(d, n) || is_7z(d, n) || is_npy(d, n); }

int lbs_blob(lb_scan_file *r, const uint8_t *d, size_t n, const lbs_where *w, int depth, int top)
{
    if (depth > LBS_MAX_NEST) {
        if (recognizable(d, n)) lbs_incomplete(r, lbs_file_off(w, 0), "containers nested deeper than the layer limit", w);
        return 1;
    }
    if (is_zip(d, n)) { scan_zip_mem(r, d, n, w, depth, top); return 1; }
    if (is_7z(d, n)) { scan_7z(r, d, n, w, depth, top); return 1; }
    if (is_npy(d, n)) { scan_npy(r, d, n, n, w, depth, top); return 1; }
    if (n && lbs_first_op(d[0])) {
        int legacy = n >= sizeof lbs_legacy_magic && !memcmp(d, lbs_legacy_magic, sizeof lbs_legacy_magic);
        if (lbs_pickle_buf(r, d, n, w, depth, legacy ? "the legacy torch file" : "the pickle")) {
            if (top) r->format = legacy ? "pytorch-legacy" : "pickle";
            return 1;
        }
    }
    return 0;
}

static int read_all(lb_scan_file *r, lb_src *src, uint64_t max, uint8_t **out, size_t *n)
{
    uint64_t size = lb_src_size(src), k = size < max ? size : max;
    uint8_t *d = malloc((size_t)k + 1);
    lb_err err;
    lb_err_clear(&err);
    if (!d || lb_src_read(src, 0, d, (size_t)k, &err)) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, LB_NO_OFFSET, "cannot read: %s", d ? err.msg : "out of memory");
        free(d);
        return -1;
    }
    *out = d;
    *n = (size_t)k;
    return 0;
}

/* Forget the findings added since r->n was before (worst is recomputed). */
static void drop_since(lb_scan_file *r, size_t before)
{
    while (r->n > before) { r->n--; free(r->f[r->n].item); free(r->f[r->n].msg); }
    r->worst = -1;
    for (size_t i = 0; i < r->n; i++)
        if (r->f[i].sev > r->worst) r->worst = r->f[i].sev;
}

/* A compressed file (joblib and friends write zlib, gzip, bz2, xz or lzma pickles): scanned
 * when what it decompresses to is a pickle or an archive. */
static int scan_compressed(lb_scan_file *r, lb_src *src, int kind)
{
    uint8_t *d, *out;
    size_t k, on;
    int st;
    size_t before = r->n;
    if (read_all(r, src, lb_src_size(src) < LBS_FILE_MAX ? lb_src_size(src) : LBS_FILE_MAX, &d, &k)) {
        drop_since(r, before);
        return 0;
    }
    out = lbs_decompress(kind, d, k, PEEK, &on, &st);   /* a look first: a .tar.gz is not ours */
    int ours = out && (lbs_is_container(out, on) || (on > 2 && out[0] == 0x80 && out[1] <= 5));
    free(out);
    if (!ours) { free(d); return 0; }
    out = lbs_decompress(kind, d, k, LBS_FILE_MAX, &on, &st);
    free(d);
    if (!out) return 0;
    lbs_where w = { "", 0, 0, "" };
    snprintf(w.chain, sizeof w.chain, "%s", lbs_compression_name(kind));
    const char *fmt = r->format;
    r->format = NULL;
    int got = lbs_blob(r, out, on, &w, 1, 1);
    free(out);
    if (!got) { drop_since(r, before); r->format = fmt; return 0; }
    static const char *const names[] = { "", "pickle+zlib", "pickle+gzip", "", "pickle+bzip2", "pickle+xz",
                                         "pickle+lzma", "pickle+zstd" };
    if (r->format && !strcmp(r->format, "pickle")) r->format = names[kind];
    if (st == 1) lb_scan_add(r, "TRUNCATED", LB_SEV_ERROR, LB_NO_OFFSET, "the %s stream is cut short",
                             lbs_compression_name(kind));
    if (st == 2) lbs_incomplete(r, LB_NO_OFFSET, "decompressed data over the scan limit", NULL);
    return 1;
}

int lb_scan_pickles(lb_scan_file *r, lb_src *src, const uint8_t *head, size_t n)
{
    lbs_where w = { "", 0, 1, "" };
    uint64_t size = lb_src_size(src);
    if (is_zip(head, n)) {
        lb_zip *z;
        lb_err err;
        lb_err_clear(&err);
        src_ctx c = { src };
        r->format = "zip";
        if (lb_zip_open(&z, src_read, &c, size, LB_ZIP_LENIENT, &err)) {
            lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, err.offset, "zip: %s", err.msg);
            return 1;
        }
        scan_zip(r, z, &w, 0, 1);
        lb_zip_close(z);
        return 1;
    }
    if (is_npy(head, n)) {
        uint8_t *d;
        size_t k;
        r->format = "npy";
        if (size > LBS_FILE_MAX) {   /* a big plain array: the header is enough */
            scan_npy(r, head, n, size, &w, 0, 1);
            return 1;
        }
        if (read_all(r, src, LBS_FILE_MAX, &d, &k)) return 1;
        scan_npy(r, d, k, size, &w, 0, 1);
        free(d);
        return 1;
    }
    int kind = lbs_compression(head, n);
    if (kind != LBS_Z_NONE && scan_compressed(r, src, kind)) return 1;
    if (!is_7z(head, n) && !(n && lbs_first_op(head[0]))) return 0;
    if (!is_7z(head, n) && head[0] != 0x80 && size > LEGACY_PREFIX) return 0;
    uint8_t *d;
    size_t k;
    size_t before = r->n;
    /* a big legacy torch file: its pickles come first, the storages after; try a prefix */
    if (n >= sizeof lbs_legacy_magic && !memcmp(head, lbs_legacy_magic, sizeof lbs_legacy_magic) && size > LEGACY_PREFIX &&
        !read_all(r, src, LEGACY_PREFIX, &d, &k)) {
        lbs_blob(r, d, k, &w, 0, 1);
        free(d);
        if (!lb_scan_has(r, "MALFORMED")) return 1;
        drop_since(r, before);   /* the pickles run past the prefix: read it all */
    }
    if (read_all(r, src, LBS_FILE_MAX, &d, &k)) return 1;
    const char *fmt = r->format;
    r->format = NULL;
    int got = lbs_blob(r, d, k, &w, 0, 1);
    free(d);
    if (!got || !r->format) {    /* not a pickle after all: drop what the attempt said */
        drop_since(r, before);
        r->format = fmt;
        return 0;
    }
    if (k < size)
        lbs_incomplete(r, k, "only the first 1 GiB of the file was read", NULL);
    return 1;
}

/* ---- --deep on a PyTorch zip -------------------------------------------------------------- */

typedef struct torch_rd { lb_zip *z; const lb_zip_entry *e; uint64_t base; } torch_rd;

static int torch_read(void *ctx, uint64_t off, void *buf, size_t n, lb_err *err)
{
    torch_rd *c = ctx;
    return lb_zip_read_at(c->z, c->e, c->base + off, buf, n, err);
}

/* Load data.pkl with the allow-list (what torch.load(weights_only=True) accepts), then read
 * every contiguous float tensor from its stored storage entry. */
static int torch_values(lb_scan_file *r, lb_zip *z, size_t *skipped, lb_err *err)
{
    const lb_zip_entry *pk;
    LB_TRY(lb_zip_find_suffix(z, "data.pkl", &pk, err));
    if (!pk) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "no data.pkl");
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(pk->name) - 8), pk->name);
    uint8_t *d;
    size_t n;
    LB_TRY(lb_zip_read(z, pk, LBS_ENTRY_MAX, &d, &n, err));
    lb_pickle *p;
    int rc = lb_pickle_load(&p, d, n, 0, NULL, err);
    lb_pk_tensor *t = NULL;
    size_t nt = 0;
    if (!rc) rc = lb_pickle_tensors(p, &t, &nt, err);
    for (size_t i = 0; !rc && i < nt; i++) {
        const lb_type_traits *tt = lb_type_get(t[i].type);
        if (!tt || tt->kind != LB_KIND_FLOAT) continue;
        char name[700];
        snprintf(name, sizeof name, "%sdata/%s", prefix, t[i].storage_key);
        const lb_zip_entry *e = lb_zip_find(z, name);
        uint64_t base, bytes, end;
        if (!e || e->method != 0 || !t[i].contiguous || lb_mul64(t[i].storage_offset, tt->type_size, &base) ||
            lb_mul64(t[i].nelem, tt->type_size, &bytes) || lb_add64(base, bytes, &end) || end > e->usize) {
            (*skipped)++;
            continue;
        }
        torch_rd c = { z, e, base };
        lb_scan_deep_values(r, t[i].name, t[i].type, t[i].ndim, t[i].nelem, e->data_offset + base, torch_read, &c);
    }
    free(t);
    lb_pickle_free(p);
    free(d);
    return rc;
}

void lb_scan_deep_torch(lb_scan_file *r, lb_src *src)
{
    lb_zip *z;
    lb_err err;
    lb_err_clear(&err);
    src_ctx c = { src };
    size_t skipped = 0;
    int rc = lb_zip_open(&z, src_read, &c, lb_src_size(src), 0, &err);
    if (!rc) {
        rc = torch_values(r, z, &skipped, &err);
        lb_zip_close(z);
    }
    if (rc)
        lb_scan_add(r, "DEEP_SKIPPED", LB_SEV_INFO, LB_NO_OFFSET,
                    "value checks skipped: the checkpoint does not load with the allow-list (%s)", err.msg);
    else if (skipped)
        lb_scan_add(r, "DEEP_SKIPPED", LB_SEV_INFO, LB_NO_OFFSET,
                    "value checks skipped for %zu tensor(s) (compressed or non-contiguous storage)", skipped);
}
