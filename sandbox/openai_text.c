/*
 * Deterministic text for the OpenAI emulation. The words come from the
 * prompt (its most frequent content words), the sentence shapes from
 * small template tables for two registers: a blog article and product
 * copy. Fields are recognised by name ("body_markdown", "seo_title",
 * "hashtags", "image_prompt", ...) so each gets text of a fitting kind.
 */
#include "openai_text.h"

#include "core/buf.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VOCAB_MAX 48
#define WORD_MAX 48
#define TEXT_MAX (1024 * 1024)
#define SCHEMA_DEPTH_MAX 16

enum text_register { REGISTER_BLOG, REGISTER_PRODUCT };

/* The kind of text a string field contains, guessed from its name. */
enum field_kind {
    FIELD_SENTENCE,
    FIELD_TITLE,
    FIELD_PRODUCT_NAME,
    FIELD_SEO_TITLE,
    FIELD_META_DESCRIPTION,
    FIELD_EXCERPT,
    FIELD_MARKDOWN,
    FIELD_HTML,
    FIELD_DESCRIPTION,
    FIELD_HASHTAG,
    FIELD_KEYWORD,
    FIELD_IMAGE_PROMPT,
    FIELD_ALT_TEXT,
    FIELD_SLUG,
    FIELD_URL,
    FIELD_EMAIL,
};

struct generator {
    uint64_t state;
    enum text_register text_register;
    const json_t *root; /* the whole schema, for $ref */
    char words[VOCAB_MAX][WORD_MAX];
    size_t word_count;
    size_t frequent_count; /* words[] seen at least twice come first */
    int failed;            /* an append ran out of room */
};

/* Labels and markup that prompts carry around the real content. */
static const char *const label_words[] = {
    "amp",    "blank",   "blog",  "body", "class", "color",   "current",
    "div",    "excerpt", "href",  "idea", "ideas", "image",   "meta",
    "name",   "nbsp",    "new",   "post", "price", "product", "products",
    "quot",   "seo",     "site",  "span", "store", "strong",  "style",
    "target", "text",    "title",
};

/* Common English words and the words of instructions. */
static const char *const common_words[] = {
    "about",   "above",      "assistant", "business",  "copywriter", "expert",
    "helpful", "small",      "writer",    "after",     "again",      "against",
    "also",    "always",     "among",     "and",       "answer",     "any",
    "are",     "around",     "based",     "because",   "been",       "before",
    "being",   "below",      "between",   "both",      "but",        "can",
    "cannot",  "characters", "chars",     "could",     "describe",   "did",
    "does",    "doing",      "down",      "during",    "each",       "every",
    "few",     "field",      "fields",    "following", "for",        "format",
    "from",    "further",    "given",     "had",       "has",        "have",
    "having",  "her",        "here",      "him",       "his",        "how",
    "html",    "http",       "https",     "include",   "including",  "into",
    "its",     "itself",     "json",      "just",      "keep",       "less",
    "like",    "make",       "markdown",  "may",       "more",       "most",
    "must",    "not",        "now",       "off",       "once",       "one",
    "only",    "other",      "our",       "out",       "over",       "own",
    "please",  "provide",    "respond",   "response",  "return",     "same",
    "schema",  "she",        "should",    "some",      "string",     "such",
    "than",    "that",       "the",       "their",     "them",       "then",
    "there",   "these",      "they",      "this",      "those",      "through",
    "too",     "under",      "until",     "use",       "using",      "very",
    "was",     "were",       "what",      "when",      "where",      "which",
    "while",   "who",        "whom",      "why",       "will",       "with",
    "within",  "without",    "words",     "would",     "write",      "www",
    "you",     "your",       "yours",
};

static const char *const fallback_words[] = {
    "garden",  "coffee", "travel", "design", "kitchen",
    "comfort", "craft",  "season", "home",   "style",
};

static const char *const adjectives[] = {
    "timeless", "lightweight", "handcrafted",  "versatile", "everyday",
    "premium",  "thoughtful",  "eco-friendly", "classic",   "refined",
};

