/*
 * The worker pool on both backends: running jobs with the finish in the
 * handler's transaction, retries, the failed hook, lease keeping, rescue of
 * a dead worker's job, graceful shutdown and shutdown by signal.
 */
#include "queue/queue.h"

#include "../support/store_fixture.h"
#include "core/clock.h"
#include "core/log.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

static struct error err;

#define OK(call)                                                               \
    do {                                                                       \
        error_clear(&err);                                                     \
        if ((call) < 0)                                                        \
            fail_msg("%s failed: %s", #call, err.message);                     \
    } while (0)

static void make_effects_table(struct store *st)
{
    struct store_tx *tx = store_begin(st, &err);

    assert_non_null(tx);
    OK(store_exec(tx,
                  "CREATE TABLE test_effects (job_id BIGINT NOT NULL, "
                  "note TEXT)",
                  &err));
    OK(store_commit(tx, &err));
}

static int64_t count_rows(struct store *st, const char *sql)
{
    struct store_tx *tx = store_begin_read(st, &err);
    int64_t count = -1;

    assert_non_null(tx);
    assert_int_equal(store_query_int(tx, sql, STORE_NO_ARGS, &count, &err), 1);
    store_rollback(tx);
    return count;
}

static void enqueue_many(struct store *st, const char *kind, int count,
                         const struct queue_enqueue_options *options)
{
    struct store_tx *tx = store_begin(st, &err);

    assert_non_null(tx);
    for (int i = 0; i < count; i++)
        OK(queue_enqueue(tx, kind, "inst-1", NULL, options, NULL, &err));
    OK(store_commit(tx, &err));
}

/* Waits up to timeout_ms for the number of jobs in state to reach want. */
static int wait_for_state(struct store *st, const char *state, int64_t want,
                          int64_t timeout_ms)
{
    int64_t deadline = clock_monotonic_ms() + timeout_ms;
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM jobs WHERE state = '%s'",
             state);
    while (clock_monotonic_ms() < deadline) {
        if (count_rows(st, sql) == want)
            return 1;
        clock_sleep_ms(20);
    }
    return 0;
}

