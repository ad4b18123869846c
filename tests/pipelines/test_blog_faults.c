/*
 * The blog pipeline when the services fail: OpenAI rate limits, server
 * errors and responses cut at the token cap, failed Replicate predictions
 * (for good, or interrupted and made again), an expired output,
 * a media import that Wix marks FAILED, an output URL too old to import,
 * a draft whose answer is lost after Wix created it, and rejected tokens.
 */
#include "blog_env.h"

#include "core/log.h"
#include "core/metrics.h"

#include <unistd.h>

#define REQUEST "{\"topic\": \"linen care\", \"tone\": \"calm\"}"

/* Checks that the generation failed with kind, its message naming what,
 * its credits released and nothing charged. */
static void expect_failed(struct blog_env *env, const char *id,
                          const char *kind, const char *what)
{
    json_t *view = blog_env_view(env, id);
    struct store_credits credits = blog_env_credits(env);

    assert_string_equal(view_string(view, "state"), BLOG_FAILED);
    assert_string_equal(view_string(view, "error.kind"), kind);
    if (!strstr(view_string(view, "error.message"), what))
        fail_msg("error \"%s\" does not mention \"%s\"",
                 view_string(view, "error.message"), what);
    if (!strstr(view_string(view, "error.message"), "No credits were charged"))
        fail_msg("error \"%s\" does not say that nothing was charged",
                 view_string(view, "error.message"));
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_charged")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_reserved")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(view, "credits_released")),
        blog_env_cost(env));
    assert_int_equal(credits.available, BLOG_ENV_CREDITS);
    assert_int_equal(credits.reserved, 0);
    json_decref(view);
}

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

/* Runs the generation with the log's error lines going to a file, and
 * returns what was logged (free it). */
static char *run_logging_errors(struct blog_env *env, const char *id)
{
    FILE *log = tmpfile();
    char *text;
    long size;

    assert_non_null(log);
    log_set_output(log);
    log_set_level(LOG_ERROR);
    blog_env_run_until(env, id, BLOG_DONE);
    log_set_level(LOG_OFF);
    log_set_output(NULL);

    size = ftell(log);
    assert_true(size >= 0);
    text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    rewind(log);
    assert_int_equal(fread(text, 1, (size_t)size, log), (size_t)size);
    fclose(log);
    return text;
}

static void openai_key_rejected(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    char line_start[256];
    const char *message;
    const char *line;
    int64_t operator_before;
    json_t *view;
    char *log;

    blog_env_start(env, env->backend);
    sandbox_proc_configure(&env->sandbox,
                           "{\"openai\": {\"api_key\": \"sk-another-key\"}}");
    operator_before = metrics_counter_value("sitesmith_blog_failures_total",
                                            "action=\"operator\"");
    blog_env_begin(env, REQUEST, id);
    log = run_logging_errors(env, id);

    /* The owner reads what happened and what to do, and nothing of the
     * key, the setting or OpenAI's words. */
    expect_failed(env, id, "permanent", "not configured correctly");
    view = blog_env_view(env, id);
    message = view_string(view, "error.message");
    assert_string_equal(message,
                        "The writing service is not configured correctly; the "
                        "app's operator has been alerted. No credits were "
                        "charged. Please try again later.");
    json_decref(view);
    assert_int_equal(
        blog_env_count(env, "POST", "/openai/v1/chat/completions", 401), 1);
    assert_int_equal(metrics_counter_value("sitesmith_blog_failures_total",
                                           "action=\"operator\""),
                     operator_before + 1);

    /* The operator finds the cause in the log, under the generation. */
    snprintf(line_start, sizeof(line_start),
             "generation failed instance=%s generation=%s job=",
             env->instance_id, id);
    line = strstr(log, line_start);
    if (!line)
        fail_msg("no \"%s\" line in the log:\n%s", line_start, log);
    assert_non_null(strstr(line, "action=operator"));
    assert_non_null(strstr(line, "check OPENAI_API_KEY"));
    free(log);
}

static void openai_rate_limit_exhausted(void **state)
{
    struct blog_env *env = *state;
    char id[STORE_UUID_SIZE];
    json_t *view;

    blog_env_start(env, env->backend);
    blog_env_fault(env, "{\"endpoint\": \"POST /openai/v1/chat/completions\", "
                        "\"status\": 429, \"count\": 1000}");
    blog_env_begin(env, REQUEST, id);
    blog_env_run_until(env, id, BLOG_DONE);

    /* Every attempt was rate limited: the owner is told to wait. */
    expect_failed(env, id, "rate_limited",
                  "The writing service is busy or not responding");
    view = blog_env_view(env, id);
    assert_null(strstr(view_string(view, "error.message"), "429"));
    assert_null(strstr(view_string(view, "error.message"), "rate_limit"));
    json_decref(view);
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

    expect_failed(env, id, "permanent",
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

    expect_failed(env, id, "invalid",
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
    expect_failed(env, id, "retryable",
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
    expect_failed(env, id, "permanent", "start a new generation");
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
    expect_failed(env, id, "unauthorized", "can no longer reach your site");
    assert_int_equal(blog_env_drafts(env), 0);
    blog_env_load(env, id, &gen);
    assert_non_null(strstr(gen.wix_ids, "mediaId"));
    store_generation_clear(&gen);
}

#define FAULT_TESTS(ON)                                                        \
    ON(openai_rate_limit_then_success)                                         \
    ON(openai_key_rejected)                                                    \
    ON(openai_rate_limit_exhausted)                                            \
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
