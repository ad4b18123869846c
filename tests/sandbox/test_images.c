/*
 * The sandbox's image bytes through HTTP against the real process: store
 * photos carry an ICC profile and camera EXIF for an optimizer to strip,
 * model outputs carry none, and the same seed gives the same bytes.
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

#define FLUX "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"

static struct ai_sandbox sandbox;
static const char *const wait_auth[] = {"Authorization: Bearer r8_test",
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

static int contains(const struct http_client_response *resp, const char *needle,
                    size_t length)
{
    return memmem(resp->body.data, resp->body.len, needle, length) != NULL;
}

/* Downloads a URL of this sandbox into resp; fails unless 200. */
static void download(const char *url, struct http_client_response *resp)
{
    size_t base = strlen(sandbox.base_url);

    assert_int_equal(strncmp(url, sandbox.base_url, base), 0);
    assert_int_equal(
        ai_sandbox_send(&sandbox, "GET", url + base, NULL, NULL, resp), 200);
}

/* Runs flux-schnell with this input and downloads its first output. */
static void flux_output(const char *input, struct http_client_response *resp)
{
    char body[256];
    json_t *prediction;

    snprintf(body, sizeof(body), "{\"input\":%s}", input);
    prediction = ai_sandbox_json(&sandbox, "POST", FLUX, wait_auth, body, 201);
    assert_string_equal(
        json_string_value(json_object_get(prediction, "status")), "succeeded");
    download(json_string_value(json_at(prediction, "output[0]")), resp);
    json_decref(prediction);
}

static void store_photo_has_camera_metadata(void **state)
{
    json_t *site = sandbox_proc_create_site(
        &sandbox.proc, "{\"fixture\": \"store\", \"catalog_version\": 1}");
    json_t *page;
    struct http_client_response first;
    struct http_client_response second;
    const char *url;
    char token[2048];

    (void)state;
    sandbox_proc_wix_token(
        &sandbox.proc, json_string_value(json_object_get(site, "instance_id")),
        token, sizeof(token));
    page = sandbox_proc_wix_call(&sandbox.proc, token, "POST",
                                 "/wix/stores/v1/products/query",
                                 "{\"query\":{\"paging\":{\"limit\":1}}}", 200);
    url = json_string_value(
        json_at(page, "products[0].media.mainMedia.image.url"));
    assert_non_null(url);
    assert_non_null(strstr(url, ".jpg"));

    download(url, &first);
    assert_string_equal(first.content_type, "image/jpeg");
    assert_int_equal(memcmp(first.body.data, "\xff\xd8\xff", 3), 0);
    assert_true(contains(&first, "Exif\0\0", 6));
    assert_true(contains(&first, "SandboxCam", 10));
    assert_true(contains(&first, "ICC_PROFILE", 11));

    /* The same file downloads as the same bytes. */
    download(url, &second);
    assert_int_equal(first.body.len, second.body.len);
    assert_memory_equal(first.body.data, second.body.data, first.body.len);
    http_client_response_release(&first);
    http_client_response_release(&second);
    json_decref(page);
    json_decref(site);
}

static void model_output_has_no_metadata(void **state)
{
    struct http_client_response resp;

    (void)state;
    flux_output("{\"prompt\":\"a mug\",\"output_format\":\"jpg\"}", &resp);
    assert_string_equal(resp.content_type, "image/jpeg");
    assert_int_equal(memcmp(resp.body.data, "\xff\xd8\xff", 3), 0);
    assert_false(contains(&resp, "Exif\0\0", 6));
    assert_false(contains(&resp, "SandboxCam", 10));
    assert_false(contains(&resp, "ICC_PROFILE", 11));
    http_client_response_release(&resp);

    flux_output("{\"prompt\":\"a mug\"}", &resp);
    assert_string_equal(resp.content_type, "image/webp");
    assert_int_equal(memcmp(resp.body.data, "RIFF", 4), 0);
    assert_int_equal(memcmp(resp.body.data + 8, "WEBP", 4), 0);
    http_client_response_release(&resp);
}

static void same_seed_same_bytes(void **state)
{
    struct http_client_response first;
    struct http_client_response second;
    struct http_client_response other;

    (void)state;
    flux_output("{\"prompt\":\"a vase\",\"seed\":7,\"output_format\":\"png\"}",
                &first);
    flux_output("{\"prompt\":\"a vase\",\"seed\":7,\"output_format\":\"png\"}",
                &second);
    flux_output("{\"prompt\":\"a vase\",\"seed\":8,\"output_format\":\"png\"}",
                &other);
    assert_int_equal(first.body.len, second.body.len);
    assert_memory_equal(first.body.data, second.body.data, first.body.len);
    assert_true(first.body.len != other.body.len ||
                memcmp(first.body.data, other.body.data, first.body.len) != 0);

    /* Noise keeps PNG from compressing a 1024x1024 image to a few KB. */
    assert_true(first.body.len > 500 * 1024);
    http_client_response_release(&first);
    http_client_response_release(&second);
    http_client_response_release(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_photo_has_camera_metadata),
        cmocka_unit_test(model_output_has_no_metadata),
        cmocka_unit_test(same_seed_same_bytes),
    };

    return cmocka_run_group_tests(tests, start, stop);
}
