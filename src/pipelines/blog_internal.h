/*
 * Internals of the blog pipeline, shared by blog*.c. Not for use outside
 * src/pipelines (tests may call them).
 *
 * What a blog generation keeps in the store:
 *   input        the validated request {topic, keywords, tone, language}
 *   checkpoints  "ideas"     {round, ideas[], avoid[], site{...}, model}
 *                "selection" {index, idea}
 *                "write"     {post{...}, model}
 *                "image"     {prediction_id, model, created_at_ms}, and
 *                            once downloaded also output_url,
 *                            output_at_ms, path, content_type, bytes,
 *                            width, height; failed_predictions[] lists
 *                            {id, code, error} of predictions given up
 *                "publish"   {media_id, media_url, width, height,
 *                             member_id, draft_post_id, draft_url}
 *                "usage"     OpenAI tokens of every call so far
 *   wix_ids      mediaId, draftPostId
 *   result       {draft_post_id, draft_url, media_id, ...} once done
 */
#ifndef SITESMITH_PIPELINES_BLOG_INTERNAL_H
#define SITESMITH_PIPELINES_BLOG_INTERNAL_H

#include "ai/openai.h"
#include "core/config.h"
#include "pipelines/blog.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Request limits (docs/openapi.yaml, BlogRequest). */
#define BLOG_TOPIC_MAX 300
#define BLOG_KEYWORDS_MAX 20
#define BLOG_KEYWORD_MAX 60
#define BLOG_TONE_MAX 40
#define BLOG_LANGUAGE_MAX 35

/* Output limits that the write step enforces. Wix caps the title at 100
 * and the excerpt at 140 characters; the SEO limits are the lengths that
 * search engines show in full. */
#define BLOG_TITLE_MAX 100
#define BLOG_EXCERPT_MAX 140
#define BLOG_SEO_TITLE_MAX 70
#define BLOG_META_DESCRIPTION_MAX 160
#define BLOG_HASHTAGS_MAX 10
#define BLOG_HASHTAG_MAX 100
#define BLOG_IDEAS_MIN 3
#define BLOG_IDEAS_MAX 5

/* Settings of the pipeline, read from the configuration. */
struct blog_settings {
    char image_model[160];    /* SITESMITH_REPLICATE_IMAGE_MODEL */
    char image_format[8];     /* SITESMITH_BLOG_IMAGE_FORMAT: webp, png */
    int64_t ideas_max_tokens; /* SITESMITH_BLOG_IDEAS_MAX_TOKENS */
    int64_t write_max_tokens; /* SITESMITH_BLOG_WRITE_MAX_TOKENS */
    int64_t image_max_bytes;  /* SITESMITH_BLOG_IMAGE_MAX_BYTES */
    int64_t media_timeout_ms; /* SITESMITH_BLOG_MEDIA_TIMEOUT */
    int64_t image_url_ttl_ms; /* SITESMITH_BLOG_IMAGE_URL_TTL */
    int64_t product_sample;   /* SITESMITH_BLOG_PRODUCT_SAMPLE */
    /* SITESMITH_BLOG_SELECTION_TTL: how long ideas wait for a choice */
    int64_t selection_ttl_ms;
    /* SITESMITH_BLOG_MAX_IDEA_ROUNDS: rounds of ideas per generation */
    int64_t max_idea_rounds;
};

/*
 * Reads the settings, with defaults, and fails with a message naming the
 * variable on an invalid value. app_open() calls it once so that a bad
 * value stops the program at start.
 */
int blog_settings_read(const struct config *cfg, struct blog_settings *out,
                       struct error *err);

/* ------------------------------------------------------------------ */
/* Requests (blog_request.c)                                           */
/* ------------------------------------------------------------------ */

/*
 * Checks a request and returns its normalized form (a new object with
 * topic, keywords, tone and language, defaults filled in), or NULL with
 * err set to ERR_INVALID and err->code naming the field.
 */
json_t *blog_request_validate(const json_t *request, struct error *err);

/*
 * Reads a blog generation of instance_id in tx, locking it when for_update
 * is set. A missing id, another site's id or another kind is
 * ERR_NOT_FOUND. Free out with store_generation_clear().
 */
