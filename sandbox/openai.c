/*
 * OpenAI emulation: POST /openai/v1/chat/completions with OpenAI's
 * request checks, error bodies, rate limits and headers. Requests are read
 * and checked in openai_request.c and the response text comes from
 * openai_text.c. This file owns auth, limits, settings and the response
 * envelope.
 *
 * Settings (POST /__sandbox/config, object "openai"):
 *   api_key            the only key accepted; null accepts any non-empty key
 *   rpm, tpm           requests and tokens per minute; 0 turns a limit off
 *   latency_ms         time each answer takes, slept without the lock
 *   ratelimit_headers  false leaves the x-ratelimit-* headers out
 *   mode               "normal", "refusal", "content_filter", "invalid_json",
 *                      "insufficient_quota" or "credit_balance_exhausted"
 *   models             list of accepted model names; null accepts any
 * A prompt may also carry "[sandbox:refusal]", "[sandbox:content_filter]"
 * or "[sandbox:invalid_json]" to get that outcome for one request.
 */
#include "openai_request.h"
#include "openai_text.h"

#include "core/crypto.h"
#include "core/json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MINUTE_MS 60000
/* Limits reported in the headers when no limit is set (not enforced). */
#define NOMINAL_RPM 10000
#define NOMINAL_TPM 30000000
#define ORGANIZATION "org-sandbox"

enum openai_mode {
    MODE_NORMAL,
    MODE_REFUSAL,
    MODE_CONTENT_FILTER,
    MODE_INVALID_JSON,
    MODE_INSUFFICIENT_QUOTA,
    MODE_CREDIT_BALANCE_EXHAUSTED,
};

static const char *const mode_names[] = {
    "normal",
    "refusal",
    "content_filter",
    "invalid_json",
    "insufficient_quota",
    "credit_balance_exhausted",
};

struct sandbox_openai {
    char *api_key; /* NULL: any non-empty key */
    int64_t rpm;
    int64_t tpm;
    int64_t latency_ms;
    int ratelimit_headers;
    enum openai_mode mode;
    json_t *models; /* array of names, or NULL */

    /* Counters of the current sandbox minute. */
    int64_t window_minute;
    int64_t window_requests;
    int64_t window_tokens;
    int64_t served; /* completions served since the last reset */
};

/* ---------------------------------------------------------------- */
/* Settings                                                           */

static void apply_defaults(struct sandbox_openai *openai)
{
    free(openai->api_key);
    json_decref(openai->models);
    memset(openai, 0, sizeof(*openai));
    openai->ratelimit_headers = 1;
    openai->window_minute = -1;
}

static int read_limit(const json_t *value, const char *key, int64_t *out,
                      struct error *err)
{
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return error_set(err, ERR_INVALID,
                         "openai.%s: expected an integer of 0 or more, "
                         "found %s",
                         key, json_type_phrase(value));
    *out = json_integer_value(value);
    return 0;
}

static int read_mode(const json_t *value, enum openai_mode *out,
                     struct error *err)
{
    const char *text = json_string_value(value);

    for (size_t i = 0; text && i < sizeof(mode_names) / sizeof(*mode_names);
         i++) {
        if (strcmp(mode_names[i], text) == 0) {
            *out = (enum openai_mode)i;
            return 0;
        }
    }
    return error_set(err, ERR_INVALID,
                     "openai.mode: expected one of normal, refusal, "
                     "content_filter, invalid_json, insufficient_quota, "
                     "credit_balance_exhausted");
}

static int read_models(const json_t *value, json_t **out, struct error *err)
{
    size_t index;
    const json_t *item;

    if (json_is_null(value)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_array(value))
        return error_set(err, ERR_INVALID,
                         "openai.models: expected an array of names or null");
    json_array_foreach(value, index, item)
    {
        if (!json_is_string(item))
            return error_set(err, ERR_INVALID,
                             "openai.models[%zu]: expected a string", index);
    }
    *out = json_deep_copy(value);
    return 0;
}

/* Applies one setting to a copy; the caller keeps the copy only if all
 * settings were valid. */
