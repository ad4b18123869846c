#include "cli/cli_jobs.h"

#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 256

volatile sig_atomic_t cli_jobs_interrupted;

int cli_jobs_pool_options(struct cli_context *ctx, int min_workers,
                          struct queue_pool_options *options, struct error *err)
{
    const char *text = cli_option(ctx->argc, ctx->argv, "--workers");
    char *end;
    long value;

    error_clear(err);
    if (queue_pool_options_from_config(ctx->cfg, options, err) != 0)
        return -1;
    if (!text)
        return 0;

    value = strtol(text, &end, 10);
    if (end == text || *end || value < min_workers || value > MAX_WORKERS) {
        error_set(err, ERR_INVALID,
                  "--workers: invalid value \"%s\": expected an integer from "
                  "%d to %d",
                  text, min_workers, MAX_WORKERS);
        return -2;
    }
    options->workers = (int)value;
    return 0;
}

struct queue_pool *cli_jobs_start_pool(struct app *app,
                                       const struct queue_pool_options *options,
                                       struct error *err)
{
    struct queue_pool *pool = queue_pool_new(app->store, options, err);

    if (pool && (app_register_jobs(app, pool, err) != 0 ||
                 queue_pool_start(pool, err) != 0)) {
        queue_pool_free(pool);
        return NULL;
    }
    return pool;
}

static void on_signal(int signal_number)
{
    (void)signal_number;
    cli_jobs_interrupted = 1;
}

void cli_jobs_catch_signals(void)
{
    struct sigaction action;

    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}
