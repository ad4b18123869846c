/*
 * The HTTP client against local servers: one built with http/server.h for
 * well-formed responses and fault injection, and raw sockets for connection
 * counting, refused connections and connect timeouts.
 */
#include "core/clock.h"
#include "core/log.h"
#include "http/client.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <unistd.h>

#include <cmocka.h>

/* ---- Handlers ----------------------------------------------------------- */

static long param_number(const struct http_request *req, const char *name)
{
    return strtol(http_request_param(req, name), NULL, 10);
}

/* Responds with the status in the path and the headers services read. */
static void status_handler(struct http_request *req, struct http_response *resp,
                           void *ctx)
{
    int status = (int)param_number(req, "code");

    (void)ctx;
    http_response_bytes(resp, status, "application/json", "{}", 2);
    http_response_header(resp, "Retry-After", "7");
    http_response_header(resp, "retry-after-ms", "1250");
    http_response_header(resp, "X-Request-Id", "req-abc");
    http_response_header(resp, "x-wix-request-id", "wix-123");
    http_response_header(resp, "X-RateLimit-Remaining", "41");
    http_response_header(resp, "X-RateLimit-Reset", "1700000000");
    if (status == 302)
        http_response_header(resp, "Location", "/status/200");
}

/* Echoes the method, body and one request header. */
static void echo_handler(struct http_request *req, struct http_response *resp,
                         void *ctx)
{
    const char *header = http_request_header(req, "X-Test");

    (void)ctx;
    http_response_json(
        resp, 200,
        json_pack("{s:s, s:s#, s:s?, s:s?}", "method", req->method, "body",
                  req->body, (int)req->body_len, "header", header,
                  "content_type", http_request_header(req, "Content-Type")));
}

static void sleep_handler(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    (void)ctx;
    clock_sleep_ms(param_number(req, "ms"));
    http_response_bytes(resp, 200, "text/plain", "awake", 5);
}

static void big_handler(struct http_request *req, struct http_response *resp,
                        void *ctx)
{
    size_t size = (size_t)param_number(req, "bytes");
    char *body = malloc(size);

    (void)ctx;
    memset(body, 'x', size);
    http_response_bytes(resp, 200, "text/plain", body, size);
    free(body);
}

/* A streamed body of 64 KiB blocks without a Content-Length. */
static int stream_blocks(void *ctx, struct buf *out)
{
    size_t *remaining = ctx;
    char block[64 * 1024];

    if (*remaining == 0)
        return 1;
    memset(block, 's', sizeof(block));
    buf_append(out, block, sizeof(block));
    *remaining -= 1;
    return 0;
}

static void stream_handler(struct http_request *req, struct http_response *resp,
                           void *ctx)
{
    size_t *remaining = malloc(sizeof(*remaining));

    (void)ctx;
    *remaining = (size_t)param_number(req, "blocks");
    resp->status = 200;
    resp->stream = stream_blocks;
    resp->stream_ctx = remaining;
    resp->stream_free = free;
}

static void abort_handler(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    const char *mode = http_request_param(req, "mode");

    (void)ctx;
    http_response_bytes(resp, 200, "text/plain", "0123456789", 10);
    resp->abort =
        strcmp(mode, "drop") == 0 ? HTTP_ABORT_DROP : HTTP_ABORT_TRUNCATE;
}

static void many_headers_handler(struct http_request *req,
                                 struct http_response *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    http_response_bytes(resp, 200, "text/plain", "ok", 2);
    for (int i = 0; i < HTTP_MAX_RESPONSE_HEADERS - 2; i++) {
        char name[32];

        snprintf(name, sizeof(name), "X-Header-%02d", i);
        http_response_header(resp, name, "  padded value  ");
    }
}

/* ---- Fixture ------------------------------------------------------------ */

struct fixture {
    struct http_server *server;
    char base[64];
};

static int setup(void **state)
{
    struct http_server_options options = {
        .listen = "127.0.0.1:0", .threads = 4, .quiet = 1};
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    struct error err;
    struct http_server *server = http_server_new(&options, &err);

    assert_non_null(server);
    http_server_route(server, "GET", "/status/{code}", status_handler, NULL);
    http_server_route(server, "*", "/echo", echo_handler, NULL);
    http_server_route(server, "GET", "/sleep/{ms}", sleep_handler, NULL);
    http_server_route(server, "GET", "/big/{bytes}", big_handler, NULL);
    http_server_route(server, "GET", "/stream/{blocks}", stream_handler, NULL);
    http_server_route(server, "GET", "/abort/{mode}", abort_handler, NULL);
    http_server_route(server, "GET", "/many-headers", many_headers_handler,
                      NULL);
    assert_int_equal(http_server_start(server, &err), 0);
    fixture->server = server;
    snprintf(fixture->base, sizeof(fixture->base), "http://127.0.0.1:%d",
             http_server_port(server));
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;

    http_server_free(fixture->server);
    free(fixture);
    return 0;
}