static const char *const blog_sentences[] = {
    "Getting %s right starts with understanding how it fits into your "
    "daily routine.",
    "Many readers ask us whether %s is worth the effort, and the short "
    "answer is yes.",
    "A little planning goes a long way when it comes to %s.",
    "Start small: pick one %s habit and build on it week by week.",
    "The best results come from pairing %s with a bit of patience.",
    "Here is what we have learned from years of working with %s.",
    "If you are new to %s, focus on quality over quantity.",
    "Seasonal changes make %s a great topic to revisit every few months.",
    "Small, steady improvements to %s add up faster than you might expect.",
    "Our team tested several approaches to %s so you don't have to.",
};

static const char *const product_sentences[] = {
    "Crafted from carefully selected materials, this piece brings %s to "
    "everyday life.",
    "Its clean design pairs easily with %s and the rest of your "
    "collection.",
    "Every detail is made to last, so your %s looks great season after "
    "season.",
    "Perfect for gifting or for treating yourself to a little %s.",
    "Lightweight, durable and easy to care for, it is a smart choice for "
    "%s.",
    "Designed with %s in mind, it balances comfort and style.",
    "Made in small batches, each item shows the care that goes into %s.",
    "It arrives ready to use, so you can enjoy your %s from day one.",
};

static const char *const title_patterns[] = {
    "How to Choose the Perfect %s",
    "The Complete Guide to %s",
    "Why %s Matters More Than You Think",
    "%s 101: Everything You Need to Know",
    "Our Favorite %s Tips for This Season",
    "7 Simple Ways to Get More from %s",
    "A Beginner's Guide to %s",
    "What We Learned About %s This Year",
};

