/*
 * The dashboard page: GET /dashboard and the static files under
 * /dashboard/, read from the web folder on every request, so an edited file
 * shows on the next reload.
 *
 * The web folder is the first of these that contains index.html:
 *   1. SITESMITH_WEB_DIR;
 *   2. the web/ folder of the source tree this program was built from
 *      (SITESMITH_WEB_SOURCE_DIR, set by CMake);
 *   3. web/ in the current directory.
 *
 * Wix shows the page in an iframe of its dashboard, so every response here
 * carries a Content-Security-Policy whose frame-ancestors names Wix's
 * dashboard hosts; everything else the page loads comes from this server,
 * except product and post images from Wix's media host.
 */
#include "api/api.h"

#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest file served; the page's files are far smaller. */
#define DASHBOARD_FILE_MAX (4 * 1024 * 1024)
/* Longest path below /dashboard/ that is looked up. */
#define DASHBOARD_PATH_MAX 200

/* Wix's media host, where product images and blog covers live. */
#define WIX_MEDIA_ORIGIN "https://static.wixstatic.com"
#define WIX_API_DEFAULT "https://www.wixapis.com"

struct dashboard {
    char dir[PATH_MAX]; /* the web folder, "" when none was found */
    char csp[1024];
};

struct content_type {
    const char *extension;
    const char *type;
};

static const struct content_type content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

/* The content type for path's extension, or NULL for one not served. */
static const char *content_type_of(const char *path)
{
    const char *dot = strrchr(path, '.');

    if (!dot || strchr(dot, '/'))
        return NULL;
    for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]);
         i++)
        if (strcmp(dot, content_types[i].extension) == 0)
            return content_types[i].type;
    return NULL;
}

/* True when dir/index.html is a regular file. */
static int has_index(const char *dir)
{
    char path[PATH_MAX + 16];
    struct stat info;

    snprintf(path, sizeof(path), "%s/index.html", dir);
    return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}

/* Finds the web folder (see the file comment) and stores its real path. */
static void find_web_dir(const struct config *cfg, struct dashboard *dash)
{
    const char *candidates[3];
    size_t count = 0;

    candidates[count++] = config_get(cfg, "SITESMITH_WEB_DIR");
#ifdef SITESMITH_WEB_SOURCE_DIR
    candidates[count++] = SITESMITH_WEB_SOURCE_DIR;
#endif
    candidates[count++] = "web";

    dash->dir[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (!candidates[i])
            continue;
        if (has_index(candidates[i]) && realpath(candidates[i], dash->dir)) {
            log_info("dashboard", "serving files dir=%s", dash->dir);
            return;
        }
        if (i == 0)
            log_warn("dashboard",
                     "SITESMITH_WEB_DIR has no index.html, looking further "
                     "dir=%s",
                     candidates[i]);
    }
    dash->dir[0] = '\0';
    log_warn("dashboard", "no web folder with index.html found; /dashboard "
                          "answers 503 until SITESMITH_WEB_DIR is set");
}

/*
 * Writes the scheme://host[:port] of url into out, or "" when url is not a
 * plain http(s) URL. Only characters that can't end the CSP header pass.
 */
static void url_origin(const char *url, char *out, size_t size)
{
    const char *host = strstr(url, "://");
    size_t length;

    out[0] = '\0';
    if (!host || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
        return;
    host += 3;
    length = (size_t)(host - url) + strcspn(host, "/?#");
    if (length >= size)
        return;
    for (size_t i = 0; i < length; i++)
        if (strchr(" ;,'\"\r\n", url[i]))
            return;
    memcpy(out, url, length);
    out[length] = '\0';
}

/*
 * Builds the Content-Security-Policy. Images may also come from the
 * origin of SITESMITH_WIX_API_URL when it is not Wix's own, because a
 * local stand-in for Wix (sitesmith-sandbox) serves its media files there.
 */
static void build_csp(const struct config *cfg, struct dashboard *dash)
{
    const char *api = config_get(cfg, "SITESMITH_WIX_API_URL");
    char media[256] = "";

    if (api && strcmp(api, WIX_API_DEFAULT) != 0)
        url_origin(api, media, sizeof(media));
    snprintf(dash->csp, sizeof(dash->csp),
             "default-src 'self'; script-src 'self'; style-src 'self'; "
             "img-src 'self' data: blob: " WIX_MEDIA_ORIGIN "%s%s; "
             "connect-src 'self'; font-src 'self'; object-src 'none'; "
             "base-uri 'none'; form-action 'self'; "
             "frame-ancestors https://*.wix.com https://*.wixapps.net "
             "https://manage.wix.com",
             media[0] ? " " : "", media);
}

static void set_page_headers(const struct dashboard *dash,
                             struct http_response *resp)
{
    http_response_header(resp, "Content-Security-Policy", dash->csp);
    http_response_header(resp, "X-Content-Type-Options", "nosniff");
    http_response_header(resp, "Referrer-Policy", "no-referrer");
    http_response_header(resp, "Cache-Control", "no-cache");
}

/*
 * True when rel (the path below /dashboard/) is safe to join to the web
 * folder: letters, digits, '-', '_', '.' and '/' only, no empty segment,
 * and no segment that starts with a dot (which also rules out "..").
 */
static int safe_path(const char *rel)
{
    size_t length = strlen(rel);

    if (length == 0 || length > DASHBOARD_PATH_MAX)
        return 0;
    for (size_t i = 0; i < length; i++) {
        char c = rel[i];
        int segment_start = i == 0 || rel[i - 1] == '/';

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
              c == '/'))
            return 0;
        if (segment_start && (c == '/' || c == '.'))
            return 0;
    }
    return rel[length - 1] != '/';
}

