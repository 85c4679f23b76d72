/* scan_gguf.c: the GGUF lint pass. Walks the header (layout in formats/lb_gguf.h) with
 * bounds checks and records every problem it can see, continuing wherever the bytes still
 * tell where the next item starts: a bad value inside a tensor info does not stop the walk,
 * an unknown metadata value type does (its size is unknown, so the next key cannot be found).
 *
 * After the walk: tensor placement (alignment, past the end of the file, overlaps, duplicate
 * names) and metadata against tensors (<arch>.block_count vs the blk.N present, tokenizer
 * array lengths, token_embd / output rows vs the token count). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"
#include "lb_gguf.h"
#include "lb_le.h"
#include "lb_scan.h"

#define MAX_KEY      65535u
#define MAX_STRING   (1ull << 30)
#define MAX_ELEMS    (1ull << 30)
#define MAX_DEPTH    8
#define SANE_DIMS    16   /* beyond this an n_dims field is noise: stop */

typedef struct g_kv {
    char    *key;
    uint64_t at;          /* offset of the key */
    uint32_t type, arr_type;
    uint64_t n;           /* array count */
    uint64_t u;           /* unsigned scalar value */
    char    *s;           /* short string value, or NULL */
} g_kv;

typedef struct g_tensor {
    char    *name;
    uint64_t at;          /* offset of the tensor info */
    uint64_t oat;         /* offset of its data-offset field */
    int      ndim, type;  /* type -1 if unknown */
    uint64_t shape[4];    /* outermost first */
    uint64_t rel, abs, nbytes;
    int      sized;       /* nbytes known */
} g_tensor;

typedef struct g_ctx {
    lb_scan_file *r;
    lb_cur c;
    lb_err err;
    uint64_t size;
    g_kv *kv; size_t n_kv;
    g_tensor *t; size_t n_t;
    uint64_t alignment;
} g_ctx;

/* A failed read: truncation if it ran into the end of the file, otherwise malformed. */
static void read_fail(g_ctx *g, const char *what)
{
    const char *m = g->err.msg;
    int trunc = strstr(m, "truncated") || strstr(m, "past end of file");
    if (g->err.code == LB_EIO)
        lb_scan_add(g->r, "MALFORMED", LB_SEV_ERROR, g->err.offset, "%s: %s", what, m);
    else if (trunc)
        lb_scan_add(g->r, "TRUNCATED", LB_SEV_ERROR, g->err.offset,
                    "file ends inside the %s (%llu bytes): %s", what, (unsigned long long)g->size, m);
    else
        lb_scan_add(g->r, "MALFORMED", LB_SEV_ERROR, g->err.offset, "%s: %s", what, m);
}

/* A u64-length string; a length past the end of a file counts as truncation only when it
 * is plausible (<= max), else the length field itself is corrupt. */
static int rd_str(g_ctx *g, char **s, uint64_t max, const char *what)
{
    uint64_t at = g->c.pos, n;
    *s = NULL;
    if (lb_cur_u64(&g->c, &n)) { read_fail(g, what); return -1; }
    if (n > max) {
        lb_scan_add(g->r, "MALFORMED", LB_SEV_ERROR, at, "%s: string length %llu exceeds the limit %llu",
                    what, (unsigned long long)n, (unsigned long long)max);
        return -1;
    }
    g->c.pos = at;
    if (lb_cur_str64(&g->c, s, NULL, max)) { read_fail(g, what); return -1; }
    return 0;
}

static uint64_t vsize(uint32_t t)
{
    switch (t) {
    case LB_V_U8: case LB_V_I8: case LB_V_BOOL: return 1;
    case LB_V_U16: case LB_V_I16: return 2;
    case LB_V_U32: case LB_V_I32: case LB_V_F32: return 4;
    case LB_V_U64: case LB_V_I64: case LB_V_F64: return 8;
    default: return 0;
    }
}

