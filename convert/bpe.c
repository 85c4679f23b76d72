/* bpe.c: Hugging Face tokenizer.json (byte-level BPE) -> gpt2 vocabulary, as llama.cpp's
 * _set_vocab_gpt2 / get_vocab_base build it.
 *
 * Read from tokenizer.json:
 *   model.type       must be "BPE" (WordPiece, Unigram, WordLevel are refused), and
 *                    model.byte_fallback must not be set (that is SentencePiece-style BPE,
 *                    which needs tokenizer.model)
 *   model.vocab      {token: id}
 *   model.merges     ["a b", ...] or [["a", "b"], ...] (spaces inside a part become U+0120,
 *                    as gguf-py encodes them); none: merges.txt beside it
 *   added_tokens     [{id, content, special}]: CONTROL when special or when the text looks
 *                    special (<|...|> etc.), else USER_DEFINED with U+2581 -> ' '
 *   pre_tokenizer    -> tokenizer.ggml.pre through bpe_pre.c, unless opts->pre is given
 * Tokens are written in id order for ids 0 .. vocab_size-1 (config.json's vocab_size, else
 * the largest id + 1); a hole is "[PAD<id>]" with type UNUSED. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

static int nomem(lb_err *err)
{
    return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
}

static int json_id(const cJSON *j, int64_t *id)
{
    if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble >= TOK_MAX_VOCAB ||
        j->valuedouble != (double)(int64_t)j->valuedouble) return 0;
    *id = (int64_t)j->valuedouble;
    return 1;
}

static size_t put_part(char *s, size_t n, const char *p)
{
    for (; *p; p++) {
        if (*p == ' ') { s[n++] = (char)0xc4; s[n++] = (char)0xa0; }   /* U+0120 */
        else s[n++] = *p;
    }
    return n;
}

/* "a b" from a pair, spaces inside a part written as U+0120 (gguf-py). */
static int push_pair(tok_vocab *v, const char *a, const char *b, lb_err *err)
{
    char *s = malloc(2 * (strlen(a) + strlen(b)) + 2);
    if (!s) return nomem(err);
    size_t n = put_part(s, 0, a);
    s[n++] = ' ';
    n = put_part(s, n, b);
    int rc = tok_vocab_push_merge(v, s, n, err);
    free(s);
    return rc;
}

static int read_merges(const cJSON *merges, const char *path, tok_vocab *v, lb_err *err)
{
    const cJSON *it;
    size_t i = 0;
    cJSON_ArrayForEach(it, merges) {
        if (cJSON_IsString(it)) {
            LB_TRY(tok_vocab_push_merge(v, it->valuestring, strlen(it->valuestring), err));
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(it->child) &&
                   cJSON_IsString(it->child->next)) {
            LB_TRY(push_pair(v, it->child->valuestring, it->child->next->valuestring, err));
        } else {
            return tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path,
                            "model.merges[%zu]: want \"a b\" or [\"a\", \"b\"]", i);
        }
        i++;
    }
    return LB_OK;
}

/* merges.txt: an optional "#version" line, then "a b" per line (gguf-py's reader). */
static int read_merges_txt(const char *dir, tok_vocab *v, lb_err *err)
{
    char *path = tok_path(dir, "merges.txt");
    if (!path) return nomem(err);
    if (!tok_exists(path)) { free(path); return LB_OK; }
    uint8_t *buf;
    size_t n;
    int rc = tok_read_file(path, TOK_MAX_FILE, &buf, &n, err);
    free(path);
    LB_TRY(rc);
    char *line = (char *)buf, *end = (char *)buf + n;
    int first = 1;
    while (!rc && line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl) nl = end;
        *nl = 0;
        char *a = line + strspn(line, " \t\r");
        int skip = first && *a == '#';
        first = 0;
        char *ae = a + strcspn(a, " \t\r");
        char *b = ae + strspn(ae, " \t\r");
        char *be = b + strcspn(b, " \t\r");
        char *rest = be + strspn(be, " \t\r");
        if (!skip && *a && *b && !*rest) {
            *ae = 0;
            *be = 0;
            char *m = malloc(strlen(a) + strlen(b) + 2);
            if (!m) rc = nomem(err);
            else {
                int k = sprintf(m, "%s %s", a, b);
                rc = tok_vocab_push_merge(v, m, (size_t)k, err);
                free(m);
            }
        }
        line = nl + 1;
    }
    free(buf);
    return rc;
}

/* clean_up_tokenization_spaces from tokenizer_config.json (transformers' default: true). */
static int clean_spaces(const char *dir)
{
    if (!dir) return 1;
    char *p = tok_path(dir, "tokenizer_config.json");
    cJSON *j = NULL;
    lb_err e;
    int r = 1;
    if (p && tok_json_file(p, &j, &e) == LB_OK && j) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "clean_up_tokenization_spaces");
        if (cJSON_IsBool(c)) r = cJSON_IsTrue(c);
    }
    cJSON_Delete(j);
    free(p);
    return r;
}

static int choose_pre(const cJSON *tj, const char *path, const char *dir, const lb_tok_opts *o,
                      tok_vocab *v, lb_err *err)
{
    const char *name = o->pre;
    char why[480];
    if (name && !tok_bpe_pre_known(name))
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET,
                          "unknown pre-tokenizer name '%s' (llama.cpp 0.4.0 would refuse it; docs/tokenizers.md lists the names)",
                          name);
    if (!name && !(name = tok_bpe_pre_name(tj, clean_spaces(dir), why, sizeof why)))
        return tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "unknown pre-tokenizer %s; pass --pre NAME", why);
    return (v->pre = strdup(name)) ? LB_OK : nomem(err);
}

