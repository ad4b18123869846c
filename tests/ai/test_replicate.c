#include "ai/limiter.h"
#include "ai/replicate.h"
#include "ai_faults.h"
#include "ai_sandbox.h"
#include "core/clock.h"
#include "core/config.h"

#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define API_TOKEN "r8_test_sitesmith_0123456789abcdef"
#define FLUX "black-forest-labs/flux-schnell"
#define FLUX_PATH "/replicate/v1/models/" FLUX "/predictions"
#define ESRGAN                                                                 \
    "nightmareai/real-esrgan:"                                                 \
    "f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa"
#define MAX_IMAGE_BYTES (8u << 20)

static struct ai_sandbox sandbox;
static const char *const image_types[] = {"image/png", "image/webp",
                                          "image/jpeg", NULL};

static int start_sandbox(void **state)
{
    (void)state;
    ai_sandbox_start(&sandbox);
    return 0;
}

static int stop_sandbox(void **state)
{
    (void)state;
    ai_sandbox_stop(&sandbox);
    return 0;
}

/* A fresh sandbox whose predictions finish in 250 ms, and a fresh limiter
 * (after a 429, one test would pause the process-wide limiter for the
 * next). */
static int reset_sandbox(void **state)
{
    (void)state;
    ai_limiter_reset(ai_limiter_shared("replicate", 0, 0));
    ai_sandbox_reset(&sandbox);
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"starting_ms\":50,"
                                   "\"processing_ms\":200}}");
    return 0;
}

/* A client of the sandbox with the limiter off, plus NULL-ended name and
 * value pairs of settings. */
static struct replicate_client *new_client(const char *const *settings)
{
    static const char *const defaults[] = {
        "REPLICATE_API_TOKEN", API_TOKEN, "SITESMITH_REPLICATE_RPM", "0", NULL};
    struct config *cfg =
        ai_sandbox_config(&sandbox, "SITESMITH_REPLICATE_API_URL",
                          "/replicate/v1", defaults, settings);
    struct replicate_client *client;
    struct error err;

    client = replicate_client_new(cfg, &err);
    if (!client)
        fail_msg("replicate_client_new: %s", err.message);
    config_free(cfg);
    return client;
}

static int flux_creates(void)
{
    return ai_faults_count(&sandbox, "POST", FLUX_PATH, -1);
}

/* Creates a flux-schnell prediction of two 512x512 images of prompt and
 * returns what replicate_create() returns. */
static int create_flux(struct replicate_client *client, const char *prompt,
                       int wait_s, struct replicate_prediction *prediction,
                       struct error *err)
{
    json_t *input = json_pack("{s:s, s:i, s:s}", "prompt", prompt,
                              "num_outputs", 2, "megapixels", "0.25");
    struct replicate_create_request request = {
        .model = FLUX, .input = input, .wait_s = wait_s};
    int rc = replicate_create(client, &request, prediction, err);

    json_decref(input);
    return rc;
}

/* ---- Success ---- */

static void create_by_model_with_wait(void **state)
{
    struct replicate_client *client = new_client(NULL);
    struct replicate_prediction prediction;
    struct buf image;
    char type[128];
    struct error err;

    (void)state;
    assert_int_equal(
        create_flux(client, "a linen shirt on a table", 10, &prediction, &err),
        0);
    /* Prefer: wait returned the finished prediction, outputs and all. */
    assert_int_equal(prediction.status, REPLICATE_SUCCEEDED);
    assert_int_equal(prediction.output_count, 2);
    assert_true(strlen(prediction.id) > 0);

    buf_init(&image, MAX_IMAGE_BYTES);
    assert_int_equal(replicate_download(client, prediction.outputs[1],
                                        MAX_IMAGE_BYTES, image_types, &image,
                                        type, &err),
                     0);
    assert_string_equal(type, "image/webp");
    assert_string_equal(replicate_sniff_image_type(image.data, image.len),
                        "image/webp");
    assert_int_equal(flux_creates(), 1);

    buf_free(&image);
    replicate_prediction_release(&prediction);
    replicate_client_free(client);
}

