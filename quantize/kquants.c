/* kquants.c: scalar reference kernels for the k-quants Q2_K..Q6_K.
 *
 * Block layouts (byte offsets inside one 256-weight block; fp16 fields little-endian):
 *
 *   q2_K  84 B  [0] scales[16]  low nibble: scale, high nibble: min (4 bits each)
 *               [16] qs[64]     2-bit quants   [80] d (f16)   [82] dmin (f16)
 *   q3_K 110 B  [0] hmask[32]   high (third) bit of each quant
 *               [32] qs[64]     low 2 bits     [96] scales[12] 16 x 6 bits   [108] d (f16)
 *   q4_K 144 B  [0] d  [2] dmin  [4] scales[12] 8 scales + 8 mins, 6 bits each
 *               [16] qs[128]    4-bit quants
 *   q5_K 176 B  [0] d  [2] dmin  [4] scales[12] as q4_K  [16] qh[32] fifth bit
 *               [48] qs[128]    low 4 bits
 *   q6_K 210 B  [0] ql[128]     low 4 bits     [128] qh[64] high 2 bits
 *               [192] scales[16] int8          [208] d (f16)
 *
 * The arithmetic (order of float operations, rounding, integer wrap-around on narrowing)
 * follows ggml-quants.c of llama.cpp 0.4.0 step by step, so the bytes match
 * ggml_quantize_chunk; see docs/kquants.md. Build with -ffp-contract=off: a fused
 * multiply-add would round differently and change bytes. */
#include "lb_kquants.h"

#include <math.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "qimpl.h"

#define QK LB_QK_K
/* A group whose largest |x| is below this is all zero (ggml's GROUP_MAX_EPS). */
#define ZERO_GROUP 1e-15f

enum { Q2_SC = 0, Q2_QS = 16, Q2_D = 80, Q2_DMIN = 82 };
enum { Q3_HM = 0, Q3_QS = 32, Q3_SC = 96, Q3_D = 108 };
enum { Q4_D = 0, Q4_DMIN = 2, Q4_SC = 4, Q4_QS = 16 };
enum { Q5_D = 0, Q5_DMIN = 2, Q5_SC = 4, Q5_QH = 16, Q5_QS = 48 };
enum { Q6_QL = 0, Q6_QH = 128, Q6_SC = 192, Q6_D = 208 };

/* 2.625 bpw: 16 scale/min bytes + 256 x 2 bits + 2 fp16 */
_Static_assert(16 + QK / 4 + 2 + 2 == LB_Q2_K_BLOCK && Q2_DMIN + 2 == LB_Q2_K_BLOCK, "q2_K block");
/* 3.4375 bpw: 256 x (1 + 2) bits + 12 scale bytes + fp16 */
_Static_assert(QK / 8 + QK / 4 + 12 + 2 == LB_Q3_K_BLOCK && Q3_D + 2 == LB_Q3_K_BLOCK, "q3_K block");
/* 4.5 bpw: 2 fp16 + 12 scale bytes + 256 x 4 bits */
_Static_assert(2 + 2 + 12 + QK / 2 == LB_Q4_K_BLOCK && Q4_QS + QK / 2 == LB_Q4_K_BLOCK, "q4_K block");
/* 5.5 bpw: 2 fp16 + 12 scale bytes + 256 x (1 + 4) bits */
_Static_assert(2 + 2 + 12 + QK / 8 + QK / 2 == LB_Q5_K_BLOCK && Q5_QS + QK / 2 == LB_Q5_K_BLOCK, "q5_K block");
/* 6.5625 bpw: 256 x (4 + 2) bits + 16 int8 scales + fp16 */
_Static_assert(QK / 2 + QK / 4 + 16 + 2 == LB_Q6_K_BLOCK && Q6_D + 2 == LB_Q6_K_BLOCK, "q6_K block");

/* ---- small helpers ----------------------------------------------------------- */

/* Round to nearest, ties to even, by adding 1.5 * 2^23: the float addition rounds and the
 * integer lands in the low mantissa bits. Exact for |v| < 2^22; outside that it returns
 * the same bits ggml's nearest_int does, which is what byte-identity needs. */
