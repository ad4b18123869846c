/*
 * Wix Media Manager: import a file from a URL (PENDING, then READY or
 * FAILED), get, list and search files, generate an upload URL and take
 * the PUT of the bytes, and serve every file's bytes under
 * /wixstatic/media/ID, the sandbox's stand-in for static.wixstatic.com.
 *
 * A site's media table maps a file id to an entry:
 *   {"file": <descriptor without URLs>, "width", "height", "mime_type",
 *    "fetch": "pending"|"ok"|"failed", "fail_reason", "ready_at_ms",
 *    "polls", "generated": {"format"} | null}
 * An import fetches its URL on a thread of its own, and only from
 * loopback addresses: the sandbox never sends traffic elsewhere, so any
 * other URL ends FAILED, like a host that blocks hotlinking.
 */
#include "images.h"
#include "wix.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "http/client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FETCH_TIMEOUT_MS 15000
#define LIST_PAGE_DEFAULT 50
#define LIST_PAGE_MAX 100

/* ---- blobs ---- */

struct wix_blob *wix_blob_find(struct sandbox_wix *wix, const char *id)
{
    for (size_t i = 0; i < wix->blob_count; i++) {
        if (strcmp(wix->blobs[i].id, id) == 0)
            return &wix->blobs[i];
    }
    return NULL;
}

int wix_blob_put(struct sandbox_wix *wix, const char *id,
                 const char *content_type, const void *data, size_t len)
{
    struct wix_blob *blob = wix_blob_find(wix, id);
    unsigned char *copy = malloc(len ? len : 1);

    if (!copy)
        return -1;
    memcpy(copy, data, len);
    if (!blob) {
        if (wix->blob_count == wix->blob_cap) {
            size_t cap = wix->blob_cap ? wix->blob_cap * 2 : 64;
            struct wix_blob *grown = realloc(wix->blobs, cap * sizeof(*grown));

            if (!grown) {
                free(copy);
                return -1;
            }
            wix->blobs = grown;
            wix->blob_cap = cap;
        }
        blob = &wix->blobs[wix->blob_count++];
        *blob = (struct wix_blob){.id = strdup(id)};
    }
    free(blob->data);
    blob->data = copy;
    blob->len = len;
    snprintf(blob->content_type, sizeof(blob->content_type), "%s",
             content_type);
    return 0;
}

void wix_blobs_clear(struct sandbox_wix *wix)
{
    for (size_t i = 0; i < wix->blob_count; i++) {
        free(wix->blobs[i].id);
        free(wix->blobs[i].data);
    }
    wix->blob_count = 0;
}

json_t *wix_blobs_save(struct sandbox_wix *wix)
{
    json_t *out = json_object();

    for (size_t i = 0; i < wix->blob_count; i++) {
        const struct wix_blob *blob = &wix->blobs[i];
        size_t size = crypto_base64url_size(blob->len);
        char *text = malloc(size);

        if (!text)
            continue;
        crypto_base64url_encode(blob->data, blob->len, text, size);
        json_object_set_new(out, blob->id,
                            json_pack("{ss ss}", "content_type",
                                      blob->content_type, "data", text));
        free(text);
    }
    return out;
}

int wix_blobs_load(struct sandbox_wix *wix, const json_t *saved,
                   struct error *err)
{
    const char *id;
    json_t *blob;

    json_object_foreach((json_t *)saved, id, blob)
    {
        const char *type =
            json_string_value(json_object_get(blob, "content_type"));
        const char *text = json_string_value(json_object_get(blob, "data"));
        size_t size = text ? strlen(text) + 4 : 0;
        unsigned char *data = text ? malloc(size) : NULL;
        long length =
            data ? crypto_base64url_decode(text, strlen(text), data, size) : -1;

        if (!type || length < 0 ||
            wix_blob_put(wix, id, type, data, (size_t)length) != 0) {
            free(data);
            return error_set(err, ERR_INVALID, "blobs.%s: not a saved file",
                             id);
        }
        free(data);
    }
    return 0;
}

