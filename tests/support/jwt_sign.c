#include "jwt_sign.h"

#include "core/crypto.h"

#include <openssl/bio.h>
#include <openssl/encoder.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

EVP_PKEY *jwt_sign_keygen(int bits)
{
    EVP_PKEY *key = EVP_RSA_gen((unsigned)bits);

    if (!key)
        fail_msg("RSA key generation of %d bits failed", bits);
    return key;
}

char *jwt_sign_public_pem(EVP_PKEY *key, int pkcs1)
{
    OSSL_ENCODER_CTX *encoder = OSSL_ENCODER_CTX_new_for_pkey(
        key, EVP_PKEY_PUBLIC_KEY, "PEM",
        pkcs1 ? "type-specific" : "SubjectPublicKeyInfo", NULL);
    unsigned char *data = NULL;
    size_t length = 0;
    char *pem;

    if (!encoder || OSSL_ENCODER_to_data(encoder, &data, &length) != 1)
        fail_msg("encoding the public key failed");
    OSSL_ENCODER_CTX_free(encoder);
    pem = malloc(length + 1);
    assert_non_null(pem);
    memcpy(pem, data, length);
    pem[length] = '\0';
    OPENSSL_free(data);
    return pem;
}

static char *base64url(const void *data, size_t length)
{
    size_t size = crypto_base64url_size(length);
    char *out = malloc(size);

    assert_non_null(out);
    crypto_base64url_encode(data, length, out, size);
    return out;
}

/* RS256 or HS256 over input; returns the base64url signature. */
static char *sign(EVP_PKEY *key, const char *alg, const char *hmac_secret,
                  const char *input)
{
    unsigned char mac[32];
    unsigned char *signature;
    size_t length = 0;
    EVP_MD_CTX *md;
    char *out;

    if (strcmp(alg, "HS256") == 0) {
        crypto_hmac_sha256(hmac_secret, strlen(hmac_secret), input,
                           strlen(input), mac);
        return base64url(mac, sizeof(mac));
    }
    if (strcmp(alg, "RS256") != 0)
        return strdup("");
    md = EVP_MD_CTX_new();
    assert_non_null(md);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(md, NULL, &length,
                                    (const unsigned char *)input,
                                    strlen(input)),
                     1);
    signature = malloc(length);
    assert_non_null(signature);
    assert_int_equal(EVP_DigestSign(md, signature, &length,
                                    (const unsigned char *)input,
                                    strlen(input)),
                     1);
    EVP_MD_CTX_free(md);
    out = base64url(signature, length);
    free(signature);
    return out;
}

char *jwt_sign_make(EVP_PKEY *key, const char *alg, const char *hmac_secret,
                    const char *claims)
{
    json_t *header_json =
        json_pack("{s:s, s:s, s:s}", "alg", alg, "typ", "JWT", "kid", "test");
    char *header_text = json_dumps(header_json, JSON_COMPACT);
    char *header = base64url(header_text, strlen(header_text));
    char *body = base64url(claims, strlen(claims));
    size_t input_size = strlen(header) + strlen(body) + 2;
    char *input = malloc(input_size);
    char *signature;
    char *jwt;

    assert_non_null(input);
    snprintf(input, input_size, "%s.%s", header, body);
    signature = sign(key, alg, hmac_secret, input);
    jwt = malloc(input_size + strlen(signature) + 1);
    assert_non_null(jwt);
    sprintf(jwt, "%s.%s", input, signature);
    json_decref(header_json);
    free(header_text);
    free(header);
    free(body);
    free(input);
    free(signature);
    return jwt;
}

char *jwt_sign_wix_claims(const char *event_type, const char *instance_id,
                          const char *payload, int64_t iat_s, int64_t exp_s)
{
    json_t *envelope = json_pack("{s:s, s:s, s:s}", "eventType", event_type,
                                 "instanceId", instance_id, "data", payload);
    char *envelope_text = json_dumps(envelope, JSON_COMPACT);
    json_t *claims = json_pack("{s:s, s:I, s:I}", "data", envelope_text, "iat",
                               (json_int_t)iat_s, "exp", (json_int_t)exp_s);
    char *text = json_dumps(claims, JSON_COMPACT);

    json_decref(envelope);
    json_decref(claims);
    free(envelope_text);
    return text;
}
