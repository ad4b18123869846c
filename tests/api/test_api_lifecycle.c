/*
 * The app's lifecycle end to end: a real `sitesmith serve` and a real
 * sitesmith-sandbox that sends Wix's webhooks, signed with its own key, to
 * serve's POST /webhooks/wix. Covers forged webhooks, install, use,
 * remove and reinstall, duplicates and out-of-order delivery, plan
 * changes, the upgrade URL and the legacy install flow. Runs on SQLite,
 * or on a fresh PostgreSQL schema when SITESMITH_TEST_POSTGRES_URL is set.
 */
#include "auth/token.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "sandbox_proc.h"
#include "serve_proc.h"
#include "store/store.h"
#include "store_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS 60000
#define FREE_CREDITS 50

struct fixture {
    struct sandbox_proc sandbox;
    struct serve_proc serve;
    struct store_fixture db;
    struct config *cfg;
    struct store *st; /* the test's own view of serve's database */
    char dir[64];
    char webhook_url[256];
};

static struct fixture fx;

static void set_environment(void)
{
    struct http_client_response resp;
    char value[512];
    char key[65];

    snprintf(value, sizeof(value), "%s/data", fx.dir);
    setenv("SITESMITH_DATA_DIR", value, 1);
    setenv("SITESMITH_DATABASE_URL", fx.db.url, 1);
    setenv("SITESMITH_WIX_API_URL", fx.sandbox.wix_url, 1);
    setenv("OPENAI_BASE_URL", fx.sandbox.openai_url, 1);
    setenv("SITESMITH_REPLICATE_API_URL", fx.sandbox.replicate_url, 1);
    setenv("OPENAI_API_KEY", "sk-test-lifecycle-0001", 1);
    setenv("REPLICATE_API_TOKEN", "r8_test_lifecycle_0001", 1);
    setenv("SITESMITH_WIX_APP_ID", SANDBOX_PROC_APP_ID, 1);
    setenv("SITESMITH_WIX_APP_SECRET", SANDBOX_PROC_APP_SECRET, 1);
    setenv("SITESMITH_PLANS", "free:50,basic:500,pro:2000", 1);
    snprintf(value, sizeof(value), "%s/installer/install", fx.sandbox.url);
    setenv("SITESMITH_WIX_INSTALLER_URL", value, 1);
    snprintf(value, sizeof(value), "%s/installer/close-window", fx.sandbox.url);
    setenv("SITESMITH_WIX_INSTALL_DONE_URL", value, 1);
    crypto_random_hex(key, 32);
    setenv("SITESMITH_SECRET_KEY", key, 1);
    setenv("SITESMITH_LOG_LEVEL", "warn", 1);

    assert_int_equal(sandbox_proc_send(&fx.sandbox, "GET",
                                       "/__sandbox/webhooks/public-key", NULL,
                                       NULL, &resp),
                     200);
    setenv("SITESMITH_WIX_PUBLIC_KEY", resp.body.data, 1);
    http_client_response_release(&resp);
}

static int setup(void **state)
{
    struct error err;

    (void)state;
    assert_int_equal(crypto_init(), 0);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/sitesmith-lifecycle-XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    fx.db.backend =
        store_fixture_have_postgres() ? STORE_POSTGRES : STORE_SQLITE;
    assert_int_equal(store_fixture_prepare(&fx.db), 0);
    sandbox_proc_start(&fx.sandbox, NULL);
    set_environment();
    fx.cfg = config_load(NULL, &err);
    assert_non_null(fx.cfg);

    serve_proc_start(&fx.serve, NULL, 2);
    snprintf(fx.webhook_url, sizeof(fx.webhook_url), "%s/webhooks/wix",
             fx.serve.url);
    fx.st = store_open_config(fx.cfg, &err);
    assert_non_null(fx.st);
    return 0;
}

