/*
 * Every Wix call against sitesmith-sandbox: blog drafts, the catalog
 * version, Catalog V1 products, media and collections, media import and
 * upload, members and the app instance. Then the error kinds for each
 * status, made with the sandbox's faults, and the per-site limiter under a
 * burst that would exceed Wix's 200 requests a minute.
 */
#include "auth/token.h"
#include "core/clock.h"
#include "http/client.h"
#include "wix/blog.h"
#include "wix/media.h"
#include "wix/site.h"
#include "wix/stores.h"
#include "wix/wix.h"
#include "wix_env.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define BURST_THREADS 10
#define BURST_CALLS_PER_THREAD 25
#define STEP_MS 200

static struct wix_env env;

struct fixture {
    char site[128];
    char member[128];
    struct config *cfg;
    struct token_provider *tokens;
    struct wix *wix;
    struct wix_client *client;
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

/*
 * A configuration of the sandbox's app plus settings, given as name and
 * value pairs ending with NULL (settings itself may be NULL).
 */
static struct config *new_config(const char *const *settings)
{
    struct config *cfg = config_new_empty();

    config_set(cfg, "SITESMITH_WIX_APP_ID", WIX_ENV_APP_ID);
    config_set(cfg, "SITESMITH_WIX_APP_SECRET", WIX_ENV_APP_SECRET);
    config_set(cfg, "SITESMITH_WIX_API_URL", env.wix_url);
    for (size_t i = 0; settings && settings[i]; i += 2)
        config_set(cfg, settings[i], settings[i + 1]);
    return cfg;
}

/* Builds the provider, the Wix settings and a client for a new site. */
static struct fixture *new_fixture(const char *const *settings)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct token token;
    struct error err;

    assert_non_null(f);
    wix_env_add_site(&env, f->site, f->member);
    f->cfg = new_config(settings);
    f->tokens = token_provider_new(f->cfg, NULL, &err);
    assert_non_null(f->tokens);
    f->wix = wix_new(f->cfg, f->tokens, &err);
    if (!f->wix)
        fail_msg("wix_new: %s", err.message);
    assert_int_equal(token_get(f->tokens, f->site, 0, &token, &err), 0);
    f->client = wix_client_new(f->wix, f->site, &token, &err);
    assert_non_null(f->client);
    token_clear(&token);
    wix_env_clear_log(&env);
    return f;
}

static void free_fixture(struct fixture *f)
{
    wix_client_free(f->client);
    wix_free(f->wix);
    token_provider_free(f->tokens);
    config_free(f->cfg);
    free(f);
}

static int setup(void **state)
{
    *state = new_fixture(NULL);
    return 0;
}

static int teardown(void **state)
{
    free_fixture(*state);
    return 0;
}

static void check_ok(int rc, const struct error *err, const char *what)
{
    if (rc < 0)
        fail_msg("%s: %s", what, err->message);
}

/* ------------------------------------------------------------------ */
/* Blog                                                                */
/* ------------------------------------------------------------------ */

static json_t *draft_for(const char *member, const char *title)
{
    return json_pack("{s:s, s:s, s:s, s:{s:[{s:s, s:[{s:s, s:{s:s}}]}]}}",
                     "title", title, "memberId", member, "excerpt",
                     "A short excerpt.", "richContent", "nodes", "type",
                     "PARAGRAPH", "nodes", "type", "TEXT", "textData", "text",
                     "Body text.");
}

