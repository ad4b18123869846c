/*
 * Wix Blog draft posts (blog/v3): create (with the owner, length, Ricos
 * and media checks), get, list and query.
 */
#include "wix.h"

#include "core/json.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_MAX_CHARS 100   /* one doc version says 200: the lower cap */
#define EXCERPT_MAX_CHARS 140 /* newer docs say 500: the lower cap */
#define DRAFT_MAX_BYTES (400 * 1024)
#define PAGE_DEFAULT 50
#define PAGE_MAX 100
#define WORDS_PER_MINUTE 200

struct list_limit {
    const char *field;
    size_t max_items;
    size_t max_chars;
};

static const struct list_limit list_limits[] = {
    {"categoryIds", 10, 100},
    {"tagIds", 30, 100},
    {"relatedPostIds", 3, 100},
    {"hashtags", 100, 100},
};

static const char *draft_field(const char *field)
{
    static const char *const fields[] = {
        "id",          "title",      "status",      "memberId",
        "language",    "editedDate", "createdDate", "hashtags",
        "categoryIds", "tagIds",     "featured",    "firstPublishedDate",
        "seoSlug",
    };

    if (strcmp(field, "_id") == 0)
        return "id";
    if (strcmp(field, "_createdDate") == 0)
        return "createdDate";
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(field, fields[i]) == 0)
            return fields[i];
    }
    return NULL;
}

static int fieldset_listed(const json_t *fieldsets,
                           const struct http_request *req, const char *name)
{
    size_t i;
    json_t *value;

    if (req && wix_query_has(req, "fieldsets", name))
        return 1;
    json_array_foreach(fieldsets, i, value)
    {
        if (json_is_string(value) &&
            strcmp(json_string_value(value), name) == 0)
            return 1;
    }
    return 0;
}

/* A stored draft as the API returns it for the requested fieldsets:
 * richContent only with RICH_CONTENT, url only with URL. */
static json_t *render_draft(const json_t *draft, const json_t *fieldsets,
                            const struct http_request *req)
{
    json_t *out = json_deep_copy(draft);

    if (!fieldset_listed(fieldsets, req, "RICH_CONTENT"))
        json_object_del(out, "richContent");
    if (!fieldset_listed(fieldsets, req, "URL"))
        json_object_del(out, "url");
    return out;
}

static json_t *find_draft(struct wix_site *site, const char *id)
{
    return wix_find_by(json_object_get(site->state, "drafts"), "id", id);
}

static int member_exists(struct wix_site *site, const char *id)
{
    return wix_find_by(json_object_get(site->state, "members"), "id", id) !=
           NULL;
}

static int check_text(struct sandbox_call *call, const json_t *draft,
                      const char *key, size_t max, int required)
{
    const json_t *value = json_object_get(draft, key);
    char field[64];
    size_t length;

    snprintf(field, sizeof(field), "draftPost.%s", key);
    if (!value || json_is_null(value)) {
        if (required)
            wix_field_error(call, field, "REQUIRED", "must not be empty");
        return required ? -1 : 0;
    }
    if (!json_is_string(value)) {
        wix_field_error(call, field, "TYPE", "must be a string");
        return -1;
    }
    length = wix_text_length(json_string_value(value));
    if ((required && length == 0) || length > max) {
        wix_field_error(call, field, length == 0 ? "REQUIRED" : "MAX_LENGTH",
                        "must be between 1 and %zu characters long, found %zu",
                        max, length);
        return -1;
    }
    return 0;
}

static int check_lists(struct sandbox_call *call, const json_t *draft)
{
    for (size_t i = 0; i < sizeof(list_limits) / sizeof(list_limits[0]); i++) {
        const struct list_limit *limit = &list_limits[i];
        const json_t *list = json_object_get(draft, limit->field);
        char field[64];
        size_t k;
        json_t *item;

        snprintf(field, sizeof(field), "draftPost.%s", limit->field);
        if (!list)
            continue;
        if (!json_is_array(list) || json_array_size(list) > limit->max_items) {
            wix_field_error(call, field, "MAX_SIZE",
                            "must be an array of at most %zu items",
                            limit->max_items);
            return -1;
        }
        json_array_foreach(list, k, item)
        {
            if (!json_is_string(item) ||
                wix_text_length(json_string_value(item)) > limit->max_chars) {
                wix_field_error(call, field, "MAX_LENGTH",
                                "items must be strings of at most %zu "
                                "characters",
                                limit->max_chars);
                return -1;
            }
        }
    }
    return 0;
}

