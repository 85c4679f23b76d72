/* lb_scan.h: `lowbit-verify scan`: find everything wrong with a file, not just the first thing.
 *
 * The strict readers (formats/) stop at the first error. The scan runs format-specific lint
 * passes (verify/scan_*.c) that parse leniently, record every problem as a finding and keep
 * going where they can; where a file also opens with the strict reader, that reader is used
 * for the value checks of --deep. Formats are detected by content, never by file name.
 *
 * A finding: a stable ID (docs/lowbit-verify.md has the table), a severity, a message, the
 * item it is about ("tensor 'x'", "key 'y'", "entry 'z'", or empty) and a byte offset in the
 * file (LB_NO_OFFSET when none is meaningful). Library code never prints: it fills an
 * lb_scan_file and the tool's main prints it.
 *
 * Ownership: an lb_scan_file owns its path, findings and their strings until
 * lb_scan_file_free. */
#ifndef LB_SCAN_H
#define LB_SCAN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "lb_error.h"
#include "lb_io.h"

/* Severities, in increasing order (a file's verdict is its worst finding). */
enum lb_sev {
    LB_SEV_INFO = 0,        /* worth knowing, nothing wrong (a README is not a model) */
    LB_SEV_WARNING = 1,     /* unusual; loaders may cope (a gap in the data section) */
    LB_SEV_ERROR = 2,       /* broken: loaders refuse it or compute garbage (truncated, NaN) */
    LB_SEV_UNSCANNABLE = 3, /* part of it could not be scanned (a limit, an unknown compression):
                             * never clean, since what was not seen may be anything */
    LB_SEV_SUSPICIOUS = 4,  /* not what an honest checkpoint holds (unknown pickle global) */
    LB_SEV_MALICIOUS = 5,   /* loading it can run code, touch files, processes or the network */
    LB_SEV_COUNT
};

/* Deep-check thresholds (docs/lowbit-verify.md). */
#define LB_SCAN_ABSURD 1e4          /* |x| above this in a float weight */
#define LB_SCAN_MAX_FINDINGS 1000   /* per file; more are counted, not kept */
#define LB_SCAN_WORK ((uint64_t)4 << 30)  /* per file: bytes decoded + opcodes run on hidden payloads */

typedef struct lb_finding {
    const char *id;         /* static: "TRUNCATED" */
    int         sev;        /* enum lb_sev */
    char       *item;       /* "tensor 'x'", or "" */
    char       *msg;
    uint64_t    offset;     /* byte offset in the file, or LB_NO_OFFSET */
} lb_finding;

typedef struct lb_scan_file {
    char       *path;
    const char *format;     /* static: "gguf", "safetensors", "pickle", "text", ... */
    lb_finding *f;
    size_t      n, cap;
    size_t      dropped;    /* findings past LB_SCAN_MAX_FINDINGS (still count for the verdict) */
    int         worst;      /* highest severity seen, -1 if none */
    uint64_t    work;       /* scan work left for nested payloads (decoded bytes + opcodes) */
} lb_scan_file;

typedef struct lb_scan_opts {
    int deep;               /* value checks: NaN/Inf, all-zero, constant, absurd magnitudes */
} lb_scan_opts;

/* Scan one regular file. LB_OK with *r filled (a malformed file is findings, not an error),
 * or LB_EIO (err set) if the file cannot be opened or read. Free r with lb_scan_file_free
 * either way. */
int  lb_scan_file_path(const char *path, const lb_scan_opts *o, lb_scan_file *r, lb_err *err);
void lb_scan_file_free(lb_scan_file *r);
/* The same over an open source (not closed); path names it in the report. The strict-reader
 * checks (--deep, llama2c...) reopen path, so give a real path for those. */
int  lb_scan_src(const char *path, lb_src *src, const lb_scan_opts *o, lb_scan_file *r, lb_err *err);

/* Scan PATHs: files, and folders (walked, sorted, hidden entries skipped). cb is called once
 * per file with its report, or with r NULL and ioerr set when a path cannot be read.
 * Returns LB_OK, or LB_EIO if any path could not be read. */
typedef void (*lb_scan_cb)(const char *path, const lb_scan_file *r, const lb_err *ioerr, void *ctx);
int  lb_scan_paths(char *const *paths, int n, const lb_scan_opts *o, lb_scan_cb cb, void *ctx);

const char *lb_sev_name(int sev);                  /* "info", "warning", ... */
/* "clean" when there is no finding of warning or worse, else the worst severity's name. */
const char *lb_scan_verdict(const lb_scan_file *r);

/* ---- for the lint passes (verify/scan_*.c) ---- */

/* Record a finding. item may be NULL; kind + name give "kind 'name'" (lb_scan_addi). */
void lb_scan_add(lb_scan_file *r, const char *id, int sev, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void lb_scan_addi(lb_scan_file *r, const char *id, int sev, const char *kind, const char *name,
                  uint64_t offset, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* 1 if r holds a finding with this id (any severity). */
int  lb_scan_has(const lb_scan_file *r, const char *id);
/* 1 if r holds a finding of at least this severity. */
int  lb_scan_has_sev(const lb_scan_file *r, int sev);

/* Format lint passes. src is open; head holds its first n bytes (n <= 4096). */
void lb_scan_gguf(lb_scan_file *r, lb_src *src);
void lb_scan_safetensors(lb_scan_file *r, lb_src *src, const uint8_t *head, size_t n);
/* A model.safetensors.index.json (text already read): shards present, tensors where it says. */
void lb_scan_st_index(lb_scan_file *r, const char *path, const char *txt, size_t n);
/* --deep: open path with the strict reader and check every float tensor's values. */
void lb_scan_deep(lb_scan_file *r, const char *path);
/* The value checks of one tensor whose raw bytes (on-disk dtype, little-endian) come from
 * rd(ctx, byte offset in the tensor, ...); offset is where they start in the file. */
typedef int (*lb_deep_read)(void *ctx, uint64_t off, void *buf, size_t n, lb_err *err);
void lb_scan_deep_values(lb_scan_file *r, const char *name, int type, int ndim, uint64_t nelem, uint64_t offset,
                         lb_deep_read rd, void *ctx);
/* --deep for a PyTorch zip checkpoint: data.pkl loaded with the allow-list, every float
 * tensor read from its stored storage entry. */
void lb_scan_deep_torch(lb_scan_file *r, lb_src *src);
/* Pickles and their containers (bare pickles, PyTorch zip and legacy files, .npy/.npz,
 * zips, 7z). Returns 1 if it recognised the content (and scanned it), 0 if not. */
int  lb_scan_pickles(lb_scan_file *r, lb_src *src, const uint8_t *head, size_t n);

/* Severity of a pickle global module.name (LB_SEV_INFO allow-listed, LB_SEV_SUSPICIOUS unknown,
 * LB_SEV_MALICIOUS can run code, start processes, load libraries, import by name, touch files
 * or the network); *why is a static phrase for the message. verify/scan_danger.c. */
int  lb_scan_classify(const char *module, const char *name, const char **why);

/* 1 if head looks like a safetensors file (u64 header length, then '{'), lenient about
 * the file size so a truncated file still counts. */
int  lb_scan_is_safetensors(const uint8_t *head, size_t n);

#endif
