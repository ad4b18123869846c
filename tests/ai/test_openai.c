#include "ai/limiter.h"
#include "ai/openai.h"
#include "ai_faults.h"
#include "ai_sandbox.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "http/server.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define API_KEY "sk-test-sitesmith-0123456789abcdef"
#define CHAT_PATH "/openai/v1/chat/completions"

static struct ai_sandbox sandbox;

static const char product_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"name\",\"description\",\"seo_title\","
    "\"seo_description\"],"
    "\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"description\":{\"type\":\"string\"},"
    "\"seo_title\":{\"type\":\"string\"},"
    "\"seo_description\":{\"type\":[\"string\",\"null\"]}}}";

static int start_sandbox(void **state)
{
    (void)state;
    ai_sandbox_start(&sandbox);
    return 0;
}

static int stop_sandbox(void **state)
{
    (void)state;
    ai_sandbox_stop(&sandbox);
    return 0;
}

/* A fresh sandbox and a fresh limiter (after a 429, one test would pause
 * the process-wide limiter for the next). */
static int reset_sandbox(void **state)
{
    (void)state;
    ai_limiter_reset(ai_limiter_shared("openai", 0, 0));
    ai_sandbox_reset(&sandbox);
    return 0;
}

/* A client of the sandbox with the limiter off, plus NULL-ended name and
 * value pairs of settings. */
static struct openai_client *new_client(const char *const *settings)
{
    static const char *const defaults[] = {"OPENAI_API_KEY",
                                           API_KEY,
                                           "SITESMITH_OPENAI_RPM",
                                           "0",
                                           "SITESMITH_OPENAI_TPM",
                                           "0",
                                           NULL};
    struct config *cfg = ai_sandbox_config(&sandbox, "OPENAI_BASE_URL",
                                           "/openai/v1", defaults, settings);
    struct openai_client *client;
    struct error err;

    client = openai_client_new(cfg, &err);
    if (!client)
        fail_msg("openai_client_new: %s", err.message);
    config_free(cfg);
    return client;
}

static struct openai_request product_request(const char *input)
{
    return (struct openai_request){
        .instructions = "Rewrite the product copy for an online store.",
        .input = input,
        .schema_name = "product_copy",
        .schema_json = product_schema,
        .max_completion_tokens = 2000,
    };
}

static const char plain_input[] =
    "Product: linen summer shirt, breathable, relaxed fit, three colours.";

static int chat_calls(void)
{
    return ai_faults_count(&sandbox, "POST", CHAT_PATH, -1);
}

/* ---- Success ---- */

static void round_trip_returns_checked_json(void **state)
{
    struct openai_client *client = new_client(NULL);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;

    (void)state;
    assert_int_equal(openai_chat_json(client, &request, &result, &err), 0);
    assert_true(json_is_object(result.content));
    assert_true(json_is_string(json_object_get(result.content, "name")));
    assert_true(json_is_string(json_object_get(result.content, "description")));
    assert_non_null(json_object_get(result.content, "seo_description"));
    assert_true(result.usage.prompt_tokens > 0);
    assert_true(result.usage.completion_tokens > 0);
    assert_int_equal(result.usage.total_tokens,
                     result.usage.prompt_tokens +
                         result.usage.completion_tokens);
    assert_int_equal(strncmp(result.request_id, "req_", 4), 0);
    assert_int_equal(strncmp(result.model, "gpt-4o-mini", 11), 0);
    assert_string_equal(result.finish_reason, "stop");
    assert_int_equal(result.attempts, 1);
    assert_int_equal(chat_calls(), 1);

    openai_result_release(&result);
    openai_client_free(client);
}

static int reject_every_output(const json_t *content, void *arg,
                               struct error *err)
{
    (void)content;
    (*(int *)arg)++;
    return error_set(err, ERR_INVALID, "name is too long for the store");
}

