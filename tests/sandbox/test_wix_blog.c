/*
 * The sandbox's Wix Blog draft posts through HTTP: create with its checks
 * (owner, lengths, Ricos nesting, media), get, list and query.
 */
#include "sandbox_proc.h"

#include "core/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static struct sandbox_proc sandbox;

struct site {
    char instance_id[64];
    char member_id[64];
    char other_member_id[64];
    char token[128];
    char ready_media_id[160]; /* a READY image of the store fixture */
};

static void new_site(struct site *site, int with_store)
{
    json_t *created = sandbox_proc_create_site(
        &sandbox, with_store ? "{\"fixture\": \"store\"}" : "{}");
    json_t *state;

    snprintf(site->instance_id, sizeof(site->instance_id), "%s",
             json_string_value(json_object_get(created, "instance_id")));
    snprintf(site->member_id, sizeof(site->member_id), "%s",
             json_string_value(json_object_get(created, "owner_member_id")));
    snprintf(site->other_member_id, sizeof(site->other_member_id), "%s",
             json_string_value(json_at(created, "members[1].id")));
    json_decref(created);
    sandbox_proc_wix_token(&sandbox, site->instance_id, site->token,
                           sizeof(site->token));
    site->ready_media_id[0] = '\0';
    if (!with_store)
        return;
    state = sandbox_proc_site(&sandbox, site->instance_id);
    snprintf(site->ready_media_id, sizeof(site->ready_media_id), "%s",
             json_string_value(json_at(state, "media[0].id")));
    assert_string_equal(
        json_string_value(json_at(state, "media[0].operationStatus")), "READY");
    json_decref(state);
}

/* POST /wix/blog/v3/draft-posts with {"draftPost": draft, extra...}. */
static json_t *create(struct site *site, const char *draft, const char *extra,
                      long expected_status)
{
    char *body = malloc(strlen(draft) + (extra ? strlen(extra) : 0) + 64);
    json_t *answer;

    sprintf(body, "{\"draftPost\": %s%s%s}", draft, extra ? ", " : "",
            extra ? extra : "");
    answer = sandbox_proc_wix_call(&sandbox, site->token, "POST",
                                   "/wix/blog/v3/draft-posts", body,
                                   expected_status);
    free(body);
    return answer;
}

/* A draft with the site's owner, a title and optional more fields. */
static char *draft_json(const struct site *site, const char *title,
                        const char *more)
{
    char *out = malloc(strlen(title) + (more ? strlen(more) : 0) + 256);

    sprintf(out, "{\"title\": \"%s\", \"memberId\": \"%s\"%s%s}", title,
            site->member_id, more ? ", " : "", more ? more : "");
    return out;
}

static json_t *create_titled(struct site *site, const char *title,
                             const char *more, long expected_status)
{
    char *draft = draft_json(site, title, more);
    json_t *answer = create(site, draft, NULL, expected_status);

    free(draft);
    return answer;
}

static void expect_violation(struct site *site, const char *more,
                             const char *field, const char *description_part)
{
    json_t *answer = create_titled(site, "Checks", more, 400);
    const char *description = json_string_value(json_at(
        answer, "details.validationError.fieldViolations[0].description"));

    sandbox_proc_assert_wix_error(answer, NULL, field);
    if (description_part) {
        assert_non_null(description);
        assert_non_null(strstr(description, description_part));
    }
    json_decref(answer);
}

static void test_create_minimal(void **state)
{
    struct site site;
    json_t *answer;
    const json_t *draft;

    (void)state;
    new_site(&site, 0);
    answer = create_titled(&site, "Spring planting guide", NULL, 200);
    draft = json_object_get(answer, "draftPost");
    assert_true(json_string_length(json_object_get(draft, "id")) > 0);
    assert_string_equal(json_string_value(json_object_get(draft, "status")),
                        "UNPUBLISHED");
    assert_true(json_is_true(json_object_get(draft, "hasUnpublishedChanges")));
    assert_true(json_is_true(json_object_get(draft, "commentingEnabled")));
    assert_string_equal(json_string_value(json_object_get(draft, "language")),
                        "en");
    assert_int_equal(json_array_size(json_at(draft, "seoData.tags")), 0);
    assert_string_equal(json_string_value(json_object_get(draft, "memberId")),
                        site.member_id);
    assert_string_equal(
        json_string_value(json_object_get(draft, "changeOrigin")), "AUTO_SAVE");
    assert_null(json_object_get(draft, "richContent"));
    assert_true(json_is_string(json_object_get(draft, "createdDate")));
    json_decref(answer);
}

