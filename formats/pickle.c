/* pickle.c: a restricted pickle machine (lb_pickle.h), written from the opcode
 * descriptions in Python's pickletools.
 *
 * A pickle is a program for a stack machine:
 *   1. optional PROTO n (protocol 2+), optional FRAME len (protocol 4+, an I/O hint);
 *   2. opcodes that push values (ints, strings, empty containers), fill containers from
 *      the stack (APPENDS, SETITEMS: everything above the topmost MARK), save and fetch
 *      values in the memo (PUT/GET by key, MEMOIZE), and build objects (GLOBAL names a
 *      callable, REDUCE calls it with a tuple, BUILD sets state, PERSID asks the caller);
 *   3. STOP: the value on top of the stack is the result.
 * Nothing here imports or calls: GLOBAL pushes a name, REDUCE of an allowed name builds
 * a descriptor node. Every value lives in one arena freed with the result. */
#include "lb_pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_le.h"

/* ---- arena ------------------------------------------------------------------ */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} chunk;

typedef struct arena {
    chunk   *head;
    uint64_t total, max;
    int      over;      /* last failure: 1 = over max, 0 = malloc failed */
} arena;

#define CHUNK_SIZE ((size_t)64 << 10)

static void *ar_alloc(arena *a, size_t n)
{
    if (n > SIZE_MAX / 2) { a->over = 1; return NULL; }   /* also on 32-bit size_t */
    n = (n + 15) & ~(size_t)15;
    if (a->total + n > a->max) { a->over = 1; return NULL; }
    chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_SIZE / 4 ? n : CHUNK_SIZE;
        c = malloc(sizeof *c + cap);
        if (!c) { a->over = 0; return NULL; }
        c->used = 0;
        c->cap = cap;
        if (cap > CHUNK_SIZE / 4 && cap != CHUNK_SIZE && a->head) {
            c->next = a->head->next;   /* a big block: keep the current chunk's free space */
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    a->total += n;
    return p;
}

static void ar_free(arena *a)
{
    if (!a) return;
    for (chunk *c = a->head, *n; c; c = n) { n = c->next; free(c); }
    free(a);
}

/* ---- the allow-list ------------------------------------------------------------ */

enum what { W_REBUILD_V2, W_REBUILD, W_PARAM, W_PARAM_STATE, W_ODICT, W_STORAGE, W_DEVICE,
            W_SIZE, W_DTYPE, W_ENCODE, W_SET, W_FROZENSET, W_BYTEARRAY, W_BYTES };

static const struct allow {
    const char *module, *name;
    int what, type;
} allow[] = {
    { "torch._utils", "_rebuild_tensor_v2", W_REBUILD_V2, -1 },
    { "torch._utils", "_rebuild_tensor", W_REBUILD, -1 },
    { "torch._utils", "_rebuild_parameter", W_PARAM, -1 },
    { "torch._utils", "_rebuild_parameter_with_state", W_PARAM_STATE, -1 },
    { "collections", "OrderedDict", W_ODICT, -1 },
    { "torch", "HalfStorage", W_STORAGE, LB_F16 },
    { "torch", "BFloat16Storage", W_STORAGE, LB_BF16 },
    { "torch", "FloatStorage", W_STORAGE, LB_F32 },
    { "torch", "DoubleStorage", W_STORAGE, LB_F64 },
    { "torch", "LongStorage", W_STORAGE, LB_I64 },
    { "torch", "IntStorage", W_STORAGE, LB_I32 },
    { "torch", "ShortStorage", W_STORAGE, LB_I16 },
    { "torch", "CharStorage", W_STORAGE, LB_I8 },
    { "torch", "ByteStorage", W_STORAGE, LB_U8 },
    { "torch", "BoolStorage", W_STORAGE, LB_BOOL },
    { "torch", "UntypedStorage", W_STORAGE, LB_U8 },
    { "torch.storage", "UntypedStorage", W_STORAGE, LB_U8 },
    { "torch", "device", W_DEVICE, -1 },
    { "torch", "Size", W_SIZE, -1 },
    { "torch", "float16", W_DTYPE, LB_F16 },
    { "torch", "bfloat16", W_DTYPE, LB_BF16 },
    { "torch", "float32", W_DTYPE, LB_F32 },
    { "torch", "float64", W_DTYPE, LB_F64 },
    { "torch", "int64", W_DTYPE, LB_I64 },
    { "torch", "int32", W_DTYPE, LB_I32 },
    { "torch", "int16", W_DTYPE, LB_I16 },
    { "torch", "int8", W_DTYPE, LB_I8 },
    { "torch", "uint8", W_DTYPE, LB_U8 },
    { "torch", "bool", W_DTYPE, LB_BOOL },
    { "_codecs", "encode", W_ENCODE, -1 },
    { "builtins", "set", W_SET, -1 },
    { "__builtin__", "set", W_SET, -1 },
    { "builtins", "frozenset", W_FROZENSET, -1 },
    { "__builtin__", "frozenset", W_FROZENSET, -1 },
    { "builtins", "bytearray", W_BYTEARRAY, -1 },
    { "__builtin__", "bytearray", W_BYTEARRAY, -1 },
    { "builtins", "bytes", W_BYTES, -1 },
    { "__builtin__", "bytes", W_BYTES, -1 },
};
#define N_ALLOW (sizeof allow / sizeof allow[0])

static int allow_find(const char *module, const char *name)
{
    for (size_t i = 0; i < N_ALLOW; i++)
        if (!strcmp(allow[i].module, module) && !strcmp(allow[i].name, name)) return (int)i;
    return -1;
}

int lb_pickle_allowed(const char *module, const char *name)
{
    return module && name && allow_find(module, name) >= 0;
}

int lb_pickle_storage_type(const char *cls)
{
    for (size_t i = 0; cls && i < N_ALLOW; i++)
        if (allow[i].what == W_STORAGE && !strcmp(allow[i].name, cls)) return allow[i].type;
    return -1;
}

/* ---- the machine ------------------------------------------------------------- */

enum { F_STORED = 1 };               /* node flags: held by another node */
#define SCAN_COPY_MAX ((uint64_t)1 << 16)

typedef struct memo_slot { uint64_t key; lb_pk_node *v; } memo_slot;

typedef struct vm {
    const uint8_t *d;
    size_t size, pos, op_off;
    int scan, rc;
    uint8_t op;
    lb_pickle_opts o;
    lb_pickle *p;
    arena *ar;
    lb_err *err;
    lb_pk_node **stack; size_t sp, scap;
    size_t *marks; size_t nmarks, mcap;
    memo_slot *memo; size_t memo_n, memo_cap;
    size_t gcap, pcap;
} vm;

static const char *op_name(uint8_t op);

static int fail(vm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(vm *m, const char *fmt, ...)
{
    char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    m->rc = lb_err_set(m->err, LB_EFORMAT, m->o.base + m->op_off, "%s", buf);
    return m->rc;
}

static int fail_mem(vm *m)
{
    if (m->ar->over)
        return fail(m, "pickle needs more than %llu bytes of memory (limit)",
                    (unsigned long long)m->o.max_alloc);
    m->rc = lb_err_set(m->err, LB_EIO, m->o.base + m->op_off, "out of memory reading pickle");
    return m->rc;
}

/* Printable copy of a name for messages: non-printable bytes as \xNN, at most ~120 chars. */
static const char *esc(char *dst, size_t cap, const char *s)
{
    size_t j = 0;
    for (size_t i = 0; s && s[i] && j + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') dst[j++] = (char)c;
        else j += (size_t)snprintf(dst + j, cap - j, "\\x%02x", c);
    }
    if (s && j + 5 >= cap) { dst[j - 3] = dst[j - 2] = dst[j - 1] = '.'; }
    dst[j] = 0;
    return dst;
}

static lb_pk_node *node(vm *m, int kind)
{
    lb_pk_node *n = ar_alloc(m->ar, sizeof *n);
    if (!n) { fail_mem(m); return NULL; }
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->off = m->o.base + m->op_off;
    n->weight = 1;
    n->depth = 1;
    return n;
}

static char *ar_strdup(vm *m, const void *s, size_t n)
{
    char *p = n < SIZE_MAX / 2 ? ar_alloc(m->ar, n + 1) : NULL;
    if (!p) { fail_mem(m); return NULL; }
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* A STR/BYTES/BYTEARRAY/BIGINT node holding a copy of n bytes (scan mode keeps only the
 * length of long payloads). */
static int record_payload(vm *m, int kind, const void *s, uint64_t n);

static lb_pk_node *blob(vm *m, int kind, const void *s, uint64_t n)
{
    lb_pk_node *x = node(m, kind);
    if (!x) return NULL;
    x->v.s.n = n;
    if (m->scan && kind != LB_PK_BIGINT && n >= LB_PK_PAYLOAD_MIN && record_payload(m, kind, s, n)) return NULL;
    if (m->scan && n > SCAN_COPY_MAX) return x;
    if (!(x->v.s.p = ar_strdup(m, s, (size_t)n))) return NULL;
    return x;
}

/* Record that parent holds child: weights, depth, and the no-change-after-store rule. */
static int hold(vm *m, lb_pk_node *parent, lb_pk_node *child)
{
    if (!child) return LB_OK;
    if (!m->scan && child == parent)
        return fail(m, "%s puts a value inside itself (self-referencing structure)", op_name(m->op));
    child->flags |= F_STORED;
    uint64_t w;
    if (lb_add64(parent->weight, child->weight, &w)) w = UINT64_MAX;
    parent->weight = w;
    if (child->depth + 1 > parent->depth) parent->depth = child->depth + 1;
    if (m->scan) return LB_OK;
    if (parent->weight > m->o.max_expand)
        return fail(m, "value expands to more than %llu nodes through shared memo references "
                    "(billion-laughs pattern)", (unsigned long long)m->o.max_expand);
    if (parent->depth > m->o.max_depth)
        return fail(m, "values nested deeper than %llu levels", (unsigned long long)m->o.max_depth);
    return LB_OK;
}

static int changeable(vm *m, lb_pk_node *x)
{
    if (!m->scan && (x->flags & F_STORED))
        return fail(m, "%s changes a %s already stored in another value (self-referencing structure)",
                    op_name(m->op), lb_pk_kind_name(x->kind));
    return LB_OK;
}

/* Append k values to a sequence (or 2k to a dict's pairs). */
static int seq_add(vm *m, lb_pk_node *c, lb_pk_node *const *items, size_t k)
{
    size_t per = c->kind == LB_PK_DICT ? 2 : 1;
    if (k == 0) return LB_OK;
    uint64_t have = c->v.seq.n * per, want = have + k;
    if (want / per > m->o.max_items)
        return fail(m, "container holds more than %llu items (limit)", (unsigned long long)m->o.max_items);
    if (want > c->v.seq.cap) {
        uint64_t cap = c->v.seq.cap ? c->v.seq.cap : 4;
        while (cap < want) cap *= 2;
        if (!have) cap = want;     /* built from a MARK: exact; growing: doubling (arena waste <= 2x) */
        lb_pk_node **a = ar_alloc(m->ar, (size_t)cap * sizeof *a);
        if (!a) return fail_mem(m);
        if (have) memcpy(a, c->v.seq.items, (size_t)have * sizeof *a);
        c->v.seq.items = a;
        c->v.seq.cap = cap;
    }
    for (size_t i = 0; i < k; i++) {
        LB_TRY(hold(m, c, items[i]));
        c->v.seq.items[have + i] = items[i];
    }
    c->v.seq.n = want / per;
    return LB_OK;
}

/* ---- stack, marks, memo ---- */

static int push(vm *m, lb_pk_node *x)
{
    if (!x) return m->rc ? m->rc : fail_mem(m);
    if (m->sp == m->scap) {
        if (m->sp >= m->o.max_stack)
            return fail(m, "stack holds more than %llu values (limit)", (unsigned long long)m->o.max_stack);
        size_t cap = m->scap ? m->scap * 2 : 64;
        if (cap > m->o.max_stack) cap = (size_t)m->o.max_stack;
        lb_pk_node **s = realloc(m->stack, cap * sizeof *s);
        if (!s) { m->ar->over = 0; return fail_mem(m); }
        m->stack = s;
        m->scap = cap;
    }
    m->stack[m->sp++] = x;
    return LB_OK;
}

/* Values above the topmost mark. */
static size_t avail(const vm *m) { return m->sp - (m->nmarks ? m->marks[m->nmarks - 1] : 0); }

static int need(vm *m, size_t k)
{
    if (avail(m) < k)
        return fail(m, "stack underflow: %s needs %zu value%s, %zu available", op_name(m->op), k,
                    k == 1 ? "" : "s", avail(m));
    return LB_OK;
}

/* &stack[i] (NULL while the stack was never allocated: no offset on a null pointer) */
static lb_pk_node **stk(vm *m, size_t i) { return m->stack ? m->stack + i : NULL; }

static lb_pk_node *pop(vm *m) { return m->stack[--m->sp]; }
static lb_pk_node *top(vm *m) { return m->stack[m->sp - 1]; }

static int mark(vm *m)
{
    uint64_t lim = m->scan ? m->o.max_stack : m->o.max_marks;   /* scan: Python has no mark limit */
    if (m->nmarks >= lim)
        return fail(m, "more than %llu nested MARKs (limit)", (unsigned long long)lim);
    if (m->nmarks == m->mcap) {
        size_t cap = m->mcap ? m->mcap * 2 : 16;
        size_t *s = realloc(m->marks, cap * sizeof *s);
        if (!s) { m->ar->over = 0; return fail_mem(m); }
        m->marks = s;
        m->mcap = cap;
    }
    m->marks[m->nmarks++] = m->sp;
    return LB_OK;
}

/* Pop the topmost mark: the values above it are stack[*start .. sp). */
static int pop_mark(vm *m, size_t *start)
{
    if (!m->nmarks) return fail(m, "%s without a MARK", op_name(m->op));
    *start = m->marks[--m->nmarks];
    return LB_OK;
}

static size_t memo_slot_of(const memo_slot *t, size_t cap, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 20) & (cap - 1);
    while (t[i].v && t[i].key != key) i = (i + 1) & (cap - 1);
    return i;
}

static int memo_put(vm *m, uint64_t key, lb_pk_node *x)
{
    if (m->memo_cap && m->memo[memo_slot_of(m->memo, m->memo_cap, key)].v) {
        m->memo[memo_slot_of(m->memo, m->memo_cap, key)].v = x;
        return LB_OK;
    }
    if (m->memo_n >= m->o.max_memo)
        return fail(m, "memo holds more than %llu entries (limit)", (unsigned long long)m->o.max_memo);
    if ((m->memo_n + 1) * 2 > m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap * 2 : 64;
        memo_slot *t = calloc(cap, sizeof *t);
        if (!t) { m->ar->over = 0; return fail_mem(m); }
        for (size_t i = 0; i < m->memo_cap; i++)
            if (m->memo[i].v) t[memo_slot_of(t, cap, m->memo[i].key)] = m->memo[i];
        free(m->memo);
        m->memo = t;
        m->memo_cap = cap;
    }
    size_t i = memo_slot_of(m->memo, m->memo_cap, key);
    m->memo[i].key = key;
    m->memo[i].v = x;
    m->memo_n++;
    return LB_OK;
}

static int memo_get(vm *m, uint64_t key)
{
    lb_pk_node *x = NULL;
    if (m->memo_cap) x = m->memo[memo_slot_of(m->memo, m->memo_cap, key)].v;
    if (!x) return fail(m, "%s of memo key %llu, which was never set", op_name(m->op),
                        (unsigned long long)key);
    return push(m, x);
}

/* ---- reading arguments ---- */

static int take(vm *m, size_t n, const uint8_t **p)
{
    if (m->size - m->pos < n)
        return fail(m, "truncated %s argument: needs %zu bytes, %zu left", op_name(m->op), n,
                    m->size - m->pos);
    *p = m->d + m->pos;
    m->pos += n;
    return LB_OK;
}

/* A length-prefixed payload: the length must fit in what is left of the input. */
static int take_len(vm *m, uint64_t n, const uint8_t **p)
{
    if (n > m->size - m->pos)
        return fail(m, "truncated %s: %llu bytes declared, %zu left", op_name(m->op),
                    (unsigned long long)n, m->size - m->pos);
    *p = m->d + m->pos;
    m->pos += (size_t)n;
    return LB_OK;
}

/* A newline-terminated text argument (without the newline). */
static int line(vm *m, const uint8_t **s, size_t *n)
{
    const uint8_t *b = m->d + m->pos;
    const uint8_t *nl = memchr(b, '\n', m->size - m->pos);
    if (!nl) return fail(m, "truncated %s argument: no newline before end of data", op_name(m->op));
    *s = b;
    *n = (size_t)(nl - b);
    m->pos += *n + 1;
    return LB_OK;
}

static int is_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static int hexval(uint8_t c);

/* Digits of a Python int() literal, as Python reads INT/LONG (base 0) and PUT/GET (base 10):
 * surrounding whitespace, a sign, '_' between digits, and with base 0 a 0x/0o/0b prefix.
 * Digit values go to out (room for n); 0 ok, -1 not a number. */
static int py_digits(const uint8_t *s, size_t n, int base0, uint8_t *out, size_t *k, int *neg, unsigned *base)
{
    size_t i = 0, j = 0;
    int after_us = 1;
    while (n && is_space(s[n - 1])) n--;
    while (i < n && is_space(s[i])) i++;
    *neg = 0;
    *base = 10;
    if (i < n && (s[i] == '+' || s[i] == '-')) *neg = s[i++] == '-';
    if (base0 && n - i >= 2 && s[i] == '0') {
        uint8_t c = (uint8_t)(s[i + 1] | 0x20);
        *base = c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 10;
        if (*base != 10) { i += 2; after_us = 0; }
    }
    for (; i < n; i++) {
        if (s[i] == '_') { if (after_us) return -1; after_us = 1; continue; }
        int d = hexval(s[i]);
        if (d < 0 || d >= (int)*base) return -1;
        out[j++] = (uint8_t)d;
        after_us = 0;
    }
    if (!j || after_us) return -1;
    *k = j;
    return 0;
}

static lb_pk_node *int_node(vm *m, int64_t v)
{
    lb_pk_node *x = node(m, LB_PK_INT);
    if (x) x->v.i = v;
    return x;
}

/* An int from its digits: INT if it fits in int64, else BIGINT (two's complement LE). */
static lb_pk_node *int_digits(vm *m, const uint8_t *dg, size_t k, int neg, unsigned base)
{
    uint64_t acc = 0;
    int big = 0;
    for (size_t i = 0; i < k && !big; i++) {
        if (acc > (UINT64_MAX - dg[i]) / base) big = 1;
        else acc = acc * base + dg[i];
    }
    if (!big && (acc <= (uint64_t)INT64_MAX || (neg && acc == (uint64_t)INT64_MAX + 1)))
        return int_node(m, neg ? (int64_t)(0 - acc) : (int64_t)acc);
    size_t nb = k / 2 + 2;      /* <= 4 bits per digit, plus a sign byte */
    uint8_t *b = ar_alloc(m->ar, nb);
    if (!b) { fail_mem(m); return NULL; }
    memset(b, 0, nb);
    for (size_t i = 0; i < k; i++) {
        unsigned carry = dg[i];
        for (size_t t = 0; t < nb; t++) {
            unsigned v = b[t] * base + carry;
            b[t] = (uint8_t)v;
            carry = v >> 8;
        }
    }
    if (neg) {
        unsigned carry = 1;
        for (size_t t = 0; t < nb; t++) {
            unsigned v = (uint8_t)~b[t] + carry;
            b[t] = (uint8_t)v;
            carry = v >> 8;
        }
    }
    return blob(m, LB_PK_BIGINT, b, nb);
}

/* LONG1/LONG4 payload: little-endian two's complement. */
static lb_pk_node *long_bytes(vm *m, const uint8_t *b, size_t n)
{
    if (n <= 8) {
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++) u |= (uint64_t)b[i] << (8 * i);
        if (n && n < 8 && (b[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
        return int_node(m, (int64_t)u);
    }
    return blob(m, LB_PK_BIGINT, b, n);
}

static size_t put_utf8(uint8_t *o, uint32_t c)
{
    if (c < 0x80) { o[0] = (uint8_t)c; return 1; }
    if (c < 0x800) { o[0] = (uint8_t)(0xc0 | c >> 6); o[1] = (uint8_t)(0x80 | (c & 63)); return 2; }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xe0 | c >> 12); o[1] = (uint8_t)(0x80 | (c >> 6 & 63));
        o[2] = (uint8_t)(0x80 | (c & 63)); return 3;
    }
    o[0] = (uint8_t)(0xf0 | c >> 18); o[1] = (uint8_t)(0x80 | (c >> 12 & 63));
    o[2] = (uint8_t)(0x80 | (c >> 6 & 63)); o[3] = (uint8_t)(0x80 | (c & 63));
    return 4;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* UNICODE argument: raw-unicode-escape (\uXXXX, \UXXXXXXXX; other bytes are latin-1). */
static lb_pk_node *raw_unicode(vm *m, const uint8_t *s, size_t n)
{
    uint8_t *o = malloc(n * 2 + 1);
    size_t j = 0;
    if (!o) { m->ar->over = 0; fail_mem(m); return NULL; }
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == '\\' && i + 1 < n && (s[i + 1] == 'u' || s[i + 1] == 'U')) {
            size_t k = s[i + 1] == 'u' ? 4 : 8;
            if (i + 2 + k > n) { free(o); fail(m, "truncated \\u escape in UNICODE"); return NULL; }
            c = 0;
            for (size_t t = 0; t < k; t++) {
                int h = hexval(s[i + 2 + t]);
                if (h < 0) { free(o); fail(m, "bad \\u escape in UNICODE"); return NULL; }
                c = c << 4 | (uint32_t)h;
            }
            if (c > 0x10ffff) { free(o); fail(m, "\\U escape past U+10FFFF in UNICODE"); return NULL; }
            i += 1 + k;
        }
        j += put_utf8(o + j, c);   /* <= 2 bytes out per byte in: n * 2 suffices */
    }
    lb_pk_node *x = blob(m, LB_PK_STR, o, j);
    free(o);
    return x;
}

/* STRING argument: a quoted Python 2 str literal with backslash escapes. */
static lb_pk_node *quoted(vm *m, const uint8_t *s, size_t n)
{
    if (n < 2 || s[0] != s[n - 1] || (s[0] != '\'' && s[0] != '"')) {
        fail(m, "STRING argument is not quoted");
        return NULL;
    }
    s++; n -= 2;
    uint8_t *o = malloc(n + 1);
    size_t j = 0;
    if (!o) { m->ar->over = 0; fail_mem(m); return NULL; }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') { o[j++] = s[i]; continue; }
        if (++i == n) { free(o); fail(m, "trailing backslash in STRING"); return NULL; }
        uint8_t c = s[i];
        switch (c) {
        case '\n': break;
        case '\\': case '\'': case '"': o[j++] = c; break;
        case 'n': o[j++] = '\n'; break;
        case 't': o[j++] = '\t'; break;
        case 'r': o[j++] = '\r'; break;
        case 'a': o[j++] = 7; break;
        case 'b': o[j++] = 8; break;
        case 'f': o[j++] = 12; break;
        case 'v': o[j++] = 11; break;
        case 'x': {
            int h1 = i + 1 < n ? hexval(s[i + 1]) : -1, h2 = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (h1 < 0 || h2 < 0) { free(o); fail(m, "bad \\x escape in STRING"); return NULL; }
            o[j++] = (uint8_t)(h1 << 4 | h2);
            i += 2;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                unsigned v = c - '0';
                for (int t = 0; t < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; t++)
                    v = v * 8 + (unsigned)(s[++i] - '0');
                o[j++] = (uint8_t)v;
            } else {
                o[j++] = '\\';
                o[j++] = c;
            }
        }
    }
    lb_pk_node *x = blob(m, LB_PK_STR, o, j);
    free(o);
    return x;
}

