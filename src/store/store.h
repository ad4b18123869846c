/*
 * The storage layer: one interface over SQLite (sqlite:PATH, WAL mode) and
 * PostgreSQL (postgres://... through libpq).
 *
 * A struct store is shared by every thread of a process. It keeps a small
 * pool of connections; store_begin() takes one for the length of a
 * transaction. On SQLite, write transactions of one process are serialized
 * by a mutex and, across processes, by BEGIN IMMEDIATE with a busy timeout.
 *
 * All work happens inside a transaction (struct store_tx). A caller begins
 * one, passes it to several calls (write generation state, enqueue the next
 * job, capture credits, finish the current job), then commits or rolls
 * back. A thread may have only one transaction open at a time, because
 * beginning a second one on the same thread may wait forever on SQLite.
 *
 * SQL is written once for both backends: parameters are "?" (converted to
 * $1, $2, ... for PostgreSQL), values are bound with STORE_INT/STORE_TEXT,
 * and migrations give a separate text per backend only where the dialects
 * differ. Times are stored as BIGINT milliseconds since the epoch, read from
 * clock_now_ms(), so that tests can move time.
 *
 * Functions returning int return 0 (or a count, or 1/0 for found/not found
 * where stated) on success and -1 with err set on failure.
 */
#ifndef SITESMITH_STORE_STORE_H
#define SITESMITH_STORE_STORE_H

#include "core/config.h"
#include "core/crypto.h"
#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#define STORE_DEFAULT_URL "sqlite:sitesmith.db"

/* Sizes of fixed text fields, including the NUL. */
#define STORE_ID_MAX 128   /* instance ids, names, keys */
#define STORE_UUID_SIZE 37 /* generation ids: 36 characters and a NUL */

struct store;
struct store_tx;
struct store_stmt;

enum store_backend { STORE_SQLITE, STORE_POSTGRES };

/* ------------------------------------------------------------------ */
/* Opening and closing                                                 */
/* ------------------------------------------------------------------ */

/*
 * Opens a store. url is "sqlite:PATH" (the file is created when missing;
 * WAL mode, foreign keys on, a 10 s busy timeout, synchronous=FULL unless
 * the URL ends in "?synchronous=normal") or "postgres://..." /
 * "postgresql://..." (any libpq connection URI). Connections are opened
 * lazily, up to 8. Does not migrate: call store_migrate(). Returns NULL
 * with err set when the URL is invalid or the first connection fails. The
 * caller frees it with store_close().
 */
struct store *store_open(const char *url, struct error *err);

/* store_open() with at most pool_size connections (1 to 256). */
struct store *store_open_with(const char *url, int pool_size,
                              struct error *err);

/*
 * Opens the store named by SITESMITH_DATABASE_URL (default
 * STORE_DEFAULT_URL), with SITESMITH_DATABASE_POOL_SIZE connections, and
 * sets the secret key from SITESMITH_SECRET_KEY when it is set. Does not
 * migrate.
 */
struct store *store_open_config(const struct config *cfg, struct error *err);

/*
 * Closes every connection. All transactions must have ended and no other
 * thread may still use the store. Accepts NULL.
 */
void store_close(struct store *st);

enum store_backend store_backend(const struct store *st);

/* The URL with any password replaced by "***", for logs. Borrowed. */
const char *store_url_for_log(const struct store *st);

/*
 * Sets the key that seals access tokens and instance secrets
 * (XChaCha20-Poly1305, see crypto_seal). The key is copied. Call before
 * other threads use the store.
 */
void store_set_secret_key(struct store *st,
                          const unsigned char key[CRYPTO_KEY_BYTES]);

/* Runs "SELECT 1" on a pooled connection (readiness checks). */
int store_ping(struct store *st, struct error *err);

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

/*
 * Begins a read-write transaction (SQLite: BEGIN IMMEDIATE, so the write
 * lock is taken at once; PostgreSQL: READ COMMITTED). Waits for a free
 * connection. Returns NULL with err set on failure (ERR_RETRYABLE when the
 * database is busy or unreachable). End it with store_commit() or
 * store_rollback(); the same thread that began it must end it.
 */
