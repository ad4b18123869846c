/*
 * POST /webhooks/wix: Wix's webhooks. The body is verified, recorded and
 * queued, and the answer goes out before the event is applied, because
 * Wix expects a 200 within 1250 ms and retries otherwise.
 */
#include "api/api.h"
#include "api/api_lifecycle.h"

#include "auth/webhook.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "pipelines/lifecycle.h"

#include <stdio.h>
#include <string.h>

/* What the route needs for the life of the process. */
struct webhook_route {
    struct app *app;
    struct auth_webhook_key *key; /* NULL when no key is configured */
    struct auth_webhook_options options;
};

/* One server per process: the route's settings live as long as it. */
static struct webhook_route route;

static void count_webhook(const char *outcome)
{
    char labels[64];

    snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcome);
    metrics_count("sitesmith_webhooks_total", labels, 1);
}

static void reject(struct http_request *req, struct http_response *resp,
                   const struct error *err)
{
    int status = err->kind == ERR_INVALID ? 400 : 401;

    log_warn("webhooks", "webhook rejected request=%s status=%d reason=\"%s\"",
             req->request_id, status, err->message);
    count_webhook("rejected");
    http_response_error(resp, status,
                        status == 400 ? "invalid" : "unauthorized", "%s",
                        err->message);
}

static void handle_webhook(struct http_request *req, struct http_response *resp,
                           void *ctx)
{
    struct webhook_route *wr = ctx;
    struct auth_webhook event;
    struct error err;
    int64_t started = clock_monotonic_ms();
    const char *outcome;
    int fresh = 0;

    http_response_header(resp, "Cache-Control", "no-store");
    http_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (!wr->key) {
        log_error("webhooks",
                  "webhook refused request=%s reason=\"no "
                  "SITESMITH_WIX_PUBLIC_KEY is set\"",
                  req->request_id);
        http_response_error(resp, 503, "unavailable",
                            "webhooks are not configured on this server");
        return;
    }
    error_clear(&err);
    if (auth_webhook_verify(wr->key, &wr->options, req->body, req->body_len,
                            &event, &err) != 0) {
        auth_webhook_clear(&event);
        reject(req, resp, &err);
        return;
    }
    if (lifecycle_record_webhook(wr->app, &event, &fresh, &err) != 0) {
        log_error("webhooks",
                  "webhook not recorded request=%s instance=%s type=%s "
                  "error=\"%s\"",
                  req->request_id, event.instance_id, event.event_type,
                  err.message);
        auth_webhook_clear(&event);
        http_response_error(resp, 503, "unavailable",
                            "the event could not be recorded; send it again");
        return;
    }

    outcome = !event.instance_id[0] ? "ignored"
              : fresh               ? "received"
                                    : "duplicate";
    log_info("webhooks",
             "webhook %s request=%s instance=%s type=%s event=%s "
             "elapsed_ms=%lld",
             outcome, req->request_id, event.instance_id, event.event_type,
             event.event_key, (long long)(clock_monotonic_ms() - started));
    count_webhook(outcome);
    http_response_json(resp, 200,
                       json_pack("{s:s, s:b}", "event", event.event_key,
                                 "duplicate",
                                 strcmp(outcome, "duplicate") == 0));
    auth_webhook_clear(&event);
}

static int api_webhooks_routes(struct http_server *server, struct app *app,
                               struct error *err)
{
    const char *key = config_get(app->cfg, "SITESMITH_WIX_PUBLIC_KEY");
    int ignore_expiration = 0;

    route.app = app;
    if (config_get_bool(app->cfg, "SITESMITH_WEBHOOK_IGNORE_EXPIRATION", 0,
                        &ignore_expiration, err) != 0)
        return -1;
    route.options = (struct auth_webhook_options){
        .app_id = app->app_id,
        .ignore_expiration = ignore_expiration,
    };
    if (key && !route.key) {
        route.key = auth_webhook_key_load(key, err);
        if (!route.key) {
            error_prefix(err, "SITESMITH_WIX_PUBLIC_KEY");
            return -1;
        }
    }
    if (!key)
        log_warn("webhooks", "SITESMITH_WIX_PUBLIC_KEY is not set: "
                             "POST /webhooks/wix answers 503");
    if (http_server_route(server, "POST", "/webhooks/wix", handle_webhook,
                          &route) != 0)
        return error_set(err, ERR_PERMANENT,
                         "failed to add the route POST /webhooks/wix");
    return 0;
}

int api_lifecycle_routes(struct http_server *server, struct app *app,
                         struct error *err)
{
    if (api_webhooks_routes(server, app, err) != 0 ||
        api_oauth_routes(server, app, err) != 0)
        return -1;
    return api_billing_routes(server, app, err);
}
