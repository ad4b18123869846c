/*
 * Wix query filters and sorting over JSON items, as the query endpoints
 * take them: {"field": value} or {"field": {"$op": value}}, combined with
 * $and, $or and $not.
 *
 * NOTE: $contains and $startsWith ignore ASCII case here; Wix documents
 * the operators but not their case rules.
 */
#include "wix.h"

#include "core/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct filter_context {
    wix_field_fn field_path;
    struct error *err;
};

static int matches(const json_t *item, const json_t *filter,
                   struct filter_context *ctx, int depth);

/* A number for a JSON number or a numeric string; 0 when neither. */
static int as_number(const json_t *value, double *out)
{
    char *end;

    if (json_is_number(value)) {
        *out = json_number_value(value);
        return 1;
    }
    if (json_is_string(value) && json_string_length(value) > 0) {
        *out = strtod(json_string_value(value), &end);
        return *end == '\0';
    }
    return 0;
}

static int type_rank(const json_t *value)
{
    if (!value || json_is_null(value))
        return 0;
    if (json_is_boolean(value))
        return 1;
    if (json_is_number(value))
        return 2;
    if (json_is_string(value))
        return 3;
    return 4;
}

int wix_compare(const json_t *a, const json_t *b)
{
    double x;
    double y;

    if (as_number(a, &x) && as_number(b, &y))
        return (x > y) - (x < y);
    if (json_is_string(a) && json_is_string(b))
        return strcmp(json_string_value(a), json_string_value(b));
    if (json_is_boolean(a) && json_is_boolean(b))
        return json_is_true(a) - json_is_true(b);
    if (type_rank(a) != type_rank(b))
        return type_rank(a) - type_rank(b);
    return json_equal((json_t *)a, (json_t *)b) ? 0 : 1;
}

static int equals(const json_t *value, const json_t *operand)
{
    size_t i;
    json_t *element;

    if (json_is_array(value) && !json_is_array(operand)) {
        json_array_foreach(value, i, element)
        {
            if (wix_compare(element, operand) == 0)
                return 1;
        }
        return 0;
    }
    return value && wix_compare(value, operand) == 0;
}

static int contains_any(const json_t *value, const json_t *operands, int all)
{
    size_t i;
    json_t *operand;
    size_t found = 0;

    json_array_foreach(operands, i, operand)
    {
        if (equals(value, operand))
            found++;
    }
    return all ? found == json_array_size(operands) : found > 0;
}

static int text_test(const json_t *value, const json_t *operand, const char *op)
{
    const char *text = json_string_value(value);
    const char *part = json_string_value(operand);
    size_t text_len;
    size_t part_len;

    if (!text || !part)
        return 0;
    text_len = strlen(text);
    part_len = strlen(part);
    if (strcmp(op, "$startsWith") == 0)
        return strncasecmp(text, part, part_len) == 0;
    if (strcmp(op, "$endsWith") == 0)
        return text_len >= part_len &&
               strcasecmp(text + text_len - part_len, part) == 0;
    return strcasestr(text, part) != NULL;
}

static int is_empty(const json_t *value)
{
    if (!value || json_is_null(value))
        return 1;
    if (json_is_string(value))
        return json_string_length(value) == 0;
    if (json_is_array(value))
        return json_array_size(value) == 0;
    if (json_is_object(value))
        return json_object_size(value) == 0;
    return 0;
}

/* Applies one operator; -1 with ctx->err set when it is unknown or its
 * operand has the wrong type. */
