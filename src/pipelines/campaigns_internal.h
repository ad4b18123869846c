/*
 * Internals of campaigns, shared by campaigns*.c. Not for use outside
 * src/pipelines (tests may call them).
 *
 * Tables (campaigns_store.c):
 *   campaigns       one row per campaign, with theme and schedule as JSON
 *                   text, planned_until (the end of the span whose rule
 *                   posts exist) and rule_count (the schedule's rules)
 *   campaign_posts  one row per planned post, unique per (campaign_id,
 *                   slot), where slot is the local date-time asked for
 *                   ("2025-03-30T02:30"), so that planning twice never
 *                   makes a second post
 */
#ifndef SITESMITH_PIPELINES_CAMPAIGNS_INTERNAL_H
#define SITESMITH_PIPELINES_CAMPAIGNS_INTERNAL_H

#include "pipelines/campaigns.h"
#include "pipelines/campaigns_tz.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Request limits (docs/openapi.yaml, CampaignRequest). */
#define CAMPAIGN_NAME_MAX 100
#define CAMPAIGN_TIMES_MAX 100
#define CAMPAIGN_RULES_MAX 10
/* Listed times may be at most this far ahead. */
#define CAMPAIGN_AHEAD_MAX_MS (5LL * 366 * 86400 * 1000)
/* "YYYY-MM-DDTHH:MM" and a NUL. */
#define CAMPAIGN_SLOT_SIZE 17

#define CAMPAIGN_ON_READY_DRAFT "draft"
#define CAMPAIGN_ON_READY_PUBLISH "publish"

/* A row of campaigns. */
struct campaign {
    char id[STORE_UUID_SIZE];
    char instance_id[STORE_ID_MAX];
    char *name;
    char *theme;    /* JSON object text: a validated blog request */
    char *schedule; /* JSON object text: {times[], rules[]} */
    char time_zone[CAMPAIGNS_TZ_NAME_MAX + 1];
    char on_ready[16];
    int paused;
    int rule_count;
    int64_t planned_until_ms;
    int64_t created_at_ms;
    int64_t updated_at_ms;
};

void campaign_clear(struct campaign *c);

/* One planned occurrence of a schedule. */
struct campaign_occurrence {
    char slot[CAMPAIGN_SLOT_SIZE];
    int64_t run_at_ms;
};

/* ------------------------------------------------------------------ */
/* Schedules (campaigns_schedule.c)                                    */
/* ------------------------------------------------------------------ */

/*
 * Parses "YYYY-MM-DDTHH:MM" into its local value (seconds, see
 * campaigns_tz.h). Returns 0, or -1 when it is not a valid date-time.
 */
int campaigns_slot_parse(const char *text, int64_t *local);

/* Formats a local value as "YYYY-MM-DDTHH:MM" (seconds dropped). */
void campaigns_slot_format(int64_t local, char out[CAMPAIGN_SLOT_SIZE]);

/*
 * Checks a schedule {times?: ["YYYY-MM-DDTHH:MM", ...], rules?: [{frequency:
 * "daily" | "weekly" | "monthly", weekdays?: ["monday", ...], day?: 1-31,
 * time: "HH:MM"}, ...]} with at least one entry, and returns its normalized
 * form (new: times sorted without repeats, weekdays as lower-case English
 * names in week order), or NULL with ERR_INVALID and err->code
 * "schedule". *rule_count receives the number of rules.
 */
json_t *campaigns_schedule_validate(const json_t *schedule, int *rule_count,
                                    struct error *err);

/*
 * The occurrences of schedule in tz: every listed time whose instant is at
 * or after from_ms, and every rule occurrence in [from_ms, to_ms), sorted
 * by time, once per slot. A rule date whose time does not exist (clocks
 * going forward) occurs at the end of the gap. One that exists twice
 * occurs at the first. *out is a new array the caller frees with free().
 */
int campaigns_schedule_expand(const json_t *schedule,
                              const struct campaigns_tz *tz, int64_t from_ms,
                              int64_t to_ms, struct campaign_occurrence **out,
                              size_t *count, struct error *err);

/*
 * The first rule occurrence of schedule at or after from_ms within 400
 * days: 1 with *out set, 0 when none (no rules).
 */
int campaigns_schedule_next_rule(const json_t *schedule,
                                 const struct campaigns_tz *tz, int64_t from_ms,
                                 struct campaign_occurrence *out);

/* ------------------------------------------------------------------ */
/* Store (campaigns_store.c)                                           */
/* ------------------------------------------------------------------ */

/* Inserts c (id, created_at and updated_at are filled in). */
int campaigns_store_insert(struct store_tx *tx, struct campaign *c,
                           struct error *err);

/*
 * Reads campaign id of instance_id, locking it when for_update is set:
 * 0, or ERR_NOT_FOUND for an unknown id or another site's campaign. Free
 * out with campaign_clear().
 */
int campaigns_store_get(struct store_tx *tx, const char *instance_id,
                        const char *id, int for_update, struct campaign *out,
                        struct error *err);