/* ids -> texts: the model vocabulary, then the added tokens over it. */
typedef struct slot { const char *text; int added; int special; } slot;

static int build_tokens(const cJSON *vocab, const cJSON *added, const char *path, int64_t vocab_size,
                        tok_vocab *v, lb_err *err)
{
    int64_t max_id = -1, id = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!json_id(it, &id))
            return tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "model.vocab '%.80s': bad id", it->string);
        if (id > max_id) max_id = id;
    }
    cJSON_ArrayForEach(it, added) {
        if (!json_id(cJSON_GetObjectItemCaseSensitive(it, "id"), &id) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "content")))
            return tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "added_tokens: an entry without id and content");
        if (id > max_id) max_id = id;
    }
    size_t n = vocab_size >= 0 ? (size_t)vocab_size : (size_t)(max_id + 1);
    if (max_id >= 0 && (uint64_t)max_id >= n)
        return tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "token id %lld is past the model's vocab_size %zu",
                        (long long)max_id, n);
    slot *s = calloc(n ? n : 1, sizeof *s);
    if (!s) return nomem(err);
    cJSON_ArrayForEach(it, vocab) {
        json_id(it, &id);
        s[id].text = it->string;
    }
    cJSON_ArrayForEach(it, added) {
        json_id(cJSON_GetObjectItemCaseSensitive(it, "id"), &id);
        s[id].text = cJSON_GetObjectItemCaseSensitive(it, "content")->valuestring;
        s[id].added = 1;
        s[id].special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "special"));
    }
    int rc = LB_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        if (!s[i].text) {
            char name[32];
            int k = snprintf(name, sizeof name, "[PAD%zu]", i);
            rc = tok_vocab_push(v, name, (size_t)k, 0, TOK_UNUSED, err);
        } else if (!s[i].added) {
            rc = tok_vocab_push(v, s[i].text, strlen(s[i].text), 0, TOK_NORMAL, err);
        } else if (s[i].special || tok_looks_special(s[i].text)) {
            rc = tok_vocab_push(v, s[i].text, strlen(s[i].text), 0, TOK_CONTROL, err);
        } else {
            /* USER_DEFINED: pre-normalize SentencePiece spaces (U+2581 -> ' ') */
            char *t = strdup(s[i].text);
            size_t o = 0;
            if (!t) { rc = nomem(err); break; }
            for (size_t j = 0; t[j]; j++) {
                if ((uint8_t)t[j] == 0xe2 && (uint8_t)t[j + 1] == 0x96 && (uint8_t)t[j + 2] == 0x81) {
                    t[o++] = ' ';
                    j += 2;
                } else {
                    t[o++] = t[j];
                }
            }
            rc = tok_vocab_push(v, t, o, 0, TOK_USER_DEFINED, err);
            free(t);
        }
    }
    free(s);
    return rc;
}

int tok_bpe_load(const char *path, const char *dir, const lb_tok_opts *o, int64_t vocab_size,
                 tok_vocab *v, cJSON **tj_out, lb_err *err)
{
    uint8_t *buf;
    size_t n;
    *tj_out = NULL;
    LB_TRY(tok_read_file(path, TOK_MAX_FILE, &buf, &n, err));
    const char *end = NULL;
    cJSON *tj = cJSON_ParseWithLengthOpts((const char *)buf, n, &end, 0);
    if (!tj) {
        uint64_t off = end ? (uint64_t)(end - (const char *)buf) : LB_NO_OFFSET;
        free(buf);
        return tok_fail(err, LB_EFORMAT, off, path, "not valid JSON");
    }
    free(buf);
    int rc = LB_OK;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tj, "model");
    const char *type = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(model, "type"))
                       ? cJSON_GetObjectItemCaseSensitive(model, "type")->valuestring : NULL;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tj, "added_tokens");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    v->model = "gpt2";
    if (!cJSON_IsObject(tj) || !cJSON_IsObject(model))
        rc = tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "no \"model\" object (not a Hugging Face tokenizer.json)");
    else if (!type || strcmp(type, "BPE") != 0)
        rc = tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path,
                      "model type '%s' is not supported (byte-level BPE only)", type ? type : "(none)");
    else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback")))
        rc = tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path,
                      "SentencePiece-style BPE (byte_fallback) is not supported; convert from its tokenizer.model");
    else if (!cJSON_IsObject(vocab))
        rc = tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "model.vocab is not an object");
    else if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added))
        rc = tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "added_tokens is not an array");
    else if (merges && !cJSON_IsArray(merges) && !cJSON_IsNull(merges))
        rc = tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "model.merges is not an array");
    if (!rc) rc = choose_pre(tj, path, dir, o, v, err);
    if (!rc) rc = build_tokens(vocab, cJSON_IsArray(added) ? added : NULL, path, vocab_size, v, err);
    if (!rc && cJSON_IsArray(merges)) rc = read_merges(merges, path, v, err);
    if (!rc && !v->n_merges && dir) rc = read_merges_txt(dir, v, err);
    if (rc) { cJSON_Delete(tj); return rc; }
    *tj_out = tj;
    return LB_OK;
}
