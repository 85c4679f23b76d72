/* tokenizer.c: lb_tokenizer_load: pick the tokenizer in a folder, read it, add the
 * special-token metadata, and emit the GGUF tokenizer.* kvs (docs/tokenizers.md).
 *
 * Which file: o->tokenizer when given (its content decides: '{' is tokenizer.json, a
 * protobuf is tokenizer.model, a small little-endian i32 is llama2.c's tokenizer.bin),
 * else dir/tokenizer.model (SentencePiece, as llama.cpp's converter prefers it), else
 * dir/tokenizer.json (byte-level BPE). */
#include "tok_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lb_io.h"
#include "lb_le.h"

/* ---- vocabulary ---------------------------------------------------------------------- */

void tok_vocab_free(tok_vocab *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) free(v->tok[i].v.s);
    for (size_t i = 0; i < v->n_merges; i++) free(v->merges[i].v.s);
    free(v->tok); free(v->score); free(v->type); free(v->merges); free(v->pre);
    memset(v, 0, sizeof *v);
    v->add_space_prefix = -1;
}

static int nomem(lb_err *err)
{
    return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
}

static int str_value(lb_value *val, const char *s, size_t len)
{
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = 0;
    memset(val, 0, sizeof *val);
    val->type = LB_V_STR;
    val->n = len;
    val->v.s = c;
    return 0;
}

static int vocab_grow(tok_vocab *v, size_t want)
{
    if (want <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 256;
    while (cap < want) cap *= 2;
    lb_value *t = realloc(v->tok, cap * sizeof *t);
    if (!t) return -1;
    v->tok = t;
    float *s = realloc(v->score, cap * sizeof *s);
    if (!s) return -1;
    v->score = s;
    int32_t *ty = realloc(v->type, cap * sizeof *ty);
    if (!ty) return -1;
    v->type = ty;
    v->cap = cap;
    return 0;
}

int tok_vocab_push(tok_vocab *v, const char *s, size_t len, float score, int32_t type, lb_err *err)
{
    if (v->n >= TOK_MAX_VOCAB)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "more than %u tokens", TOK_MAX_VOCAB);
    if (vocab_grow(v, v->n + 1) || str_value(&v->tok[v->n], s, len)) return nomem(err);
    v->score[v->n] = score;
    v->type[v->n] = type;
    v->n++;
    return LB_OK;
}

int tok_vocab_set(tok_vocab *v, size_t i, const char *s, size_t len, lb_err *err)
{
    lb_value nv;
    if (str_value(&nv, s, len)) return nomem(err);
    free(v->tok[i].v.s);
    v->tok[i] = nv;
    return LB_OK;
}

int tok_vocab_push_merge(tok_vocab *v, const char *s, size_t len, lb_err *err)
{
    if (v->n_merges == v->cap_merges) {
        size_t cap = v->cap_merges ? v->cap_merges * 2 : 1024;
        lb_value *m = realloc(v->merges, cap * sizeof *m);
        if (!m) return nomem(err);
        v->merges = m;
        v->cap_merges = cap;
    }
    if (str_value(&v->merges[v->n_merges], s, len)) return nomem(err);
    v->n_merges++;
    return LB_OK;
}

int tok_vocab_resize(tok_vocab *v, size_t n, float pad_score, lb_err *err)
{
    while (v->n > n) free(v->tok[--v->n].v.s);
    while (v->n < n) {
        char name[32];
        int k = snprintf(name, sizeof name, "[PAD%zu]", v->n);
        LB_TRY(tok_vocab_push(v, name, (size_t)k, pad_score, TOK_UNUSED, err));
    }
    return LB_OK;
}

int64_t tok_vocab_find(const tok_vocab *v, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < v->n; i++)
        if (v->tok[i].n == len && memcmp(v->tok[i].v.s, s, len) == 0) return (int64_t)i;
    return -1;
}

/* ---- files ---------------------------------------------------------------------------- */

