/*
 * Units of Wix work under the token rules, against sitesmith-sandbox with
 * a movable clock. The cases are the incident that shaped the rules (a
 * client kept across a token's expiry), an early revocation, a 403 that
 * blames the token, and a site that removed the app.
 */
#include "auth/token.h"
#include "core/clock.h"
#include "http/client.h"
#include "wix/blog.h"
#include "wix/site.h"
#include "wix/wix.h"
#include "wix_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TOKEN_PATH "/wix/oauth2/token"
#define DRAFTS_PATH "/wix/blog/v3/draft-posts"
#define MINUTE_S 60
#define HOUR_S (60 * 60)

static struct wix_env env;

struct fixture {
    char site[128];
    char member[128];
    struct token_provider *tokens;
    struct wix *wix;
};

static int setup_group(void **state)
{
    (void)state;
    wix_env_start(&env);
    return 0;
}

static int teardown_group(void **state)
{
    (void)state;
    wix_env_stop(&env);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct error err;

    assert_non_null(f);
    wix_env_add_site(&env, f->site, f->member);
    f->tokens = token_provider_new(env.cfg, NULL, &err);
    assert_non_null(f->tokens);
    f->wix = wix_new(env.cfg, f->tokens, &err);
    assert_non_null(f->wix);
    wix_env_clear_log(&env);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    wix_free(f->wix);
    token_provider_free(f->tokens);
    free(f);
    return 0;
}

/* A blog post's Wix calls: find the writer, save the draft, read it back. */
struct blog_unit {
    const char *title;
    int runs;
    char draft_id[128];
};

static int write_blog_post(struct wix_client *client, void *ctx,
                           struct error *err)
{
    struct blog_unit *unit = ctx;
    json_t *members = NULL;
    json_t *draft = NULL;
    json_t *created = NULL;
    json_t *read = NULL;
    int rc = -1;

    unit->runs++;
    if (wix_members_list(client, 1, &members, err) < 0)
        goto out;
    if (json_array_size(members) == 0) {
        error_set(err, ERR_PERMANENT, "the site has no members");
        goto out;
    }
    draft = json_pack(
        "{s:s, s:O, s:{s:[{s:s, s:[{s:s, s:{s:s}}]}]}}", "title", unit->title,
        "memberId", json_object_get(json_array_get(members, 0), "id"),
        "richContent", "nodes", "type", "PARAGRAPH", "nodes", "type", "TEXT",
        "textData", "text", "A paragraph of the post.");
    if (wix_blog_create_draft(client, draft, &created, err) < 0 ||
        wix_blog_get_draft(client,
                           json_string_value(json_object_get(created, "id")),
                           &read, err) < 0)
        goto out;
    snprintf(unit->draft_id, sizeof(unit->draft_id), "%s",
             json_string_value(json_object_get(read, "id")));
    rc = 0;
out:
    json_decref(read);
    json_decref(created);
    json_decref(draft);
    json_decref(members);
    return rc;
}

static int run_blog_unit(struct fixture *f, struct blog_unit *unit,
                         struct error *err)
{
    return wix_run(f->wix, f->site, write_blog_post, unit, err);
}

/*
 * The incident, replayed: six posts at 0:00, 1:00, 2:00, 3:00, 4:30 and
 * 5:00 with 4-hour tokens. A worker that kept its first client failed
 * from 4:00 on; here every post is saved, with one token before 3:55 and
 * one after.
 */
