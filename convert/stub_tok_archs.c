/* stub_tok_archs.c: TEMPORARY (branch archs). Delete this file when branch tok (the real
 * lb_tokenizer_load, convert/tokenizer*.c) is merged into main.
 *
 * Until then lb_tokenizer_load only tells whether a tokenizer is there: with none it says
 * so (the converter's "tokenizer missing" error), with one it says that reading it needs
 * the tokenizer library. Conversions that need a vocabulary meanwhile take it from a GGUF
 * with --tokenizer FILE.gguf (hf2gguf.c, not part of this stub). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "lb_tokenizer.h"

static int exists(const char *dir, const char *name, char *buf, size_t n)
{
    struct stat st;
    snprintf(buf, n, "%s/%s", dir, name);
    return stat(buf, &st) == 0;
}

int lb_tokenizer_load(const char *dir, const lb_tok_opts *o, lb_kv **kv, size_t *n_kv, lb_err *err)
{
    static const char *const names[] = { "tokenizer.model", "tokenizer.json", NULL };
    char p[4096];
    *kv = NULL;
    *n_kv = 0;
    const char *found = o->tokenizer;
    struct stat st;
    if (found && stat(found, &st) != 0)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET, "tokenizer '%.200s': missing", found);
    for (const char *const *s = names; !found && *s; s++)
        if (exists(dir, *s, p, sizeof p)) found = p;
    if (!found)
        return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET,
                          "no tokenizer found (tokenizer.model, tokenizer.json): use --tokenizer FILE or --no-vocab");
    return lb_err_set(err, LB_EFORMAT, LB_NO_OFFSET,
                      "tokenizer '%.200s': reading it needs the tokenizer library (branch tok, not merged yet); "
                      "--tokenizer FILE.gguf takes the vocabulary of a GGUF", found);
}

void lb_kv_array_free(lb_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        lb_value_free(&kv[i].val);
    }
    free(kv);
}
