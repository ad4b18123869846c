/*
 * The blog pipeline end to end against sitesmith-sandbox. The happy path
 * is checked in the draft that the sandbox's Wix Blog received, then run
 * again through blog_run_until_done()'s worker pool. Then new ideas,
 * tokens that expire between steps, too few credits, another site's
 * generation, paging, and cancelling at each point.
 */
#include "blog_env.h"

#include "core/log.h"
#include "core/metrics.h"
#include "pipelines/ricos.h"

#include <pthread.h>

#define REQUEST                                                                \
    "{\"topic\": \"caring for linen in summer\", \"keywords\": [\"linen\", "   \
    "\"summer\"], \"tone\": \"friendly\", \"language\": \"en\"}"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* The site's draft with this id, borrowed from site, or NULL. */
static json_t *find_draft(json_t *site, const char *id)
{
    json_t *draft;
    size_t index;

    json_array_foreach(json_object_get(site, "drafts"), index, draft)
    {
        if (strcmp(view_string(draft, "id"), id) == 0)
            return draft;
    }
    return NULL;
}

static json_t *find_media(json_t *site, const char *id)
{
    json_t *file;
    size_t index;

    json_array_foreach(json_object_get(site, "media"), index, file)
    {
        if (strcmp(view_string(file, "id"), id) == 0)
            return file;
    }
    return NULL;
}

/* The content of the draft's SEO tag of type (and meta name), or NULL. */
static const char *seo_tag(const json_t *draft, const char *type)
{
    json_t *tag;
    size_t index;

    json_array_foreach(json_at(draft, "seoData.tags"), index, tag)
    {
        if (strcmp(view_string(tag, "type"), type) != 0)
            continue;
        return strcmp(type, "title") == 0 ? view_string(tag, "children")
                                          : view_string(tag, "props.content");
    }
    return NULL;
}

static int count_nodes(const json_t *nodes, const char *type)
{
    json_t *node;
    size_t index;
    int count = 0;

    json_array_foreach(nodes, index, node)
    {
        count += strcmp(view_string(node, "type"), type) == 0;
        count += count_nodes(json_object_get(node, "nodes"), type);
    }
    return count;
}

static void expect_error(int rc, const struct error *err, enum error_kind kind,
                         const char *code)
{
    assert_int_equal(rc, -1);
    assert_int_equal(err->kind, kind);
    if (code)
        assert_string_equal(err->code, code);
}

/* ------------------------------------------------------------------ */
/* Happy path                                                          */
/* ------------------------------------------------------------------ */

/* Checks what the sandbox's Wix received for the finished generation. */
static void check_draft_in_wix(struct blog_env *env, const json_t *view)
{
    json_t *site = blog_env_site(env);
    json_t *draft = find_draft(site, view_string(view, "draft_post_id"));
    const char *media_id = view_string(view, "image.media_id");
    json_t *file;
    struct error err;

    assert_non_null(draft);
    assert_int_equal(json_array_size(json_object_get(site, "drafts")), 1);
    assert_string_equal(view_string(draft, "status"), "UNPUBLISHED");
    assert_string_equal(view_string(draft, "memberId"), env->owner_member_id);
    assert_string_equal(view_string(draft, "title"),
                        view_string(view, "post.title"));
    assert_string_equal(view_string(draft, "excerpt"),
                        view_string(view, "post.excerpt"));
    assert_string_equal(view_string(draft, "language"), "en");

    /* Rich content: valid, with headings and a list from the Markdown. */
    error_clear(&err);
    assert_int_equal(
        ricos_validate(json_object_get(draft, "richContent"), &err), 0);
    assert_true(count_nodes(json_at(draft, "richContent.nodes"), "HEADING") >
                0);
    assert_true(
        count_nodes(json_at(draft, "richContent.nodes"), "BULLETED_LIST") +
            count_nodes(json_at(draft, "richContent.nodes"), "ORDERED_LIST") >
        0);

    /* Cover: the READY file in the Media Manager, shown on the post. */
    assert_non_null(media_id);
    assert_string_equal(view_string(draft, "media.wixMedia.image.id"),
                        media_id);
    assert_true(json_is_true(json_at(draft, "media.displayed")));
    assert_string_equal(view_string(draft, "heroImage.id"), media_id);
    file = find_media(site, media_id);
    assert_non_null(file);
    assert_string_equal(view_string(file, "operationStatus"), "READY");
    assert_int_equal(blog_env_covers(env), 1);

    /* SEO data and hashtags as written. */
    assert_string_equal(seo_tag(draft, "title"),
                        view_string(view, "post.seo_title"));
    assert_string_equal(seo_tag(draft, "meta"),
                        view_string(view, "post.meta_description"));
    assert_true(json_equal(json_object_get(draft, "hashtags"),
                           json_at(view, "post.hashtags")));
    assert_true(json_array_size(json_object_get(draft, "hashtags")) > 0);
    json_decref(site);
}

