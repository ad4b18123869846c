/*
 * HTTP client over libcurl.
 *
 * Each thread keeps one easy handle in thread-local storage and reuses it,
 * so the handle's connection cache keeps connections open between calls
 * of that thread. A share object adds the DNS cache and TLS sessions,
 * which libcurl can share safely between threads under the locks below.
 * The connection cache itself is not shared: libcurl documents that
 * sharing connections between concurrent threads is not supported
 * (CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT, through curl 8.x).
 */
#include "http/client.h"

#include "core/clock.h"
#include "core/metrics.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_TIMEOUT_MS 60000
#define DEFAULT_MAX_RESPONSE_BYTES ((size_t)16 * 1024 * 1024)
/* Headers past this count are dropped, so a hostile server cannot make
 * the header table grow without bound. */
#define MAX_CAPTURED_HEADERS 128
#define MAX_HEADER_LINE_BYTES 8192

/* One thread's easy handle, listed so that global cleanup can close all. */
struct thread_handle {
    CURL *easy;
    int listed;
    struct thread_handle *prev;
    struct thread_handle *next;
};

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static int initialised;
static CURLSH *share;
static pthread_key_t handle_key;
static int handle_key_created;
static struct thread_handle *handles;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static void share_lock(CURL *handle, curl_lock_data data,
                       curl_lock_access access, void *user)
{
    (void)handle;
    (void)access;
    (void)user;
    pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *user)
{
    (void)handle;
    (void)user;
    pthread_mutex_unlock(&share_locks[data]);
}

static void unlist_handle(struct thread_handle *handle)
{
    if (!handle->listed)
        return;
    if (handle->prev)
        handle->prev->next = handle->next;
    else
        handles = handle->next;
    if (handle->next)
        handle->next->prev = handle->prev;
    handle->listed = 0;
}

/* Runs when a thread that used the client exits. */
static void thread_handle_destroy(void *value)
{
    struct thread_handle *handle = value;

    pthread_mutex_lock(&global_lock);
    unlist_handle(handle);
    if (handle->easy)
        curl_easy_cleanup(handle->easy);
    pthread_mutex_unlock(&global_lock);
    free(handle);
}

