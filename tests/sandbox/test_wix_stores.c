/*
 * The sandbox's Wix Stores emulation through HTTP: the catalog version,
 * Catalog V1 queries, get, update limits and media, collections, the 428
 * for the wrong catalog, and Catalog V3 with its revision check.
 */
#include "sandbox_proc.h"

#include "core/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct sandbox_proc sandbox;

struct site {
    char instance_id[64];
    char token[128];
};

static void new_site(struct site *site, const char *body)
{
    json_t *created = sandbox_proc_create_site(&sandbox, body);

    snprintf(site->instance_id, sizeof(site->instance_id), "%s",
             json_string_value(json_object_get(created, "instance_id")));
    json_decref(created);
    sandbox_proc_wix_token(&sandbox, site->instance_id, site->token,
                           sizeof(site->token));
}

static json_t *wix(struct site *site, const char *method, const char *path,
                   const char *body, long status)
{
    return sandbox_proc_wix_call(&sandbox, site->token, method, path, body,
                                 status);
}

/* POST /wix/stores/v1/products/query with the query object as text. */
static json_t *query_v1(struct site *site, const char *query, long status)
{
    char body[2048];

    snprintf(body, sizeof(body), "{\"query\": %s}", query);
    return wix(site, "POST", "/wix/stores/v1/products/query", body, status);
}

/* The id of the fixture product with this name. */
static void product_id(struct site *site, const char *name, char out[64])
{
    char query[512];
    json_t *answer;

    snprintf(query, sizeof(query),
             "{\"filter\": \"{\\\"name\\\": \\\"%s\\\"}\"}", name);
    answer = query_v1(site, query, 200);
    assert_int_equal(
        json_integer_value(json_object_get(answer, "totalResults")), 1);
    snprintf(out, 64, "%s",
             json_string_value(json_at(answer, "products[0].id")));
    json_decref(answer);
}

static const json_t *find_by_id(const json_t *items, const char *id)
{
    size_t i;
    json_t *item;

    json_array_foreach(items, i, item)
    {
        if (strcmp(json_string_value(json_object_get(item, "id")), id) == 0)
            return item;
    }
    fail_msg("no item with id %s", id);
    return NULL;
}

