/* lb_kquants.h: scalar k-quant kernels (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K).
 *
 * Every type packs 256 weights ("super-block") into one fixed-size block whose bytes
 * are exactly those of ggml's block_qX_K (see docs/kquants.md for the layouts):
 *
 *   type  bytes  bits/weight   sub-blocks        weight = ...
 *   q2_K    84    2.625        16 x 16, 4+4 bit  d*sc*q - dmin*m, q in 0..3
 *   q3_K   110    3.4375       16 x 16, 6 bit    d*(sc-32)*q,     q in -4..3
 *   q4_K   144    4.5           8 x 32, 6+6 bit  d*sc*q - dmin*m, q in 0..15
 *   q5_K   176    5.5           8 x 32, 6+6 bit  d*sc*q - dmin*m, q in 0..31
 *   q6_K   210    6.5625       16 x 16, 8 bit    d*sc*(q-32),     q in 0..63
 *
 * The quantizers give the same bytes as ggml_quantize_chunk (llama.cpp 0.4.0): without an
 * importance matrix they follow ggml's reference path, with one they follow its weighted
 * search. Rows are independent, so any split of a tensor into calls gives the same bytes.
 * All bytes are written with explicit little-endian stores (any host byte order). */
#ifndef LB_KQUANTS_H
#define LB_KQUANTS_H

#include <stddef.h>
#include <stdint.h>

#define LB_QK_K 256 /* weights per k-quant block */

#define LB_Q2_K_BLOCK 84
#define LB_Q3_K_BLOCK 110
#define LB_Q4_K_BLOCK 144
#define LB_Q5_K_BLOCK 176
#define LB_Q6_K_BLOCK 210

/* Quantize nrows rows of n_per_row floats (n_per_row % 256 == 0) from src into dst
 * (nrows * n_per_row / 256 blocks). imatrix: n_per_row importance weights (one per
 * column, shared by all rows) or NULL. Returns the bytes written. */
size_t lb_quantize_q2_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t lb_quantize_q3_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t lb_quantize_q4_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t lb_quantize_q5_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t lb_quantize_q6_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);

/* Dequantize n values (n % 256 == 0, i.e. n / 256 blocks) from src into dst. */
void lb_dequantize_q2_K(const void *src, float *dst, int64_t n);
void lb_dequantize_q3_K(const void *src, float *dst, int64_t n);
void lb_dequantize_q4_K(const void *src, float *dst, int64_t n);
void lb_dequantize_q5_K(const void *src, float *dst, int64_t n);
void lb_dequantize_q6_K(const void *src, float *dst, int64_t n);

#endif