static int teardown(void **state)
{
    char command[128];

    (void)state;
    assert_int_equal(serve_proc_stop(&fx.serve), 0);
    sandbox_proc_stop(&fx.sandbox);
    store_close(fx.st);
    fx.db.st = NULL;
    store_fixture_close(&fx.db);
    config_free(fx.cfg);
    snprintf(command, sizeof(command), "rm -rf %s", fx.dir);
    return system(command) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* A sandbox site; returns its instance id and writes its instance
 * string (caller frees). */
static void new_site(const char *body, char id[128], char **instance)
{
    json_t *site = sandbox_proc_create_site(&fx.sandbox, body);

    snprintf(id, 128, "%s",
             json_string_value(json_object_get(site, "instance_id")));
    *instance = strdup(json_string_value(json_object_get(site, "instance")));
    json_decref(site);
}

/*
 * Has the sandbox send an event to serve; extra is more JSON fields.
 * Returns the sandbox's response ({"jwt", "deliveries"}).
 */
static json_t *send_event(const char *event, const char *instance_id,
                          const char *extra, long expected_status)
{
    char body[4096];

    snprintf(
        body, sizeof(body),
        "{\"url\": \"%s\", \"event\": \"%s\", \"instance_id\": \"%s\"%s%s}",
        fx.webhook_url, event, instance_id, extra ? ", " : "",
        extra ? extra : "");
    return sandbox_proc_call(&fx.sandbox, "POST", "/__sandbox/webhooks", body,
                             expected_status);
}

/* The status serve gave to delivery number index. */
static long delivery_status(const json_t *sent, size_t index)
{
    return (long)json_integer_value(json_object_get(
        json_array_get(json_object_get(sent, "deliveries"), index), "status"));
}

/* Sends an event that must be accepted, and checks the 1250 ms rule. */
static char *deliver(const char *event, const char *instance_id,
                     const char *extra)
{
    json_t *sent = send_event(event, instance_id, extra, 200);
    const json_t *first =
        json_array_get(json_object_get(sent, "deliveries"), 0);
    char *jwt;

    assert_int_equal(delivery_status(sent, 0), 200);
    assert_true(json_integer_value(json_object_get(first, "elapsed_ms")) <
                1250);
    jwt = strdup(json_string_value(json_object_get(sent, "jwt")));
    json_decref(sent);
    return jwt;
}

static int64_t query_int(const char *sql, const char *text)
{
    struct store_tx *tx;
    struct error err;
    int64_t value = -1;
    int found;

    error_clear(&err);
    tx = store_begin_read(fx.st, &err);
    assert_non_null(tx);
    found =
        store_query_int(tx, sql, STORE_ARGS(STORE_TEXT(text)), &value, &err);
    assert_true(found >= 0);
    store_rollback(tx);
    return found ? value : -1;
}

/* Waits until no lifecycle job of the site is queued or running. */
static void wait_events_applied(const char *instance_id)
{
    int64_t deadline = clock_monotonic_ms() + WAIT_MS;

    while (clock_monotonic_ms() < deadline) {
        if (query_int("SELECT COUNT(*) FROM webhook_events WHERE "
                      "instance_id = ? AND state = 'received'",
                      instance_id) == 0 &&
            query_int("SELECT COUNT(*) FROM jobs WHERE instance_id = ? AND "
                      "kind = 'lifecycle.event' AND state IN ('queued', "
                      "'running')",
                      instance_id) == 0)
            return;
        clock_sleep_ms(50);
    }
    fail_msg("the events of site %s were never applied", instance_id);
}

static json_t *me(const char *instance, long expected_status)
{
    long status = 0;
    json_t *body =
        serve_proc_api(&fx.serve, "GET", "/api/me", instance, NULL, &status);

    assert_int_equal(status, expected_status);
    return body;
}

static int64_t credits_of(const char *instance)
{
    json_t *body = me(instance, 200);
    int64_t credits = json_integer_value(json_object_get(body, "credits"));

    json_decref(body);
    return credits;
}

/* Polls a blog generation until its state is one of two. */
static void wait_generation(const char *instance, const char *id, const char *a,
                            const char *b)
{
    int64_t deadline = clock_monotonic_ms() + WAIT_MS;
    char path[256];

    snprintf(path, sizeof(path), "/api/blog/generations/%s", id);
    while (clock_monotonic_ms() < deadline) {
        long status = 0;
        json_t *gen =
            serve_proc_api(&fx.serve, "GET", path, instance, NULL, &status);
        const char *state = json_string_value(json_object_get(gen, "state"));
        int reached =
            state && (strcmp(state, a) == 0 || (b && strcmp(state, b) == 0));

        assert_int_equal(status, 200);
        json_decref(gen);
        if (reached)
            return;
        clock_sleep_ms(100);
    }
    fail_msg("generation %s never reached %s", id, a);
}

static void start_generation(const char *instance, char id[64])
{
    long status = 0;
    json_t *gen =
        serve_proc_api(&fx.serve, "POST", "/api/blog/generations", instance,
                       "{\"topic\": \"linen care\"}", &status);

    assert_int_equal(status, 202);
    snprintf(id, 64, "%s", json_string_value(json_object_get(gen, "id")));
    json_decref(gen);
}

static void patch_site(const char *instance_id, const char *body)
{
    char path[256];

    snprintf(path, sizeof(path), "/__sandbox/sites/%s", instance_id);
    json_decref(sandbox_proc_call(&fx.sandbox, "PATCH", path, body, 200));
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void forged_webhooks_rejected(void **state)
{
    static const char *const forgeries[] = {
        "\"tamper\": true",
        "\"key\": \"other\"",
        "\"alg\": \"none\"",
        "\"alg\": \"HS256\"",
        "\"iat\": 1000000000, \"exp_in_s\": 3600",
        "\"data\": {\"appId\": \"another-app\"}",
    };
    struct http_client_response resp;
    char id[128];
    char *instance;

    (void)state;
    new_site("{}", id, &instance);
    for (size_t i = 0; i < sizeof(forgeries) / sizeof(forgeries[0]); i++) {
        json_t *sent = send_event("AppInstalled", id, forgeries[i], 200);

        if (delivery_status(sent, 0) != 401)
            fail_msg("%s: expected 401, got %ld", forgeries[i],
                     delivery_status(sent, 0));
        json_decref(sent);
    }
    assert_int_equal(serve_proc_send(&fx.serve, "POST", "/webhooks/wix", NULL,
                                     "text/plain", "not a jwt", &resp),
                     401);
    assert_string_equal(http_client_header(&resp, "cache-control"), "no-store");
    http_client_response_release(&resp);

    /* Nothing was recorded or created for the site. */
    assert_int_equal(
        query_int("SELECT COUNT(*) FROM webhook_events WHERE instance_id = ?",
                  id),
        0);
    assert_int_equal(
        query_int("SELECT COUNT(*) FROM instances WHERE instance_id = ?", id),
        0);
    free(instance);
}

static void install_use_remove_reinstall(void **state)
{
    char id[128];
    char *instance;
    char done_id[64];
    char pending_id[64];
    char path[256];
    char stale[128];
    char *install_jwt;
    json_t *sent;
    json_t *body;
    long status = 0;
    struct http_client_response resp;

    (void)state;
    new_site("{\"fixture\": \"store\", \"catalog_version\": 1}", id, &instance);

    /* Install: the free plan's credits, once. */
    install_jwt = deliver("AppInstalled", id, NULL);
    wait_events_applied(id);
    assert_int_equal(credits_of(instance), FREE_CREDITS);

    /* Use: one post written to the end, one left waiting for a choice. */
    start_generation(instance, done_id);
    wait_generation(instance, done_id, "awaiting_selection", "failed");
    snprintf(path, sizeof(path), "/api/blog/generations/%s/select", done_id);
    json_decref(serve_proc_api(&fx.serve, "POST", path, instance,
                               "{\"index\": 0}", &status));
    assert_int_equal(status, 202);
    wait_generation(instance, done_id, "done", "failed");
    start_generation(instance, pending_id);
    wait_generation(instance, pending_id, "awaiting_selection", "failed");
    assert_int_equal(credits_of(instance), FREE_CREDITS - 20);

    /* Remove, delivered twice. */
    patch_site(id, "{\"installed\": false}");
    sent = send_event("AppRemoved", id, "\"duplicate\": true", 200);
    assert_int_equal(delivery_status(sent, 0), 200);
    assert_int_equal(delivery_status(sent, 1), 200);
    assert_true(json_is_true(
        json_at(json_array_get(json_object_get(sent, "deliveries"), 1),
                "body.duplicate")));
    json_decref(sent);
    wait_events_applied(id);
    body = me(instance, 403);
    assert_non_null(
        strstr(json_string_value(json_at(body, "error.message")), "removed"));
    json_decref(body);
    assert_int_equal(query_int("SELECT COUNT(*) FROM generations WHERE "
                               "instance_id = ? AND state = 'cancelled'",
                               id),
                     1);
    assert_int_equal(query_int("SELECT available FROM credit_balances WHERE "
                               "instance_id = ?",
                               id),
                     FREE_CREDITS - 10);
    assert_int_equal(query_int("SELECT COUNT(*) FROM instance_secrets WHERE "
                               "instance_id = ?",
                               id),
                     0);
    assert_int_equal(query_int("SELECT COUNT(*) FROM access_tokens WHERE "
                               "instance_id = ?",
                               id),
                     0);

    /* The first install again, as Wix's retry sends it: a duplicate. */
    assert_int_equal(serve_proc_send(&fx.serve, "POST", "/webhooks/wix", NULL,
                                     "text/plain", install_jwt, &resp),
                     200);
    assert_non_null(strstr(resp.body.data, "\"duplicate\":true"));
    http_client_response_release(&resp);
    /* An install older than the removal, delivered late: stale. */
    snprintf(stale, sizeof(stale), "\"iat\": %lld",
             (long long)(clock_now_ms() / 1000 - 60));
    free(deliver("AppInstalled", id, stale));
    wait_events_applied(id);
    json_decref(me(instance, 403));
    assert_int_equal(query_int("SELECT COUNT(*) FROM webhook_events WHERE "
                               "instance_id = ? AND state = 'stale'",
                               id),
                     1);

    /* Reinstall: history kept, no second grant in the same month. */
    patch_site(id, "{\"installed\": true}");
    free(deliver("AppInstalled", id, NULL));
    wait_events_applied(id);
    assert_int_equal(credits_of(instance), FREE_CREDITS - 10);
    body = serve_proc_api(&fx.serve, "GET", "/api/blog/generations", instance,
                          NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(body, "generations")), 2);
    json_decref(body);
    free(install_jwt);
    free(instance);
}

static void plan_events_out_of_order(void **state)
{
    char id[128];
    char *instance;
    json_t *sent;
    json_t *billing;
    long status = 0;
    int64_t deadline;

    (void)state;
    new_site("{\"plan\": \"pro\"}", id, &instance);
    free(deliver("AppInstalled", id, NULL));
    /* The purchase of basic comes after the change to pro it preceded. */
    sent = send_event("PaidPlanPurchased", id,
                      "\"delay_ms\": 1000, \"data\": {\"vendorProductId\": "
                      "\"basic\", \"operationTimeStamp\": "
                      "\"2026-01-01T10:00:00.000Z\"}",
                      202);
    json_decref(sent);
    free(deliver("PaidPlanChanged", id,
                 "\"data\": {\"vendorProductId\": \"pro\", "
                 "\"previousVendorProductId\": \"basic\", "
                 "\"operationTimeStamp\": \"2026-01-01T11:00:00.000Z\"}"));
    deadline = clock_monotonic_ms() + WAIT_MS;
    while (query_int("SELECT COUNT(*) FROM webhook_events WHERE instance_id "
                     "= ?",
                     id) < 3 &&
           clock_monotonic_ms() < deadline)
        clock_sleep_ms(50);
    wait_events_applied(id);

    billing = serve_proc_api(&fx.serve, "GET", "/api/billing", instance, NULL,
                             &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(billing, "plan")),
                        "pro");
    assert_int_equal(
        json_integer_value(json_object_get(billing, "plan_credits")), 2000);
    json_decref(billing);
    assert_int_equal(credits_of(instance), 2000);
    assert_int_equal(query_int("SELECT COUNT(*) FROM webhook_events WHERE "
                               "instance_id = ? AND state = 'stale'",
                               id),
                     1);
    free(instance);
}

