/*
 * Planning: turning a campaign's schedule into post rows, each with its
 * campaigns.due job, from now to the horizon. Planning is idempotent
 * because a campaign has one post per slot, so it may run again at any
 * time: after a change, on resume, and as time moves on.
 *
 * NOTE: a post's UTC time is computed when it is planned. A tzdata update
 * that later changes the zone's rules moves only posts planned after it,
 * or all of them once the campaign's schedule or time zone is changed.
 */
#include "pipelines/campaigns_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct campaigns_tz *campaigns_load_tz(const struct campaigns_settings *s,
                                       const char *name, struct error *err)
{
    struct campaigns_tz *tz = campaigns_tz_load(s->zoneinfo_dir, name, err);

    if (!tz)
        snprintf(err->code, sizeof(err->code), "time_zone");
    return tz;
}

/*
 * The occurrences of c's schedule from now_ms to the horizon, plus the
 * next rule occurrence when it lies beyond, so that a campaign with rules
 * always has a post (and a due job) ahead. *until_ms receives the end of
 * the span planned.
 */
static int occurrences_ahead(const struct campaign *c, const json_t *schedule,
                             const struct campaigns_tz *tz,
                             const struct campaigns_settings *s, int64_t now_ms,
                             struct campaign_occurrence **out, size_t *count,
                             int64_t *until_ms, struct error *err)
{
    struct campaign_occurrence next;
    struct campaign_occurrence *grown;

    *until_ms = now_ms + s->horizon_ms;
    if (campaigns_schedule_expand(schedule, tz, now_ms, *until_ms, out, count,
                                  err) != 0)
        return -1;
    if (c->rule_count == 0 ||
        !campaigns_schedule_next_rule(schedule, tz, now_ms, &next) ||
        next.run_at_ms < *until_ms)
        return 0;

    grown = realloc(*out, (*count + 1) * sizeof(**out));
    if (!grown) {
        free(*out);
        *out = NULL;
        return error_set(err, ERR_PERMANENT, "out of memory");
    }
    *out = grown;
    (*out)[(*count)++] = next;
    *until_ms = next.run_at_ms + 1;
    return 0;
}

static json_t *load_schedule(const struct campaign *c, struct error *err)
{
    json_t *schedule = json_loads(c->schedule, 0, NULL);

    if (!json_is_object(schedule)) {
        json_decref(schedule);
        error_set(err, ERR_PERMANENT, "campaign %s has an unreadable schedule",
                  c->id);
    }
    return json_is_object(schedule) ? schedule : NULL;
}

int campaigns_plan(struct store_tx *tx, struct campaign *c,
                   const struct campaigns_tz *tz,
                   const struct campaigns_settings *s, int64_t now_ms,
                   int *added, struct error *err)
{
    json_t *schedule = load_schedule(c, err);
    struct campaign_occurrence *list = NULL;
    size_t count = 0;
    int64_t until_ms;
    int rc = 0;

    if (added)
        *added = 0;
    if (!schedule)
        return -1;
    if (occurrences_ahead(c, schedule, tz, s, now_ms, &list, &count, &until_ms,
                          err) != 0) {
        json_decref(schedule);
        return -1;
    }
    for (size_t i = 0; i < count && rc >= 0; i++) {
        rc = campaigns_store_add_post(tx, c, &list[i], err);
        if (rc == 1 && added)
            (*added)++;
    }
    free(list);
    json_decref(schedule);
    if (rc < 0)
        return -1;
    if (until_ms > c->planned_until_ms)
        c->planned_until_ms = until_ms;
    return 0;
}

static const struct campaign_occurrence *
find_slot(const struct campaign_occurrence *list, size_t count,
          const char *slot)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(list[i].slot, slot) == 0)
            return &list[i];
    }
    return NULL;
}

/* Moves or deletes one scheduled post after a change of schedule. */
static int replan_post(struct store_tx *tx, const char *id, const char *slot,
                       int64_t run_at_ms,
                       const struct campaign_occurrence *list, size_t count,
                       struct error *err)
{
    const struct campaign_occurrence *match = find_slot(list, count, slot);

