/* test_imatrix.c: the importance-matrix reader: the two shared files (GGUF and legacy
 * .dat of one llama-imatrix run) give the same weights, the GGUF arithmetic
 * (in_sum2 / round(count), per expert, 0 counts -> 1), filters, and named malformed files. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "lb_dtype.h"
#include "lb_imatrix.h"
#include "lb_le.h"
#include "lb_model.h"
#include "lb_writer.h"

/* ---- the shared files ---------------------------------------------------------------- */

static int ulps(float a, float b)
{
    int32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x > y ? x - y : y - x;
}

static void test_shared(const char *shared)
{
    char pg[1024], pd[1024];
    snprintf(pg, sizeof pg, "%s/models/imatrix/stories260K-imatrix.gguf", shared);
    snprintf(pd, sizeof pd, "%s/models/imatrix/stories260K-imatrix.dat", shared);
    lb_imatrix *g = NULL, *d = NULL;
    lb_err e;

    tap_begin("imatrix: shared GGUF file");
    CHECK(lb_imatrix_load(&g, pg, &e) == LB_OK, "load: %s", e.msg);
    if (g) {
        CHECK(!g->legacy && g->n == 35 && g->chunk_count == 173 && g->chunk_size == 128, "n %zu chunks %d size %d",
              g->n, g->chunk_count, g->chunk_size);
        CHECK(g->n_datasets == 1 && !strcmp(g->datasets[0], "/tmp/calib.txt"), "datasets");
        const lb_imatrix_entry *a = lb_imatrix_find(g, "blk.0.ffn_down.weight");
        CHECK(a && a->n == 172 && a->ne0 == 172 && a->n_mat == 1, "ffn_down: 172 values");
        CHECK(lb_imatrix_find(g, "blk.4.attn_v.weight") && !lb_imatrix_find(g, "output.weight") &&
              !lb_imatrix_find(g, "blk.0.attn_v.weight.in_sum2"), "lookups");
        /* the arithmetic, from the raw tensors */
        lb_model *m = NULL;
        if (lb_model_open(&m, pg, &e) == LB_OK) {
            const lb_tensor *s = lb_model_find(m, "blk.2.attn_output.weight.in_sum2");
            const lb_tensor *c = lb_model_find(m, "blk.2.attn_output.weight.counts");
            float sums[64], cnt;
            CHECK(s && c && s->nelem == 64 && lb_tensor_read(m, s, 0, sums, sizeof sums, &e) == LB_OK &&
                  lb_tensor_read(m, c, 0, &cnt, 4, &e) == LB_OK, "raw tensors");
            const lb_imatrix_entry *x = lb_imatrix_find(g, "blk.2.attn_output.weight");
            int same = x != NULL;
            for (int i = 0; same && i < 64; i++) same = x->w[i] == sums[i] / (float)lroundf(cnt);
            CHECK(same && x->count == lroundf(cnt), "weights = in_sum2 / count");
            lb_model_close(m);
        }
    }
    tap_end();

    tap_begin("imatrix: shared .dat file equals the GGUF one");
    CHECK(lb_imatrix_load(&d, pd, &e) == LB_OK, "load: %s", e.msg);
    if (g && d) {
        CHECK(d->legacy && d->n == g->n && d->chunk_count == 173 && d->n_datasets == 1 &&
              !strcmp(d->datasets[0], "/tmp/calib.txt"), "header, trailer");
        int worst = 0, names = 1;
        for (size_t i = 0; i < g->n; i++) {
            const lb_imatrix_entry *y = lb_imatrix_find(d, g->e[i].name);
            if (!y || y->n != g->e[i].n) { names = 0; continue; }
            for (uint64_t j = 0; j < y->n; j++) {
                int u = ulps(y->w[j], g->e[i].w[j]);
                if (u > worst) worst = u;
            }
        }
        /* .dat stores (sum/count)*ncall in f32; dividing by ncall gives sum/count back
         * within a couple of ulps (for this file: exactly) */
        CHECK(names && worst <= 2, "names %d, worst difference %d ulp", names, worst);
        CHECK(lb_imatrix_find(d, "blk.0.attn_k.weight")->count == 173, "ncall");
        printf("INFO imatrix: .dat vs GGUF worst difference %d ulp\n", worst);
    }
    tap_end();

    tap_begin("imatrix: include/exclude filters");
    if (g) {
        size_t removed = 9;
        const char *inc[] = { "attn_v", "ffn_down" };
        const char *exc[] = { "blk.0." };
        CHECK(lb_imatrix_filter(g, inc, 2, exc, 1, &removed, &e) == LB_EUSAGE, "both");
        CHECK(lb_imatrix_filter(g, NULL, 0, exc, 1, &removed, &e) == LB_OK && removed == 7 && g->n == 28 &&
              !lb_imatrix_find(g, "blk.0.attn_v.weight"), "exclude: %zu", removed);
        CHECK(lb_imatrix_filter(g, inc, 2, NULL, 0, &removed, &e) == LB_OK && removed == 20 && g->n == 8 &&
              lb_imatrix_find(g, "blk.3.ffn_down.weight") && !lb_imatrix_find(g, "blk.3.attn_q.weight"),
              "include: %zu", removed);
        const float *w;
        CHECK(lb_imatrix_weights_for(g, "blk.3.ffn_down.weight", 172, 1, &w, &e) == LB_OK && w, "weights_for");
        CHECK(lb_imatrix_weights_for(g, "blk.3.ffn_down.weight", 64, 1, &w, &e) == LB_EFORMAT && !w &&
              strstr(e.item, "ffn_down"), "size mismatch");
        CHECK(lb_imatrix_weights_for(g, "blk.3.attn_q.weight", 64, 1, &w, &e) == LB_OK && !w, "absent");
    }
    tap_end();
    lb_imatrix_free(g);
    lb_imatrix_free(d);
}