static void blog_drafts_round_trip(void **state)
{
    struct fixture *f = *state;
    json_t *members;
    json_t *draft;
    json_t *created;
    json_t *read;
    json_t *query;
    json_t *found;
    struct error err;
    const char *member;

    check_ok(wix_members_list(f->client, 5, &members, &err), &err,
             "list members");
    assert_true(json_array_size(members) >= 1);
    member =
        json_string_value(json_object_get(json_array_get(members, 0), "id"));
    assert_non_null(member);

    draft = draft_for(member, "Ten uses for lavender");
    check_ok(wix_blog_create_draft(f->client, draft, &created, &err), &err,
             "create draft");
    assert_string_equal(json_string_value(json_object_get(created, "status")),
                        "UNPUBLISHED");
    check_ok(wix_blog_get_draft(
                 f->client, json_string_value(json_object_get(created, "id")),
                 &read, &err),
             &err, "get draft");
    assert_string_equal(json_string_value(json_object_get(read, "title")),
                        "Ten uses for lavender");
    assert_non_null(json_object_get(read, "richContent"));

    query = json_pack("{s:{s:s}}", "filter", "title", "Ten uses for lavender");
    check_ok(wix_blog_query_drafts(f->client, query, &found, &err), &err,
             "query drafts");
    assert_int_equal(json_array_size(json_object_get(found, "draftPosts")), 1);

    json_decref(found);
    json_decref(query);
    json_decref(read);
    json_decref(created);
    json_decref(draft);
    json_decref(members);
}

static void blog_draft_checked_before_sending(void **state)
{
    struct fixture *f = *state;
    char long_title[128];
    json_t *no_member = json_pack("{s:s}", "title", "No owner");
    json_t *too_long;
    json_t *out;
    struct error err;

    memset(long_title, 'x', 101);
    long_title[101] = '\0';
    too_long = draft_for(f->member, long_title);
    assert_int_equal(wix_blog_create_draft(f->client, no_member, &out, &err),
                     -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "memberId"));
    assert_int_equal(wix_blog_create_draft(f->client, too_long, &out, &err),
                     -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "101 characters"));
    assert_int_equal(wix_env_count(&env, NULL, NULL, 0), 0);
    json_decref(too_long);
    json_decref(no_member);
}

/* ------------------------------------------------------------------ */
/* Stores                                                              */
/* ------------------------------------------------------------------ */

