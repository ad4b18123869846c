/*
 * The sandbox's webhook sender: events posted to a local receiver as
 * RS256 JWTs that verify with the sandbox's public key, duplicates, delayed
 * delivery, forgeries on request, a key given by the test, and the
 * loopback-only rule.
 */
#include "auth/webhook.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "http/server.h"
#include "jwt_sign.h"
#include "sandbox_proc.h"

#include <openssl/encoder.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_RECEIVED 16

/* A local webhook receiver: keeps each body it receives and returns 200. */
struct receiver {
    struct http_server *server;
    char url[128];
    pthread_mutex_t lock;
    char *bodies[MAX_RECEIVED];
    int count;
};

struct fixture {
    struct sandbox_proc sandbox;
    struct receiver receiver;
    struct auth_webhook_key *key;
};

static struct fixture fx;

static void receive(struct http_request *req, struct http_response *resp,
                    void *ctx)
{
    struct receiver *r = ctx;

    pthread_mutex_lock(&r->lock);
    if (r->count < MAX_RECEIVED)
        r->bodies[r->count++] = strdup(req->body);
    pthread_mutex_unlock(&r->lock);
    http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static int received(void)
{
    int count;

    pthread_mutex_lock(&fx.receiver.lock);
    count = fx.receiver.count;
    pthread_mutex_unlock(&fx.receiver.lock);
    return count;
}

static void clear_received(void)
{
    pthread_mutex_lock(&fx.receiver.lock);
    for (int i = 0; i < fx.receiver.count; i++)
        free(fx.receiver.bodies[i]);
    fx.receiver.count = 0;
    pthread_mutex_unlock(&fx.receiver.lock);
}

static struct auth_webhook_key *load_sandbox_key(void)
{
    struct http_client_response resp;
    struct auth_webhook_key *key;
    struct error err;

    assert_int_equal(sandbox_proc_send(&fx.sandbox, "GET",
                                       "/__sandbox/webhooks/public-key", NULL,
                                       NULL, &resp),
                     200);
    assert_non_null(strstr(resp.body.data, "BEGIN PUBLIC KEY"));
    key = auth_webhook_key_load(resp.body.data, &err);
    if (!key)
        fail_msg("sandbox key: %s", err.message);
    http_client_response_release(&resp);
    return key;
}

static int setup(void **state)
{
    struct http_server_options options = {
        .listen = "127.0.0.1:0",
        .threads = 4,
        .quiet = 1,
    };
    struct error err;

    (void)state;
    assert_int_equal(crypto_init(), 0);
    assert_int_equal(http_client_global_init(), 0);
    sandbox_proc_start(&fx.sandbox, NULL);
    pthread_mutex_init(&fx.receiver.lock, NULL);
    fx.receiver.server = http_server_new(&options, &err);
    assert_non_null(fx.receiver.server);
    assert_int_equal(http_server_route(fx.receiver.server, "POST",
                                       "/webhooks/wix", receive, &fx.receiver),
                     0);
    assert_int_equal(http_server_start(fx.receiver.server, &err), 0);
    snprintf(fx.receiver.url, sizeof(fx.receiver.url),
             "http://127.0.0.1:%d/webhooks/wix",
             http_server_port(fx.receiver.server));
    fx.key = load_sandbox_key();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    http_server_free(fx.receiver.server);
    clear_received();
    auth_webhook_key_free(fx.key);
    sandbox_proc_stop(&fx.sandbox);
    return 0;
}

/* POST /__sandbox/webhooks with the receiver's URL and extra fields. */
static json_t *send_event(const char *event, const char *extra,
                          long expected_status)
{
    char body[2048];

    snprintf(body, sizeof(body),
             "{\"url\": \"%s\", \"event\": \"%s\", \"instance_id\": "
             "\"inst-1\"%s%s}",
             fx.receiver.url, event, extra ? ", " : "", extra ? extra : "");
    return sandbox_proc_call(&fx.sandbox, "POST", "/__sandbox/webhooks", body,
                             expected_status);
}

static int verify(const char *jwt, struct auth_webhook *event,
                  struct error *err)
{
    struct auth_webhook_options options = {.app_id = SANDBOX_PROC_APP_ID};

    error_clear(err);
    return auth_webhook_verify(fx.key, &options, jwt, strlen(jwt), event, err);
}

static void installed_event_verifies(void **state)
{
    json_t *result;
    struct auth_webhook event;
    struct error err;

    (void)state;
    clear_received();
    result = send_event("AppInstalled", NULL, 200);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(result, "deliveries"), 0),
            "status")),
        200);
    assert_int_equal(received(), 1);
    assert_string_equal(fx.receiver.bodies[0],
                        json_string_value(json_object_get(result, "jwt")));

    assert_int_equal(verify(fx.receiver.bodies[0], &event, &err), 0);
    assert_string_equal(event.event_type, "AppInstalled");
    assert_string_equal(event.instance_id, "inst-1");
    assert_string_equal(
        json_string_value(json_object_get(event.payload, "appId")),
        SANDBOX_PROC_APP_ID);
    assert_true(event.expires_ms > event.issued_ms);
    auth_webhook_clear(&event);
    json_decref(result);
}

