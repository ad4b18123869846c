/*
 * Image model contracts for the Replicate emulation. Inputs, defaults and
 * output shapes follow the models' published predictors: flux-schnell and
 * flux-dev from replicate/cog-flux predict.py (aspect ratios at one
 * megapixel, an array of out-<i>.<format> files), real-esrgan and the
 * background removers from their API pages (one output URL).
 */
#include "replicate_models.h"

#include "images.h"
#include "sandbox.h"

#include "core/crypto.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * NOTE: the published version ids below were copied from public code that
 * calls these models; Replicate may have newer ones. Any other id can be
 * used as "owner/name:<id>", and the sandbox's own id for each model
 * (replicate_model_version()) works as a bare id.
 */
static const struct replicate_model models[] = {
    {"black-forest-labs/flux-schnell",
     1,
     KIND_TEXT_TO_IMAGE,
     1,
     NULL,
     "webp",
     {NULL}},
    {"black-forest-labs/flux-dev",
     1,
     KIND_TEXT_TO_IMAGE,
     1,
     NULL,
     "webp",
     {NULL}},
    {"black-forest-labs/flux-1.1-pro",
     1,
     KIND_TEXT_TO_IMAGE,
     0,
     NULL,
     "webp",
     {NULL}},
    {"black-forest-labs/flux-kontext-pro",
     1,
     KIND_EDIT,
     0,
     "input_image",
     "png",
     {NULL}},
    {"nightmareai/real-esrgan",
     0,
     KIND_UPSCALE,
     0,
     "image",
     "png",
     {"f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa",
      "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b",
      NULL}},
    {"lucataco/remove-bg",
     0,
     KIND_REMOVE_BACKGROUND,
     0,
     "image",
     "png",
     {"95fcc2a26d3899cd6c2691c900465aaeff466285a65c14638cc5f36f34befaf1",
      NULL}},
    {"cjwbw/rembg",
     0,
     KIND_REMOVE_BACKGROUND,
     0,
     "image",
     "png",
     {"fb8af171cfa1616ddcf1242c093f9c46bcada5ad4cf6f2fbe8b81b330ec5c003",
      NULL}},
    {"851-labs/background-remover",
     0,
     KIND_REMOVE_BACKGROUND,
     0,
     "image",
     "png",
     {"a029dff38972b5fda4ec5d75d7d1cd25aeff621d2cf4946a41055d7db66b80bc",
      NULL}},
};

#define MODEL_COUNT (sizeof(models) / sizeof(models[0]))

/* Width and height at one megapixel, from cog-flux's ASPECT_RATIOS. */
static const struct {
    const char *ratio;
    int width;
    int height;
} aspect_ratios[] = {
    {"1:1", 1024, 1024}, {"16:9", 1344, 768}, {"21:9", 1536, 640},
    {"3:2", 1216, 832},  {"2:3", 832, 1216},  {"4:5", 896, 1088},
    {"5:4", 1088, 896},  {"3:4", 896, 1152},  {"4:3", 1152, 896},
    {"9:16", 768, 1344}, {"9:21", 640, 1536},
};

#define RATIO_COUNT (sizeof(aspect_ratios) / sizeof(aspect_ratios[0]))

const struct replicate_model *replicate_model_find(const char *name)
{
    for (size_t i = 0; i < MODEL_COUNT; i++)
        if (strcmp(models[i].name, name) == 0)
            return &models[i];
    return NULL;
}

void replicate_model_version(const struct replicate_model *model, char out[65])
{
    char text[128];

    snprintf(text, sizeof(text), "sitesmith-sandbox/%s", model->name);
    crypto_sha256_hex(text, strlen(text), out);
}