static int apply_setting(struct sandbox_openai *next, const char *key,
                         const json_t *value, struct error *err)
{
    if (strcmp(key, "api_key") == 0) {
        if (!json_is_null(value) &&
            !(json_is_string(value) && json_string_length(value) > 0))
            return error_set(err, ERR_INVALID,
                             "openai.api_key: expected a non-empty string "
                             "or null");
        free(next->api_key);
        next->api_key =
            json_is_null(value) ? NULL : strdup(json_string_value(value));
        return 0;
    }
    if (strcmp(key, "rpm") == 0)
        return read_limit(value, key, &next->rpm, err);
    if (strcmp(key, "tpm") == 0)
        return read_limit(value, key, &next->tpm, err);
    if (strcmp(key, "latency_ms") == 0)
        return read_limit(value, key, &next->latency_ms, err);
    if (strcmp(key, "ratelimit_headers") == 0) {
        if (!json_is_boolean(value))
            return error_set(err, ERR_INVALID,
                             "openai.ratelimit_headers: expected true or "
                             "false");
        next->ratelimit_headers = json_is_true(value);
        return 0;
    }
    if (strcmp(key, "mode") == 0)
        return read_mode(value, &next->mode, err);
    if (strcmp(key, "models") == 0) {
        json_decref(next->models);
        next->models = NULL;
        return read_models(value, &next->models, err);
    }
    return error_set(err, ERR_INVALID,
                     "openai.%s: unknown setting; known: api_key, rpm, tpm, "
                     "latency_ms, ratelimit_headers, mode, models",
                     key);
}

static void copy_settings(struct sandbox_openai *to,
                          const struct sandbox_openai *from)
{
    *to = *from;
    to->api_key = from->api_key ? strdup(from->api_key) : NULL;
    to->models = from->models ? json_deep_copy(from->models) : NULL;
}

static void free_settings(struct sandbox_openai *openai)
{
    free(openai->api_key);
    json_decref(openai->models);
    openai->api_key = NULL;
    openai->models = NULL;
}

/* Applies settings to the live state, all or nothing. Call under lock. */
static int configure_locked(struct sandbox_openai *openai,
                            const json_t *settings, struct error *err)
{
    struct sandbox_openai next;
    const char *key;
    json_t *value;

    if (!json_is_object(settings))
        return error_set(err, ERR_INVALID, "openai: expected an object");
    copy_settings(&next, openai);
    json_object_foreach((json_t *)settings, key, value)
    {
        if (apply_setting(&next, key, value, err) != 0) {
            free_settings(&next);
            return -1;
        }
    }
    free_settings(openai);
    *openai = next;
    return 0;
}

int sandbox_openai_configure(struct sandbox *sb, const json_t *settings,
                             struct error *err)
{
    int rc;

    sandbox_lock(sb);
    rc = configure_locked(sb->openai, settings, err);
    sandbox_unlock(sb);
    return rc;
}

void sandbox_openai_reset(struct sandbox *sb)
{
    sandbox_lock(sb);
    apply_defaults(sb->openai);
    sandbox_unlock(sb);
}

json_t *sandbox_openai_save(struct sandbox *sb)
{
    struct sandbox_openai *openai = sb->openai;
    json_t *state;

    sandbox_lock(sb);
    state = json_pack(
        "{s:{s:s?, s:I, s:I, s:I, s:b, s:s, s:O?}, s:I, s:I, s:I, s:I}",
        "settings", "api_key", openai->api_key, "rpm", (json_int_t)openai->rpm,
        "tpm", (json_int_t)openai->tpm, "latency_ms",
        (json_int_t)openai->latency_ms, "ratelimit_headers",
        openai->ratelimit_headers, "mode", mode_names[openai->mode], "models",
        openai->models, "window_minute", (json_int_t)openai->window_minute,
        "window_requests", (json_int_t)openai->window_requests, "window_tokens",
        (json_int_t)openai->window_tokens, "served",
        (json_int_t)openai->served);
    sandbox_unlock(sb);
    return state;
}

int sandbox_openai_load(struct sandbox *sb, const json_t *state,
                        struct error *err)
{
    struct sandbox_openai *openai = sb->openai;
    const json_t *settings = json_object_get(state, "settings");
    int rc = 0;

