/*
 * The sandbox's Wix Media Manager through HTTP: import (PENDING, then
 * READY or FAILED by sandbox time and polls), get in both path forms,
 * upload URLs and the PUT of bytes, the files served back, list and
 * search.
 */
#include "sandbox_proc.h"

#include "core/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static struct sandbox_proc sandbox;

struct site {
    char instance_id[64];
    char token[128];
    char image_path[256]; /* a fixture image, below sandbox.url */
    int image_width;
};

static void new_site(struct site *site)
{
    json_t *created =
        sandbox_proc_create_site(&sandbox, "{\"fixture\": \"store\"}");
    json_t *view;
    const char *url;

    snprintf(site->instance_id, sizeof(site->instance_id), "%s",
             json_string_value(json_object_get(created, "instance_id")));
    json_decref(created);
    sandbox_proc_wix_token(&sandbox, site->instance_id, site->token,
                           sizeof(site->token));
    view = sandbox_proc_site(&sandbox, site->instance_id);
    url = json_string_value(json_at(view, "media[0].url"));
    snprintf(site->image_path, sizeof(site->image_path), "%s",
             url + strlen(sandbox.url));
    site->image_width =
        (int)json_integer_value(json_at(view, "media[0].media.image.image."
                                              "width"));
    json_decref(view);
}

static json_t *wix(struct site *site, const char *method, const char *path,
                   const char *body, long status)
{
    return sandbox_proc_wix_call(&sandbox, site->token, method, path, body,
                                 status);
}

static json_t *import_url(struct site *site, const char *url, const char *extra)
{
    char body[1024];

    snprintf(body, sizeof(body), "{\"url\": \"%s\"%s%s}", url,
             extra ? ", " : "", extra ? extra : "");
    return wix(site, "POST", "/wix/site-media/v1/files/import", body, 200);
}

static const char *file_status(struct site *site, const char *id)
{
    static char status[32];
    char path[300];
    json_t *answer;

    snprintf(path, sizeof(path), "/wix/site-media/v1/files/%s", id);
    answer = wix(site, "GET", path, NULL, 200);
    snprintf(status, sizeof(status), "%s",
             json_string_value(json_at(answer, "file.operationStatus")));
    json_decref(answer);
    return status;
}

/* Polls until the status is no longer PENDING, for up to 10 s. */
static const char *settled_status(struct site *site, const char *id)
{
    for (int i = 0; i < 200; i++) {
        const char *status = file_status(site, id);

        if (strcmp(status, "PENDING") != 0)
            return status;
        usleep(50 * 1000);
    }
    return "PENDING";
}

static void own_image_url(struct site *site, char *out, size_t size)
{
    snprintf(out, size, "%s%s", sandbox.url, site->image_path);
}

static void test_import_ready_after_delay(void **state)
{
    struct site site;
    char url[512];
    char path[300];
    json_t *imported;
    json_t *answer;
    const char *id;

    (void)state;
    new_site(&site);
    own_image_url(&site, url, sizeof(url));
    sandbox_proc_configure(&sandbox, "{\"wix\":{\"media_ready_ms\":60000}}");
    imported = import_url(&site, url,
                          "\"mediaType\": \"IMAGE\", "
                          "\"displayName\": \"cover.jpg\"");
    sandbox_proc_configure(&sandbox, "{\"wix\":{\"media_ready_ms\":1000}}");
    id = json_string_value(json_at(imported, "file.id"));
    assert_string_equal(
        json_string_value(json_at(imported, "file.operationStatus")),
        "PENDING");
    assert_true(json_is_null(json_at(imported, "file.media")));
    assert_string_equal(json_string_value(json_at(imported, "file.sourceUrl")),
                        url);
    assert_string_equal(
        json_string_value(json_at(imported, "file.displayName")), "cover.jpg");
    assert_non_null(strstr(id, "~mv2."));

    usleep(300 * 1000);
    assert_string_equal(file_status(&site, id), "PENDING");
    sandbox_proc_advance(&sandbox, 61);
    assert_string_equal(settled_status(&site, id), "READY");

    snprintf(path, sizeof(path),
             "/wix/site-media/v1/files/get-file-by-id?fileId=%s", id);
    answer = wix(&site, "GET", path, NULL, 200);
    assert_int_equal(
        json_integer_value(json_at(answer, "file.media.image.image.width")),
        site.image_width);
    assert_true(json_is_string(json_at(answer, "file.url")));
    assert_true(strcmp(json_string_value(json_at(answer, "file.sizeInBytes")),
                       "0") != 0);
    json_decref(answer);
    json_decref(imported);
}

