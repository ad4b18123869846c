/*
 * Wix OAuth: app tokens by client credentials (POST /oauth2/token), token
 * introspection (POST /oauth2/token-info), the legacy authorization-code
 * and refresh-token flow (POST /oauth/access), and the token check, rate
 * limit and permission check in front of every resource endpoint.
 *
 * NOTE: Wix documents no error bodies for its token endpoints. These
 * respond in Wix's usual envelope with the RFC 6749 error names as codes:
 * 401 invalid_client, 400 invalid_request, invalid_grant and
 * unsupported_grant_type.
 */
#include "wix.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_PREFIX "OauthNG.JWS."
#define TOKEN_TABLE_PRUNE_AT 10000
#define RATE_WINDOW_MS 60000

static const char *const scope_names[] = {
    [WIX_SCOPE_BLOG] = "blog",   [WIX_SCOPE_STORES] = "stores",
    [WIX_SCOPE_MEDIA] = "media", [WIX_SCOPE_MEMBERS] = "members",
    [WIX_SCOPE_APPS] = "apps",
};

static const char *const scope_permissions[] = {
    [WIX_SCOPE_BLOG] = "Manage Blog",
    [WIX_SCOPE_STORES] = "Manage Products",
    [WIX_SCOPE_MEDIA] = "Manage Media Manager",
    [WIX_SCOPE_MEMBERS] = "Manage Members",
    [WIX_SCOPE_APPS] = "Manage Your App",
};

static int site_installed(const struct wix_site *site)
{
    return site && json_is_true(json_object_get(site->state, "installed"));
}

/* Drops tokens that expired more than a day ago once the table is big. */
static void prune_tokens(struct sandbox *sb)
{
    struct sandbox_wix *wix = wix_of(sb);
    int64_t cutoff = sandbox_now_ms(sb) - 86400000;
    const char *key;
    json_t *record;
    void *tmp;

    if (json_object_size(wix->tokens) < TOKEN_TABLE_PRUNE_AT)
        return;
    json_object_foreach_safe(wix->tokens, tmp, key, record)
    {
        if (json_integer_value(json_object_get(record, "expires_ms")) < cutoff)
            json_object_del(wix->tokens, key);
    }
}

/* Issues an access token for the site; out gets the token. Lock held. */
static void issue_token(struct sandbox *sb, const char *instance_id,
                        const char *kind, int64_t ttl_s, char out[96])
{
    int64_t now = sandbox_now_ms(sb);
    char random[65];

    prune_tokens(sb);
    crypto_random_hex(random, 32);
    snprintf(out, 96, "%s%s", TOKEN_PREFIX, random);
    json_object_set_new(
        wix_of(sb)->tokens, out,
        json_pack("{ss ss sI sI sb}", "instance_id", instance_id, "kind", kind,
                  "issued_ms", (json_int_t)now, "expires_ms",
                  (json_int_t)(now + ttl_s * 1000), "revoked", 0));
}

int wix_oauth_new_code(struct sandbox *sb, const char *instance_id,
                       char out[65])
{
    struct sandbox_wix *wix = wix_of(sb);
    int64_t expires = sandbox_now_ms(sb) + wix->settings.auth_code_ttl_s * 1000;

    crypto_random_hex(out, 32);
    return json_object_set_new(wix->codes, out,
                               json_pack("{ss sI}", "instance_id", instance_id,
                                         "expires_ms", (json_int_t)expires));
}

size_t wix_oauth_revoke(struct sandbox *sb, const char *instance_id)
{
    const char *key;
    json_t *record;
    size_t count = 0;

    json_object_foreach(wix_of(sb)->tokens, key, record)
    {
        const char *owner =
            json_string_value(json_object_get(record, "instance_id"));

        if (owner && strcmp(owner, instance_id) == 0 &&
            !json_is_true(json_object_get(record, "revoked"))) {
            json_object_set_new(record, "revoked", json_true());
            count++;
        }
    }
    return count;
}

