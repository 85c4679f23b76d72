/* lanes.h: the fast paths of the scale searches, written once for every vector ISA.
 *
 * Included by simd.c once per path, with L_(name) giving each function its path's suffix
 * and LANE_ATTR its target attribute; GCC/clang vector extensions (8 x 32-bit lanes)
 * compile to AVX2 (one register), SSE2 or NEON (two). See simd.c for why the lanes give
 * the scalar kernels' bits: a lane is one independent group running the scalar code's
 * float operations in the scalar order; comparisons and selects stand for its branches.
 * Every helper is always_inline, so no vector crosses a call (and no ABI) boundary.
 * LANE_ISA picks the few helpers that are better written with the ISA's own intrinsics
 * (lane masks to bits, table lookups, narrowing); they compute the same values. */

#define LI static inline __attribute__((always_inline)) LANE_ATTR

LI vf L_(splat)(float s) { vf v = { s, s, s, s, s, s, s, s }; return v; }
LI vi L_(splati)(int32_t s) { vi v = { s, s, s, s, s, s, s, s }; return v; }
/* m ? b : a, lane-wise (m: all ones or all zeros per lane) */
LI vf L_(sel)(vf a, vf b, vi m) { return (vf)(((vi)a & ~m) | ((vi)b & m)); }
LI vi L_(seli)(vi a, vi b, vi m) { return (a & ~m) | (b & m); }
LI vf L_(absv)(vf a) { return (vf)((vi)a & 0x7fffffff); }
LI vf L_(negv)(vf a) { return (vf)((vi)a ^ (int32_t)0x80000000); }
LI vf L_(tof)(vi a) { return __builtin_convertvector(a, vf); }
/* round_nearest: add 1.5 * 2^23, read the low mantissa bits */
LI vi L_(nearest)(vf v) { return ((vi)(v + L_(splat)(12582912.f)) & 0x007fffff) - 0x00400000; }
LI vi L_(clampi)(vi v, int lo, int hi)
{
    vi r = L_(seli)(v, L_(splati)(lo), v < lo);
    return L_(seli)(r, L_(splati)(hi), r > hi);
}
/* (int32_t)v as x86-64's cvttss2si: INT32_MIN for NaN and out of range */
LI vi L_(trunc_x86)(vf v)
{
    vi ok = (v > L_(splat)(-2147483904.0f)) & (v < L_(splat)(2147483648.0f));
    vi t = __builtin_convertvector(L_(sel)(L_(splat)(0.0f), v, ok), vi);
    return L_(seli)(L_(splati)(INT32_MIN), t, ok);
}
/* 1 if any lane of mask m is set */
#if LANE_ISA == LANE_ISA_AVX2
LI int L_(any)(vi m) { return _mm256_movemask_ps((__m256)m) != 0; }
#elif LANE_ISA == LANE_ISA_SSE2
LI int L_(any)(vi m)
{
    __m128i h[2];
    memcpy(h, &m, sizeof h);
    return _mm_movemask_ps(_mm_castsi128_ps(_mm_or_si128(h[0], h[1]))) != 0;
}
#elif LANE_ISA == LANE_ISA_NEON
LI int L_(any)(vi m)
{
    uint32_t u[8];
    memcpy(u, &m, sizeof u);
    return vmaxvq_u32(vorrq_u32(vld1q_u32(u), vld1q_u32(u + 4))) != 0;
}
#endif

/* The 8 groups' values side by side: t[i] lane g = x[g * xs + i]. 0 if any is not finite. */
LI int L_(load8)(int n, const float *x, int xs, vf *t)
{
    uint32_t bad = 0;
    for (int i = 0; i < n; i++) {
        vf v = { 0 };
        for (int g = 0; g < 8; g++) {
            float f = x[g * xs + i];
            uint32_t u;
            memcpy(&u, &f, 4);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
            v[g] = f;
        }
        t[i] = v;
    }
    return !bad;
}

LI void L_(store_levels)(int n, const vi *l, int add, uint8_t *L, int Ls)
{
    for (int g = 0; g < 8; g++)
        for (int i = 0; i < n; i++) L[g * Ls + i] = (uint8_t)((unsigned)(l[i][g] + add) & 0xffu);
}

