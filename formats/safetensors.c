/* safetensors.c: safetensors reader (one file or a sharded HF set) and streaming writer.
 *
 * On-disk layout (docs/formats-safetensors.md):
 *   1. u64 little-endian N: the header length (2 <= N <= 100,000,000, 8 + N <= file size)
 *   2. N bytes of UTF-8 JSON: one object. "__metadata__" maps strings to strings; every
 *      other key is a tensor name mapped to {"dtype": "F32", "shape": [d0, ...],
 *      "data_offsets": [begin, end]}. Writers pad it with spaces to a multiple of 8.
 *   3. the data section: offsets are relative to its first byte (8 + N); the tensors
 *      cover it exactly, with no gap, no overlap and nothing after the last one.
 *
 * JSON is parsed by cJSON, which is lenient where the spec is not: it keeps duplicate
 * keys, turns every number into a double (2^53 + 1 silently becomes 2^53, "1.0000000000000001"
 * becomes 1), accepts control characters as whitespace and does not check UTF-8. So before
 * cJSON sees the header, a small lexical pass (scan_json) validates UTF-8, refuses raw
 * control characters and \u0000, and records where every number token starts in the
 * text, in document order. cJSON builds its tree in that same order, so a pre-order walk
 * of the tree (number_walk) pairs the k-th number node with the k-th token and stores k
 * in the node's valueint. Integers (shape, data_offsets, index total_size) are then read
 * from the original token text, digit by digit, never from the double. */
#include "lb_safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_writer.h"

#define ST_MAX_DEPTH   64            /* real headers nest 3 deep */
#define ST_MAX_VALUES  2000000       /* JSON values per header: ~130 MB of cJSON nodes */
#define ST_MAX_INDEX   (64u << 20)   /* model.safetensors.index.json */
#define ST_MAX_EXACT   (1ull << 53)  /* integers JSON carries exactly everywhere */

/* ---- lexical pass ------------------------------------------------------------- */

typedef struct st_tok { uint32_t pos, len; } st_tok;

typedef struct st_scan {
    const char *txt;
    size_t      n;
    uint64_t    base;        /* file offset of txt[0], for messages */
    st_tok     *nums;        /* number tokens in document order */
    size_t      n_nums, cap_nums;
    uint32_t   *keys;        /* positions of the root object's keys, in order */
    size_t      n_keys, cap_keys;
} st_scan;

static void scan_free(st_scan *s)
{
    free(s->nums);
    free(s->keys);
    memset(s, 0, sizeof *s);
}