static void caller_check_rejects_output(void **state)
{
    struct openai_client *client = new_client(NULL);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;
    int checks = 0;

    (void)state;
    request.check = reject_every_output;
    request.check_arg = &checks;
    assert_int_equal(openai_chat_json(client, &request, &result, &err), -1);
    assert_int_equal(checks, 1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.code, OPENAI_ERR_SCHEMA);
    assert_non_null(strstr(err.message, "name is too long"));
    assert_null(result.content);
    /* The tokens were spent all the same, so the caller can record them. */
    assert_true(result.usage.total_tokens > 0);
    assert_int_equal(chat_calls(), 1);

    openai_result_release(&result);
    openai_client_free(client);
}

/* ---- Generation failures ---- */

static void expect_generation_failure(const char *input,
                                      int64_t max_completion_tokens,
                                      const char *code, const char *phrase)
{
    struct openai_client *client = new_client(NULL);
    struct openai_request request = product_request(input);
    struct openai_result result;
    struct error err;

    request.max_completion_tokens = max_completion_tokens;
    assert_int_equal(openai_chat_json(client, &request, &result, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.code, code);
    if (!strstr(err.message, phrase))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, phrase);
    assert_null(result.content);
    assert_true(result.usage.total_tokens > 0);
    assert_int_equal(strncmp(result.request_id, "req_", 4), 0);
    /* A generation failure is not retried. */
    assert_int_equal(result.attempts, 1);
    assert_int_equal(chat_calls(), 1);

    openai_result_release(&result);
    openai_client_free(client);
}

static void refusal_quoted(void **state)
{
    (void)state;
    expect_generation_failure("Write it. [sandbox:refusal]", 2000,
                              OPENAI_ERR_REFUSAL,
                              "\"I'm sorry, but I can't help with that");
}

static void length_cut_off(void **state)
{
    (void)state;
    expect_generation_failure(plain_input, 5, OPENAI_ERR_LENGTH,
                              "cut off at 5 tokens");
}

static void content_filter_reported(void **state)
{
    (void)state;
    expect_generation_failure("Write it. [sandbox:content_filter]", 2000,
                              OPENAI_ERR_CONTENT_FILTER, "content filter");
}

static void output_not_json(void **state)
{
    (void)state;
    expect_generation_failure("Write it. [sandbox:invalid_json]", 2000,
                              OPENAI_ERR_INVALID_JSON, "not valid JSON");
}

static void schema_check_names_path(void **state)
{
    json_t *schema = json_loads(product_schema, 0, NULL);
    json_t *missing = json_pack("{s:s, s:s, s:s}", "name", "Shirt",
                                "description", "Linen", "seo_title", "Shirt");
    json_t *wrong =
        json_pack("{s:s, s:s, s:i, s:n}", "name", "Shirt", "description",
                  "Linen", "seo_title", 7, "seo_description");
    json_t *nested = json_loads(
        "{\"type\":\"object\",\"properties\":{\"sections\":{\"type\":"
        "\"array\",\"items\":{\"type\":\"object\",\"required\":[\"title\"],"
        "\"properties\":{\"title\":{\"type\":\"string\"},\"kind\":{\"enum\":"
        "[\"intro\",\"body\"]}}}}}}",
        0, NULL);
    json_t *bad_item =
        json_loads("{\"sections\":[{\"title\":\"a\",\"kind\":\"intro\"},"
                   "{\"title\":\"b\",\"kind\":\"outro\"}]}",
                   0, NULL);
    struct error err;

    (void)state;
    assert_int_equal(openai_check_schema(missing, schema, &err), -1);
    assert_string_equal(err.message, "content.seo_description: missing");
    assert_string_equal(err.code, OPENAI_ERR_SCHEMA);
    assert_int_equal(openai_check_schema(wrong, schema, &err), -1);
    assert_string_equal(err.message,
                        "content.seo_title: expected string, found an "
                        "integer");
    assert_int_equal(openai_check_schema(bad_item, nested, &err), -1);
    assert_non_null(strstr(err.message, "content.sections[1].kind"));
    json_object_set_new(
        json_array_get(json_object_get(bad_item, "sections"), 1), "kind",
        json_string("body"));
    assert_int_equal(openai_check_schema(bad_item, nested, &err), 0);

    json_decref(schema);
    json_decref(missing);
    json_decref(wrong);
    json_decref(nested);
    json_decref(bad_item);
}

