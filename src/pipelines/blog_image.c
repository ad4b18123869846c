/*
 * The image step (job "blog.image"): Replicate makes the cover from the
 * post's image prompt with the configured text-to-image model.
 *
 * Creating a prediction is paid and has no idempotency key, so the step
 * records the prediction id in a committed transaction before it waits:
 * a retried step that finds the id waits on that prediction instead of
 * creating another. Replicate deletes outputs after about an hour, so the
 * bytes are downloaded as soon as the prediction succeeds, checked to be
 * an image, and kept under SITESMITH_DATA_DIR for the publish step. A
 * prediction that timed out, failed with a transient error or whose output
 * expired first is given up, and the job's next attempt creates another.
 */
#include "pipelines/blog_internal.h"

#include "ai/replicate.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

/* Room for SITESMITH_DATA_DIR (at most 511 bytes) and a file name. */
#define PATH_SIZE 640

static const char *const image_types[] = {"image/webp", "image/png",
                                          "image/jpeg", NULL};

/* ------------------------------------------------------------------ */
/* Kept files                                                          */
/* ------------------------------------------------------------------ */

static const char *extension_of(const char *content_type)
{
    if (strcmp(content_type, "image/png") == 0)
        return "png";
    if (strcmp(content_type, "image/jpeg") == 0)
        return "jpg";
    return "webp";
}

/* Creates dir and its parents (mode 0700) when missing. */
static int make_dirs(const char *dir, struct error *err)
{
    char path[PATH_SIZE];

    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return error_set(err, ERR_PERMANENT, "data folder path is too long");
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;

        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return error_set(err, ERR_PERMANENT,
                             "cannot create folder %s: %s (check "
                             "SITESMITH_DATA_DIR)",
                             path, strerror(errno));
        *p = saved;
        if (saved == '\0')
            return 0;
    }
}

/* Writes data to path through a temporary file and a rename, so that a
 * crash never leaves half a file under the final name. */
static int write_file(const char *path, const void *data, size_t len,
                      struct error *err)
{
    char temporary[PATH_SIZE + 32];
    char suffix[17];
    int fd;
    ssize_t written = 0;
    int failed;
    int saved;

