/* mix_vs_llama.c: lowbit's lb_mix_plan must pick, for every tensor, the type the real
 * llama.cpp 0.4.0 (llama_model_quantize) writes.
 *
 * Models: gguf/stories260K.gguf (F32, 64-wide rows: fallbacks everywhere),
 * gguf/tiny-llama-trained-f32.gguf (256-wide rows: every k-quant applies), and GGUFs this
 * program writes with lowbit's writer: a llama-shaped F16 model with an untied
 * output.weight, F16 norms and GQA 4; a tied one (no output.weight), F32 norms, written in
 * a shuffled order (llama.cpp sorts by layer then name; the counters must follow that);
 * and small edge-case files llama.cpp's quantizer accepts because it only loads
 * hyperparameters: 80 layers (the "70B" attn_v bump), 8 experts with 3-D expert
 * tensors, and a falcon (attn_qkv) model.
 *
 * For every mix llama-quantize accepts: llama.cpp quantizes (2 threads) and lowbit's GGUF
 * reader reads the result's tensor types; lb_mix_plan on the input must agree on every
 * tensor and on the fallback count llama.cpp logs. Quantizing for real costs seconds per
 * mix on the 3-4M-parameter models (a minute for the first IQ1_S, whose grids ggml builds
 * on first use), so there only Q2_K, Q3_K_M, Q4_0, Q4_K_M, Q8_0, F16 and the requantize
 * cases are quantized; the other mixes and options run llama.cpp with params.dry_run,
 * which makes the same per-tensor choice and logs it ("... (q4_K)"): those lines are
 * compared instead. stories260K runs every mix and option for real. When lowbit refuses (imatrix needed,
 * requantizing, no fallback type), llama.cpp must fail too, naming the same tensor where
 * it names one. Mixes needing an importance matrix run with one: the real
 * imatrix/stories260K-imatrix.gguf for stories260K (read by lb_imatrix and handed to
 * llama.cpp as llama_model_imatrix_data, the C struct quantize.cpp builds), a made-up
 * matrix of the right sizes for the other models.
 *
 * usage: mix_vs_llama TMPDIR SHARED   prints PASS/FAIL/SKIP/INFO lines */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llama.h"

#include "lb_dtype.h"
#include "lb_imatrix.h"
#include "lb_mix.h"
#include "lb_model.h"
#include "lb_writer.h"

static int failed;
static const char *tmpdir;

/* ---- llama.cpp's log: keep what the comparison needs ------------------------------------ */

static char log_offending[256];   /* "offending tensor: X" (imatrix refusal) */
static char log_requant[64];      /* "requantizing from type X is disabled" */
static int  log_fallbacks;        /* "N of M tensor(s) required fallback" */

/* Dry runs (params.dry_run) write no file; llama.cpp logs each tensor's choice instead:
 * "[   i/   n] NAME - [shape], type = IN, " then "size = ... -> ... (NEW)\n" or
 * "size = ...\n" (kept as is). */
#define MAX_LOGGED 4096
static struct { char name[96]; char type[16]; } logged[MAX_LOGGED];
static int n_logged;

static void on_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)level; (void)user;
    const char *p;
    char name[96], in[16];
    if (text[0] == '[' && sscanf(text, "[%*d/%*d] %95s - [", name) == 1 && (p = strstr(text, "type = ")) &&
        sscanf(p + 7, "%15s", in) == 1 && n_logged < MAX_LOGGED) {
        in[strcspn(in, ",")] = 0;
        snprintf(logged[n_logged].name, sizeof logged[n_logged].name, "%s", name);
        snprintf(logged[n_logged].type, sizeof logged[n_logged].type, "%s", in);
        n_logged++;
    } else if (!strncmp(text, "size = ", 7) && n_logged > 0 && (p = strchr(text, '('))) {
        char t[16];
        if (sscanf(p + 1, "%15[^)]", t) == 1) snprintf(logged[n_logged - 1].type, sizeof logged[0].type, "%s", t);
    }
    if ((p = strstr(text, "offending tensor: ")))
        sscanf(p + 18, "%255s", log_offending);
    if ((p = strstr(text, "requantizing from type ")))
        sscanf(p + 23, "%63s", log_requant);
    if ((p = strstr(text, "WARNING: ")) && strstr(text, "required fallback"))
        sscanf(p + 9, "%d", &log_fallbacks);
}