    if (!state)
        return 0;
    sandbox_lock(sb);
    apply_defaults(openai);
    if (settings) {
        json_t *copy = json_deep_copy(settings);

        /* A saved null model list means "any model": drop it. */
        if (json_is_null(json_object_get(copy, "models")))
            json_object_del(copy, "models");
        rc = configure_locked(openai, copy, err);
        json_decref(copy);
    }
    if (rc == 0) {
        openai->window_minute =
            json_integer_value(json_object_get(state, "window_minute"));
        openai->window_requests =
            json_integer_value(json_object_get(state, "window_requests"));
        openai->window_tokens =
            json_integer_value(json_object_get(state, "window_tokens"));
        openai->served = json_integer_value(json_object_get(state, "served"));
    }
    sandbox_unlock(sb);
    if (rc != 0)
        error_prefix(err, "openai state");
    return rc;
}

void sandbox_openai_free(struct sandbox *sb)
{
    if (!sb->openai)
        return;
    free_settings(sb->openai);
    free(sb->openai);
    sb->openai = NULL;
}

/* ---------------------------------------------------------------- */
/* Keys and rate limits                                               */

/* The settings one request needs, copied under the lock. */
struct settings_copy {
    char api_key[256]; /* "" accepts any non-empty key */
    int64_t latency_ms;
    int ratelimit_headers;
    enum openai_mode mode;
};

/* The rate-limit state after a request was counted (or rejected). */
struct rate_state {
    int64_t limit_requests;
    int64_t remaining_requests;
    int64_t limit_tokens;
    int64_t remaining_tokens;
    int64_t reset_ms; /* until the current sandbox minute ends */
};

/* Formats ms as a Go duration, the way OpenAI's reset headers do:
 * "12ms", "1.146s", "20s", "6m0s". */
static void format_duration(int64_t ms, char *out, size_t size)
{
    if (ms < 1000) {
        snprintf(out, size, "%" PRId64 "ms", ms < 0 ? 0 : ms);
        return;
    }
    if (ms < MINUTE_MS) {
        int length = snprintf(out, size, "%.3f", (double)ms / 1000);

        while (length > 0 && out[length - 1] == '0')
            out[--length] = '\0';
        if (length > 0 && out[length - 1] == '.')
            out[--length] = '\0';
        snprintf(out + length, size - (size_t)length, "s");
        return;
    }
    snprintf(out, size, "%" PRId64 "m%" PRId64 "s", ms / MINUTE_MS,
             (ms % MINUTE_MS) / 1000);
}

static void add_number_header(struct http_response *resp, const char *name,
                              int64_t value)
{
    char text[32];

    snprintf(text, sizeof(text), "%" PRId64, value);
    http_response_header(resp, name, text);
}

static void add_rate_headers(struct http_response *resp,
                             const struct rate_state *rate)
{
    char reset[32];

    format_duration(rate->reset_ms, reset, sizeof(reset));
    add_number_header(resp, "x-ratelimit-limit-requests", rate->limit_requests);
    add_number_header(resp, "x-ratelimit-limit-tokens", rate->limit_tokens);
    add_number_header(resp, "x-ratelimit-remaining-requests",
                      rate->remaining_requests);
    add_number_header(resp, "x-ratelimit-remaining-tokens",
                      rate->remaining_tokens);
    http_response_header(resp, "x-ratelimit-reset-requests", reset);
    http_response_header(resp, "x-ratelimit-reset-tokens", reset);
}

/* Masks a key for an error message: its first three and last four
 * characters, as OpenAI shows them. */
static void mask_key(const char *key, char *out, size_t size)
{
    size_t length = strlen(key);

    if (length <= 8) {
        snprintf(out, size, "%s", "********");
        return;
    }
    snprintf(out, size, "%.3s%s%s", key, "****************", key + length - 4);
}