static int apply_operator(const json_t *value, const char *op,
                          const json_t *operand, struct filter_context *ctx)
{
    int sign =
        (value && !json_is_null(value)) ? wix_compare(value, operand) : 0;
    int present = value && !json_is_null(value);

    if (strcmp(op, "$eq") == 0)
        return json_is_null(operand) ? !present : equals(value, operand);
    if (strcmp(op, "$ne") == 0)
        return json_is_null(operand) ? present : !equals(value, operand);
    if (strcmp(op, "$gt") == 0)
        return present && sign > 0;
    if (strcmp(op, "$gte") == 0)
        return present && sign >= 0;
    if (strcmp(op, "$lt") == 0)
        return present && sign < 0;
    if (strcmp(op, "$lte") == 0)
        return present && sign <= 0;
    if (strcmp(op, "$exists") == 0 && json_is_boolean(operand))
        return present == json_is_true(operand);
    if (strcmp(op, "$isEmpty") == 0 && json_is_boolean(operand))
        return is_empty(value) == json_is_true(operand);
    if ((strcmp(op, "$contains") == 0 || strcmp(op, "$startsWith") == 0 ||
         strcmp(op, "$endsWith") == 0) &&
        json_is_string(operand))
        return text_test(value, operand, op);
    if (json_is_array(operand)) {
        if (strcmp(op, "$in") == 0 || strcmp(op, "$hasSome") == 0)
            return contains_any(value, operand, 0);
        if (strcmp(op, "$nin") == 0)
            return !contains_any(value, operand, 0);
        if (strcmp(op, "$hasAll") == 0)
            return contains_any(value, operand, 1);
    }
    return error_set(ctx->err, ERR_INVALID,
                     "filter operator %s is not supported with %s", op,
                     json_type_phrase(operand));
}

static int field_matches(const json_t *item, const char *field,
                         const json_t *condition, struct filter_context *ctx)
{
    const char *path = ctx->field_path(field);
    const json_t *value;
    const char *op;
    json_t *operand;
    int has_operators = 0;

    if (!path)
        return error_set(ctx->err, ERR_INVALID,
                         "field \"%s\" can't be used in a filter", field);
    value = json_at(item, path);
    if (!json_is_object(condition))
        return apply_operator(value, "$eq", condition, ctx);
    json_object_foreach((json_t *)condition, op, operand)
    {
        int result;

        if (op[0] != '$')
            return error_set(ctx->err, ERR_INVALID,
                             "filter on \"%s\": expected operators such as "
                             "$eq, found \"%s\"",
                             field, op);
        has_operators = 1;
        result = apply_operator(value, op, operand, ctx);
        if (result <= 0)
            return result;
    }
    return has_operators ? 1 : apply_operator(value, "$eq", condition, ctx);
}

static int logic_matches(const json_t *item, const char *op,
                         const json_t *operand, struct filter_context *ctx,
                         int depth)
{
    size_t i;
    json_t *part;
    int any = 0;

    if (strcmp(op, "$not") == 0) {
        int result = matches(item, operand, ctx, depth + 1);

        return result < 0 ? -1 : !result;
    }
    if (!json_is_array(operand))
        return error_set(ctx->err, ERR_INVALID,
                         "filter %s expects an array of filters", op);
    json_array_foreach(operand, i, part)
    {
        int result = matches(item, part, ctx, depth + 1);

        if (result < 0)
            return -1;
        if (strcmp(op, "$and") == 0 && !result)
            return 0;
        any |= result;
    }
    return strcmp(op, "$and") == 0 ? 1 : any;
}

static int matches(const json_t *item, const json_t *filter,
                   struct filter_context *ctx, int depth)
{
    const char *key;
    json_t *condition;

    if (depth > 16)
        return error_set(ctx->err, ERR_INVALID, "filter nests too deeply");
    if (!json_is_object(filter))
        return error_set(ctx->err, ERR_INVALID,
                         "filter must be an object, found %s",
                         json_type_phrase(filter));
    json_object_foreach((json_t *)filter, key, condition)
    {
        int result;

        if (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0 ||
            strcmp(key, "$not") == 0)
            result = logic_matches(item, key, condition, ctx, depth);
        else if (key[0] == '$')
            result = error_set(ctx->err, ERR_INVALID,
                               "filter operator %s is not supported", key);
        else
            result = field_matches(item, key, condition, ctx);
        if (result <= 0)
            return result;
    }
    return 1;
}

