/* Blog campaigns' routes under /api/campaigns (docs/openapi.yaml). */
#include "api/api.h"

#include "core/clock.h"
#include "core/log.h"
#include "pipelines/campaigns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POSTS_LIMIT_DEFAULT 100
#define POSTS_LIMIT_MAX 500

/* Answers with body and status, or with err when body is NULL. */
static void respond(struct api_call *call, json_t *body, int status,
                    const struct error *err)
{
    if (!body) {
        api_fail(call, err);
        return;
    }
    http_response_json(call->resp, status, body);
}

static const char *campaign_id(struct api_call *call)
{
    return http_request_param(call->req, "id");
}

static const char *post_id(struct api_call *call)
{
    return http_request_param(call->req, "post_id");
}

/* ------------------------------------------------------------------ */
/* Campaigns                                                           */
/* ------------------------------------------------------------------ */

static void handle_create(struct api_call *call)
{
    json_t *request = api_read_json(call);
    struct error err;
    json_t *view;

    if (!request)
        return;
    error_clear(&err);
    view = campaigns_create(call->app, call->instance_id, request, &err);
    json_decref(request);
    if (view)
        log_info("api", "campaign created request=%s instance=%s campaign=%s",
                 call->req->request_id, call->instance_id,
                 json_string_value(json_object_get(view, "id")));
    respond(call, view, 201, &err);
}

static void handle_list(struct api_call *call)
{
    struct error err;

    error_clear(&err);
    respond(call, campaigns_list(call->app, call->instance_id, &err), 200,
            &err);
}

static void handle_get(struct api_call *call)
{
    struct error err;

    error_clear(&err);
    respond(
        call,
        campaigns_get(call->app, call->instance_id, campaign_id(call), &err),
        200, &err);
}

static void handle_update(struct api_call *call)
{
    json_t *request = api_read_json(call);
    struct error err;
    json_t *view;

    if (!request)
        return;
    error_clear(&err);
    view = campaigns_update(call->app, call->instance_id, campaign_id(call),
                            request, &err);
    json_decref(request);
    respond(call, view, 200, &err);
}

static void handle_delete(struct api_call *call)
{
    struct error err;

    error_clear(&err);
    if (campaigns_delete(call->app, call->instance_id, campaign_id(call),
                         &err) != 0) {
        api_fail(call, &err);
        return;
    }
    log_info("api", "campaign deleted request=%s instance=%s campaign=%s",
             call->req->request_id, call->instance_id, campaign_id(call));
    http_response_json(
        call->resp, 200,
        json_pack("{s:s, s:b}", "id", campaign_id(call), "deleted", 1));
}

static void set_paused(struct api_call *call, int paused)
{
    struct error err;

    error_clear(&err);
    respond(call,
            campaigns_set_paused(call->app, call->instance_id,
                                 campaign_id(call), paused, &err),
            200, &err);
}

static void handle_pause(struct api_call *call)
{
    set_paused(call, 1);
}

static void handle_resume(struct api_call *call)
{
    set_paused(call, 0);
}

/* ------------------------------------------------------------------ */
/* Posts                                                               */
/* ------------------------------------------------------------------ */

/* Answers 400 naming the query parameter; returns -1. */
static int bad_query(struct api_call *call, const char *name,
                     const char *expected, const char *value)
{
    struct error err;

    error_set(&err, ERR_INVALID, "%s: invalid value \"%.40s\": expected %s",
              name, value, expected);
    snprintf(err.code, sizeof(err.code), "%s", name);
    api_fail(call, &err);
    return -1;
}

