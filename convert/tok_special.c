/* tok_special.c: special token ids, add_bos/add_eos flags, chat template and normalizer
 * flags, following gguf-py's SpecialVocab (llama.cpp 0.4.0), in this order:
 *
 *  1. tokenizer.json (BPE only): normalizer (Lowercase, StripAccents, BertNormalizer, in
 *     Sequences) -> tokenizer.ggml.normalizer.*; added_tokens (content -> id);
 *     post_processor: RobertaProcessing sets add_bos/add_eos/add_sep; TemplateProcessing's
 *     "single" template sets add_bos (first item is the bos/cls token) and add_eos (last
 *     item is the eos token), and fills in missing bos/eos contents; a trailing token
 *     that is not eos becomes eos and the old eos becomes eot (then eom).
 *  2. tokenizer_config.json: add_<typ>_token booleans; <typ>_token contents (a string or
 *     {"content": ...}) resolved to ids through tokenizer.json's added_tokens (so an SPM
 *     folder without tokenizer.json gets no ids here, as with llama.cpp); chat_template
 *     (a string, or a list of {name, template}: "default" -> tokenizer.chat_template,
 *     the others -> tokenizer.chat_template.<name> + tokenizer.chat_templates), else
 *     chat_template.jinja (+ additional_chat_templates/ *.jinja), else chat_template.json.
 *  3. config.json: <typ>_token_id (or text_config.<typ>_token_id) for types still unset.
 * lowbit additions, which only fill what the above left unset:
 *  - special_tokens_map.json supplies <typ>_token contents tokenizer_config.json lacks
 *    (transformers merges the two files the same way);
 *  - generation_config.json supplies bos/eos/pad ids (integers; the first of a list).
 * Types: bos eos unk sep pad cls mask (+ eot, eom). An id must be below the vocabulary
 * size; the first value found for a type wins. */
#include "tok_internal.h"

#include <glob.h>
#include <stdlib.h>
#include <string.h>

static const char *const typ_name[SP_N] = {
    "bos", "eos", "unk", "sep", "pad", "cls", "mask", "eot", "eom"
};

int tok_looks_special(const char *s)
{
    static const char *const exact[] = { "<pad>", "<mask>", "<2mass>", "[@BOS@]" };
    size_t n = strlen(s);
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (strcmp(s, exact[i]) == 0) return 1;
#define STARTS(p) (n >= sizeof(p) - 1 && memcmp(s, p, sizeof(p) - 1) == 0)
#define ENDS(p)   (n >= sizeof(p) - 1 && memcmp(s + n - (sizeof(p) - 1), p, sizeof(p) - 1) == 0)
    if (STARTS("<|") && ENDS("|>")) return 1;
    if (STARTS("<\xef\xbd\x9c") && ENDS("\xef\xbd\x9c>")) return 1;   /* <｜ ... ｜> */
    if (STARTS("<unused") && ENDS(">")) return 1;
#undef STARTS
#undef ENDS
    return 0;
}

void tok_special_init(tok_special *s)
{
    memset(s, 0, sizeof *s);
    for (int t = 0; t < SP_N; t++) { s->id[t] = -1; s->add[t] = -1; }
    s->n_types = SP_EOT;
    s->norm_lowercase = s->norm_strip_accents = -1;
}

void tok_special_free(tok_special *s)
{
    if (!s) return;
    free(s->chat_template);
    for (size_t i = 0; i < s->n_tmpl; i++) { free(s->tmpl_name[i]); free(s->tmpl_text[i]); }
    free(s->tmpl_name);
    free(s->tmpl_text);
    tok_special_init(s);
}

static int nomem(lb_err *err)
{
    return lb_err_set(err, LB_EIO, LB_NO_OFFSET, "out of memory");
}

static int json_int(const cJSON *j, int64_t *v)
{
    if (cJSON_IsArray(j)) j = cJSON_GetArrayItem(j, 0);
    if (!cJSON_IsNumber(j) || j->valuedouble != (double)(int64_t)j->valuedouble) return 0;
    *v = (int64_t)j->valuedouble;
    return 1;
}

