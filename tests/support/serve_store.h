/*
 * The store as `sitesmith serve` will open it, seeded before the process
 * starts: a test that has exported its environment with serve_proc_export
 * records its sites and grants their credits here.
 */
#ifndef SITESMITH_TESTS_SERVE_STORE_H
#define SITESMITH_TESTS_SERVE_STORE_H

/*
 * Header-only, because the shared test-support library does not link the
 * store or the pipelines: only the tests that include this file need them.
 */
#include "core/config.h"
#include "pipelines/app.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/*
 * Opens the store of the environment's configuration, migrates it with the
 * app's schemas and records instance_id as installed; with credits > 0,
 * also grants them under grant_id. Fails the running test on an error.
 */
static inline void serve_store_seed(const char *instance_id, int64_t credits,
                                    const char *grant_id)
{
    struct error err;
    struct config *cfg = config_load(NULL, &err);
    struct store *st = cfg ? store_open_config(cfg, &err) : NULL;
    struct store_tx *tx;

    assert_non_null(st);
    assert_int_equal(store_migrate(st, app_schemas(), NULL, &err), 0);
    tx = store_begin(st, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_instance_put(tx, instance_id, "installed", "", NULL, &err), 0);
    if (credits > 0)
        assert_int_equal(
            store_credits_grant(tx, instance_id, credits, grant_id, NULL, &err),
            1);
    assert_int_equal(store_commit(tx, &err), 0);
    store_close(st);
    config_free(cfg);
}

#endif
