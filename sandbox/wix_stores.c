/*
 * Wix Stores Catalog V1: query products (JSON-string filter and sort, and
 * the platformized form the SDK uses), get, update, add and remove media,
 * collections, and GET /stores/v3/provision/version.
 */
#include "wix.h"

#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_MAX 100
/* NOTE: Wix does not document the V1 default page size; 100 is the
 * maximum, and what this uses. */
#define PAGE_DEFAULT 100
#define NAME_MAX_CHARS 80
#define DESCRIPTION_MAX_CHARS 8000
#define BRAND_MAX_CHARS 50

static const char *product_field(const char *field)
{
    static const struct {
        const char *field;
        const char *path;
    } fields[] = {
        {"name", "name"},
        {"description", "description"},
        {"sku", "sku"},
        {"id", "id"},
        {"_id", "id"},
        {"price", "price.price"},
        {"priceData.price", "priceData.price"},
        {"numericId", "numericId"},
        {"productType", "productType"},
        {"slug", "slug"},
        {"collections.id", "collectionIds"},
        {"collectionIds", "collectionIds"},
        {"inventoryStatus", "stock.inventoryStatus"},
        {"stock.inventoryStatus", "stock.inventoryStatus"},
        {"lastUpdated", "lastUpdated"},
        {"createdDate", "createdDate"},
        {"_createdDate", "createdDate"},
        {"visible", "visible"},
        {"brand", "brand"},
    };

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].field, field) == 0)
            return fields[i].path;
    }
    return NULL;
}

static const char *collection_field(const char *field)
{
    if (strcmp(field, "id") == 0 || strcmp(field, "_id") == 0)
        return "id";
    if (strcmp(field, "name") == 0 || strcmp(field, "slug") == 0)
        return field;
    return NULL;
}

/* filter or sort as a JSON string (the V1 form) or as JSON. Returns a new
 * reference, NULL when absent, or sets *bad. */
static json_t *json_or_string(const json_t *value, const char *what,
                              struct error *err, int *bad)
{
    json_error_t parse_error;
    json_t *parsed;

    *bad = 0;
    if (!value || json_is_null(value))
        return NULL;
    if (!json_is_string(value))
        return json_incref((json_t *)value);
    if (json_string_length(value) == 0)
        return NULL;
    parsed =
        json_loads(json_string_value(value), JSON_DECODE_ANY, &parse_error);
    if (!parsed) {
        *bad = 1;
        error_set(err, ERR_INVALID, "query.%s is not valid JSON: %s", what,
                  parse_error.text);
    }
    return parsed;
}

struct page {
    int64_t limit;
    int64_t offset;
};

static int read_paging(struct sandbox_call *call, const json_t *query,
                       struct page *page)
{
    struct error err;

    if (json_opt_int(query, "paging.limit", PAGE_DEFAULT, &page->limit, &err) !=
            0 ||
        json_opt_int(query, "paging.offset", 0, &page->offset, &err) != 0) {
        wix_error(call, 400, "INVALID_ARGUMENT", "query.%s", err.message);
        return -1;
    }
    if (page->limit < 0 || page->limit > PAGE_MAX) {
        wix_field_error(call, "query.paging.limit", "MAX",
                        "must be between 0 and %d", PAGE_MAX);
        return -1;
    }
    if (page->offset < 0) {
        wix_field_error(call, "query.paging.offset", "MIN",
                        "must not be negative");
        return -1;
    }
    return 0;
}

/* Filters, sorts and pages items; NULL with the 400 written. */
static json_t *run_query(struct sandbox_call *call, json_t *items,
                         const json_t *query, wix_field_fn fields,
                         struct page *page, size_t *total)
{
    struct error err;
    int bad_filter = 0;
    int bad_sort = 0;
    json_t *filter = NULL;
    json_t *sort = NULL;
    json_t *matched = NULL;
    json_t *out = NULL;

