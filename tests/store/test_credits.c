/*
 * Credits on both backends: grants, reserve, capture and release, each
 * applied once per generation, and concurrent reservations that would
 * overdraw the balance.
 */
#include "store/store.h"

#include "../support/store_fixture.h"

#include <pthread.h>
#include <stdatomic.h>

static __thread struct error err;

#define OK(call)                                                               \
    do {                                                                       \
        error_clear(&err);                                                     \
        if ((call) < 0)                                                        \
            fail_msg("%s failed: %s", #call, err.message);                     \
    } while (0)

static struct store_tx *begin(struct store *st)
{
    struct store_tx *tx;

    error_clear(&err);
    tx = store_begin(st, &err);
    if (!tx)
        fail_msg("store_begin failed: %s", err.message);
    return tx;
}

static struct store_credits balance(struct store *st, const char *instance)
{
    struct store_tx *tx = begin(st);
    struct store_credits credits;

    OK(store_credits_get(tx, instance, &credits, &err));
    store_rollback(tx);
    return credits;
}

static int64_t ledger_rows(struct store *st, const char *kind)
{
    struct store_tx *tx = begin(st);
    int64_t count = -1;

    assert_int_equal(store_query_int(tx,
                                     "SELECT COUNT(*) FROM credit_ledger "
                                     "WHERE kind = ?",
                                     STORE_ARGS(STORE_TEXT(kind)), &count,
                                     &err),
                     1);
    store_rollback(tx);
    return count;
}

/* Creates a generation for inst-1 and writes its id into id. */
static void new_generation(struct store *st, char id[STORE_UUID_SIZE])
{
    struct store_tx *tx = begin(st);

    OK(store_generation_create(tx, "inst-1", "blog", NULL, "QUEUED", NULL, id,
                               &err));
    OK(store_commit(tx, &err));
}

static void grant(struct store *st, int64_t amount, const char *reference)
{
    struct store_tx *tx = begin(st);

    OK(store_credits_grant(tx, "inst-1", amount, reference, "test", &err));
    OK(store_commit(tx, &err));
}

static void grant_is_once_per_reference(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_credits credits = balance(f->st, "inst-1");
    struct store_tx *tx;

    assert_int_equal(credits.available, 0);
    assert_int_equal(credits.reserved, 0);

    tx = begin(f->st);
    assert_int_equal(
        store_credits_grant(tx, "inst-1", 50, "billing-1", NULL, &err), 1);
    assert_int_equal(
        store_credits_grant(tx, "inst-1", 50, "billing-1", NULL, &err), 0);
    assert_int_equal(
        store_credits_grant(tx, "inst-1", 20, "billing-2", NULL, &err), 1);
    assert_int_equal(
        store_credits_grant(tx, "inst-2", 7, "billing-1", NULL, &err), 1);
    OK(store_commit(tx, &err));

    assert_int_equal(balance(f->st, "inst-1").available, 70);
    assert_int_equal(balance(f->st, "inst-2").available, 7);
    assert_int_equal(ledger_rows(f->st, "grant"), 3);
}

static void grant_rejects_bad_input(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);

    error_clear(&err);
    assert_int_equal(store_credits_grant(tx, "inst-1", 0, "r", NULL, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(store_credits_grant(tx, "inst-1", -5, "r", NULL, &err),
                     -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(store_credits_grant(tx, "inst-1", 5, "", NULL, &err), -1);
    assert_non_null(strstr(err.message, "reference"));
    assert_int_equal(store_credits_grant(tx, "inst-1", 5, NULL, NULL, &err),
                     -1);
    OK(store_commit(tx, &err));
    assert_int_equal(balance(f->st, "inst-1").available, 0);
}

static void reserve_then_capture(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_generation g;
    char id[STORE_UUID_SIZE];
    struct store_credits credits;
    struct store_tx *tx;

    grant(f->st, 10, "g1");
    new_generation(f->st, id);

    tx = begin(f->st);
    assert_int_equal(store_credits_reserve(tx, "inst-1", id, 4, &err), 1);
    assert_int_equal(store_credits_reserve(tx, "inst-1", id, 4, &err), 0);
    OK(store_commit(tx, &err));
    credits = balance(f->st, "inst-1");
    assert_int_equal(credits.available, 6);
    assert_int_equal(credits.reserved, 4);

    tx = begin(f->st);
    assert_int_equal(store_credits_capture(tx, id, &err), 1);
    assert_int_equal(store_credits_capture(tx, id, &err), 0);
    error_clear(&err);
    assert_int_equal(store_credits_release(tx, id, &err), -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
    store_rollback(tx);

    /* The rolled-back capture left nothing behind; capture again. */
    credits = balance(f->st, "inst-1");
    assert_int_equal(credits.reserved, 4);
    tx = begin(f->st);
    assert_int_equal(store_credits_capture(tx, id, &err), 1);
    assert_int_equal(store_generation_get(tx, id, 0, &g, &err), 1);
    OK(store_commit(tx, &err));

    credits = balance(f->st, "inst-1");
    assert_int_equal(credits.available, 6);
    assert_int_equal(credits.reserved, 0);
    assert_int_equal(g.credits_reserved, 4);
    assert_int_equal(g.credits_charged, 4);
    store_generation_clear(&g);
    assert_int_equal(ledger_rows(f->st, "capture"), 1);
}

static void reserve_then_release(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    char id[STORE_UUID_SIZE];
    struct store_credits credits;
    struct store_generation g;
    struct store_tx *tx;

    grant(f->st, 10, "g1");
    new_generation(f->st, id);
    tx = begin(f->st);
    assert_int_equal(store_credits_reserve(tx, "inst-1", id, 7, &err), 1);
    assert_int_equal(store_credits_release(tx, id, &err), 1);
    assert_int_equal(store_credits_release(tx, id, &err), 0);
    error_clear(&err);
    assert_int_equal(store_credits_capture(tx, id, &err), -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
    assert_non_null(strstr(err.message, "released"));
    store_rollback(tx);

    tx = begin(f->st);
    assert_int_equal(store_credits_reserve(tx, "inst-1", id, 7, &err), 1);
    assert_int_equal(store_credits_release(tx, id, &err), 1);
    assert_int_equal(store_generation_get(tx, id, 0, &g, &err), 1);
    OK(store_commit(tx, &err));
    credits = balance(f->st, "inst-1");
    assert_int_equal(credits.available, 10);
    assert_int_equal(credits.reserved, 0);
    assert_int_equal(g.credits_charged, 0);
    store_generation_clear(&g);

    /* A released generation can't reserve again. */
    tx = begin(f->st);
    assert_int_equal(store_credits_reserve(tx, "inst-1", id, 7, &err), 0);
    OK(store_commit(tx, &err));
    assert_int_equal(balance(f->st, "inst-1").available, 10);
}

static void reserve_insufficient_changes_nothing(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    char id[STORE_UUID_SIZE];
    struct store_credits credits;
    struct store_tx *tx;

    grant(f->st, 3, "g1");
    new_generation(f->st, id);
    tx = begin(f->st);
    error_clear(&err);
    assert_int_equal(store_credits_reserve(tx, "inst-1", id, 5, &err), -1);
    assert_int_equal(err.kind, ERR_INSUFFICIENT_CREDITS);
    assert_string_equal(err.message, "insufficient credits: balance 3, cost 5");
    assert_string_equal(err.code, "insufficient_credits");

    /* The transaction is still usable and commits nothing of the attempt. */
    OK(store_commit(tx, &err));
    credits = balance(f->st, "inst-1");
    assert_int_equal(credits.available, 3);
    assert_int_equal(credits.reserved, 0);
    assert_int_equal(ledger_rows(f->st, "reserve"), 0);

    /* An instance that never had credits, and a reservation of zero. */
    tx = begin(f->st);
    error_clear(&err);
    assert_int_equal(store_credits_reserve(tx, "inst-9", "gen-x", 1, &err), -1);
    assert_string_equal(err.message, "insufficient credits: balance 0, cost 1");
    assert_int_equal(store_credits_reserve(tx, "inst-9", "gen-y", 0, &err), 1);
    error_clear(&err);
    assert_int_equal(store_credits_reserve(tx, "inst-9", "gen-z", -1, &err),
                     -1);
    assert_int_equal(err.kind, ERR_INVALID);
    store_rollback(tx);
}

static void capture_without_reservation(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);

    error_clear(&err);
    assert_int_equal(store_credits_capture(tx, "gen-none", &err), -1);
    assert_int_equal(err.kind, ERR_CONFLICT);
    assert_non_null(strstr(err.message, "no credit reservation"));
    store_rollback(tx);

    tx = begin(f->st);
    assert_int_equal(store_credits_release(tx, "gen-none", &err), 0);
    store_rollback(tx);
}

/* ------------------------------------------------------------------ */
/* Concurrency                                                         */
/* ------------------------------------------------------------------ */

#define RACE_THREADS 8
#define RACE_ATTEMPTS 12
#define RACE_COST 3
#define RACE_GRANT 100

struct reserve_race {
    const char *url;
    unsigned char key[CRYPTO_KEY_BYTES];
    atomic_int reserved;
    atomic_int refused;
    char failure[ERROR_MESSAGE_MAX];
};

/* Reserves from its own store, as a separate process would. */
static void *reserve_worker(void *arg)
{
    struct reserve_race *race = arg;
    struct store *st;
    struct error e;

    error_clear(&e);
    st = store_open_with(race->url, 2, &e);
    if (!st) {
        snprintf(race->failure, sizeof(race->failure), "%s", e.message);
        return NULL;
    }
    for (int i = 0; i < RACE_ATTEMPTS; i++) {
        struct store_tx *tx = store_begin(st, &e);
        char id[STORE_UUID_SIZE];
        int rc;

        if (!tx)
            break;
        crypto_uuid(id);
        rc = store_credits_reserve(tx, "inst-1", id, RACE_COST, &e);
        if (rc == 1 && store_commit(tx, &e) == 0) {
            atomic_fetch_add(&race->reserved, 1);
            continue;
        }
        if (rc != 1)
            store_rollback(tx);
        if (e.kind != ERR_INSUFFICIENT_CREDITS) {
            snprintf(race->failure, sizeof(race->failure), "%s", e.message);
            break;
        }
        atomic_fetch_add(&race->refused, 1);
    }
    store_close(st);
    return NULL;
}

static void concurrent_reserves_never_overdraw(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct reserve_race race = {.url = f->url};
    pthread_t threads[RACE_THREADS];
    struct store_credits credits;

    grant(f->st, RACE_GRANT, "g1");
    for (int i = 0; i < RACE_THREADS; i++)
        assert_int_equal(
            pthread_create(&threads[i], NULL, reserve_worker, &race), 0);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(threads[i], NULL);

    /* 96 attempts of 3 credits against 100: exactly 33 fit. */
    assert_string_equal(race.failure, "");
    assert_int_equal(atomic_load(&race.reserved), RACE_GRANT / RACE_COST);
    assert_int_equal(atomic_load(&race.refused),
                     RACE_THREADS * RACE_ATTEMPTS - RACE_GRANT / RACE_COST);
    credits = balance(f->st, "inst-1");
    assert_int_equal(credits.available, RACE_GRANT % RACE_COST);
    assert_int_equal(credits.reserved, RACE_GRANT - RACE_GRANT % RACE_COST);
    assert_int_equal(ledger_rows(f->st, "reserve"), RACE_GRANT / RACE_COST);
}

struct end_race {
    struct store *st;
    const char *generation_id;
    int capture;
    atomic_int *applied;
    atomic_int *conflicts;
};

static void *end_worker(void *arg)
{
    struct end_race *race = arg;
    struct store_tx *tx;
    struct error e;
    int rc;

    error_clear(&e);
    tx = store_begin(race->st, &e);
    if (!tx)
        return NULL;
    rc = race->capture ? store_credits_capture(tx, race->generation_id, &e)
                       : store_credits_release(tx, race->generation_id, &e);
    if (rc == 1 && store_commit(tx, &e) == 0) {
        atomic_fetch_add(race->applied, 1);
        return NULL;
    }
    if (rc != 1)
        store_rollback(tx);
    if (rc < 0 && e.kind == ERR_CONFLICT)
        atomic_fetch_add(race->conflicts, 1);
    return NULL;
}

/* A capture and a release of one generation at once: exactly one wins. */
static void concurrent_capture_and_release(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    atomic_int applied = 0;
    atomic_int conflicts = 0;
    char id[STORE_UUID_SIZE];
    struct end_race races[4];
    pthread_t threads[4];
    struct store_credits credits;
    struct store_tx *tx;

    grant(f->st, 10, "g1");
    new_generation(f->st, id);
    tx = begin(f->st);
    assert_int_equal(store_credits_reserve(tx, "inst-1", id, 6, &err), 1);
    OK(store_commit(tx, &err));

    for (int i = 0; i < 4; i++) {
        races[i] = (struct end_race){.st = f->st,
                                     .generation_id = id,
                                     .capture = i % 2,
                                     .applied = &applied,
                                     .conflicts = &conflicts};
        assert_int_equal(
            pthread_create(&threads[i], NULL, end_worker, &races[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);

    assert_int_equal(atomic_load(&applied), 1);
    assert_int_equal(atomic_load(&conflicts), 2);
    credits = balance(f->st, "inst-1");
    assert_int_equal(credits.reserved, 0);
    assert_true(credits.available == 4 || credits.available == 10);
    assert_int_equal(
        ledger_rows(f->st, "capture") + ledger_rows(f->st, "release"), 1);
}

#define CREDIT_TESTS(X)                                                        \
    X(grant_is_once_per_reference)                                             \
    X(grant_rejects_bad_input)                                                 \
    X(reserve_then_capture)                                                    \
    X(reserve_then_release)                                                    \
    X(reserve_insufficient_changes_nothing)                                    \
    X(capture_without_reservation)                                             \
    X(concurrent_reserves_never_overdraw)                                      \
    X(concurrent_capture_and_release)

int main(void)
{
    const struct CMUnitTest sqlite[] = {CREDIT_TESTS(STORE_ON_SQLITE)};
    const struct CMUnitTest postgres[] = {CREDIT_TESTS(STORE_ON_POSTGRES)};
    int failed = 0;

    store_fixture_announce();
    failed +=
        cmocka_run_group_tests_name("credits on sqlite", sqlite, NULL, NULL);
    failed += cmocka_run_group_tests_name("credits on postgres", postgres, NULL,
                                          NULL);
    return failed;
}
