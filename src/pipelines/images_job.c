/*
 * Image jobs: the settings, starting a job (read the products from Wix,
 * then create, reserve and queue every item in one transaction),
 * cancelling one, the helpers the steps share, and the registration of the
 * job kinds.
 */
#include "pipelines/images_internal.h"

#include "pipelines/batch.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "wix/stores.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Published versions of the community models (replicate.com API pages);
 * official models go by name. */
#define DEFAULT_UPSCALE_MODEL                                                  \
    "nightmareai/real-esrgan:"                                                 \
    "f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa"
#define DEFAULT_BACKGROUND_MODEL                                               \
    "lucataco/remove-bg:"                                                      \
    "95fcc2a26d3899cd6c2691c900465aaeff466285a65c14638cc5f36f34befaf1"
#define DEFAULT_EDIT_MODEL "black-forest-labs/flux-kontext-pro"

/* image_items: the items of each job in selection order.
 * image_product_locks: the item that is changing a product's media. */
static const struct store_migration migrations[] = {
    {
        .version = 1,
        .name = "image_items",
        .sql = "CREATE TABLE image_items ("
               " item_id TEXT PRIMARY KEY,"
               " job_id TEXT NOT NULL,"
               " position BIGINT NOT NULL,"
               " product_id TEXT NOT NULL,"
               " media_id TEXT NOT NULL);"
               "CREATE UNIQUE INDEX image_items_by_job"
               " ON image_items (job_id, position);",
    },
    {
        .version = 2,
        .name = "image_product_locks",
        .sql = "CREATE TABLE image_product_locks ("
               " product_key TEXT PRIMARY KEY,"
               " item_id TEXT NOT NULL,"
               " expires_at_ms BIGINT NOT NULL);",
    },
};

const struct store_schema images_schema = {
    .component = "images",
    .migrations = migrations,
    .count = sizeof(migrations) / sizeof(migrations[0]),
};

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

static int read_model(const struct config *cfg, const char *name,
                      const char *fallback, char *out, size_t size,
                      struct error *err)
{
    const char *value = config_get_string(cfg, name, fallback);

    if (!strchr(value, '/') || strlen(value) >= size)
        return error_set(err, ERR_INVALID,
                         "%s: invalid value \"%.80s\": expected owner/name or "
                         "owner/name:<version id>",
                         name, value);
    snprintf(out, size, "%s", value);
    return 0;
}

int images_settings_read(const struct config *cfg, struct images_settings *out,
                         struct error *err)
{
    memset(out, 0, sizeof(*out));
    if (config_get_int(cfg, "SITESMITH_IMAGE_MAX_BYTES", 25LL * 1024 * 1024,
                       1024, 512LL * 1024 * 1024, &out->max_bytes, err) != 0 ||
        config_get_int(cfg, "SITESMITH_IMAGE_MAX_PIXELS", 50LL * 1000 * 1000,
                       1024, 1000LL * 1000 * 1000, &out->max_pixels,
                       err) != 0 ||
        config_get_duration_ms(cfg, "SITESMITH_IMAGE_MEDIA_TIMEOUT", 60 * 1000,
                               &out->media_timeout_ms, err) != 0)
        return -1;
    if (read_model(cfg, "SITESMITH_REPLICATE_UPSCALE_MODEL",
                   DEFAULT_UPSCALE_MODEL, out->upscale_model,
                   sizeof(out->upscale_model), err) != 0 ||
        read_model(cfg, "SITESMITH_REPLICATE_BACKGROUND_MODEL",
                   DEFAULT_BACKGROUND_MODEL, out->background_model,
                   sizeof(out->background_model), err) != 0)
        return -1;
    return read_model(cfg, "SITESMITH_REPLICATE_EDIT_MODEL", DEFAULT_EDIT_MODEL,
                      out->edit_model, sizeof(out->edit_model), err);
}

/* ------------------------------------------------------------------ */
/* Helpers shared by the steps                                         */
/* ------------------------------------------------------------------ */

int images_load(struct store_tx *tx, const char *instance_id, const char *kind,
                const char *id, const char *parent_id, int for_update,
                struct store_generation *out, struct error *err)
{
    const char *what = strcmp(kind, IMAGES_KIND_JOB) == 0 ? "job" : "item";
    int rc;

    memset(out, 0, sizeof(*out));
    if (!id || !id[0] || strlen(id) >= STORE_UUID_SIZE)
        return error_set(err, ERR_NOT_FOUND, "image %s \"%.64s\" not found",
                         what, id ? id : "");
    rc = store_generation_get(tx, id, for_update, out, err);
    if (rc < 0)
        return -1;
    if (rc == 0 || strcmp(out->instance_id, instance_id) != 0 ||
        strcmp(out->kind, kind) != 0 ||
        (parent_id && strcmp(out->parent_id, parent_id) != 0)) {
        store_generation_clear(out);
        return error_set(err, ERR_NOT_FOUND, "image %s %s not found", what, id);
    }
    return 1;
}

