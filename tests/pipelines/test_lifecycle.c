/*
 * The app lifecycle pipeline: recorded webhook events applied by the
 * queue (install, remove, reinstall, plan changes, duplicates and
 * out-of-order delivery) and the renewal of credits each billing period
 * with two worker pools on one database. Runs on SQLite, and on
 * PostgreSQL when SITESMITH_TEST_POSTGRES_URL is set, against a real
 * sitesmith-sandbox (which confirms paid plans).
 */
#include "blog_env.h"

#include "auth/webhook.h"
#include "pipelines/billing.h"
#include "pipelines/lifecycle.h"

#define PLANS "free:50,basic:500,pro:2000"
#define WAIT_MS 30000

struct lifecycle_env {
    struct blog_env base;
    struct queue_pool *pools[2];
};

static struct app *app_of(struct lifecycle_env *env)
{
    return env->base.app;
}

/* Starts a pool that runs only the lifecycle and billing jobs, so that the
 * blog jobs of a generation stay queued until a removal cancels them. */
static struct queue_pool *start_pool(struct lifecycle_env *env)
{
    struct queue_pool_options options = {.workers = 2, .poll_ms = 20};
    struct error err;
    struct queue_pool *pool;

    error_clear(&err);
    pool = queue_pool_new(app_of(env)->store, &options, &err);
    assert_non_null(pool);
    if (lifecycle_register_jobs(app_of(env), pool, &err) != 0 ||
        queue_pool_start(pool, &err) != 0)
        fail_msg("pool: %s", err.message);
    return pool;
}

static int setup(void **state)
{
    struct lifecycle_env *env = calloc(1, sizeof(*env));

    assert_non_null(env);
    env->base.backend = *(const enum store_backend *)*state;
    *state = env;
    return 0;
}

/* Starts the sandbox, the database, the app and one pool; skips the test
 * on PostgreSQL when no server was given. */
static struct lifecycle_env *begin(void **state)
{
    struct lifecycle_env *env = *state;
    struct error err;

    blog_env_prepare(&env->base, env->base.backend);
    blog_env_set(&env->base, "SITESMITH_PLANS", PLANS);
    error_clear(&err);
    env->base.app = app_open(env->base.cfg, &err);
    if (!env->base.app)
        fail_msg("app_open: %s", err.message);
    env->pools[0] = start_pool(env);
    return env;
}

static int teardown(void **state)
{
    struct lifecycle_env *env = *state;

    if (!env)
        return 0;
    for (int i = 0; i < 2; i++)
        queue_pool_free(env->pools[i]);
    if (env->base.cfg)
        blog_env_stop(&env->base);
    free(env);
    return 0;
}

/* A site in the sandbox (with plan, or null for free); returns its id. */
static void add_sandbox_site(struct lifecycle_env *env, const char *plan,
                             char id[128])
{
    char body[256];
    json_t *site;

    snprintf(body, sizeof(body), "{\"plan\": %s%s%s}", plan ? "\"" : "",
             plan ? plan : "null", plan ? "\"" : "");
    site = sandbox_proc_create_site(&env->base.sandbox, body);
    snprintf(id, 128, "%s",
             json_string_value(json_object_get(site, "instance_id")));
    json_decref(site);
}

/* Records an event as the webhook route does after verifying it.
 * Returns whether it was new; key receives its event key. */
static int record(struct lifecycle_env *env, const char *type,
                  const char *instance_id, const char *payload,
                  int64_t issued_ms, char key[65])
{
    struct auth_webhook event = {0};
    char seed[1024];
    struct error err;
    int fresh = -1;

    snprintf(event.event_type, sizeof(event.event_type), "%s", type);
    snprintf(event.instance_id, sizeof(event.instance_id), "%s", instance_id);
    event.issued_ms = issued_ms;
    event.payload = json_loads(payload, 0, NULL);
    assert_non_null(event.payload);
    snprintf(seed, sizeof(seed), "%s|%s|%s|%lld", type, instance_id, payload,
             (long long)issued_ms);
    crypto_sha256_hex(seed, strlen(seed), event.event_key);
    snprintf(key, 65, "%s", event.event_key);
    error_clear(&err);
    if (lifecycle_record_webhook(app_of(env), &event, &fresh, &err) != 0)
        fail_msg("record: %s", err.message);
    auth_webhook_clear(&event);
    return fresh;
}

