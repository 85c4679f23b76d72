/* kquant_vs_ggml.c: lowbit's k-quant kernels against the real ggml (llama.cpp 0.4.0).
 *
 * Built and run by tests/interop/kquants.sh, linked with libggml-base.so. For each of
 * q2_K..q6_K it checks, on real rows from ../shared/models and on synthetic rows:
 *   format_T      ggml's to_float on lowbit's blocks == lowbit's dequantizer, bit for bit
 *                 (also on random blocks)
 *   quality_T     lowbit's total RMSE <= ggml's * 1.0001 (also per data set), no imatrix
 *   imatrix_T     the same for the importance-weighted RMSE with an imatrix
 *   chunking_T    one row per call (and a later chunk of rows) gives the same bytes as
 *                 all rows in one call
 *   identical_T   every block equals ggml_quantize_chunk's, byte for byte
 * and prints INFO lines with block counts, byte-identical blocks and RMSEs.
 * `--digest` instead prints a hash of lowbit's bytes per type (the driver compares an
 * -O0 and an -O2 build of the library with it). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "lb_kquants.h"
#include "lb_le.h"

#define QK 256

typedef size_t (*quant_fn)(const float *, void *, int64_t, int64_t, const float *);
typedef void (*dequant_fn)(const void *, float *, int64_t);

typedef struct {
    const char *name;
    enum ggml_type gt;
    size_t bs;
    quant_fn q;
    dequant_fn dq;
} ktype;

static const ktype types[] = {
    {"q2_K", GGML_TYPE_Q2_K, LB_Q2_K_BLOCK, lb_quantize_q2_K, lb_dequantize_q2_K},
    {"q3_K", GGML_TYPE_Q3_K, LB_Q3_K_BLOCK, lb_quantize_q3_K, lb_dequantize_q3_K},
    {"q4_K", GGML_TYPE_Q4_K, LB_Q4_K_BLOCK, lb_quantize_q4_K, lb_dequantize_q4_K},
    {"q5_K", GGML_TYPE_Q5_K, LB_Q5_K_BLOCK, lb_quantize_q5_K, lb_dequantize_q5_K},
    {"q6_K", GGML_TYPE_Q6_K, LB_Q6_K_BLOCK, lb_quantize_q6_K, lb_dequantize_q6_K},
};
#define NTYPES (int)(sizeof types / sizeof types[0])

/* ---- data sets ----------------------------------------------------------------- */

typedef struct {
    char name[80];
    float *x;        /* nrows x ncols */
    int64_t nrows, ncols;
    float *imat;     /* ncols importance weights */
    int edge;        /* 1: synthetic edge rows (format/identity only, not in the RMSE totals);
                        2: real imatrix set (imatrix checks only) */
    int synth;       /* synthetic rows (reported apart from real ones) */
} dset;

