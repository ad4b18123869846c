/*
 * Cached access tokens and named instance secrets, sealed with the store's
 * secret key before they reach the database.
 */
#include "store/store_internal.h"

#include "core/clock.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

char *store_seal(struct store *st, const char *plaintext, struct error *err)
{
    char *sealed;

    if (!st->has_key) {
        error_set(err, ERR_INVALID,
                  "SITESMITH_SECRET_KEY is not set; set it to 64 hex "
                  "characters (32 random bytes) to store secrets");
        return NULL;
    }
    sealed = crypto_seal(st->key, plaintext);
    if (!sealed)
        error_set(err, ERR_PERMANENT, "out of memory while sealing a secret");
    return sealed;
}

char *store_unseal(struct store *st, const char *sealed, struct error *err)
{
    char *plain;

    if (!st->has_key) {
        error_set(err, ERR_INVALID,
                  "SITESMITH_SECRET_KEY is not set; set it to the key the "
                  "secrets were stored with");
        return NULL;
    }
    plain = crypto_open(st->key, sealed, err);
    if (!plain)
        error_prefix(err, "cannot open a stored secret (was "
                          "SITESMITH_SECRET_KEY changed?)");
    return plain;
}

int store_token_put(struct store_tx *tx, const char *instance_id,
                    const char *token, int64_t expires_at_ms,
                    int64_t obtained_at_ms, struct error *err)
{
    char *sealed = store_seal(tx->st, token, err);
    int rc;

    if (!sealed)
        return -1;
    rc = store_run(tx,
                   "INSERT INTO access_tokens (instance_id, sealed_token, "
                   "expires_at, obtained_at) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (instance_id) DO UPDATE SET "
                   "sealed_token = excluded.sealed_token, "
                   "expires_at = excluded.expires_at, "
                   "obtained_at = excluded.obtained_at",
                   STORE_ARGS(STORE_TEXT(instance_id), STORE_TEXT(sealed),
                              STORE_INT(expires_at_ms),
                              STORE_INT(obtained_at_ms)),
                   NULL, err);
    free(sealed);
    return rc;
}

int store_token_get(struct store_tx *tx, const char *instance_id, char **token,
                    int64_t *expires_at_ms, int64_t *obtained_at_ms,
                    struct error *err)
{
    struct store_stmt *stmt = store_query(
        tx,
        "SELECT sealed_token, expires_at, obtained_at FROM access_tokens "
        "WHERE instance_id = ?",
        STORE_ARGS(STORE_TEXT(instance_id)), err);
    int rc;

    if (!stmt)
        return -1;
    rc = store_step(stmt, err);
    if (rc == 1) {
        *token = store_unseal(tx->st, store_column_text(stmt, 0), err);
        if (!*token)
            rc = -1;
        if (expires_at_ms)
            *expires_at_ms = store_column_int(stmt, 1);
        if (obtained_at_ms)
            *obtained_at_ms = store_column_int(stmt, 2);
    }
    store_finalize(stmt);
    return rc;
}

int store_token_delete(struct store_tx *tx, const char *instance_id,
                       struct error *err)
{
    return store_run(tx, "DELETE FROM access_tokens WHERE instance_id = ?",
                     STORE_ARGS(STORE_TEXT(instance_id)), NULL, err);
}

int store_secret_put(struct store_tx *tx, const char *instance_id,
                     const char *name, const char *value, struct error *err)
{
    char *sealed = store_seal(tx->st, value, err);
    int rc;

    if (!sealed)
        return -1;
    rc = store_run(tx,
                   "INSERT INTO instance_secrets (instance_id, name, "
                   "sealed_value, updated_at) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (instance_id, name) DO UPDATE SET "
                   "sealed_value = excluded.sealed_value, "
                   "updated_at = excluded.updated_at",
                   STORE_ARGS(STORE_TEXT(instance_id), STORE_TEXT(name),
                              STORE_TEXT(sealed), STORE_INT(clock_now_ms())),
                   NULL, err);
    free(sealed);
    return rc;
}

int store_secret_get(struct store_tx *tx, const char *instance_id,
                     const char *name, char **value, struct error *err)
{
    char *sealed = NULL;
    int rc = store_query_text(
        tx,
        "SELECT sealed_value FROM instance_secrets "
        "WHERE instance_id = ? AND name = ?",
        STORE_ARGS(STORE_TEXT(instance_id), STORE_TEXT(name)), &sealed, err);

    if (rc == 1) {
        *value = store_unseal(tx->st, sealed, err);
        if (!*value)
            rc = -1;
    }
    free(sealed);
    return rc;
}

int store_secret_delete(struct store_tx *tx, const char *instance_id,
                        const char *name, struct error *err)
{
    if (!name)
        return store_run(tx,
                         "DELETE FROM instance_secrets WHERE instance_id = ?",
                         STORE_ARGS(STORE_TEXT(instance_id)), NULL, err);
    return store_run(tx,
                     "DELETE FROM instance_secrets WHERE instance_id = ? AND "
                     "name = ?",
                     STORE_ARGS(STORE_TEXT(instance_id), STORE_TEXT(name)),
                     NULL, err);
}
