/* test_archive.c: models inside archives (formats/archive.c) and the source primitives it
 * uses (lb_src_sub, lb_src_tmpfile).
 *
 * Archives are built in a temporary folder: tars with the system tar (plain, gzip, xz,
 * zstd), zips and 7z with libarchive's writer, of the shared models; each must read with the
 * same tensor names, dtypes, shapes and bytes as the plain file or folder. Hostile archives
 * (unsafe names, truncation, declared sizes past the caps, torch zips) must fail cleanly. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lb_archive.h"
#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_model.h"
#include "tap.h"

static char tmp[1024];
static const char *shared;
static char models[1100];

/* ---- helpers ---------------------------------------------------------------------- */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *tp(const char *name)
{
    static char buf[4][2048];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static int have(const char *tool)
{
    return run("command -v %s >/dev/null 2>&1", tool) == 0;
}

/* Compare every tensor of a against b by name: dtype, shape, bytes. "" if equal. */
static const char *same_tensors(lb_model *a, lb_model *b)
{
    static char why[512];
    static uint8_t x[65536], y[65536];
    lb_err e;
    if (a->n_tensors != b->n_tensors) {
        snprintf(why, sizeof why, "%zu tensors vs %zu", a->n_tensors, b->n_tensors);
        return why;
    }
    for (size_t i = 0; i < a->n_tensors; i++) {
        const lb_tensor *t = &a->tensors[i], *u = lb_model_find(b, t->name);
        if (!u) { snprintf(why, sizeof why, "'%s' missing", t->name); return why; }
        if (t->type != u->type || t->ndim != u->ndim || t->nbytes != u->nbytes ||
            memcmp(t->shape, u->shape, sizeof t->shape) != 0) {
            snprintf(why, sizeof why, "'%s': dtype/shape differ", t->name);
            return why;
        }
        for (uint64_t off = 0; off < t->nbytes; off += sizeof x) {
            size_t n = t->nbytes - off < sizeof x ? (size_t)(t->nbytes - off) : sizeof x;
            if (lb_tensor_read(a, t, off, x, n, &e) || lb_tensor_read(b, u, off, y, n, &e)) {
                snprintf(why, sizeof why, "'%s': read failed: %s", t->name, e.msg);
                return why;
            }
            if (memcmp(x, y, n)) {
                snprintf(why, sizeof why, "'%s': bytes differ near %llu", t->name, (unsigned long long)off);
                return why;
            }
        }
    }
    return "";
}

static int all_kind(const lb_model *m, int kind)
{
    for (size_t i = 0; i < m->n_files; i++)
        if (lb_src_kind(m->files[i].src) != kind) return 0;
    return m->n_files > 0;
}

/* Open through lb_archive_open_with, with limits and stats. */
static int open_arc(lb_model **out, const char *path, const lb_archive_limits *lim,
                    lb_archive_stats *st, lb_err *err)
{
    *out = NULL;
    lb_src *src;
    LB_TRY(lb_src_open(&src, path, err));
    lb_model *m = lb_model_new("archive", path);
    if (!m) { lb_src_close(src); return LB_EIO; }
    int rc = lb_archive_open_with(m, src, path, lim, st, err);
    if (rc) { lb_model_close(m); return rc; }
    *out = m;
    return LB_OK;
}

/* ---- libarchive writer (zip, 7z, pax with hostile names) ----------------------------- */

typedef struct wfile { const char *disk; const char *name; const void *data; size_t len; } wfile;

static int write_one(struct archive *a, const wfile *f)
{
    struct archive_entry *ae = archive_entry_new();
    size_t len = f->len;
    FILE *in = NULL;
    if (f->disk) {
        struct stat st;
        if (stat(f->disk, &st) != 0 || !(in = fopen(f->disk, "rb"))) { archive_entry_free(ae); return -1; }
        len = (size_t)st.st_size;
    }
    archive_entry_set_pathname(ae, f->name);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    archive_entry_set_size(ae, (la_int64_t)len);
    int rc = archive_write_header(a, ae) == ARCHIVE_OK ? 0 : -1;
    archive_entry_free(ae);
    if (!rc && in) {
        char buf[65536];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, in)) > 0)
            if (archive_write_data(a, buf, k) != (la_ssize_t)k) { rc = -1; break; }
    } else if (!rc && len) {
        rc = archive_write_data(a, f->data, len) == (la_ssize_t)len ? 0 : -1;
    }
    if (in) fclose(in);
    return rc;
}

/* kind: "zip", "zip-store", "7z", "pax", "pax-gz" */
static int write_archive(const char *out, const char *kind, const wfile *files, size_t n)
{
    struct archive *a = archive_write_new();
    if (!strcmp(kind, "zip") || !strcmp(kind, "zip-store")) {
        archive_write_set_format_zip(a);
        if (!strcmp(kind, "zip-store")) archive_write_set_options(a, "zip:compression=store");
    } else if (!strcmp(kind, "7z")) {
        archive_write_set_format_7zip(a);
    } else {
        archive_write_set_format_pax_restricted(a);
        if (!strcmp(kind, "pax-gz")) archive_write_add_filter_gzip(a);
    }
    int rc = archive_write_open_filename(a, out) == ARCHIVE_OK ? 0 : -1;
    for (size_t i = 0; !rc && i < n; i++) rc = write_one(a, &files[i]);
    if (archive_write_close(a) != ARCHIVE_OK) rc = -1;
    archive_write_free(a);
    return rc;
}