static void test_catalog_version(void **state)
{
    static const struct {
        const char *body;
        const char *version;
    } cases[] = {
        {"{\"fixture\": \"store\"}", "V1_CATALOG"},
        {"{\"fixture\": \"store\", \"catalog_version\": 3}", "V3_CATALOG"},
        {"{}", "STORES_NOT_INSTALLED"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct site site;
        json_t *answer;

        new_site(&site, cases[i].body);
        answer =
            wix(&site, "GET", "/wix/stores/v3/provision/version", NULL, 200);
        assert_string_equal(
            json_string_value(json_object_get(answer, "catalogVersion")),
            cases[i].version);
        json_decref(answer);
    }
}

static void test_fixture_size(void **state)
{
    struct site site;
    json_t *view;
    size_t hidden = 0;
    size_t i;
    json_t *product;

    (void)state;
    new_site(&site, "{\"fixture\": \"store\"}");
    view = sandbox_proc_site(&sandbox, site.instance_id);
    assert_true(json_array_size(json_object_get(view, "products")) >= 200);
    json_array_foreach(json_object_get(view, "products"), i, product)
    {
        hidden += json_is_false(json_object_get(product, "visible"));
        assert_true(json_array_size(json_object_get(product, "variants")) > 0);
    }
    assert_true(hidden > 0);
    assert_true(json_array_size(json_object_get(view, "media")) > 200);
    json_decref(view);
}

/* Fixture sites share one catalog until they change it; a change on one
 * site must not show on another. */
static void test_fixture_sites_independent(void **state)
{
    struct site first;
    struct site second;
    char id[64];
    char path[200];
    char body[600];
    json_t *answer;
    json_t *view;
    size_t media_count;

    (void)state;
    new_site(&first, "{\"fixture\": \"store\"}");
    new_site(&second, "{\"fixture\": \"store\"}");
    product_id(&first, "Pink Armchair", id);
    snprintf(path, sizeof(path), "/wix/stores/v1/products/%s", id);
    json_decref(wix(&first, "PATCH", path,
                    "{\"product\": {\"name\": \"Velvet Pink Armchair\"}}",
                    200));
    answer = wix(&second, "GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_at(answer, "product.name")),
                        "Pink Armchair");
    json_decref(answer);

    view = sandbox_proc_site(&sandbox, second.instance_id);
    media_count = json_array_size(json_object_get(view, "media"));
    json_decref(view);
    snprintf(body, sizeof(body), "{\"url\": \"%s/wixstatic/media/x.jpg\"}",
             sandbox.url);
    json_decref(
        wix(&first, "POST", "/wix/site-media/v1/files/import", body, 200));
    view = sandbox_proc_site(&sandbox, second.instance_id);
    assert_int_equal(json_array_size(json_object_get(view, "media")),
                     media_count);
    assert_string_equal(json_string_value(json_at(view, "media[0].siteId")),
                        json_string_value(json_object_get(view, "site_id")));
    json_decref(view);
    view = sandbox_proc_site(&sandbox, first.instance_id);
    assert_int_equal(json_array_size(json_object_get(view, "media")),
                     media_count + 1);
    json_decref(view);
}

static void test_v1_query_paging(void **state)
{
    struct site site;
    json_t *answer;
    json_int_t total;

    (void)state;
    new_site(&site, "{\"fixture\": \"store\"}");
    answer = query_v1(&site, "{}", 200);
    total = json_integer_value(json_object_get(answer, "totalResults"));
    assert_true(total >= 200);
    assert_int_equal(json_array_size(json_object_get(answer, "products")), 100);
    assert_int_equal(json_integer_value(json_at(answer, "metadata.items")),
                     100);
    assert_int_equal(json_integer_value(json_at(answer, "metadata.offset")), 0);
    json_decref(answer);

    answer =
        query_v1(&site, "{\"paging\": {\"limit\": 100, \"offset\": 200}}", 200);
    assert_int_equal(json_array_size(json_object_get(answer, "products")),
                     total - 200);
    json_decref(answer);

    answer = wix(&site, "POST", "/wix/stores/v1/products/query",
                 "{\"query\": {}, \"includeHiddenProducts\": true}", 200);
    assert_true(json_integer_value(json_object_get(answer, "totalResults")) >
                total);
    json_decref(answer);

    answer = query_v1(&site, "{\"paging\": {\"limit\": 101}}", 400);
    sandbox_proc_assert_wix_error(answer, NULL, "query.paging.limit");
    json_decref(answer);
}

static void test_v1_query_filter_sort(void **state)
{
    struct site site;
    json_t *answer;
    json_t *collections;
    char query[512];

    (void)state;
    new_site(&site, "{\"fixture\": \"store\"}");
    answer = query_v1(&site,
                      "{\"filter\": \"{\\\"name\\\": {\\\"$startsWith\\\": "
                      "\\\"classic\\\"}}\", \"sort\": \"[{\\\"fieldName\\\": "
                      "\\\"name\\\", \\\"order\\\": \\\"ASC\\\"}]\"}",
                      200);
    assert_true(json_integer_value(json_object_get(answer, "totalResults")) >=
                3);
    assert_string_equal(json_string_value(json_at(answer, "products[0].name")),
                        "Classic Leather Jacket");
    json_decref(answer);

    answer = query_v1(&site,
                      "{\"sort\": \"[{\\\"numericId\\\": \\\"desc\\\"}]\", "
                      "\"paging\": {\"limit\": 2}}",
                      200);
    assert_true(
        strcmp(json_string_value(json_at(answer, "products[0].numericId")),
               json_string_value(json_at(answer, "products[1].numericId"))) >
        0);
    json_decref(answer);

    collections = wix(&site, "POST", "/wix/stores/v1/collections/query",
                      "{\"query\": {\"filter\": \"{\\\"name\\\": "
                      "\\\"Necklace\\\"}\"}}",
                      200);
    snprintf(query, sizeof(query),
             "{\"filter\": {\"collections.id\": {\"$hasSome\": [\"%s\"]}, "
             "\"price\": {\"$gt\": 40}}}",
             json_string_value(json_at(collections, "collections[0].id")));
    answer = query_v1(&site, query, 200);
    assert_true(json_integer_value(json_object_get(answer, "totalResults")) >
                0);
    assert_true(json_number_value(json_at(answer, "products[0].price.price")) >
                40);
    json_decref(answer);
    json_decref(collections);

    answer = query_v1(&site, "{\"filter\": \"{not json\"}", 400);
    sandbox_proc_assert_wix_error(answer, "INVALID_ARGUMENT", NULL);
    json_decref(answer);
    answer =
        query_v1(&site, "{\"filter\": \"{\\\"color\\\": \\\"red\\\"}\"}", 400);
    sandbox_proc_assert_wix_error(answer, "INVALID_ARGUMENT", NULL);
    json_decref(answer);
}

static void test_v1_platformized_get(void **state)
{
    struct site site;
    const char *query = "{\"query\":{\"filter\":{\"name\":{\"$startsWith\":"
                        "\"Yellow\"}},\"paging\":{\"limit\":10}}}";
    char encoded[512];
    char path[700];
    char *out = encoded;
    json_t *answer;
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                   "qrstuvwxyz0123456789-_";
    size_t length = strlen(query);

    (void)state;
    new_site(&site, "{\"fixture\": \"store\"}");
    /* base64url without padding, as @wix/sdk sends ".r". */
    for (size_t i = 0; i < length; i += 3) {
        unsigned value = (unsigned char)query[i] << 16;

        value |= i + 1 < length ? (unsigned char)query[i + 1] << 8 : 0;
        value |= i + 2 < length ? (unsigned char)query[i + 2] : 0;
        *out++ = alphabet[(value >> 18) & 63];
        *out++ = alphabet[(value >> 12) & 63];
        if (i + 1 < length)
            *out++ = alphabet[(value >> 6) & 63];
        if (i + 2 < length)
            *out++ = alphabet[value & 63];
    }
    *out = '\0';
    snprintf(path, sizeof(path),
             "/wix/stores-reader/v1/products/query-platformized?.r=%s",
             encoded);
    answer = wix(&site, "GET", path, NULL, 200);
    assert_true(json_integer_value(json_at(answer, "metadata.total")) >= 3);
    assert_int_equal(json_integer_value(json_at(answer, "metadata.count")),
                     json_array_size(json_object_get(answer, "products")));
    json_decref(answer);
}

static void test_v1_get_product(void **state)
{
    struct site site;
    char id[64];
    char path[200];
    json_t *answer;
    const char *url;
    struct http_client_response resp;

    (void)state;
    new_site(&site, "{\"fixture\": \"store\"}");
    product_id(&site, "Clay Plant Pot", id);
    snprintf(path, sizeof(path), "/wix/stores/v1/products/%s", id);
    answer = wix(&site, "GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_at(answer, "product.name")),
                        "Clay Plant Pot");
    assert_int_equal(json_array_size(json_at(answer, "product.variants")), 2);
    assert_int_equal(json_array_size(json_at(answer, "product.media.items")),
                     2);
    url =
        json_string_value(json_at(answer, "product.media.mainMedia.image.url"));
    assert_non_null(url);
    assert_int_equal(strncmp(url, sandbox.url, strlen(sandbox.url)), 0);

    assert_int_equal(sandbox_proc_send(&sandbox, "GET",
                                       url + strlen(sandbox.url), NULL, NULL,
                                       &resp),
                     200);
    assert_string_equal(resp.content_type, "image/jpeg");
    assert_true(resp.body.len > 1000);
    http_client_response_release(&resp);
    json_decref(answer);

    answer =
        wix(&site, "GET", "/wix/stores/v1/products/no-such-product", NULL, 404);
    sandbox_proc_assert_wix_error(answer, "NOT_FOUND", NULL);
    json_decref(answer);
}

static json_t *patch_v1(struct site *site, const char *id, const char *product,
                        long status)
{
    char path[200];
    char *body = malloc(strlen(product) + 32);
    json_t *answer;

    snprintf(path, sizeof(path), "/wix/stores/v1/products/%s", id);
    sprintf(body, "{\"product\": %s}", product);
    answer = wix(site, "PATCH", path, body, status);
    free(body);
    return answer;
}

static void expect_patch_violation(struct site *site, const char *id,
                                   const char *product, const char *field)
{
    json_t *answer = patch_v1(site, id, product, 400);

    sandbox_proc_assert_wix_error(answer, NULL, field);
    json_decref(answer);
}

static void test_v1_update_limits(void **state)
{
    struct site site;
    char id[64];
    char product[9000];
    char name[128];

    (void)state;
    new_site(&site, "{\"fixture\": \"store\"}");
    product_id(&site, "Vanilla candle", id);

    memset(name, 'N', 80);
    name[80] = '\0';
    snprintf(product, sizeof(product), "{\"name\": \"%s\"}", name);
    json_decref(patch_v1(&site, id, product, 200));
    snprintf(product, sizeof(product), "{\"name\": \"%sN\"}", name);
    expect_patch_violation(&site, id, product, "product.name");
    /* 79 letters and an emoji are 81 UTF-16 units. */
    snprintf(product, sizeof(product), "{\"name\": \"%.79s\xF0\x9F\x95\xAF\"}",
             name);
    expect_patch_violation(&site, id, product, "product.name");
    expect_patch_violation(&site, id, "{\"name\": \"\"}", "product.name");

    memcpy(product, "{\"description\": \"", 17);
    memset(product + 17, 'd', 8000);
    strcpy(product + 17 + 8000, "\"}");
    json_decref(patch_v1(&site, id, product, 200));
    strcpy(product + 17 + 8000, "d\"}");
    expect_patch_violation(&site, id, product, "product.description");

    expect_patch_violation(&site, id,
                           "{\"brand\": \"A brand name that is far longer "
                           "than fifty characters\"}",
                           "product.brand");
    expect_patch_violation(&site, id,
                           "{\"seoData\": {\"tags\": [{\"type\": \"style\"}]}}",
                           "product.seoData.tags[0].type");
    expect_patch_violation(&site, id, "{\"id\": \"another\"}", "product.id");
    json_decref(patch_v1(&site, "no-such-product", "{\"name\": \"x\"}", 404));
}

static void test_v1_update_applies(void **state)
{
    struct site site;
    char id[64];
    char path[200];
    json_t *before;
    json_t *after;
    json_t *view;
    const json_t *stored;

    (void)state;
    new_site(&site, "{\"fixture\": \"store\"}");
    product_id(&site, "Copper Light", id);
    snprintf(path, sizeof(path), "/wix/stores/v1/products/%s", id);
    before = wix(&site, "GET", path, NULL, 200);
    sandbox_proc_advance(&sandbox, 5);
    after = patch_v1(&site, id,
                     "{\"name\": \"Brushed Copper Pendant Light\", "
                     "\"description\": \"<p>Warm light.</p>\", \"numericId\": "
                     "\"1\", \"seoData\": {\"tags\": [{\"type\": \"title\", "
                     "\"children\": \"Copper pendant\", \"custom\": false, "
                     "\"disabled\": false}, {\"type\": \"meta\", \"props\": "
                     "{\"name\": \"description\", \"content\": \"Warm\"}, "
                     "\"custom\": false, \"disabled\": false}]}}",
                     200);
    assert_string_equal(json_string_value(json_at(after, "product.name")),
                        "Brushed Copper Pendant Light");
    assert_string_equal(
        json_string_value(json_at(after, "product.numericId")),
        json_string_value(json_at(before, "product.numericId")));
    assert_string_not_equal(
        json_string_value(json_at(after, "product.lastUpdated")),
        json_string_value(json_at(before, "product.lastUpdated")));
    assert_int_equal(json_array_size(json_at(after, "product.seoData.tags")),
                     2);

    view = sandbox_proc_site(&sandbox, site.instance_id);
    stored = find_by_id(json_object_get(view, "products"), id);
    assert_string_equal(
        json_string_value(json_object_get(stored, "description")),
        "<p>Warm light.</p>");
    assert_string_equal(
        json_string_value(json_at(stored, "seoData.tags[0].children")),
        "Copper pendant");
    json_decref(view);
    json_decref(before);
    json_decref(after);
}

static json_t *get_v1(struct site *site, const char *id)
{
    char path[200];

    snprintf(path, sizeof(path), "/wix/stores/v1/products/%s", id);
    return wix(site, "GET", path, NULL, 200);
}

static json_t *media_call(struct site *site, const char *id, const char *tail,
                          const char *body, long status)
{
    char path[256];

    snprintf(path, sizeof(path), "/wix/stores/v1/products/%s/media%s", id,
             tail);
    return wix(site, "POST", path, body, status);
}

static void test_v1_product_media(void **state)
{
    struct site site;
    char pot[64];
    char bracelet[64];
    char body[512];
    json_t *donor;
    json_t *product;
    json_t *answer;
    const char *donor_media;

    (void)state;
    new_site(&site, "{\"fixture\": \"store\"}");
    product_id(&site, "Clay Plant Pot", pot);
    product_id(&site, "7 Shakra Bracelet", bracelet);
    donor = get_v1(&site, bracelet);
    donor_media =
        json_string_value(json_at(donor, "product.media.items[0].id"));

    snprintf(body, sizeof(body), "{\"media\": [{\"mediaId\": \"%s\"}]}",
             donor_media);
    json_decref(media_call(&site, pot, "", body, 200));
    product = get_v1(&site, pot);
    assert_int_equal(json_array_size(json_at(product, "product.media.items")),
                     3);
    assert_string_equal(
        json_string_value(json_at(product, "product.media.items[2].id")),
        donor_media);
    json_decref(product);

    snprintf(body, sizeof(body),
             "{\"media\": [{\"mediaId\": \"%s\", \"choice\": {\"option\": "
             "\"Color\", \"choice\": \"Black\"}}]}",
             donor_media);
    json_decref(media_call(&site, bracelet, "", body, 200));
    answer = media_call(&site, bracelet, "",
                        "{\"media\": [{\"mediaId\": \"x\", \"choice\": "
                        "{\"option\": \"Size\", \"choice\": \"XL\"}}]}",
                        400);
    json_decref(answer);
    answer = media_call(&site, pot, "",
                        "{\"media\": [{\"mediaId\": \"nope~mv2.jpg\"}]}", 400);
    sandbox_proc_assert_wix_error(answer, NULL, "media[0]");
    json_decref(answer);
    json_decref(media_call(&site, pot, "", "{\"media\": []}", 400));

    snprintf(body, sizeof(body), "{\"mediaIds\": [\"%s\"]}", donor_media);
    json_decref(media_call(&site, pot, "/delete", body, 200));
    product = get_v1(&site, pot);
    assert_int_equal(json_array_size(json_at(product, "product.media.items")),
                     2);
    json_decref(product);

    json_decref(media_call(&site, pot, "/delete", "{\"mediaIds\": []}", 200));
    product = get_v1(&site, pot);
    assert_int_equal(json_array_size(json_at(product, "product.media.items")),
                     0);
    assert_null(json_at(product, "product.media.mainMedia"));
    json_decref(product);
    json_decref(donor);
}

static void test_v1_collections(void **state)
{
    struct site site;
    json_t *answer;
    char path[200];

    (void)state;
    new_site(&site, "{\"fixture\": \"store\"}");
    answer = wix(&site, "POST", "/wix/stores/v1/collections/query",
                 "{\"query\": {\"paging\": {\"limit\": 5}}}", 200);
    assert_int_equal(json_array_size(json_object_get(answer, "collections")),
                     5);
    assert_true(json_integer_value(json_object_get(answer, "totalResults")) >
                10);
    assert_string_equal(
        json_string_value(json_at(answer, "collections[0].name")),
        "All Products");
    assert_true(json_integer_value(
                    json_at(answer, "collections[0].numberOfProducts")) >= 200);
    snprintf(path, sizeof(path), "/wix/stores/v1/collections/%s",
             json_string_value(json_at(answer, "collections[1].id")));
    json_decref(answer);

    answer = wix(&site, "GET", path, NULL, 200);
    assert_true(
        json_integer_value(json_at(answer, "collection.numberOfProducts")) > 0);
    json_decref(answer);
    json_decref(
        wix(&site, "GET", "/wix/stores/v1/collections/none", NULL, 404));
}

static void test_wrong_catalog(void **state)
{
    struct site v3;
    struct site none;
    json_t *answer;

    (void)state;
    new_site(&v3, "{\"fixture\": \"store\", \"catalog_version\": 3}");
    new_site(&none, "{}");
    answer = query_v1(&v3, "{}", 428);
    sandbox_proc_assert_wix_error(
        answer, "CATALOG_V3_SITE_CALLING_CATALOG_V1_API", NULL);
    json_decref(answer);
    answer = query_v1(&none, "{}", 428);
    sandbox_proc_assert_wix_error(answer, "REQUIRED_APP_NOT_INSTALLED", NULL);
    assert_string_equal(json_string_value(json_object_get(answer, "message")),
                        "Wix Stores app is not installed for site");
    json_decref(answer);

    answer = wix(&none, "POST", "/wix/stores/v3/products/query", "{}", 428);
    sandbox_proc_assert_wix_error(answer, "REQUIRED_APP_NOT_INSTALLED", NULL);
    json_decref(answer);
}

/* The V3 id and revision of the first product named name. */
static json_t *find_v3(struct site *site, const char *name)
{
    char body[512];
    json_t *answer;
    json_t *product;

    snprintf(body, sizeof(body),
             "{\"query\": {\"filter\": {\"name\": \"%s\"}}, \"fields\": "
             "[\"PLAIN_DESCRIPTION\", \"MEDIA_ITEMS_INFO\"]}",
             name);
    answer = wix(site, "POST", "/wix/stores/v3/products/query", body, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "products")), 1);
    product = json_incref(json_at(answer, "products[0]"));
    json_decref(answer);
    return product;
}

