/*
 * The image models the sandbox's Replicate emulation knows: their names,
 * versions, input checks, output shapes and how their output images are
 * made. replicate.c owns predictions and HTTP; this file owns what a model
 * does with its input.
 *
 * Everything here is read-only data or pure functions: any thread.
 */
#ifndef SITESMITH_SANDBOX_REPLICATE_MODELS_H
#define SITESMITH_SANDBOX_REPLICATE_MODELS_H

#include "core/buf.h"
#include "core/error.h"

#include <jansson.h>
#include <stddef.h>

#define REPLICATE_OUTPUTS_MAX 4

enum replicate_kind {
    KIND_TEXT_TO_IMAGE,     /* prompt in, new images out */
    KIND_UPSCALE,           /* image in, the same image larger out */
    KIND_REMOVE_BACKGROUND, /* image in, the image with alpha out */
    KIND_EDIT,              /* image and prompt in, a changed image out */
};

struct replicate_model {
    const char *name; /* "owner/name" */
    int official;     /* created by name, version "hidden" */
    enum replicate_kind kind;
    int list_output;         /* output is an array of URLs, not one URL */
    const char *image_field; /* input that holds the image URL, or NULL */
    const char *default_format;
    const char *known_versions[3]; /* published version ids, NULL-ended */
};

/* The output files a prediction will have, decided at creation. */
struct replicate_output_plan {
    int count;
    char format[8]; /* "png", "webp" or "jpeg" */
    int width;      /* pixels of each output */
    int height;
    double scale;                          /* upscalers: output / input */
    char names[REPLICATE_OUTPUTS_MAX][24]; /* "out-0.webp", "output.png" */
};

/* A model by "owner/name", or NULL. */
const struct replicate_model *replicate_model_find(const char *name);

/* A model by a bare 64-hex version id: a published id, or the sandbox's
 * own id for the model (replicate_model_version()). NULL when unknown. */
const struct replicate_model *replicate_model_by_version(const char *id);

/* The sandbox's version id of a model: 64 hex characters into out[65]. */
void replicate_model_version(const struct replicate_model *model, char out[65]);

/*
 * Checks input against the model's inputs. Returns NULL when it is valid,
 * else a new array of {"type","field","description"} problems as in
 * Replicate's 422 invalid_fields.
 */
json_t *replicate_model_check_input(const struct replicate_model *model,
                                    const json_t *input);

/*
 * Decides the outputs from the input and, for models that take an image,
 * the input image's size. Returns 0, or -1 with err set to the message
 * the prediction fails with (e.g. an output too large).
 */
int replicate_model_plan(const struct replicate_model *model,
                         const json_t *input, int source_width,
                         int source_height, struct replicate_output_plan *plan,
                         struct error *err);

/*
 * Makes output file index of a prediction: a new image drawn from seed
 * (text to image) or a transformation of source (the input image bytes).
 * Fills out (caller frees with buf_free). Slow for large images: call it
 * without the sandbox lock.
 */
int replicate_model_render(const struct replicate_model *model,
                           const struct replicate_output_plan *plan, int index,
                           const char *seed, const void *source,
                           size_t source_len, struct buf *out,
                           struct error *err);

/* Content-Type of an output format. */
const char *replicate_content_type(const char *format);

#endif
