/* hf2gguf.c: HF folders (and llama.cpp-named models) to GGUF, one pass, bounded memory.
 *
 * Plan (lb_conv_open): config.json -> architecture row + hyperparameters; every source
 * tensor is matched against the row's tables (an unknown tensor, a missing one or a wrong
 * shape is LB_EFORMAT naming it); output order is rope_freqs (llama3 scaling), the
 * whole-model tensors, then block by block in table order.
 *
 * Types: 1-D tensors, norms, biases and position embeddings are F32 (as llama.cpp writes
 * them); matrices take --outtype, or by default keep the source precision (F32, F16 and
 * BF16 stay; other plain types become F32; block types are copied unchanged, or decoded
 * with the quantize library's kernels when --outtype asks for a float type).
 *
 * Streaming (lb_conv_write), every buffer at most LB_CONV_CHUNK elements:
 *   - plain tensors: contiguous pieces, converted element by element;
 *   - q/k un-permutation: a row permutation within each head, so output rows are gathered
 *     by reading the source rows they come from, as many whole rows as fit a piece;
 *   - Conv1D transpose [in, out] -> [out, in]: blocks of output rows (source columns):
 *     each piece reads a column strip of every source row. A source with more than
 *     LB_CONV_CHUNK rows cannot be transposed this way and is refused (GPT-2's largest
 *     has 6400). */
#include "lb_hf2gguf.h"
#include "lb_mix.h"
#include "lb_qrun.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lb_dtype.h"
#include "lb_quant.h"
#include "lb_tokenizer.h"
#include "lb_writer.h"

/* ---- small helpers ------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int nomem(lb_err *err) { return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }

static void shape_str(char *buf, size_t n, int ndim, const uint64_t *shape)
{
    size_t at = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && at < n; d++)
        at += (size_t)snprintf(buf + at, n - at, "%s%llu", d ? ", " : "", (unsigned long long)shape[d]);
    if (at < n) snprintf(buf + at, n - at, "]");
}

/* Formats whose readers already give llama.cpp's names and "<arch>.*" metadata. */
static const char *const native_formats[] = { "llama2c", NULL };

static int is_native(const lb_model *m)
{
    for (const char *const *f = native_formats; *f; f++)
        if (strcmp(m->format, *f) == 0) return 1;
    return 0;
}

int lb_conv_detect(const char *src)
{
    struct stat st;
    char p[4096];
    if (stat(src, &st) != 0) return 0;
    if (S_ISDIR(st.st_mode)) {
        snprintf(p, sizeof p, "%s/config.json", src);
        return stat(p, &st) == 0;
    }
    lb_model *m;
    lb_err e;
    if (lb_model_open(&m, src, &e)) return 0;
    int native = is_native(m);
    lb_model_close(m);
    return native ? 2 : 0;
}

void lb_conv_free(lb_conv *c)
{
    if (!c) return;
    lb_model_close(c->m);
    lb_kvlist_free(&c->kv);
    free(c->t);
    free(c->gen);
    free(c->report);
    free(c);
}

/* ---- output types ----------------------------------------------------------------------------- */

static int out_type(const lb_conv_opts *o, const char *name, int flags, int src_type, int ndim)
{
    if ((flags & LB_TF_F32) || ndim <= 1 || ends_with(name, "_norm.weight") || !ends_with(name, ".weight"))
        return LB_F32;
    if (o->outtype >= 0) return o->outtype;
    if (src_type == LB_F32 || src_type == LB_F16 || src_type == LB_BF16) return src_type;
    const lb_type_traits *tt = lb_type_get(src_type);
    if (tt && tt->kind == LB_KIND_BLOCK) return src_type;
    return LB_F32;
}

/* llama_ftype of the output: that of its matrices (the first one decides). */
static int file_type(const lb_conv *c)
{
    int t = c->o->outtype;
    for (size_t i = 0; t < 0 && i < c->n_t; i++)
        if (c->t[i].ndim == 2 && c->t[i].src && !c->t[i].fixed) t = c->t[i].type;
    switch (t) {
    case LB_F32: return 0;
    case LB_F16: return 1;
    case LB_Q8_0: return 7;
    case LB_BF16: return 32;
    default: return -1;
    }
}

static int is_block(int type)
{
    const lb_type_traits *tt = lb_type_get(type);
    return tt && tt->kind == LB_KIND_BLOCK;
}

/* Plain types convert through f32; block types (llama2.c v2 Q8_0) are copied as they are,
 * or decoded by the quantize library's kernels when another type is asked for. */
static int check_convertible(const lb_tensor *src, int out, int xform, uint32_t chunk, lb_err *err)
{
    const lb_type_traits *tt = lb_type_get(src->type);
    if (!tt) return lb_err_item(err, LB_EFORMAT, "tensor", src->name, LB_NO_OFFSET, "unknown type");
    if (tt->kind != LB_KIND_BLOCK) return LB_OK;
    if (xform != LB_XF_NONE)
        return lb_err_item(err, LB_EFORMAT, "tensor", src->name, LB_NO_OFFSET,
                           "a %s tensor cannot be permuted or transposed (blocks span elements)", tt->name);
    if (src->type == out) return LB_OK;
    if (!lb_qkernel_get(src->type) || tt->blck > chunk)
        return lb_err_item(err, LB_EFORMAT, "tensor", src->name, LB_NO_OFFSET,
                           "%s cannot be decoded to %s here", tt->name, lb_type_get(out)->name);
    return LB_OK;
}