static void test_create_publish(void **state)
{
    struct site site;
    char *draft;
    json_t *answer;

    (void)state;
    new_site(&site, 0);
    draft = draft_json(&site, "Published at once", NULL);
    answer = create(&site, draft, "\"publish\": true", 200);
    assert_string_equal(json_string_value(json_at(answer, "draftPost.status")),
                        "PUBLISHED");
    assert_true(
        json_is_string(json_at(answer, "draftPost.firstPublishedDate")));
    assert_true(
        json_is_false(json_at(answer, "draftPost.hasUnpublishedChanges")));
    json_decref(answer);
    free(draft);
}

static void test_rich_content_ids(void **state)
{
    struct site site;
    char *draft;
    json_t *answer;
    json_t *stored;
    const json_t *node;

    (void)state;
    new_site(&site, 0);
    draft = draft_json(
        &site, "Rich",
        "\"richContent\": {\"nodes\": [{\"type\": \"PARAGRAPH\", \"id\": "
        "\"keep1\", \"nodes\": [{\"type\": \"TEXT\", \"textData\": "
        "{\"text\": \"Hello\", \"decorations\": []}}]}, {\"type\": "
        "\"PARAGRAPH\"}]}");
    answer = create(&site, draft, "\"fieldsets\": [\"RICH_CONTENT\"]", 200);
    node = json_at(answer, "draftPost.richContent.nodes[0]");
    assert_string_equal(json_string_value(json_object_get(node, "id")),
                        "keep1");
    assert_true(json_string_length(json_at(node, "nodes[0].id")) > 0);
    assert_true(json_string_length(
                    json_at(answer, "draftPost.richContent.nodes[1].id")) > 0);

    stored = sandbox_proc_site(&sandbox, site.instance_id);
    assert_string_equal(
        json_string_value(
            json_at(stored, "drafts[0].richContent.nodes[0].nodes[0].textData."
                            "text")),
        "Hello");
    json_decref(stored);
    json_decref(answer);
    free(draft);
}

static void test_owner_required(void **state)
{
    struct site site;
    json_t *answer;
    char draft[256];

    (void)state;
    new_site(&site, 0);
    answer = create(&site, "{\"title\": \"No owner\"}", NULL, 400);
    sandbox_proc_assert_wix_error(answer, "INVALID_ARGUMENT", NULL);
    assert_string_equal(json_string_value(json_object_get(answer, "message")),
                        "Missing post owner information");
    json_decref(answer);

    snprintf(draft, sizeof(draft),
             "{\"title\": \"Stranger\", \"memberId\": \"%s\"}",
             "00000000-0000-0000-0000-00000000dead");
    answer = create(&site, draft, NULL, 400);
    assert_non_null(strstr(
        json_string_value(json_object_get(answer, "message")), "do not exist"));
    json_decref(answer);

    snprintf(draft, sizeof(draft),
             "{\"title\": \"Second member\", \"memberId\": \"%s\"}",
             site.other_member_id);
    json_decref(create(&site, draft, NULL, 200));
}

static void test_title_limit(void **state)
{
    struct site site;
    char title[160];

    (void)state;
    new_site(&site, 0);
    memset(title, 'T', 100);
    title[100] = '\0';
    json_decref(create_titled(&site, title, NULL, 200));

    title[100] = 'T';
    title[101] = '\0';
    json_decref(create_titled(&site, title, NULL, 400));

    /* 99 letters and one emoji: 101 UTF-16 units. */
    memset(title, 'E', 99);
    strcpy(title + 99, "\xF0\x9F\x8C\xBF");
    json_decref(create_titled(&site, title, NULL, 400));
    title[98] = '\0';
    strcat(title, "\xF0\x9F\x8C\xBF");
    json_decref(create_titled(&site, title, NULL, 200));

    json_decref(create_titled(&site, "", NULL, 400));
}

