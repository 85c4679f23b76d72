/* gguf_read.c: the GGUF v2/v3 reader (lb_gguf.h).
 *
 * On-disk layout (little-endian throughout; docs/formats-gguf.md has the long version):
 *   0   "GGUF"          magic
 *   4   u32 version     2 or 3 (1 and byte-swapped versions, i.e. big-endian files, refused)
 *   8   u64 n_tensors
 *   16  u64 n_kv
 *   24  n_kv times:     string key, u32 value type, value
 *                       (string = u64 length + bytes; array = u32 element type, u64 count,
 *                       elements, which may themselves be arrays)
 *   ..  n_tensors times: string name, u32 n_dims, u64 ne[n_dims] (innermost first),
 *                       u32 ggml type, u64 offset relative to the data section
 *   ..  zero padding up to a multiple of general.alignment (u32, default 32)
 *   ..  data section: each tensor at its (aligned) offset
 *
 * Every count and length is checked against the bytes left in the file before anything
 * is allocated for it, so a hostile header cannot make us allocate more than a small
 * multiple of the file's own size. */
#include "lb_gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"

#define GGUF_MAX_KEY      65535u                 /* the GGUF spec's key limit */
#define GGUF_MAX_STRING   (1ull << 30)           /* ggml's GGUF_MAX_STRING_LENGTH */
#define GGUF_MAX_ELEMS    (1ull << 30)           /* ggml's GGUF_MAX_ARRAY_ELEMENTS */
#define GGUF_MAX_DEPTH    8                      /* arrays of arrays of ... */
#define GGUF_MAX_DIMS     4
/* Smallest possible encodings, used to bound counts by the bytes left. */
#define GGUF_MIN_KV       (8 + 1 + 4 + 1)        /* key len + 1 byte key + type + u8 value */
#define GGUF_MIN_TINFO    (8 + 4 + 8 + 4 + 8)    /* name len + n_dims + one dim + type + offset */

/* ---- detection -------------------------------------------------------------------- */

int lb_gguf_bid(const uint8_t *head, size_t n, uint64_t size)
{
    (void)size;
    if (n < 4) return 0;
    /* "FUGG": the magic as an old big-endian writer stored it; bid so open() can say so */
    if (memcmp(head, "GGUF", 4) == 0 || memcmp(head, "FUGG", 4) == 0) return 100;
    return 0;
}

/* ---- small helpers ------------------------------------------------------------------ */

static void name_item(lb_err *err, const char *kind, const char *name)
{
    if (err && name) snprintf(err->item, sizeof err->item, "%s '%.120s'", kind, name);
}

static int valid_vtype(uint32_t t) { return t < LB_V_COUNT; }

/* Bytes the smallest value of type t takes on disk. */
static uint64_t min_size(uint32_t t)
{
    switch (t) {
    case LB_V_U8: case LB_V_I8: case LB_V_BOOL: return 1;
    case LB_V_U16: case LB_V_I16: return 2;
    case LB_V_U32: case LB_V_I32: case LB_V_F32: return 4;
    case LB_V_U64: case LB_V_I64: case LB_V_F64: case LB_V_STR: return 8;
    case LB_V_ARR: return 4 + 8;
    default: return 1;
    }
}

/* A string (u64 length + bytes). Keys and tensor names may not hold NUL bytes. */
static int read_str(lb_cur *c, char **s, uint64_t *len, uint64_t max, int no_nul, const char *what)
{
    uint64_t at = c->pos;
    LB_TRY(lb_cur_str64(c, s, len, max));
    if (no_nul && memchr(*s, 0, (size_t)*len)) {
        free(*s);
        *s = NULL;
        return lb_err_set(c->err, LB_EFORMAT, at, "%s contains a NUL byte", what);
    }
    return LB_OK;
}

/* ---- metadata values ---------------------------------------------------------------- */

static int read_value(lb_cur *c, uint32_t type, int depth, lb_value *v);

