/*
 * The sandbox's OpenAI chat completions through HTTP against the real
 * sitesmith-sandbox process: schema-shaped responses, determinism, request
 * checks, keys, rate limits, quota errors and the generation failures
 * (length, refusal, content_filter, invalid JSON).
 */
#include "ai_sandbox.h"

#include "core/clock.h"
#include "core/json.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PATH "/openai/v1/chat/completions"
#define KEY "sk-test-0123456789abcdef"

static struct ai_sandbox sandbox;
static const char *const auth[] = {"Authorization: Bearer " KEY, NULL};

static const char product_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"name\",\"description_html\",\"seo_title\","
    "\"seo_description\",\"tone\",\"keywords\",\"score\",\"details\"],"
    "\"properties\":{"
    "\"name\":{\"type\":\"string\",\"maxLength\":80},"
    "\"description_html\":{\"type\":\"string\"},"
    "\"seo_title\":{\"type\":\"string\",\"maxLength\":60},"
    "\"seo_description\":{\"type\":[\"string\",\"null\"],\"maxLength\":155},"
    "\"tone\":{\"type\":\"string\",\"enum\":[\"warm\",\"bold\",\"calm\"]},"
    "\"keywords\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
    "\"minItems\":2,\"maxItems\":4},"
    "\"score\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5},"
    "\"details\":{\"$ref\":\"#/$defs/details\"}},"
    "\"$defs\":{\"details\":{\"type\":\"object\",\"additionalProperties\":"
    "false,\"required\":[\"material\",\"care\"],\"properties\":{"
    "\"material\":{\"type\":\"string\"},"
    "\"care\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}}}}}";

static const char user_text[] =
    "Product name: Handmade Ceramic Mug. Description: <p>A handmade ceramic "
    "mug glazed in ocean blue. Each ceramic mug holds 350 ml.</p>";

