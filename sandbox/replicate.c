/*
 * Replicate emulation: predictions created by version or by official
 * model, read, cancelled and listed, with `Prefer: wait`, `Cancel-After`,
 * Replicate's error bodies and its create rate limit (creates live in
 * replicate_create.c). Output files are served under
 * /replicate/files/{id}/{name} and expire like Replicate's do after an
 * hour.
 *
 * A prediction's status is computed from sandbox time whenever it is
 * read: starting until created + starting_ms, processing until
 * processing_ms later, then succeeded (or failed). Moving the sandbox
 * clock moves predictions along with it.
 *
 * Settings (POST /__sandbox/config, object "replicate"):
 *   api_token            the only token accepted; null accepts any
 *   starting_ms          time in "starting" (default 200)
 *   processing_ms        time in "processing" (default 800)
 *   output_ttl_s         seconds outputs stay after completion (3600)
 *   create_rpm           creates per sandbox minute (600)
 *   fail_next            the next N predictions fail
 *   fail_error           their error message (an E005 message by default)
 *   insufficient_credit  true rejects creates with 402
 *   versions             {"<64 hex id>": "owner/name"} to add version ids
 * An input "prompt" containing "[sandbox:fail]" fails that prediction with
 * the E005 "flagged as sensitive" message.
 */
#include "images.h"
#include "replicate_internal.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LIST_PAGE_MAX 100

/* ---------------------------------------------------------------- */
/* Predictions in memory                                              */

void replicate_prediction_free(struct prediction *p)
{
    if (!p)
        return;
    json_decref(p->input);
    free(p->error);
    free(p->source);
    for (int i = 0; i < REPLICATE_OUTPUTS_MAX; i++)
        buf_free(&p->files[i]);
    free(p);
}

struct prediction *replicate_find(struct sandbox_replicate *state,
                                  const char *id)
{
    for (size_t i = 0; i < state->count; i++)
        if (strcmp(state->predictions[i]->id, id) == 0)
            return state->predictions[i];
    return NULL;
}

int replicate_add(struct sandbox_replicate *state, struct prediction *p)
{
    if (state->count == state->capacity) {
        size_t capacity = state->capacity ? 2 * state->capacity : 64;
        struct prediction **grown =
            realloc(state->predictions, capacity * sizeof(*state->predictions));

        if (!grown)
            return -1;
        state->predictions = grown;
        state->capacity = capacity;
    }
    state->predictions[state->count++] = p;
    return 0;
}

void replicate_view(const struct sandbox_replicate *state,
                    const struct prediction *p, int64_t now,
                    struct prediction_view *view)
{
    int64_t end = p->done_ms;
    const char *final = p->error ? "failed" : "succeeded";

    /* Cancel-After ends a run that has not started as "aborted" and one
     * that has as "canceled"; an explicit cancel is always "canceled". */
    if (p->deadline_ms && p->deadline_ms < end) {
        end = p->deadline_ms;
        final = p->deadline_ms < p->started_ms ? "aborted" : "canceled";
    }
    if (p->canceled_ms && p->canceled_ms < end) {
        end = p->canceled_ms;
        final = "canceled";
    }

    memset(view, 0, sizeof(*view));
    if (now < end) {
        view->status = now < p->started_ms ? "starting" : "processing";
        view->started_ms = now < p->started_ms ? 0 : p->started_ms;
        return;
    }
    view->status = final;
    view->completed_ms = end;
    view->started_ms = end < p->started_ms ? 0 : p->started_ms;
    view->removed = now >= end + state->output_ttl_s * 1000;
}

int replicate_is_terminal(const char *status)
{
    return strcmp(status, "starting") != 0 && strcmp(status, "processing") != 0;
}

/* ---------------------------------------------------------------- */
/* The prediction object                                              */

static json_t *iso_time(int64_t ms)
{
    char text[32];

    clock_format_iso(ms, text);
    return json_string(text);
}