char *tok_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int tok_exists(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int tok_fail(lb_err *err, int code, uint64_t off, const char *path, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lb_err_set(err, code, off, "'%s': %s", path, msg);
}

int tok_prefix(lb_err *err, const char *path)
{
    if (!err) return LB_EFORMAT;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    snprintf(err->msg, sizeof err->msg, "'%.200s': %.270s", path, msg);
    return err->code;
}

int tok_read_file(const char *path, uint64_t max, uint8_t **buf, size_t *n, lb_err *err)
{
    lb_src *s;
    *buf = NULL;
    *n = 0;
    if (lb_src_open(&s, path, err)) return tok_prefix(err, path);
    uint64_t size = lb_src_size(s);
    if (size > max) {
        lb_src_close(s);
        return tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "%llu bytes, more than the %llu a tokenizer may have",
                        (unsigned long long)size, (unsigned long long)max);
    }
    uint8_t *b = malloc((size_t)size + 1);
    if (!b) { lb_src_close(s); return nomem(err); }
    int rc = size ? lb_src_read(s, 0, b, (size_t)size, err) : LB_OK;
    lb_src_close(s);
    if (rc) { free(b); return tok_prefix(err, path); }
    b[size] = 0;
    *buf = b;
    *n = (size_t)size;
    return LB_OK;
}

int tok_json_file(const char *path, cJSON **out, lb_err *err)
{
    *out = NULL;
    if (!tok_exists(path)) return LB_OK;
    uint8_t *buf;
    size_t n;
    LB_TRY(tok_read_file(path, TOK_MAX_FILE, &buf, &n, err));
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)buf, n, &end, 0);
    if (!j) {
        uint64_t off = end ? (uint64_t)(end - (const char *)buf) : LB_NO_OFFSET;
        free(buf);
        return tok_fail(err, LB_EFORMAT, off, path, "not valid JSON");
    }
    free(buf);
    *out = j;
    return LB_OK;
}

int64_t tok_config_vocab_size(const char *dir)
{
    if (!dir) return -1;
    char *p = tok_path(dir, "config.json");
    cJSON *c = NULL;
    lb_err e;
    int rc = p ? tok_json_file(p, &c, &e) : LB_EIO;
    free(p);
    if (rc || !c) return -1;
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(c, "vocab_size");
    if (!cJSON_IsNumber(vs)) {
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(c, "text_config");
        vs = cJSON_GetObjectItemCaseSensitive(tc, "vocab_size");
    }
    int64_t r = -1;
    if (cJSON_IsNumber(vs) && vs->valuedouble >= 0 && vs->valuedouble <= TOK_MAX_VOCAB &&
        vs->valuedouble == (double)(int64_t)vs->valuedouble)
        r = (int64_t)vs->valuedouble;
    cJSON_Delete(c);
    return r;
}

/* ---- kvs ------------------------------------------------------------------------------ */

typedef struct kvs { lb_kv *kv; size_t n, cap; } kvs;

void lb_kv_array_free(lb_kv *kv, size_t n)
{
    if (!kv) return;
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        lb_value_free(&kv[i].val);
    }
    free(kv);
}

/* Append key = *val, taking ownership of val's contents (freed on failure). */
static int kvs_add(kvs *k, const char *key, lb_value *val, lb_err *err)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        lb_kv *n = realloc(k->kv, cap * sizeof *n);
        if (!n) { lb_value_free(val); return nomem(err); }
        k->kv = n;
        k->cap = cap;
    }
    char *kc = strdup(key);
    if (!kc) { lb_value_free(val); return nomem(err); }
    k->kv[k->n].key = kc;
    k->kv[k->n].val = *val;
    k->n++;
    memset(val, 0, sizeof *val);
    return LB_OK;
}

static int kvs_str(kvs *k, const char *key, const char *s, lb_err *err)
{
    lb_value v;
    if (str_value(&v, s, strlen(s))) return nomem(err);
    return kvs_add(k, key, &v, err);
}