static int push_u32(uint32_t **arr, size_t *n, size_t *cap, uint32_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        uint32_t *p = realloc(*arr, nc * sizeof *p);
        if (!p) return -1;
        *arr = p;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static int push_tok(st_scan *s, uint32_t pos, uint32_t len)
{
    if (s->n_nums == s->cap_nums) {
        size_t nc = s->cap_nums ? s->cap_nums * 2 : 64;
        st_tok *p = realloc(s->nums, nc * sizeof *p);
        if (!p) return -1;
        s->nums = p;
        s->cap_nums = nc;
    }
    s->nums[s->n_nums].pos = pos;
    s->nums[s->n_nums].len = len;
    s->n_nums++;
    return 0;
}

/* Length of the UTF-8 sequence at p (strict: no overlongs, no surrogates, <= U+10FFFF),
 * 0 if invalid. */
static size_t utf8_len(const uint8_t *p, size_t left)
{
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    size_t k;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) { k = 2; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { k = 3; cp = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { k = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (left < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return k;
}

/* 1 if s[0..n) is valid UTF-8 (used by the writer too). */
static int utf8_ok(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(p + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

static int scan_err(const st_scan *s, lb_err *err, size_t at, const char *what, const char *msg)
{
    return lb_err_set(err, LB_EFORMAT, s->base + at, "%s: %s", what, msg);
}

/* Inside a string starting after its opening quote at *i; leaves *i after the closing one. */
static int scan_string(st_scan *s, size_t *i, const char *what, lb_err *err)
{
    const uint8_t *p = (const uint8_t *)s->txt;
    size_t j = *i;
    while (j < s->n) {
        uint8_t c = p[j];
        if (c == '"') { *i = j + 1; return LB_OK; }
        if (c < 0x20)
            return scan_err(s, err, j, what, "raw control character in a JSON string");
        if (c == '\\') {
            if (j + 1 >= s->n) break;
            if (p[j + 1] == 'u' && j + 5 < s->n && memcmp(p + j + 2, "0000", 4) == 0)
                return scan_err(s, err, j, what, "\\u0000 in a JSON string is not supported");
            j += 2;
            continue;
        }
        size_t k = utf8_len(p + j, s->n - j);
        if (!k) return scan_err(s, err, j, what, "invalid UTF-8");
        j += k;
    }
    return scan_err(s, err, *i - 1, what, "unterminated JSON string");
}

/* The lexical pass described at the top of the file. Grammar errors it does not catch
 * are left to cJSON; it only has to be right on text cJSON accepts. */
static int scan_json(st_scan *s, lb_err *err, const char *what)
{
    const uint8_t *p = (const uint8_t *)s->txt;
    uint8_t stack[ST_MAX_DEPTH];   /* '{' or '[' */
    int depth = 0;
    uint8_t last = 0;              /* last structural character seen */
    size_t values = 0;
    for (size_t i = 0; i < s->n;) {
        uint8_t c = p[i];
        if (values > ST_MAX_VALUES)
            return scan_err(s, err, i, what, "more than 2000000 JSON values");
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { i++; continue; }
        if (c == '"') {
            int is_key = depth > 0 && stack[depth - 1] == '{' && (last == '{' || last == ',');
            if (is_key && depth == 1 && push_u32(&s->keys, &s->n_keys, &s->cap_keys, (uint32_t)i))
                return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
            if (!is_key) values++;
            i++;
            LB_TRY(scan_string(s, &i, what, err));
            last = '"';
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < s->n && (p[j] == '-' || p[j] == '+' || p[j] == '.' || p[j] == 'e' ||
                                p[j] == 'E' || (p[j] >= '0' && p[j] <= '9')))
                j++;
            if (push_tok(s, (uint32_t)i, (uint32_t)(j - i)))
                return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
            values++;
            i = j;
            last = '0';
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == ST_MAX_DEPTH) return scan_err(s, err, i, what, "JSON nested too deeply");
            stack[depth++] = c;
            values++;
        } else if (c == '}' || c == ']') {
            if (depth > 0) depth--;
        } else if (c < 0x20 || c == 0x7f) {
            return scan_err(s, err, i, what, "control character outside a JSON string");
        } else if (c >= 0x80) {     /* not JSON, but say "invalid UTF-8" only when it is */
            size_t k = utf8_len(p + i, s->n - i);
            if (!k) return scan_err(s, err, i, what, "invalid UTF-8");
            i += k;
            last = c;
            continue;
        } else if (c >= 'a' && c <= 'z') {
            values++;    /* true / false / null: cJSON checks the spelling */
            while (i + 1 < s->n && p[i + 1] >= 'a' && p[i + 1] <= 'z') i++;
        }
        last = c;
        i++;
    }
    return LB_OK;
}

/* Pair number nodes with tokens (pre-order = document order); valueint := token index. */
static int number_walk(cJSON *it, const st_scan *s, size_t *k)
{
    for (; it; it = it->next) {
        if (cJSON_IsNumber(it)) {
            if (*k >= s->n_nums) return -1;
            it->valueint = (int)(*k)++;
        } else if (it->child && number_walk(it->child, s, k)) {
            return -1;
        }
    }
    return 0;
}

/* The exact value of an integer field, from its token text. */
static int get_uint(const st_scan *s, const cJSON *it, uint64_t *v, const char *tensor,
                    const char *field, lb_err *err)
{
    uint64_t at = LB_NO_OFFSET;
    if (!cJSON_IsNumber(it) || it->valueint < 0 || (size_t)it->valueint >= s->n_nums)
        return lb_err_item(err, LB_EFORMAT, "tensor", tensor, at, "%s holds a non-number", field);
    const st_tok *t = &s->nums[it->valueint];
    const char *p = s->txt + t->pos;
    at = s->base + t->pos;
    int n = t->len > 40 ? 40 : (int)t->len;
    if (p[0] == '-')
        return lb_err_item(err, LB_EFORMAT, "tensor", tensor, at, "%s value %.*s is negative", field, n, p);
    uint64_t x = 0;
    for (uint32_t i = 0; i < t->len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return lb_err_item(err, LB_EFORMAT, "tensor", tensor, at,
                               "%s value %.*s is not an integer", field, n, p);
        if (x > ST_MAX_EXACT) continue;   /* keep scanning for non-digits */
        x = x * 10 + (uint64_t)(p[i] - '0');
    }
    if (t->len > 1 && p[0] == '0')
        return lb_err_item(err, LB_EFORMAT, "tensor", tensor, at,
                           "%s value %.*s has a leading zero (not valid JSON)", field, n, p);
    if (x > ST_MAX_EXACT)
        return lb_err_item(err, LB_EFORMAT, "tensor", tensor, at,
                           "%s value %.*s exceeds 2^53 (JSON numbers are exact only up to 2^53)",
                           field, n, p);
    *v = x;
    return LB_OK;
}

/* ---- duplicate keys ------------------------------------------------------------------- */

static int cmp_key(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    int c = strcmp(x->string, y->string);
    return c ? c : (x < y ? -1 : x > y);
}

/* First duplicate key among obj's children (NULL if none; *oom set on allocation failure). */
static const cJSON *dup_key(const cJSON *obj, int *oom)
{
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next) n++;
    if (n < 2) return NULL;
    const cJSON **v = malloc(n * sizeof *v);
    if (!v) { *oom = 1; return NULL; }
    n = 0;
    for (const cJSON *c = obj->child; c; c = c->next) v[n++] = c;
    qsort(v, n, sizeof *v, cmp_key);
    const cJSON *d = NULL;
    for (size_t i = 1; i < n && !d; i++)
        if (strcmp(v[i - 1]->string, v[i]->string) == 0) d = v[i];
    free(v);
    return d;
}

/* Duplicate keys anywhere below the root (the root's are checked by the caller, which
 * knows key positions). serde_json, the reference parser, refuses them in structs. */
static int nested_dups(const cJSON *it, const char *what, lb_err *err)
{
    for (; it; it = it->next) {
        if (!it->child) continue;
        if (cJSON_IsObject(it)) {
            int oom = 0;
            const cJSON *d = dup_key(it, &oom);
            if (oom) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
            if (d)
                return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "%s: duplicate key '%.100s' in '%.100s'",
                                  what, d->string, it->string ? it->string : "");
        }
        LB_TRY(nested_dups(it->child, what, err));
    }
    return LB_OK;
}

/* Lex, parse and pair numbers: *root is an object on success. */
static int parse_json(st_scan *s, cJSON **root, const char *what, lb_err *err)
{
    *root = NULL;
    LB_TRY(scan_json(s, err, what));
    size_t i = 0;
    while (i < s->n && (s->txt[i] == ' ' || s->txt[i] == '\t' || s->txt[i] == '\n' || s->txt[i] == '\r')) i++;
    const char *end = NULL;
    cJSON *r = cJSON_ParseWithLengthOpts(s->txt, s->n, &end, 0);
    if (!r) {
        size_t at = end && end >= s->txt && end <= s->txt + s->n ? (size_t)(end - s->txt) : 0;
        return lb_err_set(err, LB_EFORMAT, s->base + at, "%s is not valid JSON (error near byte %zu of it)",
                          what, at);
    }
    for (size_t j = (size_t)(end - s->txt); j < s->n; j++)
        if (s->txt[j] != ' ' && s->txt[j] != '\t' && s->txt[j] != '\n' && s->txt[j] != '\r') {
            cJSON_Delete(r);
            return lb_err_set(err, LB_EFORMAT, s->base + j, "%s: data after the JSON object", what);
        }
    if (!cJSON_IsObject(r) || i >= s->n || s->txt[i] != '{') {
        cJSON_Delete(r);
        return lb_err_set(err, LB_EFORMAT, s->base + i, "%s JSON is not an object", what);
    }
    size_t k = 0;
    if (number_walk(r->child, s, &k) || k != s->n_nums) {
        cJSON_Delete(r);
        return lb_err_set(err, LB_EFORMAT, s->base, "%s: JSON numbers could not be matched to their text", what);
    }
    int oom = 0;
    size_t n_root = 0;
    for (const cJSON *c = r->child; c; c = c->next) n_root++;
    if (n_root != s->n_keys) {
        cJSON_Delete(r);
        return lb_err_set(err, LB_EFORMAT, s->base, "%s: JSON keys could not be matched to their text", what);
    }
    const cJSON *d = dup_key(r, &oom);
    int rc = oom ? lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory") : LB_OK;
    if (!rc && d) {
        size_t idx = 0;
        for (const cJSON *c = r->child; c != d; c = c->next) idx++;
        rc = lb_err_item(err, LB_EFORMAT, strcmp(d->string, "__metadata__") ? "tensor" : "key",
                         d->string, s->base + s->keys[idx], "duplicate %s",
                         strcmp(d->string, "__metadata__") ? "tensor name" : "key in the header");
    }
    if (!rc) rc = nested_dups(r->child, what, err);
    if (rc) { cJSON_Delete(r); return rc; }
    *root = r;
    return LB_OK;
}

/* ---- one file ----------------------------------------------------------------------- */

static const char *json_kind(const cJSON *it)
{
    if (cJSON_IsString(it)) return "string";
    if (cJSON_IsNumber(it)) return "number";
    if (cJSON_IsBool(it)) return "boolean";
    if (cJSON_IsNull(it)) return "null";
    if (cJSON_IsArray(it)) return "array";
    if (cJSON_IsObject(it)) return "object";
    return "invalid value";
}

static int read_metadata(lb_model *m, const cJSON *md, uint64_t at, lb_err *err)
{
    if (cJSON_IsNull(md)) return LB_OK;   /* MLX writes null; the reference reads it as none */
    if (!cJSON_IsObject(md))
        return lb_err_item(err, LB_EFORMAT, "key", "__metadata__", at, "is a %s, not an object of strings",
                           json_kind(md));
    for (const cJSON *c = md->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return lb_err_item(err, LB_EFORMAT, "key", c->string, at,
                               "__metadata__ value is a %s, not a string", json_kind(c));
        if (lb_model_kv(m, c->string)) continue;   /* sharded: the first shard's value wins */
        LB_TRY(lb_model_add_str(m, c->string, c->valuestring, err));
    }
    return LB_OK;
}

static int read_tensor(lb_model *m, int file, const st_scan *s, const cJSON *e, uint64_t at,
                       uint64_t data_size, lb_err *err)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return lb_err_item(err, LB_EFORMAT, "tensor", name, at, "entry is a %s, not an object", json_kind(e));
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!dt) return lb_err_item(err, LB_EFORMAT, "tensor", name, at, "missing dtype");
    if (!cJSON_IsString(dt))
        return lb_err_item(err, LB_EFORMAT, "tensor", name, at, "dtype is a %s, not a string", json_kind(dt));
    const lb_type_traits *tt = lb_type_by_st_name(dt->valuestring);
    if (!tt)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, at, "unknown dtype '%.40s'", dt->valuestring);
    if (!sh) return lb_err_item(err, LB_EFORMAT, "tensor", name, at, "missing shape");
    if (!cJSON_IsArray(sh))
        return lb_err_item(err, LB_EFORMAT, "tensor", name, at, "shape is a %s, not an array", json_kind(sh));
    if (!of) return lb_err_item(err, LB_EFORMAT, "tensor", name, at, "missing data_offsets");
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, at, "data_offsets is not an array [begin, end]");
    int ndim = cJSON_GetArraySize(sh);
    if (ndim > LB_MAX_DIMS)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, at, "shape has %d dimensions (at most %d)",
                           ndim, LB_MAX_DIMS);
    uint64_t shape[LB_MAX_DIMS], b, e_;
    int d = 0;
    for (const cJSON *c = sh->child; c; c = c->next) LB_TRY(get_uint(s, c, &shape[d++], name, "shape", err));
    LB_TRY(get_uint(s, of->child, &b, name, "data_offsets", err));
    LB_TRY(get_uint(s, of->child->next, &e_, name, "data_offsets", err));
    if (b > e_)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, at, "data_offsets begin %llu is after end %llu",
                           (unsigned long long)b, (unsigned long long)e_);
    uint64_t ds = m->files[file].data_start;
    if (e_ > data_size)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, at,
                           "data_offsets end %llu is past end of file (data section is %llu bytes)",
                           (unsigned long long)e_, (unsigned long long)data_size);
    lb_tensor *t;
    int rc = lb_model_add_tensor(m, name, tt->id, ndim, shape, ds + b, file, &t, err);
    if (rc) {
        if (err && err->offset == LB_NO_OFFSET) err->offset = at;
        return rc;
    }
    if (t->nbytes != e_ - b)
        return lb_err_item(err, LB_EFORMAT, "tensor", name, at,
                           "%s shape needs %llu bytes but data_offsets [%llu, %llu] span %llu",
                           tt->st_name, (unsigned long long)t->nbytes, (unsigned long long)b,
                           (unsigned long long)e_, (unsigned long long)(e_ - b));
    return LB_OK;
}

