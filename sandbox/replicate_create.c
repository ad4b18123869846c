/*
 * Creating Replicate predictions: the two create endpoints, their body
 * and header checks (version forms, Prefer: wait, Cancel-After), the
 * create rate limit, and the input images a model reads by URL. Only
 * loopback and data: URLs are fetched; any other URL fails the prediction
 * as a model run that can't download its input does.
 */
#include "images.h"
#include "replicate_internal.h"

#include "core/crypto.h"
#include "core/json.h"
#include "http/client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BODY_DEPTH_MAX 64
#define WAIT_MAX_S 60
#define WAIT_POLL_MS 25
#define FETCH_TIMEOUT_MS 15000
#define DEFAULT_FAIL_ERROR                                                     \
    "The input or output was flagged as sensitive. Please try again with "     \
    "different inputs. (E005)"

static void invalid_version(struct http_response *resp)
{
    replicate_problem(
        resp, 422, "Invalid version or not permitted",
        "The specified version does not exist (or perhaps you don't "
        "have permission to use it?)");
}

/* ---------------------------------------------------------------- */
/* Creating predictions                                               */

struct create_request {
    const struct replicate_model *model;
    char version[80];
    json_t *body;
    const json_t *input;
    int wait_s;              /* 0: no Prefer: wait */
    int64_t cancel_after_ms; /* 0: no Cancel-After */
    unsigned char *source;   /* the fetched input image */
    size_t source_len;
    char failure[512]; /* the run will fail with this, or "" */
    struct replicate_output_plan plan;
};

/* Reads "wait" (60 s) or "wait=N" (1..60) from a Prefer header. */
static int parse_prefer(const char *header)
{
    const char *wait = header ? strstr(header, "wait") : NULL;
    long seconds;

    if (!wait)
        return 0;
    if (wait[4] != '=')
        return WAIT_MAX_S;
    seconds = strtol(wait + 5, NULL, 10);
    if (seconds < 1 || seconds > WAIT_MAX_S)
        return 0;
    return (int)seconds;
}

/* Parses "30s", "5m", "1h30m45s" or bare seconds; -1 when invalid. */
static int64_t parse_duration_ms(const char *text)
{
    int64_t total = 0;
    const char *p = text;

    while (*p) {
        char *end;
        double value = strtod(p, &end);

        if (end == p || value < 0)
            return -1;
        if (*end == '\0' && p == text)
            return (int64_t)(value * 1000);
        if (strncmp(end, "ms", 2) == 0) {
            total += (int64_t)value;
            end += 2;
        } else if (*end == 'h' || *end == 'm' || *end == 's') {
            total += (int64_t)(value * (*end == 'h'   ? 3600000
                                        : *end == 'm' ? 60000
                                                      : 1000));
            end++;
        } else {
            return -1;
        }
        p = end;
    }
    return p == text ? -1 : total;
}

static int is_hex64(const char *text)
{
    size_t length = strlen(text);

    return length == 64 && strspn(text, "0123456789abcdef") == 64;
}

/*
 * Finds the model a "version" names: "owner/name:<id>" (any 64-hex id of
 * a known model), "owner/name" (official models only) or a bare id listed
 * for a model. Fills resp with Replicate's 422 otherwise.
 */
static int resolve_version(struct sandbox_call *call, const char *version,
                           struct create_request *request)
{
    const char *colon = strchr(version, ':');
    char name[128];
    const char *mapped;

    if (colon && (size_t)(colon - version) < sizeof(name)) {
        snprintf(name, sizeof(name), "%.*s", (int)(colon - version), version);
        request->model = replicate_model_find(name);
        if (request->model && is_hex64(colon + 1)) {
            snprintf(request->version, sizeof(request->version), "%s",
                     colon + 1);
            return 0;
        }
    } else if (strchr(version, '/')) {
        request->model = replicate_model_find(version);
        if (request->model && request->model->official) {
            snprintf(request->version, sizeof(request->version), "hidden");
            return 0;
        }
    } else if (is_hex64(version)) {
        request->model = replicate_model_by_version(version);
        sandbox_lock(call->sb);
        mapped = json_string_value(
            json_object_get(call->sb->replicate->versions, version));
        if (!request->model && mapped)
            request->model = replicate_model_find(mapped);
        sandbox_unlock(call->sb);
        if (request->model) {
            snprintf(request->version, sizeof(request->version), "%s", version);
            return 0;
        }
    }
    invalid_version(call->resp);
    return -1;
}

/* Rejects top-level keys other than allowed, as Replicate's schema does
 * (additionalProperties: false). */
