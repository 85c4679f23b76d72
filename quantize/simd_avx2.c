/* simd_avx2.c: the AVX2 fast paths of the scale searches (qimpl.h).
 *
 * Bit-identity with the scalar kernels comes from where the lanes go: a lane is one
 * independent group (a sub-block of a k-quant, or one whole legacy block), and every lane
 * runs the scalar function's float operations one for one, in the same order: the same
 * sequential sums, the same divisions, the same rounding trick, compare-and-select where
 * the scalar code branches. Nothing is summed across lanes and nothing is fused (the file
 * is built with -ffp-contract=off and without FMA), so each lane's result is the scalar
 * result, bit for bit. Groups with a NaN or an infinity are left to the scalar code (the
 * functions decline), because min/max and comparisons order NaN differently lane-wise.
 *
 * Compiled on x86-64 only, with per-function target attributes, so one binary runs on any
 * x86-64 CPU and takes this path only when lb_cpu_active() says AVX2. */
#include "qimpl.h"

#include <float.h>

#include "lb_cpu.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))
#define MAXN 32

/* The 8 groups' values side by side: t[i] lane g = x[g * xs + i]. 0 if any is not finite. */
AVX2 static int load8(int n, const float *x, int xs, __m256 *t)
{
    float tmp[MAXN][8];
    uint32_t bad = 0;
    for (int g = 0; g < 8; g++)
        for (int i = 0; i < n; i++) {
            float v = x[g * xs + i];
            uint32_t u;
            memcpy(&u, &v, 4);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
            tmp[i][g] = v;
        }
    for (int i = 0; i < n; i++) t[i] = _mm256_loadu_ps(tmp[i]);
    return !bad;
}

/* round_nearest (add 1.5 * 2^23, read the low mantissa bits), lane-wise */
AVX2 static inline __m256i nearest8(__m256 v)
{
    __m256i b = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.f)));
    return _mm256_sub_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x00400000));
}

AVX2 static inline __m256i clamp8(__m256i v, int lo, int hi)
{
    __m256i r = _mm256_blendv_epi8(v, _mm256_set1_epi32(lo), _mm256_cmpgt_epi32(_mm256_set1_epi32(lo), v));
    return _mm256_blendv_epi8(r, _mm256_set1_epi32(hi), _mm256_cmpgt_epi32(r, _mm256_set1_epi32(hi)));
}

AVX2 static inline __m256 sel(__m256 a, __m256 b, __m256 m) { return _mm256_blendv_ps(a, b, m); }
AVX2 static inline __m256 gt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
AVX2 static inline __m256 lt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
AVX2 static inline __m256 absv(__m256 a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }

AVX2 static void store_levels(int n, const __m256i *l, int add, uint8_t *L, int Ls)
{
    int32_t tmp[MAXN][8];
    for (int i = 0; i < n; i++) _mm256_storeu_si256((__m256i *)tmp[i], l[i]);
    for (int g = 0; g < 8; g++)
        for (int i = 0; i < n; i++) L[g * Ls + i] = (uint8_t)((unsigned)(tmp[i][g] + add) & 0xffu);
}