static void plan_event_has_fields(void **state)
{
    json_t *result;
    struct auth_webhook event;
    struct error err;

    (void)state;
    clear_received();
    result = send_event("PaidPlanPurchased",
                        "\"data\": {\"vendorProductId\": \"pro\"}", 200);
    assert_int_equal(verify(fx.receiver.bodies[0], &event, &err), 0);
    assert_string_equal(
        json_string_value(json_object_get(event.payload, "vendorProductId")),
        "pro");
    assert_string_equal(
        json_string_value(json_object_get(event.payload, "cycle")), "MONTHLY");
    assert_true(clock_parse_iso(json_string_value(
                    json_object_get(event.payload, "operationTimeStamp"))) > 0);
    auth_webhook_clear(&event);
    json_decref(result);
}

static void duplicate_sends_same_jwt(void **state)
{
    json_t *result;

    (void)state;
    clear_received();
    result = send_event("AppRemoved", "\"duplicate\": true", 200);
    assert_int_equal(json_array_size(json_object_get(result, "deliveries")), 2);
    assert_int_equal(received(), 2);
    assert_string_equal(fx.receiver.bodies[0], fx.receiver.bodies[1]);
    json_decref(result);
}

static void delayed_delivery_arrives_later(void **state)
{
    int64_t deadline;
    json_t *result;
    json_t *log;

    (void)state;
    clear_received();
    result = send_event("AppInstalled", "\"delay_ms\": 300", 202);
    assert_true(json_is_true(json_object_get(result, "scheduled")));
    assert_int_equal(received(), 0);
    deadline = clock_monotonic_ms() + 10000;
    while (received() == 0 && clock_monotonic_ms() < deadline)
        clock_sleep_ms(20);
    assert_int_equal(received(), 1);
    log =
        sandbox_proc_call(&fx.sandbox, "GET", "/__sandbox/webhooks", NULL, 200);
    assert_true(json_array_size(json_object_get(log, "deliveries")) >= 1);
    json_decref(log);
    json_decref(result);
}

