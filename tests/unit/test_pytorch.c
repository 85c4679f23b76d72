/* test_pytorch.c: PyTorch checkpoints through lb_model_open (formats/pytorch.c): the real
 * files in ../shared, the scanner corpus, and the generated cases in tests/data/pytorch
 * (views, tied weights, offsets, nested state dict, deflated zip, legacy layout, folders,
 * a 2-shard set, named malformed files). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lb_dtype.h"
#include "lb_model.h"
#include "tap.h"

static char g_data[1200];

static uint8_t *read_all(lb_model *m, const lb_tensor *t, lb_err *err)
{
    uint8_t *b = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    if (b && lb_tensor_read(m, t, 0, b, (size_t)t->nbytes, err)) { free(b); b = NULL; }
    return b;
}

/* Every tensor of a is in b with the same type, shape and bytes (and the counts match).
 * Also reads a's tensors in odd-sized pieces at odd offsets (exercises gathered views). */
static int same_model(lb_model *a, lb_model *b, char *why, size_t wn)
{
    lb_err err;
    if (a->n_tensors != b->n_tensors) {
        snprintf(why, wn, "%zu tensors vs %zu", a->n_tensors, b->n_tensors);
        return 0;
    }
    for (size_t i = 0; i < a->n_tensors; i++) {
        const lb_tensor *x = &a->tensors[i], *y = lb_model_find(b, x->name);
        if (!y) { snprintf(why, wn, "'%s' missing", x->name); return 0; }
        if (x->type != y->type || x->ndim != y->ndim || memcmp(x->shape, y->shape, sizeof(uint64_t) * (size_t)x->ndim)) {
            snprintf(why, wn, "'%s': type/shape differ", x->name);
            return 0;
        }
        lb_err_clear(&err);
        uint8_t *p = read_all(a, x, &err), *q = read_all(b, y, &err);
        int ok = p && q && !memcmp(p, q, (size_t)x->nbytes);
        for (uint64_t off = 1; ok && off < x->nbytes; off += 7) {
            uint8_t piece[13];
            size_t n = x->nbytes - off < 13 ? (size_t)(x->nbytes - off) : 13;
            ok = lb_tensor_read(a, x, off, piece, n, &err) == LB_OK && !memcmp(piece, q + off, n);
        }
        if (!ok) snprintf(why, wn, "'%s': bytes differ (%s)", x->name, err.msg);
        free(p);
        free(q);
        if (!ok) return 0;
    }
    return 1;
}

static void compare(const char *label, const char *pa, const char *pb, const char *fmt, size_t want)
{
    lb_model *a = NULL, *b = NULL;
    lb_err err;
    lb_err_clear(&err);
    tap_begin("%s", label);
    int rc = lb_model_open(&a, pa, &err);
    CHECK(rc == LB_OK, "open %s: %s", pa, err.msg);
    rc = lb_model_open(&b, pb, &err);
    CHECK(rc == LB_OK, "open %s: %s", pb, err.msg);
    if (a && b) {
        char why[600] = "";
        CHECK(!strcmp(a->format, fmt), "format %s, want %s", a->format, fmt);
        CHECK(a->n_tensors == want, "%zu tensors, want %zu", a->n_tensors, want);
        CHECK(same_model(a, b, why, sizeof why), "%s", why);
    }
    lb_model_close(a);
    lb_model_close(b);
    tap_end();
}

/* Opening fails with LB_EFORMAT and a message holding `want`. */
static void refused(const char *label, const char *path, const char *want)
{
    lb_model *m = NULL;
    lb_err err;
    lb_err_clear(&err);
    tap_begin("%s", label);
    int rc = lb_model_open(&m, path, &err);
    char line[800];
    lb_err_str(&err, line, sizeof line);
    CHECK(rc == LB_EFORMAT, "rc %d (%s), want LB_EFORMAT", rc, line);
    CHECK(m == NULL, "a model was returned");
    CHECK(strstr(line, want) != NULL, "message '%s' lacks '%s'", line, want);
    lb_model_close(m);
    tap_end();
}