/* fit_affine of kquants.c (and search_affine of q_legacy.c), 8 groups at once. */
AVX2 static int fit_affine8_avx2(int n, int nmax, const float *x, int xs, const float *w, int ws, uint8_t *L,
                                 int Ls, float *scale_out, float *neg_min_out, float rmin, float rdelta, int nstep,
                                 int use_mad)
{
    __m256 X[MAXN], W[MAXN];
    __m256i Lb[MAXN], La[MAXN];
    if (n > MAXN || !load8(n, x, xs, X) || !load8(n, w, ws, W)) return 0;
    const __m256 zero = _mm256_setzero_ps();
    __m256 min = X[0], max = X[0], sum_w = W[0], sum_x = _mm256_mul_ps(sum_w, X[0]);
    for (int i = 1; i < n; i++) {
        min = _mm256_min_ps(X[i], min);   /* x < min ? x : min */
        max = _mm256_max_ps(X[i], max);   /* x > max ? x : max */
        sum_w = _mm256_add_ps(sum_w, W[i]);
        sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(W[i], X[i]));
    }
    min = sel(min, zero, gt(min, zero));
    __m256 flat = _mm256_cmp_ps(max, min, _CMP_EQ_OQ);   /* these lanes: L = 0, scale 0 */
    __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)nmax), _mm256_sub_ps(max, min));
    __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale);
    __m256 best = zero;
    for (int i = 0; i < n; i++) {
        Lb[i] = clamp8(nearest8(_mm256_mul_ps(iscale, _mm256_sub_ps(X[i], min))), 0, nmax);
        __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(Lb[i])), min), X[i]);
        diff = use_mad ? absv(diff) : _mm256_mul_ps(diff, diff);
        best = _mm256_add_ps(best, _mm256_mul_ps(W[i], diff));
    }
    for (int step = 0; nstep >= 1 && step <= nstep; step++) {
        const float c = rmin + rdelta * step + nmax;   /* the scalar expression, as written there */
        iscale = _mm256_div_ps(_mm256_set1_ps(c), _mm256_sub_ps(max, min));
        __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < n; i++) {
            La[i] = clamp8(nearest8(_mm256_mul_ps(iscale, _mm256_sub_ps(X[i], min))), 0, nmax);
            __m256 l = _mm256_cvtepi32_ps(La[i]);
            __m256 wl = _mm256_mul_ps(W[i], l);
            sum_l = _mm256_add_ps(sum_l, wl);
            sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, l));
            sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, X[i]));
        }
        __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
        __m256 ok = gt(D, zero);
        if (_mm256_movemask_ps(ok) == 0) continue;
        __m256 this_scale = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
        __m256 this_min = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
        __m256 pos = gt(this_min, zero);
        this_min = sel(this_min, zero, pos);
        this_scale = sel(this_scale, _mm256_div_ps(sum_xl, sum_l2), pos);
        __m256 err = zero;
        for (int i = 0; i < n; i++) {
            __m256 diff = _mm256_sub_ps(
                _mm256_add_ps(_mm256_mul_ps(this_scale, _mm256_cvtepi32_ps(La[i])), this_min), X[i]);
            diff = use_mad ? absv(diff) : _mm256_mul_ps(diff, diff);
            err = _mm256_add_ps(err, _mm256_mul_ps(W[i], diff));
        }
        __m256 upd = _mm256_andnot_ps(flat, _mm256_and_ps(ok, lt(err, best)));   /* flat lanes returned */
        if (_mm256_movemask_ps(upd) == 0) continue;
        __m256i updi = _mm256_castps_si256(upd);
        for (int i = 0; i < n; i++) Lb[i] = _mm256_blendv_epi8(Lb[i], La[i], updi);
        best = sel(best, err, upd);
        scale = sel(scale, this_scale, upd);
        min = sel(min, this_min, upd);
    }
    /* flat lanes: levels 0, scale 0, -min as found */
    __m256i flati = _mm256_castps_si256(flat);
    for (int i = 0; i < n; i++) Lb[i] = _mm256_andnot_si256(flati, Lb[i]);
    scale = sel(scale, zero, flat);
    __m256 neg_min = _mm256_xor_ps(min, _mm256_set1_ps(-0.0f));
    store_levels(n, Lb, 0, L, Ls);
    _mm256_storeu_ps(scale_out, scale);
    _mm256_storeu_ps(neg_min_out, neg_min);
    return 1;
}

/* fit_symmetric of kquants.c, 8 groups at once; w NULL: x^2 as the weights. L gets
 * l + nmax. */
