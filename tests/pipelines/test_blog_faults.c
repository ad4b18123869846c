/*
 * The blog pipeline when the services fail: OpenAI rate limits, server
 * errors and responses cut at the token cap, failed Replicate predictions
 * (for good, or interrupted and made again), an expired output,
 * a media import that Wix marks FAILED, an output URL too old to import,
 * a draft whose answer is lost after Wix created it, and rejected tokens.
 */
#include "blog_env.h"

#include "core/log.h"

#include <unistd.h>

#define REQUEST "{\"topic\": \"linen care\", \"tone\": \"calm\"}"

static void expect_done(struct blog_env *env, const char *id)
{
    json_t *view = blog_env_view(env, id);

    assert_string_equal(view_string(view, "state"), BLOG_DONE);
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_charged")),
        blog_env_cost(env));
    assert_int_equal(blog_env_credits(env).available,
                     BLOG_ENV_CREDITS - blog_env_cost(env));
    assert_int_equal(blog_env_drafts(env), 1);
    json_decref(view);
}

/* The generation's "usage" checkpoint (new reference). */
static json_t *usage_of(struct blog_env *env, const char *id)
{
    struct store_tx *tx;
    struct error err;
    char *text = NULL;
    json_t *usage;

    /* A write transaction: reading a checkpoint locks the row. */
    error_clear(&err);
    tx = store_begin(env->app->store, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_generation_get_checkpoint(tx, id, "usage", &text, &err), 1);
    store_rollback(tx);
    usage = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(usage);
    return usage;
}

/* ------------------------------------------------------------------ */
/* OpenAI                                                              */
/* ------------------------------------------------------------------ */

static void openai_rate_limit_then_success(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    char now[32];

    blog_env_start(env, env->backend);
    blog_env_fault(env, "{\"endpoint\": \"POST /openai/v1/chat/completions\", "
                        "\"status\": 429, \"count\": 2}");
    blog_env_begin(env, REQUEST, id);

    /* The client waits out both 429s within the step's one attempt. */
    assert_int_equal(blog_env_run_one(env), 1);
    blog_env_state(env, id, now);
    assert_string_equal(now, BLOG_AWAITING_SELECTION);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", 429), 2);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", 200), 1);
}

static void openai_server_errors_then_success(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    char now[32];
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_fault(env, "{\"endpoint\": \"POST /openai/v1/chat/completions\", "
                        "\"status\": 500, \"count\": 3}");
    blog_env_begin(env, REQUEST, id);

    /* Three 500s use up the client's retries: the job fails once and
     * the queue runs it again after its backoff. */
    assert_int_equal(blog_env_run_one(env), 1);
    blog_env_state(env, id, now);
    assert_string_equal(now, BLOG_GENERATING_IDEAS);
    assert_int_equal(blog_env_run_one(env), 0);
    blog_env_run_until(env, id, BLOG_AWAITING_SELECTION);

    view = blog_env_view(env, id);
    assert_string_equal(view_string(view, "state"), BLOG_AWAITING_SELECTION);
    assert_true(json_is_null(json_object_get(view, "error")));
    json_decref(view);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", 500), 3);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", 200), 1);
}

static void answer_cut_at_token_cap(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    json_t *usage;

    blog_env_prepare(env, env->backend);
    blog_env_set(env, "SITESMITH_BLOG_WRITE_MAX_TOKENS", "40");
    blog_env_open(env);
    blog_env_run_to(env, REQUEST, id, BLOG_DONE);

    blog_env_expect_failed(
        env, id, "permanent",
        "The writing service returned text that could not be used");
    assert_int_equal(blog_env_count(env, "POST", "/replicate/", -1), 0);

    /* The cut answer's tokens are billed, so they are kept too. */
    usage = usage_of(env, id);
    assert_int_equal(json_integer_value(json_object_get(usage, "calls")), 2);
    assert_true(
        json_integer_value(json_object_get(usage, "completion_tokens")) >= 40);
    json_decref(usage);
}

/* ------------------------------------------------------------------ */
/* Replicate and media                                                 */
/* ------------------------------------------------------------------ */

static void prediction_fails(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    sandbox_proc_configure(&env->sandbox,
                           "{\"replicate\": {\"fail_next\": 1}}");
    blog_env_run_to(env, REQUEST, id, BLOG_DONE);

    blog_env_expect_failed(env, id, "invalid",
                           "rejected the cover image for this post "
                           "as sensitive content");
    assert_int_equal(blog_env_count(env, "POST", "/replicate/v1/models/", -1),
                     1);
    assert_int_equal(blog_env_drafts(env), 0);
    assert_int_equal(blog_env_covers(env), 0);
}

#define INTERRUPTED_CONFIG(count)                                              \
    "{\"replicate\": {\"fail_next\": " #count ", \"fail_error\": "             \
    "\"Prediction interrupted; please retry (code: PA)\"}}"