    if (!match)
        return store_run(
            tx, "DELETE FROM campaign_posts WHERE id = ? AND state = ?",
            STORE_ARGS(STORE_TEXT(id), STORE_TEXT(CAMPAIGN_POST_SCHEDULED)),
            NULL, err);
    if (match->run_at_ms == run_at_ms)
        return 0;
    if (store_run(tx, "UPDATE campaign_posts SET run_at = ? WHERE id = ?",
                  STORE_ARGS(STORE_INT(match->run_at_ms), STORE_TEXT(id)), NULL,
                  err) != 0)
        return -1;
    return campaigns_store_queue_due(tx, match->run_at_ms, err);
}

/* The campaign's scheduled posts as parallel arrays of id, slot and time. */
struct scheduled_posts {
    size_t count;
    char (*ids)[STORE_UUID_SIZE];
    char (*slots)[CAMPAIGN_SLOT_SIZE];
    int64_t *run_at_ms;
};

static void scheduled_posts_free(struct scheduled_posts *posts)
{
    free(posts->ids);
    free(posts->slots);
    free(posts->run_at_ms);
}

static int read_scheduled(struct store_tx *tx, const char *campaign_id,
                          struct scheduled_posts *posts, struct error *err)
{
    int64_t total = 0;
    struct store_stmt *stmt;
    int rc;

    memset(posts, 0, sizeof(*posts));
    if (store_query_int(tx,
                        "SELECT COUNT(*) FROM campaign_posts"
                        " WHERE campaign_id = ? AND state = ?",
                        STORE_ARGS(STORE_TEXT(campaign_id),
                                   STORE_TEXT(CAMPAIGN_POST_SCHEDULED)),
                        &total, err) < 0)
        return -1;
    posts->ids = calloc((size_t)total + 1, sizeof(*posts->ids));
    posts->slots = calloc((size_t)total + 1, sizeof(*posts->slots));
    posts->run_at_ms = calloc((size_t)total + 1, sizeof(*posts->run_at_ms));
    if (!posts->ids || !posts->slots || !posts->run_at_ms)
        return error_set(err, ERR_PERMANENT, "out of memory");
    stmt = store_query(tx,
                       "SELECT id, slot, run_at FROM campaign_posts"
                       " WHERE campaign_id = ? AND state = ?",
                       STORE_ARGS(STORE_TEXT(campaign_id),
                                  STORE_TEXT(CAMPAIGN_POST_SCHEDULED)),
                       err);
    if (!stmt)
        return -1;
    while ((rc = store_step(stmt, err)) == 1 && posts->count < (size_t)total) {
        size_t i = posts->count++;

        snprintf(posts->ids[i], STORE_UUID_SIZE, "%s",
                 store_column_text(stmt, 0));
        snprintf(posts->slots[i], CAMPAIGN_SLOT_SIZE, "%s",
                 store_column_text(stmt, 1));
        posts->run_at_ms[i] = store_column_int(stmt, 2);
    }
    store_finalize(stmt);
    return rc < 0 ? -1 : 0;
}

int campaigns_replan(struct store_tx *tx, struct campaign *c,
                     const struct campaigns_tz *tz,
                     const struct campaigns_settings *s, int64_t now_ms,
                     struct error *err)
{
    json_t *schedule = load_schedule(c, err);
    struct campaign_occurrence *list = NULL;
    struct scheduled_posts posts;
    size_t count = 0;
    int64_t until_ms;
    int rc;

    if (!schedule)
        return -1;
    rc = occurrences_ahead(c, schedule, tz, s, now_ms, &list, &count, &until_ms,
                           err);
    json_decref(schedule);
    if (rc != 0)
        return -1;
    rc = read_scheduled(tx, c->id, &posts, err);
    for (size_t i = 0; rc == 0 && i < posts.count; i++)
        rc = replan_post(tx, posts.ids[i], posts.slots[i], posts.run_at_ms[i],
                         list, count, err);
    scheduled_posts_free(&posts);
    free(list);
    if (rc != 0)
        return -1;

    /* The plan starts again from now, so that a rule's new days fill in. */
    c->planned_until_ms = 0;
    return campaigns_plan(tx, c, tz, s, now_ms, NULL, err);
}
