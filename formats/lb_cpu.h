/* lb_cpu.h: which instruction-set path the kernels run (docs/performance.md).
 *
 * Every fast path gives the same bytes as the scalar kernels, which stay the specification;
 * the path only changes the speed. The choice is made once per process: the best path the
 * CPU has, or the one LOWBIT_CPU names (scalar, avx2; others the build does not have are
 * refused by lb_cpu_init). It is process-wide state on purpose, like the CPU itself: the
 * kernels are called from inner loops that have no context argument to carry it. */
#ifndef LB_CPU_H
#define LB_CPU_H

#include <stddef.h>

#include "lb_error.h"

typedef enum lb_cpu_path {
    LB_CPU_SCALAR = 0,   /* the reference kernels, portable C */
    LB_CPU_SSE2,         /* x86-64 baseline: every x86-64 CPU */
    LB_CPU_AVX2,         /* x86-64 AVX2 + F16C */
    LB_CPU_NEON,         /* aarch64 Advanced SIMD: every aarch64 CPU */
    LB_CPU_NPATHS
} lb_cpu_path;

/* Choose the path: LOWBIT_CPU if set (LB_EUSAGE, with the reason, if it names a path
 * this build or this CPU does not have; the path then stays the detected one), else the
 * best the CPU supports. Called by the tools' mains; without a call, the first kernel
 * that asks gets the detected path and LOWBIT_CPU is honoured when valid. */
int lb_cpu_init(lb_err *err);
/* Force a path (tests, benchmarks): LB_EUSAGE if the CPU lacks it. */
int lb_cpu_set(lb_cpu_path p, lb_err *err);
/* The path in use, its name ("scalar", "sse2", "avx2", "neon"), and whether this CPU can
 * run p. The best path is the highest-numbered one the CPU has. */
lb_cpu_path lb_cpu_active(void);
const char *lb_cpu_name(lb_cpu_path p);
int lb_cpu_has(lb_cpu_path p);

/* Plain float rows through the active path: n f16 / bf16 values (little-endian bytes)
 * to f32, and f32 to f16 / bf16 (round to nearest even, NaN kept as a quiet NaN), the
 * same bits as lb_f16_to_f32 and friends value by value. */
void lb_f16_row_to_f32(const void *src, float *dst, size_t n);
void lb_bf16_row_to_f32(const void *src, float *dst, size_t n);
void lb_f32_row_to_f16(const float *src, void *dst, size_t n);
void lb_f32_row_to_bf16(const float *src, void *dst, size_t n);

#endif
