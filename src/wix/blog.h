/*
 * Wix Blog draft posts (blog/v3), on one client. Every call needs the
 * permission "Manage Blog" (SCOPE.DC-BLOG.MANAGE-BLOG). Errors are those of
 * wix_call(). Results are new JSON references the caller releases with
 * json_decref().
 */
#ifndef SITESMITH_WIX_BLOG_H
#define SITESMITH_WIX_BLOG_H

#include "wix/wix.h"

/* Maximum title and excerpt lengths: the smaller of the documented limits. */
#define WIX_BLOG_TITLE_MAX 100
#define WIX_BLOG_EXCERPT_MAX 140

/*
 * Creates an unpublished draft from draft_post (a DraftPost object, which
 * must name a site member in memberId) and returns the created draft in
 * *out. Rejects a missing memberId, an empty title, and a title or excerpt
 * over the limits above (in characters) with ERR_INVALID without sending.
 */
int wix_blog_create_draft(struct wix_client *client, const json_t *draft_post,
                          json_t **out, struct error *err);

/*
 * Creates a post as wix_blog_create_draft() does. With publish set, Wix
 * publishes it at once (status PUBLISHED) instead of keeping a draft.
 */
int wix_blog_create_post(struct wix_client *client, const json_t *draft_post,
                         int publish, json_t **out, struct error *err);

/* Reads a draft post (with its rich content) into *out. */
int wix_blog_get_draft(struct wix_client *client, const char *draft_id,
                       json_t **out, struct error *err);

/*
 * Queries drafts: query is the "query" object ({"filter", "sort",
 * "paging"} or "cursorPaging"). *out receives the whole response,
 * {"draftPosts": [...], "pagingMetadata": {...}}.
 */
int wix_blog_query_drafts(struct wix_client *client, const json_t *query,
                          json_t **out, struct error *err);

#endif
