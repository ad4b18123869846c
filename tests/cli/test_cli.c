/*
 * The command line as an operator uses it: help and usage errors, start-up
 * errors that name the setting, and the blog pipeline run from
 * `sitesmith blog generate` against a real sitesmith-sandbox.
 */
#include "core/crypto.h"
#include "sandbox_proc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

struct run {
    int status;   /* exit status */
    char *output; /* stdout and stderr together */
};

/* Runs "sitesmith ARGS" through the shell with env prepended. */
static struct run run_sitesmith(const char *env, const char *args)
{
    const char *build = getenv("SITESMITH_BUILD_DIR");
    char command[4096];
    struct run run = {0};
    size_t size = 0;
    FILE *pipe;

    snprintf(command, sizeof(command), "%s %s/sitesmith %s 2>&1",
             env ? env : "", build ? build : ".", args);
    pipe = popen(command, "r");
    assert_non_null(pipe);
    run.output = calloc(1, 1);
    for (;;) {
        char chunk[4096];
        size_t n = fread(chunk, 1, sizeof(chunk), pipe);

        if (n == 0)
            break;
        run.output = realloc(run.output, size + n + 1);
        memcpy(run.output + size, chunk, n);
        size += n;
        run.output[size] = '\0';
    }
    run.status = WEXITSTATUS(pclose(pipe));
    return run;
}

static void help_for_every_command(void **state)
{
    static const char *const commands[] = {"--help",
                                           "serve --help",
                                           "worker --help",
                                           "migrate --help",
                                           "demo --help",
                                           "blog generate --help",
                                           "credits grant --help",
                                           "instances add --help",
                                           "--version"};

    (void)state;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        struct run run = run_sitesmith(NULL, commands[i]);

        if (run.status != 0)
            fail_msg("sitesmith %s exited %d: %s", commands[i], run.status,
                     run.output);
        assert_true(strlen(run.output) > 10);
        free(run.output);
    }
}

static void usage_errors_exit_two(void **state)
{
    struct run run;

    (void)state;
    run = run_sitesmith(NULL, "no-such-command");
    assert_int_equal(run.status, 2);
    assert_non_null(strstr(run.output, "unknown command"));
    free(run.output);
    run = run_sitesmith(NULL, "credits grant --instance-id x --amount -5");
    assert_int_equal(run.status, 2);
    assert_non_null(strstr(run.output, "--amount"));
    free(run.output);
    run = run_sitesmith(NULL, "serve --bogus");
    assert_int_equal(run.status, 2);
    assert_non_null(strstr(run.output, "--bogus"));
    free(run.output);
    run = run_sitesmith(NULL, "blog");
    assert_int_equal(run.status, 2);
    assert_non_null(strstr(run.output, "blog generate"));
    free(run.output);
}

static void bad_settings_name_variable(void **state)
{
    struct run run;

    (void)state;
    run = run_sitesmith("SITESMITH_LOG_LEVEL=loud", "migrate");
    assert_int_equal(run.status, 2);
    assert_non_null(strstr(run.output, "SITESMITH_LOG_LEVEL"));
    free(run.output);
    run = run_sitesmith("SITESMITH_DATABASE_URL=mysql://x", "migrate");
    assert_int_not_equal(run.status, 0);
    assert_non_null(strstr(run.output, "mysql"));
    free(run.output);
    run = run_sitesmith("SITESMITH_DATABASE_URL=sqlite:/tmp/ss-cli-test.db "
                        "SITESMITH_WORKERS=lots",
                        "worker");
    assert_int_not_equal(run.status, 0);
    assert_non_null(strstr(run.output, "SITESMITH_WORKERS"));
    free(run.output);
    unlink("/tmp/ss-cli-test.db");

    /* serve refuses to start without the key that seals tokens at rest. */
    run = run_sitesmith("SITESMITH_DATABASE_URL=sqlite:/tmp/ss-cli-test.db "
                        "SITESMITH_WIX_APP_ID=app SITESMITH_WIX_APP_SECRET=s "
                        "OPENAI_API_KEY=sk-x REPLICATE_API_TOKEN=r8_x",
                        "serve --listen 127.0.0.1:0");
    assert_int_equal(run.status, 1);
    assert_non_null(strstr(run.output, "SITESMITH_SECRET_KEY: missing"));
    free(run.output);
    /* Nothing was written before the settings were checked. */
    assert_int_not_equal(access("/tmp/ss-cli-test.db", F_OK), 0);
}

