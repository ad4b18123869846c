#include "auth/token.h"

#include "auth/token_request.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/store.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_BUCKETS 256

/*
 * One site's cached token and the state of its token request. A thread that
 * finds a request in flight waits on done instead of sending its own.
 */
struct entry {
    struct entry *next;
    char instance_id[STORE_ID_MAX];
    struct token cached; /* access_token "" when none */
    int refreshing;      /* a thread is getting a new token */
    uint64_t flights;    /* finished requests, so waiters see theirs end */
    int last_failed;     /* the last finished request failed */
    struct error last_error;
    pthread_cond_t done;
};

struct token_provider {
    pthread_mutex_t lock; /* guards the entries */
    struct entry *buckets[ENTRY_BUCKETS];
    struct store *store; /* borrowed, may be NULL */
    struct token_request_config request;
    int64_t margin_ms;
};

/* Cached tokens that a caller rejects. */
struct want {
    const char *rejected; /* this exact token is not wanted, or NULL */
    int reject_stored;    /* nor whatever the store has cached */
};

static int64_t effective_margin(const struct token_provider *provider,
                                const struct token *token)
{
    int64_t lifetime = token->expires_ms - token->obtained_ms;

    /* A margin as long as the token's life would refresh it on each use. */
    if (lifetime < 2 * provider->margin_ms)
        return lifetime / 4;
    return provider->margin_ms;
}

static int usable(const struct token_provider *provider,
                  const struct token *token, const char *rejected)
{
    if (token->access_token[0] == '\0')
        return 0;
    if (rejected && strcmp(token->access_token, rejected) == 0)
        return 0;
    return clock_now_ms() <
           token->expires_ms - effective_margin(provider, token);
}

void token_clear(struct token *token)
{
    if (token)
        sodium_memzero(token, sizeof(*token));
}

