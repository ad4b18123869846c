/*
 * Starting and cancelling image jobs. A job starts from the products as
 * Wix has them now: their image media items become the items, and every
 * item is created, paid for and queued in one transaction.
 */
#include "pipelines/images_internal.h"

#include "pipelines/batch.h"

#include "core/json.h"
#include "core/log.h"
#include "wix/stores.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INSTRUCTION_MAX 1000
#define DIMENSION_MIN 16
#define DIMENSION_MAX 16384
#define DEFAULT_QUALITY 80

static int invalid_field(struct error *err, const char *field,
                         const char *message)
{
    error_set(err, ERR_INVALID, "%s: %s", field, message);
    snprintf(err->code, sizeof(err->code), "%s", field);
    return -1;
}

/* ------------------------------------------------------------------ */
/* The request                                                         */
/* ------------------------------------------------------------------ */

/* Checks an array of distinct ids of 1 to 127 bytes, 1 to max of them. */
static int check_ids(const json_t *ids, const char *field, size_t max,
                     struct error *err)
{
    json_t *seen = json_object();
    size_t i;
    json_t *id;
    int rc = 0;

    if (!json_is_array(ids) || json_array_size(ids) == 0 ||
        json_array_size(ids) > max) {
        json_decref(seen);
        error_set(err, ERR_INVALID, "%s: expected an array of 1 to %zu ids",
                  field, max);
        snprintf(err->code, sizeof(err->code), "%s", field);
        return -1;
    }
    json_array_foreach(ids, i, id)
    {
        if (!json_is_string(id) || json_string_length(id) == 0 ||
            json_string_length(id) >= STORE_ID_MAX)
            rc = invalid_field(err, field,
                               "each id must be non-empty text of at most 127 "
                               "bytes");
        else if (json_object_get(seen, json_string_value(id)))
            rc = invalid_field(err, field, "an id is listed twice");
        else
            json_object_set(seen, json_string_value(id), json_true());
        if (rc != 0)
            break;
    }
    json_decref(seen);
    return rc;
}

/* Reads an optional integer member in [min, max] (or 0 when zero_ok). */
static int read_int(const json_t *request, const char *field, int fallback,
                    int min, int max, int zero_ok, int *out, struct error *err)
{
    const json_t *value = json_object_get(request, field);
    char message[96];

    *out = fallback;
    if (!value || json_is_null(value))
        return 0;
    if (json_is_integer(value) &&
        ((json_integer_value(value) >= min &&
          json_integer_value(value) <= max) ||
         (zero_ok && json_integer_value(value) == 0))) {
        *out = (int)json_integer_value(value);
        return 0;
    }
    snprintf(message, sizeof(message), "expected %san integer from %d to %d",
             zero_ok ? "0 or " : "", min, max);
    return invalid_field(err, field, message);
}

static int read_operation(const json_t *request, const char **operation,
                          struct error *err)
{
    static const char *const operations[] = {"edit", "remove_background",
                                             "upscale", "compress", NULL};
    const char *value =
        json_string_value(json_object_get(request, "operation"));

    for (size_t i = 0; value && operations[i]; i++) {
        if (strcmp(value, operations[i]) == 0) {
            *operation = operations[i];
            return 0;
        }
    }
    return invalid_field(err, "operation",
                         "expected \"edit\", \"remove_background\", "
                         "\"upscale\" or \"compress\"");
}

/* Checks the instruction and scale against the operation. */
static int read_operation_inputs(const json_t *request, const char *operation,
                                 json_t *settings, struct error *err)
{
    const json_t *instruction = json_object_get(request, "instruction");
    int edit = strcmp(operation, "edit") == 0;
    int upscale = strcmp(operation, "upscale") == 0;
    int scale;

    if (edit &&
        (!json_is_string(instruction) || json_string_length(instruction) == 0 ||
         json_string_length(instruction) > INSTRUCTION_MAX))
        return invalid_field(err, "instruction",
                             "an edit needs an instruction of 1 to 1000 "
                             "bytes, such as \"white studio background\"");
    if (!edit && instruction && !json_is_null(instruction))
        return invalid_field(err, "instruction", "only goes with an edit");
    if (!upscale && json_object_get(request, "scale") &&
        !json_is_null(json_object_get(request, "scale")))
        return invalid_field(err, "scale", "only goes with an upscale");
    if (read_int(request, "scale", 2, 2, 4, 0, &scale, err) != 0)
        return -1;
    if (scale == 3)
        return invalid_field(err, "scale", "expected 2 or 4");
    if (edit)
        json_object_set_new(settings, "instruction",
                            json_string(json_string_value(instruction)));
    if (upscale)
        json_object_set_new(settings, "scale", json_integer(scale));
    return 0;
}

