/*
 * Ricos, Wix's rich-content document: the checks the Blog API runs on a
 * draft's richContent (node types, which node may hold which, heading
 * levels, image sizes and media), new ids for nodes sent without one, and
 * conversions to and from plain text and HTML for Catalog V3.
 */
#include "wix.h"

#include "core/json.h"

#include "core/buf.h"
#include "core/crypto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RICOS_MAX_TEXT (4u * 1024 * 1024)

static const char *const block_types[] = {"PARAGRAPH",
                                          "HEADING",
                                          "BULLETED_LIST",
                                          "ORDERED_LIST",
                                          "BLOCKQUOTE",
                                          "CODE_BLOCK",
                                          "VIDEO",
                                          "DIVIDER",
                                          "FILE",
                                          "GALLERY",
                                          "GIF",
                                          "HTML",
                                          "IMAGE",
                                          "LINK_PREVIEW",
                                          "MAP",
                                          "POLL",
                                          "APP_EMBED",
                                          "BUTTON",
                                          "COLLAPSIBLE_LIST",
                                          "TABLE",
                                          "EMBED",
                                          "EXTERNAL",
                                          "AUDIO",
                                          NULL};
static const char *const text_only[] = {"TEXT", NULL};
static const char *const list_items[] = {"LIST_ITEM", NULL};
static const char *const list_item_children[] = {"PARAGRAPH", "BULLETED_LIST",
                                                 "ORDERED_LIST", NULL};
static const char *const paragraphs[] = {"PARAGRAPH", NULL};
static const char *const table_rows[] = {"TABLE_ROW", NULL};
static const char *const table_cells[] = {"TABLE_CELL", NULL};
static const char *const collapsible_items[] = {"COLLAPSIBLE_ITEM", NULL};
static const char *const collapsible_parts[] = {"COLLAPSIBLE_ITEM_TITLE",
                                                "COLLAPSIBLE_ITEM_BODY", NULL};
static const char *const captions[] = {"CAPTION", NULL};
static const char *const nothing[] = {NULL};

struct node_rule {
    const char *type;
    const char *const *children;
};

static const struct node_rule rules[] = {
    {"PARAGRAPH", text_only},
    {"TEXT", nothing},
    {"HEADING", text_only},
    {"BULLETED_LIST", list_items},
    {"ORDERED_LIST", list_items},
    {"LIST_ITEM", list_item_children},
    {"BLOCKQUOTE", paragraphs},
    {"CODE_BLOCK", text_only},
    {"VIDEO", nothing},
    {"DIVIDER", nothing},
    {"FILE", nothing},
    {"GALLERY", nothing},
    {"GIF", nothing},
    {"HTML", nothing},
    {"IMAGE", captions},
    {"CAPTION", text_only},
    {"LINK_PREVIEW", nothing},
    {"MAP", nothing},
    {"POLL", nothing},
    {"APP_EMBED", nothing},
    {"BUTTON", nothing},
    {"COLLAPSIBLE_LIST", collapsible_items},
    {"COLLAPSIBLE_ITEM", collapsible_parts},
    {"COLLAPSIBLE_ITEM_TITLE", paragraphs},
    {"COLLAPSIBLE_ITEM_BODY", block_types},
    {"TABLE", table_rows},
    {"TABLE_ROW", table_cells},
    {"TABLE_CELL", paragraphs},
    {"EMBED", nothing},
    {"EXTERNAL", nothing},
    {"AUDIO", nothing},
};

struct ricos_check {
    struct sandbox_call *call;
    struct wix_site *site;
};

static const struct node_rule *rule_for(const char *type)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (strcmp(rules[i].type, type) == 0)
            return &rules[i];
    }
    return NULL;
}

static int listed(const char *const *types, const char *type)
{
    for (; *types; types++) {
        if (strcmp(*types, type) == 0)
            return 1;
    }
    return 0;
}

/* "LIST_ITEM" as the words Wix's messages use: "list item". */
static void type_words(const char *type, char *out, size_t size)
{
    size_t o = 0;

    for (; *type && o + 1 < size; type++)
        out[o++] = *type == '_' ? ' ' : (char)tolower((unsigned char)*type);
    out[o] = '\0';
}

static void assign_id(json_t *node)
{
    const char *id = json_string_value(json_object_get(node, "id"));
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char fresh[6];

    if (id && *id)
        return;
    for (size_t i = 0; i < 5; i++)
        fresh[i] = alphabet[crypto_random_below(sizeof(alphabet) - 1)];
    fresh[5] = '\0';
    json_object_set_new(node, "id", json_string(fresh));
}

