/*
 * The owner's operations on campaigns and their posts (create, list, read,
 * change, pause, resume and delete), each in one transaction scoped to the
 * owner's site, and the settings.
 */
#include "pipelines/campaigns_internal.h"

#include "core/clock.h"
#include "core/log.h"
#include "pipelines/blog.h"
#include "pipelines/blog_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAMPAIGNS_PER_SITE_MAX 100

int campaigns_settings_read(const struct config *cfg,
                            struct campaigns_settings *out, struct error *err)
{
    const char *dir =
        config_get_string(cfg, "SITESMITH_ZONEINFO_DIR", CAMPAIGNS_TZ_DIR);
    int64_t days;

    memset(out, 0, sizeof(*out));
    if (config_get_duration_ms(cfg, "SITESMITH_CAMPAIGN_MAX_LATE",
                               6LL * 3600 * 1000, &out->max_late_ms,
                               err) != 0 ||
        config_get_int(cfg, "SITESMITH_CAMPAIGN_HORIZON_DAYS", 56, 1, 366,
                       &days, err) != 0)
        return -1;
    if (out->max_late_ms < 0)
        return error_set(err, ERR_INVALID,
                         "SITESMITH_CAMPAIGN_MAX_LATE: must not be negative");
    if (strlen(dir) >= sizeof(out->zoneinfo_dir))
        return error_set(err, ERR_INVALID,
                         "SITESMITH_ZONEINFO_DIR: the path is longer than %zu "
                         "characters",
                         sizeof(out->zoneinfo_dir) - 1);
    out->horizon_ms = days * 86400 * 1000;
    snprintf(out->zoneinfo_dir, sizeof(out->zoneinfo_dir), "%s", dir);
    return 0;
}

/* ------------------------------------------------------------------ */
/* One campaign in a transaction                                       */
/* ------------------------------------------------------------------ */

/* The transaction, settings, campaign and zone of one request. */
struct campaign_work {
    struct store_tx *tx;
    struct campaigns_settings settings;
    struct campaign c;
    struct campaigns_tz *tz;
};

static void work_end(struct campaign_work *w)
{
    store_rollback(w->tx);
    w->tx = NULL;
    campaigns_tz_free(w->tz);
    w->tz = NULL;
    campaign_clear(&w->c);
}

/* Begins a transaction (read-only unless writing) and loads campaign id
 * of instance_id with its time zone. */
static int work_begin(struct app *app, const char *instance_id, const char *id,
                      int writing, struct campaign_work *w, struct error *err)
{
    memset(w, 0, sizeof(*w));
    if (campaigns_settings_read(app->cfg, &w->settings, err) != 0)
        return -1;
    w->tx = writing ? store_begin(app->store, err)
                    : store_begin_read(app->store, err);
    if (!w->tx ||
        campaigns_store_get(w->tx, instance_id, id, writing, &w->c, err) != 0)
        goto fail;
    w->tz = campaigns_load_tz(&w->settings, w->c.time_zone, err);
    if (!w->tz)
        goto fail;
    return 0;

fail:
    work_end(w);
    return -1;
}

/* The campaign's view, then commits; NULL on failure. Ends w. */
static json_t *work_commit_view(struct campaign_work *w, struct error *err)
{
    json_t *view = campaigns_view(w->tx, &w->c, w->tz, err);
    int rc;

    if (!view) {
        work_end(w);
        return NULL;
    }
    rc = store_commit(w->tx, err);
    w->tx = NULL;
    work_end(w);
    if (rc != 0) {
        json_decref(view);
        return NULL;
    }
    return view;
}

static int check_site(struct store_tx *tx, const char *instance_id,
                      struct error *err)
{
    struct store_instance instance = {0};
    int64_t campaigns = 0;
    int rc = store_instance_get(tx, instance_id, &instance, err);

