/*
 * The Wix emulation's lifecycle (init, reset, save, load, settings) and
 * the helpers every Wix endpoint shares: error envelopes, request bodies,
 * query strings and text lengths.
 */
#include "wix.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct wix_settings default_settings = {
    .token_ttl_s = 14400,
    .legacy_token_ttl_s = 300,
    .auth_code_ttl_s = 600,
    .media_ready_ms = 1000,
    .media_ready_polls = 0,
    .rate_limit = 200,
    .rate_limit_retry_after_s = 0,
    .token_failure_status = 401,
};

struct sandbox_wix *wix_of(struct sandbox *sb)
{
    return sb->wix;
}

/* ---- settings ---- */

struct setting {
    const char *name;
    size_t offset;
    int64_t min;
    int64_t max;
};

#define SETTING(field, lo, hi)                                                 \
    {                                                                          \
#field, offsetof(struct wix_settings, field), lo, hi                   \
    }

static const struct setting settings_table[] = {
    SETTING(token_ttl_s, 1, 366LL * 86400),
    SETTING(legacy_token_ttl_s, 1, 366LL * 86400),
    SETTING(auth_code_ttl_s, 1, 366LL * 86400),
    SETTING(media_ready_ms, 0, 86400000),
    SETTING(media_ready_polls, 0, 1000),
    SETTING(rate_limit, 1, 1000000),
    SETTING(rate_limit_retry_after_s, 0, 3600),
    SETTING(token_failure_status, 401, 403),
};

static const struct setting *find_setting(const char *name)
{
    for (size_t i = 0; i < sizeof(settings_table) / sizeof(*settings_table);
         i++) {
        if (strcmp(settings_table[i].name, name) == 0)
            return &settings_table[i];
    }
    return NULL;
}

/* Checks every key before changing any, so a bad request changes nothing. */
static int apply_settings(struct wix_settings *settings, const json_t *object,
                          int check_only, struct error *err)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)object, key, value)
    {
        const struct setting *s = find_setting(key);
        int64_t number;

        if (!s)
            return error_set(err, ERR_INVALID,
                             "unknown setting \"%s\" (known: token_ttl_s, "
                             "legacy_token_ttl_s, auth_code_ttl_s, "
                             "media_ready_ms, media_ready_polls, rate_limit, "
                             "rate_limit_retry_after_s, token_failure_status)",
                             key);
        if (!json_is_integer(value))
            return error_set(err, ERR_INVALID, "%s: expected an integer", key);
        number = json_integer_value(value);
        if (number < s->min || number > s->max ||
            (strcmp(key, "token_failure_status") == 0 && number != 401 &&
             number != 403))
            return error_set(err, ERR_INVALID, "%s: %lld is out of range", key,
                             (long long)number);
        if (!check_only)
            *(int64_t *)((char *)settings + s->offset) = number;
    }
    return 0;
}

int sandbox_wix_configure(struct sandbox *sb, const json_t *settings,
                          struct error *err)
{
    int rc;

    sandbox_lock(sb);
    rc = apply_settings(&wix_of(sb)->settings, settings, 1, err);
    if (rc == 0)
        apply_settings(&wix_of(sb)->settings, settings, 0, err);
    sandbox_unlock(sb);
    return rc;
}

static json_t *settings_json(const struct wix_settings *settings)
{
    json_t *out = json_object();

    for (size_t i = 0; i < sizeof(settings_table) / sizeof(*settings_table);
         i++)
        json_object_set_new(
            out, settings_table[i].name,
            json_integer(*(const int64_t *)((const char *)settings +
                                            settings_table[i].offset)));
    return out;
}

/* ---- lifecycle ---- */

/* Any other path under /wix: Wix's 404 envelope, so clients that key on
 * x-wix-request-id and the envelope see a Wix-shaped response. */
static void unknown_endpoint(struct sandbox_call *call)
{
    char request_id[33];

    crypto_random_hex(request_id, 16);
    http_response_header(call->resp, "x-wix-request-id", request_id);
    wix_error(call, 404, "NOT_FOUND", "the sandbox does not emulate %s %s",
              call->req->method, call->req->path);
}

