/* lb_tool.h: the front-end layer shared by the tools' mains (lowbit-<tool>.c).
 *
 * Header-only on purpose: it prints and exits, so it must never be compiled into the
 * libraries. Only a tool's main includes it. Options are declared as data; usage text is
 * generated from the table, man-page style. */
#ifndef LB_TOOL_H
#define LB_TOOL_H

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lb_cpu.h"
#include "lb_error.h"
#include "lb_io.h"

#ifndef LB_VERSION
#define LB_VERSION "0.0.0"
#endif

typedef struct lb_opt {
    const char *lng;      /* long name without dashes */
    int         shrt;     /* short letter, or 0 */
    const char *arg;      /* argument name, NULL for a flag */
    const char *help;
} lb_opt;

typedef struct lb_tool {
    const char   *name;       /* "lowbit-inspect" */
    const char   *synopsis;   /* "[--json] [--stats] PATH..." */
    const char   *about;      /* one line */
    const lb_opt *opts;       /* terminated by an entry with lng == NULL */
} lb_tool;

static const lb_tool *lb_tool_self;

static void lb_usage(FILE *f, int full)
{
    const lb_tool *t = lb_tool_self;
    fprintf(f, "usage: %s %s\n", t->name, t->synopsis);
    if (!full) {
        fprintf(f, "Try '%s --help' for more information.\n", t->name);
        return;
    }
    fprintf(f, "\n%s\n\noptions:\n", t->about);
    for (const lb_opt *o = t->opts; o->lng; o++) {
        char left[64];
        snprintf(left, sizeof left, "%s%c%s--%s%s%s", o->shrt ? "-" : "", o->shrt ? o->shrt : ' ',
                 o->shrt ? ", " : "  ", o->lng, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-28s %s\n", o->shrt ? left : left + 2, o->help);
    }
    fprintf(f, "  %-28s %s\n  %-28s %s\n", "-h, --help", "show this help and exit",
            "    --version", "show the version and exit");
    fprintf(f, "\nexit status: 0 ok, 1 a check failed or findings, 2 usage, 3 i/o error,\n"
               "4 malformed or unsupported input\n");
}

/* Diagnostics: "lowbit-x: 'file': message". file may be NULL. */
static void lb_say(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static void lb_say(const char *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", lb_tool_self->name);
    if (file) fprintf(stderr, "'%s': ", file);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Print an lb_err for a file; returns its code (the exit status). */
static int lb_report(const char *file, const lb_err *e) __attribute__((unused));
static int lb_report(const char *file, const lb_err *e)
{
    char buf[800];
    lb_say(file, "%s", lb_err_str(e, buf, sizeof buf));
    return e->code ? e->code : LB_EIO;
}

/* A usage error: one line, then the short usage; exit 2. */
static void lb_usage_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn, unused));
static void lb_usage_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", lb_tool_self->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    lb_usage(stderr, 0);
    exit(LB_EUSAGE);
}

/* Parse options from the table. Calls on(opt_index, optarg, ctx) for each; returns the
 * index of the first operand. --help / --version are handled here. */
static int lb_parse_opts(int argc, char **argv, const lb_tool *t,
                         void (*on)(int idx, const char *arg, void *ctx), void *ctx)
{
    lb_tool_self = t;
    int n = 0;
    while (t->opts[n].lng) n++;
    struct option *lo = calloc((size_t)n + 3, sizeof *lo);
    char shorts[128] = "h";  /* GNU order: options may follow operands */
    size_t sl = 1;
    if (!lo) exit(LB_EIO);
    for (int i = 0; i < n; i++) {
        lo[i].name = t->opts[i].lng;
        lo[i].has_arg = t->opts[i].arg ? required_argument : no_argument;
        lo[i].val = 1000 + i;
        if (t->opts[i].shrt && sl + 3 < sizeof shorts) {
            shorts[sl++] = (char)t->opts[i].shrt;
            if (t->opts[i].arg) shorts[sl++] = ':';
        }
    }
    lo[n] = (struct option){ "help", no_argument, NULL, 'h' };
    lo[n + 1] = (struct option){ "version", no_argument, NULL, 999 };
    shorts[sl] = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        if (c == 'h') { lb_usage(stdout, 1); free(lo); exit(0); }
        if (c == 999) { printf("%s %s\n", t->name, LB_VERSION); free(lo); exit(0); }
        if (c == '?' || c == ':') {
            const char *bad = argv[optind - 1];
            free(lo);
            if (optopt && optopt < 256) lb_usage_fail("option '-%c' %s", optopt, c == ':' ? "needs an argument" : "is not known");
            lb_usage_fail("option '%s' is not known or needs an argument", bad);
        }
        int idx = -1;
        if (c >= 1000) idx = c - 1000;
        else for (int i = 0; i < n; i++) if (t->opts[i].shrt == c) idx = i;
        if (idx >= 0) on(idx, optarg, ctx);
    }
    free(lo);
    lb_err cerr;
    if (lb_cpu_init(&cerr)) {   /* LOWBIT_CPU names a kernel path this machine lacks */
        fprintf(stderr, "%s: %s\n", t->name, cerr.msg);
        exit(LB_EUSAGE);
    }
    return optind;
}

/* 1 if a and b name the same existing file (OUTPUT == INPUT checks). */
static int lb_same_file(const char *a, const char *b) __attribute__((unused));
static int lb_same_file(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* ---- signals: remove temporaries on Ctrl-C / TERM / PIPE ---- */
static void lb_on_signal(int sig)
{
    lb_out_cleanup_on_signal();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void lb_install_signals(void) __attribute__((unused));
static void lb_install_signals(void)
{
    signal(SIGINT, lb_on_signal);
    signal(SIGTERM, lb_on_signal);
    signal(SIGHUP, lb_on_signal);
    signal(SIGPIPE, lb_on_signal);
}

/* ---- progress: only when stderr is a terminal, redrawn at most 5 times a second ---- */
typedef struct lb_progress {
    int on;
    uint64_t total, done;
    double start, last;
    const char *label;
} lb_progress;

static double lb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void lb_progress_init(lb_progress *p, const char *label, uint64_t total) __attribute__((unused));
static void lb_progress_init(lb_progress *p, const char *label, uint64_t total)
{
    p->on = isatty(2);
    p->total = total;
    p->done = 0;
    p->label = label;
    p->start = p->last = lb_now();
}

static void lb_progress_add(lb_progress *p, uint64_t n, const char *item) __attribute__((unused));
static void lb_progress_add(lb_progress *p, uint64_t n, const char *item)
{
    p->done += n;
    if (!p->on) return;
    double t = lb_now();
    if (t - p->last < 0.2 && p->done < p->total) return;
    p->last = t;
    double rate = (t - p->start) > 0 ? (double)p->done / (t - p->start) : 0;
    double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;
    fprintf(stderr, "\r%s %5.1f%% %8.1f MB/s eta %4.0fs %-40.40s", p->label,
            p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, rate / 1e6, eta,
            item ? item : "");
    fflush(stderr);
}

static void lb_progress_end(lb_progress *p) __attribute__((unused));
static void lb_progress_end(lb_progress *p)
{
    if (p->on) fprintf(stderr, "\r%*s\r", 90, "");
}

/* Write all of buf to stdout; a failed write (full disk, closed pipe) is an I/O error. */
static int lb_stdout_write(const char *s) __attribute__((unused));
static int lb_stdout_write(const char *s)
{
    if (fputs(s, stdout) == EOF || fflush(stdout) == EOF) {
        lb_say(NULL, "cannot write to standard output");
        return LB_EIO;
    }
    return LB_OK;
}

#endif