static void happy_path(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct store_credits credits;
    int64_t charged_before;
    json_t *view;
    json_t *idea;
    size_t index;

    blog_env_start(env, env->backend);
    charged_before = metrics_counter_value("sitesmith_credits_charged_total",
                                           "kind=\"blog\"");
    blog_env_begin(env, REQUEST, id);

    /* The whole cost is reserved at once. */
    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_GENERATING_IDEAS);
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_reserved")),
        blog_env_cost(env));
    assert_string_equal(view_string(view, "request.topic"),
                        "caring for linen in summer");
    json_decref(view);
    credits = blog_env_credits(env);
    assert_int_equal(credits.available, BLOG_ENV_CREDITS - blog_env_cost(env));
    assert_int_equal(credits.reserved, blog_env_cost(env));

    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_AWAITING_SELECTION);
    assert_in_range(json_array_size(json_object_get(view, "ideas")),
                    BLOG_IDEAS_MIN, BLOG_IDEAS_MAX);
    json_array_foreach(json_object_get(view, "ideas"), index, idea)
    {
        assert_true(strlen(view_string(idea, "title")) > 0);
        assert_true(strlen(view_string(idea, "angle")) > 0);
        assert_true(json_is_array(json_object_get(idea, "keywords")));
    }
    assert_true(json_is_null(json_object_get(view, "chosen_idea")));
    json_decref(view);

    blog_env_run_all(env, id);
    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_DONE);
    assert_int_equal(json_integer_value(json_object_get(view, "chosen_idea")),
                     0);
    assert_non_null(view_string(view, "draft_post_id"));
    assert_non_null(view_string(view, "draft_url"));
    assert_true(json_is_null(json_object_get(view, "error")));
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_charged")),
        blog_env_cost(env));
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_reserved")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_released")), 0);
    assert_null(json_at(view, "post.image_prompt"));
    check_draft_in_wix(env, view);
    json_decref(view);

    /* Charged once; one token, two completions and one prediction. */
    credits = blog_env_credits(env);
    assert_int_equal(credits.available, BLOG_ENV_CREDITS - blog_env_cost(env));
    assert_int_equal(credits.reserved, 0);
    assert_int_equal(metrics_counter_value("sitesmith_credits_charged_total",
                                           "kind=\"blog\"") -
                         charged_before,
                     blog_env_cost(env));
    assert_int_equal(blog_env_count(env, "POST", "/wix/oauth2/token", 200), 1);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", 200), 2);
    assert_int_equal(blog_env_count(env, "POST", "/replicate/v1/models/", -1),
                     1);
    assert_true(metrics_counter_value("sitesmith_openai_tokens_total",
                                      "step=\"write\",type=\"completion\"") >
                0);
}

/* ------------------------------------------------------------------ */
/* The CLI's runner                                                    */
/* ------------------------------------------------------------------ */

struct progress_log {
    char states[16][32];
    int count;
};

static void record_state(const char *state, void *arg)
{
    struct progress_log *log = arg;

    if (log->count < 16)
        snprintf(log->states[log->count++], 32, "%s", state);
}

