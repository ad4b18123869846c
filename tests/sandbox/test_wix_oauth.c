/*
 * The sandbox's Wix OAuth and the token checks in front of every resource
 * endpoint, through HTTP against a running sitesmith-sandbox.
 */
#include "sandbox_proc.h"

#include "core/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct sandbox_proc sandbox;

struct site {
    char instance_id[64];
    char member_id[64];
    char instance[2048];
    char auth_code[80];
    char token[128];
};

static void new_site(struct site *site)
{
    json_t *created = sandbox_proc_create_site(&sandbox, "{}");

    snprintf(site->instance_id, sizeof(site->instance_id), "%s",
             json_string_value(json_object_get(created, "instance_id")));
    snprintf(site->member_id, sizeof(site->member_id), "%s",
             json_string_value(json_object_get(created, "owner_member_id")));
    snprintf(site->instance, sizeof(site->instance), "%s",
             json_string_value(json_object_get(created, "instance")));
    snprintf(site->auth_code, sizeof(site->auth_code), "%s",
             json_string_value(json_object_get(created, "auth_code")));
    json_decref(created);
    sandbox_proc_wix_token(&sandbox, site->instance_id, site->token,
                           sizeof(site->token));
}

static json_t *token_request(const char *client_id, const char *secret,
                             const char *instance_id, long expected_status)
{
    json_t *request = json_pack(
        "{ss ss ss ss}", "grant_type", "client_credentials", "client_id",
        client_id, "client_secret", secret, "instance_id", instance_id);
    char *body = json_dumps(request, JSON_COMPACT);
    json_t *answer = sandbox_proc_wix_call(
        &sandbox, NULL, "POST", "/wix/oauth2/token", body, expected_status);

    free(body);
    json_decref(request);
    return answer;
}

/* GET /wix/apps/v1/instance with the token; returns the status checked. */
static void expect_instance_status(const char *token, long status)
{
    json_t *answer = sandbox_proc_wix_call(
        &sandbox, token, "GET", "/wix/apps/v1/instance", NULL, status);

    if (status == 401 || status == 403)
        sandbox_proc_assert_wix_error(answer, "UNAUTHENTICATED", NULL);
    json_decref(answer);
}

static void test_token_issued(void **state)
{
    struct site site;
    json_t *answer;

    (void)state;
    new_site(&site);
    answer = token_request(SANDBOX_PROC_APP_ID, SANDBOX_PROC_APP_SECRET,
                           site.instance_id, 200);
    assert_string_equal(
        json_string_value(json_object_get(answer, "token_type")), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(answer, "expires_in")),
                     14400);
    assert_true(json_string_length(json_object_get(answer, "access_token")) >
                20);
    expect_instance_status(
        json_string_value(json_object_get(answer, "access_token")), 200);
    json_decref(answer);
}

static void test_token_bad_credentials(void **state)
{
    struct site site;
    json_t *answer;

    (void)state;
    new_site(&site);
    answer = token_request(SANDBOX_PROC_APP_ID, "wrong-secret",
                           site.instance_id, 401);
    sandbox_proc_assert_wix_error(answer, "invalid_client", NULL);
    json_decref(answer);

    answer = token_request("other-app", SANDBOX_PROC_APP_SECRET,
                           site.instance_id, 401);
    sandbox_proc_assert_wix_error(answer, "invalid_client", NULL);
    json_decref(answer);

    answer = token_request(SANDBOX_PROC_APP_ID, SANDBOX_PROC_APP_SECRET,
                           "no-such-instance", 400);
    sandbox_proc_assert_wix_error(answer, "invalid_grant", NULL);
    json_decref(answer);
}

static void test_token_bad_requests(void **state)
{
    json_t *answer;

    (void)state;
    answer = sandbox_proc_wix_call(
        &sandbox, NULL, "POST", "/wix/oauth2/token",
        "{\"grant_type\":\"password\",\"client_id\":\"sandbox-app-id\","
        "\"client_secret\":\"sandbox-app-secret\",\"instance_id\":\"x\"}",
        400);
    sandbox_proc_assert_wix_error(answer, "unsupported_grant_type", NULL);
    json_decref(answer);

    answer = sandbox_proc_wix_call(
        &sandbox, NULL, "POST", "/wix/oauth2/token",
        "{\"grant_type\":\"client_credentials\",\"client_id\":"
        "\"sandbox-app-id\",\"client_secret\":\"sandbox-app-secret\"}",
        400);
    sandbox_proc_assert_wix_error(answer, "invalid_request", NULL);
    json_decref(answer);

    answer = sandbox_proc_wix_call(&sandbox, NULL, "POST", "/wix/oauth2/token",
                                   "{not json", 400);
    sandbox_proc_assert_wix_error(answer, "INVALID_ARGUMENT", NULL);
    json_decref(answer);
}

