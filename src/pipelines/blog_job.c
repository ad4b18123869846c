/*
 * The run of a blog step as a queue job. It loads the generation and does
 * the external work outside any transaction. Then it moves the generation
 * on and finishes the job in one transaction, with the generation locked
 * and its state checked again, so that a generation cancelled meanwhile is
 * not moved on. Also the hook that fails a generation, and the settings.
 */
#include "pipelines/blog_internal.h"

#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_IMAGE_MODEL "black-forest-labs/flux-schnell"

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

static int read_image_settings(const struct config *cfg,
                               struct blog_settings *out, struct error *err)
{
    const char *model = config_get_string(
        cfg, "SITESMITH_REPLICATE_IMAGE_MODEL", DEFAULT_IMAGE_MODEL);
    const char *format =
        config_get_string(cfg, "SITESMITH_BLOG_IMAGE_FORMAT", "webp");
    const char *slash = strchr(model, '/');

    if (!slash || slash == model || !slash[1] || strchr(slash + 1, '/') ||
        strchr(model, ':') || strlen(model) >= sizeof(out->image_model))
        return error_set(err, ERR_INVALID,
                         "SITESMITH_REPLICATE_IMAGE_MODEL: invalid value "
                         "\"%.100s\": expected an official model as "
                         "\"owner/name\", e.g. \"%s\"",
                         model, DEFAULT_IMAGE_MODEL);
    if (strcmp(format, "webp") != 0 && strcmp(format, "png") != 0)
        return error_set(err, ERR_INVALID,
                         "SITESMITH_BLOG_IMAGE_FORMAT: invalid value "
                         "\"%.20s\": expected webp or png",
                         format);
    snprintf(out->image_model, sizeof(out->image_model), "%s", model);
    snprintf(out->image_format, sizeof(out->image_format), "%s", format);
    return 0;
}

int blog_settings_read(const struct config *cfg, struct blog_settings *out,
                       struct error *err)
{
    memset(out, 0, sizeof(*out));
    if (read_image_settings(cfg, out, err) != 0 ||
        config_get_int(cfg, "SITESMITH_BLOG_IDEAS_MAX_TOKENS", 2000, 16, 100000,
                       &out->ideas_max_tokens, err) != 0 ||
        config_get_int(cfg, "SITESMITH_BLOG_WRITE_MAX_TOKENS", 8000, 16, 100000,
                       &out->write_max_tokens, err) != 0 ||
        config_get_int(cfg, "SITESMITH_BLOG_IMAGE_MAX_BYTES",
                       10LL * 1024 * 1024, 1024, 100LL * 1024 * 1024,
                       &out->image_max_bytes, err) != 0 ||
        config_get_duration_ms(cfg, "SITESMITH_BLOG_MEDIA_TIMEOUT", 60000,
                               &out->media_timeout_ms, err) != 0 ||
        config_get_duration_ms(cfg, "SITESMITH_BLOG_IMAGE_URL_TTL",
                               50LL * 60 * 1000, &out->image_url_ttl_ms,
                               err) != 0 ||
        config_get_int(cfg, "SITESMITH_BLOG_PRODUCT_SAMPLE", 10, 0, 100,
                       &out->product_sample, err) != 0 ||
        config_get_duration_ms(cfg, "SITESMITH_BLOG_SELECTION_TTL",
                               24LL * 3600 * 1000, &out->selection_ttl_ms,
                               err) != 0 ||
        config_get_int(cfg, "SITESMITH_BLOG_MAX_IDEA_ROUNDS", 5, 1, 100,
                       &out->max_idea_rounds, err) != 0)
        return -1;
    if (out->selection_ttl_ms <= 0)
        return error_set(err, ERR_INVALID,
                         "SITESMITH_BLOG_SELECTION_TTL: invalid value: "
                         "expected a duration above zero, such as 24h");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers for the steps                                               */
/* ------------------------------------------------------------------ */

json_t *blog_checkpoint(const struct blog_job *bj, const char *name)
{
    json_t *value = json_object_get(bj->checkpoints, name);

    return json_is_object(value) ? value : NULL;
}

int blog_write_checkpoint(struct store_tx *tx, const char *id, const char *step,
                          const json_t *output, struct error *err)
{
    char *text = json_to_string(output);
    int rc;

    if (!text)
        return error_set(err, ERR_PERMANENT, "out of memory");
    rc = store_generation_checkpoint(tx, id, step, text, err);
    free(text);
    return rc;
}

int blog_set_state(struct store_tx *tx, const char *id, const char *from,
                   const char *to, struct error *err)
{
    int rc = store_generation_set_state(tx, id, from, to, err);

    if (rc < 0)
        return -1;
    if (rc == 0)
        return error_set(err, ERR_CONFLICT,
                         "generation %s is no longer %s; not moved to %s", id,
                         from, to);
    return store_notify(tx, BLOG_CHANNEL, err);
}

int blog_enqueue(struct store_tx *tx, const char *instance_id, const char *id,
                 const char *kind, int round, struct error *err)
{
    return blog_enqueue_at(tx, instance_id, id, kind, round, 0, err);
}

int blog_enqueue_at(struct store_tx *tx, const char *instance_id,
                    const char *id, const char *kind, int round,
                    int64_t run_at_ms, struct error *err)
{
    struct queue_enqueue_options options = {
        .generation_id = id,
        .run_at_ms = run_at_ms,
    };
    char key[STORE_ID_MAX * 2];
    char payload[64];

    if (round > 0) {
        snprintf(key, sizeof(key), "gen/%s/%s/%d", id, kind, round);
        snprintf(payload, sizeof(payload), "{\"round\":%d}", round);
    } else {
        snprintf(key, sizeof(key), "gen/%s/%s", id, kind);
        snprintf(payload, sizeof(payload), "{}");
    }
    options.unique_key = key;
    return queue_enqueue(tx, kind, instance_id, payload, &options, NULL, err) <
                   0
               ? -1
               : 0;
}

int blog_still_in_state(struct blog_job *bj, const char *state,
                        struct error *err)
{
    struct store_tx *tx = store_begin_read(bj->app->store, err);
    struct store_generation gen;
    int rc;

