/*
 * Wix Stores Catalog V3 products: get, query, search and update, for
 * sites whose catalog is V3 (see wix_stores_catalog_version()). V3 pages
 * with cursors and gives no total count. An update must carry the
 * product's current revision, and fails with ERR_CONFLICT (HTTP 409) when
 * the product changed since. Calls on a V1 site fail with ERR_PERMANENT
 * (HTTP 428). Errors are otherwise those of wix_call(). Results are new
 * JSON references the caller releases with json_decref().
 */
#ifndef SITESMITH_WIX_STORES_V3_H
#define SITESMITH_WIX_STORES_V3_H

#include "wix/wix.h"

/* Catalog V3's limit on plainDescription, in characters. */
#define WIX_PRODUCT_V3_DESCRIPTION_MAX 16000

/*
 * Reads one product with its plainDescription (the description as HTML)
 * and description (the same as rich content) into *out.
 */
int wix_stores_v3_get_product(struct wix_client *client, const char *product_id,
                              json_t **out, struct error *err);

struct wix_v3_product_query {
    const json_t *filter; /* e.g. {"id": {"$in": [...]}}, or NULL */
    const char *search;   /* words the name must contain, or NULL */
    int limit;            /* 1 to 100; 0 means 100 */
    const char *cursor;   /* the previous page's next cursor, or NULL */
};

/*
 * Reads one page of products with their plainDescription and description
 * (POST /stores/v3/products/query, or /search when query->search is set).
 * *out receives the whole response: {"products": [...], "pagingMetadata":
 * {"count", "cursors": {"next"}, "hasNext"}}.
 */
int wix_stores_v3_query_products(struct wix_client *client,
                                 const struct wix_v3_product_query *query,
                                 json_t **out, struct error *err);

/*
 * Updates a product's text at revision (the revision the caller read):
 * changes may hold only "name" (1 to 80 characters), "plainDescription"
 * (HTML, at most 16000 characters), "description" (rich content, which
 * Wix takes over plainDescription) and "seoData". Anything else fails with
 * ERR_INVALID without sending. *out (when not NULL) receives the updated
 * product with its plainDescription.
 */
int wix_stores_v3_update_product(struct wix_client *client,
                                 const char *product_id, const char *revision,
                                 const json_t *changes, json_t **out,
                                 struct error *err);

#endif
