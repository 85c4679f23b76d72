/* pytorch.c: torch.save checkpoints (zip and legacy) behind the reader interface.
 *
 * Layouts are in lb_pytorch.h and docs/formats-pytorch.md. The pickles are run by the
 * restricted machine (pickle.c): nothing is imported or called. Each distinct storage key
 * of a file becomes one pt_store (where its bytes are); each tensor a pt_view of a store
 * (element offset, strides). Memory: pickles are read with a cap (LB_PT_MAX_PICKLE); a
 * storage is held in memory only when deflated or read through a strided view, at most
 * LB_PT_MAX_CACHE bytes at a time; everything else is pread in place. */
#include "lb_pytorch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_pickle.h"
#include "lb_safetensors.h"
#include "lb_zip.h"

static const uint8_t LEGACY_MAGIC[10] = { 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19 };

/* ---- private state ------------------------------------------------------------ */

typedef struct pt_store {
    int      file;
    uint64_t off;               /* absolute offset of the bytes in place (stored entries, legacy) */
    uint64_t nbytes;            /* bytes the storage holds */
    lb_zip  *z;                 /* deflated entry: read through the zip reader */
    const lb_zip_entry *ze;
    uint8_t *mem;               /* cached copy, or NULL */
} pt_store;

typedef struct pt_view {
    size_t   store;
    uint64_t soff;              /* elements from the start of the storage */
    int64_t  stride[LB_MAX_DIMS];
    int      contiguous;
} pt_view;

typedef struct pt_priv {
    pt_store *st; size_t n_st, cap_st;
    lb_zip  **zips; size_t n_zips;
    uint64_t cached;            /* bytes held in pt_store.mem */
} pt_priv;

static void pt_free_priv(lb_model *m)
{
    pt_priv *p = m->priv;
    if (!p) return;
    for (size_t i = 0; i < p->n_st; i++) free(p->st[i].mem);
    for (size_t i = 0; i < p->n_zips; i++) lb_zip_close(p->zips[i]);
    free(p->st);
    free(p->zips);
    free(p);
    m->priv = NULL;
}

static void pt_free_tensor(lb_tensor *t)
{
    free(t->fmt);
    t->fmt = NULL;
}

static int pt_read(lb_model *m, const lb_tensor *t, uint64_t off, void *buf, size_t n, lb_err *err);

static const lb_model_ops pt_ops = { pt_read, pt_free_priv, pt_free_tensor };

static pt_priv *priv_get(lb_model *m)
{
    if (!m->priv) {
        m->priv = calloc(1, sizeof(pt_priv));
        if (m->priv) m->ops = &pt_ops;
    }
    return m->priv;
}

static int oom(lb_err *err) { return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }

/* ---- reading storages ------------------------------------------------------------- */

/* Hold store s in memory, dropping other cached stores if the total would pass the cap. */
static int store_cache(lb_model *m, pt_store *s, lb_err *err)
{
    pt_priv *p = m->priv;
    if (s->mem) return LB_OK;
    if (s->nbytes > LB_PT_MAX_CACHE)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET,
                          "deflated storage of %llu bytes is more than the %llu bytes lowbit inflates in memory "
                          "(re-save the checkpoint uncompressed)", (unsigned long long)s->nbytes,
                          (unsigned long long)LB_PT_MAX_CACHE);
    if (p->cached + s->nbytes > LB_PT_MAX_CACHE)
        for (size_t i = 0; i < p->n_st; i++)
            if (p->st[i].mem) { free(p->st[i].mem); p->st[i].mem = NULL; p->cached -= p->st[i].nbytes; }
    if (s->ze && s->ze->method != 0) {
        uint8_t *d = NULL;
        size_t len = 0;
        LB_TRY(lb_zip_read(s->z, s->ze, s->nbytes, &d, &len, err));
        if (len < s->nbytes) {
            free(d);
            return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "storage entry '%.200s' shrank while reading", s->ze->name);
        }
        s->mem = d;
    } else {
        s->mem = malloc(s->nbytes ? (size_t)s->nbytes : 1);
        if (!s->mem) return oom(err);
        int rc = lb_src_read(m->files[s->file].src, s->off, s->mem, (size_t)s->nbytes, err);
        if (rc) { free(s->mem); s->mem = NULL; return rc; }
    }
    p->cached += s->nbytes;
    return LB_OK;
}

