/* lb_pytorch.h: PyTorch checkpoints (torch.save), read without executing them.
 *
 * Two layouts (docs/formats-pytorch.md):
 *   "pytorch" (torch >= 1.6): a zip holding <name>/data.pkl (the pickled state dict),
 *     <name>/data/<key> (one raw little-endian storage per key), <name>/byteorder,
 *     <name>/version.
 *   "pytorch-legacy" (torch < 1.6): five pickles in a row (magic number 0x1950a86a20f9469cfc6c,
 *     protocol version 1001, sys_info, the object, the list of storage keys), then for each
 *     key in that list: u64 element count + the storage's raw bytes.
 * Pickles run on the restricted machine (lb_pickle.h, load mode): a pickle that imports
 * anything off its allow-list is refused with LB_EFORMAT naming the global.
 *
 * Tensors that are contiguous views of a stored (not deflated) storage are read in place
 * (pread at the storage's offset); others go through a read hook: deflated storages are
 * inflated into memory once (at most LB_PT_MAX_CACHE bytes held at a time), strided views
 * are gathered run by run. Big-endian checkpoints are refused. A corrupt deflated storage is
 * found when it is first read (lb_tensor_read gives LB_EFORMAT), not at open. */
#ifndef LB_PYTORCH_H
#define LB_PYTORCH_H

#include "lb_model.h"

#define LB_PT_MAX_PICKLE (256ull << 20)   /* data.pkl / legacy pickles held in memory */
#define LB_PT_MAX_CACHE  (1ull << 30)     /* inflated or gathered storages held in memory */

extern const lb_format lb_fmt_pytorch;
extern const lb_format lb_fmt_pytorch_legacy;

int lb_pytorch_bid(const uint8_t *head, size_t n, uint64_t size);
int lb_pytorch_legacy_bid(const uint8_t *head, size_t n, uint64_t size);
int lb_pytorch_open(lb_model *m, lb_src *src, const char *path, lb_err *err);
int lb_pytorch_legacy_open(lb_model *m, lb_src *src, const char *path, lb_err *err);
/* A sharded set from pytorch_model.bin.index.json ({"weight_map": {tensor: shard}}); each
 * shard is a zip or legacy checkpoint. Same checks and messages as sharded safetensors. */
int lb_pytorch_open_index(lb_model *m, const char *index_path, lb_err *err);

#endif