AVX2 static int fit_symmetric8_avx2(int n, int nmax, const float *x, int xs, const float *w, int ws, uint8_t *L,
                                    int Ls, float *scale_out)
{
    __m256 X[MAXN], W[MAXN];
    __m256i Lb[MAXN], La[MAXN];
    if (n > MAXN || !load8(n, x, xs, X)) return 0;
    if (w && !load8(n, w, ws, W)) return 0;
    if (!w)
        for (int i = 0; i < n; i++) W[i] = _mm256_mul_ps(X[i], X[i]);
    const __m256 zero = _mm256_setzero_ps();
    __m256 max = zero, amax = zero;
    for (int i = 0; i < n; i++) {
        __m256 ax = absv(X[i]), m = gt(ax, amax);
        amax = sel(amax, ax, m);
        max = sel(max, X[i], m);
    }
    __m256 dead = lt(amax, _mm256_set1_ps(LBQ_GROUP_EPS));   /* all-zero groups: L = nmax, scale 0 */
    __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)-nmax), max);
    __m256 sumlx = zero, suml2 = zero;
    for (int i = 0; i < n; i++) {
        Lb[i] = clamp8(nearest8(_mm256_mul_ps(iscale, X[i])), -nmax, nmax - 1);
        __m256 l = _mm256_cvtepi32_ps(Lb[i]);
        sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(W[i], X[i]), l));
        suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(W[i], l), l));
    }
    __m256 scale = sel(zero, _mm256_div_ps(sumlx, suml2), _mm256_cmp_ps(suml2, zero, _CMP_NEQ_UQ));
    __m256 best = _mm256_mul_ps(scale, sumlx);
    for (int step = -9; step <= 9; step++) {
        if (step == 0) continue;
        const float c = -(nmax + 0.1f * step);
        iscale = _mm256_div_ps(_mm256_set1_ps(c), max);
        sumlx = suml2 = zero;
        for (int i = 0; i < n; i++) {
            La[i] = clamp8(nearest8(_mm256_mul_ps(iscale, X[i])), -nmax, nmax - 1);
            __m256 l = _mm256_cvtepi32_ps(La[i]);
            sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(W[i], X[i]), l));
            suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(W[i], l), l));
        }
        __m256 upd = _mm256_and_ps(gt(suml2, zero), gt(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2)));
        if (_mm256_movemask_ps(upd) == 0) continue;
        __m256i updi = _mm256_castps_si256(upd);
        for (int i = 0; i < n; i++) Lb[i] = _mm256_blendv_epi8(Lb[i], La[i], updi);
        scale = sel(scale, _mm256_div_ps(sumlx, suml2), upd);
        best = sel(best, _mm256_mul_ps(scale, sumlx), upd);
    }
    __m256i deadi = _mm256_castps_si256(dead);
    for (int i = 0; i < n; i++) Lb[i] = _mm256_blendv_epi8(Lb[i], _mm256_set1_epi32(-nmax), deadi);
    scale = sel(scale, zero, dead);
    store_levels(n, Lb, nmax, L, Ls);
    _mm256_storeu_ps(scale_out, scale);
    return 1;
}

/* lbq_best_index_i8 over the IQ4 table, lane-wise: for a non-NaN v, the scalar binary
 * search ends at lo = the number of levels T[1..14] <= v, and picks lo or lo + 1 by the
 * same float comparison; out-of-range values land on 0 or 15 through that comparison too.
 * NaN goes to 15 as in the scalar search. Returns the index; *q gets T[index] as a float. */
AVX2 static inline __m256i iq4_index8(__m256 v, __m256 *q, const __m256 tlo, const __m256 thi, const __m256 *lev)
{
    __m256i lo = _mm256_setzero_si256();
    for (int k = 1; k < 15; k++) lo = _mm256_sub_epi32(lo, _mm256_castps_si256(_mm256_cmp_ps(lev[k], v, _CMP_LE_OQ)));
    __m256i hi = _mm256_add_epi32(lo, _mm256_set1_epi32(1));
    const __m256i seven = _mm256_set1_epi32(7);
    __m256 a = _mm256_blendv_ps(_mm256_permutevar8x32_ps(tlo, lo), _mm256_permutevar8x32_ps(thi, lo),
                                _mm256_castsi256_ps(_mm256_cmpgt_epi32(lo, seven)));
    __m256 b = _mm256_blendv_ps(_mm256_permutevar8x32_ps(tlo, hi), _mm256_permutevar8x32_ps(thi, hi),
                                _mm256_castsi256_ps(_mm256_cmpgt_epi32(hi, seven)));
    __m256 take_lo = lt(_mm256_sub_ps(v, a), _mm256_sub_ps(b, v));
    /* NaN: every comparison of the binary search fails, which ends on the last level */
    __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    *q = _mm256_blendv_ps(_mm256_blendv_ps(b, a, take_lo), lev[15], nan);
    __m256i idx = _mm256_blendv_epi8(hi, lo, _mm256_castps_si256(take_lo));
    return _mm256_blendv_epi8(idx, _mm256_set1_epi32(15), _mm256_castps_si256(nan));
}

