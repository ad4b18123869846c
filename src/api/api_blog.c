/* The Blog Generator's routes under /api/blog. */
#include "api/api.h"

#include "core/log.h"
#include "pipelines/blog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The whole cost of one blog post, as blog_start reserves it. */
static int64_t blog_cost(const struct app *app)
{
    return app->costs.blog_ideas + app->costs.blog_write +
           app->costs.blog_image + app->costs.blog_publish;
}

/* Sends the generation's current JSON with the given status. */
static void respond_generation(struct api_call *call, const char *id,
                               int status)
{
    struct error err;
    json_t *body;

    error_clear(&err);
    body = blog_generation_json(call->app, call->instance_id, id, &err);
    if (!body) {
        api_fail(call, &err);
        return;
    }
    http_response_json(call->resp, status, body);
}

static void handle_create(struct api_call *call)
{
    char id[STORE_UUID_SIZE];
    struct error err;
    json_t *request = api_read_json(call);

    if (!request)
        return;
    error_clear(&err);
    if (blog_start(call->app, call->instance_id, request, id, &err) != 0) {
        json_decref(request);
        if (err.kind == ERR_INSUFFICIENT_CREDITS)
            api_fail_credits(call, &err, blog_cost(call->app));
        else
            api_fail(call, &err);
        return;
    }
    json_decref(request);
    log_info("api",
             "blog generation started request=%s instance=%s "
             "generation=%s",
             call->req->request_id, call->instance_id, id);
    respond_generation(call, id, 202);
}

/* Reads ?limit= (1 to 100, default 20); on a bad value sends 400 and returns
 * -1. */
static int read_limit(struct api_call *call, int *limit)
{
    const char *text = http_request_query(call->req, "limit");
    char *end;
    long value;

    *limit = 20;
    if (!text)
        return 0;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < 1 || value > 100) {
        struct error err;

        error_set(&err, ERR_INVALID,
                  "limit: invalid value \"%.20s\": expected an integer from "
                  "1 to 100",
                  text);
        snprintf(err.code, sizeof(err.code), "limit");
        api_fail(call, &err);
        return -1;
    }
    *limit = (int)value;
    return 0;
}

static void handle_list(struct api_call *call)
{
    struct error err;
    json_t *body;
    int limit;

    if (read_limit(call, &limit) != 0)
        return;
    error_clear(&err);
    body = blog_list_json(call->app, call->instance_id, limit,
                          http_request_query(call->req, "cursor"), &err);
    if (!body) {
        api_fail(call, &err);
        return;
    }
    http_response_json(call->resp, 200, body);
}

static void handle_get(struct api_call *call)
{
    respond_generation(call, http_request_param(call->req, "id"), 200);
}

/* Rejects a select body with a field other than index, as POST
 * generations rejects unknown fields. */
static int check_select_fields(const json_t *body, struct error *err)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)body, key, value)
    {
        (void)value;
        if (strcmp(key, "index") == 0)
            continue;
        error_set(err, ERR_INVALID,
                  "request: unknown field \"%.40s\": expected only index", key);
        snprintf(err->code, sizeof(err->code), "request");
        return -1;
    }
    return 0;
}

static int select_from_body(struct api_call *call, const char *id,
                            const json_t *body, struct error *err)
{
    const json_t *index = json_object_get(body, "index");

    if (check_select_fields(body, err) != 0)
        return -1;
    if (!json_is_integer(index)) {
        error_set(err, ERR_INVALID,
                  "index: expected the integer index of an idea, found %s",
                  index ? "another type" : "nothing");
        snprintf(err->code, sizeof(err->code), "index");
        return -1;
    }

    /* An index out of range gets the range of this generation's ideas. */
    return blog_select(call->app, call->instance_id, id,
                       json_integer_value(index), err);
}

static void handle_select(struct api_call *call)
{
    const char *id = http_request_param(call->req, "id");
    json_t *body = api_read_json(call);
    struct error err;
    int rc;

    if (!body)
        return;
    error_clear(&err);
    rc = select_from_body(call, id, body, &err);
    json_decref(body);
    if (rc != 0) {
        api_fail(call, &err);
        return;
    }
    respond_generation(call, id, 202);
}

static void handle_regenerate(struct api_call *call)
{
    const char *id = http_request_param(call->req, "id");
    struct error err;

    error_clear(&err);
    if (blog_regenerate_ideas(call->app, call->instance_id, id, &err) != 0) {
        api_fail(call, &err);
        return;
    }
    respond_generation(call, id, 202);
}

static void handle_cancel(struct api_call *call)
{
    const char *id = http_request_param(call->req, "id");
    struct error err;

    error_clear(&err);
    if (blog_cancel(call->app, call->instance_id, id, &err) != 0) {
        api_fail(call, &err);
        return;
    }
    log_info("api",
             "blog generation cancelled request=%s instance=%s "
             "generation=%s",
             call->req->request_id, call->instance_id, id);
    respond_generation(call, id, 200);
}

int api_blog_routes(struct http_server *server, struct app *app,
                    struct error *err)
{
    static const char base[] = "/api/blog/generations";

    if (api_route(server, app, "POST", base, handle_create) ||
        api_route(server, app, "GET", base, handle_list) ||
        api_route(server, app, "GET", "/api/blog/generations/{id}",
                  handle_get) ||
        api_route(server, app, "POST", "/api/blog/generations/{id}/select",
                  handle_select) ||
        api_route(server, app, "POST",
                  "/api/blog/generations/{id}/regenerate-ideas",
                  handle_regenerate) ||
        api_route(server, app, "POST", "/api/blog/generations/{id}/cancel",
                  handle_cancel))
        return error_set(err, ERR_PERMANENT, "failed to add blog routes");
    return 0;
}
