/*
 * The storage layer on both backends: opening, the SQL layer, transactions,
 * migrations, instances, sealed tokens and secrets, generations and the
 * effects ledger. Each test runs on SQLite and, under scripts/with-postgres,
 * on PostgreSQL.
 */
#include "store/store.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "../support/store_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct error err;

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

/* ------------------------------------------------------------------ */
/* Opening                                                             */
/* ------------------------------------------------------------------ */

static void open_rejects_bad_urls(void **state)
{
    (void)state;
    error_clear(&err);
    assert_null(store_open("mysql://localhost/db", &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "sqlite:PATH"));

    assert_null(store_open("sqlite:", &err));
    assert_int_equal(err.kind, ERR_INVALID);

    assert_null(store_open("sqlite:/nonexistent-folder/x/y.db", &err));
    assert_non_null(strstr(err.message, "/nonexistent-folder/x/y.db"));

    assert_null(store_open_with("sqlite:/tmp/x.db", 0, &err));
    assert_int_equal(err.kind, ERR_INVALID);

    assert_null(store_open("sqlite:/tmp/x.db?journal=off", &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "synchronous=normal"));
}

static void open_hides_password_in_logs(void **state)
{
    struct store_fixture *f = store_fixture_get(state);

    assert_null(strstr(store_url_for_log(f->st), "password"));
    if (f->backend == STORE_SQLITE)
        assert_string_equal(store_url_for_log(f->st), f->url);
    assert_int_equal(store_backend(f->st), f->backend);
    OK(store_ping(f->st, &err));

    if (f->backend == STORE_SQLITE) {
        char url[sizeof(f->url) + 32];
        struct store *relaxed;

        snprintf(url, sizeof(url), "%s?synchronous=normal", f->url);
        relaxed = store_open(url, &err);
        assert_non_null(relaxed);
        OK(store_ping(relaxed, &err));
        store_close(relaxed);
    }
}

/* ------------------------------------------------------------------ */
/* The SQL layer                                                       */
/* ------------------------------------------------------------------ */

static void sql_binds_and_reads_values(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    struct store_stmt *stmt;
    int64_t changes = 0;

    OK(store_exec(tx, "CREATE TABLE things (id BIGINT, name TEXT, note TEXT)",
                  &err));
    OK(store_run(tx, "INSERT INTO things VALUES (?, ?, ?), (?, ?, ?)",
                 STORE_ARGS(STORE_INT(1), STORE_TEXT("it's one?"), STORE_NULL,
                            STORE_INT(INT64_C(9007199254740993)),
                            STORE_TEXT("two"), STORE_TEXT(NULL)),
                 &changes, &err));
    assert_int_equal(changes, 2);

    /* A "?" inside a quoted literal is not a parameter. */
    stmt = store_query(tx,
                       "SELECT id, name, note, '?' FROM things WHERE id >= ? "
                       "ORDER BY id",
                       STORE_ARGS(STORE_INT(1)), &err);
    assert_non_null(stmt);
    assert_int_equal(store_step(stmt, &err), 1);
    assert_int_equal(store_column_int(stmt, 0), 1);
    assert_string_equal(store_column_text(stmt, 1), "it's one?");
    assert_true(store_column_is_null(stmt, 2));
    assert_null(store_column_text(stmt, 2));
    assert_string_equal(store_column_text(stmt, 3), "?");
    assert_int_equal(store_step(stmt, &err), 1);
    assert_int_equal(store_column_int(stmt, 0), INT64_C(9007199254740993));
    assert_true(store_column_is_null(stmt, 2));
    assert_int_equal(store_step(stmt, &err), 0);
    assert_int_equal(store_step(stmt, &err), 0);
    store_finalize(stmt);
    OK(store_commit(tx, &err));
}