/* ---- plan ---------------------------------------------------------------------------------- */

static int add_tensor(lb_conv *c, const char *name, const lb_tensor *src, const lb_arch_tensor *at, lb_err *err)
{
    lb_conv_tensor *t = &c->t[c->n_t];
    memset(t, 0, sizeof *t);
    if (strlen(name) >= sizeof t->name)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, LB_NO_OFFSET, "name too long for GGUF");
    strcpy(t->name, name);
    t->src = src;
    t->ndim = src->ndim;
    t->shape[0] = src->shape[0];
    t->shape[1] = src->ndim > 1 ? src->shape[1] : 0;
    t->xform = at ? at->xform : LB_XF_NONE;
    if (t->xform == LB_XF_TRANSPOSE) {
        t->shape[0] = src->shape[1];
        t->shape[1] = src->shape[0];
        uint32_t chunk = c->o->chunk ? c->o->chunk : LB_CONV_CHUNK;
        if (src->shape[0] > chunk)
            return lb_err_item(err, LB_EFORMAT, "tensor", src->name, LB_NO_OFFSET,
                               "%llu rows are too many to transpose in bounded memory (at most %u)",
                               (unsigned long long)src->shape[0], chunk);
    }
    if (t->xform == LB_XF_PERM_Q || t->xform == LB_XF_PERM_K) {
        t->heads = (uint64_t)c->hp.v[t->xform == LB_XF_PERM_Q ? LB_HP_HEAD : LB_HP_HEAD_KV];
        uint32_t chunk = c->o->chunk ? c->o->chunk : LB_CONV_CHUNK;
        if (src->ndim > 1 && src->shape[1] > chunk)
            return lb_err_item(err, LB_EFORMAT, "tensor", src->name, LB_NO_OFFSET,
                               "rows of %llu elements are too wide to permute in pieces of %u",
                               (unsigned long long)src->shape[1], chunk);
        if (src->shape[0] % (2 * t->heads))
            return lb_err_item(err, LB_EFORMAT, "tensor", src->name, LB_NO_OFFSET,
                               "%llu rows do not split into %llu heads of an even size",
                               (unsigned long long)src->shape[0], (unsigned long long)t->heads);
    }
    t->type = out_type(c->o, name, at ? at->flags : 0, src->type, src->ndim);
    t->fixed = at && (at->flags & LB_TF_F32);
    LB_TRY(check_convertible(src, t->type, t->xform, c->o->chunk ? c->o->chunk : LB_CONV_CHUNK, err));
    c->n_t++;
    return LB_OK;
}

static int check_shape(const lb_conv *c, const lb_tensor *t, const lb_arch_tensor *at, lb_err *err)
{
    uint64_t want[2] = { lb_arch_dim(&c->hp, at->dim[0]), lb_arch_dim(&c->hp, at->dim[1]) };
    int ok = t->ndim == at->ndim;
    for (int d = 0; ok && d < at->ndim; d++) ok = t->shape[d] == want[d];
    if (ok) return LB_OK;
    char have[96], exp[96];
    shape_str(have, sizeof have, t->ndim, t->shape);
    shape_str(exp, sizeof exp, at->ndim, want);
    return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                       "shape %s, but %s implies %s for %s", have, c->hp_src, exp, c->arch->hf_arch);
}

static size_t table_len(const lb_arch_tensor *t)
{
    size_t n = 0;
    while (t[n].hf) n++;
    return n;
}

static void fmt_name(char *buf, size_t n, const char *pat, int bid)
{
    const char *d = strstr(pat, "%d");
    if (!d) { snprintf(buf, n, "%s", pat); return; }
    snprintf(buf, n, "%.*s%d%s", (int)(d - pat), pat, bid, d + 2);
}

/* Map every source tensor to its table row; then emit in table order. native: names are
 * already llama.cpp's (match on the GGUF side, no transforms). */
static int plan_tensors(lb_conv *c, int native, lb_err *err)
{
    const lb_arch *a = c->arch;
    size_t ng = table_len(a->global), nb = table_len(a->block);
    size_t layers = (size_t)c->hp.v[LB_HP_LAYERS];
    size_t slots = ng + nb * layers;
    const lb_tensor **found = calloc(slots ? slots : 1, sizeof *found);
    c->t = calloc(slots + 2, sizeof *c->t);
    if (!found || !c->t) { free(found); return nomem(err); }
    int rc = LB_OK;
    for (size_t i = 0; i < c->m->n_tensors && !rc; i++) {
        const lb_tensor *t = &c->m->tensors[i];
        const lb_arch_tensor *at;
        int bid;
        int r = native ? lb_arch_match_gguf(a, t->name, &at, &bid) : lb_arch_match(a, t->name, &at, &bid);
        if (r == 0) continue;
        if (native && r < 0 && strcmp(t->name, "rope_freqs.weight") == 0) continue;
        if (r < 0) {
            rc = lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                             "not part of %s (no llama.cpp name for it)", a->hf_arch);
            break;
        }
        if (bid >= 0 && (size_t)bid >= layers) {
            rc = lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                             "block %d, but %s has %zu layers", bid, c->hp_src, layers);
            break;
        }
        size_t slot = bid < 0 ? (size_t)(at - a->global) : ng + (size_t)bid * nb + (size_t)(at - a->block);
        if (found[slot]) {
            rc = lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                             "the same tensor as '%.100s'", found[slot]->name);
            break;
        }
        rc = check_shape(c, t, at, err);
        found[slot] = t;
    }
    char hf[256], gg[256];
    for (size_t s = 0; s < slots && !rc; s++) {
        const lb_arch_tensor *at = s < ng ? &a->global[s] : &a->block[(s - ng) % nb];
        int bid = s < ng ? -1 : (int)((s - ng) / nb);
        fmt_name(hf, sizeof hf, at->hf, bid);
        fmt_name(gg, sizeof gg, at->gguf, bid);
        if (!found[s]) {
            if ((at->flags & LB_TF_LM_HEAD) && c->hp.tied == 0)
                rc = lb_err_item(err, LB_EFORMAT, "tensor", native ? gg : hf, LB_NO_OFFSET,
                                 "missing (%s says tie_word_embeddings: false)", c->hp_src);
            else if (!(at->flags & LB_TF_OPTIONAL))
                rc = lb_err_item(err, LB_EFORMAT, "tensor", native ? gg : hf, LB_NO_OFFSET,
                                 "missing (%s with %zu layers needs it)", a->hf_arch, layers);
            continue;
        }
        lb_arch_tensor nat = *at;
        if (native) nat.xform = LB_XF_NONE;
        rc = add_tensor(c, gg, found[s], &nat, err);
    }
    free(found);
    return rc;
}