static int64_t query_int(struct lifecycle_env *env, const char *sql,
                         const char *text)
{
    struct store_tx *tx;
    struct error err;
    int64_t value = -1;
    int found;

    tx = store_begin_read(app_of(env)->store, &err);
    assert_non_null(tx);
    found = text ? store_query_int(tx, sql, STORE_ARGS(STORE_TEXT(text)),
                                   &value, &err)
                 : store_query_int(tx, sql, NULL, 0, &value, &err);
    assert_true(found >= 0);
    store_rollback(tx);
    return found ? value : -1;
}

static char *query_text(struct lifecycle_env *env, const char *sql,
                        const char *text)
{
    struct store_tx *tx;
    struct error err;
    char *value = NULL;

    tx = store_begin_read(app_of(env)->store, &err);
    assert_non_null(tx);
    assert_true(store_query_text(tx, sql, STORE_ARGS(STORE_TEXT(text)), &value,
                                 &err) >= 0);
    store_rollback(tx);
    return value;
}

/* Waits until the event's job finished (the removal's cancellations run
 * after the event is recorded as applied); returns the event's state. */
static char *wait_handled(struct lifecycle_env *env, const char *key)
{
    int64_t deadline = clock_monotonic_ms() + WAIT_MS;
    char unique[128];

    snprintf(unique, sizeof(unique), "%s:%s", LIFECYCLE_JOB_EVENT, key);
    while (clock_monotonic_ms() < deadline) {
        char *job = query_text(
            env, "SELECT state FROM jobs WHERE unique_key = ?", unique);
        int finished = job && strcmp(job, "finished") == 0;

        free(job);
        if (finished)
            return query_text(
                env, "SELECT state FROM webhook_events WHERE event_key = ?",
                key);
        clock_sleep_ms(20);
    }
    fail_msg("event %s was never handled", key);
    return NULL;
}

/* Records and waits; fails unless the outcome is expected. */
static void deliver(struct lifecycle_env *env, const char *type,
                    const char *instance_id, const char *payload,
                    int64_t issued_ms, const char *expected)
{
    char key[65];
    char *outcome;

    assert_int_equal(record(env, type, instance_id, payload, issued_ms, key),
                     1);
    outcome = wait_handled(env, key);
    if (strcmp(outcome, expected) != 0)
        fail_msg("%s: expected %s, got %s", type, expected, outcome);
    free(outcome);
}

static int64_t credits_of(struct lifecycle_env *env, const char *instance_id)
{
    return query_int(env,
                     "SELECT available FROM credit_balances WHERE "
                     "instance_id = ?",
                     instance_id);
}

static void expect_site(struct lifecycle_env *env, const char *instance_id,
                        const char *state, const char *plan)
{
    char *value = query_text(
        env, "SELECT state FROM instances WHERE instance_id = ?", instance_id);

    assert_non_null(value);
    assert_string_equal(value, state);
    free(value);
    value = query_text(env, "SELECT plan FROM instances WHERE instance_id = ?",
                       instance_id);
    assert_string_equal(value, plan);
    free(value);
}

static void install_grants_free_credits_once(void **state)
{
    struct lifecycle_env *env = begin(state);
    int64_t now = clock_now_ms();
    char id[128];

    add_sandbox_site(env, NULL, id);
    deliver(env, "AppInstalled", id, "{\"appId\": \"" SANDBOX_PROC_APP_ID "\"}",
            now, "applied");
    expect_site(env, id, "installed", "");
    assert_int_equal(credits_of(env, id), 50);

    /* Another install event in the same period grants nothing more. */
    deliver(env, "AppInstalled", id, "{}", now + 1000, "applied");
    assert_int_equal(credits_of(env, id), 50);
    assert_int_equal(query_int(env,
                               "SELECT COUNT(*) FROM credit_ledger WHERE "
                               "instance_id = ? AND kind = 'grant'",
                               id),
                     1);
}

