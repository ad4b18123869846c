/*
 * Fault rules: POST /__sandbox/faults makes the next N calls to an
 * endpoint (or a share of them) fail the way the real service fails, wait,
 * lose their response or get a broken one.
 */
#include "frame.h"

#include "core/crypto.h"
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#define FAULT_ENDPOINT_MAX 320
#define FAULT_DELAY_MAX_MS (10LL * 60 * 1000)

struct fault {
    int64_t id;
    char endpoint[FAULT_ENDPOINT_MAX]; /* "POST /wix/..." or "*" */
    enum fault_mode mode;
    int status;
    int64_t delay_ms;
    int64_t remaining; /* uses left; -1 while unlimited */
    double share;      /* 0 < share <= 1: the part of calls it hits */
    int skip_handler;
    int64_t retry_after_s;
    json_t *body;
    int64_t hits;
    struct fault *next;
};

struct fault_list {
    struct fault *head;
    int64_t next_id;
};

static struct fault_list *fault_list_of(struct sandbox *sb)
{
    if (!sb->faults)
        sb->faults = calloc(1, sizeof(struct fault_list));
    return sb->faults;
}

const char *fault_mode_name(enum fault_mode mode)
{
    static const char *const names[] = {"status", "delay", "drop", "truncate",
                                        "malformed"};

    return names[mode];
}

static int parse_mode(const char *text, enum fault_mode *out)
{
    for (int mode = FAULT_STATUS; mode <= FAULT_MALFORMED; mode++) {
        if (strcmp(text, fault_mode_name(mode)) == 0) {
            *out = mode;
            return 0;
        }
    }
    return -1;
}

static int parse_endpoint(const json_t *spec, struct fault *fault,
                          struct error *err)
{
    const char *endpoint;

    if (json_get_string(spec, "endpoint", &endpoint, err) != 0)
        return -1;
    if (strcmp(endpoint, "*") != 0 && !strchr(endpoint, ' '))
        return error_set(err, ERR_INVALID,
                         "endpoint \"%s\" must be \"METHOD /path\" (e.g. "
                         "\"POST /wix/blog/v3/draft-posts\") or \"*\"",
                         endpoint);
    if (strlen(endpoint) >= sizeof(fault->endpoint))
        return error_set(err, ERR_INVALID, "endpoint is longer than %d bytes",
                         FAULT_ENDPOINT_MAX - 1);
    strcpy(fault->endpoint, endpoint);
    return 0;
}

static int parse_mode_fields(const json_t *spec, struct fault *fault,
                             struct error *err)
{
    const char *mode;
    int64_t status;

    if (json_opt_string(spec, "mode", "status", &mode, err) != 0)
        return -1;
    if (parse_mode(mode, &fault->mode) != 0)
        return error_set(err, ERR_INVALID,
                         "mode \"%s\" is not one of status, delay, drop, "
                         "truncate, malformed",
                         mode);
    if (json_opt_int(spec, "status", 503, &status, err) != 0 ||
        json_opt_int(spec, "delay_ms", 0, &fault->delay_ms, err) != 0 ||
        json_opt_int(spec, "retry_after_s", 0, &fault->retry_after_s, err) !=
            0 ||
        json_opt_bool(spec, "skip_handler", 0, &fault->skip_handler, err) != 0)
        return -1;
    if (status < 100 || status > 599)
        return error_set(err, ERR_INVALID,
                         "status %lld is not an HTTP status (100..599)",
                         (long long)status);
    fault->status = (int)status;
    if (fault->delay_ms < 0 || fault->delay_ms > FAULT_DELAY_MAX_MS)
        return error_set(err, ERR_INVALID, "delay_ms %lld is outside 0..%lld",
                         (long long)fault->delay_ms, FAULT_DELAY_MAX_MS);
    if (fault->mode == FAULT_DELAY && fault->delay_ms == 0)
        return error_set(err, ERR_INVALID,
                         "mode \"delay\" needs delay_ms above 0");
    return 0;
}

