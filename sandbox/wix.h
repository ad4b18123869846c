/*
 * Internals of the sandbox's Wix emulation, shared by wix*.c.
 *
 * State: every site is a JSON object (see wix_sites.c for its fields), so
 * that the state file is the sites themselves. Access tokens, legacy
 * authorization codes and refresh tokens live in JSON tables keyed by
 * their value. Uploaded and imported file bytes live in a blob table.
 * Everything here is read and changed with sb->lock held.
 */
#ifndef SITESMITH_SANDBOX_WIX_H
#define SITESMITH_SANDBOX_WIX_H

#include "sandbox.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Permission groups that a test can take away from a site (403). */
enum wix_scope {
    WIX_SCOPE_BLOG,
    WIX_SCOPE_STORES,
    WIX_SCOPE_MEDIA,
    WIX_SCOPE_MEMBERS,
    WIX_SCOPE_APPS,
};

/* Settings that POST /__sandbox/config {"wix": {...}} changes. */
struct wix_settings {
    int64_t token_ttl_s;        /* OAuth app tokens; Wix documents 14400 */
    int64_t legacy_token_ttl_s; /* legacy /oauth/access tokens; 300 */
    int64_t auth_code_ttl_s;    /* legacy authorization codes; 600 */
    int64_t media_ready_ms;     /* import: PENDING this long */
    int64_t media_ready_polls;  /* import: and for this many GETs */
    int64_t rate_limit;         /* requests per minute per site; 200 */
    int64_t rate_limit_retry_after_s; /* 0: no Retry-After on 429 */
    int64_t token_failure_status;     /* 401, or 403 as Wix sometimes does */
};

struct wix_blob {
    char *id;
    char content_type[64];
    unsigned char *data;
    size_t len;
};

struct wix_site {
    json_t *state;
    /* Sandbox times of the calls in the last minute, oldest first. */
    int64_t *recent;
    size_t recent_count;
    size_t recent_cap;
};

struct sandbox_wix {
    struct wix_settings settings;
    struct wix_site **sites;
    size_t site_count;
    size_t site_cap;
    json_t *tokens;         /* access token -> {instance_id, ...} */
    json_t *codes;          /* authorization code -> {instance_id, ...} */
    json_t *refresh_tokens; /* refresh token -> {instance_id} */
    json_t *fixtures;       /* fixture name -> parsed file (a cache) */
    struct wix_blob *blobs;
    size_t blob_count;
    size_t blob_cap;
    /* Media imports fetch on their own threads; free waits for them. */
    int fetches_running;
    pthread_cond_t fetches_done;
    /* Bumped by reset, so a fetch that started before it is dropped. */
    int64_t generation;
};

/* ---- wix.c: shared helpers ---- */

/* The sandbox's Wix state. */
struct sandbox_wix *wix_of(struct sandbox *sb);

/*
 * Starts a call to a Wix resource endpoint. It adds x-wix-request-id,
 * takes the lock and checks the Authorization header. A missing,
 * malformed, expired (by sandbox time) or revoked token, or one for an
 * uninstalled app, gets the 401 envelope (or the configured token failure
 * status). Then come the site's rate limit (429) and the scope (403).
 * Returns the token's site with the lock held, or NULL with the response
 * written and the lock released.
 */
struct wix_site *wix_begin(struct sandbox_call *call, enum wix_scope scope);

/* Sets call->resp to Wix's error envelope: {"message", "details":
 * {"applicationError": {"code", "description", "data": {}}}}. */
