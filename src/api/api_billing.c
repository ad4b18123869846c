/*
 * The site's plan: GET /api/billing (plan, its credits, the period) and
 * GET /api/billing/upgrade-url (Wix's page where the owner picks a plan).
 */
#include "api/api.h"
#include "api/api_lifecycle.h"

#include "core/clock.h"
#include "http/client.h"
#include "pipelines/billing.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_UPGRADE_URL "https://www.wix.com/apps/upgrade"
#define URL_MAX 1024

/* One server per process: the base URL lives as long as it. */
static char upgrade_base[URL_MAX];

/* Writes "<base>/<app id>?appInstanceId=<instance id>" into out. */
static int upgrade_url(const struct api_call *call, char *out, size_t size)
{
    char app_id[3 * sizeof(call->app->app_id)];
    char instance_id[3 * STORE_ID_MAX];

    if (http_url_encode(call->app->app_id, app_id, sizeof(app_id)) != 0 ||
        http_url_encode(call->instance_id, instance_id, sizeof(instance_id)) !=
            0)
        return -1;
    return snprintf(out, size, "%s/%s?appInstanceId=%s", upgrade_base, app_id,
                    instance_id) >= (int)size
               ? -1
               : 0;
}

static void handle_upgrade_url(struct api_call *call)
{
    char url[URL_MAX * 2];

    if (upgrade_url(call, url, sizeof(url)) != 0) {
        http_response_error(call->resp, 500, "internal",
                            "the upgrade URL is too long");
        return;
    }
    http_response_json(call->resp, 200, json_pack("{s:s}", "url", url));
}

static void handle_billing(struct api_call *call)
{
    struct billing_config billing;
    struct store_instance instance = {0};
    struct store_tx *tx;
    struct error err;
    char period[BILLING_PERIOD_SIZE];
    char renews[32];
    char url[URL_MAX * 2];
    int64_t now = clock_now_ms();

    error_clear(&err);
    tx = store_begin_read(call->app->store, &err);
    if (!tx || billing_config_read(call->app->cfg, &billing, &err) != 0 ||
        store_instance_get(tx, call->instance_id, &instance, &err) < 0) {
        store_rollback(tx);
        store_instance_clear(&instance);
        api_fail(call, &err);
        return;
    }
    store_rollback(tx);
    billing_period(now, period);
    clock_format_iso(billing_next_period_ms(now), renews);
    if (upgrade_url(call, url, sizeof(url)) != 0)
        url[0] = '\0';
    http_response_json(
        call->resp, 200,
        json_pack(
            "{s:s, s:I, s:s, s:s, s:I, s:s}", "plan",
            billing_plan_name(&billing, instance.plan), "plan_credits",
            (json_int_t)billing_plan_credits(&billing, instance.plan, NULL),
            "period", period, "renews_at", renews, "rollover_months",
            (json_int_t)billing.rollover_months, "upgrade_url", url));
    store_instance_clear(&instance);
}

int api_billing_routes(struct http_server *server, struct app *app,
                       struct error *err)
{
    if (config_get_url(app->cfg, "SITESMITH_WIX_UPGRADE_URL",
                       DEFAULT_UPGRADE_URL, upgrade_base, sizeof(upgrade_base),
                       err) < 0)
        return -1;
    if (api_route(server, app, "GET", "/api/billing", handle_billing) != 0 ||
        api_route(server, app, "GET", "/api/billing/upgrade-url",
                  handle_upgrade_url) != 0)
        return error_set(err, ERR_PERMANENT,
                         "failed to add the /api/billing routes");
    return 0;
}
