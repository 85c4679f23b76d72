/* mix.c: llama.cpp 0.4.0's per-tensor type choice (src/llama-quant.cpp), rewritten.
 *
 * How llama.cpp decides, and so how this file is laid out:
 *   1. Order: tensors are visited sorted by layer number ("blk.N.", -1 for the rest),
 *      then by name (byte order). The layer counters below advance in that order.
 *   2. Counters: n_attention_wv = number of attn_v / attn_qkv / attn_kv_b weights;
 *      n_ffn_down = n_ffn_gate = n_ffn_up = block_count. Tied embeddings = no tensor
 *      named output.weight anywhere.
 *   3. Per tensor: is it quantized at all (quantizable()); explicit --token-embedding-type
 *      / --output-tensor-type; then, when the mix's default type is a quantized one,
 *      --tensor-type overrides or the rules (choose(), the one table of exceptions),
 *      then the row-length fallback (fallback()).
 *   4. Refusals: imatrix-needing tensors without an imatrix (first pass), then per
 *      tensor: missing / wrong-sized imatrix entries, requantizing without permission. */
#include "lb_mix.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lb_dtype.h"
#include "lb_imatrix.h"

/* ---- names ------------------------------------------------------------------------ */

/* llama-quantize's QUANT_OPTIONS, in its order (COPY last, so ftype 0 finds F32). */
static const lb_mix_name mix_names[] = {
    { "Q1_0", LB_FT_Q1_0, 0, 0 },       { "Q2_0", LB_FT_Q2_0, 0, 0 },
    { "Q4_0", LB_FT_Q4_0, 0, 0 },       { "Q4_1", LB_FT_Q4_1, 0, 0 },
    { "MXFP4_MOE", LB_FT_MXFP4_MOE, 0, 0 },
    { "Q5_0", LB_FT_Q5_0, 0, 0 },       { "Q5_1", LB_FT_Q5_1, 0, 0 },
    { "IQ2_XXS", LB_FT_IQ2_XXS, 0, 0 }, { "IQ2_XS", LB_FT_IQ2_XS, 0, 0 },
    { "IQ2_S", LB_FT_IQ2_S, 0, 0 },     { "IQ2_M", LB_FT_IQ2_M, 0, 0 },
    { "IQ1_S", LB_FT_IQ1_S, 0, 0 },     { "IQ1_M", LB_FT_IQ1_M, 0, 0 },
    { "TQ1_0", LB_FT_TQ1_0, 0, 0 },     { "TQ2_0", LB_FT_TQ2_0, 0, 0 },
    { "Q2_K", LB_FT_Q2_K, 0, 0 },       { "Q2_K_S", LB_FT_Q2_K_S, 0, 0 },
    { "IQ3_XXS", LB_FT_IQ3_XXS, 0, 0 }, { "IQ3_S", LB_FT_IQ3_S, 0, 0 },
    { "IQ3_M", LB_FT_IQ3_M, 0, 0 },     { "Q3_K", LB_FT_Q3_K_M, 1, 0 },
    { "IQ3_XS", LB_FT_IQ3_XS, 0, 0 },   { "Q3_K_S", LB_FT_Q3_K_S, 0, 0 },
    { "Q3_K_M", LB_FT_Q3_K_M, 0, 0 },   { "Q3_K_L", LB_FT_Q3_K_L, 0, 0 },
    { "IQ4_NL", LB_FT_IQ4_NL, 0, 0 },   { "IQ4_XS", LB_FT_IQ4_XS, 0, 0 },
    { "Q4_K", LB_FT_Q4_K_M, 1, 0 },     { "Q4_K_S", LB_FT_Q4_K_S, 0, 0 },
    { "Q4_K_M", LB_FT_Q4_K_M, 0, 0 },   { "Q5_K", LB_FT_Q5_K_M, 1, 0 },
    { "Q5_K_S", LB_FT_Q5_K_S, 0, 0 },   { "Q5_K_M", LB_FT_Q5_K_M, 0, 0 },
    { "Q6_K", LB_FT_Q6_K, 0, 0 },       { "Q8_0", LB_FT_Q8_0, 0, 0 },
    { "F16", LB_FT_F16, 0, 0 },         { "BF16", LB_FT_BF16, 0, 0 },
    { "F32", LB_FT_ALL_F32, 0, 0 },     { "COPY", LB_FT_ALL_F32, 0, 1 },
};
#define N_MIX_NAMES (sizeof mix_names / sizeof mix_names[0])

size_t lb_mix_names(const lb_mix_name **list)
{
    *list = mix_names;
    return N_MIX_NAMES;
}

const lb_mix_name *lb_mix_find(const char *s)
{
    if (!s || !*s) return NULL;
    for (size_t i = 0; i < N_MIX_NAMES; i++)
        if (strcasecmp(mix_names[i].name, s) == 0) return &mix_names[i];
    /* a decimal ftype id: the first name with that id, as llama-quantize does (so 12 finds
     * the alias Q3_K, 15 Q4_K, 17 Q5_K; 0 finds F32, not COPY). Unlike its stoi, trailing
     * characters are refused. */
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return NULL;
    for (size_t i = 0; i < N_MIX_NAMES; i++)
        if (mix_names[i].ftype == v) return &mix_names[i];
    return NULL;
}

