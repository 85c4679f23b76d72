/* io.c: byte sources, the parsing cursor and atomic output sinks (lb_io.h). */
#include "lb_io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lb_le.h"

/* ---- sources -------------------------------------------------------------- */

struct lb_src {
    int fd;                  /* -1 for memory and window sources */
    const uint8_t *mem;
    void *owned;
    uint64_t size;
    char *name;
    int kind;                /* enum lb_src_kind */
    unsigned refs;           /* lb_src_close frees at zero (windows hold their parent) */
    lb_src *parent;          /* LB_SRC_SUB: the window's source */
    uint64_t base;           /* LB_SRC_SUB: offset of the window in parent */
};

int lb_src_open(lb_src **out, const char *path, lb_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "cannot stat: %s", strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "is a directory");
    }
    lb_src *s = calloc(1, sizeof *s);
    char *name = strdup(path);
    if (!s || !name) {
        free(s); free(name); close(fd);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    s->fd = fd;
    s->size = (uint64_t)st.st_size;
    s->name = name;
    s->kind = LB_SRC_FILE;
    s->refs = 1;
    *out = s;
    return LB_OK;
}

static int src_mem(lb_src **out, const void *data, uint64_t size, const char *name, void *owned,
                   lb_err *err)
{
    lb_src *s = calloc(1, sizeof *s);
    char *nm = strdup(name ? name : "<memory>");
    if (!s || !nm) {
        free(s); free(nm);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    s->fd = -1;
    s->mem = data;
    s->owned = owned;
    s->size = size;
    s->name = nm;
    s->kind = LB_SRC_MEM;
    s->refs = 1;
    *out = s;
    return LB_OK;
}

int lb_src_mem(lb_src **out, const void *data, uint64_t size, const char *name, lb_err *err)
{
    return src_mem(out, data, size, name, NULL, err);
}

int lb_src_mem_owned(lb_src **out, void *data, uint64_t size, const char *name, lb_err *err)
{
    int rc = src_mem(out, data, size, name, data, err);
    if (rc) free(data);
    return rc;
}

void lb_src_close(lb_src *s)
{
    if (!s || --s->refs > 0) return;
    if (s->fd >= 0) close(s->fd);
    lb_src_close(s->parent);
    free(s->owned);
    free(s->name);
    free(s);
}

uint64_t lb_src_size(const lb_src *s) { return s->size; }
const char *lb_src_name(const lb_src *s) { return s->name; }
const uint8_t *lb_src_memptr(const lb_src *s) { return s->mem; }
int lb_src_kind(const lb_src *s) { return s->kind; }

int lb_src_sub(lb_src **out, lb_src *parent, uint64_t off, uint64_t size, const char *name,
               lb_err *err)
{
    *out = NULL;
    uint64_t end;
    if (lb_add64(off, size, &end) || end > parent->size)
        return lb_err_set(err, LB_EFORMAT, off,
                          "window of %llu bytes at %llu runs past the end of '%.200s' (%llu bytes)",
                          (unsigned long long)size, (unsigned long long)off, parent->name,
                          (unsigned long long)parent->size);
    lb_src *s = calloc(1, sizeof *s);
    char *nm = strdup(name ? name : parent->name);
    if (!s || !nm) {
        free(s); free(nm);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    /* a window of a window reads straight from the outermost source */
    if (parent->kind == LB_SRC_SUB) {
        off += parent->base;
        parent = parent->parent;
    }
    s->fd = -1;
    s->mem = parent->mem ? parent->mem + off : NULL;
    s->size = size;
    s->name = nm;
    s->kind = LB_SRC_SUB;
    s->refs = 1;
    s->parent = parent;
    s->base = off;
    parent->refs++;
    *out = s;
    return LB_OK;
}

/* Unlinked at once: nothing is left behind, whatever happens to the process. */
static int tmp_fd(void)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    int fd;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
#endif
    char path[4096];
    snprintf(path, sizeof path, "%s/lowbit-tmp.XXXXXX", dir);
    fd = mkstemp(path);
    if (fd < 0) return -1;
    unlink(path);
    return fd;
}

int lb_src_tmpfile(lb_src **out, const char *name, lb_err *err)
{
    *out = NULL;
    int fd = tmp_fd();
    if (fd < 0) {
        int e = errno;
        const char *dir = getenv("TMPDIR");
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "cannot create a temporary file in '%s': %s",
                          dir && *dir ? dir : "/tmp", strerror(e));
    }
    lb_src *s = calloc(1, sizeof *s);
    char *nm = strdup(name ? name : "<temporary>");
    if (!s || !nm) {
        free(s); free(nm); close(fd);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    s->fd = fd;
    s->name = nm;
    s->kind = LB_SRC_TMP;
    s->refs = 1;
    *out = s;
    return LB_OK;
}

int lb_src_append(lb_src *s, const void *data, size_t n, lb_err *err)
{
    if (s->kind != LB_SRC_TMP)
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "'%.200s' is not a temporary source", s->name);
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(s->fd, (const uint8_t *)data + done, n - done, (off_t)(s->size + done));
        if (w < 0) {
            if (errno == EINTR) continue;
            return lb_err_set(err, LB_EIO, s->size + done, "cannot write temporary copy of '%.200s': %s",
                              s->name, strerror(errno));
        }
        done += (size_t)w;
    }
    s->size += n;
    return LB_OK;
}

