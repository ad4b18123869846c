/*
 * The control API under /__sandbox: the clock, fault rules, the request
 * log, settings, reset and save. Tests and tools drive the sandbox with
 * it; its calls are neither faulted nor written to the request log. The
 * site calls (/__sandbox/sites) belong to the Wix emulation.
 */
#include "frame.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Maximum single advance of the clock: ten years. */
#define CLOCK_ADVANCE_MAX_MS (10LL * 366 * 24 * 60 * 60 * 1000)

static void reply_error(struct http_response *resp, const struct error *err)
{
    http_response_error(resp, err->kind == ERR_NOT_FOUND ? 404 : 400,
                        err->kind == ERR_NOT_FOUND ? "not_found" : "invalid",
                        "%s", err->message);
}

static json_t *clock_json(struct sandbox *sb)
{
    int64_t now = sandbox_now_ms(sb);
    char when[32];

    clock_format_iso(now, when);
    return json_pack(
        "{ss sI sI}", "now", when, "now_ms", (json_int_t)now, "offset_ms",
        (json_int_t)__atomic_load_n(&sb->clock_offset_ms, __ATOMIC_SEQ_CST));
}

static void get_clock(struct http_request *req, struct http_response *resp,
                      void *ctx)
{
    (void)req;
    http_response_json(resp, 200, clock_json(ctx));
}

/* Reads {"advance_seconds": N} or {"advance_ms": N} into milliseconds. */
static int read_advance(const json_t *body, int64_t *out, struct error *err)
{
    const json_t *seconds = json_object_get(body, "advance_seconds");
    const json_t *ms = json_object_get(body, "advance_ms");
    double value;

    if ((seconds != NULL) == (ms != NULL))
        return error_set(err, ERR_INVALID,
                         "send exactly one of advance_seconds and advance_ms");
    if (!json_is_number(seconds ? seconds : ms))
        return error_set(err, ERR_INVALID, "%s must be a number",
                         seconds ? "advance_seconds" : "advance_ms");
    value = json_number_value(seconds ? seconds : ms);
    if (seconds)
        value *= 1000.0;
    if (!isfinite(value) || value < 0 || value > CLOCK_ADVANCE_MAX_MS)
        return error_set(err, ERR_INVALID,
                         "the clock only moves forward, by at most ten "
                         "years at a time");
    *out = (int64_t)llround(value);
    return 0;
}

static void post_clock(struct http_request *req, struct http_response *resp,
                       void *ctx)
{
    struct sandbox *sb = ctx;
    struct error err;
    int64_t delta = 0;
    json_t *body = sandbox_read_json(req, &err);

    if (!body || read_advance(body, &delta, &err) != 0) {
        reply_error(resp, &err);
        json_decref(body);
        return;
    }
    json_decref(body);
    __atomic_add_fetch(&sb->clock_offset_ms, delta, __ATOMIC_SEQ_CST);
    if (!sb->opts.quiet)
        log_info("sandbox", "clock advanced by_ms=%lld", (long long)delta);
    http_response_json(resp, 200, clock_json(sb));
}

static void post_fault(struct http_request *req, struct http_response *resp,
                       void *ctx)
{
    struct error err;
    json_t *body = sandbox_read_json(req, &err);
    json_t *fault = body ? faults_add(ctx, body, &err) : NULL;

    json_decref(body);
    if (!fault) {
        reply_error(resp, &err);
        return;
    }
    http_response_json(resp, 201, json_pack("{so}", "fault", fault));
}

static void get_faults(struct http_request *req, struct http_response *resp,
                       void *ctx)
{
    (void)req;
    http_response_json(resp, 200,
                       json_pack("{so}", "faults", faults_list(ctx)));
}

static void delete_faults(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    (void)req;
    faults_clear(ctx);
    http_response_json(resp, 200, json_object());
}

static void delete_fault(struct http_request *req, struct http_response *resp,
                         void *ctx)
{
    const char *id = http_request_param(req, "id");
    char *end;
    long long value = strtoll(id, &end, 10);

    if (*end != '\0' || faults_remove(ctx, value) != 0) {
        http_response_error(resp, 404, "not_found", "no fault with id %s", id);
        return;
    }
    http_response_json(resp, 200, json_object());
}

static int entry_selected(const json_t *entry, long long since,
                          const char *prefix, const char *instance_id)
{
    const char *path = json_string_value(json_object_get(entry, "path"));
    const char *entry_instance =
        json_string_value(json_object_get(entry, "instance_id"));

    if (json_integer_value(json_object_get(entry, "seq")) < since)
        return 0;
    if (prefix && strncmp(path, prefix, strlen(prefix)) != 0)
        return 0;
    return !instance_id || strcmp(entry_instance, instance_id) == 0;
}