/* n bytes at byte o of a storage (bounds checked when the tensor was added). */
static int store_read(lb_model *m, pt_store *s, uint64_t o, void *buf, size_t n, lb_err *err)
{
    if (!s->mem && s->ze && s->ze->method != 0) LB_TRY(store_cache(m, s, err));
    if (s->mem) { memcpy(buf, s->mem + o, n); return LB_OK; }
    return lb_src_read(m->files[s->file].src, s->off + o, buf, n, err);
}

/* Bytes [off, off+n) of the C-order tensor. Contiguous views are one storage read; strided
 * views are gathered by runs along the last dimension when its stride is 1, element by
 * element otherwise (from memory when the storage fits the cache). */
static int pt_read(lb_model *m, const lb_tensor *t, uint64_t off, void *buf, size_t n, lb_err *err)
{
    pt_priv *p = m->priv;
    const pt_view *v = t->fmt;
    pt_store *s = &p->st[v->store];
    uint64_t es = lb_type_get(t->type)->type_size;
    int rc = LB_OK;
    if (v->contiguous || n == 0) {
        rc = store_read(m, s, v->soff * es + off, buf, n, err);
    } else {
        if (!s->mem && s->nbytes <= LB_PT_MAX_CACHE) rc = store_cache(m, s, err);
        int nd = t->ndim;
        uint64_t end = off + n, e = off / es;
        while (!rc && e * es < end) {
            uint64_t rem = e, pos = v->soff, idx_last = 0;
            for (int d = nd - 1; d >= 0; d--) {
                uint64_t i = rem % t->shape[d];
                rem /= t->shape[d];
                if (d == nd - 1) idx_last = i;
                pos += i * (uint64_t)v->stride[d];
            }
            uint64_t run = 1;
            if (nd > 0 && v->stride[nd - 1] == 1) run = t->shape[nd - 1] - idx_last;
            uint64_t lo = e * es, hi = (e + run) * es;
            if (lo < off) lo = off;
            if (hi > end) hi = end;
            rc = store_read(m, s, pos * es + (lo - e * es), (uint8_t *)buf + (lo - off), (size_t)(hi - lo), err);
            e += run;
        }
    }
    if (rc && err) snprintf(err->item, sizeof err->item, "tensor '%.120s'", t->name);
    return rc;
}

/* ---- adding tensors --------------------------------------------------------------- */

/* Small open-addressing map from storage key to store index, for one file. */
typedef struct key_map { const char **k; size_t *v; size_t cap; } key_map;

