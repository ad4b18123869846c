/*
 * Statements on both backends: "?" placeholders, typed binds, a cache of
 * prepared statements per connection, and errors mapped to error kinds.
 */
#include "store/store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 64

struct store_stmt {
    struct store_tx *tx;

    /* SQLite */
    sqlite3_stmt *sqlite;
    struct store_cached *slot; /* NULL for an uncached statement */

    /* PostgreSQL: the whole result, walked row by row */
    PGresult *res;
    int row;
    int rows;

    int done;
    int64_t changes;
};

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

int store_sqlite_error(sqlite3 *db, int rc, const char *what, struct error *err)
{
    int extended = db ? sqlite3_extended_errcode(db) : rc;
    enum error_kind kind = ERR_PERMANENT;

    if (extended == SQLITE_CONSTRAINT_UNIQUE ||
        extended == SQLITE_CONSTRAINT_PRIMARYKEY)
        kind = ERR_CONFLICT;
    else if (extended == SQLITE_CONSTRAINT_CHECK ||
             extended == SQLITE_CONSTRAINT_NOTNULL)
        kind = ERR_INVALID;
    else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        kind = ERR_RETRYABLE;
    return error_set(err, kind, "database error while %s: %s", what,
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static enum error_kind pg_kind(const char *state)
{
    if (!state)
        return ERR_RETRYABLE;
    if (strcmp(state, "23505") == 0)
        return ERR_CONFLICT;
    if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0)
        return ERR_INVALID;
    /* Serialization failure, deadlock, lock timeout, connection and
     * operator-intervention classes: worth another attempt. */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
        strcmp(state, "55P03") == 0 || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57", 2) == 0)
        return ERR_RETRYABLE;
    return ERR_PERMANENT;
}

int store_pg_error(struct store_conn *conn, const PGresult *res,
                   const char *what, struct error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *text =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char message[256];

    if (PQstatus(conn->pg) != CONNECTION_OK)
        conn->broken = 1;
    if (!text) {
        snprintf(message, sizeof(message), "%s", PQerrorMessage(conn->pg));
        message[strcspn(message, "\n")] = '\0';
        text = message;
    }
    return error_set(err, conn->broken ? ERR_RETRYABLE : pg_kind(state),
                     "database error while %s: %s%s%s%s", what, text,
                     state ? " (SQLSTATE " : "", state ? state : "",
                     state ? ")" : "");
}

/* ------------------------------------------------------------------ */
/* Plain statements                                                    */
/* ------------------------------------------------------------------ */

int store_conn_exec(struct store_conn *conn, const char *sql, struct error *err)
{
    if (conn->backend == STORE_SQLITE) {
        int rc = sqlite3_exec(conn->sqlite, sql, NULL, NULL, NULL);

        if (rc != SQLITE_OK)
            return store_sqlite_error(conn->sqlite, rc, "running SQL", err);
        return 0;
    }

    PGresult *res = PQexec(conn->pg, sql);
    ExecStatusType status = PQresultStatus(res);
    int rc = 0;

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        rc = store_pg_error(conn, res, "running SQL", err);
    else if (strcmp(sql, "COMMIT") == 0 &&
             strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
        rc = error_set(err, ERR_PERMANENT,
                       "transaction was rolled back by the server");
    PQclear(res);
    return rc;
}

int store_exec(struct store_tx *tx, const char *sql, struct error *err)
{
    if (tx->failed)
        return error_set(err, ERR_PERMANENT,
                         "transaction already failed; roll it back");
    if (store_conn_exec(tx->conn, sql, err) != 0)
        return store_tx_fail(tx);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Statement cache                                                     */
/* ------------------------------------------------------------------ */

static void cached_free(struct store_conn *conn, struct store_cached *slot,
                        int deallocate)
{
    if (slot->sqlite)
        sqlite3_finalize(slot->sqlite);
    if (deallocate && slot->name[0] && PQstatus(conn->pg) == CONNECTION_OK) {
        char sql[48];

        snprintf(sql, sizeof(sql), "DEALLOCATE %s", slot->name);
        PQclear(PQexec(conn->pg, sql));
    }
    free(slot->sql);
    memset(slot, 0, sizeof(*slot));
}

void store_cache_clear(struct store_conn *conn)
{
    for (int i = 0; i < conn->cache_used; i++)
        cached_free(conn, &conn->cache[i], 0);
    conn->cache_used = 0;
}

static struct store_cached *cache_find(struct store_conn *conn, const char *sql)
{
    for (int i = 0; i < conn->cache_used; i++) {
        if (conn->cache[i].sql && strcmp(conn->cache[i].sql, sql) == 0)
            return &conn->cache[i];
    }
    return NULL;
}

/* A free slot, replacing an older statement when the cache is full. */
static struct store_cached *cache_slot(struct store_conn *conn)
{
    if (conn->cache_used < STORE_CACHE_SLOTS)
        return &conn->cache[conn->cache_used++];
    for (int tries = 0; tries < STORE_CACHE_SLOTS; tries++) {
        struct store_cached *slot = &conn->cache[conn->cache_next];

        conn->cache_next = (conn->cache_next + 1) % STORE_CACHE_SLOTS;
        if (!slot->in_use) {
            cached_free(conn, slot, 1);
            return slot;
        }
    }
    return NULL;
}

/* Rewrites "?" as "$1", "$2", ... outside quotes and counts them. */
static char *pg_placeholders(const char *sql, int *count)
{
    size_t size = strlen(sql) * 4 + 1;
    char *out = malloc(size);
    char quote = 0;
    size_t o = 0;

    *count = 0;
    if (!out)
        return NULL;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            o += (size_t)snprintf(out + o, size - o, "$%d", ++*count);
            continue;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------------ */
/* SQLite statements                                                   */
/* ------------------------------------------------------------------ */

static int sqlite_prepare(struct store_stmt *stmt, const char *sql,
                          struct error *err)
{
    struct store_conn *conn = stmt->tx->conn;
    struct store_cached *slot = cache_find(conn, sql);
    int rc;

    if (slot && !slot->in_use) {
        slot->in_use = 1;
        stmt->slot = slot;
        stmt->sqlite = slot->sqlite;
        return 0;
    }
    rc = sqlite3_prepare_v3(conn->sqlite, sql, -1, SQLITE_PREPARE_PERSISTENT,
                            &stmt->sqlite, NULL);
    if (rc != SQLITE_OK)
        return store_sqlite_error(conn->sqlite, rc, "preparing SQL", err);
    if (slot)
        return 0; /* the cached copy is busy: use this one once */
    slot = cache_slot(conn);
    if (!slot)
        return 0;
    slot->sql = strdup(sql);
    if (!slot->sql)
        return 0;
    slot->sqlite = stmt->sqlite;
    slot->in_use = 1;
    stmt->slot = slot;
    return 0;
}

static int sqlite_bind(struct store_stmt *stmt,
                       const struct store_value *params, size_t count,
                       struct error *err)
{
    sqlite3 *db = stmt->tx->conn->sqlite;
    int expected = sqlite3_bind_parameter_count(stmt->sqlite);
    int rc = SQLITE_OK;

    if ((size_t)expected != count)
        return error_set(err, ERR_INVALID,
                         "SQL has %d parameters but %zu values were given",
                         expected, count);
    for (size_t i = 0; i < count && rc == SQLITE_OK; i++) {
        const struct store_value *v = &params[i];
        int index = (int)i + 1;

        if (v->type == STORE_TYPE_INT)
            rc = sqlite3_bind_int64(stmt->sqlite, index, v->i);
        else if (v->type == STORE_TYPE_TEXT && v->text)
            rc = sqlite3_bind_text(stmt->sqlite, index, v->text, -1,
                                   SQLITE_TRANSIENT);
        else
            rc = sqlite3_bind_null(stmt->sqlite, index);
    }
    if (rc != SQLITE_OK)
        return store_sqlite_error(db, rc, "binding SQL parameters", err);
    return 0;
}

/* ------------------------------------------------------------------ */
/* PostgreSQL statements                                               */
/* ------------------------------------------------------------------ */

static struct store_cached *pg_prepare(struct store_conn *conn, const char *sql,
                                       struct error *err)
{
    struct store_cached *slot = cache_find(conn, sql);
    PGresult *res;
    char *converted;
    int count;

    if (slot)
        return slot;
    converted = pg_placeholders(sql, &count);
    slot = converted ? cache_slot(conn) : NULL;
    if (!slot) {
        free(converted);
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    snprintf(slot->name, sizeof(slot->name), "s%d", conn->next_name++);
    res = PQprepare(conn->pg, slot->name, converted, count, NULL);
    free(converted);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        store_pg_error(conn, res, "preparing SQL", err);
        PQclear(res);
        memset(slot, 0, sizeof(*slot));
        return NULL;
    }
    PQclear(res);
    slot->sql = strdup(sql);
    slot->params = count;
    if (!slot->sql) {
        cached_free(conn, slot, 1);
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    return slot;
}

static int pg_execute(struct store_stmt *stmt, const char *sql,
                      const struct store_value *params, size_t count,
                      struct error *err)
{
    struct store_conn *conn = stmt->tx->conn;
    struct store_cached *slot = pg_prepare(conn, sql, err);
    char numbers[MAX_PARAMS][24];
    const char *values[MAX_PARAMS];
    ExecStatusType status;

    if (!slot)
        return -1;
    if ((size_t)slot->params != count || count > MAX_PARAMS)
        return error_set(err, ERR_INVALID,
                         "SQL has %d parameters but %zu values were given",
                         slot->params, count);
    for (size_t i = 0; i < count; i++) {
        if (params[i].type == STORE_TYPE_INT) {
            snprintf(numbers[i], sizeof(numbers[i]), "%" PRId64, params[i].i);
            values[i] = numbers[i];
        } else if (params[i].type == STORE_TYPE_TEXT) {
            values[i] = params[i].text;
        } else {
            values[i] = NULL;
        }
    }
    stmt->res =
        PQexecPrepared(conn->pg, slot->name, (int)count, values, NULL, NULL, 0);
    status = PQresultStatus(stmt->res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
        return store_pg_error(conn, stmt->res, "running SQL", err);
    stmt->rows = PQntuples(stmt->res);
    stmt->row = -1;
    stmt->changes = strtoll(PQcmdTuples(stmt->res), NULL, 10);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The public statement interface                                      */
/* ------------------------------------------------------------------ */

struct store_stmt *store_query(struct store_tx *tx, const char *sql,
                               const struct store_value *params, size_t count,
                               struct error *err)
{
    struct store_stmt *stmt;
    int rc;

    if (tx->failed) {
        error_set(err, ERR_PERMANENT,
                  "transaction already failed; roll it back");
        return NULL;
    }
    stmt = calloc(1, sizeof(*stmt));
    if (!stmt) {
        error_set(err, ERR_PERMANENT, "out of memory");
        store_tx_fail(tx);
        return NULL;
    }
    stmt->tx = tx;
    if (tx->st->backend == STORE_SQLITE) {
        rc = sqlite_prepare(stmt, sql, err);
        if (rc == 0)
            rc = sqlite_bind(stmt, params, count, err);
    } else {
        rc = pg_execute(stmt, sql, params, count, err);
    }
    if (rc != 0) {
        store_finalize(stmt);
        store_tx_fail(tx);
        return NULL;
    }
    return stmt;
}

int store_step(struct store_stmt *stmt, struct error *err)
{
    int rc;

    if (stmt->done)
        return 0;
    if (stmt->res) {
        if (++stmt->row < stmt->rows)
            return 1;
        stmt->done = 1;
        return 0;
    }
    rc = sqlite3_step(stmt->sqlite);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        stmt->done = 1;
        stmt->changes = sqlite3_changes64(stmt->tx->conn->sqlite);
        return 0;
    }
    store_sqlite_error(stmt->tx->conn->sqlite, rc, "running SQL", err);
    return store_tx_fail(stmt->tx);
}

int64_t store_column_int(struct store_stmt *stmt, int column)
{
    if (stmt->res) {
        if (PQgetisnull(stmt->res, stmt->row, column))
            return 0;
        return strtoll(PQgetvalue(stmt->res, stmt->row, column), NULL, 10);
    }
    return sqlite3_column_int64(stmt->sqlite, column);
}

int store_column_is_null(struct store_stmt *stmt, int column)
{
    if (stmt->res)
        return PQgetisnull(stmt->res, stmt->row, column);
    return sqlite3_column_type(stmt->sqlite, column) == SQLITE_NULL;
}

const char *store_column_text(struct store_stmt *stmt, int column)
{
    if (stmt->res) {
        if (PQgetisnull(stmt->res, stmt->row, column))
            return NULL;
        return PQgetvalue(stmt->res, stmt->row, column);
    }
    return (const char *)sqlite3_column_text(stmt->sqlite, column);
}

char *store_column_dup(struct store_stmt *stmt, int column)
{
    const char *text = store_column_text(stmt, column);

    return text ? strdup(text) : NULL;
}

int64_t store_changes(struct store_stmt *stmt)
{
    return stmt->changes;
}

void store_finalize(struct store_stmt *stmt)
{
    if (!stmt)
        return;
    if (stmt->res)
        PQclear(stmt->res);
    if (stmt->slot) {
        sqlite3_reset(stmt->sqlite);
        sqlite3_clear_bindings(stmt->sqlite);
        stmt->slot->in_use = 0;
    } else if (stmt->sqlite) {
        sqlite3_finalize(stmt->sqlite);
    }
    free(stmt);
}

int store_run(struct store_tx *tx, const char *sql,
              const struct store_value *params, size_t count, int64_t *changes,
              struct error *err)
{
    struct store_stmt *stmt = store_query(tx, sql, params, count, err);
    int rc;

    if (!stmt)
        return -1;
    while ((rc = store_step(stmt, err)) == 1)
        ;
    if (rc == 0 && changes)
        *changes = store_changes(stmt);
    store_finalize(stmt);
    return rc;
}

int store_query_int(struct store_tx *tx, const char *sql,
                    const struct store_value *params, size_t count,
                    int64_t *out, struct error *err)
{
    struct store_stmt *stmt = store_query(tx, sql, params, count, err);
    int rc;

    if (!stmt)
        return -1;
    rc = store_step(stmt, err);
    if (rc == 1)
        *out = store_column_int(stmt, 0);
    store_finalize(stmt);
    return rc;
}

int store_query_text(struct store_tx *tx, const char *sql,
                     const struct store_value *params, size_t count, char **out,
                     struct error *err)
{
    struct store_stmt *stmt = store_query(tx, sql, params, count, err);
    int rc;

    if (!stmt)
        return -1;
    rc = store_step(stmt, err);
    if (rc == 1) {
        *out = store_column_dup(stmt, 0);
        if (!*out && !store_column_is_null(stmt, 0))
            rc = error_set(err, ERR_PERMANENT, "out of memory");
    }
    store_finalize(stmt);
    return rc;
}
