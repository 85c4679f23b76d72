/* test_mix.c: mix names and aliases, --tensor-type override semantics, and the plan's
 * basic rules and refusals on small hand-made tensor lists. (Agreement with the real
 * llama.cpp tensor by tensor is tests/interop/mixes.sh.) */
#include <string.h>

#include "tap.h"
#include "lb_dtype.h"
#include "lb_imatrix.h"
#include "lb_mix.h"

static void t2(lb_tensor *t, const char *name, int type, uint64_t rows, uint64_t cols)
{
    memset(t, 0, sizeof *t);
    t->name = (char *)name;
    t->type = type;
    t->ndim = 2;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->nelem = rows * cols;
}

static void t1(lb_tensor *t, const char *name, int type, uint64_t n)
{
    memset(t, 0, sizeof *t);
    t->name = (char *)name;
    t->type = type;
    t->ndim = 1;
    t->shape[0] = n;
    t->nelem = n;
}

/* A 2-layer llama-ish model, 256-wide rows, in a deliberately unsorted order. */
static size_t tiny_model(lb_tensor *t, int with_output, int quantized_attn_q)
{
    size_t n = 0;
    t2(&t[n++], "blk.1.ffn_down.weight", LB_F16, 256, 512);
    t2(&t[n++], "blk.0.attn_v.weight", LB_F16, 64, 256);
    t2(&t[n++], "blk.1.attn_v.weight", LB_F16, 64, 256);
    t2(&t[n++], "blk.0.ffn_down.weight", LB_F16, 256, 512);
    t1(&t[n++], "blk.0.attn_norm.weight", LB_F16, 256);
    t2(&t[n++], "blk.0.attn_q.weight", quantized_attn_q ? LB_Q8_0 : LB_F16, 256, 256);
    t2(&t[n++], "token_embd.weight", LB_F16, 512, 256);
    t2(&t[n++], "blk.0.attn_k.bias", LB_F16, 2, 256);   /* not a weight: never quantized */
    t2(&t[n++], "blk.0.ffn_gate_inp.weight", LB_F16, 8, 256);
    if (with_output) t2(&t[n++], "output.weight", LB_F16, 512, 256);
    return n;
}

static lb_mix_hparams hp2(void)
{
    lb_mix_hparams hp;
    memset(&hp, 0, sizeof hp);
    strcpy(hp.arch, "llama");
    hp.n_layer = 2;
    hp.n_head = 4;
    hp.n_head_kv = 4;
    return hp;
}

static int type_of(const lb_mix_result *r, const lb_tensor *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return r->t[i].type;
    return -1;
}