/* A product-copy request; extra is merged into the body when not NULL. */
static char *product_request(const char *model, const char *user,
                             const char *extra)
{
    json_t *schema = json_loads(product_schema, 0, NULL);
    json_t *body = json_pack(
        "{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:{s:s, s:{s:s, s:b, s:o}}}",
        "model", model, "messages", "role", "developer", "content",
        "You rewrite product copy.", "role", "user", "content", user,
        "response_format", "type", "json_schema", "json_schema", "name",
        "product_copy", "strict", 1, "schema", schema);
    char *text;

    assert_non_null(body);
    if (extra) {
        json_t *more = json_loads(extra, 0, NULL);
        assert_non_null(more);
        json_object_update(body, more);
        json_decref(more);
    }
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

static json_t *complete(const char *body, long expected_status)
{
    return ai_sandbox_json(&sandbox, "POST", PATH, auth, body, expected_status);
}

static const char *first_content(const json_t *completion)
{
    return json_string_value(json_at(completion, "choices[0].message.content"));
}

static size_t utf8_length(const char *text)
{
    size_t count = 0;

    for (; *text; text++)
        count += ((unsigned char)*text & 0xc0) != 0x80;
    return count;
}

static int type_matches(const char *type, const json_t *value)
{
    if (strcmp(type, "string") == 0)
        return json_is_string(value);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(value);
    if (strcmp(type, "number") == 0)
        return json_is_number(value);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(value);
    if (strcmp(type, "array") == 0)
        return json_is_array(value);
    if (strcmp(type, "object") == 0)
        return json_is_object(value);
    return strcmp(type, "null") == 0 && json_is_null(value);
}

/* Checks value against the schema subset the sandbox claims to honour. */
static void check_schema(const json_t *root, const json_t *schema,
                         const json_t *value)
{
    const json_t *type = json_object_get(schema, "type");
    const json_t *item;
    const char *key;
    size_t index;
    int matched = 0;

    if (json_object_get(schema, "$ref")) {
        const char *ref = json_string_value(json_object_get(schema, "$ref"));
        assert_int_equal(strncmp(ref, "#/$defs/", 8), 0);
        check_schema(root,
                     json_object_get(json_object_get(root, "$defs"), ref + 8),
                     value);
        return;
    }
    if (json_object_get(schema, "anyOf")) {
        json_array_foreach(json_object_get(schema, "anyOf"), index, item)
        {
            matched |= type_matches(
                json_string_value(json_object_get(item, "type")), value);
        }
        assert_true(matched);
        return;
    }
    if (json_is_string(type))
        assert_true(type_matches(json_string_value(type), value));
    json_array_foreach(type, index, item)
    {
        matched |= type_matches(json_string_value(item), value);
    }
    assert_true(!json_is_array(type) || matched);

    json_array_foreach(json_object_get(schema, "enum"), index, item)
    {
        matched |= json_equal(item, value);
    }
    assert_true(!json_object_get(schema, "enum") || matched);
    if (json_is_string(value) && json_object_get(schema, "maxLength"))
        assert_true(
            utf8_length(json_string_value(value)) <=
            (size_t)json_integer_value(json_object_get(schema, "maxLength")));
    if (json_is_integer(value) && json_object_get(schema, "maximum")) {
        assert_true(json_integer_value(value) >=
                    json_integer_value(json_object_get(schema, "minimum")));
        assert_true(json_integer_value(value) <=
                    json_integer_value(json_object_get(schema, "maximum")));
    }
    if (json_is_array(value)) {
        assert_true(
            json_array_size(value) >=
            (size_t)json_integer_value(json_object_get(schema, "minItems")));
        assert_true(
            json_array_size(value) <=
            (size_t)json_integer_value(json_object_get(schema, "maxItems")));
        json_array_foreach(value, index, item)
        {
            check_schema(root, json_object_get(schema, "items"), item);
        }
    }
    if (json_is_object(value)) {
        json_array_foreach(json_object_get(schema, "required"), index, item)
        {
            assert_non_null(json_object_get(value, json_string_value(item)));
        }
        json_object_foreach((json_t *)value, key, item)
        {
            const json_t *property =
                json_object_get(json_object_get(schema, "properties"), key);
            assert_non_null(property);
            check_schema(root, property, item);
        }
    }
}

static int start(void **state)
{
    (void)state;
    ai_sandbox_start(&sandbox);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    ai_sandbox_stop(&sandbox);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    ai_sandbox_reset(&sandbox);
    return 0;
}

static void answer_matches_schema(void **state)
{
    char *body = product_request("gpt-4o-mini", user_text, NULL);
    json_t *completion = complete(body, 200);
    json_t *schema = json_loads(product_schema, 0, NULL);
    json_t *content = json_loads(first_content(completion), 0, NULL);
    json_t *usage = json_object_get(completion, "usage");

    (void)state;
    assert_non_null(content);
    check_schema(schema, schema, content);
    assert_string_equal(
        json_string_value(json_object_get(completion, "object")),
        "chat.completion");
    assert_string_equal(json_string_value(json_object_get(completion, "model")),
                        "gpt-4o-mini-2024-07-18");
    assert_string_equal(
        json_string_value(json_at(completion, "choices[0].finish_reason")),
        "stop");
    assert_true(
        json_is_null(json_at(completion, "choices[0].message.refusal")));
    assert_true(json_integer_value(json_object_get(usage, "prompt_tokens")) >
                0);
    assert_int_equal(
        json_integer_value(json_object_get(usage, "total_tokens")),
        json_integer_value(json_object_get(usage, "prompt_tokens")) +
            json_integer_value(json_object_get(usage, "completion_tokens")));

    /* The copy uses the prompt's own words. */
    assert_non_null(strstr(first_content(completion), "eramic"));
    assert_non_null(
        strstr(json_string_value(json_object_get(content, "description_html")),
               "<p>"));
    json_decref(content);
    json_decref(schema);
    json_decref(completion);
    free(body);
}

static void blog_markdown_has_structure(void **state)
{
    static const char body[] =
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"Write about succulents in winter. Succulents need less water in "
        "winter.\"}],\"response_format\":{\"type\":\"json_schema\","
        "\"json_schema\":{\"name\":\"blog_post\",\"schema\":{\"type\":"
        "\"object\",\"properties\":{\"title\":{\"type\":\"string\"},"
        "\"body_markdown\":{\"type\":\"string\"},\"hashtags\":{\"type\":"
        "\"array\",\"items\":{\"type\":\"string\"}},\"image_prompt\":"
        "{\"type\":\"string\"}}}}}}";
    json_t *completion = complete(body, 200);
    json_t *post = json_loads(first_content(completion), 0, NULL);
    const char *markdown =
        json_string_value(json_object_get(post, "body_markdown"));
    size_t index;
    json_t *tag;

    (void)state;
    assert_non_null(markdown);
    assert_non_null(strstr(markdown, "\n## "));
    assert_non_null(strstr(markdown, "**"));
    assert_non_null(strstr(markdown, "](https://"));
    assert_non_null(strstr(markdown, "\n- "));
    assert_non_null(strstr(markdown, "ucculent"));
    json_array_foreach(json_object_get(post, "hashtags"), index, tag)
    {
        assert_int_equal(json_string_value(tag)[0], '#');
        assert_null(strchr(json_string_value(tag), ' '));
    }
    assert_non_null(strstr(
        json_string_value(json_object_get(post, "image_prompt")), "image of"));
    json_decref(post);
    json_decref(completion);
}

static void same_request_same_answer(void **state)
{
    char *body = product_request("gpt-4o-mini", user_text, NULL);
    char *other = product_request(
        "gpt-4o-mini", "Product name: Linen Apron in sage green.", NULL);
    json_t *first = complete(body, 200);
    json_t *second = complete(body, 200);
    json_t *third = complete(other, 200);

    (void)state;
    assert_string_equal(first_content(first), first_content(second));
    assert_string_not_equal(first_content(first), first_content(third));
    assert_string_not_equal(json_string_value(json_object_get(first, "id")),
                            json_string_value(json_object_get(second, "id")));
    json_decref(first);
    json_decref(second);
    json_decref(third);
    free(body);
    free(other);
}

static void headers_carry_ids_and_limits(void **state)
{
    char *body = product_request("gpt-4o-mini", user_text, NULL);
    struct http_client_response resp;
    const char *request_id;

    (void)state;
    assert_int_equal(ai_sandbox_send(&sandbox, "POST", PATH, auth, body, &resp),
                     200);
    request_id = http_client_header(&resp, "x-request-id");
    assert_non_null(request_id);
    assert_int_equal(strncmp(request_id, "req_", 4), 0);
    assert_int_equal(strlen(request_id), 36);
    assert_string_equal(http_client_header(&resp, "openai-version"),
                        "2020-10-01");
    assert_non_null(http_client_header(&resp, "x-ratelimit-limit-requests"));
    assert_non_null(http_client_header(&resp, "x-ratelimit-reset-tokens"));
    http_client_response_release(&resp);
    free(body);
}

static void missing_and_wrong_keys(void **state)
{
    static const char *const wrong[] = {
        "Authorization: Bearer sk-wrong-key-9876543210", NULL};
    char *body = product_request("gpt-4o-mini", user_text, NULL);
    json_t *error;

    (void)state;
    error = ai_sandbox_json(&sandbox, "POST", PATH, NULL, body, 401);
    assert_true(json_is_null(json_at(error, "error.code")));
    assert_string_equal(json_string_value(json_at(error, "error.type")),
                        "invalid_request_error");
    json_decref(error);

    /* Any non-empty key passes until one is configured. */
    json_decref(ai_sandbox_json(&sandbox, "POST", PATH, wrong, body, 200));
    ai_sandbox_configure(&sandbox, "{\"openai\":{\"api_key\":\"" KEY "\"}}");
    error = ai_sandbox_json(&sandbox, "POST", PATH, wrong, body, 401);
    assert_string_equal(json_string_value(json_at(error, "error.code")),
                        "invalid_api_key");
    assert_null(strstr(json_string_value(json_at(error, "error.message")),
                       "9876543210"));
    assert_non_null(json_at(error, "error.param"));
    json_decref(error);
    json_decref(complete(body, 200));
    free(body);
}

/* Sends body and checks the 400's code and param. */
static void expect_bad_request(const char *body, const char *code,
                               const char *param)
{
    json_t *error = complete(body, 400);

    if (code)
        assert_string_equal(json_string_value(json_at(error, "error.code")),
                            code);
    else
        assert_true(json_is_null(json_at(error, "error.code")));
    if (param)
        assert_string_equal(json_string_value(json_at(error, "error.param")),
                            param);
    assert_string_equal(json_string_value(json_at(error, "error.type")),
                        "invalid_request_error");
    json_decref(error);
}

static void invalid_requests_get_400(void **state)
{
    (void)state;
    expect_bad_request("{\"model\":", NULL, NULL);
    expect_bad_request("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                       NULL, NULL);
    expect_bad_request("{\"model\":\"gpt-4o\"}", "missing_required_parameter",
                       "messages");
    expect_bad_request("{\"model\":\"gpt-4o\",\"messages\":[]}", "empty_array",
                       "messages");
    expect_bad_request("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":"
                       "\"robot\",\"content\":\"x\"}]}",
                       "invalid_value", "messages[0].role");
    expect_bad_request("{\"model\":\"gpt-4o\",\"temperature\":3,\"messages\":"
                       "[{\"role\":\"user\",\"content\":\"x\"}]}",
                       "decimal_above_max_value", "temperature");
    expect_bad_request("{\"model\":\"o4-mini\",\"max_tokens\":50,\"messages\":"
                       "[{\"role\":\"user\",\"content\":\"x\"}]}",
                       "unsupported_parameter", "max_tokens");
}

static void strict_schema_rules_enforced(void **state)
{
    json_t *schema = json_loads(product_schema, 0, NULL);
    json_t *body = json_loads("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":"
                              "\"user\",\"content\":\"x\"}]}",
                              0, NULL);
    json_t *error;
    char *text;

    (void)state;
    json_array_remove(json_object_get(schema, "required"), 1);
    json_object_set_new(body, "response_format",
                        json_pack("{s:s, s:{s:s, s:b, s:O}}", "type",
                                  "json_schema", "json_schema", "name", "copy",
                                  "strict", 1, "schema", schema));
    text = json_dumps(body, JSON_COMPACT);
    error = complete(text, 400);
    assert_string_equal(json_string_value(json_at(error, "error.param")),
                        "response_format");
    assert_non_null(strstr(json_string_value(json_at(error, "error.message")),
                           "Missing 'description_html'"));
    json_decref(error);
    free(text);

    /* A nested object without additionalProperties: false. */
    json_array_append_new(json_object_get(schema, "required"),
                          json_string("description_html"));
    json_object_del(
        json_object_get(json_object_get(schema, "$defs"), "details"),
        "additionalProperties");
    json_object_set_new(json_at(body, "response_format.json_schema"), "schema",
                        json_deep_copy(schema));
    text = json_dumps(body, JSON_COMPACT);
    error = complete(text, 400);
    assert_non_null(strstr(json_string_value(json_at(error, "error.message")),
                           "('$defs', 'details'), 'additionalProperties'"));
    json_decref(error);
    free(text);
    json_decref(body);
    json_decref(schema);
}

static void rpm_limit_and_new_minute(void **state)
{
    char *body = product_request("gpt-4o-mini", user_text, NULL);
    struct http_client_response resp;
    json_t *error;

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"openai\":{\"rpm\":2}}");
    json_decref(complete(body, 200));
    assert_int_equal(ai_sandbox_send(&sandbox, "POST", PATH, auth, body, &resp),
                     200);
    assert_string_equal(
        http_client_header(&resp, "x-ratelimit-remaining-requests"), "0");
    http_client_response_release(&resp);

    assert_int_equal(ai_sandbox_send(&sandbox, "POST", PATH, auth, body, &resp),
                     429);
    assert_true(atoi(http_client_header(&resp, "retry-after")) >= 1);
    assert_true(atoi(http_client_header(&resp, "retry-after")) <= 60);
    assert_non_null(http_client_header(&resp, "retry-after-ms"));
    error = json_loads(resp.body.data, 0, NULL);
    assert_string_equal(json_string_value(json_at(error, "error.code")),
                        "rate_limit_exceeded");
    assert_string_equal(json_string_value(json_at(error, "error.type")),
                        "requests");
    assert_non_null(strstr(json_string_value(json_at(error, "error.message")),
                           "requests per min (RPM): Limit 2, Used 2"));
    json_decref(error);
    http_client_response_release(&resp);

    ai_sandbox_advance(&sandbox, 60);
    json_decref(complete(body, 200));
    free(body);
}

static void tpm_limit_and_too_large(void **state)
{
    char *body = product_request("gpt-4o-mini", user_text,
                                 "{\"max_completion_tokens\":400}");
    json_t *completion = complete(body, 200);
    int64_t reserved =
        json_integer_value(json_at(completion, "usage.prompt_tokens")) + 400;
    char settings[96];
    json_t *error;

    (void)state;

    /* A request reserves its prompt plus its cap: room for 2.5 of them. */
    snprintf(settings, sizeof(settings), "{\"openai\":{\"tpm\":%lld}}",
             (long long)(reserved * 5 / 2));
    ai_sandbox_configure(&sandbox, settings);
    json_decref(complete(body, 200));
    error = complete(body, 429);
    assert_string_equal(json_string_value(json_at(error, "error.type")),
                        "tokens");
    assert_non_null(strstr(json_string_value(json_at(error, "error.message")),
                           "tokens per min (TPM)"));
    json_decref(error);

    ai_sandbox_configure(&sandbox, "{\"openai\":{\"tpm\":100}}");
    ai_sandbox_advance(&sandbox, 60);
    error = complete(body, 429);
    assert_non_null(strstr(json_string_value(json_at(error, "error.message")),
                           "Request too large"));
    json_decref(error);
    json_decref(completion);
    free(body);
}

static void quota_modes_have_no_retry_after(void **state)
{
    static const char *const modes[][2] = {
        {"insufficient_quota", "insufficient_quota"},
        {"credit_balance_exhausted", "credit_balance_exhausted"},
    };
    char *body = product_request("gpt-4o-mini", user_text, NULL);

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct http_client_response resp;
        char settings[128];
        json_t *error;

        snprintf(settings, sizeof(settings), "{\"openai\":{\"mode\":\"%s\"}}",
                 modes[i][0]);
        ai_sandbox_configure(&sandbox, settings);
        assert_int_equal(
            ai_sandbox_send(&sandbox, "POST", PATH, auth, body, &resp), 429);
        assert_null(http_client_header(&resp, "retry-after"));
        error = json_loads(resp.body.data, 0, NULL);
        assert_string_equal(json_string_value(json_at(error, "error.code")),
                            modes[i][1]);
        assert_string_equal(json_string_value(json_at(error, "error.type")),
                            "insufficient_quota");
        json_decref(error);
        http_client_response_release(&resp);
    }
    free(body);
}

