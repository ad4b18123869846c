/*
 * The Image Optimizer's routes: jobs and their items under
 * /api/image-jobs, the before and after bytes of an item for the review
 * page, and a product's media list under /api/products/{id}/media.
 */
#include "api/api.h"
#include "api/api_batch.h"

#include "core/log.h"
#include "pipelines/images.h"

#include <stdlib.h>
#include <string.h>

/* The largest kept image the before and after routes send. */
#define IMAGE_BYTES_MAX (64u * 1024 * 1024)

/* Responds with err; a site without a V1 store is the owner's to fix, so
 * it is a 409 rather than a server error. */
static void fail(struct api_call *call, const struct error *err)
{
    if (err->kind == ERR_PERMANENT &&
        (strcmp(err->code, IMAGES_ERR_NO_STORES) == 0 ||
         strcmp(err->code, IMAGES_ERR_CATALOG) == 0)) {
        http_response_error(call->resp, 409, err->code, "%s", err->message);
        return;
    }
    api_fail(call, err);
}

static void respond(struct api_call *call, json_t *body,
                    const struct error *err, int status)
{
    if (!body) {
        fail(call, err);
        return;
    }
    http_response_json(call->resp, status, body);
}

static void respond_job(struct api_call *call, const char *id, int status)
{
    struct error err;

    error_clear(&err);
    respond(call, images_job_json(call->app, call->instance_id, id, &err), &err,
            status);
}

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

static void handle_create(struct api_call *call)
{
    char id[STORE_UUID_SIZE];
    int64_t cost = 0;
    struct error err;
    json_t *request = api_read_json(call);

    if (!request)
        return;
    error_clear(&err);
    if (images_job_create(call->app, call->instance_id, request, id, &cost,
                          &err) != 0) {
        json_decref(request);
        if (err.kind == ERR_INSUFFICIENT_CREDITS)
            api_fail_credits(call, &err, cost);
        else
            fail(call, &err);
        return;
    }
    json_decref(request);
    log_info("api", "image job started request=%s instance=%s job=%s",
             call->req->request_id, call->instance_id, id);
    respond_job(call, id, 202);
}

static void handle_list(struct api_call *call)
{
    const char *cursor = http_request_query(call->req, "cursor");
    struct error err;
    int limit;

    if (api_batch_query_limit(call, 20, &limit) != 0)
        return;
    error_clear(&err);
    respond(
        call,
        images_job_list_json(call->app, call->instance_id, limit, cursor, &err),
        &err, 200);
}

static void handle_get(struct api_call *call)
{
    respond_job(call, http_request_param(call->req, "id"), 200);
}

static void handle_cancel(struct api_call *call)
{
    const char *id = http_request_param(call->req, "id");
    struct error err;

    error_clear(&err);
    if (images_job_cancel(call->app, call->instance_id, id, &err) != 0) {
        api_fail(call, &err);
        return;
    }
    log_info("api", "image job cancelled request=%s instance=%s job=%s",
             call->req->request_id, call->instance_id, id);
    respond_job(call, id, 200);
}

/* ------------------------------------------------------------------ */
/* Items                                                               */
/* ------------------------------------------------------------------ */

static int known_state(const char *state)
{
    static const char *const states[] = {
        IMAGES_PENDING,        IMAGES_PROCESSING, IMAGES_READY,
        IMAGES_SKIPPED_LARGER, IMAGES_APPLYING,   IMAGES_APPLIED,
        IMAGES_RESTORING,      IMAGES_RESTORED,   IMAGES_FAILED,
        IMAGES_DISCARDED,      IMAGES_CANCELLED,
    };

    return api_batch_known_state(state, states,
                                 sizeof(states) / sizeof(states[0]));
}