/* Every file of a folder as "<prefix>/<file>". */
static int write_dir(const char *out, const char *kind, const char *dir, const char *prefix)
{
    wfile f[64];
    static char disk[64][1024], name[64][1024];
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64) {
        if (e->d_name[0] == '.') continue;
        snprintf(disk[n], sizeof disk[n], "%s/%s", dir, e->d_name);
        snprintf(name[n], sizeof name[n], "%s/%s", prefix, e->d_name);
        f[n] = (wfile){ disk[n], name[n], NULL, 0 };
        n++;
    }
    if (d) closedir(d);
    return n ? write_archive(out, kind, f, n) : -1;
}

/* ---- source primitives ------------------------------------------------------------------ */

static void test_src_sub(void)
{
    tap_begin("src-sub: windows of memory and files, nested, parent closed first");
    lb_err e;
    static const char data[] = "0123456789abcdef";
    lb_src *mem, *w, *ww, *bad;
    CHECK(lb_src_mem(&mem, data, 16, "mem", &e) == LB_OK, "mem: %s", e.msg);
    CHECK(lb_src_sub(&w, mem, 4, 8, "w", &e) == LB_OK, "sub: %s", e.msg);
    CHECK(lb_src_sub(&ww, w, 2, 4, "ww", &e) == LB_OK, "sub of sub: %s", e.msg);
    CHECK(lb_src_sub(&bad, w, 5, 4, "bad", &e) == LB_EFORMAT, "window past the end accepted");
    CHECK(lb_src_sub(&bad, w, UINT64_MAX, 2, "bad", &e) == LB_EFORMAT, "overflowing window accepted");
    lb_src_close(mem);                       /* the windows keep it alive */
    char buf[16] = { 0 };
    size_t got;
    CHECK(lb_src_read(ww, 0, buf, 4, &e) == LB_OK && memcmp(buf, "6789", 4) == 0, "nested read '%.4s'", buf);
    CHECK(lb_src_read_some(w, 6, buf, 8, &got, &e) == LB_OK && got == 2 && memcmp(buf, "ab", 2) == 0,
          "clamped read got %zu", got);
    CHECK(lb_src_read(w, 7, buf, 2, &e) == LB_EFORMAT, "short read past window accepted");
    CHECK(lb_src_kind(w) == LB_SRC_SUB && lb_src_size(ww) == 4, "kind/size");
    CHECK(lb_src_memptr(ww) && lb_src_memptr(ww)[0] == '6', "memptr of a memory window");
    lb_src_close(w);
    lb_src_close(ww);

    lb_src *f, *fw;
    FILE *fp = fopen(tp("sub.bin"), "wb");
    fwrite(data, 1, 16, fp);
    fclose(fp);
    CHECK(lb_src_open(&f, tp("sub.bin"), &e) == LB_OK, "open: %s", e.msg);
    CHECK(lb_src_sub(&fw, f, 10, 6, "fw", &e) == LB_OK, "file window: %s", e.msg);
    lb_src_close(f);
    CHECK(lb_src_read(fw, 0, buf, 6, &e) == LB_OK && memcmp(buf, "abcdef", 6) == 0, "file window read");
    CHECK(lb_src_memptr(fw) == NULL, "file window has no memptr");
    lb_src_close(fw);
    tap_end();
}

