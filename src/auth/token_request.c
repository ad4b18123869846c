#include "auth/token_request.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/client.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_MAX_BYTES (64 * 1024)

static json_t *request_body(const struct token_request_config *cfg,
                            const char *instance_id, const char *refresh_token)
{
    if (refresh_token)
        return json_pack("{s:s, s:s, s:s, s:s}", "grant_type", "refresh_token",
                         "client_id", cfg->app_id, "client_secret",
                         cfg->app_secret, "refresh_token", refresh_token);
    return json_pack("{s:s, s:s, s:s, s:s}", "grant_type", "client_credentials",
                     "client_id", cfg->app_id, "client_secret", cfg->app_secret,
                     "instance_id", instance_id);
}

/* Wix's own envelope has "message"; OAuth-style bodies have "error" and
 * "error_description". Returns "" when the body has none of them. */
static const char *body_message(const json_t *body)
{
    static const char *const fields[] = {"message", "error_description",
                                         "errorDescription", "error"};

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const json_t *value = json_object_get(body, fields[i]);

        if (json_is_string(value) && json_string_length(value) > 0)
            return json_string_value(value);
    }
    return "";
}

static int reject(const struct http_client_response *resp,
                  const char *instance_id, struct error *err)
{
    json_t *body = json_loadb(resp->body.data ? resp->body.data : "",
                              resp->body.len, 0, NULL);
    const char *message = body_message(body);
    long status = resp->status;

    if (status == 429) {
        error_set(err, ERR_RATE_LIMITED,
                  "Wix rate-limited the token request for site %s: %s",
                  instance_id, message[0] ? message : "HTTP 429");
        if (err)
            err->retry_after_ms = http_client_retry_after_ms(resp);
    } else if (status >= 400 && status < 500 && status != 408) {
        error_set(err, ERR_UNAUTHORIZED,
                  "Wix rejected the token request for site %s (HTTP %ld%s%s): "
                  "the app may have been removed from the site, or "
                  "SITESMITH_WIX_APP_ID or SITESMITH_WIX_APP_SECRET is wrong",
                  instance_id, status, message[0] ? ": " : "", message);
        if (err)
            snprintf(err->code, sizeof(err->code), "token_rejected");
    } else {
        error_set(err, ERR_RETRYABLE,
                  "the token request for site %s failed with HTTP %ld%s%s",
                  instance_id, status, message[0] ? ": " : "", message);
    }
    json_decref(body);
    return -1;
}

/* A token goes into an HTTP header: only visible ASCII is accepted. */
static int is_header_safe(const char *text)
{
    for (const char *c = text; *c; c++)
        if (*c <= ' ' || *c >= 0x7f)
            return 0;
    return 1;
}

/* Reads expires_in, which the docs show as a number; a numeric string is
 * accepted as well. Returns seconds, 0 when absent, -1 when invalid. */
static int64_t read_expires_in(const json_t *body)
{
    const json_t *value = json_object_get(body, "expires_in");
    int64_t seconds = -1;

    if (!value || json_is_null(value))
        return 0;
    if (json_is_integer(value))
        seconds = json_integer_value(value);
    else if (json_is_string(value)) {
        char *end;

        seconds = strtoll(json_string_value(value), &end, 10);
        if (end == json_string_value(value) || *end != '\0')
            seconds = -1;
    }
    if (seconds <= 0 || seconds > TOKEN_MAX_LIFETIME_S)
        return -1;
    return seconds;
}

static int read_access_token(const json_t *body, const char *instance_id,
                             int legacy, int64_t started_ms, struct token *out,
                             struct error *err)
{
    const json_t *token = json_object_get(body, "access_token");
    int64_t expires_in = read_expires_in(body);
    size_t length = json_string_length(token);

    if (!json_is_string(token) || length == 0 ||
        length >= sizeof(out->access_token) ||
        !is_header_safe(json_string_value(token)))
        return error_set(err, ERR_RETRYABLE,
                         "the token response for site %s has no usable "
                         "access_token",
                         instance_id);
    if (expires_in < 0 || (expires_in == 0 && !legacy))
        return error_set(err, ERR_RETRYABLE,
                         "the token response for site %s has no valid "
                         "expires_in: expected seconds from 1 to %lld",
                         instance_id, (long long)TOKEN_MAX_LIFETIME_S);

