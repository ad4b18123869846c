/*
 * App lifecycle: recording webhook events and applying them in a job. See
 * lifecycle.h for what each event does and how order is kept.
 */
#include "pipelines/lifecycle.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "pipelines/billing.h"
#include "pipelines/lifecycle_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct store_migration lifecycle_migrations[] = {
    {
        .version = 1,
        .name = "webhook events, site lifecycle, billing periods, oauth "
                "states",
        .sql = "CREATE TABLE webhook_events ("
               " event_key TEXT PRIMARY KEY,"
               " instance_id TEXT NOT NULL,"
               " event_type TEXT NOT NULL,"
               " event_at BIGINT NOT NULL,"
               " payload TEXT NOT NULL,"
               " state TEXT NOT NULL CHECK (state IN ('received', 'applied',"
               " 'stale', 'ignored')),"
               " received_at BIGINT NOT NULL,"
               " handled_at BIGINT);"
               "CREATE INDEX webhook_events_by_instance"
               " ON webhook_events (instance_id, received_at);"
               "CREATE TABLE site_lifecycle ("
               " instance_id TEXT PRIMARY KEY,"
               " lifecycle_at BIGINT NOT NULL DEFAULT 0,"
               " billing_at BIGINT NOT NULL DEFAULT 0,"
               " installed_at BIGINT,"
               " removed_at BIGINT,"
               " auto_renewing INTEGER NOT NULL DEFAULT 1,"
               " updated_at BIGINT NOT NULL);"
               "CREATE TABLE billing_periods ("
               " instance_id TEXT NOT NULL,"
               " period TEXT NOT NULL,"
               " plan TEXT NOT NULL,"
               " entitled BIGINT NOT NULL,"
               " granted BIGINT NOT NULL,"
               " created_at BIGINT NOT NULL,"
               " updated_at BIGINT NOT NULL,"
               " PRIMARY KEY (instance_id, period));"
               "CREATE TABLE oauth_states ("
               " state TEXT PRIMARY KEY,"
               " browser_hash TEXT NOT NULL,"
               " expires_at BIGINT NOT NULL);",
    },
};

const struct store_schema lifecycle_schema = {
    .component = "lifecycle",
    .migrations = lifecycle_migrations,
    .count = sizeof(lifecycle_migrations) / sizeof(lifecycle_migrations[0]),
};

int lifecycle_site_read(struct store *st, const char *instance_id,
                        char state[16], char plan[64], struct error *err)
{
    struct store_instance instance = {0};
    struct store_tx *tx = store_begin_read(st, err);
    int found;

    state[0] = plan[0] = '\0';
    if (!tx)
        return -1;
    found = store_instance_get(tx, instance_id, &instance, err);
    store_rollback(tx);
    if (found == 1) {
        snprintf(state, 16, "%s", instance.state);
        snprintf(plan, 64, "%s", instance.plan);
    }
    store_instance_clear(&instance);
    return found;
}

/* ------------------------------------------------------------------ */
/* Recording                                                           */
/* ------------------------------------------------------------------ */

