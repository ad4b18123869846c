/*
 * The local step of the Image Optimizer, with libvips: decode and check an
 * image, shrink it to fit, re-encode it and strip its metadata but the ICC
 * colour profile.
 *
 * Stripping needs care on libvips 8.14: its `strip` option drops the ICC
 * profile too (JPEG and PNG), the `profile` option is ignored once strip
 * is set, webpsave ignores strip altogether (8.14.1), and without strip
 * every saver but PNG writes a fresh EXIF block rebuilt from the image's
 * header. So the savers run without strip on a copy that carries no
 * metadata but the profile, and the EXIF block they add is then cut out of
 * the file: the APP1 segments of a JPEG, and the EXIF and XMP chunks of a
 * WebP (with libwebpmux).
 */
#include "pipelines/images_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <vips/vips.h>
#include <webp/mux.h>

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static int vips_status = -1;

static void start_vips(void)
{
    vips_status = VIPS_INIT("sitesmith");
    /* Every image is different, so caching operations only keeps memory. */
    if (vips_status == 0)
        vips_cache_set_max(0);
}

static int vips_start(struct error *err)
{
    pthread_once(&vips_once, start_vips);
    if (vips_status != 0)
        return error_set(err, ERR_PERMANENT, "libvips failed to start: %s",
                         vips_error_buffer());
    return 0;
}

/* Sets err from libvips's error buffer (which this thread then clears). */
static int vips_fail(struct error *err, enum error_kind kind, const char *code,
                     const char *what)
{
    char text[300];

    snprintf(text, sizeof(text), "%s", vips_error_buffer());
    vips_error_clear();
    text[strcspn(text, "\n")] = '\0';
    error_set(err, kind, "%s: %s", what, text[0] ? text : "unknown error");
    snprintf(err->code, sizeof(err->code), "%s", code);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Formats                                                             */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    const char *type;
    const char *extension;
} formats[] = {
    [IMAGES_FORMAT_WEBP] = {"webp", "image/webp", "webp"},
    [IMAGES_FORMAT_JPEG] = {"jpeg", "image/jpeg", "jpg"},
    [IMAGES_FORMAT_PNG] = {"png", "image/png", "png"},
    [IMAGES_FORMAT_AVIF] = {"avif", "image/avif", "avif"},
};

int images_format_parse(const char *name, enum images_format *out)
{
    if (!name)
        return -1;
    if (strcmp(name, "jpg") == 0) {
        *out = IMAGES_FORMAT_JPEG;
        return 0;
    }
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(formats[i].name, name) == 0) {
            *out = (enum images_format)i;
            return 0;
        }
    }
    return -1;
}

const char *images_format_name(enum images_format format)
{
    return formats[format].name;
}

const char *images_format_type(enum images_format format)
{
    return formats[format].type;
}

const char *images_format_extension(enum images_format format)
{
    return formats[format].extension;
}

