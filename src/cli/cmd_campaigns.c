/*
 * sitesmith campaigns list: a site's blog campaigns, their next post and
 * how their posts went. sitesmith campaigns run-due: fires the posts that
 * are due now, once, and exits.
 */
#include "cli/cli.h"
#include "core/json.h"
#include "pipelines/app.h"
#include "pipelines/campaigns.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char list_usage[] =
    "usage: sitesmith campaigns list --instance-id ID [--json]\n"
    "\n"
    "Prints the site's blog campaigns, newest first: name, time zone, what\n"
    "happens to a ready post (draft or publish), whether it is paused, its\n"
    "next post in local time, how many posts are in each state, and the\n"
    "latest post that failed, was missed or was skipped for want of\n"
    "credits.\n"
    "\n"
    "  --instance-id ID  the site (Wix app instance id)\n"
    "  --json            print the campaigns as the API returns them\n";

static const char run_due_usage[] =
    "usage: sitesmith campaigns run-due\n"
    "\n"
    "Fires every campaign post that is due now, on every site, and plans\n"
    "rule posts ahead, then exits. A post fires once even when workers do\n"
    "the same at the same time. A post more than SITESMITH_CAMPAIGN_MAX_LATE\n"
    "(default 6h) late is marked missed; a site with too few credits gets\n"
    "the post marked skipped_no_credits. The fired posts' generations run\n"
    "in `sitesmith worker` or `sitesmith serve`. Exits 0 unless the\n"
    "database failed.\n";

static void print_counts(const json_t *counts)
{
    const char *state;
    json_t *count;
    int first = 1;

    printf("  posts:");
    json_object_foreach((json_t *)counts, state, count)
    {
        printf("%s %s %lld", first ? "" : ",", state,
               (long long)json_integer_value(count));
        first = 0;
    }
    printf("\n");
}

static void print_campaign(const json_t *campaign)
{
    const json_t *next = json_object_get(campaign, "next_post");
    const json_t *problem = json_object_get(campaign, "last_problem");

    printf("%s  %s\n", json_string_value(json_object_get(campaign, "id")),
           json_string_value(json_object_get(campaign, "name")));
    printf("  %s, %s, %s\n",
           json_string_value(json_object_get(campaign, "time_zone")),
           json_string_value(json_object_get(campaign, "on_ready")),
           json_is_true(json_object_get(campaign, "paused")) ? "paused"
                                                             : "active");
    if (json_is_object(next))
        printf("  next post: %s (%s)\n",
               json_string_value(json_object_get(next, "local_time")),
               json_string_value(json_object_get(next, "scheduled_at")));
    else
        printf("  next post: none\n");
    print_counts(json_object_get(campaign, "counts"));
    if (json_is_object(problem))
        printf("  last problem: %s %s: %s\n",
               json_string_value(json_object_get(problem, "local_time")),
               json_string_value(json_object_get(problem, "state")),
               json_string_value(json_at(problem, "error.message"))
                   ? json_string_value(json_at(problem, "error.message"))
                   : "");
}

static int run_list(struct cli_context *ctx)
{
    static const char *const known[] = {"--instance-id", "--json!", NULL};
    const char *instance_id;
    struct app *app;
    struct error err;
    json_t *list;
    json_t *campaign;
    size_t index;

    if (cli_check_args("campaigns list", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    instance_id = cli_option(ctx->argc, ctx->argv, "--instance-id");
    if (!instance_id || !*instance_id) {
        fprintf(stderr, "sitesmith campaigns list: --instance-id is missing; "
                        "see sitesmith campaigns list --help\n");
        return CLI_USAGE;
    }
    error_clear(&err);
    app = app_open(ctx->cfg, &err);
    list = app ? campaigns_list(app, instance_id, &err) : NULL;
    app_close(app);
    if (!list) {
        fprintf(stderr, "sitesmith campaigns list: %s\n", err.message);
        return CLI_FAILED;
    }
    if (cli_flag(ctx->argc, ctx->argv, "--json")) {
        json_dumpf(list, stdout, JSON_INDENT(2));
        printf("\n");
    } else if (json_array_size(json_object_get(list, "campaigns")) == 0) {
        printf("no campaigns on site %s\n", instance_id);
    } else {
        json_array_foreach(json_object_get(list, "campaigns"), index, campaign)
            print_campaign(campaign);
    }
    json_decref(list);
    return CLI_OK;
}

static int run_due(struct cli_context *ctx)
{
    static const char *const known[] = {NULL};
    struct campaigns_due_result result;
    struct app *app;
    struct error err;
    int rc;

    if (cli_check_args("campaigns run-due", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    error_clear(&err);
    app = app_open(ctx->cfg, &err);
    rc = app ? campaigns_run_due(app, 1000, &result, &err) : -1;
    app_close(app);
    if (rc != 0) {
        fprintf(stderr, "sitesmith campaigns run-due: %s\n", err.message);
        return CLI_FAILED;
    }
    printf("fired %d, missed %d, skipped_no_credits %d, failed %d, "
           "planned %d\n",
           result.fired, result.missed, result.skipped_no_credits,
           result.failed, result.planned);
    return CLI_OK;
}

const struct cli_command cmd_campaigns_list = {
    .name = "campaigns list",
    .summary = "print a site's blog campaigns and their next posts",
    .usage = list_usage,
    .run = run_list,
};

const struct cli_command cmd_campaigns_run_due = {
    .name = "campaigns run-due",
    .summary = "fire the campaign posts that are due now, then exit",
    .usage = run_due_usage,
    .run = run_due,
};
