/*
 * Instance strings made by sitesmith-sandbox, the way the Wix dashboard
 * makes them, verified with the app secret: an owner's string, an
 * anonymous visitor's, one that went stale, and one for another app.
 */
#include "auth/instance.h"
#include "wix_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct wix_env env;

static const struct auth_instance_options options = {
    .app_secret = WIX_ENV_APP_SECRET,
    .app_id = WIX_ENV_APP_ID,
};

static int setup_group(void **state)
{
    (void)state;
    wix_env_start(&env);
    return 0;
}

static int teardown_group(void **state)
{
    (void)state;
    wix_env_stop(&env);
    return 0;
}

/* A new instance string for the env's site; the caller frees it. */
static char *new_instance(int anonymous)
{
    char path[256];
    json_t *response;
    char *instance;

    snprintf(path, sizeof(path), "/__sandbox/sites/%s/instance",
             env.instance_id);
    response = wix_env_request(&env, "POST", path,
                               anonymous ? "{\"anonymous\": true}" : "{}", 200);
    instance = strdup(json_string_value(json_object_get(response, "instance")));
    json_decref(response);
    return instance;
}

static void owner_instance_verified(void **state)
{
    struct auth_instance out;
    struct error err;

    (void)state;
    if (auth_instance_verify(&options, env.instance, &out, &err) < 0)
        fail_msg("verify: %s", err.message);
    assert_string_equal(out.instance_id, env.instance_id);
    assert_string_equal(out.app_def_id, WIX_ENV_APP_ID);
    assert_string_equal(out.permissions, "OWNER");
    assert_true(out.uid[0] != '\0');
}

static void visitor_instance_rejected(void **state)
{
    char *instance = new_instance(1);
    struct auth_instance out;
    struct error err;

    (void)state;
    assert_int_equal(auth_instance_verify(&options, instance, &out, &err), -1);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_non_null(strstr(err.message, "anonymous"));
    free(instance);
}

static void other_app_rejected(void **state)
{
    const struct auth_instance_options other = {
        .app_secret = "the-secret-of-another-app",
    };
    struct auth_instance out;
    struct error err;

    (void)state;
    assert_int_equal(auth_instance_verify(&other, env.instance, &out, &err),
                     -1);
    assert_non_null(strstr(err.message, "signature is invalid"));
}

static void instance_goes_stale(void **state)
{
    char *instance = new_instance(0);
    struct auth_instance out;
    struct error err;

    (void)state;
    assert_int_equal(auth_instance_verify(&options, instance, &out, &err), 0);
    /* A minute past the 4 hours, because the fake clock does not move
     * between advances while the sandbox's runs on with real time. */
    wix_env_advance(&env, 4 * 60 * 60 + 60);
    assert_int_equal(auth_instance_verify(&options, instance, &out, &err), -1);
    assert_non_null(strstr(err.message, "expired"));

    /* The dashboard hands out a fresh one, which is valid again. */
    free(instance);
    instance = new_instance(0);
    assert_int_equal(auth_instance_verify(&options, instance, &out, &err), 0);
    free(instance);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(owner_instance_verified),
        cmocka_unit_test(visitor_instance_rejected),
        cmocka_unit_test(other_app_rejected),
        cmocka_unit_test(instance_goes_stale),
    };

    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
