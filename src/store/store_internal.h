/*
 * Shared by the files of the store module only: connections, the pool,
 * transactions and the per-connection statement cache.
 */
#ifndef SITESMITH_STORE_STORE_INTERNAL_H
#define SITESMITH_STORE_STORE_INTERNAL_H

#include "store/store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#define STORE_CACHE_SLOTS 64
#define STORE_MAX_CHANNELS 8
#define STORE_CHANNEL_MAX 64

/* A prepared statement kept on one connection, keyed by its SQL text. */
struct store_cached {
    char *sql;
    sqlite3_stmt *sqlite; /* SQLite: the prepared statement */
    char name[24];        /* PostgreSQL: the server-side statement name */
    int params;           /* PostgreSQL: number of parameters */
    int in_use;           /* SQLite: handed to a store_stmt right now */
};

struct store_conn {
    enum store_backend backend;
    sqlite3 *sqlite;
    PGconn *pg;
    int broken; /* close instead of returning to the pool */
    struct store_cached cache[STORE_CACHE_SLOTS];
    int cache_used;
    int cache_next; /* slot to replace when full */
    int next_name;
};

struct store_listener;

struct store {
    enum store_backend backend;
    char *url;               /* as given */
    char *url_log;           /* password hidden */
    char *path;              /* SQLite file */
    const char *synchronous; /* SQLite: "FULL" or "NORMAL" */

    pthread_mutex_t lock;
    pthread_cond_t conn_free;
    struct store_conn **idle;
    int idle_count;
    int open_count;
    int pool_size;

    /* SQLite: serializes write transactions of this process. */
    pthread_mutex_t write_lock;

    unsigned char key[CRYPTO_KEY_BYTES];
    int has_key;

    pthread_mutex_t wake_lock;
    pthread_cond_t wake_cond;
    uint64_t wake_count;

    struct store_listener *listener;
};

struct store_tx {
    struct store *st;
    struct store_conn *conn;
    int write;  /* holds st->write_lock (SQLite) */
    int failed; /* a statement failed: PostgreSQL aborted the transaction */
    char channels[STORE_MAX_CHANNELS][STORE_CHANNEL_MAX];
    int channel_count;
};

/* Connections (store.c). */
struct store_conn *store_conn_open(struct store *st, struct error *err);
void store_conn_close(struct store_conn *conn);

/* Statement cache, error mapping and plain statements (sql.c). */
int store_conn_exec(struct store_conn *conn, const char *sql,
                    struct error *err);
void store_cache_clear(struct store_conn *conn);
int store_sqlite_error(sqlite3 *db, int rc, const char *what,
                       struct error *err);
int store_pg_error(struct store_conn *conn, const PGresult *res,
                   const char *what, struct error *err);
/* Marks tx failed and returns -1, for errors found outside a statement. */
int store_tx_fail(struct store_tx *tx);

/* The PostgreSQL listener (listen.c). */
void store_listener_free(struct store *st);
void store_wakeup_bump(struct store *st);

/* Validates a wake-up channel name. */
int store_channel_valid(const char *channel);

/* Sealing helpers (secrets.c). */
char *store_seal(struct store *st, const char *plaintext, struct error *err);
char *store_unseal(struct store *st, const char *sealed, struct error *err);

/* Copies text into a fixed field, truncating; NULL gives "". */
void store_copy(char *out, size_t size, const char *text);

#endif
