/*
 * Plans and credits: the plan table, billing periods, the grant rule and
 * the jobs that renew credits each period. See billing.h for the rules.
 */
#include "pipelines/billing.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "pipelines/lifecycle_internal.h"
#include "wix/site.h"
#include "wix/wix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_FREE_PLAN "free"
#define ROLLOVER_MAX 12
/* Sites queued for a grant per transaction of the renewal job. */
#define RENEW_BATCH 500
/* The renewal job chain must not end, so it retries for days. */
#define RENEW_MAX_ATTEMPTS 1000

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

static int valid_plan_name(const char *name, size_t length)
{
    if (length == 0 || length >= BILLING_PLAN_MAX)
        return 0;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* Parses one "name:credits" entry of SITESMITH_PLANS. */
static int parse_plan(const char *entry, size_t length,
                      struct billing_plan *out, struct error *err)
{
    const char *colon = memchr(entry, ':', length);
    char number[24];
    char *end;
    long long credits;
    size_t digits;

    if (!colon || !valid_plan_name(entry, (size_t)(colon - entry)))
        return error_set(err, ERR_INVALID,
                         "SITESMITH_PLANS: invalid entry \"%.*s\": expected "
                         "name:credits, the name made of letters, digits, "
                         "'-', '_' and '.'",
                         (int)(length > 80 ? 80 : length), entry);
    digits = length - (size_t)(colon + 1 - entry);
    if (digits == 0 || digits >= sizeof(number))
        goto bad_number;
    memcpy(number, colon + 1, digits);
    number[digits] = '\0';
    credits = strtoll(number, &end, 10);
    if (*end || credits < 0 || credits > BILLING_CREDITS_MAX)
        goto bad_number;
    snprintf(out->name, sizeof(out->name), "%.*s", (int)(colon - entry), entry);
    out->credits = credits;
    return 0;

bad_number:
    return error_set(err, ERR_INVALID,
                     "SITESMITH_PLANS: invalid credits in \"%.*s\": expected "
                     "an integer from 0 to %lld",
                     (int)(length > 80 ? 80 : length), entry,
                     BILLING_CREDITS_MAX);
}

static int parse_plans(const char *text, struct billing_config *out,
                       struct error *err)
{
    const char *entry = text;

    while (*entry) {
        size_t length = strcspn(entry, ",");

        while (length > 0 && *entry == ' ') {
            entry++;
            length--;
        }
        while (length > 0 && entry[length - 1] == ' ')
            length--;
        if (length > 0) {
            if (out->count == BILLING_MAX_PLANS)
                return error_set(err, ERR_INVALID,
                                 "SITESMITH_PLANS: more than %d plans",
                                 BILLING_MAX_PLANS);
            if (parse_plan(entry, length, &out->plans[out->count], err) != 0)
                return -1;
            out->count++;
        }
        entry += strcspn(entry, ",");
        if (*entry == ',')
            entry++;
    }
    for (size_t i = 0; i < out->count; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->plans[i].name, out->plans[j].name) == 0)
                return error_set(err, ERR_INVALID,
                                 "SITESMITH_PLANS: plan \"%s\" is listed "
                                 "twice",
                                 out->plans[i].name);
    return 0;
}

int billing_config_read(const struct config *cfg, struct billing_config *out,
                        struct error *err)
{
    const char *free_plan =
        config_get_string(cfg, "SITESMITH_FREE_PLAN", DEFAULT_FREE_PLAN);

    memset(out, 0, sizeof(*out));
    if (!valid_plan_name(free_plan, strlen(free_plan)))
        return error_set(err, ERR_INVALID,
                         "SITESMITH_FREE_PLAN: invalid value \"%.80s\": "
                         "expected letters, digits, '-', '_' and '.'",
                         free_plan);
    snprintf(out->free_plan, sizeof(out->free_plan), "%s", free_plan);
    if (parse_plans(config_get_string(cfg, "SITESMITH_PLANS", ""), out, err) !=
        0)
        return -1;
    return config_get_int(cfg, "SITESMITH_CREDITS_ROLLOVER", 1, 0, ROLLOVER_MAX,
                          &out->rollover_months, err);
}

const char *billing_plan_name(const struct billing_config *billing,
                              const char *stored_plan)
{
    return stored_plan && *stored_plan ? stored_plan : billing->free_plan;
}

