/* test_simd.c: every fast kernel path gives the scalar path's bytes.
 *
 * For each kernel type, each path this CPU has (lb_cpu.h) and each row set (the real rows
 * from ../shared/models that the kernel interop tests use, heavy-tailed synthetic rows,
 * the edge rows, and rows whose groups mix zero, constant, tiny and huge values so that
 * lanes of one vector take different branches), quantize with and without importance
 * weights and compare the blocks and their decoded floats with the scalar path, byte for
 * byte. The scalar kernels are themselves checked against ggml by the interop tests. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../interop/kern_data.h"
#include "lb_cpu.h"
#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_metrics.h"
#include "lb_quant.h"
#include "tap.h"

/* Rows whose 16-value groups are, at random: zero, a constant, normal, tiny normal,
 * denormal, or normal with one huge value; and a few rows built to tie on |max|. */
static void mixed_rows(kd_list *l)
{
    const int64_t n = 512, rows = 64;
    kd_set *s = kd_add(l, "synth mixed groups", rows, n, 0);
    kd_seed(7);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g = 0; g < n / 16; g++) {
            int kind = (int)(kd_next() % 10);
            float c = (float)kd_normal();
            for (int64_t i = 0; i < 16; i++) {
                float v = (float)kd_normal();
                float *x = &s->x[r * n + g * 16 + i];
                switch (kind) {
                case 0: *x = 0.0f; break;
                case 1: *x = c; break;
                case 2: *x = v; break;
                case 3: *x = v * 1e-20f; break;
                case 4: *x = (float)(v * 1e-41); break;
                case 5: *x = i == 3 ? 5000.0f * c : v * 0.01f; break;
                case 6: *x = (i & 1) ? 0.5f : -0.5f; break;   /* ties on |max| */
                /* zeros of both signs: the extreme is a zero, and which one comes first
                 * decides the sign the block stores */
                case 7: *x = (kd_next() & 1) ? -0.0f : 0.0f; break;
                case 8: *x = i % 3 == 0 ? ((kd_next() & 1) ? -0.0f : 0.0f) : fabsf(v); break;
                default: *x = i % 3 == 0 ? ((kd_next() & 1) ? -0.0f : 0.0f) : -fabsf(v); break;
                }
            }
        }
    for (int64_t j = 0; j < n; j++) s->imat[j] = (float)(0.1 + kd_unif() * (j % 3 == 0 ? 100 : 1));
    /* 11 blocks of 32 per row: the legacy and IQ4_NL kernels' 8-block groups leave a tail */
    kd_set *t = kd_add(l, "synth rows of 352", 16, 352, 0);
    for (int64_t j = 0; j < 16 * 352; j++) t->x[j] = (float)kd_student(3);
    for (int64_t j = 0; j < 352; j++) t->imat[j] = (float)(0.1 + kd_unif());
}

static int run_kernel(const lb_qkernel *k, lb_cpu_path p, const kd_set *s, const float *im, uint8_t *q, float *y)
{
    lb_err err;
    if (lb_cpu_set(p, &err)) return 0;
    k->quantize(s->x, q, s->nrows, s->ncols, im);
    k->dequantize(q, y, s->nrows * s->ncols);
    return 1;
}

/* The scalar path's blocks of every kernel case, as one FNV-1a digest per case, printed as
 * INFO lines: tests/cli/simd_cross.sh compares them between x86-64 and aarch64 (the same
 * rows must give the same bytes on every architecture). */
