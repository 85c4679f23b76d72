/* lb_gguf.h: GGUF v2/v3 reader and v3 streaming writer.
 *
 * File layout (all little-endian):
 *   1. magic "GGUF", u32 version (2 or 3; v1 and big-endian files are refused)
 *   2. u64 tensor count, u64 metadata kv count
 *   3. kv pairs: string key (u64 len + bytes), u32 value type, value
 *      (arrays: u32 element type, u64 count, elements; arrays may nest)
 *   4. tensor infos: name, u32 n_dims (1..4), u64 ne[n_dims] (innermost first),
 *      u32 ggml type, u64 offset relative to the data section (aligned)
 *   5. padding to general.alignment (default 32), then the data section.
 * The reader reverses ne[] so shapes are outermost first like every other format. */
#ifndef LB_GGUF_H
#define LB_GGUF_H

#include "lb_model.h"

#define LB_GGUF_DEFAULT_ALIGNMENT 32
#define LB_GGUF_MAX_NAME 63            /* ggml's GGML_MAX_NAME - 1 */

extern const lb_format lb_fmt_gguf;

int lb_gguf_bid(const uint8_t *head, size_t n, uint64_t size);
int lb_gguf_open(lb_model *m, lb_src *src, const char *path, lb_err *err);

#endif