static void set_id(tok_special *s, int t, int64_t id, size_t n_vocab)
{
    if (id < 0 || (uint64_t)id >= n_vocab || s->id[t] >= 0) return;
    s->id[t] = id;
}

static const char *entry_content(const cJSON *cfg, int t)
{
    char key[32];
    snprintf(key, sizeof key, "%s_token", typ_name[t]);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(e)) e = cJSON_GetObjectItemCaseSensitive(e, "content");
    return cJSON_IsString(e) ? e->valuestring : NULL;
}

static int same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---- tokenizer.json ------------------------------------------------------------------ */

static void parse_normalizer(tok_special *s, const cJSON *n, int depth)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (!cJSON_IsString(type) || depth > 16) return;
    const char *t = type->valuestring;
    if (strcmp(t, "Lowercase") == 0) s->norm_lowercase = 1;
    else if (strcmp(t, "StripAccents") == 0) s->norm_strip_accents = 1;
    else if (strcmp(t, "BertNormalizer") == 0) {
        const cJSON *lc = cJSON_GetObjectItemCaseSensitive(n, "lowercase");
        const cJSON *sa = cJSON_GetObjectItemCaseSensitive(n, "strip_accents");
        if (cJSON_IsBool(lc)) s->norm_lowercase = cJSON_IsTrue(lc);
        if (cJSON_IsBool(sa)) s->norm_strip_accents = cJSON_IsTrue(sa);
    } else if (strcmp(t, "Sequence") == 0) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "normalizers"))
            parse_normalizer(s, it, depth + 1);
    }
}

static const char *template_special(const cJSON *item)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "SpecialToken"), "id");
    return cJSON_IsString(id) && id->valuestring[0] ? id->valuestring : NULL;
}

/* post_processor: what the tokenizer adds around a single sequence. c[] are the token
 * contents (pointers into the json documents), have_cfg whether tokenizer_config.json
 * (or special_tokens_map.json) exists. */
static void parse_post_processor(tok_special *s, const cJSON *pp, const char **c, int have_cfg)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(pp, "processors"), *p;
    for (p = cJSON_IsArray(list) ? list->child : pp; p; p = cJSON_IsArray(list) ? p->next : NULL) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        if (!cJSON_IsString(type)) continue;
        if (strcmp(type->valuestring, "RobertaProcessing") == 0) {
            s->add[SP_BOS] = s->add[SP_EOS] = s->add[SP_SEP] = 1;
            const cJSON *cls = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(p, "cls"), 0);
            const cJSON *sep = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(p, "sep"), 0);
            if (!c[SP_CLS] && have_cfg) c[SP_CLS] = cJSON_IsString(cls) ? cls->valuestring : c[SP_BOS];
            if (!c[SP_SEP] && have_cfg) c[SP_SEP] = cJSON_IsString(sep) ? sep->valuestring : c[SP_EOS];
            continue;
        }
        if (strcmp(type->valuestring, "TemplateProcessing") != 0) continue;
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
        int n = cJSON_GetArraySize(single);
        if (!cJSON_IsArray(single) || n < 2) continue;
        const char *first = template_special(cJSON_GetArrayItem(single, 0));
        if (first) {
            if (!have_cfg) c[SP_BOS] = first;
            else if (!same(first, c[SP_BOS]) && !same(first, c[SP_CLS])) {
                if (!c[SP_BOS]) c[SP_BOS] = first;
                if (!c[SP_CLS]) c[SP_CLS] = first;
            }
            s->add[SP_BOS] = same(first, c[SP_BOS]) || same(first, c[SP_CLS]);
        }
        const char *last = template_special(cJSON_GetArrayItem(single, n - 1));
        if (last) {
            if (!have_cfg) c[SP_EOS] = last;
            else if (!same(last, c[SP_EOS])) {
                if (s->n_types <= SP_EOT) { s->n_types = SP_EOT + 1; c[SP_EOT] = c[SP_EOS]; }
                else if (s->n_types <= SP_EOM) { s->n_types = SP_EOM + 1; c[SP_EOM] = c[SP_EOS]; }
                c[SP_EOS] = last;
            }
            s->add[SP_EOS] = same(last, c[SP_EOS]);
        }
    }
}

