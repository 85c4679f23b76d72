/* lb_imatrix.h: importance matrices as llama-imatrix writes them, read into
 * name -> per-column weights, the numbers llama-quantize hands to the quantizers.
 *
 * Two formats (llama.cpp 0.4.0):
 *   GGUF (current): general.type "imatrix"; keys imatrix.datasets (string array),
 *     imatrix.chunk_count (u32), imatrix.chunk_size (u32); per weight tensor W two F32
 *     tensors "W.in_sum2" (ne0 x n_mat values: summed squared activations, one row per
 *     expert) and "W.counts" (n_mat values: tokens seen per expert). Weight =
 *     in_sum2 / round(count) per expert row; a row whose rounded count is 0 gets 1.0.
 *   legacy .dat: i32 n_entries (>= 1), then per entry: i32 name length, name bytes,
 *     i32 ncall, i32 nval (>= 1), nval f32 (stored as mean * ncall); then optionally
 *     i32 chunk count, i32 dataset-name length, dataset name. Weight = value / ncall
 *     (the stored value itself when ncall <= 0). All little-endian.
 * Both give the same weights within float rounding: .dat stores (sum/count)*ncall in
 * f32, which the division by ncall brings back to sum/count within a couple of ulps.
 *
 * The GGUF form is recognised by its magic; anything else is read as .dat. Every count
 * and length is checked against the file size before allocating; malformed files give
 * LB_EFORMAT naming the entry. Non-finite weights are refused (llama.cpp refuses them
 * when quantizing). Ownership: the lb_imatrix owns all its strings and arrays. */
#ifndef LB_IMATRIX_H
#define LB_IMATRIX_H

#include <stddef.h>
#include <stdint.h>

#include "lb_error.h"

typedef struct lb_imatrix_entry {
    char    *name;       /* weight tensor name, "blk.0.attn_k.weight" */
    float   *w;          /* n weights: n_mat rows of ne0 (one row per expert) */
    uint64_t n;          /* ne0 * n_mat */
    uint64_t ne0;        /* row length of the weight tensor */
    uint64_t n_mat;      /* experts (1 for a dense tensor; always 1 for .dat) */
    int64_t  count;      /* GGUF: largest rounded count (tokens); .dat: ncall */
} lb_imatrix_entry;

typedef struct lb_imatrix {
    int               legacy;       /* 1: read from .dat */
    lb_imatrix_entry *e;            /* sorted by name (strcmp), names unique */
    size_t            n;
    char            **datasets;     /* GGUF imatrix.datasets, or the .dat trailer's name */
    size_t            n_datasets;
    int32_t           chunk_count;  /* imatrix.chunk_count / the .dat trailer (0 if none) */
    int32_t           chunk_size;   /* imatrix.chunk_size (0 for .dat) */
} lb_imatrix;

/* Read a file (either format). */
int  lb_imatrix_load(lb_imatrix **out, const char *path, lb_err *err);
/* Same from memory (name is used in messages). */
int  lb_imatrix_load_mem(lb_imatrix **out, const void *data, size_t size, const char *name,
                         lb_err *err);
void lb_imatrix_free(lb_imatrix *im);   /* NULL is a no-op */

/* Entry for a weight tensor name, or NULL. */
const lb_imatrix_entry *lb_imatrix_find(const lb_imatrix *im, const char *name);

/* llama-quantize's --exclude-weights / --include-weights: drop every entry whose name
 * contains one of exclude[] (substring); then, if n_include > 0, keep only entries whose
 * name contains one of include[]. Using both is LB_EUSAGE (llama-quantize refuses it).
 * Returns LB_OK; *removed (optional) gets the number of entries dropped. */
int  lb_imatrix_filter(lb_imatrix *im, const char *const *include, size_t n_include,
                       const char *const *exclude, size_t n_exclude, size_t *removed,
                       lb_err *err);

/* The weights llama.cpp would pass when quantizing a tensor `name` with row length ne0
 * and n_mat experts (ne[2]; 1 for 2-D): the entry's array if its size is ne0 * n_mat.
 * *w = NULL when there is no entry. A size mismatch is LB_EFORMAT naming the tensor,
 * except for token embeddings (token_embd.weight, per_layer_token_embd.weight), which
 * llama.cpp quantizes without weights in that case (*w = NULL, LB_OK). */
int  lb_imatrix_weights_for(const lb_imatrix *im, const char *name, uint64_t ne0,
                            uint64_t n_mat, const float **w, lb_err *err);

#endif
