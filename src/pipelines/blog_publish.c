/*
 * The publish step (job "blog.publish"), with a fresh token and client
 * from wix_run(). The cover goes into the Media Manager (blog_media.c),
 * the Markdown body becomes rich content, and the post is saved as an
 * unpublished draft under the site's writer, or published at once when the
 * generation's options ask for it. Then one transaction stores the Wix ids
 * and the result, marks the generation done and captures its credits.
 *
 * The draft is created once even when the step runs again. Its effect
 * ("gen/<id>/draft") is begun before the create and completed right after
 * it, and a retry that finds the effect begun without an id queries the
 * site's drafts by title and writer before creating another.
 */
#include "pipelines/blog_internal.h"

#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "pipelines/ricos.h"
#include "wix/blog.h"
#include "wix/site.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBERS_PERMISSION "Read Members"
#define BLOG_PERMISSION "Manage Blog (SCOPE.DC-BLOG.MANAGE-BLOG)"
#define MEMBER_ID_MAX 128
#define DRAFT_QUERY_LIMIT 20

struct publish_ctx {
    struct blog_job *bj;
    const json_t *post;         /* write checkpoint's post */
    const json_t *image;        /* image checkpoint */
    char writer[MEMBER_ID_MAX]; /* from the site's settings, or "" */
    struct blog_media media;
    char member_id[MEMBER_ID_MAX];
    char draft_id[128];
    char draft_url[1024];
};

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

/* The site's configured writer_member_id, or "" (read outside Wix work). */
static int read_writer_setting(struct blog_job *bj, char *out, size_t size,
                               struct error *err)
{
    struct store_tx *tx = store_begin_read(bj->app->store, err);
    struct store_instance instance;
    json_t *settings;
    const char *writer;
    int rc;

    out[0] = '\0';
    if (!tx)
        return -1;
    memset(&instance, 0, sizeof(instance));
    rc = store_instance_get(tx, bj->gen.instance_id, &instance, err);
    store_rollback(tx);
    if (rc <= 0)
        return rc;
    settings = json_loads(instance.settings, 0, NULL);
    writer = json_string_value(json_object_get(settings, "writer_member_id"));
    if (writer && writer[0])
        snprintf(out, size, "%s", writer);
    json_decref(settings);
    store_instance_clear(&instance);
    return 0;
}

/* The member whose login email is the site owner's, if any. */
static int find_owner_member(struct wix_client *client, char *out, size_t size,
                             struct error *err)
{
    json_t *instance = NULL;
    json_t *body;
    json_t *response = NULL;
    const char *email;
    const char *id;
    int rc;

    if (wix_app_get_instance(client, &instance, err) != 0)
        return err->kind == ERR_FORBIDDEN || err->kind == ERR_NOT_FOUND ? 0
                                                                        : -1;
    email = json_string_value(json_at(instance, "site.ownerInfo.email"));
    if (!email)
        email = json_string_value(json_at(instance, "site.ownerEmail"));
    body = email ? json_pack("{s:{s:{s:s}, s:{s:i}}}", "query", "filter",
                             "loginEmail", email, "paging", "limit", 1)
                 : NULL;
    json_decref(instance);
    if (!body)
        return 0;
    rc = wix_call(client, "POST", "/members/v1/members/query", body,
                  MEMBERS_PERMISSION, &response, err);
    json_decref(body);
    if (rc != 0)
        return -1;
    id = json_string_value(json_at(response, "members[0].id"));
    if (id)
        snprintf(out, size, "%s", id);
    json_decref(response);
    return 0;
}

/*
 * Picks the post's owner: the site's writer_member_id setting, else the
 * site owner's member (an admin), else the first member of the site.
 */
static int choose_writer(struct publish_ctx *ctx, struct wix_client *client,
                         struct error *err)
{
    json_t *members = NULL;
    const char *first;