static int cmp_range(const void *a, const void *b)
{
    const lb_tensor *x = *(const lb_tensor *const *)a, *y = *(const lb_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* The spec: the data section is fully indexed, no holes (so no hidden payload either). */
static int check_cover(lb_model *m, int file, size_t first, uint64_t data_size, lb_err *err)
{
    size_t n = m->n_tensors - first;
    uint64_t ds = m->files[file].data_start, at = ds;
    const lb_tensor **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < n; i++) v[i] = &m->tensors[first + i];
    qsort(v, n, sizeof *v, cmp_range);
    int rc = LB_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (v[i]->offset > at)
            rc = lb_err_item(err, LB_EFORMAT, "tensor", v[i]->name, at,
                             "%llu bytes of data before it belong to no tensor (the data section "
                             "must be fully covered)", (unsigned long long)(v[i]->offset - at));
        else if (v[i]->offset + v[i]->nbytes > at)
            at = v[i]->offset + v[i]->nbytes;
    }
    if (!rc && at < ds + data_size)
        rc = lb_err_set(err, LB_EFORMAT, at, "%llu bytes after the last tensor's data belong to no tensor",
                        (unsigned long long)(ds + data_size - at));
    free(v);
    return rc;
}

static int parse_header(lb_model *m, int file, const cJSON *root, const st_scan *s,
                        uint64_t data_size, lb_err *err)
{
    size_t first = m->n_tensors, idx = 0;
    for (const cJSON *c = root->child; c; c = c->next, idx++) {
        uint64_t at = s->base + s->keys[idx];
        if (strcmp(c->string, "__metadata__") == 0) LB_TRY(read_metadata(m, c, at, err));
        else LB_TRY(read_tensor(m, file, s, c, at, data_size, err));
    }
    LB_TRY(lb_model_check_overlaps(m, err));
    return check_cover(m, file, first, data_size, err);
}

