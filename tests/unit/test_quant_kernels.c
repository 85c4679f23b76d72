/* test_quant_kernels.c: lowbit's kernels on their own (no ggml needed): the table,
 * hand-computed block bytes, round-trip error bounds, edge rows, importance-weight
 * behaviour per type, the row-parallel driver (thread counts 1, 2, 3, 7) and its
 * errors, and the decode-anything helper. The comparison with the real ggml is in
 * tests/interop/kernels.sh. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_metrics.h"
#include "lb_quant.h"
#include "tap.h"

static uint64_t rng = 88172645463325252ULL;
static double unif(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static float gauss(void) { return (float)(sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif())); }

static const int all_types[] = { LB_F32, LB_F16, LB_BF16, LB_Q4_0, LB_Q4_1, LB_Q5_0, LB_Q5_1, LB_Q8_0,
                                 LB_IQ4_NL, LB_IQ4_XS, LB_TQ1_0, LB_TQ2_0, LB_MXFP4 };
#define NTYPES (int)(sizeof all_types / sizeof all_types[0])

static uint8_t *quant(int type, const float *x, int64_t nrows, int64_t n, const float *im, int threads)
{
    size_t nb = lb_quant_row_size(type, n) * (size_t)nrows, w = 0;
    uint8_t *q = malloc(nb ? nb : 1);
    lb_err e;
    int rc = lb_quantize_rows_mt(type, x, q, nrows, n, im, threads, &w, &e);
    CHECK(rc == LB_OK && w == nb, "quantize type %d: rc %d wrote %zu of %zu", type, rc, w, nb);
    return q;
}

static void test_table(void)
{
    tap_begin("quant-table");
    const lb_qkernel *const *ks;
    size_t n = lb_qkernel_list(&ks);
    CHECK(n >= (size_t)NTYPES, "%zu kernels listed, want at least %d", n, NTYPES);
    for (int t = 0; t < NTYPES; t++) {
        int found = 0;
        for (size_t i = 0; i < n; i++) found |= ks[i]->type == all_types[t];
        CHECK(found, "type %d not listed", all_types[t]);
    }
    for (size_t i = 0; i < n; i++) {
        const lb_type_traits *t = lb_type_get(ks[i]->type);
        CHECK(t != NULL, "kernel %s: unknown type id", ks[i]->name);
        if (!t) continue;
        CHECK(!strcmp(t->name, ks[i]->name), "kernel %s: dtype name %s", ks[i]->name, t->name);
        CHECK(t->blck == ks[i]->blck && t->type_size == ks[i]->type_size, "kernel %s: %u/%u vs dtype %u/%u",
              ks[i]->name, ks[i]->blck, ks[i]->type_size, t->blck, t->type_size);
        CHECK(lb_qkernel_get(ks[i]->type) == ks[i], "kernel %s: lookup by id", ks[i]->name);
        CHECK(ks[i]->quantize && ks[i]->dequantize, "kernel %s: missing functions", ks[i]->name);
        CHECK(!ks[i]->needs_imatrix, "kernel %s: none of these needs an imatrix", ks[i]->name);
        CHECK(i == 0 || ks[i - 1]->type < ks[i]->type, "list not in id order at %s", ks[i]->name);
    }
    CHECK(lb_qkernel_get(-1) == NULL && lb_qkernel_get(LB_IQ2_XXS) == NULL && lb_qkernel_get(100000) == NULL,
          "no kernel expected");
    CHECK(lb_quant_row_size(LB_Q4_0, 64) == 36 && lb_quant_row_size(LB_IQ4_XS, 512) == 272, "row sizes");
    CHECK(lb_quant_row_size(LB_Q4_0, 48) == 0 && lb_quant_row_size(LB_Q4_0, 0) == 0, "bad row sizes give 0");
    static const struct { int t, imat; } uses[] = {
        { LB_Q8_0, 0 }, { LB_TQ1_0, 0 }, { LB_TQ2_0, 0 }, { LB_MXFP4, 0 }, { LB_Q4_0, 1 }, { LB_Q4_1, 1 },
        { LB_Q5_0, 1 }, { LB_Q5_1, 1 }, { LB_IQ4_NL, 1 }, { LB_IQ4_XS, 1 },
    };
    for (size_t i = 0; i < sizeof uses / sizeof uses[0]; i++)
        CHECK(lb_qkernel_get(uses[i].t)->uses_imatrix == uses[i].imat, "type %d uses_imatrix", uses[i].t);
    tap_end();
}

/* Blocks worked out by hand from the format definitions. */
static void test_known_bytes(void)
{
    tap_begin("quant-known-bytes");
    float x[256];
    uint8_t *q;

    /* Q8_0: x = j - 16 (j = 0..31): amax 16, d = 16/127, q = round(x * 127 / 16) */
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    q = quant(LB_Q8_0, x, 1, 32, NULL, 1);
    CHECK(lb_ld16(q) == lb_f32_to_f16(16.0f / 127), "q8_0 d bytes %02x %02x", q[0], q[1]);
    CHECK((int8_t)q[2] == -127 && (int8_t)q[2 + 16] == 0 && (int8_t)q[2 + 31] == 119, "q8_0 quants %d %d %d",
          (int8_t)q[2], (int8_t)q[18], (int8_t)q[33]);
    free(q);

    /* Q4_0: the largest-magnitude value -16 maps to level 0 with d = -16 / -8 = 2;
     * x = 2k gives nibble k + 8 (clamped at 15) */
    q = quant(LB_Q4_0, x, 1, 32, NULL, 1);
    CHECK(lb_ld16(q) == 0x4000, "q4_0 d %04x, want 2.0 = 0x4000", lb_ld16(q));
    /* element 0 (x = -16) level 0, element 16 (x = 0) level 8; element 1 (-15) -> 0.5 + 8.5 -> 1 */
    CHECK(q[2] == 0x80 && (q[3] & 0x0f) == 0x01, "q4_0 first bytes %02x %02x", q[2], q[3]);
    CHECK((q[2 + 15] >> 4) == 15, "q4_0 element 31 (x = 15) clamps to 15: %02x", q[17]);
    free(q);

    /* Q5_1: 0..31 over x = 0..31: d = 1, m = 0, level = x; fifth bits set for x >= 16 */
    for (int j = 0; j < 32; j++) x[j] = (float)j;
    q = quant(LB_Q5_1, x, 1, 32, NULL, 1);
    CHECK(lb_ld16(q) == 0x3c00 && lb_ld16(q + 2) == 0, "q5_1 d %04x m %04x", lb_ld16(q), lb_ld16(q + 2));
    CHECK(lb_ld32(q + 4) == 0xffff0000u, "q5_1 qh %08x", lb_ld32(q + 4));
    CHECK(q[8] == 0x00 && q[8 + 15] == 0xff, "q5_1 qs %02x %02x", q[8], q[23]);
    free(q);

    /* MXFP4: amax 4 -> e = floor(log2 4) - 2 + 127 = 127, half-scale 2^-1: 4 is code 6
     * (doubled magnitude 8), -0.5 is code 9 (-1) */
    memset(x, 0, sizeof x);
    x[0] = 4.0f;
    x[16] = -0.5f;
    q = quant(LB_MXFP4, x, 1, 32, NULL, 1);
    CHECK(q[0] == 127 && q[1] == (6 | 9 << 4) && q[2] == 0, "mxfp4 bytes %u %02x %02x", q[0], q[1], q[2]);
    free(q);

    /* TQ2_0: element 32n + m of the first half sits in bits 2n of byte m; d at the end */
    memset(x, 0, sizeof x);
    x[0] = 1.0f;     /* byte 0 bits 0-1: trit 2 */
    x[32] = -1.0f;   /* byte 0 bits 2-3: trit 0 */
    x[128 + 96 + 5] = 0.75f; /* byte 32 + 5 bits 6-7: round(0.75) + 1 = 2 */
    q = quant(LB_TQ2_0, x, 1, 256, NULL, 1);
    CHECK(q[0] == (2 | 0 << 2 | 1 << 4 | 1 << 6), "tq2_0 byte 0 %02x", q[0]);
    CHECK(q[37] == (1 | 1 << 2 | 1 << 4 | 2 << 6), "tq2_0 byte 37 %02x", q[37]);
    CHECK(lb_ld16(q + 64) == 0x3c00, "tq2_0 d %04x", lb_ld16(q + 64));
    free(q);

    /* TQ1_0: byte m packs elements m + 32n as base-3 digits, then ceil(v * 256 / 243);
     * all-zero trits (t = 1 each) give v = 121, byte ceil(121 * 256 / 243) = 128 */
    q = quant(LB_TQ1_0, x, 1, 256, NULL, 1);
    CHECK(q[1] == 128, "tq1_0 neutral byte %u", q[1]);
    /* byte 0: elements 0 (t 2), 32 (t 0), 64, 96, 128 (t 1): v = 162 + 0 + 9 + 3 + 1 = 175 */
    CHECK(q[0] == (175 * 256 + 242) / 243, "tq1_0 byte 0 %u", q[0]);
    CHECK(lb_ld16(q + 52) == 0x3c00, "tq1_0 d at the end %04x", lb_ld16(q + 52));
    float y[256];
    lb_qkernel_get(LB_TQ1_0)->dequantize(q, y, 256);
    CHECK(y[0] == 1 && y[32] == -1 && y[64] == 0 && y[229] == 1, "tq1_0 decode %g %g %g %g", y[0], y[32], y[64], y[229]);
    free(q);

    /* IQ4_XS scale packing: decode(encode) keeps each group's sign pattern */
    for (int j = 0; j < 256; j++) x[j] = (float)((j / 32 + 1) * ((j % 7) - 3));
    q = quant(LB_IQ4_XS, x, 1, 256, NULL, 1);
    lb_qkernel_get(LB_IQ4_XS)->dequantize(q, y, 256);
    int sign_ok = 1;
    for (int j = 0; j < 256; j++)
        if ((x[j] > 0 && y[j] <= 0) || (x[j] < 0 && y[j] >= 0)) sign_ok = 0;
    CHECK(sign_ok, "iq4_xs decode keeps signs");
    free(q);
    tap_end();
}