static void catalog_version_read(void **state)
{
    struct fixture *f = *state;
    enum wix_catalog catalog;
    struct wix_product_query query = {.limit = 1};
    char path[256];
    json_t *out;
    struct error err;

    check_ok(wix_stores_catalog_version(f->client, &catalog, &err), &err,
             "catalog version");
    assert_int_equal(catalog, WIX_CATALOG_V1);

    /* On a V3 site, a V1 call gets 428. */
    snprintf(path, sizeof(path), "/__sandbox/sites/%s", f->site);
    json_decref(
        wix_env_request(&env, "PATCH", path, "{\"catalog_version\": 3}", 200));
    check_ok(wix_stores_catalog_version(f->client, &catalog, &err), &err,
             "catalog version");
    assert_int_equal(catalog, WIX_CATALOG_V3);
    assert_int_equal(wix_stores_query_products(f->client, &query, &out, &err),
                     -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_int_equal(err.http_status, 428);
    assert_non_null(strstr(err.message, "catalog version"));
}

static void products_query_and_get(void **state)
{
    struct fixture *f = *state;
    json_t *filter = json_pack("{s:{s:i}}", "numericId", "$gt", 0);
    json_t *sort = json_pack("[{s:s}]", "numericId", "asc");
    struct wix_product_query query = {
        .filter = filter, .sort = sort, .limit = 10};
    json_t *page;
    json_t *product;
    const char *id;
    struct error err;

    check_ok(wix_stores_query_products(f->client, &query, &page, &err), &err,
             "query products");
    assert_int_equal(json_array_size(json_object_get(page, "products")), 10);
    assert_true(json_integer_value(json_object_get(page, "totalResults")) >=
                60);
    id = json_string_value(json_object_get(
        json_array_get(json_object_get(page, "products"), 0), "id"));
    check_ok(wix_stores_get_product(f->client, id, &product, &err), &err,
             "get product");
    assert_string_equal(json_string_value(json_object_get(product, "id")), id);
    json_decref(product);
    json_decref(page);

    assert_int_equal(
        wix_stores_get_product(f->client, "no-such-product", &product, &err),
        -1);
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    assert_int_equal(err.http_status, 404);
    assert_null(product);

    query.limit = 101;
    assert_int_equal(wix_stores_query_products(f->client, &query, &page, &err),
                     -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_null(page);
    json_decref(sort);
    json_decref(filter);
}

/* The id of the store's first product. The caller frees it. */
static char *first_product(struct fixture *f)
{
    struct wix_product_query query = {.limit = 1};
    json_t *page;
    char *id;
    struct error err;

    check_ok(wix_stores_query_products(f->client, &query, &page, &err), &err,
             "query products");
    id = strdup(json_string_value(json_object_get(
        json_array_get(json_object_get(page, "products"), 0), "id")));
    json_decref(page);
    return id;
}

static void product_text_updated(void **state)
{
    struct fixture *f = *state;
    char *id = first_product(f);
    char name[128];
    json_t *changes = json_pack(
        "{s:s, s:s, s:{s:[{s:s, s:s}]}}", "name", "Hand-thrown stoneware mug",
        "description", "<p>Glazed by hand, safe in the dishwasher.</p>",
        "seoData", "tags", "type", "title", "children", "Stoneware mug");
    json_t *price = json_pack("{s:{s:f}}", "priceData", "price", 1.0);
    json_t *long_name;
    json_t *updated;
    json_t *read;
    struct error err;

    check_ok(wix_stores_update_product(f->client, id, changes, &updated, &err),
             &err, "update product");
    assert_string_equal(json_string_value(json_object_get(updated, "name")),
                        "Hand-thrown stoneware mug");
    check_ok(wix_stores_get_product(f->client, id, &read, &err), &err,
             "get product");
    assert_string_equal(json_string_value(json_object_get(read, "description")),
                        "<p>Glazed by hand, safe in the dishwasher.</p>");

    /* Out of range or not text: rejected before sending. */
    memset(name, 'n', 81);
    name[81] = '\0';
    long_name = json_pack("{s:s}", "name", name);
    wix_env_clear_log(&env);
    assert_int_equal(
        wix_stores_update_product(f->client, id, long_name, NULL, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(
        wix_stores_update_product(f->client, id, price, NULL, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "priceData"));
    assert_int_equal(wix_env_count(&env, NULL, NULL, 0), 0);

    json_decref(long_name);
    json_decref(read);
    json_decref(updated);
    json_decref(price);
    json_decref(changes);
    free(id);
}

static void collections_listed(void **state)
{
    struct fixture *f = *state;
    json_t *collections;
    struct error err;

    check_ok(wix_stores_list_collections(f->client, &collections, &err), &err,
             "list collections");
    assert_true(json_array_size(collections) >= 2);
    assert_non_null(json_string_value(
        json_object_get(json_array_get(collections, 0), "id")));
    json_decref(collections);
}

/* ------------------------------------------------------------------ */
/* Media                                                               */
/* ------------------------------------------------------------------ */

/* The URL of an image that the sandbox serves, from the product's media. */
static char *product_image_url(struct fixture *f, const char *product_id)
{
    json_t *product;
    const char *url;
    char *copy;
    struct error err;

    check_ok(wix_stores_get_product(f->client, product_id, &product, &err),
             &err, "get product");
    url = json_string_value(json_object_get(
        json_object_get(
            json_object_get(json_object_get(product, "media"), "mainMedia"),
            "image"),
        "url"));
    assert_non_null(url);
    copy = strdup(url);
    json_decref(product);
    return copy;
}

static int has_media(struct fixture *f, const char *product_id,
                     const char *media_id)
{
    json_t *product;
    json_t *item;
    size_t i;
    int found = 0;
    struct error err;

    check_ok(wix_stores_get_product(f->client, product_id, &product, &err),
             &err, "get product");
    json_array_foreach(
        json_object_get(json_object_get(product, "media"), "items"), i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));

        if (id && strcmp(id, media_id) == 0)
            found = 1;
    }
    json_decref(product);
    return found;
}

static void media_import_and_attach(void **state)
{
    struct fixture *f = *state;
    char *product = first_product(f);
    char *url = product_image_url(f, product);
    struct wix_media_import import = {
        .url = url, .display_name = "improved.png", .mime_type = "image/png"};
    const char *ids[1];
    json_t *file;
    json_t *ready;
    struct error err;

    check_ok(wix_media_import_file(f->client, &import, &file, &err), &err,
             "import");
    ids[0] = json_string_value(json_object_get(file, "id"));
    check_ok(wix_media_wait_ready(f->client, ids[0], 30 * 1000, &ready, &err),
             &err, "wait ready");
    assert_string_equal(
        json_string_value(json_object_get(ready, "operationStatus")), "READY");

    check_ok(wix_stores_add_product_media(f->client, product, ids, 1, &err),
             &err, "add media");
    assert_true(has_media(f, product, ids[0]));
    check_ok(wix_stores_remove_product_media(f->client, product, ids, 1, &err),
             &err, "remove media");
    assert_false(has_media(f, product, ids[0]));

    /* An empty list would remove every item: never sent. */
    assert_int_equal(
        wix_stores_remove_product_media(f->client, product, ids, 0, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);

    json_decref(ready);
    json_decref(file);
    free(url);
    free(product);
}

static void media_import_failure_reported(void **state)
{
    struct fixture *f = *state;
    struct wix_media_import import = {.url = "http://127.0.0.1:1/missing.png",
                                      .mime_type = "image/png"};
    json_t *file;
    json_t *ready;
    struct error err;

    check_ok(wix_media_import_file(f->client, &import, &file, &err), &err,
             "import");
    assert_int_equal(
        wix_media_wait_ready(f->client,
                             json_string_value(json_object_get(file, "id")),
                             30 * 1000, &ready, &err),
        -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_non_null(strstr(err.message, "failed to import"));
    json_decref(file);
}

/* Reads the bytes behind url with a plain GET. */
static void download(const char *url, struct http_client_response *resp)
{
    struct http_client_request req = {.method = "GET", .url = url};
    struct error err;

    memset(resp, 0, sizeof(*resp));
    assert_int_equal(http_client_send(&req, resp, &err), 0);
    assert_int_equal(resp->status, 200);
}

static void media_uploaded(void **state)
{
    struct fixture *f = *state;
    char *product = first_product(f);
    char *image_url = product_image_url(f, product);
    struct http_client_response image;
    char *upload_url;
    json_t *file;
    json_t *read;
    struct error err;

    download(image_url, &image);
    check_ok(wix_media_generate_upload_url(f->client, image.content_type,
                                           "upload.png", &upload_url, &err),
             &err, "generate upload URL");
    check_ok(wix_media_upload(f->client, upload_url, image.body.data,
                              image.body.len, image.content_type, &file, &err),
             &err, "upload");
    check_ok(wix_media_get_file(f->client,
                                json_string_value(json_object_get(file, "id")),
                                &read, &err),
             &err, "get file");
    assert_string_equal(json_string_value(json_object_get(read, "id")),
                        json_string_value(json_object_get(file, "id")));

    json_decref(read);
    json_decref(file);
    free(upload_url);
    http_client_response_release(&image);
    free(image_url);
    free(product);
}

/* ------------------------------------------------------------------ */
/* The app instance                                                    */
/* ------------------------------------------------------------------ */

static void app_instance_read(void **state)
{
    struct fixture *f = *state;
    json_t *instance;
    struct error err;

    check_ok(wix_app_get_instance(f->client, &instance, &err), &err,
             "get app instance");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(instance, "instance"),
                                          "instanceId")),
        f->site);
    json_decref(instance);
}

/* ------------------------------------------------------------------ */
/* Error kinds, through the sandbox's faults                           */
/* ------------------------------------------------------------------ */

static void expect_kind(struct fixture *f, long status,
                        enum error_kind expected)
{
    json_t *out = NULL;
    struct error err;

    wix_env_fault(&env, "GET /wix/apps/v1/instance", status, 1);
    assert_int_equal(wix_app_get_instance(f->client, &out, &err), -1);
    if (err.kind != expected)
        fail_msg("HTTP %ld: expected %s, got %s (%s)", status,
                 error_kind_name(expected), error_kind_name(err.kind),
                 err.message);
    assert_int_equal(err.http_status, status);
    assert_true(err.request_id[0] != '\0');
    assert_non_null(strstr(err.message, f->site));
    assert_null(out);
}

static void status_maps_to_kind(void **state)
{
    struct fixture *f = *state;

    expect_kind(f, 400, ERR_INVALID);
    expect_kind(f, 401, ERR_UNAUTHORIZED);
    /* The sandbox's 403 body has the code UNAUTHENTICATED, as for expired
     * tokens. */
    expect_kind(f, 403, ERR_UNAUTHORIZED);
    expect_kind(f, 404, ERR_NOT_FOUND);
    expect_kind(f, 409, ERR_CONFLICT);
    expect_kind(f, 428, ERR_PERMANENT);
    expect_kind(f, 500, ERR_RETRYABLE);
    expect_kind(f, 502, ERR_RETRYABLE);
    expect_kind(f, 503, ERR_RETRYABLE);
    expect_kind(f, 504, ERR_RETRYABLE);
}

static void missing_permission_forbidden(void **state)
{
    struct fixture *f = *state;
    char path[256];
    char *product;
    json_t *out;
    struct error err;

    product = first_product(f);
    snprintf(path, sizeof(path), "/__sandbox/sites/%s", f->site);
    json_decref(wix_env_request(
        &env, "PATCH", path, "{\"missing_permissions\": [\"stores\"]}", 200));
    assert_int_equal(wix_stores_get_product(f->client, product, &out, &err),
                     -1);
    assert_int_equal(err.kind, ERR_FORBIDDEN);
    assert_int_equal(err.http_status, 403);
    assert_string_equal(err.code, "PERMISSION_DENIED");
    assert_non_null(strstr(err.message, "Manage Products"));
    free(product);
}

static void rate_limit_waited_out(void **state)
{
    struct fixture *f = *state;
    json_t *out;
    char body[256];
    int64_t started = clock_monotonic_ms();
    struct error err;

    /* A 429 asking for one second: waited out, then the call succeeds. */
    snprintf(body, sizeof(body),
             "{\"endpoint\": \"GET /wix/apps/v1/instance\", \"mode\": "
             "\"status\", \"status\": 429, \"count\": 1, "
             "\"retry_after_s\": 1}");
    json_decref(wix_env_request(&env, "POST", "/__sandbox/faults", body, 201));
    check_ok(wix_app_get_instance(f->client, &out, &err), &err,
             "get app instance");
    assert_true(clock_monotonic_ms() - started >= 1000);
    assert_int_equal(wix_env_count(&env, "GET", "/wix/apps/v1/instance", 429),
                     1);
    json_decref(out);
}

static void rate_limit_too_long_fails(void **state)
{
    static const char *const settings[] = {"SITESMITH_WIX_MAX_WAIT", "5s",
                                           NULL};
    struct fixture *f = new_fixture(settings);
    json_t *out;
    char body[256];
    struct error err;

    (void)state;
    snprintf(body, sizeof(body),
             "{\"endpoint\": \"GET /wix/apps/v1/instance\", \"mode\": "
             "\"status\", \"status\": 429, \"count\": 1, "
             "\"retry_after_s\": 120}");
    json_decref(wix_env_request(&env, "POST", "/__sandbox/faults", body, 201));
    assert_int_equal(wix_app_get_instance(f->client, &out, &err), -1);
    assert_int_equal(err.kind, ERR_RATE_LIMITED);
    assert_int_equal(err.retry_after_ms, 120 * 1000);

    /* The site stays paused: the next call fails at once, unsent. */
    wix_env_clear_log(&env);
    assert_int_equal(wix_app_get_instance(f->client, &out, &err), -1);
    assert_int_equal(err.kind, ERR_RATE_LIMITED);
    assert_string_equal(err.code, "client_rate_limit");
    assert_int_equal(wix_env_count(&env, NULL, NULL, 0), 0);
    free_fixture(f);
}

/* ------------------------------------------------------------------ */
/* The limiter under a burst                                           */
/* ------------------------------------------------------------------ */

struct burst {
    struct fixture *f;
    pthread_mutex_t lock;
    int finished;
    int failed;
    enum error_kind last_kind;
};

static void *call_many(void *arg)
{
    struct burst *burst = arg;
    int failed = 0;
    enum error_kind kind = ERR_NONE;

    for (int i = 0; i < BURST_CALLS_PER_THREAD; i++) {
        json_t *out = NULL;
        struct error err;

        if (wix_app_get_instance(burst->f->client, &out, &err) < 0) {
            failed++;
            kind = err.kind;
        }
        json_decref(out);
    }
    pthread_mutex_lock(&burst->lock);
    burst->finished++;
    burst->failed += failed;
    if (failed)
        burst->last_kind = kind;
    pthread_mutex_unlock(&burst->lock);
    return NULL;
}

/*
 * Runs BURST_THREADS threads of calls on one site while time moves in
 * steps of STEP_MS, the sandbox first, so that its clock never lags ours.
 * Returns the number of failed calls.
 */
static int run_burst(struct fixture *f, enum error_kind *kind)
{
    struct burst burst = {.f = f};
    pthread_t threads[BURST_THREADS];
    char body[64];
    int finished = 0;

    pthread_mutex_init(&burst.lock, NULL);
    snprintf(body, sizeof(body), "{\"advance_ms\": %d}", STEP_MS);
    for (int i = 0; i < BURST_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, call_many, &burst),
                         0);
    for (int step = 0; finished < BURST_THREADS && step < 3000; step++) {
        json_decref(
            wix_env_request(&env, "POST", "/__sandbox/clock", body, 200));
        clock_fake_advance_ms(STEP_MS);
        /* Longer than a waiter's polling slice, so that each waiter wakes
         * within a step and no request is sent a step late. */
        clock_sleep_ms(15);
        pthread_mutex_lock(&burst.lock);
        finished = burst.finished;
        pthread_mutex_unlock(&burst.lock);
    }
    for (int i = 0; i < BURST_THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&burst.lock);
    *kind = burst.last_kind;
    return burst.failed;
}