static void handle_items(struct api_call *call)
{
    const char *state = http_request_query(call->req, "state");
    const char *cursor = http_request_query(call->req, "cursor");
    struct error err;
    int limit;

    if (api_batch_query_limit(call, 50, &limit) != 0)
        return;
    if (state && !known_state(state)) {
        api_batch_invalid_query(
            call, "state", "expected an item state such as ready or applied",
            state);
        return;
    }
    error_clear(&err);
    respond(call,
            images_items_json(call->app, call->instance_id,
                              http_request_param(call->req, "id"), state, limit,
                              cursor, &err),
            &err, 200);
}

static void handle_item(struct api_call *call)
{
    struct error err;

    error_clear(&err);
    respond(call,
            images_item_json(call->app, call->instance_id,
                             http_request_param(call->req, "id"),
                             http_request_param(call->req, "item_id"), &err),
            &err, 200);
}

static void send_bytes(struct api_call *call, int after)
{
    struct buf bytes;
    char type[32];
    struct error err;

    buf_init(&bytes, IMAGE_BYTES_MAX);
    error_clear(&err);
    if (images_item_bytes(call->app, call->instance_id,
                          http_request_param(call->req, "id"),
                          http_request_param(call->req, "item_id"), after,
                          &bytes, type, &err) != 0)
        api_fail(call, &err);
    else
        http_response_bytes(call->resp, 200, type, bytes.data, bytes.len);
    buf_free(&bytes);
}

static void handle_before(struct api_call *call)
{
    send_bytes(call, 0);
}

static void handle_after(struct api_call *call)
{
    send_bytes(call, 1);
}

static void act(struct api_call *call, enum images_action action,
                int force_all_ready, int status)
{
    json_t *body = api_read_json(call);
    const char **ids = NULL;
    size_t count = 0;
    int all_ready = force_all_ready;
    struct error err;
    json_t *result;

    if (!body)
        return;
    if (!force_all_ready &&
        api_batch_read_targets(call, body, IMAGES_JOB_MAX_ITEMS, &ids, &count,
                               &all_ready) != 0) {
        json_decref(body);
        return;
    }
    error_clear(&err);
    result = images_items_act(call->app, call->instance_id,
                              http_request_param(call->req, "id"), action, ids,
                              count, all_ready, &err);
    free(ids);
    json_decref(body);
    respond(call, result, &err, status);
}

static void handle_apply(struct api_call *call)
{
    act(call, IMAGES_APPLY, 0, 202);
}

static void handle_apply_ready(struct api_call *call)
{
    act(call, IMAGES_APPLY, 1, 202);
}

static void handle_discard(struct api_call *call)
{
    act(call, IMAGES_DISCARD, 0, 200);
}

static void handle_restore(struct api_call *call)
{
    act(call, IMAGES_RESTORE, 0, 202);
}

static void handle_product_media(struct api_call *call)
{
    struct error err;

    error_clear(&err);
    respond(call,
            images_product_media_json(call->app, call->instance_id,
                                      http_request_param(call->req, "id"),
                                      &err),
            &err, 200);
}

int api_images_routes(struct http_server *server, struct app *app,
                      struct error *err)
{
    static const struct {
        const char *method;
        const char *pattern;
        api_handler_fn handler;
    } routes[] = {
        {"GET", "/api/products/{id}/media", handle_product_media},
        {"POST", "/api/image-jobs", handle_create},
        {"GET", "/api/image-jobs", handle_list},
        {"GET", "/api/image-jobs/{id}", handle_get},
        {"POST", "/api/image-jobs/{id}/cancel", handle_cancel},
        {"POST", "/api/image-jobs/{id}/apply-ready", handle_apply_ready},
        {"GET", "/api/image-jobs/{id}/items", handle_items},
        {"GET", "/api/image-jobs/{id}/items/{item_id}", handle_item},
        {"GET", "/api/image-jobs/{id}/items/{item_id}/before", handle_before},
        {"GET", "/api/image-jobs/{id}/items/{item_id}/after", handle_after},
        {"POST", "/api/image-jobs/{id}/items/apply", handle_apply},
        {"POST", "/api/image-jobs/{id}/items/discard", handle_discard},
        {"POST", "/api/image-jobs/{id}/items/restore", handle_restore},
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
