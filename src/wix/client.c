#include "wix/wix.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "wix/call.h"
#include "wix/limiter.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A 429 is waited out at most this many times for one call. */
#define MAX_429_RETRIES 3
#define RESPONSE_MAX_DEPTH 128
#define INSTANCE_ID_MAX 128

struct wix {
    char api_url[512];
    struct token_provider *tokens; /* borrowed */
    struct wix_limiter *limiter;
    int64_t max_wait_ms;
    int64_t timeout_ms;
};

struct wix_client {
    struct wix *wix;
    char instance_id[INSTANCE_ID_MAX];
    int64_t expires_ms; /* the token's expiry */
    char authorization[TOKEN_MAX_LEN + 32];
};

struct wix *wix_new(const struct config *cfg, struct token_provider *tokens,
                    struct error *err)
{
    struct wix *wix = calloc(1, sizeof(*wix));
    int64_t rate;

    if (!wix) {
        error_set(err, ERR_RETRYABLE, "out of memory");
        return NULL;
    }
    wix->tokens = tokens;
    if (config_get_url(cfg, "SITESMITH_WIX_API_URL", WIX_DEFAULT_API_URL,
                       wix->api_url, sizeof(wix->api_url), err) < 0 ||
        config_get_int(cfg, "SITESMITH_WIX_RATE_LIMIT", WIX_DEFAULT_RATE_LIMIT,
                       0, 1000000, &rate, err) < 0 ||
        config_get_duration_ms(cfg, "SITESMITH_WIX_MAX_WAIT",
                               WIX_DEFAULT_MAX_WAIT_MS, &wix->max_wait_ms,
                               err) < 0 ||
        config_get_duration_ms(cfg, "SITESMITH_WIX_TIMEOUT",
                               WIX_DEFAULT_TIMEOUT_MS, &wix->timeout_ms,
                               err) < 0)
        goto fail;
    wix->limiter = wix_limiter_new(rate);
    if (!wix->limiter) {
        error_set(err, ERR_RETRYABLE, "out of memory");
        goto fail;
    }
    return wix;
fail:
    free(wix);
    return NULL;
}

void wix_free(struct wix *wix)
{
    if (!wix)
        return;
    wix_limiter_free(wix->limiter);
    free(wix);
}

struct token_provider *wix_tokens(const struct wix *wix)
{
    return wix->tokens;
}

struct wix_client *wix_client_new(struct wix *wix, const char *instance_id,
                                  const struct token *token, struct error *err)
{
    struct wix_client *client;

    if (!instance_id || !instance_id[0] ||
        strlen(instance_id) >= INSTANCE_ID_MAX) {
        error_set(err, ERR_INVALID, "instance id is missing or too long");
        return NULL;
    }
    client = calloc(1, sizeof(*client));
    if (!client) {
        error_set(err, ERR_RETRYABLE, "out of memory");
        return NULL;
    }
    client->wix = wix;
    snprintf(client->instance_id, sizeof(client->instance_id), "%s",
             instance_id);
    client->expires_ms = token->expires_ms;
    /* Wix's SDKs send the raw token, without "Bearer ". */
    snprintf(client->authorization, sizeof(client->authorization),
             "Authorization: %s", token->access_token);
    return client;
}

void wix_client_free(struct wix_client *client)
{
    if (!client)
        return;
    sodium_memzero(client, sizeof(*client));
    free(client);
}

const char *wix_client_instance_id(const struct wix_client *client)
{
    return client->instance_id;
}

/* ------------------------------------------------------------------ */
/* One request                                                         */
/* ------------------------------------------------------------------ */

static int parse_response(const struct http_client_response *resp,
                          const char *what, json_t **out, struct error *err)
{
    json_t *body;

    if (!out)
        return 0;
    if (resp->body.len == 0) {
        *out = json_object();
        return *out ? 0 : error_set(err, ERR_RETRYABLE, "out of memory");
    }
    body = json_parse(resp->body.data, resp->body.len, RESPONSE_MAX_DEPTH, err);
    if (!body) {
        error_prefix(err, "%s: Wix sent an response that is not JSON", what);
        err->kind = ERR_RETRYABLE;
        return -1;
    }
    *out = body;
    return 0;
}

static void count_call(const char *method, long status)
{
    char labels[64];

    snprintf(labels, sizeof(labels), "method=\"%s\",status=\"%ld\"", method,
             status);
    metrics_count("sitesmith_wix_requests_total", labels, 1);
}

