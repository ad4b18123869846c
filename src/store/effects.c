/*
 * The effects ledger: one row per side effect on a remote service, written
 * before the remote call and completed with the remote id after it, so a
 * retried step can tell "never tried", "tried, outcome unknown" and "done"
 * apart.
 */
#include "store/store_internal.h"

#include "core/clock.h"

#include <stdlib.h>
#include <string.h>

static int read_effect(struct store_tx *tx, const char *key,
                       struct store_effect *out, struct error *err)
{
    struct store_stmt *stmt = store_query(
        tx,
        "SELECT key, instance_id, generation_id, remote_id, attempts, "
        "created_at, updated_at FROM effects WHERE key = ?",
        STORE_ARGS(STORE_TEXT(key)), err);
    int rc;

    if (!stmt)
        return -1;
    rc = store_step(stmt, err);
    if (rc == 1 && out) {
        memset(out, 0, sizeof(*out));
        store_copy(out->key, sizeof(out->key), store_column_text(stmt, 0));
        store_copy(out->instance_id, sizeof(out->instance_id),
                   store_column_text(stmt, 1));
        store_copy(out->generation_id, sizeof(out->generation_id),
                   store_column_text(stmt, 2));
        out->remote_id = store_column_dup(stmt, 3);
        out->attempts = (int)store_column_int(stmt, 4);
        out->created_at_ms = store_column_int(stmt, 5);
        out->updated_at_ms = store_column_int(stmt, 6);
    }
    store_finalize(stmt);
    return rc;
}

int store_effect_begin(struct store_tx *tx, const char *key,
                       const char *instance_id, const char *generation_id,
                       struct store_effect *out, struct error *err)
{
    int64_t now = clock_now_ms();
    int64_t changes = 0;

    if (strlen(key) >= STORE_ID_MAX * 2)
        return error_set(err, ERR_INVALID,
                         "effect key \"%.40s...\" is longer than %d bytes", key,
                         STORE_ID_MAX * 2 - 1);
    if (store_run(tx,
                  "INSERT INTO effects (key, instance_id, generation_id, "
                  "attempts, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?) "
                  "ON CONFLICT (key) DO NOTHING",
                  STORE_ARGS(STORE_TEXT(key), STORE_TEXT(instance_id),
                             STORE_TEXT(generation_id), STORE_INT(now),
                             STORE_INT(now)),
                  &changes, err) != 0)
        return -1;
    if (changes == 0 &&
        store_run(tx,
                  "UPDATE effects SET attempts = attempts + 1, updated_at = ? "
                  "WHERE key = ? AND remote_id IS NULL",
                  STORE_ARGS(STORE_INT(now), STORE_TEXT(key)), NULL, err) != 0)
        return -1;
    if (out && read_effect(tx, key, out, err) < 0)
        return -1;
    return changes > 0 ? 1 : 0;
}

int store_effect_done(struct store_tx *tx, const char *key,
                      const char *remote_id, struct error *err)
{
    int64_t changes = 0;

    if (store_run(tx,
                  "UPDATE effects SET remote_id = ?, updated_at = ? "
                  "WHERE key = ?",
                  STORE_ARGS(STORE_TEXT(remote_id), STORE_INT(clock_now_ms()),
                             STORE_TEXT(key)),
                  &changes, err) != 0)
        return -1;
    if (changes == 0)
        return error_set(err, ERR_NOT_FOUND,
                         "effect \"%s\" was not begun; call "
                         "store_effect_begin() before the remote call",
                         key);
    return 0;
}

int store_effect_get(struct store_tx *tx, const char *key,
                     struct store_effect *out, struct error *err)
{
    return read_effect(tx, key, out, err);
}

void store_effect_clear(struct store_effect *effect)
{
    free(effect->remote_id);
    effect->remote_id = NULL;
}