static void make_url(const struct fixture *fixture, const char *path, char *url,
                     size_t size)
{
    snprintf(url, size, "%s%s", fixture->base, path);
}

static int get(const struct fixture *fixture, const char *path,
               struct http_client_response *resp, struct error *err)
{
    struct http_client_request req = {0};
    char url[256];

    make_url(fixture, path, url, sizeof(url));
    req.method = "GET";
    req.url = url;
    req.timeout_ms = 5000;
    return http_client_send(&req, resp, err);
}

/* A listening socket on 127.0.0.1 with an OS-chosen port. */
static int listen_loopback(int backlog, int *port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* ---- Responses ---------------------------------------------------------- */

static void response_read_whole(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    assert_int_equal(get(fixture, "/big/100000", &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 100000);
    assert_int_equal(resp.body.data[resp.body.len], '\0');
    assert_string_equal(resp.content_type, "text/plain");
    assert_true(resp.elapsed_ms >= 0);
    http_client_response_release(&resp);
}

static void methods_and_body_sent(void **state)
{
    struct fixture *fixture = *state;
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH",
                                          "DELETE"};
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct error err;
    char url[256];

    make_url(fixture, "/echo", url, sizeof(url));
    req.url = url;
    req.headers[0] = "X-Test: one";
    req.headers[3] = "Content-Type: application/json";
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        json_t *root;
        int with_body =
            strcmp(methods[i], "GET") != 0 && strcmp(methods[i], "DELETE") != 0;

        req.method = methods[i];
        req.body = with_body ? "{\"a\":1}" : NULL;
        req.body_len = with_body ? 7 : 0;
        assert_int_equal(http_client_send(&req, &resp, &err), 0);
        assert_int_equal(resp.status, 200);
        root = json_loads(resp.body.data, 0, NULL);
        assert_non_null(root);
        assert_string_equal(json_string_value(json_object_get(root, "method")),
                            methods[i]);
        assert_string_equal(json_string_value(json_object_get(root, "body")),
                            with_body ? "{\"a\":1}" : "");
        assert_string_equal(json_string_value(json_object_get(root, "header")),
                            "one");
        json_decref(root);
        http_client_response_release(&resp);
    }
}

static void headers_captured_lower_case(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    assert_int_equal(get(fixture, "/status/200", &resp, &err), 0);
    for (size_t i = 0; i < resp.header_count; i++) {
        for (const char *p = resp.headers[i].name; *p; p++)
            assert_false(*p >= 'A' && *p <= 'Z');
    }
    assert_string_equal(http_client_header(&resp, "retry-after"), "7");
    assert_string_equal(http_client_header(&resp, "Retry-After"), "7");
    assert_string_equal(http_client_header(&resp, "retry-after-ms"), "1250");
    assert_string_equal(http_client_header(&resp, "x-request-id"), "req-abc");
    assert_string_equal(http_client_header(&resp, "x-wix-request-id"),
                        "wix-123");
    assert_string_equal(http_client_header(&resp, "x-ratelimit-remaining"),
                        "41");
    assert_string_equal(http_client_header(&resp, "X-RATELIMIT-RESET"),
                        "1700000000");
    assert_null(http_client_header(&resp, "x-missing"));
    http_client_response_release(&resp);
}

static void header_values_trimmed(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    assert_int_equal(get(fixture, "/many-headers", &resp, &err), 0);
    assert_string_equal(http_client_header(&resp, "x-header-00"),
                        "padded value");
    assert_string_equal(http_client_header(&resp, "x-header-13"),
                        "padded value");
    http_client_response_release(&resp);
}

static void error_statuses_returned(void **state)
{
    struct fixture *fixture = *state;
    static const long statuses[] = {400, 401, 404, 429, 500, 503};
    struct http_client_response resp;
    struct error err;
    char path[64];

    /* A response is a success for the client whatever its status. */
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        snprintf(path, sizeof(path), "/status/%ld", statuses[i]);
        assert_int_equal(get(fixture, path, &resp, &err), 0);
        assert_int_equal(resp.status, statuses[i]);
        assert_string_equal(resp.body.data, "{}");
        http_client_response_release(&resp);
    }
}