static int kvs_scalar(kvs *k, const char *key, int type, uint64_t u, lb_err *err)
{
    lb_value v;
    memset(&v, 0, sizeof v);
    v.type = type;
    v.v.u = u;
    return kvs_add(k, key, &v, err);
}

/* An array value of n elements of type t (zeroed). */
static int arr_value(lb_value *v, int t, size_t n)
{
    memset(v, 0, sizeof *v);
    v->type = LB_V_ARR;
    v->arr_type = t;
    v->v.arr = calloc(n ? n : 1, sizeof *v->v.arr);
    if (!v->v.arr) return -1;
    v->n = n;
    for (size_t i = 0; i < n; i++) v->v.arr[i].type = t;
    return 0;
}

/* Move a list of string values into an array kv. */
static int kvs_strings(kvs *k, const char *key, lb_value **list, size_t *n, lb_err *err)
{
    lb_value v;
    memset(&v, 0, sizeof v);
    v.type = LB_V_ARR;
    v.arr_type = LB_V_STR;
    v.n = *n;
    v.v.arr = *list;
    if (!v.v.arr && !(v.v.arr = calloc(1, sizeof *v.v.arr))) return nomem(err);
    *list = NULL;
    *n = 0;
    return kvs_add(k, key, &v, err);
}

static const char *const sp_key[SP_N] = {
    "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
    "tokenizer.ggml.padding_token_id", NULL /* cls: gguf-py has no key */,
    "tokenizer.ggml.mask_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
};
static const char *const add_key[SP_N] = {
    "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", NULL,
    "tokenizer.ggml.add_sep_token", NULL, NULL, NULL, NULL, NULL,
};

static int emit_special(kvs *k, const tok_special *s, lb_err *err)
{
    for (int t = 0; t < SP_N; t++)
        if (s->id[t] >= 0 && sp_key[t])
            LB_TRY(kvs_scalar(k, sp_key[t], LB_V_U32, (uint64_t)s->id[t], err));
    for (int t = 0; t < SP_N; t++)
        if (s->add[t] >= 0 && add_key[t])
            LB_TRY(kvs_scalar(k, add_key[t], LB_V_BOOL, (uint64_t)s->add[t], err));
    if (s->n_tmpl) {
        lb_value names;
        if (arr_value(&names, LB_V_STR, s->n_tmpl)) return nomem(err);
        for (size_t i = 0; i < s->n_tmpl; i++) {
            char key[200];
            snprintf(key, sizeof key, "tokenizer.chat_template.%s", s->tmpl_name[i]);
            if (str_value(&names.v.arr[i], s->tmpl_name[i], strlen(s->tmpl_name[i]))) {
                names.n = i;
                lb_value_free(&names);
                return nomem(err);
            }
            int rc = kvs_str(k, key, s->tmpl_text[i], err);
            if (rc) { lb_value_free(&names); return rc; }
        }
        LB_TRY(kvs_add(k, "tokenizer.chat_templates", &names, err));
    }
    if (s->chat_template) LB_TRY(kvs_str(k, "tokenizer.chat_template", s->chat_template, err));
    if (s->norm_lowercase >= 0)
        LB_TRY(kvs_scalar(k, "tokenizer.ggml.normalizer.lowercase", LB_V_BOOL, (uint64_t)s->norm_lowercase, err));
    if (s->norm_strip_accents >= 0)
        LB_TRY(kvs_scalar(k, "tokenizer.ggml.normalizer.strip_accents", LB_V_BOOL,
                          (uint64_t)s->norm_strip_accents, err));
    return LB_OK;
}

