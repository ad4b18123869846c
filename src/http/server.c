/*
 * The HTTP server's life cycle and request dispatch over libmicrohttpd.
 *
 * A request goes through three MHD callbacks. The URI log callback sees the
 * raw request line, before MHD unescapes anything, and creates the
 * request's state. The access handler collects the body and runs the
 * route. The completion callback writes the access log line and frees the
 * state.
 */
#include "http/server_private.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_THREADS 4
#define DEFAULT_MAX_BODY_BYTES (1024 * 1024)
#define DEFAULT_LOG_COMPONENT "http"
/* Idle connections (keep-alive, stalled uploads) are closed after this. */
#define CONNECTION_TIMEOUT_S 60
/* How long http_server_free waits for running requests before closing. */
#define SHUTDOWN_GRACE_MS 5000
#define RESPONSE_MAX_BYTES ((size_t)256 * 1024 * 1024)
#define LOG_PATH_MAX 256

struct http_server *http_server_new(const struct http_server_options *opts,
                                    struct error *err)
{
    struct http_server *server;
    const char *component = opts->log_component;

    if (!opts->listen || !*opts->listen) {
        error_set(err, ERR_INVALID,
                  "missing listen address: give HOST:PORT, e.g. "
                  "127.0.0.1:8080");
        return NULL;
    }
    if (crypto_init() != 0) {
        error_set(err, ERR_PERMANENT, "libsodium failed to initialise");
        return NULL;
    }
    server = calloc(1, sizeof(*server));
    if (!server) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }

    server->opts = *opts;
    server->listen = strdup(opts->listen);
    server->log_component =
        strdup(component && *component ? component : DEFAULT_LOG_COMPONENT);
    if (!server->listen || !server->log_component) {
        http_server_free(server);
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    server->opts.listen = server->listen;
    server->opts.log_component = server->log_component;
    if (server->opts.threads == 0)
        server->opts.threads = DEFAULT_THREADS;
    if (server->opts.max_body_bytes == 0)
        server->opts.max_body_bytes = DEFAULT_MAX_BODY_BYTES;
    return server;
}

int http_server_route(struct http_server *server, const char *method,
                      const char *pattern, http_handler_fn handler, void *ctx)
{
    struct http_route *grown;
    struct http_route *route;
    struct error err;

    if (server->daemon) {
        /* Pool threads read the table without a lock. */
        log_error(server->log_component,
                  "route not added: %s %s comes after the server started",
                  method, pattern);
        return -1;
    }
    grown = realloc(server->routes,
                    (server->route_count + 1) * sizeof(*server->routes));
    if (!grown)
        return -1;
    server->routes = grown;
    route = &server->routes[server->route_count];
    memset(route, 0, sizeof(*route));
    route->method = strdup(method);
    route->pattern = strdup(pattern);
    route->handler = handler;
    route->ctx = ctx;

    error_clear(&err);
    if (!route->method || !route->pattern ||
        http_route_compile(route, pattern, &err) != 0) {
        log_error(server->log_component, "route not added: %s",
                  err.message[0] ? err.message : "out of memory");
        http_route_release(route);
        return -1;
    }
    server->route_count++;
    return 0;
}

int http_server_own(struct http_server *server, void *ptr,
                    void (*release)(void *ptr))
{
    struct http_owned *grown =
        realloc(server->owned, (server->owned_count + 1) * sizeof(*grown));

    if (!grown)
        return -1;
    server->owned = grown;
    server->owned[server->owned_count].ptr = ptr;
    server->owned[server->owned_count].release = release;
    server->owned_count++;
    return 0;
}

/* ---- Listening ---------------------------------------------------------- */

struct listen_address {
    struct sockaddr_storage addr;
    int any; /* ":PORT": every interface, IPv6 and IPv4 */
    int ipv6;
    uint16_t port;
};

static int parse_port(const char *text, uint16_t *port)
{
    char *end;
    long value;

    if (!*text)
        return -1;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno || *end || value < 0 || value > 65535)
        return -1;
    *port = (uint16_t)value;
    return 0;
}