static void redirect_not_followed(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    assert_int_equal(get(fixture, "/status/302", &resp, &err), 0);
    assert_int_equal(resp.status, 302);
    assert_string_equal(http_client_header(&resp, "location"), "/status/200");
    http_client_response_release(&resp);
}

static void status_kinds_mapped(void **state)
{
    static const struct {
        long status;
        enum error_kind kind;
    } cases[] = {
        {200, ERR_NONE},         {204, ERR_NONE},
        {0, ERR_RETRYABLE},      {100, ERR_PERMANENT},
        {302, ERR_PERMANENT},    {400, ERR_INVALID},
        {401, ERR_UNAUTHORIZED}, {402, ERR_INSUFFICIENT_CREDITS},
        {403, ERR_FORBIDDEN},    {404, ERR_NOT_FOUND},
        {405, ERR_PERMANENT},    {408, ERR_RETRYABLE},
        {409, ERR_CONFLICT},     {410, ERR_PERMANENT},
        {422, ERR_INVALID},      {429, ERR_RATE_LIMITED},
        {500, ERR_RETRYABLE},    {502, ERR_RETRYABLE},
        {503, ERR_RETRYABLE},    {599, ERR_RETRYABLE},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum error_kind kind = http_status_error_kind(cases[i].status);

        if (kind != cases[i].kind)
            fail_msg("status %ld: expected %s, got %s", cases[i].status,
                     error_kind_name(cases[i].kind), error_kind_name(kind));
    }
}

/* ---- Retry-After -------------------------------------------------------- */

static int64_t retry_after(const char *seconds, const char *ms)
{
    struct http_client_header headers[2];
    struct http_client_response resp = {0};

    if (seconds)
        headers[resp.header_count++] =
            (struct http_client_header){"retry-after", (char *)seconds};
    if (ms)
        headers[resp.header_count++] =
            (struct http_client_header){"retry-after-ms", (char *)ms};
    resp.headers = headers;
    return http_client_retry_after_ms(&resp);
}

static void retry_after_parsed(void **state)
{
    (void)state;
    assert_int_equal(retry_after(NULL, NULL), -1);
    assert_int_equal(retry_after("7", NULL), 7000);
    assert_int_equal(retry_after("0", NULL), 0);
    assert_int_equal(retry_after(" 12 ", NULL), 12000);
    assert_int_equal(retry_after("1.5", NULL), 1500);
    assert_int_equal(retry_after(NULL, "250"), 250);
    assert_int_equal(retry_after("7", "250"), 250);
    assert_int_equal(retry_after("-3", NULL), -1);
    assert_int_equal(retry_after("soon", NULL), -1);
    assert_int_equal(retry_after("7", "soon"), 7000);
    assert_int_equal(retry_after("3abc", NULL), -1);
}

static void retry_after_date_parsed(void **state)
{
    (void)state;
    /* Sun, 06 Nov 1994 08:49:37 GMT is 784111777 s after the epoch. */
    clock_fake_set_ms(784111777000 - 30500);
    assert_int_equal(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NULL), 30500);
    /* A date in the past means no wait. */
    clock_fake_set_ms(784111777000 + 60000);
    assert_int_equal(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NULL), 0);
    clock_use_system();
}

static void retry_after_from_response(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    assert_int_equal(get(fixture, "/status/429", &resp, &err), 0);
    assert_int_equal(http_client_retry_after_ms(&resp), 1250);
    http_client_response_release(&resp);
}

/* ---- Failures ----------------------------------------------------------- */

