/* fuzz_imatrix.c: libFuzzer target for the importance-matrix reader (GGUF and legacy
 * .dat from memory): load, look every entry up, ask for weights at its own size. */
#include <stddef.h>
#include <stdint.h>

#include "lb_imatrix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_imatrix *im = NULL;
    lb_err err;
    if (lb_imatrix_load_mem(&im, data, size, "fuzz", &err) != LB_OK) return 0;
    volatile float sink = 0;
    for (size_t i = 0; i < im->n; i++) {
        const lb_imatrix_entry *e = lb_imatrix_find(im, im->e[i].name);
        const float *w = NULL;
        if (e && lb_imatrix_weights_for(im, e->name, e->ne0, e->n_mat, &w, &err) == LB_OK && w && e->n)
            sink += w[0] + w[e->n - 1];
    }
    const char *exc[] = { "blk.1" };
    lb_imatrix_filter(im, NULL, 0, exc, 1, NULL, &err);
    lb_imatrix_free(im);
    (void)sink;
    return 0;
}
