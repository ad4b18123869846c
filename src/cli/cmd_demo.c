/*
 * sitesmith demo: the blog generation end to end on this machine. Starts
 * sitesmith-sandbox and `sitesmith serve` on a fresh SQLite file, makes a
 * sandbox site from the store fixture, drives a generation through the
 * HTTP API as the dashboard would, and prints the draft as the sandbox's
 * Wix Blog stored it.
 */
#include "auth/token.h"
#include "core/child.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "http/client.h"
#include "pipelines/app.h"
#include "store/store.h"
#include "wix/blog.h"
#include "wix/media.h"
#include "wix/wix.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: sitesmith demo [--topic TEXT] [--keep]\n"
    "\n"
    "Runs the Blog Generator end to end against sitesmith-sandbox, a local\n"
    "stand-in for Wix, OpenAI and Replicate: starts the sandbox and\n"
    "`sitesmith serve` on a fresh SQLite file in a temporary folder,\n"
    "creates a sandbox site from the store fixture, asks for ideas, picks\n"
    "the first, waits for the draft, and prints it as the sandbox's Wix\n"
    "Blog received it, with the credits left. Everything listens on\n"
    "127.0.0.1 and is stopped at the end.\n"
    "\n"
    "  --topic TEXT  what the post should be about (default: chosen by the\n"
    "                ideas step from the site)\n"
    "  --keep        keep the temporary folder (database, images, logs)\n";

#define DEMO_CREDITS 100
#define DEMO_WAIT_MS (180 * 1000)

struct demo {
    char dir[256];
    char sandbox_url[256];
    char serve_url[256];
    char instance_id[STORE_ID_MAX];
    char *instance; /* the signed dashboard string */
    char app_id[40];
    char app_secret[72];
    struct child sandbox;
    struct child serve;
};

/* Set by SIGINT or SIGTERM: the demo stops waiting and cleans up. */
static volatile sig_atomic_t interrupted;

static void on_signal(int signal_number)
{
    (void)signal_number;
    interrupted = 1;
}

/* Sends a JSON request and parses the response; fails on a status >= 300. */
static json_t *call_json(const char *method, const char *url,
                         const char *instance, const json_t *body, long *status,
                         struct error *err)
{
    struct http_client_request req = {.method = method, .url = url};
    struct http_client_response resp = {0};
    char header[8192];
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *answer = NULL;
    int h = 0;

    req.headers[h++] = "Content-Type: application/json";
    if (instance) {
        snprintf(header, sizeof(header), "X-Wix-Instance: %s", instance);
        req.headers[h++] = header;
    }
    req.body = text;
    req.body_len = text ? strlen(text) : 0;
    if (http_client_send(&req, &resp, err) == 0) {
        *status = resp.status;
        answer = json_parse(resp.body.data ? resp.body.data : "", resp.body.len,
                            64, err);
        if (answer && resp.status >= 300) {
            error_set(err, ERR_PERMANENT, "%s %s: HTTP %ld: %s", method, url,
                      resp.status, resp.body.data);
            json_decref(answer);
            answer = NULL;
        }
    }
    http_client_response_release(&resp);
    free(text);
    return answer;
}

static int start_sandbox(struct demo *demo, struct error *err)
{
    char path[4096];
    char *argv[] = {path,         "--listen",     "127.0.0.1:0",    "--app-id",
                    demo->app_id, "--app-secret", demo->app_secret, "--quiet",
                    NULL};

    if (child_sibling_path("sitesmith-sandbox", path, sizeof(path)) != 0)
        return error_set(err, ERR_PERMANENT,
                         "sitesmith-sandbox not found beside this program; "
                         "build it with scripts/build");
    if (child_start(&demo->sandbox, "sitesmith-sandbox", argv, err) != 0)
        return -1;
    return child_read_url(&demo->sandbox, 20000, demo->sandbox_url,
                          sizeof(demo->sandbox_url), err);
}

static int create_site(struct demo *demo, struct error *err)
{
    char url[512];
    json_t *body =
        json_pack("{s:s, s:i}", "fixture", "store", "catalog_version", 1);
    json_t *site;
    const char *id = NULL;
    const char *instance = NULL;
    long status = 0;

    snprintf(url, sizeof(url), "%s/__sandbox/sites", demo->sandbox_url);
    site = call_json("POST", url, NULL, body, &status, err);
    json_decref(body);
    if (!site)
        return -1;
    if (json_get_string(site, "instance_id", &id, err) != 0 ||
        json_get_string(site, "instance", &instance, err) != 0) {
        json_decref(site);
        return -1;
    }
    snprintf(demo->instance_id, sizeof(demo->instance_id), "%s", id);
    demo->instance = strdup(instance);
    json_decref(site);
    return demo->instance ? 0 : error_set(err, ERR_PERMANENT, "out of memory");
}

