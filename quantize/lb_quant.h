/* lb_quant.h: quantization kernels, one row per type, and a row-parallel driver.
 *
 * A kernel turns rows of f32 into the ggml block layout of its type, byte for byte as
 * ggml's own quantize_<type>() (what ggml_quantize_chunk calls) writes them, and back.
 * Layouts, importance-weight behaviour and the determinism rules are in
 * docs/quantize-kernels.md.
 *
 * Contracts shared by every kernel:
 *  - n_per_row is a multiple of the type's block size (the driver checks; the raw
 *    function pointers trust the caller);
 *  - rows are independent: the bytes of a row depend only on that row and on the
 *    importance weights, so any split of the rows across threads gives the same bytes;
 *  - block bytes are written with explicit little-endian stores (any host byte order);
 *  - no global state, no allocation, no printing; safe to call from many threads. */
#ifndef LB_QUANT_H
#define LB_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "lb_error.h"

/* Quantize nrows rows of n_per_row f32 values from src into dst (row after row, each
 * row n_per_row / blck blocks). imatrix: n_per_row importance weights (one per column,
 * shared by every row) or NULL. Returns the number of bytes written. */
typedef size_t (*lb_quantize_fn)(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                                 const float *imatrix);
/* Decode n values (a multiple of the block size) of blocks at src into dst. */
typedef void (*lb_dequantize_fn)(const void *src, float *dst, int64_t n);

typedef struct lb_qkernel {
    int              type;           /* enum lb_type (the ggml type id) */
    const char      *name;           /* "q4_0": ggml's type name */
    uint32_t         blck;           /* elements per block */
    uint32_t         type_size;      /* bytes per block */
    lb_quantize_fn   quantize;
    lb_dequantize_fn dequantize;
    int              uses_imatrix;   /* 1: quantize reads importance weights when given */
    int              needs_imatrix;  /* 1: quantize refuses to run without them */
} lb_qkernel;

/* The kernel of a type id, or NULL if lowbit has none for it. */
const lb_qkernel *lb_qkernel_get(int type);
/* Every kernel, in type id order; returns the count and sets *list. */
size_t lb_qkernel_list(const lb_qkernel *const **list);

/* Bytes of one row of n_per_row values of type, or 0 if the type has no kernel or
 * n_per_row is not a positive multiple of its block size. */
size_t lb_quant_row_size(int type, int64_t n_per_row);

/* Quantize nrows rows with up to nthreads threads (<= 1: the calling thread only).
 * Threads get whole, contiguous row ranges, so the output never depends on nthreads.
 * On success returns LB_OK and, if written is not NULL, the byte count in *written.
 * Errors (LB_EUSAGE): no kernel for type, bad sizes, NULL buffers, missing imatrix for
 * a type that needs one. If a thread cannot be started its rows run on the caller. */
int lb_quantize_rows_mt(int type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                        const float *imatrix, int nthreads, size_t *written, lb_err *err);

/* Decode n values of any type lowbit can read (kernel types and plain types such as
 * f64, i8, f8_e4m3) into f32. LB_EUSAGE if n is not a multiple of the block size,
 * LB_EFORMAT if the type cannot be decoded. */
int lb_dequantize_any(int type, const void *src, float *dst, int64_t n, lb_err *err);

#endif
