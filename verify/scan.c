/* scan.c: findings, content detection and the folder walk behind `lowbit-verify scan`
 * (lb_scan.h). The format lint passes live in scan_gguf.c, scan_safetensors.c,
 * scan_pickle.c; the value checks of --deep in scan_deep.c. */
#include "lb_scan.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "lb_le.h"
#include "lb_model.h"
#include "lb_safetensors.h"

#define HEAD_BYTES 4096
#define INDEX_MAX (64u << 20)   /* largest index JSON read */

/* ---- findings --------------------------------------------------------------------- */

const char *lb_sev_name(int sev)
{
    static const char *names[LB_SEV_COUNT] = { "info", "warning", "error", "unscannable", "suspicious", "malicious" };
    return sev >= 0 && sev < LB_SEV_COUNT ? names[sev] : "unknown";
}

const char *lb_scan_verdict(const lb_scan_file *r)
{
    return r->worst >= LB_SEV_WARNING ? lb_sev_name(r->worst) : "clean";
}

/* Length of a valid UTF-8 sequence at p (no overlongs, no surrogates), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned c = p[0];
    size_t k;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { k = 2; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { k = 3; cp = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { k = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (left < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : k;
}

/* A copy safe for a terminal line and for JSON: control bytes and invalid UTF-8 as \xNN. */
static char *clean_text(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(4 * n + 1);
    if (!o) return NULL;
    size_t j = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = p[i] < 0x20 || p[i] == 0x7f ? 0 : utf8_len(p + i, n - i);
        if (!k) { j += (size_t)sprintf(o + j, "\\x%02x", p[i]); i++; continue; }
        memcpy(o + j, p + i, k);
        j += k;
        i += k;
    }
    o[j] = 0;
    return o;
}

static void vadd(lb_scan_file *r, const char *id, int sev, const char *item, uint64_t offset,
                 const char *fmt, va_list ap)
{
    if (sev > r->worst) r->worst = sev;
    if (r->n >= LB_SCAN_MAX_FINDINGS) { r->dropped++; return; }
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        lb_finding *p = realloc(r->f, nc * sizeof *p);
        if (!p) { r->dropped++; return; }
        r->f = p;
        r->cap = nc;
    }
    char msg[600];
    vsnprintf(msg, sizeof msg, fmt, ap);
    lb_finding *f = &r->f[r->n];
    f->id = id;
    f->sev = sev;
    f->offset = offset;
    f->item = clean_text(item ? item : "");
    f->msg = clean_text(msg);
    if (!f->item || !f->msg) { free(f->item); free(f->msg); r->dropped++; return; }
    r->n++;
}

void lb_scan_add(lb_scan_file *r, const char *id, int sev, uint64_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd(r, id, sev, NULL, offset, fmt, ap);
    va_end(ap);
}

void lb_scan_addi(lb_scan_file *r, const char *id, int sev, const char *kind, const char *name,
                  uint64_t offset, const char *fmt, ...)
{
    char item[200];
    snprintf(item, sizeof item, "%s '%.160s'", kind, name ? name : "");
    va_list ap;
    va_start(ap, fmt);
    vadd(r, id, sev, item, offset, fmt, ap);
    va_end(ap);
}

int lb_scan_has(const lb_scan_file *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->f[i].id, id)) return 1;
    return 0;
}

int lb_scan_has_sev(const lb_scan_file *r, int sev)
{
    return r->worst >= sev;
}

void lb_scan_file_free(lb_scan_file *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->f[i].item);
        free(r->f[i].msg);
    }
    free(r->f);
    free(r->path);
    memset(r, 0, sizeof *r);
    r->worst = -1;
}

/* ---- detection ----------------------------------------------------------------------- */

static int starts(const uint8_t *h, size_t n, const char *s)
{
    size_t k = strlen(s);
    return n >= k && memcmp(h, s, k) == 0;
}

