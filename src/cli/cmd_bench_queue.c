/*
 * sitesmith bench queue: measures how fast the queue drains no-op jobs and
 * how long a job waits from enqueue to start.
 */
#include "cli/cli.h"
#include "core/clock.h"
#include "core/log.h"
#include "queue/queue.h"
#include "store/store.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_KIND "bench.noop"
#define ENQUEUE_BATCH 1000

static const char usage[] =
    "usage: sitesmith bench queue [--database URL] [--jobs N] [--workers W]\n"
    "                             [--latency-jobs M]\n"
    "\n"
    "Measures the job queue on one database, in two phases:\n"
    "  throughput  enqueue N no-op jobs, then drain them with W worker\n"
    "              threads; jobs_per_second = N / drain time\n"
    "  latency     enqueue M jobs one at a time, each in its own\n"
    "              transaction, to the idle pool, and time each from the\n"
    "              enqueue call (its commit included) to its handler start\n"
    "Prints, as its last line:\n"
    "  jobs_per_second=N latency_p50_ms=X latency_p99_ms=Y\n"
    "\n"
    "  --database URL    sqlite:PATH or postgres://... (default\n"
    "                    SITESMITH_DATABASE_URL); migrated first, and its\n"
    "                    earlier " BENCH_KIND " jobs are deleted\n"
    "  --jobs N          jobs in the throughput phase (default 10000)\n"
    "  --workers W       worker threads (default 8)\n"
    "  --latency-jobs M  jobs in the latency phase (default 500)\n";

struct bench {
    struct store *st;
    int64_t jobs;
    atomic_long done;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    double *latencies_ms; /* latency phase, in ms, one per job */
    atomic_long latency_count;
};

static int64_t monotonic_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The no-op job: records its latency when the payload carries a start. */
static int run_noop(struct store *st, struct queue_job *job, void *arg,
                    struct error *err)
{
    struct bench *bench = arg;
    int64_t now = monotonic_us();

    (void)st;
    (void)err;
    if (strncmp(job->payload, "{\"t\":", 5) == 0) {
        long slot = atomic_fetch_add(&bench->latency_count, 1);

        bench->latencies_ms[slot] =
            (double)(now - strtoll(job->payload + 5, NULL, 10)) / 1000.0;
    }
    pthread_mutex_lock(&bench->lock);
    atomic_fetch_add(&bench->done, 1);
    pthread_cond_broadcast(&bench->cond);
    pthread_mutex_unlock(&bench->lock);
    return 0;
}

/* Waits until done reaches want. The pool may still be committing the
 * finish of the last job. */
static void wait_done(struct bench *bench, long want)
{
    pthread_mutex_lock(&bench->lock);
    while (atomic_load(&bench->done) < want)
        pthread_cond_wait(&bench->cond, &bench->lock);
    pthread_mutex_unlock(&bench->lock);
}

