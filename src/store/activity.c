/*
 * What the dashboard reads about a site's activity: generations changed
 * since a moment (its live updates) and credits charged per day (its
 * usage chart).
 */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

/* Grows *array (of size bytes per entry) to hold one more than *count. */
static void *grow(void *array, size_t *capacity, size_t count, size_t size,
                  struct error *err)
{
    void *bigger;

    if (count < *capacity)
        return array;
    *capacity = *capacity ? *capacity * 2 : 32;
    bigger = realloc(array, *capacity * size);
    if (!bigger)
        error_set(err, ERR_PERMANENT, "out of memory reading %zu rows", count);
    return bigger;
}

int store_generation_changes(struct store_tx *tx, const char *instance_id,
                             int64_t since_ms, int limit,
                             struct store_generation_change **out,
                             size_t *count, struct error *err)
{
    struct store_generation_change *rows = NULL;
    size_t capacity = 0;
    struct store_stmt *stmt;
    int rc;

    *out = NULL;
    *count = 0;
    stmt = store_query(tx,
                       "SELECT id, kind, parent_id, state, updated_at "
                       "FROM generations WHERE instance_id = ? AND "
                       "updated_at > ? ORDER BY updated_at, id LIMIT ?",
                       STORE_ARGS(STORE_TEXT(instance_id), STORE_INT(since_ms),
                                  STORE_INT(limit)),
                       err);
    if (!stmt)
        return -1;
    while ((rc = store_step(stmt, err)) == 1) {
        struct store_generation_change *row;
        void *bigger = grow(rows, &capacity, *count, sizeof(*rows), err);

        if (!bigger) {
            rc = -1;
            break;
        }
        rows = bigger;
        row = &rows[(*count)++];
        store_copy(row->id, sizeof(row->id), store_column_text(stmt, 0));
        store_copy(row->kind, sizeof(row->kind), store_column_text(stmt, 1));
        store_copy(row->parent_id, sizeof(row->parent_id),
                   store_column_text(stmt, 2));
        store_copy(row->state, sizeof(row->state), store_column_text(stmt, 3));
        row->updated_at_ms = store_column_int(stmt, 4);
    }
    store_finalize(stmt);
    if (rc < 0) {
        free(rows);
        *count = 0;
        return -1;
    }
    *out = rows;
    return 0;
}

int store_credits_usage(struct store_tx *tx, const char *instance_id,
                        int64_t since_ms, int64_t utc_offset_ms,
                        struct store_credit_day **out, size_t *count,
                        struct error *err)
{
    struct store_credit_day *days = NULL;
    size_t capacity = 0;
    struct store_stmt *stmt;
    int rc;

    *out = NULL;
    *count = 0;

    /* Integer division on both backends: created_at is never negative. */
    stmt = store_query(
        tx,
        "SELECT (l.created_at + ?) / 86400000, COALESCE(g.kind, ''), "
        "SUM(l.amount) FROM credit_ledger l LEFT JOIN generations g "
        "ON g.id = l.generation_id WHERE l.instance_id = ? AND "
        "l.kind = 'capture' AND l.created_at >= ? GROUP BY 1, 2 "
        "ORDER BY 1, 2",
        STORE_ARGS(STORE_INT(utc_offset_ms), STORE_TEXT(instance_id),
                   STORE_INT(since_ms)),
        err);
    if (!stmt)
        return -1;
    while ((rc = store_step(stmt, err)) == 1) {
        struct store_credit_day *day;
        void *bigger = grow(days, &capacity, *count, sizeof(*days), err);

        if (!bigger) {
            rc = -1;
            break;
        }
        days = bigger;
        day = &days[(*count)++];
        day->day = store_column_int(stmt, 0);
        store_copy(day->kind, sizeof(day->kind), store_column_text(stmt, 1));
        day->amount = store_column_int(stmt, 2);
    }
    store_finalize(stmt);
    if (rc < 0) {
        free(days);
        *count = 0;
        return -1;
    }
    *out = days;
    return 0;
}
