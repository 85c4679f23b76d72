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

/* Parse the .npy that occupies [base, end) of s; offsets in errors and in->data_off are
 * offsets in s. */
static int npy_header(lb_src *s, uint64_t base, uint64_t end, npy_info *in, lb_err *err)
{
    uint8_t pre[12];
    uint64_t size = end - base;
    size_t got;
    memset(in, 0, sizeof *in);
    LB_TRY(lb_src_read_some(s, base, pre, size < sizeof pre ? (size_t)size : sizeof pre, &got, err));
    if (got < 6 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return lb_err_set(err, LB_EFORMAT, base, "not a .npy file (no \\x93NUMPY magic)");
    if (got < 8) return lb_err_set(err, LB_EFORMAT, base + got, "truncated npy preamble");
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
        return lb_err_set(err, LB_EFORMAT, base + 6, "npy version %u.%u is not supported (1.0, 2.0, 3.0 are)",
                          pre[6], pre[7]);
    in->major = pre[6];
    uint64_t hlen, hstart = pre[6] == 1 ? 10 : 12;
    if (hstart > got) return lb_err_set(err, LB_EFORMAT, base + got, "truncated npy preamble");
    hlen = pre[6] == 1 ? lb_ld16(pre + 8) : lb_ld32(pre + 8);
    if (hlen > LB_NPY_MAX_HEADER)
        return lb_err_set(err, LB_EFORMAT, base + 8, "npy header length %llu exceeds the limit %u",
                          (unsigned long long)hlen, LB_NPY_MAX_HEADER);
    if (hlen > size - hstart)
        return lb_err_set(err, LB_EFORMAT, base + 8, "npy header length %llu runs past the end of the file (%llu bytes)",
                          (unsigned long long)hlen, (unsigned long long)size);
    char *txt = malloc(hlen ? (size_t)hlen : 1);
    if (!txt) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    int rc = lb_src_read(s, base + hstart, txt, (size_t)hlen, err);
    hp h = { txt, (size_t)hlen, 0, base + hstart, err };
    if (!rc) rc = parse_dict(&h, in);
    free(txt);
    LB_TRY(rc);
    in->data_off = base + hstart + hlen;
    if (in->fortran && in->ndim > 2)
        return lb_err_set(err, LB_EFORMAT, base + hstart, "npy: fortran_order arrays with %d dimensions are not supported "
                          "(at most 2)", in->ndim);
    uint64_t ne = 1;
    for (int i = 0; i < in->ndim; i++)
        if (lb_mul64(ne, in->shape[i], &ne))
            return lb_err_set(err, LB_EFORMAT, base + hstart, "npy: shape element count overflows 64 bits");
    if (lb_mul64(ne, in->isz, &in->nbytes))
        return lb_err_set(err, LB_EFORMAT, base + hstart, "npy: data size overflows 64 bits");
    uint64_t have = end - in->data_off;
    if (have < in->nbytes)
        return lb_err_set(err, LB_EFORMAT, in->data_off, "npy: data is %llu bytes, the shape needs %llu",
                          (unsigned long long)have, (unsigned long long)in->nbytes);
    if (have > in->nbytes)
        return lb_err_set(err, LB_EFORMAT, in->data_off + in->nbytes, "npy: %llu bytes after the array data",
                          (unsigned long long)(have - in->nbytes));
    return LB_OK;
}

typedef struct npy_x {        /* how a tensor's bytes are found and transformed on read */
    lb_src  *src;             /* a decompressed .npz member (owned), or NULL: the model's file */
    uint64_t data;            /* offset of the array data in src */
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
static int read_c(lb_src *s, uint64_t data, const npy_x *x, uint64_t e0, uint64_t e1,
                  uint8_t *tile, uint8_t *buf, uint64_t off, size_t n, lb_err *err)
{
    uint64_t per = TILE / x->isz;
    for (uint64_t e = e0; e < e1;) {
        uint64_t k = e1 - e < per ? e1 - e : per;
        LB_TRY(lb_src_read(s, data + e * x->isz, tile, (size_t)(k * x->isz), err));
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
static int read_f(lb_src *s, uint64_t data, const npy_x *x, uint64_t e0, uint64_t e1,
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
                LB_TRY(lb_src_read(s, data + (j * rows + ia) * isz, tile + (j - jc) * (ib - ia) * isz,
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
    lb_src *s = x && x->src ? x->src : m->files[t->file].src;
    uint64_t data = x && x->src ? x->data : t->offset;
    int rc;
    if (!x || (!x->swap && !x->fortran)) {
        rc = lb_src_read(s, data + off, buf, n, err);
    } else if (n == 0) {
        return LB_OK;
    } else {
        uint8_t *tile = malloc(TILE);
        if (!tile) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        uint64_t e0 = off / x->isz, e1 = (off + n + x->isz - 1) / x->isz;
        rc = x->fortran ? read_f(s, data, x, e0, e1, tile, buf, off, n, err)
                        : read_c(s, data, x, e0, e1, tile, buf, off, n, err);
        free(tile);
    }
    if (rc && err) snprintf(err->item, sizeof err->item, "tensor '%.120s'", t->name);
    return rc;
}

static void npy_free_tensor(lb_tensor *t)
{
    npy_x *x = t->fmt;
    if (x) lb_src_close(x->src);
    free(x);
    t->fmt = NULL;
}

static const lb_model_ops npy_ops = { npy_read, NULL, npy_free_tensor };

/* Parse the .npy in [base, end) of s and add it as tensor `name` of file 0. own: s is a
 * decompressed .npz member that the tensor takes over (closed with it, also on failure);
 * otherwise s is file 0 and the tensor's offset is where its data sits in that file. */
static int add_npy(lb_model *m, lb_src *s, uint64_t base, uint64_t end, int own, const char *name, lb_err *err)
{
    npy_info in;
    lb_tensor *t = NULL;
    int rc = npy_header(s, base, end, &in, err);
    if (!rc) rc = lb_model_add_tensor(m, name, in.type, in.ndim, in.shape, in.data_off, 0, &t, err);
    int transpose = !rc && in.fortran && in.ndim == 2 && in.shape[0] > 1 && in.shape[1] > 1;
    npy_x *x = NULL;
    if (!rc && (own || in.swap || transpose) && !(x = calloc(1, sizeof *x)))
        rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    if (rc) {
        if (own) lb_src_close(s);
        if (err && !err->item[0]) snprintf(err->item, sizeof err->item, "tensor '%.120s'", name);
        return rc;
    }
    if (!x) return LB_OK;
    x->src = own ? s : NULL;
    x->data = in.data_off;
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
    LB_TRY(add_npy(m, src, 0, lb_src_size(src), 0, name, err));
    uint8_t major = 0;
    LB_TRY(lb_src_read(src, 6, &major, 1, err));
    m->version = major;                         /* the .npy format version */
    m->files[0].data_start = m->tensors[0].offset;
    return LB_OK;
}

/* ---- .npz through libarchive ---------------------------------------------------------- */

typedef struct arc_io {
    lb_src        *src;
    const uint8_t *mem;       /* memory sources are handed to libarchive in place */
    uint64_t       pos;       /* next byte the read callback returns */
    const uint8_t *last;      /* the block returned last and its offset in src */
    size_t         last_len;
    uint64_t       last_pos;
    uint8_t        buf[65536];
    lb_err         err;       /* a read error of the source, reported in place of libarchive's */
} arc_io;

static la_ssize_t arc_read(struct archive *a, void *ud, const void **out)
{
    (void)a;
    arc_io *io = ud;
    uint64_t size = lb_src_size(io->src);
    size_t got;
    if (io->mem) {
        got = io->pos >= size ? 0 : size - io->pos < (1u << 20) ? (size_t)(size - io->pos) : (1u << 20);
        io->last = io->mem + (io->pos < size ? io->pos : size);
    } else {
        if (lb_src_read_some(io->src, io->pos, io->buf, sizeof io->buf, &got, &io->err)) return ARCHIVE_FATAL;
        io->last = io->buf;
    }
    io->last_pos = io->pos;
    io->last_len = got;
    io->pos += got;
    *out = io->last;
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
    uint64_t size = lb_src_size(io->src), left = io->pos < size ? size - io->pos : 0;
    uint64_t k = req < 0 ? 0 : (uint64_t)req < left ? (uint64_t)req : left;
    io->pos += k;
    return (la_int64_t)k;
}

/* Where a data block libarchive handed out sits in the archive, when it is a view of our
 * own bytes (a stored member read without copying); UINT64_MAX when it is not. */
static uint64_t in_place(const arc_io *io, const void *p, size_t n)
{
    uintptr_t b = (uintptr_t)p, lo = (uintptr_t)io->last, hi = lo + io->last_len;
    if (io->mem) { lo = (uintptr_t)io->mem; hi = lo + (uintptr_t)lb_src_size(io->src); }
    if (!io->last || b < lo || b > hi || n > hi - b) return UINT64_MAX;
    return io->mem ? (uint64_t)(b - lo) : io->last_pos + (uint64_t)(b - lo);
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

typedef struct npz_data {
    uint64_t at;     /* in place: offset of the member's bytes in the archive */
    uint8_t *buf;    /* else: a copy (malloc'd) */
    uint64_t len;
} npz_data;

static int over_budget(const char *member, lb_err *err)
{
    return lb_err_item(err, LB_EFORMAT, "npz member", member, LB_NO_OFFSET,
                       "more than the %llu MiB in-memory limit for compressed .npz members "
                       "(save it as .npy or store it uncompressed)", (unsigned long long)(LB_NPZ_MAX_BYTES >> 20));
}

/* Append n bytes to d->buf, counting them against *budget. */
static int append(npz_data *d, size_t *cap, const void *p, size_t n, uint64_t *budget, const char *member, lb_err *err)
{
    if (n > *budget) return over_budget(member, err);
    if (d->len + n > *cap) {
        size_t nc = *cap ? *cap : 65536;
        while (nc < d->len + n) nc *= 2;
        if (nc > d->len + *budget) nc = (size_t)(d->len + *budget);
        uint8_t *nb = realloc(d->buf, nc ? nc : 1);
        if (!nb) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        d->buf = nb;
        *cap = nc;
    }
    if (n) memcpy(d->buf + d->len, p, n);
    d->len += n;
    *budget -= n;
    return LB_OK;
}

/* Stream the current member. A stored member whose blocks are contiguous views of the
 * archive stays in place; anything else (deflated) is copied, at most *budget bytes. */
static int member_data(struct archive *a, arc_io *io, const char *member, npz_data *d, uint64_t *budget,
                       lb_err *err)
{
    size_t cap = 0;
    int inplace = 1, rc = LB_OK;
    memset(d, 0, sizeof *d);
    for (;;) {
        const void *blk;
        size_t n;
        la_int64_t eoff;
        int r = archive_read_data_block(a, &blk, &n, &eoff);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) { rc = arc_fail(a, io, member, err); break; }
        if (eoff < 0 || (uint64_t)eoff != d->len) {
            rc = lb_err_item(err, LB_EFORMAT, "npz member", member, LB_NO_OFFSET, "data is not contiguous");
            break;
        }
        if (n == 0) continue;
        uint64_t at = in_place(io, blk, n);
        if (inplace && at != UINT64_MAX && (d->len == 0 || at == d->at + d->len)) {
            if (d->len == 0) d->at = at;
            d->len += n;
            continue;
        }
        if (inplace) {   /* switch to a copy: fetch the bytes seen so far from the archive */
            inplace = 0;
            if (d->len > *budget) { rc = over_budget(member, err); break; }
            if (!(d->buf = malloc(d->len ? (size_t)d->len : 1))) {
                rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
                break;
            }
            cap = (size_t)d->len;
            if (d->len && (rc = lb_src_read(io->src, d->at, d->buf, (size_t)d->len, err))) break;
            *budget -= d->len;
        }
        if ((rc = append(d, &cap, blk, n, budget, member, err))) break;
    }
    if (!rc && inplace && d->len == 0) d->at = 0;
    if (rc) { free(d->buf); d->buf = NULL; }
    return rc;
}

/* Read one member and add its tensor. */
static int npz_member(lb_model *m, struct archive *a, arc_io *io, struct archive_entry *e, uint64_t *budget,
                      lb_err *err)
{
    const char *member = archive_entry_pathname(e);
    if (!member || !member[0]) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "npz: a member has no name");
    if (archive_entry_filetype(e) != AE_IFREG || !has_suffix(member, ".npy") || strlen(member) > 200)
        return lb_err_item(err, LB_EFORMAT, "npz member", member, LB_NO_OFFSET, "not a .npy file");
    npz_data d;
    LB_TRY(member_data(a, io, member, &d, budget, err));
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(strlen(member) - 4), member);
    if (!d.buf) return add_npy(m, io->src, d.at, d.at + d.len, 0, name, err);
    lb_src *ms;
    LB_TRY(lb_src_mem_owned(&ms, d.buf, d.len, member, err));
    return add_npy(m, ms, 0, d.len, 1, name, err);
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
    io->mem = lb_src_memptr(src);
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
        rc = npz_member(m, a, io, e, &budget, err);
    }
    archive_read_free(a);
    free(io);
    if (!rc) rc = lb_model_check_names(m, err);
    return rc;
}

const lb_format lb_fmt_npy = { "npy", lb_npy_bid, lb_npy_open };
const lb_format lb_fmt_npz = { "npz", lb_npz_bid, lb_npz_open };
