/*
 * What `serve`, `worker` and `migrate` share: the store migrated with every
 * module's schema, and the handlers of every job kind. Each module that
 * adds tables or job kinds lists itself once in the tables of runtime.c.
 */
#ifndef SITESMITH_CLI_RUNTIME_H
#define SITESMITH_CLI_RUNTIME_H

#include "core/config.h"
#include "core/error.h"
#include "queue/queue.h"
#include "store/store.h"

/*
 * Opens the store named by SITESMITH_DATABASE_URL (store_open_config) and
 * applies every pending migration of every module. Returns NULL with err
 * set on failure, including a database newer than this program. The
 * caller frees the store with store_close().
 */
struct store *cli_store_open(const struct config *cfg, struct error *err);

/* The NULL-ended list of module schemas that cli_store_open() applies. */
const struct store_schema *const *cli_schemas(void);

/*
 * Registers the handler of every job kind of the product on pool. st and
 * cfg are borrowed and outlive the pool.
 */
int cli_register_jobs(struct queue_pool *pool, struct store *st,
                      const struct config *cfg, struct error *err);

#endif
