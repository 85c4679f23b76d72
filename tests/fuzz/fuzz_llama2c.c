/* fuzz_llama2c.c: libFuzzer target for llama2.c checkpoints and tokenizer.bin: open the
 * input as "llama2c", read the first and last bytes of every tensor; parse it as a
 * tokenizer too. Nothing may crash, leak or read out of bounds. */
#include <stdint.h>
#include <string.h>

#include "lb_llama2c.h"
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
    lb_model *m = NULL;
    lb_err err;
    if (lb_model_open_mem(&m, data, size, "llama2c", &err) == LB_OK) touch(m);
    lb_model_close(m);
    lb_src *s;
    if (lb_src_mem(&s, data, size, "fuzz", NULL) == LB_OK) {
        lb_llama2c_tokenizer *t = NULL;
        lb_llama2c_tokenizer_read(&t, s, 0, NULL);
        lb_llama2c_tokenizer_free(t);
        lb_src_close(s);
    }
    return 0;
}
