/*
 * Single campaign posts: missed after downtime, skipped for want of
 * credits, written about a fixed idea and published, paused, resumed,
 * skipped and moved by a new schedule. Another site's calls on a campaign
 * get ERR_NOT_FOUND.
 */
#include "campaigns_env.h"

/* The id of post index of a campaign, into out. */
static void post_id(struct blog_env *env, const char *campaign_id, size_t index,
                    char out[STORE_UUID_SIZE])
{
    json_t *posts = campaigns_env_posts(env, campaign_id);
    const char *id =
        json_string_value(json_at(json_array_get(posts, index), "id"));

    assert_non_null(id);
    snprintf(out, STORE_UUID_SIZE, "%s", id);
    json_decref(posts);
}

static void assert_post_state(struct blog_env *env, const char *campaign_id,
                              const char *id, const char *state)
{
    json_t *post = campaigns_env_post(env, campaign_id, id);

    assert_string_equal(campaigns_env_state(post), state);
    json_decref(post);
}

/* ------------------------------------------------------------------ */
/* Downtime                                                            */
/* ------------------------------------------------------------------ */

/*
 * Everything is down from before two posts until 5 hours after the later
 * one: with the default limit of 6 hours the post 5 hours late fires and
 * the one 7 hours late is missed. A limit of 30 minutes then misses a
 * post that is an hour late.
 */
static void missed_during_downtime_by_setting(void **state)
{
    static const int minutes[] = {60, 180, 24 * 60};
    struct blog_env *env = *state;
    char early[STORE_UUID_SIZE];
    char late[STORE_UUID_SIZE];
    char last[STORE_UUID_SIZE];
    json_t *campaign;
    json_t *post;
    const char *id;

    blog_env_start(env, env->backend);
    campaign = campaigns_env_listed(env, env->instance_id, minutes, 3, "draft");
    id = campaigns_env_id(campaign);
    post_id(env, id, 0, early);
    post_id(env, id, 1, late);
    post_id(env, id, 2, last);

    clock_fake_advance_ms((180 + 5 * 60) * 60000LL);
    assert_int_equal(campaigns_env_run_due(env), 2);
    post = campaigns_env_post(env, id, early);
    assert_string_equal(campaigns_env_state(post), CAMPAIGN_POST_MISSED);
    assert_non_null(strstr(json_string_value(json_at(post, "error.message")),
                           "SITESMITH_CAMPAIGN_MAX_LATE"));
    assert_null(json_string_value(json_object_get(post, "generation_id")));
    json_decref(post);
    assert_post_state(env, id, late, CAMPAIGN_POST_RUNNING);
    assert_int_equal(campaigns_env_generations(env), 1);

    blog_env_set(env, "SITESMITH_CAMPAIGN_MAX_LATE", "30m");
    clock_fake_advance_ms((24 * 60 - 180 - 5 * 60 + 60) * 60000LL);
    assert_int_equal(campaigns_env_run_due(env), 1);
    assert_post_state(env, id, last, CAMPAIGN_POST_MISSED);
    assert_int_equal(campaigns_env_generations(env), 1);
    json_decref(campaign);
}

/* ------------------------------------------------------------------ */
/* Credits                                                             */
/* ------------------------------------------------------------------ */

/* A site with 5 credits skips its first post with a message; once it
 * has credits again, the next post fires. */