/* Sends the request once, after waiting for the site's turn. */
static int send_once(struct wix_client *client,
                     const struct http_client_request *req,
                     struct http_client_response *resp, const char *what,
                     struct error *err)
{
    if (clock_now_ms() >= client->expires_ms)
        return error_set(err, ERR_UNAUTHORIZED,
                         "%s on site %s: the client's access token has "
                         "expired; build a new client for each unit of work",
                         what, client->instance_id);
    if (wix_limiter_acquire(client->wix->limiter, client->instance_id,
                            client->wix->max_wait_ms, err) < 0)
        return -1;
    if (http_client_send(req, resp, err) < 0) {
        error_prefix(err, "%s on site %s", what, client->instance_id);
        return -1;
    }
    count_call(req->method, resp->status);
    return 0;
}

static int send_request(struct wix_client *client,
                        const struct http_client_request *req, const char *what,
                        const char *permission, json_t **out, struct error *err)
{
    struct http_client_response resp;
    int rc = -1;

    for (int attempt = 0;; attempt++) {
        memset(&resp, 0, sizeof(resp));
        if (send_once(client, req, &resp, what, err) < 0)
            break;
        if (resp.status >= 200 && resp.status < 300) {
            rc = parse_response(&resp, what, out, err);
            break;
        }
        wix_error_from_response(&resp, client->instance_id, what, permission,
                                WIX_DEFAULT_429_WAIT_MS, err);
        if (err->kind != ERR_RATE_LIMITED)
            break;

        /* Every thread of this site waits out the 429, then this call
         * goes again, unless the wait is too long for it. */
        wix_limiter_hold(client->wix->limiter, client->instance_id,
                         err->retry_after_ms);
        log_warn("wix",
                 "rate limited by Wix instance=%s wait_ms=%lld "
                 "request_id=%s",
                 client->instance_id, (long long)err->retry_after_ms,
                 err->request_id);
        if (attempt >= MAX_429_RETRIES ||
            err->retry_after_ms > client->wix->max_wait_ms)
            break;
        http_client_response_release(&resp);
    }
    http_client_response_release(&resp);
    return rc;
}

int wix_call(struct wix_client *client, const char *method, const char *path,
             const json_t *body, const char *permission, json_t **out,
             struct error *err)
{
    struct http_client_request req = {0};
    char url[2048];
    char what[160];
    char *text = NULL;
    struct error local;
    int rc;

    if (!err)
        err = &local;
    if (out)
        *out = NULL;
    snprintf(what, sizeof(what), "%s %s", method, path);
    if (snprintf(url, sizeof(url), "%s%s", client->wix->api_url, path) >=
        (int)sizeof(url))
        return error_set(err, ERR_INVALID, "%.100s: the URL is too long", what);
    if (body && !(text = json_dumps(body, JSON_COMPACT)))
        return error_set(err, ERR_RETRYABLE, "out of memory");

    req.method = method;
    req.url = url;
    req.service = "wix";
    req.headers[0] = client->authorization;
    req.headers[1] = "Accept: application/json";
    if (text) {
        req.headers[2] = "Content-Type: application/json";
        req.body = text;
        req.body_len = strlen(text);
    }
    req.timeout_ms = client->wix->timeout_ms;
    /* libcurl resends a request whose reused connection closed without an
     * answer (see http/client.h). A create sent twice makes a second draft
     * or file, so anything but a GET goes on a new connection. */
    req.fresh_connection = strcmp(method, "GET") != 0;

    rc = send_request(client, &req, what, permission, out, err);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* A unit of work                                                      */
/* ------------------------------------------------------------------ */

static int run_with_token(struct wix *wix, const char *instance_id,
                          const struct token *token, wix_work_fn fn, void *ctx,
                          struct error *err)
{
    struct wix_client *client = wix_client_new(wix, instance_id, token, err);
    int rc;

    if (!client)
        return -1;
    error_clear(err);
    rc = fn(client, ctx, err);
    wix_client_free(client);
    if (rc < 0 && err->kind == ERR_NONE)
        error_set(err, ERR_PERMANENT,
                  "a Wix unit of work on site %s failed without an error",
                  instance_id);
    return rc;
}

static int no_longer_authorized(const char *instance_id, struct error *err)
{
    error_prefix(err, "the app is no longer authorized for site %s",
                 instance_id);
    err->kind = ERR_UNAUTHORIZED;
    return -1;
}

int wix_run(struct wix *wix, const char *instance_id, wix_work_fn fn, void *ctx,
            struct error *err)
{
    struct token token;
    struct error local;
    char rejected[TOKEN_MAX_LEN];
    int rc = -1;