static void test_excerpt_and_lists(void **state)
{
    struct site site;
    char more[4096];
    size_t o;

    (void)state;
    new_site(&site, 0);
    snprintf(more, sizeof(more), "\"excerpt\": \"%0140d\"", 0);
    json_decref(create_titled(&site, "Excerpt 140", more, 200));
    snprintf(more, sizeof(more), "\"excerpt\": \"%0141d\"", 0);
    expect_violation(&site, more, "draftPost.excerpt", "140");

    o = (size_t)snprintf(more, sizeof(more), "\"hashtags\": [");
    for (int i = 0; i < 101; i++)
        o += (size_t)snprintf(more + o, sizeof(more) - o, "%s\"t%d\"",
                              i ? "," : "", i);
    snprintf(more + o, sizeof(more) - o, "]");
    expect_violation(&site, more, "draftPost.hashtags", NULL);
    expect_violation(&site, "\"relatedPostIds\": [\"a\", \"b\", \"c\", \"d\"]",
                     "draftPost.relatedPostIds", NULL);
}

static void expect_ricos_error(struct site *site, const char *nodes,
                               const char *field, const char *description)
{
    char more[2048];

    snprintf(more, sizeof(more), "\"richContent\": {\"nodes\": %s}", nodes);
    expect_violation(site, more, field, description);
}

static void test_ricos_nesting(void **state)
{
    struct site site;

    (void)state;
    new_site(&site, 0);
    expect_ricos_error(&site,
                       "[{\"type\": \"TEXT\", \"textData\": {\"text\": "
                       "\"loose\"}}]",
                       "draftPost.richContent.nodes[0]",
                       "Expected a paragraph node but found TEXT");
    expect_ricos_error(
        &site,
        "[{\"type\": \"BULLETED_LIST\", \"nodes\": [{\"type\": "
        "\"LIST_ITEM\", \"nodes\": [{\"type\": \"TEXT\", \"textData\": "
        "{\"text\": \"item\"}}]}]}]",
        "draftPost.richContent.nodes[0].nodes[0].nodes[0]",
        "Expected a paragraph node but found TEXT");
    expect_ricos_error(&site,
                       "[{\"type\": \"BLOCKQUOTE\", \"nodes\": [{\"type\": "
                       "\"TEXT\", \"textData\": {\"text\": \"q\"}}]}]",
                       "draftPost.richContent.nodes[0].nodes[0]",
                       "Expected a paragraph node but found TEXT");
    expect_ricos_error(&site,
                       "[{\"type\": \"PARAGRAPH\", \"nodes\": [{\"type\": "
                       "\"PARAGRAPH\"}]}]",
                       "draftPost.richContent.nodes[0].nodes[0]",
                       "Expected a text node but found PARAGRAPH");
    expect_ricos_error(&site,
                       "[{\"type\": \"BULLETED_LIST\", \"nodes\": [{\"type\": "
                       "\"PARAGRAPH\"}]}]",
                       "draftPost.richContent.nodes[0].nodes[0]",
                       "Expected a list item node but found PARAGRAPH");
    expect_ricos_error(&site, "[{\"type\": \"MARQUEE\"}]",
                       "draftPost.richContent.nodes[0]",
                       "Unknown node type MARQUEE");
}

static void test_ricos_node_data(void **state)
{
    struct site site;

    (void)state;
    new_site(&site, 0);
    expect_ricos_error(&site,
                       "[{\"type\": \"HEADING\", \"headingData\": {\"level\": "
                       "7}}]",
                       "draftPost.richContent.nodes[0].headingData.level",
                       NULL);
    expect_ricos_error(&site,
                       "[{\"type\": \"PARAGRAPH\", \"nodes\": [{\"type\": "
                       "\"TEXT\"}]}]",
                       "draftPost.richContent.nodes[0].nodes[0].textData.text",
                       NULL);
    expect_ricos_error(&site,
                       "[{\"type\": \"IMAGE\", \"imageData\": {\"image\": "
                       "{\"src\": {\"url\": \"http://127.0.0.1/x.png\"}}}}]",
                       "draftPost.richContent.nodes[0].imageData.image",
                       "width and height");
    expect_ricos_error(&site,
                       "[{\"type\": \"IMAGE\", \"imageData\": {\"image\": "
                       "{\"src\": {\"id\": \"nope~mv2.jpg\"}, \"width\": 10, "
                       "\"height\": 10}}}]",
                       "draftPost.richContent.nodes[0].imageData.image",
                       "not a READY file");
}