static void sql_one_value_queries(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    int64_t number = -7;
    char *text = NULL;

    OK(store_exec(tx, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)", &err));
    OK(store_run(tx, "INSERT INTO kv VALUES (?, ?), (?, ?)",
                 STORE_ARGS(STORE_TEXT("a"), STORE_TEXT("alpha"),
                            STORE_TEXT("n"), STORE_NULL),
                 NULL, &err));
    assert_int_equal(store_query_int(tx, "SELECT COUNT(*) FROM kv",
                                     STORE_NO_ARGS, &number, &err),
                     1);
    assert_int_equal(number, 2);
    assert_int_equal(store_query_text(tx, "SELECT v FROM kv WHERE k = ?",
                                      STORE_ARGS(STORE_TEXT("a")), &text, &err),
                     1);
    assert_string_equal(text, "alpha");
    free(text);
    text = (char *)"untouched";
    assert_int_equal(store_query_text(tx, "SELECT v FROM kv WHERE k = ?",
                                      STORE_ARGS(STORE_TEXT("zz")), &text,
                                      &err),
                     0);
    assert_string_equal(text, "untouched");
    assert_int_equal(store_query_text(tx, "SELECT v FROM kv WHERE k = ?",
                                      STORE_ARGS(STORE_TEXT("n")), &text, &err),
                     1);
    assert_null(text);
    store_rollback(tx);
}

static void sql_wrong_parameter_count(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    int64_t value = 0;

    error_clear(&err);
    assert_int_equal(
        store_query_int(tx, "SELECT CAST(? AS BIGINT) + CAST(? AS BIGINT)",
                        STORE_ARGS(STORE_INT(1)), &value, &err),
        -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "2 parameters but 1"));
    store_rollback(tx);
}

static void sql_unique_violation_is_conflict(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);

    OK(store_exec(tx, "CREATE TABLE u (k TEXT PRIMARY KEY)", &err));
    OK(store_run(tx, "INSERT INTO u VALUES (?)", STORE_ARGS(STORE_TEXT("x")),
                 NULL, &err));
    error_clear(&err);
    assert_int_equal(store_run(tx, "INSERT INTO u VALUES (?)",
                               STORE_ARGS(STORE_TEXT("x")), NULL, &err),
                     -1);
    assert_int_equal(err.kind, ERR_CONFLICT);

    /* After a failed statement the transaction can only be rolled back,
     * on both backends alike. */
    error_clear(&err);
    assert_int_equal(store_run(tx, "INSERT INTO u VALUES (?)",
                               STORE_ARGS(STORE_TEXT("y")), NULL, &err),
                     -1);
    assert_int_equal(store_commit(tx, &err), -1);
    assert_non_null(strstr(err.message, "rolled back"));
}

static void tx_rollback_discards_writes(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    int64_t count = -1;

    OK(store_exec(tx, "CREATE TABLE r (v BIGINT)", &err));
    OK(store_commit(tx, &err));

    tx = begin(f->st);
    OK(store_run(tx, "INSERT INTO r VALUES (?)", STORE_ARGS(STORE_INT(5)), NULL,
                 &err));
    store_rollback(tx);

    tx = begin(f->st);
    assert_int_equal(store_query_int(tx, "SELECT COUNT(*) FROM r",
                                     STORE_NO_ARGS, &count, &err),
                     1);
    assert_int_equal(count, 0);
    store_rollback(tx);
}

static void tx_statement_cache_survives_reuse(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    struct store_stmt *outer;
    int64_t total = 0;

    OK(store_exec(tx, "CREATE TABLE c (v BIGINT)", &err));
    for (int i = 1; i <= 100; i++)
        OK(store_run(tx, "INSERT INTO c VALUES (?)", STORE_ARGS(STORE_INT(i)),
                     NULL, &err));

    /* The same SQL open twice at once must not share one statement. */
    outer = store_query(tx, "SELECT v FROM c WHERE v <= ? ORDER BY v",
                        STORE_ARGS(STORE_INT(3)), &err);
    assert_non_null(outer);
    while (store_step(outer, &err) == 1) {
        int64_t inner = 0;

        assert_int_equal(
            store_query_int(tx, "SELECT v FROM c WHERE v <= ? ORDER BY v",
                            STORE_ARGS(STORE_INT(100)), &inner, &err),
            1);
        assert_int_equal(inner, 1);
        total += store_column_int(outer, 0);
    }
    store_finalize(outer);
    assert_int_equal(total, 6);

    /* More distinct statements than the cache holds. */
    for (int i = 0; i < 200; i++) {
        char sql[64];
        int64_t value = 0;

        snprintf(sql, sizeof(sql), "SELECT v + %d FROM c WHERE v = ?", i);
        assert_int_equal(
            store_query_int(tx, sql, STORE_ARGS(STORE_INT(1)), &value, &err),
            1);
        assert_int_equal(value, 1 + i);
    }
    store_rollback(tx);
}