/* ---- writing synthetic models --------------------------------------------------------- */

typedef struct wt { char name[64]; int type; int ndim; uint64_t shape[3]; } wt;

typedef struct synth {
    const char *label, *arch;
    int n_layer, n_embd, n_ff, n_head, n_head_kv, vocab, n_expert;
    int tied, f16_norms, shuffle;
    int rows_small;     /* matrices get few rows (edge-case files that only llama.cpp's
                           quantizer loads): keeps 80-layer files small */
} synth;

static void add_t(wt *t, size_t *n, const char *name, int type, int ndim, uint64_t a, uint64_t b, uint64_t c)
{
    wt *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->type = type;
    x->ndim = ndim;
    x->shape[0] = a; x->shape[1] = b; x->shape[2] = c;
}

static size_t synth_tensors(const synth *s, wt *t)
{
    size_t n = 0;
    char nm[64];
    int E = s->n_embd, hd = s->n_embd / s->n_head, kv = hd * s->n_head_kv, F = s->n_ff;
    int norm = s->f16_norms ? LB_F16 : LB_F32;
    int r = s->rows_small;
    add_t(t, &n, "token_embd.weight", LB_F16, 2, s->vocab, E, 0);
    for (int l = 0; l < s->n_layer; l++) {
        int L = s->shuffle ? s->n_layer - 1 - l : l;
#define T2(suffix, rows, cols) do { snprintf(nm, sizeof nm, "blk.%d." suffix, L); \
        add_t(t, &n, nm, LB_F16, 2, r ? (uint64_t)r : (uint64_t)(rows), cols, 0); } while (0)
        snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", L);
        add_t(t, &n, nm, norm, 1, E, 0, 0);
        if (!strcmp(s->arch, "falcon")) {
            T2("attn_qkv.weight", E + 2 * kv, E);
        } else {
            T2("attn_v.weight", kv, E);
            T2("attn_q.weight", E, E);
            T2("attn_k.weight", kv, E);
        }
        T2("attn_output.weight", E, E);
        snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", L);
        add_t(t, &n, nm, norm, 1, E, 0, 0);
        if (s->n_expert > 1) {
            snprintf(nm, sizeof nm, "blk.%d.ffn_gate_inp.weight", L);
            add_t(t, &n, nm, LB_F32, 2, s->n_expert, E, 0);
            snprintf(nm, sizeof nm, "blk.%d.ffn_down_exps.weight", L);
            add_t(t, &n, nm, LB_F16, 3, s->n_expert, r ? r : E, F);
            snprintf(nm, sizeof nm, "blk.%d.ffn_gate_exps.weight", L);
            add_t(t, &n, nm, LB_F16, 3, s->n_expert, r ? r : F, E);
            snprintf(nm, sizeof nm, "blk.%d.ffn_up_exps.weight", L);
            add_t(t, &n, nm, LB_F16, 3, s->n_expert, r ? r : F, E);
        } else {
            T2("ffn_up.weight", F, E);
            T2("ffn_down.weight", E, F);
            if (strcmp(s->arch, "falcon")) T2("ffn_gate.weight", F, E);
        }
#undef T2
    }
    add_t(t, &n, "output_norm.weight", norm, 1, E, 0, 0);
    if (!s->tied) add_t(t, &n, "output.weight", LB_F16, 2, s->vocab, E, 0);
    return n;
}

static void set_u32(lb_kv *kv, size_t *n, const char *arch, const char *key, uint32_t v, char keys[][96])
{
    snprintf(keys[*n], 96, "%s.%s", arch, key);
    kv[*n].key = keys[*n];
    memset(&kv[*n].val, 0, sizeof kv[*n].val);
    kv[*n].val.type = LB_V_U32;
    kv[*n].val.v.u = v;
    (*n)++;
}

