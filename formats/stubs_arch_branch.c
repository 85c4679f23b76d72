/* stubs_arch_branch.c: TEMPORARY stand-ins on branch arch only, so the archive work links
 * and can be tested before formats/gguf_*.c and formats/safetensors.c (written in parallel)
 * land on main. DELETE AT MERGE.
 *
 * The safetensors stand-in is a bare reader (header JSON -> tensors, no validation beyond
 * bounds) so archive tests can compare an archive against the plain file today; the GGUF
 * stand-in only recognizes the magic and refuses. Writers refuse. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_gguf.h"
#include "lb_le.h"
#include "lb_safetensors.h"
#include "lb_writer.h"

/* ---- gguf ---- */

static int stub_gguf_bid(const uint8_t *head, size_t n, uint64_t size)
{
    (void)size;
    return n >= 4 && memcmp(head, "GGUF", 4) == 0 ? 100 : 0;
}

static int stub_gguf_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    if (lb_model_add_file(m, path, src) < 0) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "gguf is not built on this branch (stub)");
}

const lb_format lb_fmt_gguf = { "gguf", stub_gguf_bid, stub_gguf_open };

/* ---- safetensors (bare) ---- */

static int stub_st_bid(const uint8_t *head, size_t n, uint64_t size)
{
    if (n < 9 || size < 10) return 0;
    uint64_t len = lb_ld64(head);
    if (len < 2 || len > LB_ST_MAX_HEADER || len > size - 8) return 0;
    return head[8] == '{' ? 80 : 0;
}

static int stub_st_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    int f = lb_model_add_file(m, path, src);
    if (f < 0) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    uint8_t lb[8];
    LB_TRY(lb_src_read(src, 0, lb, 8, err));
    uint64_t n = lb_ld64(lb), size = lb_src_size(src);
    if (n < 2 || n > LB_ST_MAX_HEADER || n > size - 8)
        return lb_err_set(err, LB_EFORMAT, 0, "bad header length %llu (stub)", (unsigned long long)n);
    char *txt = malloc((size_t)n + 1);
    if (!txt) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    int rc = lb_src_read(src, 8, txt, (size_t)n, err);
    if (rc) { free(txt); return rc; }
    txt[n] = 0;
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    if (!root) return lb_err_set(err, LB_EFORMAT, 8, "header is not JSON (stub)");
    uint64_t base = 8 + n;
    m->files[f].data_start = base;
    for (cJSON *c = root->child; c && !rc; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) continue;
        cJSON *dt = cJSON_GetObjectItem(c, "dtype"), *sh = cJSON_GetObjectItem(c, "shape");
        cJSON *of = cJSON_GetObjectItem(c, "data_offsets");
        const lb_type_traits *tt = cJSON_IsString(dt) ? lb_type_by_st_name(dt->valuestring) : NULL;
        if (!tt || !cJSON_IsArray(sh) || cJSON_GetArraySize(of) != 2) {
            rc = lb_err_item(err, LB_EFORMAT, "tensor", c->string, LB_NO_OFFSET, "bad entry (stub)");
            break;
        }
        uint64_t shape[LB_MAX_DIMS];
        int nd = 0;
        for (cJSON *d = sh->child; d && nd < LB_MAX_DIMS; d = d->next) shape[nd++] = (uint64_t)d->valuedouble;
        lb_tensor *t;
        uint64_t b = (uint64_t)cJSON_GetArrayItem(of, 0)->valuedouble;
        uint64_t e = (uint64_t)cJSON_GetArrayItem(of, 1)->valuedouble;
        rc = lb_model_add_tensor(m, c->string, tt->id, nd, shape, base + b, f, &t, err);
        if (!rc && (e < b || e - b != t->nbytes || base + e > size))
            rc = lb_err_item(err, LB_EFORMAT, "tensor", c->string, LB_NO_OFFSET, "bad data offsets (stub)");
    }
    cJSON_Delete(root);
    return rc;
}

const lb_format lb_fmt_safetensors = { "safetensors", stub_st_bid, stub_st_open };

int lb_safetensors_bid(const uint8_t *head, size_t n, uint64_t size) { return stub_st_bid(head, n, size); }
int lb_safetensors_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    return stub_st_open(m, src, path, err);
}

int lb_safetensors_open_index(lb_model *m, const char *index_path, lb_err *err)
{
    (void)m; (void)index_path;
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "sharded safetensors is not built on this branch (stub)");
}

/* ---- writers ---- */

static int stub_can_store(const lb_wtensor *t, lb_err *err)
{
    return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "writers are not built on this branch");
}

static int stub_header(lb_writer *w, lb_err *err)
{
    (void)w;
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "writers are not built on this branch");
}

const lb_writer_ops lb_gguf_writer_ops = { "gguf", stub_can_store, NULL, stub_header, NULL };
const lb_writer_ops lb_safetensors_writer_ops = { "safetensors", stub_can_store, NULL, stub_header, NULL };
