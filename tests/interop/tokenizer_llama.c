/* tokenizer_llama.c: does the real llama.cpp tokenize with lowbit's tokenizer kvs exactly as
 * with its own converter's?
 *
 * For each case lowbit reads a tokenizer (lb_tokenizer_load), writes a vocab-only GGUF with
 * its own GGUF writer (the non-tokenizer kvs, general.architecture and the arch's keys, are
 * copied from llama.cpp's reference file, whose tokenizer.* kvs are dropped), llama.cpp loads
 * it (vocab_only) and tokenizes every case of llama.cpp's test vectors (.inp cases separated
 * by "\n__ggml_vocab_test__\n", .out one line of ids per case, read as
 * tests/test-tokenizer-0.cpp reads them; add_special = parse_special = false). Where the
 * reference has no .out (stories260K), the reference file itself is tokenized and the ids
 * must be equal. The reference files are run through the same harness first, so a broken
 * harness cannot pass.
 *
 * usage: tokenizer_llama TMPDIR SHARED LIBDIR   prints PASS/FAIL/SKIP/INFO lines */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "llama.h"

#include "lb_model.h"
#include "lb_tokenizer.h"
#include "lb_writer.h"
#include "tok_internal.h"

static int failed;

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR && getenv("LOWBIT_VERBOSE")) fputs(text, stderr);
}

/* ---- test vectors ------------------------------------------------------------------------ */

typedef struct tcase { char *text; size_t len; int32_t *ids; int n_ids; } tcase;

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[sz] = 0; *n = (size_t)sz; }
    return b;
}

/* As test-tokenizer-0.cpp: inputs split on the separator (the rest after the last one, if
 * any, is one more case), outputs one line each, stripped, ids separated by ' '. */
static int read_cases(const char *inp, const char *out, tcase **cases)
{
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t ni, no;
    char *si = slurp(inp, &ni), *so = slurp(out, &no);
    int n = 0, cap = 64, nl = 0;
    tcase *c = calloc((size_t)cap, sizeof *c);
    if (!si || !so || !c) { free(si); free(so); free(c); return -1; }
    for (size_t pos = 0; pos < ni && n < cap;) {
        char *next = strstr(si + pos, sep);
        size_t end = next ? (size_t)(next - si) : ni;
        c[n].len = end - pos;
        c[n].text = malloc(c[n].len + 1);
        memcpy(c[n].text, si + pos, c[n].len);
        c[n].text[c[n].len] = 0;
        n++;
        if (!next) break;
        pos = end + sizeof sep - 1;
    }
    char *line = so;
    for (; nl < n && line < so + no; nl++) {
        char *e = strchr(line, '\n');
        if (e) *e = 0;
        c[nl].ids = malloc(sizeof(int32_t) * (strlen(line) / 2 + 2));
        for (char *p = line; *p;) {
            char *q;
            long v = strtol(p, &q, 10);
            if (q == p) { p++; continue; }
            c[nl].ids[c[nl].n_ids++] = (int32_t)v;
            p = q;
        }
        line = e ? e + 1 : so + no;
    }
    free(si);
    free(so);
    if (nl != n) {
        fprintf(stderr, "%s: %d inputs, %d outputs\n", inp, n, nl);
        for (int i = 0; i < n; i++) { free(c[i].text); free(c[i].ids); }
        free(c);
        return -1;
    }
    *cases = c;
    return n;
}

static void free_cases(tcase *c, int n)
{
    for (int i = 0; c && i < n; i++) { free(c[i].text); free(c[i].ids); }
    free(c);
}

/* ---- writing the vocab-only GGUF ------------------------------------------------------------ */