/* ---- payloads (scan mode) ---- */

/* Scan mode lists every string and bytes value of LB_PK_PAYLOAD_MIN bytes or more, so the
 * scanner can look inside them (nested pickles, archives, encoded or compressed data).
 * Values read in place point into the data; decoded text (STRING, UNICODE) is copied. */
static int record_payload(vm *m, int kind, const void *s, uint64_t n)
{
    lb_pickle *p = m->p;
    const uint8_t *b = s;
    int in_place = b >= m->d && b <= m->d + m->size && n <= (uint64_t)(m->d + m->size - b);
    if (!in_place && !(b = (const uint8_t *)ar_strdup(m, s, (size_t)n))) return m->rc;
    if (p->n_payloads == m->pcap) {
        size_t cap = m->pcap ? m->pcap * 2 : 16;
        lb_pk_payload *v = realloc(p->payloads, cap * sizeof *v);
        if (!v) { m->ar->over = 0; return fail_mem(m); }
        p->payloads = v;
        m->pcap = cap;
    }
    lb_pk_payload *v = &p->payloads[p->n_payloads++];
    v->p = b;
    v->n = n;
    v->off = m->o.base + m->op_off;
    v->kind = kind;
    v->in_place = in_place;
    return LB_OK;
}

/* ---- globals ---- */

