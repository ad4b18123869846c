/*
 * sitesmith products optimize: runs a Product Optimizer job from the
 * command line, with the job's workers in this process and a progress bar.
 */
#include "cli/cli.h"
#include "cli/cli_jobs.h"
#include "core/clock.h"
#include "core/log.h"
#include "pipelines/app.h"
#include "pipelines/products.h"
#include "queue/queue.h"

#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_POLL_MS 250
/* Without a terminal, a progress line at most this often. */
#define PLAIN_LINE_MS 10000
#define BAR_WIDTH 30

static const char usage[] =
    "usage: sitesmith products optimize --instance-id ID\n"
    "           (--all [--collection ID] [--search TEXT] | --product ID...)\n"
    "           [--fields LIST] [--auto] [--language L] [--tone T]\n"
    "           [--keywords LIST] [--instructions TEXT] [--only-empty]\n"
    "           [--max-name N] [--max-description N] [--max-seo-title N]\n"
    "           [--max-seo-description N] [--workers N]\n"
    "\n"
    "Rewrites product names, descriptions, SEO titles and meta descriptions\n"
    "of a Wix store with the model, one item per product, and waits until\n"
    "every item is done. The job's credits (fields x\n"
    "SITESMITH_COST_PRODUCT_FIELD per product) are reserved at the start and\n"
    "charged only for items that are applied.\n"
    "\n"
    "  --instance-id ID     the site (Wix app instance id)\n"
    "  --all                every product; narrow with --collection ID\n"
    "                       (Catalog V1) or --search TEXT (name)\n"
    "  --product ID         a product to rewrite; repeat for more\n"
    "  --fields LIST        comma-separated: name, description, seo_title,\n"
    "                       seo_description (default: all four)\n"
    "  --auto               write each item to the store as soon as it is\n"
    "                       ready; without it, items wait for review in the\n"
    "                       dashboard\n"
    "  --language L         language to write in (default: the product's)\n"
    "  --tone T             tone of voice, e.g. warm\n"
    "  --keywords LIST      comma-separated keywords to work in\n"
    "  --instructions TEXT  free-text instructions for the model\n"
    "  --only-empty         write only fields that are empty today\n"
    "  --max-name N         characters (10 to 80, default 80)\n"
    "  --max-description N  characters with tags (default 8000)\n"
    "  --max-seo-title N    characters (default 60)\n"
    "  --max-seo-description N  characters (default 160)\n"
    "  --workers N          worker threads in this process (default\n"
    "                       SITESMITH_WORKERS, else 4)\n"
    "\n"
    "Shows a progress bar on a terminal and plain lines otherwise. On\n"
    "SIGINT or SIGTERM it stops its workers; the job goes on with\n"
    "`sitesmith worker` or `sitesmith serve`. Exits 0 when no item failed.\n";

static int usage_error(const char *fmt, const char *value)
{
    fprintf(stderr, "sitesmith products optimize: ");
    fprintf(stderr, fmt, value);
    fprintf(stderr, "; see sitesmith products optimize --help\n");
    return -1;
}

/* A JSON array of the comma-separated parts of text. */
static json_t *split_list(const char *text)
{
    json_t *array = json_array();
    const char *p = text;

    while (*p) {
        size_t length = strcspn(p, ",");
        char *part = strndup(p, length);
        char *start = part;
        char *end;

        while (*start == ' ')
            start++;
        end = start + strlen(start);
        while (end > start && end[-1] == ' ')
            *--end = '\0';
        if (*start)
            json_array_append_new(array, json_string(start));
        free(part);
        p += length;
        if (*p == ',')
            p++;
    }
    return array;
}

static void add_products(int argc, char **argv, json_t *request)
{
    json_t *ids = json_array();

    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--product") == 0)
            json_array_append_new(ids, json_string(argv[++i]));
        else if (strncmp(argv[i], "--product=", 10) == 0)
            json_array_append_new(ids, json_string(argv[i] + 10));
    }
    if (argc > 0 && strncmp(argv[argc - 1], "--product=", 10) == 0)
        json_array_append_new(ids, json_string(argv[argc - 1] + 10));
    if (json_array_size(ids) > 0)
        json_object_set_new(request, "product_ids", ids);
    else
        json_decref(ids);
}

