/* lb_zip.h: a small strict zip reader over a read callback (memory buffer or lb_src).
 *
 * Layout read (APPNOTE.TXT): [local header + data]... central directory, optional zip64
 * end record + locator, end-of-central-directory record (EOCD) + comment.
 * Strict: one disk; the central directory ends where the EOCD (or zip64 record) starts;
 * entry count bounded by the directory size before allocating; names non-empty, unique,
 * relative, without '..' components, backslashes or NULs; each local header's name, and
 * (without a data descriptor) its CRC and sizes, match the central directory; entries lie
 * inside the file, before the central directory, and do not overlap. Encrypted entries
 * (flag bit 0) are listed but refused when read; stored entries give an in-place data
 * offset; deflated entries inflate into a buffer bounded by the declared size, which is
 * itself bounded by the caller and by deflate's maximum ratio; CRC-32 is checked on
 * every full read.
 *
 * Ownership: the lb_zip owns its entries and names until lb_zip_close. */
#ifndef LB_ZIP_H
#define LB_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "lb_error.h"
#include "lb_io.h"

/* Read exactly n bytes at off into buf; LB_OK or an error code (filling err). */
typedef int (*lb_zip_read_fn)(void *ctx, uint64_t off, void *buf, size_t n, lb_err *err);

typedef struct lb_zip_entry {
    const char *name;
    uint16_t flags;         /* general-purpose bit flags (bit 0 encrypted, bit 3 data descriptor) */
    uint16_t method;        /* 0 stored, 8 deflated (others listed, refused on read) */
    uint32_t crc32;
    uint64_t csize, usize;  /* compressed / uncompressed bytes (zip64 values when present) */
    uint64_t local_offset;  /* local file header */
    uint64_t data_offset;   /* first byte of the entry's (compressed) data */
    int      encrypted;     /* flag bit 0 */
    int      name_mismatch; /* local header name differs (only with LB_ZIP_ALLOW_NAME_MISMATCH) */
    /* LB_ZIP_LENIENT only: what the strict reader would have refused (LB_ZIP_A_* bits) */
    unsigned    anomalies;
    const char *unsafe_name;  /* why the name is unsafe ("path traversal ('..' component)"), or NULL */
    char        problem[160]; /* LB_ZIP_A_BAD_LOCAL: why the entry cannot be read */
} lb_zip_entry;

/* Entry anomalies noted in lenient mode. */
enum {
    LB_ZIP_A_UNSAFE_NAME = 1,   /* absolute, '..', backslash, NUL, drive letter, empty */
    LB_ZIP_A_DUP_NAME = 2,      /* a second entry of the same name */
    LB_ZIP_A_OVERLAP = 4,       /* shares bytes with another entry */
    LB_ZIP_A_LOCAL_DIFFERS = 8, /* local header method, CRC or sizes differ from the central ones */
    LB_ZIP_A_SIZES = 16,        /* stored, not encrypted, compressed size != size */
    LB_ZIP_A_BAD_LOCAL = 32     /* local header missing or data outside the archive: unreadable */
};

typedef struct lb_zip lb_zip;

enum {
    /* Read entries flagged encrypted as plaintext (PyTorch ignores the bit; a scanner
     * that wants to see what torch.load sees sets this). */
    LB_ZIP_ALLOW_ENCRYPTED_FLAG = 1,
    /* Accept a local header name that differs from the central directory name (the
     * central name is used, as PyTorch does); the entry is marked name_mismatch. */
    LB_ZIP_ALLOW_NAME_MISMATCH = 2,
    /* The scanner's view: read what some loader would read. Implies both flags above;
     * problems of one entry (see LB_ZIP_A_*) are noted on it instead of refusing the archive,
     * and lb_zip_read does not check CRC-32 (the caller compares entry->crc32 itself). */
    LB_ZIP_LENIENT = 4
};

/* Open a zip of `size` bytes read through read(ctx, ...). flags: LB_ZIP_ALLOW_*. */
int  lb_zip_open(lb_zip **out, lb_zip_read_fn read, void *ctx, uint64_t size, int flags, lb_err *err);
/* Same over memory (not copied; must outlive the lb_zip). */
int  lb_zip_open_mem(lb_zip **out, const void *data, size_t size, int flags, lb_err *err);
/* Same over an lb_src (not owned; must outlive the lb_zip). */
int  lb_zip_open_src(lb_zip **out, lb_src *src, int flags, lb_err *err);
void lb_zip_close(lb_zip *z);   /* NULL is a no-op */

size_t lb_zip_count(const lb_zip *z);
const lb_zip_entry *lb_zip_entry_at(const lb_zip *z, size_t i);
/* Entry named exactly name, or NULL. */
const lb_zip_entry *lb_zip_find(const lb_zip *z, const char *name);
/* Entry whose name is suffix or ends with "/" + suffix (e.g. "data.pkl" finds
 * "archive/data.pkl"); NULL if none; LB_EFORMAT if several match. */
int  lb_zip_find_suffix(const lb_zip *z, const char *suffix, const lb_zip_entry **e, lb_err *err);

/* Read a whole entry into a malloc'd buffer (*data, *len; a NUL follows the data).
 * Refused: declared size > max, encrypted, unknown method. Checked: exact size and CRC. */
int  lb_zip_read(lb_zip *z, const lb_zip_entry *e, uint64_t max, uint8_t **data, size_t *len, lb_err *err);
/* The entry's csize stored bytes as they are in the archive (compressed, or encrypted),
 * whatever its method and flags; malloc'd, NUL-terminated. Refused: csize > max. */
int  lb_zip_read_raw(lb_zip *z, const lb_zip_entry *e, uint64_t max, uint8_t **data, size_t *len, lb_err *err);
/* n bytes at byte off of the entry's stored bytes (compressed or not), bounds-checked. */
int  lb_zip_read_raw_at(lb_zip *z, const lb_zip_entry *e, uint64_t off, void *buf, size_t n, lb_err *err);
/* Read n bytes at byte off of a stored (method 0) entry, bounds-checked, no CRC. */
int  lb_zip_read_at(lb_zip *z, const lb_zip_entry *e, uint64_t off, void *buf, size_t n, lb_err *err);

#endif
