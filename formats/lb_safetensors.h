/* lb_safetensors.h: safetensors reader (single files and sharded sets) and writer.
 *
 * File layout: u64 little-endian header length N (<= 100 MB, <= file size), N bytes
 * of JSON object {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
 * ..., "__metadata__": {string: string}}, then the data section; offsets are relative
 * to the byte after the header. */
#ifndef LB_SAFETENSORS_H
#define LB_SAFETENSORS_H

#include "lb_model.h"

#define LB_ST_MAX_HEADER (100u * 1000u * 1000u)

extern const lb_format lb_fmt_safetensors;

int lb_safetensors_bid(const uint8_t *head, size_t n, uint64_t size);
int lb_safetensors_open(lb_model *m, lb_src *src, const char *path, lb_err *err);
/* A sharded set from its model.safetensors.index.json ({"weight_map": {tensor: shard}}):
 * every shard named there must exist and hold the tensors the index maps to it. */
int lb_safetensors_open_index(lb_model *m, const char *index_path, lb_err *err);
/* The same index reading for any shard format: read_shard(m, file, err) adds the tensors of
 * m->files[file] (already opened); the checks and messages are the safetensors ones. */
typedef int (*lb_shard_reader)(lb_model *m, int file, lb_err *err);
int lb_index_open(lb_model *m, const char *index_path, lb_shard_reader read_shard, lb_err *err);

#endif
