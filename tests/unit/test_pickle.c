/* test_pickle.c: the restricted pickle machine (formats/pickle.c) on the shared scanner
 * corpus, on real torch.save files, and on named malformed pickles built here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_pickle.h"
#include "lb_zip.h"
#include "lb_dtype.h"
#include "lb_le.h"
#include "tap.h"

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* ---- collecting pickles out of a file (raw stream, zip member, .npy) ---- */

typedef struct found {
    char globals[64][160];
    int n_globals;
    int pickles;          /* pickles that parsed to STOP */
    int scan_errors;
    int refused;          /* load mode: refusal naming a global */
    char refusal[480];
    int load_ok;          /* load mode: every pickle loaded */
    int load_other_err;
    char load_msg[480];
    int tensors;
    int skipped;          /* unsupported container */
    char skip_why[120];
} found;

static void add_global(found *f, const char *m, const char *n)
{
    char buf[160];
    snprintf(buf, sizeof buf, "%s.%s", m, n);
    for (int i = 0; i < f->n_globals; i++) if (!strcmp(f->globals[i], buf)) return;
    if (f->n_globals < 64) strcpy(f->globals[f->n_globals++], buf);
}

static int has_global(const found *f, const char *g)
{
    for (int i = 0; i < f->n_globals; i++) if (!strcmp(f->globals[i], g)) return 1;
    return 0;
}

/* Scan then load every pickle in a stream. Legacy torch files and malicious6 hold several;
 * bytes after the last complete pickle (legacy storage data) end the loop. */
static void do_stream(found *f, const uint8_t *d, size_t n)
{
    size_t pos = 0;
    int first = 1;
    while (pos < n) {
        lb_pickle *p = NULL;
        lb_err err;
        lb_err_clear(&err);
        int rc = lb_pickle_scan(&p, d, n, pos, NULL, &err);
        if (p) for (size_t i = 0; i < p->n_globals; i++) add_global(f, p->globals[i].module, p->globals[i].name);
        if (rc) { if (first) f->scan_errors++; lb_pickle_free(p); break; }
        pos = (size_t)p->end;
        f->pickles++;
        first = 0;
        lb_pickle_free(p);
    }
    pos = 0;
    int loaded = 0;
    f->load_ok = 1;
    while (pos < n) {
        lb_pickle *p = NULL;
        lb_err err;
        lb_err_clear(&err);
        int rc = lb_pickle_load(&p, d, n, pos, NULL, &err);
        if (rc) {
            if (!strncmp(err.msg, "refusing to load: ", 18)) {
                f->refused = 1;
                snprintf(f->refusal, sizeof f->refusal, "%s", err.msg);
                f->load_ok = 0;
            } else if (!loaded) {
                f->load_other_err = 1;
                f->load_ok = 0;
                snprintf(f->load_msg, sizeof f->load_msg, "%s", err.msg);
            }
            break;
        }
        lb_pk_tensor *t = NULL;
        size_t nt = 0;
        lb_err e2;
        if (lb_pickle_tensors(p, &t, &nt, &e2) == LB_OK) f->tensors += (int)nt;
        free(t);
        loaded++;
        pos = (size_t)p->end;
        lb_pickle_free(p);
    }
}

/* .npy: magic, version, header length, header; a pickle follows only for object arrays. */
static void do_npy(found *f, const uint8_t *d, size_t n)
{
    if (n < 10) return;
    size_t hl = d[6] == 1 ? lb_ld16(d + 8) : (n >= 12 ? lb_ld32(d + 8) : 0);
    size_t start = (d[6] == 1 ? 10 : 12) + hl;
    if (start > n) return;
    char hdr[512];
    snprintf(hdr, sizeof hdr, "%.*s", (int)(hl < 500 ? hl : 500), (const char *)d + (d[6] == 1 ? 10 : 12));
    if (strstr(hdr, "'O'") || strstr(hdr, "|O")) do_stream(f, d + start, n - start);
    else f->load_ok = 1;
}

static void do_zip(found *f, const uint8_t *d, size_t n)
{
    lb_zip *z = NULL;
    lb_err err;
    /* scanning wants what torch.load would see: it ignores the encrypted bit and uses
     * central-directory names; strictness is tested separately */
    if (lb_zip_open_mem(&z, d, n, LB_ZIP_ALLOW_ENCRYPTED_FLAG | LB_ZIP_ALLOW_NAME_MISMATCH, &err)) {
        f->scan_errors++;
        return;
    }
    f->load_ok = 1;
    for (size_t i = 0; i < lb_zip_count(z); i++) {
        const lb_zip_entry *e = lb_zip_entry_at(z, i);
        uint8_t *b = NULL;
        size_t bn = 0;
        if (lb_zip_read(z, e, 64 << 20, &b, &bn, &err)) continue;  /* e.g. really encrypted */
        size_t nl = strlen(e->name);
        found sub;
        memset(&sub, 0, sizeof sub);
        const char *base = strrchr(e->name, '/') ? strrchr(e->name, '/') + 1 : e->name;
        if (nl > 4 && !strcmp(e->name + nl - 4, ".npy")) do_npy(&sub, b, bn);
        else if (!strstr(e->name, "/data/") && strcmp(base, "version")) do_stream(&sub, b, bn);
        else sub.load_ok = 1;   /* raw tensor data, version file */
        for (int k = 0; k < sub.n_globals; k++) if (!has_global(f, sub.globals[k])) strcpy(f->globals[f->n_globals++], sub.globals[k]);
        f->pickles += sub.pickles;
        f->tensors += sub.tensors;
        if (sub.refused && !f->refused) { f->refused = 1; strcpy(f->refusal, sub.refusal); }
        if (!sub.load_ok) f->load_ok = 0;
        free(b);
    }
    lb_zip_close(z);
}