static void too_few_credits_skips_post(void **state)
{
    static const int minutes[] = {10, 20};
    struct blog_env *env = *state;
    char poor_id[128];
    char owner[128];
    char first[STORE_UUID_SIZE];
    char second[STORE_UUID_SIZE];
    struct store_credits credits;
    struct store_tx *tx;
    struct error err;
    json_t *campaign;
    json_t *view;
    json_t *post;
    const char *id;

    blog_env_start(env, env->backend);
    blog_env_add_site(env, 5, poor_id, owner);
    campaign = campaigns_env_listed(env, poor_id, minutes, 2, "draft");
    id = campaigns_env_id(campaign);

    clock_fake_advance_ms(11 * 60000);
    assert_int_equal(campaigns_env_run_due(env), 1);
    error_clear(&err);
    view = campaigns_get(env->app, poor_id, id, &err);
    assert_non_null(view);
    snprintf(first, sizeof(first), "%s",
             json_string_value(json_at(view, "last_problem.id")));
    assert_string_equal(json_string_value(json_at(view, "last_problem.state")),
                        CAMPAIGN_POST_SKIPPED_NO_CREDITS);
    assert_non_null(
        strstr(json_string_value(json_at(view, "last_problem.error.message")),
               "insufficient credits: balance 5"));
    assert_non_null(
        strstr(json_string_value(json_at(view, "last_problem.error.message")),
               "add credits"));
    assert_int_equal(json_integer_value(json_at(view, "counts.scheduled")), 1);
    snprintf(second, sizeof(second), "%s",
             json_string_value(json_at(view, "next_post.id")));
    json_decref(view);

    tx = store_begin_read(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(store_credits_get(tx, poor_id, &credits, &err), 0);
    store_rollback(tx);
    assert_int_equal(credits.available, 5);
    assert_int_equal(credits.reserved, 0);
    assert_int_equal(campaigns_env_count(env,
                                         "SELECT COUNT(*) FROM generations"
                                         " WHERE instance_id = ?",
                                         poor_id),
                     0);

    /* The campaign goes on. */
    campaigns_env_grant(env, poor_id, 100, "top-up");
    clock_fake_advance_ms(10 * 60000);
    assert_int_equal(campaigns_env_run_due(env), 1);
    post = campaigns_post_get(env->app, poor_id, id, second, &err);
    assert_non_null(post);
    assert_string_equal(campaigns_env_state(post), CAMPAIGN_POST_RUNNING);
    json_decref(post);
    post = campaigns_post_get(env->app, poor_id, id, first, &err);
    assert_non_null(post);
    assert_string_equal(campaigns_env_state(post),
                        CAMPAIGN_POST_SKIPPED_NO_CREDITS);
    json_decref(post);
    json_decref(campaign);
}

/* ------------------------------------------------------------------ */
/* A fixed idea, published                                             */
/* ------------------------------------------------------------------ */

/* A post with a fixed idea makes no ideas call to OpenAI, keeps the
 * idea's title and is published on the site. */
static void fixed_idea_published_keeps_title(void **state)
{
    static const int minutes[] = {15};
    static const char title[] = "Five Ways to Brew Green Tea at Home";
    struct blog_env *env = *state;
    char id_of_post[STORE_UUID_SIZE];
    struct error err;
    json_t *campaign;
    json_t *change;
    json_t *post;
    json_t *site;
    const char *id;

    blog_env_start(env, env->backend);
    campaign =
        campaigns_env_listed(env, env->instance_id, minutes, 1, "publish");
    id = campaigns_env_id(campaign);
    post_id(env, id, 0, id_of_post);
    change = json_pack("{s:{s:s, s:s, s:[s]}, s:s}", "idea", "title", title,
                       "angle", "Simple steps for a better cup", "keywords",
                       "green tea", "topic", "brewing");
    error_clear(&err);
    post = campaigns_post_update(env->app, env->instance_id, id, id_of_post,
                                 change, &err);
    if (!post)
        fail_msg("campaigns_post_update: %s", err.message);
    assert_string_equal(json_string_value(json_at(post, "idea.title")), title);
    assert_string_equal(json_string_value(json_object_get(post, "topic")),
                        "brewing");
    json_decref(post);
    json_decref(change);

    clock_fake_advance_ms(16 * 60000);
    assert_int_equal(campaigns_env_run_due(env), 1);
    post = campaigns_env_finish_post(env, id, id_of_post);
    assert_string_equal(campaigns_env_state(post), CAMPAIGN_POST_DONE);
    assert_string_equal(json_string_value(json_object_get(post, "title")),
                        title);
    assert_true(json_is_true(json_at(post, "post.published")));
    site = blog_env_site(env);
    assert_int_equal(json_array_size(json_object_get(site, "drafts")), 1);
    assert_string_equal(json_string_value(json_at(site, "drafts[0].title")),
                        title);
    assert_string_equal(json_string_value(json_at(site, "drafts[0].status")),
                        "PUBLISHED");
    assert_int_equal(blog_env_count(env, "POST", "/openai/v1/chat", 200), 1);
    json_decref(site);
    json_decref(post);
    json_decref(campaign);
}

/* ------------------------------------------------------------------ */
/* Pause, resume, skip, replan                                         */
/* ------------------------------------------------------------------ */

/*
 * A paused campaign fires nothing; resumed an hour after a post's time,
 * the post fires then. A skipped post stays cancelled and is not planned
 * again; a paused post waits while the campaign goes on.
 */
static void pause_resume_and_skip(void **state)
{
    static const int minutes[] = {10, 20, 30};
    struct blog_env *env = *state;
    char ids[3][STORE_UUID_SIZE];
    struct error err;
    json_t *campaign;
    json_t *view;
    const char *id;

    blog_env_start(env, env->backend);
    campaign = campaigns_env_listed(env, env->instance_id, minutes, 3, "draft");
    id = campaigns_env_id(campaign);
    for (size_t i = 0; i < 3; i++)
        post_id(env, id, i, ids[i]);

    error_clear(&err);
    view = campaigns_set_paused(env->app, env->instance_id, id, 1, &err);
    assert_true(json_is_true(json_object_get(view, "paused")));
    json_decref(view);
    clock_fake_advance_ms(11 * 60000);
    campaigns_env_run_due(env);
    assert_post_state(env, id, ids[0], CAMPAIGN_POST_SCHEDULED);

    /* Skip the second post and pause the third. */
    json_decref(
        campaigns_post_cancel(env->app, env->instance_id, id, ids[1], &err));
    assert_post_state(env, id, ids[1], CAMPAIGN_POST_CANCELLED);
    view = campaigns_post_set_paused(env->app, env->instance_id, id, ids[2], 1,
                                     &err);
    assert_true(json_is_true(json_object_get(view, "paused")));
    json_decref(view);

    clock_fake_advance_ms(60 * 60000);
    view = campaigns_set_paused(env->app, env->instance_id, id, 0, &err);
    assert_false(json_is_true(json_object_get(view, "paused")));
    json_decref(view);
    assert_true(campaigns_env_run_due(env) >= 1);
    assert_post_state(env, id, ids[0], CAMPAIGN_POST_RUNNING);
    assert_post_state(env, id, ids[1], CAMPAIGN_POST_CANCELLED);
    assert_post_state(env, id, ids[2], CAMPAIGN_POST_SCHEDULED);
    assert_int_equal(campaigns_env_generations(env), 1);

    /* A skipped or fired post cannot change any more. */
    assert_null(
        campaigns_post_cancel(env->app, env->instance_id, id, ids[1], &err));
    assert_int_equal(err.kind, ERR_CONFLICT);
    assert_null(campaigns_post_set_paused(env->app, env->instance_id, id,
                                          ids[0], 1, &err));
    assert_int_equal(err.kind, ERR_CONFLICT);

    /* Resumed, the paused post fires at once: it is under the limit. */
    json_decref(campaigns_post_set_paused(env->app, env->instance_id, id,
                                          ids[2], 0, &err));
    campaigns_env_run_due(env);
    assert_post_state(env, id, ids[2], CAMPAIGN_POST_RUNNING);
    assert_int_equal(campaigns_env_generations(env), 2);
    json_decref(campaign);
}

/* A new time zone moves the scheduled posts, keeping their topics; a new
 * schedule deletes the posts it no longer has. */
static void update_replans_schedule(void **state)
{
    struct blog_env *env = *state;
    char first[STORE_UUID_SIZE];
    struct error err;
    json_t *campaign;
    json_t *change;
    json_t *posts;
    json_t *view;
    const char *id;

    blog_env_start(env, env->backend);
    clock_fake_set_ms(campaigns_env_utc(2026, 6, 1, 12, 0));
    campaign = campaigns_env_create(
        env, "{\"name\": \"Mondays\", \"time_zone\": \"Europe/Berlin\","
             " \"schedule\": {\"rules\": [{\"frequency\": \"weekly\","
             " \"weekdays\": [\"monday\"], \"time\": \"09:00\"}]}}");
    id = campaigns_env_id(campaign);
    post_id(env, id, 0, first);
    change = json_pack("{s:s}", "topic", "summer teas");
    error_clear(&err);
    json_decref(campaigns_post_update(env->app, env->instance_id, id, first,
                                      change, &err));
    json_decref(change);

    change = json_pack("{s:s}", "time_zone", "America/New_York");
    view = campaigns_update(env->app, env->instance_id, id, change, &err);
    if (!view)
        fail_msg("campaigns_update: %s", err.message);
    json_decref(change);
    json_decref(view);
    view = campaigns_env_post(env, id, first);
    assert_string_equal(json_string_value(json_object_get(view, "topic")),
                        "summer teas");
    assert_string_equal(
        json_string_value(json_object_get(view, "scheduled_at")),
        "2026-06-08T13:00:00.000Z");
    json_decref(view);

    change = json_loads("{\"schedule\": {\"rules\": [{\"frequency\":"
                        " \"weekly\", \"weekdays\": [\"tuesday\"],"
                        " \"time\": \"09:00\"}]}}",
                        0, NULL);
    view = campaigns_update(env->app, env->instance_id, id, change, &err);
    assert_non_null(view);
    json_decref(change);
    json_decref(view);
    posts = campaigns_env_posts(env, id);
    assert_string_equal(json_string_value(json_at(json_array_get(posts, 0),
                                                  "requested_local_time")),
                        "2026-06-02T09:00");
    json_decref(posts);
    assert_null(
        campaigns_post_get(env->app, env->instance_id, id, first, &err));
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    json_decref(campaign);
}

/* ------------------------------------------------------------------ */
/* Another site                                                        */
/* ------------------------------------------------------------------ */

static void other_site_campaign_not_found(void **state)
{
    static const int minutes[] = {10};
    struct blog_env *env = *state;
    char other[128];
    char owner[128];
    char id_of_post[STORE_UUID_SIZE];
    struct error err;
    json_t *campaign;
    json_t *change;
    json_t *list;
    const char *id;

    blog_env_start(env, env->backend);
    blog_env_add_site(env, 50, other, owner);
    campaign = campaigns_env_listed(env, env->instance_id, minutes, 1, "draft");
    id = campaigns_env_id(campaign);
    post_id(env, id, 0, id_of_post);
    change = json_pack("{s:s}", "name", "Taken over");

    error_clear(&err);
    assert_null(campaigns_get(env->app, other, id, &err));
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    assert_null(campaigns_update(env->app, other, id, change, &err));
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    assert_null(campaigns_set_paused(env->app, other, id, 1, &err));
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    assert_int_equal(campaigns_delete(env->app, other, id, &err), -1);
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    assert_null(
        campaigns_posts_list(env->app, other, id, NULL, 0, 0, 10, &err));
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    assert_null(campaigns_post_get(env->app, other, id, id_of_post, &err));
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    assert_null(campaigns_post_cancel(env->app, other, id, id_of_post, &err));
    assert_int_equal(err.kind, ERR_NOT_FOUND);

    list = campaigns_list(env->app, other, &err);
    assert_int_equal(json_array_size(json_object_get(list, "campaigns")), 0);
    json_decref(list);
    list = campaigns_list(env->app, env->instance_id, &err);
    assert_int_equal(json_array_size(json_object_get(list, "campaigns")), 1);
    json_decref(list);

    /* The owner still has it, unchanged. */
    assert_post_state(env, id, id_of_post, CAMPAIGN_POST_SCHEDULED);
    assert_int_equal(campaigns_delete(env->app, env->instance_id, id, &err), 0);
    assert_null(campaigns_get(env->app, env->instance_id, id, &err));
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    json_decref(change);
    json_decref(campaign);
}

int main(void)
{
    int failed = 0;

#define TESTS(ON)                                                              \
    ON(missed_during_downtime_by_setting)                                      \
    ON(too_few_credits_skips_post)                                             \
    ON(fixed_idea_published_keeps_title)                                       \
    ON(pause_resume_and_skip)                                                  \
    ON(update_replans_schedule)                                                \
    ON(other_site_campaign_not_found)

    BLOG_RUN_TESTS("campaign posts", TESTS);
    return failed;
}