static int parse_amount(const json_t *spec, struct fault *fault,
                        struct error *err)
{
    const json_t *share = json_object_get(spec, "share");
    int64_t count;

    if (json_opt_int(spec, "count", -1, &count, err) != 0)
        return -1;
    if (count == 0 || count < -1)
        return error_set(err, ERR_INVALID,
                         "count %lld must be 1 or more (leave it out for "
                         "no limit)",
                         (long long)count);
    fault->remaining = count;
    fault->share = 1.0;
    if (share && !json_is_null(share)) {
        if (!json_is_number(share) || json_number_value(share) <= 0 ||
            json_number_value(share) > 1)
            return error_set(err, ERR_INVALID,
                             "share must be a number above 0 and at most 1");
        fault->share = json_number_value(share);
    } else if (count == -1) {
        /* Neither count nor share: the next call only. */
        fault->remaining = 1;
    }
    return 0;
}

static json_t *fault_to_json(const struct fault *fault)
{
    json_t *out = json_pack(
        "{sI ss ss si sI sI sb sI sI}", "id", (json_int_t)fault->id, "endpoint",
        fault->endpoint, "mode", fault_mode_name(fault->mode), "status",
        fault->status, "delay_ms", (json_int_t)fault->delay_ms, "retry_after_s",
        (json_int_t)fault->retry_after_s, "skip_handler", fault->skip_handler,
        "hits", (json_int_t)fault->hits, "count", (json_int_t)fault->remaining);

    if (fault->remaining < 0)
        json_object_set_new(out, "count", json_null());
    json_object_set_new(out, "share", json_real(fault->share));
    if (fault->body)
        json_object_set(out, "body", fault->body);
    return out;
}

json_t *faults_add(struct sandbox *sb, const json_t *spec, struct error *err)
{
    struct fault *fault = calloc(1, sizeof(*fault));
    struct fault_list *list;
    struct fault **tail;
    json_t *out;

    if (!fault) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    if (parse_endpoint(spec, fault, err) != 0 ||
        parse_mode_fields(spec, fault, err) != 0 ||
        parse_amount(spec, fault, err) != 0) {
        free(fault);
        return NULL;
    }
    fault->body = json_incref(json_object_get(spec, "body"));

    sandbox_lock(sb);
    list = fault_list_of(sb);
    fault->id = ++list->next_id;
    for (tail = &list->head; *tail; tail = &(*tail)->next)
        ;
    *tail = fault;
    out = fault_to_json(fault);
    sandbox_unlock(sb);
    return out;
}

json_t *faults_list(struct sandbox *sb)
{
    json_t *out = json_array();

    sandbox_lock(sb);
    for (struct fault *f = fault_list_of(sb)->head; f; f = f->next)
        json_array_append_new(out, fault_to_json(f));
    sandbox_unlock(sb);
    return out;
}

static void fault_free(struct fault *fault)
{
    json_decref(fault->body);
    free(fault);
}

int faults_remove(struct sandbox *sb, int64_t id)
{
    struct fault **link;
    int found = -1;

    sandbox_lock(sb);
    for (link = &fault_list_of(sb)->head; *link; link = &(*link)->next) {
        if ((*link)->id == id) {
            struct fault *gone = *link;

            *link = gone->next;
            fault_free(gone);
            found = 0;
            break;
        }
    }
    sandbox_unlock(sb);
    return found;
}

static void free_all(struct fault_list *list)
{
    while (list && list->head) {
        struct fault *next = list->head->next;

        fault_free(list->head);
        list->head = next;
    }
}

void faults_clear(struct sandbox *sb)
{
    sandbox_lock(sb);
    free_all(fault_list_of(sb));
    sandbox_unlock(sb);
}

void faults_free(struct sandbox *sb)
{
    free_all(sb->faults);
    free(sb->faults);
    sb->faults = NULL;
}