static size_t key_hash(const char *s)
{
    size_t h = 1469598103u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static int map_init(key_map *km, size_t n)
{
    km->cap = 16;
    while (km->cap < 2 * n + 2) km->cap *= 2;
    km->k = calloc(km->cap, sizeof *km->k);
    km->v = calloc(km->cap, sizeof *km->v);
    return km->k && km->v ? 0 : -1;
}

static void map_free(key_map *km) { free(km->k); free(km->v); }

/* Slot of key: found (km->k[slot] != NULL) or the empty slot to put it in. */
static size_t map_slot(const key_map *km, const char *key)
{
    size_t i = key_hash(key) & (km->cap - 1);
    while (km->k[i] && strcmp(km->k[i], key)) i = (i + 1) & (km->cap - 1);
    return i;
}

static int store_new(pt_priv *p, const pt_store *s, size_t *idx)
{
    if (p->n_st == p->cap_st) {
        size_t nc = p->cap_st ? p->cap_st * 2 : 16;
        pt_store *x = realloc(p->st, nc * sizeof *x);
        if (!x) return -1;
        p->st = x;
        p->cap_st = nc;
    }
    p->st[p->n_st] = *s;
    *idx = p->n_st++;
    return 0;
}

/* Where a storage's bytes are: for zips, the entry; for legacy files, an offset table. */
typedef struct pt_src {
    lb_zip     *z;              /* zip, or NULL (legacy) */
    const char *prefix;         /* zip: "archive/" */
    const char **keys;          /* legacy: storage keys in file order */
    uint64_t   *offs, *sizes;   /* legacy: data offset and bytes per key */
    size_t      n_keys;
} pt_src;

static int locate(lb_model *m, int fi, const pt_src *ps, const lb_pk_tensor *t, pt_store *s, lb_err *err)
{
    memset(s, 0, sizeof *s);
    s->file = fi;
    if (ps->z) {
        char name[1024];
        if ((size_t)snprintf(name, sizeof name, "%sdata/%s", ps->prefix, t->storage_key) >= sizeof name)
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "storage key too long");
        const lb_zip_entry *e = lb_zip_find(ps->z, name);
        if (!e)
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                               "storage entry '%.200s' is missing from the zip", name);
        if (e->method != 0 && e->method != 8)
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                               "storage entry '%.200s' uses zip method %u (only stored and deflated are read)",
                               name, e->method);
        s->nbytes = e->usize;
        s->off = e->data_offset;
        if (e->method == 0 && e->csize != e->usize)
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                               "stored entry '%.200s' has different sizes", name);
        s->z = ps->z;
        s->ze = e;
        (void)m;
        return LB_OK;
    }
    for (size_t i = 0; i < ps->n_keys; i++)
        if (!strcmp(ps->keys[i], t->storage_key)) {
            s->off = ps->offs[i];
            s->nbytes = ps->sizes[i];
            return LB_OK;
        }
    return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                       "storage '%.100s' is not in the file's storage key list", t->storage_key);
}

/* One lb_tensor per descriptor; storages shared by several tensors are one store. */
static int add_all(lb_model *m, int fi, const pt_src *ps, const lb_pk_tensor *t, size_t nt, lb_err *err)
{
    pt_priv *p = priv_get(m);
    key_map km;
    if (!p || map_init(&km, nt)) { if (p) map_free(&km); return oom(err); }
    int rc = LB_OK;
    for (size_t i = 0; i < nt && !rc; i++) {
        const lb_type_traits *tt = lb_type_get(t[i].type);
        if (!tt || tt->blck != 1) {
            rc = lb_err_item(err, LB_EFORMAT, "tensor", t[i].name, LB_NO_OFFSET, "storage class '%.60s' has no plain type",
                             t[i].storage_cls ? t[i].storage_cls : "?");
            break;
        }
        size_t slot = map_slot(&km, t[i].storage_key), si;
        if (km.k[slot]) {
            si = km.v[slot];
        } else {
            pt_store s;
            if ((rc = locate(m, fi, ps, &t[i], &s, err))) break;
            if (store_new(p, &s, &si)) { rc = oom(err); break; }
            km.k[slot] = t[i].storage_key;
            km.v[slot] = si;
        }
        /* the pickle checked the view against the storage's declared numel; check that
         * the bytes are really there */
        uint64_t need;
        if (lb_mul64(t[i].storage_numel, tt->type_size, &need) || need > p->st[si].nbytes) {
            rc = lb_err_item(err, LB_EFORMAT, "tensor", t[i].name, LB_NO_OFFSET,
                             "storage '%.100s' holds %llu bytes, shorter than the %llu elements of %s its tensors need",
                             t[i].storage_key, (unsigned long long)p->st[si].nbytes,
                             (unsigned long long)t[i].storage_numel, tt->name);
            break;
        }
        pt_view *v = calloc(1, sizeof *v);
        if (!v) { rc = oom(err); break; }
        v->store = si;
        v->soff = t[i].storage_offset;
        v->contiguous = t[i].contiguous;
        memcpy(v->stride, t[i].stride, sizeof v->stride);
        lb_tensor *lt;
        const char *name = t[i].name[0] ? t[i].name : "tensor";
        rc = lb_model_add_tensor(m, name, t[i].type, t[i].ndim, t[i].shape, p->st[si].off + v->soff * tt->type_size,
                                 fi, &lt, err);
        if (rc) { free(v); break; }
        lt->fmt = v;
    }
    map_free(&km);
    return rc;
}

