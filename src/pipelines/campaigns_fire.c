/*
 * Firing due posts: the campaigns.due job and `sitesmith campaigns
 * run-due`. Each post fires in a transaction of its own that moves it
 * from scheduled to running only if it is still scheduled, so two workers
 * that find the same post start one generation between them. The
 * generation, its reservation, its first job and the post's new state
 * commit together, so a crash leaves either all of them or none.
 */
#include "pipelines/campaigns_internal.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "pipelines/blog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Posts fired by one campaigns.due job; more wait for another job. */
#define DUE_BATCH 500
/* Campaigns planned again by one run. */
#define PLAN_BATCH 100

/* A due post as the firing transaction reads it. */
struct due_post {
    char id[STORE_UUID_SIZE];
    char campaign_id[STORE_UUID_SIZE];
    char instance_id[STORE_ID_MAX];
    char state[32];
    int64_t run_at_ms;
    int paused;
    char *topic; /* NULL when not fixed */
    char *idea;  /* JSON text, NULL when not fixed */
};

static void due_post_clear(struct due_post *post)
{
    free(post->topic);
    free(post->idea);
    memset(post, 0, sizeof(*post));
}

static void count_post(const char *outcome)
{
    char labels[64];

    snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcome);
    metrics_count("sitesmith_campaign_posts_total", labels, 1);
}

/* Reads a post into out, locked when for_update is set: 1 found, 0 not. */
static int load_post(struct store_tx *tx, const char *id, int for_update,
                     struct due_post *out, struct error *err)
{
    char sql[256];
    struct store_stmt *stmt;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(sql, sizeof(sql),
             "SELECT id, campaign_id, instance_id, state, run_at, paused,"
             " topic, idea FROM campaign_posts WHERE id = ?%s",
             for_update ? store_for_update(tx) : "");
    stmt = store_query(tx, sql, STORE_ARGS(STORE_TEXT(id)), err);
    if (!stmt)
        return -1;
    rc = store_step(stmt, err);
    if (rc == 1) {
        snprintf(out->id, sizeof(out->id), "%s", store_column_text(stmt, 0));
        snprintf(out->campaign_id, sizeof(out->campaign_id), "%s",
                 store_column_text(stmt, 1));
        snprintf(out->instance_id, sizeof(out->instance_id), "%s",
                 store_column_text(stmt, 2));
        snprintf(out->state, sizeof(out->state), "%s",
                 store_column_text(stmt, 3));
        out->run_at_ms = store_column_int(stmt, 4);
        out->paused = store_column_int(stmt, 5) != 0;
        out->topic = store_column_dup(stmt, 6);
        out->idea = store_column_dup(stmt, 7);
    }
    store_finalize(stmt);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Outcomes other than firing                                          */
/* ------------------------------------------------------------------ */

/* Marks the post missed in tx and commits. */
static int mark_missed(struct store_tx *tx, const struct due_post *post,
                       const struct campaigns_settings *s, int64_t now_ms,
                       struct error *err)
{
    char due[32];
    char message[256];
    int rc;

    clock_format_iso(post->run_at_ms, due);
    snprintf(message, sizeof(message),
             "missed: the post was due at %s and could only fire %" PRId64
             " minutes later, past the limit of %" PRId64
             " minutes (SITESMITH_CAMPAIGN_MAX_LATE)",
             due, (now_ms - post->run_at_ms) / 60000, s->max_late_ms / 60000);
    rc = campaigns_store_set_post_state(tx, post->id, CAMPAIGN_POST_SCHEDULED,
                                        CAMPAIGN_POST_MISSED, ERR_CONFLICT,
                                        message, err);
    if (rc < 0) {
        store_rollback(tx);
        return -1;
    }
    if (store_commit(tx, err) != 0)
        return -1;
    log_warn("campaigns",
             "post missed instance=%s campaign=%s post=%s due=%s "
             "late_ms=%" PRId64,
             post->instance_id, post->campaign_id, post->id, due,
             now_ms - post->run_at_ms);
    count_post("missed");
    return rc;
}

/*
 * Records why a post could not start, in a transaction of its own after
 * the firing one rolled back: skipped_no_credits for too few credits,
 * failed for anything else that a retry would not change.
 */
static int record_not_started(struct app *app, const struct due_post *post,
                              const struct error *cause,
                              struct campaigns_due_result *result,
                              struct error *err)
{
    int no_credits = cause->kind == ERR_INSUFFICIENT_CREDITS;
    const char *state =
        no_credits ? CAMPAIGN_POST_SKIPPED_NO_CREDITS : CAMPAIGN_POST_FAILED;
    struct store_tx *tx = store_begin(app->store, err);
    /* Room for the cause's message and the advice after it. */
    char message[ERROR_MESSAGE_MAX + 64];
    int rc;