static void upgrade_url_names_site(void **state)
{
    char id[128];
    char *instance;
    char expected[512];
    json_t *body;
    long status = 0;

    (void)state;
    new_site("{}", id, &instance);
    body = serve_proc_api(&fx.serve, "GET", "/api/billing/upgrade-url",
                          instance, NULL, &status);
    assert_int_equal(status, 200);
    snprintf(expected, sizeof(expected),
             "https://www.wix.com/apps/upgrade/%s?appInstanceId=%s",
             SANDBOX_PROC_APP_ID, id);
    assert_string_equal(json_string_value(json_object_get(body, "url")),
                        expected);
    json_decref(body);
    body = serve_proc_api(&fx.serve, "GET", "/api/billing/upgrade-url", NULL,
                          NULL, &status);
    assert_int_equal(status, 401);
    json_decref(body);
    free(instance);
}

/* ------------------------------------------------------------------ */
/* The legacy install flow                                             */
/* ------------------------------------------------------------------ */

/* A query parameter of a URL, decoded into out ("" when absent). */
static void url_param(const char *url, const char *name, char *out, size_t size)
{
    char key[64];
    const char *at;
    size_t j = 0;

    snprintf(key, sizeof(key), "%s=", name);
    at = strstr(url, key);
    out[0] = '\0';
    if (!at)
        return;
    for (at += strlen(key); *at && *at != '&' && j + 1 < size; at++) {
        if (*at == '%' && at[1] && at[2]) {
            char hex[3] = {at[1], at[2], 0};

            out[j++] = (char)strtol(hex, NULL, 16);
            at += 2;
        } else {
            out[j++] = *at;
        }
    }
    out[j] = '\0';
}

