/*
 * The Image Optimizer's API end to end: a real `sitesmith serve` with its
 * workers, on a fresh SQLite file (or the PostgreSQL of
 * SITESMITH_TEST_POSTGRES_URL), against a real sitesmith-sandbox, called
 * over HTTP with the dashboard's signed instance.
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
#include <unistd.h>

#include <cmocka.h>

#define CREDITS 100
#define WAIT_MS 60000

struct site {
    char id[128];
    char *instance; /* the signed dashboard string */
};

static struct {
    struct sandbox_proc sandbox;
    struct serve_proc serve;
    char dir[64];
    struct site rich;  /* has credits */
    struct site empty; /* has none */
} fx;

static void create_site(struct site *site)
{
    site->instance =
        serve_proc_create_site(&fx.sandbox, site->id, sizeof(site->id));
}

static int setup(void **state)
{
    (void)state;
    serve_proc_make_dir(fx.dir, sizeof(fx.dir), "images-api");
    sandbox_proc_start(&fx.sandbox, NULL);
    create_site(&fx.rich);
    create_site(&fx.empty);
    serve_proc_export(
        &(struct serve_env){.dir = fx.dir,
                            .database = "images.db",
                            .postgres = 1,
                            .sandbox = &fx.sandbox,
                            .openai_key = "sk-test-images-api",
                            .replicate_token = "r8_test_images_api"});
    serve_store_seed(fx.rich.id, CREDITS, "grant-1");
    serve_store_seed(fx.empty.id, 0, NULL);
    serve_proc_start(&fx.serve, NULL, 4);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(serve_proc_stop(&fx.serve), 0);
    sandbox_proc_stop(&fx.sandbox);
    free(fx.rich.instance);
    free(fx.empty.instance);
    return serve_proc_remove_dir(fx.dir);
}

/*
 * Calls serve as site with an optional JSON body and returns the parsed
 * response. Fails the test unless the status is expected.
 */
static json_t *call(const struct site *site, const char *method,
                    const char *path, const char *body, long expected)
{
    return serve_proc_call(&fx.serve, method, path, site->instance, body,
                           expected);
}

/* Polls the job until none of its items is at work; returns it. */
static json_t *wait_done(const char *job_id)
{
    int64_t deadline = clock_monotonic_ms() + WAIT_MS;
    char path[256];

    snprintf(path, sizeof(path), "/api/image-jobs/%s", job_id);
    while (clock_monotonic_ms() < deadline) {
        json_t *job = call(&fx.rich, "GET", path, NULL, 200);

        if (strcmp(json_string_value(json_object_get(job, "state")), "done") ==
            0)
            return job;
        json_decref(job);
        clock_sleep_ms(100);
    }
    fail_msg("job %s never settled", job_id);
    return NULL;
}

/* The bracelet's id (three images) from the product list. */
#define BRACELET_ID "29bf8eee-97d0-52d2-a10c-5f8b5b8b1e94"

/* GETs path and checks the status and content type of the bytes. */
static size_t fetch_bytes(const char *path, const char *content_type)
{
    struct http_client_request req = {.method = "GET"};
    struct http_client_response resp = {0};
    char url[768];
    char instance[4096];
    struct error err;
    size_t length;

    snprintf(url, sizeof(url), "%s%s", fx.serve.url, path);
    snprintf(instance, sizeof(instance), "X-Wix-Instance: %s",
             fx.rich.instance);
    req.url = url;
    req.headers[0] = instance;
    req.max_response_bytes = 64 * 1024 * 1024;
    if (http_client_send(&req, &resp, &err) != 0)
        fail_msg("GET %s: %s", path, err.message);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, content_type);
    length = resp.body.len;
    http_client_response_release(&resp);
    return length;
}

static json_t *wait_item(const char *job_id, const char *item_id,
                         const char *state)
{
    int64_t deadline = clock_monotonic_ms() + WAIT_MS;
    char path[256];

    snprintf(path, sizeof(path), "/api/image-jobs/%s/items/%s", job_id,
             item_id);
    while (clock_monotonic_ms() < deadline) {
        json_t *item = call(&fx.rich, "GET", path, NULL, 200);

        if (strcmp(json_string_value(json_object_get(item, "state")), state) ==
            0)
            return item;
        json_decref(item);
        clock_sleep_ms(100);
    }
    fail_msg("item %s never became %s", item_id, state);
    return NULL;
}