/* Round trip on Gaussian rows: relative RMSE within what each format can do, and a
 * per-value bound for the plain absmax types. */
static void test_round_trip(void)
{
    static const struct { int type; double max_rel; } lim[] = {
        { LB_F32, 0 }, { LB_F16, 1e-3 }, { LB_BF16, 5e-3 }, { LB_Q8_0, 0.012 }, { LB_Q5_1, 0.06 },
        { LB_Q5_0, 0.07 }, { LB_Q4_1, 0.12 }, { LB_Q4_0, 0.14 }, { LB_IQ4_NL, 0.12 }, { LB_IQ4_XS, 0.12 },
        { LB_MXFP4, 0.17 }, { LB_TQ2_0, 0.9 }, { LB_TQ1_0, 0.9 },
    };
    enum { R = 16, N = 512 };
    float *x = malloc(R * N * sizeof(float)), *y = malloc(R * N * sizeof(float));
    for (int i = 0; i < R * N; i++) x[i] = gauss() * (1 + i / N);
    for (size_t t = 0; t < sizeof lim / sizeof lim[0]; t++) {
        const lb_qkernel *k = lb_qkernel_get(lim[t].type);
        tap_begin("quant-round-trip-%s", k->name);
        uint8_t *q = quant(k->type, x, R, N, NULL, 1);
        lb_err e;
        CHECK(lb_dequantize_any(k->type, q, y, R * N, &e) == LB_OK, "dequantize_any: %s", e.msg);
        lb_metrics m;
        lb_metrics_init(&m);
        lb_metrics_add(&m, x, y, NULL, R * N);
        lb_metrics_result r = lb_metrics_result_of(&m);
        CHECK(r.rel_rmse <= lim[t].max_rel, "relative rmse %.5f > %.5f", r.rel_rmse, lim[t].max_rel);
        CHECK(lim[t].max_rel == 0 || r.rel_rmse > 0, "lossy type with zero error");
        if (k->type == LB_Q8_0) { /* |e| <= d/2 + f16 rounding of d, d = amax/127 */
            int ok = 1;
            for (int b = 0; b < R * N / 32; b++) {
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
                for (int j = 0; j < 32; j++)
                    if (fabsf(x[b * 32 + j] - y[b * 32 + j]) > amax / 127 * 0.5f * 1.01f + amax * 1e-3f) ok = 0;
            }
            CHECK(ok, "q8_0 per-value error above half a step");
        }
        free(q);
        tap_end();
    }
    free(x);
    free(y);
}

