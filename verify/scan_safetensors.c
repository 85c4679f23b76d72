/* scan_safetensors.c: the safetensors lint pass, and the sharded-set index check.
 *
 * The header JSON is parsed with cJSON, which keeps duplicate keys and does not stop at
 * the first bad tensor entry; each entry is then checked on its own (dtype, shape,
 * data_offsets, shape x dtype size == byte span, bounds), and the ranges of all entries
 * together (overlaps, gaps, bytes after the last tensor, truncation). Offsets in findings
 * are absolute: the header text starts at byte 8, tensor data at 8 + header length.
 * After the lint, the strict reader (formats/safetensors.c) runs too: whatever it refuses
 * that the lint did not already report becomes one MALFORMED finding. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lb_dtype.h"
#include "lb_le.h"
#include "lb_model.h"
#include "lb_safetensors.h"
#include "lb_scan.h"

/* Positions of the root object's keys, in document order (cJSON keeps that order). */
static size_t root_keys(const char *s, size_t n, uint64_t *pos, size_t max)
{
    int depth = 0, expect_key = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            if (depth == 1 && expect_key && k < max) pos[k++] = i;
            if (depth == 1) expect_key = 0;
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            continue;
        }
        if (c == '{' || c == '[') { depth++; expect_key = depth == 1 && c == '{'; }
        else if (c == '}' || c == ']') depth--;
        else if (c == ',' && depth == 1) expect_key = 1;
    }
    return k;
}

typedef struct st_t {
    const char *name;
    uint64_t at;          /* offset of its key in the file */
    uint64_t b, e;        /* data_offsets, relative */
    int      elem;        /* bytes per element (0 if unknown) */
} st_t;

static int cmp_b(const void *a, const void *b)
{
    const st_t *x = a, *y = b;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_t *)a)->name, ((const st_t *)b)->name);
}

/* An integer JSON number (exact below 2^53), or -1. */
static int json_u64(const cJSON *it, uint64_t *v)
{
    if (!cJSON_IsNumber(it)) return -1;
    double d = it->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return -1;
    *v = (uint64_t)d;
    return 0;
}

/* One tensor entry; fills t (elem 0 and b > e when unusable). */
static void check_entry(lb_scan_file *r, const cJSON *e, st_t *t)
{
    const char *nm = t->name;
    t->b = 1; t->e = 0; t->elem = 0;
    if (!cJSON_IsObject(e)) {
        lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, t->at, "entry is not an object");
        return;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    const lb_type_traits *tt = cJSON_IsString(dt) ? lb_type_by_st_name(dt->valuestring) : NULL;
    if (!tt)
        lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, t->at, "%s dtype%s%.40s%s",
                     dt ? "unknown" : "missing", cJSON_IsString(dt) ? " '" : "",
                     cJSON_IsString(dt) ? dt->valuestring : "", cJSON_IsString(dt) ? "'" : "");
    uint64_t b, en;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || json_u64(of->child, &b) ||
        json_u64(of->child->next, &en)) {
        lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, t->at,
                     "data_offsets is missing or not [begin, end] integers");
        return;
    }
    if (b > en) {
        lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, t->at,
                     "data_offsets begin %llu is after end %llu", (unsigned long long)b, (unsigned long long)en);
        return;
    }
    t->b = b;
    t->e = en;
    if (!tt) return;
    t->elem = (int)tt->type_size;
    uint64_t n = 1, bytes = 0;
    int ok = cJSON_IsArray(sh) && cJSON_GetArraySize(sh) <= LB_MAX_DIMS;
    for (const cJSON *c = ok ? sh->child : NULL; c && ok; c = c->next) {
        uint64_t d;
        ok = !json_u64(c, &d) && !lb_mul64(n, d, &n);
    }
    if (!ok || lb_type_nbytes(tt->id, n, &bytes)) {
        lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "tensor", nm, t->at,
                     "shape is missing or not a list of at most %d integers", LB_MAX_DIMS);
        return;
    }
    if (bytes != en - b)
        lb_scan_addi(r, "SHAPE_SIZE_MISMATCH", LB_SEV_ERROR, "tensor", nm, t->at,
                     "%s shape of %llu elements needs %llu bytes, data_offsets [%llu, %llu] span %llu",
                     tt->st_name, (unsigned long long)n, (unsigned long long)bytes, (unsigned long long)b,
                     (unsigned long long)en, (unsigned long long)(en - b));
}