static int read_array(lb_cur *c, int depth, lb_value *v)
{
    uint64_t at = c->pos;
    uint32_t et;
    uint64_t n, need;
    LB_TRY(lb_cur_u32(c, &et));
    LB_TRY(lb_cur_u64(c, &n));
    if (!valid_vtype(et))
        return lb_err_set(c->err, LB_EFORMAT, at, "unknown array element type %u", et);
    if (et == LB_V_ARR && depth + 1 >= GGUF_MAX_DEPTH)
        return lb_err_set(c->err, LB_EFORMAT, at, "arrays nested more than %d deep", GGUF_MAX_DEPTH);
    if (n > GGUF_MAX_ELEMS)
        return lb_err_set(c->err, LB_EFORMAT, at, "array of %llu elements exceeds limit %llu",
                          (unsigned long long)n, (unsigned long long)GGUF_MAX_ELEMS);
    if (lb_mul64(n, min_size(et), &need) || need > lb_cur_left(c))
        return lb_err_set(c->err, LB_EFORMAT, at,
                          "array of %llu %s elements runs past end of file (%llu bytes left)",
                          (unsigned long long)n, lb_vtype_name((int)et),
                          (unsigned long long)lb_cur_left(c));
    v->type = LB_V_ARR;
    v->arr_type = (int)et;
    v->v.arr = calloc(n ? (size_t)n : 1, sizeof *v->v.arr);
    if (!v->v.arr) return lb_err_set(c->err, LB_EIO, at, "out of memory");
    /* all n now: unread elements are zeroed u8 values, so lb_value_free on an error frees
     * exactly what was read (a failed element is left in a freeable state too) */
    v->n = n;
    for (uint64_t i = 0; i < n; i++) LB_TRY(read_value(c, et, depth + 1, &v->v.arr[i]));
    return LB_OK;
}

static int read_value(lb_cur *c, uint32_t type, int depth, lb_value *v)
{
    uint8_t b[8];
    memset(v, 0, sizeof *v);
    v->type = (int)type;
    switch (type) {
    case LB_V_U8:   LB_TRY(lb_cur_bytes(c, b, 1)); v->v.u = b[0]; break;
    case LB_V_I8:   LB_TRY(lb_cur_bytes(c, b, 1)); v->v.i = (int8_t)b[0]; break;
    case LB_V_BOOL: LB_TRY(lb_cur_bytes(c, b, 1)); v->v.u = b[0] != 0; break;
    case LB_V_U16:  LB_TRY(lb_cur_bytes(c, b, 2)); v->v.u = lb_ld16(b); break;
    case LB_V_I16:  LB_TRY(lb_cur_bytes(c, b, 2)); v->v.i = (int16_t)lb_ld16(b); break;
    case LB_V_U32:  LB_TRY(lb_cur_bytes(c, b, 4)); v->v.u = lb_ld32(b); break;
    case LB_V_I32:  LB_TRY(lb_cur_bytes(c, b, 4)); v->v.i = (int32_t)lb_ld32(b); break;
    case LB_V_F32:  LB_TRY(lb_cur_bytes(c, b, 4)); v->v.f = lb_ldf32(b); break;
    case LB_V_U64:  LB_TRY(lb_cur_bytes(c, b, 8)); v->v.u = lb_ld64(b); break;
    case LB_V_I64:  LB_TRY(lb_cur_bytes(c, b, 8)); v->v.i = (int64_t)lb_ld64(b); break;
    case LB_V_F64:  LB_TRY(lb_cur_bytes(c, b, 8)); v->v.f = lb_ldf64(b); break;
    case LB_V_STR:  return lb_cur_str64(c, &v->v.s, &v->n, GGUF_MAX_STRING);
    case LB_V_ARR:  return read_array(c, depth, v);
    default:
        v->type = 0;
        return lb_err_set(c->err, LB_EFORMAT, c->pos, "unknown value type %u", type);
    }
    return LB_OK;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp((*(const lb_kv *const *)a)->key, (*(const lb_kv *const *)b)->key);
}

/* Duplicate keys, found by sorting; the error points at the later one (kv_at[i] is where
 * key i starts). */
static int check_keys(lb_model *m, const uint64_t *kv_at, lb_err *err)
{
    if (m->n_kv < 2) return LB_OK;
    const lb_kv **v = malloc(m->n_kv * sizeof *v);
    if (!v) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < m->n_kv; i++) v[i] = &m->kv[i];
    qsort(v, m->n_kv, sizeof *v, cmp_key);
    int rc = LB_OK;
    for (size_t i = 1; i < m->n_kv && !rc; i++)
        if (strcmp(v[i - 1]->key, v[i]->key) == 0) {
            size_t later = (size_t)((v[i] > v[i - 1] ? v[i] : v[i - 1]) - m->kv);
            rc = lb_err_item(err, LB_EFORMAT, "key", v[i]->key, kv_at[later], "duplicate key");
        }
    free(v);
    return rc;
}

