#include "ai/replicate.h"

#include "ai/limiter.h"
#include "ai/retry.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "http/client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_BASE_URL "https://api.replicate.com/v1"
#define MAX_API_RESPONSE_BYTES (1u << 20)
#define MAX_JSON_DEPTH 32
/* Sends of one create: a 429 may be retried up to 5 sends in all, a
 * refused connection up to 3, as the OpenAI client does. */
#define CREATE_MAX_ATTEMPTS 5
#define CONNECT_MAX_ATTEMPTS 3
/* Attempts of one cancel or download. */
#define GET_MAX_ATTEMPTS 3
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 8000
/* Polls start at the official clients' 0.5 s and grow to 5 s. */
#define POLL_FIRST_MS 500
#define POLL_MAX_MS 5000

struct replicate_client {
    char base_url[512];
    char *token;
    int64_t request_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t wait_timeout_ms;
    int64_t limit_max_wait_ms;
    struct ai_limiter *limiter; /* process-wide, not owned */
};

static void set_code(struct error *err, const char *code)
{
    if (err)
        snprintf(err->code, sizeof(err->code), "%s", code);
}

static int read_settings(const struct config *cfg,
                         struct replicate_client *client, struct error *err)
{
    int64_t rpm;

    if (config_get_url(cfg, "SITESMITH_REPLICATE_API_URL", DEFAULT_BASE_URL,
                       client->base_url, sizeof(client->base_url), err) < 0 ||
        config_get_duration_ms(cfg, "SITESMITH_REPLICATE_REQUEST_TIMEOUT",
                               30000, &client->request_timeout_ms, err) < 0 ||
        config_get_duration_ms(cfg, "SITESMITH_REPLICATE_CONNECT_TIMEOUT",
                               10000, &client->connect_timeout_ms, err) < 0 ||
        config_get_duration_ms(cfg, "SITESMITH_REPLICATE_WAIT_TIMEOUT", 600000,
                               &client->wait_timeout_ms, err) < 0 ||
        config_get_duration_ms(cfg, "SITESMITH_AI_LIMIT_MAX_WAIT", 60000,
                               &client->limit_max_wait_ms, err) < 0 ||
        config_get_int(cfg, "SITESMITH_REPLICATE_RPM", 600, 0, 1000000, &rpm,
                       err) < 0)
        return -1;
    client->limiter = ai_limiter_shared("replicate", rpm, 0);
    if (!client->limiter)
        return error_set(err, ERR_PERMANENT,
                         "out of memory creating the Replicate rate limiter");
    return 0;
}

struct replicate_client *replicate_client_new(const struct config *cfg,
                                              struct error *err)
{
    struct replicate_client *client = calloc(1, sizeof(*client));
    const char *token = config_get(cfg, "REPLICATE_API_TOKEN");

    if (!client) {
        error_set(err, ERR_PERMANENT,
                  "out of memory creating Replicate client");
        return NULL;
    }
    if (!token) {
        error_set(err, ERR_INVALID,
                  "REPLICATE_API_TOKEN: missing: set it to a Replicate API "
                  "token (r8_...)");
        goto fail;
    }
    if (read_settings(cfg, client, err) < 0)
        goto fail;
    client->token = strdup(token);
    if (!client->token || crypto_init() < 0) {
        error_set(err, ERR_PERMANENT,
                  "out of memory creating Replicate client");
        goto fail;
    }
    log_add_secret(client->token);
    return client;

fail:
    replicate_client_free(client);
    return NULL;
}

void replicate_client_free(struct replicate_client *client)
{
    if (!client)
        return;
    free(client->token);
    free(client);
}

/* ---- Predictions ---- */

static const char *const status_names[] = {
    [REPLICATE_STARTING] = "starting",   [REPLICATE_PROCESSING] = "processing",
    [REPLICATE_SUCCEEDED] = "succeeded", [REPLICATE_FAILED] = "failed",
    [REPLICATE_CANCELED] = "canceled",   [REPLICATE_ABORTED] = "aborted",
};

