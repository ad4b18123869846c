/*
 * Wix Stores Catalog V3 products, where Wix's documentation is firm: get,
 * query and search with cursor paging, and update with the required
 * revision (409 when it is stale). V3 shares the stored products with V1;
 * a site uses one catalog or the other (428 for the wrong one).
 */
#include "wix.h"

#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_CHARS 80
#define PLAIN_DESCRIPTION_MAX_CHARS 16000
#define MEDIA_ITEMS_MAX 15
#define PAGE_DEFAULT 100
#define PAGE_MAX 100

static int field_requested(const json_t *fields, const struct http_request *req,
                           const char *name)
{
    size_t i;
    json_t *value;

    if (req && wix_query_has(req, "fields", name))
        return 1;
    json_array_foreach(fields, i, value)
    {
        if (json_is_string(value) &&
            strcmp(json_string_value(value), name) == 0)
            return 1;
    }
    return 0;
}

static json_t *money(double amount, const char *currency)
{
    char text[32];
    char formatted[48];

    snprintf(text, sizeof(text), "%.2f", amount);
    wix_price_format(amount, currency, formatted, sizeof(formatted));
    return json_pack("{ss ss}", "amount", text, "formattedAmount", formatted);
}

static json_t *v3_media_item(struct sandbox *sb, struct wix_site *site,
                             const json_t *item)
{
    const char *id = json_string_value(json_object_get(item, "id"));
    json_t *entry = wix_media_lookup(sb, site, id, 0);
    char url[512];

    wix_media_url(sb, id, url, sizeof(url));
    return json_pack("{ss ss sO ss s{ss ss sI sI}}", "id", id, "url", url,
                     "displayName", json_object_get(item, "title"), "mediaType",
                     "IMAGE", "image", "id", id, "url", url, "width",
                     json_integer_value(json_object_get(entry, "width")),
                     "height",
                     json_integer_value(json_object_get(entry, "height")));
}

static json_t *v3_media(struct sandbox *sb, struct wix_site *site,
                        const json_t *product, int with_items)
{
    const json_t *items = json_at(product, "media.items");
    json_t *out = json_object();
    json_t *list = json_array();
    size_t i;
    json_t *item;

    json_array_foreach(items, i, item)
        json_array_append_new(list, v3_media_item(sb, site, item));
    if (json_array_size(list) > 0)
        json_object_set(out, "main", json_array_get(list, 0));
    if (with_items)
        json_object_set_new(out, "itemsInfo", json_pack("{so}", "items", list));
    else
        json_decref(list);
    return out;
}

static json_t *v3_options(const json_t *product)
{
    json_t *out = json_array();
    size_t i;
    json_t *option;

    json_array_foreach(json_object_get(product, "productOptions"), i, option)
    {
        json_t *choices = json_array();
        size_t k;
        json_t *choice;

        json_array_foreach(json_object_get(option, "choices"), k, choice)
            json_array_append_new(
                choices, json_pack("{sO sO ss}", "choiceId",
                                   json_object_get(choice, "value"), "name",
                                   json_object_get(choice, "value"),
                                   "choiceType", "CHOICE_TEXT"));
        json_array_append_new(out,
                              json_pack("{sO sO ss s{so}}", "id",
                                        json_object_get(option, "name"), "name",
                                        json_object_get(option, "name"),
                                        "optionRenderType", "TEXT_CHOICES",
                                        "choicesSettings", "choices", choices));
    }
    return out;
}

static json_t *v3_variants(const json_t *product, const char *currency)
{
    json_t *out = json_array();
    size_t i;
    json_t *variant;

    json_array_foreach(json_object_get(product, "variants"), i, variant)
    {
        double paid = json_number_value(
            json_at(variant, "variant.priceData.discountedPrice"));

        json_array_append_new(
            out, json_pack("{sO sb sO sO s{so}}", "id",
                           json_object_get(variant, "id"), "visible", 1, "sku",
                           json_at(variant, "variant.sku"), "choices",
                           json_object_get(variant, "choices"), "price",
                           "actualPrice", money(paid, currency)));
    }
    return out;
}