    if (!tx)
        return -1;
    snprintf(message, sizeof(message), "%s%s", cause->message,
             no_credits ? "; add credits to keep the campaign's next posts "
                          "coming"
                        : "");
    rc = campaigns_store_set_post_state(tx, post->id, CAMPAIGN_POST_SCHEDULED,
                                        state, cause->kind, message, err);
    if (rc < 0 || store_commit(tx, err) != 0) {
        if (rc < 0)
            store_rollback(tx);
        return -1;
    }
    if (rc == 0)
        return 0;
    if (no_credits)
        result->skipped_no_credits++;
    else
        result->failed++;
    count_post(state);
    log_warn("campaigns",
             "post not started instance=%s campaign=%s post=%s state=%s "
             "error_kind=%s error=\"%s\"",
             post->instance_id, post->campaign_id, post->id, state,
             error_kind_name(cause->kind), cause->message);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Firing one post                                                     */
/* ------------------------------------------------------------------ */

/* The blog request of a post: the campaign's theme, with the post's
 * fixed topic in place of the theme's. New, or NULL. */
static json_t *post_request(const struct campaign *c,
                            const struct due_post *post)
{
    json_t *request = json_loads(c->theme, 0, NULL);

    if (json_is_object(request) && post->topic)
        json_object_set_new(request, "topic", json_string(post->topic));
    return request;
}

/* Starts the post's generation in tx; writes its id into gen_id. */
static int start_generation(struct store_tx *tx, struct app *app,
                            const struct campaign *c,
                            const struct due_post *post,
                            char gen_id[STORE_UUID_SIZE], struct error *err)
{
    json_t *request = post_request(c, post);
    json_t *idea = post->idea ? json_loads(post->idea, 0, NULL) : NULL;
    json_t *avoid = campaigns_recent_titles(tx, c->id, err);
    struct blog_start_options options = {
        .auto_select = 1,
        .idea = idea,
        .avoid = avoid,
        .publish = strcmp(c->on_ready, CAMPAIGN_ON_READY_PUBLISH) == 0,
    };
    int rc = -1;

    if (!avoid)
        goto out;
    if (!request) {
        error_set(err, ERR_PERMANENT, "campaign %s has an unreadable theme",
                  c->id);
        goto out;
    }
    rc = blog_start_in(tx, app, c->instance_id, request, &options, gen_id, err);

out:
    json_decref(request);
    json_decref(idea);
    json_decref(avoid);
    return rc;
}

/*
 * Locks post id's campaign and then the post, the order in which every
 * change to a campaign's posts locks them, so that PostgreSQL sees no
 * deadlock, and reads both: 1 when found, 0 when either is gone.
 */
static int lock_post(struct store_tx *tx, const char *id, struct due_post *post,
                     struct campaign *c, struct error *err)
{
    int rc = load_post(tx, id, 0, post, err);

    if (rc != 1)
        return rc;
    if (campaigns_store_get(tx, post->instance_id, post->campaign_id, 1, c,
                            err) != 0)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    due_post_clear(post);
    return load_post(tx, id, 1, post, err);
}

/* Whether post may fire now: still scheduled, due, and nothing paused. */
static int may_fire(const struct due_post *post, const struct campaign *c,
                    int64_t now_ms)
{
    return strcmp(post->state, CAMPAIGN_POST_SCHEDULED) == 0 && !post->paused &&
           !c->paused && post->run_at_ms <= now_ms;
}

/* Moves the post to running with its generation, in tx. */
static int set_running(struct store_tx *tx, const struct due_post *post,
                       const char *gen_id, int64_t now_ms, struct error *err)
{
    int rc = campaigns_store_set_post_state(
        tx, post->id, CAMPAIGN_POST_SCHEDULED, CAMPAIGN_POST_RUNNING, ERR_NONE,
        NULL, err);

    if (rc <= 0)
        return rc < 0 ? -1
                      : error_set(err, ERR_CONFLICT,
                                  "post %s is no longer scheduled", post->id);
    return store_run(
        tx,
        "UPDATE campaign_posts SET generation_id = ?,"
        " fired_at = ? WHERE id = ?",
        STORE_ARGS(STORE_TEXT(gen_id), STORE_INT(now_ms), STORE_TEXT(post->id)),
        NULL, err);
}

static void log_fired(const struct due_post *post, const char *gen_id,
                      int64_t now_ms)
{
    log_info("campaigns",
             "post fired instance=%s campaign=%s post=%s generation=%s "
             "late_ms=%" PRId64,
             post->instance_id, post->campaign_id, post->id, gen_id,
             now_ms - post->run_at_ms);
    count_post("fired");
}

/*
 * Fires post id if it is still due: 0 when it fired or was left alone
 * (fired elsewhere, paused, gone), -1 on a store failure or another
 * retryable error, with the post still scheduled.
 */
static int fire_post(struct app *app, const struct campaigns_settings *s,
                     const char *id, int64_t now_ms,
                     struct campaigns_due_result *result, struct error *err)
{
    struct store_tx *tx = store_begin(app->store, err);
    struct due_post post;
    struct campaign c = {0};
    char gen_id[STORE_UUID_SIZE];
    struct error cause;
    int rc;

