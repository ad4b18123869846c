/*
 * `sitesmith campaigns list` and `sitesmith campaigns run-due` as an
 * operator runs them: the real program on a fresh SQLite file. The test
 * plans a campaign in-process, then moves its posts' times into the past
 * in the database, because the program runs on the real clock.
 */
#include "core/clock.h"
#include "core/json.h"
#include "pipelines/app.h"
#include "pipelines/campaigns.h"
#include "serve_proc.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define INSTANCE_ID "cli-campaigns-site"

static struct {
    char dir[64];
    struct config *cfg;
    char campaign_id[64];
} fx;

/* Runs one statement with one integer and one text parameter. */
static void run_sql(const char *sql, int64_t number, const char *text)
{
    struct error err;
    struct store *st = store_open_config(fx.cfg, &err);
    struct store_tx *tx = st ? store_begin(st, &err) : NULL;

    assert_non_null(tx);
    assert_int_equal(store_run(tx, sql,
                               STORE_ARGS(STORE_INT(number), STORE_TEXT(text)),
                               NULL, &err),
                     0);
    assert_int_equal(store_commit(tx, &err), 0);
    store_close(st);
}

/* Creates a campaign with two listed times, one and two days ahead. */
static void plan_campaign(void)
{
    struct error err;
    struct app *app = app_open(fx.cfg, &err);
    struct store_tx *tx;
    char request[512];
    char first[32];
    char second[32];
    time_t now = time(NULL);
    time_t one_day = now + 86400;
    time_t two_days = now + 2 * 86400;
    struct tm tm;
    json_t *body;
    json_t *view;

    assert_non_null(app);
    tx = store_begin(app->store, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_instance_put(tx, INSTANCE_ID, "installed", "", NULL, &err), 0);
    assert_int_equal(
        store_credits_grant(tx, INSTANCE_ID, 100, "cli-grant", NULL, &err), 1);
    assert_int_equal(store_commit(tx, &err), 0);

    strftime(first, sizeof(first), "%Y-%m-%dT%H:%M", gmtime_r(&one_day, &tm));
    strftime(second, sizeof(second), "%Y-%m-%dT%H:%M",
             gmtime_r(&two_days, &tm));
    snprintf(request, sizeof(request),
             "{\"name\": \"Operator's campaign\", \"time_zone\": \"UTC\","
             " \"schedule\": {\"times\": [\"%s\", \"%s\"]}}",
             first, second);
    body = json_loads(request, 0, NULL);
    view = campaigns_create(app, INSTANCE_ID, body, &err);
    if (!view)
        fail_msg("campaigns_create: %s", err.message);
    snprintf(fx.campaign_id, sizeof(fx.campaign_id), "%s",
             json_string_value(json_object_get(view, "id")));
    json_decref(view);
    json_decref(body);
    app_close(app);
}

static int setup(void **state)
{
    struct error err;

    (void)state;
    serve_proc_make_dir(fx.dir, sizeof(fx.dir), "cli-campaigns");
    serve_proc_export(
        &(struct serve_env){.dir = fx.dir,
                            .database = "cli.db",
                            .openai_key = "sk-test-cli-campaigns",
                            .replicate_token = "r8_test_cli_campaigns"});
    fx.cfg = config_load(NULL, &err);
    assert_non_null(fx.cfg);
    plan_campaign();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    config_free(fx.cfg);
    return serve_proc_remove_dir(fx.dir);
}

/* Runs sitesmith with args; returns its exit status and its output (stdout
 * and stderr) in out. */
static int run(const char *args, char *out, size_t size)
{
    return serve_proc_run(args, out, size);
}

static void list_prints_campaign(void **state)
{
    char out[8192];
    json_t *json;

    (void)state;
    assert_int_equal(run("campaigns list", out, sizeof(out)), 2);
    assert_non_null(strstr(out, "--instance-id is missing"));
    assert_int_equal(
        run("campaigns list --instance-id " INSTANCE_ID, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "Operator's campaign"));
    assert_non_null(strstr(out, "UTC, draft, active"));
    assert_non_null(strstr(out, "scheduled 2"));
    assert_int_equal(run("campaigns list --instance-id " INSTANCE_ID " --json",
                         out, sizeof(out)),
                     0);
    json = json_loads(out, 0, NULL);
    assert_non_null(json);
    assert_string_equal(json_string_value(json_at(json, "campaigns[0].id")),
                        fx.campaign_id);
    json_decref(json);
    assert_int_equal(
        run("campaigns list --instance-id nobody", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "no campaigns"));
}

/* One post is a minute late and fires; the other is 7 hours late and is
 * missed; a second run finds nothing to do. */
static void run_due_fires_once(void **state)
{
    int64_t now_ms = clock_now_ms();
    char out[8192];

    (void)state;
    run_sql("UPDATE campaign_posts SET run_at = ? WHERE campaign_id = ?"
            " AND slot = (SELECT MIN(slot) FROM campaign_posts)",
            now_ms - 60000, fx.campaign_id);
    run_sql("UPDATE campaign_posts SET run_at = ? WHERE campaign_id = ?"
            " AND slot = (SELECT MAX(slot) FROM campaign_posts)",
            now_ms - 7 * 3600 * 1000LL, fx.campaign_id);
    assert_int_equal(run("campaigns run-due", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "fired 1, missed 1, skipped_no_credits 0"));
    assert_int_equal(run("campaigns run-due", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "fired 0, missed 0"));
    assert_int_equal(
        run("campaigns list --instance-id " INSTANCE_ID, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "running 1"));
    assert_non_null(strstr(out, "missed 1"));
    assert_non_null(strstr(out, "SITESMITH_CAMPAIGN_MAX_LATE"));
    assert_int_equal(run("campaigns run-due --now", out, sizeof(out)), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(list_prints_campaign),
        cmocka_unit_test(run_due_fires_once),
    };

    return cmocka_run_group_tests_name("sitesmith campaigns", tests, setup,
                                       teardown);
}