/* ---- Broken responses ---- */

static void malformed_body_not_retried(void **state)
{
    struct openai_client *client = new_client(NULL);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;

    (void)state;
    ai_faults_addf(&sandbox, "{\"endpoint\":\"POST " CHAT_PATH
                             "\",\"mode\":\"malformed\"}");
    assert_int_equal(openai_chat_json(client, &request, &result, &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, OPENAI_ERR_BAD_RESPONSE);
    assert_non_null(strstr(err.message, "not JSON"));
    assert_int_equal(result.attempts, 1);
    assert_int_equal(chat_calls(), 1);

    openai_result_release(&result);
    openai_client_free(client);
}

static void truncated_body_retried(void **state)
{
    struct openai_client *client = new_client(NULL);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;

    (void)state;
    ai_faults_addf(&sandbox, "{\"endpoint\":\"POST " CHAT_PATH
                             "\",\"mode\":\"truncate\"}");
    assert_int_equal(openai_chat_json(client, &request, &result, &err), 0);
    assert_int_equal(result.attempts, 2);
    assert_true(json_is_object(result.content));
    assert_int_equal(chat_calls(), 2);

    openai_result_release(&result);
    openai_client_free(client);
}

static void timeout_retried(void **state)
{
    const char *const settings[] = {"SITESMITH_OPENAI_TIMEOUT", "400ms", NULL};
    struct openai_client *client = new_client(settings);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;

    (void)state;
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " CHAT_PATH "\",\"mode\":\"delay\","
                   "\"delay_ms\":1500}");
    assert_int_equal(openai_chat_json(client, &request, &result, &err), 0);
    assert_int_equal(result.attempts, 2);

    openai_result_release(&result);
    openai_client_free(client);
}

/* ---- HTTP errors and retries ---- */

static void rate_limit_waits_retry_after(void **state)
{
    struct openai_client *client = new_client(NULL);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;
    int64_t start = clock_monotonic_ms();

    (void)state;
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " CHAT_PATH "\",\"status\":429,"
                   "\"retry_after_s\":1}");
    assert_int_equal(openai_chat_json(client, &request, &result, &err), 0);
    assert_int_equal(result.attempts, 2);
    assert_true(clock_monotonic_ms() - start >= 1000);
    assert_int_equal(ai_faults_count(&sandbox, "POST", CHAT_PATH, 429), 1);
    assert_int_equal(ai_faults_count(&sandbox, "POST", CHAT_PATH, 200), 1);

    openai_result_release(&result);
    openai_client_free(client);
}

static void rate_limit_without_wait_backs_off(void **state)
{
    struct openai_client *client = new_client(NULL);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;
    int64_t start = clock_monotonic_ms();
    int64_t elapsed;

    (void)state;
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " CHAT_PATH "\",\"status\":429,"
                   "\"count\":2}");
    assert_int_equal(openai_chat_json(client, &request, &result, &err), 0);
    elapsed = clock_monotonic_ms() - start;
    assert_int_equal(result.attempts, 3);
    /* 0.5 s and 1 s, each less up to 25% jitter. */
    assert_true(elapsed >= 1125);
    assert_true(elapsed < 4000);
    assert_int_equal(chat_calls(), 3);

    openai_result_release(&result);
    openai_client_free(client);
}

static void rate_limit_gives_up_after_three(void **state)
{
    struct openai_client *client = new_client(NULL);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;

    (void)state;
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " CHAT_PATH "\",\"status\":429,"
                   "\"count\":5}");
    assert_int_equal(openai_chat_json(client, &request, &result, &err), -1);
    assert_int_equal(err.kind, ERR_RATE_LIMITED);
    assert_int_equal(err.http_status, 429);
    assert_string_equal(err.code, "rate_limit_exceeded");
    assert_int_equal(result.attempts, 3);
    assert_int_equal(chat_calls(), 3);

    openai_result_release(&result);
    openai_client_free(client);
}

