/* scan_int.h: what the pickle and archive passes of the scanner share (verify/scan_pickle.c,
 * scan_archive.c, scan_decode.c). Not part of the public lb_scan.h interface. */
#ifndef LB_SCAN_INT_H
#define LB_SCAN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lb_scan.h"

#define LBS_FILE_MAX   ((uint64_t)1 << 30)   /* bytes of a bare pickle / npy / 7z read into memory */
#define LBS_ENTRY_MAX  ((uint64_t)1 << 30)   /* bytes of one archive entry or decoded payload */
#define LBS_MAX_NEST   10                    /* layers: containers, pickles, encodings, compressions */

/* A buffer being scanned and how its offsets map to the file. */
typedef struct lbs_where {
    const char *entry;    /* archive entry path ("" for the file itself) */
    uint64_t    base;     /* file offset of the buffer's first byte (exact), else of what holds it */
    int         exact;    /* buffer offsets map to file offsets (the file, a stored entry) */
    char        chain[160]; /* how the buffer was decoded ("base64, then zlib"), "" if raw */
} lbs_where;

uint64_t lbs_file_off(const lbs_where *w, uint64_t off);
/* " (in entry 'x')", " (decoded from hex, then zlib, in entry 'x')", or "". */
const char *lbs_in(char *buf, size_t cap, const lbs_where *w, uint64_t off);
/* A where for a buffer decoded from what w holds at off: chain extended by how. */
void lbs_decoded(lbs_where *out, const lbs_where *w, uint64_t off, const char *how);

/* Spend n units of the file's work budget (r->work); 0 if granted, -1 (with one
 * SCAN_INCOMPLETE finding) once it runs out. */
int  lbs_charge(lb_scan_file *r, uint64_t n);
/* The one SCAN_INCOMPLETE finding for a reason (unscannable: the verdict is never clean). */
void lbs_incomplete(lb_scan_file *r, uint64_t off, const char *why, const lbs_where *w);

/* scan_archive.c: anything by content (zip, 7z, npy, compressed stream, pickle). Returns 1
 * if it recognised the content. top: the buffer is the whole file (sets r->format). */
int  lbs_blob(lb_scan_file *r, const uint8_t *d, size_t n, const lbs_where *w, int depth, int top);
int  lbs_is_container(const uint8_t *d, size_t n);   /* zip, 7z or npy magic */

/* scan_pickle.c */
extern const uint8_t lbs_legacy_magic[14];   /* torch.save's legacy format: protocol 2, magic number */
int  lbs_first_op(uint8_t c);   /* c can start a pickle stream (valid on an empty stack) */
/* Every pickle stream in d[0..n), one after the other. Returns 1 if d held a pickle. */
int  lbs_pickle_buf(lb_scan_file *r, const uint8_t *d, size_t n, const lbs_where *w, int depth, const char *via);
/* Pickles, archives and compressed streams hidden in a string or bytes value, raw or as
 * hex / base64 / latin-1 text, layer under layer. Returns 1 if something was found.
 * raw_pickles 0: a pickle right at d[0] is left to the sweep that already looked there. */
int  lbs_payload(lb_scan_file *r, const uint8_t *d, size_t n, const lbs_where *w, int depth, int raw_pickles);

/* scan_decode.c: decoders. Each returns a malloc'd, NUL-terminated buffer (*out, *outn),
 * or NULL when the input is not that encoding or nothing decodes. */
enum { LBS_Z_NONE = 0, LBS_Z_ZLIB, LBS_Z_GZIP, LBS_Z_DEFLATE, LBS_Z_BZIP2, LBS_Z_XZ, LBS_Z_LZMA, LBS_Z_ZSTD };
int         lbs_compression(const uint8_t *d, size_t n);   /* by magic; LBS_Z_NONE if none */
const char *lbs_compression_name(int kind);
/* Decompress at most max bytes. *status: 0 complete, 1 the stream is cut or corrupt (what
 * came before is returned), 2 stopped at max. NULL if nothing came out. */
uint8_t *lbs_decompress(int kind, const uint8_t *d, size_t n, uint64_t max, size_t *outn, int *status);
/* Hex digits (whitespace between byte pairs allowed), the whole of s[0..n). */
uint8_t *lbs_hex(const uint8_t *s, size_t n, size_t *outn);
/* Base64, standard or URL-safe alphabet, line breaks and '=' padding allowed, all of s. */
uint8_t *lbs_base64(const uint8_t *s, size_t n, size_t *outn);
/* UTF-8 text holding code points U+0080..U+00FF and none above: its latin-1 bytes (how
 * Python 3 pickles bytes for protocols 0-2: _codecs.encode(text, 'latin1')). */
uint8_t *lbs_latin1(const uint8_t *s, size_t n, size_t *outn);
/* Character classes of the text decoders: a table, since the text sweep asks per byte. */
enum { LBS_C_B64 = 1, LBS_C_HEX = 2, LBS_C_SPACE = 4 };
extern const uint8_t lbs_class[256];
static inline int lbs_is_hex(uint8_t c) { return (lbs_class[c] & LBS_C_HEX) != 0; }
static inline int lbs_is_b64(uint8_t c) { return (lbs_class[c] & LBS_C_B64) != 0; }

#endif