static int write_vocab(const char *path, const char *ref, const lb_kv *tok, size_t n_tok, char *why, size_t nw)
{
    lb_model *m = NULL;
    lb_err e;
    char eb[600];
    if (lb_model_open(&m, ref, &e)) { snprintf(why, nw, "open %.200s: %.500s", ref, lb_err_str(&e, eb, sizeof eb)); return -1; }
    lb_kv *kv = calloc(m->n_kv + n_tok + 1, sizeof *kv);
    size_t n = 0;
    for (size_t i = 0; kv && i < m->n_kv; i++) {
        if (strncmp(m->kv[i].key, "tokenizer.", 10) == 0) continue;
        kv[n].key = m->kv[i].key;
        kv[n].val = m->kv[i].val;   /* borrowed until the writer is done */
        n++;
    }
    for (size_t i = 0; kv && i < n_tok; i++) kv[n++] = tok[i];
    lb_out *out = NULL;
    lb_writer *w = NULL;
    int rc = !kv ? -1 : lb_out_open(&out, path, LB_OUT_FORCE, &e);
    if (!rc) rc = lb_writer_begin(&w, &lb_gguf_writer_ops, out, kv, n, NULL, 0, &e);
    if (!rc) rc = lb_writer_end(w, &e);
    if (!rc) rc = lb_out_commit(out, &e);
    else lb_out_abort(out);
    if (rc) snprintf(why, nw, "write %.200s: %.500s", path, lb_err_str(&e, eb, sizeof eb));
    free(kv);
    lb_model_close(m);
    return rc ? -1 : 0;
}

/* ---- tokenizing with llama.cpp ------------------------------------------------------------- */

static struct llama_model *load_vocab(const char *path)
{
    struct llama_model_params p = llama_model_default_params();
    p.vocab_only = true;
    return llama_model_load_from_file(path, p);
}

static int add_special;   /* second pass against a reference model: BOS/EOS flags too */

static int tokenize(const struct llama_model *m, const tcase *c, int32_t *out, int cap)
{
    return llama_tokenize(llama_model_get_vocab(m), c->text, (int32_t)c->len, out, cap, add_special, false);
}

/* Every case tokenizes to its ids (from .out, or from the reference model ref). */
static int check_cases(const char *name, struct llama_model *m, struct llama_model *ref, tcase *c, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int cap = (int)c[i].len + 16;
        int32_t *a = malloc(sizeof *a * (size_t)cap), *b = malloc(sizeof *b * (size_t)cap);
        int na = tokenize(m, &c[i], a, cap), nb = c[i].n_ids;
        if (ref) nb = tokenize(ref, &c[i], b, cap);
        else memcpy(b, c[i].ids, sizeof *b * (size_t)nb);
        if (na != nb || memcmp(a, b, sizeof *a * (size_t)(na > 0 ? na : 0)) != 0) {
            if (!bad) {
                printf("FAIL %s: case %d (%.40s...): %d ids, want %d (first %d vs %d)\n", name, i, c[i].text, na, nb,
                       na > 0 ? a[0] : -1, nb > 0 ? b[0] : -1);
                failed++;
            }
            bad++;
        }
        free(a);
        free(b);
    }
    if (!bad) printf("PASS %s (%d cases)\n", name, n);
    fflush(stdout);
    return bad;
}

/* Every pre name lowbit's table can write is accepted by llama.cpp's loader (the gpt-2
 * vocabulary written with each of them). */
static void check_pre_names(const char *tmp, const char *shared)
{
    char dir[1200], ref[1200], path[1200], why[800];
    snprintf(dir, sizeof dir, "%s/models/hf/tiny-gpt2-random", shared);
    snprintf(ref, sizeof ref, "%s/models/gguf/ggml-vocab-gpt-2.gguf", shared);
    int bad = 0, n = 0;
    for (size_t i = 0; tok_bpe_pre_row(i); i++, n++) {
        const char *name = tok_bpe_pre_row(i);
        lb_tok_opts o = { name, NULL, -1 };
        lb_kv *kv = NULL;
        size_t nkv = 0;
        lb_err e;
        struct llama_model *m = NULL;
        snprintf(path, sizeof path, "%s/pre-%zu.gguf", tmp, i);
        if (lb_tokenizer_load(dir, &o, &kv, &nkv, &e) || write_vocab(path, ref, kv, nkv, why, sizeof why) ||
            !(m = load_vocab(path))) {
            if (!bad) printf("FAIL tokenizer-interop pre names: llama.cpp does not load a vocabulary with pre '%s'\n", name);
            bad++;
        }
        if (m) llama_model_free(m);
        lb_kv_array_free(kv, nkv);
        remove(path);
    }
    if (bad) failed++;
    else printf("PASS tokenizer-interop pre names: llama.cpp loads all %d names the table writes\n", n);
}

