/*
 * The blog pipeline while ideas wait for the owner's choice: ideas that
 * expire unchosen after SITESMITH_BLOG_SELECTION_TTL release the credits,
 * a new round or a choice stops the earlier expiry, rounds of new ideas
 * are capped, and the settings that bound both are checked. Runs against
 * sitesmith-sandbox on the fake clock.
 */
#include "blog_env.h"

#include "core/log.h"

#define REQUEST "{\"topic\": \"linen care\", \"tone\": \"calm\"}"
#define HOUR_MS (3600LL * 1000)
#define MINUTE_MS (60LL * 1000)

/* Checks that the generation was cancelled because its ideas expired
 * after ttl_text ("24 hours"), with its credits back. */
static void expect_expired(struct blog_env *env, const char *id,
                           const char *ttl_text)
{
    json_t *view = blog_env_view(env, id);
    const char *message = view_string(view, "error.message");

    assert_string_equal(view_string(view, "state"), BLOG_CANCELLED);
    assert_non_null(message);
    if (!strstr(message, "expired unused") || !strstr(message, ttl_text) ||
        !strstr(message, "No credits were charged"))
        fail_msg("unexpected expiry message \"%s\"", message);
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_charged")), 0);
    json_decref(view);
    assert_int_equal(blog_env_credits(env).available, BLOG_ENV_CREDITS);
    assert_int_equal(blog_env_credits(env).reserved, 0);
}

static void expect_state(struct blog_env *env, const char *id,
                         const char *expected)
{
    char now[32];

    blog_env_state(env, id, now);
    assert_string_equal(now, expected);
}

/* ------------------------------------------------------------------ */
/* Expiry                                                              */
/* ------------------------------------------------------------------ */
/* Rounds of ideas                                                     */
/* ------------------------------------------------------------------ */

static void idea_rounds_capped(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;
    int rc;

    blog_env_prepare(env, env->backend);
    blog_env_set(env, "SITESMITH_BLOG_MAX_IDEA_ROUNDS", "2");
    blog_env_open(env);
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    error_clear(&err);
    assert_int_equal(
        blog_regenerate_ideas(env->app, env->instance_id, id, &err), 0);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);

    /* A third round is one too many; the ideas shown stay choosable. */
    error_clear(&err);
    rc = blog_regenerate_ideas(env->app, env->instance_id, id, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
    assert_string_equal(err.code, "conflict");
    if (!strstr(err.message, "already had 2 rounds of ideas") ||
        !strstr(err.message, "choose one of these ideas"))
        fail_msg("unexpected message \"%s\"", err.message);
    expect_state(env, id, BLOG_AWAITING_SELECTION);
    assert_int_equal(blog_env_run_one(env), 0);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", -1), 2);
    error_clear(&err);
    assert_int_equal(blog_select(env->app, env->instance_id, id, 0, &err), 0);
}

/* ------------------------------------------------------------------ */

static void unchosen_ideas_expire(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;

    blog_env_start(env, env->backend);
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    assert_int_equal(blog_env_credits(env).reserved, blog_env_cost(env));

    /* A minute before the default 24 hours nothing is due yet. */
    clock_fake_advance_ms(24 * HOUR_MS - MINUTE_MS);
    assert_int_equal(blog_env_run_one(env), 0);
    expect_state(env, id, BLOG_AWAITING_SELECTION);

    clock_fake_advance_ms(2 * MINUTE_MS);
    assert_int_equal(blog_env_run_one(env), 1);
    expect_expired(env, id, "24 hours");
    assert_int_equal(blog_env_run_one(env), 0);

    /* Too late to choose. */
    error_clear(&err);
    assert_int_equal(blog_select(env->app, env->instance_id, id, 0, &err), -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
}

static void new_round_restarts_expiry(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;

    blog_env_prepare(env, env->backend);
    blog_env_set(env, "SITESMITH_BLOG_SELECTION_TTL", "90m");
    blog_env_open(env);
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);

    /* New ideas an hour in: the first round's expiry no longer counts. */
    clock_fake_advance_ms(HOUR_MS);
    error_clear(&err);
    assert_int_equal(
        blog_regenerate_ideas(env->app, env->instance_id, id, &err), 0);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    clock_fake_advance_ms(HOUR_MS);
    assert_int_equal(blog_env_run_one(env), 0);
    expect_state(env, id, BLOG_AWAITING_SELECTION);

    /* The second round expires 90 minutes after it arrived. */
    clock_fake_advance_ms(HOUR_MS);
    assert_int_equal(blog_env_run_one(env), 1);
    expect_expired(env, id, "90 minutes");
}