const char *lb_mix_valid_names(char *buf, size_t n)
{
    size_t len = 0;
    if (!n) return buf;
    buf[0] = 0;
    for (size_t i = 0; i < N_MIX_NAMES; i++) {
        int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", mix_names[i].name);
        if (w < 0 || (size_t)w >= n - len) break;
        len += (size_t)w;
    }
    return buf;
}

const char *lb_mix_ftype_name(int ftype)
{
    for (size_t i = 0; i < N_MIX_NAMES; i++)
        if (mix_names[i].ftype == ftype && !mix_names[i].alias && !mix_names[i].copy)
            return mix_names[i].name;
    return NULL;
}

/* llama_ftype_get_default_type */
int lb_mix_default_type(int ftype)
{
    switch (ftype) {
    case LB_FT_Q4_0: return LB_Q4_0;        case LB_FT_Q4_1: return LB_Q4_1;
    case LB_FT_Q5_0: return LB_Q5_0;        case LB_FT_Q5_1: return LB_Q5_1;
    case LB_FT_Q8_0: return LB_Q8_0;        case LB_FT_F16: return LB_F16;
    case LB_FT_BF16: return LB_BF16;        case LB_FT_ALL_F32: return LB_F32;
    case LB_FT_Q1_0: return LB_Q1_0;        case LB_FT_Q2_0: return LB_Q2_0;
    case LB_FT_MXFP4_MOE: return LB_MXFP4;
    case LB_FT_Q2_K_S: case LB_FT_Q2_K: return LB_Q2_K;
    case LB_FT_IQ3_XS: return LB_IQ3_S;
    case LB_FT_Q3_K_S: case LB_FT_Q3_K_M: case LB_FT_Q3_K_L: return LB_Q3_K;
    case LB_FT_Q4_K_S: case LB_FT_Q4_K_M: return LB_Q4_K;
    case LB_FT_Q5_K_S: case LB_FT_Q5_K_M: return LB_Q5_K;
    case LB_FT_Q6_K: return LB_Q6_K;
    case LB_FT_TQ1_0: return LB_TQ1_0;      case LB_FT_TQ2_0: return LB_TQ2_0;
    case LB_FT_IQ2_XXS: return LB_IQ2_XXS;  case LB_FT_IQ2_XS: return LB_IQ2_XS;
    case LB_FT_IQ2_S: return LB_IQ2_XS;     case LB_FT_IQ2_M: return LB_IQ2_S;
    case LB_FT_IQ3_XXS: return LB_IQ3_XXS;  case LB_FT_IQ1_S: return LB_IQ1_S;
    case LB_FT_IQ1_M: return LB_IQ1_M;      case LB_FT_IQ4_NL: return LB_IQ4_NL;
    case LB_FT_IQ4_XS: return LB_IQ4_XS;
    case LB_FT_IQ3_S: case LB_FT_IQ3_M: return LB_IQ3_S;
    default: return -1;
    }
}

lb_mix_opts lb_mix_opts_default(int ftype)
{
    lb_mix_opts o;
    memset(&o, 0, sizeof o);
    o.ftype = ftype;
    o.output_tensor_type = -1;
    o.token_embedding_type = -1;
    return o;
}

const char *lb_mix_cat_name(int cat)
{
    static const char *names[] = { "other", "token_embd", "output", "attn_q", "attn_k", "attn_v",
                                   "attn_qkv", "attn_kv_b", "attn_output", "ffn_up", "ffn_gate",
                                   "ffn_down" };
    return cat >= 0 && cat <= LB_MIX_FFN_DOWN ? names[cat] : "?";
}

/* ---- hparams ------------------------------------------------------------------------ */

static int kv_uint(const lb_value *v, uint64_t *out)
{
    if (v->type == LB_V_ARR) {        /* per-layer arrays: layer 0 */
        if (v->n == 0) return -1;
        return kv_uint(&v->v.arr[0], out);
    }
    switch (v->type) {
    case LB_V_U8: case LB_V_U16: case LB_V_U32: case LB_V_U64: *out = v->v.u; return 0;
    case LB_V_I8: case LB_V_I16: case LB_V_I32: case LB_V_I64:
        if (v->v.i < 0) return -1;
        *out = (uint64_t)v->v.i;
        return 0;
    default: return -1;
    }
}

/* <arch>.<key> as a u32; def if absent. -1 if present but not an unsigned number. */
static int arch_u32(const lb_model *m, const char *arch, const char *key, uint32_t def,
                    uint32_t *out, int *found, lb_err *err)
{
    char full[160];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    const lb_kv *kv = lb_model_kv(m, full);
    *out = def;
    if (found) *found = kv != NULL;
    if (!kv) return LB_OK;
    uint64_t v;
    if (kv_uint(&kv->val, &v) || v > UINT32_MAX)
        return lb_err_item(err, LB_EFORMAT, "key", full, LB_NO_OFFSET,
                           "not a non-negative integer (%s)", lb_vtype_name(kv->val.type));
    *out = (uint32_t)v;
    return LB_OK;
}

