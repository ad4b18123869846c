#include "pipelines/ricos.h"

#include "core/buf.h"
#include "pipelines/ricos_html.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Beyond these, Markdown is parsed without tables (see tables_are_safe). */
#define TABLE_DELIMITER_ROWS_MAX 64
#define TABLE_LINE_PIPES_MAX 128

/* Width and height Wix's own examples give table columns and rows. */
#define TABLE_ROW_HEIGHT 47
#define TABLE_COLUMN_MIN_WIDTH 120

/* Where a block's output goes, which decides the node types it may use. */
enum context {
    CTX_ROOT,  /* the document: every block type */
    CTX_ITEM,  /* LIST_ITEM: paragraphs and nested lists */
    CTX_QUOTE, /* BLOCKQUOTE: paragraphs only */
};

struct conv {
    const struct ricos_options *opts;
    struct error *err;
    size_t max_bytes;
    size_t size_floor; /* bytes the document's JSON has at least so far */
};

/* The decorations of a run of text. */
struct style {
    int bold; /* nesting counts; > 0 means on */
    int italic;
    int strike;
    const char *link_url; /* NULL when the run is not a link */
    const char *link_target;
    int link_nofollow;
};

/*
 * Collects inline content into PARAGRAPH or HEADING nodes ("containers"),
 * split into TEXT runs wherever the decorations change.
 */
struct sink {
    struct conv *conv;
    json_t *out;           /* receives finished containers (and images) */
    int heading_level;     /* 0 makes PARAGRAPHs */
    int bold_all;          /* every run is bold */
    int allow_images;      /* IMAGE nodes may go to out */
    const char *alignment; /* PARAGRAPH textAlignment, or NULL */

    json_t *runs;           /* TEXT nodes of the open container */
    int has_content;        /* the open container has a non-space byte */
    int after_space;        /* the last byte added was a space */
    struct buf text;        /* the run being collected */
    struct style run_style; /* its decorations */

    struct style style; /* decorations where the walk is */
    int link_depth;     /* open links; only the outermost one counts */
    char *link_url;     /* storage behind style.link_url */
    char skip_tag[16];  /* inside <script> and the like: text is dropped */
};

static int convert_children(struct conv *c, cmark_node *parent, json_t *out,
                            enum context ctx, int depth);

/* Reports a failed allocation, unless a more precise error (a limit, the
 * resolver) made the allocation's input missing. */
static int out_of_memory(struct conv *c)
{
    if (c->err && c->err->kind != ERR_NONE)
        return -1;
    return error_set(c->err, ERR_PERMANENT,
                     "failed to build the rich-content document: out of "
                     "memory or text that is not valid UTF-8");
}

/* Sets key on obj, taking value (even on failure); -1 when value is NULL. */
static int put(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new(obj, key, value);
}

static int append(struct conv *c, json_t *array, json_t *node)
{
    if (json_array_append_new(array, node) != 0)
        return out_of_memory(c);
    return 0;
}

static int is_type(cmark_node *node, const char *name)
{
    const char *type = cmark_node_get_type_string(node);

    return type && strcmp(type, name) == 0;
}

static const char *literal_of(cmark_node *node)
{
    const char *literal = cmark_node_get_literal(node);

    return literal ? literal : "";
}

/*
 * Adds bytes to the minimum size of the document's JSON. Failing as soon
 * as that passes the limit keeps a huge document from being built only to
 * be rejected.
 */
static int grow(struct conv *c, size_t bytes)
{
    c->size_floor += bytes;
    if (c->size_floor <= c->max_bytes)
        return 0;
    return error_set(c->err, ERR_INVALID,
                     "the rich-content document is over the limit of %zu "
                     "bytes; shorten the post",
                     c->max_bytes);
}

/* A new {"type", "id", "nodes": []}, or NULL. assign_ids() sets the id. */
static json_t *node_new(struct conv *c, const char *type)
{
    json_t *node;

    /* {"type":"","id":"n1","nodes":[]} is 32 bytes plus the type. */
    if (grow(c, strlen(type) + 32) != 0)
        return NULL;
    node = json_pack("{s:s, s:s, s:[]}", "type", type, "id", "", "nodes");
    if (!node)
        out_of_memory(c);
    return node;
}

/* A node with its data object, e.g. ("HEADING", "headingData", {...}). */
static json_t *node_with_data(struct conv *c, const char *type, const char *key,
                              json_t *data)
{
    json_t *node = node_new(c, type);

    if (!node) {
        json_decref(data);
        return NULL;
    }
    if (put(node, key, data) != 0) {
        json_decref(node);
        out_of_memory(c);
        return NULL;
    }
    return node;
}

static json_t *paragraph_new(struct conv *c, const char *alignment)
{
    json_t *data = alignment ? json_pack("{s:{s:s}}", "textStyle",
                                         "textAlignment", alignment)
                             : json_object();

    return node_with_data(c, "PARAGRAPH", "paragraphData", data);
}