static void print_digests(const kd_list *sets)
{
    const lb_qkernel *const *ks;
    size_t nk = lb_qkernel_list(&ks);
    lb_err err;
    lb_cpu_set(LB_CPU_SCALAR, &err);
    tap_begin("simd: scalar digests of every kernel case (compared across architectures by simd_cross.sh)");
    for (size_t t = 0; t < nk; t++)
        for (int weighted = 0; weighted < 2; weighted++) {
            const lb_qkernel *k = ks[t];
            if ((weighted && !k->uses_imatrix) || (!weighted && k->needs_imatrix)) continue;
            uint64_t h = 1469598103934665603ULL;
            for (int i = 0; i < sets->n; i++) {
                const kd_set *s = &sets->v[i];
                if (s->ncols % k->blck) continue;
                size_t qn = lb_quant_row_size(k->type, s->ncols) * (size_t)s->nrows;
                uint8_t *q = malloc(qn);
                CHECK(q != NULL, "out of memory");
                if (!q) continue;
                k->quantize(s->x, q, s->nrows, s->ncols, weighted ? s->imat : NULL);
                size_t rb = lb_quant_row_size(k->type, s->ncols);
                for (int64_t r = 0; r < s->nrows; r++) {
                    /* rows with NaN/Inf are left out: NaN signs and payloads that
                     * arithmetic produces differ between ISAs (x86's default NaN is
                     * negative, arm's positive); lowbit-quantize refuses such rows
                     * unless --allow-nonfinite (docs/performance.md) */
                    int finite = 1;
                    for (int64_t j = 0; j < s->ncols; j++) finite &= isfinite(s->x[r * s->ncols + j]) != 0;
                    if (finite) h = kd_fnv(h, q + (size_t)r * rb, rb);
                }
                if (getenv("LOWBIT_SIMD_DIGEST_SETS"))   /* per row set, to find a difference */
                    printf("INFO digest-set %s%s %s %016llx\n", k->name, weighted ? "+imatrix" : "", s->name,
                           (unsigned long long)kd_fnv(1469598103934665603ULL, q, qn));
                free(q);
            }
            printf("INFO digest %s%s %016llx\n", k->name, weighted ? "+imatrix" : "", (unsigned long long)h);
        }
    CHECK(nk > 0, "no kernels");
    tap_end();
}

static void check_kernels(const kd_list *sets)
{
    const lb_qkernel *const *ks;
    size_t nk = lb_qkernel_list(&ks);
    for (int p = 1; p < LB_CPU_NPATHS; p++) {
        if (!lb_cpu_has((lb_cpu_path)p)) {
            /* not a skipped test: this machine has nothing to run it on (simd_cross.sh
             * runs the NEON path under qemu) */
            printf("INFO simd %s: not on this CPU or architecture\n", lb_cpu_name((lb_cpu_path)p));
            continue;
        }
        for (size_t t = 0; t < nk; t++) {
            const lb_qkernel *k = ks[t];
            for (int weighted = 0; weighted < 2; weighted++) {
                if (weighted && !k->uses_imatrix) continue;
                if (!weighted && k->needs_imatrix) continue;
                tap_begin("simd %s %s%s: blocks and decoded floats equal the scalar path", lb_cpu_name((lb_cpu_path)p),
                          k->name, weighted ? " with imatrix" : "");
                size_t blocks = 0;
                for (int i = 0; i < sets->n; i++) {
                    const kd_set *s = &sets->v[i];
                    if (s->ncols % k->blck) continue;
                    size_t qn = lb_quant_row_size(k->type, s->ncols) * (size_t)s->nrows;
                    size_t fn = (size_t)(s->nrows * s->ncols);
                    uint8_t *q0 = malloc(qn), *q1 = malloc(qn);
                    float *y0 = malloc(fn * 4), *y1 = malloc(fn * 4);
                    const float *im = weighted ? s->imat : NULL;
                    CHECK(run_kernel(k, LB_CPU_SCALAR, s, im, q0, y0), "scalar path");
                    CHECK(run_kernel(k, (lb_cpu_path)p, s, im, q1, y1), "fast path");
                    size_t at = 0;
                    while (at < qn && q0[at] == q1[at]) at++;
                    CHECK(at == qn, "%s: first differing byte %zu (row %zu), scalar %02x, %s %02x", s->name, at,
                          at / lb_quant_row_size(k->type, s->ncols), at < qn ? q0[at] : 0,
                          lb_cpu_name((lb_cpu_path)p), at < qn ? q1[at] : 0);
                    CHECK(memcmp(y0, y1, fn * 4) == 0, "%s: decoded floats differ", s->name);
                    blocks += fn / k->blck;
                    free(q0); free(q1); free(y0); free(y1);
                }
                CHECK(blocks > 0, "no row set fits the block size");
                tap_end();
            }
        }
    }
}

static uint32_t kd_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* Decoding is also fed blocks no quantizer writes: random bytes, so scales and mins take
 * every f16 pattern (subnormal, Inf, NaN) and the quants every value. */