/* Checks the Bearer key; fills resp with OpenAI's 401 when it fails. */
static int check_key(struct sandbox_call *call,
                     const struct settings_copy *settings)
{
    const char *header = http_request_header(call->req, "Authorization");
    const char *key = NULL;
    char masked[64];

    if (header && strncasecmp(header, "Bearer ", 7) == 0)
        key = header + 7;
    if (!key || !*key) {
        openai_error(call->resp, 401, "invalid_request_error", NULL, NULL,
                     "You didn't provide an API key. You need to provide "
                     "your API key in an Authorization header using Bearer "
                     "auth (i.e. Authorization: Bearer YOUR_KEY).");
        return -1;
    }
    if (settings->api_key[0] &&
        (strlen(key) != strlen(settings->api_key) ||
         !crypto_equal(key, settings->api_key, strlen(key)))) {
        mask_key(key, masked, sizeof(masked));
        openai_error(call->resp, 401, "invalid_request_error",
                     "invalid_api_key", NULL,
                     "Incorrect API key provided: %s. You can find your API "
                     "key at https://platform.openai.com/account/api-keys.",
                     masked);
        return -1;
    }
    return 0;
}

static int model_allowed(const struct sandbox_openai *openai, const char *model)
{
    size_t index;
    const json_t *name;

    if (!openai->models)
        return 1;
    json_array_foreach(openai->models, index, name)
    {
        if (strcmp(json_string_value(name), model) == 0)
            return 1;
    }
    return 0;
}

static void rate_limited(struct http_response *resp, const char *model,
                         const char *kind, int64_t limit, int64_t used,
                         int64_t requested, const struct rate_state *rate)
{
    char wait[32];

    format_duration(rate->reset_ms, wait, sizeof(wait));
    openai_error(resp, 429, kind, "rate_limit_exceeded", NULL,
                 "Rate limit reached for %s in organization " ORGANIZATION
                 " on %s per min (%s): Limit %" PRId64 ", Used %" PRId64
                 ", Requested %" PRId64 ". Please try again in %s. Visit "
                 "https://platform.openai.com/account/rate-limits to learn "
                 "more.",
                 model, kind, kind[0] == 'r' ? "RPM" : "TPM", limit, used,
                 requested, wait);
    add_number_header(resp, "retry-after", (rate->reset_ms + 999) / 1000);
    add_number_header(resp, "retry-after-ms", rate->reset_ms);
}

/*
 * Counts the request against the current sandbox minute, or fills resp
 * with a 429 when a set limit is reached. A request reserves its prompt
 * tokens plus its completion cap, as OpenAI estimates it. Call under lock.
 */
static int admit_locked(struct sandbox *sb,
                        const struct completion_request *request,
                        struct http_response *resp, struct rate_state *rate)
{
    struct sandbox_openai *openai = sb->openai;
    int64_t now = sandbox_now_ms(sb);
    int64_t minute = now / MINUTE_MS;
    int64_t requested =
        request->prompt_tokens +
        (request->max_completion > 0 ? request->max_completion : 0);
    int rc = -1;

    if (minute != openai->window_minute) {
        openai->window_minute = minute;
        openai->window_requests = 0;
        openai->window_tokens = 0;
    }
    rate->reset_ms = (minute + 1) * MINUTE_MS - now;
    rate->limit_requests = openai->rpm ? openai->rpm : NOMINAL_RPM;
    rate->limit_tokens = openai->tpm ? openai->tpm : NOMINAL_TPM;

    if (openai->tpm && requested > openai->tpm) {
        openai_error(resp, 429, "tokens", "rate_limit_exceeded", NULL,
                     "Request too large for %s in organization " ORGANIZATION
                     " on tokens per min (TPM): Limit %" PRId64
                     ", Requested %" PRId64 ". The input or output tokens "
                     "must be reduced in order to run successfully. Visit "
                     "https://platform.openai.com/account/rate-limits to "
                     "learn more.",
                     request->model, openai->tpm, requested);
    } else if (openai->rpm && openai->window_requests >= openai->rpm) {
        rate_limited(resp, request->model, "requests", openai->rpm,
                     openai->window_requests, 1, rate);
    } else if (openai->tpm && openai->window_tokens + requested > openai->tpm) {
        rate_limited(resp, request->model, "tokens", openai->tpm,
                     openai->window_tokens, requested, rate);
    } else {
        openai->window_requests++;
        openai->window_tokens += requested;
        rc = 0;
    }

    rate->remaining_requests = rate->limit_requests - openai->window_requests;
    rate->remaining_tokens = rate->limit_tokens - openai->window_tokens;
    if (rate->remaining_requests < 0)
        rate->remaining_requests = 0;
    if (rate->remaining_tokens < 0)
        rate->remaining_tokens = 0;
    return rc;
}

