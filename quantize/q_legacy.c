/* q_legacy.c: the 32-element block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
 *
 * Block layouts (all little-endian, no padding; "f16" is an IEEE half):
 *   Q8_0  34 B = 8.5 bpw : f16 d | int8 q[32]                  x = q * d
 *   Q4_0  18 B = 4.5 bpw : f16 d | u8 qs[16]                   x = (nib - 8) * d
 *   Q4_1  20 B = 5.0 bpw : f16 d | f16 m | u8 qs[16]           x = nib * d + m
 *   Q5_0  22 B = 5.5 bpw : f16 d | u32 qh | u8 qs[16]          x = ((nib | hi << 4) - 16) * d
 *   Q5_1  24 B = 6.0 bpw : f16 d | f16 m | u32 qh | u8 qs[16]  x = (nib | hi << 4) * d + m
 * qs[j] holds element j in its low nibble and element j + 16 in its high nibble; bit j
 * of qh is the fifth bit of element j (j = 0..31).
 *
 * Importance weights: Q8_0 ignores them. Q4_0/Q4_1/Q5_0/Q5_1 round plainly without them
 * and search the scale (and, for the _1 types, the offset) minimising the weighted
 * squared error with them, exactly as ggml's quantize_<type>() does. */
#include <float.h>

#include "qimpl.h"

#define QK 32

/* Bytes per block from the layout, pinned to ggml's sizes and to the bits per weight
 * (bytes * 8 / 32 values) in the table above. */
enum {
    Q8_0_SZ = 2 + QK,         /* d, q[32] */
    Q4_0_SZ = 2 + QK / 2,     /* d, qs[16] */
    Q4_1_SZ = 2 + 2 + QK / 2, /* d, m, qs[16] */
    Q5_0_SZ = 2 + 4 + QK / 2, /* d, qh, qs[16] */
    Q5_1_SZ = 2 + 2 + 4 + QK / 2
};
_Static_assert(Q8_0_SZ == 34 && Q8_0_SZ * 8 * 2 == 17 * QK, "q8_0: 34 bytes, 8.5 bpw");
_Static_assert(Q4_0_SZ == 18 && Q4_0_SZ * 8 * 2 == 9 * QK, "q4_0: 18 bytes, 4.5 bpw");
_Static_assert(Q4_1_SZ == 20 && Q4_1_SZ * 8 == 5 * QK, "q4_1: 20 bytes, 5.0 bpw");
_Static_assert(Q5_0_SZ == 22 && Q5_0_SZ * 8 * 2 == 11 * QK, "q5_0: 22 bytes, 5.5 bpw");
_Static_assert(Q5_1_SZ == 24 && Q5_1_SZ * 8 == 6 * QK, "q5_1: 24 bytes, 6.0 bpw");

/* ---- packing ------------------------------------------------------------------ */

/* Nibbles of L[0..32) into qs[16]: low nibble element j, high nibble element j + 16. */
static void pack_nibbles(uint8_t *qs, const uint8_t *L)
{
    for (int j = 0; j < QK / 2; j++) qs[j] = (uint8_t)((L[j] & 0x0f) | (L[j + QK / 2] & 0x0f) << 4);
}

/* Fifth bits of L[0..32) as a u32: bit j is bit 4 of element j. */
static uint32_t fifth_bits(const uint8_t *L)
{
    uint32_t qh = 0;
    for (int j = 0; j < QK; j++) qh |= (uint32_t)((L[j] >> 4) & 1) << j;
    return qh;
}

/* The levels into a block: nibbles at qs and, for the 5-bit types (qh not NULL), the
 * fifth bits as a little-endian u32 at qh. */
static void put_levels(uint8_t *qs, uint8_t *qh, const uint8_t *L)
{
    if (lbq_pack_legacy(L, 0, qs, qh)) return;
    if (qh) lb_st32(qh, fifth_bits(L));
    pack_nibbles(qs, L);
}

/* ---- searches used with importance weights ------------------------------------ */

