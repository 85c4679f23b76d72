/* fuzz_archive.c: libFuzzer target for formats/archive.c: any bytes opened as an archive
 * (tar/zip/7z/compressed) from memory, with small caps so a bomb cannot stall the run;
 * every tensor of a model that opens is read through. */
#include <stdint.h>
#include <stdlib.h>

#include "lb_archive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_err e;
    lb_src *src;
    if (lb_src_mem(&src, data, size, "<fuzz>", &e)) return 0;
    lb_model *m = lb_model_new("archive", "<fuzz>");
    if (!m) { lb_src_close(src); return 0; }
    lb_archive_limits lim = lb_archive_default_limits();
    lim.max_temp_bytes = 4u << 20;
    lim.max_mem_entry = 1u << 20;
    lim.max_entries = 4096;
    if (lb_archive_open_with(m, src, "<fuzz>", &lim, NULL, &e) == LB_OK) {
        static uint8_t buf[65536];
        uint64_t budget = 8u << 20;
        for (size_t i = 0; i < m->n_tensors && budget; i++) {
            const lb_tensor *t = &m->tensors[i];
            for (uint64_t off = 0; off < t->nbytes && budget; off += sizeof buf) {
                size_t n = t->nbytes - off < sizeof buf ? (size_t)(t->nbytes - off) : sizeof buf;
                if (lb_tensor_read(m, t, off, buf, n, &e)) break;
                budget = budget > n ? budget - n : 0;
            }
        }
    }
    lb_model_close(m);
    return 0;
}