int lb_mix_hparams_get(const lb_model *m, lb_mix_hparams *hp, lb_err *err)
{
    memset(hp, 0, sizeof *hp);
    const lb_kv *a = lb_model_kv(m, "general.architecture");
    if (!a || a->val.type != LB_V_STR)
        return lb_err_item(err, LB_EFORMAT, "key", "general.architecture", LB_NO_OFFSET,
                           a ? "not a string" : "missing: cannot tell the architecture");
    if (a->val.n >= sizeof hp->arch || strlen(a->val.v.s) != a->val.n)
        return lb_err_item(err, LB_EFORMAT, "key", "general.architecture", LB_NO_OFFSET,
                           "unusable architecture name");
    memcpy(hp->arch, a->val.v.s, a->val.n + 1);
    int found;
    LB_TRY(arch_u32(m, hp->arch, "block_count", 0, &hp->n_layer, &found, err));
    if (!found || hp->n_layer == 0) {
        char key[160];
        snprintf(key, sizeof key, "%s.block_count", hp->arch);
        return lb_err_item(err, LB_EFORMAT, "key", key, LB_NO_OFFSET,
                           found ? "zero layers" : "missing: cannot count the layers");
    }
    LB_TRY(arch_u32(m, hp->arch, "nextn_predict_layers", 0, &hp->n_layer_nextn, NULL, err));
    LB_TRY(arch_u32(m, hp->arch, "expert_count", 0, &hp->n_expert, NULL, err));
    LB_TRY(arch_u32(m, hp->arch, "attention.head_count", 0, &hp->n_head, NULL, err));
    LB_TRY(arch_u32(m, hp->arch, "attention.head_count_kv", hp->n_head, &hp->n_head_kv, NULL, err));
    return LB_OK;
}

/* ---- tensor classes --------------------------------------------------------------- */

static int is_token_embd(const char *name)
{
    return strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0;
}

/* tensor_get_category: first match wins, substring tests as llama.cpp does. */
static int category(const char *name)
{
    if (strcmp(name, "output.weight") == 0) return LB_MIX_OUTPUT;
    if (is_token_embd(name)) return LB_MIX_TOKEN_EMBD;
    static const struct { const char *sub; int cat; } subs[] = {
        { "attn_qkv.weight", LB_MIX_ATTN_QKV }, { "attn_kv_b.weight", LB_MIX_ATTN_KV_B },
        { "attn_v.weight", LB_MIX_ATTN_V },     { "attn_k.weight", LB_MIX_ATTN_K },
        { "attn_q.weight", LB_MIX_ATTN_Q },     { "attn_output.weight", LB_MIX_ATTN_OUTPUT },
        { "ffn_up", LB_MIX_FFN_UP },            { "ffn_gate", LB_MIX_FFN_GATE },
        { "ffn_down", LB_MIX_FFN_DOWN },
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strstr(name, subs[i].sub)) return subs[i].cat;
    return LB_MIX_OTHER;
}

static int is_attn_v_like(int cat)
{
    return cat == LB_MIX_ATTN_V || cat == LB_MIX_ATTN_QKV || cat == LB_MIX_ATTN_KV_B;
}

/* Name parts that keep a tensor out of quantization (tensor_allows_quantization). */
static const char *const never_quantized[] = {
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
    "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
    "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight",
    "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
    "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
    "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
    ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
};

/* One tensor as the rules see it (ggml's ne[] order). */
typedef struct tinfo {
    const char *name;
    int      in_type;
    int      n_dims;     /* ggml_n_dims: trailing size-1 dimensions do not count */
    uint64_t ne0, ne2;   /* row length; experts (3-D), 1 otherwise */
    int      cat;
} tinfo;

