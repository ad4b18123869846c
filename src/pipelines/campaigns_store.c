/*
 * The campaigns' tables: campaigns and their planned posts, and the
 * campaigns.due jobs that fire the posts.
 */
#include "pipelines/campaigns_internal.h"

#include "core/clock.h"
#include "core/crypto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* campaign_posts_due serves the search for due posts; the unique slot
 * index makes planning the same occurrence twice a no-op. */
static const struct store_migration migrations[] = {
    {
        .version = 1,
        .name = "campaigns",
        .sql = "CREATE TABLE campaigns ("
               " id TEXT PRIMARY KEY,"
               " instance_id TEXT NOT NULL,"
               " name TEXT NOT NULL,"
               " theme TEXT NOT NULL,"
               " schedule TEXT NOT NULL,"
               " time_zone TEXT NOT NULL,"
               " on_ready TEXT NOT NULL,"
               " paused INTEGER NOT NULL DEFAULT 0,"
               " rule_count INTEGER NOT NULL DEFAULT 0,"
               " planned_until BIGINT NOT NULL DEFAULT 0,"
               " created_at BIGINT NOT NULL,"
               " updated_at BIGINT NOT NULL);"
               "CREATE INDEX campaigns_by_instance"
               " ON campaigns (instance_id, created_at);"
               "CREATE TABLE campaign_posts ("
               " id TEXT PRIMARY KEY,"
               " campaign_id TEXT NOT NULL"
               "  REFERENCES campaigns (id) ON DELETE CASCADE,"
               " instance_id TEXT NOT NULL,"
               " slot TEXT NOT NULL,"
               " run_at BIGINT NOT NULL,"
               " topic TEXT,"
               " idea TEXT,"
               " state TEXT NOT NULL,"
               " paused INTEGER NOT NULL DEFAULT 0,"
               " generation_id TEXT,"
               " error_kind TEXT NOT NULL DEFAULT '',"
               " error_message TEXT,"
               " fired_at BIGINT,"
               " created_at BIGINT NOT NULL,"
               " updated_at BIGINT NOT NULL);"
               "CREATE UNIQUE INDEX campaign_posts_by_slot"
               " ON campaign_posts (campaign_id, slot);"
               "CREATE INDEX campaign_posts_due"
               " ON campaign_posts (state, run_at);",
    },
};

const struct store_schema campaigns_schema = {
    .component = "campaigns",
    .migrations = migrations,
    .count = sizeof(migrations) / sizeof(migrations[0]),
};

#define CAMPAIGN_COLUMNS                                                       \
    "id, instance_id, name, theme, schedule, time_zone, on_ready, paused,"     \
    " rule_count, planned_until, created_at, updated_at"

void campaign_clear(struct campaign *c)
{
    free(c->name);
    free(c->theme);
    free(c->schedule);
    memset(c, 0, sizeof(*c));
}

static void copy_column(char *out, size_t size, struct store_stmt *stmt,
                        int column)
{
    const char *text = store_column_text(stmt, column);

    snprintf(out, size, "%s", text ? text : "");
}

static int read_campaign(struct store_stmt *stmt, struct campaign *c,
                         struct error *err)
{
    copy_column(c->id, sizeof(c->id), stmt, 0);
    copy_column(c->instance_id, sizeof(c->instance_id), stmt, 1);
    c->name = store_column_dup(stmt, 2);
    c->theme = store_column_dup(stmt, 3);
    c->schedule = store_column_dup(stmt, 4);
    copy_column(c->time_zone, sizeof(c->time_zone), stmt, 5);
    copy_column(c->on_ready, sizeof(c->on_ready), stmt, 6);
    c->paused = store_column_int(stmt, 7) != 0;
    c->rule_count = (int)store_column_int(stmt, 8);
    c->planned_until_ms = store_column_int(stmt, 9);
    c->created_at_ms = store_column_int(stmt, 10);
    c->updated_at_ms = store_column_int(stmt, 11);
    if (!c->name || !c->theme || !c->schedule)
        return error_set(err, ERR_PERMANENT, "out of memory");
    return 0;
}

int campaigns_store_insert(struct store_tx *tx, struct campaign *c,
                           struct error *err)
{
    crypto_uuid(c->id);
    c->created_at_ms = clock_now_ms();
    c->updated_at_ms = c->created_at_ms;
    return store_run(
        tx,
        "INSERT INTO campaigns (" CAMPAIGN_COLUMNS
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        STORE_ARGS(STORE_TEXT(c->id), STORE_TEXT(c->instance_id),
                   STORE_TEXT(c->name), STORE_TEXT(c->theme),
                   STORE_TEXT(c->schedule), STORE_TEXT(c->time_zone),
                   STORE_TEXT(c->on_ready), STORE_INT(c->paused),
                   STORE_INT(c->rule_count), STORE_INT(c->planned_until_ms),
                   STORE_INT(c->created_at_ms), STORE_INT(c->updated_at_ms)),
        NULL, err);
}

