/*
 * A durable job queue in the store's jobs table, with at-least-once
 * execution under leases, and a worker pool that runs it.
 *
 * Life of a job: queued -> running (claimed with a lease) -> finished, or
 * back to queued after a failure (with backoff) or an expired lease, or
 * failed after its last attempt or a permanent error, or cancelled while
 * queued. A job's handler makes its final writes and queue_finish() in one
 * transaction. queue_finish() succeeds only while the caller still holds
 * the lease, so a job that another worker took over after its lease
 * expired can't commit its effects a second time.
 *
 * Every time decision (run-at, lease expiry, backoff) reads clock_now_ms().
 */
#ifndef SITESMITH_QUEUE_QUEUE_H
#define SITESMITH_QUEUE_QUEUE_H

#include "core/error.h"
#include "store/store.h"

#include <stdint.h>

#define QUEUE_KIND_MAX 64
#define QUEUE_LEASE_TOKEN_SIZE 33 /* 32 hex characters and a NUL */

/* Channel used by store_notify() when jobs become ready. */
#define QUEUE_CHANNEL "sitesmith_jobs"

struct queue_pool;

/* A claimed job. Filled by queue_claim(); free with queue_job_free(). */
struct queue_job {
    int64_t id;
    char kind[QUEUE_KIND_MAX];
    char instance_id[STORE_ID_MAX];
    char generation_id[STORE_UUID_SIZE]; /* "" when none */
    char *payload;                       /* JSON text, owned, never NULL */
    int attempt; /* 1 on the first run; counts this run */
    int max_attempts;
    int priority;
    int64_t enqueued_at_ms;
    int64_t run_at_ms;     /* when it became due */
    int64_t started_at_ms; /* when this claim happened */
    char lease_token[QUEUE_LEASE_TOKEN_SIZE];
    int64_t lease_expires_at_ms;
    char *last_error; /* message of the previous attempt, or NULL */
    int finished;     /* set once queue_finish() succeeded on this struct */
    struct queue_pool *pool; /* the pool running it, NULL when claimed by
                                hand */
};

void queue_job_free(struct queue_job *job);

/* ------------------------------------------------------------------ */
/* Enqueue, cancel, inspect                                            */
/* ------------------------------------------------------------------ */

/* Options of queue_enqueue(); a zeroed struct (or NULL) means defaults. */
struct queue_enqueue_options {
    const char *unique_key;    /* while a job with this key is queued or
                                  running, enqueueing it again is a no-op */
    const char *generation_id; /* the generation the job works on */
    int64_t run_at_ms;         /* 0: now */
    int priority;              /* higher runs first; default 0 */
    int max_attempts;          /* 0: QUEUE_DEFAULT_MAX_ATTEMPTS */
};

#define QUEUE_DEFAULT_MAX_ATTEMPTS 5

/*
 * Adds a job inside the caller's transaction; it becomes visible, and
 * waiting workers are woken, when tx commits. kind is at most 63
 * characters; instance_id may be "" for jobs of no instance; payload is
 * JSON text (NULL means "{}"). Returns 1 with *job_id (may be NULL) set to
 * the new job, or 0 when a job with the same unique key is still queued or
 * running (*job_id is then that job).
 */
int queue_enqueue(struct store_tx *tx, const char *kind,
                  const char *instance_id, const char *payload,
                  const struct queue_enqueue_options *options, int64_t *job_id,
                  struct error *err);

/* Cancels a queued job: 1 when cancelled, 0 when it was not queued. */
int queue_cancel(struct store_tx *tx, int64_t job_id, struct error *err);

/* Cancels every queued job of a generation; *count (may be NULL) = how many. */
int queue_cancel_generation(struct store_tx *tx, const char *generation_id,
                            int64_t *count, struct error *err);

/* A job's current state, for status pages and tests. */
struct queue_job_info {
    int64_t id;
    char kind[QUEUE_KIND_MAX];
    char state[16]; /* queued, running, finished, failed, cancelled */
    int attempts;
    int max_attempts;
    int64_t run_at_ms;
    int64_t finished_at_ms; /* 0 until it ended */
    char *last_error;       /* owned, NULL when none */
};

/* Reads a job: 1 found, 0 not. Free the member with queue_job_info_clear. */
int queue_job_get(struct store_tx *tx, int64_t job_id,
                  struct queue_job_info *out, struct error *err);
void queue_job_info_clear(struct queue_job_info *info);

/* Number of jobs per state, for /metrics. */
struct queue_counts {
    int64_t queued, running, finished, failed, cancelled;
};
int queue_count(struct store *st, struct queue_counts *out, struct error *err);

/* ------------------------------------------------------------------ */
/* Claim, lease, finish, fail                                          */
/* ------------------------------------------------------------------ */

struct queue_claim_options {
    const char *const *kinds; /* NULL-ended list; NULL claims any kind */
    int64_t lease_ms;         /* 0: QUEUE_DEFAULT_LEASE_MS */
    int instance_limit;       /* max running jobs per instance, 0: none */
};

#define QUEUE_DEFAULT_LEASE_MS 30000

/*
 * Claims the due job with the highest priority, then the earliest run-at,
 * in its own transaction (PostgreSQL: FOR UPDATE SKIP LOCKED, so claimers
 * don't wait on each other; SQLite: the write lock). The job's attempt
 * count grows by one and its lease runs for lease_ms. Returns 1 with *out
 * set (caller frees), 0 when nothing is due.
 *
 * A job whose attempt exceeds max_attempts can come back here only after
 * its lease expired on the last attempt; the caller should fail it.
 */
int queue_claim(struct store *st, const struct queue_claim_options *options,
                struct queue_job **out, struct error *err);