/* ---- entries and descriptors ---- */

static const char *extension_format(const char *file_id)
{
    const char *dot = strrchr(file_id, '.');

    if (!dot)
        return "jpeg";
    if (strcasecmp(dot, ".png") == 0)
        return "png";
    if (strcasecmp(dot, ".webp") == 0)
        return "webp";
    return "jpeg";
}

static const char *format_mime(const char *format)
{
    if (strcmp(format, "png") == 0)
        return "image/png";
    if (strcmp(format, "webp") == 0)
        return "image/webp";
    return "image/jpeg";
}

static json_t *file_base(struct sandbox *sb, struct wix_site *site,
                         const char *id, const char *display_name,
                         const char *status)
{
    char when[32];
    char hash[65];

    wix_now_iso(sb, when);
    crypto_sha256_hex(id, strlen(id), hash);
    hash[32] = '\0';
    return json_pack("{ss ss ss ss ss sb ss ss sn s[] ss ss ss ss}", "id", id,
                     "displayName", display_name, "parentFolderId",
                     "media-root", "hash", hash, "sizeInBytes", "0", "private",
                     0, "mediaType", "IMAGE", "operationStatus", status,
                     "sourceUrl", "labels", "createdDate", when, "updatedDate",
                     when, "siteId", wix_site_string(site, "site_id"), "state",
                     "OK");
}

json_t *wix_media_add_generated(struct sandbox *sb, struct wix_site *site,
                                const char *file_id, const char *display_name,
                                int width, int height)
{
    json_t *media = wix_site_own(site, "media");
    json_t *entry = json_object_get(media, file_id);
    const char *format = extension_format(file_id);

    if (entry)
        return entry;
    entry =
        json_pack("{so si si ss ss sI sI s{ss}}", "file",
                  file_base(sb, site, file_id, display_name, "READY"), "width",
                  width, "height", height, "mime_type", format_mime(format),
                  "fetch", "ok", "ready_at_ms", (json_int_t)0, "polls",
                  (json_int_t)0, "generated", "format", format);
    json_object_set_new(media, file_id, entry);
    return entry;
}

/* "wix:image://v1/<id>/<name>#..." names the same file as "<id>". */
static void plain_file_id(const char *text, char *out, size_t size)
{
    static const char prefix[] = "wix:image://v1/";

    if (strncmp(text, prefix, sizeof(prefix) - 1) == 0) {
        text += sizeof(prefix) - 1;
        snprintf(out, size, "%.*s", (int)strcspn(text, "/#"), text);
    } else {
        snprintf(out, size, "%s", text);
    }
}

json_t *wix_media_lookup(struct sandbox *sb, struct wix_site *site,
                         const char *file_id, int poll)
{
    char id[256];
    json_t *entry;
    json_t *file;
    const char *fetch;
    int64_t polls;
    int ready_time;

    plain_file_id(file_id, id, sizeof(id));
    entry = json_object_get(json_object_get(site->state, "media"), id);
    file = json_object_get(entry, "file");
    if (!entry ||
        strcmp(json_string_value(json_object_get(file, "operationStatus")),
               "PENDING") != 0)
        return entry;

    /* Only imports are PENDING, and they live in the site's own table. */
    entry = json_object_get(wix_site_own(site, "media"), id);
    file = json_object_get(entry, "file");
    polls = json_integer_value(json_object_get(entry, "polls")) + (poll != 0);
    json_object_set_new(entry, "polls", json_integer(polls));
    fetch = json_string_value(json_object_get(entry, "fetch"));
    ready_time = sandbox_now_ms(sb) >=
                 json_integer_value(json_object_get(entry, "ready_at_ms"));
    if (ready_time && strcmp(fetch, "failed") == 0)
        json_object_set_new(file, "operationStatus", json_string("FAILED"));
    else if (ready_time && strcmp(fetch, "ok") == 0 &&
             polls >= wix_of(sb)->settings.media_ready_polls)
        json_object_set_new(file, "operationStatus", json_string("READY"));
    return entry;
}