static void test_names(void)
{
    tap_begin("mix names: case-insensitive, aliases, ftype ids, numbers");
    const lb_mix_name *m = lb_mix_find("q4_k_m");
    CHECK(m && m->ftype == 15 && !strcmp(m->name, "Q4_K_M"), "q4_k_m");
    CHECK(lb_mix_find("Q4_K") && lb_mix_find("Q4_K")->ftype == 15 && lb_mix_find("Q4_K")->alias, "Q4_K alias");
    CHECK(lb_mix_find("q5_k") && lb_mix_find("q5_k")->ftype == 17, "Q5_K alias");
    CHECK(lb_mix_find("Q3_K") && lb_mix_find("Q3_K")->ftype == 12, "Q3_K alias");
    CHECK(lb_mix_find("Q2_K_S") && lb_mix_find("Q2_K_S")->ftype == 21, "Q2_K_S");
    CHECK(lb_mix_find("iq2_xxs") && lb_mix_find("iq2_xxs")->ftype == 19, "IQ2_XXS");
    CHECK(lb_mix_find("TQ1_0") && lb_mix_find("TQ1_0")->ftype == 36, "TQ1_0");
    CHECK(lb_mix_find("bf16") && lb_mix_find("bf16")->ftype == 32, "BF16");
    CHECK(lb_mix_find("F32") && lb_mix_find("F32")->ftype == 0 && !lb_mix_find("F32")->copy, "F32");
    CHECK(lb_mix_find("copy") && lb_mix_find("copy")->copy, "COPY");
    /* llama-quantize takes the first name with that id: the alias Q4_K, same ftype */
    CHECK(lb_mix_find("15") && lb_mix_find("15")->ftype == 15, "15 -> Q4_K_M");
    CHECK(lb_mix_find("7") && !strcmp(lb_mix_find("7")->name, "Q8_0"), "7 -> Q8_0");
    CHECK(lb_mix_find("0") && !strcmp(lb_mix_find("0")->name, "F32"), "0 -> F32, not COPY");
    CHECK(!lb_mix_find("Q9_K") && !lb_mix_find("") && !lb_mix_find("4") && !lb_mix_find("15x") &&
          !lb_mix_find("Q4_K_M "), "unknown names");
    CHECK(!strcmp(lb_mix_ftype_name(12), "Q3_K_M") && !strcmp(lb_mix_ftype_name(0), "F32") &&
          !lb_mix_ftype_name(4), "ftype names");
    tap_end();

    tap_begin("mix names: valid-name list and default types");
    char buf[600];
    lb_mix_valid_names(buf, sizeof buf);
    CHECK(strstr(buf, "Q4_K_M, ") && strstr(buf, "IQ1_M") && strstr(buf, ", COPY") && !strncmp(buf, "Q1_0, ", 6),
          "list: %s", buf);
    char small[12];
    lb_mix_valid_names(small, sizeof small);
    CHECK(strlen(small) < sizeof small, "truncated list stays terminated");
    CHECK(lb_mix_default_type(15) == LB_Q4_K && lb_mix_default_type(12) == LB_Q3_K &&
          lb_mix_default_type(22) == LB_IQ3_S && lb_mix_default_type(28) == LB_IQ2_XS &&
          lb_mix_default_type(29) == LB_IQ2_S && lb_mix_default_type(7) == LB_Q8_0 &&
          lb_mix_default_type(1) == LB_F16 && lb_mix_default_type(38) == LB_MXFP4 &&
          lb_mix_default_type(4) == -1 && lb_mix_default_type(39) == -1, "defaults");
    const lb_mix_name *all;
    size_t n = lb_mix_names(&all);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= lb_mix_default_type(all[i].ftype) >= 0;
    CHECK(n == 39 && ok, "%zu names, each with a default type", n);
    tap_end();
}