/* Degenerate rows decode to something finite and sensible (exact zeros stay zero). */
static void test_edge_rows(void)
{
    enum { N = 256 };
    float rows[6][N];
    for (int j = 0; j < N; j++) {
        rows[0][j] = 0;
        rows[1][j] = 0.3125f;
        rows[2][j] = j == 9 ? 30000.0f : 0.01f * gauss();
        rows[3][j] = gauss() * 1e-40f;
        rows[4][j] = (j & 1) ? 65504.0f : -65504.0f;
        rows[5][j] = gauss() * 1e-30f;
    }
    for (int t = 0; t < NTYPES; t++) {
        const lb_qkernel *k = lb_qkernel_get(all_types[t]);
        tap_begin("quant-edge-rows-%s", k->name);
        uint8_t *q = quant(k->type, &rows[0][0], 6, N, NULL, 1);
        float y[6][N];
        k->dequantize(q, &y[0][0], 6 * N);
        int zero_ok = 1, finite_ok = 1, const_ok = 1, tiny_ok = 1;
        for (int j = 0; j < N; j++) {
            if (y[0][j] != 0) zero_ok = 0;
            for (int r = 0; r < 6; r++)
                if (!isfinite(y[r][j])) finite_ok = 0;
            if (fabsf(y[1][j] - 0.3125f) > 0.3125f * 0.08f) const_ok = 0;
            if (fabsf(y[3][j]) > 1e-30f || fabsf(y[5][j]) > 1e-20f) tiny_ok = 0;
        }
        CHECK(zero_ok, "zero row does not decode to zeros");
        CHECK(finite_ok, "non-finite output for finite input within f16 range");
        /* ternary types keep a constant row exactly (+1 * d); others within 8% */
        CHECK(const_ok || k->type == LB_MXFP4, "constant row off by more than 8%%");
        CHECK(tiny_ok, "tiny rows decode to large values");
        /* the affine and 8-bit types keep +-65504 within 1% */
        float e4 = 0;
        for (int j = 0; j < N; j++) e4 = fmaxf(e4, fabsf(y[4][j] - rows[4][j]));
        CHECK(e4 <= 65504.0f * 0.01f || !(k->type == LB_Q8_0 || k->type == LB_Q4_1 || k->type == LB_Q5_1),
              "+-65504 row: max error %g", e4);
        free(q);
        tap_end();
    }
}

