/* spm.c: SentencePiece tokenizer.model -> llama vocabulary, as llama.cpp's
 * _create_vocab_sentencepiece / _set_vocab_sentencepiece build it.
 *
 * The file is a protobuf ModelProto (sentencepiece_model.proto), read by hand:
 *   ModelProto     { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
 *                    NormalizerSpec normalizer_spec = 3; (4, 5: not needed) }
 *   SentencePiece  { string piece = 1; float score = 2;
 *                    Type type = 3 [NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4 UNUSED=5 BYTE=6] }
 *   TrainerSpec    { ModelType model_type = 3 [UNIGRAM=1 BPE=2 WORD=3 CHAR=4];
 *                    int32 vocab_size = 4; bool byte_fallback = 35;
 *                    int32 unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43 }
 *   NormalizerSpec { bool add_dummy_prefix = 3 [default true] }
 * Wire format: each field is a varint key (field << 3 | wire type) then a varint (0), 8
 * bytes (1), a varint length and that many bytes (2) or 4 bytes (5). Every read is
 * bounded by its enclosing message; a bad key, a wire type that does not fit a known
 * field, a varint running off the end or a length past the end is LB_EFORMAT with the
 * byte offset. Unknown fields are skipped, as protobuf does. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "lb_le.h"

typedef struct pb {
    const uint8_t *p;
    size_t pos, end;       /* absolute offsets into p */
    const char *name;
    const char *what;      /* message being read, for errors */
    lb_err *err;
} pb;

static int pb_fail(const pb *b, size_t off, const char *msg, unsigned long long a, unsigned long long c)
{
    char m[200];
    snprintf(m, sizeof m, msg, a, c);
    return tok_fail(b->err, LB_EFORMAT, off, b->name, "%s: %s", b->what, m);
}

static int pb_varint(pb *b, uint64_t *v)
{
    size_t start = b->pos;
    uint64_t r = 0;
    for (int i = 0; i < 10; i++) {
        if (b->pos >= b->end) return pb_fail(b, start, "truncated varint", 0, 0);
        uint8_t c = b->p[b->pos++];
        if (i == 9 && c > 1) return pb_fail(b, start, "varint longer than 64 bits", 0, 0);
        r |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) { *v = r; return LB_OK; }
    }
    return pb_fail(b, start, "varint longer than 10 bytes", 0, 0); /* not reached */
}

/* Next key: *field (1 .. 2^29-1), *wire (0, 1, 2, 5). */
static int pb_key(pb *b, uint32_t *field, int *wire, size_t *at)
{
    *at = b->pos;
    uint64_t k;
    LB_TRY(pb_varint(b, &k));
    if (k >> 3 == 0 || k >> 3 > 0x1fffffff) return pb_fail(b, *at, "bad field number %llu", k >> 3, 0);
    *field = (uint32_t)(k >> 3);
    *wire = (int)(k & 7);
    if (*wire == 3 || *wire == 4)
        return pb_fail(b, *at, "field %llu: wire type %llu (group) is not supported", *field, (unsigned)*wire);
    if (*wire > 5) return pb_fail(b, *at, "field %llu: invalid wire type %llu", *field, (unsigned)*wire);
    return LB_OK;
}

/* A length-delimited field's bytes: [*start, *start + *len). */
static int pb_bytes(pb *b, size_t *start, size_t *len)
{
    size_t at = b->pos;
    uint64_t n;
    LB_TRY(pb_varint(b, &n));
    if (n > b->end - b->pos)
        return pb_fail(b, at, "length %llu past the end of the message (%llu left)", n,
                       (unsigned long long)(b->end - b->pos));
    *start = b->pos;
    *len = (size_t)n;
    b->pos += (size_t)n;
    return LB_OK;
}

static int pb_skip(pb *b, int wire)
{
    uint64_t v;
    size_t s, n;
    switch (wire) {
    case 0: return pb_varint(b, &v);
    case 2: return pb_bytes(b, &s, &n);
    default: {
        size_t w = wire == 1 ? 8 : 4;
        if (b->end - b->pos < w) return pb_fail(b, b->pos, "truncated %llu-byte field", w, 0);
        b->pos += w;
        return LB_OK;
    }
    }
}

static int pb_want(const pb *b, size_t at, uint32_t field, int wire, int want)
{
    if (wire == want) return LB_OK;
    return tok_fail(b->err, LB_EFORMAT, at, b->name, "%s: field %u: wire type %d, want %d", b->what,
                    field, wire, want);
}

static pb pb_sub(const pb *b, size_t start, size_t len, const char *what)
{
    pb s = *b;
    s.pos = start;
    s.end = start + len;
    s.what = what;
    return s;
}

