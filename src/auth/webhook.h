/*
 * Webhook identity: verification of the JWT that Wix posts to the app's
 * webhook URL.
 *
 * The whole request body is a JWT signed with RS256 by Wix's key for the
 * app; the app dashboard shows the public half. Its claims nest three JSON
 * layers:
 *
 *   claims   {"data": "<envelope as a JSON string>", "iat": S, "exp": S}
 *   envelope {"eventType", "instanceId", "data": "<payload as a JSON
 *             string>", "identity"?}
 *   payload  the event's fields, e.g. {"appId", "originInstanceId"}
 *
 * Only RS256 is accepted: a header naming "none", an HMAC algorithm or any
 * other one is rejected before any key is used, so a token signed with the
 * public key as an HMAC secret cannot pass.
 */
#ifndef SITESMITH_AUTH_WEBHOOK_H
#define SITESMITH_AUTH_WEBHOOK_H

#include "core/error.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Longest accepted JWT; Wix's events are a few kilobytes. */
#define AUTH_WEBHOOK_MAX_LEN (128 * 1024)

/* Default clock skew allowed around iat and exp. */
#define AUTH_WEBHOOK_DEFAULT_LEEWAY_MS (5LL * 60 * 1000)

/* Smallest RSA key accepted, in bits. */
#define AUTH_WEBHOOK_MIN_KEY_BITS 2048

struct auth_webhook_key;

struct auth_webhook_options {
    const char *app_id;    /* when set, a payload's appId must equal it */
    int ignore_expiration; /* accept a JWT past its exp, as Wix's own
                              example does */
    int64_t leeway_ms;     /* 0: AUTH_WEBHOOK_DEFAULT_LEEWAY_MS */
};

/* A verified event. Absent text fields are "". */
struct auth_webhook {
    char event_type[64]; /* "AppInstalled", "PaidPlanChanged", ... */
    char instance_id[128];
    /*
     * SHA-256 (hex) of the iat claim and the envelope text, so a repeated
     * delivery of the same JWT gets the same key, while a new event (a
     * second install of the same site) gets a new iat. NOTE: whether Wix
     * re-signs a retry with a new iat is undocumented; the event handlers
     * are idempotent for that case.
     */
    char event_key[65];
    int64_t issued_ms;  /* iat in milliseconds, 0 when absent */
    int64_t expires_ms; /* exp in milliseconds, 0 when absent */
    json_t *payload;    /* the innermost object, owned; {} when absent */
};

/*
 * Loads an RSA public key of at least AUTH_WEBHOOK_MIN_KEY_BITS bits. text
 * is PEM ("-----BEGIN PUBLIC KEY-----" or "-----BEGIN RSA PUBLIC
 * KEY-----") or the path of a file with such PEM. In PEM text, the two
 * characters "\n" may replace line breaks, which one-line environment
 * values need. Returns NULL with err set (ERR_INVALID naming what is
 * wrong). Free with auth_webhook_key_free(). Any thread may use the key.
 */
struct auth_webhook_key *auth_webhook_key_load(const char *text,
                                               struct error *err);

void auth_webhook_key_free(struct auth_webhook_key *key);

/*
 * Verifies jwt (length bytes from an untrusted caller, need not be
 * NUL-terminated) and fills out with the event it carries.
 *
 * Rejects, with ERR_UNAUTHORIZED and a message saying why: a body that is
 * not three base64url parts, a header whose alg is not RS256 or that lists
 * "crit" extensions, a signature that this key did not make, claims
 * without a "data" string, an exp more than the leeway in the past (unless
 * opts->ignore_expiration), an iat more than the leeway in the future, and
 * a payload whose appId differs from opts->app_id. An envelope or payload
 * that is not JSON, or an envelope without eventType, fails with
 * ERR_INVALID. Free out with auth_webhook_clear(), also after a failure.
 * Any thread may call it.
 */
int auth_webhook_verify(const struct auth_webhook_key *key,
                        const struct auth_webhook_options *opts,
                        const char *jwt, size_t length,
                        struct auth_webhook *out, struct error *err);

/* Releases the payload; accepts a zeroed struct. */
void auth_webhook_clear(struct auth_webhook *event);

#endif