static void tinfo_make(tinfo *ti, const lb_tensor *t)
{
    uint64_t ne[4] = { 1, 1, 1, 1 };
    for (int i = 0; i < t->ndim && i < 4; i++) ne[i] = t->shape[t->ndim - 1 - i];
    ti->name = t->name;
    ti->in_type = t->type;
    ti->n_dims = 1;
    for (int i = 3; i >= 1; i--)
        if (ne[i] > 1) { ti->n_dims = i + 1; break; }
    ti->ne0 = ne[0];
    ti->ne2 = ne[2];
    ti->cat = category(t->name);
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

static int quantizable(const tinfo *ti, const lb_mix_opts *o)
{
    if (o->only_copy || ti->n_dims < 2) return 0;
    if (!ends_with(ti->name, "weight")) return 0;
    if (o->leave_output_tensor && strcmp(ti->name, "output.weight") == 0) return 0;
    if (!strcmp(ti->name, "position_embd.weight") || !strcmp(ti->name, "token_types.weight"))
        return 0;
    for (size_t i = 0; i < sizeof never_quantized / sizeof never_quantized[0]; i++)
        if (strstr(ti->name, never_quantized[i])) return 0;
    return 1;
}

static int blck(int type)
{
    const lb_type_traits *tr = lb_type_get(type);
    return tr ? (int)tr->blck : 1;
}

static int is_quantized(int type)
{
    const lb_type_traits *tr = lb_type_get(type);
    return tr && tr->kind == LB_KIND_BLOCK;
}

static const char *tname(int type)
{
    const lb_type_traits *tr = lb_type_get(type);
    return tr ? tr->name : "?";
}

/* tensor_requires_imatrix */
static int needs_imatrix(const char *name, int type, int ftype)
{
    if (is_token_embd(name) || strcmp(name, "output.weight") == 0) return 0;
    switch (type) {
    case LB_IQ3_XXS: case LB_IQ2_XXS: case LB_IQ2_XS: case LB_IQ2_S: case LB_IQ1_M: case LB_IQ1_S:
        return 1;
    case LB_Q2_K: return ftype == LB_FT_Q2_K_S;   /* only Q2_K_S's q2_K tensors */
    default: return 0;
    }
}

/* ---- overrides ----------------------------------------------------------------------- */

typedef struct override { regex_t re; int type; } override;

/* Parse "REGEX=TYPE" like llama-quantize (name part lowercased); compile it. */
static int override_parse(const char *spec, override *ov, lb_err *err)
{
    const char *eq = strchr(spec, '=');
    if (!eq) return lb_err_item(err, LB_EUSAGE, "tensor type", spec, LB_NO_OFFSET, "want REGEX=TYPE");
    if (eq == spec) return lb_err_item(err, LB_EUSAGE, "tensor type", spec, LB_NO_OFFSET, "missing tensor name");
    if (!eq[1]) return lb_err_item(err, LB_EUSAGE, "tensor type", spec, LB_NO_OFFSET, "missing quantization type");
    const lb_type_traits *tr = lb_type_by_name(eq + 1);
    if (!tr || !tr->ggml)
        return lb_err_item(err, LB_EUSAGE, "tensor type", spec, LB_NO_OFFSET,
                           "unknown ggml type '%s'", eq + 1);
    size_t n = (size_t)(eq - spec);
    char *pat = malloc(n * 5 + 1);   /* \d -> [0-9] grows 2 bytes into 5 */
    if (!pat) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    size_t k = 0;
    int in_bracket = 0;
    for (size_t i = 0; i < n; i++) {
        char c = (char)tolower((unsigned char)spec[i]);
        if (!in_bracket && c == '\\' && i + 1 < n && (spec[i + 1] == 'd' || spec[i + 1] == 'D')) {
            const char *rep = spec[i + 1] == 'd' ? "[0-9]" : "[^0-9]";
            memcpy(pat + k, rep, strlen(rep));
            k += strlen(rep);
            i++;
            continue;
        }
        if (c == '\\' && i + 1 < n) {   /* keep an escaped character as it is */
            pat[k++] = c;
            pat[k++] = (char)tolower((unsigned char)spec[++i]);
            continue;
        }
        if (c == '[') in_bracket = 1;
        else if (c == ']') in_bracket = 0;
        pat[k++] = c;
    }
    pat[k] = 0;
    int rc = regcomp(&ov->re, pat, REG_EXTENDED | REG_NOSUB);
    free(pat);
    if (rc) {
        char why[128];
        regerror(rc, &ov->re, why, sizeof why);
        return lb_err_item(err, LB_EUSAGE, "tensor type", spec, LB_NO_OFFSET, "bad regex: %s", why);
    }
    ov->type = tr->id;
    return LB_OK;
}

int lb_mix_override_check(const char *spec, lb_err *err)
{
    override ov;
    LB_TRY(override_parse(spec, &ov, err));
    regfree(&ov.re);
    return LB_OK;
}

int lb_mix_override_matches(const char *spec, const char *name)
{
    override ov;
    if (override_parse(spec, &ov, NULL) != LB_OK) return -1;
    int m = regexec(&ov.re, name, 0, NULL, 0) == 0;
    regfree(&ov.re);
    return m;
}

/* ---- the rules ----------------------------------------------------------------------- */

typedef struct state {
    const lb_mix_hparams *hp;
    const lb_mix_opts    *o;
    int ftype;
    int n_attention_wv, n_ffn_down, n_ffn_gate, n_ffn_up;
    int i_attention_wv, i_ffn_down, i_ffn_gate, i_ffn_up;
    int n_fallback;
    int has_imatrix;
    int tied;            /* no output.weight: token_embd doubles as the output */
    int falcon, is_70b, bailingmoe3;
    uint32_t n_gqa;
    override *ov;
    size_t n_ov;
} state;

static int use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* sscanf(name, "blk.%d.", &layer) == 1: 1 and *layer set, or 0. */
static int parse_layer(const char *name, int *layer)
{
    if (strncmp(name, "blk.", 4) != 0) return 0;
    const char *p = name + 4;
    while (isspace((unsigned char)*p)) p++;
    int neg = 0;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    if (!isdigit((unsigned char)*p)) return 0;
    long long v = 0;
    while (isdigit((unsigned char)*p) && v <= INT_MAX) v = v * 10 + (*p++ - '0');
    if (v > INT_MAX) v = INT_MAX;
    *layer = neg ? (int)-v : (int)v;
    return 1;
}

/* The sort key llama.cpp's tensor map uses: the layer number, -1 for non-layer tensors. */
static int layer_of(const char *name)
{
    int l = -1;
    return parse_layer(name, &l) ? l : -1;
}

/* layer_info: with experts, the layer comes from the name (expert tensors of one layer
 * are not consecutive in old Mixtral files), otherwise from the running counter. */
static int layer_info(const state *s, int counter, int n, const char *name, int *il, lb_err *err)
{
    *il = counter;
    if (s->hp->n_expert <= 1) return LB_OK;
    if (!parse_layer(name, il))
        return lb_err_item(err, LB_EFORMAT, "tensor", name, LB_NO_OFFSET,
                           "cannot tell its layer (want blk.N.)");
    if (*il < 0 || *il >= n)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, LB_NO_OFFSET,
                           "layer %d out of range [0, %d)", *il, n);
    return LB_OK;
}