static void examine(found *f, const uint8_t *d, size_t n)
{
    memset(f, 0, sizeof *f);
    if (n >= 6 && !memcmp(d, "7z\xbc\xaf\x27\x1c", 6)) {
        f->skipped = 1;
        snprintf(f->skip_why, sizeof f->skip_why, "7z archive: optional container, not supported");
    } else if (n >= 4 && !memcmp(d, "PK\3\4", 4)) {
        do_zip(f, d, n);
    } else if (n >= 6 && !memcmp(d, "\x93NUMPY", 6)) {
        do_npy(f, d, n);
    } else {
        do_stream(f, d, n);
    }
}

static void test_corpus(const char *shared)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/pickles/EXPECTED.tsv", shared);
    FILE *tsv = fopen(path, "r");
    if (!tsv) { tap_skip("pickle corpus", "no pickles/EXPECTED.tsv in ../shared"); return; }
    char line[4096];
    int files = 0, mal = 0, mal_refused = 0, mal_found = 0, benign_loaded = 0, tensors = 0, skipped = 0;
    if (!fgets(line, sizeof line, tsv)) line[0] = 0;   /* header */
    while (fgets(line, sizeof line, tsv)) {
        char *file = strtok(line, "\t"), *verdict = strtok(NULL, "\t"), *globals = strtok(NULL, "\t");
        if (!file || !verdict || !globals) continue;
        snprintf(path, sizeof path, "%s/pickles/%s", shared, file);
        size_t n;
        uint8_t *d = slurp(path, &n);
        files++;
        tap_begin("corpus %s (%s)", file, verdict);
        CHECK(d != NULL, "cannot read %s", path);
        if (!d) { tap_end(); continue; }
        found f;
        examine(&f, d, n);
        free(d);
        if (f.skipped) {
            skipped++;
            char name[300];
            snprintf(name, sizeof name, "corpus %s", file);
            tap_skip(name, f.skip_why);
            continue;
        }
        if (!strcmp(verdict, "malicious")) {
            mal++;
            int all = 1;
            char want[1024];
            snprintf(want, sizeof want, "%s", globals);
            for (char *g = strtok(want, ","); g; g = strtok(NULL, ",")) {
                if (g[0] == '~' || !strcmp(g, "-")) continue;
                if (!has_global(&f, g)) { all = 0; CHECK(0, "scan did not find global '%s' (%d found)", g, f.n_globals); }
            }
            mal_found += all;
            CHECK(f.refused, "load mode did not refuse it (%s)", f.load_msg);
            CHECK(!f.refused || strstr(f.refusal, "pickle imports '") || strstr(f.refusal, "extension code"),
                  "refusal does not name a global: %s", f.refusal);
            mal_refused += f.refused;
        } else if (!strcmp(verdict, "benign")) {
            for (int i = 0; i < f.n_globals; i++) {
                const char *g = f.globals[i], *dot = strrchr(g, '.');
                char mod[160];
                snprintf(mod, sizeof mod, "%.*s", (int)(dot - g), g);
                CHECK(lb_pickle_allowed(mod, dot + 1) || !strncmp(g, "numpy.", 6),
                      "benign file imports '%s'", g);
            }
            int only_allowed = 1;
            for (int i = 0; i < f.n_globals; i++) if (!strncmp(f.globals[i], "numpy.", 6)) only_allowed = 0;
            if (only_allowed && f.pickles) {
                CHECK(f.load_ok, "benign file did not load: %s", f.load_msg);
                benign_loaded += f.load_ok;
            }
            if (strstr(file, "pytorch_model.bin")) {
                int want = strstr(file, "new_") ? 1 : 38;
                CHECK(f.tensors == want, "%d tensors, expected %d", f.tensors, want);
            }
            tensors += f.tensors;
            CHECK(1, "benign");
        } else {
            /* suspicious: scanning must not crash; loading either works or refuses a global */
            CHECK(f.load_ok || f.refused || f.load_other_err, "suspicious");
        }
        tap_end();
    }
    fclose(tsv);
    printf("INFO pickle corpus: %d files, %d malicious (%d with every expected global found by scan, "
           "%d refused by load), %d benign loaded, %d tensors in benign torch files, %d skipped (7z)\n",
           files, mal, mal_found, mal_refused, benign_loaded, tensors, skipped);
}

/* ---- real checkpoints ---- */

/* Tiny ad-hoc safetensors reader: data_offsets of name in the JSON header. */
static int st_find(const uint8_t *st, size_t n, const char *name, uint64_t *b, uint64_t *e)
{
    if (n < 8) return -1;
    uint64_t hl = lb_ld64(st);
    if (hl > n - 8) return -1;
    char *hdr = malloc(hl + 1);
    memcpy(hdr, st + 8, hl);
    hdr[hl] = 0;
    char key[300];
    snprintf(key, sizeof key, "\"%s\"", name);
    char *k = strstr(hdr, key), *o = k ? strstr(k, "\"data_offsets\"") : NULL;
    int ok = o && sscanf(o, "\"data_offsets\":[%llu,%llu]", (unsigned long long *)b, (unsigned long long *)e) == 2;
    if (ok) { *b += 8 + hl; *e += 8 + hl; }
    free(hdr);
    return ok ? 0 : -1;
}

