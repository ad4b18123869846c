/*
 * A 300-product job in auto mode on a worker pool, through 429s from
 * OpenAI and Wix, an access token that expires at Wix half-way, and a
 * worker restart: every product is applied and charged once, and no item
 * requests the model twice. On SQLite and on PostgreSQL.
 */
#include "products_env.h"

#define BULK_PRODUCTS 300
#define BULK_FIELDS 4
#define BULK_CREDITS 5000
#define BULK_WORKERS 8
/* Wall-clock limit for the whole run. */
#define BULK_TIMEOUT_MS (150 * 1000)

/* A site whose store has BULK_PRODUCTS products; its id into out. */
static void add_bulk_site(struct blog_env *env, char out[128])
{
    json_t *products = json_array();
    json_t *body;
    json_t *site;
    char *text;
    struct store_tx *tx;
    struct error err;

    for (int i = 0; i < BULK_PRODUCTS; i++) {
        char name[64];
        char description[160];

        snprintf(name, sizeof(name), "Bulk Linen Towel %03d", i);
        snprintf(description, sizeof(description),
                 "<p>Towel number %d, woven from linen in small batches.</p>"
                 "<ul><li>Size %d cm</li></ul>",
                 i, 40 + i % 30);
        json_array_append_new(
            products, json_pack("{s:s, s:s, s:f}", "name", name, "description",
                                description, "price", 10.0 + i % 7));
    }
    body = json_pack("{s:o, s:i}", "products", products, "catalog_version", 1);
    text = json_dumps(body, JSON_COMPACT);
    site = sandbox_proc_create_site(&env->sandbox, text);
    snprintf(out, 128, "%s",
             json_string_value(json_object_get(site, "instance_id")));
    free(text);
    json_decref(site);
    json_decref(body);

    error_clear(&err);
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(store_instance_put(tx, out, "installed", NULL, NULL, &err),
                     0);
    assert_int_equal(
        store_credits_grant(tx, out, BULK_CREDITS, "bulk-grant", NULL, &err),
        1);
    assert_int_equal(store_commit(tx, &err), 0);
}

static struct queue_pool *start_pool(struct blog_env *env)
{
    struct queue_pool_options options = {
        .workers = BULK_WORKERS, .poll_ms = 50, .grace_ms = 20000};
    struct queue_pool *pool;
    struct error err;

    error_clear(&err);
    pool = queue_pool_new(env->app->store, &options, &err);
    assert_non_null(pool);
    assert_int_equal(products_register_jobs(env->app, pool, &err), 0);
    assert_int_equal(queue_pool_start(pool, &err), 0);
    return pool;
}

/* The trouble injected as the run goes on. Generation runs ahead of the
 * writes, so the OpenAI 429s start by generated items and the rest by
 * applied items. */
struct trouble {
    int openai_limited; /* 429s from OpenAI, at 100 generated */
    int wix_limited;    /* 429s from Wix, at 100 applied */
    int token_expired;  /* the token expires at Wix, at 150 applied */
    int restarted;      /* the pool restarts, at 200 applied */
};

static void make_trouble(struct blog_env *env, struct queue_pool **pool,
                         const struct products_progress *progress,
                         struct trouble *t)
{
    int64_t generated = progress->total - progress->pending - progress->running;

    if (!t->openai_limited && generated >= 100) {
        json_decref(sandbox_proc_add_fault(
            &env->sandbox,
            "{\"endpoint\": \"POST /openai/v1/chat/completions\", \"mode\": "
            "\"status\", \"status\": 429, \"count\": 12}"));
        t->openai_limited = 1;
    }
    if (!t->wix_limited && progress->applied >= 100) {
        json_decref(sandbox_proc_add_fault(
            &env->sandbox,
            "{\"endpoint\": \"PATCH /wix/stores/v1/products/*\", \"mode\": "
            "\"status\", \"status\": 429, \"retry_after_s\": 1, \"count\": "
            "8}"));
        t->wix_limited = 1;
    }
    if (!t->token_expired && progress->applied >= 150) {
        /* Wix's clock passes the token's four hours; this process still
         * trusts the token, so the next calls get 401. */
        sandbox_proc_advance(&env->sandbox, 4 * 3600 + 60);
        t->token_expired = 1;
    }
    if (!t->restarted && progress->applied >= 200) {
        queue_pool_stop(*pool);
        queue_pool_free(*pool);
        *pool = start_pool(env);
        t->restarted = 1;
    }
}

