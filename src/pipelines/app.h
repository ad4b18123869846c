/*
 * The application context: what lives as long as a `serve`, `worker` or
 * CLI process and is shared by its threads. It holds the configuration,
 * the store, the token provider, the Wix settings, the AI clients and the
 * credit costs, and no Wix client, token or Authorization header: those
 * live for one unit of work (see wix/wix.h).
 */
#ifndef SITESMITH_PIPELINES_APP_H
#define SITESMITH_PIPELINES_APP_H

#include "core/config.h"
#include "core/error.h"
#include "queue/queue.h"
#include "store/store.h"

#include <stdint.h>

struct token_provider;
struct wix;
struct openai_client;
struct replicate_client;

/* Credit costs, read from SITESMITH_COST_* (see app_open). */
struct app_costs {
    int64_t blog_ideas;    /* SITESMITH_COST_BLOG_IDEAS, default 0 */
    int64_t blog_write;    /* SITESMITH_COST_BLOG_WRITE, default 5 */
    int64_t blog_image;    /* SITESMITH_COST_BLOG_IMAGE, default 4 */
    int64_t blog_publish;  /* SITESMITH_COST_BLOG_PUBLISH, default 1 */
    int64_t product_field; /* SITESMITH_COST_PRODUCT_FIELD, default 1 */
    int64_t image_item;    /* SITESMITH_COST_IMAGE, default 3 */
};

struct app {
    const struct config *cfg; /* borrowed from the caller */
    struct store *store;
    struct token_provider *tokens;
    struct wix *wix;
    struct openai_client *openai;
    struct replicate_client *replicate;
    struct app_costs costs;
    char app_id[128];     /* SITESMITH_WIX_APP_ID */
    char app_secret[256]; /* SITESMITH_WIX_APP_SECRET; never logged */
    char data_dir[512];   /* SITESMITH_DATA_DIR, default "sitesmith-data" */
};

/*
 * Opens everything from cfg: the store (SITESMITH_DATABASE_URL), migrated
 * to the latest schema of every component, the token provider, the Wix
 * settings and the AI clients. Any invalid setting fails with a message
 * that names the variable. Returns NULL with err set. Free with
 * app_close() after every thread stopped using it.
 */
struct app *app_open(const struct config *cfg, struct error *err);

void app_close(struct app *app);

/* Registers the job handlers of every pipeline with pool. */
int app_register_jobs(struct app *app, struct queue_pool *pool,
                      struct error *err);

/*
 * The schemas that pipelines add to the store's own, NULL-ended, for
 * store_migrate() (app_open applies them; `sitesmith migrate` too).
 */
const struct store_schema *const *app_schemas(void);

#endif