/* The vocabulary's kvs, in the order llama.cpp's converter writes them. */
static int emit_vocab(kvs *k, tok_vocab *v, lb_err *err)
{
    int has_scores = strcmp(v->model, "gpt2") != 0;
    size_t n = v->n;
    LB_TRY(kvs_str(k, "tokenizer.ggml.model", v->model, err));
    if (v->pre) LB_TRY(kvs_str(k, "tokenizer.ggml.pre", v->pre, err));
    lb_value scores, types;
    if (arr_value(&types, LB_V_I32, n)) return nomem(err);
    for (size_t i = 0; i < n; i++) types.v.arr[i].v.i = v->type[i];
    if (has_scores) {
        if (arr_value(&scores, LB_V_F32, n)) { lb_value_free(&types); return nomem(err); }
        for (size_t i = 0; i < n; i++) scores.v.arr[i].v.f = v->score[i];
    }
    lb_value *tok = v->tok;
    size_t nt = n;
    v->tok = NULL;
    v->n = v->cap = 0;
    int rc = kvs_strings(k, "tokenizer.ggml.tokens", &tok, &nt, err);
    if (rc) {
        for (size_t i = 0; i < nt; i++) free(tok[i].v.s);
        free(tok);
    }
    if (has_scores) {
        if (!rc) rc = kvs_add(k, "tokenizer.ggml.scores", &scores, err);
        else lb_value_free(&scores);
    }
    if (!rc) rc = kvs_add(k, "tokenizer.ggml.token_type", &types, err);
    else lb_value_free(&types);
    LB_TRY(rc);
    if (v->n_merges) LB_TRY(kvs_strings(k, "tokenizer.ggml.merges", &v->merges, &v->n_merges, err));
    if (v->add_space_prefix >= 0)
        LB_TRY(kvs_scalar(k, "tokenizer.ggml.add_space_prefix", LB_V_BOOL, (uint64_t)v->add_space_prefix, err));
    return LB_OK;
}

static int emit_all(tok_vocab *v, tok_special *s, lb_kv **kv, size_t *n_kv, lb_err *err)
{
    kvs k = {0};
    int rc = emit_vocab(&k, v, err);
    if (!rc && s) rc = emit_special(&k, s, err);
    if (rc) { lb_kv_array_free(k.kv, k.n); return rc; }
    *kv = k.kv;
    *n_kv = k.n;
    return LB_OK;
}

/* ---- the loader ----------------------------------------------------------------------- */

enum { KIND_NONE, KIND_SPM, KIND_BPE, KIND_L2C };

/* What an explicitly named tokenizer file is, from its first bytes. A llama2.c
 * tokenizer.bin starts with a small i32 (max_token_length), so bytes 2 and 3 are zero;
 * a SentencePiece protobuf starts with tag 0x0a and a non-empty piece message, whose own
 * first byte (the piece tag) cannot be 0, so it never has that shape. */
static int sniff(const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')) i++;
    if (i < n && b[i] == '{') return KIND_BPE;
    if (n >= 4 && b[2] == 0 && b[3] == 0 && lb_ld32(b) > 0) return KIND_L2C;
    if (n >= 1 && b[0] == 0x0a) return KIND_SPM;
    return KIND_NONE;
}

static int load_spm(const char *path, const char *dir, int64_t vs, lb_kv **kv, size_t *n_kv, lb_err *err)
{
    tok_vocab v = TOK_VOCAB_INIT;
    tok_special s;
    tok_special_init(&s);
    int rc = tok_spm_load(path, dir, vs, &v, err);
    if (!rc) rc = tok_special_load(&s, dir, NULL, v.n, err);
    if (!rc) rc = emit_all(&v, &s, kv, n_kv, err);
    tok_vocab_free(&v);
    tok_special_free(&s);
    return rc;
}

static int load_bpe(const char *path, const char *dir, const lb_tok_opts *o, int64_t vs, lb_kv **kv,
                    size_t *n_kv, lb_err *err)
{
    tok_vocab v = TOK_VOCAB_INIT;
    tok_special s;
    cJSON *tj = NULL;
    tok_special_init(&s);
    int rc = tok_bpe_load(path, dir, o, vs, &v, &tj, err);
    if (!rc) rc = tok_special_load(&s, dir, tj, v.n, err);
    if (!rc) rc = emit_all(&v, &s, kv, n_kv, err);
    cJSON_Delete(tj);
    tok_vocab_free(&v);
    tok_special_free(&s);
    return rc;
}

