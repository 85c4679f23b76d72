/* scan_pickle.c: pickle streams, and what hides in their data, scanned without executing
 * anything.
 *
 * Each stream runs through the restricted machine of formats/pickle.c in scan mode, which
 * records every global (GLOBAL, STACK_GLOBAL, INST) with its opcode offset and every string
 * and bytes value, and reads on as far as Python's unpickler would (past a FRAME that
 * declares more bytes than there are, up to the byte where the stream breaks). Every global
 * becomes a PICKLE_GLOBAL finding classified by scan_danger.c; a stream that breaks after
 * naming a dangerous global is MALICIOUS and MALFORMED, the worst deciding the verdict.
 *
 * Hidden payloads: the bytes of a pickle are swept for complete pickles (protocol 2+ header
 * that parses to STOP), and every recorded string or bytes value is peeled layer by layer
 * (lbs_payload): a pickle, zip, 7z or npy file at its start; zlib, gzip, bzip2, xz, lzma or
 * zstd streams; hex and base64 runs (standard or URL-safe, line breaks allowed); latin-1
 * text (how Python 3 pickles bytes for protocols 0-2). What decodes to a pickle or an
 * archive is PICKLE_NESTED (suspicious) and scanned in turn. Layers are bounded by
 * LBS_MAX_NEST and the work by the file's budget; either limit is SCAN_INCOMPLETE
 * (unscannable), never silence. */
#include "scan_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_pickle.h"

#define MAX_TRY_OPS 20000000     /* opcodes spent sweeping one pickle for hidden ones */
#define TOP_OPS     50000000     /* opcodes of one stream */
#define MIN_RUN     16           /* shortest hex / base64 run worth decoding (characters) */

const uint8_t lbs_legacy_magic[14] = { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20,
                                        0x6a, 0xa8, 0x50, 0x19 };

int lbs_first_op(uint8_t c)
{
    /* opcodes that are valid on an empty stack: pushes, MARK, memo reads, FRAME, PROTO */
    static const char ops[] = "(cSVIJKLMNFGTUXBCPqhjgp}])";
    return c == 0x80 || (c >= 0x88 && c <= 0x8f) || c == 0x95 || c == 0x96 || (c && strchr(ops, c));
}

