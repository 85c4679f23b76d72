/* dtype.c: the type traits table and scalar float conversions (lb_dtype.h).
 *
 * Float formats handled here, as sign.exponent.mantissa (bias):
 *   F16 1.5.10 (15)  BF16 1.8.7 (127)  F8_E5M2 1.5.2 (15, IEEE-like, has Inf)
 *   F8_E4M3 "fn" 1.4.3 (7): no Inf; exponent 1111 with mantissa 111 is NaN, so the
 *   largest finite value is 1.75 * 2^8 = 448.
 * Narrowing goes through one routine (round_to_format) so every format rounds the same
 * way: to nearest, ties to even, with gradual underflow into subnormals. */
#include "lb_dtype.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "lb_cpu.h"
#include "lb_le.h"

#define PLAIN(i, nm, st, g, k, sz) [i] = { i, nm, st, g, k, 1, sz }
#define BLOCK(i, nm, b, sz)        [i] = { i, nm, NULL, 1, LB_KIND_BLOCK, b, sz }

static const lb_type_traits traits[LB_TYPE_MAX] = {
    PLAIN(LB_F32, "f32", "F32", 1, LB_KIND_FLOAT, 4),
    PLAIN(LB_F16, "f16", "F16", 1, LB_KIND_FLOAT, 2),
    BLOCK(LB_Q4_0, "q4_0", 32, 18),
    BLOCK(LB_Q4_1, "q4_1", 32, 20),
    BLOCK(LB_Q5_0, "q5_0", 32, 22),
    BLOCK(LB_Q5_1, "q5_1", 32, 24),
    BLOCK(LB_Q8_0, "q8_0", 32, 34),
    BLOCK(LB_Q8_1, "q8_1", 32, 36),
    BLOCK(LB_Q2_K, "q2_K", 256, 84),
    BLOCK(LB_Q3_K, "q3_K", 256, 110),
    BLOCK(LB_Q4_K, "q4_K", 256, 144),
    BLOCK(LB_Q5_K, "q5_K", 256, 176),
    BLOCK(LB_Q6_K, "q6_K", 256, 210),
    BLOCK(LB_Q8_K, "q8_K", 256, 292),
    BLOCK(LB_IQ2_XXS, "iq2_xxs", 256, 66),
    BLOCK(LB_IQ2_XS, "iq2_xs", 256, 74),
    BLOCK(LB_IQ3_XXS, "iq3_xxs", 256, 98),
    BLOCK(LB_IQ1_S, "iq1_s", 256, 50),
    BLOCK(LB_IQ4_NL, "iq4_nl", 32, 18),
    BLOCK(LB_IQ3_S, "iq3_s", 256, 110),
    BLOCK(LB_IQ2_S, "iq2_s", 256, 82),
    BLOCK(LB_IQ4_XS, "iq4_xs", 256, 136),
    PLAIN(LB_I8, "i8", "I8", 1, LB_KIND_INT, 1),
    PLAIN(LB_I16, "i16", "I16", 1, LB_KIND_INT, 2),
    PLAIN(LB_I32, "i32", "I32", 1, LB_KIND_INT, 4),
    PLAIN(LB_I64, "i64", "I64", 1, LB_KIND_INT, 8),
    PLAIN(LB_F64, "f64", "F64", 1, LB_KIND_FLOAT, 8),
    BLOCK(LB_IQ1_M, "iq1_m", 256, 56),
    PLAIN(LB_BF16, "bf16", "BF16", 1, LB_KIND_FLOAT, 2),
    BLOCK(LB_TQ1_0, "tq1_0", 256, 54),
    BLOCK(LB_TQ2_0, "tq2_0", 256, 66),
    BLOCK(LB_MXFP4, "mxfp4", 32, 17),
    BLOCK(LB_NVFP4, "nvfp4", 64, 36),
    BLOCK(LB_Q1_0, "q1_0", 128, 18),
    BLOCK(LB_Q2_0, "q2_0", 64, 18),
    PLAIN(LB_F8_E4M3, "f8_e4m3", "F8_E4M3", 0, LB_KIND_FLOAT, 1),
    PLAIN(LB_F8_E5M2, "f8_e5m2", "F8_E5M2", 0, LB_KIND_FLOAT, 1),
    PLAIN(LB_U8, "u8", "U8", 0, LB_KIND_UINT, 1),
    PLAIN(LB_U16, "u16", "U16", 0, LB_KIND_UINT, 2),
    PLAIN(LB_U32, "u32", "U32", 0, LB_KIND_UINT, 4),
    PLAIN(LB_U64, "u64", "U64", 0, LB_KIND_UINT, 8),
    PLAIN(LB_BOOL, "bool", "BOOL", 0, LB_KIND_BOOL, 1),
};

_Static_assert(sizeof traits / sizeof traits[0] == LB_TYPE_MAX, "traits table size");

