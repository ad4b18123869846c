/*
 * ricos_validate() and ricos_plain_text(): checks and reads rich-content
 * documents, from the converter or from anywhere else.
 */
#include "pipelines/ricos.h"

#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Deeper documents are rejected (validate) or cut (plain text). */
#define DOCUMENT_MAX_DEPTH 128

/* Characters of a node's path ("nodes[0].nodes[2]") shown in errors. */
#define PATH_SHOWN_MAX 160

#define PLAIN_TEXT_MAX ((size_t)64 * 1024 * 1024)

/* The node types of Wix's Ricos reference, as space-separated lists with
 * a space at each end, so that strstr(" TYPE ") finds one. */
#define ROOT_BLOCKS                                                            \
    " PARAGRAPH HEADING BULLETED_LIST ORDERED_LIST BLOCKQUOTE CODE_BLOCK "     \
    "DIVIDER IMAGE TABLE VIDEO FILE GALLERY GIF HTML LINK_PREVIEW MAP POLL "   \
    "APP_EMBED BUTTON COLLAPSIBLE_LIST EMBED EXTERNAL AUDIO "
#define KNOWN_TYPES                                                            \
    ROOT_BLOCKS "TEXT LIST_ITEM TABLE_ROW TABLE_CELL CAPTION "                 \
                "COLLAPSIBLE_ITEM COLLAPSIBLE_ITEM_TITLE "                     \
                "COLLAPSIBLE_ITEM_BODY "
#define DECORATION_TYPES                                                       \
    " BOLD ITALIC UNDERLINE STRIKETHROUGH LINK COLOR FONT_SIZE SPOILER "       \
    "ANCHOR MENTION EXTERNAL "
#define LINK_TARGETS " SELF BLANK PARENT TOP "

/* The child types a container accepts. Types not listed accept none. */
struct nesting {
    const char *parent;
    const char *children;
    size_t min_children;
};

static const struct nesting nesting_rules[] = {
    {"PARAGRAPH", " TEXT ", 0},
    {"HEADING", " TEXT ", 0},
    {"CODE_BLOCK", " TEXT ", 1},
    {"CAPTION", " TEXT ", 0},
    {"BULLETED_LIST", " LIST_ITEM ", 1},
    {"ORDERED_LIST", " LIST_ITEM ", 1},
    {"LIST_ITEM", " PARAGRAPH BULLETED_LIST ORDERED_LIST ", 1},
    {"BLOCKQUOTE", " PARAGRAPH ", 1},
    {"TABLE", " TABLE_ROW ", 1},
    {"TABLE_ROW", " TABLE_CELL ", 1},
    {"TABLE_CELL", " PARAGRAPH ", 1},
    {"IMAGE", " CAPTION ", 0},
    {"VIDEO", " CAPTION ", 0},
    {"COLLAPSIBLE_LIST", " COLLAPSIBLE_ITEM ", 1},
    {"COLLAPSIBLE_ITEM", " COLLAPSIBLE_ITEM_TITLE COLLAPSIBLE_ITEM_BODY ", 2},
    {"COLLAPSIBLE_ITEM_TITLE", " PARAGRAPH ", 1},
    {"COLLAPSIBLE_ITEM_BODY", ROOT_BLOCKS, 1},
};

struct validator {
    struct error *err;
    json_t *ids; /* non-empty ids seen so far, as keys */
};

