/*
 * OpenAI chat completions with structured output (response_format
 * json_schema, strict). One call sends one request, retries it as the
 * official SDKs do (but never a quota error or a 401), and returns the
 * model's output parsed and checked against the schema, with the token
 * usage that the caller records with the generation.
 *
 * Any OpenAI-compatible server works by changing OPENAI_BASE_URL.
 */
#ifndef SITESMITH_AI_OPENAI_H
#define SITESMITH_AI_OPENAI_H

#include "core/config.h"
#include "core/error.h"

#include <jansson.h>
#include <stdint.h>

/*
 * Codes set in err->code for HTTP 200 responses whose output is unusable.
 * They are generation failures, not HTTP errors. Retrying the same request
 * is unlikely to help, so err->kind is ERR_PERMANENT.
 */
#define OPENAI_ERR_LENGTH "length"                 /* cut at the token cap */
#define OPENAI_ERR_CONTENT_FILTER "content_filter" /* content left out */
#define OPENAI_ERR_REFUSAL "refusal"               /* the model refused */
#define OPENAI_ERR_INVALID_JSON "invalid_json"     /* content is not JSON */
#define OPENAI_ERR_SCHEMA "schema_mismatch" /* JSON misses what is needed */
/* A 200 whose body is not a chat completion (ERR_RETRYABLE). */
#define OPENAI_ERR_BAD_RESPONSE "bad_response"

struct openai_client;

/*
 * Creates a client from the configuration:
 *   OPENAI_API_KEY             required; sent as "Authorization: Bearer"
 *   OPENAI_BASE_URL            default https://api.openai.com/v1
 *   SITESMITH_OPENAI_MODEL     default gpt-4o-mini
 *   SITESMITH_OPENAI_TIMEOUT   whole request, default 300 s
 *   SITESMITH_OPENAI_CONNECT_TIMEOUT  default 10 s
 *   SITESMITH_OPENAI_RPM       requests a minute, default 500 (0: no limit)
 *   SITESMITH_OPENAI_TPM       tokens a minute, default 200000 (0: none)
 *   SITESMITH_AI_LIMIT_MAX_WAIT  longest wait for the client-side limiter
 *                              before failing with ERR_RATE_LIMITED,
 *                              default 60 s
 * The limits apply to the process-wide "openai" limiter shared by every
 * client. Returns NULL with err set (naming the variable) on a missing or
 * invalid value. Free with openai_client_free(). The client is read-only
 * after creation, so any thread may use it at the same time.
 */
struct openai_client *openai_client_new(const struct config *cfg,
                                        struct error *err);

void openai_client_free(struct openai_client *client);

/* The model that calls use, e.g. "gpt-4o-mini". Borrowed from client. */
const char *openai_client_model(const struct openai_client *client);

/*
 * Checks the parsed output beyond its schema. Returns 0, or -1 with err
 * set (openai_chat_json() then replaces its kind and code by
 * ERR_PERMANENT and OPENAI_ERR_SCHEMA).
 */
typedef int (*openai_check_fn)(const json_t *content, void *arg,
                               struct error *err);

struct openai_request {
    const char *instructions; /* sent with role "system"; may be NULL */
    const char *input;        /* the user message */
    /* The json_schema name: letters, digits, '_' and '-', at most 64. */
    const char *schema_name;
    /* A JSON Schema object as text, in the strict subset: every object
     * has additionalProperties false and lists all its properties in
     * required. */
    const char *schema_json;
    int64_t max_completion_tokens; /* > 0 */
    int has_temperature;           /* 0: send no temperature */
    double temperature;            /* 0 to 2 */
    openai_check_fn check;         /* optional */
    void *check_arg;
};

struct openai_usage {
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t total_tokens;
};

struct openai_result {
    json_t *content; /* message.content parsed; caller releases */
    struct openai_usage usage;
    char request_id[128]; /* x-request-id of the response, or "" */
    char model[128];      /* the model that responded (a resolved name) */
    char finish_reason[32];
    int attempts; /* HTTP requests sent, 1 to 3 */
};

/*
 * Sends request, with at most two retries after a retryable failure: a
 * connection error or timeout, 408, 409, 429 rate_limit_exceeded or
 * slow_down, 5xx, or any status with "x-should-retry: true". The wait
 * before a retry is retry-after-ms or Retry-After when it is within 0 to
 * 60 s, else min(0.5 * 2^n, 8) s minus up to 25% jitter. Before each
 * request the call waits for the client-side limiter.
 *
 * Never retried: 401 (ERR_UNAUTHORIZED), 429 insufficient_quota or
 * credit_balance_exhausted (ERR_PERMANENT), 429 "Request too large"
 * (ERR_INVALID), other 4xx, and any 200 response.
 *
 * On success returns 0 and fills result; the caller calls
 * openai_result_release(). On failure returns -1 with err set. result then
 * contains the usage, request id and model of an unusable 200 response,
 * because those tokens are billed, or zeros when none arrived. Release it
 * either way. Any thread may call this.
 */
int openai_chat_json(struct openai_client *client,
                     const struct openai_request *request,
                     struct openai_result *result, struct error *err);

void openai_result_release(struct openai_result *result);

/*
 * Checks value against a JSON Schema's "type" (a name or a list of
 * names), "required", "properties", "items" and "enum", recursively.
 * Returns 0, or -1 with err set to ERR_PERMANENT and OPENAI_ERR_SCHEMA and a
 * message naming the path, e.g. "content.sections[2].title: expected a
 * string, found null". openai_chat_json() runs it on every output.
 */
int openai_check_schema(const json_t *value, const json_t *schema,
                        struct error *err);

#endif