int lb_src_read_some(lb_src *s, uint64_t off, void *buf, size_t n, size_t *got, lb_err *err)
{
    *got = 0;
    if (off >= s->size || n == 0) return LB_OK;
    if ((uint64_t)n > s->size - off) n = (size_t)(s->size - off);
    if (s->kind == LB_SRC_SUB && !s->mem) {
        return lb_src_read_some(s->parent, s->base + off, buf, n, got, err);
    }
    if (s->fd < 0) {
        memcpy(buf, s->mem + off, n);
        *got = n;
        return LB_OK;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(s->fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return lb_err_set(err, LB_EIO, off + done, "read error: %s", strerror(errno));
        }
        if (r == 0) break;   /* file shrank under us */
        done += (size_t)r;
    }
    *got = done;
    return LB_OK;
}

int lb_src_read(lb_src *s, uint64_t off, void *buf, size_t n, lb_err *err)
{
    size_t got;
    LB_TRY(lb_src_read_some(s, off, buf, n, &got, err));
    if (got != n)
        return lb_err_set(err, LB_EFORMAT, off,
                          "truncated: need %zu bytes, file ends at %llu", n,
                          (unsigned long long)s->size);
    return LB_OK;
}

void lb_src_done(lb_src *s, uint64_t off, uint64_t n)
{
    if (s && s->kind == LB_SRC_SUB) {
        lb_src_done(s->parent, s->base + off, n);
        return;
    }
#ifdef POSIX_FADV_DONTNEED
    if (s && s->fd >= 0) posix_fadvise(s->fd, (off_t)off, (off_t)n, POSIX_FADV_DONTNEED);
#else
    (void)s; (void)off; (void)n;
#endif
}

/* ---- cursor ----------------------------------------------------------------- */

#define CUR_WINDOW 65536

int lb_cur_init(lb_cur *c, lb_src *s, uint64_t pos, uint64_t end, lb_err *err)
{
    memset(c, 0, sizeof *c);
    c->src = s;
    c->pos = pos;
    c->end = end < lb_src_size(s) ? end : lb_src_size(s);
    c->err = err;
    c->what = "header";
    if (!lb_src_memptr(s)) {
        c->buf = malloc(CUR_WINDOW);
        if (!c->buf) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        c->buf_cap = CUR_WINDOW;
    }
    return LB_OK;
}

void lb_cur_free(lb_cur *c)
{
    free(c->buf);
    c->buf = NULL;
}

uint64_t lb_cur_left(const lb_cur *c) { return c->pos < c->end ? c->end - c->pos : 0; }

static int cur_short(lb_cur *c, uint64_t n)
{
    return lb_err_set(c->err, LB_EFORMAT, c->pos,
                      "truncated %s: need %llu bytes, %llu left", c->what,
                      (unsigned long long)n, (unsigned long long)lb_cur_left(c));
}

int lb_cur_bytes(lb_cur *c, void *dst, size_t n)
{
    if ((uint64_t)n > lb_cur_left(c)) return cur_short(c, n);
    const uint8_t *mem = lb_src_memptr(c->src);
    if (mem) {
        memcpy(dst, mem + c->pos, n);
        c->pos += n;
        return LB_OK;
    }
    uint8_t *d = dst;
    while (n) {
        if (c->pos >= c->buf_off && c->pos < c->buf_off + c->buf_len) {
            size_t at = (size_t)(c->pos - c->buf_off);
            size_t k = c->buf_len - at < n ? c->buf_len - at : n;
            memcpy(d, c->buf + at, k);
            d += k; n -= k; c->pos += k;
            continue;
        }
        if (n >= c->buf_cap) {     /* big read: go direct */
            LB_TRY(lb_src_read(c->src, c->pos, d, n, c->err));
            c->pos += n;
            return LB_OK;
        }
        size_t got;
        LB_TRY(lb_src_read_some(c->src, c->pos, c->buf, c->buf_cap, &got, c->err));
        if (got == 0) return cur_short(c, n);
        c->buf_off = c->pos;
        c->buf_len = got;
    }
    return LB_OK;
}

int lb_cur_skip(lb_cur *c, uint64_t n)
{
    if (n > lb_cur_left(c)) return cur_short(c, n);
    c->pos += n;
    return LB_OK;
}

