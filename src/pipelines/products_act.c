/* The owner's actions on items: apply, discard, revert and regenerate. */
#include "pipelines/products_internal.h"

#include "pipelines/batch.h"

#include "core/json.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One call of products_items_act(). */
struct act {
    struct app *app;
    const char *instance_id;
    const char *job_id;
    int job_cancelled;
    enum products_action action;
    json_t *accepted;
    json_t *skipped;
    int64_t cost; /* of the regenerations so far */
};

static int state_is(const struct store_generation *item, const char *a,
                    const char *b)
{
    return strcmp(item->state, a) == 0 || (b && strcmp(item->state, b) == 0);
}

static void skip(struct act *a, const struct store_generation *item,
                 const char *reason)
{
    json_array_append_new(a->skipped,
                          json_pack("{s:s, s:s, s:s}", "id", item->id, "state",
                                    item->state, "reason", reason));
}

/* The number of writes of action queued so far for the item. */
static int rounds_of(const struct store_generation *item, const char *action)
{
    json_t *checkpoints = json_loads(item->checkpoints, 0, NULL);
    int round = (int)json_integer_value(
        json_object_get(json_object_get(checkpoints, "rounds"), action));

    json_decref(checkpoints);
    return round;
}

static int queue_write(struct store_tx *tx, struct act *a,
                       const struct store_generation *item, int revert,
                       struct error *err)
{
    const char *action = revert ? "revert" : "apply";
    int round = rounds_of(item, action) + 1;

    if (products_set_state(tx, item->id, item->state,
                           revert ? PRODUCTS_REVERTING : PRODUCTS_APPLYING,
                           err) != 0 ||
        products_set_round(tx, item->id, action, round, err) != 0 ||
        products_enqueue_write(tx, a->instance_id, item->id, revert, round,
                               err) != 0)
        return -1;
    json_array_append_new(a->accepted, json_string(item->id));
    return 0;
}

/* A new item for the same product and fields, which reads the product's
 * current text when it runs. */
static int regenerate(struct store_tx *tx, struct act *a,
                      const struct store_generation *item, struct error *err)
{
    json_t *old = json_loads(item->input, 0, NULL);
    json_t *input =
        json_pack("{s:O, s:O, s:O, s:O}", "product_id",
                  json_object_get(old, "product_id"), "product_name",
                  json_object_get(old, "product_name"), "fields",
                  json_object_get(old, "fields"), "catalog",
                  json_object_get(old, "catalog"));
    char *text = input ? json_dumps(input, JSON_COMPACT) : NULL;
    int64_t cost = products_field_count(products_fields_from_json(
                       json_object_get(old, "fields"))) *
                   a->app->costs.product_field;
    char new_id[STORE_UUID_SIZE];
    int64_t position = 0;
    int rc = -1;

    a->cost += cost;
    if (!text) {
        error_set(err, ERR_RETRYABLE, "out of memory");
        goto out;
    }
    if (store_query_int(tx,
                        "SELECT COALESCE(MAX(position), -1) + 1 FROM "
                        "product_items WHERE job_id = ?",
                        STORE_ARGS(STORE_TEXT(a->job_id)), &position,
                        err) < 0 ||
        store_generation_create(tx, a->instance_id, PRODUCTS_KIND_ITEM,
                                a->job_id, PRODUCTS_PENDING, text, new_id,
                                err) != 0 ||
        store_credits_reserve(tx, a->instance_id, new_id, cost, err) < 0 ||
        store_run(tx,
                  "INSERT INTO product_items (item_id, job_id, position, "
                  "product_id) VALUES (?, ?, ?, ?)",
                  STORE_ARGS(STORE_TEXT(new_id), STORE_TEXT(a->job_id),
                             STORE_INT(position),
                             STORE_TEXT(json_string_value(
                                 json_object_get(old, "product_id")))),
                  NULL, err) != 0 ||
        products_enqueue_generate(tx, a->instance_id, new_id, err) != 0)
        goto out;
    json_decref(input);
    input = json_pack("{s:s}", "item_id", new_id);
    if (products_checkpoint(tx, item->id, "regenerated", input, err) != 0)
        goto out;
    json_array_append_new(a->accepted, json_string(new_id));
    rc = 0;
out:
    free(text);
    json_decref(input);
    json_decref(old);
    return rc;
}

static int already_regenerated(const struct store_generation *item)
{
    json_t *checkpoints = json_loads(item->checkpoints, 0, NULL);
    int found = json_object_get(checkpoints, "regenerated") != NULL;

    json_decref(checkpoints);
    return found;
}

