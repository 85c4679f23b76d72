/* test_tokenizer.c: tokenizers -> GGUF kvs against what llama.cpp wrote for the same
 * tokenizers (../shared/models), plus malformed and refused inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "lb_model.h"
#include "lb_tokenizer.h"
#include "tok_internal.h"

static char shared[1024];
static char tmpdir[512];
static char errbuf[800];

static const char *M(const char *rel)
{
    static char buf[4][1100];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/models/%s", shared, rel);
    return buf[k];
}

static const lb_value *kv_find(const lb_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0) return &kv[i].val;
    return NULL;
}

static const lb_value *ref_find(const lb_model *m, const char *key)
{
    const lb_kv *kv = lb_model_kv(m, key);
    return kv ? &kv->val : NULL;
}

/* Compare array kv `key` element by element (strings, ints, floats bit-exact as f32). */
static int same_array(const lb_value *a, const lb_value *b, const char *key)
{
    CHECK(a && b, "%s: missing (ours %p, ref %p)", key, (void *)a, (void *)b);
    if (!a || !b) return 0;
    CHECK(a->type == LB_V_ARR && b->type == LB_V_ARR, "%s: not arrays", key);
    CHECK(a->n == b->n, "%s: %llu elements, reference %llu", key, (unsigned long long)a->n,
          (unsigned long long)b->n);
    if (a->n != b->n || a->type != LB_V_ARR || b->type != LB_V_ARR) return 0;
    for (uint64_t i = 0; i < a->n; i++) {
        const lb_value *x = &a->v.arr[i], *y = &b->v.arr[i];
        int ok;
        if (y->type == LB_V_STR) ok = x->type == LB_V_STR && x->n == y->n && memcmp(x->v.s, y->v.s, (size_t)x->n) == 0;
        else if (y->type == LB_V_F32) ok = x->type == LB_V_F32 && (float)x->v.f == (float)y->v.f;
        else ok = x->type == y->type && x->v.u == y->v.u;
        if (!ok) {
            CHECK(0, "%s[%llu] differs (ours '%.40s'/%g/%lld, ref '%.40s'/%g/%lld)", key, (unsigned long long)i,
                  x->type == LB_V_STR ? x->v.s : "", x->type == LB_V_F32 ? x->v.f : 0, (long long)x->v.i,
                  y->type == LB_V_STR ? y->v.s : "", y->type == LB_V_F32 ? y->v.f : 0, (long long)y->v.i);
            return 0;
        }
    }
    CHECK(1, "ok");
    return 1;
}

static const char *kv_str(const lb_kv *kv, size_t n, const char *key)
{
    const lb_value *v = kv_find(kv, n, key);
    return v && v->type == LB_V_STR ? v->v.s : "(none)";
}

static int64_t kv_int(const lb_kv *kv, size_t n, const char *key)
{
    const lb_value *v = kv_find(kv, n, key);
    return v && v->type != LB_V_STR && v->type != LB_V_ARR ? (int64_t)v->v.u : -1;
}

static int load(const char *dir, const char *file, const char *pre, int64_t vs, lb_kv **kv, size_t *n, lb_err *e)
{
    lb_tok_opts o = { pre, file, vs };
    int rc = lb_tokenizer_load(dir, &o, kv, n, e);
    if (rc) lb_err_str(e, errbuf, sizeof errbuf);
    else errbuf[0] = 0;
    return rc;
}

/* ---- against llama.cpp's files ------------------------------------------------------- */

