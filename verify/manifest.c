/* manifest.c: build and check manifests, sha256sum lists (lb_manifest.h). */
#include "lb_manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lb_dtype.h"
#include "lb_json.h"

/* ---- small helpers ------------------------------------------------------------ */

int lb_read_small_file(const char *path, size_t max, char **out, size_t *n, lb_err *err)
{
    lb_src *s;
    *out = NULL;
    LB_TRY(lb_src_open(&s, path, err));
    uint64_t size = lb_src_size(s);
    if (size > max) {
        lb_src_close(s);
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "file of %llu bytes is larger than the %zu-byte limit",
                          (unsigned long long)size, max);
    }
    char *buf = malloc((size_t)size + 1);
    int rc = buf ? lb_src_read(s, 0, buf, (size_t)size, err) : lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    lb_src_close(s);
    if (rc) { free(buf); return rc; }
    buf[size] = 0;
    *out = buf;
    if (n) *n = (size_t)size;
    return LB_OK;
}

typedef struct strlist { char **v; size_t n, cap; } strlist;

static int sl_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 32;
        char **v = realloc(l->v, c * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = c;
    }
    if (!(l->v[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

static void sl_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every regular file below dir (hidden entries skipped), sorted. */
static int walk(const char *dir, strlist *out, int depth, lb_err *err)
{
    if (depth > 32) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "'%s': folders nested too deep", dir);
    DIR *d = opendir(dir);
    if (!d) return lb_err_item(err, LB_EIO, "folder", dir, LB_NO_OFFSET, "cannot open: %s", strerror(errno));
    strlist names = { 0 };
    struct dirent *e;
    int rc = LB_OK;
    while (!rc && (e = readdir(d)))
        if (e->d_name[0] != '.' && sl_add(&names, e->d_name)) rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    closedir(d);
    qsort(names.v, names.n, sizeof *names.v, cmp_str);
    for (size_t i = 0; !rc && i < names.n; i++) {
        char *p;
        struct stat st;
        if (asprintf(&p, "%s/%s", dir, names.v[i]) < 0) { rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); break; }
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rc = walk(p, out, depth + 1, err);
        else if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && sl_add(out, p)) rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        free(p);
    }
    sl_free(&names);
    return rc;
}

/* ---- building -------------------------------------------------------------------- */

typedef struct build {
    cJSON *files, *models;
    strlist done;                 /* files already listed */
    void (*progress)(uint64_t, void *);
    void *ctx;
    uint64_t base;                /* bytes done before the current model */
} build;

static void build_progress(uint64_t done, void *ctx)
{
    build *b = ctx;
    if (b->progress) b->progress(b->base + done, b->ctx);
}

static int listed(const build *b, const char *path)
{
    for (size_t i = 0; i < b->done.n; i++)
        if (strcmp(b->done.v[i], path) == 0) return 1;
    return 0;
}

static cJSON *file_entry(const char *path, uint64_t size, const char *hex, const char *format)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", path);
    cJSON_AddItemToObject(f, "size", lb_json_u64(size));
    cJSON_AddStringToObject(f, "sha256", hex);
    cJSON_AddStringToObject(f, "format", format);
    return f;
}