static void incident_all_posts_saved(void **state)
{
    struct fixture *f = *state;
    static const int64_t at_minutes[] = {0, 60, 120, 180, 270, 300};
    int64_t now_minutes = 0;
    struct error err;

    for (size_t i = 0; i < sizeof(at_minutes) / sizeof(at_minutes[0]); i++) {
        struct blog_unit unit = {.title = "Spring care for potted herbs"};

        wix_env_advance(&env, (at_minutes[i] - now_minutes) * MINUTE_S);
        now_minutes = at_minutes[i];
        if (run_blog_unit(f, &unit, &err) < 0)
            fail_msg("post at minute %lld: %s", (long long)now_minutes,
                     err.message);
        assert_int_equal(unit.runs, 1);
        assert_true(unit.draft_id[0] != '\0');
    }
    assert_int_equal(wix_env_count(&env, "POST", TOKEN_PATH, 0), 2);
    assert_int_equal(wix_env_count(&env, "POST", DRAFTS_PATH, 201) +
                         wix_env_count(&env, "POST", DRAFTS_PATH, 200),
                     6);
    assert_int_equal(wix_env_count(&env, NULL, NULL, 401), 0);
}

/*
 * The caching mistake itself: a client built at 0:00 and used at 4:30.
 * The client refuses to send its expired token, and the sandbox rejects
 * that token too; a unit run through wix_run at the same moment succeeds.
 */
static void kept_client_fails_after_expiry(void **state)
{
    struct fixture *f = *state;
    struct blog_unit unit = {.title = "A post from a kept client"};
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct wix_client *client;
    struct token token;
    char authorization[TOKEN_MAX_LEN + 32];
    char url[512];
    struct error err;

    assert_int_equal(token_get(f->tokens, f->site, 0, &token, &err), 0);
    client = wix_client_new(f->wix, f->site, &token, &err);
    assert_non_null(client);
    assert_int_equal(write_blog_post(client, &unit, &err), 0);

    wix_env_advance(&env, 4 * HOUR_S + 30 * MINUTE_S);
    assert_int_equal(write_blog_post(client, &unit, &err), -1);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_non_null(strstr(err.message, "expired"));
    wix_client_free(client);

    /* Sent anyway, the old token gets Wix's 401. */
    snprintf(authorization, sizeof(authorization), "Authorization: %s",
             token.access_token);
    snprintf(url, sizeof(url), "%s/members/v1/members", env.wix_url);
    req.method = "GET";
    req.url = url;
    req.headers[0] = authorization;
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(http_client_send(&req, &resp, &err), 0);
    assert_int_equal(resp.status, 401);
    http_client_response_release(&resp);

    unit.runs = 0;
    assert_int_equal(run_blog_unit(f, &unit, &err), 0);
    assert_int_equal(unit.runs, 1);
}

static void revoked_token_refreshed_once(void **state)
{
    struct fixture *f = *state;
    struct blog_unit unit = {.title = "Written after a revocation"};
    char path[256];
    struct error err;

    assert_int_equal(run_blog_unit(f, &unit, &err), 0);
    snprintf(path, sizeof(path), "/__sandbox/sites/%s/revoke-tokens", f->site);
    json_decref(wix_env_request(&env, "POST", path, NULL, 200));
    wix_env_clear_log(&env);

    unit.runs = 0;
    assert_int_equal(run_blog_unit(f, &unit, &err), 0);
    assert_int_equal(unit.runs, 2);
    assert_int_equal(wix_env_count(&env, NULL, NULL, 401), 1);
    assert_int_equal(wix_env_count(&env, "POST", TOKEN_PATH, 200), 1);

    /* The new token is kept: the next unit needs no refresh. */
    unit.runs = 0;
    assert_int_equal(run_blog_unit(f, &unit, &err), 0);
    assert_int_equal(unit.runs, 1);
    assert_int_equal(wix_env_count(&env, "POST", TOKEN_PATH, 200), 1);
}

/* Wix has rejected expired tokens with a 403 too, which also refreshes. */
static void token_403_refreshed_once(void **state)
{
    struct fixture *f = *state;
    struct blog_unit unit = {.title = "Written after a 403"};
    char path[256];
    struct error err;

    json_decref(wix_env_request(&env, "POST", "/__sandbox/config",
                                "{\"wix\": {\"token_failure_status\": 403}}",
                                200));
    assert_int_equal(run_blog_unit(f, &unit, &err), 0);
    snprintf(path, sizeof(path), "/__sandbox/sites/%s/revoke-tokens", f->site);
    json_decref(wix_env_request(&env, "POST", path, NULL, 200));

    unit.runs = 0;
    assert_int_equal(run_blog_unit(f, &unit, &err), 0);
    assert_int_equal(unit.runs, 2);
    assert_int_equal(wix_env_count(&env, NULL, NULL, 403), 1);
    json_decref(wix_env_request(&env, "POST", "/__sandbox/config",
                                "{\"wix\": {\"token_failure_status\": 401}}",
                                200));
}

