/* lb_qrun.h: the quantization pipeline behind lowbit-quantize (and lowbit-convert's
 * quantized outtypes): read each tensor once, in bounded chunks of rows, quantize with the
 * row-parallel driver, measure the error against the input, stream the GGUF out.
 *
 * Memory: four buffers of at most chunk_bytes each (input bytes, f32 input, output blocks,
 * f32 reconstruction), whatever the model size. Output bytes never depend on nthreads. */
#ifndef LB_QRUN_H
#define LB_QRUN_H

#include "lb_imatrix.h"
#include "lb_metrics.h"
#include "lb_mix.h"
#include "lb_model.h"

#define LB_QRUN_CHUNK_DEFAULT (8u << 20)
#define LB_SOURCE_SHA_KEY "lowbit.source.sha256"

typedef struct lb_qrun_opts {
    int              ftype;          /* general.file_type to record */
    const lb_imatrix *imatrix;       /* or NULL */
    int              nthreads;
    int              allow_nonfinite;
    uint64_t         chunk_bytes;    /* f32 bytes per chunk (0: default) */
    /* provenance (NULL: not recorded) */
    const char      *version;        /* lowbit.version */
    const char      *recipe;         /* lowbit.recipe */
    const char      *imatrix_sha256; /* lowbit.imatrix.sha256 */
    int              source_sha256;  /* record the input file's sha256 (seekable output, one input file) */
} lb_qrun_opts;

/* Per tensor, filled as it is written. */
typedef struct lb_qreport {
    const char *name;                /* borrowed from the model */
    int        ndim;
    uint64_t   shape[LB_MAX_DIMS];   /* outermost first */
    uint64_t   nelem;
    uint64_t   in_bytes;             /* the tensor's bytes in the input */
    int        in_type, out_type;
    int        converted;            /* 0: copied as is (no error) */
    uint64_t   offset, bytes;        /* in the output */
    lb_metrics m;
} lb_qreport;

/* The error report, shared by lowbit-quantize and lowbit-convert (docs/lowbit-quantize.md):
 * the JSON document, and the table as text (the caller prints it). */
struct cJSON;
struct cJSON *lb_qreport_json(const lb_qreport *rep, size_t n, const char *tool, const char *input,
                              const char *output, const char *type, int ftype);
char *lb_qreport_table(const lb_qreport *rep, size_t n);

typedef void (*lb_qrun_progress)(size_t tensor, uint64_t bytes_in, void *ctx);

/* Quantize model `in` with the per-tensor types of `plan` into `out` (an open lb_out:
 * the caller commits or aborts it). rep: in->n_tensors entries. The output keeps every
 * input key, with general.file_type, general.quantization_version = 2 and the provenance
 * keys set. Errors name the tensor; NaN/Inf in a tensor is LB_EFORMAT naming it and the
 * first bad index, unless allow_nonfinite. */
int lb_qrun(lb_model *in, const lb_mix_result *plan, lb_out *out, const lb_qrun_opts *o,
            lb_qreport *rep, lb_qrun_progress progress, void *ctx, lb_err *err);

/* Receives a tensor's output blocks in order: n bytes starting at byte `at` of the tensor. */
typedef int (*lb_qrun_sink)(void *ctx, const void *data, size_t n, uint64_t at, lb_err *err);

/* Quantize one tensor exactly as lb_qrun would (same chunks, same bytes), handing the
 * blocks to sink (lowbit-verify derived re-derives files this way). */
int lb_qrun_tensor(lb_model *in, const lb_tensor *t, int type, const lb_imatrix *im, int nthreads,
                   lb_qrun_sink sink, void *ctx, lb_metrics *m, lb_err *err);

/* Rows already in f32 (lowbit-convert's quantized outtypes): quantize nrows rows of x into
 * q with nthreads workers; if m, each worker decodes its rows back and measures them, and m
 * gets the rows' metrics merged in row order (the same bits for any nthreads, as in
 * lb_qrun); if wr, each worker also writes its blocks with lb_writer_pwrite at off (a range
 * the caller reserved with lb_writer_reserve). */
struct lb_writer;
int lb_qrun_rows(int type, const float *x, uint8_t *q, uint64_t nrows, uint64_t ne0, const float *imatrix,
                 int nthreads, lb_metrics *m, struct lb_writer *wr, uint64_t off, lb_err *err);

/* Quantize one tensor to `type` in memory and return the metrics only. */
int lb_qrun_measure(lb_model *in, const lb_tensor *t, int type, const lb_imatrix *im, int nthreads,
                    uint64_t chunk_bytes, lb_metrics *m, lb_err *err);
/* The same for several types at once, reading the tensor once: m[k] for types[k]. */
int lb_qrun_measure_types(lb_model *in, const lb_tensor *t, const int *types, size_t ntypes,
                          const lb_imatrix *im, int nthreads, uint64_t chunk_bytes, lb_metrics *m,
                          lb_err *err);

#endif
