/*
 * Verification of the dashboard's signed instance string: strings signed
 * here with a known secret, tampered, stale and malformed ones.
 */
#include "auth/instance.h"
#include "core/clock.h"
#include "core/crypto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define APP_ID "4f6a0b7e-0c1d-4e2f-9a3b-5c6d7e8f9a0b"
#define APP_SECRET "test-app-secret-0123456789"
#define OTHER_SECRET "another-apps-secret-9876543210"
#define INSTANCE_ID "9b2c8f4e-1a3d-4c5b-8e7f-0a1b2c3d4e5f"

/* 2026-12-04T12:00:00Z */
#define NOW_MS 1796385600000LL

static const struct auth_instance_options options = {
    .app_secret = APP_SECRET,
    .app_id = APP_ID,
};

/* Signs payload as Wix does: base64url data, HMAC over the data text. */
static char *sign_instance(const char *secret, const char *payload)
{
    size_t length = strlen(payload);
    size_t data_size = crypto_base64url_size(length);
    char *data = malloc(data_size);
    char *result = malloc(64 + data_size);
    unsigned char mac[32];
    char signature[64];

    assert_non_null(data);
    assert_non_null(result);
    crypto_base64url_encode((const unsigned char *)payload, length, data,
                            data_size);
    crypto_hmac_sha256(secret, strlen(secret), data, strlen(data), mac);
    crypto_base64url_encode(mac, sizeof(mac), signature, sizeof(signature));
    snprintf(result, 64 + data_size, "%s.%s", signature, data);
    free(data);
    return result;
}

static char *owner_instance(const char *secret, const char *sign_date,
                            const char *expiration_date)
{
    char payload[1024];

    snprintf(payload, sizeof(payload),
             "{\"instanceId\":\"" INSTANCE_ID "\",\"appDefId\":\"" APP_ID
             "\",\"signDate\":\"%s\",\"uid\":\"user-1\","
             "\"permissions\":\"OWNER\",\"demoMode\":false,"
             "\"siteOwnerId\":\"user-1\",\"expirationDate\":\"%s\"}",
             sign_date, expiration_date);
    return sign_instance(secret, payload);
}

static int setup(void **state)
{
    (void)state;
    clock_fake_set_ms(NOW_MS);
    return 0;
}

static void valid_instance_accepted(void **state)
{
    char *instance = owner_instance(APP_SECRET, "2026-12-04T11:30:00.000Z",
                                    "2026-12-04T15:30:00.000Z");
    struct auth_instance out;
    struct error err;

    (void)state;
    error_clear(&err);
    assert_int_equal(auth_instance_verify(&options, instance, &out, &err), 0);
    assert_string_equal(out.instance_id, INSTANCE_ID);
    assert_string_equal(out.app_def_id, APP_ID);
    assert_string_equal(out.permissions, "OWNER");
    assert_string_equal(out.uid, "user-1");
    assert_int_equal(out.sign_ms, NOW_MS - 30 * 60 * 1000);
    assert_int_equal(out.expires_ms, NOW_MS + 210 * 60 * 1000);
    free(instance);
}

/* The standard base64 alphabet and '=' padding name the same signature. */
static void padded_signature_accepted(void **state)
{
    char *instance = owner_instance(APP_SECRET, "2026-12-04T11:30:00Z",
                                    "2026-12-04T15:30:00Z");
    char *dot = strchr(instance, '.');
    size_t signature_len = (size_t)(dot - instance);
    char *padded = malloc(strlen(instance) + 2);
    struct auth_instance out;
    struct error err;

    (void)state;
    for (size_t i = 0; i < signature_len; i++)
        padded[i] = instance[i] == '-'   ? '+'
                    : instance[i] == '_' ? '/'
                                         : instance[i];
    padded[signature_len] = '=';
    strcpy(padded + signature_len + 1, dot);
    assert_int_equal(auth_instance_verify(&options, padded, &out, &err), 0);
    assert_string_equal(out.instance_id, INSTANCE_ID);
    free(padded);
    free(instance);
}

