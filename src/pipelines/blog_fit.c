/*
 * Limits on the written post: Wix's title and excerpt lengths, the SEO
 * lengths that search engines show, and hashtags Wix accepts. Summaries
 * (excerpt, SEO title, meta description) are shortened at a word boundary
 * when they run over. The title is not, because a title cut short can
 * change its meaning: an overlong title fails the step.
 */
#include "pipelines/blog_internal.h"

#include "pipelines/ricos.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A cut must keep at least this share of the limit, in percent. */
#define FIT_KEEP_PERCENT 60
#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, one character */

size_t blog_utf8_length(const char *text)
{
    size_t count = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        count += (*p & 0xc0) != 0x80;
    return count;
}

/* Byte offset just past the first chars code points of text. */
static size_t utf8_offset(const char *text, size_t chars)
{
    size_t i = 0;

    while (text[i] && chars > 0) {
        i++;
        while ((text[i] & 0xc0) == 0x80)
            i++;
        chars--;
    }
    return i;
}

static int is_trailing_punctuation(char c)
{
    return c == ' ' || c == ',' || c == ';' || c == ':' || c == '-' ||
           c == '(' || c == '/' || c == '&';
}

char *blog_fit_text(const char *text, size_t max, int ellipsis)
{
    size_t start = 0;
    size_t end = strlen(text);
    size_t budget = ellipsis && max > 1 ? max - 1 : max;
    size_t keep = (max * FIT_KEEP_PERCENT + 99) / 100;
    size_t cut;
    char *out;

    while (isspace((unsigned char)text[start]))
        start++;
    while (end > start && isspace((unsigned char)text[end - 1]))
        end--;
    out = strndup(text + start, end - start);
    if (!out || blog_utf8_length(out) <= max)
        return out;

    /* Cut at the last space within the budget, then drop what would
     * dangle at the end (a comma or a lone dash). */
    cut = utf8_offset(out, budget);
    if (out[cut] != ' ') {
        while (cut > 0 && out[cut - 1] != ' ')
            cut--;
    }
    while (cut > 0 && is_trailing_punctuation(out[cut - 1]))
        cut--;
    out[cut] = '\0';
    if (cut == 0 || blog_utf8_length(out) < keep) {
        free(out);
        return NULL;
    }
    if (ellipsis) {
        char *longer = realloc(out, cut + sizeof(ELLIPSIS));

        if (!longer) {
            free(out);
            return NULL;
        }
        memcpy(longer + cut, ELLIPSIS, sizeof(ELLIPSIS));
        out = longer;
    }
    return out;
}

enum fit_mode {
    FIT_NEVER_CUT,    /* over the limit fails */
    FIT_CUT,          /* cut at a word boundary */
    FIT_CUT_ELLIPSIS, /* cut at a word boundary and end with "…" */
};

/* Fits post[field] into max characters, or fails naming the field. */
static int fit_field(json_t *post, const char *field, size_t max,
                     enum fit_mode mode, struct error *err)
{
    const char *text = json_string_value(json_object_get(post, field));
    char *fitted;
    size_t length;

    if (!text)
        return error_set(err, ERR_PERMANENT, "the written post has no %s",
                         field);
    length = blog_utf8_length(text);
    if (mode == FIT_NEVER_CUT)
        fitted = blog_fit_text(text, (size_t)-1, 0);
    else
        fitted = blog_fit_text(text, max, mode == FIT_CUT_ELLIPSIS);
    if (!fitted || !fitted[0] || blog_utf8_length(fitted) > max) {
        free(fitted);
        error_set(err, ERR_PERMANENT,
                  "the written post's %s is %s%zu characters, over the "
                  "limit of %zu%s",
                  field, length ? "" : "empty: ", length, max,
                  mode != FIT_NEVER_CUT
                      ? " with no word boundary to shorten it at"
                      : "; ask for a new post");
        snprintf(err->code, sizeof(err->code), "post_%s", field);
        return -1;
    }
    json_object_set_new(post, field, json_string(fitted));
    free(fitted);
    return 0;
}

static int seen_before(const json_t *tags, const char *tag)
{
    size_t index;
    json_t *value;

    json_array_foreach(tags, index, value)
    {
        if (strcasecmp(json_string_value(value), tag) == 0)
            return 1;
    }
    return 0;
}

/* A hashtag without '#' and spaces, or NULL when nothing usable is left. */
static char *clean_hashtag(const char *raw)
{
    char *tag = strdup(raw);
    size_t used = 0;

    if (!tag)
        return NULL;
    for (const char *p = raw; *p; p++) {
        if (*p != '#' && !isspace((unsigned char)*p))
            tag[used++] = *p;
    }
    tag[used] = '\0';
    if (used == 0 || blog_utf8_length(tag) > BLOG_HASHTAG_MAX) {
        free(tag);
        return NULL;
    }
    return tag;
}

static int fit_hashtags(json_t *post, struct error *err)
{
    json_t *tags = json_array();
    json_t *value;
    size_t index;

    if (!tags)
        return error_set(err, ERR_PERMANENT, "out of memory");
    json_array_foreach(json_object_get(post, "hashtags"), index, value)
    {
        char *tag = json_is_string(value)
                        ? clean_hashtag(json_string_value(value))
                        : NULL;

        if (tag && json_array_size(tags) < BLOG_HASHTAGS_MAX &&
            !seen_before(tags, tag))
            json_array_append_new(tags, json_string(tag));
        free(tag);
    }
    json_object_set_new(post, "hashtags", tags);
    return 0;
}

int blog_post_fit(json_t *post, struct error *err)
{
    const char *body =
        json_string_value(json_object_get(post, "body_markdown"));
    const char *prompt =
        json_string_value(json_object_get(post, "image_prompt"));
    size_t i = 0;

    if (fit_field(post, "title", BLOG_TITLE_MAX, FIT_NEVER_CUT, err) != 0 ||
        fit_field(post, "excerpt", BLOG_EXCERPT_MAX, FIT_CUT_ELLIPSIS, err) !=
            0 ||
        fit_field(post, "seo_title", BLOG_SEO_TITLE_MAX, FIT_CUT, err) != 0 ||
        fit_field(post, "meta_description", BLOG_META_DESCRIPTION_MAX,
                  FIT_CUT_ELLIPSIS, err) != 0 ||
        fit_hashtags(post, err) != 0)
        return -1;

    while (body && isspace((unsigned char)body[i]))
        i++;
    if (!body || !body[i])
        return error_set(err, ERR_PERMANENT, "the written post has no body");
    /* Leave room in Wix's draft limit for the rest of the post. */
    if (strlen(body) > RICOS_DEFAULT_MAX_BYTES / 2)
        return error_set(err, ERR_PERMANENT,
                         "the written post's body is %zu bytes, over the "
                         "limit of %zu",
                         strlen(body), RICOS_DEFAULT_MAX_BYTES / 2);
    if (!prompt || !prompt[0])
        json_object_set(post, "image_prompt", json_object_get(post, "title"));
    return 0;
}
