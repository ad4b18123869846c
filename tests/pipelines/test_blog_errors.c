/*
 * The error the site owner reads for each kind of step failure: a kind
 * that tells what to do, plain words that copy nothing of the technical
 * cause, and whether the operator has to act. Then two failures end to
 * end against sitesmith-sandbox: a rejected OpenAI key, whose cause only
 * the log shows, and a rate limit that outlasts every attempt.
 */
#include "blog_env.h"

#include "ai/openai.h"
#include "ai/replicate.h"
#include "core/log.h"
#include "core/metrics.h"

#define REQUEST "{\"topic\": \"linen care\", \"tone\": \"calm\"}"

/* A cause whose message carries what the owner must never see. */
#define SECRET_MESSAGE                                                         \
    "HTTP 401 invalid_api_key: Incorrect API key provided: sk-abc****wxyz; "   \
    "check OPENAI_API_KEY (site 1234-instance)"

struct owner_case {
    const char *job_kind;
    const char *source; /* NULL: not marked */
    enum error_kind kind;
    const char *code;
    const char *message; /* NULL: SECRET_MESSAGE */
    enum error_kind owner_kind;
    const char *owner_words;
    int operator_needed;
};

static const struct owner_case cases[] = {
    {BLOG_JOB_IDEAS, BLOG_SOURCE_OPENAI, ERR_UNAUTHORIZED, "", NULL,
     ERR_PERMANENT, "writing service is not configured correctly", 1},
    {BLOG_JOB_WRITE, BLOG_SOURCE_OPENAI, ERR_PERMANENT, "", NULL, ERR_PERMANENT,
     "writing service is not configured correctly", 1},
    {BLOG_JOB_WRITE, BLOG_SOURCE_OPENAI, ERR_RATE_LIMITED, "", NULL,
     ERR_RATE_LIMITED, "try again in a few minutes", 0},
    {BLOG_JOB_WRITE, BLOG_SOURCE_OPENAI, ERR_RETRYABLE, "", NULL, ERR_RETRYABLE,
     "busy or not responding", 0},
    {BLOG_JOB_WRITE, BLOG_SOURCE_OPENAI, ERR_PERMANENT, OPENAI_ERR_REFUSAL,
     NULL, ERR_INVALID, "declined to write about this idea", 0},
    {BLOG_JOB_WRITE, BLOG_SOURCE_OPENAI, ERR_PERMANENT, OPENAI_ERR_LENGTH, NULL,
     ERR_PERMANENT, "text that could not be used", 0},
    {BLOG_JOB_IMAGE, BLOG_SOURCE_REPLICATE, ERR_UNAUTHORIZED, "", NULL,
     ERR_PERMANENT, "image service is not configured correctly", 1},
    {BLOG_JOB_IMAGE, BLOG_SOURCE_REPLICATE, ERR_PERMANENT, REPLICATE_ERR_FAILED,
     "prediction x failed: The input or output was flagged as sensitive. "
     "(E005)",
     ERR_INVALID, "as sensitive content", 0},
    {BLOG_JOB_IMAGE, BLOG_SOURCE_REPLICATE, ERR_PERMANENT, REPLICATE_ERR_FAILED,
     "prediction x failed: CUDA out of memory", ERR_PERMANENT,
     "could not make a usable cover image", 0},
    {BLOG_JOB_IMAGE, BLOG_SOURCE_REPLICATE, ERR_RETRYABLE,
     REPLICATE_ERR_TIMEOUT, NULL, ERR_RETRYABLE, "failed several times", 0},
    {BLOG_JOB_IMAGE, NULL, ERR_RETRYABLE, "", NULL, ERR_PERMANENT,
     "went wrong in the app while making the cover image", 1},
    {BLOG_JOB_PUBLISH, BLOG_SOURCE_WIX, ERR_UNAUTHORIZED, "UNAUTHENTICATED",
     NULL, ERR_UNAUTHORIZED, "Open the app again from your Wix dashboard", 0},
    {BLOG_JOB_PUBLISH, BLOG_SOURCE_WIX, ERR_FORBIDDEN, "", NULL, ERR_FORBIDDEN,
     "missing a permission", 0},
    {BLOG_JOB_PUBLISH, BLOG_SOURCE_WIX, ERR_NOT_FOUND, "", NULL, ERR_NOT_FOUND,
     "Wix Blog app is installed", 0},
    {BLOG_JOB_PUBLISH, BLOG_SOURCE_WIX, ERR_RETRYABLE, "", NULL, ERR_RETRYABLE,
     "Wix did not respond in time", 0},
    {BLOG_JOB_PUBLISH, BLOG_SOURCE_WIX, ERR_INVALID, "", NULL, ERR_PERMANENT,
     "Wix rejected the request", 1},
    {BLOG_JOB_PUBLISH, BLOG_SOURCE_WIX, ERR_PERMANENT, BLOG_ERR_NO_MEMBERS,
     NULL, ERR_NOT_FOUND, "Add a member to your site", 0},
    {BLOG_JOB_PUBLISH, BLOG_SOURCE_WIX, ERR_PERMANENT, BLOG_ERR_COVER_LOST,
     NULL, ERR_PERMANENT, "start a new generation", 1},
    {BLOG_JOB_PUBLISH, BLOG_SOURCE_APP, ERR_PERMANENT, "", NULL, ERR_PERMANENT,
     "while saving the draft to your Wix Blog", 1},
};

