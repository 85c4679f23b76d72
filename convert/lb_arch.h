/* lb_arch.h: model architectures as tables (docs/architectures.md).
 *
 * An architecture is one row of lb_archs[] (convert/arch.c): the Hugging Face class name
 * in config.json's "architectures", the GGUF general.architecture, the GGUF keys written
 * from config.json, and two tensor tables (whole-model and per-block) that map HF names
 * to llama.cpp's names, give each tensor's shape in terms of the hyperparameters, and the
 * transform applied on the way (q/k un-permutation, Conv1D transpose). Adding an
 * architecture is adding rows; no code path knows an architecture by name.
 *
 * Shapes are outermost first (PyTorch order) for the source tensor; the output shape is
 * the same, except for LB_XF_TRANSPOSE, which swaps the two dimensions. */
#ifndef LB_ARCH_H
#define LB_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "lb_model.h"

/* ---- hyperparameters read from config.json ---------------------------------------- */

#define LB_ARCH_MAX_LAYERS 100000   /* more is refused as implausible (tables are per layer) */

enum lb_hp {
    LB_HP_LAYERS, LB_HP_CTX, LB_HP_EMBD, LB_HP_FF, LB_HP_HEAD, LB_HP_HEAD_KV, LB_HP_VOCAB,
    LB_HP_HEAD_DIM, LB_HP_COUNT
};

typedef struct lb_hparams {
    int64_t v[LB_HP_COUNT];   /* value (derived where config.json lacks it: see arch.c) */
    int     given[LB_HP_COUNT]; /* 1 if config.json had it */
    double  rope_theta;  int has_rope_theta;
    double  rms_eps;     int has_rms_eps;
    double  norm_eps;    int has_norm_eps;
    int     tied;             /* tie_word_embeddings: 1, 0, or -1 when absent */
    /* rope_scaling / rope_parameters */
    char    rope_type[24];    /* "" when none */
    double  rope_factor, rope_low, rope_high, rope_orig_ctx;
    int     has_factor, has_orig_ctx;
    double  yarn_ext, yarn_attn, yarn_beta_fast, yarn_beta_slow;
    int     has_yarn_ext, has_yarn_attn, has_yarn_beta_fast, has_yarn_beta_slow;
} lb_hparams;

/* ---- tensor tables ------------------------------------------------------------------ */

enum lb_dim { LB_D_NONE, LB_D_EMBD, LB_D_FF, LB_D_VOCAB, LB_D_Q, LB_D_KV, LB_D_QKV, LB_D_CTX };

enum lb_xform {
    LB_XF_NONE,
    LB_XF_PERM_Q,      /* undo HF's rotate-half permutation of q rows (n_head heads) */
    LB_XF_PERM_K,      /* the same for k rows (n_head_kv heads) */
    LB_XF_TRANSPOSE    /* Conv1D [in, out] -> [out, in] */
};

enum lb_tflag {
    LB_TF_OPTIONAL = 1,  /* may be absent (e.g. lm_head when tied, llama's attention biases) */
    LB_TF_F32      = 2,  /* always written as F32 (position embeddings, as llama.cpp does) */
    LB_TF_LM_HEAD  = 4   /* required when config.json says tie_word_embeddings: false */
};

typedef struct lb_arch_tensor {
    const char *hf;      /* HF name; in block tables "%d" is the block number */
    const char *gguf;    /* llama.cpp name; "%d" likewise */
    int         xform;   /* enum lb_xform */
    int         flags;   /* enum lb_tflag */
    int         ndim;
    int         dim[2];  /* enum lb_dim per source dimension, outermost first */
} lb_arch_tensor;

/* GGUF keys: "<arch>.<key>" written from hyperparameter `hp`. */
typedef struct lb_arch_key {
    const char *key;     /* "embedding_length" */
    int         src;     /* enum lb_arch_ksrc */
    int         flags;   /* LB_K_IF_GIVEN: only when config.json had it */
} lb_arch_key;