/* Write the synthetic model; tokenizer kvs borrowed from stories (vocab 512). */
static int synth_write(const synth *s, const lb_model *stories, const char *path, lb_err *e)
{
    static wt t[2048];
    static lb_wtensor wts[2048];
    static lb_kv kv[128];
    static char keys[128][96];
    size_t nt = synth_tensors(s, t), nkv = 0;
    kv[nkv].key = "general.architecture";
    memset(&kv[nkv].val, 0, sizeof kv[nkv].val);
    kv[nkv].val.type = LB_V_STR;
    kv[nkv].val.v.s = (char *)s->arch;
    kv[nkv].val.n = strlen(s->arch);
    nkv++;
    set_u32(kv, &nkv, s->arch, "block_count", (uint32_t)s->n_layer, keys);
    set_u32(kv, &nkv, s->arch, "context_length", 256, keys);
    set_u32(kv, &nkv, s->arch, "embedding_length", (uint32_t)s->n_embd, keys);
    set_u32(kv, &nkv, s->arch, "feed_forward_length", (uint32_t)s->n_ff, keys);
    set_u32(kv, &nkv, s->arch, "attention.head_count", (uint32_t)s->n_head, keys);
    set_u32(kv, &nkv, s->arch, "attention.head_count_kv", (uint32_t)s->n_head_kv, keys);
    set_u32(kv, &nkv, s->arch, "rope.dimension_count", (uint32_t)(s->n_embd / s->n_head), keys);
    if (s->n_expert > 1) {
        set_u32(kv, &nkv, s->arch, "expert_count", (uint32_t)s->n_expert, keys);
        set_u32(kv, &nkv, s->arch, "expert_used_count", 2, keys);
    }
    snprintf(keys[nkv], 96, "%s.attention.%s", s->arch,
             strcmp(s->arch, "falcon") ? "layer_norm_rms_epsilon" : "layer_norm_epsilon");
    kv[nkv].key = keys[nkv];
    memset(&kv[nkv].val, 0, sizeof kv[nkv].val);
    kv[nkv].val.type = LB_V_F32;
    kv[nkv].val.v.f = 1e-5;
    nkv++;
    for (size_t i = 0; i < stories->n_kv && nkv < 128; i++)
        if (!strncmp(stories->kv[i].key, "tokenizer.ggml.", 15)) kv[nkv++] = stories->kv[i];
    for (size_t i = 0; i < nt; i++) {
        wts[i].name = t[i].name;
        wts[i].type = t[i].type;
        wts[i].ndim = t[i].ndim;
        memcpy(wts[i].shape, t[i].shape, sizeof t[i].shape);
    }
    lb_out *out;
    lb_writer *w;
    LB_TRY(lb_out_open(&out, path, LB_OUT_FORCE, e));
    int rc = lb_writer_begin(&w, &lb_gguf_writer_ops, out, kv, nkv, wts, nt, e);
    if (rc) { lb_out_abort(out); return rc; }
    uint32_t seed = 12345;
    static uint8_t buf[4096];
    for (size_t i = 0; !rc && i < nt; i++) {
        for (uint64_t off = 0; !rc && off < w->nbytes[i]; off += sizeof buf) {
            size_t k = w->nbytes[i] - off < sizeof buf ? (size_t)(w->nbytes[i] - off) : sizeof buf;
            int f16 = t[i].type == LB_F16;
            for (size_t j = 0; j + (f16 ? 2 : 4) <= k; j += f16 ? 2 : 4) {
                seed = seed * 1664525u + 1013904223u;
                float v = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.1f;
                if (t[i].ndim == 1) v += 1.0f;
                if (f16) { uint16_t h = lb_f32_to_f16(v); buf[j] = (uint8_t)h; buf[j + 1] = (uint8_t)(h >> 8); }
                else memcpy(buf + j, &v, 4);
            }
            rc = lb_writer_data(w, buf, k, e);
        }
    }
    if (!rc) rc = lb_writer_end(w, e);
    else lb_writer_abort(w);
    if (rc) { lb_out_abort(out); return rc; }
    return lb_out_commit(out, e);
}