static int resolve_host(const char *host, struct listen_address *out)
{
    struct addrinfo hints = {0};
    struct addrinfo *found;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, NULL, &hints, &found) != 0)
        return -1;
    memcpy(&out->addr, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);

    out->ipv6 = out->addr.ss_family == AF_INET6;
    if (out->ipv6)
        ((struct sockaddr_in6 *)&out->addr)->sin6_port = htons(out->port);
    else
        ((struct sockaddr_in *)&out->addr)->sin_port = htons(out->port);
    return 0;
}

static int parse_listen(const char *listen, struct listen_address *out,
                        struct error *err)
{
    const char *colon = strrchr(listen, ':');
    const char *host_start = listen;
    char host[256];
    size_t host_len;

    memset(out, 0, sizeof(*out));
    if (!colon || parse_port(colon + 1, &out->port) != 0)
        goto invalid;
    host_len = (size_t)(colon - listen);
    if (host_len == 0) {
        out->any = 1;
        return 0;
    }
    if (listen[0] == '[') {
        if (host_len < 3 || listen[host_len - 1] != ']')
            goto invalid;
        host_start++;
        host_len -= 2;
    }
    if (host_len >= sizeof(host))
        goto invalid;
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    if (resolve_host(host, out) != 0)
        goto invalid;
    return 0;

invalid:
    return error_set(err, ERR_INVALID,
                     "invalid listen address '%s': expected HOST:PORT, "
                     "[IPV6]:PORT or :PORT",
                     listen);
}

/* ---- Request handling --------------------------------------------------- */

static void *on_request_line(void *cls, const char *uri,
                             struct MHD_Connection *connection)
{
    struct http_server *server = cls;
    struct http_request_state *state = calloc(1, sizeof(*state));
    const char *question = strchr(uri, '?');
    size_t path_len = question ? (size_t)(question - uri) : strlen(uri);

    if (!state)
        return NULL;
    state->server = server;
    state->connection = connection;
    state->started_ms = clock_monotonic_ms();
    state->raw_path = strndup(uri, path_len);
    state->raw_query = strdup(question ? question + 1 : "");
    buf_init(&state->body, server->opts.max_body_bytes);
    state->req.internal = state;
    state->counted = 1;
    atomic_fetch_add(&server->in_flight, 1);
    return state;
}

/* A client's X-Request-Id is kept when it is a short plain token. */
static int request_id_is_sane(const char *id)
{
    size_t len = id ? strlen(id) : 0;

    if (len == 0 || len > 36)
        return 0;
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789-_") == len;
}

static void set_remote_addr(struct http_request_state *state)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(
        state->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *addr = info ? info->client_addr : NULL;
    socklen_t len = sizeof(struct sockaddr_in);

    if (!addr)
        return;
    if (addr->sa_family == AF_INET6)
        len = sizeof(struct sockaddr_in6);
    getnameinfo(addr, len, state->req.remote_addr,
                sizeof(state->req.remote_addr), NULL, 0, NI_NUMERICHOST);
}

static void on_headers(struct http_request_state *state, const char *method)
{
    const char *id = MHD_lookup_connection_value(
        state->connection, MHD_HEADER_KIND, "X-Request-Id");

    if (request_id_is_sane(id))
        snprintf(state->req.request_id, sizeof(state->req.request_id), "%s",
                 id);
    else
        crypto_uuid(state->req.request_id);
    state->method = strdup(method);
    state->req.method = state->method ? state->method : "-";
    set_remote_addr(state);
}