static void test_shared(const char *shared)
{
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/models/hf/stories260K-llama/pytorch_model.bin", shared);
    snprintf(b, sizeof b, "%s/models/hf/stories260K-llama/model.safetensors", shared);
    compare("stories260K pytorch_model.bin: 47 tensors equal to model.safetensors", a, b, "pytorch", 47);

    snprintf(a, sizeof a, "%s/models/pytorch/legacy-mnist_cnn.pt", shared);
    lb_model *m = NULL;
    lb_err err;
    lb_err_clear(&err);
    tap_begin("legacy mnist_cnn.pt: 8 tensors, 431,080 parameters, README shapes");
    CHECK(lb_model_open(&m, a, &err) == LB_OK, "open: %s", err.msg);
    if (m) {
        static const struct { const char *name; int nd; uint64_t s[4]; } want[] = {
            { "conv1.weight", 4, { 20, 1, 5, 5 } }, { "conv1.bias", 1, { 20 } },
            { "conv2.weight", 4, { 50, 20, 5, 5 } }, { "conv2.bias", 1, { 50 } },
            { "fc1.weight", 2, { 500, 800 } }, { "fc1.bias", 1, { 500 } },
            { "fc2.weight", 2, { 10, 500 } }, { "fc2.bias", 1, { 10 } } };
        lb_totals tot = lb_model_totals(m);
        CHECK(!strcmp(m->format, "pytorch-legacy"), "format %s", m->format);
        CHECK(m->n_tensors == 8, "%zu tensors", m->n_tensors);
        CHECK(tot.params == 431080, "%llu params", (unsigned long long)tot.params);
        for (size_t i = 0; i < 8 && i < m->n_tensors; i++) {
            const lb_tensor *t = &m->tensors[i];
            CHECK(!strcmp(t->name, want[i].name) && t->ndim == want[i].nd && t->type == LB_F32 &&
                  !memcmp(t->shape, want[i].s, sizeof(uint64_t) * (size_t)want[i].nd), "tensor %zu '%s'", i, t->name);
            uint8_t *d = read_all(m, t, &err);
            int finite = d != NULL;
            for (uint64_t k = 0; d && k < t->nelem; k++) {
                float f;
                memcpy(&f, d + 4 * k, 4);
                if (!(f > -100 && f < 100)) finite = 0;
            }
            CHECK(finite, "'%s' not readable or not plausible weights", t->name);
            free(d);
        }
    }
    lb_model_close(m);
    tap_end();
}

static void test_corpus(const char *shared)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/pickles/EXPECTED.tsv", shared);
    FILE *tsv = fopen(path, "r");
    if (!tsv) { tap_skip("pickle corpus", "no pickles/EXPECTED.tsv"); return; }
    char line[4096];
    int mal = 0, refused_named = 0, benign_tensors = 0;
    if (!fgets(line, sizeof line, tsv)) line[0] = 0;
    while (fgets(line, sizeof line, tsv)) {
        char *file = strtok(line, "\t"), *verdict = strtok(NULL, "\t");
        if (!file || !verdict) continue;
        if (strstr(file, ".7z")) { tap_skip(file, "7z archive: not a format lowbit reads"); continue; }
        snprintf(path, sizeof path, "%s/pickles/%s", shared, file);
        lb_model *m = NULL;
        lb_err err;
        lb_err_clear(&err);
        int rc = lb_model_open(&m, path, &err);
        tap_begin("corpus %s (%s)", file, verdict);
        if (!strcmp(verdict, "malicious")) {
            mal++;
            CHECK(rc == LB_EFORMAT && !m, "not refused (rc %d)", rc);
            CHECK(strstr(err.msg, "pickle imports '") != NULL, "message does not name a global: %s", err.msg);
            refused_named += rc == LB_EFORMAT && strstr(err.msg, "pickle imports '") != NULL;
        } else if (!strcmp(verdict, "suspicious")) {
            CHECK(!m || m->n_tensors == 0, "a suspicious file yields tensors");
        } else {
            const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
            if (!strcmp(base, "pytorch_model.bin") || !strcmp(base, "new_pytorch_model.bin")) {
                size_t want = base[0] == 'n' ? 1 : 38;
                CHECK(rc == LB_OK, "benign torch file refused: %s", err.msg);
                CHECK(m && m->n_tensors == want, "%zu tensors, want %zu", m ? m->n_tensors : 0, want);
                for (size_t i = 0; m && i < m->n_tensors; i++) {
                    uint8_t *d = read_all(m, &m->tensors[i], &err);
                    CHECK(d != NULL, "read '%s': %s", m->tensors[i].name, err.msg);
                    free(d);
                }
                benign_tensors += m ? (int)m->n_tensors : 0;
            } else if (!strcmp(base, "bad_pytorch.pt")) {
                CHECK(rc == LB_EFORMAT && strstr(err.msg, "PNG image"), "PNG named .pt: %s", err.msg);
            } else {
                CHECK(rc == LB_OK || rc == LB_EFORMAT, "rc %d: %s", rc, err.msg);
            }
        }
        lb_model_close(m);
        tap_end();
    }
    fclose(tsv);
    printf("INFO pytorch corpus: %d malicious files, %d refused naming a global; %d tensors read from benign torch files\n",
           mal, refused_named, benign_tensors);
}

