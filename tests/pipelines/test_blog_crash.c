/*
 * Workers that die in the middle of a blog step. A forked child process
 * opens its own app, claims the next job and runs it. The sandbox delays
 * one of the step's requests, and the test kills the child with SIGKILL
 * while it waits. The job's lease then expires and the job is
 * rescued, by the test's driver or by a worker pool. Whatever step died,
 * the generation ends with one draft, one cover and one charge, and no
 * paid call whose output was checkpointed is made again.
 */
#include "blog_env.h"

#include "core/log.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define REQUEST "{\"topic\": \"wool jumpers\", \"keywords\": [\"wool\"]}"
/* Longer than the lease a worker claims with (QUEUE_DEFAULT_LEASE_MS). */
#define PAST_LEASE_MS (QUEUE_DEFAULT_LEASE_MS + 1000)
#define HOLD_MS 4000

/* ------------------------------------------------------------------ */
/* The doomed worker                                                   */
/* ------------------------------------------------------------------ */

/*
 * Runs in the child, on a thread of its own: the child's main thread
 * inherited the parent's HTTP connections, which a new thread does not
 * use. No cmocka calls here: the child only exits.
 */
static void *doomed_worker(void *arg)
{
    static const char *const kinds[] = {BLOG_JOB_IDEAS, BLOG_JOB_WRITE,
                                        BLOG_JOB_IMAGE, BLOG_JOB_PUBLISH, NULL};
    struct blog_env *env = arg;
    struct queue_claim_options options = {.kinds = kinds};
    struct queue_job *job = NULL;
    struct error err;
    struct app *app;

    error_clear(&err);
    app = app_open(env->cfg, &err);
    if (!app || queue_claim(app->store, &options, &job, &err) != 1)
        return (void *)1;
    blog_step_run(blog_env_step(job->kind), app->store, job, app, &err);
    return NULL;
}

static pid_t start_doomed_worker(struct blog_env *env)
{
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pthread_t thread;
        void *result = NULL;

        if (pthread_create(&thread, NULL, doomed_worker, env) != 0)
            _exit(3);
        pthread_join(thread, &result);
        _exit(result ? 1 : 0);
    }
    return pid;
}

/* Waits until more than seen requests to method prefix reached the
 * sandbox. */
static void wait_for_request(struct blog_env *env, const char *method,
                             const char *prefix, int seen)
{
    for (int i = 0; i < 1000; i++) {
        if (blog_env_count(env, method, prefix, -1) > seen)
            return;
        clock_sleep_ms(10);
    }
    fail_msg("no %s %s reached the sandbox", method, prefix);
}

/*
 * Holds the next request to endpoint (a fault pattern) for HOLD_MS, runs
 * the next job in a child, and kills the child once that request arrived.
 * Then lets the job's lease expire.
 */
static void kill_worker_at(struct blog_env *env, const char *endpoint,
                           const char *method, const char *prefix)
{
    char fault[256];
    int seen = blog_env_count(env, method, prefix, -1);
    int status = 0;
    pid_t pid;

    snprintf(fault, sizeof(fault),
             "{\"endpoint\": \"%s\", \"mode\": \"delay\", \"delay_ms\": %d}",
             endpoint, HOLD_MS);
    blog_env_fault(env, fault);
    pid = start_doomed_worker(env);
    wait_for_request(env, method, prefix, seen);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));

    /* Nothing runs until the dead worker's lease is over. */
    assert_null(blog_env_claim(env, 0));
    clock_fake_advance_ms(PAST_LEASE_MS);
}

/* Puts jobs with expired leases back in the queue; returns how many. */
static int64_t rescue(struct blog_env *env)
{
    struct error err;
    int64_t count = 0;

    error_clear(&err);
    assert_int_equal(queue_rescue_expired(env->app->store, &count, &err), 0);
    return count;
}

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

static void select_first(struct blog_env *env, const char *id)
{
    struct error err;

    error_clear(&err);
    assert_int_equal(blog_select(env->app, env->instance_id, id, 0, &err), 0);
}

/* One draft, one cover, one charge, and the draft is the generation's. */
static void expect_one_of_each(struct blog_env *env, const char *id)
{
    json_t *view = blog_env_view(env, id);
    json_t *site = blog_env_site(env);
    struct store_credits credits = blog_env_credits(env);

    assert_string_equal(json_string_value(json_object_get(view, "state")),
                        BLOG_DONE);
    assert_int_equal(json_array_size(json_object_get(site, "drafts")), 1);
    assert_string_equal(
        json_string_value(json_at(site, "drafts[0].id")),
        json_string_value(json_object_get(view, "draft_post_id")));
    assert_int_equal(blog_env_covers(env), 1);
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_charged")),
        blog_env_cost(env));
    assert_int_equal(credits.available, BLOG_ENV_CREDITS - blog_env_cost(env));
    assert_int_equal(credits.reserved, 0);
    assert_int_equal(blog_env_count(env, "POST", "/replicate/v1/models/", -1),
                     1);
    json_decref(site);
    json_decref(view);
}