static int is_ident(const char *s)
{
    if (!s || !*s) return 0;
    if (!strcmp(s, "?")) return 1;   /* STACK_GLOBAL of values that are not literal strings */
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static int has_header(const uint8_t *d, size_t n) { return n > 2 && d[0] == 0x80 && d[1] >= 1 && d[1] <= 5; }

/* A stream without the 0x80 header counts as a pickle only when it names proper globals
 * (text files can start like protocol 0): all of them identifiers, and either it parses to
 * STOP or one of them is dangerous. need_global 0: a clean parse to STOP is enough. */
static int headerless_ok(const lb_pickle *p, int rc, int need_global)
{
    if (!p->n_globals) return !rc && !need_global;
    int bad = 0;
    for (size_t i = 0; i < p->n_globals; i++) {
        const char *why;
        if (!is_ident(p->globals[i].module) || !is_ident(p->globals[i].name)) return 0;
        if (lb_scan_classify(p->globals[i].module, p->globals[i].name, &why) == LB_SEV_MALICIOUS) bad = 1;
    }
    return !rc || bad;
}

/* Offset inside the buffer of an offset the machine reported (it adds base when exact). */
static uint64_t buf_off(const lbs_where *w, uint64_t off) { return w->exact ? off - w->base : off; }

static void report_globals(lb_scan_file *r, const lb_pickle *p, const lbs_where *w, const char *via)
{
    char e[400];
    for (size_t i = 0; i < p->n_globals; i++) {
        const lb_pk_global *g = &p->globals[i];
        const char *why;
        int sev = lb_scan_classify(g->module, g->name, &why);
        char item[300];
        snprintf(item, sizeof item, "%.140s.%.140s", g->module, g->name);
        uint64_t off = buf_off(w, g->off);
        lb_scan_addi(r, "PICKLE_GLOBAL", sev, "global", item, lbs_file_off(w, off), "%s imports %s: %s%s",
                     via, item, why, lbs_in(e, sizeof e, w, off));
    }
}

/* Run one stream at pos; NULL on out of memory. */
static lb_pickle *run(const uint8_t *d, size_t n, size_t pos, const lbs_where *w, uint64_t max_ops, int *rc,
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

/* A pickle worth reporting inside other data: it imports something, by proper names (random
 * bytes parse to a short pickle now and then, but not to one naming modules). */
static int names_globals(const lb_pickle *p)
{
    if (!p->n_globals) return 0;
    for (size_t i = 0; i < p->n_globals; i++)
        if (p->globals[i].op >= 0x82 && p->globals[i].op <= 0x84) return 0;   /* EXT: a number, not a name */
        else if (!is_ident(p->globals[i].module) || !is_ident(p->globals[i].name)) return 0;
    return 1;
}

/* A complete pickle at d[pos] (protocol 2+ header, parses to STOP, imports something): its
 * length, else 0. *ops is charged with the opcodes the try ran. */
static size_t pickle_at(const uint8_t *d, size_t n, size_t pos, uint64_t *ops)
{
    if (pos + 3 > n || d[pos] != 0x80 || d[pos + 1] < 2 || d[pos + 1] > 5) return 0;
    lbs_where w0 = { "", 0, 1, "" };
    lb_err err;
    int rc;
    lb_pickle *p = run(d, n, pos, &w0, 1000000, &rc, &err);
    size_t len = p && !rc && names_globals(p) ? (size_t)(p->end - pos) : 0;
    *ops += p ? p->n_ops : 0;
    lb_pickle_free(p);
    return len;
}

/* A decoded buffer that is a pickle: parsing to STOP (with the header, or without it and
 * naming proper globals), or breaking after naming a dangerous one. Its length (the rest
 * of the buffer if it breaks, *complete 0), else 0. */
static size_t decoded_pickle(lb_scan_file *r, const uint8_t *d, size_t n, int *complete)
{
    *complete = 0;
    if (!lbs_first_op(d[0])) return 0;
    lbs_where w0 = { "", 0, 1, "" };
    lb_err err;
    int rc;
    uint64_t max = r->work < 1000000 ? r->work + 1 : 1000000;
    lb_pickle *p = run(d, n, 0, &w0, max, &rc, &err);
    size_t len = 0;
    if (p) {
        lbs_charge(r, p->n_ops);
        if (has_header(d, n) && !rc ? p->n_ops >= 3 : headerless_ok(p, rc, 1)) len = rc ? n : (size_t)p->end;
        *complete = !rc;
    }
    lb_pickle_free(p);
    return len;
}

static void nested_pickle(lb_scan_file *r, const uint8_t *d, size_t len, const lbs_where *w, int depth)
{
    char e[400];
    lb_scan_add(r, "PICKLE_NESTED", LB_SEV_SUSPICIOUS, lbs_file_off(w, 0),
                "a pickle of %zu bytes is hidden inside this pickle's data%s", len, lbs_in(e, sizeof e, w, 0));
    lbs_pickle_buf(r, d, len, w, depth + 1, "a nested pickle");
}

/* 1 if one of p's values read in place starts at q (lbs_payload looks at those itself). */
static int payload_starts(const lb_pickle *p, const uint8_t *q, size_t *cur)
{
    for (size_t k = *cur; k < p->n_payloads; k++) {
        if (!p->payloads[k].in_place) continue;
        if (p->payloads[k].p == q) { *cur = k; return 1; }
    }
    return 0;
}

/* Complete pickles inside d[lo, hi) that import something: mid-value, or past a break. */
static void sweep(lb_scan_file *r, const lb_pickle *p, const uint8_t *d, size_t lo, size_t hi, const lbs_where *w,
                  int depth)
{
    uint64_t ops = 0;     /* each try runs the machine: bound the work on hostile input */
    size_t cur = 0;
    for (size_t i = lo; i + 3 <= hi && ops < MAX_TRY_OPS; i++) {
        const uint8_t *q = memchr(d + i, 0x80, hi - i - 2);
        if (!q) break;
        i = (size_t)(q - d);
        if (payload_starts(p, q, &cur)) continue;
        size_t len = pickle_at(d, hi, i, &ops);
        if (!len) continue;
        if (depth >= LBS_MAX_NEST) {
            lbs_incomplete(r, lbs_file_off(w, i), "pickles nested deeper than the layer limit", w);
            return;
        }
        lbs_where wi = *w;
        wi.base = w->exact ? w->base + i : w->base;
        nested_pickle(r, d + i, len, &wi, depth);
        i += len - 1;
    }
    lbs_charge(r, ops);
}

/* The recorded strings and bytes of one stream, each peeled by lbs_payload. */
static void payloads(lb_scan_file *r, const lb_pickle *p, const uint8_t *d, const lbs_where *w, int depth)
{
    for (size_t i = 0; i < p->n_payloads && r->work; i++) {
        const lb_pk_payload *pl = &p->payloads[i];
        lbs_where wp;
        if (pl->in_place) {
            wp = *w;
            if (w->exact) wp.base = w->base + (uint64_t)(pl->p - d);
        } else {
            lbs_decoded(&wp, w, buf_off(w, pl->off), "");
        }
        lbs_payload(r, pl->p, (size_t)pl->n, &wp, depth, 1);
    }
}

int lbs_pickle_buf(lb_scan_file *r, const uint8_t *d, size_t n, const lbs_where *w, int depth, const char *via)
{
    int legacy = n >= sizeof lbs_legacy_magic && !memcmp(d, lbs_legacy_magic, sizeof lbs_legacy_magic);
    size_t pos = 0;
    char e[400];
    for (int k = 0; pos < n; k++) {
        lb_err err;
        int rc;
        lb_pickle *p = run(d, n, pos, w, TOP_OPS, &rc, &err);
        if (!p) {
            lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, lbs_file_off(w, pos), "cannot scan the pickle: %s", err.msg);
            return k > 0;
        }
        if (k == 0 && rc && !has_header(d, n) && !headerless_ok(p, rc, 0)) { lb_pickle_free(p); return 0; }
        if (k > 0 && rc && p->n_globals == 0 && !has_header(d + pos, n - pos)) {
            lb_scan_add(r, "TRAILING_DATA", LB_SEV_WARNING, lbs_file_off(w, pos),
                        "%llu bytes after the last pickle's STOP are not a pickle%s",
                        (unsigned long long)(n - pos), lbs_in(e, sizeof e, w, pos));
            lb_pickle_free(p);
            break;
        }
        report_globals(r, p, w, via);
        uint64_t end = buf_off(w, p->end);
        if (p->frame_overrun != LB_NO_OFFSET) {
            uint64_t fo = buf_off(w, p->frame_overrun);
            lb_scan_add(r, "PICKLE_FRAME_OVERRUN", LB_SEV_ERROR, lbs_file_off(w, fo),
                        "a FRAME declares more bytes than follow; scanned on as Python's unpickler reads%s",
                        lbs_in(e, sizeof e, w, fo));
        }
        payloads(r, p, d, w, depth);
        sweep(r, p, d, pos + 1, rc ? n : (size_t)end, w, depth);
        if (rc) {
            if (strstr(err.msg, "(limit)"))
                lbs_incomplete(r, lbs_file_off(w, end), err.msg, w);
            else
                lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, lbs_file_off(w, end), "pickle stops parsing: %s%s",
                            err.msg, lbs_in(e, sizeof e, w, end));
            if (end < n) {   /* what Python never reached may still be read by other loaders */
                lbs_where wt = *w;
                if (w->exact) wt.base = w->base + end;
                lbs_payload(r, d + end, (size_t)(n - end), &wt, depth, 0);
            }
            lb_pickle_free(p);
            break;
        }
        lb_pickle_free(p);
        pos = (size_t)end;
        if (legacy && k == 4) break;          /* then raw storage bytes */
        while (pos < n && (d[pos] == '\n' || d[pos] == '\r' || d[pos] == ' ')) pos++;
    }
    return 1;
}