json_t *wix_media_descriptor(struct sandbox *sb, const struct wix_site *site,
                             const json_t *entry)
{
    json_t *file = json_deep_copy(json_object_get(entry, "file"));
    const char *id = json_string_value(json_object_get(file, "id"));
    char url[512];
    char thumbnail[600];
    json_t *image;

    wix_media_url(sb, id, url, sizeof(url));
    snprintf(thumbnail, sizeof(thumbnail), "%s/v1/fit/w_50,h_50,q_90/file.jpg",
             url);
    json_object_set_new(file, "url", json_string(url));
    json_object_set_new(file, "thumbnailUrl", json_string(thumbnail));
    json_object_set_new(file, "siteId",
                        json_string(wix_site_string(site, "site_id")));
    if (strcmp(json_string_value(json_object_get(file, "operationStatus")),
               "READY") != 0) {
        json_object_set_new(file, "media", json_null());
        return file;
    }
    image = json_pack("{ss ss sO sO sO sO}", "id", id, "url", url, "width",
                      json_object_get(entry, "width"), "height",
                      json_object_get(entry, "height"), "filename",
                      json_object_get(file, "displayName"), "sizeInBytes",
                      json_object_get(file, "sizeInBytes"));
    json_object_set_new(file, "media",
                        json_pack("{s{so sn s[] sO}}", "image", "image", image,
                                  "colors", "faces", "previewImage", image));
    return file;
}

/* ---- import ---- */

struct fetch_job {
    struct sandbox *sb;
    char instance_id[64];
    char file_id[160];
    char *url;
    int64_t generation;
};

/* True for http://127.x.x.x, http://localhost and http://[::1] URLs. */
static int url_is_loopback(const char *url)
{
    const char *host;
    char name[64];
    size_t length;
    unsigned char addr[16];

    if (strncmp(url, "http://", 7) != 0)
        return 0;
    host = url + 7;
    if (*host == '[') {
        length = strcspn(host + 1, "]");
        if (length >= sizeof(name))
            return 0;
        snprintf(name, sizeof(name), "%.*s", (int)length, host + 1);
        return inet_pton(AF_INET6, name, addr) == 1 &&
               memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
    }
    length = strcspn(host, ":/?#");
    if (length == 0 || length >= sizeof(name))
        return 0;
    snprintf(name, sizeof(name), "%.*s", (int)length, host);
    if (strcasecmp(name, "localhost") == 0)
        return 1;
    return inet_pton(AF_INET, name, addr) == 1 && addr[0] == 127;
}

/* Records a fetch result on the entry, unless a reset came in between.
 * Lock held. */
static void finish_fetch(struct fetch_job *job, const char *reason,
                         const struct buf *bytes, const char *mime, int width,
                         int height)
{
    struct sandbox_wix *wix = wix_of(job->sb);
    struct wix_site *site = wix_site_find(wix, job->instance_id);
    json_t *entry = site
                        ? json_object_get(json_object_get(site->state, "media"),
                                          job->file_id)
                        : NULL;
    char size[24];

    if (!entry || job->generation != wix->generation)
        return;
    if (reason) {
        json_object_set_new(entry, "fetch", json_string("failed"));
        json_object_set_new(entry, "fail_reason", json_string(reason));
        return;
    }
    wix_blob_put(wix, job->file_id, mime, bytes->data, bytes->len);
    snprintf(size, sizeof(size), "%zu", bytes->len);
    json_object_set_new(json_object_get(entry, "file"), "sizeInBytes",
                        json_string(size));
    json_object_set_new(entry, "mime_type", json_string(mime));
    json_object_set_new(entry, "width", json_integer(width));
    json_object_set_new(entry, "height", json_integer(height));
    json_object_set_new(entry, "fetch", json_string("ok"));
}