    if (!tx) {
        blog_error_from(err, BLOG_SOURCE_APP);
        return -1;
    }
    rc =
        blog_generation_load(tx, bj->gen.instance_id, bj->gen.id, 0, &gen, err);
    store_rollback(tx);
    if (rc != 0) {
        blog_error_from(err, BLOG_SOURCE_APP);
        return -1;
    }
    rc = strcmp(gen.state, state) == 0;
    store_generation_clear(&gen);
    return rc;
}

static void count_job(const char *kind, const char *outcome)
{
    char labels[128];

    snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", kind,
             outcome);
    metrics_count("sitesmith_jobs_total", labels, 1);
}

/* ------------------------------------------------------------------ */
/* Effects ledger, one short transaction per call                     */
/* ------------------------------------------------------------------ */

/* Marks a failure of the effects ledger as the app's own, so that a
 * Wix step does not report it as Wix's. Returns -1. */
static int ledger_failed(struct error *err)
{
    blog_error_from(err, BLOG_SOURCE_APP);
    return -1;
}

int blog_effect_read(struct blog_job *bj, const char *key,
                     struct store_effect *out, struct error *err)
{
    struct store_tx *tx = store_begin_read(bj->app->store, err);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!tx)
        return ledger_failed(err);
    rc = store_effect_get(tx, key, out, err);
    store_rollback(tx);
    return rc < 0 ? ledger_failed(err) : rc;
}

int blog_effect_begin(struct blog_job *bj, const char *key,
                      struct store_effect *out, struct error *err)
{
    struct store_tx *tx = store_begin(bj->app->store, err);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!tx)
        return ledger_failed(err);
    rc = store_effect_begin(tx, key, bj->gen.instance_id, bj->gen.id, out, err);
    if (rc < 0) {
        store_rollback(tx);
        return ledger_failed(err);
    }
    return store_commit(tx, err) == 0 ? rc : ledger_failed(err);
}

int blog_effect_done(struct blog_job *bj, const char *key,
                     const char *remote_id, struct error *err)
{
    struct store_tx *tx = store_begin(bj->app->store, err);

    if (!tx)
        return ledger_failed(err);
    if (store_effect_done(tx, key, remote_id, err) != 0) {
        store_rollback(tx);
        return ledger_failed(err);
    }
    return store_commit(tx, err) == 0 ? 0 : ledger_failed(err);
}

/* ------------------------------------------------------------------ */
/* Running a step                                                      */
/* ------------------------------------------------------------------ */

