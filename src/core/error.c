#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void error_clear(struct error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
    err->retry_after_ms = -1;
}

int error_set(struct error *err, enum error_kind kind, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    error_clear(err);
    err->kind = kind;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

void error_prefix(struct error *err, const char *fmt, ...)
{
    char prefix[ERROR_MESSAGE_MAX];
    char old[ERROR_MESSAGE_MAX];
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof(old));
    if (snprintf(err->message, sizeof(err->message), "%s: %s", prefix, old) >=
        (int)sizeof(err->message))
        memcpy(err->message + sizeof(err->message) - 4, "...", 4);
}

const char *error_kind_name(enum error_kind kind)
{
    switch (kind) {
    case ERR_NONE:
        return "none";
    case ERR_RETRYABLE:
        return "retryable";
    case ERR_RATE_LIMITED:
        return "rate_limited";
    case ERR_UNAUTHORIZED:
        return "unauthorized";
    case ERR_FORBIDDEN:
        return "forbidden";
    case ERR_NOT_FOUND:
        return "not_found";
    case ERR_CONFLICT:
        return "conflict";
    case ERR_INVALID:
        return "invalid";
    case ERR_INSUFFICIENT_CREDITS:
        return "insufficient_credits";
    case ERR_PERMANENT:
        return "permanent";
    }
    return "unknown";
}

int error_is_retryable(const struct error *err)
{
    return err && (err->kind == ERR_RETRYABLE || err->kind == ERR_RATE_LIMITED);
}
