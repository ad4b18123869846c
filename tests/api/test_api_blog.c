/*
 * The blog API end to end: a real `sitesmith serve` process on a fresh
 * SQLite file (or the PostgreSQL of SITESMITH_TEST_POSTGRES_URL), against
 * a real sitesmith-sandbox, called over HTTP as the dashboard calls it.
 */
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "http/client.h"
#include "sandbox_proc.h"
#include "serve_proc.h"
#include "serve_store.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define START_CREDITS 50
#define WAIT_MS 60000

struct fixture {
    struct sandbox_proc sandbox;
    struct serve_proc serve;
    char dir[64];
    char instance_id[128]; /* a site with credits */
    char *instance;
    char other_id[128]; /* a second site, no credits */
    char *other_instance;
};

static struct fixture fx;

static int setup(void **state)
{
    (void)state;
    serve_proc_make_dir(fx.dir, sizeof(fx.dir), "api");
    sandbox_proc_start(&fx.sandbox, NULL);
    fx.instance = serve_proc_create_site(&fx.sandbox, fx.instance_id,
                                         sizeof(fx.instance_id));
    fx.other_instance =
        serve_proc_create_site(&fx.sandbox, fx.other_id, sizeof(fx.other_id));
    serve_proc_export(
        &(struct serve_env){.dir = fx.dir,
                            .database = "test.db",
                            .postgres = 1,
                            .sandbox = &fx.sandbox,
                            .openai_key = "sk-test-api-key-0001",
                            .replicate_token = "r8_test_api_token_0001"});
    /* Only the first site gets credits. */
    serve_store_seed(fx.instance_id, START_CREDITS, "test-grant");
    serve_store_seed(fx.other_id, 0, NULL);
    serve_proc_start(&fx.serve, NULL, 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(serve_proc_stop(&fx.serve), 0);
    sandbox_proc_stop(&fx.sandbox);
    free(fx.instance);
    free(fx.other_instance);
    return serve_proc_remove_dir(fx.dir);
}

/* One HTTP call to serve; returns the parsed body (or NULL when not JSON). */
static json_t *api(const char *method, const char *path, const char *instance,
                   const char *content_type, const char *body, long *status,
                   struct http_client_response *keep)
{
    struct http_client_response resp;
    char instance_header[4096];
    const char *headers[2] = {NULL, NULL};
    json_t *json;

    if (instance) {
        snprintf(instance_header, sizeof(instance_header), "X-Wix-Instance: %s",
                 instance);
        headers[0] = instance_header;
    }
    *status = serve_proc_send(&fx.serve, method, path, headers, content_type,
                              body, &resp);
    json = json_loads(resp.body.data ? resp.body.data : "", 0, NULL);
    if (keep)
        *keep = resp;
    else
        http_client_response_release(&resp);
    return json;
}

static json_t *api_json(const char *method, const char *path,
                        const char *instance, const char *body, long *status)
{
    return serve_proc_api(&fx.serve, method, path, instance, body, status);
}

/* Polls a generation until its state is one of the given states. */
static json_t *wait_state(const char *id, const char *a, const char *b)
{
    int64_t deadline = clock_monotonic_ms() + WAIT_MS;
    char path[256];

    snprintf(path, sizeof(path), "/api/blog/generations/%s", id);
    while (clock_monotonic_ms() < deadline) {
        long status = 0;
        json_t *gen = api_json("GET", path, fx.instance, NULL, &status);
        const char *state = json_string_value(json_object_get(gen, "state"));

        assert_int_equal(status, 200);
        if (state && (strcmp(state, a) == 0 || (b && strcmp(state, b) == 0)))
            return gen;
        json_decref(gen);
        clock_sleep_ms(100);
    }
    fail_msg("generation %s never reached %s", id, a);
    return NULL;
}

static int64_t credits_of(const char *instance)
{
    long status = 0;
    json_t *me = api_json("GET", "/api/me", instance, NULL, &status);
    int64_t credits;

    assert_int_equal(status, 200);
    credits = json_integer_value(json_object_get(me, "credits"));
    json_decref(me);
    return credits;
}

static void probes_answer(void **state)
{
    struct http_client_response resp;
    long status = 0;
    json_t *body;

    (void)state;
    json_decref(api_json("GET", "/healthz", NULL, NULL, &status));
    assert_int_equal(status, 200);
    json_decref(api_json("GET", "/readyz", NULL, NULL, &status));
    assert_int_equal(status, 200);
    body = api("GET", "/metrics", NULL, NULL, NULL, &status, &resp);
    assert_null(body);
    assert_int_equal(status, 200);
    assert_non_null(strstr(resp.body.data, "# TYPE sitesmith_queue_jobs"));
    http_client_response_release(&resp);
}

static void missing_or_forged_instance_rejected(void **state)
{
    char *forged = strdup(fx.instance);
    long status = 0;
    json_t *body;

    (void)state;
    body = api_json("GET", "/api/me", NULL, NULL, &status);
    assert_int_equal(status, 401);
    assert_non_null(strstr(json_string_value(json_at(body, "error.message")),
                           "X-Wix-Instance"));
    json_decref(body);

    /* Change one character of the signature. */
    forged[3] = forged[3] == 'A' ? 'B' : 'A';
    body = api_json("GET", "/api/me", forged, NULL, &status);
    assert_int_equal(status, 401);
    assert_string_equal(json_string_value(json_at(body, "error.code")),
                        "unauthorized");
    json_decref(body);
    body = api_json("GET", "/api/me", "not-an-instance", NULL, &status);
    assert_int_equal(status, 401);
    json_decref(body);
    free(forged);
}

/* The dashboard instance of the first site as Wix signed it at sign_date,
 * valid until expiration_date (both ISO 8601 UTC). */
static char *signed_instance(const char *sign_date, const char *expiration_date)
{
    char payload[1024];
    size_t length;
    size_t data_size;
    char *data;
    char *result;
    unsigned char mac[32];
    char signature[64];

    length = (size_t)snprintf(
        payload, sizeof(payload),
        "{\"instanceId\":\"%s\",\"appDefId\":\"" SANDBOX_PROC_APP_ID
        "\",\"signDate\":\"%s\",\"expirationDate\":\"%s\","
        "\"uid\":\"owner-1\",\"permissions\":\"OWNER\"}",
        fx.instance_id, sign_date, expiration_date);
    data_size = crypto_base64url_size(length);
    data = malloc(data_size);
    result = malloc(64 + data_size);
    assert_non_null(data);
    assert_non_null(result);
    crypto_base64url_encode((const unsigned char *)payload, length, data,
                            data_size);
    crypto_hmac_sha256(SANDBOX_PROC_APP_SECRET, strlen(SANDBOX_PROC_APP_SECRET),
                       data, strlen(data), mac);
    crypto_base64url_encode(mac, sizeof(mac), signature, sizeof(signature));
    snprintf(result, 64 + data_size, "%s.%s", signature, data);
    free(data);
    return result;
}

static void expired_instance_says_reload_once(void **state)
{
    char sign_date[32];
    char expiration_date[32];
    int64_t now = clock_now_ms();
    char *instance;
    const char *message;
    const char *first;
    long status = 0;
    json_t *body;

    (void)state;
    clock_format_iso(now - 5 * 3600 * 1000LL, sign_date);
    clock_format_iso(now - 3600 * 1000LL, expiration_date);
    instance = signed_instance(sign_date, expiration_date);
    body = api_json("GET", "/api/me", instance, NULL, &status);
    assert_int_equal(status, 401);
    message = json_string_value(json_at(body, "error.message"));
    assert_non_null(message);
    first = strstr(message, "reload");
    if (!first || !strstr(message, "expired") || strstr(first + 1, "reload"))
        fail_msg("expected one \"reload\" in \"%s\"", message);
    json_decref(body);
    free(instance);
}

static void me_shows_credits_and_headers(void **state)
{
    struct http_client_response resp;
    long status = 0;
    json_t *me;

    (void)state;
    me = api("GET", "/api/me", fx.instance, NULL, NULL, &status, &resp);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(me, "instance_id")),
                        fx.instance_id);
    assert_int_equal(json_integer_value(json_object_get(me, "credits")),
                     START_CREDITS);
    assert_true(json_integer_value(json_at(me, "costs.blog_post")) > 0);
    assert_string_equal(http_client_header(&resp, "cache-control"), "no-store");
    assert_string_equal(http_client_header(&resp, "x-content-type-options"),
                        "nosniff");
    assert_non_null(http_client_header(&resp, "x-request-id"));
    http_client_response_release(&resp);
    json_decref(me);
}

