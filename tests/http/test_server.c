/*
 * The HTTP server through real sockets: requests come from the HTTP client
 * or, for malformed and chunked requests, from a raw TCP socket.
 */
#include "core/clock.h"
#include "core/log.h"
#include "http/client.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#define BODY_LIMIT 1000

/* ---- Handlers ----------------------------------------------------------- */

/* Responds with what the server parsed, as JSON. */
static void echo_handler(struct http_request *req, struct http_response *resp,
                         void *ctx)
{
    json_t *params = json_object();

    for (size_t i = 0; i < req->param_count; i++)
        json_object_set_new(params, req->param_names[i],
                            json_string(req->param_values[i]));
    http_response_json(
        resp, 200,
        json_pack("{s:s, s:s, s:s, s:s, s:s#, s:o, s:s, s:s}", "route",
                  (const char *)ctx, "method", req->method, "path", req->path,
                  "query", req->query, "body", req->body, (int)req->body_len,
                  "params", params, "request_id", req->request_id, "remote",
                  req->remote_addr));
}

static void query_handler(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    const char *names[] = {"q", "empty", "flag", "missing", "a b"};
    json_t *found = json_object();

    (void)ctx;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *value = http_request_query(req, names[i]);

        json_object_set_new(found, names[i],
                            value ? json_string(value) : json_null());
    }
    http_response_json(resp, 200, found);
}

static void header_handler(struct http_request *req, struct http_response *resp,
                           void *ctx)
{
    const char *value = http_request_header(req, "x-custom-header");

    (void)ctx;
    http_response_bytes(resp, 200, "text/plain", value ? value : "(none)",
                        strlen(value ? value : "(none)"));
    http_response_header(resp, "X-Extra", "first");
    http_response_header(resp, "x-extra", "second");
}

static void error_handler(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    struct error err;

    (void)req;
    (void)ctx;
    error_set(&err, ERR_RATE_LIMITED, "slow down");
    err.retry_after_ms = 1500;
    http_response_from_error(resp, &err);
}

static void abort_handler(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    const char *mode = http_request_param(req, "mode");

    (void)ctx;
    http_response_bytes(resp, 200, "text/plain", "0123456789abcdefghij", 20);
    if (strcmp(mode, "drop") == 0)
        resp->abort = HTTP_ABORT_DROP;
    else if (strcmp(mode, "truncate") == 0)
        resp->abort = HTTP_ABORT_TRUNCATE;
}

static void no_status_handler(struct http_request *req,
                              struct http_response *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    resp->status = 0;
}

/* Handlers running now, and the most that ever ran at once. */
static atomic_int slow_running;
static atomic_int slow_peak;

static void slow_handler(struct http_request *req, struct http_response *resp,
                         void *ctx)
{
    int running = atomic_fetch_add(&slow_running, 1) + 1;
    int peak = atomic_load(&slow_peak);

    (void)req;
    (void)ctx;
    while (running > peak &&
           !atomic_compare_exchange_weak(&slow_peak, &peak, running))
        ;
    clock_sleep_ms(300);
    atomic_fetch_sub(&slow_running, 1);
    http_response_bytes(resp, 200, "text/plain", "slow", 4);
}

struct events {
    int sent;
    int total;
    atomic_int *freed;
};

static int events_next(void *ctx, struct buf *out)
{
    struct events *events = ctx;

    if (events->sent == events->total)
        return 1;
    /* Nothing on odd calls: the server must call again, not end. */
    if (events->sent % 2 == 1 && out->len == 0) {
        events->sent++;
        return 0;
    }
    buf_printf(out, "data: event %d\n\n", events->sent);
    events->sent++;
    return 0;
}

static void events_free(void *ctx)
{
    struct events *events = ctx;

    atomic_fetch_add(events->freed, 1);
    free(events);
}

static atomic_int events_freed;

static void events_handler(struct http_request *req, struct http_response *resp,
                           void *ctx)
{
    struct events *events = calloc(1, sizeof(*events));

    (void)req;
    (void)ctx;
    events->total = 6;
    events->freed = &events_freed;
    resp->status = 200;
    snprintf(resp->content_type, sizeof(resp->content_type),
             "text/event-stream");
    resp->stream = events_next;
    resp->stream_ctx = events;
    resp->stream_free = events_free;
}

