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
 * Then the pre-tokenizer round trips below (check_upstream_vocabs), over the vocab files of
 * llama.cpp's source tree (REFSRC/models).
 *
 * usage: tokenizer_llama TMPDIR SHARED LIBDIR REFSRC   prints PASS/FAIL/SKIP/INFO lines */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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

/* ---- pre-tokenizer round trips over llama.cpp's own vocab files ------------------------------ *
 * llama.cpp's source ships ggml-vocab-<name>.gguf + .inp/.out for several BPE vocabularies, but
 * not their tokenizer.json. Rebuild one from the GGUF (model.vocab from the NORMAL tokens,
 * added_tokens from CONTROL/USER_DEFINED, the merges) with the pre_tokenizer the upstream
 * tokenizer.json declares, convert it with lowbit, and llama.cpp must tokenize every case
 * as the .out says: the BPE path and the pre-tokenizer table together. */

static cJSON *jsplit(const char *re)
{
    cJSON *o = cJSON_CreateObject(), *pat = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "Split");
    cJSON_AddStringToObject(pat, "Regex", re);
    cJSON_AddItemToObject(o, "pattern", pat);
    cJSON_AddStringToObject(o, "behavior", "Isolated");
    cJSON_AddFalseToObject(o, "invert");
    return o;
}

static cJSON *jbytelevel(int use_regex)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddFalseToObject(o, "add_prefix_space");
    cJSON_AddTrueToObject(o, "trim_offsets");
    cJSON_AddBoolToObject(o, "use_regex", use_regex);
    return o;
}

static cJSON *jdigits(int individual)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "Digits");
    cJSON_AddBoolToObject(o, "individual_digits", individual);
    return o;
}

static cJSON *jseq(cJSON **items)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "type", "Sequence");
    for (; *items; items++) cJSON_AddItemToArray(a, *items);
    cJSON_AddItemToObject(o, "pretokenizers", a);
    return o;
}

#define CJK_SPLIT "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+"