static int record_global(vm *m, const char *mod, const char *name, int allowed)
{
    lb_pickle *p = m->p;
    if (p->n_globals == m->gcap) {
        size_t cap = m->gcap ? m->gcap * 2 : 16;
        lb_pk_global *g = realloc(p->globals, cap * sizeof *g);
        if (!g) { m->ar->over = 0; return fail_mem(m); }
        p->globals = g;
        m->gcap = cap;
    }
    lb_pk_global *g = &p->globals[p->n_globals++];
    g->module = mod;
    g->name = name;
    g->off = m->o.base + m->op_off;
    g->op = m->op;
    g->allowed = (uint8_t)(allowed >= 0);
    return LB_OK;
}

/* Resolve module.name: record it; load mode refuses anything off the allow-list. */
static int global(vm *m, const void *mod, size_t mn, const void *name, size_t nn, lb_pk_node **out)
{
    char *ms = ar_strdup(m, mod, mn), *ns = ar_strdup(m, name, nn);
    if (!ms || !ns) return m->rc;
    int a = (strlen(ms) == mn && strlen(ns) == nn) ? allow_find(ms, ns) : -1;
    LB_TRY(record_global(m, ms, ns, a));
    if (!m->scan && a < 0) {
        char e1[128], e2[128];
        return fail(m, "refusing to load: pickle imports '%s.%s' at offset %llu (not a tensor type)",
                    esc(e1, sizeof e1, ms), esc(e2, sizeof e2, ns),
                    (unsigned long long)(m->o.base + m->op_off));
    }
    lb_pk_node *x = node(m, LB_PK_GLOBAL);
    if (!x) return m->rc;
    x->v.glob.module = ms;
    x->v.glob.name = ns;
    x->v.glob.what = a;
    *out = x;
    return LB_OK;
}

