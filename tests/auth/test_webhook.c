/*
 * The webhook JWT verifier: Wix's three JSON layers, and every forgery
 * that must fail (bad signature, another key, alg none, HS256 with the
 * public key as secret, expired, future iat, another app, malformed).
 */
#include "auth/webhook.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "jwt_sign.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define APP_ID "app-0001"
#define INSTANCE_ID "inst-0001"
#define NOW_S 1796400000LL /* 2026-12-04 */

struct fixture {
    EVP_PKEY *key;
    EVP_PKEY *other_key;
    char *pem;
    struct auth_webhook_key *verifier;
    struct auth_webhook_options options;
};

static struct fixture fx;

static int setup(void **state)
{
    struct error err;

    (void)state;
    assert_int_equal(crypto_init(), 0);
    fx.key = jwt_sign_keygen(2048);
    fx.other_key = jwt_sign_keygen(2048);
    fx.pem = jwt_sign_public_pem(fx.key, 0);
    fx.verifier = auth_webhook_key_load(fx.pem, &err);
    assert_non_null(fx.verifier);
    fx.options = (struct auth_webhook_options){.app_id = APP_ID};
    clock_fake_set_ms(NOW_S * 1000);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    auth_webhook_key_free(fx.verifier);
    EVP_PKEY_free(fx.key);
    EVP_PKEY_free(fx.other_key);
    free(fx.pem);
    clock_use_system();
    return 0;
}

/* A webhook JWT for the event, signed with key and alg. */
static char *make(EVP_PKEY *key, const char *alg, const char *type,
                  const char *payload, int64_t iat_s, int64_t exp_s)
{
    char *claims =
        jwt_sign_wix_claims(type, INSTANCE_ID, payload, iat_s, exp_s);
    char *jwt = jwt_sign_make(key, alg, fx.pem, claims);

    free(claims);
    return jwt;
}

/* Verifies jwt; returns 0 or -1 and leaves the error in err. */
static int verify(const char *jwt, struct auth_webhook *event,
                  struct error *err)
{
    error_clear(err);
    return auth_webhook_verify(fx.verifier, &fx.options, jwt, strlen(jwt),
                               event, err);
}

static void expect_rejected(const char *jwt, enum error_kind kind,
                            const char *message_part)
{
    struct auth_webhook event;
    struct error err;

    assert_int_equal(verify(jwt, &event, &err), -1);
    assert_int_equal(err.kind, kind);
    if (message_part && !strstr(err.message, message_part))
        fail_msg("expected \"%s\" in \"%s\"", message_part, err.message);
    auth_webhook_clear(&event);
}

static void installed_event_verifies(void **state)
{
    char *jwt = make(fx.key, "RS256", "AppInstalled",
                     "{\"appId\": \"" APP_ID "\", \"originInstanceId\": \"\"}",
                     NOW_S - 10, NOW_S + 3600);
    struct auth_webhook event;
    struct error err;

    (void)state;
    assert_int_equal(verify(jwt, &event, &err), 0);
    assert_string_equal(event.event_type, "AppInstalled");
    assert_string_equal(event.instance_id, INSTANCE_ID);
    assert_int_equal(event.issued_ms, (NOW_S - 10) * 1000);
    assert_int_equal(event.expires_ms, (NOW_S + 3600) * 1000);
    assert_string_equal(
        json_string_value(json_object_get(event.payload, "appId")), APP_ID);
    assert_int_equal(strlen(event.event_key), 64);
    auth_webhook_clear(&event);
    free(jwt);
}

static void plan_event_payload_read(void **state)
{
    char *jwt = make(fx.key, "RS256", "PaidPlanChanged",
                     "{\"operationTimeStamp\": \"2026-12-04T10:00:00.000Z\", "
                     "\"vendorProductId\": \"pro\", \"cycle\": \"MONTHLY\", "
                     "\"previousVendorProductId\": \"basic\"}",
                     NOW_S, NOW_S + 60);
    struct auth_webhook event;
    struct error err;

    (void)state;
    assert_int_equal(verify(jwt, &event, &err), 0);
    assert_string_equal(event.event_type, "PaidPlanChanged");
    assert_string_equal(
        json_string_value(json_object_get(event.payload, "vendorProductId")),
        "pro");
    auth_webhook_clear(&event);
    free(jwt);
}