static json_t *decorations_new(const struct style *style, int bold_all)
{
    json_t *list = json_array();
    json_t *link;

    if (!list)
        return NULL;
    if ((style->bold > 0 || bold_all) &&
        json_array_append_new(list, json_pack("{s:s, s:i}", "type", "BOLD",
                                              "fontWeightValue", 700)))
        goto fail;
    if (style->italic > 0 &&
        json_array_append_new(
            list, json_pack("{s:s, s:b}", "type", "ITALIC", "italicData", 1)))
        goto fail;
    if (style->strike > 0 &&
        json_array_append_new(list,
                              json_pack("{s:s, s:b}", "type", "STRIKETHROUGH",
                                        "strikethroughData", 1)))
        goto fail;
    if (!style->link_url)
        return list;
    link = json_pack("{s:s, s:s}", "url", style->link_url, "target",
                     style->link_target);
    if (link && style->link_nofollow &&
        put(link, "rel", json_pack("{s:b}", "nofollow", 1)) != 0) {
        json_decref(link);
        link = NULL;
    }
    if (json_array_append_new(list, json_pack("{s:s, s:{s:o}}", "type", "LINK",
                                              "linkData", "link", link)))
        goto fail;
    return list;
fail:
    json_decref(list);
    return NULL;
}

/* A TEXT node. Line breaks become spaces, since Wix rejects them. */
static json_t *text_node(struct conv *c, const char *text, size_t len,
                         const struct style *style, int bold_all)
{
    json_t *node = node_new(c, "TEXT");
    json_t *data;
    char *copy = NULL;

    /* ,"textData":{"text":"","decorations":[]} is 40 bytes. */
    if (!node || grow(c, len + 40) != 0) {
        json_decref(node);
        return NULL;
    }
    data = json_object();
    if (put(node, "textData", data) != 0)
        goto fail;
    if (memchr(text, '\n', len) || memchr(text, '\r', len)) {
        copy = malloc(len + 1);
        if (!copy)
            goto fail;
        for (size_t i = 0; i < len; i++)
            copy[i] = text[i] == '\n' || text[i] == '\r' ? ' ' : text[i];
        text = copy;
    }
    if (put(data, "text", json_stringn(text, len)) != 0 ||
        put(data, "decorations", decorations_new(style, bold_all)) != 0)
        goto fail;
    free(copy);
    return node;
fail:
    free(copy);
    json_decref(node);
    out_of_memory(c);
    return NULL;
}

/* Appends a PARAGRAPH holding text undecorated (no TEXT when empty). */
static int plain_paragraph(struct conv *c, json_t *out, const char *text,
                           size_t len)
{
    static const struct style plain;
    json_t *para = paragraph_new(c, NULL);

    if (!para)
        return -1;
    if (len > 0 && append(c, json_object_get(para, "nodes"),
                          text_node(c, text, len, &plain, 0)) != 0) {
        json_decref(para);
        return -1;
    }
    return append(c, out, para);
}

/* ---- Links ---- */

static int is_scheme_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.';
}

/* Length of the URL's scheme ("https" in "https://"), 0 when it has none. */
static size_t scheme_length(const char *url)
{
    size_t i = 0;

    while (is_scheme_char(url[i]))
        i++;
    return i > 0 && url[i] == ':' ? i : 0;
}

/* True when url is site or a page under it. */
static int is_under_site(const char *url, const char *site, size_t site_len)
{
    return strncasecmp(url, site, site_len) == 0 &&
           (url[site_len] == '\0' || url[site_len] == '/' ||
            url[site_len] == '?' || url[site_len] == '#');
}

/* Whether a URL byte must be percent-encoded: controls, space and the
 * characters RFC 3986 never allows unencoded. */
static int needs_percent(unsigned char ch)
{
    return ch <= ' ' || ch == 0x7f || strchr("\"<>\\^`{|}", ch) != NULL;
}

/* prefix (prefix_len bytes) then url, percent-encoding what needs it. */
static char *url_join(const char *prefix, size_t prefix_len, const char *url)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = prefix_len;
    char *joined;
    char *p;

    for (const char *q = url; *q; q++)
        len += needs_percent((unsigned char)*q) ? 3 : 1;
    joined = malloc(len + 1);
    if (!joined)
        return NULL;
    memcpy(joined, prefix, prefix_len);
    p = joined + prefix_len;
    for (const unsigned char *q = (const unsigned char *)url; *q; q++) {
        if (!needs_percent(*q)) {
            *p++ = (char)*q;
            continue;
        }
        *p++ = '%';
        *p++ = hex[*q >> 4];
        *p++ = hex[*q & 0x0f];
    }
    *p = '\0';
    return joined;
}

/*
 * Decides where a Markdown link may point. Sets *url to a new string
 * (NULL when the link is dropped: a scheme other than http, https, mailto
 * and tel, or a relative URL without a site), *target and *nofollow.
 * Returns -1 only when out of memory.
 */
static int link_resolve(struct conv *c, const char *raw, char **url,
                        const char **target, int *nofollow)
{
    const char *site = c->opts->site_url;
    size_t site_len = site ? strlen(site) : 0;
    size_t scheme;

    *url = NULL;
    *target = "BLANK";
    *nofollow = 0;
    while (site_len > 0 && site[site_len - 1] == '/')
        site_len--;
    if (raw[0] == '/' && raw[1] == '/') {
        *url = url_join("https:", 6, raw);
    } else if (raw[0] == '/') {
        if (site_len == 0)
            return 0;
        *url = url_join(site, site_len, raw);
    } else {
        scheme = scheme_length(raw);
        if (!(scheme == 6 && strncasecmp(raw, "mailto", 6) == 0) &&
            !(scheme == 3 && strncasecmp(raw, "tel", 3) == 0) &&
            !(scheme == 4 && strncasecmp(raw, "http", 4) == 0) &&
            !(scheme == 5 && strncasecmp(raw, "https", 5) == 0))
            return 0;
        *url = url_join("", 0, raw);
    }
    if (!*url)
        return out_of_memory(c);
    if (strncasecmp(*url, "tel:", 4) == 0 ||
        strncasecmp(*url, "mailto:", 7) == 0 ||
        (site_len > 0 && is_under_site(*url, site, site_len)))
        *target = "SELF";
    else
        *nofollow = c->opts->link_nofollow != 0;
    return 0;
}