/* ---- metadata -------------------------------------------------------------------------------- */

/* llama.cpp's size label: 3410176 -> "3.4M" (model_weight_count_rounded_notation). */
static void size_label(char *buf, size_t n, uint64_t params)
{
    double p = (double)params, s;
    const char *suf;
    if (p > 1e12) { s = p * 1e-12; suf = "T"; }
    else if (p > 1e9) { s = p * 1e-9; suf = "B"; }
    else if (p > 1e6) { s = p * 1e-6; suf = "M"; }
    else { s = p * 1e-3; suf = "K"; }
    double r = nearbyint(s);
    int digits = r >= 1 ? (int)floor(log10(r)) + 1 : 0;
    int fix = digits < 2 ? 2 - digits : 0;
    snprintf(buf, n, "%.*f%s", fix, s, suf);
}

static const char *base_name(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
    const char *s = strrchr(buf, '/');
    return s ? s + 1 : buf;
}

static int is_lower(int c) { return c >= 'a' && c <= 'z'; }
static int is_upper(int c) { return c >= 'A' && c <= 'Z'; }

/* v1, v2.5, 7b...: left as they are */
static int version_or_number(const char *w, size_t n)
{
    if (n && w[0] >= '0' && w[0] <= '9') return 1;
    if (n < 2 || w[0] != 'v') return 0;
    for (size_t i = 1; i < n; i++)
        if (!((w[i] >= '0' && w[i] <= '9') || (w[i] == '.' && i + 1 < n && i > 1 && w[i - 1] != '.'))) return 0;
    return w[n - 1] != '.';
}

/* llama.cpp's name from a folder name (Metadata.id_to_title): '-' to spaces, and each
 * all-lowercase word title-cased the way Python's str.title does ("stories260k" ->
 * "Stories260K"), unless it is a version or starts with a digit. */
static void id_to_title(const char *id, char *out, size_t n)
{
    size_t at = 0;
    const char *p = id;
    while (*p && at + 1 < n) {
        while (*p == '-' || *p == ' ' || *p == '\t') p++;
        size_t len = 0;
        while (p[len] && p[len] != '-' && p[len] != ' ' && p[len] != '\t') len++;
        if (!len) break;
        int lower = 0, upper = 0;
        for (size_t i = 0; i < len; i++) { lower |= is_lower(p[i]); upper |= is_upper(p[i]); }
        int title = lower && !upper && !version_or_number(p, len);
        if (at && at + 1 < n) out[at++] = ' ';
        int prev_letter = 0;
        for (size_t i = 0; i < len && at + 1 < n; i++) {
            char c = p[i];
            if (title && is_lower(c) && !prev_letter) c = (char)(c - 'a' + 'A');
            prev_letter = is_lower(p[i]) || is_upper(p[i]);
            out[at++] = c;
        }
        p += len;
    }
    out[at] = 0;
}

static int is_gguf_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char m[4] = { 0 };
    if (!f) return 0;
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(m, "GGUF", 4) == 0;
}

/* --tokenizer X.gguf: the tokenizer.* keys of another GGUF with the same vocabulary. */
static int vocab_from_gguf(lb_conv *c, const char *path, lb_err *err)
{
    lb_model *t;
    int rc = lb_model_open(&t, path, err);
    if (rc) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "tokenizer '%.150s': %.300s", path, err->msg);
        memcpy(err->msg, msg, sizeof msg);
        return rc;
    }
    size_t got = 0;
    for (size_t i = 0; i < t->n_kv && !rc; i++) {
        const lb_kv *kv = &t->kv[i];
        if (strncmp(kv->key, "tokenizer.", 10) != 0) continue;
        if (c->o->pre && strcmp(kv->key, "tokenizer.ggml.pre") == 0) continue;
        if (strcmp(kv->key, "tokenizer.ggml.tokens") == 0 && c->hp.v[LB_HP_VOCAB] > 0 &&
            kv->val.n != (uint64_t)c->hp.v[LB_HP_VOCAB])
            rc = lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET,
                            "tokenizer '%.150s' has %llu tokens, the model %lld", path,
                            (unsigned long long)kv->val.n, (long long)c->hp.v[LB_HP_VOCAB]);
        if (!rc) rc = lb_kvlist_copy(&c->kv, kv->key, &kv->val, err);
        got++;
    }
    lb_model_close(t);
    if (!rc && !got)
        rc = lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "tokenizer '%.150s': a GGUF without tokenizer.* metadata", path);
    if (!rc && c->o->pre) rc = lb_kvlist_str(&c->kv, "tokenizer.ggml.pre", c->o->pre, err);
    return rc;
}