static json_t *patch_v3(struct site *site, const char *id, const char *product,
                        long status)
{
    char path[200];
    char *body = malloc(strlen(product) + 64);
    json_t *answer;

    snprintf(path, sizeof(path), "/wix/stores/v3/products/%s", id);
    sprintf(body, "{\"product\": %s, \"fields\": [\"PLAIN_DESCRIPTION\"]}",
            product);
    answer = wix(site, "PATCH", path, body, status);
    free(body);
    return answer;
}

static void test_v3_revision(void **state)
{
    struct site site;
    json_t *product;
    json_t *answer;
    const char *id;

    (void)state;
    new_site(&site, "{\"fixture\": \"store\", \"catalog_version\": 3}");
    product = find_v3(&site, "Cream Sofa");
    id = json_string_value(json_object_get(product, "id"));
    assert_string_equal(json_string_value(json_object_get(product, "revision")),
                        "1");
    assert_true(json_is_string(json_object_get(product, "plainDescription")));
    assert_true(json_array_size(json_at(product, "media.itemsInfo.items")) > 0);

    answer = patch_v3(&site, id, "{\"name\": \"Cream Linen Sofa\"}", 400);
    sandbox_proc_assert_wix_error(answer, NULL, "product.revision");
    json_decref(answer);

    answer = patch_v3(&site, id,
                      "{\"revision\": \"1\", \"name\": \"Cream Linen Sofa\", "
                      "\"plainDescription\": \"<p>Deep seats.</p>\"}",
                      200);
    assert_string_equal(json_string_value(json_at(answer, "product.revision")),
                        "2");
    assert_string_equal(
        json_string_value(json_at(answer, "product.plainDescription")),
        "<p>Deep seats.</p>");
    json_decref(answer);

    answer = patch_v3(&site, id,
                      "{\"revision\": \"1\", \"name\": \"Stale write\"}", 409);
    assert_string_equal(json_string_value(json_object_get(answer, "message")),
                        "entity has already changed since the requested "
                        "revision");
    json_decref(answer);
    json_decref(product);
}