/* Compares a sent credential with the expected one in constant time. */
static int credential_matches(const char *sent, const char *expected)
{
    size_t length = strlen(expected);

    return sent && strlen(sent) == length &&
           crypto_equal(sent, expected, length);
}

static int check_client(struct sandbox_call *call, const json_t *body)
{
    const struct sandbox_options *opts = &call->sb->opts;
    const char *client_id =
        json_string_value(json_object_get(body, "client_id"));
    const char *client_secret =
        json_string_value(json_object_get(body, "client_secret"));

    if (!client_id || !client_secret) {
        wix_error(call, 400, "invalid_request",
                  "client_id and client_secret are required");
        return -1;
    }
    if (!credential_matches(client_id, opts->app_id) ||
        !credential_matches(client_secret, opts->app_secret)) {
        wix_error(call, 401, "invalid_client",
                  "invalid client credentials: check the app id and secret");
        return -1;
    }
    return 0;
}

static void reply_new_token(struct sandbox_call *call, const char *instance_id)
{
    struct sandbox *sb = call->sb;
    int64_t ttl_s = wix_of(sb)->settings.token_ttl_s;
    char token[96];

    issue_token(sb, instance_id, "oauth2", ttl_s, token);
    wix_reply(call, json_pack("{ss ss sI}", "access_token", token, "token_type",
                              "Bearer", "expires_in", (json_int_t)ttl_s));
}

static void add_request_id(struct sandbox_call *call)
{
    char request_id[33];

    crypto_random_hex(request_id, 16);
    http_response_header(call->resp, "x-wix-request-id", request_id);
}

/* POST /oauth2/token {grant_type: client_credentials, client_id,
 * client_secret, instance_id} */
static void oauth2_token(struct sandbox_call *call)
{
    json_t *body;
    const char *grant_type;
    const char *instance_id;

    add_request_id(call);
    if (!(body = wix_read_body(call)))
        return;
    grant_type = json_string_value(json_object_get(body, "grant_type"));
    instance_id = json_string_value(json_object_get(body, "instance_id"));
    if (!grant_type || strcmp(grant_type, "client_credentials") != 0) {
        wix_error(call, 400, "unsupported_grant_type",
                  "grant_type must be \"client_credentials\"");
        goto out;
    }
    if (check_client(call, body) != 0)
        goto out;
    if (!instance_id || !*instance_id) {
        wix_error(call, 400, "invalid_request", "instance_id is required");
        goto out;
    }
    snprintf(call->instance_id, sizeof(call->instance_id), "%s", instance_id);

    sandbox_lock(call->sb);
    if (!site_installed(wix_site_find(wix_of(call->sb), instance_id)))
        wix_error(call, 400, "invalid_grant",
                  "app instance %s not found: the app is not installed on "
                  "that site",
                  instance_id);
    else
        reply_new_token(call, instance_id);
    sandbox_unlock(call->sb);
out:
    json_decref(body);
}

/* Token-info for one of our access tokens. Lock held. */
static json_t *access_token_info(struct sandbox *sb, const json_t *record)
{
    const char *instance_id =
        json_string_value(json_object_get(record, "instance_id"));
    struct wix_site *site = wix_site_find(wix_of(sb), instance_id);
    int64_t expires = json_integer_value(json_object_get(record, "expires_ms"));

    if (!site_installed(site) ||
        json_is_true(json_object_get(record, "revoked")) ||
        sandbox_now_ms(sb) >= expires)
        return json_pack("{sb}", "active", 0);
    return json_pack(
        "{sb ss ss sI sI ss ss ss}", "active", 1, "subjectType", "APP",
        "subjectId", sb->opts.app_id, "exp", (json_int_t)(expires / 1000),
        "iat",
        (json_int_t)(json_integer_value(json_object_get(record, "issued_ms")) /
                     1000),
        "clientId", sb->opts.app_id, "siteId", wix_site_string(site, "site_id"),
        "instanceId", instance_id);
}

/* The payload of a dashboard instance string signed with our secret, or
 * NULL. */