const char *replicate_status_name(enum replicate_status status)
{
    if ((size_t)status < sizeof(status_names) / sizeof(status_names[0]))
        return status_names[status];
    return "unknown";
}

static int parse_status(const char *text, enum replicate_status *out)
{
    for (size_t i = 0; text && i < sizeof(status_names) / sizeof(*status_names);
         i++) {
        if (strcmp(text, status_names[i]) == 0) {
            *out = (enum replicate_status)i;
            return 0;
        }
    }
    return -1;
}

static int is_final(enum replicate_status status)
{
    return status != REPLICATE_STARTING && status != REPLICATE_PROCESSING;
}

void replicate_prediction_release(struct replicate_prediction *prediction)
{
    if (!prediction)
        return;
    for (size_t i = 0; i < prediction->output_count; i++)
        free(prediction->outputs[i]);
    free(prediction->error);
    memset(prediction, 0, sizeof(*prediction));
}

/* Prediction ids go into URL paths: Replicate's are lowercase base32. */
static int valid_id(const char *id)
{
    size_t length = id ? strlen(id) : 0;

    if (length == 0 || length >= REPLICATE_ID_MAX)
        return 0;
    for (size_t i = 0; i < length; i++) {
        if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
            return 0;
    }
    return 1;
}

static int add_output(struct replicate_prediction *prediction,
                      const json_t *url, struct error *err)
{
    if (!json_is_string(url))
        return error_set(err, ERR_PERMANENT,
                         "prediction %s: output holds %s where a file URL "
                         "was expected",
                         prediction->id, json_type_phrase(url));
    if (prediction->output_count == REPLICATE_MAX_OUTPUTS)
        return error_set(err, ERR_PERMANENT,
                         "prediction %s: more than %d outputs", prediction->id,
                         REPLICATE_MAX_OUTPUTS);
    prediction->outputs[prediction->output_count] =
        strdup(json_string_value(url));
    if (!prediction->outputs[prediction->output_count])
        return error_set(err, ERR_PERMANENT, "out of memory");
    prediction->output_count++;
    return 0;
}

/* Accepts one URL or a list of them; null while there is none yet. */
static int read_outputs(const json_t *output,
                        struct replicate_prediction *prediction,
                        struct error *err)
{
    size_t i;
    json_t *item;

    if (!output || json_is_null(output))
        return 0;
    if (!json_is_array(output))
        return add_output(prediction, output, err);
    json_array_foreach(output, i, item)
    {
        if (add_output(prediction, item, err) < 0)
            return -1;
    }
    return 0;
}

static int parse_prediction(const struct buf *body,
                            struct replicate_prediction *prediction,
                            struct error *err)
{
    json_t *root = json_parse(body->data ? body->data : "", body->len,
                              MAX_JSON_DEPTH, err);
    const char *id;
    const char *status;
    const char *error;
    int rc = -1;

    replicate_prediction_release(prediction);
    if (!root) {
        error_prefix(err, "Replicate returned a prediction that is not JSON");
        err->kind = ERR_RETRYABLE;
        return -1;
    }
    id = json_string_value(json_object_get(root, "id"));
    status = json_string_value(json_object_get(root, "status"));
    if (!valid_id(id) || parse_status(status, &prediction->status) < 0) {
        error_set(err, ERR_RETRYABLE,
                  "Replicate returned a prediction without a valid id or "
                  "status (id %.80s, status %.40s)",
                  id ? id : "missing", status ? status : "missing");
        goto out;
    }
    snprintf(prediction->id, sizeof(prediction->id), "%s", id);
    error = json_string_value(json_object_get(root, "error"));
    if (error && !(prediction->error = strdup(error)))
        goto out;
    prediction->data_removed =
        json_is_true(json_object_get(root, "data_removed"));
    prediction->predict_time = json_number_value(
        json_object_get(json_object_get(root, "metrics"), "predict_time"));
    rc = read_outputs(json_object_get(root, "output"), prediction, err);

out:
    json_decref(root);
    return rc;
}

/* ---- HTTP ---- */

struct api_call {
    const char *method;
    const char *url;
    const char *body;
    const char *extra_headers[2];
    int64_t timeout_ms;
    int authorized; /* send the API token */
    int fresh_connection;
    size_t max_response_bytes;
};

