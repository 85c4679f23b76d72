/* gguf_write.c: the GGUF v3 streaming writer (lb_gguf_writer_ops, lb_writer.h).
 *
 * What it writes, in order, with no seek (so the output may be a pipe):
 *   "GGUF", u32 3, u64 n_tensors, u64 n_kv,
 *   every kv in the order given (key string, u32 type, value; arrays nest),
 *   every tensor info (name, u32 n_dims, u64 ne[] innermost first, u32 ggml type,
 *   u64 offset planned by the driver, relative to the data section),
 *   zeros up to a multiple of the alignment (general.alignment if given, else 32), even
 *   with no tensors, as ggml's own writer does;
 *   then the driver streams the data, padding between tensors, and end() pads after the
 *   last one too, so the data section is a whole number of alignment units. */
#include "lb_gguf.h"
#include "lb_writer.h"

#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"

#define GGUF_WRITE_MAX_DEPTH 8      /* as the reader accepts */
#define GGUF_WRITE_MAX_KEY   65535u

static int can_store(const lb_wtensor *t, lb_err *err)
{
    const lb_type_traits *tt = lb_type_get(t->type);
    if (!tt || !tt->ggml)
        return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                           "type %s cannot be stored in GGUF", tt ? tt->name : "unknown");
    if (strlen(t->name) > LB_GGUF_MAX_NAME)
        return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                           "name is %zu bytes (GGUF allows at most %d)", strlen(t->name),
                           LB_GGUF_MAX_NAME);
    if (t->ndim < 1 || t->ndim > 4)
        return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                           "%d dimensions (GGUF stores 1 to 4)", t->ndim);
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] == 0 || t->shape[d] > (uint64_t)INT64_MAX)
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                               "dimension %d is %llu (must be 1..2^63-1)", d,
                               (unsigned long long)t->shape[d]);
    if (t->shape[t->ndim - 1] % tt->blck)
        return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                           "row of %llu elements is not a multiple of the %s block size %u",
                           (unsigned long long)t->shape[t->ndim - 1], tt->name, tt->blck);
    return LB_OK;
}

/* ---- kv checks ------------------------------------------------------------------------- */

static int check_value(const lb_kv *kv, const lb_value *v, int depth, lb_err *err)
{
    if (v->type < 0 || v->type >= LB_V_COUNT)
        return lb_err_item(err, LB_EFORMAT, "key", kv->key, LB_NO_OFFSET, "unknown value type %d", v->type);
    if (v->type != LB_V_ARR) return LB_OK;
    if (depth + 1 >= GGUF_WRITE_MAX_DEPTH)
        return lb_err_item(err, LB_EFORMAT, "key", kv->key, LB_NO_OFFSET,
                           "arrays nested more than %d deep", GGUF_WRITE_MAX_DEPTH);
    if (v->arr_type < 0 || v->arr_type >= LB_V_COUNT)
        return lb_err_item(err, LB_EFORMAT, "key", kv->key, LB_NO_OFFSET,
                           "unknown array element type %d", v->arr_type);
    for (uint64_t i = 0; i < v->n; i++) {
        if (v->v.arr[i].type != v->arr_type)
            return lb_err_item(err, LB_EFORMAT, "key", kv->key, LB_NO_OFFSET,
                               "array element %llu is %s in an array of %s",
                               (unsigned long long)i, lb_vtype_name(v->v.arr[i].type),
                               lb_vtype_name(v->arr_type));
        LB_TRY(check_value(kv, &v->v.arr[i], depth + 1, err));
    }
    return LB_OK;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp((*(const lb_kv *const *)a)->key, (*(const lb_kv *const *)b)->key);
}

static int check_kvs(const lb_writer *w, lb_err *err)
{
    for (size_t i = 0; i < w->n_kv; i++) {
        if (!w->kv[i].key[0])
            return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "metadata key %zu is empty", i);
        if (strlen(w->kv[i].key) > GGUF_WRITE_MAX_KEY)
            return lb_err_item(err, LB_EFORMAT, "key", w->kv[i].key, LB_NO_OFFSET,
                               "key is %zu bytes (GGUF allows at most %u)", strlen(w->kv[i].key),
                               GGUF_WRITE_MAX_KEY);
        LB_TRY(check_value(&w->kv[i], &w->kv[i].val, 0, err));
    }
    if (w->n_kv < 2) return LB_OK;
    const lb_kv **v = malloc(w->n_kv * sizeof *v);
    if (!v) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < w->n_kv; i++) v[i] = &w->kv[i];
    qsort(v, w->n_kv, sizeof *v, cmp_key);
    int rc = LB_OK;
    for (size_t i = 1; i < w->n_kv && !rc; i++)
        if (strcmp(v[i - 1]->key, v[i]->key) == 0)
            rc = lb_err_item(err, LB_EFORMAT, "key", v[i]->key, LB_NO_OFFSET, "duplicate key");
    free(v);
    return rc;
}

static int cmp_tname(const void *a, const void *b)
{
    return strcmp((*(const lb_wtensor *const *)a)->name, (*(const lb_wtensor *const *)b)->name);
}

