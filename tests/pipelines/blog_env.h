/*
 * End-to-end setting for the blog pipeline tests. It starts a
 * sitesmith-sandbox process with one site from the "store" fixture, a fresh
 * database (SQLite, or a PostgreSQL schema when SITESMITH_TEST_POSTGRES_URL
 * is set) and an app opened on both. A job driver claims and runs blog jobs
 * in the test's thread the way the worker pool does, so that a test decides
 * when each step runs.
 *
 * The process runs on the fake clock (started at the real time); the
 * driver moves it forward only to make retries due. Header-only, because
 * the shared test-support library does not link the pipelines.
 */
#ifndef SITESMITH_TESTS_BLOG_ENV_H
#define SITESMITH_TESTS_BLOG_ENV_H

#include "ai/openai.h"
#include "auth/token.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "http/client.h"
#include "pipelines/app.h"
#include "pipelines/blog.h"
#include "pipelines/blog_internal.h"
#include "queue/queue.h"
#include "sandbox_proc.h"
#include "store/store.h"
#include "store_fixture.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Credits granted to the test site: enough for several generations. */
#define BLOG_ENV_CREDITS 100
/* Rounds of "run what is due, then move the clock" before giving up. */
#define BLOG_ENV_MAX_ROUNDS 60
/* How far the clock moves when nothing is due: past any retry wait of the
 * first attempts (the queue backs off 1 s, 2 s, 4 s, ...). */
#define BLOG_ENV_STEP_MS (60 * 1000)

struct blog_env {
    enum store_backend backend;
    struct sandbox_proc sandbox;
    struct store_fixture db; /* names the database; the app opens it */
    struct config *cfg;
    struct app *app;
    char data_dir[64];
    char instance_id[128];
    char owner_member_id[128];
};

/* The cmocka prestate of a test: which backend it runs on. */
static const enum store_backend blog_env_sqlite = STORE_SQLITE;
static const enum store_backend blog_env_postgres = STORE_POSTGRES;

static inline void blog_env_set(struct blog_env *env, const char *name,
                                const char *value)
{
    assert_int_equal(config_set(env->cfg, name, value), 0);
}

/*
 * Adds a site to the sandbox from body (a POST /__sandbox/sites body) and
 * to the store, with credits. owner_member_id is "" for a site without
 * members.
 */
static inline void blog_env_add_site_from(struct blog_env *env,
                                          const char *body, int64_t credits,
                                          char instance_id[128],
                                          char owner_member_id[128])
{
    json_t *site = sandbox_proc_create_site(&env->sandbox, body);
    const char *id = json_string_value(json_object_get(site, "instance_id"));
    const char *owner =
        json_string_value(json_object_get(site, "owner_member_id"));
    struct store_tx *tx;
    struct error err;

    assert_non_null(id);
    snprintf(instance_id, 128, "%s", id);
    snprintf(owner_member_id, 128, "%s", owner ? owner : "");
    json_decref(site);

    error_clear(&err);
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_instance_put(tx, instance_id, "installed", NULL, NULL, &err), 0);
    if (credits > 0)
        assert_true(store_credits_grant(tx, instance_id, credits, "test-grant",
                                        NULL, &err) >= 0);
    assert_int_equal(store_commit(tx, &err), 0);
}

/* Adds a site from the "store" fixture (Catalog V1), with credits. */
static inline void blog_env_add_site(struct blog_env *env, int64_t credits,
                                     char instance_id[128],
                                     char owner_member_id[128])
{
    blog_env_add_site_from(env,
                           "{\"fixture\": \"store\", \"catalog_version\": 1}",
                           credits, instance_id, owner_member_id);
}

static inline void blog_env_configure(struct blog_env *env)
{
    char key_hex[2 * CRYPTO_KEY_BYTES + 1];
    unsigned char key[CRYPTO_KEY_BYTES];

    randombytes_buf(key, sizeof(key));
    for (size_t i = 0; i < sizeof(key); i++)
        snprintf(key_hex + 2 * i, 3, "%02x", key[i]);
    env->cfg = config_new_empty();
    blog_env_set(env, "SITESMITH_DATABASE_URL", env->db.url);
    blog_env_set(env, "SITESMITH_SECRET_KEY", key_hex);
    blog_env_set(env, "SITESMITH_DATA_DIR", env->data_dir);
    blog_env_set(env, "SITESMITH_WIX_APP_ID", SANDBOX_PROC_APP_ID);
    blog_env_set(env, "SITESMITH_WIX_APP_SECRET", SANDBOX_PROC_APP_SECRET);
    blog_env_set(env, "SITESMITH_WIX_API_URL", env->sandbox.wix_url);
    blog_env_set(env, "OPENAI_API_KEY", "sk-test-blog-pipeline");
    blog_env_set(env, "OPENAI_BASE_URL", env->sandbox.openai_url);
    blog_env_set(env, "REPLICATE_API_TOKEN", "r8_test_blog_pipeline");
    blog_env_set(env, "SITESMITH_REPLICATE_API_URL",
                 env->sandbox.replicate_url);
    blog_env_set(env, "SITESMITH_BLOG_MEDIA_TIMEOUT", "10s");
}