/* ---- a model under test ---------------------------------------------------------------- */

typedef struct mcase {
    char label[48];
    char path[1024];
    lb_model *m;
    lb_mix_hparams hp;
    int big;                               /* quantize only a few mixes for real */
    lb_imatrix *im;                        /* real or made up */
    struct llama_model_imatrix_data *imx; /* the same for llama.cpp */
} mcase;

/* A made-up matrix: an entry for every blk.* matrix, sized row length x experts. */
static lb_imatrix *fake_imatrix(const lb_model *m)
{
    lb_imatrix *im = calloc(1, sizeof *im);
    im->e = calloc(m->n_tensors, sizeof *im->e);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        if (strncmp(t->name, "blk.", 4) || t->ndim < 2) continue;
        lb_imatrix_entry *e = &im->e[im->n++];
        e->name = strdup(t->name);
        e->ne0 = t->shape[t->ndim - 1];
        e->n_mat = t->ndim >= 3 ? t->shape[t->ndim - 3] : 1;
        e->n = e->ne0 * e->n_mat;
        e->w = malloc(e->n * sizeof *e->w);
        for (uint64_t j = 0; j < e->n; j++) e->w[j] = 1.0f + (float)(j % 7) * 0.25f;
        e->count = 1;
    }
    /* lb_imatrix_find wants names sorted */
    for (size_t i = 1; i < im->n; i++)
        for (size_t j = i; j > 0 && strcmp(im->e[j - 1].name, im->e[j].name) > 0; j--) {
            lb_imatrix_entry x = im->e[j]; im->e[j] = im->e[j - 1]; im->e[j - 1] = x;
        }
    return im;
}

static struct llama_model_imatrix_data *to_llama_imatrix(const lb_imatrix *im)
{
    struct llama_model_imatrix_data *d = calloc(im->n + 1, sizeof *d);
    for (size_t i = 0; i < im->n; i++) {
        d[i].name = im->e[i].name;
        d[i].data = im->e[i].w;
        d[i].size = (size_t)im->e[i].n;
    }
    return d;   /* terminator: name NULL */
}

static int mcase_open(mcase *c, const char *label, const char *path, const char *imatrix_path)
{
    lb_err e;
    char s[800];
    snprintf(c->label, sizeof c->label, "%s", label);
    snprintf(c->path, sizeof c->path, "%s", path);
    if (lb_model_open(&c->m, path, &e) || lb_mix_hparams_get(c->m, &c->hp, &e)) {
        printf("FAIL mix-%s-open: %s\n", label, lb_err_str(&e, s, sizeof s));
        failed++;
        return -1;
    }
    if (imatrix_path) {
        if (lb_imatrix_load(&c->im, imatrix_path, &e)) {
            printf("FAIL mix-%s-imatrix: %s\n", label, lb_err_str(&e, s, sizeof s));
            failed++;
            return -1;
        }
    } else {
        c->im = fake_imatrix(c->m);
    }
    c->imx = to_llama_imatrix(c->im);
    return 0;
}

static void mcase_close(mcase *c)
{
    lb_model_close(c->m);
    lb_imatrix_free(c->im);
    free(c->imx);
}

/* ---- one comparison ---------------------------------------------------------------------- */

typedef struct variant {
    const char *suffix;        /* "" or "-pure", ... */
    int pure, leave_output, allow_requantize, out_type, embd_type, with_imatrix;
    const char *overrides[4];
    size_t n_overrides;
} variant;

static double t_llama;