    if (!tx)
        return -1;
    memset(&post, 0, sizeof(post));
    rc = lock_post(tx, id, &post, &c, err);
    if (rc <= 0 || !may_fire(&post, &c, now_ms)) {
        store_rollback(tx);
        goto out;
    }
    if (now_ms - post.run_at_ms > s->max_late_ms) {
        rc = mark_missed(tx, &post, s, now_ms, err);
        result->missed += rc == 1;
        goto out;
    }

    error_clear(&cause);
    if (start_generation(tx, app, &c, &post, gen_id, &cause) != 0) {
        store_rollback(tx);
        if (error_is_retryable(&cause)) {
            *err = cause;
            rc = -1;
        } else {
            rc = record_not_started(app, &post, &cause, result, err);
        }
        goto out;
    }
    if (set_running(tx, &post, gen_id, now_ms, err) != 0) {
        store_rollback(tx);
        rc = -1;
        goto out;
    }
    rc = store_commit(tx, err);
    if (rc == 0) {
        result->fired++;
        log_fired(&post, gen_id, now_ms);
    }

out:
    due_post_clear(&post);
    campaign_clear(&c);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Runs                                                                */
/* ------------------------------------------------------------------ */

/* The ids of up to limit posts due at now_ms, oldest first; new array. */
static int due_ids(struct app *app, int64_t now_ms, int limit,
                   char (**ids)[STORE_UUID_SIZE], size_t *count,
                   struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    struct store_stmt *stmt;
    int rc;

    *count = 0;
    *ids = calloc((size_t)limit, sizeof(**ids));
    if (!*ids || !tx) {
        store_rollback(tx);
        return *ids ? -1 : error_set(err, ERR_PERMANENT, "out of memory");
    }
    stmt = store_query(tx,
                       "SELECT p.id FROM campaign_posts p"
                       " JOIN campaigns c ON c.id = p.campaign_id"
                       " WHERE p.state = ? AND p.run_at <= ? AND p.paused = 0"
                       " AND c.paused = 0 ORDER BY p.run_at, p.id LIMIT ?",
                       STORE_ARGS(STORE_TEXT(CAMPAIGN_POST_SCHEDULED),
                                  STORE_INT(now_ms), STORE_INT(limit)),
                       err);
    rc = stmt ? 1 : -1;
    while (stmt && (rc = store_step(stmt, err)) == 1 && *count < (size_t)limit)
        snprintf((*ids)[(*count)++], STORE_UUID_SIZE, "%s",
                 store_column_text(stmt, 0));
    store_finalize(stmt);
    store_rollback(tx);
    return rc < 0 ? -1 : 0;
}

/* Plans one campaign again from now, in a transaction of its own. */
static int plan_campaign(struct app *app, const struct campaigns_settings *s,
                         const char *instance_id, const char *id,
                         int64_t now_ms, int *added, struct error *err)
{
    struct store_tx *tx = store_begin(app->store, err);
    struct campaigns_tz *tz = NULL;
    struct campaign c = {0};
    int rc = -1;

    if (!tx)
        return -1;
    if (campaigns_store_get(tx, instance_id, id, 1, &c, err) != 0)
        goto out;
    tz = campaigns_load_tz(s, c.time_zone, err);
    if (!tz || campaigns_plan(tx, &c, tz, s, now_ms, added, err) != 0 ||
        campaigns_store_update(tx, &c, err) != 0)
        goto out;
    rc = store_commit(tx, err);
    tx = NULL;

out:
    store_rollback(tx);
    campaigns_tz_free(tz);
    campaign_clear(&c);
    return rc;
}

/*
 * Plans the active rule campaigns whose plan ends within the horizon,
 * less an eighth of it, so that a campaign is planned again about once
 * every horizon/8 rather than on every run.
 */
static int plan_ahead(struct app *app, const struct campaigns_settings *s,
                      int64_t now_ms, struct campaigns_due_result *result,
                      struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    char ids[PLAN_BATCH][STORE_UUID_SIZE];
    char instances[PLAN_BATCH][STORE_ID_MAX];
    struct store_stmt *stmt;
    size_t count = 0;
    int rc;

    if (!tx)
        return -1;
    stmt = store_query(
        tx,
        "SELECT id, instance_id FROM campaigns WHERE paused = 0"
        " AND rule_count > 0 AND planned_until < ? LIMIT ?",
        STORE_ARGS(STORE_INT(now_ms + s->horizon_ms - s->horizon_ms / 8),
                   STORE_INT(PLAN_BATCH)),
        err);
    rc = stmt ? 1 : -1;
    while (stmt && (rc = store_step(stmt, err)) == 1 && count < PLAN_BATCH) {
        snprintf(ids[count], STORE_UUID_SIZE, "%s", store_column_text(stmt, 0));
        snprintf(instances[count++], STORE_ID_MAX, "%s",
                 store_column_text(stmt, 1));
    }
    store_finalize(stmt);
    store_rollback(tx);
    for (size_t i = 0; rc >= 0 && i < count; i++) {
        int added = 0;

        rc = plan_campaign(app, s, instances[i], ids[i], now_ms, &added, err);
        result->planned += added;
    }
    return rc < 0 ? -1 : 0;
}

int campaigns_run_due(struct app *app, int limit,
                      struct campaigns_due_result *result, struct error *err)
{
    struct campaigns_settings s;
    char(*ids)[STORE_UUID_SIZE] = NULL;
    int64_t now_ms = clock_now_ms();
    size_t count = 0;
    int rc = 0;