static int call_send(const struct replicate_client *client,
                     const struct api_call *call,
                     struct http_client_response *resp, struct error *err)
{
    struct http_client_request req = {0};
    char auth[512];
    int n = 0;
    int rc;

    if (snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
                 client->token) >= (int)sizeof(auth))
        return error_set(err, ERR_INVALID,
                         "REPLICATE_API_TOKEN: invalid value: too long");
    req.method = call->method;
    req.url = call->url;
    req.service = "replicate";
    if (call->authorized)
        req.headers[n++] = auth;
    if (call->body) {
        req.headers[n++] = "Content-Type: application/json";
        req.body = call->body;
        req.body_len = strlen(call->body);
    }
    for (int i = 0; i < 2; i++) {
        if (call->extra_headers[i])
            req.headers[n++] = call->extra_headers[i];
    }
    req.connect_timeout_ms = client->connect_timeout_ms;
    req.timeout_ms = call->timeout_ms;
    req.fresh_connection = call->fresh_connection;
    req.max_response_bytes = call->max_response_bytes ? call->max_response_bytes
                                                      : MAX_API_RESPONSE_BYTES;

    rc = http_client_send(&req, resp, err);
    explicit_bzero(auth, sizeof(auth));
    return rc;
}

/* Sets err from a problem-JSON response ({"title","detail","status"}). */
static void problem_error(const struct http_client_response *resp,
                          const char *what, struct error *err)
{
    json_t *root = json_loadb(resp->body.data ? resp->body.data : "",
                              resp->body.len, 0, NULL);
    const char *detail = json_string_value(json_object_get(root, "detail"));
    const char *title = json_string_value(json_object_get(root, "title"));
    const char *hint = "";
    enum error_kind kind = http_status_error_kind(resp->status);

    if (resp->status == 401)
        hint = ": check REPLICATE_API_TOKEN";
    else if (resp->status == 402) {
        hint = ": add credit to the Replicate account";
        kind = ERR_PERMANENT;
    } else if (resp->status == 404)
        hint = ": check the model name or prediction id";
    error_set(err, kind, "%s: Replicate returned HTTP %ld (%.80s: %.300s)%s",
              what, resp->status, title ? title : "no title",
              detail ? detail : "no detail", hint);
    err->http_status = (int)resp->status;
    err->retry_after_ms = http_client_retry_after_ms(resp);
    json_decref(root);
}

/* The wait before sending again after a 429 or a transient failure. */
static int64_t next_delay_ms(const struct http_client_response *resp,
                             int retries)
{
    int64_t server_wait = resp ? http_client_retry_after_ms(resp) : -1;

    if (server_wait >= 0)
        return server_wait;
    return ai_backoff_ms(retries, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
}

/* ---- Create ---- */

/* "owner/name" for a model; a version may also carry ":<hash>" or be the
 * bare hash. Both go into a URL path or a JSON body. */
static int valid_model_ref(const char *text, int version)
{
    int slashes = 0;

    if (!text || !*text || strlen(text) > 256)
        return 0;
    for (const char *c = text; *c; c++) {
        if (*c == '/')
            slashes++;
        else if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' &&
                 *c != '.' && !(version && *c == ':'))
            return 0;
    }
    return version ? slashes <= 1 : slashes == 1;
}

static int check_create_request(const struct replicate_create_request *req,
                                struct error *err)
{
    if (!req->model == !req->version)
        return error_set(err, ERR_INVALID,
                         "Replicate create: give exactly one of model and "
                         "version");
    if (req->model && !valid_model_ref(req->model, 0))
        return error_set(err, ERR_INVALID,
                         "Replicate create: invalid model \"%.100s\": "
                         "expected owner/name",
                         req->model);
    if (req->version && !valid_model_ref(req->version, 1))
        return error_set(err, ERR_INVALID,
                         "Replicate create: invalid version \"%.100s\": "
                         "expected owner/name:<id> or a version id",
                         req->version);
    if (!json_is_object(req->input))
        return error_set(err, ERR_INVALID,
                         "Replicate create: input must be a JSON object");
    if (req->wait_s < 0 || req->wait_s > 60)
        return error_set(err, ERR_INVALID,
                         "Replicate create: wait_s %d: expected 0 to 60",
                         req->wait_s);
    if (req->cancel_after_s != 0 && req->cancel_after_s < 5)
        return error_set(err, ERR_INVALID,
                         "Replicate create: cancel_after_s %d: expected 0 "
                         "or at least 5",
                         req->cancel_after_s);
    return 0;
}

