/* lb_dtype.h: every element type lowbit knows, in one traits table.
 *
 * Type ids: ggml types keep their ggml numeric id (0..42, the value stored in GGUF
 * tensor infos); types ggml lacks (FP8, unsigned ints, bool) take ids from 100 up.
 * Shapes and byte sizes come from the block geometry: a row of n elements of a
 * block type takes n / blck * type_size bytes, and n must be a multiple of blck. */
#ifndef LB_DTYPE_H
#define LB_DTYPE_H

#include <stddef.h>
#include <stdint.h>

enum lb_type {
    LB_F32 = 0, LB_F16 = 1, LB_Q4_0 = 2, LB_Q4_1 = 3,
    LB_Q5_0 = 6, LB_Q5_1 = 7, LB_Q8_0 = 8, LB_Q8_1 = 9,
    LB_Q2_K = 10, LB_Q3_K = 11, LB_Q4_K = 12, LB_Q5_K = 13, LB_Q6_K = 14, LB_Q8_K = 15,
    LB_IQ2_XXS = 16, LB_IQ2_XS = 17, LB_IQ3_XXS = 18, LB_IQ1_S = 19, LB_IQ4_NL = 20,
    LB_IQ3_S = 21, LB_IQ2_S = 22, LB_IQ4_XS = 23,
    LB_I8 = 24, LB_I16 = 25, LB_I32 = 26, LB_I64 = 27, LB_F64 = 28, LB_IQ1_M = 29,
    LB_BF16 = 30, LB_TQ1_0 = 34, LB_TQ2_0 = 35, LB_MXFP4 = 39, LB_NVFP4 = 40,
    LB_Q1_0 = 41, LB_Q2_0 = 42,
    LB_GGML_TYPE_COUNT = 43,
    /* not in ggml */
    LB_F8_E4M3 = 100, LB_F8_E5M2 = 101, LB_U8 = 102, LB_U16 = 103, LB_U32 = 104,
    LB_U64 = 105, LB_BOOL = 106,
    LB_TYPE_MAX = 107
};

enum lb_type_kind { LB_KIND_FLOAT = 1, LB_KIND_INT = 2, LB_KIND_UINT = 3, LB_KIND_BOOL = 4,
                    LB_KIND_BLOCK = 5 };

typedef struct lb_type_traits {
    int         id;        /* enum lb_type */
    const char *name;      /* lowercase, ggml's type name where one exists: "f32", "q4_K" */
    const char *st_name;   /* safetensors dtype string ("F32", "F8_E4M3"), NULL if none */
    int         ggml;      /* 1 if GGUF can store it (id is the ggml type id) */
    int         kind;      /* enum lb_type_kind */
    uint32_t    blck;      /* elements per block (1 for plain types) */
    uint32_t    type_size; /* bytes per block */
} lb_type_traits;

/* Traits of a type id, or NULL if the id is unknown (or a removed ggml id). */
const lb_type_traits *lb_type_get(int id);
/* Lookup by lowercase name ("q4_K", "bf16"; case-insensitive), NULL if none. */
const lb_type_traits *lb_type_by_name(const char *name);
/* Lookup by safetensors dtype string ("BF16"), exact case; NULL if none. */
const lb_type_traits *lb_type_by_st_name(const char *st);
/* Iterate: all known types in id order; returns count and sets *list. */
size_t lb_type_list(const lb_type_traits *const **list);

/* Bytes for n elements of type id, with overflow and block-multiple checks.
 * Returns 0 and sets *bytes, or -1 (unknown type, n not a multiple of blck, overflow). */
int lb_type_nbytes(int id, uint64_t n, uint64_t *bytes);

/* Scalar conversions. All f32->narrow conversions round to nearest, ties to even.
 * NaN stays NaN (quiet; sign kept); F16/BF16/E5M2 overflow to +-Inf as IEEE does.
 * F8_E4M3 is the "fn" variant (no Inf; S.1111.111 is NaN; max finite 448): f32 values
 * beyond the range, and +-Inf, saturate to +-448; NaN stays NaN. */
float    lb_f16_to_f32(uint16_t h);
uint16_t lb_f32_to_f16(float f);
float    lb_bf16_to_f32(uint16_t h);
uint16_t lb_f32_to_bf16(float f);
float    lb_e4m3_to_f32(uint8_t v);
uint8_t  lb_f32_to_e4m3(float f);
float    lb_e5m2_to_f32(uint8_t v);
uint8_t  lb_f32_to_e5m2(float f);

/* Convert n elements of a plain (non-block) type, little-endian bytes, to f32.
 * Returns 0, or -1 if the type is a block type (those live in quantize/). */
int lb_plain_to_f32(int id, const void *src, float *dst, size_t n);
/* Convert n f32 values to a plain float type (f32 f16 bf16 f64 f8_*), little-endian. */
int lb_f32_to_plain(int id, const float *src, void *dst, size_t n);

#endif
