/*
 * Internals shared by the files of the HTTP server (server.c,
 * server_request.c, server_response.c). Not for use outside src/http.
 */
#ifndef SITESMITH_HTTP_SERVER_PRIVATE_H
#define SITESMITH_HTTP_SERVER_PRIVATE_H

#include "http/server.h"

#include <microhttpd.h>
#include <stdatomic.h>

#define HTTP_ROUTE_MAX_SEGMENTS 32

struct http_route {
    char *method;
    char *pattern;
    /* Literal segments, or for a "{name}" segment the bare name. */
    char *segments[HTTP_ROUTE_MAX_SEGMENTS];
    int is_param[HTTP_ROUTE_MAX_SEGMENTS];
    size_t segment_count;
    int rest; /* the last segment of the pattern is "*" */
    http_handler_fn handler;
    void *ctx;
};

struct http_owned {
    void *ptr;
    void (*release)(void *ptr);
};

struct http_server {
    struct http_server_options opts; /* strings point to the copies below */
    char *listen;
    char *log_component;
    struct http_route *routes;
    size_t route_count;
    struct http_owned *owned; /* freed by http_server_free */
    size_t owned_count;
    struct MHD_Daemon *daemon;
    int port;
    atomic_int stopping;  /* set by http_server_free; ends streams */
    atomic_int in_flight; /* requests between request line and completion */
};

struct http_query_param {
    char *name;
    char *value;
};

/*
 * A streamed body in flight. Two owners release it: MHD when it destroys
 * the response, and the request's completion, which reads bytes_sent for
 * the access log. The last release frees it.
 */
struct http_stream_state {
    atomic_int refs;
    atomic_size_t bytes_sent;
    atomic_int *stopping; /* the server's flag */
    http_stream_fn fn;
    void *ctx;
    void (*free_ctx)(void *ctx);
    struct buf pending; /* produced by fn, not yet handed to MHD */
    size_t pending_offset;
    int finished; /* fn returned 1 or -1 */
    int failed;   /* fn returned -1 */
};

/* One request from its request line to its completion (MHD's con_cls). */
struct http_request_state {
    struct http_server *server;
    struct MHD_Connection *connection;
    char *method;   /* a copy: MHD reuses its memory after completion */
    char *raw_path; /* as received, without the query */
    char *raw_query;
    int64_t started_ms;
    int counted; /* counted in server->in_flight */
    int headers_seen;
    int body_too_large;
    struct buf body;
    struct http_request req;
    struct http_query_param *query;
    size_t query_count;

    /* For the access log. */
    int status;
    size_t bytes;
    enum http_abort abort;
    struct http_stream_state *stream;
};

/* Percent-decodes n bytes of text into a new string; '+' becomes a space
 * when plus_is_space. Malformed escapes are kept as written. */
char *http_percent_decode(const char *text, size_t n, int plus_is_space);

/* Splits a raw query string into decoded name/value pairs. */
int http_query_parse(struct http_request_state *state);

/*
 * Matches the raw path against a route pattern; on a match fills the
 * request's decoded path parameters and returns 1, else 0. Returns -1 when
 * out of memory.
 */
int http_route_match(const struct http_route *route, const char *raw_path,
                     struct http_request *req);

/* Parses pattern into route->segments. Returns -1 when it is unusable. */
int http_route_compile(struct http_route *route, const char *pattern,
                       struct error *err);

void http_route_release(struct http_route *route);

/* Frees the path parameters filled by http_route_match(). */
void http_request_params_release(struct http_request *req);

/*
 * Turns a handler's response into an MHD response, with X-Request-Id and
 * the content type set, and queues it. Returns MHD_NO when the connection
 * must close at once (HTTP_ABORT_DROP or out of memory).
 */
enum MHD_Result http_response_queue(struct http_request_state *state,
                                    struct http_response *resp);

void http_response_release(struct http_response *resp);

void http_stream_state_unref(struct http_stream_state *stream);

#endif
