#include "ai/openai.h"

#include "ai/limiter.h"
#include "ai/retry.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "http/client.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BASE_URL "https://api.openai.com/v1"
#define DEFAULT_MODEL "gpt-4o-mini"
/* Attempts in one call: the first and two retries, as the SDKs do. */
#define MAX_ATTEMPTS 3
/* retry-after values past this are ignored in favour of the backoff. */
#define MAX_SERVER_WAIT_MS 60000
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 8000
#define MAX_RESPONSE_BYTES (8u << 20)
#define MAX_JSON_DEPTH 64
/* A rough English average, used only to estimate a request's tokens. */
#define BYTES_PER_TOKEN 4

struct openai_client {
    char base_url[512];
    char *api_key;
    char model[128];
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    int64_t limit_max_wait_ms;
    struct ai_limiter *limiter; /* process-wide, not owned */
};

/* The outcome of one failed attempt. */
struct attempt_outcome {
    int retry;
    int64_t server_wait_ms; /* from retry-after(-ms), or -1 */
};

static int read_limits(const struct config *cfg, struct openai_client *client,
                       struct error *err)
{
    int64_t rpm;
    int64_t tpm;

    if (config_get_int(cfg, "SITESMITH_OPENAI_RPM", 500, 0, 1000000, &rpm,
                       err) < 0 ||
        config_get_int(cfg, "SITESMITH_OPENAI_TPM", 200000, 0, 1000000000, &tpm,
                       err) < 0 ||
        config_get_duration_ms(cfg, "SITESMITH_AI_LIMIT_MAX_WAIT", 60000,
                               &client->limit_max_wait_ms, err) < 0)
        return -1;
    client->limiter = ai_limiter_shared("openai", rpm, tpm);
    if (!client->limiter)
        return error_set(err, ERR_PERMANENT,
                         "out of memory creating the OpenAI rate limiter");
    return 0;
}

struct openai_client *openai_client_new(const struct config *cfg,
                                        struct error *err)
{
    struct openai_client *client = calloc(1, sizeof(*client));
    const char *key = config_get(cfg, "OPENAI_API_KEY");
    const char *model =
        config_get_string(cfg, "SITESMITH_OPENAI_MODEL", DEFAULT_MODEL);

    if (!client) {
        error_set(err, ERR_PERMANENT, "out of memory creating OpenAI client");
        return NULL;
    }
    if (!key) {
        error_set(err, ERR_INVALID,
                  "OPENAI_API_KEY: missing: set it to an OpenAI API key");
        goto fail;
    }
    if (strlen(model) >= sizeof(client->model)) {
        error_set(err, ERR_INVALID,
                  "SITESMITH_OPENAI_MODEL: invalid value \"%.100s\": "
                  "expected a model id shorter than %zu characters",
                  model, sizeof(client->model));
        goto fail;
    }
    snprintf(client->model, sizeof(client->model), "%s", model);

    if (config_get_url(cfg, "OPENAI_BASE_URL", DEFAULT_BASE_URL,
                       client->base_url, sizeof(client->base_url), err) < 0 ||
        config_get_duration_ms(cfg, "SITESMITH_OPENAI_TIMEOUT", 300000,
                               &client->timeout_ms, err) < 0 ||
        config_get_duration_ms(cfg, "SITESMITH_OPENAI_CONNECT_TIMEOUT", 10000,
                               &client->connect_timeout_ms, err) < 0 ||
        read_limits(cfg, client, err) < 0)
        goto fail;

    client->api_key = strdup(key);
    if (!client->api_key || crypto_init() < 0) {
        error_set(err, ERR_PERMANENT, "out of memory creating OpenAI client");
        goto fail;
    }
    log_add_secret(client->api_key);
    return client;

fail:
    openai_client_free(client);
    return NULL;
}

void openai_client_free(struct openai_client *client)
{
    if (!client)
        return;
    free(client->api_key);
    free(client);
}

const char *openai_client_model(const struct openai_client *client)
{
    return client->model;
}

void openai_result_release(struct openai_result *result)
{
    if (!result)
        return;
    json_decref(result->content);
    memset(result, 0, sizeof(*result));
}