#define FT(x) (s->ftype == LB_FT_##x)

/* llama_tensor_get_type_impl: the mix's exceptions, given the default type t. */
static int choose(state *s, const tinfo *ti, int t, int *out, lb_err *err)
{
    const int cat = ti->cat;
    const uint32_t n_expert = s->hp->n_expert;
    const int iq_low = FT(IQ2_XXS) || FT(IQ2_XS) || FT(IQ1_S) || FT(IQ2_S) || FT(IQ2_M) || FT(IQ1_M);
    int il;

    if (cat == LB_MIX_OUTPUT || (s->tied && cat == LB_MIX_TOKEN_EMBD)) {
        /* output (and a tied embedding, which is the output too) */
        if (s->o->output_tensor_type >= 0) t = s->o->output_tensor_type;
        else if (FT(MXFP4_MOE)) t = LB_Q8_0;
        else if (s->falcon || ti->ne0 % (uint64_t)blck(t) != 0) t = LB_Q8_0;
        else if (iq_low || FT(IQ3_XXS)) t = LB_Q5_K;
        else if (t != LB_Q8_0) t = LB_Q6_K;
    } else if (FT(MXFP4_MOE)) {
        int expert = cat == LB_MIX_FFN_UP || cat == LB_MIX_FFN_GATE || cat == LB_MIX_FFN_DOWN;
        t = ti->ne2 > 1 && (!s->bailingmoe3 || expert) ? LB_MXFP4 : LB_Q8_0;
    } else if (cat == LB_MIX_TOKEN_EMBD) {
        if (s->o->token_embedding_type >= 0) t = s->o->token_embedding_type;
        else if (FT(IQ2_XXS) || FT(IQ2_XS) || FT(IQ1_S) || FT(IQ1_M)) t = LB_Q2_K;
        else if (FT(IQ2_S) || FT(IQ2_M) || FT(IQ3_XXS)) t = LB_IQ3_S;
        else if (FT(TQ1_0) || FT(TQ2_0) || FT(Q2_0)) t = LB_Q4_K;
    } else if (iq_low) {
        /* the 1-2 bit IQ mixes */
        int iq_s = FT(IQ2_S) || FT(IQ2_M);
        if (is_attn_v_like(cat)) {
            if (s->n_gqa >= 4 || n_expert >= 4) t = LB_Q4_K;
            else t = iq_s ? LB_IQ3_S : LB_Q2_K;
            s->i_attention_wv++;
        } else if (n_expert == 8 && cat == LB_MIX_ATTN_K) {
            t = LB_Q4_K;
        } else if (cat == LB_MIX_FFN_DOWN) {
            if (s->i_ffn_down < s->n_ffn_down / 8) t = iq_s ? LB_IQ3_S : LB_Q2_K;
            s->i_ffn_down++;
        } else if (cat == LB_MIX_ATTN_OUTPUT) {
            if (n_expert == 8) t = LB_Q5_K;
            else if (FT(IQ1_S) || FT(IQ1_M)) t = LB_IQ2_XXS;
            else if (iq_s) t = LB_IQ3_S;
        }
    } else if (is_attn_v_like(cat)) {
        /* attn_v, attn_qkv, attn_kv_b */
        if (FT(Q2_K)) t = s->n_gqa >= 4 ? LB_Q4_K : LB_Q3_K;
        else if (FT(Q2_K_S) && s->n_gqa >= 4) t = LB_Q4_K;
        else if (FT(IQ3_XXS)) t = s->n_gqa >= 4 ? LB_Q4_K : !s->has_imatrix ? LB_IQ3_S : LB_IQ3_XXS;
        else if ((FT(IQ3_XS) || FT(IQ3_S)) && s->n_gqa >= 4) t = LB_Q4_K;
        else if (FT(IQ3_M)) t = LB_Q4_K;
        else if (FT(Q3_K_M)) t = s->i_attention_wv < 2 ? LB_Q5_K : LB_Q4_K;
        else if (FT(Q3_K_L)) t = LB_Q5_K;
        else if ((FT(IQ4_NL) || FT(IQ4_XS)) && s->n_gqa >= 4) t = LB_Q5_K;
        else if ((FT(Q4_K_M) || FT(Q5_K_M)) && use_more_bits(s->i_attention_wv, s->n_attention_wv))
            t = LB_Q6_K;
        else if (FT(Q4_K_S) && s->i_attention_wv < 4) t = LB_Q5_K;
        if (s->is_70b && (t == LB_Q3_K || t == LB_Q4_K)) t = LB_Q5_K;
        if (n_expert == 8) t = LB_Q8_0;
        s->i_attention_wv++;
    } else if (cat == LB_MIX_ATTN_K) {
        if (n_expert == 8) t = LB_Q8_0;
        else if (FT(IQ3_XS)) t = LB_IQ3_XXS;
        else if (FT(IQ3_XXS)) t = LB_IQ2_S;
    } else if (cat == LB_MIX_ATTN_Q) {
        if (FT(IQ3_XS)) t = LB_IQ3_XXS;
        else if (FT(IQ3_XXS)) t = LB_IQ2_S;
    } else if (cat == LB_MIX_FFN_DOWN) {
        LB_TRY(layer_info(s, s->i_ffn_down, s->n_ffn_down, ti->name, &il, err));
        const int n = s->n_ffn_down, first8 = il < n / 8;
        if (FT(Q2_K)) t = LB_Q3_K;
        else if (FT(Q2_K_S)) { if (first8) t = LB_Q4_K; }
        else if (FT(IQ3_XXS) && !s->has_imatrix) t = first8 ? LB_Q4_K : LB_Q3_K;
        else if (FT(Q3_K_M))
            t = il < n / 16 ? LB_Q5_K : !s->falcon || use_more_bits(il, n) ? LB_Q4_K : LB_Q3_K;
        else if (FT(IQ3_M) && (first8 || (n_expert == 8 && use_more_bits(il, n)))) t = LB_Q4_K;
        else if (FT(Q3_K_L)) t = s->falcon ? LB_Q4_K : LB_Q5_K;
        else if (FT(Q4_K_M)) {
            if (s->falcon) t = il < n / 16 ? LB_Q6_K : use_more_bits(il, n) ? LB_Q5_K : LB_Q4_K;
            else if (use_more_bits(il, n)) t = LB_Q6_K;
        }
        else if (first8 && (FT(IQ4_NL) || FT(IQ4_XS)) && !s->has_imatrix) t = LB_Q5_K;
        else if (FT(Q5_K_M) && use_more_bits(il, n)) t = LB_Q6_K;
        else if (FT(Q4_K_S) && !s->falcon && first8) t = LB_Q5_K;
        else if ((FT(Q4_0) || FT(Q5_0)) && s->has_imatrix && first8)
            t = FT(Q4_0) ? LB_Q4_1 : LB_Q5_1;
        s->i_ffn_down++;
    } else if (cat == LB_MIX_ATTN_OUTPUT) {
        if (!s->falcon) {
            if (n_expert == 8) {
                if (FT(Q2_K) || FT(IQ3_XS) || FT(IQ3_XXS) || FT(Q3_K_S) || FT(Q3_K_M) || FT(IQ4_NL) ||
                    FT(Q4_K_S) || FT(Q4_K_M) || FT(IQ3_S) || FT(IQ3_M) || FT(IQ4_XS))
                    t = LB_Q5_K;
            } else if (FT(Q2_K)) t = LB_Q3_K;
            else if (FT(IQ3_XXS)) t = LB_IQ3_S;
            else if (FT(Q3_K_M)) t = LB_Q4_K;
            else if (FT(Q3_K_L)) t = LB_Q5_K;
            else if (FT(IQ3_M)) t = LB_Q4_K;
        } else if (FT(Q3_K_L)) t = LB_Q4_K;
    } else if (cat == LB_MIX_FFN_GATE || cat == LB_MIX_FFN_UP) {
        int *ctr = cat == LB_MIX_FFN_GATE ? &s->i_ffn_gate : &s->i_ffn_up;
        int n = cat == LB_MIX_FFN_GATE ? s->n_ffn_gate : s->n_ffn_up;
        LB_TRY(layer_info(s, *ctr, n, ti->name, &il, err));
        if (FT(IQ3_XS) && il >= n / 8 && il < 7 * n / 8) t = LB_IQ3_XXS;
        (*ctr)++;
    }
    /* (llama.cpp also has an attn_qkv rule after these; attn_qkv never reaches it, the
     * attn_v branch above takes it first.) */
    *out = t;
    return LB_OK;
}