static void test_hf_zip(const char *shared)
{
    char path[1200];
    size_t n, sn;
    snprintf(path, sizeof path, "%s/models/hf/stories260K-llama/pytorch_model.bin", shared);
    uint8_t *d = slurp(path, &n);
    snprintf(path, sizeof path, "%s/models/hf/stories260K-llama/model.safetensors", shared);
    uint8_t *st = slurp(path, &sn);
    if (!d || !st) { tap_skip("stories260K pytorch_model.bin", "file missing"); free(d); free(st); return; }
    tap_begin("stories260K pytorch_model.bin: zip, data.pkl, tensors equal model.safetensors");
    lb_zip *z = NULL;
    lb_err err;
    lb_err_clear(&err);
    int rc = lb_zip_open_mem(&z, d, n, 0, &err);
    CHECK(rc == LB_OK, "zip open: %s", err.msg);
    const lb_zip_entry *pk = NULL;
    if (z) {
        CHECK(lb_zip_count(z) == 49, "%zu entries", lb_zip_count(z));
        rc = lb_zip_find_suffix(z, "data.pkl", &pk, &err);
        CHECK(rc == LB_OK && pk, "no data.pkl");
    }
    uint8_t *pkl = NULL;
    size_t pn = 0;
    if (pk) CHECK(lb_zip_read(z, pk, 1 << 26, &pkl, &pn, &err) == LB_OK, "read data.pkl: %s", err.msg);
    lb_pickle *p = NULL;
    lb_pk_tensor *t = NULL;
    size_t nt = 0;
    if (pkl) {
        lb_pickle_opts o;
        lb_pickle_opts_default(&o);
        o.base = pk->data_offset;     /* report file offsets */
        rc = lb_pickle_load(&p, pkl, pn, 0, &o, &err);
        CHECK(rc == LB_OK, "load: %s", err.msg);
    }
    if (p) CHECK(lb_pickle_tensors(p, &t, &nt, &err) == LB_OK, "tensors: %s", err.msg);
    CHECK(nt == 47, "%zu tensors, expected 47", nt);
    int matched = 0, q_seen = 0;
    uint64_t params = 0;
    char prefix[256] = "";
    if (pk) snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(pk->name) - strlen("data.pkl")), pk->name);
    for (size_t i = 0; i < nt; i++) {
        params += t[i].nelem;
        if (!strcmp(t[i].name, "model.layers.0.self_attn.q_proj.weight")) {
            q_seen = 1;
            CHECK(t[i].ndim == 2 && t[i].shape[0] == 64 && t[i].shape[1] == 64, "q_proj shape");
            CHECK(!strcmp(t[i].storage_key, "1"), "q_proj storage key '%s'", t[i].storage_key);
        }
        CHECK(t[i].type == LB_F32 && t[i].contiguous, "tensor %s type %d", t[i].name, t[i].type);
        char ename[300];
        snprintf(ename, sizeof ename, "%sdata/%s", prefix, t[i].storage_key);
        const lb_zip_entry *de = lb_zip_find(z, ename);
        uint64_t b, e;
        CHECK(de != NULL, "no entry %s", ename);
        if (!de || st_find(st, sn, t[i].name, &b, &e)) { CHECK(0, "%s not in safetensors", t[i].name); continue; }
        uint64_t nb = t[i].nelem * 4;
        CHECK(e - b == nb, "%s: %llu bytes in safetensors, %llu in pickle", t[i].name,
              (unsigned long long)(e - b), (unsigned long long)nb);
        uint8_t *buf = malloc(nb);
        if (e - b == nb && lb_zip_read_at(z, de, t[i].storage_offset * 4, buf, nb, &err) == LB_OK &&
            !memcmp(buf, st + b, nb))
            matched++;
        free(buf);
    }
    CHECK(q_seen, "no model.layers.0.self_attn.q_proj.weight");
    CHECK(matched == (int)nt && nt > 0, "%d of %zu tensors equal their safetensors bytes", matched, nt);
    printf("INFO stories260K pytorch_model.bin: %zu entries, %zu tensors, %llu params, %d byte-identical to model.safetensors\n",
           lb_zip_count(z), nt, (unsigned long long)params, matched);
    tap_end();
    free(t);
    lb_pickle_free(p);
    free(pkl);
    lb_zip_close(z);
    free(d);
    free(st);
}

