/* fuzz_scan.c: libFuzzer target for `lowbit-verify scan` as a whole (verify/scan*.c): content
 * detection, every lint pass, and the pickle scanner with its nested-payload decoders (hex,
 * base64, latin-1, zlib/gzip/bz2/xz/lzma/zstd, zips and 7z in pickles), over an in-memory file.
 * Findings must be well formed: an id, a severity in range, strings present. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_io.h"
#include "lb_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_src *src;
    lb_err err;
    lb_err_clear(&err);
    if (lb_src_mem(&src, data, size, "fuzz.bin", &err)) return 0;
    lb_scan_file r;
    if (lb_scan_src("fuzz.bin", src, NULL, &r, &err) == LB_OK) {
        for (size_t i = 0; i < r.n; i++)
            if (!r.f[i].id || r.f[i].sev < 0 || r.f[i].sev >= LB_SEV_COUNT || !r.f[i].msg || !r.f[i].item) abort();
        if (r.worst >= LB_SEV_COUNT || !lb_scan_verdict(&r)) abort();
    }
    lb_scan_file_free(&r);
    lb_src_close(src);
    return 0;
}
