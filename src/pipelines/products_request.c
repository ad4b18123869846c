/* Checking a job request and building the settings stored with the job. */
#include "pipelines/products_internal.h"

#include "pipelines/products_text.h"
#include "wix/stores.h"
#include "wix/stores_v3.h"

#include <stdio.h>
#include <string.h>

#define TEXT_SETTING_MAX 64
#define INSTRUCTIONS_MAX 2000
#define KEYWORDS_MAX 20
#define KEYWORD_MAX 60

/* Length limits a request may set: the default, the minimum and the
 * maximum.
 * The SEO defaults are what search results commonly show; Wix sets no
 * limit of its own on them. */
struct length_rule {
    unsigned field;
    int64_t fallback;
    int64_t min;
    int64_t max;
};

static const struct length_rule length_rules[] = {
    {PRODUCTS_FIELD_NAME, WIX_PRODUCT_NAME_MAX, 10, WIX_PRODUCT_NAME_MAX},
    {PRODUCTS_FIELD_DESCRIPTION, WIX_PRODUCT_DESCRIPTION_MAX, 100,
     WIX_PRODUCT_DESCRIPTION_MAX},
    {PRODUCTS_FIELD_SEO_TITLE, 60, 10, 200},
    {PRODUCTS_FIELD_SEO_DESCRIPTION, 160, 50, 500},
};

static const char *const known_keys[] = {
    "product_ids", "all",          "collection_id", "search",
    "fields",      "mode",         "language",      "tone",
    "keywords",    "instructions", "max_lengths",   "only_fill_empty",
    NULL};

static int invalid(struct error *err, const char *field, const char *fmt,
                   const char *detail)
{
    error_set(err, ERR_INVALID, fmt, field, detail);
    snprintf(err->code, sizeof(err->code), "%s", field);
    return -1;
}

static int check_keys(const json_t *request, struct error *err)
{
    const char *key;
    const json_t *value;

    json_object_foreach((json_t *)request, key, value)
    {
        size_t i = 0;

        while (known_keys[i] && strcmp(known_keys[i], key) != 0)
            i++;
        if (!known_keys[i])
            return invalid(err, key,
                           "%s: unknown field%s; see the ProductJobRequest "
                           "schema in docs/openapi.yaml",
                           "");
    }
    return 0;
}

/* Copies an optional text of at most max characters into settings. */
static int copy_text(const json_t *request, json_t *settings, const char *key,
                     size_t max, struct error *err)
{
    const json_t *value = json_object_get(request, key);
    char detail[64];

    if (!value || json_is_null(value))
        return 0;
    if (!json_is_string(value))
        return invalid(err, key, "%s: expected a string%s", "");
    if (products_text_length(json_string_value(value)) > max) {
        snprintf(detail, sizeof(detail), " of at most %zu characters", max);
        return invalid(err, key, "%s: expected a string%s", detail);
    }
    json_object_set(settings, key, (json_t *)value);
    return 0;
}

static int read_fields(const json_t *request, json_t *settings,
                       struct error *err)
{
    const json_t *value = json_object_get(request, "fields");
    unsigned fields = 0;
    size_t i;
    json_t *name;

    if (!value || json_is_null(value)) {
        json_object_set_new(settings, "fields",
                            products_fields_json(PRODUCTS_FIELD_ALL));
        return 0;
    }
    if (!json_is_array(value) || json_array_size(value) == 0)
        return invalid(err, "fields",
                       "%s: expected a non-empty array of name, description, "
                       "seo_title and seo_description%s",
                       "");
    json_array_foreach(value, i, name)
    {
        unsigned field = products_field_parse(json_string_value(name));

        if (!field)
            return invalid(err, "fields",
                           "%s: expected only name, description, seo_title "
                           "and seo_description, found \"%.40s\"",
                           json_is_string(name) ? json_string_value(name)
                                                : "(not a string)");
        fields |= field;
    }
    json_object_set_new(settings, "fields", products_fields_json(fields));
    return 0;
}

static int read_mode(const json_t *request, json_t *settings, struct error *err)
{
    const json_t *value = json_object_get(request, "mode");
    const char *mode = json_is_string(value) ? json_string_value(value) : NULL;

    if (!value || json_is_null(value))
        mode = "review";
    if (!mode || (strcmp(mode, "review") != 0 && strcmp(mode, "auto") != 0))
        return invalid(err, "mode", "%s: expected \"review\" or \"auto\"%s",
                       "");
    json_object_set_new(settings, "mode", json_string(mode));
    return 0;
}