/* fit_affine of kquants.c (and search_affine of q_legacy.c), 8 groups at once. */
LANE_ATTR static int L_(fit_affine8)(int n, int nmax, const float *x, int xs, const float *w, int ws, uint8_t *L,
                                     int Ls, float *scale_out, float *neg_min_out, float rmin, float rdelta, int nstep,
                                     int use_mad)
{
    vf X[32], W[32];
    vi Lb[32], La[32];
    if (n < 1 || n > 32 || !L_(load8)(n, x, xs, X) || !L_(load8)(n, w, ws, W)) return 0;
    const vf zero = L_(splat)(0.0f);
    vf min = X[0], max = X[0], sum_w = W[0], sum_x = sum_w * X[0];
    for (int i = 1; i < n; i++) {
        min = L_(sel)(min, X[i], X[i] < min);
        max = L_(sel)(max, X[i], X[i] > max);
        sum_w = sum_w + W[i];
        sum_x = sum_x + W[i] * X[i];
    }
    min = L_(sel)(min, zero, min > zero);
    vi flat = max == min;   /* these lanes: L = 0, scale 0, -min as found */
    vf iscale = L_(splat)((float)nmax) / (max - min);
    vf scale = L_(splat)(1.0f) / iscale;
    vf best = zero;
    for (int i = 0; i < n; i++) {
        Lb[i] = L_(clampi)(L_(nearest)(iscale * (X[i] - min)), 0, nmax);
        vf diff = scale * L_(tof)(Lb[i]) + min - X[i];
        diff = use_mad ? L_(absv)(diff) : diff * diff;
        best = best + W[i] * diff;
    }
    for (int step = 0; nstep >= 1 && step <= nstep; step++) {
        const float c = rmin + rdelta * step + nmax;   /* the scalar expression, as written there */
        iscale = L_(splat)(c) / (max - min);
        vf sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < n; i++) {
            La[i] = L_(clampi)(L_(nearest)(iscale * (X[i] - min)), 0, nmax);
            vf l = L_(tof)(La[i]);
            vf wl = W[i] * l;
            sum_l = sum_l + wl;
            sum_l2 = sum_l2 + wl * l;
            sum_xl = sum_xl + wl * X[i];
        }
        vf D = sum_w * sum_l2 - sum_l * sum_l;
        vi ok = D > zero;
        if (!L_(any)(ok)) continue;
        vf this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        vf this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        vi pos = this_min > zero;
        this_min = L_(sel)(this_min, zero, pos);
        this_scale = L_(sel)(this_scale, sum_xl / sum_l2, pos);
        vf err = zero;
        for (int i = 0; i < n; i++) {
            vf diff = this_scale * L_(tof)(La[i]) + this_min - X[i];
            diff = use_mad ? L_(absv)(diff) : diff * diff;
            err = err + W[i] * diff;
        }
        vi upd = ~flat & ok & (err < best);
        if (!L_(any)(upd)) continue;
        for (int i = 0; i < n; i++) Lb[i] = L_(seli)(Lb[i], La[i], upd);
        best = L_(sel)(best, err, upd);
        scale = L_(sel)(scale, this_scale, upd);
        min = L_(sel)(min, this_min, upd);
    }
    for (int i = 0; i < n; i++) Lb[i] = Lb[i] & ~flat;
    scale = L_(sel)(scale, zero, flat);
    vf neg_min = L_(negv)(min);
    L_(store_levels)(n, Lb, 0, L, Ls);
    for (int g = 0; g < 8; g++) {
        scale_out[g] = scale[g];
        neg_min_out[g] = neg_min[g];
    }
    return 1;
}

/* The start both symmetric fits share (fit_symmetric and fit_q3_descent of kquants.c):
 * max = the first value of largest magnitude, levels round(-nmax / max * x) clamped to
 * [-nmax, nmax - 1], and their sums sum w x l and sum w l^2. *dead: groups whose |max| is
 * below LBQ_GROUP_EPS (all zero); *max_out (if not NULL) gets max. */