static dset sets[64];
static int nsets;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_unif(void) { return ((rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
static double rng_normal(void) { return sqrt(-2 * log(rng_unif())) * cos(6.283185307179586 * rng_unif()); }

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) { printf("FAIL kquants: out of memory\n"); exit(1); }
    return p;
}

static dset *add_set(const char *name, int64_t nrows, int64_t ncols)
{
    if (nsets == 64) return NULL;
    dset *s = &sets[nsets++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->nrows = nrows;
    s->ncols = ncols;
    s->x = xmalloc((size_t)(nrows * ncols) * sizeof(float));
    return s;
}

/* Random positive importance weights: log-normal, a few exact zeros. */
static float *random_imatrix(int64_t n)
{
    float *w = xmalloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) w[i] = rng_unif() < 0.01 ? 0.f : (float)exp(1.5 * rng_normal());
    return w;
}

/* ---- tiny safetensors reader: u64 LE header length, JSON header, raw data ---------- */

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = n > 0 ? xmalloc((size_t)n) : NULL;
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(b); return NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

typedef struct {
    char name[160];
    int64_t shape[4];
    int ndim;
    float *data;
    int64_t count;
} tensor;

/* Parse `"key": [n, n, ...]` inside [obj, end); returns the count of numbers. */
static int json_ints(const char *obj, const char *end, const char *key, int64_t *out, int max)
{
    const char *p = strstr(obj, key);
    if (!p || p >= end) return -1;
    p = strchr(p, '[');
    if (!p || p >= end) return -1;
    int n = 0;
    p++;
    while (p < end && *p != ']') {
        char *e;
        long long v = strtoll(p, &e, 10);
        if (e == p) { p++; continue; }
        if (n < max) out[n] = v;
        n++;
        p = e;
    }
    return n;
}

/* All F32 tensors of a safetensors file (in header order), data copied out. */
static int st_load(const char *path, tensor **out)
{
    size_t len;
    uint8_t *b = read_file(path, &len);
    if (!b || len < 8) { free(b); return -1; }
    uint64_t hl = lb_ld64(b);
    if (hl > len - 8) { free(b); return -1; }
    char *h = xmalloc(hl + 1);
    memcpy(h, b + 8, hl);
    h[hl] = 0;
    const uint8_t *data = b + 8 + hl;
    size_t dlen = len - 8 - hl;
    int cap = 64, n = 0;
    tensor *ts = xmalloc((size_t)cap * sizeof *ts);
    /* Walk the top-level object: each "name": { ... } entry. */
    const char *p = h;
    int depth = 0;
    const char *key = NULL, *keyend = NULL;
    for (; *p; p++) {
        if (*p == '"') {
            const char *s = ++p;
            while (*p && *p != '"') { if (*p == '\\' && p[1]) p++; p++; }
            if (depth == 1) { key = s; keyend = p; }
            if (!*p) break;
            continue;
        }
        if (*p == '{') {
            depth++;
            if (depth == 2 && key) {
                const char *obj = p, *end = strchr(p, '}');
                if (!end) break;
                const char *dt = strstr(obj, "\"dtype\"");
                if (dt && dt < end && strstr(dt, "\"F32\"") && strstr(dt, "\"F32\"") < end) {
                    tensor t;
                    memset(&t, 0, sizeof t);
                    size_t kl = (size_t)(keyend - key);
                    if (kl >= sizeof t.name) kl = sizeof t.name - 1;
                    memcpy(t.name, key, kl);
                    int64_t off[2];
                    t.ndim = json_ints(obj, end, "\"shape\"", t.shape, 4);
                    if (t.ndim >= 0 && t.ndim <= 4 && json_ints(obj, end, "\"data_offsets\"", off, 2) == 2 &&
                        off[0] >= 0 && off[0] <= off[1] && (uint64_t)off[1] <= dlen && (off[1] - off[0]) % 4 == 0) {
                        t.count = (off[1] - off[0]) / 4;
                        t.data = xmalloc((size_t)t.count * sizeof(float));
                        for (int64_t i = 0; i < t.count; i++) t.data[i] = lb_ldf32(data + off[0] + 4 * i);
                        if (n == cap) { cap *= 2; ts = realloc(ts, (size_t)cap * sizeof *ts); if (!ts) exit(1); }
                        ts[n++] = t;
                    }
                }
                p = end;
                depth--;
                key = NULL;
            }
            continue;
        }
        if (*p == '}') depth--;
    }
    free(h);
    free(b);
    *out = ts;
    return n;
}

static void free_tensors(tensor *ts, int n)
{
    for (int i = 0; i < n; i++) free(ts[i].data);
    free(ts);
}

/* Concatenate the selected tensors and cut into rows of `width` (remainder dropped). */
static void flatten_set(const char *name, tensor *ts, int n, int64_t width, int min_ndim, int with_imat)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++) if (ts[i].ndim >= min_ndim) total += ts[i].count;
    int64_t rows = total / width;
    if (rows == 0) return;
    dset *s = add_set(name, rows, width);
    if (!s) return;
    int64_t k = 0;
    for (int i = 0; i < n && k < rows * width; i++) {
        if (ts[i].ndim < min_ndim) continue;
        for (int64_t j = 0; j < ts[i].count && k < rows * width; j++) s->x[k++] = ts[i].data[j];
    }
    if (with_imat) s->imat = random_imatrix(width);
}