    memcpy(out->access_token, json_string_value(token), length + 1);
    log_add_secret(out->access_token);
    /* The lifetime counts from before the request, so it is never longer
     * than the one Wix measures. */
    out->obtained_ms = started_ms;
    out->expires_ms = started_ms + (expires_in > 0 ? expires_in * 1000
                                                   : TOKEN_LEGACY_LIFETIME_MS);
    return 0;
}

static int read_refresh_token(const json_t *body, char **new_refresh,
                              struct error *err)
{
    const json_t *value = json_object_get(body, "refresh_token");

    if (!new_refresh || !json_is_string(value) ||
        json_string_length(value) == 0)
        return 0;
    *new_refresh = strdup(json_string_value(value));
    if (!*new_refresh)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    log_add_secret(*new_refresh);
    return 0;
}

static int read_response(const struct http_client_response *resp,
                         const char *instance_id, int legacy,
                         int64_t started_ms, struct token *out,
                         char **new_refresh, struct error *err)
{
    json_t *body;
    int rc = -1;

    if (resp->status != 200)
        return reject(resp, instance_id, err);
    body = json_parse(resp->body.data ? resp->body.data : "", resp->body.len, 8,
                      err);
    if (!body || !json_is_object(body)) {
        error_set(err, ERR_RETRYABLE,
                  "the token response for site %s is not a JSON object",
                  instance_id);
        goto out;
    }
    if (read_access_token(body, instance_id, legacy, started_ms, out, err) <
            0 ||
        read_refresh_token(body, new_refresh, err) < 0)
        goto out;
    rc = 0;
out:
    json_decref(body);
    return rc;
}

static void count_request(const char *grant, long status)
{
    char labels[96];

    snprintf(labels, sizeof(labels), "grant=\"%s\",status=\"%ld\"", grant,
             status);
    metrics_count("sitesmith_wix_token_requests_total", labels, 1);
}

int token_request(const struct token_request_config *cfg,
                  const char *instance_id, const char *refresh_token,
                  struct token *out, char **new_refresh, struct error *err)
{
    struct http_client_request req = {0};
    struct http_client_response resp;
    const char *grant = refresh_token ? "refresh_token" : "client_credentials";
    char url[sizeof(cfg->api_url) + 32];
    json_t *body = request_body(cfg, instance_id, refresh_token);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int64_t started_ms = clock_now_ms();
    int rc = -1;

    memset(out, 0, sizeof(*out));
    memset(&resp, 0, sizeof(resp));
    if (new_refresh)
        *new_refresh = NULL;
    json_decref(body);
    if (!text)
        return error_set(err, ERR_RETRYABLE, "out of memory");

    snprintf(url, sizeof(url), "%s%s", cfg->api_url,
             refresh_token ? "/oauth/access" : "/oauth2/token");
    req.method = "POST";
    req.url = url;
    req.service = "wix";
    req.headers[0] = "Content-Type: application/json";
    req.headers[1] = "Accept: application/json";
    req.body = text;
    req.body_len = strlen(text);
    req.timeout_ms = cfg->timeout_ms;
    req.max_response_bytes = RESPONSE_MAX_BYTES;

    if (http_client_send(&req, &resp, err) < 0) {
        error_prefix(err, "the token request for site %s failed", instance_id);
        goto out;
    }
    count_request(grant, resp.status);
    rc = read_response(&resp, instance_id, refresh_token != NULL, started_ms,
                       out, new_refresh, err);
    if (rc < 0 && err) {
        const char *id = http_client_header(&resp, "x-wix-request-id");

        snprintf(err->request_id, sizeof(err->request_id), "%s", id ? id : "");
        err->http_status = (int)resp.status;
    }
    if (rc == 0)
        log_info("auth",
                 "access token received instance=%s grant=%s "
                 "expires_in_s=%lld",
                 instance_id, grant,
                 (long long)((out->expires_ms - out->obtained_ms) / 1000));
out:
    sodium_memzero(text, strlen(text));
    free(text);
    http_client_response_release(&resp);
    if (rc < 0)
        token_clear(out);
    return rc;
}
