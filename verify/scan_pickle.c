/* scan_pickle.c: pickles and their containers, scanned without executing anything.
 *
 * Content decides what a file is: a zip (PyTorch checkpoints, .npz, any zip: every entry
 * is scanned by content, zips nested in zips too), a 7z archive (through libarchive), a
 * .npy file (object arrays hold a pickle), a legacy torch.save file (five pickles, then raw
 * storage bytes), or a bare pickle (protocol 2+ start with 0x80; protocol 0/1 text pickles
 * count when they parse to STOP). Each pickle stream runs through the restricted machine
 * of formats/pickle.c in scan mode, which records every global (GLOBAL, STACK_GLOBAL, INST)
 * with its opcode offset and keeps going as far as the stream parses.
 *
 * Every global becomes a PICKLE_GLOBAL finding classified by the table below: allow-listed
 * (torch tensor rebuilding, benign NumPy object arrays) is info, a known-dangerous module or
 * callable is malicious, anything else is suspicious. Pickles hidden inside a pickle (raw
 * bytes, or base64 text that decodes to one) are PICKLE_NESTED (suspicious), and their own
 * globals are classified too. docs/lowbit-verify.md has the whole table. */
#include "lb_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_pickle.h"
#include "lb_zip.h"

#define FILE_MAX   ((uint64_t)1 << 30)   /* bytes of a bare pickle / npy / 7z read into memory */
#define ENTRY_MAX  ((uint64_t)1 << 30)   /* bytes of one archive entry read for scanning */
#define MAX_NEST   4                     /* containers in containers, pickles in pickles */
#define MIN_B64    24                    /* shortest base64 run worth decoding */
#define MAX_TRY_OPS 20000000            /* opcodes spent looking for nested pickles, per pickle */
#define LEGACY_PREFIX ((uint64_t)64 << 20)  /* legacy torch files: pickles first, storages after */

/* ---- where bytes come from ---------------------------------------------------------- */

/* A buffer being scanned and how its offsets map to the file. */
typedef struct where {
    const char *entry;   /* archive entry path ("" for the file itself) */
    uint64_t    base;    /* file offset of the buffer's first byte (exact), or of the entry */
    int         exact;   /* buffer offsets map to file offsets (stored entry / the file) */
} where;

static uint64_t file_off(const where *w, uint64_t off) { return w->exact ? w->base + off : w->base; }

/* " (in entry 'x', byte N of it)" or "" */
static const char *in_entry(char *buf, size_t cap, const where *w, uint64_t off)
{
    buf[0] = 0;
    if (w->entry[0] == '(') snprintf(buf, cap, " (byte %llu of the decoded text)", (unsigned long long)off);
    else if (w->entry[0] && w->exact) snprintf(buf, cap, " (in entry '%.200s')", w->entry);
    else if (w->entry[0]) snprintf(buf, cap, " (in entry '%.200s', byte %llu of it)", w->entry, (unsigned long long)off);
    return buf;
}

static void scan_blob(lb_scan_file *r, const uint8_t *d, size_t n, const where *w, int depth, int top);

/* ---- pickles ------------------------------------------------------------------------ */

static const uint8_t legacy_magic[] = { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20,
                                        0x6a, 0xa8, 0x50, 0x19 };