static int check_image(struct ricos_check *check, const json_t *node,
                       const char *field)
{
    const json_t *image = json_at(node, "imageData.image");
    const char *id = json_string_value(json_at(image, "src.id"));
    const json_t *entry;
    char where[1200];

    snprintf(where, sizeof(where), "%s.imageData.image", field);
    if (!id && !json_is_string(json_at(image, "src.url"))) {
        wix_field_error(check->call, where, "REQUIRED",
                        "needs src.id or src.url");
        return -1;
    }
    if (json_integer_value(json_object_get(image, "width")) <= 0 ||
        json_integer_value(json_object_get(image, "height")) <= 0) {
        wix_field_error(check->call, where, "REQUIRED",
                        "needs width and height as positive integers");
        return -1;
    }
    if (!id)
        return 0;
    entry = wix_media_lookup(check->call->sb, check->site, id, 0);
    if (!entry ||
        strcmp(json_string_value(json_at(entry, "file.operationStatus")),
               "READY") != 0) {
        wix_field_error(check->call, where, "MEDIA_READY",
                        "media %s is not a READY file in the site's Media "
                        "Manager",
                        id);
        return -1;
    }
    return 0;
}

/* Checks what the node's own data must hold. */
static int check_node_data(struct ricos_check *check, const json_t *node,
                           const char *type, const char *field)
{
    char where[1200];

    if (strcmp(type, "TEXT") == 0 &&
        !json_is_string(json_at(node, "textData.text"))) {
        snprintf(where, sizeof(where), "%s.textData.text", field);
        wix_field_error(check->call, where, "REQUIRED", "must be a string");
        return -1;
    }
    if (strcmp(type, "HEADING") == 0) {
        json_int_t level =
            json_integer_value(json_at(node, "headingData.level"));

        if (level < 1 || level > 6) {
            snprintf(where, sizeof(where), "%s.headingData.level", field);
            wix_field_error(check->call, where, "RANGE",
                            "must be between 1 and 6");
            return -1;
        }
    }
    if (strcmp(type, "IMAGE") == 0)
        return check_image(check, node, field);
    return 0;
}

static int check_children(struct ricos_check *check, json_t *parent,
                          const char *const *allowed, const char *field);

static int check_node(struct ricos_check *check, json_t *node,
                      const char *const *allowed, const char *field)
{
    const char *type = json_string_value(json_object_get(node, "type"));
    const struct node_rule *rule;
    char expected[64];

    if (!json_is_object(node) || !type) {
        wix_field_error(check->call, field, "TYPE",
                        "must be a node object with a type");
        return -1;
    }
    if (!(rule = rule_for(type))) {
        wix_field_error(check->call, field, "ENUM", "Unknown node type %s",
                        type);
        return -1;
    }
    if (!listed(allowed, type)) {
        type_words(allowed[0] ? allowed[0] : "no", expected, sizeof(expected));
        wix_field_error(check->call, field, "NODE_NESTING",
                        "Expected a %s node but found %s", expected, type);
        return -1;
    }
    assign_id(node);
    if (check_node_data(check, node, type, field) != 0)
        return -1;
    return check_children(check, node, rule->children, field);
}

static int check_children(struct ricos_check *check, json_t *parent,
                          const char *const *allowed, const char *field)
{
    json_t *nodes = json_object_get(parent, "nodes");
    char where[1024];
    size_t i;
    json_t *node;

    if (!nodes)
        return 0;
    if (!json_is_array(nodes)) {
        snprintf(where, sizeof(where), "%s.nodes", field);
        wix_field_error(check->call, where, "TYPE", "must be an array");
        return -1;
    }
    json_array_foreach(nodes, i, node)
    {
        snprintf(where, sizeof(where), "%s.nodes[%zu]", field, i);
        if (check_node(check, node, allowed, where) != 0)
            return -1;
    }
    return 0;
}

int wix_ricos_check(struct sandbox_call *call, struct wix_site *site,
                    json_t *document, const char *field)
{
    struct ricos_check check = {.call = call, .site = site};

    if (!json_is_object(document) ||
        !json_is_array(json_object_get(document, "nodes"))) {
        wix_field_error(call, field, "TYPE",
                        "must be a rich-content object with a nodes array");
        return -1;
    }
    return check_children(&check, document, block_types, field);
}

static void append_text(const json_t *node, struct buf *out)
{
    const char *type = json_string_value(json_object_get(node, "type"));
    const char *text = json_string_value(json_at(node, "textData.text"));
    size_t i;
    json_t *child;

    if (text)
        buf_append_str(out, text);
    json_array_foreach(json_object_get(node, "nodes"), i, child)
        append_text(child, out);
    if (type && strcmp(type, "TEXT") != 0 && out->len > 0 &&
        out->data[out->len - 1] != '\n')
        buf_append_str(out, "\n");
}