    memset(result, 0, sizeof(*result));
    if (limit < 1 || limit > 1000)
        return error_set(err, ERR_INVALID, "limit: %d is not from 1 to 1000",
                         limit);
    if (campaigns_settings_read(app->cfg, &s, err) != 0 ||
        due_ids(app, now_ms, limit, &ids, &count, err) != 0) {
        free(ids);
        return -1;
    }
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = fire_post(app, &s, ids[i], now_ms, result, err);
    free(ids);
    if (rc != 0)
        return -1;
    return plan_ahead(app, &s, now_ms, result, err);
}

/* ------------------------------------------------------------------ */
/* The job                                                             */
/* ------------------------------------------------------------------ */

int campaigns_due_job_run(struct store *st, struct queue_job *job, void *arg,
                          struct error *err)
{
    struct app *app = arg;
    struct campaigns_due_result result;
    struct store_tx *tx;
    int handled;

    (void)st;
    if (campaigns_run_due(app, DUE_BATCH, &result, err) != 0) {
        log_warn("campaigns",
                 "due run failed job=%" PRId64 " attempt=%d error=\"%s\"",
                 job->id, job->attempt, err->message);
        return -1;
    }
    handled = result.fired + result.missed + result.skipped_no_credits +
              result.failed;
    if (handled > 0 || result.planned > 0)
        log_info("campaigns",
                 "due run job=%" PRId64 " fired=%d missed=%d "
                 "skipped_no_credits=%d failed=%d planned=%d",
                 job->id, result.fired, result.missed,
                 result.skipped_no_credits, result.failed, result.planned);
    if (handled < DUE_BATCH)
        return 0;

    /* A full batch: more posts may be due, so another run follows. */
    tx = store_begin(app->store, err);
    if (!tx || campaigns_store_queue_due(tx, clock_now_ms(), err) != 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}

static int due_job_failed(struct store_tx *tx, const struct queue_job *job,
                          const struct error *cause, void *arg,
                          struct error *err)
{
    (void)tx;
    (void)arg;
    (void)err;
    log_error("campaigns",
              "due job failed for good job=%" PRId64 " error=\"%s\"; due "
              "posts wait for the next due job or `sitesmith campaigns "
              "run-due`",
              job->id, cause->message);
    return 0;
}

int campaigns_register_jobs(struct app *app, struct queue_pool *pool,
                            struct error *err)
{
    struct campaigns_settings settings;
    struct queue_handler handler = {
        .run = campaigns_due_job_run,
        .failed = due_job_failed,
        .arg = app,
    };

    if (campaigns_settings_read(app->cfg, &settings, err) != 0)
        return -1;
    return queue_pool_register(pool, CAMPAIGNS_JOB_DUE, &handler, err);
}
