/*
 * Product text for Wix Stores: lengths counted the way Wix counts them,
 * plain text shortened at word breaks, and description HTML reduced to the
 * subset that Catalog V1 keeps.
 *
 * The HTML subset written here: <p>, <ul>, <ol>, <li>, <strong>, <u> and
 * <a href> with target="_blank" when the source asked for it. Wix's
 * documentation lists these (plus coloured <span>s); whether <em> and <h2>
 * survive a write is not documented, so emphasis is dropped (its text
 * kept) and headings become bold paragraphs.
 *
 * Nothing here cuts inside a word or a tag: text that is too long loses
 * whole trailing paragraphs, then whole list items, and only when not even
 * the first block fits, the words at its end.
 *
 * All functions are pure and may be called from any thread.
 */
#ifndef SITESMITH_PIPELINES_PRODUCTS_TEXT_H
#define SITESMITH_PIPELINES_PRODUCTS_TEXT_H

#include "core/error.h"

#include <stddef.h>

/*
 * Length of UTF-8 text in UTF-16 code units, as JavaScript counts: a
 * character outside the Basic Multilingual Plane (most emoji) counts 2.
 * Each invalid byte counts 1. NOTE: whether Wix counts UTF-16 units or
 * characters is not documented; UTF-16 units are the stricter of the two.
 */
size_t products_text_length(const char *text);

/*
 * Makes a plain-text field (name, SEO title, meta description) of at most
 * max units from model output. Whitespace runs, line breaks included,
 * become one space and the ends are trimmed. Longer text is cut at the
 * last word break that fits, and punctuation left dangling at the cut is
 * dropped. A word break is a space, or the point between two CJK
 * characters, which are written without spaces. *shortened (may be NULL)
 * is set to 1 when text was cut. Returns a new string the caller frees,
 * or NULL with err set: ERR_PERMANENT when the text is empty or no break
 * lies within max.
 */
char *products_text_fit(const char *text, size_t max, int *shortened,
                        struct error *err);

/*
 * Cleans description HTML into the subset above, at most max units long
 * (see the file comment for how it shortens). Entities are decoded and
 * written back only where HTML needs them (&amp; &lt; &gt; &quot;);
 * scripts, styles and comments are dropped; links other than http,
 * https, mailto and tel lose their tag but keep their text. *shortened
 * (may be NULL) is set to 1 when content was dropped to fit. Returns a
 * new string the caller frees, or NULL with err set (ERR_PERMANENT when
 * no text is left or nothing fits).
 */
char *products_html_clean(const char *html, size_t max, int *shortened,
                          struct error *err);

/*
 * The form in which two descriptions are compared when Wix may have
 * re-serialised one of them: the cleaned subset without a length limit
 * ("" for a description with no visible text). Returns a new string the
 * caller frees, or NULL when out of memory.
 */
char *products_html_canonical(const char *html);

/*
 * The visible text of description HTML, one line per paragraph or list
 * item, each ending in "\n" ("" when there is none). Returns a new string
 * the caller frees, or NULL when out of memory.
 */
char *products_html_text(const char *html);

#endif
