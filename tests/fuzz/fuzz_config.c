/* fuzz_config.c: libFuzzer target for config.json reading (convert/arch.c). Any input must
 * give either an architecture with usable hyperparameters (keys and rope_freqs computed
 * without trouble) or a clean error naming the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_arch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const lb_arch *a = NULL;
    lb_hparams hp;
    lb_err err;
    lb_err_clear(&err);
    if (lb_arch_config_mem(data, size, "config.json", &a, &hp, &err) != LB_OK) {
        if (err.code == LB_OK || !strstr(err.item, "config.json")) abort();   /* says why, names the file */
        return 0;
    }
    if (!a || hp.v[LB_HP_HEAD] <= 0 || hp.v[LB_HP_HEAD_KV] <= 0 || hp.v[LB_HP_HEAD_DIM] <= 0) abort();
    for (int d = LB_D_EMBD; d <= LB_D_CTX; d++) (void)lb_arch_dim(&hp, d);
    lb_kvlist l = { 0 };
    if (lb_arch_kvs(a, &hp, &l, &err) == LB_OK && l.n == 0) abort();
    lb_kvlist_free(&l);
    float *f = NULL;
    size_t n = 0;
    if (lb_arch_rope_freqs(a, &hp, &f, &n, &err) == LB_OK && n && !f) abort();
    free(f);
    return 0;
}
