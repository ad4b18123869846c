/*
 * The response side of the HTTP server: the helpers handlers call, and the
 * conversion of a finished struct http_response into an MHD response,
 * including the fault-injection aborts and streamed bodies.
 */
#include "http/server_private.h"

#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Block size that MHD requests from a streaming or truncating reader. */
#define READER_BLOCK_BYTES (16 * 1024)

/* Pause when a stream callback returns at once with nothing to send. */
#define STREAM_IDLE_SLEEP_MS 20

void http_response_header(struct http_response *resp, const char *name,
                          const char *value)
{
    char *copy = strdup(value);
    size_t i;

    if (!copy)
        return;
    for (i = 0; i < resp->header_count; i++) {
        if (strcasecmp(resp->header_names[i], name) == 0) {
            free(resp->header_values[i]);
            resp->header_values[i] = copy;
            return;
        }
    }
    if (i == HTTP_MAX_RESPONSE_HEADERS) {
        free(copy);
        return;
    }
    resp->header_names[i] = strdup(name);
    if (!resp->header_names[i]) {
        free(copy);
        return;
    }
    resp->header_values[i] = copy;
    resp->header_count++;
}

static void set_content_type(struct http_response *resp, const char *type)
{
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", type);
}

void http_response_bytes(struct http_response *resp, int status,
                         const char *content_type, const void *data, size_t len)
{
    resp->status = status;
    set_content_type(resp, content_type);
    buf_reset(&resp->body);
    if (buf_append(&resp->body, data, len) != 0) {
        resp->status = 500;
        set_content_type(resp, "application/json");
        buf_reset(&resp->body);
        buf_append_str(&resp->body, "{\"error\":{\"code\":\"internal\","
                                    "\"message\":\"response too large\"}}");
    }
}

void http_response_json(struct http_response *resp, int status, json_t *body)
{
    static const char encode_failed[] =
        "{\"error\":{\"code\":\"internal\",\"message\":"
        "\"could not encode the response\"}}";
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    if (!text) {
        http_response_bytes(resp, 500, "application/json", encode_failed,
                            strlen(encode_failed));
        return;
    }
    http_response_bytes(resp, status, "application/json", text, strlen(text));
    free(text);
}

void http_response_error(struct http_response *resp, int status,
                         const char *code, const char *fmt, ...)
{
    char message[ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    http_response_json(
        resp, status,
        json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

static int status_for_kind(enum error_kind kind)
{
    switch (kind) {
    case ERR_INVALID:
        return 400;
    case ERR_UNAUTHORIZED:
        return 401;
    case ERR_INSUFFICIENT_CREDITS:
        return 402;
    case ERR_FORBIDDEN:
        return 403;
    case ERR_NOT_FOUND:
        return 404;
    case ERR_CONFLICT:
        return 409;
    case ERR_RATE_LIMITED:
        return 429;
    case ERR_RETRYABLE:
        return 503;
    case ERR_NONE:
    case ERR_PERMANENT:
        break;
    }
    return 500;
}

void http_response_from_error(struct http_response *resp,
                              const struct error *err)
{
    int status = status_for_kind(err->kind);
    const char *code = err->code[0] ? err->code : error_kind_name(err->kind);

    http_response_error(resp, status, code, "%s", err->message);
    if ((status == 429 || status == 503) && err->retry_after_ms >= 0) {
        char seconds[32];

        /* Retry-After counts whole seconds, so round the wait up. */
        snprintf(seconds, sizeof(seconds), "%lld",
                 (long long)((err->retry_after_ms + 999) / 1000));
        http_response_header(resp, "Retry-After", seconds);
    }
}

void http_response_release(struct http_response *resp)
{
    for (size_t i = 0; i < resp->header_count; i++) {
        free(resp->header_names[i]);
        free(resp->header_values[i]);
    }
    resp->header_count = 0;
    buf_free(&resp->body);
    if (resp->stream_free && resp->stream_ctx)
        resp->stream_free(resp->stream_ctx);
    resp->stream_ctx = NULL;
}

void http_stream_state_unref(struct http_stream_state *stream)
{
    if (atomic_fetch_sub(&stream->refs, 1) != 1)
        return;
    if (stream->free_ctx)
        stream->free_ctx(stream->ctx);
    buf_free(&stream->pending);
    free(stream);
}

static void stream_free_callback(void *cls)
{
    http_stream_state_unref(cls);
}

/*
 * Fills MHD's block from the stream callback. It never returns 0, because
 * MHD's internal polling threads would then not call it again. Instead it
 * keeps calling fn (which may block for a while) until fn produces bytes,
 * ends, or the server stops.
 * NOTE: a stream that stays silent occupies its pool thread, which also
 * serves the other connections assigned to that thread.
 */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct http_stream_state *stream = cls;
    size_t available;

    (void)pos;
    while (stream->pending_offset == stream->pending.len) {
        int rc;

        buf_reset(&stream->pending);
        stream->pending_offset = 0;
        if (stream->finished || atomic_load(stream->stopping))
            return stream->failed || !stream->finished
                       ? MHD_CONTENT_READER_END_WITH_ERROR
                       : MHD_CONTENT_READER_END_OF_STREAM;
        rc = stream->fn(stream->ctx, &stream->pending);
        if (rc != 0) {
            stream->finished = 1;
            stream->failed = rc < 0;
        } else if (stream->pending.len == 0) {
            clock_sleep_ms(STREAM_IDLE_SLEEP_MS);
        }
    }

    available = stream->pending.len - stream->pending_offset;
    if (available > max)
        available = max;
    memcpy(out, stream->pending.data + stream->pending_offset, available);
    stream->pending_offset += available;
    atomic_fetch_add(&stream->bytes_sent, available);
    return (ssize_t)available;
}

static struct MHD_Response *stream_response(struct http_request_state *state,
                                            struct http_response *resp)
{
    struct http_stream_state *stream = calloc(1, sizeof(*stream));
    struct MHD_Response *response;

    if (!stream)
        return NULL;
    atomic_init(&stream->refs, 2);
    stream->stopping = &state->server->stopping;
    stream->fn = resp->stream;
    stream->ctx = resp->stream_ctx;
    stream->free_ctx = resp->stream_free;
    buf_init(&stream->pending, SIZE_MAX / 2);

    /* From here on the stream frees the context, also when a step fails. */
    resp->stream_ctx = NULL;
    response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, READER_BLOCK_BYTES, stream_read, stream,
        stream_free_callback);
    if (!response) {
        atomic_store(&stream->refs, 1);
        http_stream_state_unref(stream);
        return NULL;
    }
    state->stream = stream;
    return response;
}

/* The first half of a body, then an error that makes MHD close. */
struct truncated_body {
    char *data;
    size_t limit;
};

static ssize_t truncated_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct truncated_body *body = cls;
    size_t n;

    if (pos >= body->limit)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    n = body->limit - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(out, body->data + pos, n);
    return (ssize_t)n;
}

