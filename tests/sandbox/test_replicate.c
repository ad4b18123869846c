/*
 * The sandbox's Replicate predictions through HTTP against the real
 * sitesmith-sandbox process: create by model and by version, the status
 * moving with sandbox time, Prefer: wait, Cancel-After, cancel, output
 * files and their expiry, input images by URL, and the error bodies.
 */
#include "ai_sandbox.h"

#include "core/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PREDICTIONS "/replicate/v1/predictions"
#define FLUX "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"
#define ESRGAN_ID                                                              \
    "f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa"

static struct ai_sandbox sandbox;
static const char *const auth[] = {"Authorization: Bearer r8_test", NULL};
static const char *const auth_wait[] = {"Authorization: Bearer r8_test",
                                        "Prefer: wait", NULL};

static int start(void **state)
{
    (void)state;
    ai_sandbox_start(&sandbox);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    ai_sandbox_stop(&sandbox);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    ai_sandbox_reset(&sandbox);
    return 0;
}

static const char *text_at(const json_t *root, const char *path)
{
    const char *text = json_string_value(json_at(root, path));

    if (!text)
        fail_msg("no string at %s", path);
    return text;
}

/* GET /replicate/v1/predictions/{id}. */
static json_t *get_prediction(const char *id)
{
    char path[128];

    snprintf(path, sizeof(path), PREDICTIONS "/%s", id);
    return ai_sandbox_json(&sandbox, "GET", path, auth, NULL, 200);
}

/* Downloads an output URL of this sandbox; returns the HTTP status. */
static long download(const char *url, struct http_client_response *resp)
{
    size_t base = strlen(sandbox.base_url);

    assert_int_equal(strncmp(url, sandbox.base_url, base), 0);
    return ai_sandbox_send(&sandbox, "GET", url + base, NULL, NULL, resp);
}

static void expect_png(const char *url, int width, int height, int color_type)
{
    struct http_client_response resp;
    int actual_width;
    int actual_height;
    int actual_type;

    assert_int_equal(download(url, &resp), 200);
    assert_string_equal(resp.content_type, "image/png");
    ai_sandbox_png_info(resp.body.data, resp.body.len, &actual_width,
                        &actual_height, &actual_type);
    assert_int_equal(actual_width, width);
    assert_int_equal(actual_height, height);
    assert_int_equal(actual_type, color_type);
    http_client_response_release(&resp);
}

/* A finished flux-schnell PNG of the given aspect ratio; returns its URL
 * (caller frees). */
static char *make_png(const char *aspect_ratio)
{
    char body[256];
    json_t *prediction;
    char *url;

    snprintf(body, sizeof(body),
             "{\"input\":{\"prompt\":\"a ceramic mug\",\"aspect_ratio\":"
             "\"%s\",\"output_format\":\"png\"}}",
             aspect_ratio);
    prediction = ai_sandbox_json(&sandbox, "POST", FLUX, auth_wait, body, 201);
    assert_string_equal(text_at(prediction, "status"), "succeeded");
    url = strdup(text_at(prediction, "output[0]"));
    json_decref(prediction);
    return url;
}

/* Creates a prediction by version with the given input; returns it. */
static json_t *create_by_version(const char *version, const char *input_json,
                                 const char *const *headers, long status)
{
    char *body = NULL;
    json_t *prediction;

    assert_true(asprintf(&body, "{\"version\":\"%s\",\"input\":%s}", version,
                         input_json) > 0);
    prediction =
        ai_sandbox_json(&sandbox, "POST", PREDICTIONS, headers, body, status);
    free(body);
    return prediction;
}

