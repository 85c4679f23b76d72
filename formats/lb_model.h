/* lb_model.h: the one reader interface every container format sits behind.
 *
 * A model is a set of tensors plus typed metadata, opened from a file or an HF-style
 * folder. Formats register in one table (formats/registry.c) with a bid() on the first
 * bytes and an open(); detection is by content, strongest magic first.
 *
 * Ownership: the model owns everything it hands out (names, values, sources); all of it
 * stays valid until lb_model_close. Shapes are outermost dimension first for every
 * format (GGUF's ne[] is reversed on read and on write). */
#ifndef LB_MODEL_H
#define LB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "lb_error.h"
#include "lb_io.h"

#define LB_MAX_DIMS 8

/* ---- metadata values (GGUF's type system, which also covers safetensors' strings) ---- */

enum lb_vtype {
    LB_V_U8 = 0, LB_V_I8 = 1, LB_V_U16 = 2, LB_V_I16 = 3, LB_V_U32 = 4, LB_V_I32 = 5,
    LB_V_F32 = 6, LB_V_BOOL = 7, LB_V_STR = 8, LB_V_ARR = 9, LB_V_U64 = 10, LB_V_I64 = 11,
    LB_V_F64 = 12, LB_V_COUNT = 13
};

typedef struct lb_value {
    int type;                 /* enum lb_vtype (GGUF type ids) */
    int arr_type;             /* element type when type == LB_V_ARR */
    uint64_t n;               /* string length, or array element count */
    union {
        uint64_t u;           /* U8..U64, BOOL */
        int64_t  i;           /* I8..I64 */
        double   f;           /* F32, F64 */
        char    *s;           /* STR: n bytes + NUL (may contain NULs) */
        struct lb_value *arr; /* ARR: n elements */
    } v;
} lb_value;

typedef struct lb_kv {
    char    *key;
    lb_value val;
} lb_kv;

const char *lb_vtype_name(int t);   /* "u32", "string", "array" ... */
void lb_value_free(lb_value *v);    /* frees contents, not v */
int  lb_value_copy(lb_value *dst, const lb_value *src); /* deep copy; 0 or -1 (nomem) */

/* ---- tensors ---- */

typedef struct lb_tensor {
    char    *name;
    int      type;                 /* enum lb_type */
    int      ndim;
    uint64_t shape[LB_MAX_DIMS];   /* outermost first */
    uint64_t nelem;
    uint64_t nbytes;
    uint64_t offset;               /* absolute byte offset in its file (as stored there) */
    int      file;                 /* index into model->files */
    void    *fmt;                  /* format-private data (e.g. strides), or NULL */
} lb_tensor;

typedef struct lb_file {
    char    *path;
    lb_src  *src;
    uint64_t data_start;           /* start of the tensor data section */
} lb_file;

typedef struct lb_model lb_model;

typedef struct lb_model_ops {
    /* Read n bytes of tensor t's raw (on-disk dtype, little-endian, contiguous C-order)
     * data starting at byte off within the tensor. NULL: plain pread from its file. */
    int  (*read)(lb_model *m, const lb_tensor *t, uint64_t off, void *buf, size_t n, lb_err *err);
    void (*free_priv)(lb_model *m);
    void (*free_tensor)(lb_tensor *t);
} lb_model_ops;

struct lb_model {
    const char *format;            /* "gguf", "safetensors", "safetensors-sharded", ... */
    char       *path;              /* what the user named (file or folder) */
    uint32_t    version;           /* container version where it has one (GGUF: 2/3) */
    uint64_t    alignment;         /* GGUF data alignment (0 if not applicable) */
    lb_kv      *kv;   size_t n_kv, cap_kv;
    lb_tensor  *tensors; size_t n_tensors, cap_tensors;
    lb_file    *files;   size_t n_files;
    const lb_model_ops *ops;
    void       *priv;
};

/* ---- formats ---- */

typedef struct lb_format {
    const char *name;
    /* Confidence 0..100 that the first bytes (head, n <= 4096, file size `size`) are this format. */
    int (*bid)(const uint8_t *head, size_t n, uint64_t size);
    /* Parse src (already opened; the model takes ownership of it on success and failure). */
    int (*open)(lb_model *m, lb_src *src, const char *path, lb_err *err);
} lb_format;

/* The registered formats, strongest first; NULL-terminated. */
extern const lb_format *const lb_formats[];

/* Open a file or an HF-style folder (model.safetensors.index.json, *.safetensors, *.gguf).
 * Unknown content gets a message saying what it is if it can tell (git-LFS pointer,
 * HTML page, text, empty file). */
int  lb_model_open(lb_model **out, const char *path, lb_err *err);
/* Open from memory with one named format ("gguf", "safetensors", NULL = detect): for fuzzers. */
int  lb_model_open_mem(lb_model **out, const void *data, size_t size, const char *format, lb_err *err);
void lb_model_close(lb_model *m);  /* NULL is a no-op */

/* Read n raw bytes of tensor t at byte off (bounds-checked). */
int  lb_tensor_read(lb_model *m, const lb_tensor *t, uint64_t off, void *buf, size_t n, lb_err *err);
const lb_tensor *lb_model_find(const lb_model *m, const char *name);
const lb_kv     *lb_model_kv(const lb_model *m, const char *key);

/* Totals over all tensors. bpw = 8 * bytes / params (0 if no params). */
typedef struct lb_totals { uint64_t tensors, params, bytes; double bpw; } lb_totals;
lb_totals lb_model_totals(const lb_model *m);

/* ---- building models (used by format readers and by converters) ---- */

lb_model *lb_model_new(const char *format, const char *path);
/* Add a file; returns its index or -1 (nomem). Takes ownership of src. */
int  lb_model_add_file(lb_model *m, const char *path, lb_src *src);
/* Append a tensor (name copied); computes nelem/nbytes from type and shape with overflow
 * checks; returns LB_OK or LB_EFORMAT naming the tensor. *out (optional) -> the new tensor. */
int  lb_model_add_tensor(lb_model *m, const char *name, int type, int ndim, const uint64_t *shape,
                         uint64_t offset, int file, lb_tensor **out, lb_err *err);
/* Append a key/value, taking ownership of val's contents. */
int  lb_model_add_kv(lb_model *m, const char *key, lb_value *val, lb_err *err);
int  lb_model_add_str(lb_model *m, const char *key, const char *s, lb_err *err);

/* Shared checks for readers: duplicate names (LB_EFORMAT naming both), and overlapping
 * tensor byte ranges within one file. */
int  lb_model_check_names(lb_model *m, lb_err *err);
int  lb_model_check_overlaps(lb_model *m, lb_err *err);

/* Tell what a non-model file is, from its first bytes: "git-lfs pointer", "HTML page",
 * "text file", "empty file", "PNG image", "zip archive" ... or NULL. */
const char *lb_sniff_nonmodel(const uint8_t *head, size_t n, uint64_t size);

#endif