/* ---- zip checkpoints ------------------------------------------------------------------ */

static int keep_zip(lb_model *m, lb_zip *z, lb_err *err)
{
    pt_priv *p = priv_get(m);
    lb_zip **x = p ? realloc(p->zips, (p->n_zips + 1) * sizeof *x) : NULL;
    if (!x) { lb_zip_close(z); return oom(err); }
    p->zips = x;
    x[p->n_zips++] = z;
    return LB_OK;
}

static int name_pickle_entry(lb_err *err, int rc, const char *entry)
{
    if (rc && err && !err->item[0]) snprintf(err->item, sizeof err->item, "entry '%.140s'", entry);
    return rc;
}

/* A zip with no data.pkl: a pickle stored under another name is still run (load mode)
 * so that a dangerous one is refused by name; otherwise the zip is not a checkpoint. */
static int zip_without_pickle(lb_zip *z, lb_err *err)
{
    for (size_t i = 0; i < lb_zip_count(z); i++) {
        const lb_zip_entry *e = lb_zip_entry_at(z, i);
        if (e->usize < 2 || e->usize > (16u << 20)) continue;
        uint8_t *d = NULL;
        size_t n = 0;
        lb_err tmp;
        if (lb_zip_read(z, e, 16u << 20, &d, &n, &tmp)) continue;
        lb_pickle *pk = NULL;
        int rc = (d[0] == 0x80 && d[1] <= 5) ? lb_pickle_load(&pk, d, n, 0, NULL, &tmp) : LB_OK;
        lb_pickle_free(pk);
        free(d);
        if (rc && !strncmp(tmp.msg, "refusing to load: ", 18)) {
            *err = tmp;
            return name_pickle_entry(err, rc, e->name);
        }
    }
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "zip archive with no data.pkl entry (not a PyTorch checkpoint)");
}

static int check_byteorder(lb_zip *z, const char *prefix, lb_err *err)
{
    char name[1024];
    snprintf(name, sizeof name, "%sbyteorder", prefix);
    const lb_zip_entry *e = lb_zip_find(z, name);
    if (!e) return LB_OK;   /* written since torch 1.10; older files are little-endian */
    uint8_t *d = NULL;
    size_t n = 0;
    LB_TRY(lb_zip_read(z, e, 64, &d, &n, err));
    int little = n == 6 && !memcmp(d, "little", 6), big = n == 3 && !memcmp(d, "big", 3);
    free(d);
    if (big)
        return lb_err_item(err, LB_EFORMAT, "entry", name, LB_NO_OFFSET,
                           "big-endian checkpoint (byteorder 'big') is not supported: re-save it on a little-endian machine");
    if (!little)
        return lb_err_item(err, LB_EFORMAT, "entry", name, LB_NO_OFFSET, "byteorder is neither 'little' nor 'big'");
    return LB_OK;
}

static int zip_file(lb_model *m, int fi, lb_err *err)
{
    lb_zip *z = NULL;
    /* what torch.load reads: it ignores the encrypted bit and uses central-directory names */
    LB_TRY(lb_zip_open_src(&z, m->files[fi].src, LB_ZIP_ALLOW_ENCRYPTED_FLAG | LB_ZIP_ALLOW_NAME_MISMATCH, err));
    LB_TRY(keep_zip(m, z, err));
    const lb_zip_entry *pk = NULL;
    LB_TRY(lb_zip_find_suffix(z, "data.pkl", &pk, err));
    if (!pk) return zip_without_pickle(z, err);
    char prefix[512];
    size_t pl = strlen(pk->name) - strlen("data.pkl");
    if (pl >= sizeof prefix) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "entry name too long");
    memcpy(prefix, pk->name, pl);
    prefix[pl] = 0;
    LB_TRY(check_byteorder(z, prefix, err));
    uint8_t *d = NULL;
    size_t n = 0;
    LB_TRY(name_pickle_entry(err, lb_zip_read(z, pk, LB_PT_MAX_PICKLE, &d, &n, err), pk->name));
    lb_pickle_opts o;
    lb_pickle_opts_default(&o);
    if (pk->method == 0) o.base = pk->data_offset;   /* offsets in messages are file offsets */
    lb_pickle *p = NULL;
    int rc = lb_pickle_load(&p, d, n, 0, &o, err);
    lb_pk_tensor *t = NULL;
    size_t nt = 0;
    if (!rc) rc = lb_pickle_tensors(p, &t, &nt, err);
    if (!rc) {
        pt_src ps = { .z = z, .prefix = prefix };
        rc = add_all(m, fi, &ps, t, nt, err);
    }
    free(t);
    lb_pickle_free(p);
    free(d);
    return rc;
}