/* The cover image must be a READY file of the site.
 * NOTE: Wix's own how-to allows a PENDING import to be used at once; this
 * follows the stricter rule that the media exists and is READY. */
static int check_media_ref(struct sandbox_call *call, struct wix_site *site,
                           const json_t *draft, const char *path,
                           const char *field)
{
    const json_t *value = json_at(draft, path);
    const json_t *entry;

    if (!value)
        return 0;
    if (!json_is_string(value)) {
        wix_field_error(call, field, "TYPE", "must be a string");
        return -1;
    }
    entry = wix_media_lookup(call->sb, site, json_string_value(value), 0);
    if (!entry) {
        wix_field_error(call, field, "MEDIA_EXISTS",
                        "media %s does not exist in the site's Media Manager",
                        json_string_value(value));
        return -1;
    }
    if (strcmp(json_string_value(json_at(entry, "file.operationStatus")),
               "READY") != 0) {
        wix_field_error(
            call, field, "MEDIA_READY", "media %s is %s, not READY",
            json_string_value(value),
            json_string_value(json_at(entry, "file.operationStatus")));
        return -1;
    }
    return 0;
}

static int check_owner(struct sandbox_call *call, struct wix_site *site,
                       const json_t *draft)
{
    const char *member = json_string_value(json_object_get(draft, "memberId"));

    if (!member || !*member) {
        wix_error(call, 400, "INVALID_ARGUMENT",
                  "Missing post owner information");
        return -1;
    }
    if (!member_exists(site, member)) {
        wix_error(call, 400, "INVALID_ARGUMENT", "memberIds [%s] do not exist",
                  member);
        return -1;
    }
    return 0;
}

/* Every check of a create, in the order that names the first problem. */
static int check_draft(struct sandbox_call *call, struct wix_site *site,
                       json_t *draft)
{
    json_t *rich = json_object_get(draft, "richContent");
    char *text;
    size_t size;

    if (check_owner(call, site, draft) != 0 ||
        check_text(call, draft, "title", TITLE_MAX_CHARS, 1) != 0 ||
        check_text(call, draft, "excerpt", EXCERPT_MAX_CHARS, 0) != 0 ||
        check_lists(call, draft) != 0 ||
        check_media_ref(call, site, draft, "media.wixMedia.image.id",
                        "draftPost.media.wixMedia.image.id") != 0 ||
        check_media_ref(call, site, draft, "heroImage.id",
                        "draftPost.heroImage.id") != 0)
        return -1;
    if (rich && !json_is_null(rich) &&
        wix_ricos_check(call, site, rich, "draftPost.richContent") != 0)
        return -1;
    text = json_dumps(draft, JSON_COMPACT);
    size = text ? strlen(text) : 0;
    free(text);
    if (size > DRAFT_MAX_BYTES) {
        wix_error(call, 400, "INVALID_ARGUMENT",
                  "draft post is %zu bytes, more than the %d allowed", size,
                  DRAFT_MAX_BYTES);
        return -1;
    }
    return 0;
}

static int minutes_to_read(const json_t *rich)
{
    char *text = rich ? wix_ricos_text(rich) : NULL;
    size_t words = 0;
    int in_word = 0;

    for (const char *p = text ? text : ""; *p; p++) {
        int space = isspace((unsigned char)*p);

        words += !space && !in_word;
        in_word = !space;
    }
    free(text);
    return words == 0
               ? 1
               : (int)((words + WORDS_PER_MINUTE - 1) / WORDS_PER_MINUTE);
}

static void set_default(json_t *draft, const char *key, json_t *value)
{
    if (!json_object_get(draft, key) ||
        json_is_null(json_object_get(draft, key)))
        json_object_set_new(draft, key, value);
    else
        json_decref(value);
}

