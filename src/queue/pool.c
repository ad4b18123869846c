/*
 * The worker pool: threads that claim and run jobs, a keeper thread that
 * extends the leases of running jobs and rescues expired ones, and a
 * graceful stop.
 */
#include "queue/queue.h"

#include "core/clock.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_WORKERS 4
#define MAX_WORKERS 256
#define DEFAULT_POLL_MS 1000
#define DEFAULT_GRACE_MS 30000
#define DEFAULT_INSTANCE_LIMIT 4
#define MAX_KINDS 32

struct kind_entry {
    char kind[QUEUE_KIND_MAX];
    struct queue_handler handler;
};

struct worker {
    struct queue_pool *pool;
    pthread_t thread;
    int index;
    struct queue_job *job; /* running now, under pool->lock */
    int exited;
};

struct queue_pool {
    struct store *st;
    struct queue_pool_options o;
    struct kind_entry kinds[MAX_KINDS];
    const char *kind_names[MAX_KINDS + 1];
    size_t kind_count;

    struct worker *workers;
    int started_workers;
    pthread_t keeper;
    int keeper_started;

    pthread_mutex_t lock;
    pthread_cond_t changed; /* a job ended, a worker exited, or stop */
    atomic_int stopping;
    int stopped;
    int active; /* handlers running now */
    int stuck;  /* handlers still running at the end of the grace period */
};

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static void apply_defaults(struct queue_pool_options *o)
{
    if (o->workers <= 0)
        o->workers = DEFAULT_WORKERS;
    if (o->lease_ms <= 0)
        o->lease_ms = QUEUE_DEFAULT_LEASE_MS;
    if (o->poll_ms <= 0)
        o->poll_ms = DEFAULT_POLL_MS;
    if (o->grace_ms <= 0)
        o->grace_ms = DEFAULT_GRACE_MS;
    if (o->instance_limit < 0)
        o->instance_limit = 0;
}

int queue_pool_options_from_config(const struct config *cfg,
                                   struct queue_pool_options *o,
                                   struct error *err)
{
    int64_t workers;
    int64_t limit;

    memset(o, 0, sizeof(*o));
    if (config_get_int(cfg, "SITESMITH_WORKERS", DEFAULT_WORKERS, 1,
                       MAX_WORKERS, &workers, err) != 0 ||
        config_get_duration_ms(cfg, "SITESMITH_QUEUE_LEASE",
                               QUEUE_DEFAULT_LEASE_MS, &o->lease_ms,
                               err) != 0 ||
        config_get_duration_ms(cfg, "SITESMITH_QUEUE_POLL", DEFAULT_POLL_MS,
                               &o->poll_ms, err) != 0 ||
        config_get_duration_ms(cfg, "SITESMITH_SHUTDOWN_GRACE",
                               DEFAULT_GRACE_MS, &o->grace_ms, err) != 0 ||
        config_get_int(cfg, "SITESMITH_INSTANCE_CONCURRENCY",
                       DEFAULT_INSTANCE_LIMIT, 0, 10000, &limit, err) != 0)
        return -1;
    if (o->lease_ms < 1000)
        return error_set(err, ERR_INVALID,
                         "SITESMITH_QUEUE_LEASE: %" PRId64
                         " ms is too short: expected at least 1s",
                         o->lease_ms);
    o->workers = (int)workers;
    o->instance_limit = (int)limit;
    apply_defaults(o);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Creation and registration                                           */
/* ------------------------------------------------------------------ */

struct queue_pool *queue_pool_new(struct store *st,
                                  const struct queue_pool_options *options,
                                  struct error *err)
{
    struct queue_pool *pool = calloc(1, sizeof(*pool));
    pthread_condattr_t attr;