static void test_src_tmp(void)
{
    tap_begin("src-tmpfile: append, read back, refuses append elsewhere");
    lb_err e;
    lb_src *t, *mem;
    CHECK(lb_src_tmpfile(&t, "t", &e) == LB_OK, "tmpfile: %s", e.msg);
    if (!t) { tap_end(); return; }
    CHECK(lb_src_size(t) == 0 && lb_src_kind(t) == LB_SRC_TMP, "empty temp");
    static uint8_t big[200000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
    CHECK(lb_src_append(t, big, 100000, &e) == LB_OK && lb_src_append(t, big + 100000, 100000, &e) == LB_OK,
          "append: %s", e.msg);
    uint8_t back[1000];
    CHECK(lb_src_size(t) == sizeof big, "size %llu", (unsigned long long)lb_src_size(t));
    CHECK(lb_src_read(t, 99500, back, 1000, &e) == LB_OK && memcmp(back, big + 99500, 1000) == 0, "read back");
    CHECK(lb_src_mem(&mem, big, 10, "m", &e) == LB_OK && lb_src_append(mem, big, 1, &e) == LB_EUSAGE,
          "append to a memory source accepted");
    lb_src_close(mem);
    lb_src_close(t);
    tap_end();
}

/* ---- detection ---------------------------------------------------------------------- */

static void test_bid(void)
{
    tap_begin("bid: magic of each container, torch zips low, models not claimed");
    uint8_t h[1024] = { 0 };
    CHECK(lb_archive_bid((const uint8_t *)"\x1f\x8b\x08\x00", 4, 100) == LB_ARCHIVE_BID, "gzip");
    CHECK(lb_archive_bid((const uint8_t *)"\xfd" "7zXZ\0\0", 7, 100) == LB_ARCHIVE_BID, "xz");
    CHECK(lb_archive_bid((const uint8_t *)"\x28\xb5\x2f\xfd\0", 5, 100) == LB_ARCHIVE_BID, "zstd");
    CHECK(lb_archive_bid((const uint8_t *)"7z\xbc\xaf\x27\x1c\0", 7, 100) == LB_ARCHIVE_BID, "7z");
    memcpy(h, "PK\3\4", 4);
    lb_st16(h + 26, 20);
    memcpy(h + 30, "archive/data.pklxxxx", 20);
    CHECK(lb_archive_bid(h, 60, 100) == LB_ARCHIVE_BID, "zip with another first entry");
    lb_st16(h + 26, 16);
    CHECK(lb_archive_bid(h, 60, 100) == LB_ARCHIVE_BID_ZIP_FORMAT, "torch zip");
    memset(h, 0, sizeof h);
    CHECK(lb_archive_bid(h, 512, 1024) == 0, "zero block claimed as tar");
    memcpy(h, "GGUF\3\0\0\0", 8);
    CHECK(lb_archive_bid(h, 512, 1024) == 0, "gguf claimed");
    CHECK(lb_archive_torch_entry("data.pkl") && lb_archive_torch_entry("x/data.pkl") &&
          !lb_archive_torch_entry("xdata.pkl") && !lb_archive_torch_entry("data.pkl.txt"), "torch rule");
    tap_end();
}

/* ---- real models in archives -------------------------------------------------------------- */

/* Open the archive both through lb_model_open and with stats; compare with ref. */
static void check_arc(const char *name, const char *arc, lb_model *ref, int want_kind,
                      const char *want_format)
{
    tap_begin("%s", name);
    lb_err e;
    lb_err_clear(&e);
    lb_model *m = NULL;
    int rc = lb_model_open(&m, arc, &e);
    CHECK(rc == LB_OK, "lb_model_open: %s (%s)", e.msg, e.item);
    if (m) {
        const char *why = same_tensors(ref, m);
        CHECK(!why[0], "differs from the plain model: %s", why);
        CHECK(all_kind(m, want_kind), "files are not all of source kind %d (first %d)", want_kind,
              m->n_files ? lb_src_kind(m->files[0].src) : -1);
        if (ref->n_kv)
            CHECK(m->n_kv == ref->n_kv && !strcmp(m->kv[0].key, ref->kv[0].key), "metadata: %zu keys vs %zu",
                  m->n_kv, ref->n_kv);
        CHECK(strcmp(m->format, want_format) == 0, "format '%s', want '%s'", m->format, want_format);
        CHECK(strncmp(m->files[0].path, arc, strlen(arc)) == 0, "file path '%s'", m->files[0].path);
        lb_model_close(m);
    }
    lb_archive_stats st;
    memset(&st, 0xff, sizeof st);
    rc = open_arc(&m, arc, NULL, &st, &e);
    CHECK(rc == LB_OK, "open_with: %s", e.msg);
    if (want_kind == LB_SRC_SUB)
        CHECK(st.copied == 0 && st.copied_bytes == 0 && st.passes == 1 && st.in_place >= 1,
              "in place: copied %llu (%llu bytes), %d passes", (unsigned long long)st.copied,
              (unsigned long long)st.copied_bytes, st.passes);
    else
        CHECK(st.copied >= 1 && st.in_place == 0 && st.passes == 2, "streamed: copied %llu, in place %llu, %d passes",
              (unsigned long long)st.copied, (unsigned long long)st.in_place, st.passes);
    printf("INFO %s: %llu entries, %llu in place, %llu copied (%llu bytes), %llu in memory, %d passes\n",
           name, (unsigned long long)st.entries, (unsigned long long)st.in_place,
           (unsigned long long)st.copied, (unsigned long long)st.copied_bytes,
           (unsigned long long)st.in_memory, st.passes);
    lb_model_close(m);
    tap_end();
}

static int ref_open(lb_model **m, const char *rel, const char *case_name)
{
    char p[2048];
    lb_err e;
    snprintf(p, sizeof p, "%s/%s", models, rel);
    if (lb_model_open(m, p, &e) == LB_OK) return 1;
    char why[700];
    snprintf(why, sizeof why, "plain '%s' does not open on this build: %s", rel, e.msg);
    tap_skip(case_name, why);
    return 0;
}

static void test_folder(void)
{
    const char *dir = "hf/stories260K-llama";
    lb_model *ref;
    if (!ref_open(&ref, dir, "folder-in-archives")) return;
    static const struct { const char *name, *file, *tarflag, *tool; } tars[] = {
        { "folder-tar (in place)", "f.tar", "-cf", NULL },
        { "folder-tar.gz", "f.tar.gz", "-czf", "gzip" },
        { "folder-tar.xz", "f.tar.xz", "-cJf", "xz" },
        { "folder-tar.zst", "f.tar.zst", "--zstd -cf", "zstd" },
    };
    for (size_t i = 0; i < sizeof tars / sizeof *tars; i++) {
        if (tars[i].tool && !have(tars[i].tool)) {
            tap_skip(tars[i].name, "tool not installed (scripts/setup.sh installs xz-utils zstd)");
            continue;
        }
        if (run("tar -C '%s/hf' %s '%s' stories260K-llama", models, tars[i].tarflag, tp(tars[i].file))) {
            tap_begin("%s", tars[i].name);
            CHECK(0, "tar failed");
            tap_end();
            continue;
        }
        check_arc(tars[i].name, tp(tars[i].file), ref, i == 0 ? LB_SRC_SUB : LB_SRC_TMP, "safetensors");
    }
    char src[2048];
    snprintf(src, sizeof src, "%s/%s", models, dir);
    static const struct { const char *name, *file, *kind; } w[] = {
        { "folder-zip (deflate)", "f.zip", "zip" },
        { "folder-zip (stored, in place)", "fs.zip", "zip-store" },
        { "folder-7z", "f.7z", "7z" },
        { "folder-pax.gz (libarchive writer)", "f.pax.tgz", "pax-gz" },
    };
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
        if (write_dir(tp(w[i].file), w[i].kind, src, "stories260K-llama")) {
            tap_begin("%s", w[i].name);
            CHECK(0, "writing the archive failed");
            tap_end();
            continue;
        }
        check_arc(w[i].name, tp(w[i].file), ref, strstr(w[i].name, "in place") ? LB_SRC_SUB : LB_SRC_TMP,
                  "safetensors");
    }
    lb_model_close(ref);
}