/* Skip (or read, for scalars) one value; -1 stops the walk (finding recorded). */
static int rd_value(g_ctx *g, uint32_t type, int depth, g_kv *kv, const char *key)
{
    uint8_t b[8];
    uint64_t at = g->c.pos;
    if (type == LB_V_STR) {
        char *s;
        if (rd_str(g, &s, MAX_STRING, "metadata string")) return -1;
        if (kv && !kv->s) kv->s = s;
        else free(s);
        return 0;
    }
    if (type == LB_V_ARR) {
        uint32_t et;
        uint64_t n, need;
        if (lb_cur_u32(&g->c, &et) || lb_cur_u64(&g->c, &n)) { read_fail(g, "metadata array"); return -1; }
        if (kv) { kv->arr_type = et; kv->n = n; }
        if (et >= LB_V_COUNT || (et == LB_V_ARR && depth + 1 >= MAX_DEPTH)) {
            lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "key", key, at,
                         "array element type %u is unknown (or nested too deep)", et);
            return -1;
        }
        if (n > MAX_ELEMS) {
            lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "key", key, at,
                         "array of %llu elements exceeds the limit", (unsigned long long)n);
            return -1;
        }
        uint64_t es = vsize(et);
        if (es) {
            if (lb_mul64(n, es, &need) || lb_cur_skip(&g->c, need)) {
                lb_scan_addi(g->r, "TRUNCATED", LB_SEV_ERROR, "key", key, at,
                             "array of %llu %s runs past the end of the file (%llu bytes)",
                             (unsigned long long)n, lb_vtype_name((int)et), (unsigned long long)g->size);
                return -1;
            }
            return 0;
        }
        for (uint64_t i = 0; i < n; i++)
            if (rd_value(g, et, depth + 1, NULL, key)) return -1;
        return 0;
    }
    uint64_t es = vsize(type);
    if (!es) {
        lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "key", key, at,
                     "unknown value type %u (the rest of the header cannot be read)", type);
        return -1;
    }
    if (lb_cur_bytes(&g->c, b, (size_t)es)) { read_fail(g, "metadata value"); return -1; }
    if (kv) kv->u = es == 1 ? b[0] : es == 2 ? lb_ld16(b) : es == 4 ? lb_ld32(b) : lb_ld64(b);
    return 0;
}

static int rd_kvs(g_ctx *g, uint64_t n_kv)
{
    for (uint64_t i = 0; i < n_kv; i++) {
        uint64_t at = g->c.pos;
        char *key;
        g->c.what = "metadata";
        if (rd_str(g, &key, MAX_KEY, "metadata key")) return -1;
        g_kv *kv = &g->kv[g->n_kv++];
        memset(kv, 0, sizeof *kv);
        kv->key = key;
        kv->at = at;
        if (!key[0]) lb_scan_add(g->r, "MALFORMED", LB_SEV_ERROR, at, "metadata key %llu is empty", (unsigned long long)i);
        if (lb_cur_u32(&g->c, &kv->type)) { read_fail(g, "metadata value type"); return -1; }
        if (rd_value(g, kv->type, 0, kv, key)) return -1;
    }
    return 0;
}

