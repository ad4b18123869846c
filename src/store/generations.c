/*
 * Generations: what the owner sees (one post, one product rewrite, one
 * image), with the checkpointed output of each step.
 */
#include "store/store_internal.h"

#include "core/clock.h"
#include "core/json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define GENERATION_COLUMNS                                                     \
    "id, instance_id, kind, parent_id, state, input, checkpoints, result, "    \
    "wix_ids, credits_reserved, credits_charged, error_kind, "                 \
    "error_message, created_at, updated_at"

static int check_json(const char *text, const char *what, struct error *err)
{
    json_error_t parse_error;
    json_t *value = json_loads(text, JSON_DECODE_ANY, &parse_error);

    if (!value)
        return error_set(
            err, ERR_INVALID, "%s is not valid JSON (line %d, column %d: %s)",
            what, parse_error.line, parse_error.column, parse_error.text);
    json_decref(value);
    return 0;
}

int store_generation_create(struct store_tx *tx, const char *instance_id,
                            const char *kind, const char *parent_id,
                            const char *state, const char *input,
                            char id_out[STORE_UUID_SIZE], struct error *err)
{
    int64_t now = clock_now_ms();
    char id[STORE_UUID_SIZE];

    if (input && check_json(input, "generation input", err) != 0)
        return -1;
    crypto_uuid(id);
    if (store_run(tx,
                  "INSERT INTO generations (id, instance_id, kind, "
                  "parent_id, state, input, created_at, updated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  STORE_ARGS(STORE_TEXT(id), STORE_TEXT(instance_id),
                             STORE_TEXT(kind), STORE_TEXT(parent_id),
                             STORE_TEXT(state),
                             STORE_TEXT(input ? input : "{}"), STORE_INT(now),
                             STORE_INT(now)),
                  NULL, err) != 0)
        return -1;
    memcpy(id_out, id, STORE_UUID_SIZE);
    return 0;
}

static int read_generation(struct store_stmt *stmt, struct store_generation *g,
                           struct error *err)
{
    memset(g, 0, sizeof(*g));
    store_copy(g->id, sizeof(g->id), store_column_text(stmt, 0));
    store_copy(g->instance_id, sizeof(g->instance_id),
               store_column_text(stmt, 1));
    store_copy(g->kind, sizeof(g->kind), store_column_text(stmt, 2));
    store_copy(g->parent_id, sizeof(g->parent_id), store_column_text(stmt, 3));
    store_copy(g->state, sizeof(g->state), store_column_text(stmt, 4));
    g->input = store_column_dup(stmt, 5);
    g->checkpoints = store_column_dup(stmt, 6);
    g->result = store_column_dup(stmt, 7);
    g->wix_ids = store_column_dup(stmt, 8);
    g->credits_reserved = store_column_int(stmt, 9);
    g->credits_charged = store_column_int(stmt, 10);
    store_copy(g->error_kind, sizeof(g->error_kind),
               store_column_text(stmt, 11));
    g->error_message = store_column_dup(stmt, 12);
    g->created_at_ms = store_column_int(stmt, 13);
    g->updated_at_ms = store_column_int(stmt, 14);
    if (!g->input || !g->checkpoints || !g->wix_ids) {
        store_generation_clear(g);
        return error_set(err, ERR_PERMANENT, "out of memory");
    }
    return 0;
}

int store_generation_get(struct store_tx *tx, const char *id, int for_update,
                         struct store_generation *out, struct error *err)
{
    char sql[512];
    struct store_stmt *stmt;
    int rc;

    snprintf(sql, sizeof(sql),
             "SELECT " GENERATION_COLUMNS " FROM generations WHERE id = ?%s",
             for_update ? store_for_update(tx) : "");
    memset(out, 0, sizeof(*out));
    stmt = store_query(tx, sql, STORE_ARGS(STORE_TEXT(id)), err);
    if (!stmt)
        return -1;
    rc = store_step(stmt, err);
    if (rc == 1 && read_generation(stmt, out, err) != 0)
        rc = -1;
    store_finalize(stmt);
    return rc;
}