typedef struct iq4_tab { __m256 tlo, thi, lev[16]; } iq4_tab;

AVX2 static void iq4_tab_init(iq4_tab *t)
{
    float f[16];
    for (int k = 0; k < 16; k++) f[k] = lbq_iq4nl_values[k];
    t->tlo = _mm256_loadu_ps(f);
    t->thi = _mm256_loadu_ps(f + 8);
    for (int k = 0; k < 16; k++) t->lev[k] = _mm256_set1_ps(f[k]);
}

/* fit_group of q_iq4.c for 8 groups of 32: the scale of each. */
AVX2 static int iq4_fit8_avx2(const float *x, int xs, const float *w, int ws, float *d_out)
{
    __m256 X[32], W[32];
    if (!load8(32, x, xs, X) || !load8(32, w, ws, W)) return 0;
    iq4_tab t;
    iq4_tab_init(&t);
    const __m256 zero = _mm256_setzero_ps();
    __m256 max = zero, amax = zero;
    for (int i = 0; i < 32; i++) {
        __m256 ax = absv(X[i]), m = gt(ax, amax);
        amax = sel(amax, ax, m);
        max = sel(max, X[i], m);
    }
    __m256 dead = lt(amax, _mm256_set1_ps(LBQ_GROUP_EPS));
    const float t0 = lbq_iq4nl_values[0];
    __m256 d = _mm256_div_ps(_mm256_xor_ps(max, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(t0));
    __m256 id = _mm256_div_ps(_mm256_set1_ps(1.0f), d);
    __m256 sumqx = zero, sumq2 = zero, q;
    for (int i = 0; i < 32; i++) {
        iq4_index8(_mm256_mul_ps(id, X[i]), &q, t.tlo, t.thi, t.lev);
        __m256 wq = _mm256_mul_ps(W[i], q);
        sumqx = _mm256_add_ps(sumqx, _mm256_mul_ps(wq, X[i]));
        sumq2 = _mm256_add_ps(sumq2, _mm256_mul_ps(wq, q));
    }
    d = sel(zero, _mm256_div_ps(sumqx, sumq2), gt(sumq2, zero));
    __m256 best = _mm256_mul_ps(d, sumqx);
    for (int itry = -7; itry <= 7; itry++) {
        id = _mm256_div_ps(_mm256_set1_ps((float)(itry + lbq_iq4nl_values[0])), max);
        sumqx = sumq2 = zero;
        for (int i = 0; i < 32; i++) {
            iq4_index8(_mm256_mul_ps(id, X[i]), &q, t.tlo, t.thi, t.lev);
            __m256 wq = _mm256_mul_ps(W[i], q);
            sumqx = _mm256_add_ps(sumqx, _mm256_mul_ps(wq, X[i]));
            sumq2 = _mm256_add_ps(sumq2, _mm256_mul_ps(wq, q));
        }
        __m256 upd = _mm256_and_ps(gt(sumq2, zero), gt(_mm256_mul_ps(sumqx, sumqx), _mm256_mul_ps(best, sumq2)));
        d = sel(d, _mm256_div_ps(sumqx, sumq2), upd);
        best = sel(best, _mm256_mul_ps(d, sumqx), upd);
    }
    _mm256_storeu_ps(d_out, sel(d, zero, dead));
    return 1;
}

/* pick_indices of q_iq4.c: n (a multiple of 8) finite values against 1/d = id. */
AVX2 static int iq4_pick_avx2(const float *x, int n, float id, uint8_t *L)
{
    iq4_tab t;
    iq4_tab_init(&t);
    const __m256 vid = _mm256_set1_ps(id), inf = _mm256_set1_ps(INFINITY);
    for (int j = 0; j < n; j += 8)
        if (_mm256_movemask_ps(_mm256_cmp_ps(absv(_mm256_loadu_ps(x + j)), inf, _CMP_NLT_UQ))) return 0;
    int32_t l[8];
    __m256 q;
    for (int j = 0; j < n; j += 8) {
        _mm256_storeu_si256((__m256i *)l, iq4_index8(_mm256_mul_ps(vid, _mm256_loadu_ps(x + j)), &q, t.tlo, t.thi, t.lev));
        for (int k = 0; k < 8; k++) L[j + k] = (uint8_t)l[k];
    }
    return 1;
}

/* Index of the first of 32 values (4 vectors) equal to t (== : -0 and +0 tie, as the
 * scalar scans keep the first of equal values), or -1. */
AVX2 static inline int first_equal(const __m256 *v, float t, int absolute)
{
    __m256 vt = _mm256_set1_ps(t);
    uint32_t m = 0;
    for (int k = 0; k < 4; k++)
        m |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(absolute ? absv(v[k]) : v[k], vt, _CMP_EQ_OQ)) << (8 * k);
    return m ? __builtin_ctz(m) : -1;
}