/* Q8_0, TQ1_0, TQ2_0, MXFP4 and the plain types ignore importance weights; the others
 * change their choices with them, and lower the weighted error on average. */
static void test_imatrix_behaviour(void)
{
    enum { R = 32, N = 512 };
    float *x = malloc(R * N * sizeof(float)), *im = malloc(N * sizeof(float));
    float *y0 = malloc(R * N * sizeof(float)), *y1 = malloc(R * N * sizeof(float));
    for (int i = 0; i < R * N; i++) x[i] = gauss() * (float)(1 + (i % 97 == 0) * 6);
    for (int j = 0; j < N; j++) im[j] = (float)exp(2.0 * gauss());
    for (int t = 0; t < NTYPES; t++) {
        const lb_qkernel *k = lb_qkernel_get(all_types[t]);
        tap_begin("quant-imatrix-%s", k->name);
        size_t nb = lb_quant_row_size(k->type, N) * R;
        uint8_t *a = quant(k->type, x, R, N, NULL, 1), *b = quant(k->type, x, R, N, im, 1);
        int same = memcmp(a, b, nb) == 0;
        if (!k->uses_imatrix) {
            CHECK(same, "output changed with an imatrix, but %s ignores it", k->name);
        } else {
            CHECK(!same, "output identical with an imatrix");
            k->dequantize(a, y0, R * N);
            k->dequantize(b, y1, R * N);
            lb_metrics m0, m1;
            lb_metrics_init(&m0);
            lb_metrics_init(&m1);
            for (int r = 0; r < R; r++) {
                lb_metrics_add(&m0, x + r * N, y0 + r * N, im, N);
                lb_metrics_add(&m1, x + r * N, y1 + r * N, im, N);
            }
            double w0 = lb_metrics_result_of(&m0).wmse, w1 = lb_metrics_result_of(&m1).wmse;
            CHECK(w1 < w0, "weighted mse with imatrix %.6g not below without %.6g", w1, w0);
        }
        free(a);
        free(b);
        tap_end();
    }
    free(x); free(im); free(y0); free(y1);
}

/* The driver: same bytes for 1, 2, 3, 7 threads and for a direct kernel call, row
 * counts that do not divide evenly, more threads than rows. */
