/*
 * A private sitesmith-sandbox for the tests of the OpenAI and Replicate
 * emulations and clients: sandbox_proc with requests that carry any
 * headers and return JSON, and a PNG header reader for output checks.
 *
 * Every function fails the running cmocka test on an error it can't
 * report otherwise. One thread at a time per struct ai_sandbox, except
 * ai_sandbox_send(), which any thread may call.
 */
#ifndef SITESMITH_TEST_AI_SANDBOX_H
#define SITESMITH_TEST_AI_SANDBOX_H

#include "core/config.h"
#include "http/client.h"
#include "sandbox_proc.h"

#include <jansson.h>
#include <stdint.h>

struct ai_sandbox {
    struct sandbox_proc proc;
    char base_url[128]; /* http://127.0.0.1:PORT, the same as proc.url */
};

/* Starts $SITESMITH_BUILD_DIR/sitesmith-sandbox (or the one on PATH). */
void ai_sandbox_start(struct ai_sandbox *sandbox);

/* Stops the process and waits for it. */
void ai_sandbox_stop(struct ai_sandbox *sandbox);

/*
 * Sends method path (below base_url) with the NULL-ended "Name: value"
 * headers and an optional JSON body. Fills resp (release it with
 * http_client_response_release()) and returns its status; fails the test
 * when no response arrives.
 */
long ai_sandbox_send(struct ai_sandbox *sandbox, const char *method,
                     const char *path, const char *const *headers,
                     const char *body, struct http_client_response *resp);

/*
 * As ai_sandbox_send(), and parses the body as JSON (new reference).
 * Fails the test unless the status is expected_status and the body JSON.
 */
json_t *ai_sandbox_json(struct ai_sandbox *sandbox, const char *method,
                        const char *path, const char *const *headers,
                        const char *body, long expected_status);

/* POST /__sandbox/config with settings_json; fails the test unless 200. */
void ai_sandbox_configure(struct ai_sandbox *sandbox,
                          const char *settings_json);

/* Moves the sandbox clock forward by seconds. */
void ai_sandbox_advance(struct ai_sandbox *sandbox, int64_t seconds);

/* POST /__sandbox/reset: clears all state and settings. */
void ai_sandbox_reset(struct ai_sandbox *sandbox);

/*
 * Returns a new configuration (free it with config_free()) for a client of
 * the sandbox: url_name set to base_url + url_path, then the NULL-ended
 * name and value pairs of defaults, then those of settings (may be NULL).
 */
struct config *ai_sandbox_config(struct ai_sandbox *sandbox,
                                 const char *url_name, const char *url_path,
                                 const char *const *defaults,
                                 const char *const *settings);

/*
 * Reads width, height and colour type (2 RGB, 6 RGBA) from a PNG's IHDR
 * chunk. Fails the test when data is not a PNG.
 */
void ai_sandbox_png_info(const char *data, size_t len, int *width, int *height,
                         int *color_type);

#endif