static const char *const heading_patterns[] = {
    "Why %s Matters",       "Getting Started with %s",
    "Tips for Better %s",   "Common %s Mistakes to Avoid",
    "How We Choose Our %s", "Making %s Part of Your Routine",
};

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* splitmix64: small, fast and good enough to pick words. */
static uint64_t next_random(struct generator *g)
{
    uint64_t z = (g->state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t pick(struct generator *g, size_t count)
{
    return count ? (size_t)(next_random(g) % count) : 0;
}

static void append(struct generator *g, struct buf *out, const char *text)
{
    if (buf_append_str(out, text) != 0)
        g->failed = 1;
}

/*
 * A word or phrase of the prompt: three times in four one it repeats (the
 * topic), otherwise any of its content words.
 */
static const char *word(struct generator *g)
{
    size_t top = g->frequent_count;

    if (top < 4)
        top = 4;
    if (top > 10)
        top = 10;
    if (top > g->word_count)
        top = g->word_count;

    if (next_random(g) % 4 == 0)
        return g->words[pick(g, g->word_count)];
    return g->words[pick(g, top)];
}

static int is_stop_word(const char *text)
{
    for (size_t i = 0; i < COUNT_OF(label_words); i++)
        if (strcmp(label_words[i], text) == 0)
            return 1;
    for (size_t i = 0; i < COUNT_OF(common_words); i++)
        if (strcmp(common_words[i], text) == 0)
            return 1;
    return 0;
}

static int is_word_byte(unsigned char c)
{
    return isalnum(c) || c == '-' || c >= 0x80;
}

struct word_count {
    char text[WORD_MAX];
    int count;
    size_t first;
};

static int compare_counts(const void *a, const void *b)
{
    const struct word_count *x = a;
    const struct word_count *y = b;

    if (x->count != y->count)
        return y->count - x->count;
    return x->first < y->first ? -1 : 1;
}

/* Counts one candidate word into counts (at most max distinct words). */
static void count_word(struct word_count *counts, size_t *distinct, size_t max,
                       const char *text, size_t position)
{
    for (size_t i = 0; i < *distinct; i++) {
        if (strcmp(counts[i].text, text) == 0) {
            counts[i].count++;
            return;
        }
    }
    if (*distinct == max)
        return;
    snprintf(counts[*distinct].text, WORD_MAX, "%s", text);
    counts[*distinct].count = 1;
    counts[*distinct].first = position;
    (*distinct)++;
}

/*
 * Reads the next content word at *p into text (lower case) and moves *p
 * past it. Returns its start, or NULL at the end of the prompt. *skipped
 * is set when a stop word or punctuation came before it, so that the
 * caller knows whether it follows the previous word directly.
 */
static const char *next_word(const char **p, char text[WORD_MAX], int *skipped)
{
    *skipped = 0;
    while (**p) {
        size_t length = 0;
        int has_letter = 0;

        while (**p && !is_word_byte((unsigned char)**p)) {
            *skipped |= **p != ' ';
            (*p)++;
        }
        const char *start = *p;
        while (**p && is_word_byte((unsigned char)**p)) {
            if (length + 1 < WORD_MAX / 2)
                text[length++] = (char)tolower((unsigned char)**p);
            has_letter |= !isdigit((unsigned char)**p) && **p != '-';
            (*p)++;
        }
        text[length] = '\0';
        if (length >= 3 && (size_t)(*p - start) < WORD_MAX / 2 && has_letter &&
            text[0] != '-' && !is_stop_word(text))
            return start;
        if (length > 0)
            *skipped = 1;
    }
    return NULL;
}

/*
 * Fills g->words with the prompt's content words, most frequent first.
 * Two-word phrases that occur at least twice ("ceramic pots") rank above
 * single words, because they read better in titles.
 */
static void learn_words(struct generator *g, const char *prompt)
{
    enum { DISTINCT_MAX = 1024 };
    struct word_count *counts = calloc(DISTINCT_MAX, sizeof(*counts));
    size_t distinct = 0;
    const char *p = prompt ? prompt : "";
    char previous[WORD_MAX] = "";
    char text[WORD_MAX];
    const char *start;
    int skipped;

    while (counts && (start = next_word(&p, text, &skipped))) {
        char phrase[2 * WORD_MAX];

        count_word(counts, &distinct, DISTINCT_MAX, text,
                   (size_t)(start - prompt));
        snprintf(phrase, sizeof(phrase), "%s %s", previous, text);
        if (previous[0] && !skipped && strlen(phrase) < WORD_MAX)
            count_word(counts, &distinct, DISTINCT_MAX, phrase,
                       (size_t)(start - prompt));
        snprintf(previous, sizeof(previous), "%s", text);
    }

    for (size_t i = 0; i < distinct; i++) {
        if (!strchr(counts[i].text, ' '))
            continue;
        /* A phrase seen once is noise; one seen twice beats its words. */
        counts[i].count = counts[i].count >= 2 ? 2 * counts[i].count + 1 : 0;
    }
    if (counts)
        qsort(counts, distinct, sizeof(*counts), compare_counts);
    for (size_t i = 0; i < distinct && g->word_count < VOCAB_MAX; i++) {
        if (counts[i].count == 0)
            continue;
        if (counts[i].count >= 2)
            g->frequent_count++;
        memcpy(g->words[g->word_count++], counts[i].text, WORD_MAX);
    }
    for (size_t i = 0; g->word_count < 6 && i < COUNT_OF(fallback_words); i++)
        snprintf(g->words[g->word_count++], WORD_MAX, "%s", fallback_words[i]);
    free(counts);
}

/* Copies text with the first ASCII letter of each word in upper case. */
static void title_case(const char *text, char *out, size_t size)
{
    int at_start = 1;
    size_t i = 0;

    for (; text[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)text[i];

        out[i] = (char)(at_start && c < 0x80 ? toupper(c) : c);
        at_start = c == ' ' || c == '-';
    }
    out[i] = '\0';
}

/* Appends a template with each %s replaced by a prompt word. */
static void fill_template(struct generator *g, struct buf *out,
                          const char *pattern, int capitalise)
{
    for (const char *p = pattern; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            char word_text[WORD_MAX];

            if (capitalise)
                title_case(word(g), word_text, sizeof(word_text));
            else
                snprintf(word_text, sizeof(word_text), "%s", word(g));
            append(g, out, word_text);
            p++;
            continue;
        }
        if (buf_append(out, p, 1) != 0)
            g->failed = 1;
    }
}

static void sentence(struct generator *g, struct buf *out)
{
    if (g->text_register == REGISTER_PRODUCT)
        fill_template(
            g, out, product_sentences[pick(g, COUNT_OF(product_sentences))], 0);
    else
        fill_template(g, out, blog_sentences[pick(g, COUNT_OF(blog_sentences))],
                      0);
}

static void sentences(struct generator *g, struct buf *out, int count)
{
    for (int i = 0; i < count; i++) {
        if (i > 0)
            append(g, out, " ");
        sentence(g, out);
    }
}

static void title(struct generator *g, struct buf *out)
{
    fill_template(g, out, title_patterns[pick(g, COUNT_OF(title_patterns))], 1);
}

static void product_name(struct generator *g, struct buf *out)
{
    char first[WORD_MAX];
    char second[WORD_MAX];
    char adjective[WORD_MAX];

    /* The prompt's top phrase, or its top two words, name the product. */
    title_case(g->words[0], first, sizeof(first));
    title_case(strchr(g->words[0], ' ') ? "" : g->words[1], second,
               sizeof(second));
    title_case(adjectives[pick(g, COUNT_OF(adjectives))], adjective,
               sizeof(adjective));
    if (buf_printf(out, "%s %s%s%s", adjective, first, second[0] ? " " : "",
                   second) != 0)
        g->failed = 1;
}

static void slug(struct generator *g, struct buf *out)
{
    struct buf text;

    buf_init(&text, 4096);
    title(g, &text);
    for (size_t i = 0, dash = 1; i < text.len; i++) {
        unsigned char c = (unsigned char)text.data[i];

        if (isalnum(c)) {
            char lower = (char)tolower(c);
            if (buf_append(out, &lower, 1) != 0)
                g->failed = 1;
            dash = 0;
        } else if (!dash && out->len < 60) {
            append(g, out, "-");
            dash = 1;
        }
    }
    while (out->len > 0 && out->data[out->len - 1] == '-')
        out->data[--out->len] = '\0';
    buf_free(&text);
}

static void hashtag(struct generator *g, struct buf *out)
{
    char text[WORD_MAX];
    char tag[WORD_MAX];
    size_t length = 0;

    title_case(word(g), text, sizeof(text));
    for (size_t i = 0; text[i]; i++)
        if (text[i] != '-' && text[i] != ' ')
            tag[length++] = text[i];
    tag[length] = '\0';
    append(g, out, "#");
    append(g, out, tag);
}

static void image_prompt(struct generator *g, struct buf *out)
{
    static const char *const styles[] = {
        "soft natural light, shallow depth of field",
        "bright studio lighting on a clean background",
        "warm golden-hour light, editorial style",
        "flat lay from above, muted pastel palette",
    };

    append(g, out, "A photorealistic image of ");
    append(g, out, word(g));
    append(g, out, " with ");
    append(g, out, word(g));
    append(g, out, ", ");
    append(g, out, styles[pick(g, COUNT_OF(styles))]);
    append(g, out, ", high detail, no text");
}

/* A blog paragraph in which one word is bold. */
static void markdown_paragraph(struct generator *g, struct buf *out)
{
    int count = 2 + (int)pick(g, 3);

    for (int i = 0; i < count; i++) {
        if (i > 0)
            append(g, out, " ");
        if (i == 1) {
            append(g, out, "The key is **");
            append(g, out, word(g));
            append(g, out, "**: ");
        }
        sentence(g, out);
    }
    append(g, out, "\n\n");
}

static void markdown_list(struct generator *g, struct buf *out, int numbered)
{
    int count = 3 + (int)pick(g, 2);

    for (int i = 0; i < count; i++) {
        char label[WORD_MAX];

        title_case(word(g), label, sizeof(label));
        if (numbered && buf_printf(out, "%d. ", i + 1) != 0)
            g->failed = 1;
        append(g, out, numbered ? "**" : "- **");
        append(g, out, label);
        append(g, out, ":** ");
        sentence(g, out);
        append(g, out, "\n");
    }
    append(g, out, "\n");
}

/* A Markdown article: intro, headed sections with lists, bold and a link. */
static void markdown_article(struct generator *g, struct buf *out)
{
    int sections = 3 + (int)pick(g, 2);

    markdown_paragraph(g, out);
    for (int i = 0; i < sections; i++) {
        append(g, out, "## ");
        fill_template(g, out,
                      heading_patterns[pick(g, COUNT_OF(heading_patterns))], 1);
        append(g, out, "\n\n");
        markdown_paragraph(g, out);
        if (i == 0 || i == 2)
            markdown_list(g, out, i == 2);
        if (i == 1) {
            const char *topic = word(g);
            append(g, out, "For more ideas, read [our guide to ");
            append(g, out, topic);
            append(g, out, "](https://www.example.com/blog/");
            append(g, out, topic);
            append(g, out, "-guide).\n\n");
        }
    }
    append(g, out, "## Final Thoughts\n\n");
    sentences(g, out, 2);
    append(g, out, "\n");
}

static void html_description(struct generator *g, struct buf *out)
{
    append(g, out, "<p>");
    sentences(g, out, 2);
    append(g, out, "</p><ul>");
    for (int i = 0; i < 3; i++) {
        char label[WORD_MAX];

        title_case(word(g), label, sizeof(label));
        append(g, out, "<li><strong>");
        append(g, out, label);
        append(g, out, ":</strong> ");
        sentence(g, out);
        append(g, out, "</li>");
    }
    append(g, out, "</ul><p>");
    sentence(g, out);
    append(g, out, "</p>");
}

/* Lower-case name contains needle. */
static int name_has(const char *name, const char *needle)
{
    return strstr(name, needle) != NULL;
}

static enum field_kind classify(struct generator *g, const char *field_name)
{
    char name[64];
    size_t i = 0;

    for (; field_name && field_name[i] && i + 1 < sizeof(name); i++)
        name[i] = (char)tolower((unsigned char)field_name[i]);
    name[i] = '\0';

    if (name_has(name, "hashtag"))
        return FIELD_HASHTAG;
    if (name_has(name, "prompt"))
        return FIELD_IMAGE_PROMPT;
    if (name_has(name, "html"))
        return FIELD_HTML;
    if (name_has(name, "markdown") || strcmp(name, "body") == 0 ||
        strcmp(name, "content") == 0 || strcmp(name, "article") == 0)
        return FIELD_MARKDOWN;
    if (name_has(name, "meta_description") ||
        name_has(name, "metadescription") || name_has(name, "seo_description"))
        return FIELD_META_DESCRIPTION;
    if (name_has(name, "seo_title") || name_has(name, "meta_title") ||
        name_has(name, "seotitle"))
        return FIELD_SEO_TITLE;
    if (name_has(name, "excerpt") || name_has(name, "summary") ||
        name_has(name, "teaser"))
        return FIELD_EXCERPT;
    if (name_has(name, "slug"))
        return FIELD_SLUG;
    if (strcmp(name, "alt") == 0 || name_has(name, "alt_text") ||
        name_has(name, "alttext"))
        return FIELD_ALT_TEXT;
    if (name_has(name, "keyword") || name_has(name, "tag"))
        return FIELD_KEYWORD;
    if (name_has(name, "email"))
        return FIELD_EMAIL;
    if (name_has(name, "url") || name_has(name, "link") ||
        name_has(name, "href"))
        return FIELD_URL;
    if (name_has(name, "title") || name_has(name, "headline") ||
        name_has(name, "heading") || name_has(name, "idea") ||
        name_has(name, "topic"))
        return FIELD_TITLE;
    if (name_has(name, "name"))
        return g->text_register == REGISTER_PRODUCT ? FIELD_PRODUCT_NAME
                                                    : FIELD_TITLE;
    if (name_has(name, "description"))
        return FIELD_DESCRIPTION;
    return FIELD_SENTENCE;
}

static void write_field(struct generator *g, enum field_kind kind,
                        struct buf *out)
{
    switch (kind) {
    case FIELD_TITLE:
        title(g, out);
        break;
    case FIELD_PRODUCT_NAME:
        product_name(g, out);
        break;
    case FIELD_SEO_TITLE:
        if (g->text_register == REGISTER_PRODUCT)
            product_name(g, out);
        else
            title(g, out);
        break;
    case FIELD_META_DESCRIPTION:
    case FIELD_ALT_TEXT:
        sentence(g, out);
        break;
    case FIELD_EXCERPT:
        sentences(g, out, 2);
        break;
    case FIELD_MARKDOWN:
        markdown_article(g, out);
        break;
    case FIELD_HTML:
        html_description(g, out);
        break;
    case FIELD_DESCRIPTION:
        sentences(g, out, g->text_register == REGISTER_PRODUCT ? 4 : 2);
        break;
    case FIELD_HASHTAG:
        hashtag(g, out);
        break;
    case FIELD_KEYWORD:
        append(g, out, word(g));
        break;
    case FIELD_IMAGE_PROMPT:
        image_prompt(g, out);
        break;
    case FIELD_SLUG:
        slug(g, out);
        break;
    case FIELD_URL:
        append(g, out, "https://www.example.com/");
        slug(g, out);
        break;
    case FIELD_EMAIL:
        append(g, out, "hello@example.com");
        break;
    case FIELD_SENTENCE:
        sentence(g, out);
        break;
    }
}

/* Default character limits where a field has a known home at Wix or SEO. */
static int64_t default_max_length(enum field_kind kind)
{
    switch (kind) {
    case FIELD_SEO_TITLE:
        return 60;
    case FIELD_META_DESCRIPTION:
        return 155;
    case FIELD_PRODUCT_NAME:
        return 80;
    case FIELD_EXCERPT:
        return 140;
    default:
        return -1;
    }
}

static size_t utf8_length(const char *text)
{
    size_t count = 0;

    for (; *text; text++)
        count += ((unsigned char)*text & 0xc0) != 0x80;
    return count;
}

/*
 * Cuts text in place to at most max characters, at a word boundary when
 * one lies in the last third, and drops a trailing space or comma.
 */
static void utf8_cut(char *text, size_t max)
{
    size_t chars = 0;
    size_t end = 0;
    size_t last_space = 0;

    for (size_t i = 0; text[i]; i++) {
        if (((unsigned char)text[i] & 0xc0) == 0x80)
            continue;
        if (chars == max) {
            end = i;
            break;
        }
        if (text[i] == ' ')
            last_space = i;
        chars++;
        end = i + 1;
        while (((unsigned char)text[end] & 0xc0) == 0x80)
            end++;
    }
    if (chars < max || !text[end])
        return;
    if (last_space > 0 && last_space * 3 >= end * 2)
        end = last_space;
    while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == ','))
        end--;
    text[end] = '\0';
}