/*
 * Starts everything for backend; skips the test on PostgreSQL when no
 * server was given. Settings in cfg may be changed before blog_env_open().
 */
static inline void blog_env_prepare(struct blog_env *env,
                                    enum store_backend backend)
{
    memset(env, 0, sizeof(*env));
    env->backend = backend;
    if (backend == STORE_POSTGRES && !store_fixture_have_postgres())
        skip();
    assert_int_equal(crypto_init(), 0);
    env->db.backend = backend;
    assert_int_equal(store_fixture_prepare(&env->db), 0);
    snprintf(env->data_dir, sizeof(env->data_dir),
             "/tmp/sitesmith-blog-data.XXXXXX");
    assert_non_null(mkdtemp(env->data_dir));

    sandbox_proc_start(&env->sandbox, NULL);
    sandbox_proc_configure(&env->sandbox,
                           "{\"wix\": {\"media_ready_ms\": 100}, "
                           "\"replicate\": {\"starting_ms\": 50, "
                           "\"processing_ms\": 150}}");
    clock_fake_set_ms(clock_now_ms());
    blog_env_configure(env);
}

/* Opens the app on the prepared settings and adds the test site. */
static inline void blog_env_open(struct blog_env *env)
{
    struct error err;

    error_clear(&err);
    env->app = app_open(env->cfg, &err);
    if (!env->app)
        fail_msg("app_open: %s", err.message);
    blog_env_add_site(env, BLOG_ENV_CREDITS, env->instance_id,
                      env->owner_member_id);
}

static inline void blog_env_start(struct blog_env *env,
                                  enum store_backend backend)
{
    blog_env_prepare(env, backend);
    blog_env_open(env);
}

static inline void blog_env_remove_dir(const char *dir)
{
    char path[1024];
    DIR *listing = opendir(dir);
    struct dirent *entry;

    while (listing && (entry = readdir(listing))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%.500s/%.255s", dir, entry->d_name);
        if (unlink(path) != 0)
            blog_env_remove_dir(path);
    }
    if (listing)
        closedir(listing);
    rmdir(dir);
}

static inline void blog_env_stop(struct blog_env *env)
{
    app_close(env->app);
    env->app = NULL;
    config_free(env->cfg);
    env->cfg = NULL;
    store_fixture_close(&env->db);
    if (env->data_dir[0])
        blog_env_remove_dir(env->data_dir);
    sandbox_proc_stop(&env->sandbox);
    clock_use_system();
}

/* cmocka setup and teardown whose prestate is &blog_env_sqlite or
 * &blog_env_postgres. */
static inline int blog_env_setup(void **state)
{
    enum store_backend backend = *(const enum store_backend *)*state;
    struct blog_env *env = calloc(1, sizeof(*env));

    assert_non_null(env);
    env->backend = backend;
    *state = env;
    return 0;
}

static inline int blog_env_teardown(void **state)
{
    struct blog_env *env = *state;

    if (env->cfg)
        blog_env_stop(env);
    free(env);
    return 0;
}

/* Entries of a cmocka test table that run name on one backend. */
#define BLOG_ON_SQLITE(name)                                                   \
    cmocka_unit_test_prestate_setup_teardown(                                  \
        name, blog_env_setup, blog_env_teardown, (void *)&blog_env_sqlite),
#define BLOG_ON_POSTGRES(name)                                                 \
    cmocka_unit_test_prestate_setup_teardown(                                  \
        name, blog_env_setup, blog_env_teardown, (void *)&blog_env_postgres),

/* Runs the table on SQLite, then on PostgreSQL when a server was given. */
#define BLOG_RUN_TESTS(title, TESTS)                                           \
    do {                                                                       \
        const struct CMUnitTest sqlite_tests[] = {TESTS(BLOG_ON_SQLITE)};      \
        const struct CMUnitTest postgres_tests[] = {TESTS(BLOG_ON_POSTGRES)};  \
        store_fixture_announce();                                              \
        failed += cmocka_run_group_tests_name(title " on sqlite",              \
                                              sqlite_tests, NULL, NULL);       \
        failed += cmocka_run_group_tests_name(title " on postgres",            \
                                              postgres_tests, NULL, NULL);     \
    } while (0)

