/*
 * The Image Optimizer: product images improved on Replicate (AI edit,
 * background removal, upscaling) or only compressed, then resized,
 * re-encoded and stripped of metadata with libvips, reviewed by the owner,
 * uploaded to the site's Media Manager and put in the original's place in
 * the product's media. The original file is never deleted, so an applied
 * image can be restored.
 *
 * A job is a generation of kind "image_job" whose input contains the
 * settings. Each selected image is an item: a generation of kind "image"
 * whose parent is the job, and whose state moves
 *
 *   pending -> processing -> ready -> applying -> applied
 *                  |           |                    |
 *                  |           +-> discarded        +-> restoring -> restored
 *                  +-> skipped_larger                      (restored items
 *                                                           can be applied
 *                                                           again)
 *
 * or ends failed or cancelled. In auto mode an item goes from processing
 * straight to applying. Each step is a queued job ("images.process",
 * "images.apply") that checkpoints what it paid for, so a retried step
 * never creates a second prediction for an id it recorded, never uploads
 * an image twice and never adds it to the product twice.
 *
 * Credits: each item reserves SITESMITH_COST_IMAGE when the job starts,
 * all items in one transaction. The reservation is captured when the item
 * is applied, and released when the item fails, is skipped, discarded or
 * cancelled. Applying again after a restore charges nothing more, and a
 * restore is free.
 *
 * Only Catalog V1 stores are supported: a V3 site fails at job creation
 * with ERR_PERMANENT (code IMAGES_ERR_CATALOG).
 *
 * Every function that takes an instance_id only sees jobs of that site:
 * another site's job is ERR_NOT_FOUND, as an unknown id is. All of them
 * may be called from any thread that holds no store transaction.
 */
#ifndef SITESMITH_PIPELINES_IMAGES_H
#define SITESMITH_PIPELINES_IMAGES_H

#include "core/buf.h"
#include "core/error.h"
#include "pipelines/app.h"
#include "queue/queue.h"
#include "store/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Generation kinds. */
#define IMAGES_KIND_JOB "image_job"
#define IMAGES_KIND_ITEM "image"

/* Queue job kinds. */
#define IMAGES_JOB_PROCESS "images.process"
#define IMAGES_JOB_APPLY "images.apply"

/* Item states. */
#define IMAGES_PENDING "pending"
#define IMAGES_PROCESSING "processing"
#define IMAGES_READY "ready"
#define IMAGES_SKIPPED_LARGER "skipped_larger"
#define IMAGES_APPLYING "applying"
#define IMAGES_APPLIED "applied"
#define IMAGES_RESTORING "restoring"
#define IMAGES_RESTORED "restored"
#define IMAGES_FAILED "failed"
#define IMAGES_DISCARDED "discarded"
#define IMAGES_CANCELLED "cancelled"

/* Job states: running until cancelled. The API shows "done" for a running
 * job none of whose items is pending, processing, applying or restoring. */
#define IMAGES_JOB_RUNNING "running"
#define IMAGES_JOB_CANCELLED "cancelled"

/* err->code when the site has no Wix Stores or a catalog other than V1
 * (with ERR_PERMANENT). */
#define IMAGES_ERR_NO_STORES "stores_not_installed"
#define IMAGES_ERR_CATALOG "catalog_not_supported"

/* The most products and images one job may select. */
#define IMAGES_JOB_MAX_PRODUCTS 100
#define IMAGES_JOB_MAX_ITEMS 500

/* The schema of the images component (item order within a job). */
extern const struct store_schema images_schema;

/*
 * Starts a job for instance_id from request, a JSON object:
 *
 *   product_ids   ids of the products whose images to improve (1 to 100)
 *   media_ids     optional: only these media items of those products
 *   operation     "edit", "remove_background", "upscale" or "compress"
 *   instruction   the edit's instruction (edit only, 1 to 1000 bytes)
 *   scale         2 or 4 (upscale only, default 2)
 *   format        "webp" (default), "jpeg", "png" or "avif" (where
 *                 libvips has an AVIF saver)
 *   quality       1 to 100 (default 80; PNG is lossless and ignores it)
 *   max_width, max_height   0 (no limit, the default) or 16 to 16384
 *   mode          "review" (default) or "auto"
 *
 * It reads the catalog version and the products from Wix, then creates the
 * job and one item per image, reserves every item's credits and queues the
 * items' processing, all in one transaction. Writes the job id into id_out
 * and, when cost is not NULL, the credits the job needs (also when that is
 * too many).
 *
 * Errors: ERR_INVALID naming the field (err->code is its name), also for
 * unknown products and a selection with no image; ERR_PERMANENT when Wix
 * Stores is missing or the catalog is not V1; ERR_INSUFFICIENT_CREDITS
 * "insufficient credits: balance B, cost C"; Wix errors as wix_run().
 */