static void set_code(struct error *err, const char *code)
{
    if (err)
        snprintf(err->code, sizeof(err->code), "%s", code);
}

/* ---- Checking the output against its schema ---- */

static int type_matches(const json_t *value, const char *type)
{
    if (strcmp(type, "object") == 0)
        return json_is_object(value);
    if (strcmp(type, "array") == 0)
        return json_is_array(value);
    if (strcmp(type, "string") == 0)
        return json_is_string(value);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(value);
    if (strcmp(type, "number") == 0)
        return json_is_number(value);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(value);
    if (strcmp(type, "null") == 0)
        return json_is_null(value);
    return 1; /* an unknown type name constrains nothing */
}

static int schema_fail(struct error *err, const char *path, const char *what,
                       const json_t *found)
{
    error_set(err, ERR_PERMANENT, "%s: expected %s, found %s", path, what,
              json_type_phrase(found));
    set_code(err, OPENAI_ERR_SCHEMA);
    return -1;
}

static int check_type(const json_t *value, const json_t *type, const char *path,
                      struct error *err)
{
    char names[128] = "";
    size_t i;
    json_t *item;

    if (json_is_string(type)) {
        if (type_matches(value, json_string_value(type)))
            return 0;
        snprintf(names, sizeof(names), "%s", json_string_value(type));
        return schema_fail(err, path, names, value);
    }
    if (!json_is_array(type))
        return 0;
    json_array_foreach(type, i, item)
    {
        if (!json_is_string(item) ||
            type_matches(value, json_string_value(item)))
            return 0;
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                 i ? " or " : "", json_string_value(item));
    }
    return schema_fail(err, path, names, value);
}

static int check_enum(const json_t *value, const json_t *options,
                      const char *path, struct error *err)
{
    size_t i;
    json_t *option;
    char *text;

    if (!json_is_array(options))
        return 0;
    json_array_foreach(options, i, option)
    {
        if (json_equal(value, option))
            return 0;
    }
    text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    error_set(err, ERR_PERMANENT, "%s: %.100s is not one of the allowed values",
              path, text ? text : "the value");
    set_code(err, OPENAI_ERR_SCHEMA);
    free(text);
    return -1;
}

static int check_node(const json_t *value, const json_t *schema,
                      const char *path, int depth, struct error *err);

static int check_object(const json_t *value, const json_t *schema,
                        const char *path, int depth, struct error *err)
{
    json_t *required = json_object_get(schema, "required");
    json_t *properties = json_object_get(schema, "properties");
    char child[256];
    const char *key;
    json_t *item;
    size_t i;

    json_array_foreach(required, i, item)
    {
        if (json_is_string(item) &&
            !json_object_get(value, json_string_value(item))) {
            error_set(err, ERR_PERMANENT, "%s.%s: missing", path,
                      json_string_value(item));
            set_code(err, OPENAI_ERR_SCHEMA);
            return -1;
        }
    }
    json_object_foreach((json_t *)value, key, item)
    {
        json_t *property = json_object_get(properties, key);

        snprintf(child, sizeof(child), "%s.%s", path, key);
        if (property && check_node(item, property, child, depth + 1, err))
            return -1;
    }
    return 0;
}

static int check_node(const json_t *value, const json_t *schema,
                      const char *path, int depth, struct error *err)
{
    json_t *items = json_object_get(schema, "items");
    char child[256];
    json_t *item;
    size_t i;

    /* NOTE: anyOf, $ref and $defs are not followed: what they describe
     * passes unchecked. */
    if (!json_is_object(schema) || depth > 32)
        return 0;
    if (check_type(value, json_object_get(schema, "type"), path, err) < 0 ||
        check_enum(value, json_object_get(schema, "enum"), path, err) < 0)
        return -1;
    if (json_is_object(value))
        return check_object(value, schema, path, depth, err);
    if (!json_is_array(value) || !json_is_object(items))
        return 0;
    json_array_foreach(value, i, item)
    {
        snprintf(child, sizeof(child), "%s[%zu]", path, i);
        if (check_node(item, items, child, depth + 1, err) < 0)
            return -1;
    }
    return 0;
}

int openai_check_schema(const json_t *value, const json_t *schema,
                        struct error *err)
{
    return check_node(value, schema, "content", 0, err);
}

