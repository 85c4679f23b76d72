/* fuzz_spm.c: libFuzzer target for the SentencePiece protobuf parser (convert/spm.c):
 * parse a tokenizer.model from memory into GGUF kvs, then walk every value. */
#include <stddef.h>
#include <stdint.h>

#include "lb_tokenizer.h"

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
    lb_kv *kv = NULL;
    size_t n = 0;
    lb_err err;
    if (lb_tokenizer_spm_mem(data, size, "fuzz.model", &kv, &n, &err) != LB_OK) return 0;
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < n; i++) sink += walk(&kv[i].val);
    (void)sink;
    lb_kv_array_free(kv, n);
    return 0;
}
