#include "auth/instance.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#define SIGNATURE_BYTES 32

static int is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '+' ||
           c == '/' || c == '=';
}

static int all_base64(const char *text, size_t length)
{
    for (size_t i = 0; i < length; i++)
        if (!is_base64_char(text[i]))
            return 0;
    return 1;
}

/* Splits "<signature>.<data>" and checks that both parts look like base64. */
static int split_instance(const char *instance, size_t *signature_len,
                          const char **data, struct error *err)
{
    size_t length = strnlen(instance, AUTH_INSTANCE_MAX_LEN + 1);
    const char *dot;

    if (length == 0)
        return error_set(err, ERR_UNAUTHORIZED, "instance is empty");
    if (length > AUTH_INSTANCE_MAX_LEN)
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance is longer than %d bytes",
                         AUTH_INSTANCE_MAX_LEN);
    dot = memchr(instance, '.', length);
    if (!dot || dot == instance || dot[1] == '\0')
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance is malformed: expected "
                         "\"<signature>.<data>\"");
    *signature_len = (size_t)(dot - instance);
    *data = dot + 1;
    if (!all_base64(instance, *signature_len) ||
        !all_base64(*data, strlen(*data)))
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance is malformed: the signature and data "
                         "must be base64url");
    return 0;
}

/*
 * Checks the signature over the data text. Decoding the received signature
 * accepts both base64 alphabets with or without padding, so the comparison
 * of the 32 raw bytes is the comparison of the normalised forms.
 */
static int check_signature(const char *secret, const char *signature,
                           size_t signature_len, const char *data,
                           struct error *err)
{
    unsigned char expected[SIGNATURE_BYTES];
    unsigned char received[SIGNATURE_BYTES + 8];
    long received_len;

    crypto_hmac_sha256(secret, strlen(secret), data, strlen(data), expected);
    received_len = crypto_base64url_decode(signature, signature_len, received,
                                           sizeof(received));
    if (received_len != SIGNATURE_BYTES ||
        !crypto_equal(expected, received, SIGNATURE_BYTES))
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance signature is invalid: it was not signed "
                         "with this app's secret");
    return 0;
}

static json_t *decode_payload(const char *data, struct error *err)
{
    size_t length = strlen(data);
    unsigned char *bytes = malloc(length + 1);
    long decoded;
    json_t *payload = NULL;

    if (!bytes) {
        error_set(err, ERR_RETRYABLE, "out of memory");
        return NULL;
    }
    decoded = crypto_base64url_decode(data, length, bytes, length);
    if (decoded < 0) {
        error_set(err, ERR_UNAUTHORIZED,
                  "instance data is not valid base64url");
        goto out;
    }
    payload = json_parse((const char *)bytes, (size_t)decoded, 8, err);
    if (!payload) {
        error_prefix(err, "instance data is not JSON");
        err->kind = ERR_UNAUTHORIZED;
        goto out;
    }
    if (!json_is_object(payload)) {
        json_decref(payload);
        payload = NULL;
        error_set(err, ERR_UNAUTHORIZED, "instance data is not a JSON object");
    }
out:
    free(bytes);
    return payload;
}

/* Copies an optional string field. A wrong type or an overlong value is
 * rejected because a signed payload from Wix has neither. */
static int copy_field(const json_t *payload, const char *name, char *out,
                      size_t size, struct error *err)
{
    const json_t *value = json_object_get(payload, name);

    out[0] = '\0';
    if (!value || json_is_null(value))
        return 0;
    if (!json_is_string(value))
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance field %s: expected a string, found %s", name,
                         json_type_phrase(value));
    if (json_string_length(value) >= size)
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance field %s is longer than %zu bytes", name,
                         size - 1);
    memcpy(out, json_string_value(value), json_string_length(value) + 1);
    return 0;
}