/* Parse m->files[file] and append its tensors and metadata. */
static int st_read_file(lb_model *m, int file, lb_err *err)
{
    lb_src *src = m->files[file].src;
    uint64_t size = lb_src_size(src), n;
    uint8_t lenb[8];
    if (size < 8)
        return lb_err_set(err, LB_EFORMAT, 0, "truncated: file is %llu bytes, shorter than the 8-byte header length",
                          (unsigned long long)size);
    LB_TRY(lb_src_read(src, 0, lenb, 8, err));
    n = lb_ld64(lenb);
    if (n > LB_ST_MAX_HEADER)
        return lb_err_set(err, LB_EFORMAT, 0, "header length %llu exceeds the %u-byte limit",
                          (unsigned long long)n, LB_ST_MAX_HEADER);
    if (n > size - 8)
        return lb_err_set(err, LB_EFORMAT, 0, "truncated: header length %llu runs past end of file (%llu bytes)",
                          (unsigned long long)n, (unsigned long long)size);
    if (n < 2)
        return lb_err_set(err, LB_EFORMAT, 0, "header length %llu is too small for a JSON object",
                          (unsigned long long)n);
    m->files[file].data_start = 8 + n;
    st_scan s = { .n = (size_t)n, .base = 8 };
    char *own = NULL;
    const uint8_t *mem = lb_src_memptr(src);
    if (mem) {
        s.txt = (const char *)mem + 8;
    } else {
        if (!(own = malloc((size_t)n))) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        int rc = lb_src_read(src, 8, own, (size_t)n, err);
        if (rc) { free(own); return rc; }
        s.txt = own;
    }
    cJSON *root;
    int rc = parse_json(&s, &root, "header", err);
    if (!rc) {
        rc = parse_header(m, file, root, &s, size - 8 - n, err);
        cJSON_Delete(root);
    }
    scan_free(&s);
    free(own);
    return rc;
}