/* Adds completion tokens beyond what admission reserved. */
static void charge_tokens(struct sandbox *sb,
                          const struct completion_request *request,
                          int64_t minute, int64_t completion_tokens)
{
    int64_t reserved =
        request->max_completion > 0 ? request->max_completion : 0;

    sandbox_lock(sb);
    if (sb->openai->window_minute == minute && completion_tokens > reserved)
        sb->openai->window_tokens += completion_tokens - reserved;
    sb->openai->served++;
    sandbox_unlock(sb);
}

/* ---------------------------------------------------------------- */
/* Answers                                                            */

#define REFUSAL_TEXT "I'm sorry, but I can't help with that request."

struct answer {
    char *content; /* NULL with a refusal */
    const char *refusal;
    const char *finish_reason;
    int64_t tokens;
};

/* The outcome for this request: the configured mode, or a prompt trigger. */
static enum openai_mode effective_mode(enum openai_mode mode,
                                       const char *prompt)
{
    if (strstr(prompt, "[sandbox:refusal]"))
        return MODE_REFUSAL;
    if (strstr(prompt, "[sandbox:content_filter]"))
        return MODE_CONTENT_FILTER;
    if (strstr(prompt, "[sandbox:invalid_json]"))
        return MODE_INVALID_JSON;
    return mode;
}

/* Cuts text to at most max bytes without splitting a UTF-8 sequence. */
static void cut_bytes(char *text, size_t max)
{
    if (strlen(text) <= max)
        return;
    while (max > 0 && ((unsigned char)text[max] & 0xc0) == 0x80)
        max--;
    text[max] = '\0';
}

/*
 * Hashes the request body with sorted keys: same request, same seed.
 * Fields that change only delivery or accounting are left out, so a
 * streamed or capped request writes the same text as the plain one.
 */
