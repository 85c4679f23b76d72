/* lb_llama2c.h: llama2.c checkpoints (versions 0, 1, 2) and llama2.c's tokenizer.bin.
 *
 * Checkpoint layout (all little-endian; docs/formats-llama2c.md has the details):
 *   v0 (legacy, no magic): 7 x i32 dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *      vocab_size (negative: separate classifier), seq_len; then f32 weights in run.c
 *      order: token_embedding, rms_att[L], wq[L], wk[L], wv[L], wo[L], rms_ffn[L],
 *      w1[L], w2[L], w3[L], rms_final, freq_cis_real, freq_cis_imag, [wcls].
 *   v1: u32 magic 0x616b3432 ("24ka" on disk), i32 version 1, the 7 i32 above
 *      (vocab positive), u8 shared_classifier, zero padding to 256 bytes; then f32:
 *      rms_att[L], rms_ffn[L], rms_final, token_embedding, wq[L], wk[L], wv[L], wo[L],
 *      w1[L], w2[L], w3[L], [wcls].
 *   v2: as v1 with version 2 and an i32 group_size at byte 37; the three norm groups in
 *      f32, then each matrix of the v1 order as int8 values followed by f32 scales (one
 *      per group_size consecutive values; value = int8 * scale).
 * The file size must equal the size the header implies.
 *
 * Tensors get llama.cpp's names and shapes (outermost first): token_embd.weight
 * [vocab, dim], blk.N.attn_norm.weight [dim], blk.N.attn_q.weight [dim, dim],
 * attn_k/attn_v [n_kv_heads * head_size, dim], attn_output [dim, dim], ffn_norm [dim],
 * ffn_gate (w1) [hidden, dim], ffn_down (w2) [dim, hidden], ffn_up (w3) [hidden, dim],
 * output_norm.weight [dim], output.weight [vocab, dim] (only with a separate classifier).
 * v2 matrices are Q8_0 when that is lossless (group_size and the row length multiples
 * of 32, every scale of the tensor exact in f16), else F32 dequantized on read.
 * Metadata: llama.cpp keys (general.architecture "llama", llama.*) plus llama2c.*. */
#ifndef LB_LLAMA2C_H
#define LB_LLAMA2C_H

#include "lb_model.h"

#define LB_LLAMA2C_MAGIC 0x616b3432u
#define LB_LLAMA2C_HEADER 256u          /* v1/v2 header size */
#define LB_LLAMA2C_MAX_LAYERS 65536     /* more is refused as implausible */

/* Two rows in the registry: files with the magic (bid 90) and legacy v0 files, which
 * have none (bid 5, only when the header is plausible and the sizes match exactly). */
extern const lb_format lb_fmt_llama2c;
extern const lb_format lb_fmt_llama2c_v0;

int lb_llama2c_bid(const uint8_t *head, size_t n, uint64_t size);
int lb_llama2c_bid_v0(const uint8_t *head, size_t n, uint64_t size);
/* Opens v0, v1 and v2 (told apart by the magic). */
int lb_llama2c_open(lb_model *m, lb_src *src, const char *path, lb_err *err);

/* ---- tokenizer.bin: i32 max_token_length, then per token f32 score, i32 len, len bytes ---- */

typedef struct lb_llama2c_tokenizer {
    uint32_t  max_token_length;  /* from the header */
    uint32_t  n_tokens;
    char    **tokens;            /* tokens[i]: len[i] bytes + NUL (may hold inner NULs) */
    uint32_t *len;
    float    *scores;
    char     *blob_;             /* storage behind tokens[] */
} lb_llama2c_tokenizer;

/* Parse a tokenizer from src (not taken over). vocab_size 0: read tokens until the end
 * of the file, which must fall on a token boundary; otherwise exactly vocab_size tokens
 * and no bytes after them. Every len must be 0..max_token_length and inside the file.
 * LB_EFORMAT names the token and the offset. */
int  lb_llama2c_tokenizer_read(lb_llama2c_tokenizer **out, lb_src *src, uint32_t vocab_size,
                               lb_err *err);
/* Same, from a path. */
int  lb_llama2c_tokenizer_load(lb_llama2c_tokenizer **out, const char *path, uint32_t vocab_size,
                               lb_err *err);
void lb_llama2c_tokenizer_free(lb_llama2c_tokenizer *t);   /* NULL is a no-op */

#endif
