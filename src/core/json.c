#include "core/json.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

json_t *json_at(const json_t *root, const char *path)
{
    const json_t *current = root;
    const char *p = path;

    while (current && *p) {
        char key[256];
        size_t length = strcspn(p, ".[");

        if (length > 0) {
            if (length >= sizeof(key) || !json_is_object(current))
                return NULL;
            memcpy(key, p, length);
            key[length] = '\0';
            current = json_object_get(current, key);
            p += length;
        }
        while (current && *p == '[') {
            char *end;
            unsigned long index = strtoul(p + 1, &end, 10);

            if (*end != ']' || !json_is_array(current))
                return NULL;
            current = json_array_get(current, index);
            p = end + 1;
        }
        if (*p == '.')
            p++;
    }
    return (json_t *)current;
}

const char *json_type_phrase(const json_t *value)
{
    if (!value)
        return "nothing";
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

static int wrong_type(const json_t *value, const char *path,
                      const char *expected, struct error *err)
{
    if (!value)
        return error_set(err, ERR_INVALID, "%s: missing, expected %s", path,
                         expected);
    return error_set(err, ERR_INVALID, "%s: expected %s, found %s", path,
                     expected, json_type_phrase(value));
}

int json_get_string(const json_t *root, const char *path, const char **out,
                    struct error *err)
{
    json_t *value = json_at(root, path);

    if (!json_is_string(value))
        return wrong_type(value, path, "a string", err);
    *out = json_string_value(value);
    return 0;
}

int json_get_int(const json_t *root, const char *path, int64_t *out,
                 struct error *err)
{
    json_t *value = json_at(root, path);

    if (!json_is_integer(value))
        return wrong_type(value, path, "an integer", err);
    *out = json_integer_value(value);
    return 0;
}

int json_get_number(const json_t *root, const char *path, double *out,
                    struct error *err)
{
    json_t *value = json_at(root, path);

    if (!json_is_number(value))
        return wrong_type(value, path, "a number", err);
    *out = json_number_value(value);
    return 0;
}

int json_get_bool(const json_t *root, const char *path, int *out,
                  struct error *err)
{
    json_t *value = json_at(root, path);

    if (!json_is_boolean(value))
        return wrong_type(value, path, "a boolean", err);
    *out = json_is_true(value);
    return 0;
}

int json_get_object(const json_t *root, const char *path, json_t **out,
                    struct error *err)
{
    json_t *value = json_at(root, path);

    if (!json_is_object(value))
        return wrong_type(value, path, "an object", err);
    *out = value;
    return 0;
}

int json_get_array(const json_t *root, const char *path, json_t **out,
                   struct error *err)
{
    json_t *value = json_at(root, path);

    if (!json_is_array(value))
        return wrong_type(value, path, "an array", err);
    *out = value;
    return 0;
}

int json_opt_string(const json_t *root, const char *path, const char *fallback,
                    const char **out, struct error *err)
{
    json_t *value = json_at(root, path);

    if (!value || json_is_null(value)) {
        *out = fallback;
        return 0;
    }
    return json_get_string(root, path, out, err);
}

int json_opt_int(const json_t *root, const char *path, int64_t fallback,
                 int64_t *out, struct error *err)
{
    json_t *value = json_at(root, path);

    if (!value || json_is_null(value)) {
        *out = fallback;
        return 0;
    }
    return json_get_int(root, path, out, err);
}

int json_opt_bool(const json_t *root, const char *path, int fallback, int *out,
                  struct error *err)
{
    json_t *value = json_at(root, path);

    if (!value || json_is_null(value)) {
        *out = fallback;
        return 0;
    }
    return json_get_bool(root, path, out, err);
}

/* Returns the deepest nesting of arrays and objects, strings skipped. */
static int nesting_depth(const char *text, size_t length, int limit)
{
    int depth = 0;
    int deepest = 0;
    int in_string = 0;

    for (size_t i = 0; i < length; i++) {
        char c = text[i];

        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > deepest)
                deepest = depth;
            if (deepest > limit)
                return deepest;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return deepest;
}

json_t *json_parse(const char *text, size_t length, int max_depth,
                   struct error *err)
{
    json_error_t parse_error;
    json_t *root;

    if (max_depth > 0 && nesting_depth(text, length, max_depth) > max_depth) {
        error_set(err, ERR_INVALID,
                  "invalid JSON: nested deeper than %d levels", max_depth);
        return NULL;
    }
    root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &parse_error);
    if (!root) {
        error_set(err, ERR_INVALID, "invalid JSON at line %d, column %d: %s",
                  parse_error.line, parse_error.column, parse_error.text);
        return NULL;
    }
    return root;
}

char *json_to_string(const json_t *value)
{
    return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
}