/* ---- Sink: inline content into PARAGRAPH / HEADING nodes ---- */

static void sink_init(struct sink *s, struct conv *c, json_t *out)
{
    memset(s, 0, sizeof(*s));
    s->conv = c;
    s->out = out;
    buf_init(&s->text, c->max_bytes * 2 + 64);
}

static void sink_free(struct sink *s)
{
    buf_free(&s->text);
    free(s->link_url);
    json_decref(s->runs);
}

static int style_equal(const struct style *a, const struct style *b)
{
    if ((a->bold > 0) != (b->bold > 0) || (a->italic > 0) != (b->italic > 0) ||
        (a->strike > 0) != (b->strike > 0))
        return 0;
    if (!a->link_url || !b->link_url)
        return a->link_url == b->link_url;
    return strcmp(a->link_url, b->link_url) == 0 &&
           strcmp(a->link_target, b->link_target) == 0 &&
           a->link_nofollow == b->link_nofollow;
}

/* Turns the collected text into a TEXT node of the open container. */
static int sink_flush_run(struct sink *s)
{
    struct conv *c = s->conv;
    json_t *node;

    if (s->text.len == 0)
        return 0;
    if (!s->runs && !(s->runs = json_array()))
        return out_of_memory(c);
    node = text_node(c, s->text.data, s->text.len, &s->run_style, s->bold_all);
    buf_reset(&s->text);
    return append(c, s->runs, node);
}

static int sink_text(struct sink *s, const char *text, size_t len)
{
    size_t start = s->text.len;

    if (s->skip_tag[0])
        return 0;
    /* No leading spaces, and one space where dropped HTML or a split
     * would leave two. */
    while ((!s->has_content || s->after_space) && len > 0 &&
           (*text == ' ' || *text == '\t')) {
        text++;
        len--;
    }
    if (len == 0)
        return 0;
    if (s->text.len > 0 && !style_equal(&s->run_style, &s->style)) {
        if (sink_flush_run(s) != 0)
            return -1;
        start = 0;
    }
    if (s->text.len == 0)
        s->run_style = s->style;
    if (buf_append(&s->text, text, len) != 0)
        return error_set(s->conv->err, ERR_INVALID,
                         "a paragraph of the post is over %zu bytes",
                         s->text.max);
    for (size_t i = start; i < s->text.len; i++) {
        if (s->text.data[i] == '\n' || s->text.data[i] == '\r')
            s->text.data[i] = ' ';
        if (s->text.data[i] != ' ' && s->text.data[i] != '\t')
            s->has_content = 1;
    }
    s->after_space = s->text.data[s->text.len - 1] == ' ';
    return 0;
}

/* Ends the open container: a PARAGRAPH or HEADING when it has text. */
static int sink_close(struct sink *s)
{
    struct conv *c = s->conv;
    int has_content = s->has_content;
    json_t *runs;
    json_t *node;

    while (s->text.len > 0 && s->text.data[s->text.len - 1] == ' ')
        s->text.data[--s->text.len] = '\0';
    if (sink_flush_run(s) != 0)
        return -1;
    runs = s->runs;
    s->runs = NULL;
    s->has_content = 0;
    s->after_space = 0;
    if (!runs || !has_content) {
        json_decref(runs);
        return 0;
    }
    if (s->heading_level > 0)
        node = node_with_data(c, "HEADING", "headingData",
                              json_pack("{s:i}", "level", s->heading_level));
    else
        node = paragraph_new(c, s->alignment);
    if (!node) {
        json_decref(runs);
        return -1;
    }
    if (put(node, "nodes", runs) != 0) {
        json_decref(node);
        return out_of_memory(c);
    }
    return append(c, s->out, node);
}

/* A hard line break: a new paragraph, or a space inside a heading. */
static int sink_break(struct sink *s)
{
    if (s->heading_level > 0)
        return sink_text(s, " ", 1);
    return sink_close(s);
}

static int sink_link_enter(struct sink *s, const char *raw_url)
{
    char *url;
    const char *target;
    int nofollow;

    if (s->link_depth++ > 0)
        return 0;
    if (link_resolve(s->conv, raw_url ? raw_url : "", &url, &target,
                     &nofollow) != 0)
        return -1;
    s->link_url = url;
    s->style.link_url = url;
    s->style.link_target = target;
    s->style.link_nofollow = nofollow;
    return 0;
}

static int sink_link_exit(struct sink *s)
{
    if (--s->link_depth > 0)
        return 0;
    /* The collected run points at link_url: finish it before freeing. */
    if (s->run_style.link_url && sink_flush_run(s) != 0)
        return -1;
    free(s->link_url);
    s->link_url = NULL;
    s->style.link_url = NULL;
    return 0;
}

static int sink_html(struct sink *s, const char *literal)
{
    struct ricos_html_tag tag;

    if (!ricos_html_parse_tag(literal, strlen(literal), &tag) || !tag.name[0])
        return 0;
    if (s->skip_tag[0]) {
        if (tag.closing && strcmp(tag.name, s->skip_tag) == 0)
            s->skip_tag[0] = '\0';
        return 0;
    }
    if (!tag.closing && ricos_html_drops_content(tag.name)) {
        memcpy(s->skip_tag, tag.name, sizeof(s->skip_tag));
        return 0;
    }
    if (strcmp(tag.name, "br") == 0)
        return sink_break(s);
    return 0;
}