static void event_key_stable_per_delivery(void **state)
{
    const char *payload = "{\"appId\": \"" APP_ID "\"}";
    char *first =
        make(fx.key, "RS256", "AppRemoved", payload, NOW_S, NOW_S + 60);
    char *again =
        make(fx.key, "RS256", "AppRemoved", payload, NOW_S, NOW_S + 60);
    char *later =
        make(fx.key, "RS256", "AppRemoved", payload, NOW_S + 1, NOW_S + 60);
    struct auth_webhook a, b, c;
    struct error err;

    (void)state;
    assert_int_equal(verify(first, &a, &err), 0);
    assert_int_equal(verify(again, &b, &err), 0);
    assert_int_equal(verify(later, &c, &err), 0);
    assert_string_equal(a.event_key, b.event_key);
    assert_string_not_equal(a.event_key, c.event_key);
    auth_webhook_clear(&a);
    auth_webhook_clear(&b);
    auth_webhook_clear(&c);
    free(first);
    free(again);
    free(later);
}

static void tampered_signature_rejected(void **state)
{
    char *jwt = make(fx.key, "RS256", "AppInstalled", "{}", NOW_S, NOW_S + 60);
    char *last = jwt + strlen(jwt) - 2;

    (void)state;
    *last = *last == 'A' ? 'B' : 'A';
    expect_rejected(jwt, ERR_UNAUTHORIZED, "signature is invalid");
    free(jwt);
}

static void tampered_claims_rejected(void **state)
{
    char *jwt = make(fx.key, "RS256", "PaidPlanPurchased",
                     "{\"vendorProductId\": \"basic\"}", NOW_S, NOW_S + 60);
    char *forged = make(fx.other_key, "RS256", "PaidPlanPurchased",
                        "{\"vendorProductId\": \"pro\"}", NOW_S, NOW_S + 60);
    char *first_dot = strchr(jwt, '.');
    char *second_dot = strchr(first_dot + 1, '.');
    char *forged_first = strchr(forged, '.');
    char *forged_second = strchr(forged_first + 1, '.');
    char spliced[8192];

    (void)state;
    /* The forged claims with the genuine header and signature. */
    snprintf(spliced, sizeof(spliced), "%.*s%.*s%s", (int)(first_dot - jwt),
             jwt, (int)(forged_second - forged_first), forged_first,
             second_dot);
    expect_rejected(spliced, ERR_UNAUTHORIZED, "signature is invalid");
    free(jwt);
    free(forged);
}

static void other_key_rejected(void **state)
{
    char *jwt =
        make(fx.other_key, "RS256", "AppInstalled", "{}", NOW_S, NOW_S + 60);

    (void)state;
    expect_rejected(jwt, ERR_UNAUTHORIZED, "signature is invalid");
    free(jwt);
}

static void alg_none_rejected(void **state)
{
    char *jwt = make(NULL, "none", "AppInstalled", "{}", NOW_S, NOW_S + 60);

    (void)state;
    expect_rejected(jwt, ERR_UNAUTHORIZED, "\"none\" is rejected");
    free(jwt);
}

static void hs256_with_public_key_rejected(void **state)
{
    char *jwt = make(NULL, "HS256", "AppInstalled", "{}", NOW_S, NOW_S + 60);

    (void)state;
    expect_rejected(jwt, ERR_UNAUTHORIZED, "\"HS256\" is rejected");
    free(jwt);
}

static void missing_alg_rejected(void **state)
{
    /* {"typ":"JWT"} as the header, with a real RS256 signature part. */
    char *jwt = make(fx.key, "RS256", "AppInstalled", "{}", NOW_S, NOW_S + 60);
    const char *rest = strchr(jwt, '.');
    char forged[8192];

    (void)state;
    snprintf(forged, sizeof(forged), "eyJ0eXAiOiJKV1QifQ%s", rest);
    expect_rejected(forged, ERR_UNAUTHORIZED, "no alg");
    free(jwt);
}

static void expired_rejected_unless_ignored(void **state)
{
    int64_t long_ago = NOW_S - 2 * 3600;
    char *jwt =
        make(fx.key, "RS256", "AppInstalled", "{}", long_ago, long_ago + 3600);
    char *within_leeway =
        make(fx.key, "RS256", "AppInstalled", "{}", NOW_S - 200, NOW_S - 60);
    struct auth_webhook event;
    struct error err;

    (void)state;
    expect_rejected(jwt, ERR_UNAUTHORIZED, "expired");
    assert_int_equal(verify(within_leeway, &event, &err), 0);
    auth_webhook_clear(&event);

    fx.options.ignore_expiration = 1;
    assert_int_equal(verify(jwt, &event, &err), 0);
    auth_webhook_clear(&event);
    fx.options.ignore_expiration = 0;
    free(jwt);
    free(within_leeway);
}

static void future_iat_rejected(void **state)
{
    char *jwt =
        make(fx.key, "RS256", "AppInstalled", "{}", NOW_S + 3600, NOW_S + 7200);

    (void)state;
    expect_rejected(jwt, ERR_UNAUTHORIZED, "future");
    free(jwt);
}