static void run_until_done_reports_progress(void **state)
{
    static const char *const order[] = {
        BLOG_GENERATING_IDEAS, BLOG_AWAITING_SELECTION, BLOG_WRITING,
        BLOG_GENERATING_IMAGE, BLOG_PUBLISHING,         BLOG_DONE,
    };
    struct blog_env *env = *state;
    struct progress_log log = {.count = 0};
    char id[STORE_UUID_SIZE];
    struct error err;
    size_t next = 0;
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_begin(env, REQUEST, id);
    error_clear(&err);
    assert_int_equal(blog_run_until_done(env->app, env->instance_id, id, 1,
                                         record_state, &log, &err),
                     0);

    /* The states come in pipeline order, ending with done. */
    assert_true(log.count >= 3);
    for (int i = 0; i < log.count; i++) {
        while (next < 6 && strcmp(order[next], log.states[i]) != 0)
            next++;
        assert_true(next < 6);
    }
    assert_string_equal(log.states[0], BLOG_GENERATING_IDEAS);
    assert_string_equal(log.states[log.count - 1], BLOG_DONE);
    view = blog_env_view(env, id);
    assert_int_equal(json_integer_value(json_object_get(view, "chosen_idea")),
                     1);
    assert_int_equal(blog_env_drafts(env), 1);
    json_decref(view);
}

static void run_until_done_reports_failure(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;

    blog_env_prepare(env, env->backend);
    blog_env_set(env, "SITESMITH_BLOG_WRITE_MAX_TOKENS", "40");
    blog_env_open(env);
    blog_env_begin(env, REQUEST, id);
    error_clear(&err);
    assert_int_equal(blog_run_until_done(env->app, env->instance_id, id, 0,
                                         NULL, NULL, &err),
                     -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_non_null(strstr(err.message, "failed"));
    assert_int_equal(blog_env_credits(env).available, BLOG_ENV_CREDITS);
}

/* ------------------------------------------------------------------ */
/* Ideas and choices                                                   */
/* ------------------------------------------------------------------ */

static int title_in(const json_t *ideas, const char *title)
{
    json_t *idea;
    size_t index;

    json_array_foreach(ideas, index, idea)
    {
        if (strcmp(view_string(idea, "title"), title) == 0)
            return 1;
    }
    return 0;
}

static void new_ideas_differ(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;
    json_t *before;
    json_t *after;
    json_t *idea;
    size_t index;
    int fresh = 0;

    blog_env_start(env, env->backend);
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    before = blog_env_view(env, id);

    error_clear(&err);
    assert_int_equal(
        blog_regenerate_ideas(env->app, env->instance_id, id, &err), 0);
    after = blog_env_view(env, id);
    assert_string_equal(view_string(after, "state"), BLOG_GENERATING_IDEAS);
    json_decref(after);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    after = blog_env_view(env, id);
    json_array_foreach(json_object_get(after, "ideas"), index, idea) fresh +=
        !title_in(json_object_get(before, "ideas"), view_string(idea, "title"));
    assert_true(fresh > 0);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", 200), 2);

    /* New ideas cost nothing more. */
    assert_int_equal(blog_env_credits(env).reserved, blog_env_cost(env));
    json_decref(before);
    json_decref(after);
}

static void choices_follow_the_state(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;
    int rc;

    blog_env_start(env, env->backend);
    blog_env_begin(env, REQUEST, id);

    /* Nothing to choose before the ideas exist. */
    error_clear(&err);
    rc = blog_select(env->app, env->instance_id, id, 0, &err);
    expect_error(rc, &err, ERR_CONFLICT, NULL);
    assert_non_null(strstr(err.message, BLOG_GENERATING_IDEAS));

    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    error_clear(&err);
    rc = blog_select(env->app, env->instance_id, id, 7, &err);
    expect_error(rc, &err, ERR_INVALID, "index");
    assert_non_null(strstr(err.message, "from 0 to"));
    error_clear(&err);
    rc = blog_select(env->app, env->instance_id, id, -1, &err);
    expect_error(rc, &err, ERR_INVALID, "index");

    error_clear(&err);
    assert_int_equal(blog_select(env->app, env->instance_id, id, 2, &err), 0);
    error_clear(&err);
    rc = blog_select(env->app, env->instance_id, id, 1, &err);
    expect_error(rc, &err, ERR_CONFLICT, NULL);
    error_clear(&err);
    rc = blog_regenerate_ideas(env->app, env->instance_id, id, &err);
    expect_error(rc, &err, ERR_CONFLICT, NULL);
    assert_non_null(strstr(err.message, BLOG_WRITING));
}

/* ------------------------------------------------------------------ */
/* Sites of other shapes                                               */
/* ------------------------------------------------------------------ */

static void writer_from_site_settings(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    char writer[128];
    char settings[256];
    struct store_tx *tx;
    struct error err;
    json_t *site;

    blog_env_start(env, env->backend);
    site = blog_env_site(env);
    assert_non_null(view_string(site, "members[1].id"));
    snprintf(writer, sizeof(writer), "%s", view_string(site, "members[1].id"));
    json_decref(site);
    assert_string_not_equal(writer, env->owner_member_id);
    snprintf(settings, sizeof(settings), "{\"writer_member_id\": \"%s\"}",
             writer);
    error_clear(&err);
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_instance_set_settings(tx, env->instance_id, settings, &err), 0);
    assert_int_equal(store_commit(tx, &err), 0);

    blog_env_begin(env, REQUEST, id);
    blog_env_run_all(env, id);
    site = blog_env_site(env);
    assert_string_equal(view_string(site, "drafts[0].memberId"), writer);
    json_decref(site);
}

