/*
 * Image bytes for the sandbox, made with libvips. New images are drawn
 * from a seed: a gradient, shapes, Perlin texture and Gaussian noise, so
 * that encoders compress them the way they compress photos. The other
 * functions are the transformations the Replicate emulation applies to
 * input images.
 */
#include "images.h"
#include "sandbox.h"

#include "core/crypto.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <vips/vips.h>

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static int vips_status = -1;

static void start_vips(void)
{
    vips_status = VIPS_INIT("sitesmith-sandbox");
    if (vips_status != 0)
        return;

    /* Every image the sandbox makes is different, so caching operations
     * would only keep memory. */
    vips_cache_set_max(0);
}

int sandbox_images_init(struct error *err)
{
    pthread_once(&vips_once, start_vips);
    if (vips_status != 0)
        return error_set(err, ERR_PERMANENT, "libvips failed to start: %s",
                         vips_error_buffer());
    return 0;
}

static const char *format_canonical(const char *format)
{
    if (!format)
        return NULL;
    if (strcmp(format, "png") == 0)
        return "png";
    if (strcmp(format, "webp") == 0)
        return "webp";
    if (strcmp(format, "jpeg") == 0 || strcmp(format, "jpg") == 0)
        return "jpeg";
    return NULL;
}

int sandbox_image_format_known(const char *format)
{
    return format_canonical(format) != NULL;
}

/* Takes the text of libvips's error buffer into err and clears it. */
static int vips_failed(struct error *err, enum error_kind kind,
                       const char *what)
{
    char detail[256];

    snprintf(detail, sizeof(detail), "%s", vips_error_buffer());
    vips_error_clear();
    detail[strcspn(detail, "\n")] = '\0';
    return error_set(err, kind, "%s: %s", what, detail);
}

static void seed_bytes(const char *seed, unsigned char out[32])
{
    char hex[65];

    crypto_sha256_hex(seed ? seed : "", seed ? strlen(seed) : 0, hex);
    for (int i = 0; i < 32; i++) {
        unsigned value = 0;
        sscanf(hex + 2 * i, "%2x", &value);
        out[i] = (unsigned char)value;
    }
}

static void put16(unsigned char *p, unsigned value)
{
    p[0] = value & 0xff;
    p[1] = (value >> 8) & 0xff;
}

static void put32(unsigned char *p, uint32_t value)
{
    put16(p, value & 0xffff);
    put16(p + 2, value >> 16);
}

/*
 * Writes a little-endian EXIF block ("Exif\0\0" and a TIFF header) with
 * camera make, model, orientation, software and date in IFD0: enough
 * metadata for an optimizer to strip. Returns its length.
 */
static size_t build_exif(unsigned char *out, size_t size)
{
    static const struct {
        unsigned tag;
        const char *text;
    } entries[] = {
        {0x010f, "SandboxCam"},
        {0x0110, "SB-100 Mark II"},
        {0x0112, NULL}, /* Orientation: SHORT 1 (top-left) */
        {0x0131, "sitesmith-sandbox"},
        {0x0132, "2024:05:01 10:20:30"},
    };
    enum { COUNT = sizeof(entries) / sizeof(entries[0]) };
    unsigned char *tiff = out + 6;
    size_t data_at = 8 + 2 + COUNT * 12 + 4;

    memset(out, 0, size);
    memcpy(out, "Exif\0\0", 6);
    memcpy(tiff, "II", 2);
    put16(tiff + 2, 42);
    put32(tiff + 4, 8);
    put16(tiff + 8, COUNT);
    for (size_t i = 0; i < COUNT; i++) {
        unsigned char *entry = tiff + 10 + 12 * i;

        put16(entry, entries[i].tag);
        if (!entries[i].text) {
            put16(entry + 2, 3);
            put32(entry + 4, 1);
            put16(entry + 8, 1);
            continue;
        }
        size_t length = strlen(entries[i].text) + 1;
        put16(entry + 2, 2);
        put32(entry + 4, (uint32_t)length);
        put32(entry + 8, (uint32_t)data_at);
        memcpy(tiff + data_at, entries[i].text, length);
        data_at += length;
    }
    /* The next-IFD offset after the entries stays 0: there is no IFD1. */
    return 6 + data_at;
}

/* Attaches the sRGB ICC profile and the EXIF block to image. */
static int add_camera_metadata(VipsImage *image, struct error *err)
{
    VipsBlob *profile = NULL;
    unsigned char exif[256];
    size_t exif_len;
    const void *icc;
    size_t icc_len;

    if (vips_profile_load("srgb", &profile, NULL) != 0)
        return vips_failed(err, ERR_PERMANENT, "loading the sRGB profile");
    icc = vips_blob_get(profile, &icc_len);
    vips_image_set_blob_copy(image, VIPS_META_ICC_NAME, icc, icc_len);
    vips_area_unref(VIPS_AREA(profile));

    exif_len = build_exif(exif, sizeof(exif));
    vips_image_set_blob_copy(image, VIPS_META_EXIF_NAME, exif, exif_len);
    return 0;
}

