/*
 * Image helpers for the sandbox's Replicate emulation, made with libvips.
 * sandbox_make_image() (declared in sandbox.h) draws new images; these
 * functions read and transform images that a prediction received as input.
 *
 * Formats are named "png", "webp", "jpeg" (or "jpg"). Every function is
 * safe to call from any thread and initialises libvips on first use.
 */
#ifndef SITESMITH_SANDBOX_IMAGES_H
#define SITESMITH_SANDBOX_IMAGES_H

#include "core/buf.h"
#include "core/error.h"

#include <stddef.h>

/* The largest encoded image these helpers write or read, in bytes. */
#define SANDBOX_IMAGE_MAX_BYTES (64u * 1024 * 1024)

/* The largest output these helpers write, in pixels (width x height). */
#define SANDBOX_IMAGE_MAX_PIXELS (4096L * 4096L)

/* Starts libvips once per process. Returns 0, or -1 with err set. */
int sandbox_images_init(struct error *err);

/*
 * Draws a new image as sandbox_make_image() does. camera_metadata attaches
 * an sRGB ICC profile and a camera EXIF block (make, model, software,
 * date), as photos from a store owner carry; sandbox_make_image() sets it
 * for JPEG only, and model outputs leave it off.
 */
int sandbox_image_draw(const char *format, int width, int height,
                       const char *seed, int camera_metadata, struct buf *out,
                       struct error *err);

/* True when format is one the helpers can write. */
int sandbox_image_format_known(const char *format);

/*
 * Reads the pixel size of an encoded image. Returns 0, or -1 with err set
 * (ERR_INVALID) when the bytes are not an image libvips can read.
 */
int sandbox_image_size(const void *data, size_t len, int *width, int *height,
                       struct error *err);

/*
 * Resizes an encoded image by scale (Lanczos) and encodes it as format,
 * the way an upscaler returns its input larger. Fills out (caller frees
 * with buf_free); -1 with err set when the input can't be read or the
 * result would pass SANDBOX_IMAGE_MAX_PIXELS.
 */
int sandbox_image_upscale(const void *data, size_t len, double scale,
                          const char *format, struct buf *out,
                          struct error *err);

/*
 * Cuts the background out of an encoded image: the result keeps the input's
 * size and colours and gets an alpha band that is opaque inside a centred
 * ellipse and transparent outside it, with a soft edge. format must hold
 * alpha ("png" or "webp"). Fills out (caller frees with buf_free).
 */
int sandbox_image_remove_background(const void *data, size_t len,
                                    const char *format, struct buf *out,
                                    struct error *err);

/*
 * Makes an "edited" image from an input image and a seed: the input is
 * cropped to width x height (or keeps its size when both are 0), tinted
 * and overlaid with shapes derived from seed. Fills out (caller frees).
 */
int sandbox_image_edit(const void *data, size_t len, int width, int height,
                       const char *seed, const char *format, struct buf *out,
                       struct error *err);

#endif