static json_t *make_string(struct generator *g, const json_t *schema,
                           const char *field_name)
{
    enum field_kind kind = classify(g, field_name);
    int64_t max_length = default_max_length(kind);
    int64_t min_length = 0;
    const char *format = json_string_value(json_object_get(schema, "format"));
    struct buf text;
    json_t *value;

    if (json_is_integer(json_object_get(schema, "maxLength")))
        max_length = json_integer_value(json_object_get(schema, "maxLength"));
    if (json_is_integer(json_object_get(schema, "minLength")))
        min_length = json_integer_value(json_object_get(schema, "minLength"));

    buf_init(&text, TEXT_MAX);
    if (format && strcmp(format, "date-time") == 0)
        append(g, &text, "2025-03-14T09:30:00Z");
    else if (format && strcmp(format, "date") == 0)
        append(g, &text, "2025-03-14");
    else if (format && strcmp(format, "email") == 0)
        append(g, &text, "hello@example.com");
    else if (format &&
             (strcmp(format, "uri") == 0 || strcmp(format, "url") == 0))
        write_field(g, FIELD_URL, &text);
    else
        write_field(g, kind, &text);

    /* NOTE: "pattern" is not honoured; strict mode rarely uses it. */
    while (!g->failed &&
           (int64_t)utf8_length(text.data ? text.data : "") < min_length) {
        append(g, &text, " ");
        sentence(g, &text);
    }
    if (max_length >= 0 && text.data)
        utf8_cut(text.data, (size_t)max_length);
    value = json_string(text.data ? text.data : "");
    buf_free(&text);
    return value;
}

