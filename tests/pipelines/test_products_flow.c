/*
 * The Product Optimizer end to end on the sandbox's store: review, apply
 * and revert, conflicts, writes that do not take, awkward products,
 * credits, cancelling and Catalog V3, on SQLite and on PostgreSQL.
 */
#include "products_env.h"

#include "pipelines/products_text.h"

#include <pthread.h>

static json_t *item_at(const json_t *items, size_t index)
{
    json_t *item = json_array_get(items, index);

    assert_non_null(item);
    return item;
}

static const char *item_state(const json_t *item)
{
    return json_string_value(json_object_get(item, "state"));
}

static void assert_same_text(const json_t *product, const json_t *original)
{
    assert_string_equal(json_string_value(json_object_get(product, "name")),
                        json_string_value(json_object_get(original, "name")));
    assert_string_equal(
        json_string_value(json_object_get(product, "description")),
        json_string_value(json_object_get(original, "description")));
    assert_true(json_equal(json_object_get(product, "seoData"),
                           json_object_get(original, "seoData")));
}

/* One product in review mode: ready, applied, reverted to the exact
 * original text, and charged once. */
static void review_apply_revert(void **state)
{
    struct blog_env *env = *state;
    char product_id[128];
    char request[512];
    char job_id[STORE_UUID_SIZE];
    json_t *original;
    json_t *items;
    json_t *item;
    json_t *applied;
    json_t *reverted;
    char *item_id;
    struct store_credits credits;

    products_env_start(env, env->backend);
    products_env_id(env, "Stoneware Mug Seo Existing", product_id);
    original = products_env_product(env, product_id, NULL);
    snprintf(request, sizeof(request), "{\"product_ids\": [\"%s\"]}",
             product_id);
    products_env_create(env, request, job_id);

    credits = blog_env_credits(env);
    assert_int_equal(credits.reserved, 4);
    assert_int_equal(credits.available, BLOG_ENV_CREDITS - 4);
    products_env_settle(env, job_id);
    items = products_env_items(env, job_id);
    assert_int_equal(json_array_size(items), 1);
    item = item_at(items, 0);
    item_id = strdup(json_string_value(json_object_get(item, "id")));
    assert_string_equal(item_state(item), PRODUCTS_READY);
    assert_string_equal(json_string_value(json_at(item, "before.name")),
                        json_string_value(json_object_get(original, "name")));
    assert_string_equal(json_string_value(json_at(item, "before.seo_title")),
                        products_env_seo_title(original));
    assert_true(json_string_length(json_at(item, "after.name")) > 0);
    assert_true(json_string_length(json_at(item, "after.description")) > 0);
    assert_true(json_string_length(json_at(item, "after.seo_title")) > 0);
    assert_true(json_string_length(json_at(item, "after.seo_description")) > 0);
    /* Review mode: nothing is written before the owner applies. */
    assert_int_equal(products_env_count(env, "PATCH", "/wix/stores/", 0), 0);
    assert_int_equal(blog_env_credits(env).reserved, 4);

    json_decref(products_env_act(env, job_id, PRODUCTS_APPLY,
                                 (const char *const *)&item_id, 1, 0));
    products_env_settle(env, job_id);
    applied = products_env_product(env, product_id, NULL);
    assert_string_equal(json_string_value(json_object_get(applied, "name")),
                        json_string_value(json_at(item, "after.name")));
    assert_string_equal(
        json_string_value(json_object_get(applied, "description")),
        json_string_value(json_at(item, "after.description")));
    assert_string_equal(products_env_seo_title(applied),
                        json_string_value(json_at(item, "after.seo_title")));
    credits = blog_env_credits(env);
    assert_int_equal(credits.reserved, 0);
    assert_int_equal(credits.available, BLOG_ENV_CREDITS - 4);

    json_decref(items);
    json_decref(products_env_act(env, job_id, PRODUCTS_REVERT,
                                 (const char *const *)&item_id, 1, 0));
    products_env_settle(env, job_id);
    items = products_env_items(env, job_id);
    assert_string_equal(item_state(item_at(items, 0)), PRODUCTS_REVERTED);
    reverted = products_env_product(env, product_id, NULL);
    assert_same_text(reverted, original);
    /* The revert is free. */
    assert_int_equal(blog_env_credits(env).available, BLOG_ENV_CREDITS - 4);
    assert_int_equal(products_env_count(env, "PATCH", "/wix/stores/", 0), 2);

    json_decref(reverted);
    json_decref(applied);
    json_decref(items);
    json_decref(original);
    free(item_id);
}