/* How many predictions the image checkpoint lists as failed. */
static size_t failed_predictions(struct blog_env *env, const char *id)
{
    struct store_generation gen;
    json_t *checkpoints;
    size_t count;

    blog_env_load(env, id, &gen);
    checkpoints = json_loads(gen.checkpoints, 0, NULL);
    store_generation_clear(&gen);
    count = json_array_size(json_at(checkpoints, "image.failed_predictions"));
    json_decref(checkpoints);
    return count;
}

static void interrupted_prediction_retried(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    sandbox_proc_configure(&env->sandbox, INTERRUPTED_CONFIG(1));
    blog_env_run_to(env, REQUEST, id, BLOG_DONE);

    /* A second prediction made the cover; the post was written once. */
    expect_done(env, id);
    assert_int_equal(blog_env_count(env, "POST", "/replicate/v1/models/", -1),
                     2);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", 200), 2);
    assert_int_equal(failed_predictions(env, id), 1);
    assert_int_equal(blog_env_covers(env), 1);
}

static void interrupted_every_attempt(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    json_t *view;

    blog_env_start(env, env->backend);
    sandbox_proc_configure(&env->sandbox, INTERRUPTED_CONFIG(10));
    blog_env_run_to(env, REQUEST, id, BLOG_DONE);

    /* One new prediction per attempt of the job, then the generation
     * fails with its credits released and its post kept. */
    blog_env_expect_failed(env, id, "retryable",
                           "The image service failed several times");
    assert_int_equal(blog_env_count(env, "POST", "/replicate/v1/models/", -1),
                     QUEUE_DEFAULT_MAX_ATTEMPTS);
    assert_int_equal(failed_predictions(env, id), QUEUE_DEFAULT_MAX_ATTEMPTS);
    view = blog_env_view(env, id);
    assert_non_null(view_string(view, "post.title"));
    json_decref(view);
    assert_int_equal(blog_env_drafts(env), 0);
}

static void output_expired_before_download(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_GENERATING_IMAGE);

    /* The first output is gone when the step downloads it. */
    blog_env_fault(env, "{\"endpoint\": \"GET /replicate/files/*\", "
                        "\"status\": 404, \"count\": 1}");
    blog_env_run_until(env, id, BLOG_DONE);
    expect_done(env, id);
    assert_int_equal(blog_env_count(env, "POST", "/replicate/v1/models/", -1),
                     2);
    assert_int_equal(failed_predictions(env, id), 1);
}

static void media_import_failed_uploads(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    json_t *view;
    json_t *site;
    json_t *file;
    size_t index;
    int ready = 0;
    int failed = 0;

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);

    /* Wix's fetch of the Replicate URL is refused: the import ends FAILED,
     * and the kept bytes are uploaded instead. */
    blog_env_fault(env, "{\"endpoint\": \"GET /replicate/files/*\", "
                        "\"status\": 403, \"count\": 1}");
    blog_env_run_until(env, id, BLOG_DONE);
    expect_done(env, id);
    assert_int_equal(
        blog_env_count(env, "POST", "/wix/site-media/v1/files/import", 200), 1);
    assert_int_equal(blog_env_count(env, "POST",
                                    "/wix/site-media/v1/files/"
                                    "generate-upload-url",
                                    200),
                     1);

    view = blog_env_view(env, id);
    site = blog_env_site(env);
    json_array_foreach(json_object_get(site, "media"), index, file)
    {
        const char *name = view_string(file, "displayName");
        const char *status = view_string(file, "operationStatus");

        if (!name || strncmp(name, "sitesmith-cover-", 16) != 0)
            continue;
        if (strcmp(status, "READY") == 0) {
            ready++;
            assert_string_equal(view_string(file, "id"),
                                view_string(view, "image.media_id"));
            assert_non_null(strstr(name, "-upload"));
        } else {
            failed += strcmp(status, "FAILED") == 0;
        }
    }
    assert_int_equal(ready, 1);
    assert_int_equal(failed, 1);
    assert_string_equal(view_string(site, "drafts[0].media.wixMedia.image.id"),
                        view_string(view, "image.media_id"));
    json_decref(site);
    json_decref(view);
}

static void old_output_url_uploads(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);

    /* 55 minutes on: Replicate's URL is too old to hand to Wix. */
    sandbox_proc_advance(&env->sandbox, 55 * 60);
    clock_fake_advance_ms(55 * 60 * 1000LL);
    blog_env_run_until(env, id, BLOG_DONE);
    expect_done(env, id);
    assert_int_equal(
        blog_env_count(env, "POST", "/wix/site-media/v1/files/import", -1), 0);
    assert_int_equal(blog_env_count(env, "PUT", "/wixmp/upload/", 200), 1);
    assert_int_equal(blog_env_covers(env), 1);
}

/* Deletes the cover bytes the image step kept for generation id. */
static void remove_kept_cover(struct blog_env *env, const char *id)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/blog/%s.webp", env->data_dir, id);
    assert_int_equal(unlink(path), 0);
}