int lb_safetensors_bid(const uint8_t *head, size_t n, uint64_t size)
{
    if (n < 9 || size < 10) return 0;
    uint64_t len = lb_ld64(head);
    if (len < 2 || len > LB_ST_MAX_HEADER || len > size - 8) return 0;
    for (size_t i = 8; i < n && i < 8 + len; i++) {
        if (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r') continue;
        return head[i] == '{' ? 80 : 0;
    }
    return 0;
}

int lb_safetensors_open(lb_model *m, lb_src *src, const char *path, lb_err *err)
{
    int f = lb_model_add_file(m, path, src);
    if (f < 0) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    return st_read_file(m, f, err);
}

const lb_format lb_fmt_safetensors = { "safetensors", lb_safetensors_bid, lb_safetensors_open };

/* ---- sharded sets ------------------------------------------------------------------- */

typedef struct st_shard { const char *name; const char *tensor; int file; } st_shard;

static int cmp_shard(const void *a, const void *b)
{
    return strcmp(((const st_shard *)a)->name, ((const st_shard *)b)->name);
}

/* Shard names are plain file names beside the index: no folders, so no way out of it. */
static int shard_name_ok(const char *s)
{
    return s[0] && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/') && !strchr(s, '\\');
}

/* Index metadata ("metadata", as transformers writes it, or "__metadata__"): strings,
 * exact integers (total_size), other numbers and booleans become kvs; null, arrays and
 * objects are skipped (informational only). */
static int index_metadata(lb_model *m, const cJSON *md, const st_scan *s, lb_err *err)
{
    if (!cJSON_IsObject(md)) return LB_OK;
    for (const cJSON *c = md->child; c; c = c->next) {
        lb_value v = { 0 };
        if (cJSON_IsString(c)) {
            LB_TRY(lb_model_add_str(m, c->string, c->valuestring, err));
            continue;
        }
        if (cJSON_IsBool(c)) {
            v.type = LB_V_BOOL;
            v.v.u = cJSON_IsTrue(c);
        } else if (cJSON_IsNumber(c)) {
            uint64_t u;
            lb_err tmp;
            if (get_uint(s, c, &u, c->string, "metadata", &tmp) == LB_OK) {
                v.type = LB_V_U64;
                v.v.u = u;
            } else {
                v.type = LB_V_F64;
                v.v.f = c->valuedouble;
            }
        } else {
            continue;
        }
        LB_TRY(lb_model_add_kv(m, c->string, &v, err));
    }
    return LB_OK;
}

static int cmp_tname(const void *a, const void *b)
{
    return strcmp((*(const lb_tensor *const *)a)->name, (*(const lb_tensor *const *)b)->name);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Every tensor the index names is in the shard it names. */
static int check_map(lb_model *m, const cJSON *wm, const st_shard *sh, size_t n_sh, lb_err *err)
{
    const lb_tensor **v = malloc((m->n_tensors ? m->n_tensors : 1) * sizeof *v);
    if (!v) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < m->n_tensors; i++) v[i] = &m->tensors[i];
    qsort(v, m->n_tensors, sizeof *v, cmp_tname);
    int rc = LB_OK;
    for (const cJSON *c = wm->child; c && !rc; c = c->next) {
        st_shard key = { .name = c->valuestring };
        const st_shard *s = bsearch(&key, sh, n_sh, sizeof *sh, cmp_shard);
        lb_tensor probe = { .name = c->string };
        const lb_tensor *pp = &probe;
        const lb_tensor **t = bsearch(&pp, v, m->n_tensors, sizeof *v, cmp_tname);
        if (!t)
            rc = lb_err_item(err, LB_EFORMAT, "tensor", c->string, LB_NO_OFFSET,
                             "the index maps it to shard '%.120s', which does not hold it", c->valuestring);
        else if (s && (*t)->file != s->file)
            rc = lb_err_item(err, LB_EFORMAT, "tensor", c->string, LB_NO_OFFSET,
                             "the index maps it to shard '%.120s', which does not hold it (it is in '%.120s')",
                             c->valuestring, base_name(m->files[(*t)->file].path));
    }
    free(v);
    return rc;
}

/* Prefix a shard's parse error with the shard's name. */
static int in_shard(lb_err *err, int rc, const char *shard)
{
    if (rc && err && rc != LB_EIO) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "shard '%.100s': %.340s", shard, err->msg);
        memcpy(err->msg, msg, sizeof msg);
    }
    return rc;
}