json_t *wix_filter(const json_t *items, const json_t *filter,
                   wix_field_fn field_path, struct error *err)
{
    struct filter_context ctx = {.field_path = field_path, .err = err};
    json_t *out = json_array();
    size_t i;
    json_t *item;

    json_array_foreach(items, i, item)
    {
        int result = (filter && !json_is_null(filter))
                         ? matches(item, filter, &ctx, 0)
                         : 1;

        if (result < 0) {
            json_decref(out);
            return NULL;
        }
        if (result)
            json_array_append(out, item);
    }
    return out;
}

struct sort_key {
    const char *path;
    int descending;
};

struct sort_entry {
    json_t *item;
    size_t index;
};

struct sort_spec {
    struct sort_key keys[8];
    size_t count;
};

static int compare_entries(const void *a, const void *b, void *arg)
{
    const struct sort_entry *x = a;
    const struct sort_entry *y = b;
    const struct sort_spec *spec = arg;

    for (size_t i = 0; i < spec->count; i++) {
        int sign = wix_compare(json_at(x->item, spec->keys[i].path),
                               json_at(y->item, spec->keys[i].path));

        if (sign != 0)
            return spec->keys[i].descending ? -sign : sign;
    }
    return (x->index > y->index) - (x->index < y->index);
}

/* Reads one sort entry in either form into key. */
static int read_sort_key(const json_t *entry, wix_field_fn field_path,
                         struct sort_key *key, struct error *err)
{
    const char *field = json_string_value(json_object_get(entry, "fieldName"));
    const char *order = json_string_value(json_object_get(entry, "order"));

    if (!field && json_is_object(entry) && json_object_size(entry) == 1) {
        /* The older form: {"numericId": "asc"}. */
        void *iter = json_object_iter((json_t *)entry);

        field = json_object_iter_key(iter);
        order = json_string_value(json_object_iter_value(iter));
    }
    if (!field)
        return error_set(err, ERR_INVALID,
                         "sort entries need fieldName and order");
    if (!(key->path = field_path(field)))
        return error_set(err, ERR_INVALID, "can't sort on field \"%s\"", field);
    if (order && strcasecmp(order, "asc") != 0 &&
        strcasecmp(order, "desc") != 0)
        return error_set(err, ERR_INVALID,
                         "sort order \"%s\" is not ASC or DESC", order);
    key->descending = order && strcasecmp(order, "desc") == 0;
    return 0;
}

int wix_sort(json_t *items, const json_t *sort, wix_field_fn field_path,
             struct error *err)
{
    struct sort_spec spec = {.count = 0};
    size_t count = json_array_size(items);
    struct sort_entry *entries;
    size_t i;
    json_t *entry;

    if (!sort || json_is_null(sort))
        return 0;
    if (json_is_object(sort)) {
        json_t *wrapped = json_pack("[O]", sort);
        int rc = wix_sort(items, wrapped, field_path, err);

        json_decref(wrapped);
        return rc;
    }
    if (!json_is_array(sort) || json_array_size(sort) > 8)
        return error_set(err, ERR_INVALID,
                         "sort must be an array of at most 8 entries");
    json_array_foreach(sort, i, entry)
    {
        if (read_sort_key(entry, field_path, &spec.keys[spec.count++], err) !=
            0)
            return -1;
    }
    if (spec.count == 0 || count < 2)
        return 0;

    entries = calloc(count, sizeof(*entries));
    if (!entries)
        return error_set(err, ERR_PERMANENT, "out of memory");
    for (i = 0; i < count; i++)
        entries[i] =
            (struct sort_entry){json_incref(json_array_get(items, i)), i};
    qsort_r(entries, count, sizeof(*entries), compare_entries, &spec);
    json_array_clear(items);
    for (i = 0; i < count; i++)
        json_array_append_new(items, entries[i].item);
    free(entries);
    return 0;
}
