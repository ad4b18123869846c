/*
 * sitesmith images optimize: runs an Image Optimizer job from the command
 * line, with the job's workers in this process, and prints each image's
 * sizes before and after.
 */
#include "cli/cli.h"
#include "cli/cli_jobs.h"
#include "core/clock.h"
#include "pipelines/app.h"
#include "pipelines/images.h"
#include "queue/queue.h"

#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRESS_POLL_MS 250
#define PROGRESS_LINE_MS 5000

static const char usage[] =
    "usage: sitesmith images optimize --instance-id ID --product ID...\n"
    "           --operation upscale|remove-background|edit|compress\n"
    "           [--instruction TEXT] [--scale 2|4]\n"
    "           [--format webp|jpeg|png|avif] [--quality N]\n"
    "           [--max-width N] [--max-height N] [--auto] [--workers N]\n"
    "\n"
    "Improves every image of the given products, one item per image, and\n"
    "waits until every item is done. Each image is resized to fit the\n"
    "maximum, re-encoded and stripped of metadata but its colour profile.\n"
    "A result larger than the original is not applied unless the operation\n"
    "is an edit. SITESMITH_COST_IMAGE credits per image are reserved at the\n"
    "start and charged only for images that are applied.\n"
    "\n"
    "  --instance-id ID     the site (Wix app instance id)\n"
    "  --product ID         a product whose images to improve; repeat for\n"
    "                       more (at most 100)\n"
    "  --operation OP       upscale (Replicate), remove-background\n"
    "                       (Replicate), edit (Replicate, needs\n"
    "                       --instruction) or compress (local only)\n"
    "  --instruction TEXT   what the edit should do, e.g. \"white studio\n"
    "                       background, soft shadow\"\n"
    "  --scale 2|4          upscale factor (default 2)\n"
    "  --format F           output format (default webp; avif only where\n"
    "                       this libvips has an AVIF encoder)\n"
    "  --quality N          1 to 100 (default 80; png ignores it)\n"
    "  --max-width N        pixels, 16 to 16384 (default: no limit)\n"
    "  --max-height N       pixels, 16 to 16384 (default: no limit)\n"
    "  --auto               apply each image to its product as soon as it is\n"
    "                       ready; without it, images wait for review in the\n"
    "                       dashboard\n"
    "  --workers N          worker threads in this process (default\n"
    "                       SITESMITH_WORKERS, else 4)\n"
    "\n"
    "On SIGINT or SIGTERM it stops its workers; the job goes on with\n"
    "`sitesmith worker` or `sitesmith serve`. Exits 0 when no item failed.\n";

static int usage_error(const char *fmt, const char *value)
{
    fprintf(stderr, "sitesmith images optimize: ");
    fprintf(stderr, fmt, value);
    fprintf(stderr, "; see sitesmith images optimize --help\n");
    return -1;
}

static json_t *product_ids(int argc, char **argv)
{
    json_t *ids = json_array();

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--product") == 0 && i + 1 < argc)
            json_array_append_new(ids, json_string(argv[++i]));
        else if (strncmp(argv[i], "--product=", 10) == 0)
            json_array_append_new(ids, json_string(argv[i] + 10));
    }
    return ids;
}

/* Adds option's value as an integer member; -1 after a usage error. */
static int add_number(int argc, char **argv, const char *option,
                      json_t *request, const char *field)
{
    const char *text = cli_option(argc, argv, option);
    char *end;
    long value;

    if (!text)
        return 0;
    value = strtol(text, &end, 10);
    if (end == text || *end || value < 0 || value > 1000000)
        return usage_error("invalid number \"%s\"", text);
    json_object_set_new(request, field, json_integer(value));
    return 0;
}

/* Builds the job request from the options; NULL after a usage error. */
static json_t *build_request(int argc, char **argv)
{
    const char *operation = cli_option(argc, argv, "--operation");
    const char *instruction = cli_option(argc, argv, "--instruction");
    const char *format = cli_option(argc, argv, "--format");
    json_t *request = json_object();

    json_object_set_new(request, "product_ids", product_ids(argc, argv));
    if (!operation) {
        usage_error("--operation is missing%s", "");
        goto fail;
    }
    /* The API spells it with an underscore. */
    json_object_set_new(request, "operation",
                        json_string(strcmp(operation, "remove-background") == 0
                                        ? "remove_background"
                                        : operation));
    if (instruction)
        json_object_set_new(request, "instruction", json_string(instruction));
    if (format)
        json_object_set_new(request, "format", json_string(format));
    json_object_set_new(
        request, "mode",
        json_string(cli_flag(argc, argv, "--auto") ? "auto" : "review"));
    if (add_number(argc, argv, "--scale", request, "scale") != 0 ||
        add_number(argc, argv, "--quality", request, "quality") != 0 ||
        add_number(argc, argv, "--max-width", request, "max_width") != 0 ||
        add_number(argc, argv, "--max-height", request, "max_height") != 0)
        goto fail;
    return request;

fail:
    json_decref(request);
    return NULL;
}

