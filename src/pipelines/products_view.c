/* Jobs and items as the API shows them, and the progress of a job. */
#include "pipelines/products_internal.h"

#include "pipelines/batch.h"

#include "core/clock.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Progress                                                            */
/* ------------------------------------------------------------------ */

static int read_counts(struct store_tx *tx, const char *job_id,
                       struct products_progress *progress, struct error *err)
{
    const struct batch_count counts[] = {
        {PRODUCTS_PENDING, &progress->pending},
        {PRODUCTS_RUNNING, &progress->running},
        {PRODUCTS_READY, &progress->ready},
        {PRODUCTS_APPLYING, &progress->applying},
        {PRODUCTS_APPLIED, &progress->applied},
        {PRODUCTS_REVERTING, &progress->reverting},
        {PRODUCTS_REVERTED, &progress->reverted},
        {PRODUCTS_FAILED, &progress->failed},
        {PRODUCTS_CONFLICT, &progress->conflict},
        {PRODUCTS_DISCARDED, &progress->discarded},
        {PRODUCTS_CANCELLED, &progress->cancelled},
    };

    return batch_read_counts(tx, PRODUCTS_KIND_ITEM, job_id, counts,
                             sizeof(counts) / sizeof(counts[0]),
                             &progress->total, err);
}

int products_job_progress(struct app *app, const char *instance_id,
                          const char *job_id, struct products_progress *out,
                          struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    struct store_generation job;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!tx)
        return -1;
    if (products_load(tx, instance_id, PRODUCTS_KIND_JOB, job_id, NULL, 0, &job,
                      err) == 1) {
        out->cancelled_job = strcmp(job.state, PRODUCTS_JOB_CANCELLED) == 0;
        store_generation_clear(&job);
        rc = read_counts(tx, job_id, out, err);
    }
    store_rollback(tx);
    return rc;
}

int products_progress_settled(const struct products_progress *progress)
{
    return progress->pending + progress->running + progress->applying +
               progress->reverting ==
           0;
}

static json_t *counts_json(const struct products_progress *p)
{
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I}",
        "pending", (json_int_t)p->pending, "running", (json_int_t)p->running,
        "ready", (json_int_t)p->ready, "applying", (json_int_t)p->applying,
        "applied", (json_int_t)p->applied, "reverting",
        (json_int_t)p->reverting, "reverted", (json_int_t)p->reverted, "failed",
        (json_int_t)p->failed, "conflict", (json_int_t)p->conflict, "discarded",
        (json_int_t)p->discarded, "cancelled", (json_int_t)p->cancelled);
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

static json_t *job_json(struct store_tx *tx, const struct store_generation *job,
                        struct error *err)
{
    struct products_progress progress;
    json_t *input = json_loads(job->input, 0, NULL);
    const json_t *settings = json_object_get(input, "settings");
    int64_t reserved = 0;
    int64_t charged = 0;
    const char *state = job->state;
    json_t *out;

    memset(&progress, 0, sizeof(progress));
    if (read_counts(tx, job->id, &progress, err) != 0 ||
        read_credits(tx, job->id, &reserved, &charged, err) != 0) {
        json_decref(input);
        return NULL;
    }
    if (strcmp(state, PRODUCTS_JOB_RUNNING) == 0 &&
        products_progress_settled(&progress))
        state = "done";
    out = json_pack(
        "{s:s, s:s, s:O, s:O, s:O, s:s, s:O, s:o, s:I, s:O, s:{s:I, s:I}, "
        "s:o, s:o}",
        "id", job->id, "state", state, "mode",
        json_object_get(settings, "mode"), "fields",
        json_object_get(settings, "fields"), "settings", settings,
        "catalog_version",
        json_integer_value(json_object_get(input, "catalog")) == 3 ? "V3"
                                                                   : "V1",
        "selection", json_object_get(input, "selection"), "counts",
        counts_json(&progress), "total", (json_int_t)progress.total, "skipped",
        json_object_get(input, "skipped"), "credits", "reserved",
        (json_int_t)reserved, "charged", (json_int_t)charged, "created_at",
        batch_time_json(job->created_at_ms), "updated_at",
        batch_time_json(job->updated_at_ms));
    json_decref(input);
    if (!out)
        error_set(err, ERR_PERMANENT, "job %s has an unreadable input",
                  job->id);
    return out;
}

