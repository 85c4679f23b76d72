/* lowbit-verify: manifests, checks against them and against sha256sum lists, signatures
 * (docs/lowbit-verify.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb_derived.h"
#include "lb_dtype.h"
#include "lb_json.h"
#include "lb_manifest.h"
#include "lb_quant.h"
#include "lb_scan.h"
#include "lb_stats.h"
#include "lb_tool.h"

typedef struct options {
    const char *out, *dir, *sums, *key, *pubkey, *sig, *imatrix;
    int json, quiet, force, no_rederive, threads, deep;
} options;

static void on_opt(int idx, const char *arg, void *ctx);

/* one table per subcommand; the indexes below are shared by on_opt */
enum { O_OUT, O_DIR, O_SUMS, O_KEY, O_PUBKEY, O_SIG, O_JSON, O_QUIET, O_FORCE };
#define OPT(i, l, s, a, h) [i] = { l, s, a, h }

static const lb_opt manifest_opts[] = {
    { "output", 'o', "MANIFEST", "write the manifest here (default: stdout)" },
    { "force", 'f', NULL, "overwrite MANIFEST" },
    { NULL, 0, NULL, NULL }
};
static const lb_opt check_opts[] = {
    { "dir", 'd', "DIR", "resolve the listed paths against DIR (default: the current folder)" },
    { "sha256", 0, "SUMS", "check a sha256sum list instead of a manifest" },
    { "pubkey", 0, "PUB.pem", "first verify the manifest's Ed25519 signature with this public key" },
    { "sig", 0, "FILE", "the signature file (default: MANIFEST.sig)" },
    { "json", 0, NULL, "print one JSON document on stdout" },
    { "quiet", 'q', NULL, "print only failures" },
    { NULL, 0, NULL, NULL }
};
static const lb_opt sign_opts[] = {
    { "key", 'k', "KEY.pem", "Ed25519 private key (PEM)" },
    { "sig", 0, "FILE", "write the signature here (default: MANIFEST.sig)" },
    { "force", 'f', NULL, "overwrite the signature file" },
    { NULL, 0, NULL, NULL }
};
static const lb_opt derived_opts[] = {
    { "imatrix", 0, "FILE", "the importance matrix the recipe names (to re-derive its bytes)" },
    { "no-rederive", 0, NULL, "check error bands only, even when the file carries a recipe" },
    { "threads", 't', "N", "threads for re-quantizing (default: all cores)" },
    { "json", 0, NULL, "print one JSON document on stdout" },
    { "quiet", 'q', NULL, "print only failures" },
    { NULL, 0, NULL, NULL }
};
static const lb_opt scan_opts[] = {
    { "deep", 0, NULL, "also decode every float and quantized tensor: NaN/Inf, all-zero, constant, |x| > 1e4" },
    { "json", 0, NULL, "print one JSON document on stdout" },
    { "quiet", 'q', NULL, "print only findings of warning or worse, and verdicts other than clean" },
    { NULL, 0, NULL, NULL }
};
static const lb_opt no_opts[] = { { NULL, 0, NULL, NULL } };

static const lb_tool t_manifest = { "lowbit-verify", "manifest [-o MANIFEST] PATH...",
    "List every file (size, sha256), every tensor (dtype, shape, byte range, sha256) and a\n"
    "container-independent model digest, in one read pass per file.", manifest_opts };
static const lb_tool t_check = { "lowbit-verify", "check [--dir DIR] [--pubkey PUB.pem] MANIFEST | check --sha256 SUMS",
    "Check files against a manifest (naming the tensors that differ) or a sha256sum list.", check_opts };
static const lb_tool t_sign = { "lowbit-verify", "sign --key KEY.pem [--sig FILE] MANIFEST",
    "Write an Ed25519 detached signature of MANIFEST.", sign_opts };
static const lb_tool t_derived = { "lowbit-verify", "derived [--imatrix FILE] [--json] SOURCE QUANTIZED",
    "Check that QUANTIZED (a GGUF) was made from SOURCE: every tensor's error within what its\n"
    "type produces on that tensor, no tensor missing, added or reshaped; with lowbit's provenance\n"
    "keys, the recipe is re-run and every byte compared.", derived_opts };