int lb_scan_is_safetensors(const uint8_t *head, size_t n)
{
    if (n < 9) return 0;
    uint64_t len = lb_ld64(head);
    if (len < 2 || len > LB_ST_MAX_HEADER) return 0;
    for (size_t i = 8; i < n && i < 8 + len; i++) {
        if (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r') continue;
        return head[i] == '{';
    }
    return 0;
}

/* A git-LFS pointer: "version ...\noid sha256:HEX\nsize N\n". */
static void lfs_pointer(lb_scan_file *r, const uint8_t *h, size_t n)
{
    char oid[80] = "", size[32] = "";
    const char *t = (const char *)h;
    for (size_t i = 0; i < n; i++) {
        if (i && t[i - 1] != '\n') continue;
        if (n - i > 11 && !memcmp(t + i, "oid sha256:", 11))
            sscanf(t + i + 11, "%64[0-9a-f]", oid);
        if (n - i > 5 && !memcmp(t + i, "size ", 5))
            sscanf(t + i + 5, "%20[0-9]", size);
    }
    r->format = "git-lfs-pointer";
    lb_scan_add(r, "LFS_POINTER", LB_SEV_ERROR, 0,
                "git-lfs pointer file, not the weights (the real file: sha256 %s, %s bytes; "
                "fetch it with 'git lfs pull')", oid[0] ? oid : "?", size[0] ? size : "?");
}

/* A JSON text whose root object holds "weight_map": an HF sharded-set index. */
static int is_index(const uint8_t *h, size_t n)
{
    size_t i = 0;
    while (i < n && (h[i] == ' ' || h[i] == '\n' || h[i] == '\r' || h[i] == '\t')) i++;
    if (i >= n || h[i] != '{') return 0;
    for (size_t k = i; k + 12 <= n; k++)
        if (!memcmp(h + k, "\"weight_map\"", 12)) return 1;
    return 0;
}

static void scan_index(lb_scan_file *r, const char *path, lb_src *src)
{
    uint64_t size = lb_src_size(src);
    r->format = "safetensors-index";
    if (size > INDEX_MAX) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, LB_NO_OFFSET,
                    "index of %llu bytes is larger than the %u-byte limit", (unsigned long long)size, INDEX_MAX);
        return;
    }
    char *txt = malloc((size_t)size + 1);
    lb_err err;
    lb_err_clear(&err);
    if (!txt || lb_src_read(src, 0, txt, (size_t)size, &err)) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, LB_NO_OFFSET, "cannot read the index: %s",
                    txt ? err.msg : "out of memory");
        free(txt);
        return;
    }
    txt[size] = 0;
    lb_scan_st_index(r, path, txt, (size_t)size);
    free(txt);
}

/* 1 if the file name promises weights. Detection never uses it; it only decides whether
 * text or an empty file where weights should be is an error or just a README. */
static int weights_name(const char *path)
{
    static const char *const ext[] = { ".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".npy",
                                       ".npz", ".pkl", ".pickle", ".h5", ".onnx", ".msgpack", ".tflite",
                                       ".llamafile", NULL };
    size_t n = strlen(path);
    for (const char *const *e = ext; *e; e++) {
        size_t k = strlen(*e);
        if (n > k && !strcasecmp(path + n - k, *e)) return 1;
    }
    return 0;
}

static void not_a_model(lb_scan_file *r, const char *what, const char *format)
{
    r->format = format;
    int textual = !strcmp(format, "text") || !strcmp(format, "empty");
    if (textual && weights_name(r->path))
        lb_scan_add(r, "WEIGHTS_MISSING", LB_SEV_ERROR, 0,
                    "%s where the file name promises weights (a failed download or an error message?)", what);
    else
        lb_scan_add(r, "NOT_A_MODEL", LB_SEV_INFO, LB_NO_OFFSET, "%s", what);
}

/* Other formats the strict readers know (llama2c, npy, npz, ...): they have no lint pass of
 * their own, so the strict reader's verdict is the finding. */
static int scan_registered(lb_scan_file *r, const char *path, const uint8_t *head, size_t n, uint64_t size,
                           const lb_scan_opts *o)
{
    const lb_format *best = NULL;
    int best_bid = 0;
    for (const lb_format *const *f = lb_formats; *f; f++) {
        if (!strcmp((*f)->name, "gguf") || !strcmp((*f)->name, "safetensors")) continue;
        int b = (*f)->bid(head, n, size);
        if (b > best_bid) { best_bid = b; best = *f; }
    }
    if (!best) return 0;
    lb_model *m;
    lb_err err;
    lb_err_clear(&err);
    r->format = best->name;
    if (lb_model_open(&m, path, &err)) {
        lb_scan_add(r, strstr(err.msg, "truncated") ? "TRUNCATED" : "MALFORMED", LB_SEV_ERROR, err.offset, "%s%s%s",
                    err.item, err.item[0] ? ": " : "", err.msg);
        return 1;
    }
    r->format = m->format;
    lb_model_close(m);
    if (o->deep) lb_scan_deep(r, path);
    return 1;
}