struct create_call {
    char url[800];
    char *body;
    char prefer[32];
    char cancel_after[48];
    struct api_call call;
};

static int prepare_create(const struct replicate_client *client,
                          const struct replicate_create_request *req,
                          struct create_call *cc, struct error *err)
{
    json_t *body;

    if (req->model) {
        snprintf(cc->url, sizeof(cc->url), "%s/models/%s/predictions",
                 client->base_url, req->model);
        body = json_pack("{s:O}", "input", req->input);
    } else {
        snprintf(cc->url, sizeof(cc->url), "%s/predictions", client->base_url);
        body = json_pack("{s:s, s:O}", "version", req->version, "input",
                         req->input);
    }
    cc->body = body ? json_to_string(body) : NULL;
    json_decref(body);
    if (!cc->body)
        return error_set(err, ERR_PERMANENT,
                         "out of memory building the Replicate request");

    cc->call.method = "POST";
    cc->call.url = cc->url;
    cc->call.body = cc->body;
    cc->call.authorized = 1;
    /* On a reused connection, libcurl may send a create a second time. */
    cc->call.fresh_connection = 1;
    /* A Prefer: wait delays the response by up to wait_s. */
    cc->call.timeout_ms = client->request_timeout_ms + req->wait_s * 1000;
    if (req->wait_s > 0) {
        snprintf(cc->prefer, sizeof(cc->prefer), "Prefer: wait=%d",
                 req->wait_s);
        cc->call.extra_headers[0] = cc->prefer;
    }
    if (req->cancel_after_s > 0) {
        snprintf(cc->cancel_after, sizeof(cc->cancel_after),
                 "Cancel-After: %ds", req->cancel_after_s);
        cc->call.extra_headers[1] = cc->cancel_after;
    }
    return 0;
}

/* Handles a failed send of a create. Returns the delay before sending
 * again, or -1 when err is final. */
static int64_t create_send_failed(const struct replicate_client *client,
                                  const char *url, int attempt,
                                  struct error *err)
{
    /* Only a refused connection proves that nothing reached Replicate. */
    if (strcmp(err->code, "connect") == 0 && attempt < CONNECT_MAX_ATTEMPTS) {
        ai_limiter_cancel(client->limiter, 0);
        return ai_backoff_ms(attempt - 1, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
    }
    if (strcmp(err->code, "connect") == 0) {
        error_prefix(err, "Replicate create request to %s failed", url);
        return -1;
    }
    if (err->kind == ERR_RETRYABLE) {
        error_prefix(err,
                     "Replicate create request to %s may have been sent, "
                     "but no answer arrived, so a prediction may exist and "
                     "be billed; not sent again",
                     url);
        set_code(err, REPLICATE_ERR_CREATE_UNKNOWN);
    }
    return -1;
}

/* Handles a non-2xx response to a create, as create_send_failed(). */
static int64_t create_answer_failed(const struct replicate_client *client,
                                    const struct http_client_response *resp,
                                    int attempt, struct error *err)
{
    int64_t delay;

    if (resp->status >= 500) {
        problem_error(resp, "Replicate create", err);
        error_prefix(err, "the prediction may exist and be billed; not sent "
                          "again");
        err->kind = ERR_RETRYABLE;
        set_code(err, REPLICATE_ERR_CREATE_UNKNOWN);
        return -1;
    }
    problem_error(resp, "Replicate create", err);
    if (resp->status != 429)
        return -1;

    /* A 429 created nothing: wait as Retry-After says, unless too long. */
    set_code(err, "rate_limited");
    delay = next_delay_ms(resp, attempt - 1);
    ai_limiter_hold(client->limiter, delay);
    if (delay > client->limit_max_wait_ms || attempt >= CREATE_MAX_ATTEMPTS) {
        err->retry_after_ms = delay;
        return -1;
    }
    return delay;
}

/* A 2xx response: the prediction exists, so it is never sent again. */
static int64_t create_answered(const struct http_client_response *resp,
                               struct replicate_prediction *prediction, int *rc,
                               struct error *err)
{
    *rc = parse_prediction(&resp->body, prediction, err);
    if (*rc < 0) {
        error_prefix(err,
                     "Replicate created a prediction (HTTP %ld) but its "
                     "id could not be read",
                     resp->status);
        err->kind = ERR_RETRYABLE;
        set_code(err, REPLICATE_ERR_CREATE_UNKNOWN);
    }
    return -1;
}

int replicate_create(struct replicate_client *client,
                     const struct replicate_create_request *request,
                     struct replicate_prediction *prediction, struct error *err)
{
    struct create_call cc = {0};
    struct error local;
    int64_t delay = -1;
    int attempt = 0;
    int rc = -1;