/* Generates one product's item and returns its id (new string). */
static char *ready_item(struct blog_env *env, const char *product_id,
                        const char *extra, char job_id[STORE_UUID_SIZE])
{
    char request[512];
    json_t *items;
    char *item_id;

    snprintf(request, sizeof(request), "{\"product_ids\": [\"%s\"]%s}",
             product_id, extra ? extra : "");
    products_env_create(env, request, job_id);
    products_env_settle(env, job_id);
    items = products_env_items(env, job_id);
    assert_string_equal(item_state(item_at(items, 0)), PRODUCTS_READY);
    item_id =
        strdup(json_string_value(json_object_get(item_at(items, 0), "id")));
    json_decref(items);
    return item_id;
}

/* Changes a product's description as the owner would, through Wix. */
static void owner_edits(struct blog_env *env, const char *product_id,
                        const char *description)
{
    char token[4096];
    char path[256];
    char body[512];

    sandbox_proc_wix_token(&env->sandbox, env->instance_id, token,
                           sizeof(token));
    snprintf(path, sizeof(path), "/wix/stores/v1/products/%s", product_id);
    snprintf(body, sizeof(body), "{\"product\": {\"description\": \"%s\"}}",
             description);
    json_decref(
        sandbox_proc_wix_call(&env->sandbox, token, "PATCH", path, body, 200));
}

/* The owner edits the product between generation and apply: the item is
 * a conflict, the owner's text stays, the credits come back, and a
 * regenerated item starts from the owner's text. */
static void edit_before_apply_conflicts(void **state)
{
    struct blog_env *env = *state;
    char product_id[128];
    char job_id[STORE_UUID_SIZE];
    const char *edit = "<p>Hand-thrown by the owner, edited today.</p>";
    json_t *product;
    json_t *items;
    json_t *answer;
    const char *regenerated;
    char *item_id;

    products_env_start(env, env->backend);
    products_env_id(env, "Ocean Blue Shirt", product_id);
    item_id = ready_item(env, product_id, NULL, job_id);
    owner_edits(env, product_id, edit);

    json_decref(products_env_act(env, job_id, PRODUCTS_APPLY,
                                 (const char *const *)&item_id, 1, 0));
    products_env_settle(env, job_id);
    items = products_env_items(env, job_id);
    assert_string_equal(item_state(item_at(items, 0)), PRODUCTS_CONFLICT);
    assert_string_equal(
        json_string_value(json_at(item_at(items, 0), "error.kind")),
        "conflict");
    assert_non_null(
        strstr(json_string_value(json_at(item_at(items, 0), "error.message")),
               "description"));
    product = products_env_product(env, product_id, NULL);
    assert_string_equal(
        json_string_value(json_object_get(product, "description")), edit);
    assert_string_equal(json_string_value(json_object_get(product, "name")),
                        "Ocean Blue Shirt");
    assert_int_equal(products_env_count(env, "PATCH", "/wix/stores/", 200), 1);
    assert_int_equal(blog_env_credits(env).available, BLOG_ENV_CREDITS);
    assert_int_equal(blog_env_credits(env).reserved, 0);

    answer = products_env_act(env, job_id, PRODUCTS_REGENERATE,
                              (const char *const *)&item_id, 1, 0);
    assert_int_equal(json_array_size(json_object_get(answer, "accepted")), 1);
    regenerated = json_string_value(
        json_array_get(json_object_get(answer, "accepted"), 0));
    products_env_settle(env, job_id);
    json_decref(items);
    items = products_env_items(env, job_id);
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(
        json_string_value(json_object_get(item_at(items, 1), "id")),
        regenerated);
    assert_string_equal(item_state(item_at(items, 1)), PRODUCTS_READY);
    assert_string_equal(
        json_string_value(json_at(item_at(items, 1), "before.description")),
        edit);
    assert_string_equal(
        json_string_value(json_object_get(item_at(items, 0), "regenerated_as")),
        regenerated);

    json_decref(answer);
    json_decref(items);
    json_decref(product);
    free(item_id);
}

/* Wix responds 200 to the write and changes nothing: the item fails,
 * naming the field, and is not charged. */