/* Reads a regular file of at most DASHBOARD_FILE_MAX bytes into body. */
static int read_file(int fd, const struct stat *info, struct buf *body)
{
    char chunk[16 * 1024];
    ssize_t n;

    if (!S_ISREG(info->st_mode) || info->st_size > DASHBOARD_FILE_MAX)
        return -1;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (buf_append(body, chunk, (size_t)n) != 0)
            return -1;
    return n < 0 ? -1 : 0;
}

/* Sends the file rel of the web folder, or 304 when the browser's copy
 * has the same ETag. */
static void send_file(const struct dashboard *dash, struct http_request *req,
                      struct http_response *resp, const char *rel)
{
    const char *type = content_type_of(rel);
    const char *if_none_match = http_request_header(req, "If-None-Match");
    char path[PATH_MAX + DASHBOARD_PATH_MAX + 2];
    char etag[64];
    struct stat info;
    struct buf body;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dash->dir, rel);
    fd = type ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0 || fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        if (fd >= 0)
            close(fd);
        http_response_error(resp, 404, "not_found", "no dashboard file \"%s\"",
                            rel);
        return;
    }
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (long long)info.st_size,
             (long long)info.st_mtim.tv_sec * 1000000000LL +
                 info.st_mtim.tv_nsec);
    http_response_header(resp, "ETag", etag);
    if (if_none_match && strcmp(if_none_match, etag) == 0) {
        close(fd);
        http_response_bytes(resp, 304, type, "", 0);
        return;
    }

    buf_init(&body, DASHBOARD_FILE_MAX);
    if (read_file(fd, &info, &body) != 0) {
        log_error("dashboard", "file not readable request=%s path=%s error=%s",
                  req->request_id, path, strerror(errno));
        http_response_error(resp, 500, "internal",
                            "dashboard file \"%s\" could not be read", rel);
    } else {
        http_response_bytes(resp, 200, type, body.data ? body.data : "",
                            body.len);
    }
    buf_free(&body);
    close(fd);
}

static void handle_dashboard(struct http_request *req,
                             struct http_response *resp, void *ctx)
{
    const struct dashboard *dash = ctx;
    const char *rest = http_request_param(req, "*");
    const char *rel = rest && rest[0] ? rest : "index.html";

    set_page_headers(dash, resp);
    if (!dash->dir[0]) {
        http_response_error(resp, 503, "unavailable",
                            "the dashboard's files were not found: set "
                            "SITESMITH_WEB_DIR to sitesmith's web/ folder "
                            "and restart");
        return;
    }
    if (!safe_path(rel)) {
        http_response_error(resp, 404, "not_found",
                            "no dashboard file \"%.80s\"", rel);
        return;
    }
    send_file(dash, req, resp, rel);
}

int api_dashboard_routes(struct http_server *server, struct app *app,
                         struct error *err)
{
    struct dashboard *dash = calloc(1, sizeof(*dash));

    if (!dash)
        return error_set(err, ERR_PERMANENT, "out of memory");

    if (http_server_own(server, dash, free) != 0) {
        free(dash);
        return error_set(err, ERR_PERMANENT, "out of memory");
    }
    find_web_dir(app->cfg, dash);
    build_csp(app->cfg, dash);
    if (http_server_route(server, "GET", "/dashboard", handle_dashboard,
                          dash) ||
        http_server_route(server, "GET", "/dashboard/*", handle_dashboard,
                          dash))
        return error_set(err, ERR_PERMANENT, "failed to add dashboard routes");
    return 0;
}