static void test_vs_reference(const char *name, const char *dir, const char *file, const char *ref,
                              int scores, int merges)
{
    tap_begin("%s", name);
    lb_kv *kv = NULL;
    size_t n = 0;
    lb_err e;
    lb_model *m = NULL;
    int rc = load(dir, file, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_OK, "load: %s", errbuf);
    CHECK(lb_model_open(&m, ref, &e) == LB_OK, "open reference %s", ref);
    if (!rc && m) {
        CHECK(strcmp(kv_str(kv, n, "tokenizer.ggml.model"),
                     ref_find(m, "tokenizer.ggml.model")->v.s) == 0, "model '%s'", kv_str(kv, n, "tokenizer.ggml.model"));
        same_array(kv_find(kv, n, "tokenizer.ggml.tokens"), ref_find(m, "tokenizer.ggml.tokens"), "tokens");
        same_array(kv_find(kv, n, "tokenizer.ggml.token_type"), ref_find(m, "tokenizer.ggml.token_type"), "token_type");
        if (scores) same_array(kv_find(kv, n, "tokenizer.ggml.scores"), ref_find(m, "tokenizer.ggml.scores"), "scores");
        else CHECK(!kv_find(kv, n, "tokenizer.ggml.scores"), "gpt2 vocab has scores");
        if (merges) same_array(kv_find(kv, n, "tokenizer.ggml.merges"), ref_find(m, "tokenizer.ggml.merges"), "merges");
        const lb_value *pre = ref_find(m, "tokenizer.ggml.pre");
        if (pre) CHECK(strcmp(kv_str(kv, n, "tokenizer.ggml.pre"), pre->v.s) == 0, "pre '%s', reference '%s'",
                       kv_str(kv, n, "tokenizer.ggml.pre"), pre->v.s);
    }
    lb_model_close(m);
    lb_kv_array_free(kv, n);
    tap_end();
}

static void test_stories_special(void)
{
    tap_begin("spm-stories260K-special");
    lb_kv *kv = NULL;
    size_t n = 0;
    lb_err e;
    int rc = load(M("hf/stories260K-llama"), NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_OK, "load: %s", errbuf);
    /* config.json bos/eos; tokenizer_config.json add_bos/add_eos; pre "default" */
    CHECK(kv_int(kv, n, "tokenizer.ggml.bos_token_id") == 1, "bos");
    CHECK(kv_int(kv, n, "tokenizer.ggml.eos_token_id") == 2, "eos");
    CHECK(kv_int(kv, n, "tokenizer.ggml.add_bos_token") == 1, "add_bos");
    CHECK(kv_int(kv, n, "tokenizer.ggml.add_eos_token") == 0, "add_eos");
    CHECK(strcmp(kv_str(kv, n, "tokenizer.ggml.pre"), "default") == 0, "pre");
    /* SpecialVocab resolves unk_token only through tokenizer.json: not set here */
    CHECK(!kv_find(kv, n, "tokenizer.ggml.unknown_token_id"), "unk id set");
    lb_kv_array_free(kv, n);
    tap_end();
}

static void test_spm_pad(void)
{
    tap_begin("spm-pad-to-vocab-size");
    lb_kv *kv = NULL;
    size_t n = 0;
    lb_err e;
    int rc = load(M("hf/stories260K-llama"), NULL, NULL, 515, &kv, &n, &e);
    CHECK(rc == LB_OK, "load: %s", errbuf);
    const lb_value *t = kv_find(kv, n, "tokenizer.ggml.tokens"), *ty = kv_find(kv, n, "tokenizer.ggml.token_type");
    const lb_value *sc = kv_find(kv, n, "tokenizer.ggml.scores");
    CHECK(t && t->n == 515 && ty && ty->n == 515 && sc && sc->n == 515, "not 515 tokens");
    if (t && t->n == 515 && ty && sc) {
        CHECK(strcmp(t->v.arr[512].v.s, "[PAD512]") == 0 && strcmp(t->v.arr[514].v.s, "[PAD514]") == 0,
              "pad names '%s'", t->v.arr[512].v.s);
        CHECK(ty->v.arr[513].v.i == 5 && sc->v.arr[513].v.f == -10000.0, "pad type/score");
    }
    lb_kv_array_free(kv, n);
    rc = load(M("hf/stories260K-llama"), NULL, NULL, 0, &kv, &n, &e);   /* 0: not given, config.json's 512 */
    CHECK(rc == LB_OK && kv_find(kv, n, "tokenizer.ggml.tokens")->n == 512, "vocab_size 0: %s", errbuf);
    lb_kv_array_free(kv, n);
    rc = load(M("hf/stories260K-llama"), NULL, NULL, 300, &kv, &n, &e);
    CHECK(rc == LB_OK && kv_find(kv, n, "tokenizer.ggml.tokens")->n == 300, "cut to 300: %s", errbuf);
    lb_kv_array_free(kv, n);
    tap_end();
}