static void untaken_write_fails_item(void **state)
{
    struct blog_env *env = *state;
    char product_id[128];
    char job_id[STORE_UUID_SIZE];
    char fault[512];
    json_t *items;
    const char *message;
    char *item_id;

    products_env_start(env, env->backend);
    products_env_id(env, "Classic Varsity Top", product_id);
    item_id = ready_item(env, product_id, ", \"fields\": [\"name\"]", job_id);
    snprintf(fault, sizeof(fault),
             "{\"endpoint\": \"PATCH /wix/stores/v1/products/%s\", \"mode\": "
             "\"status\", \"status\": 200, \"body\": {\"product\": {}}, "
             "\"count\": 1}",
             product_id);
    json_decref(sandbox_proc_add_fault(&env->sandbox, fault));

    json_decref(products_env_act(env, job_id, PRODUCTS_APPLY,
                                 (const char *const *)&item_id, 1, 0));
    products_env_settle(env, job_id);
    items = products_env_items(env, job_id);
    assert_string_equal(item_state(item_at(items, 0)), PRODUCTS_FAILED);
    message = json_string_value(json_at(item_at(items, 0), "error.message"));
    assert_non_null(strstr(message, "name"));
    assert_non_null(strstr(message, "does not hold"));
    assert_int_equal(blog_env_credits(env).available, BLOG_ENV_CREDITS);
    assert_int_equal(json_integer_value(
                         json_object_get(item_at(items, 0), "credits_charged")),
                     0);

    json_decref(items);
    free(item_id);
}

