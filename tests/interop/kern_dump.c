/* kern_dump.c: digests of quantized bytes for every kernel type, with and without
 * importance weights, for the cross-build determinism check in kernels.sh.
 * Output: "rows <n> values" then one "digest <type> <imatrix 0|1> <fnv64>" per line;
 * a "MT-MISMATCH" line if any thread count (1, 2, 3, 7) gives other bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern_data.h"
#include "lb_quant.h"
#include "tap.h"

int main(void)
{
    kd_list sets = { 0 };
    const char *shared = tap_shared();
    if (shared) {
        char path[1024];
        int maxrows = 16;
        snprintf(path, sizeof path, "%s/models/hf/peft-gpt2-lora/adapter_model.safetensors", shared);
        kd_safetensors(&sets, path, kd_take_rows, &maxrows);
    }
    kd_synth_heavy(&sets, 24, 512, 11);
    kd_synth_edge(&sets);
    int64_t nvals = 0;
    for (int i = 0; i < sets.n; i++) nvals += sets.v[i].nrows * sets.v[i].ncols;
    printf("rows %lld values in %d sets\n", (long long)nvals, sets.n);

    const lb_qkernel *const *ks;
    size_t nk = lb_qkernel_list(&ks);
    static const int threads[] = { 1, 2, 3, 7 };
    for (size_t i = 0; i < nk; i++) {
        for (int w = 0; w < 2; w++) {
            uint64_t h = KD_FNV_INIT;
            for (int si = 0; si < sets.n; si++) {
                const kd_set *s = &sets.v[si];
                if (s->ncols % ks[i]->blck) continue;
                size_t nb = lb_quant_row_size(ks[i]->type, s->ncols) * (size_t)s->nrows;
                uint8_t *ref = malloc(nb), *q = malloc(nb);
                for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
                    lb_err e;
                    if (lb_quantize_rows_mt(ks[i]->type, s->x, t ? q : ref, s->nrows, s->ncols,
                                            w ? s->imat : NULL, threads[t], NULL, &e) != LB_OK) {
                        printf("ERROR %s: %s\n", ks[i]->name, e.msg);
                        return 1;
                    }
                    if (t && memcmp(ref, q, nb))
                        printf("MT-MISMATCH %s imatrix=%d set '%s' threads=%d\n", ks[i]->name, w, s->name,
                               threads[t]);
                }
                h = kd_fnv(h, ref, nb);
                free(ref);
                free(q);
            }
            printf("digest %s %d %016llx\n", ks[i]->name, w, (unsigned long long)h);
        }
    }
    kd_free(&sets);
    return 0;
}
