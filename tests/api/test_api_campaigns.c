/*
 * The campaigns API end to end: a real `sitesmith serve` process with its
 * workers, on a fresh SQLite file (or the PostgreSQL of
 * SITESMITH_TEST_POSTGRES_URL) and a real sitesmith-sandbox, called over
 * HTTP as the dashboard calls it. The last test waits for a planned post
 * to fire on the real clock, up to a minute.
 */
#include "core/clock.h"
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define START_CREDITS 50
/* A post fires at the next whole minute and then runs its four steps. */
#define FIRE_WAIT_MS 150000

struct fixture {
    struct sandbox_proc sandbox;
    struct serve_proc serve;
    char dir[64];
    char instance_id[128];
    char *instance;
    char other_id[128];
    char *other_instance;
};

static struct fixture fx;

static int setup(void **state)
{
    (void)state;
    serve_proc_make_dir(fx.dir, sizeof(fx.dir), "campaigns");
    sandbox_proc_start(&fx.sandbox, NULL);
    sandbox_proc_configure(&fx.sandbox, "{\"wix\": {\"media_ready_ms\": 100}, "
                                        "\"replicate\": {\"starting_ms\": 50, "
                                        "\"processing_ms\": 150}}");
    fx.instance = serve_proc_create_site(&fx.sandbox, fx.instance_id,
                                         sizeof(fx.instance_id));
    fx.other_instance =
        serve_proc_create_site(&fx.sandbox, fx.other_id, sizeof(fx.other_id));
    serve_proc_export(
        &(struct serve_env){.dir = fx.dir,
                            .database = "test.db",
                            .postgres = 1,
                            .sandbox = &fx.sandbox,
                            .openai_key = "sk-test-campaigns-0001",
                            .replicate_token = "r8_test_campaigns_0001"});
    setenv("SITESMITH_QUEUE_POLL", "200ms", 1);
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

/* Calls serve and fails the test unless the status is expected. */
static json_t *expect(const char *method, const char *path,
                      const char *instance, const char *body, long expected)
{
    return serve_proc_call(&fx.serve, method, path, instance, body, expected);
}

/* The local date-time of the next whole minute in UTC, at least 5 s
 * away, into out; returns that minute's time in ms. */
static int64_t next_minute(char out[17])
{
    time_t when = (time_t)(clock_now_ms() / 1000 + 65) / 60 * 60;
    struct tm tm;

    gmtime_r(&when, &tm);
    strftime(out, 17, "%Y-%m-%dT%H:%M", &tm);
    return (int64_t)when * 1000;
}

static json_t *create_weekly(const char *instance)
{
    return expect("POST", "/api/campaigns", instance,
                  "{\"name\": \"Tea Tuesdays\", \"time_zone\": "
                  "\"Europe/Berlin\", \"theme\": {\"topic\": \"tea\", "
                  "\"keywords\": [\"green tea\"], \"tone\": \"warm\"}, "
                  "\"schedule\": {\"rules\": [{\"frequency\": \"weekly\", "
                  "\"weekdays\": [\"tuesday\"], \"time\": \"09:00\"}]}}",
                  201);
}

static void create_list_and_read(void **state)
{
    char path[256];
    json_t *campaign;
    json_t *list;
    json_t *posts;
    json_t *post;

    (void)state;
    campaign = create_weekly(fx.instance);
    assert_string_equal(json_string_value(json_object_get(campaign, "name")),
                        "Tea Tuesdays");
    assert_string_equal(json_string_value(json_at(campaign, "theme.tone")),
                        "warm");
    assert_string_equal(
        json_string_value(json_object_get(campaign, "on_ready")), "draft");
    assert_true(json_integer_value(json_at(campaign, "counts.scheduled")) >= 8);
    assert_string_equal(
        json_string_value(json_at(campaign, "next_post.local_time")) + 10,
        "T09:00");

    list = expect("GET", "/api/campaigns", fx.instance, NULL, 200);
    assert_string_equal(json_string_value(json_at(list, "campaigns[0].id")),
                        json_string_value(json_object_get(campaign, "id")));
    json_decref(list);

    snprintf(path, sizeof(path), "/api/campaigns/%s/posts?state=scheduled",
             json_string_value(json_object_get(campaign, "id")));
    posts = expect("GET", path, fx.instance, NULL, 200);
    post = json_at(posts, "posts[0]");
    assert_string_equal(json_string_value(json_object_get(post, "state")),
                        "scheduled");
    assert_string_equal(json_string_value(json_object_get(post, "time_zone")),
                        "Europe/Berlin");
    assert_true(json_array_size(json_object_get(posts, "posts")) >= 8);

    /* Fix the first post's topic, pause it, skip the second. */
    snprintf(path, sizeof(path), "/api/campaigns/%s/posts/%s",
             json_string_value(json_object_get(campaign, "id")),
             json_string_value(json_object_get(post, "id")));
    json_decref(expect("PATCH", path, fx.instance,
                       "{\"topic\": \"matcha at home\"}", 200));
    strcat(path, "/pause");
    json_decref(expect("POST", path, fx.instance, NULL, 200));
    *strrchr(path, '/') = '\0';
    json_t *changed = expect("GET", path, fx.instance, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(changed, "topic")),
                        "matcha at home");
    assert_true(json_is_true(json_object_get(changed, "paused")));
    json_decref(changed);

    snprintf(path, sizeof(path), "/api/campaigns/%s/posts/%s",
             json_string_value(json_object_get(campaign, "id")),
             json_string_value(json_at(posts, "posts[1].id")));
    changed = expect("DELETE", path, fx.instance, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(changed, "state")),
                        "cancelled");
    json_decref(changed);
    json_decref(posts);
    json_decref(campaign);
}