static int add_vocab(lb_conv *c, const char *dir, lb_err *err)
{
    const lb_conv_opts *o = c->o;
    if (o->tokenizer && is_gguf_file(o->tokenizer)) return vocab_from_gguf(c, o->tokenizer, err);
    lb_tok_opts to = { o->pre, o->tokenizer, c->hp.v[LB_HP_VOCAB] > 0 ? c->hp.v[LB_HP_VOCAB] : -1 };
    lb_kv *kv = NULL;
    size_t n = 0;
    LB_TRY(lb_tokenizer_load(dir, &to, &kv, &n, err));
    int rc = LB_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (o->pre && strcmp(kv[i].key, "tokenizer.ggml.pre") == 0) continue;
        rc = lb_kvlist_copy(&c->kv, kv[i].key, &kv[i].val, err);
    }
    lb_kv_array_free(kv, n);
    /* --pre wins whatever the tokenizer kind (the library applies it to BPE vocabularies) */
    if (!rc && o->pre) rc = lb_kvlist_str(&c->kv, "tokenizer.ggml.pre", o->pre, err);
    return rc;
}

static int plan_kvs(lb_conv *c, const char *name_src, const char *dir, lb_err *err)
{
    char buf[512];
    LB_TRY(lb_kvlist_str(&c->kv, "general.architecture", c->arch->gguf_arch, err));
    LB_TRY(lb_kvlist_str(&c->kv, "general.type", "model", err));
    char title[256];
    char *dot = NULL;
    const char *bn = base_name(name_src, buf, sizeof buf);
    if (c->m && c->m->n_files == 1 && strcmp(c->m->files[0].path, name_src) == 0) dot = strrchr(bn, '.');
    if (dot && dot != bn) *dot = 0;     /* a checkpoint file: its name without the extension */
    id_to_title(bn, title, sizeof title);
    LB_TRY(lb_kvlist_str(&c->kv, "general.name", title[0] ? title : "model", err));
    if (c->params) {
        size_label(buf, sizeof buf, c->params);
        LB_TRY(lb_kvlist_str(&c->kv, "general.size_label", buf, err));
    }
    LB_TRY(lb_arch_kvs(c->arch, &c->hp, &c->kv, err));
    int ft = file_type(c);
    if (ft >= 0) LB_TRY(lb_kvlist_u32(&c->kv, "general.file_type", (uint32_t)ft, err));
    LB_TRY(lb_kvlist_u32(&c->kv, "general.quantization_version", 2, err));
    if (!c->o->no_vocab) LB_TRY(add_vocab(c, dir, err));
    return LB_OK;
}

static int finish_plan(lb_conv *c, const char *name_src, const char *dir, lb_err *err)
{
    for (size_t i = 0; i < c->n_t; i++) {
        uint64_t n = c->t[i].shape[0] * (c->t[i].ndim > 1 ? c->t[i].shape[1] : 1), b;
        if (lb_type_nbytes(c->t[i].type, n, &b))
            return lb_err_item(err, LB_EFORMAT, "tensor", c->t[i].name, LB_NO_OFFSET, "size overflows");
        c->params += n;
        c->total_bytes += b;
    }
    return plan_kvs(c, name_src, dir, err);
}

/* llama3 scaling: rope_freqs.weight, first, as llama.cpp writes it (plan_tensors left room). */
static int plan_rope_freqs(lb_conv *c, lb_err *err)
{
    size_t n;
    LB_TRY(lb_arch_rope_freqs(c->arch, &c->hp, &c->gen, &n, err));
    if (!n) return LB_OK;
    memmove(&c->t[1], &c->t[0], c->n_t * sizeof *c->t);
    c->n_t++;
    lb_conv_tensor *t = &c->t[0];
    memset(t, 0, sizeof *t);
    strcpy(t->name, "rope_freqs.weight");
    t->type = LB_F32;
    t->ndim = 1;
    t->shape[0] = n;
    t->gen = c->gen;
    return LB_OK;
}

static int open_native_file(lb_conv **out, const char *src, const lb_conv_opts *o, lb_err *err)
{
    lb_model *m;
    LB_TRY(lb_model_open(&m, src, err));
    if (!is_native(m)) {
        lb_model_close(m);
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "not an HF model folder (config.json) or a llama2.c checkpoint");
    }
    /* one folder often holds several checkpoints and tokenizers: no guessing */
    if (!o->no_vocab && !o->tokenizer) {
        lb_model_close(m);
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET,
                          "a llama2.c checkpoint has no tokenizer: name one with --tokenizer FILE (or use --no-vocab)");
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", src);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else strcpy(dir, ".");
    return lb_conv_open_native(out, m, dir, o, err);
}

