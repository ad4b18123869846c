#include "auth/legacy.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "http/client.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_MAX_BYTES (64 * 1024)
#define DEFAULT_TIMEOUT_MS (30LL * 1000)

/* POSTs body (JSON, wiped afterwards) to path; *out gets the parsed JSON
 * object of a 200. A 4xx other than 408 and 429 is ERR_UNAUTHORIZED. */
static int post_json(const struct auth_legacy_config *cfg, const char *path,
                     json_t *body, json_t **out, struct error *err)
{
    struct http_client_request req = {0};
    struct http_client_response resp = {0};
    char url[1024];
    char *text = json_dumps(body, JSON_COMPACT);
    int rc = -1;

    *out = NULL;
    json_decref(body);
    if (!text)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    snprintf(url, sizeof(url), "%s%s", cfg->api_url, path);
    req.method = "POST";
    req.url = url;
    req.service = "wix";
    req.headers[0] = "Content-Type: application/json";
    req.headers[1] = "Accept: application/json";
    req.body = text;
    req.body_len = strlen(text);
    req.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    req.max_response_bytes = RESPONSE_MAX_BYTES;
    req.fresh_connection = 1;

    if (http_client_send(&req, &resp, err) != 0) {
        error_prefix(err, "POST %s failed", path);
        goto out;
    }
    if (resp.status != 200) {
        enum error_kind kind = http_status_error_kind(resp.status);

        error_set(err,
                  kind == ERR_INVALID || kind == ERR_UNAUTHORIZED ||
                          kind == ERR_FORBIDDEN || kind == ERR_NOT_FOUND
                      ? ERR_UNAUTHORIZED
                      : ERR_RETRYABLE,
                  "Wix answered POST %s with HTTP %ld", path, resp.status);
        if (err)
            err->http_status = (int)resp.status;
        goto out;
    }
    *out =
        json_parse(resp.body.data ? resp.body.data : "", resp.body.len, 8, err);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        error_set(err, ERR_RETRYABLE,
                  "Wix answered POST %s with a body that is not a JSON object",
                  path);
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(text, strlen(text));
    free(text);
    http_client_response_release(&resp);
    return rc;
}

/* A token goes into headers and URLs: only visible ASCII is accepted. */
static const char *usable_token(const json_t *body, const char *name,
                                size_t max)
{
    const json_t *value = json_object_get(body, name);
    const char *text = json_string_value(value);

    if (!text || json_string_length(value) == 0 ||
        json_string_length(value) >= max)
        return NULL;
    for (const char *c = text; *c; c++)
        if (*c <= ' ' || *c >= 0x7f)
            return NULL;
    return text;
}

static int read_tokens(const json_t *body, struct auth_legacy_tokens *out,
                       int64_t started_ms, struct error *err)
{
    const char *access =
        usable_token(body, "access_token", sizeof(out->access.access_token));
    const char *refresh = usable_token(body, "refresh_token", TOKEN_MAX_LEN);

    /* Registered first, so that no later message can carry them. */
    if (access)
        log_add_secret(access);
    if (refresh)
        log_add_secret(refresh);
    if (!access || !refresh)
        return error_set(err, ERR_RETRYABLE,
                         "Wix's code exchange answer has no usable "
                         "access_token and refresh_token");
    snprintf(out->access.access_token, sizeof(out->access.access_token), "%s",
             access);
    out->access.obtained_ms = started_ms;
    out->access.expires_ms = started_ms + TOKEN_LEGACY_LIFETIME_MS;
    out->refresh_token = strdup(refresh);
    if (!out->refresh_token)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    return 0;
}

/* token-info shows "active" as a boolean or, in one doc example, as the
 * string "true". */
static int read_instance(const json_t *info, struct auth_legacy_tokens *out,
                         struct error *err)
{
    const json_t *active = json_object_get(info, "active");
    const char *instance_id =
        json_string_value(json_object_get(info, "instanceId"));

    if (!json_is_true(active) &&
        !(json_is_string(active) &&
          strcmp(json_string_value(active), "true") == 0))
        return error_set(err, ERR_UNAUTHORIZED,
                         "Wix reports the new access token as inactive");
    if (!instance_id || !*instance_id ||
        strlen(instance_id) >= sizeof(out->instance_id))
        return error_set(err, ERR_RETRYABLE,
                         "Wix's token-info answer has no usable instanceId");
    snprintf(out->instance_id, sizeof(out->instance_id), "%s", instance_id);
    return 0;
}

int auth_legacy_exchange(const struct auth_legacy_config *cfg, const char *code,
                         struct auth_legacy_tokens *out, struct error *err)
{
    int64_t started_ms = clock_now_ms();
    json_t *answer = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!code || !*code || strlen(code) > 4096)
        return error_set(err, ERR_UNAUTHORIZED,
                         "the authorization code is missing or too long");
    if (post_json(cfg, "/oauth/access",
                  json_pack("{s:s, s:s, s:s, s:s}", "grant_type",
                            "authorization_code", "client_id", cfg->app_id,
                            "client_secret", cfg->app_secret, "code", code),
                  &answer, err) != 0) {
        error_prefix(err, "the code exchange failed");
        goto out;
    }
    if (read_tokens(answer, out, started_ms, err) != 0)
        goto out;
    json_decref(answer);
    answer = NULL;

    if (post_json(cfg, "/oauth2/token-info",
                  json_pack("{s:s}", "token", out->access.access_token),
                  &answer, err) != 0) {
        error_prefix(err, "checking the new token's site failed");
        goto out;
    }
    rc = read_instance(answer, out, err);
out:
    json_decref(answer);
    if (rc != 0)
        auth_legacy_clear(out);
    return rc;
}

void auth_legacy_clear(struct auth_legacy_tokens *tokens)
{
    if (!tokens)
        return;
    if (tokens->refresh_token) {
        sodium_memzero(tokens->refresh_token, strlen(tokens->refresh_token));
        free(tokens->refresh_token);
    }
    token_clear(&tokens->access);
    tokens->refresh_token = NULL;
}
