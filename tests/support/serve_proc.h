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

#endif