/* ------------------------------------------------------------------ */
/* The job driver                                                      */
/* ------------------------------------------------------------------ */

static inline const struct blog_step *blog_env_step(const char *kind)
{
    if (strcmp(kind, BLOG_JOB_IDEAS) == 0)
        return &blog_ideas_step;
    if (strcmp(kind, BLOG_JOB_WRITE) == 0)
        return &blog_write_step;
    if (strcmp(kind, BLOG_JOB_IMAGE) == 0)
        return &blog_image_step;
    if (strcmp(kind, BLOG_JOB_EXPIRE) == 0)
        return &blog_expire_step;
    return &blog_publish_step;
}

/* Claims the next due blog job with the given lease (0: default). */
static inline struct queue_job *blog_env_claim(struct blog_env *env,
                                               int64_t lease_ms)
{
    static const char *const kinds[] = {BLOG_JOB_IDEAS,  BLOG_JOB_WRITE,
                                        BLOG_JOB_IMAGE,  BLOG_JOB_PUBLISH,
                                        BLOG_JOB_EXPIRE, NULL};
    struct queue_claim_options options = {.kinds = kinds, .lease_ms = lease_ms};
    struct queue_job *job = NULL;
    struct error err;
    int rc;

    error_clear(&err);
    rc = queue_claim(env->app->store, &options, &job, &err);
    if (rc < 0)
        fail_msg("queue_claim: %s", err.message);
    return rc == 1 ? job : NULL;
}

/*
 * Records a failed attempt as the pool does: queue_fail(), then the failed
 * hook (when not NULL) once the job will not be retried.
 */
static inline void blog_env_fail_with(struct blog_env *env,
                                      struct queue_job *job,
                                      const struct error *cause,
                                      queue_failed_fn failed)
{
    struct store_tx *tx;
    struct error err;
    int will_retry = 0;

    error_clear(&err);
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    if (queue_fail(tx, job, cause, NULL, &will_retry, &err) != 0 ||
        (!will_retry && failed &&
         failed(tx, job, cause, env->app, &err) != 0)) {
        store_rollback(tx);
        fail_msg("recording a failed job: %s", err.message);
    }
    assert_int_equal(store_commit(tx, &err), 0);
}

/* Records a failed blog attempt as the pool does, with the failed hook. */
static inline void blog_env_fail_job(struct blog_env *env,
                                     struct queue_job *job,
                                     const struct error *cause)
{
    blog_env_fail_with(env, job, cause, blog_job_failed);
}

/* A job kind with the handlers the worker pool runs it with. */
struct blog_env_kind {
    const char *kind;
    queue_handler_fn run;
    queue_failed_fn failed;
};

/* Commits queue_finish() for a job whose handler did not finish it. */
static inline void blog_env_finish(struct blog_env *env, struct queue_job *job)
{
    struct store_tx *tx;
    struct error err;

    error_clear(&err);
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(queue_finish(tx, job, &err), 0);
    assert_int_equal(store_commit(tx, &err), 0);
}

/*
 * Claims one due job of kinds (ended by a NULL kind, at most 7) and runs it
 * as the pool does: 1 when one ran, 0 when none was due. A run that fails
 * with the error code crash_code (when not NULL) is abandoned as a killed
 * worker's is, so its lease stays until it expires.
 */
static inline int blog_env_run_kind(struct blog_env *env,
                                    const struct blog_env_kind *kinds,
                                    const char *crash_code)
{
    const char *names[8];
    struct queue_claim_options options = {.kinds = names};
    const struct blog_env_kind *kind = kinds;
    struct queue_job *job = NULL;
    struct error err;
    size_t count = 0;
    int rc;

    for (; kinds[count].kind && count < 7; count++)
        names[count] = kinds[count].kind;
    names[count] = NULL;
    error_clear(&err);
    rc = queue_claim(env->app->store, &options, &job, &err);
    if (rc < 0)
        fail_msg("queue_claim: %s", err.message);
    if (rc == 0)
        return 0;

    while (strcmp(kind->kind, job->kind) != 0)
        kind++;
    if (job->attempt > job->max_attempts) {
        error_set(&err, ERR_PERMANENT, "job ran out of attempts");
        blog_env_fail_with(env, job, &err, kind->failed);
    } else if (kind->run(env->app->store, job, env->app, &err) != 0) {
        if (!crash_code || strcmp(err.code, crash_code) != 0)
            blog_env_fail_with(env, job, &err, kind->failed);
    } else if (!job->finished) {
        blog_env_finish(env, job);
    }
    queue_job_free(job);
    return 1;
}