/* The text of an image's description (its alt text), as a new string. */
static char *image_alt(struct conv *c, cmark_node *image)
{
    cmark_iter *iter = cmark_iter_new(image);
    cmark_event_type ev;
    struct buf alt;
    int failed = 0;

    buf_init(&alt, c->max_bytes * 2 + 64);
    while (!failed && (ev = cmark_iter_next(iter)) != CMARK_EVENT_DONE) {
        cmark_node *node = cmark_iter_get_node(iter);
        cmark_node_type type = cmark_node_get_type(node);

        if (ev != CMARK_EVENT_ENTER)
            continue;
        if (type == CMARK_NODE_TEXT || type == CMARK_NODE_CODE)
            failed = buf_append_str(&alt, literal_of(node));
        else if (type == CMARK_NODE_SOFTBREAK || type == CMARK_NODE_LINEBREAK)
            failed = buf_append(&alt, " ", 1);
    }
    cmark_iter_free(iter);
    failed = failed || buf_append(&alt, "", 0) != 0;
    if (failed) {
        buf_free(&alt);
        out_of_memory(c);
        return NULL;
    }
    for (size_t i = 0; i < alt.len; i++) {
        if (alt.data[i] == '\n' || alt.data[i] == '\r')
            alt.data[i] = ' ';
    }
    return buf_detach(&alt, NULL);
}

static json_t *image_node(struct conv *c, const struct ricos_image *image,
                          const char *alt)
{
    json_t *data = json_pack("{s:{s:{s:s}, s:s, s:b}, s:{s:{s:s}, s:i, s:i}}",
                             "containerData", "width", "size", "CONTENT",
                             "alignment", "CENTER", "textWrap", 1, "image",
                             "src", "id", image->media_id, "width",
                             image->width, "height", image->height);

    if (data && alt[0] && put(data, "altText", json_string(alt)) != 0) {
        json_decref(data);
        data = NULL;
    }
    if (!data) {
        out_of_memory(c);
        return NULL;
    }
    return node_with_data(c, "IMAGE", "imageData", data);
}

/* Whether url is absolute http or https, the only kind worth importing. */
static int is_web_url(const char *url)
{
    size_t scheme = scheme_length(url);

    return (scheme == 4 && strncasecmp(url, "http", 4) == 0) ||
           (scheme == 5 && strncasecmp(url, "https", 5) == 0);
}

/*
 * Asks the resolver about an image. Returns 1 when it placed an IMAGE
 * node, 0 when the image is unresolved, -1 on error.
 */
static int sink_resolve_image(struct sink *s, const char *url, const char *alt)
{
    struct conv *c = s->conv;
    struct ricos_image image;
    struct error resolver_err;
    enum ricos_image_status status;

    memset(&image, 0, sizeof(image));
    error_clear(&resolver_err);
    status = c->opts->resolve_image(c->opts->resolve_image_ctx, url, alt,
                                    &image, &resolver_err);
    if (status == RICOS_IMAGE_FAILED) {
        if (resolver_err.kind == ERR_NONE)
            error_set(&resolver_err, ERR_PERMANENT, "image resolver failed");
        error_prefix(&resolver_err, "image \"%.200s\"", url);
        if (c->err)
            *c->err = resolver_err;
        return -1;
    }
    if (status != RICOS_IMAGE_RESOLVED)
        return 0;
    image.media_id[sizeof(image.media_id) - 1] = '\0';
    if (!image.media_id[0] || image.width <= 0 || image.height <= 0)
        return error_set(c->err, ERR_INVALID,
                         "image \"%.200s\": the resolver returned media id "
                         "\"%s\" and size %dx%d; Wix needs an id and a "
                         "positive width and height",
                         url, image.media_id, image.width, image.height);
    if (sink_close(s) != 0)
        return -1;
    if (append(c, s->out, image_node(c, &image, alt)) != 0)
        return -1;
    return 1;
}

/* An unresolved image: nothing, or its alt text (or URL) as a link. */
static int sink_image_fallback(struct sink *s, const char *url, const char *alt)
{
    const char *text = alt[0] ? alt : url;

    if (s->conv->opts->unresolved_images == RICOS_UNRESOLVED_DROP)
        return 0;
    if (s->link_depth > 0)
        return sink_text(s, text, strlen(text));
    if (sink_link_enter(s, url) != 0)
        return -1;
    if (sink_text(s, text, strlen(text)) != 0)
        return -1;
    return sink_link_exit(s);
}

static int sink_image(struct sink *s, cmark_node *node)
{
    struct conv *c = s->conv;
    const char *url = cmark_node_get_url(node);
    char *alt;
    int rc = 0;

    if (s->skip_tag[0])
        return 0;
    if (!url)
        url = "";
    alt = image_alt(c, node);
    if (!alt)
        return -1;
    if (s->allow_images && c->opts->resolve_image && is_web_url(url))
        rc = sink_resolve_image(s, url, alt);
    if (rc == 0)
        rc = sink_image_fallback(s, url, alt);
    free(alt);
    return rc < 0 ? -1 : 0;
}