    crypto_random_hex(suffix, 8);
    snprintf(temporary, sizeof(temporary), "%.*s.%s.tmp", PATH_SIZE, path,
             suffix);
    fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, ERR_PERMANENT, "cannot create %s: %s", temporary,
                         strerror(errno));
    errno = 0;
    while ((size_t)written < len) {
        ssize_t n =
            write(fd, (const char *)data + written, len - (size_t)written);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        written += n;
    }
    failed = (size_t)written != len || fsync(fd) != 0;
    saved = errno;
    if (close(fd) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    if (!failed && rename(temporary, path) != 0) {
        failed = 1;
        saved = errno;
    }
    if (failed) {
        unlink(temporary);
        return error_set(err, ERR_RETRYABLE,
                         "cannot write %s: %s (check the free space in "
                         "SITESMITH_DATA_DIR)",
                         path, saved ? strerror(saved) : "short write");
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Image check                                                         */
/* ------------------------------------------------------------------ */

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static int vips_status = -1;

static void start_vips(void)
{
    vips_status = vips_init("sitesmith");
}

/* Decodes the header of an image to read its size; fails on non-images. */
static int image_size(const void *data, size_t len, int *width, int *height,
                      struct error *err)
{
    VipsImage *image;

    pthread_once(&vips_once, start_vips);
    if (vips_status != 0) {
        error_set(err, ERR_PERMANENT, "cannot start libvips: %s",
                  vips_error_buffer());
        blog_error_from(err, BLOG_SOURCE_APP);
        return -1;
    }
    image = vips_image_new_from_buffer(data, len, "", "access",
                                       VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!image) {
        error_set(err, ERR_PERMANENT,
                  "the cover image from Replicate is not a readable image: "
                  "%.200s",
                  vips_error_buffer());
        snprintf(err->code, sizeof(err->code), REPLICATE_ERR_OUTPUT_TYPE);
        vips_error_clear();
        return -1;
    }
    *width = vips_image_get_width(image);
    *height = vips_image_get_height(image);
    g_object_unref(image);
    if (*width <= 0 || *height <= 0) {
        error_set(err, ERR_PERMANENT,
                  "the cover image from Replicate has no size");
        snprintf(err->code, sizeof(err->code), REPLICATE_ERR_OUTPUT_TYPE);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Prediction                                                          */
/* ------------------------------------------------------------------ */

/* Stores the image checkpoint (an object) at once, in its own transaction. */
static int save_checkpoint(struct blog_job *bj, const json_t *checkpoint,
                           struct error *err)
{
    struct store_tx *tx = store_begin(bj->app->store, err);

    if (!tx)
        return -1;
    if (blog_write_checkpoint(tx, bj->gen.id, "image", checkpoint, err) != 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}

/* Creates a prediction and replaces *checkpoint (an earlier checkpoint
 * without a prediction, or NULL) with one that names it. */
static int create_prediction(struct blog_job *bj, json_t **checkpoint,
                             struct error *err)
{
    const char *prompt = json_string_value(
        json_at(blog_checkpoint(bj, "write"), "post.image_prompt"));
    struct replicate_prediction prediction;
    struct replicate_create_request request = {
        .model = bj->settings.image_model,
    };
    json_t *input;
    json_t *fresh;
    json_t *failed;
    int rc;

    if (!prompt)
        return error_set(err, ERR_PERMANENT,
                         "generation %s has no written post to draw a cover "
                         "for",
                         bj->gen.id);
    /* NOTE: these inputs are flux-schnell's; another model may name
     * them differently. */
    input = json_pack("{s:s, s:s, s:s, s:i}", "prompt", prompt, "aspect_ratio",
                      "16:9", "output_format", bj->settings.image_format,
                      "num_outputs", 1);
    request.input = input;
    memset(&prediction, 0, sizeof(prediction));
    rc = input
             ? replicate_create(bj->app->replicate, &request, &prediction, err)
             : error_set(err, ERR_PERMANENT, "out of memory");
    json_decref(input);
    if (rc != 0) {
        replicate_prediction_release(&prediction);
        blog_error_from(err, BLOG_SOURCE_REPLICATE);
        return -1;
    }

    /* The new checkpoint keeps the list of earlier failed predictions. */
    fresh = json_pack("{s:s, s:s, s:I}", "prediction_id", prediction.id,
                      "model", bj->settings.image_model, "created_at_ms",
                      (json_int_t)clock_now_ms());
    replicate_prediction_release(&prediction);
    failed = json_object_get(*checkpoint, "failed_predictions");
    if (fresh && failed)
        json_object_set(fresh, "failed_predictions", failed);
    json_decref(*checkpoint);
    *checkpoint = fresh;
    if (!fresh)
        return error_set(err, ERR_PERMANENT, "out of memory");
    log_info("blog", "cover prediction created generation=%s prediction=%s",
             bj->gen.id,
             json_string_value(json_object_get(*checkpoint, "prediction_id")));
    return save_checkpoint(bj, *checkpoint, err);
}

/*
 * True for a failed prediction whose model error requests a retry, such as
 * "Prediction interrupted; please retry (code: PA)". A content error such
 * as E005 ("flagged as sensitive") fails the same way again.
 * NOTE: no list of Replicate's retryable errors was found; "please retry"
 * matches the interruption message (code PA) that users report.
 */
static int transient_failure(const char *model_error)
{
    static const char *const permanent[] = {"(E005)", "sensitive", "NSFW",
                                            NULL};

    if (!model_error || !strcasestr(model_error, "please retry"))
        return 0;
    for (size_t i = 0; permanent[i]; i++) {
        if (strcasestr(model_error, permanent[i]))
            return 0;
    }
    return 1;
}

/*
 * True when a new prediction may succeed where this one failed: it timed
 * out (Replicate cancelled it), its output expired before the download,
 * or the model failed with a transient error.
 */
static int needs_new_prediction(const struct error *err,
                                const struct replicate_prediction *prediction)
{
    const char *code = blog_error_code(err);

    return strcmp(code, REPLICATE_ERR_TIMEOUT) == 0 ||
           strcmp(code, REPLICATE_ERR_OUTPUT_EXPIRED) == 0 ||
           (strcmp(code, REPLICATE_ERR_FAILED) == 0 &&
            transient_failure(prediction->error));
}

/*
 * Forgets a prediction that can't give the cover, so that the next
 * attempt creates a new one. One transaction records the prediction and
 * its error under "failed_predictions" and clears "prediction_id". Then
 * err becomes ERR_RETRYABLE, so the queue backs off and tries again
 * while the job has attempts left. The written post stays checkpointed.
 */
static int forget_prediction(struct blog_job *bj, const json_t *checkpoint,
                             struct error *err)
{
    json_t *forgotten = json_deep_copy(checkpoint);
    json_t *failed = json_object_get(forgotten, "failed_predictions");
    struct error save_err;
    int rc;

    if (!forgotten)
        return error_set(err, ERR_PERMANENT, "out of memory");
    if (!json_is_array(failed)) {
        failed = json_array();
        json_object_set_new(forgotten, "failed_predictions", failed);
    }
    json_array_append_new(
        failed, json_pack("{s:O, s:s, s:s}", "id",
                          json_object_get(checkpoint, "prediction_id"), "code",
                          err->code, "error", err->message));
    json_object_del(forgotten, "prediction_id");

    error_clear(&save_err);
    rc = save_checkpoint(bj, forgotten, &save_err);
    json_decref(forgotten);
    if (rc != 0) {
        log_warn("blog",
                 "cannot forget a failed prediction generation=%s "
                 "error=\"%s\"",
                 bj->gen.id, save_err.message);
        *err = save_err;
        return -1;
    }
    log_warn("blog",
             "cover prediction failed, a new one follows generation=%s "
             "job=%" PRId64 " attempt=%d code=%s error=\"%s\"",
             bj->gen.id, bj->job->id, bj->job->attempt, err->code,
             err->message);
    err->kind = ERR_RETRYABLE;
    return -1;
}

/* Downloads the output and keeps it; fills the rest of the checkpoint. */
static int keep_output(struct blog_job *bj, const char *url, json_t *checkpoint,
                       struct error *err)
{
    char content_type[128];
    char dir[PATH_SIZE];
    char path[PATH_SIZE];
    struct buf bytes;
    int width = 0;
    int height = 0;
    int rc;

    buf_init(&bytes, (size_t)bj->settings.image_max_bytes);
    rc = replicate_download(bj->app->replicate, url,
                            (size_t)bj->settings.image_max_bytes, image_types,
                            &bytes, content_type, err);
    if (rc == 0)
        rc = image_size(bytes.data, bytes.len, &width, &height, err);
    if (rc != 0)
        blog_error_from(err, BLOG_SOURCE_REPLICATE);
    snprintf(dir, sizeof(dir), "%.550s/blog", bj->app->data_dir);
    snprintf(path, sizeof(path), "%.560s/%s.%s", dir, bj->gen.id,
             extension_of(content_type));
    if (rc == 0)
        rc = make_dirs(dir, err);
    if (rc == 0)
        rc = write_file(path, bytes.data, bytes.len, err);
    /* Replicate's hour starts no later than the prediction's creation, so
     * the output's age is counted from there. */
    if (rc == 0 &&
        (json_object_set_new(checkpoint, "output_url", json_string(url)) ||
         json_object_set(checkpoint, "output_at_ms",
                         json_object_get(checkpoint, "created_at_ms")) ||
         json_object_set_new(checkpoint, "path", json_string(path)) ||
         json_object_set_new(checkpoint, "content_type",
                             json_string(content_type)) ||
         json_object_set_new(checkpoint, "bytes",
                             json_integer((json_int_t)bytes.len)) ||
         json_object_set_new(checkpoint, "width", json_integer(width)) ||
         json_object_set_new(checkpoint, "height", json_integer(height))))
        rc = error_set(err, ERR_PERMANENT, "out of memory");
    buf_free(&bytes);
    return rc;
}

static int image_work(struct blog_job *bj, json_t **output, struct error *err)
{
    json_t *checkpoint = json_deep_copy(blog_checkpoint(bj, "image"));
    struct replicate_prediction prediction;
    const char *id;
    int rc;

    if (checkpoint && json_object_get(checkpoint, "path")) {
        *output = checkpoint;
        return 0;
    }
    if (!checkpoint || !json_object_get(checkpoint, "prediction_id")) {
        if (create_prediction(bj, &checkpoint, err) != 0)
            goto fail;
    }
    id = json_string_value(json_object_get(checkpoint, "prediction_id"));

    /* The owner may have cancelled while the prediction was created. */
    rc = blog_still_in_state(bj, BLOG_GENERATING_IMAGE, err);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        struct error cancel_err;

        error_clear(&cancel_err);
        if (replicate_cancel(bj->app->replicate, id, &cancel_err) != 0)
            log_warn("blog",
                     "cannot cancel the prediction of a cancelled "
                     "generation generation=%s prediction=%s error=\"%s\"",
                     bj->gen.id, id, cancel_err.message);
        *output = checkpoint;
        return 0;
    }

    memset(&prediction, 0, sizeof(prediction));
    rc = replicate_wait(bj->app->replicate, id, &prediction, err);
    if (rc == 0 && prediction.output_count == 0)
        rc = error_set(err, ERR_PERMANENT,
                       "prediction %s succeeded without an output", id);
    if (rc != 0)
        blog_error_from(err, BLOG_SOURCE_REPLICATE);
    if (rc == 0)
        rc = keep_output(bj, prediction.outputs[0], checkpoint, err);
    if (rc != 0 && needs_new_prediction(err, &prediction))
        forget_prediction(bj, checkpoint, err);
    replicate_prediction_release(&prediction);
    if (rc != 0)
        goto fail;
    *output = checkpoint;
    return 0;

fail:
    error_prefix(err, "image step");
    json_decref(checkpoint);
    return -1;
}

static int image_advance(struct blog_job *bj, struct store_tx *tx,
                         const json_t *output, struct error *err)
{
    if (blog_write_checkpoint(tx, bj->gen.id, "image", output, err) != 0 ||
        blog_set_state(tx, bj->gen.id, BLOG_GENERATING_IMAGE, BLOG_PUBLISHING,
                       err) != 0)
        return -1;
    return blog_enqueue(tx, bj->gen.instance_id, bj->gen.id, BLOG_JOB_PUBLISH,
                        0, err);
}

/* A cancelled generation still records the image it paid for. */
static int image_abandoned(struct blog_job *bj, struct store_tx *tx,
                           const json_t *output, struct error *err)
{
    return blog_write_checkpoint(tx, bj->gen.id, "image", output, err);
}

const struct blog_step blog_image_step = {
    .kind = BLOG_JOB_IMAGE,
    .state = BLOG_GENERATING_IMAGE,
    .work = image_work,
    .advance = image_advance,
    .abandoned = image_abandoned,
};