static int run_llama(const mcase *c, const char *in, const char *out, const lb_mix_opts *o, const variant *v,
                     int dry)
{
    struct llama_model_quantize_params p = llama_model_quantize_default_params();
    struct llama_model_tensor_override ov[5];
    p.nthread = 2;
    p.dry_run = dry;
    n_logged = 0;
    p.ftype = (enum llama_ftype)o->ftype;
    p.only_copy = o->only_copy;
    p.pure = v->pure;
    p.quantize_output_tensor = !v->leave_output;
    p.allow_requantize = v->allow_requantize;
    p.output_tensor_type = v->out_type >= 0 ? (enum ggml_type)v->out_type : GGML_TYPE_COUNT;
    p.token_embedding_type = v->embd_type >= 0 ? (enum ggml_type)v->embd_type : GGML_TYPE_COUNT;
    if (v->with_imatrix) p.imatrix = c->imx;
    if (v->n_overrides) {
        for (size_t k = 0; k < v->n_overrides; k++) {
            /* llama-quantize splits at '=' and lowercases the name part; ours are lowercase */
            static char pat[4][128];
            const char *eq = strchr(v->overrides[k], '=');
            snprintf(pat[k], sizeof pat[k], "%.*s", (int)(eq - v->overrides[k]), v->overrides[k]);
            ov[k].pattern = pat[k];
            ov[k].type = (enum ggml_type)lb_type_by_name(eq + 1)->id;
        }
        ov[v->n_overrides].pattern = NULL;
        ov[v->n_overrides].type = GGML_TYPE_COUNT;
        p.tt_overrides = ov;
    }
    log_offending[0] = log_requant[0] = 0;
    log_fallbacks = 0;
    remove(out);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint32_t rc = llama_model_quantize(in, out, &p);
    clock_gettime(CLOCK_MONOTONIC, &b);
    t_llama += (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    return (int)rc;
}

/* The tensor an explicit --output-tensor-type / --token-embedding-type does not fit, or NULL. */
static const char *explicit_misfit(const lb_model *m, const variant *v)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        int ty = !strcmp(t->name, "output.weight") && !v->leave_output ? v->out_type
               : !strcmp(t->name, "token_embd.weight") ? v->embd_type : -1;
        if (ty >= 0 && ty != t->type && t->shape[t->ndim - 1] % lb_type_get(ty)->blck) return t->name;
    }
    return NULL;
}

/* The mixes quantized for real on the larger models. */
static int real_on_big(int ftype, const variant *v)
{
    if (v->with_imatrix || v->pure || v->leave_output || v->out_type >= 0 || v->embd_type >= 0) return 0;
    if (v->n_overrides) return 0;
    return ftype == LB_FT_Q4_K_M || ftype == LB_FT_Q3_K_M || ftype == LB_FT_Q2_K || ftype == LB_FT_Q8_0 ||
           ftype == LB_FT_Q4_0 || ftype == LB_FT_F16 || v->allow_requantize;
}