/* Dispatch on content, strongest magic first. */
static void scan_src(lb_scan_file *r, const char *path, lb_src *src, const lb_scan_opts *o)
{
    uint8_t head[HEAD_BYTES];
    size_t n = 0;
    lb_err err;
    lb_err_clear(&err);
    uint64_t size = lb_src_size(src);
    if (lb_src_read_some(src, 0, head, sizeof head, &n, &err)) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, LB_NO_OFFSET, "cannot read: %s", err.msg);
        return;
    }
    if (size == 0) { not_a_model(r, "empty file", "empty"); return; }
    if (starts(head, n, "GGUF") || starts(head, n, "FUGG")) {
        r->format = "gguf";
        lb_scan_gguf(r, src);
        if (o->deep) lb_scan_deep(r, path);
        return;
    }
    if (starts(head, n, "version https://git-lfs.github.com/spec/")) { lfs_pointer(r, head, n); return; }
    if (lb_scan_is_safetensors(head, n)) {
        r->format = "safetensors";
        lb_scan_safetensors(r, src, head, n);
        if (o->deep) lb_scan_deep(r, path);
        return;
    }
    const char *what = lb_sniff_nonmodel(head, n, size);
    if (what && !strncmp(what, "HTML page", 9)) {
        r->format = "html";
        lb_scan_add(r, "HTML_PAGE", LB_SEV_ERROR, 0, "%s", what);
        return;
    }
    if (is_index(head, n)) { scan_index(r, path, src); return; }
    if (lb_scan_pickles(r, src, head, n)) {
        if (o->deep && !strcmp(r->format, "pytorch-zip")) lb_scan_deep_torch(r, src);
        else if (o->deep && (!strcmp(r->format, "npy") || !strcmp(r->format, "npz") ||
                             !strcmp(r->format, "pytorch-legacy")))
            lb_scan_deep(r, path);   /* says DEEP_SKIPPED where no strict reader takes the file */
        return;
    }
    if (scan_registered(r, path, head, n, size, o)) return;
    if (what) {
        const char *fmt = "other";
        if (!strncmp(what, "text", 4)) fmt = "text";
        else if (!strncmp(what, "PNG", 3) || !strncmp(what, "JPEG", 4)) fmt = "image";
        else if (!strncmp(what, "gzip", 4)) fmt = "gzip";
        else if (!strncmp(what, "zip", 3)) fmt = "zip";
        not_a_model(r, what, fmt);
        return;
    }
    not_a_model(r, "unrecognized content (not GGUF, safetensors, a pickle, or another format lowbit reads)",
                "unknown");
}

int lb_scan_src(const char *path, lb_src *src, const lb_scan_opts *o, lb_scan_file *r, lb_err *err)
{
    static const lb_scan_opts none = { 0 };
    memset(r, 0, sizeof *r);
    r->worst = -1;
    r->format = "unknown";
    r->work = LB_SCAN_WORK;
    if (!(r->path = strdup(path))) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    scan_src(r, path, src, o ? o : &none);
    return LB_OK;
}

int lb_scan_file_path(const char *path, const lb_scan_opts *o, lb_scan_file *r, lb_err *err)
{
    lb_src *src;
    memset(r, 0, sizeof *r);
    r->worst = -1;
    r->format = "unknown";
    LB_TRY(lb_src_open(&src, path, err));
    int rc = lb_scan_src(path, src, o, r, err);
    lb_src_close(src);
    return rc;
}

/* ---- walking ------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int scan_one(const char *path, const lb_scan_opts *o, lb_scan_cb cb, void *ctx, int depth);

static int scan_dir(const char *dir, const lb_scan_opts *o, lb_scan_cb cb, void *ctx, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        lb_err e;
        lb_err_set(&e, LB_EIO, LB_NO_OFFSET, "cannot open folder: %s", strerror(errno));
        cb(dir, NULL, &e, ctx);
        return LB_EIO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = LB_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **p = realloc(names, nc * sizeof *p);
            if (!p) { rc = LB_EIO; break; }
            names = p;
            cap = nc;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len))) { rc = LB_EIO; break; }
        snprintf(names[n++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        int r2 = scan_one(names[i], o, cb, ctx, depth + 1);
        if (r2) rc = r2;
        free(names[i]);
    }
    free(names);
    return rc;
}

static int scan_one(const char *path, const lb_scan_opts *o, lb_scan_cb cb, void *ctx, int depth)
{
    struct stat st;
    lb_err e;
    lb_err_clear(&e);
    if (stat(path, &st) != 0) {
        lb_err_set(&e, LB_EIO, LB_NO_OFFSET, "cannot open: %s", strerror(errno));
        cb(path, NULL, &e, ctx);
        return LB_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        /* symlinks to files are followed (the Hugging Face cache is made of them), symlinks
         * to folders inside a walk are not: no loops, no scanning a tree twice */
        struct stat ls;
        if (depth > 32 || (depth > 0 && lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode))) return LB_OK;
        return scan_dir(path, o, cb, ctx, depth);
    }
    if (!S_ISREG(st.st_mode)) return LB_OK;   /* sockets, fifos: nothing to scan */
    lb_scan_file r;
    int rc = lb_scan_file_path(path, o, &r, &e);
    cb(path, rc ? NULL : &r, rc ? &e : NULL, ctx);
    lb_scan_file_free(&r);
    return rc;
}

int lb_scan_paths(char *const *paths, int n, const lb_scan_opts *o, lb_scan_cb cb, void *ctx)
{
    int rc = LB_OK;
    for (int i = 0; i < n; i++) {
        int r = scan_one(paths[i], o, cb, ctx, 0);
        if (r) rc = r;
    }
    return rc;
}