static json_t *instance_payload(struct sandbox *sb, const char *text)
{
    const char *dot = strchr(text, '.');
    unsigned char mac[32];
    char expected[64];
    unsigned char *decoded;
    long length;
    json_t *payload = NULL;

    if (!dot || strlen(dot + 1) > 8192)
        return NULL;
    crypto_hmac_sha256(sb->opts.app_secret, strlen(sb->opts.app_secret),
                       dot + 1, strlen(dot + 1), mac);
    crypto_base64url_encode(mac, sizeof(mac), expected, sizeof(expected));
    if ((size_t)(dot - text) != strlen(expected) ||
        !crypto_equal(text, expected, strlen(expected)))
        return NULL;
    decoded = malloc(strlen(dot + 1) + 4);
    length = decoded ? crypto_base64url_decode(dot + 1, strlen(dot + 1),
                                               decoded, strlen(dot + 1) + 4)
                     : -1;
    if (length >= 0)
        payload = json_loadb((const char *)decoded, (size_t)length, 0, NULL);
    free(decoded);
    return payload;
}

/* Token-info for a dashboard instance string. Lock held. */
static json_t *instance_info(struct sandbox *sb, const json_t *payload)
{
    const char *instance_id =
        json_string_value(json_object_get(payload, "instanceId"));
    const char *uid = json_string_value(json_object_get(payload, "uid"));
    int64_t signed_ms = clock_parse_iso(
        json_string_value(json_object_get(payload, "signDate")));
    int64_t expires_ms = clock_parse_iso(
        json_string_value(json_object_get(payload, "expirationDate")));
    struct wix_site *site =
        instance_id ? wix_site_find(wix_of(sb), instance_id) : NULL;

    if (!site_installed(site) || signed_ms < 0 || expires_ms < 0 ||
        sandbox_now_ms(sb) >= expires_ms)
        return json_pack("{sb}", "active", 0);
    return json_pack(
        "{sb ss ss sI sI ss ss ss}", "active", 1, "subjectType",
        uid ? "USER" : "VISITOR", "subjectId", uid ? uid : "", "exp",
        (json_int_t)(expires_ms / 1000), "iat", (json_int_t)(signed_ms / 1000),
        "clientId", sb->opts.app_id, "siteId", wix_site_string(site, "site_id"),
        "instanceId", instance_id);
}

/* POST /oauth2/token-info {token}. Following RFC 7662, anything that is
 * not a live token or instance string gets 200 {"active": false}.
 * NOTE: Wix's response for unknown tokens is undocumented. */
static void oauth2_token_info(struct sandbox_call *call)
{
    struct sandbox *sb = call->sb;
    json_t *body;
    const char *token;
    const json_t *record;
    json_t *payload;
    json_t *info;

    add_request_id(call);
    if (!(body = wix_read_body(call)))
        return;
    token = json_string_value(json_object_get(body, "token"));
    if (!token || !*token) {
        wix_error(call, 400, "INVALID_ARGUMENT", "token is required");
        json_decref(body);
        return;
    }
    sandbox_lock(sb);
    record = json_object_get(wix_of(sb)->tokens, token);
    payload = record ? NULL : instance_payload(sb, token);
    if (record)
        info = access_token_info(sb, record);
    else if (payload)
        info = instance_info(sb, payload);
    else
        info = json_pack("{sb}", "active", 0);
    if (json_is_string(json_object_get(info, "instanceId")))
        snprintf(call->instance_id, sizeof(call->instance_id), "%s",
                 json_string_value(json_object_get(info, "instanceId")));
    sandbox_unlock(sb);
    wix_reply(call, info);
    json_decref(payload);
    json_decref(body);
}

/* Legacy grant: authorization_code. Codes are single-use. Lock held. */
static int redeem_code(struct sandbox_call *call, const char *code,
                       char instance_id[64])
{
    struct sandbox_wix *wix = wix_of(call->sb);
    json_t *record = code ? json_object_get(wix->codes, code) : NULL;

    if (!record || json_integer_value(json_object_get(record, "expires_ms")) <=
                       sandbox_now_ms(call->sb)) {
        wix_error(call, 400, "invalid_grant",
                  "authorization code is unknown, used or expired");
        return -1;
    }
    snprintf(instance_id, 64, "%s",
             json_string_value(json_object_get(record, "instance_id")));
    json_object_del(wix->codes, code);
    return 0;
}

