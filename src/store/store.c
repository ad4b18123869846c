#include "store/store_internal.h"

#include "core/clock.h"
#include "core/log.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_POOL_SIZE 8
#define MAX_POOL_SIZE 256
#define SQLITE_BUSY_TIMEOUT_MS 10000
/* How long store_begin() waits for a free connection before giving up. */
#define POOL_WAIT_MS 60000

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

void store_copy(char *out, size_t size, const char *text)
{
    if (!text)
        text = "";
    snprintf(out, size, "%s", text);
}

/* Hides the password of a libpq URI: "postgres://user:***@host/db". */
static char *url_for_log(const char *url)
{
    const char *scheme_end = strstr(url, "://");
    const char *at;
    const char *colon;
    const char *password;
    size_t length = strlen(url) + 8;
    char *out = malloc(length);

    if (!out)
        return NULL;
    snprintf(out, length, "%s", url);
    if (!scheme_end)
        return out;
    at = strchr(scheme_end + 3, '@');
    colon = strchr(scheme_end + 3, ':');
    if (at && colon && colon < at) {
        snprintf(out, length, "%.*s:***%s", (int)(colon - url), url, at);
        return out;
    }
    password = strstr(url, "password=");
    if (password)
        snprintf(out, length, "%.*spassword=***", (int)(password - url), url);
    return out;
}

/* Reads the options after "?" in a SQLite URL; only synchronous= exists. */
static int parse_sqlite_options(struct store *st, const char *url,
                                const char *options, struct error *err)
{
    st->synchronous = "FULL";
    if (!options || strcmp(options, "synchronous=full") == 0)
        return 0;
    if (strcmp(options, "synchronous=normal") == 0) {
        st->synchronous = "NORMAL";
        return 0;
    }
    return error_set(err, ERR_INVALID,
                     "database URL \"%s\" has an unknown option \"%s\": the "
                     "only one is synchronous=full or synchronous=normal",
                     url, options);
}

static int parse_url(struct store *st, const char *url, struct error *err)
{
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        const char *options;

        if (strncmp(path, "//", 2) == 0)
            path += 2;
        options = strchr(path, '?');
        if (path[0] == '\0' || path[0] == '?')
            return error_set(err, ERR_INVALID,
                             "database URL \"%s\" names no file: use "
                             "sqlite:PATH",
                             url);
        st->backend = STORE_SQLITE;
        st->path =
            options ? strndup(path, (size_t)(options - path)) : strdup(path);
        if (!st->path)
            return error_set(err, ERR_PERMANENT, "out of memory");
        return parse_sqlite_options(st, url, options ? options + 1 : NULL, err);
    }
    if (strncmp(url, "postgres://", 11) == 0 ||
        strncmp(url, "postgresql://", 13) == 0) {
        st->backend = STORE_POSTGRES;
        return 0;
    }
    return error_set(err, ERR_INVALID,
                     "database URL \"%.40s...\" is invalid: expected "
                     "sqlite:PATH or postgres://USER@HOST/DB",
                     url);
}

static int sqlite_setup(struct store_conn *conn, const struct store *st,
                        struct error *err)
{
    const char *path = st->path;
    int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &conn->sqlite, flags, NULL);
    char pragmas[160];

    if (rc != SQLITE_OK) {
        error_set(err, ERR_PERMANENT,
                  "cannot open SQLite database \"%s\": %s; check that the "
                  "folder exists and is writable",
                  path,
                  conn->sqlite ? sqlite3_errmsg(conn->sqlite)
                               : sqlite3_errstr(rc));
        return -1;
    }
    sqlite3_busy_timeout(conn->sqlite, SQLITE_BUSY_TIMEOUT_MS);

    /* WAL lets readers work beside the one writer. FULL syncs the WAL at
     * every commit, so a commit survives a power cut; NORMAL syncs only at
     * checkpoints, which still survives a crash of the process. */
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
             "PRAGMA synchronous = %s;",
             st->synchronous);
    rc = sqlite3_exec(conn->sqlite, pragmas, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_sqlite_error(conn->sqlite, rc, "setting up the database",
                                  err);
    return 0;
}

static int pg_setup(struct store_conn *conn, const struct store *st,
                    struct error *err)
{
    PGresult *res;

