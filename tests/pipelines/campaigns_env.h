/*
 * Campaign helpers on top of blog_env.h: a driver that runs due
 * campaigns.due jobs in the test's thread as the worker pool does, and
 * short calls that fail the test on an error. Header-only, like blog_env.h.
 */
#ifndef SITESMITH_TESTS_CAMPAIGNS_ENV_H
#define SITESMITH_TESTS_CAMPAIGNS_ENV_H

#include "blog_env.h"
#include "pipelines/campaigns.h"
#include "pipelines/campaigns_internal.h"

/* Milliseconds of a UTC date and time. */
static inline int64_t campaigns_env_utc(int year, int month, int day, int hour,
                                        int minute)
{
    return (campaigns_days_from_civil(year, month, day) * 86400 + hour * 3600 +
            minute * 60) *
           1000;
}

/* Grants credits to instance_id with a grant reference. */
static inline void campaigns_env_grant(struct blog_env *env,
                                       const char *instance_id, int64_t credits,
                                       const char *reference)
{
    struct store_tx *tx;
    struct error err;

    error_clear(&err);
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    assert_true(store_credits_grant(tx, instance_id, credits, reference, NULL,
                                    &err) >= 0);
    assert_int_equal(store_commit(tx, &err), 0);
}

/* Creates a campaign from request (JSON text) on instance_id. */
static inline json_t *campaigns_env_create_on(struct blog_env *env,
                                              const char *instance_id,
                                              const char *request)
{
    json_t *body = json_loads(request, 0, NULL);
    struct error err;
    json_t *view;

    assert_non_null(body);
    error_clear(&err);
    view = campaigns_create(env->app, instance_id, body, &err);
    if (!view)
        fail_msg("campaigns_create: %s", err.message);
    json_decref(body);
    return view;
}

static inline json_t *campaigns_env_create(struct blog_env *env,
                                           const char *request)
{
    return campaigns_env_create_on(env, env->instance_id, request);
}

/*
 * A campaign of instance_id in UTC about tea, with listed times at now +
 * each of minutes, rounded down to the minute.
 */
static inline json_t *campaigns_env_listed(struct blog_env *env,
                                           const char *instance_id,
                                           const int *minutes, size_t count,
                                           const char *on_ready)
{
    char request[8192];
    char slot[CAMPAIGN_SLOT_SIZE];
    int64_t base = clock_now_ms() / 60000 * 60000;
    size_t used = (size_t)snprintf(
        request, sizeof(request),
        "{\"name\": \"Listed\", \"time_zone\": \"UTC\", \"on_ready\": \"%s\","
        " \"theme\": {\"topic\": \"tea\", \"keywords\": [\"green tea\"]},"
        " \"schedule\": {\"times\": [",
        on_ready);

    for (size_t i = 0; i < count; i++) {
        campaigns_slot_format((base + minutes[i] * 60000LL) / 1000, slot);
        used += (size_t)snprintf(request + used, sizeof(request) - used,
                                 "%s\"%s\"", i ? ", " : "", slot);
    }
    snprintf(request + used, sizeof(request) - used, "]}}");
    return campaigns_env_create_on(env, instance_id, request);
}

static inline const char *campaigns_env_id(const json_t *view)
{
    return json_string_value(json_object_get(view, "id"));
}

/* Every post of a campaign, by time (new reference). */
static inline json_t *campaigns_env_posts(struct blog_env *env,
                                          const char *campaign_id)
{
    struct error err;
    json_t *list;
    json_t *posts;

    error_clear(&err);
    list = campaigns_posts_list(env->app, env->instance_id, campaign_id, NULL,
                                0, 0, 500, &err);
    if (!list)
        fail_msg("campaigns_posts_list: %s", err.message);
    posts = json_incref(json_object_get(list, "posts"));
    json_decref(list);
    return posts;
}

static inline json_t *campaigns_env_post(struct blog_env *env,
                                         const char *campaign_id,
                                         const char *post_id)
{
    struct error err;
    json_t *post;

    error_clear(&err);
    post = campaigns_post_get(env->app, env->instance_id, campaign_id, post_id,
                              &err);
    if (!post)
        fail_msg("campaigns_post_get: %s", err.message);
    return post;
}

