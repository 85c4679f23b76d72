/* lowbit-quantize: quantize a model to a GGUF mix, and report what it cost
 * (docs/lowbit-quantize.md). Same argument order and TYPE names as llama-quantize. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lb_dtype.h"
#include "lb_hash.h"
#include "lb_imatrix.h"
#include "lb_json.h"
#include "lb_mix.h"
#include "lb_model.h"
#include "lb_plan.h"
#include "lb_qrun.h"
#include "lb_quant.h"
#include "lb_tool.h"

enum { O_FORCE, O_PURE, O_IMATRIX, O_INCLUDE, O_EXCLUDE, O_TTYPE, O_OUTTYPE, O_EMBTYPE, O_LEAVE,
       O_REQUANT, O_NONFINITE, O_THREADS, O_REPORT, O_JSON, O_VERBOSE, O_QUIET, O_TBPW, O_TSIZE,
       O_DRY };
static const lb_opt opts[] = {
    [O_FORCE] = { "force", 'f', NULL, "overwrite OUTPUT if it exists" },
    [O_PURE] = { "pure", 0, NULL, "every quantizable tensor in TYPE, no per-tensor exceptions" },
    [O_IMATRIX] = { "imatrix", 0, "FILE", "importance matrix (llama-imatrix's GGUF or legacy .dat)" },
    [O_INCLUDE] = { "include-weights", 0, "NAME", "use imatrix entries only for tensors whose name contains NAME (repeatable)" },
    [O_EXCLUDE] = { "exclude-weights", 0, "NAME", "do not use imatrix entries for tensors whose name contains NAME (repeatable)" },
    [O_TTYPE] = { "tensor-type", 0, "REGEX=TYPE", "type for tensors matching REGEX (repeatable, first match wins)" },
    [O_OUTTYPE] = { "output-tensor-type", 0, "TYPE", "type of output.weight" },
    [O_EMBTYPE] = { "token-embedding-type", 0, "TYPE", "type of token_embd.weight" },
    [O_LEAVE] = { "leave-output-tensor", 0, NULL, "keep output.weight as it is" },
    [O_REQUANT] = { "allow-requantize", 0, NULL, "allow quantizing tensors that are already quantized" },
    [O_NONFINITE] = { "allow-nonfinite", 0, NULL, "quantize tensors holding NaN or Inf instead of stopping" },
    [O_THREADS] = { "threads", 't', "N", "threads (default: all cores); the output does not depend on N" },
    [O_REPORT] = { "report", 0, "FILE", "write the per-tensor error report as JSON" },
    [O_JSON] = { "json", 0, NULL, "print the report as JSON on stdout (not with OUTPUT -)" },
    [O_VERBOSE] = { "verbose", 'v', NULL, "print the per-tensor table on stderr even when it is not a terminal" },
    [O_QUIET] = { "quiet", 'q', NULL, "no table, no progress" },
    [O_TBPW] = { "target-bpw", 0, "B", "choose types per tensor to fit B bits per weight at the least error" },
    [O_TSIZE] = { "target-size", 0, "SIZE", "the same for a file size (K, M, G = 2^10, 2^20, 2^30 bytes)" },
    [O_DRY] = { "dry-run", 0, NULL, "print the plan (types, sizes, predicted error) and write nothing" },
    { NULL, 0, NULL, NULL }
};
static const lb_tool tool = {
    "lowbit-quantize", "[options] INPUT OUTPUT TYPE",
    "Quantize INPUT (GGUF, safetensors, HF folder, ...) to a GGUF with llama.cpp's mix TYPE\n"
    "(Q4_K_M, Q8_0, ...; as llama-quantize names them), and report the error of every tensor.\n"
    "OUTPUT may be - for stdout.", opts
};

#define MAX_LIST 64
typedef struct options {
    int force, pure, leave, requant, nonfinite, threads, json, verbose, quiet, dry;
    const char *imatrix, *report, *outtype, *embtype, *tsize;
    double tbpw;
    const char *include[MAX_LIST], *exclude[MAX_LIST], *ttype[MAX_LIST];
    size_t n_include, n_exclude, n_ttype;
} options;

static void add(const char **list, size_t *n, const char *v)
{
    if (*n >= MAX_LIST) lb_usage_fail("at most %d of each repeatable option", MAX_LIST);
    list[(*n)++] = v;
}

static void on_opt(int idx, const char *arg, void *ctx)
{
    options *o = ctx;
    char *end;
    switch (idx) {
    case O_FORCE: o->force = 1; break;
    case O_PURE: o->pure = 1; break;
    case O_IMATRIX: o->imatrix = arg; break;
    case O_INCLUDE: add(o->include, &o->n_include, arg); break;
    case O_EXCLUDE: add(o->exclude, &o->n_exclude, arg); break;
    case O_TTYPE: add(o->ttype, &o->n_ttype, arg); break;
    case O_OUTTYPE: o->outtype = arg; break;
    case O_EMBTYPE: o->embtype = arg; break;
    case O_LEAVE: o->leave = 1; break;
    case O_REQUANT: o->requant = 1; break;
    case O_NONFINITE: o->nonfinite = 1; break;
    case O_THREADS:
        o->threads = (int)strtol(arg, &end, 10);
        if (*end || o->threads < 1 || o->threads > 1024) lb_usage_fail("-t needs a thread count from 1 to 1024");
        break;
    case O_REPORT: o->report = arg; break;
    case O_JSON: o->json = 1; break;
    case O_VERBOSE: o->verbose = 1; break;
    case O_QUIET: o->quiet = 1; break;
    case O_TBPW:
        o->tbpw = strtod(arg, &end);
        if (*end || !(o->tbpw > 0 && o->tbpw <= 32)) lb_usage_fail("--target-bpw needs a number of bits per weight (0 < B <= 32)");
        break;
    case O_TSIZE: o->tsize = arg; break;
    case O_DRY: o->dry = 1; break;
    }
}

/* A single ggml type name for --output-tensor-type and friends. */
static int type_arg(const char *s, const char *what)
{
    const lb_type_traits *t = lb_type_by_name(s);
    if (!t || !t->ggml || !lb_qkernel_get(t->id)) lb_usage_fail("%s: '%s' is not a type lowbit can write", what, s);
    return t->id;
}