static int run_sql(struct store *st, const char *sql, struct error *err)
{
    struct store_tx *tx = store_begin(st, err);

    if (!tx)
        return -1;
    if (store_run(tx, sql, STORE_NO_ARGS, NULL, err) != 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}

static int enqueue_backlog(struct bench *bench, struct error *err)
{
    int64_t started = monotonic_us();
    int64_t left = bench->jobs;

    while (left > 0) {
        struct store_tx *tx = store_begin(bench->st, err);
        int64_t batch = left < ENQUEUE_BATCH ? left : ENQUEUE_BATCH;

        if (!tx)
            return -1;
        for (int64_t i = 0; i < batch; i++) {
            if (queue_enqueue(tx, BENCH_KIND, "", "{}", NULL, NULL, err) < 0) {
                store_rollback(tx);
                return -1;
            }
        }
        if (store_commit(tx, err) != 0)
            return -1;
        left -= batch;
    }
    printf("enqueue: %" PRId64 " jobs in %.0f ms, %d per transaction\n",
           bench->jobs, (double)(monotonic_us() - started) / 1000.0,
           ENQUEUE_BATCH);
    return 0;
}

static int enqueue_timed(struct bench *bench, struct error *err)
{
    char payload[64];
    struct store_tx *tx = store_begin(bench->st, err);

    if (!tx)
        return -1;
    snprintf(payload, sizeof(payload), "{\"t\":%" PRId64 "}", monotonic_us());
    if (queue_enqueue(tx, BENCH_KIND, "", payload, NULL, NULL, err) < 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

static double percentile(const double *sorted, long count, double p)
{
    long index = (long)(p * (double)(count - 1) + 0.5);

    return count > 0 ? sorted[index] : 0;
}

struct bench_options {
    const char *url;
    int64_t jobs;
    int64_t workers;
    int64_t latency_jobs;
};

static int read_count(struct cli_context *ctx, const char *name,
                      int64_t fallback, int64_t max, int64_t *out)
{
    const char *text = cli_option(ctx->argc, ctx->argv, name);
    char *end;
    long long value;

    *out = fallback;
    if (!text)
        return 0;
    value = strtoll(text, &end, 10);
    if (end == text || *end || value < 1 || value > max) {
        fprintf(stderr,
                "sitesmith bench queue: %s: invalid value \"%s\": expected "
                "an integer from 1 to %" PRId64 "\n",
                name, text, max);
        return -1;
    }
    *out = value;
    return 0;
}

static int read_options(struct cli_context *ctx, struct bench_options *o)
{
    static const char *const known[] = {"--database", "--jobs", "--workers",
                                        "--latency-jobs", NULL};

    if (cli_check_args("bench queue", ctx->argc, ctx->argv, known) != 0 ||
        read_count(ctx, "--jobs", 10000, 10000000, &o->jobs) != 0 ||
        read_count(ctx, "--workers", 8, 256, &o->workers) != 0 ||
        read_count(ctx, "--latency-jobs", 500, 100000, &o->latency_jobs) != 0)
        return -1;
    o->url = cli_option(ctx->argc, ctx->argv, "--database");
    if (!o->url)
        o->url = config_get_string(ctx->cfg, "SITESMITH_DATABASE_URL",
                                   STORE_DEFAULT_URL);
    return 0;
}

/* Throughput: drains the backlog; returns jobs per second, -1 on error. */
static double measure_throughput(struct bench *bench, struct queue_pool *pool,
                                 struct error *err)
{
    int64_t started;
    double seconds;

    if (enqueue_backlog(bench, err) != 0)
        return -1;
    started = monotonic_us();
    if (queue_pool_start(pool, err) != 0)
        return -1;
    wait_done(bench, (long)bench->jobs);
    seconds = (double)(monotonic_us() - started) / 1e6;
    printf("drain: %" PRId64 " jobs in %.0f ms\n", bench->jobs,
           seconds * 1000.0);
    return (double)bench->jobs / seconds;
}

/* Latency: one job at a time into the idle pool. */
static int measure_latency(struct bench *bench, int64_t count,
                           struct error *err)
{
    for (int64_t i = 0; i < count; i++) {
        long want = atomic_load(&bench->done) + 1;

        if (enqueue_timed(bench, err) != 0)
            return -1;
        wait_done(bench, want);
        clock_sleep_ms(2); /* let the finish commit and the workers idle */
    }
    qsort(bench->latencies_ms, (size_t)count, sizeof(double), compare_doubles);
    printf("latency: %" PRId64 " jobs one at a time, enqueue to start "
           "p50=%.2f ms p90=%.2f ms p99=%.2f ms max=%.2f ms\n",
           count, percentile(bench->latencies_ms, count, 0.5),
           percentile(bench->latencies_ms, count, 0.9),
           percentile(bench->latencies_ms, count, 0.99),
           bench->latencies_ms[count - 1]);
    return 0;
}

static int run_bench(struct bench *bench, const struct bench_options *o,
                     struct error *err)
{
    struct queue_pool_options pool_options = {.workers = (int)o->workers,
                                              .poll_ms = 1000};
    struct queue_handler handler = {.run = run_noop, .arg = bench};
    struct queue_pool *pool = NULL;
    double per_second;
    int rc = -1;

    if (store_migrate(bench->st, NULL, NULL, err) != 0 ||
        run_sql(bench->st, "DELETE FROM jobs WHERE kind = '" BENCH_KIND "'",
                err) != 0)
        return -1;
    pool = queue_pool_new(bench->st, &pool_options, err);
    if (!pool || queue_pool_register(pool, BENCH_KIND, &handler, err) != 0)
        goto out;
    printf("bench queue: database=%s jobs=%" PRId64 " workers=%" PRId64 "\n",
           store_url_for_log(bench->st), o->jobs, o->workers);
    per_second = measure_throughput(bench, pool, err);
    if (per_second < 0 || measure_latency(bench, o->latency_jobs, err) != 0)
        goto out;
    printf("jobs_per_second=%.0f latency_p50_ms=%.2f latency_p99_ms=%.2f\n",
           per_second, percentile(bench->latencies_ms, o->latency_jobs, 0.5),
           percentile(bench->latencies_ms, o->latency_jobs, 0.99));
    rc = 0;

out:
    queue_pool_free(pool);
    if (rc == 0)
        rc = run_sql(bench->st,
                     "DELETE FROM jobs WHERE kind = '" BENCH_KIND "'", err);
    return rc;
}

static int run_bench_queue(struct cli_context *ctx)
{
    struct bench_options options;
    struct bench bench = {0};
    struct error err;
    int rc;

    if (read_options(ctx, &options) != 0)
        return CLI_USAGE;
    log_set_level(LOG_WARN); /* one line per job would measure the log */
    error_clear(&err);
    bench.jobs = options.jobs;
    bench.latencies_ms = calloc((size_t)options.latency_jobs, sizeof(double));
    pthread_mutex_init(&bench.lock, NULL);
    pthread_cond_init(&bench.cond, NULL);
    bench.st =
        bench.latencies_ms
            ? store_open_with(options.url, (int)options.workers + 4, &err)
            : NULL;
    rc = bench.st ? run_bench(&bench, &options, &err) : -1;
    if (rc != 0)
        fprintf(stderr, "sitesmith bench queue: %s\n",
                err.message[0] ? err.message : "out of memory");
    store_close(bench.st);
    free(bench.latencies_ms);
    pthread_mutex_destroy(&bench.lock);
    pthread_cond_destroy(&bench.cond);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}

const struct cli_command cmd_bench_queue = {
    .name = "bench queue",
    .summary = "measure queue throughput and enqueue-to-start latency",
    .usage = usage,
    .run = run_bench_queue,
};