/* Symmetric levels -nmax..nmax-1 for 32 values, weighted least squares over 19 trial
 * inverse scales around -nmax/max (ggml's make_qx_quants, rmse_type 1 with weights).
 * L gets level + nmax; returns the scale. */
static float search_symmetric(int nmax, const float *x, uint8_t *L, const float *w)
{
    float max = 0, amax = 0;
    for (int i = 0; i < QK; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < LBQ_GROUP_EPS) {
        memset(L, 0, QK);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < QK; i++) {
        int l = lbq_nearest_int(iscale * x[i]);
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        L[i] = (uint8_t)(l + nmax);
        sumlx += w[i] * x[i] * l;
        suml2 += w[i] * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < QK; i++) {
            int l = lbq_nearest_int(iscale * x[i]);
            l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
            sumlx += w[i] * x[i] * l;
            suml2 += w[i] * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < QK; i++) {
                int l = lbq_nearest_int(iscale * x[i]);
                L[i] = (uint8_t)(nmax + (l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

static inline int clamp_level(int l, int nmax) { return l < 0 ? 0 : l > nmax ? nmax : l; }

/* Weighted squared error of levels L under scale and offset. */
static float level_error(const float *x, const float *w, const uint8_t *L, float scale, float min)
{
    float err = 0;
    for (int i = 0; i < QK; i++) {
        float diff = scale * L[i] + min - x[i];
        err += w[i] * (diff * diff);
    }
    return err;
}

/* Levels 0..nmax with scale and offset (x ~ scale * L + min, min <= 0) for 32 values:
 * start from the min..max grid, then try 37 inverse scales from (nmax - 0.9) to
 * (nmax + 0.9) / range, each with the weighted least-squares scale and offset, keeping
 * the lowest weighted error (ggml's make_qkx3_quants(-0.9, 0.05, 36), squared error).
 * Returns the scale; *neg_min gets -min. */
static float search_affine(int nmax, const float *x, const float *w, uint8_t *L, float *neg_min)
{
    uint8_t Laux[QK];
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < QK; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max <= min) {
        memset(L, 0, QK);
        *neg_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    for (int i = 0; i < QK; i++) L[i] = (uint8_t)clamp_level(lbq_nearest_int(iscale * (x[i] - min)), nmax);
    float best_err = level_error(x, w, L, scale, min);
    for (int is = 0; is <= 36; is++) {
        iscale = (-0.9f + 0.05f * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < QK; i++) {
            int l = clamp_level(lbq_nearest_int(iscale * (x[i] - min)), nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = level_error(x, w, Laux, this_scale, this_min);
        if (err < best_err) {
            memcpy(L, Laux, QK);
            best_err = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Per-element weights of a block: imatrix weight times sqrt(sigma2 + x^2), where sigma2
 * is the mean square of the whole row. */
static float row_sigma2(const float *x, int64_t n)
{
    float sum_x2 = 0;
    for (int64_t j = 0; j < n; j++) sum_x2 += x[j] * x[j];
    return sum_x2 / n;
}

static void block_weights(float *w, const float *x, const float *qw, float sigma2)
{
    for (int j = 0; j < QK; j++) w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

/* The weighted searches for nk <= 8 consecutive blocks: side by side on a fast path when
 * there are 8, else one by one; d[k] (and neg_min[k]) and the 32 levels of block k at
 * L + 32k. */
static void weighted_sym8(int nk, int nmax, const float *x, const float *qw, float sigma2, float *d, uint8_t *L)
{
    float w[8 * QK];
    for (int k = 0; k < nk; k++) block_weights(w + k * QK, x + k * QK, qw + k * QK, sigma2);
    if (nk < 8 || !lbq_fit_symmetric8(QK, nmax, x, QK, w, QK, L, QK, d))
        for (int k = 0; k < nk; k++) d[k] = search_symmetric(nmax, x + k * QK, L + k * QK, w + k * QK);
}

static void weighted_aff8(int nk, int nmax, const float *x, const float *qw, float sigma2, float *d, float *neg_min,
                          uint8_t *L)
{
    float w[8 * QK];
    for (int k = 0; k < nk; k++) block_weights(w + k * QK, x + k * QK, qw + k * QK, sigma2);
    if (nk < 8 || !lbq_fit_affine8(QK, nmax, x, QK, w, QK, L, QK, d, neg_min, -0.9f, 0.05f, 36, 0))
        for (int k = 0; k < nk; k++) d[k] = search_affine(nmax, x + k * QK, w + k * QK, L + k * QK, &neg_min[k]);
}

/* blocks left in the row from block i, at most 8 */
static inline int group_of(int64_t i, int64_t nb) { return nb - i < 8 ? (int)(nb - i) : 8; }

/* ---- Q8_0 --------------------------------------------------------------------- */

static void q8_0_block(const float *x, uint8_t *b)
{
    if (lbq_q8_0_block_fast(x, b)) return;
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) {
        float a = fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    lbq_st_f16(b, d);
    for (int j = 0; j < QK; j++) b[2 + j] = (uint8_t)lbq_round_u8(x[j] * id); /* roundf, then int8 */
}

static size_t q8_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                            const float *imatrix)
{
    (void)imatrix; /* Q8_0 has no use for importance weights (ggml ignores them too) */
    int64_t nb = nrows * (n_per_row / QK);
    uint8_t *out = dst;
    for (int64_t i = 0; i < nb; i++) q8_0_block(src + i * QK, out + i * Q8_0_SZ);
    return (size_t)nb * Q8_0_SZ;
}

static void q8_0_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    if (lbq_q8_0_dequant_fast(b, dst, n / QK)) return;
    for (int64_t i = 0; i < n / QK; i++, b += Q8_0_SZ, dst += QK) {
        const float d = lbq_ld_f16(b);
        for (int j = 0; j < QK; j++) dst[j] = lbq_s8(b[2 + j]) * d;
    }
}

/* ---- Q4_0 --------------------------------------------------------------------- */

/* Plain rounding: d = max / -8 from the value of largest magnitude (so it maps to
 * level 0), every value to the nearest level, clamped to 15. */
static void q4_0_block_plain(const float *x, uint8_t *b)
{
    uint8_t L[QK];
    float d;
    if (!lbq_sym_levels(x, -8, 8.5f, 15, &d, L)) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        for (int j = 0; j < QK; j++) {
            int v = lbq_s8(lbq_trunc_u8(x[j] * id + 8.5f));
            L[j] = (uint8_t)(v < 15 ? v : 15);
        }
    }
    lbq_st_f16(b, d);
    /* the low byte of the level: a wild one (from an infinite 1/d) spills into the
     * other nibble exactly as in ggml */
    if (lbq_pack_legacy(L, 1, b + 2, NULL)) return;
    for (int j = 0; j < QK / 2; j++) b[2 + j] = (uint8_t)(L[j] | L[j + QK / 2] << 4);
}

static size_t q4_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                            const float *imatrix)
{
    int64_t nb = n_per_row / QK;
    uint8_t *out = dst;
    float d8[8];
    uint8_t L8[8 * QK];
    for (int64_t r = 0; r < nrows; r++, src += n_per_row) {
        float sigma2 = imatrix ? row_sigma2(src, n_per_row) : 0;
        for (int64_t i = 0; i < nb; i++, out += Q4_0_SZ) {
            const float *x = src + i * QK;
            if (!imatrix) { q4_0_block_plain(x, out); continue; }
            if (i % 8 == 0) weighted_sym8(group_of(i, nb), 8, x, imatrix + i * QK, sigma2, d8, L8);
            lbq_st_f16(out, d8[i % 8]);
            put_levels(out + 2, NULL, L8 + (i % 8) * QK);
        }
    }
    return (size_t)(nrows * nb) * Q4_0_SZ;
}

static void q4_0_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += Q4_0_SZ, dst += QK) {
        const float d = lbq_ld_f16(b);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = ((b[2 + j] & 0x0f) - 8) * d;
            dst[j + QK / 2] = ((b[2 + j] >> 4) - 8) * d;
        }
    }
}

/* ---- Q4_1 --------------------------------------------------------------------- */

static void q4_1_block_plain(const float *x, uint8_t *b)
{
    if (lbq_aff_block_fast(x, 4, b)) return;
    uint8_t L[QK];
    float d, min;
    if (!lbq_aff_levels(x, (1 << 4) - 1, 15, &d, &min, L)) {
        float max = -FLT_MAX;
        min = FLT_MAX;
        for (int j = 0; j < QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        d = (max - min) / ((1 << 4) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        for (int j = 0; j < QK; j++) {
            int v = lbq_s8(lbq_trunc_u8((x[j] - min) * id + 0.5f));
            L[j] = (uint8_t)(v < 15 ? v : 15);
        }
    }
    lbq_st_f16(b, d);
    lbq_st_f16(b + 2, min);
    if (lbq_pack_legacy(L, 1, b + 4, NULL)) return;
    for (int j = 0; j < QK / 2; j++) b[4 + j] = (uint8_t)(L[j] | L[j + QK / 2] << 4);
}

static size_t q4_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                            const float *imatrix)
{
    int64_t nb = n_per_row / QK;
    uint8_t *out = dst;
    float d8[8], nm8[8];
    uint8_t L8[8 * QK];
    for (int64_t r = 0; r < nrows; r++, src += n_per_row) {
        float sigma2 = imatrix ? row_sigma2(src, n_per_row) : 0;
        for (int64_t i = 0; i < nb; i++, out += Q4_1_SZ) {
            const float *x = src + i * QK;
            if (!imatrix) { q4_1_block_plain(x, out); continue; }
            if (i % 8 == 0) weighted_aff8(group_of(i, nb), 15, x, imatrix + i * QK, sigma2, d8, nm8, L8);
            lbq_st_f16(out, d8[i % 8]);
            lbq_st_f16(out + 2, -nm8[i % 8]);
            put_levels(out + 4, NULL, L8 + (i % 8) * QK);
        }
    }
    return (size_t)(nrows * nb) * Q4_1_SZ;
}

static void q4_1_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += Q4_1_SZ, dst += QK) {
        const float d = lbq_ld_f16(b), m = lbq_ld_f16(b + 2);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = (b[4 + j] & 0x0f) * d + m;
            dst[j + QK / 2] = (b[4 + j] >> 4) * d + m;
        }
    }
}

/* ---- Q5_0 --------------------------------------------------------------------- */

static void q5_0_block_plain(const float *x, uint8_t *b)
{
    uint8_t L[QK];
    float d;
    if (!lbq_sym_levels(x, -16, 16.5f, 31, &d, L)) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        for (int j = 0; j < QK; j++) {
            int v = lbq_s8(lbq_trunc_u8(x[j] * id + 16.5f));
            L[j] = (uint8_t)(v < 31 ? v : 31);
        }
    }
    lbq_st_f16(b, d);
    put_levels(b + 6, b + 2, L);
}

