/* gguf_stub_st_branch.c: TEMPORARY stand-in for the GGUF module on branch 'st' so the
 * library links while GGUF is written on another branch. Delete at merge. */
#include "lb_gguf.h"
#include "lb_writer.h"

int lb_gguf_bid(const uint8_t *head, size_t n, uint64_t size)
{
    (void)head; (void)n; (void)size;
    return 0;
}

int lb_gguf_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    (void)m; (void)path;
    lb_src_close(src);
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "gguf is not built on this branch");
}

const lb_format lb_fmt_gguf = { "gguf", lb_gguf_bid, lb_gguf_open };

static int stub_can_store(const lb_wtensor *t, lb_err *err)
{
    return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                       "gguf writer is not built on this branch");
}

static int stub_header(lb_writer *w, lb_err *err)
{
    (void)w;
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "gguf writer is not built on this branch");
}

const lb_writer_ops lb_gguf_writer_ops = { "gguf", stub_can_store, NULL, stub_header, NULL };
