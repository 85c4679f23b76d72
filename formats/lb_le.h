/* lb_le.h: explicit little-endian loads and stores (any host byte order, any alignment).
 * Never cast a pointer into a mapping: go through these. */
#ifndef LB_LE_H
#define LB_LE_H

#include <stdint.h>
#include <string.h>

static inline uint16_t lb_ld16(const void *p)
{ const uint8_t *b = p; return (uint16_t)(b[0] | (uint16_t)b[1] << 8); }
static inline uint32_t lb_ld32(const void *p)
{ const uint8_t *b = p; return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }
static inline uint64_t lb_ld64(const void *p)
{ const uint8_t *b = p; return (uint64_t)lb_ld32(b) | (uint64_t)lb_ld32(b + 4) << 32; }
static inline float lb_ldf32(const void *p)
{ uint32_t u = lb_ld32(p); float f; memcpy(&f, &u, 4); return f; }
static inline double lb_ldf64(const void *p)
{ uint64_t u = lb_ld64(p); double d; memcpy(&d, &u, 8); return d; }

static inline void lb_st16(void *p, uint16_t v)
{ uint8_t *b = p; b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); }
static inline void lb_st32(void *p, uint32_t v)
{ uint8_t *b = p; b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)(v >> 16); b[3] = (uint8_t)(v >> 24); }
static inline void lb_st64(void *p, uint64_t v)
{ lb_st32(p, (uint32_t)v); lb_st32((uint8_t *)p + 4, (uint32_t)(v >> 32)); }
static inline void lb_stf32(void *p, float f)
{ uint32_t u; memcpy(&u, &f, 4); lb_st32(p, u); }
static inline void lb_stf64(void *p, double d)
{ uint64_t u; memcpy(&u, &d, 8); lb_st64(p, u); }

/* Overflow-checked arithmetic on 64-bit sizes: return 0 on success, -1 on overflow. */
static inline int lb_mul64(uint64_t a, uint64_t b, uint64_t *r)
{ return __builtin_mul_overflow(a, b, r) ? -1 : 0; }
static inline int lb_add64(uint64_t a, uint64_t b, uint64_t *r)
{ return __builtin_add_overflow(a, b, r) ? -1 : 0; }

#endif
