/*
 * sitesmith-sandbox: serves local stand-ins for Wix (/wix), OpenAI
 * (/openai/v1) and Replicate (/replicate/v1) on one port, with the control
 * API under /__sandbox. Its first line on stdout is
 * "listening on http://HOST:PORT", so a test can start it on port 0 and
 * read where it went.
 */
#include "images.h"
#include "sandbox.h"

#include "core/crypto.h"
#include "core/log.h"
#include "http/client.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LISTEN "127.0.0.1:0"
#define DEFAULT_APP_ID "sandbox-app-id"
#define DEFAULT_APP_SECRET "sandbox-app-secret"
#ifndef SANDBOX_FIXTURES_DIR
#define SANDBOX_FIXTURES_DIR "sandbox/fixtures"
#endif

/* Handlers may wait (delay faults, Prefer: wait) and the media import
 * fetches from this same server, so keep plenty of threads. */
#define SERVER_THREADS 32
#define SERVER_MAX_BODY_BYTES (64u * 1024 * 1024)

static const char usage_text[] =
    "usage: sitesmith-sandbox [options]\n"
    "\n"
    "Serves local stand-ins for the Wix, OpenAI and Replicate APIs on one\n"
    "port: Wix under /wix, OpenAI under /openai/v1, Replicate under\n"
    "/replicate/v1, and the control API under /__sandbox. Prints\n"
    "\"listening on http://HOST:PORT\" as its first line, then serves until\n"
    "SIGINT or SIGTERM.\n"
    "\n"
    "options:\n"
    "  --listen ADDR      address and port to serve on (default " DEFAULT_LISTEN
    ";\n"
    "                     port 0 picks a free port)\n"
    "  --app-id ID        Wix app id that OAuth accepts "
    "(default " DEFAULT_APP_ID ")\n"
    "  --app-secret S     Wix app secret that OAuth accepts and that signs\n"
    "                     dashboard instance strings "
    "(default " DEFAULT_APP_SECRET ")\n"
    "  --state FILE       load state from FILE at start when it exists, and\n"
    "                     save it there on SIGINT, SIGTERM and\n"
    "                     POST /__sandbox/save\n"
    "  --fixtures DIR     folder with the store fixture store.json\n"
    "                     (default " SANDBOX_FIXTURES_DIR ")\n"
    "  --threads N        HTTP server threads, 1 to 1024 (default 32); a\n"
    "                     request with model latency holds one for that\n"
    "                     long, so load tests need more\n"
    "  --quiet            log warnings and errors only, no access log\n"
    "  --help             print this text\n";

static int parse_threads(const char *text, unsigned *out)
{
    char *end;
    long value = strtol(text, &end, 10);

    if (end == text || *end || value < 1 || value > 1024) {
        fprintf(stderr,
                "sitesmith-sandbox: --threads: invalid value \"%s\": "
                "expected an integer from 1 to 1024\n",
                text);
        return -1;
    }
    *out = (unsigned)value;
    return 0;
}