static json_t *output_json(struct sandbox *sb, const struct prediction *p)
{
    char url[256];
    json_t *list;

    if (!p->model->list_output) {
        snprintf(url, sizeof(url), "%s/replicate/files/%s/%s", sb->base_url,
                 p->id, p->plan.names[0]);
        return json_string(url);
    }
    list = json_array();
    for (int i = 0; i < p->plan.count; i++) {
        snprintf(url, sizeof(url), "%s/replicate/files/%s/%s", sb->base_url,
                 p->id, p->plan.names[i]);
        json_array_append_new(list, json_string(url));
    }
    return list;
}

static json_t *logs_json(const struct prediction *p,
                         const struct prediction_view *view)
{
    char logs[256];

    if (!view->started_ms)
        return json_string("");
    snprintf(logs, sizeof(logs), "Using seed: %" PRId64 "\n%s", p->seed_number,
             strcmp(view->status, "succeeded") == 0
                 ? "100%|##########| 4/4 [00:00<00:00, 5.21it/s]\n"
                 : "");
    return json_string(logs);
}

static json_t *urls_json(struct sandbox *sb, const struct prediction *p)
{
    char get[256];
    char cancel[256];
    char web[128];

    snprintf(get, sizeof(get), "%s/replicate/v1/predictions/%s", sb->base_url,
             p->id);
    snprintf(cancel, sizeof(cancel), "%s/replicate/v1/predictions/%s/cancel",
             sb->base_url, p->id);
    snprintf(web, sizeof(web), "https://replicate.com/p/%s", p->id);
    return json_pack("{s:s, s:s, s:s}", "get", get, "cancel", cancel, "web",
                     web);
}

/* The prediction as Replicate returns it at sandbox time now. Call under
 * the lock. */
json_t *replicate_prediction_json(struct sandbox *sb,
                                  const struct prediction *p, int64_t now)
{
    struct prediction_view view;
    int succeeded;
    json_t *object;

    replicate_view(sb->replicate, p, now, &view);
    succeeded = strcmp(view.status, "succeeded") == 0;
    object = json_pack(
        "{s:s, s:s, s:s, s:O, s:o, s:o, s:s?, s:s, s:s, s:b, s:o, s:o}", "id",
        p->id, "model", p->model->name, "version", p->version, "input",
        p->input, "output",
        succeeded && !view.removed ? output_json(sb, p) : json_null(), "logs",
        logs_json(p, &view), "error",
        strcmp(view.status, "failed") == 0 ? p->error : NULL, "status",
        view.status, "source", "api", "data_removed", view.removed,
        "created_at", iso_time(p->created_ms), "urls", urls_json(sb, p));

    if (view.started_ms)
        json_object_set_new(object, "started_at", iso_time(view.started_ms));
    if (p->deadline_ms)
        json_object_set_new(object, "deadline", iso_time(p->deadline_ms));
    if (view.completed_ms) {
        json_object_set_new(object, "completed_at",
                            iso_time(view.completed_ms));
        json_object_set_new(
            object, "metrics",
            json_pack(
                "{s:f, s:f}", "predict_time",
                view.started_ms ? (view.completed_ms - view.started_ms) / 1000.0
                                : 0.0,
                "total_time", (view.completed_ms - p->created_ms) / 1000.0));
    }
    return object;
}

/* ---------------------------------------------------------------- */
/* Errors and auth                                                    */

/* Sends body (taken) with metrics rounded, as Replicate prints them. */
void replicate_respond_json(struct http_response *resp, int status,
                            json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6));

    json_decref(body);
    if (!text) {
        http_response_error(resp, 500, "internal", "encoding JSON failed");
        return;
    }
    http_response_bytes(resp, status, "application/json", text, strlen(text));
    free(text);
}

/* Replicate's problem body: {"title"?, "detail", "status"}. */
void replicate_problem(struct http_response *resp, int status,
                       const char *title, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    json_t *body;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    body = json_pack("{s:s, s:i}", "detail", detail, "status", status);
    if (title)
        json_object_set_new(body, "title", json_string(title));
    http_response_json(resp, status, body);
}

void replicate_not_found(struct http_response *resp)
{
    replicate_problem(resp, 404, NULL,
                      "The requested resource could not be found.");
}