static void fetch_and_record(struct fetch_job *job)
{
    struct http_client_request request = {
        .method = "GET",
        .url = job->url,
        .timeout_ms = FETCH_TIMEOUT_MS,
        .max_response_bytes = SANDBOX_IMAGE_MAX_BYTES,
    };
    struct http_client_response response = {0};
    struct error err;
    char reason[600] = "";
    int width = 0;
    int height = 0;
    const char *mime = "application/octet-stream";

    if (http_client_send(&request, &response, &err) != 0)
        snprintf(reason, sizeof(reason), "fetching the URL failed: %s",
                 err.message);
    else if (response.status != 200)
        snprintf(reason, sizeof(reason), "the URL answered HTTP %ld",
                 response.status);
    else if (sandbox_image_size(response.body.data, response.body.len, &width,
                                &height, &err) != 0)
        snprintf(reason, sizeof(reason), "the URL did not return an image: %s",
                 err.message);
    else if (response.content_type[0])
        mime = response.content_type;

    sandbox_lock(job->sb);
    finish_fetch(job, reason[0] ? reason : NULL, &response.body, mime, width,
                 height);
    wix_of(job->sb)->fetches_running--;
    pthread_cond_broadcast(&wix_of(job->sb)->fetches_done);
    sandbox_unlock(job->sb);
    http_client_response_release(&response);
}

static void *fetch_thread(void *arg)
{
    struct fetch_job *job = arg;

    fetch_and_record(job);
    free(job->url);
    free(job);
    return NULL;
}

/* Starts the fetch of an import. Lock held. */
static int start_fetch(struct sandbox *sb, struct wix_site *site,
                       const char *file_id, const char *url)
{
    struct fetch_job *job = calloc(1, sizeof(*job));
    pthread_attr_t attr;
    pthread_t thread;
    int rc;

    if (!job || !(job->url = strdup(url))) {
        free(job);
        return -1;
    }
    job->sb = sb;
    job->generation = wix_of(sb)->generation;
    snprintf(job->instance_id, sizeof(job->instance_id), "%s",
             wix_site_string(site, "instance_id"));
    snprintf(job->file_id, sizeof(job->file_id), "%s", file_id);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&thread, &attr, fetch_thread, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(job->url);
        free(job);
        return -1;
    }
    wix_of(sb)->fetches_running++;
    return 0;
}

/* The extension for a new file: from the MIME type, else the name. */
static const char *new_file_extension(const char *mime, const char *name)
{
    const char *dot = strrchr(name, '.');

    if (mime && strcmp(mime, "image/png") == 0)
        return "png";
    if (mime && strcmp(mime, "image/webp") == 0)
        return "webp";
    if (mime && strcmp(mime, "image/jpeg") == 0)
        return "jpg";
    if (dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".webp") == 0 ||
                strcasecmp(dot, ".gif") == 0))
        return dot + 1;
    return "jpg";
}

static void new_file_id(struct wix_site *site, const char *extension, char *out,
                        size_t size)
{
    char random[33];
    char prefix[7];
    const char *site_id = wix_site_string(site, "site_id");
    size_t o = 0;

    for (const char *p = site_id; *p && o < 6; p++) {
        if (isxdigit((unsigned char)*p))
            prefix[o++] = *p;
    }
    prefix[o] = '\0';
    crypto_random_hex(random, 16);
    snprintf(out, size, "%s_%s~mv2.%s", prefix, random, extension);
}

/* The last path segment of a URL, for a display name. */
static void url_file_name(const char *url, char *out, size_t size)
{
    size_t end = strcspn(url, "?#");
    const char *start = url;

    for (size_t i = 0; i < end; i++) {
        if (url[i] == '/')
            start = url + i + 1;
    }
    snprintf(out, size, "%.*s", (int)(url + end - start), start);
    if (!*out)
        snprintf(out, size, "file");
}