static int check_instance_id(const char *instance_id, struct error *err)
{
    size_t length = instance_id ? strlen(instance_id) : 0;

    if (length == 0)
        return error_set(err, ERR_INVALID, "instance id is missing");
    if (length >= STORE_ID_MAX)
        return error_set(err, ERR_INVALID,
                         "instance id is longer than %d bytes",
                         STORE_ID_MAX - 1);
    for (size_t i = 0; i < length; i++)
        if (instance_id[i] <= ' ' || instance_id[i] == 0x7f)
            return error_set(err, ERR_INVALID,
                             "instance id \"%.64s\" contains a space or a "
                             "control character",
                             instance_id);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Creating and freeing                                                */
/* ------------------------------------------------------------------ */

static int read_config(const struct config *cfg, struct token_provider *p,
                       struct error *err)
{
    struct token_request_config *request = &p->request;
    const char *app_id = config_get(cfg, "SITESMITH_WIX_APP_ID");
    const char *secret = config_get(cfg, "SITESMITH_WIX_APP_SECRET");

    if (!app_id || strlen(app_id) >= sizeof(request->app_id))
        return error_set(err, ERR_INVALID,
                         "SITESMITH_WIX_APP_ID: %s: set it to the app id "
                         "from the Wix app dashboard",
                         app_id ? "too long" : "missing");
    if (!secret || strlen(secret) >= sizeof(request->app_secret))
        return error_set(err, ERR_INVALID,
                         "SITESMITH_WIX_APP_SECRET: %s: set it to the app "
                         "secret from the Wix app dashboard",
                         secret ? "too long" : "missing");
    snprintf(request->app_id, sizeof(request->app_id), "%s", app_id);
    snprintf(request->app_secret, sizeof(request->app_secret), "%s", secret);
    log_add_secret(secret);

    if (config_get_url(cfg, "SITESMITH_WIX_API_URL", TOKEN_DEFAULT_API_URL,
                       request->api_url, sizeof(request->api_url), err) < 0 ||
        config_get_duration_ms(cfg, "SITESMITH_TOKEN_REFRESH_MARGIN",
                               TOKEN_DEFAULT_MARGIN_MS, &p->margin_ms, err) < 0)
        return -1;
    request->timeout_ms = TOKEN_REQUEST_TIMEOUT_MS;
    return 0;
}

struct token_provider *token_provider_new(const struct config *cfg,
                                          struct store *store,
                                          struct error *err)
{
    struct token_provider *provider = calloc(1, sizeof(*provider));

    if (!provider) {
        error_set(err, ERR_RETRYABLE, "out of memory");
        return NULL;
    }
    if (read_config(cfg, provider, err) < 0) {
        sodium_memzero(provider, sizeof(*provider));
        free(provider);
        return NULL;
    }
    pthread_mutex_init(&provider->lock, NULL);
    provider->store = store;
    return provider;
}

void token_provider_free(struct token_provider *provider)
{
    if (!provider)
        return;
    for (size_t i = 0; i < ENTRY_BUCKETS; i++) {
        struct entry *e = provider->buckets[i];

        while (e) {
            struct entry *next = e->next;

            pthread_cond_destroy(&e->done);
            sodium_memzero(e, sizeof(*e));
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&provider->lock);
    sodium_memzero(provider, sizeof(*provider));
    free(provider);
}

/* Caller holds provider->lock. Returns NULL when out of memory. */
static struct entry *find_entry(struct token_provider *provider,
                                const char *instance_id, int create)
{
    size_t bucket = 5381;
    struct entry *e;

    for (const char *c = instance_id; *c; c++)
        bucket = bucket * 33 + (unsigned char)*c;
    bucket %= ENTRY_BUCKETS;
    for (e = provider->buckets[bucket]; e; e = e->next)
        if (strcmp(e->instance_id, instance_id) == 0)
            return e;
    if (!create)
        return NULL;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    snprintf(e->instance_id, sizeof(e->instance_id), "%s", instance_id);
    pthread_cond_init(&e->done, NULL);
    e->next = provider->buckets[bucket];
    provider->buckets[bucket] = e;
    return e;
}

/* ------------------------------------------------------------------ */
/* Getting a token through the store                                   */
/* ------------------------------------------------------------------ */

/* Reads the store's cached token into out: 1 found, 0 none, -1 error. */
static int read_stored(struct store_tx *tx, const char *instance_id,
                       struct token *out, struct error *err)
{
    char *text = NULL;
    int found;

    memset(out, 0, sizeof(*out));
    found = store_token_get(tx, instance_id, &text, &out->expires_ms,
                            &out->obtained_ms, err);
    if (found != 1)
        return found;
    log_add_secret(text);
    if (strlen(text) < sizeof(out->access_token))
        memcpy(out->access_token, text, strlen(text) + 1);
    else
        found = 0;
    sodium_memzero(text, strlen(text));
    free(text);
    return found;
}

static int stored_is_wanted(const struct token_provider *provider,
                            const struct token *stored, const struct want *want)
{
    return !want->reject_stored && usable(provider, stored, want->rejected);
}

/* Reads the legacy refresh token: 1 found (*out to free), 0 none. */
static int read_refresh_token(struct store_tx *tx, const char *instance_id,
                              char **out, struct error *err)
{
    int found =
        store_secret_get(tx, instance_id, TOKEN_REFRESH_SECRET, out, err);

    if (found == 1)
        log_add_secret(*out);
    return found;
}

/*
 * Writes the new token and, when Wix sent a different one, the refresh
 * token. NOTE: a crash between Wix's response and the commit loses a
 * changed refresh token. Wix documents no rotation, so the stored one is
 * expected to keep working.
 */
static int write_stored(struct store_tx *tx, const char *instance_id,
                        const struct token *token, const char *old_refresh,
                        const char *new_refresh, struct error *err)
{
    if (store_token_put(tx, instance_id, token->access_token, token->expires_ms,
                        token->obtained_ms, err) < 0)
        return -1;
    if (new_refresh && (!old_refresh || strcmp(old_refresh, new_refresh)))
        return store_secret_put(tx, instance_id, TOKEN_REFRESH_SECRET,
                                new_refresh, err);
    return 0;
}

static void free_secret(char *secret)
{
    if (!secret)
        return;
    sodium_memzero(secret, strlen(secret));
    free(secret);
}

/*
 * PostgreSQL: one process at a time per site. Under the lock, a token that
 * another process got while this one waited is taken instead of asking Wix
 * again. The lock is held for the token request, so other processes wait
 * for its result; the request's timeout bounds that wait.
 */
static int get_locked(struct token_provider *provider, const char *instance_id,
                      const struct want *want, struct token *out,
                      struct error *err)
{
    char key[STORE_ID_MAX + 16];
    char *refresh = NULL;
    char *new_refresh = NULL;
    struct store_tx *tx;
    int found;

    tx = store_begin(provider->store, err);
    if (!tx)
        return -1;
    snprintf(key, sizeof(key), "wix-token:%s", instance_id);
    if (store_lock_key(tx, key, err) < 0)
        goto fail;
    found = read_stored(tx, instance_id, out, err);
    if (found < 0)
        goto fail;
    if (found && stored_is_wanted(provider, out, want)) {
        store_rollback(tx);
        return 0;
    }

    if (read_refresh_token(tx, instance_id, &refresh, err) < 0 ||
        token_request(&provider->request, instance_id, refresh, out,
                      &new_refresh, err) < 0 ||
        write_stored(tx, instance_id, out, refresh, new_refresh, err) < 0)
        goto fail;
    free_secret(refresh);
    free_secret(new_refresh);
    return store_commit(tx, err);

fail:
    store_rollback(tx);
    free_secret(refresh);
    free_secret(new_refresh);
    token_clear(out);
    return -1;
}

/*
 * SQLite: the token request runs outside any transaction, because a write
 * transaction would stop every other writer for its length. Processes
 * sharing one SQLite file may then each ask for a token.
 */
static int get_unlocked(struct token_provider *provider,
                        const char *instance_id, const struct want *want,
                        struct token *out, struct error *err)
{
    char *refresh = NULL;
    char *new_refresh = NULL;
    struct store_tx *tx;
    int found;

    tx = store_begin_read(provider->store, err);
    if (!tx)
        return -1;
    found = read_stored(tx, instance_id, out, err);
    if (found == 1 && stored_is_wanted(provider, out, want)) {
        store_rollback(tx);
        return 0;
    }
    if (found >= 0)
        found = read_refresh_token(tx, instance_id, &refresh, err);
    store_rollback(tx);
    if (found < 0)
        goto fail;

    if (token_request(&provider->request, instance_id, refresh, out,
                      &new_refresh, err) < 0)
        goto fail;
    tx = store_begin(provider->store, err);
    if (!tx ||
        write_stored(tx, instance_id, out, refresh, new_refresh, err) < 0) {
        store_rollback(tx);
        goto fail;
    }
    free_secret(refresh);
    free_secret(new_refresh);
    return store_commit(tx, err);

fail:
    free_secret(refresh);
    free_secret(new_refresh);
    token_clear(out);
    return -1;
}

/* Gets a token from the store or from Wix; runs once per flight. */
static int get_uncached(struct token_provider *provider,
                        const char *instance_id, const struct want *want,
                        struct token *out, struct error *err)
{
    if (!provider->store)
        return token_request(&provider->request, instance_id, NULL, out, NULL,
                             err);
    if (store_backend(provider->store) == STORE_POSTGRES)
        return get_locked(provider, instance_id, want, out, err);
    return get_unlocked(provider, instance_id, want, out, err);
}

/* ------------------------------------------------------------------ */
/* Single-flight in the process                                        */
/* ------------------------------------------------------------------ */

/* Caller holds the lock: publishes a finished flight to its waiters. */
static void finish_flight(struct entry *e, int rc, const struct token *fresh,
                          const struct error *flight_err)
{
    if (rc == 0)
        e->cached = *fresh;
    /* Wix no longer issues tokens for the site (the app was removed), so
     * the cached one is dropped rather than tried again. */
    if (rc < 0 && strcmp(flight_err->code, "token_rejected") == 0)
        token_clear(&e->cached);
    e->last_failed = rc < 0;
    e->last_error = *flight_err;
    e->flights++;
    e->refreshing = 0;
    pthread_cond_broadcast(&e->done);
}

static int acquire(struct token_provider *provider, const char *instance_id,
                   const struct want *want, struct token *out,
                   struct error *err)
{
    struct token fresh;
    struct error flight_err;
    struct entry *e;
    int rc;

    pthread_mutex_lock(&provider->lock);
    e = find_entry(provider, instance_id, 1);
    if (!e) {
        pthread_mutex_unlock(&provider->lock);
        return error_set(err, ERR_RETRYABLE, "out of memory");
    }
    for (;;) {
        uint64_t seen = e->flights;

        if (usable(provider, &e->cached, want->rejected)) {
            *out = e->cached;
            pthread_mutex_unlock(&provider->lock);
            return 0;
        }
        if (!e->refreshing)
            break;

        /* Share the request in flight, and its failure too: a thousand
         * callers must not each try again at once. */
        while (e->refreshing && e->flights == seen)
            pthread_cond_wait(&e->done, &provider->lock);
        if (e->last_failed) {
            if (err)
                *err = e->last_error;
            pthread_mutex_unlock(&provider->lock);
            return -1;
        }
    }
    e->refreshing = 1;
    pthread_mutex_unlock(&provider->lock);

    error_clear(&flight_err);
    rc = get_uncached(provider, instance_id, want, &fresh, &flight_err);

    pthread_mutex_lock(&provider->lock);
    finish_flight(e, rc, &fresh, &flight_err);
    pthread_mutex_unlock(&provider->lock);
    if (rc == 0)
        *out = fresh;
    else if (err)
        *err = flight_err;
    token_clear(&fresh);
    return rc;
}

int token_get(struct token_provider *provider, const char *instance_id,
              unsigned flags, struct token *out, struct error *err)
{
    struct want want = {0};
    struct token start;
    struct entry *e;
    int rc;

    memset(out, 0, sizeof(*out));
    if (check_instance_id(instance_id, err) < 0)
        return -1;
    if (!(flags & TOKEN_FORCE_REFRESH))
        return acquire(provider, instance_id, &want, out, err);

    /* Forced: reject what this process has cached now. With nothing
     * cached here, reject what the store has cached too. */
    memset(&start, 0, sizeof(start));
    pthread_mutex_lock(&provider->lock);
    e = find_entry(provider, instance_id, 0);
    if (e)
        start = e->cached;
    pthread_mutex_unlock(&provider->lock);
    if (start.access_token[0])
        want.rejected = start.access_token;
    else
        want.reject_stored = 1;
    rc = acquire(provider, instance_id, &want, out, err);
    token_clear(&start);
    return rc;
}

int token_refresh(struct token_provider *provider, const char *instance_id,
                  const char *rejected, struct token *out, struct error *err)
{
    struct want want = {.rejected = rejected};

    memset(out, 0, sizeof(*out));
    if (check_instance_id(instance_id, err) < 0)
        return -1;
    if (!rejected || !rejected[0])
        return token_get(provider, instance_id, TOKEN_FORCE_REFRESH, out, err);
    return acquire(provider, instance_id, &want, out, err);
}

int token_forget(struct token_provider *provider, const char *instance_id,
                 struct error *err)
{
    struct store_tx *tx;
    struct entry *e;

    if (check_instance_id(instance_id, err) < 0)
        return -1;
    pthread_mutex_lock(&provider->lock);
    e = find_entry(provider, instance_id, 0);
    if (e)
        token_clear(&e->cached);
    pthread_mutex_unlock(&provider->lock);
    if (!provider->store)
        return 0;

    tx = store_begin(provider->store, err);
    if (!tx)
        return -1;
    if (store_token_delete(tx, instance_id, err) < 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}
