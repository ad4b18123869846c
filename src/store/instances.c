/* Sites that installed the app: state, plan and settings. */
#include "store/store_internal.h"

#include "core/clock.h"

#include <stdlib.h>
#include <string.h>

static int check_state(const char *state, struct error *err)
{
    if (strcmp(state, "installed") != 0 && strcmp(state, "removed") != 0)
        return error_set(err, ERR_INVALID,
                         "instance state \"%s\" is invalid: expected "
                         "installed or removed",
                         state);
    return 0;
}

int store_instance_put(struct store_tx *tx, const char *instance_id,
                       const char *state, const char *plan,
                       const char *settings, struct error *err)
{
    int64_t now = clock_now_ms();

    if (check_state(state, err) != 0)
        return -1;
    return store_run(
        tx,
        "INSERT INTO instances (instance_id, state, plan, settings, "
        "created_at, updated_at) VALUES (?, ?, ?, COALESCE(?, '{}'), ?, ?) "
        "ON CONFLICT (instance_id) DO UPDATE SET state = excluded.state, "
        "plan = excluded.plan, "
        "settings = COALESCE(?, instances.settings), "
        "updated_at = excluded.updated_at",
        STORE_ARGS(STORE_TEXT(instance_id), STORE_TEXT(state),
                   STORE_TEXT(plan ? plan : ""), STORE_TEXT(settings),
                   STORE_INT(now), STORE_INT(now), STORE_TEXT(settings)),
        NULL, err);
}

int store_instance_get(struct store_tx *tx, const char *instance_id,
                       struct store_instance *out, struct error *err)
{
    struct store_stmt *stmt =
        store_query(tx,
                    "SELECT state, plan, settings, created_at, updated_at "
                    "FROM instances WHERE instance_id = ?",
                    STORE_ARGS(STORE_TEXT(instance_id)), err);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!stmt)
        return -1;
    rc = store_step(stmt, err);
    if (rc == 1) {
        store_copy(out->instance_id, sizeof(out->instance_id), instance_id);
        store_copy(out->state, sizeof(out->state), store_column_text(stmt, 0));
        store_copy(out->plan, sizeof(out->plan), store_column_text(stmt, 1));
        out->settings = store_column_dup(stmt, 2);
        out->created_at_ms = store_column_int(stmt, 3);
        out->updated_at_ms = store_column_int(stmt, 4);
        if (!out->settings)
            rc = error_set(err, ERR_PERMANENT, "out of memory");
    }
    store_finalize(stmt);
    return rc;
}

int store_instance_set_settings(struct store_tx *tx, const char *instance_id,
                                const char *settings, struct error *err)
{
    int64_t changes = 0;

    if (store_run(tx,
                  "UPDATE instances SET settings = ?, updated_at = ? "
                  "WHERE instance_id = ?",
                  STORE_ARGS(STORE_TEXT(settings), STORE_INT(clock_now_ms()),
                             STORE_TEXT(instance_id)),
                  &changes, err) != 0)
        return -1;
    if (changes == 0)
        return error_set(err, ERR_NOT_FOUND, "instance \"%s\" not found",
                         instance_id);
    return 0;
}

void store_instance_clear(struct store_instance *instance)
{
    free(instance->settings);
    instance->settings = NULL;
}
