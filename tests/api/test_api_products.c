/*
 * The Product Optimizer's API end to end: a real `sitesmith serve` with its
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

/* The fixture's product count and one collection of it. */
#define FIXTURE_PRODUCTS 210

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
    serve_proc_make_dir(fx.dir, sizeof(fx.dir), "products-api");
    sandbox_proc_start(&fx.sandbox, NULL);
    create_site(&fx.rich);
    create_site(&fx.empty);
    serve_proc_export(
        &(struct serve_env){.dir = fx.dir,
                            .database = "products.db",
                            .postgres = 1,
                            .sandbox = &fx.sandbox,
                            .openai_key = "sk-test-products-api",
                            .replicate_token = "r8_test_products_api"});
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

    snprintf(path, sizeof(path), "/api/product-jobs/%s", job_id);
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

static void products_page_and_filters(void **state)
{
    json_t *page;
    json_t *collections;
    json_t *men = NULL;
    char path[256];
    size_t i;
    json_t *collection;

    (void)state;
    page = call(&fx.rich, "GET", "/api/products?limit=5", NULL, 200);
    assert_string_equal(
        json_string_value(json_object_get(page, "catalog_version")), "V1");
    assert_int_equal(json_array_size(json_object_get(page, "products")), 5);
    assert_int_equal(json_integer_value(json_object_get(page, "total")),
                     FIXTURE_PRODUCTS);
    assert_string_equal(json_string_value(json_object_get(page, "next_cursor")),
                        "5");
    assert_non_null(json_at(page, "products[0].name"));
    json_decref(page);

    collections = call(&fx.rich, "GET", "/api/products/collections", NULL, 200);
    json_array_foreach(
        json_object_get(collections, "collections"), i,
        collection) if (strcmp(json_string_value(json_object_get(collection,
                                                                 "name")),
                               "Men") == 0) men = collection;
    assert_non_null(men);
    snprintf(path, sizeof(path), "/api/products?limit=100&collection_id=%s",
             json_string_value(json_object_get(men, "id")));
    page = call(&fx.rich, "GET", path, NULL, 200);
    assert_true(json_array_size(json_object_get(page, "products")) > 0);
    assert_true(json_integer_value(json_object_get(page, "total")) <
                FIXTURE_PRODUCTS);
    json_decref(page);

    page = call(&fx.rich, "GET", "/api/products?search=Stoneware%20Mug", NULL,
                200);
    json_array_foreach(json_object_get(page, "products"), i, collection)
        assert_non_null(
            strstr(json_string_value(json_object_get(collection, "name")),
                   "Stoneware Mug"));
    assert_true(json_array_size(json_object_get(page, "products")) >= 10);
    json_decref(page);
    json_decref(collections);
    json_decref(call(&fx.rich, "GET", "/api/products?limit=500", NULL, 400));
}

/* The ids of the first two products whose name starts with "Stoneware". */
static void two_products(char first[128], char second[128])
{
    json_t *page =
        call(&fx.rich, "GET", "/api/products?search=Stoneware", NULL, 200);

    snprintf(first, 128, "%s",
             json_string_value(json_at(page, "products[0].id")));
    snprintf(second, 128, "%s",
             json_string_value(json_at(page, "products[1].id")));
    json_decref(page);
}

static void job_review_apply_revert(void **state)
{
    char first[128];
    char second[128];
    char body[512];
    char path[256];
    char job_id[64];
    json_t *job;
    json_t *items;
    json_t *answer;

    (void)state;
    two_products(first, second);
    snprintf(body, sizeof(body),
             "{\"product_ids\": [\"%s\", \"%s\"], \"fields\": [\"name\", "
             "\"seo_description\"], \"tone\": \"warm\"}",
             first, second);
    job = call(&fx.rich, "POST", "/api/product-jobs", body, 202);
    snprintf(job_id, sizeof(job_id), "%s",
             json_string_value(json_object_get(job, "id")));
    assert_string_equal(json_string_value(json_object_get(job, "mode")),
                        "review");
    assert_int_equal(json_integer_value(json_object_get(job, "total")), 2);
    assert_int_equal(json_integer_value(json_at(job, "credits.reserved")), 4);
    json_decref(job);

    job = wait_done(job_id);
    assert_int_equal(json_integer_value(json_at(job, "counts.ready")), 2);
    json_decref(job);
    snprintf(path, sizeof(path), "/api/product-jobs/%s/items?state=ready",
             job_id);
    items = call(&fx.rich, "GET", path, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(items, "items")), 2);
    assert_string_equal(
        json_string_value(json_at(items, "items[0].product_id")), first);
    assert_non_null(json_at(items, "items[0].before.name"));
    assert_non_null(json_at(items, "items[0].after.seo_description"));
    assert_null(json_at(items, "items[0].after.description"));

    snprintf(path, sizeof(path), "/api/product-jobs/%s/items/apply", job_id);
    snprintf(body, sizeof(body), "{\"item_ids\": [\"%s\"]}",
             json_string_value(json_at(items, "items[0].id")));
    answer = call(&fx.rich, "POST", path, body, 202);
    assert_int_equal(json_array_size(json_object_get(answer, "accepted")), 1);
    json_decref(answer);
    snprintf(path, sizeof(path), "/api/product-jobs/%s/apply-ready", job_id);
    answer = call(&fx.rich, "POST", path, NULL, 202);
    assert_int_equal(json_array_size(json_object_get(answer, "accepted")), 1);
    json_decref(answer);
    job = wait_done(job_id);
    assert_int_equal(json_integer_value(json_at(job, "counts.applied")), 2);
    assert_int_equal(json_integer_value(json_at(job, "credits.charged")), 4);
    assert_int_equal(json_integer_value(json_at(job, "credits.reserved")), 0);
    json_decref(job);

    /* Discarding an applied item is skipped, not an error. */
    snprintf(path, sizeof(path), "/api/product-jobs/%s/items/discard", job_id);
    answer = call(&fx.rich, "POST", path, body, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "skipped")), 1);
    assert_string_equal(json_string_value(json_at(answer, "skipped[0].state")),
                        "applied");
    json_decref(answer);
    snprintf(path, sizeof(path), "/api/product-jobs/%s/items/revert", job_id);
    json_decref(call(&fx.rich, "POST", path, body, 202));
    job = wait_done(job_id);
    assert_int_equal(json_integer_value(json_at(job, "counts.reverted")), 1);
    json_decref(job);

    snprintf(path, sizeof(path), "/api/product-jobs/%s/items/%s", job_id,
             json_string_value(json_at(items, "items[0].id")));
    job = call(&fx.rich, "GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(job, "state")),
                        "reverted");
    json_decref(job);
    job = call(&fx.rich, "GET", "/api/product-jobs", NULL, 200);
    assert_string_equal(json_string_value(json_at(job, "jobs[0].id")), job_id);
    json_decref(job);
    snprintf(path, sizeof(path), "/api/product-jobs/%s/cancel", job_id);
    json_decref(call(&fx.rich, "POST", path, NULL, 200));
    json_decref(call(&fx.rich, "POST", path, NULL, 409));
    json_decref(items);
}