/*
 * Encodes image as format into out. strip drops metadata the image
 * carries (outputs of a model carry none).
 */
static int encode(VipsImage *image, const char *format, int strip,
                  struct buf *out, struct error *err)
{
    void *data = NULL;
    size_t len = 0;
    int rc;

    format = format_canonical(format);
    if (!format)
        return error_set(err, ERR_INVALID, "unknown image format");
    if (strcmp(format, "png") == 0)
        rc = vips_pngsave_buffer(image, &data, &len, "compression", 6, "strip",
                                 strip, NULL);
    else if (strcmp(format, "webp") == 0)
        rc = vips_webpsave_buffer(image, &data, &len, "Q", 80, "strip", strip,
                                  NULL);
    else
        rc = vips_jpegsave_buffer(image, &data, &len, "Q", 85, "strip", strip,
                                  NULL);
    if (rc != 0)
        return vips_failed(err, ERR_PERMANENT, "encoding the image");

    buf_init(out, SANDBOX_IMAGE_MAX_BYTES);
    rc = buf_append(out, data, len);
    g_free(data);
    if (rc != 0)
        return error_set(err, ERR_PERMANENT,
                         "encoded image of %zu bytes is too large", len);
    return 0;
}

/* Draws filled circles and rectangles in seed-chosen colours. */
static int draw_shapes(VipsImage *image, const unsigned char *seed, int count)
{
    int width = vips_image_get_width(image);
    int height = vips_image_get_height(image);

    for (int i = 0; i < count; i++) {
        const unsigned char *s = seed + (4 + 5 * i) % 27;
        double ink[3] = {s[0], s[1], s[2]};
        int cx = s[3] * width / 255;
        int cy = s[4] * height / 255;
        int size = (width < height ? width : height) / (4 + s[0] % 5) + 1;
        int rc;

        if (i % 2 == 0)
            rc = vips_draw_circle(image, ink, 3, cx, cy, size / 2, "fill", TRUE,
                                  NULL);
        else
            rc = vips_draw_rect(image, ink, 3, cx - size / 2, cy - size / 3,
                                size, size * 2 / 3, "fill", TRUE, NULL);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* A two-colour linear gradient across the image, as unsigned char sRGB. */
static int make_gradient(VipsObject *scope, int width, int height,
                         const unsigned char *s, VipsImage **out)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(scope, 10);
    double mix = s[0] / 255.0;

    if (vips_xyz(&t[0], width, height, NULL) ||
        vips_extract_band(t[0], &t[1], 0, NULL) ||
        vips_extract_band(t[0], &t[2], 1, NULL) ||
        vips_linear1(t[1], &t[3], mix / width, 0, NULL) ||
        vips_linear1(t[2], &t[4], (1 - mix) / height, 0, NULL) ||
        vips_add(t[3], t[4], &t[5], NULL))
        return -1;
    for (int band = 0; band < 3; band++) {
        double from = s[1 + band];
        double to = s[4 + band];

        if (vips_linear1(t[5], &t[6 + band], to - from, from, NULL))
            return -1;
    }
    if (vips_bandjoin(&t[6], &t[9], 3, NULL) ||
        vips_cast_uchar(t[9], out, NULL))
        return -1;
    return 0;
}

/* Adds Perlin texture and Gaussian noise, then clips to unsigned char. */
static int add_texture(VipsObject *scope, VipsImage *in, const unsigned char *s,
                       VipsImage **out)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(scope, 6);
    int width = vips_image_get_width(in);
    int height = vips_image_get_height(in);
    int cell = (width < height ? width : height) / 6;
    int seed = (int)(((unsigned)s[8] << 16) | ((unsigned)s[9] << 8) | s[10]);

    if (vips_perlin(&t[0], width, height, "cell_size", cell > 8 ? cell : 8,
                    "seed", seed, NULL) ||
        vips_linear1(t[0], &t[1], 28, 0, NULL) ||
        vips_gaussnoise(&t[2], width, height, "sigma", 7.0, "mean", 0.0, "seed",
                        seed + 1, NULL) ||
        vips_add(in, t[1], &t[3], NULL) || vips_add(t[3], t[2], &t[4], NULL) ||
        vips_cast_uchar(t[4], &t[5], NULL))
        return -1;
    return vips_copy(t[5], out, "interpretation", VIPS_INTERPRETATION_sRGB,
                     NULL);
}

