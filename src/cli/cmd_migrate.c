/* sitesmith migrate: applies the pending database migrations. */
#include "cli/cli.h"
#include "pipelines/app.h"
#include "store/store.h"

#include <stdio.h>

static const char usage[] =
    "usage: sitesmith migrate [--status]\n"
    "\n"
    "Applies every pending migration of every schema to the database named\n"
    "by SITESMITH_DATABASE_URL (default sqlite:sitesmith.db), in one\n"
    "transaction. `serve` and `worker` do the same at start-up. Refuses to\n"
    "touch a database whose schema is newer than this sitesmith.\n"
    "\n"
    "  --status  print the applied version of each schema and change "
    "nothing\n";

static int print_status(struct store *st, struct error *err)
{
    const struct store_schema *const *schemas = app_schemas();
    int version;

    if (store_schema_version(st, "store", &version, err) != 0)
        return -1;
    printf("store: version %d of %d\n", version, store_latest_version());
    for (size_t i = 0; schemas && schemas[i]; i++) {
        if (store_schema_version(st, schemas[i]->component, &version, err) != 0)
            return -1;
        printf("%s: version %d of %zu\n", schemas[i]->component, version,
               schemas[i]->count);
    }
    return 0;
}

static int run_migrate(struct cli_context *ctx)
{
    static const char *const known[] = {"--status!", NULL};
    struct store *st;
    struct error err;
    int applied = 0;
    int rc;

    if (cli_check_args("migrate", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    error_clear(&err);
    st = store_open_config(ctx->cfg, &err);
    if (!st) {
        fprintf(stderr, "sitesmith migrate: %s\n", err.message);
        return CLI_FAILED;
    }
    if (cli_flag(ctx->argc, ctx->argv, "--status"))
        rc = print_status(st, &err);
    else
        rc = store_migrate(st, app_schemas(), &applied, &err);
    if (rc == 0 && !cli_flag(ctx->argc, ctx->argv, "--status"))
        printf("applied %d migration%s to %s\n", applied,
               applied == 1 ? "" : "s", store_url_for_log(st));
    if (rc != 0)
        fprintf(stderr, "sitesmith migrate: %s\n", err.message);
    store_close(st);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}

const struct cli_command cmd_migrate = {
    .name = "migrate",
    .summary = "apply pending database migrations",
    .usage = usage,
    .run = run_migrate,
};