static const lb_tool t_scan = { "lowbit-verify", "scan [--deep] [--json] [-q] PATH...",
    "Scan files (folders are walked) for everything wrong with them, each finding with an ID,\n"
    "a severity (info, warning, error, unscannable, suspicious, malicious), the item and the byte offset:\n"
    "git-LFS pointers and HTML pages saved as weights, truncation, sharded sets with a shard or\n"
    "tensor missing, overlapping or unaligned offsets, duplicate names, shape/size mismatches,\n"
    "GGUF metadata that contradicts the tensors, pickle globals that can run code, pickles hidden\n"
    "in pickles (hex, base64, compressed, in archives), unsafe zip member names; with --deep,\n"
    "NaN/Inf, all-zero, constant and absurd values. Formats are detected by content. Nothing\n"
    "is ever executed. Output: 'path: SEVERITY ID: message (item, offset N)' per finding, then\n"
    "'path: VERDICT (format, N findings)'. Exit 1 if any finding is a warning or worse.", scan_opts };
static const lb_tool t_top = { "lowbit-verify", "COMMAND [options] ...",
    "Commands:\n  manifest   list files, tensors and sha256s (lowbit-verify manifest --help)\n"
    "  check      check files against a manifest or a sha256sum list\n"
    "  sign       sign a manifest with an Ed25519 key\n"
    "  derived    check that a quantized GGUF was made from a source model\n"
    "  scan       find truncation, corruption, inconsistencies and pickle code in files\n\n"
    "See docs/lowbit-verify.md.", no_opts };

static const lb_opt *cur_opts;

static void on_opt(int idx, const char *arg, void *ctx)
{
    options *o = ctx;
    const char *l = cur_opts[idx].lng;
    if (!strcmp(l, "output")) o->out = arg;
    else if (!strcmp(l, "dir")) o->dir = arg;
    else if (!strcmp(l, "sha256")) o->sums = arg;
    else if (!strcmp(l, "key")) o->key = arg;
    else if (!strcmp(l, "pubkey")) o->pubkey = arg;
    else if (!strcmp(l, "sig")) o->sig = arg;
    else if (!strcmp(l, "json")) o->json = 1;
    else if (!strcmp(l, "quiet")) o->quiet = 1;
    else if (!strcmp(l, "force")) o->force = 1;
    else if (!strcmp(l, "imatrix")) o->imatrix = arg;
    else if (!strcmp(l, "no-rederive")) o->no_rederive = 1;
    else if (!strcmp(l, "threads")) {
        o->threads = atoi(arg);
        if (o->threads < 1 || o->threads > 1024) lb_usage_fail("-t needs a thread count from 1 to 1024");
    }
    else if (!strcmp(l, "deep")) o->deep = 1;
}

static int parse(int argc, char **argv, const lb_tool *t, options *o)
{
    cur_opts = t->opts;
    return lb_parse_opts(argc, argv, t, on_opt, o);
}

/* ---- manifest ---- */

static void progress_cb(uint64_t done, void *ctx)
{
    lb_progress *p = ctx;
    lb_progress_add(p, done - p->done, NULL);
}

static int cmd_manifest(int argc, char **argv)
{
    options o = { 0 };
    int first = parse(argc, argv, &t_manifest, &o);
    if (first >= argc) lb_usage_fail("no PATH given");
    for (int i = first; i < argc; i++) {          /* "dir/" and "dir" are the same folder */
        size_t n = strlen(argv[i]);
        while (n > 1 && argv[i][n - 1] == '/') argv[i][--n] = 0;
    }
    lb_progress p;
    lb_progress_init(&p, "hashing", 0);
    lb_err err;
    lb_err_clear(&err);
    cJSON *doc = lb_manifest_build(argv + first, argc - first, progress_cb, &p, &err);
    lb_progress_end(&p);
    if (!doc) return lb_report(NULL, &err);
    char *s = lb_json_print(doc);
    cJSON_Delete(doc);
    if (!s) { lb_say(NULL, "out of memory"); return LB_EIO; }
    int rc;
    if (!o.out || !strcmp(o.out, "-")) {
        rc = lb_stdout_write(s);
    } else {
        lb_install_signals();
        if ((rc = lb_out_write_file(o.out, s, strlen(s), o.force ? LB_OUT_FORCE : 0, &err))) lb_report(o.out, &err);
    }
    free(s);
    return rc;
}