static uint64_t size_arg(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1ull << 10, end++;
    else if (*end == 'M' || *end == 'm') mul = 1ull << 20, end++;
    else if (*end == 'G' || *end == 'g') mul = 1ull << 30, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || !(v > 0)) lb_usage_fail("--target-size needs a size such as 800M or 1.5G");
    return (uint64_t)(v * (double)mul);
}

/* ---- progress ---- */

typedef struct prog { lb_progress p; const lb_model *m; } prog;

static void on_progress(size_t tensor, uint64_t bytes, void *ctx)
{
    prog *p = ctx;
    char item[96];   /* "tensor i/n name" */
    snprintf(item, sizeof item, "%zu/%zu %s", tensor + 1, p->m->n_tensors, p->m->tensors[tensor].name);
    lb_progress_add(&p->p, bytes, item);
}

/* The recipe, as JSON text: what lowbit-verify derived needs to redo the run. */
static char *recipe_json(const options *o, const char *type, int ftype, const char *imatrix_sha)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", type);
    cJSON_AddNumberToObject(r, "ftype", ftype);
    cJSON_AddBoolToObject(r, "pure", o->pure);
    if (o->outtype) cJSON_AddStringToObject(r, "output_tensor_type", o->outtype);
    if (o->embtype) cJSON_AddStringToObject(r, "token_embedding_type", o->embtype);
    cJSON_AddBoolToObject(r, "leave_output_tensor", o->leave);
    cJSON_AddBoolToObject(r, "allow_requantize", o->requant);
    cJSON *a = cJSON_AddArrayToObject(r, "tensor_type");
    for (size_t i = 0; i < o->n_ttype; i++) cJSON_AddItemToArray(a, cJSON_CreateString(o->ttype[i]));
    if (imatrix_sha) cJSON_AddStringToObject(r, "imatrix_sha256", imatrix_sha);
    a = cJSON_AddArrayToObject(r, "include_weights");
    for (size_t i = 0; i < o->n_include; i++) cJSON_AddItemToArray(a, cJSON_CreateString(o->include[i]));
    a = cJSON_AddArrayToObject(r, "exclude_weights");
    for (size_t i = 0; i < o->n_exclude; i++) cJSON_AddItemToArray(a, cJSON_CreateString(o->exclude[i]));
    char *s = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return s;
}

