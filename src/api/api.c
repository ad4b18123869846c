#include "api/api.h"

#include "auth/instance.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "wix/limiter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Requests per minute per site (SITESMITH_API_RATE_LIMIT); set by
 * api_register() before the server starts, NULL when off. */
static struct wix_limiter *api_limiter;
static int64_t api_rate_limit;

/* A registered /api route: the handler and the app it runs for. */
struct api_route_ctx {
    struct app *app;
    api_handler_fn handler;
    int instance_in_query; /* see api_route_query_instance() */
};

static void set_api_headers(struct http_response *resp)
{
    http_response_header(resp, "Cache-Control", "no-store");
    http_response_header(resp, "X-Content-Type-Options", "nosniff");
}

/*
 * Verifies the caller's instance string and writes the instance id it
 * vouches for. Sends the 401 itself and returns -1 when it doesn't verify.
 */
static int verify_instance(struct api_call *call, int instance_in_query)
{
    const char *header = http_request_header(call->req, "X-Wix-Instance");
    struct auth_instance_options opts = {
        .app_secret = call->app->app_secret,
        .app_id = call->app->app_id,
    };
    struct auth_instance instance;
    struct error err;

    if ((!header || !*header) && instance_in_query)
        header = http_request_query(call->req, "instance");
    if (!header || !*header) {
        http_response_error(call->resp, 401, "unauthorized",
                            "missing X-Wix-Instance header: open this page "
                            "from the app in your Wix dashboard");
        return -1;
    }
    error_clear(&err);
    if (auth_instance_verify(&opts, header, &instance, &err) != 0) {
        /* An expired instance's message already says to reload. */
        const char *hint = strstr(err.message, "reload")
                               ? ""
                               : "; reload the page from your Wix dashboard";

        log_info("api", "instance rejected request=%s reason=\"%s\"",
                 call->req->request_id, err.message);
        http_response_error(call->resp, 401, "unauthorized",
                            "the dashboard's instance was rejected: %s%s",
                            err.message, hint);
        return -1;
    }
    snprintf(call->instance_id, sizeof(call->instance_id), "%s",
             instance.instance_id);
    return 0;
}

/*
 * Records the site in the store if it is new. Wix vouched for it, so a site
 * first on the dashboard is recorded as installed, with no credits: its
 * plan's credits come with the install or billing events.
 */
