#include "pipelines/products_text.h"

#include "core/buf.h"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest HTML accepted as input: far above Wix's 8000 characters, so
 * that only garbage is rejected. */
#define HTML_INPUT_MAX (1024 * 1024)
/* Longest result; the caller's max limits it long before this. */
#define HTML_OUTPUT_MAX (4 * 1024 * 1024)
/* Elements nested deeper than this are skipped with their text. */
#define WALK_DEPTH_MAX 256

/* ------------------------------------------------------------------ */
/* UTF-8 and breaks                                                    */
/* ------------------------------------------------------------------ */

/* Decodes the character at s: its byte length, and its code point in *cp
 * (-1 for an invalid byte, which then counts as one byte). */
static size_t utf8_decode(const unsigned char *s, int32_t *cp)
{
    size_t length;
    int32_t value;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        length = 2;
        value = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        length = 3;
        value = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        length = 4;
        value = s[0] & 0x07;
    } else {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i < length; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = -1;
            return 1;
        }
        value = (value << 6) | (s[i] & 0x3f);
    }
    *cp = value;
    return length;
}

size_t products_text_length(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t units = 0;

    while (*s) {
        int32_t cp;

        s += utf8_decode(s, &cp);
        units += cp > 0xffff ? 2 : 1;
    }
    return units;
}

/* Ideographs, kana and full-width forms: text written without spaces,
 * where a line may break between any two characters. */
static int is_cjk(int32_t cp)
{
    return (cp >= 0x2e80 && cp <= 0x9fff) || (cp >= 0xf900 && cp <= 0xfaff) ||
           (cp >= 0xff00 && cp <= 0xffef) || (cp >= 0x20000 && cp <= 0x2ffff);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

/* True for characters that should not end a shortened text. */
static int dangles(const char *text, size_t end, size_t *start)
{
    static const char *const marks[] = {" ",
                                        ",",
                                        ";",
                                        ":",
                                        "-",
                                        "/",
                                        "&",
                                        "(",
                                        "\xe2\x80\x93",
                                        "\xe2\x80\x94",
                                        "\xe3\x80\x81"};

    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        size_t length = strlen(marks[i]);

        if (end >= length &&
            memcmp(text + end - length, marks[i], length) == 0) {
            *start = end - length;
            return 1;
        }
    }
    return 0;
}

/* Drops spaces and dangling punctuation from the end of text (in place). */
static void trim_dangling(char *text)
{
    size_t end = strlen(text);
    size_t start;

    while (end > 0 && dangles(text, end, &start))
        end = start;
    text[end] = '\0';
}

/*
 * Finds the last word break of text at which the first part is at most
 * room units, counting from `units` already used. Returns
 * the byte offset of the cut, or -1 when none fits. A break before a
 * space cuts at the space; a break between two CJK characters cuts
 * between them.
 */
static long last_break(const char *text, size_t units, size_t room)
{
    const unsigned char *s = (const unsigned char *)text;
    int32_t previous = -1;
    long best = -1;
    size_t i = 0;

    while (s[i] && units <= room) {
        int32_t cp;
        size_t length = utf8_decode(s + i, &cp);

        if (s[i] == ' ' || (is_cjk(previous) && is_cjk(cp)))
            best = (long)i;
        units += cp > 0xffff ? 2 : 1;
        previous = cp;
        i += length;
    }
    return best;
}