static int open_shards(lb_model *m, const char *dir, st_shard *sh, size_t n_sh, lb_shard_reader read_shard,
                       lb_err *err)
{
    for (size_t i = 0; i < n_sh; i++) {
        size_t len = strlen(dir) + strlen(sh[i].name) + 2;
        char *p = malloc(len);
        if (!p) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        snprintf(p, len, "%s/%s", dir, sh[i].name);
        struct stat st;
        if (stat(p, &st) != 0 && errno == ENOENT) {
            free(p);
            return lb_err_item(err, LB_EFORMAT, "shard", sh[i].name, LB_NO_OFFSET,
                               "missing (the index maps tensor '%.120s' to it)", sh[i].tensor);
        }
        lb_src *src;
        int rc = lb_src_open(&src, p, err);
        if (rc) {
            free(p);
            if (err) snprintf(err->item, sizeof err->item, "shard '%.120s'", sh[i].name);
            return rc;
        }
        sh[i].file = lb_model_add_file(m, p, src);
        free(p);
        if (sh[i].file < 0) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
        LB_TRY(in_shard(err, read_shard(m, sh[i].file, err), sh[i].name));
    }
    return LB_OK;
}

static int read_index(lb_model *m, const char *dir, const cJSON *root, const st_scan *s, lb_shard_reader read_shard,
                      lb_err *err)
{
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm))
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "index: %s weight_map object",
                          wm ? "weight_map is not an" : "no");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (!md) md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    LB_TRY(index_metadata(m, md, s, err));
    size_t n = 0;
    if (!wm->child) return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "index: weight_map is empty");
    for (const cJSON *c = wm->child; c; c = c->next, n++) {
        if (!cJSON_IsString(c))
            return lb_err_item(err, LB_EFORMAT, "tensor", c->string, LB_NO_OFFSET,
                               "index: weight_map value is a %s, not a shard file name", json_kind(c));
        if (!shard_name_ok(c->valuestring))
            return lb_err_item(err, LB_EFORMAT, "shard", c->valuestring, LB_NO_OFFSET,
                               "index: shard name must be a plain file name in the index's folder "
                               "(tensor '%.120s')", c->string);
    }
    st_shard *sh = malloc((n ? n : 1) * sizeof *sh);
    if (!sh) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    size_t k = 0;
    for (const cJSON *c = wm->child; c; c = c->next)
        sh[k++] = (st_shard){ c->valuestring, c->string, -1 };
    /* distinct shards, sorted by name; keep the first tensor mapped to each (for messages) */
    qsort(sh, n, sizeof *sh, cmp_shard);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (!u || strcmp(sh[u - 1].name, sh[i].name)) sh[u++] = sh[i];
    int rc = open_shards(m, dir, sh, u, read_shard, err);
    if (!rc) rc = lb_model_check_names(m, err);
    if (!rc) rc = check_map(m, wm, sh, u, err);
    free(sh);
    return rc;
}

