/*
 * Wix's legacy install flow (see auth/legacy.h): GET /oauth/install sends
 * the browser to Wix's installer, GET /oauth/callback exchanges the code
 * and stores the site's refresh token sealed.
 *
 * The state parameter is a random value stored for 15 minutes and bound
 * to the browser by a cookie that holds a second random value; the
 * callback accepts each state once, from the browser it was made for.
 */
#include "api/api.h"
#include "api/api_lifecycle.h"

#include "auth/legacy.h"
#include "core/log.h"
#include "http/client.h"
#include "pipelines/lifecycle.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_INSTALLER_URL "https://www.wix.com/installer/install"
#define DEFAULT_DONE_URL "https://www.wix.com/installer/close-window"
#define DEFAULT_API_URL "https://www.wixapis.com"
#define COOKIE_NAME "sitesmith_install"
#define URL_MAX 1024
/* Wix's install token and code are far shorter. */
#define PARAM_MAX 4096

struct oauth_route {
    struct app *app;
    char installer_url[URL_MAX];
    char done_url[URL_MAX];
    char api_url[URL_MAX];
    char public_url[URL_MAX]; /* "" when unset */
};

/* One server per process: the routes' settings live as long as it. */
static struct oauth_route route;

static void no_store(struct http_response *resp)
{
    http_response_header(resp, "Cache-Control", "no-store");
    http_response_header(resp, "X-Content-Type-Options", "nosniff");
    http_response_header(resp, "Referrer-Policy", "no-referrer");
}

/*
 * The callback URL Wix should open. Without SITESMITH_PUBLIC_URL it is
 * built from the Host header; Wix only opens redirect URLs registered in
 * the app dashboard, so a forged Host leads nowhere.
 */
static int redirect_url(const struct oauth_route *oauth,
                        const struct http_request *req, char *out, size_t size)
{
    const char *host = http_request_header(req, "Host");
    int local;

    if (oauth->public_url[0]) {
        snprintf(out, size, "%s/oauth/callback", oauth->public_url);
        return 0;
    }
    if (!host || !*host || strlen(host) > 255 || strpbrk(host, "/\\ \"<>"))
        return -1;
    local = strncmp(host, "127.0.0.1", 9) == 0 ||
            strncmp(host, "localhost", 9) == 0 ||
            strncmp(host, "[::1]", 5) == 0;
    snprintf(out, size, "%s://%s/oauth/callback", local ? "http" : "https",
             host);
    return 0;
}

/* Appends "&name=value" (or "?name=value" first) with value encoded. */
static int append_param(char *url, size_t size, const char *name,
                        const char *value)
{
    char encoded[PARAM_MAX * 3 + 1];
    size_t length = strlen(url);

    if (http_url_encode(value, encoded, sizeof(encoded)) != 0)
        return -1;
    return snprintf(url + length, size - length, "%c%s=%s",
                    strchr(url, '?') ? '&' : '?', name,
                    encoded) >= (int)(size - length)
               ? -1
               : 0;
}

static void handle_install(struct http_request *req, struct http_response *resp,
                           void *ctx)
{
    struct oauth_route *oauth = ctx;
    const char *token = http_request_query(req, "token");
    char location[URL_MAX * 2 + PARAM_MAX * 3];
    char callback[URL_MAX + 300];
    char cookie[160];
    char state[33];
    char browser[33];
    struct error err;

    no_store(resp);
    if (!token || !*token || strlen(token) > PARAM_MAX) {
        http_response_error(resp, 400, "invalid",
                            "the token parameter from Wix is missing: open "
                            "the install from the Wix App Market");
        return;
    }
    if (redirect_url(oauth, req, callback, sizeof(callback)) != 0) {
        http_response_error(resp, 400, "invalid",
                            "the Host header is missing or invalid; set "
                            "SITESMITH_PUBLIC_URL");
        return;
    }
    error_clear(&err);
    if (lifecycle_oauth_state_new(oauth->app, state, browser, &err) != 0) {
        log_error("oauth", "install state not stored request=%s error=\"%s\"",
                  req->request_id, err.message);
        http_response_error(resp, 503, "unavailable",
                            "the install could not start; try again");
        return;
    }
    snprintf(location, sizeof(location), "%s", oauth->installer_url);
    if (append_param(location, sizeof(location), "token", token) != 0 ||
        append_param(location, sizeof(location), "appId", oauth->app->app_id) ||
        append_param(location, sizeof(location), "redirectUrl", callback) ||
        append_param(location, sizeof(location), "state", state) != 0) {
        http_response_error(resp, 400, "invalid",
                            "the install URL is too long");
        return;
    }
    snprintf(cookie, sizeof(cookie),
             COOKIE_NAME "=%s; Path=/oauth; Max-Age=%lld; HttpOnly; Secure; "
                         "SameSite=Lax",
             browser, LIFECYCLE_OAUTH_STATE_TTL_MS / 1000);
    http_response_header(resp, "Set-Cookie", cookie);
    http_response_header(resp, "Location", location);
    http_response_bytes(resp, 302, "text/plain; charset=utf-8",
                        "Redirecting to Wix\n", 19);
    log_info("oauth", "install started request=%s", req->request_id);
}