int lb_cur_u8(lb_cur *c, uint8_t *v) { return lb_cur_bytes(c, v, 1); }
int lb_cur_u16(lb_cur *c, uint16_t *v)
{ uint8_t b[2]; LB_TRY(lb_cur_bytes(c, b, 2)); *v = lb_ld16(b); return LB_OK; }
int lb_cur_u32(lb_cur *c, uint32_t *v)
{ uint8_t b[4]; LB_TRY(lb_cur_bytes(c, b, 4)); *v = lb_ld32(b); return LB_OK; }
int lb_cur_u64(lb_cur *c, uint64_t *v)
{ uint8_t b[8]; LB_TRY(lb_cur_bytes(c, b, 8)); *v = lb_ld64(b); return LB_OK; }

int lb_cur_str64(lb_cur *c, char **s, uint64_t *len, uint64_t max)
{
    uint64_t at = c->pos, n;
    *s = NULL;
    LB_TRY(lb_cur_u64(c, &n));
    if (n > max)
        return lb_err_set(c->err, LB_EFORMAT, at, "%s: string length %llu exceeds limit %llu",
                          c->what, (unsigned long long)n, (unsigned long long)max);
    if (n > lb_cur_left(c))
        return lb_err_set(c->err, LB_EFORMAT, at, "%s: string length %llu runs past end of file",
                          c->what, (unsigned long long)n);
    char *p = malloc((size_t)n + 1);
    if (!p) return lb_err_set(c->err, LB_EIO, at, "out of memory");
    int rc = lb_cur_bytes(c, p, (size_t)n);
    if (rc) { free(p); return rc; }
    p[n] = 0;
    *s = p;
    if (len) *len = n;
    return LB_OK;
}

/* ---- outputs ---------------------------------------------------------------- */

#define OUT_BUF (1u << 20)
#define MAX_TEMPS 16

struct lb_out {
    int fd;
    int is_stdout;
    int direct;          /* an existing device or FIFO, written in place: no temp, no rename */
    int seekable;
    char *path, *tmp;
    uint8_t *buf;
    size_t blen;
    uint64_t pos;        /* bytes written so far (incl. buffered) */
};

/* Temporaries to unlink from a signal handler: fixed array, no allocation. */
static char *volatile temps[MAX_TEMPS];

static void temps_add(char *p)
{
    for (int i = 0; i < MAX_TEMPS; i++)
        if (!temps[i]) { temps[i] = p; return; }
}

static void temps_del(const char *p)
{
    for (int i = 0; i < MAX_TEMPS; i++)
        if (temps[i] == p) temps[i] = NULL;
}

void lb_out_cleanup_on_signal(void)
{
    for (int i = 0; i < MAX_TEMPS; i++)
        if (temps[i]) unlink(temps[i]);
}

int lb_out_open(lb_out **out, const char *path, int flags, lb_err *err)
{
    *out = NULL;
    lb_out *o = calloc(1, sizeof *o);
    if (!o || !(o->buf = malloc(OUT_BUF))) {
        free(o);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    if (strcmp(path, "-") == 0) {
        if (isatty(1)) {
            free(o->buf); free(o);
            return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET,
                              "refusing to write binary data to a terminal");
        }
        o->fd = 1;
        o->is_stdout = 1;
        o->path = strdup("-");
        *out = o;
        return LB_OK;
    }
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        free(o->buf); free(o);
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "is a directory");
    }
    /* A character device (/dev/null) or a FIFO is written in place, never replaced by a
     * renamed file; a block device only with LB_OUT_FORCE. */
    if (exists && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode) || (S_ISBLK(st.st_mode) && (flags & LB_OUT_FORCE)))) {
        o->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->fd < 0 || !(o->path = strdup(path))) {
            int e = errno;
            if (o->fd >= 0) close(o->fd);
            free(o->buf); free(o);
            return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "cannot open: %s", strerror(e));
        }
        if (isatty(o->fd)) {   /* the same refusal as for "-" on a terminal */
            close(o->fd); free(o->path); free(o->buf); free(o);
            return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "refusing to write binary data to a terminal");
        }
        o->direct = 1;
        o->seekable = !S_ISFIFO(st.st_mode) && lseek(o->fd, 0, SEEK_CUR) == 0;
        *out = o;
        return LB_OK;
    }
    if (!(flags & LB_OUT_FORCE) && lstat(path, &st) == 0) {
        free(o->buf); free(o);
        return lb_err_set(err, LB_EUSAGE, LB_NO_OFFSET, "already exists (use -f to overwrite)");
    }
    size_t n = strlen(path);
    o->path = strdup(path);
    o->tmp = malloc(n + 16);
    if (!o->path || !o->tmp) {
        free(o->path); free(o->tmp); free(o->buf); free(o);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    /* temp beside the target so the final rename is atomic (same filesystem) */
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path + 1) : 0;
    snprintf(o->tmp, n + 16, "%.*s.%s.XXXXXX", (int)dir, path, path + dir);
    o->fd = mkstemp(o->tmp);
    if (o->fd < 0) {
        int e = errno;
        free(o->path); free(o->tmp); free(o->buf); free(o);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "cannot create: %s", strerror(e));
    }
    mode_t um = umask(0);     /* mkstemp makes 0600; outputs are ordinary files */
    umask(um);
    fchmod(o->fd, 0666 & ~um);
    temps_add(o->tmp);
    o->seekable = 1;
    *out = o;
    return LB_OK;
}

