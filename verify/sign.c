/* sign.c: Ed25519 detached signatures over a manifest's exact bytes (lb_manifest.h). */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_manifest.h"

#define SIG_HEADER "lowbit-signature 1 ed25519"

static int load_key(const char *pem, int private, EVP_PKEY **key, lb_err *err)
{
    FILE *f = fopen(pem, "r");
    if (!f) return lb_err_item(err, LB_EIO, "key", pem, LB_NO_OFFSET, "cannot open");
    *key = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!*key)
        return lb_err_item(err, LB_EFORMAT, "key", pem, LB_NO_OFFSET, "not a PEM %s key", private ? "private" : "public");
    if (EVP_PKEY_id(*key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(*key);
        *key = NULL;
        return lb_err_item(err, LB_EFORMAT, "key", pem, LB_NO_OFFSET, "not an Ed25519 key");
    }
    return LB_OK;
}

/* sha256 of the DER public key: names the key in the signature file. */
static int key_id(EVP_PKEY *key, char hex[LB_SHA256_HEX])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    if (n <= 0) return -1;
    lb_sha256_hex(der, (size_t)n, hex);
    OPENSSL_free(der);
    return 0;
}

int lb_sign_file(const char *key_pem, const char *path, const char *sig_path, int force, lb_err *err)
{
    EVP_PKEY *key;
    char *data;
    size_t n;
    LB_TRY(load_key(key_pem, 1, &key, err));
    int rc = lb_read_small_file(path, LB_MANIFEST_MAX, &data, &n, err);
    if (rc) { EVP_PKEY_free(key); return rc; }
    unsigned char sig[64];
    size_t slen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, &slen, (unsigned char *)data, n) != 1)
        rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "signing failed");
    EVP_MD_CTX_free(ctx);
    free(data);
    char id[LB_SHA256_HEX];
    if (!rc && key_id(key, id)) rc = lb_err_set(err, LB_EIO, LB_NO_OFFSET, "cannot encode the public key");
    EVP_PKEY_free(key);
    if (rc) return rc;
    unsigned char b64[128];
    int bl = EVP_EncodeBlock(b64, sig, (int)slen);
    char text[400];
    int tl = snprintf(text, sizeof text, SIG_HEADER "\nkey %s\nsig %.*s\n", id, bl, b64);
    return lb_out_write_file(sig_path, text, (size_t)tl, force ? LB_OUT_FORCE : 0, err);
}

int lb_verify_sig(const char *pub_pem, const char *path, const char *sig_path, lb_err *err)
{
    char *st, *data;
    size_t sn, n;
    LB_TRY(lb_read_small_file(sig_path, 4096, &st, &sn, err));
    char id[80], b64[200];
    int ok = sscanf(st, SIG_HEADER "\nkey %79s\nsig %199s", id, b64) == 2 && strncmp(st, SIG_HEADER "\n", strlen(SIG_HEADER) + 1) == 0;
    free(st);
    if (!ok) return lb_err_item(err, LB_EFORMAT, "signature", sig_path, LB_NO_OFFSET, "not a lowbit signature file");
    unsigned char sig[160];
    int bl = EVP_DecodeBlock(sig, (unsigned char *)b64, (int)strlen(b64));
    size_t pad = strlen(b64) >= 2 ? (b64[strlen(b64) - 1] == '=') + (b64[strlen(b64) - 2] == '=') : 0;
    if (bl < 0 || (size_t)bl - pad != 64)
        return lb_err_item(err, LB_EFORMAT, "signature", sig_path, LB_NO_OFFSET, "signature is not 64 bytes of base64");
    EVP_PKEY *key;
    LB_TRY(load_key(pub_pem, 0, &key, err));
    char kid[LB_SHA256_HEX];
    if (key_id(key, kid) || strcmp(kid, id) != 0) {
        EVP_PKEY_free(key);
        return lb_err_item(err, LB_ECHECK, "signature", sig_path, LB_NO_OFFSET, "made with another key (key %.16s..., not %.16s...)", id, kid);
    }
    int rc = lb_read_small_file(path, LB_MANIFEST_MAX, &data, &n, err);
    if (rc) { EVP_PKEY_free(key); return rc; }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int v = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 ? EVP_DigestVerify(ctx, sig, 64, (unsigned char *)data, n) : -1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    free(data);
    if (v != 1) return lb_err_item(err, LB_ECHECK, "signature", sig_path, LB_NO_OFFSET, "does not match the manifest: it was changed or signed by someone else");
    return LB_OK;
}