int images_set_state(struct store_tx *tx, const char *item_id, const char *from,
                     const char *to, struct error *err)
{
    return batch_set_state(tx, IMAGES_CHANNEL, item_id, from, to, err);
}

int images_checkpoint(struct store_tx *tx, const char *item_id,
                      const char *step, const json_t *value, struct error *err)
{
    return batch_checkpoint(tx, item_id, step, value, err);
}

int images_checkpoint_now(struct store *st, const char *item_id,
                          const char *step, const json_t *value,
                          struct error *err)
{
    struct store_tx *tx = store_begin(st, err);

    if (!tx)
        return -1;
    if (images_checkpoint(tx, item_id, step, value, err) != 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}

json_t *images_item_ids(struct store_tx *tx, const char *job_id,
                        const char *state, struct error *err)
{
    return batch_item_ids(tx, IMAGES_KIND_ITEM, job_id, state, err);
}

int images_enqueue_process(struct store_tx *tx, const char *instance_id,
                           const char *item_id, struct error *err)
{
    struct queue_enqueue_options options = {
        .generation_id = item_id, .max_attempts = IMAGES_MAX_ATTEMPTS};
    char key[STORE_ID_MAX];

    snprintf(key, sizeof(key), "images/%s/process", item_id);
    options.unique_key = key;
    return queue_enqueue(tx, IMAGES_JOB_PROCESS, instance_id, NULL, &options,
                         NULL, err) < 0
               ? -1
               : 0;
}

static int set_round(struct store_tx *tx, const char *item_id,
                     const char *action, int round, struct error *err)
{
    char *text = NULL;
    json_t *rounds;
    int rc;

    if (store_generation_get_checkpoint(tx, item_id, "rounds", &text, err) < 0)
        return -1;
    rounds = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!json_is_object(rounds)) {
        json_decref(rounds);
        rounds = json_object();
    }
    json_object_set_new(rounds, action, json_integer(round));
    rc = images_checkpoint(tx, item_id, "rounds", rounds, err);
    json_decref(rounds);
    return rc;
}

int images_enqueue_apply(struct store_tx *tx, const char *instance_id,
                         const char *item_id, int restore, int round,
                         struct error *err)
{
    const char *action = restore ? "restore" : "apply";
    struct queue_enqueue_options options = {
        .generation_id = item_id, .max_attempts = IMAGES_MAX_ATTEMPTS};
    char key[STORE_ID_MAX];
    char payload[96];

    snprintf(key, sizeof(key), "images/%s/%s/%d", item_id, action, round);
    snprintf(payload, sizeof(payload), "{\"action\":\"%s\",\"round\":%d}",
             action, round);
    options.unique_key = key;
    if (set_round(tx, item_id, action, round, err) != 0)
        return -1;
    return queue_enqueue(tx, IMAGES_JOB_APPLY, instance_id, payload, &options,
                         NULL, err) < 0
               ? -1
               : 0;
}

int images_release_held(struct store_tx *tx, const char *item_id,
                        struct error *err)
{
    return batch_release_held(tx, item_id, err);
}

int images_lock_product(struct store *st, const char *instance_id,
                        const char *product_id, const char *item_id,
                        struct error *err)
{
    struct store_tx *tx = store_begin(st, err);
    char key[STORE_ID_MAX * 2];
    int64_t taken = 0;

    if (!tx)
        return -1;
    snprintf(key, sizeof(key), "%s/%s", instance_id, product_id);
    if (store_run(tx,
                  "DELETE FROM image_product_locks WHERE product_key = ? AND "
                  "(expires_at_ms < ? OR item_id = ?)",
                  STORE_ARGS(STORE_TEXT(key), STORE_INT(clock_now_ms()),
                             STORE_TEXT(item_id)),
                  NULL, err) != 0 ||
        store_run(
            tx,
            "INSERT INTO image_product_locks (product_key, item_id, "
            "expires_at_ms) VALUES (?, ?, ?) ON CONFLICT (product_key) "
            "DO NOTHING",
            STORE_ARGS(STORE_TEXT(key), STORE_TEXT(item_id),
                       STORE_INT(clock_now_ms() + IMAGES_PRODUCT_LOCK_MS)),
            &taken, err) != 0) {
        store_rollback(tx);
        return -1;
    }
    if (store_commit(tx, err) != 0)
        return -1;
    if (taken == 1)
        return 0;
    error_set(err, ERR_RETRYABLE,
              "another image of product %s is being applied or restored; "
              "trying again shortly",
              product_id);
    err->retry_after_ms = IMAGES_PRODUCT_LOCK_RETRY_MS;
    return -1;
}