static int add_number(int argc, char **argv, const char *option,
                      json_t *lengths, const char *field)
{
    const char *text = cli_option(argc, argv, option);
    char *end;
    long value;

    if (!text)
        return 0;
    value = strtol(text, &end, 10);
    if (end == text || *end || value < 1)
        return usage_error("invalid number \"%s\"", text);
    json_object_set_new(lengths, field, json_integer(value));
    return 0;
}

/* Builds the job request from the options; NULL after a usage error. */
static json_t *build_request(int argc, char **argv)
{
    static const char *const texts[][2] = {
        {"--collection", "collection_id"},  {"--search", "search"},
        {"--language", "language"},         {"--tone", "tone"},
        {"--instructions", "instructions"},
    };
    json_t *request = json_object();
    json_t *lengths = json_object();
    const char *value;

    add_products(argc, argv, request);
    if (cli_flag(argc, argv, "--all"))
        json_object_set_new(request, "all", json_true());
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if ((value = cli_option(argc, argv, texts[i][0])))
            json_object_set_new(request, texts[i][1], json_string(value));
    if ((value = cli_option(argc, argv, "--fields")))
        json_object_set_new(request, "fields", split_list(value));
    if ((value = cli_option(argc, argv, "--keywords")))
        json_object_set_new(request, "keywords", split_list(value));
    json_object_set_new(
        request, "mode",
        json_string(cli_flag(argc, argv, "--auto") ? "auto" : "review"));
    if (cli_flag(argc, argv, "--only-empty"))
        json_object_set_new(request, "only_fill_empty", json_true());
    if (add_number(argc, argv, "--max-name", lengths, "name") != 0 ||
        add_number(argc, argv, "--max-description", lengths, "description") !=
            0 ||
        add_number(argc, argv, "--max-seo-title", lengths, "seo_title") != 0 ||
        add_number(argc, argv, "--max-seo-description", lengths,
                   "seo_description") != 0) {
        json_decref(lengths);
        json_decref(request);
        return NULL;
    }
    if (json_object_size(lengths) > 0)
        json_object_set_new(request, "max_lengths", lengths);
    else
        json_decref(lengths);
    return request;
}

/* ------------------------------------------------------------------ */
/* Progress                                                            */
/* ------------------------------------------------------------------ */

static int64_t done_count(const struct products_progress *p)
{
    return p->total - p->pending - p->running - p->applying - p->reverting;
}

static void draw_bar(const struct products_progress *p)
{
    int64_t done = done_count(p);
    int filled = p->total > 0 ? (int)(done * BAR_WIDTH / p->total) : 0;
    char bar[BAR_WIDTH + 1];

    memset(bar, '#', (size_t)filled);
    memset(bar + filled, '.', (size_t)(BAR_WIDTH - filled));
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr,
            "\r[%s] %" PRId64 "/%" PRId64 "  ready %" PRId64
            "  applied %" PRId64 "  failed %" PRId64 "  conflict %" PRId64 " ",
            bar, done, p->total, p->ready, p->applied, p->failed, p->conflict);
    fflush(stderr);
}

static void print_line(FILE *out, const struct products_progress *p)
{
    fprintf(out,
            "%" PRId64 "/%" PRId64 " done: ready %" PRId64 ", applied %" PRId64
            ", failed %" PRId64 ", conflict %" PRId64 ", cancelled %" PRId64
            "\n",
            done_count(p), p->total, p->ready, p->applied, p->failed,
            p->conflict, p->cancelled);
    fflush(out);
}

/* Polls the job until it settles or a signal arrives. 0 when settled. */
static int follow(struct app *app, const char *instance_id, const char *job_id,
                  struct products_progress *progress, struct error *err)
{
    int tty = isatty(STDERR_FILENO);
    int64_t last_line = 0;
    int64_t last_done = -1;