/* Copies text with whitespace runs made one space and the ends trimmed. */
static char *collapse_spaces(const char *text)
{
    char *out = malloc(strlen(text) + 1);
    size_t o = 0;
    int space = 0;

    if (!out)
        return NULL;
    for (const char *p = text; *p; p++) {
        if (is_space(*p)) {
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = 0;
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

char *products_text_fit(const char *text, size_t max, int *shortened,
                        struct error *err)
{
    char *out = collapse_spaces(text ? text : "");
    long cut;

    if (shortened)
        *shortened = 0;
    if (!out) {
        error_set(err, ERR_RETRYABLE, "out of memory");
        return NULL;
    }
    if (!out[0]) {
        free(out);
        error_set(err, ERR_PERMANENT, "the text is empty");
        return NULL;
    }
    if (products_text_length(out) <= max)
        return out;

    cut = last_break(out, 0, max);
    if (cut > 0) {
        out[cut] = '\0';
        trim_dangling(out);
    }
    if (cut <= 0 || !out[0]) {
        free(out);
        error_set(err, ERR_PERMANENT,
                  "the text has no word break within %zu characters", max);
        return NULL;
    }
    if (shortened)
        *shortened = 1;
    return out;
}

/* ------------------------------------------------------------------ */
/* Reading HTML into paragraphs and lists of formatted runs            */
/* ------------------------------------------------------------------ */

/* Text with one format. */
struct run {
    char *text;
    char *href; /* NULL unless a link */
    unsigned bold : 1;
    unsigned underline : 1;
    unsigned blank : 1; /* target="_blank" */
};

/* A paragraph or a list item. */
struct line {
    struct run *runs;
    size_t count;
    size_t cap;
    int space_due; /* a space goes before the next word */
};

enum block_kind { BLOCK_P, BLOCK_UL, BLOCK_OL };

/* A paragraph (one line) or a list (one line per item). */
struct block {
    enum block_kind kind;
    struct line *lines;
    size_t count;
    size_t cap;
};

struct format {
    int bold;
    int underline;
    int blank;
    const char *href;
};

struct builder {
    struct block *blocks;
    size_t count;
    size_t cap;
    int line_open;  /* the last line of the last block takes text */
    int list_open;  /* the last block is a list that takes items */
    int list_depth; /* <ul>/<ol> elements being walked */
    int item_depth; /* <li> elements being walked */
    int failed;     /* out of memory */
};

static int grow(void **array, size_t *cap, size_t count, size_t size)
{
    size_t next;
    void *grown;

    if (count < *cap)
        return 0;
    next = *cap ? *cap * 2 : 4;
    grown = realloc(*array, next * size);
    if (!grown)
        return -1;
    *array = grown;
    *cap = next;
    return 0;
}

static void free_line(struct line *line)
{
    for (size_t i = 0; i < line->count; i++) {
        free(line->runs[i].text);
        free(line->runs[i].href);
    }
    free(line->runs);
}

static void builder_free(struct builder *b)
{
    for (size_t i = 0; i < b->count; i++) {
        for (size_t k = 0; k < b->blocks[i].count; k++)
            free_line(&b->blocks[i].lines[k]);
        free(b->blocks[i].lines);
    }
    free(b->blocks);
}

static struct block *last_block(struct builder *b)
{
    return &b->blocks[b->count - 1];
}

static void open_block(struct builder *b, enum block_kind kind)
{
    if (grow((void **)&b->blocks, &b->cap, b->count, sizeof(*b->blocks))) {
        b->failed = 1;
        return;
    }
    memset(&b->blocks[b->count], 0, sizeof(b->blocks[0]));
    b->blocks[b->count++].kind = kind;
    b->list_open = kind != BLOCK_P;
    b->line_open = 0;
}

static void open_line(struct builder *b)
{
    struct block *block = last_block(b);

    if (grow((void **)&block->lines, &block->cap, block->count,
             sizeof(*block->lines))) {
        b->failed = 1;
        return;
    }
    memset(&block->lines[block->count++], 0, sizeof(block->lines[0]));
    b->line_open = 1;
}

/* Makes sure a line takes text: a new list item inside a list, else a new
 * paragraph. */
static void ensure_line(struct builder *b)
{
    if (b->line_open)
        return;
    if (!b->list_open)
        open_block(b, BLOCK_P);
    if (!b->failed)
        open_line(b);
}

static struct line *current_line(struct builder *b)
{
    struct block *block = last_block(b);

    return &block->lines[block->count - 1];
}

static int same_format(const struct run *run, const struct format *fmt)
{
    if (run->bold != (fmt->bold != 0) ||
        run->underline != (fmt->underline != 0))
        return 0;
    if (!run->href || !fmt->href)
        return !run->href && !fmt->href;
    return strcmp(run->href, fmt->href) == 0 && run->blank == (fmt->blank != 0);
}

/* Appends bytes to the line's last run, or to a new run in fmt. */
static void append_bytes(struct builder *b, const char *bytes, size_t len,
                         const struct format *fmt)
{
    struct line *line = current_line(b);
    struct run *run = line->count ? &line->runs[line->count - 1] : NULL;
    size_t old;
    char *grown;

    if (!run || !same_format(run, fmt)) {
        if (grow((void **)&line->runs, &line->cap, line->count,
                 sizeof(*line->runs))) {
            b->failed = 1;
            return;
        }
        run = &line->runs[line->count++];
        memset(run, 0, sizeof(*run));
        run->bold = fmt->bold != 0;
        run->underline = fmt->underline != 0;
        run->blank = fmt->blank != 0;
        run->href = fmt->href ? strdup(fmt->href) : NULL;
        if (fmt->href && !run->href)
            b->failed = 1;
    }
    old = run->text ? strlen(run->text) : 0;
    grown = realloc(run->text, old + len + 1);
    if (!grown) {
        b->failed = 1;
        return;
    }
    memcpy(grown + old, bytes, len);
    grown[old + len] = '\0';
    run->text = grown;
}

/* Adds the space between two words: inside the new word's run when the
 * format goes on, else unformatted, so that no tag starts or ends with a
 * space. */
static void append_space(struct builder *b, const struct format *fmt)
{
    const struct line *line = current_line(b);
    static const struct format plain = {0};

    if (same_format(&line->runs[line->count - 1], fmt))
        append_bytes(b, " ", 1, fmt);
    else
        append_bytes(b, " ", 1, &plain);
}

/* Adds text, with whitespace runs made one space and none at the start
 * or end of a line. Whitespace alone opens no line. */
static void add_text(struct builder *b, const char *text,
                     const struct format *fmt)
{
    const char *p = text;

    while (*p && !b->failed) {
        size_t word = 0;

        if (is_space(*p)) {
            if (b->line_open && current_line(b)->count)
                current_line(b)->space_due = 1;
            p++;
            continue;
        }
        while (p[word] && !is_space(p[word]))
            word++;
        ensure_line(b);
        if (b->failed)
            return;
        if (current_line(b)->space_due && current_line(b)->count)
            append_space(b, fmt);
        current_line(b)->space_due = 0;
        append_bytes(b, p, word, fmt);
        p += word;
    }
}

/* A block element ends the line, except inside a list item, where its
 * text goes on after a space. */
static void break_block(struct builder *b)
{
    if (b->item_depth > 0) {
        if (b->line_open && current_line(b)->count)
            current_line(b)->space_due = 1;
        return;
    }
    b->line_open = 0;
    if (b->list_depth == 0)
        b->list_open = 0;
}

static int name_is(const xmlNode *node, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (strcmp((const char *)node->name, names[i]) == 0)
            return 1;
    return 0;
}

static const char *const dropped_tags[] = {
    "script", "style", "head", "title",  "template", "noscript", "iframe",
    "object", "svg",   "math", "select", "textarea", "button",   NULL};
static const char *const bold_tags[] = {"strong", "b", NULL};
static const char *const heading_tags[] = {"h1", "h2", "h3", "h4",
                                           "h5", "h6", NULL};
static const char *const block_tags[] = {
    "p",          "div",     "section", "article",    "header",  "footer",
    "main",       "aside",   "nav",     "blockquote", "pre",     "figure",
    "figcaption", "address", "center",  "table",      "thead",   "tbody",
    "tfoot",      "tr",      "td",      "th",         "caption", "dl",
    "dt",         "dd",      "hr",      "html",       "body",    "form",
    "fieldset",   "legend",  NULL};

/* True for link targets a store page may carry. */
static int safe_href(const char *href)
{
    static const char *const schemes[] = {"http://", "https://",
                                          "mailto:", "tel:"};

    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncasecmp(href, schemes[i], strlen(schemes[i])) == 0)
            return 1;
    return 0;
}

static void walk(struct builder *b, const xmlNode *first,
                 const struct format *fmt, int depth);

static void walk_link(struct builder *b, const xmlNode *node,
                      const struct format *fmt, int depth)
{
    xmlChar *href = xmlGetProp(node, (const xmlChar *)"href");
    xmlChar *target = xmlGetProp(node, (const xmlChar *)"target");
    struct format link = *fmt;

    if (href && safe_href((const char *)href)) {
        link.href = (const char *)href;
        link.blank = target && strcmp((const char *)target, "_blank") == 0;
    }
    walk(b, node->children, &link, depth + 1);
    xmlFree(href);
    xmlFree(target);
}

/* A list inside a list item adds its items to the outer list, because
 * nested lists are not in the documented subset. */
static void walk_list(struct builder *b, const xmlNode *node,
                      const struct format *fmt, int depth)
{
    int nested = b->item_depth > 0 && b->list_open;
    int saved_items = b->item_depth;

    if (!nested) {
        break_block(b);
        open_block(b, strcmp((const char *)node->name, "ol") == 0 ? BLOCK_OL
                                                                  : BLOCK_UL);
    }
    b->line_open = 0;
    b->item_depth = 0;
    b->list_depth++;
    walk(b, node->children, fmt, depth + 1);
    b->list_depth--;
    b->item_depth = saved_items;
    b->line_open = 0;
    if (!nested && b->list_depth == 0)
        b->list_open = 0;
}

static void walk_item(struct builder *b, const xmlNode *node,
                      const struct format *fmt, int depth)
{
    if (b->list_depth == 0 || !b->list_open) {
        break_block(b);
        walk(b, node->children, fmt, depth + 1);
        break_block(b);
        return;
    }
    b->line_open = 0;
    b->item_depth++;
    walk(b, node->children, fmt, depth + 1);
    b->item_depth--;
    b->line_open = 0;
}

static void walk_element(struct builder *b, const xmlNode *node,
                         const struct format *fmt, int depth)
{
    struct format inner = *fmt;
    const char *name = (const char *)node->name;

    if (name_is(node, dropped_tags)) {
        return;
    } else if (name_is(node, bold_tags)) {
        inner.bold = 1;
        walk(b, node->children, &inner, depth + 1);
    } else if (strcmp(name, "u") == 0) {
        inner.underline = 1;
        walk(b, node->children, &inner, depth + 1);
    } else if (strcmp(name, "a") == 0) {
        walk_link(b, node, fmt, depth);
    } else if (strcmp(name, "br") == 0) {
        break_block(b);
    } else if (name_is(node, heading_tags)) {
        break_block(b);
        inner.bold = 1;
        walk(b, node->children, &inner, depth + 1);
        break_block(b);
    } else if (strcmp(name, "ul") == 0 || strcmp(name, "ol") == 0) {
        walk_list(b, node, fmt, depth);
    } else if (strcmp(name, "li") == 0) {
        walk_item(b, node, fmt, depth);
    } else if (name_is(node, block_tags)) {
        break_block(b);
        walk(b, node->children, fmt, depth + 1);
        break_block(b);
    } else {
        /* em, i, span, font and unknown inline elements keep their text. */
        walk(b, node->children, fmt, depth + 1);
    }
}

static void walk(struct builder *b, const xmlNode *first,
                 const struct format *fmt, int depth)
{
    if (depth > WALK_DEPTH_MAX)
        return;
    for (const xmlNode *node = first; node && !b->failed; node = node->next) {
        if (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE)
            add_text(b, (const char *)node->content, fmt);
        else if (node->type == XML_ELEMENT_NODE)
            walk_element(b, node, fmt, depth);
    }
}

static void init_parser(void)
{
    xmlInitParser();
}

/* Parses html into b. Returns 0, or -1 with err set. */
static int read_html(const char *html, struct builder *b, struct error *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    size_t length = strlen(html);
    struct format plain = {0};
    htmlDocPtr doc;

    memset(b, 0, sizeof(*b));
    if (length == 0)
        return 0;
    if (length > HTML_INPUT_MAX)
        return error_set(err, ERR_PERMANENT,
                         "the HTML is %zu bytes long, more than %d", length,
                         HTML_INPUT_MAX);
    pthread_once(&once, init_parser);
    doc = htmlReadMemory(html, (int)length, NULL, "UTF-8",
                         HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                             HTML_PARSE_NONET);
    if (!doc)
        return error_set(err, ERR_PERMANENT, "the HTML could not be parsed");
    walk(b, doc->children, &plain, 0);
    xmlFreeDoc(doc);
    if (b->failed) {
        builder_free(b);
        memset(b, 0, sizeof(*b));
        return error_set(err, ERR_RETRYABLE, "out of memory");
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writing HTML                                                        */
/* ------------------------------------------------------------------ */

static void append_escaped(struct buf *out, const char *text, int attribute)
{
    for (const char *p = text; *p; p++) {
        if (*p == '&')
            buf_append_str(out, "&amp;");
        else if (*p == '<')
            buf_append_str(out, "&lt;");
        else if (*p == '>')
            buf_append_str(out, "&gt;");
        else if (*p == '"' && attribute)
            buf_append_str(out, "&quot;");
        else
            buf_append(out, p, 1);
    }
}

static void render_run(struct buf *out, const struct run *run, const char *text)
{
    if (run->href) {
        buf_append_str(out, "<a href=\"");
        append_escaped(out, run->href, 1);
        buf_append_str(out, run->blank ? "\" target=\"_blank\">" : "\">");
    }
    if (run->bold)
        buf_append_str(out, "<strong>");
    if (run->underline)
        buf_append_str(out, "<u>");
    append_escaped(out, text, 0);
    if (run->underline)
        buf_append_str(out, "</u>");
    if (run->bold)
        buf_append_str(out, "</strong>");
    if (run->href)
        buf_append_str(out, "</a>");
}

/*
 * Renders the line's runs before the cut (run index cut_run, byte offset
 * cut_byte in it; cut_run == count renders all) with the text before the
 * cut trimmed of dangling punctuation. Returns -1 when out of memory.
 */
static int render_line(struct buf *out, const struct line *line, size_t cut_run,
                       size_t cut_byte)
{
    for (size_t i = 0; i < line->count && i <= cut_run; i++) {
        const struct run *run = &line->runs[i];
        char *text;

        if (i < cut_run) {
            render_run(out, run, run->text);
            continue;
        }
        text = strndup(run->text, cut_byte);
        if (!text)
            return -1;
        trim_dangling(text);
        if (text[0])
            render_run(out, run, text);
        free(text);
    }
    return 0;
}

static const char *open_tag(enum block_kind kind)
{
    switch (kind) {
    case BLOCK_UL:
        return "<ul>";
    case BLOCK_OL:
        return "<ol>";
    default:
        return "<p>";
    }
}

static const char *close_tag(enum block_kind kind)
{
    switch (kind) {
    case BLOCK_UL:
        return "</ul>";
    case BLOCK_OL:
        return "</ol>";
    default:
        return "</p>";
    }
}

static int line_empty(const struct line *line)
{
    return line->count == 0;
}

/* The units that whole_line would add. */
static size_t line_units(const struct line *line, int item)
{
    struct buf text;
    size_t units;

    buf_init(&text, HTML_OUTPUT_MAX);
    render_line(&text, line, line->count, 0);
    units = products_text_length(text.data ? text.data : "") +
            (item ? strlen("<li></li>") : 0);
    buf_free(&text);
    return units;
}

static void whole_line(struct buf *out, const struct line *line, int item)
{
    if (item)
        buf_append_str(out, "<li>");
    render_line(out, line, line->count, 0);
    if (item)
        buf_append_str(out, "</li>");
}

/*
 * Renders as many words of line as fit into room units (tags included),
 * wrapped in <li> when item is set. Returns 1 when some text fit, else 0
 * with nothing written. Longer prefixes render longer, so the search
 * stops at the first break that does not fit.
 */
static int partial_line(struct buf *out, const struct line *line, int item,
                        size_t room)
{
    size_t wrap = item ? strlen("<li></li>") : 0;
    size_t best_run = 0;
    size_t best_byte = 0;
    int found = 0;
    int done = 0;
    struct buf trial;

    buf_init(&trial, HTML_OUTPUT_MAX);
    for (size_t i = 0; i < line->count && !done; i++) {
        const unsigned char *text = (const unsigned char *)line->runs[i].text;
        int32_t previous = -1;
        size_t at = 0;

        while (text[at] && !done) {
            int32_t cp;
            size_t length = utf8_decode(text + at, &cp);

            if (text[at] == ' ' || (is_cjk(previous) && is_cjk(cp))) {
                buf_reset(&trial);
                render_line(&trial, line, i, at);
                if (products_text_length(trial.data ? trial.data : "") + wrap >
                    room) {
                    done = 1;
                } else if (trial.len > 0) {
                    best_run = i;
                    best_byte = at;
                    found = 1;
                }
            }
            previous = cp;
            at += length;
        }
    }
    buf_free(&trial);
    if (!found)
        return 0;
    if (item)
        buf_append_str(out, "<li>");
    render_line(out, line, best_run, best_byte);
    if (item)
        buf_append_str(out, "</li>");
    return 1;
}

/*
 * Appends the list's items that fit into room units, in order, inside its
 * tags. When not even the first fits and cut_words is set, the first
 * item's leading words. Returns the number of items written whole, and
 * sets *complete when all were.
 */
static size_t render_list(struct buf *out, const struct block *block,
                          size_t room, int cut_words, int *complete)
{
    size_t tags =
        strlen(open_tag(block->kind)) + strlen(close_tag(block->kind));
    size_t used = tags;
    size_t written = 0;
    size_t start = out->len;

    *complete = 1;
    buf_append_str(out, open_tag(block->kind));
    for (size_t i = 0; i < block->count; i++) {
        size_t units;

        if (line_empty(&block->lines[i]))
            continue;
        units = line_units(&block->lines[i], 1);
        if (used + units > room) {
            *complete = 0;
            if (written == 0 && cut_words && room > used &&
                partial_line(out, &block->lines[i], 1, room - used))
                written = 1;
            break;
        }
        whole_line(out, &block->lines[i], 1);
        used += units;
        written++;
    }
    if (written == 0) {
        out->len = start;
        out->data[start] = '\0';
        return 0;
    }
    buf_append_str(out, close_tag(block->kind));
    return written;
}

/* True when the block has some text. */
static int block_has_text(const struct block *block)
{
    for (size_t i = 0; i < block->count; i++)
        if (!line_empty(&block->lines[i]))
            return 1;
    return 0;
}

/*
 * Writes the blocks that fit into max units: whole blocks in order, then
 * the leading items of a list that does not fit, and the leading words of
 * the first block only when nothing else fits. *shortened is set when
 * anything was left out.
 */
static void render_blocks(const struct builder *b, size_t max, struct buf *out,
                          int *shortened)
{
    size_t used = 0;

    *shortened = 0;
    for (size_t i = 0; i < b->count; i++) {
        const struct block *block = &b->blocks[i];
        size_t before = out->len;
        int complete = 1;

        if (!block_has_text(block))
            continue;
        if (block->kind == BLOCK_P) {
            size_t units = line_units(&block->lines[0], 0) + strlen("<p></p>");

            if (used + units <= max) {
                buf_append_str(out, "<p>");
                whole_line(out, &block->lines[0], 0);
                buf_append_str(out, "</p>");
            } else {
                complete = 0;
                if (used == 0 && max > strlen("<p></p>")) {
                    buf_append_str(out, "<p>");
                    if (partial_line(out, &block->lines[0], 0,
                                     max - strlen("<p></p>")))
                        buf_append_str(out, "</p>");
                    else
                        out->len = before;
                }
            }
        } else {
            render_list(out, block, max - used, used == 0, &complete);
        }
        if (out->data)
            out->data[out->len] = '\0';
        used += products_text_length(out->data ? out->data + before : "");
        if (!complete) {
            *shortened = 1;
            return;
        }
    }
}

char *products_html_clean(const char *html, size_t max, int *shortened,
                          struct error *err)
{
    struct builder b;
    struct buf out;
    int cut = 0;
    char *result;

    if (shortened)
        *shortened = 0;
    if (read_html(html ? html : "", &b, err) != 0)
        return NULL;
    buf_init(&out, HTML_OUTPUT_MAX);
    render_blocks(&b, max, &out, &cut);
    builder_free(&b);
    if (out.len == 0) {
        buf_free(&out);
        error_set(err, ERR_PERMANENT,
                  cut ? "no word break within %zu characters"
                      : "the description has no text",
                  max);
        return NULL;
    }
    result = buf_detach(&out, NULL);
    if (!result)
        error_set(err, ERR_RETRYABLE, "out of memory");
    if (shortened)
        *shortened = cut;
    return result;
}

char *products_html_canonical(const char *html)
{
    struct builder b;
    struct buf out;
    struct error err;
    int cut;
    char *result;

    if (read_html(html ? html : "", &b, &err) != 0)
        return err.kind == ERR_RETRYABLE ? NULL : strdup(html);
    buf_init(&out, HTML_OUTPUT_MAX);
    render_blocks(&b, (size_t)HTML_OUTPUT_MAX, &out, &cut);
    builder_free(&b);
    result = buf_detach(&out, NULL);
    return result ? result : strdup("");
}

char *products_html_text(const char *html)
{
    struct builder b;
    struct buf out;
    struct error err;
    char *result;

    if (read_html(html ? html : "", &b, &err) != 0)
        return err.kind == ERR_RETRYABLE ? NULL : strdup("");
    buf_init(&out, HTML_OUTPUT_MAX);
    for (size_t i = 0; i < b.count; i++) {
        for (size_t k = 0; k < b.blocks[i].count; k++) {
            const struct line *line = &b.blocks[i].lines[k];

            for (size_t r = 0; r < line->count; r++)
                buf_append_str(&out, line->runs[r].text);
            if (line->count)
                buf_append_str(&out, "\n");
        }
    }
    builder_free(&b);
    result = buf_detach(&out, NULL);
    return result ? result : strdup("");
}