json_t *wix_media_import(struct sandbox *sb, struct wix_site *site,
                         const char *url, const char *display_name,
                         const char *mime_type, const json_t *labels)
{
    char name[256];
    char id[160];
    json_t *entry;
    json_t *file;

    url_file_name(url, name, sizeof(name));
    if (display_name && *display_name)
        snprintf(name, sizeof(name), "%s", display_name);
    new_file_id(site, new_file_extension(mime_type, name), id, sizeof(id));
    file = file_base(sb, site, id, name, "PENDING");
    json_object_set_new(file, "sourceUrl", json_string(url));
    if (json_is_array(labels))
        json_object_set(file, "labels", (json_t *)labels);
    entry = json_pack(
        "{so si si ss ss sI sI sn}", "file", file, "width", 0, "height", 0,
        "mime_type", mime_type ? mime_type : "application/octet-stream",
        "fetch", "pending", "ready_at_ms",
        (json_int_t)(sandbox_now_ms(sb) + wix_of(sb)->settings.media_ready_ms),
        "polls", (json_int_t)0, "generated");
    json_object_set_new(wix_site_own(site, "media"), id, entry);

    if (!url_is_loopback(url)) {
        json_object_set_new(entry, "fetch", json_string("failed"));
        json_object_set_new(entry, "fail_reason",
                            json_string("the sandbox fetches loopback URLs "
                                        "only"));
    } else if (start_fetch(sb, site, id, url) != 0) {
        json_object_set_new(entry, "fetch", json_string("failed"));
        json_object_set_new(entry, "fail_reason",
                            json_string("cannot start the fetch thread"));
    }
    return entry;
}

/* ---- endpoints ---- */

#define MEDIA_TYPE_COUNT 8
static const char *const media_types[MEDIA_TYPE_COUNT] = {
    "UNKNOWN",  "IMAGE",  "VIDEO",   "AUDIO",
    "DOCUMENT", "VECTOR", "ARCHIVE", "MODEL3D"};

static int media_type_known(const char *type)
{
    for (size_t i = 0; i < MEDIA_TYPE_COUNT; i++) {
        if (strcmp(type, media_types[i]) == 0)
            return 1;
    }
    return 0;
}

/* POST /site-media/v1/files/import */
static void import_file(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_MEDIA);
    json_t *body = site ? wix_read_body(call) : NULL;
    const char *url = json_string_value(json_object_get(body, "url"));
    const char *type = json_string_value(json_object_get(body, "mediaType"));
    json_t *entry;

    if (!body)
        goto out;
    if (!url ||
        (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        wix_field_error(call, "url", "FORMAT", "must be an http or https URL");
        goto out;
    }
    if (type && !media_type_known(type)) {
        wix_field_error(call, "mediaType", "ENUM",
                        "must be one of UNKNOWN, IMAGE, VIDEO, AUDIO, "
                        "DOCUMENT, VECTOR, ARCHIVE, MODEL3D");
        goto out;
    }
    entry = wix_media_import(
        call->sb, site, url,
        json_string_value(json_object_get(body, "displayName")),
        json_string_value(json_object_get(body, "mimeType")),
        json_object_get(body, "labels"));
    wix_reply(call, json_pack("{so}", "file",
                              wix_media_descriptor(call->sb, site, entry)));
out:
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

static void reply_file(struct sandbox_call *call, struct wix_site *site,
                       const char *file_id)
{
    json_t *entry;

    if (!file_id || !*file_id) {
        wix_field_error(call, "fileId", "REQUIRED", "must not be empty");
        return;
    }
    entry = wix_media_lookup(call->sb, site, file_id, 1);
    if (!entry)
        wix_not_found(call, "file", file_id);
    else
        wix_reply(call, json_pack("{so}", "file",
                                  wix_media_descriptor(call->sb, site, entry)));
}

/* GET /site-media/v1/files/get-file-by-id?fileId= */
static void get_file_by_query(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_MEDIA);

    if (!site)
        return;
    reply_file(call, site, http_request_query(call->req, "fileId"));
    sandbox_unlock(call->sb);
}

/* GET /site-media/v1/files/{fileId} */
static void get_file_by_path(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_MEDIA);

    if (!site)
        return;
    reply_file(call, site, http_request_param(call->req, "fileId"));
    sandbox_unlock(call->sb);
}

