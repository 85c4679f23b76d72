/* fuzz_pickle.c: libFuzzer target for the restricted pickle machine (formats/pickle.c).
 * Runs scan mode over every pickle in the input (like a checkpoint scanner would), then
 * load mode and state-dict extraction, with small limits so a run stays fast. */
#include <stdint.h>
#include <stdlib.h>

#include "lb_pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_pickle_opts o;
    lb_pickle_opts_default(&o);
    o.max_alloc = 64u << 20;
    o.max_ops = 1u << 20;
    lb_err err;
    size_t pos = 0;
    for (int i = 0; i < 8 && pos < size; i++) {
        lb_pickle *p = NULL;
        int rc = lb_pickle_scan(&p, data, size, pos, &o, &err);
        size_t end = p ? (size_t)p->end : size;
        if (p)  /* payloads must lie inside the data or the arena: touch every byte */
            for (size_t k = 0; k < p->n_payloads; k++)
                for (uint64_t j = 0; j < p->payloads[k].n; j++) sink ^= p->payloads[k].p[j];
        lb_pickle_free(p);
        if (rc || end <= pos) break;
        pos = end;
    }
    lb_pickle *p = NULL;
    if (lb_pickle_load(&p, data, size, 0, &o, &err) == LB_OK) {
        lb_pk_tensor *t = NULL;
        size_t n = 0;
        lb_pickle_tensors(p, &t, &n, &err);
        free(t);
        lb_pickle_free(p);
    }
    return 0;
}