static int read_kv(lb_model *m, lb_cur *c, uint64_t i)
{
    uint64_t at = c->pos, klen;
    char *key;
    c->what = "metadata key";
    LB_TRY(read_str(c, &key, &klen, GGUF_MAX_KEY, 1, "key"));
    if (klen == 0) {
        free(key);
        return lb_err_set(c->err, LB_EFORMAT, at, "metadata key %llu is empty", (unsigned long long)i);
    }
    uint32_t type;
    lb_value v;
    uint64_t vat = c->pos;
    c->what = "metadata value";
    int rc = lb_cur_u32(c, &type);
    if (!rc && !valid_vtype(type))
        rc = lb_err_set(c->err, LB_EFORMAT, vat, "unknown value type %u", type);
    if (!rc) {
        rc = read_value(c, type, 0, &v);
        if (rc) lb_value_free(&v);
    }
    if (!rc) rc = lb_model_add_kv(m, key, &v, c->err);
    if (rc) name_item(c->err, "key", key);
    free(key);
    return rc;
}

/* general.alignment: a u32, non-zero power of two (default 32). */
static int read_alignment(lb_model *m, const uint64_t *kv_at, lb_err *err)
{
    m->alignment = LB_GGUF_DEFAULT_ALIGNMENT;
    const lb_kv *kv = lb_model_kv(m, "general.alignment");
    if (!kv) return LB_OK;
    uint64_t at = kv_at[kv - m->kv];
    if (kv->val.type != LB_V_U32)
        return lb_err_item(err, LB_EFORMAT, "key", kv->key, at,
                           "must be of type u32, not %s", lb_vtype_name(kv->val.type));
    uint64_t a = kv->val.v.u;
    if (a == 0 || (a & (a - 1)))
        return lb_err_item(err, LB_EFORMAT, "key", kv->key, at,
                           "alignment %llu is not a non-zero power of two", (unsigned long long)a);
    m->alignment = a;
    return LB_OK;
}

static int read_kvs(lb_model *m, lb_cur *c, uint64_t n_kv)
{
    /* n_kv was bounded by the bytes left, so this is bounded by the file size */
    uint64_t *kv_at = malloc((n_kv ? (size_t)n_kv : 1) * sizeof *kv_at);
    if (!kv_at) return lb_err_set(c->err, LB_EIO, LB_NO_OFFSET, "out of memory");
    int rc = LB_OK;
    for (uint64_t i = 0; i < n_kv && !rc; i++) {
        kv_at[i] = c->pos;
        rc = read_kv(m, c, i);
    }
    if (!rc) rc = check_keys(m, kv_at, c->err);
    if (!rc) rc = read_alignment(m, kv_at, c->err);
    free(kv_at);
    return rc;
}


/* ---- tensor infos ---------------------------------------------------------------------- */

