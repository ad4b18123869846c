/*
 * Internals of the lifecycle pipeline, shared by lifecycle*.c.
 */
#ifndef SITESMITH_PIPELINES_LIFECYCLE_INTERNAL_H
#define SITESMITH_PIPELINES_LIFECYCLE_INTERNAL_H

#include "pipelines/lifecycle.h"

/*
 * Reads a site's state ("installed", "removed") and stored plan ("" for
 * free) in a read transaction of its own. Returns 1 when the site is
 * known, 0 when not (state and plan are then "").
 */
int lifecycle_site_read(struct store *st, const char *instance_id,
                        char state[16], char plan[64], struct error *err);

/*
 * Cancels the work of a removed site, each part in its own transaction.
 * That is blog generations that have not ended, running product jobs with
 * the reservations of their items that wait for review, and every other
 * queued job of the site except lifecycle events. Also drops the site's
 * cached token from this process's memory. Does nothing when the site was
 * installed again meanwhile, and is safe to repeat.
 */
int lifecycle_cancel_work(struct app *app, const char *instance_id,
                          struct error *err);

#endif