static int sink_event(struct sink *s, cmark_iter *iter, cmark_node *node,
                      cmark_event_type ev)
{
    int step = ev == CMARK_EVENT_ENTER ? 1 : -1;

    switch (cmark_node_get_type(node)) {
    case CMARK_NODE_TEXT:
    case CMARK_NODE_CODE:
        return sink_text(s, literal_of(node), strlen(literal_of(node)));
    case CMARK_NODE_SOFTBREAK:
        return sink_text(s, " ", 1);
    case CMARK_NODE_LINEBREAK:
        return sink_break(s);
    case CMARK_NODE_HTML_INLINE:
        return sink_html(s, literal_of(node));
    case CMARK_NODE_EMPH:
        s->style.italic += step;
        return 0;
    case CMARK_NODE_STRONG:
        s->style.bold += step;
        return 0;
    case CMARK_NODE_LINK:
        if (ev == CMARK_EVENT_ENTER)
            return sink_link_enter(s, cmark_node_get_url(node));
        return sink_link_exit(s);
    case CMARK_NODE_IMAGE:
        /* The description is the alt text: skip the image's children. */
        cmark_iter_reset(iter, node, CMARK_EVENT_EXIT);
        return sink_image(s, node);
    default:
        if (is_type(node, "strikethrough"))
            s->style.strike += step;
        return 0;
    }
}

/* Feeds the inline children of parent into the open container. */
static int sink_inlines(struct sink *s, cmark_node *parent)
{
    cmark_iter *iter = cmark_iter_new(parent);
    cmark_event_type ev;
    int rc = 0;

    while (rc == 0 && (ev = cmark_iter_next(iter)) != CMARK_EVENT_DONE) {
        cmark_node *node = cmark_iter_get_node(iter);

        if (node != parent)
            rc = sink_event(s, iter, node, ev);
    }
    cmark_iter_free(iter);
    s->skip_tag[0] = '\0';
    return rc;
}

/* ---- Blocks ---- */

/* A paragraph or heading: its inlines into containers appended to out. */
static int convert_text_block(struct conv *c, cmark_node *node, json_t *out,
                              int heading_level, int bold_all, int allow_images)
{
    struct sink s;
    int rc;

    sink_init(&s, c, out);
    s.heading_level = heading_level;
    s.bold_all = bold_all;
    s.allow_images = allow_images;
    rc = sink_inlines(&s, node);
    if (rc == 0)
        rc = sink_close(&s);
    sink_free(&s);
    return rc;
}

static int convert_heading(struct conv *c, cmark_node *node, json_t *out,
                           enum context ctx)
{
    int level = cmark_node_get_heading_level(node) + c->opts->heading_shift;

    if (level < 1)
        level = 1;
    if (level > 6)
        level = 6;
    if (ctx != CTX_ROOT)
        return convert_text_block(c, node, out, 0, 1, 0);
    return convert_text_block(c, node, out, level, 0, 0);
}

static int is_node_type(const json_t *node, const char *type)
{
    const char *value = json_string_value(json_object_get(node, "type"));

    return value && strcmp(value, type) == 0;
}

/* Makes sure nodes starts with a PARAGRAPH, as a LIST_ITEM must. */
static int ensure_leading_paragraph(struct conv *c, json_t *nodes)
{
    json_t *para;

    if (is_node_type(json_array_get(nodes, 0), "PARAGRAPH"))
        return 0;
    para = paragraph_new(c, NULL);
    if (!para || json_array_insert_new(nodes, 0, para) != 0)
        return para ? out_of_memory(c) : -1;
    return 0;
}

/*
 * A BULLETED_LIST or ORDERED_LIST. NOTE: an ordered list that starts at
 * another number ("3. a") restarts at 1, because the documented
 * orderedListData holds only an indentation.
 */
static int convert_list(struct conv *c, cmark_node *list, json_t *out,
                        int depth)
{
    int ordered = cmark_node_get_list_type(list) == CMARK_ORDERED_LIST;
    json_t *node =
        node_with_data(c, ordered ? "ORDERED_LIST" : "BULLETED_LIST",
                       ordered ? "orderedListData" : "bulletedListData",
                       json_pack("{s:i}", "indentation", 0));
    json_t *items = json_object_get(node, "nodes");

    if (!node)
        return -1;
    for (cmark_node *item = cmark_node_first_child(list); item;
         item = cmark_node_next(item)) {
        json_t *li = node_new(c, "LIST_ITEM");
        json_t *kids = json_object_get(li, "nodes");

        if (!li || append(c, items, li) != 0 ||
            convert_children(c, item, kids, CTX_ITEM, depth + 1) != 0 ||
            ensure_leading_paragraph(c, kids) != 0) {
            json_decref(node);
            return -1;
        }
    }
    return append(c, out, node);
}

/* Puts prefix ("• ", "3. ") in front of the first paragraph of nodes. */
static int prefix_paragraph(struct conv *c, json_t *nodes, const char *prefix)
{
    static const struct style plain;
    json_t *text;

    if (ensure_leading_paragraph(c, nodes) != 0)
        return -1;
    text = text_node(c, prefix, strlen(prefix), &plain, 0);
    if (!text)
        return -1;
    if (json_array_insert_new(
            json_object_get(json_array_get(nodes, 0), "nodes"), 0, text))
        return out_of_memory(c);
    return 0;
}

