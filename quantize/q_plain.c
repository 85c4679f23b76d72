/* q_plain.c: the plain float types as kernel rows, so every output type of the
 * quantizer goes through one table.
 *   F32  4 B = 32 bpw   F16  2 B = 16 bpw   BF16  2 B = 16 bpw   (little-endian)
 * Rounding is to nearest, ties to even (formats/dtype.c); importance weights do not
 * apply. The f16/bf16 rows go through the active CPU path (lb_cpu.h), same bits. */
#include "qimpl.h"

#include "lb_cpu.h"

_Static_assert(sizeof(float) == 4, "f32 element is 4 bytes");
_Static_assert(sizeof(uint16_t) == 2, "f16/bf16 element is 2 bytes");

static size_t f32_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                           const float *imatrix)
{
    (void)imatrix;
    int64_t n = nrows * n_per_row;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, (size_t)n * 4); /* the host order is the file order */
#else
    uint8_t *out = dst;
    for (int64_t i = 0; i < n; i++) lb_stf32(out + 4 * i, src[i]);
#endif
    return (size_t)n * 4;
}

static void f32_dequantize(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i++) dst[i] = lb_ldf32(b + 4 * i);
}

static size_t f16_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                           const float *imatrix)
{
    (void)imatrix;
    int64_t n = nrows * n_per_row;
    lb_f32_row_to_f16(src, dst, (size_t)n);
    return (size_t)n * 2;
}

static void f16_dequantize(const void *src, float *dst, int64_t n)
{
    lb_f16_row_to_f32(src, dst, (size_t)n);
}

static size_t bf16_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                            const float *imatrix)
{
    (void)imatrix;
    int64_t n = nrows * n_per_row;
    lb_f32_row_to_bf16(src, dst, (size_t)n);
    return (size_t)n * 2;
}

static void bf16_dequantize(const void *src, float *dst, int64_t n)
{
    lb_bf16_row_to_f32(src, dst, (size_t)n);
}

const lb_qkernel lb_qk_f32 = { LB_F32, "f32", 1, 4, f32_quantize, f32_dequantize, 0, 0 };
const lb_qkernel lb_qk_f16 = { LB_F16, "f16", 1, 2, f16_quantize, f16_dequantize, 0, 0 };
const lb_qkernel lb_qk_bf16 = { LB_BF16, "bf16", 1, 2, bf16_quantize, bf16_dequantize, 0, 0 };