/* GET /__sandbox/requests?since=SEQ&prefix=/wix/&instance_id=ID */
static void get_requests(struct http_request *req, struct http_response *resp,
                         void *ctx)
{
    struct sandbox *sb = ctx;
    const char *since = http_request_query(req, "since");
    const char *prefix = http_request_query(req, "prefix");
    const char *instance_id = http_request_query(req, "instance_id");
    long long from = since ? strtoll(since, NULL, 10) : 0;
    json_t *out = json_array();
    size_t i;
    json_t *entry;
    json_int_t next;

    sandbox_lock(sb);
    json_array_foreach(sb->requests, i, entry)
    {
        if (entry_selected(entry, from, prefix, instance_id))
            json_array_append_new(out, json_deep_copy(entry));
    }
    next = (json_int_t)sb->request_seq;
    sandbox_unlock(sb);
    http_response_json(resp, 200,
                       json_pack("{so sI}", "requests", out, "next_seq", next));
}

static void delete_requests(struct http_request *req,
                            struct http_response *resp, void *ctx)
{
    struct sandbox *sb = ctx;

    (void)req;
    sandbox_lock(sb);
    json_array_clear(sb->requests);
    sandbox_unlock(sb);
    http_response_json(resp, 200, json_object());
}

static void post_reset(struct http_request *req, struct http_response *resp,
                       void *ctx)
{
    struct sandbox *sb = ctx;

    (void)req;
    sandbox_reset(sb);
    if (!sb->opts.quiet)
        log_info("sandbox", "state reset");
    http_response_json(resp, 200, json_object());
}

typedef int (*configure_fn)(struct sandbox *sb, const json_t *settings,
                            struct error *err);

static int configure_all(struct sandbox *sb, const json_t *body,
                         struct error *err)
{
    static const struct {
        const char *name;
        configure_fn configure;
    } services[] = {
        {"wix", sandbox_wix_configure},
        {"openai", sandbox_openai_configure},
        {"replicate", sandbox_replicate_configure},
    };
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)body, key, value)
    {
        size_t i = 0;

        while (i < 3 && strcmp(services[i].name, key) != 0)
            i++;
        if (i == 3)
            return error_set(err, ERR_INVALID,
                             "unknown service \"%s\": use wix, openai or "
                             "replicate",
                             key);
        if (!json_is_object(value))
            return error_set(err, ERR_INVALID, "%s: expected an object", key);
        if (services[i].configure(sb, value, err) != 0) {
            error_prefix(err, "%s", key);
            return -1;
        }
    }
    return 0;
}

static void post_config(struct http_request *req, struct http_response *resp,
                        void *ctx)
{
    struct error err;
    json_t *body = sandbox_read_json(req, &err);

    if (!body || configure_all(ctx, body, &err) != 0) {
        reply_error(resp, &err);
        json_decref(body);
        return;
    }
    json_decref(body);
    http_response_json(resp, 200, json_object());
}

static void post_save(struct http_request *req, struct http_response *resp,
                      void *ctx)
{
    struct sandbox *sb = ctx;
    struct error err;

    (void)req;
    if (sandbox_state_save(sb, &err) != 0) {
        if (err.kind == ERR_INVALID)
            reply_error(resp, &err);
        else
            http_response_error(resp, 500, "save_failed", "%s", err.message);
        return;
    }
    http_response_json(resp, 200,
                       json_pack("{ss}", "saved", sb->opts.state_file));
}

/* GET /__sandbox: where each service lives and the app id in use. */
static void get_info(struct http_request *req, struct http_response *resp,
                     void *ctx)
{
    struct sandbox *sb = ctx;
    char wix[160];
    char openai[160];
    char replicate[160];

    (void)req;
    snprintf(wix, sizeof(wix), "%s/wix", sb->base_url);
    snprintf(openai, sizeof(openai), "%s/openai/v1", sb->base_url);
    snprintf(replicate, sizeof(replicate), "%s/replicate/v1", sb->base_url);
    http_response_json(resp, 200,
                       json_pack("{ss ss ss ss ss so}", "base_url",
                                 sb->base_url, "wix_url", wix, "openai_url",
                                 openai, "replicate_url", replicate, "app_id",
                                 sb->opts.app_id, "clock", clock_json(sb)));
}

int sandbox_control_init(struct sandbox *sb, struct http_server *server,
                         struct error *err)
{
    static const struct {
        const char *method;
        const char *pattern;
        http_handler_fn handler;
    } routes[] = {
        {"GET", "/__sandbox", get_info},
        {"GET", "/__sandbox/clock", get_clock},
        {"POST", "/__sandbox/clock", post_clock},
        {"POST", "/__sandbox/faults", post_fault},
        {"GET", "/__sandbox/faults", get_faults},
        {"DELETE", "/__sandbox/faults", delete_faults},
        {"DELETE", "/__sandbox/faults/{id}", delete_fault},
        {"GET", "/__sandbox/requests", get_requests},
        {"DELETE", "/__sandbox/requests", delete_requests},
        {"POST", "/__sandbox/reset", post_reset},
        {"POST", "/__sandbox/config", post_config},
        {"POST", "/__sandbox/save", post_save},
    };

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (http_server_route(server, routes[i].method, routes[i].pattern,
                              routes[i].handler, sb) != 0)
            return error_set(err, ERR_PERMANENT, "cannot add route %s %s",
                             routes[i].method, routes[i].pattern);
    }
    return 0;
}
