/*
 * Stored store products: building them from fixture or request entries,
 * rendering the Catalog V1 shape, and the catalog-version check that both
 * catalog APIs run first.
 *
 * A fixture or request entry ("spec") has these fields, all optional but
 * name: id, name, slug, description (HTML), sku, brand, ribbon, price,
 * compare_at_price, currency, weight, visible, product_type,
 * collections (names or ids), options [{name, choices: [..]}],
 * variants [{choices: {option: choice}, price, sku, quantity}],
 * quantity, images [{id, name, width, height, alt}], seo_title,
 * seo_description.
 */
#include "wix.h"

#include "core/crypto.h"
#include "core/json.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALL_PRODUCTS_ID "00000000-000000-000000-000000000001"
#define DEFAULT_VARIANT_ID "00000000-0000-0000-0000-000000000000"
#define THUMBNAIL_SIZE 50

void wix_price_format(double price, const char *currency, char *out,
                      size_t size)
{
    if (strcmp(currency, "USD") == 0)
        snprintf(out, size, "$%.2f", price);
    else if (strcmp(currency, "EUR") == 0)
        snprintf(out, size, "\xE2\x82\xAC%.2f", price);
    else
        snprintf(out, size, "%.2f %s", price, currency);
}

static json_t *price_data(double price, double discounted, const char *currency)
{
    char formatted[48];
    char formatted_discounted[48];

    wix_price_format(price, currency, formatted, sizeof(formatted));
    wix_price_format(discounted, currency, formatted_discounted,
                     sizeof(formatted_discounted));
    return json_pack("{ss sf sf s{ss ss sn}}", "currency", currency, "price",
                     price, "discountedPrice", discounted, "formatted", "price",
                     formatted, "discountedPrice", formatted_discounted,
                     "pricePerUnit");
}

/* A Media Manager style file id for a fixture image name:
 * "<6 hex>_<32 hex>~mv2.<ext>", the same for the same name. */
