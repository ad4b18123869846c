/*
 * Dashboard identity: verification of the signed `instance` query parameter
 * that the Wix dashboard adds when it opens one of the app's pages.
 *
 * The parameter is "<signature>.<data>". data is the base64url JSON payload
 * and signature is base64url(HMAC-SHA256(app secret, data as its base64url
 * text)), both without padding. A verified string vouches for one
 * instanceId, and nothing else the browser sends may be trusted for that.
 */
#ifndef SITESMITH_AUTH_INSTANCE_H
#define SITESMITH_AUTH_INSTANCE_H

#include "core/error.h"

#include <stdint.h>

/* Maximum length of an accepted instance string, far above real ones. */
#define AUTH_INSTANCE_MAX_LEN 8192

/* Default age after signDate past which a string without an
 * expirationDate is stale: 4 hours, the gap in Wix's own example. */
#define AUTH_INSTANCE_DEFAULT_MAX_AGE_MS (4LL * 60 * 60 * 1000)

/* How far signDate may lie in the future of our clock (clock skew). */
#define AUTH_INSTANCE_MAX_SKEW_MS (5LL * 60 * 1000)

struct auth_instance_options {
    const char *app_secret; /* required */
    const char *app_id;     /* when set, appDefId must equal it */
    int64_t max_age_ms;     /* 0: AUTH_INSTANCE_DEFAULT_MAX_AGE_MS */
};

/* Identity vouched for by a verified instance string. Absent fields are "". */
struct auth_instance {
    char instance_id[128];
    char app_def_id[128];
    char uid[128];        /* the Wix user who opened the page */
    char permissions[32]; /* e.g. "OWNER" */
    char site_owner_id[128];
    char vendor_product_id[128]; /* the plan id; "" on the free plan */
    int64_t sign_ms;             /* signDate */
    int64_t expires_ms;          /* expirationDate, or signDate + max age */
};

/*
 * Verifies instance (a NUL-terminated string from an untrusted caller)
 * and fills out with what it vouches for.
 *
 * Rejects, with ERR_UNAUTHORIZED and a message saying why: a string that
 * is not "<signature>.<data>" with valid base64url parts and a JSON object
 * payload, a wrong signature (including one made with another app's
 * secret; the comparison runs in constant time), a missing appDefId or one
 * other than opts->app_id when that is set, a payload without instanceId, a
 * signDate more than AUTH_INSTANCE_MAX_SKEW_MS ahead of clock_now_ms(), a
 * string past its expirationDate or, without one, older than the maximum age,
 * and an anonymous visitor (an `aid` without a `uid`), who may not open the
 * dashboard. Sets ERR_INVALID when opts has no app secret.
 *
 * Allocates nothing that outlives the call. Any thread may call it.
 */
int auth_instance_verify(const struct auth_instance_options *opts,
                         const char *instance, struct auth_instance *out,
                         struct error *err);

#endif
