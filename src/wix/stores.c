#include "wix/stores.h"

#include "wix/call.h"

#include <stdlib.h>
#include <string.h>

/* A store with more collections than pages times 100 is cut off here. */
#define COLLECTION_PAGES_MAX 50

int wix_stores_catalog_version(struct wix_client *client, enum wix_catalog *out,
                               struct error *err)
{
    json_t *response;
    const char *version;
    int rc = 0;

    if (wix_call(client, "GET", "/stores/v3/provision/version", NULL,
                 WIX_PERMISSION_CATALOG_VERSION, &response, err) < 0)
        return -1;
    version = json_string_value(json_object_get(response, "catalogVersion"));
    if (version && strcmp(version, "V1_CATALOG") == 0)
        *out = WIX_CATALOG_V1;
    else if (version && strcmp(version, "V3_CATALOG") == 0)
        *out = WIX_CATALOG_V3;
    else if (version && strcmp(version, "STORES_NOT_INSTALLED") == 0)
        *out = WIX_CATALOG_NOT_INSTALLED;
    else
        rc = error_set(
            err, ERR_RETRYABLE, "site %s: unknown catalog version \"%s\"",
            wix_client_instance_id(client), version ? version : "(missing)");
    json_decref(response);
    return rc;
}

/* Sets body.query[key] to value as JSON text, as Catalog V1 expects. */
static int set_encoded(json_t *query, const char *key, const json_t *value)
{
    char *text;
    int rc;

    if (!value)
        return 0;
    text = json_dumps(value, JSON_COMPACT);
    if (!text)
        return -1;
    rc = json_object_set_new(query, key, json_string(text));
    free(text);
    return rc;
}

int wix_stores_query_products(struct wix_client *client,
                              const struct wix_product_query *query,
                              json_t **out, struct error *err)
{
    int limit = query->limit == 0 ? WIX_PRODUCT_PAGE_MAX : query->limit;
    json_t *inner;
    json_t *body;
    int rc = -1;

    *out = NULL;
    if (limit < 1 || limit > WIX_PRODUCT_PAGE_MAX || query->offset < 0)
        return error_set(err, ERR_INVALID,
                         "product query: limit %d or offset %d is out of "
                         "range (limit 1 to %d, offset 0 or more)",
                         query->limit, query->offset, WIX_PRODUCT_PAGE_MAX);
    inner = json_pack("{s:{s:i, s:i}}", "paging", "limit", limit, "offset",
                      query->offset);
    body = json_pack("{s:o, s:b}", "query", inner, "includeHiddenProducts",
                     query->include_hidden);
    if (!inner || !body || set_encoded(inner, "filter", query->filter) < 0 ||
        set_encoded(inner, "sort", query->sort) < 0) {
        error_set(err, ERR_RETRYABLE, "out of memory");
        goto out;
    }
    rc = wix_call(client, "POST", "/stores/v1/products/query", body,
                  WIX_PERMISSION_PRODUCTS, out, err);
out:
    json_decref(body);
    return rc;
}

int wix_stores_get_product(struct wix_client *client, const char *product_id,
                           json_t **out, struct error *err)
{
    char path[1024];
    json_t *response;

    *out = NULL;
    if (wix_path(path, sizeof(path), "/stores/v1/products/", product_id, "",
                 "get product", err) < 0 ||
        wix_call(client, "GET", path, NULL, WIX_PERMISSION_PRODUCTS, &response,
                 err) < 0)
        return -1;
    return wix_take_member(response, "product", "get product", out, err);
}

static int check_changes(const json_t *changes, struct error *err)
{
    const char *key;
    const json_t *value;

    if (!json_is_object(changes) || json_object_size(changes) == 0)
        return error_set(err, ERR_INVALID,
                         "product update: expected an object with name, "
                         "description or seoData");
    json_object_foreach((json_t *)changes, key, value)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "description") != 0 &&
            strcmp(key, "seoData") != 0)
            return error_set(err, ERR_INVALID,
                             "product update: \"%s\" can't be changed here; "
                             "only name, description and seoData",
                             key);
    }
    if (json_object_get(changes, "seoData") &&
        !json_is_object(json_object_get(changes, "seoData")))
        return error_set(err, ERR_INVALID,
                         "product update: seoData must be an object");
    if (wix_check_text(changes, "product update", "name", 1,
                       WIX_PRODUCT_NAME_MAX, 0, err) < 0)
        return -1;
    return wix_check_text(changes, "product update", "description", 0,
                          WIX_PRODUCT_DESCRIPTION_MAX, 0, err);
}