/* "POST /wix/..." against the request: the endpoint may name the path as
 * sent, the route's pattern, or end in '*' to match a prefix. */
static int endpoint_matches(const char *endpoint, const char *method,
                            const char *path, const char *pattern)
{
    size_t method_len = strlen(method);
    const char *target;
    size_t length;

    if (strcmp(endpoint, "*") == 0)
        return 1;
    if (strncmp(endpoint, method, method_len) != 0 ||
        endpoint[method_len] != ' ')
        return 0;
    target = endpoint + method_len + 1;
    length = strlen(target);
    if (length > 0 && target[length - 1] == '*')
        return strncmp(target, path, length - 1) == 0;
    return strcmp(target, path) == 0 || strcmp(target, pattern) == 0;
}

static int share_hits(double share)
{
    if (share >= 1.0)
        return 1;
    return crypto_random_below(1000000) < (uint32_t)(share * 1000000.0);
}

static void unlink_fault(struct fault_list *list, struct fault *fault)
{
    for (struct fault **link = &list->head; *link; link = &(*link)->next) {
        if (*link == fault) {
            *link = fault->next;
            fault_free(fault);
            return;
        }
    }
}

int faults_take(struct sandbox *sb, const char *method, const char *path,
                const char *pattern, struct fault_hit *hit)
{
    struct fault_list *list = fault_list_of(sb);

    for (struct fault *f = list->head; f; f = f->next) {
        if (!endpoint_matches(f->endpoint, method, path, pattern) ||
            !share_hits(f->share))
            continue;
        *hit = (struct fault_hit){
            .fault_id = f->id,
            .mode = f->mode,
            .status = f->status,
            .delay_ms = f->delay_ms,
            .retry_after_s = f->retry_after_s,
            .skip_handler = f->skip_handler,
            .body = json_incref(f->body),
        };
        f->hits++;
        if (f->remaining > 0 && --f->remaining == 0)
            unlink_fault(list, f);
        return 1;
    }
    return 0;
}

void fault_hit_release(struct fault_hit *hit)
{
    json_decref(hit->body);
    hit->body = NULL;
}

/* Wix: the error envelope, and an empty body for 5xx as Wix sends it. */
static void wix_status_body(int status, struct http_response *resp)
{
    static const struct {
        int status;
        const char *code;
        const char *message;
    } table[] = {
        {400, "INVALID_ARGUMENT", "Bad request"},
        {401, "UNAUTHENTICATED", "Not authenticated: UNKNOWN"},
        /* Wix has sent 403 for expired tokens too; the body is the
         * 401 one, which clients key their refresh on. */
        {403, "UNAUTHENTICATED", "Not authenticated: UNKNOWN"},
        {404, "NOT_FOUND", "Entity not found"},
        {409, "ALREADY_EXISTS", "Already exists"},
        {428, "FAILED_PRECONDITION", "Precondition failed"},
        {429, "RESOURCE_EXHAUSTED", "Resource exhausted"},
    };
    resp->status = status;
    if (status >= 500) {
        buf_reset(&resp->body);
        resp->content_type[0] = '\0';
        return;
    }
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].status != status)
            continue;
        http_response_json(resp, status,
                           json_pack("{ss s{s{ss ss s{}}}}", "message",
                                     table[i].message, "details",
                                     "applicationError", "code", table[i].code,
                                     "description", table[i].message, "data"));
        return;
    }
    http_response_json(resp, status,
                       json_pack("{ss s{s{ss ss s{}}}}", "message",
                                 "Request failed", "details",
                                 "applicationError", "code", "UNKNOWN",
                                 "description", "Request failed", "data"));
}