/* ---- legacy checkpoints --------------------------------------------------------------- */

/* The pickles at the head of a legacy file, read into a buffer that grows (x4) up to
 * LB_PT_MAX_PICKLE while a pickle runs past its end. */
typedef struct pt_head { lb_src *src; uint8_t *buf; size_t len; uint64_t size; } pt_head;

static int head_load(pt_head *h, size_t pos, lb_pickle **out, lb_err *err)
{
    for (;;) {
        lb_err e;
        lb_err_clear(&e);
        int rc = lb_pickle_load(out, h->buf, h->len, pos, NULL, &e);
        if (!rc) return LB_OK;
        uint64_t cap = h->size < LB_PT_MAX_PICKLE ? h->size : LB_PT_MAX_PICKLE;
        if (!strstr(e.msg, "truncated") || h->len >= cap) {
            *err = e;
            if (strstr(e.msg, "truncated") && h->len < h->size)
                return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "pickle is longer than the %llu bytes lowbit reads",
                                  (unsigned long long)LB_PT_MAX_PICKLE);
            return rc;
        }
        uint64_t nl = (uint64_t)h->len * 4;
        if (nl > cap) nl = cap;
        uint8_t *b = realloc(h->buf, (size_t)nl);
        if (!b) return oom(err);
        h->buf = b;
        LB_TRY(lb_src_read(h->src, h->len, b + h->len, (size_t)(nl - h->len), err));
        h->len = (size_t)nl;
    }
}

/* Not a legacy checkpoint: run every pickle in the stream so that a dangerous one is
 * refused by name, then say what it is. */
static int plain_pickle(pt_head *h, lb_pickle *first, lb_err *err)
{
    size_t pos = (size_t)first->end;
    int k = 1;
    while (pos < h->len && k < 64) {
        lb_pickle *p = NULL;
        int rc = head_load(h, pos, &p, err);
        if (rc) {
            if (!strncmp(err->msg, "refusing to load: ", 18)) return rc;
            break;   /* trailing bytes that are not a pickle */
        }
        pos = (size_t)p->end;
        lb_pickle_free(p);
        k++;
    }
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET,
                      "Python pickle, not a PyTorch checkpoint (no torch magic number; %d pickle%s, no tensor data)",
                      k, k == 1 ? "" : "s");
}

