/*
 * The API's JSON views of campaigns and their posts (docs/openapi.yaml,
 * Campaign and CampaignPost). A running post's row keeps "running"; the
 * views read its generation to show how it ended.
 */
#include "pipelines/campaigns_internal.h"

#include "core/clock.h"
#include "pipelines/blog.h"
#include "pipelines/blog_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POST_LIMIT_MAX 500

static const char *const states[] = {
    CAMPAIGN_POST_SCHEDULED, CAMPAIGN_POST_RUNNING,
    CAMPAIGN_POST_DONE,      CAMPAIGN_POST_FAILED,
    CAMPAIGN_POST_MISSED,    CAMPAIGN_POST_SKIPPED_NO_CREDITS,
    CAMPAIGN_POST_CANCELLED,
};

/* The chosen idea's title, which the post keeps, from the checkpoints. */
static const char *title_sql(const struct store_tx *tx)
{
    return store_tx_backend(tx) == STORE_POSTGRES
               ? "(g.checkpoints::jsonb #>> '{selection,idea,title}')"
               : "json_extract(g.checkpoints, '$.selection.idea.title')";
}

/* Whether the generation publishes its post: "true" or 1 when it does. */
static const char *publish_sql(const struct store_tx *tx)
{
    return store_tx_backend(tx) == STORE_POSTGRES
               ? "(g.input::jsonb #>> '{options,publish}')"
               : "json_extract(g.input, '$.options.publish')";
}

/* The state shown to the owner: a running post takes its generation's end. */
static const char *shown_state(const char *stored, const char *generation)
{
    if (strcmp(stored, CAMPAIGN_POST_RUNNING) != 0 || !generation)
        return stored;
    if (strcmp(generation, BLOG_DONE) == 0)
        return CAMPAIGN_POST_DONE;
    if (strcmp(generation, BLOG_FAILED) == 0)
        return CAMPAIGN_POST_FAILED;
    if (strcmp(generation, BLOG_CANCELLED) == 0)
        return CAMPAIGN_POST_CANCELLED;
    return stored;
}

static json_t *time_view(int64_t ms)
{
    char text[32];

    if (ms <= 0)
        return json_null();
    clock_format_iso(ms, text);
    return json_string(text);
}

static json_t *text_or_null(const char *text)
{
    return text ? json_string(text) : json_null();
}

static json_t *parsed_or_null(const char *text)
{
    json_t *value = text ? json_loads(text, 0, NULL) : NULL;

    return value ? value : json_null();
}

/* ------------------------------------------------------------------ */
/* Posts                                                               */
/* ------------------------------------------------------------------ */

#define POST_COLUMNS                                                           \
    "p.id, p.slot, p.run_at, p.topic, p.idea, p.state, p.paused,"              \
    " p.generation_id, p.error_kind, p.error_message, p.fired_at,"             \
    " p.created_at, p.updated_at, g.state, g.result, g.error_kind,"            \
    " g.error_message, "

/* {id, url, published} once the generation made its post. */
static json_t *made_post_view(const char *result_text)
{
    json_t *result = parsed_or_null(result_text);
    const char *id =
        json_string_value(json_object_get(result, "draft_post_id"));
    json_t *view;

    if (!id) {
        json_decref(result);
        return json_null();
    }
    view = json_pack("{s:s, s:O}", "id", id, "url",
                     json_object_get(result, "draft_url")
                         ? json_object_get(result, "draft_url")
                         : json_null());
    json_decref(result);
    return view ? view : json_null();
}

static json_t *error_view(struct store_stmt *stmt, const char *state)
{
    const char *kind = store_column_text(stmt, 8);
    const char *message = store_column_text(stmt, 9);

    if (strcmp(state, CAMPAIGN_POST_FAILED) == 0 && !message) {
        kind = store_column_text(stmt, 15);
        message = store_column_text(stmt, 16);
    }
    if (!message)
        return json_null();
    return json_pack("{s:s, s:s}", "kind", kind && kind[0] ? kind : "permanent",
                     "message", message);
}