static int read_output(const json_t *request, json_t *settings,
                       struct error *err)
{
    const json_t *format_value = json_object_get(request, "format");
    enum images_format format = IMAGES_FORMAT_WEBP;
    int quality;
    int max_width;
    int max_height;

    if (format_value && !json_is_null(format_value) &&
        images_format_parse(json_string_value(format_value), &format) != 0)
        return invalid_field(err, "format",
                             "expected \"webp\", \"jpeg\", \"png\" or "
                             "\"avif\"");
    if (images_format_check(format, err) != 0 ||
        read_int(request, "quality", DEFAULT_QUALITY, 1, 100, 0, &quality,
                 err) != 0 ||
        read_int(request, "max_width", 0, DIMENSION_MIN, DIMENSION_MAX, 1,
                 &max_width, err) != 0 ||
        read_int(request, "max_height", 0, DIMENSION_MIN, DIMENSION_MAX, 1,
                 &max_height, err) != 0)
        return -1;
    json_object_set_new(settings, "format",
                        json_string(images_format_name(format)));
    json_object_set_new(settings, "quality", json_integer(quality));
    json_object_set_new(settings, "max_width", json_integer(max_width));
    json_object_set_new(settings, "max_height", json_integer(max_height));
    return 0;
}

/* Checks a job request and builds the settings stored with the job. */
static json_t *settings_from_request(const json_t *request, struct error *err)
{
    const char *mode = json_string_value(json_object_get(request, "mode"));
    const json_t *media_ids = json_object_get(request, "media_ids");
    const char *operation = NULL;
    json_t *settings = json_object();

    if (!json_is_object(request)) {
        invalid_field(err, "request", "expected a JSON object");
        goto fail;
    }
    if (check_ids(json_object_get(request, "product_ids"), "product_ids",
                  IMAGES_JOB_MAX_PRODUCTS, err) != 0 ||
        (media_ids && !json_is_null(media_ids) &&
         check_ids(media_ids, "media_ids", IMAGES_JOB_MAX_ITEMS, err) != 0) ||
        read_operation(request, &operation, err) != 0 ||
        read_operation_inputs(request, operation, settings, err) != 0 ||
        read_output(request, settings, err) != 0)
        goto fail;
    if (json_object_get(request, "mode") &&
        (!mode || (strcmp(mode, "review") != 0 && strcmp(mode, "auto") != 0))) {
        invalid_field(err, "mode", "expected \"review\" or \"auto\"");
        goto fail;
    }
    json_object_set_new(settings, "operation", json_string(operation));
    json_object_set_new(settings, "mode", json_string(mode ? mode : "review"));
    return settings;

fail:
    json_decref(settings);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Reading the products                                                */
/* ------------------------------------------------------------------ */

struct selection {
    const json_t *product_ids;
    json_t *products; /* as Wix returned them, in the order asked */
};

static int read_products(struct wix_client *client, void *arg,
                         struct error *err)
{
    struct selection *sel = arg;
    size_t i;
    json_t *id;

    json_decref(sel->products);
    sel->products = json_array();
    if (images_check_catalog(client, err) != 0)
        return -1;
    json_array_foreach(sel->product_ids, i, id)
    {
        json_t *product = NULL;

        if (wix_stores_get_product(client, json_string_value(id), &product,
                                   err) != 0) {
            if (err->kind == ERR_NOT_FOUND) {
                error_set(err, ERR_INVALID,
                          "product_ids: product %s is not in the store",
                          json_string_value(id));
                snprintf(err->code, sizeof(err->code), "product_ids");
            }
            return -1;
        }
        json_array_append_new(sel->products, product);
    }
    return 0;
}

/* True when the media item is one of media_ids (all when NULL). */
static int selected(const json_t *media_ids, const json_t *media)
{
    size_t i;
    json_t *id;

    if (!json_is_array(media_ids))
        return 1;
    json_array_foreach(media_ids, i, id)
    {
        if (json_equal(id, json_object_get(media, "id")))
            return 1;
    }
    return 0;
}

static json_t *media_ids_of(const json_t *media)
{
    json_t *ids = json_array();
    size_t i;
    json_t *item;

    json_array_foreach(media, i, item)
        json_array_append(ids, json_object_get(item, "id"));
    return ids;
}

/* The item input of one image of a product. */
static json_t *item_input(const json_t *product, const json_t *media,
                          size_t position, const json_t *all_media,
                          const json_t *settings)
{
    const char *name = json_string_value(json_object_get(product, "name"));
    const char *alt = json_string_value(json_object_get(media, "alt_text"));
    int kept = alt && alt[strspn(alt, " \t\r\n")] != '\0';

    return json_pack("{s:O, s:s, s:O, s:I, s:O, s:O, s:O, s:s, s:s, s:o, s:O}",
                     "product_id", json_object_get(product, "id"),
                     "product_name", name ? name : "", "media_id",
                     json_object_get(media, "id"), "position",
                     (json_int_t)position, "url", json_object_get(media, "url"),
                     "width", json_object_get(media, "width"), "height",
                     json_object_get(media, "height"), "alt_text",
                     kept ? alt : (name ? name : ""), "alt_source",
                     kept ? "kept" : "product_name", "media_before",
                     media_ids_of(all_media), "settings", settings);
}

/* Builds the items: every image of the products, or the selected ones. */
static json_t *plan_items(const json_t *products, const json_t *media_ids,
                          const json_t *settings, struct error *err)
{
    json_t *items = json_array();
    size_t i;
    json_t *product;

    json_array_foreach(products, i, product)
    {
        json_t *media = images_product_media(product);
        size_t k;
        json_t *entry;

        json_array_foreach(media, k, entry)
        {
            const char *type =
                json_string_value(json_object_get(entry, "media_type"));

            if (strcmp(type, "image") != 0 || !selected(media_ids, entry))
                continue;
            json_array_append_new(
                items, item_input(product, entry, k, media, settings));
        }
        json_decref(media);
    }
    if (json_array_size(items) == 0 ||
        json_array_size(items) > IMAGES_JOB_MAX_ITEMS) {
        error_set(err, ERR_INVALID,
                  "%s: the selection has %zu images; a job takes 1 to %d",
                  media_ids ? "media_ids" : "product_ids",
                  json_array_size(items), IMAGES_JOB_MAX_ITEMS);
        snprintf(err->code, sizeof(err->code), "%s",
                 media_ids ? "media_ids" : "product_ids");
        json_decref(items);
        return NULL;
    }
    return items;
}

/* ------------------------------------------------------------------ */
/* Creating the job                                                    */
/* ------------------------------------------------------------------ */

struct new_job {
    const char *instance_id;
    const json_t *settings;
    json_t *items;
    int64_t item_cost;
    size_t products;
};

static int insert_item(struct store_tx *tx, const struct new_job *job,
                       const char *job_id, size_t position, const json_t *input,
                       struct error *err)
{
    char *text = json_dumps(input, JSON_COMPACT);
    char item_id[STORE_UUID_SIZE];
    int rc = -1;

    if (!text)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    if (store_generation_create(tx, job->instance_id, IMAGES_KIND_ITEM, job_id,
                                IMAGES_PENDING, text, item_id, err) == 0 &&
        store_credits_reserve(tx, job->instance_id, item_id, job->item_cost,
                              err) >= 0 &&
        store_run(tx,
                  "INSERT INTO image_items (item_id, job_id, position, "
                  "product_id, media_id) VALUES (?, ?, ?, ?, ?)",
                  STORE_ARGS(STORE_TEXT(item_id), STORE_TEXT(job_id),
                             STORE_INT((int64_t)position),
                             STORE_TEXT(json_string_value(
                                 json_object_get(input, "product_id"))),
                             STORE_TEXT(json_string_value(
                                 json_object_get(input, "media_id")))),
                  NULL, err) == 0)
        rc = images_enqueue_process(tx, job->instance_id, item_id, err);
    free(text);
    return rc;
}

static int check_balance(struct store_tx *tx, const struct new_job *job,
                         int64_t cost, struct error *err)
{
    struct store_credits credits;

    if (store_credits_get(tx, job->instance_id, &credits, err) < 0)
        return -1;
    if (credits.available >= cost)
        return 0;
    return error_set(err, ERR_INSUFFICIENT_CREDITS,
                     "insufficient credits: balance %" PRId64 ", cost %" PRId64
                     " (%zu images)",
                     credits.available, cost, json_array_size(job->items));
}

static int insert_job(struct app *app, const struct new_job *job,
                      char id_out[STORE_UUID_SIZE], struct error *err)
{
    int64_t cost = job->item_cost * (int64_t)json_array_size(job->items);
    struct store_tx *tx = store_begin(app->store, err);
    json_t *input = json_pack("{s:O, s:I, s:I, s:I}", "settings", job->settings,
                              "products", (json_int_t)job->products, "items",
                              (json_int_t)json_array_size(job->items), "cost",
                              (json_int_t)cost);
    char *text = input ? json_dumps(input, JSON_COMPACT) : NULL;
    size_t i;
    json_t *item;
    int rc = -1;

    if (!tx)
        goto out;
    if (!text) {
        error_set(err, ERR_RETRYABLE, "out of memory");
        goto out;
    }
    if (check_balance(tx, job, cost, err) != 0 ||
        store_generation_create(tx, job->instance_id, IMAGES_KIND_JOB, NULL,
                                IMAGES_JOB_RUNNING, text, id_out, err) != 0)
        goto out;
    json_array_foreach(job->items, i, item)
    {
        if (insert_item(tx, job, id_out, i, item, err) != 0)
            goto out;
    }
    if (store_notify(tx, IMAGES_CHANNEL, err) == 0) {
        rc = store_commit(tx, err);
        tx = NULL;
    }
out:
    store_rollback(tx);
    free(text);
    json_decref(input);
    return rc;
}

int images_job_create(struct app *app, const char *instance_id,
                      const json_t *request, char id_out[STORE_UUID_SIZE],
                      int64_t *cost, struct error *err)
{
    struct selection sel = {0};
    struct new_job job = {.instance_id = instance_id,
                          .item_cost = app->costs.image_item};
    json_t *settings = settings_from_request(request, err);
    int rc = -1;

    if (cost)
        *cost = 0;
    if (!settings)
        return -1;
    sel.product_ids = json_object_get(request, "product_ids");
    if (wix_run(app->wix, instance_id, read_products, &sel, err) != 0)
        goto out;
    job.settings = settings;
    job.products = json_array_size(sel.products);
    job.items = plan_items(sel.products, json_object_get(request, "media_ids"),
                           settings, err);
    if (!job.items)
        goto out;
    if (cost)
        *cost = job.item_cost * (int64_t)json_array_size(job.items);
    rc = insert_job(app, &job, id_out, err);
    if (rc == 0)
        log_info("images",
                 "job started instance=%s job=%s items=%zu operation=%s "
                 "format=%s mode=%s",
                 instance_id, id_out, json_array_size(job.items),
                 json_string_value(json_object_get(settings, "operation")),
                 json_string_value(json_object_get(settings, "format")),
                 json_string_value(json_object_get(settings, "mode")));
out:
    json_decref(sel.products);
    json_decref(job.items);
    json_decref(settings);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Cancelling a job                                                    */
/* ------------------------------------------------------------------ */

int images_job_cancel(struct app *app, const char *instance_id,
                      const char *job_id, struct error *err)
{
    static const struct batch_cancel kind = {
        .component = "images",
        .channel = IMAGES_CHANNEL,
        .job_kind = IMAGES_KIND_JOB,
        .item_kind = IMAGES_KIND_ITEM,
        .job_running = IMAGES_JOB_RUNNING,
        .job_cancelled = IMAGES_JOB_CANCELLED,
        .item_pending = IMAGES_PENDING,
        .item_cancelled = IMAGES_CANCELLED,
        .load = images_load,
        .item_cancelled_hook = images_item_dir_remove,
    };

    return batch_job_cancel(app, &kind, instance_id, job_id, err);
}

/* ------------------------------------------------------------------ */
/* A product's media for the dashboard                                 */
/* ------------------------------------------------------------------ */

struct media_read {
    const char *product_id;
    json_t *product;
};

static int read_one_product(struct wix_client *client, void *arg,
                            struct error *err)
{
    struct media_read *r = arg;

    json_decref(r->product);
    r->product = NULL;
    if (images_check_catalog(client, err) != 0)
        return -1;
    return wix_stores_get_product(client, r->product_id, &r->product, err);
}

json_t *images_product_media_json(struct app *app, const char *instance_id,
                                  const char *product_id, struct error *err)
{
    struct media_read r = {.product_id = product_id};
    json_t *out;

    if (wix_run(app->wix, instance_id, read_one_product, &r, err) != 0)
        return NULL;
    out = json_pack("{s:s, s:O, s:o}", "product_id", product_id, "name",
                    json_object_get(r.product, "name"), "media",
                    images_product_media(r.product));
    json_decref(r.product);
    if (!out)
        error_set(err, ERR_PERMANENT, "product %s has no name", product_id);
    return out;
}