static void invalid_requests_name_field(void **state)
{
    static const char *const cases[][2] = {
        {"{\"time_zone\": \"UTC\", \"schedule\": {\"rules\": [{\"frequency\":"
         " \"daily\", \"time\": \"09:00\"}]}}",
         "name"},
        {"{\"name\": \"x\", \"time_zone\": \"Mars/Olympus\", \"schedule\":"
         " {\"rules\": [{\"frequency\": \"daily\", \"time\": \"09:00\"}]}}",
         "time_zone"},
        {"{\"name\": \"x\", \"time_zone\": \"UTC\", \"schedule\": {}}",
         "schedule"},
        {"{\"name\": \"x\", \"time_zone\": \"UTC\", \"schedule\":"
         " {\"times\": [\"2001-01-01T09:00\"]}}",
         "schedule"},
        {"{\"name\": \"x\", \"time_zone\": \"UTC\", \"on_ready\": \"print\","
         " \"schedule\": {\"rules\": [{\"frequency\": \"daily\","
         " \"time\": \"09:00\"}]}}",
         "on_ready"},
        {"{\"name\": \"x\", \"time_zone\": \"UTC\", \"theme\": {\"language\":"
         " \"not a tag\"}, \"schedule\": {\"rules\": [{\"frequency\":"
         " \"daily\", \"time\": \"09:00\"}]}}",
         "theme"},
    };
    json_t *body;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        body = expect("POST", "/api/campaigns", fx.instance, cases[i][0], 400);
        assert_string_equal(json_string_value(json_at(body, "error.field")),
                            cases[i][1]);
        json_decref(body);
    }
    body = expect("GET", "/api/campaigns/none/posts?limit=0", fx.instance, NULL,
                  400);
    assert_string_equal(json_string_value(json_at(body, "error.field")),
                        "limit");
    json_decref(body);
    json_decref(
        expect("GET", "/api/campaigns/none/posts", fx.instance, NULL, 404));
}

