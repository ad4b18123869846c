/*
 * Versioned migrations, tracked per component in schema_migrations, and
 * the store's own schema.
 */
#include "store/store_internal.h"

#include "core/clock.h"
#include "core/log.h"

#include <string.h>

/* Tables whose SQL is the same on both backends. */
#define COMMON_TABLES                                                          \
    "CREATE TABLE instances ("                                                 \
    " instance_id TEXT PRIMARY KEY,"                                           \
    " state TEXT NOT NULL CHECK (state IN ('installed', 'removed')),"          \
    " plan TEXT NOT NULL DEFAULT '',"                                          \
    " settings TEXT NOT NULL DEFAULT '{}',"                                    \
    " created_at BIGINT NOT NULL,"                                             \
    " updated_at BIGINT NOT NULL);"                                            \
    "CREATE TABLE access_tokens ("                                             \
    " instance_id TEXT PRIMARY KEY,"                                           \
    " sealed_token TEXT NOT NULL,"                                             \
    " expires_at BIGINT NOT NULL,"                                             \
    " obtained_at BIGINT NOT NULL);"                                           \
    "CREATE TABLE instance_secrets ("                                          \
    " instance_id TEXT NOT NULL,"                                              \
    " name TEXT NOT NULL,"                                                     \
    " sealed_value TEXT NOT NULL,"                                             \
    " updated_at BIGINT NOT NULL,"                                             \
    " PRIMARY KEY (instance_id, name));"                                       \
    "CREATE TABLE generations ("                                               \
    " id TEXT PRIMARY KEY,"                                                    \
    " instance_id TEXT NOT NULL,"                                              \
    " kind TEXT NOT NULL,"                                                     \
    " parent_id TEXT,"                                                         \
    " state TEXT NOT NULL,"                                                    \
    " input TEXT NOT NULL DEFAULT '{}',"                                       \
    " checkpoints TEXT NOT NULL DEFAULT '{}',"                                 \
    " result TEXT,"                                                            \
    " wix_ids TEXT NOT NULL DEFAULT '{}',"                                     \
    " credits_reserved BIGINT NOT NULL DEFAULT 0,"                             \
    " credits_charged BIGINT NOT NULL DEFAULT 0,"                              \
    " error_kind TEXT NOT NULL DEFAULT '',"                                    \
    " error_message TEXT,"                                                     \
    " created_at BIGINT NOT NULL,"                                             \
    " updated_at BIGINT NOT NULL);"                                            \
    "CREATE INDEX generations_by_instance"                                     \
    " ON generations (instance_id, created_at);"                               \
    "CREATE INDEX generations_by_parent ON generations (parent_id);"           \
    "CREATE TABLE credit_balances ("                                           \
    " instance_id TEXT PRIMARY KEY,"                                           \
    " available BIGINT NOT NULL CHECK (available >= 0),"                       \
    " reserved BIGINT NOT NULL CHECK (reserved >= 0),"                         \
    " updated_at BIGINT NOT NULL);"                                            \
    "CREATE TABLE effects ("                                                   \
    " key TEXT PRIMARY KEY,"                                                   \
    " instance_id TEXT NOT NULL,"                                              \
    " generation_id TEXT,"                                                     \
    " remote_id TEXT,"                                                         \
    " attempts INTEGER NOT NULL DEFAULT 1,"                                    \
    " created_at BIGINT NOT NULL,"                                             \
    " updated_at BIGINT NOT NULL);"