/* A model (file or folder): one pass per file hashes the files and their tensors. */
static int add_model(build *b, lb_model *m, lb_err *err)
{
    char (*fh)[LB_SHA256_HEX] = calloc(m->n_files + 1, sizeof *fh);
    char (*th)[LB_SHA256_HEX] = calloc(m->n_tensors + 1, sizeof *th);
    if (!fh || !th) { free(fh); free(th); return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }
    int rc = lb_hash_model(m, fh, th, build_progress, b, err);
    if (rc) {
        if (err && !err->item[0] && m->n_files == 1) snprintf(err->item, sizeof err->item, "'%s'", m->files[0].path);
        free(fh); free(th);
        return rc;
    }
    cJSON *mf = cJSON_CreateArray();
    for (size_t fi = 0; fi < m->n_files; fi++) {
        uint64_t size = lb_src_size(m->files[fi].src);
        b->base += size;
        cJSON *f = file_entry(m->files[fi].path, size, fh[fi], m->format);
        cJSON *ts = cJSON_AddArrayToObject(f, "tensors");
        for (size_t k = 0; k < m->n_tensors; k++) {
            if (m->tensors[k].file != (int)fi) continue;
            cJSON *t = lb_json_tensor(&m->tensors[k]);
            cJSON_AddStringToObject(t, "sha256", th[k]);
            cJSON_AddItemToArray(ts, t);
        }
        cJSON_AddItemToArray(b->files, f);
        cJSON_AddItemToArray(mf, cJSON_CreateString(m->files[fi].path));
        sl_add(&b->done, m->files[fi].path);
    }
    char digest[LB_SHA256_HEX];
    lb_model_digest(m, th, digest);
    lb_totals tt = lb_model_totals(m);
    cJSON *mo = cJSON_CreateObject();
    cJSON_AddStringToObject(mo, "path", m->path);
    cJSON_AddStringToObject(mo, "format", m->format);
    cJSON_AddStringToObject(mo, "digest", digest);
    cJSON_AddItemToObject(mo, "files", mf);
    cJSON_AddItemToObject(mo, "totals", lb_json_totals(tt));
    cJSON_AddItemToArray(b->models, mo);
    free(fh);
    free(th);
    return LB_OK;
}

static const char *plain_format(const char *path)
{
    lb_src *s;
    lb_err e;
    static char what[64];
    if (lb_src_open(&s, path, &e)) return "other";
    uint8_t head[512];
    size_t n = 0;
    lb_src_read_some(s, 0, head, sizeof head, &n, &e);
    const char *w = lb_sniff_nonmodel(head, n, lb_src_size(s));
    lb_src_close(s);
    if (!w) return "other";
    if (strncmp(w, "git-lfs", 7) == 0) return "git-lfs-pointer";
    if (strncmp(w, "text", 4) == 0) return "text";
    snprintf(what, sizeof what, "%.*s", (int)strcspn(w, " ,"), w);
    return what;
}

static int add_plain(build *b, const char *path, lb_err *err)
{
    lb_src *s;
    char hex[LB_SHA256_HEX];
    int rc = lb_src_open(&s, path, err);
    if (!rc) {
        rc = lb_sha256_src(s, hex, err);
        if (!rc) {
            b->base += lb_src_size(s);
            cJSON_AddItemToArray(b->files, file_entry(path, lb_src_size(s), hex, plain_format(path)));
            sl_add(&b->done, path);
        }
        lb_src_close(s);
    }
    if (rc && err && !err->item[0]) snprintf(err->item, sizeof err->item, "'%s'", path);
    return rc;
}

/* A file: a model if it opens as one, else a plain file. */
static int add_file(build *b, const char *path, lb_err *err)
{
    if (listed(b, path)) return LB_OK;
    lb_model *m = NULL;
    lb_err e;
    lb_err_clear(&e);
    if (lb_model_open(&m, path, &e) == LB_OK) {
        int rc = add_model(b, m, err);
        lb_model_close(m);
        return rc;
    }
    if (e.code == LB_EIO) { *err = e; snprintf(err->item, sizeof err->item, "'%s'", path); return e.code; }
    return add_plain(b, path, err);
}

cJSON *lb_manifest_build(char *const *paths, int n, void (*progress)(uint64_t, void *), void *ctx, lb_err *err)
{
    cJSON *doc = lb_json_doc("verify");
    cJSON_AddNumberToObject(doc, "manifest", LB_MANIFEST_VERSION);
    cJSON *roots = cJSON_AddArrayToObject(doc, "roots");
    build b = { 0 };
    b.files = cJSON_AddArrayToObject(doc, "files");
    b.models = cJSON_AddArrayToObject(doc, "models");
    b.progress = progress;
    b.ctx = ctx;
    int rc = LB_OK;
    for (int i = 0; !rc && i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            rc = lb_err_item(err, LB_EIO, "file", paths[i], LB_NO_OFFSET, "cannot open: %s", strerror(errno));
            break;
        }
        if (!S_ISDIR(st.st_mode)) { rc = add_file(&b, paths[i], err); continue; }
        cJSON_AddItemToArray(roots, cJSON_CreateString(paths[i]));
        /* the folder as one model first (sharded sets), then every other file */
        lb_model *m = NULL;
        lb_err e;
        if (lb_model_open(&m, paths[i], &e) == LB_OK) rc = add_model(&b, m, err);
        lb_model_close(m);
        strlist files = { 0 };
        if (!rc) rc = walk(paths[i], &files, 0, err);
        for (size_t k = 0; !rc && k < files.n; k++) rc = add_file(&b, files.v[k], err);
        sl_free(&files);
    }
    sl_free(&b.done);
    if (rc) { cJSON_Delete(doc); return NULL; }
    return doc;
}

