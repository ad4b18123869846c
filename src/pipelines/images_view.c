/*
 * Image jobs and items as the API shows them, the kept bytes for the
 * review page, the progress of a job, and the owner's actions on items.
 */
#include "pipelines/images_internal.h"

#include "pipelines/batch.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Progress                                                            */
/* ------------------------------------------------------------------ */

static int read_counts(struct store_tx *tx, const char *job_id,
                       struct images_progress *progress, struct error *err)
{
    const struct batch_count counts[] = {
        {IMAGES_PENDING, &progress->pending},
        {IMAGES_PROCESSING, &progress->processing},
        {IMAGES_READY, &progress->ready},
        {IMAGES_SKIPPED_LARGER, &progress->skipped_larger},
        {IMAGES_APPLYING, &progress->applying},
        {IMAGES_APPLIED, &progress->applied},
        {IMAGES_RESTORING, &progress->restoring},
        {IMAGES_RESTORED, &progress->restored},
        {IMAGES_FAILED, &progress->failed},
        {IMAGES_DISCARDED, &progress->discarded},
        {IMAGES_CANCELLED, &progress->cancelled},
    };

    return batch_read_counts(tx, IMAGES_KIND_ITEM, job_id, counts,
                             sizeof(counts) / sizeof(counts[0]),
                             &progress->total, err);
}

int images_job_progress(struct app *app, const char *instance_id,
                        const char *job_id, struct images_progress *out,
                        struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    struct store_generation job;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!tx)
        return -1;
    if (images_load(tx, instance_id, IMAGES_KIND_JOB, job_id, NULL, 0, &job,
                    err) == 1) {
        out->cancelled_job = strcmp(job.state, IMAGES_JOB_CANCELLED) == 0;
        store_generation_clear(&job);
        rc = read_counts(tx, job_id, out, err);
    }
    store_rollback(tx);
    return rc;
}

int images_progress_settled(const struct images_progress *progress)
{
    return progress->pending + progress->processing + progress->applying +
               progress->restoring ==
           0;
}

static json_t *counts_json(const struct images_progress *p)
{
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "pending",
        (json_int_t)p->pending, "processing", (json_int_t)p->processing,
        "ready", (json_int_t)p->ready, "skipped_larger",
        (json_int_t)p->skipped_larger, "applying", (json_int_t)p->applying,
        "applied", (json_int_t)p->applied, "restoring",
        (json_int_t)p->restoring, "restored", (json_int_t)p->restored, "failed",
        (json_int_t)p->failed, "discarded", (json_int_t)p->discarded,
        "cancelled", (json_int_t)p->cancelled);
}

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

/* Credits the job's items hold now, and what they were charged. */
static int read_credits(struct store_tx *tx, const char *job_id,
                        int64_t *reserved, int64_t *charged, struct error *err)
{
    if (store_query_int(
            tx,
            "SELECT COALESCE(SUM(CASE WHEN l.kind = 'reserve' THEN l.amount "
            "ELSE -l.amount END), 0) FROM credit_ledger l JOIN generations g "
            "ON g.id = l.generation_id WHERE g.parent_id = ? AND l.kind IN "
            "('reserve', 'capture', 'release')",
            STORE_ARGS(STORE_TEXT(job_id)), reserved, err) < 0)
        return -1;
    return store_query_int(tx,
                           "SELECT COALESCE(SUM(credits_charged), 0) FROM "
                           "generations WHERE parent_id = ?",
                           STORE_ARGS(STORE_TEXT(job_id)), charged, err) < 0
               ? -1
               : 0;
}

/* Bytes before and after of the job's processed items. */
static int read_bytes(struct store_tx *tx, const char *job_id, int64_t *before,
                      int64_t *after, struct error *err)
{
    struct store_stmt *stmt = store_query(
        tx, "SELECT checkpoints FROM generations WHERE parent_id = ?",
        STORE_ARGS(STORE_TEXT(job_id)), err);
    int rc;

    *before = *after = 0;
    if (!stmt)
        return -1;
    while ((rc = store_step(stmt, err)) == 1) {
        json_t *checkpoints = json_loads(store_column_text(stmt, 0), 0, NULL);
        const json_t *result = json_object_get(checkpoints, "result");

        if (json_is_object(result)) {
            *before +=
                json_integer_value(json_object_get(result, "original_bytes"));
            *after += json_integer_value(json_object_get(result, "bytes"));
        }
        json_decref(checkpoints);
    }
    store_finalize(stmt);
    return rc < 0 ? -1 : 0;
}