/* ---- Building the request ---- */

static int valid_schema_name(const char *name)
{
    size_t length = name ? strlen(name) : 0;

    if (length == 0 || length > 64)
        return 0;
    for (size_t i = 0; i < length; i++) {
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' &&
            name[i] != '-')
            return 0;
    }
    return 1;
}

static json_t *parse_request_schema(const struct openai_request *request,
                                    struct error *err)
{
    json_t *schema;

    if (!request->input)
        return error_set(err, ERR_INVALID, "OpenAI request: input is NULL"),
               NULL;
    if (!valid_schema_name(request->schema_name))
        return error_set(err, ERR_INVALID,
                         "OpenAI request: invalid schema name \"%.80s\": "
                         "expected 1 to 64 letters, digits, '_' or '-'",
                         request->schema_name ? request->schema_name : ""),
               NULL;
    if (request->max_completion_tokens <= 0 ||
        (request->has_temperature &&
         (request->temperature < 0 || request->temperature > 2)))
        return error_set(err, ERR_INVALID,
                         "OpenAI request: max_completion_tokens must be "
                         "positive and temperature from 0 to 2"),
               NULL;
    schema = json_parse(request->schema_json ? request->schema_json : "",
                        request->schema_json ? strlen(request->schema_json) : 0,
                        MAX_JSON_DEPTH, err);
    if (!schema) {
        error_prefix(err, "OpenAI request: schema %s", request->schema_name);
        return NULL;
    }
    if (!json_is_object(schema)) {
        json_decref(schema);
        return error_set(err, ERR_INVALID,
                         "OpenAI request: schema %s is not a JSON object",
                         request->schema_name),
               NULL;
    }
    return schema;
}

static char *build_body(const struct openai_client *client,
                        const struct openai_request *request, json_t *schema)
{
    json_t *messages = json_array();
    json_t *body;
    char *text;

    if (request->instructions)
        json_array_append_new(messages,
                              json_pack("{s:s, s:s}", "role", "system",
                                        "content", request->instructions));
    json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user",
                                              "content", request->input));
    body = json_pack("{s:s, s:o, s:{s:s, s:{s:s, s:b, s:O}}, s:I}", "model",
                     client->model, "messages", messages, "response_format",
                     "type", "json_schema", "json_schema", "name",
                     request->schema_name, "strict", 1, "schema", schema,
                     "max_completion_tokens",
                     (json_int_t)request->max_completion_tokens);
    if (body && request->has_temperature)
        json_object_set_new(body, "temperature",
                            json_real(request->temperature));
    text = body ? json_to_string(body) : NULL;
    json_decref(body);
    return text;
}

/* ---- Reading an error response ---- */

struct api_error {
    const char *message;
    const char *type;
    const char *code;
};

static void read_api_error(const json_t *root, struct api_error *out)
{
    json_t *error = json_object_get(root, "error");

    out->message = json_string_value(json_object_get(error, "message"));
    out->type = json_string_value(json_object_get(error, "type"));
    out->code = json_string_value(json_object_get(error, "code"));
    if (!out->message)
        out->message = "";
    if (!out->type)
        out->type = "";
    if (!out->code)
        out->code = "";
}

static int is_quota_error(const struct api_error *api)
{
    return strcmp(api->code, "insufficient_quota") == 0 ||
           strcmp(api->code, "credit_balance_exhausted") == 0 ||
           strcmp(api->type, "insufficient_quota") == 0;
}

/* Sets err for a non-200 response and returns whether the status alone (the
 * table of retryable statuses) allows a retry. */
static int classify_status(long status, const struct api_error *api,
                           const struct openai_client *client,
                           struct error *err)
{
    const char *code = api->code[0] ? api->code : api->type;