static void check_dequant_any_bytes(void)
{
    const lb_qkernel *const *ks;
    size_t nk = lb_qkernel_list(&ks);
    enum { NB = 4096 };
    for (int p = 1; p < LB_CPU_NPATHS; p++) {
        if (!lb_cpu_has((lb_cpu_path)p)) continue;
        tap_begin("simd %s: every kernel decodes %d random blocks to the scalar path's bits", lb_cpu_name((lb_cpu_path)p), NB);
        for (size_t t = 0; t < nk; t++) {
            const lb_qkernel *k = ks[t];
            size_t bytes = (size_t)NB * k->type_size, fn = (size_t)NB * k->blck;
            uint8_t *q = malloc(bytes);
            float *y0 = malloc(fn * 4), *y1 = malloc(fn * 4);
            CHECK(q && y0 && y1, "out of memory");
            if (!q || !y0 || !y1) { free(q); free(y0); free(y1); continue; }
            for (size_t i = 0; i < bytes; i++) q[i] = (uint8_t)kd_next();
            lb_err err;
            lb_cpu_set(LB_CPU_SCALAR, &err);
            k->dequantize(q, y0, (int64_t)fn);
            lb_cpu_set((lb_cpu_path)p, &err);
            k->dequantize(q, y1, (int64_t)fn);
            size_t at = 0;
            while (at < fn && memcmp(&y0[at], &y1[at], 4) == 0) at++;
            CHECK(at == fn, "%s: value %zu (block %zu) differs: %08x vs %08x", k->name, at, at / k->blck,
                  at < fn ? kd_bits(y0[at]) : 0, at < fn ? kd_bits(y1[at]) : 0);
            free(q); free(y0); free(y1);
        }
        tap_end();
    }
}

/* Every f16 value decodes, and a spread of f32 patterns (all exponents, NaN payloads,
 * halfway cases) encodes, to the bits of lb_f16_to_f32 / lb_f32_to_f16 and the bf16 pair. */
static void check_plain(void)
{
    for (int p = 1; p < LB_CPU_NPATHS; p++) {
        if (!lb_cpu_has((lb_cpu_path)p)) continue;
        lb_err err;
        tap_begin("simd %s f16/bf16 rows: every half and bfloat16 decodes, 2^20 f32 patterns encode", lb_cpu_name((lb_cpu_path)p));
        enum { N = 65536 + 3 };   /* not a multiple of the vector: the tail runs too */
        uint8_t *h = malloc(2 * N), *e0 = malloc(2 * N), *e1 = malloc(2 * N);
        float *f = malloc(4 * N);
        for (int i = 0; i < N; i++) lb_st16(h + 2 * i, (uint16_t)i);
        CHECK(lb_cpu_set((lb_cpu_path)p, &err) == 0, "set path");
        lb_f16_row_to_f32(h, f, N);
        int bad = 0;
        for (int i = 0; i < N; i++) {
            float r = lb_f16_to_f32((uint16_t)i);
            bad += memcmp(&r, &f[i], 4) != 0;
        }
        CHECK(bad == 0, "%d halves decode differently", bad);
        lb_bf16_row_to_f32(h, f, N);
        bad = 0;
        for (int i = 0; i < N; i++) {
            float r = lb_bf16_to_f32((uint16_t)i);
            bad += memcmp(&r, &f[i], 4) != 0;
        }
        CHECK(bad == 0, "%d bfloat16 values decode differently", bad);
        int bad16 = 0, badb = 0;
        for (uint32_t round = 0; round < 16; round++) {
            for (int i = 0; i < N; i++) {
                uint32_t u = (uint32_t)i * 65521u + round * 0x10000001u;
                if (i % 5 == 0) u = (u & 0xffff8000u) | 0x1000u;   /* f16 halfway patterns */
                if (i % 7 == 0) u = (u & 0xffff0000u) | 0x8000u;   /* bf16 halfway patterns */
                memcpy(&f[i], &u, 4);
            }
            lb_cpu_set(LB_CPU_SCALAR, &err);
            lb_f32_row_to_f16(f, e0, N);
            lb_cpu_set((lb_cpu_path)p, &err);
            lb_f32_row_to_f16(f, e1, N);
            bad16 += memcmp(e0, e1, 2 * N) != 0;
            for (int i = 0; i < N; i++) bad16 += lb_ld16(e1 + 2 * i) != lb_f32_to_f16(f[i]);
            lb_f32_row_to_bf16(f, e1, N);
            for (int i = 0; i < N; i++) badb += lb_ld16(e1 + 2 * i) != lb_f32_to_bf16(f[i]);
        }
        CHECK(bad16 == 0, "%d f16 encodings differ", bad16);
        CHECK(badb == 0, "%d bf16 encodings differ", badb);
        free(h); free(e0); free(e1); free(f);
        tap_end();
    }
}

/* The error metrics: the same sums, bit for bit, on every path (lanes in the same order),
 * for every row set (with NaN and Inf rows) against its Q4_0 reconstruction, rows of
 * every length from 1 to 40 included (the tails). */
