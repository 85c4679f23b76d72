/* bpe_pre.c: tokenizer.json's pre-tokenizer -> llama.cpp's tokenizer.ggml.pre name.
 *
 * llama.cpp's converter picks the name by hashing the ids its Python tokenizer gives for
 * a check string (convert_hf_to_gguf.py get_vocab_base_pre); lowbit cannot run that
 * tokenizer, so it reads what tokenizer.json declares instead: its "pre_tokenizer"
 * (ByteLevel, Split with a Regex, Digits, Punctuation, or a Sequence of those) is
 * described as a list of steps and compared with the table below, one row per llama.cpp
 * pre-tokenizer whose regexes are known (llama-vocab.cpp, llm_tokenizer_bpe: the
 * "original regex from tokenizer.json" comments and the regex lists themselves). Rows
 * that share regexes in llama.cpp (dbrx, smaug-bpe, chatglm4 = llama3; grok-2, stablelm2
 * = qwen2; mpt, olmo, phi-2 = gpt-2 ...) are reached only through the first name; pass
 * --pre for the others. Anything else is refused with the description, so the user
 * can pass --pre NAME (docs/tokenizers.md has the table).
 *
 * Step notation: ByteLevel(prefix=<add_prefix_space>,regex=<use_regex>),
 * Split(<behavior>,<pattern>) (patterns with CR, LF and TAB written as \r \n \t),
 * Digits(individual=<individual_digits>), Punctuation(<behavior>). Steps of a
 * Sequence are joined with " + ". Normalizers other than the Unicode forms, Lowercase,
 * StripAccents and BertNormalizer (e.g. SentencePiece-style Replace/Prepend) are refused. */
#include "tok_internal.h"

#include <stdio.h>
#include <string.h>

#define BL0 "ByteLevel(prefix=0,regex=0)"
#define BL1 "ByteLevel(prefix=0,regex=1)"
#define SPLIT(re) "Split(Isolated," re ")"
#define CONTRACTIONS "(?i:'s|'t|'re|'ve|'m|'ll|'d)"

typedef struct pre_row { const char *name, *steps; } pre_row;

