/*
 * The Product Optimizer's routes: the store's products and collections
 * under /api/products, and jobs and their items under /api/product-jobs.
 */
#include "api/api.h"

#include "core/log.h"
#include "pipelines/products.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Item ids one action request may name. */
#define ACTION_IDS_MAX PRODUCTS_JOB_MAX_ITEMS

static int invalid_query(struct api_call *call, const char *name,
                         const char *message, const char *value)
{
    struct error err;

    error_set(&err, ERR_INVALID, "%s: invalid value \"%.40s\": %s", name, value,
              message);
    snprintf(err.code, sizeof(err.code), "%s", name);
    api_fail(call, &err);
    return -1;
}

/* Reads ?limit= (1 to 100, default fallback). Responds 400 and returns -1
 * when it is anything else. */
static int query_limit(struct api_call *call, int fallback, int *limit)
{
    const char *text = http_request_query(call->req, "limit");
    char *end;
    long value;

    *limit = fallback;
    if (!text)
        return 0;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < 1 || value > 100)
        return invalid_query(call, "limit", "expected an integer from 1 to 100",
                             text);
    *limit = (int)value;
    return 0;
}

/* Reads an optional query parameter of at most 200 bytes. */
static int query_text(struct api_call *call, const char *name, const char **out)
{
    *out = http_request_query(call->req, name);
    if (*out && (!**out || strlen(*out) > 200))
        return invalid_query(call, name, "expected 1 to 200 bytes", *out);
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

    if (query_limit(call, 50, &query.limit) != 0 ||
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

    if (query_limit(call, 20, &limit) != 0 ||
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

    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(states[i], state) == 0)
            return 1;
    return 0;
}

static void handle_items(struct api_call *call)
{
    const char *state = http_request_query(call->req, "state");
    const char *cursor;
    struct error err;
    int limit;

    if (query_limit(call, 50, &limit) != 0 ||
        query_text(call, "cursor", &cursor) != 0)
        return;
    if (state && !known_state(state)) {
        invalid_query(call, "state",
                      "expected an item state such as ready or applied", state);
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

/*
 * Reads {"item_ids": [...]} or {"all_ready": true} into ids (borrowed
 * from body, count of them). Responds 400 and returns -1 when the body is
 * anything else.
 */
static int read_targets(struct api_call *call, const json_t *body,
                        const char ***ids, size_t *count, int *all_ready)
{
    const json_t *list = json_object_get(body, "item_ids");
    const json_t *all = json_object_get(body, "all_ready");
    struct error err;
    size_t i;
    json_t *id;

    *ids = NULL;
    *count = 0;
    *all_ready = json_is_true(all);
    error_clear(&err);
    if (all && !json_is_boolean(all))
        error_set(&err, ERR_INVALID, "all_ready: expected true or false");
    else if ((list != NULL) == *all_ready)
        error_set(&err, ERR_INVALID,
                  "item_ids: send either item_ids or \"all_ready\": true");
    else if (list && (!json_is_array(list) || json_array_size(list) == 0 ||
                      json_array_size(list) > ACTION_IDS_MAX))
        error_set(&err, ERR_INVALID,
                  "item_ids: expected an array of 1 to %d item ids",
                  ACTION_IDS_MAX);
    if (err.kind == ERR_NONE && list) {
        *ids = calloc(json_array_size(list), sizeof(**ids));
        json_array_foreach(list, i, id)
        {
            if (!json_is_string(id)) {
                error_set(&err, ERR_INVALID,
                          "item_ids[%zu]: expected an item id", i);
                break;
            }
            (*ids)[(*count)++] = json_string_value(id);
        }
    }
    if (err.kind == ERR_NONE)
        return 0;
    snprintf(err.code, sizeof(err.code), "%s",
             strncmp(err.message, "all_ready", 9) == 0 ? "all_ready"
                                                       : "item_ids");
    free(*ids);
    *ids = NULL;
    api_fail(call, &err);
    return -1;
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
        read_targets(call, body, &ids, &count, &all_ready) != 0) {
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
