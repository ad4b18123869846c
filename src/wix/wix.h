/*
 * Wix API clients, built the way the token rules demand.
 *
 * A struct wix contains what lasts for the life of the process: the base
 * URL, the token provider and the per-site rate limiter, but no token.
 * A struct wix_client carries one site's token for one unit of work. It is
 * built from a token that the provider has just handed out and is freed
 * when the unit ends. No module keeps a client, a token or an Authorization
 * header beyond that, because a kept client goes on sending its token after
 * the token expired.
 *
 * wix_run() is the way to use them: it gets a token, builds a client, runs
 * the work, and after a rejected token refreshes once and runs it again.
 *
 * The calls themselves are declared in wix/blog.h, wix/stores.h,
 * wix/media.h and wix/site.h.
 */
#ifndef SITESMITH_WIX_WIX_H
#define SITESMITH_WIX_WIX_H

#include "auth/token.h"
#include "core/config.h"
#include "core/error.h"
#include "http/client.h"

#include <jansson.h>
#include <stdint.h>

#define WIX_DEFAULT_API_URL "https://www.wixapis.com"
/* Wix allows 200 requests a minute per app instance. */
#define WIX_DEFAULT_RATE_LIMIT 200
#define WIX_DEFAULT_MAX_WAIT_MS (60LL * 1000)
#define WIX_DEFAULT_TIMEOUT_MS (60LL * 1000)
/* The wait after a 429 without Retry-After: Wix advises a minute. */
#define WIX_DEFAULT_429_WAIT_MS (60LL * 1000)

struct wix;
struct wix_client;

/*
 * Creates the process's Wix settings, read once from the configuration:
 *   SITESMITH_WIX_API_URL   base URL (default https://www.wixapis.com)
 *   SITESMITH_WIX_RATE_LIMIT requests per minute per site (default 200;
 *                            0 turns the limiter off)
 *   SITESMITH_WIX_MAX_WAIT  longest a call waits for its turn or after a
 *                           429 before failing as rate limited (60s)
 *   SITESMITH_WIX_TIMEOUT   timeout of one request (60s)
 * tokens is borrowed and must outlive the result. Returns NULL with err set
 * on an invalid setting. Free with wix_free() once no thread uses it.
 */
struct wix *wix_new(const struct config *cfg, struct token_provider *tokens,
                    struct error *err);

void wix_free(struct wix *wix);

/* The token provider the struct wix was made with. Borrowed. */
struct token_provider *wix_tokens(const struct wix *wix);

/*
 * Builds a client for one unit of work on instance_id from a token that
 * token_get() returned, copying the token. The client refuses to send a
 * request once the token has expired (ERR_UNAUTHORIZED, by clock_now_ms()).
 * Free it with wix_client_free(), which wipes the token, when the unit
 * ends. Returns NULL with err set when out of memory. One thread at a time
 * may use a client.
 */
struct wix_client *wix_client_new(struct wix *wix, const char *instance_id,
                                  const struct token *token, struct error *err);

void wix_client_free(struct wix_client *client);

/* The site the client works on. Borrowed. */
const char *wix_client_instance_id(const struct wix_client *client);

/*
 * A unit of Wix work. It uses client only until it returns, and returns 0,
 * or -1 with err set, keeping the kind that the failed call set.
 */
typedef int (*wix_work_fn)(struct wix_client *client, void *ctx,
                           struct error *err);

/*
 * Runs fn for instance_id with a fresh client: gets a token, builds a
 * client, runs fn and frees the client. When fn fails as unauthorized, it
 * forces one token refresh, builds a new client and runs fn once more. A
 * second failure as unauthorized, or a token request that Wix rejects,
 * fails with "the app is no longer authorized for site <id>: ..."
 * (ERR_UNAUTHORIZED, which a queue does not retry).
 *
 * fn may therefore run twice: a side effect it made before the rejected
 * call is repeated unless fn looks for it first. Thread-safe.
 */
int wix_run(struct wix *wix, const char *instance_id, wix_work_fn fn, void *ctx,
            struct error *err);

/*
 * Sends one Wix API request and reads its JSON response (for the call
 * modules). path starts with "/" and is appended to the base URL; body may
 * be NULL. permission names the permission the call needs, as Wix's app
 * dashboard shows it, for the message of a 403. On success *out (when out
 * is not NULL) receives the parsed body, which the caller releases with
 * json_decref(). Waits for the site's rate limiter, and waits out a 429
 * up to the maximum wait, then sends the request again.
 */
int wix_call(struct wix_client *client, const char *method, const char *path,
             const json_t *body, const char *permission, json_t **out,
             struct error *err);

/*
 * Maps a Wix response with a status of 300 or more to the product's error
 * kinds and fills err:
 *   401, and a 400 or 403 whose body blames the token (UNAUTHENTICATED,
 *     "expired", invalid_token): ERR_UNAUTHORIZED
 *   other 403: ERR_FORBIDDEN, naming permission
 *   other 400, and 422: ERR_INVALID
 *   404: ERR_NOT_FOUND; 409: ERR_CONFLICT
 *   428 (wrong catalog version, Wix Stores not installed): ERR_PERMANENT
 *   429: ERR_RATE_LIMITED, waiting Retry-After or else default_wait_ms
 *   408 and 5xx: ERR_RETRYABLE
 * err->code receives Wix's error code and err->request_id the
 * x-wix-request-id header. what names the call in the message ("get
 * product p1"). Returns -1.
 */
int wix_error_from_response(const struct http_client_response *resp,
                            const char *instance_id, const char *what,
                            const char *permission, int64_t default_wait_ms,
                            struct error *err);

#endif
