/*
 * One error type for the whole product. Library layers fill a struct error
 * and return -1; the caller that decides what to do logs it once.
 */
#ifndef SITESMITH_CORE_ERROR_H
#define SITESMITH_CORE_ERROR_H

#include <stdint.h>

/* The kinds that callers act on. Keep error_kind_name() in step. */
enum error_kind {
    ERR_NONE = 0,
    ERR_RETRYABLE,    /* try again later, maybe after retry_after_ms */
    ERR_RATE_LIMITED, /* 429: wait retry_after_ms, then try again */
    ERR_UNAUTHORIZED, /* token missing, invalid or expired */
    ERR_FORBIDDEN,    /* authenticated but lacks a permission */
    ERR_NOT_FOUND,
    ERR_CONFLICT, /* stale revision, already exists */
    ERR_INVALID,  /* bad input: the caller must change it */
    ERR_INSUFFICIENT_CREDITS,
    ERR_PERMANENT, /* will fail the same way every time */
};

#define ERROR_MESSAGE_MAX 512
#define ERROR_REQUEST_ID_MAX 128

struct error {
    enum error_kind kind;
    int http_status;        /* upstream status, 0 when none */
    int64_t retry_after_ms; /* -1 when the upstream gave no wait */
    char code[64];          /* upstream or product error code, may be "" */
    char request_id[ERROR_REQUEST_ID_MAX]; /* upstream request id, or "" */
    char message[ERROR_MESSAGE_MAX];
};

/* Resets err to "no error". Accepts NULL. */
void error_clear(struct error *err);

/*
 * Sets kind and a printf-style message, keeps nothing of the previous error,
 * and returns -1 so that callers can write "return error_set(...)".
 * Accepts a NULL err (the error is then dropped).
 */
int error_set(struct error *err, enum error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "prefix: " in front of the current message, keeping the kind. */
void error_prefix(struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Stable lower-case name of a kind, e.g. "rate_limited". */
const char *error_kind_name(enum error_kind kind);

/* True for the kinds a queue should retry: retryable and rate limited. */
int error_is_retryable(const struct error *err);

#endif