static void blog_job_clear(struct blog_job *bj)
{
    store_generation_clear(&bj->gen);
    json_decref(bj->input);
    json_decref(bj->checkpoints);
    json_decref(bj->payload);
}

/* Loads the job's generation; 1 when found, 0 when it is gone. */
static int blog_job_load(struct blog_job *bj, struct error *err)
{
    struct store_tx *tx = store_begin_read(bj->app->store, err);
    int rc;

    if (!tx)
        return -1;
    rc = blog_generation_load(tx, bj->job->instance_id, bj->job->generation_id,
                              0, &bj->gen, err);
    store_rollback(tx);
    if (rc != 0)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    bj->input = json_loads(bj->gen.input, 0, NULL);
    bj->checkpoints = json_loads(bj->gen.checkpoints, 0, NULL);
    bj->payload = json_loads(bj->job->payload, 0, NULL);
    if (!json_is_object(bj->input) || !json_is_object(bj->checkpoints) ||
        !json_is_object(bj->payload))
        return error_set(err, ERR_PERMANENT,
                         "generation %s has an unreadable input, checkpoint "
                         "or job payload",
                         bj->gen.id);
    return 1;
}

/* Moves the generation on and finishes the job, in one transaction. */
static int finish_step(const struct blog_step *step, struct blog_job *bj,
                       const json_t *output, int *moved, struct error *err)
{
    struct store_tx *tx = store_begin(bj->app->store, err);
    struct store_generation gen;
    int rc;

    if (!tx)
        return -1;
    if (blog_generation_load(tx, bj->gen.instance_id, bj->gen.id, 1, &gen,
                             err) != 0)
        goto fail;
    *moved = strcmp(gen.state, step->state) != 0;
    if (!*moved)
        rc = step->advance(bj, tx, output, err);
    else
        rc = step->abandoned ? step->abandoned(bj, tx, output, err) : 0;
    store_generation_clear(&gen);
    if (rc != 0 || queue_finish(tx, bj->job, err) != 0)
        goto fail;
    return store_commit(tx, err);

fail:
    store_rollback(tx);
    return -1;
}

static int skip_job(struct blog_job *bj, const char *reason)
{
    log_info("blog",
             "job skipped job=%" PRId64 " kind=%s instance=%s "
             "generation=%s reason=\"%s\"",
             bj->job->id, bj->job->kind, bj->job->instance_id,
             bj->job->generation_id, reason);
    count_job(bj->job->kind, "skipped");
    return 0;
}

int blog_step_run(const struct blog_step *step, struct store *st,
                  struct queue_job *job, void *arg, struct error *err)
{
    struct blog_job bj = {.app = arg, .job = job};
    json_t *output = NULL;
    int moved = 0;
    int rc;

    (void)st;
    if (blog_settings_read(bj.app->cfg, &bj.settings, err) != 0)
        goto fail;
    rc = blog_job_load(&bj, err);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        rc = skip_job(&bj, "the generation no longer exists");
        blog_job_clear(&bj);
        return rc;
    }
    if (strcmp(bj.gen.state, step->state) != 0) {
        char reason[96];

        snprintf(reason, sizeof(reason), "the generation is %s, not %s",
                 bj.gen.state, step->state);
        rc = skip_job(&bj, reason);
        blog_job_clear(&bj);
        return rc;
    }

    if (step->work(&bj, &output, err) != 0 ||
        finish_step(step, &bj, output, &moved, err) != 0)
        goto fail;
    if (moved)
        log_warn("blog",
                 "step finished after the generation left its state "
                 "job=%" PRId64 " kind=%s instance=%s generation=%s",
                 job->id, job->kind, job->instance_id, job->generation_id);
    if (!moved && step->committed)
        step->committed(&bj, output);
    count_job(job->kind, moved ? "skipped" : "succeeded");
    json_decref(output);
    blog_job_clear(&bj);
    return 0;

fail:
    count_job(job->kind, "error");
    json_decref(output);
    blog_job_clear(&bj);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Failing a generation                                                */
/* ------------------------------------------------------------------ */