void wix_error(struct sandbox_call *call, int status, const char *code,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A 400 with details.validationError.fieldViolations[0] for field. */
void wix_field_error(struct sandbox_call *call, const char *field,
                     const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 404 "Entity not found" naming what was looked for. */
void wix_not_found(struct sandbox_call *call, const char *what, const char *id);

/* Sets a 200 JSON response; takes body. */
void wix_reply(struct sandbox_call *call, json_t *body);

/*
 * Parses the request body as a JSON object. On failure writes a 400
 * envelope and returns NULL. A GET's ".r" query parameter (base64url
 * JSON, as @wix/sdk sends complex GET requests) counts as its body.
 */
json_t *wix_read_body(struct sandbox_call *call);

/* 1 when the query string has name=value among possibly repeated names. */
int wix_query_has(const struct http_request *req, const char *name,
                  const char *value);

/* Text length as Wix limits count it: UTF-16 code units. */
size_t wix_text_length(const char *utf8);

/* The current sandbox time as an ISO 8601 string into out[32]. */
void wix_now_iso(struct sandbox *sb, char out[32]);

/* The site with this instance id, or NULL. */
struct wix_site *wix_site_find(struct sandbox_wix *wix,
                               const char *instance_id);

/* The first object of array whose string field key equals value, or
 * NULL. Borrowed. */
json_t *wix_find_by(const json_t *array, const char *key, const char *value);

/*
 * The site's own copy of a part of its state. Sites made from the same
 * fixture share one catalog (products, collections, media) until one of
 * them changes it, so call this before changing products or media: it
 * copies a shared value first. Lock held.
 */
json_t *wix_site_own(struct wix_site *site, const char *key);

/* A string field of the site's state, or "" when unset. */
const char *wix_site_string(const struct wix_site *site, const char *key);

/* The public URL of a media file served by the sandbox, into out. */
void wix_media_url(struct sandbox *sb, const char *file_id, char *out,
                   size_t size);

/* A random id in Wix's GUID form into out[37]. */
void wix_new_guid(char out[37]);

/* A URL slug: lower-case ASCII letters and digits, other ASCII runs as
 * one '-', and UTF-8 kept as it is (Wix keeps non-Latin slugs). */
void wix_slugify(const char *text, char *out, size_t size);

/* One emulated endpoint, for wix_add_routes(). */
struct wix_route {
    const char *method;
    const char *pattern;
    sandbox_handler_fn handler;
};

/* Registers each route with sandbox_route(); -1 when one fails. */
int wix_add_routes(struct sandbox *sb, struct http_server *server,
                   const struct wix_route *routes, size_t count);

/* ---- wix_oauth.c ---- */

/* Makes a legacy authorization code for the site into out. Lock held. */
int wix_oauth_new_code(struct sandbox *sb, const char *instance_id,
                       char out[65]);

/* Revokes the site's access tokens; returns how many. Lock held. */
size_t wix_oauth_revoke(struct sandbox *sb, const char *instance_id);

/* ---- wix_query.c: filters, sorting and paging ---- */

/*
 * Maps a filter or sort field name to a path in the item (for
 * json_at()), or NULL when the field can't be filtered on.
 */
typedef const char *(*wix_field_fn)(const char *field);

/*
 * Keeps the items of array that match filter (a Wix query filter object:
 * {"field": value | {"$op": value}}, $and, $or, $not). Returns a new
 * array, or NULL with err set (ERR_INVALID) for an unknown operator or
 * field.
 */
json_t *wix_filter(const json_t *items, const json_t *filter,
                   wix_field_fn field_path, struct error *err);

/*
 * Sorts items in place by sort, given as [{"fieldName","order"}] or the
 * older [{"<field>": "asc"|"desc"}]. Returns -1 with err set for a field
 * that can't be sorted on.
 */
int wix_sort(json_t *items, const json_t *sort, wix_field_fn field_path,
             struct error *err);

/* Compares two JSON values the way filters and sorting do. */
int wix_compare(const json_t *a, const json_t *b);

/* ---- per-area route registration ---- */
int wix_sites_routes(struct sandbox *sb, struct http_server *server);
int wix_oauth_routes(struct sandbox *sb, struct http_server *server);
int wix_blog_routes(struct sandbox *sb, struct http_server *server);
int wix_stores_routes(struct sandbox *sb, struct http_server *server);
int wix_stores_v3_routes(struct sandbox *sb, struct http_server *server);
int wix_media_routes(struct sandbox *sb, struct http_server *server);
int wix_members_routes(struct sandbox *sb, struct http_server *server);

/* ---- wix_sites.c ---- */

/* Frees a site and its rate-limit window. */
void wix_site_free(struct wix_site *site);

/* Adds a site built from saved state (load) or a new one; takes state. */
struct wix_site *wix_site_add(struct sandbox_wix *wix, json_t *state);

/* The signed dashboard "instance" string for a site, into a new string. */
char *wix_site_instance_string(struct sandbox *sb, const struct wix_site *site,
                               int anonymous);

/* ---- wix_catalog.c: stored products and their V1 and V3 shapes ---- */

/*
 * Stored products are Catalog V1 products without URLs (those depend on
 * the port), plus "revision" (Catalog V3's counter) and
 * "description_ricos" (a V3 Ricos description, or null).
 */

/* Builds a stored product from a fixture or request entry. Returns a new
 * reference or NULL with err set. Lock held. */
json_t *wix_product_build(struct sandbox *sb, struct wix_site *site,
                          const json_t *spec, const json_t *collections,
                          struct error *err);

/* The V1 catalog shape of a stored product (new reference). */
json_t *wix_product_v1(struct sandbox *sb, struct wix_site *site,
                       const json_t *product, int include_variants);

/* A V1 media item for a site media file: {id, mediaType, title, ...}. */
json_t *wix_product_media_item(const json_t *file_entry);

/* Refreshes mainMedia from items after a change. */
void wix_product_main_media(json_t *product);

/* Stored product by id, or NULL. wix_product_for_change() also makes the
 * site's products its own, for a caller that changes the product. */
json_t *wix_product_find(struct wix_site *site, const char *id);
json_t *wix_product_for_change(struct wix_site *site, const char *id);

/* Bumps revision and lastUpdated after a change. */
void wix_product_touch(struct sandbox *sb, json_t *product);

/*
 * wix_begin() for a catalog endpoint of version 1 or 3: also sends 428
 * when the site uses the other catalog or has no Stores app. Returns the
 * site with the lock held, or NULL with the response written and the lock
 * released.
 */
struct wix_site *wix_begin_catalog(struct sandbox_call *call, int version);

/* Checks seoData ({tags: [{type: title|meta|script|link, ...}],
 * settings}); writes the 400 and returns -1 when it is invalid. */
int wix_seo_check(struct sandbox_call *call, const json_t *seo,
                  const char *field);

/* The formatted price text ("$42.99") for a price in a currency. */
void wix_price_format(double price, const char *currency, char *out,
                      size_t size);

/* ---- wix_media.c ---- */

/*
 * Adds a READY media file whose bytes the sandbox draws on request
 * (sandbox_make_image with the file id as seed). Returns the stored entry.
 */
json_t *wix_media_add_generated(struct sandbox *sb, struct wix_site *site,
                                const char *file_id, const char *display_name,
                                int width, int height);

/* Updates a file's operationStatus from the clock, its polls and its fetch;
 * counts a poll when poll is set. Returns the stored entry, or NULL. */
json_t *wix_media_lookup(struct sandbox *sb, struct wix_site *site,
                         const char *file_id, int poll);

/* The Wix file descriptor of a site's stored media entry (new
 * reference). */
json_t *wix_media_descriptor(struct sandbox *sb, const struct wix_site *site,
                             const json_t *entry);

/* Starts an import of url into the site's media; returns the new entry. */
json_t *wix_media_import(struct sandbox *sb, struct wix_site *site,
                         const char *url, const char *display_name,
                         const char *mime_type, const json_t *labels);

/* Blob table: bytes of uploaded and fetched files. */
struct wix_blob *wix_blob_find(struct sandbox_wix *wix, const char *id);
int wix_blob_put(struct sandbox_wix *wix, const char *id,
                 const char *content_type, const void *data, size_t len);
void wix_blobs_clear(struct sandbox_wix *wix);
json_t *wix_blobs_save(struct sandbox_wix *wix);
int wix_blobs_load(struct sandbox_wix *wix, const json_t *saved,
                   struct error *err);

/* ---- wix_ricos.c ---- */

/*
 * Checks a Ricos document the way the Blog API does (node types, nesting,
 * heading levels, image sizes, images that exist and are READY in the
 * site's media) and gives nodes without an id a new one. Returns 0, or -1
 * with the 400 written to call.
 */
int wix_ricos_check(struct sandbox_call *call, struct wix_site *site,
                    json_t *document, const char *field);

/* Plain text of a Ricos document, paragraphs joined by newlines. */
char *wix_ricos_text(const json_t *document);

/* The text of a Ricos document as HTML, one <p> per block. */
char *wix_ricos_html(const json_t *document);

/* A Ricos document with one paragraph per <p> (or per line of a text
 * without tags). */
json_t *wix_ricos_from_html(const char *html);

#endif