static int not_found(const char *id, struct error *err)
{
    return error_set(err, ERR_NOT_FOUND, "generation \"%s\" not found", id);
}

int store_generation_set_state(struct store_tx *tx, const char *id,
                               const char *expected, const char *state,
                               struct error *err)
{
    int64_t changes = 0;
    int64_t exists = 0;

    if (store_run(tx,
                  "UPDATE generations SET state = ?, updated_at = ? "
                  "WHERE id = ? AND (CAST(? AS TEXT) IS NULL OR state = ?)",
                  STORE_ARGS(STORE_TEXT(state), STORE_INT(clock_now_ms()),
                             STORE_TEXT(id), STORE_TEXT(expected),
                             STORE_TEXT(expected)),
                  &changes, err) != 0)
        return -1;
    if (changes > 0)
        return 1;
    if (store_query_int(tx, "SELECT COUNT(*) FROM generations WHERE id = ?",
                        STORE_ARGS(STORE_TEXT(id)), &exists, err) < 0)
        return -1;
    return exists ? 0 : not_found(id, err);
}

/* Reads a JSON object column of the generation, locking the row. */
static json_t *load_object(struct store_tx *tx, const char *id,
                           const char *column, struct error *err)
{
    char sql[256];
    char *text = NULL;
    json_t *object;
    int rc;

    snprintf(sql, sizeof(sql), "SELECT %s FROM generations WHERE id = ?%s",
             column, store_for_update(tx));
    rc = store_query_text(tx, sql, STORE_ARGS(STORE_TEXT(id)), &text, err);
    if (rc <= 0) {
        if (rc == 0)
            not_found(id, err);
        return NULL;
    }
    object = json_parse(text, strlen(text), 0, err);
    free(text);
    if (object && !json_is_object(object)) {
        json_decref(object);
        error_set(err, ERR_PERMANENT, "generation %s: %s is not an object", id,
                  column);
        return NULL;
    }
    return object;
}

/* Sets object[key] = value in a JSON object column; value is JSON text. */
static int merge_into(struct store_tx *tx, const char *id, const char *column,
                      const char *key, const char *value, struct error *err)
{
    char sql[256];
    json_t *object = load_object(tx, id, column, err);
    json_t *parsed;
    char *text;
    int rc;

    if (!object)
        return -1;
    parsed = json_loads(value, JSON_DECODE_ANY, NULL);
    if (!parsed || json_object_set_new(object, key, parsed) != 0) {
        json_decref(object);
        return error_set(err, ERR_INVALID,
                         "value for %s \"%s\" is not valid JSON", column, key);
    }
    text = json_to_string(object);
    json_decref(object);
    if (!text)
        return error_set(err, ERR_PERMANENT, "out of memory");
    snprintf(sql, sizeof(sql),
             "UPDATE generations SET %s = ?, updated_at = ? WHERE id = ?",
             column);
    rc = store_run(
        tx, sql,
        STORE_ARGS(STORE_TEXT(text), STORE_INT(clock_now_ms()), STORE_TEXT(id)),
        NULL, err);
    free(text);
    return rc;
}

int store_generation_checkpoint(struct store_tx *tx, const char *id,
                                const char *step, const char *output,
                                struct error *err)
{
    return merge_into(tx, id, "checkpoints", step, output, err);
}

int store_generation_get_checkpoint(struct store_tx *tx, const char *id,
                                    const char *step, char **output,
                                    struct error *err)
{
    json_t *object = load_object(tx, id, "checkpoints", err);
    json_t *value;

    if (!object)
        return -1;
    value = json_object_get(object, step);
    if (!value) {
        json_decref(object);
        return 0;
    }
    *output = json_to_string(value);
    json_decref(object);
    if (!*output)
        return error_set(err, ERR_PERMANENT, "out of memory");
    return 1;
}

int store_generation_set_wix_id(struct store_tx *tx, const char *id,
                                const char *name, const char *value,
                                struct error *err)
{
    json_t *string = json_string(value);
    char *text = string ? json_to_string(string) : NULL;
    int rc;