int sandbox_make_image(const char *format, int width, int height,
                       const char *seed, struct buf *out, struct error *err)
{
    int jpeg = format && format_canonical(format) &&
               strcmp(format_canonical(format), "jpeg") == 0;

    return sandbox_image_draw(format, width, height, seed, jpeg, out, err);
}

int sandbox_image_draw(const char *format, int width, int height,
                       const char *seed, int camera_metadata, struct buf *out,
                       struct error *err)
{
    VipsImage *scope;
    VipsImage **t;
    unsigned char s[32];
    int rc = -1;

    buf_init(out, SANDBOX_IMAGE_MAX_BYTES);
    if (sandbox_images_init(err) != 0)
        return -1;
    if (!sandbox_image_format_known(format))
        return error_set(err, ERR_INVALID,
                         "image format \"%s\" is not png, webp or jpeg",
                         format ? format : "");
    if (width < 1 || height < 1 ||
        (long)width * height > SANDBOX_IMAGE_MAX_PIXELS)
        return error_set(err, ERR_INVALID,
                         "image size %dx%d is outside 1x1..%ld pixels", width,
                         height, SANDBOX_IMAGE_MAX_PIXELS);

    seed_bytes(seed, s);
    scope = vips_image_new();
    t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(scope), 4);
    if (make_gradient(VIPS_OBJECT(scope), width, height, s, &t[0]) != 0)
        goto vips_error;

    /* Drawing works in place, so the gradient must be in memory first. */
    t[1] = vips_image_copy_memory(t[0]);
    if (!t[1] || draw_shapes(t[1], s, 3 + s[11] % 4) != 0 ||
        add_texture(VIPS_OBJECT(scope), t[1], s, &t[2]) != 0)
        goto vips_error;

    if (camera_metadata) {
        if (vips_copy(t[2], &t[3], NULL) != 0)
            goto vips_error;
        if (add_camera_metadata(t[3], err) != 0)
            goto out;
    } else {
        t[3] = t[2];
        g_object_ref(t[3]);
    }
    rc = encode(t[3], format, !camera_metadata, out, err);
    goto out;

vips_error:
    vips_failed(err, ERR_PERMANENT, "drawing the image");
out:
    g_object_unref(scope);
    return rc;
}

int sandbox_image_size(const void *data, size_t len, int *width, int *height,
                       struct error *err)
{
    VipsImage *image;

    if (sandbox_images_init(err) != 0)
        return -1;
    image = vips_image_new_from_buffer(data, len, "", NULL);
    if (!image)
        return vips_failed(err, ERR_INVALID,
                           "the file is not a readable image");
    *width = vips_image_get_width(image);
    *height = vips_image_get_height(image);
    g_object_unref(image);
    return 0;
}

/* Loads an encoded image as 8-bit sRGB, keeping an alpha band if any. */
static int load_srgb(VipsObject *scope, const void *data, size_t len,
                     VipsImage **out, struct error *err)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(scope, 3);

    t[0] = vips_image_new_from_buffer(data, len, "", NULL);
    if (!t[0])
        return vips_failed(err, ERR_INVALID,
                           "the file is not a readable image");
    if (vips_colourspace(t[0], &t[1], VIPS_INTERPRETATION_sRGB, NULL) ||
        vips_cast_uchar(t[1], &t[2], NULL))
        return vips_failed(err, ERR_INVALID, "converting the image to sRGB");
    *out = t[2];
    return 0;
}

int sandbox_image_upscale(const void *data, size_t len, double scale,
                          const char *format, struct buf *out,
                          struct error *err)
{
    VipsImage *scope;
    VipsImage **t;
    VipsImage *in;
    double width;
    double height;
    int rc = -1;

    buf_init(out, SANDBOX_IMAGE_MAX_BYTES);
    if (sandbox_images_init(err) != 0)
        return -1;
    if (!(scale > 0))
        return error_set(err, ERR_INVALID, "scale %g must be above 0", scale);

    scope = vips_image_new();
    t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(scope), 1);
    if (load_srgb(VIPS_OBJECT(scope), data, len, &in, err) != 0)
        goto out;
    width = round(vips_image_get_width(in) * scale);
    height = round(vips_image_get_height(in) * scale);
    if (width < 1 || height < 1 || width * height > SANDBOX_IMAGE_MAX_PIXELS) {
        error_set(err, ERR_INVALID,
                  "output of %.0fx%.0f pixels is outside 1..%ld pixels", width,
                  height, SANDBOX_IMAGE_MAX_PIXELS);
        goto out;
    }
    if (vips_resize(in, &t[0], scale, "kernel", VIPS_KERNEL_LANCZOS3, NULL)) {
        vips_failed(err, ERR_PERMANENT, "resizing the image");
        goto out;
    }
    rc = encode(t[0], format, 1, out, err);