static void test_single(void)
{
    lb_model *ref;
    if (ref_open(&ref, "gguf/stories260K.gguf", "gguf-in-archives")) {
        if (!run("tar -C '%s/gguf' -cf '%s' stories260K.gguf", models, tp("g.tar")))
            check_arc("gguf-tar (in place)", tp("g.tar"), ref, LB_SRC_SUB, "gguf");
        if (!run("tar -C '%s/gguf' -czf '%s' stories260K.gguf", models, tp("g.tgz")))
            check_arc("gguf-tar.gz", tp("g.tgz"), ref, LB_SRC_TMP, "gguf");
        char p[2048];
        snprintf(p, sizeof p, "%s/gguf/stories260K.gguf", models);
        wfile f = { p, "weights/any-name.bin", NULL, 0 };
        if (!write_archive(tp("g.7z"), "7z", &f, 1))
            check_arc("gguf-7z (found by content)", tp("g.7z"), ref, LB_SRC_TMP, "gguf");
        lb_model_close(ref);
    }
    if (ref_open(&ref, "hf/tiny-llama-trained/model.safetensors", "safetensors-in-archives")) {
        /* xz of 13 MB of trained floats takes a minute on a busy box: xz is covered by the folder */
        if (!run("tar -C '%s/hf/tiny-llama-trained' -cf '%s' model.safetensors", models, tp("s.tar")))
            check_arc("safetensors-tar (in place)", tp("s.tar"), ref, LB_SRC_SUB, "safetensors");
        char p[2048];
        snprintf(p, sizeof p, "%s/hf/tiny-llama-trained/model.safetensors", models);
        wfile f = { p, "model.safetensors", NULL, 0 };
        if (!write_archive(tp("s.zip"), "zip", &f, 1))
            check_arc("safetensors-zip", tp("s.zip"), ref, LB_SRC_TMP, "safetensors");
        if (have("zstd") && !run("zstd -q -c '%s' > '%s'", p, tp("model.safetensors.zst")))
            check_arc("safetensors.zst (compressed file, no archive)", tp("model.safetensors.zst"), ref,
                      LB_SRC_TMP, "safetensors");
        lb_model_close(ref);
    }
}

/* Reference for the sharded set: the shards opened one by one. */
static lb_model *shard_ref(lb_model **s1, lb_model **s2)
{
    char p[2048];
    lb_err e;
    snprintf(p, sizeof p, "%s/hf/stories260K-llama-bf16-sharded/model-00001-of-00002.safetensors", models);
    if (lb_model_open(s1, p, &e)) return NULL;
    snprintf(p, sizeof p, "%s/hf/stories260K-llama-bf16-sharded/model-00002-of-00002.safetensors", models);
    if (lb_model_open(s2, p, &e)) { lb_model_close(*s1); return NULL; }
    lb_model *u = lb_model_new("union", "");
    for (int k = 0; k < 2; k++) {
        lb_model *s = k ? *s2 : *s1;
        int f = lb_model_add_file(u, s->files[0].path, NULL);
        for (size_t i = 0; i < s->n_tensors; i++) {
            lb_tensor *t = &s->tensors[i];
            lb_model_add_tensor(u, t->name, t->type, t->ndim, t->shape, t->offset, f, NULL, &e);
        }
    }
    u->files[0].src = (*s1)->files[0].src;   /* borrowed: cleared before closing */
    u->files[1].src = (*s2)->files[0].src;
    return u;
}

static void shard_ref_close(lb_model *u, lb_model *s1, lb_model *s2)
{
    if (!u) return;
    u->files[0].src = u->files[1].src = NULL;
    lb_model_close(u);
    lb_model_close(s1);
    lb_model_close(s2);
}

static void test_sharded(void)
{
    lb_model *s1, *s2, *ref = shard_ref(&s1, &s2);
    if (!ref) { tap_skip("sharded-in-archives", "the shard files do not open on this build"); return; }
    const char *parent = "hf";
    if (!run("tar -C '%s/%s' -cf '%s' stories260K-llama-bf16-sharded", models, parent, tp("sh.tar")))
        check_arc("sharded-tar (in place)", tp("sh.tar"), ref, LB_SRC_SUB, "safetensors-sharded");
    if (!run("tar -C '%s/%s' -czf '%s' stories260K-llama-bf16-sharded", models, parent, tp("sh.tgz")))
        check_arc("sharded-tar.gz", tp("sh.tgz"), ref, LB_SRC_TMP, "safetensors-sharded");
    char src[2048];
    snprintf(src, sizeof src, "%s/hf/stories260K-llama-bf16-sharded", models);
    if (!write_dir(tp("sh.7z"), "7z", src, "x/y"))
        check_arc("sharded-7z (nested folder)", tp("sh.7z"), ref, LB_SRC_TMP, "safetensors-sharded");

    /* plain folder via the real index reader, when this build has it */
    lb_model *dirm;
    lb_err e;
    if (lb_model_open(&dirm, src, &e) == LB_OK) {
        tap_begin("sharded-tar matches the plain folder (index reader)");
        lb_model *m;
        CHECK(lb_model_open(&m, tp("sh.tar"), &e) == LB_OK, "%s", e.msg);
        if (m) {
            const char *why = same_tensors(dirm, m);
            CHECK(!why[0], "%s", why);
            CHECK(m->n_kv == dirm->n_kv, "%zu metadata keys vs %zu in the folder", m->n_kv, dirm->n_kv);
            for (size_t i = 0; i < dirm->n_kv; i++)
                CHECK(lb_model_kv(m, dirm->kv[i].key) != NULL, "metadata '%s' missing", dirm->kv[i].key);
            lb_model_close(m);
        }
        lb_model_close(dirm);
        tap_end();
    } else {
        char why[600];
        snprintf(why, sizeof why, "plain sharded folder does not open on this build: %s", e.msg);
        tap_skip("sharded-tar matches the plain folder (index reader)", why);
    }

    tap_begin("sharded: a shard named in the index but missing from the archive");
    char ix[4096], sh1[4096];
    snprintf(ix, sizeof ix, "%s/model.safetensors.index.json", src);
    snprintf(sh1, sizeof sh1, "%s/model-00001-of-00002.safetensors", src);
    wfile f[2] = { { ix, "m/model.safetensors.index.json", NULL, 0 }, { sh1, "m/model-00001-of-00002.safetensors", NULL, 0 } };
    CHECK(write_archive(tp("miss.tar"), "pax", f, 2) == 0, "write");
    lb_model *m = NULL;
    int rc = lb_model_open(&m, tp("miss.tar"), &e);
    CHECK(rc == LB_EFORMAT, "rc %d", rc);
    CHECK(strstr(e.msg, "model-00002-of-00002.safetensors") && strstr(e.item, "index.json"),
          "message names both: %s / %s", e.item, e.msg);
    lb_model_close(m);
    tap_end();
    shard_ref_close(ref, s1, s2);
}