/* Starts an install; writes the state and the cookie header to send. */
static void start_install(char state_out[64], char cookie_out[128])
{
    struct http_client_response resp;
    const char *location;
    const char *set_cookie;
    char installer[256];
    char value[512];

    assert_int_equal(serve_proc_send(&fx.serve, "GET",
                                     "/oauth/install?token=wix-install-token",
                                     NULL, NULL, NULL, &resp),
                     302);
    location = http_client_header(&resp, "location");
    assert_non_null(location);
    snprintf(installer, sizeof(installer), "%s/installer/install?",
             fx.sandbox.url);
    assert_memory_equal(location, installer, strlen(installer));
    url_param(location, "token", value, sizeof(value));
    assert_string_equal(value, "wix-install-token");
    url_param(location, "appId", value, sizeof(value));
    assert_string_equal(value, SANDBOX_PROC_APP_ID);
    url_param(location, "redirectUrl", value, sizeof(value));
    assert_non_null(strstr(value, "/oauth/callback"));
    url_param(location, "state", state_out, 64);
    assert_int_equal(strlen(state_out), 32);

    set_cookie = http_client_header(&resp, "set-cookie");
    assert_non_null(set_cookie);
    assert_non_null(strstr(set_cookie, "HttpOnly"));
    snprintf(cookie_out, 128, "Cookie: %.*s", (int)strcspn(set_cookie, ";"),
             set_cookie);
    http_client_response_release(&resp);
}