/* ---- messages ------------------------------------------------------------------------ */

static int read_piece(pb *b, size_t index, tok_vocab *v)
{
    char what[64];
    snprintf(what, sizeof what, "piece %zu", index);
    b->what = what;
    size_t ps = 0, pl = 0;
    int have_piece = 0;
    float score = 0;
    uint64_t type = 1;
    while (b->pos < b->end) {
        uint32_t f;
        int w;
        size_t at;
        LB_TRY(pb_key(b, &f, &w, &at));
        if (f == 1) {
            LB_TRY(pb_want(b, at, f, w, 2));
            LB_TRY(pb_bytes(b, &ps, &pl));
            have_piece = 1;
        } else if (f == 2) {
            LB_TRY(pb_want(b, at, f, w, 5));
            if (b->end - b->pos < 4) return pb_fail(b, b->pos, "truncated score", 0, 0);
            score = lb_ldf32(b->p + b->pos);
            b->pos += 4;
        } else if (f == 3) {
            LB_TRY(pb_want(b, at, f, w, 0));
            LB_TRY(pb_varint(b, &type));
            if (type < 1 || type > 6) return pb_fail(b, at, "unknown piece type %llu", type, 0);
        } else {
            LB_TRY(pb_skip(b, w));
        }
    }
    if (!have_piece) return pb_fail(b, b->end, "no piece text", 0, 0);
    if (memchr(b->p + ps, 0, pl)) return pb_fail(b, ps, "piece text contains a NUL byte", 0, 0);
    /* llama.cpp asks IsUnknown/IsControl/IsUnused/IsByte; anything else (USER_DEFINED
     * included) is written as NORMAL */
    int32_t t = type == 2 || type == 3 || type == 5 || type == 6 ? (int32_t)type : TOK_NORMAL;
    lb_err *err = b->err;
    return tok_vocab_push(v, (const char *)b->p + ps, pl, score, t, err);
}

static int read_trainer(pb *b, tok_spm_info *info)
{
    while (b->pos < b->end) {
        uint32_t f;
        int w;
        size_t at;
        uint64_t x;
        LB_TRY(pb_key(b, &f, &w, &at));
        int64_t *id = f == 40 ? &info->unk_id : f == 41 ? &info->bos_id : f == 42 ? &info->eos_id
                    : f == 43 ? &info->pad_id : NULL;
        if (f == 3 || f == 35 || id) {
            LB_TRY(pb_want(b, at, f, w, 0));
            LB_TRY(pb_varint(b, &x));
            if (f == 3) {
                if (x < 1 || x > 4) return pb_fail(b, at, "unknown model_type %llu", x, 0);
                info->model_type = (int)x;
            } else if (f == 35) {
                info->byte_fallback = x != 0;
            } else {
                *id = (int32_t)(uint32_t)x;   /* int32: negatives are sign-extended varints */
            }
        } else {
            LB_TRY(pb_skip(b, w));
        }
    }
    return LB_OK;
}

static int read_normalizer(pb *b, tok_spm_info *info)
{
    while (b->pos < b->end) {
        uint32_t f;
        int w;
        size_t at;
        uint64_t x;
        LB_TRY(pb_key(b, &f, &w, &at));
        if (f == 3) {
            LB_TRY(pb_want(b, at, f, w, 0));
            LB_TRY(pb_varint(b, &x));
            info->add_dummy_prefix = x != 0;
        } else {
            LB_TRY(pb_skip(b, w));
        }
    }
    return LB_OK;
}

int tok_spm_parse(const uint8_t *p, size_t n, const char *name, tok_vocab *v, tok_spm_info *info,
                  lb_err *err)
{
    pb b = { p, 0, n, name, "model", err };
    info->model_type = 1;          /* proto defaults */
    info->byte_fallback = 0;
    info->add_dummy_prefix = 1;
    info->unk_id = 0; info->bos_id = 1; info->eos_id = 2; info->pad_id = -1;
    v->model = "llama";
    while (b.pos < b.end) {
        uint32_t f;
        int w;
        size_t at, s, len;
        LB_TRY(pb_key(&b, &f, &w, &at));
        if (f >= 1 && f <= 3) {
            LB_TRY(pb_want(&b, at, f, w, 2));
            LB_TRY(pb_bytes(&b, &s, &len));
            pb sub = pb_sub(&b, s, len, f == 1 ? "piece" : f == 2 ? "trainer_spec" : "normalizer_spec");
            if (f == 1) LB_TRY(read_piece(&sub, v->n, v));
            else if (f == 2) LB_TRY(read_trainer(&sub, info));
            else LB_TRY(read_normalizer(&sub, info));
        } else {
            LB_TRY(pb_skip(&b, w));
        }
    }
    if (v->n == 0) return tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, name, "no pieces (not a SentencePiece model?)");
    if (!v->pre && !(v->pre = strdup("default")))
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    return LB_OK;
}