/* ---- checking -------------------------------------------------------------------- */

static char *resolve(const char *dir, const char *path)
{
    char *p;
    if (!dir || path[0] == '/') return strdup(path);
    return asprintf(&p, "%s/%s", dir, path) < 0 ? NULL : p;
}

/* Which listed tensors now hash differently (NULL-terminated names, or NULL if the file
 * no longer parses: *why says so). */
static char **differing_tensors(const char *path, const cJSON *tensors, char *why, size_t nwhy)
{
    lb_model *m = NULL;
    lb_err e;
    if (lb_model_open(&m, path, &e)) {
        char buf[600];
        snprintf(why, nwhy, "no longer parses: %s", lb_err_str(&e, buf, sizeof buf));
        return NULL;
    }
    char (*fh)[LB_SHA256_HEX] = calloc(m->n_files + 1, sizeof *fh);
    char (*th)[LB_SHA256_HEX] = calloc(m->n_tensors + 1, sizeof *th);
    char **out = calloc((size_t)cJSON_GetArraySize(tensors) + m->n_tensors + 2, sizeof *out);
    size_t n = 0;
    if (fh && th && out && lb_hash_model(m, fh, th, NULL, NULL, &e) == LB_OK) {
        const cJSON *t;
        cJSON_ArrayForEach(t, tensors) {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
            const char *hex = cJSON_GetStringValue(cJSON_GetObjectItem(t, "sha256"));
            if (!name || !hex) continue;
            const lb_tensor *mt = lb_model_find(m, name);
            if (!mt || strcmp(th[mt - m->tensors], hex) != 0) out[n++] = strdup(name);
        }
    }
    free(fh);
    free(th);
    lb_model_close(m);
    return out;
}