static int64_t query_count(struct blog_env *env, const char *sql,
                           const char *job_id)
{
    struct store_tx *tx;
    struct error err;
    int64_t count = -1;

    error_clear(&err);
    tx = store_begin_read(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_query_int(tx, sql, STORE_ARGS(STORE_TEXT(job_id)), &count, &err),
        1);
    store_rollback(tx);
    return count;
}

/* Every product has the name its item generated. */
static void assert_all_written(struct blog_env *env, const char *job_id)
{
    json_t *site = sandbox_proc_site(&env->sandbox, env->instance_id);
    json_t *names = json_object();
    struct error err;
    char *cursor = NULL;
    size_t i;
    json_t *product;

    do {
        json_t *page = products_items_json(env->app, env->instance_id, job_id,
                                           NULL, 100, cursor, &err);
        json_t *item;

        assert_non_null(page);
        json_array_foreach(json_object_get(page, "items"), i, item)
            json_object_set(
                names, json_string_value(json_object_get(item, "product_id")),
                json_at(item, "after.name"));
        free(cursor);
        cursor = json_is_string(json_object_get(page, "next_cursor"))
                     ? strdup(json_string_value(
                           json_object_get(page, "next_cursor")))
                     : NULL;
        json_decref(page);
    } while (cursor);
    assert_int_equal(json_object_size(names), BULK_PRODUCTS);
    json_array_foreach(json_object_get(site, "products"), i, product)
    {
        const json_t *name = json_object_get(
            names, json_string_value(json_object_get(product, "id")));

        assert_non_null(name);
        assert_string_equal(json_string_value(json_object_get(product, "name")),
                            json_string_value(name));
    }
    json_decref(names);
    json_decref(site);
}

static void bulk_auto_survives_trouble(void **state)
{
    struct blog_env *env = *state;
    struct trouble trouble = {0};
    struct products_progress progress;
    struct queue_pool *pool;
    char job_id[STORE_UUID_SIZE];
    int64_t started;

    products_env_prepare(env, env->backend);
    blog_env_set(env, "SITESMITH_WIX_MAX_WAIT", "30s");
    blog_env_open(env);
    clock_use_system();
    add_bulk_site(env, env->instance_id);
    sandbox_proc_configure(&env->sandbox, "{\"openai\": {\"latency_ms\": 0}}");

    products_env_create(env, "{\"all\": true, \"mode\": \"auto\"}", job_id);
    started = clock_monotonic_ms();
    pool = start_pool(env);
    do {
        usleep(20 * 1000);
        progress = products_env_progress(env, job_id);
        make_trouble(env, &pool, &progress, &trouble);
    } while (!products_progress_settled(&progress) &&
             clock_monotonic_ms() - started < BULK_TIMEOUT_MS);
    queue_pool_stop(pool);
    queue_pool_free(pool);
    print_message("bulk run: %d items in %.1f s\n", BULK_PRODUCTS,
                  (double)(clock_monotonic_ms() - started) / 1000.0);

    assert_true(trouble.restarted);
    assert_int_equal(progress.total, BULK_PRODUCTS);
    assert_int_equal(progress.applied, BULK_PRODUCTS);
    /* Each item asked the model once, and was written once. */
    assert_int_equal(products_env_count(env, "POST", "/openai/", 200),
                     BULK_PRODUCTS);
    assert_int_equal(
        products_env_count(env, "PATCH", "/wix/stores/v1/products/", 200),
        BULK_PRODUCTS);
    /* The trouble happened and was survived. */
    assert_true(products_env_count(env, "POST", "/openai/", 429) > 0);
    assert_true(products_env_count(env, "PATCH", "/wix/stores/", 429) > 0);
    assert_true(products_env_count(env, "GET", "/wix/stores/", 401) > 0);
    /* Charged once per item: one capture each, nothing left reserved. */
    assert_int_equal(query_count(env,
                                 "SELECT COUNT(*) FROM credit_ledger WHERE "
                                 "kind = 'capture' AND generation_id IN "
                                 "(SELECT id FROM generations WHERE "
                                 "parent_id = ?)",
                                 job_id),
                     BULK_PRODUCTS);
    assert_int_equal(blog_env_credits(env).reserved, 0);
    assert_int_equal(blog_env_credits(env).available,
                     BULK_CREDITS - BULK_PRODUCTS * BULK_FIELDS);
    assert_all_written(env, job_id);
}

#define PRODUCT_BULK_TESTS(ON) ON(bulk_auto_survives_trouble)

int main(void)
{
    int failed = 0;

    BLOG_RUN_TESTS("product optimizer bulk", PRODUCT_BULK_TESTS);
    return failed;
}
