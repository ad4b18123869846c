/*
 * Products as the optimizer reads them: snapshots of their text on both
 * catalogs, the seoData tags that hold the SEO title and meta description,
 * and the Wix reads and writes of one product or a selection.
 */
#include "pipelines/products_internal.h"

#include "core/json.h"
#include "pipelines/products_text.h"
#include "wix/stores.h"
#include "wix/stores_v3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ids per query when reading a list of products. */
#define IDS_PER_QUERY 100

/* ------------------------------------------------------------------ */
/* Field sets                                                          */
/* ------------------------------------------------------------------ */

static const char *const field_names[PRODUCTS_FIELD_COUNT] = {
    "name", "description", "seo_title", "seo_description"};

const char *products_field_name(unsigned field)
{
    for (int i = 0; i < PRODUCTS_FIELD_COUNT; i++)
        if (field == 1u << i)
            return field_names[i];
    return "?";
}

unsigned products_field_parse(const char *name)
{
    for (int i = 0; name && i < PRODUCTS_FIELD_COUNT; i++)
        if (strcmp(name, field_names[i]) == 0)
            return 1u << i;
    return 0;
}

json_t *products_fields_json(unsigned fields)
{
    json_t *array = json_array();

    for (int i = 0; array && i < PRODUCTS_FIELD_COUNT; i++)
        if (fields & (1u << i))
            json_array_append_new(array, json_string(field_names[i]));
    return array;
}

unsigned products_fields_from_json(const json_t *array)
{
    unsigned fields = 0;
    size_t i;
    json_t *value;

    json_array_foreach(array, i, value) fields |=
        products_field_parse(json_string_value(value));
    return fields;
}

int products_field_count(unsigned fields)
{
    int count = 0;

    for (int i = 0; i < PRODUCTS_FIELD_COUNT; i++)
        count += (fields >> i) & 1u;
    return count;
}

/* ------------------------------------------------------------------ */
/* seoData                                                             */
/* ------------------------------------------------------------------ */

static int tag_is(const json_t *tag, const char *type, const char *meta_name)
{
    const char *tag_type = json_string_value(json_object_get(tag, "type"));

    if (!tag_type || strcmp(tag_type, type) != 0)
        return 0;
    if (!meta_name)
        return 1;
    return json_is_string(json_at(tag, "props.name")) &&
           strcmp(json_string_value(json_at(tag, "props.name")), meta_name) ==
               0;
}

/* The first tag of seo_data of type (and props.name), or NULL. */
static json_t *find_tag(const json_t *seo_data, const char *type,
                        const char *meta_name)
{
    size_t i;
    json_t *tag;

    json_array_foreach(json_object_get(seo_data, "tags"), i,
                       tag) if (tag_is(tag, type, meta_name)) return tag;
    return NULL;
}

static const char *seo_title_of(const json_t *seo_data)
{
    const json_t *tag = find_tag(seo_data, "title", NULL);

    if (!tag || json_is_true(json_object_get(tag, "disabled")))
        return "";
    return json_is_string(json_object_get(tag, "children"))
               ? json_string_value(json_object_get(tag, "children"))
               : "";
}

static const char *seo_description_of(const json_t *seo_data)
{
    const json_t *tag = find_tag(seo_data, "meta", "description");

    if (!tag || json_is_true(json_object_get(tag, "disabled")))
        return "";
    return json_is_string(json_at(tag, "props.content"))
               ? json_string_value(json_at(tag, "props.content"))
               : "";
}

/*
 * A copy of seo_data (or of an empty one) with the title and meta
 * description tags set to title and description where those are not
 * NULL, adding the tags when missing. Other tags and settings are kept,
 * because Wix may replace the whole array on an update.
 */