static int read_tinfo(lb_model *m, lb_cur *c, uint64_t *rel, uint64_t *info_at)
{
    uint64_t at = c->pos, nlen;
    char *name;
    c->what = "tensor info";
    *info_at = at;
    LB_TRY(read_str(c, &name, &nlen, 1u << 16, 1, "tensor name"));
    int rc = LB_OK;
    uint32_t nd = 0, type = 0;
    uint64_t ne[GGUF_MAX_DIMS], shape[GGUF_MAX_DIMS], n = 1;
    if (nlen > LB_GGUF_MAX_NAME)
        rc = lb_err_set(c->err, LB_EFORMAT, at, "name is %llu bytes (at most %d)",
                        (unsigned long long)nlen, LB_GGUF_MAX_NAME);
    uint64_t ndat = c->pos;
    if (!rc) rc = lb_cur_u32(c, &nd);
    if (!rc && (nd < 1 || nd > GGUF_MAX_DIMS))
        rc = lb_err_set(c->err, LB_EFORMAT, ndat, "%u dimensions (at least 1, at most %d)",
                        nd, GGUF_MAX_DIMS);
    for (uint32_t d = 0; !rc && d < nd; d++) {
        uint64_t dat = c->pos;
        rc = lb_cur_u64(c, &ne[d]);
        if (!rc && (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX))
            rc = lb_err_set(c->err, LB_EFORMAT, dat, "dimension %u is %llu (must be 1..2^63-1)",
                            d, (unsigned long long)ne[d]);
        if (!rc && (lb_mul64(n, ne[d], &n) || n > (uint64_t)INT64_MAX))
            rc = lb_err_set(c->err, LB_EFORMAT, dat, "element count overflows 63 bits");
    }
    uint64_t tat = c->pos;
    if (!rc) rc = lb_cur_u32(c, &type);
    const lb_type_traits *tt = NULL;
    if (!rc) {
        tt = type < (uint32_t)LB_GGML_TYPE_COUNT ? lb_type_get((int)type) : NULL;
        if (!tt || !tt->ggml)
            rc = lb_err_set(c->err, LB_EFORMAT, tat, "unknown ggml type %u", type);
    }
    uint64_t bytes = 0;
    if (!rc && ne[0] % tt->blck)
        rc = lb_err_set(c->err, LB_EFORMAT, tat,
                        "row of %llu elements is not a multiple of the %s block size %u",
                        (unsigned long long)ne[0], tt->name, tt->blck);
    if (!rc && lb_type_nbytes((int)type, n, &bytes))
        rc = lb_err_set(c->err, LB_EFORMAT, tat, "byte size of %llu %s elements overflows 64 bits",
                        (unsigned long long)n, tt->name);
    uint64_t oat = c->pos;
    if (!rc) rc = lb_cur_u64(c, rel);
    if (!rc && *rel % m->alignment)
        rc = lb_err_set(c->err, LB_EFORMAT, oat, "data offset %llu is not a multiple of the alignment %llu",
                        (unsigned long long)*rel, (unsigned long long)m->alignment);
    if (!rc) {
        for (uint32_t d = 0; d < nd; d++) shape[d] = ne[nd - 1 - d];
        rc = lb_model_add_tensor(m, name, (int)type, (int)nd, shape, *rel, 0, NULL, c->err);
    }
    if (rc) name_item(c->err, "tensor", name);
    free(name);
    return rc;
}

static int cmp_tname(const void *a, const void *b)
{
    return strcmp((*(const lb_tensor *const *)a)->name, (*(const lb_tensor *const *)b)->name);
}

/* Duplicate tensor names (as lb_model_check_names, but pointing at the later tensor info). */
static int check_tensor_names(lb_model *m, const uint64_t *info_at, lb_err *err)
{
    if (m->n_tensors < 2) return LB_OK;
    const lb_tensor **v = malloc(m->n_tensors * sizeof *v);
    if (!v) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < m->n_tensors; i++) v[i] = &m->tensors[i];
    qsort(v, m->n_tensors, sizeof *v, cmp_tname);
    int rc = LB_OK;
    for (size_t i = 1; i < m->n_tensors && !rc; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
            size_t later = (size_t)((v[i] > v[i - 1] ? v[i] : v[i - 1]) - m->tensors);
            rc = lb_err_item(err, LB_EFORMAT, "tensor", v[i]->name, info_at[later],
                             "duplicate tensor name");
        }
    free(v);
    return rc;
}

/* Turn relative offsets into absolute ones and check every tensor lies inside the file. */
static int place_tensors(lb_model *m, uint64_t data_start, const uint64_t *info_at, lb_err *err)
{
    uint64_t size = lb_src_size(m->files[0].src);
    for (size_t i = 0; i < m->n_tensors; i++) {
        lb_tensor *t = &m->tensors[i];
        uint64_t abs, end;
        if (lb_add64(data_start, t->offset, &abs) || lb_add64(abs, t->nbytes, &end))
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, info_at[i],
                               "data offset %llu + %llu bytes overflows",
                               (unsigned long long)t->offset, (unsigned long long)t->nbytes);
        if (end > size)
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, info_at[i],
                               "data [%llu, %llu) past end of file (%llu bytes)",
                               (unsigned long long)abs, (unsigned long long)end,
                               (unsigned long long)size);
        t->offset = abs;
    }
    LB_TRY(check_tensor_names(m, info_at, err));
    return lb_model_check_overlaps(m, err);
}