/* ---- hostile and malformed ------------------------------------------------------------- */

static int expect_fail(const char *arc, const lb_archive_limits *lim, const char *needle, lb_err *e)
{
    lb_model *m = NULL;
    lb_err_clear(e);
    lb_archive_stats st;
    int rc = lim ? open_arc(&m, arc, lim, &st, e) : lb_model_open(&m, arc, e);
    lb_model_close(m);
    char full[700];
    snprintf(full, sizeof full, "%s %s", e->item, e->msg);
    CHECK(rc == LB_EFORMAT, "rc %d (%s)", rc, full);
    CHECK(strstr(full, needle) != NULL, "message lacks '%s': %s", needle, full);
    return rc;
}

/* A minimal safetensors: one F32 tensor of n elements, zeros. */
static size_t tiny_st(uint8_t *buf, size_t cap, uint64_t n_elem, int with_data)
{
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr, "{\"w\":{\"dtype\":\"F32\",\"shape\":[%llu],\"data_offsets\":[0,%llu]}}",
                      (unsigned long long)n_elem, (unsigned long long)(n_elem * 4));
    while (hl % 8) hdr[hl++] = ' ';
    lb_st64(buf, (uint64_t)hl);
    memcpy(buf + 8, hdr, (size_t)hl);
    size_t n = 8 + (size_t)hl;
    if (with_data) {
        size_t d = (size_t)n_elem * 4;
        if (n + d > cap) return 0;
        memset(buf + n, 0, d);
        n += d;
    }
    return n;
}

static int file_bytes(const char *path, void **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc((size_t)n + 1);
    *len = fread(*data, 1, (size_t)n, f);
    fclose(f);
    return 0;
}

