/* q_ternary.c: the ternary types TQ1_0 and TQ2_0 (BitNet b1.58 / TriLM weights).
 *
 * Every value becomes one of {-1, 0, +1} times d = max |x| of the 256-value block;
 * the trit t = round(x / d) + 1 is 0, 1 or 2. Both put the scale at the END.
 *   TQ2_0  66 B per 256 = 2.0625 bpw : u8 qs[64] | f16 d
 *          two bits per trit. For half h (0, 1) and m = 0..31, byte qs[32h + m] holds
 *          the trits of elements 128h + 32n + m in bits 2n..2n+1 (n = 0..3).
 *   TQ1_0  54 B per 256 = 1.6875 bpw : u8 qs[48] | u8 qh[4] | f16 d
 *          five trits per byte, as a base-3 fraction scaled to a byte:
 *          byte = ceil(v * 256 / 243), v = t0*81 + t1*27 + t2*9 + t3*3 + t4; the k-th
 *          trit comes back as ((byte * 3^k) mod 256) * 3 >> 8.
 *          qs[0..32):  byte m packs elements m + 32n (n = 0..4)        (elements 0..159)
 *          qs[32..48): byte 32+m packs elements 160 + m + 16n (n = 0..4) (160..239)
 *          qh[0..4):   byte j packs elements 240 + j + 4n (n = 0..3), then a zero trit
 *                      (240..255).
 * Importance weights are ignored (as in ggml): a ternary level set has no scale to fit. */
#include "qimpl.h"

#define QK 256

enum {
    TQ2_SZ = QK / 4 + 2,                              /* qs[64], d */
    TQ1_SZ = (QK - 4 * QK / 64) / 5 + QK / 64 + 2     /* qs[48], qh[4], d */
};
_Static_assert(TQ2_SZ == 66 && TQ2_SZ * 8 * 16 == 33 * QK, "tq2_0: 66 bytes, 2.0625 bpw");
_Static_assert(TQ1_SZ == 54 && TQ1_SZ * 8 * 16 == 27 * QK, "tq1_0: 54 bytes, 1.6875 bpw");

static float block_absmax(const float *x)
{
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) {
        float a = fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    return amax;
}

static inline uint8_t trit(float v, float id) { return (uint8_t)(lbq_lround_i32(v * id) + 1); }

/* Five (or four then a zero) trits, most significant first, as a byte fraction. */
static uint8_t pack5(const float *x, int stride, int count, float id)
{
    uint8_t q = 0;
    for (int n = 0; n < count; n++) q = (uint8_t)(q * 3 + trit(x[n * stride], id));
    for (int n = count; n < 5; n++) q = (uint8_t)(q * 3);
    return (uint8_t)(((uint16_t)q * 256 + (243 - 1)) / 243);
}

static void tq1_0_block(const float *x, uint8_t *b)
{
    float d;
    const int fast = lbq_tq1_0_block_fast(x, b, &d);   /* bytes 0..47 and d */
    if (!fast) d = block_absmax(x);
    const float id = d ? 1.0f / d : 0.0f;
    if (!fast) {
        for (int m = 0; m < 32; m++) b[m] = pack5(x + m, 32, 5, id);
        for (int m = 0; m < 16; m++) b[32 + m] = pack5(x + 160 + m, 16, 5, id);
    }
    for (int j = 0; j < 4; j++) b[48 + j] = pack5(x + 240 + j, 4, 4, id);
    lbq_st_f16(b + 52, d);
}

static void tq2_0_block(const float *x, uint8_t *b)
{
    if (lbq_tq2_0_block_fast(x, b)) return;
    const float d = block_absmax(x);
    const float id = d ? 1.0f / d : 0.0f;
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 32; m++) {
            unsigned q = 0;
            for (int n = 0; n < 4; n++) q += (unsigned)(trit(x[128 * h + 32 * n + m], id) & 3) << (2 * n);
            b[32 * h + m] = (uint8_t)q;
        }
    lbq_st_f16(b + 64, d);
}

static size_t tq1_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                             const float *imatrix)
{
    (void)imatrix;
    int64_t nb = nrows * (n_per_row / QK);
    uint8_t *out = dst;
    for (int64_t i = 0; i < nb; i++) tq1_0_block(src + i * QK, out + i * TQ1_SZ);
    return (size_t)nb * TQ1_SZ;
}

static size_t tq2_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                             const float *imatrix)
{
    (void)imatrix;
    int64_t nb = nrows * (n_per_row / QK);
    uint8_t *out = dst;
    for (int64_t i = 0; i < nb; i++) tq2_0_block(src + i * QK, out + i * TQ2_SZ);
    return (size_t)nb * TQ2_SZ;
}

/* The k-th trit (k = 0 most significant) of a packed byte, as -1, 0, +1. */
static inline int unpack_trit(uint8_t byte, int k)
{
    static const uint8_t pow3[5] = { 1, 3, 9, 27, 81 };
    uint8_t q = (uint8_t)(byte * pow3[k]);
    return ((q * 3) >> 8) - 1;
}

static void tq1_0_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += TQ1_SZ) {
        const float d = lbq_ld_f16(b + 52);
        for (int k = 0; k < 5; k++)
            for (int m = 0; m < 32; m++) *dst++ = (float)unpack_trit(b[m], k) * d;
        for (int k = 0; k < 5; k++)
            for (int m = 0; m < 16; m++) *dst++ = (float)unpack_trit(b[32 + m], k) * d;
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 4; j++) *dst++ = (float)unpack_trit(b[48 + j], k) * d;
    }
}

static void tq2_0_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += TQ2_SZ) {
        const float d = lbq_ld_f16(b + 64);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                for (int m = 0; m < 32; m++) *dst++ = (float)(((b[32 * h + m] >> (2 * k)) & 3) - 1) * d;
    }
}

const lb_qkernel lb_qk_tq1_0 = { LB_TQ1_0, "tq1_0", QK, TQ1_SZ, tq1_0_quantize, tq1_0_dequantize, 0, 0 };
const lb_qkernel lb_qk_tq2_0 = { LB_TQ2_0, "tq2_0", QK, TQ2_SZ, tq2_0_quantize, tq2_0_dequantize, 0, 0 };