    if (!err)
        err = &local;
    memset(prediction, 0, sizeof(*prediction));
    if (check_create_request(request, err) < 0 ||
        prepare_create(client, request, &cc, err) < 0)
        goto out;

    do {
        struct http_client_response resp = {0};

        if (delay > 0) {
            log_warn("replicate",
                     "sending create again attempt=%d code=%s delay_ms=%lld",
                     attempt + 1, err->code, (long long)delay);
            clock_sleep_ms(delay);
        }
        if (ai_limiter_acquire(client->limiter, 0, client->limit_max_wait_ms,
                               err) < 0)
            goto out;
        attempt++;
        if (call_send(client, &cc.call, &resp, err) < 0)
            delay = create_send_failed(client, cc.url, attempt, err);
        else if (resp.status >= 200 && resp.status < 300)
            delay = create_answered(&resp, prediction, &rc, err);
        else
            delay = create_answer_failed(client, &resp, attempt, err);
        http_client_response_release(&resp);
    } while (rc < 0 && delay >= 0);

    if (rc == 0)
        log_info("replicate", "prediction created id=%s status=%s attempts=%d",
                 prediction->id, replicate_status_name(prediction->status),
                 attempt);

out:
    free(cc.body);
    return rc;
}

/* ---- Wait and cancel ---- */

/* GETs a prediction once. Returns 0 with prediction filled, or -1 with err
 * set and *server_wait_ms to the Retry-After wait (-1 when none). */
static int poll_once(const struct replicate_client *client, const char *id,
                     struct replicate_prediction *prediction,
                     int64_t *server_wait_ms, struct error *err)
{
    struct http_client_response resp = {0};
    struct api_call call = {0};
    char url[700];
    int rc = -1;

    snprintf(url, sizeof(url), "%s/predictions/%s", client->base_url, id);
    call.method = "GET";
    call.url = url;
    call.authorized = 1;
    call.timeout_ms = client->request_timeout_ms;
    *server_wait_ms = -1;

    if (call_send(client, &call, &resp, err) < 0)
        error_prefix(err, "polling prediction %s", id);
    else if (resp.status == 200)
        rc = parse_prediction(&resp.body, prediction, err);
    else {
        problem_error(&resp, "polling prediction", err);
        error_prefix(err, "%s", id);
        *server_wait_ms = err->retry_after_ms;
    }
    http_client_response_release(&resp);
    return rc;
}

int replicate_cancel(struct replicate_client *client, const char *id,
                     struct error *err)
{
    struct api_call call = {0};
    char url[700];
    int rc = -1;

    if (!valid_id(id))
        return error_set(err, ERR_INVALID, "invalid prediction id \"%.80s\"",
                         id ? id : "");
    snprintf(url, sizeof(url), "%s/predictions/%s/cancel", client->base_url,
             id);
    call.method = "POST";
    call.url = url;
    call.authorized = 1;
    call.timeout_ms = client->request_timeout_ms;