static json_t *job_json(struct store_tx *tx, const struct store_generation *job,
                        struct error *err)
{
    struct images_progress progress;
    json_t *input = json_loads(job->input, 0, NULL);
    const json_t *settings = json_object_get(input, "settings");
    int64_t reserved = 0, charged = 0, before = 0, after = 0;
    const char *state = job->state;
    json_t *out;

    memset(&progress, 0, sizeof(progress));
    if (read_counts(tx, job->id, &progress, err) != 0 ||
        read_credits(tx, job->id, &reserved, &charged, err) != 0 ||
        read_bytes(tx, job->id, &before, &after, err) != 0) {
        json_decref(input);
        return NULL;
    }
    if (strcmp(state, IMAGES_JOB_RUNNING) == 0 &&
        images_progress_settled(&progress))
        state = "done";
    out = json_pack(
        "{s:s, s:s, s:O, s:O, s:o, s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:o, "
        "s:o}",
        "id", job->id, "state", state, "operation",
        json_object_get(settings, "operation"), "settings", settings, "counts",
        counts_json(&progress), "total", (json_int_t)progress.total, "bytes",
        "before", (json_int_t)before, "after", (json_int_t)after, "credits",
        "reserved", (json_int_t)reserved, "charged", (json_int_t)charged,
        "created_at", batch_time_json(job->created_at_ms), "updated_at",
        batch_time_json(job->updated_at_ms));
    json_decref(input);
    if (!out)
        error_set(err, ERR_PERMANENT, "job %s has an unreadable input",
                  job->id);
    return out;
}

json_t *images_job_json(struct app *app, const char *instance_id,
                        const char *job_id, struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    struct store_generation job;
    json_t *out = NULL;

    if (!tx)
        return NULL;
    if (images_load(tx, instance_id, IMAGES_KIND_JOB, job_id, NULL, 0, &job,
                    err) == 1) {
        out = job_json(tx, &job, err);
        store_generation_clear(&job);
    }
    store_rollback(tx);
    return out;
}

/* Parses a cursor (a non-negative decimal number) into *out. */
static json_t *item_json(const struct store_generation *item);

static const struct batch_kind batch = {
    .job_kind = IMAGES_KIND_JOB,
    .item_table = "image_items",
    .load = images_load,
    .job_json = job_json,
    .item_json = item_json,
};

json_t *images_job_list_json(struct app *app, const char *instance_id,
                             int limit, const char *cursor, struct error *err)
{
    return batch_job_list_json(app, &batch, instance_id, limit, cursor, err);
}

/* ------------------------------------------------------------------ */
/* Items                                                               */
/* ------------------------------------------------------------------ */

/* {bytes, width, height, content_type} of a kept image, or null. */
static json_t *image_json(const json_t *kept)
{
    if (!json_is_object(kept))
        return json_null();
    return json_pack("{s:O, s:O, s:O, s:O}", "bytes",
                     json_object_get(kept, "bytes"), "width",
                     json_object_get(kept, "width"), "height",
                     json_object_get(kept, "height"), "content_type",
                     json_object_get(kept, "content_type"));
}

static json_t *item_json(const struct store_generation *item)
{
    json_t *input = json_loads(item->input, 0, NULL);
    json_t *checkpoints = json_loads(item->checkpoints, 0, NULL);
    const json_t *original = json_object_get(checkpoints, "original");
    const json_t *result = json_object_get(checkpoints, "result");
    const json_t *upload = json_object_get(checkpoints, "upload");
    json_t *saved = json_null();
    json_t *out;

    if (json_is_object(result))
        saved = json_integer(
            json_integer_value(json_object_get(result, "original_bytes")) -
            json_integer_value(json_object_get(result, "bytes")));
    out = json_pack(
        "{s:s, s:s, s:O, s:O, s:O, s:O, s:s, s:O, s:O, s:o, s:o, s:o, s:O?, "
        "s:o, s:I, s:I, s:o, s:o}",
        "id", item->id, "job_id", item->parent_id, "product_id",
        json_object_get(input, "product_id"), "product_name",
        json_object_get(input, "product_name"), "media_id",
        json_object_get(input, "media_id"), "position",
        json_object_get(input, "position"), "state", item->state, "alt_text",
        json_object_get(input, "alt_text"), "alt_source",
        json_object_get(input, "alt_source"), "before", image_json(original),
        "after", image_json(result), "saved_bytes", saved, "new_media_id",
        json_object_get(upload, "media_id"), "error", batch_error_json(item),
        "credits_reserved", (json_int_t)item->credits_reserved,
        "credits_charged", (json_int_t)item->credits_charged, "created_at",
        batch_time_json(item->created_at_ms), "updated_at",
        batch_time_json(item->updated_at_ms));
    json_decref(input);
    json_decref(checkpoints);
    return out;
}

