/* lb_pickle.h: a restricted pickle machine that never imports or calls anything.
 *
 * It runs the opcodes of pickle protocols 0-5 (docs/pickle.md lists them) over a memory
 * buffer and builds a value tree. Two modes:
 *   - load: for PyTorch checkpoints. GLOBAL/STACK_GLOBAL/INST resolve only against an
 *     allow-list (torch rebuild helpers, storage classes, OrderedDict, ...); any other
 *     global stops with LB_EFORMAT "refusing to load: pickle imports 'm.n' at offset N
 *     (not a tensor type)". REDUCE of an allowed callable builds a descriptor node
 *     (tensor, dict, ...), persistent ids become storage references.
 *   - scan: for auditing. Every global is recorded as (module, name, offset) and the
 *     machine keeps going as far as the stream parses; opcode counts are kept.
 * Bounds (ops, stack, marks, memo, container items, bytes allocated, nesting depth,
 * expanded size of the shared-reference graph) are configurable; see lb_pickle_opts.
 *
 * Ownership: an lb_pickle owns every node and string it hands out (one arena); all of it
 * stays valid until lb_pickle_free. Memo references are shared, not copied: the tree is a
 * DAG. In load mode it is acyclic, no node is changed after it was stored in another
 * one, and expanding every shared reference visits at most opts.max_expand nodes. A scan
 * mode tree may hold cycles (a list appended to itself): walk it with a visited set. */
#ifndef LB_PICKLE_H
#define LB_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "lb_error.h"
#include "lb_model.h"

enum lb_pk_kind {
    LB_PK_NONE = 0, LB_PK_BOOL, LB_PK_INT, LB_PK_BIGINT, LB_PK_FLOAT,
    LB_PK_STR,       /* text, UTF-8 (protocol 0-2 STRING/BINSTRING bytes kept as they are) */
    LB_PK_BYTES, LB_PK_BYTEARRAY,
    LB_PK_TUPLE, LB_PK_LIST, LB_PK_DICT, LB_PK_SET, LB_PK_FROZENSET,
    LB_PK_GLOBAL,    /* a reference to a global (load: an allowed one) */
    LB_PK_TENSOR,    /* torch._utils._rebuild_tensor(_v2) / _rebuild_parameter(_with_state) */
    LB_PK_STORAGE,   /* persistent id ('storage', cls, key, location, numel[, view]) */
    LB_PK_OBJECT,    /* any other call or instance: callable + args (+ kwargs) */
    LB_PK_PERSID,    /* scan mode: a persistent id that is not a storage reference */
    LB_PK_OPAQUE,    /* scan mode: a value the machine cannot model (EXT*, buffers, ...) */
    LB_PK_KIND_COUNT
};

typedef struct lb_pk_node lb_pk_node;
struct lb_pk_node {
    int      kind;            /* enum lb_pk_kind */
    uint32_t flags;           /* private */
    uint64_t off;             /* offset of the opcode that made it */
    uint64_t weight;          /* nodes reachable when every shared reference is expanded */
    uint32_t depth;           /* 1 + deepest child */
    union {
        int64_t i;            /* BOOL (0/1), INT */
        double  f;            /* FLOAT */
        struct {              /* STR, BYTES, BYTEARRAY; BIGINT: little-endian two's complement */
            char    *p;       /* n bytes + NUL; NULL in scan mode for long payloads */
            uint64_t n;
        } s;
        struct {              /* TUPLE LIST SET FROZENSET; DICT: items[2k] key, items[2k+1] value */
            lb_pk_node **items;
            uint64_t     n;   /* element count (DICT: pair count) */
            uint64_t     cap;
        } seq;
        struct {              /* GLOBAL */
            const char *module, *name;
            int         what; /* private: allow-list entry, or -1 */
        } glob;
        struct {              /* TENSOR */
            lb_pk_node *storage;       /* LB_PK_STORAGE */
            uint64_t    storage_offset;/* elements */
            int         ndim;
            uint64_t   *size;          /* ndim */
            int64_t    *stride;        /* ndim */
            int         requires_grad;
            int         is_param;
        } tensor;
        struct {              /* STORAGE */
            const char *cls;           /* "FloatStorage" */
            int         type;          /* enum lb_type */
            const char *key;           /* zip: data/<key>; legacy: storage key */
            const char *location;      /* "cpu", "cuda:0" */
            uint64_t    numel;         /* elements of the root storage */
            uint64_t    view_offset;   /* legacy views: element offset in the root storage */
        } storage;
        struct {              /* OBJECT, PERSID (callable NULL, args = the id) */
            lb_pk_node *callable, *args, *kwargs;
        } obj;
    } v;
    lb_pk_node *state;        /* BUILD state, or NULL */
};

/* One global reference met in the stream. */
typedef struct lb_pk_global {
    const char *module, *name;  /* as spelt in the pickle ("posix", "system"; "bdb", "Bdb.run") */
    uint64_t    off;            /* offset of the GLOBAL/STACK_GLOBAL/INST opcode */
    uint8_t     op;             /* that opcode */
    uint8_t     allowed;        /* 1 if on the load allow-list */
} lb_pk_global;

