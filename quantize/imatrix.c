/* imatrix.c: llama-imatrix's GGUF and legacy .dat files -> name -> per-column weights.
 * Layouts and the arithmetic are in lb_imatrix.h; the numbers are those llama-quantize
 * 0.4.0 computes (tools/quantize/quantize.cpp load_imatrix, common/imatrix-loader.cpp). */
#include "lb_imatrix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_io.h"
#include "lb_le.h"
#include "lb_model.h"

void lb_imatrix_free(lb_imatrix *im)
{
    if (!im) return;
    for (size_t i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].w);
    }
    for (size_t i = 0; i < im->n_datasets; i++) free(im->datasets[i]);
    free(im->e);
    free(im->datasets);
    free(im);
}

static int nomem(lb_err *err)
{
    return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
}

static int add_dataset(lb_imatrix *im, const char *s, size_t n, lb_err *err)
{
    char **d = realloc(im->datasets, (im->n_datasets + 1) * sizeof *d);
    if (!d) return nomem(err);
    im->datasets = d;
    if (!(d[im->n_datasets] = malloc(n + 1))) return nomem(err);
    memcpy(d[im->n_datasets], s, n);
    d[im->n_datasets++][n] = 0;
    return LB_OK;
}

/* Stable merge sort of idx[0..n) by entry name; tmp has room for n. */
static void sort_idx(const lb_imatrix_entry *e, size_t *idx, size_t *tmp, size_t n)
{
    if (n < 2) return;
    size_t h = n / 2, i = 0, j = h, k = 0;
    sort_idx(e, idx, tmp, h);
    sort_idx(e, idx + h, tmp, n - h);
    while (i < h && j < n) tmp[k++] = strcmp(e[idx[j]].name, e[idx[i]].name) < 0 ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

/* Sort by name; of equal names keep the last one read (llama.cpp assigns into a map). */
static int finish(lb_imatrix *im, lb_err *err)
{
    size_t n = im->n ? im->n : 1;
    size_t *idx = malloc(2 * n * sizeof *idx);
    lb_imatrix_entry *e = malloc(n * sizeof *e);
    if (!idx || !e) { free(idx); free(e); return nomem(err); }
    for (size_t i = 0; i < im->n; i++) idx[i] = i;
    sort_idx(im->e, idx, idx + n, im->n);
    size_t k = 0;
    for (size_t i = 0; i < im->n; i++) {
        const lb_imatrix_entry *cur = &im->e[idx[i]];
        if (k && strcmp(e[k - 1].name, cur->name) == 0) {
            free(e[k - 1].name);
            free(e[k - 1].w);
            k--;
        }
        e[k++] = *cur;
    }
    free(idx);
    free(im->e);
    im->e = e;
    im->n = k;
    return LB_OK;
}

static int check_finite(const lb_imatrix_entry *e, lb_err *err)
{
    for (uint64_t i = 0; i < e->n; i++)
        if (!isfinite(e->w[i]))
            return lb_err_item(err, LB_EFORMAT, "imatrix entry", e->name, LB_NO_OFFSET,
                               "weight %llu is not finite (llama.cpp refuses such a matrix)",
                               (unsigned long long)i);
    return LB_OK;
}

static lb_imatrix_entry *new_entry(lb_imatrix *im, size_t *cap, lb_err *err)
{
    if (im->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        lb_imatrix_entry *e = realloc(im->e, nc * sizeof *e);
        if (!e) { nomem(err); return NULL; }
        im->e = e;
        *cap = nc;
    }
    lb_imatrix_entry *e = &im->e[im->n++];
    memset(e, 0, sizeof *e);
    return e;
}

/* ---- legacy .dat ------------------------------------------------------------------ */

static int rd_i32(lb_cur *c, int32_t *v)
{
    uint32_t u;
    LB_TRY(lb_cur_u32(c, &u));
    *v = (int32_t)u;
    return LB_OK;
}

static int dat_entry(lb_imatrix *im, lb_cur *c, int32_t idx, size_t *cap, lb_err *err)
{
    int32_t len, ncall, nval;
    uint64_t at = c->pos;
    LB_TRY(rd_i32(c, &len));
    if (len < 0 || (uint64_t)len > lb_cur_left(c))
        return lb_err_set(err, LB_EFORMAT, at, "imatrix entry %d: name length %d past end of file",
                          (int)idx + 1, (int)len);
    lb_imatrix_entry *e = new_entry(im, cap, err);
    if (!e) return LB_EIO;
    if (!(e->name = malloc((size_t)len + 1))) return nomem(err);
    LB_TRY(lb_cur_bytes(c, e->name, (size_t)len));
    e->name[len] = 0;               /* a NUL inside cuts the name, as std::string(char*) does */
    at = c->pos;
    LB_TRY(rd_i32(c, &ncall));
    LB_TRY(rd_i32(c, &nval));
    if (nval < 1)
        return lb_err_item(err, LB_EFORMAT, "imatrix entry", e->name, at, "%d values (want >= 1)", (int)nval);
    if ((uint64_t)nval * 4 > lb_cur_left(c))
        return lb_err_item(err, LB_EFORMAT, "imatrix entry", e->name, at,
                           "%d values past end of file", (int)nval);
    if (!(e->w = malloc((size_t)nval * sizeof *e->w))) return nomem(err);
    uint8_t buf[4];
    for (int32_t i = 0; i < nval; i++) {
        LB_TRY(lb_cur_bytes(c, buf, 4));
        float v = lb_ldf32(buf);
        e->w[i] = ncall > 0 ? v / (float)ncall : v;   /* stored as mean * ncall */
    }
    e->n = e->ne0 = (uint64_t)nval;
    e->n_mat = 1;
    e->count = ncall;
    return LB_OK;
}

static int load_dat(lb_imatrix *im, lb_src *src, lb_err *err)
{
    lb_cur c;
    uint64_t size = lb_src_size(src);
    LB_TRY(lb_cur_init(&c, src, 0, size, err));
    c.what = "imatrix";
    int32_t n_entries;
    size_t cap = 0;
    int rc = rd_i32(&c, &n_entries);
    if (rc == LB_OK && n_entries < 1)
        rc = lb_err_set(err, LB_EFORMAT, 0, "no entries (count %d): not an imatrix file", (int)n_entries);
    /* each entry takes at least 16 bytes: bound the count by the file size */
    if (rc == LB_OK && (uint64_t)n_entries > size / 16)
        rc = lb_err_set(err, LB_EFORMAT, 0, "%d entries cannot fit in %llu bytes",
                        (int)n_entries, (unsigned long long)size);
    for (int32_t i = 0; rc == LB_OK && i < n_entries; i++) rc = dat_entry(im, &c, i, &cap, err);
    /* optional trailer: chunk count, dataset name */
    if (rc == LB_OK && lb_cur_left(&c) >= 4) {
        int32_t len;
        rc = rd_i32(&c, &im->chunk_count);
        if (rc == LB_OK && lb_cur_left(&c) >= 4 && (rc = rd_i32(&c, &len)) == LB_OK &&
            len > 0 && (uint64_t)len <= lb_cur_left(&c)) {
            char *d = malloc((size_t)len);
            if (!d) rc = nomem(err);
            else if ((rc = lb_cur_bytes(&c, d, (size_t)len)) == LB_OK)
                rc = add_dataset(im, d, strnlen(d, (size_t)len), err);
            free(d);
        }
    }
    lb_cur_free(&c);
    im->legacy = 1;
    return rc;
}

/* ---- GGUF ----------------------------------------------------------------------------- */

static int has_suffix(const char *s, const char *suf, size_t *stem)
{
    size_t n = strlen(s), k = strlen(suf);
    if (n < k || strcmp(s + n - k, suf) != 0) return 0;
    *stem = n - k;
    return 1;
}

static const lb_tensor *partner(const lb_model *m, const char *stem, size_t n, const char *suf)
{
    char name[256];
    if (n + strlen(suf) >= sizeof name) return NULL;
    memcpy(name, stem, n);
    strcpy(name + n, suf);
    return lb_model_find(m, name);
}

static int read_f32s(lb_model *m, const lb_tensor *t, float *dst, lb_err *err)
{
    uint8_t *raw = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    if (!raw) return nomem(err);
    int rc = lb_tensor_read(m, t, 0, raw, (size_t)t->nbytes, err);
    for (uint64_t i = 0; rc == LB_OK && i < t->nelem; i++) dst[i] = lb_ldf32(raw + 4 * i);
    free(raw);
    return rc;
}

/* One weight tensor's pair: weights = in_sum2 / round(count), per expert row. */
static int gguf_entry(lb_imatrix *im, lb_model *m, const lb_tensor *sums, const lb_tensor *counts,
                      const char *name, size_t *cap, lb_err *err)
{
    if (sums->type != LB_F32 || counts->type != LB_F32)
        return lb_err_item(err, LB_EFORMAT, "imatrix entry", name, LB_NO_OFFSET,
                           "in_sum2 and counts must be f32 (are %s, %s)",
                           lb_type_get(sums->type) ? lb_type_get(sums->type)->name : "?",
                           lb_type_get(counts->type) ? lb_type_get(counts->type)->name : "?");
    uint64_t nval = sums->nelem, ncounts = counts->nelem;
    if (nval == 0 || ncounts == 0 || nval % ncounts != 0)
        return lb_err_item(err, LB_EFORMAT, "imatrix entry", name, LB_NO_OFFSET,
                           "%llu sums do not split into %llu count rows",
                           (unsigned long long)nval, (unsigned long long)ncounts);
    lb_imatrix_entry *e = new_entry(im, cap, err);
    if (!e) return LB_EIO;
    float *cnt = malloc((size_t)ncounts * sizeof *cnt);
    e->name = strdup(name);
    e->w = malloc((size_t)nval * sizeof *e->w);
    if (!cnt || !e->name || !e->w) { free(cnt); return nomem(err); }
    int rc = read_f32s(m, sums, e->w, err);
    if (rc == LB_OK) rc = read_f32s(m, counts, cnt, err);
    e->n = nval;
    e->n_mat = ncounts;
    e->ne0 = nval / ncounts;
    for (uint64_t j = 0; rc == LB_OK && j < ncounts; j++) {
        if (!isfinite(cnt[j]) || fabsf(cnt[j]) > 1e18f) {
            rc = lb_err_item(err, LB_EFORMAT, "imatrix entry", name, LB_NO_OFFSET,
                             "count %llu is not a usable number", (unsigned long long)j);
            break;
        }
        int64_t c = (int64_t)lroundf(cnt[j]);   /* the loader rounds counts to integers */
        if (c > e->count) e->count = c;
        float fc = (float)c;
        for (uint64_t i = 0; i < e->ne0; i++) {
            float *w = &e->w[j * e->ne0 + i];
            *w = fc > 0.0f ? *w / fc : 1.0f;    /* no tokens seen: neutral weight */
        }
    }
    free(cnt);
    return rc;
}

static int load_gguf(lb_imatrix *im, lb_model *m, lb_err *err)
{
    if (m->n_tensors < 1) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "no tensors: not an imatrix file");
    const lb_kv *ds = lb_model_kv(m, "imatrix.datasets"), *cc = lb_model_kv(m, "imatrix.chunk_count"),
                *cs = lb_model_kv(m, "imatrix.chunk_size");
    if (!ds || !cc || !cs)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET,
                          "missing imatrix metadata (imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size)");
    if (cc->val.type != LB_V_U32 || cs->val.type != LB_V_U32)
        return lb_err_item(err, LB_EFORMAT, "key", cc->val.type != LB_V_U32 ? cc->key : cs->key,
                           LB_NO_OFFSET, "not a u32");
    im->chunk_count = (int32_t)cc->val.v.u;
    im->chunk_size = (int32_t)cs->val.v.u;
    if (ds->val.type == LB_V_ARR && ds->val.arr_type == LB_V_STR)
        for (uint64_t i = 0; i < ds->val.n; i++)
            LB_TRY(add_dataset(im, ds->val.v.arr[i].v.s, (size_t)ds->val.v.arr[i].n, err));

    size_t cap = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        size_t stem;
        if (has_suffix(t->name, ".in_sum2", &stem)) {
            char name[256];
            const lb_tensor *c = partner(m, t->name, stem, ".counts");
            if (!c) return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "has no matching .counts");
            memcpy(name, t->name, stem);
            name[stem] = 0;
            LB_TRY(gguf_entry(im, m, t, c, name, &cap, err));
        } else if (has_suffix(t->name, ".counts", &stem) && !partner(m, t->name, stem, ".in_sum2")) {
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "has no matching .in_sum2");
        }
    }
    return LB_OK;
}

