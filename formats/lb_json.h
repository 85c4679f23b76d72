/* lb_json.h: the one JSON convention every tool's --json output follows.
 *
 *   { "lowbit": 1, "tool": "inspect", ... }
 *   tensor: { "name", "dtype" (lowercase, ggml names: "f32", "q4_K"), "shape" (outermost
 *             first), "offset" (absolute byte offset in its file), "bytes" }
 *   totals: { "tensors", "params", "bytes", "bpw" }   bpw = 8 * bytes / params
 * 64-bit counts and offsets are printed as exact decimal integers (never exponents). */
#ifndef LB_JSON_H
#define LB_JSON_H

#include <cjson/cJSON.h>

#include "lb_model.h"

#define LB_JSON_SCHEMA 1

cJSON *lb_json_doc(const char *tool);                 /* the top-level object */
cJSON *lb_json_tensor(const lb_tensor *t);            /* name, dtype, shape, offset, bytes */
cJSON *lb_json_totals(lb_totals t);
cJSON *lb_json_value(const lb_value *v);              /* metadata value -> JSON */
cJSON *lb_json_u64(uint64_t v);                       /* a number node */
/* Serialize (pretty) with a final newline; malloc'd, NULL on out of memory. */
char  *lb_json_print(const cJSON *doc);

#endif