struct store_tx *store_begin(struct store *st, struct error *err);

/* Begins a read-only transaction (SQLite: a deferred read; no write lock). */
struct store_tx *store_begin_read(struct store *st, struct error *err);

/* Options of store_begin_with(); a zeroed struct is store_begin(). */
struct store_tx_options {
    int read_only;
    /*
     * Commit without waiting for the WAL record to reach the disk
     * (PostgreSQL synchronous_commit off; nothing on SQLite). A server
     * crash may then lose this transaction, but nothing else and without
     * corruption, so use it only where redoing the work is harmless, such
     * as claiming a job or extending a lease.
     */
    int async_commit;
    /* PostgreSQL only: more "SET LOCAL name TO value" statements, sent in
     * the same round trip as BEGIN. Ignored on SQLite. */
    const char *postgres_settings;
};

/* Begins a transaction with options; see store_begin(). */
struct store_tx *store_begin_with(struct store *st,
                                  const struct store_tx_options *options,
                                  struct error *err);

/*
 * Commits and frees tx, also on failure. Then nothing was written and err
 * describes the failure (ERR_RETRYABLE for serialization failures and busy
 * databases).
 * Runs the store_notify() wake-ups queued in tx after the commit.
 */
int store_commit(struct store_tx *tx, struct error *err);

/* Rolls back and frees tx. Accepts NULL. */
void store_rollback(struct store_tx *tx);

struct store *store_tx_store(const struct store_tx *tx);
enum store_backend store_tx_backend(const struct store_tx *tx);

/*
 * Takes a lock on an arbitrary text key until tx ends: PostgreSQL
 * pg_advisory_xact_lock on a 64-bit hash of key (waits across processes);
 * on SQLite the write transaction already excludes every other writer, so
 * it returns at once. Used for single-flight work such as token refreshes.
 */
int store_lock_key(struct store_tx *tx, const char *key, struct error *err);

/* " FOR UPDATE" on PostgreSQL, "" on SQLite, to append to a SELECT. */
const char *store_for_update(const struct store_tx *tx);

/* ------------------------------------------------------------------ */
/* SQL                                                                 */
/* ------------------------------------------------------------------ */

enum store_type { STORE_TYPE_NULL, STORE_TYPE_INT, STORE_TYPE_TEXT };

/* A parameter value; build it with the macros below. */
struct store_value {
    enum store_type type;
    int64_t i;
    const char *text; /* borrowed; NULL binds SQL NULL */
};

#define STORE_INT(v) ((struct store_value){.type = STORE_TYPE_INT, .i = (v)})
#define STORE_TEXT(v)                                                          \
    ((struct store_value){.type = STORE_TYPE_TEXT, .text = (v)})
#define STORE_NULL ((struct store_value){.type = STORE_TYPE_NULL})

/*
 * Expands to "array, count" for the params/count arguments:
 *   store_run(tx, "UPDATE t SET a = ? WHERE id = ?",
 *             STORE_ARGS(STORE_TEXT(a), STORE_INT(id)), &changes, err);
 */
#define STORE_ARGS(...)                                                        \
    ((const struct store_value[]){__VA_ARGS__}),                               \
        (sizeof((const struct store_value[]){__VA_ARGS__}) /                   \
         sizeof(struct store_value))
#define STORE_NO_ARGS NULL, 0

/*
 * Runs one statement to completion. changes (may be NULL) receives the
 * number of rows inserted, updated or deleted. A unique-constraint
 * violation fails with ERR_CONFLICT.
 */
int store_run(struct store_tx *tx, const char *sql,
              const struct store_value *params, size_t count, int64_t *changes,
              struct error *err);

/*
 * Runs sql, which may hold several statements and no parameters
 * (migrations, DDL in tests).
 */
int store_exec(struct store_tx *tx, const char *sql, struct error *err);