static void test_overrides(void)
{
    lb_err e;
    tap_begin("overrides: malformed specs are usage errors");
    CHECK(lb_mix_override_check("attn_v", &e) == LB_EUSAGE, "no =");
    CHECK(lb_mix_override_check("=q8_0", &e) == LB_EUSAGE, "no name");
    CHECK(lb_mix_override_check("attn_v=", &e) == LB_EUSAGE, "no type");
    CHECK(lb_mix_override_check("attn_v=q9_9", &e) == LB_EUSAGE && strstr(e.msg, "q9_9"), "unknown type: %s", e.msg);
    CHECK(lb_mix_override_check("attn_v=f8_e4m3", &e) == LB_EUSAGE, "not a ggml type");
    CHECK(lb_mix_override_check("attn_(v=q8_0", &e) == LB_EUSAGE && strstr(e.msg, "regex"), "bad regex");
    CHECK(lb_mix_override_check("attn_v=Q8_0", &e) == LB_OK, "type case-insensitive");
    tap_end();

    tap_begin("overrides: ERE searched anywhere, lowercased, \\d accepted");
    CHECK(lb_mix_override_matches("attn_v=q8_0", "blk.3.attn_v.weight") == 1, "substring");
    CHECK(lb_mix_override_matches("ATTN_V=q8_0", "blk.3.attn_v.weight") == 1, "pattern lowercased");
    CHECK(lb_mix_override_matches("^attn_v=q8_0", "blk.3.attn_v.weight") == 0, "anchored");
    CHECK(lb_mix_override_matches("blk\\.1\\.=q8_0", "blk.10.attn_v.weight") == 0, "escaped dots");
    CHECK(lb_mix_override_matches("blk\\.1\\.=q8_0", "blk.1.attn_v.weight") == 1, "blk.1.");
    CHECK(lb_mix_override_matches("blk\\.\\d+\\.ffn_(up|gate)=q4_0", "blk.12.ffn_gate.weight") == 1, "\\d+");
    CHECK(lb_mix_override_matches("blk\\.[0-3]\\.ffn=q4_0", "blk.7.ffn_up.weight") == 0, "bracket");
    CHECK(lb_mix_override_matches("x(=q4_0", "x") == -1, "invalid spec");
    tap_end();

    tap_begin("overrides: first match wins; ignored for float mixes; fallback still applies");
    lb_tensor t[16];
    size_t n = tiny_model(t, 1, 0);
    lb_mix_hparams hp = hp2();
    const char *ov[] = { "attn=q8_0", "attn_v=q4_0", "ffn_down=q4_K" };
    lb_mix_opts o = lb_mix_opts_default(LB_FT_Q4_K_M);
    o.overrides = ov;
    o.n_overrides = 3;
    lb_mix_result *r = NULL;
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK, "plan: %s", e.msg);
    if (r) {
        CHECK(type_of(r, t, n, "blk.0.attn_v.weight") == LB_Q8_0, "first match");
        CHECK(type_of(r, t, n, "blk.0.ffn_down.weight") == LB_Q4_K, "manual type, no mix exception");
        lb_mix_result_free(r);
    }
    o.ftype = LB_FT_F16;
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK && r, "F16 plan");
    if (r) {
        CHECK(type_of(r, t, n, "blk.0.attn_v.weight") == LB_F16, "overrides ignored for F16");
        lb_mix_result_free(r);
    }
    const char *ov2[] = { "token_embd=q6_K" };
    o = lb_mix_opts_default(LB_FT_Q8_0);
    o.overrides = ov2;
    o.n_overrides = 1;
    t2(&t[6], "token_embd.weight", LB_F16, 512, 64);   /* 64 wide: q6_K falls back */
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK && r, "plan");
    if (r) {
        CHECK(r->t[6].type == LB_Q8_0 && r->t[6].fallback && r->t[6].manual && r->n_fallback == 1,
              "q6_K -> q8_0 fallback (%d)", r->t[6].type);
        lb_mix_result_free(r);
    }
    tap_end();
}