    json_decref(string);
    if (!text)
        return error_set(err, ERR_INVALID,
                         "Wix id for \"%s\" is not valid UTF-8", name);
    rc = merge_into(tx, id, "wix_ids", name, text, err);
    free(text);
    return rc;
}

/* Runs an UPDATE of one generation; ERR_NOT_FOUND when no row matched. */
static int update_one(struct store_tx *tx, const char *id, const char *sql,
                      const struct store_value *params, size_t count,
                      struct error *err)
{
    int64_t changes = 0;

    if (store_run(tx, sql, params, count, &changes, err) != 0)
        return -1;
    return changes > 0 ? 0 : not_found(id, err);
}

int store_generation_set_result(struct store_tx *tx, const char *id,
                                const char *result, struct error *err)
{
    if (result && check_json(result, "generation result", err) != 0)
        return -1;
    return update_one(tx, id,
                      "UPDATE generations SET result = ?, updated_at = ? "
                      "WHERE id = ?",
                      STORE_ARGS(STORE_TEXT(result), STORE_INT(clock_now_ms()),
                                 STORE_TEXT(id)),
                      err);
}

int store_generation_set_error(struct store_tx *tx, const char *id,
                               const struct error *cause, struct error *err)
{
    return update_one(
        tx, id,
        "UPDATE generations SET error_kind = ?, error_message = ?, "
        "updated_at = ? WHERE id = ?",
        STORE_ARGS(STORE_TEXT(cause ? error_kind_name(cause->kind) : ""),
                   STORE_TEXT(cause ? cause->message : NULL),
                   STORE_INT(clock_now_ms()), STORE_TEXT(id)),
        err);
}

static int append_generation(struct store_stmt *stmt,
                             struct store_generation **list, size_t *count,
                             size_t *capacity, struct error *err)
{
    if (*count == *capacity) {
        size_t grown = *capacity ? *capacity * 2 : 16;
        struct store_generation *bigger =
            realloc(*list, grown * sizeof(**list));

        if (!bigger)
            return error_set(err, ERR_PERMANENT, "out of memory");
        *list = bigger;
        *capacity = grown;
    }
    if (read_generation(stmt, &(*list)[*count], err) != 0)
        return -1;
    (*count)++;
    return 0;
}

int store_generation_list(struct store_tx *tx, const char *instance_id,
                          const char *kind, const char *parent_id, int limit,
                          int offset, struct store_generation **out,
                          size_t *count, struct error *err)
{
    struct store_generation *list = NULL;
    size_t used = 0;
    size_t capacity = 0;
    struct store_stmt *stmt;
    int rc;

    stmt = store_query(
        tx,
        "SELECT " GENERATION_COLUMNS " FROM generations "
        "WHERE instance_id = ? AND (CAST(? AS TEXT) IS NULL OR kind = ?) "
        "AND (CAST(? AS TEXT) IS NULL OR parent_id = ?) "
        "ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
        STORE_ARGS(STORE_TEXT(instance_id), STORE_TEXT(kind), STORE_TEXT(kind),
                   STORE_TEXT(parent_id), STORE_TEXT(parent_id),
                   STORE_INT(limit > 0 ? limit : 100),
                   STORE_INT(offset > 0 ? offset : 0)),
        err);
    if (!stmt)
        return -1;
    while ((rc = store_step(stmt, err)) == 1) {
        if (append_generation(stmt, &list, &used, &capacity, err) != 0) {
            rc = -1;
            break;
        }
    }
    store_finalize(stmt);
    if (rc != 0) {
        store_generation_list_free(list, used);
        return -1;
    }
    *out = list;
    *count = used;
    return 0;
}

void store_generation_clear(struct store_generation *g)
{
    free(g->input);
    free(g->checkpoints);
    free(g->result);
    free(g->wix_ids);
    free(g->error_message);
    g->input = g->checkpoints = g->result = g->wix_ids = NULL;
    g->error_message = NULL;
}

void store_generation_list_free(struct store_generation *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        store_generation_clear(&list[i]);
    free(list);
}