    if (rc == 1 && strcmp(instance.state, "installed") != 0)
        rc = 0;
    store_instance_clear(&instance);
    if (rc == 0)
        return error_set(err, ERR_NOT_FOUND,
                         "site instance \"%.64s\" is not installed: install "
                         "the app on the site first",
                         instance_id);
    if (rc < 0 || store_query_int(tx,
                                  "SELECT COUNT(*) FROM campaigns"
                                  " WHERE instance_id = ?",
                                  STORE_ARGS(STORE_TEXT(instance_id)),
                                  &campaigns, err) < 0)
        return -1;
    if (campaigns >= CAMPAIGNS_PER_SITE_MAX)
        return error_set(err, ERR_CONFLICT,
                         "the site has %d campaigns, the most it may have: "
                         "delete one first",
                         CAMPAIGNS_PER_SITE_MAX);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Campaigns                                                           */
/* ------------------------------------------------------------------ */

json_t *campaigns_create(struct app *app, const char *instance_id,
                         const json_t *request, struct error *err)
{
    struct campaign_work w;
    int64_t now_ms = clock_now_ms();
    int changed;
    int added = 0;
    json_t *view;

    memset(&w, 0, sizeof(w));
    snprintf(w.c.instance_id, sizeof(w.c.instance_id), "%s", instance_id);
    if (campaigns_settings_read(app->cfg, &w.settings, err) != 0 ||
        campaigns_apply_request(&w.c, request, 1, &w.settings, now_ms, &changed,
                                err) != 0)
        goto fail;
    w.tz = campaigns_load_tz(&w.settings, w.c.time_zone, err);
    w.tx = w.tz ? store_begin(app->store, err) : NULL;
    if (!w.tx || check_site(w.tx, instance_id, err) != 0 ||
        campaigns_store_insert(w.tx, &w.c, err) != 0 ||
        campaigns_plan(w.tx, &w.c, w.tz, &w.settings, now_ms, &added, err) !=
            0 ||
        campaigns_store_update(w.tx, &w.c, err) != 0)
        goto fail;
    view = work_commit_view(&w, err);
    if (view)
        log_info("campaigns",
                 "campaign created instance=%s campaign=%s posts=%d "
                 "time_zone=%s",
                 instance_id, json_string_value(json_object_get(view, "id")),
                 added, json_string_value(json_object_get(view, "time_zone")));
    return view;

fail:
    work_end(&w);
    return NULL;
}

json_t *campaigns_list(struct app *app, const char *instance_id,
                       struct error *err)
{
    char(*ids)[STORE_UUID_SIZE] = NULL;
    json_t *campaigns = json_array();
    size_t count = 0;
    struct store_tx *tx = store_begin_read(app->store, err);
    int rc = -1;

    if (!tx || campaigns_store_ids(tx, instance_id, &ids, &count, err) != 0)
        goto out;
    store_rollback(tx);
    tx = NULL;
    rc = 0;

    /* One short transaction per campaign: a campaign deleted meanwhile is
     * left out. */
    for (size_t i = 0; rc == 0 && i < count; i++) {
        json_t *view = campaigns_get(app, instance_id, ids[i], err);

        if (view)
            json_array_append_new(campaigns, view);
        else if (err->kind != ERR_NOT_FOUND)
            rc = -1;
    }

out:
    store_rollback(tx);
    free(ids);
    if (rc != 0) {
        json_decref(campaigns);
        return NULL;
    }
    error_clear(err);
    return json_pack("{s:o}", "campaigns", campaigns);
}

json_t *campaigns_get(struct app *app, const char *instance_id, const char *id,
                      struct error *err)
{
    struct campaign_work w;

    if (work_begin(app, instance_id, id, 0, &w, err) != 0)
        return NULL;
    return work_commit_view(&w, err);
}

json_t *campaigns_update(struct app *app, const char *instance_id,
                         const char *id, const json_t *request,
                         struct error *err)
{
    struct campaign_work w;
    int64_t now_ms = clock_now_ms();
    int changed = 0;

    if (work_begin(app, instance_id, id, 1, &w, err) != 0)
        return NULL;
    if (campaigns_apply_request(&w.c, request, 0, &w.settings, now_ms, &changed,
                                err) != 0)
        goto fail;
    if (changed) {
        campaigns_tz_free(w.tz);
        w.tz = campaigns_load_tz(&w.settings, w.c.time_zone, err);
        if (!w.tz ||
            campaigns_replan(w.tx, &w.c, w.tz, &w.settings, now_ms, err) != 0)
            goto fail;
    }
    if (campaigns_store_update(w.tx, &w.c, err) != 0)
        goto fail;
    log_info("campaigns",
             "campaign updated instance=%s campaign=%s replanned=%d",
             instance_id, id, changed);
    return work_commit_view(&w, err);

fail:
    work_end(&w);
    return NULL;
}

int campaigns_delete(struct app *app, const char *instance_id, const char *id,
                     struct error *err)
{
    struct campaign_work w;
    int rc;