int sandbox_wix_init(struct sandbox *sb, struct http_server *server,
                     struct error *err)
{
    struct sandbox_wix *wix = calloc(1, sizeof(*wix));

    if (!wix)
        return error_set(err, ERR_PERMANENT, "out of memory");
    wix->settings = default_settings;
    wix->tokens = json_object();
    wix->codes = json_object();
    wix->refresh_tokens = json_object();
    wix->fixtures = json_object();
    pthread_cond_init(&wix->fetches_done, NULL);
    sb->wix = wix;

    if (wix_sites_routes(sb, server) != 0 ||
        wix_oauth_routes(sb, server) != 0 || wix_blog_routes(sb, server) != 0 ||
        wix_stores_routes(sb, server) != 0 ||
        wix_stores_v3_routes(sb, server) != 0 ||
        wix_media_routes(sb, server) != 0 ||
        wix_members_routes(sb, server) != 0 ||
        sandbox_route(sb, server, "*", "/wix/*", unknown_endpoint) != 0)
        return error_set(err, ERR_PERMANENT, "cannot add the Wix routes");
    return 0;
}

/* Drops every site, token and file. Call with the lock held. */
static void clear_state(struct sandbox_wix *wix)
{
    for (size_t i = 0; i < wix->site_count; i++)
        wix_site_free(wix->sites[i]);
    wix->site_count = 0;
    json_object_clear(wix->tokens);
    json_object_clear(wix->codes);
    json_object_clear(wix->refresh_tokens);
    wix_blobs_clear(wix);
    wix->generation++;
}

void sandbox_wix_reset(struct sandbox *sb)
{
    sandbox_lock(sb);
    clear_state(wix_of(sb));
    wix_of(sb)->settings = default_settings;
    sandbox_unlock(sb);
}

json_t *sandbox_wix_save(struct sandbox *sb)
{
    struct sandbox_wix *wix = wix_of(sb);
    json_t *sites = json_array();
    json_t *out;

    sandbox_lock(sb);
    for (size_t i = 0; i < wix->site_count; i++)
        json_array_append_new(sites, json_deep_copy(wix->sites[i]->state));
    out = json_pack(
        "{so so so so so so}", "settings", settings_json(&wix->settings),
        "sites", sites, "tokens", json_deep_copy(wix->tokens), "codes",
        json_deep_copy(wix->codes), "refresh_tokens",
        json_deep_copy(wix->refresh_tokens), "blobs", wix_blobs_save(wix));
    sandbox_unlock(sb);
    return out;
}

static int load_tables(struct sandbox_wix *wix, const json_t *state,
                       struct error *err)
{
    static const char *const names[] = {"tokens", "codes", "refresh_tokens"};
    json_t *tables[] = {wix->tokens, wix->codes, wix->refresh_tokens};

    for (size_t i = 0; i < 3; i++) {
        const json_t *saved = json_object_get(state, names[i]);

        if (!saved)
            continue;
        if (!json_is_object(saved))
            return error_set(err, ERR_INVALID, "wix.%s: expected an object",
                             names[i]);
        json_object_update(tables[i], (json_t *)saved);
    }
    return 0;
}

static int load_sites(struct sandbox_wix *wix, const json_t *sites,
                      struct error *err)
{
    size_t i;
    json_t *site;

    if (!sites)
        return 0;
    if (!json_is_array(sites))
        return error_set(err, ERR_INVALID, "wix.sites: expected an array");
    json_array_foreach(sites, i, site)
    {
        if (!json_is_object(site) ||
            !json_is_string(json_object_get(site, "instance_id")))
            return error_set(err, ERR_INVALID,
                             "wix.sites[%zu]: expected a site object", i);
        if (!wix_site_add(wix, json_deep_copy(site)))
            return error_set(err, ERR_PERMANENT, "out of memory");
    }
    return 0;
}