static void test_v3_update_checks(void **state)
{
    struct site site;
    json_t *product;
    json_t *answer;
    const char *id;
    char body[4096];
    size_t o;

    (void)state;
    new_site(&site, "{\"fixture\": \"store\", \"catalog_version\": 3}");
    product = find_v3(&site, "Grey Sofa");
    id = json_string_value(json_object_get(product, "id"));

    snprintf(body, sizeof(body), "{\"revision\": \"1\", \"name\": \"%081d\"}",
             0);
    answer = patch_v3(&site, id, body, 400);
    sandbox_proc_assert_wix_error(answer, NULL, "product.name");
    json_decref(answer);

    o = (size_t)snprintf(body, sizeof(body),
                         "{\"revision\": \"1\", \"media\": {\"itemsInfo\": "
                         "{\"items\": [");
    for (int i = 0; i < 16; i++)
        o += (size_t)snprintf(
            body + o, sizeof(body) - o, "%s{\"id\": \"%s\"}", i ? "," : "",
            json_string_value(json_at(product, "media.itemsInfo.items[0].id")));
    snprintf(body + o, sizeof(body) - o, "]}}}");
    answer = patch_v3(&site, id, body, 400);
    sandbox_proc_assert_wix_error(answer, NULL,
                                  "product.media.itemsInfo.items");
    json_decref(answer);

    answer =
        patch_v3(&site, id,
                 "{\"revision\": 1, \"description\": {\"nodes\": "
                 "[{\"type\": \"PARAGRAPH\", \"nodes\": [{\"type\": "
                 "\"TEXT\", \"textData\": {\"text\": \"Soft & grey\"}}]}]}}",
                 200);
    assert_string_equal(
        json_string_value(json_at(answer, "product.plainDescription")),
        "<p>Soft &amp; grey</p>");
    json_decref(answer);
    json_decref(product);
}

