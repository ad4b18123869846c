/*
 * Deterministic text for the OpenAI emulation. openai_facts.c reads what
 * the prompt is about and openai_prose.c writes about it; this file walks
 * the JSON Schema and picks, from each string field's name ("title",
 * "body_markdown", "seo_title", "hashtags", "image_prompt", ...), which
 * kind of text goes in it and how long it may be.
 */
#include "openai_text.h"
#include "openai_text_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX (1024 * 1024)
#define SCHEMA_DEPTH_MAX 16

/* The kind of text a string field contains, guessed from its name. */
enum field_kind {
    FIELD_SENTENCE,
    FIELD_TITLE,
    FIELD_HEADING,
    FIELD_ANGLE,
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

static void slug(struct generator *g, struct buf *out)
{
    struct buf text;

    buf_init(&text, 4096);
    prose_title(g, &text);
    for (size_t i = 0, dash = 1; i < text.len; i++) {
        unsigned char c = (unsigned char)text.data[i];

        if (isalnum(c)) {
            char lower = (char)tolower(c);
            if (buf_append(out, &lower, 1) != 0)
                g->failed = 1;
            dash = 0;
        } else if (!dash && out->len < 60) {
            prose_append(g, out, "-");
            dash = 1;
        }
    }
    while (out->len > 0 && out->data[out->len - 1] == '-')
        out->data[--out->len] = '\0';
    buf_free(&text);
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
    if (name_has(name, "heading") || name_has(name, "subtitle"))
        return FIELD_HEADING;
    if (name_has(name, "title") || name_has(name, "headline") ||
        name_has(name, "idea") || name_has(name, "topic"))
        return FIELD_TITLE;
    if (name_has(name, "angle"))
        return FIELD_ANGLE;
    if (name_has(name, "name"))
        return g->text_register == REGISTER_PRODUCT ? FIELD_PRODUCT_NAME
                                                    : FIELD_TITLE;
    if (name_has(name, "description"))
        return FIELD_DESCRIPTION;
    return FIELD_SENTENCE;
}

/* Writes the text of a field of kind; max is its character limit, or 0. */
static void write_field(struct generator *g, enum field_kind kind, size_t max,
                        struct buf *out)
{
    int product = g->text_register == REGISTER_PRODUCT;

