/* llama_run.c: drive the real llama.cpp for interop tests (tests/interop/quantize.sh).
 *
 *   llama_run gen MODEL N PROMPT         greedy continuation of PROMPT, N tokens, to stdout
 *   llama_run kld REF CTX TEXT CAND...   mean KL divergence of each CAND's next-token
 *                                        distributions from REF's over TEXT, in
 *                                        independent CTX-token windows (BOS first);
 *                                        one line per CAND: "CAND kld K positions N ..."
 *   llama_run quant IN OUT FTYPE [IMATRIX]   llama_model_quantize (imatrix read with
 *                                        lowbit's reader, passed as llama.cpp's C array)
 *   llama_run load MODEL                 load, decode one token, check logits finite
 *   llama_run mkimatrix MODEL OUT.dat    random positive importance weights (legacy .dat)
 * Exit 0 on success, 1 on failure (message on stderr). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "lb_imatrix.h"
#include "lb_le.h"
#include "lb_model.h"
#include "llama.h"

static void quiet_log(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static struct llama_model *load(const char *path)
{
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *m = llama_model_load_from_file(path, mp);
    if (!m) fprintf(stderr, "llama_run: cannot load '%s'\n", path);
    return m;
}

static struct llama_context *context(struct llama_model *m, int n_ctx)
{
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)n_ctx;
    cp.n_ubatch = (uint32_t)n_ctx;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    return llama_init_from_model(m, cp);
}

static int tokenize(const struct llama_vocab *v, const char *text, int add_special, llama_token **out)
{
    int n = -llama_tokenize(v, text, (int32_t)strlen(text), NULL, 0, add_special, 0);
    *out = malloc(sizeof **out * (size_t)(n + 1));
    return llama_tokenize(v, text, (int32_t)strlen(text), *out, n + 1, add_special, 0);
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

static int cmd_gen(const char *path, int n, const char *prompt)
{
    struct llama_model *m = load(path);
    if (!m) return 1;
    struct llama_context *c = context(m, 256);
    const struct llama_vocab *v = llama_model_get_vocab(m);
    llama_token *tok;
    int nt = tokenize(v, prompt, 1, &tok);
    int nv = llama_vocab_n_tokens(v);
    if (llama_decode(c, llama_batch_get_one(tok, nt))) { fprintf(stderr, "llama_run: decode failed\n"); return 1; }
    for (int i = 0; i < n; i++) {
        llama_token t = argmax(llama_get_logits_ith(c, -1), nv);
        char piece[256];
        int k = llama_token_to_piece(v, t, piece, sizeof piece, 0, 0);
        if (k > 0) fwrite(piece, 1, (size_t)k, stdout);
        if (llama_decode(c, llama_batch_get_one(&t, 1))) { fprintf(stderr, "llama_run: decode failed\n"); return 1; }
    }
    printf("\n");
    free(tok);
    llama_free(c);
    llama_model_free(m);
    return 0;
}

/* All logits of every window: windows of ctx tokens, each starting fresh. */
static float *window_logits(const char *path, const char *text, int ctx, int *n_rows, int *n_vocab)
{
    struct llama_model *m = load(path);
    if (!m) return NULL;
    struct llama_context *c = context(m, ctx);
    const struct llama_vocab *v = llama_model_get_vocab(m);
    llama_token *tok;
    int nt = tokenize(v, text, 1, &tok);
    int nv = llama_vocab_n_tokens(v);
    float *all = malloc(sizeof *all * (size_t)nt * (size_t)nv);
    struct llama_batch b = llama_batch_init(ctx, 0, 1);
    int rows = 0;
    for (int w = 0; w + 1 < nt; w += ctx) {
        int n = nt - w < ctx ? nt - w : ctx;
        llama_memory_clear(llama_get_memory(c), 1);
        b.n_tokens = n;
        for (int i = 0; i < n; i++) {
            b.token[i] = tok[w + i];
            b.pos[i] = i;
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = 0;
            b.logits[i] = 1;
        }
        if (llama_decode(c, b)) { fprintf(stderr, "llama_run: decode failed\n"); return NULL; }
        for (int i = 0; i < n; i++) memcpy(all + (size_t)(rows++) * (size_t)nv, llama_get_logits_ith(c, i), sizeof *all * (size_t)nv);
    }
    llama_batch_free(b);
    free(tok);
    llama_free(c);
    llama_model_free(m);
    *n_rows = rows;
    *n_vocab = nv;
    return all;
}

static void log_softmax(const float *x, double *out, int n)
{
    double mx = x[0], s = 0;
    for (int i = 1; i < n; i++) if (x[i] > mx) mx = x[i];
    for (int i = 0; i < n; i++) s += exp((double)x[i] - mx);
    double ls = log(s) + mx;
    for (int i = 0; i < n; i++) out[i] = (double)x[i] - ls;
}

