/*
 * Markdown to Wix rich content ("Ricos"), the format of a blog draft's
 * richContent: a tree of {"type", "id", "nodes", "<xxx>Data"} objects.
 *
 * The converter reads cmark-gfm's parse tree (CommonMark plus the GFM
 * table, strikethrough and autolink extensions) and emits only node types
 * and nesting that Wix accepts:
 *
 *   root       -> PARAGRAPH, HEADING, BULLETED_LIST, ORDERED_LIST,
 *                 BLOCKQUOTE, CODE_BLOCK, DIVIDER, IMAGE, TABLE
 *   PARAGRAPH, HEADING, CODE_BLOCK -> TEXT
 *   lists      -> LIST_ITEM -> PARAGRAPH (first), then PARAGRAPH or lists
 *   BLOCKQUOTE -> PARAGRAPH
 *   TABLE -> TABLE_ROW -> TABLE_CELL -> PARAGRAPH
 *
 * Choices where Markdown and Ricos differ:
 * - No TEXT contains a line break. A soft break becomes a space. A hard
 *   break (two spaces, backslash or <br>) ends the paragraph and starts a
 *   new one in the same container; inside a heading it becomes a space.
 * - Inline code is plain text: Ricos has no inline-code decoration.
 * - A code block is one CODE_BLOCK with one TEXT per line (an empty TEXT
 *   for a blank line).
 * - Containers that take only paragraphs (BLOCKQUOTE, LIST_ITEM, table
 *   cells) get other blocks flattened into paragraphs: a heading becomes
 *   a bold paragraph, code one plain paragraph per line, a list inside a
 *   quote "• item" or "1. item" paragraphs, a table one "a | b" paragraph
 *   per row; thematic breaks there are dropped.
 * - Raw HTML is never passed through. Tags are removed and their text
 *   kept as plain text; the contents of script, style, template, iframe,
 *   object, noscript, svg, math and title elements and all comments are
 *   dropped.
 * - Link titles are dropped (the Ricos link has no title). Links with a
 *   scheme other than http, https, mailto or tel are dropped, keeping the
 *   text. Site-relative links ("/about") need ricos_options.site_url.
 * - Images become IMAGE nodes only at the top level and only when the
 *   resolver maps the URL to a Wix media file; otherwise they follow
 *   ricos_options.unresolved_images.
 * - Markdown with more than 64 table delimiter rows ("|---|"), or a line
 *   with more than 128 '|', is parsed without the table extension, so its
 *   tables stay text: cmark-gfm 0.29.0.gfm.6 parses such input in
 *   quadratic time.
 * - Empty or whitespace-only Markdown gives {"nodes":[]}.
 * - Node ids are "n1", "n2", ... in document order (depth first), so the
 *   same input and options always give the same document.
 */
#ifndef SITESMITH_PIPELINES_RICOS_H
#define SITESMITH_PIPELINES_RICOS_H

#include "core/error.h"

#include <jansson.h>
#include <stddef.h>

/* Wix rejects draft posts over 400 KB. The default limit applies to both
 * the Markdown input and the compact JSON of the document. */
#define RICOS_DEFAULT_MAX_BYTES ((size_t)400 * 1000)

/* Markdown blocks (quotes, lists) nested deeper than this are rejected. */
#define RICOS_MAX_DEPTH 32

#define RICOS_MEDIA_ID_MAX 256

/* A Markdown image URL resolved to a file in the site's Media Manager. */
struct ricos_image {
    char media_id[RICOS_MEDIA_ID_MAX]; /* e.g. "4acbb8_1a2b~mv2.png" */
    int width;                         /* pixels, must be > 0 */
    int height;                        /* pixels, must be > 0 */
};

enum ricos_image_status {
    RICOS_IMAGE_FAILED = -1,    /* err is set; the conversion fails */
    RICOS_IMAGE_UNRESOLVED = 0, /* see ricos_options.unresolved_images */
    RICOS_IMAGE_RESOLVED = 1,   /* out is filled */
};

/*
 * Maps an image URL (and its alt text, "" when none) to a Wix media file.
 * Called synchronously from ricos_from_markdown(), on its thread, once per
 * top-level image with an http or https URL, in document order. A
 * resolver that imports media should reuse earlier imports on a retry.
 */
typedef enum ricos_image_status (*ricos_image_resolver_fn)(
    void *ctx, const char *url, const char *alt, struct ricos_image *out,
    struct error *err);

/* What becomes of an image that was not resolved. */
enum ricos_unresolved_image {
    RICOS_UNRESOLVED_AS_LINK = 0, /* its alt text (or URL) linking to it */
    RICOS_UNRESOLVED_DROP,        /* nothing */
};

/* Conversion settings. All-zero (or a NULL pointer) gives the defaults. */
struct ricos_options {
    /* Added to every heading level, capped at 6. 1 turns "# A" into an H2,
     * for posts whose title is already the page's H1. */
    int heading_shift;

    /* Adds rel.nofollow to links that leave the site. */
    int link_nofollow;

    /* The site's base URL, e.g. "https://example.com". Links under it open
     * in the same tab (target SELF); "/path" links are made absolute with
     * it, and dropped when it is NULL. Other links open in a new tab. */
    const char *site_url;

    ricos_image_resolver_fn resolve_image; /* NULL: no image resolves */
    void *resolve_image_ctx;
    enum ricos_unresolved_image unresolved_images;

    /* Limit for the Markdown and for the document, in bytes; 0 means
     * RICOS_DEFAULT_MAX_BYTES. Set it lower to leave room for the rest of
     * the draft post. */
    size_t max_bytes;
};

/*
 * Converts len bytes of Markdown to {"nodes":[...]}. Invalid UTF-8 and NUL
 * bytes are replaced with U+FFFD. Returns a new reference (the caller
 * json_decref()s it) that passes ricos_validate(), or NULL with err set:
 * ERR_INVALID when the Markdown or the document exceeds the byte limit or
 * nests too deep, the resolver's error when it fails, ERR_PERMANENT when
 * memory runs out. Any thread may call it; opts is only read.
 *
 * Cost, measured on a 2-core machine: about 6 ms for an 8 KB post, and at
 * most about 1.6 s for the slowest 400 KB inputs found (cmark-gfm's
 * autolink extension on "a@b.a@b..." is the slowest).
 */
json_t *ricos_from_markdown(const char *markdown, size_t len,
                            const struct ricos_options *opts,
                            struct error *err);

/*
 * Checks a rich-content document against the nesting and data rules Wix
 * enforces: known node types, TEXT only inside PARAGRAPH, HEADING,
 * CODE_BLOCK or CAPTION, lists of LIST_ITEMs that start with a PARAGRAPH,
 * BLOCKQUOTE and TABLE_CELL holding PARAGRAPHs, TABLE -> TABLE_ROW ->
 * TABLE_CELL, no line break in any text, heading levels 1 to 6, links
 * with a URL, images with a source and a positive width and height, and
 * unique non-empty ids. Returns 0, or -1 with err (ERR_INVALID) naming the
 * node's path, e.g. "nodes[2].nodes[0]: Expected a paragraph node but
 * found TEXT". Any thread may call it.
 */
int ricos_validate(const json_t *doc, struct error *err);

/*
 * Returns the document's text, one line per paragraph, heading, caption
 * and code line, each ending in "\n" (for excerpts and reading time).
 * The caller frees it. NULL when doc has no "nodes" array or memory runs
 * out. Any thread may call it.
 */
char *ricos_plain_text(const json_t *doc);

#endif
