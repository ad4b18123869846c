/*
 * The command line: "sitesmith COMMAND [options]". Each command lives in
 * its own file (cmd_*.c) and is listed once in the table in cli.c.
 */
#ifndef SITESMITH_CLI_CLI_H
#define SITESMITH_CLI_CLI_H

#include "core/config.h"

#include <stdio.h>

/* What a command gets: its arguments after the command name, and the
 * loaded configuration (environment plus --config FILE). */
struct cli_context {
    int argc;
    char **argv;
    struct config *cfg;
};

struct cli_command {
    const char *name;    /* "blog generate" for a two-word command */
    const char *summary; /* one line for "sitesmith --help" */
    const char *usage;   /* full help text printed by --help */
    int (*run)(struct cli_context *ctx);
};

/* Exit codes: 0 success, 1 failure of the work, 2 bad usage. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

int cli_main(int argc, char **argv);

/* True when argv holds -h or --help; commands print their usage then. */
int cli_wants_help(int argc, char **argv);

/*
 * Reads "--name VALUE" or "--name=VALUE" from argv. Returns the value or
 * NULL; a flag present without a value is reported as a usage error by
 * cli_check_args().
 */
const char *cli_option(int argc, char **argv, const char *name);

/* True when the bare flag "--name" is present. */
int cli_flag(int argc, char **argv, const char *name);

/*
 * Checks that every argument is one of the known options (a NULL-ended
 * list of "--name" for options with a value, "--name!" for bare flags).
 * Prints "sitesmith CMD: unknown option --x; see sitesmith CMD --help" and
 * returns -1 otherwise.
 */
int cli_check_args(const char *command, int argc, char **argv,
                   const char *const *known);

#endif