static void compare(const mcase *c, const char *in_path, lb_model *in, const char *mixname, int ftype,
                    int only_copy, const variant *v)
{
    char name[160], why[700] = "", s[800], out[1200];
    snprintf(name, sizeof name, "mix-%s-%s%s", c->label, mixname, v->suffix);
    snprintf(out, sizeof out, "%s/out.gguf", tmpdir);

    lb_mix_hparams hp;
    lb_err e;
    lb_err_clear(&e);
    if (lb_mix_hparams_get(in, &hp, &e)) {
        printf("FAIL %s: hparams: %s\n", name, lb_err_str(&e, s, sizeof s));
        failed++;
        return;
    }
    lb_mix_opts o = lb_mix_opts_default(ftype);
    o.only_copy = only_copy;
    o.pure = v->pure;
    o.leave_output_tensor = v->leave_output;
    o.allow_requantize = v->allow_requantize;
    o.output_tensor_type = v->out_type;
    o.token_embedding_type = v->embd_type;
    o.overrides = v->overrides;
    o.n_overrides = v->n_overrides;
    if (v->with_imatrix) o.imatrix = c->im;
    lb_mix_result *r = NULL;
    int lrc = lb_mix_plan(&r, in->tensors, in->n_tensors, &hp, &o, &e);
    const char *misfit = explicit_misfit(in, v);
    if (misfit) {
        /* llama.cpp 0.4.0 skips the fallback for explicit types and then aborts in
         * gguf_set_tensor_type (GGML_ASSERT): lowbit must refuse, naming the tensor */
        char q[200];
        snprintf(q, sizeof q, "'%s'", misfit);
        if (lrc == LB_EUSAGE && strstr(e.item, q))
            printf("PASS %s (lowbit refuses where llama.cpp would abort: %s)\n", name, lb_err_str(&e, s, sizeof s));
        else { printf("FAIL %s: want a refusal naming %s, got rc %d\n", name, q, lrc); failed++; }
        lb_mix_result_free(r);
        return;
    }
    double t0 = t_llama;
    /* quantizing for real takes seconds per mix on the larger models (minutes for the IQ
     * types): there llama.cpp only plans (dry run) and we compare with the types it logs,
     * except for a few mixes, the refusals, and every mix on the small models */
    int dry = lrc == LB_OK && c->big && !real_on_big(ftype, v);
    int qrc = run_llama(c, in_path, out, &o, v, dry);
    if (getenv("MIX_TIMES")) fprintf(stderr, "TIME %s %.2f\n", name, t_llama - t0);

    if (lrc != LB_OK || qrc != 0) {
        char quoted[300];
        snprintf(quoted, sizeof quoted, "'%s'", log_offending);
        if (lrc == LB_OK) snprintf(why, sizeof why, "llama.cpp failed, lowbit planned it");
        else if (qrc == 0) snprintf(why, sizeof why, "lowbit refused, llama.cpp did it: %s", lb_err_str(&e, s, sizeof s));
        else if (log_offending[0] && !strstr(e.item, quoted))
            snprintf(why, sizeof why, "both refuse, but llama.cpp names '%s', lowbit: %s", log_offending,
                     lb_err_str(&e, s, sizeof s));
        else if (log_requant[0] && !strstr(e.msg, log_requant))
            snprintf(why, sizeof why, "both refuse, llama.cpp: requantizing from %s; lowbit: %s", log_requant,
                     lb_err_str(&e, s, sizeof s));
        if (why[0]) { printf("FAIL %s: %s\n", name, why); failed++; }
        else printf("PASS %s (both refuse: %s)\n", name, lb_err_str(&e, s, sizeof s));
        lb_mix_result_free(r);
        return;
    }
    lb_model *q = NULL;
    if (dry) {
        /* the logged plan as a model with types only */
        q = lb_model_new("log", "dry run");
        for (int k = 0; k < n_logged; k++) {
            const lb_type_traits *tr = lb_type_by_name(logged[k].type);
            uint64_t n = tr ? tr->blck : 1;   /* one block: types only matter here */
            if (lb_model_add_tensor(q, logged[k].name, tr ? tr->id : -1, 1, &n, 0, 0, NULL, &e))
                printf("INFO mix: cannot record logged type '%s' of %s\n", logged[k].type, logged[k].name);
        }
    } else if (lb_model_open(&q, out, &e)) {
        printf("FAIL %s: cannot read llama.cpp's output: %s\n", name, lb_err_str(&e, s, sizeof s));
        failed++;
        lb_mix_result_free(r);
        return;
    }
    int bad = 0;
    if (q->n_tensors != in->n_tensors)
        snprintf(why, sizeof why, "llama.cpp wrote %zu tensors, input has %zu", q->n_tensors, in->n_tensors), bad++;
    for (size_t i = 0; i < in->n_tensors; i++) {
        const lb_tensor *qt = lb_model_find(q, in->tensors[i].name);
        int want = qt ? qt->type : -1;
        if (want != r->t[i].type) {
            if (!bad++)
                snprintf(why, sizeof why, "'%s': llama.cpp %s, lowbit %s", in->tensors[i].name,
                         want >= 0 ? lb_type_get(want)->name : "(missing)", lb_type_get(r->t[i].type)->name);
        }
    }
    if (!bad && r->n_fallback != log_fallbacks)
        snprintf(why, sizeof why, "fallbacks: llama.cpp %d, lowbit %d", log_fallbacks, r->n_fallback), bad++;
    if (bad) { printf("FAIL %s: %s (%d tensors differ)\n", name, why, bad); failed++; }
    else printf("PASS %s%s\n", name, dry ? " (llama.cpp dry run)" : "");
    fflush(stdout);
    lb_model_close(q);
    lb_mix_result_free(r);
}

