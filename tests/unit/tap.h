/* tap.h: the smallest test harness that can fail.
 *
 * Each test program prints one line per test case:
 *   PASS <name>      FAIL <name>: <why>      SKIP <name>: <reason>
 * tests/run.sh counts those lines. A case with no CHECK that ran is a failure, so
 * assertion-free tests cannot pass. Exit status: 1 if any case failed. */
#ifndef LB_TAP_H
#define LB_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_failed_total;
static int tap_case_checks, tap_case_failed;
static char tap_case_name[256];
static char tap_case_why[512];

static void tap_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void tap_begin(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tap_case_name, sizeof tap_case_name, fmt, ap);
    va_end(ap);
    tap_case_checks = tap_case_failed = 0;
    tap_case_why[0] = 0;
}

static void tap_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), unused));
static void tap_check(int ok, const char *file, int line, const char *fmt, ...)
{
    tap_case_checks++;
    if (ok) return;
    if (!tap_case_failed) {
        char why[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        snprintf(tap_case_why, sizeof tap_case_why, "%s:%d: %s", file, line, why);
    }
    tap_case_failed++;
}

static void tap_end(void) __attribute__((unused));
static void tap_end(void)
{
    if (tap_case_failed || tap_case_checks == 0) {
        printf("FAIL %s: %s\n", tap_case_name,
               tap_case_checks ? tap_case_why : "no assertion ran");
        tap_failed_total++;
    } else {
        printf("PASS %s\n", tap_case_name);
    }
    fflush(stdout);
}

static void tap_skip(const char *name, const char *reason) __attribute__((unused));
static void tap_skip(const char *name, const char *reason)
{
    printf("SKIP %s: %s\n", name, reason);
    fflush(stdout);
}

#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define TAP_EXIT() return tap_failed_total ? 1 : 0

/* Where ../shared lives (LOWBIT_SHARED overrides); NULL when absent. */
static const char *tap_shared(void) __attribute__((unused));
static const char *tap_shared(void)
{
    static char buf[1024];
    const char *env = getenv("LOWBIT_SHARED");
    if (!env) env = "../shared";
    snprintf(buf, sizeof buf, "%s/models/README.md", env);
    FILE *f = fopen(buf, "r");
    if (!f) return NULL;
    fclose(f);
    snprintf(buf, sizeof buf, "%s", env);
    return buf;
}

#endif