/* Runs a claimed job as the pool does, and frees it. */
static inline void blog_env_run_job(struct blog_env *env, struct queue_job *job)
{
    struct error err;

    error_clear(&err);
    if (job->attempt > job->max_attempts) {
        error_set(&err, ERR_PERMANENT, "job ran out of attempts");
        blog_env_fail_job(env, job, &err);
    } else if (blog_step_run(blog_env_step(job->kind), env->app->store, job,
                             env->app, &err) != 0) {
        blog_env_fail_job(env, job, &err);
    } else if (!job->finished) {
        blog_env_finish(env, job);
    }
    queue_job_free(job);
}

/* Runs one due job: 1 when one ran, 0 when none was due. */
static inline int blog_env_run_one(struct blog_env *env)
{
    struct queue_job *job = blog_env_claim(env, 0);

    if (!job)
        return 0;
    blog_env_run_job(env, job);
    return 1;
}

/* Reads the generation as the store has it; free gen with
 * store_generation_clear(). */
static inline void blog_env_load(struct blog_env *env, const char *id,
                                 struct store_generation *gen)
{
    struct store_tx *tx;
    struct error err;

    error_clear(&err);
    tx = store_begin_read(env->app->store, &err);
    assert_non_null(tx);
    if (blog_generation_load(tx, env->instance_id, id, 0, gen, &err) != 0)
        fail_msg("loading generation %s: %s", id, err.message);
    store_rollback(tx);
}

/* The generation's state, into out. */
static inline void blog_env_state(struct blog_env *env, const char *id,
                                  char out[32])
{
    struct store_generation gen;

    blog_env_load(env, id, &gen);
    snprintf(out, 32, "%s", gen.state);
    store_generation_clear(&gen);
}

/*
 * Runs due jobs, moving the clock past retry waits, until the generation
 * is in state or has ended. Fails the test when it never gets there.
 */
static inline void blog_env_run_until(struct blog_env *env, const char *id,
                                      const char *state)
{
    char now[32];

    for (int round = 0; round < BLOG_ENV_MAX_ROUNDS; round++) {
        while (1) {
            blog_env_state(env, id, now);
            if (strcmp(now, state) == 0 || blog_state_ended(now))
                return;
            if (!blog_env_run_one(env))
                break;
        }
        clock_fake_advance_ms(BLOG_ENV_STEP_MS);
    }
    fail_msg("generation %s is still %s, never %s", id, now, state);
}

/* Starts a generation from request (JSON text); fails the test on error. */
static inline void blog_env_begin(struct blog_env *env, const char *request,
                                  char id[STORE_UUID_SIZE])
{
    json_t *body = json_loads(request, 0, NULL);
    struct error err;

    assert_non_null(body);
    error_clear(&err);
    if (blog_start(env->app, env->instance_id, body, id, &err) != 0)
        fail_msg("blog_start: %s", err.message);
    json_decref(body);
}

/* Runs a generation from its ideas to its end, choosing idea 0. */
static inline void blog_env_run_all(struct blog_env *env, const char *id)
{
    struct error err;

    error_clear(&err);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    if (blog_select(env->app, env->instance_id, id, 0, &err) != 0)
        fail_msg("blog_select: %s", err.message);
    blog_env_run_until(env, id, BLOG_DONE);
}

/*
 * Starts a generation from request, chooses idea 0 once the ideas are
 * ready, and runs it until state (writing or a later one) or its end.
 */
static inline void blog_env_run_to(struct blog_env *env, const char *request,
                                   char id[STORE_UUID_SIZE], const char *state)
{
    struct error err;

    blog_env_begin(env, request, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    error_clear(&err);
    if (blog_select(env->app, env->instance_id, id, 0, &err) != 0)
        fail_msg("blog_select: %s", err.message);
    blog_env_run_until(env, id, state);
}

/* The string at path in a view (json_at syntax), or NULL. */
static inline const char *view_string(const json_t *view, const char *path)
{
    return json_string_value(json_at(view, path));
}

/* The API view of a generation (new reference). */
static inline json_t *blog_env_view(struct blog_env *env, const char *id)
{
    struct error err;
    json_t *view;

    error_clear(&err);
    view = blog_generation_json(env->app, env->instance_id, id, &err);
    if (!view)
        fail_msg("blog_generation_json: %s", err.message);
    return view;
}

static inline struct store_credits blog_env_credits(struct blog_env *env)
{
    struct store_credits credits;
    struct store_tx *tx;
    struct error err;

    error_clear(&err);
    tx = store_begin_read(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(store_credits_get(tx, env->instance_id, &credits, &err),
                     0);
    store_rollback(tx);
    return credits;
}

/* The whole cost of one generation. */
static inline int64_t blog_env_cost(const struct blog_env *env)
{
    return env->app->costs.blog_ideas + env->app->costs.blog_write +
           env->app->costs.blog_image + env->app->costs.blog_publish;
}

/* Checks that view shows nothing charged and the whole cost released, and
 * that the site's balance is whole again. */
static inline void blog_env_expect_released(struct blog_env *env,
                                            const json_t *view)
{
    struct store_credits credits = blog_env_credits(env);

    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_charged")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_reserved")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_released")),
        blog_env_cost(env));
    assert_int_equal(credits.available, BLOG_ENV_CREDITS);
    assert_int_equal(credits.reserved, 0);
}

