/*
 * sitesmith-sandbox as a child process of a cmocka test, and small calls
 * to its control API.
 *
 *   struct sandbox_proc sandbox;
 *   sandbox_proc_start(&sandbox, NULL);
 *   json_t *site = sandbox_proc_create_site(&sandbox,
 *       "{\"fixture\": \"store\", \"catalog_version\": 1}");
 *   ... point the code under test at sandbox.wix_url ...
 *   sandbox_proc_add_fault(&sandbox, "{\"endpoint\": \"POST "
 *       "/wix/blog/v3/draft-posts\", \"mode\": \"status\", \"status\": 503}");
 *   sandbox_proc_advance(&sandbox, 4 * 3600);
 *   json_t *log = sandbox_proc_requests(&sandbox);
 *   sandbox_proc_stop(&sandbox);
 *
 * The program comes from $SITESMITH_BUILD_DIR (set by ctest) or PATH. It
 * listens on 127.0.0.1 on a port the system picks, with the default app id
 * and secret below, and dies with the test process.
 *
 * Every function fails the running cmocka test on an error. Functions that
 * return JSON return a new reference. One thread at a time per struct
 * sandbox_proc, except sandbox_proc_send() and sandbox_proc_call(), which
 * any thread may call once the sandbox has started.
 */
#ifndef SITESMITH_TEST_SANDBOX_PROC_H
#define SITESMITH_TEST_SANDBOX_PROC_H

#include "http/client.h"

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* The Wix app id and secret sitesmith-sandbox accepts unless started
 * with other --app-id and --app-secret values. */
#define SANDBOX_PROC_APP_ID "sandbox-app-id"
#define SANDBOX_PROC_APP_SECRET "sandbox-app-secret"

struct sandbox_proc {
    pid_t pid;
    char url[128];           /* http://127.0.0.1:PORT */
    char wix_url[160];       /* url + "/wix": replaces www.wixapis.com */
    char openai_url[160];    /* url + "/openai/v1" */
    char replicate_url[160]; /* url + "/replicate/v1" */
};

/*
 * Starts the sandbox with --listen 127.0.0.1:0 --quiet and the options in
 * extra_args (a NULL-terminated list, or NULL), e.g. {"--state", path,
 * NULL}, and waits up to 10 s for its "listening on" line.
 */
void sandbox_proc_start(struct sandbox_proc *proc,
                        const char *const *extra_args);

/*
 * Stops the sandbox with SIGTERM (so that a --state file is saved) and
 * waits for it. Returns its exit status. Safe to call twice.
 */
int sandbox_proc_stop(struct sandbox_proc *proc);

/*
 * Sends one request to path (below proc->url, e.g. "/wix/oauth2/token")
 * with the NULL-terminated "Name: value" headers (or NULL) and body (or
 * NULL; sent as application/json). Fills resp, which the caller releases
 * with http_client_response_release(), and returns the status. Fails the
 * test when no complete response arrives.
 */
long sandbox_proc_send(struct sandbox_proc *proc, const char *method,
                       const char *path, const char *const *headers,
                       const char *body, struct http_client_response *resp);

/*
 * As sandbox_proc_send() without headers, and returns the body parsed as
 * JSON. Fails the test unless the status is expected_status and the body
 * is JSON (an empty body counts as {}).
 */
json_t *sandbox_proc_call(struct sandbox_proc *proc, const char *method,
                          const char *path, const char *body,
                          long expected_status);

/*
 * Sends a Wix call (path below proc->url, e.g. "/wix/apps/v1/instance")
 * with "Authorization: token" when token is not NULL, and returns the body
 * parsed as JSON ({} when empty). Fails the test unless the status is
 * expected_status and the response carries x-wix-request-id, as every Wix
 * response does.
 */
json_t *sandbox_proc_wix_call(struct sandbox_proc *proc, const char *token,
                              const char *method, const char *path,
                              const char *body, long expected_status);

/*
 * Checks a Wix error body: a "message" string and
 * details.applicationError.code equal to code, or, when code is NULL,
 * details.validationError.fieldViolations naming field.
 */
void sandbox_proc_assert_wix_error(const json_t *body, const char *code,
                                   const char *field);

/*
 * POST /__sandbox/sites with body (e.g. {"fixture": "store"}). Returns the
 * 201 response: instance_id, site_id, instance (the signed dashboard
 * string), auth_code, owner_member_id, members, ...
 */
json_t *sandbox_proc_create_site(struct sandbox_proc *proc, const char *body);

/* GET /__sandbox/sites/{instance_id}: the site's drafts, products, media
 * and members as Wix stores them. */
json_t *sandbox_proc_site(struct sandbox_proc *proc, const char *instance_id);

/* Gets a Wix access token for the site (client credentials) into out. */
void sandbox_proc_wix_token(struct sandbox_proc *proc, const char *instance_id,
                            char *out, size_t size);

/* Moves the sandbox clock forward by seconds (fractions allowed). */
void sandbox_proc_advance(struct sandbox_proc *proc, double seconds);

/* POST /__sandbox/faults with fault (JSON text); returns the rule. */
json_t *sandbox_proc_add_fault(struct sandbox_proc *proc, const char *fault);

/* The request log: the array of {seq, method, path, instance_id, status,
 * time, ...} in arrival order. */
json_t *sandbox_proc_requests(struct sandbox_proc *proc);

/* POST /__sandbox/config with settings (JSON text), e.g.
 * {"wix": {"token_ttl_s": 3600}}. */
void sandbox_proc_configure(struct sandbox_proc *proc, const char *settings);

/* POST /__sandbox/reset: no sites, faults, log or settings remain, and the
 * clock is back to real time. */
void sandbox_proc_reset(struct sandbox_proc *proc);

#endif