/*
 * Prepares sql with its parameters for store_step(). Returns NULL with err
 * set on failure. Free it with store_finalize() before tx ends.
 */
struct store_stmt *store_query(struct store_tx *tx, const char *sql,
                               const struct store_value *params, size_t count,
                               struct error *err);

/* Moves to the next row: 1 when there is one, 0 at the end, -1 on error. */
int store_step(struct store_stmt *stmt, struct error *err);

/* Column values of the current row; columns count from 0. */
int64_t store_column_int(struct store_stmt *stmt, int column);
int store_column_is_null(struct store_stmt *stmt, int column);
/* Borrowed until the next store_step(); NULL for SQL NULL. */
const char *store_column_text(struct store_stmt *stmt, int column);
/* A malloc'd copy of the text, or NULL for SQL NULL. */
char *store_column_dup(struct store_stmt *stmt, int column);

/* Rows changed by the statement, after store_step() returned 0. */
int64_t store_changes(struct store_stmt *stmt);

/* Accepts NULL. */
void store_finalize(struct store_stmt *stmt);

/*
 * One-value queries: run sql and read column 0 of the first row. Return 1
 * when a row came back, 0 when none (out untouched), -1 on error. For
 * store_query_text the caller frees *out; a NULL column gives *out NULL.
 */
int store_query_int(struct store_tx *tx, const char *sql,
                    const struct store_value *params, size_t count,
                    int64_t *out, struct error *err);
int store_query_text(struct store_tx *tx, const char *sql,
                     const struct store_value *params, size_t count, char **out,
                     struct error *err);

/* ------------------------------------------------------------------ */
/* Wake-ups                                                            */
/* ------------------------------------------------------------------ */

/*
 * Queues a wake-up on channel (a lower-case SQL identifier) that is sent
 * when tx commits: to waiters in this process on both backends, and with
 * PostgreSQL NOTIFY to every process that listens. Dropped on rollback.
 */
int store_notify(struct store_tx *tx, const char *channel, struct error *err);

/*
 * Starts listening on channel for wake-ups from other processes. On
 * PostgreSQL a dedicated connection and thread run LISTEN. On SQLite it
 * does nothing, because other processes are only seen by polling.
 * Thread-safe.
 */
int store_listen(struct store *st, const char *channel, struct error *err);

/*
 * A counter that grows with each wake-up received on any channel. Read it
 * before looking for work, then pass it to store_wait_wakeup(), so that a
 * wake-up between the two is not missed.
 */
uint64_t store_wakeup_count(struct store *st);

/*
 * Waits up to timeout_ms of real time for the wake-up counter to move past
 * seen. Returns 1 when it did, 0 on timeout. Thread-safe.
 */
int store_wait_wakeup(struct store *st, uint64_t seen, int64_t timeout_ms);

/* Wakes every waiter of store_wait_wakeup() now (shutdown). */
void store_wakeup_all(struct store *st);

/* ------------------------------------------------------------------ */
/* Migrations                                                          */
/* ------------------------------------------------------------------ */

/*
 * One schema change. sql is used on both backends unless sqlite or
 * postgres is set for that backend. Versions of a component start at 1
 * and go up by one; an applied migration must never be edited.
 */
struct store_migration {
    int version;
    const char *name;
    const char *sql;
    const char *sqlite;
    const char *postgres;
};

/*
 * The migrations of one component ("store", "products", ...), tracked
 * separately in the schema_migrations table so that modules can add
 * tables without sharing one version sequence.
 */
struct store_schema {
    const char *component;
    const struct store_migration *migrations;
    size_t count;
};

/*
 * Applies the store's own schema (instances, tokens, secrets, generations,
 * jobs, credits, effects) and then each schema in the NULL-ended list
 * (may be NULL), all in one transaction: a failed migration leaves the
 * database as it was. Processes that migrate at once take turns. Fails
 * with ERR_PERMANENT, changing nothing, when the database has a newer
 * version of a listed component than this program supports. applied (may be
 * NULL) receives how many migrations ran.
 */