/* Turns a checked request draft into the stored draft. */
static json_t *store_draft(struct sandbox *sb, struct wix_site *site,
                           const json_t *sent, int publish)
{
    json_t *draft = json_deep_copy(sent);
    char id[37];
    char when[32];
    char slug[512];
    char url[1024];

    wix_new_guid(id);
    wix_now_iso(sb, when);
    wix_slugify(json_string_value(json_object_get(draft, "title")), slug,
                sizeof(slug));
    snprintf(url, sizeof(url), "%s/post/%s", wix_site_string(site, "url"),
             slug);
    json_object_set_new(draft, "id", json_string(id));
    set_default(draft, "excerpt", json_string(""));
    set_default(draft, "featured", json_false());
    set_default(draft, "commentingEnabled", json_true());
    set_default(draft, "hashtags", json_array());
    set_default(draft, "tagIds", json_array());
    set_default(draft, "relatedPostIds", json_array());
    set_default(draft, "pricingPlanIds", json_array());
    set_default(draft, "language", json_string("en"));
    set_default(draft, "seoData", json_pack("{s[]}", "tags"));
    set_default(draft, "richContent", json_pack("{s[]}", "nodes"));
    /* The sandbox's blogs have no categories, and Wix drops unknown ones
     * without an error. */
    json_object_set_new(draft, "categoryIds", json_array());
    json_object_set_new(
        draft, "minutesToRead",
        json_integer(minutes_to_read(json_object_get(draft, "richContent"))));
    json_object_set_new(draft, "status",
                        json_string(publish ? "PUBLISHED" : "UNPUBLISHED"));
    json_object_set_new(draft, "hasUnpublishedChanges", json_boolean(!publish));
    json_object_set_new(draft, "createdDate", json_string(when));
    json_object_set_new(draft, "editedDate", json_string(when));
    if (publish)
        json_object_set_new(draft, "firstPublishedDate", json_string(when));
    json_object_set_new(draft, "seoSlug", json_string(slug));
    json_object_set_new(draft, "url", json_string(url));
    json_object_set_new(draft, "changeOrigin", json_string("AUTO_SAVE"));
    return draft;
}

/* POST /blog/v3/draft-posts {draftPost, publish, fieldsets} */
static void create_draft(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_BLOG);
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *sent = json_object_get(body, "draftPost");
    json_t *fieldsets = json_object_get(body, "fieldsets");
    json_t *draft;

    if (!body)
        goto out;
    if (!json_is_object(sent)) {
        wix_field_error(call, "draftPost", "REQUIRED", "must be an object");
        goto out;
    }
    if (fieldsets &&
        (!json_is_array(fieldsets) || json_array_size(fieldsets) > 10)) {
        wix_field_error(call, "fieldsets", "MAX_SIZE",
                        "must be an array of at most 10 fieldsets");
        goto out;
    }
    if (check_draft(call, site, sent) != 0)
        goto out;
    draft = store_draft(call->sb, site, sent,
                        json_is_true(json_object_get(body, "publish")));
    json_array_append_new(json_object_get(site->state, "drafts"), draft);
    wix_reply(call, json_pack("{so}", "draftPost",
                              render_draft(draft, fieldsets, NULL)));
out:
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

/* GET /blog/v3/draft-posts/{draftPostId}?fieldsets= */
static void get_draft(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_BLOG);
    const char *id = http_request_param(call->req, "draftPostId");
    json_t *draft;

    if (!site)
        return;
    draft = find_draft(site, id);
    if (draft)
        wix_reply(call, json_pack("{so}", "draftPost",
                                  render_draft(draft, NULL, call->req)));
    else
        wix_not_found(call, "draft post", id);
    sandbox_unlock(call->sb);
}

static int read_page(struct sandbox_call *call, const char *limit_text,
                     const char *offset_text, int64_t *limit, int64_t *offset)
{
    char *end = "";

    *limit = limit_text ? strtoll(limit_text, &end, 10) : PAGE_DEFAULT;
    if (*end || *limit < 0 || *limit > PAGE_MAX) {
        wix_field_error(call, "paging.limit", "MAX", "must be between 0 and %d",
                        PAGE_MAX);
        return -1;
    }
    *offset = offset_text ? strtoll(offset_text, &end, 10) : 0;
    if (*end || *offset < 0) {
        wix_field_error(call, "paging.offset", "MIN", "must not be negative");
        return -1;
    }
    return 0;
}

static json_t *page_of(const json_t *items, int64_t offset, int64_t limit,
                       const json_t *fieldsets, const struct http_request *req)
{
    json_t *page = json_array();

    for (size_t i = (size_t)offset;
         i < json_array_size(items) && i < (size_t)(offset + limit); i++)
        json_array_append_new(
            page, render_draft(json_array_get(items, i), fieldsets, req));
    return page;
}

/* GET /blog/v3/draft-posts?status=&language=&sort=&paging.offset=&
 * paging.limit=&fieldsets= */