/* Reads ?from= and ?to= (ISO 8601 UTC) and ?limit= (1 to 500). */
static int read_post_query(struct api_call *call, int64_t *from_ms,
                           int64_t *to_ms, int *limit)
{
    const char *from = http_request_query(call->req, "from");
    const char *to = http_request_query(call->req, "to");
    const char *limit_text = http_request_query(call->req, "limit");
    char *end = NULL;
    long value;

    *from_ms = from ? clock_parse_iso(from) : 0;
    *to_ms = to ? clock_parse_iso(to) : 0;
    if (*from_ms < 0)
        return bad_query(call, "from",
                         "a UTC time such as "
                         "2026-05-04T00:00:00Z",
                         from);
    if (*to_ms < 0)
        return bad_query(call, "to", "a UTC time such as 2026-06-01T00:00:00Z",
                         to);
    *limit = POSTS_LIMIT_DEFAULT;
    if (!limit_text)
        return 0;
    errno = 0;
    value = strtol(limit_text, &end, 10);
    if (errno || end == limit_text || *end || value < 1 ||
        value > POSTS_LIMIT_MAX)
        return bad_query(call, "limit", "an integer from 1 to 500", limit_text);
    *limit = (int)value;
    return 0;
}

static void handle_posts(struct api_call *call)
{
    int64_t from_ms;
    int64_t to_ms;
    int limit;
    struct error err;

    if (read_post_query(call, &from_ms, &to_ms, &limit) != 0)
        return;
    error_clear(&err);
    respond(call,
            campaigns_posts_list(call->app, call->instance_id,
                                 campaign_id(call),
                                 http_request_query(call->req, "state"),
                                 from_ms, to_ms, limit, &err),
            200, &err);
}

static void handle_post_get(struct api_call *call)
{
    struct error err;

    error_clear(&err);
    respond(call,
            campaigns_post_get(call->app, call->instance_id, campaign_id(call),
                               post_id(call), &err),
            200, &err);
}

static void handle_post_update(struct api_call *call)
{
    json_t *request = api_read_json(call);
    struct error err;
    json_t *view;

    if (!request)
        return;
    error_clear(&err);
    view =
        campaigns_post_update(call->app, call->instance_id, campaign_id(call),
                              post_id(call), request, &err);
    json_decref(request);
    respond(call, view, 200, &err);
}

static void handle_post_cancel(struct api_call *call)
{
    struct error err;

    error_clear(&err);
    respond(call,
            campaigns_post_cancel(call->app, call->instance_id,
                                  campaign_id(call), post_id(call), &err),
            200, &err);
}

static void set_post_paused(struct api_call *call, int paused)
{
    struct error err;

    error_clear(&err);
    respond(call,
            campaigns_post_set_paused(call->app, call->instance_id,
                                      campaign_id(call), post_id(call), paused,
                                      &err),
            200, &err);
}

static void handle_post_pause(struct api_call *call)
{
    set_post_paused(call, 1);
}

static void handle_post_resume(struct api_call *call)
{
    set_post_paused(call, 0);
}

int api_campaigns_routes(struct http_server *server, struct app *app,
                         struct error *err)
{
    static const struct {
        const char *method;
        const char *pattern;
        api_handler_fn handler;
    } routes[] = {
        {"POST", "/api/campaigns", handle_create},
        {"GET", "/api/campaigns", handle_list},
        {"GET", "/api/campaigns/{id}", handle_get},
        {"PATCH", "/api/campaigns/{id}", handle_update},
        {"DELETE", "/api/campaigns/{id}", handle_delete},
        {"POST", "/api/campaigns/{id}/pause", handle_pause},
        {"POST", "/api/campaigns/{id}/resume", handle_resume},
        {"GET", "/api/campaigns/{id}/posts", handle_posts},
        {"GET", "/api/campaigns/{id}/posts/{post_id}", handle_post_get},
        {"PATCH", "/api/campaigns/{id}/posts/{post_id}", handle_post_update},
        {"DELETE", "/api/campaigns/{id}/posts/{post_id}", handle_post_cancel},
        {"POST", "/api/campaigns/{id}/posts/{post_id}/pause",
         handle_post_pause},
        {"POST", "/api/campaigns/{id}/posts/{post_id}/resume",
         handle_post_resume},
    };

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (api_route(server, app, routes[i].method, routes[i].pattern,
                      routes[i].handler) != 0)
            return error_set(err, ERR_PERMANENT,
                             "failed to add the route %s %s", routes[i].method,
                             routes[i].pattern);
    }
    return 0;
}