static int ensure_instance(struct api_call *call, struct error *err)
{
    struct store_instance instance = {0};
    struct store_tx *tx = store_begin_read(call->app->store, err);
    int found;

    if (!tx)
        return -1;
    found = store_instance_get(tx, call->instance_id, &instance, err);
    store_rollback(tx);
    if (found == 1 && strcmp(instance.state, "removed") == 0)
        found = error_set(err, ERR_FORBIDDEN,
                          "the app was removed from this site: install it "
                          "again from the Wix App Market");
    store_instance_clear(&instance);
    if (found != 0)
        return found < 0 ? -1 : 0;

    /* Rare: the first call of a new site takes the write lock once. */
    tx = store_begin(call->app->store, err);
    if (!tx)
        return -1;
    found = store_instance_get(tx, call->instance_id, &instance, err);
    store_instance_clear(&instance);
    if (found == 0)
        found = store_instance_put(tx, call->instance_id, "installed", NULL,
                                   NULL, err);
    if (found < 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}

/* Counts the request against the site's limit; ERR_RATE_LIMITED (429 with
 * Retry-After) once the site has used its share. */
static int check_rate_limit(struct api_call *call, struct error *err)
{
    int64_t wait_ms;

    if (!api_limiter ||
        wix_limiter_acquire(api_limiter, call->instance_id, 0, err) == 0)
        return 0;

    wait_ms = err->retry_after_ms;
    error_set(err, ERR_RATE_LIMITED,
              "too many requests for this site: at most %lld a minute; try "
              "again in %lld s",
              (long long)api_rate_limit, (long long)((wait_ms + 999) / 1000));
    err->retry_after_ms = wait_ms;
    log_info("api", "request rate-limited request=%s instance=%s path=%s",
             call->req->request_id, call->instance_id, call->req->path);
    return -1;
}

static void run_api_route(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    struct api_route_ctx *route = ctx;
    struct api_call call = {.app = route->app, .req = req, .resp = resp};
    struct error err;

    set_api_headers(resp);
    if (verify_instance(&call, route->instance_in_query) != 0)
        return;
    error_clear(&err);
    if (check_rate_limit(&call, &err) != 0 ||
        ensure_instance(&call, &err) != 0) {
        api_fail(&call, &err);
        return;
    }
    route->handler(&call);
}

/* Adds a route whose context the server frees when it stops. */
static int add_route(struct http_server *server, struct app *app,
                     const char *method, const char *pattern,
                     api_handler_fn handler, int instance_in_query)
{
    struct api_route_ctx *route = malloc(sizeof(*route));

    if (!route)
        return -1;
    route->app = app;
    route->handler = handler;
    route->instance_in_query = instance_in_query;
    if (http_server_own(server, route, free) != 0) {
        free(route);
        return -1;
    }
    return http_server_route(server, method, pattern, run_api_route, route);
}

int api_route(struct http_server *server, struct app *app, const char *method,
              const char *pattern, api_handler_fn handler)
{
    return add_route(server, app, method, pattern, handler, 0);
}

int api_route_query_instance(struct http_server *server, struct app *app,
                             const char *pattern, api_handler_fn handler)
{
    return add_route(server, app, "GET", pattern, handler, 1);
}

json_t *api_read_json(struct api_call *call)
{
    const char *type = http_request_header(call->req, "Content-Type");
    struct error err;
    json_t *body;

    if (call->req->body_len == 0)
        return json_object();
    if (!type || strncasecmp(type, "application/json", 16) != 0) {
        http_response_error(call->resp, 415, "unsupported_media_type",
                            "request body must be application/json, not "
                            "\"%.60s\"",
                            type ? type : "(none)");
        return NULL;
    }
    error_clear(&err);
    body = json_parse(call->req->body, call->req->body_len, API_MAX_JSON_DEPTH,
                      &err);
    if (!body) {
        http_response_error(call->resp, 400, "invalid", "%s", err.message);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        http_response_error(call->resp, 400, "invalid",
                            "request body must be a JSON object");
        return NULL;
    }
    return body;
}

static int status_for_error(enum error_kind kind)
{
    switch (kind) {
    case ERR_INVALID:
        return 400;
    case ERR_UNAUTHORIZED:
        return 401;
    case ERR_INSUFFICIENT_CREDITS:
        return 402;
    case ERR_FORBIDDEN:
        return 403;
    case ERR_NOT_FOUND:
        return 404;
    case ERR_CONFLICT:
        return 409;
    case ERR_RATE_LIMITED:
        return 429;
    case ERR_RETRYABLE:
        return 503;
    default:
        return 500;
    }
}

static json_t *error_body(const struct error *err)
{
    json_t *error = json_pack("{s:s, s:s}", "code", error_kind_name(err->kind),
                              "message", err->message);

    if (err->kind == ERR_INVALID && err->code[0])
        json_object_set_new(error, "field", json_string(err->code));
    return json_pack("{s:o}", "error", error);
}

void api_fail(struct api_call *call, const struct error *err)
{
    int status = status_for_error(err->kind);

    if (status >= 500)
        log_error("api",
                  "request failed request=%s instance=%s path=%s "
                  "kind=%s error=\"%s\"",
                  call->req->request_id, call->instance_id, call->req->path,
                  error_kind_name(err->kind), err->message);
    http_response_json(call->resp, status, error_body(err));
    if (status == 429 || status == 503) {
        char seconds[32];
        int64_t wait_ms = err->retry_after_ms > 0 ? err->retry_after_ms : 1000;

        snprintf(seconds, sizeof(seconds), "%lld",
                 (long long)((wait_ms + 999) / 1000));
        http_response_header(call->resp, "Retry-After", seconds);
    }
}

void api_fail_credits(struct api_call *call, const struct error *err,
                      int64_t cost)
{
    struct store_credits credits = {0};
    struct error read_err;
    json_t *body = error_body(err);
    json_t *error = json_object_get(body, "error");
    struct store_tx *tx;

    error_clear(&read_err);
    tx = store_begin_read(call->app->store, &read_err);
    if (tx &&
        store_credits_get(tx, call->instance_id, &credits, &read_err) == 0)
        json_object_set_new(error, "balance", json_integer(credits.available));
    if (tx)
        store_rollback(tx);
    json_object_set_new(error, "cost", json_integer(cost));
    http_response_json(call->resp, 402, body);
}

/* Reads SITESMITH_API_RATE_LIMIT once per process. */
static int read_rate_limit(const struct config *cfg, struct error *err)
{
    if (api_limiter)
        return 0;
    if (config_get_int(cfg, "SITESMITH_API_RATE_LIMIT", API_DEFAULT_RATE_LIMIT,
                       0, 1000000, &api_rate_limit, err) != 0)
        return -1;
    if (api_rate_limit > 0)
        api_limiter = wix_limiter_new(api_rate_limit);
    return 0;
}

int api_register(struct http_server *server, struct app *app, struct error *err)
{
    if (read_rate_limit(app->cfg, err) != 0 ||
        api_lifecycle_routes(server, app, err) != 0)
        return -1;
    if (api_system_routes(server, app, err) != 0 ||
        api_products_routes(server, app, err) != 0 ||
        api_dashboard_routes(server, app, err) != 0 ||
        api_events_routes(server, app, err) != 0 ||
        api_credits_routes(server, app, err) != 0 ||
        api_campaigns_routes(server, app, err) != 0 ||
        api_images_routes(server, app, err) != 0)
        return -1;
    return api_blog_routes(server, app, err);
}