static int out_flush(lb_out *o, lb_err *err)
{
    size_t done = 0;
    while (done < o->blen) {
        ssize_t w = write(o->fd, o->buf + done, o->blen - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            return lb_err_set(err, LB_EIO, o->pos - o->blen + done, "write error: %s",
                              strerror(errno));
        }
        done += (size_t)w;
    }
    o->blen = 0;
    return LB_OK;
}

int lb_out_write(lb_out *o, const void *data, size_t n, lb_err *err)
{
    const uint8_t *p = data;
    while (n) {
        size_t k = OUT_BUF - o->blen < n ? OUT_BUF - o->blen : n;
        memcpy(o->buf + o->blen, p, k);
        o->blen += k; o->pos += k; p += k; n -= k;
        if (o->blen == OUT_BUF) LB_TRY(out_flush(o, err));
    }
    return LB_OK;
}

int lb_out_zeros(lb_out *o, uint64_t n, lb_err *err)
{
    static const uint8_t z[4096];
    while (n) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        LB_TRY(lb_out_write(o, z, k, err));
        n -= k;
    }
    return LB_OK;
}

uint64_t lb_out_tell(const lb_out *o) { return o->pos; }
int lb_out_seekable(const lb_out *o) { return o->seekable; }

int lb_out_patch(lb_out *o, uint64_t off, const void *data, size_t n, lb_err *err)
{
    if (!o->seekable) return lb_err_set(err, LB_EUSAGE, off, "output is not seekable");
    LB_TRY(out_flush(o, err));
    if (pwrite(o->fd, data, n, (off_t)off) != (ssize_t)n)
        return lb_err_set(err, LB_EIO, off, "write error: %s", strerror(errno));
    return LB_OK;
}

int lb_out_reserve(lb_out *o, uint64_t n, uint64_t *off, lb_err *err)
{
    if (!o->seekable) return lb_err_set(err, LB_EUSAGE, o->pos, "output is not seekable");
    LB_TRY(out_flush(o, err));
    *off = o->pos;
    if (lseek(o->fd, (off_t)n, SEEK_CUR) < 0)
        return lb_err_set(err, LB_EIO, o->pos, "seek: %s", strerror(errno));
    o->pos += n;
    return LB_OK;
}

int lb_out_pwrite(lb_out *o, uint64_t off, const void *data, size_t n, lb_err *err)
{
    const uint8_t *p = data;
    while (n) {
        ssize_t w = pwrite(o->fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return lb_err_set(err, LB_EIO, off, "write error: %s", strerror(errno));
        }
        p += w; off += (uint64_t)w; n -= (size_t)w;
    }
    return LB_OK;
}

static void out_free(lb_out *o)
{
    if (o->tmp) temps_del(o->tmp);
    free(o->path);
    free(o->tmp);
    free(o->buf);
    free(o);
}

int lb_out_commit(lb_out *o, lb_err *err)
{
    int rc = out_flush(o, err);
    if (o->is_stdout || o->direct) {
        if (o->direct && close(o->fd) != 0 && !rc)
            rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "close: %s", strerror(errno));
        out_free(o);
        return rc;
    }
    if (!rc && fsync(o->fd) != 0 && errno != EINVAL)
        rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "fsync: %s", strerror(errno));
    if (close(o->fd) != 0 && !rc)
        rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "close: %s", strerror(errno));
    o->fd = -1;
    if (!rc && rename(o->tmp, o->path) != 0)
        rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "cannot rename into place: %s", strerror(errno));
    if (rc) unlink(o->tmp);
    out_free(o);
    return rc;
}

int lb_out_write_file(const char *path, const void *data, size_t n, int flags, lb_err *err)
{
    lb_out *o;
    LB_TRY(lb_out_open(&o, path, flags, err));
    int rc = lb_out_write(o, data, n, err);
    if (rc) {
        lb_out_abort(o);
        return rc;
    }
    return lb_out_commit(o, err);
}

void lb_out_abort(lb_out *o)
{
    if (!o) return;
    if (o->direct) close(o->fd);
    else if (!o->is_stdout) {
        if (o->fd >= 0) close(o->fd);
        unlink(o->tmp);
    }
    out_free(o);
}