    switch (kind) {
    case FIELD_TITLE:
        if (product)
            prose_product_name(g, max, out);
        else
            prose_title(g, out);
        break;
    case FIELD_HEADING:
        prose_heading(g, out);
        break;
    case FIELD_ANGLE:
        prose_angle(g, out);
        break;
    case FIELD_PRODUCT_NAME:
        prose_product_name(g, max, out);
        break;
    case FIELD_SEO_TITLE:
        if (product)
            prose_product_seo_title(g, max ? max : TEXT_MAX, out);
        else
            prose_title(g, out);
        break;
    case FIELD_META_DESCRIPTION:
        if (product)
            prose_product_meta(g, max ? max : TEXT_MAX, out);
        else
            prose_meta_description(g, out);
        break;
    case FIELD_EXCERPT:
        prose_excerpt(g, out);
        break;
    case FIELD_MARKDOWN:
        prose_article(g, out);
        break;
    case FIELD_HTML:
        prose_product_html(g, max, out);
        break;
    case FIELD_DESCRIPTION:
        if (product)
            prose_product_text(g, out);
        else
            prose_angle(g, out);
        break;
    case FIELD_HASHTAG:
        prose_hashtag(g, g->list_index, out);
        break;
    case FIELD_KEYWORD:
        prose_keyword(g, g->list_index, out);
        break;
    case FIELD_IMAGE_PROMPT:
        prose_image_prompt(g, out);
        break;
    case FIELD_ALT_TEXT:
        prose_alt_text(g, out);
        break;
    case FIELD_SLUG:
        slug(g, out);
        break;
    case FIELD_URL:
        prose_append(g, out,
                     g->facts->site_url[0] ? g->facts->site_url
                                           : "https://www.example.com/");
        if (!g->facts->site_url[0])
            slug(g, out);
        break;
    case FIELD_EMAIL:
        prose_append(g, out, "hello@example.com");
        break;
    case FIELD_SENTENCE:
        prose_sentence(g, out);
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

/*
 * Cuts text in place to at most max characters: after a sentence when one
 * ends in the second half, else at a word boundary when one lies in the
 * last third, and drops a trailing space or comma.
 */
static void utf8_cut(char *text, size_t max)
{
    size_t chars = 0;
    size_t end = 0;
    size_t last_space = 0;
    size_t last_sentence = 0;

    for (size_t i = 0; text[i]; i++) {
        if (((unsigned char)text[i] & 0xc0) == 0x80)
            continue;
        if (chars == max) {
            end = i;
            break;
        }
        if (text[i] == ' ')
            last_space = i;
        if (text[i] == ' ' && i > 0 && strchr(".!?", text[i - 1]))
            last_sentence = i;
        chars++;
        end = i + 1;
        while (((unsigned char)text[end] & 0xc0) == 0x80)
            end++;
    }
    if (chars < max || !text[end])
        return;
    if (last_sentence > 0 && last_sentence * 2 >= end)
        end = last_sentence;
    else if (last_space > 0 && last_space * 3 >= end * 2)
        end = last_space;
    while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == ','))
        end--;
    text[end] = '\0';
}

/* The limit a field's description states: "..., at most 70 characters." */
static int64_t described_max_length(const json_t *schema)
{
    const char *description =
        json_string_value(json_object_get(schema, "description"));
    const char *at_most = description ? strstr(description, "at most ") : NULL;
    char *end;
    long value;

    if (!at_most)
        return -1;
    value = strtol(at_most + strlen("at most "), &end, 10);
    if (end == at_most + strlen("at most ") || value <= 0 ||
        strncmp(end, " char", 5) != 0)
        return -1;
    return value;
}

/* The length of the UTF-8 sequence at text, or 0 when it is invalid. */
static size_t utf8_sequence(const unsigned char *text)
{
    size_t length = text[0] < 0x80             ? 1
                    : (text[0] & 0xe0) == 0xc0 ? 2
                    : (text[0] & 0xf0) == 0xe0 ? 3
                    : (text[0] & 0xf8) == 0xf0 ? 4
                                               : 0;

    for (size_t i = 1; i < length; i++)
        if ((text[i] & 0xc0) != 0x80)
            return 0;
    return length;
}

/*
 * Drops in place the bytes that are not valid UTF-8: a phrase cut at a
 * fixed size can end inside a character, and jansson rejects such text.
 */
static void utf8_clean(char *text)
{
    const unsigned char *from = (const unsigned char *)text;
    char *to = text;

    while (*from) {
        size_t length = utf8_sequence(from);

        if (length == 0) {
            from++;
            continue;
        }
        memmove(to, from, length);
        to += length;
        from += length;
    }
    *to = '\0';
}

static json_t *make_string(struct generator *g, const json_t *schema,
                           const char *field_name, struct error *err)
{
    enum field_kind kind = classify(g, field_name);
    int64_t max_length = default_max_length(kind);
    int64_t min_length = 0;
    const char *format = json_string_value(json_object_get(schema, "format"));
    struct buf text;
    json_t *value;

    if (described_max_length(schema) > 0)
        max_length = described_max_length(schema);
    if (json_is_integer(json_object_get(schema, "maxLength")))
        max_length = json_integer_value(json_object_get(schema, "maxLength"));
    if (json_is_integer(json_object_get(schema, "minLength")))
        min_length = json_integer_value(json_object_get(schema, "minLength"));

    buf_init(&text, TEXT_MAX);
    if (format && strcmp(format, "date-time") == 0)
        prose_append(g, &text, "2025-03-14T09:30:00Z");
    else if (format && strcmp(format, "date") == 0)
        prose_append(g, &text, "2025-03-14");
    else if (format && strcmp(format, "email") == 0)
        prose_append(g, &text, "hello@example.com");
    else if (format &&
             (strcmp(format, "uri") == 0 || strcmp(format, "url") == 0))
        write_field(g, FIELD_URL, 0, &text);
    else
        write_field(g, kind, max_length > 0 ? (size_t)max_length : 0, &text);

    /* NOTE: "pattern" is not honoured; strict mode rarely uses it. */
    while (!g->failed && (int64_t)prose_utf8_length(
                             text.data ? text.data : "") < min_length) {
        prose_append(g, &text, " ");
        prose_sentence(g, &text);
    }
    if (text.data)
        utf8_clean(text.data);
    if (max_length >= 0 && text.data)
        utf8_cut(text.data, (size_t)max_length);
    value = json_string(text.data ? text.data : "");
    buf_free(&text);
    if (!value)
        error_set(err, ERR_PERMANENT, "out of memory writing \"%s\"",
                  field_name ? field_name : "(root)");
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

    value = low + (high - low) * (double)(prose_random(g) % 1000) / 1000.0;
    if (integer)
        return json_integer((json_int_t)ceil(value));
    return json_real(round(value * 100) / 100);
}

static json_t *make_value(struct generator *g, const json_t *schema,
                          const char *field_name, int depth, struct error *err);

/*
 * Points the generator at the subject of the index-th object of a list:
 * with an owner's topic every object is about the topic, with a related
 * subject of its own; else each takes the next unlike subject, starting
 * past as many as the prompt asks not to repeat.
 */
static void focus_item(struct generator *g, size_t index)
{
    const struct prompt_facts *facts = g->facts;
    size_t count = facts->subject_count;
    size_t offset = facts->avoid.count;

    const struct subject *next;

    if (count == 1) {
        prose_focus(g, 0);
        return;
    }
    /* A related subject of its own too, so the ideas differ in it: the
     * owner's keywords first when there is a topic. */
    if (facts->topic[0]) {
        prose_focus(g, 0);
        next = &facts->subjects[1 + (offset + index) % (count - 1)];
    } else {
        prose_focus(g, facts->order[(offset + index) % count]);
        next = &facts->subjects[facts->order[(offset + index + 1) % count]];
    }
    if (next != g->focus)
        g->second = next;
}

static json_t *make_object(struct generator *g, const json_t *schema, int depth,
                           struct error *err)
{
    json_t *object = json_object();
    const json_t *properties = json_object_get(schema, "properties");
    const struct subject *focus = g->focus;
    const struct subject *second = g->second;
    int item = g->array_item;
    const char *key;
    json_t *property;

