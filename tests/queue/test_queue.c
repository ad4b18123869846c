/*
 * The job queue on both backends: enqueue, unique keys, ordering, claims
 * with leases, rescue, backoff and retry-after, cancel and per-instance
 * limits, including claims from many threads at once.
 */
#include "queue/queue.h"

#include "../support/store_fixture.h"
#include "core/clock.h"

#include <pthread.h>
#include <stdatomic.h>

static __thread struct error err;

#define OK(call)                                                               \
    do {                                                                       \
        error_clear(&err);                                                     \
        if ((call) < 0)                                                        \
            fail_msg("%s failed: %s", #call, err.message);                     \
    } while (0)

static struct store_tx *begin(struct store *st)
{
    struct store_tx *tx;

    error_clear(&err);
    tx = store_begin(st, &err);
    if (!tx)
        fail_msg("store_begin failed: %s", err.message);
    return tx;
}

/* Enqueues one job in its own transaction and returns its id. */
static int64_t enqueue(struct store *st, const char *kind,
                       const char *instance_id,
                       const struct queue_enqueue_options *options)
{
    struct store_tx *tx = begin(st);
    int64_t id = 0;

    OK(queue_enqueue(tx, kind, instance_id, "{\"n\":1}", options, &id, &err));
    OK(store_commit(tx, &err));
    return id;
}

static struct queue_job *claim(struct store *st, int64_t lease_ms,
                               int instance_limit)
{
    struct queue_claim_options options = {.lease_ms = lease_ms,
                                          .instance_limit = instance_limit};
    struct queue_job *job = NULL;

    error_clear(&err);
    if (queue_claim(st, &options, &job, &err) < 0)
        fail_msg("queue_claim failed: %s", err.message);
    return job;
}

static void finish(struct store *st, struct queue_job *job)
{
    struct store_tx *tx = begin(st);

    OK(queue_finish(tx, job, &err));
    OK(store_commit(tx, &err));
}

/* Reads a job's state; the caller frees info.last_error. */
static struct queue_job_info job_info(struct store *st, int64_t id)
{
    struct store_tx *tx = begin(st);
    struct queue_job_info info;

    assert_int_equal(queue_job_get(tx, id, &info, &err), 1);
    store_rollback(tx);
    return info;
}

static void assert_state(struct store *st, int64_t id, const char *state)
{
    struct queue_job_info info = job_info(st, id);

    assert_string_equal(info.state, state);
    queue_job_info_clear(&info);
}

static int teardown_clock(void **state)
{
    clock_use_system();
    return store_fixture_teardown(state);
}

/* ------------------------------------------------------------------ */
/* Enqueue and claim                                                   */
/* ------------------------------------------------------------------ */

static void claim_returns_enqueued_job(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_enqueue_options options = {
        .generation_id = "gen-1", .priority = 3, .max_attempts = 7};
    struct queue_job *job;
    int64_t id;

    clock_fake_set_ms(1000000);
    id = enqueue(f->st, "blog.write", "inst-1", &options);
    assert_true(id > 0);

    job = claim(f->st, 5000, 0);
    assert_non_null(job);
    assert_int_equal(job->id, id);
    assert_string_equal(job->kind, "blog.write");
    assert_string_equal(job->instance_id, "inst-1");
    assert_string_equal(job->generation_id, "gen-1");
    assert_string_equal(job->payload, "{\"n\":1}");
    assert_int_equal(job->attempt, 1);
    assert_int_equal(job->max_attempts, 7);
    assert_int_equal(job->priority, 3);
    assert_int_equal(job->enqueued_at_ms, 1000000);
    assert_int_equal(job->lease_expires_at_ms, 1005000);
    assert_int_equal(strlen(job->lease_token), 32);
    assert_null(job->last_error);
    assert_state(f->st, id, "running");

    /* Nothing else is due. */
    assert_null(claim(f->st, 5000, 0));

    finish(f->st, job);
    assert_true(job->finished);
    assert_state(f->st, id, "finished");
    queue_job_free(job);
}

static void enqueue_rolled_back_leaves_nothing(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    struct queue_counts counts;

    OK(queue_enqueue(tx, "k", "i", NULL, NULL, NULL, &err));
    store_rollback(tx);
    assert_null(claim(f->st, 1000, 0));
    OK(queue_count(f->st, &counts, &err));
    assert_int_equal(counts.queued, 0);
}

static void enqueue_rejects_bad_input(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    char long_kind[QUEUE_KIND_MAX + 1];

    memset(long_kind, 'k', sizeof(long_kind) - 1);
    long_kind[QUEUE_KIND_MAX] = '\0';
    error_clear(&err);
    assert_int_equal(queue_enqueue(tx, "", "i", NULL, NULL, NULL, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(queue_enqueue(tx, long_kind, "i", NULL, NULL, NULL, &err),
                     -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(queue_enqueue(tx, "k", "i", "{not json", NULL, NULL, &err),
                     -1);
    assert_non_null(strstr(err.message, "payload"));
    store_rollback(tx);
}

static void unique_key_is_noop_while_pending(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_enqueue_options options = {.unique_key = "sync:inst-1"};
    struct store_tx *tx;
    struct queue_job *job;
    int64_t first = 0;
    int64_t second = 0;

    tx = begin(f->st);
    assert_int_equal(
        queue_enqueue(tx, "sync", "inst-1", NULL, &options, &first, &err), 1);
    assert_int_equal(
        queue_enqueue(tx, "sync", "inst-1", NULL, &options, &second, &err), 0);
    assert_int_equal(second, first);
    OK(store_commit(tx, &err));

    /* Still a no-op while the job runs. */
    job = claim(f->st, 5000, 0);
    assert_non_null(job);
    tx = begin(f->st);
    second = 0;
    assert_int_equal(
        queue_enqueue(tx, "sync", "inst-1", NULL, &options, &second, &err), 0);
    assert_int_equal(second, first);
    OK(store_commit(tx, &err));

    /* Once it finished, the key is free again. */
    finish(f->st, job);
    queue_job_free(job);
    tx = begin(f->st);
    assert_int_equal(
        queue_enqueue(tx, "sync", "inst-1", NULL, &options, &second, &err), 1);
    assert_true(second != first);
    OK(store_commit(tx, &err));
}

static void claim_order_priority_then_run_at(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_enqueue_options later = {.run_at_ms = 1000000 + 60000};
    struct queue_enqueue_options urgent = {.priority = 10};
    int64_t plain_a, plain_b, high, delayed;
    struct queue_job *job;

    clock_fake_set_ms(1000000);
    plain_a = enqueue(f->st, "k", "", NULL);
    clock_fake_advance_ms(1);
    plain_b = enqueue(f->st, "k", "", NULL);
    delayed = enqueue(f->st, "k", "", &later);
    high = enqueue(f->st, "k", "", &urgent);

    int64_t expected[] = {high, plain_a, plain_b};
    for (size_t i = 0; i < 3; i++) {
        job = claim(f->st, 1000, 0);
        assert_non_null(job);
        assert_int_equal(job->id, expected[i]);
        finish(f->st, job);
        queue_job_free(job);
    }

    /* The delayed job becomes due only when its time comes. */
    assert_null(claim(f->st, 1000, 0));
    clock_fake_advance_ms(59998);
    assert_null(claim(f->st, 1000, 0));
    clock_fake_advance_ms(1);
    job = claim(f->st, 1000, 0);
    assert_non_null(job);
    assert_int_equal(job->id, delayed);
    queue_job_free(job);
}

static void claim_filters_by_kind(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    const char *const kinds[] = {"image.upscale", NULL};
    struct queue_claim_options options = {.kinds = kinds};
    struct queue_job *job = NULL;
    int64_t image;

    enqueue(f->st, "blog.write", "", NULL);
    image = enqueue(f->st, "image.upscale", "", NULL);
    assert_int_equal(queue_claim(f->st, &options, &job, &err), 1);
    assert_int_equal(job->id, image);
    queue_job_free(job);
    assert_int_equal(queue_claim(f->st, &options, &job, &err), 0);
    assert_null(job);
}

/* ------------------------------------------------------------------ */
/* Leases                                                              */
/* ------------------------------------------------------------------ */

static void expired_lease_is_rescued(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_job *dead;
    struct queue_job *job;
    struct queue_job_info info;
    int64_t rescued = -1;
    int64_t id;

    clock_fake_set_ms(2000000);
    id = enqueue(f->st, "k", "i", NULL);
    dead = claim(f->st, 1000, 0);
    assert_non_null(dead);

    /* Not yet expired: nothing to rescue. */
    clock_fake_advance_ms(999);
    OK(queue_rescue_expired(f->st, &rescued, &err));
    assert_int_equal(rescued, 0);

    clock_fake_advance_ms(2);
    OK(queue_rescue_expired(f->st, &rescued, &err));
    assert_int_equal(rescued, 1);
    info = job_info(f->st, id);
    assert_string_equal(info.state, "queued");
    assert_non_null(strstr(info.last_error, "lease expired"));
    queue_job_info_clear(&info);

    job = claim(f->st, 1000, 0);
    assert_non_null(job);
    assert_int_equal(job->id, id);
    assert_int_equal(job->attempt, 2);
    assert_non_null(strstr(job->last_error, "lease expired"));

    /* The first worker woke up late: it can neither extend nor finish. */
    error_clear(&err);
    assert_int_equal(queue_extend(f->st, dead, 1000, &err), -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
    assert_string_equal(err.code, "lease_lost");
    struct store_tx *tx = begin(f->st);
    error_clear(&err);
    assert_int_equal(queue_finish(tx, dead, &err), -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
    store_rollback(tx);
    assert_false(dead->finished);

    finish(f->st, job);
    assert_state(f->st, id, "finished");
    queue_job_free(dead);
    queue_job_free(job);
}

static void extend_keeps_the_lease(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_job *job;
    int64_t rescued = -1;

    clock_fake_set_ms(3000000);
    enqueue(f->st, "k", "i", NULL);
    job = claim(f->st, 1000, 0);
    clock_fake_advance_ms(800);
    OK(queue_extend(f->st, job, 1000, &err));
    assert_int_equal(job->lease_expires_at_ms, 3001800);
    clock_fake_advance_ms(800);
    OK(queue_rescue_expired(f->st, &rescued, &err));
    assert_int_equal(rescued, 0);
    finish(f->st, job);
    queue_job_free(job);
}

static void release_does_not_count_attempt(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_job *job;
    int64_t id = enqueue(f->st, "k", "i", NULL);

    job = claim(f->st, 1000, 0);
    OK(queue_release(f->st, job, &err));
    error_clear(&err);
    assert_int_equal(queue_release(f->st, job, &err), -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
    queue_job_free(job);

    job = claim(f->st, 1000, 0);
    assert_non_null(job);
    assert_int_equal(job->id, id);
    assert_int_equal(job->attempt, 1);
    queue_job_free(job);
}

static void lease_expiry_past_last_attempt(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_enqueue_options once = {.max_attempts = 1};
    struct queue_job *job;

    clock_fake_set_ms(4000000);
    enqueue(f->st, "k", "i", &once);
    job = claim(f->st, 100, 0);
    queue_job_free(job);
    clock_fake_advance_ms(101);
    OK(queue_rescue_expired(f->st, NULL, &err));

    /* The claim hands it out so that the caller can fail it for good. */
    job = claim(f->st, 100, 0);
    assert_non_null(job);
    assert_int_equal(job->attempt, 2);
    assert_true(job->attempt > job->max_attempts);
    queue_job_free(job);
}

/* ------------------------------------------------------------------ */
/* Failures and backoff                                                */
/* ------------------------------------------------------------------ */

static void backoff_grows_with_jitter(void **state)
{
    struct queue_retry_policy policy = {.base_ms = 1000, .max_ms = 10000};

    (void)state;
    for (int i = 0; i < 200; i++) {
        int64_t first = queue_backoff_ms(&policy, 1);
        int64_t third = queue_backoff_ms(&policy, 3);
        int64_t capped = queue_backoff_ms(&policy, 40);

        assert_in_range(first, 500, 1000);
        assert_in_range(third, 2000, 4000);
        assert_in_range(capped, 5000, 10000);
    }
    assert_in_range(queue_backoff_ms(NULL, 1), 500, 1000);
}

static void fail_retries_after_backoff(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_retry_policy policy = {.base_ms = 1000};
    struct queue_job *job;
    struct queue_job_info info;
    struct store_tx *tx;
    struct error cause;
    int will_retry = -1;
    int64_t id;

    clock_fake_set_ms(5000000);
    id = enqueue(f->st, "k", "i", NULL);
    job = claim(f->st, 1000, 0);
    error_set(&cause, ERR_RETRYABLE, "upstream returned 503");
    tx = begin(f->st);
    OK(queue_fail(tx, job, &cause, &policy, &will_retry, &err));
    OK(store_commit(tx, &err));
    assert_int_equal(will_retry, 1);
    queue_job_free(job);

    info = job_info(f->st, id);
    assert_string_equal(info.state, "queued");
    assert_in_range(info.run_at_ms, 5000500, 5001000);
    assert_string_equal(info.last_error, "retryable: upstream returned 503");
    assert_int_equal(info.attempts, 1);

    clock_fake_set_ms(info.run_at_ms - 1);
    assert_null(claim(f->st, 1000, 0));
    clock_fake_set_ms(info.run_at_ms);
    job = claim(f->st, 1000, 0);
    assert_non_null(job);
    assert_int_equal(job->attempt, 2);
    assert_string_equal(job->last_error, "retryable: upstream returned 503");
    queue_job_info_clear(&info);
    queue_job_free(job);
}

static void fail_honours_retry_after(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_job *job;
    struct queue_job_info info;
    struct store_tx *tx;
    struct error cause;
    int will_retry = -1;
    int64_t id;

    clock_fake_set_ms(6000000);
    id = enqueue(f->st, "k", "i", NULL);
    job = claim(f->st, 1000, 0);
    error_set(&cause, ERR_RATE_LIMITED, "429 from OpenAI");
    cause.retry_after_ms = 90000;
    tx = begin(f->st);
    OK(queue_fail(tx, job, &cause, NULL, &will_retry, &err));
    OK(store_commit(tx, &err));
    assert_int_equal(will_retry, 1);
    info = job_info(f->st, id);
    assert_int_equal(info.run_at_ms, 6000000 + 90000);
    queue_job_info_clear(&info);
    queue_job_free(job);
}

static void fail_stops_at_max_attempts(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_enqueue_options twice = {.max_attempts = 2};
    struct queue_retry_policy fast = {.base_ms = 1, .max_ms = 1};
    struct queue_job_info info;
    struct error cause;
    int64_t id;

    clock_fake_set_ms(7000000);
    id = enqueue(f->st, "k", "i", &twice);
    error_set(&cause, ERR_RETRYABLE, "timed out");
    for (int attempt = 1; attempt <= 2; attempt++) {
        struct queue_job *job;
        struct store_tx *tx;
        int will_retry = -1;

        clock_fake_advance_ms(10);
        job = claim(f->st, 1000, 0);
        assert_non_null(job);
        assert_int_equal(job->attempt, attempt);
        tx = begin(f->st);
        OK(queue_fail(tx, job, &cause, &fast, &will_retry, &err));
        OK(store_commit(tx, &err));
        assert_int_equal(will_retry, attempt < 2);
        queue_job_free(job);
    }
    clock_fake_advance_ms(10);
    assert_null(claim(f->st, 1000, 0));
    info = job_info(f->st, id);
    assert_string_equal(info.state, "failed");
    assert_int_equal(info.attempts, 2);
    assert_int_equal(info.finished_at_ms, 7000020);
    assert_string_equal(info.last_error, "retryable: timed out");
    queue_job_info_clear(&info);
}

static void fail_permanent_error_at_once(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_job *job;
    struct store_tx *tx;
    struct error cause;
    int will_retry = -1;
    int64_t id = enqueue(f->st, "k", "i", NULL);

    job = claim(f->st, 1000, 0);
    error_set(&cause, ERR_UNAUTHORIZED, "token rejected twice");
    tx = begin(f->st);
    OK(queue_fail(tx, job, &cause, NULL, &will_retry, &err));
    OK(store_commit(tx, &err));
    assert_int_equal(will_retry, 0);
    assert_state(f->st, id, "failed");
    queue_job_free(job);
}

/* ------------------------------------------------------------------ */
/* Cancel and limits                                                   */
/* ------------------------------------------------------------------ */

static void cancel_only_queued_jobs(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_enqueue_options of_gen = {.generation_id = "gen-9"};
    struct queue_job *job;
    struct queue_counts counts;
    struct store_tx *tx;
    int64_t running_id;
    int64_t queued_id;
    int64_t cancelled = 0;

    running_id = enqueue(f->st, "k", "i", NULL);
    job = claim(f->st, 1000, 0);
    queued_id = enqueue(f->st, "k", "i", NULL);
    enqueue(f->st, "k", "i", &of_gen);
    enqueue(f->st, "k", "i", &of_gen);

    tx = begin(f->st);
    assert_int_equal(queue_cancel(tx, queued_id, &err), 1);
    assert_int_equal(queue_cancel(tx, queued_id, &err), 0);
    assert_int_equal(queue_cancel(tx, running_id, &err), 0);
    assert_int_equal(queue_cancel(tx, 999999, &err), 0);
    OK(queue_cancel_generation(tx, "gen-9", &cancelled, &err));
    assert_int_equal(cancelled, 2);
    OK(store_commit(tx, &err));

    assert_state(f->st, queued_id, "cancelled");
    assert_null(claim(f->st, 1000, 0));
    OK(queue_count(f->st, &counts, &err));
    assert_int_equal(counts.cancelled, 3);
    assert_int_equal(counts.running, 1);
    assert_int_equal(counts.queued, 0);
    queue_job_free(job);
}

static void instance_limit_skips_busy_instance(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct queue_job *a1, *a2, *b1, *a3;
    int64_t b_id;

    clock_fake_set_ms(8000000);
    for (int i = 0; i < 3; i++) {
        enqueue(f->st, "k", "site-a", NULL);
        clock_fake_advance_ms(1);
    }
    b_id = enqueue(f->st, "k", "site-b", NULL);

    a1 = claim(f->st, 1000, 2);
    a2 = claim(f->st, 1000, 2);
    b1 = claim(f->st, 1000, 2);
    assert_string_equal(a1->instance_id, "site-a");
    assert_string_equal(a2->instance_id, "site-a");
    assert_int_equal(b1->id, b_id);
    assert_null(claim(f->st, 1000, 2));

    finish(f->st, a1);
    a3 = claim(f->st, 1000, 2);
    assert_non_null(a3);
    assert_string_equal(a3->instance_id, "site-a");
    queue_job_free(a1);
    queue_job_free(a2);
    queue_job_free(b1);
    queue_job_free(a3);
}

/* ------------------------------------------------------------------ */
/* Many claimers at once                                               */
/* ------------------------------------------------------------------ */

#define RACE_JOBS 200
#define RACE_THREADS 6

struct race {
    struct store *st;
    int instance_limit;
    atomic_int claimed[RACE_JOBS + 1];
    atomic_int running;
    atomic_int max_running;
    atomic_int finished;
    int64_t first_id;
    char failure[ERROR_MESSAGE_MAX];
};

static void *race_worker(void *arg)
{
    struct race *race = arg;
    struct queue_claim_options options = {
        .lease_ms = 60000, .instance_limit = race->instance_limit};

    while (atomic_load(&race->finished) < RACE_JOBS) {
        struct queue_job *job = NULL;
        struct store_tx *tx;
        struct error e;
        int rc;

        error_clear(&e);
        rc = queue_claim(race->st, &options, &job, &e);
        if (rc < 0) {
            snprintf(race->failure, sizeof(race->failure), "%s", e.message);
            return NULL;
        }
        if (rc == 0) {
            clock_sleep_ms(1); /* as a pool worker would wait for work */
            continue;
        }
        int now = atomic_fetch_add(&race->running, 1) + 1;
        int seen = atomic_load(&race->max_running);
        while (now > seen &&
               !atomic_compare_exchange_weak(&race->max_running, &seen, now))
            ;
        atomic_fetch_add(&race->claimed[job->id - race->first_id], 1);
        if (race->instance_limit > 0)
            clock_sleep_ms(1); /* widen the window a second claim would hit */

        /* The counted window lies inside the time the database records the
         * job as running (from the claim's commit to the finish's), so an
         * overlap here means the database let two run at once. */
        atomic_fetch_sub(&race->running, 1);
        tx = store_begin(race->st, &e);
        if (!tx || queue_finish(tx, job, &e) != 0 ||
            store_commit(tx, &e) != 0) {
            snprintf(race->failure, sizeof(race->failure), "%s", e.message);
            store_rollback(tx);
            queue_job_free(job);
            return NULL;
        }
        atomic_fetch_add(&race->finished, 1);
        queue_job_free(job);
    }
    return NULL;
}

static void run_race(struct store_fixture *f, struct race *race)
{
    pthread_t threads[RACE_THREADS];
    struct store_tx *tx = begin(f->st);

    race->st = f->st;
    for (int i = 0; i < RACE_JOBS; i++) {
        int64_t id = 0;

        OK(queue_enqueue(tx, "k", "one-site", NULL, NULL, &id, &err));
        if (i == 0)
            race->first_id = id;
    }
    OK(store_commit(tx, &err));
    for (int i = 0; i < RACE_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, race_worker, race),
                         0);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(threads[i], NULL);
    assert_string_equal(race->failure, "");
    for (int i = 0; i < RACE_JOBS; i++)
        assert_int_equal(atomic_load(&race->claimed[i]), 1);
}

static void concurrent_claims_never_share_a_job(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct race *race = calloc(1, sizeof(*race));

    run_race(f, race);
    assert_int_equal(atomic_load(&race->finished), RACE_JOBS);
    free(race);
}

static void concurrent_claims_respect_limit(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct race *race = calloc(1, sizeof(*race));

    race->instance_limit = 1;
    run_race(f, race);
    assert_int_equal(atomic_load(&race->max_running), 1);
    free(race);
}

#define QUEUE_TESTS(X)                                                         \
    X(claim_returns_enqueued_job)                                              \
    X(enqueue_rolled_back_leaves_nothing)                                      \
    X(enqueue_rejects_bad_input)                                               \
    X(unique_key_is_noop_while_pending)                                        \
    X(claim_order_priority_then_run_at)                                        \
    X(claim_filters_by_kind)                                                   \
    X(expired_lease_is_rescued)                                                \
    X(extend_keeps_the_lease)                                                  \
    X(release_does_not_count_attempt)                                          \
    X(lease_expiry_past_last_attempt)                                          \
    X(fail_retries_after_backoff)                                              \
    X(fail_honours_retry_after)                                                \
    X(fail_stops_at_max_attempts)                                              \
    X(fail_permanent_error_at_once)                                            \
    X(cancel_only_queued_jobs)                                                 \
    X(instance_limit_skips_busy_instance)                                      \
    X(concurrent_claims_never_share_a_job)                                     \
    X(concurrent_claims_respect_limit)

#define ON_SQLITE(name)                                                        \
    cmocka_unit_test_prestate_setup_teardown(name, store_fixture_setup,        \
                                             teardown_clock,                   \
                                             (void *)&store_fixture_sqlite),
#define ON_POSTGRES(name)                                                      \
    cmocka_unit_test_prestate_setup_teardown(name, store_fixture_setup,        \
                                             teardown_clock,                   \
                                             (void *)&store_fixture_postgres),

int main(void)
{
    const struct CMUnitTest common[] = {
        cmocka_unit_test(backoff_grows_with_jitter),
    };
    const struct CMUnitTest sqlite[] = {QUEUE_TESTS(ON_SQLITE)};
    const struct CMUnitTest postgres[] = {QUEUE_TESTS(ON_POSTGRES)};
    int failed = 0;

    store_fixture_announce();
    failed += cmocka_run_group_tests_name("queue", common, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("queue on sqlite", sqlite, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("queue on postgres", postgres, NULL, NULL);
    return failed;
}