/* ---- entry points ------------------------------------------------------------------- */

static int load_src(lb_imatrix **out, lb_src *src, const void *mem, size_t memsize, const char *path,
                    lb_err *err)
{
    *out = NULL;
    uint8_t magic[4] = { 0 };
    size_t got = 0;
    int rc = lb_src_read_some(src, 0, magic, 4, &got, err);
    if (rc != LB_OK) { lb_src_close(src); return rc; }
    lb_imatrix *im = calloc(1, sizeof *im);
    if (!im) { lb_src_close(src); return nomem(err); }
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) {
        lb_model *m = NULL;
        lb_src_close(src);
        rc = mem ? lb_model_open_mem(&m, mem, memsize, "gguf", err) : lb_model_open(&m, path, err);
        if (rc == LB_OK) rc = load_gguf(im, m, err);
        lb_model_close(m);
    } else {
        rc = load_dat(im, src, err);
        lb_src_close(src);
    }
    for (size_t i = 0; rc == LB_OK && i < im->n; i++) rc = check_finite(&im->e[i], err);
    if (rc == LB_OK) rc = finish(im, err);
    if (rc != LB_OK) { lb_imatrix_free(im); return rc; }
    *out = im;
    return LB_OK;
}

int lb_imatrix_load(lb_imatrix **out, const char *path, lb_err *err)
{
    lb_src *src;
    *out = NULL;
    LB_TRY(lb_src_open(&src, path, err));
    return load_src(out, src, NULL, 0, path, err);
}