int64_t billing_plan_credits(const struct billing_config *billing,
                             const char *stored_plan, int *known)
{
    const char *name = billing_plan_name(billing, stored_plan);

    for (size_t i = 0; i < billing->count; i++) {
        if (strcmp(billing->plans[i].name, name) == 0) {
            if (known)
                *known = 1;
            return billing->plans[i].credits;
        }
    }
    if (known)
        *known = 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Periods                                                             */
/* ------------------------------------------------------------------ */

void billing_period(int64_t ms, char out[BILLING_PERIOD_SIZE])
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    unsigned year;
    unsigned month;

    gmtime_r(&seconds, &tm);
    year = (unsigned)(tm.tm_year + 1900) % 10000u;
    month = (unsigned)tm.tm_mon % 12u + 1u;
    snprintf(out, BILLING_PERIOD_SIZE, "%04u-%02u", year, month);
}

int64_t billing_next_period_ms(int64_t ms)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&seconds, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mon++;
    if (tm.tm_mon == 12) {
        tm.tm_mon = 0;
        tm.tm_year++;
    }
    return (int64_t)timegm(&tm) * 1000;
}

/* ------------------------------------------------------------------ */
/* Grants                                                              */
/* ------------------------------------------------------------------ */

/* The first grant of a period: the plan's credits, at most up to the
 * rollover cap. */
static int first_grant_amount(struct store_tx *tx,
                              const struct billing_config *billing,
                              const char *instance_id, int64_t credits,
                              int64_t *amount, struct error *err)
{
    struct store_credits balance;
    int64_t cap = credits * (1 + billing->rollover_months);

    if (store_credits_get(tx, instance_id, &balance, err) != 0)
        return -1;
    *amount = cap - balance.available;
    if (*amount > credits)
        *amount = credits;
    if (*amount < 0)
        *amount = 0;
    return 0;
}

static int record_period(struct store_tx *tx, const char *instance_id,
                         const char *period, const char *plan, int64_t entitled,
                         int64_t amount, struct error *err)
{
    int64_t now = clock_now_ms();

    return store_run(
        tx,
        "INSERT INTO billing_periods (instance_id, period, plan, entitled, "
        "granted, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (instance_id, period) DO UPDATE SET "
        "plan = excluded.plan, entitled = excluded.entitled, "
        "granted = billing_periods.granted + excluded.granted, "
        "updated_at = excluded.updated_at",
        STORE_ARGS(STORE_TEXT(instance_id), STORE_TEXT(period),
                   STORE_TEXT(plan), STORE_INT(entitled), STORE_INT(amount),
                   STORE_INT(now), STORE_INT(now)),
        NULL, err);
}

int billing_grant_period(struct store_tx *tx,
                         const struct billing_config *billing,
                         const char *instance_id, const char *stored_plan,
                         const char *period, int64_t *granted,
                         struct error *err)
{
    const char *plan = billing_plan_name(billing, stored_plan);
    int64_t credits = billing_plan_credits(billing, stored_plan, NULL);
    int64_t entitled = 0;
    int64_t amount = 0;
    char key[STORE_ID_MAX + 16];
    char reference[BILLING_PLAN_MAX + 32];
    int found;

    if (granted)
        *granted = 0;
    snprintf(key, sizeof(key), "billing:%s", instance_id);
    if (store_lock_key(tx, key, err) != 0)
        return -1;
    found =
        store_query_int(tx,
                        "SELECT entitled FROM billing_periods WHERE "
                        "instance_id = ? AND period = ?",
                        STORE_ARGS(STORE_TEXT(instance_id), STORE_TEXT(period)),
                        &entitled, err);
    if (found < 0)
        return -1;
    if (found && entitled >= credits)
        return 0;

    /* A later, better plan in the same period adds the difference. */
    if (found)
        amount = credits - entitled;
    else if (first_grant_amount(tx, billing, instance_id, credits, &amount,
                                err) != 0)
        return -1;
    if (record_period(tx, instance_id, period, plan, credits, amount, err))
        return -1;
    if (amount == 0)
        return 0;

    snprintf(reference, sizeof(reference), "plan:%s:%s", period, plan);
    found = store_credits_grant(tx, instance_id, amount, reference,
                                "plan credits", err);
    if (found < 0)
        return -1;
    if (granted)
        *granted = found ? amount : 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The grant job                                                       */
/* ------------------------------------------------------------------ */

/* Reads the plan from GET /apps/v1/instance: "" when the site is free. */
static int read_wix_plan(struct wix_client *client, void *ctx,
                         struct error *err)
{
    char *plan = ctx;
    json_t *body = NULL;
    const char *package;
    int is_free;

