/* lb_numpy.h: NumPy .npy files and .npz archives (zip of .npy), read-only.
 *
 * .npy layout: magic "\x93NUMPY", u8 major (1, 2 or 3), u8 minor (0), header length
 * (u16 for v1, u32 for v2/v3), then that many bytes of a Python dict literal
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ending in '\n', then the array data (exactly what the shape
 * needs: a file with fewer or more bytes is refused).
 *
 * Tensors are always presented little-endian and C-order: big-endian data is byte
 * swapped on read, 2-D Fortran-order data is transposed on read (Fortran order with
 * more than 2 dimensions is refused). Object arrays ('|O', pickles) are refused.
 * A .npy holds one tensor named after the file without ".npy" ("array" when read from
 * memory). A .npz holds one tensor per member, named after the member without ".npy".
 * The model has one file, the archive. Members are streamed through libarchive: a stored
 * member stays in place (its tensor's offset is where the data sits in the archive); a
 * deflated one is decompressed into memory, at most LB_NPZ_MAX_BYTES for all of them,
 * and its tensor's offset is that of the data inside the decompressed member.
 * docs/formats-numpy.md has the details. */
#ifndef LB_NUMPY_H
#define LB_NUMPY_H

#include "lb_model.h"

#define LB_NPY_MAX_HEADER (1u << 20)          /* longer headers are refused */
#define LB_NPZ_MAX_BYTES  (256ull << 20)      /* deflated .npz members held in memory, in all */

extern const lb_format lb_fmt_npy;
extern const lb_format lb_fmt_npz;

int lb_npy_bid(const uint8_t *head, size_t n, uint64_t size);
int lb_npz_bid(const uint8_t *head, size_t n, uint64_t size);
int lb_npy_open(lb_model *m, lb_src *src, const char *path, lb_err *err);
int lb_npz_open(lb_model *m, lb_src *src, const char *path, lb_err *err);

#endif