static void owner_words_per_cause(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct owner_case *c = &cases[i];
        struct error cause;
        struct error owner;
        int operator_needed;

        error_set(&cause, c->kind, "%s",
                  c->message ? c->message : SECRET_MESSAGE);
        snprintf(cause.code, sizeof(cause.code), "%s", c->code);
        if (c->source)
            blog_error_from(&cause, c->source);
        operator_needed = blog_owner_error(c->job_kind, &cause, &owner);

        if (!strstr(owner.message, c->owner_words))
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, owner.message,
                     c->owner_words);
        assert_int_equal(owner.kind, c->owner_kind);
        assert_int_equal(operator_needed, c->operator_needed);
        assert_non_null(strstr(owner.message, "No credits were charged."));
        assert_null(strstr(owner.message, "sk-"));
        assert_null(strstr(owner.message, "wxyz"));
        assert_null(strstr(owner.message, "OPENAI_API_KEY"));
        assert_null(strstr(owner.message, "HTTP"));
        assert_null(strstr(owner.message, "1234-instance"));
    }
}

static void source_marked_once(void **state)
{
    struct error err;

    (void)state;
    error_set(&err, ERR_PERMANENT, "prediction failed");
    snprintf(err.code, sizeof(err.code), "%s", REPLICATE_ERR_FAILED);
    blog_error_from(&err, BLOG_SOURCE_REPLICATE);
    assert_string_equal(err.code, "replicate/" REPLICATE_ERR_FAILED);
    assert_string_equal(blog_error_code(&err), REPLICATE_ERR_FAILED);

    /* A later, wider mark keeps the first source. */
    blog_error_from(&err, BLOG_SOURCE_WIX);
    assert_string_equal(err.code, "replicate/" REPLICATE_ERR_FAILED);

    /* A code that fills the field is cut, never overrun. */
    memset(err.code, 'x', sizeof(err.code) - 1);
    err.code[sizeof(err.code) - 1] = '\0';
    blog_error_from(&err, BLOG_SOURCE_OPENAI);
    assert_int_equal(strlen(err.code), sizeof(err.code) - 1);
    assert_int_equal(strncmp(err.code, "openai/xxx", 10), 0);
}

/* ------------------------------------------------------------------ */
/* End to end                                                          */
/* ------------------------------------------------------------------ */

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
    blog_env_expect_failed(env, id, "permanent", "not configured correctly");
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
    blog_env_expect_failed(env, id, "rate_limited",
                           "The writing service is busy or not responding");
    view = blog_env_view(env, id);
    assert_null(strstr(view_string(view, "error.message"), "429"));
    assert_null(strstr(view_string(view, "error.message"), "rate_limit"));
    json_decref(view);
}

#define END_TO_END_TESTS(ON)                                                   \
    ON(openai_key_rejected)                                                    \
    ON(openai_rate_limit_exhausted)

int main(void)
{
    const struct CMUnitTest unit_tests[] = {
        cmocka_unit_test(owner_words_per_cause),
        cmocka_unit_test(source_marked_once),
    };
    int failed = 0;

    log_set_level(LOG_OFF);
    failed += cmocka_run_group_tests_name("blog owner errors", unit_tests, NULL,
                                          NULL);
    BLOG_RUN_TESTS("blog owner errors end to end", END_TO_END_TESTS);
    return failed;
}