    if (work_begin(app, instance_id, id, 1, &w, err) != 0)
        return -1;
    if (store_run(w.tx, "DELETE FROM campaign_posts WHERE campaign_id = ?",
                  STORE_ARGS(STORE_TEXT(id)), NULL, err) != 0 ||
        store_run(w.tx, "DELETE FROM campaigns WHERE id = ?",
                  STORE_ARGS(STORE_TEXT(id)), NULL, err) != 0) {
        work_end(&w);
        return -1;
    }
    rc = store_commit(w.tx, err);
    w.tx = NULL;
    work_end(&w);
    if (rc == 0)
        log_info("campaigns", "campaign deleted instance=%s campaign=%s",
                 instance_id, id);
    return rc;
}

json_t *campaigns_set_paused(struct app *app, const char *instance_id,
                             const char *id, int paused, struct error *err)
{
    struct campaign_work w;
    int64_t now_ms = clock_now_ms();

    if (work_begin(app, instance_id, id, 1, &w, err) != 0)
        return NULL;
    if (w.c.paused == (paused != 0))
        return work_commit_view(&w, err);
    w.c.paused = paused != 0;

    /* On resume, posts that came due while paused are handled now. */
    if (!paused && (campaigns_plan(w.tx, &w.c, w.tz, &w.settings, now_ms, NULL,
                                   err) != 0 ||
                    campaigns_store_queue_due(w.tx, now_ms, err) != 0))
        goto fail;
    if (campaigns_store_update(w.tx, &w.c, err) != 0)
        goto fail;
    log_info("campaigns", "campaign %s instance=%s campaign=%s",
             paused ? "paused" : "resumed", instance_id, id);
    return work_commit_view(&w, err);

fail:
    work_end(&w);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Posts                                                               */
/* ------------------------------------------------------------------ */

static json_t *posts_view(struct campaign_work *w,
                          const struct campaign_post_filter *filter,
                          struct error *err)
{
    json_t *posts = campaigns_post_views(w->tx, &w->c, w->tz, filter, err);

    work_end(w);
    return posts ? json_pack("{s:o}", "posts", posts) : NULL;
}

json_t *campaigns_posts_list(struct app *app, const char *instance_id,
                             const char *campaign_id, const char *state,
                             int64_t from_ms, int64_t to_ms, int limit,
                             struct error *err)
{
    struct campaign_post_filter filter = {
        .state = state, .from_ms = from_ms, .to_ms = to_ms, .limit = limit};
    struct campaign_work w;

    if (work_begin(app, instance_id, campaign_id, 0, &w, err) != 0)
        return NULL;
    return posts_view(&w, &filter, err);
}

/* The view of one post of w's campaign; ERR_NOT_FOUND when it has none. */
static json_t *one_post_view(struct campaign_work *w, const char *post_id,
                             struct error *err)
{
    struct campaign_post_filter filter = {.post_id = post_id, .limit = 1};
    json_t *posts = campaigns_post_views(w->tx, &w->c, w->tz, &filter, err);
    json_t *post = json_incref(json_array_get(posts, 0));

    json_decref(posts);
    if (posts && !post) {
        error_set(err, ERR_NOT_FOUND, "post \"%.64s\" not found in campaign %s",
                  post_id, w->c.id);
        snprintf(err->code, sizeof(err->code), "not_found");
    }
    return post;
}

json_t *campaigns_post_get(struct app *app, const char *instance_id,
                           const char *campaign_id, const char *post_id,
                           struct error *err)
{
    struct campaign_work w;
    json_t *post;

    if (work_begin(app, instance_id, campaign_id, 0, &w, err) != 0)
        return NULL;
    post = one_post_view(&w, post_id, err);
    work_end(&w);
    return post;
}

/* Reads a post's state, locked: 0, or ERR_NOT_FOUND. */
static int post_state(struct campaign_work *w, const char *post_id,
                      char state[32], struct error *err)
{
    char sql[160];
    char *text = NULL;
    int rc;

    snprintf(sql, sizeof(sql),
             "SELECT state FROM campaign_posts WHERE id = ? AND"
             " campaign_id = ?%s",
             store_for_update(w->tx));
    rc = store_query_text(w->tx, sql,
                          STORE_ARGS(STORE_TEXT(post_id), STORE_TEXT(w->c.id)),
                          &text, err);
    if (rc == 1)
        snprintf(state, 32, "%s", text ? text : "");
    free(text);
    if (rc == 0) {
        error_set(err, ERR_NOT_FOUND, "post \"%.64s\" not found in campaign %s",
                  post_id, w->c.id);
        snprintf(err->code, sizeof(err->code), "not_found");
    }
    return rc == 1 ? 0 : -1;
}

/* Loads a scheduled post for a change; ERR_CONFLICT when it is not. */
static int begin_post_change(struct app *app, const char *instance_id,
                             const char *campaign_id, const char *post_id,
                             const char *what, struct campaign_work *w,
                             struct error *err)
{
    char state[32] = "";

    if (work_begin(app, instance_id, campaign_id, 1, w, err) != 0)
        return -1;
    if (post_state(w, post_id, state, err) != 0)
        goto fail;
    if (strcmp(state, CAMPAIGN_POST_SCHEDULED) != 0) {
        error_set(err, ERR_CONFLICT,
                  "cannot %s: post %s is %s, and only a scheduled post can "
                  "change",
                  what, post_id, state);
        snprintf(err->code, sizeof(err->code), "conflict");
        goto fail;
    }
    return 0;

fail:
    work_end(w);
    return -1;
}

/* Commits w and returns the post's view; ends w. */
static json_t *commit_post_view(struct campaign_work *w, const char *post_id,
                                struct error *err)
{
    json_t *post = one_post_view(w, post_id, err);

    if (post) {
        int rc = store_commit(w->tx, err);

        w->tx = NULL;
        if (rc != 0) {
            json_decref(post);
            post = NULL;
        }
    }
    work_end(w);
    return post;
}

/* Checks {topic?, idea?} into text values (NULL clears). */
static int check_post_request(const json_t *request, char **topic, char **idea,
                              struct error *err)
{
    const json_t *topic_value = json_object_get(request, "topic");
    const json_t *idea_value = json_object_get(request, "idea");
    json_t *theme = json_object();
    struct blog_start_options options = {.idea = idea_value};
    const char *key;
    json_t *value;
    int rc = 0;

    json_object_foreach((json_t *)request, key, value)
    {
        (void)value;
        if (strcmp(key, "topic") != 0 && strcmp(key, "idea") != 0) {
            error_set(err, ERR_INVALID,
                      "request: unknown field \"%.40s\": expected topic or "
                      "idea",
                      key);
            snprintf(err->code, sizeof(err->code), "request");
            rc = -1;
        }
    }

    /* The blog pipeline checks both as it would for a generation. */
    if (rc == 0 && topic_value && !json_is_null(topic_value))
        json_object_set(theme, "topic", (json_t *)topic_value);
    if (rc == 0) {
        json_t *checked = blog_request_validate(theme, err);

        if (!checked || (idea_value && !json_is_null(idea_value) &&
                         blog_options_add(checked, &options, err) != 0))
            rc = -1;
        if (rc == 0) {
            const char *text =
                json_string_value(json_object_get(checked, "topic"));

            *topic = text ? strdup(text) : NULL;
            *idea = blog_options_idea(checked)
                        ? json_dumps(blog_options_idea(checked), JSON_COMPACT)
                        : NULL;
        }
        json_decref(checked);
    }
    json_decref(theme);
    return rc;
}

json_t *campaigns_post_update(struct app *app, const char *instance_id,
                              const char *campaign_id, const char *post_id,
                              const json_t *request, struct error *err)
{
    struct campaign_work w;
    char *topic = NULL;
    char *idea = NULL;

    if (!json_is_object(request)) {
        error_set(err, ERR_INVALID, "request: expected a JSON object");
        return NULL;
    }
    if (check_post_request(request, &topic, &idea, err) != 0 ||
        begin_post_change(app, instance_id, campaign_id, post_id,
                          "change the post", &w, err) != 0)
        goto fail;
    if ((json_object_get(request, "topic") &&
         store_run(w.tx,
                   "UPDATE campaign_posts SET topic = ?, updated_at = ?"
                   " WHERE id = ?",
                   STORE_ARGS(STORE_TEXT(topic), STORE_INT(clock_now_ms()),
                              STORE_TEXT(post_id)),
                   NULL, err) != 0) ||
        (json_object_get(request, "idea") &&
         store_run(w.tx,
                   "UPDATE campaign_posts SET idea = ?, updated_at = ?"
                   " WHERE id = ?",
                   STORE_ARGS(STORE_TEXT(idea), STORE_INT(clock_now_ms()),
                              STORE_TEXT(post_id)),
                   NULL, err) != 0)) {
        work_end(&w);
        goto fail;
    }
    free(topic);
    free(idea);
    return commit_post_view(&w, post_id, err);

fail:
    free(topic);
    free(idea);
    return NULL;
}

json_t *campaigns_post_set_paused(struct app *app, const char *instance_id,
                                  const char *campaign_id, const char *post_id,
                                  int paused, struct error *err)
{
    struct campaign_work w;
    int64_t now_ms = clock_now_ms();
    int64_t run_at_ms = 0;

    if (begin_post_change(app, instance_id, campaign_id, post_id,
                          paused ? "pause the post" : "resume the post", &w,
                          err) != 0)
        return NULL;
    if (store_run(w.tx,
                  "UPDATE campaign_posts SET paused = ?, updated_at = ?"
                  " WHERE id = ?",
                  STORE_ARGS(STORE_INT(paused != 0), STORE_INT(now_ms),
                             STORE_TEXT(post_id)),
                  NULL, err) != 0 ||
        store_query_int(w.tx, "SELECT run_at FROM campaign_posts WHERE id = ?",
                        STORE_ARGS(STORE_TEXT(post_id)), &run_at_ms, err) < 0 ||
        (!paused &&
         campaigns_store_queue_due(
             w.tx, run_at_ms > now_ms ? run_at_ms : now_ms, err) != 0)) {
        work_end(&w);
        return NULL;
    }
    return commit_post_view(&w, post_id, err);
}

/* Cancels a running post's generation, outside any transaction. */
static json_t *cancel_running(struct app *app, const char *instance_id,
                              const char *campaign_id, const char *post_id,
                              struct error *err)
{
    struct campaign_work w;
    json_t *post;
    const char *generation;
    char id[STORE_UUID_SIZE] = "";

    if (work_begin(app, instance_id, campaign_id, 0, &w, err) != 0)
        return NULL;
    post = one_post_view(&w, post_id, err);
    work_end(&w);
    generation = json_string_value(json_object_get(post, "generation_id"));
    if (generation)
        snprintf(id, sizeof(id), "%s", generation);
    json_decref(post);
    if (!id[0]) {
        error_set(err, ERR_CONFLICT, "post %s has no generation", post_id);
        return NULL;
    }
    if (blog_cancel(app, instance_id, id, err) != 0)
        return NULL;
    log_info("campaigns", "post cancelled instance=%s post=%s generation=%s",
             instance_id, post_id, id);
    return campaigns_post_get(app, instance_id, campaign_id, post_id, err);
}

json_t *campaigns_post_cancel(struct app *app, const char *instance_id,
                              const char *campaign_id, const char *post_id,
                              struct error *err)
{
    struct campaign_work w;
    char state[32] = "";
    int rc;

    if (work_begin(app, instance_id, campaign_id, 1, &w, err) != 0)
        return NULL;
    if (post_state(&w, post_id, state, err) != 0) {
        work_end(&w);
        return NULL;
    }
    if (strcmp(state, CAMPAIGN_POST_RUNNING) == 0) {
        work_end(&w);
        return cancel_running(app, instance_id, campaign_id, post_id, err);
    }
    rc = campaigns_store_set_post_state(w.tx, post_id, CAMPAIGN_POST_SCHEDULED,
                                        CAMPAIGN_POST_CANCELLED, ERR_NONE, NULL,
                                        err);
    if (rc <= 0) {
        if (rc == 0) {
            error_set(err, ERR_CONFLICT,
                      "cannot skip post %s: it is %s, and only a scheduled or "
                      "running post can be skipped",
                      post_id, state);
            snprintf(err->code, sizeof(err->code), "conflict");
        }
        work_end(&w);
        return NULL;
    }
    log_info("campaigns", "post skipped instance=%s campaign=%s post=%s",
             instance_id, campaign_id, post_id);
    return commit_post_view(&w, post_id, err);
}