static void test_token_ttl_setting(void **state)
{
    struct site site;
    json_t *answer;

    (void)state;
    new_site(&site);
    sandbox_proc_configure(&sandbox, "{\"wix\":{\"token_ttl_s\":3600}}");
    answer = token_request(SANDBOX_PROC_APP_ID, SANDBOX_PROC_APP_SECRET,
                           site.instance_id, 200);
    sandbox_proc_configure(&sandbox, "{\"wix\":{\"token_ttl_s\":14400}}");
    assert_int_equal(json_integer_value(json_object_get(answer, "expires_in")),
                     3600);
    sandbox_proc_advance(&sandbox, 3601);
    expect_instance_status(
        json_string_value(json_object_get(answer, "access_token")), 401);
    json_decref(answer);
}

static void test_token_expires_by_clock(void **state)
{
    struct site site;
    char fresh[128];

    (void)state;
    new_site(&site);
    sandbox_proc_advance(&sandbox, 14399);
    expect_instance_status(site.token, 200);
    sandbox_proc_advance(&sandbox, 2);
    expect_instance_status(site.token, 401);

    sandbox_proc_wix_token(&sandbox, site.instance_id, fresh, sizeof(fresh));
    expect_instance_status(fresh, 200);
}

static void test_auth_header_forms(void **state)
{
    struct site site;
    char bearer[160];
    json_t *answer;

    (void)state;
    new_site(&site);
    snprintf(bearer, sizeof(bearer), "Bearer %s", site.token);
    expect_instance_status(bearer, 200);
    expect_instance_status("not-a-token", 401);
    expect_instance_status("Bearer ", 401);

    answer = sandbox_proc_wix_call(&sandbox, NULL, "GET",
                                   "/wix/apps/v1/instance", NULL, 401);
    assert_string_equal(json_string_value(json_object_get(answer, "message")),
                        "Not authenticated: UNKNOWN");
    assert_string_equal(
        json_string_value(json_at(answer, "details.applicationError.code")),
        "UNAUTHENTICATED");
    json_decref(answer);
}

static void test_revoke_tokens(void **state)
{
    struct site site;
    char path[160];
    char fresh[128];
    json_t *answer;

    (void)state;
    new_site(&site);
    snprintf(path, sizeof(path), "/__sandbox/sites/%s/revoke-tokens",
             site.instance_id);
    answer = sandbox_proc_call(&sandbox, "POST", path, "{}", 200);
    assert_int_equal(json_integer_value(json_object_get(answer, "revoked")), 1);
    json_decref(answer);
    expect_instance_status(site.token, 401);

    sandbox_proc_wix_token(&sandbox, site.instance_id, fresh, sizeof(fresh));
    expect_instance_status(fresh, 200);
}

static void test_token_bound_to_site(void **state)
{
    struct site first;
    struct site second;
    char body[512];
    char path[256];
    json_t *created;
    json_t *answer;

    (void)state;
    new_site(&first);
    new_site(&second);
    snprintf(body, sizeof(body),
             "{\"draftPost\":{\"title\":\"Only on the first site\","
             "\"memberId\":\"%s\"}}",
             first.member_id);
    created = sandbox_proc_wix_call(&sandbox, first.token, "POST",
                                    "/wix/blog/v3/draft-posts", body, 200);
    snprintf(path, sizeof(path), "/wix/blog/v3/draft-posts/%s",
             json_string_value(json_at(created, "draftPost.id")));

    answer =
        sandbox_proc_wix_call(&sandbox, second.token, "GET", path, NULL, 404);
    sandbox_proc_assert_wix_error(answer, "NOT_FOUND", NULL);
    json_decref(answer);
    answer = sandbox_proc_wix_call(&sandbox, second.token, "GET",
                                   "/wix/blog/v3/draft-posts", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "draftPosts")), 0);
    json_decref(answer);
    answer =
        sandbox_proc_wix_call(&sandbox, first.token, "GET", path, NULL, 200);
    json_decref(answer);
    json_decref(created);
}

static void test_uninstalled_app(void **state)
{
    struct site site;
    char path[160];
    json_t *answer;

    (void)state;
    new_site(&site);
    snprintf(path, sizeof(path), "/__sandbox/sites/%s", site.instance_id);
    json_decref(sandbox_proc_call(&sandbox, "PATCH", path,
                                  "{\"installed\": false}", 200));
    expect_instance_status(site.token, 401);
    answer = token_request(SANDBOX_PROC_APP_ID, SANDBOX_PROC_APP_SECRET,
                           site.instance_id, 400);
    sandbox_proc_assert_wix_error(answer, "invalid_grant", NULL);
    json_decref(answer);
}

