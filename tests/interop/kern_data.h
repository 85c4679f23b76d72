/* kern_data.h: test rows for the kernel interop tests and the bench (header-only).
 *
 * Real rows come from safetensors files in ../shared/models, read with a tiny ad-hoc
 * reader (u64 LE header length, JSON header, raw data); synthetic rows come from a
 * seeded generator, so every run (and every build) sees the same values. */
#ifndef KERN_DATA_H
#define KERN_DATA_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kd_set {
    char name[96];
    int64_t nrows, ncols;
    float *x;       /* nrows * ncols */
    float *imat;    /* ncols positive importance weights */
    int quality;    /* counts in the quality totals (real and heavy-tailed rows) */
} kd_set;

typedef struct kd_list {
    kd_set *v;
    int n, cap;
} kd_list;

/* ---- generator ------------------------------------------------------------------ */

static uint64_t kd_state = 0x853c49e6748fea9bULL;
static inline void kd_seed(uint64_t s) { kd_state = s * 0x9E3779B97F4A7C15ULL + 1; }
static inline uint64_t kd_next(void)
{
    uint64_t z = (kd_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static inline double kd_unif(void) { return ((kd_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
static inline double kd_normal(void) { return sqrt(-2 * log(kd_unif())) * cos(6.283185307179586 * kd_unif()); }
/* Student-t with nu degrees of freedom (nu integer): normal / sqrt(chi2_nu / nu). */
static inline double kd_student(int nu)
{
    double c = 0;
    for (int i = 0; i < nu; i++) { double z = kd_normal(); c += z * z; }
    return kd_normal() / sqrt(c / nu);
}

static kd_set *kd_add(kd_list *l, const char *name, int64_t nrows, int64_t ncols, int quality)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
        if (!l->v) { perror("realloc"); exit(2); }
    }
    kd_set *s = &l->v[l->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->nrows = nrows;
    s->ncols = ncols;
    s->quality = quality;
    s->x = calloc((size_t)(nrows * ncols), sizeof(float));
    s->imat = calloc((size_t)ncols, sizeof(float));
    if (!s->x || !s->imat) { perror("calloc"); exit(2); }
    /* random positive importance weights, log-normal, seeded by the set's shape */
    kd_seed((uint64_t)ncols * 7919 + (uint64_t)l->n);
    for (int64_t j = 0; j < ncols; j++) s->imat[j] = (float)(0.01 + exp(1.5 * kd_normal()));
    return s;
}

static inline void kd_free(kd_list *l)
{
    for (int i = 0; i < l->n; i++) { free(l->v[i].x); free(l->v[i].imat); }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- synthetic rows ------------------------------------------------------------- */

/* Heavy-tailed rows: Student-t(3) with a per-row scale spread over four decades. */
static inline void kd_synth_heavy(kd_list *l, int64_t nrows, int64_t ncols, uint64_t seed)
{
    char name[64];
    snprintf(name, sizeof name, "synth student-t %lldx%lld", (long long)nrows, (long long)ncols);
    kd_set *s = kd_add(l, name, nrows, ncols, 1);
    kd_seed(seed);
    for (int64_t r = 0; r < nrows; r++) {
        double scale = pow(10.0, -3.0 + 4.0 * kd_unif());
        for (int64_t j = 0; j < ncols; j++) s->x[r * ncols + j] = (float)(scale * kd_student(3));
    }
}

/* Edge rows, 256 wide (every block size divides 256): all zero, constants, one huge
 * outlier, denormals, +-65504, a mix of tiny and huge, a sparse row, and non-finite
 * values (NaN, +-Inf, and a 1e30 outlier beyond f16 range). */
enum { KD_EDGE_ROWS = 14 };
static inline void kd_synth_edge(kd_list *l)
{
    const int64_t n = 256;
    kd_set *s = kd_add(l, "synth edge rows", KD_EDGE_ROWS, n, 0);
    kd_seed(42);
    for (int64_t j = 0; j < n; j++) {
        float g = (float)kd_normal();
        s->x[0 * n + j] = 0.0f;                                    /* all zero */
        s->x[1 * n + j] = 0.3125f;                                 /* positive constant */
        s->x[2 * n + j] = -1.75f;                                  /* negative constant */
        s->x[3 * n + j] = j == 77 ? 30000.0f : 0.01f * g;          /* one huge outlier */
        s->x[4 * n + j] = (float)(g * 1e-40);                      /* denormals */
        s->x[5 * n + j] = (j & 1) ? 65504.0f : -65504.0f;          /* f16 extremes */
        s->x[6 * n + j] = (j % 37 == 0) ? 1000.0f * g : 1e-6f * g; /* tiny and huge */
        s->x[7 * n + j] = (j % 50 == 3) ? g : 0.0f;                /* sparse */
        s->x[8 * n + j] = (float)(g * 1e-30);                      /* tiny normals */
        s->x[9 * n + j] = (j < 128) ? -65504.0f : 1e-3f * g;       /* half saturated */
        s->x[10 * n + j] = j == 5 ? (float)NAN : g;                /* one NaN */
        s->x[11 * n + j] = j == 40 ? (float)INFINITY : g;          /* +Inf */
        s->x[12 * n + j] = j == 250 ? -(float)INFINITY : g;        /* -Inf */
        s->x[13 * n + j] = j == 0 ? 1e30f : j == 255 ? (float)NAN : 1e-3f * g;
    }
}

/* ---- safetensors ---------------------------------------------------------------- */

static unsigned char *kd_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = n > 0 ? malloc((size_t)n) : NULL;
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); fclose(f); return NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Find `"key"` inside [p, end) and return the position after the following ':'. */
static const char *kd_field(const char *p, const char *end, const char *key)
{
    size_t kl = strlen(key);
    for (; p + kl + 2 < end; p++)
        if (p[0] == '"' && !strncmp(p + 1, key, kl) && p[kl + 1] == '"') {
            p += kl + 2;
            while (p < end && (*p == ' ' || *p == ':')) p++;
            return p;
        }
    return NULL;
}

/* Callback per F32 tensor: name, shape (ndim <= 4), data. */
typedef void (*kd_tensor_fn)(kd_list *l, const char *file, const char *name, int ndim,
                             const int64_t *shape, const float *data, void *ctx);

/* Read every F32 tensor of a safetensors file (little-endian host assumed, as the
 * reference libraries are x86-64/aarch64 only). Returns the tensor count, -1 on error. */
static inline int kd_safetensors(kd_list *l, const char *path, kd_tensor_fn fn, void *ctx)
{
    size_t len;
    unsigned char *b = kd_read_file(path, &len);
    if (!b || len < 8) { free(b); return -1; }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    if (hl > len - 8) { free(b); return -1; }
    const char *h = (const char *)b + 8, *end = h + hl;
    const unsigned char *data = b + 8 + hl;
    size_t dlen = len - 8 - hl;
    int count = 0;
    const char *p = h + 1;
    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) break;
        const char *qe = memchr(q + 1, '"', (size_t)(end - q - 1));
        if (!qe) break;
        char name[256];
        size_t nl = (size_t)(qe - q - 1) < sizeof name - 1 ? (size_t)(qe - q - 1) : sizeof name - 1;
        memcpy(name, q + 1, nl);
        name[nl] = 0;
        const char *ob = memchr(qe, '{', (size_t)(end - qe));
        if (!ob) break;
        int depth = 0;
        const char *oe = ob;
        for (; oe < end; oe++) {
            if (*oe == '{') depth++;
            else if (*oe == '}' && --depth == 0) break;
        }
        p = oe + 1;
        if (!strcmp(name, "__metadata__")) continue;
        const char *dt = kd_field(ob, oe, "dtype"), *sh = kd_field(ob, oe, "shape"),
                   *of = kd_field(ob, oe, "data_offsets");
        if (!dt || !sh || !of || strncmp(dt, "\"F32\"", 5)) continue;
        int64_t shape[4] = { 0 };
        int nd = 0;
        for (sh++; *sh != ']' && nd < 4;) {
            shape[nd++] = strtoll(sh, (char **)&sh, 10);
            while (*sh == ',' || *sh == ' ') sh++;
        }
        uint64_t o0 = strtoull(of + 1, (char **)&of, 10);
        while (*of == ',' || *of == ' ') of++;
        uint64_t o1 = strtoull(of, NULL, 10);
        if (o1 < o0 || o1 > dlen || (o1 - o0) % 4) continue;
        float *t = malloc(o1 - o0 + 4);
        if (!t) continue;
        memcpy(t, data + o0, o1 - o0);
        fn(l, path, name, nd, shape, t, ctx);
        free(t);
        count++;
    }
    free(b);
    return count;
}

/* Tensors whose rows are a multiple of 256 wide: up to *(int *)ctx rows each. */
static inline void kd_take_rows(kd_list *l, const char *file, const char *name, int ndim,
                         const int64_t *shape, const float *data, void *ctx)
{
    int maxrows = *(int *)ctx;
    if (ndim < 1) return;
    int64_t cols = shape[ndim - 1], rows = 1;
    for (int i = 0; i < ndim - 1; i++) rows *= shape[i];
    if (cols < 256 || cols % 256) return;
    if (rows > maxrows) rows = maxrows;
    const char *base = strrchr(file, '/');
    char nm[96];
    snprintf(nm, sizeof nm, "%.28s:%.60s", base ? base + 1 : file, name);
    kd_set *s = kd_add(l, nm, rows, cols, 1);
    memcpy(s->x, data, (size_t)(rows * cols) * sizeof(float));
}

/* Any tensor of at least 256 values, flattened into 256-wide rows (the tail dropped). */
static inline void kd_take_flat(kd_list *l, const char *file, const char *name, int ndim,
                         const int64_t *shape, const float *data, void *ctx)
{
    (void)ctx;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    if (n < 256) return;
    const char *base = strrchr(file, '/');
    char nm[96];
    snprintf(nm, sizeof nm, "%.28s:%.60s(flat)", base ? base + 1 : file, name);
    kd_set *s = kd_add(l, nm, n / 256, 256, 1);
    memcpy(s->x, data, (size_t)(n / 256 * 256) * sizeof(float));
}

/* The real rows: returns how many files were read (0 when ../shared is absent). */
static inline int kd_real(kd_list *l, const char *shared, int maxrows)
{
    static const struct { const char *path; int flat; } files[] = {
        { "models/hf/peft-gpt2-lora/adapter_model.safetensors", 0 },
        { "models/hf/mlx-lora-discollama/adapters.safetensors", 0 },
        { "models/hf/tiny-llama-trained/model.safetensors", 0 },
        { "models/hf/stories260K-llama/model.safetensors", 1 },
    };
    int nread = 0;
    if (!shared) return 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        if (snprintf(path, sizeof path, "%s/%s", shared, files[i].path) >= (int)sizeof path) continue;
        if (kd_safetensors(l, path, files[i].flat ? kd_take_flat : kd_take_rows, &maxrows) > 0) nread++;
    }
    return nread;
}

/* FNV-1a 64 over bytes: stable digests for the determinism comparisons. */
static inline uint64_t kd_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ULL; }
    return h;
}
#define KD_FNV_INIT 0xcbf29ce484222325ULL

#endif