static int is_ident(const char *s)
{
    if (!s || !*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static int first_op_plausible(uint8_t c)
{
    return (c == 0x80 || strchr("(cSVIJKLMNFGlTdt}])qhpgUXBC.i", c)) && c;
}

static void report_globals(lb_scan_file *r, const lb_pickle *p, const where *w, const char *via)
{
    char e[300];
    for (size_t i = 0; i < p->n_globals; i++) {
        const lb_pk_global *g = &p->globals[i];
        const char *why;
        int sev = lb_scan_classify(g->module, g->name, &why);
        char item[300];
        snprintf(item, sizeof item, "%.140s.%.140s", g->module, g->name);
        uint64_t off = w->exact ? g->off - w->base : g->off;   /* offset within the buffer */
        lb_scan_addi(r, "PICKLE_GLOBAL", sev, "global", item, file_off(w, off), "%s imports %s: %s%s",
                     via, item, why, in_entry(e, sizeof e, w, off));
    }
}

static void scan_nested(lb_scan_file *r, const uint8_t *d, size_t lo, size_t hi, const where *w, int depth);

/* Run one pickle at pos; NULL on out of memory. opts.base makes offsets file offsets. */
static lb_pickle *run(const uint8_t *d, size_t n, size_t pos, const where *w, uint64_t max_ops, int *rc,
                      lb_err *err)
{
    lb_pickle_opts o;
    lb_pickle_opts_default(&o);
    o.max_ops = max_ops;
    o.base = w->exact ? w->base : 0;
    lb_pickle *p = NULL;
    lb_err_clear(err);
    *rc = lb_pickle_scan(&p, d, n, pos, &o, err);
    return p;
}

/* Every pickle stream in d[0..n), one after the other. Returns 1 if d held a pickle. */
static int scan_pickle_buf(lb_scan_file *r, const uint8_t *d, size_t n, const where *w, int depth,
                           const char *via)
{
    int legacy = n >= sizeof legacy_magic && !memcmp(d, legacy_magic, sizeof legacy_magic);
    size_t pos = 0;
    char e[300];
    for (int k = 0; pos < n; k++) {
        lb_err err;
        int rc;
        lb_pickle *p = run(d, n, pos, w, 50000000, &rc, &err);
        if (!p) {
            lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, file_off(w, pos), "cannot scan the pickle: %s", err.msg);
            return k > 0;
        }
        if (k == 0 && rc && !(d[0] == 0x80 && n > 1 && d[1] >= 1 && d[1] <= 5)) {
            /* without the 0x80 header a stream that breaks counts as a pickle only if it named
             * proper globals, one of them dangerous (text files can start like a pickle) */
            int ok = p->n_globals > 0, bad = 0;
            for (size_t i = 0; i < p->n_globals && ok; i++) {
                const char *why;
                ok = is_ident(p->globals[i].module) && is_ident(p->globals[i].name);
                if (lb_scan_classify(p->globals[i].module, p->globals[i].name, &why) == LB_SEV_MALICIOUS) bad = 1;
            }
            ok = ok && bad;
            if (!ok) { lb_pickle_free(p); return 0; }
        }
        if (k > 0 && rc && p->n_globals == 0 && !(d[pos] == 0x80 && pos + 1 < n && d[pos + 1] <= 5)) {
            lb_scan_add(r, "TRAILING_DATA", LB_SEV_WARNING, file_off(w, pos),
                        "%llu bytes after the last pickle's STOP are not a pickle%s",
                        (unsigned long long)(n - pos), in_entry(e, sizeof e, w, pos));
            lb_pickle_free(p);
            break;
        }
        report_globals(r, p, w, via);
        uint64_t end = p->end - (w->exact ? w->base : 0);
        if (rc) {
            lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, file_off(w, end), "pickle stops parsing: %s%s", err.msg,
                        in_entry(e, sizeof e, w, end));
            lb_pickle_free(p);
            break;
        }
        scan_nested(r, d, pos + 1, (size_t)end, w, depth);
        lb_pickle_free(p);
        pos = (size_t)end;
        if (legacy && k == 4) break;          /* then raw storage bytes */
        while (pos < n && (d[pos] == '\n' || d[pos] == '\r' || d[pos] == ' ')) pos++;
    }
    return 1;
}

/* Base64 text (standard or URL alphabet) decoded into out; returns the decoded length. */
static size_t b64_decode(const uint8_t *s, size_t n, uint8_t *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int v;
        uint8_t c = s[i];
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else break;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; out[k++] = (uint8_t)(acc >> bits); }
    }
    return k;
}

static int b64_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
           c == '-' || c == '_';
}

/* A complete pickle at d[pos] (protocol 2+ header, parses to STOP): its length, else 0.
 * *ops is charged with the opcodes the try ran. */
static size_t pickle_at(const uint8_t *d, size_t n, size_t pos, uint64_t *ops)
{
    if (pos + 3 > n || d[pos] != 0x80 || d[pos + 1] < 2 || d[pos + 1] > 5) return 0;
    where w0 = { "", 0, 1 };
    lb_err err;
    int rc;
    lb_pickle *p = run(d, n, pos, &w0, 1000000, &rc, &err);
    size_t len = p && !rc && p->n_ops >= 3 ? (size_t)(p->end - pos) : 0;
    *ops += p ? p->n_ops : 0;
    lb_pickle_free(p);
    return len;
}

