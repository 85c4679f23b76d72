/* qimpl.h: helpers shared by the kernel files (internal to quantize/).
 *
 * ggml's reference kernels are the specification of lowbit's bytes. Where they lean on
 * C conversions whose result the standard leaves open (a float outside the range of
 * the integer it is converted to), the helpers below pin down what x86-64 does, so the
 * bytes stay the same on every host, even for degenerate inputs (denormal scales whose
 * inverse is infinite). The arithmetic in every kernel is written in the same order as
 * ggml's, because float addition and multiplication do not associate. */
#ifndef LB_QIMPL_H
#define LB_QIMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_quant.h"

#define LBQ_GROUP_EPS 1e-15f /* below this |max| a group counts as all zero */

/* The kernel rows, one per type; each defined in the file that holds the kernel. */
extern const lb_qkernel lb_qk_f32, lb_qk_f16, lb_qk_bf16;
extern const lb_qkernel lb_qk_q4_0, lb_qk_q4_1, lb_qk_q5_0, lb_qk_q5_1, lb_qk_q8_0;
extern const lb_qkernel lb_qk_iq4_nl, lb_qk_iq4_xs;
extern const lb_qkernel lb_qk_tq1_0, lb_qk_tq2_0;
extern const lb_qkernel lb_qk_mxfp4;
/* k-quants: kernels in kquants.c, rows in kquants_rows.c. */
extern const lb_qkernel lb_qk_q2_K, lb_qk_q3_K, lb_qk_q4_K, lb_qk_q5_K, lb_qk_q6_K;

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 pushes the
 * fraction out of the mantissa, and the FPU's rounding does the rest. */
static inline int lbq_nearest_int(float v)
{
    float t = v + 12582912.f;
    uint32_t u;
    memcpy(&u, &t, 4);
    return (int)(u & 0x007fffff) - 0x00400000;
}

/* float -> int32 truncation as x86-64 cvttss2si does it: NaN and out-of-range values
 * give INT32_MIN (C leaves them undefined). */
static inline int32_t lbq_trunc_i32(float v)
{
    if (!(v > -2147483904.0f && v < 2147483648.0f)) return INT32_MIN;
    return (int32_t)v;
}

/* (int8_t)v and (uint8_t)v for a float v as compiled on x86-64: truncate to int32, keep
 * the low byte. Returned as the low byte, 0..255. */
static inline unsigned lbq_trunc_u8(float v)
{
    return (unsigned)lbq_trunc_i32(v) & 0xffu;
}

/* Sign-extend a low byte: the int8_t reading of lbq_trunc_u8. */
static inline int lbq_s8(unsigned b)
{
    return b >= 128 ? (int)b - 256 : (int)b;
}

/* roundf(v) (halves away from zero) for v in the int32 range, without the libm call:
 * truncate, then correct by the remainder, which is exact (v and trunc(v) are both
 * multiples of the smaller ulp). */
static inline int32_t lbq_round_in_range(float v)
{
    int32_t i = (int32_t)v;
    float r = v - (float)i;
    return i + (r >= 0.5f) - (r <= -0.5f);
}

/* The low byte of (int8_t)roundf(v) as compiled on x86-64: outside the int32 range
 * cvttss2si gives INT32_MIN, whose low byte is 0. */
static inline unsigned lbq_round_u8(float v)
{
    if (!(v >= -2147483648.0f && v < 2147483648.0f)) return 0;
    return (unsigned)lbq_round_in_range(v) & 0xffu;
}

/* (int)lroundf(v) as on x86-64 glibc: halves away from zero, then the low 32 bits of
 * the long; NaN, Inf and anything beyond the range of long give LONG_MIN, whose low
 * 32 bits are 0. */
static inline int lbq_lround_i32(float v)
{
    if (v >= -2147483648.0f && v < 2147483648.0f) return lbq_round_in_range(v);
    if (!(fabsf(v) < 9223372036854775808.0f)) return 0;
    return (int)(uint32_t)(uint64_t)(int64_t)v; /* |v| >= 2^31: already an integer */
}

/* Index of the entry of the sorted table val[0..n) nearest to x; a tie between two
 * neighbours goes to the upper one. NaN lands on the last entry. */
static inline int lbq_best_index_i8(int n, const int8_t *val, float x)
{
    if (x <= val[0]) return 0;
    if (x >= val[n - 1]) return n - 1;
    int lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (x < val[mid]) hi = mid;
        else lo = mid;
    }
    return x - val[hi - 1] < val[hi] - x ? hi - 1 : hi;
}