static void test_hostile(void)
{
    lb_err e;
    static uint8_t st[1 << 16];
    size_t stn = tiny_st(st, sizeof st, 16, 1);

    tap_begin("hostile: '../evil.safetensors' refuses the archive");
    wfile evil[2] = { { NULL, "ok/config.json", "{}", 2 }, { NULL, "../evil.safetensors", st, stn } };
    CHECK(write_archive(tp("evil.tar"), "pax", evil, 2) == 0, "write");
    expect_fail(tp("evil.tar"), NULL, "unsafe name", &e);
    CHECK(strstr(e.item, "../evil.safetensors") != NULL, "item names the entry: %s", e.item);
    wfile abs = { NULL, "/etc/model.safetensors", st, stn };
    CHECK(write_archive(tp("abs.zip"), "zip", &abs, 1) == 0, "write");
    expect_fail(tp("abs.zip"), NULL, "unsafe name", &e);
    wfile mid = { NULL, "a/../../b/model.safetensors", st, stn };
    CHECK(write_archive(tp("mid.7z"), "7z", &mid, 1) == 0, "write");
    expect_fail(tp("mid.7z"), NULL, "unsafe name", &e);
    tap_end();

    tap_begin("hostile: no model in the archive");
    wfile none[2] = { { NULL, "config.json", "{\"a\":1}", 7 }, { NULL, "README", "hello\n", 6 } };
    CHECK(write_archive(tp("none.zip"), "zip", none, 2) == 0, "write");
    expect_fail(tp("none.zip"), NULL, "archive holds no model file", &e);
    CHECK(write_archive(tp("empty.zip"), "zip", none, 0) == 0, "write empty");
    expect_fail(tp("empty.zip"), NULL, "archive holds no model file", &e);
    tap_end();

    tap_begin("no model: a git-lfs pointer named model.safetensors says so");
    static const char lfs[] = "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 12\n";
    wfile lf = { NULL, "repo/model.safetensors", lfs, sizeof lfs - 1 };
    CHECK(write_archive(tp("lfs.zip"), "zip", &lf, 1) == 0, "write");
    expect_fail(tp("lfs.zip"), NULL, "git-lfs pointer", &e);
    wfile lb = { NULL, "repo/pytorch_model.bin", lfs, sizeof lfs - 1 };
    CHECK(write_archive(tp("lfs.tar"), "pax", &lb, 1) == 0, "write");
    expect_fail(tp("lfs.tar"), NULL, "archive holds no model file: entry 'repo/pytorch_model.bin' is a git-lfs pointer", &e);
    tap_end();

    tap_begin("hostile: two models and no index");
    wfile two[2] = { { NULL, "a.safetensors", st, stn }, { NULL, "b.safetensors", st, stn } };
    CHECK(write_archive(tp("two.tar"), "pax", two, 2) == 0, "write");
    expect_fail(tp("two.tar"), NULL, "2 model files", &e);
    tap_end();

    tap_begin("hostile: more entries than max_entries");
    {
        lb_archive_limits few = lb_archive_default_limits();
        few.max_entries = 1;
        expect_fail(tp("two.tar"), &few, "more than 1 entries", &e);
    }
    tap_end();

    tap_begin("hostile: a small model reads from a pax tar in place");
    wfile one = { NULL, "./dir/model.safetensors", st, stn };
    CHECK(write_archive(tp("one.tar"), "pax", &one, 1) == 0, "write");
    lb_model *m = NULL;
    lb_archive_stats s;
    CHECK(open_arc(&m, tp("one.tar"), NULL, &s, &e) == LB_OK, "%s", e.msg);
    CHECK(m && m->n_tensors == 1 && all_kind(m, LB_SRC_SUB), "one tensor in place");
    lb_model_close(m);
    tap_end();

    /* truncations of a compressed and a plain tar */
    tap_begin("hostile: truncated .tar.gz and .tar");
    if (shared) {
        CHECK(run("tar -C '%s/hf' -czf '%s' stories260K-llama && head -c 300000 '%s' > '%s'", models,
                  tp("t.tgz"), tp("t.tgz"), tp("trunc.tgz")) == 0, "make");
        expect_fail(tp("trunc.tgz"), NULL, "", &e);
        printf("INFO truncated .tar.gz: %s %s\n", e.item, e.msg);
        CHECK(run("tar -C '%s/hf' -cf '%s' stories260K-llama && head -c 700000 '%s' > '%s'", models,
                  tp("t.tar"), tp("t.tar"), tp("trunc.tar")) == 0, "make");
        expect_fail(tp("trunc.tar"), NULL, "", &e);
        printf("INFO truncated .tar: %s %s\n", e.item, e.msg);
    } else {
        CHECK(write_archive(tp("t.tgz"), "pax-gz", &one, 1) == 0, "write");
        CHECK(run("head -c 100 '%s' > '%s'", tp("t.tgz"), tp("trunc.tgz")) == 0, "make");
        expect_fail(tp("trunc.tgz"), NULL, "", &e);
    }
    tap_end();

    tap_begin("hostile: tar header declaring 1 TiB of data");
    {
        /* a ustar header whose size field claims 2^40 bytes, then 1 KiB of data and EOF */
        uint8_t blk[512 * 4];
        memset(blk, 0, sizeof blk);
        strcpy((char *)blk, "model.safetensors");
        memcpy(blk + 100, "0000644", 7);
        memcpy(blk + 108, "0000000", 7);
        memcpy(blk + 116, "0000000", 7);
        memcpy(blk + 124, "20000000000", 11);     /* octal 2^40 */
        memcpy(blk + 136, "00000000000", 11);
        blk[156] = '0';
        memcpy(blk + 257, "ustar\0" "00", 8);
        memset(blk + 148, ' ', 8);
        unsigned sum = 0;
        for (int i = 0; i < 512; i++) sum += blk[i];
        snprintf((char *)blk + 148, 8, "%06o", sum);
        memcpy(blk + 512, st, stn < 1024 ? stn : 1024);
        FILE *fp = fopen(tp("huge.tar"), "wb");
        fwrite(blk, 1, sizeof blk, fp);
        fclose(fp);
        CHECK(lb_archive_bid(blk, sizeof blk, sizeof blk) == LB_ARCHIVE_BID_TAR, "bid on the crafted header");
        expect_fail(tp("huge.tar"), NULL, "", &e);
        printf("INFO 1 TiB tar entry: %s %s\n", e.item, e.msg);
    }
    tap_end();

    tap_begin("no usable $TMPDIR: an i/o error naming it");
    {
        char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
        setenv("TMPDIR", "/nonexistent-lowbit-dir", 1);
        CHECK(write_archive(tp("t1.tgz"), "pax-gz", &one, 1) == 0, "write");
        lb_model *tm = NULL;
        int rc = lb_model_open(&tm, tp("t1.tgz"), &e);
        lb_model_close(tm);
        CHECK(rc == LB_EIO && strstr(e.msg, "/nonexistent-lowbit-dir"), "rc %d: %s", rc, e.msg);
        if (old) setenv("TMPDIR", old, 1); else unsetenv("TMPDIR");
        free(old);
    }
    tap_end();

    tap_begin("hostile: entry beyond the temporary-copy cap (declared size checked first)");
    lb_archive_limits lim = lb_archive_default_limits();
    lim.max_temp_bytes = 100000;
    if (shared && !run("tar -C '%s/hf' -czf '%s' stories260K-llama", models, tp("cap.tgz"))) {
        lb_archive_stats cs;
        lb_model *cm = NULL;
        int rc = open_arc(&cm, tp("cap.tgz"), &lim, &cs, &e);
        lb_model_close(cm);
        CHECK(rc == LB_EFORMAT && strstr(e.msg, "100000-byte cap"), "rc %d: %s", rc, e.msg);
        CHECK(cs.copied_bytes == 0, "copied %llu bytes before refusing", (unsigned long long)cs.copied_bytes);
        /* the process-wide limits are what lb_model_open uses */
        lb_archive_set_limits(&lim);
        rc = lb_model_open(&cm, tp("cap.tgz"), &e);
        lb_model_close(cm);
        CHECK(rc == LB_EFORMAT && strstr(e.msg, "100000-byte cap"), "set_limits ignored: rc %d %s", rc, e.msg);
        lb_archive_set_limits(NULL);
        rc = lb_model_open(&cm, tp("cap.tgz"), &e);
        lb_model_close(cm);
        CHECK(rc == LB_OK, "defaults not restored: %s", e.msg);
    } else {
        CHECK(1, "no shared models");
    }
    tap_end();

    tap_begin("hostile: zip-bomb-like entry (64 MiB of zeros, 64 KiB compressed) refused before copying");
    {
        size_t big = 64u << 20;
        uint8_t *bomb = calloc(1, big);
        size_t hn = tiny_st(bomb, big, (big - 128) / 4, 0);
        (void)hn;
        /* header claims (big-128)/4 floats; pad the header so data fills the entry exactly */
        wfile b = { NULL, "model.safetensors", bomb, big };
        CHECK(write_archive(tp("bomb.zip"), "zip", &b, 1) == 0, "write");
        free(bomb);
        struct stat sz;
        stat(tp("bomb.zip"), &sz);
        CHECK(sz.st_size < (1 << 20), "zip is %lld bytes", (long long)sz.st_size);
        lb_archive_limits l2 = lb_archive_default_limits();
        l2.max_temp_bytes = 8u << 20;
        lb_archive_stats bs;
        lb_model *bm = NULL;
        int rc = open_arc(&bm, tp("bomb.zip"), &l2, &bs, &e);
        lb_model_close(bm);
        CHECK(rc == LB_EFORMAT && strstr(e.msg, "cap"), "rc %d: %s", rc, e.msg);
        CHECK(bs.copied_bytes == 0, "copied %llu bytes", (unsigned long long)bs.copied_bytes);
        printf("INFO zip bomb: %s %s\n", e.item, e.msg);
    }
    tap_end();

    tap_begin("hostile: zip entry inflating past its declared size");
    {
        size_t big = 4u << 20;
        uint8_t *z = calloc(1, big);
        tiny_st(z, big, (big - 64) / 4, 0);
        wfile b = { NULL, "model.safetensors", z, big };
        CHECK(write_archive(tp("liar.zip"), "zip", &b, 1) == 0, "write");
        free(z);
        /* shrink the declared uncompressed size to 5000 in the local header, the data
         * descriptor and the central directory */
        void *d = NULL;
        size_t n = 0;
        CHECK(file_bytes(tp("liar.zip"), &d, &n) == 0, "read back");
        uint8_t *p = d;
        int patched = 0;
        for (size_t i = 0; i + 46 <= n; i++) {
            size_t at = !memcmp(p + i, "PK\1\2", 4) ? 24 : !memcmp(p + i, "PK\3\4", 4) ? 22
                      : !memcmp(p + i, "PK\7\10", 4) ? 12 : 0;
            if (at && lb_ld32(p + i + at) == big) { lb_st32(p + i + at, 5000); patched++; }
        }
        CHECK(patched == 3, "patched %d size fields, want 3", patched);
        FILE *f = fopen(tp("liar.zip"), "wb");
        fwrite(d, 1, n, f);
        fclose(f);
        free(d);
        lb_archive_stats ls;
        lb_model *lm = NULL;
        int rc = open_arc(&lm, tp("liar.zip"), NULL, &ls, &e);
        lb_model_close(lm);
        CHECK(rc == LB_EFORMAT, "rc %d", rc);
        CHECK(ls.copied_bytes == 0, "kept %llu bytes", (unsigned long long)ls.copied_bytes);
        printf("INFO lying zip: %s %s\n", e.item, e.msg);
    }
    tap_end();

    tap_begin("zip-format rule: torch checkpoints declined with a clear message, .npz handed to its reader");
    wfile tz[2] = { { NULL, "archive/data.pkl", "\x80\x02}q\x00.", 6 }, { NULL, "archive/data/0", st, stn } };
    CHECK(write_archive(tp("torch.zip"), "zip-store", tz, 2) == 0, "write");
    expect_fail(tp("torch.zip"), NULL, "PyTorch zip checkpoint", &e);
    if (shared) {
        char p[2048];
        snprintf(p, sizeof p, "%s/hf/stories260K-llama/pytorch_model.bin", models);
        expect_fail(p, NULL, "PyTorch zip checkpoint", &e);
        printf("INFO pytorch_model.bin: %s\n", e.msg);
    }
    if (shared) {
        /* an .npz goes to the npz reader: by its higher bid, and when handed to the archive
         * module directly (zip_kinds[] names the "npz" format) */
        char p[2048];
        snprintf(p, sizeof p, "%s/numpy/candle-test.npz", models);
        lb_model *nm = NULL;
        int rc = lb_model_open(&nm, p, &e);
        CHECK(rc == LB_OK && !strcmp(nm->format, "npz") && nm->n_tensors == 2, "npz by bid: rc %d %s", rc, e.msg);
        lb_model_close(nm);
        lb_archive_stats ns;
        rc = open_arc(&nm, p, NULL, &ns, &e);
        CHECK(rc == LB_OK && !strcmp(nm->format, "npz") && nm->n_tensors == 2, "npz handed over: rc %d %s", rc, e.msg);
        lb_model_close(nm);
    }
    /* not every entry a .npy (and the first not one): an archive holding a model */
    wfile mixed[2] = { { NULL, "model.safetensors", st, stn }, { NULL, "x.npy", "\x93NUMPY", 6 } };
    CHECK(write_archive(tp("mixed.zip"), "zip", mixed, 2) == 0, "write");
    lb_model *mm = NULL;
    CHECK(lb_model_open(&mm, tp("mixed.zip"), &e) == LB_OK && mm->n_tensors == 1, "a zip with .npy and a model: %s", e.msg);
    lb_model_close(mm);
    /* the same entries in a tar are not a torch zip: no model there */
    CHECK(write_archive(tp("torch.tar"), "pax", tz, 1) == 0, "write");
    expect_fail(tp("torch.tar"), NULL, "no model file", &e);
    tap_end();

    tap_begin("hostile: index that is not JSON, and shard names with folders");
    wfile bi[2] = { { NULL, "model.safetensors.index.json", "{not json", 9 }, { NULL, "a.safetensors", st, stn } };
    CHECK(write_archive(tp("badix.zip"), "zip", bi, 2) == 0, "write");
    expect_fail(tp("badix.zip"), NULL, "not valid JSON", &e);
    static const char ixj[] = "{\"weight_map\":{\"w\":\"../a.safetensors\"}}";
    wfile bj[2] = { { NULL, "d/model.safetensors.index.json", ixj, sizeof ixj - 1 }, { NULL, "a.safetensors", st, stn } };
    CHECK(write_archive(tp("badsh.tar"), "pax", bj, 2) == 0, "write");
    expect_fail(tp("badsh.tar"), NULL, "not a plain file name", &e);
    tap_end();
}