static void test_rules(void)
{
    lb_err e;
    lb_tensor t[16];
    lb_mix_hparams hp = hp2();
    lb_mix_result *r = NULL;

    tap_begin("plan: what is never quantized keeps its input type");
    size_t n = tiny_model(t, 1, 0);
    lb_mix_opts o = lb_mix_opts_default(LB_FT_Q4_K_M);
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK && r, "plan: %s", e.msg);
    if (r) {
        CHECK(type_of(r, t, n, "blk.0.attn_norm.weight") == LB_F16 && !r->t[4].quantizable, "1-D F16 norm stays F16");
        CHECK(type_of(r, t, n, "blk.0.attn_k.bias") == LB_F16, "bias");
        CHECK(type_of(r, t, n, "blk.0.ffn_gate_inp.weight") == LB_F16, "expert gate");
        CHECK(type_of(r, t, n, "output.weight") == LB_Q6_K, "output q6_K");
        CHECK(type_of(r, t, n, "token_embd.weight") == LB_Q4_K, "untied embedding: default");
        CHECK(type_of(r, t, n, "blk.0.attn_q.weight") == LB_Q4_K, "default");
        /* 2 layers: use_more_bits(i, 2) is true for i >= 7*2/8 = 1, and for i = 0? 0 < 0 no */
        CHECK(type_of(r, t, n, "blk.0.attn_v.weight") == LB_Q4_K && type_of(r, t, n, "blk.1.attn_v.weight") == LB_Q6_K,
              "attn_v more bits in the last layer");
        CHECK(type_of(r, t, n, "blk.0.ffn_down.weight") == LB_Q4_K && type_of(r, t, n, "blk.1.ffn_down.weight") == LB_Q6_K,
              "ffn_down more bits in the last layer");
        CHECK(r->n_fallback == 0, "no fallback");
        lb_mix_result_free(r);
    }
    tap_end();

    tap_begin("plan: tied embeddings take the output rule; leave-output keeps output");
    n = tiny_model(t, 0, 0);
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK && r, "plan");
    if (r) {
        CHECK(type_of(r, t, n, "token_embd.weight") == LB_Q6_K, "tied -> q6_K");
        lb_mix_result_free(r);
    }
    n = tiny_model(t, 1, 0);
    o.leave_output_tensor = 1;
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK && r, "plan");
    if (r) {
        CHECK(type_of(r, t, n, "output.weight") == LB_F16 && type_of(r, t, n, "token_embd.weight") == LB_Q4_K,
              "output left alone, embedding still untied");
        lb_mix_result_free(r);
    }
    o = lb_mix_opts_default(LB_FT_Q4_K_M);
    o.pure = 1;
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK && r, "plan");
    if (r) {
        CHECK(type_of(r, t, n, "output.weight") == LB_Q4_K && type_of(r, t, n, "blk.1.attn_v.weight") == LB_Q4_K,
              "pure: default everywhere");
        lb_mix_result_free(r);
    }
    tap_end();

    tap_begin("plan: refusals name the tensor");
    n = tiny_model(t, 1, 1);
    o = lb_mix_opts_default(LB_FT_Q4_K_M);
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_EUSAGE && r && strstr(e.item, "blk.0.attn_q.weight") &&
          strstr(e.msg, "q8_0") && strstr(e.msg, "requantize"), "requantize: %s %s", e.item, e.msg);
    lb_mix_result_free(r);
    o.allow_requantize = 1;
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK, "allowed");
    lb_mix_result_free(r);
    o = lb_mix_opts_default(LB_FT_Q8_0);     /* q8_0 -> q8_0: nothing converted, no refusal */
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK && r && !r->t[5].converted, "same type");
    lb_mix_result_free(r);
    n = tiny_model(t, 1, 0);
    o = lb_mix_opts_default(LB_FT_IQ2_XXS);
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_EUSAGE && r, "imatrix refusal");
    /* llama.cpp's order: layer 0 first, names sorted: attn_q (iq2_xxs) before attn_v */
    CHECK(strstr(e.item, "'blk.0.attn_q.weight'") && strstr(e.msg, "importance"), "names %s: %s", e.item, e.msg);
    CHECK(r && lb_mix_first_imatrix(r) == 5, "first = %ld", r ? lb_mix_first_imatrix(r) : -2);
    lb_mix_result_free(r);
    o.has_imatrix = 1;
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK, "with an imatrix");
    lb_mix_result_free(r);
    o = lb_mix_opts_default(LB_FT_Q2_K_S);
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_EUSAGE && strstr(e.msg, "q2_K"), "Q2_K_S: %s", e.msg);
    lb_mix_result_free(r);
    o = lb_mix_opts_default(LB_FT_Q2_K);
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK, "Q2_K needs none");
    lb_mix_result_free(r);
    o = lb_mix_opts_default(4);
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_EUSAGE && !r, "bad ftype");
    o = lb_mix_opts_default(LB_FT_Q4_K_M);
    o.output_tensor_type = LB_Q4_K;
    t2(&t[9], "output.weight", LB_F16, 512, 64);
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_EUSAGE && !r && strstr(e.item, "output.weight"),
          "explicit type that does not fit: %s", e.msg);
    tap_end();

    tap_begin("plan: imatrix entries checked like llama.cpp");
    n = tiny_model(t, 1, 0);
    lb_imatrix im;
    lb_imatrix_entry ent;
    float w[512];
    for (int i = 0; i < 512; i++) w[i] = 1;
    memset(&im, 0, sizeof im);
    memset(&ent, 0, sizeof ent);
    ent.name = "blk.0.attn_q.weight";
    ent.w = w;
    ent.n = ent.ne0 = 128;      /* wrong size */
    ent.n_mat = 1;
    im.e = &ent;
    im.n = 1;
    o = lb_mix_opts_default(LB_FT_Q4_K_M);
    o.imatrix = &im;
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_EFORMAT && strstr(e.item, "attn_q"), "size mismatch: %s", e.msg);
    lb_mix_result_free(r);
    ent.n = ent.ne0 = 256;
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_OK, "right size: %s", e.msg);
    lb_mix_result_free(r);
    o.ftype = LB_FT_IQ2_XXS;    /* entries missing for the other iq2_xxs tensors */
    CHECK(lb_mix_plan(&r, t, n, &hp, &o, &e) == LB_EUSAGE && strstr(e.item, "blk.0.attn_v.weight") == NULL &&
          strstr(e.msg, "no importance matrix entry"), "missing entry: %s %s", e.item, e.msg);
    lb_mix_result_free(r);
    tap_end();
}