/* ---- calls (REDUCE, NEWOBJ, INST, OBJ): descriptors, never calls ---- */

static lb_pk_node *tuple_of(vm *m, lb_pk_node *const *items, size_t k)
{
    lb_pk_node *t = node(m, LB_PK_TUPLE);
    if (t && seq_add(m, t, items, k)) return NULL;
    return t;
}

static int is_kind(const lb_pk_node *x, int kind) { return x && x->kind == kind; }

static int arg_int(vm *m, const lb_pk_node *x, const char *fn, const char *what, int64_t *v)
{
    if (lb_pk_int(x, v) != 0)
        return fail(m, "%s: %s is a %s, not an int", fn, what, x ? lb_pk_kind_name(x->kind) : "nothing");
    return LB_OK;
}

/* torch._utils._rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...) */
static int mk_tensor(vm *m, const char *fn, lb_pk_node *const *a, size_t n, int v2, lb_pk_node **out)
{
    if (v2 ? (n < 6 || n > 7) : n != 4)
        return fail(m, "%s takes %s arguments, got %zu", fn, v2 ? "6 or 7" : "4", n);
    if (!is_kind(a[0], LB_PK_STORAGE))
        return fail(m, "%s: storage is a %s, not a storage reference", fn, lb_pk_kind_name(a[0]->kind));
    int64_t off = 0, v = 0;
    LB_TRY(arg_int(m, a[1], fn, "storage offset", &off));
    if (off < 0) return fail(m, "%s: negative storage offset %lld", fn, (long long)off);
    const lb_pk_node *sz = a[2], *st = a[3];
    if (!is_kind(sz, LB_PK_TUPLE) || !is_kind(st, LB_PK_TUPLE))
        return fail(m, "%s: size and stride must be tuples", fn);
    if (sz->v.seq.n != st->v.seq.n)
        return fail(m, "%s: size has %llu dims but stride has %llu", fn,
                    (unsigned long long)sz->v.seq.n, (unsigned long long)st->v.seq.n);
    if (sz->v.seq.n > 64) return fail(m, "%s: %llu dims", fn, (unsigned long long)sz->v.seq.n);
    lb_pk_node *t = node(m, LB_PK_TENSOR);
    if (!t) return m->rc;
    int nd = (int)sz->v.seq.n;
    t->v.tensor.ndim = nd;
    t->v.tensor.size = ar_alloc(m->ar, sizeof(uint64_t) * (size_t)(nd + 1));
    t->v.tensor.stride = ar_alloc(m->ar, sizeof(int64_t) * (size_t)(nd + 1));
    if (!t->v.tensor.size || !t->v.tensor.stride) return fail_mem(m);
    for (int i = 0; i < nd; i++) {
        LB_TRY(arg_int(m, sz->v.seq.items[i], fn, "a size", &v));
        if (v < 0) return fail(m, "%s: negative size %lld", fn, (long long)v);
        t->v.tensor.size[i] = (uint64_t)v;
        LB_TRY(arg_int(m, st->v.seq.items[i], fn, "a stride", &v));
        t->v.tensor.stride[i] = v;
    }
    t->v.tensor.storage_offset = (uint64_t)off;
    t->v.tensor.storage = a[0];
    if (v2 && lb_pk_int(a[4], &v) == 0) t->v.tensor.requires_grad = v != 0;
    LB_TRY(hold(m, t, a[0]));
    *out = t;
    return LB_OK;
}

/* Bytes of a str whose code points are all < 256 (what _codecs.encode(s, 'latin1') does). */
static int latin1(vm *m, const lb_pk_node *s, const lb_pk_node *enc, lb_pk_node **out)
{
    if (!is_kind(s, LB_PK_STR) || !is_kind(enc, LB_PK_STR) || !s->v.s.p || !enc->v.s.p)
        return fail(m, "_codecs.encode needs (str, encoding)");
    const char *e = enc->v.s.p;
    if (strcmp(e, "latin1") && strcmp(e, "latin-1") && strcmp(e, "iso-8859-1") && strcmp(e, "ascii"))
        return fail(m, "_codecs.encode: encoding '%.40s' not supported", e);
    const uint8_t *p = (const uint8_t *)s->v.s.p;
    uint8_t *o = ar_alloc(m->ar, (size_t)s->v.s.n + 1);
    size_t j = 0;
    if (!o) return fail_mem(m);
    for (uint64_t i = 0; i < s->v.s.n; i++) {
        if (p[i] < 0x80) { o[j++] = p[i]; continue; }
        if ((p[i] & 0xe0) == 0xc0 && i + 1 < s->v.s.n && (p[i] & 0x1f) <= 3 && (p[i + 1] & 0xc0) == 0x80) {
            o[j++] = (uint8_t)((p[i] & 0x1f) << 6 | (p[i + 1] & 0x3f));
            i++;
            continue;
        }
        return fail(m, "_codecs.encode: character not in latin-1");
    }
    lb_pk_node *x = node(m, LB_PK_BYTES);
    if (!x) return m->rc;
    o[j] = 0;
    x->v.s.p = (char *)o;
    x->v.s.n = j;
    *out = x;
    return LB_OK;
}

/* Elements of a tuple/list/set argument (for set(), frozenset(), torch.Size()). */
static int copy_items(vm *m, int kind, lb_pk_node *const *a, size_t n, const char *fn, lb_pk_node **out)
{
    lb_pk_node *x = node(m, kind);
    if (!x) return m->rc;
    if (n > 1) return fail(m, "%s takes at most 1 argument, got %zu", fn, n);
    if (n == 1) {
        const lb_pk_node *s = a[0];
        if (!is_kind(s, LB_PK_TUPLE) && !is_kind(s, LB_PK_LIST) && !is_kind(s, LB_PK_SET) &&
            !is_kind(s, LB_PK_FROZENSET))
            return fail(m, "%s: argument is a %s, not a sequence", fn, lb_pk_kind_name(s->kind));
        LB_TRY(seq_add(m, x, s->v.seq.items, (size_t)s->v.seq.n));
    }
    *out = x;
    return LB_OK;
}

/* OrderedDict() / OrderedDict([(k, v), ...]) / OrderedDict({...}) -> DICT */
static int mk_dict(vm *m, lb_pk_node *const *a, size_t n, lb_pk_node **out)
{
    lb_pk_node *d = node(m, LB_PK_DICT);
    if (!d) return m->rc;
    if (n > 1) return fail(m, "collections.OrderedDict takes at most 1 argument, got %zu", n);
    if (n == 1 && is_kind(a[0], LB_PK_DICT)) {
        LB_TRY(seq_add(m, d, a[0]->v.seq.items, (size_t)a[0]->v.seq.n * 2));
    } else if (n == 1) {
        const lb_pk_node *s = a[0];
        if (!is_kind(s, LB_PK_LIST) && !is_kind(s, LB_PK_TUPLE))
            return fail(m, "collections.OrderedDict: argument is a %s", lb_pk_kind_name(s->kind));
        for (uint64_t i = 0; i < s->v.seq.n; i++) {
            const lb_pk_node *kv = s->v.seq.items[i];
            if (!is_kind(kv, LB_PK_TUPLE) || kv->v.seq.n != 2)
                return fail(m, "collections.OrderedDict: item %llu is not a pair", (unsigned long long)i);
            LB_TRY(seq_add(m, d, kv->v.seq.items, 2));
        }
    }
    *out = d;
    return LB_OK;
}