/* A stream that never ends on its own: one event every 50 ms. */
static int endless_next(void *ctx, struct buf *out)
{
    (void)ctx;
    clock_sleep_ms(50);
    buf_printf(out, "data: tick\n\n");
    return 0;
}

static void endless_handler(struct http_request *req,
                            struct http_response *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    resp->status = 200;
    resp->stream = endless_next;
}

/* ---- Fixture ------------------------------------------------------------ */

struct fixture {
    struct http_server *server;
    char base[64];
    FILE *log;
};

static struct http_server *start_server(const char *listen, FILE *log)
{
    struct http_server_options options = {
        .listen = listen,
        .threads = 4,
        .max_body_bytes = BODY_LIMIT,
        .log_component = "test-http",
    };
    struct http_server *server;
    struct error err;

    log_set_output(log);
    server = http_server_new(&options, &err);
    assert_non_null(server);
    assert_int_equal(
        http_server_route(server, "GET", "/items/{id}", echo_handler, "item"),
        0);
    assert_int_equal(http_server_route(server, "GET", "/items/special",
                                       echo_handler, "special"),
                     0);
    assert_int_equal(http_server_route(server, "POST", "/items/{id}",
                                       echo_handler, "item-post"),
                     0);
    assert_int_equal(
        http_server_route(server, "GET", "/a/{x}/b/{y}", echo_handler, "two"),
        0);
    assert_int_equal(
        http_server_route(server, "*", "/files/*", echo_handler, "files"), 0);
    assert_int_equal(
        http_server_route(server, "GET", "/query", query_handler, NULL), 0);
    assert_int_equal(
        http_server_route(server, "GET", "/header", header_handler, NULL), 0);
    assert_int_equal(
        http_server_route(server, "GET", "/error", error_handler, NULL), 0);
    assert_int_equal(
        http_server_route(server, "GET", "/abort/{mode}", abort_handler, NULL),
        0);
    assert_int_equal(
        http_server_route(server, "GET", "/slow", slow_handler, NULL), 0);
    assert_int_equal(
        http_server_route(server, "GET", "/endless", endless_handler, NULL), 0);
    assert_int_equal(
        http_server_route(server, "GET", "/no-status", no_status_handler, NULL),
        0);
    assert_int_equal(
        http_server_route(server, "GET", "/events", events_handler, NULL), 0);
    assert_int_equal(http_server_start(server, &err), 0);
    assert_true(http_server_port(server) > 0);
    return server;
}

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));

    fixture->log = tmpfile();
    fixture->server = start_server("127.0.0.1:0", fixture->log);
    snprintf(fixture->base, sizeof(fixture->base), "http://127.0.0.1:%d",
             http_server_port(fixture->server));
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;

    http_server_free(fixture->server);
    log_set_output(NULL);
    fclose(fixture->log);
    free(fixture);
    return 0;
}

/* Sends one request; the body is a string or NULL. */
static int fetch(const struct fixture *fixture, const char *method,
                 const char *path, const char *body,
                 struct http_client_response *resp, struct error *err)
{
    struct http_client_request req = {0};
    char url[512];

    snprintf(url, sizeof(url), "%s%s", fixture->base, path);
    req.method = method;
    req.url = url;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.timeout_ms = 5000;
    return http_client_send(&req, resp, err);
}

/* Fetches and parses a JSON body, asserting on the status. */
static json_t *fetch_json(const struct fixture *fixture, const char *method,
                          const char *path, const char *body, long status)
{
    struct http_client_response resp;
    struct error err;
    json_t *parsed;

    assert_int_equal(fetch(fixture, method, path, body, &resp, &err), 0);
    assert_int_equal(resp.status, status);
    assert_string_equal(resp.content_type, "application/json");
    parsed = json_loads(resp.body.data, 0, NULL);
    assert_non_null(parsed);
    http_client_response_release(&resp);
    return parsed;
}

static const char *field(json_t *root, const char *name)
{
    json_t *value = json_object_get(root, name);

    return json_is_string(value) ? json_string_value(value) : NULL;
}

