#include "pipelines/ricos_html.h"

#include "core/buf.h"

#include <cmark-gfm.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* HTML entity names are at most 31 characters ("&CounterClockwise...;"). */
#define ENTITY_MAX 40

static const char *const dropped_elements[] = {
    "script",   "style", "template", "iframe", "object",
    "noscript", "svg",   "math",     "title",
};

static const char *const line_elements[] = {
    "address",    "article", "aside",  "blockquote", "br",     "caption",
    "dd",         "details", "div",    "dl",         "dt",     "fieldset",
    "figcaption", "figure",  "footer", "form",       "h1",     "h2",
    "h3",         "h4",      "h5",     "h6",         "header", "hr",
    "li",         "main",    "nav",    "ol",         "p",      "pre",
    "section",    "summary", "table",  "tbody",      "tfoot",  "thead",
    "tr",         "ul",
};

static int name_in(const char *name, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(name, names[i]) == 0)
            return 1;
    }
    return 0;
}

int ricos_html_drops_content(const char *name)
{
    return name_in(name, dropped_elements,
                   sizeof(dropped_elements) / sizeof(dropped_elements[0]));
}

int ricos_html_breaks_line(const char *name)
{
    return name_in(name, line_elements,
                   sizeof(line_elements) / sizeof(line_elements[0]));
}

/* Index just past the first match of needle at or after from, or len. */
static size_t skip_past(const char *s, size_t len, size_t from,
                        const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = from; i + n <= len; i++) {
        if (memcmp(s + i, needle, n) == 0)
            return i + n;
    }
    return len;
}

/* Index just past the '>' that closes a tag, skipping quoted values. */
static size_t skip_tag_end(const char *s, size_t len, size_t i)
{
    char quote = 0;

    for (; i < len; i++) {
        if (quote) {
            if (s[i] == quote)
                quote = 0;
        } else if (s[i] == '"' || s[i] == '\'') {
            quote = s[i];
        } else if (s[i] == '>') {
            return i + 1;
        }
    }
    return len;
}

static size_t read_name(const char *s, size_t len, size_t i,
                        struct ricos_html_tag *tag)
{
    size_t n = 0;

    while (i < len &&
           (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == ':')) {
        if (n + 1 < sizeof(tag->name))
            tag->name[n] = (char)tolower((unsigned char)s[i]);
        n++;
        i++;
    }
    tag->name[n < sizeof(tag->name) ? n : 0] = '\0';
    return i;
}

size_t ricos_html_parse_tag(const char *s, size_t len,
                            struct ricos_html_tag *tag)
{
    size_t i = 1;

    memset(tag, 0, sizeof(*tag));
    if (len < 2 || s[0] != '<')
        return 0;
    if (len >= 4 && memcmp(s, "<!--", 4) == 0)
        return skip_past(s, len, 2, "-->");
    if (len >= 9 && memcmp(s, "<![CDATA[", 9) == 0)
        return skip_past(s, len, 9, "]]>");
    if (s[1] == '!' || s[1] == '?')
        return skip_past(s, len, 2, ">");
    if (s[1] == '/') {
        tag->closing = 1;
        i = 2;
    }
    if (i >= len || !isalpha((unsigned char)s[i]))
        return 0;
    i = read_name(s, len, i, tag);
    return skip_tag_end(s, len, i);
}

/* Index just past the end tag "</name ...>" at or after from, or len. */
static size_t skip_element_content(const char *s, size_t len, size_t from,
                                   const char *name)
{
    size_t n = strlen(name);

    for (size_t i = from; i + 2 + n <= len; i++) {
        if (s[i] != '<' || s[i + 1] != '/' ||
            strncasecmp(s + i + 2, name, n) != 0)
            continue;
        if (i + 2 + n == len || isspace((unsigned char)s[i + 2 + n]) ||
            s[i + 2 + n] == '>' || s[i + 2 + n] == '/')
            return skip_tag_end(s, len, i + 2 + n);
    }
    return len;
}