static void choice_stops_expiry(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;

    blog_env_start(env, env->backend);
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    error_clear(&err);
    assert_int_equal(blog_select(env->app, env->instance_id, id, 0, &err), 0);
    blog_env_run_until(env, id, BLOG_DONE);
    expect_state(env, id, BLOG_DONE);

    /* The expiry was cancelled with the choice, and the post is charged. */
    clock_fake_advance_ms(25 * HOUR_MS);
    assert_int_equal(blog_env_run_one(env), 0);
    expect_state(env, id, BLOG_DONE);
    assert_int_equal(blog_env_credits(env).available,
                     BLOG_ENV_CREDITS - blog_env_cost(env));
}

static void cancel_stops_expiry(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    struct error err;
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);
    error_clear(&err);
    assert_int_equal(blog_cancel(env->app, env->instance_id, id, &err), 0);

    /* A cancel by the owner carries no error, before or after the TTL. */
    clock_fake_advance_ms(25 * HOUR_MS);
    assert_int_equal(blog_env_run_one(env), 0);
    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_CANCELLED);
    assert_true(json_is_null(json_object_get(view, "error")));
    json_decref(view);
}

/* Credits held by open sessions                                       */
/* ------------------------------------------------------------------ */

static void held_credits_named_when_short(void **state)
{
    struct blog_env *env = *state;
    char site[128];
    char member[128];
    char first[STORE_UUID_SIZE];
    char second[STORE_UUID_SIZE];
    char expected[256];
    json_t *request = json_loads(REQUEST, 0, NULL);
    struct error err;

    blog_env_start(env, env->backend);
    blog_env_add_site(env, blog_env_cost(env), site, member);
    error_clear(&err);
    assert_int_equal(blog_start(env->app, site, request, first, &err), 0);

    /* The open session reserved the whole balance, and the error names it. */
    error_clear(&err);
    assert_int_equal(blog_start(env->app, site, request, second, &err), -1);
    assert_int_equal(err.kind, ERR_INSUFFICIENT_CREDITS);
    assert_string_equal(err.code, "insufficient_credits");
    snprintf(expected, sizeof(expected),
             "insufficient credits: balance 0, cost %lld, and %lld more "
             "are held by generations that have not finished; finish or "
             "cancel your open generations, or upgrade your plan",
             (long long)blog_env_cost(env), (long long)blog_env_cost(env));
    assert_string_equal(err.message, expected);
    json_decref(request);
}

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

static void selection_ttl_setting(void **state)
{
    struct blog_settings settings;
    struct config *cfg = config_new_empty();
    struct error err;

    (void)state;
    error_clear(&err);
    assert_int_equal(blog_settings_read(cfg, &settings, &err), 0);
    assert_int_equal(settings.selection_ttl_ms, 24 * HOUR_MS);

    assert_int_equal(config_set(cfg, "SITESMITH_BLOG_SELECTION_TTL", "90m"), 0);
    assert_int_equal(blog_settings_read(cfg, &settings, &err), 0);
    assert_int_equal(settings.selection_ttl_ms, 90 * MINUTE_MS);

    assert_int_equal(config_set(cfg, "SITESMITH_BLOG_SELECTION_TTL", "0"), 0);
    assert_int_equal(blog_settings_read(cfg, &settings, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "SITESMITH_BLOG_SELECTION_TTL"));
    config_free(cfg);
}

static void max_idea_rounds_setting(void **state)
{
    struct blog_settings settings;
    struct config *cfg = config_new_empty();
    struct error err;

    (void)state;
    error_clear(&err);
    assert_int_equal(blog_settings_read(cfg, &settings, &err), 0);
    assert_int_equal(settings.max_idea_rounds, 5);

    assert_int_equal(config_set(cfg, "SITESMITH_BLOG_MAX_IDEA_ROUNDS", "0"), 0);
    assert_int_equal(blog_settings_read(cfg, &settings, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "SITESMITH_BLOG_MAX_IDEA_ROUNDS"));
    config_free(cfg);
}

#define IDEAS_TESTS(ON)                                                        \
    ON(unchosen_ideas_expire)                                                  \
    ON(new_round_restarts_expiry)                                              \
    ON(choice_stops_expiry)                                                    \
    ON(cancel_stops_expiry)                                                    \
    ON(idea_rounds_capped)                                                     \
    ON(held_credits_named_when_short)

int main(void)
{
    const struct CMUnitTest unit_tests[] = {
        cmocka_unit_test(selection_ttl_setting),
        cmocka_unit_test(max_idea_rounds_setting),
    };
    int failed = 0;

    log_set_level(LOG_OFF);
    failed += cmocka_run_group_tests_name("blog idea settings", unit_tests,
                                          NULL, NULL);
    BLOG_RUN_TESTS("blog ideas", IDEAS_TESTS);
    return failed;
}
