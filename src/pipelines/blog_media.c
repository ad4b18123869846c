/*
 * The cover image in the site's Media Manager, created once even when the
 * publish step runs again.
 *
 * Two ways in: an import from Replicate's output URL (Wix fetches it) while
 * the URL is fresh, and an upload of the kept bytes through an upload URL.
 * Each has an effect in the ledger, "gen/<id>/media" and
 * "gen/<id>/media-upload", begun (committed) before the call that creates
 * the file and completed with its id right after. A retry that finds an
 * effect begun without an id cannot know whether Wix made the file, so it
 * searches the Media Manager for the file's display name, which is unique
 * to the generation, before creating it again.
 */
#include "pipelines/blog_internal.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "wix/media.h"

#include "ai/replicate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEDIA_PERMISSION "Manage Media Manager"
#define SEARCH_PAGE 100

/* One way of getting the cover into the Media Manager. */
struct cover_route {
    const char *effect; /* "media" or "media-upload" */
    int upload;
    char key[STORE_ID_MAX * 2];
    char name[160]; /* display name, unique to the generation */
};

struct cover_ctx {
    struct blog_job *bj;
    struct wix_client *client;
    const json_t *image; /* the image checkpoint */
    const char *content_type;
};

static void route_init(struct cover_route *route, const struct cover_ctx *ctx,
                       int upload)
{
    const char *type = ctx->content_type;
    const char *ext = strcmp(type, "image/png") == 0    ? "png"
                      : strcmp(type, "image/jpeg") == 0 ? "jpg"
                                                        : "webp";

    route->upload = upload;
    route->effect = upload ? "media-upload" : "media";
    snprintf(route->key, sizeof(route->key), "gen/%s/%s", ctx->bj->gen.id,
             route->effect);
    snprintf(route->name, sizeof(route->name), "sitesmith-cover-%s%s.%s",
             ctx->bj->gen.id, upload ? "-upload" : "", ext);
}

/* ------------------------------------------------------------------ */
/* Wix calls                                                           */
/* ------------------------------------------------------------------ */

/* Looks for a file named name that has not failed: 1 with *id set (caller
 * frees), 0 when there is none.
 * NOTE: Wix does not document how soon search finds a new file; one it
 * misses is imported again. */
static int find_file(struct wix_client *client, const char *name, char **id,
                     struct error *err)
{
    json_t *body =
        json_pack("{s:s, s:[s], s:{s:i}}", "search", name, "mediaTypes",
                  "IMAGE", "paging", "limit", SEARCH_PAGE);
    json_t *response = NULL;
    json_t *file;
    size_t index;
    int rc;

    *id = NULL;
    rc = body ? wix_call(client, "POST", "/site-media/v1/files/search", body,
                         MEDIA_PERMISSION, &response, err)
              : error_set(err, ERR_PERMANENT, "out of memory");
    json_decref(body);
    if (rc != 0)
        return -1;
    json_array_foreach(json_object_get(response, "files"), index, file)
    {
        const char *display =
            json_string_value(json_object_get(file, "displayName"));
        const char *status =
            json_string_value(json_object_get(file, "operationStatus"));
        const char *file_id = json_string_value(json_object_get(file, "id"));

        if (display && file_id && strcmp(display, name) == 0 &&
            (!status || strcmp(status, "FAILED") != 0)) {
            *id = strdup(file_id);
            break;
        }
    }
    json_decref(response);
    return *id ? 1 : 0;
}

/* Reads the kept image bytes, or downloads them again while Replicate
 * still has them. */
static int load_bytes(struct cover_ctx *ctx, struct buf *bytes,
                      struct error *err)
{
    const char *path = json_string_value(json_object_get(ctx->image, "path"));
    const char *url =
        json_string_value(json_object_get(ctx->image, "output_url"));
    static const char *const types[] = {"image/webp", "image/png", "image/jpeg",
                                        NULL};
    char type[128];
    char cause[ERROR_MESSAGE_MAX];
    FILE *file = path ? fopen(path, "rb") : NULL;
    int reason = file ? 0 : errno;

