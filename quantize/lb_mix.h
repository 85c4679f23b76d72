/* lb_mix.h: quantization mixes: which type each tensor gets, as llama.cpp 0.4.0 picks it.
 *
 * A mix (llama-quantize's TYPE argument, a llama_ftype id) names a default type plus
 * per-tensor exceptions: output and token embeddings get more bits, attn_v and ffn_down
 * get more bits in some layers, rows that are not a multiple of the block size fall back
 * to a smaller block. lb_mix_plan reproduces llama.cpp's choice tensor by tensor, in
 * llama.cpp's processing order (by layer number, then by name), so its layer counters
 * advance exactly as llama.cpp's do. docs/quantize-mixes.md has the rules as a table.
 *
 * Nothing here prints or exits; errors go to an lb_err. */
#ifndef LB_MIX_H
#define LB_MIX_H

#include <stddef.h>
#include <stdint.h>

#include "lb_error.h"
#include "lb_model.h"

/* llama_ftype ids (llama.h); these are what GGUF's general.file_type stores. */
enum lb_ftype {
    LB_FT_ALL_F32 = 0, LB_FT_F16 = 1, LB_FT_Q4_0 = 2, LB_FT_Q4_1 = 3, LB_FT_Q8_0 = 7,
    LB_FT_Q5_0 = 8, LB_FT_Q5_1 = 9, LB_FT_Q2_K = 10, LB_FT_Q3_K_S = 11, LB_FT_Q3_K_M = 12,
    LB_FT_Q3_K_L = 13, LB_FT_Q4_K_S = 14, LB_FT_Q4_K_M = 15, LB_FT_Q5_K_S = 16,
    LB_FT_Q5_K_M = 17, LB_FT_Q6_K = 18, LB_FT_IQ2_XXS = 19, LB_FT_IQ2_XS = 20,
    LB_FT_Q2_K_S = 21, LB_FT_IQ3_XS = 22, LB_FT_IQ3_XXS = 23, LB_FT_IQ1_S = 24,
    LB_FT_IQ4_NL = 25, LB_FT_IQ3_S = 26, LB_FT_IQ3_M = 27, LB_FT_IQ2_S = 28, LB_FT_IQ2_M = 29,
    LB_FT_IQ4_XS = 30, LB_FT_IQ1_M = 31, LB_FT_BF16 = 32, LB_FT_TQ1_0 = 36, LB_FT_TQ2_0 = 37,
    LB_FT_MXFP4_MOE = 38, LB_FT_Q1_0 = 40, LB_FT_Q2_0 = 41
};

/* ---- mix names ------------------------------------------------------------------ */

typedef struct lb_mix_name {
    const char *name;      /* as llama-quantize spells it: "Q4_K_M", "Q4_K" (alias), "COPY" */
    int         ftype;     /* enum lb_ftype */
    int         alias;     /* 1 for Q3_K, Q4_K, Q5_K (aliases of the _M mixes) */
    int         copy;      /* 1 for COPY: tensors are copied, nothing is converted */
} lb_mix_name;

/* Every name llama-quantize 0.4.0 accepts, in its order; returns the count. */
size_t lb_mix_names(const lb_mix_name **list);
/* Look a TYPE up as llama-quantize does: case-insensitive name, or a decimal ftype id
 * ("15": the first entry with that id, which for 12/15/17 is the alias); NULL if unknown. */
const lb_mix_name *lb_mix_find(const char *s);
/* "Q1_0, Q2_0, Q4_0, ..." (aliases and COPY included) into buf; returns buf. */
const char *lb_mix_valid_names(char *buf, size_t n);
/* Canonical name of an ftype id ("Q4_K_M"), NULL if not a mix. */
const char *lb_mix_ftype_name(int ftype);
/* The mix's default type (enum lb_type), or -1 if ftype is not a mix. */
int lb_mix_default_type(int ftype);

/* ---- model facts the rules depend on -------------------------------------------- */

typedef struct lb_mix_hparams {
    char     arch[64];     /* general.architecture ("llama", "falcon", ...) */
    uint32_t n_layer;      /* <arch>.block_count: all blocks, nextn ones included */
    uint32_t n_layer_nextn;/* <arch>.nextn_predict_layers (0 if absent) */
    uint32_t n_expert;     /* <arch>.expert_count (0 if absent) */
    uint32_t n_head;       /* <arch>.attention.head_count of layer 0 (0 if absent) */
    uint32_t n_head_kv;    /* <arch>.attention.head_count_kv of layer 0 (n_head if absent) */
} lb_mix_hparams;

/* Read them from a model's metadata. LB_EFORMAT if general.architecture or
 * <arch>.block_count is missing or of the wrong type (llama.cpp cannot load such a file). */
int lb_mix_hparams_get(const lb_model *m, lb_mix_hparams *hp, lb_err *err);

/* ---- the plan --------------------------------------------------------------------- */

struct lb_imatrix;  /* lb_imatrix.h */