static void bad_input_names_field(void **state)
{
    long status = 0;
    json_t *body;

    (void)state;
    body = api("POST", "/api/blog/generations", fx.instance, "text/plain",
               "topic=x", &status, NULL);
    assert_int_equal(status, 415);
    json_decref(body);
    body = api_json("POST", "/api/blog/generations", fx.instance,
                    "{\"topic\":", &status);
    assert_int_equal(status, 400);
    json_decref(body);
    body = api_json("POST", "/api/blog/generations", fx.instance,
                    "{\"keywords\": \"not a list\"}", &status);
    assert_int_equal(status, 400);
    assert_string_equal(json_string_value(json_at(body, "error.field")),
                        "keywords");
    json_decref(body);
    body = api_json("GET", "/api/blog/generations?limit=0", fx.instance, NULL,
                    &status);
    assert_int_equal(status, 400);
    json_decref(body);
    /* Nothing was reserved by the rejected requests. */
    assert_int_equal(credits_of(fx.instance), START_CREDITS);
}

/* Checks that POST path with body returns 400 naming field, with words in
 * its message. */
static void expect_select_rejected(const char *path, const char *body,
                                   const char *field, const char *words)
{
    long status = 0;
    json_t *answer = api_json("POST", path, fx.instance, body, &status);
    const char *message = json_string_value(json_at(answer, "error.message"));

    assert_int_equal(status, 400);
    assert_string_equal(json_string_value(json_at(answer, "error.field")),
                        field);
    if (!message || !strstr(message, words))
        fail_msg("select %s answered \"%s\", without \"%s\"", body,
                 message ? message : "", words);
    json_decref(answer);
}

