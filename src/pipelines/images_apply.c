/*
 * The apply step of an item (job "images.apply"): upload the result to the
 * site's Media Manager and put it in the original's place in the product's
 * media, or, for a restore, put the original back in its place.
 *
 * The upload happens at most once per item, whatever the rounds: the
 * effect "images/<item>/upload" is begun (committed) before the upload URL
 * is asked for and completed with the file id right after the bytes are
 * sent. A run that finds the effect begun without an id searches the
 * Media Manager for the file's display name, which contains the item id,
 * before uploading again.
 *
 * Catalog V1 adds media only at the end of the list and has no call that
 * reorders it, so the step works toward a target list: the product's list
 * with the one id swapped, computed before the first change and kept in
 * the "sync" checkpoint. Each round reads the product, adds the ids the
 * target has and the product lacks, then removes the ids in the way and
 * adds them back after. From any list that a killed run left behind, the
 * next run reaches the same target without adding anything twice.
 * NOTE: items that move this way lose their alt text and their links to
 * option choices, because Catalog V1's add-media call takes neither.
 */
#include "pipelines/images_internal.h"

#include "core/json.h"
#include "core/log.h"
#include "wix/media.h"
#include "wix/stores.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEDIA_PERMISSION "Manage Media Manager"
#define SEARCH_PAGE 100
#define NAME_TEXT_MAX 60

enum outcome {
    OUTCOME_DONE,
    OUTCOME_CONFLICT, /* the product's media no longer has what the step
                         replaces */
};

/* One run of the step. */
struct apply {
    struct app *app;
    struct queue_job *job;
    struct store_generation item;
    struct images_settings config;
    json_t *input;
    json_t *checkpoints;
    int restore;
    int round;
    char effect_key[STORE_ID_MAX * 2];

    /* Results of the Wix unit. */
    char media_id[STORE_ID_MAX]; /* the uploaded image */
    char media_url[512];
    json_t *target;
    enum outcome outcome;
    char conflict[ERROR_MESSAGE_MAX];
    int adds; /* add-media calls made */
};

static void apply_clear(struct apply *a)
{
    store_generation_clear(&a->item);
    json_decref(a->input);
    json_decref(a->checkpoints);
    json_decref(a->target);
}

static const char *action_name(const struct apply *a)
{
    return a->restore ? "restore" : "apply";
}

static const char *busy_state(int restore)
{
    return restore ? IMAGES_RESTORING : IMAGES_APPLYING;
}

static const char *input_text(const struct apply *a, const char *name)
{
    const char *value = json_string_value(json_object_get(a->input, name));

    return value ? value : "";
}

static const json_t *checkpoint(const struct apply *a, const char *name)
{
    const json_t *value = json_object_get(a->checkpoints, name);

    return json_is_object(value) ? value : NULL;
}