/* OpenAI: {"error":{"message","type","param","code"}}. */
static void openai_status_body(int status, struct http_response *resp)
{
    const char *type = "invalid_request_error";
    const char *code = NULL;
    const char *message = "The request was rejected.";

    if (status == 401) {
        code = "invalid_api_key";
        message = "Incorrect API key provided.";
    } else if (status == 404) {
        code = "model_not_found";
        message = "The model does not exist or you do not have access to it.";
    } else if (status == 429) {
        type = "requests";
        code = "rate_limit_exceeded";
        message = "Rate limit reached for requests per min (RPM). Please "
                  "try again later.";
    } else if (status == 503) {
        type = "service_unavailable_error";
        code = "server_is_overloaded";
        message = "The engine is currently overloaded, please try again "
                  "later.";
    } else if (status >= 500) {
        type = "server_error";
        message = "The server had an error while processing your request. "
                  "Sorry about that!";
    }
    http_response_json(resp, status,
                       json_pack("{s{ss ss sn so}}", "error", "message",
                                 message, "type", type, "param", "code",
                                 code ? json_string(code) : json_null()));
}

/* Replicate: RFC 7807 problem objects. */
static void replicate_status_body(int status, struct http_response *resp)
{
    const char *title = "Request failed";
    const char *detail = "The request failed.";

    if (status == 401) {
        title = "Unauthenticated";
        detail = "You did not pass a valid authentication token";
    } else if (status == 402) {
        title = "Insufficient credit";
        detail = "You have insufficient credit to run this model.";
    } else if (status == 404) {
        title = "Not found";
        detail = "The requested resource could not be found.";
    } else if (status == 429) {
        title = "Too Many Requests";
        detail = "Request was throttled. Your rate limit resets in ~30s.";
    } else if (status >= 500) {
        title = "Internal Server Error";
        detail = "An unexpected error occurred.";
    }
    http_response_json(resp, status,
                       json_pack("{ss ss si}", "title", title, "detail", detail,
                                 "status", status));
}

static void status_body(const struct fault_hit *hit, const char *path,
                        struct http_response *resp)
{
    char seconds[24];
    char request_id[33];

    if (strncmp(path, "/wix/", 5) == 0) {
        crypto_random_hex(request_id, 16);
        http_response_header(resp, "x-wix-request-id", request_id);
    }
    if (hit->body) {
        http_response_json(resp, hit->status, json_incref(hit->body));
    } else if (strncmp(path, "/wix/", 5) == 0) {
        wix_status_body(hit->status, resp);
    } else if (strncmp(path, "/openai/", 8) == 0) {
        openai_status_body(hit->status, resp);
    } else if (strncmp(path, "/replicate/", 11) == 0) {
        replicate_status_body(hit->status, resp);
    } else {
        http_response_error(resp, hit->status, "fault",
                            "fault injected by the sandbox");
    }
    if (hit->retry_after_s > 0) {
        snprintf(seconds, sizeof(seconds), "%lld",
                 (long long)hit->retry_after_s);
        http_response_header(resp, "Retry-After", seconds);
    }
}

/* A body that no JSON parser accepts: the first half of the real one, or
 * an HTML error page when there is too little to cut. */
static void malform_body(struct http_response *resp)
{
    static const char page[] = "<html><body>Bad Gateway</body></html>";

    if (resp->body.len >= 4) {
        resp->body.len /= 2;
        resp->body.data[resp->body.len] = '\0';
        return;
    }
    buf_reset(&resp->body);
    buf_append_str(&resp->body, page);
}

void faults_apply(const struct fault_hit *hit, const char *path,
                  struct http_response *resp)
{
    switch (hit->mode) {
    case FAULT_STATUS:
        status_body(hit, path, resp);
        break;
    case FAULT_DELAY:
        break;
    case FAULT_DROP:
        resp->abort = HTTP_ABORT_DROP;
        break;
    case FAULT_TRUNCATE:
        resp->abort = HTTP_ABORT_TRUNCATE;
        break;
    case FAULT_MALFORMED:
        malform_body(resp);
        break;
    }
}
