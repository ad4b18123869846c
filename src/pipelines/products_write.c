/*
 * The write step of an item: apply its generated text to the store, or
 * revert the product to its original text.
 *
 * One run records in the effects ledger that the write may happen. Then,
 * with a fresh client, it reads the product and checks that it still has
 * the text the write expects; if not, the item is a conflict and nothing
 * is written. Otherwise it writes, and reads the product back to check
 * that every field took. The outcome,
 * the credits and the job's end are committed together.
 *
 * A run that dies after the write and before the commit leaves the ledger
 * entry begun. The retry then finds the product changed, but holding
 * exactly the text it was about to write, and takes that as its own write
 * instead of a conflict.
 */
#include "pipelines/products_internal.h"

#include "core/json.h"
#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum outcome {
    OUTCOME_WRITTEN,   /* every field has the new text */
    OUTCOME_CONFLICT,  /* the product changed since its text was read */
    OUTCOME_NOT_TAKEN, /* Wix accepted the write, a field did not change */
};

/* One write of an item. */
struct write {
    struct app *app;
    struct queue_job *job;
    struct store_generation item;
    json_t *input;
    json_t *checkpoints;
    int revert;
    int round;
    int catalog;
    unsigned fields;
    char effect_key[STORE_ID_MAX * 2];
    int effect_existed;     /* an earlier run or unit may have written */
    const json_t *expected; /* the text the product must still have */
    const json_t *target;   /* the text to write */

    /* Results of the Wix unit. */
    enum outcome outcome;
    const char *field; /* the conflicting or untaken field */
    int already_written;
    json_t *current;  /* the product before the write */
    json_t *readback; /* the product after it */
};

static void write_clear(struct write *w)
{
    store_generation_clear(&w->item);
    json_decref(w->input);
    json_decref(w->checkpoints);
    json_decref(w->current);
    json_decref(w->readback);
}

static const char *action_name(const struct write *w)
{
    return w->revert ? "revert" : "apply";
}

static const char *busy_state(int revert)
{
    return revert ? PRODUCTS_REVERTING : PRODUCTS_APPLYING;
}

/* Reads the job's payload and the item: 1 when the item waits for this
 * write, 0 when it moved on or is gone. */
static int write_load(struct write *w, struct error *err)
{
    json_t *payload = json_loads(w->job->payload, 0, NULL);
    const char *action = json_string_value(json_object_get(payload, "action"));
    struct store_tx *tx;
    int rc;

    w->revert = action && strcmp(action, "revert") == 0;
    w->round = (int)json_integer_value(json_object_get(payload, "round"));
    json_decref(payload);
    tx = store_begin_read(w->app->store, err);
    if (!tx)
        return -1;
    rc = products_load(tx, w->job->instance_id, PRODUCTS_KIND_ITEM,
                       w->job->generation_id, NULL, 0, &w->item, err);
    store_rollback(tx);
    if (rc != 1)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    if (strcmp(w->item.state, busy_state(w->revert)) != 0)
        return 0;
    w->input = json_loads(w->item.input, 0, NULL);
    w->checkpoints = json_loads(w->item.checkpoints, 0, NULL);
    w->catalog = (int)json_integer_value(json_object_get(w->input, "catalog"));
    w->fields = products_fields_from_json(json_object_get(w->input, "fields"));
    return 1;
}

/* The snapshot the model rewrote. */
static const json_t *original_of(const struct write *w)
{
    const json_t *original = json_object_get(w->input, "original");

    return json_is_object(original)
               ? original
               : json_object_get(w->checkpoints, "original");
}

/* Sets what the write expects to find and what it writes. */
static int choose_texts(struct write *w, struct error *err)
{
    const json_t *original = original_of(w);
    const json_t *generated = json_object_get(w->checkpoints, "generated");
    const json_t *applied = json_object_get(w->checkpoints, "applied");

    w->expected = w->revert ? applied : original;
    w->target = w->revert ? original : generated;
    if (!json_is_object(w->expected) || !json_is_object(w->target))
        return error_set(
            err, ERR_PERMANENT, "item %s has no %s text to %s", w->item.id,
            json_is_object(w->target) ? "earlier" : "new", action_name(w));
    return 0;
}