/* Points every service at the sandbox, in this process and its children. */
static void set_environment(struct demo *demo)
{
    char value[512];
    char key[65];

    snprintf(value, sizeof(value), "sqlite:%s/sitesmith.db", demo->dir);
    setenv("SITESMITH_DATABASE_URL", value, 1);
    snprintf(value, sizeof(value), "%s/data", demo->dir);
    setenv("SITESMITH_DATA_DIR", value, 1);
    snprintf(value, sizeof(value), "%s/wix", demo->sandbox_url);
    setenv("SITESMITH_WIX_API_URL", value, 1);
    snprintf(value, sizeof(value), "%s/openai/v1", demo->sandbox_url);
    setenv("OPENAI_BASE_URL", value, 1);
    snprintf(value, sizeof(value), "%s/replicate/v1", demo->sandbox_url);
    setenv("SITESMITH_REPLICATE_API_URL", value, 1);
    setenv("OPENAI_API_KEY", "sk-sandbox-demo-key", 1);
    setenv("REPLICATE_API_TOKEN", "r8_sandbox_demo_token", 1);
    setenv("SITESMITH_WIX_APP_ID", demo->app_id, 1);
    setenv("SITESMITH_WIX_APP_SECRET", demo->app_secret, 1);
    crypto_random_hex(key, 32);
    setenv("SITESMITH_SECRET_KEY", key, 1);
    /* Keep the output to the story; warnings and errors still show. */
    if (!getenv("SITESMITH_LOG_LEVEL")) {
        setenv("SITESMITH_LOG_LEVEL", "warn", 1);
        log_set_level(LOG_WARN);
    }
}

/* Records the site and grants it credits, as its install would. */
static int prepare_store(struct demo *demo, const struct config *cfg,
                         struct error *err)
{
    struct store *st = store_open_config(cfg, err);
    struct store_tx *tx = NULL;
    int rc = -1;

    if (!st || store_migrate(st, app_schemas(), NULL, err) != 0)
        goto out;
    tx = store_begin(st, err);
    if (!tx ||
        store_instance_put(tx, demo->instance_id, "installed", "", NULL, err) !=
            0 ||
        store_credits_grant(tx, demo->instance_id, DEMO_CREDITS, "demo-grant",
                            "sitesmith demo", err) < 0)
        goto out;
    rc = store_commit(tx, err);
    tx = NULL;
out:
    store_rollback(tx);
    store_close(st);
    return rc;
}

static int start_serve(struct demo *demo, struct error *err)
{
    char path[4096];
    char *argv[] = {path,        "serve", "--listen", "127.0.0.1:0",
                    "--workers", "2",     NULL};

    if (child_sibling_path("sitesmith", path, sizeof(path)) != 0)
        return error_set(err, ERR_PERMANENT,
                         "cannot find the sitesmith "
                         "executable");
    if (child_start(&demo->serve, "sitesmith serve", argv, err) != 0)
        return -1;
    return child_read_url(&demo->serve, 30000, demo->serve_url,
                          sizeof(demo->serve_url), err);
}

/* Polls the generation until its state is one of the NULL-ended states. */
static json_t *wait_for_state(struct demo *demo, const char *id,
                              const char *const *states, struct error *err)
{
    int64_t deadline = clock_monotonic_ms() + DEMO_WAIT_MS;
    char url[512];
    char last[32] = "";

    snprintf(url, sizeof(url), "%s/api/blog/generations/%s", demo->serve_url,
             id);
    while (clock_monotonic_ms() < deadline && !interrupted) {
        long status = 0;
        json_t *generation =
            call_json("GET", url, demo->instance, NULL, &status, err);
        const char *state = NULL;

        if (!generation)
            return NULL;
        if (json_get_string(generation, "state", &state, err) != 0) {
            json_decref(generation);
            return NULL;
        }
        if (strcmp(state, last) != 0) {
            printf("  state: %s\n", state);
            fflush(stdout);
            snprintf(last, sizeof(last), "%s", state);
        }
        for (size_t i = 0; states[i]; i++) {
            if (strcmp(state, states[i]) == 0)
                return generation;
        }
        json_decref(generation);
        clock_sleep_ms(200);
    }
    if (interrupted)
        error_set(err, ERR_PERMANENT, "interrupted; stopping");
    else
        error_set(err, ERR_RETRYABLE,
                  "generation %s did not finish within %d s (last state %s)",
                  id, DEMO_WAIT_MS / 1000, last);
    return NULL;
}

