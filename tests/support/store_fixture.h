/*
 * Fresh stores for tests, on either backend. SQLite gets a new file in a
 * new temporary folder; PostgreSQL gets a new schema in the database named
 * by SITESMITH_TEST_POSTGRES_URL (set by scripts/with-postgres), so that
 * test programs running at once don't see each other's rows.
 */
#ifndef SITESMITH_TESTS_STORE_FIXTURE_H
#define SITESMITH_TESTS_STORE_FIXTURE_H

/*
 * Header-only, because the shared test-support library does not link the
 * store: every function is static inline and only the tests that include
 * this file need the store.
 */
#include "core/crypto.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct store_fixture {
    enum store_backend backend;
    struct store *st; /* migrated, with a random secret key */
    char url[2048];   /* opens the same database and schema */
    char dir[256];    /* SQLite: the temporary folder */
    char schema[64];  /* PostgreSQL: the schema name */
    unsigned char key[CRYPTO_KEY_BYTES];
};

static const enum store_backend store_fixture_sqlite = STORE_SQLITE;
static const enum store_backend store_fixture_postgres = STORE_POSTGRES;

/* True when SITESMITH_TEST_POSTGRES_URL is set. */
static inline int store_fixture_have_postgres(void)
{
    const char *url = getenv("SITESMITH_TEST_POSTGRES_URL");

    return url && url[0];
}

/* "sqlite" or "postgres". */
static inline const char *store_fixture_backend_name(enum store_backend backend)
{
    return backend == STORE_SQLITE ? "sqlite" : "postgres";
}

/* Runs one statement on a short-lived store on the server's own URL. */
static inline int store_fixture_admin(const char *sql)
{
    struct error err;
    struct store *st;
    struct store_tx *tx;
    int rc = -1;

    error_clear(&err);
    st = store_open_with(getenv("SITESMITH_TEST_POSTGRES_URL"), 1, &err);
    tx = st ? store_begin(st, &err) : NULL;
    if (tx && store_exec(tx, sql, &err) == 0 && store_commit(tx, &err) == 0)
        rc = 0;
    else if (tx)
        store_rollback(tx);
    if (rc != 0)
        fprintf(stderr, "store_fixture: \"%s\" failed: %s\n", sql, err.message);
    store_close(st);
    return rc;
}

/* Closes the store and deletes the file or drops the schema. */
static inline void store_fixture_close(struct store_fixture *f)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char sql[128];
    char path[300];

    store_close(f->st);
    f->st = NULL;
    if (f->schema[0]) {
        snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", f->schema);
        store_fixture_admin(sql);
        f->schema[0] = '\0';
    }
    if (f->dir[0]) {
        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s/test.db%s", f->dir, suffixes[i]);
            unlink(path);
        }
        rmdir(f->dir);
        f->dir[0] = '\0';
    }
}

static inline int store_fixture_prepare(struct store_fixture *f)
{
    const char *base = getenv("SITESMITH_TEST_POSTGRES_URL");
    char sql[128];
    char hex[17];

    if (f->backend == STORE_SQLITE) {
        snprintf(f->dir, sizeof(f->dir), "/tmp/sitesmith-store.XXXXXX");
        if (!mkdtemp(f->dir)) {
            perror("store_fixture: mkdtemp");
            f->dir[0] = '\0';
            return -1;
        }
        snprintf(f->url, sizeof(f->url), "sqlite:%s/test.db", f->dir);
        return 0;
    }
    if (!store_fixture_have_postgres()) {
        fprintf(stderr, "store_fixture: SITESMITH_TEST_POSTGRES_URL is not "
                        "set; run the test under scripts/with-postgres\n");
        return -1;
    }
    crypto_random_hex(hex, 8);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA test_%s", hex);
    if (store_fixture_admin(sql) != 0)
        return -1;
    snprintf(f->schema, sizeof(f->schema), "test_%s", hex);
    snprintf(f->url, sizeof(f->url), "%s%coptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? '&' : '?', f->schema);
    return 0;
}

/*
 * Creates a fresh database on backend and opens it with pool_size
 * connections (0: 8), migrated with the store's own schema when migrate
 * is set, with a random secret key. Returns 0, or -1 with a message on
 * stderr (also for PostgreSQL without SITESMITH_TEST_POSTGRES_URL).
 */
static inline int store_fixture_open(struct store_fixture *f,
                                     enum store_backend backend, int pool_size,
                                     int migrate)
{
    struct error err;

    memset(f, 0, sizeof(*f));
    f->backend = backend;
    if (crypto_init() != 0 || store_fixture_prepare(f) != 0)
        return -1;
    error_clear(&err);
    f->st = store_open_with(f->url, pool_size > 0 ? pool_size : 8, &err);
    if (!f->st) {
        fprintf(stderr, "store_fixture: %s\n", err.message);
        store_fixture_close(f);
        return -1;
    }
    randombytes_buf(f->key, sizeof(f->key));
    store_set_secret_key(f->st, f->key);
    if (migrate && store_migrate(f->st, NULL, NULL, &err) != 0) {
        fprintf(stderr, "store_fixture: %s\n", err.message);
        store_fixture_close(f);
        return -1;
    }
    return 0;
}

/*
 * cmocka setup and teardown for a test whose prestate points at
 * store_fixture_sqlite or store_fixture_postgres: *state becomes a struct
 * store_fixture with a fresh, migrated store. Tests read it with
 * store_fixture_get(), which skips the test on PostgreSQL when no server
 * was given.
 */
static inline int store_fixture_setup(void **state)
{
    enum store_backend backend = *(const enum store_backend *)*state;
    struct store_fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    *state = f;
    f->backend = backend;
    if (backend == STORE_POSTGRES && !store_fixture_have_postgres())
        return 0;
    return store_fixture_open(f, backend, 0, 1);
}

static inline int store_fixture_teardown(void **state)
{
    struct store_fixture *f = *state;

    if (f) {
        store_fixture_close(f);
        free(f);
    }
    return 0;
}

static inline struct store_fixture *store_fixture_get(void **state)
{
    struct store_fixture *f = *state;

    if (!f->st)
        skip();
    return f;
}

/* Entries of a cmocka test table that run name on one backend. */
#define STORE_ON_SQLITE(name)                                                  \
    cmocka_unit_test_prestate_setup_teardown(name, store_fixture_setup,        \
                                             store_fixture_teardown,           \
                                             (void *)&store_fixture_sqlite),
#define STORE_ON_POSTGRES(name)                                                \
    cmocka_unit_test_prestate_setup_teardown(name, store_fixture_setup,        \
                                             store_fixture_teardown,           \
                                             (void *)&store_fixture_postgres),

/* Prints that the PostgreSQL run is skipped and how to include it. */
static inline void store_fixture_announce(void)
{
    if (!store_fixture_have_postgres())
        fprintf(stderr, "NOTE: SITESMITH_TEST_POSTGRES_URL is not set, so the "
                        "PostgreSQL tests are skipped; run this program under "
                        "scripts/with-postgres to include them.\n");
}

#endif