static const char *error_code(json_t *root)
{
    return json_string_value(
        json_object_get(json_object_get(root, "error"), "code"));
}

/* Sends raw bytes and returns everything the server sends back until it
 * closes or stays silent for two seconds. The caller frees the text. */
static char *raw_exchange(int port, const char *request)
{
    size_t len = strlen(request);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    struct timeval wait = {.tv_sec = 2};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct buf reply;
    char chunk[4096];
    ssize_t n;

    assert_true(fd >= 0);
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
    assert_int_equal(send(fd, request, len, MSG_NOSIGNAL), (ssize_t)len);

    buf_init(&reply, 1 << 20);
    while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
        buf_append(&reply, chunk, (size_t)n);
    close(fd);
    buf_append(&reply, "", 0);
    return buf_detach(&reply, NULL);
}

/* ---- Tests -------------------------------------------------------------- */

static void routes_tried_in_order(void **state)
{
    struct fixture *fixture = *state;
    json_t *root;

    /* "/items/{id}" was added first, so it also takes "/items/special". */
    root = fetch_json(fixture, "GET", "/items/special", NULL, 200);
    assert_string_equal(field(root, "route"), "item");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(root, "params"), "id")),
                        "special");
    json_decref(root);

    root = fetch_json(fixture, "POST", "/items/7", "{}", 200);
    assert_string_equal(field(root, "route"), "item-post");
    assert_string_equal(field(root, "body"), "{}");
    assert_string_equal(field(root, "remote"), "127.0.0.1");
    json_decref(root);
}

static void path_params_decoded(void **state)
{
    struct fixture *fixture = *state;
    json_t *root;
    json_t *params;

    root =
        fetch_json(fixture, "GET", "/a/x%2Fy%20z/b/%C3%A9t%C3%A9", NULL, 200);
    params = json_object_get(root, "params");
    assert_string_equal(field(root, "route"), "two");
    assert_string_equal(field(params, "x"), "x/y z");
    assert_string_equal(field(params, "y"), "\xc3\xa9t\xc3\xa9");
    assert_string_equal(field(root, "path"), "/a/x/y z/b/\xc3\xa9t\xc3\xa9");
    json_decref(root);

    /* A malformed escape stays as written. */
    root = fetch_json(fixture, "GET", "/items/100%zz", NULL, 200);
    assert_string_equal(field(json_object_get(root, "params"), "id"), "100%zz");
    json_decref(root);
}

static void rest_param_matches_tail(void **state)
{
    struct fixture *fixture = *state;
    json_t *root;

    root = fetch_json(fixture, "PUT", "/files/dir/sub%2Fname.txt", "data", 200);
    assert_string_equal(field(root, "route"), "files");
    assert_string_equal(field(root, "method"), "PUT");
    assert_string_equal(field(json_object_get(root, "params"), "*"),
                        "dir/sub/name.txt");
    json_decref(root);

    root = fetch_json(fixture, "DELETE", "/files", NULL, 200);
    assert_string_equal(field(json_object_get(root, "params"), "*"), "");
    json_decref(root);

    root = fetch_json(fixture, "GET", "/filesystem", NULL, 404);
    json_decref(root);
}

static void query_params_decoded(void **state)
{
    struct fixture *fixture = *state;
    json_t *root;

    root = fetch_json(fixture, "GET", "/query?q=a+b%26c&empty=&flag&a%20b=%3D1",
                      NULL, 200);
    assert_string_equal(field(root, "q"), "a b&c");
    assert_string_equal(field(root, "empty"), "");
    assert_string_equal(field(root, "flag"), "");
    assert_true(json_is_null(json_object_get(root, "missing")));
    assert_string_equal(field(root, "a b"), "=1");
    json_decref(root);

    /* The raw query reaches the handler without the '?'. */
    root = fetch_json(fixture, "GET", "/items/1?x=%41&y", NULL, 200);
    assert_string_equal(field(root, "query"), "x=%41&y");
    assert_string_equal(field(root, "path"), "/items/1");
    json_decref(root);
}