/* Checks that the generation failed with kind, its message naming what,
 * its credits released and nothing charged. */
static inline void blog_env_expect_failed(struct blog_env *env, const char *id,
                                          const char *kind, const char *what)
{
    json_t *view = blog_env_view(env, id);

    assert_string_equal(view_string(view, "state"), BLOG_FAILED);
    assert_string_equal(view_string(view, "error.kind"), kind);
    if (!strstr(view_string(view, "error.message"), what))
        fail_msg("error \"%s\" does not mention \"%s\"",
                 view_string(view, "error.message"), what);
    if (!strstr(view_string(view, "error.message"), "No credits were charged"))
        fail_msg("error \"%s\" does not say that nothing was charged",
                 view_string(view, "error.message"));
    blog_env_expect_released(env, view);
    json_decref(view);
}

/* Adds a fault rule (JSON text). */
static inline void blog_env_fault(struct blog_env *env, const char *fault)
{
    json_decref(sandbox_proc_add_fault(&env->sandbox, fault));
}

/*
 * Counts the requests in the sandbox's log with method whose path starts
 * with prefix and, when status is not -1, whose status is status.
 */
/*
 * The sandbox's request log. Each read goes on a new connection: a request
 * held by a "delay" fault stalls the sandbox thread that serves it, and
 * any kept-alive connection of that thread with it, while a new connection
 * is accepted by a thread that is free.
 */
static inline json_t *blog_env_requests(struct blog_env *env)
{
    struct http_client_request req = {
        .method = "GET",
        .timeout_ms = 30000,
        .fresh_connection = 1,
    };
    struct http_client_response resp;
    struct error err;
    char url[256];
    json_t *answer;
    json_t *requests;

    snprintf(url, sizeof(url), "%s/__sandbox/requests", env->sandbox.url);
    req.url = url;
    memset(&resp, 0, sizeof(resp));
    error_clear(&err);
    if (http_client_send(&req, &resp, &err) != 0 || resp.status != 200)
        fail_msg("reading the sandbox's request log: %s (HTTP %ld)",
                 err.message, resp.status);
    answer = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    http_client_response_release(&resp);
    requests = json_incref(json_object_get(answer, "requests"));
    json_decref(answer);
    assert_non_null(requests);
    return requests;
}

static inline int blog_env_count(struct blog_env *env, const char *method,
                                 const char *prefix, long status)
{
    json_t *log = blog_env_requests(env);
    json_t *entry;
    size_t index;
    int count = 0;

    json_array_foreach(log, index, entry)
    {
        const char *m = json_string_value(json_object_get(entry, "method"));
        const char *p = json_string_value(json_object_get(entry, "path"));

        if (m && p && strcmp(m, method) == 0 &&
            strncmp(p, prefix, strlen(prefix)) == 0 &&
            (status == -1 ||
             json_integer_value(json_object_get(entry, "status")) == status))
            count++;
    }
    json_decref(log);
    return count;
}

/* The site as the sandbox's Wix holds it (new reference). */
static inline json_t *blog_env_site(struct blog_env *env)
{
    return sandbox_proc_site(&env->sandbox, env->instance_id);
}

/* How many of the site's drafts and cover media files exist. */
static inline size_t blog_env_drafts(struct blog_env *env)
{
    json_t *site = blog_env_site(env);
    size_t count = json_array_size(json_object_get(site, "drafts"));

    json_decref(site);
    return count;
}

static inline size_t blog_env_covers(struct blog_env *env)
{
    json_t *site = blog_env_site(env);
    json_t *file;
    size_t index;
    size_t count = 0;

    json_array_foreach(json_object_get(site, "media"), index, file)
    {
        const char *name =
            json_string_value(json_object_get(file, "displayName"));

        count += name && strncmp(name, "sitesmith-cover-", 16) == 0;
    }
    json_decref(site);
    return count;
}

#endif