static void test_legacy(const char *shared)
{
    char path[1200];
    size_t n;
    snprintf(path, sizeof path, "%s/models/pytorch/legacy-mnist_cnn.pt", shared);
    uint8_t *d = slurp(path, &n);
    if (!d) { tap_skip("legacy mnist_cnn.pt", "file missing"); return; }
    tap_begin("legacy mnist_cnn.pt: magic, protocol, sys_info, state dict, storage data layout");
    lb_pickle *p[5] = { 0 };
    lb_err err;
    lb_err_clear(&err);
    size_t pos = 0;
    int ok = 1;
    for (int i = 0; i < 5 && ok; i++) {
        ok = lb_pickle_load(&p[i], d, n, pos, NULL, &err) == LB_OK;
        CHECK(ok, "pickle %d: %s", i, err.msg);
        if (ok) pos = (size_t)p[i]->end;
    }
    if (ok) {
        static const uint8_t magic[] = { 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19 };
        const lb_pk_node *m = p[0]->root;
        CHECK(m->kind == LB_PK_BIGINT && m->v.s.n == 10 && !memcmp(m->v.s.p, magic, 10), "magic number");
        int64_t proto = 0;
        CHECK(lb_pk_int(p[1]->root, &proto) == 0 && proto == 1001, "protocol %lld", (long long)proto);
        const lb_pk_node *le = lb_pk_dict_get(p[2]->root, "little_endian");
        CHECK(le && le->kind == LB_PK_BOOL && le->v.i == 1, "sys_info little_endian");
        lb_pk_tensor *t = NULL;
        size_t nt = 0;
        CHECK(lb_pickle_tensors(p[3], &t, &nt, &err) == LB_OK, "tensors: %s", err.msg);
        uint64_t params = 0;
        for (size_t i = 0; i < nt; i++) params += t[i].nelem;
        CHECK(nt == 8, "%zu tensors", nt);
        CHECK(params == 431080, "%llu params", (unsigned long long)params);
        static const struct { const char *name; int nd; uint64_t s[4]; } want[] = {
            { "conv1.weight", 4, { 20, 1, 5, 5 } }, { "conv1.bias", 1, { 20 } },
            { "conv2.weight", 4, { 50, 20, 5, 5 } }, { "conv2.bias", 1, { 50 } },
            { "fc1.weight", 2, { 500, 800 } }, { "fc1.bias", 1, { 500 } },
            { "fc2.weight", 2, { 10, 500 } }, { "fc2.bias", 1, { 10 } } };
        for (size_t i = 0; i < nt && i < 8; i++) {
            CHECK(!strcmp(t[i].name, want[i].name), "tensor %zu is '%s'", i, t[i].name);
            CHECK(t[i].ndim == want[i].nd && !memcmp(t[i].shape, want[i].s, sizeof(uint64_t) * (size_t)want[i].nd),
                  "%s shape", t[i].name);
            CHECK(t[i].type == LB_F32, "%s type", t[i].name);
        }
        /* after the last pickle: for each key of pickle 5, u64 numel then the data */
        const lb_pk_node *keys = p[4]->root;
        CHECK(keys->kind == LB_PK_LIST && keys->v.seq.n == 8, "storage key list");
        uint64_t off = pos;
        int layout = keys->kind == LB_PK_LIST;
        for (uint64_t k = 0; layout && k < keys->v.seq.n; k++) {
            const char *key = keys->v.seq.items[k]->v.s.p;
            uint64_t numel = off + 8 <= n ? lb_ld64(d + off) : UINT64_MAX;
            int seen = 0;
            for (size_t i = 0; i < nt; i++)
                if (!strcmp(t[i].storage_key, key)) { seen = 1; layout &= t[i].storage_numel == numel; }
            layout &= seen && numel != UINT64_MAX;
            off += 8 + numel * 4;
        }
        CHECK(layout && off == n, "storage data layout: ends at %llu, file is %zu", (unsigned long long)off, n);
        printf("INFO legacy mnist_cnn.pt: %zu tensors, %llu params, 5 pickles, storage data %zu bytes\n",
               nt, (unsigned long long)params, n - pos);
        free(t);
    }
    for (int i = 0; i < 5; i++) lb_pickle_free(p[i]);
    free(d);
    tap_end();
}

/* ---- named malformed cases ---- */

typedef struct buf { uint8_t *p; size_t n, cap; } buf;
static void put(buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) { b->cap = (b->n + n) * 2 + 64; b->p = realloc(b->p, b->cap); }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void put1(buf *b, uint8_t c) { put(b, &c, 1); }
static void put32(buf *b, uint32_t v) { uint8_t x[4]; lb_st32(x, v); put(b, x, 4); }

static int expect_fail(const char *name, int scan, const void *data, size_t n, const lb_pickle_opts *o,
                       const char *msg, uint64_t off)
{
    lb_pickle *p = NULL;
    lb_err err;
    lb_err_clear(&err);
    tap_begin("malformed: %s (%s)", name, scan ? "scan" : "load");
    int rc = scan ? lb_pickle_scan(&p, data, n, 0, o, &err) : lb_pickle_load(&p, data, n, 0, o, &err);
    CHECK(rc == LB_EFORMAT, "rc %d, expected LB_EFORMAT (msg '%s')", rc, err.msg);
    CHECK(strstr(err.msg, msg) != NULL, "message '%s' lacks '%s'", err.msg, msg);
    if (off != LB_NO_OFFSET) CHECK(err.offset == off, "offset %llu, expected %llu", (unsigned long long)err.offset, (unsigned long long)off);
    CHECK(scan || p == NULL, "load returned a result on error");
    lb_pickle_free(p);
    tap_end();
    return rc;
}