static const pre_row pre_table[] = {
    /* GPT-2: byte-level with its built-in regex */
    { "gpt-2", BL1 },
    /* StarCoder, SmolLM, Refact, Command-R, CodeShell: single digits, then GPT-2 */
    { "starcoder", "Digits(individual=1) + " BL1 },
    /* Llama 3 (also dbrx, smaug-bpe, chatglm4, falcon3, pixtral ...) */
    { "llama-bpe", SPLIT(CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+") " + " BL0 },
    /* Qwen2 (also stablelm2, hunyuan, solar-open, grok-2) */
    { "qwen2", SPLIT(CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+") " + " BL0 },
    { "qwen35", SPLIT(CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+") " + " BL0 },
    { "jais-2", SPLIT(CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}") " + " BL0 },
    /* GPT-4o / Llama 4 / MiniMax-M2 (o200k) */
    { "gpt-4o", SPLIT("[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" CONTRACTIONS "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+") " + " BL0 },
    /* Mistral tekken */
    { "tekken", SPLIT("[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+") " + " BL0 },
    { "seed-coder", SPLIT(CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+") " + " BL0 },
    { "bailingmoe", SPLIT("'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+") " + " BL0 },
    { "exaone-moe", SPLIT(CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+") " + " BL0 },
    { "minicpm5", SPLIT("\\p{N}{1,3}") " + " SPLIT(CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+") " + " BL0 },
    { "tiny_aya", SPLIT("\\d{1,3}(?=(?:\\d{3})*\\b)") " + " SPLIT("[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" CONTRACTIONS "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+") " + " BL0 },
    /* DeepSeek LLM / Coder / V3: lists of isolated splits */
    { "deepseek-llm",
      "Split(Isolated," "[\\r\\n]" ")" " + " "Split(Isolated," "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+" ")" " + " "Split(Isolated," "\\s?[!-/:-~！-／：-～‘-‟　-。]+" ")" " + " "Split(Isolated," "\\s+$" ")" " + " "Split(Isolated," "[一-龥ࠀ-一가-퟿]+" ")" " + " "Digits(individual=0)" " + " "ByteLevel(prefix=0,regex=0)" },
    { "deepseek-coder",
      "Split(Isolated," "[\\r\\n]" ")" " + " "Split(Isolated," "\\s?\\p{L}+" ")" " + " "Split(Isolated," "\\s?\\p{P}+" ")" " + " "Split(Isolated," "[一-龥ࠀ-一가-퟿]+" ")" " + " "Digits(individual=1)" " + " "ByteLevel(prefix=0,regex=0)" },
    { "deepseek-v3",
      "Split(Isolated," "\\p{N}{1,3}" ")" " + " "Split(Isolated," "[一-龥぀-ゟ゠-ヿ]+" ")" " + " "Split(Isolated," "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" ")" " + " "ByteLevel(prefix=0,regex=0)" },
    /* Falcon: punctuation, GPT-2, digit runs, triples of digits */
    { "falcon", "Punctuation(Contiguous) + " BL1 " + Digits(individual=0) + " SPLIT("[0-9][0-9][0-9]") },
};

/* Every name llama.cpp 0.4.0 accepts for a BPE vocabulary (llama-vocab.cpp load). */
static const char *const pre_known[] = {
    "default", "minicpm5", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
    "midm-2.0", "lfm2", "jina-v5-nano", "deepseek-llm", "deepseek-coder", "deepseek-v3", "youtu",
    "falcon", "mpt", "starcoder", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es",
    "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "jais-2", "gemma4", "granite-embed-multi-311m",
    "sarvam-moe", "jina-v1-en", "jina-v2-code", "roberta-bpe", "whitespace", "refact", "command-r",
    "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "qwen35", "stablelm2", "olmo", "dbrx",
    "smaug-bpe", "poro-chat", "glm4", "chatglm-bpe", "viking", "jais", "tekken", "smollm",
    "codeshell", "bloom", "gpt3-finnish", "exaone", "exaone4", "exaone-moe", "chameleon",
    "minerva-7b", "megrez", "gpt-4o", "llama4", "kanana2", "talkie", "granite-embed-multi-97m",
    "tiny_aya", "cohere2moe", "superbpe", "trillion", "granite-docling", "bailingmoe",
    "bailingmoe2", "llada-moe", "seed-coder", "hunyuan", "hunyuan-dense", "joyai-llm", "kimi-k2",
    "grok-2", "afmoe", "laguna", "minimax-m2", "solar-open", "mellum2",
};

int tok_bpe_pre_known(const char *name)
{
    for (size_t i = 0; i < sizeof pre_known / sizeof *pre_known; i++)
        if (strcmp(pre_known[i], name) == 0) return 1;
    return 0;
}

/* ---- describing tokenizer.json's pre_tokenizer ---------------------------------------- */

typedef struct desc { char *p; size_t n, len; int bad; } desc;

static void put(desc *d, const char *s)
{
    for (; *s; s++) {
        const char *e = *s == '\r' ? "\\r" : *s == '\n' ? "\\n" : *s == '\t' ? "\\t" : NULL;
        char one[2] = { *s, 0 };
        for (const char *c = e ? e : one; *c; c++) {
            if (d->len + 1 < d->n) d->p[d->len] = *c;
            d->len++;
        }
    }
    if (d->n) d->p[d->len < d->n ? d->len : d->n - 1] = 0;
}

static int flag(const cJSON *o, const char *key, int dflt)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(b) ? cJSON_IsTrue(b) : dflt;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static void describe(desc *d, const cJSON *pt, int depth)
{
    const char *type = str(pt, "type");
    if (!type || depth > 8) { put(d, "?"); d->bad = 1; return; }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *it, *list = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
        int first = 1;
        if (!cJSON_IsArray(list) || !list->child) { put(d, "Sequence()"); d->bad = 1; return; }
        cJSON_ArrayForEach(it, list) {
            if (!first) put(d, " + ");
            first = 0;
            describe(d, it, depth + 1);
        }
    } else if (strcmp(type, "ByteLevel") == 0) {
        put(d, flag(pt, "add_prefix_space", 1) ? "ByteLevel(prefix=1," : "ByteLevel(prefix=0,");
        put(d, flag(pt, "use_regex", 1) ? "regex=1)" : "regex=0)");
    } else if (strcmp(type, "Digits") == 0) {
        put(d, flag(pt, "individual_digits", 0) ? "Digits(individual=1)" : "Digits(individual=0)");
    } else if (strcmp(type, "Punctuation") == 0) {
        const char *b = str(pt, "behavior");
        put(d, "Punctuation(");
        put(d, b ? b : "Isolated");
        put(d, ")");
    } else if (strcmp(type, "Split") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(pt, "pattern");
        const char *re = str(pat, "Regex"), *s = str(pat, "String"), *b = str(pt, "behavior");
        put(d, "Split(");
        put(d, b ? b : "?");
        if (flag(pt, "invert", 0)) put(d, ",invert");
        put(d, re ? "," : ",string:");
        put(d, re ? re : s ? s : "?");
        put(d, ")");
    } else {
        put(d, type);
        d->bad = 1;
    }
}

/* Normalizers that do not change how llama.cpp must pre-tokenize. */
static int normalizer_ok(const cJSON *n, int depth)
{
    if (!n || cJSON_IsNull(n)) return 1;
    const char *type = str(n, "type");
    if (!type || depth > 8) return 0;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "normalizers"))
            if (!normalizer_ok(it, depth + 1)) return 0;
        return 1;
    }
    static const char *const ok[] = { "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents",
                                      "BertNormalizer" };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (strcmp(type, ok[i]) == 0) return 1;
    return 0;
}

const char *tok_bpe_pre_name(const cJSON *tj, int clean_spaces, char *why, size_t why_n)
{
    char buf[4096];
    desc d = { buf, sizeof buf, 0, 0 };
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(tj, "pre_tokenizer");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(tj, "normalizer");
    if (!pt || cJSON_IsNull(pt)) {
        snprintf(why, why_n, "none (normalizer %s)", normalizer_ok(norm, 0) ? "plain" : str(norm, "type") ? str(norm, "type") : "?");
        return NULL;
    }
    describe(&d, pt, 0);
    if (!normalizer_ok(norm, 0)) {
        snprintf(why, why_n, "%.300s with normalizer %s", buf, str(norm, "type") ? str(norm, "type") : "?");
        return NULL;
    }
    if (!d.bad && d.len < sizeof buf)
        for (size_t i = 0; i < sizeof pre_table / sizeof *pre_table; i++)
            if (strcmp(buf, pre_table[i].steps) == 0) {
                /* starcoder and smollm/command-r share the regexes; llama.cpp tells them
                 * apart by clean_up_tokenization_spaces (detokenizing only) */
                if (strcmp(pre_table[i].name, "starcoder") == 0 && !clean_spaces) return "smollm";
                return pre_table[i].name;
            }
    snprintf(why, why_n, "%.400s%s", buf, d.len >= 400 ? "..." : "");
    return NULL;
}

const char *tok_bpe_pre_row(size_t i)
{
    if (i < sizeof pre_table / sizeof *pre_table) return pre_table[i].name;
    return i == sizeof pre_table / sizeof *pre_table ? "smollm" : NULL;
}
