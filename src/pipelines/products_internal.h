/*
 * Internals of the Product Optimizer shared by products_*.c.
 *
 * A product's text as read from Wix is kept as a "snapshot", a JSON
 * object with the same members on both catalogs:
 *
 *   id, name, description (HTML; V3's plainDescription), seo_title,
 *   seo_description, seo_data (the seoData object exactly as read, or
 *   null), facts {price, brand, ribbon, sku, options}, and on Catalog V1
 *   numeric_id, on V3 revision and description_ricos (the rich-content
 *   description exactly as read, or null).
 *
 * The text fields that a job writes are kept as a bit set.
 */
#ifndef SITESMITH_PIPELINES_PRODUCTS_INTERNAL_H
#define SITESMITH_PIPELINES_PRODUCTS_INTERNAL_H

#include "pipelines/products.h"
#include "wix/wix.h"

#include <jansson.h>

enum products_catalog_version {
    PRODUCTS_CATALOG_V1 = 1,
    PRODUCTS_CATALOG_V3 = 3,
};

/* The text fields, as bits of a field set. */
enum {
    PRODUCTS_FIELD_NAME = 1u << 0,
    PRODUCTS_FIELD_DESCRIPTION = 1u << 1,
    PRODUCTS_FIELD_SEO_TITLE = 1u << 2,
    PRODUCTS_FIELD_SEO_DESCRIPTION = 1u << 3,
    PRODUCTS_FIELD_ALL = 0xf,
};
#define PRODUCTS_FIELD_COUNT 4

/* The field's name in requests, snapshots and responses ("seo_title"). */
const char *products_field_name(unsigned field);

/* Parses a field name; 0 when unknown. */
unsigned products_field_parse(const char *name);

/* The field set as a JSON array of names (new reference). */
json_t *products_fields_json(unsigned fields);

/* Parses a JSON array of field names; 0 when it is not one. */
unsigned products_fields_from_json(const json_t *array);

/* Number of fields in a set. */
int products_field_count(unsigned fields);

/* Channel on which item state changes are announced. */
#define PRODUCTS_CHANNEL "sitesmith_products"

/* ------------------------------------------------------------------ */
/* Snapshots and Wix calls (products_catalog.c)                        */
/* ------------------------------------------------------------------ */

/* Builds the snapshot of a product as Wix returned it. New reference, or
 * NULL when product has no id. */
json_t *products_snapshot(const json_t *product, int catalog);

/* Reads the site's catalog version: PRODUCTS_CATALOG_V1 or _V3 into *out,
 * or ERR_PERMANENT when Wix Stores is not installed. */
int products_read_catalog(struct wix_client *client, int *out,
                          struct error *err);

/* Reads one product's snapshot from Wix (new reference into *out). */
int products_read_product(struct wix_client *client, int catalog,
                          const char *product_id, json_t **out,
                          struct error *err);

/*
 * Writes values (a JSON object of field name -> text) for the fields set
 * in fields, to the product whose current snapshot is current. With
 * revert set, values is the original snapshot and its exact seoData and,
 * on V3, its rich-content description go back.
 */
int products_write_product(struct wix_client *client, int catalog,
                           const json_t *current, unsigned fields,
                           const json_t *values, int revert, struct error *err);

/*
 * The first field of fields whose text differs between snapshots a and b
 * as the owner would see a change: exact text for name and description,
 * the whole seoData for the SEO fields, and on V3 the revision first.
 * Returns "revision" or a field name, or NULL when nothing changed.
 */
const char *products_changed_field(const json_t *a, const json_t *b,
                                   unsigned fields, int catalog);

/*
 * The first field of fields whose text in snapshot does not hold what
 * values (field name -> text) asked for, comparing descriptions in their
 * canonical form. NULL when every field took.
 */
const char *products_untaken_field(const json_t *snapshot, const json_t *values,
                                   unsigned fields);