static void refused_connection_retryable(void **state)
{
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct error err;
    char url[64];
    int port;
    int fd = listen_loopback(1, &port);

    (void)state;
    close(fd); /* nothing listens on the port any more */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    req.url = url;
    assert_int_equal(http_client_send(&req, &resp, &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, "connect");
    assert_int_equal(resp.status, 0);
    http_client_response_release(&resp);
}

static void connect_timeout_retryable(void **state)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct error err;
    int fillers[8];
    int filled = 0;
    char url[64];
    int port;
    int fd = listen_loopback(0, &port);
    int64_t started;

    (void)state;
    /* Fill the accept queue of a socket that never accepts; Linux then
     * drops further SYNs, so a new connection hangs in its handshake. */
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (filled < 8) {
        int filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

        fillers[filled++] = filler;
        if (connect(filler, (struct sockaddr *)&addr, sizeof(addr)) != 0 &&
            errno == EINPROGRESS)
            break;
    }

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    req.url = url;
    req.connect_timeout_ms = 300;
    req.timeout_ms = 5000;
    started = clock_monotonic_ms();
    assert_int_equal(http_client_send(&req, &resp, &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, "timeout");
    assert_true(clock_monotonic_ms() - started < 2000);
    http_client_response_release(&resp);

    for (int i = 0; i < filled; i++)
        close(fillers[i]);
    close(fd);
}

static void slow_response_times_out(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct error err;
    char url[256];
    int64_t started = clock_monotonic_ms();

    make_url(fixture, "/sleep/1500", url, sizeof(url));
    req.url = url;
    req.timeout_ms = 300;
    assert_int_equal(http_client_send(&req, &resp, &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, "timeout");
    assert_true(clock_monotonic_ms() - started < 1200);
    /* The message names the request but not its query. */
    assert_non_null(strstr(err.message, "GET http://127.0.0.1:"));
    http_client_response_release(&resp);
}

static void oversized_body_rejected(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct error err;
    char url[256];

    /* Declared by Content-Length. */
    make_url(fixture, "/big/5000", url, sizeof(url));
    req.url = url;
    req.max_response_bytes = 4999;
    assert_int_equal(http_client_send(&req, &resp, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.code, "too_large");
    http_client_response_release(&resp);

    /* Exactly at the maximum is fine. */
    req.max_response_bytes = 5000;
    assert_int_equal(http_client_send(&req, &resp, &err), 0);
    assert_int_equal(resp.body.len, 5000);
    http_client_response_release(&resp);

    /* Streamed without a length: found while reading, 4 x 64 KiB. */
    make_url(fixture, "/stream/4", url, sizeof(url));
    req.max_response_bytes = 200 * 1024;
    assert_int_equal(http_client_send(&req, &resp, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.code, "too_large");
    assert_true(resp.body.len <= 200 * 1024);
    http_client_response_release(&resp);

    req.max_response_bytes = 0; /* the 16 MiB default */
    assert_int_equal(http_client_send(&req, &resp, &err), 0);
    assert_int_equal(resp.body.len, 4 * 64 * 1024);
    http_client_response_release(&resp);
}

static void truncated_body_retryable(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    assert_int_equal(get(fixture, "/abort/truncate", &resp, &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, "transfer");
    assert_int_equal(err.http_status, 200);
    http_client_response_release(&resp);
}

static void dropped_connection_retryable(void **state)
{
    struct fixture *fixture = *state;
    struct http_client_response resp;
    struct error err;

    assert_int_equal(get(fixture, "/abort/drop", &resp, &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, "transfer");
    http_client_response_release(&resp);
}

static void invalid_urls_permanent(void **state)
{
    static const char *const urls[] = {
        "not a url",
        "ftp://127.0.0.1/file",
        "file:///etc/passwd",
        "127.0.0.1:8080/no-scheme",
    };
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct error err;

    (void)state;
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        req.url = urls[i];
        assert_int_equal(http_client_send(&req, &resp, &err), -1);
        assert_int_equal(err.kind, ERR_PERMANENT);
        assert_string_equal(err.code, "invalid_url");
        http_client_response_release(&resp);
    }
}

static void message_hides_credentials(void **state)
{
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct error err;
    char url[128];
    int port;
    int fd = listen_loopback(1, &port);

    (void)state;
    close(fd);
    snprintf(url, sizeof(url),
             "http://user:pa55word@127.0.0.1:%d/path?token=s3cret", port);
    req.url = url;
    assert_int_equal(http_client_send(&req, &resp, &err), -1);
    assert_null(strstr(err.message, "pa55word"));
    assert_null(strstr(err.message, "s3cret"));
    assert_non_null(strstr(err.message, "/path"));
    http_client_response_release(&resp);
}

/* ---- Connection reuse --------------------------------------------------- */

struct counting_server {
    int listen_fd;
    int port;
    int requests;
    atomic_int accepted;
    pthread_t thread;
};

/* Accepts connections one at a time and responds to each request on
 * them with a keep-alive 200, until it has sent `requests` responses. */
static void *counting_server_run(void *arg)
{
    static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                   "Content-Type: text/plain\r\n\r\nok";
    struct counting_server *server = arg;
    int responded = 0;

    while (responded < server->requests) {
        int fd = accept(server->listen_fd, NULL, NULL);
        char request[4096];
        ssize_t n;

        if (fd < 0)
            break;
        atomic_fetch_add(&server->accepted, 1);
        /* Each test request fits in one read and ends the header block. */
        while (responded < server->requests &&
               (n = recv(fd, request, sizeof(request), 0)) > 0) {
            send(fd, response, strlen(response), MSG_NOSIGNAL);
            responded++;
        }
        close(fd);
    }
    return NULL;
}

static void connections_reused(void **state)
{
    struct counting_server server = {.requests = 5};
    struct http_client_request req = {0};
    struct http_client_response resp;
    struct error err;
    char url[64];

    (void)state;
    server.listen_fd = listen_loopback(8, &server.port);
    pthread_create(&server.thread, NULL, counting_server_run, &server);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/reuse", server.port);
    req.url = url;
    for (int i = 0; i < server.requests; i++) {
        assert_int_equal(http_client_send(&req, &resp, &err), 0);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body.data, "ok");
        http_client_response_release(&resp);
    }
    pthread_join(server.thread, NULL);
    close(server.listen_fd);
    assert_int_equal(atomic_load(&server.accepted), 1);
}

/* ---- Threads ------------------------------------------------------------ */

#define THREADS 4
#define CALLS_PER_THREAD 25

struct worker {
    const struct fixture *fixture;
    int index;
    int succeeded;
};

static void *worker_run(void *arg)
{
    struct worker *worker = arg;
    struct http_client_request req = {0};
    char url[256];
    char body[64];

    req.method = "POST";
    req.url = url;
    req.body = body;
    make_url(worker->fixture, "/echo", url, sizeof(url));
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        struct http_client_response resp;
        struct error err;
        char expected[128];

        snprintf(body, sizeof(body), "thread %d call %d", worker->index, i);
        req.body_len = strlen(body);
        snprintf(expected, sizeof(expected), "\"body\":\"%s\"", body);
        if (http_client_send(&req, &resp, &err) == 0 && resp.status == 200 &&
            strstr(resp.body.data, expected))
            worker->succeeded++;
        http_client_response_release(&resp);
    }
    return NULL;
}

static void concurrent_threads_succeed(void **state)
{
    struct fixture *fixture = *state;
    struct worker workers[THREADS];
    pthread_t threads[THREADS];

    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.fixture = fixture, .index = i};
        pthread_create(&threads[i], NULL, worker_run, &workers[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(workers[i].succeeded, CALLS_PER_THREAD);
    }
}

/* ---- URL encoding ------------------------------------------------------- */

static void url_encode_escapes_reserved(void **state)
{
    char out[64];
    char small[4];

    (void)state;
    assert_int_equal(http_url_encode("a b/c?d=e&f~g.h-i_j", out, sizeof(out)),
                     0);
    assert_string_equal(out, "a%20b%2Fc%3Fd%3De%26f~g.h-i_j");
    assert_int_equal(http_url_encode("\xc3\xa9+%", out, sizeof(out)), 0);
    assert_string_equal(out, "%C3%A9%2B%25");
    assert_int_equal(http_url_encode("", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(http_url_encode("abc", small, sizeof(small)), 0);
    assert_int_equal(http_url_encode("abcd", small, sizeof(small)), -1);
    assert_int_equal(http_url_encode("a/", small, sizeof(small)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(response_read_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(methods_and_body_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(headers_captured_lower_case, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(header_values_trimmed, setup, teardown),
        cmocka_unit_test_setup_teardown(error_statuses_returned, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(redirect_not_followed, setup, teardown),
        cmocka_unit_test(status_kinds_mapped),
        cmocka_unit_test(retry_after_parsed),
        cmocka_unit_test(retry_after_date_parsed),
        cmocka_unit_test_setup_teardown(retry_after_from_response, setup,
                                        teardown),
        cmocka_unit_test(refused_connection_retryable),
        cmocka_unit_test(connect_timeout_retryable),
        cmocka_unit_test_setup_teardown(slow_response_times_out, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(oversized_body_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(truncated_body_retryable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dropped_connection_retryable, setup,
                                        teardown),
        cmocka_unit_test(invalid_urls_permanent),
        cmocka_unit_test(message_hides_credentials),
        cmocka_unit_test(connections_reused),
        cmocka_unit_test_setup_teardown(concurrent_threads_succeed, setup,
                                        teardown),
        cmocka_unit_test(url_encode_escapes_reserved),
    };
    int failed;

    assert_int_equal(http_client_global_init(), 0);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return failed;
}