static void test_ricos_full_document(void **state)
{
    struct site site;
    char more[4096];

    (void)state;
    new_site(&site, 1);
    snprintf(
        more, sizeof(more),
        "\"richContent\": {\"nodes\": ["
        "{\"type\": \"HEADING\", \"headingData\": {\"level\": 2}, \"nodes\": "
        "[{\"type\": \"TEXT\", \"textData\": {\"text\": \"Title\"}}]},"
        "{\"type\": \"PARAGRAPH\", \"paragraphData\": {}, \"nodes\": ["
        "{\"type\": \"TEXT\", \"textData\": {\"text\": \"Bold\", "
        "\"decorations\": [{\"type\": \"BOLD\", \"fontWeightValue\": 700}]}},"
        "{\"type\": \"TEXT\", \"textData\": {\"text\": \" link\", "
        "\"decorations\": [{\"type\": \"LINK\", \"linkData\": {\"link\": "
        "{\"url\": \"https://example.com\", \"target\": \"BLANK\"}}}]}}]},"
        "{\"type\": \"PARAGRAPH\"},"
        "{\"type\": \"ORDERED_LIST\", \"nodes\": [{\"type\": \"LIST_ITEM\", "
        "\"nodes\": [{\"type\": \"PARAGRAPH\", \"nodes\": [{\"type\": "
        "\"TEXT\", \"textData\": {\"text\": \"one\"}}]}]}]},"
        "{\"type\": \"BLOCKQUOTE\", \"nodes\": [{\"type\": \"PARAGRAPH\", "
        "\"nodes\": [{\"type\": \"TEXT\", \"textData\": {\"text\": "
        "\"quote\"}}]}]},"
        "{\"type\": \"TABLE\", \"nodes\": [{\"type\": \"TABLE_ROW\", "
        "\"nodes\": [{\"type\": \"TABLE_CELL\", \"nodes\": [{\"type\": "
        "\"PARAGRAPH\"}]}]}]},"
        "{\"type\": \"DIVIDER\", \"dividerData\": {\"lineStyle\": "
        "\"SINGLE\"}},"
        "{\"type\": \"IMAGE\", \"imageData\": {\"image\": {\"src\": {\"id\": "
        "\"%s\"}, \"width\": 925, \"height\": 900}}}]}",
        site.ready_media_id);
    json_decref(create_titled(&site, "Every block type", more, 200));
}

/* Polls the file until the import's fetch has finished and the sandbox
 * clock has passed its delay; fails after 10 s of real time. */
static void wait_until_ready(struct site *site, const char *file_id)
{
    char path[300];

    snprintf(path, sizeof(path), "/wix/site-media/v1/files/%s", file_id);
    for (int i = 0; i < 200; i++) {
        json_t *answer = sandbox_proc_wix_call(&sandbox, site->token, "GET",
                                               path, NULL, 200);
        int ready =
            strcmp(json_string_value(json_at(answer, "file.operationStatus")),
                   "READY") == 0;

        json_decref(answer);
        if (ready)
            return;
        usleep(50 * 1000);
    }
    fail_msg("media %s did not become READY", file_id);
}

static void test_cover_media(void **state)
{
    struct site site;
    char more[512];
    json_t *imported;
    json_t *answer;
    char media_url[512];
    char body[700];

    (void)state;
    new_site(&site, 1);
    expect_violation(&site,
                     "\"media\": {\"wixMedia\": {\"image\": {\"id\": "
                     "\"missing~mv2.jpg\"}}, \"displayed\": true, "
                     "\"custom\": true}",
                     "draftPost.media.wixMedia.image.id", "does not exist");

    /* An import that stays PENDING for a minute of sandbox time. */
    sandbox_proc_configure(&sandbox, "{\"wix\":{\"media_ready_ms\":60000}}");
    snprintf(media_url, sizeof(media_url), "%s/wixstatic/media/%s", sandbox.url,
             site.ready_media_id);
    snprintf(body, sizeof(body), "{\"url\": \"%s\", \"mediaType\": \"IMAGE\"}",
             media_url);
    imported =
        sandbox_proc_wix_call(&sandbox, site.token, "POST",
                              "/wix/site-media/v1/files/import", body, 200);
    sandbox_proc_configure(&sandbox, "{\"wix\":{\"media_ready_ms\":1000}}");
    snprintf(more, sizeof(more),
             "\"media\": {\"wixMedia\": {\"image\": {\"id\": \"%s\"}}, "
             "\"displayed\": true, \"custom\": true}",
             json_string_value(json_at(imported, "file.id")));
    expect_violation(&site, more, "draftPost.media.wixMedia.image.id",
                     "PENDING");

    sandbox_proc_advance(&sandbox, 61);
    wait_until_ready(&site, json_string_value(json_at(imported, "file.id")));
    answer = create_titled(&site, "With cover", more, 200);
    assert_string_equal(
        json_string_value(json_at(answer, "draftPost.media.wixMedia.image.id")),
        json_string_value(json_at(imported, "file.id")));
    json_decref(answer);
    json_decref(imported);
}