static void test_spm_model_types(void)
{
    static const struct { const char *file; int type, byte_fallback; size_t n; } cases[] = {
        { "tokenizers/sentencepiece-test_model.model", 1, 0, 1000 },
        { "llama2c/tokenizer.model", 2, 1, 32000 },
        { "hf/stories260K-llama/tokenizer.model", 2, 1, 512 },
        { "llama2c/utdnd-tok512.model", 2, 1, 512 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tap_begin("spm-model-type %s", cases[i].file);
        uint8_t *buf = NULL;
        size_t len = 0;
        lb_err e;
        tok_vocab v = TOK_VOCAB_INIT;
        tok_spm_info info;
        int rc = tok_read_file(M(cases[i].file), TOK_MAX_FILE, &buf, &len, &e);
        if (!rc) rc = tok_spm_parse(buf, len, cases[i].file, &v, &info, &e);
        CHECK(rc == LB_OK, "parse: %s", lb_err_str(&e, errbuf, sizeof errbuf));
        CHECK(info.model_type == cases[i].type, "model_type %d, want %d", info.model_type, cases[i].type);
        CHECK(info.byte_fallback == cases[i].byte_fallback, "byte_fallback %d", info.byte_fallback);
        CHECK(v.n == cases[i].n, "%zu pieces, want %zu", v.n, cases[i].n);
        CHECK(info.add_dummy_prefix == 1, "add_dummy_prefix");
        if (cases[i].type == 1 && v.n > 3)   /* unigram: <unk> <s> </s>, real log-prob scores */
            CHECK(v.type[0] == TOK_UNKNOWN && v.type[1] == TOK_CONTROL && v.score[10] < 0, "unigram types/scores");
        free(buf);
        tok_vocab_free(&v);
        tap_end();
    }
}

/* tokenizer.bin == tokenizer.model (llama2.c exports one from the other) */
static void test_l2c(const char *bin, const char *model)
{
    tap_begin("llama2c-bin %s", bin);
    lb_kv *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    lb_err e;
    int rc = load(NULL, M(bin), NULL, -1, &a, &na, &e);
    CHECK(rc == LB_OK, "load bin: %s", errbuf);
    rc = load(NULL, M(model), NULL, -1, &b, &nb, &e);
    CHECK(rc == LB_OK, "load model: %s", errbuf);
    if (a && b) {
        same_array(kv_find(a, na, "tokenizer.ggml.tokens"), kv_find(b, nb, "tokenizer.ggml.tokens"), "tokens");
        same_array(kv_find(a, na, "tokenizer.ggml.scores"), kv_find(b, nb, "tokenizer.ggml.scores"), "scores");
        same_array(kv_find(a, na, "tokenizer.ggml.token_type"), kv_find(b, nb, "tokenizer.ggml.token_type"), "types");
        CHECK(kv_int(a, na, "tokenizer.ggml.unknown_token_id") == 0 && kv_int(a, na, "tokenizer.ggml.bos_token_id") == 1 &&
              kv_int(a, na, "tokenizer.ggml.eos_token_id") == 2, "unk/bos/eos ids");
    }
    lb_kv_array_free(a, na);
    lb_kv_array_free(b, nb);
    tap_end();
}

static void test_l2c_small(void)
{
    tap_begin("llama2c-bin max_len 10 (first byte 0x0a) and vocab_size");
    lb_kv *kv = NULL;
    size_t n = 0;
    lb_err e;
    int rc = load(NULL, M("llama2c/pr468-tok1024.bin"), NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_OK && kv_find(kv, n, "tokenizer.ggml.tokens")->n == 1024, "load: %s", errbuf);
    lb_kv_array_free(kv, n);
    rc = load(NULL, M("llama2c/pr468-tok1024.bin"), NULL, 2000, &kv, &n, &e);
    CHECK(rc == LB_EFORMAT && strstr(e.msg, "vocab_size is 2000"), "2000 > 1024 tokens accepted: %s", errbuf);
    tap_end();
}

static void test_no_tokenizer(void)
{
    tap_begin("no-tokenizer capp-gpt2");
    lb_kv *kv = NULL;
    size_t n = 0;
    lb_err e;
    int rc = load(M("hf/capp-gpt2"), NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_EFORMAT, "rc %d", rc);
    CHECK(strstr(e.msg, "no tokenizer found in '") && strstr(e.msg, "capp-gpt2' (tokenizer.model or tokenizer.json); use --no-vocab"),
          "message: %s", e.msg);
    CHECK(kv == NULL && n == 0, "kvs returned");
    tap_end();
}

/* ---- malformed protobuf ------------------------------------------------------------------- */

static void expect_spm_fail(const char *name, const uint8_t *p, size_t n, uint64_t off, const char *what)
{
    tap_begin("spm-malformed %s", name);
    lb_kv *kv = NULL;
    size_t nk = 0;
    lb_err e;
    int rc = lb_tokenizer_spm_mem(p, n, "x.model", &kv, &nk, &e);
    CHECK(rc == LB_EFORMAT, "rc %d", rc);
    if (rc == LB_EFORMAT) {
        CHECK(e.offset == off, "offset %llu, want %llu (%s)", (unsigned long long)e.offset, (unsigned long long)off, e.msg);
        CHECK(strstr(e.msg, what) != NULL, "message '%s' lacks '%s'", e.msg, what);
        CHECK(strstr(e.msg, "'x.model'") != NULL, "message does not name the file: %s", e.msg);
    }
    lb_kv_array_free(kv, nk);
    tap_end();
}

static void test_spm_malformed(void)
{
    /* one good piece: 0a 09 [0a 01 'a' 15 00 00 80 3f 18 01] */
    static const uint8_t good[] = { 0x0a, 0x0a, 0x0a, 0x01, 'a', 0x15, 0, 0, 0x80, 0x3f, 0x18, 0x01 };
    {
        tap_begin("spm-minimal");
        lb_kv *kv = NULL;
        size_t n = 0;
        lb_err e;
        int rc = lb_tokenizer_spm_mem(good, sizeof good, "x.model", &kv, &n, &e);
        CHECK(rc == LB_OK, "rc %d: %s", rc, lb_err_str(&e, errbuf, sizeof errbuf));
        const lb_value *t = kv_find(kv, n, "tokenizer.ggml.tokens"), *s = kv_find(kv, n, "tokenizer.ggml.scores");
        CHECK(t && t->n == 1 && strcmp(t->v.arr[0].v.s, "a") == 0 && s && s->v.arr[0].v.f == 1.0, "piece");
        lb_kv_array_free(kv, n);
        tap_end();
    }
    static const uint8_t trunc_varint[] = { 0x0a, 0x85 };
    expect_spm_fail("truncated varint", trunc_varint, sizeof trunc_varint, 1, "truncated varint");
    static const uint8_t long_varint[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
    expect_spm_fail("varint over 64 bits", long_varint, sizeof long_varint, 1, "longer than 64 bits");
    static const uint8_t past_end[] = { 0x0a, 0x20, 0x0a, 0x01, 'a' };
    expect_spm_fail("length past end", past_end, sizeof past_end, 1, "length 32 past the end");
    static const uint8_t inner_past[] = { 0x0a, 0x04, 0x0a, 0x05, 'a', 'b' };
    expect_spm_fail("inner length past its message", inner_past, sizeof inner_past, 3, "length 5 past the end");
    static const uint8_t wrong_wire[] = { 0x08, 0x01 };   /* field 1 as a varint */
    expect_spm_fail("wrong wire type", wrong_wire, sizeof wrong_wire, 0, "field 1: wire type 0, want 2");
    static const uint8_t wrong_score[] = { 0x0a, 0x05, 0x0a, 0x01, 'a', 0x10, 0x01 };  /* score as varint */
    expect_spm_fail("score wire type", wrong_score, sizeof wrong_score, 5, "piece 0: field 2: wire type 0, want 5");
    static const uint8_t group[] = { 0x0b, 0x0c };
    expect_spm_fail("group wire type", group, sizeof group, 0, "group");
    static const uint8_t field0[] = { 0x02, 0x00 };
    expect_spm_fail("field number 0", field0, sizeof field0, 0, "bad field number 0");
    static const uint8_t bad_type[] = { 0x0a, 0x05, 0x0a, 0x01, 'a', 0x18, 0x09 };
    expect_spm_fail("piece type 9", bad_type, sizeof bad_type, 5, "unknown piece type 9");
    static const uint8_t no_text[] = { 0x0a, 0x02, 0x18, 0x01 };
    expect_spm_fail("piece without text", no_text, sizeof no_text, 4, "no piece text");
    static const uint8_t trunc_score[] = { 0x0a, 0x05, 0x0a, 0x01, 'a', 0x15, 0x00 };
    expect_spm_fail("truncated score", trunc_score, sizeof trunc_score, 6, "truncated score");
    static const uint8_t empty_model[] = { 0x12, 0x02, 0x18, 0x02 };   /* trainer_spec only */
    expect_spm_fail("no pieces", empty_model, sizeof empty_model, LB_NO_OFFSET, "no pieces");
    static const uint8_t bad_model_type[] = { 0x0a, 0x03, 0x0a, 0x01, 'a', 0x12, 0x02, 0x18, 0x07 };
    expect_spm_fail("model_type 7", bad_model_type, sizeof bad_model_type, 7, "unknown model_type 7");
}

/* ---- tokenizer.json in a scratch folder --------------------------------------------------- */

static char *scratch(const char *name)
{
    static char dir[700];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0700);
    return dir;
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char p[900];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) { fputs(text, f); fclose(f); }
}

