/*
 * sitesmith-sandbox: a local stand-in for the Wix, OpenAI and Replicate
 * APIs on one port. This header is the frame that every emulated service
 * plugs into: shared state, the fake clock, fault injection and the
 * request log.
 *
 * Locking: one mutex (sb->lock) guards all emulated state. Handlers take it
 * with sandbox_lock() for the time they read or change state, and never
 * hold it while sleeping (a "delay" fault or a Prefer: wait). The frame
 * calls each service's reset, save, load and configure functions without
 * holding the lock: they take it themselves.
 */
#ifndef SITESMITH_SANDBOX_H
#define SITESMITH_SANDBOX_H

#include "core/buf.h"
#include "core/error.h"
#include "http/server.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

struct sandbox_wix;       /* wix.c and the files it splits into */
struct sandbox_openai;    /* openai.c */
struct sandbox_replicate; /* replicate.c */

struct sandbox_options {
    const char *listen;       /* "127.0.0.1:0" */
    const char *state_file;   /* --state FILE, or NULL */
    const char *app_id;       /* --app-id */
    const char *app_secret;   /* --app-secret */
    const char *fixtures_dir; /* where the store fixture lives */
    int quiet;
    unsigned threads; /* --threads: HTTP server threads */
};

struct sandbox {
    pthread_mutex_t lock;
    struct sandbox_options opts;
    char base_url[128]; /* "http://127.0.0.1:PORT", no trailing slash */

    /* Sandbox time: real time plus an offset moved by POST /__sandbox/clock.
     * Read it with sandbox_now_ms(), never with the system clock. */
    int64_t clock_offset_ms;

    struct sandbox_wix *wix;
    struct sandbox_openai *openai;
    struct sandbox_replicate *replicate;

    /* Fault rules, the request log and the routes' wrappers: sandbox.c
     * owns them. */
    void *faults;
    json_t *
        requests; /* array of {"method","path","instance_id","status","time"} */
    int64_t request_seq; /* "seq" of the next request log entry */
    void *routes;
};

/*
 * One call to an emulated endpoint. The handler fills resp and, when the
 * request was made for a site, instance_id (so the request log shows it).
 */
struct sandbox_call {
    struct sandbox *sb;
    struct http_request *req;
    struct http_response *resp;
    char instance_id[64];
};

typedef void (*sandbox_handler_fn)(struct sandbox_call *call);

/*
 * Registers an emulated endpoint. method and pattern are as in
 * http_server_route(); pattern is the full path, e.g.
 * "/openai/v1/chat/completions". The frame wraps handler so that every
 * call is logged on arrival and gets its final status when it ends, and
 * matching faults apply (POST /__sandbox/faults names "METHOD /path" as
 * sent, "METHOD pattern", a "METHOD /prefix*" or "*"). A status fault or
 * skip_handler means handler does not run. Returns -1 when the server
 * rejects the route.
 */
int sandbox_route(struct sandbox *sb, struct http_server *server,
                  const char *method, const char *pattern,
                  sandbox_handler_fn handler);

void sandbox_lock(struct sandbox *sb);
void sandbox_unlock(struct sandbox *sb);

/*
 * Sandbox wall time in milliseconds since the epoch (real time + offset).
 * Reads the offset atomically, so it may be called with or without the
 * lock held.
 */
int64_t sandbox_now_ms(struct sandbox *sb);

/*
 * Parses the request body as a JSON object (an empty body counts as {}).
 * Returns a new reference, or NULL with err set (ERR_INVALID) naming what
 * is wrong with the body.
 */
json_t *sandbox_read_json(const struct http_request *req, struct error *err);

/*
 * Frame lifecycle, for main.c. sandbox_init() copies nothing out of opts
 * (its strings must outlive sb). sandbox_control_init() adds the
 * /__sandbox routes; call it before the services' init functions, since
 * routes match in the order they were added. sandbox_state_load() reads
 * opts.state_file when it exists and is a no-op otherwise;
 * sandbox_state_save() writes it atomically (temporary file and rename)
 * and fails with ERR_INVALID when no --state file was given.
 * sandbox_reset() clears every service, the faults, the request log and the
 * clock offset. sandbox_free() frees the services too; call it after the
 * server has stopped.
 */
int sandbox_init(struct sandbox *sb, const struct sandbox_options *opts,
                 struct error *err);
int sandbox_control_init(struct sandbox *sb, struct http_server *server,
                         struct error *err);
int sandbox_state_load(struct sandbox *sb, struct error *err);
int sandbox_state_save(struct sandbox *sb, struct error *err);
void sandbox_reset(struct sandbox *sb);
void sandbox_free(struct sandbox *sb);

/* Each service: routes, state reset, and state save/load for --state. */
int sandbox_wix_init(struct sandbox *sb, struct http_server *server,
                     struct error *err);
void sandbox_wix_reset(struct sandbox *sb);
json_t *sandbox_wix_save(struct sandbox *sb);
int sandbox_wix_load(struct sandbox *sb, const json_t *state,
                     struct error *err);
void sandbox_wix_free(struct sandbox *sb);

int sandbox_openai_init(struct sandbox *sb, struct http_server *server,
                        struct error *err);
void sandbox_openai_reset(struct sandbox *sb);
json_t *sandbox_openai_save(struct sandbox *sb);
int sandbox_openai_load(struct sandbox *sb, const json_t *state,
                        struct error *err);
void sandbox_openai_free(struct sandbox *sb);

int sandbox_replicate_init(struct sandbox *sb, struct http_server *server,
                           struct error *err);
void sandbox_replicate_reset(struct sandbox *sb);
json_t *sandbox_replicate_save(struct sandbox *sb);
int sandbox_replicate_load(struct sandbox *sb, const json_t *state,
                           struct error *err);
void sandbox_replicate_free(struct sandbox *sb);

/* Wix webhooks sent on request (webhooks.c): the /__sandbox/webhooks
 * routes, and a free that waits for delayed deliveries. */
int sandbox_webhooks_init(struct sandbox *sb, struct http_server *server,
                          struct error *err);
void sandbox_webhooks_free(struct sandbox *sb);

/*
 * Settings that tests change through POST /__sandbox/config, e.g.
 * {"openai": {"rpm": 60, "latency_ms": 5000}, "replicate":
 * {"processing_ms": 2000, "output_ttl_s": 3600}, "wix": {"token_ttl_s":
 * 3600, "media_ready_ms": 500}}. Each service applies its own object and
 * ignores the others; unknown keys get a 400 naming the key.
 */
int sandbox_wix_configure(struct sandbox *sb, const json_t *settings,
                          struct error *err);
int sandbox_openai_configure(struct sandbox *sb, const json_t *settings,
                             struct error *err);
int sandbox_replicate_configure(struct sandbox *sb, const json_t *settings,
                                struct error *err);

/*
 * Image bytes made with libvips (images.c): a PNG, WebP or JPEG of the
 * given size whose pixels depend on seed, so the same seed gives the same
 * bytes. Returns 0 and fills out (caller frees with buf_free).
 */
int sandbox_make_image(const char *format, int width, int height,
                       const char *seed, struct buf *out, struct error *err);

#endif
