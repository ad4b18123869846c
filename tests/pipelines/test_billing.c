/*
 * Plans and credits: the SITESMITH_PLANS syntax, billing periods, and the
 * grant rule (once per period, upgrades add the difference, downgrades
 * take nothing, unused credits roll over up to the cap), on SQLite and on
 * PostgreSQL when SITESMITH_TEST_POSTGRES_URL is set.
 */
#include "core/clock.h"
#include "core/config.h"
#include "pipelines/app.h"
#include "pipelines/billing.h"
#include "store_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define SITE "site-billing-1"

/* 2026-12-04T00:00:00Z and the start of 2027-01. */
#define DECEMBER_MS 1796342400000LL
#define JANUARY_MS 1798761600000LL

static struct billing_config plans(const char *spec, const char *rollover)
{
    struct config *cfg = config_new_empty();
    struct billing_config billing;
    struct error err;

    config_set(cfg, "SITESMITH_PLANS", spec);
    if (rollover)
        config_set(cfg, "SITESMITH_CREDITS_ROLLOVER", rollover);
    error_clear(&err);
    if (billing_config_read(cfg, &billing, &err) != 0)
        fail_msg("billing_config_read: %s", err.message);
    config_free(cfg);
    return billing;
}

static void expect_config_error(const char *name, const char *value,
                                const char *message_part)
{
    struct config *cfg = config_new_empty();
    struct billing_config billing;
    struct error err;

    config_set(cfg, name, value);
    error_clear(&err);
    assert_int_equal(billing_config_read(cfg, &billing, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    if (!strstr(err.message, message_part))
        fail_msg("expected \"%s\" in \"%s\"", message_part, err.message);
    config_free(cfg);
}

static void plans_parse(void **state)
{
    struct billing_config billing =
        plans(" free:50, basic:500 ,pro.yearly:2000,", NULL);
    int known;

    (void)state;
    assert_int_equal(billing.count, 3);
    assert_string_equal(billing.free_plan, "free");
    assert_int_equal(billing.rollover_months, 1);
    assert_int_equal(billing_plan_credits(&billing, "", &known), 50);
    assert_true(known);
    assert_int_equal(billing_plan_credits(&billing, "basic", NULL), 500);
    assert_int_equal(billing_plan_credits(&billing, "pro.yearly", NULL), 2000);
    assert_int_equal(billing_plan_credits(&billing, "gold", &known), 0);
    assert_false(known);
    assert_string_equal(billing_plan_name(&billing, ""), "free");
    assert_string_equal(billing_plan_name(&billing, "basic"), "basic");
}

static void plans_default_empty(void **state)
{
    struct billing_config billing = plans("", NULL);

    (void)state;
    assert_int_equal(billing.count, 0);
    assert_int_equal(billing_plan_credits(&billing, "", NULL), 0);
}

static void bad_plans_rejected(void **state)
{
    (void)state;
    expect_config_error("SITESMITH_PLANS", "free", "expected name:credits");
    expect_config_error("SITESMITH_PLANS", "free:", "invalid credits");
    expect_config_error("SITESMITH_PLANS", "free:-1", "invalid credits");
    expect_config_error("SITESMITH_PLANS", "free:12x", "invalid credits");
    expect_config_error("SITESMITH_PLANS", "fr ee:5", "expected name:credits");
    expect_config_error("SITESMITH_PLANS", "free:5,free:6", "listed twice");
    expect_config_error("SITESMITH_PLANS", "free:2000000000",
                        "invalid credits");
    expect_config_error("SITESMITH_FREE_PLAN", "no plan",
                        "SITESMITH_FREE_PLAN");
    expect_config_error("SITESMITH_CREDITS_ROLLOVER", "13",
                        "SITESMITH_CREDITS_ROLLOVER");
}

static void periods_are_utc_months(void **state)
{
    char period[BILLING_PERIOD_SIZE];

    (void)state;
    billing_period(DECEMBER_MS, period);
    assert_string_equal(period, "2026-12");
    billing_period(JANUARY_MS - 1, period);
    assert_string_equal(period, "2026-12");
    billing_period(JANUARY_MS, period);
    assert_string_equal(period, "2027-01");
    assert_int_equal(billing_next_period_ms(DECEMBER_MS), JANUARY_MS);
    assert_int_equal(billing_next_period_ms(JANUARY_MS - 1), JANUARY_MS);
    assert_int_equal(billing_next_period_ms(JANUARY_MS),
                     1801440000000LL); /* 2027-02-01 */
}

/* Grants in one transaction; returns the amount granted. */
static int64_t grant(struct store_fixture *f,
                     const struct billing_config *billing, const char *plan,
                     const char *period)
{
    struct store_tx *tx;
    struct error err;
    int64_t granted = -1;

    error_clear(&err);
    tx = store_begin(f->st, &err);
    assert_non_null(tx);
    if (billing_grant_period(tx, billing, SITE, plan, period, &granted, &err) !=
        0)
        fail_msg("billing_grant_period: %s", err.message);
    assert_int_equal(store_commit(tx, &err), 0);
    return granted;
}

static int64_t available(struct store_fixture *f)
{
    struct store_credits credits;
    struct store_tx *tx;
    struct error err;

    tx = store_begin_read(f->st, &err);
    assert_non_null(tx);
    assert_int_equal(store_credits_get(tx, SITE, &credits, &err), 0);
    store_rollback(tx);
    return credits.available;
}

static int64_t count(struct store_fixture *f, const char *sql)
{
    struct store_tx *tx;
    struct error err;
    int64_t value = -1;

    tx = store_begin_read(f->st, &err);
    assert_non_null(tx);
    assert_int_equal(store_query_int(tx, sql, NULL, 0, &value, &err), 1);
    store_rollback(tx);
    return value;
}

static int setup_store(void **state)
{
    struct store_fixture *f;
    struct error err;

    if (store_fixture_setup(state) != 0)
        return -1;
    f = *state;
    if (!f->st)
        return 0;
    error_clear(&err);
    if (store_migrate(f->st, app_schemas(), NULL, &err) != 0)
        fail_msg("migrate: %s", err.message);
    return 0;
}

static void grant_once_per_period(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct billing_config billing = plans("free:50,basic:500,pro:2000", NULL);

    assert_int_equal(grant(f, &billing, "", "2026-12"), 50);
    assert_int_equal(grant(f, &billing, "", "2026-12"), 0);
    assert_int_equal(available(f), 50);

    /* An upgrade in the same period adds the difference, once. */
    assert_int_equal(grant(f, &billing, "pro", "2026-12"), 1950);
    assert_int_equal(grant(f, &billing, "pro", "2026-12"), 0);
    /* A downgrade takes nothing back and gives nothing. */
    assert_int_equal(grant(f, &billing, "basic", "2026-12"), 0);
    assert_int_equal(available(f), 2000);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM credit_ledger WHERE "
                              "kind = 'grant'"),
                     2);
    assert_int_equal(count(f, "SELECT entitled FROM billing_periods"), 2000);
}

