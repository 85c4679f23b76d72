/* numpy.c: NumPy .npy files and .npz archives (lb_numpy.h).
 *
 * .npy: "\x93NUMPY", u8 major, u8 minor, u16 (v1) or u32 (v2, v3) header length, a
 * Python dict literal with exactly the keys 'descr', 'fortran_order' and 'shape', then
 * the data. The literal is parsed here by a small strict grammar, never evaluated.
 * .npz: a zip archive of .npy members, read with libarchive (stored or deflated); each
 * member is copied into memory (LB_NPZ_MAX_BYTES in all) and parsed as a .npy. */
#include "lb_numpy.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"

/* ---- descr: byte order + kind + item size --------------------------------------- */

static const struct { char kind; unsigned size; int type; } dtypes[] = {
    { 'f', 2, LB_F16 }, { 'f', 4, LB_F32 }, { 'f', 8, LB_F64 },
    { 'i', 1, LB_I8 }, { 'i', 2, LB_I16 }, { 'i', 4, LB_I32 }, { 'i', 8, LB_I64 },
    { 'u', 1, LB_U8 }, { 'u', 2, LB_U16 }, { 'u', 4, LB_U32 }, { 'u', 8, LB_U64 },
    { 'b', 1, LB_BOOL },
};

typedef struct npy_info {
    int      type;
    unsigned isz;
    int      swap;                  /* big-endian data */
    int      fortran;
    int      ndim;
    uint64_t shape[LB_MAX_DIMS];
    uint64_t data_off, nbytes;
    int      seen;                  /* keys seen, bit per key */
    int      major;                 /* format version 1..3 */
} npy_info;

static int parse_descr(const char *d, uint64_t at, npy_info *in, lb_err *err)
{
    char order = d[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return lb_err_set(err, LB_EFORMAT, at, "npy descr '%.40s': unknown byte order '%c'", d, order);
    if (d[1] == 'O')
        return lb_err_set(err, LB_EFORMAT, at, "refusing to load: object array holds a pickle (not a tensor type)");
    char *end;
    unsigned long sz = d[1] && d[2] >= '1' && d[2] <= '9' ? strtoul(d + 2, &end, 10) : 0;
    if (!sz || *end)
        return lb_err_set(err, LB_EFORMAT, at, "npy descr '%.40s' is not a dtype lowbit reads", d);
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (dtypes[i].kind != d[1] || dtypes[i].size != sz) continue;
        if (sz > 1 && order == '|')
            return lb_err_set(err, LB_EFORMAT, at, "npy descr '%.40s': a %lu-byte type needs '<' or '>'", d, sz);
        if (sz > 1 && order == '=')
            return lb_err_set(err, LB_EFORMAT, at, "npy descr '%.40s': native byte order '=' is ambiguous in a file", d);
        in->type = dtypes[i].type;
        in->isz = (unsigned)sz;
        in->swap = sz > 1 && order == '>';
        return LB_OK;
    }
    return lb_err_set(err, LB_EFORMAT, at, "npy descr '%.40s' is not a dtype lowbit reads "
                      "(f2 f4 f8 i1-i8 u1-u8 b1)", d);
}

/* ---- the header dict: a strict Python-literal grammar ---------------------------------- */

typedef struct hp {
    const char *s;
    size_t n, p;
    uint64_t base;          /* file offset of s[0] */
    lb_err *err;
} hp;

static void ws(hp *h)
{
    while (h->p < h->n && (h->s[h->p] == ' ' || h->s[h->p] == '\t' || h->s[h->p] == '\n' || h->s[h->p] == '\r'))
        h->p++;
}

static int bad(hp *h, const char *what)
{
    return lb_err_set(h->err, LB_EFORMAT, h->base + h->p, "npy header: %s", what);
}

static int eat(hp *h, char c)
{
    ws(h);
    if (h->p < h->n && h->s[h->p] == c) { h->p++; return 1; }
    return 0;
}

