/* fuzz_pytorch.c: libFuzzer target for the PyTorch readers (zip and legacy). Any input must
 * give either a model whose every tensor reads back (first and last bytes, and a piece from
 * the middle, which exercises strided gathers) or a clean error. Deflated storages are
 * inflated (and CRC-checked) on first read, so a read may fail, cleanly, with LB_EFORMAT. */
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
#define READ(off, n) do { int rc_ = lb_tensor_read(m, t, (off), buf, (n), &err); \
        if (rc_ != LB_OK && (rc_ != LB_EFORMAT || !err.msg[0])) abort(); } while (0)
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        size_t n = t->nbytes < sizeof buf ? (size_t)t->nbytes : sizeof buf;
        if (n) READ(0, n);
        if (n) READ(t->nbytes - n, n);
        if (n > 3) READ(t->nbytes / 2 - 1, 3);
    }
    lb_model_close(m);
    return 0;
}
