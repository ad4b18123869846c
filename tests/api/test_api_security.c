/*
 * The security of the multi-site API, end to end against a real
 * `sitesmith serve` and sitesmith-sandbox:
 *
 * - tenant isolation: every /api route that takes an id (found in the
 *   route tables under src/api/) returns 404 to another site and changes
 *   nothing;
 * - limits: the per-site request limit (429 with Retry-After), the body
 *   size and JSON depth limits, and strict content types;
 * - headers: no caching and nosniff on API responses, and a
 *   Content-Security-Policy whose frame-ancestors names Wix on the
 *   dashboard page;
 * - secrets: with known values for the app secret, the API keys, the
 *   sealing key and the tokens the sandbox issued, no serve log line and no
 *   response carries any of them.
 */
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "sandbox_proc.h"
#include "serve_proc.h"
#include "store_fixture.h"

#include <dirent.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS 60000
#define APP_SECRET "app-secret-KNOWN-7c1d9e5a3b"
#define OPENAI_KEY "sk-openai-KNOWN-4f2a8c6e1d"
#define REPLICATE_TOKEN "r8_replicate_KNOWN_9b3e7d5f"
#define RATE_LIMIT "1200"
#define MAX_ROUTES 128

struct site {
    char id[128];
    char *instance;
};

struct fixture {
    struct sandbox_proc sandbox;
    struct serve_proc serve;
    struct store_fixture db;
    char dir[64];
    char log_path[128];
    char state_path[128];
    char secret_key[65];
    struct site a, b, c, legacy;
    /* Every response serve sent in this test, headers and body, for the
     * secrets check. The one Location that carries a token by protocol is
     * kept apart in close_window. */
    struct buf responses;
    char *close_window;
};

static struct fixture fx;

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

static void record_response(const struct http_client_response *resp,
                            const char *skip_header)
{
    buf_printf(&fx.responses, "HTTP %ld\n", resp->status);
    for (size_t i = 0; i < resp->header_count; i++) {
        if (skip_header && strcmp(resp->headers[i].name, skip_header) == 0)
            continue;
        buf_printf(&fx.responses, "%s: %s\n", resp->headers[i].name,
                   resp->headers[i].value);
    }
    buf_printf(&fx.responses, "%s\n", resp->body.data ? resp->body.data : "");
}

/* One call to serve; records the response; returns its status. resp may
 * be NULL. */
static long call(const char *method, const char *path, const char *instance,
                 const char *content_type, const char *body,
                 struct http_client_response *keep)
{
    struct http_client_response resp;
    char header[8192];
    const char *headers[2] = {NULL, NULL};
    long status;

    if (instance) {
        snprintf(header, sizeof(header), "X-Wix-Instance: %s", instance);
        headers[0] = header;
    }
    status = serve_proc_send(&fx.serve, method, path, headers, content_type,
                             body, &resp);
    record_response(&resp, NULL);
    if (keep)
        *keep = resp;
    else
        http_client_response_release(&resp);
    return status;
}

/* A JSON call; fails unless the status is expected. */
static json_t *expect(const char *method, const char *path,
                      const char *instance, const char *body,
                      long expected_status)
{
    struct http_client_response resp;
    long status = call(method, path, instance, body ? "application/json" : NULL,
                       body, &resp);
    json_t *json = json_loads(resp.body.data ? resp.body.data : "", 0, NULL);

    if (status != expected_status)
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path,
                 expected_status, status, resp.body.data ? resp.body.data : "");
    http_client_response_release(&resp);
    return json;
}

static void site_new(struct site *site, const char *body)
{
    json_t *created = sandbox_proc_create_site(&fx.sandbox, body);

    snprintf(site->id, sizeof(site->id), "%s",
             json_string_value(json_object_get(created, "instance_id")));
    site->instance =
        strdup(json_string_value(json_object_get(created, "instance")));
    json_decref(created);
}

