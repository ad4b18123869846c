/*
 * Campaigns end to end on the real store and sandbox: posts planned by
 * rules across daylight-saving changes, fired once by racing workers,
 * finished after a restart, missed after downtime, skipped for want of
 * credits, and hidden from other sites. The clock is the fake one, moved
 * to each post's time.
 */
#include "campaigns_env.h"

#include <pthread.h>

/* Enough credits for every post these tests fire. */
#define MANY_CREDITS 2000

static json_t *only_post(struct blog_env *env, const char *campaign_id,
                         size_t index)
{
    json_t *posts = campaigns_env_posts(env, campaign_id);
    json_t *post = json_incref(json_array_get(posts, index));

    assert_non_null(post);
    json_decref(posts);
    return post;
}

static int64_t post_time_ms(const json_t *post)
{
    return clock_parse_iso(
        json_string_value(json_object_get(post, "scheduled_at")));
}

/* ------------------------------------------------------------------ */
/* Daylight saving                                                     */
/* ------------------------------------------------------------------ */

/* Checks one fired post of the Berlin campaign. */
static void check_berlin_post(const json_t *post)
{
    const char *slot =
        json_string_value(json_object_get(post, "requested_local_time"));
    const char *local = json_string_value(json_object_get(post, "local_time"));
    int64_t scheduled = post_time_ms(post);
    int64_t fired =
        clock_parse_iso(json_string_value(json_object_get(post, "fired_at")));

    assert_string_equal(campaigns_env_state(post), CAMPAIGN_POST_RUNNING);
    assert_int_equal(fired, scheduled);
    if (strcmp(slot, "2026-03-29T02:30") == 0) {
        assert_string_equal(local, "2026-03-29T03:00");
        assert_int_equal(scheduled, campaigns_env_utc(2026, 3, 29, 1, 0));
    } else if (strcmp(slot, "2026-10-25T02:30") == 0) {
        assert_string_equal(local, "2026-10-25T02:30");
        assert_int_equal(scheduled, campaigns_env_utc(2026, 10, 25, 0, 30));
    } else {
        assert_string_equal(local, slot);
    }
}

/*
 * A weekly rule on Sundays at 02:30 and 09:00 in Berlin, run from March
 * to November 2026, when clocks change on 29 March and 25 October. The
 * clock moves to a minute before each due job, where nothing fires, and
 * then to its time, where its posts fire. Every Sunday has one post per
 * rule.
 */
static void weekly_rule_fires_across_dst(void **state)
{
    struct blog_env *env = *state;
    const int64_t end = campaigns_env_utc(2026, 11, 2, 0, 0);
    int64_t generations = 0;
    json_t *campaign;
    json_t *posts;
    json_t *post;
    size_t index;
    size_t fired = 0;
    int64_t next;

    blog_env_start(env, env->backend);
    campaigns_env_grant(env, env->instance_id, MANY_CREDITS, "many");
    clock_fake_set_ms(campaigns_env_utc(2026, 3, 15, 12, 0));
    campaign = campaigns_env_create(
        env, "{\"name\": \"Sunday posts\", \"time_zone\": \"Europe/Berlin\","
             " \"schedule\": {\"rules\": [{\"frequency\": \"weekly\","
             " \"weekdays\": [\"sunday\"], \"time\": \"02:30\"},"
             " {\"frequency\": \"weekly\", \"weekdays\": [\"sunday\"],"
             " \"time\": \"09:00\"}]}}");
    assert_int_equal(json_integer_value(json_at(campaign, "counts.scheduled")),
                     16);

    while ((next = campaigns_env_next_due_ms(env)) != 0 && next < end) {
        clock_fake_set_ms(next - 60000);
        campaigns_env_run_due(env);
        assert_int_equal(campaigns_env_generations(env), generations);
        clock_fake_set_ms(next);
        assert_true(campaigns_env_run_due(env) >= 1);
        generations = campaigns_env_generations(env);
    }

    posts = campaigns_env_posts(env, campaigns_env_id(campaign));
    json_array_foreach(posts, index, post)
    {
        if (post_time_ms(post) >= end)
            continue;
        check_berlin_post(post);
        fired++;
    }
    /* 16 March to 1 November: 33 Sundays, two posts each. */
    assert_int_equal(fired, 66);
    assert_int_equal(generations, 66);
    json_decref(posts);
    json_decref(campaign);
}

