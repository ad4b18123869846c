#include "pipelines/batch.h"

#include "core/clock.h"
#include "core/log.h"
#include "queue/queue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int batch_set_state(struct store_tx *tx, const char *channel,
                    const char *item_id, const char *from, const char *to,
                    struct error *err)
{
    int rc = store_generation_set_state(tx, item_id, from, to, err);

    if (rc < 0)
        return -1;
    if (rc == 0)
        return error_set(err, ERR_CONFLICT,
                         "item %s is no longer %s; not moved to %s", item_id,
                         from, to);
    return store_notify(tx, channel, err);
}

int batch_checkpoint(struct store_tx *tx, const char *item_id, const char *step,
                     const json_t *value, struct error *err)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc;

    if (!text)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    rc = store_generation_checkpoint(tx, item_id, step, text, err);
    free(text);
    return rc;
}

json_t *batch_item_ids(struct store_tx *tx, const char *item_kind,
                       const char *job_id, const char *state, struct error *err)
{
    struct store_stmt *stmt = store_query(
        tx,
        "SELECT id FROM generations WHERE parent_id = ? AND kind = ? AND "
        "state = ?",
        STORE_ARGS(STORE_TEXT(job_id), STORE_TEXT(item_kind),
                   STORE_TEXT(state)),
        err);
    json_t *ids = json_array();
    int rc;

    if (!stmt) {
        json_decref(ids);
        return NULL;
    }
    while ((rc = store_step(stmt, err)) == 1)
        json_array_append_new(ids, json_string(store_column_text(stmt, 0)));
    store_finalize(stmt);
    if (rc < 0) {
        json_decref(ids);
        return NULL;
    }
    return ids;
}

int batch_read_counts(struct store_tx *tx, const char *item_kind,
                      const char *job_id, const struct batch_count *counts,
                      size_t count, int64_t *total, struct error *err)
{
    struct store_stmt *stmt = store_query(
        tx,
        "SELECT state, COUNT(*) FROM generations WHERE parent_id = ? "
        "AND kind = ? GROUP BY state",
        STORE_ARGS(STORE_TEXT(job_id), STORE_TEXT(item_kind)), err);
    int rc;

    if (!stmt)
        return -1;
    while ((rc = store_step(stmt, err)) == 1) {
        const char *state = store_column_text(stmt, 0);
        int64_t items = store_column_int(stmt, 1);

        for (size_t i = 0; i < count; i++)
            if (strcmp(counts[i].state, state) == 0)
                *counts[i].slot = items;
        *total += items;
    }
    store_finalize(stmt);
    return rc < 0 ? -1 : 0;
}

json_t *batch_target_ids(struct store_tx *tx,
                         const struct batch_targets *targets,
                         const char *const *item_ids, size_t count,
                         int all_ready, struct error *err)
{
    json_t *ids;

    if (all_ready) {
        if (!targets->all_ready_allowed) {
            error_set(err, ERR_INVALID,
                      "all_ready: only apply and discard act on all ready "
                      "items");
            snprintf(err->code, sizeof(err->code), "all_ready");
            return NULL;
        }
        return batch_item_ids(tx, targets->item_kind, targets->job_id,
                              targets->ready_state, err);
    }
    if (count == 0 || count > (size_t)targets->max_items) {
        error_set(err, ERR_INVALID,
                  "item_ids: expected 1 to %d item ids, or all_ready",
                  targets->max_items);
        snprintf(err->code, sizeof(err->code), "item_ids");
        return NULL;
    }
    ids = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(ids, json_string(item_ids[i] ? item_ids[i] : ""));
    return ids;
}