/*
 * Waits until the install event's job has granted the free plan's credits:
 * the webhook is answered first and handled in a job.
 */
static void wait_for_credits(const struct site *site)
{
    int64_t deadline = clock_monotonic_ms() + WAIT_MS;

    while (clock_monotonic_ms() < deadline) {
        json_t *me = expect("GET", "/api/me", site->instance, NULL, 200);
        json_int_t credits = json_integer_value(json_object_get(me, "credits"));

        json_decref(me);
        if (credits > 0)
            return;
        clock_sleep_ms(100);
    }
    fail_msg("site %s got no credits from its install event", site->id);
}

static void install(const struct site *site)
{
    char body[1024];
    json_t *sent;

    snprintf(body, sizeof(body),
             "{\"url\": \"%s/webhooks/wix\", \"event\": \"AppInstalled\", "
             "\"instance_id\": \"%s\"}",
             fx.serve.url, site->id);
    sent = sandbox_proc_call(&fx.sandbox, "POST", "/__sandbox/webhooks", body,
                             200);
    assert_int_equal(json_integer_value(json_at(sent, "deliveries[0].status")),
                     200);
    json_decref(sent);
    wait_for_credits(site);
}

/* Polls GET path (as site) until field equals one of the values. */
static json_t *wait_field(const char *path, const struct site *site,
                          const char *field, const char *a, const char *b)
{
    int64_t deadline = clock_monotonic_ms() + WAIT_MS;

    while (clock_monotonic_ms() < deadline) {
        json_t *body = expect("GET", path, site->instance, NULL, 200);
        const char *value = json_string_value(json_at(body, field));

        if (value && (strcmp(value, a) == 0 || (b && strcmp(value, b) == 0)))
            return body;
        json_decref(body);
        clock_sleep_ms(200);
    }
    fail_msg("%s never had %s = %s", path, field, a);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */

static void set_environment(void)
{
    struct http_client_response resp;
    char value[512];

    snprintf(value, sizeof(value), "%s/data", fx.dir);
    setenv("SITESMITH_DATA_DIR", value, 1);
    setenv("SITESMITH_DATABASE_URL", fx.db.url, 1);
    setenv("SITESMITH_WIX_API_URL", fx.sandbox.wix_url, 1);
    setenv("OPENAI_BASE_URL", fx.sandbox.openai_url, 1);
    setenv("SITESMITH_REPLICATE_API_URL", fx.sandbox.replicate_url, 1);
    setenv("OPENAI_API_KEY", OPENAI_KEY, 1);
    setenv("REPLICATE_API_TOKEN", REPLICATE_TOKEN, 1);
    setenv("SITESMITH_WIX_APP_ID", SANDBOX_PROC_APP_ID, 1);
    setenv("SITESMITH_WIX_APP_SECRET", APP_SECRET, 1);
    setenv("SITESMITH_PLANS", "free:500", 1);
    setenv("SITESMITH_API_RATE_LIMIT", RATE_LIMIT, 1);
    snprintf(value, sizeof(value), "%s/installer/install", fx.sandbox.url);
    setenv("SITESMITH_WIX_INSTALLER_URL", value, 1);
    snprintf(value, sizeof(value), "%s/installer/close-window", fx.sandbox.url);
    setenv("SITESMITH_WIX_INSTALL_DONE_URL", value, 1);
    crypto_random_hex(fx.secret_key, 32);
    setenv("SITESMITH_SECRET_KEY", fx.secret_key, 1);
    /* Every line serve can write goes to the log the test searches. */
    setenv("SITESMITH_LOG_LEVEL", "debug", 1);

    assert_int_equal(sandbox_proc_send(&fx.sandbox, "GET",
                                       "/__sandbox/webhooks/public-key", NULL,
                                       NULL, &resp),
                     200);
    setenv("SITESMITH_WIX_PUBLIC_KEY", resp.body.data, 1);
    http_client_response_release(&resp);
}

static int setup(void **state)
{
    const char *sandbox_args[] = {"--app-secret", APP_SECRET, "--state",
                                  fx.state_path, NULL};

    (void)state;
    assert_int_equal(crypto_init(), 0);
    buf_init(&fx.responses, 256 * 1024 * 1024);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/sitesmith-security-XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    snprintf(fx.log_path, sizeof(fx.log_path), "%s/serve.log", fx.dir);
    snprintf(fx.state_path, sizeof(fx.state_path), "%s/sandbox.json", fx.dir);
    fx.db.backend =
        store_fixture_have_postgres() ? STORE_POSTGRES : STORE_SQLITE;
    assert_int_equal(store_fixture_prepare(&fx.db), 0);
    sandbox_proc_start(&fx.sandbox, sandbox_args);
    set_environment();
    serve_proc_start(&fx.serve, fx.log_path, 2);

    site_new(&fx.a, "{\"fixture\": \"store\", \"catalog_version\": 1}");
    site_new(&fx.b, "{\"fixture\": \"store\", \"catalog_version\": 1}");
    site_new(&fx.c, "{}");
    site_new(&fx.legacy, "{\"fixture\": \"store\", \"catalog_version\": 1}");
    install(&fx.a);
    install(&fx.b);
    install(&fx.c);
    return 0;
}

static int teardown(void **state)
{
    char command[128];

    (void)state;
    assert_int_equal(serve_proc_stop(&fx.serve), 0);
    sandbox_proc_stop(&fx.sandbox);
    store_fixture_close(&fx.db);
    free(fx.a.instance);
    free(fx.b.instance);
    free(fx.c.instance);
    free(fx.legacy.instance);
    free(fx.close_window);
    buf_free(&fx.responses);
    snprintf(command, sizeof(command), "rm -rf %s", fx.dir);
    return system(command) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Tenant isolation                                                    */
/* ------------------------------------------------------------------ */

/* Site A's resources, one of each kind that a route takes an id of. */
struct resources {
    char blog[64];
    char product_job[64];
    char product_item[64];
    char image_job[64];
    char image_item[64];
    char campaign[64];
    char campaign_post[64];
};

static void copy_id(char out[64], const json_t *body, const char *path)
{
    const char *value = json_string_value(json_at(body, path));

    if (!value)
        fail_msg("no %s in the response", path);
    snprintf(out, 64, "%s", value);
}

/* The id of the first product of site A's store. */
static void first_product(char out[64])
{
    json_t *products =
        expect("GET", "/api/products?limit=5", fx.a.instance, NULL, 200);

    copy_id(out, products, "products[0].id");
    json_decref(products);
}

static void make_resources(struct resources *r)
{
    char product[64];
    char body[512];
    char path[256];
    json_t *json;

    json = expect("POST", "/api/blog/generations", fx.a.instance,
                  "{\"topic\": \"linen care\"}", 202);
    copy_id(r->blog, json, "id");
    json_decref(json);
    snprintf(path, sizeof(path), "/api/blog/generations/%s", r->blog);
    json_decref(wait_field(path, &fx.a, "state", "awaiting_selection", NULL));

    first_product(product);
    snprintf(body, sizeof(body),
             "{\"product_ids\": [\"%s\"], \"fields\": [\"name\"]}", product);
    json = expect("POST", "/api/product-jobs", fx.a.instance, body, 202);
    copy_id(r->product_job, json, "id");
    json_decref(json);
    snprintf(path, sizeof(path), "/api/product-jobs/%s/items", r->product_job);
    json = wait_field(path, &fx.a, "items[0].state", "ready", "failed");
    if (strcmp(json_string_value(json_at(json, "items[0].state")), "ready"))
        fail_msg("product item failed: %s", json_dumps(json, 0));
    copy_id(r->product_item, json, "items[0].id");
    json_decref(json);

    snprintf(body, sizeof(body),
             "{\"product_ids\": [\"%s\"], \"operation\": \"compress\"}",
             product);
    json = expect("POST", "/api/image-jobs", fx.a.instance, body, 202);
    copy_id(r->image_job, json, "id");
    json_decref(json);
    snprintf(path, sizeof(path), "/api/image-jobs/%s/items", r->image_job);
    json = wait_field(path, &fx.a, "items[0].state", "ready", "failed");
    copy_id(r->image_item, json, "items[0].id");
    json_decref(json);

    json = expect("POST", "/api/campaigns", fx.a.instance,
                  "{\"name\": \"Tea Tuesdays\", \"time_zone\": \"UTC\", "
                  "\"theme\": {\"topic\": \"tea\"}, \"schedule\": "
                  "{\"rules\": [{\"frequency\": \"weekly\", \"weekdays\": "
                  "[\"tuesday\"], \"time\": \"09:00\"}]}}",
                  201);
    copy_id(r->campaign, json, "id");
    copy_id(r->campaign_post, json, "next_post.id");
    json_decref(json);
}

/* A route of the API that takes an id, as the route tables list it. */
struct route {
    char method[8];
    char pattern[160];
};

/* Adds the "METHOD", "/api/...{name}..." pairs of one source file. */
static size_t scan_routes(const char *path, const regex_t *pattern,
                          struct route *out, size_t max)
{
    static char text[256 * 1024];
    FILE *file = fopen(path, "r");
    size_t count = 0;
    size_t length;
    regmatch_t match[3];
    const char *at = text;

    if (!file)
        fail_msg("cannot read %s", path);
    length = fread(text, 1, sizeof(text) - 1, file);
    fclose(file);
    text[length] = '\0';
    while (count < max && regexec(pattern, at, 3, match, 0) == 0) {
        snprintf(out[count].method, sizeof(out[count].method), "%.*s",
                 (int)(match[1].rm_eo - match[1].rm_so), at + match[1].rm_so);
        snprintf(out[count].pattern, sizeof(out[count].pattern), "%.*s",
                 (int)(match[2].rm_eo - match[2].rm_so), at + match[2].rm_so);
        count++;
        at += match[0].rm_eo;
    }
    return count;
}

/* Reads the routes with a path parameter from every file under src/api
 * (ctest runs in the source folder), so a new route is probed too. */
static size_t find_id_routes(struct route *out, size_t max)
{
    DIR *folder = opendir("src/api");
    struct dirent *entry;
    regex_t pattern;
    size_t count = 0;

    assert_non_null(folder);
    assert_int_equal(regcomp(&pattern,
                             "\"(GET|POST|PATCH|PUT|DELETE)\",[[:space:]]*"
                             "\"(/api/[^\"]*\\{[a-z_]+\\}[^\"]*)\"",
                             REG_EXTENDED),
                     0);
    while ((entry = readdir(folder))) {
        size_t length = strlen(entry->d_name);
        char path[300];

        if (length < 3 || strcmp(entry->d_name + length - 2, ".c") != 0)
            continue;
        snprintf(path, sizeof(path), "src/api/%s", entry->d_name);
        count += scan_routes(path, &pattern, out + count, max - count);
    }
    closedir(folder);
    regfree(&pattern);
    return count;
}

/* Replaces "{name}" in pattern with value. */
static void fill(char *path, size_t size, const char *name, const char *value)
{
    char key[32];
    char rest[512];
    char *at;

    snprintf(key, sizeof(key), "{%s}", name);
    at = strstr(path, key);
    if (!at)
        return;
    snprintf(rest, sizeof(rest), "%s", at + strlen(key));
    snprintf(at, size - (size_t)(at - path), "%s%s", value, rest);
}

/*
 * Builds the path and a valid body for site A's resource behind a route.
 * Returns 0, or 1 for a route whose id is not a sitesmith resource.
 */
static int route_request(const struct route *route, const struct resources *r,
                         char *path, size_t size, char *body, size_t body_size)
{
    const char *item = NULL;

    snprintf(path, size, "%s", route->pattern);
    body[0] = '\0';
    if (strncmp(path, "/api/products/{id}", 18) == 0)
        return 1; /* a Wix product id, looked up with the caller's token */
    if (strncmp(path, "/api/blog/generations/", 22) == 0) {
        fill(path, size, "id", r->blog);
        snprintf(body, body_size, "%s",
                 strstr(path, "/select") ? "{\"index\": 0}" : "{}");
    } else if (strncmp(path, "/api/product-jobs/", 18) == 0) {
        fill(path, size, "id", r->product_job);
        item = r->product_item;
    } else if (strncmp(path, "/api/image-jobs/", 16) == 0) {
        fill(path, size, "id", r->image_job);
        item = r->image_item;
    } else if (strncmp(path, "/api/campaigns/", 15) == 0) {
        fill(path, size, "id", r->campaign);
        fill(path, size, "post_id", r->campaign_post);
        snprintf(body, body_size, "%s",
                 strstr(path, "/posts/") ? "{\"topic\": \"stolen\"}"
                                         : "{\"name\": \"stolen\"}");
    } else {
        fail_msg("%s %s takes an id, but this test has no resource for it: "
                 "add one to struct resources",
                 route->method, route->pattern);
    }
    if (item) {
        fill(path, size, "item_id", item);
        snprintf(body, body_size, "{\"item_ids\": [\"%s\"]}", item);
    }
    if (strcmp(route->method, "GET") == 0 ||
        strcmp(route->method, "DELETE") == 0)
        body[0] = '\0';
    return 0;
}

/* Calls every id route as site B with site A's ids; all must be 404. */
static size_t probe_as_other_site(const struct resources *r, const char *only)
{
    struct route routes[MAX_ROUTES];
    size_t count = find_id_routes(routes, MAX_ROUTES);
    size_t probed = 0;

    for (size_t i = 0; i < count; i++) {
        char path[512];
        char body[256];
        long status;

        if (only && !strstr(routes[i].pattern, only))
            continue;
        if (route_request(&routes[i], r, path, sizeof(path), body,
                          sizeof(body)) != 0)
            continue;
        status = call(routes[i].method, path, fx.b.instance,
                      body[0] ? "application/json" : NULL,
                      body[0] ? body : NULL, NULL);
        if (status != 404)
            fail_msg("%s %s as another site: expected 404, got %ld",
                     routes[i].method, path, status);
        probed++;
    }
    return probed;
}

static void expect_state(const char *path, const char *field,
                         const char *expected)
{
    json_t *body = expect("GET", path, fx.a.instance, NULL, 200);

    assert_string_equal(json_string_value(json_at(body, field)), expected);
    json_decref(body);
}

static void other_site_gets_404(void **state)
{
    struct resources r;
    char path[256];
    char body[128];
    size_t probed;
    json_t *json;

    (void)state;
    make_resources(&r);
    probed = probe_as_other_site(&r, NULL);
    /* Blog 4, product jobs 9, image jobs 10 and campaigns 11 when this
     * was written; a broken route parser would find none. */
    assert_true(probed >= 34);

    /* Nothing of site A changed. */
    snprintf(path, sizeof(path), "/api/blog/generations/%s", r.blog);
    expect_state(path, "state", "awaiting_selection");
    snprintf(path, sizeof(path), "/api/product-jobs/%s/items/%s", r.product_job,
             r.product_item);
    expect_state(path, "state", "ready");
    snprintf(path, sizeof(path), "/api/campaigns/%s", r.campaign);
    expect_state(path, "name", "Tea Tuesdays");

    /* Once applied, reverting as another site fails too. */
    snprintf(path, sizeof(path), "/api/product-jobs/%s/items/apply",
             r.product_job);
    snprintf(body, sizeof(body), "{\"item_ids\": [\"%s\"]}", r.product_item);
    json_decref(expect("POST", path, fx.a.instance, body, 202));
    snprintf(path, sizeof(path), "/api/product-jobs/%s/items/%s", r.product_job,
             r.product_item);
    json = wait_field(path, &fx.a, "state", "applied", "failed");
    assert_string_equal(json_string_value(json_object_get(json, "state")),
                        "applied");
    json_decref(json);
    assert_true(probe_as_other_site(&r, "/revert") >= 1);
    expect_state(path, "state", "applied");

    /* Lists show only the caller's own resources. */
    json = expect("GET", "/api/blog/generations", fx.b.instance, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(json, "generations")), 0);
    json_decref(json);
    json = expect("GET", "/api/product-jobs", fx.b.instance, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(json, "jobs")), 0);
    json_decref(json);
}

