/* kern_ggml.c: lowbit's kernels against the real ggml (llama.cpp 0.4.0).
 *
 * For every type lowbit implements, on real rows (../shared/models), heavy-tailed
 * synthetic rows and edge rows, with and without importance weights:
 *   kern-format-<type>   ggml's to_float on lowbit's blocks gives exactly (bitwise) the
 *                        floats of lowbit's dequantizer, and lowbit's dequantizer on
 *                        ggml's blocks gives exactly ggml's floats;
 *   kern-quality-<type>  total RMSE (and importance-weighted RMSE with weights) of lowbit
 *                        <= ggml's * 1.0001 over the real and heavy-tailed rows;
 *   kern-bytes-<type>    lowbit's blocks are byte-identical to ggml_quantize_chunk's.
 * INFO lines give the per-type table. Built and run by tests/interop/kernels.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"

#include "kern_data.h"
#include "lb_dtype.h"
#include "lb_metrics.h"
#include "lb_quant.h"
#include "tap.h"

static int failures;

static void result(int ok, const char *name, const char *why)
{
    if (ok) printf("PASS %s\n", name);
    else { printf("FAIL %s: %s\n", name, why); failures++; }
}

typedef struct tally {
    int64_t rows, rows_same, edge_rows, edge_same;
    int64_t fmt_bad;           /* floats that differ between the two decoders */
    char fmt_first[256];
    lb_metrics lb, gg, lbw, ggw; /* quality rows: plain, and with importance weights */
    lb_metrics real_lb, real_gg;  /* real rows only, plain */
} tally;

/* ggml's to_float, with F32 (no to_float in ggml) as a plain copy. */
static void ggml_decode(enum ggml_type t, const void *src, float *dst, int64_t n)
{
    const struct ggml_type_traits *tr = ggml_get_type_traits(t);
    if (tr->to_float) tr->to_float(src, dst, n);
    else memcpy(dst, src, (size_t)n * sizeof(float));
}

static void compare_decoders(tally *ta, const lb_qkernel *k, const kd_set *s, const uint8_t *blocks,
                             size_t row_bytes, float *a, float *b, const char *whose)
{
    for (int64_t r = 0; r < s->nrows; r++) {
        const uint8_t *q = blocks + (size_t)r * row_bytes;
        k->dequantize(q, a, s->ncols);
        ggml_decode((enum ggml_type)k->type, q, b, s->ncols);
        for (int64_t j = 0; j < s->ncols; j++) {
            if (memcmp(&a[j], &b[j], 4) == 0) continue;
            if (!ta->fmt_bad++)
                snprintf(ta->fmt_first, sizeof ta->fmt_first, "%s blocks of '%s' row %lld col %lld: lowbit %.9g ggml %.9g",
                         whose, s->name, (long long)r, (long long)j, a[j], b[j]);
        }
    }
}

/* One set, one type, one weighting. */
static void run_set(tally *ta, const lb_qkernel *k, const kd_set *s, int weighted)
{
    const size_t row_bytes = lb_quant_row_size(k->type, s->ncols);
    const size_t nbytes = row_bytes * (size_t)s->nrows;
    uint8_t *ql = malloc(nbytes), *qg = malloc(nbytes);
    float *a = malloc((size_t)s->ncols * sizeof(float)), *b = malloc((size_t)s->ncols * sizeof(float));
    const float *im = weighted ? s->imat : NULL;
    size_t wl = 0;
    lb_err err;
    lb_err_clear(&err);
    if (lb_quantize_rows_mt(k->type, s->x, ql, s->nrows, s->ncols, im, 1, &wl, &err) != LB_OK || wl != nbytes) {
        fprintf(stderr, "lowbit quantize %s on '%s': %s\n", k->name, s->name, err.msg);
        exit(2);
    }
    size_t wg = ggml_quantize_chunk((enum ggml_type)k->type, s->x, qg, 0, s->nrows, s->ncols, im);
    if (wg != nbytes) { fprintf(stderr, "ggml wrote %zu bytes, lowbit %zu\n", wg, nbytes); exit(2); }

    for (int64_t r = 0; r < s->nrows; r++) {
        int same = memcmp(ql + (size_t)r * row_bytes, qg + (size_t)r * row_bytes, row_bytes) == 0;
        if (s->quality) { ta->rows++; ta->rows_same += same; }
        else { ta->edge_rows++; ta->edge_same += same; }
    }
    compare_decoders(ta, k, s, ql, row_bytes, a, b, "lowbit");
    compare_decoders(ta, k, s, qg, row_bytes, a, b, "ggml");

    if (s->quality) {
        for (int64_t r = 0; r < s->nrows; r++) {
            const float *x = s->x + r * s->ncols;
            k->dequantize(ql + (size_t)r * row_bytes, a, s->ncols);
            ggml_decode((enum ggml_type)k->type, qg + (size_t)r * row_bytes, b, s->ncols);
            lb_metrics_add(weighted ? &ta->lbw : &ta->lb, x, a, im, s->ncols);
            lb_metrics_add(weighted ? &ta->ggw : &ta->gg, x, b, im, s->ncols);
            if (!weighted && strncmp(s->name, "synth", 5)) {
                lb_metrics_add(&ta->real_lb, x, a, NULL, s->ncols);
                lb_metrics_add(&ta->real_gg, x, b, NULL, s->ncols);
            }
        }
    }
    free(ql); free(qg); free(a); free(b);
}