static void duplicate_event_is_noop(void **state)
{
    struct lifecycle_env *env = begin(state);
    int64_t now = clock_now_ms();
    char key[65];
    char again[65];
    char id[128];
    char *outcome;

    add_sandbox_site(env, "basic", id);
    assert_int_equal(record(env, "PaidPlanPurchased", id,
                            "{\"vendorProductId\": \"basic\", "
                            "\"operationTimeStamp\": "
                            "\"2026-01-01T00:00:00.000Z\"}",
                            now, key),
                     1);
    outcome = wait_handled(env, key);
    assert_string_equal(outcome, "applied");
    free(outcome);
    assert_int_equal(credits_of(env, id), 500);

    /* The same delivery again: recorded before, nothing queued. */
    assert_int_equal(record(env, "PaidPlanPurchased", id,
                            "{\"vendorProductId\": \"basic\", "
                            "\"operationTimeStamp\": "
                            "\"2026-01-01T00:00:00.000Z\"}",
                            now, again),
                     0);
    assert_string_equal(key, again);
    assert_int_equal(query_int(env,
                               "SELECT COUNT(*) FROM jobs WHERE kind = "
                               "'lifecycle.event' AND instance_id = ?",
                               id),
                     1);
    /* Re-signed with another iat: recorded, but stale by its time. */
    deliver(env, "PaidPlanPurchased", id,
            "{\"vendorProductId\": \"basic\", \"operationTimeStamp\": "
            "\"2026-01-01T00:00:00.000Z\"}",
            now + 5000, "stale");
    assert_int_equal(credits_of(env, id), 500);
}

static void plan_events_out_of_order(void **state)
{
    struct lifecycle_env *env = begin(state);
    int64_t now = clock_now_ms();
    char id[128];

    add_sandbox_site(env, "pro", id);
    deliver(env, "AppInstalled", id, "{}", now, "applied");
    assert_int_equal(credits_of(env, id), 50);

    /* The change to pro arrives before the purchase of basic. */
    deliver(env, "PaidPlanChanged", id,
            "{\"vendorProductId\": \"pro\", \"previousVendorProductId\": "
            "\"basic\", \"operationTimeStamp\": \"2026-03-02T10:00:00Z\"}",
            now, "applied");
    expect_site(env, id, "installed", "pro");
    assert_int_equal(credits_of(env, id), 2000);
    deliver(env, "PaidPlanPurchased", id,
            "{\"vendorProductId\": \"basic\", \"operationTimeStamp\": "
            "\"2026-03-01T10:00:00Z\"}",
            now, "stale");
    expect_site(env, id, "installed", "pro");
    assert_int_equal(credits_of(env, id), 2000);

    /* Cancelling auto-renewal keeps the plan for now. */
    deliver(env, "PaidPlanAutoRenewalCancelled", id,
            "{\"vendorProductId\": \"pro\", \"cancelReason\": "
            "\"USER_CANCEL\", \"operationTimeStamp\": "
            "\"2026-03-03T10:00:00Z\"}",
            now, "applied");
    expect_site(env, id, "installed", "pro");
    assert_int_equal(query_int(env,
                               "SELECT auto_renewing FROM site_lifecycle "
                               "WHERE instance_id = ?",
                               id),
                     0);
    assert_int_equal(credits_of(env, id), 2000);
}

/* Starts a blog generation for the site; its jobs stay queued. */
static void start_generation(struct lifecycle_env *env, const char *id,
                             char generation[STORE_UUID_SIZE])
{
    json_t *request = json_pack("{s:s}", "topic", "linen care");
    struct error err;

    error_clear(&err);
    if (blog_start(app_of(env), id, request, generation, &err) != 0)
        fail_msg("blog_start: %s", err.message);
    json_decref(request);
}