static void test_v3_query_and_get(void **state)
{
    struct site v3;
    struct site v1;
    json_t *answer;
    char body[256];
    char path[200];

    (void)state;
    new_site(&v3, "{\"fixture\": \"store\", \"catalog_version\": 3}");
    new_site(&v1, "{\"fixture\": \"store\"}");
    answer = wix(&v3, "POST", "/wix/stores/v3/products/query",
                 "{\"query\": {\"cursorPaging\": {\"limit\": 100}}}", 200);
    assert_int_equal(json_array_size(json_object_get(answer, "products")), 100);
    assert_true(json_is_true(json_at(answer, "pagingMetadata.hasNext")));
    snprintf(body, sizeof(body),
             "{\"query\": {\"cursorPaging\": {\"limit\": 100, \"cursor\": "
             "\"%s\"}}}",
             json_string_value(json_at(answer, "pagingMetadata.cursors.next")));
    snprintf(path, sizeof(path), "/wix/stores/v3/products/%s",
             json_string_value(json_at(answer, "products[0].id")));
    json_decref(answer);
    answer = wix(&v3, "POST", "/wix/stores/v3/products/query", body, 200);
    assert_int_equal(json_array_size(json_object_get(answer, "products")), 100);
    json_decref(answer);

    answer = wix(&v3, "POST", "/wix/stores/v3/products/search",
                 "{\"search\": {\"search\": {\"expression\": \"leather "
                 "jacket\"}}}",
                 200);
    assert_int_equal(json_array_size(json_object_get(answer, "products")), 1);
    assert_string_equal(json_string_value(json_at(answer, "products[0].name")),
                        "Classic Leather Jacket");
    json_decref(answer);

    strcat(path, "?fields=PLAIN_DESCRIPTION&fields=DESCRIPTION");
    answer = wix(&v3, "GET", path, NULL, 200);
    assert_true(json_is_string(json_at(answer, "product.plainDescription")));
    assert_true(json_is_array(json_at(answer, "product.description.nodes")));
    json_decref(answer);

    answer = wix(&v1, "GET", path, NULL, 428);
    sandbox_proc_assert_wix_error(
        answer, "CATALOG_V1_SITE_CALLING_CATALOG_V3_API", NULL);
    json_decref(answer);
}