/* The pre_tokenizer of the upstream tokenizer.json for vocab `name`. */
static cJSON *upstream_pre(const char *name)
{
    if (!strcmp(name, "llama-bpe"))
        return jseq((cJSON *[]){ jsplit("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
                                 jbytelevel(0), NULL });
    if (!strcmp(name, "qwen2"))
        return jseq((cJSON *[]){ jsplit("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
                                 jbytelevel(0), NULL });
    if (!strcmp(name, "qwen35"))
        return jseq((cJSON *[]){ jsplit("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
                                 jbytelevel(0), NULL });
    if (!strcmp(name, "mpt"))
        return jbytelevel(1);
    if (!strcmp(name, "deepseek-coder"))   /* raw CR/LF in the first split, as some files have */
        return jseq((cJSON *[]){ jsplit("[\r\n]"), jsplit("\\s?\\p{L}+"), jsplit("\\s?\\p{P}+"), jsplit(CJK_SPLIT),
                                 jdigits(1), jbytelevel(0), NULL });
    if (!strcmp(name, "deepseek-llm"))
        return jseq((cJSON *[]){ jsplit("[\\r\\n]"),
            jsplit("\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf\xc7\x84-\xca\x93\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5\xcf\xb7-\xd2\x81\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85\xe1\x8e\xa0-\xe1\x8f\xb5\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf\xe1\xb4\x80-\xe1\xb4\xab\xe1\xb5\xab-\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-\xe1\xbc\x95\xe1\xbc\x98-\xe1\xbc\x9d\xe1\xbc\xa0-\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d\xe1\xbd\x90-\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d\xe1\xbd\x9f-\xe1\xbd\xbd\xe1\xbe\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84\xe1\xbf\x86-\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93\xe1\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-\xe1\xbf\xac\xe1\xbf\xb2-\xe1\xbf\xb4\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-\xe2\x84\x9d\xe2\x84\xa4\xe2\x84\xa6\xe2\x84\xa8\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4\xe2\x84\xb9\xe2\x84\xbc-\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-\xe2\xb1\xbb\xe2\xb1\xbe-\xe2\xb3\xa4\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3\xea\x99\x80-\xea\x99\xad\xea\x9a\x80-\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf\xea\x9d\xb1-\xea\x9e\x87\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-\xef\xac\x86\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a\xf0\x90\x90\x80-\xf0\x90\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93\xf0\x90\x93\x98-\xf0\x90\x93\xbb\xf0\x90\xb2\x80-\xf0\x90\xb2\xb2\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-\xf0\x91\xa3\x9f\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+"),
            jsplit("\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f\xe3\x80\x80-\xe3\x80\x82]+"),
            jsplit("\\s+$"), jsplit(CJK_SPLIT), jdigits(0), jbytelevel(0), NULL });
    if (!strcmp(name, "falcon")) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "Punctuation");
        cJSON_AddStringToObject(p, "behavior", "Contiguous");
        return jseq((cJSON *[]){ p, jbytelevel(1), jdigits(0), jsplit("[0-9][0-9][0-9]"), NULL });
    }
    if (!strcmp(name, "starcoder") || !strcmp(name, "refact"))
        return jseq((cJSON *[]){ jdigits(1), jbytelevel(1), NULL });
    return NULL;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* tokenizer.json (+ config.json, tokenizer_config.json) rebuilt from the vocab GGUF ref. */
static int rebuild_folder(const char *dir, const char *ref, const char *name, char *why, size_t nw)
{
    lb_model *m = NULL;
    lb_err e;
    if (lb_model_open(&m, ref, &e)) { snprintf(why, nw, "cannot open %.300s", ref); return -1; }
    const lb_kv *tk = lb_model_kv(m, "tokenizer.ggml.tokens"), *ty = lb_model_kv(m, "tokenizer.ggml.token_type");
    const lb_kv *mg = lb_model_kv(m, "tokenizer.ggml.merges");
    if (!tk || !ty || !mg || tk->val.n != ty->val.n) { lb_model_close(m); snprintf(why, nw, "no vocabulary in %.300s", ref); return -1; }
    cJSON *root = cJSON_CreateObject(), *added = cJSON_CreateArray(), *model = cJSON_CreateObject();
    cJSON *vocab = cJSON_CreateObject(), *merges = cJSON_CreateArray();
    for (uint64_t i = 0; i < tk->val.n; i++) {
        const char *t = tk->val.v.arr[i].v.s;
        int64_t type = ty->val.v.arr[i].v.i;
        if (type == 5) continue;                       /* [PAD<id>]: lowbit recreates it */
        if (type == 3 || type == 4) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", (double)i);
            cJSON_AddStringToObject(a, "content", t);
            cJSON_AddBoolToObject(a, "special", type == 3);
            cJSON_AddItemToArray(added, a);
        } else {
            cJSON_AddItemToObject(vocab, t, cJSON_CreateNumber((double)i));
        }
    }
    for (uint64_t i = 0; i < mg->val.n; i++) cJSON_AddItemToArray(merges, cJSON_CreateString(mg->val.v.arr[i].v.s));
    cJSON_AddItemToObject(root, "added_tokens", added);
    if (!strcmp(name, "qwen2") || !strcmp(name, "qwen35")) {
        cJSON *nfc = cJSON_CreateObject();
        cJSON_AddStringToObject(nfc, "type", "NFC");
        cJSON_AddItemToObject(root, "normalizer", nfc);
    } else {
        cJSON_AddNullToObject(root, "normalizer");
    }
    cJSON_AddItemToObject(root, "pre_tokenizer", upstream_pre(name));
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON_AddItemToObject(model, "merges", merges);
    cJSON_AddItemToObject(root, "model", model);
    char *text = cJSON_PrintUnformatted(root), cfg[64];
    snprintf(cfg, sizeof cfg, "{\"vocab_size\": %llu}", (unsigned long long)tk->val.n);
    int rc = !text || write_text(dir, "tokenizer.json", text) || write_text(dir, "config.json", cfg) ||
             write_text(dir, "tokenizer_config.json", "{\"clean_up_tokenization_spaces\": true}");
    if (rc) snprintf(why, nw, "cannot write %.300s/tokenizer.json", dir);
    free(text);
    cJSON_Delete(root);
    lb_model_close(m);
    return rc ? -1 : 0;
}

static void check_upstream_vocabs(const char *tmp, const char *refdir)
{
    /* name in llama.cpp's models/, the pre name lowbit must pick */
    static const char *const names[][2] = {
        { "llama-bpe", "llama-bpe" }, { "qwen2", "qwen2" }, { "deepseek-llm", "deepseek-llm" },
        { "deepseek-coder", "deepseek-coder" }, { "falcon", "falcon" }, { "starcoder", "starcoder" },
        { "refact", "starcoder" },   /* same regexes as starcoder in llama.cpp */
        { "qwen35", "qwen35" }, { "mpt", "gpt-2" },   /* mpt = gpt-2's regex */
    };
    char ref[1400], inp[1500], outp[1500], dir[1400], path[1400], why[800], name[300];
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        snprintf(name, sizeof name, "tokenizer-interop pre round trip %s", names[k][0]);
        snprintf(ref, sizeof ref, "%s/models/ggml-vocab-%s.gguf", refdir, names[k][0]);
        snprintf(inp, sizeof inp, "%s.inp", ref);
        snprintf(outp, sizeof outp, "%s.out", ref);
        tcase *tc = NULL;
        int n = read_cases(inp, outp, &tc);
        if (n <= 0) { printf("SKIP %s: %s not in the reference source\n", name, ref); continue; }
        snprintf(dir, sizeof dir, "%s/up-%zu", tmp, k);
        snprintf(path, sizeof path, "%s/up-%zu.gguf", tmp, k);
        char mk[3000];
        snprintf(mk, sizeof mk, "mkdir -p '%s'", dir);
        lb_kv *kv = NULL;
        size_t nkv = 0;
        lb_err e;
        char eb[600];
        struct llama_model *m = NULL;
        if (system(mk) != 0 || rebuild_folder(dir, ref, names[k][0], why, sizeof why)) {
            printf("FAIL %s: %s\n", name, why);
            failed++;
        } else if (lb_tokenizer_load(dir, NULL, &kv, &nkv, &e)) {
            printf("FAIL %s: lb_tokenizer_load: %s\n", name, lb_err_str(&e, eb, sizeof eb));
            failed++;
        } else {
            const char *pre = NULL;
            for (size_t i = 0; i < nkv; i++)
                if (!strcmp(kv[i].key, "tokenizer.ggml.pre")) pre = kv[i].val.v.s;
            if (!pre || strcmp(pre, names[k][1]) != 0) {
                printf("FAIL %s: pre '%s', want '%s'\n", name, pre ? pre : "(none)", names[k][1]);
                failed++;
            } else if (write_vocab(path, ref, kv, nkv, why, sizeof why) || !(m = load_vocab(path))) {
                printf("FAIL %s: llama.cpp does not load lowbit's vocabulary %s\n", name, why);
                failed++;
            } else {
                check_cases(name, m, NULL, tc, n);
            }
        }
        if (m) llama_model_free(m);
        lb_kv_array_free(kv, nkv);
        free_cases(tc, n);
        snprintf(mk, sizeof mk, "rm -rf '%s' '%s'", dir, path);
        if (system(mk) != 0) printf("INFO could not remove %s\n", dir);
        fflush(stdout);
    }
}

typedef struct icase {
    const char *name;
    const char *dir, *file;      /* lb_tokenizer_load input, relative to SHARED/models */
    const char *ref;             /* llama.cpp's reference GGUF */
    int has_out;                 /* ref.inp/.out exist (else: compare with ref's tokenization) */
} icase;

int main(int argc, char **argv)
{
    if (argc < 5) { fprintf(stderr, "usage: tokenizer_llama TMPDIR SHARED LIBDIR REFSRC\n"); return 2; }
    const char *tmp = argv[1], *shared = argv[2], *libdir = argv[3], *refsrc = argv[4];
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
    check_upstream_vocabs(tmp, refsrc);
    llama_backend_free();
    return failed ? 1 : 0;
}