static void test_sidecar(void)
{
    tap_begin("sidecar: config.json and tokenizer.model beside the model inside the archive");
    lb_model *m = NULL;
    lb_err e;
    int rc = lb_model_open(&m, tp("f.tar.gz"), &e);
    CHECK(rc == LB_OK, "open: %s", e.msg);
    if (!m) { tap_end(); return; }
    CHECK(lb_archive_model_is(m), "not seen as from an archive");
    static const char *const names[] = { "config.json", "tokenizer.model" };
    for (int i = 0; i < 2; i++) {
        void *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        char p[2048];
        snprintf(p, sizeof p, "%s/hf/stories260K-llama/%s", models, names[i]);
        rc = lb_archive_sidecar(m, names[i], 1 << 20, &a, &na, &e);
        CHECK(rc == LB_OK, "%s: %s", names[i], e.msg);
        CHECK(file_bytes(p, &b, &nb) == 0 && na == nb && a && memcmp(a, b, na) == 0, "%s: %zu bytes vs %zu",
              names[i], na, nb);
        free(a);
        free(b);
    }
    void *d = NULL;
    size_t n;
    CHECK(lb_archive_sidecar(m, "nope.json", 1 << 20, &d, &n, &e) == LB_EFORMAT &&
          strstr(e.msg, "no entry 'stories260K-llama/nope.json'"), "missing: %s", e.msg);
    CHECK(lb_archive_sidecar(m, "tokenizer.model", 100, &d, &n, &e) == LB_EFORMAT && strstr(e.msg, "limit") && !d,
          "limit: %s", e.msg);
    lb_model_close(m);
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/hf/stories260K-llama", models);
    CHECK(lb_model_open(&m, dir, &e) == LB_OK && !lb_archive_model_is(m) &&
          lb_archive_sidecar(m, "config.json", 1 << 20, &d, &n, &e) == LB_EUSAGE, "a plain folder is not an archive");
    lb_model_close(m);
    tap_end();
}