static int file_selected(const json_t *file, const char *search,
                         const json_t *types)
{
    const char *name = json_string_value(json_object_get(file, "displayName"));
    const json_t *type = json_object_get(file, "mediaType");
    size_t i;
    json_t *value;
    int found = !search || !*search || strcasestr(name, search);

    json_array_foreach(json_object_get(file, "labels"), i, value) found |=
        search && json_is_string(value) &&
        strcasestr(json_string_value(value), search) != NULL;
    if (!found || json_array_size(types) == 0)
        return found;
    json_array_foreach(types, i, value)
    {
        if (json_equal(value, type))
            return 1;
    }
    return 0;
}

/* One page of the site's files, newest first, as {files, nextCursor}. */
static void reply_file_page(struct sandbox_call *call, struct wix_site *site,
                            const char *search, const json_t *types,
                            int64_t limit, const char *cursor)
{
    json_t *files = json_array();
    json_t *page = json_array();
    long offset = cursor && *cursor ? strtol(cursor, NULL, 10) : 0;
    const char *id;
    json_t *entry;
    char next[24];

    json_object_foreach(json_object_get(site->state, "media"), id, entry)
    {
        wix_media_lookup(call->sb, site, id, 0);
        if (file_selected(json_object_get(entry, "file"), search, types))
            json_array_append_new(files,
                                  wix_media_descriptor(call->sb, site, entry));
    }
    for (size_t i = (size_t)(offset > 0 ? offset : 0);
         i < json_array_size(files) && (int64_t)json_array_size(page) < limit;
         i++)
        json_array_append(page, json_array_get(files, i));
    snprintf(next, sizeof(next), "%ld", offset + (long)json_array_size(page));
    wix_reply(call,
              json_pack("{so s{si s{so}}}", "files", page, "nextCursor",
                        "total", (int)json_array_size(files), "cursors", "next",
                        offset + json_array_size(page) < json_array_size(files)
                            ? json_string(next)
                            : json_null()));
    json_decref(files);
}

static int read_limit(struct sandbox_call *call, const char *text, int64_t *out)
{
    char *end;

    *out = text ? strtoll(text, &end, 10) : LIST_PAGE_DEFAULT;
    if ((text && *end) || *out < 1 || *out > LIST_PAGE_MAX) {
        wix_field_error(call, "paging.limit", "MAX", "must be between 1 and %d",
                        LIST_PAGE_MAX);
        return -1;
    }
    return 0;
}

/* GET /site-media/v1/files?mediaTypes=&paging.limit=&paging.cursor= */
static void list_files(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_MEDIA);
    json_t *types = json_array();
    int64_t limit;

    if (!site)
        goto out;
    for (size_t i = 0; i < MEDIA_TYPE_COUNT; i++) {
        if (wix_query_has(call->req, "mediaTypes", media_types[i]))
            json_array_append_new(types, json_string(media_types[i]));
    }
    if (read_limit(call, http_request_query(call->req, "paging.limit"),
                   &limit) == 0)
        reply_file_page(call, site, NULL, types, limit,
                        http_request_query(call->req, "paging.cursor"));
    sandbox_unlock(call->sb);
out:
    json_decref(types);
}

/* POST /site-media/v1/files/search {search, mediaTypes, paging} */
static void search_files(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_MEDIA);
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *limit_value = json_at(body, "paging.limit");
    char limit_text[24];
    int64_t limit;

    if (!body)
        goto out;
    snprintf(limit_text, sizeof(limit_text), "%lld",
             (long long)(json_is_integer(limit_value)
                             ? json_integer_value(limit_value)
                             : LIST_PAGE_DEFAULT));
    if (read_limit(call, limit_text, &limit) == 0)
        reply_file_page(call, site,
                        json_string_value(json_object_get(body, "search")),
                        json_object_get(body, "mediaTypes"), limit,
                        json_string_value(json_at(body, "paging.cursor")));
out:
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

