/* simd_x86.h: AVX2 intrinsics for the kernels that work across one block's 32 values
 * (Q8_0, the plain Q4_0/Q4_1/Q5_0/Q5_1 roundings), included by simd.c. lanes.h has the
 * same kernels for the other paths; here the masks-to-bits, horizontal max and narrowing
 * are single instructions, which is worth 2-3x on these memory-speed kernels. Same values:
 * test_simd compares every path with the scalar kernels. */
#define AVX2 __attribute__((target("avx2")))

AVX2 static inline __m256 absv(__m256 a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }

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
    /* equal values are equal bits except for zeros: only then does the first one matter */
    if (min == 0) { int i = first_equal(v, min, 0); if (i >= 0) min = x[i]; }
    if (max == 0) { int i = first_equal(v, max, 0); if (i >= 0) max = x[i]; }
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
/* A legacy block's packed levels from 32 bytes L: qs[j] = L[j] | L[j + 16] << 4 (as bytes;
 * low nibbles masked unless spill, where Q4_0 lets a wild level run into the high nibble
 * as ggml does), and for the 5-bit types *qh bit j = bit 4 of L[j]. SSE2 only: the
 * baseline, so the SSE2 path has it too. */
static inline void pack_legacy_x86(const uint8_t *L, int spill, uint8_t *qs, uint8_t *qh)
{
    const __m128i lo = _mm_loadu_si128((const __m128i *)L), hi = _mm_loadu_si128((const __m128i *)(L + 16));
    const __m128i high = _mm_and_si128(_mm_slli_epi16(hi, 4), _mm_set1_epi8((char)0xf0));
    _mm_storeu_si128((__m128i *)qs, _mm_or_si128(spill ? lo : _mm_and_si128(lo, _mm_set1_epi8(0x0f)), high));
    if (qh) {
        uint32_t m = (uint32_t)_mm_movemask_epi8(_mm_slli_epi16(lo, 3)) | (uint32_t)_mm_movemask_epi8(_mm_slli_epi16(hi, 3)) << 16;
        memcpy(qh, &m, 4);   /* x86 is little-endian: the u32 as the block stores it */
    }
}
/* f32 -> f16 bits with F16C: the bits of lb_f32_to_f16 for every value but NaN (the
 * caller keeps NaN to the scalar conversion). */
__attribute__((target("avx2,f16c"))) static inline uint16_t f16_bits_f16c(float f)
{
    return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0);
}

/* The whole plain Q4_1 (bits 4) or Q5_1 (bits 5) block: aff_levels_avx2, the two f16
 * values, the packed levels, in one call. */
__attribute__((target("avx2,f16c"))) static int aff_block_avx2(const float *x, int bits, uint8_t *b)
{
    uint8_t L[32];
    float d, min;
    aff_levels_avx2(x, (float)((1 << bits) - 1), bits == 4 ? 15 : 127, &d, &min, L);
    if (d != d || min != min) { lbq_st_f16(b, d); lbq_st_f16(b + 2, min); }
    else { lb_st16(b, f16_bits_f16c(d)); lb_st16(b + 2, f16_bits_f16c(min)); }
    if (bits == 4) pack_legacy_x86(L, 1, b + 4, NULL);
    else pack_legacy_x86(L, 0, b + 8, b + 4);
    return 1;
}
#undef AVX2