static json_t *make_number(struct generator *g, const json_t *schema,
                           int integer)
{
    double low = integer ? 1 : 0;
    double high = integer ? 10 : 1;
    const json_t *minimum = json_object_get(schema, "minimum");
    const json_t *maximum = json_object_get(schema, "maximum");
    double value;

    if (json_is_number(minimum))
        low = json_number_value(minimum);
    if (json_is_number(maximum))
        high = json_number_value(maximum);
    else if (json_is_number(minimum))
        high = low + 10;
    if (json_is_number(json_object_get(schema, "exclusiveMinimum")))
        low = json_number_value(json_object_get(schema, "exclusiveMinimum")) +
              (integer ? 1 : 0.01);
    if (high < low)
        high = low;

    value = low + (high - low) * (double)(next_random(g) % 1000) / 1000.0;
    if (integer)
        return json_integer((json_int_t)ceil(value));
    return json_real(round(value * 100) / 100);
}

static json_t *make_value(struct generator *g, const json_t *schema,
                          const char *field_name, int depth, struct error *err);

static json_t *make_object(struct generator *g, const json_t *schema, int depth,
                           struct error *err)
{
    json_t *object = json_object();
    const json_t *properties = json_object_get(schema, "properties");
    const char *key;
    json_t *property;

    json_object_foreach((json_t *)properties, key, property)
    {
        json_t *value = make_value(g, property, key, depth + 1, err);

        if (!value) {
            json_decref(object);
            return NULL;
        }
        json_object_set_new(object, key, value);
    }
    return object;
}