#define GPT2_PRE "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}"
#define LLAMA3_PRE "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":" \
    "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}," \
    "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}"

static void tiny_json(const char *dir, const char *model_type, const char *pre, const char *merges, const char *extra)
{
    char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":5,\"content\":\"<|end|>\",\"special\":true},"
             "{\"id\":6,\"content\":\"<tool>\",\"special\":false},{\"id\":7,\"content\":\"x\\u2581y\",\"special\":false}],"
             "\"normalizer\":null,\"pre_tokenizer\":%s,%s"
             "\"model\":{\"type\":\"%s\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"a b\":3},\"merges\":%s}}",
             pre, extra, model_type, merges);
    put_file(dir, "tokenizer.json", buf);
}

static void test_bpe_synthetic(void)
{
    lb_kv *kv = NULL;
    size_t n = 0;
    lb_err e;
    char *d = scratch("bpe1");
    tiny_json(d, "BPE", LLAMA3_PRE, "[[\"a\",\"b\"],[\"a \",\"b\"]]", "");
    put_file(d, "tokenizer_config.json",
             "{\"bos_token\":{\"content\":\"<|end|>\"},\"eos_token\":\"<|end|>\",\"add_bos_token\":true,"
             "\"chat_template\":[{\"name\":\"default\",\"template\":\"D\"},{\"name\":\"tool use\",\"template\":\"T\"}]}");
    put_file(d, "config.json", "{\"vocab_size\":9,\"pad_token_id\":4}");
    put_file(d, "generation_config.json", "{\"eos_token_id\": [");   /* broken: ignored */
    put_file(d, "special_tokens_map.json", "{\"unk_token\": \"<tool>\"}");

    tap_begin("bpe-synthetic llama3 pre, pair merges, added tokens, special, chat templates");
    int rc = load(d, NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_OK, "load: %s", errbuf);
    if (!rc) {
        CHECK(strcmp(kv_str(kv, n, "tokenizer.ggml.pre"), "llama-bpe") == 0, "pre '%s'", kv_str(kv, n, "tokenizer.ggml.pre"));
        const lb_value *t = kv_find(kv, n, "tokenizer.ggml.tokens"), *ty = kv_find(kv, n, "tokenizer.ggml.token_type");
        const lb_value *mg = kv_find(kv, n, "tokenizer.ggml.merges");
        CHECK(t && t->n == 9 && ty && ty->n == 9, "9 tokens (config vocab_size)");
        if (t && t->n == 9 && ty) {
            CHECK(strcmp(t->v.arr[4].v.s, "[PAD4]") == 0 && ty->v.arr[4].v.i == TOK_UNUSED, "hole 4");
            CHECK(strcmp(t->v.arr[5].v.s, "<|end|>") == 0 && ty->v.arr[5].v.i == TOK_CONTROL, "special added");
            CHECK(strcmp(t->v.arr[6].v.s, "<tool>") == 0 && ty->v.arr[6].v.i == TOK_USER_DEFINED, "user added");
            CHECK(strcmp(t->v.arr[7].v.s, "x y") == 0, "U+2581 in user-defined token: '%s'", t->v.arr[7].v.s);
            CHECK(strcmp(t->v.arr[3].v.s, "a b") == 0 && ty->v.arr[3].v.i == TOK_NORMAL, "normal");
        }
        CHECK(mg && mg->n == 2 && strcmp(mg->v.arr[0].v.s, "a b") == 0 &&
              strcmp(mg->v.arr[1].v.s, "a\xc4\xa0 b") == 0, "pair merges");
        CHECK(!kv_find(kv, n, "tokenizer.ggml.scores"), "gpt2 has no scores");
        CHECK(kv_int(kv, n, "tokenizer.ggml.bos_token_id") == 5 && kv_int(kv, n, "tokenizer.ggml.eos_token_id") == 5,
              "bos/eos from contents");
        CHECK(kv_int(kv, n, "tokenizer.ggml.padding_token_id") == 4, "pad from config.json");
        CHECK(kv_int(kv, n, "tokenizer.ggml.unknown_token_id") == 6, "unk from special_tokens_map.json");
        CHECK(kv_int(kv, n, "tokenizer.ggml.add_bos_token") == 1, "add_bos");
        CHECK(strcmp(kv_str(kv, n, "tokenizer.chat_template"), "D") == 0, "default template");
        CHECK(strcmp(kv_str(kv, n, "tokenizer.chat_template.tool_use"), "T") == 0, "named template");
        const lb_value *names = kv_find(kv, n, "tokenizer.chat_templates");
        CHECK(names && names->n == 1 && strcmp(names->v.arr[0].v.s, "tool_use") == 0, "template names");
    }
    lb_kv_array_free(kv, n);
    tap_end();

    tap_begin("bpe-synthetic TemplateProcessing sets add_bos/add_eos");
    d = scratch("bpe2");
    tiny_json(d, "BPE", GPT2_PRE, "[\"a b\"]",
              "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|end|>\",\"type_id\":0}},"
              "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]},");
    put_file(d, "tokenizer_config.json", "{\"bos_token\":\"<|end|>\",\"chat_template\":\"C\"}");
    put_file(d, "generation_config.json", "{\"eos_token_id\": [6, 5], \"pad_token_id\": 99}");
    rc = load(d, NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_OK, "load: %s", errbuf);
    CHECK(kv_int(kv, n, "tokenizer.ggml.add_bos_token") == 1, "add_bos from template");
    CHECK(kv_int(kv, n, "tokenizer.ggml.eos_token_id") == 6, "eos from generation_config.json list");
    CHECK(!kv_find(kv, n, "tokenizer.ggml.padding_token_id"), "pad id 99 is past the vocabulary");
    CHECK(strcmp(kv_str(kv, n, "tokenizer.ggml.pre"), "gpt-2") == 0, "pre gpt-2");
    CHECK(strcmp(kv_str(kv, n, "tokenizer.chat_template"), "C") == 0, "string template");
    CHECK(kv_find(kv, n, "tokenizer.ggml.tokens")->n == 8, "max id + 1 tokens without config.json");
    lb_kv_array_free(kv, n);
    tap_end();

    tap_begin("bpe-refuse WordPiece");
    d = scratch("wp");
    tiny_json(d, "WordPiece", GPT2_PRE, "[]", "");
    rc = load(d, NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_EFORMAT && strstr(e.msg, "model type 'WordPiece' is not supported") && strstr(e.msg, "tokenizer.json"),
          "rc %d: %s", rc, errbuf);
    tap_end();

    tap_begin("bpe-refuse unknown pre-tokenizer unless --pre");
    d = scratch("pre");
    tiny_json(d, "BPE", "{\"type\":\"Metaspace\",\"replacement\":\"_\"}", "[\"a b\"]", "");
    rc = load(d, NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_EFORMAT && strstr(e.msg, "unknown pre-tokenizer Metaspace; pass --pre NAME"), "rc %d: %s", rc, errbuf);
    rc = load(d, NULL, "qwen2", -1, &kv, &n, &e);
    CHECK(rc == LB_OK && strcmp(kv_str(kv, n, "tokenizer.ggml.pre"), "qwen2") == 0, "with --pre: %s", errbuf);
    lb_kv_array_free(kv, n);
    rc = load(d, NULL, "no-such-pre", -1, &kv, &n, &e);
    CHECK(rc == LB_EUSAGE && strstr(e.msg, "'no-such-pre'"), "unknown --pre name accepted: %d %s", rc, errbuf);
    tiny_json(d, "BPE", "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"use_regex\":true}", "[\"a b\"]", "");
    rc = load(d, NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_EFORMAT && strstr(e.msg, "ByteLevel(prefix=1,regex=1)"), "prefix space: %s", errbuf);
    tap_end();

    tap_begin("bpe-refuse malformed json");
    d = scratch("bad");
    put_file(d, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,}}}");
    rc = load(d, NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_EFORMAT && strstr(e.msg, "not valid JSON") && e.offset != LB_NO_OFFSET, "rc %d: %s", rc, errbuf);
    put_file(d, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}}, \"pre_tokenizer\": " GPT2_PRE "}");
    rc = load(d, NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_EFORMAT && strstr(e.msg, "bad id"), "negative id: %s", errbuf);
    put_file(d, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [3]}, \"pre_tokenizer\": " GPT2_PRE "}");
    rc = load(d, NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_EFORMAT && strstr(e.msg, "model.merges[0]"), "bad merge: %s", errbuf);
    put_file(d, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 7}}, \"pre_tokenizer\": " GPT2_PRE "}");
    rc = load(d, NULL, NULL, 4, &kv, &n, &e);
    CHECK(rc == LB_EFORMAT && strstr(e.msg, "past the model's vocab_size 4"), "id past vocab_size: %s", errbuf);
    put_file(d, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}}}");
    rc = load(d, NULL, NULL, -1, &kv, &n, &e);
    CHECK(rc == LB_EFORMAT && strstr(e.msg, "byte_fallback"), "spm-style bpe: %s", errbuf);
    tap_end();
}