int images_format_check(enum images_format format, struct error *err)
{
    char suffix[16];

    if (vips_start(err) != 0)
        return -1;
    snprintf(suffix, sizeof(suffix), ".%s", formats[format].extension);
    if (vips_foreign_find_save_buffer(suffix)) {
        vips_error_clear();
        return 0;
    }
    vips_error_clear();
    error_set(err, ERR_INVALID,
              "format: this server's libvips %s has no %s encoder; choose "
              "webp, jpeg or png",
              vips_version_string(), formats[format].name);
    snprintf(err->code, sizeof(err->code), "format");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

static const char *loader_type(VipsImage *image)
{
    const char *loader = NULL;

    if (vips_image_get_typeof(image, VIPS_META_LOADER) == 0 ||
        vips_image_get_string(image, VIPS_META_LOADER, &loader) != 0)
        return "";
    if (strncmp(loader, "jpeg", 4) == 0)
        return "image/jpeg";
    if (strncmp(loader, "png", 3) == 0)
        return "image/png";
    if (strncmp(loader, "webp", 4) == 0)
        return "image/webp";
    if (strncmp(loader, "gif", 3) == 0)
        return "image/gif";
    if (strncmp(loader, "heif", 4) == 0)
        return "image/avif";
    return "";
}

static void fill_info(VipsImage *image, struct images_info *info)
{
    memset(info, 0, sizeof(*info));
    info->width = vips_image_get_width(image);
    info->height = vips_image_get_height(image);
    info->bands = vips_image_get_bands(image);
    info->has_icc = vips_image_get_typeof(image, VIPS_META_ICC_NAME) != 0;
    info->has_exif = vips_image_get_typeof(image, VIPS_META_EXIF_NAME) != 0;
    snprintf(info->content_type, sizeof(info->content_type), "%s",
             loader_type(image));
}

/* Opens data lazily, with a check of its size: a new image, or NULL. */
static VipsImage *open_image(const void *data, size_t len, int64_t max_pixels,
                             struct error *err)
{
    VipsImage *image;

    if (vips_start(err) != 0)
        return NULL;
    image = vips_image_new_from_buffer(data, len, "", "fail_on",
                                       VIPS_FAIL_ON_ERROR, NULL);
    if (!image) {
        vips_fail(err, ERR_PERMANENT, "not_image",
                  "the bytes are not an image that libvips can read");
        return NULL;
    }
    if (max_pixels > 0 &&
        (int64_t)vips_image_get_width(image) * vips_image_get_height(image) >
            max_pixels) {
        error_set(err, ERR_PERMANENT,
                  "the image has %dx%d pixels, more than the limit of %lld "
                  "(SITESMITH_IMAGE_MAX_PIXELS)",
                  vips_image_get_width(image), vips_image_get_height(image),
                  (long long)max_pixels);
        snprintf(err->code, sizeof(err->code), "too_large");
        g_object_unref(image);
        return NULL;
    }
    return image;
}

int images_probe(const void *data, size_t len, int64_t max_pixels,
                 struct images_info *info, struct buf *icc, struct error *err)
{
    VipsImage *image = open_image(data, len, max_pixels, err);
    double average;

    if (!image)
        return -1;
    /* Reading every pixel is what shows a truncated or corrupt file. */
    if (vips_avg(image, &average, NULL) != 0) {
        g_object_unref(image);
        return vips_fail(err, ERR_PERMANENT, "not_image",
                         "the image is damaged or truncated");
    }
    fill_info(image, info);
    if (icc && info->has_icc) {
        const void *profile;
        size_t profile_len;

        if (vips_image_get_blob(image, VIPS_META_ICC_NAME, &profile,
                                &profile_len) == 0 &&
            buf_append(icc, profile, profile_len) != 0) {
            g_object_unref(image);
            return error_set(err, ERR_PERMANENT,
                             "the image's colour profile is too large");
        }
    }
    g_object_unref(image);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Pixels                                                              */
/* ------------------------------------------------------------------ */

/* Replaces *image with next (taking ownership); returns 0, or -1 when the
 * operation that made next failed. */
static int step(VipsImage **image, int rc, VipsImage *next)
{
    if (rc != 0)
        return -1;
    g_object_unref(*image);
    *image = next;
    return 0;
}

/* Shrinks to fit the box; alpha is premultiplied so that transparent
 * pixels do not bleed their colour into the edges. */
static int fit_box(VipsImage **image, int max_width, int max_height)
{
    int width = vips_image_get_width(*image);
    int height = vips_image_get_height(*image);
    double scale = 1.0;
    VipsImage *next = NULL;
    VipsBandFormat format = vips_image_get_format(*image);
    int alpha = vips_image_hasalpha(*image);
    int rc;

    if (max_width > 0 && width > max_width)
        scale = (double)max_width / width;
    if (max_height > 0 && height * scale > max_height)
        scale = (double)max_height / height;
    if (scale >= 1.0)
        return 0;
    if (alpha) {
        rc = vips_premultiply(*image, &next, NULL);
        if (step(image, rc, next) != 0)
            return -1;
    }
    rc = vips_resize(*image, &next, scale, NULL);
    if (step(image, rc, next) != 0)
        return -1;
    if (alpha) {
        rc = vips_unpremultiply(*image, &next, NULL);
        if (step(image, rc, next) != 0)
            return -1;
    }
    rc = vips_cast(*image, &next, format, NULL);
    return step(image, rc, next);
}

/* A copy of image with no metadata but the ICC profile: the input's, or
 * icc when it has none and is a colour image. */
static VipsImage *bare_copy(VipsImage *image,
                            const struct images_encode_options *options)
{
    VipsImage *copy;
    char **fields;

    if (vips_copy(image, &copy, NULL) != 0)
        return NULL;
    fields = vips_image_get_fields(copy);
    for (int i = 0; fields[i]; i++)
        if (strcmp(fields[i], VIPS_META_ICC_NAME) != 0)
            vips_image_remove(copy, fields[i]);
    g_strfreev(fields);
    if (options->icc && options->icc_len > 0 &&
        !vips_image_get_typeof(copy, VIPS_META_ICC_NAME) &&
        vips_image_get_bands(copy) >= 3)
        vips_image_set_blob_copy(copy, VIPS_META_ICC_NAME, options->icc,
                                 options->icc_len);
    return copy;
}

/* ------------------------------------------------------------------ */
/* Cutting the EXIF block out of the encoded file                      */
/* ------------------------------------------------------------------ */

/* Copies a JPEG without its APP1 (EXIF, XMP), APP13 (IPTC) and comment
 * segments. The segments before the first scan are walked marker by
 * marker; the rest is copied as it is. */
static int jpeg_drop_metadata(const unsigned char *in, size_t len,
                              struct buf *out, struct error *err)
{
    size_t at = 2;

    if (len < 4 || in[0] != 0xFF || in[1] != 0xD8)
        return error_set(err, ERR_PERMANENT, "libvips wrote no JPEG");
    if (buf_append(out, in, 2) != 0)
        goto too_large;
    while (at + 4 <= len && in[at] == 0xFF) {
        unsigned marker = in[at + 1];
        size_t length = ((size_t)in[at + 2] << 8) | in[at + 3];
        int drop = marker == 0xE1 || marker == 0xED || marker == 0xFE;

        if (marker == 0xDA || length < 2 || at + 2 + length > len)
            break;
        if (!drop && buf_append(out, in + at, 2 + length) != 0)
            goto too_large;
        at += 2 + length;
    }
    if (buf_append(out, in + at, len - at) != 0)
        goto too_large;
    return 0;

too_large:
    return error_set(err, ERR_PERMANENT,
                     "the encoded image is larger than the limit");
}

static int webp_drop_metadata(const unsigned char *in, size_t len,
                              struct buf *out, struct error *err)
{
    WebPData input = {.bytes = in, .size = len};
    WebPData assembled = {0};
    WebPMux *mux = WebPMuxCreate(&input, 0);
    int rc = -1;

    if (!mux)
        return error_set(err, ERR_PERMANENT,
                         "libwebpmux cannot read the WebP "
                         "file that libvips wrote");
    WebPMuxDeleteChunk(mux, "EXIF");
    WebPMuxDeleteChunk(mux, "XMP ");
    if (WebPMuxAssemble(mux, &assembled) != WEBP_MUX_OK)
        error_set(err, ERR_PERMANENT, "libwebpmux failed to rewrite the WebP");
    else if (buf_append(out, assembled.bytes, assembled.size) != 0)
        error_set(err, ERR_PERMANENT,
                  "the encoded image is larger than the limit");
    else
        rc = 0;
    WebPDataClear(&assembled);
    WebPMuxDelete(mux);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static int save(VipsImage *image, const struct images_encode_options *options,
                void **data, size_t *len)
{
    int quality = options->quality;

    switch (options->format) {
    case IMAGES_FORMAT_JPEG:
        return vips_jpegsave_buffer(image, data, len, "Q", quality,
                                    "optimize_coding", TRUE, "strip", FALSE,
                                    NULL);
    case IMAGES_FORMAT_PNG:
        return vips_pngsave_buffer(image, data, len, "compression", 9, "strip",
                                   FALSE, NULL);
    case IMAGES_FORMAT_AVIF:
        /* NOTE: heifsave of libvips 8.14 has no profile option and writes
         * a rebuilt EXIF block unless strip is set, so AVIF output is
         * stripped of everything, the ICC profile too. */
        return vips_heifsave_buffer(
            image, data, len, "Q", quality, "compression",
            VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "strip", TRUE, NULL);
    case IMAGES_FORMAT_WEBP:
    default:
        return vips_webpsave_buffer(image, data, len, "Q", quality, "effort", 4,
                                    "strip", FALSE, NULL);
    }
}

/* Prepares the pixels: orientation, size, and no alpha for JPEG. */
static int prepare(VipsImage **image,
                   const struct images_encode_options *options)
{
    VipsImage *next = NULL;
    int rc = vips_autorot(*image, &next, NULL);

    if (step(image, rc, next) != 0 ||
        fit_box(image, options->max_width, options->max_height) != 0)
        return -1;
    if (options->format == IMAGES_FORMAT_JPEG && vips_image_hasalpha(*image)) {
        VipsArrayDouble *white = vips_array_double_newv(1, 255.0);

        rc = vips_flatten(*image, &next, "background", white, NULL);

        vips_area_unref(VIPS_AREA(white));
        if (step(image, rc, next) != 0)
            return -1;
    }
    return 0;
}

int images_encode(const void *data, size_t len,
                  const struct images_encode_options *options, struct buf *out,
                  struct images_info *info, struct error *err)
{
    VipsImage *image = open_image(data, len, options->max_pixels, err);
    VipsImage *bare = NULL;
    void *encoded = NULL;
    size_t encoded_len = 0;
    int rc = -1;

    if (!image)
        return -1;
    if (prepare(&image, options) != 0) {
        vips_fail(err, ERR_PERMANENT, "not_image", "resizing the image failed");
        goto out;
    }
    bare = bare_copy(image, options);
    if (!bare || save(bare, options, &encoded, &encoded_len) != 0) {
        vips_fail(err, ERR_PERMANENT, "encode", "encoding the image failed");
        goto out;
    }
    if (options->format == IMAGES_FORMAT_JPEG)
        rc = jpeg_drop_metadata(encoded, encoded_len, out, err);
    else if (options->format == IMAGES_FORMAT_WEBP)
        rc = webp_drop_metadata(encoded, encoded_len, out, err);
    else
        rc = buf_append(out, encoded, encoded_len) == 0
                 ? 0
                 : error_set(err, ERR_PERMANENT,
                             "the encoded image is larger than the limit");
    if (rc == 0)
        rc = images_probe(out->data, out->len, 0, info, NULL, err);
out:
    g_free(encoded);
    if (bare)
        g_object_unref(bare);
    g_object_unref(image);
    return rc;
}