/* ------------------------------------------------------------------ */
/* Limits and headers                                                  */
/* ------------------------------------------------------------------ */

static void expect_api_headers(const struct http_client_response *resp)
{
    const char *cache = http_client_header(resp, "cache-control");
    const char *nosniff = http_client_header(resp, "x-content-type-options");

    assert_non_null(cache);
    assert_string_equal(cache, "no-store");
    assert_non_null(nosniff);
    assert_string_equal(nosniff, "nosniff");
}

static void rate_limit_per_site(void **state)
{
    struct http_client_response resp;
    int limited = 0;
    long status;

    (void)state;
    for (int i = 0; i < 300 && !limited; i++) {
        status = call("GET", "/api/me", fx.c.instance, NULL, NULL, &resp);
        if (status == 429) {
            const char *retry = http_client_header(&resp, "retry-after");
            json_t *body = json_loads(resp.body.data, 0, NULL);

            assert_non_null(retry);
            assert_true(atoi(retry) >= 1);
            assert_string_equal(json_string_value(json_at(body, "error.code")),
                                "rate_limited");
            expect_api_headers(&resp);
            json_decref(body);
            limited = 1;
        } else {
            assert_int_equal(status, 200);
        }
        http_client_response_release(&resp);
    }
    assert_true(limited);
    /* Another site is not slowed down by it. */
    json_decref(expect("GET", "/api/me", fx.b.instance, NULL, 200));
}