    if (read_paging(call, query, page) != 0)
        return NULL;
    filter = json_or_string(json_object_get(query, "filter"), "filter", &err,
                            &bad_filter);
    if (!bad_filter)
        sort = json_or_string(json_object_get(query, "sort"), "sort", &err,
                              &bad_sort);
    if (bad_filter || bad_sort ||
        !(matched = wix_filter(items, filter, fields, &err)) ||
        wix_sort(matched, sort, fields, &err) != 0) {
        wix_error(call, 400, "INVALID_ARGUMENT", "%s", err.message);
        goto out;
    }
    *total = json_array_size(matched);
    out = json_array();
    for (size_t i = (size_t)page->offset;
         i < *total && i < (size_t)(page->offset + page->limit); i++)
        json_array_append(out, json_array_get(matched, i));
out:
    json_decref(filter);
    json_decref(sort);
    json_decref(matched);
    return out;
}

/* A V1 query response: {key: items, metadata: {items, offset},
 * totalResults}; takes items. */
static json_t *v1_list(const char *key, json_t *items, const struct page *page,
                       size_t total)
{
    return json_pack("{so s{si sI} si}", key, items, "metadata", "items",
                     (int)json_array_size(items), "offset",
                     (json_int_t)page->offset, "totalResults", (int)total);
}

/* The stored products a query sees: hidden ones only when asked. The
 * filter fields read the same in the stored and the V1 shape, so only the
 * page is rendered. Borrowed items in a new array. */
static json_t *queried_products(struct wix_site *site, const json_t *body)
{
    int include_hidden =
        json_is_true(json_object_get(body, "includeHiddenProducts"));
    json_t *out = json_array();
    size_t i;
    json_t *product;

    json_array_foreach(json_object_get(site->state, "products"), i, product)
    {
        if (include_hidden ||
            !json_is_false(json_object_get(product, "visible")))
            json_array_append(out, product);
    }
    return out;
}

/* Replaces each stored product of page with its V1 shape. */
static void render_page(struct sandbox *sb, struct wix_site *site, json_t *page,
                        const json_t *body)
{
    int include_variants =
        json_is_true(json_object_get(body, "includeVariants"));
    size_t i;
    json_t *product;

    json_array_foreach(page, i, product) json_array_set_new(
        page, i, wix_product_v1(sb, site, product, include_variants));
}

static struct wix_site *begin_v1(struct sandbox_call *call)
{
    return wix_begin_catalog(call, 1);
}

