/* test_convert_roundtrip.c: lowbit-convert, file to the other format and back, on every
 * safetensors and GGUF file in ../shared/models (and the sharded BF16 folder): tensor
 * names, dtypes, shapes and bytes must survive both hops exactly. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lb_dtype.h"
#include "lb_model.h"
#include "tap.h"

static char tmpdir[256];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Same tensors (as a set, by name), same dtype/shape/bytes. Returns a reason or NULL. */
static const char *same_tensors(lb_model *a, lb_model *b, char *why, size_t n)
{
    if (a->n_tensors != b->n_tensors) {
        snprintf(why, n, "%zu vs %zu tensors", a->n_tensors, b->n_tensors);
        return why;
    }
    for (size_t i = 0; i < a->n_tensors; i++) {
        const lb_tensor *x = &a->tensors[i], *y = lb_model_find(b, x->name);
        if (!y) { snprintf(why, n, "'%s' missing", x->name); return why; }
        if (x->type != y->type || x->ndim != y->ndim || memcmp(x->shape, y->shape, sizeof x->shape) ||
            x->nbytes != y->nbytes) {
            snprintf(why, n, "'%s': dtype/shape differ", x->name);
            return why;
        }
        uint8_t *p = malloc(x->nbytes + 1), *q = malloc(y->nbytes + 1);
        lb_err e;
        int bad = !p || !q || lb_tensor_read(a, x, 0, p, x->nbytes, &e) || lb_tensor_read(b, y, 0, q, y->nbytes, &e) ||
                  memcmp(p, q, x->nbytes);
        free(p);
        free(q);
        if (bad) { snprintf(why, n, "'%s': bytes differ", x->name); return why; }
    }
    return NULL;
}

static void roundtrip(const char *path, const char *there, const char *back)
{
    static int k;
    char mid[700], fin[700], why[300];
    snprintf(mid, sizeof mid, "%s/%d.%s", tmpdir, k, there);
    snprintf(fin, sizeof fin, "%s/%d.back.%s", tmpdir, k++, back);
    const char *bin = getenv("LOWBIT_BIN");
    tap_begin("convert %s -> %s -> %s", strstr(path, "models/") ? strstr(path, "models/") : path, there, back);
    int r1 = run("'%s/lowbit-convert' -q --keep-names '%s' -o '%s'", bin, path, mid);
    int r2 = r1 ? -1 : run("'%s/lowbit-convert' -q '%s' -o '%s'", bin, mid, fin);
    CHECK(r1 == 0 && r2 == 0, "lowbit-convert exit %d / %d", r1, r2);
    lb_model *a = NULL, *b = NULL, *c = NULL;
    lb_err e;
    if (!r1 && !r2) {
        CHECK(lb_model_open(&a, path, &e) == 0, "open source: %s", e.msg);
        CHECK(lb_model_open(&b, mid, &e) == 0, "open %s: %s", there, e.msg);
        CHECK(lb_model_open(&c, fin, &e) == 0, "open back: %s", e.msg);
        if (a && b) CHECK(!same_tensors(a, b, why, sizeof why), "first hop: %s", why);
        if (a && c) CHECK(!same_tensors(a, c, why, sizeof why), "round trip: %s", why);
        if (b) CHECK(strcmp(b->format, there) == 0, "middle file is %s", b->format);
    }
    lb_model_close(a);
    lb_model_close(b);
    lb_model_close(c);
    tap_end();
}

static void walk(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char names[64][256];
    int n = 0;
    while (d && (e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.') snprintf(names[n++], 256, "%s", e->d_name);
    if (d) closedir(d);
    qsort(names, (size_t)n, 256, (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < n; i++) {
        char *p;
        struct stat st;
        if (asprintf(&p, "%s/%s", dir, names[i]) < 0) continue;
        if (stat(p, &st) != 0) { free(p); continue; }
        if (S_ISDIR(st.st_mode)) { walk(p); free(p); continue; }
        size_t l = strlen(p);
        if (l > 12 && !strcmp(p + l - 12, ".safetensors") && !strstr(p, "-of-0"))
            roundtrip(p, "gguf", "safetensors");
        else if (l > 5 && !strcmp(p + l - 5, ".gguf"))
            roundtrip(p, "safetensors", "gguf");
        free(p);
    }
}

int main(void)
{
    const char *sh = tap_shared();
    if (!sh) {
        tap_skip("convert round trips", "needs ../shared/models (*.safetensors, *.gguf)");
        return 0;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/rt.XXXXXX", getenv("LOWBIT_TMP") ? getenv("LOWBIT_TMP") : "/tmp");
    if (!mkdtemp(tmpdir)) return 1;
    char p[1200];
    snprintf(p, sizeof p, "%s/models", sh);
    walk(p);
    snprintf(p, sizeof p, "%s/models/hf/stories260K-llama-bf16-sharded", sh);
    roundtrip(p, "gguf", "safetensors");
    run("rm -rf '%s'", tmpdir);
    TAP_EXIT();
}
