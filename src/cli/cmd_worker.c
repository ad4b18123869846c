/* sitesmith worker: runs queued jobs until SIGTERM or SIGINT. */
#include "cli/cli.h"
#include "cli/cli_jobs.h"
#include "core/log.h"
#include "pipelines/app.h"
#include "queue/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char usage[] =
    "usage: sitesmith worker [--workers N]\n"
    "\n"
    "Runs worker threads that claim and carry out the queued jobs in the\n"
    "database named by SITESMITH_DATABASE_URL, until SIGTERM or SIGINT.\n"
    "Any number of worker and serve processes can share one PostgreSQL\n"
    "database; with SQLite they must share one machine.\n"
    "\n"
    "  --workers N  worker threads (default SITESMITH_WORKERS, else 4)\n"
    "\n"
    "On SIGTERM or SIGINT it stops claiming, lets running jobs finish\n"
    "within SITESMITH_SHUTDOWN_GRACE (default 30s) and returns the rest to\n"
    "the queue. Other settings: SITESMITH_QUEUE_LEASE (default 30s),\n"
    "SITESMITH_QUEUE_POLL (default 1s), SITESMITH_INSTANCE_CONCURRENCY\n"
    "(running jobs per site, default 4, 0 for no limit).\n";

static int run_worker(struct cli_context *ctx)
{
    static const char *const known[] = {"--workers", NULL};
    struct queue_pool_options options;
    struct queue_pool *pool = NULL;
    struct app *app;
    struct error err;
    int rc = CLI_FAILED;

    if (cli_check_args("worker", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    if (cli_jobs_pool_options(ctx, 1, &options, &err) != 0) {
        fprintf(stderr, "sitesmith worker: %s\n", err.message);
        return CLI_USAGE;
    }

    app = app_open(ctx->cfg, &err);
    if (app)
        pool = queue_pool_new(app->store, &options, &err);
    if (pool && app_register_jobs(app, pool, &err) == 0) {
        log_info("worker", "started workers=%d database=%s", options.workers,
                 store_url_for_log(app->store));
        if (queue_pool_run_until_signal(pool, &err) == 0)
            rc = CLI_OK;
    }
    if (rc != CLI_OK)
        fprintf(stderr, "sitesmith worker: %s\n", err.message);

    /* Handlers still running past the grace period hold the store; their
     * jobs are back in the queue, so end the process without waiting. */
    if (pool && queue_pool_stop(pool) > 0) {
        fflush(NULL);
        _exit(CLI_FAILED);
    }
    queue_pool_free(pool);
    if (app)
        app_close(app);
    return rc;
}

const struct cli_command cmd_worker = {
    .name = "worker",
    .summary = "run queued jobs until SIGTERM or SIGINT",
    .usage = usage,
    .run = run_worker,
};