static void create_by_version_then_poll(void **state)
{
    struct replicate_client *client = new_client(NULL);
    struct replicate_prediction source;
    struct replicate_prediction created;
    struct replicate_prediction done;
    struct replicate_create_request request = {.version = ESRGAN};
    struct buf image;
    char type[128];
    struct error err;

    (void)state;
    assert_int_equal(create_flux(client, "a vase", 10, &source, &err), 0);
    request.input =
        json_pack("{s:s, s:i}", "image", source.outputs[0], "scale", 2);
    assert_int_equal(replicate_create(client, &request, &created, &err), 0);
    assert_int_equal(created.status, REPLICATE_STARTING);
    assert_int_equal(created.output_count, 0);

    /* The caller records created.id here, then waits on it. */
    assert_int_equal(replicate_wait(client, created.id, &done, &err), 0);
    assert_string_equal(done.id, created.id);
    assert_int_equal(done.status, REPLICATE_SUCCEEDED);
    /* real-esrgan returns one URL, not a list. */
    assert_int_equal(done.output_count, 1);
    assert_true(ai_faults_count(&sandbox, "GET", "/replicate/v1/predictions/",
                                200) >= 1);
    assert_int_equal(
        ai_faults_count(&sandbox, "POST", "/replicate/v1/predictions", -1), 1);

    buf_init(&image, MAX_IMAGE_BYTES);
    if (replicate_download(client, done.outputs[0], MAX_IMAGE_BYTES,
                           image_types, &image, type, &err) != 0)
        fail_msg("download: %s", err.message);
    assert_string_equal(type, "image/png");

    /* Waiting again, as a retried step would, polls the same prediction. */
    replicate_prediction_release(&done);
    assert_int_equal(replicate_wait(client, created.id, &done, &err), 0);
    assert_int_equal(done.output_count, 1);
    assert_int_equal(
        ai_faults_count(&sandbox, "POST", "/replicate/v1/predictions", -1), 1);

    buf_free(&image);
    json_decref((json_t *)request.input);
    replicate_prediction_release(&source);
    replicate_prediction_release(&created);
    replicate_prediction_release(&done);
    replicate_client_free(client);
}

static void polls_retried_after_server_errors(void **state)
{
    struct replicate_client *client = new_client(NULL);
    struct replicate_prediction created;
    struct replicate_prediction done;
    struct error err;

    (void)state;
    assert_int_equal(create_flux(client, "a lamp", 0, &created, &err), 0);
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"GET /replicate/v1/predictions/*\","
                   "\"status\":503,\"count\":2}");
    assert_int_equal(replicate_wait(client, created.id, &done, &err), 0);
    assert_int_equal(done.status, REPLICATE_SUCCEEDED);
    assert_int_equal(
        ai_faults_count(&sandbox, "GET", "/replicate/v1/predictions/", 503), 2);

    replicate_prediction_release(&created);
    replicate_prediction_release(&done);
    replicate_client_free(client);
}

/* ---- Final states that are errors ---- */

static void failed_prediction_reported(void **state)
{
    struct replicate_client *client = new_client(NULL);
    struct replicate_prediction created;
    struct replicate_prediction done;
    struct error err;

    (void)state;
    assert_int_equal(
        create_flux(client, "a shirt [sandbox:fail]", 0, &created, &err), 0);
    assert_int_equal(replicate_wait(client, created.id, &done, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.code, REPLICATE_ERR_FAILED);
    assert_non_null(strstr(err.message, "(E005)"));
    assert_int_equal(done.status, REPLICATE_FAILED);
    assert_non_null(done.error);

    replicate_prediction_release(&created);
    replicate_prediction_release(&done);
    replicate_client_free(client);
}

static void cancelled_prediction_reported(void **state)
{
    struct replicate_client *client = new_client(NULL);
    struct replicate_prediction created;
    struct replicate_prediction done;
    struct error err;

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"processing_ms\":30000}}");
    assert_int_equal(create_flux(client, "a chair", 0, &created, &err), 0);
    assert_int_equal(replicate_cancel(client, created.id, &err), 0);
    assert_int_equal(replicate_wait(client, created.id, &done, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.code, REPLICATE_ERR_CANCELED);
    assert_int_equal(done.status, REPLICATE_CANCELED);

    replicate_prediction_release(&created);
    replicate_prediction_release(&done);
    replicate_client_free(client);
}

static void aborted_prediction_reported(void **state)
{
    struct replicate_client *client = new_client(NULL);
    json_t *input = json_pack("{s:s}", "prompt", "a rug");
    struct replicate_create_request request = {
        .model = FLUX, .input = input, .cancel_after_s = 5};
    struct replicate_prediction created;
    struct replicate_prediction done;
    struct error err;

    (void)state;
    /* The deadline passes while the prediction is still starting. */
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"starting_ms\":60000}}");
    assert_int_equal(replicate_create(client, &request, &created, &err), 0);
    ai_sandbox_advance(&sandbox, 6);
    assert_int_equal(replicate_wait(client, created.id, &done, &err), -1);
    assert_string_equal(err.code, REPLICATE_ERR_ABORTED);
    assert_int_equal(done.status, REPLICATE_ABORTED);

    json_decref(input);
    replicate_prediction_release(&created);
    replicate_prediction_release(&done);
    replicate_client_free(client);
}