/* Scan mode: a string or bytes value worth looking inside (LB_PK_PAYLOAD_MIN bytes or more). */
#define LB_PK_PAYLOAD_MIN 8
typedef struct lb_pk_payload {
    const uint8_t *p;           /* the value's bytes: in the data (in_place) or in the arena */
    uint64_t       n;
    uint64_t       off;         /* offset of the opcode that made it */
    int            kind;        /* LB_PK_STR (UTF-8; STRING: bytes as decoded), BYTES, BYTEARRAY */
    int            in_place;    /* p points into the data given to lb_pickle_scan */
} lb_pk_payload;

typedef struct lb_pickle {
    lb_pk_node   *root;         /* the value STOP returned (NULL if the scan did not reach STOP) */
    uint64_t      start, end;   /* first byte, and one past STOP (scan error: the failing opcode) */
    int           proto;        /* highest PROTO seen, 0 if none */
    lb_pk_global *globals;      /* every global reference, in stream order */
    size_t        n_globals;
    uint64_t      n_ops;
    uint64_t      op_count[256];/* per opcode byte: REDUCE is op_count['R'] ... */
    lb_pk_payload *payloads;    /* scan mode: string and bytes values, in stream order */
    size_t        n_payloads;
    uint64_t      frame_overrun;/* scan mode: first FRAME declaring more bytes than are left,
                                 * or LB_NO_OFFSET (load mode refuses such a frame) */
    void         *priv;
} lb_pickle;

typedef struct lb_pickle_opts {
    uint64_t max_ops;     /* opcodes executed (default 1e8) */
    uint64_t max_stack;   /* values on the stack (default 1M) */
    uint64_t max_marks;   /* nested MARKs (load mode; default 256; scan: max_stack) */
    uint64_t max_memo;    /* memo entries (default 4M) */
    uint64_t max_items;   /* elements in one container (default 16M) */
    uint64_t max_alloc;   /* bytes in the arena: nodes, strings, item arrays (default 1 GiB) */
    uint64_t max_depth;   /* nesting depth of values (load mode; default 256) */
    uint64_t max_expand;  /* weight of any value (load mode; default 1<<27) */
    uint64_t base;        /* added to every reported offset (e.g. the entry's offset in a file) */
} lb_pickle_opts;

void lb_pickle_opts_default(lb_pickle_opts *o);

/* Run one pickle starting at data[pos] up to and including its STOP. Offsets reported are
 * offsets in data plus opts->base. opts NULL: defaults.
 * load: on success *out holds the tree; on error *out is NULL.
 * scan: *out is set whenever memory allowed it, even on error (globals and counts found
 *       before the error, end = offset of the failing opcode); the return code says whether
 *       the stream parsed to STOP. Free with lb_pickle_free. */
int  lb_pickle_load(lb_pickle **out, const uint8_t *data, size_t size, size_t pos,
                    const lb_pickle_opts *opts, lb_err *err);
int  lb_pickle_scan(lb_pickle **out, const uint8_t *data, size_t size, size_t pos,
                    const lb_pickle_opts *opts, lb_err *err);
void lb_pickle_free(lb_pickle *p);   /* NULL is a no-op */

/* ---- the allow-list ---- */

/* 1 if module.name is on the load allow-list. */
int lb_pickle_allowed(const char *module, const char *name);
/* lb_type of a torch storage class name ("FloatStorage", "UntypedStorage"), or -1. */
int lb_pickle_storage_type(const char *cls);

/* ---- walking a tree ---- */

const char *lb_pk_kind_name(int kind);
/* Value of key (a STR) in a DICT (the last one if repeated), or NULL. */
const lb_pk_node *lb_pk_dict_get(const lb_pk_node *dict, const char *key);
/* INT or BOOL (or a BIGINT that fits) as int64: 0, or -1 if n is not such a value. */
int lb_pk_int(const lb_pk_node *n, int64_t *v);

/* ---- state dicts ---- */

typedef struct lb_pk_tensor {
    const char *name;             /* state-dict key */
    const char *storage_key;      /* zip: entry "<prefix>/data/<key>"; legacy: storage key */
    const char *storage_cls;      /* "FloatStorage" */
    const char *location;         /* "cpu" */
    int         type;             /* enum lb_type of the storage */
    uint64_t    storage_numel;    /* elements in the root storage */
    uint64_t    storage_offset;   /* elements from the start of the root storage */
    int         ndim;
    uint64_t    shape[LB_MAX_DIMS];
    int64_t     stride[LB_MAX_DIMS];
    uint64_t    nelem;
    int         contiguous;       /* C-order contiguous (strides match shape) */
    int         requires_grad;
} lb_pk_tensor;

/* A root that is a single tensor (torch.save(tensor)) gives one descriptor named "".
 * Otherwise find the state dict in a loaded tree (the root dict, or a dict one level down under
 * "state_dict", "model_state_dict", "model", "module", "net", or any key) and list its
 * tensors in pickle order. Every tensor's extent is checked against its storage's numel;
 * non-tensor values are skipped. Strings point into p. *out is malloc'd (free()). */
int lb_pickle_tensors(const lb_pickle *p, lb_pk_tensor **out, size_t *n, lb_err *err);

#endif