static int declared_body_too_large(struct http_request_state *state)
{
    const char *length = MHD_lookup_connection_value(
        state->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

    return length &&
           strtoull(length, NULL, 10) > state->server->opts.max_body_bytes;
}

static enum MHD_Result respond_error(struct http_request_state *state,
                                     int status, const char *code,
                                     const char *message)
{
    struct http_response resp = {0};
    enum MHD_Result result;

    buf_init(&resp.body, RESPONSE_MAX_BYTES);
    http_response_error(&resp, status, code, "%s", message);
    result = http_response_queue(state, &resp);
    http_response_release(&resp);
    return result;
}

static enum MHD_Result respond_too_large(struct http_request_state *state)
{
    char message[128];

    snprintf(message, sizeof(message),
             "request body larger than the limit of %zu bytes",
             state->server->opts.max_body_bytes);
    return respond_error(state, 413, "payload_too_large", message);
}

static int method_matches(const struct http_route *route, const char *method)
{
    if (strcmp(route->method, "*") == 0 || strcmp(route->method, method) == 0)
        return 1;
    /* MHD sends no body for HEAD, so a GET route can serve it. */
    return strcmp(method, "HEAD") == 0 && strcmp(route->method, "GET") == 0;
}

/*
 * Finds the first route for the request and runs it into resp. Returns 0,
 * or the 404/405 status when no route takes the request.
 */
static int run_route(struct http_request_state *state,
                     struct http_response *resp)
{
    struct http_server *server = state->server;
    int path_matched = 0;

    for (size_t i = 0; i < server->route_count; i++) {
        const struct http_route *route = &server->routes[i];

        if (!http_route_match(route, state->raw_path, &state->req))
            continue;
        if (!method_matches(route, state->req.method)) {
            path_matched = 1;
            http_request_params_release(&state->req);
            continue;
        }
        route->handler(&state->req, resp, route->ctx);
        return 0;
    }
    return path_matched ? 405 : 404;
}

static enum MHD_Result dispatch(struct http_request_state *state)
{
    struct http_response resp = {0};
    enum MHD_Result result;
    int missing;

    state->req.path =
        http_percent_decode(state->raw_path, strlen(state->raw_path), 0);
    state->req.query = state->raw_query;
    state->req.body = state->body.data ? state->body.data : "";
    state->req.body_len = state->body.len;
    if (!state->req.path || http_query_parse(state) != 0)
        return MHD_NO;

    buf_init(&resp.body, RESPONSE_MAX_BYTES);
    resp.status = 200;
    missing = run_route(state, &resp);
    if (missing == 405)
        http_response_error(&resp, 405, "method_not_allowed",
                            "method %s is not allowed on this path",
                            state->req.method);
    else if (missing == 404)
        http_response_error(&resp, 404, "not_found", "no route for this path");

    result = http_response_queue(state, &resp);
    http_response_release(&resp);
    return result;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *connection,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_request_state *state = *con_cls;

    (void)cls;
    (void)connection;
    (void)url;
    (void)version;
    if (!state)
        return MHD_NO;

    if (!state->headers_seen) {
        state->headers_seen = 1;
        on_headers(state, method);
        /* Reject at once when the declared length is over the limit. */
        if (declared_body_too_large(state))
            return respond_too_large(state);
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        /* Past the limit the rest is read and dropped, so memory stays
         * bounded for chunked bodies too. */
        if (!state->body_too_large &&
            buf_append(&state->body, upload_data, *upload_data_size) != 0)
            state->body_too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (state->body_too_large)
        return respond_too_large(state);
    return dispatch(state);
}

/* ---- Completion and the access log ------------------------------------- */

static const char *termination_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return "completed";
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
        return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "read_error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client_abort";
    }
    return "unknown";
}

/* Copies the raw path for a log line, replacing unprintable bytes. */
static void printable_path(const char *path, char *out, size_t size)
{
    size_t i;

    for (i = 0; path[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)path[i];

        out[i] = c > ' ' && c < 0x7f ? (char)c : '?';
    }
    out[i] = '\0';
}

static void write_access_log(struct http_request_state *state,
                             enum MHD_RequestTerminationCode toe)
{
    char path[LOG_PATH_MAX];
    const char *abort_name = "";

    if (state->abort == HTTP_ABORT_DROP)
        abort_name = " abort=drop";
    else if (state->abort == HTTP_ABORT_TRUNCATE)
        abort_name = " abort=truncate";
    printable_path(state->raw_path ? state->raw_path : "", path, sizeof(path));

    log_info(
        state->server->log_component,
        "request method=%s path=%s status=%d bytes=%zu duration_ms=%lld "
        "request_id=%s%s%s%s",
        state->req.method ? state->req.method : "-", path, state->status,
        state->bytes, (long long)(clock_monotonic_ms() - state->started_ms),
        state->req.request_id[0] ? state->req.request_id : "-", abort_name,
        toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " closed=",
        toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
                                                   : termination_name(toe));
}