/* ---- payloads ------------------------------------------------------------------------ */

/* Something at d that would be another layer (for the depth limit's message). */
static int layered(const uint8_t *d, size_t n)
{
    return has_header(d, n) || lbs_is_container(d, n) || lbs_compression(d, n) != LBS_Z_NONE;
}

/* Text one decoding away from another layer: latin-1, or a hex / base64 run (the depth
 * limit's probe: it decodes, it does not scan). */
static int layered_text(const uint8_t *d, size_t n)
{
    size_t k = 0;
    uint8_t *o = lbs_latin1(d, n, &k);
    int hit = o && layered(o, k);
    free(o);
    for (size_t i = 0; i < n && !hit; i++) {
        if (!lbs_is_b64(d[i])) continue;
        size_t j = i;
        while (j < n && (lbs_is_b64(d[j]) || d[j] == '\n' || d[j] == '\r')) j++;
        if (j - i >= MIN_RUN) {
            if ((o = lbs_hex(d + i, j - i, &k))) { hit = layered(o, k); free(o); }
            if (!hit && (o = lbs_base64(d + i, j - i, &k))) { hit = layered(o, k); free(o); }
        }
        i = j;
    }
    return hit;
}

static int decoded(lb_scan_file *r, uint8_t *out, size_t k, const lbs_where *w, uint64_t off, const char *how,
                   int depth)
{
    if (!out) return 0;
    lbs_where wd;
    lbs_decoded(&wd, w, off, how);
    int f = lbs_payload(r, out, k, &wd, depth + 1, 1);
    free(out);
    return f;
}

