/*
 * App lifecycle: how a site comes and goes, from Wix's webhooks and the
 * legacy install flow.
 *
 * A verified webhook is recorded in the webhook_events table under its
 * event key (see auth_webhook) and handled by a queued job, so that the
 * HTTP response goes out at once and a repeated delivery is a no-op. The
 * job applies the event:
 *
 *   AppInstalled   the site is installed and gets its plan's credits for
 *                  the current billing period (once per period, see
 *                  billing.h)
 *   AppRemoved     the site is removed: its secrets and cached tokens are
 *                  deleted, its queued work is cancelled (reservations
 *                  released), and its history and ledger are kept
 *   PaidPlanPurchased, PaidPlanChanged, PaidPlanAutoRenewalCancelled,
 *   PlanConvertedToPaid, PlanReactivated, PlanTransferred
 *                  the plan becomes the event's vendorProductId (none is
 *                  the free plan) and the site gets what the plan entitles
 *                  it to in the current period
 *
 * Events come late, twice and out of order. Install and remove events are
 * ordered by the JWT's iat, plan events by their operationTimeStamp: an
 * event older than the last one applied of its group is recorded as
 * stale and changes nothing.
 */
#ifndef SITESMITH_PIPELINES_LIFECYCLE_H
#define SITESMITH_PIPELINES_LIFECYCLE_H

#include "auth/webhook.h"
#include "core/error.h"
#include "pipelines/app.h"
#include "queue/queue.h"
#include "store/store.h"

#include <stdint.h>

/* Queue job kind that applies one recorded webhook event. */
#define LIFECYCLE_JOB_EVENT "lifecycle.event"

/* The instance setting that marks a site installed by the legacy flow. */
#define LIFECYCLE_LEGACY_SETTING "legacy_oauth"

/* How long a legacy install's state parameter stays valid. */
#define LIFECYCLE_OAUTH_STATE_TTL_MS (15LL * 60 * 1000)

/* Tables: webhook_events, site_lifecycle, billing_periods, oauth_states. */
extern const struct store_schema lifecycle_schema;

/*
 * Records a verified event and queues its job, in one transaction. *fresh
 * (may be NULL) is 1 when the event is new, 0 when it was recorded
 * before (then nothing is queued). An event of no site (empty
 * instance_id) is not recorded: the caller acknowledges and drops it.
 * Call from any thread that holds no store transaction.
 */
int lifecycle_record_webhook(struct app *app, const struct auth_webhook *event,
                             int *fresh, struct error *err);

/* Registers the event job and the billing jobs (billing.h) with pool. */
int lifecycle_register_jobs(struct app *app, struct queue_pool *pool,
                            struct error *err);

/*
 * Makes the state parameter of a legacy install: a random value stored
 * for LIFECYCLE_OAUTH_STATE_TTL_MS together with the SHA-256 of browser,
 * a random value the caller puts in a cookie. state and browser are
 * written as 32 hex characters each.
 */
int lifecycle_oauth_state_new(struct app *app, char state[33], char browser[33],
                              struct error *err);

/*
 * Consumes a state parameter: succeeds once for a state that was made
 * within its lifetime for this browser value, and deletes it. Anything
 * else fails with ERR_FORBIDDEN.
 */
int lifecycle_oauth_state_take(struct app *app, const char *state,
                               const char *browser, struct error *err);

/*
 * Stores the result of a legacy install for instance_id in one
 * transaction: the site is installed, its settings get
 * LIFECYCLE_LEGACY_SETTING: true, the refresh token is stored sealed as
 * TOKEN_REFRESH_SECRET (so the token provider uses the legacy grant for
 * this site from now on), and the access token is cached until
 * expires_ms. Any other token cached in memory for the site is dropped
 * first.
 */
int lifecycle_legacy_install(struct app *app, const char *instance_id,
                             const char *access_token, int64_t expires_ms,
                             const char *refresh_token, struct error *err);

#endif