/* A quoted string without escapes, into out (cap bytes). */
static int str(hp *h, char *out, size_t cap)
{
    ws(h);
    if (h->p >= h->n || (h->s[h->p] != '\'' && h->s[h->p] != '"')) return bad(h, "expected a quoted string");
    char q = h->s[h->p++];
    size_t k = 0;
    while (h->p < h->n && h->s[h->p] != q) {
        char c = h->s[h->p];
        if (c == '\\' || c == '\n' || (unsigned char)c < 0x20) return bad(h, "unsupported character in a string");
        if (k + 1 >= cap) return bad(h, "string too long");
        out[k++] = c;
        h->p++;
    }
    if (h->p >= h->n) return bad(h, "unterminated string");
    h->p++;
    out[k] = 0;
    return LB_OK;
}

static int word(hp *h, const char *w)
{
    size_t k = strlen(w);
    ws(h);
    if (h->n - h->p >= k && memcmp(h->s + h->p, w, k) == 0) { h->p += k; return 1; }
    return 0;
}

static int dim(hp *h, uint64_t *v)
{
    ws(h);
    if (h->p < h->n && h->s[h->p] == '-') return bad(h, "negative dimension in shape");
    if (h->p >= h->n || h->s[h->p] < '0' || h->s[h->p] > '9') return bad(h, "expected a dimension");
    uint64_t x = 0;
    while (h->p < h->n && h->s[h->p] >= '0' && h->s[h->p] <= '9') {
        if (lb_mul64(x, 10, &x) || lb_add64(x, (uint64_t)(h->s[h->p] - '0'), &x))
            return bad(h, "dimension overflows 64 bits");
        h->p++;
    }
    if (h->p < h->n && h->s[h->p] == 'L') h->p++;     /* Python 2 long literal */
    *v = x;
    return LB_OK;
}

static int shape(hp *h, npy_info *in)
{
    if (!eat(h, '(')) return bad(h, "shape is not a tuple");
    in->ndim = 0;
    if (eat(h, ')')) return LB_OK;
    for (;;) {
        if (in->ndim == LB_MAX_DIMS) return bad(h, "shape has more than 8 dimensions");
        LB_TRY(dim(h, &in->shape[in->ndim++]));
        int comma = eat(h, ',');
        if (eat(h, ')')) {
            if (in->ndim == 1 && !comma) return bad(h, "shape (n) is not a tuple (a 1-tuple needs a comma)");
            return LB_OK;
        }
        if (!comma) return bad(h, "expected ',' or ')' in shape");
    }
}

static int item(hp *h, npy_info *in)
{
    char key[32], val[64];
    uint64_t key_at = h->base + h->p;
    LB_TRY(str(h, key, sizeof key));
    if (!eat(h, ':')) return bad(h, "expected ':'");
    int bit = strcmp(key, "descr") == 0 ? 1 : strcmp(key, "fortran_order") == 0 ? 2 :
              strcmp(key, "shape") == 0 ? 4 : 0;
    if (!bit) return lb_err_set(h->err, LB_EFORMAT, key_at, "npy header: unexpected key '%s'", key);
    if (in->seen & bit) return lb_err_set(h->err, LB_EFORMAT, key_at, "npy header: key '%s' appears twice", key);
    in->seen |= bit;
    if (bit == 1) {
        ws(h);
        uint64_t at = h->base + h->p;
        if (h->p < h->n && h->s[h->p] == '[') return bad(h, "structured dtypes are not supported");
        LB_TRY(str(h, val, sizeof val));
        return parse_descr(val, at, in, h->err);
    }
    if (bit == 2) {
        if (word(h, "True")) in->fortran = 1;
        else if (word(h, "False")) in->fortran = 0;
        else return bad(h, "fortran_order is not True or False");
        return LB_OK;
    }
    return shape(h, in);
}

static int parse_dict(hp *h, npy_info *in)
{
    if (!eat(h, '{')) return bad(h, "not a dict (expected '{')");
    while (!eat(h, '}')) {
        LB_TRY(item(h, in));
        if (!eat(h, ',')) {
            if (eat(h, '}')) break;
            return bad(h, "expected ',' or '}'");
        }
    }
    ws(h);
    if (h->p != h->n) return bad(h, "unexpected bytes after the dict");
    static const char *const names[] = { "descr", "fortran_order", "shape" };
    for (int i = 0; i < 3; i++)
        if (!(in->seen & 1 << i))
            return lb_err_set(h->err, LB_EFORMAT, h->base, "npy header: no '%s' key", names[i]);
    return LB_OK;
}

