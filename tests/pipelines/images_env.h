/*
 * The Image Optimizer's tests run in the products tests' setting (a
 * sandbox with a site from the "store" fixture, a fresh database, an app
 * opened on both): see products_env.h. This adds a driver that claims and
 * runs image jobs in the test's thread the way the worker pool does, and
 * helpers that start jobs and read items. Header-only, because the shared
 * test-support library does not link the pipelines.
 */
#ifndef SITESMITH_TESTS_IMAGES_ENV_H
#define SITESMITH_TESTS_IMAGES_ENV_H

#include "pipelines/images.h"
#include "pipelines/images_internal.h"
#include "products_env.h"

/*
 * Runs one due image job: 1 when one ran, 0 when none was due. A run that
 * stops at the test crash point is abandoned as a killed worker's is: its
 * lease stays until it expires.
 */
static inline int images_env_run_one(struct blog_env *env)
{
    static const struct blog_env_kind kinds[] = {
        {IMAGES_JOB_PROCESS, images_process_run, images_process_failed},
        {IMAGES_JOB_APPLY, images_apply_run, images_apply_failed},
        {NULL, NULL, NULL},
    };

    return blog_env_run_kind(env, kinds, IMAGES_ERR_CRASH_POINT);
}

static inline struct images_progress images_env_progress(struct blog_env *env,
                                                         const char *job_id)
{
    struct images_progress progress;
    struct error err;

    error_clear(&err);
    if (images_job_progress(env->app, env->instance_id, job_id, &progress,
                            &err) != 0)
        fail_msg("images_job_progress: %s", err.message);
    return progress;
}

/* Runs due jobs, moving the clock past retry waits, until no item of the
 * job is pending, processing, applying or restoring. */
static inline void images_env_settle(struct blog_env *env, const char *job_id)
{
    for (int round = 0; round < PRODUCTS_ENV_MAX_ROUNDS; round++) {
        struct images_progress progress;

        while (images_env_run_one(env))
            ;
        progress = images_env_progress(env, job_id);
        if (images_progress_settled(&progress))
            return;
        clock_fake_advance_ms(BLOG_ENV_STEP_MS);
    }
    fail_msg("job %s never settled", job_id);
}

/* Starts a job from request (JSON text); fails the test on error. */
static inline void images_env_create(struct blog_env *env, const char *request,
                                     char job_id[STORE_UUID_SIZE])
{
    json_t *body = json_loads(request, 0, NULL);
    struct error err;

    assert_non_null(body);
    error_clear(&err);
    if (images_job_create(env->app, env->instance_id, body, job_id, NULL,
                          &err) != 0)
        fail_msg("images_job_create: %s", err.message);
    json_decref(body);
}

/* The job's items (all states), in selection order; new reference. */
static inline json_t *images_env_items(struct blog_env *env, const char *job_id)
{
    struct error err;
    json_t *page;
    json_t *items;

    error_clear(&err);
    page = images_items_json(env->app, env->instance_id, job_id, NULL, 100,
                             NULL, &err);
    if (!page)
        fail_msg("images_items_json: %s", err.message);
    items = json_incref(json_object_get(page, "items"));
    json_decref(page);
    return items;
}

/* The only item of a one-image job; new reference. */
static inline json_t *images_env_item(struct blog_env *env, const char *job_id)
{
    json_t *items = images_env_items(env, job_id);
    json_t *item;

    assert_int_equal(json_array_size(items), 1);
    item = json_incref(json_array_get(items, 0));
    json_decref(items);
    return item;
}

/* Acts on one item; fails the test on error. */
static inline void images_env_act(struct blog_env *env, const char *job_id,
                                  const char *item_id,
                                  enum images_action action)
{
    const char *ids[] = {item_id};
    struct error err;
    json_t *answer;

    error_clear(&err);
    answer = images_items_act(env->app, env->instance_id, job_id, action, ids,
                              1, 0, &err);
    if (!answer)
        fail_msg("images_items_act: %s", err.message);
    assert_int_equal(json_array_size(json_object_get(answer, "accepted")), 1);
    json_decref(answer);
}

/* The product's media as Wix returns it, through the pipeline's reader. */
static inline json_t *images_env_media(struct blog_env *env,
                                       const char *product_id)
{
    struct error err;
    json_t *media;

    error_clear(&err);
    media =
        images_product_media_json(env->app, env->instance_id, product_id, &err);
    if (!media)
        fail_msg("images_product_media_json: %s", err.message);
    return media;
}

/* The item's kept original (after == 0) or result, probed. */
static inline void images_env_bytes(struct blog_env *env, const char *job_id,
                                    const char *item_id, int after,
                                    struct buf *out, struct images_info *info)
{
    char type[32];
    struct error err;

    error_clear(&err);
    buf_init(out, 64 * 1024 * 1024);
    if (images_item_bytes(env->app, env->instance_id, job_id, item_id, after,
                          out, type, &err) != 0)
        fail_msg("images_item_bytes: %s", err.message);
    if (images_probe(out->data, out->len, 0, info, NULL, &err) != 0)
        fail_msg("images_probe: %s", err.message);
    assert_string_equal(info->content_type, type);
}

#endif