static int64_t done_count(const struct images_progress *p)
{
    return p->total - p->pending - p->processing - p->applying - p->restoring;
}

static void print_progress(const struct images_progress *p)
{
    printf("%" PRId64 "/%" PRId64 " done: ready %" PRId64 ", applied %" PRId64
           ", larger %" PRId64 ", failed %" PRId64 "\n",
           done_count(p), p->total, p->ready, p->applied, p->skipped_larger,
           p->failed);
    fflush(stdout);
}

/* Polls the job until it settles or a signal arrives. 0 when settled. */
static int follow(struct app *app, const char *instance_id, const char *job_id,
                  struct images_progress *progress, struct error *err)
{
    int64_t last_line = 0;
    int64_t last_done = -1;

    while (!cli_jobs_interrupted) {
        if (images_job_progress(app, instance_id, job_id, progress, err) != 0)
            return -1;
        if (images_progress_settled(progress))
            return 0;
        if (done_count(progress) != last_done &&
            clock_monotonic_ms() - last_line >= PROGRESS_LINE_MS) {
            print_progress(progress);
            last_line = clock_monotonic_ms();
            last_done = done_count(progress);
        }
        clock_sleep_ms(PROGRESS_POLL_MS);
    }
    return 1;
}

/* One line per image: product, media, state, bytes before and after. */
static int print_items(struct app *app, const char *instance_id,
                       const char *job_id, struct error *err)
{
    const char *cursor = NULL;
    json_t *page = NULL;

    do {
        size_t i;
        json_t *item;
        json_t *next;

        next =
            images_items_json(app, instance_id, job_id, NULL, 100, cursor, err);
        json_decref(page);
        page = next;
        if (!page)
            return -1;
        json_array_foreach(json_object_get(page, "items"), i, item)
        {
            const char *message = json_string_value(
                json_object_get(json_object_get(item, "error"), "message"));

            printf("%s %s %s: %" JSON_INTEGER_FORMAT " -> %" JSON_INTEGER_FORMAT
                   " bytes%s%s\n",
                   json_string_value(json_object_get(item, "product_id")),
                   json_string_value(json_object_get(item, "media_id")),
                   json_string_value(json_object_get(item, "state")),
                   json_integer_value(json_object_get(
                       json_object_get(item, "before"), "bytes")),
                   json_integer_value(json_object_get(
                       json_object_get(item, "after"), "bytes")),
                   message ? ": " : "", message ? message : "");
        }
        cursor = json_string_value(json_object_get(page, "next_cursor"));
    } while (cursor);
    json_decref(page);
    return 0;
}

static int optimize(struct cli_context *ctx, const char *instance_id,
                    const json_t *request,
                    const struct queue_pool_options *options)
{
    char job_id[STORE_UUID_SIZE];
    struct images_progress progress;
    struct queue_pool *pool = NULL;
    struct app *app;
    struct error err;
    int64_t cost = 0;
    int rc = CLI_FAILED;
    int followed;

    error_clear(&err);
    app = app_open(ctx->cfg, &err);
    if (!app ||
        images_job_create(app, instance_id, request, job_id, &cost, &err) != 0)
        goto out;
    printf("job %s started: cost %" PRId64 " credits\n", job_id, cost);
    fflush(stdout);
    pool = cli_jobs_start_pool(app, options, &err);
    if (!pool)
        goto out;
    followed = follow(app, instance_id, job_id, &progress, &err);
    if (followed == 1) {
        fprintf(stderr,
                "sitesmith images optimize: stopped; job %s goes on with "
                "`sitesmith worker`\n",
                job_id);
        goto out;
    }
    if (followed != 0 || print_items(app, instance_id, job_id, &err) != 0)
        goto out;
    print_progress(&progress);
    if (progress.ready > 0)
        printf("%" PRId64 " images wait for review: apply them in the "
               "dashboard, or with POST /api/image-jobs/%s/apply-ready\n",
               progress.ready, job_id);
    rc = progress.failed > 0 ? CLI_FAILED : CLI_OK;
out:
    if (rc == CLI_FAILED && err.kind != ERR_NONE)
        fprintf(stderr, "sitesmith images optimize: %s\n", err.message);
    queue_pool_free(pool);
    app_close(app);
    return rc;
}

static int run_optimize(struct cli_context *ctx)
{
    static const char *const known[] = {
        "--instance-id", "--product", "--operation", "--instruction",
        "--scale",       "--format",  "--quality",   "--max-width",
        "--max-height",  "--auto!",   "--workers",   NULL};
    const char *instance_id = cli_option(ctx->argc, ctx->argv, "--instance-id");
    struct queue_pool_options options;
    struct error err;
    json_t *request;
    int rc;

    if (cli_check_args("images optimize", ctx->argc, ctx->argv, known) != 0)
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
        fprintf(stderr, "sitesmith images optimize: %s\n", err.message);
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

const struct cli_command cmd_images_optimize = {
    .name = "images optimize",
    .summary = "improve the product images of a store",
    .usage = usage,
    .run = run_optimize,
};