/* The reason an item in the wrong state is skipped. */
static const char *skip_reason(enum products_action action)
{
    switch (action) {
    case PRODUCTS_APPLY:
        return "only ready or reverted items can be applied";
    case PRODUCTS_REVERT:
        return "only applied items can be reverted";
    case PRODUCTS_DISCARD:
        return "only ready items can be discarded";
    default:
        return "only conflict, failed, discarded or reverted items can be "
               "regenerated";
    }
}

/* Acts on one item: 0 done or skipped, -1 with err set. */
static int act_one(struct store_tx *tx, struct act *a,
                   const struct store_generation *item, struct error *err)
{
    switch (a->action) {
    case PRODUCTS_APPLY:
        if (!state_is(item, PRODUCTS_READY, PRODUCTS_REVERTED))
            break;
        return queue_write(tx, a, item, 0, err);
    case PRODUCTS_REVERT:
        if (!state_is(item, PRODUCTS_APPLIED, NULL))
            break;
        return queue_write(tx, a, item, 1, err);
    case PRODUCTS_DISCARD:
        if (!state_is(item, PRODUCTS_READY, NULL))
            break;
        if (products_set_state(tx, item->id, PRODUCTS_READY, PRODUCTS_DISCARDED,
                               err) != 0 ||
            products_release_held(tx, item->id, err) != 0)
            return -1;
        json_array_append_new(a->accepted, json_string(item->id));
        return 0;
    case PRODUCTS_REGENERATE:
        if (a->job_cancelled) {
            skip(a, item, "the job was cancelled: start a new job");
            return 0;
        }
        if (already_regenerated(item)) {
            skip(a, item, "the item was already regenerated");
            return 0;
        }
        if (!state_is(item, PRODUCTS_CONFLICT, PRODUCTS_FAILED) &&
            !state_is(item, PRODUCTS_DISCARDED, PRODUCTS_REVERTED))
            break;
        return regenerate(tx, a, item, err);
    }
    skip(a, item, skip_reason(a->action));
    return 0;
}

/* The ids to act on: the given ones, or the job's ready items. */
static json_t *target_ids(struct store_tx *tx, const struct act *a,
                          const char *const *item_ids, size_t count,
                          int all_ready, struct error *err)
{
    const struct batch_targets targets = {
        .item_kind = PRODUCTS_KIND_ITEM,
        .job_id = a->job_id,
        .ready_state = PRODUCTS_READY,
        .max_items = PRODUCTS_JOB_MAX_ITEMS,
        .all_ready_allowed =
            a->action == PRODUCTS_APPLY || a->action == PRODUCTS_DISCARD,
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

        if (products_load(tx, a->instance_id, PRODUCTS_KIND_ITEM,
                          json_string_value(id), a->job_id, 1, &item, err) != 1)
            return -1;
        rc = act_one(tx, a, &item, err);
        store_generation_clear(&item);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static const char *action_name(enum products_action action)
{
    switch (action) {
    case PRODUCTS_APPLY:
        return "apply";
    case PRODUCTS_DISCARD:
        return "discard";
    case PRODUCTS_REVERT:
        return "revert";
    default:
        return "regenerate";
    }
}

json_t *products_items_act(struct app *app, const char *instance_id,
                           const char *job_id, enum products_action action,
                           const char *const *item_ids, size_t count,
                           int all_ready, int64_t *cost, struct error *err)
{
    struct act a = {.app = app,
                    .instance_id = instance_id,
                    .job_id = job_id,
                    .action = action};
    struct store_tx *tx = store_begin(app->store, err);
    struct store_generation job;
    json_t *ids = NULL;
    json_t *out = NULL;

    if (cost)
        *cost = 0;
    if (!tx)
        return NULL;
    /* The job's row lock orders item actions against a cancel. */
    if (products_load(tx, instance_id, PRODUCTS_KIND_JOB, job_id, NULL, 1, &job,
                      err) != 1)
        goto fail;
    a.job_cancelled = strcmp(job.state, PRODUCTS_JOB_CANCELLED) == 0;
    store_generation_clear(&job);
    a.accepted = json_array();
    a.skipped = json_array();
    ids = target_ids(tx, &a, item_ids, count, all_ready, err);
    if (!ids || act_all(tx, &a, ids, err) != 0 ||
        store_notify(tx, PRODUCTS_CHANNEL, err) != 0)
        goto fail;
    if (store_commit(tx, err) != 0) {
        tx = NULL;
        goto fail;
    }
    log_info("products", "items %s instance=%s job=%s accepted=%zu skipped=%zu",
             action_name(action), instance_id, job_id,
             json_array_size(a.accepted), json_array_size(a.skipped));
    out = json_pack("{s:O, s:O}", "accepted", a.accepted, "skipped", a.skipped);
    tx = NULL;
fail:
    if (cost)
        *cost = a.cost;
    store_rollback(tx);
    json_decref(ids);
    json_decref(a.accepted);
    json_decref(a.skipped);
    return out;
}
