/* test_dtype.c: the type traits table and exhaustive float conversion checks.
 *
 * For each small float format, every code point is decoded and checked against
 * independent facts (known values, monotonic order), then for every pair of adjacent
 * finite values the exact midpoint (representable in f32 for all these formats) must
 * round to the one with the even mantissa, and its f32 neighbours to the nearer side. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lb_dtype.h"
#include "tap.h"

typedef struct fmt {
    const char *name;
    int bits;
    float (*dec)(uint32_t);
    uint32_t (*enc)(float);
    int has_inf;          /* IEEE-style Inf; otherwise saturating (E4M3 fn) */
    float max;            /* largest finite */
    float min_sub;        /* smallest positive subnormal */
    uint32_t inf_code;    /* +Inf (0 when the format has none) */
} fmt;

static float dec16(uint32_t v) { return lb_f16_to_f32((uint16_t)v); }
static uint32_t enc16(float f) { return lb_f32_to_f16(f); }
static float decb16(uint32_t v) { return lb_bf16_to_f32((uint16_t)v); }
static uint32_t encb16(float f) { return lb_f32_to_bf16(f); }
static float dec43(uint32_t v) { return lb_e4m3_to_f32((uint8_t)v); }
static uint32_t enc43(float f) { return lb_f32_to_e4m3(f); }
static float dec52(uint32_t v) { return lb_e5m2_to_f32((uint8_t)v); }
static uint32_t enc52(float f) { return lb_f32_to_e5m2(f); }

static const fmt fmts[] = {
    { "f16", 16, dec16, enc16, 1, 65504.0f, 5.9604644775390625e-8f, 0x7c00 },
    { "bf16", 16, decb16, encb16, 1, 3.3895313892515355e38f, 9.183549615799121e-41f, 0x7f80 },
    { "f8_e4m3", 8, dec43, enc43, 0, 448.0f, 0.001953125f, 0 },
    { "f8_e5m2", 8, dec52, enc52, 1, 57344.0f, 1.52587890625e-5f, 0x7c },
};

static void check_format(const fmt *f)
{
    uint32_t n = 1u << f->bits, sign = 1u << (f->bits - 1);
    /* decode every code point */
    tap_begin("%s decode all %u values", f->name, n);
    int nan_count = 0;
    float prev = -1;
    for (uint32_t v = 0; v < n; v++) {
        float x = f->dec(v);
        if (isnan(x)) { nan_count++; continue; }
        if (v < sign) {             /* positive half: strictly increasing */
            CHECK(x > prev || v == 0, "0x%x decodes to %g, not above 0x%x", v, x, v - 1);
            prev = x;
            CHECK(!signbit(x), "0x%x has the sign bit", v);
        } else {
            float p = f->dec(v - sign);
            CHECK(x == -p && signbit(x), "0x%x is not the negation of 0x%x", v, v - sign);
        }
    }
    CHECK(f->dec(1) == f->min_sub, "smallest subnormal %g", f->dec(1));
    if (f->has_inf) {
        CHECK(isinf(f->dec(f->inf_code)) && f->dec(f->inf_code) > 0, "+inf code");
        CHECK(f->dec(f->inf_code - 1) == f->max, "the code below +inf is max");
    } else {
        CHECK(isnan(f->dec(0x7f)) && isnan(f->dec(0xff)), "e4m3fn NaN codes");
        CHECK(nan_count == 2, "e4m3fn has exactly 2 NaN codes, got %d", nan_count);
    }
    tap_end();

    /* every finite value encodes back to itself (-0 too) */
    tap_begin("%s encode(decode(v)) == v for all finite v", f->name);
    for (uint32_t v = 0; v < n; v++) {
        float x = f->dec(v);
        if (isnan(x)) continue;
        if (isinf(x)) { CHECK(f->enc(x) == v, "inf 0x%x -> 0x%x", v, f->enc(x)); continue; }
        CHECK(f->enc(x) == v, "0x%x (%g) encodes to 0x%x", v, x, f->enc(x));
    }
    tap_end();

    /* ties to even at every midpoint, and the neighbours of each midpoint */
    tap_begin("%s round-to-nearest-even at every midpoint", f->name);
    for (uint32_t half = 0; half < 2; half++) {
        for (uint32_t v = 0; v + 1 < sign; v++) {
            uint32_t a = v | (half ? sign : 0), b = (v + 1) | (half ? sign : 0);
            float xa = f->dec(a), xb = f->dec(b);
            if (isnan(xa) || isnan(xb) || isinf(xb)) continue;
            double md = ((double)xa + (double)xb) / 2;
            float m = (float)md;
            CHECK((double)m == md, "midpoint of 0x%x not exact in f32", a);
            uint32_t even = (a & 1) ? b : a;
            CHECK(f->enc(m) == even, "midpoint %.9g of 0x%x/0x%x -> 0x%x, want 0x%x", m, a, b, f->enc(m), even);
            float lo = nextafterf(m, half ? INFINITY : -INFINITY);  /* toward a */
            float hi = nextafterf(m, half ? -INFINITY : INFINITY);  /* toward b */
            CHECK(f->enc(lo) == a, "just inside 0x%x", a);
            CHECK(f->enc(hi) == b, "just inside 0x%x", b);
        }
    }
    tap_end();

    tap_begin("%s overflow, NaN and underflow", f->name);
    for (int s = 0; s < 2; s++) {
        float sg = s ? -1.0f : 1.0f;
        uint32_t maxcode = f->enc(sg * f->max);
        CHECK(f->dec(maxcode) == sg * f->max, "max encodes");
        if (f->has_inf) {
            CHECK(isinf(f->dec(f->enc(sg * INFINITY))), "inf stays inf");
            CHECK(isinf(f->dec(f->enc(sg * f->max * 2))), "2*max overflows to inf");
        } else {
            CHECK(f->enc(sg * INFINITY) == maxcode, "inf saturates to max");
            CHECK(f->enc(sg * 1e30f) == maxcode, "1e30 saturates to max");
            CHECK(f->enc(sg * 464.0f) == maxcode, "464 saturates");
        }
        uint32_t nanc = f->enc(sg * NAN);
        CHECK(isnan(f->dec(nanc)), "NaN stays NaN (got code 0x%x)", nanc);
        CHECK(f->enc(sg * f->min_sub * 0.5f) == (s ? sign : 0), "half of min subnormal rounds to (signed) zero");
        CHECK(f->enc(nextafterf(sg * f->min_sub * 0.5f, sg * INFINITY)) == ((s ? sign : 0) | 1), "just above half rounds up");
    }
    tap_end();
}

