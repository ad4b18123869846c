/*
 * The token provider: the one owner of Wix access tokens and their expiry.
 *
 * Code that calls Wix requests a token from token_get() at the start of each
 * unit of work, builds a Wix client from it, and drops both when the unit
 * ends (see wix/wix.h, wix_run()). Nothing else keeps a token. The provider
 * caches tokens in memory and, when given a store, in the database, and it
 * never hands out a token that expires within the refresh margin.
 *
 * Concurrent requests for one site share one token request: threads of a
 * process wait on the request in flight, and with PostgreSQL the processes
 * take a per-site lock in the database and re-read the cached row under it.
 *
 * Every expiry decision reads clock_now_ms(). Every token and refresh token
 * is registered with log_add_secret() as soon as it is received or read.
 */
#ifndef SITESMITH_AUTH_TOKEN_H
#define SITESMITH_AUTH_TOKEN_H

#include "core/config.h"
#include "core/error.h"

#include <stdint.h>

struct store;
struct token_provider;

/* Maximum length of an access token, with its NUL; longer ones are
 * rejected. */
#define TOKEN_MAX_LEN 4096

/* Default refresh margin (SITESMITH_TOKEN_REFRESH_MARGIN). */
#define TOKEN_DEFAULT_MARGIN_MS (5LL * 60 * 1000)

/* Lifetime of a legacy token, whose response has no expires_in. */
#define TOKEN_LEGACY_LIFETIME_MS (5LL * 60 * 1000)

/* Name of the per-instance secret that stores a legacy refresh token. */
#define TOKEN_REFRESH_SECRET "wix_refresh_token"

/* token_get() flags. */
enum {
    /* Never return the token that was cached when the call began. */
    TOKEN_FORCE_REFRESH = 1u << 0,
};

/* An access token for one site, copied out to the caller. */
struct token {
    char access_token[TOKEN_MAX_LEN];
    int64_t obtained_ms; /* clock_now_ms() when it was received */
    int64_t expires_ms;  /* obtained_ms + expires_in */
};

/*
 * Creates a provider from the configuration, read once here:
 *   SITESMITH_WIX_APP_ID, SITESMITH_WIX_APP_SECRET (required),
 *   SITESMITH_WIX_API_URL (default https://www.wixapis.com),
 *   SITESMITH_TOKEN_REFRESH_MARGIN (a duration, default 5m).
 * store may be NULL (tokens are then cached in memory only, and legacy
 * sites can't be served); it is borrowed and must outlive the provider.
 * Returns NULL with err set on an invalid or missing setting. Free with
 * token_provider_free() after every thread has stopped using it.
 */
struct token_provider *token_provider_new(const struct config *cfg,
                                          struct store *store,
                                          struct error *err);

void token_provider_free(struct token_provider *provider);

/*
 * Copies into out an access token for instance_id that stays valid for at
 * least the refresh margin, and requests a new one when the cached one does
 * not. For a token that lives less than twice the margin, a quarter of its
 * lifetime is the margin. With TOKEN_FORCE_REFRESH it never returns the
 * token that this process had cached when the call began.
 *
 * Never call it inside a store transaction: it may begin one of its own,
 * and on SQLite a second transaction on one thread waits forever.
 *
 * Errors: ERR_UNAUTHORIZED when Wix rejects the token request (the app was
 * removed from the site, or the app id or secret is wrong), ERR_RETRYABLE
 * or ERR_RATE_LIMITED when Wix or the network failed, and the store's
 * error when the database failed. Threads waiting on a shared request get
 * its error. Thread-safe. Wipe out with token_clear() when done.
 */
int token_get(struct token_provider *provider, const char *instance_id,
              unsigned flags, struct token *out, struct error *err);

/*
 * Like token_get(), for a caller whose token Wix has just rejected:
 * returns a token other than rejected, which is a token that another thread
 * or process already got in its place, or a new one. So many callers that
 * saw the same token rejected share one refresh. Thread-safe.
 */
int token_refresh(struct token_provider *provider, const char *instance_id,
                  const char *rejected, struct token *out, struct error *err);

/*
 * Forgets the cached token of instance_id in memory and in the store, e.g.
 * when the app was removed from the site. Thread-safe.
 */
int token_forget(struct token_provider *provider, const char *instance_id,
                 struct error *err);

/* Overwrites the token with zeros. */
void token_clear(struct token *token);

#endif