static void small_cap_cuts_content(void **state)
{
    char *full_body = product_request("gpt-4o-mini", user_text, NULL);
    char *capped_body = product_request("gpt-4o-mini", user_text,
                                        "{\"max_completion_tokens\":10}");
    json_t *full = complete(full_body, 200);
    json_t *capped = complete(capped_body, 200);
    const char *cut = first_content(capped);

    (void)state;
    assert_string_equal(
        json_string_value(json_at(capped, "choices[0].finish_reason")),
        "length");
    assert_int_equal(
        json_integer_value(json_at(capped, "usage.completion_tokens")), 10);
    assert_true(strlen(cut) <= 40);
    assert_int_equal(strncmp(first_content(full), cut, strlen(cut)), 0);
    assert_null(json_loads(cut, 0, NULL));
    json_decref(full);
    json_decref(capped);
    free(full_body);
    free(capped_body);
}

static void refusal_and_filter_outcomes(void **state)
{
    char *refused = product_request("gpt-4o-mini",
                                    "Describe this. [sandbox:refusal]", NULL);
    char *body = product_request("gpt-4o-mini", user_text, NULL);
    json_t *completion = complete(refused, 200);

    (void)state;
    assert_true(
        json_is_null(json_at(completion, "choices[0].message.content")));
    assert_non_null(
        json_string_value(json_at(completion, "choices[0].message.refusal")));
    json_decref(completion);

    ai_sandbox_configure(&sandbox,
                         "{\"openai\":{\"mode\":\"content_filter\"}}");
    completion = complete(body, 200);
    assert_string_equal(
        json_string_value(json_at(completion, "choices[0].finish_reason")),
        "content_filter");
    json_decref(completion);

    ai_sandbox_configure(&sandbox, "{\"openai\":{\"mode\":\"invalid_json\"}}");
    completion = complete(body, 200);
    assert_string_equal(
        json_string_value(json_at(completion, "choices[0].finish_reason")),
        "stop");
    assert_null(json_loads(first_content(completion), 0, NULL));
    json_decref(completion);
    free(refused);
    free(body);
}

