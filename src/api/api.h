/*
 * The HTTP API that the dashboard page calls, plus the probes:
 * /healthz, /readyz and /metrics. docs/openapi.yaml documents it.
 *
 * Every /api route is authorized by the X-Wix-Instance header, the signed
 * `instance` string of the dashboard page. The instance id it vouches for
 * scopes every query, so another site's resource is always 404.
 */
#ifndef SITESMITH_API_API_H
#define SITESMITH_API_API_H

#include "core/error.h"
#include "http/server.h"
#include "pipelines/app.h"

#include <jansson.h>

/* Largest request body the API accepts, and its JSON nesting limit. */
#define API_MAX_BODY_BYTES (256 * 1024)
#define API_MAX_JSON_DEPTH 16

/* Default of SITESMITH_API_RATE_LIMIT: /api requests per minute per site,
 * 0 for no limit. A site may send a twentieth of it at once, and after
 * that requests are admitted at an even pace that keeps every minute under
 * the limit. Each serve process counts on its own. */
#define API_DEFAULT_RATE_LIMIT 1200

/*
 * Adds every route to server. app is borrowed and must outlive the
 * server. Call before http_server_start().
 */
int api_register(struct http_server *server, struct app *app,
                 struct error *err);

/* The context of an /api handler once the caller is verified. */
struct api_call {
    struct app *app;
    struct http_request *req;
    struct http_response *resp;
    char instance_id[STORE_ID_MAX];
};

typedef void (*api_handler_fn)(struct api_call *call);

/*
 * Adds an /api route whose handler runs only for a verified instance: the
 * wrapper checks X-Wix-Instance (401 with a message when it is missing or
 * invalid), limits each site to SITESMITH_API_RATE_LIMIT requests a
 * minute (429 with Retry-After), makes sure the site is known to the store
 * (403 once the app was removed from it), and sets the response headers
 * every API answer carries (no caching, nosniff).
 */
int api_route(struct http_server *server, struct app *app, const char *method,
              const char *pattern, api_handler_fn handler);

/*
 * Like api_route() for a GET, but when the X-Wix-Instance header is
 * missing the instance string may come in the `instance` query parameter,
 * verified the same way. Only for GET /api/events, because the browser's
 * EventSource can't send headers.
 */
int api_route_query_instance(struct http_server *server, struct app *app,
                             const char *pattern, api_handler_fn handler);

/*
 * Parses the request body as a JSON object. An empty body is {}.
 * Sends 415 for a body that is not application/json and 400 for
 * invalid JSON or nesting past API_MAX_JSON_DEPTH, and returns NULL; the
 * handler then just returns.
 */
json_t *api_read_json(struct api_call *call);

/*
 * Sends the error: invalid 400 (with "field" when err->code names
 * one), unauthorized 401, insufficient credits 402 (with "balance" and
 * "cost" when given), forbidden 403, not found 404, conflict 409, rate
 * limited 429 (Retry-After), retryable 503, anything else 500. Logs
 * errors of the server's side (5xx) with the instance and request ids.
 */
void api_fail(struct api_call *call, const struct error *err);

/* Answers 402 with the balance and the cost of what was asked for. */
void api_fail_credits(struct api_call *call, const struct error *err,
                      int64_t cost);

/* Routes of each area, called by api_register. */
int api_blog_routes(struct http_server *server, struct app *app,
                    struct error *err);
int api_system_routes(struct http_server *server, struct app *app,
                      struct error *err);
int api_products_routes(struct http_server *server, struct app *app,
                        struct error *err);
int api_dashboard_routes(struct http_server *server, struct app *app,
                         struct error *err);
int api_events_routes(struct http_server *server, struct app *app,
                      struct error *err);
int api_credits_routes(struct http_server *server, struct app *app,
                       struct error *err);
int api_images_routes(struct http_server *server, struct app *app,
                      struct error *err);
int api_campaigns_routes(struct http_server *server, struct app *app,
                         struct error *err);
/* POST /webhooks/wix, /oauth/install, /oauth/callback and /api/billing. */
int api_lifecycle_routes(struct http_server *server, struct app *app,
                         struct error *err);

#endif
