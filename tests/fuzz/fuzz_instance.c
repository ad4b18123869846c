/*
 * libFuzzer target for the dashboard instance verifier. The first input
 * byte picks the mode:
 *   even: the rest is the whole instance string, as an attacker sends it;
 *   odd:  the rest is the payload JSON, which the target signs with the
 *         app secret, so that the payload checks behind the signature are
 *         reached too.
 * A string that verifies must name an instance and a signing time; a
 * rejection must say why. Anything else aborts.
 */
#include "auth/instance.h"
#include "core/clock.h"
#include "core/crypto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APP_SECRET "fuzz-app-secret"
#define APP_ID "fuzz-app-id"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (crypto_init() != 0)
        abort();
    /* 2026-12-04: payloads in the corpus are signed around then. */
    clock_fake_set_ms(1796400000000LL);
    return 0;
}

/* "<signature>.<data>" for payload, signed as Wix signs it. */
static char *sign(const uint8_t *payload, size_t size)
{
    size_t data_size = crypto_base64url_size(size);
    char *text = malloc(data_size + 64);
    unsigned char mac[32];
    char signature[64];

    if (!text)
        abort();
    crypto_base64url_encode(payload, size, text + 44, data_size);
    crypto_hmac_sha256(APP_SECRET, strlen(APP_SECRET), text + 44,
                       strlen(text + 44), mac);
    crypto_base64url_encode(mac, sizeof(mac), signature, sizeof(signature));
    memcpy(text, signature, 43);
    text[43] = '.';
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_instance_options opts = {
        .app_secret = APP_SECRET,
        .app_id = (size > 0 && (data[0] & 2)) ? APP_ID : NULL,
    };
    struct auth_instance out;
    struct error err;
    char *instance;
    int rc;

    if (size == 0)
        return 0;
    if (data[0] & 1) {
        instance = sign(data + 1, size - 1);
    } else {
        instance = malloc(size);
        if (!instance)
            abort();
        memcpy(instance, data + 1, size - 1);
        instance[size - 1] = '\0';
    }

    error_clear(&err);
    rc = auth_instance_verify(&opts, instance, &out, &err);
    if (rc == 0 && (!out.instance_id[0] || out.sign_ms <= 0))
        abort(); /* a verified string names its site and time */
    if (rc != 0 && (err.kind == ERR_NONE || !err.message[0]))
        abort(); /* a rejection says why */
    free(instance);
    return 0;
}