/* The value of the install cookie, copied into out; -1 when absent. */
static int read_cookie(const struct http_request *req, char out[33])
{
    const char *header = http_request_header(req, "Cookie");
    const char *at = header;
    size_t name_length = strlen(COOKIE_NAME);

    while (at && *at) {
        while (*at == ' ' || *at == ';')
            at++;
        if (strncmp(at, COOKIE_NAME, name_length) == 0 &&
            at[name_length] == '=') {
            size_t length = strcspn(at + name_length + 1, "; ");

            if (length != 32)
                return -1;
            memcpy(out, at + name_length + 1, 32);
            out[32] = '\0';
            return 0;
        }
        at = strchr(at, ';');
    }
    return -1;
}

/* Exchanges the code and stores the tokens; answers the error itself. */
static int finish_install(struct oauth_route *oauth, struct http_request *req,
                          struct http_response *resp,
                          struct auth_legacy_tokens *tokens)
{
    const char *code = http_request_query(req, "code");
    const char *claimed = http_request_query(req, "instanceId");
    struct auth_legacy_config config = {
        .api_url = oauth->api_url,
        .app_id = oauth->app->app_id,
        .app_secret = oauth->app->app_secret,
    };
    struct error err;

    error_clear(&err);
    if (auth_legacy_exchange(&config, code, tokens, &err) != 0) {
        log_warn("oauth", "code exchange failed request=%s error=\"%s\"",
                 req->request_id, err.message);
        http_response_error(resp, err.kind == ERR_UNAUTHORIZED ? 400 : 502,
                            err.kind == ERR_UNAUTHORIZED ? "invalid"
                                                         : "bad_gateway",
                            "Wix did not accept the install: %s", err.message);
        return -1;
    }
    if (claimed && *claimed && strcmp(claimed, tokens->instance_id) != 0) {
        log_warn("oauth",
                 "install rejected request=%s reason=\"instanceId %.64s in "
                 "the URL is not the token's site %s\"",
                 req->request_id, claimed, tokens->instance_id);
        http_response_error(resp, 400, "invalid",
                            "the instanceId in the URL does not match the "
                            "site Wix authorized");
        return -1;
    }
    if (lifecycle_legacy_install(
            oauth->app, tokens->instance_id, tokens->access.access_token,
            tokens->access.expires_ms, tokens->refresh_token, &err) != 0) {
        log_error("oauth",
                  "install not stored request=%s instance=%s "
                  "error=\"%s\"",
                  req->request_id, tokens->instance_id, err.message);
        http_response_error(resp, 503, "unavailable",
                            "the install could not be saved; install again");
        return -1;
    }
    return 0;
}

/*
 * Wix's legacy flow ends by sending the browser to Wix's close-window
 * page with the new access token in the query, which is the one place a
 * token leaves sitesmith: to Wix, which issued it, for 5 minutes.
 */
static void handle_callback(struct http_request *req,
                            struct http_response *resp, void *ctx)
{
    struct oauth_route *oauth = ctx;
    struct auth_legacy_tokens tokens = {0};
    char location[URL_MAX + TOKEN_MAX_LEN * 3 + 32];
    char browser[33] = "";
    struct error err;

    no_store(resp);
    http_response_header(resp, "Set-Cookie",
                         COOKIE_NAME "=; Path=/oauth; Max-Age=0; HttpOnly; "
                                     "Secure; SameSite=Lax");
    error_clear(&err);
    read_cookie(req, browser);
    if (lifecycle_oauth_state_take(oauth->app, http_request_query(req, "state"),
                                   browser, &err) != 0) {
        log_warn("oauth", "install callback rejected request=%s reason=\"%s\"",
                 req->request_id, err.message);
        http_response_error(resp, err.kind == ERR_FORBIDDEN ? 403 : 503,
                            err.kind == ERR_FORBIDDEN ? "forbidden"
                                                      : "unavailable",
                            "%s", err.message);
        return;
    }
    if (finish_install(oauth, req, resp, &tokens) != 0) {
        auth_legacy_clear(&tokens);
        return;
    }
    snprintf(location, sizeof(location), "%s", oauth->done_url);
    append_param(location, sizeof(location), "access_token",
                 tokens.access.access_token);
    http_response_header(resp, "Location", location);
    http_response_bytes(resp, 302, "text/plain; charset=utf-8", "Installed\n",
                        10);
    log_info("oauth", "legacy install stored request=%s instance=%s",
             req->request_id, tokens.instance_id);
    auth_legacy_clear(&tokens);
}

static int read_url(const struct config *cfg, const char *name,
                    const char *fallback, char *out, struct error *err)
{
    return config_get_url(cfg, name, fallback, out, URL_MAX, err) < 0 ? -1 : 0;
}

int api_oauth_routes(struct http_server *server, struct app *app,
                     struct error *err)
{
    route.app = app;
    if (read_url(app->cfg, "SITESMITH_WIX_INSTALLER_URL", DEFAULT_INSTALLER_URL,
                 route.installer_url, err) != 0 ||
        read_url(app->cfg, "SITESMITH_WIX_INSTALL_DONE_URL", DEFAULT_DONE_URL,
                 route.done_url, err) != 0 ||
        read_url(app->cfg, "SITESMITH_WIX_API_URL", DEFAULT_API_URL,
                 route.api_url, err) != 0)
        return -1;
    route.public_url[0] = '\0';
    if (config_get(app->cfg, "SITESMITH_PUBLIC_URL") &&
        read_url(app->cfg, "SITESMITH_PUBLIC_URL", NULL, route.public_url,
                 err) != 0)
        return -1;
    if (http_server_route(server, "GET", "/oauth/install", handle_install,
                          &route) != 0 ||
        http_server_route(server, "GET", "/oauth/callback", handle_callback,
                          &route) != 0)
        return error_set(err, ERR_PERMANENT, "failed to add the /oauth routes");
    return 0;
}