static int parse_options(int argc, char **argv, struct sandbox_options *opts)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"app-id", required_argument, NULL, 'i'},
        {"app-secret", required_argument, NULL, 's'},
        {"state", required_argument, NULL, 'f'},
        {"fixtures", required_argument, NULL, 'x'},
        {"quiet", no_argument, NULL, 'q'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int option;

    *opts = (struct sandbox_options){
        .listen = DEFAULT_LISTEN,
        .app_id = DEFAULT_APP_ID,
        .app_secret = DEFAULT_APP_SECRET,
        .fixtures_dir = SANDBOX_FIXTURES_DIR,
        .threads = SERVER_THREADS,
    };
    while ((option = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (option) {
        case 'l':
            opts->listen = optarg;
            break;
        case 'i':
            opts->app_id = optarg;
            break;
        case 's':
            opts->app_secret = optarg;
            break;
        case 'f':
            opts->state_file = optarg;
            break;
        case 'x':
            opts->fixtures_dir = optarg;
            break;
        case 'q':
            opts->quiet = 1;
            break;
        case 't':
            if (parse_threads(optarg, &opts->threads) != 0)
                return -1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sitesmith-sandbox: unexpected argument \"%s\"\n",
                argv[optind]);
        return -1;
    }
    if (!*opts->app_id || !*opts->app_secret) {
        fprintf(stderr, "sitesmith-sandbox: --app-id and --app-secret must "
                        "not be empty\n");
        return -1;
    }
    return 0;
}

/* "http://127.0.0.1:PORT" for a loopback or wildcard listen address, else
 * the host as given. */
static void set_base_url(struct sandbox *sb, int port)
{
    const char *listen = sb->opts.listen;
    const char *colon = strrchr(listen, ':');
    size_t host_len = colon ? (size_t)(colon - listen) : 0;
    char host[96] = "127.0.0.1";

    if (host_len > 0 && host_len < sizeof(host) &&
        strncmp(listen, "0.0.0.0", host_len) != 0 &&
        strncmp(listen, "[::]", host_len) != 0) {
        memcpy(host, listen, host_len);
        host[host_len] = '\0';
    }
    snprintf(sb->base_url, sizeof(sb->base_url), "http://%s:%d", host, port);
}

static struct http_server *start_server(struct sandbox *sb, struct error *err)
{
    struct http_server_options server_opts = {
        .listen = sb->opts.listen,
        .threads = sb->opts.threads,
        .max_body_bytes = SERVER_MAX_BODY_BYTES,
        .log_component = "sandbox",
        .quiet = sb->opts.quiet,
    };
    struct http_server *server = http_server_new(&server_opts, err);

    if (!server)
        return NULL;
    if (sandbox_control_init(sb, server, err) != 0 ||
        sandbox_webhooks_init(sb, server, err) != 0 ||
        sandbox_wix_init(sb, server, err) != 0 ||
        sandbox_openai_init(sb, server, err) != 0 ||
        sandbox_replicate_init(sb, server, err) != 0 ||
        sandbox_state_load(sb, err) != 0 ||
        http_server_start(server, err) != 0) {
        http_server_free(server);
        return NULL;
    }
    set_base_url(sb, http_server_port(server));
    return server;
}

/* Blocks until SIGINT or SIGTERM. The signals are blocked in every thread
 * (the mask is set before any starts), so only this sigwait sees them. */
static void wait_for_stop(const sigset_t *signals)
{
    int signal_number = 0;

    while (sigwait(signals, &signal_number) != 0)
        ;
    log_info("sandbox", "stopping signal=%d", signal_number);
}

static int run(struct sandbox *sb, const sigset_t *signals)
{
    struct error err;
    struct http_server *server = start_server(sb, &err);
    int status = 0;

    if (!server) {
        fprintf(stderr, "sitesmith-sandbox: %s\n", err.message);
        return 1;
    }
    printf("listening on %s\n", sb->base_url);
    fflush(stdout);

    wait_for_stop(signals);
    if (sb->opts.state_file) {
        if (sandbox_state_save(sb, &err) != 0) {
            log_error("sandbox", "saving the state failed: %s", err.message);
            status = 1;
        } else {
            log_info("sandbox", "state saved file=%s", sb->opts.state_file);
        }
    }
    http_server_free(server);
    return status;
}

int main(int argc, char **argv)
{
    struct sandbox_options opts;
    struct sandbox sb;
    struct error err;
    sigset_t signals;
    int status;

    if (parse_options(argc, argv, &opts) != 0) {
        fputs(usage_text, stderr);
        return 2;
    }
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_init_from_env();
    if (opts.quiet)
        log_set_level(LOG_WARN);

    error_set(&err, ERR_PERMANENT, "libsodium or libcurl failed to start");
    if (crypto_init() != 0 || http_client_global_init() != 0 ||
        sandbox_images_init(&err) != 0 || sandbox_init(&sb, &opts, &err) != 0) {
        fprintf(stderr, "sitesmith-sandbox: start-up failed: %s\n",
                err.message);
        return 1;
    }
    status = run(&sb, &signals);
    sandbox_free(&sb);
    http_client_global_cleanup();
    return status;
}