static int read_tinfos(lb_model *m, lb_cur *c, uint64_t n_t)
{
    /* n_t was bounded by the bytes left, so this allocation is bounded by the file size */
    uint64_t *info_at = malloc((n_t ? (size_t)n_t : 1) * sizeof *info_at);
    if (!info_at) return lb_err_set(c->err, LB_EIO, LB_NO_OFFSET, "out of memory");
    int rc = LB_OK;
    for (uint64_t i = 0; i < n_t && !rc; i++) {
        uint64_t rel;
        rc = read_tinfo(m, c, &rel, &info_at[i]);
    }
    uint64_t pos = c->pos, pad = pos % m->alignment ? m->alignment - pos % m->alignment : 0;
    if (!rc) {
        /* pos is at most the file size, so this cannot overflow for any sane alignment */
        if (lb_add64(pos, pad, &m->files[0].data_start))
            rc = lb_err_set(c->err, LB_EFORMAT, pos, "data section offset overflows");
    }
    if (!rc) rc = place_tensors(m, m->files[0].data_start, info_at, c->err);
    free(info_at);
    return rc;
}

/* ---- header ------------------------------------------------------------------------------ */

static uint32_t bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* A count of items each taking at least min bytes must fit in the bytes left: this bounds
 * every allocation made for the items by the file size. */
static int check_count(lb_cur *c, uint64_t n, uint64_t min, const char *what, const char *items,
                       uint64_t at)
{
    uint64_t need;
    if (lb_mul64(n, min, &need)) need = UINT64_MAX;
    if (need > lb_cur_left(c))
        return lb_err_set(c->err, LB_EFORMAT, at,
                          "%s %llu needs at least %llu bytes of %s, %llu left (truncated or corrupt)",
                          what, (unsigned long long)n, (unsigned long long)need, items,
                          (unsigned long long)lb_cur_left(c));
    return LB_OK;
}

static int read_header(lb_cur *c, uint32_t *version, uint64_t *n_t, uint64_t *n_kv)
{
    uint8_t magic[4];
    c->what = "header";
    LB_TRY(lb_cur_bytes(c, magic, 4));
    if (memcmp(magic, "FUGG", 4) == 0)
        return lb_err_set(c->err, LB_EFORMAT, 0, "big-endian GGUF is not supported");
    if (memcmp(magic, "GGUF", 4) != 0)
        return lb_err_set(c->err, LB_EFORMAT, 0, "bad magic (not a GGUF file)");
    LB_TRY(lb_cur_u32(c, version));
    uint32_t v = *version;
    if ((v & 0xffffu) == 0 && v && bswap32(v) < 0x10000u)
        return lb_err_set(c->err, LB_EFORMAT, 4,
                          "big-endian GGUF is not supported (version field reads %u, byte-swapped %u)",
                          v, bswap32(v));
    if (v == 1) return lb_err_set(c->err, LB_EFORMAT, 4, "GGUF version 1 is not supported");
    if (v != 2 && v != 3)
        return lb_err_set(c->err, LB_EFORMAT, 4, "GGUF version %u is not supported (only 2 and 3)", v);
    c->what = "header counts";
    LB_TRY(lb_cur_u64(c, n_t));
    LB_TRY(lb_cur_u64(c, n_kv));
    return check_count(c, *n_kv, GGUF_MIN_KV, "metadata count", "metadata", 16);
}

int lb_gguf_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    if (lb_model_add_file(m, path, src) < 0)
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    lb_cur c;
    LB_TRY(lb_cur_init(&c, src, 0, lb_src_size(src), err));
    uint64_t n_t, n_kv;
    int rc = read_header(&c, &m->version, &n_t, &n_kv);
    if (!rc) rc = read_kvs(m, &c, n_kv);
    if (!rc) rc = check_count(&c, n_t, GGUF_MIN_TINFO, "tensor count", "tensor infos", 8);
    if (!rc) rc = read_tinfos(m, &c, n_t);
    lb_cur_free(&c);
    return rc;
}

const lb_format lb_fmt_gguf = { "gguf", lb_gguf_bid, lb_gguf_open };
