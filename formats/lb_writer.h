/* lb_writer.h: streaming model writers (GGUF, safetensors) behind one interface.
 *
 * Both formats put a header with every tensor's offset before the data, so the caller
 * declares all tensors up front (name, type, shape), the writer plans the offsets from
 * the sizes and writes the header at once; then the caller streams each tensor's bytes
 * in declaration order, in any number of pieces. Nothing seeks, so an lb_out on a pipe
 * works. Padding between tensors is inserted by the writer. */
#ifndef LB_WRITER_H
#define LB_WRITER_H

#include "lb_model.h"

typedef struct lb_wtensor {
    const char *name;
    int         type;                /* enum lb_type */
    int         ndim;
    uint64_t    shape[LB_MAX_DIMS];  /* outermost first */
} lb_wtensor;

typedef struct lb_writer lb_writer;

typedef struct lb_writer_ops {
    const char *format;
    /* Check that a tensor can be stored (dtype known to the format, name length...):
     * LB_OK or LB_EFORMAT naming the tensor. */
    int  (*can_store)(const lb_wtensor *t, lb_err *err);
    /* Optional: read options from w->kv before offsets are planned (GGUF sets
     * w->alignment from general.alignment). */
    int  (*setup)(lb_writer *w, lb_err *err);
    /* Write the header; w->offset[]/w->nbytes[] are planned (relative to the data
     * section); set w->data_start to the absolute offset where data begins. */
    int  (*header)(lb_writer *w, lb_err *err);
    /* Optional: after the last tensor. */
    int  (*end)(lb_writer *w, lb_err *err);
} lb_writer_ops;

struct lb_writer {
    const lb_writer_ops *ops;
    lb_out      *out;
    const lb_kv *kv;     size_t n_kv;    /* borrowed until lb_writer_end */
    lb_wtensor  *t;      size_t n_t;     /* copied (names borrowed) */
    uint64_t    *offset;                 /* planned offsets relative to data start */
    uint64_t    *nbytes;
    uint64_t     alignment;              /* GGUF: general.alignment or 32 */
    uint64_t     data_start;             /* absolute offset of the data section */
    uint64_t    *kv_value_offset;        /* GGUF: absolute offset of each kv's value bytes,
                                          * recorded by header() (for in-place patches) */
    size_t       cur;                    /* tensor being written */
    uint64_t     cur_done;               /* bytes of it written */
};

extern const lb_writer_ops lb_gguf_writer_ops;
extern const lb_writer_ops lb_safetensors_writer_ops;

/* Format by name ("gguf", "safetensors"), NULL if unknown. */
const lb_writer_ops *lb_writer_find(const char *format);
/* Begin: validates every tensor (can_store), plans offsets, writes the header.
 * kv: metadata (GGUF: any value types; safetensors: string values go to __metadata__,
 * others are refused). */
int  lb_writer_begin(lb_writer **w, const lb_writer_ops *ops, lb_out *out, const lb_kv *kv,
                     size_t n_kv, const lb_wtensor *t, size_t n_t, lb_err *err);
/* Stream tensor bytes in declaration order. Writing past a tensor's size moves on to the
 * next one; writing more than all tensors hold is an error. */
int  lb_writer_data(lb_writer *w, const void *data, size_t n, lb_err *err);
/* Parallel data (seekable outputs only, lb_out_seekable): skip the next n bytes of the
 * current tensor and give their file offset; any thread then fills them with
 * lb_writer_pwrite before lb_writer_end. */
int  lb_writer_reserve(lb_writer *w, size_t n, uint64_t *off, lb_err *err);
int  lb_writer_pwrite(lb_writer *w, uint64_t off, const void *data, size_t n, lb_err *err);
/* Finish (every tensor must be complete); frees w. The lb_out stays open for the caller
 * to commit. */
int  lb_writer_end(lb_writer *w, lb_err *err);
void lb_writer_abort(lb_writer *w);   /* frees w; NULL is a no-op */

#endif