    while (!cli_jobs_interrupted) {
        if (products_job_progress(app, instance_id, job_id, progress, err) != 0)
            return -1;
        if (tty) {
            draw_bar(progress);
        } else if (done_count(progress) != last_done &&
                   clock_monotonic_ms() - last_line >= PLAIN_LINE_MS) {
            print_line(stdout, progress);
            last_line = clock_monotonic_ms();
            last_done = done_count(progress);
        }
        if (products_progress_settled(progress))
            break;
        clock_sleep_ms(PROGRESS_POLL_MS);
    }
    if (tty)
        fputc('\n', stderr);
    return cli_jobs_interrupted ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* The command                                                         */
/* ------------------------------------------------------------------ */

static void print_summary(const char *job_id, const struct products_progress *p,
                          int auto_mode)
{
    print_line(stdout, p);
    if (!auto_mode && p->ready > 0)
        printf("%" PRId64 " items wait for review: apply them in the "
               "dashboard, or with POST /api/product-jobs/%s/apply-ready\n",
               p->ready, job_id);
}

/* Starts the job and the workers, and follows the job to its end. */
static int optimize(struct cli_context *ctx, const char *instance_id,
                    const json_t *request,
                    const struct queue_pool_options *options)
{
    char job_id[STORE_UUID_SIZE];
    struct products_progress progress;
    struct queue_pool *pool = NULL;
    struct app *app;
    struct error err;
    int64_t cost = 0;
    int rc = CLI_FAILED;
    int followed = -1;
    int auto_mode = strcmp(json_string_value(json_object_get(request, "mode")),
                           "auto") == 0;

    error_clear(&err);
    app = app_open(ctx->cfg, &err);
    if (!app)
        goto out;
    if (products_job_create(app, instance_id, request, job_id, &cost, &err) !=
        0)
        goto out;
    printf("job %s started: cost %" PRId64 " credits\n", job_id, cost);
    fflush(stdout);
    pool = cli_jobs_start_pool(app, options, &err);
    if (!pool)
        goto out;
    followed = follow(app, instance_id, job_id, &progress, &err);
    if (followed == 0) {
        print_summary(job_id, &progress, auto_mode);
        rc = progress.failed > 0 ? CLI_FAILED : CLI_OK;
    } else if (followed == 1) {
        fprintf(stderr,
                "sitesmith products optimize: stopped; job %s goes on with "
                "`sitesmith worker`\n",
                job_id);
    }
out:
    if (rc == CLI_FAILED && err.kind != ERR_NONE)
        fprintf(stderr, "sitesmith products optimize: %s\n", err.message);
    queue_pool_free(pool);
    app_close(app);
    return rc;
}

static int run_optimize(struct cli_context *ctx)
{
    static const char *const known[] = {
        "--instance-id",   "--all!",
        "--product",       "--collection",
        "--search",        "--fields",
        "--auto!",         "--language",
        "--tone",          "--keywords",
        "--instructions",  "--only-empty!",
        "--max-name",      "--max-description",
        "--max-seo-title", "--max-seo-description",
        "--workers",       NULL};
    const char *instance_id = cli_option(ctx->argc, ctx->argv, "--instance-id");
    struct queue_pool_options options;
    struct error err;
    json_t *request;
    int rc;

    if (cli_check_args("products optimize", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    if (!instance_id || !*instance_id) {
        usage_error("--instance-id is missing%s", "");
        return CLI_USAGE;
    }
    switch (cli_jobs_pool_options(ctx, 1, &options, &err)) {
    case 0:
        break;
    case -2:
        usage_error("%s", err.message);
        return CLI_USAGE;
    default:
        fprintf(stderr, "sitesmith products optimize: %s\n", err.message);
        return CLI_USAGE;
    }
    request = build_request(ctx->argc, ctx->argv);
    if (!request)
        return CLI_USAGE;

    cli_jobs_catch_signals();
    rc = optimize(ctx, instance_id, request, &options);
    json_decref(request);
    return rc;
}

const struct cli_command cmd_products_optimize = {
    .name = "products optimize",
    .summary = "rewrite product text of a store, with a progress bar",
    .usage = usage,
    .run = run_optimize,
};