static void unknown_path_gets_404(void **state)
{
    struct fixture *fixture = *state;
    json_t *root = fetch_json(fixture, "GET", "/nowhere", NULL, 404);

    assert_string_equal(error_code(root), "not_found");
    json_decref(root);

    /* A trailing slash is a different path. */
    root = fetch_json(fixture, "GET", "/items/1/", NULL, 404);
    json_decref(root);
}

static void wrong_method_gets_405(void **state)
{
    struct fixture *fixture = *state;
    json_t *root = fetch_json(fixture, "DELETE", "/items/1", NULL, 405);

    assert_string_equal(error_code(root), "method_not_allowed");
    json_decref(root);
}

static void head_uses_get_route(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    assert_int_equal(fetch(fixture, "HEAD", "/header", NULL, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 0);
    http_client_response_release(&resp);
}

static void body_limit_gets_413(void **state)
{
    struct fixture *fixture = *state;
    char *body = malloc(BODY_LIMIT + 2);
    json_t *root;

    /* Exactly at the limit is accepted. */
    memset(body, 'b', BODY_LIMIT);
    body[BODY_LIMIT] = '\0';
    root = fetch_json(fixture, "POST", "/items/1", body, 200);
    assert_int_equal(strlen(field(root, "body")), BODY_LIMIT);
    json_decref(root);

    /* One byte more is not. */
    body[BODY_LIMIT] = 'b';
    body[BODY_LIMIT + 1] = '\0';
    root = fetch_json(fixture, "POST", "/items/1", body, 413);
    assert_string_equal(error_code(root), "payload_too_large");
    json_decref(root);
    free(body);
}

static void chunked_body_limit_gets_413(void **state)
{
    struct fixture *fixture = *state;
    struct buf request;
    char *reply;

    /* Chunked: no Content-Length, so the limit is found while reading. */
    buf_init(&request, 1 << 20);
    buf_printf(&request, "POST /items/1 HTTP/1.1\r\nHost: x\r\n"
                         "Transfer-Encoding: chunked\r\n"
                         "Connection: close\r\n\r\n");
    for (int i = 0; i < 5; i++) {
        buf_printf(&request, "12c\r\n");
        for (int j = 0; j < 300; j++)
            buf_append(&request, "c", 1);
        buf_printf(&request, "\r\n");
    }
    buf_printf(&request, "0\r\n\r\n");

    reply = raw_exchange(http_server_port(fixture->server), request.data);
    assert_non_null(strstr(reply, "HTTP/1.1 413"));
    assert_non_null(strstr(reply, "payload_too_large"));
    free(reply);
    buf_free(&request);
}

static void malformed_request_rejected(void **state)
{
    struct fixture *fixture = *state;
    int port = http_server_port(fixture->server);
    static const char *const bad_requests[] = {
        "GET /items/1 HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        "GET /items/1\r\n\r\n",          /* no HTTP version */
        "GET /items/1 HTTP/1.1\r\n\r\n", /* HTTP/1.1 without Host */
    };
    static const char garbage[] = "GARBAGE\r\n\r\n";
    char *reply;
    json_t *root;

    for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]);
         i++) {
        reply = raw_exchange(port, bad_requests[i]);
        assert_true(strncmp(reply, "HTTP/1.1 400", 12) == 0);
        free(reply);
    }

    /* A request line without a space gets the connection closed, and one
     * without a version a 400 or a closed connection. */
    reply = raw_exchange(port, garbage);
    assert_string_equal(reply, "");
    free(reply);
    reply = raw_exchange(port, "GET /items/1\r\n\r\n");
    assert_null(strstr(reply, "200 OK"));
    free(reply);

    reply = raw_exchange(port, "GET / HTTP/9.9\r\nHost: x\r\n\r\n");
    assert_true(strncmp(reply, "HTTP/1.1 505", 12) == 0);
    free(reply);

    /* The server still serves well-formed requests afterwards. */
    root = fetch_json(fixture, "GET", "/items/1", NULL, 200);
    json_decref(root);
}