AVX2 static inline float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

AVX2 static inline float hmin8(__m256 v)
{
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_min_ss(m, _mm_shuffle_ps(m, m, 1)));
}

/* 32 float levels t (before truncation) to bytes: (uint8_t)min((int8_t)(int)t, clamp), where
 * (int) is x86-64's cvttss2si (0x80000000 for NaN and out of range) and (int8_t) keeps
 * the low byte. */
AVX2 static inline void levels_to_bytes(const __m256 *t, int clamp, uint8_t *L)
{
    __m256i v[4];
    for (int k = 0; k < 4; k++) {
        __m256i i = _mm256_cvttps_epi32(t[k]);
        i = _mm256_srai_epi32(_mm256_slli_epi32(i, 24), 24);
        v[k] = _mm256_min_epi32(i, _mm256_set1_epi32(clamp));
    }
    __m256i a = _mm256_packs_epi32(v[0], v[1]), b = _mm256_packs_epi32(v[2], v[3]);
    __m256i c = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)L, c);
}

/* Q4_0/Q5_0 plain rounding of one 32-value block: max = the first value of largest
 * magnitude (NaN never wins), d = max / div, id = d ? 1/d : 0, and
 * L[j] = min((int8_t)(int)(x[j] * id + bias), clamp). */
AVX2 static void sym_levels_avx2(const float *x, float div, float bias, int clamp, float *d_out, uint8_t *L)
{
    __m256 v[4], am = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        am = _mm256_max_ps(absv(v[k]), am);   /* a NaN lane keeps am */
    }
    float amax = hmax8(am);
    float max = amax > 0 ? x[first_equal(v, amax, 1)] : 0.0f;
    const float d = max / div;
    const float id = d ? 1.0f / d : 0.0f;
    *d_out = d;
    const __m256 vid = _mm256_set1_ps(id), vb = _mm256_set1_ps(bias);
    __m256 t[4];
    for (int k = 0; k < 4; k++) t[k] = _mm256_add_ps(_mm256_mul_ps(v[k], vid), vb);
    levels_to_bytes(t, clamp, L);
}

/* Q4_1/Q5_1 plain rounding: min and max as the scalar scan finds them (first of equal
 * values, NaN never; FLT_MAX / -FLT_MAX when all are NaN), d = (max - min) / div,
 * L[j] = min((int8_t)(int)((x - min) * id + 0.5), clamp). */
AVX2 static void aff_levels_avx2(const float *x, float div, int clamp, float *d_out, float *min_out, uint8_t *L)
{
    __m256 v[4], mn = _mm256_set1_ps(FLT_MAX), mx = _mm256_set1_ps(-FLT_MAX);
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        mn = _mm256_min_ps(v[k], mn);
        mx = _mm256_max_ps(v[k], mx);
    }
    float min = hmin8(mn), max = hmax8(mx);
    int imin = first_equal(v, min, 0), imax = first_equal(v, max, 0);
    if (imin >= 0) min = x[imin];
    if (imax >= 0) max = x[imax];
    const float d = (max - min) / div;
    const float id = d ? 1.0f / d : 0.0f;
    *d_out = d;
    *min_out = min;
    const __m256 vid = _mm256_set1_ps(id), vmin = _mm256_set1_ps(min), half = _mm256_set1_ps(0.5f);
    __m256 t[4];
    for (int k = 0; k < 4; k++) t[k] = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v[k], vmin), vid), half);
    levels_to_bytes(t, clamp, L);
}

