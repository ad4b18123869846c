/*
 * The blog pipeline's checks that need no services: the owner's request
 * (a table of invalid ones and the field each names), shortening text at a
 * word boundary, and fitting a written post to Wix's limits.
 */
#include "pipelines/blog_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static json_t *parse(const char *text)
{
    json_t *value = json_loads(text, JSON_DECODE_ANY, NULL);

    assert_non_null(value);
    return value;
}

static void request_defaults(void **state)
{
    json_t *request = parse("{}");
    json_t *out;
    struct error err;

    (void)state;
    error_clear(&err);
    out = blog_request_validate(request, &err);
    assert_non_null(out);
    assert_true(json_is_null(json_object_get(out, "topic")));
    assert_int_equal(json_array_size(json_object_get(out, "keywords")), 0);
    assert_true(json_is_null(json_object_get(out, "tone")));
    assert_string_equal(json_string_value(json_object_get(out, "language")),
                        "en");
    json_decref(out);
    json_decref(request);
}

static void request_normalized(void **state)
{
    json_t *request =
        parse("{\"topic\": \"  linen care \", \"keywords\": [\"linen\", "
              "\"  \", \"summer\"], \"tone\": \"calm\", \"language\": "
              "\"pt-BR\"}");
    json_t *out;
    struct error err;

    (void)state;
    error_clear(&err);
    out = blog_request_validate(request, &err);
    assert_non_null(out);
    assert_string_equal(json_string_value(json_object_get(out, "topic")),
                        "linen care");
    assert_int_equal(json_array_size(json_object_get(out, "keywords")), 2);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(out, "keywords"), 1)),
        "summer");
    assert_string_equal(json_string_value(json_object_get(out, "language")),
                        "pt-BR");
    json_decref(out);
    json_decref(request);
}

struct bad_request {
    const char *json;
    const char *code;    /* err->code */
    const char *message; /* part of the message */
};

static void request_rejected(void **state)
{
    static const struct bad_request cases[] = {
        {"[]", "request", "expected a JSON object"},
        {"{\"subject\": \"x\"}", "request", "unknown field \"subject\""},
        {"{\"topic\": 5}", "topic", "topic: expected a string, found"},
        {"{\"topic\": \"a\\nb\"}", "topic", "control characters"},
        {"{\"topic\": \"%301\"}", "topic", "at most 300 characters"},
        {"{\"keywords\": \"linen\"}", "keywords", "expected an array"},
        {"{\"keywords\": [\"a\", 3]}", "keywords", "keywords[1]: expected a"},
        {"{\"keywords\": [\"%61\"]}", "keywords",
         "keywords[0]: must be at most 60"},
        {"{\"keywords\": [%21]}", "keywords", "at most 20 keywords"},
        {"{\"tone\": \"%41\"}", "tone", "at most 40 characters"},
        {"{\"language\": \"english!\"}", "language", "BCP-47"},
        {"{\"language\": \"e\"}", "language", "BCP-47"},
        {"{\"language\": \"en-\"}", "language", "BCP-47"},
        {"{\"language\": true}", "language", "expected a string"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[2048];
        const char *in = cases[i].json;
        char *out = text;
        struct error err;
        json_t *request;

        /* "%N" stands for N characters: "x" in a string, "\"x\"" items in
         * an array. */
        while (*in) {
            if (*in == '%') {
                int n = (int)strtol(in + 1, (char **)&in, 10);
                int in_array = out[-1] == '[';

                for (int k = 0; k < n; k++)
                    out += sprintf(out, in_array ? "%s\"x\"" : "x",
                                   in_array && k ? "," : "");
            } else {
                *out++ = *in++;
            }
        }
        *out = '\0';
        request = parse(text);
        error_clear(&err);
        if (blog_request_validate(request, &err))
            fail_msg("case %zu (%s) was accepted", i, text);
        assert_int_equal(err.kind, ERR_INVALID);
        assert_string_equal(err.code, cases[i].code);
        if (!strstr(err.message, cases[i].message))
            fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err.message,
                     cases[i].message);
        json_decref(request);
    }
}

/* ------------------------------------------------------------------ */
/* Shortening text                                                     */
/* ------------------------------------------------------------------ */

static void fit_keeps_short_text(void **state)
{
    char *out = blog_fit_text("  Linen in summer  ", 20, 1);

    (void)state;
    assert_string_equal(out, "Linen in summer");
    free(out);
}