static void request_id_echoed_when_sane(void **state)
{
    struct fixture *fixture = *state;
    static const char *const insane[] = {
        "", "has space", "<script>",
        "0123456789012345678901234567890123456", /* 37 characters */
    };
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct error err;
    char url[128];
    char header[128];

    snprintf(url, sizeof(url), "%s/items/1", fixture->base);
    req.url = url;
    req.headers[0] = "X-Request-Id: Abc_123-xyz";
    assert_int_equal(http_client_send(&req, &resp, &err), 0);
    assert_string_equal(http_client_header(&resp, "x-request-id"),
                        "Abc_123-xyz");
    http_client_response_release(&resp);

    for (size_t i = 0; i < sizeof(insane) / sizeof(insane[0]); i++) {
        const char *id;

        snprintf(header, sizeof(header), "X-Request-Id: %s", insane[i]);
        req.headers[0] = header;
        assert_int_equal(http_client_send(&req, &resp, &err), 0);
        id = http_client_header(&resp, "x-request-id");
        assert_non_null(id);
        assert_int_equal(strlen(id), 36);
        assert_string_not_equal(id, insane[i]);
        http_client_response_release(&resp);
    }
}

static void error_responses_carry_request_id(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    assert_int_equal(fetch(fixture, "GET", "/nowhere", NULL, &resp, &err), 0);
    assert_int_equal(resp.status, 404);
    assert_non_null(http_client_header(&resp, "x-request-id"));
    http_client_response_release(&resp);
}

static void response_headers_replace(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct error err;
    char url[128];
    size_t extra = 0;

    snprintf(url, sizeof(url), "%s/header", fixture->base);
    req.url = url;
    req.headers[0] = "X-Custom-Header: hello there";
    assert_int_equal(http_client_send(&req, &resp, &err), 0);
    assert_string_equal(resp.body.data, "hello there");
    assert_string_equal(resp.content_type, "text/plain");
    for (size_t i = 0; i < resp.header_count; i++)
        extra += strcmp(resp.headers[i].name, "x-extra") == 0;
    assert_int_equal(extra, 1);
    assert_string_equal(http_client_header(&resp, "x-extra"), "second");
    http_client_response_release(&resp);
}

static void error_maps_to_429(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;
    json_t *root;

    assert_int_equal(fetch(fixture, "GET", "/error", NULL, &resp, &err), 0);
    assert_int_equal(resp.status, 429);
    assert_string_equal(http_client_header(&resp, "retry-after"), "2");
    root = json_loads(resp.body.data, 0, NULL);
    assert_string_equal(error_code(root), "rate_limited");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(root, "error"), "message")),
                        "slow down");
    json_decref(root);
    http_client_response_release(&resp);
}

static void invalid_status_becomes_500(void **state)
{
    struct fixture *fixture = *state;
    json_t *root = fetch_json(fixture, "GET", "/no-status", NULL, 500);

    assert_string_equal(error_code(root), "internal");
    json_decref(root);
}

static void route_after_start_rejected(void **state)
{
    struct fixture *fixture = *state;

    assert_int_equal(
        http_server_route(fixture->server, "GET", "/late", echo_handler, NULL),
        -1);
}

static void abort_drop_sends_nothing(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    assert_int_equal(fetch(fixture, "GET", "/abort/drop", NULL, &resp, &err),
                     -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, "transfer");
    assert_int_equal(resp.status, 0);
    http_client_response_release(&resp);
}

static void abort_truncate_sends_half(void **state)
{
    struct fixture *fixture = *state;
    static const char request[] =
        "GET /abort/truncate HTTP/1.1\r\nHost: x\r\n\r\n";
    char *reply;
    const char *body;

    reply = raw_exchange(http_server_port(fixture->server), request);
    assert_true(strncmp(reply, "HTTP/1.1 200", 12) == 0);
    assert_non_null(strstr(reply, "Content-Length: 20"));
    body = strstr(reply, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, "0123456789");
    free(reply);
}

