/* model.c: the reader interface (lb_model.h): opening by content, folders, building
 * models, and the checks every reader shares. */
#include "lb_model.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_pytorch.h"
#include "lb_safetensors.h"

/* ---- values ----------------------------------------------------------------- */

const char *lb_vtype_name(int t)
{
    static const char *names[LB_V_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
        "u64", "i64", "f64"
    };
    return t >= 0 && t < LB_V_COUNT ? names[t] : "unknown";
}

void lb_value_free(lb_value *v)
{
    if (!v) return;
    if (v->type == LB_V_STR) free(v->v.s);
    if (v->type == LB_V_ARR && v->v.arr) {
        for (uint64_t i = 0; i < v->n; i++) lb_value_free(&v->v.arr[i]);
        free(v->v.arr);
    }
    memset(v, 0, sizeof *v);
}

int lb_value_copy(lb_value *dst, const lb_value *src)
{
    *dst = *src;
    if (src->type == LB_V_STR) {
        dst->v.s = malloc((size_t)src->n + 1);
        if (!dst->v.s) return -1;
        memcpy(dst->v.s, src->v.s, (size_t)src->n + 1);
    } else if (src->type == LB_V_ARR) {
        dst->v.arr = calloc(src->n ? (size_t)src->n : 1, sizeof *dst->v.arr);
        if (!dst->v.arr) return -1;
        for (uint64_t i = 0; i < src->n; i++)
            if (lb_value_copy(&dst->v.arr[i], &src->v.arr[i])) {
                dst->n = i;
                lb_value_free(dst);
                return -1;
            }
    }
    return 0;
}

/* ---- building ------------------------------------------------------------------ */

lb_model *lb_model_new(const char *format, const char *path)
{
    lb_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->format = format;
    m->path = strdup(path ? path : "");
    if (!m->path) { free(m); return NULL; }
    return m;
}

int lb_model_add_file(lb_model *m, const char *path, lb_src *src)
{
    lb_file *f = realloc(m->files, (m->n_files + 1) * sizeof *f);
    if (!f) { lb_src_close(src); return -1; }
    m->files = f;
    f[m->n_files].path = strdup(path);
    f[m->n_files].src = src;
    f[m->n_files].data_start = 0;
    if (!f[m->n_files].path) { lb_src_close(src); return -1; }
    return (int)m->n_files++;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, nc * elem);
    if (!p) return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

int lb_model_add_tensor(lb_model *m, const char *name, int type, int ndim, const uint64_t *shape,
                        uint64_t offset, int file, lb_tensor **out, lb_err *err)
{
    const lb_type_traits *tt = lb_type_get(type);
    if (!tt) return lb_err_item(err, LB_EFORMAT, "tensor", name, LB_NO_OFFSET, "unknown type id %d", type);
    if (ndim < 0 || ndim > LB_MAX_DIMS)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, LB_NO_OFFSET, "%d dimensions (at most %d)", ndim, LB_MAX_DIMS);
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (lb_mul64(n, shape[i], &n))
            return lb_err_item(err, LB_EFORMAT, "tensor", name, LB_NO_OFFSET, "element count overflows 64 bits");
    if (ndim > 0 && shape[ndim - 1] % tt->blck)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, LB_NO_OFFSET,
                           "row of %llu elements is not a multiple of the %s block size %u",
                           (unsigned long long)shape[ndim - 1], tt->name, tt->blck);
    uint64_t bytes;
    if (lb_type_nbytes(type, n, &bytes))
        return lb_err_item(err, LB_EFORMAT, "tensor", name, LB_NO_OFFSET, "byte size overflows 64 bits");
    if (grow((void **)&m->tensors, &m->cap_tensors, m->n_tensors + 1, sizeof *m->tensors))
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    lb_tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    t->type = type;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nelem = n;
    t->nbytes = bytes;
    t->offset = offset;
    t->file = file;
    m->n_tensors++;
    if (out) *out = t;
    return LB_OK;
}