static int read_fields(const json_t *payload, struct auth_instance *out,
                       struct error *err)
{
    if (copy_field(payload, "instanceId", out->instance_id,
                   sizeof(out->instance_id), err) < 0 ||
        copy_field(payload, "appDefId", out->app_def_id,
                   sizeof(out->app_def_id), err) < 0 ||
        copy_field(payload, "uid", out->uid, sizeof(out->uid), err) < 0 ||
        copy_field(payload, "permissions", out->permissions,
                   sizeof(out->permissions), err) < 0 ||
        copy_field(payload, "siteOwnerId", out->site_owner_id,
                   sizeof(out->site_owner_id), err) < 0 ||
        copy_field(payload, "vendorProductId", out->vendor_product_id,
                   sizeof(out->vendor_product_id), err) < 0)
        return -1;
    if (out->instance_id[0] == '\0')
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance data has no instanceId");
    return 0;
}

static int read_time(const json_t *payload, const char *name, int required,
                     int64_t *out, struct error *err)
{
    const json_t *value = json_object_get(payload, name);

    *out = -1;
    if (!value || json_is_null(value)) {
        if (required)
            return error_set(err, ERR_UNAUTHORIZED, "instance data has no %s",
                             name);
        return 0;
    }
    if (!json_is_string(value) ||
        (*out = clock_parse_iso(json_string_value(value))) < 0)
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance field %s is not an ISO 8601 UTC time", name);
    return 0;
}

static int check_freshness(const json_t *payload, int64_t max_age_ms,
                           struct auth_instance *out, struct error *err)
{
    int64_t now = clock_now_ms();
    char when[32];

    if (read_time(payload, "signDate", 1, &out->sign_ms, err) < 0 ||
        read_time(payload, "expirationDate", 0, &out->expires_ms, err) < 0)
        return -1;
    if (out->expires_ms < 0)
        out->expires_ms = out->sign_ms + max_age_ms;
    if (out->sign_ms > now + AUTH_INSTANCE_MAX_SKEW_MS) {
        clock_format_iso(out->sign_ms, when);
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance signDate %s is in the future", when);
    }
    if (now >= out->expires_ms) {
        clock_format_iso(out->expires_ms, when);
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance expired at %s: reload the app page in "
                         "the Wix dashboard",
                         when);
    }
    return 0;
}

static int check_identity(const json_t *payload,
                          const struct auth_instance_options *opts,
                          const struct auth_instance *out, struct error *err)
{
    const json_t *aid = json_object_get(payload, "aid");

    if (opts->app_id && opts->app_id[0] &&
        strcmp(out->app_def_id, opts->app_id) != 0)
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance belongs to app \"%s\", not to this app",
                         out->app_def_id);
    /* An anonymous site visitor carries aid and no Wix user id. */
    if (json_is_string(aid) && json_string_length(aid) > 0 &&
        out->uid[0] == '\0')
        return error_set(err, ERR_UNAUTHORIZED,
                         "instance belongs to an anonymous site visitor, "
                         "who may not open the dashboard");
    return 0;
}

int auth_instance_verify(const struct auth_instance_options *opts,
                         const char *instance, struct auth_instance *out,
                         struct error *err)
{
    const char *data = NULL;
    size_t signature_len = 0;
    json_t *payload = NULL;
    int64_t max_age_ms;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!opts || !opts->app_secret || !opts->app_secret[0])
        return error_set(err, ERR_INVALID,
                         "SITESMITH_WIX_APP_SECRET is not set: the "
                         "dashboard instance can't be verified");
    if (!instance)
        return error_set(err, ERR_UNAUTHORIZED, "instance is missing");
    max_age_ms = opts->max_age_ms > 0 ? opts->max_age_ms
                                      : AUTH_INSTANCE_DEFAULT_MAX_AGE_MS;

    if (split_instance(instance, &signature_len, &data, err) < 0 ||
        check_signature(opts->app_secret, instance, signature_len, data, err) <
            0)
        goto out;

    /* Only a correctly signed payload is parsed. */
    payload = decode_payload(data, err);
    if (!payload || read_fields(payload, out, err) < 0 ||
        check_freshness(payload, max_age_ms, out, err) < 0 ||
        check_identity(payload, opts, out, err) < 0)
        goto out;
    rc = 0;
out:
    json_decref(payload);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}
