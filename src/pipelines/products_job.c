/*
 * Product jobs: starting one (read the selection from Wix, then create,
 * reserve and queue every item in one transaction), cancelling one, the
 * helpers the steps share, and the registration of the job kinds.
 */
#include "pipelines/products_internal.h"

#include "pipelines/batch.h"

#include "core/json.h"
#include "core/log.h"
#include "pipelines/products_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* product_items: the items of each job in product order, so that a job's
 * items list in the order the owner selected them. */
static const struct store_migration migrations[] = {
    {
        .version = 1,
        .name = "product_items",
        .sql = "CREATE TABLE product_items ("
               " item_id TEXT PRIMARY KEY,"
               " job_id TEXT NOT NULL,"
               " position BIGINT NOT NULL,"
               " product_id TEXT NOT NULL);"
               "CREATE UNIQUE INDEX product_items_by_job"
               " ON product_items (job_id, position);",
    },
};

const struct store_schema products_schema = {
    .component = "products",
    .migrations = migrations,
    .count = sizeof(migrations) / sizeof(migrations[0]),
};

/* ------------------------------------------------------------------ */
/* Helpers shared by the steps                                         */
/* ------------------------------------------------------------------ */

int products_load(struct store_tx *tx, const char *instance_id,
                  const char *kind, const char *id, const char *parent_id,
                  int for_update, struct store_generation *out,
                  struct error *err)
{
    const char *what = strcmp(kind, PRODUCTS_KIND_JOB) == 0 ? "job" : "item";
    int rc;

    memset(out, 0, sizeof(*out));
    if (!id || !id[0] || strlen(id) >= STORE_UUID_SIZE)
        return error_set(err, ERR_NOT_FOUND, "product %s \"%.64s\" not found",
                         what, id ? id : "");
    rc = store_generation_get(tx, id, for_update, out, err);
    if (rc < 0)
        return -1;
    if (rc == 0 || strcmp(out->instance_id, instance_id) != 0 ||
        strcmp(out->kind, kind) != 0 ||
        (parent_id && strcmp(out->parent_id, parent_id) != 0)) {
        store_generation_clear(out);
        return error_set(err, ERR_NOT_FOUND, "product %s %s not found", what,
                         id);
    }
    return 1;
}

int products_set_state(struct store_tx *tx, const char *item_id,
                       const char *from, const char *to, struct error *err)
{
    return batch_set_state(tx, PRODUCTS_CHANNEL, item_id, from, to, err);
}

int products_checkpoint(struct store_tx *tx, const char *item_id,
                        const char *step, const json_t *value,
                        struct error *err)
{
    return batch_checkpoint(tx, item_id, step, value, err);
}

int products_enqueue_generate(struct store_tx *tx, const char *instance_id,
                              const char *item_id, struct error *err)
{
    struct queue_enqueue_options options = {
        .generation_id = item_id, .max_attempts = PRODUCTS_MAX_ATTEMPTS};
    char key[STORE_ID_MAX];

    snprintf(key, sizeof(key), "products/%s/generate", item_id);
    options.unique_key = key;
    return queue_enqueue(tx, PRODUCTS_JOB_GENERATE, instance_id, NULL, &options,
                         NULL, err) < 0
               ? -1
               : 0;
}

int products_enqueue_write(struct store_tx *tx, const char *instance_id,
                           const char *item_id, int revert, int round,
                           struct error *err)
{
    const char *action = revert ? "revert" : "apply";
    struct queue_enqueue_options options = {
        .generation_id = item_id, .max_attempts = PRODUCTS_MAX_ATTEMPTS};
    char key[STORE_ID_MAX];
    char payload[96];

    snprintf(key, sizeof(key), "products/%s/%s/%d", item_id, action, round);
    snprintf(payload, sizeof(payload), "{\"action\":\"%s\",\"round\":%d}",
             action, round);
    options.unique_key = key;
    return queue_enqueue(tx, PRODUCTS_JOB_WRITE, instance_id, payload, &options,
                         NULL, err) < 0
               ? -1
               : 0;
}

int products_release_held(struct store_tx *tx, const char *item_id,
                          struct error *err)
{
    return batch_release_held(tx, item_id, err);
}

