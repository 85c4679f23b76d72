/* q_iq4.c: the non-linear 4-bit types IQ4_NL and IQ4_XS.
 *
 * Both store 4-bit indices into one table of 16 signed levels (lbq_iq4nl_values, denser
 * near zero, where trained weights crowd) times a scale.
 *   IQ4_NL  18 B per 32 = 4.5 bpw    : f16 d | u8 qs[16]             x = d * T[idx]
 *   IQ4_XS 136 B per 256 = 4.25 bpw  : f16 d | u16 scales_h | u8 scales_l[4] | u8 qs[128]
 *           eight sub-blocks of 32, each with a 6-bit scale s = (lo4 | hi2 << 4) - 32:
 *           lo4 is nibble (ib & 1) of scales_l[ib / 2], hi2 is bits 2ib..2ib+1 of
 *           scales_h; x = d * s * T[idx].
 * In each 32-value group qs[j] holds element j (low nibble) and element j + 16 (high).
 *
 * Quantization always searches (as ggml's quantize_iq4_nl / quantize_iq4_xs, which is
 * what ggml_quantize_chunk runs): per 32-value group, the scale is the weighted
 * least-squares fit over 15 trial inverse scales (max value to level -127 +- 7 steps).
 * Weights: imatrix[j] * sqrt(sigma2 + x^2) with an imatrix, x^2 without, where
 * sigma2 = 2 * mean(x^2) over the super-block (32 values for NL, 256 for XS).
 * XS then quantizes the eight group scales to 6 bits against a common f16 d and
 * re-picks every index against its rounded group scale. */
#include "qimpl.h"

const int8_t lbq_iq4nl_values[16] = { -127, -104, -83, -65, -49, -35, -22, -10,
                                      1, 13, 25, 38, 53, 69, 89, 113 };

#define GROUP 32
#define NTRY 7
#define QK_XS 256

enum {
    IQ4_NL_SZ = 2 + GROUP / 2,                  /* d, qs[16] */
    IQ4_XS_SZ = 2 + 2 + QK_XS / 64 + QK_XS / 2  /* d, scales_h, scales_l[4], qs[128] */
};
_Static_assert(IQ4_NL_SZ == 18 && IQ4_NL_SZ * 8 * 2 == 9 * GROUP, "iq4_nl: 18 bytes, 4.5 bpw");
_Static_assert(IQ4_XS_SZ == 136 && IQ4_XS_SZ * 8 * 4 == 17 * QK_XS, "iq4_xs: 136 bytes, 4.25 bpw");

/* Group weights (see above) into w[0..32). */
static void group_weights(float *w, const float *x, const float *qw, float sigma2)
{
    if (qw)
        for (int j = 0; j < GROUP; j++) w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
    else
        for (int j = 0; j < GROUP; j++) w[j] = x[j] * x[j];
}

static float super_sigma2(const float *x, int n)
{
    float s = 0;
    for (int j = 0; j < n; j++) s += x[j] * x[j];
    s *= 2.f / n;
    return s;
}

/* Weighted fit of one 32-value group against the table: returns the best scale and, if
 * L is not NULL, the indices of the first trial (refined later by the caller).
 * An all-zero group (|max| < eps) gets scale 0. */
static float fit_group(const float *x, const float *w, uint8_t *L)
{
    const int8_t *T = lbq_iq4nl_values;
    float amax = 0, max = 0;
    for (int j = 0; j < GROUP; j++) {
        float ax = fabsf(x[j]);
        if (ax > amax) { amax = ax; max = x[j]; }
    }
    if (amax < LBQ_GROUP_EPS) return 0;
    float d = -max / T[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < GROUP; j++) {
        int l = lbq_best_index_i8(16, T, id * x[j]);
        if (L) L[j] = (uint8_t)l;
        float q = T[l];
        sumqx += w[j] * q * x[j];
        sumq2 += w[j] * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -NTRY; itry <= NTRY; itry++) {
        id = (itry + T[0]) / max;
        sumqx = sumq2 = 0;
        for (int j = 0; j < GROUP; j++) {
            float q = T[lbq_best_index_i8(16, T, id * x[j])];
            sumqx += w[j] * q * x[j];
            sumq2 += w[j] * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

/* Indices of n values against scale d (0 maps everything to the level nearest 0). */
static void pick_indices(const float *x, int n, float d, uint8_t *L)
{
    float id = d ? 1 / d : 0.f;
    if (lbq_iq4_pick(x, n, id, L)) return;
    for (int j = 0; j < n; j++) L[j] = (uint8_t)lbq_best_index_i8(16, lbq_iq4nl_values, id * x[j]);
}

static void pack_groups(uint8_t *qs, const uint8_t *L, int n)
{
    for (int g = 0; g < n / GROUP; g++)
        for (int j = 0; j < GROUP / 2; j++)
            qs[g * 16 + j] = (uint8_t)(L[g * GROUP + j] | L[g * GROUP + GROUP / 2 + j] << 4);
}

/* ---- IQ4_NL ------------------------------------------------------------------- */

static void iq4_nl_block(const float *x, const float *qw, uint8_t *b)
{
    float w[GROUP];
    uint8_t L[GROUP];
    group_weights(w, x, qw, super_sigma2(x, GROUP));
    float d = fit_group(x, w, NULL);
    lbq_st_f16(b, d);
    pick_indices(x, GROUP, d, L);
    pack_groups(b + 2, L, GROUP);
}

/* Eight consecutive blocks: the group fits side by side when a fast path takes them. */
static void iq4_nl_blocks8(const float *x, const float *qw, uint8_t *b)
{
    float w[8 * GROUP], d[8];
    for (int k = 0; k < 8; k++)
        group_weights(w + k * GROUP, x + k * GROUP, qw ? qw + k * GROUP : NULL, super_sigma2(x + k * GROUP, GROUP));
    if (!lbq_iq4_fit8(x, GROUP, w, GROUP, d)) {
        for (int k = 0; k < 8; k++) iq4_nl_block(x + k * GROUP, qw ? qw + k * GROUP : NULL, b + k * IQ4_NL_SZ);
        return;
    }
    for (int k = 0; k < 8; k++) {
        uint8_t L[GROUP];
        lbq_st_f16(b + k * IQ4_NL_SZ, d[k]);
        pick_indices(x + k * GROUP, GROUP, d[k], L);
        pack_groups(b + k * IQ4_NL_SZ + 2, L, GROUP);
    }
}

static size_t iq4_nl_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                              const float *imatrix)
{
    int64_t nb = n_per_row / GROUP;
    uint8_t *out = dst;
    for (int64_t r = 0; r < nrows; r++, src += n_per_row) {
        int64_t i = 0;
        for (; i + 8 <= nb; i += 8, out += 8 * IQ4_NL_SZ)   /* 8 blocks at a time on the fast path */
            iq4_nl_blocks8(src + i * GROUP, imatrix ? imatrix + i * GROUP : NULL, out);
        for (; i < nb; i++, out += IQ4_NL_SZ)
            iq4_nl_block(src + i * GROUP, imatrix ? imatrix + i * GROUP : NULL, out);
    }
    return (size_t)(nrows * nb) * IQ4_NL_SZ;
}

static void iq4_nl_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / GROUP; i++, b += IQ4_NL_SZ, dst += GROUP) {
        const float d = lbq_ld_f16(b);
        for (int j = 0; j < GROUP / 2; j++) {
            dst[j] = d * lbq_iq4nl_values[b[2 + j] & 0x0f];
            dst[j + GROUP / 2] = d * lbq_iq4nl_values[b[2 + j] >> 4];
        }
    }
}