static void test_get_draft(void **state)
{
    struct site site;
    json_t *created;
    json_t *answer;
    char path[256];

    (void)state;
    new_site(&site, 0);
    created = create_titled(
        &site, "Fetch me",
        "\"richContent\": {\"nodes\": [{\"type\": \"PARAGRAPH\"}]}", 200);
    snprintf(path, sizeof(path), "/wix/blog/v3/draft-posts/%s",
             json_string_value(json_at(created, "draftPost.id")));
    answer =
        sandbox_proc_wix_call(&sandbox, site.token, "GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_at(answer, "draftPost.title")),
                        "Fetch me");
    assert_null(json_at(answer, "draftPost.richContent"));
    json_decref(answer);

    strcat(path, "?fieldsets=URL&fieldsets=RICH_CONTENT");
    answer =
        sandbox_proc_wix_call(&sandbox, site.token, "GET", path, NULL, 200);
    assert_non_null(json_at(answer, "draftPost.richContent.nodes"));
    assert_true(json_is_string(json_at(answer, "draftPost.url")));
    json_decref(answer);

    answer = sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                   "/wix/blog/v3/draft-posts/no-such-draft",
                                   NULL, 404);
    sandbox_proc_assert_wix_error(answer, "NOT_FOUND", NULL);
    json_decref(answer);
    json_decref(created);
}

static void test_list_drafts(void **state)
{
    struct site site;
    char title[32];
    char body[256];
    json_t *answer;

    (void)state;
    new_site(&site, 0);
    for (int i = 0; i < 5; i++) {
        snprintf(title, sizeof(title), "Post %d", i);
        json_decref(create_titled(&site, title, NULL, 200));
        sandbox_proc_advance(&sandbox, 1);
    }
    snprintf(body, sizeof(body), "{\"title\": \"Live\", \"memberId\": \"%s\"}",
             site.member_id);
    json_decref(create(&site, body, "\"publish\": true", 200));

    answer = sandbox_proc_wix_call(
        &sandbox, site.token, "GET",
        "/wix/blog/v3/draft-posts?status=UNPUBLISHED&paging.limit=2&"
        "paging.offset=1",
        NULL, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "draftPosts")), 2);
    assert_int_equal(json_integer_value(json_at(answer, "metaData.total")), 5);
    assert_int_equal(json_integer_value(json_at(answer, "metaData.count")), 2);
    assert_int_equal(json_integer_value(json_at(answer, "metaData.offset")), 1);
    /* Newest first by default. */
    assert_string_equal(
        json_string_value(json_at(answer, "draftPosts[0].title")), "Post 3");
    json_decref(answer);

    answer = sandbox_proc_wix_call(
        &sandbox, site.token, "GET",
        "/wix/blog/v3/draft-posts?sort=EDITING_DATE_ASC", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "draftPosts")), 6);
    assert_string_equal(
        json_string_value(json_at(answer, "draftPosts[0].title")), "Post 0");
    json_decref(answer);

    json_decref(sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                      "/wix/blog/v3/draft-posts?paging.limit="
                                      "101",
                                      NULL, 400));
}

static json_t *query(struct site *site, const char *body, long status)
{
    return sandbox_proc_wix_call(&sandbox, site->token, "POST",
                                 "/wix/blog/v3/draft-posts/query", body,
                                 status);
}