static void test_import_ready_after_polls(void **state)
{
    struct site site;
    char url[512];
    json_t *imported;
    int polls = 0;
    const char *status = "PENDING";

    (void)state;
    new_site(&site);
    own_image_url(&site, url, sizeof(url));
    sandbox_proc_configure(&sandbox, "{\"wix\":{\"media_ready_ms\":0,"
                                     "\"media_ready_polls\":3}}");
    imported = import_url(&site, url, NULL);
    while (strcmp(status, "PENDING") == 0 && polls < 200) {
        status =
            file_status(&site, json_string_value(json_at(imported, "file.id")));
        polls++;
        usleep(10 * 1000);
    }
    sandbox_proc_configure(&sandbox, "{\"wix\":{\"media_ready_ms\":1000,"
                                     "\"media_ready_polls\":0}}");
    assert_string_equal(status, "READY");
    assert_true(polls >= 3);
    json_decref(imported);
}

static void test_import_failures(void **state)
{
    static const char *const paths[] = {
        "/wixstatic/media/missing~mv2.jpg", /* 404 */
        "/__sandbox",                       /* JSON, not an image */
    };
    struct site site;
    char url[512];
    json_t *imported;

    (void)state;
    new_site(&site);
    /* The sandbox fetches from loopback only, so this ends FAILED. */
    imported = import_url(&site, "https://example.com/photo.jpg", NULL);
    sandbox_proc_advance(&sandbox, 2);
    assert_string_equal(
        settled_status(&site, json_string_value(json_at(imported, "file.id"))),
        "FAILED");
    json_decref(imported);

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        snprintf(url, sizeof(url), "%s%s", sandbox.url, paths[i]);
        imported = import_url(&site, url, NULL);
        sandbox_proc_advance(&sandbox, 2);
        assert_string_equal(settled_status(&site, json_string_value(json_at(
                                                      imported, "file.id"))),
                            "FAILED");
        json_decref(imported);
    }

    json_decref(wix(&site, "POST", "/wix/site-media/v1/files/import",
                    "{\"url\": \"ftp://example.com/a.jpg\"}", 400));
    json_decref(wix(&site, "POST", "/wix/site-media/v1/files/import",
                    "{\"url\": \"http://127.0.0.1/a.jpg\", \"mediaType\": "
                    "\"PHOTO\"}",
                    400));
}

static void test_get_file_errors(void **state)
{
    struct site site;
    json_t *answer;

    (void)state;
    new_site(&site);
    answer =
        wix(&site, "GET", "/wix/site-media/v1/files/none~mv2.jpg", NULL, 404);
    sandbox_proc_assert_wix_error(answer, "NOT_FOUND", NULL);
    json_decref(answer);
    answer =
        wix(&site, "GET", "/wix/site-media/v1/files/get-file-by-id", NULL, 400);
    sandbox_proc_assert_wix_error(answer, NULL, "fileId");
    json_decref(answer);
}

/* PUTs bytes to an upload URL made by the sandbox. */
static long put_bytes(const char *url, const void *data, size_t len,
                      struct http_client_response *resp)
{
    struct http_client_request req = {
        .method = "PUT",
        .url = url,
        .headers = {"Content-Type: application/octet-stream"},
        .body = data,
        .body_len = len,
    };
    struct error err;

    memset(resp, 0, sizeof(*resp));
    if (http_client_send(&req, resp, &err) != 0)
        fail_msg("PUT %s: %s", url, err.message);
    return resp->status;
}