const lb_type_traits *lb_type_get(int id)
{
    if (id < 0 || id >= LB_TYPE_MAX || !traits[id].name) return NULL;
    return &traits[id];
}

size_t lb_type_list(const lb_type_traits *const **list)
{
    static const lb_type_traits *all[LB_TYPE_MAX];
    static size_t n;
    if (!n) {
        size_t k = 0;
        for (int i = 0; i < LB_TYPE_MAX; i++)
            if (traits[i].name) all[k++] = &traits[i];
        n = k;
    }
    *list = all;
    return n;
}

const lb_type_traits *lb_type_by_name(const char *name)
{
    for (int i = 0; i < LB_TYPE_MAX; i++)
        if (traits[i].name && strcasecmp(traits[i].name, name) == 0) return &traits[i];
    return NULL;
}

const lb_type_traits *lb_type_by_st_name(const char *st)
{
    for (int i = 0; i < LB_TYPE_MAX; i++)
        if (traits[i].st_name && strcmp(traits[i].st_name, st) == 0) return &traits[i];
    return NULL;
}

int lb_type_nbytes(int id, uint64_t n, uint64_t *bytes)
{
    const lb_type_traits *t = lb_type_get(id);
    if (!t || n % t->blck) return -1;
    return lb_mul64(n / t->blck, t->type_size, bytes);
}

/* ---- float conversions ------------------------------------------------------ */

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Decode sign/exponent/mantissa fields of a small float to f32 (exact: every such
 * value is representable in f32). has_inf: the all-ones exponent means Inf/NaN (IEEE);
 * otherwise only exponent and mantissa all ones is NaN (E4M3 fn). */
static float decode_small(uint32_t v, int ebits, int mbits, int bias, int has_inf)
{
    uint32_t sign = (v >> (ebits + mbits)) & 1;
    uint32_t e = (v >> mbits) & ((1u << ebits) - 1);
    uint32_t m = v & ((1u << mbits) - 1);
    uint32_t emax = (1u << ebits) - 1;
    float r;
    if (has_inf && e == emax)
        r = m ? u2f(0x7fc00000u | (m << (23 - mbits))) : INFINITY;
    else if (!has_inf && e == emax && m == (1u << mbits) - 1)
        r = u2f(0x7fc00000u);
    else if (e == 0)
        r = ldexpf((float)m, 1 - bias - mbits);
    else
        r = ldexpf((float)(m | (1u << mbits)), (int)e - bias - mbits);
    return sign ? -r : r;
}

/* Encode f32 into a 1.ebits.mbits format with round-to-nearest-even.
 * Overflow goes to Inf (has_inf) or saturates to the largest finite value (E4M3 fn). */
static uint32_t round_to_format(float f, int ebits, int mbits, int bias, int has_inf)
{
    uint32_t u = f2u(f);
    uint32_t sign = (u >> 31) << (ebits + mbits);
    uint32_t emax = (1u << ebits) - 1;
    uint32_t nan = has_inf ? (emax << mbits) | (1u << (mbits - 1)) : (emax << mbits) | ((1u << mbits) - 1);
    uint32_t maxfin = has_inf ? ((emax - 1) << mbits) | ((1u << mbits) - 1) : nan - 1;
    uint32_t inf = has_inf ? emax << mbits : maxfin;
    float a = fabsf(f);
    if (isnan(f)) return sign | nan;
    if (isinf(f)) return sign | inf;
    /* Scale so that the format's smallest subnormal step becomes 1.0, then round the
     * integer part to even. For normals, compute the step from the exponent. */
    int e2;
    frexpf(a, &e2);                            /* a = m * 2^e2, m in [0.5, 1) */
    int exp_unb = e2 - 1;                      /* a in [2^exp_unb, 2^(exp_unb+1)) */
    int min_exp = 1 - bias;
    int step_exp = (exp_unb < min_exp ? min_exp : exp_unb) - mbits;
    float q = ldexpf(a, -step_exp);            /* exact: scaling by a power of two */
    float r = nearbyintf(q);                   /* default mode: ties to even */
    /* r * 2^step_exp is the rounded magnitude; re-derive fields from it */
    uint32_t mag;
    if (r == 0) return sign;
    int rexp;
    frexpf(ldexpf(r, step_exp), &rexp);
    rexp -= 1;
    if (rexp < min_exp) {                      /* subnormal */
        mag = (uint32_t)r;
    } else {
        uint32_t be = (uint32_t)(rexp + bias);
        if (be > (has_inf ? emax - 1 : emax)) return sign | inf;
        uint32_t mant = (uint32_t)ldexpf(ldexpf(r, step_exp), mbits - rexp) - (1u << mbits);
        mag = (be << mbits) | mant;
        if (mag > maxfin) return sign | inf;
    }
    return sign | mag;
}

