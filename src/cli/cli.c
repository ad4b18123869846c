#include "cli/cli.h"

#include "core/crypto.h"
#include "core/log.h"
#include "http/client.h"

#include <stdlib.h>
#include <string.h>

extern const struct cli_command cmd_bench_queue;
extern const struct cli_command cmd_blog_generate;
extern const struct cli_command cmd_campaigns_list;
extern const struct cli_command cmd_campaigns_run_due;
extern const struct cli_command cmd_credits_grant;
extern const struct cli_command cmd_credits_show;
extern const struct cli_command cmd_demo;
extern const struct cli_command cmd_images_optimize;
extern const struct cli_command cmd_instances_add;
extern const struct cli_command cmd_migrate;
extern const struct cli_command cmd_products_optimize;
extern const struct cli_command cmd_serve;
extern const struct cli_command cmd_worker;

/* One line per command; keep the list sorted by name. */
static const struct cli_command *const commands[] = {
    &cmd_bench_queue,
    &cmd_blog_generate,
    &cmd_campaigns_list,
    &cmd_campaigns_run_due,
    &cmd_credits_grant,
    &cmd_credits_show,
    &cmd_demo,
    &cmd_images_optimize,
    &cmd_instances_add,
    &cmd_migrate,
    &cmd_products_optimize,
    &cmd_serve,
    &cmd_worker,
    NULL,
};

static void print_help(FILE *out)
{
    fprintf(out,
            "sitesmith %s: the backend, worker and dashboard of a Wix app "
            "for AI content\n\n"
            "usage: sitesmith [--config FILE] COMMAND [options]\n"
            "       sitesmith --version\n"
            "       sitesmith COMMAND --help\n\n"
            "commands:\n",
            SITESMITH_VERSION);
    for (size_t i = 0; commands[i]; i++)
        fprintf(out, "  %-22s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out,
            "\nConfiguration comes from SITESMITH_* environment variables "
            "(and OPENAI_API_KEY,\nOPENAI_BASE_URL, REPLICATE_API_TOKEN), "
            "optionally overlaid on a KEY=VALUE file\ngiven with --config; "
            "see docs/configuration.md.\n");
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

const char *cli_option(int argc, char **argv, const char *name)
{
    size_t length = strlen(name);

    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], name, length) != 0)
            continue;
        if (argv[i][length] == '=')
            return argv[i] + length + 1;
        if (argv[i][length] == '\0' && i + 1 < argc)
            return argv[i + 1];
    }
    return NULL;
}

int cli_flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], name) == 0)
            return 1;
    }
    return 0;
}

int cli_check_args(const char *command, int argc, char **argv,
                   const char *const *known)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        size_t name_length = strcspn(arg, "=");
        int matched = 0;

        for (size_t k = 0; known[k] && !matched; k++) {
            size_t length = strlen(known[k]);
            int bare = known[k][length - 1] == '!';

            if (bare)
                length--;
            if (name_length != length || strncmp(arg, known[k], length) != 0)
                continue;
            matched = 1;
            if (!bare && arg[name_length] != '=') {
                if (i + 1 >= argc) {
                    fprintf(stderr,
                            "sitesmith %s: option %s needs a value; see "
                            "sitesmith %s --help\n",
                            command, arg, command);
                    return -1;
                }
                i++;
            }
        }
        if (!matched) {
            fprintf(stderr,
                    "sitesmith %s: unknown option or argument \"%s\"; see "
                    "sitesmith %s --help\n",
                    command, arg, command);
            return -1;
        }
    }
    return 0;
}

/* Finds the command named by argv, which may take one or two words. */
static const struct cli_command *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; commands[i]; i++) {
        const char *name = commands[i]->name;
        const char *space = strchr(name, ' ');

        if (!space && strcmp(argv[0], name) == 0) {
            *words = 1;
            return commands[i];
        }
        if (space && argc >= 2 &&
            strncmp(argv[0], name, (size_t)(space - name)) == 0 &&
            argv[0][space - name] == '\0' && strcmp(argv[1], space + 1) == 0) {
            *words = 2;
            return commands[i];
        }
    }
    return NULL;
}

static int print_group_help(const char *group)
{
    int found = 0;

    for (size_t i = 0; commands[i]; i++) {
        const char *name = commands[i]->name;
        size_t length = strlen(group);

        if (strncmp(name, group, length) == 0 && name[length] == ' ') {
            if (!found)
                fprintf(stderr, "sitesmith %s: choose one of:\n", group);
            fprintf(stderr, "  sitesmith %-20s %s\n", name,
                    commands[i]->summary);
            found = 1;
        }
    }
    return found;
}

int cli_main(int argc, char **argv)
{
    const char *config_file = NULL;
    const struct cli_command *command;
    struct cli_context ctx;
    struct error err;
    int words = 0;
    int first = 1;
    int rc;

    while (first < argc && strncmp(argv[first], "--config", 8) == 0) {
        if (argv[first][8] == '=') {
            config_file = argv[first] + 9;
            first++;
        } else if (argv[first][8] == '\0' && first + 1 < argc) {
            config_file = argv[first + 1];
            first += 2;
        } else {
            break;
        }
    }
    if (first >= argc) {
        print_help(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[first], "--version") == 0 ||
        strcmp(argv[first], "version") == 0) {
        printf("sitesmith %s\n", SITESMITH_VERSION);
        return CLI_OK;
    }
    if (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0 ||
        strcmp(argv[first], "help") == 0) {
        print_help(stdout);
        return CLI_OK;
    }
    command = find_command(argc - first, argv + first, &words);
    if (!command) {
        if (print_group_help(argv[first]))
            return CLI_USAGE;
        fprintf(stderr,
                "sitesmith: unknown command \"%s\"; run sitesmith --help for "
                "the list\n",
                argv[first]);
        return CLI_USAGE;
    }
    ctx.argc = argc - first - words;
    ctx.argv = argv + first + words;
    if (cli_wants_help(ctx.argc, ctx.argv)) {
        printf("%s", command->usage);
        return CLI_OK;
    }

    if (crypto_init() != 0 || http_client_global_init() != 0) {
        fprintf(stderr, "sitesmith: failed to initialise libsodium or "
                        "libcurl\n");
        return CLI_FAILED;
    }
    if (log_init_from_env() != 0) {
        fprintf(stderr,
                "sitesmith: SITESMITH_LOG_LEVEL: invalid value \"%s\": "
                "expected debug, info, warn, error or off\n",
                getenv("SITESMITH_LOG_LEVEL"));
        return CLI_USAGE;
    }
    error_clear(&err);
    ctx.cfg = config_load(config_file, &err);
    if (!ctx.cfg) {
        fprintf(stderr, "sitesmith: %s\n", err.message);
        return CLI_USAGE;
    }
    rc = command->run(&ctx);
    config_free(ctx.cfg);
    http_client_global_cleanup();
    return rc;
}