/* POST /site-media/v1/files/generate-upload-url {mimeType, fileName} */
static void generate_upload_url(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_MEDIA);
    json_t *body = site ? wix_read_body(call) : NULL;
    const char *mime = json_string_value(json_object_get(body, "mimeType"));
    const char *name = json_string_value(json_object_get(body, "fileName"));
    json_t *uploads;
    char token[65];
    char url[400];

    if (!body)
        goto out;
    if (!mime || !*mime) {
        wix_field_error(call, "mimeType", "REQUIRED", "must not be empty");
        goto out;
    }
    uploads = json_object_get(site->state, "uploads");
    if (!uploads) {
        uploads = json_object();
        json_object_set_new(site->state, "uploads", uploads);
    }
    crypto_random_hex(token, 32);
    json_object_set_new(uploads, token,
                        json_pack("{ss ss sO}", "mimeType", mime, "fileName",
                                  name ? name : "upload", "labels",
                                  json_object_get(body, "labels")
                                      ? json_object_get(body, "labels")
                                      : json_null()));
    snprintf(url, sizeof(url), "%s/wixmp/upload/%s", call->sb->base_url, token);
    wix_reply(call, json_pack("{ss}", "uploadUrl", url));
out:
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

/* The site and pending upload for a token, or NULL. Lock held. */
static struct wix_site *find_upload(struct sandbox_wix *wix, const char *token,
                                    json_t **upload)
{
    for (size_t i = 0; i < wix->site_count; i++) {
        json_t *uploads = json_object_get(wix->sites[i]->state, "uploads");

        if ((*upload = json_object_get(uploads, token)))
            return wix->sites[i];
    }
    return NULL;
}

/* Adds the uploaded bytes as a READY file. Lock held.
 * NOTE: Wix may keep an upload PENDING while it processes it; the sandbox
 * makes it READY at once. */
static json_t *store_upload(struct sandbox *sb, struct wix_site *site,
                            const json_t *upload,
                            const struct http_request *req, int width,
                            int height)
{
    const char *mime = json_string_value(json_object_get(upload, "mimeType"));
    const char *name = http_request_query(req, "filename");
    char id[160];
    char size[24];
    json_t *entry;
    json_t *file;

    if (!name)
        name = json_string_value(json_object_get(upload, "fileName"));
    new_file_id(site, new_file_extension(mime, name), id, sizeof(id));
    file = file_base(sb, site, id, name, "READY");
    snprintf(size, sizeof(size), "%zu", req->body_len);
    json_object_set_new(file, "sizeInBytes", json_string(size));
    if (json_is_array(json_object_get(upload, "labels")))
        json_object_set(file, "labels", json_object_get(upload, "labels"));
    entry = json_pack("{so si si ss ss sI sI sn}", "file", file, "width", width,
                      "height", height, "mime_type", mime, "fetch", "ok",
                      "ready_at_ms", (json_int_t)0, "polls", (json_int_t)0,
                      "generated");
    json_object_set_new(wix_site_own(site, "media"), id, entry);
    wix_blob_put(wix_of(sb), id, mime, req->body, req->body_len);
    return entry;
}

/* PUT /wixmp/upload/{token}: the bytes for a generated upload URL. */
static void upload_bytes(struct sandbox_call *call)
{
    const char *token = http_request_param(call->req, "token");
    struct sandbox *sb = call->sb;
    struct wix_site *site;
    json_t *upload;
    struct error err;
    int width = 0;
    int height = 0;
    int is_image = sandbox_image_size(call->req->body, call->req->body_len,
                                      &width, &height, &err) == 0;

    sandbox_lock(sb);
    site = find_upload(wix_of(sb), token, &upload);
    if (!site) {
        wix_error(call, 404, "NOT_FOUND",
                  "upload URL is unknown or was used already");
    } else if (call->req->body_len == 0) {
        wix_error(call, 400, "INVALID_ARGUMENT", "the upload body is empty");
    } else if (!is_image &&
               strncmp(json_string_value(json_object_get(upload, "mimeType")),
                       "image/", 6) == 0) {
        wix_error(call, 400, "INVALID_ARGUMENT",
                  "the uploaded bytes are not a %s image: %s",
                  json_string_value(json_object_get(upload, "mimeType")),
                  err.message);
    } else {
        snprintf(call->instance_id, sizeof(call->instance_id), "%s",
                 wix_site_string(site, "instance_id"));
        wix_reply(call, json_pack("{so}", "file",
                                  wix_media_descriptor(
                                      sb, site,
                                      store_upload(sb, site, upload, call->req,
                                                   width, height))));
        json_object_del(json_object_get(site->state, "uploads"), token);
    }
    sandbox_unlock(sb);
}