int lb_model_add_kv(lb_model *m, const char *key, lb_value *val, lb_err *err)
{
    if (grow((void **)&m->kv, &m->cap_kv, m->n_kv + 1, sizeof *m->kv)) {
        lb_value_free(val);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    lb_kv *kv = &m->kv[m->n_kv];
    if (!(kv->key = strdup(key))) {
        lb_value_free(val);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    kv->val = *val;
    memset(val, 0, sizeof *val);
    m->n_kv++;
    return LB_OK;
}

int lb_model_add_str(lb_model *m, const char *key, const char *s, lb_err *err)
{
    lb_value v = { .type = LB_V_STR, .n = strlen(s) };
    if (!(v.v.s = strdup(s))) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    return lb_model_add_kv(m, key, &v, err);
}

void lb_model_close(lb_model *m)
{
    if (!m) return;
    if (m->ops && m->ops->free_priv) m->ops->free_priv(m);
    for (size_t i = 0; i < m->n_tensors; i++) {
        if (m->ops && m->ops->free_tensor) m->ops->free_tensor(&m->tensors[i]);
        free(m->tensors[i].name);
    }
    for (size_t i = 0; i < m->n_kv; i++) {
        free(m->kv[i].key);
        lb_value_free(&m->kv[i].val);
    }
    for (size_t i = 0; i < m->n_files; i++) {
        free(m->files[i].path);
        lb_src_close(m->files[i].src);
    }
    free(m->tensors);
    free(m->kv);
    free(m->files);
    free(m->path);
    free(m);
}

/* ---- queries ------------------------------------------------------------------- */

const lb_tensor *lb_model_find(const lb_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

const lb_kv *lb_model_kv(const lb_model *m, const char *key)
{
    for (size_t i = 0; i < m->n_kv; i++)
        if (strcmp(m->kv[i].key, key) == 0) return &m->kv[i];
    return NULL;
}

lb_totals lb_model_totals(const lb_model *m)
{
    lb_totals t = { 0, 0, 0, 0 };
    for (size_t i = 0; i < m->n_tensors; i++) {
        t.tensors++;
        t.params += m->tensors[i].nelem;
        t.bytes += m->tensors[i].nbytes;
    }
    t.bpw = t.params ? 8.0 * (double)t.bytes / (double)t.params : 0;
    return t;
}

int lb_tensor_read(lb_model *m, const lb_tensor *t, uint64_t off, void *buf, size_t n, lb_err *err)
{
    uint64_t end;
    if (lb_add64(off, n, &end) || end > t->nbytes)
        return lb_err_item(err, LB_EUSAGE, "tensor", t->name, LB_NO_OFFSET,
                           "read of %zu bytes at %llu is past its %llu bytes", n,
                           (unsigned long long)off, (unsigned long long)t->nbytes);
    if (m->ops && m->ops->read) return m->ops->read(m, t, off, buf, n, err);
    int rc = lb_src_read(m->files[t->file].src, t->offset + off, buf, n, err);
    if (rc && err) snprintf(err->item, sizeof err->item, "tensor '%.120s'", t->name);
    return rc;
}

/* ---- shared checks ----------------------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    const lb_tensor *x = *(const lb_tensor *const *)a, *y = *(const lb_tensor *const *)b;
    return strcmp(x->name, y->name);
}

int lb_model_check_names(lb_model *m, lb_err *err)
{
    if (m->n_tensors < 2) return LB_OK;
    const lb_tensor **v = malloc(m->n_tensors * sizeof *v);
    if (!v) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < m->n_tensors; i++) v[i] = &m->tensors[i];
    qsort(v, m->n_tensors, sizeof *v, cmp_name);
    int rc = LB_OK;
    for (size_t i = 1; i < m->n_tensors && !rc; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0)
            rc = lb_err_item(err, LB_EFORMAT, "tensor", v[i]->name, LB_NO_OFFSET, "duplicate tensor name");
    free(v);
    return rc;
}

static int cmp_off(const void *a, const void *b)
{
    const lb_tensor *x = *(const lb_tensor *const *)a, *y = *(const lb_tensor *const *)b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

int lb_model_check_overlaps(lb_model *m, lb_err *err)
{
    if (m->n_tensors < 2) return LB_OK;
    const lb_tensor **v = malloc(m->n_tensors * sizeof *v);
    if (!v) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < m->n_tensors; i++) v[i] = &m->tensors[i];
    qsort(v, m->n_tensors, sizeof *v, cmp_off);
    int rc = LB_OK;
    for (size_t i = 1; i < m->n_tensors && !rc; i++) {
        const lb_tensor *a = v[i - 1], *b = v[i];
        if (a->file == b->file && a->nbytes && b->nbytes && a->offset + a->nbytes > b->offset)
            rc = lb_err_item(err, LB_EFORMAT, "tensor", b->name, b->offset,
                             "data overlaps tensor '%.100s'", a->name);
    }
    free(v);
    return rc;
}

/* ---- detection ------------------------------------------------------------------ */

static int starts(const uint8_t *h, size_t n, const char *s)
{
    size_t k = strlen(s);
    return n >= k && memcmp(h, s, k) == 0;
}

static int starts_ci(const uint8_t *h, size_t n, const char *s)
{
    size_t k = strlen(s);
    if (n < k) return 0;
    for (size_t i = 0; i < k; i++) {
        int c = h[i];
        if (c >= 'A' && c <= 'Z') c += 32;
        if (c != s[i]) return 0;
    }
    return 1;
}

const char *lb_sniff_nonmodel(const uint8_t *h, size_t n, uint64_t size)
{
    if (size == 0) return "empty file";
    if (starts(h, n, "version https://git-lfs.github.com/spec/"))
        return "git-lfs pointer, not the model (fetch the real file with 'git lfs pull')";
    size_t i = 0;
    if (starts(h, n, "\xef\xbb\xbf")) i = 3;
    while (i < n && (h[i] == ' ' || h[i] == '\n' || h[i] == '\r' || h[i] == '\t')) i++;
    if (starts_ci(h + i, n - i, "<!doctype html") || starts_ci(h + i, n - i, "<html") ||
        starts_ci(h + i, n - i, "<head"))
        return "HTML page, not a model (a download saved an error or login page)";
    if (starts(h, n, "\x89PNG\r\n\x1a\n")) return "PNG image, not a model";
    if (starts(h, n, "\xff\xd8\xff")) return "JPEG image, not a model";
    if (starts(h, n, "PK\x03\x04")) return "zip archive with no readable model";
    if (starts(h, n, "\x1f\x8b")) return "gzip file, not a model";
    if (starts(h, n, "\x80") && n > 1 && h[1] <= 5) return "Python pickle";
    if (starts(h, n, "GGUF") || starts(h, n, "FUGG")) return NULL;
    size_t text = 0;
    for (size_t k = 0; k < n; k++)
        if (h[k] == '\n' || h[k] == '\r' || h[k] == '\t' || (h[k] >= 0x20 && h[k] != 0x7f) )
            text++;
    if (n && text == n) return "text file, not a model";
    return NULL;
}

#define HEAD_BYTES 4096

static int open_file(lb_model **out, const char *path, lb_err *err)
{
    lb_src *src;
    LB_TRY(lb_src_open(&src, path, err));
    uint8_t head[HEAD_BYTES];
    size_t n;
    int rc = lb_src_read_some(src, 0, head, sizeof head, &n, err);
    if (rc) { lb_src_close(src); return rc; }
    const lb_format *best = NULL;
    int best_bid = 0;
    for (const lb_format *const *f = lb_formats; *f; f++) {
        int b = (*f)->bid(head, n, lb_src_size(src));
        if (b > best_bid) { best_bid = b; best = *f; }
    }
    if (!best) {
        const char *what = lb_sniff_nonmodel(head, n, lb_src_size(src));
        lb_src_close(src);
        if (what) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "this is a %s", what);
        return lb_err_set(err, LB_EFORMAT, 0, "unrecognized format (not safetensors, GGUF, or another format lowbit reads)");
    }
    lb_model *m = lb_model_new(best->name, path);
    if (!m) { lb_src_close(src); return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }
    rc = best->open(m, src, path, err);
    if (rc) { lb_model_close(m); return rc; }
    *out = m;
    return LB_OK;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* An HF-style folder: a sharded index (safetensors, then pytorch), else one model file. */
static int open_dir(lb_model **out, const char *dir, lb_err *err)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    if (is_file(p)) {
        lb_model *m = lb_model_new("safetensors-sharded", dir);
        if (!m) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        int rc = lb_safetensors_open_index(m, p, err);
        if (rc) { lb_model_close(m); return rc; }
        *out = m;
        return LB_OK;
    }
    snprintf(p, sizeof p, "%s/pytorch_model.bin.index.json", dir);
    if (is_file(p)) {
        lb_model *m = lb_model_new("pytorch-sharded", dir);
        if (!m) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        int rc = lb_pytorch_open_index(m, p, err);
        if (rc) { lb_model_close(m); return rc; }
        *out = m;
        return LB_OK;
    }
    static const char *const singles[] = { "model.safetensors", "pytorch_model.bin", "model.gguf", NULL };
    for (const char *const *s = singles; *s; s++) {
        snprintf(p, sizeof p, "%s/%s", dir, *s);
        if (is_file(p)) return open_file(out, p, err);
    }
    /* otherwise exactly one weights file */
    DIR *d = opendir(dir);
    if (!d) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "cannot open folder");
    struct dirent *e;
    char found[1024] = "";
    int count = 0;
    while ((e = readdir(d))) {
        if (has_suffix(e->d_name, ".safetensors") || has_suffix(e->d_name, ".gguf")) {
            if (!count || strcmp(e->d_name, found) < 0) snprintf(found, sizeof found, "%s", e->d_name);
            count++;
        }
    }
    closedir(d);
    if (count == 0)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "folder holds no model file (*.safetensors, *.gguf, pytorch_model.bin)");
    if (count > 1)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "folder holds %d model files and no index; name one of them", count);
    snprintf(p, sizeof p, "%s/%s", dir, found);
    return open_file(out, p, err);
}

int lb_model_open(lb_model **out, const char *path, lb_err *err)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "cannot open: %s", strerror(errno));
    if (S_ISDIR(st.st_mode)) return open_dir(out, path, err);
    return open_file(out, path, err);
}

int lb_model_open_mem(lb_model **out, const void *data, size_t size, const char *format, lb_err *err)
{
    *out = NULL;
    lb_src *src;
    LB_TRY(lb_src_mem(&src, data, size, "<memory>", err));
    const lb_format *fmt = NULL;
    for (const lb_format *const *f = lb_formats; *f; f++) {
        if (format ? strcmp((*f)->name, format) == 0
                   : (*f)->bid(data, size < HEAD_BYTES ? size : HEAD_BYTES, size) > 0) {
            fmt = *f;
            break;
        }
    }
    if (!fmt) {
        lb_src_close(src);
        return lb_err_set(err, LB_EFORMAT, 0, "unrecognized format");
    }
    lb_model *m = lb_model_new(fmt->name, "<memory>");
    if (!m) { lb_src_close(src); return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }
    int rc = fmt->open(m, src, "<memory>", err);
    if (rc) { lb_model_close(m); return rc; }
    *out = m;
    return LB_OK;
}