static json_t *seo_with(const json_t *seo_data, const char *title,
                        const char *description)
{
    json_t *out =
        json_is_object(seo_data) ? json_deep_copy(seo_data) : json_object();
    json_t *tags = json_object_get(out, "tags");
    json_t *tag;

    if (!json_is_array(tags)) {
        tags = json_array();
        json_object_set_new(out, "tags", tags);
    }
    if (title && (tag = find_tag(out, "title", NULL))) {
        json_object_set_new(tag, "children", json_string(title));
        json_object_set_new(tag, "disabled", json_false());
    } else if (title) {
        json_array_append_new(
            tags, json_pack("{ss ss s{} sb sb}", "type", "title", "children",
                            title, "props", "custom", 0, "disabled", 0));
    }
    if (description && (tag = find_tag(out, "meta", "description"))) {
        json_object_set_new(json_object_get(tag, "props"), "content",
                            json_string(description));
        json_object_set_new(tag, "disabled", json_false());
    } else if (description) {
        json_array_append_new(
            tags, json_pack("{ss s{ss ss} ss sb sb}", "type", "meta", "props",
                            "name", "description", "content", description,
                            "children", "", "custom", 0, "disabled", 0));
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

static const char *string_at(const json_t *root, const char *path)
{
    const json_t *value = json_at(root, path);

    return json_is_string(value) ? json_string_value(value) : NULL;
}

static void set_text(json_t *object, const char *key, const char *text)
{
    if (text && *text)
        json_object_set_new(object, key, json_string(text));
}

static json_t *option_facts(const json_t *options, const char *choices_path,
                            const char *choice_key)
{
    json_t *out = json_array();
    size_t i;
    json_t *option;

    json_array_foreach(options, i, option)
    {
        json_t *names = json_array();
        size_t k;
        json_t *choice;

        json_array_foreach(
            json_at(option, choices_path), k,
            choice) if (json_is_string(json_object_get(choice, choice_key)))
            json_array_append(names, json_object_get(choice, choice_key));
        json_array_append_new(out, json_pack("{s:s?, s:o}", "name",
                                             string_at(option, "name"),
                                             "choices", names));
    }
    return out;
}

/* Facts the model may use and must not contradict. */
static json_t *product_facts(const json_t *product, int catalog)
{
    json_t *facts = json_object();

    if (catalog == PRODUCTS_CATALOG_V1) {
        const char *price = string_at(product, "priceData.formatted.price");

        if (!price)
            price = string_at(product, "price.formatted.price");
        set_text(facts, "price", price);
        set_text(facts, "brand", string_at(product, "brand"));
        set_text(facts, "ribbon", string_at(product, "ribbon"));
        set_text(facts, "sku", string_at(product, "sku"));
        json_object_set_new(
            facts, "options",
            option_facts(json_object_get(product, "productOptions"), "choices",
                         "description"));
    } else {
        set_text(facts, "price",
                 string_at(product, "actualPriceRange.minValue."
                                    "formattedAmount"));
        set_text(facts, "brand", string_at(product, "brand.name"));
        set_text(facts, "ribbon", string_at(product, "ribbon.name"));
        json_object_set_new(facts, "options",
                            option_facts(json_object_get(product, "options"),
                                         "choicesSettings.choices", "name"));
    }
    return facts;
}

json_t *products_snapshot(const json_t *product, int catalog)
{
    const char *id = string_at(product, "id");
    const json_t *seo_data = json_object_get(product, "seoData");
    const char *description =
        string_at(product, catalog == PRODUCTS_CATALOG_V1 ? "description"
                                                          : "plainDescription");
    json_t *snapshot;

    if (!id)
        return NULL;
    snapshot = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:O, s:o}", "id", id, "name",
        string_at(product, "name") ? string_at(product, "name") : "",
        "description", description ? description : "", "seo_title",
        seo_title_of(seo_data), "seo_description", seo_description_of(seo_data),
        "seo_data", json_is_object(seo_data) ? seo_data : json_null(), "facts",
        product_facts(product, catalog));
    if (!snapshot)
        return NULL;
    if (catalog == PRODUCTS_CATALOG_V1) {
        if (json_object_get(product, "numericId"))
            json_object_set(snapshot, "numeric_id",
                            json_object_get(product, "numericId"));
        return snapshot;
    }
    json_object_set(snapshot, "revision", json_object_get(product, "revision"));
    json_object_set(snapshot, "description_ricos",
                    json_is_object(json_object_get(product, "description"))
                        ? json_object_get(product, "description")
                        : json_null());
    return snapshot;
}

static const char *text_of(const json_t *object, unsigned field)
{
    const char *text =
        json_string_value(json_object_get(object, products_field_name(field)));

    return text ? text : "";
}