static void store_site_secrets(struct lifecycle_env *env, const char *id)
{
    struct store_tx *tx;
    struct error err;

    tx = store_begin(app_of(env)->store, &err);
    assert_non_null(tx);
    assert_int_equal(store_secret_put(tx, id, TOKEN_REFRESH_SECRET,
                                      "refresh-token-to-delete", &err),
                     0);
    assert_int_equal(store_token_put(tx, id, "access-token-to-delete",
                                     clock_now_ms() + 3600000, clock_now_ms(),
                                     &err),
                     0);
    assert_int_equal(store_commit(tx, &err), 0);
}

static void remove_cancels_work_keeps_ledger(void **state)
{
    struct lifecycle_env *env = begin(state);
    int64_t now = clock_now_ms();
    char generation[STORE_UUID_SIZE];
    char id[128];
    char *value;
    int64_t ledger_rows;

    add_sandbox_site(env, NULL, id);
    deliver(env, "AppInstalled", id, "{}", now, "applied");
    start_generation(env, id, generation);
    assert_true(credits_of(env, id) < 50);
    store_site_secrets(env, id);
    ledger_rows = query_int(
        env, "SELECT COUNT(*) FROM credit_ledger WHERE instance_id = ?", id);

    deliver(env, "AppRemoved", id, "{}", now + 1000, "applied");
    expect_site(env, id, "removed", "");
    value = query_text(env, "SELECT state FROM generations WHERE id = ?",
                       generation);
    assert_string_equal(value, BLOG_CANCELLED);
    free(value);
    assert_int_equal(credits_of(env, id), 50);
    assert_int_equal(query_int(env,
                               "SELECT COUNT(*) FROM jobs WHERE instance_id = "
                               "? AND state = 'queued'",
                               id),
                     0);
    assert_int_equal(query_int(env,
                               "SELECT COUNT(*) FROM instance_secrets WHERE "
                               "instance_id = ?",
                               id),
                     0);
    assert_int_equal(query_int(env,
                               "SELECT COUNT(*) FROM access_tokens WHERE "
                               "instance_id = ?",
                               id),
                     0);
    /* History and ledger stay: the release is one more row. */
    assert_int_equal(query_int(env,
                               "SELECT COUNT(*) FROM credit_ledger WHERE "
                               "instance_id = ?",
                               id),
                     ledger_rows + 1);
    assert_int_equal(query_int(env,
                               "SELECT COUNT(*) FROM generations WHERE "
                               "instance_id = ?",
                               id),
                     1);

    /* A late copy of the install, older than the removal, is stale. */
    deliver(env, "AppInstalled", id, "{\"late\": true}", now + 500, "stale");
    expect_site(env, id, "removed", "");

    /* A real reinstall in the same period: installed, no second grant. */
    deliver(env, "AppInstalled", id, "{}", now + 2000, "applied");
    expect_site(env, id, "installed", "");
    assert_int_equal(credits_of(env, id), 50);
}

/* Waits until every site has a billing_periods row for period. */
static void wait_period(struct lifecycle_env *env, const char *period,
                        int64_t sites)
{
    int64_t deadline = clock_monotonic_ms() + WAIT_MS;

    while (clock_monotonic_ms() < deadline) {
        if (query_int(env,
                      "SELECT COUNT(*) FROM billing_periods WHERE period = ?",
                      period) >= sites &&
            query_int(env,
                      "SELECT COUNT(*) FROM jobs WHERE kind = "
                      "'billing.grant' AND state IN ('queued', 'running')",
                      NULL) == 0)
            return;
        clock_sleep_ms(20);
    }
    fail_msg("grants of period %s never finished", period);
}

static int64_t grants_in(struct lifecycle_env *env, const char *id,
                         const char *period)
{
    char pattern[64];
    struct store_tx *tx;
    struct error err;
    int64_t value = -1;

    snprintf(pattern, sizeof(pattern), "plan:%s:%%", period);
    tx = store_begin_read(app_of(env)->store, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_query_int(tx,
                        "SELECT COUNT(*) FROM credit_ledger WHERE "
                        "instance_id = ? AND kind = 'grant' AND "
                        "reference LIKE ?",
                        STORE_ARGS(STORE_TEXT(id), STORE_TEXT(pattern)), &value,
                        &err),
        1);
    store_rollback(tx);
    return value;
}