static void server_errors_then_success(void **state)
{
    struct openai_client *client = new_client(NULL);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;

    (void)state;
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " CHAT_PATH "\",\"status\":503}");
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " CHAT_PATH "\",\"status\":500}");
    assert_int_equal(openai_chat_json(client, &request, &result, &err), 0);
    assert_int_equal(result.attempts, 3);
    assert_int_equal(ai_faults_count(&sandbox, "POST", CHAT_PATH, 503), 1);
    assert_int_equal(ai_faults_count(&sandbox, "POST", CHAT_PATH, 500), 1);
    assert_int_equal(ai_faults_count(&sandbox, "POST", CHAT_PATH, 200), 1);

    openai_result_release(&result);
    openai_client_free(client);
}

/* Runs one request that must fail at once, without a retry. */
static void expect_no_retry(enum error_kind kind, const char *phrase)
{
    struct openai_client *client = new_client(NULL);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;

    assert_int_equal(openai_chat_json(client, &request, &result, &err), -1);
    assert_int_equal(err.kind, kind);
    if (!strstr(err.message, phrase))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, phrase);
    assert_int_equal(result.attempts, 1);
    assert_int_equal(result.usage.total_tokens, 0);
    assert_int_equal(chat_calls(), 1);

    openai_result_release(&result);
    openai_client_free(client);
}

static void insufficient_quota_not_retried(void **state)
{
    (void)state;
    ai_sandbox_configure(&sandbox,
                         "{\"openai\":{\"mode\":\"insufficient_quota\"}}");
    expect_no_retry(ERR_PERMANENT, "add credit to the OpenAI account");
}

static void credit_exhausted_not_retried(void **state)
{
    (void)state;
    ai_sandbox_configure(
        &sandbox, "{\"openai\":{\"mode\":\"credit_balance_exhausted\"}}");
    expect_no_retry(ERR_PERMANENT, "credit_balance_exhausted");
}

static void wrong_key_not_retried(void **state)
{
    (void)state;
    ai_sandbox_configure(&sandbox, "{\"openai\":{\"api_key\":"
                                   "\"sk-the-right-key-0123456789\"}}");
    expect_no_retry(ERR_UNAUTHORIZED, "check OPENAI_API_KEY");
}

static void request_too_large_not_retried(void **state)
{
    (void)state;
    /* 1000 tokens a minute, less than the 2000 the request may use. */
    ai_sandbox_configure(&sandbox, "{\"openai\":{\"tpm\":1000}}");
    expect_no_retry(ERR_INVALID, "shorten the input");
}

static void unknown_model_not_retried(void **state)
{
    (void)state;
    ai_sandbox_configure(&sandbox, "{\"openai\":{\"models\":[\"gpt-4o\"]}}");
    expect_no_retry(ERR_INVALID, "check SITESMITH_OPENAI_MODEL (gpt-4o-mini)");
}

static void connection_refused_retried(void **state)
{
    /* Port 1 on loopback: nothing listens there. */
    const char *const settings[] = {"OPENAI_BASE_URL", "http://127.0.0.1:1/v1",
                                    NULL};
    struct openai_client *client = new_client(settings);
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;

    (void)state;
    assert_int_equal(openai_chat_json(client, &request, &result, &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, "connect");
    assert_int_equal(result.attempts, 3);

    openai_result_release(&result);
    openai_client_free(client);
}

static void key_never_logged(void **state)
{
    struct openai_client *client;
    struct openai_request request = product_request(plain_input);
    struct openai_result result;
    struct error err;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    (void)state;
    error_clear(&err);
    log_set_output(out);
    log_set_level(LOG_DEBUG);
    client = new_client(NULL);
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " CHAT_PATH "\",\"status\":503}");
    assert_int_equal(openai_chat_json(client, &request, &result, &err), 0);
    openai_result_release(&result);
    openai_client_free(client);
    log_set_output(NULL);
    log_set_level(LOG_INFO);
    fclose(out);

    assert_non_null(strstr(text, "retrying chat completion"));
    assert_null(strstr(text, API_KEY));
    assert_null(strstr(err.message, API_KEY));
    free(text);
}