static uint64_t request_seed(const json_t *body)
{
    static const char *const ignored[] = {
        "stream",
        "stream_options",
        "max_completion_tokens",
        "max_tokens",
        "user",
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
    };
    json_t *copy = json_copy((json_t *)body);
    char *text;
    char hex[65];
    uint64_t seed = 0;

    for (size_t i = 0; copy && i < sizeof(ignored) / sizeof(*ignored); i++)
        json_object_del(copy, ignored[i]);
    text = copy ? json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(copy);
    crypto_sha256_hex(text ? text : "", text ? strlen(text) : 0, hex);
    free(text);
    for (int i = 0; i < 16; i++)
        seed = seed << 4 |
               (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
    return seed;
}

/* The text the model "writes" for this request format. */
static char *write_content(const struct completion_request *request,
                           uint64_t seed, struct error *err)
{
    static const char *const object_schema =
        "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":"
        "\"string\"},\"summary\":{\"type\":\"string\"}}}";
    json_t *schema = NULL;
    json_t *value;
    char *text;

    if (strcmp(request->format_type, "text") == 0) {
        text = openai_text_write(request->prompt, seed);
        if (!text)
            error_set(err, ERR_PERMANENT, "out of memory writing text");
        return text;
    }
    if (!request->schema)
        schema = json_loads(object_schema, 0, NULL);
    value = openai_text_fill_schema(request->schema ? request->schema : schema,
                                    request->schema_name, request->prompt, seed,
                                    err);
    json_decref(schema);
    if (!value)
        return NULL;
    text = json_dumps(value, JSON_COMPACT);
    json_decref(value);
    if (!text)
        error_set(err, ERR_PERMANENT, "out of memory encoding JSON");
    return text;
}

/* Wraps JSON in a Markdown fence: valid-looking output that a strict
 * parser rejects, as a model that ignored the format would send. */
static char *fence_json(char *content)
{
    struct buf out;

    buf_init(&out, 64 * 1024 * 1024);
    buf_printf(&out, "Here is the JSON you asked for:\n```json\n%s\n```",
               content);
    free(content);
    return buf_detach(&out, NULL);
}

static int make_answer(const struct completion_request *request,
                       enum openai_mode mode, uint64_t seed,
                       struct answer *answer, struct error *err)
{
    memset(answer, 0, sizeof(*answer));
    answer->finish_reason = "stop";
    if (mode == MODE_REFUSAL) {
        answer->refusal = REFUSAL_TEXT;
        answer->tokens = openai_text_tokens(REFUSAL_TEXT);
        return 0;
    }

    answer->content = write_content(request, seed, err);
    if (!answer->content)
        return -1;
    if (mode == MODE_INVALID_JSON) {
        answer->content = fence_json(answer->content);
        if (!answer->content)
            return error_set(err, ERR_PERMANENT, "out of memory");
    }
    answer->tokens = openai_text_tokens(answer->content);

    if (request->max_completion > 0 &&
        answer->tokens > request->max_completion) {
        cut_bytes(answer->content, (size_t)request->max_completion * 4);
        answer->tokens = request->max_completion;
        answer->finish_reason = "length";
    } else if (mode == MODE_CONTENT_FILTER) {
        /* NOTE: how much text OpenAI keeps before a filter stop is not
         * documented, so the sandbox keeps half. */
        cut_bytes(answer->content, strlen(answer->content) / 2);
        answer->tokens = openai_text_tokens(answer->content);
        answer->finish_reason = "content_filter";
    }
    return 0;
}

static json_t *choice_json(const struct answer *answer, size_t index)
{
    return json_pack("{s:I, s:{s:s, s:s?, s:s?, s:[]}, s:n, s:s}", "index",
                     (json_int_t)index, "message", "role", "assistant",
                     "content", answer->content, "refusal", answer->refusal,
                     "annotations", "logprobs", "finish_reason",
                     answer->finish_reason);
}

static json_t *usage_json(int64_t prompt_tokens, int64_t completion_tokens)
{
    return json_pack(
        "{s:I, s:I, s:I, s:{s:i, s:i}, s:{s:i, s:i, s:i, s:i}}",
        "prompt_tokens", (json_int_t)prompt_tokens, "completion_tokens",
        (json_int_t)completion_tokens, "total_tokens",
        (json_int_t)(prompt_tokens + completion_tokens),
        "prompt_tokens_details", "cached_tokens", 0, "audio_tokens", 0,
        "completion_tokens_details", "reasoning_tokens", 0, "audio_tokens", 0,
        "accepted_prediction_tokens", 0, "rejected_prediction_tokens", 0);
}

/* The fields every completion and chunk share. */
struct envelope {
    char id[48];
    int64_t created;
    const char *model;
    char fingerprint[16];
};

static void start_envelope(struct sandbox *sb, const char *model,
                           struct envelope *envelope)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char hex[65];
    size_t at =
        (size_t)snprintf(envelope->id, sizeof(envelope->id), "chatcmpl-");

    for (int i = 0; i < 29; i++)
        envelope->id[at++] = alphabet[crypto_random_below(62)];
    envelope->id[at] = '\0';
    envelope->created = sandbox_now_ms(sb) / 1000;
    envelope->model = openai_resolve_model(model);
    crypto_sha256_hex(envelope->model, strlen(envelope->model), hex);
    snprintf(envelope->fingerprint, sizeof(envelope->fingerprint), "fp_%.10s",
             hex);
}

static json_t *completion_json(const struct envelope *envelope, json_t *choices,
                               json_t *usage)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:o, s:o, s:s, s:s}", "id",
                     envelope->id, "object", "chat.completion", "created",
                     (json_int_t)envelope->created, "model", envelope->model,
                     "choices", choices, "usage", usage, "service_tier",
                     "default", "system_fingerprint", envelope->fingerprint);
}

static void append_chunk(struct buf *out, const struct envelope *envelope,
                         json_t *choices, json_t *usage, int with_usage)
{
    json_t *chunk = json_pack(
        "{s:s, s:s, s:I, s:s, s:s, s:s, s:o}", "id", envelope->id, "object",
        "chat.completion.chunk", "created", (json_int_t)envelope->created,
        "model", envelope->model, "service_tier", "default",
        "system_fingerprint", envelope->fingerprint, "choices", choices);
    char *text;

    if (with_usage)
        json_object_set_new(chunk, "usage", usage ? usage : json_null());
    else
        json_decref(usage);
    text = json_dumps(chunk, JSON_COMPACT);
    buf_printf(out, "data: %s\n\n", text ? text : "{}");
    free(text);
    json_decref(chunk);
}