/* A generated file's entry in any site, copied out. Lock held. */
static json_t *find_generated(struct sandbox_wix *wix, const char *id)
{
    for (size_t i = 0; i < wix->site_count; i++) {
        json_t *entry =
            json_object_get(json_object_get(wix->sites[i]->state, "media"), id);

        if (entry && json_object_get(entry, "generated") &&
            !json_is_null(json_object_get(entry, "generated")))
            return json_deep_copy(entry);
    }
    return NULL;
}

/* Draws a generated file's bytes (outside the lock: libvips is slow) and
 * keeps them as a blob. Returns 0 when the blob exists afterwards. */
static int make_generated(struct sandbox *sb, const char *id)
{
    json_t *entry;
    struct buf bytes;
    struct error err;
    int rc = -1;

    sandbox_lock(sb);
    entry = find_generated(wix_of(sb), id);
    sandbox_unlock(sb);
    if (!entry)
        return -1;
    if (sandbox_make_image(
            json_string_value(json_at(entry, "generated.format")),
            (int)json_integer_value(json_object_get(entry, "width")),
            (int)json_integer_value(json_object_get(entry, "height")), id,
            &bytes, &err) != 0) {
        log_error("sandbox", "drawing a fixture image failed: %s file=%s",
                  err.message, id);
    } else {
        sandbox_lock(sb);
        rc =
            wix_blob_put(wix_of(sb), id,
                         json_string_value(json_object_get(entry, "mime_type")),
                         bytes.data, bytes.len);
        sandbox_unlock(sb);
    }
    buf_free(&bytes);
    json_decref(entry);
    return rc;
}

/* GET /wixstatic/media/{id}[/...]: a file's bytes. */
static void serve_file(struct sandbox_call *call)
{
    const char *id = http_request_param(call->req, "id");
    struct sandbox *sb = call->sb;
    struct wix_blob *blob;
    int made = 0;

    for (;;) {
        sandbox_lock(sb);
        blob = wix_blob_find(wix_of(sb), id);
        if (blob) {
            http_response_bytes(call->resp, 200, blob->content_type, blob->data,
                                blob->len);
            http_response_header(call->resp, "Cache-Control",
                                 "public, max-age=31536000");
        }
        sandbox_unlock(sb);
        if (blob || made || make_generated(sb, id) != 0)
            break;
        made = 1;
    }
    if (!blob)
        http_response_error(call->resp, 404, "not_found", "no media file %s",
                            id);
}

int wix_media_routes(struct sandbox *sb, struct http_server *server)
{
    static const struct wix_route routes[] = {
        {"POST", "/wix/site-media/v1/files/import", import_file},
        {"GET", "/wix/site-media/v1/files/get-file-by-id", get_file_by_query},
        {"POST", "/wix/site-media/v1/files/generate-upload-url",
         generate_upload_url},
        {"POST", "/wix/site-media/v1/files/search", search_files},
        {"GET", "/wix/site-media/v1/files", list_files},
        {"GET", "/wix/site-media/v1/files/{fileId}", get_file_by_path},
        {"PUT", "/wixmp/upload/{token}", upload_bytes},
        {"GET", "/wixstatic/media/{id}", serve_file},
        {"GET", "/wixstatic/media/{id}/*", serve_file},
    };

    return wix_add_routes(sb, server, routes,
                          sizeof(routes) / sizeof(routes[0]));
}