static void removed_app_fails_clearly(void **state)
{
    struct fixture *f = *state;
    struct blog_unit unit = {.title = "Written after the app was removed"};
    char path[256];
    struct error err;

    assert_int_equal(run_blog_unit(f, &unit, &err), 0);
    snprintf(path, sizeof(path), "/__sandbox/sites/%s", f->site);
    json_decref(
        wix_env_request(&env, "PATCH", path, "{\"installed\": false}", 200));
    wix_env_clear_log(&env);

    unit.runs = 0;
    assert_int_equal(run_blog_unit(f, &unit, &err), -1);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_false(error_is_retryable(&err));
    assert_non_null(strstr(err.message, "the app is no longer authorized "
                                        "for site"));
    assert_non_null(strstr(err.message, f->site));
    /* One rejected call, exactly one refresh, nothing more. */
    assert_int_equal(unit.runs, 1);
    assert_int_equal(wix_env_count(&env, NULL, NULL, 401), 1);
    assert_int_equal(wix_env_count(&env, "POST", TOKEN_PATH, 0), 1);

    /* A later unit requests a token once and fails the same way. */
    wix_env_clear_log(&env);
    unit.runs = 0;
    assert_int_equal(run_blog_unit(f, &unit, &err), -1);
    assert_non_null(strstr(err.message, "no longer authorized"));
    assert_int_equal(unit.runs, 0);
    assert_int_equal(wix_env_count(&env, "POST", TOKEN_PATH, 0), 1);
    assert_int_equal(wix_env_count(&env, NULL, NULL, 0), 1);
}

/* A unit that fails unauthorized twice stops after one refresh. */
static void second_401_is_final(void **state)
{
    struct fixture *f = *state;
    struct blog_unit unit = {.title = "Never written"};
    struct error err;

    wix_env_fault(&env, "GET /wix/members/v1/members", 401, 5);
    assert_int_equal(run_blog_unit(f, &unit, &err), -1);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_non_null(strstr(err.message, "no longer authorized"));
    assert_true(err.request_id[0] != '\0');
    assert_int_equal(unit.runs, 2);
    assert_int_equal(wix_env_count(&env, "POST", TOKEN_PATH, 200), 2);
    assert_int_equal(wix_env_count(&env, "GET", "/wix/members/v1/members", 0),
                     2);
    json_decref(
        wix_env_request(&env, "DELETE", "/__sandbox/faults", NULL, 200));
}

/* A missing permission is not a token problem: no refresh, no retry. */
static void forbidden_not_refreshed(void **state)
{
    struct fixture *f = *state;
    struct blog_unit unit = {.title = "Not allowed"};
    char path[256];
    struct error err;

    snprintf(path, sizeof(path), "/__sandbox/sites/%s", f->site);
    json_decref(wix_env_request(&env, "PATCH", path,
                                "{\"missing_permissions\": [\"blog\"]}", 200));
    assert_int_equal(run_blog_unit(f, &unit, &err), -1);
    assert_int_equal(err.kind, ERR_FORBIDDEN);
    assert_non_null(strstr(err.message, "Manage Blog"));
    assert_int_equal(unit.runs, 1);
    assert_int_equal(wix_env_count(&env, "POST", TOKEN_PATH, 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(incident_all_posts_saved, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(kept_client_fails_after_expiry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(revoked_token_refreshed_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(token_403_refreshed_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(removed_app_fails_clearly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(second_401_is_final, setup, teardown),
        cmocka_unit_test_setup_teardown(forbidden_not_refreshed, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