static void wait_timeout_cancels(void **state)
{
    const char *const settings[] = {"SITESMITH_REPLICATE_WAIT_TIMEOUT", "1s",
                                    NULL};
    struct replicate_client *client = new_client(settings);
    struct replicate_prediction created;
    struct replicate_prediction done;
    struct error err;
    char cancel_path[200];

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"processing_ms\":30000}}");
    assert_int_equal(create_flux(client, "a desk", 0, &created, &err), 0);
    assert_int_equal(replicate_wait(client, created.id, &done, &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, REPLICATE_ERR_TIMEOUT);
    assert_non_null(strstr(err.message, "cancelled it"));
    snprintf(cancel_path, sizeof(cancel_path),
             "/replicate/v1/predictions/%s/cancel", created.id);
    assert_int_equal(ai_faults_count(&sandbox, "POST", cancel_path, 200), 1);

    /* A later wait on the same id finds it cancelled. */
    replicate_prediction_release(&done);
    assert_int_equal(replicate_wait(client, created.id, &done, &err), -1);
    assert_string_equal(err.code, REPLICATE_ERR_CANCELED);

    replicate_prediction_release(&created);
    replicate_prediction_release(&done);
    replicate_client_free(client);
}

static void expired_output_reported(void **state)
{
    struct replicate_client *client = new_client(NULL);
    struct replicate_prediction created;
    struct replicate_prediction done;
    struct buf image;
    char type[128];
    struct error err;

    (void)state;
    assert_int_equal(create_flux(client, "a teapot", 10, &created, &err), 0);
    assert_int_equal(created.status, REPLICATE_SUCCEEDED);

    /* Outputs are deleted an hour after the prediction. */
    ai_sandbox_advance(&sandbox, 3601);
    buf_init(&image, MAX_IMAGE_BYTES);
    assert_int_equal(replicate_download(client, created.outputs[0],
                                        MAX_IMAGE_BYTES, image_types, &image,
                                        type, &err),
                     -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.code, REPLICATE_ERR_OUTPUT_EXPIRED);
    assert_non_null(strstr(err.message, "create a new one"));
    assert_int_equal(image.len, 0);

    assert_int_equal(replicate_wait(client, created.id, &done, &err), -1);
    assert_string_equal(err.code, REPLICATE_ERR_OUTPUT_EXPIRED);
    assert_true(done.data_removed);

    buf_free(&image);
    replicate_prediction_release(&created);
    replicate_prediction_release(&done);
    replicate_client_free(client);
}

/* ---- Creates that must not be sent twice ---- */

/* Runs a create that must fail with a prediction possibly made. */
static void expect_create_unknown(const char *const *settings)
{
    struct replicate_client *client = new_client(settings);
    struct replicate_prediction created;
    struct error err;

    if (create_flux(client, "a bowl", 0, &created, &err) != -1)
        fail_msg("create succeeded after %d sends", flux_creates());
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, REPLICATE_ERR_CREATE_UNKNOWN);
    assert_non_null(strstr(err.message, "may"));
    assert_int_equal(flux_creates(), 1);

    replicate_prediction_release(&created);
    replicate_client_free(client);
}

