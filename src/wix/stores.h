/*
 * Wix Stores: the catalog version and Catalog V1 products and collections,
 * on one client. Product calls need "Manage Products"
 * (SCOPE.DC-STORES.MANAGE-PRODUCTS); the catalog version needs "Read v3
 * catalog". Errors are those of wix_call(); a V1 call on a site with
 * another catalog fails with ERR_PERMANENT (HTTP 428). Results are new JSON
 * references the caller releases with json_decref().
 */
#ifndef SITESMITH_WIX_STORES_H
#define SITESMITH_WIX_STORES_H

#include "wix/wix.h"

#include <stddef.h>

/* Catalog V1 limits on product text, in characters. */
#define WIX_PRODUCT_NAME_MAX 80
#define WIX_PRODUCT_DESCRIPTION_MAX 8000
/* Largest page of a product query. */
#define WIX_PRODUCT_PAGE_MAX 100

enum wix_catalog {
    WIX_CATALOG_V1,
    WIX_CATALOG_V3,
    WIX_CATALOG_NOT_INSTALLED, /* Wix Stores is not on the site */
};

/* Reads which Stores catalog the site uses (GET
 * /stores/v3/provision/version). An unknown response fails as retryable. */
int wix_stores_catalog_version(struct wix_client *client, enum wix_catalog *out,
                               struct error *err);

struct wix_product_query {
    const json_t *filter; /* e.g. {"numericId": {"$gt": 10}}, or NULL */
    const json_t *sort;   /* e.g. [{"numericId": "asc"}], or NULL */
    int limit;            /* 1 to WIX_PRODUCT_PAGE_MAX; 0 means 100 */
    int offset;
    int include_hidden; /* hidden products too */
};

/*
 * Queries products (POST /stores/v1/products/query). Wix takes filter and
 * sort as JSON text inside the JSON body; this call encodes them. *out
 * receives the whole response: {"products": [...], "metadata": {"items",
 * "offset"}, "totalResults"}.
 */
int wix_stores_query_products(struct wix_client *client,
                              const struct wix_product_query *query,
                              json_t **out, struct error *err);

/* Reads one product into *out. */
int wix_stores_get_product(struct wix_client *client, const char *product_id,
                           json_t **out, struct error *err);

/*
 * Updates a product's text. changes may contain only "name" (1 to 80
 * characters), "description" (HTML, at most 8000 characters) and "seoData"
 * (an object). Send seoData's full tags array, because whether Wix merges
 * it is not documented. Anything else, or a value out of range, fails with
 * ERR_INVALID without sending. *out (when not NULL) receives the updated
 * product.
 */
int wix_stores_update_product(struct wix_client *client, const char *product_id,
                              const json_t *changes, json_t **out,
                              struct error *err);

/* Adds media files (Media Manager ids) to a product's gallery. */
int wix_stores_add_product_media(struct wix_client *client,
                                 const char *product_id,
                                 const char *const *media_ids, size_t count,
                                 struct error *err);

/*
 * Removes media items (the ids in the product's media.items) from a
 * product. count must be at least 1: Wix treats an empty list as "remove
 * every item", which this call never sends.
 */
int wix_stores_remove_product_media(struct wix_client *client,
                                    const char *product_id,
                                    const char *const *media_ids, size_t count,
                                    struct error *err);

/*
 * Lists every collection of the store (POST /stores/v1/collections/query,
 * page by page) into *out, a JSON array.
 */
int wix_stores_list_collections(struct wix_client *client, json_t **out,
                                struct error *err);

#endif