static void flux_lifecycle_by_sandbox_time(void **state)
{
    json_t *prediction;
    char id[64];

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"starting_ms\":5000,"
                                   "\"processing_ms\":60000}}");
    prediction = ai_sandbox_json(
        &sandbox, "POST", FLUX, auth,
        "{\"input\":{\"prompt\":\"a lighthouse\",\"num_outputs\":3}}", 201);
    snprintf(id, sizeof(id), "%s", text_at(prediction, "id"));
    assert_int_equal(strlen(id), 26);
    assert_string_equal(text_at(prediction, "status"), "starting");
    assert_string_equal(text_at(prediction, "version"), "hidden");
    assert_true(json_is_null(json_object_get(prediction, "output")));
    assert_null(json_object_get(prediction, "started_at"));
    assert_non_null(strstr(text_at(prediction, "urls.get"), id));
    json_decref(prediction);

    ai_sandbox_advance(&sandbox, 6);
    prediction = get_prediction(id);
    assert_string_equal(text_at(prediction, "status"), "processing");
    assert_non_null(json_object_get(prediction, "started_at"));
    json_decref(prediction);

    ai_sandbox_advance(&sandbox, 60);
    prediction = get_prediction(id);
    assert_string_equal(text_at(prediction, "status"), "succeeded");
    assert_non_null(json_object_get(prediction, "completed_at"));
    assert_true(json_number_value(json_at(prediction, "metrics.predict_time")) >
                59);
    assert_int_equal(json_array_size(json_object_get(prediction, "output")), 3);
    assert_non_null(strstr(text_at(prediction, "output[2]"), "/out-2.webp"));
    json_decref(prediction);
}

static void output_size_follows_aspect_ratio(void **state)
{
    json_t *prediction;
    char *url;

    (void)state;
    url = make_png("16:9");
    expect_png(url, 1344, 768, 2);
    free(url);

    prediction = ai_sandbox_json(
        &sandbox, "POST", FLUX, auth_wait,
        "{\"input\":{\"prompt\":\"x\",\"aspect_ratio\":\"2:3\",\"megapixels\":"
        "\"0.25\",\"output_format\":\"png\"}}",
        201);
    expect_png(text_at(prediction, "output[0]"), 416, 608, 2);
    json_decref(prediction);
}

static void prefer_wait_holds_until_limit(void **state)
{
    static const char *const wait_one[] = {"Authorization: Bearer r8_test",
                                           "Prefer: wait=1", NULL};
    json_t *prediction;

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"processing_ms\":30000}}");
    prediction = ai_sandbox_json(&sandbox, "POST", FLUX, wait_one,
                                 "{\"input\":{\"prompt\":\"x\"}}", 202);
    assert_string_equal(text_at(prediction, "status"), "processing");
    json_decref(prediction);

    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"processing_ms\":300}}");
    prediction = ai_sandbox_json(&sandbox, "POST", FLUX, auth_wait,
                                 "{\"input\":{\"prompt\":\"x\"}}", 201);
    assert_string_equal(text_at(prediction, "status"), "succeeded");
    json_decref(prediction);
}

static void versions_resolve_or_fail(void **state)
{
    json_t *prediction;
    char *source;
    char input[512];

    (void)state;
    source = make_png("1:1");
    snprintf(input, sizeof(input), "{\"image\":\"%s\"}", source);

    prediction = create_by_version(ESRGAN_ID, input, auth, 201);
    assert_string_equal(text_at(prediction, "model"),
                        "nightmareai/real-esrgan");
    assert_string_equal(text_at(prediction, "version"), ESRGAN_ID);
    json_decref(prediction);

    /* Any id with the model's name; the official name without an id. */
    json_decref(create_by_version(
        "nightmareai/real-esrgan:"
        "0000000000000000000000000000000000000000000000000000000000000000",
        input, auth, 201));
    json_decref(create_by_version("black-forest-labs/flux-schnell",
                                  "{\"prompt\":\"x\"}", auth, 201));

    prediction = create_by_version(
        "1111111111111111111111111111111111111111111111111111111111111111",
        input, auth, 422);
    assert_string_equal(text_at(prediction, "title"),
                        "Invalid version or not permitted");
    json_decref(prediction);
    json_decref(create_by_version("nightmareai/real-esrgan", input, auth, 422));
    free(source);
}

static void upscaler_scales_input(void **state)
{
    char *source = make_png("4:3");
    char input[512];
    json_t *prediction;

    (void)state;
    snprintf(input, sizeof(input), "{\"image\":\"%s\",\"scale\":2}", source);
    prediction = create_by_version(ESRGAN_ID, input, auth_wait, 201);
    assert_string_equal(text_at(prediction, "status"), "succeeded");
    assert_true(json_is_string(json_object_get(prediction, "output")));
    expect_png(text_at(prediction, "output"), 2304, 1792, 2);
    json_decref(prediction);
    free(source);
}