/* ---- IQ4_XS ------------------------------------------------------------------- */

static void iq4_xs_block(const float *x, const float *qw, uint8_t *b)
{
    enum { NG = QK_XS / GROUP };
    float scales[NG], w[QK_XS];
    uint8_t L[QK_XS];
    float sigma2 = super_sigma2(x, QK_XS);
    float max_scale = 0, amax_scale = 0;
    for (int g = 0; g < NG; g++) group_weights(w + g * GROUP, x + g * GROUP, qw ? qw + g * GROUP : NULL, sigma2);
    if (!lbq_iq4_fit8(x, GROUP, w, GROUP, scales))
        for (int g = 0; g < NG; g++) scales[g] = fit_group(x + g * GROUP, w + g * GROUP, NULL);
    for (int g = 0; g < NG; g++) {
        float a = fabsf(scales[g]);
        if (a > amax_scale) { amax_scale = a; max_scale = scales[g]; }
    }
    /* six-bit group scales l in -32..31 against d = -max_scale / 32 */
    float d = -max_scale / 32;
    float id = d ? 1 / d : 0.f;
    uint16_t sh = 0;
    uint8_t sl[NG / 2] = { 0 };
    for (int g = 0; g < NG; g++) {
        int l = lbq_nearest_int(id * scales[g]);
        l = l < -32 ? -32 : l > 31 ? 31 : l;
        pick_indices(x + g * GROUP, GROUP, d * l, L + g * GROUP);
        l += 32;
        sl[g / 2] |= (uint8_t)((l & 0xf) << 4 * (g % 2));
        sh |= (uint16_t)((l >> 4) << 2 * g);
    }
    lbq_st_f16(b, d);
    lb_st16(b + 2, sh);
    memcpy(b + 4, sl, sizeof sl);
    pack_groups(b + 8, L, QK_XS);
}

static size_t iq4_xs_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                              const float *imatrix)
{
    int64_t nb = n_per_row / QK_XS;
    uint8_t *out = dst;
    for (int64_t r = 0; r < nrows; r++, src += n_per_row)
        for (int64_t i = 0; i < nb; i++, out += IQ4_XS_SZ)
            iq4_xs_block(src + i * QK_XS, imatrix ? imatrix + i * QK_XS : NULL, out);
    return (size_t)(nrows * nb) * IQ4_XS_SZ;
}

static void iq4_xs_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_XS; i++, b += IQ4_XS_SZ) {
        const float d = lbq_ld_f16(b);
        const unsigned sh = lb_ld16(b + 2);
        const uint8_t *qs = b + 8;
        for (int g = 0; g < QK_XS / GROUP; g++, qs += 16, dst += GROUP) {
            int ls = ((b[4 + g / 2] >> 4 * (g % 2)) & 0xf) | (int)((sh >> 2 * g) & 3) << 4;
            const float dl = d * (ls - 32);
            for (int j = 0; j < 16; j++) {
                dst[j] = dl * lbq_iq4nl_values[qs[j] & 0x0f];
                dst[j + 16] = dl * lbq_iq4nl_values[qs[j] >> 4];
            }
        }
    }
}

const lb_qkernel lb_qk_iq4_nl = { LB_IQ4_NL, "iq4_nl", GROUP, IQ4_NL_SZ,
                                  iq4_nl_quantize, iq4_nl_dequantize, 1, 0 };
const lb_qkernel lb_qk_iq4_xs = { LB_IQ4_XS, "iq4_xs", QK_XS, IQ4_XS_SZ,
                                  iq4_xs_quantize, iq4_xs_dequantize, 1, 0 };
