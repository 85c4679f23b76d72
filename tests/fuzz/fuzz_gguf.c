/* fuzz_gguf.c: libFuzzer target for the GGUF reader: parse from memory, then read the first
 * bytes (and the last byte) of every tensor, and walk every metadata value. */
#include <stddef.h>
#include <stdint.h>

#include "lb_model.h"

static uint64_t walk(const lb_value *v)
{
    uint64_t h = (uint64_t)v->type * 31 + v->n;
    if (v->type == LB_V_STR && v->n) h += (uint8_t)v->v.s[v->n - 1];
    if (v->type == LB_V_ARR)
        for (uint64_t i = 0; i < v->n; i++) h += walk(&v->v.arr[i]);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_model *m = NULL;
    lb_err err;
    if (lb_model_open_mem(&m, data, size, "gguf", &err) != LB_OK) return 0;
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < m->n_kv; i++) sink += walk(&m->kv[i].val);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        uint8_t buf[64];
        size_t n = t->nbytes < sizeof buf ? (size_t)t->nbytes : sizeof buf;
        if (lb_tensor_read(m, t, 0, buf, n, &err) == LB_OK && n) sink += buf[0];
        if (t->nbytes && lb_tensor_read(m, t, t->nbytes - 1, buf, 1, &err) == LB_OK) sink += buf[0];
    }
    (void)sink;
    lb_model_close(m);
    return 0;
}