static int call_allowed(vm *m, lb_pk_node *fn, lb_pk_node *args, lb_pk_node *kwargs, lb_pk_node **out)
{
    char e1[128], e2[128];
    const char *fname = fn->v.glob.name;
    if (!is_kind(args, LB_PK_TUPLE))
        return fail(m, "%s: arguments are a %s, not a tuple", op_name(m->op), lb_pk_kind_name(args->kind));
    if (kwargs && (!is_kind(kwargs, LB_PK_DICT) || kwargs->v.seq.n))
        return fail(m, "%s: keyword arguments are not supported", op_name(m->op));
    lb_pk_node *const *a = args->v.seq.items;
    size_t n = (size_t)args->v.seq.n;
    const struct allow *al = &allow[fn->v.glob.what];
    switch (al->what) {
    case W_REBUILD_V2: return mk_tensor(m, fname, a, n, 1, out);
    case W_REBUILD:    return mk_tensor(m, fname, a, n, 0, out);
    case W_PARAM: case W_PARAM_STATE: {
        if (n != (al->what == W_PARAM ? 3u : 4u) || !is_kind(a[0], LB_PK_TENSOR))
            return fail(m, "%s: expects (tensor, requires_grad, hooks%s)", fname,
                        al->what == W_PARAM ? "" : ", state");
        lb_pk_node *t = node(m, LB_PK_TENSOR);
        if (!t) return m->rc;
        int64_t rg = 0;
        t->v.tensor = a[0]->v.tensor;
        t->v.tensor.is_param = 1;
        if (lb_pk_int(a[1], &rg) == 0) t->v.tensor.requires_grad = rg != 0;
        LB_TRY(hold(m, t, a[0]));
        *out = t;
        return LB_OK;
    }
    case W_ODICT:  return mk_dict(m, a, n, out);
    case W_SIZE:   return copy_items(m, LB_PK_TUPLE, a, n, "torch.Size", out);
    case W_SET:    return copy_items(m, LB_PK_SET, a, n, "set", out);
    case W_FROZENSET: return copy_items(m, LB_PK_FROZENSET, a, n, "frozenset", out);
    case W_ENCODE:
        if (n != 2) return fail(m, "_codecs.encode takes 2 arguments, got %zu", n);
        return latin1(m, a[0], a[1], out);
    case W_BYTES: case W_BYTEARRAY: {
        int kind = al->what == W_BYTES ? LB_PK_BYTES : LB_PK_BYTEARRAY;
        lb_pk_node *x = NULL;
        if (n == 0) x = blob(m, kind, "", 0);
        else if (n == 1 && (is_kind(a[0], LB_PK_BYTES) || is_kind(a[0], LB_PK_BYTEARRAY)))
            x = blob(m, kind, a[0]->v.s.p, a[0]->v.s.n);
        else if (n == 2) { LB_TRY(latin1(m, a[0], a[1], &x)); x->kind = kind; }
        else return fail(m, "%s: unsupported arguments", fname);
        if (!x) return m->rc;
        *out = x;
        return LB_OK;
    }
    case W_DEVICE: {
        lb_pk_node *x = node(m, LB_PK_OBJECT);
        if (!x) return m->rc;
        x->v.obj.callable = fn;
        x->v.obj.args = args;
        LB_TRY(hold(m, x, fn));
        LB_TRY(hold(m, x, args));
        *out = x;
        return LB_OK;
    }
    default:
        return fail(m, "refusing to load: pickle calls '%s.%s' at offset %llu (not a constructor "
                    "this reader models)", esc(e1, sizeof e1, fn->v.glob.module),
                    esc(e2, sizeof e2, fname), (unsigned long long)(m->o.base + m->op_off));
    }
}

/* Apply callable to args (and kwargs): a descriptor in load mode, an OBJECT in scan mode. */
static int call(vm *m, lb_pk_node *fn, lb_pk_node *args, lb_pk_node *kwargs)
{
    lb_pk_node *res = NULL;
    if (!m->scan) {
        if (!is_kind(fn, LB_PK_GLOBAL))
            return fail(m, "%s calls a %s, not an allowed global", op_name(m->op), lb_pk_kind_name(fn->kind));
        LB_TRY(call_allowed(m, fn, args, kwargs, &res));
        return push(m, res);
    }
    if (!(res = node(m, LB_PK_OBJECT))) return m->rc;
    res->v.obj.callable = fn;
    res->v.obj.args = args;
    res->v.obj.kwargs = kwargs;
    LB_TRY(hold(m, res, fn));
    LB_TRY(hold(m, res, args));
    LB_TRY(hold(m, res, kwargs));
    return push(m, res);
}

/* ---- persistent ids ---- */

static int persid(vm *m, lb_pk_node *pid)
{
    const lb_pk_node *t = pid;
    int ok = is_kind(t, LB_PK_TUPLE) && (t->v.seq.n == 5 || t->v.seq.n == 6) &&
             is_kind(t->v.seq.items[0], LB_PK_STR) && t->v.seq.items[0]->v.s.p &&
             !strcmp(t->v.seq.items[0]->v.s.p, "storage");
    if (!ok) {
        if (!m->scan)
            return fail(m, "persistent id is a %s, not a ('storage', ...) reference",
                        lb_pk_kind_name(pid->kind));
        lb_pk_node *x = node(m, LB_PK_PERSID);
        if (!x) return m->rc;
        x->v.obj.args = pid;
        LB_TRY(hold(m, x, pid));
        return push(m, x);
    }
    lb_pk_node *const *a = t->v.seq.items;
    lb_pk_node *x = node(m, LB_PK_STORAGE);
    if (!x) return m->rc;
    int64_t numel = -1;
    if (is_kind(a[1], LB_PK_GLOBAL) && a[1]->v.glob.what >= 0 &&
        allow[a[1]->v.glob.what].what == W_STORAGE) {
        x->v.storage.cls = a[1]->v.glob.name;
        x->v.storage.type = allow[a[1]->v.glob.what].type;
    } else if (!m->scan) {
        return fail(m, "storage reference: type is a %s, not a storage class", lb_pk_kind_name(a[1]->kind));
    } else {
        x->v.storage.type = -1;
    }
    if (is_kind(a[2], LB_PK_STR) && a[2]->v.s.p) x->v.storage.key = a[2]->v.s.p;
    if (is_kind(a[3], LB_PK_STR) && a[3]->v.s.p) x->v.storage.location = a[3]->v.s.p;
    lb_pk_int(a[4], &numel);
    if (!m->scan && (!x->v.storage.key || !x->v.storage.location || numel < 0))
        return fail(m, "storage reference: expected (str key, str location, int numel)");
    x->v.storage.numel = numel < 0 ? 0 : (uint64_t)numel;
    if (t->v.seq.n == 6 && !is_kind(a[5], LB_PK_NONE)) {    /* legacy view: (key, offset, size) */
        const lb_pk_node *vw = a[5];
        int64_t vo, vs;
        if (!is_kind(vw, LB_PK_TUPLE) || vw->v.seq.n != 3 || lb_pk_int(vw->v.seq.items[1], &vo) ||
            lb_pk_int(vw->v.seq.items[2], &vs) || vo < 0 || vs < 0 ||
            (uint64_t)vo + (uint64_t)vs > x->v.storage.numel) {
            if (!m->scan) return fail(m, "storage reference: bad view (key, offset, size)");
        } else {
            x->v.storage.view_offset = (uint64_t)vo;
        }
    }
    LB_TRY(hold(m, x, pid));
    return push(m, x);
}

/* ---- opcodes ---- */

/* Opcode names, indexed by opcode byte; NULL for bytes that are not opcodes. */
static const char *const op_names[256] = {
    ['('] = "MARK", ['.'] = "STOP", ['0'] = "POP", ['1'] = "POP_MARK", ['2'] = "DUP",
    ['F'] = "FLOAT", ['I'] = "INT", ['J'] = "BININT", ['K'] = "BININT1", ['L'] = "LONG",
    ['M'] = "BININT2", ['N'] = "NONE", ['P'] = "PERSID", ['Q'] = "BINPERSID", ['R'] = "REDUCE",
    ['S'] = "STRING", ['T'] = "BINSTRING", ['U'] = "SHORT_BINSTRING", ['V'] = "UNICODE",
    ['X'] = "BINUNICODE", ['a'] = "APPEND", ['b'] = "BUILD", ['c'] = "GLOBAL", ['d'] = "DICT",
    ['}'] = "EMPTY_DICT", ['e'] = "APPENDS", ['g'] = "GET", ['h'] = "BINGET", ['i'] = "INST",
    ['j'] = "LONG_BINGET", ['l'] = "LIST", [']'] = "EMPTY_LIST", ['o'] = "OBJ", ['p'] = "PUT",
    ['q'] = "BINPUT", ['r'] = "LONG_BINPUT", ['s'] = "SETITEM", ['t'] = "TUPLE",
    [')'] = "EMPTY_TUPLE", ['u'] = "SETITEMS", ['G'] = "BINFLOAT", [0x80] = "PROTO",
    [0x81] = "NEWOBJ", [0x82] = "EXT1", [0x83] = "EXT2", [0x84] = "EXT4", [0x85] = "TUPLE1",
    [0x86] = "TUPLE2", [0x87] = "TUPLE3", [0x88] = "NEWTRUE", [0x89] = "NEWFALSE",
    [0x8a] = "LONG1", [0x8b] = "LONG4", ['B'] = "BINBYTES", ['C'] = "SHORT_BINBYTES",
    [0x8c] = "SHORT_BINUNICODE", [0x8d] = "BINUNICODE8", [0x8e] = "BINBYTES8",
    [0x8f] = "EMPTY_SET", [0x90] = "ADDITEMS", [0x91] = "FROZENSET", [0x92] = "NEWOBJ_EX",
    [0x93] = "STACK_GLOBAL", [0x94] = "MEMOIZE", [0x95] = "FRAME", [0x96] = "BYTEARRAY8",
    [0x97] = "NEXT_BUFFER", [0x98] = "READONLY_BUFFER",
};