static void stream_sends_events(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    atomic_store(&events_freed, 0);
    assert_int_equal(fetch(fixture, "GET", "/events", NULL, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "text/event-stream");
    assert_string_equal(resp.body.data, "data: event 0\n\n"
                                        "data: event 2\n\n"
                                        "data: event 4\n\n");
    http_client_response_release(&resp);

    /* The context is freed once the response is done. */
    for (int i = 0; i < 100 && atomic_load(&events_freed) == 0; i++)
        clock_sleep_ms(10);
    assert_int_equal(atomic_load(&events_freed), 1);
}

static void access_log_omits_query(void **state)
{
    struct fixture *fixture = *state;
    char line[1024];
    int found = 0;
    json_t *root;

    root = fetch_json(fixture, "GET", "/items/42?token=secretvalue", NULL, 200);
    json_decref(root);

    /* The line is written when the request completes, just after the
     * client has the response. */
    for (int i = 0; i < 100 && !found; i++) {
        clock_sleep_ms(10);
        fflush(fixture->log);
        rewind(fixture->log);
        while (fgets(line, sizeof(line), fixture->log)) {
            if (strstr(line, "path=/items/42 ")) {
                found = 1;
                break;
            }
        }
    }
    assert_true(found);
    assert_non_null(strstr(line, "INFO test-http: request method=GET"));
    assert_non_null(strstr(line, " status=200 "));
    assert_non_null(strstr(line, " duration_ms="));
    assert_non_null(strstr(line, " request_id="));
    assert_null(strstr(line, "secretvalue"));
    assert_null(strstr(line, "token"));
}

struct slow_call {
    const struct fixture *fixture;
    long status;
    int64_t finished_ms;
};

static void *slow_call_run(void *arg)
{
    struct slow_call *call = arg;
    struct http_client_response resp;
    struct error err;

    if (fetch(call->fixture, "GET", "/slow", NULL, &resp, &err) == 0)
        call->status = resp.status;
    call->finished_ms = clock_monotonic_ms();
    http_client_response_release(&resp);
    return NULL;
}

static void handlers_run_concurrently(void **state)
{
    struct fixture *fixture = *state;
    struct slow_call calls[8];
    pthread_t threads[8];
    int peak = 0;

    /* MHD spreads connections over the pool threads as each accepts, so
     * the exact spread varies, and on a loaded machine one thread may take
     * a whole burst. A serial server shows a peak of 1 in every round. */
    for (int round = 0; round < 5 && peak < 2; round++) {
        atomic_store(&slow_peak, 0);
        for (int i = 0; i < 8; i++) {
            calls[i] = (struct slow_call){.fixture = fixture};
            pthread_create(&threads[i], NULL, slow_call_run, &calls[i]);
        }
        for (int i = 0; i < 8; i++) {
            pthread_join(threads[i], NULL);
            assert_int_equal(calls[i].status, 200);
        }
        peak = atomic_load(&slow_peak);
    }
    assert_true(peak >= 2);
}

static void free_waits_for_handlers(void **state)
{
    FILE *log = tmpfile();
    struct http_server *server = start_server("127.0.0.1:0", log);
    struct fixture fixture = {.server = server};
    struct slow_call call = {.fixture = &fixture};
    pthread_t thread;

    (void)state;
    snprintf(fixture.base, sizeof(fixture.base), "http://127.0.0.1:%d",
             http_server_port(server));
    pthread_create(&thread, NULL, slow_call_run, &call);
    clock_sleep_ms(100); /* the handler is now running */
    http_server_free(server);
    pthread_join(thread, NULL);
    assert_int_equal(call.status, 200);
    log_set_output(NULL);
    fclose(log);
}

struct stream_call {
    const struct fixture *fixture;
    int rc;
    size_t bytes;
};

static void *stream_call_run(void *arg)
{
    struct stream_call *call = arg;
    struct http_client_response resp;
    struct error err;

    call->rc = fetch(call->fixture, "GET", "/endless", NULL, &resp, &err);
    call->bytes = resp.body.len;
    http_client_response_release(&resp);
    return NULL;
}

static void free_ends_open_streams(void **state)
{
    FILE *log = tmpfile();
    struct http_server *server = start_server("127.0.0.1:0", log);
    struct fixture fixture = {.server = server};
    struct stream_call call = {.fixture = &fixture};
    pthread_t thread;
    int64_t started;

    (void)state;
    snprintf(fixture.base, sizeof(fixture.base), "http://127.0.0.1:%d",
             http_server_port(server));
    pthread_create(&thread, NULL, stream_call_run, &call);
    clock_sleep_ms(300);

    started = clock_monotonic_ms();
    http_server_free(server);
    assert_true(clock_monotonic_ms() - started < 2000);
    pthread_join(thread, NULL);
    /* The client saw events, then a stream cut short. */
    assert_int_equal(call.rc, -1);
    assert_true(call.bytes > 0);
    log_set_output(NULL);
    fclose(log);
}

static void listens_on_ipv6_and_any(void **state)
{
    static const char *const listens[] = {"[::1]:0", ":0"};
    FILE *log = tmpfile();

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct http_server *server = start_server(listens[i], log);
        struct fixture fixture = {.server = server};
        json_t *root;

        snprintf(fixture.base, sizeof(fixture.base), "http://[::1]:%d",
                 http_server_port(server));
        root = fetch_json(&fixture, "GET", "/items/6", NULL, 200);
        assert_string_equal(field(root, "remote"), "::1");
        json_decref(root);
        http_server_free(server);
    }
    log_set_output(NULL);
    fclose(log);
}