static json_t *post_view(struct store_stmt *stmt, const struct campaign *c,
                         const struct campaigns_tz *tz)
{
    const char *publish = store_column_text(stmt, 18);
    const char *stored = store_column_text(stmt, 5);
    const char *generation_state = store_column_text(stmt, 13);
    const char *state = shown_state(stored, generation_state);
    int64_t run_at_ms = store_column_int(stmt, 2);
    char local[CAMPAIGN_SLOT_SIZE];
    json_t *result_post = strcmp(state, CAMPAIGN_POST_DONE) == 0
                              ? made_post_view(store_column_text(stmt, 14))
                              : json_null();

    if (json_is_object(result_post))
        json_object_set_new(
            result_post, "published",
            json_boolean(publish && (strcmp(publish, "true") == 0 ||
                                     strcmp(publish, "1") == 0)));
    campaigns_slot_format(campaigns_tz_to_local(tz, run_at_ms / 1000), local);
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:o,"
        " s:o, s:o, s:o, s:o, s:o}",
        "id", store_column_text(stmt, 0), "campaign_id", c->id,
        "requested_local_time", store_column_text(stmt, 1), "local_time", local,
        "scheduled_at", time_view(run_at_ms), "time_zone", c->time_zone,
        "state", state, "paused", store_column_int(stmt, 6) != 0, "topic",
        text_or_null(store_column_text(stmt, 3)), "idea",
        parsed_or_null(store_column_text(stmt, 4)), "generation_id",
        text_or_null(store_column_text(stmt, 7)), "step",
        strcmp(state, CAMPAIGN_POST_RUNNING) == 0
            ? text_or_null(generation_state)
            : json_null(),
        "title", text_or_null(store_column_text(stmt, 17)), "post", result_post,
        "error", error_view(stmt, state), "fired_at",
        time_view(store_column_is_null(stmt, 10) ? 0
                                                 : store_column_int(stmt, 10)),
        "created_at", time_view(store_column_int(stmt, 11)), "updated_at",
        time_view(store_column_int(stmt, 12)));
}

/* Appends the filter's SQL for a shown state to sql; returns 1 when it
 * takes the state as a parameter. */
static int state_condition(char *sql, size_t size, const char *state)
{
    size_t used = strlen(sql);
    const char *condition;
    int takes_state = 0;

    if (strcmp(state, CAMPAIGN_POST_RUNNING) == 0)
        condition = " AND p.state = 'running' AND (g.state IS NULL OR"
                    " g.state NOT IN ('done', 'failed', 'cancelled'))";
    else if (strcmp(state, CAMPAIGN_POST_DONE) == 0)
        condition = " AND p.state = 'running' AND g.state = 'done'";
    else if (strcmp(state, CAMPAIGN_POST_FAILED) == 0)
        condition = " AND (p.state = 'failed' OR"
                    " (p.state = 'running' AND g.state = 'failed'))";
    else if (strcmp(state, CAMPAIGN_POST_CANCELLED) == 0)
        condition = " AND (p.state = 'cancelled' OR"
                    " (p.state = 'running' AND g.state = 'cancelled'))";
    else {
        condition = " AND p.state = ?";
        takes_state = 1;
    }
    snprintf(sql + used, size - used, "%s", condition);
    return takes_state;
}

static int known_state(const char *state)
{
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        if (strcmp(states[i], state) == 0)
            return 1;
    }
    return 0;
}

/* Builds the query of filter into sql and params; returns the count. */
static size_t post_query(const struct store_tx *tx, const struct campaign *c,
                         const struct campaign_post_filter *filter, char *sql,
                         size_t size, struct store_value params[6])
{
    size_t count = 0;
    size_t used;

    snprintf(sql, size,
             "SELECT " POST_COLUMNS "%s, %s FROM campaign_posts p"
             " LEFT JOIN generations g ON g.id = p.generation_id"
             " WHERE p.campaign_id = ?",
             title_sql(tx), publish_sql(tx));
    params[count++] = STORE_TEXT(c->id);
    if (filter->post_id) {
        strncat(sql, " AND p.id = ?", size - strlen(sql) - 1);
        params[count++] = STORE_TEXT(filter->post_id);
    }
    if (filter->state && state_condition(sql, size, filter->state))
        params[count++] = STORE_TEXT(filter->state);
    if (filter->upcoming)
        strncat(sql, " AND p.state = 'scheduled' AND p.paused = 0",
                size - strlen(sql) - 1);
    if (filter->problems)
        strncat(sql,
                " AND (p.state IN ('failed', 'missed', 'skipped_no_credits')"
                " OR (p.state = 'running' AND g.state = 'failed'))",
                size - strlen(sql) - 1);
    if (filter->from_ms > 0) {
        strncat(sql, " AND p.run_at >= ?", size - strlen(sql) - 1);
        params[count++] = STORE_INT(filter->from_ms);
    }
    if (filter->to_ms > 0) {
        strncat(sql, " AND p.run_at < ?", size - strlen(sql) - 1);
        params[count++] = STORE_INT(filter->to_ms);
    }
    used = strlen(sql);
    snprintf(sql + used, size - used, " ORDER BY p.run_at %s, p.slot LIMIT ?",
             filter->newest_first ? "DESC" : "ASC");
    params[count++] = STORE_INT(filter->limit > 0 ? filter->limit : 1);
    return count;
}

json_t *campaigns_post_views(struct store_tx *tx, const struct campaign *c,
                             const struct campaigns_tz *tz,
                             const struct campaign_post_filter *filter,
                             struct error *err)
{
    struct store_value params[6];
    char sql[1024];
    struct store_stmt *stmt;
    json_t *views;
    size_t count;
    int rc;