static const char *op_name(uint8_t op) { return op_names[op] ? op_names[op] : "?"; }

static int op_known(uint8_t op) { return op_names[op] != NULL; }

/* Fill the container under the mark's values (APPENDS, SETITEMS, ADDITEMS). */
static int fill(vm *m, int kind)
{
    size_t start = 0;
    LB_TRY(pop_mark(m, &start));
    size_t k = m->sp - start;
    m->sp = start;
    LB_TRY(need(m, 1));
    lb_pk_node *c = top(m);
    if (kind == LB_PK_DICT && (k & 1))
        return fail(m, "SETITEMS with an odd number of values (%zu)", k);
    if (c->kind != kind) {
        if (m->scan) return LB_OK;
        return fail(m, "%s on a %s, not a %s", op_name(m->op), lb_pk_kind_name(c->kind), lb_pk_kind_name(kind));
    }
    LB_TRY(changeable(m, c));
    return seq_add(m, c, stk(m, start), k);
}

/* Build a new container from the values above the mark. */
static int from_mark(vm *m, int kind)
{
    size_t start = 0;
    LB_TRY(pop_mark(m, &start));
    size_t k = m->sp - start;
    if (kind == LB_PK_DICT && (k & 1)) return fail(m, "DICT with an odd number of values (%zu)", k);
    lb_pk_node *c = node(m, kind);
    if (!c) return m->rc;
    LB_TRY(seq_add(m, c, stk(m, start), k));
    m->sp = start;
    return push(m, c);
}

static int op_build(vm *m)
{
    LB_TRY(need(m, 2));
    lb_pk_node *state = pop(m), *inst = top(m);
    if (inst->kind != LB_PK_DICT && inst->kind != LB_PK_TENSOR && inst->kind != LB_PK_OBJECT) {
        if (m->scan) return LB_OK;
        return fail(m, "BUILD on a %s", lb_pk_kind_name(inst->kind));
    }
    LB_TRY(changeable(m, inst));
    LB_TRY(hold(m, inst, state));
    inst->state = state;
    return LB_OK;
}

static int op_stack_global(vm *m)
{
    LB_TRY(need(m, 2));
    lb_pk_node *name = pop(m), *mod = pop(m), *g = NULL;
    int ok = is_kind(name, LB_PK_STR) && is_kind(mod, LB_PK_STR) && name->v.s.p && mod->v.s.p;
    if (!ok && !m->scan) return fail(m, "STACK_GLOBAL needs two strings");
    if (!ok) {
        LB_TRY(global(m, "?", 1, "?", 1, &g));
    } else {
        LB_TRY(global(m, mod->v.s.p, (size_t)mod->v.s.n, name->v.s.p, (size_t)name->v.s.n, &g));
    }
    return push(m, g);
}

static int op_text_global(vm *m, int inst)
{
    const uint8_t *a = NULL, *b = NULL;
    size_t an = 0, bn = 0;
    lb_pk_node *g = NULL;
    LB_TRY(line(m, &a, &an));
    LB_TRY(line(m, &b, &bn));
    LB_TRY(global(m, a, an, b, bn, &g));
    if (!inst) return push(m, g);
    size_t start = 0;                                   /* INST: class(*values above the mark) */
    LB_TRY(pop_mark(m, &start));
    lb_pk_node *args = tuple_of(m, stk(m, start), m->sp - start);
    if (!args) return m->rc;
    m->sp = start;
    return call(m, g, args, NULL);
}

static int op_obj(vm *m)
{
    size_t start = 0;
    LB_TRY(pop_mark(m, &start));
    if (m->sp - start < 1) return fail(m, "stack underflow: OBJ needs a class above the MARK");
    lb_pk_node *cls = m->stack[start];
    lb_pk_node *args = tuple_of(m, stk(m, start + 1), m->sp - start - 1);
    if (!args) return m->rc;
    m->sp = start;
    return call(m, cls, args, NULL);
}

static int op_ext(vm *m, size_t n)
{
    const uint8_t *b = NULL;
    LB_TRY(take(m, n, &b));
    uint32_t code = n == 1 ? b[0] : n == 2 ? lb_ld16(b) : lb_ld32(b);
    if (!m->scan)
        return fail(m, "refusing to load: pickle uses extension code %u (%s) at offset %llu",
                    code, op_name(m->op), (unsigned long long)(m->o.base + m->op_off));
    char nm[16];
    snprintf(nm, sizeof nm, "%u", code);
    char *ms = ar_strdup(m, "copyreg._extension_registry", 27), *ns = ar_strdup(m, nm, strlen(nm));
    if (!ms || !ns) return m->rc;
    LB_TRY(record_global(m, ms, ns, -1));
    return push(m, node(m, LB_PK_OPAQUE));
}

/* Scan mode keeps going past a value Python would reject (it stops there, so nothing after
 * it runs; scanning further only finds more). Load mode refuses. */
static int bad_text(vm *m, const char *what)
{
    if (!m->scan) return fail(m, "%s argument is not %s", op_name(m->op), what);
    return push(m, node(m, LB_PK_OPAQUE));
}

static int op_float_text(vm *m)
{
    const uint8_t *s = NULL;
    size_t n = 0, j = 0;
    char buf[128];
    LB_TRY(line(m, &s, &n));
    while (n && is_space(s[n - 1])) n--;
    for (size_t i = 0; i < n && j + 1 < sizeof buf; i++)
        if (s[i] != '_') buf[j++] = (char)s[i];     /* Python allows 1_000.5 */
    buf[j] = 0;
    char *end = buf;
    double d = j && n < 4096 ? strtod(buf, &end) : 0;
    if (end == buf || *end) return bad_text(m, "a number");
    lb_pk_node *x = node(m, LB_PK_FLOAT);
    if (x) x->v.f = d;
    return push(m, x);
}

static int op_int_text(vm *m, int is_long)
{
    const uint8_t *s = NULL;
    size_t n = 0, k = 0;
    int neg = 0;
    unsigned base = 10;
    LB_TRY(line(m, &s, &n));
    if (is_long && n && s[n - 1] == 'L') n--;
    if (!is_long && n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1')) {
        lb_pk_node *b = node(m, LB_PK_BOOL);     /* I00 / I01: False / True */
        if (b) b->v.i = s[1] == '1';
        return push(m, b);
    }
    uint8_t *dg = malloc(n ? n : 1);
    if (!dg) { m->ar->over = 0; return fail_mem(m); }
    lb_pk_node *x = NULL;
    int r = py_digits(s, n, 1, dg, &k, &neg, &base);
    if (!r) x = int_digits(m, dg, k, neg, base);
    free(dg);
    if (r) return bad_text(m, "an integer");
    return push(m, x);
}

static int op_memo_text(vm *m, int put)
{
    const uint8_t *s = NULL;
    size_t n = 0, k = 0;
    int neg = 0;
    unsigned base = 10;
    uint64_t key = 0;
    LB_TRY(line(m, &s, &n));
    uint8_t *dg = malloc(n ? n : 1);
    if (!dg) { m->ar->over = 0; return fail_mem(m); }
    int r = py_digits(s, n, 0, dg, &k, &neg, &base);
    for (size_t i = 0; !r && i < k; i++) {
        if (key > (UINT64_MAX - dg[i]) / 10) r = -1;
        else key = key * 10 + dg[i];
    }
    free(dg);
    if (r || (neg && key)) return fail(m, "%s argument is not a memo key", op_name(m->op));
    if (!put) return memo_get(m, key);
    LB_TRY(need(m, 1));
    return memo_put(m, key, top(m));
}

static int op_bool(vm *m, int v)
{
    lb_pk_node *x = node(m, LB_PK_BOOL);
    if (x) x->v.i = v;
    return push(m, x);
}

/* Length-prefixed payloads: lenbytes 1/4/8; signed: a negative 4-byte length is an error. */
static int op_blob(vm *m, int kind, size_t lenbytes, int is_signed)
{
    const uint8_t *b = NULL, *s = NULL;
    LB_TRY(take(m, lenbytes, &b));
    uint64_t n = lenbytes == 1 ? b[0] : lenbytes == 4 ? lb_ld32(b) : lb_ld64(b);
    if (is_signed && lenbytes == 4 && (n & 0x80000000u))
        return fail(m, "%s with negative length %d", op_name(m->op), (int)(int32_t)(uint32_t)n);
    LB_TRY(take_len(m, n, &s));
    if (kind == LB_PK_BIGINT) return push(m, long_bytes(m, s, (size_t)n));
    return push(m, blob(m, kind, s, n));
}