/* Fields that only come when asked for with fields[]. */
static void add_requested_fields(struct sandbox *sb, struct wix_site *site,
                                 json_t *out, const json_t *product,
                                 const json_t *fields,
                                 const struct http_request *req)
{
    const json_t *ricos = json_object_get(product, "description_ricos");
    const char *html =
        json_string_value(json_object_get(product, "description"));
    char url[1024];

    if (field_requested(fields, req, "PLAIN_DESCRIPTION"))
        json_object_set_new(out, "plainDescription", json_string(html));
    if (field_requested(fields, req, "DESCRIPTION"))
        json_object_set_new(out, "description",
                            json_is_object(ricos) ? json_deep_copy(ricos)
                                                  : wix_ricos_from_html(html));
    if (field_requested(fields, req, "URL")) {
        snprintf(url, sizeof(url), "%s%s", wix_site_string(site, "url"),
                 json_string_value(json_at(product, "productPageUrl.path")));
        json_object_set_new(out, "url",
                            json_pack("{sO ss}", "relativePath",
                                      json_at(product, "productPageUrl.path"),
                                      "url", url));
    }
    json_object_set_new(
        out, "media",
        v3_media(sb, site, product,
                 field_requested(fields, req, "MEDIA_ITEMS_INFO")));
}

static json_t *product_v3(struct sandbox *sb, struct wix_site *site,
                          const json_t *product, const json_t *fields,
                          const struct http_request *req)
{
    const char *currency =
        json_string_value(json_at(product, "priceData.currency"));
    const char *brand = json_string_value(json_object_get(product, "brand"));
    const char *ribbon = json_string_value(json_object_get(product, "ribbon"));
    char revision[24];
    json_t *out;

    snprintf(
        revision, sizeof(revision), "%lld",
        (long long)json_integer_value(json_object_get(product, "revision")));
    out = json_pack(
        "{sO ss sO sO sO sb ss sO sO sO s{so so} s{sO ss} so s{so}}", "id",
        json_object_get(product, "id"), "revision", revision, "name",
        json_object_get(product, "name"), "slug",
        json_object_get(product, "slug"), "visible",
        json_object_get(product, "visible"), "visibleInPos", 1, "productType",
        "PHYSICAL", "createdDate", json_object_get(product, "createdDate"),
        "updatedDate", json_object_get(product, "lastUpdated"), "seoData",
        json_object_get(product, "seoData"), "actualPriceRange", "minValue",
        money(json_number_value(json_at(product, "priceRange.minValue")),
              currency ? currency : "USD"),
        "maxValue",
        money(json_number_value(json_at(product, "priceRange.maxValue")),
              currency ? currency : "USD"),
        "inventory", "availabilityStatus",
        json_at(product, "stock.inventoryStatus"), "preorderStatus", "DISABLED",
        "options", v3_options(product), "variantsInfo", "variants",
        v3_variants(product, currency ? currency : "USD"));
    if (brand && *brand)
        json_object_set_new(out, "brand", json_pack("{ss}", "name", brand));
    if (ribbon && *ribbon)
        json_object_set_new(out, "ribbon", json_pack("{ss}", "name", ribbon));
    add_requested_fields(sb, site, out, product, fields, req);
    return out;
}

static struct wix_site *begin_v3(struct sandbox_call *call)
{
    return wix_begin_catalog(call, 3);
}

/* GET /stores/v3/products/{id}?fields= */
static void get_product(struct sandbox_call *call)
{
    struct wix_site *site = begin_v3(call);
    const char *id = http_request_param(call->req, "id");
    json_t *product;

    if (!site)
        return;
    product = wix_product_find(site, id);
    if (product)
        wix_reply(call, json_pack("{so}", "product",
                                  product_v3(call->sb, site, product, NULL,
                                             call->req)));
    else
        wix_not_found(call, "product", id);
    sandbox_unlock(call->sb);
}

static const char *v3_field(const char *field)
{
    static const char *const fields[] = {
        "id",          "name",        "slug",        "visible",
        "createdDate", "updatedDate", "productType", "brand.name",
        "ribbon.name", "revision",
    };

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(field, fields[i]) == 0)
            return fields[i];
    }
    if (strcmp(field, "actualPriceRange.minValue.amount") == 0)
        return field;
    return NULL;
}

/* A name search: every word of expression appears in the name. */
static int name_matches(const json_t *product, const char *expression)
{
    const char *name = json_string_value(json_object_get(product, "name"));
    char word[128];
    const char *p = expression;

    while (*p) {
        size_t length = strcspn(p, " ");

        if (length > 0 && length < sizeof(word)) {
            snprintf(word, sizeof(word), "%.*s", (int)length, p);
            if (!strcasestr(name, word))
                return 0;
        }
        p += length;
        while (*p == ' ')
            p++;
    }
    return 1;
}