/* ---- check ---- */

typedef struct check_ctx { const options *o; int ok, failed; cJSON *list; } check_ctx;

static void on_result(const lb_check_result *r, void *ctx)
{
    check_ctx *c = ctx;
    r->ok ? c->ok++ : c->failed++;
    if (c->list) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", r->path);
        cJSON_AddStringToObject(e, "status", r->ok ? "ok" : "failed");
        if (r->reason) cJSON_AddStringToObject(e, "reason", r->reason);
        if (r->tensors) {
            cJSON *t = cJSON_AddArrayToObject(e, "tensors");
            for (size_t i = 0; r->tensors[i]; i++) cJSON_AddItemToArray(t, cJSON_CreateString(r->tensors[i]));
        }
        cJSON_AddItemToArray(c->list, e);
        return;
    }
    if (r->ok) {
        if (!c->o->quiet) printf("%s: OK\n", r->path);
        return;
    }
    printf("%s: FAILED (%s", r->path, r->reason);
    if (r->tensors && r->tensors[0]) {
        printf(":");
        for (size_t i = 0; r->tensors[i]; i++) {
            if (i == 20) { printf(" and more"); break; }
            printf(" '%s'", r->tensors[i]);
        }
    }
    printf(")\n");
}

static int cmd_check(int argc, char **argv)
{
    options o = { 0 };
    int first = parse(argc, argv, &t_check, &o);
    const char *target = o.sums;
    if (!o.sums) {
        if (first >= argc) lb_usage_fail("no MANIFEST given");
        target = argv[first++];
    }
    if (first < argc) lb_usage_fail("'%s' is extra", argv[first]);
    if (o.sums && o.pubkey) lb_usage_fail("--pubkey goes with a manifest, not --sha256");
    lb_err err;
    lb_err_clear(&err);
    if (o.pubkey) {
        char sig[4096];
        snprintf(sig, sizeof sig, "%s.sig", target);
        int rc = lb_verify_sig(o.pubkey, target, o.sig ? o.sig : sig, &err);
        if (rc) return lb_report(target, &err);
        if (!o.quiet && !o.json) fprintf(stderr, "%s: signature OK\n", target);
    }
    char *text;
    size_t n;
    if (lb_read_small_file(target, LB_MANIFEST_MAX, &text, &n, &err)) return lb_report(target, &err);
    cJSON *doc = o.json ? lb_json_doc("verify") : NULL;
    check_ctx c = { &o, 0, 0, doc ? cJSON_AddArrayToObject(doc, "files") : NULL };
    int rc;
    if (o.sums) {
        rc = lb_sums_check(text, n, o.dir, on_result, &c, &err);
    } else {
        cJSON *m = cJSON_ParseWithLength(text, n);
        if (!m) {
            lb_err_set(&err, LB_EFORMAT, LB_NO_OFFSET, "not JSON (a lowbit manifest is JSON)");
            rc = LB_EFORMAT;
        } else {
            rc = lb_manifest_check(m, o.dir, on_result, &c, &err);
        }
        cJSON_Delete(m);
    }
    free(text);
    if (rc != LB_OK && rc != LB_ECHECK) { cJSON_Delete(doc); return lb_report(target, &err); }
    if (doc) {
        cJSON *s = cJSON_AddObjectToObject(doc, "summary");
        cJSON_AddNumberToObject(s, "ok", c.ok);
        cJSON_AddNumberToObject(s, "failed", c.failed);
        char *js = lb_json_print(doc);
        int w = js ? lb_stdout_write(js) : LB_EIO;
        free(js);
        cJSON_Delete(doc);
        if (w) return w;
    } else {
        if (c.failed) fprintf(stderr, "lowbit-verify: WARNING: %d of %d files FAILED\n", c.failed, c.ok + c.failed);
        if (fflush(stdout)) { lb_say(NULL, "cannot write to standard output"); return LB_EIO; }
    }
    return rc;
}

