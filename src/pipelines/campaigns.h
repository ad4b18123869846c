/*
 * Blog campaigns: a plan of future posts that sitesmith writes on time,
 * each one a blog generation of the blog pipeline (pipelines/blog.h).
 *
 * A campaign has a name, a theme (topic, keywords, tone, language) and
 * the site's IANA time zone. Its schedule lists local date-times one by
 * one, or gives rules such as "weekly on Tuesday at 09:00" and "monthly on
 * day 1 at 09:00". It also says what happens when a post is ready (save a
 * draft or publish), and it may be paused. Its planned posts are rows with
 * a UTC time. Rules are expanded SITESMITH_CAMPAIGN_HORIZON_DAYS ahead
 * (default 56), so that the owner sees what is coming. A post's state is
 *
 *   scheduled -> running -> done | failed | cancelled   (its generation's)
 *   scheduled -> missed | skipped_no_credits | failed | cancelled
 *
 * Firing: each post's time has a queued job "campaigns.due" (unique key
 * "campaigns/due/<UTC ms>"). When it runs, every due post is fired in a
 * transaction of its own that moves it from scheduled to running only if
 * it is still scheduled, starts its blog generation (reserving the credits)
 * and records the generation, so a post fires once however many workers
 * and processes race for it, and a crash before the commit leaves it
 * scheduled. A post found more than SITESMITH_CAMPAIGN_MAX_LATE late
 * (default 6 hours; the service was down, or the campaign paused) is
 * marked missed instead, and one that finds too few credits is marked
 * skipped_no_credits with a message for the owner; the campaign goes on.
 *
 * Every function that takes an instance_id sees only that site's
 * campaigns: another site's campaign or post is ERR_NOT_FOUND, as an
 * unknown id is. All may be called from any thread that holds no store
 * transaction. JSON results are new references the caller releases.
 */
#ifndef SITESMITH_PIPELINES_CAMPAIGNS_H
#define SITESMITH_PIPELINES_CAMPAIGNS_H

#include "core/error.h"
#include "pipelines/app.h"
#include "queue/queue.h"
#include "store/store.h"

#include <jansson.h>
#include <stdint.h>

/* The job that fires the posts due at its time. */
#define CAMPAIGNS_JOB_DUE "campaigns.due"

/* Post states. */
#define CAMPAIGN_POST_SCHEDULED "scheduled"
#define CAMPAIGN_POST_RUNNING "running"
#define CAMPAIGN_POST_DONE "done"
#define CAMPAIGN_POST_FAILED "failed"
#define CAMPAIGN_POST_MISSED "missed"
#define CAMPAIGN_POST_SKIPPED_NO_CREDITS "skipped_no_credits"
#define CAMPAIGN_POST_CANCELLED "cancelled"

/* The tables: campaigns and campaign_posts. */
extern const struct store_schema campaigns_schema;

/* Settings, read from the configuration. */
struct campaigns_settings {
    int64_t max_late_ms;    /* SITESMITH_CAMPAIGN_MAX_LATE, default 6h */
    int64_t horizon_ms;     /* SITESMITH_CAMPAIGN_HORIZON_DAYS, default 56 */
    char zoneinfo_dir[512]; /* SITESMITH_ZONEINFO_DIR, default
                               /usr/share/zoneinfo */
};

/* Reads the settings; a message names the variable of an invalid value. */
int campaigns_settings_read(const struct config *cfg,
                            struct campaigns_settings *out, struct error *err);

/* ------------------------------------------------------------------ */
/* Campaigns                                                           */
/* ------------------------------------------------------------------ */

/*
 * Creates a campaign from request (docs/openapi.yaml, CampaignRequest):
 * {name, theme?, time_zone, schedule {times?[], rules?[]}, on_ready?,
 * paused?}, plans its posts and queues their due jobs, in one transaction.
 * Returns the campaign's view, or NULL with err set: ERR_INVALID naming
 * the field in err->code, ERR_NOT_FOUND for an unknown site.
 */
json_t *campaigns_create(struct app *app, const char *instance_id,
                         const json_t *request, struct error *err);

/* The site's campaigns, newest first: {"campaigns": [...]}. */
json_t *campaigns_list(struct app *app, const char *instance_id,
                       struct error *err);