int blog_generation_load(struct store_tx *tx, const char *instance_id,
                         const char *id, int for_update,
                         struct store_generation *out, struct error *err);

/* True for done, failed and cancelled. */
int blog_state_ended(const char *state);

/* ------------------------------------------------------------------ */
/* Jobs (blog_job.c)                                                   */
/* ------------------------------------------------------------------ */

/* A job being run, with the generation as it was when the job began. */
struct blog_job {
    struct app *app;
    struct queue_job *job;
    struct blog_settings settings;
    struct store_generation gen;
    json_t *input;       /* gen.input parsed */
    json_t *checkpoints; /* gen.checkpoints parsed */
    json_t *payload;     /* job->payload parsed */
};

/*
 * One step of the pipeline. work runs outside any transaction and makes
 * the external calls; it sets *output (a new reference) to what advance
 * writes. advance runs in the transaction that finishes the job, with the
 * generation locked and still in state. abandoned (may be NULL) runs there
 * instead when the generation left state meanwhile (cancelled), to record
 * anything work created. work may set *output to NULL only when the
 * generation was cancelled.
 */
struct blog_step {
    const char *kind;
    const char *state;
    int (*work)(struct blog_job *bj, json_t **output, struct error *err);
    int (*advance)(struct blog_job *bj, struct store_tx *tx,
                   const json_t *output, struct error *err);
    int (*abandoned)(struct blog_job *bj, struct store_tx *tx,
                     const json_t *output, struct error *err);
    /* Called after advance committed (may be NULL). */
    void (*committed)(struct blog_job *bj, const json_t *output);
};

/*
 * Runs a step as a queue handler: loads the generation, skips the job when
 * the generation is no longer in step->state, calls work, then advance (or
 * abandoned) and queue_finish() in one transaction. Counts the outcome in
 * sitesmith_jobs_total.
 */
int blog_step_run(const struct blog_step *step, struct store *st,
                  struct queue_job *job, void *arg, struct error *err);

/* The queue's hook for a job that failed for good: marks the generation
 * failed with cause and releases its credits, in tx. */
int blog_job_failed(struct store_tx *tx, const struct queue_job *job,
                    const struct error *cause, void *arg, struct error *err);

/* checkpoints[name] of the job's generation, borrowed, or NULL. */
json_t *blog_checkpoint(const struct blog_job *bj, const char *name);

/*
 * Rereads the generation's state in a short transaction: 1 when it is
 * still in state, 0 when it moved on (cancelled), -1 on error.
 */
int blog_still_in_state(struct blog_job *bj, const char *state,
                        struct error *err);

/* Stores checkpoints[step] = output (an object) in tx. */
int blog_write_checkpoint(struct store_tx *tx, const char *id, const char *step,
                          const json_t *output, struct error *err);

/* Channel woken when a generation changes state (store_notify). */
#define BLOG_CHANNEL "sitesmith_blog"

/*
 * Moves generation id from state from to state to in tx, and wakes the
 * listeners of BLOG_CHANNEL when tx commits. ERR_CONFLICT when the
 * generation was not in from.
 */
int blog_set_state(struct store_tx *tx, const char *id, const char *from,
                   const char *to, struct error *err);

/*
 * Enqueues the job of kind for generation id in tx, with the unique key
 * "gen/<id>/<kind>" (plus "/<round>" when round > 0).
 */
int blog_enqueue(struct store_tx *tx, const char *instance_id, const char *id,
                 const char *kind, int round, struct error *err);

/* Enqueues as blog_enqueue() does, due at run_at_ms (0: now). */
int blog_enqueue_at(struct store_tx *tx, const char *instance_id,
                    const char *id, const char *kind, int round,
                    int64_t run_at_ms, struct error *err);

/*
 * The effects ledger (see store_effect_begin), each call in a short
 * transaction of its own so that the intent is committed before the
 * remote call. blog_effect_read returns 1 when found (free out with
 * store_effect_clear), 0 when not; blog_effect_begin 1 when the intent is
 * new, 0 when it existed (out then contains it).
 */
int blog_effect_read(struct blog_job *bj, const char *key,
                     struct store_effect *out, struct error *err);
