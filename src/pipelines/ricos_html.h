/*
 * Raw HTML found in Markdown, reduced to plain text for the Ricos
 * converter (ricos.c). Nothing here produces HTML: tags are recognised
 * only to be removed.
 */
#ifndef SITESMITH_PIPELINES_RICOS_HTML_H
#define SITESMITH_PIPELINES_RICOS_HTML_H

#include <jansson.h>
#include <stddef.h>

/* One tag. name is lower case, and "" for comments, declarations,
 * processing instructions, CDATA and names of 16 or more characters. */
struct ricos_html_tag {
    char name[16];
    int closing; /* </name> */
};

/*
 * Reads the tag, comment, declaration or processing instruction at s, where
 * s[0] is '<'. Returns the bytes it spans (up to len when it is not
 * closed), or 0 when the '<' starts none of them and is plain text.
 */
size_t ricos_html_parse_tag(const char *s, size_t len,
                            struct ricos_html_tag *tag);

/* True for elements whose contents are dropped with them: script, style,
 * template, iframe, object, noscript, svg, math and title. */
int ricos_html_drops_content(const char *name);

/* True for elements that end a line of text: br and the block elements
 * (p, div, li, h1 to h6, tr, ...). */
int ricos_html_breaks_line(const char *name);

/*
 * Converts an HTML fragment to its visible text as a new array of
 * non-empty strings, one per line that br or a block element starts.
 * Entities are decoded, runs of whitespace become one space, and no string
 * contains a line break. Returns NULL when memory runs out.
 */
json_t *ricos_html_lines(const char *html, size_t len);

#endif
