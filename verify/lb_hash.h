/* lb_hash.h: SHA-256 through OpenSSL libcrypto (SHA-NI / ARMv8 crypto where the CPU has
 * them), and the one-pass file + per-tensor hashing behind manifests. */
#ifndef LB_HASH_H
#define LB_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "lb_model.h"

#define LB_SHA256_HEX 65   /* 64 hex digits + NUL */

typedef struct lb_sha256 lb_sha256;

lb_sha256 *lb_sha256_new(void);                          /* NULL on out of memory */
void lb_sha256_update(lb_sha256 *h, const void *p, size_t n);
/* Finish into hex (lowercase); the context can be reused after lb_sha256_reset. */
void lb_sha256_final_hex(lb_sha256 *h, char hex[LB_SHA256_HEX]);
void lb_sha256_reset(lb_sha256 *h);
void lb_sha256_free(lb_sha256 *h);                        /* NULL is a no-op */
/* One-shot. */
void lb_sha256_hex(const void *p, size_t n, char hex[LB_SHA256_HEX]);

/* Hash a whole source (e.g. a file) in one sequential pass. */
int lb_sha256_src(lb_src *s, char hex[LB_SHA256_HEX], lb_err *err);

/* One read pass over each of a model's files: the whole-file sha256 of every file and the
 * sha256 of every tensor's raw bytes. file_hex[i] for m->files[i]; tensor_hex[k] for
 * m->tensors[k]. Tensors whose bytes are not a plain range of their file (the format
 * transforms them on read) are hashed from lb_tensor_read in a second pass.
 * Two threads: one hashes the file stream, the other the tensors, so the wall time stays
 * close to a single sha256 pass. progress(done_bytes, ctx) may be NULL. */
int lb_hash_model(lb_model *m, char (*file_hex)[LB_SHA256_HEX], char (*tensor_hex)[LB_SHA256_HEX],
                  void (*progress)(uint64_t done, void *ctx), void *ctx, lb_err *err);

/* The model digest: sha256 over the tensors sorted by name, one line each
 * "name\tdtype\td0,d1,...\tsha256\n" (dtype lowercase, shape outermost first). It depends
 * on the tensors only, not on the container. */
void lb_model_digest(const lb_model *m, char (*tensor_hex)[LB_SHA256_HEX], char out[LB_SHA256_HEX]);

#endif