/* Legacy grant: refresh_token. Lock held. */
static int lookup_refresh(struct sandbox_call *call, const char *refresh_token,
                          char instance_id[64])
{
    json_t *record =
        refresh_token
            ? json_object_get(wix_of(call->sb)->refresh_tokens, refresh_token)
            : NULL;

    if (!record) {
        wix_error(call, 400, "invalid_grant", "refresh token is not valid");
        return -1;
    }
    snprintf(instance_id, 64, "%s",
             json_string_value(json_object_get(record, "instance_id")));
    return 0;
}

/* Sends {access_token, refresh_token}, with a new refresh token unless
 * the call sent one. Lock held. */
static void reply_legacy_tokens(struct sandbox_call *call,
                                const char *instance_id,
                                const char *refresh_token)
{
    struct sandbox *sb = call->sb;
    char token[96];
    char random[65];
    char refresh[96];

    if (!site_installed(wix_site_find(wix_of(sb), instance_id))) {
        wix_error(call, 400, "invalid_grant",
                  "app instance %s is not installed", instance_id);
        return;
    }
    if (!refresh_token) {
        crypto_random_hex(random, 32);
        snprintf(refresh, sizeof(refresh), "OAUTH2.%s", random);
        json_object_set_new(wix_of(sb)->refresh_tokens, refresh,
                            json_pack("{ss}", "instance_id", instance_id));
        refresh_token = refresh;
    }
    issue_token(sb, instance_id, "legacy",
                wix_of(sb)->settings.legacy_token_ttl_s, token);
    wix_reply(call, json_pack("{ss ss}", "access_token", token, "refresh_token",
                              refresh_token));
}

/* POST /oauth/access: {grant_type: authorization_code, code} or
 * {grant_type: refresh_token, refresh_token}, with client_id and
 * client_secret. */
static void oauth_access(struct sandbox_call *call)
{
    json_t *body;
    const char *grant_type;
    const char *refresh_token;
    char instance_id[64];
    int rc = -1;

    add_request_id(call);
    if (!(body = wix_read_body(call)))
        return;
    if (check_client(call, body) != 0)
        goto out;
    grant_type = json_string_value(json_object_get(body, "grant_type"));
    refresh_token = json_string_value(json_object_get(body, "refresh_token"));
    sandbox_lock(call->sb);
    if (grant_type && strcmp(grant_type, "authorization_code") == 0) {
        rc = redeem_code(call, json_string_value(json_object_get(body, "code")),
                         instance_id);
        refresh_token = NULL;
    } else if (grant_type && strcmp(grant_type, "refresh_token") == 0) {
        rc = lookup_refresh(call, refresh_token, instance_id);
    } else {
        wix_error(call, 400, "unsupported_grant_type",
                  "grant_type must be authorization_code or refresh_token");
    }
    if (rc == 0) {
        snprintf(call->instance_id, sizeof(call->instance_id), "%s",
                 instance_id);
        reply_legacy_tokens(call, instance_id, refresh_token);
    }
    sandbox_unlock(call->sb);
out:
    json_decref(body);
}

/* ---- the check in front of resource endpoints ---- */

/* The token from "Authorization: X" or "Authorization: Bearer X". */
static const char *bearer_token(const struct http_request *req)
{
    const char *value = http_request_header(req, "Authorization");

    if (!value)
        return NULL;
    while (*value == ' ')
        value++;
    if (strncasecmp(value, "Bearer ", 7) == 0)
        value += 7;
    while (*value == ' ')
        value++;
    return *value ? value : NULL;
}