static int read_keywords(const json_t *request, json_t *settings,
                         struct error *err)
{
    const json_t *value = json_object_get(request, "keywords");
    size_t i;
    json_t *keyword;

    if (!value || json_is_null(value)) {
        json_object_set_new(settings, "keywords", json_array());
        return 0;
    }
    if (!json_is_array(value) || json_array_size(value) > KEYWORDS_MAX)
        return invalid(err, "keywords",
                       "%s: expected an array of at most 20 keywords%s", "");
    json_array_foreach(value, i, keyword)
    {
        if (!json_is_string(keyword) || json_string_length(keyword) == 0 ||
            products_text_length(json_string_value(keyword)) > KEYWORD_MAX)
            return invalid(err, "keywords",
                           "%s: each keyword must be text of 1 to 60 "
                           "characters%s",
                           "");
    }
    json_object_set(settings, "keywords", (json_t *)value);
    return 0;
}

static int read_max_lengths(const json_t *request, json_t *settings,
                            int catalog, struct error *err)
{
    const json_t *requested = json_object_get(request, "max_lengths");
    json_t *lengths = json_object();

    json_object_set_new(settings, "max_lengths", lengths);
    if (requested && !json_is_null(requested) && !json_is_object(requested))
        return invalid(err, "max_lengths", "%s: expected an object%s", "");
    for (size_t i = 0; i < sizeof(length_rules) / sizeof(length_rules[0]);
         i++) {
        const struct length_rule *rule = &length_rules[i];
        const char *name = products_field_name(rule->field);
        const json_t *value = json_object_get(requested, name);
        int64_t max = rule->max;
        int64_t fallback = rule->fallback;
        char detail[96];

        if (rule->field == PRODUCTS_FIELD_DESCRIPTION &&
            catalog == PRODUCTS_CATALOG_V3)
            max = fallback = WIX_PRODUCT_V3_DESCRIPTION_MAX;
        if (value && !json_is_null(value) &&
            (!json_is_integer(value) || json_integer_value(value) < rule->min ||
             json_integer_value(value) > max)) {
            snprintf(detail, sizeof(detail), "max_lengths.%s", name);
            error_set(err, ERR_INVALID,
                      "%s: expected an integer from %lld to %lld", detail,
                      (long long)rule->min, (long long)max);
            snprintf(err->code, sizeof(err->code), "max_lengths");
            return -1;
        }
        json_object_set_new(lengths, name,
                            json_integer(value && !json_is_null(value)
                                             ? json_integer_value(value)
                                             : fallback));
    }
    return 0;
}

json_t *products_settings_from_request(const json_t *request, int catalog,
                                       struct error *err)
{
    const json_t *only_empty = json_object_get(request, "only_fill_empty");
    json_t *settings = json_object();

    if (!settings) {
        error_set(err, ERR_RETRYABLE, "out of memory");
        return NULL;
    }
    if (check_keys(request, err) != 0 ||
        read_fields(request, settings, err) != 0 ||
        read_mode(request, settings, err) != 0 ||
        copy_text(request, settings, "language", TEXT_SETTING_MAX, err) != 0 ||
        copy_text(request, settings, "tone", TEXT_SETTING_MAX, err) != 0 ||
        copy_text(request, settings, "instructions", INSTRUCTIONS_MAX, err) !=
            0 ||
        read_keywords(request, settings, err) != 0 ||
        read_max_lengths(request, settings, catalog, err) != 0)
        goto fail;
    if (only_empty && !json_is_null(only_empty) &&
        !json_is_boolean(only_empty)) {
        invalid(err, "only_fill_empty", "%s: expected true or false%s", "");
        goto fail;
    }
    json_object_set_new(settings, "only_fill_empty",
                        json_boolean(json_is_true(only_empty)));
    return settings;

fail:
    json_decref(settings);
    return NULL;
}

size_t products_max_length(const json_t *settings, unsigned field)
{
    const json_t *value = json_object_get(
        json_object_get(settings, "max_lengths"), products_field_name(field));

    if (json_is_integer(value) && json_integer_value(value) > 0)
        return (size_t)json_integer_value(value);
    for (size_t i = 0; i < sizeof(length_rules) / sizeof(length_rules[0]); i++)
        if (length_rules[i].field == field)
            return (size_t)length_rules[i].fallback;
    return 0;
}