    if (status == 401) {
        error_set(err, ERR_UNAUTHORIZED,
                  "OpenAI rejected the API key (HTTP 401 %s: %.200s): "
                  "check OPENAI_API_KEY",
                  code, api->message);
        return 0;
    }
    if (status == 429 && is_quota_error(api)) {
        error_set(err, ERR_PERMANENT,
                  "OpenAI quota exhausted (HTTP 429 %s: %.200s): add "
                  "credit to the OpenAI account or raise its limit",
                  code, api->message);
        return 0;
    }
    if (status == 429 && strncmp(api->message, "Request too large", 17) == 0) {
        error_set(err, ERR_INVALID,
                  "OpenAI rejected the request as larger than the "
                  "tokens-per-minute limit (HTTP 429: %.200s): shorten the "
                  "input or lower max_completion_tokens",
                  api->message);
        return 0;
    }
    if (status == 429) {
        error_set(err, ERR_RATE_LIMITED,
                  "OpenAI rate limit reached (HTTP 429 %s: %.200s)", code,
                  api->message);
        return 1;
    }
    if (status == 404) {
        error_set(err, ERR_INVALID,
                  "OpenAI returned HTTP 404 %s (%.200s): check "
                  "SITESMITH_OPENAI_MODEL (%s) and OPENAI_BASE_URL",
                  code, api->message, client->model);
        return 0;
    }
    if (status == 408 || status == 409 || status >= 500) {
        error_set(err, ERR_RETRYABLE, "OpenAI returned HTTP %ld %s: %.200s",
                  status, code, api->message);
        return 1;
    }
    error_set(err, http_status_error_kind(status),
              "OpenAI rejected the request (HTTP %ld %s: %.200s)", status, code,
              api->message);
    return 0;
}

static void classify_error_response(const struct http_client_response *resp,
                                    const struct openai_client *client,
                                    struct attempt_outcome *outcome,
                                    struct error *err)
{
    json_t *root = json_loadb(resp->body.data ? resp->body.data : "",
                              resp->body.len, 0, NULL);
    const char *should_retry = http_client_header(resp, "x-should-retry");
    const char *request_id = http_client_header(resp, "x-request-id");
    struct api_error api;
    int never;

    read_api_error(root, &api);
    outcome->retry = classify_status(resp->status, &api, client, err);

    /* x-should-retry overrides the status table, but a 401 or a quota
     * error is never retried. */
    never =
        resp->status == 401 || (resp->status == 429 && is_quota_error(&api));
    if (should_retry && strcmp(should_retry, "true") == 0 && !never)
        outcome->retry = 1;
    if (should_retry && strcmp(should_retry, "false") == 0)
        outcome->retry = 0;

    outcome->server_wait_ms = http_client_retry_after_ms(resp);
    err->http_status = (int)resp->status;
    err->retry_after_ms = outcome->server_wait_ms;
    set_code(err, api.code);
    if (request_id)
        snprintf(err->request_id, sizeof(err->request_id), "%s", request_id);
    json_decref(root);
}

/* ---- Reading a 200 response ---- */