/* KLD of each candidate against one reference (the reference is evaluated once). */
static int cmd_kld(const char *ref, int ctx, const char *textfile, char **cands, int n_cands)
{
    FILE *f = fopen(textfile, "rb");
    if (!f) return 1;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    int ra, va;
    float *a = window_logits(ref, text, ctx, &ra, &va);
    if (!a) return 1;
    double *p = malloc(sizeof *p * (size_t)va), *q = malloc(sizeof *q * (size_t)va);
    for (int c = 0; c < n_cands; c++) {
        int rb, vb;
        float *b = window_logits(cands[c], text, ctx, &rb, &vb);
        if (!b || ra != rb || va != vb) { fprintf(stderr, "llama_run: logits differ in shape\n"); return 1; }
        double sum = 0, maxabs = 0;
        int same_top = 0;
        for (int r = 0; r < ra; r++) {
            const float *x = a + (size_t)r * (size_t)va, *y = b + (size_t)r * (size_t)va;
            log_softmax(x, p, va);
            log_softmax(y, q, va);
            double k = 0;
            for (int i = 0; i < va; i++) k += exp(p[i]) * (p[i] - q[i]);
            sum += k;
            same_top += argmax(x, va) == argmax(y, va);
            for (int i = 0; i < va; i++) if (fabs((double)x[i] - y[i]) > maxabs) maxabs = fabs((double)x[i] - y[i]);
        }
        printf("%s kld %.8f positions %d same_top %.4f max_abs_logit_diff %.6f\n", cands[c], sum / ra, ra,
               (double)same_top / ra, maxabs);
        free(b);
    }
    free(a); free(p); free(q);
    return 0;
}

static int cmd_quant(const char *in, const char *out, int ftype, const char *imatrix)
{
    struct llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = (enum llama_ftype)ftype;
    qp.nthread = 2;
    lb_imatrix *im = NULL;
    struct llama_model_imatrix_data *data = NULL;
    if (imatrix) {
        lb_err e;
        if (lb_imatrix_load(&im, imatrix, &e)) { fprintf(stderr, "llama_run: imatrix: %s\n", e.msg); return 1; }
        data = calloc(im->n + 1, sizeof *data);
        for (size_t i = 0; i < im->n; i++) data[i] = (struct llama_model_imatrix_data){ im->e[i].name, im->e[i].w, (size_t)im->e[i].n };
        qp.imatrix = data;
    }
    uint32_t rc = llama_model_quantize(in, out, &qp);
    free(data);
    lb_imatrix_free(im);
    if (rc) fprintf(stderr, "llama_run: llama_model_quantize failed (%u)\n", rc);
    return rc ? 1 : 0;
}

/* A legacy .dat importance matrix with random positive weights for every matrix of a
 * model (deterministic), so both quantizers can be run with the same one. */
static int cmd_mkimatrix(const char *model, const char *out)
{
    lb_model *m;
    lb_err e;
    if (lb_model_open(&m, model, &e)) return 1;
    FILE *f = fopen(out, "wb");
    if (!f) return 1;
    uint8_t b[4];
    int32_t n = 0;
    for (size_t i = 0; i < m->n_tensors; i++) n += m->tensors[i].ndim == 2;
    lb_st32(b, (uint32_t)n); fwrite(b, 4, 1, f);
    uint64_t x = 12345;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        if (t->ndim != 2) continue;
        lb_st32(b, (uint32_t)strlen(t->name)); fwrite(b, 4, 1, f);
        fwrite(t->name, 1, strlen(t->name), f);
        lb_st32(b, 1); fwrite(b, 4, 1, f);                       /* ncall */
        lb_st32(b, (uint32_t)t->shape[1]); fwrite(b, 4, 1, f);   /* values per row */
        for (uint64_t c = 0; c < t->shape[1]; c++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            lb_stf32(b, (float)exp(2.0 * ((double)(x >> 11) / 9007199254740992.0) - 1.0));
            fwrite(b, 4, 1, f);
        }
    }
    fclose(f);
    lb_model_close(m);
    return 0;
}

static int cmd_load(const char *path)
{
    struct llama_model *m = load(path);
    if (!m) return 1;
    struct llama_context *c = context(m, 64);
    const struct llama_vocab *v = llama_model_get_vocab(m);
    llama_token t = llama_vocab_bos(v);
    if (t < 0) t = 0;
    if (llama_decode(c, llama_batch_get_one(&t, 1))) return 1;
    const float *l = llama_get_logits_ith(c, -1);
    for (int i = 0; i < llama_vocab_n_tokens(v); i++) if (!isfinite(l[i])) return 1;
    llama_free(c);
    llama_model_free(m);
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    llama_log_set(quiet_log, NULL);
    const char *libdir = getenv("LLAMA_LIBDIR");
    if (libdir) ggml_backend_load_all_from_path(libdir);
    else ggml_backend_load_all();
    llama_backend_init();
    int rc = 2;
    if (argc == 5 && !strcmp(argv[1], "gen")) rc = cmd_gen(argv[2], atoi(argv[3]), argv[4]);
    else if (argc >= 6 && !strcmp(argv[1], "kld")) rc = cmd_kld(argv[2], atoi(argv[3]), argv[4], argv + 5, argc - 5);
    else if ((argc == 5 || argc == 6) && !strcmp(argv[1], "quant")) rc = cmd_quant(argv[2], argv[3], atoi(argv[4]), argc == 6 ? argv[5] : NULL);
    else if (argc == 3 && !strcmp(argv[1], "load")) rc = cmd_load(argv[2]);
    else if (argc == 4 && !strcmp(argv[1], "mkimatrix")) rc = cmd_mkimatrix(argv[2], argv[3]);
    else fprintf(stderr, "usage: llama_run gen|kld|quant|load ...\n");
    llama_backend_free();
    return rc;
}