static int step(vm *m, int *stop)
{
    const uint8_t *b = NULL;
    size_t start = 0;
    lb_pk_node *x, *y, *z;
    uint8_t op = m->op;
    switch (op) {
    case 0x80: /* PROTO */
        LB_TRY(take(m, 1, &b));
        if (b[0] > 5) return fail(m, "unsupported pickle protocol %u", b[0]);
        if (b[0] > m->p->proto) m->p->proto = b[0];
        return LB_OK;
    case 0x95: /* FRAME: the next n bytes hold whole opcodes; only a read-ahead hint */
        LB_TRY(take(m, 8, &b));
        if (lb_ld64(b) > m->size - m->pos) {
            /* Python's own unpickler (pickle._Unpickler) reads a short frame and runs what is
             * in it: scan mode notes the overrun and goes on */
            if (!m->scan)
                return fail(m, "truncated frame: %llu bytes declared, %zu left",
                            (unsigned long long)lb_ld64(b), m->size - m->pos);
            if (m->p->frame_overrun == LB_NO_OFFSET) m->p->frame_overrun = m->o.base + m->op_off;
        }
        return LB_OK;
    case '.':
        if (!m->scan && (m->nmarks || m->sp != 1))
            return fail(m, "STOP with %zu values and %zu marks on the stack (expected 1 and 0)",
                        m->sp, m->nmarks);
        LB_TRY(need(m, 1));
        m->p->root = pop(m);
        *stop = 1;
        return LB_OK;
    case '(': return mark(m);
    case '0':
        if (avail(m) == 0 && m->nmarks) return pop_mark(m, &start);
        LB_TRY(need(m, 1));
        m->sp--;
        return LB_OK;
    case '1':
        LB_TRY(pop_mark(m, &start));
        m->sp = start;
        return LB_OK;
    case '2': LB_TRY(need(m, 1)); return push(m, top(m));
    case 'N': return push(m, node(m, LB_PK_NONE));
    case 0x88: return op_bool(m, 1);
    case 0x89: return op_bool(m, 0);
    case 'I': return op_int_text(m, 0);
    case 'L': return op_int_text(m, 1);
    case 'J': LB_TRY(take(m, 4, &b)); return push(m, int_node(m, (int32_t)lb_ld32(b)));
    case 'K': LB_TRY(take(m, 1, &b)); return push(m, int_node(m, b[0]));
    case 'M': LB_TRY(take(m, 2, &b)); return push(m, int_node(m, lb_ld16(b)));
    case 0x8a: return op_blob(m, LB_PK_BIGINT, 1, 0);
    case 0x8b: return op_blob(m, LB_PK_BIGINT, 4, 1);
    case 'F': return op_float_text(m);
    case 'G': {
        LB_TRY(take(m, 8, &b));
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | b[i];          /* big-endian */
        x = node(m, LB_PK_FLOAT);
        if (x) memcpy(&x->v.f, &u, 8);
        return push(m, x);
    }
    case 'S': { const uint8_t *s = NULL; size_t n = 0; LB_TRY(line(m, &s, &n)); return push(m, quoted(m, s, n)); }
    case 'V': { const uint8_t *s = NULL; size_t n = 0; LB_TRY(line(m, &s, &n)); return push(m, raw_unicode(m, s, n)); }
    case 'T': return op_blob(m, LB_PK_STR, 4, 1);
    case 'U': return op_blob(m, LB_PK_STR, 1, 0);
    case 'X': return op_blob(m, LB_PK_STR, 4, 0);
    case 0x8c: return op_blob(m, LB_PK_STR, 1, 0);
    case 0x8d: return op_blob(m, LB_PK_STR, 8, 0);
    case 'B': return op_blob(m, LB_PK_BYTES, 4, 0);
    case 'C': return op_blob(m, LB_PK_BYTES, 1, 0);
    case 0x8e: return op_blob(m, LB_PK_BYTES, 8, 0);
    case 0x96: return op_blob(m, LB_PK_BYTEARRAY, 8, 0);
    case ')': return push(m, node(m, LB_PK_TUPLE));
    case ']': return push(m, node(m, LB_PK_LIST));
    case '}': return push(m, node(m, LB_PK_DICT));
    case 0x8f: return push(m, node(m, LB_PK_SET));
    case 't': return from_mark(m, LB_PK_TUPLE);
    case 'l': return from_mark(m, LB_PK_LIST);
    case 'd': return from_mark(m, LB_PK_DICT);
    case 0x91: return from_mark(m, LB_PK_FROZENSET);
    case 0x85: case 0x86: case 0x87: {
        size_t k = (size_t)(op - 0x84);
        LB_TRY(need(m, k));
        x = tuple_of(m, stk(m, m->sp - k), k);
        if (!x) return m->rc;
        m->sp -= k;
        return push(m, x);
    }
    case 'a':
        LB_TRY(need(m, 2));
        y = pop(m);
        x = top(m);
        if (x->kind != LB_PK_LIST) {
            if (m->scan) return LB_OK;
            return fail(m, "APPEND on a %s, not a list", lb_pk_kind_name(x->kind));
        }
        LB_TRY(changeable(m, x));
        return seq_add(m, x, &y, 1);
    case 'e': return fill(m, LB_PK_LIST);
    case 'u': return fill(m, LB_PK_DICT);
    case 0x90: return fill(m, LB_PK_SET);
    case 's': {
        LB_TRY(need(m, 3));
        lb_pk_node *kv[2];
        kv[1] = pop(m);
        kv[0] = pop(m);
        x = top(m);
        if (x->kind != LB_PK_DICT) {
            if (m->scan) return LB_OK;
            return fail(m, "SETITEM on a %s, not a dict", lb_pk_kind_name(x->kind));
        }
        LB_TRY(changeable(m, x));
        return seq_add(m, x, kv, 2);
    }
    case 'g': return op_memo_text(m, 0);
    case 'h': LB_TRY(take(m, 1, &b)); return memo_get(m, b[0]);
    case 'j': LB_TRY(take(m, 4, &b)); return memo_get(m, lb_ld32(b));
    case 'p': return op_memo_text(m, 1);
    case 'q': LB_TRY(take(m, 1, &b)); LB_TRY(need(m, 1)); return memo_put(m, b[0], top(m));
    case 'r': LB_TRY(take(m, 4, &b)); LB_TRY(need(m, 1)); return memo_put(m, lb_ld32(b), top(m));
    case 0x94: LB_TRY(need(m, 1)); return memo_put(m, m->memo_n, top(m));
    case 'c': return op_text_global(m, 0);
    case 'i': return op_text_global(m, 1);
    case 0x93: return op_stack_global(m);
    case 'R': case 0x81:
        LB_TRY(need(m, 2));
        y = pop(m);
        x = pop(m);
        return call(m, x, y, NULL);
    case 0x92:
        LB_TRY(need(m, 3));
        z = pop(m);
        y = pop(m);
        x = pop(m);
        return call(m, x, y, z);
    case 'o': return op_obj(m);
    case 'b': return op_build(m);
    case 'Q': LB_TRY(need(m, 1)); return persid(m, pop(m));
    case 'P': {
        const uint8_t *s = NULL;
        size_t n = 0;
        LB_TRY(line(m, &s, &n));
        x = blob(m, LB_PK_STR, s, n);
        if (!x) return m->rc;
        return persid(m, x);
    }
    case 0x82: return op_ext(m, 1);
    case 0x83: return op_ext(m, 2);
    case 0x84: return op_ext(m, 4);
    case 0x97: case 0x98:
        if (!m->scan)
            return fail(m, "out-of-band buffers (%s) are not supported", op_name(op));
        if (op == 0x98) return need(m, 1);
        return push(m, node(m, LB_PK_OPAQUE));
    default:
        return fail(m, "unknown opcode 0x%02x", op);
    }
}

void lb_pickle_opts_default(lb_pickle_opts *o)
{
    o->max_ops = 100000000;
    o->max_stack = 1u << 20;
    o->max_marks = 256;
    o->max_memo = 1u << 22;
    o->max_items = 1u << 24;
    o->max_alloc = (uint64_t)1 << 30;
    o->max_depth = 256;
    o->max_expand = (uint64_t)1 << 27;
    o->base = 0;
}