    if (!err)
        err = &local;
    if (token_get(wix->tokens, instance_id, 0, &token, err) < 0) {
        if (err->kind == ERR_UNAUTHORIZED)
            no_longer_authorized(instance_id, err);
        return -1;
    }
    rc = run_with_token(wix, instance_id, &token, fn, ctx, err);
    if (rc == 0 || err->kind != ERR_UNAUTHORIZED)
        goto out;

    /* The token was rejected before it expired (revoked, or Wix's clock
     * disagrees): one refresh and one more run. */
    log_info("wix",
             "access token rejected, refreshing once instance=%s "
             "status=%d request_id=%s",
             instance_id, err->http_status, err->request_id);
    memcpy(rejected, token.access_token, sizeof(rejected));
    rc = token_refresh(wix->tokens, instance_id, rejected, &token, err);
    sodium_memzero(rejected, sizeof(rejected));
    if (rc == 0)
        rc = run_with_token(wix, instance_id, &token, fn, ctx, err);
    if (rc < 0 && err->kind == ERR_UNAUTHORIZED)
        no_longer_authorized(instance_id, err);
out:
    token_clear(&token);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Helpers for the call modules                                        */
/* ------------------------------------------------------------------ */

size_t wix_utf8_length(const char *text)
{
    size_t count = 0;

    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        if ((*c & 0xc0) != 0x80)
            count++;
    return count;
}

int wix_check_text(const json_t *object, const char *what, const char *field,
                   size_t min, size_t max, int required, struct error *err)
{
    const json_t *value = json_object_get(object, field);
    size_t length;

    if (!value || json_is_null(value))
        return required ? error_set(err, ERR_INVALID, "%s: %s is missing", what,
                                    field)
                        : 0;
    if (!json_is_string(value))
        return error_set(err, ERR_INVALID, "%s: %s must be a string, not %s",
                         what, field, json_type_phrase(value));
    length = wix_utf8_length(json_string_value(value));
    if (length < min || length > max)
        return error_set(err, ERR_INVALID,
                         "%s: %s has %zu characters; Wix accepts %zu to %zu",
                         what, field, length, min, max);
    return 0;
}

int wix_path(char *out, size_t size, const char *prefix, const char *id,
             const char *suffix, const char *what, struct error *err)
{
    char encoded[768];

    if (!id || !id[0])
        return error_set(err, ERR_INVALID, "%s: the id is missing", what);
    if (http_url_encode(id, encoded, sizeof(encoded)) < 0 ||
        snprintf(out, size, "%s%s%s", prefix, encoded, suffix) >= (int)size)
        return error_set(err, ERR_INVALID, "%s: the id \"%.64s\" is too long",
                         what, id);
    return 0;
}

int wix_take_member(json_t *response, const char *key, const char *what,
                    json_t **out, struct error *err)
{
    json_t *member = json_object_get(response, key);

    *out = NULL;
    if (!json_is_object(member)) {
        json_decref(response);
        return error_set(err, ERR_RETRYABLE,
                         "%s: Wix's response has no \"%s\" object", what, key);
    }
    *out = json_incref(member);
    json_decref(response);
    return 0;
}

int wix_put_signed(struct wix_client *client, const char *url, const void *data,
                   size_t length, const char *content_type, json_t **out,
                   struct error *err)
{
    struct http_client_request req = {0};
    struct http_client_response resp;
    char type_header[160];
    int rc = -1;

    *out = NULL;
    if (!url ||
        (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
        return error_set(err, ERR_INVALID,
                         "upload: the upload URL is not an http(s) URL");
    snprintf(type_header, sizeof(type_header), "Content-Type: %s",
             content_type ? content_type : "application/octet-stream");
    req.method = "PUT";
    req.url = url;
    req.service = "wix";
    req.headers[0] = type_header;
    req.headers[1] = "Accept: application/json";
    req.body = data;
    req.body_len = length;
    req.timeout_ms = client->wix->timeout_ms;
    /* An upload sent twice would make a second file. */
    req.fresh_connection = 1;

    memset(&resp, 0, sizeof(resp));
    if (http_client_send(&req, &resp, err) < 0)
        error_prefix(err, "upload to site %s", client->instance_id);
    else if (resp.status < 200 || resp.status >= 300)
        wix_error_from_response(&resp, client->instance_id, "upload file",
                                WIX_PERMISSION_MEDIA, WIX_DEFAULT_429_WAIT_MS,
                                err);
    else
        rc = parse_response(&resp, "upload file", out, err);
    http_client_response_release(&resp);
    return rc;
}
