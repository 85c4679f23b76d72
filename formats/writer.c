/* writer.c: the streaming writer driver shared by every output format (lb_writer.h). */
#include "lb_writer.h"

#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"

const lb_writer_ops *lb_writer_find(const char *format)
{
    if (strcmp(format, "gguf") == 0) return &lb_gguf_writer_ops;
    if (strcmp(format, "safetensors") == 0) return &lb_safetensors_writer_ops;
    return NULL;
}

void lb_writer_abort(lb_writer *w)
{
    if (!w) return;
    free(w->t);
    free(w->offset);
    free(w->nbytes);
    free(w->kv_value_offset);
    free(w);
}

static int plan(lb_writer *w, lb_err *err)
{
    uint64_t at = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const lb_wtensor *t = &w->t[i];
        uint64_t n = 1;
        for (int d = 0; d < t->ndim; d++)
            if (lb_mul64(n, t->shape[d], &n))
                return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "element count overflows");
        if (lb_type_nbytes(t->type, n, &w->nbytes[i]))
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                               "size cannot be computed for type %d and this shape", t->type);
        w->offset[i] = at;
        if (lb_add64(at, w->nbytes[i], &at))
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "data size overflows");
        if (w->alignment > 1 && i + 1 < w->n_t && at % w->alignment)
            at += w->alignment - at % w->alignment;
    }
    return LB_OK;
}

int lb_writer_begin(lb_writer **wp, const lb_writer_ops *ops, lb_out *out, const lb_kv *kv,
                    size_t n_kv, const lb_wtensor *t, size_t n_t, lb_err *err)
{
    *wp = NULL;
    for (size_t i = 0; i < n_t; i++) LB_TRY(ops->can_store(&t[i], err));
    lb_writer *w = calloc(1, sizeof *w);
    if (!w) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    w->ops = ops;
    w->out = out;
    w->kv = kv;
    w->n_kv = n_kv;
    w->n_t = n_t;
    w->t = malloc((n_t ? n_t : 1) * sizeof *w->t);
    w->offset = malloc((n_t ? n_t : 1) * sizeof *w->offset);
    w->nbytes = malloc((n_t ? n_t : 1) * sizeof *w->nbytes);
    w->kv_value_offset = calloc(n_kv ? n_kv : 1, sizeof *w->kv_value_offset);
    if (!w->t || !w->offset || !w->nbytes || !w->kv_value_offset) {
        lb_writer_abort(w);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    if (n_t) memcpy(w->t, t, n_t * sizeof *t);
    w->alignment = 1;
    int rc = ops->setup ? ops->setup(w, err) : LB_OK;
    if (!rc) rc = plan(w, err);
    if (!rc) rc = ops->header(w, err);
    if (rc) { lb_writer_abort(w); return rc; }
    *wp = w;
    return LB_OK;
}

/* Move past finished (incl. empty) tensors, padding after each. */
static int advance(lb_writer *w, lb_err *err)
{
    while (w->cur < w->n_t && w->cur_done == w->nbytes[w->cur]) {
        if (w->cur + 1 < w->n_t) {
            uint64_t end = w->offset[w->cur] + w->nbytes[w->cur];
            LB_TRY(lb_out_zeros(w->out, w->offset[w->cur + 1] - end, err));
        }
        w->cur++;
        w->cur_done = 0;
    }
    return LB_OK;
}

int lb_writer_data(lb_writer *w, const void *data, size_t n, lb_err *err)
{
    const uint8_t *p = data;
    LB_TRY(advance(w, err));
    while (n) {
        if (w->cur >= w->n_t)
            return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "more data than the declared tensors hold");
        uint64_t room = w->nbytes[w->cur] - w->cur_done;
        size_t k = room < n ? (size_t)room : n;
        LB_TRY(lb_out_write(w->out, p, k, err));
        w->cur_done += k; p += k; n -= k;
        LB_TRY(advance(w, err));
    }
    return LB_OK;
}

int lb_writer_reserve(lb_writer *w, size_t n, uint64_t *off, lb_err *err)
{
    LB_TRY(advance(w, err));
    if (w->cur >= w->n_t || n > w->nbytes[w->cur] - w->cur_done)
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "reserved range runs past the current tensor");
    LB_TRY(lb_out_reserve(w->out, n, off, err));
    w->cur_done += n;
    return advance(w, err);
}

int lb_writer_pwrite(lb_writer *w, uint64_t off, const void *data, size_t n, lb_err *err)
{
    return lb_out_pwrite(w->out, off, data, n, err);
}

int lb_writer_end(lb_writer *w, lb_err *err)
{
    int rc = advance(w, err);
    if (!rc && w->cur < w->n_t)
        rc = lb_err_item(err, LB_EUSAGE, "tensor", w->t[w->cur].name, LB_NO_OFFSET,
                         "only %llu of %llu bytes were written", (unsigned long long)w->cur_done,
                         (unsigned long long)w->nbytes[w->cur]);
    if (!rc && w->ops->end) rc = w->ops->end(w, err);
    lb_writer_abort(w);
    return rc;
}