/* Queues grant jobs without a unique key, as a redelivery would. */
static void queue_extra_grants(struct lifecycle_env *env, const char *id,
                               const char *period, int count)
{
    char payload[64];
    struct store_tx *tx;
    struct error err;

    snprintf(payload, sizeof(payload), "{\"period\":\"%s\"}", period);
    tx = store_begin(app_of(env)->store, &err);
    assert_non_null(tx);
    for (int i = 0; i < count; i++)
        assert_int_equal(
            queue_enqueue(tx, BILLING_JOB_GRANT, id, payload, NULL, NULL, &err),
            1);
    assert_int_equal(store_commit(tx, &err), 0);
}

static void renewal_once_per_period(void **state)
{
    struct lifecycle_env *env = begin(state);
    int64_t now = clock_now_ms();
    char next_period[BILLING_PERIOD_SIZE];
    char free_id[128];
    char pro_id[128];
    char lapsed_id[128];

    add_sandbox_site(env, NULL, free_id);
    add_sandbox_site(env, "pro", pro_id);
    add_sandbox_site(env, NULL, lapsed_id);
    deliver(env, "AppInstalled", free_id, "{}", now, "applied");
    deliver(env, "AppInstalled", pro_id, "{}", now, "applied");
    deliver(env, "PaidPlanPurchased", pro_id, "{\"vendorProductId\": \"pro\"}",
            now + 1, "applied");
    deliver(env, "AppInstalled", lapsed_id, "{}", now, "applied");
    /* Bought basic, which lapsed at Wix without an event. */
    deliver(env, "PaidPlanPurchased", lapsed_id,
            "{\"vendorProductId\": \"basic\"}", now + 1, "applied");
    assert_int_equal(credits_of(env, free_id), 50);
    assert_int_equal(credits_of(env, pro_id), 2000);
    assert_int_equal(credits_of(env, lapsed_id), 500);

    /* A second pool on the same database, then the next month. */
    env->pools[1] = start_pool(env);
    clock_fake_advance_ms(billing_next_period_ms(now) - now + 1000);
    billing_period(clock_now_ms(), next_period);
    queue_extra_grants(env, pro_id, next_period, 4);
    queue_extra_grants(env, free_id, next_period, 4);
    wait_period(env, next_period, 3);

    assert_int_equal(grants_in(env, free_id, next_period), 1);
    assert_int_equal(grants_in(env, pro_id, next_period), 1);
    assert_int_equal(grants_in(env, lapsed_id, next_period), 0);
    /* Rollover: 50 unused tops up to the cap of 2 x 50. */
    assert_int_equal(credits_of(env, free_id), 100);
    assert_int_equal(credits_of(env, pro_id), 4000);
    /* The lapsed plan is free again; 500 left is above the free cap. */
    expect_site(env, lapsed_id, "installed", "");
    assert_int_equal(credits_of(env, lapsed_id), 500);

    /* An hour later the renewal runs again and grants nothing. */
    clock_fake_advance_ms(BILLING_RENEW_INTERVAL_MS + 1000);
    clock_sleep_ms(500);
    wait_period(env, next_period, 3);
    assert_int_equal(grants_in(env, free_id, next_period), 1);
    assert_int_equal(grants_in(env, pro_id, next_period), 1);
    assert_int_equal(credits_of(env, pro_id), 4000);
}

#define BOTH(test)                                                             \
    cmocka_unit_test_prestate_setup_teardown(test, setup, teardown,            \
                                             (void *)&blog_env_sqlite),        \
        cmocka_unit_test_prestate_setup_teardown(test, setup, teardown,        \
                                                 (void *)&blog_env_postgres)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(install_grants_free_credits_once),
        BOTH(duplicate_event_is_noop),
        BOTH(plan_events_out_of_order),
        BOTH(remove_cancels_work_keeps_ledger),
        BOTH(renewal_once_per_period),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
