/*
 * The Image Optimizer's operations on real image bytes: the libvips step on
 * its own (formats, resizing, the colour profile kept and EXIF gone), and
 * each operation end to end against the sandbox's product images and its
 * Replicate models, with the sizes before and after.
 */
#include "images_env.h"

#include <vips/vips.h>

#define CLAY_POT "Clay Plant Pot" /* two images, 925x1071 and 925x1256 */

/* ------------------------------------------------------------------ */
/* The libvips step                                                    */
/* ------------------------------------------------------------------ */

/* A 400x300 RGBA PNG of noise with an sRGB profile and an EXIF block. */
static void make_source(struct buf *out)
{
    VipsImage *black = NULL;
    VipsImage *noise = NULL;
    VipsImage *rgb = NULL;
    VipsImage *image = NULL;
    VipsBlob *profile = NULL;
    static const unsigned char exif[] = "Exif\0\0II*\0\x08\0\0\0\0\0";
    const void *icc;
    size_t icc_len;
    void *data = NULL;
    size_t len = 0;
    struct images_info info;
    struct error err;

    /* The first call into the pipeline starts libvips. */
    error_clear(&err);
    assert_int_equal(images_probe("x", 1, 0, &info, NULL, &err), -1);
    assert_int_equal(vips_gaussnoise(&noise, 400, 300, "mean", 128.0, NULL), 0);
    assert_int_equal(vips_bandjoin_const1(noise, &black, 255.0, NULL), 0);
    assert_int_equal(vips_bandjoin_const1(black, &rgb, 255.0, NULL), 0);
    /* A noisy alpha band, so that no encoder can drop it as opaque. */
    assert_int_equal(vips_bandjoin2(rgb, noise, &image, NULL), 0);
    g_object_unref(noise);
    g_object_unref(black);
    g_object_unref(rgb);
    assert_int_equal(vips_cast_uchar(image, &rgb, NULL), 0);
    g_object_unref(image);
    image = rgb;
    vips_image_set_int(image, "interpretation", VIPS_INTERPRETATION_sRGB);
    assert_int_equal(vips_profile_load("srgb", &profile, NULL), 0);
    icc = vips_blob_get(profile, &icc_len);
    vips_image_set_blob_copy(image, VIPS_META_ICC_NAME, icc, icc_len);
    vips_image_set_blob_copy(image, VIPS_META_EXIF_NAME, exif, sizeof(exif));
    vips_area_unref(VIPS_AREA(profile));
    assert_int_equal(vips_pngsave_buffer(image, &data, &len, NULL), 0);
    g_object_unref(image);
    buf_init(out, 16 * 1024 * 1024);
    assert_int_equal(buf_append(out, data, len), 0);
    g_free(data);
}

static void test_encode_keeps_profile_drops_exif(void **state)
{
    static const enum images_format formats[] = {
        IMAGES_FORMAT_WEBP, IMAGES_FORMAT_JPEG, IMAGES_FORMAT_PNG};
    struct buf source;
    struct images_info info;
    struct error err;

    (void)state;
    make_source(&source);
    error_clear(&err);
    assert_int_equal(
        images_probe(source.data, source.len, 0, &info, NULL, &err), 0);
    assert_true(info.has_icc);
    assert_int_equal(info.bands, 4);

    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct images_encode_options options = {.format = formats[i],
                                                .quality = 75,
                                                .max_width = 200,
                                                .max_height = 200};
        struct buf out;

        buf_init(&out, 16 * 1024 * 1024);
        if (images_encode(source.data, source.len, &options, &out, &info,
                          &err) != 0)
            fail_msg("encode %s: %s", images_format_name(formats[i]),
                     err.message);
        assert_string_equal(info.content_type, images_format_type(formats[i]));
        assert_int_equal(info.width, 200);
        assert_int_equal(info.height, 150);
        assert_true(info.has_icc);
        assert_false(info.has_exif);
        /* JPEG has no alpha: it is flattened onto white. */
        assert_int_equal(info.bands, formats[i] == IMAGES_FORMAT_JPEG ? 3 : 4);
        buf_free(&out);
    }
    buf_free(&source);
}