int blog_effect_begin(struct blog_job *bj, const char *key,
                      struct store_effect *out, struct error *err);
int blog_effect_done(struct blog_job *bj, const char *key,
                     const char *remote_id, struct error *err);

/* ------------------------------------------------------------------ */
/* OpenAI calls (blog_ai.c)                                            */
/* ------------------------------------------------------------------ */

/*
 * Sends request with app's client and counts its tokens in the metrics
 * under step. The caller adds the usage of a usable response to the
 * "usage" checkpoint with the step's output (see blog_add_usage). The
 * usage of an unusable response (finish_reason length, say) is added at
 * once in a transaction of its own, because those tokens are billed too.
 */
int blog_ai_call(struct blog_job *bj, const char *step,
                 const struct openai_request *request,
                 struct openai_result *result, struct error *err);

/* Adds usage (an object as above) to the "usage" checkpoint, in tx. */
int blog_add_usage(struct store_tx *tx, const char *id, const json_t *usage,
                   struct error *err);

/* {prompt_tokens, completion_tokens, total_tokens, calls: 1}, new. */
json_t *blog_usage_json(const struct openai_usage *usage);

struct buf;

/* Appends "label: value\n" when value is a non-empty string. */
void blog_prompt_line(struct buf *out, const char *label, const json_t *value);

/* Appends "label: a, b, c\n" when values is a non-empty array. */
void blog_prompt_words(struct buf *out, const char *label,
                       const json_t *values);

/* Appends the owner's topic, keywords, tone and language from input. */
void blog_prompt_wishes(struct buf *out, const json_t *input);

/* ------------------------------------------------------------------ */
/* Steps                                                               */
/* ------------------------------------------------------------------ */

extern const struct blog_step blog_ideas_step;   /* blog_ideas.c */
extern const struct blog_step blog_write_step;   /* blog_write.c */
extern const struct blog_step blog_image_step;   /* blog_image.c */
extern const struct blog_step blog_publish_step; /* blog_publish.c */
extern const struct blog_step blog_expire_step;  /* blog_expire.c */

/*
 * Queues the job that cancels generation id when its ideas of round are
 * still unchosen after the selection TTL, in tx. The ideas step calls it
 * in the transaction that moves the generation to awaiting_selection.
 */
int blog_expire_schedule(struct store_tx *tx, const struct blog_job *bj,
                         int round, struct error *err);

/*
 * Fits text into max characters (code points) for a field that may be
 * shortened: cuts at the last word boundary that keeps at least 60% of
 * max, drops trailing punctuation, and appends "…" when ellipsis is set
 * (counted within max). Returns a new string (the text itself when it
 * fits), or NULL when there is no such boundary. Trims spaces either way.
 */
char *blog_fit_text(const char *text, size_t max, int ellipsis);

/* Number of Unicode code points in UTF-8 text. */
size_t blog_utf8_length(const char *text);

/*
 * Checks and fits the written post in place. The excerpt, SEO title and
 * meta description are shortened at a word boundary when over their
 * limits. A title over its limit, or a summary with no boundary to cut at,
 * fails with ERR_PERMANENT naming the field and its length. Hashtags lose
 * '#' and spaces, too long or repeated ones are dropped (at most
 * BLOG_HASHTAGS_MAX are kept), and the body must have text.
 */
int blog_post_fit(json_t *post, struct error *err);

/* ------------------------------------------------------------------ */
/* Cover media (blog_media.c)                                          */
/* ------------------------------------------------------------------ */

struct wix_client;

/* The cover as the Media Manager has it, READY. */
struct blog_media {
    char id[256];
    char url[1024];
    int width;
    int height;
};

/*
 * Makes sure the generation's cover image is a READY file in the site's
 * Media Manager, created exactly once. It is imported from the Replicate
 * URL while the URL is younger than the configured age, else the kept
 * bytes are uploaded, and a FAILED import falls back to the upload once.
 * Each creation is recorded in the effects ledger before the call
 * ("gen/<id>/media" and "gen/<id>/media-upload") and completed with the
 * file id right after it. A retry that finds an intent without an id
 * searches the Media Manager for the file's display name before creating
 * it again.
 */