static long callback(const char *code, const char *state_value,
                     const char *instance_id, const char *cookie,
                     struct http_client_response *resp)
{
    const char *headers[] = {cookie, NULL};
    char path[512];

    snprintf(path, sizeof(path),
             "/oauth/callback?code=%s&state=%s&instanceId=%s", code,
             state_value, instance_id);
    return serve_proc_send(&fx.serve, "GET", path, cookie ? headers : NULL,
                           NULL, NULL, resp);
}

static void auth_code(const char *instance_id, char code[128])
{
    char path[256];
    json_t *body;

    snprintf(path, sizeof(path), "/__sandbox/sites/%s/auth-code", instance_id);
    body = sandbox_proc_call(&fx.sandbox, "POST", path, NULL, 200);
    snprintf(code, 128, "%s", json_string_value(json_object_get(body, "code")));
    json_decref(body);
}

static void legacy_install_flow(void **state)
{
    struct http_client_response resp;
    struct store_instance site = {0};
    struct store_tx *tx;
    struct error err;
    char id[128];
    char other_id[128];
    char *instance;
    char *other_instance;
    char state_value[64];
    char cookie[128];
    char code[128];
    char done[256];
    char *refresh = NULL;
    long status = 0;
    json_t *body;

    (void)state;
    new_site("{\"fixture\": \"store\", \"catalog_version\": 1}", id, &instance);
    new_site("{}", other_id, &other_instance);
    assert_int_equal(serve_proc_send(&fx.serve, "GET", "/oauth/install", NULL,
                                     NULL, NULL, &resp),
                     400);
    http_client_response_release(&resp);

    start_install(state_value, cookie);
    auth_code(id, code);
    /* Without the browser's cookie the state is refused and kept. */
    assert_int_equal(callback(code, state_value, id, NULL, &resp), 403);
    http_client_response_release(&resp);
    assert_int_equal(callback(code, state_value, id, cookie, &resp), 302);
    snprintf(done, sizeof(done),
             "%s/installer/close-window?access_token=", fx.sandbox.url);
    assert_memory_equal(http_client_header(&resp, "location"), done,
                        strlen(done));
    assert_string_equal(http_client_header(&resp, "referrer-policy"),
                        "no-referrer");
    http_client_response_release(&resp);

    /* The state is single-use. */
    assert_int_equal(callback(code, state_value, id, cookie, &resp), 403);
    http_client_response_release(&resp);

    /* Stored: installed, marked legacy, refresh token sealed. */
    error_clear(&err);
    tx = store_begin_read(fx.st, &err);
    assert_non_null(tx);
    assert_int_equal(store_instance_get(tx, id, &site, &err), 1);
    assert_string_equal(site.state, "installed");
    assert_non_null(strstr(site.settings, "\"legacy_oauth\":true"));
    assert_int_equal(
        store_secret_get(tx, id, TOKEN_REFRESH_SECRET, &refresh, &err), 1);
    assert_true(strlen(refresh) > 8);
    assert_int_equal(query_int("SELECT COUNT(*) FROM instance_secrets WHERE "
                               "instance_id = ? AND sealed_value LIKE 'v1.%'",
                               id),
                     1);
    store_rollback(tx);
    store_instance_clear(&site);
    free(refresh);

    /* The site's Wix calls now go through the legacy token. */
    body = serve_proc_api(&fx.serve, "GET", "/api/products?limit=5", instance,
                          NULL, &status);
    assert_int_equal(status, 200);
    assert_true(json_array_size(json_object_get(body, "products")) > 0);
    json_decref(body);

    /* A code for one site with another site's id in the URL. */
    start_install(state_value, cookie);
    auth_code(id, code);
    assert_int_equal(callback(code, state_value, other_id, cookie, &resp), 400);
    http_client_response_release(&resp);
    assert_int_equal(query_int("SELECT COUNT(*) FROM instance_secrets WHERE "
                               "instance_id = ?",
                               other_id),
                     0);
    free(instance);
    free(other_instance);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forged_webhooks_rejected),
        cmocka_unit_test(install_use_remove_reinstall),
        cmocka_unit_test(plan_events_out_of_order),
        cmocka_unit_test(upgrade_url_names_site),
        cmocka_unit_test(legacy_install_flow),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