static inline int round_nearest(float v)
{
    float biased = v + 12582912.f;
    uint32_t bits;
    memcpy(&bits, &biased, sizeof bits);
    return (int)(bits & 0x007fffffu) - 0x00400000;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline int mini(int a, int b) { return a < b ? a : b; }
/* Narrowing as ggml's implicit int -> uint8_t / int8_t conversions do (modulo 256). */
static inline uint8_t wrap_u8(int v) { return (uint8_t)((unsigned)v & 0xffu); }
static inline int8_t wrap_s8(int v)
{
    int u = (int)((unsigned)v & 0xffu);
    return (int8_t)(u > 127 ? u - 256 : u);
}

static inline float f16_at(const uint8_t *p) { return lb_f16_to_f32(lb_ld16(p)); }

static float sum_squares(const float *x, int n)
{
    float s = 0;
    for (int i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

/* ---- scale searches ---------------------------------------------------------- */

/* Symmetric fit x[i] ~ s * l[i], l in [-nmax, nmax-1], stored as l + nmax in L.
 * Importance w[i] (x[i]^2 when w is NULL). Starts from the scale that maps the
 * largest-magnitude value to -nmax, then tries 18 slightly different grid sizes; for each
 * rounding the best scale is sum(w x l) / sum(w l^2), and the rounding kept is the one
 * with the largest sum(w x l)^2 / sum(w l^2), i.e. the least weighted squared error. */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L, const float *w)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < ZERO_GROUP) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(round_nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float wi = w ? w[i] : x[i] * x[i];
        sumlx += wi * x[i] * l;
        suml2 += wi * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int step = -9; step <= 9; step++) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_nearest(iscale * x[i]), -nmax, nmax - 1);
            float wi = w ? w[i] : x[i] * x[i];
            sumlx += wi * x[i] * l;
            suml2 += wi * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + clampi(round_nearest(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's unweighted fit: symmetric rounding at -nmax/max, then up to 5 sweeps of
 * coordinate descent: each quant is moved to the level the other quants' optimal scale
 * suggests, if that raises sum(w x l)^2 / sum(w l^2) (w = x^2). L gets l + nmax. */
static float fit_q3_descent(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < ZERO_GROUP) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(round_nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int sweep = 0; sweep < 5; sweep++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int nl = clampi(round_nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == L[i]) continue;
            slx += w * x[i] * nl;
            sl2 += w * nl * nl;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Affine fit x[i] ~ scale * L[i] - m with L in [0, nmax] and m >= 0 (*neg_min gets m).
 * Starts from the grid spanning [min(x, 0), max(x)], then for nstep+1 grid sizes
 * (nmax + rmin + rdelta*k) rounds, solves the weighted least-squares scale and offset for
 * that rounding (offset clamped to <= 0), and keeps the candidate with the smallest
 * weighted error (|diff| if use_mad, else diff^2). ggml's make_qkx2/make_qkx3. */
static float fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min,
                        uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(round_nearest(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best += w[i] * diff;
    }
    if (nstep < 1) {
        *neg_min = -min;
        return scale;
    }
    for (int step = 0; step <= nstep; step++) {
        iscale = (rmin + rdelta * step + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_nearest(iscale * (x[i] - min)), 0, nmax);
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
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            diff = use_mad ? fabsf(diff) : diff * diff;
            err += w[i] * diff;
        }
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Quantize non-negative values (the sub-block scales or mins) to L in [0, nmax] with one
 * shared step, weighted by w: best of 9 grid sizes around nmax/max, then up to 5 sweeps
 * of coordinate descent as in fit_q3_descent. Returns the step. ggml's make_qp_quants. */
static float fit_positive(int n, int nmax, const float *x, uint8_t *L, const float *w)
{
    float max = 0;
    for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
    if (max < ZERO_GROUP) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; i++) L[i] = wrap_u8(round_nearest(iscale * x[i]));
    float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; i++) {
        float diff = x[i] - scale * L[i];
        best_mse += w[i] * diff * diff;
    }
    for (int step = -4; step <= 4; step++) {
        if (step == 0) continue;
        float iscale_s = (0.1f * step + nmax) / max;
        float scale_s = 1 / iscale_s;
        float mse = 0;
        for (int i = 0; i < n; i++) {
            int l = mini(nmax, round_nearest(iscale_s * x[i]));
            float diff = x[i] - scale_s * l;
            mse += w[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_s;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = mini(nmax, round_nearest(iscale * x[i]));
        L[i] = wrap_u8(l);
        sumlx += w[i] * x[i] * l;
        suml2 += w[i] * l * l;
    }
    for (int sweep = 0; sweep < 5; sweep++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float slx = sumlx - w[i] * x[i] * L[i];
            float sl2 = suml2 - w[i] * L[i] * L[i];
            if (!(slx > 0 && sl2 > 0)) continue;
            int nl = mini(nmax, round_nearest(x[i] * sl2 / slx));
            if (nl == L[i]) continue;
            slx += w[i] * x[i] * nl;
            sl2 += w[i] * nl * nl;
            if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = wrap_u8(nl);
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ---- packing ----------------------------------------------------------------- */

/* 2-bit fields: byte 32*h + l holds weights 128h + l + 32k at bits 2k (k = 0..3). */
static void pack_2bit(uint8_t *qs, const uint8_t *L)
{
    for (int h = 0; h < QK; h += 128)
        for (int l = 0; l < 32; l++)
            qs[h / 4 + l] = (uint8_t)(L[h + l] | L[h + l + 32] << 2 | L[h + l + 64] << 4 | L[h + l + 96] << 6);
}

/* Q4_K/Q5_K: 8 six-bit scales and 8 six-bit mins in 12 bytes. Bytes 0-3: scales 0-3
 * (bits 0-5) + top 2 bits of scales 4-7; bytes 4-7: mins 0-3 + top bits of mins 4-7;
 * bytes 8-11: low nibbles of scales 4-7 | low nibbles of mins 4-7 << 4. */
static void pack_k4_scales(uint8_t *s, const uint8_t *ls, const uint8_t *lm)
{
    for (int j = 0; j < 4; j++) {
        s[j] = ls[j];
        s[j + 4] = lm[j];
    }
    for (int j = 4; j < 8; j++) {
        s[j + 4] = (uint8_t)((ls[j] & 0xF) | (lm[j] & 0xF) << 4);
        s[j - 4] = (uint8_t)(s[j - 4] | (ls[j] >> 4) << 6);
        s[j] = (uint8_t)(s[j] | (lm[j] >> 4) << 6);
    }
}

static void k4_scale_min(int j, const uint8_t *s, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* Q3_K: 16 six-bit scales (stored biased by 32) in 12 bytes. Bytes 0-7: low nibbles of
 * scales 0-7 | low nibbles of scales 8-15 << 4; bytes 8-11: the top 2 bits, scale j at
 * byte 8 + j%4, bits 2*(j/4). */
static void pack_q3_scales(uint8_t *s, const int *v)
{
    memset(s, 0, 12);
    for (int j = 0; j < 16; j++) {
        int l = v[j];
        if (j < 8) s[j] = (uint8_t)(l & 0xF);
        else s[j - 8] = (uint8_t)(s[j - 8] | (l & 0xF) << 4);
        l >>= 4;
        s[j % 4 + 8] = (uint8_t)(s[j % 4 + 8] | (unsigned)l << (2 * (j / 4)));
    }
}

static int q3_scale(const uint8_t *s, int j)
{
    int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* ---- Q2_K -------------------------------------------------------------------- */

/* Final rounding with the stored (fp16, 4-bit) scales and mins, then packing. */
static void q2_finish(const float *x, uint8_t *b, uint8_t *L, uint16_t d16, uint16_t m16)
{
    lb_st16(b + Q2_D, d16);
    lb_st16(b + Q2_DMIN, m16);
    float dall = lb_f16_to_f32(d16), mall = lb_f16_to_f32(m16);
    for (int j = 0; j < QK / 16; j++) {
        const float d = dall * (b[Q2_SC + j] & 0xF);
        if (d == 0) continue;
        const float dm = mall * (b[Q2_SC + j] >> 4);
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (uint8_t)clampi(round_nearest((x[16 * j + i] + dm) / d), 0, 3);
    }
    pack_2bit(b + Q2_QS, L);
}

static void q2_block_ref(const float *x, uint8_t *b, const float *unused)
{
    (void)unused;
    uint8_t L[QK], Laux[16];
    float w[QK], mins[QK / 16], scales[QK / 16];
    float max_scale = 0, max_min = 0;
    for (int i = 0; i < QK; i++) w[i] = fabsf(x[i]);
    for (int h = 0; h < 2; h++)   /* 8 sub-blocks at a time on the fast path */
        if (!lbq_fit_affine8(16, 3, x + 128 * h, 16, w + 128 * h, 16, L + 128 * h, 16, scales + 8 * h, mins + 8 * h,
                             -0.5f, 0.1f, 15, 1))
            for (int j = 8 * h; j < 8 * h + 8; j++)
                scales[j] = fit_affine(16, 3, x + 16 * j, w + 16 * j, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
    for (int j = 0; j < QK / 16; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    uint8_t *sc = b + Q2_SC;
    uint16_t d16, m16;
    if (max_scale > 0) {
        float iscale = 15.f / max_scale;
        for (int j = 0; j < QK / 16; j++) sc[j] = wrap_u8(round_nearest(iscale * scales[j]));
        d16 = lb_f32_to_f16(max_scale / 15.f);
    } else {
        memset(sc, 0, QK / 16);
        d16 = lb_f32_to_f16(0.f);
    }
    if (max_min > 0) {
        float iscale = 15.f / max_min;
        for (int j = 0; j < QK / 16; j++)
            sc[j] = wrap_u8((int)(sc[j] | (unsigned)round_nearest(iscale * mins[j]) << 4));
        m16 = lb_f32_to_f16(max_min / 15.f);
    } else {
        m16 = lb_f32_to_f16(0.f);
    }
    q2_finish(x, b, L, d16, m16);
}

/* With importance weights qw: per-weight importance qw * sqrt(sigma2 + x^2), a finer
 * affine search, and the 4-bit scales/mins chosen by a weighted fit, not max/15. */
static void q2_block_weighted(const float *x, uint8_t *b, const float *qw)
{
    uint8_t L[QK], Laux[16], Ls[QK / 16], Lm[QK / 16];
    float w[QK], sw[QK / 16], mins[QK / 16], scales[QK / 16];
    float sigma2 = sum_squares(x, QK) / QK;
    for (int j = 0; j < QK / 16; j++) {
        for (int i = 0; i < 16; i++) w[16 * j + i] = qw[16 * j + i] * sqrtf(sigma2 + x[16 * j + i] * x[16 * j + i]);
        sw[j] = 0;
        for (int i = 0; i < 16; i++) sw[j] += w[16 * j + i];
    }
    for (int h = 0; h < 2; h++)
        if (!lbq_fit_affine8(16, 3, x + 128 * h, 16, w + 128 * h, 16, L + 128 * h, 16, scales + 8 * h, mins + 8 * h,
                             -0.9f, 0.05f, 36, 0))
            for (int j = 8 * h; j < 8 * h + 8; j++)
                scales[j] = fit_affine(16, 3, x + 16 * j, w + 16 * j, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
    float dm = fit_positive(QK / 16, 15, scales, Ls, sw);
    float mm = fit_positive(QK / 16, 15, mins, Lm, sw);
    for (int j = 0; j < QK / 16; j++) b[Q2_SC + j] = wrap_u8(Ls[j] | Lm[j] << 4);
    q2_finish(x, b, L, lb_f32_to_f16(dm), lb_f32_to_f16(mm));
}

/* ---- Q3_K -------------------------------------------------------------------- */

static void q3_finish(const float *x, uint8_t *b, int8_t *L, uint16_t d16)
{
    lb_st16(b + Q3_D, d16);
    float dall = lb_f16_to_f32(d16), d[QK / 16];
    for (int j = 0; j < QK / 16; j++) d[j] = dall * q3_scale(b + Q3_SC, j);
    if (!lbq_q3_relevel(x, d, L))
        for (int j = 0; j < QK / 16; j++) {
            if (d[j] == 0) continue;
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (int8_t)(clampi(round_nearest(x[16 * j + i] / d[j]), -4, 3) + 4);
        }
    /* Third bit of weight k goes to hmask byte k % 32, bit k / 32; the rest to qs. The
     * levels are 0..7 here, so bit 2 is the third bit and l & 3 the rest (no branch). */
    uint8_t low[QK];
    memset(b + Q3_HM, 0, QK / 8);
    for (int k = 0; k < QK; k++) {
        unsigned l = (unsigned)L[k] & 7u;
        b[Q3_HM + k % 32] = (uint8_t)(b[Q3_HM + k % 32] | (l >> 2) << (k / 32));
        low[k] = (uint8_t)(l & 3u);
    }
    pack_2bit(b + Q3_QS, low);
}

static void q3_block_ref(const float *x, uint8_t *b, const float *unused)
{
    (void)unused;
    int8_t L[QK];
    int lv[QK / 16];
    float scales[QK / 16];
    float max_scale = 0, amax = 0;
    for (int h = 0; h < 2; h++)
        if (!lbq_q3_descent8(x + 128 * h, L + 128 * h, scales + 8 * h))
            for (int j = 8 * h; j < 8 * h + 8; j++) scales[j] = fit_q3_descent(16, 4, x + 16 * j, L + 16 * j);
    for (int j = 0; j < QK / 16; j++) {
        float a = fabsf(scales[j]);
        if (a > amax) { amax = a; max_scale = scales[j]; }
    }
    uint16_t d16;
    if (max_scale != 0) {
        float iscale = -32.f / max_scale;
        for (int j = 0; j < QK / 16; j++)
            lv[j] = clampi(wrap_s8(round_nearest(iscale * scales[j])), -32, 31) + 32;
        pack_q3_scales(b + Q3_SC, lv);
        d16 = lb_f32_to_f16(1 / iscale);
    } else {
        memset(b + Q3_SC, 0, 12);
        d16 = lb_f32_to_f16(0.f);
    }
    q3_finish(x, b, L, d16);
}

static void q3_block_weighted(const float *x, uint8_t *b, const float *qw)
{
    int8_t L[QK], Ls[QK / 16];
    int lv[QK / 16];
    float w[QK], sw[QK / 16], scales[QK / 16];
    float sigma2 = 2 * sum_squares(x, QK) / QK;
    for (int j = 0; j < QK / 16; j++) {
        for (int i = 0; i < 16; i++) w[16 * j + i] = qw[16 * j + i] * sqrtf(sigma2 + x[16 * j + i] * x[16 * j + i]);
        float sumw = 0;
        for (int i = 0; i < 16; i++) sumw += w[16 * j + i];
        sw[j] = sumw;
    }
    for (int h = 0; h < 2; h++)
        if (!lbq_fit_symmetric8(16, 4, x + 128 * h, 16, w + 128 * h, 16, (uint8_t *)L + 128 * h, 16, scales + 8 * h))
            for (int j = 8 * h; j < 8 * h + 8; j++) scales[j] = fit_symmetric(16, 4, x + 16 * j, L + 16 * j, w + 16 * j);
    float d_block = fit_symmetric(QK / 16, 32, scales, Ls, sw);
    for (int j = 0; j < QK / 16; j++) lv[j] = Ls[j];
    pack_q3_scales(b + Q3_SC, lv);
    q3_finish(x, b, L, lb_f32_to_f16(d_block));
}

/* ---- Q4_K and Q5_K (shared scale search) --------------------------------------- */

/* Unweighted: importance av|x| + |x| per 32-weight group; 6-bit scales/mins = max/63 grid. */
static void k4_scales_ref(const float *x, uint8_t *b, uint8_t *L, int nmax, float rmin, float rdelta, int nstep)
{
    uint8_t Laux[32], ls[QK / 32], lm[QK / 32];
    float w[QK], mins[QK / 32], scales[QK / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK / 32; j++) {
        float av_x = sqrtf(sum_squares(x + 32 * j, 32) / 32);
        for (int i = 0; i < 32; i++) w[32 * j + i] = av_x + fabsf(x[32 * j + i]);
    }
    if (!lbq_fit_affine8(32, nmax, x, 32, w, 32, L, 32, scales, mins, rmin, rdelta, nstep, 0))
        for (int j = 0; j < QK / 32; j++)
            scales[j] = fit_affine(32, nmax, x + 32 * j, w + 32 * j, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep, 0);
    for (int j = 0; j < QK / 32; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK / 32; j++) {
        ls[j] = (uint8_t)mini(63, wrap_u8(round_nearest(inv_scale * scales[j])));
        lm[j] = (uint8_t)mini(63, wrap_u8(round_nearest(inv_min * mins[j])));
    }
    pack_k4_scales(b + 4, ls, lm);
    lb_st16(b + 0, lb_f32_to_f16(max_scale / 63.f));
    lb_st16(b + 2, lb_f32_to_f16(max_min / 63.f));
}

/* Weighted: importance qw * sqrt(sigma2 + x^2), finer affine search, weighted 6-bit fit.
 * clamp63: Q5_K clamps the fitted levels to 63 again, Q4_K does not (same bytes unless a
 * level wrapped around, but ggml differs there, so we do too). */
static void k4_scales_weighted(const float *x, uint8_t *b, uint8_t *L, int nmax, const float *qw, int clamp63)
{
    uint8_t Laux[32], Ls[QK / 32], Lm[QK / 32];
    float w[QK], sw[QK / 32], mins[QK / 32], scales[QK / 32];
    float sigma2 = 2 * sum_squares(x, QK) / QK;
    for (int j = 0; j < QK / 32; j++) {
        for (int i = 0; i < 32; i++) w[32 * j + i] = qw[32 * j + i] * sqrtf(sigma2 + x[32 * j + i] * x[32 * j + i]);
        float sumw = 0;
        for (int i = 0; i < 32; i++) sumw += w[32 * j + i];
        sw[j] = sumw;
    }
    if (!lbq_fit_affine8(32, nmax, x, 32, w, 32, L, 32, scales, mins, -0.9f, 0.05f, 36, 0))
        for (int j = 0; j < QK / 32; j++)
            scales[j] = fit_affine(32, nmax, x + 32 * j, w + 32 * j, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
    float d_block = fit_positive(QK / 32, 63, scales, Ls, sw);
    float m_block = fit_positive(QK / 32, 63, mins, Lm, sw);
    if (clamp63)
        for (int j = 0; j < QK / 32; j++) {
            Ls[j] = (uint8_t)mini(63, Ls[j]);
            Lm[j] = (uint8_t)mini(63, Lm[j]);
        }
    pack_k4_scales(b + 4, Ls, Lm);
    lb_st16(b + 0, lb_f32_to_f16(d_block));
    lb_st16(b + 2, lb_f32_to_f16(m_block));
}

/* Final rounding of every weight with the stored scales (d, dmin at bytes 0 and 2). */
static void k4_requantize(const float *x, const uint8_t *b, uint8_t *L, int nmax)
{
    float dall = f16_at(b + 0), mall = f16_at(b + 2);
    for (int j = 0; j < QK / 32; j++) {
        int sc, m;
        k4_scale_min(j, b + 4, &sc, &m);
        const float d = dall * sc;
        if (d == 0) continue;
        const float dm = mall * m;
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)clampi(round_nearest((x[32 * j + i] + dm) / d), 0, nmax);
    }
}

/* 64-weight chunk c: byte 32c + l holds weight 64c + l (low nibble) and 64c + 32 + l. */
static void q4_pack(uint8_t *b, const uint8_t *L)
{
    for (int c = 0; c < QK / 64; c++)
        for (int l = 0; l < 32; l++)
            b[Q4_QS + 32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
}

/* As q4 for the low nibbles; bit 2c of qh[l] is the fifth bit of weight 64c + l and bit
 * 2c+1 that of weight 64c + 32 + l. */
static void q5_pack(uint8_t *b, const uint8_t *L)
{
    memset(b + Q5_QH, 0, QK / 8);
    for (int c = 0; c < QK / 64; c++)
        for (int l = 0; l < 32; l++) {
            int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
            uint8_t *qh = b + Q5_QH + l;
            if (lo > 15) { lo -= 16; *qh = (uint8_t)(*qh | 1u << (2 * c)); }
            if (hi > 15) { hi -= 16; *qh = (uint8_t)(*qh | 2u << (2 * c)); }
            b[Q5_QS + 32 * c + l] = (uint8_t)(lo | hi << 4);
        }
}

static void q4_block_ref(const float *x, uint8_t *b, const float *unused)
{
    (void)unused;
    uint8_t L[QK];
    k4_scales_ref(x, b, L, 15, -1.f, 0.1f, 20);
    k4_requantize(x, b, L, 15);
    q4_pack(b, L);
}

static void q4_block_weighted(const float *x, uint8_t *b, const float *qw)
{
    uint8_t L[QK];
    k4_scales_weighted(x, b, L, 15, qw, 0);
    k4_requantize(x, b, L, 15);
    q4_pack(b, L);
}

static void q5_block_ref(const float *x, uint8_t *b, const float *unused)
{
    (void)unused;
    uint8_t L[QK];
    k4_scales_ref(x, b, L, 31, -0.5f, 0.1f, 15);
    k4_requantize(x, b, L, 31);
    q5_pack(b, L);
}

static void q5_block_weighted(const float *x, uint8_t *b, const float *qw)
{
    uint8_t L[QK];
    k4_scales_weighted(x, b, L, 31, qw, 1);
    k4_requantize(x, b, L, 31);
    q5_pack(b, L);
}

/* ---- Q6_K -------------------------------------------------------------------- */

/* One path for both: the weights are the importance matrix itself, or x^2 without one. */
static void q6_block(const float *x, uint8_t *b, const float *qw)
{
    int8_t L[QK];
    float scales[QK / 16];
    float max_scale = 0, max_abs = 0;
    for (int h = 0; h < 2; h++)
        if (!lbq_fit_symmetric8(16, 32, x + 128 * h, 16, qw ? qw + 128 * h : NULL, 16, (uint8_t *)L + 128 * h, 16,
                                scales + 8 * h))
            for (int j = 8 * h; j < 8 * h + 8; j++)
                scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j, qw ? qw + 16 * j : NULL);
    for (int j = 0; j < QK / 16; j++) {
        float a = fabsf(scales[j]);
        if (a > max_abs) { max_abs = a; max_scale = scales[j]; }
    }
    if (max_abs < ZERO_GROUP) {
        memset(b, 0, LB_Q6_K_BLOCK);
        lb_st16(b + Q6_D, lb_f32_to_f16(0.f));
        return;
    }
    float iscale = -128.f / max_scale;
    uint16_t d16 = lb_f32_to_f16(1 / iscale);
    lb_st16(b + Q6_D, d16);
    float dall = lb_f16_to_f32(d16);
    for (int j = 0; j < QK / 16; j++) {
        int8_t sc = wrap_s8(mini(127, round_nearest(iscale * scales[j])));
        b[Q6_SC + j] = (uint8_t)sc;
        const float d = dall * sc;
        if (d == 0) continue;
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (int8_t)(clampi(round_nearest(x[16 * j + i] / d), -32, 31) + 32);
    }
    /* Half h (128 weights): ql[64h + l] = w(l) | w(l+64) << 4, ql[64h + 32 + l] =
     * w(l+32) | w(l+96) << 4 (low nibbles); qh[32h + l] = top 2 bits of w(l + 32k) at 2k. */
    for (int h = 0; h < 2; h++) {
        const int8_t *q = L + 128 * h;
        uint8_t *ql = b + Q6_QL + 64 * h, *qh = b + Q6_QH + 32 * h;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((q[l] & 0xF) | (q[l + 64] & 0xF) << 4);
            ql[l + 32] = (uint8_t)((q[l + 32] & 0xF) | (q[l + 96] & 0xF) << 4);
            qh[l] = (uint8_t)(q[l] >> 4 | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 | (q[l + 96] >> 4) << 6);
        }
    }
}

/* ---- row drivers --------------------------------------------------------------- */

typedef void (*block_fn)(const float *x, uint8_t *b, const float *qw);

static size_t quantize_rows(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                            const float *imatrix, size_t bsize, block_fn plain, block_fn weighted)
{
    if (nrows <= 0 || n_per_row <= 0 || n_per_row % QK) return 0;
    int64_t nb = n_per_row / QK;
    uint8_t *out = dst;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t i = 0; i < nb; i++) {
            const float *x = src + r * n_per_row + i * QK;
            uint8_t *b = out + (size_t)(r * nb + i) * bsize;
            if (imatrix) weighted(x, b, imatrix + i * QK);
            else plain(x, b, NULL);
        }
    return (size_t)(nrows * nb) * bsize;
}

size_t lb_quantize_q2_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{ return quantize_rows(src, dst, nrows, n_per_row, imatrix, LB_Q2_K_BLOCK, q2_block_ref, q2_block_weighted); }
size_t lb_quantize_q3_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{ return quantize_rows(src, dst, nrows, n_per_row, imatrix, LB_Q3_K_BLOCK, q3_block_ref, q3_block_weighted); }
size_t lb_quantize_q4_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{ return quantize_rows(src, dst, nrows, n_per_row, imatrix, LB_Q4_K_BLOCK, q4_block_ref, q4_block_weighted); }
size_t lb_quantize_q5_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{ return quantize_rows(src, dst, nrows, n_per_row, imatrix, LB_Q5_K_BLOCK, q5_block_ref, q5_block_weighted); }
size_t lb_quantize_q6_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{ return quantize_rows(src, dst, nrows, n_per_row, imatrix, LB_Q6_K_BLOCK, q6_block, q6_block); }

/* ---- dequantization ------------------------------------------------------------ */
/* Each output is computed with exactly ggml's float expression for it (same operand
 * order), so the floats are bit-identical to ggml's to_float. */

void lb_dequantize_q2_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t blk = 0; blk < n / QK; blk++, b += LB_Q2_K_BLOCK, dst += QK) {
        float d = f16_at(b + Q2_D), dmin = f16_at(b + Q2_DMIN);
        for (int k = 0; k < QK; k++) {
            int sc = b[Q2_SC + k / 16];
            int q = (b[Q2_QS + (k / 128) * 32 + k % 32] >> (2 * ((k % 128) / 32))) & 3;
            float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            dst[k] = dl * q - ml;
        }
    }
}

void lb_dequantize_q3_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t blk = 0; blk < n / QK; blk++, b += LB_Q3_K_BLOCK, dst += QK) {
        float d = f16_at(b + Q3_D);
        for (int k = 0; k < QK; k++) {
            int low = (b[Q3_QS + (k / 128) * 32 + k % 32] >> (2 * ((k % 128) / 32))) & 3;
            int high = (b[Q3_HM + k % 32] >> (k / 32)) & 1;
            float dl = d * q3_scale(b + Q3_SC, k / 16);
            dst[k] = dl * (low - (high ? 0 : 4));
        }
    }
}

void lb_dequantize_q4_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t blk = 0; blk < n / QK; blk++, b += LB_Q4_K_BLOCK, dst += QK) {
        float d = f16_at(b + Q4_D), dmin = f16_at(b + Q4_DMIN);
        for (int j = 0; j < QK / 32; j++) {
            int sc, m;
            k4_scale_min(j, b + Q4_SC, &sc, &m);
            float dl = d * sc, ml = dmin * m;
            const uint8_t *qs = b + Q4_QS + 32 * (j / 2);
            for (int l = 0; l < 32; l++) {
                int q = j % 2 ? qs[l] >> 4 : qs[l] & 0xF;
                dst[32 * j + l] = dl * q - ml;
            }
        }
    }
}

void lb_dequantize_q5_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t blk = 0; blk < n / QK; blk++, b += LB_Q5_K_BLOCK, dst += QK) {
        float d = f16_at(b + Q5_D), dmin = f16_at(b + Q5_DMIN);
        for (int j = 0; j < QK / 32; j++) {
            int sc, m;
            k4_scale_min(j, b + Q5_SC, &sc, &m);
            float dl = d * sc, ml = dmin * m;
            const uint8_t *qs = b + Q5_QS + 32 * (j / 2);
            for (int l = 0; l < 32; l++) {
                int q = (j % 2 ? qs[l] >> 4 : qs[l] & 0xF) + ((b[Q5_QH + l] >> j) & 1 ? 16 : 0);
                dst[32 * j + l] = dl * q - ml;
            }
        }
    }
}

void lb_dequantize_q6_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t blk = 0; blk < n / QK; blk++, b += LB_Q6_K_BLOCK, dst += QK) {
        float d = f16_at(b + Q6_D);
        for (int k = 0; k < QK; k++) {
            int h = k / 128, g = (k % 128) / 32, l = k % 32;
            int byte = b[Q6_QL + 64 * h + l + 32 * (g & 1)];
            int low = g < 2 ? byte & 0xF : byte >> 4;
            int high = (b[Q6_QH + 32 * h + l] >> (2 * g)) & 3;
            int8_t sc = wrap_s8(b[Q6_SC + k / 16]);
            dst[k] = d * sc * ((low | high << 4) - 32);
        }
    }
}