/* The fuzz seed corpus doubles as a table of small archives with known outcomes. */
static void test_corpus(void)
{
    const char *root = getenv("LOWBIT_ROOT");
    if (!root) { tap_skip("corpus: seed archives open as expected", "LOWBIT_ROOT not set (run through tests/run.sh)"); return; }
    static const struct { const char *file; size_t tensors; const char *err; } c[] = {
        { "single.tar", 2, NULL }, { "single.tar.xz", 2, NULL }, { "single.tar.zst", 2, NULL },
        { "single.zip", 2, NULL }, { "stored.zip", 2, NULL }, { "single.7z", 2, NULL },
        { "single.safetensors.zst", 2, NULL }, { "sharded.tar.gz", 2, NULL },
        { "evil.tar", 0, "unsafe name" }, { "none.zip", 0, "no model file" },
        { "torch.zip", 0, "PyTorch zip checkpoint" }, { "numpy.npz", 2, NULL },
    };
    tap_begin("corpus: seed archives open as expected");
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        char p[2048];
        snprintf(p, sizeof p, "%s/tests/fuzz/corpus/archive/%s", root, c[i].file);
        lb_model *m = NULL;
        lb_err e;
        lb_err_clear(&e);
        int rc = lb_model_open(&m, p, &e);
        if (c[i].err)
            CHECK(rc == LB_EFORMAT && strstr(e.msg, c[i].err), "%s: rc %d %s", c[i].file, rc, e.msg);
        else
            CHECK(rc == LB_OK && m->n_tensors == c[i].tensors, "%s: rc %d %s", c[i].file, rc, e.msg);
        lb_model_close(m);
    }
    tap_end();
}

int main(void)
{
    const char *base = getenv("LOWBIT_TMP");
    snprintf(tmp, sizeof tmp, "%s/archive.XXXXXX", base && *base ? base : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp"));
    if (!mkdtemp(tmp)) { printf("FAIL setup: cannot make a temporary folder\n"); return 1; }
    shared = tap_shared();
    if (shared) snprintf(models, sizeof models, "%s/models", shared);

    test_src_sub();
    test_src_tmp();
    test_bid();
    if (shared) {
        test_folder();
        test_sidecar();
        test_single();
        test_sharded();
    } else {
        tap_skip("archives of shared models", "../shared not found (set LOWBIT_SHARED)");
    }
    test_hostile();
    test_corpus();
    run("rm -rf '%s'", tmp);
    TAP_EXIT();
}