    if (wix_app_get_instance(client, &body, err) != 0)
        return -1;
    is_free = json_is_true(json_at(body, "instance.isFree"));
    package = json_string_value(json_at(body, "instance.billing.packageName"));
    snprintf(plan, BILLING_PLAN_MAX, "%s", !is_free && package ? package : "");
    json_decref(body);
    return 0;
}

/*
 * Confirms a paid plan with Wix before its credits go out. When Wix can't
 * be asked at all (the app lost the permission or was removed), the stored
 * plan is used. A transient failure retries the job.
 */
static int confirm_plan(struct app *app, const char *instance_id,
                        char plan[BILLING_PLAN_MAX], struct error *err)
{
    char wix_plan[BILLING_PLAN_MAX];
    struct error wix_err;

    if (!plan[0])
        return 0;
    error_clear(&wix_err);
    if (wix_run(app->wix, instance_id, read_wix_plan, wix_plan, &wix_err)) {
        if (error_is_retryable(&wix_err)) {
            *err = wix_err;
            return -1;
        }
        log_warn("billing",
                 "plan not confirmed, using the stored one instance=%s "
                 "plan=%s error=\"%s\"",
                 instance_id, plan, wix_err.message);
        return 0;
    }
    if (strcmp(wix_plan, plan) != 0) {
        log_info("billing", "plan changed at Wix instance=%s from=%s to=%s",
                 instance_id, plan, wix_plan[0] ? wix_plan : "(free)");
        snprintf(plan, BILLING_PLAN_MAX, "%s", wix_plan);
    }
    return 0;
}

/* Stores the plan Wix reported, unless a plan event changed it since. */
static int store_confirmed_plan(struct store_tx *tx, const char *instance_id,
                                const char *before, const char *plan,
                                struct error *err)
{
    return store_run(tx,
                     "UPDATE instances SET plan = ?, updated_at = ? WHERE "
                     "instance_id = ? AND plan = ? AND state = 'installed'",
                     STORE_ARGS(STORE_TEXT(plan), STORE_INT(clock_now_ms()),
                                STORE_TEXT(instance_id), STORE_TEXT(before)),
                     NULL, err);
}

static int run_grant(struct store *st, struct queue_job *job, void *arg,
                     struct error *err)
{
    struct app *app = arg;
    struct billing_config billing;
    char stored[BILLING_PLAN_MAX];
    char plan[BILLING_PLAN_MAX];
    const char *period;
    json_t *payload = json_loads(job->payload, 0, NULL);
    struct store_tx *tx = NULL;
    char state[16];
    int64_t granted = 0;
    int found;
    int rc = -1;

    period = json_string_value(json_object_get(payload, "period"));
    if (!period || strlen(period) != BILLING_PERIOD_SIZE - 1) {
        error_set(err, ERR_PERMANENT, "billing grant job %lld has no period",
                  (long long)job->id);
        goto out;
    }
    if (billing_config_read(app->cfg, &billing, err) != 0)
        goto out;
    found = lifecycle_site_read(st, job->instance_id, state, stored, err);
    if (found <= 0 || strcmp(state, "installed") != 0) {
        rc = found < 0 ? -1 : 0;
        goto out;
    }
    snprintf(plan, sizeof(plan), "%s", stored);
    if (confirm_plan(app, job->instance_id, plan, err) != 0)
        goto out;

    tx = store_begin(st, err);
    if (!tx ||
        (strcmp(plan, stored) != 0 &&
         store_confirmed_plan(tx, job->instance_id, stored, plan, err)) ||
        billing_grant_period(tx, &billing, job->instance_id, plan, period,
                             &granted, err) != 0 ||
        queue_finish(tx, job, err) != 0) {
        store_rollback(tx);
        goto out;
    }
    rc = store_commit(tx, err);
    if (rc == 0 && granted > 0)
        log_info("billing",
                 "credits granted instance=%s period=%s plan=%s "
                 "credits=%lld",
                 job->instance_id, period, billing_plan_name(&billing, plan),
                 (long long)granted);
out:
    json_decref(payload);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The renewal job                                                     */
/* ------------------------------------------------------------------ */

/*
 * Queues grants for up to RENEW_BATCH installed sites that come after
 * the id in cursor (in id order) and have no grant in period, and moves
 * cursor to the last one. A site whose grant job is still queued is
 * skipped by the job's unique key. *seen receives how many sites were
 * read.
 */
static int queue_grants(struct store *st, const char *period,
                        char cursor[STORE_ID_MAX], int64_t *seen,
                        struct error *err)
{
    struct store_tx *tx = store_begin(st, err);
    struct store_stmt *stmt;
    char after[STORE_ID_MAX];
    char payload[64];
    int more;