int lb_safetensors_open_index(lb_model *m, const char *index_path, lb_err *err)
{
    return lb_index_open(m, index_path, st_read_file, err);
}

int lb_index_open(lb_model *m, const char *index_path, lb_shard_reader read_shard, lb_err *err)
{
    lb_src *src;
    LB_TRY(lb_src_open(&src, index_path, err));
    uint64_t size = lb_src_size(src);
    if (size > ST_MAX_INDEX) {
        lb_src_close(src);
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "index: %llu bytes is larger than the %u-byte limit",
                          (unsigned long long)size, ST_MAX_INDEX);
    }
    char *txt = malloc(size ? (size_t)size : 1);
    int rc = txt ? lb_src_read(src, 0, txt, (size_t)size, err)
                 : lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    lb_src_close(src);
    if (rc) { free(txt); return rc; }
    char *dir = strdup(index_path);
    if (!dir) { free(txt); return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory"); }
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else strcpy(dir, ".");
    st_scan s = { .txt = txt, .n = (size_t)size, .base = 0 };
    cJSON *root;
    rc = parse_json(&s, &root, "index", err);
    if (!rc) {
        rc = read_index(m, dir, root, &s, read_shard, err);
        cJSON_Delete(root);
    }
    scan_free(&s);
    free(dir);
    free(txt);
    return rc;
}

/* ---- writer --------------------------------------------------------------------------- */

typedef struct st_buf { char *p; size_t n, cap; int oom; } st_buf;

static void buf_put(st_buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (b->n + n + 1 > nc) nc *= 2;
        char *p = realloc(b->p, nc);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void buf_str(st_buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_u64(st_buf *b, uint64_t v)
{
    char t[24];
    buf_put(b, t, (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)v));
}

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 kept. */
static void buf_json_str(st_buf *b, const char *s, size_t n)
{
    buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\') { e[0] = '\\'; e[1] = (char)c; buf_put(b, e, 2); }
        else if (c == '\n') buf_put(b, "\\n", 2);
        else if (c == '\t') buf_put(b, "\\t", 2);
        else if (c == '\r') buf_put(b, "\\r", 2);
        else if (c < 0x20) buf_put(b, e, (size_t)snprintf(e, sizeof e, "\\u%04x", c));
        else buf_put(b, (const char *)&s[i], 1);
    }
    buf_put(b, "\"", 1);
}

static int st_can_store(const lb_wtensor *t, lb_err *err)
{
    const lb_type_traits *tt = lb_type_get(t->type);
    if (!tt || !tt->st_name)
        return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET,
                           "type %s has no safetensors dtype (dequantize it first)", tt ? tt->name : "unknown");
    if (!utf8_ok(t->name, strlen(t->name)))
        return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "name is not valid UTF-8");
    if (strcmp(t->name, "__metadata__") == 0)
        return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "name is reserved in safetensors");
    if (t->ndim < 0 || t->ndim > LB_MAX_DIMS)
        return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "%d dimensions", t->ndim);
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] > ST_MAX_EXACT)
            return lb_err_item(err, LB_EFORMAT, "tensor", t->name, LB_NO_OFFSET, "dimension exceeds 2^53");
    return LB_OK;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A name that appears twice in names[0..n), or NULL; *oom on allocation failure. */