static CURLSH *create_share(void)
{
    CURLSH *created = curl_share_init();

    if (!created)
        return NULL;
    curl_share_setopt(created, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(created, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(created, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(created, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return created;
}

int http_client_global_init(void)
{
    int rc = -1;

    pthread_mutex_lock(&global_lock);
    if (initialised) {
        rc = 0;
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto out;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&share_locks[i], NULL);
    share = create_share();
    if (!share) {
        curl_global_cleanup();
        goto out;
    }
    if (!handle_key_created) {
        if (pthread_key_create(&handle_key, thread_handle_destroy) != 0) {
            curl_share_cleanup(share);
            share = NULL;
            curl_global_cleanup();
            goto out;
        }
        handle_key_created = 1;
    }
    initialised = 1;
    rc = 0;

out:
    pthread_mutex_unlock(&global_lock);
    return rc;
}

void http_client_global_cleanup(void)
{
    pthread_mutex_lock(&global_lock);
    if (!initialised)
        goto out;

    /* Close every thread's handle. The small records stay with their
     * threads and are freed when those threads exit. */
    while (handles) {
        struct thread_handle *handle = handles;

        unlist_handle(handle);
        curl_easy_cleanup(handle->easy);
        handle->easy = NULL;
    }
    curl_share_cleanup(share);
    share = NULL;
    curl_global_cleanup();
    initialised = 0;

out:
    pthread_mutex_unlock(&global_lock);
}

/* The calling thread's easy handle, created on first use. */
static CURL *thread_easy(void)
{
    struct thread_handle *handle = pthread_getspecific(handle_key);
    CURL *easy = NULL;

    pthread_mutex_lock(&global_lock);
    if (!initialised)
        goto out;
    if (!handle) {
        handle = calloc(1, sizeof(*handle));
        if (!handle || pthread_setspecific(handle_key, handle) != 0) {
            free(handle);
            goto out;
        }
    }
    if (!handle->easy) {
        handle->easy = curl_easy_init();
        if (!handle->easy)
            goto out;
        handle->next = handles;
        handle->prev = NULL;
        if (handles)
            handles->prev = handle;
        handles = handle;
        handle->listed = 1;
    }
    easy = handle->easy;

out:
    pthread_mutex_unlock(&global_lock);
    return easy;
}

/* ---- One transfer ------------------------------------------------------- */

struct transfer {
    struct http_client_response *resp;
    size_t capacity; /* of resp->headers */
    int too_large;
    int header_overflow;
};

static size_t on_body(char *data, size_t size, size_t count, void *user)
{
    struct transfer *transfer = user;
    size_t n = size * count;

    if (buf_append(&transfer->resp->body, data, n) != 0) {
        transfer->too_large = 1;
        return 0; /* any other count makes libcurl stop */
    }
    return n;
}

static void clear_headers(struct http_client_response *resp)
{
    for (size_t i = 0; i < resp->header_count; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    resp->header_count = 0;
}

static int add_header(struct transfer *transfer, const char *name,
                      size_t name_len, const char *value, size_t value_len)
{
    struct http_client_response *resp = transfer->resp;
    struct http_client_header *header;

    if (resp->header_count == transfer->capacity) {
        size_t capacity = transfer->capacity ? transfer->capacity * 2 : 16;
        struct http_client_header *grown;

        grown = realloc(resp->headers, capacity * sizeof(*grown));
        if (!grown)
            return -1;
        resp->headers = grown;
        transfer->capacity = capacity;
    }
    header = &resp->headers[resp->header_count];
    header->name = strndup(name, name_len);
    header->value = strndup(value, value_len);
    if (!header->name || !header->value) {
        free(header->name);
        free(header->value);
        return -1;
    }
    for (char *p = header->name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    resp->header_count++;
    return 0;
}

/*
 * Captures one header line. A status line starts a new header block
 * (after "100 Continue"), so only the final response's headers remain.
 */
static size_t on_header(char *data, size_t size, size_t count, void *user)
{
    struct transfer *transfer = user;
    size_t n = size * count;
    size_t len = n;
    const char *colon;
    size_t name_len;
    const char *value;

    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        clear_headers(transfer->resp);
        return n;
    }
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    colon = memchr(data, ':', len);
    if (!colon || len > MAX_HEADER_LINE_BYTES)
        return n;
    if (transfer->resp->header_count >= MAX_CAPTURED_HEADERS) {
        transfer->header_overflow = 1;
        return n;
    }

    name_len = (size_t)(colon - data);
    value = colon + 1;
    while (value < data + len && (*value == ' ' || *value == '\t'))
        value++;
    len -= (size_t)(value - data);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (add_header(transfer, data, name_len, value, len) != 0)
        return 0;
    return n;
}

/* Writes "scheme://host:port/path" for messages: no user, password or
 * query, because those may carry secrets. Returns -1 for an invalid URL. */
static int describe_url(const char *url, char *out, size_t size)
{
    CURLU *parsed = curl_url();
    char *scheme = NULL;
    char *host = NULL;
    char *port = NULL;
    char *path = NULL;
    int rc = -1;

    if (!parsed || curl_url_set(parsed, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        goto out;
    curl_url_get(parsed, CURLUPART_PORT, &port, 0);
    snprintf(out, size, "%s://%s%s%s%s", scheme, host, port ? ":" : "",
             port ? port : "", path);
    rc = 0;

out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(parsed);
    return rc;
}

static int method_sends_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

static void set_method(CURL *easy, const struct http_client_request *req)
{
    const char *method = req->method ? req->method : "GET";

    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
        return;
    }
    if (req->body || method_sends_body(method)) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body ? req->body_len : 0));
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    }
    if (strcmp(method, "GET") == 0 && !req->body)
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
}

static struct curl_slist *build_headers(const struct http_client_request *req)
{
    /* An empty "Expect:" stops libcurl from waiting for "100 Continue"
     * before it sends a large body. */
    struct curl_slist *list = curl_slist_append(NULL, "Expect:");

    for (int i = 0; list && i < HTTP_CLIENT_MAX_HEADERS; i++) {
        struct curl_slist *grown;

        if (!req->headers[i])
            continue;
        grown = curl_slist_append(list, req->headers[i]);
        if (!grown) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = grown;
    }
    return list;
}

static void set_options(CURL *easy, const struct http_client_request *req,
                        struct curl_slist *headers, struct transfer *transfer,
                        char *error_text)
{
    int64_t connect_ms = req->connect_timeout_ms > 0
                             ? req->connect_timeout_ms
                             : DEFAULT_CONNECT_TIMEOUT_MS;
    int64_t total_ms =
        req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;

    curl_easy_setopt(easy, CURLOPT_SHARE, share);
    curl_easy_setopt(easy, CURLOPT_URL, req->url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT,
                     req->fresh_connection ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)total_ms);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "sitesmith/" SITESMITH_VERSION);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_text);

    /* A declared Content-Length over the maximum fails before the body is
     * read; the write callback enforces the maximum for the rest. */
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)transfer->resp->body.max);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer);
    set_method(easy, req);
}