static void test_malformed(void)
{
    expect_fail("unknown opcode", 0, "\x80\x02N\xff.", 5, NULL, "unknown opcode 0xff", 3);
    expect_fail("unknown opcode", 1, "\x80\x02N\xff.", 5, NULL, "unknown opcode 0xff", 3);
    expect_fail("stack underflow", 0, "\x80\x02Na.", 5, NULL, "stack underflow", 3);
    expect_fail("stack underflow", 1, "\x80\x02\x85.", 4, NULL, "stack underflow", 2);
    expect_fail("bad memo index", 0, "\x80\x02N\x94h\x05.", 7, NULL, "memo key 5", 4);
    expect_fail("bad memo index (text GET)", 1, "Np0\ng7\n.", 8, NULL, "memo key 7", 4);
    expect_fail("truncated frame", 0, "\x80\x04\x95\x00\x01\x00\x00\x00\x00\x00\x00N.", 13, NULL, "truncated frame", 2);
    expect_fail("truncated string", 0, "X\x10\x00\x00\x00" "abc", 8, NULL, "truncated BINUNICODE", 0);
    expect_fail("mark missing", 0, "\x80\x02Nt.", 5, NULL, "TUPLE without a MARK", 3);
    expect_fail("no STOP", 0, "\x80\x02N", 3, NULL, "no STOP", 3);
    expect_fail("huge LONG4 length", 0, "\x80\x02\x8b\xff\xff\xff\x7f\x01\x02.", 10, NULL, "truncated LONG4", 2);
    expect_fail("negative LONG4 length", 1, "\x80\x02\x8b\xff\xff\xff\xff.", 8, NULL, "negative length", 2);
    expect_fail("STRING not quoted", 0, "Sabc\n.", 6, NULL, "not quoted", 0);
    expect_fail("protocol 6", 0, "\x80\x06N.", 4, NULL, "unsupported pickle protocol 6", 0);
    expect_fail("self-reference", 0, "]q\x00h\x00" "a.", 7, NULL, "self-referencing", 5);
    expect_fail("mutate after store", 0, "]q\x00](h\x00tq\x01" "0h\x00N" "a.", 16, NULL, "self-referencing", LB_NO_OFFSET);
    expect_fail("junk left at STOP", 0, "NN.", 3, NULL, "STOP with 2 values", 2);
    expect_fail("EXT1", 0, "\x80\x02\x82\x01.", 5, NULL, "extension code 1", 2);
    expect_fail("NEXT_BUFFER", 0, "\x80\x05\x97.", 4, NULL, "out-of-band", 2);
    expect_fail("non-storage persistent id", 0, "Pfoo\n.", 6, NULL, "persistent id", 0);

    /* the refusal, byte for byte */
    {
        const char *pk = "\x80\x02" "cposix\nsystem\n" "X\x02\x00\x00\x00id\x85R.";
        lb_pickle *p = NULL;
        lb_err err;
        tap_begin("refusal message names the global and the opcode offset");
        int rc = lb_pickle_load(&p, (const uint8_t *)pk, 27, 0, NULL, &err);
        CHECK(rc == LB_EFORMAT && !strcmp(err.msg, "refusing to load: pickle imports 'posix.system' at offset 2 (not a tensor type)"),
              "got '%s'", err.msg);
        CHECK(err.offset == 2, "offset %llu", (unsigned long long)err.offset);
        rc = lb_pickle_scan(&p, (const uint8_t *)pk, 27, 0, NULL, &err);
        CHECK(rc == LB_OK && p && p->n_globals == 1 && !strcmp(p->globals[0].name, "system") &&
              p->globals[0].off == 2 && !p->globals[0].allowed, "scan globals");
        CHECK(p && p->op_count['R'] == 1 && p->root && p->root->kind == LB_PK_OBJECT, "scan counts REDUCE");
        lb_pickle_free(p);
        tap_end();
    }

    /* deep nesting: 100k MARKs; 100k nested lists */
    {
        buf b = { 0 };
        for (int i = 0; i < 100000; i++) put1(&b, '(');
        put1(&b, '.');
        expect_fail("100k MARKs", 0, b.p, b.n, NULL, "nested MARKs", 256);
        expect_fail("100k MARKs", 1, b.p, b.n, NULL, "stack underflow: STOP", 100000);   /* no mark limit in scan */
        lb_pickle_opts so;
        lb_pickle_opts_default(&so);
        so.max_stack = 1000;
        expect_fail("100k MARKs, max_stack 1000", 1, b.p, b.n, &so, "more than 1000 nested MARKs", 1000);
        b.n = 0;
        for (int i = 0; i < 100001; i++) put1(&b, ']');
        for (int i = 0; i < 100000; i++) put1(&b, 'a');
        put1(&b, '.');
        expect_fail("100k nested lists", 0, b.p, b.n, NULL, "nested deeper than 256", 100001 + 255);
        free(b.p);
    }

    /* billion laughs: level k is a list of 10 memo references to level k-1 */
    {
        buf b = { 0 };
        static const char head[] = "\x80\x02]r\x00\x00\x00\x00(NNNNNNNNNNe";
        put(&b, head, sizeof head - 1);
        for (uint32_t k = 1; k <= 30; k++) {
            put1(&b, '(');
            for (int i = 0; i < 10; i++) { put1(&b, 'j'); put32(&b, k - 1); }
            put1(&b, 'l');
            put1(&b, 'r');
            put32(&b, k);
            if (k < 30) put1(&b, '0');
        }
        put1(&b, '.');
        expect_fail("billion laughs", 0, b.p, b.n, NULL, "billion-laughs", LB_NO_OFFSET);
        lb_pickle *p = NULL;
        lb_err err;
        tap_begin("billion laughs: scan mode completes in linear memory (10^30 expanded nodes)");
        lb_pickle_opts o;
        lb_pickle_opts_default(&o);
        o.max_alloc = 1 << 20;      /* 1 MiB is plenty when references are shared */
        int rc = lb_pickle_scan(&p, b.p, b.n, 0, &o, &err);
        CHECK(rc == LB_OK, "scan: %s", rc ? err.msg : "");
        CHECK(p && p->root && p->root->kind == LB_PK_LIST && p->root->v.seq.n == 10, "root list");
        lb_pickle_free(p);
        tap_end();
        free(b.p);
    }

    /* configurable limits */
    {
        lb_pickle_opts o;
        lb_pickle_opts_default(&o);
        o.max_memo = 2;
        expect_fail("memo limit", 0, "N\x94\x94\x94.", 5, &o, "memo holds more than 2", 3);
        lb_pickle_opts_default(&o);
        o.max_alloc = 4096;
        buf b = { 0 };
        put(&b, "B\x00\x00\x01\x00", 5);
        for (int i = 0; i < 65536; i++) put1(&b, 'x');
        put1(&b, '.');
        expect_fail("memory limit", 0, b.p, b.n, &o, "bytes of memory", 0);
        lb_pickle_opts_default(&o);
        o.max_ops = 10;
        expect_fail("opcode limit", 1, "NNNNNNNNNNNN.", 13, &o, "more than 10 opcodes", 10);
        lb_pickle_opts_default(&o);
        o.max_stack = 5;
        expect_fail("stack limit", 1, "NNNNNNNNNNNN.", 13, &o, "stack holds more than 5", 5);
        lb_pickle_opts_default(&o);
        o.max_items = 3;
        expect_fail("container limit", 0, "](NNNNe.", 8, &o, "more than 3 items", 6);
        free(b.p);

        /* 100k single SETITEMs (protocol 0 style): item arrays must grow geometrically,
         * not by one pair at a time (which wasted quadratic arena memory) */
        buf d = { 0 };
        put1(&d, '}');
        for (int i = 0; i < 100000; i++) put(&d, "K\x01Ns", 4);
        put1(&d, '.');
        lb_pickle_opts_default(&o);
        o.max_alloc = 48u << 20;
        lb_pickle *p = NULL;
        lb_err err;
        tap_begin("100k SETITEMs fit in 48 MiB");
        int rc = lb_pickle_load(&p, d.p, d.n, 0, &o, &err);
        CHECK(rc == LB_OK, "load: %s", rc ? err.msg : "");
        CHECK(p && p->root->v.seq.n == 100000, "100000 pairs");
        lb_pickle_free(p);
        tap_end();
        free(d.p);
    }
}

