/*
 * The legacy install flow's stored parts: the single-use state parameter
 * and the tokens that the code exchange returns.
 */
#include "auth/token.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "pipelines/lifecycle.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int lifecycle_oauth_state_new(struct app *app, char state[33], char browser[33],
                              struct error *err)
{
    int64_t now = clock_now_ms();
    char browser_hash[65];
    struct store_tx *tx;

    crypto_random_hex(state, 16);
    crypto_random_hex(browser, 16);
    crypto_sha256_hex(browser, strlen(browser), browser_hash);
    tx = store_begin(app->store, err);
    /* Expired states are swept here, so the table stays small. */
    if (!tx ||
        store_run(tx, "DELETE FROM oauth_states WHERE expires_at <= ?",
                  STORE_ARGS(STORE_INT(now)), NULL, err) != 0 ||
        store_run(tx,
                  "INSERT INTO oauth_states (state, browser_hash, expires_at) "
                  "VALUES (?, ?, ?)",
                  STORE_ARGS(STORE_TEXT(state), STORE_TEXT(browser_hash),
                             STORE_INT(now + LIFECYCLE_OAUTH_STATE_TTL_MS)),
                  NULL, err) != 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}

int lifecycle_oauth_state_take(struct app *app, const char *state,
                               const char *browser, struct error *err)
{
    char browser_hash[65];
    struct store_tx *tx;
    int64_t deleted = 0;

    if (!state || strlen(state) != 32 || !browser || strlen(browser) != 32)
        return error_set(err, ERR_FORBIDDEN,
                         "the install's state is missing or malformed: start "
                         "the installation again from Wix");
    crypto_sha256_hex(browser, strlen(browser), browser_hash);
    tx = store_begin(app->store, err);
    if (!tx)
        return -1;
    if (store_run(tx,
                  "DELETE FROM oauth_states WHERE state = ? AND "
                  "browser_hash = ? AND expires_at > ?",
                  STORE_ARGS(STORE_TEXT(state), STORE_TEXT(browser_hash),
                             STORE_INT(clock_now_ms())),
                  &deleted, err) != 0) {
        store_rollback(tx);
        return -1;
    }
    if (store_commit(tx, err) != 0)
        return -1;
    if (deleted != 1)
        return error_set(err, ERR_FORBIDDEN,
                         "the install's state is unknown, used, expired or "
                         "from another browser: start the installation "
                         "again from Wix");
    return 0;
}

/* The settings JSON with the legacy mark added; the caller frees it. */
static char *mark_legacy(const char *settings)
{
    json_t *object = json_loads(settings ? settings : "{}", 0, NULL);
    char *text;

    if (!json_is_object(object)) {
        json_decref(object);
        object = json_object();
    }
    json_object_set_new(object, LIFECYCLE_LEGACY_SETTING, json_true());
    text = json_dumps(object, JSON_COMPACT);
    json_decref(object);
    return text;
}

int lifecycle_legacy_install(struct app *app, const char *instance_id,
                             const char *access_token, int64_t expires_ms,
                             const char *refresh_token, struct error *err)
{
    struct store_instance instance = {0};
    char *settings = NULL;
    struct store_tx *tx;
    int found;

    if (token_forget(app->tokens, instance_id, err) != 0)
        return -1;
    tx = store_begin(app->store, err);
    if (!tx)
        return -1;
    found = store_instance_get(tx, instance_id, &instance, err);
    if (found < 0)
        goto fail;
    settings = mark_legacy(found ? instance.settings : NULL);
    if (!settings) {
        error_set(err, ERR_PERMANENT, "out of memory");
        goto fail;
    }
    if (store_instance_put(tx, instance_id, "installed",
                           found ? instance.plan : "", settings, err) != 0 ||
        store_secret_put(tx, instance_id, TOKEN_REFRESH_SECRET, refresh_token,
                         err) != 0 ||
        store_token_put(tx, instance_id, access_token, expires_ms,
                        clock_now_ms(), err) != 0)
        goto fail;
    store_instance_clear(&instance);
    free(settings);
    return store_commit(tx, err);

fail:
    store_rollback(tx);
    store_instance_clear(&instance);
    free(settings);
    return -1;
}