LI void L_(sym_start)(int n, int nmax, const vf *X, const vf *W, vi *Lv, vf *sumlx, vf *suml2, vi *dead, vf *max_out)
{
    const vf zero = L_(splat)(0.0f);
    vf max = zero, amax = zero;
    for (int i = 0; i < n; i++) {
        vf ax = L_(absv)(X[i]);
        vi m = ax > amax;
        amax = L_(sel)(amax, ax, m);
        max = L_(sel)(max, X[i], m);
    }
    *dead = amax < L_(splat)(LBQ_GROUP_EPS);
    vf iscale = L_(splat)((float)-nmax) / max;
    vf lx = zero, l2 = zero;
    for (int i = 0; i < n; i++) {
        Lv[i] = L_(clampi)(L_(nearest)(iscale * X[i]), -nmax, nmax - 1);
        vf l = L_(tof)(Lv[i]);
        lx = lx + W[i] * X[i] * l;
        l2 = l2 + W[i] * l * l;
    }
    *sumlx = lx;
    *suml2 = l2;
    if (max_out) *max_out = max;
}

/* fit_symmetric of kquants.c (search_symmetric of q_legacy.c), 8 groups at once;
 * w NULL: x^2 as the weights. L gets level + nmax. */
LANE_ATTR static int L_(fit_symmetric8)(int n, int nmax, const float *x, int xs, const float *w, int ws, uint8_t *L,
                                        int Ls, float *scale_out)
{
    vf X[32], W[32];
    vi Lb[32], La[32];
    if (n > 32 || !L_(load8)(n, x, xs, X)) return 0;
    if (w && !L_(load8)(n, w, ws, W)) return 0;
    if (!w)
        for (int i = 0; i < n; i++) W[i] = X[i] * X[i];
    const vf zero = L_(splat)(0.0f);
    vf max, sumlx, suml2, iscale;
    vi dead;   /* all-zero groups: L = 0, scale 0 */
    L_(sym_start)(n, nmax, X, W, Lb, &sumlx, &suml2, &dead, &max);
    vf scale = L_(sel)(zero, sumlx / suml2, suml2 != zero);
    vf best = scale * sumlx;
    for (int step = -9; step <= 9; step++) {
        if (step == 0) continue;
        const float c = -(nmax + 0.1f * step);
        iscale = L_(splat)(c) / max;
        sumlx = suml2 = zero;
        for (int i = 0; i < n; i++) {
            La[i] = L_(clampi)(L_(nearest)(iscale * X[i]), -nmax, nmax - 1);
            vf l = L_(tof)(La[i]);
            sumlx = sumlx + W[i] * X[i] * l;
            suml2 = suml2 + W[i] * l * l;
        }
        vi upd = (suml2 > zero) & (sumlx * sumlx > best * suml2);
        if (!L_(any)(upd)) continue;
        for (int i = 0; i < n; i++) Lb[i] = L_(seli)(Lb[i], La[i], upd);
        scale = L_(sel)(scale, sumlx / suml2, upd);
        best = L_(sel)(best, scale * sumlx, upd);
    }
    for (int i = 0; i < n; i++) Lb[i] = L_(seli)(Lb[i], L_(splati)(-nmax), dead);
    scale = L_(sel)(scale, zero, dead);
    L_(store_levels)(n, Lb, nmax, L, Ls);
    for (int g = 0; g < 8; g++) scale_out[g] = scale[g];
    return 1;
}

/* fit_q3_descent of kquants.c (Q3_K without importance weights), 8 groups of 16 at
 * stride 16 at once: the same rounding start, then up to five sweeps of coordinate
 * descent, each lane taking the scalar code's steps (its skips and rejections are masks).
 * A lane whose sweep changed nothing would change nothing in the next one either (its
 * state is the same), so sweeping on while other lanes still change is harmless. L gets
 * level + 4, or 0 for an all-zero group, as the scalar code leaves it. */