static int legacy_layout(lb_model *m, int fi, pt_head *h, lb_pickle *obj, lb_pickle *keys, lb_err *err)
{
    lb_pk_tensor *t = NULL;
    size_t nt = 0;
    LB_TRY(lb_pickle_tensors(obj, &t, &nt, err));
    const lb_pk_node *kl = keys->root;
    int rc = LB_OK;
    if (!kl || kl->kind != LB_PK_LIST) {
        free(t);
        return lb_err_set(err, LB_EFORMAT, keys->start, "legacy storage key list is not a list");
    }
    size_t nk = (size_t)kl->v.seq.n;
    pt_src ps = { .n_keys = nk };
    ps.keys = calloc(nk + 1, sizeof *ps.keys);
    ps.offs = calloc(nk + 1, sizeof *ps.offs);
    ps.sizes = calloc(nk + 1, sizeof *ps.sizes);
    if (!ps.keys || !ps.offs || !ps.sizes) rc = oom(err);
    uint64_t pos = keys->end, size = h->size;
    for (size_t i = 0; i < nk && !rc; i++) {
        const lb_pk_node *k = kl->v.seq.items[i];
        if (!k || k->kind != LB_PK_STR || !k->v.s.p) { rc = lb_err_set(err, LB_EFORMAT, keys->start, "storage key %zu is not a string", i); break; }
        ps.keys[i] = k->v.s.p;
        /* the element size comes from the tensors that use the storage */
        int type = -1;
        for (size_t j = 0; j < nt && type < 0; j++) if (!strcmp(t[j].storage_key, ps.keys[i])) type = t[j].type;
        if (type < 0 || !lb_type_get(type)) {
            rc = lb_err_item(err, LB_EFORMAT, "storage", ps.keys[i], pos,
                             "no tensor of the state dict uses it, so its element size is unknown");
            break;
        }
        uint8_t b8[8];
        uint64_t numel, bytes, end;
        if (pos + 8 > size) {
            rc = lb_err_item(err, LB_EFORMAT, "storage", ps.keys[i], pos, "truncated: element count past end of file");
            break;
        }
        if ((rc = lb_src_read(h->src, pos, b8, 8, err))) break;
        numel = lb_ld64(b8);
        if (lb_mul64(numel, lb_type_get(type)->type_size, &bytes) || lb_add64(pos + 8, bytes, &end) || end > size) {
            rc = lb_err_item(err, LB_EFORMAT, "storage", ps.keys[i], pos,
                             "truncated: %llu elements of %s run past the end of the file (%llu bytes)",
                             (unsigned long long)numel, lb_type_get(type)->name, (unsigned long long)size);
            break;
        }
        ps.offs[i] = pos + 8;
        ps.sizes[i] = bytes;
        pos = end;
    }
    if (!rc) rc = add_all(m, fi, &ps, t, nt, err);
    free(ps.keys);
    free(ps.offs);
    free(ps.sizes);
    free(t);
    return rc;
}

static int legacy_file(lb_model *m, int fi, lb_err *err)
{
    pt_head h = { .src = m->files[fi].src, .size = lb_src_size(m->files[fi].src) };
    h.len = (size_t)(h.size < (1u << 20) ? h.size : (1u << 20));
    h.buf = malloc(h.len ? h.len : 1);
    if (!h.buf) return oom(err);
    int rc = lb_src_read(h.src, 0, h.buf, h.len, err);
    lb_pickle *p[5] = { 0 };
    size_t pos = 0;
    for (int i = 0; i < 5 && !rc; i++) {
        rc = head_load(&h, pos, &p[i], err);
        if (rc) break;
        pos = (size_t)p[i]->end;
        if (i == 0) {
            const lb_pk_node *r = p[0]->root;
            if (!r || r->kind != LB_PK_BIGINT || r->v.s.n != 10 || memcmp(r->v.s.p, LEGACY_MAGIC, 10)) {
                rc = plain_pickle(&h, p[0], err);
                break;
            }
        } else if (i == 1) {
            int64_t proto;
            if (lb_pk_int(p[1]->root, &proto) || proto != 1001)
                rc = lb_err_set(err, LB_EFORMAT, p[1]->start, "legacy protocol version is not 1001");
        } else if (i == 2) {
            const lb_pk_node *le = lb_pk_dict_get(p[2]->root, "little_endian");
            int64_t v;
            if (le && !lb_pk_int(le, &v) && v == 0)
                rc = lb_err_set(err, LB_EFORMAT, p[2]->start,
                                "big-endian checkpoint (sys_info little_endian False) is not supported");
        }
    }
    if (!rc) rc = legacy_layout(m, fi, &h, p[3], p[4], err);
    for (int i = 0; i < 5; i++) lb_pickle_free(p[i]);
    free(h.buf);
    return rc;
}

/* ---- formats ------------------------------------------------------------------------------ */

