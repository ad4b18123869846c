/*
 * `sitesmith products optimize` as an operator runs it: the real program
 * on a fresh SQLite file, against a real sitesmith-sandbox, with output
 * to a pipe (plain lines, no progress bar).
 */
#include "core/crypto.h"
#include "core/json.h"
#include "pipelines/app.h"
#include "sandbox_proc.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static struct {
    struct sandbox_proc sandbox;
    char dir[64];
    char instance_id[128];
    char poor_id[128]; /* a site with 1 credit */
} fx;

static void add_site(char out[128])
{
    json_t *site = sandbox_proc_create_site(
        &fx.sandbox, "{\"fixture\": \"store\", \"catalog_version\": 1}");

    snprintf(out, 128, "%s",
             json_string_value(json_object_get(site, "instance_id")));
    json_decref(site);
}

static void seed(const char *instance_id, int64_t credits)
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
    assert_int_equal(
        store_credits_grant(tx, instance_id, credits, "cli-grant", NULL, &err),
        1);
    assert_int_equal(store_commit(tx, &err), 0);
    store_close(st);
    config_free(cfg);
}

static int setup(void **state)
{
    char value[256];
    char key[65];

    (void)state;
    assert_int_equal(crypto_init(), 0);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/sitesmith-cli-products-XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    sandbox_proc_start(&fx.sandbox, NULL);
    snprintf(value, sizeof(value), "sqlite:%s/cli.db", fx.dir);
    setenv("SITESMITH_DATABASE_URL", value, 1);
    snprintf(value, sizeof(value), "%s/data", fx.dir);
    setenv("SITESMITH_DATA_DIR", value, 1);
    setenv("SITESMITH_WIX_API_URL", fx.sandbox.wix_url, 1);
    setenv("OPENAI_BASE_URL", fx.sandbox.openai_url, 1);
    setenv("SITESMITH_REPLICATE_API_URL", fx.sandbox.replicate_url, 1);
    setenv("OPENAI_API_KEY", "sk-test-cli-products", 1);
    setenv("REPLICATE_API_TOKEN", "r8_test_cli_products", 1);
    setenv("SITESMITH_WIX_APP_ID", SANDBOX_PROC_APP_ID, 1);
    setenv("SITESMITH_WIX_APP_SECRET", SANDBOX_PROC_APP_SECRET, 1);
    crypto_random_hex(key, 32);
    setenv("SITESMITH_SECRET_KEY", key, 1);
    setenv("SITESMITH_LOG_LEVEL", "warn", 1);
    add_site(fx.instance_id);
    add_site(fx.poor_id);
    seed(fx.instance_id, 100);
    seed(fx.poor_id, 1);
    return 0;
}

static int teardown(void **state)
{
    char command[128];

    (void)state;
    sandbox_proc_stop(&fx.sandbox);
    snprintf(command, sizeof(command), "rm -rf %s", fx.dir);
    return system(command) == 0 ? 0 : -1;
}

/* Runs sitesmith with args; returns its exit status and its output (stdout
 * and stderr) in out. */
static int run(const char *args, char *out, size_t size)
{
    const char *build = getenv("SITESMITH_BUILD_DIR");
    char command[2048];
    FILE *pipe;
    size_t length;
    int status;

    snprintf(command, sizeof(command), "%s/sitesmith %s 2>&1",
             build ? build : ".", args);
    pipe = popen(command, "r");
    assert_non_null(pipe);
    length = fread(out, 1, size - 1, pipe);
    out[length] = '\0';
    status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The revisions (one more per update) of the products whose name starts
 * with prefix, by id. */
static json_t *revisions_by_id(const char *prefix)
{
    json_t *site = sandbox_proc_site(&fx.sandbox, fx.instance_id);
    json_t *revisions = json_object();
    size_t i;
    json_t *product;

    json_array_foreach(json_object_get(site, "products"), i, product)
    {
        const char *name = json_string_value(json_object_get(product, "name"));

        if (!prefix || strncmp(name, prefix, strlen(prefix)) == 0)
            json_object_set(revisions,
                            json_string_value(json_object_get(product, "id")),
                            json_object_get(product, "revision"));
    }
    json_decref(site);
    return revisions;
}

static void optimize_applies_in_auto_mode(void **state)
{
    json_t *before = revisions_by_id("Stoneware Mug Seo");
    json_t *after;
    const char *id;
    json_t *revision;
    char args[512];
    char out[16384];

    (void)state;
    assert_int_equal(json_object_size(before), 2);
    snprintf(args, sizeof(args),
             "products optimize --instance-id %s --all --search "
             "'Stoneware Mug Seo' --fields name,seo_title --auto "
             "--tone warm --max-name 60",
             fx.instance_id);
    if (run(args, out, sizeof(out)) != 0)
        fail_msg("sitesmith failed: %s", out);
    assert_non_null(strstr(out, "started: cost 4 credits"));
    assert_non_null(strstr(out, "2/2 done: ready 0, applied 2, failed 0"));

    /* Both products were written once. */
    after = revisions_by_id(NULL);
    json_object_foreach(before, id, revision)
    {
        assert_non_null(json_object_get(after, id));
        assert_int_equal(json_integer_value(json_object_get(after, id)),
                         json_integer_value(revision) + 1);
    }
    json_decref(after);
    json_decref(before);
}

static void usage_and_credit_errors(void **state)
{
    char args[512];
    char out[16384];

    (void)state;
    assert_int_equal(run("products optimize --all", out, sizeof(out)), 2);
    assert_non_null(strstr(out, "--instance-id is missing"));
    assert_int_equal(
        run("products optimize --instance-id x --bogus", out, sizeof(out)), 2);
    snprintf(args, sizeof(args),
             "products optimize --instance-id %s --all --search Stoneware",
             fx.poor_id);
    assert_int_equal(run(args, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "insufficient credits: balance 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(optimize_applies_in_auto_mode),
        cmocka_unit_test(usage_and_credit_errors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