static void test_token_failure_status_403(void **state)
{
    struct site site;

    (void)state;
    new_site(&site);
    sandbox_proc_configure(&sandbox,
                           "{\"wix\":{\"token_failure_status\":403}}");
    sandbox_proc_advance(&sandbox, 14401);
    expect_instance_status(site.token, 403);
    sandbox_proc_configure(&sandbox,
                           "{\"wix\":{\"token_failure_status\":401}}");
    expect_instance_status(site.token, 401);
}

static void test_rate_limit(void **state)
{
    struct site site;
    struct site other;
    struct http_client_response resp;
    char authorization[200];
    const char *headers[] = {authorization, NULL};
    json_t *answer;

    (void)state;
    new_site(&site);
    new_site(&other);
    sandbox_proc_configure(&sandbox, "{\"wix\":{\"rate_limit\":5,"
                                     "\"rate_limit_retry_after_s\":30}}");
    for (int i = 0; i < 5; i++)
        expect_instance_status(site.token, 200);
    answer = sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                   "/wix/apps/v1/instance", NULL, 429);
    sandbox_proc_assert_wix_error(answer, "RESOURCE_EXHAUSTED", NULL);
    assert_string_equal(json_string_value(json_object_get(answer, "message")),
                        "Resource exhausted");
    json_decref(answer);

    snprintf(authorization, sizeof(authorization), "Authorization: %s",
             site.token);
    assert_int_equal(sandbox_proc_send(&sandbox, "GET", "/wix/apps/v1/instance",
                                       headers, NULL, &resp),
                     429);
    assert_string_equal(http_client_header(&resp, "Retry-After"), "30");
    http_client_response_release(&resp);

    expect_instance_status(other.token, 200);
    sandbox_proc_advance(&sandbox, 61);
    expect_instance_status(site.token, 200);
    sandbox_proc_configure(&sandbox, "{\"wix\":{\"rate_limit\":200,"
                                     "\"rate_limit_retry_after_s\":0}}");
}

static void test_missing_permission(void **state)
{
    struct site site;
    char path[160];
    json_t *answer;

    (void)state;
    new_site(&site);
    snprintf(path, sizeof(path), "/__sandbox/sites/%s", site.instance_id);
    json_decref(sandbox_proc_call(
        &sandbox, "PATCH", path, "{\"missing_permissions\": [\"blog\"]}", 200));
    answer = sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                   "/wix/blog/v3/draft-posts", NULL, 403);
    sandbox_proc_assert_wix_error(answer, "PERMISSION_DENIED", NULL);
    json_decref(answer);
    expect_instance_status(site.token, 200);
}

static json_t *token_info(const char *token)
{
    json_t *request = json_pack("{ss}", "token", token);
    char *body = json_dumps(request, JSON_COMPACT);
    json_t *answer = sandbox_proc_wix_call(&sandbox, NULL, "POST",
                                           "/wix/oauth2/token-info", body, 200);

    free(body);
    json_decref(request);
    return answer;
}

static void test_token_info(void **state)
{
    struct site site;
    json_t *info;

    (void)state;
    new_site(&site);
    info = token_info(site.token);
    assert_true(json_is_true(json_object_get(info, "active")));
    assert_string_equal(json_string_value(json_object_get(info, "instanceId")),
                        site.instance_id);
    assert_string_equal(json_string_value(json_object_get(info, "clientId")),
                        SANDBOX_PROC_APP_ID);
    assert_string_equal(json_string_value(json_object_get(info, "subjectType")),
                        "APP");
    assert_int_equal(json_integer_value(json_object_get(info, "exp")) -
                         json_integer_value(json_object_get(info, "iat")),
                     14400);
    json_decref(info);

    info = token_info(site.instance);
    assert_true(json_is_true(json_object_get(info, "active")));
    assert_string_equal(json_string_value(json_object_get(info, "instanceId")),
                        site.instance_id);
    assert_string_equal(json_string_value(json_object_get(info, "subjectType")),
                        "USER");
    json_decref(info);

    info = token_info("garbage.token");
    assert_true(json_is_false(json_object_get(info, "active")));
    json_decref(info);

    sandbox_proc_advance(&sandbox, 14401);
    info = token_info(site.token);
    assert_true(json_is_false(json_object_get(info, "active")));
    json_decref(info);
    info = token_info(site.instance);
    assert_true(json_is_false(json_object_get(info, "active")));
    json_decref(info);

    info = sandbox_proc_wix_call(&sandbox, NULL, "POST",
                                 "/wix/oauth2/token-info", "{}", 400);
    json_decref(info);
}

