/*
 * The dashboard's reads on both backends: generations changed since a
 * moment, and credits charged per day and kind in a given time zone.
 */
#include "store/store.h"

#include "core/clock.h"

#include "../support/store_fixture.h"

static struct error err;

#define OK(call)                                                               \
    do {                                                                       \
        error_clear(&err);                                                     \
        if ((call) < 0)                                                        \
            fail_msg("%s failed: %s", #call, err.message);                     \
    } while (0)

#define DAY_MS (24LL * 3600 * 1000)
/* 2026-03-10T00:00:00Z, a day boundary in UTC. */
#define MIDNIGHT_MS 1773100800000LL

static struct store_tx *begin(struct store *st)
{
    struct store_tx *tx;

    error_clear(&err);
    tx = store_begin(st, &err);
    if (!tx)
        fail_msg("store_begin failed: %s", err.message);
    return tx;
}

static void create(struct store *st, const char *instance, const char *kind,
                   const char *parent, char id[STORE_UUID_SIZE])
{
    struct store_tx *tx = begin(st);

    OK(store_generation_create(tx, instance, kind, parent, "pending", NULL, id,
                               &err));
    OK(store_commit(tx, &err));
}

static void set_state(struct store *st, const char *id, const char *state)
{
    struct store_tx *tx = begin(st);

    OK(store_generation_set_state(tx, id, NULL, state, &err));
    OK(store_commit(tx, &err));
}

/* Reserves amount for a new generation of kind and captures it at now. */
static void charge(struct store *st, const char *instance, const char *kind,
                   int64_t amount)
{
    char id[STORE_UUID_SIZE];
    struct store_tx *tx;

    create(st, instance, kind, NULL, id);
    tx = begin(st);
    OK(store_credits_reserve(tx, instance, id, amount, &err));
    OK(store_credits_capture(tx, id, &err));
    OK(store_commit(tx, &err));
}

static void changes(struct store *st, int64_t since, int limit,
                    struct store_generation_change **out, size_t *count)
{
    struct store_tx *tx = begin(st);

    OK(store_generation_changes(tx, "inst-1", since, limit, out, count, &err));
    store_rollback(tx);
}

static void changes_after_moment(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_generation_change *rows;
    char job[STORE_UUID_SIZE];
    char item[STORE_UUID_SIZE];
    char other[STORE_UUID_SIZE];
    size_t count;

    clock_fake_set_ms(MIDNIGHT_MS);
    create(f->st, "inst-1", "product_job", NULL, job);
    clock_fake_advance_ms(10);
    create(f->st, "inst-1", "product", job, item);
    create(f->st, "inst-2", "blog", NULL, other);
    clock_fake_advance_ms(10);
    set_state(f->st, job, "running");

    changes(f->st, MIDNIGHT_MS - 1, 10, &rows, &count);
    assert_int_equal(count, 2);
    assert_string_equal(rows[0].id, item);
    assert_string_equal(rows[0].kind, "product");
    assert_string_equal(rows[0].parent_id, job);
    assert_string_equal(rows[0].state, "pending");
    assert_int_equal(rows[0].updated_at_ms, MIDNIGHT_MS + 10);
    assert_string_equal(rows[1].id, job);
    assert_string_equal(rows[1].parent_id, "");
    assert_string_equal(rows[1].state, "running");
    assert_int_equal(rows[1].updated_at_ms, MIDNIGHT_MS + 20);
    free(rows);

    changes(f->st, MIDNIGHT_MS + 10, 10, &rows, &count);
    assert_int_equal(count, 1);
    assert_string_equal(rows[0].id, job);
    free(rows);

    changes(f->st, MIDNIGHT_MS - 1, 1, &rows, &count);
    assert_int_equal(count, 1);
    assert_string_equal(rows[0].id, item);
    free(rows);

    changes(f->st, MIDNIGHT_MS + 20, 10, &rows, &count);
    assert_int_equal(count, 0);
    assert_null(rows);
    clock_use_system();
}

static void usage(struct store *st, int64_t since, int64_t offset,
                  struct store_credit_day **out, size_t *count)
{
    struct store_tx *tx = begin(st);

    OK(store_credits_usage(tx, "inst-1", since, offset, out, count, &err));
    store_rollback(tx);
}

static void usage_per_day_and_kind(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_credit_day *days;
    struct store_tx *tx;
    char released[STORE_UUID_SIZE];
    size_t count;

    tx = begin(f->st);
    OK(store_credits_grant(tx, "inst-1", 1000, "grant-1", NULL, &err));
    OK(store_credits_grant(tx, "inst-2", 1000, "grant-2", NULL, &err));
    OK(store_commit(tx, &err));

    /* Day 0 at 01:00 UTC, day 0 at 23:30 UTC, day 2 at 12:00 UTC. */
    clock_fake_set_ms(MIDNIGHT_MS + 3600 * 1000);
    charge(f->st, "inst-1", "blog", 10);
    charge(f->st, "inst-1", "product", 2);
    charge(f->st, "inst-2", "blog", 10);
    clock_fake_set_ms(MIDNIGHT_MS + DAY_MS - 1800 * 1000);
    charge(f->st, "inst-1", "product", 3);
    clock_fake_set_ms(MIDNIGHT_MS + 2 * DAY_MS + DAY_MS / 2);
    charge(f->st, "inst-1", "blog", 10);

    /* A released reservation is no charge. */
    create(f->st, "inst-1", "blog", NULL, released);
    tx = begin(f->st);
    OK(store_credits_reserve(tx, "inst-1", released, 10, &err));
    OK(store_credits_release(tx, released, &err));
    OK(store_commit(tx, &err));
    clock_use_system();

    usage(f->st, MIDNIGHT_MS, 0, &days, &count);
    assert_int_equal(count, 3);
    assert_int_equal(days[0].day, MIDNIGHT_MS / DAY_MS);
    assert_string_equal(days[0].kind, "blog");
    assert_int_equal(days[0].amount, 10);
    assert_int_equal(days[1].day, MIDNIGHT_MS / DAY_MS);
    assert_string_equal(days[1].kind, "product");
    assert_int_equal(days[1].amount, 5);
    assert_int_equal(days[2].day, MIDNIGHT_MS / DAY_MS + 2);
    assert_string_equal(days[2].kind, "blog");
    assert_int_equal(days[2].amount, 10);
    free(days);

    /* At UTC+2 the 23:30 charge falls on the next local day. */
    usage(f->st, MIDNIGHT_MS, 2 * 3600 * 1000, &days, &count);
    assert_int_equal(count, 4);
    assert_int_equal(days[1].day, MIDNIGHT_MS / DAY_MS);
    assert_int_equal(days[1].amount, 2);
    assert_int_equal(days[2].day, MIDNIGHT_MS / DAY_MS + 1);
    assert_string_equal(days[2].kind, "product");
    assert_int_equal(days[2].amount, 3);
    free(days);

    /* since_ms leaves out older charges. */
    usage(f->st, MIDNIGHT_MS + DAY_MS, 0, &days, &count);
    assert_int_equal(count, 1);
    assert_int_equal(days[0].amount, 10);
    free(days);
}

#define ACTIVITY_TESTS(X)                                                      \
    X(changes_after_moment)                                                    \
    X(usage_per_day_and_kind)

int main(void)
{
    const struct CMUnitTest sqlite[] = {ACTIVITY_TESTS(STORE_ON_SQLITE)};
    const struct CMUnitTest postgres[] = {ACTIVITY_TESTS(STORE_ON_POSTGRES)};
    int failed = 0;

    store_fixture_announce();
    failed +=
        cmocka_run_group_tests_name("activity on sqlite", sqlite, NULL, NULL);
    failed += cmocka_run_group_tests_name("activity on postgres", postgres,
                                          NULL, NULL);
    return failed;
}