static void check_metrics(const kd_list *sets)
{
    lb_err err;
    const lb_qkernel *k = lb_qkernel_get(LB_Q4_0);
    for (int p = 1; p < LB_CPU_NPATHS; p++) {
        if (!lb_cpu_has((lb_cpu_path)p)) continue;
        tap_begin("simd %s metrics: sums and max equal the scalar path on every row set and row length",
                  lb_cpu_name((lb_cpu_path)p));
        int compared = 0;
        for (int i = 0; i < sets->n; i++) {
            const kd_set *s = &sets->v[i];
            size_t fn = (size_t)(s->nrows * s->ncols);
            uint8_t *q = malloc(lb_quant_row_size(LB_Q4_0, s->ncols) * (size_t)s->nrows);
            float *y = malloc(fn * 4);
            lb_cpu_set(LB_CPU_SCALAR, &err);
            k->quantize(s->x, q, s->nrows, s->ncols, NULL);
            k->dequantize(q, y, (int64_t)fn);
            for (int weighted = 0; weighted < 2; weighted++)
                for (int64_t len = 1; len <= s->ncols; len = len < 40 ? len + 1 : len * 2) {
                    lb_metrics m0, m1;
                    lb_metrics_init(&m0);
                    lb_metrics_init(&m1);
                    for (int64_t r = 0; r < s->nrows; r++) {
                        const float *w = weighted ? s->imat : NULL;
                        lb_cpu_set(LB_CPU_SCALAR, &err);
                        lb_metrics_add(&m0, s->x + r * s->ncols, y + r * s->ncols, w, len);
                        lb_cpu_set((lb_cpu_path)p, &err);
                        lb_metrics_add(&m1, s->x + r * s->ncols, y + r * s->ncols, w, len);
                    }
                    CHECK(memcmp(&m0, &m1, sizeof m0) == 0, "%s: rows of %lld%s: metrics differ", s->name,
                          (long long)len, weighted ? " (weighted)" : "");
                    compared++;
                }
            free(q);
            free(y);
        }
        CHECK(compared > 0, "nothing compared");
        tap_end();
    }
}

static void check_select(void)
{
    lb_err err;
    tap_begin("LOWBIT_CPU: a path name is taken, an unknown or unavailable one refused with the reason");
    setenv("LOWBIT_CPU", "scalar", 1);
    CHECK(lb_cpu_init(&err) == LB_OK, "scalar refused: %s", err.msg);
    setenv("LOWBIT_CPU", "pentium", 1);
    CHECK(lb_cpu_init(&err) == LB_EUSAGE && strstr(err.msg, "pentium"), "unknown name accepted");
    for (int p = 0; p < LB_CPU_NPATHS; p++) {
        setenv("LOWBIT_CPU", lb_cpu_name((lb_cpu_path)p), 1);
        int rc = lb_cpu_init(&err);
        CHECK(lb_cpu_has((lb_cpu_path)p) ? rc == LB_OK : rc == LB_EUSAGE, "%s: rc %d", lb_cpu_name((lb_cpu_path)p), rc);
    }
    unsetenv("LOWBIT_CPU");
    CHECK(lb_cpu_init(&err) == LB_OK, "unset refused");
    CHECK(lb_cpu_set(LB_CPU_SCALAR, &err) == LB_OK && lb_cpu_active() == LB_CPU_SCALAR, "set scalar");
    CHECK(lb_cpu_set(LB_CPU_NPATHS, &err) == LB_EUSAGE, "set out of range accepted");
    tap_end();
}

int main(void)
{
    kd_list sets = { 0 };
    const char *shared = tap_shared();
    /* LOWBIT_SIMD_ROWS: rows per real tensor (default 256); fewer under emulation */
    const char *rows_env = getenv("LOWBIT_SIMD_ROWS");
    int maxrows = rows_env && atoi(rows_env) > 0 ? atoi(rows_env) : 256;
    int nreal = kd_real(&sets, shared, maxrows);
    if (!shared)
        tap_skip("simd: real rows from ../shared/models",
                 "../shared absent (needs models/hf/tiny-llama-trained, stories260K-llama, peft-gpt2-lora, mlx-lora-discollama)");
    else {
        tap_begin("simd: real rows from ../shared/models");
        CHECK(nreal == 4, "read %d of the 4 safetensors files", nreal);
        tap_end();
    }
    kd_synth_heavy(&sets, maxrows / 4 > 0 ? maxrows / 4 : 1, 4096, 5);
    kd_synth_edge(&sets);
    mixed_rows(&sets);
    check_select();
    check_plain();
    check_dequant_any_bytes();
    print_digests(&sets);
    check_metrics(&sets);
    check_kernels(&sets);
    kd_free(&sets);
    TAP_EXIT();
}