const struct replicate_model *replicate_model_by_version(const char *id)
{
    char own[65];

    for (size_t i = 0; i < MODEL_COUNT; i++) {
        replicate_model_version(&models[i], own);
        if (strcmp(own, id) == 0)
            return &models[i];
        for (size_t v = 0; models[i].known_versions[v]; v++)
            if (strcmp(models[i].known_versions[v], id) == 0)
                return &models[i];
    }
    return NULL;
}

const char *replicate_content_type(const char *format)
{
    if (strcmp(format, "png") == 0)
        return "image/png";
    if (strcmp(format, "webp") == 0)
        return "image/webp";
    return "image/jpeg";
}

/* ---------------------------------------------------------------- */
/* Input checks                                                       */

static void add_problem(json_t *problems, const char *type, const char *field,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_problem(json_t *problems, const char *type, const char *field,
                        const char *fmt, ...)
{
    char description[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(description, sizeof(description), fmt, ap);
    va_end(ap);
    json_array_append_new(problems,
                          json_pack("{s:s, s:s, s:s}", "type", type, "field",
                                    field, "description", description));
}

static void require_string(json_t *problems, const json_t *input,
                           const char *key)
{
    const json_t *value = json_object_get(input, key);
    char field[64];

    snprintf(field, sizeof(field), "input.%s", key);
    if (!value)
        add_problem(problems, "required", "input", "%s is required", key);
    else if (!json_is_string(value) || json_string_length(value) == 0)
        add_problem(problems, "type", field,
                    "Invalid type. Expected: string, given: %s",
                    json_is_string(value) ? "empty string" : "other");
}

/* Checks an optional string against a list of allowed values. */
static void check_enum(json_t *problems, const json_t *input, const char *key,
                       const char *const *allowed)
{
    const json_t *value = json_object_get(input, key);
    char field[64];
    char list[512] = "";
    size_t used = 0;

    if (!value)
        return;
    for (size_t i = 0; allowed[i]; i++) {
        if (json_is_string(value) &&
            strcmp(json_string_value(value), allowed[i]) == 0)
            return;
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
                                 i ? ", " : "", allowed[i]);
        if (used >= sizeof(list))
            break;
    }
    snprintf(field, sizeof(field), "input.%s", key);
    add_problem(problems, "enum", field, "%s must be one of the following: %s",
                key, list);
}

static void check_range(json_t *problems, const json_t *input, const char *key,
                        double low, double high, int integer)
{
    const json_t *value = json_object_get(input, key);
    char field[64];

    if (!value)
        return;
    snprintf(field, sizeof(field), "input.%s", key);
    if (integer ? !json_is_integer(value) : !json_is_number(value)) {
        add_problem(problems, "type", field,
                    "Invalid type. Expected: %s, given: other",
                    integer ? "integer" : "number");
        return;
    }
    if (json_number_value(value) < low)
        add_problem(problems, "number_gte", field,
                    "Must be greater than or equal to %g", low);
    else if (json_number_value(value) > high)
        add_problem(problems, "number_lte", field,
                    "Must be less than or equal to %g", high);
}

static void check_text_to_image(json_t *problems,
                                const struct replicate_model *model,
                                const json_t *input)
{
    static const char *const ratios[] = {"1:1", "16:9", "21:9", "3:2",
                                         "2:3", "4:5",  "5:4",  "3:4",
                                         "4:3", "9:16", "9:21", NULL};
    static const char *const ratios_custom[] = {
        "custom", "1:1", "16:9", "21:9", "3:2",  "2:3", "4:5",
        "5:4",    "3:4", "4:3",  "9:16", "9:21", NULL};
    static const char *const formats[] = {"webp", "jpg", "png", NULL};
    static const char *const megapixels[] = {"1", "0.25", NULL};
    int pro = strstr(model->name, "pro") != NULL;

    require_string(problems, input, "prompt");
    check_enum(problems, input, "aspect_ratio", pro ? ratios_custom : ratios);
    check_enum(problems, input, "output_format", formats);
    check_range(problems, input, "output_quality", 0, 100, 1);
    check_range(problems, input, "seed", -9e18, 9e18, 1);
    if (pro) {
        check_range(problems, input, "width", 256, 1440, 1);
        check_range(problems, input, "height", 256, 1440, 1);
        return;
    }
    check_range(problems, input, "num_outputs", 1, 4, 1);
    check_range(problems, input, "num_inference_steps", 1,
                strstr(model->name, "schnell") ? 4 : 50, 1);
    check_enum(problems, input, "megapixels", megapixels);
}

json_t *replicate_model_check_input(const struct replicate_model *model,
                                    const json_t *input)
{
    static const char *const edit_ratios[] = {"match_input_image",
                                              "1:1",
                                              "16:9",
                                              "21:9",
                                              "3:2",
                                              "2:3",
                                              "4:5",
                                              "5:4",
                                              "3:4",
                                              "4:3",
                                              "9:16",
                                              "9:21",
                                              NULL};
    static const char *const edit_formats[] = {"jpg", "png", NULL};
    static const char *const cut_formats[] = {"png", "jpg", "webp", NULL};
    json_t *problems = json_array();

    switch (model->kind) {
    case KIND_TEXT_TO_IMAGE:
        check_text_to_image(problems, model, input);
        break;
    case KIND_UPSCALE:
        require_string(problems, input, "image");
        check_range(problems, input, "scale", 0, 10, 0);
        break;
    case KIND_REMOVE_BACKGROUND:
        require_string(problems, input, "image");
        check_enum(problems, input, "format", cut_formats);
        break;
    case KIND_EDIT:
        require_string(problems, input, "prompt");
        require_string(problems, input, model->image_field);
        check_enum(problems, input, "aspect_ratio", edit_ratios);
        check_enum(problems, input, "output_format", edit_formats);
        break;
    }
    if (json_array_size(problems) == 0) {
        json_decref(problems);
        return NULL;
    }
    return problems;
}

/* ---------------------------------------------------------------- */
/* Output plans                                                       */

static const char *input_string(const json_t *input, const char *key,
                                const char *fallback)
{
    const char *value = json_string_value(json_object_get(input, key));

    return value ? value : fallback;
}

static void set_format(struct replicate_output_plan *plan, const char *name)
{
    snprintf(plan->format, sizeof(plan->format), "%s",
             strcmp(name, "jpg") == 0 ? "jpeg" : name);
}

/* The file extension Replicate uses: "jpg" for JPEG. */
static const char *extension(const struct replicate_output_plan *plan)
{
    return strcmp(plan->format, "jpeg") == 0 ? "jpg" : plan->format;
}

static int size_for_ratio(const char *ratio, int *width, int *height)
{
    for (size_t i = 0; i < RATIO_COUNT; i++) {
        if (strcmp(aspect_ratios[i].ratio, ratio) == 0) {
            *width = aspect_ratios[i].width;
            *height = aspect_ratios[i].height;
            return 0;
        }
    }
    return -1;
}

static void plan_text_to_image(const struct replicate_model *model,
                               const json_t *input,
                               struct replicate_output_plan *plan)
{
    const char *ratio = input_string(input, "aspect_ratio", "1:1");
    const json_t *count = json_object_get(input, "num_outputs");

    set_format(plan, input_string(input, "output_format", "webp"));
    if (size_for_ratio(ratio, &plan->width, &plan->height) != 0) {
        /* "custom" (flux-1.1-pro): width and height from the input. */
        plan->width = (int)json_integer_value(json_object_get(input, "width"));
        plan->height =
            (int)json_integer_value(json_object_get(input, "height"));
        if (plan->width <= 0 || plan->height <= 0)
            plan->width = plan->height = 1024;
    }
    if (strcmp(input_string(input, "megapixels", "1"), "0.25") == 0) {
        plan->width /= 2;
        plan->height /= 2;
    }

    plan->count = model->list_output && json_is_integer(count)
                      ? (int)json_integer_value(count)
                      : 1;
    for (int i = 0; i < plan->count; i++) {
        if (model->list_output)
            snprintf(plan->names[i], sizeof(plan->names[i]), "out-%d.%s", i,
                     extension(plan));
        else
            snprintf(plan->names[i], sizeof(plan->names[i]), "output.%s",
                     extension(plan));
    }
}

/* Scales a size to about one megapixel, keeping its ratio, in steps of
 * 16 pixels as diffusion models produce. */
static void fit_megapixel(int *width, int *height)
{
    double factor = sqrt(1024.0 * 1024.0 / ((double)*width * *height));

    *width = (int)(round(*width * factor / 16) * 16);
    *height = (int)(round(*height * factor / 16) * 16);
    if (*width < 16)
        *width = 16;
    if (*height < 16)
        *height = 16;
}

int replicate_model_plan(const struct replicate_model *model,
                         const json_t *input, int source_width,
                         int source_height, struct replicate_output_plan *plan,
                         struct error *err)
{
    memset(plan, 0, sizeof(*plan));
    plan->scale = 1;
    plan->count = 1;
    plan->width = source_width;
    plan->height = source_height;
    set_format(plan, model->default_format);

    switch (model->kind) {
    case KIND_TEXT_TO_IMAGE:
        plan_text_to_image(model, input, plan);
        return 0;
    case KIND_UPSCALE:
        if (json_is_number(json_object_get(input, "scale")))
            plan->scale = json_number_value(json_object_get(input, "scale"));
        else
            plan->scale = 4;
        plan->width = (int)round(source_width * plan->scale);
        plan->height = (int)round(source_height * plan->scale);
        break;
    case KIND_REMOVE_BACKGROUND:
        set_format(plan, input_string(input, "format", "png"));
        break;
    case KIND_EDIT:
        set_format(plan, input_string(input, "output_format", "png"));
        if (size_for_ratio(input_string(input, "aspect_ratio", ""),
                           &plan->width, &plan->height) != 0)
            fit_megapixel(&plan->width, &plan->height);
        break;
    }
    if (plan->width < 1 || plan->height < 1 ||
        (long)plan->width * plan->height > SANDBOX_IMAGE_MAX_PIXELS)
        return error_set(err, ERR_INVALID,
                         "the output of %dx%d pixels is too large: at most "
                         "%ld pixels are supported",
                         plan->width, plan->height, SANDBOX_IMAGE_MAX_PIXELS);
    snprintf(plan->names[0], sizeof(plan->names[0]), "output.%s",
             extension(plan));
    return 0;
}

int replicate_model_render(const struct replicate_model *model,
                           const struct replicate_output_plan *plan, int index,
                           const char *seed, const void *source,
                           size_t source_len, struct buf *out,
                           struct error *err)
{
    char file_seed[512];

    snprintf(file_seed, sizeof(file_seed), "%s#%d", seed, index);
    switch (model->kind) {
    case KIND_TEXT_TO_IMAGE:
        return sandbox_image_draw(plan->format, plan->width, plan->height,
                                  file_seed, 0, out, err);
    case KIND_UPSCALE:
        return sandbox_image_upscale(source, source_len, plan->scale,
                                     plan->format, out, err);
    case KIND_REMOVE_BACKGROUND:
        if (strcmp(plan->format, "jpeg") != 0)
            return sandbox_image_remove_background(source, source_len,
                                                   plan->format, out, err);
        /* JPEG has no alpha: the cut-out lands on a plain re-encode. */
        return sandbox_image_edit(source, source_len, 0, 0, file_seed,
                                  plan->format, out, err);
    case KIND_EDIT:
        return sandbox_image_edit(source, source_len, plan->width, plan->height,
                                  file_seed, plan->format, out, err);
    }
    return error_set(err, ERR_PERMANENT, "unknown model kind");
}
