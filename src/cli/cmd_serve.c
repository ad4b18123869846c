/* sitesmith serve: the HTTP API, the dashboard and worker threads. */
#include "api/api.h"
#include "cli/cli.h"
#include "cli/cli_jobs.h"
#include "core/log.h"
#include "http/server.h"
#include "pipelines/app.h"
#include "queue/queue.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sitesmith serve [--listen ADDR] [--workers N]\n"
    "\n"
    "Serves the HTTP API (docs/openapi.yaml), the dashboard page at\n"
    "/dashboard, /healthz, /readyz and /metrics, and runs worker threads\n"
    "that carry out the queued jobs, until SIGTERM or SIGINT. Prints\n"
    "\"listening on http://HOST:PORT\" as its first line.\n"
    "\n"
    "  --listen ADDR  address to listen on, e.g. 127.0.0.1:8080, [::1]:0\n"
    "                 (default SITESMITH_LISTEN, else 127.0.0.1:8080)\n"
    "  --workers N    worker threads in this process, 0 for none (default\n"
    "                 SITESMITH_WORKERS, else 4); more can run in\n"
    "                 `sitesmith worker` processes on the same database\n"
    "\n"
    "On shutdown it stops accepting, lets running jobs finish within\n"
    "SITESMITH_SHUTDOWN_GRACE (default 30s) and returns the rest to the\n"
    "queue.\n";

/* Starts the HTTP server and prints its address; NULL on failure. */
static struct http_server *start_http(struct cli_context *ctx, struct app *app,
                                      struct error *err)
{
    const char *listen = cli_option(ctx->argc, ctx->argv, "--listen");
    struct http_server_options options = {
        .listen = listen ? listen
                         : config_get_string(ctx->cfg, "SITESMITH_LISTEN",
                                             "127.0.0.1:8080"),
        .threads = 8,
        .max_body_bytes = API_MAX_BODY_BYTES,
        .log_component = "http",
    };
    struct http_server *server = http_server_new(&options, err);

    if (!server)
        return NULL;
    if (api_register(server, app, err) != 0 ||
        http_server_start(server, err) != 0) {
        http_server_free(server);
        return NULL;
    }
    return server;
}

/* Prints the address in a form a browser or curl can use. */
static void print_address(const char *listen, int port)
{
    const char *host = "127.0.0.1";
    char bracketed[80];

    if (listen[0] == '[') {
        size_t length = strcspn(listen, "]") + 1;

        snprintf(bracketed, sizeof(bracketed), "%.*s", (int)length, listen);
        host = bracketed;
    } else if (listen[0] != ':') {
        snprintf(bracketed, sizeof(bracketed), "%.*s",
                 (int)strcspn(listen, ":"), listen);
        host = bracketed;
    }
    printf("listening on http://%s:%d\n", host, port);
    fflush(stdout);
}

static int run_serve(struct cli_context *ctx)
{
    static const char *const known[] = {"--listen", "--workers", NULL};
    struct queue_pool_options pool_options;
    struct queue_pool *pool = NULL;
    struct http_server *server = NULL;
    struct app *app = NULL;
    struct error err;
    sigset_t signals;
    int signal_number = 0;
    int rc = CLI_FAILED;

    if (cli_check_args("serve", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    if (cli_jobs_pool_options(ctx, 0, &pool_options, &err) != 0) {
        fprintf(stderr, "sitesmith serve: %s\n", err.message);
        return CLI_USAGE;
    }

    /* Every thread started from here on inherits the blocked signals, so
     * only sigwait() below receives them. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    app = app_open(ctx->cfg, &err);
    if (!app)
        goto out;
    if (pool_options.workers > 0) {
        pool = cli_jobs_start_pool(app, &pool_options, &err);
        if (!pool)
            goto out;
    }
    server = start_http(ctx, app, &err);
    if (!server)
        goto out;
    print_address(
        cli_option(ctx->argc, ctx->argv, "--listen")
            ? cli_option(ctx->argc, ctx->argv, "--listen")
            : config_get_string(ctx->cfg, "SITESMITH_LISTEN", "127.0.0.1:8080"),
        http_server_port(server));
    log_info("serve", "started port=%d workers=%d database=%s",
             http_server_port(server), pool_options.workers,
             store_url_for_log(app->store));

    sigwait(&signals, &signal_number);
    log_info("serve", "stopping signal=%d", signal_number);
    rc = CLI_OK;

out:
    if (rc != CLI_OK) {
        fprintf(stderr, "sitesmith serve: %s\n", err.message);
        log_error("serve", "start failed error=\"%s\"", err.message);
    }
    http_server_free(server);
    queue_pool_free(pool);
    app_close(app);
    if (rc == CLI_OK)
        log_info("serve", "stopped");
    return rc;
}

const struct cli_command cmd_serve = {
    .name = "serve",
    .summary = "serve the HTTP API and dashboard, with worker threads",
    .usage = usage,
    .run = run_serve,
};