    if (!pool) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    pool->st = st;
    if (options)
        pool->o = *options;
    apply_defaults(&pool->o);
    if (pool->o.workers > MAX_WORKERS) {
        free(pool);
        error_set(err, ERR_INVALID, "%d workers is too many: at most %d",
                  options->workers, MAX_WORKERS);
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->changed, &attr);
    pthread_condattr_destroy(&attr);
    return pool;
}

int queue_pool_register(struct queue_pool *pool, const char *kind,
                        const struct queue_handler *handler, struct error *err)
{
    struct kind_entry *entry;

    if (!kind || !kind[0] || strlen(kind) >= QUEUE_KIND_MAX || !handler ||
        !handler->run)
        return error_set(err, ERR_INVALID,
                         "job kind \"%s\" needs a name of 1 to %d characters "
                         "and a run function",
                         kind ? kind : "(null)", QUEUE_KIND_MAX - 1);
    for (size_t i = 0; i < pool->kind_count; i++) {
        if (strcmp(pool->kinds[i].kind, kind) == 0)
            return error_set(err, ERR_CONFLICT,
                             "job kind \"%s\" is already registered", kind);
    }
    if (pool->kind_count == MAX_KINDS)
        return error_set(err, ERR_INVALID, "more than %d job kinds registered",
                         MAX_KINDS);
    entry = &pool->kinds[pool->kind_count];
    snprintf(entry->kind, sizeof(entry->kind), "%s", kind);
    entry->handler = *handler;
    pool->kind_names[pool->kind_count++] = entry->kind;
    pool->kind_names[pool->kind_count] = NULL;
    return 0;
}

static const struct kind_entry *find_kind(const struct queue_pool *pool,
                                          const char *kind)
{
    for (size_t i = 0; i < pool->kind_count; i++) {
        if (strcmp(pool->kinds[i].kind, kind) == 0)
            return &pool->kinds[i];
    }
    return NULL;
}

int queue_pool_stopping(const struct queue_pool *pool)
{
    return atomic_load(&pool->stopping);
}

/* ------------------------------------------------------------------ */
/* Running one job                                                     */
/* ------------------------------------------------------------------ */

static void fail_job(struct queue_pool *pool, struct queue_job *job,
                     const struct kind_entry *entry, const struct error *cause)
{
    struct store_tx *tx;
    struct error err;
    int will_retry = 0;

    error_clear(&err);
    tx = store_begin(pool->st, &err);
    if (!tx || queue_fail(tx, job, cause, &entry->handler.retry, &will_retry,
                          &err) != 0)
        goto fail;
    if (!will_retry && entry->handler.failed &&
        entry->handler.failed(tx, job, cause, entry->handler.arg, &err) != 0)
        goto fail;
    if (store_commit(tx, &err) != 0) {
        tx = NULL;
        goto fail;
    }
    if (will_retry)
        log_warn("queue",
                 "job failed, will retry job=%" PRId64 " kind=%s "
                 "instance=%s generation=%s attempt=%d error=\"%s\"",
                 job->id, job->kind, job->instance_id, job->generation_id,
                 job->attempt, cause->message);
    else
        log_error("queue",
                  "job failed for good job=%" PRId64 " kind=%s instance=%s "
                  "generation=%s attempt=%d error_kind=%s error=\"%s\"",
                  job->id, job->kind, job->instance_id, job->generation_id,
                  job->attempt, error_kind_name(cause->kind), cause->message);
    return;

fail:
    store_rollback(tx);
    log_error("queue",
              "cannot record the failure of job=%" PRId64 " kind=%s; it "
              "runs again after its lease expires error=\"%s\" cause=\"%s\"",
              job->id, job->kind, err.message, cause->message);
}

/* Finishes a job whose handler did not; returns 0 when it committed. */
static int finish_job(struct queue_pool *pool, struct queue_job *job)
{
    struct store_tx *tx;
    struct error err;

    error_clear(&err);
    tx = store_begin(pool->st, &err);
    if (!tx || queue_finish(tx, job, &err) != 0) {
        store_rollback(tx);
    } else if (store_commit(tx, &err) == 0) {
        return 0;
    }
    log_error("queue",
              "cannot mark job=%" PRId64 " kind=%s finished; it may run "
              "again error=\"%s\"",
              job->id, job->kind, err.message);
    return -1;
}

static void run_job(struct queue_pool *pool, struct queue_job *job)
{
    const struct kind_entry *entry = find_kind(pool, job->kind);
    int64_t started = clock_monotonic_ms();
    struct error err;

    error_clear(&err);
    if (!entry) {
        log_error("queue",
                  "claimed a job of an unregistered kind job=%" PRId64
                  " kind=%s",
                  job->id, job->kind);
        return;
    }
    if (job->attempt > job->max_attempts) {
        error_set(&err, ERR_PERMANENT,
                  "job ran out of attempts: its lease expired during attempt "
                  "%d of %d (the worker stopped or hung)",
                  job->attempt - 1, job->max_attempts);
        fail_job(pool, job, entry, &err);
        return;
    }
    if (entry->handler.run(pool->st, job, entry->handler.arg, &err) != 0) {
        if (err.kind == ERR_NONE)
            error_set(&err, ERR_PERMANENT,
                      "handler of %s failed without saying why", job->kind);
        fail_job(pool, job, entry, &err);
        return;
    }
    if (!job->finished && finish_job(pool, job) != 0)
        return;
    log_info("queue",
             "job finished job=%" PRId64 " kind=%s instance=%s generation=%s "
             "attempt=%d duration_ms=%" PRId64,
             job->id, job->kind, job->instance_id, job->generation_id,
             job->attempt, clock_monotonic_ms() - started);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

static void set_running(struct worker *w, struct queue_job *job)
{
    struct queue_pool *pool = w->pool;

    pthread_mutex_lock(&pool->lock);
    w->job = job;
    pool->active += job ? 1 : -1;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
}

/* Claims one job; returns 1 when one ran, 0 when none was due, -1 error. */
static int work_once(struct worker *w, int *failing)
{
    struct queue_pool *pool = w->pool;
    struct queue_claim_options claim = {
        .kinds = pool->kind_names,
        .lease_ms = pool->o.lease_ms,
        .instance_limit = pool->o.instance_limit,
    };
    struct queue_job *job = NULL;
    struct error err;
    int rc;

    error_clear(&err);
    rc = queue_claim(pool->st, &claim, &job, &err);
    if (rc < 0) {
        if (!*failing)
            log_error("queue", "cannot claim jobs worker=%d error=\"%s\"",
                      w->index, err.message);
        *failing = 1;
        return -1;
    }
    if (*failing)
        log_info("queue", "claiming jobs again worker=%d", w->index);
    *failing = 0;
    if (rc == 0)
        return 0;

    job->pool = pool;
    set_running(w, job);
    run_job(pool, job);
    set_running(w, NULL);
    queue_job_free(job);
    return 1;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct queue_pool *pool = w->pool;
    int failing = 0;

    while (!queue_pool_stopping(pool)) {
        uint64_t seen = store_wakeup_count(pool->st);
        int rc = work_once(w, &failing);

        if (rc == 1 || queue_pool_stopping(pool))
            continue;
        store_wait_wakeup(pool->st, seen, pool->o.poll_ms);
    }
    pthread_mutex_lock(&pool->lock);
    w->exited = 1;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/*
 * Copies the id, kind and lease token of worker i's running job, so that
 * the job can be extended or released without holding the lock while the
 * worker may free it. Returns 0 when the worker is idle.
 */
static int copy_running(struct queue_pool *pool, int i, struct queue_job *copy)
{
    memset(copy, 0, sizeof(*copy));
    pthread_mutex_lock(&pool->lock);
    if (pool->workers[i].job) {
        copy->id = pool->workers[i].job->id;
        memcpy(copy->kind, pool->workers[i].job->kind, sizeof(copy->kind));
        memcpy(copy->lease_token, pool->workers[i].job->lease_token,
               sizeof(copy->lease_token));
    }
    pthread_mutex_unlock(&pool->lock);
    return copy->id != 0;
}

/* Extends the lease of every running job; runs on the keeper thread. */
static void extend_leases(struct queue_pool *pool)
{
    for (int i = 0; i < pool->started_workers; i++) {
        struct queue_job copy;
        struct queue_job check;
        struct error err;

        if (!copy_running(pool, i, &copy))
            continue;
        error_clear(&err);
        if (queue_extend(pool->st, &copy, pool->o.lease_ms, &err) == 0)
            continue;

        /* The job may have ended between the copy and the extend. */
        if (copy_running(pool, i, &check) && check.id == copy.id)
            log_warn("queue",
                     "cannot extend the lease of job=%" PRId64
                     " kind=%s error=\"%s\"",
                     copy.id, copy.kind, err.message);
    }
}

static int wait_changed(struct queue_pool *pool, int64_t ms)
{
    struct timespec deadline;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    rc = pthread_cond_timedwait(&pool->changed, &pool->lock, &deadline);
    return rc == ETIMEDOUT ? 0 : 1;
}

static void *keeper_main(void *arg)
{
    struct queue_pool *pool = arg;
    /* Extend at a third of the lease, so that two missed rounds still
     * leave time; rescue at half of it. */
    int64_t extend_every = pool->o.lease_ms / 3;
    int64_t rescue_every = pool->o.lease_ms / 2;
    int64_t next_extend = clock_monotonic_ms() + extend_every;
    int64_t next_rescue = clock_monotonic_ms();

    while (!queue_pool_stopping(pool)) {
        int64_t now = clock_monotonic_ms();
        struct error err;

        if (now >= next_extend) {
            extend_leases(pool);
            next_extend = now + extend_every;
        }
        if (now >= next_rescue) {
            error_clear(&err);
            if (queue_rescue_expired(pool->st, NULL, &err) != 0)
                log_warn("queue", "cannot rescue expired leases error=\"%s\"",
                         err.message);
            next_rescue = now + rescue_every;
        }
        pthread_mutex_lock(&pool->lock);
        if (!queue_pool_stopping(pool))
            wait_changed(
                pool,
                (next_extend < next_rescue ? next_extend : next_rescue) - now);
        pthread_mutex_unlock(&pool->lock);
    }
    return NULL;
}

int queue_pool_start(struct queue_pool *pool, struct error *err)
{
    if (pool->kind_count == 0)
        return error_set(err, ERR_INVALID,
                         "no job kinds registered: the pool would claim "
                         "nothing");
    if (pool->workers)
        return error_set(err, ERR_INVALID, "worker pool already started");
    if (store_listen(pool->st, QUEUE_CHANNEL, err) != 0)
        return -1;
    pool->workers = calloc((size_t)pool->o.workers, sizeof(*pool->workers));
    if (!pool->workers)
        return error_set(err, ERR_PERMANENT, "out of memory");
    for (int i = 0; i < pool->o.workers; i++) {
        struct worker *w = &pool->workers[i];

        w->pool = pool;
        w->index = i;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            break;
        pool->started_workers++;
    }
    if (pool->started_workers > 0 &&
        pthread_create(&pool->keeper, NULL, keeper_main, pool) == 0)
        pool->keeper_started = 1;
    if (pool->started_workers < pool->o.workers || !pool->keeper_started) {
        queue_pool_stop(pool);
        return error_set(err, ERR_PERMANENT,
                         "cannot start worker threads (%d of %d started)",
                         pool->started_workers, pool->o.workers);
    }
    log_info("queue",
             "worker pool started workers=%d kinds=%zu lease_ms=%" PRId64
             " instance_limit=%d",
             pool->o.workers, pool->kind_count, pool->o.lease_ms,
             pool->o.instance_limit);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Stopping                                                            */
/* ------------------------------------------------------------------ */

/* Puts the jobs still running back in the queue after the grace period. */
static void release_running(struct queue_pool *pool)
{
    for (int i = 0; i < pool->started_workers; i++) {
        struct queue_job copy;
        struct error err;

        if (!copy_running(pool, i, &copy))
            continue;
        error_clear(&err);
        if (queue_release(pool->st, &copy, &err) == 0)
            log_warn("queue",
                     "job still running after the grace period, returned "
                     "to the queue job=%" PRId64 " kind=%s",
                     copy.id, copy.kind);
        else
            log_warn("queue",
                     "cannot return job=%" PRId64 " kind=%s to the queue; "
                     "it runs again after its lease expires error=\"%s\"",
                     copy.id, copy.kind, err.message);
    }
}

/* Waits for workers to end until the deadline; returns how many are left. */
static int wait_workers(struct queue_pool *pool, int64_t deadline)
{
    int left;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        int64_t now = clock_monotonic_ms();

        left = 0;
        for (int i = 0; i < pool->started_workers; i++)
            left += !pool->workers[i].exited;
        if (left == 0 || now >= deadline)
            break;
        wait_changed(pool, deadline - now);
    }
    pthread_mutex_unlock(&pool->lock);
    return left;
}

int queue_pool_stop(struct queue_pool *pool)
{
    int64_t deadline = clock_monotonic_ms() + pool->o.grace_ms;
    int left;

    if (pool->stopped)
        return pool->stuck;
    pool->stopped = 1;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stopping, 1);
    pthread_cond_broadcast(&pool->changed);
    log_info("queue", "worker pool stopping running=%d grace_ms=%" PRId64,
             pool->active, pool->o.grace_ms);
    pthread_mutex_unlock(&pool->lock);
    store_wakeup_all(pool->st);
    if (pool->keeper_started)
        pthread_join(pool->keeper, NULL);

    left = wait_workers(pool, deadline);
    if (left > 0)
        release_running(pool);
    pool->stuck = left;
    if (left > 0)
        log_error("queue",
                  "worker pool stopped with handlers still running "
                  "count=%d; their jobs were returned to the queue",
                  left);
    else
        log_info("queue", "worker pool stopped");
    return left;
}

int queue_pool_run_until_signal(struct queue_pool *pool, struct error *err)
{
    sigset_t signals;
    sigset_t previous;
    int received = 0;

    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, &previous);
    if (queue_pool_start(pool, err) != 0) {
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
        return -1;
    }
    while (sigwait(&signals, &received) != 0)
        ;
    log_info("queue", "signal received, stopping signal=%s",
             received == SIGTERM ? "SIGTERM" : "SIGINT");
    queue_pool_stop(pool);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    return 0;
}

void queue_pool_free(struct queue_pool *pool)
{
    if (!pool)
        return;
    queue_pool_stop(pool);
    for (int i = 0; i < pool->started_workers; i++)
        pthread_join(pool->workers[i].thread, NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->changed);
    free(pool->workers);
    free(pool);
}
