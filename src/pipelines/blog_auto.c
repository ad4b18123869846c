/*
 * Generations that run without the owner, as campaigns start them: the
 * options a generation keeps in its input, the choice of the best idea in
 * place of the owner's, and the idea's title kept for the post.
 */
#include "pipelines/blog_internal.h"

#include "core/json.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WORDS_MAX 64
#define WORD_MAX 48
/* Words shorter than this ("a", "of", "to") carry no meaning of a topic. */
#define WORD_MIN 3

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static int invalid(struct error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int invalid(struct error *err, const char *code, const char *fmt, ...)
{
    char message[ERROR_MESSAGE_MAX];
    va_list args;

    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    error_set(err, ERR_INVALID, "%s", message);
    snprintf(err->code, sizeof(err->code), "%s", code);
    return -1;
}

/*
 * Checks that value is a string of 1 to max characters with no control
 * characters, after trimming spaces; *out is the trimmed copy (new).
 */
static int check_string(const json_t *value, const char *field, size_t max,
                        json_t **out, struct error *err)
{
    const char *text = json_string_value(value);
    size_t start = 0;
    size_t end;

    *out = NULL;
    if (!text)
        return invalid(err, "idea", "%s: expected a string", field);
    end = strlen(text);
    while (text[start] == ' ')
        start++;
    while (end > start && text[end - 1] == ' ')
        end--;
    for (size_t i = start; i < end; i++) {
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return invalid(err, "idea",
                           "%s: must not contain control characters", field);
    }
    *out = json_stringn(text + start, end - start);
    if (!*out)
        return error_set(err, ERR_PERMANENT, "out of memory");
    if (end == start || blog_utf8_length(json_string_value(*out)) > max) {
        json_decref(*out);
        *out = NULL;
        return invalid(err, "idea", "%s: must be 1 to %zu characters long",
                       field, max);
    }
    return 0;
}

static int check_idea_keywords(const json_t *value, json_t *keywords,
                               struct error *err)
{
    size_t index;
    json_t *item;

    if (!value || json_is_null(value))
        return 0;
    if (!json_is_array(value) ||
        json_array_size(value) > BLOG_IDEA_KEYWORDS_MAX)
        return invalid(err, "idea",
                       "idea.keywords: expected an array of at most %d "
                       "strings",
                       BLOG_IDEA_KEYWORDS_MAX);
    json_array_foreach(value, index, item)
    {
        json_t *keyword;

        if (check_string(item, "idea.keywords[]", BLOG_KEYWORD_MAX, &keyword,
                         err) != 0)
            return -1;
        json_array_append_new(keywords, keyword);
    }
    return 0;
}

/* {title, angle, keywords} from idea, checked; NULL with err set. */
static json_t *normalize_idea(const json_t *idea, struct error *err)
{
    const json_t *angle = json_object_get(idea, "angle");
    json_t *title = NULL;
    json_t *angle_out = NULL;
    json_t *keywords = json_array();
    const char *key;
    json_t *value;

    if (!json_is_object(idea)) {
        json_decref(keywords);
        invalid(err, "idea",
                "idea: expected an object {title, angle?, "
                "keywords?}");
        return NULL;
    }
    json_object_foreach((json_t *)idea, key, value)
    {
        if (strcmp(key, "title") && strcmp(key, "angle") &&
            strcmp(key, "keywords")) {
            json_decref(keywords);
            invalid(err, "idea",
                    "idea: unknown field \"%.40s\": expected title, angle or "
                    "keywords",
                    key);
            return NULL;
        }
    }
    if (check_string(json_object_get(idea, "title"), "idea.title",
                     BLOG_TITLE_MAX, &title, err) != 0 ||
        (angle && !json_is_null(angle) &&
         check_string(angle, "idea.angle", BLOG_ANGLE_MAX, &angle_out, err) !=
             0) ||
        check_idea_keywords(json_object_get(idea, "keywords"), keywords, err) !=
            0) {
        json_decref(title);
        json_decref(angle_out);
        json_decref(keywords);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:o}", "title", title, "angle",
                     angle_out ? angle_out : json_string(""), "keywords",
                     keywords);
}

static int check_avoid(const json_t *avoid, struct error *err)
{
    size_t index;
    json_t *title;

    if (!json_is_array(avoid) || json_array_size(avoid) > BLOG_AVOID_MAX)
        return invalid(err, "avoid",
                       "avoid: expected an array of at most %d titles",
                       BLOG_AVOID_MAX);
    json_array_foreach(avoid, index, title)
    {
        if (!json_is_string(title) ||
            blog_utf8_length(json_string_value(title)) > BLOG_TOPIC_MAX)
            return invalid(err, "avoid",
                           "avoid[%zu]: expected a title of at most %d "
                           "characters",
                           index, BLOG_TOPIC_MAX);
    }
    return 0;
}

int blog_options_add(json_t *input, const struct blog_start_options *options,
                     struct error *err)
{
    json_t *stored;
    json_t *idea = NULL;

    if (!options->auto_select && !options->idea && !options->avoid &&
        !options->publish)
        return 0;
    if (options->idea) {
        idea = normalize_idea(options->idea, err);
        if (!idea)
            return -1;
    }
    if (options->avoid && check_avoid(options->avoid, err) != 0) {
        json_decref(idea);
        return -1;
    }
    stored = json_pack("{s:b, s:b}", "auto_select",
                       options->auto_select || options->idea, "publish",
                       options->publish != 0);
    if (!stored) {
        json_decref(idea);
        return error_set(err, ERR_PERMANENT, "out of memory");
    }
    if (idea)
        json_object_set_new(stored, "idea", idea);
    if (options->avoid)
        json_object_set_new(stored, "avoid", json_deep_copy(options->avoid));
    json_object_set_new(input, "options", stored);
    return 0;
}