/* Legacy llama.cpp imatrix (.dat): i32 count; per entry i32 name length, name,
 * i32 ncall, i32 nval, f32[nval]. Returns the values for `want`, or NULL. */
static float *imatrix_lookup(const uint8_t *b, size_t len, const char *want, int *nval)
{
    if (len < 4) return NULL;
    int32_t cnt = (int32_t)lb_ld32(b);
    size_t o = 4;
    for (int32_t e = 0; e < cnt; e++) {
        if (o + 4 > len) return NULL;
        uint32_t nl = lb_ld32(b + o); o += 4;
        if (nl > len - o) return NULL;
        const char *nm = (const char *)b + o; o += nl;
        if (o + 8 > len) return NULL;
        uint32_t nv = lb_ld32(b + o + 4); o += 8;
        if ((uint64_t)nv * 4 > len - o) return NULL;
        if (strlen(want) == nl && memcmp(nm, want, nl) == 0) {
            float *v = xmalloc((size_t)nv * sizeof(float));
            for (uint32_t i = 0; i < nv; i++) v[i] = lb_ldf32(b + o + 4 * i);
            *nval = (int)nv;
            return v;
        }
        o += (size_t)nv * 4;
    }
    return NULL;
}

static int load_real(const char *shared)
{
    char path[1024];
    tensor *ts;
    int n, got = 0;

    /* tiny-llama-trained: every matrix row is 256 or 768 wide; keep the real rows, every
     * second one of each matrix (half the work, all 30 matrices still covered). */
    snprintf(path, sizeof path, "%s/models/hf/tiny-llama-trained/model.safetensors", shared);
    if ((n = st_load(path, &ts)) > 0) {
        for (int64_t width = 256; width <= 768; width += 512) {
            int64_t rows = 0;
            for (int i = 0; i < n; i++) if (ts[i].ndim == 2 && ts[i].shape[1] == width) rows += (ts[i].shape[0] + 1) / 2;
            char nm[64];
            snprintf(nm, sizeof nm, "tiny-llama-%d", (int)width);
            dset *s = add_set(nm, rows, width);
            int64_t k = 0;
            for (int i = 0; i < n; i++)
                if (ts[i].ndim == 2 && ts[i].shape[1] == width)
                    for (int64_t r = 0; r < ts[i].shape[0]; r += 2, k += width)
                        memcpy(s->x + k, ts[i].data + r * width, (size_t)width * sizeof(float));
            s->imat = random_imatrix(width);
        }
        free_tensors(ts, n);
        got++;
    }
    snprintf(path, sizeof path, "%s/models/hf/mlx-lora-discollama/adapters.safetensors", shared);
    if ((n = st_load(path, &ts)) > 0) { flatten_set("discollama-4096", ts, n, 4096, 1, 1); free_tensors(ts, n); got++; }
    snprintf(path, sizeof path, "%s/models/hf/peft-gpt2-lora/adapter_model.safetensors", shared);
    if ((n = st_load(path, &ts)) > 0) { flatten_set("gpt2-lora-768", ts, n, 768, 1, 1); free_tensors(ts, n); got++; }

    /* stories260K: all matrices flattened into 256-wide rows (random imatrix), and the
     * 64-column matrices once more with the real imatrix tiled 4x (4 rows of 64 = 256). */
    snprintf(path, sizeof path, "%s/models/hf/stories260K-llama/model.safetensors", shared);
    if ((n = st_load(path, &ts)) > 0) {
        flatten_set("stories260K-256", ts, n, 256, 2, 1);
        size_t ilen;
        snprintf(path, sizeof path, "%s/models/imatrix/stories260K-imatrix.dat", shared);
        uint8_t *ib = read_file(path, &ilen);
        static const char *hf[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                   "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj"};
        static const char *gg[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up"};
        for (int i = 0; ib && i < n; i++) {
            int layer, m;
            char rest[96];
            if (ts[i].ndim != 2 || ts[i].shape[1] != 64) continue;
            if (sscanf(ts[i].name, "model.layers.%d.%95[a-z_.]", &layer, rest) != 2) continue;
            for (m = 0; m < 6; m++) {
                size_t hl = strlen(hf[m]);
                if (strncmp(rest, hf[m], hl) == 0 && strcmp(rest + hl, ".weight") == 0) break;
            }
            if (m == 6) continue;
            char want[64];
            int nv = 0;
            snprintf(want, sizeof want, "blk.%d.%s.weight", layer, gg[m]);
            float *v = imatrix_lookup(ib, ilen, want, &nv);
            if (!v || nv != 64 || ts[i].count % 256) { free(v); continue; }
            char nm[80];
            snprintf(nm, sizeof nm, "stories260K-%s", want);
            dset *s = add_set(nm, ts[i].count / 256, 256);
            if (!s) { free(v); continue; }
            memcpy(s->x, ts[i].data, (size_t)ts[i].count * sizeof(float));
            s->imat = xmalloc(256 * sizeof(float));
            for (int c = 0; c < 256; c++) s->imat[c] = v[c % 64];
            s->edge = 2; /* real imatrix set: counted in the imatrix totals only */
            free(v);
        }
        free(ib);
        free_tensors(ts, n);
        got++;
    }
    return got;
}

/* Heavy-tailed rows (Student-t, per-row scales spread over 1e-3..1e1) and edge rows. */
static void make_synthetic(void)
{
    for (int variant = 0; variant < 2; variant++) {
        int nu = variant ? 2 : 5; /* degrees of freedom: 2 has infinite variance */
        dset *s = add_set(variant ? "student-t2-4096" : "student-t5-4096", 24, 4096);
        for (int64_t r = 0; r < s->nrows; r++) {
            double scale = pow(10.0, -3.0 + 4.0 * rng_unif());
            for (int64_t c = 0; c < s->ncols; c++) {
                double chi = 0; /* chi-square with nu degrees of freedom */
                for (int k = 0; k < nu; k++) { double z = rng_normal(); chi += z * z; }
                s->x[r * s->ncols + c] = (float)(scale * rng_normal() / sqrt(chi / nu));
            }
        }
        s->imat = random_imatrix(s->ncols);
        s->synth = 1;
    }
    dset *e = add_set("edge", 14, 256);
    for (int64_t r = 0; r < e->nrows; r++) {
        float *x = e->x + r * 256;
        for (int c = 0; c < 256; c++) {
            float g = (float)rng_normal(), v;
            switch (r) {
            case 0: v = 0.f; break;                                    /* all zero */
            case 1: v = 0.37f; break;                                  /* constant */
            case 2: v = -2.5f; break;                                  /* negative constant */
            case 3: v = c == 77 ? 1000.f : 0.02f * g; break;           /* one huge outlier */
            case 4: v = c == 200 ? -65504.f : 0.5f * g; break;         /* fp16-max outlier */
            case 5: v = (c & 1) ? 65504.f : -65504.f; break;           /* +-65504 */
            case 6: v = 65504.f * (float)(2 * rng_unif() - 1); break;  /* uniform in +-65504 */
            case 7: v = 1e-39f * g; break;                             /* f32 denormals */
            case 8: v = c % 3 ? 1e-40f * g : 0.f; break;               /* sparse denormals */
            case 9: v = 3e-7f * g; break;                              /* fp16-subnormal scales */
            case 10: v = 1e-20f * g; break;                            /* scales flush to 0 in fp16 */
            case 11: v = c < 128 ? 0.f : g; break;                     /* half zero */
            case 12: v = fabsf(g) + 5.f; break;                        /* all positive, offset */
            default: v = -fabsf(g) - 5.f; break;                       /* all negative */
            }
            x[c] = v;
        }
    }
    e->imat = random_imatrix(256);
    e->edge = 1;
    e->synth = 1;
}

/* ---- checks ------------------------------------------------------------------------ */

typedef struct {
    int64_t blocks, same, deq_bad;
    double err_lb, err_gg, n;
} tally;

static void add_tally(tally *d, const tally *s)
{
    d->blocks += s->blocks; d->same += s->same; d->deq_bad += s->deq_bad;
    d->err_lb += s->err_lb; d->err_gg += s->err_gg; d->n += s->n;
}

static void info_line(const char *type, const char *what, const tally *t)
{
    if (!t->blocks) return;
    printf("INFO %-5s %-17s %7lld %7lld %7.2f%%", type, what, (long long)t->blocks, (long long)t->same,
           100.0 * (double)t->same / (double)t->blocks);
    if (t->n > 0)
        printf("  %12.6g %12.6g %9.6f\n", sqrt(t->err_lb / t->n), sqrt(t->err_gg / t->n),
               t->err_gg > 0 ? sqrt(t->err_lb / t->err_gg) : 1.0);
    else
        printf("  %12s %12s %9s\n", "-", "-", "-");
}

static int set_used(const dset *s, int weighted) { return weighted ? s->imat != NULL : s->edge != 2; }

/* Quantize set s with lowbit and ggml, compare bytes, dequantizers and errors. */
static int run_set(const ktype *t, const dset *s, int weighted, tally *tl, double *set_lb, double *set_gg, char *why, size_t whylen)
{
    const float *im = weighted ? s->imat : NULL;
    int64_t n = s->nrows * s->ncols, nb = n / QK;
    size_t bytes = (size_t)nb * t->bs;
    uint8_t *ql = xmalloc(bytes), *qg = xmalloc(bytes), *q1 = xmalloc(bytes);
    float *yl = xmalloc((size_t)n * sizeof(float)), *yg = xmalloc((size_t)n * sizeof(float));
    float *yr = xmalloc((size_t)n * sizeof(float));
    int bad = 0;
    size_t w1 = t->q(s->x, ql, s->nrows, s->ncols, im);
    size_t w2 = ggml_quantize_chunk(t->gt, s->x, qg, 0, s->nrows, s->ncols, im);
    if (w1 != bytes || w2 != bytes) { snprintf(why, whylen, "%.80s: wrote %zu bytes, ggml %zu, want %zu", s->name, w1, w2, bytes); bad = 1; }
    for (int64_t b = 0; b < nb; b++) tl->same += memcmp(ql + b * t->bs, qg + b * t->bs, t->bs) == 0;
    tl->blocks += nb;
    /* format: ggml's dequantizer on lowbit's bytes == lowbit's, bitwise */
    const struct ggml_type_traits *tr = ggml_get_type_traits(t->gt);
    tr->to_float(ql, yr, n);
    t->dq(ql, yl, n);
    if (memcmp(yl, yr, (size_t)n * sizeof(float)) != 0) {
        tl->deq_bad++;
        if (!bad) snprintf(why, whylen, "%.80s: dequantizers disagree", s->name);
        bad = 1;
    }
    tr->to_float(qg, yg, n);
    double el = 0, eg = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = im ? im[i % s->ncols] : 1.0;
        double dl = (double)s->x[i] - yl[i], dg = (double)s->x[i] - yg[i];
        el += w * dl * dl;
        eg += w * dg * dg;
    }
    *set_lb = el;
    *set_gg = eg;
    if (!s->edge || s->edge == 2) { tl->err_lb += el; tl->err_gg += eg; tl->n += (double)n; }
    /* chunking: one row per call (the first 64 rows), then the rest in one call */
    size_t rb = bytes / (size_t)s->nrows;
    int64_t single = s->nrows < 64 ? s->nrows : 64;
    for (int64_t r = 0; r < single; r++) t->q(s->x + r * s->ncols, q1 + r * rb, 1, s->ncols, im);
    if (single < s->nrows) t->q(s->x + single * s->ncols, q1 + single * rb, s->nrows - single, s->ncols, im);
    if (memcmp(q1, ql, bytes) != 0) bad |= 2;
    free(ql); free(qg); free(q1); free(yl); free(yg); free(yr);
    return bad;
}