    if (filter->state && !known_state(filter->state)) {
        error_set(err, ERR_INVALID,
                  "state: \"%.40s\" is not a post state: expected scheduled, "
                  "running, done, failed, missed, skipped_no_credits or "
                  "cancelled",
                  filter->state);
        snprintf(err->code, sizeof(err->code), "state");
        return NULL;
    }
    if (filter->limit > POST_LIMIT_MAX) {
        error_set(err, ERR_INVALID, "limit: at most %d posts", POST_LIMIT_MAX);
        snprintf(err->code, sizeof(err->code), "limit");
        return NULL;
    }
    count = post_query(tx, c, filter, sql, sizeof(sql), params);
    stmt = store_query(tx, sql, params, count, err);
    if (!stmt)
        return NULL;
    views = json_array();
    while ((rc = store_step(stmt, err)) == 1) {
        json_t *view = post_view(stmt, c, tz);

        if (!view || json_array_append_new(views, view) != 0) {
            rc = error_set(err, ERR_PERMANENT, "out of memory");
            break;
        }
    }
    store_finalize(stmt);
    if (rc < 0) {
        json_decref(views);
        return NULL;
    }
    return views;
}

json_t *campaigns_recent_titles(struct store_tx *tx, const char *campaign_id,
                                struct error *err)
{
    char sql[512];
    struct store_stmt *stmt;
    json_t *titles = json_array();
    int rc;

    snprintf(sql, sizeof(sql),
             "SELECT %s FROM campaign_posts p"
             " JOIN generations g ON g.id = p.generation_id"
             " WHERE p.campaign_id = ? ORDER BY p.run_at DESC LIMIT %d",
             title_sql(tx), BLOG_AVOID_MAX);
    stmt = store_query(tx, sql, STORE_ARGS(STORE_TEXT(campaign_id)), err);
    if (!stmt) {
        json_decref(titles);
        return NULL;
    }
    while ((rc = store_step(stmt, err)) == 1) {
        const char *title = store_column_text(stmt, 0);

        if (title && title[0])
            json_array_append_new(titles, json_string(title));
    }
    store_finalize(stmt);
    if (rc < 0) {
        json_decref(titles);
        return NULL;
    }
    return titles;
}

/* ------------------------------------------------------------------ */
/* Campaigns                                                           */
/* ------------------------------------------------------------------ */

/* {state: count} over the shown states of c's posts. */
static json_t *counts_view(struct store_tx *tx, const struct campaign *c,
                           struct error *err)
{
    struct store_stmt *stmt =
        store_query(tx,
                    "SELECT p.state, g.state, COUNT(*) FROM campaign_posts p"
                    " LEFT JOIN generations g ON g.id = p.generation_id"
                    " WHERE p.campaign_id = ? GROUP BY p.state, g.state",
                    STORE_ARGS(STORE_TEXT(c->id)), err);
    json_t *counts = json_object();
    int rc;

    if (!stmt) {
        json_decref(counts);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        json_object_set_new(counts, states[i], json_integer(0));
    while ((rc = store_step(stmt, err)) == 1) {
        const char *state =
            shown_state(store_column_text(stmt, 0), store_column_text(stmt, 1));
        json_int_t before = json_integer_value(json_object_get(counts, state));

        json_object_set_new(counts, state,
                            json_integer(before + store_column_int(stmt, 2)));
    }
    store_finalize(stmt);
    if (rc < 0) {
        json_decref(counts);
        return NULL;
    }
    return counts;
}

/* The first post filter matches, or null; NULL on error. */
static json_t *one_post(struct store_tx *tx, const struct campaign *c,
                        const struct campaigns_tz *tz,
                        const struct campaign_post_filter *filter,
                        struct error *err)
{
    json_t *posts = campaigns_post_views(tx, c, tz, filter, err);
    json_t *post;

    if (!posts)
        return NULL;
    post = json_array_get(posts, 0);
    post = post ? json_incref(post) : json_null();
    json_decref(posts);
    return post;
}

json_t *campaigns_view(struct store_tx *tx, const struct campaign *c,
                       const struct campaigns_tz *tz, struct error *err)
{
    const struct campaign_post_filter next = {.upcoming = 1, .limit = 1};
    const struct campaign_post_filter problem = {
        .problems = 1, .newest_first = 1, .limit = 1};
    json_t *counts = counts_view(tx, c, err);
    json_t *next_post = counts ? one_post(tx, c, tz, &next, err) : NULL;
    json_t *last_problem =
        next_post ? one_post(tx, c, tz, &problem, err) : NULL;
    json_t *view;

    if (!last_problem) {
        json_decref(counts);
        json_decref(next_post);
        return NULL;
    }
    view = json_pack(
        "{s:s, s:s, s:o, s:s, s:o, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:o}",
        "id", c->id, "name", c->name, "theme", parsed_or_null(c->theme),
        "time_zone", c->time_zone, "schedule", parsed_or_null(c->schedule),
        "on_ready", c->on_ready, "paused", c->paused, "next_post", next_post,
        "last_problem", last_problem, "counts", counts, "planned_until",
        time_view(c->planned_until_ms), "created_at",
        time_view(c->created_at_ms), "updated_at", time_view(c->updated_at_ms));
    if (!view)
        error_set(err, ERR_PERMANENT, "out of memory");
    return view;
}