static int read_shard(lb_model *m, int fi, lb_err *err)
{
    uint8_t head[4];
    size_t got;
    LB_TRY(lb_src_read_some(m->files[fi].src, 0, head, sizeof head, &got, err));
    if (!priv_get(m)) return oom(err);
    if (got == 4 && !memcmp(head, "PK\3\4", 4)) return zip_file(m, fi, err);
    return legacy_file(m, fi, err);
}

static int ends_with(const uint8_t *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && !memcmp(s + n - k, suf, k);
}

/* A zip whose local headers (those in the head) name a .pkl entry: 80, above npz (60).
 * Any other zip not taken by npz: 15, so that a pickle under another name is still run
 * and refused by name (a more specific archive reader outbids it). */
int lb_pytorch_bid(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    if (n < 30 || memcmp(h, "PK\3\4", 4)) return 0;
    size_t at = 0;
    while (at + 30 <= n && !memcmp(h + at, "PK\3\4", 4)) {
        size_t nl = lb_ld16(h + at + 26), xl = lb_ld16(h + at + 28);
        if (at + 30 + nl > n) break;
        if (ends_with(h + at + 30, nl, ".pkl")) return 80;
        if (lb_ld16(h + at + 6) & 8) break;   /* sizes in a data descriptor: cannot step over */
        at += 30 + nl + xl + lb_ld32(h + at + 18);
    }
    return 15;
}

/* Legacy magic: 90. Any other pickle (protocol 2+ PROTO opcode, or a protocol 0 stream
 * that opens with GLOBAL "c<module>\n<name>\n" or a text string "V...\n"): 10, so that it
 * is run in load mode and a dangerous one is refused by name. */
int lb_pytorch_legacy_bid(const uint8_t *h, size_t n, uint64_t size)
{
    static const uint8_t pre[4] = { 0x80, 0x02, 0x8a, 0x0a };
    if (n >= 14 && !memcmp(h, pre, 4) && !memcmp(h + 4, LEGACY_MAGIC, 10)) return 90;
    if (n >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5) return 10;
    /* a text pickle (protocol 0) ends with STOP '.': when the whole file is in view, a
     * text file that merely starts like one ("cat\ndog\n...") is not taken */
    if (n >= 4 && (h[0] == 'c' || h[0] == 'V') && (size > n || h[n - 1] == '.')) {
        size_t i = 1, lines = 0;
        for (; i < n && i < 256 && lines < (h[0] == 'c' ? 2u : 1u); i++) {
            if (h[i] == '\n') { lines++; continue; }
            if (h[0] == 'c' && !(h[i] == '_' || h[i] == '.' || (h[i] >= '0' && h[i] <= '9') ||
                                 ((h[i] | 32) >= 'a' && (h[i] | 32) <= 'z')))
                return 0;
        }
        if (lines == (h[0] == 'c' ? 2u : 1u) && (h[0] == 'c' || (i + 1 < n && (h[i] == 'p' || h[i] == '0'))))
            return 5;
    }
    return 0;
}

static int open_one(lb_model *m, lb_src *src, const char *path, int zip, lb_err *err)
{
    int fi = lb_model_add_file(m, path, src);
    if (fi < 0) return oom(err);
    if (!priv_get(m)) return oom(err);
    LB_TRY(zip ? zip_file(m, fi, err) : legacy_file(m, fi, err));
    return lb_model_check_names(m, err);
}

int lb_pytorch_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    return open_one(m, src, path, 1, err);
}

int lb_pytorch_legacy_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    return open_one(m, src, path, 0, err);
}

int lb_pytorch_open_index(lb_model *m, const char *index_path, lb_err *err)
{
    if (!priv_get(m)) return oom(err);
    return lb_index_open(m, index_path, read_shard, err);
}

const lb_format lb_fmt_pytorch = { "pytorch", lb_pytorch_bid, lb_pytorch_open };
const lb_format lb_fmt_pytorch_legacy = { "pytorch-legacy", lb_pytorch_legacy_bid, lb_pytorch_legacy_open };