char *wix_ricos_text(const json_t *document)
{
    struct buf out;

    buf_init(&out, RICOS_MAX_TEXT);
    append_text(document, &out);
    if (!out.data)
        return strdup("");
    return buf_detach(&out, NULL);
}

static void append_escaped(struct buf *out, const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '<')
            buf_append_str(out, "&lt;");
        else if (text[i] == '>')
            buf_append_str(out, "&gt;");
        else if (text[i] == '&')
            buf_append_str(out, "&amp;");
        else
            buf_append(out, &text[i], 1);
    }
}

char *wix_ricos_html(const json_t *document)
{
    char *text = wix_ricos_text(document);
    struct buf out;
    const char *line = text;

    buf_init(&out, RICOS_MAX_TEXT);
    while (*line) {
        size_t length = strcspn(line, "\n");

        if (length > 0) {
            buf_append_str(&out, "<p>");
            append_escaped(&out, line, length);
            buf_append_str(&out, "</p>");
        }
        line += length;
        if (*line == '\n')
            line++;
    }
    free(text);
    if (!out.data)
        return strdup("");
    return buf_detach(&out, NULL);
}

/* Decodes the entities HTML descriptions use most into out. */
static void append_decoded(struct buf *out, const char *text, size_t n)
{
    static const struct {
        const char *entity;
        const char *text;
    } entities[] = {{"&amp;", "&"},   {"&lt;", "<"},  {"&gt;", ">"},
                    {"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", " "},
                    {"&apos;", "'"}};

    for (size_t i = 0; i < n; i++) {
        size_t k;

        for (k = 0; k < sizeof(entities) / sizeof(entities[0]); k++) {
            size_t length = strlen(entities[k].entity);

            if (i + length <= n &&
                strncmp(text + i, entities[k].entity, length) == 0) {
                buf_append_str(out, entities[k].text);
                i += length - 1;
                break;
            }
        }
        if (k == sizeof(entities) / sizeof(entities[0]))
            buf_append(out, &text[i], 1);
    }
}

static void add_paragraph(json_t *nodes, struct buf *text)
{
    size_t start = 0;
    size_t end = text->len;

    while (start < end && isspace((unsigned char)text->data[start]))
        start++;
    while (end > start && isspace((unsigned char)text->data[end - 1]))
        end--;
    if (end > start) {
        json_t *paragraph = json_pack(
            "{ss s{} s[{ss s{ss# s[]}}]}", "type", "PARAGRAPH", "paragraphData",
            "nodes", "type", "TEXT", "textData", "text", text->data + start,
            (int)(end - start), "decorations");

        assign_id(paragraph);
        assign_id(json_array_get(json_object_get(paragraph, "nodes"), 0));
        json_array_append_new(nodes, paragraph);
    }
    buf_reset(text);
}

/* Tags that end a paragraph when they open or close. */
static int tag_breaks(const char *tag, size_t n)
{
    static const char *const names[] = {"p",  "br", "li", "div",       "h1",
                                        "h2", "h3", "h4", "h5",        "h6",
                                        "ul", "ol", "tr", "blockquote"};
    char name[16];
    size_t length = 0;

    if (n > 0 && tag[0] == '/') {
        tag++;
        n--;
    }
    while (length < n && length + 1 < sizeof(name) &&
           isalnum((unsigned char)tag[length])) {
        name[length] = (char)tolower((unsigned char)tag[length]);
        length++;
    }
    name[length] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0)
            return 1;
    }
    return 0;
}

json_t *wix_ricos_from_html(const char *html)
{
    json_t *nodes = json_array();
    struct buf text;
    const char *p = html ? html : "";
    /* In HTML a newline is a space; in plain text it ends a paragraph. */
    int plain = strchr(p, '<') == NULL;

    buf_init(&text, RICOS_MAX_TEXT);
    while (*p) {
        if (*p == '<' && strchr(p, '>')) {
            const char *close = strchr(p, '>');

            if (tag_breaks(p + 1, (size_t)(close - p - 1)))
                add_paragraph(nodes, &text);
            p = close + 1;
            continue;
        }
        size_t run = strcspn(p, "<\n");

        append_decoded(&text, p, run);
        p += run;
        if (*p == '\n') {
            if (plain)
                add_paragraph(nodes, &text);
            else
                buf_append_str(&text, " ");
            p++;
        }
    }
    add_paragraph(nodes, &text);
    buf_free(&text);
    return json_pack("{so}", "nodes", nodes);
}