static void errors_name_the_problem(void **state)
{
    char first[128];
    char second[128];
    char body[512];
    json_t *answer;

    (void)state;
    two_products(first, second);
    answer = call(&fx.rich, "POST", "/api/product-jobs",
                  "{\"all\": true, \"fields\": [\"price\"]}", 400);
    assert_string_equal(json_string_value(json_at(answer, "error.field")),
                        "fields");
    json_decref(answer);
    answer = call(&fx.rich, "POST", "/api/product-jobs",
                  "{\"all\": true, \"max_lengths\": {\"name\": 81}}", 400);
    assert_string_equal(json_string_value(json_at(answer, "error.field")),
                        "max_lengths");
    json_decref(answer);
    json_decref(call(&fx.rich, "GET",
                     "/api/product-jobs/00000000-0000-0000-0000-000000000000",
                     NULL, 404));

    snprintf(body, sizeof(body), "{\"product_ids\": [\"%s\"]}", first);
    answer = call(&fx.empty, "POST", "/api/product-jobs", body, 402);
    assert_int_equal(json_integer_value(json_at(answer, "error.balance")), 0);
    assert_int_equal(json_integer_value(json_at(answer, "error.cost")), 4);
    json_decref(answer);
}

/* Each invalid item-action body is rejected with the field at fault. */
static void item_targets_rejected(void **state)
{
    static const char *const cases[][3] = {
        {"{}", "item_ids", "send either"},
        {"{\"all_ready\": 1}", "all_ready", "true or false"},
        {"{\"item_ids\": []}", "item_ids", "1 to 10000"},
        {"{\"item_ids\": [1]}", "item_ids", "item_ids[0]"},
        {"{\"item_ids\": [\"a\"], \"all_ready\": true}", "item_ids",
         "send either"},
    };
    const char *path = "/api/product-jobs/00000000-0000-0000-0000-000000000000"
                       "/items/apply";

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *answer = call(&fx.rich, "POST", path, cases[i][0], 400);
        const char *message =
            json_string_value(json_at(answer, "error.message"));

        assert_string_equal(json_string_value(json_at(answer, "error.field")),
                            cases[i][1]);
        assert_non_null(message);
        assert_non_null(strstr(message, cases[i][2]));
        json_decref(answer);
    }
}

static void other_site_sees_not_found(void **state)
{
    char first[128];
    char second[128];
    char body[512];
    char path[256];
    json_t *job;

    (void)state;
    two_products(first, second);
    snprintf(body, sizeof(body),
             "{\"product_ids\": [\"%s\"], \"fields\": [\"seo_title\"]}",
             second);
    job = call(&fx.rich, "POST", "/api/product-jobs", body, 202);
    snprintf(path, sizeof(path), "/api/product-jobs/%s",
             json_string_value(json_object_get(job, "id")));
    json_decref(call(&fx.empty, "GET", path, NULL, 404));
    snprintf(path, sizeof(path), "/api/product-jobs/%s/items?state=bogus",
             json_string_value(json_object_get(job, "id")));
    json_decref(call(&fx.rich, "GET", path, NULL, 400));
    json_decref(wait_done(json_string_value(json_object_get(job, "id"))));
    json_decref(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(products_page_and_filters),
        cmocka_unit_test(job_review_apply_revert),
        cmocka_unit_test(errors_name_the_problem),
        cmocka_unit_test(item_targets_rejected),
        cmocka_unit_test(other_site_sees_not_found),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