/* A list where only paragraphs may go: "• item" or "1. item" paragraphs. */
static int flatten_list(struct conv *c, cmark_node *list, json_t *out,
                        int depth)
{
    int ordered = cmark_node_get_list_type(list) == CMARK_ORDERED_LIST;
    long number = cmark_node_get_list_start(list);

    for (cmark_node *item = cmark_node_first_child(list); item;
         item = cmark_node_next(item), number++) {
        json_t *nodes = json_array();
        char prefix[32];
        int rc;

        if (ordered)
            snprintf(prefix, sizeof(prefix), "%ld. ", number);
        else
            snprintf(prefix, sizeof(prefix), "%s", "\xE2\x80\xA2 "); /* • */
        if (!nodes)
            return out_of_memory(c);
        rc = convert_children(c, item, nodes, CTX_QUOTE, depth + 1);
        if (rc == 0)
            rc = prefix_paragraph(c, nodes, prefix);
        if (rc == 0 && json_array_extend(out, nodes) != 0)
            rc = out_of_memory(c);
        json_decref(nodes);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* A BLOCKQUOTE of paragraphs; nothing when the quote has no text. */
static int convert_quote(struct conv *c, cmark_node *quote, json_t *out,
                         int depth)
{
    json_t *paragraphs = json_array();
    json_t *node;
    int rc;

    if (!paragraphs)
        return out_of_memory(c);
    rc = convert_children(c, quote, paragraphs, CTX_QUOTE, depth + 1);
    if (rc != 0 || json_array_size(paragraphs) == 0) {
        json_decref(paragraphs);
        return rc;
    }
    node = node_with_data(c, "BLOCKQUOTE", "blockquoteData",
                          json_pack("{s:i}", "indentation", 0));
    if (!node) {
        json_decref(paragraphs);
        return -1;
    }
    if (put(node, "nodes", paragraphs) != 0) {
        json_decref(node);
        return out_of_memory(c);
    }
    return append(c, out, node);
}

/* Length of the line at p (without its "\n" or "\r\n"); sets *next. */
static size_t next_line(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

    *next = nl ? nl + 1 : end;
    if (len > 0 && p[len - 1] == '\r')
        len--;
    return len;
}

/*
 * A CODE_BLOCK with one TEXT per line; nothing for an empty block.
 * NOTE: that Wix shows each TEXT of a code block on its own line is
 * unverified. Wix's authoring guide allows one TEXT per line or
 * "\n"-joined text, and forbids "\n" in text elsewhere, so this is the
 * form both rules accept.
 */
static int convert_code(struct conv *c, cmark_node *code, json_t *out)
{
    static const struct style plain;
    const char *p = cmark_node_get_literal(code);
    const char *end = p ? p + strlen(p) : NULL;
    json_t *node;
    json_t *lines;

    if (!p || p == end)
        return 0;
    node = node_with_data(
        c, "CODE_BLOCK", "codeBlockData",
        json_pack("{s:{s:s}}", "textStyle", "textAlignment", "AUTO"));
    lines = json_object_get(node, "nodes");
    if (!node)
        return -1;
    while (p < end) {
        const char *line = p;
        size_t len = next_line(p, end, &p);

        if (append(c, lines, text_node(c, line, len, &plain, 0)) != 0) {
            json_decref(node);
            return -1;
        }
    }
    return append(c, out, node);
}

/* A code block where only paragraphs may go: one per line. */
static int code_paragraphs(struct conv *c, cmark_node *code, json_t *out)
{
    const char *p = cmark_node_get_literal(code);
    const char *end = p ? p + strlen(p) : NULL;

    while (p && p < end) {
        const char *line = p;
        size_t len = next_line(p, end, &p);

        if (plain_paragraph(c, out, line, len) != 0)
            return -1;
    }
    return 0;
}

static int html_paragraphs(struct conv *c, cmark_node *html, json_t *out)
{
    const char *literal = cmark_node_get_literal(html);
    json_t *lines;
    size_t i;
    json_t *line;
    int rc = 0;

    if (!literal)
        return 0;
    lines = ricos_html_lines(literal, strlen(literal));
    if (!lines)
        return out_of_memory(c);
    json_array_foreach(lines, i, line)
    {
        rc = plain_paragraph(c, out, json_string_value(line),
                             json_string_length(line));
        if (rc != 0)
            break;
    }
    json_decref(lines);
    return rc;
}

static const char *alignment_name(uint8_t align)
{
    switch (align) {
    case 'l':
        return "LEFT";
    case 'c':
        return "CENTER";
    case 'r':
        return "RIGHT";
    default:
        return NULL;
    }
}

static json_t *table_cell(struct conv *c, cmark_node *cell, int header,
                          const char *alignment)
{
    json_t *node = node_with_data(
        c, "TABLE_CELL", "tableCellData",
        json_pack("{s:{s:s}}", "cellStyle", "verticalAlignment", "TOP"));
    json_t *kids = json_object_get(node, "nodes");
    struct sink s;
    int rc = 0;

    if (!node)
        return NULL;
    sink_init(&s, c, kids);
    s.bold_all = header;
    s.alignment = alignment;
    if (cell)
        rc = sink_inlines(&s, cell);
    if (rc == 0)
        rc = sink_close(&s);
    sink_free(&s);
    if (rc == 0 && json_array_size(kids) == 0)
        rc = append(c, kids, paragraph_new(c, alignment));
    if (rc != 0) {
        json_decref(node);
        return NULL;
    }
    return node;
}

/* A TABLE_ROW with exactly columns cells, padding short rows. */
static json_t *table_row(struct conv *c, cmark_node *row, uint16_t columns,
                         const uint8_t *alignments)
{
    int header = cmark_gfm_extensions_get_table_row_is_header(row);
    json_t *node = node_new(c, "TABLE_ROW");
    json_t *cells = json_object_get(node, "nodes");
    cmark_node *cell = cmark_node_first_child(row);

    if (!node)
        return NULL;
    for (uint16_t i = 0; i < columns; i++) {
        const char *align = alignments ? alignment_name(alignments[i]) : NULL;

        if (append(c, cells, table_cell(c, cell, header, align)) != 0) {
            json_decref(node);
            return NULL;
        }
        if (cell)
            cell = cmark_node_next(cell);
    }
    return node;
}

static json_t *table_dimensions(uint16_t columns, size_t rows)
{
    json_t *ratios = json_array();
    json_t *widths = json_array();
    json_t *heights = json_array();
    int failed = !ratios || !widths || !heights;

    for (uint16_t i = 0; i < columns && !failed; i++) {
        failed =
            json_array_append_new(ratios, json_integer(1)) ||
            json_array_append_new(widths, json_integer(TABLE_COLUMN_MIN_WIDTH));
    }
    for (size_t i = 0; i < rows && !failed; i++)
        failed = json_array_append_new(heights, json_integer(TABLE_ROW_HEIGHT));
    if (failed) {
        json_decref(ratios);
        json_decref(widths);
        json_decref(heights);
        return NULL;
    }
    return json_pack("{s:{s:o, s:o, s:o}}", "dimensions", "colsWidthRatio",
                     ratios, "colsMinWidth", widths, "rowsHeight", heights);
}

static int convert_table(struct conv *c, cmark_node *table, json_t *out)
{
    uint16_t columns = cmark_gfm_extensions_get_table_columns(table);
    const uint8_t *alignments =
        cmark_gfm_extensions_get_table_alignments(table);
    json_t *node = node_new(c, "TABLE");
    json_t *rows = json_object_get(node, "nodes");

    if (!node)
        return -1;
    for (cmark_node *row = cmark_node_first_child(table); row && columns > 0;
         row = cmark_node_next(row)) {
        if (append(c, rows, table_row(c, row, columns, alignments)) != 0) {
            json_decref(node);
            return -1;
        }
    }
    if (json_array_size(rows) == 0) {
        json_decref(node);
        return 0;
    }
    if (put(node, "tableData",
            table_dimensions(columns, json_array_size(rows))) != 0) {
        json_decref(node);
        return out_of_memory(c);
    }
    return append(c, out, node);
}

/* A table where only paragraphs may go: "a | b" per row. */
static int table_paragraphs(struct conv *c, cmark_node *table, json_t *out)
{
    int rc = 0;

    for (cmark_node *row = cmark_node_first_child(table); row && rc == 0;
         row = cmark_node_next(row)) {
        struct sink s;

        sink_init(&s, c, out);
        s.bold_all = cmark_gfm_extensions_get_table_row_is_header(row);
        for (cmark_node *cell = cmark_node_first_child(row); cell && rc == 0;
             cell = cmark_node_next(cell)) {
            if (cell != cmark_node_first_child(row))
                rc = sink_text(&s, " | ", 3);
            if (rc == 0)
                rc = sink_inlines(&s, cell);
        }
        if (rc == 0)
            rc = sink_close(&s);
        sink_free(&s);
    }
    return rc;
}

static int convert_block(struct conv *c, cmark_node *node, json_t *out,
                         enum context ctx, int depth)
{
    int root = ctx == CTX_ROOT;

    switch (cmark_node_get_type(node)) {
    case CMARK_NODE_PARAGRAPH:
        return convert_text_block(c, node, out, 0, 0, root);
    case CMARK_NODE_HEADING:
        return convert_heading(c, node, out, ctx);
    case CMARK_NODE_LIST:
        if (ctx == CTX_QUOTE)
            return flatten_list(c, node, out, depth);
        return convert_list(c, node, out, depth);
    case CMARK_NODE_BLOCK_QUOTE:
        if (root)
            return convert_quote(c, node, out, depth);
        return convert_children(c, node, out, CTX_QUOTE, depth + 1);
    case CMARK_NODE_CODE_BLOCK:
        return root ? convert_code(c, node, out)
                    : code_paragraphs(c, node, out);
    case CMARK_NODE_HTML_BLOCK:
        return html_paragraphs(c, node, out);
    case CMARK_NODE_THEMATIC_BREAK:
        if (!root)
            return 0;
        return append(
            c, out,
            node_with_data(c, "DIVIDER", "dividerData",
                           json_pack("{s:s, s:s, s:s}", "lineStyle", "SINGLE",
                                     "width", "LARGE", "alignment", "CENTER")));
    default:
        if (is_type(node, "table"))
            return root ? convert_table(c, node, out)
                        : table_paragraphs(c, node, out);
        return 0;
    }
}

static int convert_children(struct conv *c, cmark_node *parent, json_t *out,
                            enum context ctx, int depth)
{
    if (depth > RICOS_MAX_DEPTH)
        return error_set(c->err, ERR_INVALID,
                         "the Markdown nests quotes or lists more than %d "
                         "levels deep; flatten it",
                         RICOS_MAX_DEPTH);
    for (cmark_node *child = cmark_node_first_child(parent); child;
         child = cmark_node_next(child)) {
        if (convert_block(c, child, out, ctx, depth) != 0)
            return -1;
    }
    return 0;
}

/* ---- Entry point ---- */

static pthread_once_t extensions_once = PTHREAD_ONCE_INIT;

static void register_extensions(void)
{
    cmark_gfm_core_extensions_ensure_registered();
}

/* Whether a line (without its container markers) could be a table's
 * delimiter row, such as "|---|:-:|". */
static int is_delimiter_row(const char *line, size_t len)
{
    int has_dash = 0;
    int has_pipe = 0;
    size_t i = 0;

    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '>'))
        i++;
    for (; i < len; i++) {
        if (line[i] == '-')
            has_dash = 1;
        else if (line[i] == '|')
            has_pipe = 1;
        else if (line[i] != ':' && line[i] != ' ' && line[i] != '\t')
            return 0;
    }
    return has_dash && has_pipe;
}