static void remover_returns_alpha_png(void **state)
{
    char *source = make_png("3:4");
    char input[512];
    json_t *prediction;

    (void)state;
    snprintf(input, sizeof(input), "{\"image\":\"%s\"}", source);
    prediction =
        create_by_version("cjwbw/rembg:"
                          "fb8af171cfa1616ddcf1242c093f9c46bcada5ad4cf6f2fbe8b8"
                          "1b330ec5c003",
                          input, auth_wait, 201);
    expect_png(text_at(prediction, "output"), 896, 1152, 6);
    json_decref(prediction);
    free(source);
}

static void edit_model_takes_image_and_prompt(void **state)
{
    char *source = make_png("16:9");
    char body[512];
    json_t *prediction;

    (void)state;
    snprintf(body, sizeof(body),
             "{\"input\":{\"prompt\":\"make it blue\",\"input_image\":\"%s\"}}",
             source);
    prediction = ai_sandbox_json(
        &sandbox, "POST",
        "/replicate/v1/models/black-forest-labs/flux-kontext-pro/predictions",
        auth_wait, body, 201);
    assert_string_equal(text_at(prediction, "status"), "succeeded");
    /* 1344x768 scaled to about one megapixel in steps of 16. */
    expect_png(text_at(prediction, "output"), 1360, 768, 2);
    json_decref(prediction);
    free(source);
}

static void input_urls_fail_predictions(void **state)
{
    static const char *const inputs[][2] = {
        {"{\"image\":\"https://example.com/a.png\"}", "only loopback URLs"},
        {"{\"image\":\"http://127.0.0.1:1/missing.png\"}",
         "failed to download"},
        {"{\"image\":\"data:image/png;base64,bm90IGFuIGltYWdl\"}",
         "cannot identify image file"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        json_t *prediction =
            create_by_version(ESRGAN_ID, inputs[i][0], auth_wait, 201);

        assert_string_equal(text_at(prediction, "status"), "failed");
        assert_non_null(strstr(text_at(prediction, "error"), inputs[i][1]));
        assert_true(json_is_null(json_object_get(prediction, "output")));
        json_decref(prediction);
    }
}

static void failures_by_setting_and_trigger(void **state)
{
    json_t *prediction;

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"fail_next\":1,"
                                   "\"fail_error\":\"CUDA out of memory\"}}");
    prediction = ai_sandbox_json(&sandbox, "POST", FLUX, auth_wait,
                                 "{\"input\":{\"prompt\":\"x\"}}", 201);
    assert_string_equal(text_at(prediction, "status"), "failed");
    assert_string_equal(text_at(prediction, "error"), "CUDA out of memory");
    json_decref(prediction);

    prediction = ai_sandbox_json(&sandbox, "POST", FLUX, auth_wait,
                                 "{\"input\":{\"prompt\":\"x\"}}", 201);
    assert_string_equal(text_at(prediction, "status"), "succeeded");
    json_decref(prediction);

    prediction = ai_sandbox_json(
        &sandbox, "POST", FLUX, auth_wait,
        "{\"input\":{\"prompt\":\"a mug [sandbox:fail]\"}}", 201);
    assert_string_equal(text_at(prediction, "status"), "failed");
    assert_non_null(strstr(text_at(prediction, "error"), "(E005)"));
    json_decref(prediction);
}