float lb_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return u2f(sign | 0x7f800000u | (m ? 0x400000u | (m << 13) : 0));  /* Inf; NaN quiet */
    if (e == 0) {                                             /* subnormal: m * 2^-24, exact */
        float r = (float)m * 5.9604644775390625e-8f;
        return sign ? -r : r;
    }
    return u2f(sign | ((e + 112) << 23) | (m << 13));
}
/* The hot one (every F16 row and every block scale): bit arithmetic, same results as
 * round_to_format (the exhaustive midpoint tests check both ways). */
uint16_t lb_f32_to_f16(float f)
{
    uint32_t x = f2u(f), ax = x & 0x7fffffffu;
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    if (ax > 0x7f800000u) return sign | 0x7e00u;             /* NaN: quiet, sign kept */
    if (ax >= 0x477ff000u) return sign | 0x7c00u;            /* >= 65520 rounds to Inf */
    if (ax < 0x38800000u) {                                   /* below 2^-14: subnormal */
        /* adding 0.5 puts the f16 subnormal step (2^-24) at the f32 mantissa's last
         * place, so the FPU's own round-to-nearest-even does the rounding */
        float a = u2f(ax) + 0.5f;
        return sign | (uint16_t)(f2u(a) - 0x3f000000u);
    }
    ax += 0xc8000fffu + ((ax >> 13) & 1u);                    /* rebias (-112 << 23), round to even */
    return sign | (uint16_t)(ax >> 13);
}
float lb_e5m2_to_f32(uint8_t v) { return decode_small(v, 5, 2, 15, 1); }
uint8_t lb_f32_to_e5m2(float f) { return (uint8_t)round_to_format(f, 5, 2, 15, 1); }
float lb_e4m3_to_f32(uint8_t v) { return decode_small(v, 4, 3, 7, 0); }
uint8_t lb_f32_to_e4m3(float f) { return (uint8_t)round_to_format(f, 4, 3, 7, 0); }

float lb_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t lb_f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)       /* NaN: keep sign, force quiet */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);            /* round to nearest even; overflows to Inf */
    return (uint16_t)(u >> 16);
}

int lb_plain_to_f32(int id, const void *src, float *dst, size_t n)
{
    const uint8_t *p = src;
    size_t i;
    switch (id) {
    case LB_F32: for (i = 0; i < n; i++) dst[i] = lb_ldf32(p + 4 * i); return 0;
    case LB_F16: lb_f16_row_to_f32(p, dst, n); return 0;
    case LB_BF16: lb_bf16_row_to_f32(p, dst, n); return 0;
    case LB_F64: for (i = 0; i < n; i++) dst[i] = (float)lb_ldf64(p + 8 * i); return 0;
    case LB_F8_E4M3: for (i = 0; i < n; i++) dst[i] = lb_e4m3_to_f32(p[i]); return 0;
    case LB_F8_E5M2: for (i = 0; i < n; i++) dst[i] = lb_e5m2_to_f32(p[i]); return 0;
    case LB_I8: for (i = 0; i < n; i++) dst[i] = (float)(int8_t)p[i]; return 0;
    case LB_U8: case LB_BOOL: for (i = 0; i < n; i++) dst[i] = (float)p[i]; return 0;
    case LB_I16: for (i = 0; i < n; i++) dst[i] = (float)(int16_t)lb_ld16(p + 2 * i); return 0;
    case LB_U16: for (i = 0; i < n; i++) dst[i] = (float)lb_ld16(p + 2 * i); return 0;
    case LB_I32: for (i = 0; i < n; i++) dst[i] = (float)(int32_t)lb_ld32(p + 4 * i); return 0;
    case LB_U32: for (i = 0; i < n; i++) dst[i] = (float)lb_ld32(p + 4 * i); return 0;
    case LB_I64: for (i = 0; i < n; i++) dst[i] = (float)(int64_t)lb_ld64(p + 8 * i); return 0;
    case LB_U64: for (i = 0; i < n; i++) dst[i] = (float)lb_ld64(p + 8 * i); return 0;
    default: return -1;
    }
}

int lb_f32_to_plain(int id, const float *src, void *dst, size_t n)
{
    uint8_t *p = dst;
    size_t i;
    switch (id) {
    case LB_F32: for (i = 0; i < n; i++) lb_stf32(p + 4 * i, src[i]); return 0;
    case LB_F16: lb_f32_row_to_f16(src, p, n); return 0;
    case LB_BF16: lb_f32_row_to_bf16(src, p, n); return 0;
    case LB_F64: for (i = 0; i < n; i++) lb_stf64(p + 8 * i, (double)src[i]); return 0;
    case LB_F8_E4M3: for (i = 0; i < n; i++) p[i] = lb_f32_to_e4m3(src[i]); return 0;
    case LB_F8_E5M2: for (i = 0; i < n; i++) p[i] = lb_f32_to_e5m2(src[i]); return 0;
    default: return -1;
    }
}