static void fit_cuts_at_word_boundary(void **state)
{
    /* 34 characters into 30: the cut keeps whole words and drops the
     * dangling comma. */
    char *out = blog_fit_text("Wash linen cold, dry it flat, iron", 30, 0);

    (void)state;
    assert_string_equal(out, "Wash linen cold, dry it flat");
    free(out);

    out = blog_fit_text("Wash linen cold, dry it flat, iron", 30, 1);
    assert_string_equal(out, "Wash linen cold, dry it flat\xe2\x80\xa6");
    assert_true(blog_utf8_length(out) <= 30);
    free(out);
}

static void fit_counts_characters_not_bytes(void **state)
{
    /* 15 characters of 28 bytes into 11 characters. */
    char *out = blog_fit_text("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 "
                              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 "
                              "\xc3\xa9\xc3\xa9\xc3\xa9",
                              11, 0);

    (void)state;
    assert_non_null(out);
    assert_int_equal(blog_utf8_length(out), 11);
    free(out);
}

static void fit_refuses_without_boundary(void **state)
{
    (void)state;

    /* No space to cut at, or only one that would keep too little. */
    assert_null(blog_fit_text("Supercalifragilisticexpialidocious", 10, 0));
    assert_null(blog_fit_text("A Supercalifragilisticexpialidocious", 20, 0));
}

/* ------------------------------------------------------------------ */
/* Fitting a post                                                      */
/* ------------------------------------------------------------------ */

static json_t *post_with(const char *title, const char *excerpt)
{
    json_t *post = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:[s, s, s, s], s:s}", "title", title,
        "excerpt", excerpt, "body_markdown", "## Care\n\n- wash cold\n",
        "seo_title", "Linen care", "meta_description", "How to care for linen",
        "hashtags", "#Linen", "summer style", "linen", "", "image_prompt",
        "a linen shirt on a chair");

    assert_non_null(post);
    return post;
}

static void post_fit_cleans_hashtags(void **state)
{
    json_t *post = post_with("Linen care", "Keep linen fresh all summer.");
    json_t *tags;
    struct error err;

    (void)state;
    error_clear(&err);
    assert_int_equal(blog_post_fit(post, &err), 0);
    tags = json_object_get(post, "hashtags");

    /* '#' and spaces removed, a repeat (any case) and the empty one gone. */
    assert_int_equal(json_array_size(tags), 2);
    assert_string_equal(json_string_value(json_array_get(tags, 0)), "Linen");
    assert_string_equal(json_string_value(json_array_get(tags, 1)),
                        "summerstyle");
    json_decref(post);
}

static void post_fit_shortens_excerpt(void **state)
{
    char excerpt[400];
    json_t *post;
    struct error err;

    (void)state;
    excerpt[0] = '\0';
    for (int i = 0; i < 30; i++)
        strcat(excerpt, "linen ");
    post = post_with("Linen care", excerpt);
    error_clear(&err);
    assert_int_equal(blog_post_fit(post, &err), 0);
    assert_true(blog_utf8_length(json_string_value(
                    json_object_get(post, "excerpt"))) <= BLOG_EXCERPT_MAX);
    assert_non_null(strstr(json_string_value(json_object_get(post, "excerpt")),
                           "\xe2\x80\xa6"));
    json_decref(post);
}

static void post_fit_rejects_long_title(void **state)
{
    char title[200];
    json_t *post;
    struct error err;

    (void)state;
    title[0] = '\0';
    for (int i = 0; i < 20; i++)
        strcat(title, "Linen ");
    post = post_with(title, "Short.");
    error_clear(&err);
    assert_int_equal(blog_post_fit(post, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.code, "post_title");
    assert_non_null(strstr(err.message, "limit of 100"));
    json_decref(post);
}

static void post_fit_rejects_empty_body(void **state)
{
    json_t *post = post_with("Linen care", "Short.");
    struct error err;

    (void)state;
    json_object_set_new(post, "body_markdown", json_string(" \n "));
    error_clear(&err);
    assert_int_equal(blog_post_fit(post, &err), -1);
    assert_non_null(strstr(err.message, "no body"));
    json_decref(post);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_defaults),
        cmocka_unit_test(request_normalized),
        cmocka_unit_test(request_rejected),
        cmocka_unit_test(fit_keeps_short_text),
        cmocka_unit_test(fit_cuts_at_word_boundary),
        cmocka_unit_test(fit_counts_characters_not_bytes),
        cmocka_unit_test(fit_refuses_without_boundary),
        cmocka_unit_test(post_fit_cleans_hashtags),
        cmocka_unit_test(post_fit_shortens_excerpt),
        cmocka_unit_test(post_fit_rejects_long_title),
        cmocka_unit_test(post_fit_rejects_empty_body),
    };

    return cmocka_run_group_tests_name("blog limits", tests, NULL, NULL);
}