/* The jobs and ledger columns after the backend's own id column. */
#define JOBS_COLUMNS                                                           \
    " kind TEXT NOT NULL,"                                                     \
    " instance_id TEXT NOT NULL DEFAULT '',"                                   \
    " generation_id TEXT,"                                                     \
    " payload TEXT NOT NULL DEFAULT '{}',"                                     \
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued',"         \
    " 'running', 'finished', 'failed', 'cancelled')),"                         \
    " unique_key TEXT,"                                                        \
    " priority INTEGER NOT NULL DEFAULT 0,"                                    \
    " attempts INTEGER NOT NULL DEFAULT 0,"                                    \
    " max_attempts INTEGER NOT NULL,"                                          \
    " run_at BIGINT NOT NULL,"                                                 \
    " enqueued_at BIGINT NOT NULL,"                                            \
    " started_at BIGINT,"                                                      \
    " finished_at BIGINT,"                                                     \
    " lease_token TEXT,"                                                       \
    " lease_expires_at BIGINT,"                                                \
    " last_error TEXT,"                                                        \
    " updated_at BIGINT NOT NULL);"                                            \
    "CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, id)"              \
    " WHERE state = 'queued';"                                                 \
    "CREATE INDEX jobs_leases ON jobs (lease_expires_at)"                      \
    " WHERE state = 'running';"                                                \
    "CREATE INDEX jobs_running_by_instance ON jobs (instance_id)"              \
    " WHERE state = 'running';"                                                \
    "CREATE INDEX jobs_by_generation ON jobs (generation_id);"                 \
    "CREATE UNIQUE INDEX jobs_unique_pending ON jobs (unique_key)"             \
    " WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');"

#define LEDGER_COLUMNS                                                         \
    " instance_id TEXT NOT NULL,"                                              \
    " generation_id TEXT,"                                                     \
    " kind TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'capture',"       \
    " 'release')),"                                                            \
    " amount BIGINT NOT NULL,"                                                 \
    " reference TEXT,"                                                         \
    " note TEXT,"                                                              \
    " created_at BIGINT NOT NULL);"                                            \
    "CREATE UNIQUE INDEX credit_ledger_once_per_generation"                    \
    " ON credit_ledger (generation_id, kind)"                                  \
    " WHERE generation_id IS NOT NULL;"                                        \
    "CREATE UNIQUE INDEX credit_ledger_grant_reference"                        \
    " ON credit_ledger (instance_id, reference) WHERE kind = 'grant';"         \
    "CREATE INDEX credit_ledger_by_instance"                                   \
    " ON credit_ledger (instance_id, created_at);"

static const struct store_migration store_migrations[] = {
    {
        .version = 1,
        .name = "instances, tokens, secrets, generations, jobs, credits, "
                "effects",
        .sqlite = COMMON_TABLES
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT," JOBS_COLUMNS
        "CREATE TABLE credit_ledger (id INTEGER PRIMARY KEY "
        "AUTOINCREMENT," LEDGER_COLUMNS,
        .postgres = COMMON_TABLES
        "CREATE TABLE jobs (id BIGINT GENERATED BY DEFAULT AS IDENTITY"
        " PRIMARY KEY," JOBS_COLUMNS
        "CREATE TABLE credit_ledger (id BIGINT GENERATED BY DEFAULT AS"
        " IDENTITY PRIMARY KEY," LEDGER_COLUMNS,
    },
};

static const struct store_schema store_schema = {
    .component = "store",
    .migrations = store_migrations,
    .count = sizeof(store_migrations) / sizeof(store_migrations[0]),
};

int store_latest_version(void)
{
    return (int)store_schema.count;
}

static int check_schema_list(const struct store_schema *schema,
                             struct error *err)
{
    for (size_t i = 0; i < schema->count; i++) {
        if (schema->migrations[i].version != (int)i + 1)
            return error_set(err, ERR_INVALID,
                             "schema %s: migration %zu has version %d; "
                             "versions must count up from 1",
                             schema->component, i + 1,
                             schema->migrations[i].version);
    }
    return 0;
}

static int current_version(struct store_tx *tx, const char *component,
                           int *version, struct error *err)
{
    int64_t value = 0;

    if (store_query_int(tx,
                        "SELECT COALESCE(MAX(version), 0) FROM "
                        "schema_migrations WHERE component = ?",
                        STORE_ARGS(STORE_TEXT(component)), &value, err) < 0)
        return -1;
    *version = (int)value;
    return 0;
}