out:
    g_object_unref(scope);
    return rc;
}

/* A soft-edged ellipse mask: 255 inside, 0 outside, as unsigned char. */
static int make_ellipse_mask(VipsObject *scope, int width, int height,
                             VipsImage **out)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(scope, 10);
    double rx = 0.42 * width;
    double ry = 0.45 * height;

    if (vips_xyz(&t[0], width, height, NULL) ||
        vips_extract_band(t[0], &t[1], 0, NULL) ||
        vips_extract_band(t[0], &t[2], 1, NULL) ||
        vips_linear1(t[1], &t[3], 1 / rx, -width / 2.0 / rx, NULL) ||
        vips_linear1(t[2], &t[4], 1 / ry, -height / 2.0 / ry, NULL) ||
        vips_multiply(t[3], t[3], &t[5], NULL) ||
        vips_multiply(t[4], t[4], &t[6], NULL) ||
        vips_add(t[5], t[6], &t[7], NULL) ||
        vips_relational_const1(t[7], &t[8], VIPS_OPERATION_RELATIONAL_LESSEQ,
                               1.0, NULL) ||
        vips_gaussblur(t[8], &t[9], 2.0, NULL))
        return -1;
    return vips_cast_uchar(t[9], out, NULL);
}

int sandbox_image_remove_background(const void *data, size_t len,
                                    const char *format, struct buf *out,
                                    struct error *err)
{
    VipsImage *scope;
    VipsImage **t;
    VipsImage *in;
    int rc = -1;

    buf_init(out, SANDBOX_IMAGE_MAX_BYTES);
    if (sandbox_images_init(err) != 0)
        return -1;
    if (!format_canonical(format) || format_canonical(format)[0] == 'j')
        return error_set(err, ERR_INVALID,
                         "format for a cut-out must be png or webp");

    scope = vips_image_new();
    t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(scope), 4);
    if (load_srgb(VIPS_OBJECT(scope), data, len, &in, err) != 0)
        goto out;
    if (vips_extract_band(in, &t[0], 0, "n", 3, NULL) ||
        make_ellipse_mask(VIPS_OBJECT(scope), vips_image_get_width(in),
                          vips_image_get_height(in), &t[1]) ||
        vips_bandjoin2(t[0], t[1], &t[2], NULL) ||
        vips_copy(t[2], &t[3], "interpretation", VIPS_INTERPRETATION_sRGB,
                  NULL)) {
        vips_failed(err, ERR_PERMANENT, "cutting out the background");
        goto out;
    }
    rc = encode(t[3], format, 1, out, err);
out:
    g_object_unref(scope);
    return rc;
}

int sandbox_image_edit(const void *data, size_t len, int width, int height,
                       const char *seed, const char *format, struct buf *out,
                       struct error *err)
{
    VipsImage *scope;
    VipsImage **t;
    VipsImage *in;
    unsigned char s[32];
    double tint[3];
    int rc = -1;

    buf_init(out, SANDBOX_IMAGE_MAX_BYTES);
    if (sandbox_images_init(err) != 0)
        return -1;
    seed_bytes(seed, s);
    for (int band = 0; band < 3; band++)
        tint[band] = 0.85 + 0.3 * s[band] / 255.0;

    scope = vips_image_new();
    t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(scope), 5);
    if (load_srgb(VIPS_OBJECT(scope), data, len, &in, err) != 0)
        goto out;
    if (width < 1 || height < 1) {
        width = vips_image_get_width(in);
        height = vips_image_get_height(in);
    }
    if ((long)width * height > SANDBOX_IMAGE_MAX_PIXELS) {
        error_set(err, ERR_INVALID, "output of %dx%d pixels is too large",
                  width, height);
        goto out;
    }
    if (vips_extract_band(in, &t[0], 0, "n", 3, NULL) ||
        vips_thumbnail_image(t[0], &t[1], width, "height", height, "crop",
                             VIPS_INTERESTING_CENTRE, NULL) ||
        vips_linear(t[1], &t[2], tint, (double[]){0, 0, 0}, 3, NULL) ||
        vips_cast_uchar(t[2], &t[3], NULL) ||
        !(t[4] = vips_image_copy_memory(t[3])) || draw_shapes(t[4], s, 2)) {
        vips_failed(err, ERR_PERMANENT, "editing the image");
        goto out;
    }
    rc = encode(t[4], format, 1, out, err);
out:
    g_object_unref(scope);
    return rc;
}