/* Pickles inside d[lo, hi): raw (bytes values) and base64 text. */
static void scan_nested(lb_scan_file *r, const uint8_t *d, size_t lo, size_t hi, const where *w, int depth)
{
    if (depth >= MAX_NEST) return;
    char e[300];
    uint64_t ops = 0;     /* each try runs the machine: bound the work on hostile input */
    for (size_t i = lo; i + 3 <= hi; i++) {
        size_t len = ops < MAX_TRY_OPS && d[i] == 0x80 ? pickle_at(d, hi, i, &ops) : 0;
        if (len) {
            lb_scan_add(r, "PICKLE_NESTED", LB_SEV_SUSPICIOUS, file_off(w, i),
                        "a pickle of %zu bytes is hidden inside this pickle's data%s", len, in_entry(e, sizeof e, w, i));
            where wi = *w;
            scan_pickle_buf(r, d + i, len, &(where){ wi.entry, wi.exact ? wi.base + i : wi.base, wi.exact },
                            depth + 1, "a nested pickle");
            i += len - 1;
            continue;
        }
        if (!b64_char(d[i]) || (i > lo && b64_char(d[i - 1]))) continue;
        size_t j = i;
        while (j < hi && b64_char(d[j])) j++;
        if (j - i < MIN_B64) { i = j - 1; continue; }
        uint8_t *buf = malloc((j - i) * 3 / 4 + 4);
        if (!buf) return;
        /* a string's length byte can look like base64 too: try the first few starts */
        for (size_t s = i; s < i + 4; s++) {
            size_t k = b64_decode(d + s, j - s, buf);
            size_t plen = ops < MAX_TRY_OPS ? pickle_at(buf, k, 0, &ops) : 0;
            if (!plen) continue;
            lb_scan_add(r, "PICKLE_NESTED", LB_SEV_SUSPICIOUS, file_off(w, s),
                        "base64 text of %zu characters decodes to a pickle%s", j - s, in_entry(e, sizeof e, w, s));
            where wb = { w->entry[0] ? w->entry : "(base64 text)", file_off(w, s), 0 };
            scan_pickle_buf(r, buf, plen, &wb, depth + 1, "a base64-encoded pickle");
            break;
        }
        free(buf);
        i = j - 1;
    }
}

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
static void scan_npy(lb_scan_file *r, const uint8_t *d, size_t n, uint64_t fsize, const where *w, int depth, int top)
{
    char e[300];
    if (top) r->format = "npy";
    if (n < 10) {
        lb_scan_add(r, "TRUNCATED", LB_SEV_ERROR, file_off(w, 0), "npy header cut off%s", in_entry(e, sizeof e, w, 0));
        return;
    }
    uint64_t hl = d[6] == 1 ? lb_ld16(d + 8) : n >= 12 ? lb_ld32(d + 8) : 0;
    uint64_t hs = d[6] == 1 ? 10 : 12;
    if (hs + hl > n) {
        lb_scan_add(r, hs + hl > fsize ? "TRUNCATED" : "MALFORMED", LB_SEV_ERROR, file_off(w, 8),
                    "npy header of %llu bytes runs past the end%s", (unsigned long long)hl, in_entry(e, sizeof e, w, 8));
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
        scan_pickle_buf(r, d + data, n - data,
                        &(where){ w->entry, w->exact ? w->base + data : w->base, w->exact }, depth + 1,
                        "the object array's pickle");
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
    if (need > n)
        lb_scan_add(r, "TRUNCATED", LB_SEV_ERROR, file_off(w, n), "npy data needs %llu bytes, there are %zu%s",
                    (unsigned long long)need, n, in_entry(e, sizeof e, w, n));
    else if (need < n)
        lb_scan_add(r, "TRAILING_DATA", LB_SEV_WARNING, file_off(w, need), "%llu bytes after the npy array data%s",
                    (unsigned long long)(n - need), in_entry(e, sizeof e, w, need));
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

static void scan_zip(lb_scan_file *r, lb_zip *z, const where *w, int depth, int top)
{
    size_t cnt = lb_zip_count(z), npy = 0;
    char prefix[512] = "", e[300];
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
        where we = { en->name, w->exact ? w->base + en->data_offset : w->base, w->exact && en->method == 0 };
        if (en->name_mismatch)
            lb_scan_addi(r, "ZIP_NAME_MISMATCH", LB_SEV_WARNING, "entry", en->name, file_off(w, en->local_offset),
                         "the local header names it differently from the central directory (PyTorch "
                         "reads it under the central name, Python's zipfile refuses)");
        if (torch && torch_storage(en->name, prefix)) continue;
        if (en->usize > ENTRY_MAX) {
            lb_scan_addi(r, "ENTRY_NOT_SCANNED", LB_SEV_WARNING, "entry", en->name, file_off(w, en->local_offset),
                         "%llu bytes, over the %llu-byte scan limit", (unsigned long long)en->usize,
                         (unsigned long long)ENTRY_MAX);
            continue;
        }
        uint8_t *data = NULL;
        size_t len = 0;
        lb_err err;
        lb_err_clear(&err);
        /* ZipCrypto puts a 12-byte header before stored data: sizes differ when it is real */
        int sealed = en->encrypted && en->method == 0 && en->csize != en->usize;
        if (sealed || lb_zip_read(z, en, ENTRY_MAX, &data, &len, &err)) {
            if (en->encrypted)
                lb_scan_addi(r, "ZIP_ENCRYPTED", LB_SEV_INFO, "entry", en->name, file_off(w, en->local_offset),
                             "encrypted (a password is needed; not scanned)");
            else
                lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "entry", en->name, file_off(w, en->local_offset),
                             "cannot read: %s", err.msg);
            continue;
        }
        if (en->encrypted)
            lb_scan_addi(r, "ZIP_ENCRYPTED_FLAG", LB_SEV_WARNING, "entry", en->name, file_off(w, en->local_offset),
                         "flagged encrypted but stored as plaintext (PyTorch reads it, Python's zipfile refuses)");
        if (len >= 6 && !memcmp(data, "\x93NUMPY", 6)) npy++;
        scan_blob(r, data, len, &we, depth + 1, 0);
        free(data);
    }
    (void)e;
    if (top) r->format = torch ? "pytorch-zip" : cnt && npy == cnt ? "npz" : "zip";
}