static inline void lbq_st_f16(uint8_t *p, float f) { lb_st16(p, lb_f32_to_f16(f)); }
static inline float lbq_ld_f16(const uint8_t *p) { return lb_f16_to_f32(lb_ld16(p)); }

/* Fast paths (simd_avx2.c). Each runs 8 independent groups at once, group g at x + g*xs
 * (weights w + g*ws, levels L + g*Ls), with exactly the float operations of the scalar
 * function it mirrors, so the results are the same bits. They return 1 when done, 0 when
 * they decline (no fast path active, or a NaN/Inf in the input): the caller then runs
 * the scalar code. n <= 32. */
/* fit_affine (kquants.c) / search_affine (q_legacy.c): scale[g], neg_min[g], L. */
int lbq_fit_affine8(int n, int nmax, const float *x, int xs, const float *w, int ws, uint8_t *L, int Ls,
                    float *scale, float *neg_min, float rmin, float rdelta, int nstep, int use_mad);
/* fit_symmetric (kquants.c): scale[g], L = level + nmax; w NULL: x^2. */
int lbq_fit_symmetric8(int n, int nmax, const float *x, int xs, const float *w, int ws, uint8_t *L, int Ls,
                       float *scale);
/* fit_group (q_iq4.c) for 8 groups of 32: d[g]. */
int lbq_iq4_fit8(const float *x, int xs, const float *w, int ws, float *d);
/* pick_indices (q_iq4.c) for n values, n a multiple of 8, against id = 1/d. */
int lbq_iq4_pick(const float *x, int n, float id, uint8_t *L);
/* The plain Q4_0/Q5_0 rounding of a 32-value block (d = max / div, levels
 * min((int8_t)(x * id + bias), clamp)) and the plain Q4_1/Q5_1 one (d = (max - min) / div,
 * levels min((int8_t)((x - min) * id + 0.5), clamp)), as bytes: finite or not, the same
 * as the scalar code (clamp 127: none). */
int lbq_sym_levels(const float *x, float div, float bias, int clamp, float *d, uint8_t *L);
int lbq_aff_levels(const float *x, float div, int clamp, float *d, float *min, uint8_t *L);
/* One whole Q8_0 block (34 bytes). */
int lbq_q8_0_block_fast(const float *x, uint8_t *b);
/* A legacy block's nibbles (qs[j] = L[j] | L[j + 16] << 4, low nibble masked unless spill)
 * and, if qh, its fifth bits (bit j = bit 4 of L[j], little-endian); 0 on the scalar path. */
/* MXFP4: the 16 code bytes of a block from its values and the 16 scaled code values
 * (q_mxfp4.c's best_code_pair for every pair); 0 on the scalar path. */
int lbq_mxfp4_codes_fast(const float *x, const float *scaled, uint8_t *qs);
/* TQ2_0 / TQ1_0 blocks of finite values (0: declined, or the scalar path); the TQ1_0 one
 * leaves bytes 48..51 and the scale to the caller and gives the block's absmax in *d. */
int lbq_tq2_0_block_fast(const float *x, uint8_t *b);
int lbq_tq1_0_block_fast(const float *x, uint8_t *b, float *d);
/* Q3_K's unweighted fit (kquants.c fit_q3_descent) for 8 groups of 16 at stride 16: L
 * and scale as the scalar function gives them; 0 if declined (non-finite) or scalar. */
int lbq_q3_descent8(const float *x, int8_t *L, float *scale);
/* Q3_K's final rounding (kquants.c q3_finish) of 16 groups of 16 with steps d[16]. */
int lbq_q3_relevel(const float *x, const float *d, int8_t *L);
/* A whole plain Q4_1 (bits 4) or Q5_1 (bits 5) block, as q_legacy.c writes it; 0 unless
 * the AVX2 path. */
int lbq_aff_block_fast(const float *x, int bits, uint8_t *b);
int lbq_pack_legacy(const uint8_t *L, int spill, uint8_t *qs, uint8_t *qh);
/* Decode nb Q8_0 blocks (the scalar q8_0_dequantize's floats); 0 on the scalar path. */
int lbq_q8_0_dequant_fast(const uint8_t *b, float *y, int64_t nb);

/* The 16 signed levels of IQ4_NL / IQ4_XS (a fact of the format). */
extern const int8_t lbq_iq4nl_values[16];

#endif