static void tx_read_only_sees_committed(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    int64_t value = 0;

    OK(store_exec(tx, "CREATE TABLE ro (v BIGINT)", &err));
    OK(store_run(tx, "INSERT INTO ro VALUES (?)", STORE_ARGS(STORE_INT(42)),
                 NULL, &err));
    OK(store_commit(tx, &err));

    tx = store_begin_read(f->st, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_query_int(tx, "SELECT v FROM ro", STORE_NO_ARGS, &value, &err),
        1);
    assert_int_equal(value, 42);
    assert_string_equal(store_for_update(tx),
                        f->backend == STORE_POSTGRES ? " FOR UPDATE" : "");
    store_rollback(tx);
}

/* Waits until the store's listener has connected (PostgreSQL). */
static void wait_for_listener(struct store *st)
{
    if (store_backend(st) != STORE_POSTGRES)
        return;
    assert_int_equal(store_wait_wakeup(st, 0, 5000), 1);
}

static void notify_wakes_waiters_after_commit(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx;
    uint64_t seen;

    OK(store_listen(f->st, "test_channel", &err));
    error_clear(&err);
    assert_int_equal(store_listen(f->st, "Bad-Channel", &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    wait_for_listener(f->st);
    seen = store_wakeup_count(f->st);

    tx = begin(f->st);
    OK(store_notify(tx, "test_channel", &err));
    store_rollback(tx);
    assert_int_equal(store_wait_wakeup(f->st, seen, 100), 0);

    tx = begin(f->st);
    OK(store_notify(tx, "test_channel", &err));
    OK(store_notify(tx, "test_channel", &err));
    OK(store_commit(tx, &err));
    assert_int_equal(store_wait_wakeup(f->st, seen, 1000), 1);
    assert_true(store_wakeup_count(f->st) > seen);
}

/* A second store stands for another process: it hears commits of the first
 * through LISTEN/NOTIFY on PostgreSQL, and only by polling on SQLite. */
static void notify_reaches_other_stores(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store *other;
    struct store_tx *tx;
    uint64_t seen;

    error_clear(&err);
    other = store_open(f->url, &err);
    assert_non_null(other);
    OK(store_listen(other, "test_channel", &err));
    wait_for_listener(other);
    seen = store_wakeup_count(other);

    tx = begin(f->st);
    OK(store_notify(tx, "test_channel", &err));
    store_rollback(tx);
    assert_int_equal(store_wait_wakeup(other, seen, 100), 0);

    tx = begin(f->st);
    OK(store_notify(tx, "test_channel", &err));
    OK(store_commit(tx, &err));
    assert_int_equal(store_wait_wakeup(other, seen, 2000),
                     f->backend == STORE_POSTGRES);

    /* Waiters wake at once on request (shutdown). */
    seen = store_wakeup_count(other);
    store_wakeup_all(other);
    assert_int_equal(store_wait_wakeup(other, seen, 0), 1);
    store_close(other);
}

/* ------------------------------------------------------------------ */
/* Migrations                                                          */
/* ------------------------------------------------------------------ */

static const struct store_migration widget_migrations[] = {
    {.version = 1,
     .name = "widgets",
     .sql = "CREATE TABLE widgets (id TEXT PRIMARY KEY)"},
    {.version = 2,
     .name = "widget sizes",
     .sqlite = "ALTER TABLE widgets ADD COLUMN size INTEGER",
     .postgres = "ALTER TABLE widgets ADD COLUMN size BIGINT"},
};
static const struct store_schema widget_schema = {
    .component = "widgets",
    .migrations = widget_migrations,
    .count = 2,
};

static void migrate_is_idempotent(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    const struct store_schema *const schemas[] = {&widget_schema, NULL};
    int applied = -1;
    int version = -1;

    /* The fixture already applied the store's own schema. */
    OK(store_migrate(f->st, NULL, &applied, &err));
    assert_int_equal(applied, 0);
    OK(store_schema_version(f->st, "store", &version, &err));
    assert_int_equal(version, store_latest_version());

    OK(store_migrate(f->st, schemas, &applied, &err));
    assert_int_equal(applied, 2);
    OK(store_schema_version(f->st, "widgets", &version, &err));
    assert_int_equal(version, 2);
    OK(store_migrate(f->st, schemas, &applied, &err));
    assert_int_equal(applied, 0);

    struct store_tx *tx = begin(f->st);
    OK(store_run(tx, "INSERT INTO widgets (id, size) VALUES (?, ?)",
                 STORE_ARGS(STORE_TEXT("w"), STORE_INT(3)), NULL, &err));
    OK(store_commit(tx, &err));
}

static void migrate_fresh_database(void **state)
{
    struct store_fixture *f = *state;
    struct store_fixture fresh;
    int version = -1;
    int applied = 0;

    if (f->backend == STORE_POSTGRES && !store_fixture_have_postgres())
        skip();
    assert_int_equal(store_fixture_open(&fresh, f->backend, 2, 0), 0);
    OK(store_schema_version(fresh.st, "store", &version, &err));
    assert_int_equal(version, 0);
    OK(store_migrate(fresh.st, NULL, &applied, &err));
    assert_int_equal(applied, store_latest_version());
    OK(store_schema_version(fresh.st, "store", &version, &err));
    assert_int_equal(version, store_latest_version());
    store_fixture_close(&fresh);
}

static void migrate_rejects_newer_schema(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    const struct store_schema *const schemas[] = {&widget_schema, NULL};
    struct store_tx *tx = begin(f->st);
    int version = 0;

    /* A newer sitesmith recorded version 3 of "widgets". */
    OK(store_run(tx,
                 "INSERT INTO schema_migrations (component, version, name, "
                 "applied_at) VALUES ('widgets', 3, 'future', 0)",
                 STORE_NO_ARGS, NULL, &err));
    OK(store_commit(tx, &err));

    error_clear(&err);
    assert_int_equal(store_migrate(f->st, schemas, NULL, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_non_null(strstr(err.message, "widgets"));
    assert_non_null(strstr(err.message, "version 3"));
    assert_non_null(strstr(err.message, "newer sitesmith"));

    /* Nothing of the refused run was applied. */
    tx = begin(f->st);
    error_clear(&err);
    assert_int_equal(
        store_run(tx, "SELECT id FROM widgets", STORE_NO_ARGS, NULL, &err), -1);
    store_rollback(tx);
    OK(store_schema_version(f->st, "widgets", &version, &err));
    assert_int_equal(version, 3);
}

static void migrate_failure_changes_nothing(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    static const struct store_migration broken[] = {
        {.version = 1, .name = "ok", .sql = "CREATE TABLE gadgets (id TEXT)"},
        {.version = 2,
         .name = "broken",
         .sql = "ALTER TABLE nothing_here "
                "ADD COLUMN x TEXT"},
    };
    static const struct store_schema broken_schema = {"gadgets", broken, 2};
    const struct store_schema *const schemas[] = {&broken_schema, NULL};
    int version = -1;

    error_clear(&err);
    assert_int_equal(store_migrate(f->st, schemas, NULL, &err), -1);
    assert_non_null(strstr(err.message, "gadgets 2 (broken)"));
    OK(store_schema_version(f->st, "gadgets", &version, &err));
    assert_int_equal(version, 0);
}

static void migrate_rejects_gaps_in_versions(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    static const struct store_migration gap[] = {
        {.version = 1, .name = "one", .sql = "SELECT 1"},
        {.version = 3, .name = "three", .sql = "SELECT 1"},
    };
    static const struct store_schema gap_schema = {"gappy", gap, 2};
    const struct store_schema *const schemas[] = {&gap_schema, NULL};

    error_clear(&err);
    assert_int_equal(store_migrate(f->st, schemas, NULL, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "count up from 1"));
}

/* ------------------------------------------------------------------ */
/* Instances, tokens and secrets                                       */
/* ------------------------------------------------------------------ */

static void instance_put_and_get(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    struct store_instance inst;

    clock_fake_set_ms(1000000);
    OK(store_instance_put(tx, "inst-1", "installed", "pro", NULL, &err));
    assert_int_equal(store_instance_get(tx, "inst-1", &inst, &err), 1);
    assert_string_equal(inst.state, "installed");
    assert_string_equal(inst.plan, "pro");
    assert_string_equal(inst.settings, "{}");
    assert_int_equal(inst.created_at_ms, 1000000);
    store_instance_clear(&inst);

    clock_fake_advance_ms(500);
    OK(store_instance_set_settings(tx, "inst-1", "{\"siteName\":\"Bakery\"}",
                                   &err));
    OK(store_instance_put(tx, "inst-1", "removed", NULL, NULL, &err));
    assert_int_equal(store_instance_get(tx, "inst-1", &inst, &err), 1);
    assert_string_equal(inst.state, "removed");
    assert_string_equal(inst.plan, "");
    assert_string_equal(inst.settings, "{\"siteName\":\"Bakery\"}");
    assert_int_equal(inst.created_at_ms, 1000000);
    assert_int_equal(inst.updated_at_ms, 1000500);
    store_instance_clear(&inst);

    assert_int_equal(store_instance_get(tx, "nope", &inst, &err), 0);
    error_clear(&err);
    assert_int_equal(store_instance_set_settings(tx, "nope", "{}", &err), -1);
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    error_clear(&err);
    assert_int_equal(
        store_instance_put(tx, "inst-2", "paused", NULL, NULL, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    OK(store_commit(tx, &err));
    clock_use_system();
}

static void token_is_sealed_at_rest(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    const char *secret = "OAUTH2.eyJraWQiOiJzZWNyZXQtdG9rZW4ifQ";
    char *raw = NULL;
    char *token = NULL;
    int64_t expires = 0;
    int64_t obtained = 0;

    OK(store_token_put(tx, "inst-1", secret, 2000, 1000, &err));
    assert_int_equal(store_query_text(tx,
                                      "SELECT sealed_token FROM "
                                      "access_tokens WHERE instance_id = ?",
                                      STORE_ARGS(STORE_TEXT("inst-1")), &raw,
                                      &err),
                     1);
    assert_null(strstr(raw, "OAUTH2"));
    assert_int_equal(strncmp(raw, "v1.", 3), 0);
    free(raw);

    assert_int_equal(
        store_token_get(tx, "inst-1", &token, &expires, &obtained, &err), 1);
    assert_string_equal(token, secret);
    assert_int_equal(expires, 2000);
    assert_int_equal(obtained, 1000);
    free(token);

    /* A second put replaces the first. */
    OK(store_token_put(tx, "inst-1", "second-token", 5000, 4000, &err));
    assert_int_equal(
        store_token_get(tx, "inst-1", &token, &expires, NULL, &err), 1);
    assert_string_equal(token, "second-token");
    assert_int_equal(expires, 5000);
    free(token);

    OK(store_token_delete(tx, "inst-1", &err));
    assert_int_equal(store_token_get(tx, "inst-1", &token, NULL, NULL, &err),
                     0);
    OK(store_commit(tx, &err));
}

static void secret_needs_the_right_key(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    unsigned char other_key[CRYPTO_KEY_BYTES];
    char *value = NULL;

    OK(store_secret_put(tx, "inst-1", "refresh_token", "rt-1234567890", &err));
    OK(store_secret_put(tx, "inst-1", "other", "o-1234567890", &err));
    assert_int_equal(
        store_secret_get(tx, "inst-1", "refresh_token", &value, &err), 1);
    assert_string_equal(value, "rt-1234567890");
    free(value);
    assert_int_equal(
        store_secret_get(tx, "inst-2", "refresh_token", &value, &err), 0);
    OK(store_commit(tx, &err));

    /* The same rows under another key don't open. */
    memset(other_key, 7, sizeof(other_key));
    store_set_secret_key(f->st, other_key);
    tx = begin(f->st);
    error_clear(&err);
    assert_int_equal(
        store_secret_get(tx, "inst-1", "refresh_token", &value, &err), -1);
    assert_non_null(strstr(err.message, "SITESMITH_SECRET_KEY"));
    store_rollback(tx);
    store_set_secret_key(f->st, f->key);

    tx = begin(f->st);
    OK(store_secret_delete(tx, "inst-1", "other", &err));
    assert_int_equal(store_secret_get(tx, "inst-1", "other", &value, &err), 0);
    OK(store_secret_delete(tx, "inst-1", NULL, &err));
    assert_int_equal(
        store_secret_get(tx, "inst-1", "refresh_token", &value, &err), 0);
    OK(store_commit(tx, &err));
}

static void secret_without_key_fails(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store *bare;
    struct store_tx *tx;

    error_clear(&err);
    bare = store_open(f->url, &err);
    assert_non_null(bare);
    tx = begin(bare);
    error_clear(&err);
    assert_int_equal(store_token_put(tx, "i", "token-value", 1, 1, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "SITESMITH_SECRET_KEY is not set"));
    store_rollback(tx);
    store_close(bare);
}

/* ------------------------------------------------------------------ */
/* Generations                                                         */
/* ------------------------------------------------------------------ */

static void generation_create_and_read(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    struct store_generation g;
    char id[STORE_UUID_SIZE];
    char child[STORE_UUID_SIZE];

    OK(store_generation_create(tx, "inst-1", "blog", NULL, "QUEUED",
                               "{\"idea\":\"Sourdough\"}", id, &err));
    assert_int_equal(strlen(id), 36);
    OK(store_generation_create(tx, "inst-1", "product", id, "QUEUED", NULL,
                               child, &err));

    assert_int_equal(store_generation_get(tx, id, 1, &g, &err), 1);
    assert_string_equal(g.id, id);
    assert_string_equal(g.instance_id, "inst-1");
    assert_string_equal(g.kind, "blog");
    assert_string_equal(g.parent_id, "");
    assert_string_equal(g.state, "QUEUED");
    assert_string_equal(g.input, "{\"idea\":\"Sourdough\"}");
    assert_string_equal(g.checkpoints, "{}");
    assert_null(g.result);
    assert_string_equal(g.wix_ids, "{}");
    assert_null(g.error_message);
    store_generation_clear(&g);

    assert_int_equal(store_generation_get(tx, child, 0, &g, &err), 1);
    assert_string_equal(g.parent_id, id);
    assert_string_equal(g.input, "{}");
    store_generation_clear(&g);

    assert_int_equal(store_generation_get(tx, "missing", 0, &g, &err), 0);
    error_clear(&err);
    assert_int_equal(store_generation_create(tx, "inst-1", "blog", NULL,
                                             "QUEUED", "{oops", id, &err),
                     -1);
    assert_int_equal(err.kind, ERR_INVALID);
    store_rollback(tx);
}

static void generation_state_and_checkpoints(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    struct store_generation g;
    char id[STORE_UUID_SIZE];
    char *output = NULL;
    struct error cause;

    OK(store_generation_create(tx, "inst-1", "blog", NULL, "QUEUED", NULL, id,
                               &err));
    assert_int_equal(
        store_generation_set_state(tx, id, "QUEUED", "WRITING", &err), 1);
    assert_int_equal(
        store_generation_set_state(tx, id, "QUEUED", "IMAGING", &err), 0);
    assert_int_equal(store_generation_set_state(tx, id, NULL, "IMAGING", &err),
                     1);
    error_clear(&err);
    assert_int_equal(store_generation_set_state(tx, "missing", NULL, "X", &err),
                     -1);
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    store_rollback(tx);

    tx = begin(f->st);
    OK(store_generation_create(tx, "inst-1", "blog", NULL, "QUEUED", NULL, id,
                               &err));
    assert_int_equal(
        store_generation_get_checkpoint(tx, id, "write", &output, &err), 0);
    OK(store_generation_checkpoint(
        tx, id, "write", "{\"title\":\"Bread\",\"tokens\":812}", &err));
    OK(store_generation_checkpoint(tx, id, "image", "\"https://x/y.png\"",
                                   &err));
    OK(store_generation_checkpoint(tx, id, "write", "{\"title\":\"Rye\"}",
                                   &err));
    assert_int_equal(
        store_generation_get_checkpoint(tx, id, "write", &output, &err), 1);
    assert_string_equal(output, "{\"title\":\"Rye\"}");
    free(output);
    assert_int_equal(
        store_generation_get_checkpoint(tx, id, "image", &output, &err), 1);
    assert_string_equal(output, "\"https://x/y.png\"");
    free(output);
    error_clear(&err);
    assert_int_equal(
        store_generation_checkpoint(tx, id, "bad", "not json", &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    store_rollback(tx);

    tx = begin(f->st);
    OK(store_generation_create(tx, "inst-1", "blog", NULL, "QUEUED", NULL, id,
                               &err));
    OK(store_generation_set_wix_id(tx, id, "draftPostId", "post-\"1\"", &err));
    OK(store_generation_set_wix_id(tx, id, "mediaId", "m-2", &err));
    OK(store_generation_set_result(tx, id, "{\"url\":\"/p\"}", &err));
    error_clear(&cause);
    error_set(&cause, ERR_UNAUTHORIZED, "token rejected twice");
    OK(store_generation_set_error(tx, id, &cause, &err));
    assert_int_equal(store_generation_get(tx, id, 0, &g, &err), 1);
    assert_string_equal(g.wix_ids,
                        "{\"draftPostId\":\"post-\\\"1\\\"\",\"mediaId\":"
                        "\"m-2\"}");
    assert_string_equal(g.result, "{\"url\":\"/p\"}");
    assert_string_equal(g.error_kind, "unauthorized");
    assert_string_equal(g.error_message, "token rejected twice");
    store_generation_clear(&g);
    OK(store_generation_set_error(tx, id, NULL, &err));
    assert_int_equal(store_generation_get(tx, id, 0, &g, &err), 1);
    assert_string_equal(g.error_kind, "");
    assert_null(g.error_message);
    store_generation_clear(&g);
    OK(store_commit(tx, &err));
}

static void generation_list_filters(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    struct store_generation *list = NULL;
    char parent[STORE_UUID_SIZE];
    char id[STORE_UUID_SIZE];
    size_t count = 0;

    clock_fake_set_ms(5000);
    OK(store_generation_create(tx, "inst-1", "product", NULL, "RUNNING", NULL,
                               parent, &err));
    for (int i = 0; i < 3; i++) {
        clock_fake_advance_ms(10);
        OK(store_generation_create(tx, "inst-1", "product", parent, "QUEUED",
                                   NULL, id, &err));
    }
    clock_fake_advance_ms(10);
    OK(store_generation_create(tx, "inst-1", "blog", NULL, "QUEUED", NULL, id,
                               &err));
    OK(store_generation_create(tx, "inst-2", "blog", NULL, "QUEUED", NULL, id,
                               &err));
    clock_use_system();

    OK(store_generation_list(tx, "inst-1", NULL, NULL, 0, 0, &list, &count,
                             &err));
    assert_int_equal(count, 5);
    assert_string_equal(list[0].kind, "blog");
    store_generation_list_free(list, count);

    OK(store_generation_list(tx, "inst-1", "product", parent, 2, 0, &list,
                             &count, &err));
    assert_int_equal(count, 2);
    assert_string_equal(list[0].parent_id, parent);
    assert_true(list[0].created_at_ms > list[1].created_at_ms);
    store_generation_list_free(list, count);

    OK(store_generation_list(tx, "inst-1", "product", parent, 10, 2, &list,
                             &count, &err));
    assert_int_equal(count, 1);
    store_generation_list_free(list, count);

    OK(store_generation_list(tx, "inst-3", NULL, NULL, 0, 0, &list, &count,
                             &err));
    assert_int_equal(count, 0);
    store_generation_list_free(list, count);
    store_rollback(tx);
}

/* ------------------------------------------------------------------ */
/* Effects                                                             */
/* ------------------------------------------------------------------ */

static void effect_begin_done_and_retry(void **state)
{
    struct store_fixture *f = store_fixture_get(state);
    struct store_tx *tx = begin(f->st);
    struct store_effect effect;
    const char *key = "gen/abc/draft-post";

    assert_int_equal(store_effect_get(tx, key, &effect, &err), 0);
    assert_int_equal(
        store_effect_begin(tx, key, "inst-1", "abc", &effect, &err), 1);
    assert_int_equal(effect.attempts, 1);
    assert_null(effect.remote_id);
    assert_string_equal(effect.generation_id, "abc");
    store_effect_clear(&effect);
    OK(store_commit(tx, &err));

    /* The worker died after the remote call: the next attempt finds an
     * effect begun but not done, and must look before creating. */
    tx = begin(f->st);
    assert_int_equal(
        store_effect_begin(tx, key, "inst-1", "abc", &effect, &err), 0);
    assert_int_equal(effect.attempts, 2);
    assert_null(effect.remote_id);
    store_effect_clear(&effect);
    OK(store_effect_done(tx, key, "post-77", &err));
    OK(store_commit(tx, &err));

    tx = begin(f->st);
    assert_int_equal(
        store_effect_begin(tx, key, "inst-1", "abc", &effect, &err), 0);
    assert_string_equal(effect.remote_id, "post-77");
    assert_int_equal(effect.attempts, 2);
    store_effect_clear(&effect);
    assert_int_equal(store_effect_get(tx, key, &effect, &err), 1);
    assert_string_equal(effect.remote_id, "post-77");
    store_effect_clear(&effect);
    error_clear(&err);
    assert_int_equal(store_effect_done(tx, "never-begun", "x", &err), -1);
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    store_rollback(tx);
}

/* Every test above, run once per backend. */
#define BACKEND_TESTS(X)                                                       \
    X(open_hides_password_in_logs)                                             \
    X(sql_binds_and_reads_values)                                              \
    X(sql_one_value_queries)                                                   \
    X(sql_wrong_parameter_count)                                               \
    X(sql_unique_violation_is_conflict)                                        \
    X(tx_rollback_discards_writes)                                             \
    X(tx_statement_cache_survives_reuse)                                       \
    X(tx_read_only_sees_committed)                                             \
    X(notify_wakes_waiters_after_commit)                                       \
    X(notify_reaches_other_stores)                                             \
    X(migrate_is_idempotent)                                                   \
    X(migrate_fresh_database)                                                  \
    X(migrate_rejects_newer_schema)                                            \
    X(migrate_failure_changes_nothing)                                         \
    X(migrate_rejects_gaps_in_versions)                                        \
    X(instance_put_and_get)                                                    \
    X(token_is_sealed_at_rest)                                                 \
    X(secret_needs_the_right_key)                                              \
    X(secret_without_key_fails)                                                \
    X(generation_create_and_read)                                              \
    X(generation_state_and_checkpoints)                                        \
    X(generation_list_filters)                                                 \
    X(effect_begin_done_and_retry)

int main(void)
{
    const struct CMUnitTest common[] = {
        cmocka_unit_test(open_rejects_bad_urls),
    };
    const struct CMUnitTest sqlite[] = {BACKEND_TESTS(STORE_ON_SQLITE)};
    const struct CMUnitTest postgres[] = {BACKEND_TESTS(STORE_ON_POSTGRES)};
    int failed = 0;

    store_fixture_announce();
    failed += cmocka_run_group_tests_name("store", common, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("store on sqlite", sqlite, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("store on postgres", postgres, NULL, NULL);
    return failed;
}