/* Ranges together: duplicates, overlaps, gaps, trailing bytes, truncation. */
static void check_ranges(lb_scan_file *r, st_t *t, size_t n, uint64_t ds, uint64_t data_size, uint64_t fsize)
{
    qsort(t, n, sizeof *t, cmp_name);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(t[i - 1].name, t[i].name)) {
            const st_t *later = t[i].at > t[i - 1].at ? &t[i] : &t[i - 1];
            lb_scan_addi(r, "DUPLICATE_NAME", LB_SEV_ERROR, "tensor", later->name, later->at,
                         "duplicate tensor name in the header (readers keep one of them, or refuse the file)");
        }
    qsort(t, n, sizeof *t, cmp_b);
    uint64_t covered = 0, need = 0, cut_at = 0;
    size_t cut = 0;
    const char *first_cut = NULL;
    const st_t *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        st_t *x = &t[i];
        if (x->b > x->e) continue;
        if (x->elem > 1 && x->b % (uint64_t)x->elem)
            lb_scan_addi(r, "OFFSET_UNALIGNED", LB_SEV_WARNING, "tensor", x->name, ds + x->b,
                         "data begins at %llu, not a multiple of its %d-byte element size (no zero-copy mapping)",
                         (unsigned long long)x->b, x->elem);
        if (prev && x->b < prev->e && x->e > x->b)
            lb_scan_addi(r, "OFFSET_OVERLAP", LB_SEV_ERROR, "tensor", x->name, ds + x->b,
                         "data_offsets [%llu, %llu] overlap tensor '%.100s' [%llu, %llu]",
                         (unsigned long long)x->b, (unsigned long long)x->e, prev->name,
                         (unsigned long long)prev->b, (unsigned long long)prev->e);
        else if (x->b > covered && (x->b <= data_size || !cut))
            lb_scan_addi(r, "DATA_GAP", LB_SEV_WARNING, "tensor", x->name, ds + covered,
                         "%llu bytes before it belong to no tensor", (unsigned long long)(x->b - covered));
        if (x->e > data_size) {
            if (x->b <= data_size || x->b <= covered) {
                if (!cut++) { first_cut = x->name; cut_at = ds + x->b; }
                if (x->e > need) need = x->e;
            } else {
                lb_scan_addi(r, "OFFSET_OUT_OF_BOUNDS", LB_SEV_ERROR, "tensor", x->name, x->at,
                             "data_offsets [%llu, %llu] start past the end of the data section (%llu bytes)",
                             (unsigned long long)x->b, (unsigned long long)x->e, (unsigned long long)data_size);
                continue;
            }
        }
        if (!prev || x->e > prev->e) prev = x;
        if (x->e > covered) covered = x->e;
    }
    if (cut)
        lb_scan_addi(r, "TRUNCATED", LB_SEV_ERROR, "tensor", first_cut, fsize,
                     "file is %llu bytes, the tensor data needs %llu; %zu tensor(s) cut off (the first at offset %llu)",
                     (unsigned long long)fsize, (unsigned long long)(ds + need), cut, (unsigned long long)cut_at);
    else if (covered < data_size)
        lb_scan_add(r, "TRAILING_DATA", LB_SEV_WARNING, ds + covered,
                    "%llu bytes after the last tensor belong to no tensor", (unsigned long long)(data_size - covered));
}

static int cmp_jname(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static void check_metadata(lb_scan_file *r, const cJSON *md, uint64_t at)
{
    if (cJSON_IsNull(md)) return;
    if (!cJSON_IsObject(md)) {
        lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "key", "__metadata__", at, "is not an object of strings");
        return;
    }
    size_t n = 0;
    for (const cJSON *c = md->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "key", c->string, at, "__metadata__ value is not a string");
        n++;
    }
    const cJSON **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return;
    n = 0;
    for (const cJSON *c = md->child; c; c = c->next) v[n++] = c;
    qsort(v, n, sizeof *v, cmp_jname);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(v[i - 1]->string, v[i]->string))
            lb_scan_addi(r, "DUPLICATE_KEY", LB_SEV_ERROR, "key", v[i]->string, at, "duplicate key in __metadata__");
    free(v);
}