static void burst_stays_under_limit(void **state)
{
    struct fixture *f = *state;
    enum error_kind kind;
    int calls = BURST_THREADS * BURST_CALLS_PER_THREAD;

    assert_int_equal(run_burst(f, &kind), 0);
    assert_int_equal(wix_env_count(&env, "GET", "/wix/apps/v1/instance", 200),
                     calls);
    assert_int_equal(wix_env_count(&env, NULL, NULL, 429), 0);
}

/* The control: without the limiter, the same burst meets Wix's 429. */
static void burst_without_limiter_rejected(void **state)
{
    /* No limiter, and no waiting: a 429 fails its call. */
    static const char *const settings[] = {"SITESMITH_WIX_RATE_LIMIT", "0",
                                           "SITESMITH_WIX_MAX_WAIT", "0", NULL};
    struct fixture *f = new_fixture(settings);
    enum error_kind kind;

    (void)state;
    assert_true(run_burst(f, &kind) > 0);
    assert_int_equal(kind, ERR_RATE_LIMITED);
    assert_true(wix_env_count(&env, NULL, NULL, 429) > 0);
    free_fixture(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(blog_drafts_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(blog_draft_checked_before_sending,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(catalog_version_read, setup, teardown),
        cmocka_unit_test_setup_teardown(products_query_and_get, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(product_text_updated, setup, teardown),
        cmocka_unit_test_setup_teardown(collections_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(media_import_and_attach, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(media_import_failure_reported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(media_uploaded, setup, teardown),
        cmocka_unit_test_setup_teardown(app_instance_read, setup, teardown),
        cmocka_unit_test_setup_teardown(status_maps_to_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_permission_forbidden, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rate_limit_waited_out, setup, teardown),
        cmocka_unit_test(rate_limit_too_long_fails),
        cmocka_unit_test_setup_teardown(burst_stays_under_limit, setup,
                                        teardown),
        cmocka_unit_test(burst_without_limiter_rejected),
    };

    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
