#include "wix/media.h"

#include "core/clock.h"
#include "wix/call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Polling starts fast and slows down to this interval. */
#define POLL_FIRST_MS 250
#define POLL_MAX_MS 2000

static int set_optional(json_t *body, const char *key, const char *value)
{
    if (!value || !value[0])
        return 0;
    return json_object_set_new(body, key, json_string(value));
}

int wix_media_import_file(struct wix_client *client,
                          const struct wix_media_import *import, json_t **out,
                          struct error *err)
{
    json_t *body;
    json_t *response;
    int rc;

    *out = NULL;
    if (!import->url || (strncmp(import->url, "https://", 8) != 0 &&
                         strncmp(import->url, "http://", 7) != 0))
        return error_set(err, ERR_INVALID,
                         "import media: the source URL is missing or not "
                         "an http(s) URL");
    body = json_pack("{s:s, s:s}", "url", import->url, "mediaType",
                     import->media_type ? import->media_type : "IMAGE");
    if (!body || set_optional(body, "displayName", import->display_name) ||
        set_optional(body, "mimeType", import->mime_type) ||
        set_optional(body, "parentFolderId", import->parent_folder_id)) {
        json_decref(body);
        return error_set(err, ERR_RETRYABLE, "out of memory");
    }
    rc = wix_call(client, "POST", "/site-media/v1/files/import", body,
                  WIX_PERMISSION_MEDIA, &response, err);
    json_decref(body);
    if (rc < 0)
        return -1;
    return wix_take_member(response, "file", "import media", out, err);
}

int wix_media_get_file(struct wix_client *client, const char *file_id,
                       json_t **out, struct error *err)
{
    char path[1024];
    json_t *response;

    *out = NULL;
    if (wix_path(path, sizeof(path),
                 "/site-media/v1/files/get-file-by-id?fileId=", file_id, "",
                 "get media file", err) < 0 ||
        wix_call(client, "GET", path, NULL, WIX_PERMISSION_MEDIA, &response,
                 err) < 0)
        return -1;
    return wix_take_member(response, "file", "get media file", out, err);
}

int wix_media_wait_ready(struct wix_client *client, const char *file_id,
                         int64_t timeout_ms, json_t **out, struct error *err)
{
    int64_t deadline = clock_monotonic_ms() + timeout_ms;
    int64_t pause = POLL_FIRST_MS;

    for (;;) {
        const char *value;
        char status[32];

        if (wix_media_get_file(client, file_id, out, err) < 0)
            return -1;
        /* A copy, because the file is released before the checks below. */
        value = json_string_value(json_object_get(*out, "operationStatus"));
        snprintf(status, sizeof(status), "%s", value ? value : "");
        if (strcmp(status, "READY") == 0)
            return 0;
        json_decref(*out);
        *out = NULL;
        if (strcmp(status, "FAILED") == 0)
            return error_set(err, ERR_PERMANENT,
                             "media file %s on site %s failed to import: "
                             "Wix could not fetch the source URL (it may "
                             "block hotlinking)",
                             file_id, wix_client_instance_id(client));
        if (clock_monotonic_ms() + pause > deadline)
            return error_set(err, ERR_RETRYABLE,
                             "media file %s on site %s is still %s after "
                             "%lld ms",
                             file_id, wix_client_instance_id(client),
                             status[0] ? status : "without a status",
                             (long long)timeout_ms);
        clock_sleep_ms(pause);
        pause = pause * 2 > POLL_MAX_MS ? POLL_MAX_MS : pause * 2;
    }
}

int wix_media_generate_upload_url(struct wix_client *client,
                                  const char *mime_type, const char *file_name,
                                  char **upload_url, struct error *err)
{
    json_t *body;
    json_t *response;
    const char *url;
    int rc;

    *upload_url = NULL;
    if (!mime_type || !file_name || !mime_type[0] || !file_name[0])
        return error_set(err, ERR_INVALID,
                         "generate upload URL: mime type and file name are "
                         "required");
    body =
        json_pack("{s:s, s:s}", "mimeType", mime_type, "fileName", file_name);
    if (!body)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    rc = wix_call(client, "POST", "/site-media/v1/files/generate-upload-url",
                  body, WIX_PERMISSION_MEDIA, &response, err);
    json_decref(body);
    if (rc < 0)
        return -1;
    url = json_string_value(json_object_get(response, "uploadUrl"));
    if (url)
        *upload_url = strdup(url);
    json_decref(response);
    if (!url)
        return error_set(err, ERR_RETRYABLE,
                         "generate upload URL: Wix's response has no "
                         "uploadUrl");
    return *upload_url ? 0 : error_set(err, ERR_RETRYABLE, "out of memory");
}

int wix_media_upload(struct wix_client *client, const char *upload_url,
                     const void *data, size_t length, const char *mime_type,
                     json_t **out, struct error *err)
{
    json_t *response;

    *out = NULL;
    if (wix_put_signed(client, upload_url, data, length, mime_type, &response,
                       err) < 0)
        return -1;
    return wix_take_member(response, "file", "upload file", out, err);
}
