/* registry.c: the formats lowbit reads, strongest magic first. Adding a format is adding
 * a row (and its module). */
#include "lb_archive.h"
#include "lb_gguf.h"
#include "lb_llama2c.h"
#include "lb_model.h"
#include "lb_numpy.h"
#include "lb_safetensors.h"

const lb_format *const lb_formats[] = {
    &lb_fmt_gguf,          /* "GGUF" magic */
    &lb_fmt_safetensors,   /* u64 length + '{' */
    &lb_fmt_npy,           /* "\x93NUMPY" magic */
    &lb_fmt_llama2c,       /* u32 0x616b3432 ("24ka") + version */
    &lb_fmt_npz,           /* zip whose first member is a .npy */
    &lb_fmt_archive,       /* tar/zip/7z/gz/xz/zst/bz2 magic; bids below the formats above
                            * (10 on a zip that looks like .npz or a torch checkpoint) */
    &lb_fmt_llama2c_v0,    /* no magic: a plausible header whose sizes match the file exactly */
    NULL
};
