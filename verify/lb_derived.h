/* lb_derived.h: was a quantized GGUF really made from this source?
 *
 * Every tensor of QUANTIZED is matched by name with SOURCE. Without provenance, each is
 * decoded and compared with the source: its relative RMSE must lie within what its type
 * produces on this very tensor (lowbit quantizes the source tensor to the same type and
 * allows LB_DERIVED_BAND times that error, which covers importance-matrix choices). With
 * lowbit's provenance keys (lowbit.recipe, lowbit.source.sha256), the recipe is re-run and
 * every byte compared: then any change to any block is caught. */
#ifndef LB_DERIVED_H
#define LB_DERIVED_H

#include "lb_imatrix.h"
#include "lb_metrics.h"
#include "lb_model.h"

#define LB_DERIVED_BAND 1.5

enum lb_derived_status {
    LB_DV_OK = 0, LB_DV_OUTSIDE_BAND, LB_DV_BYTES_DIFFER, LB_DV_TYPE_DIFFERS, LB_DV_MISSING,
    LB_DV_EXTRA, LB_DV_SHAPE, LB_DV_KEPT_CHANGED
};

typedef struct lb_derived_tensor {
    const char *name;
    int status;                /* enum lb_derived_status */
    int src_type, q_type;      /* -1 where absent */
    double rel_rmse;           /* of the quantized tensor against the source */
    double band;               /* the largest relative RMSE accepted (0: exact required) */
    int rederived;             /* 1: bytes compared with a re-run of the recipe */
    uint64_t first_diff;       /* LB_DV_BYTES_DIFFER: byte offset in the tensor */
    lb_metrics_result r;
} lb_derived_tensor;

typedef struct lb_derived_result {
    lb_derived_tensor *t; size_t n;
    int has_recipe;            /* the file carries lowbit.recipe */
    int rederived;             /* the recipe was re-run (byte comparison) */
    int source_sha_checked;    /* 1 match, -1 mismatch, 0 not recorded / not checkable */
    char note[256];            /* why re-derivation was not possible, if it was not */
    size_t n_failed;
} lb_derived_result;

typedef struct lb_derived_opts {
    const lb_imatrix *imatrix;     /* for recipes made with one */
    const char *imatrix_sha256;    /* its sha256 (checked against the recipe) */
    int nthreads;
    int no_rederive;               /* band checks only */
} lb_derived_opts;

int  lb_derived_check(lb_model *src, lb_model *q, const lb_derived_opts *o, lb_derived_result **out, lb_err *err);
void lb_derived_free(lb_derived_result *r);
const char *lb_derived_status_name(int s);

#endif