/* ---- values of every kind ---- */

static void test_values(void)
{
    /* protocol 0: INT, LONG (big), FLOAT, STRING escapes, UNICODE escapes, dict via SETITEMS */
    const char *p0 = "(dp0\nS'i'\nI-42\nsS'b'\nI01\nsS'big'\nL123456789012345678901234567890L\n"
                     "sS's'\nS'a\\'b\\x41\\n'\nsS'u'\nV\\u00e9t\\u00e9\nsS'f'\nF2.5\ns.";
    lb_pickle *p = NULL;
    lb_err err;
    int64_t v;
    tap_begin("protocol 0 values");
    int rc = lb_pickle_load(&p, (const uint8_t *)p0, strlen(p0), 0, NULL, &err);
    CHECK(rc == LB_OK, "load: %s", rc ? err.msg : "");
    if (p) {
        const lb_pk_node *r = p->root;
        CHECK(lb_pk_int(lb_pk_dict_get(r, "i"), &v) == 0 && v == -42, "I-42");
        CHECK(lb_pk_dict_get(r, "b") && lb_pk_dict_get(r, "b")->kind == LB_PK_BOOL, "I01 is a bool");
        const lb_pk_node *big = lb_pk_dict_get(r, "big");
        /* 123456789012345678901234567890 = 0x18EE90FF6C373E0EE4E3F0AD2 */
        CHECK(big && big->kind == LB_PK_BIGINT && (uint8_t)big->v.s.p[0] == 0xd2 && (uint8_t)big->v.s.p[1] == 0x0a,
              "LONG as big int");
        const lb_pk_node *s = lb_pk_dict_get(r, "s");
        CHECK(s && s->v.s.n == 5 && !memcmp(s->v.s.p, "a'bA\n", 5), "STRING escapes");
        const lb_pk_node *u = lb_pk_dict_get(r, "u");
        CHECK(u && !strcmp(u->v.s.p, "\xc3\xa9t\xc3\xa9"), "UNICODE escapes to UTF-8");
        const lb_pk_node *f = lb_pk_dict_get(r, "f");
        CHECK(f && f->kind == LB_PK_FLOAT && f->v.f == 2.5, "FLOAT");
    }
    lb_pickle_free(p);
    tap_end();

    /* text numbers as Python's int()/float() read them */
    const char *pt = "(I 12 \nI1_000\nI0x10\nL0b101L\nF1_0.5\nI-0x123456789abcdef0123\np 1\n0g1\nl.";
    tap_begin("protocol 0 numbers: whitespace, underscores, base prefixes");
    rc = lb_pickle_load(&p, (const uint8_t *)pt, strlen(pt), 0, NULL, &err);
    CHECK(rc == LB_OK, "load: %s", rc ? err.msg : "");
    if (p && p->root->v.seq.n == 6) {
        lb_pk_node **it = p->root->v.seq.items;
        int64_t a = 0, b2 = 0, c = 0, d = 0;
        CHECK(!lb_pk_int(it[0], &a) && !lb_pk_int(it[1], &b2) && !lb_pk_int(it[2], &c) && !lb_pk_int(it[3], &d) &&
              a == 12 && b2 == 1000 && c == 16 && d == 5, "%lld %lld %lld %lld", (long long)a, (long long)b2,
              (long long)c, (long long)d);
        CHECK(it[4]->kind == LB_PK_FLOAT && it[4]->v.f == 10.5, "F1_0.5");
        /* -0x123456789abcdef0123 = 0x...fffedcba9876543210fedd in two's complement */
        const uint8_t *bi = (const uint8_t *)it[5]->v.s.p;
        CHECK(it[5]->kind == LB_PK_BIGINT && bi[0] == 0xdd && bi[1] == 0xfe && bi[2] == 0x10 &&
              bi[8] == 0xdc && bi[9] == 0xfe && bi[it[5]->v.s.n - 1] == 0xff, "negative hex BIGINT");
    } else {
        CHECK(0, "expected a list of 6");
    }
    lb_pickle_free(p);
    tap_end();

    /* a number Python rejects: load refuses; scan goes on and still sees the global after it */
    const char *pj = "Inope\ncposix\nsystem\n.";
    tap_begin("bad INT text: load refuses, scan keeps going");
    rc = lb_pickle_load(&p, (const uint8_t *)pj, strlen(pj), 0, NULL, &err);
    CHECK(rc == LB_EFORMAT && strstr(err.msg, "INT argument is not an integer"), "load: %s", err.msg);
    rc = lb_pickle_scan(&p, (const uint8_t *)pj, strlen(pj), 0, NULL, &err);
    CHECK(p && p->n_globals == 1 && !strcmp(p->globals[0].module, "posix"), "scan saw the global");
    lb_pickle_free(p);
    tap_end();

    /* protocol 2-5: BINFLOAT, LONG1 negative, tuples, sets, frozenset, bytes via _codecs.encode,
     * bytearray8, OrderedDict, shared references via memo */
    static const uint8_t p4[] = {
        0x80, 0x04, 0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ']', 0x94, '(',
        'G', 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18,          /* pi */
        0x8a, 0x02, 0x00, 0xff,                                        /* LONG1 -256 */
        'K', 1, 'K', 2, 0x86,                                           /* (1, 2) */
        0x8f, '(', 'K', 7, 0x90,                                        /* {7} */
        '(', 'K', 8, 0x91,                                              /* frozenset({8}) */
        'c', '_', 'c', 'o', 'd', 'e', 'c', 's', '\n', 'e', 'n', 'c', 'o', 'd', 'e', '\n',
        0x8c, 2, 0xc3, 0xbf, 0x8c, 6, 'l', 'a', 't', 'i', 'n', '1', 0x86, 'R',  /* b'\xff' */
        0x96, 3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c',                    /* bytearray */
        0x8c, 11, 'c', 'o', 'l', 'l', 'e', 'c', 't', 'i', 'o', 'n', 's',
        0x8c, 11, 'O', 'r', 'd', 'e', 'r', 'e', 'd', 'D', 'i', 'c', 't', 0x93, ')', 'R',
        0x94, 'h', 1, 'e', '.' };
    tap_begin("protocol 4/5 values and shared references");
    rc = lb_pickle_load(&p, p4, sizeof p4, 0, NULL, &err);
    CHECK(rc == LB_OK, "load: %s", rc ? err.msg : "");
    if (p) {
        const lb_pk_node *l = p->root;
        CHECK(l->kind == LB_PK_LIST && l->v.seq.n == 9, "list of %llu", (unsigned long long)l->v.seq.n);
        if (l->v.seq.n == 9) {
            lb_pk_node **it = l->v.seq.items;
            CHECK(it[0]->kind == LB_PK_FLOAT && it[0]->v.f > 3.14159 && it[0]->v.f < 3.1416, "BINFLOAT");
            CHECK(lb_pk_int(it[1], &v) == 0 && v == -256, "LONG1 -256: %lld", (long long)v);
            CHECK(it[2]->kind == LB_PK_TUPLE && it[2]->v.seq.n == 2, "TUPLE2");
            CHECK(it[3]->kind == LB_PK_SET && it[3]->v.seq.n == 1, "set");
            CHECK(it[4]->kind == LB_PK_FROZENSET, "frozenset");
            CHECK(it[5]->kind == LB_PK_BYTES && it[5]->v.s.n == 1 && (uint8_t)it[5]->v.s.p[0] == 0xff, "_codecs.encode");
            CHECK(it[6]->kind == LB_PK_BYTEARRAY && it[6]->v.s.n == 3, "BYTEARRAY8");
            CHECK(it[7]->kind == LB_PK_DICT && it[7] == it[8], "OrderedDict() is a dict, shared via memo");
        }
        CHECK(p->proto == 4 && p->n_globals == 2, "proto %d, %zu globals", p->proto, p->n_globals);
    }
    lb_pickle_free(p);
    tap_end();
}