int main(void)
{
    kd_list sets = { 0 };
    const char *shared = tap_shared(); /* LOWBIT_SHARED, or NULL when ../shared is absent */
    int nreal = kd_real(&sets, shared, 64);
    if (!nreal) printf("SKIP kern-real-rows: ../shared/models not found (LOWBIT_SHARED unset): synthetic rows only\n");
    kd_synth_heavy(&sets, 48, 1024, 7);
    kd_synth_heavy(&sets, 16, 4096, 8);
    kd_synth_heavy(&sets, 8, 96, 9); /* not a multiple of 256: 32-block types only */
    kd_synth_edge(&sets);
    int64_t nvals = 0;
    for (int i = 0; i < sets.n; i++) nvals += sets.v[i].nrows * sets.v[i].ncols;
    printf("INFO kernel interop: %d row sets (%d real files), %lld values; ggml %s\n", sets.n, nreal,
           (long long)nvals, ggml_version());

    const lb_qkernel *const *ks;
    size_t nk = lb_qkernel_list(&ks);
    printf("INFO same/rows: byte-identical rows (each row counted once plain, once with imatrix); rmse over\n"
           "INFO real + heavy-tailed rows; wrmse: importance-weighted, with random positive weights; relrmse:\n"
           "INFO ||W-Q||/||W|| over the real rows only, lowbit and ggml\n");
    printf("INFO %-7s %9s %6s %11s %11s %8s %11s %11s %8s %9s %9s\n", "type", "same/rows", "edge", "rmse lowbit",
           "rmse ggml", "ratio", "wrmse lb", "wrmse ggml", "ratio", "relrmse lb", "ggml");
    for (size_t i = 0; i < nk; i++) {
        const lb_qkernel *k = ks[i];
        tally ta;
        memset(&ta, 0, sizeof ta);
        lb_metrics_init(&ta.lb); lb_metrics_init(&ta.gg); lb_metrics_init(&ta.lbw); lb_metrics_init(&ta.ggw);
        lb_metrics_init(&ta.real_lb); lb_metrics_init(&ta.real_gg);
        for (int w = 0; w < 2; w++)
            for (int si = 0; si < sets.n; si++)
                if (sets.v[si].ncols % k->blck == 0) run_set(&ta, k, &sets.v[si], w);
        lb_metrics_result rl = lb_metrics_result_of(&ta.lb), rg = lb_metrics_result_of(&ta.gg);
        lb_metrics_result wl = lb_metrics_result_of(&ta.lbw), wg = lb_metrics_result_of(&ta.ggw);
        double ratio = rg.rmse > 0 ? rl.rmse / rg.rmse : (rl.rmse == 0 ? 1 : INFINITY);
        double wratio = wg.wmse > 0 ? sqrt(wl.wmse / wg.wmse) : (wl.wmse == 0 ? 1 : INFINITY);
        char e[32];
        snprintf(e, sizeof e, "%lld/%lld", (long long)ta.edge_same, (long long)ta.edge_rows);
        double rr_l = lb_metrics_result_of(&ta.real_lb).rel_rmse, rr_g = lb_metrics_result_of(&ta.real_gg).rel_rmse;
        printf("INFO %-7s %4lld/%-4lld %6s %11.5g %11.5g %8.6f %11.5g %11.5g %8.6f %9.5f %9.5f\n", k->name,
               (long long)ta.rows_same, (long long)ta.rows, e, rl.rmse, rg.rmse, ratio, sqrt(wl.wmse),
               sqrt(wg.wmse), wratio, rr_l, rr_g);
        fflush(stdout);

        char name[64], why[512];
        snprintf(name, sizeof name, "kern-format-%s", k->name);
        snprintf(why, sizeof why, "%lld floats differ; first: %s", (long long)ta.fmt_bad, ta.fmt_first);
        result(ta.fmt_bad == 0, name, why);
        snprintf(name, sizeof name, "kern-quality-%s", k->name);
        snprintf(why, sizeof why, "rmse lowbit %.9g vs ggml %.9g (x%.6f), weighted %.9g vs %.9g (x%.6f)",
                 rl.rmse, rg.rmse, ratio, sqrt(wl.wmse), sqrt(wg.wmse), wratio);
        result(ta.rows > 0 && ratio <= 1.0001 && wratio <= 1.0001, name, why);
        snprintf(name, sizeof name, "kern-bytes-%s", k->name);
        snprintf(why, sizeof why, "%lld of %lld rows differ from ggml_quantize_chunk (edge rows: %lld of %lld)",
                 (long long)(ta.rows - ta.rows_same), (long long)ta.rows,
                 (long long)(ta.edge_rows - ta.edge_same), (long long)ta.edge_rows);
        result(ta.rows_same == ta.rows && ta.edge_same == ta.edge_rows, name, why);
    }
    kd_free(&sets);
    return failures ? 1 : 0;
}