int images_job_create(struct app *app, const char *instance_id,
                      const json_t *request, char id_out[STORE_UUID_SIZE],
                      int64_t *cost, struct error *err);

/*
 * Cancels a job: its pending items become cancelled and their credits are
 * released, in one transaction. Items being processed finish and wait for
 * review even in auto mode. A cancelled job is ERR_CONFLICT.
 */
int images_job_cancel(struct app *app, const char *instance_id,
                      const char *job_id, struct error *err);

/*
 * The job as the API shows it (docs/openapi.yaml, ImageJob): id, state,
 * operation, settings, counts per item state, total, bytes {before, after}
 * of the processed items, credits {reserved, charged}, created_at and
 * updated_at. Returns a new reference, or NULL with err set (ERR_NOT_FOUND
 * for an unknown id).
 */
json_t *images_job_json(struct app *app, const char *instance_id,
                        const char *job_id, struct error *err);

/*
 * One page of the site's jobs, newest first: {"jobs": [...],
 * "next_cursor": "..." or null}. limit is 1 to 100; cursor is NULL or the
 * previous page's next_cursor (ERR_INVALID with code "cursor" otherwise).
 */
json_t *images_job_list_json(struct app *app, const char *instance_id,
                             int limit, const char *cursor, struct error *err);

/*
 * One page of a job's items in selection order, only those in state when
 * it is not NULL: {"items": [...], "next_cursor": ...}. Each item shows
 * product_id, product_name, media_id, position, state, alt_text, before
 * and after {bytes, width, height, content_type}, saved_bytes, the media
 * id of the uploaded image, error and credits.
 */
json_t *images_items_json(struct app *app, const char *instance_id,
                          const char *job_id, const char *state, int limit,
                          const char *cursor, struct error *err);

/* One item, as in images_items_json(). */
json_t *images_item_json(struct app *app, const char *instance_id,
                         const char *job_id, const char *item_id,
                         struct error *err);

/*
 * Reads an item's kept image, the original (after == 0) or the result
 * (after == 1), into out (a buffer the caller initialised; its maximum
 * applies) and its media type into content_type. ERR_NOT_FOUND when the
 * item has no such image (not processed yet, or discarded).
 */
int images_item_bytes(struct app *app, const char *instance_id,
                      const char *job_id, const char *item_id, int after,
                      struct buf *out, char content_type[32],
                      struct error *err);

enum images_action {
    IMAGES_APPLY,   /* ready or restored -> applying */
    IMAGES_DISCARD, /* ready or skipped_larger -> discarded, credits
                       released, kept files deleted */
    IMAGES_RESTORE, /* applied -> restoring */
};

/*
 * Acts on items of a job: those in item_ids (count of them), or with
 * all_ready set every ready item (IMAGES_APPLY and IMAGES_DISCARD only).
 * All changes happen in one transaction. Items in a state the action does
 * not take are left as they are and listed as skipped. Returns
 * {"accepted": [ids], "skipped": [{"id", "state", "reason"}]}, or NULL
 * with err set: ERR_NOT_FOUND for an unknown job, ERR_INVALID for an
 * unknown item id.
 */
json_t *images_items_act(struct app *app, const char *instance_id,
                         const char *job_id, enum images_action action,
                         const char *const *item_ids, size_t count,
                         int all_ready, struct error *err);

/* Item counts of a job, for progress displays. */
struct images_progress {
    int64_t total;
    int64_t pending, processing, ready, skipped_larger, applying, applied;
    int64_t restoring, restored, failed, discarded, cancelled;
    int cancelled_job; /* the job itself was cancelled */
};

/* Reads the counts of a job in a read transaction. */
int images_job_progress(struct app *app, const char *instance_id,
                        const char *job_id, struct images_progress *out,
                        struct error *err);

/* True when no item of the job is pending, processing, applying or
 * restoring. */
int images_progress_settled(const struct images_progress *progress);

/*
 * The product's media as the dashboard lists it, read from Wix:
 * {"product_id", "name", "media": [{id, media_type, url, width, height,
 * alt_text, title}]}.
 */
json_t *images_product_media_json(struct app *app, const char *instance_id,
                                  const char *product_id, struct error *err);

/*
 * Registers the two image job kinds with pool: their handlers, and the
 * hooks that fail an item (and release its credits) when its job fails
 * for good. Checks the image settings first, so that a bad value stops
 * the worker at start. app must outlive the pool.
 */
int images_register_jobs(struct app *app, struct queue_pool *pool,
                         struct error *err);

#endif