/* ---- sign ---- */

static int cmd_sign(int argc, char **argv)
{
    options o = { 0 };
    int first = parse(argc, argv, &t_sign, &o);
    if (first >= argc) lb_usage_fail("no MANIFEST given");
    if (first + 1 < argc) lb_usage_fail("'%s' is extra", argv[first + 1]);
    if (!o.key) lb_usage_fail("no key given (--key KEY.pem)");
    const char *target = argv[first];
    char sig[4096];
    snprintf(sig, sizeof sig, "%s.sig", target);
    lb_err err;
    lb_err_clear(&err);
    lb_install_signals();
    if (lb_sign_file(o.key, target, o.sig ? o.sig : sig, o.force, &err)) return lb_report(target, &err);
    return LB_OK;
}

/* ---- derived ---- */

static int cmd_derived(int argc, char **argv)
{
    options o = { 0 };
    int first = parse(argc, argv, &t_derived, &o);
    if (argc - first != 2) lb_usage_fail("need SOURCE and QUANTIZED");
    const char *ps = argv[first], *pq = argv[first + 1];
    lb_err err;
    lb_err_clear(&err);
    lb_derived_opts dopt = { 0 };
    dopt.nthreads = o.threads ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    dopt.no_rederive = o.no_rederive;
    lb_imatrix *im = NULL;
    char im_sha[LB_SHA256_HEX];
    if (o.imatrix) {
        lb_src *s;
        if (lb_imatrix_load(&im, o.imatrix, &err)) return lb_report(o.imatrix, &err);
        if (lb_src_open(&s, o.imatrix, &err) || lb_sha256_src(s, im_sha, &err)) return lb_report(o.imatrix, &err);
        lb_src_close(s);
        dopt.imatrix = im;
        dopt.imatrix_sha256 = im_sha;
    }
    lb_model *src = NULL, *q = NULL;
    if (lb_model_open(&src, ps, &err)) return lb_report(ps, &err);
    if (lb_model_open(&q, pq, &err)) { lb_model_close(src); return lb_report(pq, &err); }
    lb_derived_result *r = NULL;
    int rc = lb_derived_check(src, q, &dopt, &r, &err);
    if (rc) {
        lb_report(pq, &err);
    } else if (o.json) {
        cJSON *doc = lb_json_doc("verify");
        cJSON_AddStringToObject(doc, "source", ps);
        cJSON_AddStringToObject(doc, "quantized", pq);
        cJSON_AddBoolToObject(doc, "rederived", r->rederived);
        cJSON_AddNumberToObject(doc, "source_sha256", r->source_sha_checked);
        if (r->note[0]) cJSON_AddStringToObject(doc, "note", r->note);
        cJSON *ts = cJSON_AddArrayToObject(doc, "tensors");
        for (size_t i = 0; i < r->n; i++) {
            const lb_derived_tensor *d = &r->t[i];
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "name", d->name);
            cJSON_AddStringToObject(t, "status", d->status ? "failed" : "ok");
            if (d->status) cJSON_AddStringToObject(t, "reason", lb_derived_status_name(d->status));
            if (d->q_type >= 0) cJSON_AddStringToObject(t, "dtype", lb_type_get(d->q_type)->name);
            cJSON_AddNumberToObject(t, "rel_rmse", d->rel_rmse);
            cJSON_AddNumberToObject(t, "band", d->band);
            cJSON_AddBoolToObject(t, "rederived", d->rederived);
            if (d->status == LB_DV_BYTES_DIFFER || d->status == LB_DV_KEPT_CHANGED)
                cJSON_AddItemToObject(t, "first_diff", lb_json_u64(d->first_diff));
            cJSON_AddItemToArray(ts, t);
        }
        cJSON *s = cJSON_AddObjectToObject(doc, "summary");
        cJSON_AddNumberToObject(s, "tensors", (double)r->n);
        cJSON_AddNumberToObject(s, "failed", (double)r->n_failed);
        char *js = lb_json_print(doc);
        rc = js ? lb_stdout_write(js) : LB_EIO;
        free(js);
        cJSON_Delete(doc);
    } else {
        for (size_t i = 0; i < r->n; i++) {
            const lb_derived_tensor *d = &r->t[i];
            const char *ty = d->q_type >= 0 ? lb_type_get(d->q_type)->name : "-";
            if (!d->status) {
                if (o.quiet) continue;
                if (d->rederived) printf("%s: OK (%s, bytes identical to a re-run of the recipe)\n", d->name, ty);
                else if (d->band == 0) printf("%s: OK (%s, kept as in the source)\n", d->name, ty);
                else printf("%s: OK (%s, relative rmse %.5f within %.5f)\n", d->name, ty, d->rel_rmse, d->band);
            } else if (d->status == LB_DV_BYTES_DIFFER || d->status == LB_DV_KEPT_CHANGED) {
                printf("%s: FAILED (%s: %s, first at byte %llu of the tensor; relative rmse %.5f)\n", d->name, ty,
                       lb_derived_status_name(d->status), (unsigned long long)d->first_diff, d->rel_rmse);
            } else if (d->status == LB_DV_OUTSIDE_BAND) {
                printf("%s: FAILED (%s: relative rmse %.5f, the type gives at most %.5f here)\n", d->name, ty, d->rel_rmse, d->band);
            } else {
                printf("%s: FAILED (%s)\n", d->name, lb_derived_status_name(d->status));
            }
        }
        if (r->source_sha_checked < 0)
            printf("source: FAILED (its sha256 is not the one recorded in the quantized file)\n");
        if (r->note[0]) fprintf(stderr, "lowbit-verify: '%s': note: %s\n", pq, r->note);
        fprintf(stderr, "lowbit-verify: %zu of %zu tensors %s%s\n", r->n - r->n_failed, r->n,
                r->rederived ? "re-derived byte for byte" : "within their type's error band",
                r->n_failed ? "; FAILED" : "");
        if (fflush(stdout)) { lb_say(NULL, "cannot write to standard output"); rc = LB_EIO; }
    }
    if (!rc && r && (r->n_failed || r->source_sha_checked < 0)) rc = LB_ECHECK;
    lb_derived_free(r);
    lb_imatrix_free(im);
    lb_model_close(src);
    lb_model_close(q);
    return rc;
}