static void scan_zip_mem(lb_scan_file *r, const uint8_t *d, size_t n, const where *w, int depth, int top)
{
    lb_zip *z;
    lb_err err;
    lb_err_clear(&err);
    char e[300];
    if (top) r->format = "zip";
    if (lb_zip_open_mem(&z, d, n, LB_ZIP_ALLOW_ENCRYPTED_FLAG | LB_ZIP_ALLOW_NAME_MISMATCH, &err)) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, file_off(w, err.offset == LB_NO_OFFSET ? 0 : err.offset),
                    "zip: %s%s", err.msg, in_entry(e, sizeof e, w, 0));
        return;
    }
    scan_zip(r, z, w, depth, top);
    lb_zip_close(z);
}

/* ---- 7z (libarchive) -------------------------------------------------------------------- */

static void scan_7z(lb_scan_file *r, const uint8_t *d, size_t n, const where *w, int depth, int top)
{
    if (top) r->format = "7z";
    struct archive *a = archive_read_new();
    if (!a) return;
    archive_read_support_format_7zip(a);
    archive_read_support_filter_all(a);
    if (archive_read_open_memory(a, d, n) != ARCHIVE_OK) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, file_off(w, 0), "7z: %s", archive_error_string(a));
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
        if (sz < 0 || (uint64_t)sz > ENTRY_MAX) {
            lb_scan_addi(r, "ENTRY_NOT_SCANNED", LB_SEV_WARNING, "entry", nm, file_off(w, 0),
                         "size unknown or over the scan limit");
            continue;
        }
        uint8_t *buf = malloc((size_t)sz + 1);
        la_ssize_t got = buf ? archive_read_data(a, buf, (size_t)sz) : -1;
        if (got < 0 || got != (la_ssize_t)sz) {
            if (archive_entry_is_encrypted(ae))
                lb_scan_addi(r, "ZIP_ENCRYPTED", LB_SEV_INFO, "entry", nm, file_off(w, 0), "encrypted; not scanned");
            else
                lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "entry", nm, file_off(w, 0), "7z: cannot read: %s",
                             archive_error_string(a));
            free(buf);
            continue;
        }
        where we = { nm, file_off(w, 0), 0 };
        scan_blob(r, buf, (size_t)sz, &we, depth + 1, 0);
        free(buf);
    }
    if (rc != ARCHIVE_EOF)
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, file_off(w, 0), "7z: %s", archive_error_string(a));
    archive_read_free(a);
}