int main(int argc, char **argv)
{
    options o = { 0 };
    int first = lb_parse_opts(argc, argv, &tool, on_opt, &o);
    if (argc - first != 3) lb_usage_fail("need INPUT OUTPUT TYPE (got %d arguments)", argc - first);
    const char *in = argv[first], *outp = argv[first + 1], *tname = argv[first + 2];
    const lb_mix_name *mix = lb_mix_find(tname);
    int ftype = -1, pure_type = -1;
    if (mix) ftype = mix->ftype;
    else if (o.pure && lb_type_by_name(tname) && lb_qkernel_get(lb_type_by_name(tname)->id)) {
        pure_type = lb_type_by_name(tname)->id;
        for (int f = 0; f < 64 && ftype < 0; f++)
            if (lb_mix_default_type(f) == pure_type) ftype = f;
    }
    if (ftype < 0) {
        char names[2048];
        lb_usage_fail("unknown TYPE '%s'; valid: %s%s", tname, lb_mix_valid_names(names, sizeof names),
                      o.pure ? "" : " (with --pure, also single types such as MXFP4)");
    }
    if (mix && mix->copy) lb_usage_fail("TYPE COPY is not supported (use lowbit-convert --keep-names)");
    if (strcmp(outp, "-") != 0 && (lb_same_file(in, outp) || strcmp(in, outp) == 0)) lb_usage_fail("OUTPUT is the same file as INPUT");
    if (o.json && !strcmp(outp, "-")) lb_usage_fail("--json prints to stdout, which OUTPUT - already uses");
    if (o.n_include && o.n_exclude) lb_usage_fail("--include-weights and --exclude-weights cannot be used together");
    if ((o.tbpw > 0) + (o.tsize != NULL) > 1) lb_usage_fail("give --target-bpw or --target-size, not both");
    if (o.dry && !(o.tbpw > 0 || o.tsize)) lb_usage_fail("--dry-run goes with --target-bpw or --target-size");
    lb_mix_opts mo = lb_mix_opts_default(ftype);
    mo.pure = o.pure;
    mo.leave_output_tensor = o.leave;
    mo.allow_requantize = o.requant;
    mo.output_tensor_type = o.outtype ? type_arg(o.outtype, "--output-tensor-type") : -1;
    mo.token_embedding_type = o.embtype ? type_arg(o.embtype, "--token-embedding-type") : -1;
    lb_err err;
    lb_err_clear(&err);
    for (size_t i = 0; i < o.n_ttype; i++)
        if (lb_mix_override_check(o.ttype[i], &err)) lb_usage_fail("--tensor-type '%s': %s", o.ttype[i], err.msg);
    mo.overrides = o.ttype;
    mo.n_overrides = o.n_ttype;
    int nthreads = o.threads ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1) nthreads = 1;
    lb_install_signals();

    /* every resource up front, freed once at the end, whatever path leads there */
    lb_imatrix *im = NULL;
    lb_model *m = NULL;
    lb_mix_result *plan = NULL;
    lb_out *out = NULL;
    lb_qreport *rep = NULL;
    char *recipe = NULL;
    char im_sha[65] = "";
    int rc = LB_OK;

    /* inputs */
    if (o.imatrix) {
        lb_src *ims = NULL;
        if ((rc = lb_imatrix_load(&im, o.imatrix, &err)) ||
            (rc = lb_imatrix_filter(im, o.include, o.n_include, o.exclude, o.n_exclude, NULL, &err)) ||
            (rc = lb_src_open(&ims, o.imatrix, &err)) || (rc = lb_sha256_src(ims, im_sha, &err))) {
            lb_src_close(ims);
            lb_report(o.imatrix, &err);
            goto done;
        }
        lb_src_close(ims);
        mo.imatrix = im;
        mo.has_imatrix = 1;
    }
    if ((rc = lb_model_open(&m, in, &err))) { lb_report(in, &err); goto done; }
    lb_mix_hparams hp;
    if (lb_mix_hparams_get(m, &hp, &err)) {
        if (strcmp(m->format, "gguf") != 0)   /* one line, with the way out */
            lb_say(in, "%s model without llama.cpp names and metadata: convert it first (lowbit-convert '%s' -o model.gguf),"
                   " or in one pass: lowbit-convert '%s' --outtype %s -o OUTPUT", m->format, in, in, tname);
        else
            lb_report(in, &err);
        rc = LB_EFORMAT;
        goto done;
    }

    /* the plan: every tensor's type, and every refusal, before any output exists */
    if ((rc = lb_mix_plan(&plan, m->tensors, m->n_tensors, &hp, &mo, &err))) {
        lb_report(in, &err);
        if (rc == LB_EUSAGE && plan) rc = (!im && lb_mix_first_imatrix(plan) >= 0) ? LB_EUSAGE : LB_EFORMAT;
        goto done;
    }
    if (o.tbpw > 0 || o.tsize) {
        lb_plan_opts po = { 0 };
        po.target_bytes = o.tsize ? size_arg(o.tsize) : 0;
        po.target_bpw = o.tbpw;
        po.imatrix = im;
        po.nthreads = nthreads;
        po.overrides = o.ttype;
        po.n_overrides = o.n_ttype;
        lb_plan_result *pr = NULL;
        if ((rc = lb_plan_choose(m, plan, &po, &pr, &err))) { lb_report(in, &err); goto done; }
        if (o.dry) {
            char *s = lb_plan_describe(m, pr);
            rc = s ? lb_stdout_write(s) : LB_EIO;
            free(s);
            lb_plan_free(pr);
            goto done;
        }
        lb_plan_free(pr);
    }

    if ((rc = lb_out_open(&out, outp, o.force ? LB_OUT_FORCE : 0, &err))) { lb_report(outp, &err); goto done; }
    rep = calloc(m->n_tensors + 1, sizeof *rep);
    recipe = recipe_json(&o, mix ? mix->name : tname, ftype, im ? im_sha : NULL);
    lb_qrun_opts qo = { 0 };
    qo.ftype = ftype;
    qo.imatrix = im;
    qo.nthreads = nthreads;
    qo.allow_nonfinite = o.nonfinite;
    qo.version = LB_VERSION;
    qo.recipe = recipe;
    qo.imatrix_sha256 = im ? im_sha : NULL;
    qo.source_sha256 = 1;
    prog pg = { .m = m };
    uint64_t total = 0;
    for (size_t i = 0; i < m->n_tensors; i++) total += m->tensors[i].nbytes;
    lb_progress_init(&pg.p, "quantizing", total);
    if (o.quiet) pg.p.on = 0;
    rc = rep ? lb_qrun(m, plan, out, &qo, rep, on_progress, &pg, &err) : lb_err_set(&err, LB_EIO, LB_NO_OFFSET, "out of memory");
    lb_progress_end(&pg.p);
    if (!rc) rc = lb_out_commit(out, &err), out = NULL;
    if (rc) {
        lb_report(err.code == LB_EIO && strstr(err.msg, "write") ? outp : in, &err);
        goto done;
    }
    if (!o.quiet && (o.verbose || isatty(2))) {
        char *tbl = lb_qreport_table(rep, m->n_tensors);
        if (tbl) fputs(tbl, stderr);
        free(tbl);
    }
    if (o.report || o.json) {
        cJSON *doc = lb_qreport_json(rep, m->n_tensors, "quantize", in, outp, mix ? mix->name : tname, ftype);
        char *s = lb_json_print(doc);
        cJSON_Delete(doc);
        if (!s) rc = LB_EIO;
        if (!rc && o.report && (rc = lb_out_write_file(o.report, s, strlen(s), LB_OUT_FORCE, &err)))
            lb_report(o.report, &err);
        if (!rc && o.json) rc = lb_stdout_write(s);
        free(s);
    }
done:
    lb_out_abort(out);
    free(recipe);
    free(rep);
    lb_mix_result_free(plan);
    lb_imatrix_free(im);
    lb_model_close(m);
    return rc;
}
