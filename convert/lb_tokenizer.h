/* lb_tokenizer.h: tokenizers -> GGUF tokenizer.* metadata, as llama.cpp's converter writes it.
 *
 * Sources: a SentencePiece tokenizer.model (protobuf, parsed here), a Hugging Face
 * tokenizer.json (byte-level BPE), a llama2.c tokenizer.bin; plus tokenizer_config.json,
 * special_tokens_map.json and generation_config.json beside them for special tokens, flags
 * and the chat template. */
#ifndef LB_TOKENIZER_H
#define LB_TOKENIZER_H

#include "lb_model.h"

typedef struct lb_tok_opts {
    const char *pre;          /* force tokenizer.ggml.pre (else mapped from tokenizer.json) */
    const char *tokenizer;    /* explicit tokenizer file (llama2.c: tokenizer.bin or .model) */
    int64_t     vocab_size;   /* from config.json (pad the vocabulary up to it), or -1 (0 too):
                               * then dir/config.json's vocab_size if any, as llama.cpp reads it */
} lb_tok_opts;

/* Read the tokenizer found in folder `dir` (or o->tokenizer, which wins when given; dir
 * may then be NULL; o may be NULL) and return the GGUF kvs
 * (tokenizer.ggml.model, .pre, .tokens, .scores, .token_type, .merges, *_token_id,
 * add_bos_token / add_eos_token, tokenizer.chat_template) as a malloc'd array that the
 * caller frees with lb_kv_array_free. LB_EFORMAT (naming the file) when there is no
 * tokenizer or it cannot be mapped (e.g. an unknown pre-tokenizer without o->pre). */
int  lb_tokenizer_load(const char *dir, const lb_tok_opts *o, lb_kv **kv, size_t *n_kv, lb_err *err);
void lb_kv_array_free(lb_kv *kv, size_t n);

/* Parse a SentencePiece ModelProto from memory into the vocabulary kvs alone (model, pre,
 * tokens, scores, token_type; no folder, no special-token files). For fuzzers and tests;
 * malformed input is LB_EFORMAT with the byte offset. name is used in messages. */
int  lb_tokenizer_spm_mem(const void *data, size_t n, const char *name, lb_kv **kv, size_t *n_kv,
                          lb_err *err);

#endif