static void query_products_common(struct sandbox_call *call, int platformized)
{
    struct wix_site *site = begin_v1(call);
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *products = NULL;
    json_t *page_items;
    struct page page;
    size_t total = 0;

    if (!body)
        goto out;
    products = queried_products(site, body);
    page_items = run_query(call, products, json_object_get(body, "query"),
                           product_field, &page, &total);
    if (!page_items)
        goto out;
    render_page(call->sb, site, page_items, body);
    if (platformized)
        wix_reply(call,
                  json_pack("{so s{si sI si}}", "products", page_items,
                            "metadata", "count",
                            (int)json_array_size(page_items), "offset",
                            (json_int_t)page.offset, "total", (int)total));
    else
        wix_reply(call, v1_list("products", page_items, &page, total));
out:
    json_decref(products);
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

/* POST /stores/v1/products/query: filter and sort as JSON strings. */
static void query_products(struct sandbox_call *call)
{
    query_products_common(call, 0);
}

/* GET or POST /stores-reader/v1/products/query-platformized (@wix/sdk). */
static void query_products_platformized(struct sandbox_call *call)
{
    query_products_common(call, 1);
}

static void get_product(struct sandbox_call *call)
{
    struct wix_site *site = begin_v1(call);
    const char *id = http_request_param(call->req, "id");
    json_t *product;

    if (!site)
        return;
    product = wix_product_find(site, id);
    if (product)
        wix_reply(call, json_pack("{so}", "product",
                                  wix_product_v1(call->sb, site, product, 1)));
    else
        wix_not_found(call, "product", id);
    sandbox_unlock(call->sb);
}

static int check_length(struct sandbox_call *call, const json_t *value,
                        const char *field, size_t min, size_t max)
{
    size_t length;

    if (!json_is_string(value)) {
        wix_field_error(call, field, "TYPE", "must be a string");
        return -1;
    }
    length = wix_text_length(json_string_value(value));
    if (length < min || length > max) {
        wix_field_error(call, field, length < min ? "MIN_LENGTH" : "MAX_LENGTH",
                        "must be between %zu and %zu characters long, found "
                        "%zu",
                        min, max, length);
        return -1;
    }
    return 0;
}

/* Checks the writable fields that have limits; 0 when all pass. */
static int check_update(struct sandbox_call *call, const json_t *changes,
                        const char *id)
{
    const json_t *value;
    const char *sent_id = json_string_value(json_object_get(changes, "id"));

    if (sent_id && strcmp(sent_id, id) != 0) {
        wix_field_error(call, "product.id", "EQUALS",
                        "must match the product id in the path");
        return -1;
    }
    if ((value = json_object_get(changes, "name")) &&
        check_length(call, value, "product.name", 1, NAME_MAX_CHARS) != 0)
        return -1;
    if ((value = json_object_get(changes, "description")) &&
        check_length(call, value, "product.description", 0,
                     DESCRIPTION_MAX_CHARS) != 0)
        return -1;
    if ((value = json_object_get(changes, "brand")) && !json_is_null(value) &&
        check_length(call, value, "product.brand", 1, BRAND_MAX_CHARS) != 0)
        return -1;
    if ((value = json_object_get(changes, "seoData")) &&
        wix_seo_check(call, value, "product.seoData") != 0)
        return -1;
    if ((value = json_object_get(changes, "visible")) &&
        !json_is_boolean(value)) {
        wix_field_error(call, "product.visible", "TYPE", "must be a boolean");
        return -1;
    }
    return 0;
}

/* Copies the writable fields; read-only ones (media, stock, variants, ...)
 * are ignored. NOTE: whether Wix merges or replaces seoData.tags is not
 * documented; this replaces them. */
static void apply_update(json_t *product, const json_t *changes)
{
    static const char *const writable[] = {
        "name",
        "description",
        "seoData",
        "ribbon",
        "brand",
        "visible",
        "slug",
        "sku",
        "weight",
        "discount",
        "additionalInfoSections",
        "productOptions",
        "manageVariants",
        "costAndProfitData",
        "pricePerUnitData",
    };
    const json_t *price = json_at(changes, "priceData.price");

    for (size_t i = 0; i < sizeof(writable) / sizeof(writable[0]); i++) {
        json_t *value = json_object_get(changes, writable[i]);

        if (value)
            json_object_set(product, writable[i], value);
    }
    if (json_is_number(price)) {
        json_object_set(json_object_get(product, "priceData"), "price",
                        (json_t *)price);
        json_object_set(json_object_get(product, "price"), "price",
                        (json_t *)price);
    }
}

/* PATCH /stores/v1/products/{id} {"product": {changed fields}} */
static void update_product(struct sandbox_call *call)
{
    struct wix_site *site = begin_v1(call);
    const char *id = http_request_param(call->req, "id");
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *changes = json_object_get(body, "product");
    json_t *product;

    if (!body)
        goto out;
    if (!json_is_object(changes)) {
        wix_field_error(call, "product", "REQUIRED", "must be an object");
        goto out;
    }
    if (!(product = wix_product_for_change(site, id))) {
        wix_not_found(call, "product", id);
        goto out;
    }
    if (check_update(call, changes, id) != 0)
        goto out;
    apply_update(product, changes);
    if (json_object_get(changes, "description"))
        json_object_set_new(product, "description_ricos", json_null());
    wix_product_touch(call->sb, product);
    wix_reply(call, json_pack("{so}", "product",
                              wix_product_v1(call->sb, site, product, 1)));
out:
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

/* A media item for one entry of an add-media request; NULL with the 400
 * written. */
static json_t *media_for_request(struct sandbox_call *call,
                                 struct wix_site *site, const json_t *entry,
                                 size_t index)
{
    const char *media_id = json_string_value(json_object_get(entry, "mediaId"));
    const char *url = json_string_value(json_object_get(entry, "url"));
    json_t *file = NULL;
    char field[48];

    snprintf(field, sizeof(field), "media[%zu]", index);
    if (media_id)
        file = wix_media_lookup(call->sb, site, media_id, 0);
    else if (url)
        file = wix_media_import(call->sb, site, url, NULL, NULL, NULL);
    if (!media_id && !url) {
        wix_field_error(call, field, "REQUIRED", "needs mediaId or url");
        return NULL;
    }
    if (!file) {
        wix_field_error(call, field, "EXISTS",
                        "mediaId %s is not a file in the site's Media "
                        "Manager",
                        media_id);
        return NULL;
    }
    if (strcmp(json_string_value(json_at(file, "file.operationStatus")),
               "FAILED") == 0) {
        wix_field_error(call, field, "READY", "media file %s failed to import",
                        media_id);
        return NULL;
    }
    return wix_product_media_item(file);
}

/* NOTE: a media item with a choice is linked to that option choice and
 * also listed in the product's media; Wix does not document which. */
static int link_choice(struct sandbox_call *call, json_t *product,
                       const json_t *choice, const json_t *item)
{
    const json_t *option_name = json_object_get(choice, "option");
    const json_t *choice_value = json_object_get(choice, "choice");
    size_t i;
    json_t *option;

    json_array_foreach(json_object_get(product, "productOptions"), i, option)
    {
        size_t k;
        json_t *entry;

        if (!json_equal(json_object_get(option, "name"), option_name))
            continue;
        json_array_foreach(json_object_get(option, "choices"), k, entry)
        {
            json_t *media;

            if (!json_equal(json_object_get(entry, "value"), choice_value))
                continue;
            media = json_object_get(entry, "media");
            if (!media) {
                media = json_pack("{s[]}", "items");
                json_object_set_new(entry, "media", media);
            }
            json_array_append(json_object_get(media, "items"), (json_t *)item);
            return 0;
        }
    }
    wix_field_error(call, "media.choice", "EXISTS",
                    "the product has no such option and choice");
    return -1;
}

static int add_media_items(struct sandbox_call *call, struct wix_site *site,
                           json_t *product, const json_t *entries)
{
    json_t *items = json_object_get(json_object_get(product, "media"), "items");
    json_t *added = json_array();
    size_t i;
    json_t *entry;

    json_array_foreach(entries, i, entry)
    {
        json_t *item = media_for_request(call, site, entry, i);
        const json_t *choice = json_object_get(entry, "choice");

        if (!item || (choice && link_choice(call, product, choice, item))) {
            json_decref(item);
            json_decref(added);
            return -1;
        }
        json_array_append_new(added, item);
    }
    json_array_extend(items, added);
    json_decref(added);
    wix_product_main_media(product);
    return 0;
}

/* POST /stores/v1/products/{id}/media {"media": [{mediaId}|{url}]} */
static void add_product_media(struct sandbox_call *call)
{
    struct wix_site *site = begin_v1(call);
    const char *id = http_request_param(call->req, "id");
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *entries = json_object_get(body, "media");
    json_t *product;

    if (!body)
        goto out;
    if (!json_is_array(entries) || json_array_size(entries) == 0) {
        wix_field_error(call, "media", "REQUIRED", "must be a non-empty array");
        goto out;
    }
    if (!(product = wix_product_for_change(site, id))) {
        wix_not_found(call, "product", id);
        goto out;
    }
    if (add_media_items(call, site, product, entries) == 0) {
        wix_product_touch(call->sb, product);
        wix_reply(call, json_object());
    }
out:
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

static int id_listed(const json_t *ids, const json_t *item)
{
    size_t i;
    json_t *id;

    if (json_array_size(ids) == 0)
        return 1; /* an empty list removes everything */
    json_array_foreach(ids, i, id)
    {
        if (json_equal(id, json_object_get(item, "id")))
            return 1;
    }
    return 0;
}

static void remove_listed(json_t *items, const json_t *ids)
{
    for (size_t i = json_array_size(items); i-- > 0;) {
        if (id_listed(ids, json_array_get(items, i)))
            json_array_remove(items, i);
    }
}

/* POST /stores/v1/products/{id}/media/delete {"mediaIds": [..]} */
static void remove_product_media(struct sandbox_call *call)
{
    struct wix_site *site = begin_v1(call);
    const char *id = http_request_param(call->req, "id");
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *ids = json_object_get(body, "mediaIds");
    json_t *product;
    size_t i;
    json_t *option;

    if (!body)
        goto out;
    if (ids && !json_is_array(ids)) {
        wix_field_error(call, "mediaIds", "TYPE", "must be an array");
        goto out;
    }
    if (!(product = wix_product_for_change(site, id))) {
        wix_not_found(call, "product", id);
        goto out;
    }
    remove_listed(json_object_get(json_object_get(product, "media"), "items"),
                  ids);
    json_array_foreach(json_object_get(product, "productOptions"), i, option)
    {
        size_t k;
        json_t *choice;

        json_array_foreach(json_object_get(option, "choices"), k, choice)
            remove_listed(json_at(choice, "media.items"), ids);
    }
    wix_product_main_media(product);
    wix_product_touch(call->sb, product);
    wix_reply(call, json_object());
out:
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

static json_t *collection_v1(struct wix_site *site, const json_t *collection)
{
    const json_t *id = json_object_get(collection, "id");
    size_t count = 0;
    size_t i;
    json_t *product;

    json_array_foreach(json_object_get(site->state, "products"), i, product)
    {
        size_t k;
        json_t *member;

        json_array_foreach(json_object_get(product, "collectionIds"), k, member)
            count += json_equal(member, id);
    }
    return json_pack("{sO sO s{s[]} si sO sO sO}", "id", id, "name",
                     json_object_get(collection, "name"), "media", "items",
                     "numberOfProducts", (int)count, "description",
                     json_object_get(collection, "description"), "slug",
                     json_object_get(collection, "slug"), "visible",
                     json_object_get(collection, "visible"));
}

/* POST /stores/v1/collections/query */
static void query_collections(struct sandbox_call *call)
{
    struct wix_site *site = begin_v1(call);
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *collections = json_array();
    json_t *page_items;
    struct page page;
    size_t total = 0;
    size_t i;
    json_t *collection;

    if (!body)
        goto out;
    json_array_foreach(json_object_get(site->state, "collections"), i,
                       collection)
        json_array_append_new(collections, collection_v1(site, collection));
    page_items = run_query(call, collections, json_object_get(body, "query"),
                           collection_field, &page, &total);
    if (page_items)
        wix_reply(call, v1_list("collections", page_items, &page, total));
out:
    json_decref(collections);
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

static void get_collection(struct sandbox_call *call)
{
    struct wix_site *site = begin_v1(call);
    const char *id = http_request_param(call->req, "id");
    json_t *collection;

    if (!site)
        return;
    collection =
        wix_find_by(json_object_get(site->state, "collections"), "id", id);
    if (collection)
        wix_reply(call, json_pack("{so}", "collection",
                                  collection_v1(site, collection)));
    else
        wix_not_found(call, "collection", id);
    sandbox_unlock(call->sb);
}

/* GET /stores/v3/provision/version */
static void catalog_version(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_STORES);

    if (!site)
        return;
    wix_reply(call, json_pack("{ss}", "catalogVersion",
                              wix_site_string(site, "catalog_version")));
    sandbox_unlock(call->sb);
}

int wix_stores_routes(struct sandbox *sb, struct http_server *server)
{
    static const struct wix_route routes[] = {
        {"POST", "/wix/stores/v1/products/query", query_products},
        {"POST", "/wix/stores/api/v1/products/query", query_products},
        {"POST", "/wix/stores-reader/v1/products/query", query_products},
        {"POST", "/wix/stores-reader/api/v1/products/query", query_products},
        {"GET", "/wix/stores-reader/v1/products/query-platformized",
         query_products_platformized},
        {"POST", "/wix/stores-reader/v1/products/query-platformized",
         query_products_platformized},
        {"GET", "/wix/stores/v1/products/{id}", get_product},
        {"GET", "/wix/stores-reader/v1/products/{id}", get_product},
        {"PATCH", "/wix/stores/v1/products/{id}", update_product},
        {"POST", "/wix/stores/v1/products/{id}/media", add_product_media},
        {"POST", "/wix/stores/v1/products/{id}/media/delete",
         remove_product_media},
        {"POST", "/wix/stores/v1/collections/query", query_collections},
        {"POST", "/wix/stores-reader/v1/collections/query", query_collections},
        {"GET", "/wix/stores/v1/collections/{id}", get_collection},
        {"GET", "/wix/stores-reader/v1/collections/{id}", get_collection},
        {"GET", "/wix/stores/v3/provision/version", catalog_version},
    };

    return wix_add_routes(sb, server, routes,
                          sizeof(routes) / sizeof(routes[0]));
}
