/*
 * Wix Media Manager, on one client: import a file from a URL and wait until
 * it is ready, upload bytes through an upload URL, read a file. Calls need
 * "Manage Media Manager". Errors are those of wix_call(). Results are new
 * JSON references the caller releases with json_decref().
 */
#ifndef SITESMITH_WIX_MEDIA_H
#define SITESMITH_WIX_MEDIA_H

#include "wix/wix.h"

#include <stddef.h>
#include <stdint.h>

struct wix_media_import {
    const char *url;              /* public http or https URL, required */
    const char *display_name;     /* file name shown in the Media Manager */
    const char *mime_type;        /* e.g. "image/png"; helps Wix's import */
    const char *media_type;       /* "IMAGE" (default), "VIDEO", ... */
    const char *parent_folder_id; /* NULL: the media root */
};

/*
 * Starts importing a file from a URL (POST /site-media/v1/files/import)
 * and returns the file descriptor in *out. Its operationStatus is usually
 * PENDING, but its id is usable at once.
 */
int wix_media_import_file(struct wix_client *client,
                          const struct wix_media_import *import, json_t **out,
                          struct error *err);

/* Reads a file descriptor (GET /site-media/v1/files/get-file-by-id). */
int wix_media_get_file(struct wix_client *client, const char *file_id,
                       json_t **out, struct error *err);

/*
 * Polls the file until its operationStatus is READY and returns it in
 * *out. FAILED fails with ERR_PERMANENT (the source may block hotlinking);
 * still PENDING after timeout_ms (monotonic clock) fails with ERR_RETRYABLE.
 */
int wix_media_wait_ready(struct wix_client *client, const char *file_id,
                         int64_t timeout_ms, json_t **out, struct error *err);

/*
 * Asks for an upload URL for one file (POST
 * /site-media/v1/files/generate-upload-url). *upload_url receives a copy
 * the caller frees.
 */
int wix_media_generate_upload_url(struct wix_client *client,
                                  const char *mime_type, const char *file_name,
                                  char **upload_url, struct error *err);

/*
 * Uploads bytes with PUT to an URL from wix_media_generate_upload_url()
 * and returns the new file descriptor in *out. The URL is signed by Wix,
 * so the access token is not sent with it.
 */
int wix_media_upload(struct wix_client *client, const char *upload_url,
                     const void *data, size_t length, const char *mime_type,
                     json_t **out, struct error *err);

#endif