static int generation_failure(struct error *err, const char *code,
                              const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int generation_failure(struct error *err, const char *code,
                              const char *fmt, ...)
{
    char message[ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    error_set(err, ERR_PERMANENT, "%s", message);
    set_code(err, code);
    return -1;
}

static int bad_response(struct error *err, const char *what)
{
    error_set(err, ERR_RETRYABLE,
              "OpenAI returned HTTP 200 without a usable chat completion: "
              "%s",
              what);
    set_code(err, OPENAI_ERR_BAD_RESPONSE);
    return -1;
}

static void read_usage(const json_t *root, struct openai_result *result)
{
    json_t *usage = json_object_get(root, "usage");
    const char *model = json_string_value(json_object_get(root, "model"));

    result->usage.prompt_tokens =
        json_integer_value(json_object_get(usage, "prompt_tokens"));
    result->usage.completion_tokens =
        json_integer_value(json_object_get(usage, "completion_tokens"));
    result->usage.total_tokens =
        json_integer_value(json_object_get(usage, "total_tokens"));
    if (model)
        snprintf(result->model, sizeof(result->model), "%s", model);
}

/* Turns a refusal or a finish reason other than "stop" into its
 * generation failure. */
static int check_finish(const json_t *message,
                        const struct openai_request *request,
                        const struct openai_result *result, struct error *err)
{
    const char *refusal =
        json_string_value(json_object_get(message, "refusal"));
    const char *reason = result->finish_reason;
    long long used = result->usage.completion_tokens;

    if (refusal)
        return generation_failure(err, OPENAI_ERR_REFUSAL,
                                  "the model refused: \"%.300s\"", refusal);
    if (strcmp(reason, "length") == 0)
        return generation_failure(
            err, OPENAI_ERR_LENGTH,
            "the output was cut off at %lld tokens (finish_reason length, "
            "max_completion_tokens %lld): raise max_completion_tokens or ask "
            "for a shorter answer",
            used ? used : (long long)request->max_completion_tokens,
            (long long)request->max_completion_tokens);
    if (strcmp(reason, "content_filter") == 0)
        return generation_failure(
            err, OPENAI_ERR_CONTENT_FILTER,
            "OpenAI's content filter left part of the output out "
            "(finish_reason content_filter): change the input");
    if (strcmp(reason, "stop") != 0)
        return generation_failure(
            err, OPENAI_ERR_BAD_RESPONSE,
            "the output ended with finish_reason \"%.40s\", not \"stop\"",
            reason);
    return 0;
}

/* Parses message.content and checks it against the schema and the
 * caller's check. */
static int read_content(const json_t *message, const json_t *schema,
                        const struct openai_request *request,
                        struct openai_result *result, struct error *err)
{
    const char *content =
        json_string_value(json_object_get(message, "content"));
    json_t *content_json;

    if (!content)
        return generation_failure(err, OPENAI_ERR_INVALID_JSON,
                                  "the response has no message content");
    content_json = json_parse(content, strlen(content), MAX_JSON_DEPTH, err);
    if (!content_json)
        return generation_failure(err, OPENAI_ERR_INVALID_JSON,
                                  "the model's output is not valid JSON (%s)",
                                  err->message);
    if (openai_check_schema(content_json, schema, err) < 0) {
        error_prefix(err, "the output does not match schema %s",
                     request->schema_name);
        json_decref(content_json);
        return -1;
    }
    if (request->check &&
        request->check(content_json, request->check_arg, err) < 0) {
        error_prefix(err, "the output failed the %s check",
                     request->schema_name);
        err->kind = ERR_PERMANENT;
        set_code(err, OPENAI_ERR_SCHEMA);
        json_decref(content_json);
        return -1;
    }
    result->content = content_json;
    return 0;
}

static int read_completion(const struct http_client_response *resp,
                           const json_t *schema,
                           const struct openai_request *request,
                           struct openai_result *result, struct error *err)
{
    const char *request_id = http_client_header(resp, "x-request-id");
    json_t *root;
    json_t *choice;
    const char *reason;
    int rc = -1;

    if (request_id)
        snprintf(result->request_id, sizeof(result->request_id), "%s",
                 request_id);
    root = json_parse(resp->body.data ? resp->body.data : "", resp->body.len,
                      MAX_JSON_DEPTH, err);
    if (!root)
        return bad_response(err, "the body is not JSON");
    read_usage(root, result);

    choice = json_array_get(json_object_get(root, "choices"), 0);
    reason = json_string_value(json_object_get(choice, "finish_reason"));
    if (!json_is_object(json_object_get(choice, "message")) || !reason) {
        bad_response(err, "choices[0] has no message or finish_reason");
        goto out;
    }
    snprintf(result->finish_reason, sizeof(result->finish_reason), "%s",
             reason);

    if (check_finish(json_object_get(choice, "message"), request, result, err) <
            0 ||
        read_content(json_object_get(choice, "message"), schema, request,
                     result, err) < 0)
        goto out;
    rc = 0;

out:
    json_decref(root);
    return rc;
}

/* ---- The call ---- */

static int send_once(const struct openai_client *client, const char *body,
                     struct http_client_response *resp, struct error *err)
{
    struct http_client_request req = {0};
    char url[600];
    char auth[512];
    int rc;

    snprintf(url, sizeof(url), "%s/chat/completions", client->base_url);
    if (snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
                 client->api_key) >= (int)sizeof(auth))
        return error_set(err, ERR_INVALID,
                         "OPENAI_API_KEY: invalid value: too long");
    req.method = "POST";
    req.url = url;
    req.service = "openai";
    req.headers[0] = auth;
    req.headers[1] = "Content-Type: application/json";
    req.headers[2] = "Accept: application/json";
    req.body = body;
    req.body_len = strlen(body);
    req.connect_timeout_ms = client->connect_timeout_ms;
    req.timeout_ms = client->timeout_ms;
    req.max_response_bytes = MAX_RESPONSE_BYTES;

    rc = http_client_send(&req, resp, err);
    explicit_bzero(auth, sizeof(auth));
    if (rc < 0)
        error_prefix(err, "OpenAI request to %s failed", url);
    return rc;
}

static int64_t retry_delay_ms(const struct attempt_outcome *outcome,
                              int retries)
{
    if (outcome->server_wait_ms >= 0 &&
        outcome->server_wait_ms <= MAX_SERVER_WAIT_MS)
        return outcome->server_wait_ms;
    return ai_backoff_ms(retries, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
}

/* Sends one attempt. Returns 1 when it is over (result or err final), 0
 * when the caller should retry after outcome's delay. */
static int run_attempt(struct openai_client *client, const char *body,
                       int64_t estimate, const json_t *schema,
                       const struct openai_request *request,
                       struct openai_result *result,
                       struct attempt_outcome *outcome, struct error *err)
{
    struct http_client_response resp = {0};
    int done = 1;

    error_clear(err);
    outcome->retry = 0;
    outcome->server_wait_ms = -1;
    if (ai_limiter_acquire(client->limiter, estimate, client->limit_max_wait_ms,
                           err) < 0)
        return 1;

    result->attempts++;
    if (send_once(client, body, &resp, err) < 0) {
        /* Connection errors and timeouts are retried; a too-large
         * response or an invalid URL is not. */
        ai_limiter_adjust_tokens(client->limiter, -estimate);
        done = err->kind != ERR_RETRYABLE;
    } else if (resp.status == 200) {
        read_completion(&resp, schema, request, result, err);
        if (result->usage.total_tokens > 0)
            ai_limiter_adjust_tokens(client->limiter,
                                     result->usage.total_tokens - estimate);
    } else {
        ai_limiter_adjust_tokens(client->limiter, -estimate);
        classify_error_response(&resp, client, outcome, err);
        done = !outcome->retry;
    }
    http_client_response_release(&resp);
    return done;
}

int openai_chat_json(struct openai_client *client,
                     const struct openai_request *request,
                     struct openai_result *result, struct error *err)
{
    struct attempt_outcome outcome;
    struct error attempt_err;
    json_t *schema;
    char *body = NULL;
    int64_t estimate;
    int64_t delay;

    memset(result, 0, sizeof(*result));
    error_clear(&attempt_err);
    schema = parse_request_schema(request, &attempt_err);
    if (!schema)
        goto out;
    body = build_body(client, request, schema);
    if (!body) {
        error_set(&attempt_err, ERR_PERMANENT,
                  "out of memory building the OpenAI request");
        goto out;
    }
    estimate = (int64_t)strlen(body) / BYTES_PER_TOKEN +
               request->max_completion_tokens;

    while (!run_attempt(client, body, estimate, schema, request, result,
                        &outcome, &attempt_err)) {
        delay = retry_delay_ms(&outcome, result->attempts - 1);
        /* Other threads pause too, for as long as this one waits. */
        if (attempt_err.http_status == 429)
            ai_limiter_hold(client->limiter, delay);
        if (result->attempts >= MAX_ATTEMPTS)
            break;
        log_warn("openai",
                 "retrying chat completion attempt=%d status=%d code=%s "
                 "delay_ms=%lld request_id=%s",
                 result->attempts + 1, attempt_err.http_status,
                 attempt_err.code[0] ? attempt_err.code : "none",
                 (long long)delay,
                 attempt_err.request_id[0] ? attempt_err.request_id : "none");
        clock_sleep_ms(delay);
    }
    if (attempt_err.kind == ERR_NONE && result->content)
        log_debug("openai",
                  "chat completion done model=%s attempts=%d "
                  "total_tokens=%lld request_id=%s",
                  result->model, result->attempts,
                  (long long)result->usage.total_tokens,
                  result->request_id[0] ? result->request_id : "none");

out:
    free(body);
    json_decref(schema);
    if (attempt_err.kind != ERR_NONE && err)
        *err = attempt_err;
    return attempt_err.kind == ERR_NONE ? 0 : -1;
}