/*
 * Whether cmark-gfm's table extension can parse text in reasonable time.
 * In 0.29.0.gfm.6 (Debian 12) it parses the open paragraph again at every
 * delimiter row, and a row's cells in quadratic time: 400 KB of
 * "|a|a...\n|-|\n" took 121 s on a 2-core machine, and 2.3 s within
 * these bounds.
 */
static int tables_are_safe(const char *text, size_t len)
{
    const char *end = text + len;
    size_t delimiter_rows = 0;

    for (const char *p = text; p < end;) {
        const char *line = p;
        size_t line_len = next_line(p, end, &p);

        if (memchr(line, '|', line_len) == NULL)
            continue;
        if (is_delimiter_row(line, line_len) &&
            ++delimiter_rows > TABLE_DELIMITER_ROWS_MAX)
            return 0;
        for (size_t i = 0, pipes = 0; i < line_len; i++) {
            if (line[i] == '|' && ++pipes > TABLE_LINE_PIPES_MAX)
                return 0;
        }
    }
    return 1;
}

/*
 * Parses with the GFM extensions; invalid UTF-8 becomes U+FFFD. Markdown
 * that would make the table extension too slow is parsed without it, so
 * that its tables stay text.
 */
static cmark_node *parse_markdown(const char *text, size_t len)
{
    static const char *const names[] = {"table", "strikethrough", "autolink"};
    int skip_tables = !tables_are_safe(text, len);
    cmark_parser *parser;
    cmark_node *root;

    pthread_once(&extensions_once, register_extensions);
    parser = cmark_parser_new(CMARK_OPT_VALIDATE_UTF8);
    if (!parser)
        return NULL;
    for (size_t i = skip_tables ? 1 : 0; i < sizeof(names) / sizeof(names[0]);
         i++) {
        cmark_syntax_extension *ext = cmark_find_syntax_extension(names[i]);

        if (!ext || !cmark_parser_attach_syntax_extension(parser, ext)) {
            cmark_parser_free(parser);
            return NULL;
        }
    }
    cmark_parser_feed(parser, text, len);
    root = cmark_parser_finish(parser);
    cmark_parser_free(parser);
    return root;
}