    conn->pg = PQconnectdb(st->url);
    if (!conn->pg || PQstatus(conn->pg) != CONNECTION_OK) {
        char message[256];

        snprintf(message, sizeof(message), "%s",
                 conn->pg ? PQerrorMessage(conn->pg) : "out of memory");
        message[strcspn(message, "\n")] = '\0';
        return error_set(err, ERR_RETRYABLE,
                         "cannot connect to PostgreSQL at %s: %s", st->url_log,
                         message);
    }
    PQsetNoticeProcessor(conn->pg, ignore_notice, NULL);
    res = PQexec(conn->pg, "SET client_min_messages = warning");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        store_pg_error(conn, res, "setting up the connection", err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

struct store_conn *store_conn_open(struct store *st, struct error *err)
{
    struct store_conn *conn = calloc(1, sizeof(*conn));
    int rc;

    if (!conn) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    conn->backend = st->backend;
    if (st->backend == STORE_SQLITE)
        rc = sqlite_setup(conn, st, err);
    else
        rc = pg_setup(conn, st, err);
    if (rc != 0) {
        store_conn_close(conn);
        return NULL;
    }
    return conn;
}

void store_conn_close(struct store_conn *conn)
{
    if (!conn)
        return;
    store_cache_clear(conn);
    if (conn->sqlite)
        sqlite3_close(conn->sqlite);
    if (conn->pg)
        PQfinish(conn->pg);
    free(conn);
}

static void init_locks(struct store *st)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->write_lock, NULL);
    pthread_mutex_init(&st->wake_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&st->conn_free, &attr);
    pthread_cond_init(&st->wake_cond, &attr);
    pthread_condattr_destroy(&attr);
}

struct store *store_open_with(const char *url, int pool_size, struct error *err)
{
    struct store *st;
    struct store_conn *first;

    if (pool_size < 1 || pool_size > MAX_POOL_SIZE) {
        error_set(err, ERR_INVALID,
                  "database pool size %d is invalid: expected 1 to %d",
                  pool_size, MAX_POOL_SIZE);
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    init_locks(st);
    st->pool_size = pool_size;
    st->url = strdup(url);
    st->url_log = url_for_log(url);
    st->idle = calloc((size_t)pool_size, sizeof(*st->idle));
    if (!st->url || !st->url_log || !st->idle) {
        error_set(err, ERR_PERMANENT, "out of memory");
        goto fail;
    }
    if (parse_url(st, url, err) != 0)
        goto fail;

    /* Open one connection now, so that a bad URL fails here. */
    first = store_conn_open(st, err);
    if (!first)
        goto fail;
    st->idle[st->idle_count++] = first;
    st->open_count = 1;
    return st;

fail:
    store_close(st);
    return NULL;
}

struct store *store_open(const char *url, struct error *err)
{
    return store_open_with(url, DEFAULT_POOL_SIZE, err);
}

struct store *store_open_config(const struct config *cfg, struct error *err)
{
    const char *url =
        config_get_string(cfg, "SITESMITH_DATABASE_URL", STORE_DEFAULT_URL);
    const char *key_text = config_get(cfg, "SITESMITH_SECRET_KEY");
    unsigned char key[CRYPTO_KEY_BYTES];
    struct store *st;
    int64_t pool_size;

    if (config_get_int(cfg, "SITESMITH_DATABASE_POOL_SIZE", DEFAULT_POOL_SIZE,
                       1, MAX_POOL_SIZE, &pool_size, err) != 0)
        return NULL;
    if (key_text && crypto_parse_key(key_text, key, err) != 0)
        return NULL;
    st = store_open_with(url, (int)pool_size, err);
    if (st && key_text)
        store_set_secret_key(st, key);
    sodium_memzero(key, sizeof(key));
    return st;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    store_listener_free(st);
    for (int i = 0; i < st->idle_count; i++)
        store_conn_close(st->idle[i]);
    if (st->open_count != st->idle_count)
        log_error("store",
                  "closed with transactions still open open=%d "
                  "idle=%d",
                  st->open_count, st->idle_count);
    free(st->idle);
    free(st->url);
    free(st->url_log);
    free(st->path);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->write_lock);
    pthread_mutex_destroy(&st->wake_lock);
    pthread_cond_destroy(&st->conn_free);
    pthread_cond_destroy(&st->wake_cond);
    sodium_memzero(st->key, sizeof(st->key));
    free(st);
}

enum store_backend store_backend(const struct store *st)
{
    return st->backend;
}

const char *store_url_for_log(const struct store *st)
{
    return st->url_log;
}

void store_set_secret_key(struct store *st,
                          const unsigned char key[CRYPTO_KEY_BYTES])
{
    memcpy(st->key, key, CRYPTO_KEY_BYTES);
    st->has_key = 1;
}

/* ------------------------------------------------------------------ */
/* The connection pool                                                 */
/* ------------------------------------------------------------------ */

