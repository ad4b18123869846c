/*
 * Made-up model output for the OpenAI emulation: JSON that matches a
 * Structured Outputs schema, or plain text, filled with English sentences
 * built from the prompt's own words. The same inputs and seed give the
 * same output, so a test can repeat a request and compare.
 *
 * Pure functions with no shared state: any thread may call them.
 */
#ifndef SITESMITH_SANDBOX_OPENAI_TEXT_H
#define SITESMITH_SANDBOX_OPENAI_TEXT_H

#include "core/error.h"

#include <jansson.h>
#include <stdint.h>

/*
 * Builds a JSON value that satisfies schema (the JSON Schema subset that
 * strict Structured Outputs accepts: object, array, string, number,
 * integer, boolean, null, type arrays, enum, const, anyOf, $ref to $defs,
 * minItems/maxItems, minLength/maxLength, minimum/maximum). prompt is the
 * text of the request's messages; schema_name is json_schema.name and
 * hints whether the text reads as a blog post or as product copy.
 * Returns a new reference, or NULL with err set when the schema uses a
 * construct it cannot satisfy.
 */
json_t *openai_text_fill_schema(const json_t *schema, const char *schema_name,
                                const char *prompt, uint64_t seed,
                                struct error *err);

/*
 * Writes a plain-text answer to prompt: a short Markdown article. The
 * caller frees the result; NULL when out of memory.
 */
char *openai_text_write(const char *prompt, uint64_t seed);

/*
 * Approximates the token count of text the way OpenAI's tokenizers land on
 * English prose: about four bytes per token, at least one for non-empty
 * text.
 */
int64_t openai_text_tokens(const char *text);

#endif