static void body_and_depth_limits(void **state)
{
    struct http_client_response resp;
    struct buf big;
    char deep[256];
    int depth;
    json_t *body;

    (void)state;
    buf_init(&big, 1024 * 1024);
    buf_append_str(&big, "{\"topic\": \"");
    for (int i = 0; i < 300 * 1024; i++)
        buf_append(&big, "x", 1);
    buf_append_str(&big, "\"}");
    assert_int_equal(call("POST", "/api/blog/generations", fx.a.instance,
                          "application/json", big.data, NULL),
                     413);
    buf_free(&big);

    /* 17 levels: one past the limit. */
    depth = 0;
    deep[0] = '\0';
    strcat(deep, "{\"topic\": \"x\", \"k\": ");
    for (int i = 0; i < 16; i++, depth++)
        strcat(deep, "[");
    for (int i = 0; i < depth; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    assert_int_equal(call("POST", "/api/blog/generations", fx.a.instance,
                          "application/json", deep, &resp),
                     400);
    body = json_loads(resp.body.data, 0, NULL);
    assert_non_null(strstr(json_string_value(json_at(body, "error.message")),
                           "nested deeper than 16"));
    expect_api_headers(&resp);
    json_decref(body);
    http_client_response_release(&resp);
}

static void content_types_strict(void **state)
{
    struct http_client_response resp;
    json_t *body;

    (void)state;
    assert_int_equal(call("POST", "/api/blog/generations", fx.a.instance,
                          "text/plain", "{\"topic\": \"x\"}", &resp),
                     415);
    body = json_loads(resp.body.data, 0, NULL);
    assert_string_equal(json_string_value(json_at(body, "error.code")),
                        "unsupported_media_type");
    expect_api_headers(&resp);
    json_decref(body);
    http_client_response_release(&resp);
    assert_int_equal(call("POST", "/api/product-jobs", fx.a.instance,
                          "application/x-www-form-urlencoded", "all=true",
                          NULL),
                     415);
    assert_int_equal(call("POST", "/api/campaigns", fx.a.instance, NULL,
                          "{\"name\": \"x\"}", NULL),
                     415);
    /* A charset parameter is still JSON; this one fails on its content. */
    assert_int_equal(call("POST", "/api/blog/generations", fx.a.instance,
                          "application/json; charset=utf-8",
                          "{\"keywords\": 5}", NULL),
                     400);
}

static void response_headers_set(void **state)
{
    struct http_client_response resp;
    const char *csp;

    (void)state;
    assert_int_equal(call("GET", "/api/me", fx.a.instance, NULL, NULL, &resp),
                     200);
    expect_api_headers(&resp);
    http_client_response_release(&resp);
    assert_int_equal(call("GET", "/api/me", NULL, NULL, NULL, &resp), 401);
    expect_api_headers(&resp);
    http_client_response_release(&resp);
    assert_int_equal(call("GET", "/api/blog/generations/no-such-id",
                          fx.a.instance, NULL, NULL, &resp),
                     404);
    expect_api_headers(&resp);
    http_client_response_release(&resp);

    /* The dashboard page may only be framed by Wix. */
    call("GET", "/dashboard", NULL, NULL, NULL, &resp);
    csp = http_client_header(&resp, "content-security-policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "frame-ancestors"));
    assert_non_null(strstr(csp, "https://*.wix.com"));
    assert_null(strstr(csp, "frame-ancestors *"));
    assert_string_equal(http_client_header(&resp, "x-content-type-options"),
                        "nosniff");
    http_client_response_release(&resp);
}

/* ------------------------------------------------------------------ */
/* Secrets                                                             */
/* ------------------------------------------------------------------ */

/* Runs the legacy install for the legacy site; keeps the close-window
 * Location apart, because Wix's flow puts the access token in it. */
static void legacy_install(void)
{
    struct http_client_response resp;
    const char *headers[2] = {NULL, NULL};
    char cookie[160];
    char state_value[64];
    char path[512];
    const char *location;
    const char *at;
    json_t *code;

    assert_int_equal(serve_proc_send(&fx.serve, "GET",
                                     "/oauth/install?token=install-token", NULL,
                                     NULL, NULL, &resp),
                     302);
    record_response(&resp, NULL);
    location = http_client_header(&resp, "location");
    at = strstr(location, "state=");
    assert_non_null(at);
    snprintf(state_value, sizeof(state_value), "%.32s", at + 6);
    snprintf(cookie, sizeof(cookie), "Cookie: %.*s",
             (int)strcspn(http_client_header(&resp, "set-cookie"), ";"),
             http_client_header(&resp, "set-cookie"));
    http_client_response_release(&resp);

    snprintf(path, sizeof(path), "/__sandbox/sites/%s/auth-code", fx.legacy.id);
    code = sandbox_proc_call(&fx.sandbox, "POST", path, NULL, 200);
    snprintf(path, sizeof(path), "/oauth/callback?code=%s&state=%s",
             json_string_value(json_object_get(code, "code")), state_value);
    json_decref(code);
    headers[0] = cookie;
    assert_int_equal(
        serve_proc_send(&fx.serve, "GET", path, headers, NULL, NULL, &resp),
        302);
    record_response(&resp, "location");
    fx.close_window = strdup(http_client_header(&resp, "location"));
    http_client_response_release(&resp);

    /* The legacy site's calls refresh through the refresh token. */
    json_decref(
        expect("GET", "/api/products?limit=2", fx.legacy.instance, NULL, 200));
}

static void run_blog_to_done(const struct site *site)
{
    char path[256];
    json_t *gen = expect("POST", "/api/blog/generations", site->instance,
                         "{\"topic\": \"washing linen\"}", 202);
    char id[64];

    copy_id(id, gen, "id");
    json_decref(gen);
    snprintf(path, sizeof(path), "/api/blog/generations/%s", id);
    json_decref(wait_field(path, site, "state", "awaiting_selection", NULL));
    snprintf(path, sizeof(path), "/api/blog/generations/%s/select", id);
    json_decref(expect("POST", path, site->instance, "{\"index\": 0}", 202));
    snprintf(path, sizeof(path), "/api/blog/generations/%s", id);
    json_decref(wait_field(path, site, "state", "done", NULL));
}

static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    struct buf text;
    char chunk[65536];
    size_t got;

    assert_non_null(file);
    buf_init(&text, 512 * 1024 * 1024);
    while ((got = fread(chunk, 1, sizeof(chunk), file)) > 0)
        assert_int_equal(buf_append(&text, chunk, got), 0);
    fclose(file);
    return buf_detach(&text, NULL);
}

/* Adds every key of the object at the given place in the state. */
static void add_keys(json_t *secrets, const json_t *state, const char *path)
{
    const json_t *table = json_at(state, path);
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)table, key, value)
    {
        (void)value;
        json_array_append_new(secrets, json_string(key));
    }
}

