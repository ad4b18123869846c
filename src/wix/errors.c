/*
 * Wix error responses mapped to the product's error kinds. Wix's envelope is
 * {"message", "details": {"applicationError": {"code", "description"}}}
 * or details.validationError.fieldViolations[]. The code may be a string
 * or a number, any part may be missing, and 5xx bodies are often empty.
 */
#include "wix/wix.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct wix_body {
    char message[256];
    char code[64];
};

static void copy_text(char *out, size_t size, const json_t *value)
{
    if (json_is_string(value))
        snprintf(out, size, "%s", json_string_value(value));
    else if (json_is_integer(value))
        snprintf(out, size, "%lld", (long long)json_integer_value(value));
}

static const char *string_or(const json_t *value, const char *fallback)
{
    return json_is_string(value) ? json_string_value(value) : fallback;
}

static void append_violation(struct wix_body *out, const json_t *violation)
{
    size_t used = strlen(out->message);

    snprintf(out->message + used, sizeof(out->message) - used, "%s%s: %s",
             used ? ": " : "",
             string_or(json_object_get(violation, "field"), "field"),
             string_or(json_object_get(violation, "description"), "invalid"));
}

/* Reads the message (or else the error's description), appends the first
 * field violation, and reads the code. */
static void read_body(const struct http_client_response *resp,
                      struct wix_body *out)
{
    json_t *body = NULL;
    const json_t *app_error;
    const json_t *violation;

    memset(out, 0, sizeof(*out));
    if (resp->body.len > 0)
        body = json_loadb(resp->body.data, resp->body.len, 0, NULL);
    if (!json_is_object(body))
        goto out;

    app_error =
        json_object_get(json_object_get(body, "details"), "applicationError");
    violation = json_array_get(
        json_object_get(json_object_get(json_object_get(body, "details"),
                                        "validationError"),
                        "fieldViolations"),
        0);
    copy_text(out->message, sizeof(out->message),
              json_object_get(body, "message"));
    if (out->message[0] == '\0')
        copy_text(out->message, sizeof(out->message),
                  json_object_get(app_error, "description"));
    if (json_is_object(violation))
        append_violation(out, violation);
    copy_text(out->code, sizeof(out->code), json_object_get(app_error, "code"));
    if (out->code[0] == '\0')
        copy_text(out->code, sizeof(out->code), json_object_get(body, "error"));
out:
    json_decref(body);
}

/*
 * Whether a 400 or 403 body blames the token, not the permission, for the
 * fault: Wix has rejected an expired token with a 403, and legacy tokens
 * fail with a 400-class body ending in invalid_token.
 */
static int blames_token(const struct http_client_response *resp,
                        const struct wix_body *body)
{
    const char *text = resp->body.data ? resp->body.data : "";

    return strcmp(body->code, "UNAUTHENTICATED") == 0 ||
           strcasestr(body->message, "not authenticated") ||
           strcasestr(body->message, "expired") ||
           strstr(text, "invalid_token");
}

static enum error_kind kind_for(const struct http_client_response *resp,
                                const struct wix_body *body)
{
    switch (resp->status) {
    case 400:
    case 403:
        if (blames_token(resp, body))
            return ERR_UNAUTHORIZED;
        return resp->status == 400 ? ERR_INVALID : ERR_FORBIDDEN;
    case 428:
        return ERR_PERMANENT;
    default:
        return http_status_error_kind(resp->status);
    }
}

static void set_message(struct error *err, const char *instance_id,
                        const char *what, const char *permission, long status,
                        const struct wix_body *body)
{
    const char *detail = body->message[0] ? body->message : "no message";

    switch (err->kind) {
    case ERR_FORBIDDEN:
        error_set(err, ERR_FORBIDDEN,
                  "%s on site %s was denied (HTTP 403: %s): the app lacks "
                  "the permission \"%s\"; add it in the Wix app dashboard "
                  "and have the site owner accept it",
                  what, instance_id, detail,
                  permission ? permission : "unknown");
        break;
    case ERR_PERMANENT:
        if (status == 428) {
            error_set(err, ERR_PERMANENT,
                      "%s on site %s failed (HTTP 428 %s: %s): the site "
                      "uses another Wix Stores catalog version, or Wix "
                      "Stores is not installed",
                      what, instance_id, body->code, detail);
            break;
        }
        /* fall through */
    default:
        error_set(err, err->kind, "%s on site %s failed (HTTP %ld%s%s: %s)",
                  what, instance_id, status, body->code[0] ? " " : "",
                  body->code, detail);
        break;
    }
}

int wix_error_from_response(const struct http_client_response *resp,
                            const char *instance_id, const char *what,
                            const char *permission, int64_t default_wait_ms,
                            struct error *err)
{
    struct wix_body body;
    const char *request_id = http_client_header(resp, "x-wix-request-id");

    if (!err)
        return -1;
    read_body(resp, &body);
    err->kind = kind_for(resp, &body);
    set_message(err, instance_id, what, permission, resp->status, &body);

    err->http_status = (int)resp->status;
    snprintf(err->code, sizeof(err->code), "%s", body.code);
    snprintf(err->request_id, sizeof(err->request_id), "%s",
             request_id ? request_id : "");
    if (err->kind == ERR_RATE_LIMITED) {
        err->retry_after_ms = http_client_retry_after_ms(resp);
        if (err->retry_after_ms < 0)
            err->retry_after_ms = default_wait_ms;
    }
    return -1;
}