static void list_drafts(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_BLOG);
    const struct http_request *req = call->req;
    const char *status = http_request_query(req, "status");
    const char *language = http_request_query(req, "language");
    const char *sort = http_request_query(req, "sort");
    json_t *filter = json_object();
    json_t *matched = NULL;
    json_t *order;
    struct error err;
    int64_t limit;
    int64_t offset;

    if (!site)
        goto out;
    if (status)
        json_object_set_new(filter, "status", json_string(status));
    if (language)
        json_object_set_new(filter, "language", json_string(language));
    order = json_pack("[{ss ss}]", "fieldName", "editedDate", "order",
                      sort && strcmp(sort, "EDITING_DATE_ASC") == 0 ? "ASC"
                                                                    : "DESC");
    matched = wix_filter(json_object_get(site->state, "drafts"), filter,
                         draft_field, &err);
    wix_sort(matched, order, draft_field, &err);
    json_decref(order);
    if (read_page(call, http_request_query(req, "paging.limit"),
                  http_request_query(req, "paging.offset"), &limit,
                  &offset) == 0) {
        json_t *page = page_of(matched, offset, limit, NULL, req);

        wix_reply(call,
                  json_pack("{so s{si sI si sn}}", "draftPosts", page,
                            "metaData", "count", (int)json_array_size(page),
                            "offset", (json_int_t)offset, "total",
                            (int)json_array_size(matched), "cursor"));
    }
    sandbox_unlock(call->sb);
out:
    json_decref(matched);
    json_decref(filter);
}

/* Offset and limit from {paging: {limit, offset}} or {cursorPaging:
 * {limit, cursor}}, where the sandbox's cursor is the next offset. */
static int read_query_page(struct sandbox_call *call, const json_t *query,
                           int64_t *limit, int64_t *offset, int *cursor_mode)
{
    const json_t *paging = json_object_get(query, "paging");
    const json_t *cursor_paging = json_object_get(query, "cursorPaging");
    const json_t *used = cursor_paging ? cursor_paging : paging;
    const json_t *limit_value = json_object_get(used, "limit");
    const char *cursor =
        json_string_value(json_object_get(cursor_paging, "cursor"));
    char limit_text[24];
    char offset_text[24];

    *cursor_mode = cursor_paging != NULL;
    snprintf(limit_text, sizeof(limit_text), "%lld",
             (long long)(json_is_integer(limit_value)
                             ? json_integer_value(limit_value)
                             : PAGE_DEFAULT));
    snprintf(offset_text, sizeof(offset_text), "%lld",
             (long long)json_integer_value(json_object_get(paging, "offset")));
    return read_page(call, limit_text, cursor ? cursor : offset_text, limit,
                     offset);
}

/* POST /blog/v3/draft-posts/query {query: {filter, sort, paging |
 * cursorPaging}, fieldsets} */
static void query_drafts(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_BLOG);
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *query = json_object_get(body, "query");
    json_t *sort = json_object_get(query, "sort");
    json_t *default_sort =
        json_pack("[{ss ss}]", "fieldName", "editedDate", "order", "DESC");
    json_t *matched = NULL;
    struct error err;
    int64_t limit;
    int64_t offset;
    int cursor_mode;
    int more;
    char next[24];
    json_t *page;

    if (!body ||
        read_query_page(call, query, &limit, &offset, &cursor_mode) != 0)
        goto out;
    matched = wix_filter(json_object_get(site->state, "drafts"),
                         json_object_get(query, "filter"), draft_field, &err);
    if (!sort || json_array_size(sort) == 0)
        sort = default_sort;
    if (!matched || wix_sort(matched, sort, draft_field, &err) != 0) {
        wix_error(call, 400, "INVALID_ARGUMENT", "%s", err.message);
        goto out;
    }
    page = page_of(matched, offset, limit, json_object_get(body, "fieldsets"),
                   NULL);
    more = offset + limit < (int64_t)json_array_size(matched);
    snprintf(next, sizeof(next), "%lld", (long long)(offset + limit));
    wix_reply(call,
              json_pack("{so s{si sI si sb s{so}}}", "draftPosts", page,
                        "pagingMetadata", "count", (int)json_array_size(page),
                        "offset", (json_int_t)offset, "total",
                        (int)json_array_size(matched), "tooManyToCount", 0,
                        "cursors", "next",
                        cursor_mode && more ? json_string(next) : json_null()));
out:
    json_decref(default_sort);
    json_decref(matched);
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

int wix_blog_routes(struct sandbox *sb, struct http_server *server)
{
    static const struct wix_route routes[] = {
        {"POST", "/wix/blog/v3/draft-posts", create_draft},
        {"GET", "/wix/blog/v3/draft-posts", list_drafts},
        {"POST", "/wix/blog/v3/draft-posts/query", query_drafts},
        {"GET", "/wix/blog/v3/draft-posts/{draftPostId}", get_draft},
    };

    return wix_add_routes(sb, server, routes,
                          sizeof(routes) / sizeof(routes[0]));
}
