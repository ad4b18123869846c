/*
 * The processing step of an item (job "images.process"): download the
 * original, run the model on Replicate unless the operation is compress
 * only, and make the result with libvips.
 *
 * Every paid or slow result is kept before the next step starts: the
 * original and the model's output as files under the item's folder, each
 * with a checkpoint, and the prediction id in a committed checkpoint
 * before the step waits for it, so that a retried step waits on that
 * prediction instead of creating another. Replicate deletes outputs after
 * about an hour, so the output is downloaded as soon as the prediction
 * succeeds. The result, the item's next state and the end of the queue job
 * are committed together.
 */
#include "pipelines/images_internal.h"

#include "ai/replicate.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const output_types[] = {"image/png", "image/webp",
                                           "image/jpeg", NULL};

/* One run of the step. */
struct process {
    struct app *app;
    struct queue_job *job;
    struct store_generation item;
    struct images_settings config;
    json_t *input;
    json_t *checkpoints;
    const json_t *settings; /* the job's, copied into the item's input */
    const char *operation;
    char dir[IMAGES_PATH_MAX];
    char what[300]; /* "image <media> of product <id>", for messages */

    struct buf original;
    struct buf icc;    /* the original's colour profile, may be empty */
    struct buf source; /* what the local step encodes */
    struct buf result;
    struct images_info result_info;
};

static void process_clear(struct process *p)
{
    store_generation_clear(&p->item);
    json_decref(p->input);
    json_decref(p->checkpoints);
    buf_free(&p->original);
    buf_free(&p->icc);
    buf_free(&p->source);
    buf_free(&p->result);
}

static const char *input_text(const struct process *p, const char *name)
{
    const char *value = json_string_value(json_object_get(p->input, name));

    return value ? value : "";
}

/* Loads the item: 1 when it waits for processing, 0 when it moved on. */
static int process_load(struct process *p, struct error *err)
{
    struct store_tx *tx = store_begin(p->app->store, err);
    int rc;

    if (!tx)
        return -1;
    rc = images_load(tx, p->job->instance_id, IMAGES_KIND_ITEM,
                     p->job->generation_id, NULL, 1, &p->item, err);
    if (rc != 1) {
        store_rollback(tx);
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    }
    if (strcmp(p->item.state, IMAGES_PENDING) == 0)
        rc = images_set_state(tx, p->item.id, IMAGES_PENDING, IMAGES_PROCESSING,
                              err) == 0
                 ? 1
                 : -1;
    else
        rc = strcmp(p->item.state, IMAGES_PROCESSING) == 0;
    if (rc != 1) {
        store_rollback(tx);
        return rc;
    }
    if (store_commit(tx, err) != 0)
        return -1;

    p->input = json_loads(p->item.input, 0, NULL);
    p->checkpoints = json_loads(p->item.checkpoints, 0, NULL);
    p->settings = json_object_get(p->input, "settings");
    p->operation = json_string_value(json_object_get(p->settings, "operation"));
    if (!p->operation || !json_is_object(p->checkpoints))
        return error_set(err, ERR_PERMANENT, "item %s has an unreadable input",
                         p->item.id);
    images_item_dir(p->app, p->item.id, p->dir);
    snprintf(p->what, sizeof(p->what), "image %.120s of product %.120s",
             input_text(p, "media_id"), input_text(p, "product_id"));
    return 1;
}

static const json_t *checkpoint(const struct process *p, const char *name)
{
    const json_t *value = json_object_get(p->checkpoints, name);

    return json_is_object(value) ? value : NULL;
}