typedef struct lb_mix_opts {
    int ftype;                  /* enum lb_ftype */
    int only_copy;              /* COPY: keep every tensor's type */
    int pure;                   /* --pure: no per-tensor exceptions, default type everywhere */
    int leave_output_tensor;    /* --leave-output-tensor: output.weight keeps its type */
    int allow_requantize;       /* --allow-requantize */
    int output_tensor_type;     /* --output-tensor-type (enum lb_type), -1 = by the mix */
    int token_embedding_type;   /* --token-embedding-type (enum lb_type), -1 = by the mix */
    /* --tensor-type REGEX=TYPE, tried in order, first match wins. REGEX is a POSIX
     * extended regex (after lowercasing, as llama-quantize does; \d and \D are accepted
     * and mean [0-9] / [^0-9]) searched anywhere in the tensor name. */
    const char *const *overrides;
    size_t n_overrides;
    int has_imatrix;            /* an importance matrix will be used */
    /* Optional: the matrix itself. When set, has_imatrix is implied and the plan also
     * refuses what llama.cpp refuses with one: a tensor that needs an imatrix but has no
     * entry, an entry whose size is not row length x experts. */
    const struct lb_imatrix *imatrix;
} lb_mix_opts;

/* opts with llama.cpp's defaults for a mix (every type -1, every flag 0). */
lb_mix_opts lb_mix_opts_default(int ftype);

/* Tensor classes the rules distinguish (by name, like llama.cpp). */
enum lb_mix_cat {
    LB_MIX_OTHER = 0, LB_MIX_TOKEN_EMBD, LB_MIX_OUTPUT, LB_MIX_ATTN_Q, LB_MIX_ATTN_K,
    LB_MIX_ATTN_V, LB_MIX_ATTN_QKV, LB_MIX_ATTN_KV_B, LB_MIX_ATTN_OUTPUT, LB_MIX_FFN_UP,
    LB_MIX_FFN_GATE, LB_MIX_FFN_DOWN
};
const char *lb_mix_cat_name(int cat);  /* "attn_v", "ffn_down", ... */

typedef struct lb_mix_choice {
    int type;              /* output type (enum lb_type); the input type if not quantized */
    int in_type;           /* input type */
    int category;          /* enum lb_mix_cat */
    int quantizable;       /* llama.cpp would consider this tensor for quantization at all */
    int converted;         /* type != in_type: llama.cpp converts it */
    int fallback;          /* the row length forced a fallback type */
    int manual;            /* a --tensor-type override matched */
    int requires_imatrix;  /* the chosen type needs an importance matrix */
} lb_mix_choice;

typedef struct lb_mix_result {
    size_t          n;
    lb_mix_choice  *t;         /* n entries, in the caller's tensor order */
    size_t         *order;     /* n indices into t: llama.cpp's processing order */
    int             ftype;
    int             default_type;
    int             n_fallback;/* as llama.cpp counts them ("N of M tensor(s) required fallback") */
} lb_mix_result;

/* Choose every tensor's output type for a mix.
 *   t, n: the model's tensors (name, type, shape outermost first); hp: its facts.
 * Errors: LB_EUSAGE for a bad ftype, override or type option; LB_EFORMAT naming the
 * tensor when llama.cpp could not pick a type (no fallback defined, unparsable layer
 * number in an expert model) or when an explicit output/embedding type does not fit the
 * row length (llama.cpp would abort). Refusals, in llama.cpp's order: a tensor needing
 * an importance matrix when there is none, then (with an imatrix) a missing or
 * wrong-sized entry, and a quantized input tensor that would be converted without
 * allow_requantize: LB_EUSAGE naming the tensor. On a refusal *out is still set to the
 * full plan (a dry run can show it); on other errors *out is NULL.
 * Free with lb_mix_result_free. */
int  lb_mix_plan(lb_mix_result **out, const lb_tensor *t, size_t n, const lb_mix_hparams *hp,
                 const lb_mix_opts *o, lb_err *err);
void lb_mix_result_free(lb_mix_result *r);   /* NULL is a no-op */

/* The same for an opened model: lb_mix_hparams_get, then lb_mix_plan over its tensors. */
int  lb_mix_plan_model(lb_mix_result **out, const lb_model *m, const lb_mix_opts *o, lb_err *err);

/* "25 q4_K, 5 q6_K, 9 f32": how many tensors of each output type, most frequent first
 * (ties by type id); returns buf. */
const char *lb_mix_summary(const lb_mix_result *r, char *buf, size_t n);

/* The first tensor (in llama.cpp's order) that is quantizable and whose chosen type
 * needs an importance matrix: its index into t, or -1. */
long lb_mix_first_imatrix(const lb_mix_result *r);

/* Check one --tensor-type spec ("attn_v=q8_0"): LB_OK or LB_EUSAGE with a message. */
int  lb_mix_override_check(const char *spec, lb_err *err);
/* Does the override spec's regex match name (the spec must be valid)? 1, 0, or -1 if
 * the spec is invalid. For tests and --help output. */
int  lb_mix_override_matches(const char *spec, const char *name);

#endif