/* True when word (upper case and '_' only) is in the spaced list. */
static int word_in(const char *word, const char *list)
{
    size_t n = strlen(word);
    const char *p = list;

    if (n == 0 || strspn(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != n)
        return 0;
    while ((p = strstr(p, word)) != NULL) {
        if (p[-1] == ' ' && p[n] == ' ')
            return 1;
        p += n;
    }
    return 0;
}

static const struct nesting *nesting_of(const char *type)
{
    for (size_t i = 0; i < sizeof(nesting_rules) / sizeof(nesting_rules[0]);
         i++) {
        if (strcmp(nesting_rules[i].parent, type) == 0)
            return &nesting_rules[i];
    }
    return NULL;
}

static int fail(struct validator *v, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets err to "PATH: message" (ERR_INVALID) and returns -1. A long path
 * keeps only its end, so that the message still fits. */
static int fail(struct validator *v, const char *path, const char *fmt, ...)
{
    char message[ERROR_MESSAGE_MAX];
    size_t path_len = strlen(path);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (path_len > PATH_SHOWN_MAX)
        return error_set(v->err, ERR_INVALID, "...%s: %s",
                         path + path_len - PATH_SHOWN_MAX, message);
    return error_set(v->err, ERR_INVALID, "%s: %s", path[0] ? path : "nodes",
                     message);
}

static const char *string_or(const json_t *value, const char *fallback)
{
    const char *text = json_string_value(value);

    return text ? text : fallback;
}

static int check_link(struct validator *v, const json_t *decoration,
                      const char *path)
{
    const json_t *link =
        json_object_get(json_object_get(decoration, "linkData"), "link");
    const char *url = json_string_value(json_object_get(link, "url"));
    const json_t *target = json_object_get(link, "target");

    if (!url || !url[0])
        return fail(v, path, "LINK decoration without linkData.link.url");
    if (target && !word_in(string_or(target, ""), LINK_TARGETS))
        return fail(v, path,
                    "LINK target \"%s\" is not SELF, BLANK, PARENT or TOP",
                    string_or(target, "(not a string)"));
    return 0;
}

static int check_text(struct validator *v, const json_t *node, const char *path)
{
    const json_t *data = json_object_get(node, "textData");
    const json_t *text_value = json_object_get(data, "text");
    const char *text = json_string_value(text_value);
    size_t len = json_string_length(text_value);
    const json_t *decorations = json_object_get(data, "decorations");
    const json_t *decoration;
    size_t i;

    if (!text)
        return fail(v, path, "TEXT without a textData.text string");
    if (memchr(text, '\n', len) || memchr(text, '\r', len))
        return fail(v, path, "text contains a line break; split it into nodes");
    if (decorations && !json_is_array(decorations))
        return fail(v, path, "textData.decorations is not an array");
    json_array_foreach(decorations, i, decoration)
    {
        const char *type =
            json_string_value(json_object_get(decoration, "type"));

        if (!type || !word_in(type, DECORATION_TYPES))
            return fail(v, path, "unknown decoration type \"%s\"",
                        type ? type : "(not a string)");
        if (strcmp(type, "LINK") == 0 && check_link(v, decoration, path))
            return -1;
    }
    return 0;
}

static int check_heading(struct validator *v, const json_t *node,
                         const char *path)
{
    const json_t *level =
        json_object_get(json_object_get(node, "headingData"), "level");

    if (!json_is_integer(level) || json_integer_value(level) < 1 ||
        json_integer_value(level) > 6)
        return fail(v, path, "HEADING needs headingData.level 1 to 6");
    return 0;
}

static int check_image(struct validator *v, const json_t *node,
                       const char *path)
{
    const json_t *image =
        json_object_get(json_object_get(node, "imageData"), "image");
    const json_t *src = json_object_get(image, "src");
    const char *id = json_string_value(json_object_get(src, "id"));
    const char *url = json_string_value(json_object_get(src, "url"));
    const json_t *width = json_object_get(image, "width");
    const json_t *height = json_object_get(image, "height");

    if ((!id || !id[0]) && (!url || !url[0]))
        return fail(v, path, "IMAGE without imageData.image.src id or url");
    if (!json_is_integer(width) || json_integer_value(width) <= 0 ||
        !json_is_integer(height) || json_integer_value(height) <= 0)
        return fail(v, path,
                    "IMAGE needs a positive integer imageData.image.width "
                    "and height");
    return 0;
}

static int check_id(struct validator *v, const json_t *node, const char *path)
{
    const json_t *id = json_object_get(node, "id");

    if (!id)
        return 0;
    if (!json_is_string(id))
        return fail(v, path, "id is not a string");
    if (json_string_length(id) == 0)
        return 0;
    if (json_object_get(v->ids, json_string_value(id)))
        return fail(v, path, "duplicate id \"%s\"", json_string_value(id));
    if (json_object_set_new(v->ids, json_string_value(id), json_true()) != 0)
        return error_set(v->err, ERR_PERMANENT,
                         "out of memory while validating rich content");
    return 0;
}

static int check_node(struct validator *v, const json_t *node,
                      const char *parent, const char *path, int depth);

/* Checks that the children of node (of type parent) fit its rules. */
static int check_children(struct validator *v, const json_t *node,
                          const char *parent, const char *path, int depth)
{
    const json_t *children = json_object_get(node, "nodes");
    const struct nesting *rule = parent ? nesting_of(parent) : NULL;
    size_t count = json_array_size(children);
    char child_path[512];
    const json_t *child;
    size_t i;

    if (children && !json_is_array(children))
        return fail(v, path, "\"nodes\" is not an array");
    if (parent && !rule && count > 0)
        return fail(v, path, "%s cannot contain nodes", parent);
    if (rule && count < rule->min_children)
        return fail(v, path, "%s has too few child nodes", parent);
    if (parent && strcmp(parent, "LIST_ITEM") == 0) {
        const char *first = json_string_value(
            json_object_get(json_array_get(children, 0), "type"));

        if (!first || strcmp(first, "PARAGRAPH") != 0)
            return fail(v, path, "LIST_ITEM must start with a PARAGRAPH");
    }
    json_array_foreach(children, i, child)
    {
        snprintf(child_path, sizeof(child_path), "%s%snodes[%zu]", path,
                 path[0] ? "." : "", i);
        if (check_node(v, child, parent, child_path, depth + 1) != 0)
            return -1;
    }
    return 0;
}

/* Checks node as a child of parent (NULL: the document root). */
static int check_node(struct validator *v, const json_t *node,
                      const char *parent, const char *path, int depth)
{
    const char *type = json_string_value(json_object_get(node, "type"));
    const char *allowed =
        parent ? (nesting_of(parent) ? nesting_of(parent)->children : "")
               : ROOT_BLOCKS;

    if (depth > DOCUMENT_MAX_DEPTH)
        return fail(v, path, "nodes nest more than %d levels deep",
                    DOCUMENT_MAX_DEPTH);
    if (!json_is_object(node) || !type)
        return fail(v, path, "node without a string \"type\"");
    if (!word_in(type, KNOWN_TYPES))
        return fail(v, path, "unknown node type \"%s\"", type);
    if (!word_in(type, allowed)) {
        if (strcmp(type, "TEXT") == 0)
            return fail(v, path, "Expected a paragraph node but found TEXT");
        return fail(v, path, "%s is not allowed in %s", type,
                    parent ? parent : "the document root");
    }
    if (check_id(v, node, path) != 0)
        return -1;
    if (strcmp(type, "TEXT") == 0 && check_text(v, node, path) != 0)
        return -1;
    if (strcmp(type, "HEADING") == 0 && check_heading(v, node, path) != 0)
        return -1;
    if (strcmp(type, "IMAGE") == 0 && check_image(v, node, path) != 0)
        return -1;
    return check_children(v, node, type, path, depth);
}

int ricos_validate(const json_t *doc, struct error *err)
{
    struct validator v = {.err = err, .ids = json_object()};
    int rc;

    if (!v.ids)
        return error_set(err, ERR_PERMANENT,
                         "out of memory while validating rich content");
    if (!json_is_object(doc) || !json_is_array(json_object_get(doc, "nodes")))
        rc = error_set(err, ERR_INVALID,
                       "rich content must be an object with a \"nodes\" "
                       "array");
    else
        rc = check_children(&v, doc, NULL, "", 0);
    json_decref(v.ids);
    return rc;
}

/* ---- Plain text ---- */

static int append_plain(const json_t *node, struct buf *out, int depth)
{
    const char *type = json_string_value(json_object_get(node, "type"));
    const json_t *child;
    size_t i;

    if (!type || depth > DOCUMENT_MAX_DEPTH)
        return 0;
    if (strcmp(type, "TEXT") == 0) {
        const json_t *text =
            json_object_get(json_object_get(node, "textData"), "text");

        return buf_append(out, string_or(text, ""), json_string_length(text));
    }
    json_array_foreach(json_object_get(node, "nodes"), i, child)
    {
        if (append_plain(child, out, depth + 1) != 0)
            return -1;
        if (strcmp(type, "CODE_BLOCK") == 0 && buf_append(out, "\n", 1))
            return -1;
    }
    if (strcmp(type, "PARAGRAPH") == 0 || strcmp(type, "HEADING") == 0 ||
        strcmp(type, "CAPTION") == 0)
        return buf_append(out, "\n", 1);
    return 0;
}

char *ricos_plain_text(const json_t *doc)
{
    const json_t *nodes = json_object_get(doc, "nodes");
    const json_t *node;
    struct buf out;
    size_t i;

    if (!json_is_array(nodes))
        return NULL;
    buf_init(&out, PLAIN_TEXT_MAX);
    if (buf_append(&out, "", 0) != 0)
        return NULL;
    json_array_foreach(nodes, i, node)
    {
        if (append_plain(node, &out, 1) != 0) {
            buf_free(&out);
            return NULL;
        }
    }
    return buf_detach(&out, NULL);
}