    if (file) {
        char chunk[65536];
        size_t n;
        int failed = 0;

        while (!failed && (n = fread(chunk, 1, sizeof(chunk), file)) > 0)
            failed = buf_append(bytes, chunk, n) != 0;
        if (ferror(file)) {
            failed = 1;
            reason = EIO;
        } else if (failed) {
            reason = EFBIG;
        }
        fclose(file);
        if (!failed)
            return 0;
        buf_reset(bytes);
    }
    log_warn("blog",
             "kept cover image unreadable, downloading it again "
             "generation=%s path=%s error=\"%s\"",
             ctx->bj->gen.id, path ? path : "", strerror(reason));
    if (!url) {
        error_set(err, ERR_PERMANENT,
                  "the cover image of generation %s is gone: no copy was "
                  "kept; start a new generation",
                  ctx->bj->gen.id);
        snprintf(err->code, sizeof(err->code), BLOG_ERR_COVER_LOST);
        return -1;
    }
    if (replicate_download(ctx->bj->app->replicate, url, bytes->max, types,
                           bytes, type, err) == 0)
        return 0;
    if (error_is_retryable(err)) {
        blog_error_from(err, BLOG_SOURCE_REPLICATE);
        return -1;
    }
    snprintf(cause, sizeof(cause), "%s", err->message);
    error_set(err, ERR_PERMANENT,
              "the cover image of generation %s is gone: the copy kept at %s "
              "cannot be read and Replicate's output can't be downloaded "
              "(%s); start a new generation",
              ctx->bj->gen.id, path ? path : "(none)", cause);
    snprintf(err->code, sizeof(err->code), BLOG_ERR_COVER_LOST);
    return -1;
}

static int upload_cover(struct cover_ctx *ctx, const struct cover_route *route,
                        char **id, struct error *err)
{
    struct buf bytes;
    char *upload_url = NULL;
    json_t *file = NULL;
    int rc;

    buf_init(&bytes, (size_t)ctx->bj->settings.image_max_bytes);
    rc = load_bytes(ctx, &bytes, err);
    if (rc == 0)
        rc = wix_media_generate_upload_url(ctx->client, ctx->content_type,
                                           route->name, &upload_url, err);
    if (rc == 0)
        rc = wix_media_upload(ctx->client, upload_url, bytes.data, bytes.len,
                              ctx->content_type, &file, err);
    if (rc == 0) {
        const char *file_id = json_string_value(json_object_get(file, "id"));

        *id = file_id ? strdup(file_id) : NULL;
        if (!*id)
            rc = error_set(err, ERR_RETRYABLE,
                           "upload cover: Wix's answer has no file id");
    }
    json_decref(file);
    free(upload_url);
    buf_free(&bytes);
    return rc;
}

static int import_cover(struct cover_ctx *ctx, const struct cover_route *route,
                        char **id, struct error *err)
{
    struct wix_media_import import = {
        .url = json_string_value(json_object_get(ctx->image, "output_url")),
        .display_name = route->name,
        .mime_type = ctx->content_type,
        .media_type = "IMAGE",
    };
    json_t *file = NULL;
    const char *file_id;

    if (wix_media_import_file(ctx->client, &import, &file, err) != 0)
        return -1;
    file_id = json_string_value(json_object_get(file, "id"));
    *id = file_id ? strdup(file_id) : NULL;
    json_decref(file);
    if (!*id)
        return error_set(err, ERR_RETRYABLE,
                         "import cover: Wix's answer has no file id");
    return 0;
}

/*
 * Waits for the file: 1 when READY (out filled), 0 when Wix marked it
 * FAILED, -1 on another error.
 */
static int wait_ready(struct cover_ctx *ctx, const char *id,
                      struct blog_media *out, struct error *err)
{
    json_t *file = NULL;
    const char *status;
    const json_t *image;
    int rc;

    if (wix_media_wait_ready(ctx->client, id,
                             ctx->bj->settings.media_timeout_ms, &file,
                             err) != 0) {
        if (err->kind != ERR_PERMANENT ||
            wix_media_get_file(ctx->client, id, &file, err) != 0)
            return -1;
        status = json_string_value(json_object_get(file, "operationStatus"));
        rc = status && strcmp(status, "FAILED") == 0;
        json_decref(file);
        if (rc)
            return 0;
        return error_set(err, ERR_RETRYABLE, "media file %s is not ready yet",
                         id);
    }