/* Records in the ledger that this write may happen, before it does. */
static int begin_effect(struct write *w, struct error *err)
{
    struct store_tx *tx = store_begin(w->app->store, err);
    struct store_effect effect;
    int rc;

    if (!tx)
        return -1;
    snprintf(w->effect_key, sizeof(w->effect_key), "products/%s/%s/%d",
             w->item.id, action_name(w), w->round);
    memset(&effect, 0, sizeof(effect));
    rc = store_effect_begin(tx, w->effect_key, w->item.instance_id, w->item.id,
                            &effect, err);
    store_effect_clear(&effect);
    if (rc < 0) {
        store_rollback(tx);
        return -1;
    }
    w->effect_existed = rc == 0;
    return store_commit(tx, err);
}

/* ------------------------------------------------------------------ */
/* The Wix unit                                                        */
/* ------------------------------------------------------------------ */

static const char *product_id_of(const struct write *w)
{
    return json_string_value(json_object_get(w->input, "product_id"));
}

/* Compares the current product with what the write expects. Returns 1
 * when the write may go ahead, 0 when the outcome is decided. */
static int check_current(struct write *w)
{
    const char *changed =
        products_changed_field(w->expected, w->current, w->fields, w->catalog);

    if (!changed)
        return 1;
    if (w->effect_existed &&
        !products_untaken_field(w->current, w->target, w->fields)) {
        /* An earlier run wrote this text and died before recording it. */
        w->already_written = 1;
        w->readback = json_incref(w->current);
        w->outcome = OUTCOME_WRITTEN;
        return 0;
    }
    w->outcome = OUTCOME_CONFLICT;
    w->field = changed;
    return 0;
}