/*
 * Extends the lease to now + lease_ms. ERR_CONFLICT when the lease was
 * lost (it expired and the job was rescued, or the job was released).
 */
int queue_extend(struct store *st, struct queue_job *job, int64_t lease_ms,
                 struct error *err);

/*
 * Marks the job finished inside tx, where the handler made its final
 * writes. ERR_CONFLICT when this worker no longer holds the lease: the
 * caller must roll back, because another worker owns the job.
 */
int queue_finish(struct store_tx *tx, struct queue_job *job, struct error *err);

/* Backoff of failed attempts: min(max_ms, base_ms * 2^(attempt-1)), then
 * a random point in its upper half. Zeroed fields take the defaults. */
struct queue_retry_policy {
    int64_t base_ms; /* default 1000 */
    int64_t max_ms;  /* default 600000 (10 minutes) */
};

/* The delay before retrying after the given failed attempt (>= 1). */
int64_t queue_backoff_ms(const struct queue_retry_policy *policy, int attempt);

/*
 * Records a failed attempt in tx. When cause is retryable
 * (error_is_retryable) and attempts remain, the job goes back to queued at
 * now + max(backoff, cause->retry_after_ms) and *will_retry is 1;
 * otherwise it ends failed and *will_retry is 0. The cause's message is
 * kept as last_error. policy may be NULL. ERR_CONFLICT when the lease was
 * lost.
 */
int queue_fail(struct store_tx *tx, struct queue_job *job,
               const struct error *cause,
               const struct queue_retry_policy *policy, int *will_retry,
               struct error *err);

/*
 * Puts a claimed job back to queued, due now, without counting the attempt
 * (graceful shutdown). ERR_CONFLICT when the lease was lost.
 */
int queue_release(struct store *st, struct queue_job *job, struct error *err);

/*
 * Puts every running job whose lease has expired back to queued, due now,
 * with last_error saying the lease expired. *count (may be NULL) receives
 * how many.
 */
int queue_rescue_expired(struct store *st, int64_t *count, struct error *err);

/* ------------------------------------------------------------------ */
/* Worker pool                                                         */
/* ------------------------------------------------------------------ */

/*
 * Runs one job. Called on a pool thread with no transaction open. Return 0
 * on success: when the handler did not call queue_finish() itself, the
 * pool finishes the job in a transaction of its own. Return -1 with err
 * set on failure: the pool retries or fails the job with queue_fail().
 * The pool extends the lease while the handler runs.
 */
typedef int (*queue_handler_fn)(struct store *st, struct queue_job *job,
                                void *arg, struct error *err);

/*
 * Called in the transaction that fails a job for good (last attempt or a
 * permanent error), so that the caller can mark its generation failed and
 * release its credits in the same commit. Returns 0, or -1 with err to roll
 * back (the failure is then retried on the next claim).
 */
typedef int (*queue_failed_fn)(struct store_tx *tx, const struct queue_job *job,
                               const struct error *cause, void *arg,
                               struct error *err);

struct queue_handler {
    queue_handler_fn run;
    queue_failed_fn failed;          /* may be NULL */
    void *arg;                       /* passed to both */
    struct queue_retry_policy retry; /* zeroed: defaults */
};

struct queue_pool_options {
    int workers;        /* threads; 0: 4 */
    int64_t lease_ms;   /* 0: QUEUE_DEFAULT_LEASE_MS */
    int64_t poll_ms;    /* idle polling interval; 0: 1000 */
    int64_t grace_ms;   /* shutdown grace period; 0: 30000 */
    int instance_limit; /* running jobs per instance, 0: no limit */
};

/*
 * Reads SITESMITH_WORKERS, SITESMITH_QUEUE_LEASE, SITESMITH_QUEUE_POLL,
 * SITESMITH_SHUTDOWN_GRACE and SITESMITH_INSTANCE_CONCURRENCY into options
 * (defaults as above).
 */
int queue_pool_options_from_config(const struct config *cfg,
                                   struct queue_pool_options *options,
                                   struct error *err);

/*
 * Creates a stopped pool over st (borrowed; must outlive the pool). The
 * caller frees it with queue_pool_free().
 */
struct queue_pool *queue_pool_new(struct store *st,
                                  const struct queue_pool_options *options,
                                  struct error *err);

/*
 * Registers the handler for a job kind (copied). Only registered kinds are
 * claimed. Call before queue_pool_start(); ERR_CONFLICT for a kind that is
 * already registered.
 */
int queue_pool_register(struct queue_pool *pool, const char *kind,
                        const struct queue_handler *handler, struct error *err);

/*
 * Starts the worker threads, a lease keeper and a rescuer of expired
 * leases. Returns at once.
 */
int queue_pool_start(struct queue_pool *pool, struct error *err);

/*
 * Graceful shutdown: stops claiming, waits up to the grace period for
 * running jobs, then returns the jobs still running to the queue. Returns
 * how many handlers were still running. Those can no longer finish their
 * jobs, because the lease is gone. queue_pool_free() waits for them, so a
 * process about to exit may skip it. Safe to call from any thread but a
 * pool worker, and more than once.
 */
int queue_pool_stop(struct queue_pool *pool);

/* True once queue_pool_stop() began; long handlers may check it. */
int queue_pool_stopping(const struct queue_pool *pool);

/*
 * Starts the pool, waits for SIGTERM or SIGINT, then stops it gracefully
 * (`sitesmith worker`). Blocks those signals in the calling thread and the
 * threads it starts.
 */
int queue_pool_run_until_signal(struct queue_pool *pool, struct error *err);

/*
 * Stops the pool if needed, waits for every worker thread to end, and frees
 * it. Accepts NULL.
 */
void queue_pool_free(struct queue_pool *pool);

#endif