static void catalog_v3_samples_products(void **state)
{
    struct blog_env *env = *state;
    char member[128];
    char id[STORE_UUID_SIZE];
    char now[32];

    blog_env_start(env, env->backend);
    blog_env_add_site_from(env,
                           "{\"fixture\": \"store\", \"catalog_version\": 3}",
                           BLOG_ENV_CREDITS, env->instance_id, member);
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    blog_env_state(env, id, now);
    assert_string_equal(now, BLOG_AWAITING_SELECTION);
    assert_int_equal(
        blog_env_count(env, "POST", "/wix/stores/v3/products/query", 200), 1);
    assert_int_equal(
        blog_env_count(env, "POST", "/wix/stores/v1/products/query", -1), 0);
}

static void site_without_store_or_members(void **state)
{
    struct blog_env *env = *state;
    char member[128];
    char id[STORE_UUID_SIZE];
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_add_site_from(env, "{\"members\": false}", BLOG_ENV_CREDITS,
                           env->instance_id, member);
    assert_string_equal(member, "");
    blog_env_begin(env, REQUEST, id);

    /* No store: the ideas come without a product sample. */
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    assert_int_equal(blog_env_count(env, "POST", "/wix/stores/", -1), 0);

    /* No member to own the post: the step fails and says what to do. */
    blog_env_run_all(env, id);
    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_FAILED);
    assert_non_null(strstr(view_string(view, "error.message"),
                           "Add a member to your site"));
    assert_int_equal(blog_env_credits(env).available, BLOG_ENV_CREDITS);
    assert_int_equal(blog_env_drafts(env), 0);
    json_decref(view);
}

/* ------------------------------------------------------------------ */
/* Tokens, credits, sites, paging                                      */
/* ------------------------------------------------------------------ */

static void tokens_expire_between_steps(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    error_clear(&err);
    assert_int_equal(blog_select(env->app, env->instance_id, id, 0, &err), 0);

    /* Four hours and a minute later, on both clocks: the token from the
     * ideas step has expired by the time publish needs Wix again. */
    sandbox_proc_advance(&env->sandbox, 4 * 3600 + 60);
    clock_fake_advance_ms((4 * 3600 + 60) * 1000LL);
    blog_env_run_until(env, id, BLOG_DONE);

    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_DONE);
    json_decref(view);
    assert_int_equal(blog_env_count(env, "POST", "/wix/oauth2/token", 200), 2);
    assert_int_equal(blog_env_count(env, "GET", "/wix/", 401), 0);
    assert_int_equal(blog_env_drafts(env), 1);
}

