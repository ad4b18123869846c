/*
 * `sitesmith products optimize` as an operator runs it: the real program
 * on a fresh SQLite file, against a real sitesmith-sandbox, with output
 * to a pipe (plain lines, no progress bar).
 */
#include "core/json.h"
#include "sandbox_proc.h"
#include "serve_proc.h"
#include "serve_store.h"
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
    free(serve_proc_create_site(&fx.sandbox, out, 128));
}

static int setup(void **state)
{
    (void)state;
    serve_proc_make_dir(fx.dir, sizeof(fx.dir), "cli-products");
    sandbox_proc_start(&fx.sandbox, NULL);
    serve_proc_export(
        &(struct serve_env){.dir = fx.dir,
                            .database = "cli.db",
                            .sandbox = &fx.sandbox,
                            .openai_key = "sk-test-cli-products",
                            .replicate_token = "r8_test_cli_products"});
    add_site(fx.instance_id);
    add_site(fx.poor_id);
    serve_store_seed(fx.instance_id, 100, "cli-grant");
    serve_store_seed(fx.poor_id, 1, "cli-grant");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sandbox_proc_stop(&fx.sandbox);
    return serve_proc_remove_dir(fx.dir);
}

/* Runs sitesmith with args; returns its exit status and its output (stdout
 * and stderr) in out. */
static int run(const char *args, char *out, size_t size)
{
    return serve_proc_run(args, out, size);
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