static void print_ideas(const json_t *generation)
{
    json_t *ideas = json_object_get(generation, "ideas");
    size_t i;
    json_t *idea;

    printf("\nideas for the site:\n");
    json_array_foreach(ideas, i, idea)
    {
        printf("  %zu. %s\n", i,
               json_string_value(json_object_get(idea, "title")));
    }
    printf("\npicking idea 0\n");
}

/* Runs the generation through the API: start, pick idea 0, wait for done. */
static json_t *generate(struct demo *demo, const char *topic, struct error *err)
{
    static const char *const ideas_ready[] = {"awaiting_selection", "failed",
                                              "cancelled", NULL};
    static const char *const ended[] = {"done", "failed", "cancelled", NULL};
    json_t *request = json_object();
    json_t *generation;
    char url[512];
    char id[64];
    long status = 0;

    if (topic)
        json_object_set_new(request, "topic", json_string(topic));
    snprintf(url, sizeof(url), "%s/api/blog/generations", demo->serve_url);
    printf("POST /api/blog/generations\n");
    generation = call_json("POST", url, demo->instance, request, &status, err);
    json_decref(request);
    if (!generation)
        return NULL;
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(generation, "id")));
    json_decref(generation);

    generation = wait_for_state(demo, id, ideas_ready, err);
    if (!generation)
        return NULL;
    if (strcmp(json_string_value(json_object_get(generation, "state")),
               "awaiting_selection") != 0)
        return generation;
    print_ideas(generation);
    json_decref(generation);

    snprintf(url, sizeof(url), "%s/api/blog/generations/%s/select",
             demo->serve_url, id);
    request = json_pack("{s:i}", "index", 0);
    generation = call_json("POST", url, demo->instance, request, &status, err);
    json_decref(request);
    if (!generation)
        return NULL;
    json_decref(generation);
    return wait_for_state(demo, id, ended, err);
}

/* Input and output of reading the draft back from Wix. */
struct draft_read {
    const char *draft_id;
    json_t *draft;
    json_t *file;
};

static int read_draft(struct wix_client *client, void *ctx, struct error *err)
{
    struct draft_read *read = ctx;
    const char *media_id;

    json_decref(read->draft);
    read->draft = NULL;
    if (wix_blog_get_draft(client, read->draft_id, &read->draft, err) != 0)
        return -1;
    media_id =
        json_string_value(json_at(read->draft, "media.wixMedia.image.id"));
    if (media_id && !read->file &&
        wix_media_get_file(client, media_id, &read->file, err) != 0)
        return -1;
    return 0;
}

/* Prints each heading of a rich-content document, indented by level. */
static void print_headings(const json_t *nodes)
{
    size_t i;
    json_t *node;

    json_array_foreach(nodes, i, node)
    {
        const char *type = json_string_value(json_object_get(node, "type"));
        json_t *texts = json_object_get(node, "nodes");
        json_int_t level =
            json_integer_value(json_at(node, "headingData.level"));
        size_t j;
        json_t *text;

        if (!type || strcmp(type, "HEADING") != 0)
            continue;
        printf("    %*s", (int)(level > 1 ? (level - 2) * 2 : 0), "");
        json_array_foreach(texts, j, text)
        {
            printf("%s",
                   json_string_value(json_at(text, "textData.text")) ?: "");
        }
        printf("\n");
    }
}

static void print_draft(const struct draft_read *read)
{
    const json_t *post = read->draft;
    json_t *nodes = json_at(post, "richContent.nodes");

    printf(
        "\nthe draft in the site's Wix Blog (read back from the sandbox):\n");
    printf("  id:       %s\n", json_string_value(json_object_get(post, "id")));
    printf("  status:   %s\n",
           json_string_value(json_object_get(post, "status")));
    printf("  title:    %s\n",
           json_string_value(json_object_get(post, "title")));
    printf("  excerpt:  %s\n",
           json_string_value(json_object_get(post, "excerpt")));
    printf("  writer:   member %s\n",
           json_string_value(json_object_get(post, "memberId")));
    printf("  content:  %zu rich-content nodes; headings:\n",
           json_array_size(nodes));
    print_headings(nodes);
    if (read->file)
        printf("  image:    %s (%s, %s, %s bytes)\n",
               json_string_value(json_at(read->file, "id")),
               json_string_value(json_at(read->file, "displayName")),
               json_string_value(json_at(read->file, "operationStatus")),
               json_string_value(json_at(read->file, "sizeInBytes")));
}