/* Reads the payload and the item: 1 when the item waits for this run. */
static int apply_load(struct apply *a, struct error *err)
{
    json_t *payload = json_loads(a->job->payload, 0, NULL);
    const char *action = json_string_value(json_object_get(payload, "action"));
    struct store_tx *tx;
    int rc;

    a->restore = action && strcmp(action, "restore") == 0;
    a->round = (int)json_integer_value(json_object_get(payload, "round"));
    json_decref(payload);
    tx = store_begin_read(a->app->store, err);
    if (!tx)
        return -1;
    rc = images_load(tx, a->job->instance_id, IMAGES_KIND_ITEM,
                     a->job->generation_id, NULL, 0, &a->item, err);
    store_rollback(tx);
    if (rc != 1)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    if (strcmp(a->item.state, busy_state(a->restore)) != 0)
        return 0;
    a->input = json_loads(a->item.input, 0, NULL);
    a->checkpoints = json_loads(a->item.checkpoints, 0, NULL);
    snprintf(a->effect_key, sizeof(a->effect_key), "images/%s/upload",
             a->item.id);
    return json_is_object(a->checkpoints) ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* The upload, exactly once                                            */
/* ------------------------------------------------------------------ */

/* The file's display name: the alt text, then the item id that makes it
 * unique, then the extension. */
static void display_name(const struct apply *a, char *out, size_t size)
{
    const char *type = json_string_value(
        json_object_get(checkpoint(a, "result"), "content_type"));
    enum images_format format = IMAGES_FORMAT_WEBP;
    char text[NAME_TEXT_MAX + 1];
    size_t length = 0;

    images_format_parse(
        type && strchr(type, '/') ? strchr(type, '/') + 1 : "webp", &format);
    for (const char *c = input_text(a, "alt_text");
         *c && length < NAME_TEXT_MAX; c++)
        text[length++] = (*c == '/' || (unsigned char)*c < 0x20) ? ' ' : *c;
    /* Never end in the middle of a UTF-8 sequence. */
    while (length > 0 && ((unsigned char)text[length - 1] & 0xC0) == 0x80)
        length--;
    if (length > 0 && ((unsigned char)text[length - 1] & 0x80))
        length--;
    text[length] = '\0';
    snprintf(out, size, "%s%s%s.%s", text, length ? " " : "", a->item.id,
             images_format_extension(format));
}

/* Looks for a file named name that has not failed: 1 with id set, 0 when
 * there is none. */
static int find_file(struct wix_client *client, const char *name,
                     char id[STORE_ID_MAX], struct error *err)
{
    json_t *body =
        json_pack("{s:s, s:[s], s:{s:i}}", "search", name, "mediaTypes",
                  "IMAGE", "paging", "limit", SEARCH_PAGE);
    json_t *response = NULL;
    json_t *file;
    size_t index;
    int found = 0;

    if (!body)
        return error_set(err, ERR_PERMANENT, "out of memory");
    if (wix_call(client, "POST", "/site-media/v1/files/search", body,
                 MEDIA_PERMISSION, &response, err) != 0) {
        json_decref(body);
        return -1;
    }
    json_decref(body);
    json_array_foreach(json_object_get(response, "files"), index, file)
    {
        const char *display =
            json_string_value(json_object_get(file, "displayName"));
        const char *status =
            json_string_value(json_object_get(file, "operationStatus"));
        const char *file_id = json_string_value(json_object_get(file, "id"));

        if (display && file_id && strcmp(display, name) == 0 &&
            (!status || strcmp(status, "FAILED") != 0)) {
            snprintf(id, STORE_ID_MAX, "%s", file_id);
            found = 1;
            break;
        }
    }
    json_decref(response);
    return found;
}

static int effect_step(struct apply *a, const char *remote_id,
                       struct store_effect *effect, int *began,
                       struct error *err)
{
    struct store_tx *tx = store_begin(a->app->store, err);
    int rc;

    if (!tx)
        return -1;
    if (remote_id)
        rc = store_effect_done(tx, a->effect_key, remote_id, err);
    else if (began)
        rc = store_effect_begin(tx, a->effect_key, a->item.instance_id,
                                a->item.id, effect, err);
    else
        rc = store_effect_get(tx, a->effect_key, effect, err);
    if (rc < 0) {
        store_rollback(tx);
        return -1;
    }
    if (began)
        *began = rc;
    return store_commit(tx, err) == 0 ? rc : -1;
}

static int send_upload(struct apply *a, struct wix_client *client,
                       const char *name, struct error *err)
{
    const json_t *result = checkpoint(a, "result");
    const char *type =
        json_string_value(json_object_get(result, "content_type"));
    const char *path = json_string_value(json_object_get(result, "path"));
    struct buf bytes;
    char *upload_url = NULL;
    json_t *file = NULL;
    int rc;

    buf_init(&bytes, (size_t)a->config.max_bytes);
    rc = path && type
             ? images_file_read(path, &bytes, err)
             : error_set(err, ERR_PERMANENT, "item %s has no result to upload",
                         a->item.id);
    if (rc == 0)
        rc =
            wix_media_generate_upload_url(client, type, name, &upload_url, err);
    if (rc == 0)
        rc = wix_media_upload(client, upload_url, bytes.data, bytes.len, type,
                              &file, err);
    if (rc == 0) {
        const char *file_id = json_string_value(json_object_get(file, "id"));

        if (file_id)
            snprintf(a->media_id, sizeof(a->media_id), "%s", file_id);
        else
            rc = error_set(err, ERR_RETRYABLE,
                           "upload image: Wix's answer has no file id");
    }
    json_decref(file);
    free(upload_url);
    buf_free(&bytes);
    return rc;
}

/* Finds the file of an earlier run, or uploads it. */
static int upload_once(struct apply *a, struct wix_client *client,
                       struct error *err)
{
    struct store_effect effect;
    char name[256];
    int began = 0;
    int rc;

    display_name(a, name, sizeof(name));
    memset(&effect, 0, sizeof(effect));
    rc = effect_step(a, NULL, &effect, NULL, err);
    if (rc == 1 && effect.remote_id)
        snprintf(a->media_id, sizeof(a->media_id), "%s", effect.remote_id);
    store_effect_clear(&effect);
    if (rc < 0)
        return -1;
    if (a->media_id[0])
        return 0;

    /* An earlier run began and did not finish: the file may exist. */
    if (rc == 1 && find_file(client, name, a->media_id, err) < 0)
        return -1;
    if (a->media_id[0])
        log_info("images",
                 "found the upload of an earlier run instance=%s item=%s "
                 "media=%s",
                 a->item.instance_id, a->item.id, a->media_id);
    if (!a->media_id[0]) {
        memset(&effect, 0, sizeof(effect));
        rc = effect_step(a, NULL, &effect, &began, err);
        store_effect_clear(&effect);
        if (rc < 0 || send_upload(a, client, name, err) != 0)
            return -1;
        log_info("images", "image uploaded instance=%s item=%s media=%s",
                 a->item.instance_id, a->item.id, a->media_id);
    }
    return effect_step(a, a->media_id, NULL, NULL, err) < 0 ? -1 : 0;
}

/* Makes sure the uploaded file exists and is ready, and keeps its id. */
static int ensure_upload(struct apply *a, struct wix_client *client,
                         struct error *err)
{
    const json_t *upload = checkpoint(a, "upload");
    json_t *file = NULL;
    json_t *value;
    int rc;

    if (json_is_string(json_object_get(upload, "media_id"))) {
        snprintf(a->media_id, sizeof(a->media_id), "%s",
                 json_string_value(json_object_get(upload, "media_id")));
        return 0;
    }
    if (upload_once(a, client, err) != 0 ||
        wix_media_wait_ready(client, a->media_id, a->config.media_timeout_ms,
                             &file, err) != 0)
        return -1;
    snprintf(a->media_url, sizeof(a->media_url), "%s",
             json_string_value(json_object_get(file, "url"))
                 ? json_string_value(json_object_get(file, "url"))
                 : "");
    json_decref(file);
    value =
        json_pack("{s:s, s:s}", "media_id", a->media_id, "url", a->media_url);
    rc = images_checkpoint_now(a->app->store, a->item.id, "upload", value, err);
    if (rc == 0)
        json_object_set_new(a->checkpoints, "upload", value);
    else
        json_decref(value);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The product's media list                                            */
/* ------------------------------------------------------------------ */

static int read_media_ids(struct apply *a, struct wix_client *client,
                          json_t **ids, struct error *err)
{
    json_t *product = NULL;
    json_t *media;
    size_t i;
    json_t *item;

    *ids = NULL;
    if (wix_stores_get_product(client, input_text(a, "product_id"), &product,
                               err) != 0)
        return -1;
    media = images_product_media(product);
    json_decref(product);
    *ids = json_array();
    json_array_foreach(media, i, item)
        json_array_append(*ids, json_object_get(item, "id"));
    json_decref(media);
    return 0;
}

static ssize_t index_of(const json_t *ids, const char *id)
{
    size_t i;
    json_t *value;

    json_array_foreach(ids, i, value)
    {
        if (strcmp(json_string_value(value), id) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* The list with `from` replaced by `to` and no other `to`. */
static json_t *swapped(const json_t *ids, const char *from, const char *to)
{
    json_t *out = json_array();
    size_t i;
    json_t *value;

    json_array_foreach(ids, i, value)
    {
        const char *id = json_string_value(value);

        if (strcmp(id, to) == 0)
            continue;
        json_array_append_new(out,
                              json_string(strcmp(id, from) == 0 ? to : id));
    }
    return out;
}

/* Sets the target from the current list, or the outcome to a conflict. */
static void choose_target(struct apply *a, const json_t *current)
{
    const char *original = input_text(a, "media_id");
    const char *from = a->restore ? a->media_id : original;
    const char *to = a->restore ? original : a->media_id;

    if (index_of(current, from) >= 0) {
        a->target = swapped(current, from, to);
        return;
    }
    if (index_of(current, to) >= 0) {
        /* Done before: a run that died after its last change. */
        a->target = json_incref((json_t *)current);
        return;
    }
    a->outcome = OUTCOME_CONFLICT;
    snprintf(a->conflict, sizeof(a->conflict),
             "neither the original image %s nor the new image %s is on "
             "product %s any more, so its media was not changed",
             original, a->media_id, input_text(a, "product_id"));
}

/* Reads the kept target of this round, or chooses and keeps one. */
static int load_target(struct apply *a, const json_t *current,
                       struct error *err)
{
    const json_t *sync = checkpoint(a, "sync");
    const char *action = json_string_value(json_object_get(sync, "action"));
    json_t *value;
    int rc;

    if (action && strcmp(action, action_name(a)) == 0 &&
        json_integer_value(json_object_get(sync, "round")) == a->round &&
        json_is_array(json_object_get(sync, "target"))) {
        a->target = json_incref(json_object_get(sync, "target"));
        return 0;
    }
    choose_target(a, current);
    if (!a->target)
        return 0;
    value = json_pack("{s:s, s:i, s:O}", "action", action_name(a), "round",
                      a->round, "target", a->target);
    rc = images_checkpoint_now(a->app->store, a->item.id, "sync", value, err);
    if (rc == 0)
        json_object_set_new(a->checkpoints, "sync", value);
    else
        json_decref(value);
    return rc;
}

/* Calls add (remove == 0) or remove on the ids of list. */
static int change_media(struct apply *a, struct wix_client *client,
                        const json_t *list, int remove, struct error *err)
{
    size_t count = json_array_size(list);
    const char **ids = calloc(count ? count : 1, sizeof(*ids));
    int rc;

    if (!ids)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    for (size_t i = 0; i < count; i++)
        ids[i] = json_string_value(json_array_get(list, i));
    rc = remove ? wix_stores_remove_product_media(
                      client, input_text(a, "product_id"), ids, count, err)
                : wix_stores_add_product_media(
                      client, input_text(a, "product_id"), ids, count, err);
    free(ids);
    if (rc == 0 && !remove)
        a->adds++;
    return rc;
}

/* One round toward the target; current is the product's list now. */
static int sync_round(struct apply *a, struct wix_client *client,
                      const json_t *current, struct error *err)
{
    json_t *missing = json_array();
    json_t *drop = json_array();
    json_t *move = json_array();
    size_t prefix = 0;
    ssize_t next;
    int rc = 0;

    for (size_t i = 0; i < json_array_size(a->target); i++) {
        const char *id = json_string_value(json_array_get(a->target, i));

        if (index_of(current, id) < 0)
            json_array_append_new(missing, json_string(id));
    }
    if (json_array_size(missing) > 0) {
        rc = change_media(a, client, missing, 0, err);
        goto out;
    }
    while (prefix < json_array_size(a->target) &&
           json_equal(json_array_get(current, prefix),
                      json_array_get(a->target, prefix)))
        prefix++;
    next = prefix < json_array_size(a->target)
               ? index_of(current,
                          json_string_value(json_array_get(a->target, prefix)))
               : (ssize_t)json_array_size(current);
    for (size_t i = prefix; i < json_array_size(current); i++) {
        json_t *id = json_array_get(current, i);
        int in_target = index_of(a->target, json_string_value(id)) >= 0;

        if (!in_target || (ssize_t)i < next)
            json_array_append(drop, id);
        if (in_target && (ssize_t)i < next)
            json_array_append(move, id);
    }
    rc = change_media(a, client, drop, 1, err);
    if (rc == 0 && json_array_size(move) > 0)
        rc = change_media(a, client, move, 0, err);
out:
    json_decref(missing);
    json_decref(drop);
    json_decref(move);
    return rc;
}

/* Rounds of sync_round() until the product's list is the target; takes
 * current. */
static int sync_media(struct apply *a, struct wix_client *client,
                      json_t *current, struct error *err)
{
    /* Each round puts at least one more id in place. */
    size_t rounds = 2 * json_array_size(a->target) + 2;
    int rc = 0;

    for (size_t i = 0; rc == 0 && !json_equal(current, a->target); i++) {
        json_t *now = NULL;

        if (i == rounds) {
            rc = error_set(err, ERR_RETRYABLE,
                           "the media of product %s did not reach the "
                           "expected order",
                           input_text(a, "product_id"));
            break;
        }
        rc = sync_round(a, client, current, err);
        if (rc == 0)
            rc = read_media_ids(a, client, &now, err);
        json_decref(current);
        current = now;
    }
    json_decref(current);
    return rc;
}

static int apply_unit(struct wix_client *client, void *arg, struct error *err)
{
    struct apply *a = arg;
    json_t *current = NULL;
    int rc;

    json_decref(a->target);
    a->target = NULL;
    a->outcome = OUTCOME_DONE;
    if (!a->restore && ensure_upload(a, client, err) != 0)
        return -1;
    if (a->restore &&
        !json_is_string(json_object_get(checkpoint(a, "upload"), "media_id")))
        return error_set(err, ERR_PERMANENT,
                         "item %s has no uploaded image to restore from",
                         a->item.id);
    if (a->restore)
        snprintf(a->media_id, sizeof(a->media_id), "%s",
                 json_string_value(
                     json_object_get(checkpoint(a, "upload"), "media_id")));
    if (!a->restore && images_crash_point_hit("after-upload", err))
        return -1;
    if (images_lock_product(a->app->store, a->item.instance_id,
                            input_text(a, "product_id"), a->item.id, err) != 0)
        return -1;
    rc = read_media_ids(a, client, &current, err);
    if (rc == 0)
        rc = load_target(a, current, err);
    if (rc == 0 && a->target)
        rc = sync_media(a, client, current, err);
    else
        json_decref(current);
    images_unlock_product(a->app->store, a->item.instance_id,
                          input_text(a, "product_id"), a->item.id);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Recording the outcome                                               */
/* ------------------------------------------------------------------ */

/* The item's state after the outcome. */
static const char *next_state(const struct apply *a)
{
    if (a->outcome == OUTCOME_DONE)
        return a->restore ? IMAGES_RESTORED : IMAGES_APPLIED;
    /* A restore that did not happen leaves the applied image in place. */
    return a->restore ? IMAGES_APPLIED : IMAGES_FAILED;
}

static int record_done(struct store_tx *tx, const struct apply *a,
                       struct error *err)
{
    json_t *value =
        json_pack("{s:s, s:s, s:i, s:O}", "action", action_name(a), "media_id",
                  a->restore ? input_text(a, "media_id") : a->media_id, "round",
                  a->round, "media_after", a->target);
    int rc = images_checkpoint(tx, a->item.id,
                               a->restore ? "restored" : "applied", value, err);

    json_decref(value);
    if (rc != 0 || store_generation_set_error(tx, a->item.id, NULL, err) != 0)
        return -1;
    if (a->restore)
        return 0;
    if (store_generation_set_wix_id(tx, a->item.id, "mediaId", a->media_id,
                                    err) != 0)
        return -1;
    return store_credits_capture(tx, a->item.id, err) < 0 ? -1 : 0;
}

static int record_conflict(struct store_tx *tx, const struct apply *a,
                           struct error *err)
{
    struct error cause;

    error_set(&cause, ERR_CONFLICT, "%s", a->conflict);
    if (store_generation_set_error(tx, a->item.id, &cause, err) != 0)
        return -1;
    if (!a->restore && images_release_held(tx, a->item.id, err) != 0)
        return -1;
    log_warn("images",
             "item not changed instance=%s item=%s action=%s error=\"%s\"",
             a->item.instance_id, a->item.id, action_name(a), a->conflict);
    return 0;
}

/* Records the outcome, moves the item on and finishes the job, in one
 * transaction. An item that no longer waits only gets the job finished. */
static int finish(struct apply *a, struct error *err)
{
    struct store_tx *tx = store_begin(a->app->store, err);
    struct store_generation item;
    int waiting;
    int rc;

    if (!tx)
        return -1;
    if (images_load(tx, a->item.instance_id, IMAGES_KIND_ITEM, a->item.id, NULL,
                    1, &item, err) != 1)
        goto fail;
    waiting = strcmp(item.state, busy_state(a->restore)) == 0;
    store_generation_clear(&item);
    if (waiting) {
        rc = a->outcome == OUTCOME_DONE ? record_done(tx, a, err)
                                        : record_conflict(tx, a, err);
        if (rc != 0 || images_set_state(tx, a->item.id, busy_state(a->restore),
                                        next_state(a), err) != 0)
            goto fail;
    }
    if (queue_finish(tx, a->job, err) != 0)
        goto fail;
    return store_commit(tx, err);

fail:
    store_rollback(tx);
    return -1;
}

/* The model's output is no longer needed once its result is applied. */
static void drop_model_output(const struct apply *a)
{
    const char *path =
        json_string_value(json_object_get(checkpoint(a, "ai"), "path"));

    if (!a->restore && a->outcome == OUTCOME_DONE && path)
        remove(path);
}

int images_apply_run(struct store *st, struct queue_job *job, void *arg,
                     struct error *err)
{
    struct apply a = {.app = arg, .job = job};
    int rc;

    (void)st;
    memset(&a.item, 0, sizeof(a.item));
    if (images_settings_read(a.app->cfg, &a.config, err) != 0)
        return -1;
    rc = apply_load(&a, err);
    if (rc != 1)
        goto out;
    rc = wix_run(a.app->wix, a.item.instance_id, apply_unit, &a, err) == 0
             ? finish(&a, err)
             : -1;
    if (rc == 0) {
        drop_model_output(&a);
        log_info("images",
                 "item %s instance=%s item=%s product=%s media=%s state=%s "
                 "add_calls=%d",
                 action_name(&a), a.item.instance_id, a.item.id,
                 input_text(&a, "product_id"), a.media_id, next_state(&a),
                 a.adds);
    }
out:
    apply_clear(&a);
    return rc < 0 ? -1 : 0;
}

int images_apply_failed(struct store_tx *tx, const struct queue_job *job,
                        const struct error *cause, void *arg, struct error *err)
{
    json_t *payload = json_loads(job->payload, 0, NULL);
    const char *action = json_string_value(json_object_get(payload, "action"));
    int restore = action && strcmp(action, "restore") == 0;
    struct store_generation item;
    int rc;

    (void)arg;
    json_decref(payload);
    rc = images_load(tx, job->instance_id, IMAGES_KIND_ITEM, job->generation_id,
                     NULL, 1, &item, err);
    if (rc != 1)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    rc = 0;
    if (strcmp(item.state, busy_state(restore)) == 0) {
        rc = store_generation_set_error(tx, item.id, cause, err) != 0 ||
                     (!restore && images_release_held(tx, item.id, err) != 0) ||
                     images_set_state(tx, item.id, item.state,
                                      restore ? IMAGES_APPLIED : IMAGES_FAILED,
                                      err) != 0
                 ? -1
                 : 0;
        if (rc == 0)
            log_warn("images",
                     "item %s failed instance=%s item=%s kind=%s "
                     "error=\"%s\"",
                     restore ? "restore" : "apply", item.instance_id, item.id,
                     error_kind_name(cause->kind), cause->message);
    }
    store_generation_clear(&item);
    return rc;
}