static const char *dup_name(const char **names, size_t n, int *oom)
{
    if (n < 2) return NULL;
    const char **v = malloc(n * sizeof *v);
    if (!v) { *oom = 1; return NULL; }
    memcpy(v, names, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_cstr);
    const char *d = NULL;
    for (size_t i = 1; i < n && !d; i++)
        if (strcmp(v[i - 1], v[i]) == 0) d = v[i];
    free(v);
    return d;
}

static int check_unique(lb_writer *w, lb_err *err)
{
    size_t n = w->n_t > w->n_kv ? w->n_t : w->n_kv;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names) return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    int oom = 0, rc = LB_OK;
    for (size_t i = 0; i < w->n_t; i++) names[i] = w->t[i].name;
    const char *d = dup_name(names, w->n_t, &oom);
    if (d) rc = lb_err_item(err, LB_EFORMAT, "tensor", d, LB_NO_OFFSET, "duplicate tensor name");
    for (size_t i = 0; !rc && i < w->n_kv; i++) names[i] = w->kv[i].key;
    if (!rc && (d = dup_name(names, w->n_kv, &oom)))
        rc = lb_err_item(err, LB_EFORMAT, "key", d, LB_NO_OFFSET, "duplicate metadata key");
    free(names);
    if (!rc && oom) rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    return rc;
}

/* safetensors metadata is string -> string: other value types are refused, not
 * stringified, so the caller decides (drop them, or format them itself). */
static int put_metadata(lb_writer *w, st_buf *b, lb_err *err)
{
    if (!w->n_kv) return LB_OK;
    buf_str(b, "\"__metadata__\":{");
    for (size_t i = 0; i < w->n_kv; i++) {
        const lb_kv *kv = &w->kv[i];
        if (kv->val.type != LB_V_STR)
            return lb_err_item(err, LB_EFORMAT, "key", kv->key, LB_NO_OFFSET,
                               "safetensors metadata holds only strings, this value is a %s "
                               "(drop it or convert it to a string)", lb_vtype_name(kv->val.type));
        if (!utf8_ok(kv->key, strlen(kv->key)))
            return lb_err_item(err, LB_EFORMAT, "key", kv->key, LB_NO_OFFSET, "key is not valid UTF-8");
        if (strlen(kv->val.v.s) != kv->val.n || !utf8_ok(kv->val.v.s, (size_t)kv->val.n))
            return lb_err_item(err, LB_EFORMAT, "key", kv->key, LB_NO_OFFSET,
                               "value is not valid UTF-8 text (or holds a NUL byte)");
        if (i) buf_put(b, ",", 1);
        buf_json_str(b, kv->key, strlen(kv->key));
        buf_put(b, ":", 1);
        buf_json_str(b, kv->val.v.s, (size_t)kv->val.n);
    }
    buf_str(b, "},");
    return LB_OK;
}

static int st_header(lb_writer *w, lb_err *err)
{
    LB_TRY(check_unique(w, err));
    st_buf b = { 0 };
    buf_put(&b, "{", 1);
    int rc = put_metadata(w, &b, err);
    for (size_t i = 0; !rc && i < w->n_t; i++) {
        const lb_wtensor *t = &w->t[i];
        if (i) buf_put(&b, ",", 1);
        buf_json_str(&b, t->name, strlen(t->name));
        buf_str(&b, ":{\"dtype\":\"");
        buf_str(&b, lb_type_get(t->type)->st_name);
        buf_str(&b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) buf_put(&b, ",", 1);
            buf_u64(&b, t->shape[d]);
        }
        buf_str(&b, "],\"data_offsets\":[");
        buf_u64(&b, w->offset[i]);
        buf_put(&b, ",", 1);
        buf_u64(&b, w->offset[i] + w->nbytes[i]);
        buf_str(&b, "]}");
    }
    if (!rc && w->n_kv && !w->n_t) b.n--;   /* no tensors: drop the comma after __metadata__ */
    buf_put(&b, "}", 1);
    while (!rc && !b.oom && b.n % 8) buf_put(&b, " ", 1);   /* data starts 8-aligned */
    if (!rc && b.oom) rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
    if (!rc && b.n > LB_ST_MAX_HEADER)
        rc = lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "header would be %zu bytes, over the %u-byte limit",
                        b.n, LB_ST_MAX_HEADER);
    if (!rc) {
        uint8_t len[8];
        lb_st64(len, b.n);
        rc = lb_out_write(w->out, len, 8, err);
        if (!rc) rc = lb_out_write(w->out, b.p, b.n, err);
        w->data_start = 8 + b.n;
    }
    free(b.p);
    return rc;
}

const lb_writer_ops lb_safetensors_writer_ops = { "safetensors", st_can_store, NULL, st_header, NULL };