static int check_body_keys(struct http_response *resp, const json_t *body,
                           const char *const *allowed)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)body, key, value)
    {
        size_t i = 0;

        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i]) {
            char description[160];

            snprintf(description, sizeof(description),
                     "Additional property %.100s is not allowed", key);
            replicate_invalid_input(
                resp, json_pack("[{s:s, s:s, s:s}]", "type",
                                "additional_property_not_allowed", "field",
                                "(root)", "description", description));
            return -1;
        }
    }
    return 0;
}

static int read_create_body(struct sandbox_call *call,
                            struct create_request *request, int by_version)
{
    static const char *const version_keys[] = {
        "version", "input", "webhook", "webhook_events_filter", "stream", NULL};
    struct error err;
    const char *version;
    json_t *problems;

    request->body =
        json_parse(call->req->body, call->req->body_len, BODY_DEPTH_MAX, &err);
    if (!json_is_object(request->body)) {
        replicate_problem(call->resp, 400, "Invalid JSON",
                          "The request body is not a JSON object.");
        return -1;
    }
    if (check_body_keys(call->resp, request->body,
                        by_version ? version_keys : version_keys + 1) != 0)
        return -1;
    if (by_version) {
        version = json_string_value(json_object_get(request->body, "version"));
        if (!version) {
            replicate_invalid_input(
                call->resp,
                json_pack("[{s:s, s:s, s:s}]", "type", "required", "field",
                          "(root)", "description", "version is required"));
            return -1;
        }
        if (resolve_version(call, version, request) != 0)
            return -1;
    }

    request->input = json_object_get(request->body, "input");
    if (!json_is_object(request->input)) {
        replicate_invalid_input(call->resp,
                                json_pack("[{s:s, s:s, s:s}]", "type",
                                          "required", "field", "(root)",
                                          "description", "input is required"));
        return -1;
    }
    problems = replicate_model_check_input(request->model, request->input);
    if (problems) {
        replicate_invalid_input(call->resp, problems);
        return -1;
    }
    return 0;
}

static int read_create_headers(struct sandbox_call *call,
                               struct create_request *request)
{
    const char *cancel_after = http_request_header(call->req, "Cancel-After");