/* A job that costs more than the balance starts nothing. */
static void too_few_credits(void **state)
{
    struct blog_env *env = *state;
    char first[128];
    char second[128];
    char request[512];
    char job_id[STORE_UUID_SIZE];
    json_t *body;
    json_t *jobs;
    struct error err;
    int64_t cost = 0;
    struct store_tx *tx;
    int64_t queued = -1;

    products_env_start(env, env->backend);
    products_env_id(env, "Ocean Blue Shirt", first);
    products_env_id(env, "Classic Varsity Top", second);
    /* 25 products of 4 fields are 100 credits; the balance is 100, so
     * spend 1 first. */
    error_clear(&err);
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(store_generation_create(tx, env->instance_id, "blog", NULL,
                                             "done", NULL, job_id, &err),
                     0);
    assert_int_equal(
        store_credits_reserve(tx, env->instance_id, job_id, 95, &err), 1);
    assert_int_equal(store_commit(tx, &err), 0);

    snprintf(request, sizeof(request), "{\"product_ids\": [\"%s\", \"%s\"]}",
             first, second);
    body = json_loads(request, 0, NULL);
    assert_int_equal(products_job_create(env->app, env->instance_id, body,
                                         job_id, &cost, &err),
                     -1);
    assert_int_equal(err.kind, ERR_INSUFFICIENT_CREDITS);
    assert_non_null(strstr(err.message, "balance 5, cost 8"));
    assert_int_equal(cost, 8);
    assert_int_equal(blog_env_credits(env).available, 5);
    assert_int_equal(blog_env_credits(env).reserved, 95);
    jobs = products_job_list_json(env->app, env->instance_id, 10, NULL, &err);
    assert_non_null(jobs);
    assert_int_equal(json_array_size(json_object_get(jobs, "jobs")), 0);
    tx = store_begin_read(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(store_query_int(tx,
                                     "SELECT COUNT(*) FROM jobs WHERE kind "
                                     "LIKE 'products.%'",
                                     STORE_NO_ARGS, &queued, &err),
                     1);
    store_rollback(tx);
    assert_int_equal(queued, 0);

    json_decref(jobs);
    json_decref(body);
}

/* Runs one claimed generate job on its own thread. */
struct runner {
    struct blog_env *env;
    struct queue_job *job;
    int rc;
};

static void *run_claimed(void *arg)
{
    struct runner *r = arg;
    struct store_tx *tx;
    struct error err;

    error_clear(&err);
    r->rc =
        products_generate_run(r->env->app->store, r->job, r->env->app, &err);
    if (r->rc == 0 && !r->job->finished) {
        tx = store_begin(r->env->app->store, &err);
        r->rc = tx ? queue_finish(tx, r->job, &err) : -1;
        if (tx)
            r->rc |= store_commit(tx, &err);
    }
    return NULL;
}

static int count_state(const json_t *items, const char *state)
{
    size_t i;
    json_t *item;
    int count = 0;

    json_array_foreach(items, i, item) count +=
        strcmp(item_state(item), state) == 0;
    return count;
}

/* Cancelling: the running item finishes (and waits for review even in
 * auto mode), the pending ones are cancelled and their credits released. */
static void cancel_finishes_running(void **state)
{
    static const char *const kinds[] = {PRODUCTS_JOB_GENERATE, NULL};
    struct queue_claim_options options = {.kinds = kinds};
    struct blog_env *env = *state;
    char job_id[STORE_UUID_SIZE];
    struct runner runner = {.env = env};
    pthread_t thread;
    struct error err;
    json_t *items;
    int waited = 0;

    products_env_start(env, env->backend);
    sandbox_proc_configure(&env->sandbox,
                           "{\"openai\": {\"latency_ms\": 1500}}");
    products_env_create(env,
                        "{\"all\": true, \"search\": \"Stoneware\", "
                        "\"mode\": \"auto\", \"fields\": [\"name\"]}",
                        job_id);
    items = products_env_items(env, job_id);
    assert_true(json_array_size(items) >= 3);
    json_decref(items);

    error_clear(&err);
    assert_int_equal(queue_claim(env->app->store, &options, &runner.job, &err),
                     1);
    assert_int_equal(pthread_create(&thread, NULL, run_claimed, &runner), 0);
    while (products_env_progress(env, job_id).running == 0 && waited++ < 500)
        usleep(10 * 1000);
    assert_int_equal(
        products_job_cancel(env->app, env->instance_id, job_id, &err), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(runner.rc, 0);
    queue_job_free(runner.job);
    products_env_settle(env, job_id);

    items = products_env_items(env, job_id);
    assert_int_equal(count_state(items, PRODUCTS_READY), 1);
    assert_int_equal(count_state(items, PRODUCTS_CANCELLED),
                     (int)json_array_size(items) - 1);
    assert_int_equal(blog_env_credits(env).reserved, 1);
    assert_int_equal(blog_env_credits(env).available, BLOG_ENV_CREDITS - 1);
    assert_int_equal(products_env_count(env, "POST", "/openai/", 0), 1);
    assert_int_equal(
        products_job_cancel(env->app, env->instance_id, job_id, &err), -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
    json_decref(items);
}

/* Adds credits to the test site. */
static void grant(struct blog_env *env, int64_t credits)
{
    struct store_tx *tx;
    struct error err;

    error_clear(&err);
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(store_credits_grant(tx, env->instance_id, credits,
                                         "test-extra", NULL, &err),
                     1);
    assert_int_equal(store_commit(tx, &err), 0);
}

/* A run whose lease expires while the model responds loses the job to
 * another run; the text it got is kept, and the other run uses it instead
 * of asking the model again. */
static void lease_lost_text_is_kept(void **state)
{
    static const char *const kinds[] = {PRODUCTS_JOB_GENERATE, NULL};
    struct queue_claim_options options = {.kinds = kinds, .lease_ms = 1000};
    struct blog_env *env = *state;
    char job_id[STORE_UUID_SIZE];
    struct runner runner = {.env = env};
    pthread_t thread;
    struct error err;
    int64_t rescued = 0;
    json_t *items;
    int waited = 0;

    products_env_start(env, env->backend);
    sandbox_proc_configure(&env->sandbox,
                           "{\"openai\": {\"latency_ms\": 1000}}");
    products_env_create(env,
                        "{\"all\": true, \"search\": \"Ocean Blue\", "
                        "\"fields\": [\"name\"]}",
                        job_id);
    error_clear(&err);
    assert_int_equal(queue_claim(env->app->store, &options, &runner.job, &err),
                     1);
    assert_int_equal(pthread_create(&thread, NULL, run_claimed, &runner), 0);
    while (products_env_progress(env, job_id).running == 0 && waited++ < 500)
        usleep(10 * 1000);
    clock_fake_advance_ms(5000);
    assert_int_equal(queue_rescue_expired(env->app->store, &rescued, &err), 0);
    assert_int_equal(rescued, 1);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_not_equal(runner.rc, 0);
    queue_job_free(runner.job);

    products_env_settle(env, job_id);
    items = products_env_items(env, job_id);
    assert_string_equal(item_state(item_at(items, 0)), PRODUCTS_READY);
    assert_int_equal(products_env_count(env, "POST", "/openai/", 200), 1);
    json_decref(items);
}

/* Ids of the fixture's products with emoji, non-Latin text or entities in
 * their names, as a JSON array. */
static json_t *awkward_names(struct blog_env *env)
{
    json_t *site = sandbox_proc_site(&env->sandbox, env->instance_id);
    json_t *ids = json_array();
    size_t i;
    json_t *product;

    json_array_foreach(json_object_get(site, "products"), i, product)
    {
        const char *name = json_string_value(json_object_get(product, "name"));
        int awkward = strchr(name, '&') != NULL;

        for (const char *p = name; *p && !awkward; p++)
            awkward = (unsigned char)*p >= 0x80;
        if (awkward && json_array_size(ids) < 30)
            json_array_append(ids, json_object_get(product, "id"));
    }
    json_decref(site);
    return ids;
}

/* Runs a job in auto mode and checks every item was applied within the
 * limits; returns the applied item ids. */
static json_t *apply_all(struct blog_env *env, const char *request,
                         size_t max_name, size_t max_description)
{
    char job_id[STORE_UUID_SIZE];
    json_t *items;
    json_t *ids = json_array();
    size_t i;
    json_t *item;

    products_env_create(env, request, job_id);
    products_env_settle(env, job_id);
    items = products_env_items(env, job_id);
    assert_true(json_array_size(items) > 0);
    json_array_foreach(items, i, item)
    {
        const char *product_id =
            json_string_value(json_object_get(item, "product_id"));
        json_t *product = products_env_product(env, product_id, NULL);
        const char *name = json_string_value(json_object_get(product, "name"));
        const char *description =
            json_string_value(json_object_get(product, "description"));
        char *canonical = products_html_canonical(description);

        if (strcmp(item_state(item), PRODUCTS_APPLIED) != 0)
            fail_msg("item for product %s is %s: %s", product_id,
                     item_state(item),
                     json_string_value(json_at(item, "error.message")));
        assert_true(products_text_length(name) <= max_name);
        assert_true(products_text_length(description) <= max_description);
        /* What was written is already in the subset, whole tags only. */
        assert_string_equal(canonical, description);
        json_array_append(ids, json_object_get(item, "id"));
        free(canonical);
        json_decref(product);
    }
    json_decref(items);
    return ids;
}

/* Reverts items of the product's job, by item id. */
static void revert_all(struct blog_env *env, const json_t *item_ids)
{
    size_t count = json_array_size(item_ids);
    const char **ids = calloc(count, sizeof(*ids));
    struct store_tx *tx;
    struct store_generation item;
    struct error err;
    json_t *answer;
    char job_id[STORE_UUID_SIZE];

    for (size_t i = 0; i < count; i++)
        ids[i] = json_string_value(json_array_get(item_ids, i));
    error_clear(&err);
    tx = store_begin_read(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(store_generation_get(tx, ids[0], 0, &item, &err), 1);
    snprintf(job_id, sizeof(job_id), "%s", item.parent_id);
    store_generation_clear(&item);
    store_rollback(tx);
    answer = products_env_act(env, job_id, PRODUCTS_REVERT, ids, count, 0);
    assert_int_equal(json_array_size(json_object_get(answer, "accepted")),
                     count);
    products_env_settle(env, job_id);
    json_decref(answer);
    free(ids);
}

/* Emoji, non-Latin names, entities, empty, broken and 8000-character
 * descriptions: applied within tight limits, then reverted to exactly the
 * text they had. */
static void awkward_products_round_trip(void **state)
{
    struct blog_env *env = *state;
    json_t *before;
    json_t *names;
    json_t *by_name;
    json_t *by_description;
    json_t *after;
    json_t *packed;
    char *request;
    size_t i;
    json_t *product;

    products_env_start(env, env->backend);
    grant(env, 1000);
    before = sandbox_proc_site(&env->sandbox, env->instance_id);
    names = awkward_names(env);
    assert_true(json_array_size(names) >= 10);
    packed = json_pack("{s:O, s:s, s:{s:i, s:i}}", "product_ids", names, "mode",
                       "auto", "max_lengths", "name", 30, "seo_title", 40);
    request = json_dumps(packed, JSON_COMPACT);
    json_decref(packed);
    by_name = apply_all(env, request, 30, 8000);
    free(request);
    by_description = apply_all(env,
                               "{\"all\": true, \"search\": \"Description "
                               "Case\", \"mode\": \"auto\", \"max_lengths\": "
                               "{\"description\": 300}}",
                               80, 300);
    assert_true(json_array_size(by_description) >= 15);

    revert_all(env, by_name);
    revert_all(env, by_description);
    after = sandbox_proc_site(&env->sandbox, env->instance_id);
    json_array_foreach(json_object_get(before, "products"), i, product)
        assert_same_text(json_array_get(json_object_get(after, "products"), i),
                         product);

    json_decref(after);
    json_decref(by_description);
    json_decref(by_name);
    json_decref(names);
    json_decref(before);
}

/* only_fill_empty writes only fields without text, and skips products
 * that have none. */
static void only_fill_empty_skips_filled(void **state)
{
    struct blog_env *env = *state;
    char job_id[STORE_UUID_SIZE];
    struct error err;
    json_t *job;
    json_t *items;
    size_t i;
    json_t *item;

    products_env_start(env, env->backend);
    products_env_create(env,
                        "{\"all\": true, \"search\": \"Description Case\", "
                        "\"fields\": [\"description\", \"seo_title\"], "
                        "\"only_fill_empty\": true}",
                        job_id);
    items = products_env_items(env, job_id);
    json_array_foreach(items, i, item)
    {
        json_t *fields = json_object_get(item, "fields");
        const char *name =
            json_string_value(json_object_get(item, "product_name"));
        int blank = strcmp(name, "Description Case Empty") == 0 ||
                    strcmp(name, "Description Case Whitespace") == 0;

        /* No fixture product has an SEO title; only two have no
         * description. */
        assert_int_equal(json_array_size(fields), blank ? 2 : 1);
        assert_string_equal(json_string_value(json_array_get(fields, 0)),
                            blank ? "description" : "seo_title");
    }
    error_clear(&err);
    job = products_job_json(env->app, env->instance_id, job_id, &err);
    assert_non_null(job);
    assert_int_equal(json_integer_value(json_object_get(job, "skipped")), 0);
    assert_int_equal(json_integer_value(json_at(job, "credits.reserved")),
                     (json_int_t)json_array_size(items) + 2);
    json_decref(job);
    json_decref(items);
}

/* Reads a V3 product through Wix with a fresh token (new reference). */
static json_t *v3_product(struct blog_env *env, const char *product_id,
                          char *token, size_t size)
{
    char path[256];
    json_t *body;
    json_t *product;

    sandbox_proc_wix_token(&env->sandbox, env->instance_id, token, size);
    snprintf(path, sizeof(path),
             "/wix/stores/v3/products/%s?fields=PLAIN_DESCRIPTION&fields="
             "DESCRIPTION",
             product_id);
    body = sandbox_proc_wix_call(&env->sandbox, token, "GET", path, NULL, 200);
    product = json_incref(json_object_get(body, "product"));
    json_decref(body);
    return product;
}

/* Catalog V3: apply and revert with revisions, and an owner's edit in
 * between found by its revision. */
static void catalog_v3_round_trip(void **state)
{
    struct blog_env *env = *state;
    char path[256];
    char token[4096];
    char body[512];
    char product_id[128];
    char other_id[128];
    char job_id[STORE_UUID_SIZE];
    json_t *original;
    json_t *reverted;
    json_t *items;
    char *canonical_before;
    char *canonical_after;
    char *item_id;
    char *other_item;

    products_env_start(env, env->backend);
    products_env_id(env, "Stoneware Mug Seo Existing", product_id);
    products_env_id(env, "Stoneware Mug Ribbon New", other_id);
    snprintf(path, sizeof(path), "/__sandbox/sites/%s", env->instance_id);
    json_decref(sandbox_proc_call(&env->sandbox, "PATCH", path,
                                  "{\"catalog_version\": 3}", 200));
    original = v3_product(env, product_id, token, sizeof(token));

    item_id = ready_item(env, product_id, NULL, job_id);
    json_decref(products_env_act(env, job_id, PRODUCTS_APPLY,
                                 (const char *const *)&item_id, 1, 0));
    products_env_settle(env, job_id);
    items = products_env_items(env, job_id);
    assert_string_equal(item_state(item_at(items, 0)), PRODUCTS_APPLIED);
    json_decref(items);
    json_decref(products_env_act(env, job_id, PRODUCTS_REVERT,
                                 (const char *const *)&item_id, 1, 0));
    products_env_settle(env, job_id);
    reverted = v3_product(env, product_id, token, sizeof(token));
    assert_string_equal(json_string_value(json_object_get(reverted, "name")),
                        json_string_value(json_object_get(original, "name")));
    assert_true(json_equal(json_object_get(reverted, "seoData"),
                           json_object_get(original, "seoData")));
    canonical_before = products_html_canonical(
        json_string_value(json_object_get(original, "plainDescription")));
    canonical_after = products_html_canonical(
        json_string_value(json_object_get(reverted, "plainDescription")));
    assert_string_equal(canonical_after, canonical_before);

    /* The owner renames the other product after its text was read. */
    other_item = ready_item(env, other_id, NULL, job_id);
    json_decref(original);
    original = v3_product(env, other_id, token, sizeof(token));
    snprintf(path, sizeof(path), "/wix/stores/v3/products/%s", other_id);
    snprintf(body, sizeof(body),
             "{\"product\": {\"revision\": \"%s\", \"name\": \"Owner's "
             "name\"}}",
             json_string_value(json_object_get(original, "revision")));
    json_decref(
        sandbox_proc_wix_call(&env->sandbox, token, "PATCH", path, body, 200));
    json_decref(products_env_act(env, job_id, PRODUCTS_APPLY,
                                 (const char *const *)&other_item, 1, 0));
    products_env_settle(env, job_id);
    items = products_env_items(env, job_id);
    assert_string_equal(item_state(item_at(items, 0)), PRODUCTS_CONFLICT);
    assert_non_null(
        strstr(json_string_value(json_at(item_at(items, 0), "error.message")),
               "revision"));
    json_decref(reverted);
    reverted = v3_product(env, other_id, token, sizeof(token));
    assert_string_equal(json_string_value(json_object_get(reverted, "name")),
                        "Owner's name");

    json_decref(items);
    json_decref(reverted);
    json_decref(original);
    free(canonical_before);
    free(canonical_after);
    free(item_id);
    free(other_item);
}

/* Unknown products and a site without Wix Stores are rejected before
 * anything is created. */
static void selection_errors_create_nothing(void **state)
{
    struct blog_env *env = *state;
    char job_id[STORE_UUID_SIZE];
    json_t *body;
    json_t *site;
    struct store_tx *tx;
    struct error err;

    products_env_start(env, env->backend);
    body = json_pack("{s:[s]}", "product_ids", "no-such-product");
    error_clear(&err);
    assert_int_equal(products_job_create(env->app, env->instance_id, body,
                                         job_id, NULL, &err),
                     -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.code, "product_ids");
    assert_non_null(strstr(err.message, "no-such-product"));

    site = sandbox_proc_create_site(&env->sandbox, "{}");
    snprintf(env->instance_id, sizeof(env->instance_id), "%s",
             json_string_value(json_object_get(site, "instance_id")));
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_instance_put(tx, env->instance_id, "installed", NULL, NULL, &err),
        0);
    assert_int_equal(store_commit(tx, &err), 0);
    json_decref(body);
    body = json_pack("{s:b}", "all", 1);
    assert_int_equal(products_job_create(env->app, env->instance_id, body,
                                         job_id, NULL, &err),
                     -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_non_null(strstr(err.message, "Wix Stores is not installed"));
    assert_string_equal(err.code, PRODUCTS_ERR_NO_STORES);
    assert_int_equal(blog_env_credits(env).reserved, 0);
    json_decref(site);
    json_decref(body);
}

#define PRODUCT_FLOW_TESTS(ON)                                                 \
    ON(review_apply_revert)                                                    \
    ON(edit_before_apply_conflicts)                                            \
    ON(untaken_write_fails_item)                                               \
    ON(too_few_credits)                                                        \
    ON(cancel_finishes_running)                                                \
    ON(lease_lost_text_is_kept)                                                \
    ON(awkward_products_round_trip)                                            \
    ON(only_fill_empty_skips_filled)                                           \
    ON(catalog_v3_round_trip)                                                  \
    ON(selection_errors_create_nothing)

int main(void)
{
    int failed = 0;

    BLOG_RUN_TESTS("product optimizer", PRODUCT_FLOW_TESTS);
    return failed;
}
