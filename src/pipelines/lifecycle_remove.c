/*
 * The work of a removed site: cancelled after the removal is recorded, so
 * that nothing more is spent or written on its behalf.
 */
#include "auth/token.h"
#include "core/log.h"
#include "pipelines/blog.h"
#include "pipelines/lifecycle_internal.h"
#include "pipelines/products.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Removal events queue behind each other per site; they must survive. */
#define KEPT_JOB_KINDS "lifecycle.%"

/* Runs a query of one text column and collects the values. */
static json_t *collect_ids(struct store *st, const char *sql,
                           const char *instance_id, struct error *err)
{
    struct store_tx *tx = store_begin_read(st, err);
    struct store_stmt *stmt;
    json_t *ids = json_array();
    int more;

    if (!tx) {
        json_decref(ids);
        return NULL;
    }
    stmt = store_query(tx, sql, STORE_ARGS(STORE_TEXT(instance_id)), err);
    while (stmt && (more = store_step(stmt, err)) == 1)
        json_array_append_new(ids, json_string(store_column_text(stmt, 0)));
    store_finalize(stmt);
    store_rollback(tx);
    if (!stmt || more < 0) {
        json_decref(ids);
        return NULL;
    }
    return ids;
}

/* Conflict and not found mean the work ended on its own meanwhile. */
static int ended_meanwhile(const struct error *err)
{
    return err->kind == ERR_CONFLICT || err->kind == ERR_NOT_FOUND;
}

static int cancel_blog(struct app *app, const char *instance_id,
                       struct error *err)
{
    json_t *ids = collect_ids(
        app->store,
        "SELECT id FROM generations WHERE instance_id = ? AND kind = 'blog' "
        "AND state NOT IN ('" BLOG_DONE "', '" BLOG_FAILED "', '" BLOG_CANCELLED
        "')",
        instance_id, err);
    size_t i;
    json_t *id;

    if (!ids)
        return -1;
    json_array_foreach(ids, i, id)
    {
        struct error one;

        error_clear(&one);
        if (blog_cancel(app, instance_id, json_string_value(id), &one) != 0 &&
            !ended_meanwhile(&one)) {
            *err = one;
            json_decref(ids);
            return -1;
        }
    }
    json_decref(ids);
    return 0;
}

/* Cancels a product job that still has work, and discards its items that
 * wait for review, which releases their reservations. */
static int cancel_product_job(struct app *app, const char *instance_id,
                              const char *job_id, struct error *err)
{
    struct products_progress progress;
    json_t *result;

    if (products_job_progress(app, instance_id, job_id, &progress, err) != 0)
        return ended_meanwhile(err) ? 0 : -1;
    if (!progress.cancelled_job && !products_progress_settled(&progress) &&
        products_job_cancel(app, instance_id, job_id, err) != 0 &&
        !ended_meanwhile(err))
        return -1;
    if (progress.ready == 0)
        return 0;
    result = products_items_act(app, instance_id, job_id, PRODUCTS_DISCARD,
                                NULL, 0, 1, NULL, err);
    if (!result)
        return ended_meanwhile(err) ? 0 : -1;
    json_decref(result);
    return 0;
}

static int cancel_products(struct app *app, const char *instance_id,
                           struct error *err)
{
    json_t *ids = collect_ids(app->store,
                              "SELECT id FROM generations WHERE instance_id = "
                              "? AND kind = '" PRODUCTS_KIND_JOB "' AND "
                              "state = '" PRODUCTS_JOB_RUNNING "'",
                              instance_id, err);
    size_t i;
    json_t *id;
    int rc = 0;

    if (!ids)
        return -1;
    json_array_foreach(ids, i, id)
    {
        error_clear(err);
        if (cancel_product_job(app, instance_id, json_string_value(id), err)) {
            rc = -1;
            break;
        }
    }
    json_decref(ids);
    return rc;
}

/* Cancels every other queued job of the site, e.g. a billing grant. */
static int cancel_queued_jobs(struct store *st, const char *instance_id,
                              struct error *err)
{
    json_t *ids = collect_ids(
        st,
        "SELECT CAST(id AS TEXT) FROM jobs WHERE instance_id = ? AND "
        "state = 'queued' AND kind NOT LIKE '" KEPT_JOB_KINDS "'",
        instance_id, err);
    struct store_tx *tx;
    size_t i;
    json_t *id;
    int rc = 0;

    if (!ids)
        return -1;
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        return 0;
    }
    tx = store_begin(st, err);
    json_array_foreach(ids, i, id)
    {
        if (!tx || queue_cancel(tx, strtoll(json_string_value(id), NULL, 10),
                                err) < 0) {
            rc = -1;
            break;
        }
    }
    json_decref(ids);
    if (rc != 0) {
        store_rollback(tx);
        return -1;
    }
    return store_commit(tx, err);
}

int lifecycle_cancel_work(struct app *app, const char *instance_id,
                          struct error *err)
{
    char state[16];
    char plan[64];
    int found = lifecycle_site_read(app->store, instance_id, state, plan, err);

    if (found <= 0 || strcmp(state, "removed") != 0)
        return found < 0 ? -1 : 0;
    if (token_forget(app->tokens, instance_id, err) != 0 ||
        cancel_blog(app, instance_id, err) != 0 ||
        cancel_products(app, instance_id, err) != 0 ||
        cancel_queued_jobs(app->store, instance_id, err) != 0)
        return -1;
    log_info("lifecycle", "work of removed site cancelled instance=%s",
             instance_id);
    return 0;
}