int wix_stores_update_product(struct wix_client *client, const char *product_id,
                              const json_t *changes, json_t **out,
                              struct error *err)
{
    char path[1024];
    json_t *body;
    json_t *response;
    int rc;

    if (out)
        *out = NULL;
    if (check_changes(changes, err) < 0 ||
        wix_path(path, sizeof(path), "/stores/v1/products/", product_id, "",
                 "update product", err) < 0)
        return -1;
    body = json_pack("{s:O}", "product", changes);
    if (!body)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    rc = wix_call(client, "PATCH", path, body, WIX_PERMISSION_PRODUCTS,
                  &response, err);
    json_decref(body);
    if (rc < 0)
        return -1;
    if (!out) {
        json_decref(response);
        return 0;
    }
    return wix_take_member(response, "product", "update product", out, err);
}

static json_t *id_array(const char *const *ids, size_t count, const char *key)
{
    json_t *array = json_array();

    for (size_t i = 0; array && i < count; i++) {
        json_t *item =
            key ? json_pack("{s:s}", key, ids[i]) : json_string(ids[i]);

        if (!item || json_array_append_new(array, item) < 0) {
            json_decref(array);
            return NULL;
        }
    }
    return array;
}

static int check_ids(const char *const *ids, size_t count, const char *what,
                     struct error *err)
{
    if (count == 0)
        return error_set(err, ERR_INVALID, "%s: no media ids given", what);
    for (size_t i = 0; i < count; i++)
        if (!ids[i] || !ids[i][0])
            return error_set(err, ERR_INVALID, "%s: media id %zu is empty",
                             what, i);
    return 0;
}

static int post_media(struct wix_client *client, const char *product_id,
                      const char *suffix, json_t *body, const char *what,
                      struct error *err)
{
    char path[1024];
    json_t *response = NULL;
    int rc = -1;

    if (!body)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    if (wix_path(path, sizeof(path), "/stores/v1/products/", product_id, suffix,
                 what, err) == 0)
        rc = wix_call(client, "POST", path, body, WIX_PERMISSION_PRODUCTS,
                      &response, err);
    json_decref(response);
    json_decref(body);
    return rc;
}

int wix_stores_add_product_media(struct wix_client *client,
                                 const char *product_id,
                                 const char *const *media_ids, size_t count,
                                 struct error *err)
{
    if (check_ids(media_ids, count, "add product media", err) < 0)
        return -1;
    return post_media(
        client, product_id, "/media",
        json_pack("{s:o}", "media", id_array(media_ids, count, "mediaId")),
        "add product media", err);
}

int wix_stores_remove_product_media(struct wix_client *client,
                                    const char *product_id,
                                    const char *const *media_ids, size_t count,
                                    struct error *err)
{
    if (check_ids(media_ids, count, "remove product media", err) < 0)
        return -1;
    return post_media(
        client, product_id, "/media/delete",
        json_pack("{s:o}", "mediaIds", id_array(media_ids, count, NULL)),
        "remove product media", err);
}

/* Appends one page of collections to all; returns the page's size. */
static int collections_page(struct wix_client *client, int offset, json_t *all,
                            struct error *err)
{
    json_t *body = json_pack("{s:{s:{s:i, s:i}}}", "query", "paging", "limit",
                             100, "offset", offset);
    json_t *response = NULL;
    json_t *page;
    int rc = -1;

    if (!body)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    if (wix_call(client, "POST", "/stores/v1/collections/query", body,
                 WIX_PERMISSION_PRODUCTS, &response, err) < 0)
        goto out;
    page = json_object_get(response, "collections");
    if (!json_is_array(page)) {
        error_set(err, ERR_RETRYABLE,
                  "list collections: Wix's response has no \"collections\" "
                  "array");
        goto out;
    }
    json_array_extend(all, page);
    rc = (int)json_array_size(page);
out:
    json_decref(response);
    json_decref(body);
    return rc;
}

int wix_stores_list_collections(struct wix_client *client, json_t **out,
                                struct error *err)
{
    json_t *all = json_array();
    int count = 100;

    *out = NULL;
    if (!all)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    for (int page = 0; page < COLLECTION_PAGES_MAX && count == 100; page++) {
        count = collections_page(client, page * 100, all, err);
        if (count < 0) {
            json_decref(all);
            return -1;
        }
    }
    *out = all;
    return 0;
}
