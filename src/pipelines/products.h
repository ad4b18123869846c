/*
 * The Product Optimizer: new names, descriptions, SEO titles and meta
 * descriptions for Wix Stores products, written by the model, reviewed by
 * the owner, applied to the store and reverted on request.
 *
 * A job is a generation of kind "product_job" whose input contains the
 * settings. Each product of the job is an item: a generation of kind
 * "product" whose parent is the job, and whose state moves
 *
 *   pending -> running -> ready -> applying -> applied
 *                           |                    |
 *                           +-> discarded        +-> reverting -> reverted
 *
 * or ends failed, conflict (the product changed in the store before the
 * write) or cancelled. In auto mode an item goes from running straight to
 * applying. Each step is a queued job ("products.generate",
 * "products.write") that checkpoints its output, so a retried step never
 * asks the model again for text it already has.
 *
 * Credits: each item reserves (fields x SITESMITH_COST_PRODUCT_FIELD) when
 * the job starts, all items in one transaction. The reservation is
 * captured when the item is applied, and released when the item fails,
 * conflicts, is discarded or cancelled. Applying again after a revert
 * charges nothing more, and a revert is free.
 *
 * Writes: every write gets a fresh token and client (wix_run), first reads
 * the product to find out whether it changed since its text was read
 * (Catalog V1: the stored original text against the current text; V3:
 * the revision), and then reads the product back to check that each field
 * holds what was written. Applying and reverting are keyed in the effects
 * ledger, so a write that was sent but not recorded is recognised as ours
 * on the retry.
 *
 * Every function that takes an instance_id only sees jobs of that site:
 * another site's job is ERR_NOT_FOUND, as an unknown id is. All of them
 * may be called from any thread that holds no store transaction.
 */
#ifndef SITESMITH_PIPELINES_PRODUCTS_H
#define SITESMITH_PIPELINES_PRODUCTS_H

#include "core/error.h"
#include "pipelines/app.h"
#include "queue/queue.h"
#include "store/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Generation kinds. */
#define PRODUCTS_KIND_JOB "product_job"
#define PRODUCTS_KIND_ITEM "product"

/* Queue job kinds. */
#define PRODUCTS_JOB_GENERATE "products.generate"
#define PRODUCTS_JOB_WRITE "products.write"

/* Item states. */
#define PRODUCTS_PENDING "pending"
#define PRODUCTS_RUNNING "running"
#define PRODUCTS_READY "ready"
#define PRODUCTS_APPLYING "applying"
#define PRODUCTS_APPLIED "applied"
#define PRODUCTS_REVERTING "reverting"
#define PRODUCTS_REVERTED "reverted"
#define PRODUCTS_FAILED "failed"
#define PRODUCTS_CONFLICT "conflict"
#define PRODUCTS_DISCARDED "discarded"
#define PRODUCTS_CANCELLED "cancelled"

/* Job states: running until cancelled. The API shows "done" for a running
 * job none of whose items is pending, running, applying or reverting. */
#define PRODUCTS_JOB_RUNNING "running"
#define PRODUCTS_JOB_CANCELLED "cancelled"

/* err->code when the site has no Wix Stores (with ERR_PERMANENT). */
#define PRODUCTS_ERR_NO_STORES "stores_not_installed"

/* The maximum number of products in one job. */
#define PRODUCTS_JOB_MAX_ITEMS 10000

/* The schema of the products component (item order within a job). */
extern const struct store_schema products_schema;

/*
 * Starts a job for instance_id from request, a JSON object:
 *
 *   product_ids      ids of the products to rewrite, or
 *   all              true: every product, optionally narrowed by
 *   collection_id    (Catalog V1 only) and search (name words)
 *   fields           some of "name", "description", "seo_title",
 *                    "seo_description" (default: all four)
 *   mode             "review" (default) or "auto"
 *   language, tone, instructions   text, optional
 *   keywords         array of text, optional
 *   max_lengths      {name <= 80, description <= 8000 (16000 on V3),
 *                    seo_title <= 200, seo_description <= 500}
 *   only_fill_empty  write only fields that are empty today
 *
 * It reads the catalog version and the selected products from Wix, then
 * creates the job and its items, reserves every item's credits and queues
 * the items' generation, all in one transaction: either the whole job
 * starts or nothing does. Writes the job id into id_out and, when cost is
 * not NULL, the credits the job needs (also when that is too many).
 *
 * Errors: ERR_INVALID naming the field (err->code is its name), also for
 * unknown product ids and a selection with nothing to write;
 * ERR_PERMANENT when Wix Stores is not installed; ERR_INSUFFICIENT_CREDITS
 * "insufficient credits: balance B, cost C"; Wix errors as wix_run().
 */
int products_job_create(struct app *app, const char *instance_id,
                        const json_t *request, char id_out[STORE_UUID_SIZE],
                        int64_t *cost, struct error *err);