static void kept_bytes_lost_downloads_again(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);
    remove_kept_cover(env, id);

    /* Too old to import, but Replicate still has the output. */
    sandbox_proc_advance(&env->sandbox, 55 * 60);
    clock_fake_advance_ms(55 * 60 * 1000LL);
    blog_env_run_until(env, id, BLOG_DONE);
    expect_done(env, id);
    assert_int_equal(blog_env_count(env, "GET", "/replicate/files/", 200), 2);
    assert_int_equal(blog_env_count(env, "PUT", "/wixmp/upload/", 200), 1);
}

static void kept_bytes_and_output_gone(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);
    remove_kept_cover(env, id);

    /* Past Replicate's hour: nothing is left to upload. */
    sandbox_proc_advance(&env->sandbox, 2 * 3600);
    clock_fake_advance_ms(2 * 3600 * 1000LL);
    blog_env_run_until(env, id, BLOG_DONE);
    blog_env_expect_failed(env, id, "permanent", "start a new generation");
    assert_int_equal(blog_env_covers(env), 0);
}

/* ------------------------------------------------------------------ */
/* Draft                                                               */
/* ------------------------------------------------------------------ */

/* Wix creates the draft, but its response never arrives (mode drop or
 * truncate); the retry finds the draft instead of making another. */
static void draft_answer_lost(struct blog_env *env, const char *mode)
{
    char id[STORE_UUID_SIZE];
    char fault[200];
    json_t *view;
    json_t *site;

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);
    snprintf(fault, sizeof(fault),
             "{\"endpoint\": \"POST /wix/blog/v3/draft-posts\", "
             "\"mode\": \"%s\", \"count\": 1}",
             mode);
    blog_env_fault(env, fault);
    blog_env_run_until(env, id, BLOG_DONE);

    expect_done(env, id);
    assert_int_equal(
        blog_env_count(env, "POST", "/wix/blog/v3/draft-posts", -1) -
            blog_env_count(env, "POST", "/wix/blog/v3/draft-posts/query", -1),
        1);
    assert_true(blog_env_count(env, "POST", "/wix/blog/v3/draft-posts/query",
                               200) >= 1);
    view = blog_env_view(env, id);
    site = blog_env_site(env);
    assert_string_equal(view_string(view, "draft_post_id"),
                        view_string(site, "drafts[0].id"));
    assert_int_equal(blog_env_covers(env), 1);
    json_decref(site);
    json_decref(view);
}

static void draft_answer_dropped(void **state)
{
    draft_answer_lost(*state, "drop");
}

static void draft_answer_truncated(void **state)
{
    draft_answer_lost(*state, "truncate");
}

static void draft_token_rejected_once(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);
    blog_env_fault(env, "{\"endpoint\": \"POST /wix/blog/v3/draft-posts\", "
                        "\"status\": 401, \"count\": 1}");
    blog_env_run_until(env, id, BLOG_DONE);

    /* One forced refresh and one more run of the unit: the cover found
     * in the ledger, the draft created once. */
    expect_done(env, id);
    assert_int_equal(blog_env_count(env, "POST", "/wix/oauth2/token", 200), 2);
    assert_int_equal(blog_env_covers(env), 1);
}

static void draft_token_rejected_twice(void **state)
{
    struct blog_env *env = *state;
    struct store_generation gen;
    char id[STORE_UUID_SIZE];

    blog_env_start(env, env->backend);
    blog_env_run_to(env, REQUEST, id, BLOG_PUBLISHING);
    blog_env_fault(env, "{\"endpoint\": \"POST /wix/blog/v3/draft-posts\", "
                        "\"status\": 401, \"count\": 2}");
    blog_env_run_until(env, id, BLOG_DONE);

    /* A second 401 is an authorization failure: no retry, no charge, and
     * the cover it made is named on the failed generation. */
    blog_env_expect_failed(env, id, "unauthorized",
                           "can no longer reach your site");
    assert_int_equal(blog_env_drafts(env), 0);
    blog_env_load(env, id, &gen);
    assert_non_null(strstr(gen.wix_ids, "mediaId"));
    store_generation_clear(&gen);
}

#define FAULT_TESTS(ON)                                                        \
    ON(openai_rate_limit_then_success)                                         \
    ON(openai_server_errors_then_success)                                      \
    ON(answer_cut_at_token_cap)                                                \
    ON(prediction_fails)                                                       \
    ON(interrupted_prediction_retried)                                         \
    ON(interrupted_every_attempt)                                              \
    ON(output_expired_before_download)                                         \
    ON(media_import_failed_uploads)                                            \
    ON(old_output_url_uploads)                                                 \
    ON(kept_bytes_lost_downloads_again)                                        \
    ON(kept_bytes_and_output_gone)                                             \
    ON(draft_answer_dropped)                                                   \
    ON(draft_answer_truncated)                                                 \
    ON(draft_token_rejected_once)                                              \
    ON(draft_token_rejected_twice)

int main(void)
{
    int failed = 0;

    log_set_level(LOG_OFF);
    BLOG_RUN_TESTS("blog faults", FAULT_TESTS);
    return failed;
}
