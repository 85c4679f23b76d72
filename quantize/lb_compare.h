/* lb_compare.h: error metrics between two tensors of any types (either side decoded to
 * f32 chunk by chunk, whole rows at a time). Used by lowbit-compare and lowbit-verify. */
#ifndef LB_COMPARE_H
#define LB_COMPARE_H

#include "lb_metrics.h"
#include "lb_model.h"

/* 1 if the two tensors have the same dimensions (outermost first). */
int lb_same_shape(const lb_tensor *a, const lb_tensor *b);
/* Metrics of b against a (a is the reference); the shapes must be the same. */
int lb_compare_tensor(lb_model *ma, const lb_tensor *a, lb_model *mb, const lb_tensor *b, lb_metrics *m, lb_err *err);

#endif
