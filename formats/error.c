/* error.c: the error record (lb_error.h). */
#include "lb_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void lb_err_clear(lb_err *e)
{
    if (!e) return;
    e->code = LB_OK;
    e->offset = LB_NO_OFFSET;
    e->item[0] = 0;
    e->msg[0] = 0;
}

static int err_vset(lb_err *e, int code, uint64_t offset, const char *fmt, va_list ap)
{
    if (!e) return code;
    e->code = code;
    e->offset = offset;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return code;
}

int lb_err_set(lb_err *e, int code, uint64_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, offset, fmt, ap);
    va_end(ap);
    if (e) e->item[0] = 0;
    return code;
}

int lb_err_item(lb_err *e, int code, const char *kind, const char *name, uint64_t offset,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, offset, fmt, ap);
    va_end(ap);
    if (e) snprintf(e->item, sizeof e->item, "%s '%.120s'", kind, name ? name : "");
    return code;
}

const char *lb_err_str(const lb_err *e, char *buf, unsigned long n)
{
    char off[48] = "";
    if (e->offset != LB_NO_OFFSET)
        snprintf(off, sizeof off, " (at byte offset %llu)", (unsigned long long)e->offset);
    if (e->item[0])
        snprintf(buf, n, "%s: %s%s", e->item, e->msg, off);
    else
        snprintf(buf, n, "%s%s", e->msg, off);
    return buf;
}

const char *lb_code_name(int code)
{
    switch (code) {
    case LB_OK: return "ok";
    case LB_ECHECK: return "check failed";
    case LB_EUSAGE: return "usage error";
    case LB_EIO: return "i/o error";
    case LB_EFORMAT: return "malformed or unsupported input";
    default: return "unknown error";
    }
}