static void free_names(char **v)
{
    for (size_t i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

static int check_one(const char *dir, const char *path, uint64_t size, const char *hex,
                     const cJSON *tensors, lb_check_cb cb, void *ctx)
{
    char *full = resolve(dir, path);
    char reason[700] = "";
    char **names = NULL;
    struct stat st;
    if (!full) snprintf(reason, sizeof reason, "out of memory");
    else if (stat(full, &st) != 0) snprintf(reason, sizeof reason, "%s", errno == ENOENT ? "missing" : strerror(errno));
    else if (!S_ISREG(st.st_mode)) snprintf(reason, sizeof reason, "not a regular file");
    else if ((uint64_t)st.st_size != size && size != UINT64_MAX)
        snprintf(reason, sizeof reason, "%s: %llu bytes, expected %llu", (uint64_t)st.st_size < size ? "truncated" : "size differs",
                 (unsigned long long)st.st_size, (unsigned long long)size);
    else {
        lb_src *s;
        lb_err e;
        char got[LB_SHA256_HEX];
        if (lb_src_open(&s, full, &e) || lb_sha256_src(s, got, &e)) snprintf(reason, sizeof reason, "cannot read: %s", e.msg);
        else if (strcmp(got, hex) != 0) {
            snprintf(reason, sizeof reason, "sha256 mismatch");
            if (tensors && cJSON_GetArraySize(tensors) > 0) {
                char why[600] = "";
                names = differing_tensors(full, tensors, why, sizeof why);
                if (!names) snprintf(reason, sizeof reason, "sha256 mismatch; %s", why);
                else if (names[0]) snprintf(reason, sizeof reason, "sha256 mismatch in tensor data");
                else snprintf(reason, sizeof reason, "sha256 mismatch outside tensor data (header or metadata)");
            }
        }
        lb_src_close(s);
    }
    lb_check_result r = { path, reason[0] == 0, reason[0] ? reason : NULL, (const char *const *)names };
    cb(&r, ctx);
    free_names(names);
    free(full);
    return r.ok ? LB_OK : LB_ECHECK;
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int lb_manifest_check(const cJSON *doc, const char *dir, lb_check_cb cb, void *ctx, lb_err *err)
{
    const cJSON *files = cJSON_GetObjectItem(doc, "files");
    const cJSON *ver = cJSON_GetObjectItem(doc, "manifest");
    if (!cJSON_IsObject(doc) || !cJSON_IsArray(files) || !cJSON_IsNumber(ver))
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "not a lowbit manifest (no \"manifest\" version or \"files\" list)");
    if (ver->valuedouble != LB_MANIFEST_VERSION)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "manifest version %g is not supported", ver->valuedouble);
    strlist seen = { 0 };
    const cJSON *f;
    int any_failed = 0, rc = LB_OK;
    cJSON_ArrayForEach(f, files) {
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(f, "path"));
        const char *hex = cJSON_GetStringValue(cJSON_GetObjectItem(f, "sha256"));
        const cJSON *size = cJSON_GetObjectItem(f, "size");
        if (!path || !is_hex64(hex) || !cJSON_IsNumber(size) || size->valuedouble < 0) {
            rc = lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "manifest entry %d lacks a path, size or sha256",
                            cJSON_GetArraySize(files));
            break;
        }
        sl_add(&seen, path);
        if (check_one(dir, path, (uint64_t)size->valuedouble, hex, cJSON_GetObjectItem(f, "tensors"), cb, ctx))
            any_failed = 1;
    }
    /* files under the manifest's folders that it does not list */
    const cJSON *roots = cJSON_GetObjectItem(doc, "roots"), *root;
    cJSON_ArrayForEach(root, roots) {
        if (rc) break;
        const char *rp = cJSON_GetStringValue(root);
        char *full = rp ? resolve(dir, rp) : NULL;
        strlist found = { 0 };
        lb_err e;
        if (full && walk(full, &found, 0, &e) == LB_OK) {
            size_t off = strlen(full) - strlen(rp);   /* report paths as the manifest spells them */
            for (size_t i = 0; i < found.n; i++) {
                const char *rel = found.v[i] + off;
                int known = 0;
                for (size_t k = 0; k < seen.n && !known; k++) known = strcmp(seen.v[k], rel) == 0;
                if (known) continue;
                lb_check_result r = { rel, 0, "extra file, not in the manifest", NULL };
                cb(&r, ctx);
                any_failed = 1;
            }
        }
        sl_free(&found);
        free(full);
    }
    sl_free(&seen);
    if (rc) return rc;
    return any_failed ? LB_ECHECK : LB_OK;
}

int lb_sums_check(const char *text, size_t n, const char *dir, lb_check_cb cb, void *ctx, lb_err *err)
{
    int any_failed = 0, lines = 0;
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && text[e] != '\n') e++;
        size_t len = e - i;
        if (len && text[i + len - 1] == '\r') len--;
        if (len > 0 && text[i] != '#') {
            /* "HEX  path" (text mode) or "HEX *path" (binary mode) */
            if (len < 67 || text[i + 64] != ' ' || (text[i + 65] != ' ' && text[i + 65] != '*'))
                return lb_err_set(err, LB_EFORMAT, (uint64_t)i, "line %d is not a sha256sum line", lines + 1);
            char hex[65], *path = strndup(text + i + 66, len - 66);
            for (int k = 0; k < 64; k++) {
                char c = text[i + k];
                hex[k] = (char)(c >= 'A' && c <= 'F' ? c + 32 : c);
            }
            hex[64] = 0;
            if (!path || !is_hex64(hex)) {
                free(path);
                return lb_err_set(err, LB_EFORMAT, (uint64_t)i, "line %d: bad sha256", lines + 1);
            }
            if (check_one(dir, path, UINT64_MAX, hex, NULL, cb, ctx)) any_failed = 1;
            free(path);
            lines++;
        }
        i = e + 1;
    }
    if (!lines) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "no sha256sum lines found");
    return any_failed ? LB_ECHECK : LB_OK;
}
