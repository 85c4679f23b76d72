/* lb_plan.h: the size planner behind --target-bpw / --target-size.
 *
 * Measures, for every tensor the mix would quantize, the importance-weighted error of each
 * candidate type (one read of the tensor, every candidate from the same f32 rows), then
 * picks one type per tensor to minimise the total error within the byte budget: a
 * Lagrangian sweep, a greedy fill of the budget left, and a check against every
 * llama.cpp mix that fits the budget (a mix that beats the plan is taken, then improved),
 * so the result is never worse than a mix of the same size or smaller. Tensors matched by
 * --tensor-type, and those the mix leaves alone, keep the mix's type. */
#ifndef LB_PLAN_H
#define LB_PLAN_H

#include "lb_imatrix.h"
#include "lb_mix.h"
#include "lb_model.h"

typedef struct lb_plan_opts {
    uint64_t target_bytes;        /* file size budget, or 0 */
    double   target_bpw;          /* bits per weight over all tensors, or 0 */
    const lb_imatrix *imatrix;
    int      nthreads;
    const char *const *overrides; /* --tensor-type specs: matching tensors are fixed */
    size_t   n_overrides;
} lb_plan_opts;

typedef struct lb_plan_result lb_plan_result;

/* Choose types; rewrites plan->t[i].type (and .converted) in place. LB_EUSAGE if even the
 * smallest candidates do not fit the budget (the message says the smallest size possible). */
int   lb_plan_choose(lb_model *m, lb_mix_result *plan, const lb_plan_opts *o, lb_plan_result **out,
                     lb_err *err);
/* The plan as text (per tensor: type, bytes, predicted rmse; totals; the mixes compared). */
char *lb_plan_describe(const lb_model *m, const lb_plan_result *r);
/* Predicted totals: bytes of the whole file, and the summed weighted squared error. */
void  lb_plan_totals(const lb_plan_result *r, uint64_t *file_bytes, double *error);
void  lb_plan_free(lb_plan_result *r);

#endif
