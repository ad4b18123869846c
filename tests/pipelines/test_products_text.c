/* Product text: Wix lengths, word-safe shortening and the HTML subset. */
#include "pipelines/products_text.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void assert_fit(const char *text, size_t max, const char *expected,
                       int expected_shortened)
{
    struct error err;
    int shortened = -1;
    char *out = products_text_fit(text, max, &shortened, &err);

    assert_non_null(out);
    assert_string_equal(out, expected);
    assert_int_equal(shortened, expected_shortened);
    free(out);
}

static void assert_clean(const char *html, size_t max, const char *expected,
                         int expected_shortened)
{
    struct error err;
    int shortened = -1;
    char *out = products_html_clean(html, max, &shortened, &err);

    if (!out)
        fail_msg("products_html_clean failed: %s", err.message);
    assert_string_equal(out, expected);
    assert_int_equal(shortened, expected_shortened);
    free(out);
}

static void length_counts_utf16_units(void **state)
{
    (void)state;
    assert_int_equal(products_text_length(""), 0);
    assert_int_equal(products_text_length("abc"), 3);
    assert_int_equal(products_text_length("caf\xc3\xa9"), 4);
    assert_int_equal(products_text_length("\xe6\x97\xa5\xe6\x9c\xac"), 2);
    /* U+1F600 is one character but two UTF-16 units. */
    assert_int_equal(products_text_length("\xf0\x9f\x98\x80!"), 3);
    /* An invalid byte counts one. */
    assert_int_equal(products_text_length("a\xff"), 2);
}

static void fit_collapses_whitespace(void **state)
{
    (void)state;
    assert_fit("  Linen \n\t shirt  ", 80, "Linen shirt", 0);
    assert_fit("exactly ten", 11, "exactly ten", 0);
}

static void fit_cuts_at_word_breaks(void **state)
{
    (void)state;
    assert_fit("Hello wonderful world", 12, "Hello", 1);
    assert_fit("Hello wonderful world", 15, "Hello wonderful", 1);
    assert_fit("Hello wonderful world", 16, "Hello wonderful", 1);
    /* Punctuation left at the end of a cut goes too. */
    assert_fit("Salt & Pepper Grinder", 8, "Salt", 1);
    assert_fit("Warm, soft and light", 10, "Warm, soft", 1);
    assert_fit("Warm, soft and light", 6, "Warm", 1);
}

