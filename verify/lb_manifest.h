/* lb_manifest.h: manifests (what a set of files should be), checks against them, sha256sum
 * lists, and Ed25519 signatures over manifests. Schema: docs/lowbit-verify.md. */
#ifndef LB_MANIFEST_H
#define LB_MANIFEST_H

#include <cjson/cJSON.h>

#include "lb_hash.h"
#include "lb_model.h"

#define LB_MANIFEST_VERSION 1
#define LB_MANIFEST_MAX (256u << 20)   /* largest manifest / SUMS file read */

/* Build a manifest of PATHs (files or folders; folders are walked, every regular file
 * listed). Returns a new cJSON document in the common convention, or NULL with err set
 * (err->item names the file). progress(bytes_done, ctx) may be NULL. */
cJSON *lb_manifest_build(char *const *paths, int n, void (*progress)(uint64_t, void *), void *ctx,
                         lb_err *err);

/* One checked file. tensors: names of tensors whose content differs (NULL-terminated), or NULL. */
typedef struct lb_check_result {
    const char *path;
    int ok;
    const char *reason;        /* NULL when ok */
    const char *const *tensors;
} lb_check_result;

typedef void (*lb_check_cb)(const lb_check_result *r, void *ctx);

/* Check every file a manifest lists (paths relative to dir when not absolute; dir may be
 * NULL for the current folder), then look for files under the manifest's folders that it
 * does not list. Calls cb per file. Returns LB_OK if all passed, LB_ECHECK if any failed,
 * or another code (err set) if the manifest itself is unusable. */
int lb_manifest_check(const cJSON *manifest, const char *dir, lb_check_cb cb, void *ctx, lb_err *err);

/* Check a sha256sum list ("HEX  path" or "HEX *path" per line). Same results and codes. */
int lb_sums_check(const char *text, size_t n, const char *dir, lb_check_cb cb, void *ctx, lb_err *err);

/* Read a whole small file (<= max bytes) into a NUL-terminated buffer. */
int lb_read_small_file(const char *path, size_t max, char **out, size_t *n, lb_err *err);

/* Ed25519 detached signatures over a file's exact bytes. The signature file is text:
 *   lowbit-signature 1 ed25519
 *   key <sha256 of the public key, DER SubjectPublicKeyInfo>
 *   sig <base64 of the 64-byte signature>
 * sign: LB_OK, or LB_EIO/LB_EFORMAT (bad key). verify: LB_OK if valid, LB_ECHECK if the
 * signature does not match, LB_EFORMAT if the signature file or key is malformed. */
int lb_sign_file(const char *key_pem, const char *path, const char *sig_path, int force, lb_err *err);
int lb_verify_sig(const char *pub_pem, const char *path, const char *sig_path, lb_err *err);

#endif
