/*
 * Files of the Image Optimizer: each item's original, model output and
 * result under SITESMITH_DATA_DIR/images/<item id>/, and the download of
 * an image from a URL with a size limit and a decoder check.
 */
#include "pipelines/images_internal.h"

#include "core/crypto.h"
#include "http/client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOWNLOAD_TIMEOUT_MS (120LL * 1000)

void images_item_dir(const struct app *app, const char *item_id,
                     char out[IMAGES_PATH_MAX])
{
    snprintf(out, IMAGES_PATH_MAX, "%.520s/images/%.64s", app->data_dir,
             item_id);
}

/* Creates dir and its parents (mode 0700) when missing. */
static int make_dirs(const char *dir, struct error *err)
{
    char path[IMAGES_PATH_MAX];

    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1;; p++) {
        char saved = *p;

        if (saved != '/' && saved != '\0')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return error_set(err, ERR_PERMANENT,
                             "cannot create folder %s: %s (check "
                             "SITESMITH_DATA_DIR)",
                             path, strerror(errno));
        *p = saved;
        if (saved == '\0')
            return 0;
    }
}

static int write_all(int fd, const void *data, size_t len)
{
    size_t written = 0;

    while (written < len) {
        ssize_t n = write(fd, (const char *)data + written, len - written);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        written += (size_t)n;
    }
    return 0;
}

int images_file_write(const char *dir, const char *name, const void *data,
                      size_t len, char path_out[IMAGES_PATH_MAX],
                      struct error *err)
{
    char temporary[IMAGES_PATH_MAX + 32];
    char suffix[17];
    int fd;
    int failed;

    if (make_dirs(dir, err) != 0)
        return -1;
    snprintf(path_out, IMAGES_PATH_MAX, "%.560s/%.60s", dir, name);
    crypto_random_hex(suffix, 8);
    snprintf(temporary, sizeof(temporary), "%s.%s.tmp", path_out, suffix);
    fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, ERR_PERMANENT, "cannot create %s: %s", temporary,
                         strerror(errno));

    /* A crash never leaves half a file under the final name. */
    failed = write_all(fd, data, len) != 0 || fsync(fd) != 0;
    failed |= close(fd) != 0;
    if (failed || rename(temporary, path_out) != 0) {
        int saved = errno;

        unlink(temporary);
        return error_set(err, ERR_RETRYABLE, "cannot write %s: %s", path_out,
                         strerror(saved));
    }
    return 0;
}

int images_file_read(const char *path, struct buf *out, struct error *err)
{
    FILE *file = fopen(path, "rb");
    char chunk[65536];
    size_t n;
    int failed = 0;

    if (!file)
        return error_set(err, ERR_NOT_FOUND, "cannot open %s: %s", path,
                         strerror(errno));
    while (!failed && (n = fread(chunk, 1, sizeof(chunk), file)) > 0)
        failed = buf_append(out, chunk, n) != 0;
    failed |= ferror(file);
    fclose(file);
    if (failed)
        return error_set(err, ERR_PERMANENT,
                         "cannot read %s, or it is larger than %zu bytes", path,
                         out->max);
    return 0;
}

void images_item_dir_remove(const struct app *app, const char *item_id)
{
    char dir[IMAGES_PATH_MAX];
    char path[IMAGES_PATH_MAX + 264];
    DIR *listing;
    struct dirent *entry;

    images_item_dir(app, item_id, dir);
    listing = opendir(dir);
    if (!listing)
        return;
    while ((entry = readdir(listing))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
        unlink(path);
    }
    closedir(listing);
    rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* Downloads                                                           */
/* ------------------------------------------------------------------ */

static int status_error(long status, const char *what, const char *url,
                        struct error *err)
{
    enum error_kind kind = status >= 500 || status == 408 || status == 429
                               ? ERR_RETRYABLE
                               : ERR_PERMANENT;

    return error_set(
        err, kind, "downloading %s from %.200s failed: HTTP %ld%s", what, url,
        status, status == 404 || status == 410 ? " (the file is gone)" : "");
}

int images_download(const char *url, size_t max_bytes, int64_t max_pixels,
                    const char *what, struct buf *out, struct images_info *info,
                    struct error *err)
{
    struct http_client_request request = {
        .method = "GET",
        .url = url,
        .timeout_ms = DOWNLOAD_TIMEOUT_MS,
        .max_response_bytes = max_bytes,
    };
    struct http_client_response response;
    int rc = -1;

    memset(&response, 0, sizeof(response));
    if (http_client_send(&request, &response, err) != 0) {
        if (strcmp(err->code, "too_large") == 0)
            error_set(err, ERR_PERMANENT,
                      "%s is larger than the limit of %zu bytes "
                      "(SITESMITH_IMAGE_MAX_BYTES)",
                      what, max_bytes);
        else
            error_prefix(err, "downloading %s", what);
        if (err->kind == ERR_PERMANENT && !err->code[0])
            snprintf(err->code, sizeof(err->code), "download");
        goto out;
    }
    if (response.status != 200) {
        status_error(response.status, what, url, err);
        goto out;
    }
    if (images_probe(response.body.data, response.body.len, max_pixels, info,
                     NULL, err) != 0) {
        char code[64];

        snprintf(code, sizeof(code), "%s", err->code);
        error_prefix(err, "%s at %.200s (content type \"%.60s\")", what, url,
                     response.content_type);
        snprintf(err->code, sizeof(err->code), "%s", code);
        goto out;
    }
    buf_reset(out);
    if (buf_append(out, response.body.data, response.body.len) != 0) {
        error_set(err, ERR_PERMANENT, "%s does not fit in memory", what);
        goto out;
    }
    rc = 0;
out:
    http_client_response_release(&response);
    return rc;
}