LANE_ATTR static int L_(q3_descent8)(const float *x, int8_t *L, float *scale_out)
{
    enum { N = 16, NMAX = 4 };
    vf X[N], W[N];
    vi Lv[N];
    if (!L_(load8)(N, x, N, X)) return 0;
    const vf zero = L_(splat)(0.0f);
    for (int i = 0; i < N; i++) W[i] = X[i] * X[i];
    vf sumlx, suml2;
    vi dead;
    L_(sym_start)(N, NMAX, X, W, Lv, &sumlx, &suml2, &dead, NULL);
    for (int sweep = 0; sweep < 5; sweep++) {
        vi changed = L_(splati)(0);
        for (int i = 0; i < N; i++) {
            vf l = L_(tof)(Lv[i]);
            vf slx = sumlx - W[i] * X[i] * l;
            vi act = (slx > zero) & ~dead;
            vf sl2 = suml2 - W[i] * l * l;
            vi nl = L_(clampi)(L_(nearest)(X[i] * sl2 / slx), -NMAX, NMAX - 1);
            act &= nl != Lv[i];
            vf fnl = L_(tof)(nl);
            slx = slx + W[i] * X[i] * fnl;
            sl2 = sl2 + W[i] * fnl * fnl;
            vi upd = act & (sl2 > zero) & (slx * slx * suml2 > sumlx * sumlx * sl2);
            Lv[i] = L_(seli)(Lv[i], nl, upd);
            sumlx = L_(sel)(sumlx, slx, upd);
            suml2 = L_(sel)(suml2, sl2, upd);
            changed |= upd;
        }
        if (!L_(any)(changed)) break;
    }
    vf scale = L_(sel)(zero, sumlx / suml2, suml2 > zero);
    scale = L_(sel)(scale, zero, dead);
    for (int i = 0; i < N; i++) Lv[i] = L_(seli)(Lv[i] + NMAX, L_(splati)(0), dead);
    for (int g = 0; g < 8; g++) {
        for (int i = 0; i < N; i++) L[g * N + i] = (int8_t)Lv[i][g];
        scale_out[g] = scale[g];
    }
    return 1;
}

/* q3_finish's re-rounding: for each of the 16 groups with a nonzero step d[j], L = the
 * level of x / d (the same division), clamped to [-4, 3], plus 4. */
LANE_ATTR static int L_(q3_relevel)(const float *x, const float *d, int8_t *L)
{
    for (int j = 0; j < 16; j++) {
        if (d[j] == 0) continue;
        const vf dj = L_(splat)(d[j]);
        for (int h = 0; h < 2; h++) {
            vf v;
            memcpy(&v, x + 16 * j + 8 * h, sizeof v);
            vi l = L_(clampi)(L_(nearest)(v / dj), -4, 3) + 4;
            for (int i = 0; i < 8; i++) L[16 * j + 8 * h + i] = (int8_t)l[i];
        }
    }
    return 1;
}

/* lbq_best_index_i8 over the IQ4 table T, lane-wise. For a non-NaN v the scalar binary
 * search ends at lo = the number of levels T[1..14] <= v and picks lo or lo + 1 by the same
 * float comparison (out-of-range values land on 0 or 15 through it too); NaN goes to 15.
 * T[lo] and T[lo+1] are sums of the level steps the comparisons pass (small integers:
 * exact). Returns the index; *q gets T[index]. */
typedef struct L_(iq4t) { vf lev[16], step_a[16], step_b[16]; } L_(iq4t);

LI void L_(iq4_init)(L_(iq4t) *t)
{
    const int8_t *T = lbq_iq4nl_values;
    for (int k = 0; k < 16; k++) {
        t->lev[k] = L_(splat)(T[k]);
        t->step_a[k] = L_(splat)(k ? (float)(T[k] - T[k - 1]) : 0.0f);
        t->step_b[k] = L_(splat)(k < 15 ? (float)(T[k + 1] - T[k]) : 0.0f);
    }
}