static void other_site_gets_not_found(void **state)
{
    static const char *const calls[][3] = {
        {"GET", "", NULL},
        {"PATCH", "", "{\"name\": \"mine now\"}"},
        {"DELETE", "", NULL},
        {"POST", "/pause", NULL},
        {"POST", "/resume", NULL},
        {"GET", "/posts", NULL},
        {"GET", "/posts/%s", NULL},
        {"PATCH", "/posts/%s", "{\"topic\": \"mine\"}"},
        {"DELETE", "/posts/%s", NULL},
        {"POST", "/posts/%s/pause", NULL},
    };
    json_t *campaign = create_weekly(fx.instance);
    const char *id = json_string_value(json_object_get(campaign, "id"));
    const char *post = json_string_value(json_at(campaign, "next_post.id"));
    json_t *list;

    (void)state;
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        char suffix[128];
        char path[256];

        snprintf(suffix, sizeof(suffix), calls[i][1], post);
        snprintf(path, sizeof(path), "/api/campaigns/%s%s", id, suffix);
        json_decref(
            expect(calls[i][0], path, fx.other_instance, calls[i][2], 404));
    }
    list = expect("GET", "/api/campaigns", fx.other_instance, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "campaigns")), 0);
    json_decref(list);

    /* Still there for its owner, who can delete it. */
    char path[256];

    snprintf(path, sizeof(path), "/api/campaigns/%s", id);
    json_decref(expect("GET", path, fx.instance, NULL, 200));
    json_decref(expect("DELETE", path, fx.instance, NULL, 200));
    json_decref(expect("GET", path, fx.instance, NULL, 404));
    json_decref(campaign);
}

/* A post planned for the next minute fires in serve's workers and is
 * published on the site. */
static void planned_post_fires_and_publishes(void **state)
{
    char slot[17];
    char request[512];
    char path[256];
    int64_t deadline = clock_monotonic_ms() + FIRE_WAIT_MS;
    int64_t due_ms = next_minute(slot);
    json_t *campaign;
    json_t *post = NULL;
    const char *shown = "";
    json_t *site;

    (void)state;
    snprintf(request, sizeof(request),
             "{\"name\": \"Now\", \"time_zone\": \"UTC\", \"on_ready\":"
             " \"publish\", \"theme\": {\"topic\": \"linen care\"},"
             " \"schedule\": {\"times\": [\"%s\"]}}",
             slot);
    campaign = expect("POST", "/api/campaigns", fx.instance, request, 201);
    snprintf(path, sizeof(path), "/api/campaigns/%s/posts/%s",
             json_string_value(json_object_get(campaign, "id")),
             json_string_value(json_at(campaign, "next_post.id")));
    while (clock_monotonic_ms() < deadline) {
        json_decref(post);
        post = expect("GET", path, fx.instance, NULL, 200);
        shown = json_string_value(json_object_get(post, "state"));
        if (strcmp(shown, "done") == 0 || strcmp(shown, "failed") == 0)
            break;
        clock_sleep_ms(500);
    }
    assert_string_equal(shown, "done");
    assert_true(clock_parse_iso(json_string_value(
                    json_object_get(post, "fired_at"))) >= due_ms);
    assert_true(json_is_true(json_at(post, "post.published")));
    assert_non_null(json_string_value(json_at(post, "post.url")));

    site = sandbox_proc_site(&fx.sandbox, fx.instance_id);
    assert_string_equal(json_string_value(json_at(site, "drafts[0].status")),
                        "PUBLISHED");
    assert_string_equal(json_string_value(json_at(site, "drafts[0].title")),
                        json_string_value(json_object_get(post, "title")));
    json_decref(site);
    json_decref(post);
    json_decref(campaign);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_list_and_read),
        cmocka_unit_test(invalid_requests_name_field),
        cmocka_unit_test(other_site_gets_not_found),
        cmocka_unit_test(planned_post_fires_and_publishes),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