/* Reads the draft through the Wix API with a token of its own. */
static int show_draft(const struct config *cfg, const char *instance_id,
                      const char *draft_id, struct error *err)
{
    struct draft_read read = {.draft_id = draft_id};
    struct token_provider *tokens = token_provider_new(cfg, NULL, err);
    struct wix *wix = tokens ? wix_new(cfg, tokens, err) : NULL;
    int rc = -1;

    if (wix && wix_run(wix, instance_id, read_draft, &read, err) == 0) {
        print_draft(&read);
        rc = 0;
    }
    json_decref(read.draft);
    json_decref(read.file);
    wix_free(wix);
    token_provider_free(tokens);
    return rc;
}

static void show_credits(struct demo *demo)
{
    char url[512];
    struct error err;
    long status = 0;
    json_t *me;

    snprintf(url, sizeof(url), "%s/api/me", demo->serve_url);
    error_clear(&err);
    me = call_json("GET", url, demo->instance, NULL, &status, &err);
    if (!me) {
        fprintf(stderr, "sitesmith demo: reading credits failed: %s\n",
                err.message);
        return;
    }
    printf("\ncredits: %lld left of %d (charged %lld for this post)\n",
           (long long)json_integer_value(json_object_get(me, "credits")),
           DEMO_CREDITS,
           (long long)(DEMO_CREDITS -
                       json_integer_value(json_object_get(me, "credits"))));
    json_decref(me);
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int run_steps(struct demo *demo, struct cli_context *ctx,
                     const char *topic, struct error *err)
{
    struct config *cfg = NULL;
    json_t *generation = NULL;
    const char *draft_id;
    int rc = -1;

    if (start_sandbox(demo, err) != 0 || create_site(demo, err) != 0)
        return -1;
    printf("sandbox:  %s (site %s)\n", demo->sandbox_url, demo->instance_id);
    set_environment(demo);
    cfg = config_load(NULL, err);
    if (!cfg || prepare_store(demo, cfg, err) != 0 ||
        start_serve(demo, err) != 0)
        goto out;
    printf("serve:    %s (database %s/sitesmith.db)\n\n", demo->serve_url,
           demo->dir);
    generation = generate(demo, topic, err);
    if (!generation)
        goto out;
    draft_id = json_string_value(json_object_get(generation, "draft_post_id"));
    if (!draft_id) {
        error_set(err, ERR_PERMANENT, "the generation ended %s: %s",
                  json_string_value(json_object_get(generation, "state")),
                  json_string_value(json_at(generation, "error.message")));
        goto out;
    }
    if (show_draft(cfg, demo->instance_id, draft_id, err) != 0)
        goto out;
    show_credits(demo);
    rc = 0;
out:
    (void)ctx;
    json_decref(generation);
    config_free(cfg);
    return rc;
}

static int run_demo(struct cli_context *ctx)
{
    static const char *const known[] = {"--topic", "--keep!", NULL};
    struct demo demo = {0};
    struct error err;
    int keep;
    int rc;

    if (cli_check_args("demo", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    keep = cli_flag(ctx->argc, ctx->argv, "--keep");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    snprintf(demo.dir, sizeof(demo.dir), "/tmp/sitesmith-demo-XXXXXX");
    if (!mkdtemp(demo.dir)) {
        fprintf(stderr, "sitesmith demo: cannot make a temporary folder: %s\n",
                strerror(errno));
        return CLI_FAILED;
    }
    snprintf(demo.app_id, sizeof(demo.app_id), "demo-app-");
    crypto_random_hex(demo.app_id + 9, 8);
    crypto_random_hex(demo.app_secret, 32);
    demo.sandbox.stdout_fd = demo.serve.stdout_fd = -1;

    error_clear(&err);
    rc = run_steps(&demo, ctx, cli_option(ctx->argc, ctx->argv, "--topic"),
                   &err);
    if (rc != 0)
        fprintf(stderr, "\nsitesmith demo: failed: %s\n", err.message);
    child_stop(&demo.serve, 40000);
    child_stop(&demo.sandbox, 5000);
    free(demo.instance);
    if (keep)
        printf("kept %s\n", demo.dir);
    else
        nftw(demo.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}

const struct cli_command cmd_demo = {
    .name = "demo",
    .summary = "run a blog generation end to end against the sandbox",
    .usage = usage,
    .run = run_demo,
};
