/* lb_io.h: byte sources (file or memory), a bounds-checked parsing cursor, and
 * atomic output sinks.
 *
 * Offsets and sizes of files are uint64_t everywhere (32-bit hosts included).
 * Reads go through pread into caller buffers: nothing maps a whole model, so a pass
 * over a large file does not keep it resident. */
#ifndef LB_IO_H
#define LB_IO_H

#include <stddef.h>
#include <stdint.h>

#include "lb_error.h"

/* ---- sources -------------------------------------------------------------- */

typedef struct lb_src lb_src;

/* Open a regular file for reading. name is used in messages (kept by the source). */
int  lb_src_open(lb_src **out, const char *path, lb_err *err);
/* A source over caller memory (not copied; must outlive the source). */
int  lb_src_mem(lb_src **out, const void *data, uint64_t size, const char *name, lb_err *err);
/* A source that owns a malloc'd buffer (freed with the source). */
int  lb_src_mem_owned(lb_src **out, void *data, uint64_t size, const char *name, lb_err *err);
void lb_src_close(lb_src *s);          /* NULL is a no-op */
uint64_t    lb_src_size(const lb_src *s);
const char *lb_src_name(const lb_src *s);
/* Read exactly n bytes at off. Short read: LB_EFORMAT "truncated: ..." at off. */
int  lb_src_read(lb_src *s, uint64_t off, void *buf, size_t n, lb_err *err);
/* Read up to n bytes at off; sets *got (0 at EOF). */
int  lb_src_read_some(lb_src *s, uint64_t off, void *buf, size_t n, size_t *got, lb_err *err);
/* Direct pointer into a memory source (NULL for files). */
const uint8_t *lb_src_memptr(const lb_src *s);
/* Hint that [off, off+n) will not be needed again (drops cached pages of files). */
void lb_src_done(lb_src *s, uint64_t off, uint64_t n);

/* What backs a source (for callers and tests that care whether data was copied). */
enum lb_src_kind { LB_SRC_FILE = 1, LB_SRC_MEM = 2, LB_SRC_SUB = 3, LB_SRC_TMP = 4 };
int  lb_src_kind(const lb_src *s);
/* A read-only window [off, off+size) of parent, zero copy (LB_EFORMAT if it does not fit).
 * Sources are refcounted: the window holds a reference, so the parent may be closed
 * before it (the count is not atomic: open and close sources from one thread; reads may
 * run in parallel). A window of a memory source has a memptr. */
int  lb_src_sub(lb_src **out, lb_src *parent, uint64_t off, uint64_t size, const char *name,
                lb_err *err);
/* An empty temporary file in $TMPDIR (default /tmp), unlinked at once, so it vanishes
 * with the source (or the process). Fill it with lb_src_append, then read it. */
int  lb_src_tmpfile(lb_src **out, const char *name, lb_err *err);
/* Append n bytes to a temporary source (LB_EUSAGE for any other kind). */
int  lb_src_append(lb_src *s, const void *data, size_t n, lb_err *err);

/* ---- cursor: sequential little-endian parsing with a small read-ahead buffer ---- */

typedef struct lb_cur {
    lb_src  *src;
    uint64_t pos;      /* absolute offset of the next byte */
    uint64_t end;      /* parsing may not go past this (<= source size) */
    lb_err  *err;
    uint8_t *buf;      /* read-ahead window */
    uint64_t buf_off;
    size_t   buf_len, buf_cap;
    const char *what;  /* section being parsed, for messages ("tensor info") */
} lb_cur;

int  lb_cur_init(lb_cur *c, lb_src *s, uint64_t pos, uint64_t end, lb_err *err);
void lb_cur_free(lb_cur *c);
/* Each reader returns LB_OK or an error naming c->what and the offset. */
int  lb_cur_bytes(lb_cur *c, void *dst, size_t n);
int  lb_cur_skip(lb_cur *c, uint64_t n);
int  lb_cur_u8(lb_cur *c, uint8_t *v);
int  lb_cur_u16(lb_cur *c, uint16_t *v);
int  lb_cur_u32(lb_cur *c, uint32_t *v);
int  lb_cur_u64(lb_cur *c, uint64_t *v);
/* Bytes left before c->end. */
uint64_t lb_cur_left(const lb_cur *c);
/* A length-prefixed (u64) string of at most max bytes: malloc'd, NUL-terminated; *len set. */
int  lb_cur_str64(lb_cur *c, char **s, uint64_t *len, uint64_t max);

/* ---- output sinks ----------------------------------------------------------- */

typedef struct lb_out lb_out;

enum { LB_OUT_FORCE = 1 };
/* Open an output. path "-" is stdout (refused if it is a terminal). An existing
 * character device or FIFO (/dev/null) is written in place, a block device only with
 * LB_OUT_FORCE; a directory is refused. Any other path is written to a temporary file in the same folder and renamed over path by
 * lb_out_commit; lb_out_abort (or a crash/signal, via lb_out_cleanup_on_signal)
 * removes the temporary. An existing path is refused (LB_EUSAGE) without LB_OUT_FORCE. */
int  lb_out_open(lb_out **out, const char *path, int flags, lb_err *err);
int  lb_out_write(lb_out *o, const void *data, size_t n, lb_err *err);
/* Write n zero bytes. */
int  lb_out_zeros(lb_out *o, uint64_t n, lb_err *err);
uint64_t lb_out_tell(const lb_out *o);
/* 1 if the output can be patched in place (a regular file), 0 for a pipe. */
int  lb_out_seekable(const lb_out *o);
/* Overwrite bytes already written at off (seekable outputs only). */
int  lb_out_patch(lb_out *o, uint64_t off, const void *data, size_t n, lb_err *err);
/* Skip n bytes ahead (seekable outputs only) and give their offset in *off: the caller
 * fills them with lb_out_pwrite, from any thread, before lb_out_commit. */
int  lb_out_reserve(lb_out *o, uint64_t n, uint64_t *off, lb_err *err);
/* Write n bytes at off (inside a reserved range); safe from several threads at once. */
int  lb_out_pwrite(lb_out *o, uint64_t off, const void *data, size_t n, lb_err *err);
/* Flush, fsync and rename into place; frees o. */
int  lb_out_commit(lb_out *o, lb_err *err);
/* A whole file in one call: open (flags as lb_out_open), write n bytes, commit; on any
 * error nothing is left at path. */
int  lb_out_write_file(const char *path, const void *data, size_t n, int flags, lb_err *err);
/* Discard: remove the temporary; frees o. NULL is a no-op. */
void lb_out_abort(lb_out *o);
/* Async-signal-safe: unlink every temporary still open (for a tool's signal handler). */
void lb_out_cleanup_on_signal(void);

#endif
