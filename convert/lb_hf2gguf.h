/* lb_hf2gguf.h: architecture-aware conversion to GGUF (docs/lowbit-convert.md).
 *
 * Sources: a Hugging Face folder (config.json + safetensors, sharded or not), or a model
 * whose tensors already carry llama.cpp's names and whose metadata says which
 * architecture it is (llama2.c checkpoints, through formats/llama2c.c).
 *
 * One pass, bounded memory: lb_conv_open reads config.json and the tensor headers, checks
 * every tensor against the architecture table and the config, and plans the output (names,
 * types, shapes after the transforms, metadata, tokenizer). lb_conv_write then writes the
 * GGUF header at once and streams each source tensor through in pieces of at most
 * LB_CONV_CHUNK elements (see hf2gguf.c for how permutations and transposes stay bounded),
 * so the output may be a pipe. */
#ifndef LB_HF2GGUF_H
#define LB_HF2GGUF_H

#include "lb_arch.h"
#include "lb_model.h"

#define LB_CONV_CHUNK (1u << 20)   /* elements per piece (4 MiB of f32) */

typedef struct lb_conv_opts {
    int outtype;               /* -1: keep the source precision; LB_F32, LB_F16 or LB_BF16 */
    int vocab_only;            /* hyperparameters + tokenizer, no tensors */
    int no_vocab;              /* no tokenizer metadata */
    const char *tokenizer;     /* --tokenizer FILE (a .gguf: its tokenizer.* keys are copied) */
    const char *pre;           /* --pre NAME: tokenizer.ggml.pre */
    uint32_t chunk;            /* elements per piece; 0: LB_CONV_CHUNK (tests use small ones) */
    int mix_ftype;             /* > 0: quantize with this llama.cpp mix (a llama_ftype), as
                                * converting to F32 and running lowbit-quantize would; needs
                                * outtype LB_F32. 0 or -1: no quantization */
    int nthreads;              /* for quantizing (<= 1: one) */
    /* progress, called after each piece with the bytes written so far (may be NULL) */
    void (*progress)(void *ctx, uint64_t done, uint64_t total, const char *tensor);
    void *progress_ctx;
} lb_conv_opts;

typedef struct lb_conv_tensor {
    char        name[64];      /* llama.cpp's name */
    int         type;          /* output type */
    int         fixed;         /* type fixed by the table (F32 position embeddings) */
    int         ndim;
    uint64_t    shape[2];      /* output shape, outermost first */
    const lb_tensor *src;      /* NULL: generated (gen) */
    int         xform;         /* enum lb_xform */
    uint64_t    heads;         /* heads for LB_XF_PERM_* */
    const float *gen;
} lb_conv_tensor;

typedef struct lb_conv {
    const lb_arch *arch;
    lb_hparams  hp;
    lb_model   *m;             /* the source (NULL for --vocab-only) */
    lb_kvlist   kv;
    lb_conv_tensor *t;  size_t n_t;
    float      *gen;           /* generated data (rope_freqs) */
    uint64_t    total_bytes;   /* output tensor bytes */
    uint64_t    params;
    const lb_conv_opts *o;
    const char *hp_src;        /* where the hyperparameters came from, for messages */
    struct lb_qreport *report; /* with mix_ftype: the error report, n_t entries, after lb_conv_write */
} lb_conv;

/* What the architecture-aware mode takes: 1 a folder with config.json, 2 a model file
 * whose reader gives llama.cpp's names (format "llama2c"), 0 anything else. */
int  lb_conv_detect(const char *src);
/* Plan a conversion of SRC (a folder with config.json, or a file as lb_conv_detect's 2;
 * the tokenizer is then looked for beside it). o must outlive c. */
int  lb_conv_open(lb_conv **c, const char *src, const lb_conv_opts *o, lb_err *err);
/* Plan a conversion of an open model whose tensors are already named like llama.cpp's and
 * whose metadata has general.architecture and "<arch>.*" hyperparameters (llama2.c
 * checkpoints). Takes ownership of m; dir is where a tokenizer is looked for. */
int  lb_conv_open_native(lb_conv **c, lb_model *m, const char *dir, const lb_conv_opts *o, lb_err *err);
/* Write the GGUF. On failure *out_side tells whether the output (1) or the source (0) failed. */
int  lb_conv_write(lb_conv *c, lb_out *out, int *out_side, lb_err *err);
void lb_conv_free(lb_conv *c);   /* NULL is a no-op */

#endif
