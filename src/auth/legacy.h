/*
 * The code exchange of Wix's legacy install flow ("custom
 * authentication"), which Wix keeps for apps made before OAuth:
 *
 *   1. Wix opens the app's install URL with ?token=...; the app sends the
 *      browser to Wix's installer with that token, its app id, its
 *      redirect URL and a state value.
 *   2. After the owner agrees, Wix opens the redirect URL with code,
 *      state and instanceId.
 *   3. The app exchanges the code (POST /oauth/access, grant_type
 *      authorization_code) for an access token and a refresh token.
 *
 * Later access tokens come from the refresh token (see auth/token.h).
 */
#ifndef SITESMITH_AUTH_LEGACY_H
#define SITESMITH_AUTH_LEGACY_H

#include "auth/token.h"
#include "core/error.h"

#include <stdint.h>

struct auth_legacy_config {
    const char *api_url;    /* SITESMITH_WIX_API_URL, no trailing slash */
    const char *app_id;     /* SITESMITH_WIX_APP_ID */
    const char *app_secret; /* SITESMITH_WIX_APP_SECRET */
    int64_t timeout_ms;     /* 0: 30 s */
};

/* What the exchange returns. Wipe it with auth_legacy_clear(). */
struct auth_legacy_tokens {
    struct token access;   /* expires after TOKEN_LEGACY_LIFETIME_MS */
    char *refresh_token;   /* owned */
    char instance_id[128]; /* the site the token is for, per token-info */
};

/*
 * Exchanges an authorization code for tokens, then asks Wix which site
 * the access token belongs to (POST /oauth2/token-info), so that the
 * caller never trusts the instanceId in the redirect's query string.
 * Registers both tokens with log_add_secret() as soon as they arrive.
 *
 * Errors: ERR_UNAUTHORIZED when Wix rejects the code (unknown, used or
 * expired: codes live 10 minutes) or reports the token inactive;
 * ERR_RETRYABLE for network failures, 5xx and unusable bodies. Any thread
 * may call it.
 */
int auth_legacy_exchange(const struct auth_legacy_config *cfg, const char *code,
                         struct auth_legacy_tokens *out, struct error *err);

/* Wipes and frees the tokens; accepts a zeroed struct. */
void auth_legacy_clear(struct auth_legacy_tokens *tokens);

#endif
