#include "wix/stores_v3.h"

#include "wix/call.h"
#include "wix/stores.h"

#include <string.h>

/* Catalog V3 scopes, as the app dashboard names them. */
#define PERMISSION_PRODUCTS_V3                                                 \
    "Read and write products (SCOPE.STORES.PRODUCT_READ, "                     \
    "SCOPE.STORES.PRODUCT_WRITE)"

/* Both forms of the description, which V3 returns only when asked. */
#define TEXT_FIELDS "fields=PLAIN_DESCRIPTION&fields=DESCRIPTION"

int wix_stores_v3_get_product(struct wix_client *client, const char *product_id,
                              json_t **out, struct error *err)
{
    char path[1024];
    json_t *response;

    *out = NULL;
    if (wix_path(path, sizeof(path), "/stores/v3/products/", product_id,
                 "?" TEXT_FIELDS, "get product", err) < 0 ||
        wix_call(client, "GET", path, NULL, PERMISSION_PRODUCTS_V3, &response,
                 err) < 0)
        return -1;
    return wix_take_member(response, "product", "get product", out, err);
}

int wix_stores_v3_query_products(struct wix_client *client,
                                 const struct wix_v3_product_query *query,
                                 json_t **out, struct error *err)
{
    int limit = query->limit == 0 ? 100 : query->limit;
    json_t *inner;
    json_t *body;
    int rc;

    *out = NULL;
    if (limit < 1 || limit > 100)
        return error_set(err, ERR_INVALID,
                         "product query: limit %d is out of range (1 to 100)",
                         query->limit);
    inner = json_pack("{s:{s:i}}", "cursorPaging", "limit", limit);
    if (inner && query->cursor)
        json_object_set_new(json_object_get(inner, "cursorPaging"), "cursor",
                            json_string(query->cursor));
    if (inner && query->filter)
        json_object_set(inner, "filter", (json_t *)query->filter);
    if (inner && query->search)
        json_object_set_new(inner, "search",
                            json_pack("{s:s}", "expression", query->search));
    body = json_pack("{s:o, s:[s, s]}", query->search ? "search" : "query",
                     inner, "fields", "PLAIN_DESCRIPTION", "DESCRIPTION");
    if (!body)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    rc = wix_call(client, "POST",
                  query->search ? "/stores/v3/products/search"
                                : "/stores/v3/products/query",
                  body, PERMISSION_PRODUCTS_V3, out, err);
    json_decref(body);
    return rc;
}

static int check_changes(const json_t *changes, struct error *err)
{
    static const char *const allowed[] = {"name", "plainDescription",
                                          "description", "seoData"};
    const char *key;
    const json_t *value;

    if (!json_is_object(changes) || json_object_size(changes) == 0)
        return error_set(err, ERR_INVALID,
                         "product update: expected an object with name, "
                         "plainDescription, description or seoData");
    json_object_foreach((json_t *)changes, key, value)
    {
        size_t i = 0;

        while (i < sizeof(allowed) / sizeof(allowed[0]) &&
               strcmp(key, allowed[i]) != 0)
            i++;
        if (i == sizeof(allowed) / sizeof(allowed[0]))
            return error_set(err, ERR_INVALID,
                             "product update: \"%s\" can't be changed here; "
                             "only name, plainDescription, description and "
                             "seoData",
                             key);
        if ((strcmp(key, "description") == 0 || strcmp(key, "seoData") == 0) &&
            !json_is_object(value))
            return error_set(err, ERR_INVALID,
                             "product update: %s must be an object", key);
    }
    if (wix_check_text(changes, "product update", "name", 1,
                       WIX_PRODUCT_NAME_MAX, 0, err) < 0)
        return -1;
    return wix_check_text(changes, "product update", "plainDescription", 0,
                          WIX_PRODUCT_V3_DESCRIPTION_MAX, 0, err);
}

int wix_stores_v3_update_product(struct wix_client *client,
                                 const char *product_id, const char *revision,
                                 const json_t *changes, json_t **out,
                                 struct error *err)
{
    char path[1024];
    json_t *product;
    json_t *body;
    json_t *response;
    int rc;

    if (out)
        *out = NULL;
    if (!revision || !revision[0])
        return error_set(err, ERR_INVALID,
                         "product update: the revision is missing");
    if (check_changes(changes, err) < 0 ||
        wix_path(path, sizeof(path), "/stores/v3/products/", product_id, "",
                 "update product", err) < 0)
        return -1;
    product = json_deep_copy(changes);
    body = json_pack("{s:o, s:[s]}", "product", product, "fields",
                     "PLAIN_DESCRIPTION");
    if (!body)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    json_object_set_new(product, "id", json_string(product_id));
    json_object_set_new(product, "revision", json_string(revision));
    rc = wix_call(client, "PATCH", path, body, PERMISSION_PRODUCTS_V3,
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
