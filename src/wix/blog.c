#include "wix/blog.h"

#include "wix/call.h"

#include <string.h>

int wix_blog_create_draft(struct wix_client *client, const json_t *draft_post,
                          json_t **out, struct error *err)
{
    return wix_blog_create_post(client, draft_post, 0, out, err);
}

int wix_blog_create_post(struct wix_client *client, const json_t *draft_post,
                         int publish, json_t **out, struct error *err)
{
    json_t *body;
    json_t *response;
    int rc;

    *out = NULL;
    if (!json_is_object(draft_post))
        return error_set(err, ERR_INVALID, "draft post: expected an object");
    /* Wix rejects a draft from an app without a site member as its owner. */
    if (wix_check_text(draft_post, "draft post", "memberId", 1, 128, 1, err) <
            0 ||
        wix_check_text(draft_post, "draft post", "title", 1, WIX_BLOG_TITLE_MAX,
                       1, err) < 0 ||
        wix_check_text(draft_post, "draft post", "excerpt", 0,
                       WIX_BLOG_EXCERPT_MAX, 0, err) < 0)
        return -1;

    body = json_pack("{s:O, s:b}", "draftPost", draft_post, "publish",
                     publish != 0);
    if (!body)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    rc = wix_call(client, "POST", "/blog/v3/draft-posts", body,
                  WIX_PERMISSION_BLOG, &response, err);
    json_decref(body);
    if (rc < 0)
        return -1;
    return wix_take_member(response, "draftPost", "create draft post", out,
                           err);
}

int wix_blog_get_draft(struct wix_client *client, const char *draft_id,
                       json_t **out, struct error *err)
{
    char path[1024];
    json_t *response;

    *out = NULL;
    if (wix_path(path, sizeof(path), "/blog/v3/draft-posts/", draft_id,
                 "?fieldsets=RICH_CONTENT", "get draft post", err) < 0 ||
        wix_call(client, "GET", path, NULL, WIX_PERMISSION_BLOG, &response,
                 err) < 0)
        return -1;
    return wix_take_member(response, "draftPost", "get draft post", out, err);
}

int wix_blog_query_drafts(struct wix_client *client, const json_t *query,
                          json_t **out, struct error *err)
{
    json_t *body;
    int rc;

    *out = NULL;
    body = query ? json_pack("{s:O}", "query", query)
                 : json_pack("{s:{}}", "query");
    if (!body)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    rc = wix_call(client, "POST", "/blog/v3/draft-posts/query", body,
                  WIX_PERMISSION_BLOG, out, err);
    json_decref(body);
    return rc;
}
