/*
 * The campaigns API end to end: a real `sitesmith serve` process with its
 * workers, on a fresh SQLite file (or the PostgreSQL of
 * SITESMITH_TEST_POSTGRES_URL) and a real sitesmith-sandbox, called over
 * HTTP as the dashboard calls it. The last test waits for a planned post
 * to fire on the real clock, up to a minute.
 */
#include "core/child.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "http/client.h"
#include "pipelines/app.h"
#include "sandbox_proc.h"
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
    struct child serve;
    char dir[64];
    char serve_url[128];
    char instance_id[128];
    char *instance;
    char other_id[128];
    char *other_instance;
    struct config *cfg;
};

static struct fixture fx;

static void create_site(char *id, size_t size, char **instance)
{
    json_t *site =
        sandbox_proc_create_site(&fx.sandbox, "{\"fixture\": \"store\", "
                                              "\"catalog_version\": 1}");

    snprintf(id, size, "%s",
             json_string_value(json_object_get(site, "instance_id")));
    *instance = strdup(json_string_value(json_object_get(site, "instance")));
    json_decref(site);
}

static void set_environment(void)
{
    const char *postgres = getenv("SITESMITH_TEST_POSTGRES_URL");
    char value[512];
    char key[65];

    if (postgres && *postgres)
        setenv("SITESMITH_DATABASE_URL", postgres, 1);
    else {
        snprintf(value, sizeof(value), "sqlite:%s/test.db", fx.dir);
        setenv("SITESMITH_DATABASE_URL", value, 1);
    }
    snprintf(value, sizeof(value), "%s/data", fx.dir);
    setenv("SITESMITH_DATA_DIR", value, 1);
    setenv("SITESMITH_WIX_API_URL", fx.sandbox.wix_url, 1);
    setenv("OPENAI_BASE_URL", fx.sandbox.openai_url, 1);
    setenv("SITESMITH_REPLICATE_API_URL", fx.sandbox.replicate_url, 1);
    setenv("OPENAI_API_KEY", "sk-test-campaigns-0001", 1);
    setenv("REPLICATE_API_TOKEN", "r8_test_campaigns_0001", 1);
    setenv("SITESMITH_WIX_APP_ID", SANDBOX_PROC_APP_ID, 1);
    setenv("SITESMITH_WIX_APP_SECRET", SANDBOX_PROC_APP_SECRET, 1);
    crypto_random_hex(key, 32);
    setenv("SITESMITH_SECRET_KEY", key, 1);
    setenv("SITESMITH_LOG_LEVEL", "warn", 1);
    setenv("SITESMITH_QUEUE_POLL", "200ms", 1);
}

static void prepare_store(void)
{
    struct error err;
    struct store *st = store_open_config(fx.cfg, &err);
    struct store_tx *tx;

    assert_non_null(st);
    assert_int_equal(store_migrate(st, app_schemas(), NULL, &err), 0);
    tx = store_begin(st, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_instance_put(tx, fx.instance_id, "installed", "", NULL, &err), 0);
    assert_int_equal(
        store_instance_put(tx, fx.other_id, "installed", "", NULL, &err), 0);
    assert_true(store_credits_grant(tx, fx.instance_id, START_CREDITS,
                                    "test-grant", NULL, &err) >= 0);
    assert_int_equal(store_commit(tx, &err), 0);
    store_close(st);
}

static int setup(void **state)
{
    char program[1024];
    const char *build = getenv("SITESMITH_BUILD_DIR");
    char *argv[] = {program,     "serve", "--listen", "127.0.0.1:0",
                    "--workers", "2",     NULL};
    struct error err;

    (void)state;
    assert_int_equal(crypto_init(), 0);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/sitesmith-campaigns-XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    sandbox_proc_start(&fx.sandbox, NULL);
    sandbox_proc_configure(&fx.sandbox, "{\"wix\": {\"media_ready_ms\": 100}, "
                                        "\"replicate\": {\"starting_ms\": 50, "
                                        "\"processing_ms\": 150}}");
    create_site(fx.instance_id, sizeof(fx.instance_id), &fx.instance);
    create_site(fx.other_id, sizeof(fx.other_id), &fx.other_instance);
    set_environment();
    fx.cfg = config_load(NULL, &err);
    assert_non_null(fx.cfg);
    prepare_store();

    snprintf(program, sizeof(program), "%s/sitesmith", build ? build : ".");
    assert_int_equal(child_start(&fx.serve, "sitesmith serve", argv, &err), 0);
    if (child_read_url(&fx.serve, 30000, fx.serve_url, sizeof(fx.serve_url),
                       &err) != 0)
        fail_msg("%s", err.message);
    return 0;
}

static int teardown(void **state)
{
    char command[128];

    (void)state;
    assert_int_equal(child_stop(&fx.serve, 30000), 0);
    sandbox_proc_stop(&fx.sandbox);
    config_free(fx.cfg);
    free(fx.instance);
    free(fx.other_instance);
    snprintf(command, sizeof(command), "rm -rf %s", fx.dir);
    return system(command) == 0 ? 0 : -1;
}

/* One JSON call to serve as the site of instance; returns the body. */
static json_t *api(const char *method, const char *path, const char *instance,
                   const char *body, long *status)
{
    struct http_client_request req = {.method = method};
    struct http_client_response resp = {0};
    char url[512];
    char instance_header[4096];
    struct error err;
    json_t *json;
    int h = 0;

    snprintf(url, sizeof(url), "%s%s", fx.serve_url, path);
    req.url = url;
    snprintf(instance_header, sizeof(instance_header), "X-Wix-Instance: %s",
             instance);
    req.headers[h++] = instance_header;
    if (body)
        req.headers[h++] = "Content-Type: application/json";
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    error_clear(&err);
    if (http_client_send(&req, &resp, &err) != 0)
        fail_msg("%s %s: %s", method, path, err.message);
    *status = resp.status;
    json = json_loads(resp.body.data ? resp.body.data : "", 0, NULL);
    http_client_response_release(&resp);
    return json;
}

/* Calls serve and fails the test unless the status is expected. */
static json_t *expect(const char *method, const char *path,
                      const char *instance, const char *body, long expected)
{
    long status = 0;
    json_t *json = api(method, path, instance, body, &status);

    if (status != expected) {
        char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;

        fail_msg("%s %s answered %ld, not %ld: %s", method, path, status,
                 expected, text ? text : "(no JSON)");
    }
    return json;
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