/* Parse the header text; NULL (finding recorded) if it is not a JSON object. */
static cJSON *parse_header(lb_scan_file *r, const char *txt, size_t n)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(txt, n, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        size_t at = end && end >= txt && end <= txt + n ? (size_t)(end - txt) : 0;
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, 8 + at, "header is not a JSON object (error near byte %zu of it)", at);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

void lb_scan_safetensors(lb_scan_file *r, lb_src *src, const uint8_t *head, size_t hn)
{
    (void)hn;
    uint64_t size = lb_src_size(src), n = lb_ld64(head);
    if (n > size - 8) {
        lb_scan_add(r, "TRUNCATED", LB_SEV_ERROR, 0,
                    "header length %llu runs past the end of the file (%llu bytes)",
                    (unsigned long long)n, (unsigned long long)size);
        return;
    }
    char *txt = malloc((size_t)n + 1);
    lb_err err;
    lb_err_clear(&err);
    if (!txt || lb_src_read(src, 8, txt, (size_t)n, &err)) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, 8, "cannot read the header: %s", txt ? err.msg : "out of memory");
        free(txt);
        return;
    }
    txt[n] = 0;
    cJSON *root = parse_header(r, txt, (size_t)n);
    if (!root) { free(txt); return; }
    size_t nk = (size_t)cJSON_GetArraySize(root);
    uint64_t *kpos = calloc(nk ? nk : 1, sizeof *kpos);
    st_t *t = calloc(nk ? nk : 1, sizeof *t);
    if (!kpos || !t) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, LB_NO_OFFSET, "out of memory");
    } else {
        int have_pos = root_keys(txt, (size_t)n, kpos, nk) == nk;
        size_t k = 0, i = 0;
        for (const cJSON *c = root->child; c; c = c->next, i++) {
            uint64_t at = have_pos ? 8 + kpos[i] : LB_NO_OFFSET;
            if (!strcmp(c->string, "__metadata__")) { check_metadata(r, c, at); continue; }
            t[k].name = c->string;
            t[k].at = at;
            check_entry(r, c, &t[k]);
            k++;
        }
        check_ranges(r, t, k, 8 + n, size - 8 - n, size);
    }
    free(kpos);
    free(t);
    cJSON_Delete(root);
    free(txt);
    /* what the strict reader refuses that the lint did not see */
    if (!lb_scan_has_sev(r, LB_SEV_ERROR)) {
        lb_model *m = lb_model_new("safetensors", lb_src_name(src));
        lb_src *s2;
        lb_err_clear(&err);
        if (m && !lb_src_open(&s2, lb_src_name(src), &err) && lb_safetensors_open(m, s2, lb_src_name(src), &err))
            lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, err.offset, "%s%s%s", err.item, err.item[0] ? ": " : "", err.msg);
        lb_model_close(m);
    }
}

/* ---- sharded sets ------------------------------------------------------------------ */

/* Tensor names in a shard's header (lenient); NULL if it cannot be read as safetensors. */
static cJSON *shard_header(const char *path)
{
    lb_src *src;
    lb_err err;
    lb_err_clear(&err);
    if (lb_src_open(&src, path, &err)) return NULL;
    uint8_t head[16];
    size_t got = 0;
    cJSON *root = NULL;
    uint64_t size = lb_src_size(src);
    if (!lb_src_read_some(src, 0, head, sizeof head, &got, &err) && lb_scan_is_safetensors(head, got)) {
        uint64_t n = lb_ld64(head);
        char *txt = n <= size - 8 ? malloc((size_t)n) : NULL;
        if (txt && !lb_src_read(src, 8, txt, (size_t)n, &err)) root = cJSON_ParseWithLength(txt, (size_t)n);
        free(txt);
    }
    lb_src_close(src);
    if (root && !cJSON_IsObject(root)) { cJSON_Delete(root); root = NULL; }
    return root;
}

/* Offset of "name" (as a JSON key) in the index text, or LB_NO_OFFSET. */
static uint64_t key_at(const char *txt, const char *name)
{
    size_t ln = strlen(name);
    for (const char *p = strchr(txt, '"'); p; p = strchr(p + 1, '"'))
        if (!strncmp(p + 1, name, ln) && p[1 + ln] == '"') return (uint64_t)(p - txt);
    return LB_NO_OFFSET;
}