static void on_completed(void *cls, struct MHD_Connection *connection,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct http_request_state *state = *con_cls;

    (void)cls;
    (void)connection;
    if (!state)
        return;
    *con_cls = NULL;

    if (state->stream) {
        state->bytes = atomic_load(&state->stream->bytes_sent);
        http_stream_state_unref(state->stream);
    }
    if (!state->server->opts.quiet)
        write_access_log(state, toe);

    http_request_params_release(&state->req);
    for (size_t i = 0; i < state->query_count; i++) {
        free(state->query[i].name);
        free(state->query[i].value);
    }
    free(state->query);
    free((char *)state->req.path);
    free(state->raw_path);
    free(state->raw_query);
    free(state->method);
    buf_free(&state->body);
    if (state->counted)
        atomic_fetch_sub(&state->server->in_flight, 1);
    free(state);
}

static void on_mhd_message(void *cls, const char *fmt, va_list ap)
{
    struct http_server *server = cls;
    char message[512];
    size_t len;

    vsnprintf(message, sizeof(message), fmt, ap);
    len = strlen(message);
    while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == '\r'))
        message[--len] = '\0';
    log_debug(server->log_component, "libmicrohttpd: %s", message);
}

/* ---- Start and stop ----------------------------------------------------- */

static struct MHD_Daemon *start_daemon(struct http_server *server,
                                       const struct listen_address *address)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                         MHD_USE_ITC | MHD_USE_ERROR_LOG;

    if (address->any)
        flags |= MHD_USE_DUAL_STACK;
    else if (address->ipv6)
        flags |= MHD_USE_IPv6;

    return MHD_start_daemon(
        flags, address->port, NULL, NULL, on_access, server,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)server->opts.threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
        /* Reject what RFC 9112 forbids, e.g. HTTP/1.1 without Host.
         * NOTE: requests that libmicrohttpd rejects itself get its HTML
         * error page, not the JSON form, because 0.9.75 has no hook for
         * that body. */
        MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_URI_LOG_CALLBACK,
        on_request_line, server, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        server, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_message, server,
        address->any ? MHD_OPTION_END : MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&address->addr, MHD_OPTION_END);
}

int http_server_start(struct http_server *server, struct error *err)
{
    struct listen_address address;
    const union MHD_DaemonInfo *info;

    if (parse_listen(server->listen, &address, err) != 0)
        return -1;
    server->daemon = start_daemon(server, &address);
    if (!server->daemon && address.any) {
        /* No IPv6 on this host: listen on every IPv4 interface instead. */
        struct sockaddr_in *any = (struct sockaddr_in *)&address.addr;

        address.any = 0;
        any->sin_family = AF_INET;
        any->sin_addr.s_addr = htonl(INADDR_ANY);
        any->sin_port = htons(address.port);
        server->daemon = start_daemon(server, &address);
    }
    if (!server->daemon)
        return error_set(err, ERR_PERMANENT,
                         "cannot listen on %s: %s (is the port in use?)",
                         server->listen, strerror(errno));

    info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : address.port;
    if (!server->opts.quiet)
        log_info(server->log_component, "listening address=%s port=%d",
                 server->listen, server->port);
    return 0;
}

int http_server_port(const struct http_server *server)
{
    return server->port;
}

void http_server_free(struct http_server *server)
{
    if (!server)
        return;
    if (server->daemon) {
        MHD_socket listen_fd;
        int64_t deadline = clock_monotonic_ms() + SHUTDOWN_GRACE_MS;

        /* Streams see the flag and end; new connections are refused. */
        atomic_store(&server->stopping, 1);
        listen_fd = MHD_quiesce_daemon(server->daemon);
        while (atomic_load(&server->in_flight) > 0 &&
               clock_monotonic_ms() < deadline)
            clock_sleep_ms(10);
        MHD_stop_daemon(server->daemon);
        if (listen_fd != MHD_INVALID_SOCKET)
            close(listen_fd);
    }
    for (size_t i = 0; i < server->route_count; i++)
        http_route_release(&server->routes[i]);
    free(server->routes);
    for (size_t i = 0; i < server->owned_count; i++)
        server->owned[i].release(server->owned[i].ptr);
    free(server->owned);
    free(server->listen);
    free(server->log_component);
    free(server);
}