#if LANE_ISA == LANE_ISA_AVX2
LI vi L_(iq4_index)(vf vv, vf *q, const L_(iq4t) *t)
{
    const __m256 tlo = _mm256_setr_ps(-127, -104, -83, -65, -49, -35, -22, -10);
    const __m256 thi = _mm256_setr_ps(1, 13, 25, 38, 53, 69, 89, 113);
    const __m256 v = (__m256)vv;
    __m256i lo = _mm256_setzero_si256();
    for (int k = 1; k < 15; k++) lo = _mm256_sub_epi32(lo, _mm256_castps_si256(_mm256_cmp_ps((__m256)t->lev[k], v, _CMP_LE_OQ)));
    __m256i hi = _mm256_add_epi32(lo, _mm256_set1_epi32(1));
    const __m256i seven = _mm256_set1_epi32(7);
    __m256 a = _mm256_blendv_ps(_mm256_permutevar8x32_ps(tlo, lo), _mm256_permutevar8x32_ps(thi, lo),
                                _mm256_castsi256_ps(_mm256_cmpgt_epi32(lo, seven)));
    __m256 b = _mm256_blendv_ps(_mm256_permutevar8x32_ps(tlo, hi), _mm256_permutevar8x32_ps(thi, hi),
                                _mm256_castsi256_ps(_mm256_cmpgt_epi32(hi, seven)));
    __m256 take_lo = _mm256_cmp_ps(_mm256_sub_ps(v, a), _mm256_sub_ps(b, v), _CMP_LT_OQ);
    __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    *q = (vf)_mm256_blendv_ps(_mm256_blendv_ps(b, a, take_lo), (__m256)t->lev[15], nan);
    __m256i idx = _mm256_blendv_epi8(hi, lo, _mm256_castps_si256(take_lo));
    return (vi)_mm256_blendv_epi8(idx, _mm256_set1_epi32(15), _mm256_castps_si256(nan));
}
#else
LI vi L_(iq4_index)(vf v, vf *q, const L_(iq4t) *t)
{
    vi lo = L_(splati)(0);
    vf a = t->lev[0], b = t->lev[1], zero = L_(splat)(0.0f);
    for (int k = 1; k < 15; k++) {
        vi m = t->lev[k] <= v;
        lo = lo - m;
        a = a + L_(sel)(zero, t->step_a[k], m);
        b = b + L_(sel)(zero, t->step_b[k], m);
    }
    vi take_lo = (v - a) < (b - v);
    vi nan = v != v;
    *q = L_(sel)(L_(sel)(b, a, take_lo), t->lev[15], nan);
    vi idx = L_(seli)(lo + 1, lo, take_lo);
    return L_(seli)(idx, L_(splati)(15), nan);
}
#endif

/* fit_group of q_iq4.c for 8 groups of 32: the scale of each. */
LANE_ATTR static int L_(iq4_fit8)(const float *x, int xs, const float *w, int ws, float *d_out)
{
    vf X[32], W[32], q;
    if (!L_(load8)(32, x, xs, X) || !L_(load8)(32, w, ws, W)) return 0;
    L_(iq4t) t;
    L_(iq4_init)(&t);
    const vf zero = L_(splat)(0.0f);
    vf max = zero, amax = zero;
    for (int i = 0; i < 32; i++) {
        vf ax = L_(absv)(X[i]);
        vi m = ax > amax;
        amax = L_(sel)(amax, ax, m);
        max = L_(sel)(max, X[i], m);
    }
    vi dead = amax < L_(splat)(LBQ_GROUP_EPS);
    vf d = L_(negv)(max) / L_(splat)(lbq_iq4nl_values[0]);
    vf id = L_(splat)(1.0f) / d;
    vf sumqx = zero, sumq2 = zero;
    for (int i = 0; i < 32; i++) {
        L_(iq4_index)(id * X[i], &q, &t);
        sumqx = sumqx + W[i] * q * X[i];
        sumq2 = sumq2 + W[i] * q * q;
    }
    d = L_(sel)(zero, sumqx / sumq2, sumq2 > zero);
    vf best = d * sumqx;
    for (int itry = -7; itry <= 7; itry++) {
        id = L_(splat)((float)(itry + lbq_iq4nl_values[0])) / max;
        sumqx = sumq2 = zero;
        for (int i = 0; i < 32; i++) {
            L_(iq4_index)(id * X[i], &q, &t);
            sumqx = sumqx + W[i] * q * X[i];
            sumq2 = sumq2 + W[i] * q * q;
        }
        vi upd = (sumq2 > zero) & (sumqx * sumqx > best * sumq2);
        d = L_(sel)(d, sumqx / sumq2, upd);
        best = L_(sel)(best, d * sumqx, upd);
    }
    d = L_(sel)(d, zero, dead);
    for (int g = 0; g < 8; g++) d_out[g] = d[g];
    return 1;
}

/* pick_indices of q_iq4.c: n (a multiple of 8) finite values against 1/d = id. */
LANE_ATTR static int L_(iq4_pick)(const float *x, int n, float id, uint8_t *L)
{
    for (int j = 0; j < n; j++)
        if (!isfinite(x[j])) return 0;
    vf q;
    L_(iq4t) t;
    L_(iq4_init)(&t);
    for (int j = 0; j < n; j += 8) {
        vf v;
        memcpy(&v, x + j, sizeof v);
        vi l = L_(iq4_index)(L_(splat)(id) * v, &q, &t);
        for (int k = 0; k < 8; k++) L[j + k] = (uint8_t)l[k];
    }
    return 1;
}