static int load_l2c(const char *path, int64_t vs, lb_kv **kv, size_t *n_kv, lb_err *err)
{
    uint8_t *buf;
    size_t n;
    LB_TRY(tok_read_file(path, TOK_MAX_FILE, &buf, &n, err));
    tok_vocab v = TOK_VOCAB_INIT;
    tok_special s;
    tok_special_init(&s);
    int rc = tok_l2c_parse(buf, n, path, vs, &v, err);
    free(buf);
    /* convert-llama2c-to-ggml: unk/bos/eos are fixed at 0/1/2 */
    if (!rc) {
        s.id[SP_UNK] = v.n > 0 ? 0 : -1;
        s.id[SP_BOS] = v.n > 1 ? 1 : -1;
        s.id[SP_EOS] = v.n > 2 ? 2 : -1;
        rc = emit_all(&v, &s, kv, n_kv, err);
    }
    tok_vocab_free(&v);
    tok_special_free(&s);
    return rc;
}

static int load_file(const char *path, const char *dir, const lb_tok_opts *o, int64_t vs, lb_kv **kv,
                     size_t *n_kv, lb_err *err)
{
    uint8_t head[16];
    size_t got = 0;
    lb_src *s;
    if (lb_src_open(&s, path, err)) return tok_prefix(err, path);
    int rc = lb_src_read_some(s, 0, head, sizeof head, &got, err);
    lb_src_close(s);
    if (rc) return tok_prefix(err, path);
    switch (sniff(head, got)) {
    case KIND_SPM: return load_spm(path, dir, vs, kv, n_kv, err);
    case KIND_BPE: return load_bpe(path, dir, o, vs, kv, n_kv, err);
    case KIND_L2C: return load_l2c(path, vs, kv, n_kv, err);
    default:
        return tok_fail(err, LB_EFORMAT, 0, path,
                        "not a tokenizer (SentencePiece .model, tokenizer.json or llama2.c tokenizer.bin)");
    }
}

int lb_tokenizer_load(const char *dir, const lb_tok_opts *o, lb_kv **kv, size_t *n_kv, lb_err *err)
{
    lb_tok_opts none = { NULL, NULL, -1 };
    if (!o) o = &none;
    *kv = NULL;
    *n_kv = 0;
    if (dir && !*dir) dir = NULL;
    /* vocab_size: the caller's (config.json as the converter read it), else config.json here */
    int64_t vs = o->vocab_size > 0 ? o->vocab_size : tok_config_vocab_size(dir);
    if (o->tokenizer) return load_file(o->tokenizer, dir, o, vs, kv, n_kv, err);
    if (!dir) return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "no folder and no tokenizer file given");
    char *spm = tok_path(dir, "tokenizer.model"), *json = tok_path(dir, "tokenizer.json");
    int rc;
    if (!spm || !json) rc = nomem(err);
    else if (tok_exists(spm)) rc = load_spm(spm, dir, vs, kv, n_kv, err);
    else if (tok_exists(json)) rc = load_bpe(json, dir, o, vs, kv, n_kv, err);
    else rc = lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET,
                         "no tokenizer found in '%s' (tokenizer.model or tokenizer.json); "
                         "use --no-vocab to convert without one", dir);
    free(spm);
    free(json);
    return rc;
}

int lb_tokenizer_spm_mem(const void *data, size_t n, const char *name, lb_kv **kv, size_t *n_kv, lb_err *err)
{
    tok_vocab v = TOK_VOCAB_INIT;
    tok_spm_info info;
    *kv = NULL;
    *n_kv = 0;
    int rc = tok_spm_parse(data, n, name ? name : "tokenizer.model", &v, &info, err);
    if (!rc) rc = emit_all(&v, NULL, kv, n_kv, err);
    tok_vocab_free(&v);
    return rc;
}
