/* The probes (/healthz, /readyz, /metrics) and GET /api/me. */
#include "api/api.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

#include <string.h>

static void handle_healthz(struct http_request *req, struct http_response *resp,
                           void *ctx)
{
    (void)req;
    (void)ctx;
    http_response_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static void handle_readyz(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    struct app *app = ctx;
    struct error err;

    error_clear(&err);
    if (store_ping(app->store, &err) != 0) {
        log_warn("api", "readiness check failed request=%s error=\"%s\"",
                 req->request_id, err.message);
        http_response_json(resp, 503,
                           json_pack("{s:s, s:s}", "status", "unavailable",
                                     "reason", "the database does not answer"));
        return;
    }
    http_response_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

/* Sets the queue's job-count gauges, so /metrics shows the backlog. */
static void update_queue_gauges(struct app *app)
{
    struct queue_counts counts;
    struct error err;

    error_clear(&err);
    if (queue_count(app->store, &counts, &err) != 0)
        return;
    metrics_set("sitesmith_queue_jobs", "state=\"queued\"",
                (double)counts.queued);
    metrics_set("sitesmith_queue_jobs", "state=\"running\"",
                (double)counts.running);
    metrics_set("sitesmith_queue_jobs", "state=\"failed\"",
                (double)counts.failed);
}

static void handle_metrics(struct http_request *req, struct http_response *resp,
                           void *ctx)
{
    struct buf text;

    (void)req;
    update_queue_gauges(ctx);
    buf_init(&text, 16 * 1024 * 1024);
    if (metrics_render(&text) != 0) {
        buf_free(&text);
        http_response_error(resp, 500, "internal", "metrics too large");
        return;
    }
    http_response_bytes(resp, 200, "text/plain; version=0.0.4", text.data,
                        text.len);
    buf_free(&text);
}

static json_t *costs_json(const struct app_costs *costs)
{
    return json_pack("{s:I, s:I, s:I}", "blog_post",
                     (json_int_t)(costs->blog_ideas + costs->blog_write +
                                  costs->blog_image + costs->blog_publish),
                     "product_field", (json_int_t)costs->product_field, "image",
                     (json_int_t)costs->image_item);
}

static void handle_me(struct api_call *call)
{
    struct store_instance instance = {0};
    struct store_credits credits = {0};
    struct error err;
    struct store_tx *tx;
    json_t *settings;
    json_t *body;

    error_clear(&err);
    tx = store_begin_read(call->app->store, &err);
    if (!tx || store_instance_get(tx, call->instance_id, &instance, &err) < 0 ||
        store_credits_get(tx, call->instance_id, &credits, &err) != 0) {
        store_rollback(tx);
        store_instance_clear(&instance);
        api_fail(call, &err);
        return;
    }
    store_rollback(tx);
    settings =
        json_loads(instance.settings ? instance.settings : "{}", 0, NULL);
    body = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:o}", "instance_id", call->instance_id,
        "plan", instance.plan[0] ? instance.plan : "free", "state",
        instance.state, "credits", (json_int_t)credits.available, "reserved",
        (json_int_t)credits.reserved, "costs", costs_json(&call->app->costs));
    if (json_is_string(json_object_get(settings, "site_name")))
        json_object_set(body, "site_name",
                        json_object_get(settings, "site_name"));
    json_decref(settings);
    store_instance_clear(&instance);
    http_response_json(call->resp, 200, body);
}

int api_system_routes(struct http_server *server, struct app *app,
                      struct error *err)
{
    if (http_server_route(server, "GET", "/healthz", handle_healthz, app) ||
        http_server_route(server, "GET", "/readyz", handle_readyz, app) ||
        http_server_route(server, "GET", "/metrics", handle_metrics, app) ||
        api_route(server, app, "GET", "/api/me", handle_me))
        return error_set(err, ERR_PERMANENT, "failed to add system routes");
    return 0;
}