/* ---- scan ---- */

typedef struct scan_ctx {
    const options *o;
    cJSON *list;
    int worst;                 /* highest severity over all files, -1 none */
    int files, io_errors;
    int verdicts[LB_SEV_COUNT + 1];
} scan_ctx;

static void upper(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) dst[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    dst[i] = 0;
}

static cJSON *finding_json(const lb_finding *f)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", f->id);
    cJSON_AddStringToObject(e, "severity", lb_sev_name(f->sev));
    cJSON_AddStringToObject(e, "message", f->msg);
    cJSON_AddStringToObject(e, "item", f->item);
    if (f->offset == LB_NO_OFFSET) cJSON_AddNullToObject(e, "offset");
    else cJSON_AddItemToObject(e, "offset", lb_json_u64(f->offset));
    return e;
}

static void print_finding(const char *path, const lb_finding *f)
{
    char sev[16];
    upper(sev, sizeof sev, lb_sev_name(f->sev));
    printf("%s: %s %s: %s", path, sev, f->id, f->msg);
    int item = f->item[0] != 0, off = f->offset != LB_NO_OFFSET;
    if (item || off) {
        printf(" (%s%s", f->item, item && off ? ", " : "");
        if (off) printf("offset %llu", (unsigned long long)f->offset);
        printf(")");
    }
    printf("\n");
}