static void too_few_credits(void **state)
{
    struct blog_env *env = *state;
    char poor[128];
    char member[128];
    char id[STORE_UUID_SIZE];
    char expected[160];
    json_t *request;
    json_t *list;
    struct error err;

    blog_env_start(env, env->backend);
    request = json_loads(REQUEST, 0, NULL);
    blog_env_add_site(env, 3, poor, member);
    error_clear(&err);
    assert_int_equal(blog_start(env->app, poor, request, id, &err), -1);
    assert_int_equal(err.kind, ERR_INSUFFICIENT_CREDITS);
    snprintf(expected, sizeof(expected),
             "insufficient credits: balance 3, cost %lld; upgrade your "
             "plan for more credits",
             (long long)blog_env_cost(env));
    assert_string_equal(err.message, expected);

    /* Nothing was created or queued. */
    list = blog_list_json(env->app, poor, 20, NULL, &err);
    assert_non_null(list);
    assert_int_equal(json_array_size(json_object_get(list, "generations")), 0);
    assert_null(blog_env_claim(env, 0));
    json_decref(list);

    /* An unknown site is not found. */
    error_clear(&err);
    assert_int_equal(blog_start(env->app, "no-such-site", request, id, &err),
                     -1);
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    json_decref(request);
}

static void other_site_is_not_found(void **state)
{
    struct blog_env *env = *state;
    char other[128];
    char member[128];
    char id[STORE_UUID_SIZE];
    struct error err;
    json_t *list;

    blog_env_start(env, env->backend);
    blog_env_add_site(env, BLOG_ENV_CREDITS, other, member);
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);

    error_clear(&err);
    assert_null(blog_generation_json(env->app, other, id, &err));
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    error_clear(&err);
    expect_error(blog_select(env->app, other, id, 0, &err), &err, ERR_NOT_FOUND,
                 NULL);
    error_clear(&err);
    expect_error(blog_regenerate_ideas(env->app, other, id, &err), &err,
                 ERR_NOT_FOUND, NULL);
    error_clear(&err);
    expect_error(blog_cancel(env->app, other, id, &err), &err, ERR_NOT_FOUND,
                 NULL);
    error_clear(&err);
    expect_error(blog_cancel(env->app, env->instance_id,
                             "00000000-0000-0000-0000-000000000000", &err),
                 &err, ERR_NOT_FOUND, NULL);

    list = blog_list_json(env->app, other, 20, NULL, &err);
    assert_int_equal(json_array_size(json_object_get(list, "generations")), 0);
    json_decref(list);

    /* The owner's generation is untouched. */
    list = blog_env_view(env, id);
    assert_string_equal(view_string(list, "state"), BLOG_AWAITING_SELECTION);
    json_decref(list);
}

static void list_pages_newest_first(void **state)
{
    struct blog_env *env = *state;
    char ids[3][STORE_UUID_SIZE];
    char newer[STORE_UUID_SIZE];
    struct error err;
    json_t *page;
    json_t *next;
    const char *cursor;

    blog_env_start(env, env->backend);
    for (int i = 0; i < 3; i++) {
        blog_env_begin(env, REQUEST, ids[i]);
        clock_fake_advance_ms(1000);
    }
    error_clear(&err);
    page = blog_list_json(env->app, env->instance_id, 2, NULL, &err);
    assert_non_null(page);
    assert_int_equal(json_array_size(json_object_get(page, "generations")), 2);
    assert_string_equal(view_string(page, "generations[0].id"), ids[2]);
    assert_string_equal(view_string(page, "generations[1].id"), ids[1]);
    cursor = view_string(page, "next_cursor");
    assert_non_null(cursor);

    /* A generation started meanwhile does not shift the next page. */
    blog_env_begin(env, REQUEST, newer);
    next = blog_list_json(env->app, env->instance_id, 2, cursor, &err);
    assert_non_null(next);
    assert_int_equal(json_array_size(json_object_get(next, "generations")), 1);
    assert_string_equal(view_string(next, "generations[0].id"), ids[0]);
    assert_true(json_is_null(json_object_get(next, "next_cursor")));
    json_decref(next);
    json_decref(page);

    error_clear(&err);
    assert_null(blog_list_json(env->app, env->instance_id, 2, "bogus", &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.code, "cursor");
    error_clear(&err);
    assert_null(blog_list_json(env->app, env->instance_id, 0, NULL, &err));
    assert_int_equal(err.kind, ERR_INVALID);
}

/* ------------------------------------------------------------------ */
/* Cancelling                                                          */
/* ------------------------------------------------------------------ */

static void cancel_between_steps(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    error_clear(&err);
    assert_int_equal(blog_select(env->app, env->instance_id, id, 0, &err), 0);
    assert_int_equal(blog_env_run_one(env), 1); /* the write step */

    error_clear(&err);
    assert_int_equal(blog_cancel(env->app, env->instance_id, id, &err), 0);
    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_CANCELLED);
    blog_env_expect_released(env, view);
    json_decref(view);

    /* The queued image job was cancelled with it. */
    assert_null(blog_env_claim(env, 0));
    assert_int_equal(blog_env_count(env, "POST", "/replicate/v1/models/", -1),
                     0);
    error_clear(&err);
    expect_error(blog_cancel(env->app, env->instance_id, id, &err), &err,
                 ERR_CONFLICT, NULL);
}

