/*
 * The token request to Wix OAuth, used by the token provider (token.c) and
 * by nothing else: code that needs a token calls token_get().
 */
#ifndef SITESMITH_AUTH_TOKEN_REQUEST_H
#define SITESMITH_AUTH_TOKEN_REQUEST_H

#include "auth/token.h"
#include "core/error.h"

#include <stdint.h>

#define TOKEN_DEFAULT_API_URL "https://www.wixapis.com"
#define TOKEN_REQUEST_TIMEOUT_MS (30LL * 1000)

/* Maximum lifetime accepted from expires_in; Wix documents 4 hours. */
#define TOKEN_MAX_LIFETIME_S (7LL * 24 * 60 * 60)

struct token_request_config {
    char api_url[512];
    char app_id[128];
    char app_secret[256];
    int64_t timeout_ms;
};

/*
 * Asks Wix for a new access token for instance_id: with the client
 * credentials grant (POST /oauth2/token) when refresh_token is NULL, else
 * with the legacy refresh token grant (POST /oauth/access). Fills out,
 * taking the lifetime from expires_in (a legacy response without one gets
 * TOKEN_LEGACY_LIFETIME_MS). When new_refresh is not NULL and Wix sent a
 * refresh token, *new_refresh receives a copy the caller frees.
 *
 * Errors: ERR_UNAUTHORIZED (code "token_rejected") for a 4xx other than
 * 408 and 429, ERR_RATE_LIMITED for 429, ERR_RETRYABLE for 5xx, network
 * failures and unusable 200 bodies. err->request_id receives Wix's request id.
 * Registers the tokens it receives with log_add_secret(). Thread-safe.
 */
int token_request(const struct token_request_config *cfg,
                  const char *instance_id, const char *refresh_token,
                  struct token *out, char **new_refresh, struct error *err);

#endif