    /* Each object of a list (an idea) is about a subject of its own. */
    g->array_item = 0;
    if (item) {
        focus_item(g, g->list_index);
        g->idea_template = -1;
    }
    g->item_depth += item;
    json_object_foreach((json_t *)properties, key, property)
    {
        json_t *value = make_value(g, property, key, depth + 1, err);

        if (!value) {
            json_decref(object);
            object = NULL;
            break;
        }
        json_object_set_new(object, key, value);
    }
    g->item_depth -= item;
    g->focus = focus;
    g->second = second;
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

/* The index-th item of an array: the index picks its keyword or, for an
 * object, its subject. */
static json_t *make_item(struct generator *g, const json_t *items,
                         const char *field_name, size_t index, int depth,
                         struct error *err)
{
    json_t *item;

    g->list_index = index;
    g->array_item = 1;
    item = make_value(g, items, field_name, depth + 1, err);
    g->array_item = 0;
    return item;
}

static json_t *make_array(struct generator *g, const json_t *schema,
                          const char *field_name, int depth, struct error *err)
{
    const json_t *items = json_object_get(schema, "items");
    int64_t min_items = 0;
    int64_t max_items = -1;
    int64_t count = 3 + (int64_t)prose_pick(g, 3);
    size_t list_index = g->list_index;
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
    for (int64_t i = 0; i < count && array; i++) {
        json_t *item = make_item(g, items, field_name, (size_t)i, depth, err);

        /* Lists of tags or titles read badly with repeats: try again. */
        for (int retry = 1; item && retry < 5 && array_has(array, item);
             retry++) {
            json_decref(item);
            item = make_item(g, items, field_name, (size_t)(i + retry), depth,
                             err);
        }
        if (!item) {
            json_decref(array);
            array = NULL;
            break;
        }
        /* Out of fresh words: a shorter list beats one with repeats. */
        if (array_has(array, item) &&
            (int64_t)json_array_size(array) >= min_items) {
            json_decref(item);
            break;
        }
        json_array_append_new(array, item);
    }
    g->list_index = list_index;
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
            json_array_get(choices, prose_pick(g, json_array_size(choices))));
    choices = json_object_get(schema, "anyOf");
    if (!choices)
        choices = json_object_get(schema, "oneOf");
    if (json_is_array(choices) && json_array_size(choices) > 0)
        return make_value(g, choose_branch(choices), field_name, depth + 1,
                          err);