/* ---- .npy ---------------------------------------------------------------------- */

static int npy_header(lb_src *s, npy_info *in, lb_err *err)
{
    uint8_t pre[12];
    uint64_t size = lb_src_size(s);
    size_t got;
    memset(in, 0, sizeof *in);
    LB_TRY(lb_src_read_some(s, 0, pre, sizeof pre, &got, err));
    if (got < 6 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return lb_err_set(err, LB_EFORMAT, 0, "not a .npy file (no \\x93NUMPY magic)");
    if (got < 8) return lb_err_set(err, LB_EFORMAT, got, "truncated npy preamble");
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
        return lb_err_set(err, LB_EFORMAT, 6, "npy version %u.%u is not supported (1.0, 2.0, 3.0 are)", pre[6], pre[7]);
    in->major = pre[6];
    uint64_t hlen, hstart = pre[6] == 1 ? 10 : 12;
    if (hstart > got) return lb_err_set(err, LB_EFORMAT, got, "truncated npy preamble");
    hlen = pre[6] == 1 ? lb_ld16(pre + 8) : lb_ld32(pre + 8);
    if (hlen > LB_NPY_MAX_HEADER)
        return lb_err_set(err, LB_EFORMAT, 8, "npy header length %llu exceeds the limit %u",
                          (unsigned long long)hlen, LB_NPY_MAX_HEADER);
    if (hlen > size - hstart)
        return lb_err_set(err, LB_EFORMAT, 8, "npy header length %llu runs past the end of the file (%llu bytes)",
                          (unsigned long long)hlen, (unsigned long long)size);
    char *txt = malloc(hlen ? (size_t)hlen : 1);
    if (!txt) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    int rc = lb_src_read(s, hstart, txt, (size_t)hlen, err);
    hp h = { txt, (size_t)hlen, 0, hstart, err };
    if (!rc) rc = parse_dict(&h, in);
    free(txt);
    LB_TRY(rc);
    in->data_off = hstart + hlen;
    if (in->fortran && in->ndim > 2)
        return lb_err_set(err, LB_EFORMAT, hstart, "npy: fortran_order arrays with %d dimensions are not supported "
                          "(at most 2)", in->ndim);
    uint64_t ne = 1;
    for (int i = 0; i < in->ndim; i++)
        if (lb_mul64(ne, in->shape[i], &ne))
            return lb_err_set(err, LB_EFORMAT, hstart, "npy: shape element count overflows 64 bits");
    if (lb_mul64(ne, in->isz, &in->nbytes))
        return lb_err_set(err, LB_EFORMAT, hstart, "npy: data size overflows 64 bits");
    uint64_t have = size - in->data_off;
    if (have < in->nbytes)
        return lb_err_set(err, LB_EFORMAT, in->data_off, "npy: data is %llu bytes, the shape needs %llu",
                          (unsigned long long)have, (unsigned long long)in->nbytes);
    if (have > in->nbytes)
        return lb_err_set(err, LB_EFORMAT, in->data_off + in->nbytes, "npy: %llu bytes after the array data",
                          (unsigned long long)(have - in->nbytes));
    return LB_OK;
}

typedef struct npy_x {        /* how a tensor's bytes are transformed on read */
    unsigned isz;
    int swap, fortran;
    uint64_t rows, cols;      /* C-order shape of a 2-D Fortran array */
} npy_x;

#define TILE (1u << 20)

/* One element (already little-endian in e) into the request window. */
static void put_elem(uint8_t *dst, uint64_t off, size_t n, const uint8_t *e, uint64_t at, unsigned isz)
{
    uint64_t a = at > off ? at : off, b = at + isz < off + n ? at + isz : off + n;
    if (a < b) memcpy(dst + (a - off), e + (a - at), (size_t)(b - a));
}

static void swap_elem(uint8_t *e, unsigned isz)
{
    for (unsigned i = 0; i < isz / 2; i++) {
        uint8_t c = e[i];
        e[i] = e[isz - 1 - i];
        e[isz - 1 - i] = c;
    }
}

/* C-order elements [e0, e1) of a contiguous (possibly big-endian) array. */
static int read_c(lb_src *s, const lb_tensor *t, const npy_x *x, uint64_t e0, uint64_t e1,
                  uint8_t *tile, uint8_t *buf, uint64_t off, size_t n, lb_err *err)
{
    uint64_t per = TILE / x->isz;
    for (uint64_t e = e0; e < e1;) {
        uint64_t k = e1 - e < per ? e1 - e : per;
        LB_TRY(lb_src_read(s, t->offset + e * x->isz, tile, (size_t)(k * x->isz), err));
        for (uint64_t i = 0; i < k; i++) {
            uint8_t *el = tile + i * x->isz;
            if (x->swap) swap_elem(el, x->isz);
            put_elem(buf, off, n, el, (e + i) * x->isz, x->isz);
        }
        e += k;
    }
    return LB_OK;
}

/* A 2-D Fortran array: tiles of R rows x C columns; column j of rows [ia, ib) is
 * contiguous on disk at element j * rows + ia. */
static int read_f(lb_src *s, const lb_tensor *t, const npy_x *x, uint64_t e0, uint64_t e1,
                  uint8_t *tile, uint8_t *buf, uint64_t off, size_t n, lb_err *err)
{
    uint64_t rows = x->rows, cols = x->cols, isz = x->isz, per = TILE / isz;
    uint64_t i0 = e0 / cols, i1 = (e1 - 1) / cols;
    uint64_t ja = i0 == i1 ? e0 % cols : 0, jb = i0 == i1 ? (e1 - 1) % cols + 1 : cols;
    uint64_t C = jb - ja < per ? jb - ja : per, R = per / C;
    for (uint64_t ia = i0; ia <= i1; ia += R) {
        uint64_t ib = ia + R - 1 < i1 ? ia + R : i1 + 1;
        for (uint64_t jc = ja; jc < jb; jc += C) {
            uint64_t jd = jc + C < jb ? jc + C : jb;
            for (uint64_t j = jc; j < jd; j++)
                LB_TRY(lb_src_read(s, t->offset + (j * rows + ia) * isz, tile + (j - jc) * (ib - ia) * isz,
                                   (size_t)((ib - ia) * isz), err));
            for (uint64_t i = ia; i < ib; i++)
                for (uint64_t j = jc; j < jd; j++) {
                    uint8_t *el = tile + ((j - jc) * (ib - ia) + (i - ia)) * isz;
                    if (x->swap) swap_elem(el, x->isz);
                    put_elem(buf, off, n, el, (i * cols + j) * isz, x->isz);
                }
        }
    }
    return LB_OK;
}

static int npy_read(lb_model *m, const lb_tensor *t, uint64_t off, void *buf, size_t n, lb_err *err)
{
    const npy_x *x = t->fmt;
    lb_src *s = m->files[t->file].src;
    int rc;
    if (!x) {
        rc = lb_src_read(s, t->offset + off, buf, n, err);
    } else if (n == 0) {
        return LB_OK;
    } else {
        uint8_t *tile = malloc(TILE);
        if (!tile) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        uint64_t e0 = off / x->isz, e1 = (off + n + x->isz - 1) / x->isz;
        rc = x->fortran ? read_f(s, t, x, e0, e1, tile, buf, off, n, err)
                        : read_c(s, t, x, e0, e1, tile, buf, off, n, err);
        free(tile);
    }
    if (rc && err) snprintf(err->item, sizeof err->item, "tensor '%.120s'", t->name);
    return rc;
}

static void npy_free_tensor(lb_tensor *t)
{
    free(t->fmt);
    t->fmt = NULL;
}

static const lb_model_ops npy_ops = { npy_read, NULL, npy_free_tensor };

/* Parse the .npy in file `file` of m and add it as tensor `name`. */
static int add_npy(lb_model *m, int file, const char *name, lb_err *err)
{
    npy_info in;
    lb_tensor *t;
    int rc = npy_header(m->files[file].src, &in, err);
    if (!rc) rc = lb_model_add_tensor(m, name, in.type, in.ndim, in.shape, in.data_off, file, &t, err);
    if (rc) {
        if (err && !err->item[0]) snprintf(err->item, sizeof err->item, "tensor '%.120s'", name);
        return rc;
    }
    m->files[file].data_start = in.data_off;
    if (file == 0) m->version = (uint32_t)in.major;
    int transpose = in.fortran && in.ndim == 2 && in.shape[0] > 1 && in.shape[1] > 1;
    if (!in.swap && !transpose) return LB_OK;
    npy_x *x = calloc(1, sizeof *x);
    if (!x) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    x->isz = in.isz;
    x->swap = in.swap;
    x->fortran = transpose;
    x->rows = in.ndim == 2 ? in.shape[0] : 0;
    x->cols = in.ndim == 2 ? in.shape[1] : 0;
    t->fmt = x;
    return LB_OK;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int lb_npy_bid(const uint8_t *head, size_t n, uint64_t size)
{
    (void)size;
    return n >= 8 && memcmp(head, "\x93NUMPY", 6) == 0 ? 95 : 0;
}

int lb_npy_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    if (lb_model_add_file(m, path, src) < 0) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    m->ops = &npy_ops;
    /* the tensor is named after the file: ".../candle-test.npy" -> "candle-test" */
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char name[256];
    snprintf(name, sizeof name, "%s", base);
    if (has_suffix(name, ".npy")) name[strlen(name) - 4] = 0;
    if (!name[0] || strcmp(path, "<memory>") == 0) snprintf(name, sizeof name, "array");
    return add_npy(m, 0, name, err);
}

/* ---- .npz through libarchive ---------------------------------------------------------- */

typedef struct arc_io {
    lb_src  *src;
    uint64_t pos;
    uint8_t  buf[65536];
    lb_err   err;        /* a read error of the source, reported in place of libarchive's */
} arc_io;

static la_ssize_t arc_read(struct archive *a, void *ud, const void **out)
{
    (void)a;
    arc_io *io = ud;
    size_t got;
    if (lb_src_read_some(io->src, io->pos, io->buf, sizeof io->buf, &got, &io->err)) return -1;
    io->pos += got;
    *out = io->buf;
    return (la_ssize_t)got;
}

static la_int64_t arc_seek(struct archive *a, void *ud, la_int64_t off, int whence)
{
    (void)a;
    arc_io *io = ud;
    int64_t size = (int64_t)lb_src_size(io->src);
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)io->pos : size;
    if (off < -base || off > size - base) return ARCHIVE_FATAL;
    io->pos = (uint64_t)(base + off);
    return (la_int64_t)io->pos;
}