static void test_encode_never_enlarges(void **state)
{
    struct images_encode_options options = {
        .format = IMAGES_FORMAT_WEBP, .quality = 80, .max_width = 4000};
    struct buf source;
    struct buf out;
    struct images_info info;
    struct error err;

    (void)state;
    make_source(&source);
    buf_init(&out, 16 * 1024 * 1024);
    error_clear(&err);
    assert_int_equal(
        images_encode(source.data, source.len, &options, &out, &info, &err), 0);
    assert_int_equal(info.width, 400);
    assert_int_equal(info.height, 300);

    /* The pixel limit applies to the input. */
    options.max_pixels = 1000;
    buf_reset(&out);
    assert_int_equal(
        images_encode(source.data, source.len, &options, &out, &info, &err),
        -1);
    assert_string_equal(err.code, "too_large");
    buf_free(&out);
    buf_free(&source);
}

static void test_avif_only_with_a_saver(void **state)
{
    struct error err;
    int have = vips_foreign_find_save_buffer(".avif") != NULL;

    (void)state;
    vips_error_clear();
    error_clear(&err);
    assert_int_equal(images_format_check(IMAGES_FORMAT_AVIF, &err),
                     have ? 0 : -1);
    if (!have) {
        assert_int_equal(err.kind, ERR_INVALID);
        assert_string_equal(err.code, "format");
        assert_non_null(strstr(err.message, "no avif encoder"));
    }
    assert_int_equal(images_format_check(IMAGES_FORMAT_WEBP, &err), 0);
}

/* ------------------------------------------------------------------ */
/* Operations against the sandbox                                      */
/* ------------------------------------------------------------------ */

/* Runs one operation on the pot's first image and returns its item. */
static json_t *run_operation(struct blog_env *env, const char *settings,
                             char job_id[STORE_UUID_SIZE])
{
    char product_id[128];
    char request[1024];
    json_t *media;

    products_env_id(env, CLAY_POT, product_id);
    media = images_env_media(env, product_id);
    snprintf(request, sizeof(request),
             "{\"product_ids\": [\"%s\"], \"media_ids\": [\"%s\"], %s}",
             product_id, json_string_value(json_at(media, "media[0].id")),
             settings);
    json_decref(media);
    images_env_create(env, request, job_id);
    images_env_settle(env, job_id);
    return images_env_item(env, job_id);
}

/* Checks the item's sizes against its kept files, and the result's
 * metadata. */
static void check_result(struct blog_env *env, const char *job_id,
                         const json_t *item, struct images_info *after)
{
    const char *item_id = json_string_value(json_object_get(item, "id"));
    struct images_info before;
    struct buf bytes;

    images_env_bytes(env, job_id, item_id, 0, &bytes, &before);
    assert_int_equal(json_integer_value(json_at(item, "before.bytes")),
                     bytes.len);
    assert_string_equal(before.content_type, "image/jpeg");
    assert_int_equal(before.width, 925);
    assert_true(before.has_exif); /* the sandbox's camera metadata */
    assert_true(before.has_icc);
    buf_free(&bytes);

    images_env_bytes(env, job_id, item_id, 1, &bytes, after);
    assert_int_equal(json_integer_value(json_at(item, "after.bytes")),
                     bytes.len);
    assert_int_equal(json_integer_value(json_at(item, "after.width")),
                     after->width);
    assert_int_equal(json_integer_value(json_object_get(item, "saved_bytes")),
                     json_integer_value(json_at(item, "before.bytes")) -
                         json_integer_value(json_at(item, "after.bytes")));
    assert_true(after->has_icc);
    assert_false(after->has_exif);
    buf_free(&bytes);
}

/* The rule for sizes: larger than the original is skipped unless edited. */
static void check_size_rule(const json_t *item, int edit)
{
    int larger = json_integer_value(json_at(item, "after.bytes")) >
                 json_integer_value(json_at(item, "before.bytes"));
    const char *state = json_string_value(json_object_get(item, "state"));

    if (larger && !edit) {
        assert_string_equal(state, IMAGES_SKIPPED_LARGER);
        assert_non_null(
            strstr(json_string_value(json_at(item, "error.message")),
                   "larger than the original"));
    } else {
        assert_string_equal(state, IMAGES_READY);
    }
}