/* Writes every field of c except id, instance_id and created_at. */
int campaigns_store_update(struct store_tx *tx, struct campaign *c,
                           struct error *err);

/* The ids of the site's campaigns, newest first; *ids is new (free()). */
int campaigns_store_ids(struct store_tx *tx, const char *instance_id,
                        char (**ids)[STORE_UUID_SIZE], size_t *count,
                        struct error *err);

/*
 * Adds the post for occurrence unless the campaign has one for its slot:
 * 1 when added (and its campaigns.due job queued), 0 when it existed.
 */
int campaigns_store_add_post(struct store_tx *tx, const struct campaign *c,
                             const struct campaign_occurrence *occurrence,
                             struct error *err);

/*
 * Queues the campaigns.due job for run_at_ms, unless one for that time is
 * already queued or running.
 */
int campaigns_store_queue_due(struct store_tx *tx, int64_t run_at_ms,
                              struct error *err);

/*
 * Moves post_id from state from to state to, with an error message (NULL
 * for none) of kind: 1 when moved, 0 when it was not in from.
 */
int campaigns_store_set_post_state(struct store_tx *tx, const char *post_id,
                                   const char *from, const char *to,
                                   enum error_kind kind, const char *message,
                                   struct error *err);

/* ------------------------------------------------------------------ */
/* Planning (campaigns_plan.c)                                         */
/* ------------------------------------------------------------------ */

/* Loads c's time zone from the settings' folder; NULL with err set. */
struct campaigns_tz *campaigns_load_tz(const struct campaigns_settings *s,
                                       const char *name, struct error *err);

/*
 * Adds c's missing posts: listed times from now on, and rule occurrences
 * from now to now + horizon, plus the next rule occurrence when that is
 * later, so that a due job always follows. Sets
 * c->planned_until_ms (the caller stores c). *added (may be NULL)
 * receives the number of new posts.
 */
int campaigns_plan(struct store_tx *tx, struct campaign *c,
                   const struct campaigns_tz *tz,
                   const struct campaigns_settings *s, int64_t now_ms,
                   int *added, struct error *err);

/*
 * Plans c again after its schedule or time zone changed: each scheduled
 * post whose slot is still an occurrence from now on gets that
 * occurrence's time, the others are deleted, and campaigns_plan() adds
 * the rest.
 */
int campaigns_replan(struct store_tx *tx, struct campaign *c,
                     const struct campaigns_tz *tz,
                     const struct campaigns_settings *s, int64_t now_ms,
                     struct error *err);

/* ------------------------------------------------------------------ */
/* Requests (campaigns_request.c)                                      */
/* ------------------------------------------------------------------ */

/*
 * Applies request to c, checking each field. Creating needs every
 * required field, and an update takes any subset. Listed times that are
 * in the past are rejected unless c's schedule already listed them.
 * *schedule_changed is set when the schedule or the time zone changed.
 * ERR_INVALID with err->code naming the field.
 */
int campaigns_apply_request(struct campaign *c, const json_t *request,
                            int creating, const struct campaigns_settings *s,
                            int64_t now_ms, int *schedule_changed,
                            struct error *err);

/* ------------------------------------------------------------------ */
/* Firing (campaigns_fire.c)                                           */
/* ------------------------------------------------------------------ */

/*
 * The campaigns.due job's handler (arg is the app): campaigns_run_due(),
 * then one more due job right away when the batch was full.
 */
int campaigns_due_job_run(struct store *st, struct queue_job *job, void *arg,
                          struct error *err);

/* ------------------------------------------------------------------ */
/* Views (campaigns_json.c)                                            */
/* ------------------------------------------------------------------ */

/* A filter of campaigns_post_views(); zeroed fields match every post. */
struct campaign_post_filter {
    const char *post_id;
    const char *state; /* as the view shows it: done, failed, ... */
    int64_t from_ms;   /* scheduled at or after, 0: any */
    int64_t to_ms;     /* scheduled before, 0: any */
    int upcoming;      /* scheduled and not paused */
    int problems;      /* failed, missed or skipped_no_credits */
    int newest_first;
    int limit; /* 0: 1 */
};

/* The view of campaign c (Campaign), read in tx; new, or NULL. */
json_t *campaigns_view(struct store_tx *tx, const struct campaign *c,
                       const struct campaigns_tz *tz, struct error *err);

/*
 * The views of c's posts (CampaignPost) that match filter, by time. A
 * post that is running shows its generation's end once it has one: done
 * with the post's id and link, failed with the generation's error, or
 * cancelled. New array, or NULL with err set.
 */
json_t *campaigns_post_views(struct store_tx *tx, const struct campaign *c,
                             const struct campaigns_tz *tz,
                             const struct campaign_post_filter *filter,
                             struct error *err);

/*
 * The titles of c's latest posts that have a generation, newest first,
 * at most BLOG_AVOID_MAX: new array.
 */
json_t *campaigns_recent_titles(struct store_tx *tx, const char *campaign_id,
                                struct error *err);

#endif