static void image_file_id(const char *name, char *out, size_t size)
{
    const char *dot = strrchr(name, '.');
    char hash[65];
    char ext[8] = "jpg";

    if (dot && strlen(dot + 1) < sizeof(ext) && strlen(dot + 1) > 0) {
        snprintf(ext, sizeof(ext), "%s", dot + 1);
        for (char *c = ext; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    crypto_sha256_hex(name, strlen(name), hash);
    snprintf(out, size, "%.6s_%.32s~mv2.%s", hash, hash + 6, ext);
}

json_t *wix_product_media_item(const json_t *file_entry)
{
    const json_t *file = json_object_get(file_entry, "file");

    return json_pack("{sO ss sO s{}}", "id", json_object_get(file, "id"),
                     "mediaType", "image", "title",
                     json_object_get(file, "displayName"), "image");
}

void wix_product_main_media(json_t *product)
{
    json_t *media = json_object_get(product, "media");
    json_t *items = json_object_get(media, "items");

    if (json_array_size(items) > 0)
        json_object_set(media, "mainMedia", json_array_get(items, 0));
    else
        json_object_del(media, "mainMedia");
}

static int add_images(struct sandbox *sb, struct wix_site *site,
                      json_t *product, const json_t *images, struct error *err)
{
    json_t *items = json_array();
    size_t i;
    json_t *image;

    json_object_set_new(product, "media", json_pack("{so}", "items", items));
    json_array_foreach(images, i, image)
    {
        const char *name;
        const char *id;
        int64_t width;
        int64_t height;
        char generated_id[128];
        const char *alt;
        json_t *entry;

        if (json_get_string(image, "name", &name, err) != 0 ||
            json_opt_string(image, "id", NULL, &id, err) != 0 ||
            json_opt_int(image, "width", 925, &width, err) != 0 ||
            json_opt_int(image, "height", 925, &height, err) != 0) {
            error_prefix(err, "images[%zu]", i);
            return -1;
        }
        if (width < 1 || height < 1 || width * height > 4096L * 4096L)
            return error_set(err, ERR_INVALID,
                             "images[%zu]: size %lldx%lld is out of range", i,
                             (long long)width, (long long)height);
        if (!id) {
            image_file_id(name, generated_id, sizeof(generated_id));
            id = generated_id;
        }
        entry = wix_media_add_generated(sb, site, id, name, (int)width,
                                        (int)height);
        json_array_append_new(items, wix_product_media_item(entry));
        /* An empty alt text is no alt text, as for media added later. */
        alt = json_string_value(json_object_get(image, "alt"));
        if (alt && *alt)
            json_object_set_new(json_array_get(items, i), "altText",
                                json_string(alt));
    }
    wix_product_main_media(product);
    return 0;
}

/* Collection ids for the names or ids in spec.collections. */
static json_t *collection_ids(const json_t *names, const json_t *collections,
                              struct error *err)
{
    json_t *ids = json_pack("[s]", ALL_PRODUCTS_ID);
    size_t i;
    json_t *name;

    json_array_foreach(names, i, name)
    {
        size_t k;
        json_t *collection;
        int found = 0;

        json_array_foreach(collections, k, collection)
        {
            if (json_equal(name, json_object_get(collection, "name")) ||
                json_equal(name, json_object_get(collection, "id"))) {
                json_array_append(ids, json_object_get(collection, "id"));
                found = 1;
                break;
            }
        }
        if (!found) {
            json_decref(ids);
            error_set(err, ERR_INVALID,
                      "collections[%zu]: no collection named %s", i,
                      json_is_string(name) ? json_string_value(name) : "?");
            return NULL;
        }
    }
    return ids;
}

static json_t *seo_data(const json_t *spec)
{
    const char *title = json_string_value(json_object_get(spec, "seo_title"));
    const char *text =
        json_string_value(json_object_get(spec, "seo_description"));
    json_t *tags = json_array();

    if (title && *title)
        json_array_append_new(
            tags, json_pack("{ss ss s{} sb sb}", "type", "title", "children",
                            title, "props", "custom", 0, "disabled", 0));
    if (text && *text)
        json_array_append_new(
            tags, json_pack("{ss s{ss ss} ss sb sb}", "type", "meta", "props",
                            "name", "description", "content", text, "children",
                            "", "custom", 0, "disabled", 0));
    return json_pack("{so s{sb s[]}}", "tags", tags, "settings",
                     "preventAutoRedirect", 0, "keywords");
}

static json_t *option_list(const json_t *options)
{
    json_t *out = json_array();
    size_t i;
    json_t *option;

    json_array_foreach(options, i, option)
    {
        json_t *choices = json_array();
        size_t k;
        json_t *choice;

        json_array_foreach(json_object_get(option, "choices"), k, choice)
            json_array_append_new(choices,
                                  json_pack("{sO sO sb sb}", "value", choice,
                                            "description", choice, "inStock", 1,
                                            "visible", 1));
        json_array_append_new(out,
                              json_pack("{ss sO so}", "optionType", "drop_down",
                                        "name", json_object_get(option, "name"),
                                        "choices", choices));
    }
    return out;
}

struct price_info {
    double price;      /* before discount */
    double discounted; /* what the buyer pays */
    const char *currency;
};

static json_t *variant_new(const json_t *spec, const char *id,
                           const struct price_info *base)
{
    double paid = json_is_number(json_object_get(spec, "price"))
                      ? json_number_value(json_object_get(spec, "price"))
                      : base->discounted;
    double listed = paid + (base->price - base->discounted);
    int64_t quantity = json_integer_value(json_object_get(spec, "quantity"));
    const char *sku = json_string_value(json_object_get(spec, "sku"));
    json_t *choices = json_object_get(spec, "choices");

    return json_pack(
        "{ss so s{so so sf ss sb} s{sb sI sb}}", "id", id, "choices",
        choices ? json_deep_copy(choices) : json_object(), "variant",
        "priceData", price_data(listed, paid, base->currency),
        "convertedPriceData", price_data(listed, paid, base->currency),
        "weight", json_number_value(json_object_get(spec, "weight")), "sku",
        sku ? sku : "", "visible", 1, "stock", "trackQuantity", 1, "quantity",
        (json_int_t)quantity, "inStock", quantity > 0);
}

/* Variants, the price range and the stock summary. */
static void add_variants(json_t *product, const json_t *spec,
                         const struct price_info *base)
{
    const json_t *specs = json_object_get(spec, "variants");
    json_t *variants = json_array();
    double low = base->discounted;
    double high = base->discounted;
    int64_t total = 0;
    size_t in_stock = 0;
    const char *status = "IN_STOCK";
    size_t i;
    json_t *entry;

    if (json_array_size(specs) == 0) {
        json_array_append_new(variants,
                              variant_new(spec, DEFAULT_VARIANT_ID, base));
    } else {
        json_array_foreach(specs, i, entry)
        {
            char id[37];

            wix_new_guid(id);
            json_array_append_new(variants, variant_new(entry, id, base));
        }
    }
    json_array_foreach(variants, i, entry)
    {
        double paid = json_number_value(
            json_at(entry, "variant.priceData.discountedPrice"));
        int64_t quantity = json_integer_value(json_at(entry, "stock.quantity"));

        low = i == 0 || paid < low ? paid : low;
        high = i == 0 || paid > high ? paid : high;
        total += quantity;
        in_stock += quantity > 0;
    }
    json_object_set_new(product, "variants", variants);
    json_object_set_new(product, "manageVariants",
                        json_boolean(json_array_size(specs) > 1));
    json_object_set_new(
        product, "priceRange",
        json_pack("{sf sf}", "minValue", low, "maxValue", high));
    if (in_stock == 0)
        status = "OUT_OF_STOCK";
    else if (in_stock < json_array_size(variants))
        status = "PARTIALLY_OUT_OF_STOCK";
    json_object_set_new(product, "stock",
                        json_pack("{sb sI sb ss}", "trackInventory", 1,
                                  "quantity", (json_int_t)total, "inStock",
                                  in_stock > 0, "inventoryStatus", status));
}

static int read_prices(const json_t *spec, struct price_info *out,
                       struct error *err)
{
    const json_t *price = json_object_get(spec, "price");
    const json_t *compare = json_object_get(spec, "compare_at_price");

    out->currency = json_string_value(json_object_get(spec, "currency"));
    if (!out->currency)
        out->currency = "USD";
    if (price && !json_is_number(price))
        return error_set(err, ERR_INVALID, "price must be a number");
    out->discounted = price ? json_number_value(price) : 0;
    out->price = out->discounted;
    if (json_is_number(compare) && json_number_value(compare) > out->discounted)
        out->price = json_number_value(compare);
    return 0;
}

/* The fields that come straight from the spec. */
static json_t *product_base(struct sandbox *sb, struct wix_site *site,
                            const json_t *spec, struct error *err)
{
    const char *name;
    const char *id;
    const char *slug;
    char generated_id[37];
    char generated_slug[512];
    char when[32];
    char numeric[24];
    json_t *next = json_object_get(site->state, "next_numeric_id");

    if (json_get_string(spec, "name", &name, err) != 0 ||
        json_opt_string(spec, "id", NULL, &id, err) != 0 ||
        json_opt_string(spec, "slug", NULL, &slug, err) != 0)
        return NULL;
    if (!id) {
        wix_new_guid(generated_id);
        id = generated_id;
    }
    if (!slug) {
        wix_slugify(name, generated_slug, sizeof(generated_slug));
        slug = *generated_slug ? generated_slug : id;
    }
    snprintf(numeric, sizeof(numeric), "%lld",
             (long long)json_integer_value(next));
    json_integer_set(next, json_integer_value(next) + 1);
    wix_now_iso(sb, when);
    return json_pack(
        "{ss ss ss sb ss ss ss sf ss ss ss s[] s[] s[] s{sf sf} ss ss sI sn}",
        "id", id, "name", name, "slug", slug, "visible",
        !json_is_false(json_object_get(spec, "visible")), "productType",
        "physical", "description", "", "sku", "", "weight", 0.0, "numericId",
        numeric, "createdDate", when, "lastUpdated", when, "ribbons",
        "customTextFields", "additionalInfoSections", "costRange", "minValue",
        0.0, "maxValue", 0.0, "ribbon", "", "inventoryItemId", id, "revision",
        (json_int_t)1, "description_ricos");
}

/* Copies the optional text and number fields of spec into product. */
static void copy_spec_fields(json_t *product, const json_t *spec)
{
    static const struct {
        const char *from;
        const char *to;
    } fields[] = {
        {"description", "description"},
        {"sku", "sku"},
        {"brand", "brand"},
        {"ribbon", "ribbon"},
        {"weight", "weight"},
        {"product_type", "productType"},
    };

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *value = json_object_get(spec, fields[i].from);

        if (value && !json_is_null(value))
            json_object_set(product, fields[i].to, value);
    }
}

json_t *wix_product_build(struct sandbox *sb, struct wix_site *site,
                          const json_t *spec, const json_t *collections,
                          struct error *err)
{
    struct price_info prices;
    json_t *product;
    json_t *ids;
    char url_path[600];

    if (!json_is_object(spec)) {
        error_set(err, ERR_INVALID, "expected a product object");
        return NULL;
    }
    if (read_prices(spec, &prices, err) != 0 ||
        !(product = product_base(sb, site, spec, err)))
        return NULL;
    copy_spec_fields(product, spec);
    ids =
        collection_ids(json_object_get(spec, "collections"), collections, err);
    if (!ids || add_images(sb, site, product, json_object_get(spec, "images"),
                           err) != 0) {
        json_decref(ids);
        json_decref(product);
        return NULL;
    }
    json_object_set_new(product, "collectionIds", ids);
    json_object_set_new(
        product, "price",
        price_data(prices.price, prices.discounted, prices.currency));
    json_object_set_new(
        product, "priceData",
        price_data(prices.price, prices.discounted, prices.currency));
    json_object_set_new(
        product, "convertedPriceData",
        price_data(prices.price, prices.discounted, prices.currency));
    json_object_set_new(
        product, "discount",
        prices.price > prices.discounted
            ? json_pack("{ss sf}", "type", "AMOUNT", "value",
                        prices.price - prices.discounted)
            : json_pack("{ss sf}", "type", "NONE", "value", 0.0));
    json_object_set_new(product, "productOptions",
                        option_list(json_object_get(spec, "options")));
    add_variants(product, spec, &prices);
    json_object_set_new(product, "seoData", seo_data(spec));
    snprintf(url_path, sizeof(url_path), "/product-page/%s",
             json_string_value(json_object_get(product, "slug")));
    json_object_set_new(product, "productPageUrl",
                        json_pack("{ss ss}", "base",
                                  wix_site_string(site, "url"), "path",
                                  url_path));
    return product;
}

/* Fills url, size and thumbnail of a V1 media item from the site's file. */
static void render_media_item(struct sandbox *sb, struct wix_site *site,
                              json_t *item)
{
    const char *id = json_string_value(json_object_get(item, "id"));
    json_t *entry = id ? wix_media_lookup(sb, site, id, 0) : NULL;
    json_t *alt = json_object_get(item, "altText");
    char url[512];
    char thumb[600];

    if (!id)
        return;
    wix_media_url(sb, id, url, sizeof(url));
    snprintf(thumb, sizeof(thumb), "%s/v1/fit/w_%d,h_%d,q_90/file.jpg", url,
             THUMBNAIL_SIZE, THUMBNAIL_SIZE);
    json_object_set_new(
        item, "image",
        json_pack("{ss sI sI so}", "url", url, "width",
                  json_integer_value(json_object_get(entry, "width")), "height",
                  json_integer_value(json_object_get(entry, "height")),
                  "altText", alt ? json_incref(alt) : json_null()));
    json_object_set_new(item, "thumbnail",
                        json_pack("{ss si si}", "url", thumb, "width",
                                  THUMBNAIL_SIZE, "height", THUMBNAIL_SIZE));
    json_object_del(item, "altText");
}

json_t *wix_product_v1(struct sandbox *sb, struct wix_site *site,
                       const json_t *product, int include_variants)
{
    json_t *out = json_deep_copy(product);
    json_t *media = json_object_get(out, "media");
    size_t i;
    json_t *item;

    json_object_del(out, "revision");
    json_object_del(out, "description_ricos");
    json_object_set_new(json_object_get(out, "productPageUrl"), "base",
                        json_string(wix_site_string(site, "url")));
    if (!include_variants)
        json_object_del(out, "variants");
    json_array_foreach(json_object_get(media, "items"), i, item)
        render_media_item(sb, site, item);
    if (json_object_get(media, "mainMedia"))
        json_object_set(media, "mainMedia",
                        json_array_get(json_object_get(media, "items"), 0));
    return out;
}

json_t *wix_product_find(struct wix_site *site, const char *id)
{
    return wix_find_by(json_object_get(site->state, "products"), "id", id);
}

json_t *wix_product_for_change(struct wix_site *site, const char *id)
{
    return wix_find_by(wix_site_own(site, "products"), "id", id);
}

void wix_product_touch(struct sandbox *sb, json_t *product)
{
    char when[32];

    wix_now_iso(sb, when);
    json_object_set_new(product, "lastUpdated", json_string(when));
    json_object_set_new(
        product, "revision",
        json_integer(json_integer_value(json_object_get(product, "revision")) +
                     1));
}

static int catalog_check(struct sandbox_call *call, struct wix_site *site,
                         int version)
{
    const char *catalog = wix_site_string(site, "catalog_version");
    const char *wanted = version == 3 ? "V3_CATALOG" : "V1_CATALOG";

    if (strcmp(catalog, wanted) == 0)
        return 0;
    if (strcmp(catalog, "STORES_NOT_INSTALLED") == 0) {
        wix_error(call, 428, "REQUIRED_APP_NOT_INSTALLED",
                  "Wix Stores app is not installed for site");
        return -1;
    }
    /* NOTE: the code for a V1 call on a V3 site is inferred from the
     * observed V3-on-V1 code; Wix does not document it. */
    wix_error(call, 428,
              version == 3 ? "CATALOG_V1_SITE_CALLING_CATALOG_V3_API"
                           : "CATALOG_V3_SITE_CALLING_CATALOG_V1_API",
              "Endpoint belongs to the wrong catalog version. This site is "
              "using %s. Call the Catalog %s APIs instead.",
              version == 3 ? "CATALOG_V1" : "CATALOG_V3",
              version == 3 ? "V1" : "V3");
    return -1;
}

int wix_seo_check(struct sandbox_call *call, const json_t *seo,
                  const char *field)
{
    const json_t *tags = json_object_get(seo, "tags");
    char where[128];
    size_t i;
    json_t *tag;

    if (!json_is_object(seo) || (tags && !json_is_array(tags))) {
        wix_field_error(call, field, "TYPE",
                        "must be an object with a tags array");
        return -1;
    }
    json_array_foreach(tags, i, tag)
    {
        const char *type = json_string_value(json_object_get(tag, "type"));

        if (type && (strcmp(type, "title") == 0 || strcmp(type, "meta") == 0 ||
                     strcmp(type, "script") == 0 || strcmp(type, "link") == 0))
            continue;
        snprintf(where, sizeof(where), "%s.tags[%zu].type", field, i);
        wix_field_error(call, where, "ENUM",
                        "must be one of title, meta, script, link");
        return -1;
    }
    return 0;
}

struct wix_site *wix_begin_catalog(struct sandbox_call *call, int version)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_STORES);

    if (site && catalog_check(call, site, version) != 0) {
        sandbox_unlock(call->sb);
        return NULL;
    }
    return site;
}