static void create_timeout_not_repeated(void **state)
{
    const char *const settings[] = {"SITESMITH_REPLICATE_REQUEST_TIMEOUT",
                                    "300ms", NULL};
    json_t *list;

    (void)state;
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " FLUX_PATH "\",\"mode\":\"delay\","
                   "\"delay_ms\":1000}");
    expect_create_unknown(settings);

    /* The slow create did make a prediction: sending it again would have
     * made (and billed) a second one. */
    clock_sleep_ms(1200);
    list = ai_sandbox_json(
        &sandbox, "GET", "/replicate/v1/predictions",
        (const char *const[]){"Authorization: Bearer " API_TOKEN, NULL}, NULL,
        200);
    assert_int_equal(json_array_size(json_object_get(list, "results")), 1);
    assert_int_equal(flux_creates(), 1);
    json_decref(list);
}

static void dropped_create_not_repeated(void **state)
{
    (void)state;
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " FLUX_PATH "\",\"mode\":\"drop\"}");
    expect_create_unknown(NULL);
}

static void server_error_create_not_repeated(void **state)
{
    (void)state;
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " FLUX_PATH "\",\"status\":500}");
    expect_create_unknown(NULL);
}

static void rate_limited_create_waits(void **state)
{
    struct replicate_client *client = new_client(NULL);
    struct replicate_prediction created;
    struct error err;
    int64_t start = clock_monotonic_ms();

    (void)state;
    ai_faults_addf(&sandbox,
                   "{\"endpoint\":\"POST " FLUX_PATH "\",\"status\":429,"
                   "\"retry_after_s\":1}");
    assert_int_equal(create_flux(client, "a cup", 0, &created, &err), 0);
    assert_true(clock_monotonic_ms() - start >= 1000);
    assert_int_equal(ai_faults_count(&sandbox, "POST", FLUX_PATH, 429), 1);
    assert_int_equal(ai_faults_count(&sandbox, "POST", FLUX_PATH, 201), 1);

    replicate_prediction_release(&created);
    replicate_client_free(client);
}

/* Moves the sandbox clock to one second into the next sandbox minute, so
 * that a per-minute window has 59 s left. */
static void align_sandbox_minute(void)
{
    json_t *clock =
        ai_sandbox_json(&sandbox, "GET", "/__sandbox/clock", NULL, NULL, 200);
    int64_t now = json_integer_value(json_object_get(clock, "now_ms"));
    char body[64];

    snprintf(body, sizeof(body), "{\"advance_ms\":%lld}",
             (long long)(60000 - now % 60000 + 1000));
    json_decref(clock);
    json_decref(
        ai_sandbox_json(&sandbox, "POST", "/__sandbox/clock", NULL, body, 200));
}

static void long_rate_limit_returned(void **state)
{
    const char *const settings[] = {"SITESMITH_AI_LIMIT_MAX_WAIT", "5s", NULL};
    struct replicate_client *client = new_client(settings);
    struct replicate_prediction first;
    struct replicate_prediction second;
    struct error err;

    (void)state;
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"create_rpm\":1}}");
    align_sandbox_minute();
    assert_int_equal(create_flux(client, "a plate", 0, &first, &err), 0);
    assert_int_equal(create_flux(client, "a fork", 0, &second, &err), -1);
    assert_int_equal(err.kind, ERR_RATE_LIMITED);
    assert_int_equal(err.http_status, 429);
    assert_in_range(err.retry_after_ms, 50000, 60000);
    assert_int_equal(flux_creates(), 2);

    replicate_prediction_release(&first);
    replicate_prediction_release(&second);
    replicate_client_free(client);
}

static void connection_refused_retried(void **state)
{
    const char *const settings[] = {"SITESMITH_REPLICATE_API_URL",
                                    "http://127.0.0.1:1/v1", NULL};
    struct replicate_client *client = new_client(settings);
    struct replicate_prediction created;
    struct error err;
    int64_t start = clock_monotonic_ms();

    (void)state;
    assert_int_equal(create_flux(client, "a spoon", 0, &created, &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.code, "connect");
    /* Nothing reached Replicate, so the create was sent again after 0.5 s
     * and 1 s (less jitter). */
    assert_true(clock_monotonic_ms() - start >= 1125);

    replicate_prediction_release(&created);
    replicate_client_free(client);
}

/* ---- Errors that are the caller's to fix ---- */

static void expect_create_error(const char *model, const char *input_json,
                                enum error_kind kind, const char *phrase)
{
    struct replicate_client *client = new_client(NULL);
    json_t *input = json_loads(input_json, 0, NULL);
    struct replicate_create_request request = {.model = model, .input = input};
    struct replicate_prediction created;
    struct error err;

    assert_int_equal(replicate_create(client, &request, &created, &err), -1);
    assert_int_equal(err.kind, kind);
    if (!strstr(err.message, phrase))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, phrase);
    assert_int_equal(
        ai_faults_count(&sandbox, "POST", "/replicate/v1/models/", -1), 1);

    json_decref(input);
    replicate_prediction_release(&created);
    replicate_client_free(client);
}

