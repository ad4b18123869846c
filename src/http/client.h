/*
 * HTTP client over libcurl. One call sends one request and reads the whole
 * answer into memory, up to a maximum size. Each thread keeps its own
 * connections open between calls; DNS results and TLS sessions are shared
 * by all threads. Nothing here logs a header value or a body, so no secret
 * reaches a log through it.
 *
 * Thread-safe after http_client_global_init().
 */
#ifndef SITESMITH_HTTP_CLIENT_H
#define SITESMITH_HTTP_CLIENT_H

#include "core/buf.h"
#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

/* Call once at start-up, before any thread sends a request. */
int http_client_global_init(void);
void http_client_global_cleanup(void);

#define HTTP_CLIENT_MAX_HEADERS 16

struct http_client_request {
    const char *method; /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *url;
    /* "Name: value" strings; unused slots NULL. */
    const char *headers[HTTP_CLIENT_MAX_HEADERS];
    const void *body; /* may be NULL */
    size_t body_len;
    int64_t connect_timeout_ms; /* 0: 10 s */
    int64_t timeout_ms;         /* whole request; 0: 60 s */
    size_t max_response_bytes;  /* 0: 16 MiB */
    /* 1: send on a new connection. When a reused connection closes before
     * any response byte, libcurl sends the request again by itself
     * (Curl_retry_request in lib/transfer.c), which a request that is not
     * idempotent, such as a paid create, must not risk. */
    int fresh_connection;
    /* Name of the remote service for /metrics ("wix", "openai",
     * "replicate"); NULL records the call under "other". */
    const char *service;
};

struct http_client_header {
    char *name; /* lower case */
    char *value;
};

struct http_client_response {
    long status;     /* 0 when no answer arrived */
    struct buf body; /* NUL-terminated */
    struct http_client_header *headers;
    size_t header_count;
    char content_type[128];
    int64_t elapsed_ms;
};

/*
 * Sends the request and fills resp (which the caller releases with
 * http_client_response_release(), also after a failure).
 *
 * Returns 0 whenever an HTTP answer arrived, whatever its status: mapping a
 * status to an error is the caller's job (see http_status_error_kind()).
 * Returns -1 with err set when no complete answer arrived:
 *   ERR_RETRYABLE  connection refused or reset, timed out, truncated body;
 *                  err->code is "connect", "timeout" or "transfer";
 *   ERR_PERMANENT  answer larger than max_response_bytes ("too_large"),
 *                  invalid URL or a scheme other than http and https
 *                  ("invalid_url"), a TLS certificate that fails
 *                  verification ("tls").
 * Redirects are not followed: a 3xx answer is returned as it is.
 * Any thread may call this; each thread reuses its own connections.
 */
int http_client_send(const struct http_client_request *req,
                     struct http_client_response *resp, struct error *err);

/* The value of a response header (name matched without case), or NULL. */
const char *http_client_header(const struct http_client_response *resp,
                               const char *name);

void http_client_response_release(struct http_client_response *resp);

/*
 * Reads a wait from Retry-After (seconds or an HTTP date) and
 * retry-after-ms. Returns milliseconds, or -1 when neither is usable.
 */
int64_t http_client_retry_after_ms(const struct http_client_response *resp);

/*
 * Maps an HTTP status to the product's error kinds: 2xx none, 400/422
 * invalid, 401 unauthorized, 402 insufficient credits, 403 forbidden,
 * 404 not found, 408 retryable, 409 conflict, 429 rate limited, 5xx
 * retryable, other 4xx permanent. A status of 0 (no response) is
 * retryable, and 1xx and 3xx are permanent. Services refine this with
 * their bodies.
 */
enum error_kind http_status_error_kind(long status);

/*
 * Percent-encodes text for a URL query or path segment into out: every
 * byte except RFC 3986 unreserved characters becomes %XX. Returns -1 when
 * out is too small.
 */
int http_url_encode(const char *text, char *out, size_t size);

#endif