/* One campaign's view (Campaign): its fields, the next post, counts of
 * posts per state. */
json_t *campaigns_get(struct app *app, const char *instance_id, const char *id,
                      struct error *err);

/*
 * Changes the fields request names (as campaigns_create takes them, all
 * optional). A new schedule or time zone replans the posts still
 * scheduled: those whose local time is still planned keep their topic and
 * idea and get the new UTC time, the others are deleted, and new times
 * are added. Posts that already ran keep everything.
 */
json_t *campaigns_update(struct app *app, const char *instance_id,
                         const char *id, const json_t *request,
                         struct error *err);

/*
 * Deletes a campaign and its posts. Generations already started go on and
 * stay in the blog's history.
 */
int campaigns_delete(struct app *app, const char *instance_id, const char *id,
                     struct error *err);

/*
 * Pauses (paused = 1) or resumes a campaign. A paused campaign fires and
 * plans none of its posts. On resume, rules are planned again from now,
 * and posts that came due meanwhile fire if they are less than
 * SITESMITH_CAMPAIGN_MAX_LATE late, while the others are marked missed.
 */
json_t *campaigns_set_paused(struct app *app, const char *instance_id,
                             const char *id, int paused, struct error *err);

/* ------------------------------------------------------------------ */
/* Scheduled posts                                                     */
/* ------------------------------------------------------------------ */

/*
 * A campaign's posts by time: {"posts": [...]}. state (may be NULL)
 * keeps only posts in that state; from_ms and to_ms (0: no bound) keep
 * posts scheduled in [from_ms, to_ms). At most limit (1 to 500) posts.
 */
json_t *campaigns_posts_list(struct app *app, const char *instance_id,
                             const char *campaign_id, const char *state,
                             int64_t from_ms, int64_t to_ms, int limit,
                             struct error *err);

/* One post's view (CampaignPost). */
json_t *campaigns_post_get(struct app *app, const char *instance_id,
                           const char *campaign_id, const char *post_id,
                           struct error *err);

/*
 * Fixes a scheduled post's topic and/or idea: request {topic?, idea?},
 * where null clears one. A post that is not scheduled any more is
 * ERR_CONFLICT.
 */
json_t *campaigns_post_update(struct app *app, const char *instance_id,
                              const char *campaign_id, const char *post_id,
                              const json_t *request, struct error *err);

/* Pauses or resumes one scheduled post (ERR_CONFLICT otherwise). */
json_t *campaigns_post_set_paused(struct app *app, const char *instance_id,
                                  const char *campaign_id, const char *post_id,
                                  int paused, struct error *err);

/*
 * Skips one post. A scheduled post becomes cancelled and keeps its place,
 * so that the rule does not plan it again. A running post's generation is
 * cancelled (blog_cancel), which releases its credits. A post that ended
 * is ERR_CONFLICT.
 */
json_t *campaigns_post_cancel(struct app *app, const char *instance_id,
                              const char *campaign_id, const char *post_id,
                              struct error *err);

/* ------------------------------------------------------------------ */
/* Firing                                                              */
/* ------------------------------------------------------------------ */

/* Counts of the posts one campaigns_run_due() call handled. */
struct campaigns_due_result {
    int fired;
    int missed;
    int skipped_no_credits;
    int failed;  /* could not start, e.g. the site removed the app */
    int planned; /* new rule posts */
};

/*
 * Fires the posts due now (clock_now_ms) on every site, at most limit of
 * them (1 to 1000), and plans the rules of active campaigns whose plan
 * ends within the horizon. A post that another worker fired meanwhile is
 * left alone. Used by the campaigns.due job and `sitesmith campaigns
 * run-due`. Returns 0 with *result filled, or -1 when the store failed
 * (a retry is safe).
 */
int campaigns_run_due(struct app *app, int limit,
                      struct campaigns_due_result *result, struct error *err);

/*
 * Registers the campaigns.due job with pool. app must outlive the pool.
 * Reads the settings, so an invalid one stops the worker at start.
 */
int campaigns_register_jobs(struct app *app, struct queue_pool *pool,
                            struct error *err);

#endif
