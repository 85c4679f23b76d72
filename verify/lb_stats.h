/* lb_stats.h: streaming per-tensor statistics (min, max, mean, std, NaN/Inf/zero counts).
 * Reads a tensor in bounded chunks of whole rows; never the whole tensor at once. */
#ifndef LB_STATS_H
#define LB_STATS_H

#include "lb_model.h"

typedef struct lb_stats {
    uint64_t count;          /* finite values seen */
    uint64_t nan, inf, zeros;
    double   min, max;       /* over finite values */
    double   sum, sumsq;     /* Welford would be steadier; values are f32, sums in double */
    double   mean, std;      /* filled by lb_stats_finish */
} lb_stats;

void lb_stats_init(lb_stats *s);
void lb_stats_add(lb_stats *s, const float *x, size_t n);
void lb_stats_finish(lb_stats *s);

/* Converts a chunk of raw tensor bytes to f32; the default handles plain types. Block
 * types need a dequantizer: lb_tensor_to_f32 uses lb_stats_block_dequant when set. */
typedef int (*lb_dequant_fn)(int type, const void *src, float *dst, uint64_t n);
extern lb_dequant_fn lb_stats_block_dequant;

/* Stream a tensor through f32 conversion in chunks, calling fn for each chunk. */
int lb_tensor_to_f32(lb_model *m, const lb_tensor *t,
                     int (*fn)(const float *x, size_t n, void *ctx), void *ctx, lb_err *err);
/* Statistics of one tensor. */
int lb_tensor_stats(lb_model *m, const lb_tensor *t, lb_stats *s, lb_err *err);

#endif