    request->wait_s = parse_prefer(http_request_header(call->req, "Prefer"));
    if (!cancel_after)
        return 0;
    request->cancel_after_ms = parse_duration_ms(cancel_after);
    if (request->cancel_after_ms < 5000) {
        replicate_problem(
            call->resp, 400, "Invalid Cancel-After",
            "Cancel-After must be a duration of at least 5s, such as "
            "\"30s\", \"5m\" or \"1h30m45s\".");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- */
/* Input images                                                       */

/* True for http(s) URLs whose host is 127.0.0.0/8, localhost or [::1]:
 * the only hosts the sandbox may fetch from. */
static int is_loopback_url(const char *url)
{
    const char *host;
    char name[64];
    size_t length;

    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        return 0;
    if (strncmp(host, "[::1]", 5) == 0)
        return host[5] == '\0' || host[5] == ':' || host[5] == '/';
    length = strcspn(host, ":/?#");
    if (length == 0 || length >= sizeof(name))
        return 0;
    snprintf(name, sizeof(name), "%.*s", (int)length, host);
    if (strcasecmp(name, "localhost") == 0)
        return 1;
    return strncmp(name, "127.", 4) == 0 &&
           strspn(name, "0123456789.") == length;
}

/* Decodes a "data:<type>;base64,<payload>" URL. */
static int decode_data_url(const char *url, struct create_request *request)
{
    const char *comma = strchr(url, ',');
    size_t length;
    long decoded;

    if (!comma || !strstr(url, ";base64") || strstr(url, ";base64") > comma)
        return -1;
    length = strlen(comma + 1);
    request->source = malloc(length + 1);
    if (!request->source)
        return -1;
    decoded =
        crypto_base64url_decode(comma + 1, length, request->source, length + 1);
    if (decoded <= 0)
        return -1;
    request->source_len = (size_t)decoded;
    return 0;
}

static int download(const char *url, struct create_request *request)
{
    struct http_client_request get = {
        .method = "GET",
        .url = url,
        .timeout_ms = FETCH_TIMEOUT_MS,
        .max_response_bytes = SANDBOX_IMAGE_MAX_BYTES,
    };
    struct http_client_response resp = {0};
    struct error err;
    int rc = -1;

    if (http_client_send(&get, &resp, &err) != 0) {
        snprintf(request->failure, sizeof(request->failure),
                 "failed to download the input image from %.200s: %.200s", url,
                 err.message);
    } else if (resp.status != 200) {
        snprintf(request->failure, sizeof(request->failure),
                 "failed to download the input image from %.200s: HTTP %ld",
                 url, resp.status);
    } else {
        request->source_len = resp.body.len;
        request->source = (unsigned char *)buf_detach(&resp.body, NULL);
        rc = request->source ? 0 : -1;
    }
    http_client_response_release(&resp);
    return rc;
}

/*
 * Fetches the model's input image and plans the outputs. Any failure
 * lands in request->failure, so that the prediction is created and then
 * fails, as a model run that can't read its input does.
 */
static void prepare_outputs(struct create_request *request)
{
    const char *field = request->model->image_field;
    const char *url =
        field ? json_string_value(json_object_get(request->input, field))
              : NULL;
    struct error err;
    int width = 0;
    int height = 0;

    if (url && strncmp(url, "data:", 5) == 0) {
        if (decode_data_url(url, request) != 0)
            snprintf(request->failure, sizeof(request->failure),
                     "the %s data URL is not valid base64", field);
    } else if (url && !is_loopback_url(url)) {
        snprintf(request->failure, sizeof(request->failure),
                 "failed to download the input image from %.200s: the "
                 "sandbox fetches only loopback URLs",
                 url);
    } else if (url) {
        download(url, request);
    }
    if (request->failure[0])
        return;

    if (request->source &&
        sandbox_image_size(request->source, request->source_len, &width,
                           &height, &err) != 0) {
        snprintf(request->failure, sizeof(request->failure),
                 "cannot identify image file: %.200s", err.message);
        return;
    }
    if (replicate_model_plan(request->model, request->input, width, height,
                             &request->plan, &err) != 0)
        snprintf(request->failure, sizeof(request->failure), "%s", err.message);
}

/* ---------------------------------------------------------------- */
/* Handlers                                                           */

static void make_id(char out[32])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

    for (int i = 0; i < 26; i++)
        out[i] = alphabet[crypto_random_below(32)];
    out[26] = '\0';
}

/*
 * Counts a create against the sandbox minute (Replicate allows 600 a
 * minute) and checks the credit switch. Fills resp and returns -1 when
 * the create is refused.
 */
static int admit_create(struct sandbox_call *call)
{
    struct sandbox_replicate *state = call->sb->replicate;
    int64_t now = sandbox_now_ms(call->sb);
    int64_t minute = now / MINUTE_MS;
    int64_t reset_s = ((minute + 1) * MINUTE_MS - now + 999) / 1000;
    int credit;
    int limited;

    sandbox_lock(call->sb);
    if (minute != state->window_minute) {
        state->window_minute = minute;
        state->window_creates = 0;
    }
    credit = !state->insufficient_credit;
    limited = state->window_creates >= state->create_rpm;
    if (credit && !limited)
        state->window_creates++;
    sandbox_unlock(call->sb);

    if (limited) {
        char retry_after[24];
        char detail[96];

        /* The body as Replicate's rate-limit docs quote it: detail only. */
        snprintf(retry_after, sizeof(retry_after), "%" PRId64, reset_s);
        snprintf(detail, sizeof(detail),
                 "Request was throttled. Your rate limit resets in ~%" PRId64
                 "s.",
                 reset_s);
        http_response_json(call->resp, 429,
                           json_pack("{s:s}", "detail", detail));
        http_response_header(call->resp, "Retry-After", retry_after);
        return -1;
    }
    if (!credit) {
        replicate_problem(
            call->resp, 402, "Insufficient credit",
            "You have insufficient credit to run this model. Go to "
            "https://replicate.com/account/billing#billing to purchase "
            "credit. Once you purchase credit, please wait a few "
            "minutes before trying again.");
        return -1;
    }
    return 0;
}

/* Builds the prediction and stores it. Call under the lock. */
static struct prediction *store_prediction(struct sandbox *sb,
                                           struct create_request *request)
{
    struct sandbox_replicate *state = sb->replicate;
    struct prediction *p = calloc(1, sizeof(*p));
    const char *prompt =
        json_string_value(json_object_get(request->input, "prompt"));
    const json_t *seed = json_object_get(request->input, "seed");
    char hash[65];

