/*
 * HTTP server over libmicrohttpd: a thread pool, a router with path
 * parameters, a request body limit, JSON errors of the form
 * {"error":{"code":"...","message":"..."}}, an X-Request-Id on every
 * response, and one access log line per request.
 */
#ifndef SITESMITH_HTTP_SERVER_H
#define SITESMITH_HTTP_SERVER_H

#include "core/buf.h"
#include "core/error.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_PARAMS 8
#define HTTP_MAX_RESPONSE_HEADERS 16

struct http_request {
    const char *method;
    const char *path;  /* decoded path, without the query */
    const char *query; /* raw query string without '?', or "" */
    const char *body;  /* NUL-terminated; "" when empty */
    size_t body_len;
    char request_id[40]; /* from X-Request-Id when sane, else generated */
    char remote_addr[64];
    size_t param_count;
    const char *param_names[HTTP_MAX_PARAMS];
    char *param_values[HTTP_MAX_PARAMS]; /* decoded path parameters */
    void *internal; /* the server's connection; do not touch */
};

/* A request header (name matched without case), or NULL. */
const char *http_request_header(const struct http_request *req,
                                const char *name);

/* A path parameter named in the route ("{id}"), or NULL. */
const char *http_request_param(const struct http_request *req,
                               const char *name);

/*
 * A decoded query parameter, or NULL when absent. The value is borrowed and
 * lives as long as the request.
 */
const char *http_request_query(const struct http_request *req,
                               const char *name);

/*
 * Streaming bodies (Server-Sent Events): the server calls this from its
 * thread pool whenever the client can take more bytes. The callback
 * appends to out and returns 0 to keep the stream open, 1 to end it, or -1
 * on error. It may block for a short while (under a second) waiting for
 * data. Called again until it ends or the client goes away, after which
 * free_ctx(ctx) runs.
 */
typedef int (*http_stream_fn)(void *ctx, struct buf *out);

enum http_abort {
    HTTP_ABORT_NONE = 0,
    HTTP_ABORT_DROP,     /* close the connection without an answer */
    HTTP_ABORT_TRUNCATE, /* send headers and half the body, then close */
};

struct http_response {
    int status;
    struct buf body;
    char content_type[96];
    size_t header_count;
    char *header_names[HTTP_MAX_RESPONSE_HEADERS];
    char *header_values[HTTP_MAX_RESPONSE_HEADERS];
    enum http_abort abort;
    http_stream_fn stream;
    void *stream_ctx;
    void (*stream_free)(void *ctx);
};

/* Adds a response header; a second call with the same name replaces it. */
void http_response_header(struct http_response *resp, const char *name,
                          const char *value);

/* Sets status and a JSON body; takes ownership of body (json_decref). */
void http_response_json(struct http_response *resp, int status, json_t *body);

/* Sets status and {"error":{"code":code,"message":...}}. */
void http_response_error(struct http_response *resp, int status,
                         const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Sets the status and error body for err: invalid 400, unauthorized 401,
 * insufficient credits 402, forbidden 403, not found 404, conflict 409,
 * rate limited 429 (with Retry-After), retryable 503, permanent 500.
 */
void http_response_from_error(struct http_response *resp,
                              const struct error *err);

/* Sets status, content type and a copy of the bytes. */
void http_response_bytes(struct http_response *resp, int status,
                         const char *content_type, const void *data,
                         size_t len);

/*
 * A route handler. It fills resp; the server sends it after the handler
 * returns. Handlers run on pool threads, concurrently.
 */
typedef void (*http_handler_fn)(struct http_request *req,
                                struct http_response *resp, void *ctx);

struct http_server_options {
    const char *listen;        /* "127.0.0.1:0", "[::1]:8080", ":8080" */
    unsigned threads;          /* 0: 4 */
    size_t max_body_bytes;     /* 0: 1 MiB; larger bodies get 413 */
    const char *log_component; /* access log component, e.g. "http" */
    int quiet;                 /* no access log lines */
};

struct http_server;

struct http_server *http_server_new(const struct http_server_options *opts,
                                    struct error *err);

/*
 * Adds a route. pattern is a path whose segments may be "{name}"
 * parameters. A last segment of "*" matches any rest of the path, even an
 * empty one. Handlers read that rest as the parameter "*", decoded and
 * without its leading slash. method "*" matches every method, and a GET
 * route also serves HEAD. Routes are tried in the order they were added.
 * A path that matches no route gets 404, and a path that matches with
 * another method gets 405. Call before start.
 */
int http_server_route(struct http_server *server, const char *method,
                      const char *pattern, http_handler_fn handler, void *ctx);

/*
 * Hands ptr to the server, which calls release(ptr) in http_server_free()
 * after the last request has finished: the way to free route contexts that
 * live as long as the server. Returns -1 (ptr not taken) when out of
 * memory.
 */
int http_server_own(struct http_server *server, void *ptr,
                    void (*release)(void *ptr));

/* Binds and starts serving. Returns -1 with err when it can't bind. */
int http_server_start(struct http_server *server, struct error *err);

/* The bound port (useful after listening on port 0). */
int http_server_port(const struct http_server *server);

/* Stops accepting, waits for running handlers, and frees the server. */
void http_server_free(struct http_server *server);

#endif