static void cancel_and_cancel_after(void **state)
{
    static const char *const deadline[] = {"Authorization: Bearer r8_test",
                                           "Cancel-After: 5s", NULL};
    json_t *prediction;
    char path[128];
    char id[64];

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"starting_ms\":10000,"
                                   "\"processing_ms\":60000}}");
    prediction = ai_sandbox_json(&sandbox, "POST", FLUX, auth,
                                 "{\"input\":{\"prompt\":\"x\"}}", 201);
    snprintf(path, sizeof(path), PREDICTIONS "/%s/cancel",
             text_at(prediction, "id"));
    json_decref(prediction);
    prediction = ai_sandbox_json(&sandbox, "POST", path, auth, NULL, 200);
    assert_string_equal(text_at(prediction, "status"), "canceled");
    assert_true(json_is_null(json_object_get(prediction, "error")));
    json_decref(prediction);

    /* Cancel-After before the run starts aborts it. */
    prediction = ai_sandbox_json(&sandbox, "POST", FLUX, deadline,
                                 "{\"input\":{\"prompt\":\"x\"}}", 201);
    snprintf(id, sizeof(id), "%s", text_at(prediction, "id"));
    assert_non_null(json_object_get(prediction, "deadline"));
    json_decref(prediction);
    ai_sandbox_advance(&sandbox, 6);
    prediction = get_prediction(id);
    assert_string_equal(text_at(prediction, "status"), "aborted");
    json_decref(prediction);

    /* A finished prediction stays as it was. */
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"starting_ms\":0,"
                                   "\"processing_ms\":0}}");
    prediction = ai_sandbox_json(&sandbox, "POST", FLUX, auth_wait,
                                 "{\"input\":{\"prompt\":\"x\"}}", 201);
    snprintf(path, sizeof(path), PREDICTIONS "/%s/cancel",
             text_at(prediction, "id"));
    json_decref(prediction);
    prediction = ai_sandbox_json(&sandbox, "POST", path, auth, NULL, 200);
    assert_string_equal(text_at(prediction, "status"), "succeeded");
    json_decref(prediction);
}

static void outputs_expire_after_ttl(void **state)
{
    struct http_client_response resp;
    json_t *prediction;
    char *url;
    char id[64];

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"output_ttl_s\":10}}");
    url = make_png("1:1");
    assert_int_equal(download(url, &resp), 200);
    http_client_response_release(&resp);
    snprintf(id, sizeof(id), "%.26s", strstr(url, "/files/") + 7);

    ai_sandbox_advance(&sandbox, 11);
    prediction = get_prediction(id);
    assert_true(json_is_true(json_object_get(prediction, "data_removed")));
    assert_true(json_is_null(json_object_get(prediction, "output")));
    assert_int_equal(download(url, &resp), 404);
    http_client_response_release(&resp);
    json_decref(prediction);
    free(url);
}

static void auth_errors_and_token_scheme(void **state)
{
    static const char *const legacy[] = {"Authorization: Token r8_test", NULL};
    static const char *const other[] = {"Authorization: Bearer r8_other", NULL};
    json_t *error;

    (void)state;
    error = ai_sandbox_json(&sandbox, "POST", FLUX, NULL,
                            "{\"input\":{\"prompt\":\"x\"}}", 401);
    assert_string_equal(text_at(error, "title"), "Unauthenticated");
    assert_string_equal(text_at(error, "detail"),
                        "You did not pass an authentication token");
    assert_int_equal(json_integer_value(json_object_get(error, "status")), 401);
    json_decref(error);

    json_decref(ai_sandbox_json(&sandbox, "POST", FLUX, legacy,
                                "{\"input\":{\"prompt\":\"x\"}}", 201));
    ai_sandbox_configure(&sandbox,
                         "{\"replicate\":{\"api_token\":\"r8_test\"}}");
    json_decref(
        ai_sandbox_json(&sandbox, "GET", PREDICTIONS, other, NULL, 401));
    json_decref(ai_sandbox_json(&sandbox, "GET", PREDICTIONS, auth, NULL, 200));
}

static void invalid_bodies_get_422(void **state)
{
    json_t *error;

    (void)state;
    error =
        ai_sandbox_json(&sandbox, "POST", FLUX, auth,
                        "{\"input\":{\"prompt\":\"x\",\"aspect_ratio\":\"7:5\","
                        "\"num_outputs\":9}}",
                        422);
    assert_string_equal(text_at(error, "title"), "Input validation failed");
    assert_int_equal(json_array_size(json_object_get(error, "invalid_fields")),
                     2);
    assert_string_equal(text_at(error, "invalid_fields[0].type"), "enum");
    assert_string_equal(text_at(error, "invalid_fields[0].field"),
                        "input.aspect_ratio");
    assert_string_equal(text_at(error, "invalid_fields[1].type"), "number_lte");
    assert_non_null(strstr(text_at(error, "detail"), "- input.aspect_ratio: "));
    json_decref(error);

    error =
        ai_sandbox_json(&sandbox, "POST", FLUX, auth, "{\"input\":{}}", 422);
    assert_string_equal(text_at(error, "invalid_fields[0].type"), "required");
    json_decref(error);

    error =
        ai_sandbox_json(&sandbox, "POST", FLUX, auth,
                        "{\"input\":{\"prompt\":\"x\"},\"model\":\"y\"}", 422);
    assert_string_equal(text_at(error, "invalid_fields[0].type"),
                        "additional_property_not_allowed");
    json_decref(error);

    /* Community models have no model route; unknown ids are 404. */
    json_decref(ai_sandbox_json(
        &sandbox, "POST",
        "/replicate/v1/models/nightmareai/real-esrgan/predictions", auth,
        "{\"input\":{}}", 404));
    error = ai_sandbox_json(&sandbox, "GET", PREDICTIONS "/nosuchid", auth,
                            NULL, 404);
    assert_string_equal(text_at(error, "detail"),
                        "The requested resource could not be found.");
    json_decref(error);
}