static int array_has(const json_t *array, const json_t *value)
{
    size_t index;
    const json_t *item;

    if (!json_is_string(value))
        return 0;
    json_array_foreach(array, index, item)
    {
        if (json_equal(item, value))
            return 1;
    }
    return 0;
}

static json_t *make_array(struct generator *g, const json_t *schema,
                          const char *field_name, int depth, struct error *err)
{
    const json_t *items = json_object_get(schema, "items");
    int64_t min_items = 0;
    int64_t max_items = -1;
    int64_t count = 3 + (int64_t)pick(g, 3);
    json_t *array = json_array();

    if (json_is_integer(json_object_get(schema, "minItems")))
        min_items = json_integer_value(json_object_get(schema, "minItems"));
    if (json_is_integer(json_object_get(schema, "maxItems")))
        max_items = json_integer_value(json_object_get(schema, "maxItems"));
    if (count < min_items)
        count = min_items;
    if (max_items >= 0 && count > max_items)
        count = max_items;

    /* Past the depth limit a recursive schema gets its smallest array. */
    if (depth >= SCHEMA_DEPTH_MAX)
        count = min_items;
    for (int64_t i = 0; i < count; i++) {
        json_t *item = make_value(g, items, field_name, depth + 1, err);

        /* Lists of tags or titles read badly with repeats: try again. */
        for (int retry = 0; item && retry < 4 && array_has(array, item);
             retry++) {
            json_decref(item);
            item = make_value(g, items, field_name, depth + 1, err);
        }
        if (!item) {
            json_decref(array);
            return NULL;
        }
        json_array_append_new(array, item);
    }
    return array;
}