static int64_t added_token_id(const cJSON *added, const char *content)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, added) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        int64_t id;
        if (cJSON_IsString(c) && strcmp(c->valuestring, content) == 0)
            return json_int(cJSON_GetObjectItemCaseSensitive(it, "id"), &id) ? id : -1;
    }
    return -1;
}

/* ---- chat templates -------------------------------------------------------------------- */

static int add_template(tok_special *s, const char *name, const char *text, lb_err *err)
{
    if (!name[0]) return LB_OK;
    char clean[128];
    size_t i;
    for (i = 0; name[i] && i < sizeof clean - 1; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        clean[i] = ok ? ch : '_';
    }
    clean[i] = 0;
    if (strcmp(clean, "default") == 0) {
        free(s->chat_template);
        return (s->chat_template = strdup(text)) ? LB_OK : nomem(err);
    }
    for (size_t k = 0; k < s->n_tmpl; k++)
        if (strcmp(s->tmpl_name[k], clean) == 0) {  /* a set in gguf-py: the last one wins */
            free(s->tmpl_text[k]);
            return (s->tmpl_text[k] = strdup(text)) ? LB_OK : nomem(err);
        }
    char **a = realloc(s->tmpl_name, (s->n_tmpl + 1) * sizeof *a);
    if (!a) return nomem(err);
    s->tmpl_name = a;
    char **b = realloc(s->tmpl_text, (s->n_tmpl + 1) * sizeof *b);
    if (!b) return nomem(err);
    s->tmpl_text = b;
    a[s->n_tmpl] = strdup(clean);
    b[s->n_tmpl] = strdup(text);
    if (!a[s->n_tmpl] || !b[s->n_tmpl]) { free(a[s->n_tmpl]); free(b[s->n_tmpl]); return nomem(err); }
    s->n_tmpl++;
    return LB_OK;
}

static int set_chat_template(tok_special *s, const cJSON *ct, lb_err *err)
{
    if (cJSON_IsString(ct)) return (s->chat_template = strdup(ct->valuestring)) ? LB_OK : nomem(err);
    const cJSON *it;
    if (!cJSON_IsArray(ct)) ct = NULL;
    cJSON_ArrayForEach(it, ct) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(it, "template");
        if (cJSON_IsString(name) && cJSON_IsString(tmpl))
            LB_TRY(add_template(s, name->valuestring, tmpl->valuestring, err));
    }
    return LB_OK;
}

static int read_text(const char *path, char **out, lb_err *err)
{
    uint8_t *buf;
    size_t n;
    LB_TRY(tok_read_file(path, 64u << 20, &buf, &n, err));
    *out = (char *)buf;
    return LB_OK;
}

/* chat_template.jinja (with additional_chat_templates/ *.jinja), else chat_template.json */
static int chat_template_files(tok_special *s, const char *dir, lb_err *err)
{
    char *jinja = tok_path(dir, "chat_template.jinja"), *json = tok_path(dir, "chat_template.json");
    char *pat = tok_path(dir, "additional_chat_templates/*.jinja");
    int rc = LB_OK;
    if (!jinja || !json || !pat) rc = nomem(err);
    else if (tok_exists(jinja)) {
        char *text = NULL;
        glob_t g;
        rc = read_text(jinja, &text, err);
        if (!rc && glob(pat, 0, NULL, &g) == 0) {
            rc = add_template(s, "default", text, err);
            for (size_t i = 0; !rc && i < g.gl_pathc; i++) {
                char *t = NULL, *base = strrchr(g.gl_pathv[i], '/') + 1;
                rc = read_text(g.gl_pathv[i], &t, err);
                base[strlen(base) - 6] = 0;   /* drop ".jinja" */
                if (!rc) rc = add_template(s, base, t, err);
                free(t);
            }
            globfree(&g);
        } else if (!rc) {
            s->chat_template = text;
            text = NULL;
        }
        free(text);
    } else if (tok_exists(json)) {
        cJSON *j = NULL;
        rc = tok_json_file(json, &j, err);
        if (!rc) rc = set_chat_template(s, cJSON_GetObjectItemCaseSensitive(j, "chat_template"), err);
        cJSON_Delete(j);
    }
    free(jinja); free(json); free(pat);
    return rc;
}

