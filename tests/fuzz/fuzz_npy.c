/* fuzz_npy.c: libFuzzer target for .npy and .npz: open the input as "npy" and as "npz",
 * read the first and last bytes of every tensor (which exercises byte swapping and the
 * Fortran transpose). Nothing may crash, leak or read out of bounds. */
#include <stdint.h>
#include <string.h>

#include "lb_model.h"

static void touch(lb_model *m)
{
    uint8_t buf[256];
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        size_t n = t->nbytes < sizeof buf ? (size_t)t->nbytes : sizeof buf;
        lb_tensor_read(m, t, 0, buf, n, NULL);
        if (t->nbytes > 7) lb_tensor_read(m, t, t->nbytes - 7, buf, 7, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fmts[] = { "npy", "npz" };
    for (int i = 0; i < 2; i++) {
        lb_model *m = NULL;
        lb_err err;
        if (lb_model_open_mem(&m, data, size, fmts[i], &err) == LB_OK) touch(m);
        lb_model_close(m);
    }
    return 0;
}