/* Resolves "#/$defs/name" (or any "#/a/b" pointer) against the root. */
static const json_t *resolve_ref(struct generator *g, const char *ref,
                                 struct error *err)
{
    const json_t *node = g->root;
    char part[128];

    if (strncmp(ref, "#", 1) != 0) {
        error_set(err, ERR_INVALID, "$ref \"%s\" is not a local reference",
                  ref);
        return NULL;
    }
    for (const char *p = ref + 1; *p == '/';) {
        size_t length = strcspn(p + 1, "/");

        snprintf(part, sizeof(part), "%.*s", (int)length, p + 1);
        node = json_object_get(node, part);
        p += 1 + length;
    }
    if (!node)
        error_set(err, ERR_INVALID, "$ref \"%s\" points at nothing", ref);
    return node;
}

/* The first type in a type list that is not "null", or "null". */
static const char *schema_type(const json_t *schema)
{
    const json_t *type = json_object_get(schema, "type");
    size_t index;
    const json_t *item;

    if (json_is_string(type))
        return json_string_value(type);
    json_array_foreach(type, index, item)
    {
        if (json_is_string(item) &&
            strcmp(json_string_value(item), "null") != 0)
            return json_string_value(item);
    }
    if (json_is_array(type) && json_array_size(type) > 0)
        return "null";
    if (json_object_get(schema, "properties"))
        return "object";
    if (json_object_get(schema, "items"))
        return "array";
    return NULL;
}

/* The first anyOf branch that is not just {"type": "null"}. */
static const json_t *choose_branch(const json_t *branches)
{
    size_t index;
    const json_t *branch;

    json_array_foreach(branches, index, branch)
    {
        const char *type = json_string_value(json_object_get(branch, "type"));
        if (!type || strcmp(type, "null") != 0)
            return branch;
    }
    return json_array_get(branches, 0);
}