static const g_kv *find_kv(const g_ctx *g, const char *key)
{
    for (size_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

static int is_uint(uint32_t t) { return t == LB_V_U8 || t == LB_V_U16 || t == LB_V_U32 || t == LB_V_U64 ||
                                        t == LB_V_I8 || t == LB_V_I16 || t == LB_V_I32 || t == LB_V_I64; }

/* One tensor info. -1: the walk cannot go on. */
static int rd_tinfo(g_ctx *g, g_tensor *t)
{
    memset(t, 0, sizeof *t);
    t->type = -1;
    t->at = g->c.pos;
    if (rd_str(g, &t->name, 1u << 16, "tensor name")) return -1;
    const char *nm = t->name;
    if (strlen(nm) > LB_GGUF_MAX_NAME)
        lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, t->at,
                     "name is %zu bytes (ggml allows at most %d)", strlen(nm), LB_GGUF_MAX_NAME);
    uint32_t nd, type;
    uint64_t ndat = g->c.pos;
    if (lb_cur_u32(&g->c, &nd)) { read_fail(g, "tensor info"); return -1; }
    if (nd > SANE_DIMS) {
        lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, ndat,
                     "%u dimensions (the rest of the tensor infos cannot be read)", nd);
        return -1;
    }
    uint64_t ne[SANE_DIMS], n = 1;
    int bad = 0;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t dat = g->c.pos;
        if (lb_cur_u64(&g->c, &ne[d])) { read_fail(g, "tensor info"); return -1; }
        if ((ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX) && !bad) {
            lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, dat, "dimension %u is %llu",
                         d, (unsigned long long)ne[d]);
            bad = 1;
        }
        if (!bad && lb_mul64(n, ne[d], &n)) {
            lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, dat, "element count overflows");
            bad = 1;
        }
    }
    if (nd < 1 || nd > 4) {
        lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, ndat, "%u dimensions (GGUF: 1 to 4)", nd);
        bad = 1;
    }
    uint64_t tat = g->c.pos;
    if (lb_cur_u32(&g->c, &type)) { read_fail(g, "tensor info"); return -1; }
    t->oat = g->c.pos;
    if (lb_cur_u64(&g->c, &t->rel)) { read_fail(g, "tensor info"); return -1; }
    const lb_type_traits *tt = type < (uint32_t)LB_GGML_TYPE_COUNT ? lb_type_get((int)type) : NULL;
    if (!tt || !tt->ggml) {
        lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, tat, "unknown ggml type %u", type);
        return 0;
    }
    t->type = (int)type;
    if (bad) return 0;
    t->ndim = (int)nd;
    for (uint32_t d = 0; d < nd; d++) t->shape[d] = ne[nd - 1 - d];
    if (ne[0] % tt->blck) {
        lb_scan_addi(g->r, "SHAPE_SIZE_MISMATCH", LB_SEV_ERROR, "tensor", nm, tat,
                     "row of %llu elements is not a multiple of the %s block size %u",
                     (unsigned long long)ne[0], tt->name, tt->blck);
        return 0;
    }
    if (lb_type_nbytes((int)type, n, &t->nbytes)) {
        lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, tat, "byte size overflows");
        return 0;
    }
    t->sized = 1;
    return 0;
}

static int cmp_tname(const void *a, const void *b)
{
    return strcmp((*(const g_tensor *const *)a)->name, (*(const g_tensor *const *)b)->name);
}

static int cmp_kname(const void *a, const void *b)
{
    return strcmp((*(const g_kv *const *)a)->key, (*(const g_kv *const *)b)->key);
}

