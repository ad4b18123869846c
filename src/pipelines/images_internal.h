/*
 * Internals of the Image Optimizer shared by images_*.c. Not for use
 * outside src/pipelines (tests may call them).
 *
 * What an item keeps in the store:
 *   input        {product_id, product_name, media_id, position, url,
 *                 width, height, media_type, alt_text, alt_source
 *                 ("kept" or "product_name"), media_before [ids], settings}
 *   checkpoints  "original"   {path, content_type, bytes, width, height}
 *                "prediction" {prediction_id, model, created_at_ms}
 *                "ai"         {path, content_type, bytes, width, height}
 *                "result"     {path, content_type, bytes, width, height,
 *                              original_bytes}
 *                "upload"     {media_id, url}
 *                "sync"       {action, round, target [ids]}: the media list
 *                             that the running apply or restore makes
 *                "rounds"     {apply, restore}: writes queued so far
 *   wix_ids      mediaId of the uploaded image
 *
 * Kept files live in SITESMITH_DATA_DIR/images/<item id>/.
 */
#ifndef SITESMITH_PIPELINES_IMAGES_INTERNAL_H
#define SITESMITH_PIPELINES_IMAGES_INTERNAL_H

#include "core/buf.h"
#include "core/config.h"
#include "pipelines/images.h"
#include "wix/wix.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Channel on which item state changes are announced. */
#define IMAGES_CHANNEL "sitesmith_images"

/* Most attempts of an image job: 429s, token refreshes and waits for a
 * product's lock must not fail items. */
#define IMAGES_MAX_ATTEMPTS 12

/* ------------------------------------------------------------------ */
/* Settings (images_job.c)                                             */
/* ------------------------------------------------------------------ */

/* Settings of the pipeline, read from the configuration. */
struct images_settings {
    int64_t max_bytes;          /* SITESMITH_IMAGE_MAX_BYTES */
    int64_t max_pixels;         /* SITESMITH_IMAGE_MAX_PIXELS */
    int64_t media_timeout_ms;   /* SITESMITH_IMAGE_MEDIA_TIMEOUT */
    char upscale_model[160];    /* SITESMITH_REPLICATE_UPSCALE_MODEL */
    char background_model[160]; /* SITESMITH_REPLICATE_BACKGROUND_MODEL */
    char edit_model[160];       /* SITESMITH_REPLICATE_EDIT_MODEL */
};

/* Reads the settings, with defaults; a bad value fails naming the
 * variable. */
int images_settings_read(const struct config *cfg, struct images_settings *out,
                         struct error *err);

/* ------------------------------------------------------------------ */
/* libvips (images_vips.c)                                             */
/* ------------------------------------------------------------------ */

enum images_format {
    IMAGES_FORMAT_WEBP,
    IMAGES_FORMAT_JPEG,
    IMAGES_FORMAT_PNG,
    IMAGES_FORMAT_AVIF,
};

/* Parses "webp", "jpeg" (or "jpg"), "png", "avif": 0, or -1 unknown. */
int images_format_parse(const char *name, enum images_format *out);
const char *images_format_name(enum images_format format);
const char *images_format_type(enum images_format format); /* image/webp */
const char *images_format_extension(enum images_format format);

/*
 * Checks that this libvips can write format (vips_foreign_find_save_buffer
 * finds a saver); ERR_INVALID with code "format" naming the format and the
 * libvips version otherwise.
 */
int images_format_check(enum images_format format, struct error *err);

/* What the decoder found in an image. */
struct images_info {
    int width;
    int height;
    int bands;
    int has_icc;
    int has_exif;
    char content_type[32]; /* "image/jpeg", ...; "" when not known */
};

/*
 * Decodes data fully (a truncated or broken file fails) and fills info.
 * An image of more than max_pixels pixels (0: no limit) fails with
 * ERR_PERMANENT code "too_large". When icc is not NULL it receives the
 * image's ICC profile (empty when it has none). Anything libvips cannot
 * read fails with ERR_PERMANENT code "not_image". Thread-safe.
 */
int images_probe(const void *data, size_t len, int64_t max_pixels,
                 struct images_info *info, struct buf *icc, struct error *err);

struct images_encode_options {
    enum images_format format;
    int quality;        /* 1 to 100 */
    int max_width;      /* 0: no limit */
    int max_height;     /* 0: no limit */
    int64_t max_pixels; /* decode limit of the input, 0: none */
    /* The profile to attach when the input has none (e.g. the original's,
     * for a model output): used only for colour images. May be NULL. */
    const void *icc;
    size_t icc_len;
};

/*
 * The local step: decodes data, applies the EXIF orientation, shrinks it
 * to fit max_width x max_height (never enlarges), flattens alpha onto
 * white for JPEG, and encodes it as options->format with no metadata but
 * the ICC colour profile (no EXIF, XMP or IPTC). Fills out (any maximum)
 * and info (of the result). Thread-safe.
 */
int images_encode(const void *data, size_t len,
                  const struct images_encode_options *options, struct buf *out,
                  struct images_info *info, struct error *err);

/* ------------------------------------------------------------------ */
/* Kept files (images_files.c)                                         */
/* ------------------------------------------------------------------ */

#define IMAGES_PATH_MAX 640