static void test_hparams(void)
{
    tap_begin("hparams: from metadata, with errors for what llama.cpp needs");
    lb_model *m = lb_model_new("gguf", "x");
    lb_err e;
    lb_mix_hparams hp;
    CHECK(lb_mix_hparams_get(m, &hp, &e) == LB_EFORMAT && strstr(e.item, "general.architecture"), "no arch");
    lb_model_add_str(m, "general.architecture", "llama", &e);
    CHECK(lb_mix_hparams_get(m, &hp, &e) == LB_EFORMAT && strstr(e.item, "llama.block_count"), "no layers");
    lb_value v;
    memset(&v, 0, sizeof v);
    v.type = LB_V_U32;
    v.v.u = 6;
    lb_model_add_kv(m, "llama.block_count", &v, &e);
    v.v.u = 8;
    lb_model_add_kv(m, "llama.attention.head_count", &v, &e);
    CHECK(lb_mix_hparams_get(m, &hp, &e) == LB_OK && hp.n_layer == 6 && hp.n_head == 8 && hp.n_head_kv == 8 &&
          hp.n_expert == 0 && !strcmp(hp.arch, "llama"), "defaults");
    lb_model_add_str(m, "llama.attention.head_count_kv", "two", &e);
    CHECK(lb_mix_hparams_get(m, &hp, &e) == LB_EFORMAT, "string head_count_kv");
    lb_model_close(m);
    tap_end();
}

/* models/README.md: llama.cpp's Q4_K_M of tiny-llama-trained gives 25 q4_K + 5 q6_K tensors. */
static void test_shared(const char *shared)
{
    char path[1024], sum[200];
    snprintf(path, sizeof path, "%s/models/gguf/tiny-llama-trained-f32.gguf", shared);
    tap_begin("plan: tiny-llama-trained Q4_K_M is 25 q4_K + 5 q6_K, as llama.cpp made it");
    lb_model *m = NULL;
    lb_err e;
    lb_mix_result *r = NULL;
    lb_mix_opts o = lb_mix_opts_default(LB_FT_Q4_K_M);
    CHECK(lb_model_open(&m, path, &e) == LB_OK, "open: %s", e.msg);
    if (m) {
        CHECK(lb_mix_plan_model(&r, m, &o, &e) == LB_OK && r, "plan: %s", e.msg);
        if (r) {
            lb_mix_summary(r, sum, sizeof sum);
            CHECK(!strcmp(sum, "25 q4_K, 9 f32, 5 q6_K"), "summary: %s", sum);
            CHECK(r->n_fallback == 0, "no fallback");
        }
        lb_mix_result_free(r);
        o = lb_mix_opts_default(LB_FT_Q2_K);
        CHECK(lb_mix_plan_model(&r, m, &o, &e) == LB_OK && r, "Q2_K");
        if (r) {
            lb_mix_summary(r, sum, sizeof sum);
            CHECK(strstr(sum, "q2_K") && strstr(sum, "q3_K") && strstr(sum, "q6_K") && !strstr(sum, "q4_K"),
                  "Q2_K mixes q2_K/q3_K/q6_K: %s", sum);
        }
        lb_mix_result_free(r);
        lb_model_close(m);
    }
    tap_end();
}

int main(void)
{
    const char *shared = tap_shared();
    if (shared) test_shared(shared);
    else tap_skip("plan: tiny-llama-trained", "needs ../shared/models/gguf");
    test_names();
    test_overrides();
    test_rules();
    test_hparams();
    TAP_EXIT();
}
