/*
 * The sandbox's Wix Members and app instance through HTTP.
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
    char owner_id[64];
    char owner_email[128];
    char token[128];
};

static void new_site(struct site *site, const char *body)
{
    json_t *created = sandbox_proc_create_site(&sandbox, body);
    const char *owner =
        json_string_value(json_object_get(created, "owner_member_id"));

    snprintf(site->instance_id, sizeof(site->instance_id), "%s",
             json_string_value(json_object_get(created, "instance_id")));
    snprintf(site->owner_id, sizeof(site->owner_id), "%s", owner ? owner : "");
    snprintf(site->owner_email, sizeof(site->owner_email), "%s",
             json_string_value(json_object_get(created, "owner_email")));
    json_decref(created);
    sandbox_proc_wix_token(&sandbox, site->instance_id, site->token,
                           sizeof(site->token));
}

static json_t *wix(struct site *site, const char *method, const char *path,
                   const char *body, long status)
{
    return sandbox_proc_wix_call(&sandbox, site->token, method, path, body,
                                 status);
}

static void test_list_members(void **state)
{
    struct site site;
    json_t *answer;

    (void)state;
    new_site(&site, "{}");
    answer = wix(&site, "GET",
                 "/wix/members/v1/members?fieldsets=PUBLIC&paging.limit=1",
                 NULL, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "members")), 1);
    assert_int_equal(json_integer_value(json_at(answer, "metadata.total")), 2);
    assert_string_equal(json_string_value(json_at(answer, "members[0].id")),
                        site.owner_id);
    assert_null(json_at(answer, "members[0].loginEmail"));
    assert_true(json_is_string(json_at(answer, "members[0].profile.nickname")));
    json_decref(answer);

    answer =
        wix(&site, "GET", "/wix/members/v1/members?fieldsets=FULL", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "members")), 2);
    assert_string_equal(
        json_string_value(json_at(answer, "members[0].loginEmail")),
        site.owner_email);
    assert_string_equal(
        json_string_value(json_at(answer, "members[0].contact.firstName")),
        "Alex");
    json_decref(answer);
    json_decref(wix(&site, "GET", "/wix/members/v1/members?paging.limit=101",
                    NULL, 400));
}

static void test_owner_is_admin(void **state)
{
    json_t *created;
    json_t *view;

    (void)state;
    created = sandbox_proc_create_site(&sandbox, "{}");
    assert_string_equal(json_string_value(json_at(created, "members[0].role")),
                        "OWNER");
    assert_true(json_is_true(json_at(created, "members[0].admin")));
    assert_true(json_is_false(json_at(created, "members[1].admin")));
    assert_string_equal(
        json_string_value(json_at(created, "members[0].id")),
        json_string_value(json_object_get(created, "owner_member_id")));
    view = sandbox_proc_site(
        &sandbox, json_string_value(json_object_get(created, "instance_id")));
    assert_true(json_is_true(json_at(view, "members[0].admin")));
    json_decref(view);
    json_decref(created);
}

static void test_create_member(void **state)
{
    struct site site;
    json_t *answer;
    char body[256];
    char path[160];

    (void)state;
    new_site(&site, "{\"members\": false}");
    answer = wix(&site, "GET", "/wix/members/v1/members", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "members")), 0);
    json_decref(answer);

    snprintf(body, sizeof(body),
             "{\"member\": {\"loginEmail\": \"%s\", \"contact\": "
             "{\"firstName\": \"Alex\", \"lastName\": \"Rivera\"}}}",
             site.owner_email);
    answer = wix(&site, "POST", "/wix/members/v1/members", body, 200);
    assert_string_equal(json_string_value(json_at(answer, "member.loginEmail")),
                        site.owner_email);
    assert_string_equal(
        json_string_value(json_at(answer, "member.profile.nickname")),
        "Alex Rivera");
    snprintf(path, sizeof(path), "/wix/members/v1/members/%s",
             json_string_value(json_at(answer, "member.id")));
    json_decref(answer);

    answer = wix(&site, "GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_at(answer, "member.status")),
                        "APPROVED");
    json_decref(answer);

    answer = wix(&site, "POST", "/wix/members/v1/members", body, 409);
    sandbox_proc_assert_wix_error(answer, "ALREADY_EXISTS", NULL);
    json_decref(answer);
    answer = wix(&site, "POST", "/wix/members/v1/members",
                 "{\"member\": {\"loginEmail\": \"not-an-email\"}}", 400);
    sandbox_proc_assert_wix_error(answer, NULL, "member.loginEmail");
    json_decref(answer);
    json_decref(wix(&site, "GET", "/wix/members/v1/members/none", NULL, 404));
}

static void test_query_members(void **state)
{
    struct site site;
    json_t *answer;
    char body[300];

    (void)state;
    new_site(&site, "{}");
    snprintf(body, sizeof(body),
             "{\"query\": {\"filter\": {\"loginEmail\": \"%s\"}}, "
             "\"fieldsets\": [\"FULL\"]}",
             site.owner_email);
    answer = wix(&site, "POST", "/wix/members/v1/members/query", body, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "members")), 1);
    assert_string_equal(json_string_value(json_at(answer, "members[0].id")),
                        site.owner_id);
    json_decref(answer);

    answer = wix(&site, "POST", "/wix/members/v1/members/query",
                 "{\"query\": {\"filter\": {\"loginEmail\": "
                 "\"nobody@example.com\"}}}",
                 200);
    assert_int_equal(json_array_size(json_object_get(answer, "members")), 0);
    json_decref(answer);
}

static void test_app_instance(void **state)
{
    struct site free_site;
    struct site paid;
    json_t *answer;

    (void)state;
    new_site(&free_site, "{\"name\": \"Plain Site\", \"description\": "
                         "\"About plants\"}");
    new_site(&paid, "{\"fixture\": \"store\", \"plan\": \"pro\"}");
    answer = wix(&free_site, "GET", "/wix/apps/v1/instance", NULL, 200);
    assert_true(json_is_true(json_at(answer, "instance.isFree")));
    assert_null(json_at(answer, "instance.billing"));
    assert_string_equal(
        json_string_value(json_at(answer, "instance.instanceId")),
        free_site.instance_id);
    assert_string_equal(
        json_string_value(json_at(answer, "site.siteDisplayName")),
        "Plain Site");
    assert_string_equal(json_string_value(json_at(answer, "site.description")),
                        "About plants");
    assert_string_equal(
        json_string_value(json_at(answer, "site.ownerInfo.email")),
        free_site.owner_email);
    assert_int_equal(json_array_size(json_at(answer, "site.installedWixApps")),
                     1);
    json_decref(answer);

    answer = wix(&paid, "GET", "/wix/apps/v1/instance", NULL, 200);
    assert_true(json_is_false(json_at(answer, "instance.isFree")));
    assert_string_equal(
        json_string_value(json_at(answer, "instance.billing.packageName")),
        "pro");
    assert_string_equal(
        json_string_value(json_at(answer, "site.siteDisplayName")),
        "Harbor & Vine Goods");
    assert_int_equal(json_array_size(json_at(answer, "site.installedWixApps")),
                     2);
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
        cmocka_unit_test(test_list_members),
        cmocka_unit_test(test_owner_is_admin),
        cmocka_unit_test(test_create_member),
        cmocka_unit_test(test_query_members),
        cmocka_unit_test(test_app_instance),
    };

    return cmocka_run_group_tests(tests, start_sandbox, stop_sandbox);
}