#undef FT

/* tensor_type_fallback: a row that is not a whole number of blocks takes a type with a
 * smaller block; if even that does not fit, F16. */
static int fallback(state *s, const tinfo *ti, int t, int *out, int *fell, lb_err *err)
{
    int qk = blck(t), r;
    *out = t;
    if (ti->ne0 % (uint64_t)qk == 0) return LB_OK;
    s->n_fallback++;
    *fell = 1;
    switch (t) {
    case LB_IQ1_S: case LB_IQ1_M: case LB_IQ2_XXS: case LB_IQ2_XS: case LB_IQ2_S:
    case LB_IQ3_XXS: case LB_IQ3_S: case LB_IQ4_XS:
        r = LB_IQ4_NL; break;
    case LB_Q2_0: case LB_Q2_K: case LB_Q3_K: case LB_TQ1_0: case LB_TQ2_0:
        r = LB_Q4_0; break;
    case LB_Q4_K: r = LB_Q5_0; break;
    case LB_Q5_K: r = LB_Q5_1; break;
    case LB_Q6_K: r = LB_Q8_0; break;
    default:
        if (qk > 32)
            return lb_err_item(err, LB_EFORMAT, "tensor", ti->name, LB_NO_OFFSET,
                               "row length %llu is not a multiple of %d and %s has no fallback type",
                               (unsigned long long)ti->ne0, qk, tname(t));
        r = t;
    }
    if (ti->ne0 % (uint64_t)blck(r) != 0) r = LB_F16;
    *out = r;
    return LB_OK;
}

/* An explicit --output-tensor-type / --token-embedding-type skips the fallback in
 * llama.cpp, which then aborts on a row that does not fit: refuse instead. */