/* ------------------------------------------------------------------ */
/* Racing workers                                                      */
/* ------------------------------------------------------------------ */

struct racer {
    struct app *app;
    pthread_barrier_t *start;
    int fired;
    int jobs;
    int failures;
    char error[ERROR_MESSAGE_MAX];
};

/*
 * Fires the due posts, then claims and runs due campaigns.due jobs until
 * none is left, as a worker does. No cmocka checks here, because they
 * must run on the main thread.
 */
static void *race(void *arg)
{
    static const char *const kinds[] = {CAMPAIGNS_JOB_DUE, NULL};
    struct queue_claim_options options = {.kinds = kinds};
    struct racer *racer = arg;
    struct campaigns_due_result result;
    struct error err;

    pthread_barrier_wait(racer->start);
    error_clear(&err);
    if (campaigns_run_due(racer->app, 1000, &result, &err) != 0) {
        racer->failures++;
        snprintf(racer->error, sizeof(racer->error), "%s", err.message);
    }
    racer->fired = result.fired;
    while (1) {
        struct queue_job *job = NULL;
        struct store_tx *tx;

        error_clear(&err);
        if (queue_claim(racer->app->store, &options, &job, &err) != 1)
            break;
        racer->jobs++;
        if (campaigns_due_job_run(racer->app->store, job, racer->app, &err) !=
            0) {
            racer->failures++;
            snprintf(racer->error, sizeof(racer->error), "%s", err.message);
        } else if (!job->finished &&
                   (tx = store_begin(racer->app->store, &err)) != NULL) {
            if (queue_finish(tx, job, &err) == 0)
                store_commit(tx, &err);
            else
                store_rollback(tx);
        }
        queue_job_free(job);
    }
    return NULL;
}

/* Two apps on one database, as two processes would be, race for forty
 * posts due at once and for their due jobs: each post fires once. */
static void racing_workers_fire_once(void **state)
{
    enum { POSTS = 40 };
    const size_t count = POSTS;
    int minutes[POSTS];
    struct blog_env *env = *state;
    struct racer racers[2] = {{0}, {0}};
    pthread_barrier_t start;
    pthread_t threads[2];
    struct error err;
    json_t *campaign;
    json_t *posts;
    json_t *post;
    size_t index;

    for (int i = 0; i < POSTS; i++)
        minutes[i] = 10 + i;
    blog_env_start(env, env->backend);
    campaigns_env_grant(env, env->instance_id, MANY_CREDITS, "many");
    campaign =
        campaigns_env_listed(env, env->instance_id, minutes, count, "draft");
    clock_fake_advance_ms(60 * 60000);

    error_clear(&err);
    racers[0].app = env->app;
    racers[1].app = app_open(env->cfg, &err);
    assert_non_null(racers[1].app);

    /* Both stores open their connections first, so that neither waits
     * on the other's setup at the start line. */
    assert_int_equal(store_ping(racers[0].app->store, &err), 0);
    assert_int_equal(store_ping(racers[1].app->store, &err), 0);
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++) {
        racers[i].start = &start;
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]),
                         0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    app_close(racers[1].app);

    if (racers[0].failures + racers[1].failures != 0)
        fail_msg("a racer failed: %s%s", racers[0].error, racers[1].error);
    assert_int_equal(racers[0].fired + racers[1].fired, (int)count);
    assert_int_equal(racers[0].jobs + racers[1].jobs, (int)count);
    assert_int_equal(campaigns_env_generations(env), (int64_t)count);
    posts = campaigns_env_posts(env, campaigns_env_id(campaign));
    assert_int_equal(json_array_size(posts), count);
    json_array_foreach(posts, index, post)
    {
        assert_string_equal(campaigns_env_state(post), CAMPAIGN_POST_RUNNING);
        assert_int_equal(
            campaigns_env_count(
                env, "SELECT COUNT(*) FROM generations WHERE id = ?",
                json_string_value(json_object_get(post, "generation_id"))),
            1);
    }
    assert_int_equal(blog_env_credits(env).reserved,
                     (int64_t)count * blog_env_cost(env));
    json_decref(posts);
    json_decref(campaign);
}