static void deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static struct store_conn *pool_acquire(struct store *st, struct error *err)
{
    struct store_conn *conn = NULL;
    struct timespec deadline;

    deadline_after(&deadline, POOL_WAIT_MS);
    pthread_mutex_lock(&st->lock);
    while (st->idle_count == 0 && st->open_count >= st->pool_size) {
        if (pthread_cond_timedwait(&st->conn_free, &st->lock, &deadline) ==
            ETIMEDOUT) {
            pthread_mutex_unlock(&st->lock);
            error_set(err, ERR_RETRYABLE,
                      "all %d database connections stayed busy for %d s; "
                      "raise SITESMITH_DATABASE_POOL_SIZE",
                      st->pool_size, POOL_WAIT_MS / 1000);
            return NULL;
        }
    }
    if (st->idle_count > 0) {
        conn = st->idle[--st->idle_count];
        pthread_mutex_unlock(&st->lock);
        return conn;
    }

    /* Open a new connection outside the lock; it may take a while. */
    st->open_count++;
    pthread_mutex_unlock(&st->lock);
    conn = store_conn_open(st, err);
    if (!conn) {
        pthread_mutex_lock(&st->lock);
        st->open_count--;
        pthread_cond_signal(&st->conn_free);
        pthread_mutex_unlock(&st->lock);
    }
    return conn;
}

static void pool_release(struct store *st, struct store_conn *conn)
{
    pthread_mutex_lock(&st->lock);
    if (conn->broken) {
        st->open_count--;
        pthread_mutex_unlock(&st->lock);
        store_conn_close(conn);
        pthread_mutex_lock(&st->lock);
    } else {
        st->idle[st->idle_count++] = conn;
    }
    pthread_cond_signal(&st->conn_free);
    pthread_mutex_unlock(&st->lock);
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

/* Writes the statements that begin a transaction with options into sql. */
static int begin_sql(enum store_backend backend,
                     const struct store_tx_options *o, char *sql, size_t size)
{
    int length;

    if (backend == STORE_SQLITE)
        length = snprintf(sql, size, "%s",
                          o->read_only ? "BEGIN DEFERRED" : "BEGIN IMMEDIATE");
    else
        length = snprintf(
            sql, size, "%s%s%s%s", o->read_only ? "BEGIN READ ONLY" : "BEGIN",
            o->async_commit ? "; SET LOCAL synchronous_commit TO OFF" : "",
            o->postgres_settings ? "; " : "",
            o->postgres_settings ? o->postgres_settings : "");
    return length > 0 && (size_t)length < size ? 0 : -1;
}

static void tx_end(struct store_tx *tx)
{
    pool_release(tx->st, tx->conn);
    if (tx->write)
        pthread_mutex_unlock(&tx->st->write_lock);
    free(tx);
}

struct store_tx *store_begin_with(struct store *st,
                                  const struct store_tx_options *options,
                                  struct error *err)
{
    static const struct store_tx_options defaults;
    const struct store_tx_options *o = options ? options : &defaults;
    struct store_tx *tx;
    char sql[512];

    if (begin_sql(st->backend, o, sql, sizeof(sql)) != 0) {
        error_set(err, ERR_INVALID, "transaction settings are too long");
        return NULL;
    }
    tx = calloc(1, sizeof(*tx));
    if (!tx) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    tx->st = st;
    if (st->backend == STORE_SQLITE && !o->read_only) {
        pthread_mutex_lock(&st->write_lock);
        tx->write = 1;
    }

    /* A pooled PostgreSQL connection may have died while idle: retry once
     * on a fresh one. */
    for (int attempt = 0; attempt < 2; attempt++) {
        tx->conn = pool_acquire(st, err);
        if (!tx->conn)
            break;
        if (store_conn_exec(tx->conn, sql, err) == 0)
            return tx;
        if (!tx->conn->broken)
            break;
        pool_release(st, tx->conn);
        tx->conn = NULL;
    }
    if (tx->conn) {
        store_conn_exec(tx->conn, "ROLLBACK", NULL);
        pool_release(st, tx->conn);
    }
    if (tx->write)
        pthread_mutex_unlock(&st->write_lock);
    free(tx);
    return NULL;
}

struct store_tx *store_begin(struct store *st, struct error *err)
{
    return store_begin_with(st, NULL, err);
}

struct store_tx *store_begin_read(struct store *st, struct error *err)
{
    static const struct store_tx_options read_only = {.read_only = 1};

    return store_begin_with(st, &read_only, err);
}

static int send_notifications(struct store_tx *tx, struct error *err)
{
    char sql[STORE_CHANNEL_MAX + 16];

    if (tx->st->backend != STORE_POSTGRES)
        return 0;
    for (int i = 0; i < tx->channel_count; i++) {
        snprintf(sql, sizeof(sql), "NOTIFY %s", tx->channels[i]);
        if (store_conn_exec(tx->conn, sql, err) != 0)
            return -1;
    }
    return 0;
}

int store_commit(struct store_tx *tx, struct error *err)
{
    int notify = tx->channel_count > 0;
    int rc = -1;

    if (tx->failed) {
        error_set(err, ERR_PERMANENT,
                  "transaction not committed: a statement in it failed "
                  "earlier, so it was rolled back");
    } else if (send_notifications(tx, err) == 0 &&
               store_conn_exec(tx->conn, "COMMIT", err) == 0) {
        rc = 0;
    }
    if (rc != 0 && !tx->conn->broken)
        store_conn_exec(tx->conn, "ROLLBACK", NULL);
    if (rc == 0 && notify)
        store_wakeup_bump(tx->st);
    tx_end(tx);
    return rc;
}

void store_rollback(struct store_tx *tx)
{
    if (!tx)
        return;
    if (!tx->conn->broken)
        store_conn_exec(tx->conn, "ROLLBACK", NULL);
    tx_end(tx);
}

struct store *store_tx_store(const struct store_tx *tx)
{
    return tx->st;
}

enum store_backend store_tx_backend(const struct store_tx *tx)
{
    return tx->st->backend;
}

int store_tx_fail(struct store_tx *tx)
{
    tx->failed = 1;
    return -1;
}

const char *store_for_update(const struct store_tx *tx)
{
    return tx->st->backend == STORE_POSTGRES ? " FOR UPDATE" : "";
}

/* 64-bit FNV-1a, for advisory lock ids. */
static int64_t hash_key(const char *key)
{
    uint64_t hash = 1469598103934665603ULL;

    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        hash ^= *p;
        hash *= 1099511628211ULL;
    }
    return (int64_t)hash;
}

