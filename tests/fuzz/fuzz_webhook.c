/*
 * libFuzzer target for the webhook JWT verifier. The low two bits of the
 * first input byte pick the mode, and bits 2 and 3 require the app id and
 * ignore expiration:
 *   0 and 3: the rest is the whole request body, as an attacker sends it;
 *   1: the rest is "<header JSON>\n<claims JSON>", which the target signs
 *      with RS256, so that header and claims checks behind a valid
 *      signature are reached;
 *   2: the rest is the claims JSON, signed with an RS256 header.
 * A verified event must have a type, a 64-character key and an object
 * payload; a rejection must say why. Anything else aborts.
 *
 * Each signed input costs one RSA-2048 signature, so expect some hundreds
 * of runs a second in modes 1 and 2.
 */
#include "auth/webhook.h"
#include "core/clock.h"
#include "core/crypto.h"

#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APP_ID "fuzz-app-id"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *signing_key;
static struct auth_webhook_key *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    OSSL_ENCODER_CTX *encoder;
    unsigned char *pem = NULL;
    size_t length = 0;
    char *text;
    struct error err;

    (void)argc;
    (void)argv;
    if (crypto_init() != 0)
        abort();
    clock_fake_set_ms(1796400000000LL);
    signing_key = EVP_RSA_gen(2048);
    encoder = OSSL_ENCODER_CTX_new_for_pkey(
        signing_key, EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", NULL);
    if (!signing_key || !encoder ||
        OSSL_ENCODER_to_data(encoder, &pem, &length) != 1)
        abort();
    text = malloc(length + 1);
    if (!text)
        abort();
    memcpy(text, pem, length);
    text[length] = '\0';
    verifier = auth_webhook_key_load(text, &err);
    if (!verifier)
        abort();
    free(text);
    OPENSSL_free(pem);
    OSSL_ENCODER_CTX_free(encoder);
    return 0;
}

static char *base64url(const void *data, size_t length)
{
    size_t size = crypto_base64url_size(length);
    char *out = malloc(size);

    if (!out)
        abort();
    crypto_base64url_encode(data, length, out, size);
    return out;
}

/* "<b64(header)>.<b64(claims)>.<RS256 signature>". */
static char *sign(const void *header, size_t header_len, const void *claims,
                  size_t claims_len)
{
    char *header_part = base64url(header, header_len);
    char *claims_part = base64url(claims, claims_len);
    size_t input_len = strlen(header_part) + 1 + strlen(claims_part);
    char *jwt = malloc(input_len + 400);
    unsigned char signature[256];
    size_t signature_len = sizeof(signature);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *signature_part;

    if (!jwt || !md)
        abort();
    sprintf(jwt, "%s.%s", header_part, claims_part);
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, signing_key) != 1 ||
        EVP_DigestSign(md, signature, &signature_len,
                       (const unsigned char *)jwt, input_len) != 1)
        abort();
    signature_part = base64url(signature, signature_len);
    sprintf(jwt + input_len, ".%s", signature_part);
    EVP_MD_CTX_free(md);
    free(header_part);
    free(claims_part);
    free(signature_part);
    return jwt;
}

static char *make_input(const uint8_t *data, size_t size, size_t *length)
{
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    const uint8_t *newline;
    char *jwt;

    switch (data[0] & 3) {
    case 1:
        newline = memchr(data + 1, '\n', size - 1);
        if (!newline)
            return NULL;
        jwt = sign(data + 1, (size_t)(newline - data - 1), newline + 1,
                   size - (size_t)(newline - data) - 1);
        break;
    case 2:
        jwt = sign(header, sizeof(header) - 1, data + 1, size - 1);
        break;
    default:
        jwt = malloc(size);
        if (!jwt)
            abort();
        memcpy(jwt, data + 1, size - 1);
        *length = size - 1;
        return jwt;
    }
    *length = strlen(jwt);
    return jwt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_webhook_options opts = {
        .app_id = (size > 0 && (data[0] & 4)) ? APP_ID : NULL,
        .ignore_expiration = size > 0 && (data[0] & 8),
    };
    struct auth_webhook event;
    struct error err;
    size_t length = 0;
    char *jwt;
    int rc;

    if (size == 0)
        return 0;
    jwt = make_input(data, size, &length);
    if (!jwt)
        return 0;

    error_clear(&err);
    rc = auth_webhook_verify(verifier, &opts, jwt, length, &event, &err);
    if (rc == 0 && (!event.event_type[0] || strlen(event.event_key) != 64 ||
                    !json_is_object(event.payload)))
        abort(); /* a verified event is complete */
    if (rc != 0 && (err.kind == ERR_NONE || !err.message[0]))
        abort(); /* a rejection says why */
    auth_webhook_clear(&event);
    free(jwt);
    return 0;
}