    /* Cancelling twice does no harm, so transient failures are retried. */
    for (int attempt = 1; attempt <= GET_MAX_ATTEMPTS && rc < 0; attempt++) {
        struct http_client_response resp = {0};
        int64_t delay = -1;

        if (call_send(client, &call, &resp, err) < 0) {
            error_prefix(err, "cancelling prediction %s", id);
            delay = err->kind == ERR_RETRYABLE
                        ? next_delay_ms(NULL, attempt - 1)
                        : -1;
        } else if (resp.status >= 200 && resp.status < 300) {
            rc = 0;
        } else {
            problem_error(&resp, "cancelling prediction", err);
            error_prefix(err, "%s", id);
            if (error_is_retryable(err))
                delay = next_delay_ms(&resp, attempt - 1);
        }
        http_client_response_release(&resp);
        if (rc < 0 && (delay < 0 || attempt == GET_MAX_ATTEMPTS))
            break;
        if (rc < 0)
            clock_sleep_ms(delay);
    }
    if (rc == 0)
        log_info("replicate", "prediction cancelled id=%s", id);
    return rc;
}

/* Turns a final prediction into 0 or its error. */
static int finish_wait(const struct replicate_prediction *prediction,
                       struct error *err)
{
    const char *model_error = prediction->error ? prediction->error : "none";

    switch (prediction->status) {
    case REPLICATE_SUCCEEDED:
        break;
    case REPLICATE_FAILED:
        error_set(err, ERR_PERMANENT, "prediction %s failed: %.300s",
                  prediction->id, model_error);
        set_code(err, REPLICATE_ERR_FAILED);
        return -1;
    case REPLICATE_CANCELED:
        error_set(err, ERR_PERMANENT, "prediction %s was canceled",
                  prediction->id);
        set_code(err, REPLICATE_ERR_CANCELED);
        return -1;
    case REPLICATE_ABORTED:
        error_set(err, ERR_PERMANENT,
                  "prediction %s was aborted before it started (its "
                  "Cancel-After deadline passed)",
                  prediction->id);
        set_code(err, REPLICATE_ERR_ABORTED);
        return -1;
    default:
        return error_set(err, ERR_RETRYABLE, "prediction %s is still %s",
                         prediction->id,
                         replicate_status_name(prediction->status));
    }
    if (prediction->data_removed || prediction->output_count == 0) {
        error_set(err, ERR_PERMANENT,
                  "prediction %s succeeded but %s: Replicate deletes "
                  "outputs about an hour after the prediction, so create a "
                  "new one",
                  prediction->id,
                  prediction->data_removed ? "its outputs were deleted"
                                           : "has no output");
        set_code(err, REPLICATE_ERR_OUTPUT_EXPIRED);
        return -1;
    }
    return 0;
}

/* Cancels a prediction that ran past the wait timeout and sets err. */
static int wait_timed_out(struct replicate_client *client,
                          const struct replicate_prediction *prediction,
                          const char *id, struct error *err)
{
    struct error cancel_err;
    int cancelled = replicate_cancel(client, id, &cancel_err) == 0;

    if (!cancelled)
        log_warn("replicate", "cancelling prediction failed id=%s error=%s", id,
                 cancel_err.message);
    error_set(err, ERR_RETRYABLE,
              "prediction %s did not finish within %lld s (last status %s)%s",
              id, (long long)(client->wait_timeout_ms / 1000),
              prediction->id[0] ? replicate_status_name(prediction->status)
                                : "unknown",
              cancelled ? "; cancelled it" : "; cancelling it failed too");
    set_code(err, REPLICATE_ERR_TIMEOUT);
    return -1;
}

int replicate_wait(struct replicate_client *client, const char *id,
                   struct replicate_prediction *prediction, struct error *err)
{
    int64_t deadline = clock_monotonic_ms() + client->wait_timeout_ms;
    int64_t interval = POLL_FIRST_MS;
    int64_t server_wait;
    int64_t delay;
    struct error local;
    int polls = 0;

