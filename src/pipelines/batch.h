/*
 * The parts of the batch jobs (image jobs and product jobs) that read the
 * same way: a job owns items at positions in a table of its own, and the
 * API pages through jobs and items with a numeric cursor.
 */
#ifndef SITESMITH_PIPELINES_BATCH_H
#define SITESMITH_PIPELINES_BATCH_H

#include "core/error.h"
#include "pipelines/app.h"
#include "store/store.h"

#include <jansson.h>
#include <stdint.h>

/* A batch pipeline's job kind, item table and views. */
struct batch_kind {
    const char *job_kind;   /* the generations kind of its jobs */
    const char *item_table; /* (job_id, item_id, position) rows */
    /* Reads a generation of kind owned by instance_id: 1 when found. */
    int (*load)(struct store_tx *tx, const char *instance_id, const char *kind,
                const char *id, const char *parent_id, int for_update,
                struct store_generation *out, struct error *err);
    /* A job as the API shows it; NULL with err. */
    json_t *(*job_json)(struct store_tx *tx, const struct store_generation *job,
                        struct error *err);
    /* An item as the API shows it. */
    json_t *(*item_json)(const struct store_generation *item);
};

/*
 * Moves item_id from state from to state to and notifies channel, in tx.
 * Returns 0, or -1 with err (ERR_CONFLICT when the item is no longer in
 * from).
 */
int batch_set_state(struct store_tx *tx, const char *channel,
                    const char *item_id, const char *from, const char *to,
                    struct error *err);

/* Saves value (any JSON) as the item's checkpoint step, in tx. */
int batch_checkpoint(struct store_tx *tx, const char *item_id, const char *step,
                     const json_t *value, struct error *err);

/*
 * Returns the ids of the job's items of item_kind in state, as a JSON
 * array the caller releases, or NULL with err.
 */
json_t *batch_item_ids(struct store_tx *tx, const char *item_kind,
                       const char *job_id, const char *state,
                       struct error *err);

/* Where the count of items in one state goes. */
struct batch_count {
    const char *state;
    int64_t *slot;
};

/*
 * Counts the job's items of item_kind by state into the slots of the
 * count counts (states without a slot are only added to *total), and adds
 * every item to *total. Returns 0, or -1 with err.
 */
int batch_read_counts(struct store_tx *tx, const char *item_kind,
                      const char *job_id, const struct batch_count *counts,
                      size_t count, int64_t *total, struct error *err);

/* What an action on a job's items may name. */
struct batch_targets {
    const char *item_kind;
    const char *job_id;
    const char *ready_state; /* the item state all_ready selects */
    int max_items;           /* item ids one request may name */
    int all_ready_allowed;   /* whether the action may use all_ready */
};

/*
 * Returns the ids to act on as a JSON array the caller releases: the job's
 * ready items with all_ready, else the count item_ids. NULL with err
 * (ERR_INVALID, code all_ready or item_ids) when they are not allowed.
 */
json_t *batch_target_ids(struct store_tx *tx,
                         const struct batch_targets *targets,
                         const char *const *item_ids, size_t count,
                         int all_ready, struct error *err);

/* A batch pipeline's kinds, states and hooks for cancelling a job. */
struct batch_cancel {
    const char *component; /* log component, e.g. "images" */
    const char *channel;   /* notified when states change */
    const char *job_kind;
    const char *item_kind;
    const char *job_running;
    const char *job_cancelled;
    const char *item_pending;
    const char *item_cancelled;
    /* Reads a generation of kind owned by instance_id: 1 when found. */
    int (*load)(struct store_tx *tx, const char *instance_id, const char *kind,
                const char *id, const char *parent_id, int for_update,
                struct store_generation *out, struct error *err);
    /* Called for each pending item once it is cancelled (may be NULL). */
    void (*item_cancelled_hook)(const struct app *app, const char *item_id);
};

/*
 * Cancels a running job of instance_id: the job and its pending items
 * become cancelled, their credits are released and their queued work is
 * dropped, in one transaction. Items already at work finish. Returns 0,
 * or -1 with err (ERR_CONFLICT when the job is no longer running).
 */
int batch_job_cancel(struct app *app, const struct batch_cancel *kind,
                     const char *instance_id, const char *job_id,
                     struct error *err);

/*
 * Releases the credits item_id holds, in tx. A reservation an earlier
 * apply already captured (ERR_CONFLICT) counts as released. Returns 0, or
 * -1 with err.
 */
int batch_release_held(struct store_tx *tx, const char *item_id,
                       struct error *err);

/* A time in ms as an ISO 8601 string (new reference). */
json_t *batch_time_json(int64_t ms);

/* {kind, message} of a failed item, or null (new reference). */
json_t *batch_error_json(const struct store_generation *item);

/*
 * Returns {"jobs": [...], "next_cursor": "N" or null}: one page of at
 * most limit of the site's jobs of kind, from cursor (NULL: the first
 * page). NULL with err, ERR_INVALID with code "cursor" for a bad cursor.
 */
json_t *batch_job_list_json(struct app *app, const struct batch_kind *kind,
                            const char *instance_id, int limit,
                            const char *cursor, struct error *err);

/*
 * Returns {"items": [...], "next_cursor": "N" or null}: one page of at
 * most limit of the job's items in position order, only those in state
 * when it is not NULL. NULL with err (ERR_NOT_FOUND for another site's
 * job).
 */
json_t *batch_items_json(struct app *app, const struct batch_kind *kind,
                         const char *instance_id, const char *job_id,
                         const char *state, int limit, const char *cursor,
                         struct error *err);

#endif
