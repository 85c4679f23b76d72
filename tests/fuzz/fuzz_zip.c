/* fuzz_zip.c: libFuzzer target for the strict zip reader (formats/zip.c): open strictly
 * and leniently, read every entry with a small size cap, random-access stored entries. */
#include <stdint.h>
#include <stdlib.h>

#include "lb_zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int flags = 0; flags < 4; flags += 3) {
        lb_zip *z = NULL;
        lb_err err;
        if (lb_zip_open_mem(&z, data, size, flags, &err) != LB_OK) continue;
        const lb_zip_entry *e = NULL;
        lb_zip_find_suffix(z, "data.pkl", &e, &err);
        for (size_t i = 0; i < lb_zip_count(z) && i < 64; i++) {
            uint8_t *b = NULL, tmp[16];
            size_t n = 0;
            const lb_zip_entry *x = lb_zip_entry_at(z, i);
            lb_zip_read(z, x, 1u << 22, &b, &n, &err);
            free(b);
            if (x->usize >= 16) lb_zip_read_at(z, x, x->usize - 16, tmp, 16, &err);
        }
        lb_zip_close(z);
    }
    return 0;
}
