/*
 * The request side of the HTTP server: percent-decoding, the query string,
 * route patterns and the accessors handlers call.
 */
#include "http/server_private.h"

#include <stdlib.h>
#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *http_percent_decode(const char *text, size_t n, int plus_is_space)
{
    char *out = malloc(n + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '%' && i + 2 < n) {
            int high = hex_value(text[i + 1]);
            int low = hex_value(text[i + 2]);

            if (high >= 0 && low >= 0) {
                out[o++] = (char)(high * 16 + low);
                i += 2;
                continue;
            }
        }
        out[o++] = plus_is_space && text[i] == '+' ? ' ' : text[i];
    }
    out[o] = '\0';
    return out;
}

static void query_release(struct http_request_state *state)
{
    for (size_t i = 0; i < state->query_count; i++) {
        free(state->query[i].name);
        free(state->query[i].value);
    }
    free(state->query);
    state->query = NULL;
    state->query_count = 0;
}

static int query_add(struct http_request_state *state, const char *pair,
                     size_t len)
{
    const char *equals = memchr(pair, '=', len);
    size_t name_len = equals ? (size_t)(equals - pair) : len;
    struct http_query_param *param = &state->query[state->query_count];

    param->name = http_percent_decode(pair, name_len, 1);
    if (equals)
        param->value = http_percent_decode(equals + 1, len - name_len - 1, 1);
    else
        param->value = http_percent_decode("", 0, 1);
    if (!param->name || !param->value) {
        free(param->name);
        free(param->value);
        return -1;
    }
    state->query_count++;
    return 0;
}

int http_query_parse(struct http_request_state *state)
{
    const char *text = state->raw_query;
    size_t pairs = 1;

    for (const char *p = text; *p; p++)
        pairs += *p == '&';
    state->query = calloc(pairs, sizeof(*state->query));
    if (!state->query)
        return -1;

    while (*text) {
        size_t len = strcspn(text, "&");

        if (len > 0 && query_add(state, text, len) != 0) {
            query_release(state);
            return -1;
        }
        text += len;
        if (*text == '&')
            text++;
    }
    return 0;
}

void http_request_params_release(struct http_request *req)
{
    for (size_t i = 0; i < req->param_count; i++) {
        free(req->param_values[i]);
        req->param_values[i] = NULL;
        req->param_names[i] = NULL;
    }
    req->param_count = 0;
}

int http_route_compile(struct http_route *route, const char *pattern,
                       struct error *err)
{
    const char *p = pattern;
    size_t params = 0;

    if (pattern[0] != '/')
        return error_set(err, ERR_INVALID,
                         "route pattern '%s' must start with '/'", pattern);
    while (*p == '/') {
        size_t len;

        p++;
        len = strcspn(p, "/");
        if (len == 1 && p[0] == '*' && p[1] == '\0') {
            route->rest = 1;
            break;
        }
        if (route->segment_count == HTTP_ROUTE_MAX_SEGMENTS)
            return error_set(err, ERR_INVALID,
                             "route pattern '%s' has more than %d segments",
                             pattern, HTTP_ROUTE_MAX_SEGMENTS);
        route->is_param[route->segment_count] =
            len >= 3 && p[0] == '{' && p[len - 1] == '}';
        if (route->is_param[route->segment_count]) {
            /* One slot stays free for the "*" rest parameter. */
            if (++params > HTTP_MAX_PARAMS - 1)
                return error_set(err, ERR_INVALID,
                                 "route pattern '%s' has more than %d "
                                 "parameters",
                                 pattern, HTTP_MAX_PARAMS - 1);
            route->segments[route->segment_count] = strndup(p + 1, len - 2);
        } else {
            route->segments[route->segment_count] = strndup(p, len);
        }
        if (!route->segments[route->segment_count])
            return error_set(err, ERR_PERMANENT, "out of memory");
        route->segment_count++;
        p += len;
    }
    return 0;
}

void http_route_release(struct http_route *route)
{
    for (size_t i = 0; i < route->segment_count; i++)
        free(route->segments[i]);
    free(route->method);
    free(route->pattern);
}

/* Adds a decoded parameter; the name is borrowed from the route. */
static int param_add(struct http_request *req, const char *name,
                     const char *raw, size_t len)
{
    char *value = http_percent_decode(raw, len, 0);

    if (!value)
        return -1;
    req->param_names[req->param_count] = name;
    req->param_values[req->param_count] = value;
    req->param_count++;
    return 0;
}

int http_route_match(const struct http_route *route, const char *raw_path,
                     struct http_request *req)
{
    const char *p = raw_path;
    size_t i;

    for (i = 0; i < route->segment_count; i++) {
        const char *segment = route->segments[i];
        size_t len;

        if (*p != '/')
            goto no_match;
        p++;
        len = strcspn(p, "/");
        if (route->is_param[i]) {
            if (len == 0 || param_add(req, segment, p, len) != 0)
                goto no_match;
        } else if (strlen(segment) != len || memcmp(segment, p, len) != 0) {
            goto no_match;
        }
        p += len;
    }

    if (route->rest) {
        if (*p != '/' && !(*p == '\0' && i > 0))
            goto no_match;
        if (*p == '/')
            p++;
        if (param_add(req, "*", p, strlen(p)) != 0)
            goto no_match;
        return 1;
    }
    if (*p == '\0')
        return 1;

no_match:
    http_request_params_release(req);
    return 0;
}

const char *http_request_header(const struct http_request *req,
                                const char *name)
{
    const struct http_request_state *state = req->internal;

    return MHD_lookup_connection_value(state->connection, MHD_HEADER_KIND,
                                       name);
}

const char *http_request_param(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->param_count; i++) {
        if (strcmp(req->param_names[i], name) == 0)
            return req->param_values[i];
    }
    return NULL;
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    const struct http_request_state *state = req->internal;

    for (size_t i = 0; i < state->query_count; i++) {
        if (strcmp(state->query[i].name, name) == 0)
            return state->query[i].value;
    }
    return NULL;
}