/* Records in wix_ids the remote objects an effect created, if any. */
static int note_effect(struct store_tx *tx, const char *id, const char *suffix,
                       const char *name, struct error *err)
{
    struct store_effect effect;
    char key[STORE_ID_MAX * 2];
    int rc;

    snprintf(key, sizeof(key), "gen/%s/%s", id, suffix);
    rc = store_effect_get(tx, key, &effect, err);
    if (rc <= 0)
        return rc;
    if (effect.remote_id)
        rc = store_generation_set_wix_id(tx, id, name, effect.remote_id, err);
    else
        rc = 0;
    store_effect_clear(&effect);
    return rc;
}

/* Logs the technical cause of a failed generation, which the owner does
 * not see, and counts the failure by who has to act on it. */
static void report_failure(const struct queue_job *job,
                           const struct error *cause, int operator_needed)
{
    const char *who = operator_needed ? "operator" : "owner";
    char labels[64];

    snprintf(labels, sizeof(labels), "action=\"%s\"", who);
    metrics_count("sitesmith_blog_failures_total", labels, 1);
    log_error("blog",
              "generation failed instance=%s generation=%s job=%" PRId64
              " step=%s attempt=%d action=%s error_kind=%s error_code=%s "
              "error=\"%s\"",
              job->instance_id, job->generation_id, job->id, job->kind,
              job->attempt, who, error_kind_name(cause->kind),
              cause->code[0] ? cause->code : "none", cause->message);
}

int blog_job_failed(struct store_tx *tx, const struct queue_job *job,
                    const struct error *cause, void *arg, struct error *err)
{
    struct store_generation gen;
    struct error owner;
    int operator_needed;
    int rc;

    (void)arg;
    count_job(job->kind, "failed");
    if (blog_generation_load(tx, job->instance_id, job->generation_id, 1, &gen,
                             err) != 0)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    if (blog_state_ended(gen.state)) {
        store_generation_clear(&gen);
        return 0;
    }

    /* The owner reads plain words; the cause goes to the log. A media
     * file or a draft made before the failure stays on the site: the
     * generation names them so that nothing is left unnoticed. */
    operator_needed = blog_owner_error(job->kind, cause, &owner);
    rc = blog_set_state(tx, job->generation_id, gen.state, BLOG_FAILED, err) !=
                     0 ||
                 store_generation_set_error(tx, job->generation_id, &owner,
                                            err) != 0 ||
                 note_effect(tx, job->generation_id, "media", "mediaId", err) <
                     0 ||
                 note_effect(tx, job->generation_id, "media-upload", "mediaId",
                             err) < 0 ||
                 note_effect(tx, job->generation_id, "draft", "draftPostId",
                             err) < 0 ||
                 store_credits_release(tx, job->generation_id, err) < 0
             ? -1
             : 0;
    store_generation_clear(&gen);
    if (rc != 0)
        return -1;
    report_failure(job, cause, operator_needed);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */
/* ------------------------------------------------------------------ */

static int run_ideas(struct store *st, struct queue_job *job, void *arg,
                     struct error *err)
{
    return blog_step_run(&blog_ideas_step, st, job, arg, err);
}

static int run_write(struct store *st, struct queue_job *job, void *arg,
                     struct error *err)
{
    return blog_step_run(&blog_write_step, st, job, arg, err);
}

static int run_image(struct store *st, struct queue_job *job, void *arg,
                     struct error *err)
{
    return blog_step_run(&blog_image_step, st, job, arg, err);
}

static int run_publish(struct store *st, struct queue_job *job, void *arg,
                       struct error *err)
{
    return blog_step_run(&blog_publish_step, st, job, arg, err);
}

static int run_expire(struct store *st, struct queue_job *job, void *arg,
                      struct error *err)
{
    return blog_step_run(&blog_expire_step, st, job, arg, err);
}

int blog_register_jobs(struct app *app, struct queue_pool *pool,
                       struct error *err)
{
    static const struct {
        const char *kind;
        queue_handler_fn run;
    } kinds[] = {
        {BLOG_JOB_IDEAS, run_ideas},   {BLOG_JOB_WRITE, run_write},
        {BLOG_JOB_IMAGE, run_image},   {BLOG_JOB_PUBLISH, run_publish},
        {BLOG_JOB_EXPIRE, run_expire},
    };

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct queue_handler handler = {
            .run = kinds[i].run,
            .failed = blog_job_failed,
            .arg = app,
        };

        if (queue_pool_register(pool, kinds[i].kind, &handler, err) != 0)
            return -1;
    }
    return 0;
}