    if (!err)
        err = &local;
    memset(prediction, 0, sizeof(*prediction));
    if (!valid_id(id))
        return error_set(err, ERR_INVALID, "invalid prediction id \"%.80s\"",
                         id ? id : "");

    for (;;) {
        polls++;
        if (poll_once(client, id, prediction, &server_wait, err) == 0) {
            if (is_final(prediction->status))
                break;
        } else if (!error_is_retryable(err)) {
            return -1;
        } else {
            log_warn("replicate", "polling failed id=%s poll=%d error=%s", id,
                     polls, err->message);
        }

        delay = server_wait > interval ? server_wait : interval;
        if (clock_monotonic_ms() + delay > deadline)
            return wait_timed_out(client, prediction, id, err);
        clock_sleep_ms(delay);
        interval = interval * 3 / 2;
        if (interval > POLL_MAX_MS)
            interval = POLL_MAX_MS;
    }

    log_info("replicate", "prediction final id=%s status=%s polls=%d", id,
             replicate_status_name(prediction->status), polls);
    return finish_wait(prediction, err);
}

/* ---- Download ---- */

const char *replicate_sniff_image_type(const void *data, size_t len)
{
    const unsigned char *b = data;

    if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return "image/jpeg";
    if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return "image/webp";
    if (len >= 6 &&
        (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return "image/gif";
    return NULL;
}

/* Copies the media type of a Content-Type value, lower case, without
 * parameters. */
static void media_type(const char *value, char out[128])
{
    size_t n = 0;

    while (value && value[n] && value[n] != ';' && n < 127) {
        out[n] = (char)tolower((unsigned char)value[n]);
        n++;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

static int type_allowed(const char *type, const char *const *allowed)
{
    for (size_t i = 0; allowed && allowed[i]; i++) {
        if (strcasecmp(type, allowed[i]) == 0)
            return 1;
    }
    return 0;
}

static int type_error(const char *url, const char *what, const char *type,
                      struct error *err)
{
    error_set(err, ERR_PERMANENT, "output %.200s: %s (%s)", url, what, type);
    set_code(err, REPLICATE_ERR_OUTPUT_TYPE);
    return -1;
}

/* Settles the type of downloaded bytes from the declared type and the
 * bytes themselves, into type. */
static int check_type(const char *url, const char *declared,
                      const struct buf *bytes, const char *const *allowed_types,
                      char type[128], struct error *err)
{
    const char *sniffed = replicate_sniff_image_type(bytes->data, bytes->len);

    media_type(declared, type);
    if (!type[0] || strcmp(type, "application/octet-stream") == 0 ||
        strcmp(type, "binary/octet-stream") == 0) {
        if (!sniffed)
            return type_error(url, "no content type and not a known image",
                              type[0] ? type : "none", err);
        snprintf(type, 128, "%s", sniffed);
    }
    if (!type_allowed(type, allowed_types))
        return type_error(url, "content type not allowed", type, err);
    if (strncmp(type, "image/", 6) == 0 &&
        (!sniffed || strcmp(sniffed, type) != 0))
        return type_error(url, "the bytes are not of the declared type", type,
                          err);
    return 0;
}

/* "data:<type>;base64,<data>", as the official JS client accepts. */
static int decode_data_url(const char *url, size_t max_bytes, struct buf *bytes,
                           char declared[128], struct error *err)
{
    const char *comma = strchr(url, ',');
    const char *params = url + 5;
    size_t header = comma ? (size_t)(comma - params) : 0;
    size_t capacity;
    unsigned char *decoded;
    long n;

    if (!comma || header < 7 || strncmp(comma - 7, ";base64", 7) != 0)
        return error_set(err, ERR_PERMANENT,
                         "output data URL is not base64-encoded");
    snprintf(declared, 128, "%.*s", (int)(header - 7), params);
    capacity = strlen(comma + 1) / 4 * 3 + 3;
    if (capacity > max_bytes + 3) {
        error_set(err, ERR_PERMANENT,
                  "output data URL is larger than %zu bytes", max_bytes);
        set_code(err, "too_large");
        return -1;
    }
    decoded = malloc(capacity);
    if (!decoded)
        return error_set(err, ERR_PERMANENT, "out of memory");
    n = crypto_base64url_decode(comma + 1, strlen(comma + 1), decoded,
                                capacity);
    if (n < 0 || (size_t)n > max_bytes || buf_append(bytes, decoded, n) < 0) {
        free(decoded);
        return error_set(err, ERR_PERMANENT,
                         "output data URL is invalid base64 or larger than "
                         "%zu bytes",
                         max_bytes);
    }
    free(decoded);
    return 0;
}

/* A non-200 response to a download. Returns 1 when trying again may help. */
static int download_answer_failed(const struct http_client_response *resp,
                                  const char *url, struct error *err)
{
    /* Replicate deletes outputs after about an hour, and its file host then
     * returns 404 (a signed-URL host may return 403 or 410). */
    if (resp->status == 403 || resp->status == 404 || resp->status == 410) {
        error_set(err, ERR_PERMANENT,
                  "output %.200s is gone (HTTP %ld): Replicate deletes "
                  "outputs about an hour after the prediction, so create a "
                  "new one",
                  url, resp->status);
        set_code(err, REPLICATE_ERR_OUTPUT_EXPIRED);
        err->http_status = (int)resp->status;
        return 0;
    }
    error_set(err, http_status_error_kind(resp->status),
              "downloading output %.200s: HTTP %ld", url, resp->status);
    err->http_status = (int)resp->status;
    err->retry_after_ms = http_client_retry_after_ms(resp);
    return error_is_retryable(err);
}

/* GETs url into bytes, retrying transient failures. */
static int fetch_url(const struct replicate_client *client, const char *url,
                     size_t max_bytes, struct buf *bytes, char declared[128],
                     struct error *err)
{
    struct api_call call = {0};
    int again = 1;
    int rc = -1;

    call.method = "GET";
    call.url = url;
    call.timeout_ms = client->request_timeout_ms;
    call.max_response_bytes = max_bytes;
    for (int attempt = 1; rc < 0 && again; attempt++) {
        struct http_client_response resp = {0};

        if (call_send(client, &call, &resp, err) < 0) {
            error_prefix(err, "downloading output");
            again = err->kind == ERR_RETRYABLE;
        } else if (resp.status == 200) {
            snprintf(declared, 128, "%s", resp.content_type);
            rc = buf_append(bytes, resp.body.data, resp.body.len) < 0
                     ? error_set(err, ERR_PERMANENT,
                                 "output %.200s does not fit the buffer", url)
                     : 0;
            again = 0;
        } else {
            again = download_answer_failed(&resp, url, err);
        }
        if (rc < 0 && again && attempt < GET_MAX_ATTEMPTS)
            clock_sleep_ms(next_delay_ms(&resp, attempt - 1));
        else
            again = 0;
        http_client_response_release(&resp);
    }
    return rc;
}

int replicate_download(struct replicate_client *client, const char *url,
                       size_t max_bytes, const char *const *allowed_types,
                       struct buf *out, char content_type[128],
                       struct error *err)
{
    char declared[128] = "";
    struct buf bytes;
    struct error local;
    int rc;

    if (!err)
        err = &local;
    content_type[0] = '\0';
    buf_init(&bytes, max_bytes);
    if (url && strncmp(url, "data:", 5) == 0)
        rc = decode_data_url(url, max_bytes, &bytes, declared, err);
    else if (url && (strncmp(url, "http://", 7) == 0 ||
                     strncmp(url, "https://", 8) == 0))
        rc = fetch_url(client, url, max_bytes, &bytes, declared, err);
    else
        rc = error_set(err, ERR_PERMANENT,
                       "output \"%.200s\" is not an http, https or data URL",
                       url ? url : "");
    if (rc == 0)
        rc =
            check_type(url, declared, &bytes, allowed_types, content_type, err);
    if (rc == 0 && buf_append(out, bytes.data, bytes.len) < 0)
        rc =
            error_set(err, ERR_PERMANENT,
                      "output of %zu bytes does not fit the buffer", bytes.len);
    buf_free(&bytes);
    return rc;
}