enum lb_arch_ksrc {
    LB_K_LAYERS, LB_K_CTX, LB_K_EMBD, LB_K_FF, LB_K_HEAD, LB_K_HEAD_KV, LB_K_VOCAB,
    LB_K_ROPE_DIM, LB_K_ROPE_THETA, LB_K_RMS_EPS, LB_K_NORM_EPS, LB_K_HEAD_DIM_KQ
};
enum { LB_K_IF_GIVEN = 1 };

typedef struct lb_arch {
    const char *hf_arch;               /* "LlamaForCausalLM" */
    const char *gguf_arch;             /* "llama" */
    const char *strip_prefix;          /* optional HF name prefix (gpt2: "transformer.") or NULL */
    const lb_arch_key    *keys;        /* terminated by key == NULL */
    const lb_arch_tensor *global;      /* terminated by hf == NULL */
    const lb_arch_tensor *block;
    const char *const    *skip;        /* HF name suffixes that are dropped, NULL-terminated */
    int rope;                          /* 1: rope scaling keys and llama3 rope_freqs apply */
    int ff_4x;                         /* 1: feed_forward_length is 4 * n_embd unless given */
} lb_arch;

/* The supported architectures, NULL-terminated. */
extern const lb_arch *const lb_archs[];

const lb_arch *lb_arch_find(const char *hf_arch);
/* "LlamaForCausalLM, MistralForCausalLM, ..." */
const char *lb_arch_supported(void);

/* Read config.json at `path`: find the architecture and the hyperparameters. LB_EIO if it
 * cannot be read; LB_EFORMAT naming the file when it is not JSON, lacks a required field,
 * or names an unsupported architecture (listing the supported ones). */
int lb_arch_config(const char *path, const lb_arch **arch, lb_hparams *hp, lb_err *err);
/* The same from memory (n bytes, NULs end the text early); name is used in messages. */
int lb_arch_config_mem(const void *data, size_t n, const char *name, const lb_arch **arch, lb_hparams *hp,
                       lb_err *err);

/* Value of a shape dimension under hp. */
uint64_t lb_arch_dim(const lb_hparams *hp, int dim);

/* Match a source tensor name: 1 and (*t, *bid) when mapped (*bid -1 for whole-model
 * tensors), 0 when the name is one of the arch's skipped tensors, -1 when unknown. */
int lb_arch_match(const lb_arch *a, const char *name, const lb_arch_tensor **t, int *bid);
/* The same on the GGUF side (sources already named like llama.cpp: llama2.c). */
int lb_arch_match_gguf(const lb_arch *a, const char *name, const lb_arch_tensor **t, int *bid);

/* ---- metadata lists --------------------------------------------------------------------- */

typedef struct lb_kvlist { lb_kv *kv; size_t n, cap; } lb_kvlist;

int  lb_kvlist_str(lb_kvlist *l, const char *key, const char *s, lb_err *err);
int  lb_kvlist_u32(lb_kvlist *l, const char *key, uint32_t v, lb_err *err);
int  lb_kvlist_f32(lb_kvlist *l, const char *key, double v, lb_err *err);
/* Append a deep copy of val. */
int  lb_kvlist_copy(lb_kvlist *l, const char *key, const lb_value *val, lb_err *err);
void lb_kvlist_free(lb_kvlist *l);

/* Append "<arch>.*" hyperparameter keys (and rope scaling) as llama.cpp's converter writes them. */
int lb_arch_kvs(const lb_arch *a, const lb_hparams *hp, lb_kvlist *l, lb_err *err);

/* llama3 rope scaling: the rope_freqs factors (head_dim / 2 floats, malloc'd), computed as
 * llama.cpp's LlamaModel.generate_extra_tensors does; *n = 0 when the arch/config has none. */
int lb_arch_rope_freqs(const lb_arch *a, const lb_hparams *hp, float **out, size_t *n, lb_err *err);

#endif
