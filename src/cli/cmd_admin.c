/*
 * Operator commands that change a site's record directly in the store:
 * sitesmith instances add, sitesmith credits grant and credits show.
 */
#include "cli/cli.h"
#include "core/crypto.h"
#include "pipelines/app.h"
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opens and migrates the configured store; prints the error on failure. */
static struct store *open_store(const char *command, struct cli_context *ctx)
{
    struct error err;
    struct store *st;

    error_clear(&err);
    st = store_open_config(ctx->cfg, &err);
    if (st && store_migrate(st, app_schemas(), NULL, &err) != 0) {
        store_close(st);
        st = NULL;
    }
    if (!st)
        fprintf(stderr, "sitesmith %s: %s\n", command, err.message);
    return st;
}

/* Runs fn in one write transaction and prints any error. */
static int in_transaction(const char *command, struct store *st,
                          int (*fn)(struct store_tx *tx, void *arg,
                                    struct error *err),
                          void *arg)
{
    struct error err;
    struct store_tx *tx;

    error_clear(&err);
    tx = store_begin(st, &err);
    if (!tx || fn(tx, arg, &err) != 0) {
        store_rollback(tx);
        fprintf(stderr, "sitesmith %s: %s\n", command, err.message);
        return CLI_FAILED;
    }
    if (store_commit(tx, &err) != 0) {
        fprintf(stderr, "sitesmith %s: %s\n", command, err.message);
        return CLI_FAILED;
    }
    return CLI_OK;
}

static const char instances_add_usage[] =
    "usage: sitesmith instances add --instance-id ID [--plan PLAN]\n"
    "                               [--site-name NAME] [--writer-member-id "
    "ID]\n"
    "\n"
    "Records a site that installed the app (or updates one), in the\n"
    "database named by SITESMITH_DATABASE_URL. Sites normally arrive with\n"
    "the app-installed webhook; this is for operators and the demo.\n"
    "\n"
    "  --instance-id ID       the Wix app instance id of the site\n"
    "  --plan PLAN            the site's plan id (default: free)\n"
    "  --site-name NAME       the site's name, for prompts\n"
    "  --writer-member-id ID  the site member who writes the blog posts\n"
    "                         (default: the site's first admin member)\n";

struct instance_args {
    const char *instance_id;
    const char *plan;
    json_t *settings;
};

static int add_instance(struct store_tx *tx, void *arg, struct error *err)
{
    struct instance_args *args = arg;
    struct store_instance existing = {0};
    json_t *settings = NULL;
    char *text;
    int found;
    int rc;

    found = store_instance_get(tx, args->instance_id, &existing, err);
    if (found < 0)
        return -1;
    settings = found ? json_loads(existing.settings, 0, NULL) : NULL;
    if (!settings)
        settings = json_object();
    json_object_update(settings, args->settings);
    text = json_dumps(settings, JSON_COMPACT);
    rc = store_instance_put(
        tx, args->instance_id, "installed",
        args->plan ? args->plan : (found ? existing.plan : ""), text, err);
    free(text);
    json_decref(settings);
    store_instance_clear(&existing);
    return rc;
}