int sandbox_wix_load(struct sandbox *sb, const json_t *state, struct error *err)
{
    struct sandbox_wix *wix = wix_of(sb);
    const json_t *settings = json_object_get(state, "settings");
    int rc = 0;

    sandbox_lock(sb);
    clear_state(wix);
    wix->settings = default_settings;
    if (settings)
        rc = apply_settings(&wix->settings, settings, 0, err);
    if (rc == 0)
        rc = load_sites(wix, json_object_get(state, "sites"), err);
    if (rc == 0)
        rc = load_tables(wix, state, err);
    if (rc == 0)
        rc = wix_blobs_load(wix, json_object_get(state, "blobs"), err);
    if (rc != 0)
        error_prefix(err, "wix");
    sandbox_unlock(sb);
    return rc;
}

void sandbox_wix_free(struct sandbox *sb)
{
    struct sandbox_wix *wix = wix_of(sb);

    if (!wix)
        return;
    sandbox_lock(sb);
    while (wix->fetches_running > 0)
        pthread_cond_wait(&wix->fetches_done, &sb->lock);
    clear_state(wix);
    sandbox_unlock(sb);

    free(wix->sites);
    free(wix->blobs);
    json_decref(wix->tokens);
    json_decref(wix->codes);
    json_decref(wix->refresh_tokens);
    json_decref(wix->fixtures);
    pthread_cond_destroy(&wix->fetches_done);
    free(wix);
    sb->wix = NULL;
}

/* ---- responses ---- */

static void envelope(struct sandbox_call *call, int status, const char *code,
                     const char *message)
{
    http_response_json(call->resp, status,
                       json_pack("{ss s{s{ss ss s{}}}}", "message", message,
                                 "details", "applicationError", "code", code,
                                 "description", message, "data"));
}

void wix_error(struct sandbox_call *call, int status, const char *code,
               const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    envelope(call, status, code, message);
}