static void model_allow_list(void **state)
{
    char *known = product_request("gpt-4o-mini", user_text, NULL);
    char *unknown = product_request("gpt-unknown", user_text, NULL);
    json_t *error;

    (void)state;
    ai_sandbox_configure(&sandbox,
                         "{\"openai\":{\"models\":[\"gpt-4o-mini\"]}}");
    json_decref(complete(known, 200));
    error = complete(unknown, 404);
    assert_string_equal(json_string_value(json_at(error, "error.code")),
                        "model_not_found");
    json_decref(error);
    free(known);
    free(unknown);
}

static void several_choices_and_stream(void **state)
{
    char *body = product_request("gpt-4o-mini", user_text,
                                 "{\"n\":2,\"stream\":true,\"stream_options\":"
                                 "{\"include_usage\":true}}");
    char *plain = product_request("gpt-4o-mini", user_text, "{\"n\":2}");
    json_t *completion = complete(plain, 200);
    struct http_client_response resp;
    size_t length;

    (void)state;
    assert_int_equal(json_array_size(json_object_get(completion, "choices")),
                     2);
    assert_string_not_equal(
        first_content(completion),
        json_string_value(json_at(completion, "choices[1].message.content")));

    assert_int_equal(ai_sandbox_send(&sandbox, "POST", PATH, auth, body, &resp),
                     200);
    assert_int_equal(strncmp(resp.content_type, "text/event-stream", 17), 0);
    length = resp.body.len;
    assert_true(length > 14);
    assert_string_equal(resp.body.data + length - 14, "data: [DONE]\n\n");
    assert_non_null(strstr(resp.body.data, "\"chat.completion.chunk\""));
    assert_non_null(strstr(resp.body.data, "\"choices\":[],"));
    http_client_response_release(&resp);
    json_decref(completion);
    free(body);
    free(plain);
}