static int run_instances_add(struct cli_context *ctx)
{
    static const char *const known[] = {
        "--instance-id", "--plan", "--site-name", "--writer-member-id", NULL};
    struct instance_args args = {0};
    const char *name;
    const char *writer;
    struct store *st;
    int rc;

    if (cli_check_args("instances add", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    args.instance_id = cli_option(ctx->argc, ctx->argv, "--instance-id");
    if (!args.instance_id || !*args.instance_id ||
        strlen(args.instance_id) >= STORE_ID_MAX) {
        fprintf(stderr, "sitesmith instances add: --instance-id is missing "
                        "or longer than 127 characters\n");
        return CLI_USAGE;
    }
    args.plan = cli_option(ctx->argc, ctx->argv, "--plan");
    args.settings = json_object();
    name = cli_option(ctx->argc, ctx->argv, "--site-name");
    writer = cli_option(ctx->argc, ctx->argv, "--writer-member-id");
    if (name)
        json_object_set_new(args.settings, "site_name", json_string(name));
    if (writer)
        json_object_set_new(args.settings, "writer_member_id",
                            json_string(writer));
    st = open_store("instances add", ctx);
    if (!st) {
        json_decref(args.settings);
        return CLI_FAILED;
    }
    rc = in_transaction("instances add", st, add_instance, &args);
    if (rc == CLI_OK)
        printf("instance %s recorded\n", args.instance_id);
    json_decref(args.settings);
    store_close(st);
    return rc;
}

static const char credits_grant_usage[] =
    "usage: sitesmith credits grant --instance-id ID --amount N\n"
    "                               [--reference REF] [--note TEXT]\n"
    "\n"
    "Adds N credits to a site's balance. A grant with the same reference\n"
    "is made once: repeating the command changes nothing.\n"
    "\n"
    "  --instance-id ID  the site\n"
    "  --amount N        credits to add, 1 to 1000000000\n"
    "  --reference REF   what the grant is for, unique per site (default:\n"
    "                    a new random reference, so each run grants)\n"
    "  --note TEXT       free text kept in the ledger\n";

struct grant_args {
    const char *instance_id;
    int64_t amount;
    const char *reference;
    const char *note;
    struct store_credits after;
    int granted;
};

static int grant_credits(struct store_tx *tx, void *arg, struct error *err)
{
    struct grant_args *args = arg;
    struct store_instance instance = {0};
    int found = store_instance_get(tx, args->instance_id, &instance, err);

    store_instance_clear(&instance);
    if (found < 0)
        return -1;
    if (found == 0)
        return error_set(err, ERR_NOT_FOUND,
                         "instance %s not found: add it first with "
                         "`sitesmith instances add --instance-id %s`",
                         args->instance_id, args->instance_id);
    args->granted = store_credits_grant(tx, args->instance_id, args->amount,
                                        args->reference, args->note, err);
    if (args->granted < 0)
        return -1;
    return store_credits_get(tx, args->instance_id, &args->after, err);
}

static int run_credits_grant(struct cli_context *ctx)
{
    static const char *const known[] = {"--instance-id", "--amount",
                                        "--reference", "--note", NULL};
    struct grant_args args = {0};
    const char *amount = cli_option(ctx->argc, ctx->argv, "--amount");
    char reference[64];
    struct store *st;
    char *end = NULL;
    int rc;

    if (cli_check_args("credits grant", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    args.instance_id = cli_option(ctx->argc, ctx->argv, "--instance-id");
    if (!args.instance_id || !*args.instance_id) {
        fprintf(stderr, "sitesmith credits grant: --instance-id is missing\n");
        return CLI_USAGE;
    }
    errno = 0;
    args.amount = amount ? strtoll(amount, &end, 10) : 0;
    if (!amount || errno || *end || args.amount < 1 ||
        args.amount > 1000000000) {
        fprintf(stderr,
                "sitesmith credits grant: --amount: invalid value \"%s\": "
                "expected an integer from 1 to 1000000000\n",
                amount ? amount : "");
        return CLI_USAGE;
    }
    args.reference = cli_option(ctx->argc, ctx->argv, "--reference");
    if (!args.reference) {
        memcpy(reference, "operator-", 9);
        crypto_random_hex(reference + 9, 8);
        args.reference = reference;
    }
    args.note = cli_option(ctx->argc, ctx->argv, "--note");
    st = open_store("credits grant", ctx);
    if (!st)
        return CLI_FAILED;
    rc = in_transaction("credits grant", st, grant_credits, &args);
    if (rc == CLI_OK)
        printf("%s: balance %lld (reserved %lld)\n",
               args.granted ? "granted" : "already granted with this reference",
               (long long)args.after.available, (long long)args.after.reserved);
    store_close(st);
    return rc;
}

static const char credits_show_usage[] =
    "usage: sitesmith credits show --instance-id ID\n"
    "\n"
    "Prints a site's credit balance and the credits held by running\n"
    "generations.\n";

static int read_credits(struct store_tx *tx, void *arg, struct error *err)
{
    struct grant_args *args = arg;

    return store_credits_get(tx, args->instance_id, &args->after, err);
}

static int run_credits_show(struct cli_context *ctx)
{
    static const char *const known[] = {"--instance-id", NULL};
    struct grant_args args = {0};
    struct store *st;
    int rc;

    if (cli_check_args("credits show", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    args.instance_id = cli_option(ctx->argc, ctx->argv, "--instance-id");
    if (!args.instance_id) {
        fprintf(stderr, "sitesmith credits show: --instance-id is missing\n");
        return CLI_USAGE;
    }
    st = open_store("credits show", ctx);
    if (!st)
        return CLI_FAILED;
    rc = in_transaction("credits show", st, read_credits, &args);
    if (rc == CLI_OK)
        printf("balance %lld (reserved %lld)\n",
               (long long)args.after.available, (long long)args.after.reserved);
    store_close(st);
    return rc;
}

const struct cli_command cmd_instances_add = {
    .name = "instances add",
    .summary = "record a site that installed the app",
    .usage = instances_add_usage,
    .run = run_instances_add,
};

const struct cli_command cmd_credits_grant = {
    .name = "credits grant",
    .summary = "add credits to a site's balance",
    .usage = credits_grant_usage,
    .run = run_credits_grant,
};

const struct cli_command cmd_credits_show = {
    .name = "credits show",
    .summary = "print a site's credit balance",
    .usage = credits_show_usage,
    .run = run_credits_show,
};
