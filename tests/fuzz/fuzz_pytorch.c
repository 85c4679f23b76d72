/* fuzz_pytorch.c: libFuzzer target for the PyTorch readers (zip and legacy). Any input must
 * give either a model whose every tensor reads back (first and last bytes, and a piece from
 * the middle, which exercises strided gathers) or a clean error. */
#include <stdint.h>
#include <stdlib.h>

#include "lb_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *fmt = size >= 2 && data[0] == 'P' && data[1] == 'K' ? "pytorch" : "pytorch-legacy";
    lb_model *m = NULL;
    lb_err err;
    if (lb_model_open_mem(&m, data, size, fmt, &err) != LB_OK) {
        if (m || err.code == LB_OK) abort();    /* failure must leave no model and say why */
        return 0;
    }
    uint8_t buf[16];
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        size_t n = t->nbytes < sizeof buf ? (size_t)t->nbytes : sizeof buf;
        if (n && lb_tensor_read(m, t, 0, buf, n, &err) != LB_OK) abort();
        if (n && lb_tensor_read(m, t, t->nbytes - n, buf, n, &err) != LB_OK) abort();
        if (n > 3 && lb_tensor_read(m, t, t->nbytes / 2 - 1, buf, 3, &err) != LB_OK) abort();
    }
    lb_model_close(m);
    return 0;
}
