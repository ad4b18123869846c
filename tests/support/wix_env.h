/*
 * A sandbox with one Wix site, for the tests of the token provider and the
 * Wix clients: starts sitesmith-sandbox (with sandbox_proc_start()), creates
 * a site from the "store" fixture, and builds the configuration that points
 * sitesmith at it. Also moves the sandbox clock and the process's fake clock
 * together, and counts requests in the sandbox's request log.
 */
#ifndef SITESMITH_TEST_WIX_ENV_H
#define SITESMITH_TEST_WIX_ENV_H

#include "sandbox_proc.h"
#include "core/config.h"

#include <jansson.h>
#include <stdint.h>

/* The app id and secret that sitesmith-sandbox accepts by default. */
#define WIX_ENV_APP_ID SANDBOX_PROC_APP_ID
#define WIX_ENV_APP_SECRET SANDBOX_PROC_APP_SECRET

struct wix_env {
    struct sandbox_proc sandbox;
    char base_url[256]; /* http://127.0.0.1:PORT */
    char wix_url[300];  /* base_url + "/wix" */
    struct config *cfg; /* app id, secret, API URL; tests add more */
    char instance_id[128];
    char member_id[128];
    char *instance; /* the site's signed dashboard string */
};

/*
 * Starts the sandbox, switches this process to the fake clock (at the real
 * time, so both clocks agree), and creates one site. Fails the test on any
 * error.
 */
void wix_env_start(struct wix_env *env);

void wix_env_stop(struct wix_env *env);

/* Creates another site; its instance id and first member go into out. */
void wix_env_add_site(struct wix_env *env, char instance_id[128],
                      char member_id[128]);

/*
 * Sends a control or Wix request to the sandbox (path below base_url) and
 * returns the parsed JSON response body (new reference, may be an empty
 * object). Fails the test unless the status is expected_status.
 */
json_t *wix_env_request(struct wix_env *env, const char *method,
                        const char *path, const char *body,
                        long expected_status);

/* Advances the sandbox clock and this process's fake clock by seconds. */
void wix_env_advance(struct wix_env *env, int64_t seconds);

/*
 * Counts requests in the sandbox's log with this method and path (NULL
 * matches any) and, when status is not 0, this status.
 */
int wix_env_count(struct wix_env *env, const char *method, const char *path,
                  long status);

/* Forgets the sandbox's request log. */
void wix_env_clear_log(struct wix_env *env);

/* Adds a fault: {"endpoint": endpoint, "mode": "status", "status": status,
 * "count": count}. */
void wix_env_fault(struct wix_env *env, const char *endpoint, long status,
                   int count);

#endif