/* Hex and base64 runs in text: maximal runs of the base64 alphabet, whitespace between
 * characters allowed, '=' padding at the end. */
static int text_runs(lb_scan_file *r, const uint8_t *d, size_t n, const lbs_where *w, int depth)
{
    int found = 0;
    for (size_t i = 0; i < n && r->work; i++) {
        if (!lbs_is_b64(d[i])) continue;
        size_t j = i, sig = 0, hex = 0;
        for (; j < n; j++) {
            uint8_t c = d[j];
            if (lbs_is_b64(c)) { sig++; hex += lbs_is_hex(c); continue; }
            if ((c == ' ' || c == '\n' || c == '\r' || c == '\t') && j + 1 < n &&
                (lbs_is_b64(d[j + 1]) || d[j + 1] == ' ' || d[j + 1] == '\n' || d[j + 1] == '\r'))
                continue;
            break;
        }
        size_t end = j;
        while (end < n && end < j + 2 && d[end] == '=') end++;
        while (j > i && !lbs_is_b64(d[j - 1])) j--;   /* no trailing whitespace */
        if (sig >= MIN_RUN) {
            size_t k = 0;
            uint8_t *out;
            int f = 0;
            if (hex == sig && sig % 2 == 0 && (out = lbs_hex(d + i, j - i, &k)))
                f = decoded(r, out, k, w, i, "hex", depth);
            if (!f && (out = lbs_base64(d + i, end - i, &k))) f = decoded(r, out, k, w, i, "base64", depth);
            found |= f;
        }
        i = end;
    }
    return found;
}

int lbs_payload(lb_scan_file *r, const uint8_t *d, size_t n, const lbs_where *w, int depth, int raw_pickles)
{
    char e[400];
    if (n < LB_PK_PAYLOAD_MIN || lbs_charge(r, n)) return 0;
    if (depth >= LBS_MAX_NEST) {
        if (!layered(d, n) && !layered_text(d, n)) return 0;
        lbs_incomplete(r, lbs_file_off(w, 0), "layers (pickles, archives, encodings) nested deeper than the limit", w);
        return 1;
    }
    if (lbs_first_op(d[0])) {
        int complete;
        size_t len = decoded_pickle(r, d, n, &complete);
        if (len && raw_pickles) { nested_pickle(r, d, len, w, depth); return 1; }
        if (len || has_header(d, n)) return len > 0;   /* !raw_pickles: the sweep saw it */
    }
    if (lbs_is_container(d, n)) {
        lb_scan_add(r, "PICKLE_NESTED", LB_SEV_SUSPICIOUS, lbs_file_off(w, 0),
                    "an archive of %zu bytes is hidden inside this pickle's data%s", n, lbs_in(e, sizeof e, w, 0));
        lbs_blob(r, d, n, w, depth + 1, 0);
        return 1;
    }
    int kind = lbs_compression(d, n);
    if (kind != LBS_Z_NONE) {
        int st;
        size_t k = 0;
        uint64_t max = r->work < LBS_ENTRY_MAX ? r->work : LBS_ENTRY_MAX;
        uint8_t *out = lbs_decompress(kind, d, n, max, &k, &st);
        int f = decoded(r, out, k, w, 0, lbs_compression_name(kind), depth);
        if (f && st == 2) lbs_incomplete(r, lbs_file_off(w, 0), "decompressed data over the scan limit", w);
        if (out || kind != LBS_Z_ZLIB) return f;   /* a zlib header can be the start of text */
    }
    size_t k = 0;
    uint8_t *l1 = lbs_latin1(d, n, &k);
    if (l1) return decoded(r, l1, k, w, 0, "latin-1", depth);
    return text_runs(r, d, n, w, depth);
}