/* Random bytes as blocks (fp16 fields forced finite): both dequantizers must agree. */
static int random_blocks(const ktype *t)
{
    enum { NB = 256 };
    uint8_t *b = xmalloc(NB * t->bs);
    float *y1 = xmalloc(NB * QK * sizeof(float)), *y2 = xmalloc(NB * QK * sizeof(float));
    for (size_t i = 0; i < NB * t->bs; i++) b[i] = (uint8_t)rng_next();
    size_t d_off = t->gt == GGML_TYPE_Q2_K ? 80 : t->gt == GGML_TYPE_Q3_K ? 108 : t->gt == GGML_TYPE_Q6_K ? 208 : 0;
    int nfp = (t->gt == GGML_TYPE_Q3_K || t->gt == GGML_TYPE_Q6_K) ? 1 : 2;
    for (int k = 0; k < NB; k++)
        for (int f = 0; f < nfp; f++) {
            uint8_t *p = b + (size_t)k * t->bs + d_off + 2 * f;
            uint16_t h = lb_ld16(p);
            if ((h & 0x7c00) == 0x7c00) h &= 0xbfff; /* Inf/NaN exponent -> finite */
            lb_st16(p, h);
        }
    ggml_get_type_traits(t->gt)->to_float(b, y1, NB * QK);
    t->dq(b, y2, NB * QK);
    int ok = memcmp(y1, y2, NB * QK * sizeof(float)) == 0;
    free(b); free(y1); free(y2);
    return ok;
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Hash of lowbit's bytes per type, plain and with imatrix, over the first quarter of the
 * rows of every set (keeps the -O0 run short). */
static int digest(void)
{
    for (int ti = 0; ti < NTYPES; ti++) {
        const ktype *t = &types[ti];
        for (int weighted = 0; weighted < 2; weighted++) {
            uint64_t h = 0xcbf29ce484222325ull;
            int64_t blocks = 0;
            for (int si = 0; si < nsets; si++) {
                const dset *s = &sets[si];
                if (!set_used(s, weighted)) continue;
                int64_t rows = s->nrows > 4 ? s->nrows / 4 : s->nrows;
                int64_t nb = rows * s->ncols / QK;
                uint8_t *q = xmalloc((size_t)nb * t->bs);
                t->q(s->x, q, rows, s->ncols, weighted ? s->imat : NULL);
                h = fnv(h, q, (size_t)nb * t->bs);
                blocks += nb;
                free(q);
            }
            printf("%s %s %lld %016llx\n", t->name, weighted ? "imatrix" : "plain", (long long)blocks, (unsigned long long)h);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int want_digest = argc > 1 && strcmp(argv[1], "--digest") == 0;
    const char *shared = getenv("LOWBIT_SHARED");
    char rm[1200];
    FILE *f = NULL;
    if (shared && *shared) {
        snprintf(rm, sizeof rm, "%s/models/README.md", shared);
        f = fopen(rm, "r");
    }
    if (f) {
        fclose(f);
        load_real(shared);
    } else if (!want_digest) {
        printf("SKIP kquant_real_rows: ../shared not found (LOWBIT_SHARED); synthetic rows only\n");
    }
    make_synthetic();
    if (want_digest) return digest();

    int failed = 0;
    for (int ti = 0; ti < NTYPES; ti++) {
        const ktype *t = &types[ti];
        tally tl[2], grp[2][2];
        char why_fmt[300] = "", why_q[2][300] = {"", ""}, why_chunk[300] = "";
        int fmt_bad = 0, chunk_bad = 0, set_worse[2] = {0, 0};
        memset(tl, 0, sizeof tl);
        memset(grp, 0, sizeof grp);
        for (int weighted = 0; weighted < 2; weighted++)
            for (int si = 0; si < nsets; si++) {
                const dset *s = &sets[si];
                if (!set_used(s, weighted)) continue;
                double el, eg;
                char why[300] = "";
                tally one;
                memset(&one, 0, sizeof one);
                int r = run_set(t, s, weighted, &one, &el, &eg, why, sizeof why);
                add_tally(&tl[weighted], &one);
                add_tally(&grp[weighted][s->synth], &one);
                if (r & 1) { if (!fmt_bad) snprintf(why_fmt, sizeof why_fmt, "%s%s", weighted ? "imatrix " : "", why); fmt_bad = 1; }
                if (r & 2) { if (!chunk_bad) snprintf(why_chunk, sizeof why_chunk, "%s%.80s: row-by-row bytes differ", weighted ? "imatrix " : "", s->name); chunk_bad = 1; }
                if (el > eg * 1.0002 + 1e-30) { /* squared error: RMSE ratio 1.0001 */
                    if (!set_worse[weighted])
                        snprintf(why_q[weighted], sizeof why_q[weighted], "%.80s: rmse %.6g > ggml %.6g * 1.0001",
                                 s->name, sqrt(el / (double)(s->nrows * s->ncols)), sqrt(eg / (double)(s->nrows * s->ncols)));
                    set_worse[weighted] = 1;
                }
            }
        if (!random_blocks(t)) { if (!fmt_bad) snprintf(why_fmt, sizeof why_fmt, "random blocks: dequantizers disagree"); fmt_bad = 1; }

        if (fmt_bad) printf("FAIL format_%s: %s\n", t->name, why_fmt); else printf("PASS format_%s\n", t->name);
        for (int weighted = 0; weighted < 2; weighted++) {
            double rl = sqrt(tl[weighted].err_lb / tl[weighted].n), rg = sqrt(tl[weighted].err_gg / tl[weighted].n);
            const char *nm = weighted ? "imatrix" : "quality";
            if (!(rl <= rg * 1.0001)) printf("FAIL %s_%s: total rmse %.6g > ggml %.6g * 1.0001\n", nm, t->name, rl, rg), failed++;
            else if (set_worse[weighted]) printf("FAIL %s_%s: %s\n", nm, t->name, why_q[weighted]), failed++;
            else printf("PASS %s_%s\n", nm, t->name);
        }
        if (chunk_bad) printf("FAIL chunking_%s: %s\n", t->name, why_chunk); else printf("PASS chunking_%s\n", t->name);
        /* The goal is ggml's exact bytes (same float operation order, no FMA on either side). */
        int64_t nblk = tl[0].blocks + tl[1].blocks, nsame = tl[0].same + tl[1].same;
        if (nsame != nblk) printf("FAIL identical_%s: %lld of %lld blocks differ from ggml_quantize_chunk\n", t->name, (long long)(nblk - nsame), (long long)nblk), failed++;
        else printf("PASS identical_%s\n", t->name);
        failed += fmt_bad + chunk_bad;
        if (ti == 0)
            printf("INFO type  rows              blocks   ident  ident%%     rmse-lowbit    rmse-ggml     ratio\n");
        info_line(t->name, "real", &grp[0][0]);
        info_line(t->name, "synthetic", &grp[0][1]);
        info_line(t->name, "real+imatrix", &grp[1][0]);
        info_line(t->name, "synthetic+imatrix", &grp[1][1]);
        fflush(stdout);
    }
    int64_t rows = 0, vals = 0;
    for (int si = 0; si < nsets; si++) { rows += sets[si].nrows; vals += sets[si].nrows * sets[si].ncols; }
    printf("INFO data: %d sets, %lld rows, %lld values (real rows from ../shared + synthetic Student-t and edge rows)\n",
           nsets, (long long)rows, (long long)vals);
    return failed ? 1 : 0;
}