static json_t *legacy_request(const char *grant, const char *key,
                              const char *value, long expected_status)
{
    json_t *request = json_pack(
        "{ss ss ss ss}", "grant_type", grant, "client_id", SANDBOX_PROC_APP_ID,
        "client_secret", SANDBOX_PROC_APP_SECRET, key, value);
    char *body = json_dumps(request, JSON_COMPACT);
    json_t *answer = sandbox_proc_wix_call(
        &sandbox, NULL, "POST", "/wix/oauth/access", body, expected_status);

    free(body);
    json_decref(request);
    return answer;
}

static void test_legacy_code_flow(void **state)
{
    struct site site;
    json_t *tokens;
    json_t *refreshed;
    json_t *again;
    char access[128];

    (void)state;
    new_site(&site);
    tokens = legacy_request("authorization_code", "code", site.auth_code, 200);
    snprintf(access, sizeof(access), "%s",
             json_string_value(json_object_get(tokens, "access_token")));
    assert_non_null(
        json_string_value(json_object_get(tokens, "refresh_token")));
    expect_instance_status(access, 200);

    again = legacy_request("authorization_code", "code", site.auth_code, 400);
    sandbox_proc_assert_wix_error(again, "invalid_grant", NULL);
    json_decref(again);

    /* Legacy access tokens live five minutes. */
    sandbox_proc_advance(&sandbox, 301);
    expect_instance_status(access, 401);
    refreshed = legacy_request(
        "refresh_token", "refresh_token",
        json_string_value(json_object_get(tokens, "refresh_token")), 200);
    expect_instance_status(
        json_string_value(json_object_get(refreshed, "access_token")), 200);
    assert_string_equal(
        json_string_value(json_object_get(refreshed, "refresh_token")),
        json_string_value(json_object_get(tokens, "refresh_token")));

    again =
        legacy_request("refresh_token", "refresh_token", "OAUTH2.nope", 400);
    sandbox_proc_assert_wix_error(again, "invalid_grant", NULL);
    json_decref(again);
    json_decref(refreshed);
    json_decref(tokens);
}

static void test_auth_code_expires(void **state)
{
    struct site site;
    char path[160];
    json_t *code;
    json_t *answer;

    (void)state;
    new_site(&site);
    snprintf(path, sizeof(path), "/__sandbox/sites/%s/auth-code",
             site.instance_id);
    code = sandbox_proc_call(&sandbox, "POST", path, "{}", 200);
    sandbox_proc_advance(&sandbox, 601);
    answer =
        legacy_request("authorization_code", "code",
                       json_string_value(json_object_get(code, "code")), 400);
    sandbox_proc_assert_wix_error(answer, "invalid_grant", NULL);
    json_decref(answer);
    json_decref(code);
}

static void test_unknown_endpoint(void **state)
{
    struct site site;
    json_t *answer;

    (void)state;
    new_site(&site);
    answer = sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                   "/wix/blog/v9/nothing", NULL, 404);
    sandbox_proc_assert_wix_error(answer, "NOT_FOUND", NULL);
    json_decref(answer);
    answer = sandbox_proc_wix_call(&sandbox, site.token, "DELETE",
                                   "/wix/apps/v1/instance", NULL, 404);
    sandbox_proc_assert_wix_error(answer, "NOT_FOUND", NULL);
    json_decref(answer);
}

static int start_sandbox(void **state)
{
    (void)state;
    sandbox_proc_start(&sandbox, NULL);
    return 0;
}

/* A clean exit also means no leak report under AddressSanitizer. */
static int stop_sandbox(void **state)
{
    (void)state;
    return sandbox_proc_stop(&sandbox) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_issued),
        cmocka_unit_test(test_token_bad_credentials),
        cmocka_unit_test(test_token_bad_requests),
        cmocka_unit_test(test_token_ttl_setting),
        cmocka_unit_test(test_token_expires_by_clock),
        cmocka_unit_test(test_auth_header_forms),
        cmocka_unit_test(test_revoke_tokens),
        cmocka_unit_test(test_token_bound_to_site),
        cmocka_unit_test(test_uninstalled_app),
        cmocka_unit_test(test_token_failure_status_403),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_missing_permission),
        cmocka_unit_test(test_token_info),
        cmocka_unit_test(test_legacy_code_flow),
        cmocka_unit_test(test_auth_code_expires),
        cmocka_unit_test(test_unknown_endpoint),
    };

    return cmocka_run_group_tests(tests, start_sandbox, stop_sandbox);
}