int lb_imatrix_load_mem(lb_imatrix **out, const void *data, size_t size, const char *name, lb_err *err)
{
    lb_src *src;
    *out = NULL;
    LB_TRY(lb_src_mem(&src, data, size, name ? name : "imatrix", err));
    return load_src(out, src, data, size, name, err);
}

const lb_imatrix_entry *lb_imatrix_find(const lb_imatrix *im, const char *name)
{
    size_t lo = 0, hi = im->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(im->e[mid].name, name);
        if (c == 0) return &im->e[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int contains_any(const char *name, const char *const *subs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(name, subs[i])) return 1;
    return 0;
}

int lb_imatrix_filter(lb_imatrix *im, const char *const *include, size_t n_include,
                      const char *const *exclude, size_t n_exclude, size_t *removed, lb_err *err)
{
    if (removed) *removed = 0;
    if (n_include && n_exclude)
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET,
                          "include and exclude weight filters cannot be used together");
    size_t k = 0;
    for (size_t i = 0; i < im->n; i++) {
        int keep = !contains_any(im->e[i].name, exclude, n_exclude) &&
                   (!n_include || contains_any(im->e[i].name, include, n_include));
        if (keep) {
            im->e[k++] = im->e[i];
        } else {
            free(im->e[i].name);
            free(im->e[i].w);
        }
    }
    if (removed) *removed = im->n - k;
    im->n = k;
    return LB_OK;
}

int lb_imatrix_weights_for(const lb_imatrix *im, const char *name, uint64_t ne0, uint64_t n_mat,
                           const float **w, lb_err *err)
{
    *w = NULL;
    const lb_imatrix_entry *e = lb_imatrix_find(im, name);
    if (!e) return LB_OK;
    if (n_mat == 0) n_mat = 1;
    if (e->n == ne0 * n_mat) {
        *w = e->w;
        return LB_OK;
    }
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0)
        return LB_OK;   /* llama.cpp quantizes embeddings without weights in that case */
    return lb_err_item(err, LB_EFORMAT, "tensor", name, LB_NO_OFFSET,
                       "imatrix has %llu values, the tensor needs %llu x %llu",
                       (unsigned long long)e->n, (unsigned long long)ne0, (unsigned long long)n_mat);
}