    if (ctx->writer[0]) {
        snprintf(ctx->member_id, sizeof(ctx->member_id), "%s", ctx->writer);
        return 0;
    }
    if (find_owner_member(client, ctx->member_id, sizeof(ctx->member_id),
                          err) != 0)
        return -1;
    if (ctx->member_id[0])
        return 0;
    if (wix_members_list(client, 1, &members, err) != 0)
        return -1;
    first = json_string_value(json_at(members, "[0].id"));
    if (first)
        snprintf(ctx->member_id, sizeof(ctx->member_id), "%s", first);
    json_decref(members);
    if (!first) {
        error_set(err, ERR_PERMANENT,
                  "site %s has no members to own the post: add a member or "
                  "set the site's writer_member_id",
                  ctx->bj->gen.instance_id);
        snprintf(err->code, sizeof(err->code), BLOG_ERR_NO_MEMBERS);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rich content                                                        */
/* ------------------------------------------------------------------ */

static int has_level_one_heading(const json_t *doc)
{
    size_t index;
    json_t *node;

    json_array_foreach(json_object_get(doc, "nodes"), index, node)
    {
        const char *type = json_string_value(json_object_get(node, "type"));

        if (type && strcmp(type, "HEADING") == 0 &&
            json_integer_value(json_at(node, "headingData.level")) == 1)
            return 1;
    }
    return 0;
}

/*
 * Converts the body. The post's title is its H1, so a body that has "# "
 * headings is shifted down one level as a whole, which keeps its
 * hierarchy.
 */
static json_t *rich_content(const char *markdown, const char *site_url,
                            struct error *err)
{
    struct ricos_options options = {
        .link_nofollow = 1,
        .site_url = site_url,
        .unresolved_images = RICOS_UNRESOLVED_DROP,
    };
    json_t *doc =
        ricos_from_markdown(markdown, strlen(markdown), &options, err);

    if (doc && has_level_one_heading(doc)) {
        json_decref(doc);
        options.heading_shift = 1;
        doc = ricos_from_markdown(markdown, strlen(markdown), &options, err);
    }
    if (doc && ricos_validate(doc, err) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    if (!doc)
        error_prefix(err, "converting the post body to rich content");
    return doc;
}

/* ------------------------------------------------------------------ */
/* Draft                                                               */
/* ------------------------------------------------------------------ */

static json_t *seo_data(const json_t *post, const json_t *keywords)
{
    json_t *terms = json_array();
    json_t *keyword;
    size_t index;

    json_array_foreach(keywords, index, keyword) json_array_append_new(
        terms, json_pack("{s:O, s:b}", "term", keyword, "isMain", index == 0));
    return json_pack(
        "{s:[{s:s, s:O, s:b, s:b}, {s:s, s:{s:s, s:O}, s:b, s:b}],"
        " s:{s:b, s:o}}",
        "tags", "type", "title", "children", json_object_get(post, "seo_title"),
        "custom", 1, "disabled", 0, "type", "meta", "props", "name",
        "description", "content", json_object_get(post, "meta_description"),
        "custom", 1, "disabled", 0, "settings", "preventAutoRedirect", 0,
        "keywords", terms);
}

static json_t *draft_post(const struct publish_ctx *ctx, json_t *doc)
{
    const struct blog_media *m = &ctx->media;
    const json_t *post = ctx->post;
    const json_t *idea =
        json_object_get(blog_checkpoint(ctx->bj, "selection"), "idea");

    return json_pack(
        "{s:O, s:O, s:s, s:O, s:O, s:O,"
        " s:{s:{s:{s:s, s:s, s:i, s:i}}, s:b, s:b},"
        " s:{s:s, s:s, s:i, s:i, s:O}, s:o}",
        "title", json_object_get(post, "title"), "excerpt",
        json_object_get(post, "excerpt"), "memberId", ctx->member_id,
        "richContent", doc, "hashtags", json_object_get(post, "hashtags"),
        "language", json_object_get(ctx->bj->input, "language"), "media",
        "wixMedia", "image", "id", m->id, "url", m->url, "width", m->width,
        "height", m->height, "displayed", 1, "custom", 1, "heroImage", "id",
        m->id, "url", m->url, "width", m->width, "height", m->height, "altText",
        json_object_get(post, "title"), "seoData",
        seo_data(post, json_object_get(idea, "keywords")));
}

/* Looks for the draft an earlier attempt may have created: same title,
 * same writer and same excerpt. */
static int find_draft(struct publish_ctx *ctx, struct wix_client *client,
                      struct error *err)
{
    const json_t *post = ctx->post;
    json_t *query =
        json_pack("{s:{s:{s:O}, s:{s:s}}, s:{s:i}}", "filter", "title", "$eq",
                  json_object_get(post, "title"), "memberId", "$eq",
                  ctx->member_id, "paging", "limit", DRAFT_QUERY_LIMIT);
    json_t *response = NULL;
    json_t *draft;
    size_t index;
    int rc;

    rc = query ? wix_blog_query_drafts(client, query, &response, err)
               : error_set(err, ERR_PERMANENT, "out of memory");
    json_decref(query);
    if (rc != 0)
        return -1;
    json_array_foreach(json_object_get(response, "draftPosts"), index, draft)
    {
        const char *id = json_string_value(json_object_get(draft, "id"));

        if (id && json_equal(json_object_get(draft, "excerpt"),
                             json_object_get(post, "excerpt"))) {
            snprintf(ctx->draft_id, sizeof(ctx->draft_id), "%s", id);
            break;
        }
    }
    json_decref(response);
    return 0;
}

/* The draft's URL, when Wix gives one (as text or as {base, path}). */
static void read_draft_url(struct publish_ctx *ctx, struct wix_client *client)
{
    json_t *response = NULL;
    const json_t *url;
    char path[256];
    struct error err;

    error_clear(&err);
    snprintf(path, sizeof(path), "/blog/v3/draft-posts/%s?fieldsets=URL",
             ctx->draft_id);
    if (wix_call(client, "GET", path, NULL, BLOG_PERMISSION, &response, &err) !=
        0) {
        log_warn("blog",
                 "cannot read the draft's URL generation=%s "
                 "draft=%s error=\"%s\"",
                 ctx->bj->gen.id, ctx->draft_id, err.message);
        return;
    }
    url = json_at(response, "draftPost.url");
    if (json_is_string(url))
        snprintf(ctx->draft_url, sizeof(ctx->draft_url), "%s",
                 json_string_value(url));
    else if (json_is_object(url))
        snprintf(ctx->draft_url, sizeof(ctx->draft_url), "%s%s",
                 json_string_value(json_object_get(url, "base"))
                     ? json_string_value(json_object_get(url, "base"))
                     : "",
                 json_string_value(json_object_get(url, "path"))
                     ? json_string_value(json_object_get(url, "path"))
                     : "");
    json_decref(response);
}

static int create_draft(struct publish_ctx *ctx, struct wix_client *client,
                        json_t *doc, struct error *err)
{
    json_t *body = draft_post(ctx, doc);
    json_t *draft = NULL;
    const char *id;
    int rc;

    rc = body ? wix_blog_create_post(client, body,
                                     blog_options_publish(ctx->bj->input),
                                     &draft, err)
              : error_set(err, ERR_PERMANENT, "out of memory");
    json_decref(body);
    if (rc != 0)
        return -1;
    id = json_string_value(json_object_get(draft, "id"));
    if (id)
        snprintf(ctx->draft_id, sizeof(ctx->draft_id), "%s", id);
    json_decref(draft);
    if (!id)
        return error_set(err, ERR_RETRYABLE,
                         "create draft post: Wix's answer has no id");
    log_info("blog", "draft created generation=%s draft=%s member=%s",
             ctx->bj->gen.id, ctx->draft_id, ctx->member_id);
    return 0;
}

/* Creates the draft once; fills ctx->draft_id. Takes doc. */
static int ensure_draft(struct publish_ctx *ctx, struct wix_client *client,
                        json_t *doc, struct error *err)
{
    struct store_effect effect;
    char key[STORE_ID_MAX * 2];
    int rc;

    snprintf(key, sizeof(key), "gen/%s/draft", ctx->bj->gen.id);
    rc = blog_effect_begin(ctx->bj, key, &effect, err);
    if (rc >= 0 && effect.remote_id)
        snprintf(ctx->draft_id, sizeof(ctx->draft_id), "%s", effect.remote_id);
    store_effect_clear(&effect);
    if (rc < 0)
        goto fail;
    if (ctx->draft_id[0]) {
        json_decref(doc);
        return 0;
    }

    /* The intent was recorded before: the create may have happened. */
    if (rc == 0 && find_draft(ctx, client, err) != 0)
        goto fail;
    if (ctx->draft_id[0])
        log_info("blog",
                 "found the draft of an earlier attempt generation=%s "
                 "draft=%s",
                 ctx->bj->gen.id, ctx->draft_id);
    else if (create_draft(ctx, client, doc, err) != 0)
        goto fail;
    json_decref(doc);
    return blog_effect_done(ctx->bj, key, ctx->draft_id, err);

fail:
    json_decref(doc);
    return -1;
}

/* ------------------------------------------------------------------ */
/* The step                                                            */
/* ------------------------------------------------------------------ */

/* One unit of Wix work; wix_run() may run it twice after a 401, and each
 * part finds what an earlier run made. */
static int publish_unit(struct wix_client *client, void *arg, struct error *err)
{
    struct publish_ctx *ctx = arg;
    const char *markdown =
        json_string_value(json_object_get(ctx->post, "body_markdown"));
    const char *site_url = json_string_value(
        json_at(blog_checkpoint(ctx->bj, "ideas"), "site.url"));
    json_t *doc;
    int rc;

    if (blog_media_ensure(ctx->bj, client, ctx->image, &ctx->media, err) != 0 ||
        choose_writer(ctx, client, err) != 0)
        return -1;
    doc = rich_content(markdown ? markdown : "", site_url, err);
    if (!doc) {
        blog_error_from(err, BLOG_SOURCE_APP);
        return -1;
    }

    /* Last look before the create: a cancelled generation gets no draft. */
    rc = blog_still_in_state(ctx->bj, BLOG_PUBLISHING, err);
    if (rc <= 0) {
        json_decref(doc);
        return rc;
    }
    if (ensure_draft(ctx, client, doc, err) != 0)
        return -1;
    read_draft_url(ctx, client);
    return 0;
}

static int publish_work(struct blog_job *bj, json_t **output, struct error *err)
{
    const json_t *done = blog_checkpoint(bj, "publish");
    struct publish_ctx ctx = {
        .bj = bj,
        .post = json_object_get(blog_checkpoint(bj, "write"), "post"),
        .image = blog_checkpoint(bj, "image"),
    };

    if (done && json_object_get(done, "draft_post_id")) {
        *output = json_incref((json_t *)done);
        return 0;
    }
    if (!ctx.post || !ctx.image)
        return error_set(err, ERR_PERMANENT,
                         "publish step: generation %s has no written post or "
                         "cover image",
                         bj->gen.id);
    if (read_writer_setting(bj, ctx.writer, sizeof(ctx.writer), err) != 0) {
        error_prefix(err, "publish step");
        return -1;
    }
    if (wix_run(bj->app->wix, bj->gen.instance_id, publish_unit, &ctx, err) !=
        0) {
        /* Whatever publish_unit did not mark came from a Wix call. */
        error_prefix(err, "publish step");
        blog_error_from(err, BLOG_SOURCE_WIX);
        return -1;
    }
    *output = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s?, s:s?}", "media_id",
                        ctx.media.id, "media_url", ctx.media.url, "width",
                        ctx.media.width, "height", ctx.media.height,
                        "member_id", ctx.member_id, "draft_post_id",
                        ctx.draft_id[0] ? ctx.draft_id : NULL, "draft_url",
                        ctx.draft_url[0] ? ctx.draft_url : NULL);
    return *output ? 0 : error_set(err, ERR_PERMANENT, "out of memory");
}

/* Stores the Wix ids and the result of what publish made. */
static int record_created(struct blog_job *bj, struct store_tx *tx,
                          const json_t *output, struct error *err)
{
    const char *media = json_string_value(json_object_get(output, "media_id"));
    const char *draft =
        json_string_value(json_object_get(output, "draft_post_id"));
    json_t *result;
    char *text;
    int rc;

    if ((media && store_generation_set_wix_id(tx, bj->gen.id, "mediaId", media,
                                              err) != 0) ||
        (draft && store_generation_set_wix_id(tx, bj->gen.id, "draftPostId",
                                              draft, err) != 0))
        return -1;
    result = json_pack("{s:O, s:O, s:O, s:O}", "draft_post_id",
                       json_object_get(output, "draft_post_id"), "draft_url",
                       json_object_get(output, "draft_url"), "media_id",
                       json_object_get(output, "media_id"), "member_id",
                       json_object_get(output, "member_id"));
    text = result ? json_to_string(result) : NULL;
    json_decref(result);
    if (!text)
        return error_set(err, ERR_PERMANENT, "out of memory");
    rc = store_generation_set_result(tx, bj->gen.id, text, err);
    free(text);
    return rc;
}

static int publish_advance(struct blog_job *bj, struct store_tx *tx,
                           const json_t *output, struct error *err)
{
    if (!json_object_get(output, "draft_post_id"))
        return error_set(err, ERR_PERMANENT,
                         "publish step made no draft for generation %s",
                         bj->gen.id);
    if (blog_write_checkpoint(tx, bj->gen.id, "publish", output, err) != 0 ||
        record_created(bj, tx, output, err) != 0 ||
        blog_set_state(tx, bj->gen.id, BLOG_PUBLISHING, BLOG_DONE, err) != 0 ||
        store_credits_capture(tx, bj->gen.id, err) < 0)
        return -1;
    return 0;
}

/*
 * The generation was cancelled while the step ran, which happens only when
 * the site removed the app (the owner can't cancel once publishing). What
 * the step made stays on the site, so the generation names it and a
 * warning is logged.
 */
static int publish_abandoned(struct blog_job *bj, struct store_tx *tx,
                             const json_t *output, struct error *err)
{
    if (!output)
        return 0;
    if (json_object_get(output, "draft_post_id"))
        log_warn("blog",
                 "draft created after the generation was cancelled "
                 "generation=%s draft=%s",
                 bj->gen.id,
                 json_string_value(json_object_get(output, "draft_post_id")));
    if (blog_write_checkpoint(tx, bj->gen.id, "publish", output, err) != 0)
        return -1;
    return record_created(bj, tx, output, err);
}

static void publish_committed(struct blog_job *bj, const json_t *output)
{
    char labels[64];

    (void)output;
    snprintf(labels, sizeof(labels), "kind=\"blog\"");
    metrics_count("sitesmith_credits_charged_total", labels,
                  bj->gen.credits_reserved);
    log_info("blog",
             "generation done instance=%s generation=%s draft=%s "
             "charged=%" PRId64,
             bj->gen.instance_id, bj->gen.id,
             json_string_value(json_object_get(output, "draft_post_id")),
             bj->gen.credits_reserved);
}

const struct blog_step blog_publish_step = {
    .kind = BLOG_JOB_PUBLISH,
    .state = BLOG_PUBLISHING,
    .work = publish_work,
    .advance = publish_advance,
    .abandoned = publish_abandoned,
    .committed = publish_committed,
};