static void fit_counts_emoji_as_two(void **state)
{
    (void)state;
    assert_fit("\xf0\x9f\x98\x80\xf0\x9f\x98\x80 gift box", 5,
               "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 1);
    assert_fit("\xf0\x9f\x98\x80\xf0\x9f\x98\x80 gift box", 4,
               "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 1);
}

static void fit_breaks_between_cjk(void **state)
{
    /* 日本の美しい茶碗 (8 characters), cut to 5. */
    (void)state;
    assert_fit(
        "\xe6\x97\xa5\xe6\x9c\xac\xe3\x81\xae\xe7\xbe\x8e\xe3\x81\x97"
        "\xe3\x81\x84\xe8\x8c\xb6\xe7\xa2\x97",
        5, "\xe6\x97\xa5\xe6\x9c\xac\xe3\x81\xae\xe7\xbe\x8e\xe3\x81\x97", 1);
}

static void fit_rejects_empty_and_unbreakable(void **state)
{
    struct error err;

    (void)state;
    assert_null(products_text_fit(" \n ", 80, NULL, &err));
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_null(products_text_fit("Supercalifragilistic", 5, NULL, &err));
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_non_null(strstr(err.message, "no word break"));
}

static void clean_keeps_the_subset(void **state)
{
    (void)state;
    assert_clean("<h2>Title</h2><p>Some <em>nice</em> &amp; <b>bold</b> "
                 "<u>text</u></p><script>alert(1)</script><!-- note -->",
                 8000,
                 "<p><strong>Title</strong></p><p>Some nice &amp; "
                 "<strong>bold</strong> <u>text</u></p>",
                 0);
    assert_clean("Just text &lt;3", 8000, "<p>Just text &lt;3</p>", 0);
    assert_clean("<div><p>One</p>two</div><p>three<br>four</p>", 8000,
                 "<p>One</p><p>two</p><p>three</p><p>four</p>", 0);
    assert_clean("<span style=\"color:red\">caf\xc3\xa9&nbsp;au lait</span>",
                 8000,
                 "<p>caf\xc3\xa9\xc2\xa0"
                 "au lait</p>",
                 0);
}

static void clean_flattens_nested_lists(void **state)
{
    (void)state;
    assert_clean("<ul><li>One</li><li>Two<ul><li>Nested</li></ul>more"
                 "</li></ul><ol><li><p>First</p><p>step</p></li></ol>",
                 8000,
                 "<ul><li>One</li><li>Two</li><li>Nested</li><li>more</li>"
                 "</ul><ol><li>First step</li></ol>",
                 0);
}

static void clean_keeps_safe_links_only(void **state)
{
    (void)state;
    assert_clean("<p><a href=\"javascript:alert(1)\">x</a> <a "
                 "href=\"https://e.com/?a=1&amp;b=2\" target=\"_blank\">y"
                 "</a> <a href=\"mailto:a@b.c\">z</a></p>",
                 8000,
                 "<p>x <a href=\"https://e.com/?a=1&amp;b=2\" "
                 "target=\"_blank\">y</a> <a href=\"mailto:a@b.c\">z</a></p>",
                 0);
}

static void clean_drops_whole_blocks_first(void **state)
{
    const char *html = "<p>First paragraph.</p><p>Second paragraph.</p>"
                       "<p>Third paragraph.</p>";

    (void)state;
    /* The paragraphs are 23, 24 and 23 units with their tags. */
    assert_clean(html, 70,
                 "<p>First paragraph.</p><p>Second paragraph.</p>"
                 "<p>Third paragraph.</p>",
                 0);
    assert_clean(html, 69, "<p>First paragraph.</p><p>Second paragraph.</p>",
                 1);
    assert_clean(html, 47, "<p>First paragraph.</p><p>Second paragraph.</p>",
                 1);
    assert_clean(html, 46, "<p>First paragraph.</p>", 1);
}

static void clean_keeps_leading_list_items(void **state)
{
    const char *html = "<p>Intro.</p><ul><li>Alpha</li><li>Beta</li>"
                       "<li>Gamma</li></ul>";

    (void)state;
    /* "<p>Intro.</p>" is 13; "<ul></ul>" 9; items 14, 13 and 14. */
    assert_clean(html, 49, "<p>Intro.</p><ul><li>Alpha</li><li>Beta</li></ul>",
                 1);
    assert_clean(html, 36, "<p>Intro.</p><ul><li>Alpha</li></ul>", 1);
    assert_clean(html, 35, "<p>Intro.</p>", 1);
}

static void clean_cuts_words_of_first_block(void **state)
{
    struct error err;

    (void)state;
    /* "<p>Soft <strong>organic</strong></p>" is 36 units. */
    assert_clean("<p>Soft <strong>organic cotton</strong> for every day</p>",
                 36, "<p>Soft <strong>organic</strong></p>", 1);
    assert_clean("<p>Soft <strong>organic cotton</strong> for every day</p>",
                 35, "<p>Soft</p>", 1);
    assert_null(products_html_clean("<p>Unbreakable</p>", 10, NULL, &err));
    assert_int_equal(err.kind, ERR_PERMANENT);
}

static void clean_rejects_empty(void **state)
{
    struct error err;

    (void)state;
    assert_null(products_html_clean("<p> </p><br>", 8000, NULL, &err));
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_null(products_html_clean("", 8000, NULL, &err));
}

static void canonical_ignores_serialisation(void **state)
{
    char *a = products_html_canonical("<p>A  <b>b</b>&#39;s</p>\n");
    char *b = products_html_canonical("<P>A <strong>b</strong>'s</P>");
    char *empty = products_html_canonical("<p></p>");

    (void)state;
    assert_string_equal(a, b);
    assert_string_equal(empty, "");
    free(a);
    free(b);
    free(empty);
}

static void text_lists_lines(void **state)
{
    char *text = products_html_text("<p>A &amp; B</p><ul><li>C</li></ul>");

    (void)state;
    assert_string_equal(text, "A & B\nC\n");
    free(text);
    text = products_html_text("<p><br></p>");
    assert_string_equal(text, "");
    free(text);
}

/* Every word of out's text must be a whole word of the source's text. */
static void assert_whole_words(const char *out_html, const char *source_text)
{
    char *text = products_html_text(out_html);
    char *save = NULL;

    for (char *word = strtok_r(text, " \n", &save); word;
         word = strtok_r(NULL, " \n", &save)) {
        char needle[256];

        snprintf(needle, sizeof(needle), " %s ", word);
        if (!strstr(source_text, needle))
            fail_msg("word \"%s\" was cut", word);
    }
    free(text);
}

static void clean_never_exceeds_max(void **state)
{
    char html[4096];
    char *source_text;
    size_t o = 0;

    (void)state;
    for (int i = 0; i < 12; i++)
        o += (size_t)snprintf(html + o, sizeof(html) - o,
                              i % 3 == 2 ? "<ul><li>item %d alpha</li><li>"
                                           "<b>bold %d</b> beta</li></ul>"
                                         : "<p>Words %d of <a href=\"https://"
                                           "x.io/%d\">the link</a> here</p>",
                              i, i);
    source_text = products_html_text(html);
    for (char *p = source_text; *p; p++)
        if (*p == '\n')
            *p = ' ';
    {
        /* Pad with spaces so every word is found as " word ". */
        size_t length = strlen(source_text);
        char *padded = malloc(length + 3);

        sprintf(padded, " %s ", source_text);
        free(source_text);
        source_text = padded;
    }
    for (size_t max = 20; max < 1200; max += 7) {
        struct error err;
        int shortened;
        char *out = products_html_clean(html, max, &shortened, &err);
        char *again;

        if (!out)
            continue;
        assert_true(products_text_length(out) <= max);
        again = products_html_canonical(out);
        assert_string_equal(again, out);
        assert_whole_words(out, source_text);
        free(again);
        free(out);
    }
    free(source_text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(length_counts_utf16_units),
        cmocka_unit_test(fit_collapses_whitespace),
        cmocka_unit_test(fit_cuts_at_word_breaks),
        cmocka_unit_test(fit_counts_emoji_as_two),
        cmocka_unit_test(fit_breaks_between_cjk),
        cmocka_unit_test(fit_rejects_empty_and_unbreakable),
        cmocka_unit_test(clean_keeps_the_subset),
        cmocka_unit_test(clean_flattens_nested_lists),
        cmocka_unit_test(clean_keeps_safe_links_only),
        cmocka_unit_test(clean_drops_whole_blocks_first),
        cmocka_unit_test(clean_keeps_leading_list_items),
        cmocka_unit_test(clean_cuts_words_of_first_block),
        cmocka_unit_test(clean_rejects_empty),
        cmocka_unit_test(canonical_ignores_serialisation),
        cmocka_unit_test(text_lists_lines),
        cmocka_unit_test(clean_never_exceeds_max),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
