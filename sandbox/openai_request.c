/*
 * Reading a chat completions request the way OpenAI checks it: required
 * fields, message roles, numeric ranges, token caps and response formats,
 * including the rules strict Structured Outputs schemas must follow.
 */
#include "openai_request.h"
#include "openai_text.h"

#include "core/json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_DEPTH_MAX 64

/* ---------------------------------------------------------------- */
/* Error bodies                                                       */

void openai_error(struct http_response *resp, int status, const char *type,
                  const char *code, const char *param, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    http_response_json(resp, status,
                       json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error",
                                 "message", message, "type", type, "param",
                                 param, "code", code));
}

void openai_invalid_request(struct http_response *resp, const char *code,
                            const char *param, const char *message)
{
    openai_error(resp, 400, "invalid_request_error", code, param, "%s",
                 message);
}

/* ---------------------------------------------------------------- */
/* Reading the request                                                */

void openai_release_request(struct completion_request *request)
{
    json_decref(request->body);
    free(request->prompt);
    memset(request, 0, sizeof(*request));
}

/* Reasoning models reject max_tokens (observed for o1, o3, o4, gpt-5). */
static int is_reasoning_model(const char *model)
{
    return (model[0] == 'o' && model[1] >= '1' && model[1] <= '9') ||
           strncmp(model, "gpt-5", 5) == 0;
}

/* Snapshots as OpenAI reported them for these aliases in 2025. */
const char *openai_resolve_model(const char *model)
{
    static const char *const snapshots[][2] = {
        {"gpt-4o", "gpt-4o-2024-08-06"},
        {"gpt-4o-mini", "gpt-4o-mini-2024-07-18"},
        {"gpt-4.1", "gpt-4.1-2025-04-14"},
        {"gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"},
        {"gpt-4.1-nano", "gpt-4.1-nano-2025-04-14"},
        {"o3-mini", "o3-mini-2025-01-31"},
        {"o4-mini", "o4-mini-2025-04-16"},
        {"gpt-5", "gpt-5-2025-08-07"},
        {"gpt-5-mini", "gpt-5-mini-2025-08-07"},
        {"gpt-5-nano", "gpt-5-nano-2025-08-07"},
    };

    for (size_t i = 0; i < sizeof(snapshots) / sizeof(*snapshots); i++)
        if (strcmp(snapshots[i][0], model) == 0)
            return snapshots[i][1];
    return model;
}

/* Appends the text of a message's content (a string or text parts). */
static void append_content(struct buf *out, const json_t *content)
{
    size_t index;
    const json_t *part;

    if (json_is_string(content)) {
        buf_append_str(out, json_string_value(content));
        buf_append_str(out, "\n");
        return;
    }
    json_array_foreach(content, index, part)
    {
        const char *text = json_string_value(json_object_get(part, "text"));

        if (text) {
            buf_append_str(out, text);
            buf_append_str(out, "\n");
        }
    }
}

static int check_message(struct http_response *resp, const json_t *message,
                         size_t index)
{
    static const char *const roles[] = {"developer", "system", "user",
                                        "assistant", "tool",   "function"};
    const char *role = json_string_value(json_object_get(message, "role"));
    const json_t *content = json_object_get(message, "content");
    char param[64];
    char text[256];
    int known = 0;

    snprintf(param, sizeof(param), "messages[%zu].role", index);
    for (size_t i = 0; role && i < sizeof(roles) / sizeof(*roles); i++)
        known |= strcmp(roles[i], role) == 0;
    if (!role) {
        snprintf(text, sizeof(text), "Missing required parameter: '%s'.",
                 param);
        openai_invalid_request(resp, "missing_required_parameter", param, text);
        return -1;
    }
    if (!known) {
        snprintf(text, sizeof(text),
                 "Invalid value: '%.64s'. Supported values are: 'system', "
                 "'assistant', 'user', 'function', 'tool', and 'developer'.",
                 role);
        openai_invalid_request(resp, "invalid_value", param, text);
        return -1;
    }

    snprintf(param, sizeof(param), "messages[%zu].content", index);
    if (!content && strcmp(role, "assistant") != 0) {
        snprintf(text, sizeof(text), "Missing required parameter: '%s'.",
                 param);
        openai_invalid_request(resp, "missing_required_parameter", param, text);
        return -1;
    }
    if (content && !json_is_string(content) && !json_is_array(content) &&
        !json_is_null(content)) {
        snprintf(text, sizeof(text),
                 "Invalid type for '%s': expected one of a string or array "
                 "of objects, but got %s instead.",
                 param, json_type_phrase(content));
        openai_invalid_request(resp, "invalid_type", param, text);
        return -1;
    }
    return 0;
}