static void test_threads(void)
{
    static const int th[] = { 1, 2, 3, 7, 64 };
    enum { R = 13, N = 768 };
    float *x = malloc(R * N * sizeof(float)), *im = malloc(N * sizeof(float));
    for (int i = 0; i < R * N; i++) x[i] = gauss() * (float)(1 + i / N);
    for (int j = 0; j < N; j++) im[j] = (float)(0.1 + unif());
    tap_begin("quant-threads-1-2-3-7");
    for (int t = 0; t < NTYPES; t++) {
        const lb_qkernel *k = lb_qkernel_get(all_types[t]);
        size_t nb = lb_quant_row_size(k->type, N) * R;
        for (int w = 0; w < 2; w++) {
            uint8_t *direct = malloc(nb);
            size_t wr = k->quantize(x, direct, R, N, w ? im : NULL);
            CHECK(wr == nb, "%s direct call wrote %zu of %zu", k->name, wr, nb);
            for (size_t i = 0; i < sizeof th / sizeof th[0]; i++) {
                uint8_t *q = quant(k->type, x, R, N, w ? im : NULL, th[i]);
                CHECK(!memcmp(q, direct, nb), "%s imatrix=%d threads=%d: bytes differ", k->name, w, th[i]);
                free(q);
            }
            /* row by row gives the same bytes too */
            uint8_t *rows = malloc(nb);
            size_t rb = lb_quant_row_size(k->type, N);
            for (int r = 0; r < R; r++) k->quantize(x + r * N, rows + r * rb, 1, N, w ? im : NULL);
            CHECK(!memcmp(rows, direct, nb), "%s imatrix=%d: row-by-row differs", k->name, w);
            free(rows);
            free(direct);
        }
    }
    tap_end();
    free(x);
    free(im);
}

static void test_driver_errors(void)
{
    tap_begin("quant-driver-errors");
    float x[64] = { 0 };
    uint8_t q[64];
    lb_err e;
    size_t w = 99;
    CHECK(lb_quantize_rows_mt(LB_IQ2_XXS, x, q, 1, 256, NULL, 1, &w, &e) == LB_EUSAGE && strstr(e.msg, "iq2_xxs"),
          "no kernel: %s", e.msg);
    CHECK(lb_quantize_rows_mt(LB_Q4_0, x, q, 1, 48, NULL, 1, &w, &e) == LB_EUSAGE && strstr(e.msg, "block size"),
          "bad width: %s", e.msg);
    CHECK(lb_quantize_rows_mt(LB_Q4_0, x, q, -1, 32, NULL, 1, &w, &e) == LB_EUSAGE, "negative rows");
    CHECK(lb_quantize_rows_mt(LB_Q4_0, NULL, q, 1, 32, NULL, 1, &w, &e) == LB_EUSAGE, "NULL src");
    CHECK(lb_quantize_rows_mt(LB_Q4_0, x, q, (int64_t)1 << 62, 64, NULL, 1, &w, &e) == LB_EUSAGE, "overflow");
    CHECK(lb_quantize_rows_mt(LB_Q4_0, x, q, 0, 32, NULL, 4, &w, &e) == LB_OK && w == 0, "zero rows: %zu", w);
    CHECK(lb_quantize_rows_mt(LB_Q8_0, x, q, 1, 32, NULL, 0, NULL, NULL) == LB_OK, "NULL written and err");
    tap_end();

    tap_begin("quant-dequantize-any");
    uint8_t raw[16];
    float y[8];
    lb_stf64(raw, -2.5);
    lb_stf64(raw + 8, 1e300);
    CHECK(lb_dequantize_any(LB_F64, raw, y, 2, &e) == LB_OK && y[0] == -2.5f && isinf(y[1]), "f64: %g %g", y[0], y[1]);
    raw[0] = 0xff;
    CHECK(lb_dequantize_any(LB_I8, raw, y, 1, &e) == LB_OK && y[0] == -1, "i8: %g", y[0]);
    CHECK(lb_dequantize_any(LB_IQ2_XXS, raw, y, 256, &e) == LB_EFORMAT && strstr(e.msg, "iq2_xxs"), "iq2_xxs: %s", e.msg);
    CHECK(lb_dequantize_any(LB_Q8_0, raw, y, 31, &e) == LB_EUSAGE, "q8_0 with 31 values");
    CHECK(lb_dequantize_any(12345, raw, y, 1, &e) == LB_EFORMAT, "unknown id");
    tap_end();
}

int main(void)
{
    test_table();
    test_known_bytes();
    test_round_trip();
    test_edge_rows();
    test_imatrix_behaviour();
    test_threads();
    test_driver_errors();
    TAP_EXIT();
}