/* Reads the products with the given ids (at most PRODUCTS_JOB_MAX_ITEMS)
 * as snapshots into *out (a new array, in the order given). An id that is
 * not in the store fails with ERR_INVALID naming it. */
int products_fetch_ids(struct wix_client *client, int catalog,
                       const json_t *ids, json_t **out, struct error *err);

/* Reads every product matching collection_id and search (both may be
 * NULL) as snapshots into *out. More than PRODUCTS_JOB_MAX_ITEMS fails
 * with ERR_INVALID. */
int products_fetch_all(struct wix_client *client, int catalog,
                       const char *collection_id, const char *search,
                       json_t **out, struct error *err);

/* ------------------------------------------------------------------ */
/* Settings (products_request.c)                                       */
/* ------------------------------------------------------------------ */

/*
 * Checks a job request and builds the settings object stored with the job:
 * {fields, mode, language, tone, keywords, instructions, max_lengths {name,
 * description, seo_title, seo_description}, only_fill_empty}. Returns a new
 * reference, or NULL with err set (ERR_INVALID, err->code naming the field).
 */
json_t *products_settings_from_request(const json_t *request, int catalog,
                                       struct error *err);

/* The maximum length of field in settings.max_lengths. */
size_t products_max_length(const json_t *settings, unsigned field);

/* ------------------------------------------------------------------ */
/* Items and jobs (products_job.c)                                     */
/* ------------------------------------------------------------------ */

/*
 * Reads a generation of kind into out (1 found), checking that it belongs
 * to instance_id and, when parent_id is not NULL, to that job. Anything
 * else is ERR_NOT_FOUND naming what.
 */
int products_load(struct store_tx *tx, const char *instance_id,
                  const char *kind, const char *id, const char *parent_id,
                  int for_update, struct store_generation *out,
                  struct error *err);

/* Changes an item's state from `from` and announces it; 0 changed, -1
 * with ERR_CONFLICT when the item was no longer in `from`. */
int products_set_state(struct store_tx *tx, const char *item_id,
                       const char *from, const char *to, struct error *err);

/* Writes value (a JSON value) as checkpoint step of the item. */
int products_checkpoint(struct store_tx *tx, const char *item_id,
                        const char *step, const json_t *value,
                        struct error *err);

/* Reads the ids of the job's items in state into a new array, or NULL
 * with err set. */
json_t *products_item_ids(struct store_tx *tx, const char *job_id,
                          const char *state, struct error *err);

/* Queues the generation of an item. */
int products_enqueue_generate(struct store_tx *tx, const char *instance_id,
                              const char *item_id, struct error *err);

/* Queues an apply or revert of an item; round counts the writes of that
 * action, so that each one has its own key. */
int products_enqueue_write(struct store_tx *tx, const char *instance_id,
                           const char *item_id, int revert, int round,
                           struct error *err);

/* Releases the item's reservation unless it was captured (an item applied
 * once, reverted, and applied again). */
int products_release_held(struct store_tx *tx, const char *item_id,
                          struct error *err);

/* Sets checkpoints.rounds[action] ("apply" or "revert") to round: the
 * number of writes of that action queued so far. */
int products_set_round(struct store_tx *tx, const char *item_id,
                       const char *action, int round, struct error *err);

/* Most attempts of a products job: 429s and token refreshes of a bulk run
 * must not fail items. */
#define PRODUCTS_MAX_ATTEMPTS 12

/* ------------------------------------------------------------------ */
/* Steps (products_generate.c, products_write.c)                       */
/* ------------------------------------------------------------------ */

int products_generate_run(struct store *st, struct queue_job *job, void *arg,
                          struct error *err);
int products_generate_failed(struct store_tx *tx, const struct queue_job *job,
                             const struct error *cause, void *arg,
                             struct error *err);
int products_write_run(struct store *st, struct queue_job *job, void *arg,
                       struct error *err);
int products_write_failed(struct store_tx *tx, const struct queue_job *job,
                          const struct error *cause, void *arg,
                          struct error *err);

#endif