static int cancel_pending(struct app *app, const struct batch_cancel *kind,
                          struct store_tx *tx, const char *job_id,
                          int64_t *count, struct error *err)
{
    json_t *ids =
        batch_item_ids(tx, kind->item_kind, job_id, kind->item_pending, err);
    size_t i;
    json_t *id;

    if (!ids)
        return -1;
    json_array_foreach(ids, i, id)
    {
        const char *item_id = json_string_value(id);

        if (batch_set_state(tx, kind->channel, item_id, kind->item_pending,
                            kind->item_cancelled, err) != 0 ||
            store_credits_release(tx, item_id, err) < 0 ||
            queue_cancel_generation(tx, item_id, NULL, err) != 0) {
            json_decref(ids);
            return -1;
        }
        if (kind->item_cancelled_hook)
            kind->item_cancelled_hook(app, item_id);
    }
    *count = (int64_t)json_array_size(ids);
    json_decref(ids);
    return 0;
}

int batch_job_cancel(struct app *app, const struct batch_cancel *kind,
                     const char *instance_id, const char *job_id,
                     struct error *err)
{
    struct store_tx *tx = store_begin(app->store, err);
    struct store_generation job;
    int64_t cancelled = 0;

    if (!tx)
        return -1;
    if (kind->load(tx, instance_id, kind->job_kind, job_id, NULL, 1, &job,
                   err) != 1)
        goto fail;
    if (strcmp(job.state, kind->job_running) != 0) {
        error_set(err, ERR_CONFLICT, "job %s is already %s", job_id, job.state);
        store_generation_clear(&job);
        goto fail;
    }
    store_generation_clear(&job);
    if (store_generation_set_state(tx, job_id, kind->job_running,
                                   kind->job_cancelled, err) < 0 ||
        cancel_pending(app, kind, tx, job_id, &cancelled, err) != 0 ||
        store_notify(tx, kind->channel, err) != 0)
        goto fail;
    if (store_commit(tx, err) != 0)
        return -1;
    log_info(kind->component,
             "job cancelled instance=%s job=%s released_items=%" PRId64,
             instance_id, job_id, cancelled);
    return 0;

fail:
    store_rollback(tx);
    return -1;
}

int batch_release_held(struct store_tx *tx, const char *item_id,
                       struct error *err)
{
    struct error local;

    error_clear(&local);
    if (store_credits_release(tx, item_id, &local) >= 0)
        return 0;
    /* ERR_CONFLICT: the reservation was captured by an earlier apply. */
    if (local.kind == ERR_CONFLICT)
        return 0;
    *err = local;
    return -1;
}

json_t *batch_time_json(int64_t ms)
{
    char text[32];

    clock_format_iso(ms, text);
    return json_string(text);
}

json_t *batch_error_json(const struct store_generation *item)
{
    if (!item->error_message)
        return json_null();
    return json_pack("{s:s, s:s}", "kind", item->error_kind, "message",
                     item->error_message);
}

static int read_cursor(const char *cursor, int64_t *out, struct error *err)
{
    char *end;
    long long value;

    *out = 0;
    if (!cursor)
        return 0;
    errno = 0;
    value = strtoll(cursor, &end, 10);
    if (errno || end == cursor || *end || value < 0) {
        error_set(err, ERR_INVALID,
                  "cursor: invalid value \"%.40s\": pass the next_cursor of "
                  "the previous page",
                  cursor);
        snprintf(err->code, sizeof(err->code), "cursor");
        return -1;
    }
    *out = value;
    return 0;
}

static json_t *cursor_json(int more, int64_t next)
{
    char text[32];

    if (!more)
        return json_null();
    snprintf(text, sizeof(text), "%" PRId64, next);
    return json_string(text);
}

