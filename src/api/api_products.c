/*
 * The Product Optimizer's routes: the store's products and collections
 * under /api/products, and jobs and their items under /api/product-jobs.
 */
#include "api/api.h"
#include "api/api_batch.h"

#include "core/log.h"
#include "pipelines/products.h"

#include <stdlib.h>
#include <string.h>

/* Item ids one action request may name. */
#define ACTION_IDS_MAX PRODUCTS_JOB_MAX_ITEMS

/* Reads an optional query parameter of at most 200 bytes. */
static int query_text(struct api_call *call, const char *name, const char **out)
{
    *out = http_request_query(call->req, name);
    if (*out && (!**out || strlen(*out) > 200))
        return api_batch_invalid_query(call, name, "expected 1 to 200 bytes",
                                       *out);
    return 0;
}

/* Responds with err; a site without Wix Stores is the owner's to fix, so
 * it is a 409 rather than a server error. */
static void fail(struct api_call *call, const struct error *err)
{
    if (err->kind == ERR_PERMANENT &&
        strcmp(err->code, PRODUCTS_ERR_NO_STORES) == 0) {
        http_response_error(call->resp, 409, PRODUCTS_ERR_NO_STORES, "%s",
                            err->message);
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

/* ------------------------------------------------------------------ */
/* /api/products                                                       */
/* ------------------------------------------------------------------ */

static void handle_products(struct api_call *call)
{
    struct products_catalog_query query = {0};
    struct error err;

    if (api_batch_query_limit(call, 50, &query.limit) != 0 ||
        query_text(call, "search", &query.search) != 0 ||
        query_text(call, "collection_id", &query.collection_id) != 0 ||
        query_text(call, "cursor", &query.cursor) != 0)
        return;
    error_clear(&err);
    respond(call,
            products_catalog_json(call->app, call->instance_id, &query, &err),
            &err, 200);
}

static void handle_collections(struct api_call *call)
{
    struct error err;

    error_clear(&err);
    respond(call, products_collections_json(call->app, call->instance_id, &err),
            &err, 200);
}

/* ------------------------------------------------------------------ */
/* /api/product-jobs                                                   */
/* ------------------------------------------------------------------ */

static void respond_job(struct api_call *call, const char *id, int status)
{
    struct error err;

    error_clear(&err);
    respond(call, products_job_json(call->app, call->instance_id, id, &err),
            &err, status);
}

static void handle_create(struct api_call *call)
{
    char id[STORE_UUID_SIZE];
    int64_t cost = 0;
    struct error err;
    json_t *request = api_read_json(call);

    if (!request)
        return;
    error_clear(&err);
    if (products_job_create(call->app, call->instance_id, request, id, &cost,
                            &err) != 0) {
        json_decref(request);
        if (err.kind == ERR_INSUFFICIENT_CREDITS)
            api_fail_credits(call, &err, cost);
        else
            fail(call, &err);
        return;
    }
    json_decref(request);
    log_info("api", "product job started request=%s instance=%s job=%s",
             call->req->request_id, call->instance_id, id);
    respond_job(call, id, 202);
}

static void handle_list(struct api_call *call)
{
    const char *cursor;
    struct error err;
    int limit;

    if (api_batch_query_limit(call, 20, &limit) != 0 ||
        query_text(call, "cursor", &cursor) != 0)
        return;
    error_clear(&err);
    respond(call,
            products_job_list_json(call->app, call->instance_id, limit, cursor,
                                   &err),
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
    if (products_job_cancel(call->app, call->instance_id, id, &err) != 0) {
        api_fail(call, &err);
        return;
    }
    log_info("api", "product job cancelled request=%s instance=%s job=%s",
             call->req->request_id, call->instance_id, id);
    respond_job(call, id, 200);
}

/* True for the item states a list may filter by. */
static int known_state(const char *state)
{
    static const char *const states[] = {
        PRODUCTS_PENDING,   PRODUCTS_RUNNING,   PRODUCTS_READY,
        PRODUCTS_APPLYING,  PRODUCTS_APPLIED,   PRODUCTS_REVERTING,
        PRODUCTS_REVERTED,  PRODUCTS_FAILED,    PRODUCTS_CONFLICT,
        PRODUCTS_DISCARDED, PRODUCTS_CANCELLED,
    };

    return api_batch_known_state(state, states,
                                 sizeof(states) / sizeof(states[0]));
}

static void handle_items(struct api_call *call)
{
    const char *state = http_request_query(call->req, "state");
    const char *cursor;
    struct error err;
    int limit;

    if (api_batch_query_limit(call, 50, &limit) != 0 ||
        query_text(call, "cursor", &cursor) != 0)
        return;
    if (state && !known_state(state)) {
        api_batch_invalid_query(
            call, "state", "expected an item state such as ready or applied",
            state);
        return;
    }
    error_clear(&err);
    respond(call,
            products_items_json(call->app, call->instance_id,
                                http_request_param(call->req, "id"), state,
                                limit, cursor, &err),
            &err, 200);
}

static void handle_item(struct api_call *call)
{
    struct error err;

    error_clear(&err);
    respond(call,
            products_item_json(call->app, call->instance_id,
                               http_request_param(call->req, "id"),
                               http_request_param(call->req, "item_id"), &err),
            &err, 200);
}

/* Runs action on the items the body names (or on all ready items when
 * all_ready is forced) and responds with status. */
static void act(struct api_call *call, enum products_action action,
                int force_all_ready, int status)
{
    const char *job_id = http_request_param(call->req, "id");
    json_t *body = api_read_json(call);
    const char **ids = NULL;
    size_t count = 0;
    int all_ready = force_all_ready;
    int64_t cost = 0;
    struct error err;
    json_t *result;

    if (!body)
        return;
    if (!force_all_ready &&
        api_batch_read_targets(call, body, ACTION_IDS_MAX, &ids, &count,
                               &all_ready) != 0) {
        json_decref(body);
        return;
    }
    error_clear(&err);
    result = products_items_act(call->app, call->instance_id, job_id, action,
                                ids, count, all_ready, &cost, &err);
    free(ids);
    json_decref(body);
    if (!result && err.kind == ERR_INSUFFICIENT_CREDITS) {
        api_fail_credits(call, &err, cost);
        return;
    }
    respond(call, result, &err, status);
}

static void handle_apply(struct api_call *call)
{
    act(call, PRODUCTS_APPLY, 0, 202);
}

static void handle_apply_ready(struct api_call *call)
{
    act(call, PRODUCTS_APPLY, 1, 202);
}

static void handle_discard(struct api_call *call)
{
    act(call, PRODUCTS_DISCARD, 0, 200);
}

static void handle_revert(struct api_call *call)
{
    act(call, PRODUCTS_REVERT, 0, 202);
}

static void handle_regenerate(struct api_call *call)
{
    act(call, PRODUCTS_REGENERATE, 0, 202);
}

int api_products_routes(struct http_server *server, struct app *app,
                        struct error *err)
{
    static const struct {
        const char *method;
        const char *pattern;
        api_handler_fn handler;
    } routes[] = {
        {"GET", "/api/products", handle_products},
        {"GET", "/api/products/collections", handle_collections},
        {"POST", "/api/product-jobs", handle_create},
        {"GET", "/api/product-jobs", handle_list},
        {"GET", "/api/product-jobs/{id}", handle_get},
        {"POST", "/api/product-jobs/{id}/cancel", handle_cancel},
        {"POST", "/api/product-jobs/{id}/apply-ready", handle_apply_ready},
        {"GET", "/api/product-jobs/{id}/items", handle_items},
        {"GET", "/api/product-jobs/{id}/items/{item_id}", handle_item},
        {"POST", "/api/product-jobs/{id}/items/apply", handle_apply},
        {"POST", "/api/product-jobs/{id}/items/discard", handle_discard},
        {"POST", "/api/product-jobs/{id}/items/revert", handle_revert},
        {"POST", "/api/product-jobs/{id}/items/regenerate", handle_regenerate},
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