static json_t *delta_choice(size_t index, json_t *delta, const char *finish)
{
    return json_pack("[{s:I, s:o, s:n, s:s?}]", "index", (json_int_t)index,
                     "delta", delta, "logprobs", "finish_reason", finish);
}

/*
 * Writes the whole response as Server-Sent Events: a role chunk, content in
 * pieces of about 64 bytes, a finish chunk per choice, an optional usage
 * chunk and "data: [DONE]".
 */
static void write_stream(struct buf *out, const struct envelope *envelope,
                         const struct answer *answers, size_t count,
                         int include_usage, json_t *usage)
{
    for (size_t i = 0; i < count; i++) {
        const char *content = answers[i].content;

        append_chunk(out, envelope,
                     delta_choice(i,
                                  json_pack("{s:s, s:s, s:s?}", "role",
                                            "assistant", "content", "",
                                            "refusal", answers[i].refusal),
                                  NULL),
                     NULL, include_usage);
        for (size_t at = 0; content && content[at];) {
            size_t piece =
                strlen(content + at) < 64 ? strlen(content + at) : 64;
            while (((unsigned char)content[at + piece] & 0xc0) == 0x80)
                piece++;
            append_chunk(out, envelope,
                         delta_choice(i,
                                      json_pack("{s:s%}", "content",
                                                content + at, piece),
                                      NULL),
                         NULL, include_usage);
            at += piece;
        }
        append_chunk(out, envelope,
                     delta_choice(i, json_object(), answers[i].finish_reason),
                     NULL, include_usage);
    }
    if (include_usage)
        append_chunk(out, envelope, json_array(), usage, 1);
    else
        json_decref(usage);
    buf_append_str(out, "data: [DONE]\n\n");
}

/* ---------------------------------------------------------------- */
/* The endpoint                                                       */