json_t *products_job_json(struct app *app, const char *instance_id,
                          const char *job_id, struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    struct store_generation job;
    json_t *out = NULL;

    if (!tx)
        return NULL;
    if (products_load(tx, instance_id, PRODUCTS_KIND_JOB, job_id, NULL, 0, &job,
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
    .job_kind = PRODUCTS_KIND_JOB,
    .item_table = "product_items",
    .load = products_load,
    .job_json = job_json,
    .item_json = item_json,
};

json_t *products_job_list_json(struct app *app, const char *instance_id,
                               int limit, const char *cursor, struct error *err)
{
    return batch_job_list_json(app, &batch, instance_id, limit, cursor, err);
}

/* ------------------------------------------------------------------ */
/* Items                                                               */
/* ------------------------------------------------------------------ */

static json_t *checkpoint(const json_t *checkpoints, const char *name)
{
    const json_t *value = json_object_get(checkpoints, name);

    return json_is_object(value) ? (json_t *)value : NULL;
}

/* The item's fields from a snapshot or generated text, or null. */
static json_t *texts(const json_t *source, unsigned fields)
{
    json_t *out;

    if (!source)
        return json_null();
    out = json_object();
    for (int i = 0; i < PRODUCTS_FIELD_COUNT; i++) {
        const char *name = products_field_name(1u << i);

        if (fields & (1u << i))
            json_object_set(out, name,
                            json_object_get(source, name)
                                ? json_object_get(source, name)
                                : json_null());
    }
    return out;
}

static json_t *item_json(const struct store_generation *item)
{
    json_t *input = json_loads(item->input, 0, NULL);
    json_t *checkpoints = json_loads(item->checkpoints, 0, NULL);
    const json_t *original = json_object_get(input, "original");
    const json_t *generated = checkpoint(checkpoints, "generated");
    unsigned fields =
        products_fields_from_json(json_object_get(input, "fields"));
    json_t *out;

    if (!json_is_object(original))
        original = checkpoint(checkpoints, "original");
    out = json_pack(
        "{s:s, s:s, s:O, s:O, s:s, s:o, s:o, s:o, s:O, s:o, s:I, s:I, s:O, "
        "s:o, s:o}",
        "id", item->id, "job_id", item->parent_id, "product_id",
        json_object_get(input, "product_id"), "product_name",
        json_object_get(input, "product_name"), "state", item->state, "fields",
        products_fields_json(fields), "before", texts(original, fields),
        "after", texts(generated, fields), "shortened",
        generated && json_object_get(generated, "shortened")
            ? json_object_get(generated, "shortened")
            : json_null(),
        "error", batch_error_json(item), "credits_reserved",
        (json_int_t)item->credits_reserved, "credits_charged",
        (json_int_t)item->credits_charged, "regenerated_as",
        json_object_get(checkpoint(checkpoints, "regenerated"), "item_id")
            ? json_object_get(checkpoint(checkpoints, "regenerated"), "item_id")
            : json_null(),
        "created_at", batch_time_json(item->created_at_ms), "updated_at",
        batch_time_json(item->updated_at_ms));
    json_decref(input);
    json_decref(checkpoints);
    return out;
}

json_t *products_item_json(struct app *app, const char *instance_id,
                           const char *job_id, const char *item_id,
                           struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    struct store_generation item;
    json_t *out = NULL;

    if (!tx)
        return NULL;
    if (products_load(tx, instance_id, PRODUCTS_KIND_ITEM, item_id, job_id, 0,
                      &item, err) == 1) {
        out = item_json(&item);
        store_generation_clear(&item);
        if (!out)
            error_set(err, ERR_PERMANENT, "item %s is unreadable", item_id);
    }
    store_rollback(tx);
    return out;
}

json_t *products_items_json(struct app *app, const char *instance_id,
                            const char *job_id, const char *state, int limit,
                            const char *cursor, struct error *err)
{
    return batch_items_json(app, &batch, instance_id, job_id, state, limit,
                            cursor, err);
}