static void act(const char *job_id, const char *action, const char *item_id)
{
    char path[256];
    char body[128];
    json_t *result;

    snprintf(path, sizeof(path), "/api/image-jobs/%s/items/%s", job_id, action);
    snprintf(body, sizeof(body), "{\"item_ids\": [\"%s\"]}", item_id);
    result = call(&fx.rich, "POST", path, body, 202);
    assert_int_equal(json_array_size(json_object_get(result, "accepted")), 1);
    json_decref(result);
}

static void review_apply_restore(void **state)
{
    json_t *before =
        call(&fx.rich, "GET", "/api/products/" BRACELET_ID "/media", NULL, 200);
    json_t *job;
    json_t *items;
    json_t *item;
    json_t *after;
    char body[512];
    char path[256];
    char job_id[64];
    char item_id[64];

    (void)state;
    assert_int_equal(json_array_size(json_object_get(before, "media")), 3);
    snprintf(body, sizeof(body),
             "{\"product_ids\": [\"%s\"], \"media_ids\": [\"%s\"], "
             "\"operation\": \"compress\", \"quality\": 50}",
             BRACELET_ID, json_string_value(json_at(before, "media[0].id")));
    job = call(&fx.rich, "POST", "/api/image-jobs", body, 202);
    snprintf(job_id, sizeof(job_id), "%s",
             json_string_value(json_object_get(job, "id")));
    json_decref(job);
    json_decref(wait_done(job_id));

    snprintf(path, sizeof(path), "/api/image-jobs/%s/items?state=ready",
             job_id);
    items = call(&fx.rich, "GET", path, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(items, "items")), 1);
    snprintf(item_id, sizeof(item_id), "%s",
             json_string_value(json_at(items, "items[0].id")));
    snprintf(path, sizeof(path), "/api/image-jobs/%s/items/%s/before", job_id,
             item_id);
    assert_int_equal(
        fetch_bytes(path, "image/jpeg"),
        json_integer_value(json_at(items, "items[0].before.bytes")));
    snprintf(path, sizeof(path), "/api/image-jobs/%s/items/%s/after", job_id,
             item_id);
    assert_int_equal(
        fetch_bytes(path, "image/webp"),
        json_integer_value(json_at(items, "items[0].after.bytes")));
    json_decref(items);

    act(job_id, "apply", item_id);
    item = wait_item(job_id, item_id, "applied");
    after =
        call(&fx.rich, "GET", "/api/products/" BRACELET_ID "/media", NULL, 200);
    assert_string_equal(
        json_string_value(json_at(after, "media[0].id")),
        json_string_value(json_object_get(item, "new_media_id")));
    json_decref(after);
    json_decref(item);

    act(job_id, "restore", item_id);
    json_decref(wait_item(job_id, item_id, "restored"));
    after =
        call(&fx.rich, "GET", "/api/products/" BRACELET_ID "/media", NULL, 200);
    assert_true(json_equal(after, before));
    json_decref(after);
    json_decref(before);
}

static void errors_answered(void **state)
{
    json_t *answer;
    char body[256];

    (void)state;
    snprintf(body, sizeof(body),
             "{\"product_ids\": [\"%s\"], \"operation\": \"edit\"}",
             BRACELET_ID);
    answer = call(&fx.rich, "POST", "/api/image-jobs", body, 400);
    assert_string_equal(json_string_value(json_at(answer, "error.field")),
                        "instruction");
    json_decref(answer);

    snprintf(body, sizeof(body),
             "{\"product_ids\": [\"%s\"], \"operation\": \"compress\"}",
             BRACELET_ID);
    answer = call(&fx.empty, "POST", "/api/image-jobs", body, 402);
    assert_int_equal(json_integer_value(json_at(answer, "error.cost")), 9);
    json_decref(answer);

    json_decref(
        call(&fx.rich, "GET", "/api/image-jobs/no-such-job", NULL, 404));
    json_decref(call(&fx.rich, "GET", "/api/image-jobs?limit=0", NULL, 400));
    answer = call(&fx.rich, "GET", "/api/image-jobs", NULL, 200);
    assert_true(json_array_size(json_object_get(answer, "jobs")) >= 1);
    json_decref(answer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(review_apply_restore),
        cmocka_unit_test(errors_answered),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