/*
 * Reads messages into request->prompt (user text first, because it
 * carries the topic) and counts prompt tokens as 3 per message plus the
 * text, plus 3 to prime the reply.
 */
static int read_messages(struct http_response *resp,
                         struct completion_request *request)
{
    const json_t *messages = json_object_get(request->body, "messages");
    struct buf user;
    struct buf other;
    size_t index;
    const json_t *message;

    if (!messages) {
        openai_invalid_request(resp, "missing_required_parameter", "messages",
                               "Missing required parameter: 'messages'.");
        return -1;
    }
    if (!json_is_array(messages)) {
        openai_invalid_request(
            resp, "invalid_type", "messages",
            "Invalid type for 'messages': expected an array, but "
            "got another type instead.");
        return -1;
    }
    if (json_array_size(messages) == 0) {
        openai_invalid_request(
            resp, "empty_array", "messages",
            "Invalid 'messages': empty array. Expected an array "
            "with minimum length 1, but got an empty array "
            "instead.");
        return -1;
    }

    buf_init(&user, 4 * 1024 * 1024);
    buf_init(&other, 4 * 1024 * 1024);
    json_array_foreach(messages, index, message)
    {
        const char *role = json_string_value(json_object_get(message, "role"));

        if (check_message(resp, message, index) != 0) {
            buf_free(&user);
            buf_free(&other);
            return -1;
        }
        append_content(strcmp(role, "user") == 0 ? &user : &other,
                       json_object_get(message, "content"));
        request->prompt_tokens += 3;
    }
    buf_append_str(&user, other.data ? other.data : "");
    request->prompt = buf_detach(&user, NULL);
    if (!request->prompt)
        request->prompt = strdup("");
    request->prompt_tokens += 3 + openai_text_tokens(request->prompt);
    buf_free(&other);
    return 0;
}

static int read_numbers(struct http_response *resp,
                        struct completion_request *request)
{
    const json_t *body = request->body;
    const json_t *value;

    value = json_object_get(body, "temperature");
    if (json_is_number(value) &&
        (json_number_value(value) < 0 || json_number_value(value) > 2)) {
        int above = json_number_value(value) > 2;
        openai_error(
            resp, 400, "invalid_request_error",
            above ? "decimal_above_max_value" : "decimal_below_min_value",
            "temperature",
            "Invalid 'temperature': decimal %s value. Expected a "
            "value %s %d, but got %g instead.",
            above ? "above maximum" : "below minimum",
            above ? "<=" : ">=", above ? 2 : 0, json_number_value(value));
        return -1;
    }

    request->choice_count = 1;
    value = json_object_get(body, "n");
    if (json_is_integer(value)) {
        request->choice_count = json_integer_value(value);
        if (request->choice_count < 1 || request->choice_count > 128) {
            openai_error(
                resp, 400, "invalid_request_error", "invalid_value", "n",
                "Invalid 'n': integer out of range. Expected a "
                "value between 1 and 128, but got %" PRId64 " instead.",
                request->choice_count);
            return -1;
        }
    }

