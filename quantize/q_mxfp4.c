/* q_mxfp4.c: MXFP4, the OCP microscaling format with E2M1 elements.
 *
 *   MXFP4  17 B per 32 = 4.25 bpw : u8 e | u8 qs[16]
 *   e is an E8M0 power of two; the elements are E2M1 codes (sign bit 3, magnitudes
 *   0, 0.5, 1, 1.5, 2, 3, 4, 6). lowbit, like ggml, keeps the magnitudes doubled as
 *   integers (0..12) and halves the scale: x = T[code] * 2^(e - 128), where 2^(e - 128)
 *   for e < 2 is the f32 denormal 2^-128 or 2^-127.
 *   qs[j] holds element j in its low nibble and element j + 16 in its high nibble.
 * Quantization (as ggml): e = floor(log2(max |x|)) - 2 + 127 (so the largest value
 * lands near code 6, value 4 * 2^(e-127)), then each value takes the code of least
 * absolute error, the lower code on ties. Importance weights are ignored (as in ggml).
 * The exponent comes from the C library's log2f, as in ggml: it is correctly rounded
 * on glibc, and a result that rounds up to an integer just below a power of two is
 * part of the reference behaviour. */
#include "qimpl.h"

#define QK 32

enum { MXFP4_SZ = 1 + QK / 2 }; /* e, qs[16] */
_Static_assert(MXFP4_SZ == 17 && MXFP4_SZ * 8 * 4 == 17 * QK, "mxfp4: 17 bytes, 4.25 bpw");

static const int8_t fp4_values[16] = { 0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12 };

/* 2^(e - 128) as the f32 bit pattern ggml uses (denormal for e < 2). */
static float e8m0_half(uint8_t e)
{
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Codes of least |T[i] * d - x| for the two values sharing a byte, the first code on
 * ties. scaled[i] = T[i] * d, computed once per block (the same products the reference
 * forms for every value). Two independent searches in one loop, written as selects,
 * keep the pipeline busy without unpredictable branches. */
static uint8_t best_code_pair(float x0, float x1, const float *scaled)
{
    unsigned c0 = 0, c1 = 0;
    float e0 = fabsf(scaled[0] - x0), e1 = fabsf(scaled[0] - x1);
    for (unsigned i = 1; i < 16; i++) {
        float a = fabsf(scaled[i] - x0), b = fabsf(scaled[i] - x1);
        int b0 = a < e0, b1 = b < e1;
        c0 = b0 ? i : c0;
        e0 = b0 ? a : e0;
        c1 = b1 ? i : c1;
        e1 = b1 ? b : e1;
    }
    return (uint8_t)(c0 | c1 << 4);
}

static void mxfp4_block(const float *x, uint8_t *b)
{
    float amax = 0.0f;
    for (int j = 0; j < QK; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]);
    const uint8_t e = amax > 0.0f ? (uint8_t)lbq_trunc_u8(floorf(log2f(amax)) - 2 + 127) : 0;
    const float d = e8m0_half(e);
    float scaled[16];
    for (int i = 0; i < 16; i++) scaled[i] = fp4_values[i] * d;
    b[0] = e;
    if (lbq_mxfp4_codes_fast(x, scaled, b + 1)) return;
    for (int j = 0; j < QK / 2; j++) b[1 + j] = best_code_pair(x[j], x[j + QK / 2], scaled);
}

static size_t mxfp4_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                             const float *imatrix)
{
    (void)imatrix;
    int64_t nb = nrows * (n_per_row / QK);
    uint8_t *out = dst;
    for (int64_t i = 0; i < nb; i++) mxfp4_block(src + i * QK, out + i * MXFP4_SZ);
    return (size_t)nb * MXFP4_SZ;
}

static void mxfp4_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += MXFP4_SZ, dst += QK) {
        const float d = e8m0_half(b[0]);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = fp4_values[b[1 + j] & 0x0f] * d;
            dst[j + QK / 2] = fp4_values[b[1 + j] >> 4] * d;
        }
    }
}

const lb_qkernel lb_qk_mxfp4 = { LB_MXFP4, "mxfp4", QK, MXFP4_SZ, mxfp4_quantize, mxfp4_dequantize, 0, 0 };
