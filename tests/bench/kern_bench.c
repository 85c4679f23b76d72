/* kern_bench.c: quantization throughput, lowbit vs ggml_quantize_chunk, one thread each,
 * same rows, same run. MB/s counts f32 input bytes. No pass/fail: a table.
 * Each measurement repeats the whole row set until at least MIN_SECONDS have passed;
 * lowbit and ggml alternate, best of three rounds. LOWBIT_BENCH_KERNELS=a,b limits the
 * table to those kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml.h"

#include "kern_data.h"
#include "lb_metrics.h"
#include "lb_quant.h"
#include "tap.h"

#define MIN_SECONDS 0.12

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct ctx {
    const kd_list *sets;
    const lb_qkernel *k;
    int weighted, use_ggml;
    uint8_t **out;
} ctx;

static void run_once(const ctx *c)
{
    for (int i = 0; i < c->sets->n; i++) {
        const kd_set *s = &c->sets->v[i];
        const float *im = c->weighted ? s->imat : NULL;
        if (c->use_ggml)
            ggml_quantize_chunk((enum ggml_type)c->k->type, s->x, c->out[i], 0, s->nrows, s->ncols, im);
        else
            c->k->quantize(s->x, c->out[i], s->nrows, s->ncols, im);
    }
}

/* Seconds per pass over all sets. */
static double time_pass(const ctx *c)
{
    int reps = 0;
    double t0 = now(), t;
    do { run_once(c); reps++; } while ((t = now() - t0) < MIN_SECONDS);
    return t / reps;
}

static double rmse_of(const ctx *c)
{
    lb_metrics m;
    lb_metrics_init(&m);
    for (int i = 0; i < c->sets->n; i++) {
        const kd_set *s = &c->sets->v[i];
        float *y = malloc((size_t)(s->nrows * s->ncols) * sizeof(float));
        c->k->dequantize(c->out[i], y, s->nrows * s->ncols);
        for (int64_t r = 0; r < s->nrows; r++)
            lb_metrics_add(&m, s->x + r * s->ncols, y + r * s->ncols, c->weighted ? s->imat : NULL, s->ncols);
        free(y);
    }
    lb_metrics_result r = lb_metrics_result_of(&m);
    return sqrt(c->weighted ? r.wmse : r.mse);
}

/* LOWBIT_BENCH_KERNELS=q4_1,q5_1 times only those kernels */
static int wanted(const char *name)
{
    const char *only = getenv("LOWBIT_BENCH_KERNELS");
    if (!only || !*only) return 1;
    size_t n = strlen(name);
    for (const char *p = only; (p = strstr(p, name)); p += n)
        if ((p == only || p[-1] == ',') && (p[n] == ',' || !p[n])) return 1;
    return 0;
}

int main(void)
{
    kd_list sets = { 0 };
    int nreal = kd_real(&sets, tap_shared(), 256);
    if (!nreal) kd_synth_heavy(&sets, 256, 4096, 5);
    int64_t n = 0;
    for (int i = 0; i < sets.n; i++) n += sets.v[i].nrows * sets.v[i].ncols;
    printf("kernel bench: %s, %lld values (%.1f MB of f32) in %d row sets, 1 thread each, ggml %s\n",
           nreal ? "real rows from ../shared/models" : "synthetic Student-t rows", (long long)n, n * 4 / 1e6,
           sets.n, ggml_version());
    printf("%-8s %-4s %12s %12s %8s %13s %13s %s\n", "type", "imat", "lowbit MB/s", "ggml MB/s", "ratio",
           "rmse lowbit", "rmse ggml", "bytes");
    uint8_t **out_l = calloc((size_t)sets.n, sizeof *out_l), **out_g = calloc((size_t)sets.n, sizeof *out_g);
    const lb_qkernel *const *ks;
    size_t nk = lb_qkernel_list(&ks);
    for (size_t t = 0; t < nk; t++) {
        const lb_qkernel *k = ks[t];
        if (!wanted(k->name)) continue;
        for (int i = 0; i < sets.n; i++) {
            size_t nb = lb_quant_row_size(k->type, sets.v[i].ncols) * (size_t)sets.v[i].nrows;
            out_l[i] = realloc(out_l[i], nb);
            out_g[i] = realloc(out_g[i], nb);
        }
        for (int w = 0; w <= k->uses_imatrix; w++) {
            ctx cl = { &sets, k, w, 0, out_l }, cg = { &sets, k, w, 1, out_g };
            double bl = 1e30, bg = 1e30;
            for (int round = 0; round < 3; round++) {
                double a = time_pass(&cl), b = time_pass(&cg);
                if (a < bl) bl = a;
                if (b < bg) bg = b;
            }
            int same = 1;
            for (int i = 0; i < sets.n; i++)
                same &= !memcmp(out_l[i], out_g[i],
                                lb_quant_row_size(k->type, sets.v[i].ncols) * (size_t)sets.v[i].nrows);
            ctx rl = cl, rg = cg;
            rg.out = out_g;
            double el = rmse_of(&rl), eg = rmse_of(&rg);
            double mbl = n * 4 / 1e6 / bl, mbg = n * 4 / 1e6 / bg;
            printf("%-8s %-4s %12.1f %12.1f %8.3f %13.6g %13.6g %s\n", k->name, w ? "yes" : "no", mbl, mbg,
                   mbl / mbg, el, eg, same ? "identical" : "DIFFER");
            fflush(stdout);
        }
    }
    for (int i = 0; i < sets.n; i++) { free(out_l[i]); free(out_g[i]); }
    free(out_l);
    free(out_g);
    kd_free(&sets);
    return 0;
}