static void test_upload(void **state)
{
    struct site site;
    struct http_client_response image;
    struct http_client_response put;
    struct http_client_response served;
    json_t *answer;
    json_t *uploaded;
    char url[512];
    const char *file_url;

    (void)state;
    new_site(&site);
    assert_int_equal(
        sandbox_proc_send(&sandbox, "GET", site.image_path, NULL, NULL, &image),
        200);
    answer = wix(&site, "POST", "/wix/site-media/v1/files/generate-upload-url",
                 "{\"mimeType\": \"image/jpeg\", \"fileName\": "
                 "\"optimized.jpg\"}",
                 200);
    snprintf(url, sizeof(url), "%s",
             json_string_value(json_object_get(answer, "uploadUrl")));
    json_decref(answer);
    assert_int_equal(strncmp(url, sandbox.url, strlen(sandbox.url)), 0);

    assert_int_equal(put_bytes(url, image.body.data, image.body.len, &put),
                     200);
    uploaded = json_loadb(put.body.data, put.body.len, 0, NULL);
    assert_non_null(uploaded);
    assert_string_equal(
        json_string_value(json_at(uploaded, "file.operationStatus")), "READY");
    assert_string_equal(
        json_string_value(json_at(uploaded, "file.displayName")),
        "optimized.jpg");
    assert_int_equal(
        json_integer_value(json_at(uploaded, "file.media.image.image.width")),
        site.image_width);
    http_client_response_release(&put);

    file_url = json_string_value(json_at(uploaded, "file.url"));
    assert_int_equal(sandbox_proc_send(&sandbox, "GET",
                                       file_url + strlen(sandbox.url), NULL,
                                       NULL, &served),
                     200);
    assert_int_equal(served.body.len, image.body.len);
    assert_memory_equal(served.body.data, image.body.data, image.body.len);
    http_client_response_release(&served);

    /* An upload URL takes one upload. */
    assert_int_equal(put_bytes(url, image.body.data, image.body.len, &put),
                     404);
    http_client_response_release(&put);
    http_client_response_release(&image);
    json_decref(uploaded);
}

static void test_upload_errors(void **state)
{
    struct site site;
    struct http_client_response put;
    json_t *answer;

    (void)state;
    new_site(&site);
    answer = wix(&site, "POST", "/wix/site-media/v1/files/generate-upload-url",
                 "{\"fileName\": \"x.png\"}", 400);
    sandbox_proc_assert_wix_error(answer, NULL, "mimeType");
    json_decref(answer);

    answer = wix(&site, "POST", "/wix/site-media/v1/files/generate-upload-url",
                 "{\"mimeType\": \"image/png\"}", 200);
    assert_int_equal(
        put_bytes(json_string_value(json_object_get(answer, "uploadUrl")),
                  "not an image", 12, &put),
        400);
    http_client_response_release(&put);
    json_decref(answer);
}

static void test_list_and_search(void **state)
{
    struct site site;
    char url[512];
    json_t *answer;
    char path[300];

    (void)state;
    new_site(&site);
    own_image_url(&site, url, sizeof(url));
    json_decref(import_url(&site, url,
                           "\"displayName\": \"zq-sitesmith-cover.jpg\", "
                           "\"labels\": [\"sitesmith\"]"));
    answer = wix(&site, "POST", "/wix/site-media/v1/files/search",
                 "{\"search\": \"ZQ-SITESMITH\"}", 200);
    assert_int_equal(json_array_size(json_object_get(answer, "files")), 1);
    assert_string_equal(
        json_string_value(json_at(answer, "files[0].displayName")),
        "zq-sitesmith-cover.jpg");
    json_decref(answer);
    answer =
        wix(&site, "POST", "/wix/site-media/v1/files/search",
            "{\"search\": \"sitesmith\", \"mediaTypes\": [\"VIDEO\"]}", 200);
    assert_int_equal(json_array_size(json_object_get(answer, "files")), 0);
    json_decref(answer);

    answer = wix(&site, "GET",
                 "/wix/site-media/v1/files?paging.limit=2&mediaTypes=IMAGE",
                 NULL, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "files")), 2);
    assert_true(json_integer_value(json_at(answer, "nextCursor.total")) > 200);
    snprintf(path, sizeof(path),
             "/wix/site-media/v1/files?paging.limit=2&paging.cursor=%s",
             json_string_value(json_at(answer, "nextCursor.cursors.next")));
    json_decref(answer);
    answer = wix(&site, "GET", path, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "files")), 2);
    json_decref(answer);
    json_decref(wix(&site, "GET", "/wix/site-media/v1/files?paging.limit=500",
                    NULL, 400));
}

static int start_sandbox(void **state)
{
    (void)state;
    sandbox_proc_start(&sandbox, NULL);
    return 0;
}

/* A clean exit also means no leak report under AddressSanitizer. */
static int stop_sandbox(void **state)
{
    (void)state;
    return sandbox_proc_stop(&sandbox) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_ready_after_delay),
        cmocka_unit_test(test_import_ready_after_polls),
        cmocka_unit_test(test_import_failures),
        cmocka_unit_test(test_get_file_errors),
        cmocka_unit_test(test_upload),
        cmocka_unit_test(test_upload_errors),
        cmocka_unit_test(test_list_and_search),
    };

    return cmocka_run_group_tests(tests, start_sandbox, stop_sandbox);
}