const char *products_changed_field(const json_t *a, const json_t *b,
                                   unsigned fields, int catalog)
{
    if (catalog == PRODUCTS_CATALOG_V3 &&
        !json_equal(json_object_get(a, "revision"),
                    json_object_get(b, "revision")))
        return "revision";
    if ((fields & PRODUCTS_FIELD_NAME) &&
        strcmp(text_of(a, PRODUCTS_FIELD_NAME),
               text_of(b, PRODUCTS_FIELD_NAME)) != 0)
        return "name";
    if ((fields & PRODUCTS_FIELD_DESCRIPTION) &&
        strcmp(text_of(a, PRODUCTS_FIELD_DESCRIPTION),
               text_of(b, PRODUCTS_FIELD_DESCRIPTION)) != 0)
        return "description";
    /* The whole seoData goes back with an SEO field, so any change in it
     * would be overwritten. */
    if ((fields &
         (PRODUCTS_FIELD_SEO_TITLE | PRODUCTS_FIELD_SEO_DESCRIPTION)) &&
        !json_equal(json_object_get(a, "seo_data"),
                    json_object_get(b, "seo_data")))
        return (fields & PRODUCTS_FIELD_SEO_TITLE) ? "seo_title"
                                                   : "seo_description";
    return NULL;
}

/* True when two descriptions read the same once Wix's serialisation is
 * set aside. */
static int same_description(const char *a, const char *b)
{
    char *canonical_a = products_html_canonical(a);
    char *canonical_b = products_html_canonical(b);
    int same =
        canonical_a && canonical_b && strcmp(canonical_a, canonical_b) == 0;

    free(canonical_a);
    free(canonical_b);
    return same;
}

