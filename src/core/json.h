/*
 * Typed access to jansson values by path, with errors that name the path:
 * "draftPost.title: expected a string, found null".
 *
 * A path is dot-separated keys with optional [index] parts:
 * "choices[0].message.content". Keys containing '.' or '[' can't be named.
 */
#ifndef SITESMITH_CORE_JSON_H
#define SITESMITH_CORE_JSON_H

#include "core/error.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The value at path, or NULL when any part is missing. Borrowed. */
json_t *json_at(const json_t *root, const char *path);

/*
 * Required fields: on a missing or mistyped value they set err (kind
 * ERR_INVALID unless told otherwise) and return -1. Borrowed results.
 */
int json_get_string(const json_t *root, const char *path, const char **out,
                    struct error *err);
int json_get_int(const json_t *root, const char *path, int64_t *out,
                 struct error *err);
int json_get_number(const json_t *root, const char *path, double *out,
                    struct error *err);
int json_get_bool(const json_t *root, const char *path, int *out,
                  struct error *err);
int json_get_object(const json_t *root, const char *path, json_t **out,
                    struct error *err);
int json_get_array(const json_t *root, const char *path, json_t **out,
                   struct error *err);

/* Optional fields: fallback when missing or null; -1 only on a wrong type. */
int json_opt_string(const json_t *root, const char *path, const char *fallback,
                    const char **out, struct error *err);
int json_opt_int(const json_t *root, const char *path, int64_t fallback,
                 int64_t *out, struct error *err);
int json_opt_bool(const json_t *root, const char *path, int fallback, int *out,
                  struct error *err);

/* A jansson type as a word: "a string", "an object", "null". */
const char *json_type_phrase(const json_t *value);

/*
 * Parses text of the given length as a JSON document, rejecting nesting
 * deeper than max_depth. Returns a new reference or NULL with err set
 * (ERR_INVALID, naming line and column).
 */
json_t *json_parse(const char *text, size_t length, int max_depth,
                   struct error *err);

/* Compact serialisation; the caller frees the result. NULL on failure. */
char *json_to_string(const json_t *value);

#endif