static void generation_ends_with_draft(void **state)
{
    long status = 0;
    json_t *gen;
    json_t *site;
    json_t *drafts;
    char id[64];
    char path[256];
    const char *draft_id;
    int64_t charged;
    size_t i;
    json_t *draft;
    int found = 0;

    (void)state;
    gen = api_json("POST", "/api/blog/generations", fx.instance,
                   "{\"topic\": \"caring for linen shirts\", \"keywords\": "
                   "[\"linen\", \"laundry\"], \"tone\": \"friendly\"}",
                   &status);
    assert_int_equal(status, 202);
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(gen, "id")));
    json_decref(gen);

    gen = wait_state(id, "awaiting_selection", "failed");
    assert_string_equal(json_string_value(json_object_get(gen, "state")),
                        "awaiting_selection");
    assert_true(json_array_size(json_object_get(gen, "ideas")) >= 3);
    json_decref(gen);

    snprintf(path, sizeof(path), "/api/blog/generations/%s/select", id);
    expect_select_rejected(path, "{\"index\": 99}", "index",
                           "99 is out of range: choose an idea from 0 to ");
    expect_select_rejected(path, "{\"index\": -1}", "index",
                           "-1 is out of range: choose an idea from 0 to ");
    expect_select_rejected(path, "{\"index\": 0, \"extra\": 1}", "request",
                           "unknown field \"extra\"");
    json_decref(api_json("POST", path, fx.instance, "{\"index\": 1}", &status));
    assert_int_equal(status, 202);

    gen = wait_state(id, "done", "failed");
    if (strcmp(json_string_value(json_object_get(gen, "state")), "done") != 0) {
        char *text = json_dumps(json_object_get(gen, "error"), JSON_COMPACT);

        fail_msg("generation failed: %s", text);
    }
    draft_id = json_string_value(json_object_get(gen, "draft_post_id"));
    assert_non_null(draft_id);
    charged = json_integer_value(json_object_get(gen, "credits_charged"));
    assert_true(charged > 0);
    assert_int_equal(credits_of(fx.instance), START_CREDITS - charged);

    /* The sandbox's Wix Blog contains exactly this one draft. */
    site = sandbox_proc_site(&fx.sandbox, fx.instance_id);
    drafts = json_object_get(site, "drafts");
    assert_non_null(drafts);
    json_array_foreach(drafts, i, draft)
    {
        if (strcmp(json_string_value(json_object_get(draft, "id")), draft_id) ==
            0)
            found++;
    }
    assert_int_equal(found, 1);
    json_decref(site);

    /* /metrics counts the work that made it. */
    {
        struct http_client_response resp;
        static const char *const series[] = {
            "sitesmith_external_requests_total{service=\"openai\","
            "status=\"200\"}",
            "sitesmith_external_requests_total{service=\"replicate\"",
            "sitesmith_external_request_duration_ms_bucket{service=\"wix\"",
            "sitesmith_wix_token_requests_total",
            "sitesmith_jobs_total",
            "sitesmith_credits_charged_total",
        };

        assert_null(api("GET", "/metrics", NULL, NULL, NULL, &status, &resp));
        for (i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
            if (!strstr(resp.body.data, series[i]))
                fail_msg("/metrics lacks %s", series[i]);
        }
        http_client_response_release(&resp);
    }

    /* The list shows it, newest first. */
    json_t *list =
        api_json("GET", "/api/blog/generations", fx.instance, NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_at(list, "generations[0].id")),
                        id);
    json_decref(list);
    json_decref(gen);
}