static void wrong_token_rejected(void **state)
{
    (void)state;
    ai_sandbox_configure(&sandbox, "{\"replicate\":{\"api_token\":"
                                   "\"r8_the_right_token_0123456789\"}}");
    expect_create_error(FLUX, "{\"prompt\":\"a hat\"}", ERR_UNAUTHORIZED,
                        "check REPLICATE_API_TOKEN");
}

static void insufficient_credit_rejected(void **state)
{
    (void)state;
    ai_sandbox_configure(&sandbox,
                         "{\"replicate\":{\"insufficient_credit\":true}}");
    expect_create_error(FLUX, "{\"prompt\":\"a hat\"}", ERR_PERMANENT,
                        "add credit to the Replicate account");
}

static void invalid_input_rejected(void **state)
{
    (void)state;
    expect_create_error(FLUX, "{\"prompt\":\"a hat\",\"aspect_ratio\":\"7:3\"}",
                        ERR_INVALID, "aspect_ratio");
}

static void unknown_model_rejected(void **state)
{
    (void)state;
    expect_create_error("nobody/nothing", "{\"prompt\":\"a hat\"}",
                        ERR_NOT_FOUND, "check the model name");
}

static void bad_request_fields_rejected(void **state)
{
    struct replicate_client *client = new_client(NULL);
    json_t *input = json_pack("{s:s}", "prompt", "a hat");
    struct replicate_create_request both = {
        .model = FLUX, .version = ESRGAN, .input = input};
    struct replicate_create_request bad_name = {.model = "flux",
                                                .input = input};
    struct replicate_create_request bad_wait = {
        .model = FLUX, .input = input, .wait_s = 61};
    struct replicate_prediction created;
    struct error err;

    (void)state;
    assert_int_equal(replicate_create(client, &both, &created, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(replicate_create(client, &bad_name, &created, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(replicate_create(client, &bad_wait, &created, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(replicate_wait(client, "../x", &created, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(flux_creates(), 0);

    json_decref(input);
    replicate_client_free(client);
}

/* ---- Downloads ---- */

static void download_checks_size_and_type(void **state)
{
    struct replicate_client *client = new_client(NULL);
    const char *const png_only[] = {"image/png", NULL};
    struct replicate_prediction created;
    struct buf image;
    char type[128];
    struct error err;

    (void)state;
    assert_int_equal(create_flux(client, "a box", 10, &created, &err), 0);
    buf_init(&image, MAX_IMAGE_BYTES);

    assert_int_equal(replicate_download(client, created.outputs[0], 100,
                                        image_types, &image, type, &err),
                     -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.code, "too_large");

    assert_int_equal(replicate_download(client, created.outputs[0],
                                        MAX_IMAGE_BYTES, png_only, &image, type,
                                        &err),
                     -1);
    assert_string_equal(err.code, REPLICATE_ERR_OUTPUT_TYPE);
    assert_non_null(strstr(err.message, "image/webp"));
    assert_int_equal(image.len, 0);

    buf_free(&image);
    replicate_prediction_release(&created);
    replicate_client_free(client);
}

/* Downloads a data: URL of bytes labelled type. */
static int download_data_url(struct replicate_client *client, const char *type,
                             const void *bytes, size_t len, struct buf *out,
                             char content_type[128], struct error *err)
{
    size_t size =
        sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *url = malloc(size + 64);
    int rc;

    assert_non_null(url);
    rc = snprintf(url, 64, "data:%s;base64,", type);
    sodium_bin2base64(url + rc, size, bytes, len,
                      sodium_base64_VARIANT_ORIGINAL);
    rc = replicate_download(client, url, 1024, image_types, out, content_type,
                            err);
    free(url);
    return rc;
}

static void data_url_decoded_and_sniffed(void **state)
{
    static const unsigned char png[] = {0x89, 'P',  'N', 'G', '\r', '\n',
                                        0x1a, '\n', 0,   0,   0,    13};
    struct replicate_client *client = new_client(NULL);
    struct buf out;
    char type[128];
    struct error err;

    (void)state;
    buf_init(&out, 1024);
    assert_int_equal(download_data_url(client, "image/png", png, sizeof(png),
                                       &out, type, &err),
                     0);
    assert_string_equal(type, "image/png");
    assert_int_equal(out.len, sizeof(png));
    assert_memory_equal(out.data, png, sizeof(png));

    /* Text labelled as a PNG is rejected by its first bytes. */
    buf_reset(&out);
    assert_int_equal(
        download_data_url(client, "image/png", "<html>", 6, &out, type, &err),
        -1);
    assert_string_equal(err.code, REPLICATE_ERR_OUTPUT_TYPE);
    assert_int_equal(out.len, 0);

    buf_free(&out);
    replicate_client_free(client);
}

/* ---- Client-side limits ---- */

static void limiter_stops_creates(void **state)
{
    /* 40 a minute: a burst of 2, then one every 1.5 s, longer than the
     * 100 ms a call may wait. */
    const char *const settings[] = {"SITESMITH_REPLICATE_RPM", "40",
                                    "SITESMITH_AI_LIMIT_MAX_WAIT", "100ms",
                                    NULL};
    struct replicate_client *client = new_client(settings);
    struct replicate_prediction created;
    struct error err;

    (void)state;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(create_flux(client, "a pen", 0, &created, &err), 0);
        replicate_prediction_release(&created);
    }
    assert_int_equal(create_flux(client, "a pen", 0, &created, &err), -1);
    assert_int_equal(err.kind, ERR_RATE_LIMITED);
    assert_string_equal(err.code, "client_rate_limit");
    assert_in_range(err.retry_after_ms, 1000, 1600);
    assert_int_equal(flux_creates(), 2);

    replicate_prediction_release(&created);
    replicate_client_free(client);
}

static void missing_token_rejected(void **state)
{
    struct config *cfg = config_new_empty();
    struct error err;

    (void)state;
    assert_null(replicate_client_new(cfg, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "REPLICATE_API_TOKEN"));
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(create_by_model_with_wait, reset_sandbox),
        cmocka_unit_test_setup(create_by_version_then_poll, reset_sandbox),
        cmocka_unit_test_setup(polls_retried_after_server_errors,
                               reset_sandbox),
        cmocka_unit_test_setup(failed_prediction_reported, reset_sandbox),
        cmocka_unit_test_setup(cancelled_prediction_reported, reset_sandbox),
        cmocka_unit_test_setup(aborted_prediction_reported, reset_sandbox),
        cmocka_unit_test_setup(wait_timeout_cancels, reset_sandbox),
        cmocka_unit_test_setup(expired_output_reported, reset_sandbox),
        cmocka_unit_test_setup(create_timeout_not_repeated, reset_sandbox),
        cmocka_unit_test_setup(dropped_create_not_repeated, reset_sandbox),
        cmocka_unit_test_setup(server_error_create_not_repeated, reset_sandbox),
        cmocka_unit_test_setup(rate_limited_create_waits, reset_sandbox),
        cmocka_unit_test_setup(long_rate_limit_returned, reset_sandbox),
        cmocka_unit_test_setup(connection_refused_retried, reset_sandbox),
        cmocka_unit_test_setup(wrong_token_rejected, reset_sandbox),
        cmocka_unit_test_setup(insufficient_credit_rejected, reset_sandbox),
        cmocka_unit_test_setup(invalid_input_rejected, reset_sandbox),
        cmocka_unit_test_setup(unknown_model_rejected, reset_sandbox),
        cmocka_unit_test_setup(bad_request_fields_rejected, reset_sandbox),
        cmocka_unit_test_setup(download_checks_size_and_type, reset_sandbox),
        cmocka_unit_test(data_url_decoded_and_sniffed),
        cmocka_unit_test_setup(limiter_stops_creates, reset_sandbox),
        cmocka_unit_test(missing_token_rejected),
    };

    return cmocka_run_group_tests(tests, start_sandbox, stop_sandbox);
}