int blog_media_ensure(struct blog_job *bj, struct wix_client *client,
                      const json_t *image, struct blog_media *out,
                      struct error *err);

/* ------------------------------------------------------------------ */
/* Generations that run without the owner (blog_auto.c)                */
/* ------------------------------------------------------------------ */

/* Length limits of a fixed idea and of the titles to avoid. */
#define BLOG_ANGLE_MAX 600
#define BLOG_IDEA_KEYWORDS_MAX 8
#define BLOG_AVOID_MAX 50

/*
 * Checks options and stores them in input (a validated request) under
 * "options": {auto_select, idea, avoid, publish}, leaving input as it is
 * when no option is set. ERR_INVALID with err->code "idea" or "avoid".
 */
int blog_options_add(json_t *input, const struct blog_start_options *options,
                     struct error *err);

/* The fixed idea in input's options, borrowed, or NULL. */
const json_t *blog_options_idea(const json_t *input);

/* The titles that input's options ask ideas to avoid (borrowed array), or
 * NULL. */
const json_t *blog_options_avoid(const json_t *input);

/* True when the generation chooses its idea itself (auto_select or a
 * fixed idea). */
int blog_options_auto(const json_t *input);

/* True when the post is to be published instead of saved as a draft. */
int blog_options_publish(const json_t *input);

/*
 * The index of the idea that suits the owner's wishes in input best: the
 * most words of the topic and keywords found in its title, angle and
 * keywords, skipping titles the options ask to avoid. Ties go to the
 * earlier idea, in the model's order. ideas must not be empty.
 */
size_t blog_best_idea(const json_t *ideas, const json_t *input);

/*
 * Chooses the best of ideas for the job's generation in tx: writes the
 * selection checkpoint, moves generating_ideas to writing and queues the
 * write job.
 */
int blog_auto_select(struct store_tx *tx, const struct blog_job *bj,
                     const json_t *ideas, struct error *err);

/* Sets post's title to the chosen idea's when the generation chose the idea
 * itself, so that a planned title is the title published. */
int blog_keep_idea_title(const struct blog_job *bj, json_t *post,
                         struct error *err);

/* ------------------------------------------------------------------ */
/* What the owner reads when a generation fails (blog_errors.c)        */
/* ------------------------------------------------------------------ */

/* Services that a step's error may come from (see blog_error_from). */
#define BLOG_SOURCE_OPENAI "openai"
#define BLOG_SOURCE_REPLICATE "replicate"
#define BLOG_SOURCE_WIX "wix"
/* The app's own part, such as converting the post to rich content. */
#define BLOG_SOURCE_APP "app"

/* Codes of the pipeline's own findings, in err->code. */
#define BLOG_ERR_NO_MEMBERS "no_members" /* no member can own the post */
#define BLOG_ERR_COVER_LOST "cover_lost" /* no copy of the cover is left */

/*
 * Marks err as a failure of source (a BLOG_SOURCE_ name): err->code
 * becomes "<source>/<code>". An error already marked keeps its source, so
 * a step may mark what it knows and then mark the rest.
 */
void blog_error_from(struct error *err, const char *source);

/* err->code without the source that blog_error_from() put in front. */
const char *blog_error_code(const struct error *err);

/*
 * Fills owner with what the site owner reads for cause, the error that
 * failed a job of job_kind: a kind that says what the owner can do, and
 * plain words on what happened, that no credits were charged and what to
 * do next. No setting, vendor message, key or id of cause is copied.
 * Returns 1 when the cause needs the operator (a setting, a vendor
 * account, the app's own failure), else 0.
 */
int blog_owner_error(const char *job_kind, const struct error *cause,
                     struct error *owner);

/* ------------------------------------------------------------------ */
/* JSON views (blog_json.c)                                            */
/* ------------------------------------------------------------------ */

/* The API view of a generation (see blog_generation_json); new. */
json_t *blog_view(const struct store_generation *gen, struct error *err);

/* The error kind whose error_kind_name() is name; ERR_PERMANENT if none. */
enum error_kind blog_error_kind_from_name(const char *name);

#endif