static void forgeries_fail_verification(void **state)
{
    static const struct {
        const char *extra;
        const char *message_part;
    } cases[] = {
        {"\"tamper\": true", "signature is invalid"},
        {"\"key\": \"other\"", "signature is invalid"},
        {"\"alg\": \"none\"", "\"none\" is rejected"},
        {"\"alg\": \"HS256\"", "\"HS256\" is rejected"},
        {"\"iat\": 1000000000, \"exp_in_s\": 60", "expired"},
        {"\"data\": {\"appId\": \"another-app\"}", "another-app"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *result = send_event("AppInstalled", cases[i].extra, 200);
        const char *jwt = json_string_value(json_object_get(result, "jwt"));
        struct auth_webhook event;
        struct error err;

        assert_int_equal(verify(jwt, &event, &err), -1);
        if (!strstr(err.message, cases[i].message_part))
            fail_msg("%s: expected \"%s\" in \"%s\"", cases[i].extra,
                     cases[i].message_part, err.message);
        auth_webhook_clear(&event);
        json_decref(result);
    }
}

static void given_key_signs(void **state)
{
    EVP_PKEY *key = jwt_sign_keygen(2048);
    OSSL_ENCODER_CTX *encoder = OSSL_ENCODER_CTX_new_for_pkey(
        key, EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", NULL);
    unsigned char *pem = NULL;
    size_t length = 0;
    char *public_pem = jwt_sign_public_pem(key, 0);
    struct auth_webhook_key *given;
    struct auth_webhook_options options = {0};
    struct auth_webhook event;
    json_t *body;
    json_t *result;
    char *text;
    struct error err;

    (void)state;
    assert_int_equal(OSSL_ENCODER_to_data(encoder, &pem, &length), 1);
    body = json_pack("{s:s%}", "private_key", (const char *)pem, length);
    text = json_dumps(body, 0);
    json_decref(sandbox_proc_call(&fx.sandbox, "POST",
                                  "/__sandbox/webhooks/key", text, 200));
    json_decref(sandbox_proc_call(&fx.sandbox, "POST",
                                  "/__sandbox/webhooks/key",
                                  "{\"private_key\": \"nope\"}", 400));

    result = send_event("AppInstalled", NULL, 200);
    given = auth_webhook_key_load(public_pem, &err);
    assert_non_null(given);
    error_clear(&err);
    assert_int_equal(
        auth_webhook_verify(
            given, &options, json_string_value(json_object_get(result, "jwt")),
            json_string_length(json_object_get(result, "jwt")), &event, &err),
        0);
    auth_webhook_clear(&event);

    /* The old public key no longer verifies; reload it for later tests. */
    auth_webhook_key_free(fx.key);
    fx.key = load_sandbox_key();
    assert_int_equal(
        verify(json_string_value(json_object_get(result, "jwt")), &event, &err),
        0);
    auth_webhook_clear(&event);

    auth_webhook_key_free(given);
    json_decref(result);
    json_decref(body);
    free(text);
    free(public_pem);
    OPENSSL_free(pem);
    OSSL_ENCODER_CTX_free(encoder);
    EVP_PKEY_free(key);
}

static void other_hosts_rejected(void **state)
{
    json_t *result;

    (void)state;
    result = sandbox_proc_call(&fx.sandbox, "POST", "/__sandbox/webhooks",
                               "{\"url\": \"http://example.com/webhooks\", "
                               "\"event\": \"AppInstalled\", \"instance_id\": "
                               "\"inst-1\"}",
                               400);
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_object_get(result, "error"), "message")),
                           "127.0.0.1"));
    json_decref(result);
    json_decref(sandbox_proc_call(&fx.sandbox, "POST", "/__sandbox/webhooks",
                                  "{\"url\": \"http://127.0.0.1.evil.test/\", "
                                  "\"event\": \"AppInstalled\", "
                                  "\"instance_id\": \"inst-1\"}",
                                  400));
    json_decref(sandbox_proc_call(&fx.sandbox, "POST", "/__sandbox/webhooks",
                                  "{\"url\": \"https://127.0.0.1:1/\", "
                                  "\"event\": \"AppInstalled\", "
                                  "\"instance_id\": \"inst-1\"}",
                                  400));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(installed_event_verifies),
        cmocka_unit_test(plan_event_has_fields),
        cmocka_unit_test(duplicate_sends_same_jwt),
        cmocka_unit_test(delayed_delivery_arrives_later),
        cmocka_unit_test(forgeries_fail_verification),
        cmocka_unit_test(given_key_signs),
        cmocka_unit_test(other_hosts_rejected),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