static void encode_utf8(uint32_t code, char *out, size_t *n)
{
    if (code == 0 || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
        code = 0xFFFD;
    if (code < 0x80) {
        out[0] = (char)code;
        *n = 1;
    } else if (code < 0x800) {
        out[0] = (char)(0xC0 | (code >> 6));
        out[1] = (char)(0x80 | (code & 0x3F));
        *n = 2;
    } else if (code < 0x10000) {
        out[0] = (char)(0xE0 | (code >> 12));
        out[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        out[2] = (char)(0x80 | (code & 0x3F));
        *n = 3;
    } else {
        out[0] = (char)(0xF0 | (code >> 18));
        out[1] = (char)(0x80 | ((code >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((code >> 6) & 0x3F));
        out[3] = (char)(0x80 | (code & 0x3F));
        *n = 4;
    }
}

/* "&#65;" or "&#x41;" (body is between '&' and ';'); 0 when malformed. */
static int decode_numeric(const char *body, size_t n, char *out,
                          size_t *out_len)
{
    int hex = n >= 2 && (body[1] == 'x' || body[1] == 'X');
    size_t start = hex ? 2 : 1;
    uint32_t code = 0;

    if (n <= start || n - start > (hex ? 6u : 7u))
        return 0;
    for (size_t i = start; i < n; i++) {
        int c = (unsigned char)body[i];

        if (hex ? !isxdigit(c) : !isdigit(c))
            return 0;
        code = code * (hex ? 16 : 10) +
               (uint32_t)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
    }
    encode_utf8(code, out, out_len);
    return 1;
}

/*
 * Appends what the named entity "&name;" stands for, using cmark-gfm's own
 * entity table: the entity alone, parsed as Markdown, is a paragraph whose
 * text is the decoded character. An unknown name stays as written.
 */
static int append_named_entity(struct buf *out, const char *entity, size_t n)
{
    cmark_node *doc = cmark_parse_document(entity, n, CMARK_OPT_DEFAULT);
    cmark_node *para = doc ? cmark_node_first_child(doc) : NULL;
    cmark_node *text = para ? cmark_node_first_child(para) : NULL;
    const char *literal = NULL;
    int rc;

    if (text && cmark_node_get_type(text) == CMARK_NODE_TEXT &&
        !cmark_node_next(text))
        literal = cmark_node_get_literal(text);
    if (literal)
        rc = buf_append_str(out, literal);
    else
        rc = buf_append(out, entity, n);
    cmark_node_free(doc);
    return rc;
}

/* Length of the entity at s[0] == '&' up to and including ';', or 0. */
static size_t entity_length(const char *s, size_t len)
{
    size_t i = 1;

    if (len < 3)
        return 0;
    if (s[1] == '#') {
        i = 2;
        if (i < len && (s[i] == 'x' || s[i] == 'X'))
            i++;
        while (i < len && i < ENTITY_MAX && isxdigit((unsigned char)s[i]))
            i++;
    } else {
        if (!isalpha((unsigned char)s[1]))
            return 0;
        while (i < len && i < ENTITY_MAX && isalnum((unsigned char)s[i]))
            i++;
    }
    if (i >= len || s[i] != ';' || i < 2)
        return 0;
    return i + 1;
}

static int decode_entities(const char *s, size_t len, struct buf *out)
{
    size_t i = 0;

    while (i < len) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t plain = amp ? (size_t)(amp - (s + i)) : len - i;
        size_t n;
        char code[4];
        size_t code_len;

        if (buf_append(out, s + i, plain) != 0)
            return -1;
        i += plain;
        if (i >= len)
            break;
        n = entity_length(s + i, len - i);
        if (n == 0) {
            if (buf_append(out, "&", 1) != 0)
                return -1;
            i++;
            continue;
        }
        if (s[i + 1] == '#') {
            int known = decode_numeric(s + i + 1, n - 2, code, &code_len);

            if (buf_append(out, known ? code : s + i, known ? code_len : n))
                return -1;
        } else if (append_named_entity(out, s + i, n) != 0) {
            return -1;
        }
        i += n;
    }
    return 0;
}

static int is_html_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

/* Decodes raw, collapses its whitespace and appends it to lines when
 * anything is left. Empties raw. */
static int flush_line(struct buf *raw, json_t *lines)
{
    struct buf decoded;
    size_t length = 0;
    int rc = -1;

    buf_init(&decoded, raw->len * 2 + 16);
    if (decode_entities(raw->data ? raw->data : "", raw->len, &decoded) != 0)
        goto out;
    for (size_t i = 0; i < decoded.len; i++) {
        char c = decoded.data[i];

        if (is_html_space(c)) {
            if (length == 0 || decoded.data[length - 1] == ' ')
                continue;
            c = ' ';
        }
        decoded.data[length++] = c;
    }
    while (length > 0 && decoded.data[length - 1] == ' ')
        length--;
    rc = 0;
    if (length > 0)
        rc = json_array_append_new(lines, json_stringn(decoded.data, length));
out:
    buf_free(&decoded);
    buf_reset(raw);
    return rc;
}

/* Handles the tag at html[i]; returns the index after it and after any
 * content it drops. */
static size_t consume_tag(const char *html, size_t len, size_t i,
                          struct buf *raw, json_t *lines, int *failed)
{
    struct ricos_html_tag tag;
    size_t n = ricos_html_parse_tag(html + i, len - i, &tag);

    if (n == 0) {
        *failed |= buf_append(raw, "<", 1) != 0;
        return i + 1;
    }
    i += n;
    if (!tag.closing && ricos_html_drops_content(tag.name))
        return skip_element_content(html, len, i, tag.name);
    if (ricos_html_breaks_line(tag.name))
        *failed |= flush_line(raw, lines) != 0;
    else if (strcmp(tag.name, "td") == 0 || strcmp(tag.name, "th") == 0)
        *failed |= buf_append(raw, " ", 1) != 0;
    return i;
}

json_t *ricos_html_lines(const char *html, size_t len)
{
    json_t *lines = json_array();
    struct buf raw;
    size_t i = 0;
    int failed = 0;

    if (!lines)
        return NULL;
    buf_init(&raw, len + 1);
    while (i < len && !failed) {
        const char *lt = memchr(html + i, '<', len - i);
        size_t plain = lt ? (size_t)(lt - (html + i)) : len - i;

        failed |= buf_append(&raw, html + i, plain) != 0;
        i += plain;
        if (i < len)
            i = consume_tag(html, len, i, &raw, lines, &failed);
    }
    if (!failed)
        failed = flush_line(&raw, lines) != 0;
    buf_free(&raw);
    if (failed) {
        json_decref(lines);
        return NULL;
    }
    return lines;
}