static void test_spm_folder_files(void)
{
    tap_begin("spm-added_tokens.json and added_tokens_decoder");
    char *d = scratch("spm1");
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/tokenizer.model'", M("hf/stories260K-llama/tokenizer.model"), d);
    CHECK(system(cmd) == 0, "copy");
    put_file(d, "added_tokens.json", "{\"<extra>\": 512, \"<far>\": 900}");
    put_file(d, "tokenizer_config.json",
             "{\"add_prefix_space\":false,\"added_tokens_decoder\":{\"1\":{\"content\":\"<s>\",\"special\":true},"
             "\"513\":{\"content\":\"<|im_end|>\",\"special\":false},\"514\":{\"content\":\"\\u2581hi\",\"special\":false}}}");
    lb_kv *kv = NULL;
    size_t n = 0;
    lb_err e;
    int rc = load(d, NULL, NULL, 516, &kv, &n, &e);
    CHECK(rc == LB_OK, "load: %s", errbuf);
    const lb_value *t = kv_find(kv, n, "tokenizer.ggml.tokens"), *ty = kv_find(kv, n, "tokenizer.ggml.token_type");
    const lb_value *sc = kv_find(kv, n, "tokenizer.ggml.scores");
    if (!rc && t && ty && sc && t->n == 516) {
        CHECK(strcmp(t->v.arr[512].v.s, "<extra>") == 0 && ty->v.arr[512].v.i == TOK_USER_DEFINED &&
              sc->v.arr[512].v.f == -1000.0, "added_tokens.json");
        CHECK(strcmp(t->v.arr[513].v.s, "<|im_end|>") == 0 && ty->v.arr[513].v.i == TOK_CONTROL, "looks special");
        CHECK(strcmp(t->v.arr[514].v.s, " hi") == 0 && ty->v.arr[514].v.i == TOK_USER_DEFINED, "user-defined spaces");
        CHECK(ty->v.arr[1].v.i == TOK_CONTROL && sc->v.arr[1].v.f == -1000.0, "decoder entry over a piece");
        CHECK(strcmp(t->v.arr[515].v.s, "[PAD515]") == 0, "pad");
        CHECK(kv_int(kv, n, "tokenizer.ggml.add_space_prefix") == 0, "add_space_prefix from add_prefix_space");
    } else {
        CHECK(0, "tokens: %llu", t ? (unsigned long long)t->n : 0ull);
    }
    lb_kv_array_free(kv, n);
    tap_end();
}

