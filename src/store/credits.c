/*
 * Credits: a ledger of grants, reservations, captures and releases, and a
 * balance row changed in the same transaction. The CHECK constraints on
 * credit_balances keep both amounts at zero or above even if a caller gets
 * the order wrong; the conditional UPDATE in reserve is what keeps
 * concurrent reservations from overdrawing.
 */
#include "store/store_internal.h"

#include "core/clock.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int store_credits_get(struct store_tx *tx, const char *instance_id,
                      struct store_credits *out, struct error *err)
{
    struct store_stmt *stmt =
        store_query(tx,
                    "SELECT available, reserved FROM credit_balances "
                    "WHERE instance_id = ?",
                    STORE_ARGS(STORE_TEXT(instance_id)), err);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!stmt)
        return -1;
    rc = store_step(stmt, err);
    if (rc == 1) {
        out->available = store_column_int(stmt, 0);
        out->reserved = store_column_int(stmt, 1);
    }
    store_finalize(stmt);
    return rc < 0 ? -1 : 0;
}

/* Appends a ledger row; 1 when written, 0 when the same one exists. */
static int ledger_insert(struct store_tx *tx, const char *instance_id,
                         const char *generation_id, const char *kind,
                         int64_t amount, const char *reference,
                         const char *note, struct error *err)
{
    int64_t changes = 0;

    if (store_run(tx,
                  "INSERT INTO credit_ledger (instance_id, generation_id, "
                  "kind, amount, reference, note, created_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                  STORE_ARGS(STORE_TEXT(instance_id), STORE_TEXT(generation_id),
                             STORE_TEXT(kind), STORE_INT(amount),
                             STORE_TEXT(reference), STORE_TEXT(note),
                             STORE_INT(clock_now_ms())),
                  &changes, err) != 0)
        return -1;
    return changes > 0;
}

int store_credits_grant(struct store_tx *tx, const char *instance_id,
                        int64_t amount, const char *reference, const char *note,
                        struct error *err)
{
    int rc;

    if (amount <= 0)
        return error_set(err, ERR_INVALID,
                         "credit grant of %" PRId64
                         " is invalid: expected a positive amount",
                         amount);
    if (!reference || !reference[0])
        return error_set(err, ERR_INVALID,
                         "credit grant needs a reference (billing event or "
                         "operator note id) so that it is applied once");
    rc = ledger_insert(tx, instance_id, NULL, "grant", amount, reference, note,
                       err);
    if (rc <= 0)
        return rc;
    if (store_run(tx,
                  "INSERT INTO credit_balances (instance_id, available, "
                  "reserved, updated_at) VALUES (?, ?, 0, ?) "
                  "ON CONFLICT (instance_id) DO UPDATE SET "
                  "available = credit_balances.available + excluded.available, "
                  "updated_at = excluded.updated_at",
                  STORE_ARGS(STORE_TEXT(instance_id), STORE_INT(amount),
                             STORE_INT(clock_now_ms())),
                  NULL, err) != 0)
        return -1;
    return 1;
}

/* Undoes a reservation row written in this transaction and explains why. */
static int insufficient(struct store_tx *tx, const char *instance_id,
                        const char *generation_id, int64_t amount,
                        struct error *err)
{
    struct store_credits balance;

    if (store_run(tx,
                  "DELETE FROM credit_ledger WHERE generation_id = ? AND "
                  "kind = 'reserve'",
                  STORE_ARGS(STORE_TEXT(generation_id)), NULL, err) != 0 ||
        store_credits_get(tx, instance_id, &balance, err) != 0)
        return -1;
    error_set(err, ERR_INSUFFICIENT_CREDITS,
              "insufficient credits: balance %" PRId64 ", cost %" PRId64,
              balance.available, amount);
    snprintf(err->code, sizeof(err->code), "insufficient_credits");
    return -1;
}

int store_credits_reserve(struct store_tx *tx, const char *instance_id,
                          const char *generation_id, int64_t amount,
                          struct error *err)
{
    int64_t now = clock_now_ms();
    int64_t changes = 0;
    int rc;

    if (amount < 0)
        return error_set(err, ERR_INVALID,
                         "credit reservation of %" PRId64
                         " is invalid: expected zero or more",
                         amount);
    rc = ledger_insert(tx, instance_id, generation_id, "reserve", amount, NULL,
                       NULL, err);
    if (rc <= 0)
        return rc;