json_t *images_item_json(struct app *app, const char *instance_id,
                         const char *job_id, const char *item_id,
                         struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    struct store_generation item;
    json_t *out = NULL;

    if (!tx)
        return NULL;
    if (images_load(tx, instance_id, IMAGES_KIND_ITEM, item_id, job_id, 0,
                    &item, err) == 1) {
        out = item_json(&item);
        store_generation_clear(&item);
        if (!out)
            error_set(err, ERR_PERMANENT, "item %s is unreadable", item_id);
    }
    store_rollback(tx);
    return out;
}

json_t *images_items_json(struct app *app, const char *instance_id,
                          const char *job_id, const char *state, int limit,
                          const char *cursor, struct error *err)
{
    return batch_items_json(app, &batch, instance_id, job_id, state, limit,
                            cursor, err);
}

int images_item_bytes(struct app *app, const char *instance_id,
                      const char *job_id, const char *item_id, int after,
                      struct buf *out, char content_type[32], struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    struct store_generation item;
    json_t *checkpoints = NULL;
    const json_t *kept;
    const char *path;
    const char *type;
    int rc = -1;

    if (!tx)
        return -1;
    if (images_load(tx, instance_id, IMAGES_KIND_ITEM, item_id, job_id, 0,
                    &item, err) != 1) {
        store_rollback(tx);
        return -1;
    }
    store_rollback(tx);
    checkpoints = json_loads(item.checkpoints, 0, NULL);
    kept = json_object_get(checkpoints, after ? "result" : "original");
    path = json_string_value(json_object_get(kept, "path"));
    type = json_string_value(json_object_get(kept, "content_type"));
    if (!path || !type || strcmp(item.state, IMAGES_DISCARDED) == 0)
        error_set(err, ERR_NOT_FOUND, "item %s has no %s image", item_id,
                  after ? "result" : "original");
    else if (images_file_read(path, out, err) == 0) {
        snprintf(content_type, 32, "%s", type);
        rc = 0;
    }
    json_decref(checkpoints);
    store_generation_clear(&item);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Actions                                                             */
/* ------------------------------------------------------------------ */

struct act {
    struct app *app;
    const char *instance_id;
    const char *job_id;
    enum images_action action;
    json_t *accepted;
    json_t *skipped;
    json_t *discarded; /* items whose files go once the change commits */
};

static int state_is(const struct store_generation *item, const char *a,
                    const char *b)
{
    return strcmp(item->state, a) == 0 || (b && strcmp(item->state, b) == 0);
}

static int rounds_of(const struct store_generation *item, const char *action)
{
    json_t *checkpoints = json_loads(item->checkpoints, 0, NULL);
    int round = (int)json_integer_value(
        json_object_get(json_object_get(checkpoints, "rounds"), action));

    json_decref(checkpoints);
    return round;
}

static const char *skip_reason(enum images_action action)
{
    switch (action) {
    case IMAGES_APPLY:
        return "only ready or restored items can be applied";
    case IMAGES_RESTORE:
        return "only applied items can be restored";
    default:
        return "only ready or skipped_larger items can be discarded";
    }
}

static int act_one(struct store_tx *tx, struct act *a,
                   const struct store_generation *item, struct error *err)
{
    int restore = a->action == IMAGES_RESTORE;

    if ((a->action == IMAGES_APPLY &&
         !state_is(item, IMAGES_READY, IMAGES_RESTORED)) ||
        (restore && !state_is(item, IMAGES_APPLIED, NULL)) ||
        (a->action == IMAGES_DISCARD &&
         !state_is(item, IMAGES_READY, IMAGES_SKIPPED_LARGER))) {
        json_array_append_new(a->skipped,
                              json_pack("{s:s, s:s, s:s}", "id", item->id,
                                        "state", item->state, "reason",
                                        skip_reason(a->action)));
        return 0;
    }
    if (a->action == IMAGES_DISCARD) {
        if (images_set_state(tx, item->id, item->state, IMAGES_DISCARDED,
                             err) != 0 ||
            images_release_held(tx, item->id, err) != 0)
            return -1;
        json_array_append_new(a->discarded, json_string(item->id));
    } else if (images_set_state(tx, item->id, item->state,
                                restore ? IMAGES_RESTORING : IMAGES_APPLYING,
                                err) != 0 ||
               images_enqueue_apply(
                   tx, a->instance_id, item->id, restore,
                   rounds_of(item, restore ? "restore" : "apply") + 1,
                   err) != 0)
        return -1;
    json_array_append_new(a->accepted, json_string(item->id));
    return 0;
}

static json_t *target_ids(struct store_tx *tx, const struct act *a,
                          const char *const *item_ids, size_t count,
                          int all_ready, struct error *err)
{
    const struct batch_targets targets = {
        .item_kind = IMAGES_KIND_ITEM,
        .job_id = a->job_id,
        .ready_state = IMAGES_READY,
        .max_items = IMAGES_JOB_MAX_ITEMS,
        .all_ready_allowed = a->action != IMAGES_RESTORE,
    };

    return batch_target_ids(tx, &targets, item_ids, count, all_ready, err);
}

static int act_all(struct store_tx *tx, struct act *a, const json_t *ids,
                   struct error *err)
{
    size_t i;
    json_t *id;

    json_array_foreach(ids, i, id)
    {
        struct store_generation item;
        int rc;

        if (images_load(tx, a->instance_id, IMAGES_KIND_ITEM,
                        json_string_value(id), a->job_id, 1, &item, err) != 1) {
            if (err->kind == ERR_NOT_FOUND) {
                err->kind = ERR_INVALID;
                snprintf(err->code, sizeof(err->code), "item_ids");
            }
            return -1;
        }
        rc = act_one(tx, a, &item, err);
        store_generation_clear(&item);
        if (rc != 0)
            return -1;
    }
    return 0;
}

json_t *images_items_act(struct app *app, const char *instance_id,
                         const char *job_id, enum images_action action,
                         const char *const *item_ids, size_t count,
                         int all_ready, struct error *err)
{
    static const char *const names[] = {"apply", "discard", "restore"};
    struct act a = {.app = app,
                    .instance_id = instance_id,
                    .job_id = job_id,
                    .action = action};
    struct store_tx *tx = store_begin(app->store, err);
    struct store_generation job;
    json_t *ids = NULL;
    json_t *out = NULL;
    size_t i;
    json_t *id;

    if (!tx)
        return NULL;
    /* The job's row lock orders item actions against a cancel. */
    if (images_load(tx, instance_id, IMAGES_KIND_JOB, job_id, NULL, 1, &job,
                    err) != 1)
        goto fail;
    store_generation_clear(&job);
    a.accepted = json_array();
    a.skipped = json_array();
    a.discarded = json_array();
    ids = target_ids(tx, &a, item_ids, count, all_ready, err);
    if (!ids || act_all(tx, &a, ids, err) != 0 ||
        store_notify(tx, IMAGES_CHANNEL, err) != 0)
        goto fail;
    if (store_commit(tx, err) != 0) {
        tx = NULL;
        goto fail;
    }
    tx = NULL;
    json_array_foreach(a.discarded, i, id)
        images_item_dir_remove(app, json_string_value(id));
    log_info("images", "items %s instance=%s job=%s accepted=%zu skipped=%zu",
             names[action], instance_id, job_id, json_array_size(a.accepted),
             json_array_size(a.skipped));
    out = json_pack("{s:O, s:O}", "accepted", a.accepted, "skipped", a.skipped);
fail:
    store_rollback(tx);
    json_decref(ids);
    json_decref(a.accepted);
    json_decref(a.skipped);
    json_decref(a.discarded);
    return out;
}