int store_lock_key(struct store_tx *tx, const char *key, struct error *err)
{
    if (tx->st->backend == STORE_SQLITE)
        return 0;
    return store_run(tx, "SELECT pg_advisory_xact_lock(?)",
                     STORE_ARGS(STORE_INT(hash_key(key))), NULL, err);
}

int store_ping(struct store *st, struct error *err)
{
    struct store_tx *tx = store_begin_read(st, err);
    int64_t one = 0;
    int rc;

    if (!tx)
        return -1;
    rc = store_query_int(tx, "SELECT 1", STORE_NO_ARGS, &one, err);
    store_rollback(tx);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Wake-ups                                                            */
/* ------------------------------------------------------------------ */

int store_channel_valid(const char *channel)
{
    size_t length = strlen(channel);

    if (length == 0 || length >= STORE_CHANNEL_MAX)
        return 0;
    if (!(channel[0] >= 'a' && channel[0] <= 'z') && channel[0] != '_')
        return 0;
    for (size_t i = 0; i < length; i++) {
        char c = channel[i];

        if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_')
            return 0;
    }
    return 1;
}

int store_notify(struct store_tx *tx, const char *channel, struct error *err)
{
    if (!store_channel_valid(channel))
        return error_set(err, ERR_INVALID,
                         "wake-up channel \"%s\" is invalid: use lower-case "
                         "letters, digits and _",
                         channel);
    for (int i = 0; i < tx->channel_count; i++) {
        if (strcmp(tx->channels[i], channel) == 0)
            return 0;
    }
    if (tx->channel_count == STORE_MAX_CHANNELS)
        return error_set(err, ERR_INVALID,
                         "more than %d wake-up channels in one transaction",
                         STORE_MAX_CHANNELS);
    store_copy(tx->channels[tx->channel_count++], STORE_CHANNEL_MAX, channel);
    return 0;
}

void store_wakeup_bump(struct store *st)
{
    pthread_mutex_lock(&st->wake_lock);
    st->wake_count++;
    pthread_cond_broadcast(&st->wake_cond);
    pthread_mutex_unlock(&st->wake_lock);
}

void store_wakeup_all(struct store *st)
{
    store_wakeup_bump(st);
}

uint64_t store_wakeup_count(struct store *st)
{
    uint64_t count;

    pthread_mutex_lock(&st->wake_lock);
    count = st->wake_count;
    pthread_mutex_unlock(&st->wake_lock);
    return count;
}

int store_wait_wakeup(struct store *st, uint64_t seen, int64_t timeout_ms)
{
    struct timespec deadline;
    int woken;

    deadline_after(&deadline, timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&st->wake_lock);
    while (st->wake_count == seen) {
        if (pthread_cond_timedwait(&st->wake_cond, &st->wake_lock, &deadline) ==
            ETIMEDOUT)
            break;
    }
    woken = st->wake_count != seen;
    pthread_mutex_unlock(&st->wake_lock);
    return woken;
}
