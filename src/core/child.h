/*
 * Child processes for commands that start other programs (the demo starts
 * sitesmith-sandbox and sitesmith serve): start with a piped stdout, read
 * the "listening on URL" line, stop with SIGTERM.
 */
#ifndef SITESMITH_CORE_CHILD_H
#define SITESMITH_CORE_CHILD_H

#include "core/error.h"

#include <stdint.h>
#include <sys/types.h>

struct child {
    pid_t pid;     /* 0 when not running */
    int stdout_fd; /* read end of the child's stdout, -1 when closed */
    char name[64]; /* for messages */
};

/*
 * Starts argv[0] (a path) with argv, its stdout piped to the parent and
 * its stderr inherited. Returns -1 with err set when it can't be started.
 */
int child_start(struct child *child, const char *name, char *const argv[],
                struct error *err);

/*
 * Reads the child's first line, which must be "listening on URL", within
 * timeout_ms, and copies URL into url. Fails when the child exits or
 * prints something else first.
 */
int child_read_url(struct child *child, int64_t timeout_ms, char *url,
                   size_t size, struct error *err);

/*
 * Sends SIGTERM, waits up to timeout_ms, then SIGKILL. Returns the exit
 * status (or 128 + signal). Accepts a child that is not running.
 */
int child_stop(struct child *child, int64_t timeout_ms);

/* The full path of a program installed beside the running executable. */
int child_sibling_path(const char *program, char *out, size_t size);

#endif