int store_migrate(struct store *st, const struct store_schema *const *schemas,
                  int *applied, struct error *err);

/* The applied version of component (0 when none), via a new transaction. */
int store_schema_version(struct store *st, const char *component, int *version,
                         struct error *err);

/* The latest version of the store's own schema. */
int store_latest_version(void);

/* ------------------------------------------------------------------ */
/* Instances                                                           */
/* ------------------------------------------------------------------ */

struct store_instance {
    char instance_id[STORE_ID_MAX];
    char state[16]; /* "installed" or "removed" */
    char plan[64];  /* "" when free or unknown */
    char *settings; /* JSON object text (writer member id, site name,
                       catalog version, ...); owned, never NULL after get */
    int64_t created_at_ms;
    int64_t updated_at_ms;
};

/*
 * Inserts the instance or updates state and plan of an existing one.
 * settings (JSON object text) replaces the stored settings unless NULL;
 * a new instance without settings gets "{}".
 */
int store_instance_put(struct store_tx *tx, const char *instance_id,
                       const char *state, const char *plan,
                       const char *settings, struct error *err);

/* Reads an instance: 1 found, 0 not found. Free with store_instance_clear. */
int store_instance_get(struct store_tx *tx, const char *instance_id,
                       struct store_instance *out, struct error *err);

/* Replaces the settings JSON; ERR_NOT_FOUND for an unknown instance. */
int store_instance_set_settings(struct store_tx *tx, const char *instance_id,
                                const char *settings, struct error *err);

/* Frees the owned members; accepts a zeroed struct. */
void store_instance_clear(struct store_instance *instance);

/* ------------------------------------------------------------------ */
/* Cached access tokens and instance secrets (sealed at rest)          */
/* ------------------------------------------------------------------ */

/*
 * Stores the instance's current access token, sealed with the secret key
 * (ERR_INVALID when no key is set), replacing the previous one.
 */
int store_token_put(struct store_tx *tx, const char *instance_id,
                    const char *token, int64_t expires_at_ms,
                    int64_t obtained_at_ms, struct error *err);

/*
 * Reads the cached token: 1 found (*token is a new string the caller frees
 * after sodium_memzero or free), 0 none. expires_at_ms and obtained_at_ms
 * may be NULL. A token that no longer opens with the key fails with
 * ERR_PERMANENT.
 */
int store_token_get(struct store_tx *tx, const char *instance_id, char **token,
                    int64_t *expires_at_ms, int64_t *obtained_at_ms,
                    struct error *err);

int store_token_delete(struct store_tx *tx, const char *instance_id,
                       struct error *err);

/* Stores a named secret of an instance (e.g. "refresh_token"), sealed. */
int store_secret_put(struct store_tx *tx, const char *instance_id,
                     const char *name, const char *value, struct error *err);

/* Reads a secret: 1 found (*value is new, caller frees), 0 none. */
int store_secret_get(struct store_tx *tx, const char *instance_id,
                     const char *name, char **value, struct error *err);

/* Deletes one secret, or all of the instance's secrets when name is NULL. */
int store_secret_delete(struct store_tx *tx, const char *instance_id,
                        const char *name, struct error *err);

/* ------------------------------------------------------------------ */
/* Generations                                                         */
/* ------------------------------------------------------------------ */

struct store_generation {
    char id[STORE_UUID_SIZE];
    char instance_id[STORE_ID_MAX];
    char kind[16];                   /* "blog", "product", "image" */
    char parent_id[STORE_UUID_SIZE]; /* batch parent, "" when none */
    char state[32];                  /* owned by the pipelines */
    char *input;                     /* JSON text, never NULL after get */
    char *checkpoints;               /* JSON object: step name -> output */
    char *result;                    /* JSON text or NULL */
    char *wix_ids;                   /* JSON object: name -> Wix id */
    int64_t credits_reserved;
    int64_t credits_charged;
    char error_kind[32]; /* error_kind_name(), "" when none */
    char *error_message; /* NULL when none */
    int64_t created_at_ms;
    int64_t updated_at_ms;
};