static void blog_generate_saves_draft(void **state)
{
    struct sandbox_proc sandbox;
    char dir[] = "/tmp/sitesmith-cli-XXXXXX";
    char env[4096];
    char args[512];
    char key[65];
    char instance_id[128];
    struct run run;
    json_t *site;
    json_t *drafts;

    (void)state;
    assert_non_null(mkdtemp(dir));
    sandbox_proc_start(&sandbox, NULL);
    site = sandbox_proc_create_site(&sandbox, "{\"fixture\": \"store\"}");
    snprintf(instance_id, sizeof(instance_id), "%s",
             json_string_value(json_object_get(site, "instance_id")));
    json_decref(site);
    crypto_random_hex(key, 32);
    snprintf(env, sizeof(env),
             "SITESMITH_DATABASE_URL=sqlite:%s/cli.db SITESMITH_DATA_DIR=%s "
             "SITESMITH_WIX_API_URL=%s OPENAI_BASE_URL=%s "
             "SITESMITH_REPLICATE_API_URL=%s OPENAI_API_KEY=sk-cli-test-key "
             "REPLICATE_API_TOKEN=r8_cli_test_token SITESMITH_WIX_APP_ID=%s "
             "SITESMITH_WIX_APP_SECRET=%s SITESMITH_SECRET_KEY=%s "
             "SITESMITH_LOG_LEVEL=warn",
             dir, dir, sandbox.wix_url, sandbox.openai_url,
             sandbox.replicate_url, SANDBOX_PROC_APP_ID,
             SANDBOX_PROC_APP_SECRET, key);

    /* Unknown site first: a clear message, no work done. */
    snprintf(args, sizeof(args), "blog generate --instance-id %s", instance_id);
    run = run_sitesmith(env, args);
    assert_int_equal(run.status, 1);
    assert_non_null(strstr(run.output, instance_id));
    free(run.output);

    snprintf(args, sizeof(args), "instances add --instance-id %s", instance_id);
    run = run_sitesmith(env, args);
    assert_int_equal(run.status, 0);
    free(run.output);
    snprintf(args, sizeof(args),
             "credits grant --instance-id %s --amount 30 --reference start",
             instance_id);
    run = run_sitesmith(env, args);
    assert_int_equal(run.status, 0);
    free(run.output);
    /* The same reference grants once. */
    run = run_sitesmith(env, args);
    assert_int_equal(run.status, 0);
    assert_non_null(strstr(run.output, "already granted"));
    assert_non_null(strstr(run.output, "balance 30"));
    free(run.output);

    snprintf(args, sizeof(args),
             "blog generate --instance-id %s --topic 'summer linen' "
             "--keywords linen,summer --pick 1",
             instance_id);
    run = run_sitesmith(env, args);
    if (run.status != 0)
        fail_msg("blog generate exited %d: %s", run.status, run.output);
    assert_non_null(strstr(run.output, "awaiting_selection"));
    assert_non_null(strstr(run.output, "publishing"));
    assert_non_null(strstr(run.output, "saved in the site's Wix Blog"));
    free(run.output);

    site = sandbox_proc_site(&sandbox, instance_id);
    drafts = json_object_get(site, "drafts");
    assert_int_equal(json_array_size(drafts), 1);
    json_decref(site);

    snprintf(args, sizeof(args), "credits show --instance-id %s", instance_id);
    run = run_sitesmith(env, args);
    assert_int_equal(run.status, 0);
    assert_non_null(strstr(run.output, "reserved 0"));
    free(run.output);

    sandbox_proc_stop(&sandbox);
    snprintf(args, sizeof(args), "rm -rf %s", dir);
    assert_int_equal(system(args), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(help_for_every_command),
        cmocka_unit_test(usage_errors_exit_two),
        cmocka_unit_test(bad_settings_name_variable),
        cmocka_unit_test(blog_generate_saves_draft),
    };

    assert_int_equal(crypto_init(), 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