/* q8_0_block of q_legacy.c: max is exact in any order and each value's rounding is its
 * own, so the block is done across its 32 values. Declined when the scale is subnormal
 * (x * id can then leave the int8 range, where the scalar code wraps). */
AVX2 static int q8_0_block_avx2(const float *x, uint8_t *b)
{
    const __m256 signbit = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    __m256 v[4], amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        __m256 a = _mm256_andnot_ps(signbit, v[k]);
        if (_mm256_movemask_ps(_mm256_cmp_ps(a, inf, _CMP_NLT_UQ))) return 0;   /* Inf or NaN */
        amax = _mm256_max_ps(amax, a);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float d = _mm_cvtss_f32(m4) / ((1 << 7) - 1);
    if (d != 0 && !(d >= 1.17549435e-38f)) return 0;
    const float id = d ? 1.0f / d : 0.0f;
    lbq_st_f16(b, d);
    const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f), nhalf = _mm256_set1_ps(-0.5f);
    int32_t q[32];
    for (int k = 0; k < 4; k++) {
        __m256 s = _mm256_mul_ps(v[k], vid);
        __m256i i = _mm256_cvttps_epi32(s);
        __m256 r = _mm256_sub_ps(s, _mm256_cvtepi32_ps(i));
        i = _mm256_sub_epi32(i, _mm256_castps_si256(_mm256_cmp_ps(r, half, _CMP_GE_OQ)));
        i = _mm256_add_epi32(i, _mm256_castps_si256(_mm256_cmp_ps(r, nhalf, _CMP_LE_OQ)));
        _mm256_storeu_si256((__m256i *)(q + 8 * k), i);
    }
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)((unsigned)q[j] & 0xffu);
    return 1;
}
#endif

static inline int avx2_on(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return lb_cpu_active() == LB_CPU_AVX2;
#else
    return 0;
#endif
}

int lbq_fit_affine8(int n, int nmax, const float *x, int xs, const float *w, int ws, uint8_t *L, int Ls,
                    float *scale, float *neg_min, float rmin, float rdelta, int nstep, int use_mad)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (avx2_on()) return fit_affine8_avx2(n, nmax, x, xs, w, ws, L, Ls, scale, neg_min, rmin, rdelta, nstep, use_mad);
#endif
    (void)n; (void)nmax; (void)x; (void)xs; (void)w; (void)ws; (void)L; (void)Ls; (void)scale; (void)neg_min;
    (void)rmin; (void)rdelta; (void)nstep; (void)use_mad;
    return 0;
}

int lbq_fit_symmetric8(int n, int nmax, const float *x, int xs, const float *w, int ws, uint8_t *L, int Ls,
                       float *scale)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (avx2_on()) return fit_symmetric8_avx2(n, nmax, x, xs, w, ws, L, Ls, scale);
#endif
    (void)n; (void)nmax; (void)x; (void)xs; (void)w; (void)ws; (void)L; (void)Ls; (void)scale;
    return 0;
}

int lbq_iq4_fit8(const float *x, int xs, const float *w, int ws, float *d)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (avx2_on()) return iq4_fit8_avx2(x, xs, w, ws, d);
#endif
    (void)x; (void)xs; (void)w; (void)ws; (void)d;
    return 0;
}

int lbq_iq4_pick(const float *x, int n, float id, uint8_t *L)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (avx2_on() && n % 8 == 0) return iq4_pick_avx2(x, n, id, L);
#endif
    (void)x; (void)n; (void)id; (void)L;
    return 0;
}

int lbq_sym_levels(const float *x, float div, float bias, int clamp, float *d, uint8_t *L)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (avx2_on()) { sym_levels_avx2(x, div, bias, clamp, d, L); return 1; }
#endif
    (void)x; (void)div; (void)bias; (void)clamp; (void)d; (void)L;
    return 0;
}

int lbq_aff_levels(const float *x, float div, int clamp, float *d, float *min, uint8_t *L)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (avx2_on()) { aff_levels_avx2(x, div, clamp, d, min, L); return 1; }
#endif
    (void)x; (void)div; (void)clamp; (void)d; (void)min; (void)L;
    return 0;
}

int lbq_q8_0_block_fast(const float *x, uint8_t *b)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (avx2_on()) return q8_0_block_avx2(x, b);
#endif
    (void)x; (void)b;
    return 0;
}