/* ---- the whole pass ------------------------------------------------------------------- */

static int load_json(const char *dir, const char *name, cJSON **out, lb_err *err)
{
    *out = NULL;
    if (!dir) return LB_OK;
    char *p = tok_path(dir, name);
    if (!p) return nomem(err);
    int rc = tok_json_file(p, out, err);
    free(p);
    return rc;
}

static void ids_from_config(tok_special *s, const cJSON *cfg, size_t n_vocab)
{
    for (int t = 0; t < s->n_types; t++) {
        char key[32];
        int64_t id;
        snprintf(key, sizeof key, "%s_token_id", typ_name[t]);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
        if (!v) v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "text_config"), key);
        if (cJSON_IsNumber(v) && json_int(v, &id)) set_id(s, t, id, n_vocab);
    }
}

int tok_special_load(tok_special *s, const char *dir, const cJSON *tj, size_t n_vocab, lb_err *err)
{
    cJSON *tc = NULL, *stm = NULL, *cfg = NULL, *gen = NULL;
    const char *c[SP_N] = {0};
    int rc = load_json(dir, "tokenizer_config.json", &tc, err);
    if (!rc) rc = load_json(dir, "config.json", &cfg, err);
    if (rc) goto out;
    /* the lowbit additions are optional: a broken file there is ignored (not all models
     * have a valid generation_config.json, gguf-py's metadata reader says) */
    lb_err ignored;
    if (load_json(dir, "special_tokens_map.json", &stm, &ignored)) stm = NULL;
    if (load_json(dir, "generation_config.json", &gen, &ignored)) gen = NULL;
    int have_cfg = tc || stm;
    for (int t = 0; t < SP_N; t++) {
        c[t] = entry_content(tc, t);
        if (!c[t]) c[t] = entry_content(stm, t);
    }
    const cJSON *added = NULL;
    if (tj) {
        parse_normalizer(s, cJSON_GetObjectItemCaseSensitive(tj, "normalizer"), 0);
        added = cJSON_GetObjectItemCaseSensitive(tj, "added_tokens");
        if (!cJSON_IsArray(added)) added = NULL;
        if (!c[SP_BOS] && c[SP_CLS] && have_cfg) c[SP_BOS] = c[SP_CLS];
        if (!c[SP_EOS] && c[SP_SEP] && have_cfg) c[SP_EOS] = c[SP_SEP];
        const cJSON *pp = cJSON_GetObjectItemCaseSensitive(tj, "post_processor");
        if (cJSON_IsObject(pp)) parse_post_processor(s, pp, c, have_cfg);
    }
    if (have_cfg) {
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(tc, "chat_template");
        if (ct) rc = set_chat_template(s, ct, err);
        else if (dir) rc = chat_template_files(s, dir, err);
        if (rc) goto out;
        for (int t = 0; t < s->n_types; t++) {
            char key[32];
            snprintf(key, sizeof key, "add_%s_token", typ_name[t]);
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(tc, key);
            if (cJSON_IsBool(a)) s->add[t] = cJSON_IsTrue(a);
            if (c[t] && added) set_id(s, t, added_token_id(added, c[t]), n_vocab);
        }
    }
    ids_from_config(s, cfg, n_vocab);
    static const int gen_types[] = { SP_BOS, SP_EOS, SP_PAD };
    for (size_t i = 0; gen && i < sizeof gen_types / sizeof *gen_types; i++) {
        char key[32];
        int64_t id;
        snprintf(key, sizeof key, "%s_token_id", typ_name[gen_types[i]]);
        if (json_int(cJSON_GetObjectItemCaseSensitive(gen, key), &id)) set_id(s, gen_types[i], id, n_vocab);
    }
out:
    cJSON_Delete(tc);
    cJSON_Delete(stm);
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    return rc;
}
