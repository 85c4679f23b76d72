/* simd.c: the fast paths of the kernels (qimpl.h), one per vector ISA, from one source.
 *
 * Bit-identity with the scalar kernels comes from where the lanes go: a lane is one
 * independent group (a sub-block of a k-quant, or one whole legacy block), and every lane
 * runs the scalar function's float operations one for one, in the same order: the same
 * sequential sums, the same divisions, the same rounding trick, compare-and-select where
 * the scalar code branches. Nothing is summed across lanes and nothing is fused (the
 * build has -ffp-contract=off and no path enables FMA), so each lane's result is the
 * scalar result, bit for bit. Groups with a NaN or an infinity are left to the scalar
 * code (the functions decline). Where one block is done across its values (Q8_0, the
 * plain legacy roundings), only exact operations cross lanes (max, min, equality).
 *
 * lanes.h holds the kernels, in GCC/clang vector extensions; it is compiled here once per
 * path: x86-64 AVX2 (target attribute: one binary runs anywhere and takes the path only
 * where lb_cpu_active() says so) and SSE2 (the x86-64 baseline), aarch64 NEON. */
#include "qimpl.h"

#include <float.h>

#include "lb_cpu.h"

typedef float vf __attribute__((vector_size(32)));
typedef int32_t vi __attribute__((vector_size(32)));

/* vectors never cross a call (every helper is inlined), so no ABI can differ */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define LANE_ISA_AVX2 1
#define LANE_ISA_SSE2 2
#define LANE_ISA_NEON 3

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define LB_LANES_X86 1
#define LANE_ISA LANE_ISA_AVX2
#define LANE_ATTR __attribute__((target("avx2")))
#define L_(n) n##_avx2
#include "lanes.h"
#include "simd_x86.h"
#undef LANE_ISA
#undef LANE_ATTR
#undef L_
#define LANE_ISA LANE_ISA_SSE2
#define LANE_ATTR
#define L_(n) n##_sse2
#include "lanes.h"
#undef LANE_ISA
#undef LANE_ATTR
#undef L_
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#include <arm_neon.h>
#define LB_LANES_NEON 1
#define LANE_ISA LANE_ISA_NEON
#define LANE_ATTR
#define L_(n) n##_neon
#include "lanes.h"
#undef LANE_ISA
#undef LANE_ATTR
#undef L_
#endif

/* Run the active path's version of a kernel; 0 (declined) on the scalar path. */
#if defined(LB_LANES_X86)
#define DISPATCH(fn, ...)                                                       \
    do {                                                                        \
        switch (lb_cpu_active()) {                                              \
        case LB_CPU_AVX2: return fn##_avx2(__VA_ARGS__);                        \
        case LB_CPU_SSE2: return fn##_sse2(__VA_ARGS__);                        \
        default: return 0;                                                      \
        }                                                                       \
    } while (0)
#elif defined(LB_LANES_NEON)
#define DISPATCH(fn, ...) return lb_cpu_active() == LB_CPU_NEON ? fn##_neon(__VA_ARGS__) : 0
#else
#define DISPATCH(fn, ...) return 0
#endif

int lbq_fit_affine8(int n, int nmax, const float *x, int xs, const float *w, int ws, uint8_t *L, int Ls,
                    float *scale, float *neg_min, float rmin, float rdelta, int nstep, int use_mad)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)n; (void)nmax; (void)x; (void)xs; (void)w; (void)ws; (void)L; (void)Ls; (void)scale; (void)neg_min;
    (void)rmin; (void)rdelta; (void)nstep; (void)use_mad;
#endif
    DISPATCH(fit_affine8, n, nmax, x, xs, w, ws, L, Ls, scale, neg_min, rmin, rdelta, nstep, use_mad);
}

int lbq_fit_symmetric8(int n, int nmax, const float *x, int xs, const float *w, int ws, uint8_t *L, int Ls,
                       float *scale)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)n; (void)nmax; (void)x; (void)xs; (void)w; (void)ws; (void)L; (void)Ls; (void)scale;
#endif
    DISPATCH(fit_symmetric8, n, nmax, x, xs, w, ws, L, Ls, scale);
}