static json_t *make_value(struct generator *g, const json_t *schema,
                          const char *field_name, int depth, struct error *err)
{
    const json_t *choices;
    const char *type;

    if (!json_is_object(schema)) {
        error_set(err, ERR_INVALID, "schema for \"%s\" is not an object",
                  field_name ? field_name : "(root)");
        return NULL;
    }
    if (depth > 2 * SCHEMA_DEPTH_MAX) {
        error_set(err, ERR_INVALID, "schema nests deeper than %d levels",
                  2 * SCHEMA_DEPTH_MAX);
        return NULL;
    }
    if (json_is_string(json_object_get(schema, "$ref"))) {
        schema = resolve_ref(
            g, json_string_value(json_object_get(schema, "$ref")), err);
        return schema ? make_value(g, schema, field_name, depth + 1, err)
                      : NULL;
    }
    if (json_object_get(schema, "const"))
        return json_deep_copy(json_object_get(schema, "const"));
    choices = json_object_get(schema, "enum");
    if (json_is_array(choices) && json_array_size(choices) > 0)
        return json_deep_copy(
            json_array_get(choices, pick(g, json_array_size(choices))));
    choices = json_object_get(schema, "anyOf");
    if (!choices)
        choices = json_object_get(schema, "oneOf");
    if (json_is_array(choices) && json_array_size(choices) > 0)
        return make_value(g, choose_branch(choices), field_name, depth + 1,
                          err);

    type = schema_type(schema);
    if (!type || strcmp(type, "string") == 0)
        return make_string(g, schema, field_name);
    if (strcmp(type, "object") == 0)
        return make_object(g, schema, depth, err);
    if (strcmp(type, "array") == 0)
        return make_array(g, schema, field_name, depth, err);
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
        return make_number(g, schema, type[0] == 'i');
    if (strcmp(type, "boolean") == 0)
        return json_boolean(next_random(g) % 2);
    if (strcmp(type, "null") == 0)
        return json_null();
    error_set(err, ERR_INVALID, "schema type \"%s\" of \"%s\" is unknown", type,
              field_name ? field_name : "(root)");
    return NULL;
}

static void start_generator(struct generator *g, const char *prompt,
                            const char *schema_name, uint64_t seed)
{
    const char *lower_name = schema_name ? schema_name : "";
    int product_hits = 0;
    int blog_hits = 0;

    memset(g, 0, sizeof(*g));
    g->state = seed;
    learn_words(g, prompt);

    for (const char *p = prompt ? prompt : ""; (p = strstr(p, "product")); p++)
        product_hits++;
    for (const char *p = prompt ? prompt : ""; (p = strstr(p, "blog")); p++)
        blog_hits++;
    if (strstr(lower_name, "product") || strstr(lower_name, "seo"))
        g->text_register = REGISTER_PRODUCT;
    else if (strstr(lower_name, "blog") || strstr(lower_name, "post"))
        g->text_register = REGISTER_BLOG;
    else
        g->text_register =
            product_hits > blog_hits ? REGISTER_PRODUCT : REGISTER_BLOG;
}

json_t *openai_text_fill_schema(const json_t *schema, const char *schema_name,
                                const char *prompt, uint64_t seed,
                                struct error *err)
{
    struct generator g;
    json_t *value;

    start_generator(&g, prompt, schema_name, seed);
    g.root = schema;
    value = make_value(&g, schema, NULL, 0, err);
    if (value && g.failed) {
        json_decref(value);
        error_set(err, ERR_PERMANENT, "generated text passed %d bytes",
                  TEXT_MAX);
        return NULL;
    }
    return value;
}

char *openai_text_write(const char *prompt, uint64_t seed)
{
    struct generator g;
    struct buf out;

    start_generator(&g, prompt, NULL, seed);
    buf_init(&out, TEXT_MAX);
    markdown_article(&g, &out);
    if (g.failed) {
        buf_free(&out);
        return NULL;
    }
    return buf_detach(&out, NULL);
}

int64_t openai_text_tokens(const char *text)
{
    size_t length = text ? strlen(text) : 0;

    return length ? (int64_t)((length + 3) / 4) : 0;
}
