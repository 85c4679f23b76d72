/* lb_error.h: one error enum, one caller-owned error record.
 *
 * Library code never prints or exits: it fills an lb_err and returns its code.
 * Codes double as the tools' exit codes (docs/exit-codes.md). */
#ifndef LB_ERROR_H
#define LB_ERROR_H

#include <stdint.h>

enum lb_code {
    LB_OK      = 0, /* success */
    LB_ECHECK  = 1, /* a check failed / findings */
    LB_EUSAGE  = 2, /* bad arguments or options */
    LB_EIO     = 3, /* cannot open/read/write/allocate */
    LB_EFORMAT = 4  /* malformed or unsupported input */
};

#define LB_NO_OFFSET UINT64_MAX

/* The error record. `item` names the thing (a tensor, a key, an entry), or is empty;
 * `offset` is the byte offset in the file where it went wrong, or LB_NO_OFFSET. */
typedef struct lb_err {
    int      code;
    uint64_t offset;
    char     item[160];
    char     msg[480];
} lb_err;

/* Reset to LB_OK. */
void lb_err_clear(lb_err *e);

/* Record an error (printf-style message, lowercase, no final period); returns code.
 * A NULL e is allowed (the error is dropped). */
int lb_err_set(lb_err *e, int code, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Same, naming an item (tensor/key/entry): "tensor 'x'". kind is e.g. "tensor". */
int lb_err_item(lb_err *e, int code, const char *kind, const char *name, uint64_t offset,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Format as one line: "<item>: <msg> (at byte offset N)"; returns buf. */
const char *lb_err_str(const lb_err *e, char *buf, unsigned long n);

/* Text of a code: "malformed or unsupported input", ... */
const char *lb_code_name(int code);

/* Keep the happy path readable. */
#define LB_TRY(expr) do { int lb_rc_ = (expr); if (lb_rc_ != LB_OK) return lb_rc_; } while (0)

#endif