/* ---- .dat built in memory -------------------------------------------------------------- */

typedef struct buf { uint8_t b[4096]; size_t n; } buf;

static void p32(buf *b, uint32_t v) { lb_st32(b->b + b->n, v); b->n += 4; }
static void pf(buf *b, float v) { lb_stf32(b->b + b->n, v); b->n += 4; }
static void pstr(buf *b, const char *s) { p32(b, (uint32_t)strlen(s)); memcpy(b->b + b->n, s, strlen(s)); b->n += strlen(s); }

static void dat_entry(buf *b, const char *name, int32_t ncall, int nval, float v0)
{
    pstr(b, name);
    p32(b, (uint32_t)ncall);
    p32(b, (uint32_t)nval);
    for (int i = 0; i < nval; i++) pf(b, v0 + (float)i);
}

static int load_dat(const buf *b, lb_imatrix **im, lb_err *e)
{
    return lb_imatrix_load_mem(im, b->b, b->n, "t.dat", e);
}

static void test_dat(void)
{
    lb_imatrix *im = NULL;
    lb_err e;
    buf b;

    tap_begin("imatrix .dat: values / ncall, ncall 0 kept, duplicates: last wins, no trailer");
    b.n = 0;
    p32(&b, 3);
    dat_entry(&b, "b.weight", 4, 2, 8.0f);
    dat_entry(&b, "a.weight", 0, 3, 5.0f);
    dat_entry(&b, "b.weight", 2, 2, 10.0f);
    CHECK(load_dat(&b, &im, &e) == LB_OK, "load: %s", e.msg);
    if (im) {
        const lb_imatrix_entry *a = lb_imatrix_find(im, "a.weight"), *x = lb_imatrix_find(im, "b.weight");
        CHECK(im->n == 2 && !strcmp(im->e[0].name, "a.weight"), "sorted, unique");
        CHECK(a && a->w[0] == 5.0f && a->w[2] == 7.0f, "ncall 0: stored values");
        CHECK(x && x->n == 2 && x->w[0] == 5.0f && x->w[1] == 5.5f && x->count == 2, "last duplicate, divided");
        CHECK(im->chunk_count == 0 && im->n_datasets == 0, "no trailer");
    }
    lb_imatrix_free(im);
    tap_end();

    static const struct { const char *name; int cut; int field; int32_t value; const char *want; } bad[] = {
        { "EMPTY", 0, -1, 0, "truncated" },
        { "ZERO_ENTRIES", -1, 0, 0, "no entries" },
        { "NEGATIVE_ENTRIES", -1, 0, -5, "no entries" },
        { "HUGE_ENTRY_COUNT", -1, 0, 1000000, "cannot fit" },
        { "NEGATIVE_NAME_LEN", -1, 1, -1, "name length" },
        { "NAME_PAST_EOF", -1, 1, 100000, "name length" },
        { "ZERO_VALUES", -1, 4, 0, "want >= 1" },
        { "VALUES_PAST_EOF", -1, 4, 1000, "past end" },
        { "TRUNCATED_VALUES", 36, -1, 0, "past end" },
        { "TRUNCATED_AFTER_ENTRY", 40, -1, 0, "truncated" },
        { "TRUNCATED_SECOND_NAME", 50, -1, 0, "name length" },
        { "TRUNCATED_SECOND_VALUES", 70, -1, 0, "past end" },
        { "TRUNCATED_SECOND_COUNTS", 58, -1, 0, "truncated" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tap_begin("imatrix .dat malformed: %s", bad[k].name);
        b.n = 0;
        p32(&b, 2);
        dat_entry(&b, "x.weight", 1, 4, 1.0f);   /* fields: 0 count, 1 len, 2-3 name, 3 ncall, 4 nval */
        dat_entry(&b, "y.weight", 1, 4, 1.0f);
        size_t off[] = { 0, 4, 0, 16, 20 };
        if (bad[k].field >= 0) lb_st32(b.b + off[bad[k].field], (uint32_t)bad[k].value);
        if (bad[k].cut >= 0) b.n = (size_t)bad[k].cut;
        im = NULL;
        int rc = load_dat(&b, &im, &e);
        CHECK(rc == LB_EFORMAT && !im && strstr(e.msg, bad[k].want), "rc %d: %s", rc, e.msg);
        lb_imatrix_free(im);
        tap_end();
    }

    tap_begin("imatrix .dat: trailer read; non-finite values refused");
    b.n = 0;
    p32(&b, 1);
    dat_entry(&b, "x.weight", 1, 2, 1.0f);
    p32(&b, 77);
    pstr(&b, "calib.txt");
    CHECK(load_dat(&b, &im, &e) == LB_OK && im && im->chunk_count == 77 && im->n_datasets == 1 &&
          !strcmp(im->datasets[0], "calib.txt"), "trailer");
    lb_imatrix_free(im);
    lb_stf32(b.b + 4 + 4 + 8 + 8 + 4, INFINITY);
    im = NULL;
    CHECK(load_dat(&b, &im, &e) == LB_EFORMAT && !im && strstr(e.msg, "not finite") && strstr(e.item, "x.weight"),
          "inf: %s", e.msg);
    tap_end();
}

/* ---- GGUF built with lowbit's writer ---------------------------------------------------- */

typedef struct gt { const char *name; int type; uint64_t rows, cols; const float *data; } gt;

static int write_gguf(const char *path, int meta, const gt *t, size_t n, lb_err *e)
{
    lb_kv kv[4];
    size_t nkv = 0;
    static lb_value ds_elem;
    memset(kv, 0, sizeof kv);
    memset(&ds_elem, 0, sizeof ds_elem);
    ds_elem.type = LB_V_STR;
    ds_elem.v.s = "d.txt";
    ds_elem.n = 5;
    kv[nkv].key = "general.type";
    kv[nkv].val.type = LB_V_STR;
    kv[nkv].val.v.s = "imatrix";
    kv[nkv++].val.n = 7;
    if (meta) {
        kv[nkv].key = "imatrix.datasets";
        kv[nkv].val.type = LB_V_ARR;
        kv[nkv].val.arr_type = LB_V_STR;
        kv[nkv].val.n = 1;
        kv[nkv++].val.v.arr = &ds_elem;
        kv[nkv].key = "imatrix.chunk_count";
        kv[nkv].val.type = LB_V_U32;
        kv[nkv++].val.v.u = 3;
        kv[nkv].key = "imatrix.chunk_size";
        kv[nkv].val.type = LB_V_U32;
        kv[nkv++].val.v.u = 512;
    }
    lb_wtensor wt[8];
    for (size_t i = 0; i < n; i++) {
        memset(&wt[i], 0, sizeof wt[i]);
        wt[i].name = t[i].name;
        wt[i].type = t[i].type;
        wt[i].ndim = t[i].rows > 1 ? 2 : 1;
        wt[i].shape[0] = t[i].rows > 1 ? t[i].rows : t[i].cols;
        wt[i].shape[1] = t[i].cols;
    }
    lb_out *out;
    lb_writer *w;
    LB_TRY(lb_out_open(&out, path, LB_OUT_FORCE, e));
    int rc = lb_writer_begin(&w, &lb_gguf_writer_ops, out, kv, nkv, wt, n, e);
    for (size_t i = 0; rc == LB_OK && i < n; i++) {
        uint8_t b[4096];
        uint64_t ne = t[i].rows * t[i].cols;
        if (t[i].type == LB_F32) for (uint64_t j = 0; j < ne; j++) lb_stf32(b + 4 * j, t[i].data[j]);
        else for (uint64_t j = 0; j < ne; j++) lb_st16(b + 2 * j, lb_f32_to_f16(t[i].data[j]));
        rc = lb_writer_data(w, b, (size_t)(ne * (t[i].type == LB_F32 ? 4 : 2)), e);
    }
    if (rc == LB_OK) rc = lb_writer_end(w, e);
    if (rc != LB_OK) { lb_out_abort(out); return rc; }
    return lb_out_commit(out, e);
}

static void test_gguf(void)
{
    char path[1024];
    const char *tmp = getenv("LOWBIT_TMP");
    snprintf(path, sizeof path, "%s/test_imatrix_%d.gguf", tmp ? tmp : "/tmp", (int)getpid());
    static const float sums[8] = { 2, 4, 6, 8, 1, 2, 3, 4 };
    static const float c2[2] = { 2.4f, 0.0f }, c1[1] = { 3.0f }, cnan[1] = { NAN }, c3[3] = { 1, 1, 1 };
    static const float inf_sums[2] = { 1, INFINITY };
    lb_imatrix *im = NULL;
    lb_err e;

    tap_begin("imatrix GGUF: two experts, rounded counts, zero count -> 1");
    gt moe[] = { { "e.weight.in_sum2", LB_F32, 2, 4, sums }, { "e.weight.counts", LB_F32, 2, 1, c2 },
                 { "d.weight.counts", LB_F32, 1, 1, c1 }, { "d.weight.in_sum2", LB_F32, 1, 8, sums },
                 { "other.tensor", LB_F32, 1, 1, c1 } };
    CHECK(write_gguf(path, 1, moe, 5, &e) == LB_OK, "write: %s", e.msg);
    CHECK(lb_imatrix_load(&im, path, &e) == LB_OK, "load: %s", e.msg);
    if (im) {
        const lb_imatrix_entry *x = lb_imatrix_find(im, "e.weight"), *d = lb_imatrix_find(im, "d.weight");
        CHECK(im->n == 2 && im->chunk_count == 3 && im->chunk_size == 512 && im->n_datasets == 1, "header");
        CHECK(x && x->n == 8 && x->ne0 == 4 && x->n_mat == 2 && x->count == 2, "shape");
        CHECK(x && x->w[0] == 1.0f && x->w[3] == 4.0f && x->w[4] == 1.0f && x->w[7] == 1.0f,
              "2.4 rounds to 2; expert 2 unseen");
        CHECK(d && d->n == 8 && d->n_mat == 1 && d->w[1] == 4.0f / 3.0f, "dense");
        const float *w;
        CHECK(lb_imatrix_weights_for(im, "e.weight", 4, 2, &w, &e) == LB_OK && w == x->w, "experts size");
    }
    lb_imatrix_free(im);
    tap_end();

    static const struct { const char *name; int meta; gt t[2]; size_t n; const char *want; } bad[] = {
        { "NO_METADATA", 0, { { "a.weight.in_sum2", LB_F32, 1, 8, sums }, { "a.weight.counts", LB_F32, 1, 1, c1 } }, 2, "missing imatrix metadata" },
        { "NO_TENSORS", 1, { { NULL, 0, 0, 0, NULL } }, 0, "no tensors" },
        { "SUMS_WITHOUT_COUNTS", 1, { { "a.weight.in_sum2", LB_F32, 1, 8, sums } }, 1, "no matching .counts" },
        { "COUNTS_WITHOUT_SUMS", 1, { { "a.weight.counts", LB_F32, 1, 1, c1 } }, 1, "no matching .in_sum2" },
        { "F16_SUMS", 1, { { "a.weight.in_sum2", LB_F16, 1, 8, sums }, { "a.weight.counts", LB_F32, 1, 1, c1 } }, 2, "must be f32" },
        { "UNEVEN_EXPERTS", 1, { { "a.weight.in_sum2", LB_F32, 1, 8, sums }, { "a.weight.counts", LB_F32, 1, 3, c3 } }, 2, "do not split" },
        { "NAN_COUNT", 1, { { "a.weight.in_sum2", LB_F32, 1, 8, sums }, { "a.weight.counts", LB_F32, 1, 1, cnan } }, 2, "not a usable number" },
        { "INF_SUM", 1, { { "a.weight.in_sum2", LB_F32, 1, 2, inf_sums }, { "a.weight.counts", LB_F32, 1, 1, c1 } }, 2, "not finite" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tap_begin("imatrix GGUF malformed: %s", bad[k].name);
        im = NULL;
        int rc = write_gguf(path, bad[k].meta, bad[k].t, bad[k].n, &e);
        CHECK(rc == LB_OK, "write: %s", e.msg);
        rc = lb_imatrix_load(&im, path, &e);
        CHECK(rc == LB_EFORMAT && !im && strstr(e.msg, bad[k].want), "rc %d: %s", rc, e.msg);
        lb_imatrix_free(im);
        tap_end();
    }
    unlink(path);

    tap_begin("imatrix: a file that is neither format");
    im = NULL;
    CHECK(lb_imatrix_load(&im, "/nonexistent/x.dat", &e) == LB_EIO && !im, "missing file: %d", e.code);
    CHECK(lb_imatrix_load_mem(&im, "GGUF\x03\0\0\0", 8, "short.gguf", &e) == LB_EFORMAT && !im, "truncated GGUF");
    tap_end();
}

int main(void)
{
    const char *shared = tap_shared();
    if (shared) test_shared(shared);
    else tap_skip("imatrix: shared files", "needs ../shared/models/imatrix");
    test_dat();
    test_gguf();
    TAP_EXIT();
}