int lb_conv_open(lb_conv **out, const char *src, const lb_conv_opts *o, lb_err *err)
{
    *out = NULL;
    struct stat st;
    if (stat(src, &st) == 0 && !S_ISDIR(st.st_mode)) return open_native_file(out, src, o, err);
    lb_conv *c = calloc(1, sizeof *c);
    if (!c) return nomem(err);
    c->o = o;
    c->hp_src = "config.json";
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", src);
    int rc = lb_arch_config(p, &c->arch, &c->hp, err);
    if (!rc && !o->vocab_only) rc = lb_model_open(&c->m, src, err);
    if (!rc && !o->vocab_only) rc = plan_tensors(c, 0, err);
    if (!rc && !o->vocab_only) rc = plan_rope_freqs(c, err);
    if (!rc) rc = finish_plan(c, src, src, err);
    if (rc) { lb_conv_free(c); return rc; }
    *out = c;
    return LB_OK;
}

/* ---- native sources: hyperparameters from "<arch>.*" metadata --------------------------------- */

static int kv_num(const lb_model *m, const char *arch, const char *key, double *v)
{
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    const lb_kv *kv = lb_model_kv(m, k);
    if (!kv) return 0;
    switch (kv->val.type) {
    case LB_V_U8: case LB_V_U16: case LB_V_U32: case LB_V_U64: *v = (double)kv->val.v.u; return 1;
    case LB_V_I8: case LB_V_I16: case LB_V_I32: case LB_V_I64: *v = (double)kv->val.v.i; return 1;
    case LB_V_F32: case LB_V_F64: *v = kv->val.v.f; return 1;
    default: return 0;
    }
}

static int native_hparams(lb_conv *c, lb_err *err)
{
    const lb_kv *a = lb_model_kv(c->m, "general.architecture");
    if (!a || a->val.type != LB_V_STR)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "no general.architecture to convert by");
    for (const lb_arch *const *x = lb_archs; *x && !c->arch; x++)
        if (strcmp((*x)->gguf_arch, a->val.v.s) == 0) c->arch = *x;
    if (!c->arch)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "architecture '%.60s' is not supported (supported: %.200s)",
                          a->val.v.s, lb_arch_supported());
    static const struct { const char *key; int hp; } map[] = {
        { "block_count", LB_HP_LAYERS }, { "context_length", LB_HP_CTX },
        { "embedding_length", LB_HP_EMBD }, { "feed_forward_length", LB_HP_FF },
        { "attention.head_count", LB_HP_HEAD }, { "attention.head_count_kv", LB_HP_HEAD_KV },
        { "vocab_size", LB_HP_VOCAB }, { "rope.dimension_count", LB_HP_HEAD_DIM },
    };
    lb_hparams *hp = &c->hp;
    memset(hp, 0, sizeof *hp);
    hp->tied = -1;
    double v;
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (kv_num(c->m, a->val.v.s, map[i].key, &v) && v >= 0 && v <= 4294967295.0) {
            hp->v[map[i].hp] = (int64_t)v;
            hp->given[map[i].hp] = 1;
        }
    const lb_tensor *emb = lb_model_find(c->m, "token_embd.weight");
    if (!hp->given[LB_HP_VOCAB] && emb && emb->ndim == 2) {
        hp->v[LB_HP_VOCAB] = (int64_t)emb->shape[0];
        hp->given[LB_HP_VOCAB] = 1;
    }
    hp->has_rope_theta = kv_num(c->m, a->val.v.s, "rope.freq_base", &hp->rope_theta);
    hp->has_rms_eps = kv_num(c->m, a->val.v.s, "attention.layer_norm_rms_epsilon", &hp->rms_eps);
    hp->has_norm_eps = kv_num(c->m, a->val.v.s, "attention.layer_norm_epsilon", &hp->norm_eps);
    const char *need[] = { "block_count", "embedding_length", "attention.head_count", "feed_forward_length" };
    const int needh[] = { LB_HP_LAYERS, LB_HP_EMBD, LB_HP_HEAD, LB_HP_FF };
    if (hp->v[LB_HP_LAYERS] > LB_ARCH_MAX_LAYERS)
        return lb_err_item(err, LB_EFORMAT, "key", "block_count", LB_NO_OFFSET, "%lld layers is implausible",
                           (long long)hp->v[LB_HP_LAYERS]);
    for (int i = 0; i < 4; i++)
        if (!hp->given[needh[i]] || (i && hp->v[needh[i]] == 0))
            return lb_err_item(err, LB_EFORMAT, "key", need[i], LB_NO_OFFSET, "missing (%s.%s)", a->val.v.s, need[i]);
    if (!hp->given[LB_HP_HEAD_KV] || !hp->v[LB_HP_HEAD_KV]) hp->v[LB_HP_HEAD_KV] = hp->v[LB_HP_HEAD];
    if (hp->v[LB_HP_EMBD] % hp->v[LB_HP_HEAD] || hp->v[LB_HP_HEAD] % hp->v[LB_HP_HEAD_KV])
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "head counts do not divide the embedding");
    /* rope.dimension_count is the rotated part; the head size comes from the embedding */
    hp->given[LB_HP_HEAD_DIM] = 0;
    hp->v[LB_HP_HEAD_DIM] = hp->v[LB_HP_EMBD] / hp->v[LB_HP_HEAD];
    return LB_OK;
}

int lb_conv_open_native(lb_conv **out, lb_model *m, const char *dir, const lb_conv_opts *o, lb_err *err)
{
    *out = NULL;
    lb_conv *c = calloc(1, sizeof *c);
    if (!c) { lb_model_close(m); return nomem(err); }
    c->o = o;
    c->m = m;
    c->hp_src = "its metadata";
    int rc = native_hparams(c, err);
    if (!rc && !o->vocab_only) rc = plan_tensors(c, 1, err);
    if (!rc && o->vocab_only) { lb_model_close(c->m); c->m = NULL; }
    if (!rc) rc = finish_plan(c, m->path, dir, err);
    if (rc) { lb_conv_free(c); return rc; }
    *out = c;
    return LB_OK;
}

