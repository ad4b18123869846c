/*
 * The OpenAI and Replicate emulations' state through a restart of the
 * real sitesmith-sandbox with --state: settings, rate-limit counters and
 * predictions come back, and outputs are served again from the new port.
 */
#include "ai_sandbox.h"

#include "core/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const char *const replicate_auth[] = {"Authorization: Bearer r8_test",
                                             "Prefer: wait", NULL};
static const char *const openai_auth[] = {"Authorization: Bearer sk-state",
                                          NULL};

static const char *const wrong_key[] = {"Authorization: Bearer sk-other", NULL};

static const char completion[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
    "\"content\":\"Name a mug.\"}]}";

static long send_json(struct sandbox_proc *proc, const char *method,
                      const char *path, const char *const *headers,
                      const char *body, json_t **out)
{
    struct http_client_response resp;
    long status = sandbox_proc_send(proc, method, path, headers, body, &resp);

    *out = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0,
                      NULL);
    http_client_response_release(&resp);
    return status;
}

/* Seconds left in the sandbox minute, from x-ratelimit-reset-requests
 * ("850ms", "12.5s"). */
static double seconds_left(struct sandbox_proc *proc)
{
    struct http_client_response resp;
    const char *reset;
    char *unit;
    double value;

    assert_int_equal(sandbox_proc_send(proc, "POST",
                                       "/openai/v1/chat/completions",
                                       openai_auth, completion, &resp),
                     200);
    reset = http_client_header(&resp, "x-ratelimit-reset-requests");
    assert_non_null(reset);
    value = strtod(reset, &unit);
    if (strcmp(unit, "ms") == 0)
        value /= 1000;
    http_client_response_release(&resp);
    return value;
}

static void state_survives_restart(void **state)
{
    char path[] = "/tmp/sitesmith-ai-state-XXXXXX";
    const char *const args[] = {"--state", path, NULL};
    struct sandbox_proc proc;
    struct http_client_response resp;
    json_t *prediction;
    json_t *body;
    char id[64];
    char get[128];
    double left;
    long status;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    unlink(path); /* the sandbox creates it on its first save */

    sandbox_proc_start(&proc, args);
    sandbox_proc_configure(&proc, "{\"openai\":{\"rpm\":1,\"api_key\":"
                                  "\"sk-state\"},\"replicate\":{"
                                  "\"processing_ms\":100}}");
    left = seconds_left(&proc);
    assert_int_equal(
        send_json(&proc, "POST",
                  "/replicate/v1/models/black-forest-labs/flux-schnell/"
                  "predictions",
                  replicate_auth,
                  "{\"input\":{\"prompt\":\"x\",\"output_format\":\"png\"}}",
                  &prediction),
        201);
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(prediction, "id")));
    json_decref(prediction);
    assert_int_equal(sandbox_proc_stop(&proc), 0);

    sandbox_proc_start(&proc, args);

    /* The minute's one request is used (unless the minute has passed
     * during the restart), and the key still applies. */
    status = send_json(&proc, "POST", "/openai/v1/chat/completions",
                       openai_auth, completion, &body);
    if (left > 10)
        assert_int_equal(status, 429);
    else
        assert_true(status == 429 || status == 200);
    json_decref(body);
    assert_int_equal(send_json(&proc, "POST", "/openai/v1/chat/completions",
                               wrong_key, completion, &body),
                     401);
    json_decref(body);
    snprintf(get, sizeof(get), "/replicate/v1/predictions/%s", id);
    assert_int_equal(
        send_json(&proc, "GET", get, replicate_auth, NULL, &prediction), 200);
    assert_string_equal(
        json_string_value(json_object_get(prediction, "status")), "succeeded");

    /* The output URL names the new port and serves the image again. */
    assert_int_equal(
        strncmp(json_string_value(json_at(prediction, "output[0]")), proc.url,
                strlen(proc.url)),
        0);
    assert_int_equal(
        sandbox_proc_send(&proc, "GET",
                          json_string_value(json_at(prediction, "output[0]")) +
                              strlen(proc.url),
                          NULL, NULL, &resp),
        200);
    assert_string_equal(resp.content_type, "image/png");
    http_client_response_release(&resp);
    json_decref(prediction);
    sandbox_proc_stop(&proc);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_survives_restart),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
