/*
 * Plans and credits: which plan gives how many credits a month, and the
 * grants that turn a site's plan into credits once per billing period.
 *
 * A billing period is a calendar month in UTC ("2026-12"). Each site is
 * entitled, in each period, to the monthly credits of the best plan it
 * held during that period. The first grant of a period tops the balance up
 * under the rollover rule below. A plan bought or upgraded later in the
 * period adds the difference to the better plan, and a downgrade takes
 * nothing back. The billing_periods table records what each site was entitled
 * to in each period, and each grant's ledger reference ("plan:<period>:<plan>")
 * keeps it single even when several workers grant at once.
 *
 * Unused credits roll over, but the first grant of a period adds at most
 * what brings the available balance to (1 + SITESMITH_CREDITS_ROLLOVER) x
 * the plan's monthly credits. With the default of 1, a site keeps at most
 * one month of unused plan credits on top of the new month's.
 *
 * A scheduled job (BILLING_JOB_RENEW) looks every hour for installed sites
 * with no grant in the current period and queues one BILLING_JOB_GRANT per
 * site and period. Before granting a paid plan's credits, the grant job
 * asks Wix for the site's current plan (GET /apps/v1/instance), because
 * Wix sends no event when a plan renews or lapses.
 */
#ifndef SITESMITH_PIPELINES_BILLING_H
#define SITESMITH_PIPELINES_BILLING_H

#include "core/config.h"
#include "core/error.h"
#include "pipelines/app.h"
#include "queue/queue.h"
#include "store/store.h"

#include <stdint.h>

#define BILLING_MAX_PLANS 32
#define BILLING_PLAN_MAX 64   /* plan name length, with the NUL */
#define BILLING_PERIOD_SIZE 8 /* "YYYY-MM" and a NUL */
#define BILLING_CREDITS_MAX 1000000000LL

/* Queue job kinds. */
#define BILLING_JOB_RENEW "billing.renew"
#define BILLING_JOB_GRANT "billing.grant"

/* How often the renewal job looks for sites without this period's grant. */
#define BILLING_RENEW_INTERVAL_MS (60LL * 60 * 1000)

struct billing_plan {
    char name[BILLING_PLAN_MAX]; /* Wix's plan id (packageName) */
    int64_t credits;             /* per billing period */
};

struct billing_config {
    struct billing_plan plans[BILLING_MAX_PLANS];
    size_t count;
    char free_plan[BILLING_PLAN_MAX]; /* the name of the plan of a site
                                         that bought none */
    int64_t rollover_months;
};

/*
 * Reads the billing settings:
 *   SITESMITH_PLANS            "name:credits,..." e.g.
 *                              "free:50,basic:500,pro:2000" (default
 *                              empty: no plan gives credits)
 *   SITESMITH_FREE_PLAN        the free plan's name (default "free")
 *   SITESMITH_CREDITS_ROLLOVER months of unused plan credits a site may
 *                              keep, 0 to 12 (default 1)
 * Plan names are letters, digits, '-', '_' and '.'. Fails with ERR_INVALID
 * naming the variable and the bad entry.
 */
int billing_config_read(const struct config *cfg, struct billing_config *out,
                        struct error *err);

/*
 * The plan a stored plan value stands for: the free plan's name for ""
 * (a site that bought nothing), else the value. Borrowed.
 */
const char *billing_plan_name(const struct billing_config *billing,
                              const char *stored_plan);

/*
 * Monthly credits of a plan ("" is the free plan); 0 for a plan that is
 * not configured. *known (may be NULL) is set to whether it is configured.
 */
int64_t billing_plan_credits(const struct billing_config *billing,
                             const char *stored_plan, int *known);

/* The billing period containing ms, as "YYYY-MM" (UTC). */
void billing_period(int64_t ms, char out[BILLING_PERIOD_SIZE]);

/* The first millisecond of the period after the one containing ms. */
int64_t billing_next_period_ms(int64_t ms);

/*
 * Grants instance_id what its plan (stored value, "" for free) entitles
 * it to in period and has not been granted yet, inside tx, following the
 * rules at the top of this file. *granted (may be NULL) receives the
 * amount added, 0 when nothing was due. Takes a per-site lock (see
 * store_lock_key) so concurrent grants of one site take turns.
 */
int billing_grant_period(struct store_tx *tx,
                         const struct billing_config *billing,
                         const char *instance_id, const char *stored_plan,
                         const char *period, int64_t *granted,
                         struct error *err);

/*
 * Registers the renewal and grant jobs with pool, and queues the renewal
 * job to run now unless one is already queued or running.
 */
int billing_register_jobs(struct app *app, struct queue_pool *pool,
                          struct error *err);

#endif