    image = json_at(file, "media.image.image");
    snprintf(out->id, sizeof(out->id), "%s", id);
    snprintf(out->url, sizeof(out->url), "%s",
             json_string_value(json_object_get(file, "url"))
                 ? json_string_value(json_object_get(file, "url"))
                 : "");
    out->width = (int)json_integer_value(json_object_get(image, "width"));
    out->height = (int)json_integer_value(json_object_get(image, "height"));
    if (out->width <= 0 || out->height <= 0) {
        out->width =
            (int)json_integer_value(json_object_get(ctx->image, "width"));
        out->height =
            (int)json_integer_value(json_object_get(ctx->image, "height"));
    }
    json_decref(file);
    return 1;
}

/* ------------------------------------------------------------------ */
/* One route, once                                                     */
/* ------------------------------------------------------------------ */

/* True while Replicate's output URL is young enough for Wix to fetch. */
static int url_fresh(const struct cover_ctx *ctx)
{
    const json_t *at = json_object_get(ctx->image, "output_at_ms");

    return json_object_get(ctx->image, "output_url") && json_is_integer(at) &&
           clock_now_ms() - json_integer_value(at) <
               ctx->bj->settings.image_url_ttl_ms;
}

/*
 * Gets the file of one route: 1 READY (out filled), 0 when Wix marked it
 * FAILED or an import is no longer possible, -1 on error.
 */
static int ensure_route(struct cover_ctx *ctx, const struct cover_route *route,
                        struct blog_media *out, struct error *err)
{
    struct store_effect effect;
    char *id = NULL;
    int recorded = 0;
    int rc;

    rc = blog_effect_read(ctx->bj, route->key, &effect, err);
    if (rc < 0)
        return -1;
    if (rc == 1 && effect.remote_id) {
        id = strdup(effect.remote_id);
        recorded = 1;
    }
    store_effect_clear(&effect);

    /* An earlier attempt began and did not finish: the file may exist. */
    if (rc == 1 && !id) {
        if (find_file(ctx->client, route->name, &id, err) < 0)
            return -1;
        if (id)
            log_info("blog",
                     "found the cover of an earlier attempt generation=%s "
                     "media=%s",
                     ctx->bj->gen.id, id);
    }
    if (!id) {
        if (!route->upload && !url_fresh(ctx))
            return 0;
        if (blog_effect_begin(ctx->bj, route->key, &effect, err) < 0)
            return -1;
        store_effect_clear(&effect);
        rc = route->upload ? upload_cover(ctx, route, &id, err)
                           : import_cover(ctx, route, &id, err);
        if (rc != 0)
            return -1;
        log_info("blog", "cover %s generation=%s media=%s",
                 route->upload ? "uploaded" : "import started", ctx->bj->gen.id,
                 id);
    }
    if (!recorded && blog_effect_done(ctx->bj, route->key, id, err) != 0) {
        free(id);
        return -1;
    }
    rc = wait_ready(ctx, id, out, err);
    free(id);
    return rc;
}

int blog_media_ensure(struct blog_job *bj, struct wix_client *client,
                      const json_t *image, struct blog_media *out,
                      struct error *err)
{
    struct cover_ctx ctx = {.bj = bj, .client = client, .image = image};
    struct cover_route import;
    struct cover_route upload;
    struct store_effect effect;
    int rc;

    ctx.content_type =
        json_string_value(json_object_get(image, "content_type"));
    if (!ctx.content_type) {
        error_set(err, ERR_PERMANENT,
                  "generation %s has no cover image to publish", bj->gen.id);
        blog_error_from(err, BLOG_SOURCE_APP);
        return -1;
    }
    route_init(&import, &ctx, 0);
    route_init(&upload, &ctx, 1);

    /* Once the upload route began, the import route is over. */
    rc = blog_effect_read(bj, upload.key, &effect, err);
    store_effect_clear(&effect);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        rc = ensure_route(&ctx, &import, out, err);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
        log_warn("blog",
                 "cover import failed or its URL expired, uploading the "
                 "kept bytes generation=%s",
                 bj->gen.id);
    }
    rc = ensure_route(&ctx, &upload, out, err);
    if (rc == 0)
        return error_set(err, ERR_PERMANENT,
                         "Wix's Media Manager could not process the cover "
                         "image of generation %s (file %s marked FAILED)",
                         bj->gen.id, upload.name);
    return rc < 0 ? -1 : 0;
}
