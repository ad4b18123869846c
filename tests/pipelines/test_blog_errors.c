/*
 * The error the site owner reads for each kind of step failure: a kind
 * that tells what to do, plain words that copy nothing of the technical
 * cause, and whether the operator has to act.
 */
#include "ai/openai.h"
#include "ai/replicate.h"
#include "pipelines/blog_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(owner_words_per_cause),
        cmocka_unit_test(source_marked_once),
    };

    return cmocka_run_group_tests_name("blog owner errors", tests, NULL, NULL);
}