int lbq_iq4_fit8(const float *x, int xs, const float *w, int ws, float *d)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)x; (void)xs; (void)w; (void)ws; (void)d;
#endif
    DISPATCH(iq4_fit8, x, xs, w, ws, d);
}

int lbq_iq4_pick(const float *x, int n, float id, uint8_t *L)
{
    if (n % 8) return 0;
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)x; (void)id; (void)L;
#endif
    DISPATCH(iq4_pick, x, n, id, L);
}

/* void kernels: done (1) on a vector path */
#if defined(LB_LANES_X86)
#define DISPATCH_V(fn, ...)                                                     \
    do {                                                                        \
        switch (lb_cpu_active()) {                                              \
        case LB_CPU_AVX2: fn##_avx2(__VA_ARGS__); return 1;                     \
        case LB_CPU_SSE2: fn##_sse2(__VA_ARGS__); return 1;                     \
        default: return 0;                                                      \
        }                                                                       \
    } while (0)
#elif defined(LB_LANES_NEON)
#define DISPATCH_V(fn, ...)                                                     \
    do {                                                                        \
        if (lb_cpu_active() != LB_CPU_NEON) return 0;                           \
        fn##_neon(__VA_ARGS__);                                                 \
        return 1;                                                               \
    } while (0)
#else
#define DISPATCH_V(fn, ...) return 0
#endif

int lbq_sym_levels(const float *x, float div, float bias, int clamp, float *d, uint8_t *L)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)x; (void)div; (void)bias; (void)clamp; (void)d; (void)L;
#endif
    DISPATCH_V(sym_levels, x, div, bias, clamp, d, L);
}

int lbq_aff_levels(const float *x, float div, int clamp, float *d, float *min, uint8_t *L)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)x; (void)div; (void)clamp; (void)d; (void)min; (void)L;
#endif
    DISPATCH_V(aff_levels, x, div, clamp, d, min, L);
}

int lbq_q8_0_block_fast(const float *x, uint8_t *b)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)x; (void)b;
#endif
    DISPATCH(q8_0_block, x, b);
}

int lbq_q8_0_dequant_fast(const uint8_t *b, float *y, int64_t nb)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)b; (void)y; (void)nb;
#endif
    DISPATCH_V(q8_0_dequant, b, y, nb);
}

int lbq_pack_legacy(const uint8_t *L, int spill, uint8_t *qs, uint8_t *qh)
{
#if defined(LB_LANES_X86)
    if (lb_cpu_active() == LB_CPU_SCALAR) return 0;
    pack_legacy_x86(L, spill, qs, qh);
    return 1;
#else
    (void)L; (void)spill; (void)qs; (void)qh;
    return 0;
#endif
}

int lbq_mxfp4_codes_fast(const float *x, const float *scaled, uint8_t *qs)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)x; (void)scaled; (void)qs;
#endif
    DISPATCH_V(mxfp4_codes, x, scaled, qs);
}

int lbq_tq2_0_block_fast(const float *x, uint8_t *b)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)x; (void)b;
#endif
    DISPATCH(tq2_0_block, x, b);
}

int lbq_tq1_0_block_fast(const float *x, uint8_t *b, float *d)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)x; (void)b; (void)d;
#endif
    DISPATCH(tq1_0_block, x, b, d);
}

int lbq_q3_descent8(const float *x, int8_t *L, float *scale)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)x; (void)L; (void)scale;
#endif
    DISPATCH(q3_descent8, x, L, scale);
}

int lbq_q3_relevel(const float *x, const float *d, int8_t *L)
{
#if !defined(LB_LANES_X86) && !defined(LB_LANES_NEON)
    (void)x; (void)d; (void)L;
#endif
    DISPATCH(q3_relevel, x, d, L);
}

int lbq_aff_block_fast(const float *x, int bits, uint8_t *b)
{
#if defined(LB_LANES_X86)
    if (lb_cpu_active() == LB_CPU_AVX2) return aff_block_avx2(x, bits, b);
#else
    (void)x; (void)bits; (void)b;
#endif
    return 0;
}
