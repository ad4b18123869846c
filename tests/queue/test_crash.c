/*
 * The crash test: worker processes run 1,000 jobs while the test kills
 * them with SIGKILL at random moments and starts new ones. Every job must
 * end finished exactly once, and the side-effect row that each job writes
 * in the transaction that finishes it must exist exactly once.
 *
 * The workers are this program itself, started again with --crash-worker
 * URL, so that the test needs no other binary.
 */
#include "queue/queue.h"

#include "../support/store_fixture.h"
#include "core/clock.h"
#include "core/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define CRASH_JOBS 1000
#define CRASH_PROCESSES 3
#define CRASH_THREADS 4
#define CRASH_LEASE_MS 1000
#define CRASH_DEADLINE_MS 100000
#define CRASH_KIND "test.crash"

static struct error err;

#define OK(call)                                                               \
    do {                                                                       \
        error_clear(&err);                                                     \
        if ((call) < 0)                                                        \
            fail_msg("%s failed: %s", #call, err.message);                     \
    } while (0)

/* ------------------------------------------------------------------ */
/* The worker process                                                  */
/* ------------------------------------------------------------------ */

/* Works a few milliseconds, then writes the side effect and finishes the
 * job in one transaction. */
static int crash_job(struct store *st, struct queue_job *job, void *arg,
                     struct error *e)
{
    struct store_tx *tx;

    (void)arg;
    clock_sleep_ms(crypto_random_below(20));
    tx = store_begin(st, e);
    if (!tx)
        return -1;
    if (store_run(tx, "INSERT INTO crash_effects (job_id, pid) VALUES (?, ?)",
                  STORE_ARGS(STORE_INT(job->id), STORE_INT(getpid())), NULL,
                  e) != 0 ||
        queue_finish(tx, job, e) != 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, e);
}

static int run_crash_worker(const char *url)
{
    struct queue_pool_options options = {.workers = CRASH_THREADS,
                                         .lease_ms = CRASH_LEASE_MS,
                                         .poll_ms = 100,
                                         .grace_ms = 2000};
    struct queue_handler handler = {.run = crash_job,
                                    .retry = {.base_ms = 10, .max_ms = 50}};
    struct queue_pool *pool;
    struct store *st;
    struct error e;
    sigset_t signals;

    /* A SIGTERM that arrives while starting must wait for the pool. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    log_set_level(LOG_ERROR);
    error_clear(&e);
    if (crypto_init() != 0)
        return 1;
    st = store_open_with(url, CRASH_THREADS + 2, &e);
    pool = st ? queue_pool_new(st, &options, &e) : NULL;
    if (!pool || queue_pool_register(pool, CRASH_KIND, &handler, &e) != 0 ||
        queue_pool_run_until_signal(pool, &e) != 0) {
        fprintf(stderr, "crash worker %d: %s\n", (int)getpid(), e.message);
        return 1;
    }
    queue_pool_free(pool);
    store_close(st);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The test                                                            */
/* ------------------------------------------------------------------ */

static pid_t start_worker(const char *url)
{
    sigset_t signals;
    sigset_t previous;
    pid_t pid;

    /* The child starts with SIGTERM blocked (the mask survives exec), so a
     * SIGTERM sent before its pool runs waits instead of killing it. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, &previous);
    pid = fork();
    if (pid != 0)
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (pid == 0) {
        execl("/proc/self/exe", "queue_test_crash", "--crash-worker", url,
              (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    return pid;
}

static int64_t count(struct store *st, const char *sql)
{
    struct store_tx *tx = store_begin_read(st, &err);
    int64_t value = -1;

    assert_non_null(tx);
    assert_int_equal(store_query_int(tx, sql, STORE_NO_ARGS, &value, &err), 1);
    store_rollback(tx);
    return value;
}

static void prepare(struct store_fixture *f)
{
    struct queue_enqueue_options options = {.max_attempts = 1000};
    struct store_tx *tx = store_begin(f->st, &err);

    assert_non_null(tx);
    OK(store_exec(tx,
                  "CREATE TABLE crash_effects (job_id BIGINT NOT NULL, "
                  "pid BIGINT NOT NULL)",
                  &err));
    for (int i = 0; i < CRASH_JOBS; i++)
        OK(queue_enqueue(tx, CRASH_KIND, "", NULL, &options, NULL, &err));
    OK(store_commit(tx, &err));
}

/* Asks the workers to stop, and kills those that don't within 10 s. */
static void stop_workers(pid_t *workers)
{
    for (int i = 0; i < CRASH_PROCESSES; i++)
        kill(workers[i], SIGTERM);
    for (int i = 0; i < CRASH_PROCESSES; i++) {
        int64_t deadline = clock_monotonic_ms() + 10000;
        int status = 0;

        while (waitpid(workers[i], &status, WNOHANG) == 0) {
            if (clock_monotonic_ms() > deadline) {
                kill(workers[i], SIGKILL);
                waitpid(workers[i], &status, 0);
                fail_msg("worker %d ignored SIGTERM for 10 s", (int)workers[i]);
            }
            clock_sleep_ms(10);
        }
        if (!WIFEXITED(status))
            fail_msg("worker %d ended by signal %d", (int)workers[i],
                     WTERMSIG(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

static void workers_killed_at_random(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    int64_t deadline = clock_monotonic_ms() + CRASH_DEADLINE_MS;
    pid_t workers[CRASH_PROCESSES];
    int64_t finished = 0;
    int kills = 0;

    prepare(f);
    for (int i = 0; i < CRASH_PROCESSES; i++)
        workers[i] = start_worker(f->url);

    while ((finished = count(f->st, "SELECT COUNT(*) FROM jobs WHERE "
                                    "state = 'finished'")) < CRASH_JOBS &&
           clock_monotonic_ms() < deadline) {
        int victim = (int)crypto_random_below(CRASH_PROCESSES);

        clock_sleep_ms(30 + crypto_random_below(170));
        kill(workers[victim], SIGKILL);
        waitpid(workers[victim], NULL, 0);
        workers[victim] = start_worker(f->url);
        kills++;
    }
    stop_workers(workers);

    fprintf(stderr,
            "crash test on %s: %d workers killed, %" PRId64
            " jobs ran more than once\n",
            store_fixture_backend_name(f->backend), kills,
            count(f->st, "SELECT COUNT(*) FROM jobs WHERE attempts > 1"));
    assert_int_equal(finished, CRASH_JOBS);
    assert_true(kills >= 10);
    assert_int_equal(count(f->st, "SELECT COUNT(*) FROM jobs WHERE state <> "
                                  "'finished'"),
                     0);
    assert_int_equal(count(f->st, "SELECT COUNT(*) FROM crash_effects"),
                     CRASH_JOBS);
    assert_int_equal(
        count(f->st, "SELECT COUNT(DISTINCT job_id) FROM crash_effects"),
        CRASH_JOBS);
    assert_int_equal(count(f->st, "SELECT COUNT(*) FROM jobs j WHERE NOT "
                                  "EXISTS (SELECT 1 FROM crash_effects e "
                                  "WHERE e.job_id = j.id)"),
                     0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {STORE_ON_SQLITE(
        workers_killed_at_random) STORE_ON_POSTGRES(workers_killed_at_random)};

    if (argc == 3 && strcmp(argv[1], "--crash-worker") == 0)
        return run_crash_worker(argv[2]);
    log_set_level(LOG_ERROR);
    store_fixture_announce();
    return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
