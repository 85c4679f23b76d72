/* fuzz_zip.c: libFuzzer target for the zip reader (formats/zip.c): open strictly, with the
 * two allow flags and in the scanner's lenient mode (plus raw reads); read every entry with a
 * small size cap, random-access stored entries. */
#include <stdint.h>
#include <stdlib.h>

#include "lb_zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int modes[] = { 0, LB_ZIP_ALLOW_ENCRYPTED_FLAG | LB_ZIP_ALLOW_NAME_MISMATCH, LB_ZIP_LENIENT };
    for (int m = 0; m < 3; m++) {
        int flags = modes[m];
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
            b = NULL;
            if (flags & LB_ZIP_LENIENT) {
                lb_zip_read_raw(z, x, 1u << 22, &b, &n, &err);
                free(b);
            }
            if (x->usize >= 16) lb_zip_read_at(z, x, x->usize - 16, tmp, 16, &err);
            if (x->csize >= 16) lb_zip_read_raw_at(z, x, x->csize - 16, tmp, 16, &err);
        }
        lb_zip_close(z);
    }
    return 0;
}
