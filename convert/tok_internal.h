/* tok_internal.h: what the tokenizer readers (spm.c, bpe.c, l2c_tok.c) share with the
 * code that turns a vocabulary into GGUF kvs (tokenizer.c) and with the special-token
 * rules (tok_special.c). Private to convert/.
 *
 * Flow: a reader fills a tok_vocab (tokens in id order, scores, types, merges), the
 * special-token pass reads the folder's json files into a tok_special, and tok_emit
 * turns both into the GGUF kvs llama.cpp's converter would write. */
#ifndef LB_TOK_INTERNAL_H
#define LB_TOK_INTERNAL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "lb_tokenizer.h"

/* gguf-py's TokenType (= SentencePiece's piece types) */
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER_DEFINED = 4, TOK_UNUSED = 5,
       TOK_BYTE = 6 };

#define TOK_MAX_FILE   (1024ull << 20)  /* largest tokenizer file read into memory */
#define TOK_MAX_VOCAB  (16u << 20)      /* token ids above this are refused */

typedef struct tok_vocab {
    const char *model;        /* tokenizer.ggml.model: "llama" or "gpt2" */
    char       *pre;          /* tokenizer.ggml.pre, or NULL (not written) */
    lb_value   *tok;          /* n LB_V_STR values (owned) */
    float      *score;        /* n scores, or NULL (gpt2 has none) */
    int32_t    *type;         /* n token types */
    size_t      n, cap;
    lb_value   *merges;       /* LB_V_STR values, or NULL */
    size_t      n_merges, cap_merges;
    int         add_space_prefix;   /* -1: not written */
    int         fixed_special;      /* llama2.c: unk/bos/eos = 0/1/2, no json files */
} tok_vocab;

#define TOK_VOCAB_INIT { .add_space_prefix = -1 }

void tok_vocab_free(tok_vocab *v);
/* Append a token (bytes copied). */
int  tok_vocab_push(tok_vocab *v, const char *s, size_t len, float score, int32_t type, lb_err *err);
/* Replace token i's text (bytes copied). */
int  tok_vocab_set(tok_vocab *v, size_t i, const char *s, size_t len, lb_err *err);
int  tok_vocab_push_merge(tok_vocab *v, const char *s, size_t len, lb_err *err);
/* Pad with "[PAD<id>]" UNUSED tokens (score pad_score) up to n, or cut down to n. */
int  tok_vocab_resize(tok_vocab *v, size_t n, float pad_score, lb_err *err);
/* Token id of text s, or -1 (linear scan; used for a handful of lookups). */
int64_t tok_vocab_find(const tok_vocab *v, const char *s);

/* ---- special tokens (gguf-py SpecialVocab) ------------------------------------------ */

enum { SP_BOS, SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, SP_EOT, SP_EOM, SP_N };

typedef struct tok_special {
    int64_t id[SP_N];         /* -1: unset */
    int     add[SP_N];        /* add_<typ>_token: -1 unset, 0, 1 */
    int     n_types;          /* types looked up (SpecialVocab adds eot/eom on demand) */
    char   *chat_template;    /* tokenizer.chat_template, or NULL */
    char  **tmpl_name, **tmpl_text;   /* named templates (list form), n_tmpl of them */
    size_t  n_tmpl;
    int     norm_lowercase, norm_strip_accents;  /* -1 unset */
} tok_special;

/* gguf-py's does_token_look_special: <pad>, <mask>, <2mass>, [@BOS@], <|...|>, <｜...｜>,
 * <unused...>. */
int  tok_looks_special(const char *s);

void tok_special_init(tok_special *s);
void tok_special_free(tok_special *s);
/* Run SpecialVocab's rules over folder dir (NULL: none): tokenizer.json (tj, may be NULL;
 * its added_tokens, post_processor and normalizer), tokenizer_config.json,
 * special_tokens_map.json, chat_template.jinja/.json, config.json, generation_config.json.
 * Ids must be below n_vocab. */
int  tok_special_load(tok_special *s, const char *dir, const cJSON *tj, size_t n_vocab, lb_err *err);

/* ---- files ---------------------------------------------------------------------------- */

/* dir + "/" + name, malloc'd (NULL on out of memory). */
char *tok_path(const char *dir, const char *name);
int   tok_exists(const char *path);
/* Read a whole file (at most max bytes) into a malloc'd, NUL-terminated buffer. */
int   tok_read_file(const char *path, uint64_t max, uint8_t **buf, size_t *n, lb_err *err);
/* Parse a JSON file. A missing file gives LB_OK and *out = NULL; bad JSON is LB_EFORMAT. */
int   tok_json_file(const char *path, cJSON **out, lb_err *err);
/* config.json's vocab_size (or text_config.vocab_size), -1 if absent. */
int64_t tok_config_vocab_size(const char *dir);
/* Error helpers: messages name the file first ("'x/tokenizer.model': ..."). */
int   tok_fail(lb_err *err, int code, uint64_t off, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Prefix an error already in err with the file name. */
int   tok_prefix(lb_err *err, const char *path);

/* ---- readers ------------------------------------------------------------------------- */

/* SentencePiece ModelProto from memory (name for messages) -> v (llama model, scores,
 * types) following _create_vocab_sentencepiece; *model_type gets trainer_spec.model_type
 * (1 unigram, 2 bpe, ...), *byte_fallback and *add_dummy_prefix the flags. */
typedef struct tok_spm_info {
    int model_type, byte_fallback, add_dummy_prefix;
    int64_t unk_id, bos_id, eos_id, pad_id;
} tok_spm_info;
int tok_spm_parse(const uint8_t *p, size_t n, const char *name, tok_vocab *v, tok_spm_info *info,
                  lb_err *err);
/* tokenizer.model in dir (or file path), with added_tokens.json / tokenizer_config.json. */
int tok_spm_load(const char *path, const char *dir, int64_t vocab_size, tok_vocab *v, lb_err *err);
/* HF tokenizer.json (byte-level BPE); *tj_out keeps the parsed document for the
 * special-token pass (caller frees). */
int tok_bpe_load(const char *path, const char *dir, const lb_tok_opts *o, int64_t vocab_size,
                 tok_vocab *v, cJSON **tj_out, lb_err *err);
/* llama2.c tokenizer.bin. */
int tok_l2c_parse(const uint8_t *p, size_t n, const char *name, int64_t vocab_size, tok_vocab *v,
                  lb_err *err);
/* Map tokenizer.json's normalizer + pre_tokenizer to a llama.cpp pre name (bpe_pre.c):
 * the name, or NULL with *why describing what was seen. */
const char *tok_bpe_pre_name(const cJSON *tj, int clean_spaces, char *why, size_t why_n);
/* 1 if llama.cpp 0.4.0 knows this tokenizer.ggml.pre name. */
int tok_bpe_pre_known(const char *name);
/* The i-th name the table can produce, NULL past the end (for tests). */
const char *tok_bpe_pre_row(size_t i);

#endif
