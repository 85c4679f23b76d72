/* safetensors_stub_gguf_branch.c: TEMPORARY link stub on branch gguf only, so the GGUF
 * work links before formats/safetensors.c (written in parallel) is merged. Delete at merge. */
#include "lb_safetensors.h"
#include "lb_writer.h"

static int stub_bid(const uint8_t *head, size_t n, uint64_t size)
{
    (void)head; (void)n; (void)size;
    return 0;
}

static int stub_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    (void)path;
    if (lb_model_add_file(m, "<stub>", src) < 0) lb_src_close(src);
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "safetensors is not built on this branch");
}

const lb_format lb_fmt_safetensors = { "safetensors", stub_bid, stub_open };

int lb_safetensors_open_index(lb_model *m, const char *index_path, lb_err *err)
{
    (void)m; (void)index_path;
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "safetensors is not built on this branch");
}

static int stub_can_store(const lb_wtensor *t, lb_err *err)
{
    return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                       "safetensors is not built on this branch");
}

static int stub_header(lb_writer *w, lb_err *err)
{
    (void)w;
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "safetensors is not built on this branch");
}

const lb_writer_ops lb_safetensors_writer_ops = { "safetensors", stub_can_store, NULL, stub_header, NULL };