static void truncated_free(void *cls)
{
    struct truncated_body *body = cls;

    free(body->data);
    free(body);
}

static struct MHD_Response *truncated_response(struct http_response *resp)
{
    struct truncated_body *body = calloc(1, sizeof(*body));
    struct MHD_Response *response;
    size_t len = resp->body.len;

    if (!body)
        return NULL;
    body->data = buf_detach(&resp->body, NULL);
    body->limit = len / 2;

    /* Content-Length announces the whole body; only half of it follows. */
    response = MHD_create_response_from_callback(
        len, READER_BLOCK_BYTES, truncated_read, body, truncated_free);
    if (!response)
        truncated_free(body);
    return response;
}

static struct MHD_Response *build_response(struct http_request_state *state,
                                           struct http_response *resp)
{
    if (resp->stream)
        return stream_response(state, resp);
    if (resp->abort == HTTP_ABORT_TRUNCATE)
        return truncated_response(resp);
    return MHD_create_response_from_buffer(
        resp->body.len, resp->body.data ? resp->body.data : "",
        MHD_RESPMEM_MUST_COPY);
}

static void add_headers(struct http_request_state *state,
                        struct http_response *resp,
                        struct MHD_Response *response)
{
    for (size_t i = 0; i < resp->header_count; i++)
        MHD_add_response_header(response, resp->header_names[i],
                                resp->header_values[i]);
    if (resp->content_type[0])
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp->content_type);
    MHD_add_response_header(response, "X-Request-Id", state->req.request_id);
    if (resp->abort == HTTP_ABORT_TRUNCATE)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
}

enum MHD_Result http_response_queue(struct http_request_state *state,
                                    struct http_response *resp)
{
    struct MHD_Response *response;
    enum MHD_Result result;

    if (resp->status < 100 || resp->status > 599) {
        /* A handler bug: report it as a 500 rather than send a bad line. */
        int status = resp->status;

        http_response_error(resp, 500, "internal",
                            "handler set the invalid status %d", status);
        resp->abort = HTTP_ABORT_NONE;
    }
    state->status = resp->status;
    state->abort = resp->abort;
    if (resp->abort == HTTP_ABORT_DROP)
        return MHD_NO;

    state->bytes = resp->abort == HTTP_ABORT_TRUNCATE ? resp->body.len / 2
                                                      : resp->body.len;
    response = build_response(state, resp);
    if (!response)
        return MHD_NO;
    add_headers(state, resp, response);
    result =
        MHD_queue_response(state->connection, (unsigned)resp->status, response);
    MHD_destroy_response(response);
    return result;
}