/*
 * Cancels a job: its pending items become cancelled and their credits are
 * released, in one transaction. Items being generated or written finish,
 * and items that finish generating afterwards wait for review even in
 * auto mode. A cancelled job is ERR_CONFLICT.
 */
int products_job_cancel(struct app *app, const char *instance_id,
                        const char *job_id, struct error *err);

/*
 * The job as the API shows it (docs/openapi.yaml, ProductJob): id, state,
 * mode, fields, settings, catalog_version, counts per item state, total,
 * skipped (selected products with nothing to write), credits {reserved,
 * charged}, created_at and updated_at. Returns a new reference, or NULL
 * with err set (ERR_NOT_FOUND for an unknown id).
 */
json_t *products_job_json(struct app *app, const char *instance_id,
                          const char *job_id, struct error *err);

/*
 * One page of the site's jobs, newest first: {"jobs": [...],
 * "next_cursor": "..." or null}. limit is 1 to 100; cursor is NULL or the
 * previous page's next_cursor (ERR_INVALID with code "cursor" otherwise).
 */
json_t *products_job_list_json(struct app *app, const char *instance_id,
                               int limit, const char *cursor,
                               struct error *err);

/*
 * One page of a job's items in product order, only those in state when it
 * is not NULL: {"items": [...], "next_cursor": ...}. Each item shows
 * product_id, state, fields, before and after {name, description,
 * seo_title, seo_description}, shortened (fields cut to fit), error and
 * credits.
 */
json_t *products_items_json(struct app *app, const char *instance_id,
                            const char *job_id, const char *state, int limit,
                            const char *cursor, struct error *err);

/* One item, as in products_items_json(). */
json_t *products_item_json(struct app *app, const char *instance_id,
                           const char *job_id, const char *item_id,
                           struct error *err);

enum products_action {
    PRODUCTS_APPLY,      /* ready or reverted -> applying */
    PRODUCTS_DISCARD,    /* ready -> discarded, credits released */
    PRODUCTS_REVERT,     /* applied -> reverting */
    PRODUCTS_REGENERATE, /* conflict, failed, discarded or reverted: a
                            new item from the product's current text */
};

/*
 * Acts on items of a job: those in item_ids (count of them), or with
 * all_ready set every ready item (PRODUCTS_APPLY and PRODUCTS_DISCARD
 * only). All changes happen in one transaction. Items in a state the
 * action does not take are left as they are and listed as skipped.
 * Returns {"accepted": [ids], "skipped": [{"id", "state", "reason"}]}
 * (for PRODUCTS_REGENERATE, "accepted" lists the new items' ids), or NULL
 * with err set: ERR_NOT_FOUND for an unknown job, ERR_INVALID for an
 * unknown item id, ERR_INSUFFICIENT_CREDITS when a regeneration can't be
 * paid for (*cost, when not NULL, is what it needs).
 */
json_t *products_items_act(struct app *app, const char *instance_id,
                           const char *job_id, enum products_action action,
                           const char *const *item_ids, size_t count,
                           int all_ready, int64_t *cost, struct error *err);

/* What products_catalog_json() lists. */
struct products_catalog_query {
    const char *search;        /* name words, or NULL */
    const char *collection_id; /* Catalog V1 only; NULL for all */
    int limit;                 /* 1 to 100 */
    const char *cursor;        /* NULL, or the previous next_cursor */
};

/*
 * One page of the store's products, read from Wix: {"catalog_version",
 * "products": [{id, name, description, seo_title, seo_description,
 * price, visible, image_url}], "total" (V1 only), "next_cursor"}.
 */
json_t *products_catalog_json(struct app *app, const char *instance_id,
                              const struct products_catalog_query *query,
                              struct error *err);

/* The store's collections from Wix: {"collections": [{id, name}]}. */
json_t *products_collections_json(struct app *app, const char *instance_id,
                                  struct error *err);

/* Item counts of a job, for progress displays. */
struct products_progress {
    int64_t total;
    int64_t pending, running, ready, applying, applied, reverting, reverted;
    int64_t failed, conflict, discarded, cancelled;
    int cancelled_job; /* the job itself was cancelled */
};

/* Reads the counts of a job in a read transaction. */
int products_job_progress(struct app *app, const char *instance_id,
                          const char *job_id, struct products_progress *out,
                          struct error *err);

/* True when no item of the job is pending, running, applying or
 * reverting. */
int products_progress_settled(const struct products_progress *progress);

/*
 * Registers the two product job kinds with pool: their handlers, and the
 * hooks that fail an item (and release its credits) when its job fails
 * for good. app must outlive the pool. Call before the pool starts.
 */
int products_register_jobs(struct app *app, struct queue_pool *pool,
                           struct error *err);

#endif