const char *products_untaken_field(const json_t *snapshot, const json_t *values,
                                   unsigned fields)
{
    for (int i = 0; i < PRODUCTS_FIELD_COUNT; i++) {
        unsigned field = 1u << i;
        const char *stored = text_of(snapshot, field);
        const char *expected = text_of(values, field);

        if (!(fields & field))
            continue;
        if (field == PRODUCTS_FIELD_DESCRIPTION
                ? !same_description(stored, expected)
                : strcmp(stored, expected) != 0)
            return products_field_name(field);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Reading and writing one product                                     */
/* ------------------------------------------------------------------ */

int products_read_catalog(struct wix_client *client, int *out,
                          struct error *err)
{
    enum wix_catalog version;

    if (wix_stores_catalog_version(client, &version, err) < 0)
        return -1;
    if (version == WIX_CATALOG_NOT_INSTALLED) {
        error_set(err, ERR_PERMANENT,
                  "Wix Stores is not installed on site %s: add it to the "
                  "site to optimize products",
                  wix_client_instance_id(client));
        snprintf(err->code, sizeof(err->code), "%s", PRODUCTS_ERR_NO_STORES);
        return -1;
    }
    *out =
        version == WIX_CATALOG_V3 ? PRODUCTS_CATALOG_V3 : PRODUCTS_CATALOG_V1;
    return 0;
}

int products_read_product(struct wix_client *client, int catalog,
                          const char *product_id, json_t **out,
                          struct error *err)
{
    json_t *product;
    int rc = catalog == PRODUCTS_CATALOG_V3
                 ? wix_stores_v3_get_product(client, product_id, &product, err)
                 : wix_stores_get_product(client, product_id, &product, err);

    *out = NULL;
    if (rc < 0)
        return -1;
    *out = products_snapshot(product, catalog);
    json_decref(product);
    if (!*out)
        return error_set(err, ERR_RETRYABLE,
                         "get product %s: Wix's answer has no product id",
                         product_id);
    return 0;
}

/* The V1 or V3 changes that write values to the product. */
static json_t *build_changes(int catalog, const json_t *current,
                             unsigned fields, const json_t *values, int revert)
{
    json_t *changes = json_object();
    const char *title = NULL;
    const char *description = NULL;

    if (fields & PRODUCTS_FIELD_NAME)
        json_object_set_new(changes, "name",
                            json_string(text_of(values, PRODUCTS_FIELD_NAME)));
    if ((fields & PRODUCTS_FIELD_DESCRIPTION) && revert &&
        json_is_object(json_object_get(values, "description_ricos")))
        json_object_set(changes, "description",
                        json_object_get(values, "description_ricos"));
    else if (fields & PRODUCTS_FIELD_DESCRIPTION)
        json_object_set_new(
            changes,
            catalog == PRODUCTS_CATALOG_V3 ? "plainDescription" : "description",
            json_string(text_of(values, PRODUCTS_FIELD_DESCRIPTION)));

    if (!(fields & (PRODUCTS_FIELD_SEO_TITLE | PRODUCTS_FIELD_SEO_DESCRIPTION)))
        return changes;
    if (revert) {
        const json_t *original = json_object_get(values, "seo_data");

        json_object_set_new(changes, "seoData",
                            json_is_object(original)
                                ? json_deep_copy(original)
                                : json_pack("{s:[]}", "tags"));
        return changes;
    }
    if (fields & PRODUCTS_FIELD_SEO_TITLE)
        title = text_of(values, PRODUCTS_FIELD_SEO_TITLE);
    if (fields & PRODUCTS_FIELD_SEO_DESCRIPTION)
        description = text_of(values, PRODUCTS_FIELD_SEO_DESCRIPTION);
    json_object_set_new(
        changes, "seoData",
        seo_with(json_object_get(current, "seo_data"), title, description));
    return changes;
}

int products_write_product(struct wix_client *client, int catalog,
                           const json_t *current, unsigned fields,
                           const json_t *values, int revert, struct error *err)
{
    const char *id = json_string_value(json_object_get(current, "id"));
    json_t *changes = build_changes(catalog, current, fields, values, revert);
    int rc;

    if (!changes)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    if (catalog == PRODUCTS_CATALOG_V3) {
        const char *revision =
            json_string_value(json_object_get(current, "revision"));

        rc = wix_stores_v3_update_product(client, id, revision, changes, NULL,
                                          err);
    } else {
        rc = wix_stores_update_product(client, id, changes, NULL, err);
    }
    json_decref(changes);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reading a selection                                                 */
/* ------------------------------------------------------------------ */

/* Appends the snapshots of a page's products to out. */
static int append_page(const json_t *page, int catalog, json_t *out,
                       struct error *err)
{
    size_t i;
    json_t *product;

    if (!json_is_array(json_object_get(page, "products")))
        return error_set(err, ERR_RETRYABLE,
                         "product query: Wix's answer has no \"products\" "
                         "array");
    json_array_foreach(json_object_get(page, "products"), i, product)
    {
        json_t *snapshot = products_snapshot(product, catalog);

        if (!snapshot)
            return error_set(err, ERR_RETRYABLE,
                             "product query: a product in Wix's answer has "
                             "no id");
        json_array_append_new(out, snapshot);
    }
    return 0;
}

/* Reads one page of up to 100 products whose id is in ids. */
static int fetch_id_page(struct wix_client *client, int catalog, json_t *ids,
                         json_t *found, struct error *err)
{
    json_t *filter =
        json_pack("{s:{s:O}}", "id",
                  catalog == PRODUCTS_CATALOG_V3 ? "$in" : "$hasSome", ids);
    json_t *page = NULL;
    int rc;

    if (!filter)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    if (catalog == PRODUCTS_CATALOG_V3) {
        struct wix_v3_product_query query = {.filter = filter, .limit = 100};

        rc = wix_stores_v3_query_products(client, &query, &page, err);
    } else {
        struct wix_product_query query = {
            .filter = filter, .limit = 100, .include_hidden = 1};

        rc = wix_stores_query_products(client, &query, &page, err);
    }
    if (rc == 0)
        rc = append_page(page, catalog, found, err);
    json_decref(page);
    json_decref(filter);
    return rc;
}

/* Orders found like ids and fails naming the first id that is missing. */
static json_t *order_like(const json_t *ids, const json_t *found,
                          struct error *err)
{
    json_t *ordered = json_array();
    size_t i;
    json_t *id;

    json_array_foreach(ids, i, id)
    {
        size_t k;
        json_t *snapshot;
        int present = 0;

        json_array_foreach(found, k, snapshot)
        {
            if (json_equal(json_object_get(snapshot, "id"), id)) {
                json_array_append(ordered, snapshot);
                present = 1;
                break;
            }
        }
        if (!present) {
            json_decref(ordered);
            error_set(err, ERR_INVALID,
                      "product_ids[%zu]: product \"%.100s\" is not in the "
                      "store",
                      i, json_string_value(id));
            snprintf(err->code, sizeof(err->code), "product_ids");
            return NULL;
        }
    }
    return ordered;
}

int products_fetch_ids(struct wix_client *client, int catalog,
                       const json_t *ids, json_t **out, struct error *err)
{
    json_t *found = json_array();
    size_t count = json_array_size(ids);
    int rc = 0;

    *out = NULL;
    for (size_t start = 0; rc == 0 && start < count; start += IDS_PER_QUERY) {
        json_t *chunk = json_array();

        for (size_t i = start; i < count && i < start + IDS_PER_QUERY; i++)
            json_array_append(chunk, json_array_get(ids, i));
        rc = fetch_id_page(client, catalog, chunk, found, err);
        json_decref(chunk);
    }
    if (rc == 0 && !(*out = order_like(ids, found, err)))
        rc = -1;
    json_decref(found);
    return rc;
}

static int too_many(struct error *err)
{
    error_set(err, ERR_INVALID,
              "the selection has more than %d products: narrow it with "
              "collection_id or search, or run several jobs",
              PRODUCTS_JOB_MAX_ITEMS);
    snprintf(err->code, sizeof(err->code), "all");
    return -1;
}

/*
 * Catalog V1: pages sorted by numericId, each starting after the last
 * numericId seen, because offset paging breaks near 10,000 items.
 */
static int fetch_all_v1(struct wix_client *client, const char *collection_id,
                        const char *search, json_t *out, struct error *err)
{
    json_t *sort = json_pack("[{s:s}]", "numericId", "asc");
    json_t *after = NULL;
    int full = 1;
    int rc = 0;

    while (rc == 0 && full) {
        json_t *filter = json_object();
        json_t *page = NULL;
        struct wix_product_query query = {
            .filter = filter, .sort = sort, .limit = 100, .include_hidden = 1};
        size_t before = json_array_size(out);

        if (collection_id)
            json_object_set_new(
                filter, "collections.id",
                json_pack("{s:[s]}", "$hasSome", collection_id));
        if (search)
            json_object_set_new(filter, "name",
                                json_pack("{s:s}", "$startsWith", search));
        if (after)
            json_object_set_new(filter, "numericId",
                                json_pack("{s:O}", "$gt", after));
        rc = wix_stores_query_products(client, &query, &page, err);
        if (rc == 0)
            rc = append_page(page, PRODUCTS_CATALOG_V1, out, err);
        full = rc == 0 && json_array_size(out) - before == 100;
        if (full)
            after = json_object_get(
                json_array_get(out, json_array_size(out) - 1), "numeric_id");
        if (full && !after)
            rc = error_set(err, ERR_RETRYABLE,
                           "product query: a product has no numericId to "
                           "page by");
        if (rc == 0 && json_array_size(out) > PRODUCTS_JOB_MAX_ITEMS)
            rc = too_many(err);
        json_decref(page);
        json_decref(filter);
    }
    json_decref(sort);
    return rc;
}

static int fetch_all_v3(struct wix_client *client, const char *search,
                        json_t *out, struct error *err)
{
    char *cursor = NULL;
    int rc = 0;

    do {
        struct wix_v3_product_query query = {
            .search = search, .limit = 100, .cursor = cursor};
        json_t *page = NULL;
        const char *next;

        rc = wix_stores_v3_query_products(client, &query, &page, err);
        if (rc == 0)
            rc = append_page(page, PRODUCTS_CATALOG_V3, out, err);
        next = string_at(page, "pagingMetadata.cursors.next");
        free(cursor);
        cursor = rc == 0 && next && *next ? strdup(next) : NULL;
        if (rc == 0 && json_array_size(out) > PRODUCTS_JOB_MAX_ITEMS)
            rc = too_many(err);
        json_decref(page);
    } while (rc == 0 && cursor);
    free(cursor);
    return rc;
}

int products_fetch_all(struct wix_client *client, int catalog,
                       const char *collection_id, const char *search,
                       json_t **out, struct error *err)
{
    json_t *all = json_array();
    int rc;

    *out = NULL;
    if (catalog == PRODUCTS_CATALOG_V3 && collection_id) {
        json_decref(all);
        error_set(err, ERR_INVALID,
                  "collection_id: collections are a Catalog V1 feature and "
                  "this site uses Catalog V3; select products by id or "
                  "search instead");
        snprintf(err->code, sizeof(err->code), "collection_id");
        return -1;
    }
    rc = catalog == PRODUCTS_CATALOG_V3
             ? fetch_all_v3(client, search, all, err)
             : fetch_all_v1(client, collection_id, search, all, err);
    if (rc < 0) {
        json_decref(all);
        return -1;
    }
    *out = all;
    return 0;
}
