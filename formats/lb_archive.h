/* lb_archive.h: weight files and HF-style folders inside archives, read in place through
 * libarchive (docs/formats-archives.md).
 *
 * Containers: tar (ustar, pax, GNU, v7) plain or compressed with gzip, xz, zstd or bzip2;
 * zip; 7z; and a single gzip/xz/zstd/bzip2-compressed model file (libarchive "raw").
 * Nothing is unpacked to disk by name:
 *   - an entry stored uncompressed and contiguous (plain tar) becomes a window of the archive
 *     file (lb_src_sub: zero copy, pread), checked by comparing its first bytes and the
 *     position of the next header;
 *   - any other entry is streamed into an unlinked temporary file in $TMPDIR
 *     (lb_src_tmpfile), bounded by lb_archive_limits.max_temp_bytes in total;
 *   - a model.safetensors.index.json is read into memory (at most max_mem_entry bytes).
 * The archive is read at most twice: one listing pass, one pass copying the entries needed.
 *
 * Which model: a model.safetensors.index.json (its shards are entries beside it), else one
 * entry named model.safetensors, else model.gguf, else the one entry whose first 4 KiB a
 * registered format bids on (the archive format itself excluded: no nesting).
 * Entry names that are absolute or hold a ".." component make the whole archive refused.
 *
 * Zip-format rule: some zips are a format of their own, not archives of weight files:
 * a torch.save checkpoint (an entry "data.pkl" or "<dir>/data.pkl") and a NumPy .npz
 * (every entry "*.npy"). The archive bid on a zip whose first entry looks like one is only
 * LB_ARCHIVE_BID_ZIP_FORMAT (so a reader of that format bidding higher wins), and open()
 * hands the whole file to a registered format named "pytorch" / "npz" if there is one,
 * else fails with "PyTorch zip checkpoint (entry '...'): reading those is not yet
 * supported" (or "NumPy .npz archive ..."). The rules are the zip_kinds[] table in
 * archive.c: one row per format.
 *
 * The model returned has the inner format's name ("safetensors", "gguf",
 * "safetensors-sharded"); its files are named "<archive path>/<entry name>". */
#ifndef LB_ARCHIVE_H
#define LB_ARCHIVE_H

#include "lb_model.h"

#define LB_ARCHIVE_BID          50   /* zip, 7z, gzip, xz, zstd magic */
#define LB_ARCHIVE_BID_TAR      40   /* a tar header with a valid checksum */
#define LB_ARCHIVE_BID_ZIP_FORMAT 10 /* a zip whose first entry is .../data.pkl or *.npy */

typedef struct lb_archive_limits {
    uint64_t max_temp_bytes;  /* total bytes copied to temporary files per open (64 GiB) */
    uint64_t max_mem_entry;   /* largest index JSON read into memory (64 MiB) */
    uint64_t max_entries;     /* entries listed before the archive is refused (1,000,000) */
} lb_archive_limits;

typedef struct lb_archive_stats {
    uint64_t entries;         /* regular file entries listed */
    uint64_t in_place;        /* entries opened as windows of the archive file (zero copy) */
    uint64_t copied;          /* entries copied to temporary files */
    uint64_t copied_bytes;    /* bytes copied to temporary files */
    uint64_t in_memory;       /* entries read into memory (index JSON) */
    int      passes;          /* reads of the archive: 1 listing pass, +1 if anything was copied */
} lb_archive_stats;

extern const lb_format lb_fmt_archive;

/* Built-in defaults (above). */
lb_archive_limits lb_archive_default_limits(void);
/* Set the limits lb_model_open uses (process-wide; a tool sets them once from its options).
 * NULL restores the defaults. */
void lb_archive_set_limits(const lb_archive_limits *lim);

int lb_archive_bid(const uint8_t *head, size_t n, uint64_t size);
/* The lb_format open: the limits set by lb_archive_set_limits. */
int lb_archive_open(lb_model *m, lb_src *src, const char *path, lb_err *err);
/* Same with explicit limits (NULL: current ones) and optional stats. Takes ownership of
 * src on success and failure, like every format open. */
int lb_archive_open_with(lb_model *m, lb_src *src, const char *path, const lb_archive_limits *lim,
                         lb_archive_stats *stats, lb_err *err);

/* Side files (config.json, tokenizer.model, tokenizer_config.json ...) of a model opened
 * from an archive: read the entry `name` in the same archive folder as the model's first
 * file, whole, into a malloc'd buffer (NUL-terminated; *len excludes the NUL). Bounded:
 * an entry larger than max bytes is refused. LB_EUSAGE if m was not opened from an archive,
 * LB_EFORMAT "no entry 'd/config.json' in the archive" if absent. One more pass over the
 * archive (streaming; nothing copied to disk). */
int lb_archive_sidecar(const lb_model *m, const char *name, uint64_t max, void **data, size_t *len,
                       lb_err *err);
/* 1 if m was opened from an archive (its files are "<archive>/<entry>"). */
int lb_archive_model_is(const lb_model *m);

/* The PyTorch rule on one entry name: 1 for "data.pkl" or "<dir>/data.pkl". */
int lb_archive_torch_entry(const char *name);

#endif