/* The error kind and code for a failed transfer. */
static enum error_kind classify_failure(CURLcode code, const char **name)
{
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        *name = "connect";
        return ERR_RETRYABLE;
    case CURLE_OPERATION_TIMEDOUT:
        *name = "timeout";
        return ERR_RETRYABLE;
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
        *name = "transfer";
        return ERR_RETRYABLE;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        *name = "invalid_url";
        return ERR_PERMANENT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        *name = "tls";
        return ERR_PERMANENT;
    default:
        *name = "transfer";
        return ERR_PERMANENT;
    }
}

static int fail_transfer(CURLcode code, const struct transfer *transfer,
                         const char *method, const char *target,
                         const char *error_text, struct error *err)
{
    const char *name;
    enum error_kind kind;

    if (transfer->too_large || code == CURLE_FILESIZE_EXCEEDED) {
        error_set(err, ERR_PERMANENT,
                  "%s %s: response larger than the maximum of %zu bytes",
                  method, target, transfer->resp->body.max);
        name = "too_large";
    } else {
        kind = classify_failure(code, &name);
        error_set(err, kind, "%s %s: %s", method, target,
                  error_text[0] ? error_text : curl_easy_strerror(code));
    }
    if (err) {
        snprintf(err->code, sizeof(err->code), "%s", name);
        err->http_status = (int)transfer->resp->status;
    }
    return -1;
}

static void read_info(CURL *easy, struct http_client_response *resp)
{
    const char *content_type = NULL;

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &content_type);
    if (content_type)
        snprintf(resp->content_type, sizeof(resp->content_type), "%s",
                 content_type);
}

static void response_init(struct http_client_response *resp,
                          const struct http_client_request *req)
{
    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body, req->max_response_bytes > 0
                              ? req->max_response_bytes
                              : DEFAULT_MAX_RESPONSE_BYTES);
}

/*
 * Counts the call by service and status (0 when no answer arrived) and
 * records its latency, for /metrics.
 */
static void record_call(const char *service, long status, int64_t elapsed_ms)
{
    char labels[96];

    snprintf(labels, sizeof(labels), "service=\"%s\",status=\"%ld\"",
             service ? service : "other", status);
    metrics_count("sitesmith_external_requests_total", labels, 1);
    snprintf(labels, sizeof(labels), "service=\"%s\"",
             service ? service : "other");
    metrics_observe_ms("sitesmith_external_request_duration_ms", labels,
                       (double)elapsed_ms);
}

int http_client_send(const struct http_client_request *req,
                     struct http_client_response *resp, struct error *err)
{
    const char *method = req->method ? req->method : "GET";
    char error_text[CURL_ERROR_SIZE] = "";
    char target[512];
    struct transfer transfer = {.resp = resp};
    struct curl_slist *headers = NULL;
    int64_t started = clock_monotonic_ms();
    CURL *easy;
    CURLcode code;