/* Every mix on one model, with an imatrix where lowbit says one is needed; the refusal
 * without it must match llama.cpp's too. */
static void all_mixes(const mcase *c, int imatrix_everywhere)
{
    const lb_mix_name *names;
    size_t n = lb_mix_names(&names);
    for (size_t i = 0; i < n; i++) {
        if (names[i].alias) continue;
        variant v = { "", 0, 0, 0, -1, -1, 0, { NULL }, 0 };
        lb_mix_opts o = lb_mix_opts_default(names[i].ftype);
        lb_mix_result *r = NULL;
        lb_err e;
        int needs = 0;
        lb_mix_plan(&r, c->m->tensors, c->m->n_tensors, &c->hp, &o, &e);
        needs = r && lb_mix_first_imatrix(r) >= 0;
        lb_mix_result_free(r);
        if (needs) {
            v.suffix = "-noimatrix";
            compare(c, c->path, c->m, names[i].name, names[i].ftype, names[i].copy, &v);
        }
        if (!needs || imatrix_everywhere) {
            v.suffix = "";
            compare(c, c->path, c->m, names[i].name, names[i].ftype, names[i].copy, &v);
        }
        if (needs || imatrix_everywhere) {
            v.suffix = "-imatrix";
            v.with_imatrix = 1;
            compare(c, c->path, c->m, names[i].name, names[i].ftype, names[i].copy, &v);
        }
    }
}

/* Options: --pure, --leave-output-tensor, explicit output/embedding types, overrides. */
static void option_variants(const mcase *c)
{
    static const variant vs[] = {
        { "-pure", 1, 0, 0, -1, -1, 0, { NULL }, 0 },
        { "-leave-output", 0, 1, 0, -1, -1, 0, { NULL }, 0 },
        { "-out-q8_0-embd-q4_K", 0, 0, 0, LB_Q8_0, LB_Q4_K, 0, { NULL }, 0 },
        { "-out-q4_0", 0, 0, 0, LB_Q4_0, -1, 0, { NULL }, 0 },
        { "-embd-q5_0", 0, 0, 0, -1, LB_Q5_0, 0, { NULL }, 0 },
        { "-override", 0, 0, 0, -1, -1, 0, { "attn_v=q8_0", "blk\\.[0-2]\\.ffn_down=q5_k", "ffn=iq4_nl" }, 3 },
        { "-override-output", 0, 0, 0, -1, -1, 0, { "output=q5_0", "token_embd=f16" }, 2 },
        { "-pure-override", 1, 0, 0, -1, -1, 0, { "attn_(q|k)=q8_0" }, 1 },
    };
    static const int ftypes[] = { LB_FT_Q4_K_M, LB_FT_Q3_K_M, LB_FT_Q4_0, LB_FT_F16 };
    for (size_t f = 0; f < sizeof ftypes / sizeof ftypes[0]; f++)
        for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++)
            compare(c, c->path, c->m, lb_mix_ftype_name(ftypes[f]), ftypes[f], 0, &vs[k]);
}