/* ---- the folder around it -------------------------------------------------------------- */

/* added_tokens.json: {"content": id, ...} -> USER_DEFINED, score -1000. */
static int apply_added_tokens_json(const char *dir, tok_vocab *v, lb_err *err)
{
    char *path = tok_path(dir, "added_tokens.json");
    cJSON *j = NULL;
    int rc = path ? tok_json_file(path, &j, err) : lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    const cJSON *it;
    if (!rc && j) {
        if (!cJSON_IsObject(j)) rc = tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "not a JSON object");
        cJSON_ArrayForEach(it, j) {
            if (rc) break;
            if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble != (double)(int64_t)it->valuedouble) {
                rc = tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "token '%.80s': id is not a non-negative integer",
                              it->string);
                break;
            }
            if (it->valuedouble >= (double)v->n) continue;   /* llama.cpp: ignored, out of range */
            size_t id = (size_t)it->valuedouble;
            rc = tok_vocab_set(v, id, it->string, strlen(it->string), err);
            v->score[id] = -1000.0f;
            v->type[id] = TOK_USER_DEFINED;
        }
    }
    cJSON_Delete(j);
    free(path);
    return rc;
}

/* Replace every U+2581 (the SentencePiece space) by ' ' in s (in place). */
static size_t unescape_spaces(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && (uint8_t)s[i] == 0xe2 && (uint8_t)s[i + 1] == 0x96 && (uint8_t)s[i + 2] == 0x81) {
            s[o++] = ' ';
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = 0;
    return o;
}

/* tokenizer_config.json's added_tokens_decoder: {"id": {"content", "special"}} -> CONTROL
 * (special or looks special) or USER_DEFINED (U+2581 -> ' '), score -1000. Also
 * add_prefix_space -> tokenizer.ggml.add_space_prefix (llama.py). */
static int apply_tokenizer_config(const char *dir, tok_vocab *v, lb_err *err)
{
    char *path = tok_path(dir, "tokenizer_config.json");
    cJSON *j = NULL;
    int rc = path ? tok_json_file(path, &j, err) : lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    if (!rc && j) {
        const cJSON *aps = cJSON_GetObjectItemCaseSensitive(j, "add_prefix_space");
        if (cJSON_IsBool(aps)) v->add_space_prefix = cJSON_IsTrue(aps);
        const cJSON *dec = cJSON_GetObjectItemCaseSensitive(j, "added_tokens_decoder"), *it;
        if (!cJSON_IsObject(dec)) dec = NULL;
        cJSON_ArrayForEach(it, dec) {
            char *end;
            unsigned long long id = strtoull(it->string, &end, 10);
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
            if (*end || end == it->string || !cJSON_IsString(content)) {
                rc = tok_fail(err, LB_EFORMAT, LB_NO_OFFSET, path, "added_tokens_decoder '%.40s': want an id and a content",
                              it->string);
                break;
            }
            if (id >= v->n) continue;
            char *s = strdup(content->valuestring);
            if (!s) { rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); break; }
            size_t len = strlen(s);
            int special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "special")) || tok_looks_special(s);
            if (!special) len = unescape_spaces(s, len);
            rc = tok_vocab_set(v, (size_t)id, s, len, err);
            free(s);
            if (rc) break;
            v->type[id] = special ? TOK_CONTROL : TOK_USER_DEFINED;
            v->score[id] = -1000.0f;
        }
    }
    cJSON_Delete(j);
    free(path);
    return rc;
}

int tok_spm_load(const char *path, const char *dir, int64_t vocab_size, tok_vocab *v, lb_err *err)
{
    uint8_t *buf;
    size_t n;
    tok_spm_info info;
    LB_TRY(tok_read_file(path, TOK_MAX_FILE, &buf, &n, err));
    int rc = tok_spm_parse(buf, n, path, v, &info, err);
    free(buf);
    LB_TRY(rc);
    /* the model's vocab_size decides: pad with [PAD<id>] (score -10000, UNUSED) or cut */
    if (vocab_size >= 0) LB_TRY(tok_vocab_resize(v, (size_t)vocab_size, -10000.0f, err));
    if (!info.add_dummy_prefix) v->add_space_prefix = 0;
    if (dir) {
        LB_TRY(apply_added_tokens_json(dir, v, err));
        LB_TRY(apply_tokenizer_config(dir, v, err));
    }
    return LB_OK;
}