/* Two tensors with one name would make a file no reader accepts. */
static int check_names(const lb_writer *w, lb_err *err)
{
    if (w->n_t < 2) return LB_OK;
    const lb_wtensor **v = malloc(w->n_t * sizeof *v);
    if (!v) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < w->n_t; i++) v[i] = &w->t[i];
    qsort(v, w->n_t, sizeof *v, cmp_tname);
    int rc = LB_OK;
    for (size_t i = 1; i < w->n_t && !rc; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0)
            rc = lb_err_item(err, LB_EFORMAT, "tensor", v[i]->name, LB_NO_OFFSET, "duplicate tensor name");
    free(v);
    return rc;
}

static int setup(lb_writer *w, lb_err *err)
{
    LB_TRY(check_names(w, err));
    LB_TRY(check_kvs(w, err));
    w->alignment = LB_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        const lb_kv *kv = &w->kv[i];
        if (strcmp(kv->key, "general.alignment") != 0) continue;
        if (kv->val.type != LB_V_U32)
            return lb_err_item(err, LB_EFORMAT, "key", kv->key, LB_NO_OFFSET,
                               "must be of type u32, not %s", lb_vtype_name(kv->val.type));
        uint64_t a = kv->val.v.u;
        if (a == 0 || a > UINT32_MAX || (a & (a - 1)))
            return lb_err_item(err, LB_EFORMAT, "key", kv->key, LB_NO_OFFSET,
                               "alignment %llu is not a non-zero power of two", (unsigned long long)a);
        w->alignment = a;
    }
    return LB_OK;
}

/* ---- header ------------------------------------------------------------------------------- */

static int put(lb_writer *w, const void *p, size_t n, lb_err *err) { return lb_out_write(w->out, p, n, err); }
static int put32(lb_writer *w, uint32_t v, lb_err *err) { uint8_t b[4]; lb_st32(b, v); return put(w, b, 4, err); }
static int put64(lb_writer *w, uint64_t v, lb_err *err) { uint8_t b[8]; lb_st64(b, v); return put(w, b, 8, err); }

static int put_str(lb_writer *w, const char *s, uint64_t n, lb_err *err)
{
    LB_TRY(put64(w, n, err));
    return put(w, s, (size_t)n, err);
}

/* The value's bytes (without its type tag). */
static int put_value(lb_writer *w, const lb_value *v, lb_err *err)
{
    uint8_t b[8];
    switch (v->type) {
    case LB_V_U8: case LB_V_I8: b[0] = (uint8_t)v->v.u; return put(w, b, 1, err);
    case LB_V_BOOL: b[0] = v->v.u != 0; return put(w, b, 1, err);
    case LB_V_U16: case LB_V_I16: lb_st16(b, (uint16_t)v->v.u); return put(w, b, 2, err);
    case LB_V_U32: case LB_V_I32: return put32(w, (uint32_t)v->v.u, err);
    case LB_V_U64: case LB_V_I64: return put64(w, v->v.u, err);
    case LB_V_F32: lb_stf32(b, (float)v->v.f); return put(w, b, 4, err);
    case LB_V_F64: lb_stf64(b, v->v.f); return put(w, b, 8, err);
    case LB_V_STR: return put_str(w, v->v.s, v->n, err);
    case LB_V_ARR:
        LB_TRY(put32(w, (uint32_t)v->arr_type, err));
        LB_TRY(put64(w, v->n, err));
        for (uint64_t i = 0; i < v->n; i++) LB_TRY(put_value(w, &v->v.arr[i], err));
        return LB_OK;
    }
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "unknown value type %d", v->type);
}

static int header(lb_writer *w, lb_err *err)
{
    uint64_t start = lb_out_tell(w->out);
    LB_TRY(put(w, "GGUF", 4, err));
    LB_TRY(put32(w, 3, err));
    LB_TRY(put64(w, w->n_t, err));
    LB_TRY(put64(w, w->n_kv, err));
    for (size_t i = 0; i < w->n_kv; i++) {
        const lb_kv *kv = &w->kv[i];
        LB_TRY(put_str(w, kv->key, strlen(kv->key), err));
        LB_TRY(put32(w, (uint32_t)kv->val.type, err));
        w->kv_value_offset[i] = lb_out_tell(w->out);
        LB_TRY(put_value(w, &kv->val, err));
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const lb_wtensor *t = &w->t[i];
        LB_TRY(put_str(w, t->name, strlen(t->name), err));
        LB_TRY(put32(w, (uint32_t)t->ndim, err));
        for (int d = t->ndim - 1; d >= 0; d--) LB_TRY(put64(w, t->shape[d], err));
        LB_TRY(put32(w, (uint32_t)t->type, err));
        LB_TRY(put64(w, w->offset[i], err));
    }
    uint64_t len = lb_out_tell(w->out) - start;
    if (len % w->alignment) LB_TRY(lb_out_zeros(w->out, w->alignment - len % w->alignment, err));
    w->data_start = lb_out_tell(w->out);
    return LB_OK;
}

/* Pad the data section to a multiple of the alignment after the last tensor too: ggml's
 * gguf_init_from_file with no_alloc=false reads the data blob as the sum of the padded
 * tensor sizes and refuses a file that stops at the last tensor's final byte. */
static int end(lb_writer *w, lb_err *err)
{
    if (!w->n_t) return LB_OK;
    uint64_t len = w->offset[w->n_t - 1] + w->nbytes[w->n_t - 1];
    if (len % w->alignment) LB_TRY(lb_out_zeros(w->out, w->alignment - len % w->alignment, err));
    return LB_OK;
}

const lb_writer_ops lb_gguf_writer_ops = { "gguf", can_store, setup, header, end };