    type = schema_type(schema);
    if (!type || strcmp(type, "string") == 0)
        return make_string(g, schema, field_name, err);
    if (strcmp(type, "object") == 0)
        return make_object(g, schema, depth, err);
    if (strcmp(type, "array") == 0)
        return make_array(g, schema, field_name, depth, err);
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
        return make_number(g, schema, type[0] == 'i');
    if (strcmp(type, "boolean") == 0)
        return json_boolean(prose_random(g) % 2);
    if (strcmp(type, "null") == 0)
        return json_null();
    error_set(err, ERR_INVALID, "schema type \"%s\" of \"%s\" is unknown", type,
              field_name ? field_name : "(root)");
    return NULL;
}

/* One response's state. The generator comes first, so freeing it frees all. */
struct response_state {
    struct generator generator;
    struct prompt_facts facts;
};

/* Reads the prompt and sets the register; NULL when out of memory. The
 * caller frees the result with free(). */
static struct generator *start_generator(const char *prompt,
                                         const char *schema_name, uint64_t seed)
{
    const char *lower_name = schema_name ? schema_name : "";
    struct response_state *state = calloc(1, sizeof(*state));
    struct generator *g = state ? &state->generator : NULL;
    struct prompt_facts *facts = state ? &state->facts : NULL;
    int product_hits = 0;
    int blog_hits = 0;

    if (!state)
        return NULL;
    facts_read(facts, prompt);
    g->facts = facts;
    g->state = seed;
    g->idea_template = -1;
    prose_focus(g, 0);

    for (const char *p = prompt ? prompt : ""; (p = strstr(p, "product")); p++)
        product_hits++;
    for (const char *p = prompt ? prompt : ""; (p = strstr(p, "blog")); p++)
        blog_hits++;
    if (strstr(lower_name, "product") || strstr(lower_name, "seo"))
        g->text_register = REGISTER_PRODUCT;
    else if (strstr(lower_name, "blog") || strstr(lower_name, "post"))
        g->text_register = REGISTER_BLOG;
    else
        g->text_register = product_hits > blog_hits || facts->product_name[0]
                               ? REGISTER_PRODUCT
                               : REGISTER_BLOG;
    return g;
}

json_t *openai_text_fill_schema(const json_t *schema, const char *schema_name,
                                const char *prompt, uint64_t seed,
                                struct error *err)
{
    struct generator *g = start_generator(prompt, schema_name, seed);
    json_t *value;

    if (!g) {
        error_set(err, ERR_PERMANENT, "out of memory reading the prompt");
        return NULL;
    }
    g->root = schema;
    value = make_value(g, schema, NULL, 0, err);
    if (value && g->failed) {
        json_decref(value);
        value = NULL;
        error_set(err, ERR_PERMANENT, "generated text passed %d bytes",
                  TEXT_MAX);
    }
    free(g);
    return value;
}

char *openai_text_write(const char *prompt, uint64_t seed)
{
    struct generator *g = start_generator(prompt, NULL, seed);
    struct buf out;
    char *text = NULL;

    if (!g)
        return NULL;
    buf_init(&out, TEXT_MAX);
    prose_article(g, &out);
    if (!g->failed)
        text = buf_detach(&out, NULL);
    buf_free(&out);
    free(g);
    return text;
}

int64_t openai_text_tokens(const char *text)
{
    size_t length = text ? strlen(text) : 0;

    return length ? (int64_t)((length + 3) / 4) : 0;
}