/* ------------------------------------------------------------------ */
/* Restart                                                             */
/* ------------------------------------------------------------------ */

/*
 * A worker dies while the post's first job runs, and the process starts
 * again: the post does not fire a second time, the job's lease runs out,
 * and the generation goes on to one draft whose title is the idea's.
 */
static void restart_while_running_finishes_once(void **state)
{
    static const int minutes[] = {5};
    struct blog_env *env = *state;
    struct queue_job *job;
    struct error err;
    int64_t rescued = 0;
    char post_id[STORE_UUID_SIZE];
    json_t *campaign;
    json_t *post;
    json_t *site;
    const char *id;

    blog_env_start(env, env->backend);
    campaign = campaigns_env_listed(env, env->instance_id, minutes, 1, "draft");
    id = campaigns_env_id(campaign);
    clock_fake_advance_ms(6 * 60000);
    assert_int_equal(campaigns_env_run_due(env), 1);

    /* The worker claims the ideas job and dies with it. */
    job = blog_env_claim(env, 5000);
    assert_non_null(job);
    assert_string_equal(job->kind, BLOG_JOB_IDEAS);
    queue_job_free(job);

    /* The process starts again and its due jobs run. */
    error_clear(&err);
    app_close(env->app);
    env->app = app_open(env->cfg, &err);
    assert_non_null(env->app);
    assert_int_equal(campaigns_env_run_due(env), 0);
    clock_fake_advance_ms(10000);
    assert_int_equal(queue_rescue_expired(env->app->store, &rescued, &err), 0);
    assert_int_equal(rescued, 1);

    post = only_post(env, id, 0);
    assert_string_equal(campaigns_env_state(post), CAMPAIGN_POST_RUNNING);
    snprintf(post_id, sizeof(post_id), "%s",
             json_string_value(json_object_get(post, "id")));
    json_decref(post);
    post = campaigns_env_finish_post(env, id, post_id);
    assert_string_equal(campaigns_env_state(post), CAMPAIGN_POST_DONE);
    assert_non_null(json_string_value(json_at(post, "post.id")));
    assert_non_null(json_string_value(json_at(post, "post.url")));
    assert_false(json_is_true(json_at(post, "post.published")));
    assert_int_equal(campaigns_env_generations(env), 1);
    assert_int_equal(blog_env_drafts(env), 1);

    /* The post keeps the title of the idea the pipeline chose. */
    site = blog_env_site(env);
    assert_string_equal(json_string_value(json_at(site, "drafts[0].title")),
                        json_string_value(json_object_get(post, "title")));
    assert_string_equal(json_string_value(json_at(site, "drafts[0].status")),
                        "UNPUBLISHED");
    assert_int_equal(blog_env_credits(env).available,
                     BLOG_ENV_CREDITS - blog_env_cost(env));
    assert_int_equal(blog_env_credits(env).reserved, 0);
    json_decref(site);
    json_decref(post);
    json_decref(campaign);
}

int main(void)
{
    int failed = 0;

#define TESTS(ON)                                                              \
    ON(weekly_rule_fires_across_dst)                                           \
    ON(racing_workers_fire_once)                                               \
    ON(restart_while_running_finishes_once)

    BLOG_RUN_TESTS("campaigns", TESTS);
    return failed;
}