static int explicit_type(const tinfo *ti, int t, int *out, lb_err *err)
{
    if (ti->ne0 % (uint64_t)blck(t) != 0)
        return lb_err_item(err, LB_EUSAGE, "tensor", ti->name, LB_NO_OFFSET,
                           "row length %llu is not a multiple of %d, as %s needs",
                           (unsigned long long)ti->ne0, blck(t), tname(t));
    *out = t;
    return LB_OK;
}

/* llama_tensor_get_type: the whole decision for one quantizable tensor. */
static int tensor_type(state *s, const tinfo *ti, int def, lb_mix_choice *c, lb_err *err)
{
    const lb_mix_opts *o = s->o;
    if (o->token_embedding_type >= 0 && ti->cat == LB_MIX_TOKEN_EMBD) {
        /* per_layer_token_embd follows it too, unless a --tensor-type names it */
        int named = 0;
        if (strcmp(ti->name, "per_layer_token_embd.weight") == 0)
            for (size_t k = 0; k < s->n_ov && !named; k++)
                named = regexec(&s->ov[k].re, ti->name, 0, NULL, 0) == 0;
        if (!named) return explicit_type(ti, o->token_embedding_type, &c->type, err);
    }
    if (o->output_tensor_type >= 0 && ti->cat == LB_MIX_OUTPUT)
        return explicit_type(ti, o->output_tensor_type, &c->type, err);

    int t = def;
    if (is_quantized(def)) {
        for (size_t k = 0; k < s->n_ov && !c->manual; k++)
            if (regexec(&s->ov[k].re, ti->name, 0, NULL, 0) == 0) {
                t = s->ov[k].type;
                c->manual = 1;
            }
        if (!c->manual && !o->pure) LB_TRY(choose(s, ti, t, &t, err));
        LB_TRY(fallback(s, ti, t, &t, &c->fallback, err));
    }
    c->type = t;
    return LB_OK;
}

/* ---- planning ----------------------------------------------------------------------- */

/* llama.cpp's model type 70B, the only size the rules look at: set by the architectures'
 * hyperparameter loaders from the layer count (nextn layers not counted). */
static int is_70b(const lb_mix_hparams *hp)
{
    uint32_t n = hp->n_layer - (hp->n_layer_nextn <= hp->n_layer ? hp->n_layer_nextn : 0);
    if (!strcmp(hp->arch, "llama"))   /* 80 layers with GQA; 8 experts are Mixtral sizes */
        return hp->n_expert != 8 && n == 80 && hp->n_head != hp->n_head_kv;
    if (!strcmp(hp->arch, "deci") || !strcmp(hp->arch, "olmo") || !strcmp(hp->arch, "qwen2"))
        return n == 80;
    if (!strcmp(hp->arch, "jais2")) return n == 68;
    return 0;
}

/* llama.cpp's order: by layer number (-1 first), then by name. */
static int before(const lb_tensor *t, size_t a, size_t b)
{
    int la = layer_of(t[a].name), lb = layer_of(t[b].name);
    if (la != lb) return la < lb;
    return strcmp(t[a].name, t[b].name) < 0;
}

/* Stable merge sort of idx[0..n) by before(); tmp has room for n. */
static void sort_order(const lb_tensor *t, size_t *idx, size_t *tmp, size_t n)
{
    if (n < 2) return;
    size_t h = n / 2, i = 0, j = h, k = 0;
    sort_order(t, idx, tmp, h);
    sort_order(t, idx + h, tmp, n - h);
    while (i < h && j < n) tmp[k++] = before(t, idx[j], idx[i]) ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

static int check_type_opt(int t, const char *what, lb_err *err)
{
    const lb_type_traits *tr = lb_type_get(t);
    if (t < 0) return LB_OK;
    if (!tr || !tr->ggml)
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "%s: type id %d is not a ggml type", what, t);
    return LB_OK;
}

/* The refusals, in llama.cpp's order (see the header). */
static int refusals(const lb_mix_result *r, const lb_tensor *t, const state *s, lb_err *err)
{
    const lb_imatrix *im = s->o->imatrix && s->o->imatrix->n ? s->o->imatrix : NULL;
    for (size_t k = 0; k < r->n; k++) {
        const lb_mix_choice *c = &r->t[r->order[k]];
        if (!s->has_imatrix && c->quantizable && c->requires_imatrix)
            return lb_err_item(err, LB_EUSAGE, "tensor", t[r->order[k]].name, LB_NO_OFFSET,
                               "%s needs an importance matrix (--imatrix)", tname(c->type));
    }
    for (size_t k = 0; k < r->n; k++) {
        const size_t i = r->order[k];
        const lb_mix_choice *c = &r->t[i];
        if (!c->converted) continue;
        if (im) {
            tinfo ti;
            const float *w = NULL;
            tinfo_make(&ti, &t[i]);
            LB_TRY(lb_imatrix_weights_for(im, ti.name, ti.ne0, ti.ne2, &w, err));
            if (!w && c->requires_imatrix)
                return lb_err_item(err, LB_EUSAGE, "tensor", ti.name, LB_NO_OFFSET,
                                   "no importance matrix entry, and %s needs one", tname(c->type));
        }
        if (is_quantized(c->in_type) && !s->o->allow_requantize)
            return lb_err_item(err, LB_EUSAGE, "tensor", t[i].name, LB_NO_OFFSET,
                               "already quantized (%s): requantizing needs --allow-requantize",
                               tname(c->in_type));
    }
    return LB_OK;
}