static void create_limit_and_credit(void **state)
{
    struct http_client_response resp;
    json_t *error;

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"create_rpm\":2}}");
    json_decref(ai_sandbox_json(&sandbox, "POST", FLUX, auth,
                                "{\"input\":{\"prompt\":\"x\"}}", 201));
    json_decref(ai_sandbox_json(&sandbox, "POST", FLUX, auth,
                                "{\"input\":{\"prompt\":\"x\"}}", 201));
    assert_int_equal(ai_sandbox_send(&sandbox, "POST", FLUX, auth,
                                     "{\"input\":{\"prompt\":\"x\"}}", &resp),
                     429);
    assert_true(atoi(http_client_header(&resp, "retry-after")) >= 1);
    assert_non_null(strstr(resp.body.data, "Request was throttled"));
    http_client_response_release(&resp);

    /* Reads are not creates. */
    json_decref(ai_sandbox_json(&sandbox, "GET", PREDICTIONS, auth, NULL, 200));
    ai_sandbox_advance(&sandbox, 60);
    json_decref(ai_sandbox_json(&sandbox, "POST", FLUX, auth,
                                "{\"input\":{\"prompt\":\"x\"}}", 201));

    ai_sandbox_configure(&sandbox,
                         "{\"replicate\":{\"insufficient_credit\":true}}");
    error = ai_sandbox_json(&sandbox, "POST", FLUX, auth,
                            "{\"input\":{\"prompt\":\"x\"}}", 402);
    assert_string_equal(text_at(error, "title"), "Insufficient credit");
    json_decref(error);
}

static void list_newest_first(void **state)
{
    json_t *first;
    json_t *second;
    json_t *page;

    (void)state;
    first = ai_sandbox_json(&sandbox, "POST", FLUX, auth,
                            "{\"input\":{\"prompt\":\"first\"}}", 201);
    ai_sandbox_advance(&sandbox, 1);
    second = ai_sandbox_json(&sandbox, "POST", FLUX, auth,
                             "{\"input\":{\"prompt\":\"second\"}}", 201);
    page = ai_sandbox_json(&sandbox, "GET", PREDICTIONS, auth, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(page, "results")), 2);
    assert_string_equal(text_at(page, "results[0].id"), text_at(second, "id"));
    assert_string_equal(text_at(page, "results[1].id"), text_at(first, "id"));
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(first);
    json_decref(second);
    json_decref(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(flux_lifecycle_by_sandbox_time, reset),
        cmocka_unit_test_setup(output_size_follows_aspect_ratio, reset),
        cmocka_unit_test_setup(prefer_wait_holds_until_limit, reset),
        cmocka_unit_test_setup(versions_resolve_or_fail, reset),
        cmocka_unit_test_setup(upscaler_scales_input, reset),
        cmocka_unit_test_setup(remover_returns_alpha_png, reset),
        cmocka_unit_test_setup(edit_model_takes_image_and_prompt, reset),
        cmocka_unit_test_setup(input_urls_fail_predictions, reset),
        cmocka_unit_test_setup(failures_by_setting_and_trigger, reset),
        cmocka_unit_test_setup(cancel_and_cancel_after, reset),
        cmocka_unit_test_setup(outputs_expire_after_ttl, reset),
        cmocka_unit_test_setup(auth_errors_and_token_scheme, reset),
        cmocka_unit_test_setup(invalid_bodies_get_422, reset),
        cmocka_unit_test_setup(create_limit_and_credit, reset),
        cmocka_unit_test_setup(list_newest_first, reset),
    };

    return cmocka_run_group_tests(tests, start, stop);
}