static json_t *v3_candidates(struct sandbox *sb, struct wix_site *site,
                             const json_t *fields, const char *expression)
{
    json_t *out = json_array();
    size_t i;
    json_t *product;

    json_array_foreach(json_object_get(site->state, "products"), i, product)
    {
        if (expression && !name_matches(product, expression))
            continue;
        json_array_append_new(out, product_v3(sb, site, product, fields, NULL));
    }
    return out;
}

static void reply_page(struct sandbox_call *call, json_t *matched,
                       const json_t *cursor_paging)
{
    const json_t *limit_value = json_object_get(cursor_paging, "limit");
    const char *cursor =
        json_string_value(json_object_get(cursor_paging, "cursor"));
    int64_t limit = json_is_integer(limit_value)
                        ? json_integer_value(limit_value)
                        : PAGE_DEFAULT;
    long offset = cursor ? strtol(cursor, NULL, 10) : 0;
    json_t *page = json_array();
    int more;
    char next[24];

    if (limit < 0 || limit > PAGE_MAX || offset < 0) {
        wix_field_error(call, "cursorPaging.limit", "RANGE",
                        "must be between 0 and %d", PAGE_MAX);
        json_decref(page);
        return;
    }
    for (size_t i = (size_t)offset;
         i < json_array_size(matched) && (int64_t)json_array_size(page) < limit;
         i++)
        json_array_append(page, json_array_get(matched, i));
    more = (size_t)offset + json_array_size(page) < json_array_size(matched);
    snprintf(next, sizeof(next), "%ld", offset + (long)json_array_size(page));
    wix_reply(call, json_pack("{so s{si s{so} sb}}", "products", page,
                              "pagingMetadata", "count",
                              (int)json_array_size(page), "cursors", "next",
                              more ? json_string(next) : json_null(), "hasNext",
                              more));
}

/* POST /stores/v3/products/query and /search: {query|search: {filter,
 * sort, cursorPaging, search: {expression}}, fields}. */
static void query_common(struct sandbox_call *call, const char *key)
{
    struct wix_site *site = begin_v3(call);
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *query = json_object_get(body, key);
    json_t *candidates = NULL;
    json_t *matched = NULL;
    struct error err;

    if (!body)
        goto out;
    candidates =
        v3_candidates(call->sb, site, json_object_get(body, "fields"),
                      json_string_value(json_at(query, "search.expression")));
    matched = wix_filter(candidates, json_object_get(query, "filter"), v3_field,
                         &err);
    if (!matched || wix_sort(matched, json_object_get(query, "sort"), v3_field,
                             &err) != 0) {
        wix_error(call, 400, "INVALID_ARGUMENT", "%s", err.message);
        goto out;
    }
    reply_page(call, matched, json_object_get(query, "cursorPaging"));
out:
    json_decref(matched);
    json_decref(candidates);
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

static void query_products(struct sandbox_call *call)
{
    query_common(call, "query");
}

static void search_products(struct sandbox_call *call)
{
    query_common(call, "search");
}

/* revision as a JSON string (how V3 sends int64) or integer; -1 when
 * missing or not a number. */
static int64_t read_revision(const json_t *value)
{
    char *end;
    long long number;

    if (json_is_integer(value))
        return json_integer_value(value);
    if (!json_is_string(value) || json_string_length(value) == 0)
        return -1;
    number = strtoll(json_string_value(value), &end, 10);
    return *end ? -1 : number;
}

static int check_v3_text(struct sandbox_call *call, const json_t *changes,
                         const char *key, size_t min, size_t max)
{
    const json_t *value = json_object_get(changes, key);
    char field[64];
    size_t length;

    if (!value)
        return 0;
    snprintf(field, sizeof(field), "product.%s", key);
    length =
        json_is_string(value) ? wix_text_length(json_string_value(value)) : 0;
    if (!json_is_string(value) || length < min || length > max) {
        wix_field_error(call, field, length > max ? "MAX_LENGTH" : "MIN_LENGTH",
                        "must be a string of %zu to %zu characters", min, max);
        return -1;
    }
    return 0;
}

/* Media items for an update: [{id} | {url}], at most 15. NULL with the
 * 400 written. */
static json_t *v3_new_media(struct sandbox_call *call, struct wix_site *site,
                            const json_t *items)
{
    json_t *out = json_array();
    size_t i;
    json_t *item;

    if (!json_is_array(items) || json_array_size(items) > MEDIA_ITEMS_MAX) {
        wix_field_error(call, "product.media.itemsInfo.items", "MAX_SIZE",
                        "must be an array of at most %d items",
                        MEDIA_ITEMS_MAX);
        json_decref(out);
        return NULL;
    }
    json_array_foreach(items, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        const char *url = json_string_value(json_object_get(item, "url"));
        json_t *entry =
            id    ? wix_media_lookup(call->sb, site, id, 0)
            : url ? wix_media_import(call->sb, site, url, NULL, NULL, NULL)
                  : NULL;

        if (!entry) {
            wix_field_error(call, "product.media.itemsInfo.items", "EXISTS",
                            "item %zu needs the id of a file in the site's "
                            "Media Manager, or a url",
                            i);
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, wix_product_media_item(entry));
    }
    return out;
}

static int check_v3_update(struct sandbox_call *call, struct wix_site *site,
                           json_t *changes)
{
    json_t *ricos = json_object_get(changes, "description");

    if (check_v3_text(call, changes, "name", 1, NAME_MAX_CHARS) != 0 ||
        check_v3_text(call, changes, "plainDescription", 0,
                      PLAIN_DESCRIPTION_MAX_CHARS) != 0)
        return -1;
    if (json_object_get(changes, "seoData") &&
        wix_seo_check(call, json_object_get(changes, "seoData"),
                      "product.seoData") != 0)
        return -1;
    if (ricos && wix_ricos_check(call, site, ricos, "product.description"))
        return -1;
    return 0;
}

/* Applies a checked update. A Ricos description wins over
 * plainDescription, as Wix documents. */
static void apply_v3_update(json_t *product, const json_t *changes,
                            json_t *media)
{
    const json_t *ricos = json_object_get(changes, "description");
    const json_t *plain = json_object_get(changes, "plainDescription");
    static const char *const copied[] = {"name", "slug", "visible", "seoData"};

    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        if (json_object_get(changes, copied[i]))
            json_object_set(product, copied[i],
                            json_object_get(changes, copied[i]));
    }
    if (json_is_string(json_at(changes, "brand.name")))
        json_object_set(product, "brand", json_at(changes, "brand.name"));
    if (json_is_string(json_at(changes, "ribbon.name")))
        json_object_set(product, "ribbon", json_at(changes, "ribbon.name"));
    if (ricos) {
        char *html = wix_ricos_html(ricos);

        json_object_set(product, "description_ricos", (json_t *)ricos);
        json_object_set_new(product, "description", json_string(html));
        free(html);
    } else if (plain) {
        json_object_set(product, "description", (json_t *)plain);
        json_object_set_new(product, "description_ricos", json_null());
    }
    if (media) {
        json_object_set(json_object_get(product, "media"), "items", media);
        wix_product_main_media(product);
    }
}