int campaigns_store_get(struct store_tx *tx, const char *instance_id,
                        const char *id, int for_update, struct campaign *out,
                        struct error *err)
{
    char sql[256];
    struct store_stmt *stmt;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(sql, sizeof(sql),
             "SELECT " CAMPAIGN_COLUMNS
             " FROM campaigns WHERE id = ? AND instance_id = ?%s",
             for_update ? store_for_update(tx) : "");
    stmt = store_query(
        tx, sql, STORE_ARGS(STORE_TEXT(id ? id : ""), STORE_TEXT(instance_id)),
        err);
    if (!stmt)
        return -1;
    rc = store_step(stmt, err);
    if (rc == 1 && read_campaign(stmt, out, err) != 0)
        rc = -1;
    store_finalize(stmt);
    if (rc == 0) {
        error_set(err, ERR_NOT_FOUND,
                  "campaign \"%.64s\" not found on this site", id ? id : "");
        snprintf(err->code, sizeof(err->code), "not_found");
    }
    if (rc != 1) {
        campaign_clear(out);
        return -1;
    }
    return 0;
}

int campaigns_store_update(struct store_tx *tx, struct campaign *c,
                           struct error *err)
{
    c->updated_at_ms = clock_now_ms();
    return store_run(
        tx,
        "UPDATE campaigns SET name = ?, theme = ?, schedule = ?,"
        " time_zone = ?, on_ready = ?, paused = ?, rule_count = ?,"
        " planned_until = ?, updated_at = ? WHERE id = ?",
        STORE_ARGS(STORE_TEXT(c->name), STORE_TEXT(c->theme),
                   STORE_TEXT(c->schedule), STORE_TEXT(c->time_zone),
                   STORE_TEXT(c->on_ready), STORE_INT(c->paused),
                   STORE_INT(c->rule_count), STORE_INT(c->planned_until_ms),
                   STORE_INT(c->updated_at_ms), STORE_TEXT(c->id)),
        NULL, err);
}

int campaigns_store_ids(struct store_tx *tx, const char *instance_id,
                        char (**ids)[STORE_UUID_SIZE], size_t *count,
                        struct error *err)
{
    struct store_stmt *stmt =
        store_query(tx,
                    "SELECT id FROM campaigns WHERE instance_id = ?"
                    " ORDER BY created_at DESC, id",
                    STORE_ARGS(STORE_TEXT(instance_id)), err);
    size_t capacity = 0;
    int rc;

    *ids = NULL;
    *count = 0;
    if (!stmt)
        return -1;
    while ((rc = store_step(stmt, err)) == 1) {
        if (*count == capacity) {
            char(*grown)[STORE_UUID_SIZE];

            capacity = capacity ? capacity * 2 : 16;
            grown = realloc(*ids, capacity * sizeof(**ids));
            if (!grown) {
                rc = error_set(err, ERR_PERMANENT, "out of memory");
                break;
            }
            *ids = grown;
        }
        copy_column((*ids)[(*count)++], STORE_UUID_SIZE, stmt, 0);
    }
    store_finalize(stmt);
    if (rc < 0) {
        free(*ids);
        *ids = NULL;
        *count = 0;
        return -1;
    }
    return 0;
}

int campaigns_store_queue_due(struct store_tx *tx, int64_t run_at_ms,
                              struct error *err)
{
    struct queue_enqueue_options options = {.run_at_ms = run_at_ms};
    char key[64];

    /* Posts wait on the job, so it retries longer than most jobs do. */
    options.max_attempts = 20;
    snprintf(key, sizeof(key), "campaigns/due/%" PRId64, run_at_ms);
    options.unique_key = key;
    return queue_enqueue(tx, CAMPAIGNS_JOB_DUE, "", NULL, &options, NULL, err) <
                   0
               ? -1
               : 0;
}

int campaigns_store_add_post(struct store_tx *tx, const struct campaign *c,
                             const struct campaign_occurrence *occurrence,
                             struct error *err)
{
    char id[STORE_UUID_SIZE];
    int64_t now = clock_now_ms();
    int64_t changes = 0;

    crypto_uuid(id);
    if (store_run(tx,
                  "INSERT INTO campaign_posts (id, campaign_id, instance_id,"
                  " slot, run_at, state, created_at, updated_at)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                  " ON CONFLICT (campaign_id, slot) DO NOTHING",
                  STORE_ARGS(STORE_TEXT(id), STORE_TEXT(c->id),
                             STORE_TEXT(c->instance_id),
                             STORE_TEXT(occurrence->slot),
                             STORE_INT(occurrence->run_at_ms),
                             STORE_TEXT(CAMPAIGN_POST_SCHEDULED),
                             STORE_INT(now), STORE_INT(now)),
                  &changes, err) != 0)
        return -1;
    if (changes == 0)
        return 0;
    return campaigns_store_queue_due(tx, occurrence->run_at_ms, err) == 0 ? 1
                                                                          : -1;
}

int campaigns_store_set_post_state(struct store_tx *tx, const char *post_id,
                                   const char *from, const char *to,
                                   enum error_kind kind, const char *message,
                                   struct error *err)
{
    int64_t changes = 0;

    if (store_run(tx,
                  "UPDATE campaign_posts SET state = ?, error_kind = ?,"
                  " error_message = ?, updated_at = ?"
                  " WHERE id = ? AND state = ?",
                  STORE_ARGS(STORE_TEXT(to),
                             STORE_TEXT(message ? error_kind_name(kind) : ""),
                             STORE_TEXT(message), STORE_INT(clock_now_ms()),
                             STORE_TEXT(post_id), STORE_TEXT(from)),
                  &changes, err) != 0)
        return -1;
    return changes > 0;
}