static void rollover_capped(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct billing_config billing = plans("free:50,basic:500", NULL);

    assert_int_equal(grant(f, &billing, "basic", "2026-11"), 500);
    /* 500 unused: the next month tops up to 2 x 500. */
    assert_int_equal(grant(f, &billing, "basic", "2026-12"), 500);
    assert_int_equal(available(f), 1000);
    /* At the cap, a new month adds nothing. */
    assert_int_equal(grant(f, &billing, "basic", "2027-01"), 0);
    assert_int_equal(available(f), 1000);
    /* The period is still recorded, so an upgrade adds only the
     * difference. */
    assert_int_equal(count(f, "SELECT COUNT(*) FROM billing_periods"), 3);
}

static void no_rollover_tops_up(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct billing_config billing = plans("basic:500", "0");

    assert_int_equal(grant(f, &billing, "basic", "2026-11"), 500);
    assert_int_equal(grant(f, &billing, "basic", "2026-12"), 0);
    assert_int_equal(available(f), 500);
}

static void unknown_plan_grants_nothing(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct billing_config billing = plans("free:50", NULL);

    assert_int_equal(grant(f, &billing, "gold", "2026-12"), 0);
    assert_int_equal(available(f), 0);
    /* The free plan's grant in the same period still goes out. */
    assert_int_equal(grant(f, &billing, "", "2026-12"), 50);
}

#define BOTH(test)                                                             \
    cmocka_unit_test_prestate_setup_teardown(test, setup_store,                \
                                             store_fixture_teardown,           \
                                             (void *)&store_fixture_sqlite),   \
        cmocka_unit_test_prestate_setup_teardown(                              \
            test, setup_store, store_fixture_teardown,                         \
            (void *)&store_fixture_postgres)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plans_parse),
        cmocka_unit_test(plans_default_empty),
        cmocka_unit_test(bad_plans_rejected),
        cmocka_unit_test(periods_are_utc_months),
        BOTH(grant_once_per_period),
        BOTH(rollover_capped),
        BOTH(no_rollover_tops_up),
        BOTH(unknown_plan_grants_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