static void on_scanned(const char *path, const lb_scan_file *r, const lb_err *ioerr, void *ctx)
{
    scan_ctx *c = ctx;
    if (!r) {
        c->io_errors++;
        lb_report(path, ioerr);
        return;
    }
    c->files++;
    if (r->worst > c->worst) c->worst = r->worst;
    const char *verdict = lb_scan_verdict(r);
    c->verdicts[r->worst >= LB_SEV_WARNING ? r->worst : LB_SEV_COUNT]++;
    if (c->list) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", path);
        cJSON_AddStringToObject(e, "format", r->format);
        cJSON_AddStringToObject(e, "verdict", verdict);
        cJSON *fs = cJSON_AddArrayToObject(e, "findings");
        for (size_t i = 0; i < r->n; i++) cJSON_AddItemToArray(fs, finding_json(&r->f[i]));
        if (r->dropped) cJSON_AddNumberToObject(e, "findings_not_listed", (double)r->dropped);
        cJSON_AddItemToArray(c->list, e);
        return;
    }
    for (size_t i = 0; i < r->n; i++)
        if (!c->o->quiet || r->f[i].sev >= LB_SEV_WARNING) print_finding(path, &r->f[i]);
    if (r->dropped) printf("%s: ... and %zu more findings (not listed)\n", path, r->dropped);
    if (c->o->quiet && r->worst < LB_SEV_WARNING) return;
    char v[16];
    upper(v, sizeof v, verdict);
    size_t total = r->n + r->dropped;
    printf("%s: %s (%s, %zu finding%s)\n", path, v, r->format, total, total == 1 ? "" : "s");
}

/* Block types for --deep: the quantize/ kernels decode them. */
static int dequant_block(int type, const void *src, float *dst, uint64_t n)
{
    lb_err e;
    return lb_dequantize_any(type, src, dst, (int64_t)n, &e) ? -1 : 0;
}

static int cmd_scan(int argc, char **argv)
{
    options o = { 0 };
    int first = parse(argc, argv, &t_scan, &o);
    if (first >= argc) lb_usage_fail("no PATH given");
    lb_scan_opts so = { .deep = o.deep };
    lb_stats_block_dequant = dequant_block;
    cJSON *doc = o.json ? lb_json_doc("verify") : NULL;
    scan_ctx c = { &o, doc ? cJSON_AddArrayToObject(doc, "scan") : NULL, -1, 0, 0, { 0 } };
    lb_scan_paths(argv + first, argc - first, &so, on_scanned, &c);
    if (doc) {
        cJSON *s = cJSON_AddObjectToObject(doc, "summary");
        cJSON_AddNumberToObject(s, "files", c.files);
        cJSON_AddNumberToObject(s, "clean", c.verdicts[LB_SEV_COUNT]);
        for (int i = LB_SEV_WARNING; i < LB_SEV_COUNT; i++) cJSON_AddNumberToObject(s, lb_sev_name(i), c.verdicts[i]);
        char *js = lb_json_print(doc);
        int w = js ? lb_stdout_write(js) : LB_EIO;
        free(js);
        cJSON_Delete(doc);
        if (w) return w;
    } else if (fflush(stdout)) {
        lb_say(NULL, "cannot write to standard output");
        return LB_EIO;
    }
    if (c.io_errors) return LB_EIO;
    return c.worst >= LB_SEV_WARNING ? LB_ECHECK : LB_OK;
}

int main(int argc, char **argv)
{
    lb_tool_self = &t_top;
    if (argc < 2) lb_usage_fail("no COMMAND given (manifest, check, sign, scan, derived)");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "manifest")) return cmd_manifest(argc - 1, argv + 1);
    if (!strcmp(cmd, "check")) return cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "sign")) return cmd_sign(argc - 1, argv + 1);
    if (!strcmp(cmd, "derived")) return cmd_derived(argc - 1, argv + 1);
    if (!strcmp(cmd, "scan")) return cmd_scan(argc - 1, argv + 1);
    if (cmd[0] == '-') { parse(argc, argv, &t_top, &(options){ 0 }); lb_usage_fail("no COMMAND given"); }
    lb_usage_fail("unknown command '%s' (manifest, check, sign, scan, derived)", cmd);
}