static const char *dp(const char *rel)
{
    static char b[4][1400];
    static int k;
    k = (k + 1) % 4;
    snprintf(b[k], sizeof b[k], "%s/%s", g_data, rel);
    return b[k];
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    if (a) fclose(a);
    if (b) fclose(b);
}

static void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (f) { fputs(s, f); fclose(f); }
}

/* Sharded sets with a missing shard / a tensor mapped to the wrong shard. */
static void test_shard_errors(void)
{
    char dir[1200], p[1300];
    const char *tmp = getenv("LOWBIT_TMP");
    snprintf(dir, sizeof dir, "%s/ptshard.%d", tmp ? tmp : "/tmp", (int)getpid());
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/pytorch_model-00001-of-00002.bin", dir);
    copy_file(dp("sharded/pytorch_model-00001-of-00002.bin"), p);
    snprintf(p, sizeof p, "%s/pytorch_model.bin.index.json", dir);
    write_text(p, "{\"weight_map\": {\"a.weight\": \"pytorch_model-00001-of-00002.bin\", "
                  "\"b.bias\": \"pytorch_model-00002-of-00002.bin\"}}");
    refused("sharded pytorch: missing shard names the shard and a tensor", dir,
            "shard 'pytorch_model-00002-of-00002.bin': missing (the index maps tensor 'b.bias' to it)");
    write_text(p, "{\"weight_map\": {\"a.weight\": \"pytorch_model-00001-of-00002.bin\", "
                  "\"nope.weight\": \"pytorch_model-00001-of-00002.bin\"}}");
    refused("sharded pytorch: missing tensor names the tensor and its shard", dir,
            "tensor 'nope.weight': the index maps it to shard 'pytorch_model-00001-of-00002.bin', which does not hold it");
    snprintf(p, sizeof p, "%s/pytorch_model-00001-of-00002.bin", dir);
    remove(p);
    snprintf(p, sizeof p, "%s/pytorch_model.bin.index.json", dir);
    remove(p);
    rmdir(dir);
}

static void test_local(void)
{
    struct stat st;
    if (stat(dp("views.pt"), &st)) { tap_skip("tests/data/pytorch", "generated files missing"); return; }
    char exp[1400];
    snprintf(exp, sizeof exp, "%s", dp("views.expect.safetensors"));
    compare("zip: views (transposed, tied, offset, strided column, f16/bf16/i64/bool)", dp("views.pt"), exp, "pytorch", 10);
    compare("zip: nested {'state_dict': ...}", dp("nested.pt"), exp, "pytorch", 10);
    compare("zip: deflated entries", dp("deflated.pt"), exp, "pytorch", 10);
    compare("legacy layout: same views", dp("legacy.pt"), exp, "pytorch-legacy", 10);
    compare("sharded: 2 shards (zip + legacy) with pytorch_model.bin.index.json", dp("sharded"),
            dp("sharded.expect.safetensors"), "pytorch-sharded", 4);

    lb_model *m = NULL;
    lb_err err;
    lb_err_clear(&err);
    tap_begin("folder with only pytorch_model.bin + config.json opens");
    CHECK(lb_model_open(&m, dp("folder"), &err) == LB_OK, "open: %s", err.msg);
    CHECK(m && m->n_tensors == 2 && !strcmp(m->format, "pytorch"), "%zu tensors, format %s",
          m ? m->n_tensors : 0, m ? m->format : "-");
    lb_model_close(m);
    tap_end();

    tap_begin("tied weights share one storage; in-place tensors have file offsets");
    m = NULL;
    CHECK(lb_model_open(&m, dp("views.pt"), &err) == LB_OK, "open: %s", err.msg);
    if (m) {
        const lb_tensor *e = lb_model_find(m, "emb.weight"), *h = lb_model_find(m, "lm_head.weight"),
                        *b = lb_model_find(m, "base"), *r = lb_model_find(m, "row1");
        CHECK(e && h && e->offset == h->offset, "tied tensors point at different bytes");
        CHECK(b && r && r->offset == b->offset + 24, "row1 is not base + 6 elements");
    }
    lb_model_close(m);
    tap_end();

    refused("malformed: storage shorter than its tensors need", dp("bad/short_storage.pt"), "shorter than");
    refused("malformed: data.pkl missing", dp("bad/no_datapkl.pt"), "no model file");   /* no data.pkl: the archive reader says it */
    refused("malformed: byteorder big", dp("bad/byteorder_big.pt"), "big-endian");
    refused("malformed: truncated legacy file", dp("bad/truncated_legacy.pt"), "truncated");
    refused("malformed: negative stride", dp("bad/neg_stride.pt"), "negative stride");
    refused("malformed: negative storage offset", dp("bad/negative_offset.pt"), "negative storage offset");
    refused("malformed: storage offset 2^63-1", dp("bad/overflow_offset.pt"), "tensor 'w': extent past the end of storage");
    refused("malformed: overflowing stride", dp("bad/overflow_stride.pt"), "tensor 'w': extent overflows");
    refused("malformed: view past its storage", dp("bad/past_storage.pt"), "extent past the end of storage");
    test_shard_errors();
}