static void expect_absent(const char *haystack, const char *where,
                          const json_t *secrets)
{
    size_t i;
    json_t *secret;

    json_array_foreach(secrets, i, secret)
    {
        if (strstr(haystack, json_string_value(secret)))
            fail_msg("a secret (%zu chars, \"%.4s...\") appears in %s",
                     json_string_length(secret), json_string_value(secret),
                     where);
    }
}

static void secrets_never_leak(void **state)
{
    json_t *sandbox_state;
    json_t *secrets = json_array();
    char *log;
    char done[256];

    (void)state;
    /* A blog post and the legacy install here; webhooks, product, image
     * and campaign jobs ran in the earlier tests, logging to the same
     * file. */
    run_blog_to_done(&fx.a);
    legacy_install();

    json_decref(
        sandbox_proc_call(&fx.sandbox, "POST", "/__sandbox/save", NULL, 200));
    log = read_file(fx.state_path);
    sandbox_state = json_loads(log, 0, NULL);
    free(log);
    assert_non_null(sandbox_state);
    json_array_append_new(secrets, json_string(APP_SECRET));
    json_array_append_new(secrets, json_string(OPENAI_KEY));
    json_array_append_new(secrets, json_string(REPLICATE_TOKEN));
    json_array_append_new(secrets, json_string(fx.secret_key));
    add_keys(secrets, sandbox_state, "wix.tokens");
    add_keys(secrets, sandbox_state, "wix.refresh_tokens");
    json_decref(sandbox_state);
    /* Tokens of sites A and B, and the legacy site's refresh token. */
    assert_true(json_array_size(secrets) >= 4 + 3);

    assert_int_equal(serve_proc_stop(&fx.serve), 0);
    log = read_file(fx.log_path);
    /* The log is real: it shows the flows that ran. */
    assert_non_null(strstr(log, "webhook received"));
    assert_non_null(strstr(log, "legacy install stored"));
    expect_absent(log, "serve's log", secrets);
    expect_absent(fx.responses.data, "a response", secrets);
    free(log);

    /* Wix's legacy flow puts the new access token in this one URL. */
    snprintf(done, sizeof(done),
             "%s/installer/close-window?access_token=", fx.sandbox.url);
    assert_memory_equal(fx.close_window, done, strlen(done));
    json_decref(secrets);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(other_site_gets_404),
        cmocka_unit_test(rate_limit_per_site),
        cmocka_unit_test(body_and_depth_limits),
        cmocka_unit_test(content_types_strict),
        cmocka_unit_test(response_headers_set),
        cmocka_unit_test(secrets_never_leak),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