/* ---- hand-assembled checkpoints ---- */

static void put_str(buf *b, const char *s)      /* BINUNICODE */
{
    put1(b, 'X');
    put32(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}

/* _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, (3, 4), (4, 1), False, OrderedDict()) */
static void put_tensor(buf *b, const char *key, int numel, int offset, int stride0)
{
    put(b, "ctorch._utils\n_rebuild_tensor_v2\n((", 35);
    put_str(b, "storage");
    put(b, "ctorch\nFloatStorage\n", 20);
    put_str(b, key);
    put_str(b, "cpu");
    uint8_t t[] = { 'K', (uint8_t)numel, 't', 'Q', 'K', (uint8_t)offset, 'K', 3, 'K', 4, 0x86,
                    'K', (uint8_t)stride0, 'K', 1, 0x86, 0x89 };
    put(b, t, sizeof t);
    put(b, "ccollections\nOrderedDict\n)Rt" "R", 29);
}

static void test_state_dicts(void)
{
    /* {'epoch': 5, 'model': {'w': tensor, 'v': tensor sharing storage '0' at offset 12}} */
    buf b = { 0 };
    put(&b, "\x80\x02}", 3);
    put_str(&b, "epoch");
    put(&b, "K\x05s", 3);
    put_str(&b, "model");
    put1(&b, '}');
    put_str(&b, "w");
    put_tensor(&b, "0", 24, 0, 4);
    put1(&b, 's');
    put_str(&b, "v");
    put_tensor(&b, "0", 24, 12, 4);
    put(&b, "ss.", 3);
    lb_pickle *p = NULL;
    lb_err err;
    lb_pk_tensor *t = NULL;
    size_t n = 0;
    tap_begin("state dict nested under 'model', two views of one storage");
    int rc = lb_pickle_load(&p, b.p, b.n, 0, NULL, &err);
    CHECK(rc == LB_OK, "load: %s", rc ? err.msg : "");
    if (p) CHECK(lb_pickle_tensors(p, &t, &n, &err) == LB_OK, "tensors: %s", err.msg);
    CHECK(n == 2 && !strcmp(t[0].name, "w") && !strcmp(t[1].name, "v"), "names");
    if (n == 2) {
        CHECK(t[1].storage_offset == 12 && t[1].nelem == 12 && t[1].contiguous && t[1].type == LB_F32 &&
              !strcmp(t[1].storage_key, "0") && t[1].storage_numel == 24, "descriptor of v");
        CHECK(t[0].shape[0] == 3 && t[0].shape[1] == 4 && t[0].stride[0] == 4 && t[0].stride[1] == 1, "shape/stride of w");
    }
    free(t);
    lb_pickle_free(p);
    tap_end();

    /* the same tensor past the end of its storage (numel 20 < 12 + 12), and a strided view */
    b.n = 0;
    put(&b, "\x80\x02}", 3);
    put_str(&b, "v");
    put_tensor(&b, "0", 20, 12, 4);
    put(&b, "s.", 2);
    tap_begin("tensor extent past the end of its storage is refused");
    rc = lb_pickle_load(&p, b.p, b.n, 0, NULL, &err);
    CHECK(rc == LB_OK, "load: %s", rc ? err.msg : "");
    rc = p ? lb_pickle_tensors(p, &t, &n, &err) : -1;
    CHECK(rc == LB_EFORMAT && strstr(err.msg, "extent past the end of storage '0'") && !strcmp(err.item, "tensor 'v'"),
          "got %d '%s' '%s'", rc, err.msg, err.item);
    lb_pickle_free(p);
    tap_end();

    b.n = 0;
    put(&b, "\x80\x02}", 3);
    put_str(&b, "v");
    put_tensor(&b, "0", 24, 0, 8);     /* rows 8 apart: 3x4 view of a 3x8 storage, not contiguous */
    put(&b, "s.", 2);
    tap_begin("strided (non-contiguous) tensor descriptor");
    rc = lb_pickle_load(&p, b.p, b.n, 0, NULL, &err);
    CHECK(rc == LB_OK && lb_pickle_tensors(p, &t, &n, &err) == LB_OK && n == 1 && !t[0].contiguous,
          "strided view: %s", err.msg);
    free(t);
    lb_pickle_free(p);
    tap_end();

    /* a state dict with a forbidden class in the middle is refused, naming it */
    b.n = 0;
    put(&b, "\x80\x02}", 3);
    put_str(&b, "v");
    put(&b, "ctorch.nn.modules.linear\nLinear\n)\x81s.", 36);
    tap_begin("torch.nn.modules.* is not on the allow-list");
    rc = lb_pickle_load(&p, b.p, b.n, 0, NULL, &err);
    CHECK(rc == LB_EFORMAT && strstr(err.msg, "'torch.nn.modules.linear.Linear' at offset 9"), "got '%s'", err.msg);
    tap_end();
    free(b.p);
}

int main(void)
{
    const char *shared = tap_shared();
    test_values();
    test_malformed();
    test_state_dicts();
    if (!shared) {
        tap_skip("pickle corpus", "../shared not found (set LOWBIT_SHARED)");
        tap_skip("stories260K pytorch_model.bin", "../shared not found (set LOWBIT_SHARED)");
        tap_skip("legacy mnist_cnn.pt", "../shared not found (set LOWBIT_SHARED)");
    } else {
        test_corpus(shared);
        test_hf_zip(shared);
        test_legacy(shared);
    }
    TAP_EXIT();
}