/* ---- a legacy file built here: its object pickle is larger than the first 1 MiB read ---- */

typedef struct obuf { uint8_t *p; size_t n, cap; } obuf;
static void put(obuf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) { b->cap = (b->n + n) * 2; b->p = realloc(b->p, b->cap); }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void puts_(obuf *b, const char *s) { put(b, s, strlen(s)); }
static void put_str(obuf *b, const char *s, size_t n)   /* BINUNICODE */
{
    uint8_t h[5] = { 'X', (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
    put(b, h, 5);
    put(b, s, n);
}

static void test_legacy_big_pickle(void)
{
    static const uint8_t magic[] = { 0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.',
                                     0x80, 2, 'M', 0xe9, 3, '.', 0x80, 2, '}', '.' };
    obuf b = { 0 };
    put(&b, magic, sizeof magic);
    size_t big = 1536 * 1024;
    char *note = malloc(big);
    memset(note, 'x', big);
    puts_(&b, "\x80\x02}(");
    put_str(&b, "note", 4);
    put_str(&b, note, big);
    put_str(&b, "w", 1);
    puts_(&b, "ctorch._utils\n_rebuild_tensor_v2\n((");
    put_str(&b, "storage", 7);
    puts_(&b, "ctorch\nFloatStorage\n");
    put_str(&b, "0", 1);
    put_str(&b, "cpu", 3);
    static const uint8_t args[] = { 'K', 4, 't', 'Q', 'K', 0, 'K', 2, 'K', 2, 0x86, 'K', 2, 'K', 1, 0x86, 0x89 };
    put(&b, args, sizeof args);
    puts_(&b, "ccollections\nOrderedDict\n)RtRu.");
    puts_(&b, "\x80\x02]");
    put_str(&b, "0", 1);
    puts_(&b, "a.");
    static const uint8_t data[8 + 16] = { 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40 };
    put(&b, data, sizeof data);
    free(note);
    tap_begin("legacy file whose object pickle (1.5 MiB) is longer than the first read");
    lb_model *m = NULL;
    lb_err err;
    lb_err_clear(&err);
    CHECK(lb_model_open_mem(&m, b.p, b.n, "pytorch-legacy", &err) == LB_OK, "open: %s", err.msg);
    const lb_tensor *t = m ? lb_model_find(m, "w") : NULL;
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 2 && t->type == LB_F32, "tensor w [2, 2] f32");
    float f[4] = { 0 };
    if (t) CHECK(lb_tensor_read(m, t, 0, f, 16, &err) == LB_OK && f[0] == 1 && f[3] == 4, "values %g %g", f[0], f[3]);
    lb_model_close(m);
    m = NULL;
    b.n -= 4;   /* one element short: the storage runs past the end */
    CHECK(lb_model_open_mem(&m, b.p, b.n, "pytorch-legacy", &err) == LB_EFORMAT && strstr(err.msg, "truncated"),
          "short storage: %s", err.msg);
    lb_model_close(m);
    tap_end();
    free(b.p);
}

int main(void)
{
    const char *shared = getenv("LOWBIT_SHARED"), *root = getenv("LOWBIT_ROOT");
    snprintf(g_data, sizeof g_data, "%s/tests/data/pytorch", root && *root ? root : ".");
    if (shared && *shared) {
        test_shared(shared);
        test_corpus(shared);
    } else {
        tap_skip("pytorch files in ../shared", "LOWBIT_SHARED not set");
    }
    test_local();
    test_legacy_big_pickle();
    TAP_EXIT();
}
