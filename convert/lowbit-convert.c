/* lowbit-convert: convert a model to GGUF that llama.cpp runs, or between containers
 * (docs/lowbit-convert.md).
 *
 * Architecture-aware mode (the default when SRC is an HF folder with config.json or a
 * llama2.c checkpoint): llama.cpp's tensor names, transforms, hyperparameters and
 * tokenizer (convert/hf2gguf.c).
 * Names-kept mode (--keep-names, and the default for every other SRC): every tensor keeps
 * its name, dtype, shape and bytes; only the container changes. Both read one bounded
 * chunk at a time and stream the output, so `-o -` works on a pipe. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lb_dtype.h"
#include "lb_hf2gguf.h"
#include "lb_mix.h"
#include "lb_qrun.h"
#include "lb_json.h"
#include "lb_model.h"
#include "lb_tool.h"
#include "lb_writer.h"

static const lb_opt opts[] = {
    { "output", 'o', "OUT", "output file (.gguf or .safetensors), or - for stdout" },
    { "format", 0, "FMT", "output format: gguf or safetensors (default: from OUT's name)" },
    { "force", 'f', NULL, "overwrite OUT if it exists" },
    { "skip-unsupported", 0, NULL, "leave out tensors the output format cannot hold (else exit 4)" },
    { "keep-names", 0, NULL, "keep tensor names, dtypes and bytes as they are (container conversion)" },
    { "quiet", 'q', NULL, "no notes on stderr" },
    { "outtype", 0, "TYPE", "f32, f16, bf16, or a lowbit-quantize TYPE such as Q8_0, Q4_K_M (default: as in SRC)" },
    { "vocab-only", 0, NULL, "hyperparameters and tokenizer only, no tensors" },
    { "no-vocab", 0, NULL, "no tokenizer metadata" },
    { "tokenizer", 0, "FILE", "tokenizer file (a .gguf: take its tokenizer.* metadata)" },
    { "pre", 0, "NAME", "set tokenizer.ggml.pre (the pre-tokenizer llama.cpp uses)" },
    { "report", 0, "FILE", "with a quantized --outtype: write the per-tensor error report as JSON" },
    { "json", 0, NULL, "with a quantized --outtype: print the report as JSON on stdout (not with -o -)" },
    { "verbose", 'v', NULL, "with a quantized --outtype: the per-tensor table on stderr even when it is not a terminal" },
    { NULL, 0, NULL, NULL }
};
static const lb_tool tool = {
    "lowbit-convert", "[--outtype TYPE] [--vocab-only | --no-vocab] [--tokenizer FILE] [--pre NAME]\n"
    "                      [--keep-names] [--format FMT] [-f] [--skip-unsupported] [-q] SRC -o OUT",
    "Convert SRC to a GGUF that llama.cpp runs (an HF folder with config.json: Llama, Mistral,\n"
    "Qwen2, GPT-2; a llama2.c checkpoint with --tokenizer), or any model file or folder to GGUF\n"
    "or safetensors keeping tensor names.", opts
};

typedef struct {
    const char *out, *format, *tokenizer, *pre, *report, *outtype_name;
    int json, verbose;
    int force, skip, quiet, keep, vocab_only, no_vocab, outtype, arch_opt, mix_ftype;
} options;

/* f32, f16, bf16: every matrix in that type. Anything else lowbit-quantize takes (Q8_0,
 * Q4_K_M, ...) is a llama.cpp mix: the conversion plans F32 and quantizes each matrix as
 * lowbit-quantize would on that F32 file, in the same pass. */
static void parse_outtype(const char *name, options *o)
{
    o->outtype_name = name;
    const lb_type_traits *t = lb_type_by_name(name);
    if (t && (t->id == LB_F32 || t->id == LB_F16 || t->id == LB_BF16)) {
        o->outtype = t->id;
        o->mix_ftype = 0;
        return;
    }
    const lb_mix_name *mix = lb_mix_find(name);
    if (mix && !mix->copy && mix->ftype > 0) {
        o->outtype = LB_F32;
        o->mix_ftype = mix->ftype;
        return;
    }
    char names[2048];
    lb_usage_fail("--outtype '%s' is not known (f32, f16, bf16, or a lowbit-quantize TYPE: %s)", name,
                  lb_mix_valid_names(names, sizeof names));
}

static void on_opt(int idx, const char *arg, void *ctx)
{
    options *o = ctx;
    switch (idx) {
    case 0: o->out = arg; break;
    case 1: o->format = arg; break;
    case 2: o->force = 1; break;
    case 3: o->skip = 1; break;
    case 4: o->keep = 1; break;
    case 5: o->quiet = 1; break;
    case 6: parse_outtype(arg, o); o->arch_opt = 1; break;
    case 7: o->vocab_only = 1; o->arch_opt = 1; break;
    case 8: o->no_vocab = 1; o->arch_opt = 1; break;
    case 9: o->tokenizer = arg; o->arch_opt = 1; break;
    case 10: o->pre = arg; o->arch_opt = 1; break;
    case 11: o->report = arg; o->arch_opt = 1; break;
    case 12: o->json = 1; o->arch_opt = 1; break;
    case 13: o->verbose = 1; break;
    }
}