static void other_app_rejected(void **state)
{
    char *jwt = make(fx.key, "RS256", "AppInstalled",
                     "{\"appId\": \"someone-else\"}", NOW_S, NOW_S + 60);

    (void)state;
    expect_rejected(jwt, ERR_UNAUTHORIZED, "someone-else");
    free(jwt);
}

static void malformed_bodies_rejected(void **state)
{
    char *no_data = jwt_sign_make(fx.key, "RS256", NULL, "{\"iat\": 1}");
    char *text_claims = jwt_sign_make(fx.key, "RS256", NULL, "[1, 2]");
    char *bad_envelope =
        jwt_sign_make(fx.key, "RS256", NULL, "{\"data\": \"{not json\"}");
    char *no_type =
        jwt_sign_make(fx.key, "RS256", NULL,
                      "{\"data\": \"{\\\"instanceId\\\":\\\"x\\\"}\"}");

    (void)state;
    expect_rejected("", ERR_UNAUTHORIZED, "empty");
    expect_rejected("abc.def", ERR_UNAUTHORIZED, "not a JWT");
    expect_rejected("a.b.c.d", ERR_UNAUTHORIZED, "not a JWT");
    expect_rejected("ab$.cd.ef", ERR_UNAUTHORIZED, "base64url");
    expect_rejected(".abc.def", ERR_UNAUTHORIZED, "empty");
    expect_rejected("e30.e30.", ERR_UNAUTHORIZED, "no alg");
    expect_rejected(no_data, ERR_UNAUTHORIZED, "data");
    expect_rejected(text_claims, ERR_UNAUTHORIZED, "not a JSON object");
    expect_rejected(bad_envelope, ERR_INVALID, "not JSON");
    expect_rejected(no_type, ERR_INVALID, "eventType");
    free(no_data);
    free(text_claims);
    free(bad_envelope);
    free(no_type);
}

static void key_forms_load(void **state)
{
    char *pkcs1 = jwt_sign_public_pem(fx.key, 1);
    char one_line[4096];
    char path[] = "/tmp/sitesmith-key-XXXXXX";
    struct auth_webhook_key *key;
    struct error err;
    size_t j = 0;
    int fd;

    (void)state;
    assert_non_null(strstr(pkcs1, "BEGIN RSA PUBLIC KEY"));
    key = auth_webhook_key_load(pkcs1, &err);
    assert_non_null(key);
    auth_webhook_key_free(key);

    /* One line with "\n" escapes, as in an environment file. */
    for (const char *c = fx.pem; *c && j + 3 < sizeof(one_line); c++) {
        if (*c == '\n') {
            one_line[j++] = '\\';
            one_line[j++] = 'n';
        } else {
            one_line[j++] = *c;
        }
    }
    one_line[j] = '\0';
    key = auth_webhook_key_load(one_line, &err);
    assert_non_null(key);
    auth_webhook_key_free(key);

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, fx.pem, strlen(fx.pem)),
                     (ssize_t)strlen(fx.pem));
    close(fd);
    key = auth_webhook_key_load(path, &err);
    assert_non_null(key);
    auth_webhook_key_free(key);
    unlink(path);
    free(pkcs1);
}

static void bad_keys_rejected(void **state)
{
    EVP_PKEY *small = jwt_sign_keygen(1024);
    char *small_pem = jwt_sign_public_pem(small, 0);
    struct error err;

    (void)state;
    assert_null(auth_webhook_key_load("", &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_null(auth_webhook_key_load("/nonexistent/key.pem", &err));
    assert_non_null(strstr(err.message, "readable file"));
    assert_null(auth_webhook_key_load(
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", &err));
    assert_non_null(strstr(err.message, "not a PEM RSA public key"));
    assert_null(auth_webhook_key_load(small_pem, &err));
    assert_non_null(strstr(err.message, "1024 bits"));
    free(small_pem);
    EVP_PKEY_free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(installed_event_verifies),
        cmocka_unit_test(plan_event_payload_read),
        cmocka_unit_test(event_key_stable_per_delivery),
        cmocka_unit_test(tampered_signature_rejected),
        cmocka_unit_test(tampered_claims_rejected),
        cmocka_unit_test(other_key_rejected),
        cmocka_unit_test(alg_none_rejected),
        cmocka_unit_test(hs256_with_public_key_rejected),
        cmocka_unit_test(missing_alg_rejected),
        cmocka_unit_test(expired_rejected_unless_ignored),
        cmocka_unit_test(future_iat_rejected),
        cmocka_unit_test(other_app_rejected),
        cmocka_unit_test(malformed_bodies_rejected),
        cmocka_unit_test(key_forms_load),
        cmocka_unit_test(bad_keys_rejected),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