/* Numbers the nodes "n1", "n2", ... in document order. */
static int assign_ids(struct conv *c, json_t *nodes, unsigned long *next)
{
    json_t *node;
    size_t i;

    json_array_foreach(nodes, i, node)
    {
        char id[24];

        snprintf(id, sizeof(id), "n%lu", ++*next);
        if (put(node, "id", json_string(id)) != 0)
            return out_of_memory(c);
        if (assign_ids(c, json_object_get(node, "nodes"), next) != 0)
            return -1;
    }
    return 0;
}

/* Converts the parse tree; checks the result's size and shape. */
static json_t *convert_document(struct conv *c, cmark_node *root)
{
    json_t *doc = json_object();
    json_t *nodes = json_array();
    unsigned long next_id = 0;
    size_t size;

    if (!doc || put(doc, "nodes", nodes) != 0) {
        json_decref(doc);
        out_of_memory(c);
        return NULL;
    }
    if (convert_children(c, root, nodes, CTX_ROOT, 0) != 0 ||
        assign_ids(c, nodes, &next_id) != 0)
        goto fail;
    size = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    if (size > c->max_bytes) {
        error_set(c->err, ERR_INVALID,
                  "the rich-content document is %zu bytes, over the limit "
                  "of %zu bytes; shorten the post",
                  size, c->max_bytes);
        goto fail;
    }
    if (ricos_validate(doc, c->err) != 0) {
        error_prefix(c->err, "the converter built an invalid document");
        if (c->err)
            c->err->kind = ERR_PERMANENT;
        goto fail;
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

json_t *ricos_from_markdown(const char *markdown, size_t len,
                            const struct ricos_options *opts, struct error *err)
{
    static const struct ricos_options defaults;
    struct conv c;
    cmark_node *root;
    json_t *doc;

    error_clear(err);
    memset(&c, 0, sizeof(c));
    c.opts = opts ? opts : &defaults;
    c.err = err;
    c.max_bytes =
        c.opts->max_bytes ? c.opts->max_bytes : RICOS_DEFAULT_MAX_BYTES;
    if (!markdown && len > 0) {
        error_set(err, ERR_INVALID, "markdown is NULL but len is %zu", len);
        return NULL;
    }
    if (len > c.max_bytes) {
        error_set(err, ERR_INVALID,
                  "the Markdown body is %zu bytes, over the limit of %zu "
                  "bytes; shorten the post",
                  len, c.max_bytes);
        return NULL;
    }
    root = parse_markdown(markdown ? markdown : "", len);
    if (!root) {
        error_set(err, ERR_PERMANENT,
                  "cmark-gfm could not parse the Markdown: its table, "
                  "strikethrough or autolink extension is missing");
        return NULL;
    }
    doc = convert_document(&c, root);
    cmark_node_free(root);
    return doc;
}