static void test_pre_names(void)
{
    tap_begin("bpe-pre table names are all known to llama.cpp 0.4.0");
    size_t i;
    for (i = 0; tok_bpe_pre_row(i); i++)
        CHECK(tok_bpe_pre_known(tok_bpe_pre_row(i)), "'%s' unknown to llama.cpp", tok_bpe_pre_row(i));
    CHECK(i >= 15, "only %zu rows", i);
    CHECK(!tok_bpe_pre_known("llama-3") && tok_bpe_pre_known("llama-bpe"), "known-name check");
    tap_end();
}

int main(void)
{
    const char *s = tap_shared();
    snprintf(tmpdir, sizeof tmpdir, "%s/tok.XXXXXX", getenv("LOWBIT_TMP") ? getenv("LOWBIT_TMP") : "/tmp");
    if (!mkdtemp(tmpdir)) { printf("FAIL setup: mkdtemp\n"); return 1; }
    test_spm_malformed();
    test_bpe_synthetic();
    test_pre_names();
    if (!s) {
        tap_skip("tokenizer-shared", "needs ../shared/models (LOWBIT_SHARED)");
    } else {
        snprintf(shared, sizeof shared, "%s", s);
        test_vs_reference("spm-llama2 vs ggml-vocab-llama-spm.gguf", NULL, M("llama2c/tokenizer.model"),
                          M("gguf/ggml-vocab-llama-spm.gguf"), 1, 0);
        test_vs_reference("spm-stories260K vs stories260K.gguf", M("hf/stories260K-llama"), NULL,
                          M("gguf/stories260K.gguf"), 1, 0);
        test_vs_reference("bpe-gpt2 vs ggml-vocab-gpt-2.gguf", M("hf/tiny-gpt2-random"), NULL,
                          M("gguf/ggml-vocab-gpt-2.gguf"), 0, 1);
        test_stories_special();
        test_spm_pad();
        test_spm_model_types();
        test_l2c("llama2c/tokenizer.bin", "llama2c/tokenizer.model");
        test_l2c("llama2c/utdnd-tok512.bin", "llama2c/utdnd-tok512.model");
        test_l2c_small();
        test_no_tokenizer();
        test_spm_folder_files();
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("INFO could not remove %s\n", tmpdir);
    TAP_EXIT();
}