/* 422 "Input validation failed" with one "- field: description" line
 * per problem in detail, as Replicate words it. Takes problems. */
void replicate_invalid_input(struct http_response *resp, json_t *problems)
{
    char detail[2048] = "";
    size_t used = 0;
    size_t index;
    json_t *item;

    json_array_foreach(problems, index, item)
    {
        const char *field = json_string_value(json_object_get(item, "field"));
        const char *description =
            json_string_value(json_object_get(item, "description"));

        if (used < sizeof(detail))
            used += (size_t)snprintf(detail + used, sizeof(detail) - used,
                                     "- %s: %s\n", field, description);
    }
    http_response_json(resp, 422,
                       json_pack("{s:s, s:i, s:s, s:o}", "detail", detail,
                                 "status", 422, "title",
                                 "Input validation failed", "invalid_fields",
                                 problems));
}

/* Checks "Bearer <token>" or the legacy "Token <token>"; fills resp with
 * Replicate's 401 when the token is missing or not the configured one. */
int replicate_check_token(struct sandbox_call *call)
{
    const char *header = http_request_header(call->req, "Authorization");
    const char *token = NULL;
    int accepted;

    if (header && strncasecmp(header, "Bearer ", 7) == 0)
        token = header + 7;
    else if (header && strncasecmp(header, "Token ", 6) == 0)
        token = header + 6;
    if (!token || !*token) {
        replicate_problem(call->resp, 401, "Unauthenticated",
                          "You did not pass an authentication token");
        return -1;
    }

    sandbox_lock(call->sb);
    accepted = !call->sb->replicate->api_token ||
               strcmp(call->sb->replicate->api_token, token) == 0;
    sandbox_unlock(call->sb);
    if (!accepted) {
        /* NOTE: the detail for a wrong token is not documented. */
        replicate_problem(call->resp, 401, "Unauthenticated",
                          "You did not pass a valid authentication token");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- */
/* Settings and state                                                 */

static void clear_predictions(struct sandbox_replicate *state)
{
    for (size_t i = 0; i < state->count; i++)
        replicate_prediction_free(state->predictions[i]);
    free(state->predictions);
    state->predictions = NULL;
    state->count = 0;
    state->capacity = 0;
}

static void clear_settings(struct sandbox_replicate *state)
{
    free(state->api_token);
    free(state->fail_error);
    json_decref(state->versions);
    state->api_token = NULL;
    state->fail_error = NULL;
    state->versions = NULL;
}

static void apply_defaults(struct sandbox_replicate *state)
{
    clear_settings(state);
    clear_predictions(state);
    memset(state, 0, sizeof(*state));
    state->starting_ms = 200;
    state->processing_ms = 800;
    state->output_ttl_s = 3600;
    state->create_rpm = 600;
    state->window_minute = -1;
}

static int read_count(const json_t *value, const char *key, int64_t *out,
                      struct error *err)
{
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return error_set(err, ERR_INVALID,
                         "replicate.%s: expected an integer of 0 or more", key);
    *out = json_integer_value(value);
    return 0;
}

static int read_text(const json_t *value, const char *key, char **out,
                     struct error *err)
{
    if (!json_is_null(value) && !json_is_string(value))
        return error_set(err, ERR_INVALID,
                         "replicate.%s: expected a string or null", key);
    free(*out);
    *out = json_is_null(value) ? NULL : strdup(json_string_value(value));
    return 0;
}

static int read_versions(const json_t *value, json_t **out, struct error *err)
{
    const char *id;
    json_t *name;

    if (!json_is_object(value))
        return error_set(err, ERR_INVALID,
                         "replicate.versions: expected an object of "
                         "version id to \"owner/name\"");
    json_object_foreach((json_t *)value, id, name)
    {
        if (!json_is_string(name) ||
            !replicate_model_find(json_string_value(name)))
            return error_set(err, ERR_INVALID,
                             "replicate.versions.%s: expected the name of a "
                             "model the sandbox knows",
                             id);
    }
    json_decref(*out);
    *out = json_deep_copy(value);
    return 0;
}

static int apply_setting(struct sandbox_replicate *next, const char *key,
                         const json_t *value, struct error *err)
{
    if (strcmp(key, "api_token") == 0)
        return read_text(value, key, &next->api_token, err);
    if (strcmp(key, "fail_error") == 0)
        return read_text(value, key, &next->fail_error, err);
    if (strcmp(key, "starting_ms") == 0)
        return read_count(value, key, &next->starting_ms, err);
    if (strcmp(key, "processing_ms") == 0)
        return read_count(value, key, &next->processing_ms, err);
    if (strcmp(key, "output_ttl_s") == 0)
        return read_count(value, key, &next->output_ttl_s, err);
    if (strcmp(key, "create_rpm") == 0)
        return read_count(value, key, &next->create_rpm, err);
    if (strcmp(key, "fail_next") == 0)
        return read_count(value, key, &next->fail_next, err);
    if (strcmp(key, "versions") == 0)
        return read_versions(value, &next->versions, err);
    if (strcmp(key, "insufficient_credit") == 0) {
        if (!json_is_boolean(value))
            return error_set(err, ERR_INVALID,
                             "replicate.insufficient_credit: expected true "
                             "or false");
        next->insufficient_credit = json_is_true(value);
        return 0;
    }
    return error_set(err, ERR_INVALID,
                     "replicate.%s: unknown setting; known: api_token, "
                     "starting_ms, processing_ms, output_ttl_s, create_rpm, "
                     "fail_next, fail_error, insufficient_credit, versions",
                     key);
}

/* Applies settings all or nothing. Call under the lock. */
static int configure_locked(struct sandbox_replicate *state,
                            const json_t *settings, struct error *err)
{
    struct sandbox_replicate next = *state;
    const char *key;
    json_t *value;

    if (!json_is_object(settings))
        return error_set(err, ERR_INVALID, "replicate: expected an object");
    next.api_token = state->api_token ? strdup(state->api_token) : NULL;
    next.fail_error = state->fail_error ? strdup(state->fail_error) : NULL;
    next.versions = state->versions ? json_deep_copy(state->versions) : NULL;
    json_object_foreach((json_t *)settings, key, value)
    {
        if (apply_setting(&next, key, value, err) != 0) {
            clear_settings(&next);
            return -1;
        }
    }
    clear_settings(state);
    *state = next;
    return 0;
}

int sandbox_replicate_configure(struct sandbox *sb, const json_t *settings,
                                struct error *err)
{
    int rc;

    sandbox_lock(sb);
    rc = configure_locked(sb->replicate, settings, err);
    sandbox_unlock(sb);
    return rc;
}

void sandbox_replicate_reset(struct sandbox *sb)
{
    sandbox_lock(sb);
    apply_defaults(sb->replicate);
    sandbox_unlock(sb);
}

static json_t *settings_json(const struct sandbox_replicate *state)
{
    json_t *settings = json_pack(
        "{s:s?, s:I, s:I, s:I, s:I, s:I, s:s?, s:b}", "api_token",
        state->api_token, "starting_ms", (json_int_t)state->starting_ms,
        "processing_ms", (json_int_t)state->processing_ms, "output_ttl_s",
        (json_int_t)state->output_ttl_s, "create_rpm",
        (json_int_t)state->create_rpm, "fail_next",
        (json_int_t)state->fail_next, "fail_error", state->fail_error,
        "insufficient_credit", state->insufficient_credit);

    if (state->versions)
        json_object_set(settings, "versions", state->versions);
    return settings;
}

static json_t *saved_prediction(const struct prediction *p)
{
    json_t *saved = json_pack(
        "{s:s, s:s, s:s, s:O, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s?}", "id",
        p->id, "model", p->model->name, "version", p->version, "input",
        p->input, "seed", p->seed, "seed_number", (json_int_t)p->seed_number,
        "created_ms", (json_int_t)p->created_ms, "started_ms",
        (json_int_t)p->started_ms, "done_ms", (json_int_t)p->done_ms,
        "canceled_ms", (json_int_t)p->canceled_ms, "deadline_ms",
        (json_int_t)p->deadline_ms, "error", p->error);

    if (p->source) {
        size_t size = crypto_base64url_size(p->source_len);
        char *text = malloc(size);

        if (text) {
            crypto_base64url_encode(p->source, p->source_len, text, size);
            json_object_set_new(saved, "source", json_string(text));
            free(text);
        }
    }
    return saved;
}

json_t *sandbox_replicate_save(struct sandbox *sb)
{
    struct sandbox_replicate *state = sb->replicate;
    json_t *predictions = json_array();
    json_t *saved;

    sandbox_lock(sb);
    for (size_t i = 0; i < state->count; i++)
        json_array_append_new(predictions,
                              saved_prediction(state->predictions[i]));
    saved = json_pack("{s:o, s:o, s:I, s:I}", "settings", settings_json(state),
                      "predictions", predictions, "window_minute",
                      (json_int_t)state->window_minute, "window_creates",
                      (json_int_t)state->window_creates);
    sandbox_unlock(sb);
    return saved;
}

/* Rebuilds a saved prediction, its output plan included. */
static struct prediction *loaded_prediction(const json_t *saved,
                                            struct error *err)
{
    struct prediction *p = calloc(1, sizeof(*p));
    const char *model = json_string_value(json_object_get(saved, "model"));
    const char *source = json_string_value(json_object_get(saved, "source"));
    const char *error = json_string_value(json_object_get(saved, "error"));
    int width = 0;
    int height = 0;

    if (!p)
        return NULL;
    p->model = model ? replicate_model_find(model) : NULL;
    p->input = json_deep_copy(json_object_get(saved, "input"));
    if (!p->model || !json_is_object(p->input)) {
        error_set(err, ERR_INVALID, "saved prediction has no known model");
        replicate_prediction_free(p);
        return NULL;
    }
    snprintf(p->id, sizeof(p->id), "%s",
             json_string_value(json_object_get(saved, "id")));
    snprintf(p->version, sizeof(p->version), "%s",
             json_string_value(json_object_get(saved, "version")));
    snprintf(p->seed, sizeof(p->seed), "%s",
             json_string_value(json_object_get(saved, "seed")));
    p->seed_number = json_integer_value(json_object_get(saved, "seed_number"));
    p->created_ms = json_integer_value(json_object_get(saved, "created_ms"));
    p->started_ms = json_integer_value(json_object_get(saved, "started_ms"));
    p->done_ms = json_integer_value(json_object_get(saved, "done_ms"));
    p->canceled_ms = json_integer_value(json_object_get(saved, "canceled_ms"));
    p->deadline_ms = json_integer_value(json_object_get(saved, "deadline_ms"));
    p->error = error ? strdup(error) : NULL;

    if (source) {
        p->source = malloc(strlen(source));
        long length = p->source
                          ? crypto_base64url_decode(source, strlen(source),
                                                    p->source, strlen(source))
                          : -1;
        p->source_len = length > 0 ? (size_t)length : 0;
        if (length <= 0 || sandbox_image_size(p->source, p->source_len, &width,
                                              &height, err) != 0) {
            replicate_prediction_free(p);
            return NULL;
        }
    }
    if (!p->error && replicate_model_plan(p->model, p->input, width, height,
                                          &p->plan, err) != 0) {
        replicate_prediction_free(p);
        return NULL;
    }
    return p;
}

int sandbox_replicate_load(struct sandbox *sb, const json_t *state,
                           struct error *err)
{
    struct sandbox_replicate *replicate = sb->replicate;
    size_t index;
    const json_t *saved;
    int rc = 0;

    sandbox_lock(sb);
    apply_defaults(replicate);
    if (json_object_get(state, "settings")) {
        json_t *settings = json_deep_copy(json_object_get(state, "settings"));

        /* Saved nulls mean "unset", which configure spells as null too,
         * except for the version map, which is simply absent. */
        rc = configure_locked(replicate, settings, err);
        json_decref(settings);
    }
    json_array_foreach(json_object_get(state, "predictions"), index, saved)
    {
        struct prediction *p = rc == 0 ? loaded_prediction(saved, err) : NULL;

        if (!p || replicate_add(replicate, p) != 0) {
            if (p)
                error_set(err, ERR_PERMANENT, "out of memory");
            replicate_prediction_free(p);
            error_prefix(err, "replicate prediction %zu", index);
            rc = -1;
            break;
        }
    }
    replicate->window_minute =
        json_integer_value(json_object_get(state, "window_minute"));
    replicate->window_creates =
        json_integer_value(json_object_get(state, "window_creates"));
    sandbox_unlock(sb);
    return rc;
}

void sandbox_replicate_free(struct sandbox *sb)
{
    if (!sb->replicate)
        return;
    apply_defaults(sb->replicate);
    free(sb->replicate);
    sb->replicate = NULL;
}

/* ---------------------------------------------------------------- */
/* Reading and cancelling                                             */

/* GET /replicate/v1/predictions/{id} */
static void handle_get(struct sandbox_call *call)
{
    struct sandbox *sb = call->sb;
    struct prediction *p;

    if (replicate_check_token(call) != 0)
        return;
    sandbox_lock(sb);
    p = replicate_find(sb->replicate, http_request_param(call->req, "id"));
    if (p)
        replicate_respond_json(
            call->resp, 200,
            replicate_prediction_json(sb, p, sandbox_now_ms(sb)));
    sandbox_unlock(sb);
    if (!p)
        replicate_not_found(call->resp);
}

/* POST /replicate/v1/predictions/{id}/cancel */
static void handle_cancel(struct sandbox_call *call)
{
    struct sandbox *sb = call->sb;
    struct prediction *p;

    if (replicate_check_token(call) != 0)
        return;
    sandbox_lock(sb);
    p = replicate_find(sb->replicate, http_request_param(call->req, "id"));
    if (p) {
        struct prediction_view view;
        int64_t now = sandbox_now_ms(sb);

        replicate_view(sb->replicate, p, now, &view);
        if (!replicate_is_terminal(view.status))
            p->canceled_ms = now;
        replicate_respond_json(call->resp, 200,
                               replicate_prediction_json(sb, p, now));
    }
    sandbox_unlock(sb);
    if (!p)
        replicate_not_found(call->resp);
}

/* GET /replicate/v1/predictions: newest first, one page of 100. */
static void handle_list(struct sandbox_call *call)
{
    struct sandbox *sb = call->sb;
    const char *after = http_request_query(call->req, "created_after");
    const char *before = http_request_query(call->req, "created_before");
    int64_t after_ms = after ? clock_parse_iso(after) : -1;
    int64_t before_ms = before ? clock_parse_iso(before) : -1;
    json_t *results = json_array();
    int64_t now;

    if (replicate_check_token(call) != 0) {
        json_decref(results);
        return;
    }
    sandbox_lock(sb);
    now = sandbox_now_ms(sb);
    for (size_t i = sb->replicate->count;
         i > 0 && json_array_size(results) < LIST_PAGE_MAX; i--) {
        const struct prediction *p = sb->replicate->predictions[i - 1];

        if ((after_ms >= 0 && p->created_ms <= after_ms) ||
            (before_ms >= 0 && p->created_ms >= before_ms))
            continue;
        json_array_append_new(results, replicate_prediction_json(sb, p, now));
    }
    sandbox_unlock(sb);
    http_response_json(
        call->resp, 200,
        json_pack("{s:n, s:n, s:o}", "next", "previous", "results", results));
}

/* ---------------------------------------------------------------- */
/* Output files                                                       */

/* The inputs of one file render, copied under the lock so that rendering can
 * run without it. */
struct render_job {
    const struct replicate_model *model;
    struct replicate_output_plan plan;
    int index;
    char seed[80];
    unsigned char *source;
    size_t source_len;
};

static void file_not_found(struct http_response *resp)
{
    /* NOTE: what replicate.delivery sends for a deleted file is not
     * documented, so the sandbox sends a plain 404. */
    http_response_bytes(resp, 404, "text/plain; charset=utf-8", "Not Found\n",
                        10);
}

/*
 * Looks up the file under the lock. Returns 1 when the bytes were cached
 * and resp is filled, 0 when job was filled for rendering, -1 when there
 * is no such file (now).
 */
static int find_file(struct sandbox *sb, const char *id, const char *name,
                     struct http_response *resp, struct render_job *job)
{
    struct prediction *p = replicate_find(sb->replicate, id);
    struct prediction_view view;

    if (!p)
        return -1;
    replicate_view(sb->replicate, p, sandbox_now_ms(sb), &view);
    if (strcmp(view.status, "succeeded") != 0 || view.removed)
        return -1;
    for (int i = 0; i < p->plan.count; i++) {
        if (strcmp(p->plan.names[i], name) != 0)
            continue;
        if (p->files[i].len > 0) {
            http_response_bytes(resp, 200,
                                replicate_content_type(p->plan.format),
                                p->files[i].data, p->files[i].len);
            return 1;
        }
        job->model = p->model;
        job->plan = p->plan;
        job->index = i;
        snprintf(job->seed, sizeof(job->seed), "%s", p->seed);
        if (p->source) {
            job->source = malloc(p->source_len);
            if (!job->source)
                return -1;
            memcpy(job->source, p->source, p->source_len);
            job->source_len = p->source_len;
        }
        return 0;
    }
    return -1;
}

/* Keeps rendered bytes for later downloads, if the prediction is still
 * there and no other download stored them first. Takes out. */
static void cache_file(struct sandbox *sb, const char *id, int index,
                       struct buf *out)
{
    struct prediction *p;

    sandbox_lock(sb);
    p = replicate_find(sb->replicate, id);
    if (p && p->files[index].len == 0) {
        p->files[index] = *out;
        buf_init(out, 0);
    }
    sandbox_unlock(sb);
    buf_free(out);
}

/* GET /replicate/files/{id}/{name}: no auth, as replicate.delivery. */
static void handle_file(struct sandbox_call *call)
{
    struct sandbox *sb = call->sb;
    const char *id = http_request_param(call->req, "id");
    struct render_job job = {0};
    struct buf out;
    struct error err;
    int found;

    sandbox_lock(sb);
    found = find_file(sb, id, http_request_param(call->req, "name"), call->resp,
                      &job);
    sandbox_unlock(sb);
    if (found != 0) {
        if (found < 0)
            file_not_found(call->resp);
        return;
    }

    if (replicate_model_render(job.model, &job.plan, job.index, job.seed,
                               job.source, job.source_len, &out, &err) != 0) {
        replicate_problem(call->resp, 500, "Internal Server Error",
                          "rendering the output failed: %s", err.message);
    } else {
        http_response_bytes(call->resp, 200,
                            replicate_content_type(job.plan.format), out.data,
                            out.len);
        cache_file(sb, id, job.index, &out);
    }
    free(job.source);
}

int sandbox_replicate_init(struct sandbox *sb, struct http_server *server,
                           struct error *err)
{
    static const struct {
        const char *method;
        const char *pattern;
        sandbox_handler_fn handler;
    } routes[] = {
        {"POST", "/replicate/v1/predictions", replicate_create_by_version},
        {"GET", "/replicate/v1/predictions", handle_list},
        {"GET", "/replicate/v1/predictions/{id}", handle_get},
        {"POST", "/replicate/v1/predictions/{id}/cancel", handle_cancel},
        {"POST", "/replicate/v1/models/{owner}/{name}/predictions",
         replicate_create_by_model},
        {"GET", "/replicate/files/{id}/{name}", handle_file},
    };

    sb->replicate = calloc(1, sizeof(*sb->replicate));
    if (!sb->replicate)
        return error_set(err, ERR_PERMANENT, "out of memory");
    apply_defaults(sb->replicate);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (sandbox_route(sb, server, routes[i].method, routes[i].pattern,
                          routes[i].handler) != 0)
            return error_set(err, ERR_PERMANENT, "registering %s %s failed",
                             routes[i].method, routes[i].pattern);
    }
    return 0;
}
