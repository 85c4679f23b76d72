/* lb_metrics.h: quantization error metrics, streamed.
 *
 * Feed pairs (reference W, reconstruction W^) in any number of calls; every sum is a
 * double. Partial accumulators (one per thread, per tensor, ...) combine with
 * lb_metrics_merge; merging the same partials in the same order gives the same bits.
 *
 * Definitions (e = W - W^, n values, optional importance weights w >= 0):
 *   mse        = sum e^2 / n                 rmse = sqrt(mse)
 *   max_abs    = max |e|
 *   rel_rmse   = ||e|| / ||W|| = sqrt(sum e^2 / sum W^2)      (0 if W and e are 0)
 *   sqnr_db    = 10 log10(sum W^2 / sum e^2)                  (+Inf if e is 0)
 *   cosine     = sum W W^ / sqrt(sum W^2 * sum W^^2)          (1 if both are 0)
 *   wmse       = sum w e^2 / sum w   (over values fed with weights; mse if none were)
 * A NaN or Inf anywhere propagates into the sums, as it should: it is an error. */
#ifndef LB_METRICS_H
#define LB_METRICS_H

#include <stdint.h>

typedef struct lb_metrics {
    uint64_t n;       /* values seen */
    double sum_e2;    /* sum of squared errors */
    double sum_w2;    /* sum of squared reference values */
    double sum_h2;    /* sum of squared reconstructed values */
    double sum_wh;    /* sum of reference * reconstruction */
    double max_abs;   /* largest |error| */
    uint64_t n_weighted; /* values seen with an importance weight */
    double sum_iw;    /* sum of importance weights */
    double sum_iwe2;  /* sum of weight * squared error */
} lb_metrics;

typedef struct lb_metrics_result {
    double mse, rmse, max_abs, rel_rmse, sqnr_db, cosine, wmse;
} lb_metrics_result;

/* Zero an accumulator. */
void lb_metrics_init(lb_metrics *m);
/* Add n pairs; w: n importance weights, or NULL (unweighted values). */
void lb_metrics_add(lb_metrics *m, const float *ref, const float *hat, const float *w, int64_t n);
/* dst += src (sums, counts; max of max). */
void lb_metrics_merge(lb_metrics *dst, const lb_metrics *src);
/* The metrics of everything accumulated. An empty accumulator gives all zeros and a
 * cosine of 1. */
lb_metrics_result lb_metrics_result_of(const lb_metrics *m);

#endif