static void tampered_data_rejected(void **state)
{
    char *instance = owner_instance(APP_SECRET, "2026-12-04T11:30:00Z",
                                    "2026-12-04T15:30:00Z");
    char *other = owner_instance(APP_SECRET, "2026-12-04T11:30:01Z",
                                 "2026-12-04T15:30:00Z");
    char *mixed = malloc(strlen(instance) + strlen(other) + 1);
    struct auth_instance out;
    struct error err;

    (void)state;
    /* The signature of one string on the data of another. */
    memcpy(mixed, instance, (size_t)(strchr(instance, '.') - instance));
    strcpy(mixed + (strchr(instance, '.') - instance), strchr(other, '.'));
    assert_int_equal(auth_instance_verify(&options, mixed, &out, &err), -1);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_non_null(strstr(err.message, "signature is invalid"));
    assert_string_equal(out.instance_id, "");

    /* One flipped character of the signature. */
    instance[3] = instance[3] == 'A' ? 'B' : 'A';
    assert_int_equal(auth_instance_verify(&options, instance, &out, &err), -1);
    assert_non_null(strstr(err.message, "signature is invalid"));
    free(mixed);
    free(other);
    free(instance);
}

static void other_app_secret_rejected(void **state)
{
    char *instance = owner_instance(OTHER_SECRET, "2026-12-04T11:30:00Z",
                                    "2026-12-04T15:30:00Z");
    struct auth_instance out;
    struct error err;

    (void)state;
    assert_int_equal(auth_instance_verify(&options, instance, &out, &err), -1);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_non_null(strstr(err.message, "signature is invalid"));
    free(instance);
}

static void other_app_id_rejected(void **state)
{
    char *instance = sign_instance(
        APP_SECRET, "{\"instanceId\":\"" INSTANCE_ID "\",\"appDefId\":"
                    "\"someone-else\",\"uid\":\"u\","
                    "\"signDate\":\"2026-12-04T11:30:00Z\"}");
    struct auth_instance out;
    struct error err;

    (void)state;
    assert_int_equal(auth_instance_verify(&options, instance, &out, &err), -1);
    assert_non_null(strstr(err.message, "someone-else"));
    free(instance);
}

static void stale_instance_rejected(void **state)
{
    char *expired = owner_instance(APP_SECRET, "2026-12-04T07:00:00Z",
                                   "2026-12-04T11:00:00Z");
    char *old = sign_instance(
        APP_SECRET, "{\"instanceId\":\"" INSTANCE_ID "\",\"uid\":\"u\","
                    "\"appDefId\":\"" APP_ID "\","
                    "\"signDate\":\"2026-12-04T07:59:59Z\"}");
    char *future = owner_instance(APP_SECRET, "2026-12-04T12:06:00Z",
                                  "2026-12-04T16:06:00Z");
    struct auth_instance out;
    struct error err;

    (void)state;
    assert_int_equal(auth_instance_verify(&options, expired, &out, &err), -1);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_non_null(strstr(err.message, "expired at 2026-12-04T11:00:00"));

    /* Without expirationDate the default maximum age of 4 hours applies. */
    assert_int_equal(auth_instance_verify(&options, old, &out, &err), -1);
    assert_non_null(strstr(err.message, "expired"));
    clock_fake_advance_ms(-2000);
    assert_int_equal(auth_instance_verify(&options, old, &out, &err), 0);
    clock_fake_set_ms(NOW_MS);

    assert_int_equal(auth_instance_verify(&options, future, &out, &err), -1);
    assert_non_null(strstr(err.message, "in the future"));

    /* The window moves with the clock: valid now, stale 4 hours later. */
    free(expired);
    expired = owner_instance(APP_SECRET, "2026-12-04T12:00:00Z",
                             "2026-12-04T16:00:00Z");
    assert_int_equal(auth_instance_verify(&options, expired, &out, &err), 0);
    clock_fake_advance_ms(4LL * 60 * 60 * 1000);
    assert_int_equal(auth_instance_verify(&options, expired, &out, &err), -1);
    clock_fake_set_ms(NOW_MS);
    free(future);
    free(old);
    free(expired);
}