/* The largest / smallest lane of a vector without NaN (exact in any order) */
#if LANE_ISA == LANE_ISA_AVX2
LI float L_(hmax)(vf v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128((__m256)v), _mm256_extractf128_ps((__m256)v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

LI float L_(hmin)(vf v)
{
    __m128 m = _mm_min_ps(_mm256_castps256_ps128((__m256)v), _mm256_extractf128_ps((__m256)v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_min_ss(m, _mm_shuffle_ps(m, m, 1)));
}
#else
LI float L_(hmax)(vf v)
{
    float m = v[0];
    for (int k = 1; k < 8; k++) m = v[k] > m ? v[k] : m;
    return m;
}

LI float L_(hmin)(vf v)
{
    float m = v[0];
    for (int k = 1; k < 8; k++) m = v[k] < m ? v[k] : m;
    return m;
}
#endif

#if LANE_ISA != LANE_ISA_AVX2   /* AVX2: simd_x86.h */
/* 32 values as 4 vectors */
LI void L_(load32)(const float *x, vf *v) { memcpy(v, x, 4 * sizeof *v); }

/* Index of the first of 32 values equal to t (== : -0 and +0 tie, as the scalar scans
 * keep the first of equal values), or -1. */
LI int L_(first_equal)(const vf *v, float t, int absolute)
{
    for (int k = 0; k < 4; k++) {
        vi m = (absolute ? L_(absv)(v[k]) : v[k]) == L_(splat)(t);
#if LANE_ISA == LANE_ISA_AVX2
        int bits = _mm256_movemask_ps((__m256)m);
        if (bits) return 8 * k + __builtin_ctz((unsigned)bits);
#else
        if (L_(any)(m))
            for (int g = 0; g < 8; g++)
                if (m[g]) return 8 * k + g;
#endif
    }
    return -1;
}

/* 32 ints in [-128, 127] (4 vectors) to bytes */
LI void L_(narrow32)(const vi *v, uint8_t *L)
{
#if LANE_ISA == LANE_ISA_AVX2
    __m256i a = _mm256_packs_epi32((__m256i)v[0], (__m256i)v[1]), b = _mm256_packs_epi32((__m256i)v[2], (__m256i)v[3]);
    __m256i c = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)L, c);
#else
    for (int k = 0; k < 4; k++)
        for (int g = 0; g < 8; g++) L[8 * k + g] = (uint8_t)v[k][g];
#endif
}

/* 32 float levels t (before truncation) to bytes: (uint8_t)min((int8_t)(int)t, clamp),
 * (int) as x86-64 truncates, (int8_t) the low byte. */
LI void L_(levels_to_bytes)(const vf *t, int clamp, uint8_t *L)
{
    vi v[4];
    for (int k = 0; k < 4; k++) {
#if LANE_ISA == LANE_ISA_AVX2
        vi i = (vi)_mm256_cvttps_epi32((__m256)t[k]);   /* cvttps2dq is the x86-64 rule itself */
#else
        vi i = L_(trunc_x86)(t[k]);
#endif
        i = (i << 24) >> 24;
        v[k] = L_(seli)(i, L_(splati)(clamp), i > clamp);
    }
    L_(narrow32)(v, L);
}

/* Q4_0/Q5_0 plain rounding of one 32-value block: max = the first value of largest
 * magnitude (NaN never wins), d = max / div, id = d ? 1/d : 0, and
 * L[j] = min((int8_t)(int)(x[j] * id + bias), clamp). */
LANE_ATTR static void L_(sym_levels)(const float *x, float div, float bias, int clamp, float *d_out, uint8_t *L)
{
    vf v[4], am = L_(splat)(0.0f);
    L_(load32)(x, v);
    for (int k = 0; k < 4; k++) {
        vf a = L_(absv)(v[k]);
        am = L_(sel)(am, a, a > am);   /* a NaN lane keeps am */
    }
    float amax = L_(hmax)(am);
    float max = amax > 0 ? x[L_(first_equal)(v, amax, 1)] : 0.0f;
    const float d = max / div;
    const float id = d ? 1.0f / d : 0.0f;
    *d_out = d;
    vf t[4];
    for (int k = 0; k < 4; k++) t[k] = v[k] * L_(splat)(id) + L_(splat)(bias);
    L_(levels_to_bytes)(t, clamp, L);
}

/* Q4_1/Q5_1 plain rounding: min and max as the scalar scan finds them (first of equal
 * values, NaN never; FLT_MAX / -FLT_MAX when all are NaN), d = (max - min) / div,
 * L[j] = min((int8_t)(int)((x - min) * id + 0.5), clamp). */
LANE_ATTR static void L_(aff_levels)(const float *x, float div, int clamp, float *d_out, float *min_out, uint8_t *L)
{
    vf v[4], mn = L_(splat)(FLT_MAX), mx = L_(splat)(-FLT_MAX);
    L_(load32)(x, v);
    for (int k = 0; k < 4; k++) {
        mn = L_(sel)(mn, v[k], v[k] < mn);
        mx = L_(sel)(mx, v[k], v[k] > mx);
    }
    float min = L_(hmin)(mn), max = L_(hmax)(mx);
    int imin = L_(first_equal)(v, min, 0), imax = L_(first_equal)(v, max, 0);
    if (imin >= 0) min = x[imin];
    if (imax >= 0) max = x[imax];
    const float d = (max - min) / div;
    const float id = d ? 1.0f / d : 0.0f;
    *d_out = d;
    *min_out = min;
    vf t[4];
    for (int k = 0; k < 4; k++) t[k] = (v[k] - L_(splat)(min)) * L_(splat)(id) + L_(splat)(0.5f);
    L_(levels_to_bytes)(t, clamp, L);
}

/* q8_0_block of q_legacy.c: max is exact in any order and each value's rounding is its
 * own. Declined for Inf/NaN and when the scale is subnormal (x * id can then leave the
 * int8 range, where the scalar code wraps). */
LANE_ATTR static int L_(q8_0_block)(const float *x, uint8_t *b)
{
    vf v[4], am = L_(splat)(0.0f);
    L_(load32)(x, v);
    for (int k = 0; k < 4; k++) {
        vf a = L_(absv)(v[k]);
        if (L_(any)(~(a < L_(splat)(INFINITY)))) return 0;
        am = L_(sel)(am, a, a > am);
    }
    const float d = L_(hmax)(am) / ((1 << 7) - 1);
    if (d != 0 && !(d >= FLT_MIN)) return 0;
    const float id = d ? 1.0f / d : 0.0f;
    lbq_st_f16(b, d);
    vi q[4];
    for (int k = 0; k < 4; k++) {
        vf s = v[k] * L_(splat)(id);
        vi i = __builtin_convertvector(s, vi);   /* |s| <= 127.5: in range */
        vf r = s - L_(tof)(i);
        q[k] = i - (r >= L_(splat)(0.5f)) + (r <= L_(splat)(-0.5f));
    }
    L_(narrow32)(q, b + 2);   /* |q| <= 127 */
    return 1;
}

#endif


/* q8_0_dequantize of q_legacy.c over nb blocks: (float)q * d per value, each one its own
 * exact conversion and single rounding, the scalar operand order kept. */
LANE_ATTR static void L_(q8_0_dequant)(const uint8_t *b, float *y, int64_t nb)
{
    typedef int8_t v8c __attribute__((vector_size(8)));
    for (int64_t i = 0; i < nb; i++, b += 34, y += 32) {
        const vf d = L_(splat)(lbq_ld_f16(b));
        for (int k = 0; k < 4; k++) {
            v8c c;
            memcpy(&c, b + 2 + 8 * k, 8);
            vf f = __builtin_convertvector(c, vf) * d;
            memcpy(y + 8 * k, &f, sizeof f);
        }
    }
}

/* best_code_pair of q_mxfp4.c for a whole block: each value's code of least
 * |scaled[i] - x|, the first code on ties (strict <), one value per lane. NaN values
 * never compare less and keep code 0, as in the scalar loop. */
LANE_ATTR static void L_(mxfp4_codes)(const float *x, const float *scaled, uint8_t *qs)
{
    int32_t c[32];
    for (int k = 0; k < 4; k++) {
        vf v;
        memcpy(&v, x + 8 * k, sizeof v);
        vf s0 = { scaled[0], scaled[0], scaled[0], scaled[0], scaled[0], scaled[0], scaled[0], scaled[0] };
        vf e = (vf)((vi)(s0 - v) & 0x7fffffff);
        vi code = { 0, 0, 0, 0, 0, 0, 0, 0 };
        for (int i = 1; i < 16; i++) {
            vf si = { scaled[i], scaled[i], scaled[i], scaled[i], scaled[i], scaled[i], scaled[i], scaled[i] };
            vf a = (vf)((vi)(si - v) & 0x7fffffff);
            vi lt = a < e;
            vi iv = { i, i, i, i, i, i, i, i };
            code = (code & ~lt) | (iv & lt);
            e = (vf)(((vi)e & ~lt) | ((vi)a & lt));
        }
        memcpy(c + 8 * k, &code, sizeof code);
    }
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(c[j] | c[j + 16] << 4);
}

/* trit of q_ternary.c, lround(v * id) + 1, for values whose block is finite (so |v * id|
 * stays near 1): truncate, then correct by the exact remainder, as lbq_round_in_range. */
LI vi L_(trit)(vf v, vf id)
{
    vf s = v * id;
    vi i = __builtin_convertvector(s, vi);
    vf r = s - L_(tof)(i);
    return i - (r >= L_(splat)(0.5f)) + (r <= L_(splat)(-0.5f)) + 1;
}

LI vf L_(ld8)(const float *x) { vf v; memcpy(&v, x, sizeof v); return v; }

/* block_absmax of q_ternary.c; 0 (declined) when the block holds a NaN or an infinity,
 * or its absmax is subnormal */
LI int L_(tq_absmax)(const float *x, float *amax)
{
    vf m = L_(splat)(0.0f);
    for (int k = 0; k < 32; k++) {
        vf a = L_(absv)(L_(ld8)(x + 8 * k));
        if (L_(any)(~(a < L_(splat)(INFINITY)))) return 0;
        m = L_(sel)(m, a, a > m);
    }
    *amax = L_(hmax)(m);
    return *amax == 0 || *amax >= FLT_MIN;   /* a subnormal absmax: 1/d is infinite */
}

/* tq2_0_block: byte 32h + m holds the trits of x[128h + 32n + m], n = 0..3, two bits each */
LANE_ATTR static int L_(tq2_0_block)(const float *x, uint8_t *b)
{
    float d;
    if (!L_(tq_absmax)(x, &d)) return 0;
    const vf id = L_(splat)(d ? 1.0f / d : 0.0f);
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 32; m += 8) {
            vi q = L_(splati)(0);
            for (int n = 0; n < 4; n++) q |= (L_(trit)(L_(ld8)(x + 128 * h + 32 * n + m), id) & 3) << (2 * n);
            int32_t t[8];
            memcpy(t, &q, sizeof t);
            for (int l = 0; l < 8; l++) b[32 * h + m + l] = (uint8_t)t[l];
        }
    lbq_st_f16(b + 64, d);
    return 1;
}