/* Requantizing: llama.cpp's Q8_0 output as input. */
static void requant(const mcase *c)
{
    char q8[1200];
    snprintf(q8, sizeof q8, "%s/q8.gguf", tmpdir);
    variant v0 = { "", 0, 0, 0, -1, -1, 0, { NULL }, 0 };
    lb_mix_opts o = lb_mix_opts_default(LB_FT_Q8_0);
    if (run_llama(c, c->path, q8, &o, &v0, 0) != 0) {
        printf("FAIL mix-%s-requant: llama.cpp cannot make the Q8_0 input\n", c->label);
        failed++;
        return;
    }
    lb_model *m = NULL;
    lb_err e;
    char s[800];
    if (lb_model_open(&m, q8, &e)) {
        printf("FAIL mix-%s-requant: %s\n", c->label, lb_err_str(&e, s, sizeof s));
        failed++;
        return;
    }
    mcase cq = *c;
    snprintf(cq.label, sizeof cq.label, "%.40s-q8in", c->label);
    variant vno = { "-requant-refused", 0, 0, 0, -1, -1, 0, { NULL }, 0 };
    variant vok = { "-allow-requantize", 0, 0, 1, -1, -1, 0, { NULL }, 0 };
    variant vsame = { "-same-type", 0, 0, 0, -1, -1, 0, { NULL }, 0 };
    compare(&cq, q8, m, "Q4_K_M", LB_FT_Q4_K_M, 0, &vno);
    compare(&cq, q8, m, "Q4_K_M", LB_FT_Q4_K_M, 0, &vok);
    compare(&cq, q8, m, "Q8_0", LB_FT_Q8_0, 0, &vsame);   /* nothing converted: no refusal */
    lb_model_close(m);
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: mix_vs_llama TMPDIR SHARED\n"); return 2; }
    tmpdir = argv[1];
    const char *shared = argv[2];
    llama_log_set(on_log, NULL);
    llama_backend_init();

    char p[1200], im[1200];
    snprintf(p, sizeof p, "%s/models/gguf/stories260K.gguf", shared);
    snprintf(im, sizeof im, "%s/models/imatrix/stories260K-imatrix.gguf", shared);
    mcase st = { 0 };
    if (mcase_open(&st, "stories260K", p, im)) return 1;
    all_mixes(&st, 1);
    option_variants(&st);

    snprintf(p, sizeof p, "%s/models/gguf/tiny-llama-trained-f32.gguf", shared);
    mcase tl = { 0 };
    tl.big = 1;
    if (mcase_open(&tl, "tiny-llama", p, NULL) == 0) {
        all_mixes(&tl, 0);
        option_variants(&tl);
        requant(&tl);
        mcase_close(&tl);
    }

    static const synth synths[] = {
        /* label      arch     L   E    F    H  KV  vocab X  tied f16n shuf rows */
        { "synth-untied", "llama", 8, 256, 512, 8, 2, 512, 0, 0, 1, 0, 0 },
        { "synth-tied", "llama", 12, 256, 256, 4, 4, 512, 0, 1, 0, 1, 0 },
        { "synth-70b", "llama", 80, 256, 256, 8, 2, 512, 0, 0, 0, 0, 2 },
        { "synth-65b", "llama", 80, 256, 256, 8, 8, 512, 0, 0, 0, 0, 2 },
        { "synth-qwen2-72b", "qwen2", 80, 256, 256, 8, 8, 512, 0, 0, 0, 0, 2 },
        { "synth-moe8", "llama", 4, 256, 256, 8, 8, 512, 8, 0, 0, 0, 2 },
        { "synth-falcon", "falcon", 4, 256, 256, 8, 8, 512, 0, 1, 0, 0, 2 },
    };
    for (size_t k = 0; k < sizeof synths / sizeof synths[0]; k++) {
        lb_err e;
        char s[800];
        snprintf(p, sizeof p, "%s/%s.gguf", tmpdir, synths[k].label);
        if (synth_write(&synths[k], st.m, p, &e)) {
            printf("FAIL mix-%s-write: %s\n", synths[k].label, lb_err_str(&e, s, sizeof s));
            failed++;
            continue;
        }
        mcase c = { 0 };
        c.big = 1;
        if (mcase_open(&c, synths[k].label, p, NULL)) continue;
        all_mixes(&c, 0);
        if (k < 2) option_variants(&c);
        mcase_close(&c);
        remove(p);
    }
    mcase_close(&st);
    printf("INFO mix-vs-llama: llama_model_quantize took %.1f s in total\n", t_llama);
    llama_backend_free();
    return failed ? 1 : 0;
}