static int check_revision(struct sandbox_call *call, const json_t *product,
                          const json_t *changes)
{
    int64_t sent = read_revision(json_object_get(changes, "revision"));

    if (sent < 0) {
        wix_field_error(call, "product.revision", "REQUIRED",
                        "revision must not be empty");
        return -1;
    }
    /* NOTE: Wix documents the 409 and its message, not its code. */
    if (sent != json_integer_value(json_object_get(product, "revision"))) {
        wix_error(call, 409, "REVISION_MISMATCH",
                  "entity has already changed since the requested revision");
        return -1;
    }
    return 0;
}

/* PATCH /stores/v3/products/{id} {product: {revision, ..changed}, fields} */
static void update_product(struct sandbox_call *call)
{
    struct wix_site *site = begin_v3(call);
    const char *id = http_request_param(call->req, "id");
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *changes = json_object_get(body, "product");
    const json_t *items = json_at(changes, "media.itemsInfo.items");
    json_t *media = NULL;
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
    if (check_revision(call, product, changes) != 0 ||
        check_v3_update(call, site, changes) != 0 ||
        (items && !(media = v3_new_media(call, site, items))))
        goto out;
    apply_v3_update(product, changes, media);
    wix_product_touch(call->sb, product);
    wix_reply(call,
              json_pack("{so}", "product",
                        product_v3(call->sb, site, product,
                                   json_object_get(body, "fields"), NULL)));
out:
    json_decref(media);
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

int wix_stores_v3_routes(struct sandbox *sb, struct http_server *server)
{
    static const struct wix_route routes[] = {
        {"POST", "/wix/stores/v3/products/query", query_products},
        {"POST", "/wix/stores/v3/products/search", search_products},
        {"GET", "/wix/stores/v3/products/{id}", get_product},
        {"PATCH", "/wix/stores/v3/products/{id}", update_product},
    };

    return wix_add_routes(sb, server, routes,
                          sizeof(routes) / sizeof(routes[0]));
}