static la_int64_t arc_skip(struct archive *a, void *ud, la_int64_t req)
{
    (void)a;
    arc_io *io = ud;
    uint64_t left = lb_src_size(io->src) - (io->pos < lb_src_size(io->src) ? io->pos : lb_src_size(io->src));
    uint64_t k = req < 0 ? 0 : (uint64_t)req < left ? (uint64_t)req : left;
    io->pos += k;
    return (la_int64_t)k;
}

static int arc_fail(struct archive *a, arc_io *io, const char *member, lb_err *err)
{
    if (io->err.code) {
        if (err) *err = io->err;
        return io->err.code;
    }
    const char *why = archive_error_string(a);
    if (member)
        return lb_err_item(err, LB_EFORMAT, "npz member", member, LB_NO_OFFSET, "%s", why ? why : "unreadable");
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "npz: %s", why ? why : "not a readable zip archive");
}

/* Copy the current member into a malloc'd buffer, counting against *budget. */
static int slurp(struct archive *a, arc_io *io, struct archive_entry *e, const char *member,
                 uint8_t **out, uint64_t *len, uint64_t *budget, lb_err *err)
{
    size_t cap = 0, n = 0;
    uint8_t *b = NULL;
    *out = NULL;
    if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > *budget)
        return lb_err_item(err, LB_EFORMAT, "npz member", member, LB_NO_OFFSET,
                           "%lld bytes exceed what is left of the %llu MiB in-memory limit for .npz "
                           "(save it as .npy instead)", (long long)archive_entry_size(e),
                           (unsigned long long)(LB_NPZ_MAX_BYTES >> 20));
    for (;;) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 65536;
            if (nc > *budget) nc = (size_t)*budget;
            if (nc <= n) {
                free(b);
                return lb_err_item(err, LB_EFORMAT, "npz member", member, LB_NO_OFFSET,
                                   "more than the %llu MiB in-memory limit for .npz (save it as .npy instead)",
                                   (unsigned long long)(LB_NPZ_MAX_BYTES >> 20));
            }
            uint8_t *nb = realloc(b, nc);
            if (!nb) { free(b); return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }
            b = nb;
            cap = nc;
        }
        la_ssize_t r = archive_read_data(a, b + n, cap - n);
        if (r < 0) { free(b); return arc_fail(a, io, member, err); }
        if (r == 0) break;
        n += (size_t)r;
    }
    *budget -= n;
    *out = b;
    *len = n;
    return LB_OK;
}