static void test_compress_shrinks(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    struct images_info after;
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    item = run_operation(&env,
                         "\"operation\": \"compress\", \"quality\": 60, "
                         "\"max_width\": 400",
                         job_id);
    assert_string_equal(json_string_value(json_object_get(item, "state")),
                        IMAGES_READY);
    check_result(&env, job_id, item, &after);
    assert_string_equal(after.content_type, "image/webp");
    assert_int_equal(after.width, 400);
    assert_int_equal(after.height, 463); /* 1071 * 400 / 925 */
    assert_true(json_integer_value(json_object_get(item, "saved_bytes")) > 0);
    assert_int_equal(products_env_count(&env, "POST", "/replicate/", 0), 0);
    json_decref(item);
    blog_env_stop(&env);
}

static void test_larger_result_skipped(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    struct images_info after;
    struct store_credits credits;
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    /* A photo stored losslessly is always larger than its JPEG. */
    item = run_operation(
        &env, "\"operation\": \"compress\", \"format\": \"png\"", job_id);
    check_result(&env, job_id, item, &after);
    assert_true(json_integer_value(json_at(item, "after.bytes")) >
                json_integer_value(json_at(item, "before.bytes")));
    check_size_rule(item, 0);
    credits = blog_env_credits(&env);
    assert_int_equal(credits.available, BLOG_ENV_CREDITS);
    assert_int_equal(credits.reserved, 0);
    json_decref(item);
    blog_env_stop(&env);
}

static void test_upscale_doubles(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    struct images_info after;
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    item = run_operation(&env,
                         "\"operation\": \"upscale\", \"scale\": 2, "
                         "\"quality\": 70",
                         job_id);
    check_result(&env, job_id, item, &after);
    assert_int_equal(after.width, 1850);
    assert_int_equal(after.height, 2142);
    check_size_rule(item, 0);
    assert_int_equal(
        products_env_count(&env, "POST", "/replicate/v1/predictions", 201) +
            products_env_count(&env, "POST", "/replicate/v1/predictions", 202),
        1);
    json_decref(item);
    blog_env_stop(&env);
}

static void test_remove_background_alpha(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    struct images_info after;
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    item = run_operation(&env,
                         "\"operation\": \"remove_background\", "
                         "\"format\": \"webp\"",
                         job_id);
    check_result(&env, job_id, item, &after);
    assert_int_equal(after.bands, 4);
    assert_int_equal(after.width, 925);
    assert_int_equal(after.height, 1071);
    check_size_rule(item, 0);
    json_decref(item);
    blog_env_stop(&env);
}

static void test_edit_applies_even_larger(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    struct images_info after;
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    item = run_operation(&env,
                         "\"operation\": \"edit\", \"instruction\": \"white "
                         "studio background, soft shadow\", \"format\": "
                         "\"jpeg\", \"quality\": 95",
                         job_id);
    check_result(&env, job_id, item, &after);
    assert_string_equal(after.content_type, "image/jpeg");
    assert_int_equal(after.bands, 3);
    check_size_rule(item, 1);
    assert_int_equal(
        json_integer_value(json_object_get(item, "credits_reserved")),
        env.app->costs.image_item);
    json_decref(item);
    blog_env_stop(&env);
}

#define BOTH(test)                                                             \
    cmocka_unit_test_prestate(test, (void *)&blog_env_sqlite),                 \
        cmocka_unit_test_prestate(test, (void *)&blog_env_postgres)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_keeps_profile_drops_exif),
        cmocka_unit_test(test_encode_never_enlarges),
        cmocka_unit_test(test_avif_only_with_a_saver),
        BOTH(test_compress_shrinks),
        BOTH(test_larger_result_skipped),
        BOTH(test_upscale_doubles),
        BOTH(test_remove_background_alpha),
        BOTH(test_edit_applies_even_larger),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