static void anonymous_visitor_rejected(void **state)
{
    char *visitor = sign_instance(
        APP_SECRET, "{\"instanceId\":\"" INSTANCE_ID "\",\"aid\":\"visitor-7\","
                    "\"appDefId\":\"" APP_ID "\","
                    "\"signDate\":\"2026-12-04T11:59:00Z\"}");
    char *owner_with_aid = sign_instance(
        APP_SECRET, "{\"instanceId\":\"" INSTANCE_ID "\",\"aid\":\"visitor-7\","
                    "\"appDefId\":\"" APP_ID "\","
                    "\"uid\":\"user-1\",\"permissions\":\"OWNER\","
                    "\"signDate\":\"2026-12-04T11:59:00Z\"}");
    struct auth_instance out;
    struct error err;

    (void)state;
    assert_int_equal(auth_instance_verify(&options, visitor, &out, &err), -1);
    assert_non_null(strstr(err.message, "anonymous site visitor"));
    assert_int_equal(auth_instance_verify(&options, owner_with_aid, &out, &err),
                     0);
    free(owner_with_aid);
    free(visitor);
}

static void malformed_instance_rejected(void **state)
{
    char *not_json = sign_instance(APP_SECRET, "not json at all");
    char *array = sign_instance(APP_SECRET, "[1,2,3]");
    char *no_id = sign_instance(
        APP_SECRET, "{\"uid\":\"u\",\"signDate\":\"2026-12-04T11:59:00Z\"}");
    char *numeric_id = sign_instance(
        APP_SECRET,
        "{\"instanceId\":42,\"signDate\":\"2026-12-04T11:59:00Z\"}");
    char *bad_date = sign_instance(
        APP_SECRET, "{\"instanceId\":\"x\",\"signDate\":\"yesterday\"}");
    char *no_date = sign_instance(APP_SECRET, "{\"instanceId\":\"x\"}");
    char *huge = calloc(AUTH_INSTANCE_MAX_LEN + 10, 1);
    const char *inputs[] = {
        "",         ".",         "abc",    "abc.",    ".abc",   "a b.c",
        "abc.d%ef", "abc.def\n", "....",   "!!!.???", not_json, array,
        no_id,      numeric_id,  bad_date, no_date,   huge,
    };
    struct auth_instance out;
    struct error err;

    (void)state;
    memset(huge, 'A', AUTH_INSTANCE_MAX_LEN + 5);
    huge[100] = '.';
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        error_clear(&err);
        assert_int_equal(auth_instance_verify(&options, inputs[i], &out, &err),
                         -1);
        assert_int_equal(err.kind, ERR_UNAUTHORIZED);
        assert_true(err.message[0] != '\0');
        assert_string_equal(out.instance_id, "");
    }
    assert_int_equal(auth_instance_verify(&options, NULL, &out, &err), -1);
    free(huge);
    free(no_date);
    free(bad_date);
    free(numeric_id);
    free(no_id);
    free(array);
    free(not_json);
}

static void missing_secret_rejected(void **state)
{
    struct auth_instance_options no_secret = {.app_secret = ""};
    struct auth_instance out;
    struct error err;

    (void)state;
    assert_int_equal(auth_instance_verify(&no_secret, "a.b", &out, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "SITESMITH_WIX_APP_SECRET"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(valid_instance_accepted, setup),
        cmocka_unit_test_setup(padded_signature_accepted, setup),
        cmocka_unit_test_setup(tampered_data_rejected, setup),
        cmocka_unit_test_setup(other_app_secret_rejected, setup),
        cmocka_unit_test_setup(other_app_id_rejected, setup),
        cmocka_unit_test_setup(stale_instance_rejected, setup),
        cmocka_unit_test_setup(anonymous_visitor_rejected, setup),
        cmocka_unit_test_setup(malformed_instance_rejected, setup),
        cmocka_unit_test_setup(missing_secret_rejected, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