static inline const char *campaigns_env_state(const json_t *post)
{
    return json_string_value(json_object_get(post, "state"));
}

/* Runs one claimed campaigns.due job as the pool does, and frees it. */
static inline void campaigns_env_run_due_job(struct app *app,
                                             struct queue_job *job)
{
    struct store_tx *tx;
    struct error err;
    int will_retry = 0;

    error_clear(&err);
    if (campaigns_due_job_run(app->store, job, app, &err) != 0) {
        struct error cause = err;

        tx = store_begin(app->store, &err);
        assert_non_null(tx);
        assert_int_equal(queue_fail(tx, job, &cause, NULL, &will_retry, &err),
                         0);
        assert_int_equal(store_commit(tx, &err), 0);
    } else if (!job->finished) {
        tx = store_begin(app->store, &err);
        assert_non_null(tx);
        assert_int_equal(queue_finish(tx, job, &err), 0);
        assert_int_equal(store_commit(tx, &err), 0);
    }
    queue_job_free(job);
}

/* Runs every due campaigns.due job of app; returns how many ran. */
static inline int campaigns_env_run_due_on(struct app *app)
{
    static const char *const kinds[] = {CAMPAIGNS_JOB_DUE, NULL};
    struct queue_claim_options options = {.kinds = kinds};
    struct error err;
    int ran = 0;

    while (1) {
        struct queue_job *job = NULL;
        int rc;

        error_clear(&err);
        rc = queue_claim(app->store, &options, &job, &err);
        if (rc < 0)
            fail_msg("queue_claim: %s", err.message);
        if (rc == 0)
            return ran;
        campaigns_env_run_due_job(app, job);
        ran++;
    }
}

static inline int campaigns_env_run_due(struct blog_env *env)
{
    return campaigns_env_run_due_on(env->app);
}

/* The earliest run-at of a queued campaigns.due job, or 0 when none. */
static inline int64_t campaigns_env_next_due_ms(struct blog_env *env)
{
    struct store_tx *tx;
    struct error err;
    int64_t run_at = 0;

    error_clear(&err);
    tx = store_begin_read(env->app->store, &err);
    assert_non_null(tx);
    assert_true(store_query_int(tx,
                                "SELECT COALESCE(MIN(run_at), 0) FROM jobs"
                                " WHERE kind = ? AND state = 'queued'",
                                STORE_ARGS(STORE_TEXT(CAMPAIGNS_JOB_DUE)),
                                &run_at, &err) >= 0);
    store_rollback(tx);
    return run_at;
}

/* Counts rows of sql (one text parameter) in a read transaction. */
static inline int64_t campaigns_env_count(struct blog_env *env, const char *sql,
                                          const char *value)
{
    struct store_tx *tx;
    struct error err;
    int64_t count = 0;

    error_clear(&err);
    tx = store_begin_read(env->app->store, &err);
    assert_non_null(tx);
    if (store_query_int(tx, sql, STORE_ARGS(STORE_TEXT(value)), &count, &err) <
        0)
        fail_msg("%s: %s", sql, err.message);
    store_rollback(tx);
    return count;
}

/* The number of blog generations of the test site. */
static inline int64_t campaigns_env_generations(struct blog_env *env)
{
    return campaigns_env_count(
        env, "SELECT COUNT(*) FROM generations WHERE instance_id = ?",
        env->instance_id);
}

/* Runs blog jobs until the post's generation ended; returns the post. */
static inline json_t *campaigns_env_finish_post(struct blog_env *env,
                                                const char *campaign_id,
                                                const char *post_id)
{
    json_t *post = campaigns_env_post(env, campaign_id, post_id);
    const char *generation =
        json_string_value(json_object_get(post, "generation_id"));
    char id[STORE_UUID_SIZE];

    assert_non_null(generation);
    snprintf(id, sizeof(id), "%s", generation);
    json_decref(post);
    blog_env_run_until(env, id, BLOG_DONE);
    return campaigns_env_post(env, campaign_id, post_id);
}

#endif
