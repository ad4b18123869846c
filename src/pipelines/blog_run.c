/*
 * One generation run to its end in the calling process, for `sitesmith
 * blog generate`: a worker pool with the blog handlers does the steps
 * while this thread follows the generation's state.
 */
#include "pipelines/blog_internal.h"

#include "core/log.h"

#include <stdio.h>
#include <string.h>

/* How often the state is read when no wake-up arrives. */
#define POLL_MS 250
#define POOL_WORKERS 2

/* Reads the generation's state (and, once ended, its error). */
static int read_state(struct app *app, const char *instance_id, const char *id,
                      struct store_generation *gen, struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    int rc;

    if (!tx)
        return -1;
    rc = blog_generation_load(tx, instance_id, id, 0, gen, err);
    store_rollback(tx);
    return rc;
}

/* The outcome of an ended generation as this function's result. */
static int outcome(const struct store_generation *gen, struct error *err)
{
    if (strcmp(gen->state, BLOG_DONE) == 0)
        return 0;
    if (strcmp(gen->state, BLOG_CANCELLED) == 0)
        return error_set(err, ERR_CONFLICT, "generation %s was cancelled",
                         gen->id);
    error_set(err, blog_error_kind_from_name(gen->error_kind),
              "generation %s failed: %s", gen->id,
              gen->error_message ? gen->error_message : "no reason recorded");
    return -1;
}

static struct queue_pool *start_pool(struct app *app, struct error *err)
{
    struct queue_pool_options options = {
        .workers = POOL_WORKERS,
        .poll_ms = POLL_MS,
    };
    struct queue_pool *pool = queue_pool_new(app->store, &options, err);

    if (!pool)
        return NULL;
    if (blog_register_jobs(app, pool, err) != 0 ||
        queue_pool_start(pool, err) != 0) {
        queue_pool_free(pool);
        return NULL;
    }
    return pool;
}

/* Follows the generation until it ends; returns 1 then, -1 on error. */
static int follow(struct app *app, const char *instance_id, const char *id,
                  int pick_index, blog_progress_fn progress, void *arg,
                  struct store_generation *gen, struct error *err)
{
    char last[sizeof(gen->state)] = "";
    int selected = 0;

    for (;;) {
        uint64_t seen = store_wakeup_count(app->store);

        if (read_state(app, instance_id, id, gen, err) != 0)
            return -1;
        if (strcmp(gen->state, last) != 0) {
            snprintf(last, sizeof(last), "%s", gen->state);
            if (progress)
                progress(gen->state, arg);
        }
        if (blog_state_ended(gen->state))
            return 1;
        if (!selected && strcmp(gen->state, BLOG_AWAITING_SELECTION) == 0) {
            if (blog_select(app, instance_id, id, pick_index, err) != 0) {
                error_prefix(err,
                             "cannot pick idea %d; generation %s still "
                             "awaits a choice",
                             pick_index, id);
                return -1;
            }
            selected = 1;
        }
        store_generation_clear(gen);
        store_wait_wakeup(app->store, seen, POLL_MS);
    }
}

int blog_run_until_done(struct app *app, const char *instance_id,
                        const char *id, int pick_index,
                        blog_progress_fn progress, void *arg, struct error *err)
{
    struct store_generation gen;
    struct queue_pool *pool;
    int rc;

    memset(&gen, 0, sizeof(gen));
    if (store_listen(app->store, BLOG_CHANNEL, err) != 0)
        return -1;
    pool = start_pool(app, err);
    if (!pool)
        return -1;
    rc = follow(app, instance_id, id, pick_index, progress, arg, &gen, err);
    queue_pool_free(pool);
    if (rc == 1)
        rc = outcome(&gen, err);
    store_generation_clear(&gen);
    return rc;
}