int lifecycle_record_webhook(struct app *app, const struct auth_webhook *event,
                             int *fresh, struct error *err)
{
    int64_t now = clock_now_ms();
    char *payload = NULL;
    char job_payload[128];
    char unique[96];
    struct queue_enqueue_options options = {.unique_key = unique};
    struct store_tx *tx = NULL;
    int64_t inserted = 0;
    int rc = -1;

    if (fresh)
        *fresh = 0;
    if (!event->instance_id[0])
        return 0;
    payload = json_to_string(event->payload);
    if (!payload)
        return error_set(err, ERR_PERMANENT, "out of memory");

    tx = store_begin(app->store, err);
    if (!tx ||
        store_run(
            tx,
            "INSERT INTO webhook_events (event_key, instance_id, "
            "event_type, event_at, payload, state, received_at) VALUES "
            "(?, ?, ?, ?, ?, 'received', ?) ON CONFLICT (event_key) DO "
            "NOTHING",
            STORE_ARGS(STORE_TEXT(event->event_key),
                       STORE_TEXT(event->instance_id),
                       STORE_TEXT(event->event_type),
                       STORE_INT(event->issued_ms ? event->issued_ms : now),
                       STORE_TEXT(payload), STORE_INT(now)),
            &inserted, err) != 0)
        goto out;
    if (inserted == 1) {
        snprintf(job_payload, sizeof(job_payload), "{\"event_key\":\"%s\"}",
                 event->event_key);
        snprintf(unique, sizeof(unique), "%s:%s", LIFECYCLE_JOB_EVENT,
                 event->event_key);
        if (queue_enqueue(tx, LIFECYCLE_JOB_EVENT, event->instance_id,
                          job_payload, &options, NULL, err) < 0)
            goto out;
    }
    if (store_commit(tx, err) != 0) {
        tx = NULL;
        goto out;
    }
    tx = NULL;
    if (fresh)
        *fresh = inserted == 1;
    rc = 0;
out:
    store_rollback(tx);
    free(payload);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Applying                                                            */
/* ------------------------------------------------------------------ */

/* A recorded event as the job reads it back. */
struct event {
    char key[65];
    char instance_id[STORE_ID_MAX];
    char type[64];
    int64_t event_at; /* JWT iat, or the time it was received */
    json_t *payload;
};

/* Times of the site's newest applied events, per ordering group. */
struct site_order {
    int64_t lifecycle_at;
    int64_t billing_at;
};

static const char *const plan_events[] = {
    "PaidPlanPurchased",
    "PaidPlanChanged",
    "PaidPlanAutoRenewalCancelled",
    "PlanConvertedToPaid",
    "PlanReactivated",
    "PlanTransferred",
    NULL,
};

static int is_plan_event(const char *type)
{
    for (size_t i = 0; plan_events[i]; i++)
        if (strcmp(plan_events[i], type) == 0)
            return 1;
    return 0;
}

/* Reads the event row; 1 when it is still to be applied, 0 when it was
 * handled before or is unknown. */
static int load_event(struct store_tx *tx, const char *key, struct event *ev,
                      struct error *err)
{
    struct store_stmt *stmt;
    char sql[256];
    int found;

    snprintf(sql, sizeof(sql),
             "SELECT instance_id, event_type, event_at, payload, state FROM "
             "webhook_events WHERE event_key = ?%s",
             store_for_update(tx));
    stmt = store_query(tx, sql, STORE_ARGS(STORE_TEXT(key)), err);
    if (!stmt)
        return -1;
    found = store_step(stmt, err);
    if (found == 1) {
        snprintf(ev->key, sizeof(ev->key), "%s", key);
        snprintf(ev->instance_id, sizeof(ev->instance_id), "%s",
                 store_column_text(stmt, 0));
        snprintf(ev->type, sizeof(ev->type), "%s", store_column_text(stmt, 1));
        ev->event_at = store_column_int(stmt, 2);
        ev->payload = json_loads(store_column_text(stmt, 3), 0, NULL);
        if (!ev->payload)
            ev->payload = json_object();
        found = strcmp(store_column_text(stmt, 4), "received") == 0;
    }
    store_finalize(stmt);
    return found;
}

/* Locks the site's lifecycle row (creating it) and reads it. */
static int lock_site(struct store_tx *tx, const char *instance_id,
                     struct site_order *order, struct error *err)
{
    char key[STORE_ID_MAX + 16];
    struct store_stmt *stmt;
    int found;

    snprintf(key, sizeof(key), "lifecycle:%s", instance_id);
    if (store_lock_key(tx, key, err) != 0 ||
        store_run(
            tx,
            "INSERT INTO site_lifecycle (instance_id, updated_at) "
            "VALUES (?, ?) ON CONFLICT (instance_id) DO NOTHING",
            STORE_ARGS(STORE_TEXT(instance_id), STORE_INT(clock_now_ms())),
            NULL, err) != 0)
        return -1;
    stmt = store_query(tx,
                       "SELECT lifecycle_at, billing_at FROM site_lifecycle "
                       "WHERE instance_id = ?",
                       STORE_ARGS(STORE_TEXT(instance_id)), err);
    if (!stmt)
        return -1;
    found = store_step(stmt, err);
    if (found == 1) {
        order->lifecycle_at = store_column_int(stmt, 0);
        order->billing_at = store_column_int(stmt, 1);
    }
    store_finalize(stmt);
    if (found == 0)
        return error_set(err, ERR_RETRYABLE,
                         "lifecycle row of site %s vanished", instance_id);
    return found < 0 ? -1 : 0;
}

/* The site's stored plan, "" when the site is new or free. */
static int read_plan(struct store_tx *tx, const char *instance_id,
                     char plan[64], struct error *err)
{
    struct store_instance instance = {0};
    int found = store_instance_get(tx, instance_id, &instance, err);

    if (found < 0)
        return -1;
    snprintf(plan, 64, "%s", found ? instance.plan : "");
    store_instance_clear(&instance);
    return 0;
}

static int grant_now(struct store_tx *tx, const struct billing_config *billing,
                     const char *instance_id, const char *plan,
                     struct error *err)
{
    char period[BILLING_PERIOD_SIZE];
    int64_t granted = 0;

    billing_period(clock_now_ms(), period);
    if (billing_grant_period(tx, billing, instance_id, plan, period, &granted,
                             err) != 0)
        return -1;
    if (granted > 0)
        log_info("lifecycle",
                 "credits granted instance=%s period=%s plan=%s credits=%lld",
                 instance_id, period, billing_plan_name(billing, plan),
                 (long long)granted);
    return 0;
}

static int apply_install(struct store_tx *tx,
                         const struct billing_config *billing,
                         const struct event *ev, struct error *err)
{
    char plan[64];
    int64_t now = clock_now_ms();

    if (read_plan(tx, ev->instance_id, plan, err) != 0 ||
        store_instance_put(tx, ev->instance_id, "installed", plan, NULL, err) !=
            0 ||
        store_run(tx,
                  "UPDATE site_lifecycle SET lifecycle_at = ?, "
                  "installed_at = ?, updated_at = ? WHERE instance_id = ?",
                  STORE_ARGS(STORE_INT(ev->event_at), STORE_INT(now),
                             STORE_INT(now), STORE_TEXT(ev->instance_id)),
                  NULL, err) != 0)
        return -1;
    return grant_now(tx, billing, ev->instance_id, plan, err);
}

/* Removal: secrets and cached tokens go at once; queued work is cancelled
 * after the commit (lifecycle_cancel_work). */
static int apply_remove(struct store_tx *tx, const struct event *ev,
                        struct error *err)
{
    char plan[64];
    int64_t now = clock_now_ms();

    if (read_plan(tx, ev->instance_id, plan, err) != 0 ||
        store_instance_put(tx, ev->instance_id, "removed", plan, NULL, err) !=
            0 ||
        store_secret_delete(tx, ev->instance_id, NULL, err) != 0 ||
        store_token_delete(tx, ev->instance_id, err) != 0)
        return -1;
    return store_run(tx,
                     "UPDATE site_lifecycle SET lifecycle_at = ?, "
                     "removed_at = ?, updated_at = ? WHERE instance_id = ?",
                     STORE_ARGS(STORE_INT(ev->event_at), STORE_INT(now),
                                STORE_INT(now), STORE_TEXT(ev->instance_id)),
                     NULL, err);
}

/* The time a plan event happened: operationTimeStamp, else the JWT's. */
static int64_t operation_time(const struct event *ev)
{
    const char *text =
        json_string_value(json_object_get(ev->payload, "operationTimeStamp"));
    int64_t ms = text ? clock_parse_iso(text) : -1;

    return ms > 0 ? ms : ev->event_at;
}

static int apply_plan(struct store_tx *tx, const struct billing_config *billing,
                      const struct event *ev, int64_t operation_at,
                      struct error *err)
{
    const json_t *product = json_object_get(ev->payload, "vendorProductId");
    const char *plan =
        json_is_string(product) ? json_string_value(product) : "";
    int auto_renewing = strcmp(ev->type, "PaidPlanAutoRenewalCancelled") != 0;
    struct store_instance instance = {0};
    int installed;
    int found;

    if (strlen(plan) >= sizeof(instance.plan))
        return error_set(err, ERR_PERMANENT,
                         "%s event %s: vendorProductId is longer than %zu "
                         "characters",
                         ev->type, ev->key, sizeof(instance.plan) - 1);
    found = store_instance_get(tx, ev->instance_id, &instance, err);
    if (found < 0)
        return -1;
    /* A plan bought before the install event arrived: the site exists. */
    installed = !found || strcmp(instance.state, "installed") == 0;
    store_instance_clear(&instance);
    if (store_instance_put(tx, ev->instance_id,
                           installed ? "installed" : "removed", plan, NULL,
                           err) != 0 ||
        store_run(tx,
                  "UPDATE site_lifecycle SET billing_at = ?, auto_renewing = "
                  "?, updated_at = ? WHERE instance_id = ?",
                  STORE_ARGS(STORE_INT(operation_at), STORE_INT(auto_renewing),
                             STORE_INT(clock_now_ms()),
                             STORE_TEXT(ev->instance_id)),
                  NULL, err) != 0)
        return -1;
    return installed ? grant_now(tx, billing, ev->instance_id, plan, err) : 0;
}

/* Applies ev and returns the state to record: applied, stale or ignored. */
static const char *apply_event(struct store_tx *tx,
                               const struct billing_config *billing,
                               const struct event *ev, struct error *err)
{
    struct site_order order = {0};
    int64_t operation_at;
    int rc;

    if (lock_site(tx, ev->instance_id, &order, err) != 0)
        return NULL;
    if (strcmp(ev->type, "AppInstalled") == 0 ||
        strcmp(ev->type, "AppRemoved") == 0) {
        if (ev->event_at < order.lifecycle_at)
            return "stale";
        if (strcmp(ev->type, "AppInstalled") == 0)
            rc = apply_install(tx, billing, ev, err);
        else
            rc = apply_remove(tx, ev, err);
        return rc == 0 ? "applied" : NULL;
    }
    if (is_plan_event(ev->type)) {
        operation_at = operation_time(ev);
        if (operation_at <= order.billing_at)
            return "stale";
        return apply_plan(tx, billing, ev, operation_at, err) == 0 ? "applied"
                                                                   : NULL;
    }
    return "ignored";
}

/* Applies the event in one transaction; *removed is set for an applied
 * or repeated AppRemoved, whose work is cancelled afterwards. */
static int apply_recorded(struct store *st,
                          const struct billing_config *billing, const char *key,
                          struct event *ev, int *removed, struct error *err)
{
    struct store_tx *tx = store_begin(st, err);
    const char *outcome = NULL;
    int pending;

    if (!tx)
        return -1;
    pending = load_event(tx, key, ev, err);
    if (pending < 0)
        goto fail;
    *removed = ev->payload && strcmp(ev->type, "AppRemoved") == 0;
    if (pending == 1) {
        outcome = apply_event(tx, billing, ev, err);
        if (!outcome ||
            store_run(tx,
                      "UPDATE webhook_events SET state = ?, handled_at = ? "
                      "WHERE event_key = ?",
                      STORE_ARGS(STORE_TEXT(outcome), STORE_INT(clock_now_ms()),
                                 STORE_TEXT(key)),
                      NULL, err) != 0)
            goto fail;
    }
    if (store_commit(tx, err) != 0)
        return -1;
    if (outcome)
        log_info("lifecycle", "webhook event %s instance=%s type=%s event=%s",
                 outcome, ev->instance_id, ev->type, key);
    return 0;

fail:
    store_rollback(tx);
    return -1;
}

static int run_event(struct store *st, struct queue_job *job, void *arg,
                     struct error *err)
{
    struct app *app = arg;
    struct billing_config billing;
    struct event ev = {0};
    json_t *payload = json_loads(job->payload, 0, NULL);
    const char *key = json_string_value(json_object_get(payload, "event_key"));
    int removed = 0;
    int rc = -1;

    if (!key) {
        error_set(err, ERR_PERMANENT, "lifecycle job %lld has no event_key",
                  (long long)job->id);
        goto out;
    }
    if (billing_config_read(app->cfg, &billing, err) != 0 ||
        apply_recorded(st, &billing, key, &ev, &removed, err) != 0)
        goto out;
    rc = removed ? lifecycle_cancel_work(app, ev.instance_id, err) : 0;
out:
    json_decref(ev.payload);
    json_decref(payload);
    return rc;
}

int lifecycle_register_jobs(struct app *app, struct queue_pool *pool,
                            struct error *err)
{
    struct queue_handler handler = {.run = run_event, .arg = app};

    if (queue_pool_register(pool, LIFECYCLE_JOB_EVENT, &handler, err) != 0)
        return -1;
    return billing_register_jobs(app, pool, err);
}