static void sleep_ms(int64_t ms)
{
    struct timespec wait = {.tv_sec = ms / 1000,
                            .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (ms > 0 && nanosleep(&wait, &wait) != 0)
        ;
}

static void copy_settings_locked(const struct sandbox_openai *openai,
                                 struct settings_copy *settings)
{
    snprintf(settings->api_key, sizeof(settings->api_key), "%s",
             openai->api_key ? openai->api_key : "");
    settings->latency_ms = openai->latency_ms;
    settings->ratelimit_headers = openai->ratelimit_headers;
    settings->mode = openai->mode;
}

static void quota_error(struct http_response *resp, enum openai_mode mode)
{
    if (mode == MODE_INSUFFICIENT_QUOTA)
        openai_error(resp, 429, "insufficient_quota", "insufficient_quota",
                     NULL,
                     "You exceeded your current quota, please check your "
                     "plan and billing details. For more information on "
                     "this error, read the docs: https://platform.openai.com/"
                     "docs/guides/error-codes/api-errors.");
    else
        openai_error(resp, 429, "insufficient_quota",
                     "credit_balance_exhausted", NULL,
                     "You have no credits remaining. Please add credits to "
                     "continue using the API.");
}

/*
 * Checks the model, the quota mode and the rate limits under the lock.
 * Returns 0 when the request may go on; otherwise resp contains the error.
 */
static int admit(struct sandbox_call *call,
                 const struct completion_request *request,
                 enum openai_mode mode, struct rate_state *rate,
                 int64_t *minute)
{
    struct sandbox *sb = call->sb;
    int rc = -1;

    sandbox_lock(sb);
    if (!model_allowed(sb->openai, request->model))
        openai_error(call->resp, 404, "invalid_request_error",
                     "model_not_found", "model",
                     "The model `%s` does not exist or you do not have "
                     "access to it.",
                     request->model);
    else if (mode == MODE_INSUFFICIENT_QUOTA ||
             mode == MODE_CREDIT_BALANCE_EXHAUSTED)
        quota_error(call->resp, mode);
    else
        rc = admit_locked(sb, request, call->resp, rate);
    *minute = sb->openai->window_minute;
    sandbox_unlock(sb);
    return rc;
}

/* Writes every choice and the response body. Returns -1 (resp filled)
 * when the schema can't be satisfied. */
static int answer_request(struct sandbox_call *call,
                          const struct completion_request *request,
                          enum openai_mode mode, int64_t *completion_tokens)
{
    size_t count = (size_t)request->choice_count;
    struct answer *answers = calloc(count, sizeof(*answers));
    uint64_t seed = request_seed(request->body);
    struct envelope envelope;
    struct error err;
    json_t *choices = json_array();
    int rc = 0;

    *completion_tokens = 0;
    for (size_t i = 0; answers && i < count && rc == 0; i++) {
        rc = make_answer(request, mode, seed + i * 0x9e3779b97f4a7c15ull,
                         &answers[i], &err);
        *completion_tokens += answers[i].tokens;
        json_array_append_new(choices, choice_json(&answers[i], i));
    }
    if (!answers || rc != 0) {
        openai_error(call->resp, 400, "invalid_request_error", NULL,
                     "response_format",
                     "Invalid schema for response_format '%s': %s",
                     request->schema_name ? request->schema_name : "",
                     answers ? err.message : "out of memory");
        json_decref(choices);
        goto out;
    }

    start_envelope(call->sb, request->model, &envelope);
    if (request->stream) {
        struct buf events;

        buf_init(&events, 256 * 1024 * 1024);
        write_stream(&events, &envelope, answers, count, request->include_usage,
                     usage_json(request->prompt_tokens, *completion_tokens));
        http_response_bytes(call->resp, 200, "text/event-stream; charset=utf-8",
                            events.data ? events.data : "", events.len);
        buf_free(&events);
        json_decref(choices);
    } else {
        http_response_json(call->resp, 200,
                           completion_json(&envelope, choices,
                                           usage_json(request->prompt_tokens,
                                                      *completion_tokens)));
    }
out:
    for (size_t i = 0; answers && i < count; i++)
        free(answers[i].content);
    free(answers);
    return rc;
}

static void handle_chat_completions(struct sandbox_call *call)
{
    struct sandbox *sb = call->sb;
    struct settings_copy settings;
    struct completion_request request = {0};
    struct rate_state rate = {0};
    enum openai_mode mode;
    int64_t started = sandbox_now_ms(sb);
    int64_t minute = -1;
    int64_t completion_tokens = 0;
    char hex[33];

    /* OpenAI's request ids look like req_<32 hex>; the server sends
     * whatever is in request_id as X-Request-Id. */
    crypto_random_hex(hex, 16);
    snprintf(call->req->request_id, sizeof(call->req->request_id), "req_%s",
             hex);
    http_response_header(call->resp, "openai-version", "2020-10-01");
    http_response_header(call->resp, "openai-organization", ORGANIZATION);

    sandbox_lock(sb);
    copy_settings_locked(sb->openai, &settings);
    sandbox_unlock(sb);
    if (check_key(call, &settings) != 0 ||
        openai_read_request(call, &request) != 0)
        goto out;

    mode = effective_mode(settings.mode, request.prompt);
    if (admit(call, &request, mode, &rate, &minute) != 0)
        goto headers;
    sleep_ms(settings.latency_ms);
    if (answer_request(call, &request, mode, &completion_tokens) == 0)
        charge_tokens(sb, &request, minute, completion_tokens);

headers:
    if (settings.ratelimit_headers && rate.limit_requests > 0)
        add_rate_headers(call->resp, &rate);
    add_number_header(call->resp, "openai-processing-ms",
                      sandbox_now_ms(sb) - started + 1);
out:
    openai_release_request(&request);
}

int sandbox_openai_init(struct sandbox *sb, struct http_server *server,
                        struct error *err)
{
    sb->openai = calloc(1, sizeof(*sb->openai));
    if (!sb->openai)
        return error_set(err, ERR_PERMANENT, "out of memory");
    apply_defaults(sb->openai);
    if (sandbox_route(sb, server, "POST", "/openai/v1/chat/completions",
                      handle_chat_completions) != 0)
        return error_set(err, ERR_PERMANENT,
                         "registering POST /openai/v1/chat/completions "
                         "failed");
    return 0;
}