static struct queue_pool *new_pool(struct store *st, int workers,
                                   int64_t lease_ms, int64_t grace_ms)
{
    struct queue_pool_options options = {.workers = workers,
                                         .lease_ms = lease_ms,
                                         .poll_ms = 50,
                                         .grace_ms = grace_ms};
    struct queue_pool *pool = queue_pool_new(st, &options, &err);

    assert_non_null(pool);
    return pool;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

/* Writes a side-effect row and finishes the job in one transaction. */
static int record_effect(struct store *st, struct queue_job *job, void *arg,
                         struct error *e)
{
    struct store_tx *tx = store_begin(st, e);

    (void)arg;
    if (!tx)
        return -1;
    if (store_run(tx, "INSERT INTO test_effects (job_id) VALUES (?)",
                  STORE_ARGS(STORE_INT(job->id)), NULL, e) != 0 ||
        queue_finish(tx, job, e) != 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, e);
}

/* Fails the first two attempts with a retryable error. */
static int flaky(struct store *st, struct queue_job *job, void *arg,
                 struct error *e)
{
    (void)st;
    (void)arg;
    if (job->attempt < 3)
        return error_set(e, ERR_RETRYABLE, "flaky attempt %d", job->attempt);
    return 0;
}

static int always_permanent(struct store *st, struct queue_job *job, void *arg,
                            struct error *e)
{
    (void)st;
    (void)job;
    (void)arg;
    return error_set(e, ERR_INVALID, "prompt is empty");
}

/* Records the final failure in the same transaction as the job's. */
static int on_failed(struct store_tx *tx, const struct queue_job *job,
                     const struct error *cause, void *arg, struct error *e)
{
    atomic_int *calls = arg;

    atomic_fetch_add(calls, 1);
    return store_run(
        tx, "INSERT INTO test_effects (job_id, note) VALUES (?, ?)",
        STORE_ARGS(STORE_INT(job->id), STORE_TEXT(cause->message)), NULL, e);
}

struct slow_arg {
    int64_t sleep_ms;
    atomic_int started;
    atomic_int release; /* set by the test to let a stuck handler end */
};

/* Sleeps sleep_ms, or with sleep_ms < 0 until the test releases it. */
static int slow(struct store *st, struct queue_job *job, void *arg,
                struct error *e)
{
    struct slow_arg *slow_arg = arg;

    (void)st;
    (void)job;
    (void)e;
    atomic_fetch_add(&slow_arg->started, 1);
    if (slow_arg->sleep_ms >= 0) {
        clock_sleep_ms(slow_arg->sleep_ms);
        return 0;
    }
    while (!atomic_load(&slow_arg->release))
        clock_sleep_ms(5);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void pool_runs_every_job_once(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_handler handler = {.run = record_effect};
    struct queue_pool *pool;

    make_effects_table(f->st);
    enqueue_many(f->st, "test.effect", 60, NULL);
    pool = new_pool(f->st, 4, 5000, 1000);
    OK(queue_pool_register(pool, "test.effect", &handler, &err));
    error_clear(&err);
    assert_int_equal(queue_pool_register(pool, "test.effect", &handler, &err),
                     -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
    OK(queue_pool_start(pool, &err));

    assert_true(wait_for_state(f->st, "finished", 60, 20000));
    assert_int_equal(queue_pool_stop(pool), 0);
    queue_pool_free(pool);
    assert_int_equal(count_rows(f->st, "SELECT COUNT(*) FROM test_effects"),
                     60);
    assert_int_equal(
        count_rows(f->st, "SELECT COUNT(DISTINCT job_id) FROM test_effects"),
        60);
}

static void pool_wakes_on_enqueue(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_handler handler = {.run = record_effect};
    struct queue_pool_options options = {
        .workers = 2, .lease_ms = 5000, .poll_ms = 60000, .grace_ms = 1000};
    struct queue_pool *pool = queue_pool_new(f->st, &options, &err);
    int64_t started;

    make_effects_table(f->st);
    OK(queue_pool_register(pool, "test.effect", &handler, &err));
    OK(queue_pool_start(pool, &err));
    clock_sleep_ms(100); /* let the workers go idle */

    /* With a one-minute poll, only the wake-up can start the job soon. */
    started = clock_monotonic_ms();
    enqueue_many(f->st, "test.effect", 1, NULL);
    assert_true(wait_for_state(f->st, "finished", 1, 2000));
    assert_true(clock_monotonic_ms() - started < 2000);
    queue_pool_free(pool);
}

static void pool_retries_then_succeeds(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_handler handler = {.run = flaky,
                                    .retry = {.base_ms = 20, .max_ms = 40}};
    struct queue_pool *pool = new_pool(f->st, 2, 5000, 1000);

    enqueue_many(f->st, "test.flaky", 3, NULL);
    OK(queue_pool_register(pool, "test.flaky", &handler, &err));
    OK(queue_pool_start(pool, &err));
    assert_true(wait_for_state(f->st, "finished", 3, 20000));
    queue_pool_free(pool);
    assert_int_equal(count_rows(f->st, "SELECT MIN(attempts) FROM jobs"), 3);
    assert_int_equal(
        count_rows(f->st, "SELECT COUNT(*) FROM jobs WHERE last_error LIKE "
                          "'retryable: flaky attempt 2'"),
        3);
}

static void pool_calls_failed_hook_in_tx(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    atomic_int calls = 0;
    struct queue_handler handler = {
        .run = always_permanent, .failed = on_failed, .arg = &calls};
    struct queue_pool *pool = new_pool(f->st, 2, 5000, 1000);

    make_effects_table(f->st);
    enqueue_many(f->st, "test.broken", 2, NULL);
    OK(queue_pool_register(pool, "test.broken", &handler, &err));
    OK(queue_pool_start(pool, &err));
    assert_true(wait_for_state(f->st, "failed", 2, 20000));
    queue_pool_free(pool);
    assert_int_equal(atomic_load(&calls), 2);
    assert_int_equal(
        count_rows(f->st, "SELECT COUNT(*) FROM test_effects WHERE note = "
                          "'prompt is empty'"),
        2);
    assert_int_equal(count_rows(f->st, "SELECT MAX(attempts) FROM jobs"), 1);
}

static void pool_keeps_lease_of_long_job(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct slow_arg arg = {.sleep_ms = 1500};
    struct queue_handler handler = {.run = slow, .arg = &arg};
    struct queue_pool *pool = new_pool(f->st, 1, 300, 5000);

    enqueue_many(f->st, "test.slow", 1, NULL);
    OK(queue_pool_register(pool, "test.slow", &handler, &err));
    OK(queue_pool_start(pool, &err));
    assert_true(wait_for_state(f->st, "finished", 1, 10000));
    queue_pool_free(pool);

    /* Five leases long, yet run once: the keeper extended the lease. */
    assert_int_equal(atomic_load(&arg.started), 1);
    assert_int_equal(count_rows(f->st, "SELECT attempts FROM jobs"), 1);
}

static void pool_rescues_dead_workers_job(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_handler handler = {.run = record_effect};
    struct queue_claim_options claim = {.lease_ms = 300};
    struct queue_job *orphan = NULL;
    struct queue_pool *pool;

    make_effects_table(f->st);
    enqueue_many(f->st, "test.effect", 1, NULL);

    /* A worker claims the job and dies without a word. */
    assert_int_equal(queue_claim(f->st, &claim, &orphan, &err), 1);
    pool = new_pool(f->st, 1, 300, 1000);
    OK(queue_pool_register(pool, "test.effect", &handler, &err));
    OK(queue_pool_start(pool, &err));
    assert_true(wait_for_state(f->st, "finished", 1, 10000));
    queue_pool_free(pool);
    assert_int_equal(count_rows(f->st, "SELECT attempts FROM jobs"), 2);

    /* The dead worker's late finish is refused and adds no effect. */
    struct store_tx *tx = store_begin(f->st, &err);
    error_clear(&err);
    assert_int_equal(queue_finish(tx, orphan, &err), -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
    store_rollback(tx);
    assert_int_equal(count_rows(f->st, "SELECT COUNT(*) FROM test_effects"), 1);
    queue_job_free(orphan);
}

static void stop_waits_for_running_jobs(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct slow_arg arg = {.sleep_ms = 300};
    struct queue_handler handler = {.run = slow, .arg = &arg};
    struct queue_pool *pool = new_pool(f->st, 2, 5000, 10000);
    int64_t started;

    enqueue_many(f->st, "test.slow", 2, NULL);
    OK(queue_pool_register(pool, "test.slow", &handler, &err));
    OK(queue_pool_start(pool, &err));
    while (atomic_load(&arg.started) < 2)
        clock_sleep_ms(5);
    started = clock_monotonic_ms();
    assert_int_equal(queue_pool_stop(pool), 0);
    assert_true(clock_monotonic_ms() - started < 5000);
    assert_true(queue_pool_stopping(pool));
    queue_pool_free(pool);
    assert_true(wait_for_state(f->st, "finished", 2, 1000));
}

static void stop_returns_stuck_jobs_after_grace(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct slow_arg arg = {.sleep_ms = -1};
    struct queue_handler handler = {.run = slow, .arg = &arg};
    struct queue_pool *pool = new_pool(f->st, 2, 5000, 200);
    int64_t started;

    enqueue_many(f->st, "test.stuck", 3, NULL);
    OK(queue_pool_register(pool, "test.stuck", &handler, &err));
    OK(queue_pool_start(pool, &err));
    while (atomic_load(&arg.started) < 2)
        clock_sleep_ms(5);

    started = clock_monotonic_ms();
    assert_int_equal(queue_pool_stop(pool), 2);
    assert_in_range(clock_monotonic_ms() - started, 150, 3000);

    /* Both running jobs are back in the queue with the attempt undone. */
    assert_true(wait_for_state(f->st, "queued", 3, 1000));
    assert_int_equal(count_rows(f->st, "SELECT MAX(attempts) FROM jobs"), 0);

    /* The handlers end later; their finish is refused. */
    atomic_store(&arg.release, 1);
    queue_pool_free(pool);
    assert_true(wait_for_state(f->st, "queued", 3, 1000));
}

struct signal_run {
    struct queue_pool *pool;
    int rc;
};

static void *run_until_signal(void *arg)
{
    struct signal_run *run = arg;
    struct error e;

    error_clear(&e);
    run->rc = queue_pool_run_until_signal(run->pool, &e);
    return NULL;
}

static void stop_on_sigterm(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_handler handler = {.run = record_effect};
    struct signal_run run = {.pool = new_pool(f->st, 2, 5000, 1000)};
    sigset_t signals;
    sigset_t previous;
    pthread_t thread;

    make_effects_table(f->st);
    OK(queue_pool_register(run.pool, "test.effect", &handler, &err));

    /* Every thread blocks SIGTERM, so only the pool's sigwait takes it. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, &previous);
    assert_int_equal(pthread_create(&thread, NULL, run_until_signal, &run), 0);
    enqueue_many(f->st, "test.effect", 5, NULL);
    assert_true(wait_for_state(f->st, "finished", 5, 10000));
    kill(getpid(), SIGTERM);
    pthread_join(thread, NULL);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);

    assert_int_equal(run.rc, 0);
    assert_true(queue_pool_stopping(run.pool));
    queue_pool_free(run.pool);
}

static void start_needs_a_kind(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_pool *pool = new_pool(f->st, 1, 5000, 1000);

    error_clear(&err);
    assert_int_equal(queue_pool_start(pool, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    queue_pool_free(pool);
}

static void options_from_config(void **state)
{
    struct config *cfg = config_new_empty();
    struct queue_pool_options options;

    (void)state;
    OK(queue_pool_options_from_config(cfg, &options, &err));
    assert_int_equal(options.workers, 4);
    assert_int_equal(options.lease_ms, QUEUE_DEFAULT_LEASE_MS);
    assert_int_equal(options.grace_ms, 30000);
    assert_int_equal(options.instance_limit, 4);

    config_set(cfg, "SITESMITH_WORKERS", "9");
    config_set(cfg, "SITESMITH_QUEUE_LEASE", "2m");
    config_set(cfg, "SITESMITH_SHUTDOWN_GRACE", "5s");
    config_set(cfg, "SITESMITH_INSTANCE_CONCURRENCY", "0");
    OK(queue_pool_options_from_config(cfg, &options, &err));
    assert_int_equal(options.workers, 9);
    assert_int_equal(options.lease_ms, 120000);
    assert_int_equal(options.grace_ms, 5000);
    assert_int_equal(options.instance_limit, 0);

    config_set(cfg, "SITESMITH_QUEUE_LEASE", "10ms");
    error_clear(&err);
    assert_int_equal(queue_pool_options_from_config(cfg, &options, &err), -1);
    assert_non_null(strstr(err.message, "SITESMITH_QUEUE_LEASE"));
    config_set(cfg, "SITESMITH_QUEUE_LEASE", "30s");
    config_set(cfg, "SITESMITH_WORKERS", "0");
    assert_int_equal(queue_pool_options_from_config(cfg, &options, &err), -1);
    assert_non_null(strstr(err.message, "SITESMITH_WORKERS"));
    config_free(cfg);
}

#define POOL_TESTS(X)                                                          \
    X(pool_runs_every_job_once)                                                \
    X(pool_wakes_on_enqueue)                                                   \
    X(pool_retries_then_succeeds)                                              \
    X(pool_calls_failed_hook_in_tx)                                            \
    X(pool_keeps_lease_of_long_job)                                            \
    X(pool_rescues_dead_workers_job)                                           \
    X(stop_waits_for_running_jobs)                                             \
    X(stop_returns_stuck_jobs_after_grace)                                     \
    X(stop_on_sigterm)                                                         \
    X(start_needs_a_kind)

int main(void)
{
    const struct CMUnitTest common[] = {
        cmocka_unit_test(options_from_config),
    };
    const struct CMUnitTest sqlite[] = {POOL_TESTS(STORE_ON_SQLITE)};
    const struct CMUnitTest postgres[] = {POOL_TESTS(STORE_ON_POSTGRES)};
    int failed = 0;

    log_set_level(LOG_ERROR);
    store_fixture_announce();
    failed += cmocka_run_group_tests_name("pool", common, NULL, NULL);
    failed += cmocka_run_group_tests_name("pool on sqlite", sqlite, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("pool on postgres", postgres, NULL, NULL);
    return failed;
}