static void missing_key_rejected(void **state)
{
    struct config *cfg = config_new_empty();
    struct error err;

    (void)state;
    assert_null(openai_client_new(cfg, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "OPENAI_API_KEY"));
    config_set(cfg, "OPENAI_API_KEY", API_KEY);
    config_set(cfg, "SITESMITH_OPENAI_TPM", "lots");
    assert_null(openai_client_new(cfg, &err));
    assert_non_null(strstr(err.message, "SITESMITH_OPENAI_TPM"));
    config_free(cfg);
}

/* ---- Retry headers, from a scripted server ---- */

/* One scripted response: status, extra headers and body. */
struct scripted {
    int status;
    const char *headers[2][2];
    const char *body;
};

struct script {
    const struct scripted *responses;
    size_t count;
    size_t served;
};

static const char completion_body[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"{\\\"name\\\":"
    "\\\"Shirt\\\",\\\"description\\\":\\\"Linen\\\",\\\"seo_title\\\":"
    "\\\"Shirt\\\",\\\"seo_description\\\":null}\",\"refusal\":null},"
    "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{"
    "\"prompt_tokens\":10,\"completion_tokens\":20,\"total_tokens\":30}}";

static void serve_script(struct http_request *req, struct http_response *resp,
                         void *ctx)
{
    struct script *script = ctx;
    const struct scripted *next;

    (void)req;
    if (script->served == script->count) {
        http_response_error(resp, 500, "script_over", "no more responses");
        return;
    }
    next = &script->responses[script->served++];
    http_response_bytes(resp, next->status, "application/json", next->body,
                        strlen(next->body));
    for (int i = 0; i < 2 && next->headers[i][0]; i++)
        http_response_header(resp, next->headers[i][0], next->headers[i][1]);
}

/* Runs one request against a server that sends responses in order, and
 * returns openai_chat_json()'s result; *served says how many it sent. */
static int run_script(const struct scripted *responses, size_t count,
                      struct openai_result *result, struct error *err,
                      size_t *served)
{
    struct http_server_options options = {.listen = "127.0.0.1:0", .quiet = 1};
    struct script script = {.responses = responses, .count = count};
    struct openai_request request = product_request(plain_input);
    struct http_server *server = http_server_new(&options, err);
    struct openai_client *client;
    char url[64];
    const char *settings[] = {"OPENAI_BASE_URL", url, NULL};
    int rc;

    assert_non_null(server);
    assert_int_equal(http_server_route(server, "POST", "/v1/chat/completions",
                                       serve_script, &script),
                     0);
    assert_int_equal(http_server_start(server, err), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1",
             http_server_port(server));
    client = new_client(settings);
    rc = openai_chat_json(client, &request, result, err);
    openai_client_free(client);
    http_server_free(server);
    *served = script.served;
    return rc;
}

static const char overloaded_body[] =
    "{\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\","
    "\"param\":null,\"code\":null}}";
static const char bad_request_body[] =
    "{\"error\":{\"message\":\"Try again\",\"type\":"
    "\"invalid_request_error\",\"param\":null,\"code\":null}}";
static const char quota_body[] =
    "{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":"
    "\"insufficient_quota\",\"param\":null,\"code\":"
    "\"insufficient_quota\"}}";
static const char key_body[] =
    "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":"
    "\"invalid_request_error\",\"param\":null,\"code\":"
    "\"invalid_api_key\"}}";
static const char rate_body[] =
    "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
    "\"param\":null,\"code\":\"rate_limit_exceeded\"}}";

static void should_retry_true_retries_400(void **state)
{
    const struct scripted responses[] = {
        {400, {{"x-should-retry", "true"}}, bad_request_body},
        {200, {{NULL}}, completion_body},
    };
    struct openai_result result;
    struct error err;
    size_t served;

    (void)state;
    assert_int_equal(run_script(responses, 2, &result, &err, &served), 0);
    assert_int_equal(served, 2);
    assert_int_equal(result.attempts, 2);
    assert_string_equal(
        json_string_value(json_object_get(result.content, "name")), "Shirt");
    assert_int_equal(result.usage.total_tokens, 30);
    openai_result_release(&result);
}

static void should_retry_false_stops_503(void **state)
{
    const struct scripted responses[] = {
        {503, {{"x-should-retry", "false"}}, overloaded_body},
        {200, {{NULL}}, completion_body},
    };
    struct openai_result result;
    struct error err;
    size_t served;

    (void)state;
    assert_int_equal(run_script(responses, 2, &result, &err, &served), -1);
    assert_int_equal(served, 1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_int_equal(err.http_status, 503);
    openai_result_release(&result);
}

static void should_retry_ignored_for_quota_and_key(void **state)
{
    const struct scripted quota[] = {
        {429, {{"x-should-retry", "true"}}, quota_body},
        {200, {{NULL}}, completion_body},
    };
    const struct scripted key[] = {
        {401, {{"x-should-retry", "true"}}, key_body},
        {200, {{NULL}}, completion_body},
    };
    struct openai_result result;
    struct error err;
    size_t served;

    (void)state;
    assert_int_equal(run_script(quota, 2, &result, &err, &served), -1);
    assert_int_equal(served, 1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    openai_result_release(&result);

    assert_int_equal(run_script(key, 2, &result, &err, &served), -1);
    assert_int_equal(served, 1);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    openai_result_release(&result);
}

static void retry_after_past_minute_ignored(void **state)
{
    /* A wait past 60 s is not honoured: the backoff (0.5 s) applies, and
     * the final error still carries the server's wait for the queue. */
    const struct scripted responses[] = {
        {429, {{"retry-after-ms", "100000"}}, rate_body},
        {429, {{"retry-after", "120"}}, rate_body},
        {429, {{"retry-after-ms", "250"}}, rate_body},
    };
    struct openai_result result;
    struct error err;
    size_t served;
    int64_t start = clock_monotonic_ms();

    (void)state;
    assert_int_equal(run_script(responses, 3, &result, &err, &served), -1);
    assert_int_equal(served, 3);
    assert_true(clock_monotonic_ms() - start < 3000);
    assert_int_equal(err.kind, ERR_RATE_LIMITED);
    assert_int_equal(err.retry_after_ms, 250);
    openai_result_release(&result);
}

/* ---- Client-side limits ---- */

struct sender {
    struct openai_client *client;
    int requests;
    int failures;
};

static void *send_requests(void *arg)
{
    struct sender *sender = arg;
    struct openai_request request = product_request(plain_input);

    for (int i = 0; i < sender->requests; i++) {
        struct openai_result result;
        struct error err;

        if (openai_chat_json(sender->client, &request, &result, &err) != 0)
            sender->failures++;
        openai_result_release(&result);
    }
    return NULL;
}

static void limiter_paces_bulk_run(void **state)
{
    /* 120 a minute: a burst of 6, then one every 526 ms. */
    const char *const settings[] = {"SITESMITH_OPENAI_RPM", "120", NULL};
    struct openai_client *client = new_client(settings);
    struct sender senders[2];
    pthread_t threads[2];
    int64_t times[10];
    size_t count;
    int in_first_second = 0;

    (void)state;
    for (int i = 0; i < 2; i++) {
        senders[i] = (struct sender){.client = client, .requests = 5};
        assert_int_equal(
            pthread_create(&threads[i], NULL, send_requests, &senders[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(senders[i].failures, 0);
    }

    /* The sandbox saw the burst, then the rest paced: 10 requests need
     * 4 * 526 ms after the burst. */
    count = ai_faults_times(&sandbox, "POST", CHAT_PATH, times, 10);
    assert_int_equal(count, 10);
    for (size_t i = 0; i < count; i++) {
        if (times[i] - times[0] < 1000)
            in_first_second++;
    }
    assert_in_range(in_first_second, 6, 7);
    assert_true(times[9] - times[0] >= 2000);
    openai_client_free(client);
}

static void limiter_tokens_corrected_by_usage(void **state)
{
    /* 60000 tokens a minute: a burst of 3000. Each request reserves about
     * 2150 tokens (its size and the 2000 cap) but uses a few hundred, so
     * the correction lets four requests go without a wait. */
    const char *const settings[] = {"SITESMITH_OPENAI_TPM", "60000", NULL};
    struct openai_client *client = new_client(settings);
    struct sender sender = {.client = client, .requests = 4};
    struct ai_limiter *limiter;
    int64_t start = clock_monotonic_ms();

    (void)state;
    send_requests(&sender);
    assert_int_equal(sender.failures, 0);
    assert_true(clock_monotonic_ms() - start < 1500);

    /* The shared limiter is the one the client used: a reservation of the
     * whole burst now waits for the tokens actually spent. */
    limiter = ai_limiter_shared("openai", 0, 60000);
    assert_true(ai_limiter_reserve(limiter, 3000) > 0);
    ai_limiter_cancel(limiter, 3000);
    openai_client_free(client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(round_trip_returns_checked_json, reset_sandbox),
        cmocka_unit_test_setup(caller_check_rejects_output, reset_sandbox),
        cmocka_unit_test_setup(refusal_quoted, reset_sandbox),
        cmocka_unit_test_setup(length_cut_off, reset_sandbox),
        cmocka_unit_test_setup(content_filter_reported, reset_sandbox),
        cmocka_unit_test_setup(output_not_json, reset_sandbox),
        cmocka_unit_test(schema_check_names_path),
        cmocka_unit_test_setup(malformed_body_not_retried, reset_sandbox),
        cmocka_unit_test_setup(truncated_body_retried, reset_sandbox),
        cmocka_unit_test_setup(timeout_retried, reset_sandbox),
        cmocka_unit_test_setup(rate_limit_waits_retry_after, reset_sandbox),
        cmocka_unit_test_setup(rate_limit_without_wait_backs_off,
                               reset_sandbox),
        cmocka_unit_test_setup(rate_limit_gives_up_after_three, reset_sandbox),
        cmocka_unit_test_setup(server_errors_then_success, reset_sandbox),
        cmocka_unit_test_setup(insufficient_quota_not_retried, reset_sandbox),
        cmocka_unit_test_setup(credit_exhausted_not_retried, reset_sandbox),
        cmocka_unit_test_setup(wrong_key_not_retried, reset_sandbox),
        cmocka_unit_test_setup(request_too_large_not_retried, reset_sandbox),
        cmocka_unit_test_setup(unknown_model_not_retried, reset_sandbox),
        cmocka_unit_test_setup(connection_refused_retried, reset_sandbox),
        cmocka_unit_test_setup(key_never_logged, reset_sandbox),
        cmocka_unit_test(missing_key_rejected),
        cmocka_unit_test_setup(should_retry_true_retries_400, reset_sandbox),
        cmocka_unit_test_setup(should_retry_false_stops_503, reset_sandbox),
        cmocka_unit_test_setup(should_retry_ignored_for_quota_and_key,
                               reset_sandbox),
        cmocka_unit_test_setup(retry_after_past_minute_ignored, reset_sandbox),
        cmocka_unit_test_setup(limiter_paces_bulk_run, reset_sandbox),
        cmocka_unit_test_setup(limiter_tokens_corrected_by_usage,
                               reset_sandbox),
    };

    return cmocka_run_group_tests(tests, start_sandbox, stop_sandbox);
}
