/* cpu.c: the kernel path (lb_cpu.h) and the plain-float row converters. */
#include "lb_cpu.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LB_X86 1
#include <cpuid.h>
#include <immintrin.h>

/* AVX2 and F16C, and the OS saving the YMM registers (XCR0 bits 1 and 2). */
static int x86_has_avx2(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx || !f16c) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1;
}
#endif

static const char *const path_names[LB_CPU_NPATHS] = { "scalar", "sse2", "avx2", "neon" };
static atomic_int active = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

int lb_cpu_has(lb_cpu_path p)
{
    switch (p) {
    case LB_CPU_SCALAR: return 1;
#ifdef LB_X86
    case LB_CPU_SSE2: return 1;
    case LB_CPU_AVX2: return x86_has_avx2();
#endif
#if defined(__aarch64__)
    case LB_CPU_NEON: return 1;
#endif
    default: return 0;
    }
}

static lb_cpu_path best_path(void)
{
    for (int p = LB_CPU_NPATHS - 1; p > 0; p--)
        if (lb_cpu_has((lb_cpu_path)p)) return (lb_cpu_path)p;
    return LB_CPU_SCALAR;
}

/* LOWBIT_CPU's path, or -1 (unset), or -2 (not a path name). */
static int env_path(const char **val)
{
    const char *v = getenv("LOWBIT_CPU");
    *val = v;
    if (!v || !*v) return -1;
    for (int p = 0; p < LB_CPU_NPATHS; p++)
        if (strcmp(v, path_names[p]) == 0) return p;
    return -2;
}

static void choose(void)
{
    const char *v;
    int p = env_path(&v);
    atomic_store(&active, p >= 0 && lb_cpu_has((lb_cpu_path)p) ? p : (int)best_path());
}

int lb_cpu_init(lb_err *err)
{
    pthread_once(&once, choose);
    const char *v;
    int p = env_path(&v);
    if (p == -2)
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "LOWBIT_CPU='%s': not a kernel path (scalar, sse2, avx2, neon)", v);
    if (p >= 0 && !lb_cpu_has((lb_cpu_path)p))
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "LOWBIT_CPU='%s': this CPU or build does not have it (best: %s)",
                          v, path_names[best_path()]);
    return LB_OK;
}

int lb_cpu_set(lb_cpu_path p, lb_err *err)
{
    pthread_once(&once, choose);
    if ((int)p < 0 || p >= LB_CPU_NPATHS || !lb_cpu_has(p))
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "kernel path %d: not available here", (int)p);
    atomic_store(&active, (int)p);
    return LB_OK;
}

lb_cpu_path lb_cpu_active(void)
{
    int p = atomic_load_explicit(&active, memory_order_relaxed);
    if (p < 0) {
        pthread_once(&once, choose);
        p = atomic_load(&active);
    }
    return (lb_cpu_path)p;
}

const char *lb_cpu_name(lb_cpu_path p)
{
    return (int)p >= 0 && p < LB_CPU_NPATHS ? path_names[p] : "?";
}

/* ---- row converters ---- */

#ifdef LB_X86
__attribute__((target("avx2,f16c"))) static size_t f16_to_f32_avx2(const uint8_t *s, float *d, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + 2 * i))));
    return i;   /* F16C converts every half exactly as lb_f16_to_f32 (checked for all 65536) */
}

__attribute__((target("avx2"))) static size_t bf16_to_f32_avx2(const uint8_t *s, float *d, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + 2 * i)));
        _mm256_storeu_si256((__m256i *)(d + i), _mm256_slli_epi32(h, 16));
    }
    return i;
}

/* vcvtps2ph rounds to nearest even like lb_f32_to_f16; only NaN differs (it keeps the
 * payload), so NaN lanes get lb_f32_to_f16's sign | 0x7e00. */
__attribute__((target("avx2,f16c"))) static size_t f32_to_f16_avx2(const float *s, uint8_t *d, size_t n)
{
    size_t i = 0;
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(s + i);
        __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256i bits = _mm256_castps_si256(x);
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, absmask), inf);
        if (!_mm256_testz_si256(nan, nan)) {
            /* sign | 0x7e00 for NaN lanes, packed to 16 bits like h */
            __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x8000)),
                                        _mm256_set1_epi32(0x7e00));
            __m256i hh = _mm256_cvtepu16_epi32(h);
            hh = _mm256_blendv_epi8(hh, q, nan);
            __m128i lo = _mm256_castsi256_si128(hh), hi = _mm256_extracti128_si256(hh, 1);
            h = _mm_packus_epi32(lo, hi);
        }
        _mm_storeu_si128((__m128i *)(d + 2 * i), h);
    }
    return i;
}

/* lb_f32_to_bf16: u + 0x7fff + ((u >> 16) & 1), NaN: (u >> 16) | 0x40. */
__attribute__((target("avx2"))) static size_t f32_to_bf16_avx2(const float *s, uint8_t *d, size_t n)
{
    size_t i = 0;
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), q = _mm256_set1_epi32(0x40);
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(s + i));
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absmask), inf);
        __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
        r = _mm256_srli_epi32(r, 16);
        r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(u, 16), q), nan);
        __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
        _mm_storeu_si128((__m128i *)(d + 2 * i), _mm_packus_epi32(lo, hi));
    }
    return i;
}
#endif

void lb_f16_row_to_f32(const void *src, float *dst, size_t n)
{
    const uint8_t *p = src;
    size_t i = 0;
#ifdef LB_X86
    if (lb_cpu_active() == LB_CPU_AVX2) i = f16_to_f32_avx2(p, dst, n);
#endif
    for (; i < n; i++) dst[i] = lb_f16_to_f32(lb_ld16(p + 2 * i));
}

void lb_bf16_row_to_f32(const void *src, float *dst, size_t n)
{
    const uint8_t *p = src;
    size_t i = 0;
#ifdef LB_X86
    if (lb_cpu_active() == LB_CPU_AVX2) i = bf16_to_f32_avx2(p, dst, n);
#endif
    for (; i < n; i++) dst[i] = lb_bf16_to_f32(lb_ld16(p + 2 * i));
}

void lb_f32_row_to_f16(const float *src, void *dst, size_t n)
{
    uint8_t *p = dst;
    size_t i = 0;
#ifdef LB_X86
    if (lb_cpu_active() == LB_CPU_AVX2) i = f32_to_f16_avx2(src, p, n);
#endif
    for (; i < n; i++) lb_st16(p + 2 * i, lb_f32_to_f16(src[i]));
}

void lb_f32_row_to_bf16(const float *src, void *dst, size_t n)
{
    uint8_t *p = dst;
    size_t i = 0;
#ifdef LB_X86
    if (lb_cpu_active() == LB_CPU_AVX2) i = f32_to_bf16_avx2(src, p, n);
#endif
    for (; i < n; i++) lb_st16(p + 2 * i, lb_f32_to_bf16(src[i]));
}