/* pack5 of q_ternary.c for 8 bytes at once: five trits of x[n * stride], most significant
 * first, as the byte fraction (q * 256 + 242) / 243, the division done in float (exact:
 * the quotient's fraction is at least 1/243 from the next integer). */
LI void L_(pack5x8)(const float *x, int stride, vf id, uint8_t *out)
{
    vi q = L_(splati)(0);
    for (int n = 0; n < 5; n++) q = q * 3 + L_(trit)(L_(ld8)(x + n * stride), id);
    vi v = __builtin_convertvector(L_(tof)(q * 256 + 242) / L_(splat)(243.0f), vi);
    int32_t t[8];
    memcpy(t, &v, sizeof t);
    for (int l = 0; l < 8; l++) out[l] = (uint8_t)t[l];
}

/* tq1_0_block but its last four bytes (four trits each), which the caller packs */
LANE_ATTR static int L_(tq1_0_block)(const float *x, uint8_t *b, float *d_out)
{
    float d;
    if (!L_(tq_absmax)(x, &d)) return 0;
    const vf id = L_(splat)(d ? 1.0f / d : 0.0f);
    for (int m = 0; m < 32; m += 8) L_(pack5x8)(x + m, 32, id, b + m);
    for (int m = 0; m < 16; m += 8) L_(pack5x8)(x + 160 + m, 16, id, b + 32 + m);
    *d_out = d;
    return 1;
}

#undef LI
