/*
 * The Product Optimizer's tests run in the blog tests' setting (a sandbox
 * with a site from the "store" fixture, a fresh database, an app opened on
 * both): see blog_env.h. This adds a driver that claims and runs product
 * jobs in the test's thread the way the worker pool does, and helpers that
 * read products from the sandbox and items from the store. Header-only,
 * because the shared test-support library does not link the pipelines.
 */
#ifndef SITESMITH_TESTS_PRODUCTS_ENV_H
#define SITESMITH_TESTS_PRODUCTS_ENV_H

#include "blog_env.h"
#include "pipelines/products.h"
#include "pipelines/products_internal.h"

/* Rounds of "run what is due, then move the clock" before giving up. */
#define PRODUCTS_ENV_MAX_ROUNDS 40

/* Settings every products test uses: no client-side pacing, because the
 * driver's fake clock only moves when nothing is due, and a sandbox that
 * lets bulk writes through. */
static inline void products_env_prepare(struct blog_env *env,
                                        enum store_backend backend)
{
    blog_env_prepare(env, backend);
    /* Tests that write many products would wait a minute at Wix's 200. */
    sandbox_proc_configure(&env->sandbox,
                           "{\"wix\": {\"rate_limit\": 100000}}");
    blog_env_set(env, "SITESMITH_OPENAI_RPM", "0");
    blog_env_set(env, "SITESMITH_OPENAI_TPM", "0");
    blog_env_set(env, "SITESMITH_WIX_RATE_LIMIT", "0");
}

static inline void products_env_start(struct blog_env *env,
                                      enum store_backend backend)
{
    products_env_prepare(env, backend);
    blog_env_open(env);
}

/* Runs one due product job: 1 when one ran, 0 when none was due. */
static inline int products_env_run_one(struct blog_env *env)
{
    static const struct blog_env_kind kinds[] = {
        {PRODUCTS_JOB_GENERATE, products_generate_run,
         products_generate_failed},
        {PRODUCTS_JOB_WRITE, products_write_run, products_write_failed},
        {NULL, NULL, NULL},
    };

    return blog_env_run_kind(env, kinds, NULL);
}

static inline struct products_progress
products_env_progress(struct blog_env *env, const char *job_id)
{
    struct products_progress progress;
    struct error err;

    error_clear(&err);
    if (products_job_progress(env->app, env->instance_id, job_id, &progress,
                              &err) != 0)
        fail_msg("products_job_progress: %s", err.message);
    return progress;
}

/* Runs due jobs, moving the clock past retry waits, until no item of the
 * job is pending, running, applying or reverting. */
static inline void products_env_settle(struct blog_env *env, const char *job_id)
{
    for (int round = 0; round < PRODUCTS_ENV_MAX_ROUNDS; round++) {
        struct products_progress progress;

        while (products_env_run_one(env))
            ;
        progress = products_env_progress(env, job_id);
        if (products_progress_settled(&progress))
            return;
        clock_fake_advance_ms(BLOG_ENV_STEP_MS);
    }
    fail_msg("job %s never settled", job_id);
}

/* Starts a job from request (JSON text); fails the test on error. */
static inline void products_env_create(struct blog_env *env,
                                       const char *request,
                                       char job_id[STORE_UUID_SIZE])
{
    json_t *body = json_loads(request, 0, NULL);
    struct error err;

    assert_non_null(body);
    error_clear(&err);
    if (products_job_create(env->app, env->instance_id, body, job_id, NULL,
                            &err) != 0)
        fail_msg("products_job_create: %s", err.message);
    json_decref(body);
}

/* The job's items (all states), in product order; new reference. */
static inline json_t *products_env_items(struct blog_env *env,
                                         const char *job_id)
{
    struct error err;
    json_t *page;
    json_t *items;

    error_clear(&err);
    page = products_items_json(env->app, env->instance_id, job_id, NULL, 100,
                               NULL, &err);
    if (!page)
        fail_msg("products_items_json: %s", err.message);
    items = json_incref(json_object_get(page, "items"));
    json_decref(page);
    return items;
}

/* Acts on items; fails the test on error. Returns the response. */
static inline json_t *products_env_act(struct blog_env *env, const char *job_id,
                                       enum products_action action,
                                       const char *const *ids, size_t count,
                                       int all_ready)
{
    struct error err;
    json_t *answer;

    error_clear(&err);
    answer = products_items_act(env->app, env->instance_id, job_id, action, ids,
                                count, all_ready, NULL, &err);
    if (!answer)
        fail_msg("products_items_act: %s", err.message);
    return answer;
}

/* The product as the sandbox holds it (new reference), by id or name. */
static inline json_t *products_env_product(struct blog_env *env, const char *id,
                                           const char *name)
{
    json_t *site = sandbox_proc_site(&env->sandbox, env->instance_id);
    json_t *found = NULL;
    size_t i;
    json_t *product;

    json_array_foreach(json_object_get(site, "products"), i, product)
    {
        const char *key = id ? "id" : "name";
        const char *value = json_string_value(json_object_get(product, key));

        if (value && strcmp(value, id ? id : name) == 0) {
            found = json_incref(product);
            break;
        }
    }
    json_decref(site);
    if (!found)
        fail_msg("the sandbox has no product %s", id ? id : name);
    return found;
}

/* The product's id, by name, into out. */
static inline void products_env_id(struct blog_env *env, const char *name,
                                   char out[128])
{
    json_t *product = products_env_product(env, NULL, name);

    snprintf(out, 128, "%s", json_string_value(json_object_get(product, "id")));
    json_decref(product);
}

/* Counts the sandbox's logged requests with method whose path starts
 * with prefix and, when status is not 0, with that status. */
static inline int products_env_count(struct blog_env *env, const char *method,
                                     const char *prefix, long status)
{
    return blog_env_count(env, method, prefix, status ? status : -1);
}

/* The SEO title tag's text in a product's seoData, or "". */
static inline const char *products_env_seo_title(const json_t *product)
{
    size_t i;
    json_t *tag;

    json_array_foreach(json_at(product, "seoData.tags"), i, tag)
    {
        const char *type = json_string_value(json_object_get(tag, "type"));

        if (type && strcmp(type, "title") == 0)
            return json_string_value(json_object_get(tag, "children"));
    }
    return "";
}

#endif