void lb_mix_result_free(lb_mix_result *r)
{
    if (!r) return;
    free(r->t);
    free(r->order);
    free(r);
}

long lb_mix_first_imatrix(const lb_mix_result *r)
{
    for (size_t k = 0; k < r->n; k++) {
        const lb_mix_choice *c = &r->t[r->order[k]];
        if (c->quantizable && c->requires_imatrix) return (long)r->order[k];
    }
    return -1;
}

static int plan_types(lb_mix_result *r, const lb_tensor *t, state *s, lb_err *err)
{
    const int def = r->default_type;
    for (size_t k = 0; k < r->n; k++) {      /* counters over every tensor (init_quantize_state_counters) */
        int cat = category(t[k].name);
        if (is_attn_v_like(cat)) s->n_attention_wv++;
        if (cat == LB_MIX_OUTPUT) s->tied = 0;
    }
    for (size_t k = 0; k < r->n; k++) {
        const size_t i = r->order[k];
        lb_mix_choice *c = &r->t[i];
        tinfo ti;
        tinfo_make(&ti, &t[i]);
        c->in_type = ti.in_type;
        c->category = ti.cat;
        c->quantizable = quantizable(&ti, s->o);
        c->type = ti.in_type;
        if (c->quantizable) LB_TRY(tensor_type(s, &ti, def, c, err));
        c->converted = c->type != c->in_type;
        c->requires_imatrix = needs_imatrix(ti.name, c->type, s->ftype);
    }
    r->n_fallback = s->n_fallback;
    return LB_OK;
}

int lb_mix_plan(lb_mix_result **out, const lb_tensor *t, size_t n, const lb_mix_hparams *hp,
                const lb_mix_opts *o, lb_err *err)
{
    *out = NULL;
    const int def = lb_mix_default_type(o->ftype);
    if (def < 0 && !o->only_copy)
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "invalid mix (ftype %d)", o->ftype);
    LB_TRY(check_type_opt(o->output_tensor_type, "output tensor type", err));
    LB_TRY(check_type_opt(o->token_embedding_type, "token embedding type", err));

    state s;
    memset(&s, 0, sizeof s);
    s.hp = hp;
    s.o = o;
    s.ftype = o->ftype;
    s.has_imatrix = o->has_imatrix || (o->imatrix && o->imatrix->n);
    s.tied = 1;
    s.falcon = strcmp(hp->arch, "falcon") == 0;
    s.bailingmoe3 = strcmp(hp->arch, "bailingmoe3") == 0;
    s.is_70b = is_70b(hp);
    s.n_gqa = hp->n_head_kv ? hp->n_head / hp->n_head_kv : 0;
    s.n_ffn_down = s.n_ffn_gate = s.n_ffn_up = (int)hp->n_layer;

    int rc = LB_OK;
    lb_mix_result *r = calloc(1, sizeof *r);
    s.ov = calloc(o->n_overrides ? o->n_overrides : 1, sizeof *s.ov);
    if (r) {
        r->t = calloc(n ? n : 1, sizeof *r->t);
        r->order = calloc(n ? n : 1, sizeof *r->order);
    }
    if (!r || !s.ov || !r->t || !r->order) {
        rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        goto fail;
    }
    for (; s.n_ov < o->n_overrides; s.n_ov++)
        if ((rc = override_parse(o->overrides[s.n_ov], &s.ov[s.n_ov], err)) != LB_OK) goto fail;

    r->n = n;
    r->ftype = o->ftype;
    r->default_type = def;
    for (size_t i = 0; i < n; i++) r->order[i] = i;
    size_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) {
        rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        goto fail;
    }
    sort_order(t, r->order, tmp, n);
    free(tmp);

    if ((rc = plan_types(r, t, &s, err)) != LB_OK) goto fail;
    rc = refusals(r, t, &s, err);
    for (size_t k = 0; k < s.n_ov; k++) regfree(&s.ov[k].re);
    free(s.ov);
    *out = r;
    return rc;
fail:
    for (size_t k = 0; k < s.n_ov; k++) regfree(&s.ov[k].re);
    free(s.ov);
    lb_mix_result_free(r);
    return rc;
}

int lb_mix_plan_model(lb_mix_result **out, const lb_model *m, const lb_mix_opts *o, lb_err *err)
{
    lb_mix_hparams hp;
    *out = NULL;
    LB_TRY(lb_mix_hparams_get(m, &hp, err));
    return lb_mix_plan(out, m->tensors, m->n_tensors, &hp, o, err);
}

const char *lb_mix_summary(const lb_mix_result *r, char *buf, size_t n)
{
    size_t count[LB_TYPE_MAX] = { 0 }, len = 0;
    if (!n) return buf;
    buf[0] = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->t[i].type >= 0 && r->t[i].type < LB_TYPE_MAX) count[r->t[i].type]++;
    for (;;) {
        int best = -1;
        for (int t = 0; t < LB_TYPE_MAX; t++)
            if (count[t] && (best < 0 || count[t] > count[best])) best = t;
        if (best < 0) break;
        int w = snprintf(buf + len, n - len, "%s%zu %s", len ? ", " : "", count[best], tname(best));
        if (w < 0 || (size_t)w >= n - len) break;
        len += (size_t)w;
        count[best] = 0;
    }
    return buf;
}