/* ---- streaming --------------------------------------------------------------------------- */

typedef struct bufs {
    uint8_t *raw;     /* source bytes: LB_CONV_CHUNK elements of up to 8 bytes */
    float   *f;       /* f32 staging */
    float   *g;       /* f32 staging (transpose target) */
    uint8_t *out;     /* output bytes */
} bufs;

/* Quantizing one output tensor: its f32 rows are gathered, then quantized in whole rows. */
typedef struct qacc {
    int      type;        /* block type, or -1: written as converted */
    uint64_t ne0, nelem;  /* row length, elements of the tensor */
    uint64_t fill, done;  /* floats in buf, floats already quantized */
    size_t   cap_rows;
} qacc;

typedef struct stream {
    lb_conv   *c;
    lb_writer *w;
    bufs       b;
    int       *qtype;     /* per output tensor: quantized type, or -1 (NULL: no mix) */
    qacc       q;
    float     *qbuf;      /* cap_rows * ne0 floats */
    lb_qreport *rep;      /* the current tensor's report entry, or NULL */
    uint8_t   *qout;
    size_t     qbuf_cap, qout_cap;
    int        nthreads;
    uint64_t   done;
    uint32_t   chunk;
    int       *out_side;
    lb_err    *err;
} stream;

static int emit_raw(stream *s, const void *data, size_t n, const char *name);
static int account(stream *s, size_t n, const char *name);

/* Quantize the gathered rows (all of them, or the whole rows when not at the end). */
static int q_flush(stream *s, const char *name)
{
    qacc *q = &s->q;
    uint64_t rows = q->fill / q->ne0;
    if (!rows) return LB_OK;
    size_t rb = lb_quant_row_size(q->type, (int64_t)q->ne0), nb = (size_t)(rows * rb);
    /* a seekable output: the workers write their own blocks (a reserved range) */
    int par = lb_out_seekable(s->w->out);
    uint64_t off = 0;
    int rc = par ? lb_writer_reserve(s->w, nb, &off, s->err) : LB_OK;
    if (!rc)
        rc = lb_qrun_rows(q->type, s->qbuf, s->qout, rows, q->ne0, NULL, s->nthreads, s->rep ? &s->rep->m : NULL,
                          par ? s->w : NULL, off, s->err);
    if (rc) { *s->out_side = 1; return rc; }
    q->done += rows * q->ne0;
    q->fill -= rows * q->ne0;
    if (q->fill) memmove(s->qbuf, s->qbuf + rows * q->ne0, q->fill * sizeof(float));
    return par ? account(s, nb, name) : emit_raw(s, s->qout, nb, name);
}

/* F32 bytes of a tensor being quantized: gather into rows. */
static int q_take(stream *s, const void *data, size_t n, const char *name)
{
    qacc *q = &s->q;
    const uint8_t *p = data;
    size_t nf = n / 4;
    while (nf) {
        size_t room = q->cap_rows * q->ne0 - q->fill;
        size_t k = nf < room ? nf : room;
        lb_plain_to_f32(LB_F32, p, s->qbuf + q->fill, k);
        q->fill += k; p += k * 4; nf -= k;
        if (q->fill == q->cap_rows * q->ne0 || q->done + q->fill == q->nelem) LB_TRY(q_flush(s, name));
    }
    return LB_OK;
}

static int emit(stream *s, const void *data, size_t n, const char *name)
{
    if (s->q.type >= 0) return q_take(s, data, n, name);
    return emit_raw(s, data, n, name);
}

static int emit_raw(stream *s, const void *data, size_t n, const char *name)
{
    int rc = lb_writer_data(s->w, data, n, s->err);
    if (rc) { *s->out_side = 1; return rc; }
    return account(s, n, name);
}

/* n output bytes done (written, or left to the workers): progress */
static int account(stream *s, size_t n, const char *name)
{
    s->done += n;
    if (s->c->o->progress) s->c->o->progress(s->c->o->progress_ctx, s->done, s->c->total_bytes, name);
    return LB_OK;
}

/* bytes per element of a plain type (block types only reach here through raw copies) */
static size_t esize(int type) { return lb_type_get(type)->type_size; }

/* Convert n elements in s->b.raw (source type) to the output type and write them. */
static int convert_emit(stream *s, const lb_conv_tensor *t, size_t n)
{
    int st = t->src->type;
    if (st == t->type) return emit(s, s->b.raw, n * esize(st), t->name);
    if (is_block(st)) {
        int rc = lb_dequantize_any(st, s->b.raw, s->b.f, (int64_t)n, s->err);
        if (rc) { *s->out_side = 0; return rc; }
    } else {
        lb_plain_to_f32(st, s->b.raw, s->b.f, n);
    }
    lb_f32_to_plain(t->type, s->b.f, s->b.out, n);
    return emit(s, s->b.out, n * esize(t->type), t->name);
}

static int read_src(stream *s, const lb_tensor *src, uint64_t off, void *buf, size_t n)
{
    int rc = lb_tensor_read(s->c->m, src, off, buf, n, s->err);
    if (rc) *s->out_side = 0;
    return rc;
}

