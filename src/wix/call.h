/*
 * Helpers shared by the Wix call modules (blog.c, stores.c, media.c,
 * site.c). Not for use outside src/wix.
 */
#ifndef SITESMITH_WIX_CALL_H
#define SITESMITH_WIX_CALL_H

#include "core/json.h"
#include "wix/wix.h"

#include <stddef.h>

/* Permission names as the Wix app dashboard shows them, with the scope. */
#define WIX_PERMISSION_BLOG "Manage Blog (SCOPE.DC-BLOG.MANAGE-BLOG)"
#define WIX_PERMISSION_PRODUCTS                                                \
    "Manage Products (SCOPE.DC-STORES.MANAGE-PRODUCTS)"
#define WIX_PERMISSION_CATALOG_VERSION                                         \
    "Read v3 catalog (SCOPE.STORES.CATALOG_READ_LIMITED)"
#define WIX_PERMISSION_MEDIA "Manage Media Manager"
/* NOTE: the name of the members read permission is not in the reference
 * used here; "Read Members" is the dashboard's usual wording. */
#define WIX_PERMISSION_MEMBERS "Read Members"
#define WIX_PERMISSION_APP "Manage Your App"

/* Number of Unicode code points in UTF-8 text (Wix counts characters). */
size_t wix_utf8_length(const char *text);

/*
 * Checks object[field], a text of min to max characters, before a request
 * carries it. An absent field passes unless required. what names the
 * object in the message ("draft post").
 */
int wix_check_text(const json_t *object, const char *what, const char *field,
                   size_t min, size_t max, int required, struct error *err);

/*
 * Writes prefix, the percent-encoded id and suffix into out (a path).
 * Rejects a missing or empty id with ERR_INVALID naming what.
 */
int wix_path(char *out, size_t size, const char *prefix, const char *id,
             const char *suffix, const char *what, struct error *err);

/*
 * Moves response[key] (an object) into *out as a new reference and releases
 * response. A missing member fails with ERR_RETRYABLE, because a Wix response
 * without it is incomplete.
 */
int wix_take_member(json_t *response, const char *key, const char *what,
                    json_t **out, struct error *err);

/*
 * PUTs bytes to a signed URL that Wix handed out (an upload URL), without
 * the Authorization header, and parses the JSON response into *out. Errors
 * are mapped as by wix_call().
 */
int wix_put_signed(struct wix_client *client, const char *url, const void *data,
                   size_t length, const char *content_type, json_t **out,
                   struct error *err);

#endif