static const char *format_from_name(const char *path)
{
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".gguf") == 0) return "gguf";
    if (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0) return "safetensors";
    return NULL;
}

#define CHUNK (8u << 20)

/* Stream every selected tensor's bytes into the writer. */
static int copy_tensors(lb_model *m, const size_t *sel, size_t n, lb_writer *w, int *out_side,
                        lb_err *err)
{
    uint8_t *buf = malloc(CHUNK);
    if (!buf) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += m->tensors[sel[i]].nbytes;
    lb_progress p;
    lb_progress_init(&p, "converting", total);
    int rc = LB_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const lb_tensor *t = &m->tensors[sel[i]];
        for (uint64_t off = 0; off < t->nbytes && !rc; off += CHUNK) {
            size_t k = t->nbytes - off < CHUNK ? (size_t)(t->nbytes - off) : CHUNK;
            rc = lb_tensor_read(m, t, off, buf, k, err);
            if (!rc && (rc = lb_writer_data(w, buf, k, err))) *out_side = 1;
            lb_progress_add(&p, k, t->name);
        }
        lb_src_done(m->files[t->file].src, t->offset, t->nbytes);
    }
    lb_progress_end(&p);
    free(buf);
    return rc;
}

/* ---- architecture-aware mode ---- */

static void on_progress(void *ctx, uint64_t done, uint64_t total, const char *tensor)
{
    lb_progress *p = ctx;
    (void)total;
    lb_progress_add(p, done - p->done, tensor);
}

static int arch_main(const options *o, const char *src)
{
    lb_progress p;
    lb_conv_opts co = { .outtype = o->outtype, .vocab_only = o->vocab_only, .no_vocab = o->no_vocab,
                        .tokenizer = o->tokenizer, .pre = o->pre, .progress = on_progress, .progress_ctx = &p,
                        .mix_ftype = o->mix_ftype, .nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN) };
    lb_err err;
    lb_err_clear(&err);
    lb_conv *c = NULL;
    if (lb_conv_open(&c, src, &co, &err)) return lb_report(src, &err);
    lb_out *out = NULL;
    if (lb_out_open(&out, o->out, o->force ? LB_OUT_FORCE : 0, &err)) {
        lb_conv_free(c);
        return lb_report(o->out, &err);
    }
    lb_progress_init(&p, "converting", c->total_bytes);
    int out_side = 1;
    int rc = lb_conv_write(c, out, &out_side, &err);
    lb_progress_end(&p);
    if (!rc) {
        out_side = 1;
        rc = lb_out_commit(out, &err);
        out = NULL;
    }
    if (rc) {
        lb_report(out_side ? o->out : src, &err);
        lb_out_abort(out);
    } else {
        if (c->report && !o->quiet && (o->verbose || isatty(2))) {
            char *tbl = lb_qreport_table(c->report, c->n_t);
            if (tbl) fputs(tbl, stderr);
            free(tbl);
        }
        if (c->report && (o->report || o->json)) {
            cJSON *doc = lb_qreport_json(c->report, c->n_t, "convert", src, o->out, o->outtype_name, o->mix_ftype);
            char *s = lb_json_print(doc);
            cJSON_Delete(doc);
            if (!s) rc = LB_EIO;
            if (!rc && o->report && (rc = lb_out_write_file(o->report, s, strlen(s), LB_OUT_FORCE, &err)))
                lb_report(o->report, &err);
            if (!rc && o->json) rc = lb_stdout_write(s);
            free(s);
        }
        if (!o->quiet && strcmp(o->out, "-") != 0)
            lb_say(o->out, "%s (%s), %zu tensors, %.1f MB", c->arch->gguf_arch, c->arch->hf_arch, c->n_t,
                   (double)c->total_bytes / 1e6);
    }
    lb_conv_free(c);
    return rc;
}