/* Same element order: contiguous pieces (block types: whole blocks, copied). */
static int stream_plain(stream *s, const lb_conv_tensor *t)
{
    const lb_tensor *src = t->src;
    if (src->type == t->type) {
        uint64_t step = (uint64_t)s->chunk * 4;
        for (uint64_t off = 0; off < src->nbytes; off += step) {
            size_t k = (size_t)(src->nbytes - off < step ? src->nbytes - off : step);
            LB_TRY(read_src(s, src, off, s->b.raw, k));
            LB_TRY(emit(s, s->b.raw, k, t->name));
        }
        return LB_OK;
    }
    const lb_type_traits *tt = lb_type_get(src->type);
    uint64_t step = s->chunk / tt->blck * tt->blck;    /* whole blocks (check_convertible: >= 1) */
    for (uint64_t i = 0; i < src->nelem; i += step) {
        size_t n = (size_t)(src->nelem - i < step ? src->nelem - i : step);
        LB_TRY(read_src(s, src, i / tt->blck * tt->type_size, s->b.raw, n / tt->blck * tt->type_size));
        LB_TRY(convert_emit(s, t, n));
    }
    return LB_OK;
}

/* LlamaModel.permute: within each head of 2*half rows, output row 2*i + j comes from
 * source row j*half + i (the inverse of HF's rotate-half layout). */
static uint64_t perm_src_row(uint64_t r, uint64_t rows, uint64_t heads)
{
    uint64_t per = rows / heads, half = per / 2;
    uint64_t h = r / per, w = r % per, i = w / 2, j = w % 2;
    return h * per + j * half + i;
}

static int stream_perm(stream *s, const lb_conv_tensor *t)
{
    const lb_tensor *src = t->src;
    uint64_t rows = src->shape[0], cols = src->ndim > 1 ? src->shape[1] : 1;
    size_t es = esize(src->type);
    uint64_t per_piece = s->chunk / cols;
    for (uint64_t r0 = 0; r0 < rows; r0 += per_piece) {
        uint64_t nr = rows - r0 < per_piece ? rows - r0 : per_piece;
        for (uint64_t r = 0; r < nr; r++)
            LB_TRY(read_src(s, src, perm_src_row(r0 + r, rows, t->heads) * cols * es,
                            s->b.raw + r * cols * es, (size_t)(cols * es)));
        LB_TRY(convert_emit(s, t, (size_t)(nr * cols)));
    }
    return LB_OK;
}

/* [R, C] -> [C, R] in strips of source columns. */
static int stream_transpose(stream *s, const lb_conv_tensor *t)
{
    const lb_tensor *src = t->src;
    uint64_t R = src->shape[0], C = src->shape[1];
    size_t es = esize(src->type);
    uint64_t bw = s->chunk / R;
    if (bw > C) bw = C;
    for (uint64_t c0 = 0; c0 < C; c0 += bw) {
        uint64_t w = C - c0 < bw ? C - c0 : bw;
        if (w == C) LB_TRY(read_src(s, src, 0, s->b.raw, (size_t)(R * C * es)));
        else
            for (uint64_t r = 0; r < R; r++)
                LB_TRY(read_src(s, src, (r * C + c0) * es, s->b.raw + r * w * es, (size_t)(w * es)));
        size_t n = (size_t)(R * w);
        lb_plain_to_f32(src->type, s->b.raw, s->b.f, n);
        for (uint64_t r = 0; r < R; r++)
            for (uint64_t j = 0; j < w; j++) s->b.g[j * R + r] = s->b.f[r * w + j];
        lb_f32_to_plain(t->type, s->b.g, s->b.out, n);
        LB_TRY(emit(s, s->b.out, n * esize(t->type), t->name));
    }
    return LB_OK;
}

/* Set up the row gatherer for output tensor i (or turn it off). */
static int q_begin(stream *s, size_t i)
{
    qacc *q = &s->q;
    const lb_conv_tensor *t = &s->c->t[i];
    q->type = s->qtype ? s->qtype[i] : -1;
    s->rep = s->c->report ? &s->c->report[i] : NULL;
    if (s->rep) {
        lb_qreport *r = s->rep;
        r->name = t->name;
        r->ndim = t->ndim;
        r->shape[0] = t->shape[0];
        r->shape[1] = t->shape[1];
        r->nelem = t->ndim > 1 ? t->shape[0] * t->shape[1] : t->shape[0];
        r->in_type = t->src ? t->src->type : LB_F32;
        r->in_bytes = t->src ? t->src->nbytes : r->nelem * 4;
        r->out_type = q->type >= 0 ? q->type : t->type;
        r->converted = q->type >= 0;
        r->offset = s->w->data_start + s->w->offset[i];
        r->bytes = s->w->nbytes[i];
        lb_metrics_init(&r->m);
    }
    if (q->type < 0) return LB_OK;
    q->ne0 = t->shape[t->ndim - 1];
    q->nelem = t->ndim > 1 ? t->shape[0] * t->shape[1] : t->shape[0];
    q->fill = q->done = 0;
    q->cap_rows = (size_t)((8u << 20) / 4 / q->ne0);
    if (q->cap_rows < 1) q->cap_rows = 1;
    size_t nf = q->cap_rows * (size_t)q->ne0, nb = q->cap_rows * lb_quant_row_size(q->type, (int64_t)q->ne0);
    if (nf > s->qbuf_cap) {
        free(s->qbuf);
        s->qbuf = malloc(nf * sizeof(float));
        s->qbuf_cap = s->qbuf ? nf : 0;
    }
    if (nb > s->qout_cap) { free(s->qout); s->qout = malloc(nb); s->qout_cap = s->qout ? nb : 0; }
    if (!s->qbuf || !s->qout) return nomem(s->err);
    return LB_OK;
}

