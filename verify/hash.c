/* hash.c: SHA-256 and one-pass model hashing (lb_hash.h). */
#include "lb_hash.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"

struct lb_sha256 { EVP_MD_CTX *ctx; };

lb_sha256 *lb_sha256_new(void)
{
    lb_sha256 *h = malloc(sizeof *h);
    if (!h) return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

void lb_sha256_update(lb_sha256 *h, const void *p, size_t n) { EVP_DigestUpdate(h->ctx, p, n); }
void lb_sha256_reset(lb_sha256 *h) { EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL); }

static void to_hex(const unsigned char *d, unsigned n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = 0;
}

void lb_sha256_final_hex(lb_sha256 *h, char hex[LB_SHA256_HEX])
{
    unsigned char d[32];
    unsigned n = 0;
    EVP_DigestFinal_ex(h->ctx, d, &n);
    to_hex(d, 32, hex);
}

void lb_sha256_free(lb_sha256 *h)
{
    if (!h) return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void lb_sha256_hex(const void *p, size_t n, char hex[LB_SHA256_HEX])
{
    unsigned char d[32];
    EVP_Digest(p, n, d, NULL, EVP_sha256(), NULL);
    to_hex(d, 32, hex);
}

#define CHUNK (4u << 20)

int lb_sha256_src(lb_src *s, char hex[LB_SHA256_HEX], lb_err *err)
{
    lb_sha256 *h = lb_sha256_new();
    uint8_t *buf = malloc(CHUNK);
    int rc = (!h || !buf) ? lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory") : LB_OK;
    for (uint64_t off = 0; !rc && off < lb_src_size(s); off += CHUNK) {
        size_t got;
        rc = lb_src_read_some(s, off, buf, CHUNK, &got, err);
        if (!rc && !got) rc = lb_err_set(err, LB_EIO, off, "file shrank while reading");
        if (!rc) lb_sha256_update(h, buf, got);
        lb_src_done(s, off, got);
    }
    if (!rc) lb_sha256_final_hex(h, hex);
    lb_sha256_free(h);
    free(buf);
    return rc;
}

/* ---- one pass over a file: file hash on this thread, tensor hashes on a worker ---- */

typedef struct range { uint64_t begin, end; size_t tensor; } range;

typedef struct pass {
    range *r;  size_t nr, next;        /* tensor ranges of this file, sorted by begin */
    lb_sha256 **open;                  /* per range: the running hash, or NULL */
    char (*tensor_hex)[LB_SHA256_HEX];
    const uint8_t *buf;                /* chunk being hashed by the worker */
    uint64_t buf_off; size_t buf_len;
    pthread_mutex_t mu; pthread_cond_t cv;
    int have_work, quit, failed;
} pass;

static void hash_ranges(pass *p)
{
    uint64_t a = p->buf_off, b = a + p->buf_len;
    /* ranges are sorted and do not overlap; skip the finished ones */
    for (size_t i = p->next; i < p->nr && p->r[i].begin < b; i++) {
        range *r = &p->r[i];
        if (r->end <= a) continue;
        uint64_t s = r->begin > a ? r->begin : a, e = r->end < b ? r->end : b;
        if (!p->open[i] && !(p->open[i] = lb_sha256_new())) { p->failed = 1; return; }
        lb_sha256_update(p->open[i], p->buf + (s - a), (size_t)(e - s));
        if (r->end <= b) {
            lb_sha256_final_hex(p->open[i], p->tensor_hex[r->tensor]);
            lb_sha256_free(p->open[i]);
            p->open[i] = NULL;
        }
    }
    while (p->next < p->nr && p->r[p->next].end <= b) p->next++;
}

static void *worker(void *arg)
{
    pass *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->have_work && !p->quit) pthread_cond_wait(&p->cv, &p->mu);
        if (!p->have_work && p->quit) break;
        pthread_mutex_unlock(&p->mu);
        hash_ranges(p);
        pthread_mutex_lock(&p->mu);
        p->have_work = 0;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int cmp_range(const void *x, const void *y)
{
    const range *a = x, *b = y;
    return a->begin < b->begin ? -1 : a->begin > b->begin;
}

static int hash_file(lb_model *m, size_t fi, char *file_hex, char (*tensor_hex)[LB_SHA256_HEX],
                     void (*progress)(uint64_t, void *), void *ctx, uint64_t *done, lb_err *err)
{
    lb_src *s = m->files[fi].src;
    pass p = { 0 };
    p.tensor_hex = tensor_hex;
    p.r = malloc((m->n_tensors + 1) * sizeof *p.r);
    p.open = calloc(m->n_tensors + 1, sizeof *p.open);
    uint8_t *bufs[2] = { malloc(CHUNK), malloc(CHUNK) };
    lb_sha256 *fh = lb_sha256_new();
    if (!p.r || !p.open || !bufs[0] || !bufs[1] || !fh) {
        free(p.r); free(p.open); free(bufs[0]); free(bufs[1]); lb_sha256_free(fh);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    int direct = !(m->ops && m->ops->read);
    for (size_t k = 0; direct && k < m->n_tensors; k++) {
        const lb_tensor *t = &m->tensors[k];
        if (t->file != (int)fi) continue;
        if (t->nbytes == 0) { lb_sha256_hex("", 0, tensor_hex[k]); continue; }
        p.r[p.nr++] = (range){ t->offset, t->offset + t->nbytes, k };
    }
    qsort(p.r, p.nr, sizeof *p.r, cmp_range);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th;
    int threaded = pthread_create(&th, NULL, worker, &p) == 0;
    int rc = LB_OK, cur = 0;
    uint64_t size = lb_src_size(s);
    for (uint64_t off = 0; !rc && off < size; off += CHUNK, cur ^= 1) {
        size_t got;
        rc = lb_src_read_some(s, off, bufs[cur], CHUNK, &got, err);
        if (!rc && !got) rc = lb_err_set(err, LB_EIO, off, "file shrank while reading");
        if (rc) break;
        /* wait for the worker to finish the previous buffer, then hand it this one */
        pthread_mutex_lock(&p.mu);
        while (p.have_work) pthread_cond_wait(&p.cv, &p.mu);
        p.buf = bufs[cur]; p.buf_off = off; p.buf_len = got;
        if (threaded) { p.have_work = 1; pthread_cond_broadcast(&p.cv); }
        pthread_mutex_unlock(&p.mu);
        if (!threaded) hash_ranges(&p);
        lb_sha256_update(fh, bufs[cur], got);
        lb_src_done(s, off, got);
        *done += got;
        if (progress) progress(*done, ctx);
    }
    pthread_mutex_lock(&p.mu);
    while (p.have_work) pthread_cond_wait(&p.cv, &p.mu);
    p.quit = 1;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    if (threaded) pthread_join(th, NULL);
    if (!rc && p.failed) rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    if (!rc) lb_sha256_final_hex(fh, file_hex);
    for (size_t i = 0; i < p.nr; i++) lb_sha256_free(p.open[i]);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    free(p.r); free(p.open); free(bufs[0]); free(bufs[1]);
    lb_sha256_free(fh);
    return rc;
}

/* Tensors the format transforms on read: hash what lb_tensor_read gives. */
static int hash_tensor_read(lb_model *m, size_t k, char *hex, lb_err *err)
{
    const lb_tensor *t = &m->tensors[k];
    lb_sha256 *h = lb_sha256_new();
    uint8_t *buf = malloc(CHUNK);
    int rc = (!h || !buf) ? lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory") : LB_OK;
    for (uint64_t off = 0; !rc && off < t->nbytes; off += CHUNK) {
        size_t n = t->nbytes - off < CHUNK ? (size_t)(t->nbytes - off) : CHUNK;
        rc = lb_tensor_read(m, t, off, buf, n, err);
        if (!rc) lb_sha256_update(h, buf, n);
    }
    if (!rc) lb_sha256_final_hex(h, hex);
    lb_sha256_free(h);
    free(buf);
    return rc;
}

int lb_hash_model(lb_model *m, char (*file_hex)[LB_SHA256_HEX], char (*tensor_hex)[LB_SHA256_HEX],
                  void (*progress)(uint64_t done, void *ctx), void *ctx, lb_err *err)
{
    uint64_t done = 0;
    for (size_t k = 0; k < m->n_tensors; k++) tensor_hex[k][0] = 0;
    for (size_t fi = 0; fi < m->n_files; fi++)
        LB_TRY(hash_file(m, fi, file_hex[fi], tensor_hex, progress, ctx, &done, err));
    for (size_t k = 0; k < m->n_tensors; k++)
        if (!tensor_hex[k][0]) LB_TRY(hash_tensor_read(m, k, tensor_hex[k], err));
    return LB_OK;
}

static const lb_model *sort_model;   /* qsort has no context argument in C11 */

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(sort_model->tensors[*(const size_t *)a].name, sort_model->tensors[*(const size_t *)b].name);
}

void lb_model_digest(const lb_model *m, char (*tensor_hex)[LB_SHA256_HEX], char out[LB_SHA256_HEX])
{
    size_t *idx = malloc((m->n_tensors + 1) * sizeof *idx);
    lb_sha256 *h = lb_sha256_new();
    if (!idx || !h) { free(idx); lb_sha256_free(h); out[0] = 0; return; }
    for (size_t i = 0; i < m->n_tensors; i++) idx[i] = i;
    sort_model = m;
    qsort(idx, m->n_tensors, sizeof *idx, cmp_tensor_name);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[idx[i]];
        char rest[LB_MAX_DIMS * 22 + 100];   /* "\tdtype\td0,d1,...\tsha256\n" always fits */
        int k = snprintf(rest, sizeof rest, "\t%s\t", lb_type_get(t->type)->name);
        for (int d = 0; d < t->ndim; d++)
            k += snprintf(rest + k, sizeof rest - (size_t)k, "%s%llu", d ? "," : "", (unsigned long long)t->shape[d]);
        k += snprintf(rest + k, sizeof rest - (size_t)k, "\t%s\n", tensor_hex[idx[i]]);
        lb_sha256_update(h, t->name, strlen(t->name));
        lb_sha256_update(h, rest, (size_t)k);
    }
    lb_sha256_final_hex(h, out);
    lb_sha256_free(h);
    free(idx);
}
