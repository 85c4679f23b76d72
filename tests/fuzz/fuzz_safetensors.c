/* fuzz_safetensors.c: libFuzzer target for the safetensors reader. Any input must give
 * either a model whose every tensor reads back (first and last bytes) or a clean error. */
#include <stdint.h>
#include <stdlib.h>

#include "lb_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_model *m = NULL;
    lb_err err;
    if (lb_model_open_mem(&m, data, size, "safetensors", &err) != LB_OK) {
        if (m || err.code == LB_OK) abort();    /* failure must leave no model and say why */
        return 0;
    }
    uint8_t buf[16];
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        size_t n = t->nbytes < sizeof buf ? (size_t)t->nbytes : sizeof buf;
        if (t->offset + t->nbytes > size) abort();   /* validated in bounds */
        if (n && lb_tensor_read(m, t, 0, buf, n, &err) != LB_OK) abort();
        if (n && lb_tensor_read(m, t, t->nbytes - n, buf, n, &err) != LB_OK) abort();
    }
    lb_model_close(m);
    return 0;
}