static int run(lb_pickle **out, const uint8_t *data, size_t size, size_t pos,
               const lb_pickle_opts *opts, int scan, lb_err *err)
{
    vm m;
    memset(&m, 0, sizeof m);
    *out = NULL;
    if (opts) m.o = *opts;
    else lb_pickle_opts_default(&m.o);
    m.d = data;
    m.size = size;
    m.pos = m.op_off = pos;
    m.scan = scan;
    m.err = err;
    m.ar = calloc(1, sizeof *m.ar);
    lb_pickle *p = calloc(1, sizeof *p);
    if (!m.ar || !p) {
        free(m.ar);
        free(p);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory reading pickle");
    }
    m.ar->max = m.o.max_alloc;
    m.p = p;
    p->priv = m.ar;
    p->start = m.o.base + pos;
    p->frame_overrun = LB_NO_OFFSET;
    int stop = 0, rc = LB_OK;
    if (pos > size) rc = fail(&m, "pickle starts past the end of its data");
    while (!rc && !stop) {
        m.op_off = m.pos;
        if (m.pos >= m.size) { rc = fail(&m, "truncated pickle: no STOP before end of data"); break; }
        m.op = data[m.pos++];
        p->op_count[m.op]++;
        if (++p->n_ops > m.o.max_ops) {
            rc = fail(&m, "more than %llu opcodes (limit)", (unsigned long long)m.o.max_ops);
            break;
        }
        if (!op_known(m.op)) { rc = fail(&m, "unknown opcode 0x%02x", m.op); break; }
        rc = step(&m, &stop);
    }
    p->end = m.o.base + (rc ? m.op_off : m.pos);
    free(m.stack);
    free(m.marks);
    free(m.memo);
    if (rc && !scan) {
        lb_pickle_free(p);
        return rc;
    }
    if (rc) p->root = NULL;
    *out = p;
    return rc;
}

int lb_pickle_load(lb_pickle **out, const uint8_t *data, size_t size, size_t pos,
                   const lb_pickle_opts *opts, lb_err *err)
{
    return run(out, data, size, pos, opts, 0, err);
}

int lb_pickle_scan(lb_pickle **out, const uint8_t *data, size_t size, size_t pos,
                   const lb_pickle_opts *opts, lb_err *err)
{
    return run(out, data, size, pos, opts, 1, err);
}

void lb_pickle_free(lb_pickle *p)
{
    if (!p) return;
    ar_free(p->priv);
    free(p->globals);
    free(p->payloads);
    free(p);
}

/* ---- walking ---- */

const char *lb_pk_kind_name(int kind)
{
    static const char *const names[LB_PK_KIND_COUNT] = {
        "None", "bool", "int", "int", "float", "str", "bytes", "bytearray", "tuple", "list",
        "dict", "set", "frozenset", "global", "tensor", "storage", "object", "persistent id",
        "opaque value" };
    return kind >= 0 && kind < LB_PK_KIND_COUNT ? names[kind] : "?";
}

const lb_pk_node *lb_pk_dict_get(const lb_pk_node *d, const char *key)
{
    const lb_pk_node *r = NULL;
    if (!is_kind(d, LB_PK_DICT) || !key) return NULL;
    size_t kn = strlen(key);
    for (uint64_t i = 0; i < d->v.seq.n; i++) {
        const lb_pk_node *k = d->v.seq.items[2 * i];
        if (is_kind(k, LB_PK_STR) && k->v.s.p && k->v.s.n == kn && !memcmp(k->v.s.p, key, kn))
            r = d->v.seq.items[2 * i + 1];
    }
    return r;
}

int lb_pk_int(const lb_pk_node *n, int64_t *v)
{
    if (!n) return -1;
    if (n->kind == LB_PK_INT || n->kind == LB_PK_BOOL) { *v = n->v.i; return 0; }
    if (n->kind == LB_PK_BIGINT && n->v.s.p && n->v.s.n > 8) {
        const uint8_t *b = (const uint8_t *)n->v.s.p;
        uint8_t fill = (b[7] & 0x80) ? 0xff : 0;
        for (uint64_t i = 8; i < n->v.s.n; i++) if (b[i] != fill) return -1;
        *v = (int64_t)lb_ld64(b);
        return 0;
    }
    return -1;
}

/* ---- state dicts ---- */

static size_t count_tensors(const lb_pk_node *d)
{
    size_t k = 0;
    if (!is_kind(d, LB_PK_DICT)) return 0;
    for (uint64_t i = 0; i < d->v.seq.n; i++)
        if (is_kind(d->v.seq.items[2 * i + 1], LB_PK_TENSOR)) k++;
    return k;
}

static const lb_pk_node *find_state_dict(const lb_pk_node *root)
{
    static const char *const names[] = { "state_dict", "model_state_dict", "model", "module", "net" };
    if (!is_kind(root, LB_PK_DICT)) return NULL;
    if (count_tensors(root)) return root;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const lb_pk_node *d = lb_pk_dict_get(root, names[i]);
        if (count_tensors(d)) return d;
    }
    for (uint64_t i = 0; i < root->v.seq.n; i++)
        if (count_tensors(root->v.seq.items[2 * i + 1])) return root->v.seq.items[2 * i + 1];
    return NULL;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int tensor_desc(const char *name, const lb_pk_node *t, lb_pk_tensor *o, lb_err *err)
{
    const lb_pk_node *s = t->v.tensor.storage;
    memset(o, 0, sizeof *o);
    o->name = name;
    if (!is_kind(s, LB_PK_STORAGE) || s->v.storage.type < 0 || !s->v.storage.key)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, t->off, "storage is not a typed storage reference");
    if (t->v.tensor.ndim > LB_MAX_DIMS)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, t->off, "%d dims > %d", t->v.tensor.ndim, LB_MAX_DIMS);
    o->storage_key = s->v.storage.key;
    o->storage_cls = s->v.storage.cls;
    o->location = s->v.storage.location;
    o->type = s->v.storage.type;
    o->storage_numel = s->v.storage.numel;
    o->requires_grad = t->v.tensor.requires_grad;
    o->ndim = t->v.tensor.ndim;
    if (lb_add64(s->v.storage.view_offset, t->v.tensor.storage_offset, &o->storage_offset))
        return lb_err_item(err, LB_EFORMAT, "tensor", name, t->off, "storage offset overflows");
    uint64_t nel = 1, last = 0, expect = 1;
    o->contiguous = 1;
    for (int i = o->ndim - 1; i >= 0; i--) {
        uint64_t d = t->v.tensor.size[i], span;
        int64_t st = t->v.tensor.stride[i];
        o->shape[i] = d;
        o->stride[i] = st;
        if (lb_mul64(nel, d, &nel))
            return lb_err_item(err, LB_EFORMAT, "tensor", name, t->off, "element count overflows");
        if (d > 1 && st < 0)
            return lb_err_item(err, LB_EFORMAT, "tensor", name, t->off, "negative stride %lld", (long long)st);
        if (d > 1 && (uint64_t)st != expect) o->contiguous = 0;
        if (d && (lb_mul64(d - 1, (uint64_t)(st < 0 ? 0 : st), &span) || lb_add64(last, span, &last)))
            return lb_err_item(err, LB_EFORMAT, "tensor", name, t->off, "extent overflows");
        if (lb_mul64(expect, d, &expect)) expect = UINT64_MAX;
    }
    o->nelem = nel;
    uint64_t end;
    if (nel && (lb_add64(o->storage_offset, last, &end) || end >= o->storage_numel))
        return lb_err_item(err, LB_EFORMAT, "tensor", name, t->off,
                           "extent past the end of storage '%s' (%llu elements)", o->storage_key,
                           (unsigned long long)o->storage_numel);
    return LB_OK;
}

int lb_pickle_tensors(const lb_pickle *p, lb_pk_tensor **out, size_t *n, lb_err *err)
{
    *out = NULL;
    *n = 0;
    if (p && is_kind(p->root, LB_PK_TENSOR)) {      /* torch.save(tensor) */
        lb_pk_tensor *v = calloc(1, sizeof *v);
        if (!v) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        int rc = tensor_desc("", p->root, v, err);
        if (rc) { free(v); return rc; }
        *out = v;
        *n = 1;
        return LB_OK;
    }
    const lb_pk_node *d = p ? find_state_dict(p->root) : NULL;
    if (!d) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "no state dict: the pickle holds no dict of tensors");
    size_t k = count_tensors(d), j = 0;
    lb_pk_tensor *v = calloc(k, sizeof *v);
    const char **names = calloc(k, sizeof *names);
    if (!v || !names) {
        free(v);
        free(names);
        return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    }
    for (uint64_t i = 0; i < d->v.seq.n; i++) {
        const lb_pk_node *key = d->v.seq.items[2 * i], *t = d->v.seq.items[2 * i + 1];
        if (!is_kind(t, LB_PK_TENSOR)) continue;
        if (!is_kind(key, LB_PK_STR) || !key->v.s.p || strlen(key->v.s.p) != key->v.s.n) {
            free(v);
            free(names);
            return lb_err_set(err, LB_EFORMAT, t->off, "state dict key of a tensor is not a string");
        }
        int rc = tensor_desc(key->v.s.p, t, &v[j], err);
        if (rc) { free(v); free(names); return rc; }
        names[j++] = key->v.s.p;
    }
    qsort(names, k, sizeof *names, name_cmp);
    for (size_t i = 1; i < k; i++)
        if (!strcmp(names[i - 1], names[i])) {
            int rc = lb_err_item(err, LB_EFORMAT, "tensor", names[i], LB_NO_OFFSET, "name appears twice in the state dict");
            free(v);
            free(names);
            return rc;
        }
    free(names);
    *out = v;
    *n = k;
    return LB_OK;
}
