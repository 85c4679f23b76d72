/* l2c_tok.c: llama2.c tokenizer.bin -> llama vocabulary, as llama.cpp's
 * examples/convert-llama2c-to-ggml reads it.
 *
 * Layout (little-endian): i32 max_token_length, then per token: f32 score, i32 length,
 * length bytes (no NUL). The count is not stored: tokens run to the end of the file (or
 * stop at the model's vocab_size when it is known).
 * llama2.c's export replaced the SentencePiece space U+2581 by ' ' and wrote bos/eos as
 * "\n<s>\n" / "\n</s>\n"; llama.cpp undoes that: id 0 -> "<unk>" UNKNOWN, 1 -> "<s>" and
 * 2 -> "</s>" CONTROL, an empty text CONTROL, "<0xHH>" BYTE, others NORMAL, and every
 * ' ' back to U+2581. unk/bos/eos ids are then 0/1/2. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "lb_le.h"

static int is_byte_token(const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEFabcdef";
    return n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && s[3] && s[4] &&
           strchr(hex, s[3]) && strchr(hex, s[4]);
}

static int push_token(tok_vocab *v, size_t id, const uint8_t *s, size_t len, float score, lb_err *err)
{
    static const char *const fixed[3] = { "<unk>", "<s>", "</s>" };
    static const int32_t fixed_type[3] = { TOK_UNKNOWN, TOK_CONTROL, TOK_CONTROL };
    if (id < 3) return tok_vocab_push(v, fixed[id], strlen(fixed[id]), score, fixed_type[id], err);
    int32_t type = len == 0 ? TOK_CONTROL : is_byte_token(s, len) ? TOK_BYTE : TOK_NORMAL;
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += s[i] == ' ';
    char *t = malloc(len + 2 * spaces + 1);
    if (!t) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') { t[o++] = (char)0xe2; t[o++] = (char)0x96; t[o++] = (char)0x81; }
        else t[o++] = (char)s[i];
    }
    int rc = tok_vocab_push(v, t, o, score, type, err);
    free(t);
    return rc;
}

int tok_l2c_parse(const uint8_t *p, size_t n, const char *name, int64_t vocab_size, tok_vocab *v,
                  lb_err *err)
{
    v->model = "llama";
    if (n < 4) return tok_fail(err, LB_EFORMAT, 0, name, "too short for a llama2.c tokenizer (%zu bytes)", n);
    int32_t maxlen = (int32_t)lb_ld32(p);
    if (maxlen <= 0 || maxlen > (1 << 20))
        return tok_fail(err, LB_EFORMAT, 0, name, "max_token_length %d is out of range", (int)maxlen);
    size_t pos = 4;
    while (pos < n && (vocab_size < 0 || v->n < (uint64_t)vocab_size)) {
        if (n - pos < 8)
            return tok_fail(err, LB_EFORMAT, pos, name, "token %zu: truncated score and length", v->n);
        float score = lb_ldf32(p + pos);
        int32_t len = (int32_t)lb_ld32(p + pos + 4);
        if (len < 0 || (uint64_t)len > n - pos - 8)
            return tok_fail(err, LB_EFORMAT, pos + 4, name, "token %zu: length %d past the end of the file",
                            v->n, (int)len);
        if (memchr(p + pos + 8, 0, (size_t)len))
            return tok_fail(err, LB_EFORMAT, pos + 8, name, "token %zu: text contains a NUL byte", v->n);
        LB_TRY(push_token(v, v->n, p + pos + 8, (size_t)len, score, err));
        pos += 8 + (size_t)len;
    }
    if (vocab_size >= 0 && v->n < (uint64_t)vocab_size)
        return tok_fail(err, LB_EFORMAT, pos, name, "%zu tokens, but the model's vocab_size is %lld", v->n,
                        (long long)vocab_size);
    if (v->n == 0) return tok_fail(err, LB_EFORMAT, pos, name, "no tokens");
    return LB_OK;
}