static int cmp_toff(const void *a, const void *b)
{
    const g_tensor *x = *(const g_tensor *const *)a, *y = *(const g_tensor *const *)b;
    if (x->abs != y->abs) return x->abs < y->abs ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

static void check_dups(g_ctx *g)
{
    size_t n = g->n_t > g->n_kv ? g->n_t : g->n_kv;
    void **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return;
    for (size_t i = 0; i < g->n_t; i++) v[i] = &g->t[i];
    qsort(v, g->n_t, sizeof *v, cmp_tname);
    for (size_t i = 1; i < g->n_t; i++) {
        const g_tensor *a = v[i - 1], *b = v[i];
        if (!strcmp(a->name, b->name)) {
            const g_tensor *later = a->at > b->at ? a : b;
            lb_scan_addi(g->r, "DUPLICATE_NAME", LB_SEV_ERROR, "tensor", later->name, later->at,
                         "duplicate tensor name (loaders keep one of them, or refuse the file)");
        }
    }
    for (size_t i = 0; i < g->n_kv; i++) v[i] = &g->kv[i];
    qsort(v, g->n_kv, sizeof *v, cmp_kname);
    for (size_t i = 1; i < g->n_kv; i++) {
        const g_kv *a = v[i - 1], *b = v[i];
        if (!strcmp(a->key, b->key)) {
            const g_kv *later = a->at > b->at ? a : b;
            lb_scan_addi(g->r, "DUPLICATE_KEY", LB_SEV_ERROR, "key", later->key, later->at, "duplicate metadata key");
        }
    }
    free(v);
}

/* Offsets: alignment, inside the file, no overlaps. A run of tensors that starts inside the
 * file and packs to past its end is one truncation; a tensor that starts past the end
 * after a jump is an offset out of bounds. */
static void check_placement(g_ctx *g, uint64_t data_start)
{
    g_tensor **v = malloc((g->n_t ? g->n_t : 1) * sizeof *v);
    if (!v) return;
    size_t k = 0;
    for (size_t i = 0; i < g->n_t; i++) {
        g_tensor *t = &g->t[i];
        if (t->rel % g->alignment)
            lb_scan_addi(g->r, "OFFSET_UNALIGNED", LB_SEV_ERROR, "tensor", t->name, t->oat,
                         "data offset %llu is not a multiple of the alignment %llu",
                         (unsigned long long)t->rel, (unsigned long long)g->alignment);
        if (lb_add64(data_start, t->rel, &t->abs) || (t->sized && t->abs + t->nbytes < t->abs)) {
            lb_scan_addi(g->r, "OFFSET_OUT_OF_BOUNDS", LB_SEV_ERROR, "tensor", t->name, t->oat,
                         "data offset %llu overflows", (unsigned long long)t->rel);
            continue;
        }
        if (t->sized) v[k++] = t;
    }
    qsort(v, k, sizeof *v, cmp_toff);
    uint64_t prev_end = data_start, cut_at = 0, need = 0;
    size_t cut = 0;
    const char *first_cut = NULL;
    const g_tensor *prev = NULL;
    for (size_t i = 0; i < k; i++) {
        g_tensor *t = v[i];
        uint64_t end = t->abs + t->nbytes;
        if (prev && t->abs < prev->abs + prev->nbytes && t->nbytes && prev->nbytes)
            lb_scan_addi(g->r, "OFFSET_OVERLAP", LB_SEV_ERROR, "tensor", t->name, t->abs,
                         "data [%llu, %llu) overlaps tensor '%.100s' [%llu, %llu)",
                         (unsigned long long)t->abs, (unsigned long long)end, prev->name,
                         (unsigned long long)prev->abs, (unsigned long long)(prev->abs + prev->nbytes));
        if (end > g->size) {
            uint64_t slack = prev_end + g->alignment;
            if (t->abs <= g->size || t->abs <= slack) {
                if (!cut++) { first_cut = t->name; cut_at = t->abs; }
                if (end > need) need = end;
            } else {
                lb_scan_addi(g->r, "OFFSET_OUT_OF_BOUNDS", LB_SEV_ERROR, "tensor", t->name, t->oat,
                             "data [%llu, %llu) starts past the end of the file (%llu bytes)",
                             (unsigned long long)t->abs, (unsigned long long)end, (unsigned long long)g->size);
                continue;
            }
        }
        if (!prev || end > prev->abs + prev->nbytes) prev = t;
        if (end > prev_end) prev_end = end;
    }
    if (cut)
        lb_scan_addi(g->r, "TRUNCATED", LB_SEV_ERROR, "tensor", first_cut, g->size,
                     "file is %llu bytes, the tensor data needs %llu; %zu tensor(s) cut off "
                     "(the first at offset %llu)", (unsigned long long)g->size, (unsigned long long)need,
                     cut, (unsigned long long)cut_at);
    free(v);
}

/* blk.N.* tensors vs <arch>.block_count. */
static void check_blocks(g_ctx *g, const char *arch)
{
    char key[200];
    snprintf(key, sizeof key, "%s.block_count", arch);
    const g_kv *bc = find_kv(g, key);
    if (!bc || !g->n_t) return;
    if (!is_uint(bc->type)) {
        lb_scan_addi(g->r, "GGUF_BLOCK_COUNT", LB_SEV_ERROR, "key", key, bc->at, "is a %s, not an integer",
                     lb_vtype_name((int)bc->type));
        return;
    }
    uint64_t want = bc->u, max = 0, distinct = 0;
    int any = 0;
    unsigned char *seen = calloc(4096, 1);
    if (!seen) return;
    for (size_t i = 0; i < g->n_t; i++) {
        unsigned long long b;
        int used = 0;
        if (sscanf(g->t[i].name, "blk.%llu.%n", &b, &used) != 1 || !used) continue;
        any = 1;
        if (b + 1 > max) max = b + 1;
        if (b < 4096 && !seen[b]) { seen[b] = 1; distinct++; }
    }
    free(seen);
    if (!any) return;
    if (max != want || distinct != max)
        lb_scan_addi(g->r, "GGUF_BLOCK_COUNT", LB_SEV_ERROR, "key", key, bc->at,
                     "says %llu blocks, the tensors have %llu distinct blk.N (highest N %llu)",
                     (unsigned long long)want, (unsigned long long)distinct, (unsigned long long)(max - 1));
}

static const g_tensor *find_t(const g_ctx *g, const char *name)
{
    for (size_t i = 0; i < g->n_t; i++)
        if (!strcmp(g->t[i].name, name)) return &g->t[i];
    return NULL;
}

/* tokens vs scores vs token_type; token_embd/output rows and <arch>.vocab_size vs tokens. */
static void check_tokenizer(g_ctx *g, const char *arch)
{
    const g_kv *tok = find_kv(g, "tokenizer.ggml.tokens");
    if (!tok || tok->type != LB_V_ARR) return;
    static const char *const peers[] = { "tokenizer.ggml.scores", "tokenizer.ggml.token_type", NULL };
    for (const char *const *p = peers; *p; p++) {
        const g_kv *kv = find_kv(g, *p);
        if (kv && kv->type == LB_V_ARR && kv->n != tok->n)
            lb_scan_addi(g->r, "GGUF_TOKENIZER_LENGTHS", LB_SEV_ERROR, "key", *p, kv->at,
                         "%llu entries, but tokenizer.ggml.tokens has %llu",
                         (unsigned long long)kv->n, (unsigned long long)tok->n);
    }
    static const char *const mats[] = { "token_embd.weight", "output.weight", NULL };
    for (const char *const *m = mats; *m; m++) {
        const g_tensor *t = find_t(g, *m);
        if (t && t->ndim == 2 && t->shape[0] != tok->n)
            lb_scan_addi(g->r, "GGUF_VOCAB_SIZE", LB_SEV_ERROR, "tensor", *m, t->at,
                         "%llu rows, but tokenizer.ggml.tokens has %llu tokens",
                         (unsigned long long)t->shape[0], (unsigned long long)tok->n);
    }
    char key[200];
    snprintf(key, sizeof key, "%s.vocab_size", arch);
    const g_kv *vs = find_kv(g, key);
    if (vs && is_uint(vs->type) && vs->u != tok->n)
        lb_scan_addi(g->r, "GGUF_VOCAB_SIZE", LB_SEV_ERROR, "key", key, vs->at,
                     "says %llu, but tokenizer.ggml.tokens has %llu tokens",
                     (unsigned long long)vs->u, (unsigned long long)tok->n);
}

static void check_alignment(g_ctx *g)
{
    g->alignment = LB_GGUF_DEFAULT_ALIGNMENT;
    const g_kv *kv = find_kv(g, "general.alignment");
    if (!kv) return;
    if (kv->type != LB_V_U32 || kv->u == 0 || (kv->u & (kv->u - 1)))
        lb_scan_addi(g->r, "MALFORMED", LB_SEV_ERROR, "key", kv->key, kv->at,
                     "must be a u32 power of two (type %s, value %llu); assuming 32",
                     lb_vtype_name((int)kv->type), (unsigned long long)kv->u);
    else
        g->alignment = kv->u;
}

static int rd_header(g_ctx *g, uint64_t *n_t, uint64_t *n_kv)
{
    uint8_t magic[4];
    uint32_t v;
    if (lb_cur_bytes(&g->c, magic, 4)) { read_fail(g, "header"); return -1; }
    if (!memcmp(magic, "FUGG", 4)) {
        lb_scan_add(g->r, "MALFORMED", LB_SEV_ERROR, 0, "big-endian GGUF (not supported)");
        return -1;
    }
    if (lb_cur_u32(&g->c, &v)) { read_fail(g, "header"); return -1; }
    if (v != 2 && v != 3) {
        lb_scan_add(g->r, "MALFORMED", LB_SEV_ERROR, 4, "GGUF version %u (only 2 and 3 are read)", v);
        return -1;
    }
    if (lb_cur_u64(&g->c, n_t) || lb_cur_u64(&g->c, n_kv)) { read_fail(g, "header"); return -1; }
    /* each kv takes >= 14 bytes, each tensor info >= 32: bound the allocations by the file */
    uint64_t left = lb_cur_left(&g->c);
    if (*n_kv > left / 14) {
        lb_scan_add(g->r, *n_kv > g->size ? "MALFORMED" : "TRUNCATED", LB_SEV_ERROR, 16,
                    "metadata count %llu cannot fit in the %llu bytes left", (unsigned long long)*n_kv,
                    (unsigned long long)left);
        *n_kv = left / 14;
    }
    if (*n_t > left / 32) {
        lb_scan_add(g->r, *n_t > g->size ? "MALFORMED" : "TRUNCATED", LB_SEV_ERROR, 8,
                    "tensor count %llu cannot fit in the %llu bytes left", (unsigned long long)*n_t,
                    (unsigned long long)left);
        *n_t = left / 32;
    }
    return 0;
}

void lb_scan_gguf(lb_scan_file *r, lb_src *src)
{
    g_ctx g;
    memset(&g, 0, sizeof g);
    g.r = r;
    g.size = lb_src_size(src);
    g.alignment = LB_GGUF_DEFAULT_ALIGNMENT;
    lb_err_clear(&g.err);
    if (lb_cur_init(&g.c, src, 0, g.size, &g.err)) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, LB_NO_OFFSET, "%s", g.err.msg);
        return;
    }
    uint64_t n_t = 0, n_kv = 0;
    int ok = rd_header(&g, &n_t, &n_kv) == 0;
    if (ok) {
        g.kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g.kv);
        g.t = calloc(n_t ? (size_t)n_t : 1, sizeof *g.t);
        if (!g.kv || !g.t) { lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, LB_NO_OFFSET, "out of memory"); ok = 0; }
    }
    if (ok) ok = rd_kvs(&g, n_kv) == 0;
    check_alignment(&g);
    for (uint64_t i = 0; ok && i < n_t; i++) {
        g.c.what = "tensor info";
        ok = rd_tinfo(&g, &g.t[g.n_t]) == 0;
        if (g.t[g.n_t].name) g.n_t++;
    }
    check_dups(&g);
    if (ok) {
        uint64_t pos = g.c.pos, ds = pos + (pos % g.alignment ? g.alignment - pos % g.alignment : 0);
        check_placement(&g, ds);
    }
    const g_kv *ak = find_kv(&g, "general.architecture");
    const char *arch = ak && ak->type == LB_V_STR && ak->s ? ak->s : NULL;
    if (arch) {
        check_blocks(&g, arch);
        check_tokenizer(&g, arch);
    } else if (ok && g.n_t && !find_kv(&g, "general.type")) {   /* imatrix files have a type, no arch */
        lb_scan_add(r, "GGUF_NO_ARCH", LB_SEV_WARNING, LB_NO_OFFSET,
                    "no general.architecture key (llama.cpp cannot load it as a model)");
        check_tokenizer(&g, "");
    }
    for (size_t i = 0; i < g.n_kv; i++) { free(g.kv[i].key); free(g.kv[i].s); }
    for (size_t i = 0; i < g.n_t; i++) free(g.t[i].name);
    free(g.kv);
    free(g.t);
    lb_cur_free(&g.c);
}