    *seen = 0;
    snprintf(after, sizeof(after), "%s", cursor);
    if (!tx)
        return -1;
    stmt = store_query(
        tx,
        "SELECT i.instance_id FROM instances i WHERE i.state = 'installed' "
        "AND i.instance_id > ? AND NOT EXISTS (SELECT 1 FROM "
        "billing_periods b WHERE b.instance_id = i.instance_id AND "
        "b.period = ?) ORDER BY i.instance_id LIMIT ?",
        STORE_ARGS(STORE_TEXT(after), STORE_TEXT(period),
                   STORE_INT(RENEW_BATCH)),
        err);
    if (!stmt)
        goto fail;
    snprintf(payload, sizeof(payload), "{\"period\":\"%s\"}", period);
    while ((more = store_step(stmt, err)) == 1) {
        const char *instance_id = store_column_text(stmt, 0);
        char unique[STORE_ID_MAX + 32];
        struct queue_enqueue_options options = {.unique_key = unique};

        snprintf(unique, sizeof(unique), "%s:%s:%s", BILLING_JOB_GRANT,
                 instance_id, period);
        if (queue_enqueue(tx, BILLING_JOB_GRANT, instance_id, payload, &options,
                          NULL, err) < 0) {
            more = -1;
            break;
        }
        snprintf(cursor, STORE_ID_MAX, "%s", instance_id);
        (*seen)++;
    }
    store_finalize(stmt);
    if (more < 0)
        goto fail;
    return store_commit(tx, err);

fail:
    store_rollback(tx);
    return -1;
}

/* Queues the renewal job at run_at_ms unless one is queued or running. */
static int queue_renewal(struct store_tx *tx, int64_t run_at_ms,
                         struct error *err)
{
    struct queue_enqueue_options options = {
        .unique_key = BILLING_JOB_RENEW,
        .run_at_ms = run_at_ms,
        .max_attempts = RENEW_MAX_ATTEMPTS,
    };

    return queue_enqueue(tx, BILLING_JOB_RENEW, "", NULL, &options, NULL, err) <
                   0
               ? -1
               : 0;
}

static int run_renew(struct store *st, struct queue_job *job, void *arg,
                     struct error *err)
{
    int64_t now = clock_now_ms();
    int64_t next = billing_next_period_ms(now);
    char period[BILLING_PERIOD_SIZE];
    char cursor[STORE_ID_MAX] = "";
    int64_t seen;
    int64_t total = 0;
    struct store_tx *tx;

    (void)arg;
    billing_period(now, period);
    do {
        if (queue_grants(st, period, cursor, &seen, err) != 0)
            return -1;
        total += seen;
    } while (seen == RENEW_BATCH);
    if (total > 0)
        log_info("billing", "grants queued period=%s sites=%lld", period,
                 (long long)total);

    /* Finish first, so that the unique key is free for the next run. */
    if (now + BILLING_RENEW_INTERVAL_MS < next)
        next = now + BILLING_RENEW_INTERVAL_MS;
    tx = store_begin(st, err);
    if (!tx || queue_finish(tx, job, err) != 0 ||
        queue_renewal(tx, next, err) != 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}

int billing_register_jobs(struct app *app, struct queue_pool *pool,
                          struct error *err)
{
    struct queue_handler renew = {.run = run_renew, .arg = app};
    struct queue_handler grant = {.run = run_grant, .arg = app};
    struct billing_config billing;
    struct store_tx *tx;

    if (billing_config_read(app->cfg, &billing, err) != 0 ||
        queue_pool_register(pool, BILLING_JOB_RENEW, &renew, err) != 0 ||
        queue_pool_register(pool, BILLING_JOB_GRANT, &grant, err) != 0)
        return -1;
    tx = store_begin(app->store, err);
    if (!tx || queue_renewal(tx, 0, err) != 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}
