/*
 * The Blog Generator: ideas for the site, the owner's choice, a written
 * post, a cover image, and a draft in the site's Wix Blog.
 *
 * A blog generation is a row in the store (kind "blog") whose state moves
 *
 *   generating_ideas -> awaiting_selection -> writing -> generating_image
 *   -> publishing -> done
 *
 * or ends failed or cancelled. Each arrow after a choice is one queued job
 * ("blog.ideas", "blog.write", "blog.image", "blog.publish") that
 * checkpoints its output in the generation. So a retried job never pays
 * OpenAI or Replicate again for output it already has, and never creates a
 * second media file or draft post. The whole cost is reserved when the
 * generation starts, captured when it is done and released when it fails
 * or is cancelled.
 *
 * Every function that takes an instance_id only sees generations of that
 * site: another site's generation is ERR_NOT_FOUND, as an unknown id is.
 * All of them may be called from any thread that holds no store
 * transaction.
 */
#ifndef SITESMITH_PIPELINES_BLOG_H
#define SITESMITH_PIPELINES_BLOG_H

#include "core/error.h"
#include "pipelines/app.h"
#include "queue/queue.h"
#include "store/store.h"

#include <jansson.h>

/* Job kinds of the pipeline, in order. */
#define BLOG_JOB_IDEAS "blog.ideas"
#define BLOG_JOB_WRITE "blog.write"
#define BLOG_JOB_IMAGE "blog.image"
#define BLOG_JOB_PUBLISH "blog.publish"
/* Cancels a generation whose ideas waited SITESMITH_BLOG_SELECTION_TTL
 * for a choice, queued when they arrive. */
#define BLOG_JOB_EXPIRE "blog.expire"

/* Generation states. */
#define BLOG_GENERATING_IDEAS "generating_ideas"
#define BLOG_AWAITING_SELECTION "awaiting_selection"
#define BLOG_WRITING "writing"
#define BLOG_GENERATING_IMAGE "generating_image"
#define BLOG_PUBLISHING "publishing"
#define BLOG_DONE "done"
#define BLOG_FAILED "failed"
#define BLOG_CANCELLED "cancelled"

/*
 * Starts a generation for instance_id from request, a JSON object
 * {topic?, keywords?[], tone?, language?}: validates it, creates the
 * generation in state generating_ideas, reserves the whole cost (ideas,
 * write, image and publish from app->costs) and queues the ideas job, all
 * in one transaction. Writes the new id into id_out.
 *
 * Errors: ERR_INVALID naming the field and the rule, with err->code set to
 * the field's name; ERR_NOT_FOUND for an unknown instance;
 * ERR_INSUFFICIENT_CREDITS with the cost, the credits available and those
 * held by unfinished generations, and what the owner can do.
 */
int blog_start(struct app *app, const char *instance_id, const json_t *request,
               char id_out[STORE_UUID_SIZE], struct error *err);

/*
 * How a generation runs without the owner (campaigns). A zeroed struct is
 * a generation as blog_start() starts it.
 */
struct blog_start_options {
    /* Choose the best idea as soon as the ideas are ready, instead of
     * waiting in awaiting_selection, and keep its title as the post's. */
    int auto_select;
    /* An idea {title, angle?, keywords?[]} to write about: the ideas step
     * then only reads the site's facts, and the idea is chosen and its
     * title kept as with auto_select. Borrowed; may be NULL. */
    const json_t *idea;
    /* Titles that new ideas must not repeat, such as a campaign's earlier
     * posts: an array of strings. Borrowed; may be NULL. */
    const json_t *avoid;
    /* Publish the post on the site instead of saving a draft. */
    int publish;
};

/*
 * Starts a generation as blog_start() does, inside the caller's
 * transaction tx, with options (NULL: none), which the generation keeps
 * in its input under "options". On failure the caller must roll tx back,
 * because the generation row may already be written. Errors as
 * blog_start(), plus ERR_INVALID with err->code "idea" for an invalid
 * idea.
 */
int blog_start_in(struct store_tx *tx, struct app *app, const char *instance_id,
                  const json_t *request,
                  const struct blog_start_options *options,
                  char id_out[STORE_UUID_SIZE], struct error *err);

/* The whole cost of one generation, which blog_start() reserves. */
int64_t blog_generation_cost(const struct app *app);

/*
 * Chooses idea number index (from 0) and queues the writing job. Only in
 * awaiting_selection (else ERR_CONFLICT naming the state); an index out of
 * range is ERR_INVALID with err->code "index".
 */
int blog_select(struct app *app, const char *instance_id, const char *id,
                int64_t index, struct error *err);

/*
 * Asks for new ideas in place of the current ones, which the prompt lists
 * as ideas to avoid. Only in awaiting_selection (else ERR_CONFLICT). The
 * state goes back to generating_ideas. Costs the owner nothing more, so a
 * generation has at most SITESMITH_BLOG_MAX_IDEA_ROUNDS rounds of ideas;
 * asking beyond them is ERR_CONFLICT.
 */
int blog_regenerate_ideas(struct app *app, const char *instance_id,
                          const char *id, struct error *err);

/*
 * Cancels a generation that has not ended: its queued jobs are cancelled,
 * its state becomes cancelled and its reservation is released, in one
 * transaction. A job running at that moment does not move it on. An ended
 * generation is ERR_CONFLICT. So is one in publishing, whose draft may
 * already be on the site and is charged, unless the site has removed the
 * app: then the publish step stops before the draft if it can, and the
 * generation names what was made.
 */
int blog_cancel(struct app *app, const char *instance_id, const char *id,
                struct error *err);

/*
 * The generation as the API shows it (docs/openapi.yaml, BlogGeneration):
 * id, state, request, ideas, chosen_idea, post, image, draft_post_id,
 * draft_url, credits_reserved (what it still holds), credits_charged,
 * credits_released, error {kind, message}, created_at and updated_at.
 * Returns a new reference the caller releases, or NULL with err set
 * (ERR_NOT_FOUND for an unknown id).
 */
json_t *blog_generation_json(struct app *app, const char *instance_id,
                             const char *id, struct error *err);

/*
 * One page of the site's blog generations, newest first:
 * {"generations": [...], "next_cursor": "..." or null}. limit is 1 to 100;
 * cursor is NULL for the first page, else the next_cursor of the previous
 * page (ERR_INVALID with err->code "cursor" when it is not one). Returns a
 * new reference, or NULL with err set.
 */
json_t *blog_list_json(struct app *app, const char *instance_id, int limit,
                       const char *cursor, struct error *err);

/* Called with the new state each time a generation's state changes. */
typedef void (*blog_progress_fn)(const char *state, void *arg);

/*
 * Runs generation id to its end in the calling process, for `sitesmith
 * blog generate`. A worker pool with the blog job handlers runs the steps,
 * idea pick_index is selected as soon as the ideas are ready, and progress
 * (may be NULL) gets each new state until the generation is done, failed
 * or cancelled. The pool may also run other queued blog jobs meanwhile.
 * Returns 0 when the generation is done; -1 with err set when it failed
 * (its recorded error), was cancelled (ERR_CONFLICT), or pick_index is out
 * of range (ERR_INVALID).
 */
int blog_run_until_done(struct app *app, const char *instance_id,
                        const char *id, int pick_index,
                        blog_progress_fn progress, void *arg,
                        struct error *err);

/*
 * Registers the five blog job kinds with pool: their handlers, and the
 * hook that marks a generation failed and releases its credits when a job
 * fails for good. app must outlive the pool. Call before the pool starts.
 */
int blog_register_jobs(struct app *app, struct queue_pool *pool,
                       struct error *err);

#endif