json_t *batch_job_list_json(struct app *app, const struct batch_kind *kind,
                            const char *instance_id, int limit,
                            const char *cursor, struct error *err)
{
    struct store_generation *list = NULL;
    struct store_tx *tx;
    json_t *jobs = json_array();
    size_t count = 0;
    int64_t offset;
    json_t *out = NULL;

    if (read_cursor(cursor, &offset, err) != 0 ||
        !(tx = store_begin_read(app->store, err))) {
        json_decref(jobs);
        return NULL;
    }
    if (store_generation_list(tx, instance_id, kind->job_kind, NULL, limit + 1,
                              (int)offset, &list, &count, err) == 0) {
        size_t shown = count > (size_t)limit ? (size_t)limit : count;
        size_t i = 0;

        for (; i < shown; i++) {
            json_t *job = kind->job_json(tx, &list[i], err);

            if (!job)
                break;
            json_array_append_new(jobs, job);
        }
        if (i == shown)
            out =
                json_pack("{s:O, s:o}", "jobs", jobs, "next_cursor",
                          cursor_json(count > shown, offset + (int64_t)shown));
        store_generation_list_free(list, count);
    }
    store_rollback(tx);
    json_decref(jobs);
    return out;
}

/* Reads the ids of one page of items into ids; *last is the position of
 * the first item of the next page, *more whether there is one. */
static int item_page(struct store_tx *tx, const char *table, const char *job_id,
                     const char *state, int limit, int64_t after, json_t *ids,
                     int64_t *last, int *more, struct error *err)
{
    char all_states[256];
    char one_state[256];
    struct store_stmt *stmt;
    int rc;

    snprintf(all_states, sizeof(all_states),
             "SELECT p.item_id, p.position FROM %s p WHERE p.job_id = ? "
             "AND p.position >= ? ORDER BY p.position LIMIT ?",
             table);
    snprintf(one_state, sizeof(one_state),
             "SELECT p.item_id, p.position FROM %s p JOIN generations g "
             "ON g.id = p.item_id WHERE p.job_id = ? AND p.position >= ? AND "
             "g.state = ? ORDER BY p.position LIMIT ?",
             table);
    stmt =
        state ? store_query(tx, one_state,
                            STORE_ARGS(STORE_TEXT(job_id), STORE_INT(after),
                                       STORE_TEXT(state), STORE_INT(limit + 1)),
                            err)
              : store_query(tx, all_states,
                            STORE_ARGS(STORE_TEXT(job_id), STORE_INT(after),
                                       STORE_INT(limit + 1)),
                            err);
    *more = 0;
    if (!stmt)
        return -1;
    while ((rc = store_step(stmt, err)) == 1) {
        if ((int)json_array_size(ids) == limit) {
            *more = 1;
            *last = store_column_int(stmt, 1);
            continue;
        }
        json_array_append_new(ids, json_string(store_column_text(stmt, 0)));
    }
    store_finalize(stmt);
    return rc < 0 ? -1 : 0;
}

json_t *batch_items_json(struct app *app, const struct batch_kind *kind,
                         const char *instance_id, const char *job_id,
                         const char *state, int limit, const char *cursor,
                         struct error *err)
{
    struct store_tx *tx;
    struct store_generation job;
    json_t *ids = json_array();
    json_t *items = json_array();
    json_t *out = NULL;
    int64_t after;
    int64_t next = 0;
    int more = 0;
    size_t i;
    json_t *id;

    if (read_cursor(cursor, &after, err) != 0 ||
        !(tx = store_begin_read(app->store, err)))
        goto out;
    if (kind->load(tx, instance_id, kind->job_kind, job_id, NULL, 0, &job,
                   err) != 1)
        goto rollback;
    store_generation_clear(&job);
    if (item_page(tx, kind->item_table, job_id, state, limit, after, ids, &next,
                  &more, err) != 0)
        goto rollback;
    json_array_foreach(ids, i, id)
    {
        struct store_generation item;
        int found =
            store_generation_get(tx, json_string_value(id), 0, &item, err);

        if (found == 0)
            error_set(err, ERR_PERMANENT, "item %s of job %s is missing",
                      json_string_value(id), job_id);
        if (found != 1)
            goto rollback;
        json_array_append_new(items, kind->item_json(&item));
        store_generation_clear(&item);
    }
    out = json_pack("{s:O, s:o}", "items", items, "next_cursor",
                    cursor_json(more, next));
rollback:
    store_rollback(tx);
out:
    json_decref(ids);
    json_decref(items);
    return out;
}