struct job_thread {
    struct blog_env *env;
    struct queue_job *job;
};

static void *run_claimed(void *arg)
{
    struct job_thread *t = arg;

    blog_env_run_job(t->env, t->job);
    return NULL;
}

/* Waits until a request to method path-prefix has reached the sandbox. */
static void wait_for_request(struct blog_env *env, const char *method,
                             const char *prefix)
{
    for (int i = 0; i < 500; i++) {
        if (blog_env_count(env, method, prefix, -1) > 0)
            return;
        clock_sleep_ms(10);
    }
    fail_msg("no %s %s reached the sandbox", method, prefix);
}

static void remove_app(struct blog_env *env);

/* Claims the next job and runs it on a thread. Once a request to prefix
 * arrived (the sandbox delays it), marks the app removed when removed is
 * set, then cancels the generation. Returns blog_cancel()'s result, with
 * its error in err. */
static int cancel_during(struct blog_env *env, const char *id,
                         const char *method, const char *prefix, int removed,
                         struct error *err)
{
    struct job_thread t = {.env = env};
    pthread_t thread;
    int rc;

    t.job = blog_env_claim(env, 0);
    assert_non_null(t.job);
    assert_int_equal(pthread_create(&thread, NULL, run_claimed, &t), 0);
    wait_for_request(env, method, prefix);
    if (removed)
        remove_app(env);
    error_clear(err);
    rc = blog_cancel(env->app, env->instance_id, id, err);
    pthread_join(thread, NULL);
    return rc;
}

static void cancel_during_image(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_GENERATING_IMAGE);

    blog_env_fault(env, "{\"endpoint\": \"POST /replicate/v1/models/*\", "
                        "\"mode\": \"delay\", \"delay_ms\": 1500}");
    assert_int_equal(
        cancel_during(env, id, "POST", "/replicate/v1/models/", 0, &err), 0);

    /* The running step did not move the generation on, and cancelled the
     * prediction it had started. */
    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_CANCELLED);
    json_decref(view);
    assert_null(blog_env_claim(env, 0));
    assert_int_equal(
        blog_env_count(env, "POST", "/replicate/v1/predictions/", -1), 1);
    assert_int_equal(blog_env_credits(env).available, BLOG_ENV_CREDITS);
}