static const char *migration_sql(const struct store_migration *m,
                                 enum store_backend backend)
{
    if (backend == STORE_SQLITE && m->sqlite)
        return m->sqlite;
    if (backend == STORE_POSTGRES && m->postgres)
        return m->postgres;
    return m->sql;
}

static int apply_schema(struct store_tx *tx, const struct store_schema *schema,
                        int *applied, struct error *err)
{
    int version;

    if (check_schema_list(schema, err) != 0 ||
        current_version(tx, schema->component, &version, err) != 0)
        return -1;
    if (version > (int)schema->count)
        return error_set(
            err, ERR_PERMANENT,
            "database schema of %s is at version %d but this "
            "sitesmith supports only up to version %zu; run a newer "
            "sitesmith or point SITESMITH_DATABASE_URL at "
            "another database",
            schema->component, version, schema->count);

    for (size_t i = (size_t)version; i < schema->count; i++) {
        const struct store_migration *m = &schema->migrations[i];
        const char *sql = migration_sql(m, store_tx_backend(tx));

        if (!sql)
            return error_set(err, ERR_INVALID,
                             "schema %s migration %d has no SQL for this "
                             "database",
                             schema->component, m->version);
        if (store_exec(tx, sql, err) != 0) {
            error_prefix(err, "migration %s %d (%s)", schema->component,
                         m->version, m->name);
            return -1;
        }
        if (store_run(tx,
                      "INSERT INTO schema_migrations (component, version, "
                      "name, applied_at) VALUES (?, ?, ?, ?)",
                      STORE_ARGS(STORE_TEXT(schema->component),
                                 STORE_INT(m->version), STORE_TEXT(m->name),
                                 STORE_INT(clock_now_ms())),
                      NULL, err) != 0)
            return -1;
        (*applied)++;
    }
    return 0;
}

int store_migrate(struct store *st, const struct store_schema *const *schemas,
                  int *applied, struct error *err)
{
    struct store_tx *tx = store_begin(st, err);
    int count = 0;

    if (!tx)
        return -1;

    /* Processes that start together take turns; SQLite's write lock
     * already does that. */
    if (store_lock_key(tx, "sitesmith:migrate", err) != 0 ||
        store_exec(tx,
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " component TEXT NOT NULL,"
                   " version INTEGER NOT NULL,"
                   " name TEXT NOT NULL,"
                   " applied_at BIGINT NOT NULL,"
                   " PRIMARY KEY (component, version))",
                   err) != 0)
        goto fail;
    if (apply_schema(tx, &store_schema, &count, err) != 0)
        goto fail;
    for (size_t i = 0; schemas && schemas[i]; i++) {
        if (apply_schema(tx, schemas[i], &count, err) != 0)
            goto fail;
    }
    if (store_commit(tx, err) != 0)
        return -1;
    if (count > 0)
        log_info("store", "database migrated migrations=%d", count);
    if (applied)
        *applied = count;
    return 0;

fail:
    store_rollback(tx);
    return -1;
}

static int table_exists(struct store_tx *tx, int *exists, struct error *err)
{
    const char *sql =
        store_tx_backend(tx) == STORE_SQLITE
            ? "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
              "name = 'schema_migrations'"
            : "SELECT COUNT(*) FROM pg_tables WHERE schemaname = "
              "current_schema() AND tablename = 'schema_migrations'";
    int64_t count = 0;

    if (store_query_int(tx, sql, STORE_NO_ARGS, &count, err) < 0)
        return -1;
    *exists = count > 0;
    return 0;
}

int store_schema_version(struct store *st, const char *component, int *version,
                         struct error *err)
{
    struct store_tx *tx = store_begin_read(st, err);
    int exists = 0;
    int rc = -1;

    if (!tx)
        return -1;
    *version = 0;
    if (table_exists(tx, &exists, err) == 0)
        rc = exists ? current_version(tx, component, version, err) : 0;
    store_rollback(tx);
    return rc;
}