static int write_unit(struct wix_client *client, void *arg, struct error *err)
{
    struct write *w = arg;

    json_decref(w->current);
    json_decref(w->readback);
    w->current = w->readback = NULL;
    w->field = NULL;
    w->already_written = 0;

    if (products_read_product(client, w->catalog, product_id_of(w), &w->current,
                              err) < 0)
        return -1;
    if (!check_current(w))
        return 0;
    /* From here the write may have happened: when wix_run runs this unit
     * again after a rejected token, the product may already hold it. */
    w->effect_existed = 1;
    if (products_write_product(client, w->catalog, w->current, w->fields,
                               w->target, w->revert, err) < 0) {
        if (err->kind != ERR_CONFLICT || w->catalog != PRODUCTS_CATALOG_V3)
            return -1;
        /* V3: the revision moved between the read and the write. */
        w->outcome = OUTCOME_CONFLICT;
        w->field = "revision";
        return 0;
    }
    if (products_read_product(client, w->catalog, product_id_of(w),
                              &w->readback, err) < 0)
        return -1;
    w->field = products_untaken_field(w->readback, w->target, w->fields);
    w->outcome = w->field ? OUTCOME_NOT_TAKEN : OUTCOME_WRITTEN;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Recording the outcome                                               */
/* ------------------------------------------------------------------ */

static void outcome_error(const struct write *w, struct error *cause)
{
    error_clear(cause);
    if (w->outcome == OUTCOME_CONFLICT && strcmp(w->field, "revision") == 0)
        error_set(cause, ERR_CONFLICT,
                  "product %s was changed in the store since its text was "
                  "read (its revision moved); nothing was written: "
                  "regenerate the item from the current text",
                  product_id_of(w));
    else if (w->outcome == OUTCOME_CONFLICT)
        error_set(cause, ERR_CONFLICT,
                  "product %s was changed in the store since its text was "
                  "%s (its %s differs); nothing was written%s",
                  product_id_of(w), w->revert ? "applied" : "read", w->field,
                  w->revert ? ", and the owner's edit stays"
                            : ": regenerate the item from the current text");
    else
        error_set(cause, ERR_PERMANENT,
                  "Wix accepted the %s of product %s but its %s does not "
                  "hold the text that was sent",
                  w->revert ? "revert" : "write", product_id_of(w), w->field);
}

/* The item's state after the outcome. */
static const char *next_state(const struct write *w)
{
    if (w->outcome == OUTCOME_WRITTEN)
        return w->revert ? PRODUCTS_REVERTED : PRODUCTS_APPLIED;
    /* A revert that did not happen leaves the applied text in place. */
    if (w->revert)
        return PRODUCTS_APPLIED;
    return w->outcome == OUTCOME_CONFLICT ? PRODUCTS_CONFLICT : PRODUCTS_FAILED;
}

static int record_outcome(struct store_tx *tx, struct write *w,
                          struct error *err)
{
    struct error cause;

    if (w->outcome == OUTCOME_WRITTEN) {
        if (products_checkpoint(tx, w->item.id,
                                w->revert ? "reverted" : "applied", w->readback,
                                err) != 0 ||
            store_generation_set_error(tx, w->item.id, NULL, err) != 0)
            return -1;
        if (!w->revert && store_credits_capture(tx, w->item.id, err) < 0)
            return -1;
        return 0;
    }
    outcome_error(w, &cause);
    if (products_checkpoint(tx, w->item.id, "current", w->current, err) != 0 ||
        store_generation_set_error(tx, w->item.id, &cause, err) != 0)
        return -1;
    if (!w->revert && products_release_held(tx, w->item.id, err) != 0)
        return -1;
    log_warn("products",
             "item not written instance=%s item=%s product=%s action=%s "
             "error=\"%s\"",
             w->item.instance_id, w->item.id, product_id_of(w), action_name(w),
             cause.message);
    return 0;
}

/* Records the outcome, moves the item on, closes the ledger entry and
 * finishes the job, in one transaction. An item that is no longer
 * waiting for this write only gets the job finished. */
static int finish_write(struct write *w, struct error *err)
{
    struct store_tx *tx = store_begin(w->app->store, err);
    struct store_generation item;
    int waiting;

    if (!tx)
        return -1;
    if (products_load(tx, w->item.instance_id, PRODUCTS_KIND_ITEM, w->item.id,
                      NULL, 1, &item, err) != 1)
        goto fail;
    waiting = strcmp(item.state, busy_state(w->revert)) == 0;
    store_generation_clear(&item);
    if (waiting && (record_outcome(tx, w, err) != 0 ||
                    products_set_state(tx, w->item.id, busy_state(w->revert),
                                       next_state(w), err) != 0))
        goto fail;
    if (store_effect_done(tx, w->effect_key, product_id_of(w), err) != 0 ||
        queue_finish(tx, w->job, err) != 0)
        goto fail;
    return store_commit(tx, err);

fail:
    store_rollback(tx);
    return -1;
}

int products_write_run(struct store *st, struct queue_job *job, void *arg,
                       struct error *err)
{
    struct write w = {.app = arg, .job = job};
    int rc;

    (void)st;
    memset(&w.item, 0, sizeof(w.item));
    rc = write_load(&w, err);
    if (rc != 1)
        goto out;
    rc = choose_texts(&w, err) == 0 && begin_effect(&w, err) == 0 &&
                 wix_run(w.app->wix, w.item.instance_id, write_unit, &w, err) ==
                     0
             ? finish_write(&w, err)
             : -1;
    if (rc == 0)
        log_info(
            "products", "item %s instance=%s item=%s product=%s outcome=%s%s",
            action_name(&w), w.item.instance_id, w.item.id, product_id_of(&w),
            next_state(&w), w.already_written ? " already_written=1" : "");
out:
    write_clear(&w);
    return rc < 0 ? -1 : 0;
}

int products_write_failed(struct store_tx *tx, const struct queue_job *job,
                          const struct error *cause, void *arg,
                          struct error *err)
{
    json_t *payload = json_loads(job->payload, 0, NULL);
    const char *action = json_string_value(json_object_get(payload, "action"));
    int revert = action && strcmp(action, "revert") == 0;
    struct store_generation item;
    int rc;

    (void)arg;
    json_decref(payload);
    rc = products_load(tx, job->instance_id, PRODUCTS_KIND_ITEM,
                       job->generation_id, NULL, 1, &item, err);
    if (rc != 1)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    rc = 0;
    if (strcmp(item.state, busy_state(revert)) == 0) {
        rc =
            store_generation_set_error(tx, item.id, cause, err) != 0 ||
                    (!revert && products_release_held(tx, item.id, err) != 0) ||
                    products_set_state(
                        tx, item.id, item.state,
                        revert ? PRODUCTS_APPLIED : PRODUCTS_FAILED, err) != 0
                ? -1
                : 0;
        if (rc == 0)
            log_warn("products",
                     "item %s failed instance=%s item=%s kind=%s "
                     "error=\"%s\"",
                     revert ? "revert" : "apply", item.instance_id, item.id,
                     error_kind_name(cause->kind), cause->message);
    }
    store_generation_clear(&item);
    return rc;
}