    /* The balance may go down only while it covers the amount; on
     * PostgreSQL the row lock makes concurrent reservations re-check. */
    if (store_run(tx,
                  "INSERT INTO credit_balances (instance_id, available, "
                  "reserved, updated_at) VALUES (?, 0, 0, ?) "
                  "ON CONFLICT (instance_id) DO NOTHING",
                  STORE_ARGS(STORE_TEXT(instance_id), STORE_INT(now)), NULL,
                  err) != 0 ||
        store_run(tx,
                  "UPDATE credit_balances SET available = available - ?, "
                  "reserved = reserved + ?, updated_at = ? "
                  "WHERE instance_id = ? AND available >= ?",
                  STORE_ARGS(STORE_INT(amount), STORE_INT(amount),
                             STORE_INT(now), STORE_TEXT(instance_id),
                             STORE_INT(amount)),
                  &changes, err) != 0)
        return -1;
    if (changes == 0)
        return insufficient(tx, instance_id, generation_id, amount, err);

    if (store_run(tx,
                  "UPDATE generations SET credits_reserved = ?, "
                  "updated_at = ? WHERE id = ?",
                  STORE_ARGS(STORE_INT(amount), STORE_INT(now),
                             STORE_TEXT(generation_id)),
                  NULL, err) != 0)
        return -1;
    return 1;
}

struct reservation {
    char instance_id[STORE_ID_MAX];
    int64_t amount;
    int captured;
    int released;
};

/*
 * Reads the generation's reservation and what happened to it, locking the
 * reservation row so that a concurrent capture and release take turns.
 * Returns 1 when there is one, 0 when not.
 */
static int read_reservation(struct store_tx *tx, const char *generation_id,
                            struct reservation *out, struct error *err)
{
    char sql[256];
    struct store_stmt *stmt;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(sql, sizeof(sql),
             "SELECT instance_id, amount FROM credit_ledger "
             "WHERE generation_id = ? AND kind = 'reserve'%s",
             store_for_update(tx));
    stmt = store_query(tx, sql, STORE_ARGS(STORE_TEXT(generation_id)), err);
    if (!stmt)
        return -1;
    rc = store_step(stmt, err);
    if (rc == 1) {
        store_copy(out->instance_id, sizeof(out->instance_id),
                   store_column_text(stmt, 0));
        out->amount = store_column_int(stmt, 1);
    }
    store_finalize(stmt);
    if (rc != 1)
        return rc;

    stmt = store_query(tx,
                       "SELECT kind FROM credit_ledger WHERE generation_id = "
                       "? AND kind IN ('capture', 'release')",
                       STORE_ARGS(STORE_TEXT(generation_id)), err);
    if (!stmt)
        return -1;
    while ((rc = store_step(stmt, err)) == 1) {
        const char *kind = store_column_text(stmt, 0);

        out->captured |= strcmp(kind, "capture") == 0;
        out->released |= strcmp(kind, "release") == 0;
    }
    store_finalize(stmt);
    return rc < 0 ? -1 : 1;
}

int store_credits_capture(struct store_tx *tx, const char *generation_id,
                          struct error *err)
{
    struct reservation r;
    int64_t now = clock_now_ms();
    int rc = read_reservation(tx, generation_id, &r, err);

    if (rc < 0)
        return -1;
    if (rc == 0)
        return error_set(err, ERR_CONFLICT,
                         "generation %s has no credit reservation to capture",
                         generation_id);
    if (r.released)
        return error_set(err, ERR_CONFLICT,
                         "credits of generation %s were already released",
                         generation_id);
    if (r.captured)
        return 0;
    if (ledger_insert(tx, r.instance_id, generation_id, "capture", r.amount,
                      NULL, NULL, err) < 0 ||
        store_run(tx,
                  "UPDATE credit_balances SET reserved = reserved - ?, "
                  "updated_at = ? WHERE instance_id = ?",
                  STORE_ARGS(STORE_INT(r.amount), STORE_INT(now),
                             STORE_TEXT(r.instance_id)),
                  NULL, err) != 0 ||
        store_run(tx,
                  "UPDATE generations SET credits_charged = ?, "
                  "updated_at = ? WHERE id = ?",
                  STORE_ARGS(STORE_INT(r.amount), STORE_INT(now),
                             STORE_TEXT(generation_id)),
                  NULL, err) != 0)
        return -1;
    return 1;
}

int store_credits_release(struct store_tx *tx, const char *generation_id,
                          struct error *err)
{
    struct reservation r;
    int rc = read_reservation(tx, generation_id, &r, err);

    if (rc <= 0)
        return rc;
    if (r.captured)
        return error_set(err, ERR_CONFLICT,
                         "credits of generation %s were already captured",
                         generation_id);
    if (r.released)
        return 0;
    if (ledger_insert(tx, r.instance_id, generation_id, "release", r.amount,
                      NULL, NULL, err) < 0 ||
        store_run(tx,
                  "UPDATE credit_balances SET available = available + ?, "
                  "reserved = reserved - ?, updated_at = ? "
                  "WHERE instance_id = ?",
                  STORE_ARGS(STORE_INT(r.amount), STORE_INT(r.amount),
                             STORE_INT(clock_now_ms()),
                             STORE_TEXT(r.instance_id)),
                  NULL, err) != 0)
        return -1;
    return 1;
}