static void other_site_sees_not_found(void **state)
{
    long status = 0;
    json_t *gen;
    json_t *body;
    char path[256];

    (void)state;
    gen = api_json("POST", "/api/blog/generations", fx.instance, "{}", &status);
    assert_int_equal(status, 202);
    snprintf(path, sizeof(path), "/api/blog/generations/%s",
             json_string_value(json_object_get(gen, "id")));
    body = api_json("GET", path, fx.other_instance, NULL, &status);
    assert_int_equal(status, 404);
    json_decref(body);
    strcat(path, "/cancel");
    body = api_json("POST", path, fx.other_instance, NULL, &status);
    assert_int_equal(status, 404);
    json_decref(body);

    /* The owner can cancel it, and gets the reservation back. */
    body = api_json("POST", path, fx.instance, NULL, &status);
    if (status != 200) {
        char *text = json_dumps(body, JSON_COMPACT);

        fail_msg("cancel answered %ld: %s", status, text);
    }
    assert_string_equal(json_string_value(json_object_get(body, "state")),
                        "cancelled");
    assert_int_equal(
        json_integer_value(json_object_get(body, "credits_charged")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(body, "credits_reserved")), 0);
    assert_true(json_integer_value(json_object_get(body, "credits_released")) >
                0);
    json_decref(body);
    body = api_json("POST", path, fx.instance, NULL, &status);
    assert_int_equal(status, 409);
    json_decref(body);
    json_decref(gen);
}

static void too_few_credits_is_402(void **state)
{
    long status = 0;
    json_t *body;

    (void)state;
    body = api_json("POST", "/api/blog/generations", fx.other_instance, "{}",
                    &status);
    assert_int_equal(status, 402);
    assert_string_equal(json_string_value(json_at(body, "error.code")),
                        "insufficient_credits");
    assert_int_equal(json_integer_value(json_at(body, "error.balance")), 0);
    assert_true(json_integer_value(json_at(body, "error.cost")) > 0);
    assert_non_null(strstr(json_string_value(json_at(body, "error.message")),
                           "upgrade your plan"));
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(probes_answer),
        cmocka_unit_test(missing_or_forged_instance_rejected),
        cmocka_unit_test(expired_instance_says_reload_once),
        cmocka_unit_test(me_shows_credits_and_headers),
        cmocka_unit_test(bad_input_names_field),
        cmocka_unit_test(generation_ends_with_draft),
        cmocka_unit_test(other_site_sees_not_found),
        cmocka_unit_test(too_few_credits_is_402),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