/* ---- dispatch --------------------------------------------------------------------------- */

static int is_zip(const uint8_t *d, size_t n) { return n >= 4 && (!memcmp(d, "PK\3\4", 4) || !memcmp(d, "PK\5\6", 4)); }
static int is_7z(const uint8_t *d, size_t n) { return n >= 6 && !memcmp(d, "7z\xbc\xaf\x27\x1c", 6); }
static int is_npy(const uint8_t *d, size_t n) { return n >= 6 && !memcmp(d, "\x93NUMPY", 6); }

/* Anything inside a container (or a whole file read into memory): by content. */
static void scan_blob(lb_scan_file *r, const uint8_t *d, size_t n, const where *w, int depth, int top)
{
    if (depth > MAX_NEST) {
        lb_scan_add(r, "ENTRY_NOT_SCANNED", LB_SEV_WARNING, file_off(w, 0), "containers nested more than %d deep",
                    MAX_NEST);
        return;
    }
    if (is_zip(d, n)) { scan_zip_mem(r, d, n, w, depth, top); return; }
    if (is_7z(d, n)) { scan_7z(r, d, n, w, depth, top); return; }
    if (is_npy(d, n)) { scan_npy(r, d, n, n, w, depth, top); return; }
    if (n && first_op_plausible(d[0])) {
        int legacy = n >= sizeof legacy_magic && !memcmp(d, legacy_magic, sizeof legacy_magic);
        if (scan_pickle_buf(r, d, n, w, depth, legacy ? "the legacy torch file" : "the pickle") && top)
            r->format = legacy ? "pytorch-legacy" : "pickle";
    }
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
    if (k < size && max == FILE_MAX)
        lb_scan_add(r, "ENTRY_NOT_SCANNED", LB_SEV_WARNING, k, "only the first %llu bytes were scanned",
                    (unsigned long long)k);
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

int lb_scan_pickles(lb_scan_file *r, lb_src *src, const uint8_t *head, size_t n)
{
    where w = { "", 0, 1 };
    if (is_zip(head, n)) {
        lb_zip *z;
        lb_err err;
        lb_err_clear(&err);
        src_ctx c = { src };
        r->format = "zip";
        if (lb_zip_open(&z, src_read, &c, lb_src_size(src), LB_ZIP_ALLOW_ENCRYPTED_FLAG | LB_ZIP_ALLOW_NAME_MISMATCH,
                        &err)) {
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
        if (lb_src_size(src) > FILE_MAX) {   /* a big plain array: the header is enough */
            scan_npy(r, head, n, lb_src_size(src), &w, 0, 1);
            return 1;
        }
        if (read_all(r, src, FILE_MAX, &d, &k)) return 1;
        scan_npy(r, d, k, lb_src_size(src), &w, 0, 1);
        free(d);
        return 1;
    }
    if (!is_7z(head, n) && !(n && first_op_plausible(head[0]))) return 0;
    if (!is_7z(head, n) && head[0] != 0x80 && lb_src_size(src) > ((uint64_t)64 << 20)) return 0;
    uint8_t *d;
    size_t k;
    size_t before = r->n;
    /* a big legacy torch file: its pickles come first, the storages after; try a prefix */
    if (n >= sizeof legacy_magic && !memcmp(head, legacy_magic, sizeof legacy_magic) &&
        lb_src_size(src) > LEGACY_PREFIX && !read_all(r, src, LEGACY_PREFIX, &d, &k)) {
        scan_blob(r, d, k, &w, 0, 1);
        free(d);
        if (!lb_scan_has(r, "MALFORMED")) return 1;
        drop_since(r, before);   /* the pickles run past the prefix: read it all */
    }
    if (read_all(r, src, FILE_MAX, &d, &k)) return 1;
    const char *fmt = r->format;
    r->format = NULL;
    scan_blob(r, d, k, &w, 0, 1);
    free(d);
    if (!r->format) {            /* not a pickle after all: drop what the attempt said */
        drop_since(r, before);
        r->format = fmt;
        return 0;
    }
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
    LB_TRY(lb_zip_read(z, pk, ENTRY_MAX, &d, &n, err));
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