/* The folder of an item's files: DATA_DIR/images/<item id>. */
void images_item_dir(const struct app *app, const char *item_id,
                     char out[IMAGES_PATH_MAX]);

/*
 * Writes data as dir/name (creating dir), through a temporary file and a
 * rename, and puts the path into path_out.
 */
int images_file_write(const char *dir, const char *name, const void *data,
                      size_t len, char path_out[IMAGES_PATH_MAX],
                      struct error *err);

/* Reads a whole file into out (its maximum applies). */
int images_file_read(const char *path, struct buf *out, struct error *err);

/* Deletes the item's folder and everything in it; a missing folder is
 * fine. */
void images_item_dir_remove(const struct app *app, const char *item_id);

/*
 * Downloads url (http or https) into out, at most max_bytes, and checks
 * that a decoder accepts it (images_probe with max_pixels). what names the
 * image in messages ("image m1 of product p1"). A URL that is not an
 * image fails with ERR_PERMANENT code "not_image"; a larger file with code
 * "too_large"; 404 and 410 with ERR_PERMANENT; 5xx and connection failures
 * with ERR_RETRYABLE.
 */
int images_download(const char *url, size_t max_bytes, int64_t max_pixels,
                    const char *what, struct buf *out, struct images_info *info,
                    struct error *err);

/* ------------------------------------------------------------------ */
/* Items and jobs (images_job.c)                                       */
/* ------------------------------------------------------------------ */

/*
 * Reads a generation of kind into out (1 found), checking that it belongs
 * to instance_id and, when parent_id is not NULL, to that job. Anything
 * else is ERR_NOT_FOUND naming what.
 */
int images_load(struct store_tx *tx, const char *instance_id, const char *kind,
                const char *id, const char *parent_id, int for_update,
                struct store_generation *out, struct error *err);

/* Changes an item's state from `from` and announces it; 0 changed, -1
 * with ERR_CONFLICT when the item was no longer in `from`. */
int images_set_state(struct store_tx *tx, const char *item_id, const char *from,
                     const char *to, struct error *err);

/* Writes value (a JSON value) as checkpoint step of the item. */
int images_checkpoint(struct store_tx *tx, const char *item_id,
                      const char *step, const json_t *value, struct error *err);

/* Writes the checkpoint in a transaction of its own. */
int images_checkpoint_now(struct store *st, const char *item_id,
                          const char *step, const json_t *value,
                          struct error *err);

/* How long a product lock lasts when its holder dies, and the wait of a
 * step that found the product locked. */
#define IMAGES_PRODUCT_LOCK_MS (5LL * 60 * 1000)
#define IMAGES_PRODUCT_LOCK_RETRY_MS 1000

/*
 * Takes the lock on a product's media for item_id, in a transaction of
 * its own, so that two items of one product never change its media at
 * once. Taking it again for the same item succeeds. A lock held by
 * another item fails with ERR_RETRYABLE (retry_after_ms set), so the
 * queue runs the step again later.
 */
int images_lock_product(struct store *st, const char *instance_id,
                        const char *product_id, const char *item_id,
                        struct error *err);

/* Releases the lock if item_id holds it; a failure is only logged, and
 * the lock then expires. */
void images_unlock_product(struct store *st, const char *instance_id,
                           const char *product_id, const char *item_id);

/* Reads the ids of the job's items in state into a new array. */
json_t *images_item_ids(struct store_tx *tx, const char *job_id,
                        const char *state, struct error *err);

/* Queues the processing of an item. */
int images_enqueue_process(struct store_tx *tx, const char *instance_id,
                           const char *item_id, struct error *err);

/* Queues an apply or restore of an item and records its round. */
int images_enqueue_apply(struct store_tx *tx, const char *instance_id,
                         const char *item_id, int restore, int round,
                         struct error *err);

/* Releases the item's reservation unless it was captured. */
int images_release_held(struct store_tx *tx, const char *item_id,
                        struct error *err);

/* Checks that the site uses Catalog V1, or fails as images.h says. */
int images_check_catalog(struct wix_client *client, struct error *err);

/* The media items of a V1 product as [{id, media_type, url, width, height,
 * alt_text, title}] (new reference). */
json_t *images_product_media(const json_t *product);

/* ------------------------------------------------------------------ */
/* Steps (images_process.c, images_apply.c)                            */
/* ------------------------------------------------------------------ */

int images_process_run(struct store *st, struct queue_job *job, void *arg,
                       struct error *err);
int images_process_failed(struct store_tx *tx, const struct queue_job *job,
                          const struct error *cause, void *arg,
                          struct error *err);
int images_apply_run(struct store *st, struct queue_job *job, void *arg,
                     struct error *err);
int images_apply_failed(struct store_tx *tx, const struct queue_job *job,
                        const struct error *cause, void *arg,
                        struct error *err);

/*
 * A point in the apply step where tests stop a worker as if it were
 * killed: "after-upload" (the upload is recorded, the product is not
 * changed yet). The step then returns -1 with err->code
 * IMAGES_ERR_CRASH_POINT and changes nothing more; the test leaves the
 * job's lease to expire. NULL turns it off. For tests only.
 */
#define IMAGES_ERR_CRASH_POINT "test_crash_point"
void images_set_crash_point(const char *point);

/* True (with err set as above) when point is the armed crash point. */
int images_crash_point_hit(const char *point, struct error *err);

#endif