    request->max_completion = -1;
    value = json_object_get(body, "max_tokens");
    if (value && !json_is_null(value) && is_reasoning_model(request->model)) {
        openai_invalid_request(resp, "unsupported_parameter", "max_tokens",
                               "Unsupported parameter: 'max_tokens' is not "
                               "supported with this model. Use "
                               "'max_completion_tokens' instead.");
        return -1;
    }
    if (json_is_integer(value))
        request->max_completion = json_integer_value(value);
    value = json_object_get(body, "max_completion_tokens");
    if (json_is_integer(value))
        request->max_completion = json_integer_value(value);
    if (request->max_completion == 0 || request->max_completion < -1) {
        openai_invalid_request(resp, "integer_below_min_value",
                               "max_completion_tokens",
                               "Invalid 'max_completion_tokens': integer below "
                               "minimum value. Expected a value >= 1.");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- */
/* Structured Outputs schemas                                         */

#define CONTEXT_MAX 32

/* The position of a check in the schema, printed as OpenAI prints it: a Python
 * tuple such as ('properties', 'items', 'items'). */
struct schema_context {
    const char *parts[CONTEXT_MAX];
    char indexes[CONTEXT_MAX][24];
    size_t depth;
};

static void format_context(const struct schema_context *context, char *out,
                           size_t size)
{
    size_t used = (size_t)snprintf(out, size, "(");

    for (size_t i = 0; i < context->depth && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s'%s'",
                                 i ? ", " : "", context->parts[i]);
    if (used < size)
        snprintf(out + used, size - used, "%s)",
                 context->depth == 1 ? "," : "");
}

static int push_context(struct schema_context *context, const char *part)
{
    if (context->depth == CONTEXT_MAX)
        return -1;
    context->parts[context->depth++] = part;
    return 0;
}

static int check_strict_node(const json_t *node, struct schema_context *context,
                             char *problem, size_t size);

static int check_children(const json_t *children, const char *kind,
                          struct schema_context *context, char *problem,
                          size_t size)
{
    const char *key;
    const json_t *child;
    size_t index;

    if (push_context(context, kind) != 0)
        return 0;
    if (json_is_object(children)) {
        json_object_foreach((json_t *)children, key, child)
        {
            if (push_context(context, key) == 0) {
                int rc = check_strict_node(child, context, problem, size);
                context->depth--;
                if (rc != 0)
                    return rc;
            }
        }
    }
    json_array_foreach(children, index, child)
    {
        char *slot = context->indexes[context->depth];

        snprintf(slot, sizeof(context->indexes[0]), "%zu", index);
        if (push_context(context, slot) == 0) {
            int rc = check_strict_node(child, context, problem, size);
            context->depth--;
            if (rc != 0)
                return rc;
        }
    }
    context->depth--;
    return 0;
}

/* Checks one object schema: additionalProperties false, all required. */
static int check_strict_object(const json_t *node,
                               const struct schema_context *context,
                               char *problem, size_t size)
{
    const json_t *properties = json_object_get(node, "properties");
    const json_t *required = json_object_get(node, "required");
    char where[512];
    const char *key;
    const json_t *value;

    format_context(context, where, sizeof(where));
    if (!json_is_false(json_object_get(node, "additionalProperties"))) {
        snprintf(problem, size,
                 "In context=%s, 'additionalProperties' is required to be "
                 "supplied and to be false.",
                 where);
        return -1;
    }
    json_object_foreach((json_t *)properties, key, value)
    {
        size_t index;
        const json_t *name;
        int listed = 0;

        json_array_foreach(required, index, name)
        {
            listed |= json_is_string(name) &&
                      strcmp(json_string_value(name), key) == 0;
        }
        if (!listed) {
            snprintf(problem, size,
                     "In context=%s, 'required' is required to be supplied "
                     "and to be an array including every key in properties. "
                     "Missing '%s'.",
                     where, key);
            return -1;
        }
    }
    return 0;
}

static int check_strict_node(const json_t *node, struct schema_context *context,
                             char *problem, size_t size)
{
    const json_t *type;

    if (!json_is_object(node))
        return 0;
    type = json_object_get(node, "type");
    if ((json_is_string(type) &&
         strcmp(json_string_value(type), "object") == 0) ||
        json_object_get(node, "properties")) {
        if (check_strict_object(node, context, problem, size) != 0)
            return -1;
    }
    if (check_children(json_object_get(node, "properties"), "properties",
                       context, problem, size) ||
        check_children(json_object_get(node, "$defs"), "$defs", context,
                       problem, size) ||
        check_children(json_object_get(node, "definitions"), "definitions",
                       context, problem, size) ||
        check_children(json_object_get(node, "anyOf"), "anyOf", context,
                       problem, size))
        return -1;
    if (json_is_object(json_object_get(node, "items"))) {
        if (push_context(context, "items") == 0) {
            int rc = check_strict_node(json_object_get(node, "items"), context,
                                       problem, size);
            context->depth--;
            return rc;
        }
    }
    return 0;
}

static int schema_name_valid(const char *name)
{
    size_t length = strlen(name);

    if (length == 0 || length > 64)
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_-") == length;
}

static int read_json_schema(struct http_response *resp,
                            struct completion_request *request,
                            const json_t *format)
{
    const json_t *json_schema = json_object_get(format, "json_schema");
    const char *name = json_string_value(json_object_get(json_schema, "name"));
    struct schema_context context = {.depth = 0};
    char problem[768];
    const json_t *root_type;

    if (!json_is_object(json_schema) || !name) {
        openai_invalid_request(resp, "missing_required_parameter",
                               "response_format.json_schema.name",
                               "Missing required parameter: "
                               "'response_format.json_schema.name'.");
        return -1;
    }
    if (!schema_name_valid(name)) {
        openai_invalid_request(
            resp, "invalid_value", "response_format.json_schema.name",
            "Invalid 'response_format.json_schema.name': string "
            "does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]+$' of at most "
            "64 characters.");
        return -1;
    }
    request->schema_name = name;
    request->schema = json_object_get(json_schema, "schema");
    if (!request->schema)
        return 0;
    if (!json_is_object(request->schema)) {
        openai_invalid_request(resp, "invalid_type",
                               "response_format.json_schema.schema",
                               "Invalid type for 'response_format.json_schema."
                               "schema': expected an object.");
        return -1;
    }
    if (!json_is_true(json_object_get(json_schema, "strict")))
        return 0;

    /* Strict mode accepts only an object root, and every object must list
     * all its properties as required and forbid others. The wording is
     * observed in errors quoted by SDK users, whose code is null. */
    root_type = json_object_get(request->schema, "type");
    if (!json_is_string(root_type) ||
        strcmp(json_string_value(root_type), "object") != 0) {
        openai_error(
            resp, 400, "invalid_request_error", NULL, "response_format",
            "Invalid schema for response_format '%s': schema must "
            "be a JSON Schema of 'type: \"object\"', got "
            "'type: \"%s\"'.",
            name,
            json_is_string(root_type) ? json_string_value(root_type) : "None");
        return -1;
    }
    if (check_strict_node(request->schema, &context, problem,
                          sizeof(problem)) != 0) {
        openai_error(
            resp, 400, "invalid_request_error", NULL, "response_format",
            "Invalid schema for response_format '%s': %s", name, problem);
        return -1;
    }
    return 0;
}

static int read_response_format(struct http_response *resp,
                                struct completion_request *request)
{
    const json_t *format = json_object_get(request->body, "response_format");
    const char *type = json_string_value(json_object_get(format, "type"));

    request->format_type = "text";
    if (!format || json_is_null(format))
        return 0;
    if (!type ||
        (strcmp(type, "text") != 0 && strcmp(type, "json_object") != 0 &&
         strcmp(type, "json_schema") != 0)) {
        openai_invalid_request(
            resp, "invalid_value", "response_format.type",
            "Invalid value for 'response_format.type': expected "
            "one of 'text', 'json_object' or 'json_schema'.");
        return -1;
    }
    request->format_type = type;
    if (strcmp(type, "json_schema") == 0)
        return read_json_schema(resp, request, format);
    return 0;
}

/*
 * Parses and checks the body. On a problem it fills resp with OpenAI's
 * 400 body and returns -1.
 */
int openai_read_request(struct sandbox_call *call,
                        struct completion_request *request)
{
    struct http_request *req = call->req;
    struct error err;
    const json_t *model;
    const json_t *stream;

    request->body = json_parse(req->body, req->body_len, BODY_DEPTH_MAX, &err);
    if (!json_is_object(request->body)) {
        openai_invalid_request(
            call->resp, NULL, NULL,
            "We could not parse the JSON body of your request. "
            "(HINT: This likely means you aren't using your HTTP "
            "library correctly. The OpenAI API expects a JSON "
            "payload, but what was sent was not valid JSON.)");
        return -1;
    }
    model = json_object_get(request->body, "model");
    if (!json_is_string(model) || json_string_length(model) == 0) {
        openai_invalid_request(call->resp, NULL, NULL,
                               "you must provide a model parameter");
        return -1;
    }
    request->model = json_string_value(model);

    stream = json_object_get(request->body, "stream");
    request->stream = json_is_true(stream);
    request->include_usage =
        json_is_true(json_at(request->body, "stream_options.include_usage"));

    if (read_messages(call->resp, request) != 0 ||
        read_numbers(call->resp, request) != 0 ||
        read_response_format(call->resp, request) != 0)
        return -1;
    if (request->schema) {
        char *schema_text = json_to_string(request->schema);
        request->prompt_tokens += openai_text_tokens(schema_text);
        free(schema_text);
    }
    return 0;
}