int main(int argc, char **argv)
{
    options o = { .outtype = -1 };
    int first = lb_parse_opts(argc, argv, &tool, on_opt, &o);
    if (first >= argc) lb_usage_fail("no SRC given");
    if (first + 1 < argc) lb_usage_fail("one SRC at a time ('%s' is extra)", argv[first + 1]);
    if (!o.out) lb_usage_fail("no output given (-o OUT)");
    const char *src = argv[first];
    if (o.vocab_only && o.no_vocab) lb_usage_fail("--vocab-only and --no-vocab exclude each other");
    if (o.keep && o.arch_opt)
        lb_usage_fail("--keep-names cannot be combined with --outtype, --vocab-only, --no-vocab, --tokenizer or --pre");
    if ((o.report || o.json) && o.mix_ftype <= 0)
        lb_usage_fail("--report and --json go with a quantized --outtype (Q8_0, Q4_K_M, ...)");
    if (o.json && o.out && !strcmp(o.out, "-")) lb_usage_fail("--json prints to stdout, which -o - already uses");
    struct stat st;
    /* HF folders with config.json; the architecture-aware options ask for it on any folder */
    if (!o.keep && (lb_conv_detect(src) || (o.arch_opt && stat(src, &st) == 0 && S_ISDIR(st.st_mode)))) {
        const char *named = o.format ? o.format : format_from_name(o.out);
        if (named && strcmp(named, "gguf") != 0)
            lb_usage_fail("an architecture-aware conversion writes GGUF (use --keep-names for other formats)");
        if (strcmp(o.out, "-") != 0 && lb_same_file(src, o.out)) lb_usage_fail("OUT is the same file as SRC");
        lb_install_signals();
        return arch_main(&o, src);
    }
    if (o.arch_opt)
        lb_usage_fail("--outtype, --vocab-only, --no-vocab, --tokenizer and --pre need an HF model folder as SRC");
    const char *fmt = o.format ? o.format : format_from_name(o.out);
    if (!fmt) lb_usage_fail("cannot tell the output format from '%s': use --format gguf|safetensors", o.out);
    const lb_writer_ops *ops = lb_writer_find(fmt);
    if (!ops) lb_usage_fail("unknown output format '%s' (gguf, safetensors)", fmt);
    if (strcmp(o.out, "-") != 0 && lb_same_file(src, o.out)) lb_usage_fail("OUT is the same file as SRC");
    lb_install_signals();

    lb_err err;
    lb_err_clear(&err);
    lb_model *m = NULL;
    if (lb_model_open(&m, src, &err)) return lb_report(src, &err);

    /* choose tensors and metadata the target can hold */
    size_t *sel = malloc((m->n_tensors + 1) * sizeof *sel);
    lb_wtensor *wt = malloc((m->n_tensors + 1) * sizeof *wt);
    lb_kv *kv = malloc((m->n_kv + 1) * sizeof *kv);
    if (!sel || !wt || !kv) { lb_say(src, "out of memory"); return LB_EIO; }
    size_t n = 0, n_kv = 0, skipped = 0, dropped = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lb_tensor *t = &m->tensors[i];
        lb_wtensor w = { t->name, t->type, t->ndim, { 0 } };
        memcpy(w.shape, t->shape, sizeof w.shape);
        if (ops->can_store(&w, &err)) {
            if (!o.skip) {
                char buf[800];
                lb_say(src, "%s (use --skip-unsupported to leave it out)", lb_err_str(&err, buf, sizeof buf));
                free(sel);
                free(wt);
                free(kv);
                lb_model_close(m);
                return LB_EFORMAT;
            }
            if (!o.quiet) lb_say(src, "skipping tensor '%s': %s", t->name, err.msg);
            skipped++;
            continue;
        }
        sel[n] = i;
        wt[n++] = w;
    }
    for (size_t i = 0; i < m->n_kv; i++) {
        if (strcmp(fmt, "safetensors") == 0 && m->kv[i].val.type != LB_V_STR) { dropped++; continue; }
        kv[n_kv++] = m->kv[i];
    }
    if (dropped && !o.quiet)
        lb_say(src, "note: %zu metadata keys that are not strings were left out (safetensors metadata holds strings only)", dropped);

    lb_out *out = NULL;
    lb_writer *w = NULL;
    int rc = lb_out_open(&out, o.out, o.force ? LB_OUT_FORCE : 0, &err);
    if (rc) {
        free(sel);
        free(wt);
        free(kv);
        lb_model_close(m);
        return lb_report(o.out, &err);
    }
    int out_side = 1;
    rc = lb_writer_begin(&w, ops, out, kv, n_kv, wt, n, &err);
    if (!rc) {
        out_side = 0;
        rc = copy_tensors(m, sel, n, w, &out_side, &err);
    }
    if (!rc) {
        out_side = 1;
        rc = lb_writer_end(w, &err);
        w = NULL;
    }
    if (!rc) {
        rc = lb_out_commit(out, &err);
        out = NULL;
    }
    if (rc) {
        lb_report(out_side ? o.out : src, &err);
        lb_writer_abort(w);
        lb_out_abort(out);
    } else if (!o.quiet && skipped) {
        lb_say(src, "note: %zu tensors left out", skipped);
    }
    free(sel);
    free(wt);
    free(kv);
    lb_model_close(m);
    return rc;
}