    response_init(resp, req);
    if (!req->url || describe_url(req->url, target, sizeof(target)) != 0) {
        error_set(err, ERR_PERMANENT,
                  "invalid URL for %s: expected http:// or https:// and a "
                  "host",
                  method);
        if (err)
            snprintf(err->code, sizeof(err->code), "invalid_url");
        return -1;
    }
    easy = thread_easy();
    headers = build_headers(req);
    if (!easy || !headers) {
        curl_slist_free_all(headers);
        return error_set(err, ERR_PERMANENT,
                         "%s %s: HTTP client not initialised or out of "
                         "memory",
                         method, target);
    }

    /* A reset keeps the handle's open connections and caches. */
    curl_easy_reset(easy);
    set_options(easy, req, headers, &transfer, error_text);
    code = curl_easy_perform(easy);
    read_info(easy, resp);
    resp->elapsed_ms = clock_monotonic_ms() - started;

    /* The list and the body must not outlive this call in the handle. */
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    record_call(req->service, code == CURLE_OK ? resp->status : 0,
                resp->elapsed_ms);
    if (code != CURLE_OK)
        return fail_transfer(code, &transfer, method, target, error_text, err);
    return 0;
}

/* ---- Reading responses -------------------------------------------------- */

const char *http_client_header(const struct http_client_response *resp,
                               const char *name)
{
    for (size_t i = 0; i < resp->header_count; i++) {
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    }
    return NULL;
}

void http_client_response_release(struct http_client_response *resp)
{
    clear_headers(resp);
    free(resp->headers);
    resp->headers = NULL;
    buf_free(&resp->body);
}

/* Parses a non-negative decimal number of units into milliseconds. */
static int64_t parse_wait(const char *text, double unit_ms)
{
    char *end;
    double value;

    while (*text == ' ')
        text++;
    if (!isdigit((unsigned char)*text))
        return -1;
    value = strtod(text, &end);
    while (*end == ' ')
        end++;
    if (*end != '\0' || value * unit_ms > (double)INT64_MAX / 2)
        return -1;
    return (int64_t)(value * unit_ms + 0.5);
}

int64_t http_client_retry_after_ms(const struct http_client_response *resp)
{
    const char *ms = http_client_header(resp, "retry-after-ms");
    const char *after = http_client_header(resp, "retry-after");
    int64_t wait;
    time_t date;

    /* retry-after-ms (sent by OpenAI) is the more precise of the two. */
    if (ms && (wait = parse_wait(ms, 1.0)) >= 0)
        return wait;
    if (!after)
        return -1;
    if ((wait = parse_wait(after, 1000.0)) >= 0)
        return wait;

    date = curl_getdate(after, NULL);
    if (date == -1)
        return -1;
    wait = (int64_t)date * 1000 - clock_now_ms();
    return wait > 0 ? wait : 0;
}

enum error_kind http_status_error_kind(long status)
{
    if (status >= 200 && status < 300)
        return ERR_NONE;
    if (status >= 500 && status < 600)
        return ERR_RETRYABLE;
    switch (status) {
    case 0: /* no response arrived */
    case 408:
        return ERR_RETRYABLE;
    case 400:
    case 422:
        return ERR_INVALID;
    case 401:
        return ERR_UNAUTHORIZED;
    case 402:
        return ERR_INSUFFICIENT_CREDITS;
    case 403:
        return ERR_FORBIDDEN;
    case 404:
        return ERR_NOT_FOUND;
    case 409:
        return ERR_CONFLICT;
    case 429:
        return ERR_RATE_LIMITED;
    default:
        return ERR_PERMANENT;
    }
}

int http_url_encode(const char *text, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        /* RFC 3986 unreserved characters pass through. */
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
            if (o + 1 >= size)
                return -1;
            out[o++] = (char)*p;
            continue;
        }
        if (o + 3 >= size)
            return -1;
        out[o++] = '%';
        out[o++] = hex[*p >> 4];
        out[o++] = hex[*p & 0x0f];
    }
    if (o >= size)
        return -1;
    out[o] = '\0';
    return 0;
}