int products_set_round(struct store_tx *tx, const char *item_id,
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
    rc = products_checkpoint(tx, item_id, "rounds", rounds, err);
    json_decref(rounds);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Starting a job                                                      */
/* ------------------------------------------------------------------ */

static int invalid_field(struct error *err, const char *field,
                         const char *message)
{
    error_set(err, ERR_INVALID, "%s: %s", field, message);
    snprintf(err->code, sizeof(err->code), "%s", field);
    return -1;
}

static int check_ids(const json_t *ids, struct error *err)
{
    json_t *seen;
    size_t i;
    json_t *id;
    int rc = 0;

    if (!json_is_array(ids) || json_array_size(ids) == 0 ||
        json_array_size(ids) > PRODUCTS_JOB_MAX_ITEMS)
        return invalid_field(err, "product_ids",
                             "expected an array of 1 to 10000 product ids");
    seen = json_object();
    json_array_foreach(ids, i, id)
    {
        if (!json_is_string(id) || json_string_length(id) == 0 ||
            json_string_length(id) >= STORE_ID_MAX)
            rc = invalid_field(err, "product_ids",
                               "each product id must be non-empty text of "
                               "at most 127 bytes");
        else if (json_object_get(seen, json_string_value(id)))
            rc = invalid_field(err, "product_ids",
                               "a product id is listed twice");
        else
            json_object_set(seen, json_string_value(id), json_true());
        if (rc != 0)
            break;
    }
    json_decref(seen);
    return rc;
}

/* Checks the selection: product_ids, or all with optional collection_id
 * and search. */
static int check_selection(const json_t *request, struct error *err)
{
    const json_t *ids = json_object_get(request, "product_ids");
    const json_t *all = json_object_get(request, "all");
    const char *keys[] = {"collection_id", "search"};

    if (all && !json_is_boolean(all))
        return invalid_field(err, "all", "expected true or false");
    if ((ids != NULL) == json_is_true(all))
        return invalid_field(err, "product_ids",
                             "send either product_ids or \"all\": true");
    for (size_t i = 0; i < 2; i++) {
        const json_t *value = json_object_get(request, keys[i]);

        if (!value || json_is_null(value))
            continue;
        if (!json_is_true(all))
            return invalid_field(err, keys[i], "only goes with \"all\": true");
        if (!json_is_string(value) || json_string_length(value) == 0 ||
            json_string_length(value) > 200)
            return invalid_field(err, keys[i],
                                 "expected non-empty text of at most 200 "
                                 "bytes");
    }
    return ids ? check_ids(ids, err) : 0;
}

/* The catalog version and product snapshots that products_job_create reads
 * from Wix. */
struct selection {
    const json_t *request;
    int catalog;
    json_t *snapshots;
};

static int read_selection(struct wix_client *client, void *arg,
                          struct error *err)
{
    struct selection *sel = arg;
    const json_t *ids = json_object_get(sel->request, "product_ids");

    json_decref(sel->snapshots);
    sel->snapshots = NULL;
    if (products_read_catalog(client, &sel->catalog, err) < 0)
        return -1;
    if (ids)
        return products_fetch_ids(client, sel->catalog, ids, &sel->snapshots,
                                  err);
    return products_fetch_all(
        client, sel->catalog,
        json_string_value(json_object_get(sel->request, "collection_id")),
        json_string_value(json_object_get(sel->request, "search")),
        &sel->snapshots, err);
}

/* True when the snapshot's field has no visible text. */
static int field_empty(const json_t *snapshot, unsigned field)
{
    const char *text = json_string_value(
        json_object_get(snapshot, products_field_name(field)));
    char *visible;
    int empty;

    if (!text || !text[0])
        return 1;
    if (field != PRODUCTS_FIELD_DESCRIPTION)
        return strspn(text, " \t\r\n") == strlen(text);
    visible = products_html_text(text);
    empty = visible && visible[0] == '\0';
    free(visible);
    return empty;
}

/* The fields to write for one product: all asked for, or with
 * only_fill_empty those that are empty today. */
static unsigned item_fields(const json_t *settings, const json_t *snapshot)
{
    unsigned fields =
        products_fields_from_json(json_object_get(settings, "fields"));

    if (!json_is_true(json_object_get(settings, "only_fill_empty")))
        return fields;
    for (int i = 0; i < PRODUCTS_FIELD_COUNT; i++)
        if ((fields & (1u << i)) && !field_empty(snapshot, 1u << i))
            fields &= ~(1u << i);
    return fields;
}

/* A job being created: the items to insert and their total cost. */
struct new_job {
    const char *instance_id;
    json_t *settings;
    int catalog;
    json_t *items; /* [{"input": {...}, "cost": n}] */
    int64_t cost;
    size_t skipped;
    json_t *selection; /* what the request selected, for the job's input */
};

static int plan_items(struct app *app, struct new_job *job,
                      const json_t *snapshots, struct error *err)
{
    size_t i;
    json_t *snapshot;

    job->items = json_array();
    json_array_foreach(snapshots, i, snapshot)
    {
        unsigned fields = item_fields(job->settings, snapshot);
        int64_t cost = products_field_count(fields) * app->costs.product_field;
        json_t *input;

        if (!fields) {
            job->skipped++;
            continue;
        }
        input = json_pack("{s:O, s:O, s:o, s:i, s:O}", "product_id",
                          json_object_get(snapshot, "id"), "product_name",
                          json_object_get(snapshot, "name"), "fields",
                          products_fields_json(fields), "catalog", job->catalog,
                          "original", snapshot);
        json_array_append_new(
            job->items,
            json_pack("{s:o, s:I}", "input", input, "cost", (json_int_t)cost));
        job->cost += cost;
    }
    if (json_array_size(job->items) == 0)
        return invalid_field(err, "fields",
                             "none of the selected products has a field to "
                             "write (only_fill_empty skips fields that have "
                             "text)");
    return 0;
}

static int insert_item(struct store_tx *tx, const struct new_job *job,
                       const char *job_id, size_t position, const json_t *item,
                       struct error *err)
{
    const json_t *input = json_object_get(item, "input");
    char *text = json_dumps(input, JSON_COMPACT);
    char item_id[STORE_UUID_SIZE];
    int rc = -1;

    if (!text)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    if (store_generation_create(tx, job->instance_id, PRODUCTS_KIND_ITEM,
                                job_id, PRODUCTS_PENDING, text, item_id,
                                err) == 0 &&
        store_credits_reserve(tx, job->instance_id, item_id,
                              json_integer_value(json_object_get(item, "cost")),
                              err) >= 0 &&
        store_run(tx,
                  "INSERT INTO product_items (item_id, job_id, position, "
                  "product_id) VALUES (?, ?, ?, ?)",
                  STORE_ARGS(STORE_TEXT(item_id), STORE_TEXT(job_id),
                             STORE_INT((int64_t)position),
                             STORE_TEXT(json_string_value(
                                 json_object_get(input, "product_id")))),
                  NULL, err) == 0)
        rc = products_enqueue_generate(tx, job->instance_id, item_id, err);
    free(text);
    return rc;
}

static int check_balance(struct store_tx *tx, const struct new_job *job,
                         struct error *err)
{
    struct store_credits credits;

    if (store_credits_get(tx, job->instance_id, &credits, err) < 0)
        return -1;
    if (credits.available >= job->cost)
        return 0;
    return error_set(err, ERR_INSUFFICIENT_CREDITS,
                     "insufficient credits: balance %" PRId64 ", cost %" PRId64
                     " (%zu products)",
                     credits.available, job->cost, json_array_size(job->items));
}

static int insert_job(struct app *app, const struct new_job *job,
                      char id_out[STORE_UUID_SIZE], struct error *err)
{
    struct store_tx *tx = store_begin(app->store, err);
    json_t *input =
        json_pack("{s:O, s:i, s:O, s:I, s:I, s:I}", "settings", job->settings,
                  "catalog", job->catalog, "selection", job->selection, "items",
                  (json_int_t)json_array_size(job->items), "skipped",
                  (json_int_t)job->skipped, "cost", (json_int_t)job->cost);
    char *text = json_dumps(input, JSON_COMPACT);
    size_t i;
    json_t *item;
    int rc = -1;

    if (!tx || !text)
        goto out;
    if (check_balance(tx, job, err) != 0 ||
        store_generation_create(tx, job->instance_id, PRODUCTS_KIND_JOB, NULL,
                                PRODUCTS_JOB_RUNNING, text, id_out, err) != 0)
        goto out;
    json_array_foreach(job->items, i, item)
    {
        if (insert_item(tx, job, id_out, i, item, err) != 0)
            goto out;
    }
    if (store_notify(tx, PRODUCTS_CHANNEL, err) == 0) {
        rc = store_commit(tx, err);
        tx = NULL;
    }
out:
    if (!text && tx)
        error_set(err, ERR_RETRYABLE, "out of memory");
    store_rollback(tx);
    free(text);
    json_decref(input);
    return rc;
}

static json_t *selection_summary(const json_t *request)
{
    const json_t *ids = json_object_get(request, "product_ids");

    if (ids)
        return json_pack("{s:I}", "product_count",
                         (json_int_t)json_array_size(ids));
    return json_pack("{s:b, s:O?, s:O?}", "all", 1, "collection_id",
                     json_object_get(request, "collection_id"), "search",
                     json_object_get(request, "search"));
}

int products_job_create(struct app *app, const char *instance_id,
                        const json_t *request, char id_out[STORE_UUID_SIZE],
                        int64_t *cost, struct error *err)
{
    struct selection sel = {.request = request};
    struct new_job job = {.instance_id = instance_id};
    json_t *check;
    int rc = -1;

    if (cost)
        *cost = 0;
    /* Check what can be checked before any Wix call; V3 allows the
     * longest description. */
    check = products_settings_from_request(request, PRODUCTS_CATALOG_V3, err);
    if (!check || check_selection(request, err) != 0)
        goto out;
    if (wix_run(app->wix, instance_id, read_selection, &sel, err) != 0)
        goto out;
    job.catalog = sel.catalog;
    job.settings = products_settings_from_request(request, sel.catalog, err);
    job.selection = selection_summary(request);
    if (!job.settings || plan_items(app, &job, sel.snapshots, err) != 0)
        goto out;
    if (cost)
        *cost = job.cost;
    rc = insert_job(app, &job, id_out, err);
    if (rc == 0)
        log_info("products",
                 "job started instance=%s job=%s items=%zu skipped=%zu "
                 "cost=%" PRId64 " catalog=V%d mode=%s",
                 instance_id, id_out, json_array_size(job.items), job.skipped,
                 job.cost, job.catalog,
                 json_string_value(json_object_get(job.settings, "mode")));
out:
    json_decref(check);
    json_decref(sel.snapshots);
    json_decref(job.settings);
    json_decref(job.items);
    json_decref(job.selection);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Cancelling a job                                                    */
/* ------------------------------------------------------------------ */

json_t *products_item_ids(struct store_tx *tx, const char *job_id,
                          const char *state, struct error *err)
{
    return batch_item_ids(tx, PRODUCTS_KIND_ITEM, job_id, state, err);
}

int products_job_cancel(struct app *app, const char *instance_id,
                        const char *job_id, struct error *err)
{
    static const struct batch_cancel kind = {
        .component = "products",
        .channel = PRODUCTS_CHANNEL,
        .job_kind = PRODUCTS_KIND_JOB,
        .item_kind = PRODUCTS_KIND_ITEM,
        .job_running = PRODUCTS_JOB_RUNNING,
        .job_cancelled = PRODUCTS_JOB_CANCELLED,
        .item_pending = PRODUCTS_PENDING,
        .item_cancelled = PRODUCTS_CANCELLED,
        .load = products_load,
        .item_cancelled_hook = NULL,
    };

    return batch_job_cancel(app, &kind, instance_id, job_id, err);
}

/* ------------------------------------------------------------------ */
/* Job kinds                                                           */
/* ------------------------------------------------------------------ */

int products_register_jobs(struct app *app, struct queue_pool *pool,
                           struct error *err)
{
    struct queue_handler generate = {.run = products_generate_run,
                                     .failed = products_generate_failed,
                                     .arg = app};
    struct queue_handler write = {
        .run = products_write_run, .failed = products_write_failed, .arg = app};

    if (queue_pool_register(pool, PRODUCTS_JOB_GENERATE, &generate, err) != 0)
        return -1;
    return queue_pool_register(pool, PRODUCTS_JOB_WRITE, &write, err);
}