static void invalid_listen_rejected(void **state)
{
    static const char *const invalid[] = {
        "",        "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:http",
        "[::1:80", "[]:80",
    };
    struct http_server_options options = {.quiet = 1};
    struct error err;

    (void)state;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        struct http_server *server;
        int rc;

        options.listen = invalid[i];
        server = http_server_new(&options, &err);
        if (!server) {
            assert_int_equal(err.kind, ERR_INVALID);
            continue;
        }
        rc = http_server_start(server, &err);
        assert_int_equal(rc, -1);
        assert_int_equal(err.kind, ERR_INVALID);
        assert_non_null(strstr(err.message, invalid[i]));
        http_server_free(server);
    }
}

static void port_in_use_fails(void **state)
{
    struct fixture *fixture = *state;
    struct http_server_options options = {.quiet = 1};
    struct http_server *server;
    char listen[64];
    struct error err;

    snprintf(listen, sizeof(listen), "127.0.0.1:%d",
             http_server_port(fixture->server));
    options.listen = listen;
    server = http_server_new(&options, &err);
    assert_non_null(server);
    assert_int_equal(http_server_start(server, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_non_null(strstr(err.message, listen));
    http_server_free(server);
}

static void bad_route_rejected(void **state)
{
    struct http_server_options options = {.listen = "127.0.0.1:0", .quiet = 1};
    struct http_server *server;
    struct error err;

    (void)state;
    server = http_server_new(&options, &err);
    assert_non_null(server);
    assert_int_equal(
        http_server_route(server, "GET", "no-slash", echo_handler, NULL), -1);
    assert_int_equal(http_server_route(server, "GET",
                                       "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}",
                                       echo_handler, NULL),
                     -1);
    http_server_free(server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(routes_tried_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(path_params_decoded, setup, teardown),
        cmocka_unit_test_setup_teardown(rest_param_matches_tail, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(query_params_decoded, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_path_gets_404, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_method_gets_405, setup, teardown),
        cmocka_unit_test_setup_teardown(head_uses_get_route, setup, teardown),
        cmocka_unit_test_setup_teardown(body_limit_gets_413, setup, teardown),
        cmocka_unit_test_setup_teardown(chunked_body_limit_gets_413, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(malformed_request_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(request_id_echoed_when_sane, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(error_responses_carry_request_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(response_headers_replace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(error_maps_to_429, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_status_becomes_500, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(route_after_start_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(abort_drop_sends_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(abort_truncate_sends_half, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stream_sends_events, setup, teardown),
        cmocka_unit_test_setup_teardown(access_log_omits_query, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(handlers_run_concurrently, setup,
                                        teardown),
        cmocka_unit_test(free_waits_for_handlers),
        cmocka_unit_test(free_ends_open_streams),
        cmocka_unit_test(listens_on_ipv6_and_any),
        cmocka_unit_test(invalid_listen_rejected),
        cmocka_unit_test_setup_teardown(port_in_use_fails, setup, teardown),
        cmocka_unit_test(bad_route_rejected),
    };
    int failed;

    http_client_global_init();
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return failed;
}