typedef struct icase {
    const char *name;
    const char *dir, *file;      /* lb_tokenizer_load input, relative to SHARED/models */
    const char *ref;             /* llama.cpp's reference GGUF */
    int has_out;                 /* ref.inp/.out exist (else: compare with ref's tokenization) */
} icase;

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: tokenizer_llama TMPDIR SHARED LIBDIR\n"); return 2; }
    const char *tmp = argv[1], *shared = argv[2], *libdir = argv[3];
    llama_log_set(quiet, NULL);
    ggml_backend_load_all_from_path(libdir);
    llama_backend_init();
    static const icase cases[] = {
        { "tokenizer-interop spm llama2c/tokenizer.model", NULL, "llama2c/tokenizer.model", "gguf/ggml-vocab-llama-spm.gguf", 1 },
        { "tokenizer-interop llama2c tokenizer.bin", NULL, "llama2c/tokenizer.bin", "gguf/ggml-vocab-llama-spm.gguf", 1 },
        { "tokenizer-interop bpe tiny-gpt2-random/tokenizer.json", "hf/tiny-gpt2-random", NULL, "gguf/ggml-vocab-gpt-2.gguf", 1 },
        { "tokenizer-interop spm stories260K-llama (vs stories260K.gguf)", "hf/stories260K-llama", NULL, "gguf/stories260K.gguf", 0 },
    };
    char inp[1200], outp[1300], ref[1200], dir[1200], file[1200], path[1200], why[800];
    /* the inputs: the llama-spm vectors (the three .inp files are identical) */
    snprintf(inp, sizeof inp, "%s/models/gguf/ggml-vocab-llama-spm.gguf.inp", shared);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const icase *ic = &cases[k];
        snprintf(ref, sizeof ref, "%s/models/%s", shared, ic->ref);
        /* without its own .out, the llama-spm one only gives the case count */
        if (ic->has_out) snprintf(outp, sizeof outp, "%s.out", ref);
        else snprintf(outp, sizeof outp, "%s/models/gguf/ggml-vocab-llama-spm.gguf.out", shared);
        tcase *tc = NULL;
        int n = read_cases(inp, outp, &tc);
        if (n <= 0) { printf("FAIL %s: cannot read %s / %s\n", ic->name, inp, outp); failed++; continue; }
        /* lowbit's kvs */
        lb_kv *kv = NULL;
        size_t nkv = 0;
        lb_err e;
        char eb[600];
        if (ic->dir) snprintf(dir, sizeof dir, "%s/models/%s", shared, ic->dir);
        if (ic->file) snprintf(file, sizeof file, "%s/models/%s", shared, ic->file);
        lb_tok_opts o = { NULL, ic->file ? file : NULL, -1 };
        if (lb_tokenizer_load(ic->dir ? dir : NULL, &o, &kv, &nkv, &e)) {
            printf("FAIL %s: lb_tokenizer_load: %s\n", ic->name, lb_err_str(&e, eb, sizeof eb));
            failed++;
            free_cases(tc, n);
            continue;
        }
        snprintf(path, sizeof path, "%s/vocab-%zu.gguf", tmp, k);
        struct llama_model *mref = load_vocab(ref), *mine = NULL;
        if (!mref) { printf("FAIL %s: llama.cpp cannot load the reference %s\n", ic->name, ref); failed++; }
        else if (write_vocab(path, ref, kv, nkv, why, sizeof why)) { printf("FAIL %s: %s\n", ic->name, why); failed++; }
        else if (!(mine = load_vocab(path))) { printf("FAIL %s: llama.cpp refuses lowbit's vocab file\n", ic->name); failed++; }
        else {
            /* harness check on the reference, then lowbit's vocabulary */
            char hname[300];
            snprintf(hname, sizeof hname, "%s: harness on %s", ic->name, ic->ref);
            if (ic->has_out) check_cases(hname, mref, NULL, tc, n);
            check_cases(ic->name, mine, ic->has_out ? NULL : mref, tc, n);
            if (!ic->has_out) {   /* the special-token kvs: add_bos/bos id as the reference */
                char sname[300];
                snprintf(sname, sizeof sname, "%s with add_special", ic->name);
                add_special = 1;
                check_cases(sname, mine, mref, tc, n);
                add_special = 0;
            }
            printf("INFO %s: vocab %d tokens\n", ic->name, llama_vocab_n_tokens(llama_model_get_vocab(mine)));
        }
        if (mine) llama_model_free(mine);
        if (mref) llama_model_free(mref);
        lb_kv_array_free(kv, nkv);
        free_cases(tc, n);
        fflush(stdout);
    }
    check_pre_names(tmp, shared);
    llama_backend_free();
    return failed ? 1 : 0;
}