static void check_traits(void)
{
    tap_begin("traits table: geometry of ggml and safetensors types");
    struct { const char *name; int id; unsigned blck, size; } want[] = {
        { "f32", 0, 1, 4 }, { "f16", 1, 1, 2 }, { "q4_0", 2, 32, 18 }, { "q4_1", 3, 32, 20 },
        { "q5_0", 6, 32, 22 }, { "q5_1", 7, 32, 24 }, { "q8_0", 8, 32, 34 }, { "q8_1", 9, 32, 36 },
        { "q2_K", 10, 256, 84 }, { "q3_K", 11, 256, 110 }, { "q4_K", 12, 256, 144 },
        { "q5_K", 13, 256, 176 }, { "q6_K", 14, 256, 210 }, { "q8_K", 15, 256, 292 },
        { "iq2_xxs", 16, 256, 66 }, { "iq2_xs", 17, 256, 74 }, { "iq3_xxs", 18, 256, 98 },
        { "iq1_s", 19, 256, 50 }, { "iq4_nl", 20, 32, 18 }, { "iq3_s", 21, 256, 110 },
        { "iq2_s", 22, 256, 82 }, { "iq4_xs", 23, 256, 136 }, { "i8", 24, 1, 1 },
        { "i16", 25, 1, 2 }, { "i32", 26, 1, 4 }, { "i64", 27, 1, 8 }, { "f64", 28, 1, 8 },
        { "iq1_m", 29, 256, 56 }, { "bf16", 30, 1, 2 }, { "tq1_0", 34, 256, 54 },
        { "tq2_0", 35, 256, 66 }, { "mxfp4", 39, 32, 17 }, { "nvfp4", 40, 64, 36 },
        { "q1_0", 41, 128, 18 }, { "q2_0", 42, 64, 18 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const lb_type_traits *t = lb_type_by_name(want[i].name);
        CHECK(t && t->id == want[i].id && t->blck == want[i].blck && t->type_size == want[i].size && t->ggml,
              "%s", want[i].name);
    }
    for (int removed = 4; removed <= 5; removed++) CHECK(!lb_type_get(removed), "id %d is removed", removed);
    for (int removed = 31; removed <= 38; removed++)
        if (removed != 34 && removed != 35) CHECK(!lb_type_get(removed), "id %d is removed", removed);
    const char *st[] = { "F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I8", "I16", "I32", "I64",
                         "U8", "U16", "U32", "U64", "BOOL" };
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) CHECK(lb_type_by_st_name(st[i]), "st dtype %s", st[i]);
    CHECK(!lb_type_by_st_name("f32"), "safetensors names are case-sensitive");
    CHECK(lb_type_by_name("Q4_K") == lb_type_get(LB_Q4_K), "names are case-insensitive");
    uint64_t b;
    CHECK(lb_type_nbytes(LB_Q4_K, 512, &b) == 0 && b == 288, "2 q4_K blocks = 288 bytes");
    CHECK(lb_type_nbytes(LB_Q4_K, 100, &b) != 0, "not a block multiple");
    CHECK(lb_type_nbytes(LB_F32, UINT64_MAX / 2, &b) != 0, "overflow detected");
    tap_end();
}

static void check_rows(void)
{
    tap_begin("row conversions of plain types (little-endian bytes)");
    const uint8_t i16[] = { 0xff, 0xff, 0x00, 0x80 };
    float out[4];
    CHECK(lb_plain_to_f32(LB_I16, i16, out, 2) == 0 && out[0] == -1 && out[1] == -32768, "i16");
    CHECK(lb_plain_to_f32(LB_U16, i16, out, 2) == 0 && out[0] == 65535 && out[1] == 32768, "u16");
    const uint8_t f16[] = { 0x00, 0x3c, 0x00, 0xc0 };
    CHECK(lb_plain_to_f32(LB_F16, f16, out, 2) == 0 && out[0] == 1 && out[1] == -2, "f16 row");
    float src[3] = { 1.0f, -0.5f, 448.0f };
    uint8_t e43[3];
    CHECK(lb_f32_to_plain(LB_F8_E4M3, src, e43, 3) == 0 && e43[0] == 0x38 && e43[1] == 0xb0 && e43[2] == 0x7e,
          "e4m3 bytes %02x %02x %02x", e43[0], e43[1], e43[2]);
    CHECK(lb_plain_to_f32(LB_Q4_0, f16, out, 1) == -1, "block types are not plain");
    tap_end();
}

int main(void)
{
    check_traits();
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) check_format(&fmts[i]);
    check_rows();
    TAP_EXIT();
}
