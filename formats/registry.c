/* registry.c: the formats lowbit reads, strongest magic first. Adding a format is adding
 * a row (and its module). */
#include "lb_archive.h"
#include "lb_gguf.h"
#include "lb_model.h"
#include "lb_safetensors.h"

const lb_format *const lb_formats[] = {
    &lb_fmt_gguf,          /* "GGUF" magic */
    &lb_fmt_safetensors,   /* u64 length + '{' */
    &lb_fmt_archive,       /* tar/zip/7z/gz/xz/zst magic; bids below the formats above */
    NULL
};
