/*
 * The sandbox frame: the lock, sandbox time, the wrapper that applies
 * faults and writes the request log around every emulated endpoint, and
 * the state file.
 */
#include "frame.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Oldest entries leave the request log past this many. */
#define REQUEST_LOG_MAX 100000
#define STATE_FORMAT "sitesmith-sandbox-state"
#define STATE_VERSION 1

struct route_entry {
    struct sandbox *sb;
    sandbox_handler_fn handler;
    char *pattern;
    struct route_entry *next;
};

void sandbox_lock(struct sandbox *sb)
{
    pthread_mutex_lock(&sb->lock);
}

void sandbox_unlock(struct sandbox *sb)
{
    pthread_mutex_unlock(&sb->lock);
}

int64_t sandbox_now_ms(struct sandbox *sb)
{
    return clock_now_ms() +
           __atomic_load_n(&sb->clock_offset_ms, __ATOMIC_SEQ_CST);
}

json_t *sandbox_read_json(const struct http_request *req, struct error *err)
{
    json_t *root;

    if (req->body_len == 0)
        return json_object();
    root = json_parse(req->body, req->body_len, 64, err);
    if (!root) {
        error_prefix(err, "request body is not valid JSON");
        return NULL;
    }
    if (!json_is_object(root)) {
        error_set(err, ERR_INVALID,
                  "request body must be a JSON object, found %s",
                  json_type_phrase(root));
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Appends the arrival of a call to the log; the entry gets its status when
 * the call ends. Call with the lock held. Returns a borrowed entry. */
static json_t *log_arrival(struct sandbox *sb, const struct http_request *req)
{
    int64_t now = sandbox_now_ms(sb);
    char when[32];
    json_t *entry;

    clock_format_iso(now, when);
    entry = json_pack("{sI ss ss ss sn ss sI}", "seq",
                      (json_int_t)sb->request_seq++, "method", req->method,
                      "path", req->path, "instance_id", "", "status", "time",
                      when, "time_ms", (json_int_t)now);
    if (json_array_size(sb->requests) >= REQUEST_LOG_MAX)
        json_array_remove(sb->requests, 0);
    json_array_append_new(sb->requests, entry);
    return entry;
}

static void log_completion(json_t *entry, const struct sandbox_call *call,
                           const struct fault_hit *hit)
{
    int status = call->resp->status;

    if (call->resp->abort == HTTP_ABORT_DROP)
        status = 0;
    json_object_set_new(entry, "status", json_integer(status));
    json_object_set_new(entry, "instance_id", json_string(call->instance_id));
    if (hit) {
        json_object_set_new(entry, "fault",
                            json_string(fault_mode_name(hit->mode)));
        json_object_set_new(entry, "fault_id", json_integer(hit->fault_id));
    }
}

static int handler_runs(const struct fault_hit *hit)
{
    return !hit || (hit->mode != FAULT_STATUS && !hit->skip_handler);
}

static void run_route(struct http_request *req, struct http_response *resp,
                      void *ctx)
{
    struct route_entry *route = ctx;
    struct sandbox *sb = route->sb;
    struct sandbox_call call = {.sb = sb, .req = req, .resp = resp};
    struct fault_hit hit;
    int faulted;
    json_t *entry;

    sandbox_lock(sb);
    entry = json_incref(log_arrival(sb, req));
    faulted = faults_take(sb, req->method, req->path, route->pattern, &hit);
    sandbox_unlock(sb);

    if (faulted && hit.delay_ms > 0)
        clock_sleep_ms(hit.delay_ms);
    if (handler_runs(faulted ? &hit : NULL))
        route->handler(&call);
    if (faulted)
        faults_apply(&hit, req->path, resp);

    sandbox_lock(sb);
    log_completion(entry, &call, faulted ? &hit : NULL);
    sandbox_unlock(sb);
    json_decref(entry);
    if (faulted)
        fault_hit_release(&hit);
}

int sandbox_route(struct sandbox *sb, struct http_server *server,
                  const char *method, const char *pattern,
                  sandbox_handler_fn handler)
{
    struct route_entry *route = calloc(1, sizeof(*route));

    if (!route || !(route->pattern = strdup(pattern))) {
        free(route);
        return -1;
    }
    route->sb = sb;
    route->handler = handler;
    route->next = sb->routes;
    sb->routes = route;
    if (http_server_route(server, method, pattern, run_route, route) != 0) {
        log_error("sandbox", "adding a route failed method=%s pattern=%s",
                  method, pattern);
        return -1;
    }
    return 0;
}

int sandbox_init(struct sandbox *sb, const struct sandbox_options *opts,
                 struct error *err)
{
    memset(sb, 0, sizeof(*sb));
    if (pthread_mutex_init(&sb->lock, NULL) != 0)
        return error_set(err, ERR_PERMANENT, "pthread_mutex_init failed");
    sb->opts = *opts;
    sb->requests = json_array();
    snprintf(sb->base_url, sizeof(sb->base_url), "http://127.0.0.1");
    return 0;
}

void sandbox_reset(struct sandbox *sb)
{
    sandbox_wix_reset(sb);
    sandbox_openai_reset(sb);
    sandbox_replicate_reset(sb);
    faults_clear(sb);

    sandbox_lock(sb);
    json_array_clear(sb->requests);
    __atomic_store_n(&sb->clock_offset_ms, 0, __ATOMIC_SEQ_CST);
    sandbox_unlock(sb);
}

void sandbox_free(struct sandbox *sb)
{
    sandbox_webhooks_free(sb);
    sandbox_wix_free(sb);
    sandbox_openai_free(sb);
    sandbox_replicate_free(sb);
    faults_free(sb);
    while (sb->routes) {
        struct route_entry *route = sb->routes;

        sb->routes = route->next;
        free(route->pattern);
        free(route);
    }
    json_decref(sb->requests);
    sb->requests = NULL;
    pthread_mutex_destroy(&sb->lock);
}

/* Writes text to path through a temporary file, so a crash leaves either
 * the old state or the new one. */
static int write_atomically(const char *path, const char *text,
                            struct error *err)
{
    char tmp[4096];
    FILE *file;
    int failed;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
        (int)sizeof(tmp))
        return error_set(err, ERR_INVALID, "state path %s is too long", path);
    file = fopen(tmp, "w");
    if (!file)
        return error_set(err, ERR_PERMANENT, "cannot write %s: %s", tmp,
                         strerror(errno));
    failed =
        fputs(text, file) < 0 || fflush(file) != 0 || fsync(fileno(file)) != 0;
    failed |= fclose(file) != 0;
    if (failed || rename(tmp, path) != 0) {
        error_set(err, ERR_PERMANENT, "cannot write %s: %s", path,
                  strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int sandbox_state_save(struct sandbox *sb, struct error *err)
{
    char when[32];
    json_t *state;
    char *text;
    int rc;

    if (!sb->opts.state_file)
        return error_set(err, ERR_INVALID,
                         "no state file: start the sandbox with --state FILE");
    clock_format_iso(sandbox_now_ms(sb), when);
    state = json_pack(
        "{ss si ss sI so so so}", "format", STATE_FORMAT, "version",
        STATE_VERSION, "saved_at", when, "clock_offset_ms",
        (json_int_t)__atomic_load_n(&sb->clock_offset_ms, __ATOMIC_SEQ_CST),
        "wix", sandbox_wix_save(sb), "openai", sandbox_openai_save(sb),
        "replicate", sandbox_replicate_save(sb));
    text = state ? json_dumps(state, JSON_COMPACT) : NULL;
    json_decref(state);
    if (!text)
        return error_set(err, ERR_PERMANENT,
                         "cannot serialise the sandbox state");
    rc = write_atomically(sb->opts.state_file, text, err);
    free(text);
    return rc;
}

static json_t *read_state_file(const char *path, struct error *err)
{
    json_error_t parse_error;
    json_t *state = json_load_file(path, 0, &parse_error);
    const char *format;

    if (!state) {
        error_set(err, ERR_INVALID, "state file %s line %d: %s", path,
                  parse_error.line, parse_error.text);
        return NULL;
    }
    if (json_get_string(state, "format", &format, err) != 0 ||
        strcmp(format, STATE_FORMAT) != 0 ||
        json_integer_value(json_object_get(state, "version")) !=
            STATE_VERSION) {
        error_set(err, ERR_INVALID,
                  "%s is not a sitesmith-sandbox state file of version %d: "
                  "delete it or pass another --state file",
                  path, STATE_VERSION);
        json_decref(state);
        return NULL;
    }
    return state;
}

int sandbox_state_load(struct sandbox *sb, struct error *err)
{
    const char *path = sb->opts.state_file;
    json_t *state;
    json_t *part;
    int rc = 0;

    if (!path || access(path, F_OK) != 0)
        return 0;
    state = read_state_file(path, err);
    if (!state)
        return -1;
    __atomic_store_n(
        &sb->clock_offset_ms,
        json_integer_value(json_object_get(state, "clock_offset_ms")),
        __ATOMIC_SEQ_CST);
    if ((part = json_object_get(state, "wix")))
        rc = sandbox_wix_load(sb, part, err);
    if (rc == 0 && (part = json_object_get(state, "openai")))
        rc = sandbox_openai_load(sb, part, err);
    if (rc == 0 && (part = json_object_get(state, "replicate")))
        rc = sandbox_replicate_load(sb, part, err);
    if (rc != 0)
        error_prefix(err, "state file %s", path);
    json_decref(state);
    return rc;
}