    if (!p)
        return NULL;
    make_id(p->id);
    p->model = request->model;
    snprintf(p->version, sizeof(p->version), "%s", request->version);
    p->input = json_deep_copy(request->input);
    p->seed_number = json_is_integer(seed) ? json_integer_value(seed)
                                           : crypto_random_below(1u << 31);
    crypto_sha256_hex(prompt ? prompt : "", prompt ? strlen(prompt) : 0, hash);
    snprintf(p->seed, sizeof(p->seed), "%.16s:%" PRId64, hash, p->seed_number);
    p->created_ms = sandbox_now_ms(sb);
    p->started_ms = p->created_ms + state->starting_ms;
    p->done_ms = p->started_ms + state->processing_ms;
    if (request->cancel_after_ms)
        p->deadline_ms = p->created_ms + request->cancel_after_ms;
    p->plan = request->plan;
    p->source = request->source;
    p->source_len = request->source_len;
    request->source = NULL;

    if (request->failure[0]) {
        p->error = strdup(request->failure);
    } else if (state->fail_next > 0) {
        state->fail_next--;
        p->error =
            strdup(state->fail_error ? state->fail_error : DEFAULT_FAIL_ERROR);
    } else if (prompt && strstr(prompt, "[sandbox:fail]")) {
        p->error = strdup(DEFAULT_FAIL_ERROR);
    }
    if (replicate_add(state, p) != 0) {
        replicate_prediction_free(p);
        return NULL;
    }
    return p;
}

/* Holds the request until the prediction ends or wait_s pass (sandbox
 * time, so a clock advance ends the wait too), without the lock. */
static void wait_for_prediction(struct sandbox *sb, const char *id, int wait_s)
{
    int64_t deadline = sandbox_now_ms(sb) + (int64_t)wait_s * 1000;
    struct timespec pause = {.tv_sec = 0, .tv_nsec = WAIT_POLL_MS * 1000000L};

    for (;;) {
        struct prediction_view view = {.status = "starting"};
        int64_t now = sandbox_now_ms(sb);
        struct prediction *p;

        sandbox_lock(sb);
        p = replicate_find(sb->replicate, id);
        if (p)
            replicate_view(sb->replicate, p, now, &view);
        sandbox_unlock(sb);
        if (!p || replicate_is_terminal(view.status) || now >= deadline)
            return;
        nanosleep(&pause, NULL);
    }
}

static void create_prediction(struct sandbox_call *call,
                              struct create_request *request)
{
    struct sandbox *sb = call->sb;
    struct prediction *p;
    char id[32];
    int status;

    prepare_outputs(request);

    sandbox_lock(sb);
    p = store_prediction(sb, request);
    if (p)
        snprintf(id, sizeof(id), "%s", p->id);
    sandbox_unlock(sb);
    if (!p) {
        replicate_problem(call->resp, 500, "Internal Server Error",
                          "out of memory");
        return;
    }

    if (request->wait_s > 0)
        wait_for_prediction(sb, id, request->wait_s);

    sandbox_lock(sb);
    p = replicate_find(sb->replicate, id);
    if (p) {
        struct prediction_view view;
        int64_t now = sandbox_now_ms(sb);

        replicate_view(sb->replicate, p, now, &view);
        status = request->wait_s > 0 && !replicate_is_terminal(view.status)
                     ? 202
                     : 201;
        replicate_respond_json(call->resp, status,
                               replicate_prediction_json(sb, p, now));
    }
    sandbox_unlock(sb);
    if (!p)
        replicate_not_found(
            call->resp); /* a reset removed it during the wait */
}

static void release_create(struct create_request *request)
{
    json_decref(request->body);
    free(request->source);
}

/* POST /replicate/v1/predictions */
void replicate_create_by_version(struct sandbox_call *call)
{
    struct create_request request = {0};

    if (replicate_check_token(call) == 0 && admit_create(call) == 0 &&
        read_create_headers(call, &request) == 0 &&
        read_create_body(call, &request, 1) == 0)
        create_prediction(call, &request);
    release_create(&request);
}

/* POST /replicate/v1/models/{owner}/{name}/predictions */
void replicate_create_by_model(struct sandbox_call *call)
{
    struct create_request request = {0};
    char name[160];

    snprintf(name, sizeof(name), "%s/%s",
             http_request_param(call->req, "owner"),
             http_request_param(call->req, "name"));
    request.model = replicate_model_find(name);
    if (replicate_check_token(call) != 0)
        goto out;

    /* Only official models run without a version; community models get
     * the same 404 as an unknown model (uncertain, from the spec). */
    if (!request.model || !request.model->official) {
        replicate_not_found(call->resp);
        goto out;
    }
    snprintf(request.version, sizeof(request.version), "hidden");
    if (admit_create(call) == 0 && read_create_headers(call, &request) == 0 &&
        read_create_body(call, &request, 0) == 0)
        create_prediction(call, &request);
out:
    release_create(&request);
}