/* The mix's type for every output tensor, chosen as lowbit-quantize would on the F32 GGUF
 * this conversion would otherwise write (same tensors, same metadata). */
static int plan_mix(lb_conv *c, int **qtype, lb_wtensor *wt, lb_err *err)
{
    lb_model *tm = lb_model_new("plan", "");
    if (!tm) return nomem(err);
    int rc = LB_OK;
    for (size_t i = 0; !rc && i < c->kv.n; i++) {
        lb_value v;
        if (lb_value_copy(&v, &c->kv.kv[i].val)) rc = nomem(err);
        else rc = lb_model_add_kv(tm, c->kv.kv[i].key, &v, err);
    }
    for (size_t i = 0; !rc && i < c->n_t; i++)
        rc = lb_model_add_tensor(tm, c->t[i].name, c->t[i].type, c->t[i].ndim, c->t[i].shape, 0, 0, NULL, err);
    lb_mix_hparams hp;
    lb_mix_result *plan = NULL;
    lb_mix_opts mo = lb_mix_opts_default(c->o->mix_ftype);
    if (!rc) rc = lb_mix_hparams_get(tm, &hp, err);
    if (!rc) rc = lb_mix_plan(&plan, tm->tensors, tm->n_tensors, &hp, &mo, err);
    if (!rc && !(*qtype = malloc((c->n_t + 1) * sizeof **qtype))) rc = nomem(err);
    for (size_t i = 0; !rc && i < c->n_t; i++) {
        wt[i].type = plan->t[i].type;
        (*qtype)[i] = plan->t[i].type != c->t[i].type ? plan->t[i].type : -1;
        if ((*qtype)[i] >= 0 && c->t[i].type != LB_F32)
            rc = lb_err_item(err, LB_EUSAGE, "tensor", c->t[i].name, LB_NO_OFFSET, "quantized output needs the F32 plan");
    }
    for (size_t i = 0; !rc && i < c->kv.n; i++)     /* general.file_type: the mix's */
        if (!strcmp(c->kv.kv[i].key, "general.file_type")) c->kv.kv[i].val.v.u = (uint64_t)c->o->mix_ftype;
    lb_mix_result_free(plan);
    lb_model_close(tm);
    return rc;
}

static int stream_tensor(stream *s, const lb_conv_tensor *t)
{
    LB_TRY(q_begin(s, (size_t)(t - s->c->t)));
    if (t->gen) {
        size_t n = (size_t)t->shape[0];
        lb_f32_to_plain(LB_F32, t->gen, s->b.out, n);
        return emit(s, s->b.out, n * 4, t->name);
    }
    int rc;
    switch (t->xform) {
    case LB_XF_PERM_Q: case LB_XF_PERM_K: rc = stream_perm(s, t); break;
    case LB_XF_TRANSPOSE: rc = stream_transpose(s, t); break;
    default: rc = stream_plain(s, t); break;
    }
    lb_src_done(s->c->m->files[t->src->file].src, t->src->offset, t->src->nbytes);
    return rc;
}

int lb_conv_write(lb_conv *c, lb_out *out, int *out_side, lb_err *err)
{
    *out_side = 1;
    lb_wtensor *wt = calloc(c->n_t ? c->n_t : 1, sizeof *wt);
    if (!wt) return nomem(err);
    for (size_t i = 0; i < c->n_t; i++) {
        wt[i].name = c->t[i].name;
        wt[i].type = c->t[i].type;
        wt[i].ndim = c->t[i].ndim;
        wt[i].shape[0] = c->t[i].shape[0];
        wt[i].shape[1] = c->t[i].shape[1];
    }
    stream s = { .c = c, .out_side = out_side, .err = err };
    s.chunk = c->o->chunk ? c->o->chunk : LB_CONV_CHUNK;
    size_t gen = 1;
    for (size_t i = 0; i < c->n_t; i++)
        if (c->t[i].gen && c->t[i].shape[0] > gen) gen = (size_t)c->t[i].shape[0];
    size_t cap = s.chunk > gen ? s.chunk : gen;
    s.b.raw = malloc(cap * 8);
    s.b.f = malloc(cap * sizeof(float));
    s.b.g = malloc(cap * sizeof(float));
    s.b.out = malloc(cap * 4);
    int rc = (!s.b.raw || !s.b.f || !s.b.g || !s.b.out) ? nomem(err) : LB_OK;
    s.q.type = -1;
    s.nthreads = c->o->nthreads;
    if (!rc && c->o->mix_ftype > 0) rc = plan_mix(c, &s.qtype, wt, err);
    if (!rc && c->o->mix_ftype > 0 && !c->report && !(c->report = calloc(c->n_t + 1, sizeof *c->report))) rc = nomem(err);
    if (!rc) rc = lb_writer_begin(&s.w, &lb_gguf_writer_ops, out, c->kv.kv, c->kv.n, wt, c->n_t, err);
    for (size_t i = 0; i < c->n_t && !rc; i++) rc = stream_tensor(&s, &c->t[i]);
    if (!rc) {
        *out_side = 1;
        rc = lb_writer_end(s.w, err);
        s.w = NULL;
    }
    lb_writer_abort(s.w);
    free(s.b.raw);
    free(s.b.f);
    free(s.b.g);
    free(s.b.out);
    free(s.qtype);
    free(s.qbuf);
    free(s.qout);
    free(wt);
    return rc;
}