struct timed_call {
    const char *body;
    long status;
};

static void *slow_completion(void *arg)
{
    struct timed_call *call = arg;
    struct http_client_response resp;

    call->status =
        ai_sandbox_send(&sandbox, "POST", PATH, auth, call->body, &resp);
    http_client_response_release(&resp);
    return NULL;
}

static void latency_does_not_block_others(void **state)
{
    char *body = product_request("gpt-4o-mini", user_text, NULL);
    struct timed_call call = {.body = body};
    pthread_t thread;
    int64_t started;
    int64_t control_ms;

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"openai\":{\"latency_ms\":800}}");
    started = clock_monotonic_ms();
    assert_int_equal(pthread_create(&thread, NULL, slow_completion, &call), 0);
    clock_sleep_ms(100);

    /* The sandbox serves other calls while the completion sleeps. */
    json_decref(ai_sandbox_json(&sandbox, "GET", "/__sandbox/requests", NULL,
                                NULL, 200));
    control_ms = clock_monotonic_ms() - started;
    pthread_join(thread, NULL);
    assert_int_equal(call.status, 200);
    assert_true(control_ms < 600);
    assert_true(clock_monotonic_ms() - started >= 800);
    free(body);
}

static void unknown_setting_rejected(void **state)
{
    json_t *error;
    char *text;

    (void)state;
    error = ai_sandbox_json(&sandbox, "POST", "/__sandbox/config", NULL,
                            "{\"openai\":{\"rpn\":5}}", 400);
    text = json_dumps(error, 0);
    assert_non_null(strstr(text, "rpn"));
    free(text);
    json_decref(error);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(answer_matches_schema, reset),
        cmocka_unit_test_setup(blog_markdown_has_structure, reset),
        cmocka_unit_test_setup(same_request_same_answer, reset),
        cmocka_unit_test_setup(headers_carry_ids_and_limits, reset),
        cmocka_unit_test_setup(missing_and_wrong_keys, reset),
        cmocka_unit_test_setup(invalid_requests_get_400, reset),
        cmocka_unit_test_setup(strict_schema_rules_enforced, reset),
        cmocka_unit_test_setup(rpm_limit_and_new_minute, reset),
        cmocka_unit_test_setup(tpm_limit_and_too_large, reset),
        cmocka_unit_test_setup(quota_modes_have_no_retry_after, reset),
        cmocka_unit_test_setup(small_cap_cuts_content, reset),
        cmocka_unit_test_setup(refusal_and_filter_outcomes, reset),
        cmocka_unit_test_setup(model_allow_list, reset),
        cmocka_unit_test_setup(several_choices_and_stream, reset),
        cmocka_unit_test_setup(latency_does_not_block_others, reset),
        cmocka_unit_test_setup(unknown_setting_rejected, reset),
    };

    return cmocka_run_group_tests(tests, start, stop);
}
