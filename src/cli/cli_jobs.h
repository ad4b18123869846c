/*
 * Helpers of the commands that run queued jobs in their own process
 * (serve, worker, images optimize, products optimize): worker options,
 * starting the pool and catching SIGINT and SIGTERM.
 */
#ifndef SITESMITH_CLI_CLI_JOBS_H
#define SITESMITH_CLI_CLI_JOBS_H

#include "cli/cli.h"
#include "core/error.h"
#include "pipelines/app.h"
#include "queue/queue.h"

#include <signal.h>

/* Set to 1 by the handler that cli_jobs_catch_signals() installs. */
extern volatile sig_atomic_t cli_jobs_interrupted;

/*
 * Reads the pool options from the configuration, then --workers, which
 * must be an integer from min_workers to 256. Returns 0, or -1 with err
 * when the configuration is invalid, or -2 with err ("--workers: invalid
 * value ...") when --workers is invalid. Main thread only.
 */
int cli_jobs_pool_options(struct cli_context *ctx, int min_workers,
                          struct queue_pool_options *options,
                          struct error *err);

/*
 * Creates a pool on app's store with options, registers the app's job
 * kinds and starts its threads. Returns the pool (the caller frees it with
 * queue_pool_free()), or NULL with err.
 */
struct queue_pool *cli_jobs_start_pool(struct app *app,
                                       const struct queue_pool_options *options,
                                       struct error *err);

/* Makes SIGINT and SIGTERM set cli_jobs_interrupted instead of ending the
 * process. */
void cli_jobs_catch_signals(void);

#endif
