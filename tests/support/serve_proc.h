/*
 * `sitesmith serve` as a child process of a cmocka test, configured by the
 * test's environment, and HTTP calls to it as the dashboard and Wix make
 * them.
 *
 *   setenv("SITESMITH_DATABASE_URL", ..., 1); ...
 *   struct serve_proc serve;
 *   serve_proc_start(&serve, "/tmp/dir/serve.log", 2);
 *   json_t *me = serve_proc_api(&serve, "GET", "/api/me", instance, NULL,
 *                               &status);
 *   serve_proc_stop(&serve);
 *
 * The program comes from $SITESMITH_BUILD_DIR (set by ctest) or the
 * current folder. Every function fails the running test on an error.
 */
#ifndef SITESMITH_TEST_SERVE_PROC_H
#define SITESMITH_TEST_SERVE_PROC_H

#include "core/child.h"
#include "http/client.h"
#include "sandbox_proc.h"

#include <stddef.h>

#include <jansson.h>

struct serve_proc {
    struct child child;
    char url[128]; /* http://127.0.0.1:PORT */
};

/*
 * Starts serve on 127.0.0.1:0 with workers worker threads and waits up to
 * 30 s for its address. With log_path set, its stderr (every log line)
 * goes to that file, which is created or truncated; else it is inherited.
 */
void serve_proc_start(struct serve_proc *proc, const char *log_path,
                      int workers);

/* Stops serve with SIGTERM and returns its exit status (0 expected). */
int serve_proc_stop(struct serve_proc *proc);

/*
 * Sends one request to path (below proc->url) with the NULL-terminated
 * "Name: value" headers (or NULL), and body with content_type (both may
 * be NULL). Fills resp, which the caller releases, and returns the
 * status.
 */
long serve_proc_send(struct serve_proc *proc, const char *method,
                     const char *path, const char *const *headers,
                     const char *content_type, const char *body,
                     struct http_client_response *resp);

/*
 * An /api call as the dashboard makes it: X-Wix-Instance: instance (when
 * not NULL) and a JSON body (when not NULL). *status receives the status;
 * returns the body parsed as JSON, or NULL when it is not JSON.
 */
json_t *serve_proc_api(struct serve_proc *proc, const char *method,
                       const char *path, const char *instance, const char *body,
                       long *status);

/*
 * What a test hands serve_proc_export: the environment `sitesmith serve`
 * (and the sitesmith commands) read.
 */
struct serve_env {
    const char *dir;      /* the test's temporary folder */
    const char *database; /* SQLite file name inside dir */
    int postgres;         /* use SITESMITH_TEST_POSTGRES_URL instead when set */
    const struct sandbox_proc *sandbox; /* NULL: Wix and AI on a closed port */
    const char *openai_key;
    const char *replicate_token;
};

/*
 * Initialises crypto and creates /tmp/sitesmith-NAME-XXXXXX into dir
 * (size bytes). Fails the running test on an error.
 */
void serve_proc_make_dir(char *dir, size_t size, const char *name);

/* Deletes dir and everything in it; returns 0 or -1 (for a teardown). */
int serve_proc_remove_dir(const char *dir);

/*
 * Sets the database URL, data folder, service URLs (the sandbox's), API
 * keys, app id and secret, a random secret key and log level "warn".
 */
void serve_proc_export(const struct serve_env *env);

/*
 * Records a site with the store fixture (catalog version 1) in sandbox,
 * copies its instance id into id (size bytes) and returns its signed
 * dashboard instance, which the caller frees.
 */
char *serve_proc_create_site(struct sandbox_proc *sandbox, char *id,
                             size_t size);

/*
 * serve_proc_api that fails the test unless the status is expected, and
 * reads an empty body as {}. The caller releases the result.
 */
json_t *serve_proc_call(struct serve_proc *proc, const char *method,
                        const char *path, const char *instance,
                        const char *body, long expected);

/*
 * Runs `sitesmith ARGS` (from $SITESMITH_BUILD_DIR) through the shell and
 * reads its output, stdout and stderr, into out (size bytes, cut short
 * and NUL-terminated). Returns its exit status, or -1 when it did not
 * exit.
 */
int serve_proc_run(const char *args, char *out, size_t size);

#endif