typedef struct shard { const char *name; cJSON *hdr; int missing, unreadable; } shard;

void lb_scan_st_index(lb_scan_file *r, const char *path, const char *txt, size_t n)
{
    cJSON *root = cJSON_ParseWithLength(txt, n);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        lb_scan_add(r, "MALFORMED", LB_SEV_ERROR, 0, "index: %s", root ? "weight_map is not an object" : "not valid JSON");
        cJSON_Delete(root);
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    size_t cnt = (size_t)cJSON_GetArraySize(wm), ns = 0;
    shard *sh = calloc(cnt ? cnt : 1, sizeof *sh);
    if (!sh) { cJSON_Delete(root); return; }
    /* the distinct shards, each opened once */
    for (const cJSON *c = wm->child; c; c = c->next) {
        if (!cJSON_IsString(c) || !c->valuestring[0] || strchr(c->valuestring, '/') ||
            !strcmp(c->valuestring, "..")) {
            lb_scan_addi(r, "MALFORMED", LB_SEV_ERROR, "tensor", c->string, key_at(txt, c->string),
                         "index: the shard must be a plain file name in the index's folder");
            continue;
        }
        size_t i = 0;
        while (i < ns && strcmp(sh[i].name, c->valuestring)) i++;
        if (i < ns) continue;
        sh[ns].name = c->valuestring;
        char p[4600];
        snprintf(p, sizeof p, "%s/%s", dir, c->valuestring);
        struct stat st;
        if (stat(p, &st) != 0) {
            sh[ns].missing = 1;
            size_t k = 0;
            for (const cJSON *d = wm->child; d; d = d->next)
                if (cJSON_IsString(d) && !strcmp(d->valuestring, c->valuestring)) k++;
            lb_scan_addi(r, "SHARD_MISSING", LB_SEV_ERROR, "shard", c->valuestring, key_at(txt, c->string),
                         "missing (%s); the index maps %zu tensor(s) to it, the first '%.100s'",
                         strerror(errno), k, c->string);
        } else if (!(sh[ns].hdr = shard_header(p))) {
            sh[ns].unreadable = 1;
            lb_scan_addi(r, "SHARD_UNREADABLE", LB_SEV_ERROR, "shard", c->valuestring, LB_NO_OFFSET,
                         "cannot read its safetensors header (scan the shard itself for details)");
        }
        ns++;
    }
    /* every mapped tensor is in its shard */
    for (const cJSON *c = wm->child; c; c = c->next) {
        if (!cJSON_IsString(c)) continue;
        size_t i = 0;
        while (i < ns && strcmp(sh[i].name, c->valuestring)) i++;
        if (i == ns || !sh[i].hdr) continue;
        if (cJSON_GetObjectItemCaseSensitive(sh[i].hdr, c->string)) continue;
        const char *where = NULL;
        for (size_t j = 0; j < ns && !where; j++)
            if (sh[j].hdr && cJSON_GetObjectItemCaseSensitive(sh[j].hdr, c->string)) where = sh[j].name;
        if (where)
            lb_scan_addi(r, "INDEX_TENSOR_MISSING", LB_SEV_ERROR, "tensor", c->string, key_at(txt, c->string),
                         "the index maps it to shard '%.100s', but it is in '%.100s'", c->valuestring, where);
        else
            lb_scan_addi(r, "INDEX_TENSOR_MISSING", LB_SEV_ERROR, "tensor", c->string, key_at(txt, c->string),
                         "the index maps it to shard '%.100s', which does not hold it (no shard does)",
                         c->valuestring);
    }
    /* tensors in the shards that the index does not list */
    for (size_t i = 0; i < ns; i++) {
        if (!sh[i].hdr) continue;
        for (const cJSON *c = sh[i].hdr->child; c; c = c->next) {
            if (!strcmp(c->string, "__metadata__")) continue;
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(wm, c->string);
            if (!m)
                lb_scan_addi(r, "INDEX_TENSOR_UNLISTED", LB_SEV_WARNING, "tensor", c->string, LB_NO_OFFSET,
                             "in shard '%.100s' but not in the index (loaders will not find it)", sh[i].name);
        }
    }
    for (size_t i = 0; i < ns; i++) cJSON_Delete(sh[i].hdr);
    free(sh);
    cJSON_Delete(root);
}
