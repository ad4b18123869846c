/*
 * The application context: opens what a process shares (store, token
 * provider, Wix settings, AI clients, costs) and registers each pipeline's
 * jobs and schemas.
 */
#include "pipelines/app.h"

#include "ai/openai.h"
#include "ai/replicate.h"
#include "auth/token.h"
#include "core/log.h"
#include "pipelines/blog.h"
#include "pipelines/blog_internal.h"
#include "pipelines/campaigns.h"
#include "pipelines/images.h"
#include "pipelines/lifecycle.h"
#include "pipelines/products.h"
#include "wix/wix.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COST_MAX 1000000
#define DEFAULT_DATA_DIR "sitesmith-data"

/* Each pipeline's job registration, in the order they are registered. */
static int (*const job_registrations[])(struct app *, struct queue_pool *,
                                        struct error *) = {
    blog_register_jobs,      products_register_jobs,  images_register_jobs,
    campaigns_register_jobs, lifecycle_register_jobs,
};

/* Each pipeline's own tables, NULL-ended; the blog pipeline keeps all of
 * its state in the store's generations. */
static const struct store_schema *const schemas[] = {
    &products_schema,  &images_schema, &campaigns_schema,
    &lifecycle_schema, NULL,
};

const struct store_schema *const *app_schemas(void)
{
    return schemas;
}

static int read_costs(const struct config *cfg, struct app_costs *costs,
                      struct error *err)
{
    const struct {
        const char *name;
        int64_t fallback;
        int64_t *out;
    } items[] = {
        {"SITESMITH_COST_BLOG_IDEAS", 0, &costs->blog_ideas},
        {"SITESMITH_COST_BLOG_WRITE", 5, &costs->blog_write},
        {"SITESMITH_COST_BLOG_IMAGE", 4, &costs->blog_image},
        {"SITESMITH_COST_BLOG_PUBLISH", 1, &costs->blog_publish},
        {"SITESMITH_COST_PRODUCT_FIELD", 1, &costs->product_field},
        {"SITESMITH_COST_IMAGE", 3, &costs->image_item},
    };

    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        if (config_get_int(cfg, items[i].name, items[i].fallback, 0, COST_MAX,
                           items[i].out, err) != 0)
            return -1;
    }
    return 0;
}

static int copy_setting(char *out, size_t size, const char *name,
                        const char *value, struct error *err)
{
    if (strlen(value) >= size)
        return error_set(err, ERR_INVALID,
                         "%s: the value is longer than %zu characters", name,
                         size - 1);
    snprintf(out, size, "%s", value);
    return 0;
}

/* Settings that need no connection: read first, so that a bad value
 * fails before anything is opened. */
static int read_settings(struct app *app, const struct config *cfg,
                         struct error *err)
{
    struct blog_settings blog;

    if (read_costs(cfg, &app->costs, err) != 0 ||
        copy_setting(app->app_id, sizeof(app->app_id), "SITESMITH_WIX_APP_ID",
                     config_get_string(cfg, "SITESMITH_WIX_APP_ID", ""),
                     err) != 0 ||
        copy_setting(app->app_secret, sizeof(app->app_secret),
                     "SITESMITH_WIX_APP_SECRET",
                     config_get_string(cfg, "SITESMITH_WIX_APP_SECRET", ""),
                     err) != 0 ||
        copy_setting(
            app->data_dir, sizeof(app->data_dir), "SITESMITH_DATA_DIR",
            config_get_string(cfg, "SITESMITH_DATA_DIR", DEFAULT_DATA_DIR),
            err) != 0)
        return -1;
    return blog_settings_read(cfg, &blog, err);
}

struct app *app_open(const struct config *cfg, struct error *err)
{
    struct app *app = calloc(1, sizeof(*app));

    if (!app) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    app->cfg = cfg;
    if (read_settings(app, cfg, err) != 0)
        goto fail;
    /* Every setting is checked before the database is touched. */
    if (!config_get(cfg, "SITESMITH_SECRET_KEY")) {
        error_set(err, ERR_INVALID,
                  "SITESMITH_SECRET_KEY: missing: set it to 32 random bytes "
                  "as 64 hex characters (openssl rand -hex 32); it seals the "
                  "Wix tokens and refresh tokens kept in the database");
        goto fail;
    }
    app->openai = openai_client_new(cfg, err);
    if (!app->openai)
        goto fail;
    app->replicate = replicate_client_new(cfg, err);
    if (!app->replicate)
        goto fail;

    app->store = store_open_config(cfg, err);
    if (!app->store || store_migrate(app->store, app_schemas(), NULL, err) != 0)
        goto fail;
    app->tokens = token_provider_new(cfg, app->store, err);
    if (!app->tokens)
        goto fail;
    app->wix = wix_new(cfg, app->tokens, err);
    if (!app->wix)
        goto fail;
    log_info("app", "opened database=%s data_dir=%s",
             store_url_for_log(app->store), app->data_dir);
    return app;

fail:
    app_close(app);
    return NULL;
}

void app_close(struct app *app)
{
    if (!app)
        return;
    replicate_client_free(app->replicate);
    openai_client_free(app->openai);
    wix_free(app->wix);
    token_provider_free(app->tokens);
    store_close(app->store);
    sodium_memzero(app->app_secret, sizeof(app->app_secret));
    free(app);
}

int app_register_jobs(struct app *app, struct queue_pool *pool,
                      struct error *err)
{
    for (size_t i = 0;
         i < sizeof(job_registrations) / sizeof(job_registrations[0]); i++) {
        if (job_registrations[i](app, pool, err) != 0)
            return -1;
    }
    return 0;
}
