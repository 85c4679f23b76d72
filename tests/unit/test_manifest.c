/* test_manifest.c: the model digest is the same for a model and its 2-shard re-split
 * (written here with lowbit's own writer and an HF index), and hashing in one pass agrees
 * with hashing each tensor on its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lb_hash.h"
#include "lb_manifest.h"
#include "lb_writer.h"
#include "tap.h"

static int write_shard(lb_model *m, size_t from, size_t to, const char *path)
{
    lb_err e;
    lb_out *o;
    lb_writer *w;
    lb_wtensor *wt = calloc(to - from + 1, sizeof *wt);
    for (size_t i = from; i < to; i++) {
        const lb_tensor *t = &m->tensors[i];
        wt[i - from].name = t->name;
        wt[i - from].type = t->type;
        wt[i - from].ndim = t->ndim;
        memcpy(wt[i - from].shape, t->shape, sizeof t->shape);
    }
    int rc = lb_out_open(&o, path, LB_OUT_FORCE, &e);
    if (!rc) rc = lb_writer_begin(&w, &lb_safetensors_writer_ops, o, NULL, 0, wt, to - from, &e);
    for (size_t i = from; !rc && i < to; i++) {
        const lb_tensor *t = &m->tensors[i];
        void *buf = malloc(t->nbytes + 1);
        rc = lb_tensor_read(m, t, 0, buf, t->nbytes, &e);
        if (!rc) rc = lb_writer_data(w, buf, t->nbytes, &e);
        free(buf);
    }
    if (!rc) rc = lb_writer_end(w, &e);
    if (!rc) rc = lb_out_commit(o, &e);
    free(wt);
    return rc;
}

static const char *digest_of(char *path, char *out)
{
    lb_err e;
    cJSON *doc = lb_manifest_build(&path, 1, NULL, NULL, &e);
    if (!doc) return NULL;
    const cJSON *models = cJSON_GetObjectItem(doc, "models");
    const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(models, 0), "digest"));
    snprintf(out, LB_SHA256_HEX, "%s", d ? d : "");
    cJSON_Delete(doc);
    return d ? out : NULL;
}

int main(void)
{
    const char *sh = tap_shared();
    if (!sh) {
        tap_skip("model digest across containers", "needs ../shared/models/hf/stories260K-llama/model.safetensors");
        TAP_EXIT();
    }
    char src[1200], dir[600], p[1400];
    snprintf(src, sizeof src, "%s/models/hf/stories260K-llama/model.safetensors", sh);
    snprintf(dir, sizeof dir, "%s/shards.XXXXXX", getenv("LOWBIT_TMP") ? getenv("LOWBIT_TMP") : "/tmp");
    lb_model *m = NULL;
    lb_err e;
    tap_begin("model digest: single file == 2-shard re-split with index");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(lb_model_open(&m, src, &e) == LB_OK, "open: %s", e.msg);
    if (m) {
        size_t half = m->n_tensors / 2;
        snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
        CHECK(write_shard(m, 0, half, p) == 0, "shard 1");
        snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
        CHECK(write_shard(m, half, m->n_tensors, p) == 0, "shard 2");
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
        FILE *f = fopen(p, "w");
        fprintf(f, "{\"metadata\": {}, \"weight_map\": {");
        for (size_t i = 0; i < m->n_tensors; i++)
            fprintf(f, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", i ? ", " : "", m->tensors[i].name, i < half ? 1 : 2);
        fprintf(f, "}}\n");
        fclose(f);
        char d1[LB_SHA256_HEX], d2[LB_SHA256_HEX];
        CHECK(digest_of(src, d1) != NULL, "digest of the file");
        CHECK(digest_of(dir, d2) != NULL, "digest of the shards");
        CHECK(strcmp(d1, d2) == 0, "%s != %s", d1, d2);
        CHECK(strlen(d1) == 64, "digest is hex sha256");
    }
    tap_end();

    tap_begin("one-pass tensor hashes == hashing each tensor's bytes");
    if (m) {
        char (*fh)[LB_SHA256_HEX] = calloc(m->n_files, sizeof *fh);
        char (*th)[LB_SHA256_HEX] = calloc(m->n_tensors, sizeof *th);
        CHECK(lb_hash_model(m, fh, th, NULL, NULL, &e) == LB_OK, "hash: %s", e.msg);
        for (size_t i = 0; i < m->n_tensors; i++) {
            const lb_tensor *t = &m->tensors[i];
            void *buf = malloc(t->nbytes + 1);
            char hex[LB_SHA256_HEX];
            lb_tensor_read(m, t, 0, buf, t->nbytes, &e);
            lb_sha256_hex(buf, t->nbytes, hex);
            CHECK(strcmp(hex, th[i]) == 0, "tensor %s", t->name);
            free(buf);
        }
        CHECK(strcmp(fh[0], "f29bb989254944726bc9d5b80d3160a5699c0a785337545075f7fdde1bac34e2") == 0,
              "file sha256 %s", fh[0]);
        free(fh);
        free(th);
    }
    tap_end();
    lb_model_close(m);
    snprintf(p, sizeof p, "rm -rf '%s'", dir);
    if (system(p)) return 1;
    TAP_EXIT();
}
