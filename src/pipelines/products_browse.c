/* Browsing the store's products and collections, read from Wix. */
#include "pipelines/products_internal.h"

#include "core/json.h"
#include "wix/stores.h"
#include "wix/stores_v3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One page of a browse, read with a fresh client. */
struct browse {
    const struct products_catalog_query *query;
    int catalog;
    json_t *page;
};

static json_t *image_url(const json_t *product)
{
    const json_t *url = json_at(product, "media.mainMedia.image.url");

    if (!json_is_string(url))
        url = json_at(product, "media.main.image.url");
    return json_is_string(url) ? json_incref((json_t *)url) : json_null();
}

static json_t *summary(const json_t *product, int catalog)
{
    json_t *snapshot = products_snapshot(product, catalog);
    json_t *out;

    if (!snapshot)
        return NULL;
    out = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:o}", "id",
                    json_object_get(snapshot, "id"), "name",
                    json_object_get(snapshot, "name"), "description",
                    json_object_get(snapshot, "description"), "seo_title",
                    json_object_get(snapshot, "seo_title"), "seo_description",
                    json_object_get(snapshot, "seo_description"), "price",
                    json_at(snapshot, "facts.price")
                        ? json_at(snapshot, "facts.price")
                        : json_null(),
                    "visible",
                    json_is_boolean(json_object_get(product, "visible"))
                        ? json_object_get(product, "visible")
                        : json_true(),
                    "image_url", image_url(product));
    json_decref(snapshot);
    return out;
}

static json_t *summaries(const json_t *products, int catalog)
{
    json_t *out = json_array();
    size_t i;
    json_t *product;

    json_array_foreach(products, i, product)
    {
        json_t *item = summary(product, catalog);

        if (item)
            json_array_append_new(out, item);
    }
    return out;
}

static int browse_v1(struct wix_client *client, struct browse *b,
                     struct error *err)
{
    const struct products_catalog_query *q = b->query;
    json_t *filter = json_object();
    json_t *sort = json_pack("[{s:s}]", "numericId", "asc");
    struct wix_product_query query = {
        .filter = filter, .sort = sort, .limit = q->limit, .include_hidden = 1};
    json_t *response = NULL;
    char *end = NULL;
    long offset = q->cursor ? strtol(q->cursor, &end, 10) : 0;
    int64_t total;
    char next[32];
    int rc;

    if (q->cursor &&
        (end == q->cursor || *end || offset < 0 || offset > 100000)) {
        json_decref(filter);
        json_decref(sort);
        error_set(err, ERR_INVALID,
                  "cursor: invalid value \"%.40s\": pass the next_cursor of "
                  "the previous page",
                  q->cursor);
        snprintf(err->code, sizeof(err->code), "cursor");
        return -1;
    }
    query.offset = (int)offset;
    if (q->collection_id)
        json_object_set_new(filter, "collections.id",
                            json_pack("{s:[s]}", "$hasSome", q->collection_id));
    /* NOTE: Catalog V1 documents which fields filter, not which operators
     * each takes; $startsWith on name is the search it is known to run. */
    if (q->search)
        json_object_set_new(filter, "name",
                            json_pack("{s:s}", "$startsWith", q->search));
    rc = wix_stores_query_products(client, &query, &response, err);
    json_decref(filter);
    json_decref(sort);
    if (rc < 0)
        return -1;
    total = json_integer_value(json_object_get(response, "totalResults"));
    snprintf(next, sizeof(next), "%ld", offset + (long)q->limit);
    b->page = json_pack(
        "{s:s, s:o, s:I, s:o}", "catalog_version", "V1", "products",
        summaries(json_object_get(response, "products"), PRODUCTS_CATALOG_V1),
        "total", (json_int_t)total, "next_cursor",
        offset + q->limit < total ? json_string(next) : json_null());
    json_decref(response);
    return 0;
}

static int browse_v3(struct wix_client *client, struct browse *b,
                     struct error *err)
{
    const struct products_catalog_query *q = b->query;
    struct wix_v3_product_query query = {
        .search = q->search, .limit = q->limit, .cursor = q->cursor};
    json_t *response = NULL;
    const json_t *next;

    if (q->collection_id) {
        error_set(err, ERR_INVALID,
                  "collection_id: collections are a Catalog V1 feature and "
                  "this site uses Catalog V3");
        snprintf(err->code, sizeof(err->code), "collection_id");
        return -1;
    }
    if (wix_stores_v3_query_products(client, &query, &response, err) < 0)
        return -1;
    next = json_at(response, "pagingMetadata.cursors.next");
    b->page = json_pack(
        "{s:s, s:o, s:n, s:O}", "catalog_version", "V3", "products",
        summaries(json_object_get(response, "products"), PRODUCTS_CATALOG_V3),
        "total", "next_cursor",
        json_is_string(next) && json_string_length(next) ? next : json_null());
    json_decref(response);
    return 0;
}

static int browse_unit(struct wix_client *client, void *arg, struct error *err)
{
    struct browse *b = arg;

    json_decref(b->page);
    b->page = NULL;
    if (products_read_catalog(client, &b->catalog, err) < 0)
        return -1;
    return b->catalog == PRODUCTS_CATALOG_V3 ? browse_v3(client, b, err)
                                             : browse_v1(client, b, err);
}

json_t *products_catalog_json(struct app *app, const char *instance_id,
                              const struct products_catalog_query *query,
                              struct error *err)
{
    struct browse b = {.query = query};

    if (wix_run(app->wix, instance_id, browse_unit, &b, err) != 0) {
        json_decref(b.page);
        return NULL;
    }
    if (!b.page)
        error_set(err, ERR_RETRYABLE, "out of memory");
    return b.page;
}

struct collections {
    json_t *list;
};

static int collections_unit(struct wix_client *client, void *arg,
                            struct error *err)
{
    struct collections *c = arg;
    json_t *all = NULL;
    size_t i;
    json_t *collection;

    json_decref(c->list);
    c->list = json_array();
    if (wix_stores_list_collections(client, &all, err) < 0)
        return -1;
    json_array_foreach(all, i, collection) json_array_append_new(
        c->list,
        json_pack("{s:O?, s:O?}", "id", json_object_get(collection, "id"),
                  "name", json_object_get(collection, "name")));
    json_decref(all);
    return 0;
}

json_t *products_collections_json(struct app *app, const char *instance_id,
                                  struct error *err)
{
    struct collections c = {0};

    if (wix_run(app->wix, instance_id, collections_unit, &c, err) != 0) {
        json_decref(c.list);
        return NULL;
    }
    return json_pack("{s:o}", "collections", c.list);
}