void images_unlock_product(struct store *st, const char *instance_id,
                           const char *product_id, const char *item_id)
{
    struct error err;
    struct store_tx *tx;
    char key[STORE_ID_MAX * 2];

    error_clear(&err);
    tx = store_begin(st, &err);
    snprintf(key, sizeof(key), "%s/%s", instance_id, product_id);
    if (tx &&
        store_run(tx,
                  "DELETE FROM image_product_locks WHERE product_key = ? AND "
                  "item_id = ?",
                  STORE_ARGS(STORE_TEXT(key), STORE_TEXT(item_id)), NULL,
                  &err) == 0 &&
        store_commit(tx, &err) == 0)
        return;
    if (tx && err.kind != ERR_NONE)
        store_rollback(tx);
    /* The lock expires on its own. */
    log_warn("images",
             "cannot release the product lock product=%s item=%s "
             "error=\"%s\"",
             product_id, item_id, err.message);
}

int images_check_catalog(struct wix_client *client, struct error *err)
{
    enum wix_catalog catalog;

    if (wix_stores_catalog_version(client, &catalog, err) != 0)
        return -1;
    if (catalog == WIX_CATALOG_V1)
        return 0;
    if (catalog == WIX_CATALOG_NOT_INSTALLED) {
        error_set(err, ERR_PERMANENT,
                  "Wix Stores is not installed on site %s: add it to use "
                  "the Image Optimizer",
                  wix_client_instance_id(client));
        snprintf(err->code, sizeof(err->code), IMAGES_ERR_NO_STORES);
        return -1;
    }
    error_set(err, ERR_PERMANENT,
              "site %s uses Wix Stores Catalog V3; the Image Optimizer "
              "supports Catalog V1 stores only",
              wix_client_instance_id(client));
    snprintf(err->code, sizeof(err->code), IMAGES_ERR_CATALOG);
    return -1;
}

static json_t *string_or(const json_t *value, const char *fallback)
{
    return json_is_string(value) ? json_incref((json_t *)value)
                                 : json_string(fallback);
}

json_t *images_product_media(const json_t *product)
{
    json_t *out = json_array();
    size_t i;
    json_t *item;

    json_array_foreach(json_at(product, "media.items"), i, item)
    {
        const json_t *image = json_object_get(item, "image");
        const char *type =
            json_string_value(json_object_get(item, "mediaType"));
        const json_t *alt = json_object_get(image, "altText");

        if (!json_is_string(json_object_get(item, "id")))
            continue;
        json_array_append_new(
            out,
            json_pack("{s:O, s:s, s:o, s:I, s:I, s:o, s:o}", "id",
                      json_object_get(item, "id"), "media_type",
                      type ? type : "image", "url",
                      string_or(json_object_get(image, "url"), ""), "width",
                      json_integer_value(json_object_get(image, "width")),
                      "height",
                      json_integer_value(json_object_get(image, "height")),
                      "alt_text", string_or(alt, ""), "title",
                      string_or(json_object_get(item, "title"), "")));
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* Crash point for tests                                               */
/* ------------------------------------------------------------------ */

static _Atomic(const char *) crash_point;

void images_set_crash_point(const char *point)
{
    atomic_store(&crash_point, point);
}

int images_crash_point_hit(const char *point, struct error *err)
{
    const char *armed = atomic_load(&crash_point);

    if (!armed || strcmp(armed, point) != 0)
        return 0;
    error_set(err, ERR_RETRYABLE, "stopped at the test crash point %s", point);
    snprintf(err->code, sizeof(err->code), IMAGES_ERR_CRASH_POINT);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Job kinds                                                           */
/* ------------------------------------------------------------------ */

int images_register_jobs(struct app *app, struct queue_pool *pool,
                         struct error *err)
{
    struct queue_handler process = {
        .run = images_process_run, .failed = images_process_failed, .arg = app};
    struct queue_handler apply = {
        .run = images_apply_run, .failed = images_apply_failed, .arg = app};
    struct images_settings settings;

    if (images_settings_read(app->cfg, &settings, err) != 0)
        return -1;
    if (queue_pool_register(pool, IMAGES_JOB_PROCESS, &process, err) != 0)
        return -1;
    return queue_pool_register(pool, IMAGES_JOB_APPLY, &apply, err);
}