/* Writes bytes as dir/<name>.<ext> and records the checkpoint at once. */
static int keep(struct process *p, const char *step, const char *name,
                const struct buf *bytes, const struct images_info *info,
                json_t *extra, struct error *err)
{
    enum images_format format = IMAGES_FORMAT_PNG;
    char file[64];
    char path[IMAGES_PATH_MAX];
    json_t *value;
    int rc;

    images_format_parse(strrchr(info->content_type, '/')
                            ? strrchr(info->content_type, '/') + 1
                            : "png",
                        &format);
    snprintf(file, sizeof(file), "%s.%s", name,
             images_format_extension(format));
    if (images_file_write(p->dir, file, bytes->data, bytes->len, path, err) !=
        0) {
        json_decref(extra);
        return -1;
    }
    value = json_pack("{s:s, s:s, s:I, s:i, s:i}", "path", path, "content_type",
                      info->content_type, "bytes", (json_int_t)bytes->len,
                      "width", info->width, "height", info->height);
    if (extra)
        json_object_update(value, extra);
    json_decref(extra);
    rc = images_checkpoint_now(p->app->store, p->item.id, step, value, err);
    if (rc == 0)
        json_object_set_new(p->checkpoints, step, value);
    else
        json_decref(value);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The original                                                        */
/* ------------------------------------------------------------------ */

static int load_original(struct process *p, struct error *err)
{
    const json_t *kept = checkpoint(p, "original");
    const char *path = json_string_value(json_object_get(kept, "path"));
    struct images_info info;

    if (path && images_file_read(path, &p->original, err) == 0 &&
        images_probe(p->original.data, p->original.len, p->config.max_pixels,
                     &info, &p->icc, err) == 0)
        return 0;
    buf_reset(&p->original);
    buf_reset(&p->icc);
    if (images_download(input_text(p, "url"), (size_t)p->config.max_bytes,
                        p->config.max_pixels, p->what, &p->original, &info,
                        err) != 0 ||
        images_probe(p->original.data, p->original.len, 0, &info, &p->icc,
                     err) != 0)
        return -1;
    if (!info.content_type[0])
        snprintf(info.content_type, sizeof(info.content_type), "image/jpeg");
    return keep(p, "original", "original", &p->original, &info, NULL, err);
}

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

static const char *model_of(const struct process *p)
{
    if (strcmp(p->operation, "upscale") == 0)
        return p->config.upscale_model;
    if (strcmp(p->operation, "remove_background") == 0)
        return p->config.background_model;
    return p->config.edit_model;
}

/* NOTE: these inputs are those of the default models (real-esrgan,
 * lucataco/remove-bg, flux-kontext-pro); another model may name them
 * differently. */
static json_t *model_input(const struct process *p)
{
    const char *url = input_text(p, "url");

    if (strcmp(p->operation, "upscale") == 0)
        return json_pack("{s:s, s:O}", "image", url, "scale",
                         json_object_get(p->settings, "scale"));
    if (strcmp(p->operation, "remove_background") == 0)
        return json_pack("{s:s}", "image", url);
    return json_pack("{s:O, s:s, s:s, s:s}", "prompt",
                     json_object_get(p->settings, "instruction"), "input_image",
                     url, "aspect_ratio", "match_input_image", "output_format",
                     "png");
}

static int create_prediction(struct process *p, struct error *err)
{
    const char *model = model_of(p);
    struct replicate_create_request request = {0};
    struct replicate_prediction prediction;
    json_t *input = model_input(p);
    json_t *value;
    int rc;

    if (strchr(model, ':'))
        request.version = model;
    else
        request.model = model;
    request.input = input;
    memset(&prediction, 0, sizeof(prediction));
    rc = input ? replicate_create(p->app->replicate, &request, &prediction, err)
               : error_set(err, ERR_PERMANENT, "out of memory");
    json_decref(input);
    if (rc != 0) {
        replicate_prediction_release(&prediction);
        return -1;
    }
    value =
        json_pack("{s:s, s:s, s:I}", "prediction_id", prediction.id, "model",
                  model, "created_at_ms", (json_int_t)clock_now_ms());
    replicate_prediction_release(&prediction);
    log_info("images", "prediction created instance=%s item=%s prediction=%s",
             p->item.instance_id, p->item.id,
             json_string_value(json_object_get(value, "prediction_id")));
    rc = images_checkpoint_now(p->app->store, p->item.id, "prediction", value,
                               err);
    if (rc == 0)
        json_object_set_new(p->checkpoints, "prediction", value);
    else
        json_decref(value);
    return rc;
}

/* Forgets a prediction that timed out, so that the next attempt creates a
 * new one instead of waiting on one that Replicate cancelled. */
static void forget_prediction(struct process *p)
{
    json_t *forgotten = json_pack(
        "{s:O}", "timed_out_prediction_id",
        json_object_get(checkpoint(p, "prediction"), "prediction_id"));
    struct error err;

    error_clear(&err);
    if (images_checkpoint_now(p->app->store, p->item.id, "prediction",
                              forgotten, &err) != 0)
        log_warn("images",
                 "cannot forget a timed-out prediction item=%s error=\"%s\"",
                 p->item.id, err.message);
    json_decref(forgotten);
}

/* Waits for the prediction and keeps its output. */
static int take_output(struct process *p, const char *id, struct error *err)
{
    struct replicate_prediction prediction;
    struct images_info info;
    char type[128];
    int rc;

    memset(&prediction, 0, sizeof(prediction));
    rc = replicate_wait(p->app->replicate, id, &prediction, err);
    if (rc == 0 && prediction.output_count == 0)
        rc = error_set(err, ERR_PERMANENT,
                       "prediction %s succeeded without an output", id);
    if (rc == 0)
        rc = replicate_download(p->app->replicate, prediction.outputs[0],
                                (size_t)p->config.max_bytes, output_types,
                                &p->source, type, err);
    if (rc == 0 && images_probe(p->source.data, p->source.len,
                                p->config.max_pixels, &info, NULL, err) != 0) {
        error_prefix(err, "the output of prediction %s", id);
        rc = -1;
    }
    if (rc != 0 && strcmp(err->code, REPLICATE_ERR_TIMEOUT) == 0)
        forget_prediction(p);
    replicate_prediction_release(&prediction);
    if (rc != 0)
        return -1;
    snprintf(info.content_type, sizeof(info.content_type), "%.31s", type);
    return keep(p, "ai", "ai", &p->source, &info,
                json_pack("{s:s}", "prediction_id", id), err);
}

static int run_model(struct process *p, struct error *err)
{
    const json_t *ai = checkpoint(p, "ai");
    const char *path = json_string_value(json_object_get(ai, "path"));
    const char *id;

    if (path && images_file_read(path, &p->source, err) == 0)
        return 0;
    buf_reset(&p->source);
    id = json_string_value(
        json_object_get(checkpoint(p, "prediction"), "prediction_id"));
    if (!id) {
        if (create_prediction(p, err) != 0)
            return -1;
        id = json_string_value(
            json_object_get(checkpoint(p, "prediction"), "prediction_id"));
    }
    if (take_output(p, id, err) != 0) {
        if (strcmp(err->code, REPLICATE_ERR_OUTPUT_EXPIRED) == 0)
            error_set(err, ERR_PERMANENT,
                      "the model's output for %s expired before it could "
                      "be downloaded (prediction %s); start a new job for "
                      "this image",
                      p->what, id);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The local step                                                      */
/* ------------------------------------------------------------------ */

static int encode(struct process *p, struct error *err)
{
    struct images_encode_options options = {
        .quality =
            (int)json_integer_value(json_object_get(p->settings, "quality")),
        .max_width =
            (int)json_integer_value(json_object_get(p->settings, "max_width")),
        .max_height =
            (int)json_integer_value(json_object_get(p->settings, "max_height")),
        .max_pixels = p->config.max_pixels,
        .icc = p->icc.data,
        .icc_len = p->icc.len,
    };
    const struct buf *source = p->source.len ? &p->source : &p->original;

    if (images_format_parse(
            json_string_value(json_object_get(p->settings, "format")),
            &options.format) != 0)
        return error_set(err, ERR_PERMANENT, "item %s has no output format",
                         p->item.id);
    if (images_encode(source->data, source->len, &options, &p->result,
                      &p->result_info, err) != 0) {
        error_prefix(err, "processing %s", p->what);
        return -1;
    }
    return keep(
        p, "result", "result", &p->result, &p->result_info,
        json_pack("{s:I}", "original_bytes", (json_int_t)p->original.len), err);
}

/* ------------------------------------------------------------------ */
/* Finishing                                                           */
/* ------------------------------------------------------------------ */

/* Whether the item goes on to be applied: auto mode and a job that was
 * not cancelled. */
static int applies_now(struct store_tx *tx, const struct process *p, int *apply,
                       struct error *err)
{
    struct store_generation job;

    if (images_load(tx, p->item.instance_id, IMAGES_KIND_JOB, p->item.parent_id,
                    NULL, 0, &job, err) != 1)
        return -1;
    *apply = strcmp(job.state, IMAGES_JOB_RUNNING) == 0 &&
             strcmp(json_string_value(json_object_get(p->settings, "mode")),
                    "auto") == 0;
    store_generation_clear(&job);
    return 0;
}

/* A result larger than the original is kept for review but not applied,
 * unless the owner asked for an edit. */
static int larger(const struct process *p)
{
    return p->result.len > p->original.len && strcmp(p->operation, "edit") != 0;
}

static int skip_larger(struct store_tx *tx, const struct process *p,
                       struct error *err)
{
    struct error cause;

    error_set(&cause, ERR_PERMANENT,
              "the result (%zu bytes) is larger than the original (%zu "
              "bytes), so it is not applied; try another format, a lower "
              "quality or a maximum size",
              p->result.len, p->original.len);
    snprintf(cause.code, sizeof(cause.code), "larger");
    return store_generation_set_error(tx, p->item.id, &cause, err) != 0 ||
                   images_release_held(tx, p->item.id, err) != 0 ||
                   images_set_state(tx, p->item.id, IMAGES_PROCESSING,
                                    IMAGES_SKIPPED_LARGER, err) != 0
               ? -1
               : 0;
}

static int advance(struct store_tx *tx, const struct process *p,
                   const char **next, struct error *err)
{
    int apply = 0;

    if (larger(p)) {
        *next = IMAGES_SKIPPED_LARGER;
        return skip_larger(tx, p, err);
    }
    if (applies_now(tx, p, &apply, err) != 0)
        return -1;
    *next = apply ? IMAGES_APPLYING : IMAGES_READY;
    if (images_set_state(tx, p->item.id, IMAGES_PROCESSING, *next, err) != 0)
        return -1;
    return apply ? images_enqueue_apply(tx, p->item.instance_id, p->item.id, 0,
                                        1, err)
                 : 0;
}

static int finish(struct process *p, const char **next, struct error *err)
{
    struct store_tx *tx = store_begin(p->app->store, err);
    struct store_generation item;
    int waiting;

    *next = NULL;
    if (!tx)
        return -1;
    if (images_load(tx, p->item.instance_id, IMAGES_KIND_ITEM, p->item.id, NULL,
                    1, &item, err) != 1)
        goto fail;
    waiting = strcmp(item.state, IMAGES_PROCESSING) == 0;
    store_generation_clear(&item);
    if ((waiting && advance(tx, p, next, err) != 0) ||
        queue_finish(tx, p->job, err) != 0)
        goto fail;
    return store_commit(tx, err);

fail:
    store_rollback(tx);
    return -1;
}

int images_process_run(struct store *st, struct queue_job *job, void *arg,
                       struct error *err)
{
    struct process p = {.app = arg, .job = job};
    const char *next = NULL;
    int rc;

    (void)st;
    memset(&p.item, 0, sizeof(p.item));
    buf_init(&p.original, 0);
    buf_init(&p.icc, 4 * 1024 * 1024);
    buf_init(&p.source, 0);
    buf_init(&p.result, 0);
    if (images_settings_read(p.app->cfg, &p.config, err) != 0)
        return -1;
    p.original.max = p.source.max = p.result.max = (size_t)p.config.max_bytes;
    rc = process_load(&p, err);
    if (rc != 1)
        goto out;
    rc = load_original(&p, err);
    if (rc == 0 && strcmp(p.operation, "compress") != 0)
        rc = run_model(&p, err);
    if (rc == 0)
        rc = encode(&p, err);
    if (rc == 0)
        rc = finish(&p, &next, err);
    if (rc == 0 && next)
        log_info("images",
                 "item processed instance=%s item=%s operation=%s "
                 "bytes_before=%zu bytes_after=%zu state=%s",
                 p.item.instance_id, p.item.id, p.operation, p.original.len,
                 p.result.len, next);
out:
    process_clear(&p);
    return rc < 0 ? -1 : 0;
}

int images_process_failed(struct store_tx *tx, const struct queue_job *job,
                          const struct error *cause, void *arg,
                          struct error *err)
{
    struct app *app = arg;
    struct store_generation item;
    int rc;

    rc = images_load(tx, job->instance_id, IMAGES_KIND_ITEM, job->generation_id,
                     NULL, 1, &item, err);
    if (rc != 1)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    rc = 0;
    if (strcmp(item.state, IMAGES_PENDING) == 0 ||
        strcmp(item.state, IMAGES_PROCESSING) == 0) {
        rc = images_set_state(tx, item.id, item.state, IMAGES_FAILED, err) !=
                         0 ||
                     store_generation_set_error(tx, item.id, cause, err) != 0 ||
                     images_release_held(tx, item.id, err) != 0
                 ? -1
                 : 0;
        if (rc == 0) {
            images_item_dir_remove(app, item.id);
            log_warn("images",
                     "item failed instance=%s item=%s kind=%s error=\"%s\"",
                     item.instance_id, item.id, error_kind_name(cause->kind),
                     cause->message);
        }
    }
    store_generation_clear(&item);
    return rc;
}