void wix_field_error(struct sandbox_call *call, const char *field,
                     const char *rule, const char *fmt, ...)
{
    char description[1024];
    char message[1200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(description, sizeof(description), fmt, ap);
    va_end(ap);
    snprintf(message, sizeof(message), "INVALID_ARGUMENT: \"%s\" %s", field,
             description);
    http_response_json(call->resp, 400,
                       json_pack("{ss s{s{s[{ss ss ss ss}]}}}", "message",
                                 message, "details", "validationError",
                                 "fieldViolations", "field", field,
                                 "description", description, "violatedRule",
                                 rule, "ruleName", rule));
}

void wix_not_found(struct sandbox_call *call, const char *what, const char *id)
{
    char description[512];

    snprintf(description, sizeof(description), "%s with id %s not found", what,
             id);
    http_response_json(call->resp, 404,
                       json_pack("{ss s{s{ss ss s{ss}}}}", "message",
                                 "Entity not found", "details",
                                 "applicationError", "code", "NOT_FOUND",
                                 "description", description, "data", "id", id));
}

void wix_reply(struct sandbox_call *call, json_t *body)
{
    http_response_json(call->resp, 200, body);
}

/* ---- requests ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one query component of n bytes into out (size >= n + 1). */
static void query_decode(const char *text, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (text[i] == '+') {
            out[o++] = ' ';
        } else if (text[i] == '%' && i + 2 < n && hex_value(text[i + 1]) >= 0 &&
                   hex_value(text[i + 2]) >= 0) {
            out[o++] =
                (char)(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out[o++] = text[i];
        }
    }
    out[o] = '\0';
}

int wix_query_has(const struct http_request *req, const char *name,
                  const char *value)
{
    const char *p = req->query ? req->query : "";

    while (*p) {
        size_t length = strcspn(p, "&");
        const char *equals = memchr(p, '=', length);
        char key[128];
        char decoded[256];

        if (equals && (size_t)(equals - p) < sizeof(key) &&
            length - (size_t)(equals - p) < sizeof(decoded)) {
            query_decode(p, (size_t)(equals - p), key);
            query_decode(equals + 1, length - (size_t)(equals - p) - 1,
                         decoded);
            if (strcmp(key, name) == 0 && strcmp(decoded, value) == 0)
                return 1;
        }
        p += length;
        if (*p == '&')
            p++;
    }
    return 0;
}

/* The ".r" parameter: base64url of the JSON request. */
static json_t *read_r_param(const char *encoded, struct error *err)
{
    size_t size = strlen(encoded) + 4;
    unsigned char *bytes = malloc(size);
    long length;
    json_t *root = NULL;

    if (!bytes) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    length = crypto_base64url_decode(encoded, strlen(encoded), bytes, size);
    if (length < 0)
        error_set(err, ERR_INVALID, "query parameter .r is not base64url");
    else
        root = json_parse((const char *)bytes, (size_t)length, 64, err);
    free(bytes);
    if (root && !json_is_object(root)) {
        error_set(err, ERR_INVALID, "query parameter .r is not a JSON object");
        json_decref(root);
        root = NULL;
    }
    return root;
}

json_t *wix_read_body(struct sandbox_call *call)
{
    const char *r = http_request_query(call->req, ".r");
    struct error err;
    json_t *root;

    if (r && strcmp(call->req->method, "GET") == 0)
        root = read_r_param(r, &err);
    else
        root = sandbox_read_json(call->req, &err);
    if (!root)
        wix_error(call, 400, "INVALID_ARGUMENT", "%s", err.message);
    return root;
}

size_t wix_text_length(const char *utf8)
{
    const unsigned char *p = (const unsigned char *)utf8;
    size_t units = 0;

    for (; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue; /* continuation byte */
        /* A 4-byte sequence is outside the BMP: a UTF-16 surrogate pair. */
        units += (*p >= 0xF0) ? 2 : 1;
    }
    return units;
}

void wix_now_iso(struct sandbox *sb, char out[32])
{
    clock_format_iso(sandbox_now_ms(sb), out);
}

struct wix_site *wix_site_find(struct sandbox_wix *wix, const char *instance_id)
{
    for (size_t i = 0; i < wix->site_count; i++) {
        if (strcmp(wix_site_string(wix->sites[i], "instance_id"),
                   instance_id) == 0)
            return wix->sites[i];
    }
    return NULL;
}

json_t *wix_find_by(const json_t *array, const char *key, const char *value)
{
    size_t i;
    json_t *item;

    json_array_foreach(array, i, item)
    {
        const char *field = json_string_value(json_object_get(item, key));

        if (field && strcmp(field, value) == 0)
            return item;
    }
    return NULL;
}

json_t *wix_site_own(struct wix_site *site, const char *key)
{
    json_t *value = json_object_get(site->state, key);
    json_t *copy;

    /* The site's state holds one reference; a fixture's catalog another. */
    if (!value || value->refcount <= 1)
        return value;
    copy = json_deep_copy(value);
    json_object_set_new(site->state, key, copy);
    return copy;
}

const char *wix_site_string(const struct wix_site *site, const char *key)
{
    const char *value = json_string_value(json_object_get(site->state, key));

    return value ? value : "";
}

void wix_media_url(struct sandbox *sb, const char *file_id, char *out,
                   size_t size)
{
    snprintf(out, size, "%s/wixstatic/media/%s", sb->base_url, file_id);
}

void wix_new_guid(char out[37])
{
    crypto_uuid(out);
}

void wix_slugify(const char *text, char *out, size_t size)
{
    size_t o = 0;
    int dash = 0;

    for (const unsigned char *p = (const unsigned char *)text;
         *p && o + 2 < size; p++) {
        if (isalnum(*p) || *p >= 0x80) {
            if (dash && o > 0)
                out[o++] = '-';
            out[o++] = (char)tolower(*p);
            dash = 0;
        } else {
            dash = 1;
        }
    }
    out[o] = '\0';
}

int wix_add_routes(struct sandbox *sb, struct http_server *server,
                   const struct wix_route *routes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (sandbox_route(sb, server, routes[i].method, routes[i].pattern,
                          routes[i].handler) != 0)
            return -1;
    }
    return 0;
}