static void cancel_during_publish_rejected(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);

    /* The cancel lands while Wix creates the draft: too late. */
    blog_env_fault(env, "{\"endpoint\": \"POST /wix/blog/v3/draft-posts\", "
                        "\"mode\": \"delay\", \"delay_ms\": 1500}");
    expect_error(
        cancel_during(env, id, "POST", "/wix/blog/v3/draft-posts", 0, &err),
        &err, ERR_CONFLICT, "conflict");
    assert_non_null(strstr(err.message, "being saved to your Wix Blog"));
    assert_non_null(strstr(err.message, "delete the draft in Wix"));

    /* The step went on: the draft exists and is charged. */
    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_DONE);
    assert_int_equal(blog_env_drafts(env), 1);
    assert_non_null(view_string(view, "draft_post_id"));
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_charged")),
        blog_env_cost(env));
    json_decref(view);
    assert_int_equal(blog_env_credits(env).available,
                     BLOG_ENV_CREDITS - blog_env_cost(env));
    assert_int_equal(blog_env_credits(env).reserved, 0);
}

/* Marks the test site as having removed the app, as the AppRemoved
 * webhook does before it cancels the site's work. */
static void remove_app(struct blog_env *env)
{
    struct store_tx *tx;
    struct error err;

    error_clear(&err);
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_instance_put(tx, env->instance_id, "removed", NULL, NULL, &err),
        0);
    assert_int_equal(store_commit(tx, &err), 0);
}

/* True when the generation names a cover in its Wix ids. */
static int names_cover(struct blog_env *env, const char *id)
{
    struct store_generation gen;
    int found;

    blog_env_load(env, id, &gen);
    found = gen.wix_ids && strstr(gen.wix_ids, "mediaId");
    store_generation_clear(&gen);
    return found;
}

static void removal_during_draft_create(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);

    /* The app's removal cancels even a publishing generation. */
    blog_env_fault(env, "{\"endpoint\": \"POST /wix/blog/v3/draft-posts\", "
                        "\"mode\": \"delay\", \"delay_ms\": 1500}");
    assert_int_equal(
        cancel_during(env, id, "POST", "/wix/blog/v3/draft-posts", 1, &err), 0);

    /* The draft was already on its way: the cancelled generation names it
     * and its cover, and charges nothing. */
    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_CANCELLED);
    assert_int_equal(blog_env_drafts(env), 1);
    assert_non_null(view_string(view, "draft_post_id"));
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_charged")), 0);
    json_decref(view);
    assert_true(names_cover(env, id));
    assert_int_equal(blog_env_credits(env).available, BLOG_ENV_CREDITS);
    assert_int_equal(blog_env_credits(env).reserved, 0);
}

static void removal_during_media_import(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);
    blog_env_fault(env, "{\"endpoint\": \"POST "
                        "/wix/site-media/v1/files/import\", \"mode\": "
                        "\"delay\", \"delay_ms\": 1500}");
    assert_int_equal(cancel_during(env, id, "POST",
                                   "/wix/site-media/v1/files/import", 1, &err),
                     0);

    /* The step stopped before the draft; the imported cover is named. */
    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_CANCELLED);
    assert_true(json_is_null(json_object_get(view, "draft_post_id")));
    json_decref(view);
    assert_int_equal(blog_env_drafts(env), 0);
    assert_int_equal(blog_env_covers(env), 1);
    assert_true(names_cover(env, id));
    assert_int_equal(blog_env_credits(env).available, BLOG_ENV_CREDITS);
}

#define FLOW_TESTS(ON)                                                         \
    ON(happy_path)                                                             \
    ON(run_until_done_reports_progress)                                        \
    ON(run_until_done_reports_failure)                                         \
    ON(new_ideas_differ)                                                       \
    ON(choices_follow_the_state)                                               \
    ON(writer_from_site_settings)                                              \
    ON(catalog_v3_samples_products)                                            \
    ON(site_without_store_or_members)                                          \
    ON(tokens_expire_between_steps)                                            \
    ON(too_few_credits)                                                        \
    ON(other_site_is_not_found)                                                \
    ON(list_pages_newest_first)                                                \
    ON(cancel_between_steps)                                                   \
    ON(cancel_during_image)                                                    \
    ON(cancel_during_publish_rejected)                                         \
    ON(removal_during_draft_create)                                            \
    ON(removal_during_media_import)

int main(void)
{
    int failed = 0;

    log_set_level(LOG_OFF);
    BLOG_RUN_TESTS("blog flow", FLOW_TESTS);
    return failed;
}