/* The site a live token belongs to, or NULL. Lock held. */
static struct wix_site *token_site(struct sandbox_call *call, const char *token)
{
    struct sandbox *sb = call->sb;
    const json_t *record =
        token ? json_object_get(wix_of(sb)->tokens, token) : NULL;
    const char *instance_id;

    if (!record)
        return NULL;
    instance_id = json_string_value(json_object_get(record, "instance_id"));
    snprintf(call->instance_id, sizeof(call->instance_id), "%s", instance_id);
    if (json_is_true(json_object_get(record, "revoked")) ||
        json_integer_value(json_object_get(record, "expires_ms")) <=
            sandbox_now_ms(sb))
        return NULL;
    return wix_site_find(wix_of(sb), instance_id);
}

/* Counts the call in the site's one-minute window; 1 when over the limit.
 * Rejected calls are not counted. */
static int rate_limited(struct sandbox *sb, struct wix_site *site)
{
    int64_t now = sandbox_now_ms(sb);
    int64_t limit = wix_of(sb)->settings.rate_limit;
    size_t expired = 0;

    while (expired < site->recent_count &&
           site->recent[expired] <= now - RATE_WINDOW_MS)
        expired++;
    if (expired > 0) {
        memmove(site->recent, site->recent + expired,
                (site->recent_count - expired) * sizeof(*site->recent));
        site->recent_count -= expired;
    }
    if ((int64_t)site->recent_count >= limit)
        return 1;
    if (site->recent_count == site->recent_cap) {
        size_t cap = site->recent_cap ? site->recent_cap * 2 : 64;
        int64_t *grown = realloc(site->recent, cap * sizeof(*grown));

        if (!grown)
            return 0;
        site->recent = grown;
        site->recent_cap = cap;
    }
    site->recent[site->recent_count++] = now;
    return 0;
}

static int scope_missing(const struct wix_site *site, enum wix_scope scope)
{
    const json_t *missing = json_object_get(site->state, "missing_permissions");
    size_t i;
    json_t *name;

    json_array_foreach(missing, i, name)
    {
        if (json_is_string(name) &&
            strcmp(json_string_value(name), scope_names[scope]) == 0)
            return 1;
    }
    return 0;
}

static void reply_rate_limited(struct sandbox_call *call)
{
    int64_t retry_after = wix_of(call->sb)->settings.rate_limit_retry_after_s;
    char seconds[24];

    wix_error(call, 429, "RESOURCE_EXHAUSTED", "Resource exhausted");
    if (retry_after > 0) {
        snprintf(seconds, sizeof(seconds), "%lld", (long long)retry_after);
        http_response_header(call->resp, "Retry-After", seconds);
    }
}

struct wix_site *wix_begin(struct sandbox_call *call, enum wix_scope scope)
{
    struct sandbox *sb = call->sb;
    const char *token = bearer_token(call->req);
    struct wix_site *site;

    add_request_id(call);
    sandbox_lock(sb);
    site = token_site(call, token);
    if (!site_installed(site)) {
        /* Missing, unknown, expired and revoked tokens all get this body;
         * a test may switch the status to 403 as Wix sometimes sends. */
        wix_error(call, (int)wix_of(sb)->settings.token_failure_status,
                  "UNAUTHENTICATED", "Not authenticated: UNKNOWN");
    } else if (rate_limited(sb, site)) {
        reply_rate_limited(call);
    } else if (scope_missing(site, scope)) {
        wix_error(call, 403, "PERMISSION_DENIED",
                  "Permission denied: the app lacks the \"%s\" permission "
                  "on this site",
                  scope_permissions[scope]);
    } else {
        return site;
    }
    sandbox_unlock(sb);
    return NULL;
}

int wix_oauth_routes(struct sandbox *sb, struct http_server *server)
{
    static const struct wix_route routes[] = {
        {"POST", "/wix/oauth2/token", oauth2_token},
        {"POST", "/wix/oauth2/token-info", oauth2_token_info},
        {"POST", "/wix/oauth/access", oauth_access},
    };

    return wix_add_routes(sb, server, routes,
                          sizeof(routes) / sizeof(routes[0]));
}