/*
 * Inserts a generation with the given instance, kind, parent (NULL for
 * none), state and input JSON (NULL means "{}"), and writes its new UUID
 * into id_out.
 */
int store_generation_create(struct store_tx *tx, const char *instance_id,
                            const char *kind, const char *parent_id,
                            const char *state, const char *input,
                            char id_out[STORE_UUID_SIZE], struct error *err);

/*
 * Reads a generation: 1 found, 0 not found. With for_update set, locks the
 * row until tx ends (PostgreSQL; SQLite's write transaction already
 * excludes other writers). Free with store_generation_clear().
 */
int store_generation_get(struct store_tx *tx, const char *id, int for_update,
                         struct store_generation *out, struct error *err);

/*
 * Sets the state. With expected not NULL, only when the current state is
 * expected: returns 1 when changed, 0 when the state was different.
 * ERR_NOT_FOUND for an unknown id.
 */
int store_generation_set_state(struct store_tx *tx, const char *id,
                               const char *expected, const char *state,
                               struct error *err);

/* Stores output (JSON text) as checkpoints[step], replacing an older one. */
int store_generation_checkpoint(struct store_tx *tx, const char *id,
                                const char *step, const char *output,
                                struct error *err);

/*
 * Reads checkpoints[step]: 1 found (*output is new JSON text the caller
 * frees), 0 when that step has no checkpoint yet.
 */
int store_generation_get_checkpoint(struct store_tx *tx, const char *id,
                                    const char *step, char **output,
                                    struct error *err);

/* Sets the result JSON (NULL clears it). */
int store_generation_set_result(struct store_tx *tx, const char *id,
                                const char *result, struct error *err);

/* Stores wix_ids[name] = value (e.g. "draftPostId"). */
int store_generation_set_wix_id(struct store_tx *tx, const char *id,
                                const char *name, const char *value,
                                struct error *err);

/* Records the error that failed the generation; NULL cause clears it. */
int store_generation_set_error(struct store_tx *tx, const char *id,
                               const struct error *cause, struct error *err);

/*
 * Lists generations of an instance, newest first, optionally only of one
 * kind and/or one parent (NULL for any). *out is a new array of *count
 * entries; free it with store_generation_list_free().
 */
int store_generation_list(struct store_tx *tx, const char *instance_id,
                          const char *kind, const char *parent_id, int limit,
                          int offset, struct store_generation **out,
                          size_t *count, struct error *err);

void store_generation_clear(struct store_generation *generation);
void store_generation_list_free(struct store_generation *list, size_t count);

/* A generation's identity and state, as the dashboard's live updates
 * send it. */
struct store_generation_change {
    char id[STORE_UUID_SIZE];
    char kind[16];
    char parent_id[STORE_UUID_SIZE]; /* "" when none */
    char state[32];
    int64_t updated_at_ms;
};

/*
 * Lists up to limit generations of an instance whose updated_at is after
 * since_ms, oldest change first (ties by id). *out is a new array of
 * *count entries that the caller frees with free().
 * NOTE: generations has no index on updated_at, so this scans the
 * instance's rows through generations_by_instance.
 */
int store_generation_changes(struct store_tx *tx, const char *instance_id,
                             int64_t since_ms, int limit,
                             struct store_generation_change **out,
                             size_t *count, struct error *err);

/* ------------------------------------------------------------------ */
/* Credits                                                             */
/* ------------------------------------------------------------------ */

/*
 * The credit ledger has one row per operation, and the balance row beside
 * it changes in the same transaction. A conditional update and a CHECK
 * constraint keep available at zero or above. Reserve, capture and release
 * apply at most once per generation: a repeated call returns 0 and changes
 * nothing.
 */
struct store_credits {
    int64_t available; /* what new generations can reserve */
    int64_t reserved;  /* held by generations that have not ended */
};