static void test_products_from_request(void **state)
{
    struct site site;
    json_t *answer;

    (void)state;
    new_site(
        &site,
        "{\"collections\": [{\"name\": \"Teas\"}], \"products\": [{\"name\": "
        "\"Sencha\", \"price\": 12.5, \"collections\": [\"Teas\"], "
        "\"images\": [{\"name\": \"sencha.png\", \"width\": 64, "
        "\"height\": 48}]}, {\"name\": \"Hojicha\", \"visible\": false}]}");
    answer = query_v1(&site, "{}", 200);
    assert_int_equal(
        json_integer_value(json_object_get(answer, "totalResults")), 1);
    assert_string_equal(json_string_value(json_at(answer, "products[0].name")),
                        "Sencha");
    assert_int_equal(
        json_integer_value(json_at(answer, "products[0].media.mainMedia.image."
                                           "width")),
        64);
    assert_int_equal(
        json_array_size(json_at(answer, "products[0].collectionIds")), 2);
    json_decref(answer);

    answer = sandbox_proc_call(&sandbox, "POST", "/__sandbox/sites",
                               "{\"products\": [{\"name\": \"x\", "
                               "\"collections\": [\"Missing\"]}]}",
                               400);
    json_decref(answer);
}

static int start_sandbox(void **state)
{
    (void)state;
    sandbox_proc_start(&sandbox, NULL);
    return 0;
}

/* A clean exit also means no leak report under AddressSanitizer. */
static int stop_sandbox(void **state)
{
    (void)state;
    return sandbox_proc_stop(&sandbox) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_version),
        cmocka_unit_test(test_fixture_size),
        cmocka_unit_test(test_fixture_sites_independent),
        cmocka_unit_test(test_v1_query_paging),
        cmocka_unit_test(test_v1_query_filter_sort),
        cmocka_unit_test(test_v1_platformized_get),
        cmocka_unit_test(test_v1_get_product),
        cmocka_unit_test(test_v1_update_limits),
        cmocka_unit_test(test_v1_update_applies),
        cmocka_unit_test(test_v1_product_media),
        cmocka_unit_test(test_v1_collections),
        cmocka_unit_test(test_wrong_catalog),
        cmocka_unit_test(test_v3_revision),
        cmocka_unit_test(test_v3_update_checks),
        cmocka_unit_test(test_v3_query_and_get),
        cmocka_unit_test(test_products_from_request),
    };

    return cmocka_run_group_tests(tests, start_sandbox, stop_sandbox);
}