/* Read one member and add its tensor. */
static int npz_member(lb_model *m, struct archive *a, arc_io *io, struct archive_entry *e,
                      const char *path, uint64_t *budget, lb_err *err)
{
    const char *member = archive_entry_pathname(e);
    if (!member || !member[0]) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "npz: a member has no name");
    if (archive_entry_filetype(e) != AE_IFREG || !has_suffix(member, ".npy") || strlen(member) > 200)
        return lb_err_item(err, LB_EFORMAT, "npz member", member, LB_NO_OFFSET, "not a .npy file");
    uint8_t *data;
    uint64_t len = 0;
    LB_TRY(slurp(a, io, e, member, &data, &len, budget, err));
    char fpath[4096], name[256];
    snprintf(fpath, sizeof fpath, "%s:%s", path, member);
    snprintf(name, sizeof name, "%.*s", (int)(strlen(member) - 4), member);
    lb_src *ms;
    LB_TRY(lb_src_mem_owned(&ms, data, len, fpath, err));
    int f = lb_model_add_file(m, fpath, ms);
    if (f < 0) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    return add_npy(m, f, name, err);
}

int lb_npz_bid(const uint8_t *head, size_t n, uint64_t size)
{
    (void)size;
    if (n < 30 || memcmp(head, "PK\x03\x04", 4) != 0) return 0;
    size_t nl = lb_ld16(head + 26);
    if (nl < 4 || 30 + nl > n) return 0;
    return memcmp(head + 30 + nl - 4, ".npy", 4) == 0 ? 60 : 0;
}

int lb_npz_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    if (lb_model_add_file(m, path, src) < 0) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    m->ops = &npy_ops;
    arc_io *io = calloc(1, sizeof *io);
    struct archive *a = archive_read_new();
    if (!io || !a) {
        free(io);
        if (a) archive_read_free(a);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    io->src = src;
    lb_err_clear(&io->err);
    archive_read_support_format_zip(a);
    archive_read_set_read_callback(a, arc_read);
    archive_read_set_seek_callback(a, arc_seek);
    archive_read_set_skip_callback(a, arc_skip);
    archive_read_set_callback_data(a, io);
    int rc = archive_read_open1(a) == ARCHIVE_OK ? LB_OK : arc_fail(a, io, NULL, err);
    uint64_t budget = LB_NPZ_MAX_BYTES;
    while (!rc) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) { rc = arc_fail(a, io, NULL, err); break; }
        rc = npz_member(m, a, io, e, path, &budget, err);
    }
    archive_read_free(a);
    free(io);
    if (!rc) rc = lb_model_check_names(m, err);
    return rc;
}

const lb_format lb_fmt_npy = { "npy", lb_npy_bid, lb_npy_open };
const lb_format lb_fmt_npz = { "npz", lb_npz_bid, lb_npz_open };