static void test_query_drafts(void **state)
{
    struct site site;
    char body[512];
    char title[64];
    json_t *answer;

    (void)state;
    new_site(&site, 0);
    for (int i = 0; i < 4; i++) {
        snprintf(title, sizeof(title), "%s %d", i % 2 ? "Garden" : "Kitchen",
                 i);
        json_decref(create_titled(&site, title, NULL, 200));
    }
    snprintf(body, sizeof(body),
             "{\"title\": \"Garden by Jordan\", \"memberId\": \"%s\"}",
             site.other_member_id);
    json_decref(create(&site, body, NULL, 200));

    answer = query(&site,
                   "{\"query\": {\"filter\": {\"title\": {\"$startsWith\": "
                   "\"garden\"}}, \"sort\": [{\"fieldName\": \"title\", "
                   "\"order\": \"ASC\"}]}}",
                   200);
    assert_int_equal(json_array_size(json_object_get(answer, "draftPosts")), 3);
    assert_string_equal(
        json_string_value(json_at(answer, "draftPosts[0].title")), "Garden 1");
    assert_int_equal(
        json_integer_value(json_at(answer, "pagingMetadata.total")), 3);
    json_decref(answer);

    snprintf(body, sizeof(body),
             "{\"query\": {\"filter\": {\"$and\": [{\"title\": {\"$contains\": "
             "\"garden\"}}, {\"memberId\": \"%s\"}]}}}",
             site.member_id);
    answer = query(&site, body, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "draftPosts")), 2);
    json_decref(answer);

    answer =
        query(&site, "{\"query\": {\"cursorPaging\": {\"limit\": 3}}}", 200);
    assert_int_equal(json_array_size(json_object_get(answer, "draftPosts")), 3);
    snprintf(body, sizeof(body),
             "{\"query\": {\"cursorPaging\": {\"limit\": 3, \"cursor\": "
             "\"%s\"}}}",
             json_string_value(json_at(answer, "pagingMetadata.cursors.next")));
    json_decref(answer);
    answer = query(&site, body, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "draftPosts")), 2);
    assert_true(json_is_null(json_at(answer, "pagingMetadata.cursors.next")));
    json_decref(answer);

    answer = query(&site,
                   "{\"query\": {\"filter\": {\"title\": {\"$regex\": "
                   "\"x\"}}}}",
                   400);
    sandbox_proc_assert_wix_error(answer, "INVALID_ARGUMENT", NULL);
    json_decref(answer);
    json_decref(
        query(&site, "{\"query\": {\"paging\": {\"limit\": 101}}}", 400));
}

static void test_draft_size_limit(void **state)
{
    struct site site;
    size_t size = 420 * 1024;
    char *more = malloc(size + 256);
    size_t o;

    (void)state;
    new_site(&site, 0);
    o = (size_t)sprintf(more, "\"richContent\": {\"nodes\": [");
    for (int i = 0; o < size; i++)
        o += (size_t)sprintf(more + o,
                             "%s{\"type\": \"PARAGRAPH\", \"nodes\": "
                             "[{\"type\": \"TEXT\", \"textData\": {\"text\": "
                             "\"Paragraph number %d of a very long post.\"}}]}",
                             i ? "," : "", i);
    strcpy(more + o, "]}");
    json_decref(create_titled(&site, "Too big", more, 400));
    free(more);
}

static int start_sandbox(void **state)
{
    (void)state;
    sandbox_proc_start(&sandbox, NULL);
    return 0;
}

/* A clean exit also means no leak report under AddressSanitizer. */
static int stop_sandbox(void **state)
{
    (void)state;
    return sandbox_proc_stop(&sandbox) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_minimal),
        cmocka_unit_test(test_create_publish),
        cmocka_unit_test(test_rich_content_ids),
        cmocka_unit_test(test_owner_required),
        cmocka_unit_test(test_title_limit),
        cmocka_unit_test(test_excerpt_and_lists),
        cmocka_unit_test(test_ricos_nesting),
        cmocka_unit_test(test_ricos_node_data),
        cmocka_unit_test(test_ricos_full_document),
        cmocka_unit_test(test_cover_media),
        cmocka_unit_test(test_get_draft),
        cmocka_unit_test(test_list_drafts),
        cmocka_unit_test(test_query_drafts),
        cmocka_unit_test(test_draft_size_limit),
    };

    return cmocka_run_group_tests(tests, start_sandbox, stop_sandbox);
}