static size_t q5_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                            const float *imatrix)
{
    int64_t nb = n_per_row / QK;
    uint8_t *out = dst;
    float d8[8];
    uint8_t L8[8 * QK];
    for (int64_t r = 0; r < nrows; r++, src += n_per_row) {
        float sigma2 = imatrix ? row_sigma2(src, n_per_row) : 0;
        for (int64_t i = 0; i < nb; i++, out += Q5_0_SZ) {
            const float *x = src + i * QK;
            if (!imatrix) { q5_0_block_plain(x, out); continue; }
            if (i % 8 == 0) weighted_sym8(group_of(i, nb), 16, x, imatrix + i * QK, sigma2, d8, L8);
            const uint8_t *L = L8 + (i % 8) * QK;
            lbq_st_f16(out, d8[i % 8]);
            put_levels(out + 6, out + 2, L);
        }
    }
    return (size_t)(nrows * nb) * Q5_0_SZ;
}

static void q5_0_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += Q5_0_SZ, dst += QK) {
        const float d = lbq_ld_f16(b);
        const uint32_t qh = lb_ld32(b + 2);
        for (int j = 0; j < QK / 2; j++) {
            int lo = (b[6 + j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (b[6 + j] >> 4) | (int)((qh >> (j + QK / 2)) & 1) << 4;
            dst[j] = (lo - 16) * d;
            dst[j + QK / 2] = (hi - 16) * d;
        }
    }
}

/* ---- Q5_1 --------------------------------------------------------------------- */

static void q5_1_block_plain(const float *x, uint8_t *b)
{
    if (lbq_aff_block_fast(x, 5, b)) return;
    uint8_t L[QK];
    float d, min;
    if (!lbq_aff_levels(x, (1 << 5) - 1, 127, &d, &min, L)) {
        float max = -FLT_MAX;
        min = FLT_MAX;
        for (int j = 0; j < QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        for (int j = 0; j < QK; j++) L[j] = (uint8_t)lbq_trunc_u8((x[j] - min) * id + 0.5f);
    }
    lbq_st_f16(b, d);
    lbq_st_f16(b + 2, min);
    put_levels(b + 8, b + 4, L);
}

static size_t q5_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                            const float *imatrix)
{
    int64_t nb = n_per_row / QK;
    uint8_t *out = dst;
    float d8[8], nm8[8];
    uint8_t L8[8 * QK];
    for (int64_t r = 0; r < nrows; r++, src += n_per_row) {
        float sigma2 = imatrix ? row_sigma2(src, n_per_row) : 0;
        for (int64_t i = 0; i < nb; i++, out += Q5_1_SZ) {
            const float *x = src + i * QK;
            if (!imatrix) { q5_1_block_plain(x, out); continue; }
            if (i % 8 == 0) weighted_aff8(group_of(i, nb), 31, x, imatrix + i * QK, sigma2, d8, nm8, L8);
            const uint8_t *L = L8 + (i % 8) * QK;
            lbq_st_f16(out, d8[i % 8]);
            lbq_st_f16(out + 2, -nm8[i % 8]);
            put_levels(out + 8, out + 4, L);
        }
    }
    return (size_t)(nrows * nb) * Q5_1_SZ;
}

static void q5_1_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += Q5_1_SZ, dst += QK) {
        const float d = lbq_ld_f16(b), m = lbq_ld_f16(b + 2);
        const uint32_t qh = lb_ld32(b + 4);
        for (int j = 0; j < QK / 2; j++) {
            int lo = (b[8 + j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (b[8 + j] >> 4) | (int)((qh >> (j + QK / 2)) & 1) << 4;
            dst[j] = lo * d + m;
            dst[j + QK / 2] = hi * d + m;
        }
    }
}

/* ---- rows --------------------------------------------------------------------- */

const lb_qkernel lb_qk_q8_0 = { LB_Q8_0, "q8_0", QK, Q8_0_SZ, q8_0_quantize, q8_0_dequantize, 0, 0 };
const lb_qkernel lb_qk_q4_0 = { LB_Q4_0, "q4_0", QK, Q4_0_SZ, q4_0_quantize, q4_0_dequantize, 1, 0 };
const lb_qkernel lb_qk_q4_1 = { LB_Q4_1, "q4_1", QK, Q4_1_SZ, q4_1_quantize, q4_1_dequantize, 1, 0 };
const lb_qkernel lb_qk_q5_0 = { LB_Q5_0, "q5_0", QK, Q5_0_SZ, q5_0_quantize, q5_0_dequantize, 1, 0 };
const lb_qkernel lb_qk_q5_1 = { LB_Q5_1, "q5_1", QK, Q5_1_SZ, q5_1_quantize, q5_1_dequantize, 1, 0 };