const json_t *blog_options_idea(const json_t *input)
{
    const json_t *idea = json_at(input, "options.idea");

    return json_is_object(idea) ? idea : NULL;
}

const json_t *blog_options_avoid(const json_t *input)
{
    const json_t *avoid = json_at(input, "options.avoid");

    return json_is_array(avoid) ? avoid : NULL;
}

int blog_options_auto(const json_t *input)
{
    return json_is_true(json_at(input, "options.auto_select")) ||
           blog_options_idea(input) != NULL;
}

int blog_options_publish(const json_t *input)
{
    return json_is_true(json_at(input, "options.publish"));
}

/* ------------------------------------------------------------------ */
/* The best idea                                                       */
/* ------------------------------------------------------------------ */

struct words {
    size_t count;
    char items[WORDS_MAX][WORD_MAX];
};

/* Adds the lower-case words of text (letters, digits and any non-ASCII
 * byte, so that UTF-8 letters stay inside words) to words, once each. */
static void add_words(struct words *words, const char *text)
{
    while (text && *text) {
        char word[WORD_MAX];
        size_t length = 0;

        while (*text && !isalnum((unsigned char)*text) &&
               (unsigned char)*text < 0x80)
            text++;
        while (*text && (isalnum((unsigned char)*text) ||
                         (unsigned char)*text >= 0x80)) {
            if (length + 1 < sizeof(word))
                word[length++] = (char)tolower((unsigned char)*text);
            text++;
        }
        word[length] = '\0';
        if (length < WORD_MIN || words->count == WORDS_MAX)
            continue;
        for (size_t i = 0; i < words->count && length; i++) {
            if (strcmp(words->items[i], word) == 0)
                length = 0;
        }
        if (length)
            memcpy(words->items[words->count++], word, length + 1);
    }
}

static void add_array_words(struct words *words, const json_t *values)
{
    size_t index;
    json_t *value;

    json_array_foreach(values, index, value)
        add_words(words, json_string_value(value));
}

static int contains_word(const struct words *words, const char *word)
{
    for (size_t i = 0; i < words->count; i++) {
        if (strcmp(words->items[i], word) == 0)
            return 1;
    }
    return 0;
}

static int avoided(const json_t *input, const json_t *idea)
{
    const char *title = json_string_value(json_object_get(idea, "title"));
    size_t index;
    json_t *other;

    json_array_foreach(blog_options_avoid(input), index, other)
    {
        if (title && json_string_value(other) &&
            strcasecmp(title, json_string_value(other)) == 0)
            return 1;
    }
    return 0;
}

size_t blog_best_idea(const json_t *ideas, const json_t *input)
{
    struct words wishes = {0};
    size_t best = 0;
    long best_score = -1;
    size_t index;
    json_t *idea;

    add_words(&wishes, json_string_value(json_object_get(input, "topic")));
    add_array_words(&wishes, json_object_get(input, "keywords"));
    json_array_foreach(ideas, index, idea)
    {
        struct words offered = {0};
        long score = 0;

        add_words(&offered, json_string_value(json_object_get(idea, "title")));
        add_words(&offered, json_string_value(json_object_get(idea, "angle")));
        add_array_words(&offered, json_object_get(idea, "keywords"));
        for (size_t i = 0; i < wishes.count; i++)
            score += contains_word(&offered, wishes.items[i]);

        /* A repeated title only wins when every idea repeats one. */
        if (avoided(input, idea))
            score -= WORDS_MAX + 1;
        if (score > best_score) {
            best_score = score;
            best = index;
        }
    }
    return best;
}

int blog_auto_select(struct store_tx *tx, const struct blog_job *bj,
                     const json_t *ideas, struct error *err)
{
    json_t *selection;
    size_t index;
    int rc;

    if (json_array_size(ideas) == 0)
        return error_set(err, ERR_PERMANENT,
                         "generation %s has no ideas to choose from",
                         bj->gen.id);
    index = blog_best_idea(ideas, bj->input);
    selection = json_pack("{s:I, s:O, s:b}", "index", (json_int_t)index, "idea",
                          json_array_get(ideas, index), "automatic", 1);
    if (!selection)
        return error_set(err, ERR_PERMANENT, "out of memory");
    rc = blog_write_checkpoint(tx, bj->gen.id, "selection", selection, err);
    json_decref(selection);
    if (rc != 0 || blog_set_state(tx, bj->gen.id, BLOG_GENERATING_IDEAS,
                                  BLOG_WRITING, err) != 0)
        return -1;
    return blog_enqueue(tx, bj->gen.instance_id, bj->gen.id, BLOG_JOB_WRITE, 0,
                        err);
}

int blog_keep_idea_title(const struct blog_job *bj, json_t *post,
                         struct error *err)
{
    json_t *title = json_at(blog_checkpoint(bj, "selection"), "idea.title");

    if (!blog_options_auto(bj->input) || !json_string_length(title))
        return 0;
    if (json_object_set(post, "title", title) != 0)
        return error_set(err, ERR_PERMANENT, "out of memory");
    return 0;
}
