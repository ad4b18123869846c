#include "wix_env.h"

#include "sandbox_proc.h"

#include "core/clock.h"
#include "core/json.h"
#include "http/client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

json_t *wix_env_request(struct wix_env *env, const char *method,
                        const char *path, const char *body,
                        long expected_status)
{
    return sandbox_proc_call(&env->sandbox, method, path, body,
                             expected_status);
}

void wix_env_add_site(struct wix_env *env, char instance_id[128],
                      char member_id[128])
{
    json_t *site = wix_env_request(
        env, "POST", "/__sandbox/sites",
        "{\"fixture\": \"store\", \"catalog_version\": 1}", 201);
    const char *id = json_string_value(json_object_get(site, "instance_id"));
    const char *member = json_string_value(json_object_get(
        json_array_get(json_object_get(site, "members"), 0), "id"));

    assert_non_null(id);
    assert_non_null(member);
    snprintf(instance_id, 128, "%s", id);
    snprintf(member_id, 128, "%s", member);
    json_decref(site);
}

void wix_env_start(struct wix_env *env)
{
    char path[256];
    json_t *site;

    memset(env, 0, sizeof(*env));
    sandbox_proc_start(&env->sandbox, NULL);
    snprintf(env->base_url, sizeof(env->base_url), "%s", env->sandbox.url);
    snprintf(env->wix_url, sizeof(env->wix_url), "%s/wix", env->base_url);
    clock_fake_set_ms(clock_now_ms());

    env->cfg = config_new_empty();
    config_set(env->cfg, "SITESMITH_WIX_APP_ID", WIX_ENV_APP_ID);
    config_set(env->cfg, "SITESMITH_WIX_APP_SECRET", WIX_ENV_APP_SECRET);
    config_set(env->cfg, "SITESMITH_WIX_API_URL", env->wix_url);

    wix_env_add_site(env, env->instance_id, env->member_id);
    snprintf(path, sizeof(path), "/__sandbox/sites/%s/instance",
             env->instance_id);
    site = wix_env_request(env, "POST", path, "{}", 200);
    env->instance =
        strdup(json_string_value(json_object_get(site, "instance")));
    json_decref(site);
}

void wix_env_stop(struct wix_env *env)
{
    sandbox_proc_stop(&env->sandbox);
    config_free(env->cfg);
    free(env->instance);
    clock_use_system();
    memset(env, 0, sizeof(*env));
}

void wix_env_advance(struct wix_env *env, int64_t seconds)
{
    char body[64];

    if (seconds <= 0)
        return;
    snprintf(body, sizeof(body), "{\"advance_seconds\": %lld}",
             (long long)seconds);
    json_decref(wix_env_request(env, "POST", "/__sandbox/clock", body, 200));
    clock_fake_advance_ms(seconds * 1000);
}

static int matches(const json_t *entry, const char *method, const char *path,
                   long status)
{
    const char *entry_method =
        json_string_value(json_object_get(entry, "method"));
    const char *entry_path = json_string_value(json_object_get(entry, "path"));

    if (method && (!entry_method || strcmp(entry_method, method) != 0))
        return 0;
    if (path && (!entry_path || strcmp(entry_path, path) != 0))
        return 0;
    return !status ||
           json_integer_value(json_object_get(entry, "status")) == status;
}

int wix_env_count(struct wix_env *env, const char *method, const char *path,
                  long status)
{
    json_t *log = wix_env_request(env, "GET", "/__sandbox/requests", NULL, 200);
    json_t *entry;
    size_t i;
    int count = 0;

    json_array_foreach(json_object_get(log, "requests"), i, entry)
    {
        const char *entry_path =
            json_string_value(json_object_get(entry, "path"));

        /* Control calls are not what the tests count. */
        if (entry_path && strncmp(entry_path, "/__sandbox", 10) == 0)
            continue;
        count += matches(entry, method, path, status);
    }
    json_decref(log);
    return count;
}

void wix_env_clear_log(struct wix_env *env)
{
    json_decref(
        wix_env_request(env, "DELETE", "/__sandbox/requests", NULL, 200));
}

void wix_env_fault(struct wix_env *env, const char *endpoint, long status,
                   int count)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"endpoint\": \"%s\", \"mode\": \"status\", \"status\": %ld, "
             "\"count\": %d}",
             endpoint, status, count);
    json_decref(wix_env_request(env, "POST", "/__sandbox/faults", body, 201));
}