/* Reads the balance; an instance with no ledger has zero of both. */
int store_credits_get(struct store_tx *tx, const char *instance_id,
                      struct store_credits *out, struct error *err);

/*
 * Adds amount (> 0) to available. reference identifies the grant (billing
 * event id, operator note id): a second grant with the same instance and
 * reference returns 0 and adds nothing. note is free text or NULL.
 */
int store_credits_grant(struct store_tx *tx, const char *instance_id,
                        int64_t amount, const char *reference, const char *note,
                        struct error *err);

/*
 * Moves amount (>= 0) from available to reserved for the generation and
 * records it on the generation row. Returns 1, or 0 when this generation
 * already reserved. Fails with ERR_INSUFFICIENT_CREDITS ("insufficient
 * credits: balance B, cost C") when available < amount, changing nothing.
 */
int store_credits_reserve(struct store_tx *tx, const char *instance_id,
                          const char *generation_id, int64_t amount,
                          struct error *err);

/*
 * Charges the generation's reservation: reserved goes down by the reserved
 * amount and the generation's credits_charged is set. Returns 1, or 0 when
 * already captured. ERR_CONFLICT when the reservation was released or
 * never made.
 */
int store_credits_capture(struct store_tx *tx, const char *generation_id,
                          struct error *err);

/*
 * Returns the generation's reservation to available. Returns 1, or 0 when
 * already released or when there was no reservation. ERR_CONFLICT when it
 * was already captured.
 */
int store_credits_release(struct store_tx *tx, const char *generation_id,
                          struct error *err);

/* Credits charged on one day for one kind of generation. */
struct store_credit_day {
    int64_t day;   /* days since 1970-01-01 in the requested time zone */
    char kind[16]; /* the generation's kind: "blog", "product", ... */
    int64_t amount;
};

/*
 * Sums the instance's captured credits (what was charged) per day and per
 * generation kind, for captures at or after since_ms. A day starts at
 * midnight of the time zone utc_offset_ms east of UTC. *out is a new array
 * of *count entries ordered by day and kind; the caller frees it with
 * free(). A capture whose generation is gone counts under kind "".
 */
int store_credits_usage(struct store_tx *tx, const char *instance_id,
                        int64_t since_ms, int64_t utc_offset_ms,
                        struct store_credit_day **out, size_t *count,
                        struct error *err);

/* ------------------------------------------------------------------ */
/* Effects: exactly-once side effects on remote services               */
/* ------------------------------------------------------------------ */

/*
 * The pattern: before creating something remotely, store_effect_begin()
 * with a key naming it ("gen/<id>/draft-post") and commit. On 1 (new) or
 * on 0 with remote_id NULL (an earlier attempt may have created it and
 * died), look for it remotely before creating it. After creating it,
 * store_effect_done() with the remote id, in the transaction that writes
 * the step's checkpoint.
 */
struct store_effect {
    char key[STORE_ID_MAX * 2];
    char instance_id[STORE_ID_MAX];
    char generation_id[STORE_UUID_SIZE]; /* "" when none */
    char *remote_id;                     /* NULL until done */
    int attempts;                        /* times begun */
    int64_t created_at_ms;
    int64_t updated_at_ms;
};

/*
 * Records the intent to create the effect named key. Returns 1 when it is
 * new, 0 when it existed (then out, when not NULL, contains it and attempts
 * has grown by one). generation_id may be NULL. Free out with
 * store_effect_clear().
 */
int store_effect_begin(struct store_tx *tx, const char *key,
                       const char *instance_id, const char *generation_id,
                       struct store_effect *out, struct error *err);

/* Records the remote id of a begun effect; ERR_NOT_FOUND when not begun. */
int store_effect_done(struct store_tx *tx, const char *key,
                      const char *remote_id, struct error *err);

/* Reads an effect: 1 found, 0 not. */
int store_effect_get(struct store_tx *tx, const char *key,
                     struct store_effect *out, struct error *err);

void store_effect_clear(struct store_effect *effect);

#endif