/* ------------------------------------------------------------------ */
/* One test per step                                                   */
/* ------------------------------------------------------------------ */

static void killed_during_ideas(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_begin(env, REQUEST, id);
    kill_worker_at(env, "POST /openai/v1/chat/completions", "POST",
                   "/openai/v1/chat/completions");
    assert_int_equal(rescue(env), 1);

    /* The ideas were never checkpointed, so they are asked for again. */
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", -1), 2);
    select_first(env, id);
    blog_env_run_until(env, id, BLOG_DONE);
    expect_one_of_each(env, id);
}

static void killed_during_write(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_WRITING);
    kill_worker_at(env, "POST /openai/v1/chat/completions", "POST",
                   "/openai/v1/chat/completions");
    assert_int_equal(rescue(env), 1);
    blog_env_run_until(env, id, BLOG_DONE);
    expect_one_of_each(env, id);

    /* Ideas once; the post twice, since the first response never arrived. */
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", -1), 3);
}

static void killed_waiting_for_prediction(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_GENERATING_IMAGE);

    /* Killed after the prediction id was committed: the rescued step
     * waits on that prediction instead of paying for another. */
    kill_worker_at(env, "GET /replicate/v1/predictions/*", "GET",
                   "/replicate/v1/predictions/");
    assert_int_equal(rescue(env), 1);
    blog_env_run_until(env, id, BLOG_DONE);
    expect_one_of_each(env, id);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", -1), 2);
}

static void killed_after_media_import(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);

    kill_worker_at(env, "GET /wix/site-media/v1/files/get-file-by-id", "GET",
                   "/wix/site-media/v1/files/get-file-by-id");
    assert_int_equal(rescue(env), 1);
    blog_env_run_until(env, id, BLOG_DONE);
    expect_one_of_each(env, id);
    assert_int_equal(
        blog_env_count(env, "POST", "/wix/site-media/v1/files/import", -1), 1);
}

/* Follows the generation while a worker pool runs it, up to a deadline. */
static void pool_runs_until_done(struct blog_env *env, const char *id)
{
    struct queue_pool_options options = {.workers = 2, .poll_ms = 100};
    struct queue_pool *pool;
    struct error err;
    char now[32] = "";

    error_clear(&err);
    pool = queue_pool_new(env->app->store, &options, &err);
    assert_non_null(pool);
    assert_int_equal(app_register_jobs(env->app, pool, &err), 0);
    assert_int_equal(queue_pool_start(pool, &err), 0);
    for (int i = 0; i < 600; i++) {
        blog_env_state(env, id, now);
        if (blog_state_ended(now))
            break;
        clock_sleep_ms(50);
    }
    queue_pool_free(pool);
    assert_string_equal(now, BLOG_DONE);
}

static void killed_after_draft_created(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);

    /* Killed after the draft was made, before the step's last commit; a
     * worker pool finds the expired lease by itself. */
    kill_worker_at(env, "GET /wix/blog/v3/draft-posts/*", "GET",
                   "/wix/blog/v3/draft-posts/");
    assert_int_equal(blog_env_drafts(env), 1);
    pool_runs_until_done(env, id);
    expect_one_of_each(env, id);
    assert_int_equal(
        blog_env_count(env, "POST", "/wix/blog/v3/draft-posts", -1) -
            blog_env_count(env, "POST", "/wix/blog/v3/draft-posts/query", -1),
        1);
}

static void claimed_and_abandoned(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct queue_job *job;

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);

    /* A worker that claims the publish job and vanishes before doing
     * anything leaves only an expiring lease behind. */
    job = blog_env_claim(env, 0);
    assert_non_null(job);
    assert_string_equal(job->kind, BLOG_JOB_PUBLISH);
    queue_job_free(job);
    assert_null(blog_env_claim(env, 0));
    clock_fake_advance_ms(PAST_LEASE_MS);
    assert_int_equal(rescue(env), 1);
    blog_env_run_until(env, id, BLOG_DONE);
    expect_one_of_each(env, id);
}

#define CRASH_TESTS(ON)                                                        \
    ON(killed_during_ideas)                                                    \
    ON(killed_during_write)                                                    \
    ON(killed_waiting_for_prediction)                                          \
    ON(killed_after_media_import)                                              \
    ON(killed_after_draft_created)                                             \
    ON(claimed_and_abandoned)

int main(void)
{
    int failed = 0;

    log_set_level(LOG_OFF);
    BLOG_RUN_TESTS("blog crash", CRASH_TESTS);
    return failed;
}
