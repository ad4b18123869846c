/*
 * The sandbox's control API through HTTP: the clock, fault rules in every
 * mode, the request log, settings, reset, and the state file across a
 * restart.
 */
#include "sandbox_proc.h"

#include "core/clock.h"
#include "core/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static struct sandbox_proc sandbox;

struct site {
    char instance_id[64];
    char member_id[64];
    char token[128];
};

static void new_site(struct sandbox_proc *proc, struct site *site,
                     const char *body)
{
    json_t *created = sandbox_proc_create_site(proc, body);

    snprintf(site->instance_id, sizeof(site->instance_id), "%s",
             json_string_value(json_object_get(created, "instance_id")));
    snprintf(site->member_id, sizeof(site->member_id), "%s",
             json_string_value(json_object_get(created, "owner_member_id")));
    json_decref(created);
    sandbox_proc_wix_token(proc, site->instance_id, site->token,
                           sizeof(site->token));
}

/* Sends a request straight through the HTTP client; returns -1 when no
 * complete response arrived (the error code goes into code). */
static int raw_send(const char *method, const char *path, const char *token,
                    const char *body, struct http_client_response *resp,
                    char code[64])
{
    char url[512];
    char authorization[256];
    struct http_client_request req = {.method = method, .url = url};
    struct error err;
    int rc;

    snprintf(url, sizeof(url), "%s%s", sandbox.url, path);
    snprintf(authorization, sizeof(authorization), "Authorization: %s",
             token ? token : "");
    req.headers[0] = "Content-Type: application/json";
    req.headers[1] = token ? authorization : NULL;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    memset(resp, 0, sizeof(*resp));
    rc = http_client_send(&req, resp, &err);
    snprintf(code, 64, "%s", rc == 0 ? "" : err.code);
    return rc;
}

static void test_listening_line(void **state)
{
    (void)state;
    assert_int_equal(strncmp(sandbox.url, "http://127.0.0.1:", 17), 0);
    assert_true(atoi(sandbox.url + 17) > 0);
}

static void test_clock(void **state)
{
    json_t *before;
    json_t *after;
    json_t *answer;

    (void)state;
    before = sandbox_proc_call(&sandbox, "GET", "/__sandbox/clock", NULL, 200);
    after = sandbox_proc_call(&sandbox, "POST", "/__sandbox/clock",
                              "{\"advance_seconds\": 3600}", 200);
    assert_true(json_integer_value(json_object_get(after, "now_ms")) -
                    json_integer_value(json_object_get(before, "now_ms")) >=
                3600000);
    assert_int_equal(
        json_integer_value(json_object_get(after, "offset_ms")) -
            json_integer_value(json_object_get(before, "offset_ms")),
        3600000);
    assert_true(
        clock_parse_iso(json_string_value(json_object_get(after, "now"))) > 0);
    json_decref(before);
    json_decref(after);

    answer = sandbox_proc_call(&sandbox, "POST", "/__sandbox/clock",
                               "{\"advance_ms\": 1500}", 200);
    json_decref(answer);
    json_decref(sandbox_proc_call(&sandbox, "POST", "/__sandbox/clock",
                                  "{\"advance_seconds\": -5}", 400));
    json_decref(sandbox_proc_call(&sandbox, "POST", "/__sandbox/clock",
                                  "{\"advance_seconds\": 1, \"advance_ms\": "
                                  "1}",
                                  400));
    json_decref(
        sandbox_proc_call(&sandbox, "POST", "/__sandbox/clock", "{}", 400));
}

static void test_fault_status_wix(void **state)
{
    struct site site;
    struct http_client_response resp;
    json_t *rule;
    json_t *answer;
    const char *headers[2] = {NULL, NULL};
    char authorization[200];

    (void)state;
    new_site(&sandbox, &site, "{}");
    rule = sandbox_proc_add_fault(&sandbox,
                                  "{\"endpoint\": \"GET "
                                  "/wix/apps/v1/instance\", \"mode\": "
                                  "\"status\", \"status\": 503, \"count\": 2}");
    assert_int_equal(json_integer_value(json_object_get(rule, "count")), 2);
    snprintf(authorization, sizeof(authorization), "Authorization: %s",
             site.token);
    headers[0] = authorization;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sandbox_proc_send(&sandbox, "GET",
                                           "/wix/apps/v1/instance", headers,
                                           NULL, &resp),
                         503);
        /* Wix sends 5xx bodies empty. */
        assert_int_equal(resp.body.len, 0);
        assert_non_null(http_client_header(&resp, "x-wix-request-id"));
        http_client_response_release(&resp);
    }
    json_decref(sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                      "/wix/apps/v1/instance", NULL, 200));

    json_decref(sandbox_proc_add_fault(
        &sandbox, "{\"endpoint\": \"GET /wix/apps/v1/instance\", \"status\": "
                  "403}"));
    answer = sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                   "/wix/apps/v1/instance", NULL, 403);
    sandbox_proc_assert_wix_error(answer, "UNAUTHENTICATED", NULL);
    json_decref(answer);

    json_decref(sandbox_proc_add_fault(
        &sandbox, "{\"endpoint\": \"GET /wix/apps/v1/instance\", \"status\": "
                  "429, \"retry_after_s\": 7}"));
    assert_int_equal(sandbox_proc_send(&sandbox, "GET", "/wix/apps/v1/instance",
                                       headers, NULL, &resp),
                     429);
    assert_string_equal(http_client_header(&resp, "Retry-After"), "7");
    http_client_response_release(&resp);
    json_decref(rule);
}

static void test_fault_patterns(void **state)
{
    struct site site;
    json_t *answer;

    (void)state;
    new_site(&sandbox, &site, "{}");
    json_decref(sandbox_proc_add_fault(
        &sandbox,
        "{\"endpoint\": \"GET "
        "/wix/blog/v3/draft-posts/{draftPostId}\", \"status\": 500}"));
    json_decref(sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                      "/wix/blog/v3/draft-posts/any-id", NULL,
                                      500));
    json_decref(sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                      "/wix/blog/v3/draft-posts/any-id", NULL,
                                      404));

    json_decref(sandbox_proc_add_fault(
        &sandbox,
        "{\"endpoint\": \"GET /wix/members/*\", \"status\": 404, \"body\": "
        "{\"message\": \"custom\"}}"));
    answer = sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                   "/wix/members/v1/members", NULL, 404);
    assert_string_equal(json_string_value(json_object_get(answer, "message")),
                        "custom");
    json_decref(answer);
    json_decref(sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                      "/wix/members/v1/members", NULL, 200));
}

static void test_fault_other_services(void **state)
{
    json_t *answer;

    (void)state;
    json_decref(sandbox_proc_add_fault(
        &sandbox, "{\"endpoint\": \"POST /openai/v1/chat/completions\", "
                  "\"status\": 503}"));
    answer = sandbox_proc_call(&sandbox, "POST", "/openai/v1/chat/completions",
                               "{}", 503);
    assert_string_equal(json_string_value(json_at(answer, "error.code")),
                        "server_is_overloaded");
    assert_true(json_is_string(json_at(answer, "error.type")));
    assert_true(json_is_null(json_at(answer, "error.param")));
    json_decref(answer);

    json_decref(sandbox_proc_add_fault(
        &sandbox, "{\"endpoint\": \"GET /replicate/v1/predictions/*\", "
                  "\"status\": 404}"));
    answer = sandbox_proc_call(&sandbox, "GET", "/replicate/v1/predictions/x",
                               NULL, 404);
    assert_string_equal(json_string_value(json_object_get(answer, "detail")),
                        "The requested resource could not be found.");
    assert_int_equal(json_integer_value(json_object_get(answer, "status")),
                     404);
    json_decref(answer);
}

static void test_fault_delay(void **state)
{
    struct site site;
    int64_t started;

    (void)state;
    new_site(&sandbox, &site, "{}");
    json_decref(sandbox_proc_add_fault(
        &sandbox, "{\"endpoint\": \"GET /wix/apps/v1/instance\", \"mode\": "
                  "\"delay\", \"delay_ms\": 300}"));
    started = clock_monotonic_ms();
    json_decref(sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                      "/wix/apps/v1/instance", NULL, 200));
    assert_true(clock_monotonic_ms() - started >= 300);
}

static size_t draft_count(const char *instance_id)
{
    json_t *view = sandbox_proc_site(&sandbox, instance_id);
    size_t count = json_array_size(json_object_get(view, "drafts"));

    json_decref(view);
    return count;
}

/* Counts logged calls to path that a fault of this mode hit. */
static size_t faulted_calls(const char *path, const char *mode)
{
    json_t *requests = sandbox_proc_requests(&sandbox);
    size_t count = 0;
    size_t i;
    json_t *entry;

    json_array_foreach(requests, i, entry)
    {
        const char *fault = json_string_value(json_object_get(entry, "fault"));

        count += fault && strcmp(fault, mode) == 0 &&
                 strcmp(json_string_value(json_object_get(entry, "path")),
                        path) == 0;
    }
    json_decref(requests);
    return count;
}

/*
 * The drop rules here have no count: libcurl sends a request again, once,
 * when a reused connection closes before any response, so a drop of one
 * call alone would go unseen.
 */
static void test_fault_drop(void **state)
{
    static const char path[] = "/wix/blog/v3/draft-posts";
    struct site site;
    struct http_client_response resp;
    char body[256];
    char code[64];
    size_t dropped;

    (void)state;
    new_site(&sandbox, &site, "{}");
    json_decref(sandbox_proc_call(&sandbox, "DELETE", "/__sandbox/requests",
                                  NULL, 200));
    snprintf(body, sizeof(body),
             "{\"draftPost\": {\"title\": \"Lost response\", \"memberId\": "
             "\"%s\"}}",
             site.member_id);
    json_decref(sandbox_proc_add_fault(
        &sandbox, "{\"endpoint\": \"POST /wix/blog/v3/draft-posts\", "
                  "\"mode\": \"drop\", \"share\": 1}"));
    assert_int_equal(raw_send("POST", path, site.token, body, &resp, code), -1);
    http_client_response_release(&resp);
    /* Each dropped call created its draft; only the response was lost. */
    dropped = faulted_calls(path, "drop");
    assert_true(dropped >= 1);
    assert_int_equal(draft_count(site.instance_id), dropped);
    json_decref(
        sandbox_proc_call(&sandbox, "DELETE", "/__sandbox/faults", NULL, 200));

    json_decref(sandbox_proc_add_fault(
        &sandbox, "{\"endpoint\": \"POST /wix/blog/v3/draft-posts\", "
                  "\"mode\": \"drop\", \"share\": 1, \"skip_handler\": true}"));
    assert_int_equal(raw_send("POST", path, site.token, body, &resp, code), -1);
    http_client_response_release(&resp);
    assert_int_equal(draft_count(site.instance_id), dropped);
    json_decref(
        sandbox_proc_call(&sandbox, "DELETE", "/__sandbox/faults", NULL, 200));
}

static void test_fault_truncate_malformed(void **state)
{
    struct site site;
    struct http_client_response resp;
    char code[64];
    json_t *parsed;

    (void)state;
    new_site(&sandbox, &site, "{}");
    json_decref(sandbox_proc_add_fault(
        &sandbox, "{\"endpoint\": \"GET /wix/apps/v1/instance\", \"mode\": "
                  "\"truncate\"}"));
    assert_int_equal(
        raw_send("GET", "/wix/apps/v1/instance", site.token, NULL, &resp, code),
        -1);
    assert_string_equal(code, "transfer");
    http_client_response_release(&resp);

    json_decref(sandbox_proc_add_fault(
        &sandbox, "{\"endpoint\": \"GET /wix/apps/v1/instance\", \"mode\": "
                  "\"malformed\"}"));
    assert_int_equal(
        raw_send("GET", "/wix/apps/v1/instance", site.token, NULL, &resp, code),
        0);
    assert_int_equal(resp.status, 200);
    parsed = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    assert_null(parsed);
    http_client_response_release(&resp);
}

static void test_fault_share(void **state)
{
    struct http_client_response resp;
    int failed = 0;

    (void)state;
    json_decref(sandbox_proc_add_fault(
        &sandbox, "{\"endpoint\": \"POST /wix/oauth2/token-info\", "
                  "\"status\": 500, \"share\": 0.5}"));
    for (int i = 0; i < 300; i++) {
        sandbox_proc_send(&sandbox, "POST", "/wix/oauth2/token-info", NULL,
                          "{\"token\": \"x\"}", &resp);
        failed += resp.status == 500;
        http_client_response_release(&resp);
    }
    json_decref(
        sandbox_proc_call(&sandbox, "DELETE", "/__sandbox/faults", NULL, 200));
    /* 150 expected; the bounds are more than five standard deviations. */
    assert_true(failed > 100);
    assert_true(failed < 200);
}

static void test_fault_rules_api(void **state)
{
    json_t *rule;
    json_t *list;
    char path[64];

    (void)state;
    rule =
        sandbox_proc_add_fault(&sandbox, "{\"endpoint\": \"GET /wix/nowhere\", "
                                         "\"status\": 500, \"count\": 3}");
    list = sandbox_proc_call(&sandbox, "GET", "/__sandbox/faults", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "faults")), 1);
    assert_string_equal(json_string_value(json_at(list, "faults[0].endpoint")),
                        "GET /wix/nowhere");
    json_decref(list);

    snprintf(path, sizeof(path), "/__sandbox/faults/%lld",
             (long long)json_integer_value(json_object_get(rule, "id")));
    json_decref(sandbox_proc_call(&sandbox, "DELETE", path, NULL, 200));
    json_decref(sandbox_proc_call(&sandbox, "DELETE", path, NULL, 404));
    list = sandbox_proc_call(&sandbox, "GET", "/__sandbox/faults", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "faults")), 0);
    json_decref(list);
    json_decref(rule);

    json_decref(sandbox_proc_call(&sandbox, "POST", "/__sandbox/faults",
                                  "{\"endpoint\": \"GET /x\", \"mode\": "
                                  "\"explode\"}",
                                  400));
    json_decref(sandbox_proc_call(&sandbox, "POST", "/__sandbox/faults",
                                  "{\"mode\": \"status\"}", 400));
    json_decref(sandbox_proc_call(&sandbox, "POST", "/__sandbox/faults",
                                  "{\"endpoint\": \"GET /x\", \"status\": 700}",
                                  400));
    json_decref(sandbox_proc_call(&sandbox, "POST", "/__sandbox/faults",
                                  "{\"endpoint\": \"GET /x\", \"mode\": "
                                  "\"delay\"}",
                                  400));
    json_decref(sandbox_proc_call(&sandbox, "POST", "/__sandbox/faults",
                                  "{\"endpoint\": \"GET /x\", \"share\": 2}",
                                  400));
}

static void test_request_log(void **state)
{
    struct site site;
    json_t *requests;
    json_t *answer;
    const json_t *last;
    char path[200];
    size_t count;

    (void)state;
    new_site(&sandbox, &site, "{}");
    json_decref(sandbox_proc_wix_call(&sandbox, site.token, "GET",
                                      "/wix/apps/v1/instance", NULL, 200));
    json_decref(sandbox_proc_wix_call(&sandbox, "bad-token", "GET",
                                      "/wix/members/v1/members", NULL, 401));
    requests = sandbox_proc_requests(&sandbox);
    count = json_array_size(requests);
    assert_true(count >= 3);
    last = json_array_get(requests, count - 1);
    assert_string_equal(json_string_value(json_object_get(last, "method")),
                        "GET");
    assert_string_equal(json_string_value(json_object_get(last, "path")),
                        "/wix/members/v1/members");
    assert_int_equal(json_integer_value(json_object_get(last, "status")), 401);
    assert_true(json_is_string(json_object_get(last, "time")));
    last = json_array_get(requests, count - 2);
    assert_string_equal(json_string_value(json_object_get(last, "path")),
                        "/wix/apps/v1/instance");
    assert_string_equal(json_string_value(json_object_get(last, "instance_id")),
                        site.instance_id);
    assert_true(json_integer_value(json_object_get(last, "seq")) <
                json_integer_value(json_object_get(
                    json_array_get(requests, count - 1), "seq")));
    json_decref(requests);

    snprintf(path, sizeof(path), "/__sandbox/requests?instance_id=%s",
             site.instance_id);
    answer = sandbox_proc_call(&sandbox, "GET", path, NULL, 200);
    /* The token request and the instance call; control calls are not
     * logged. */
    assert_int_equal(json_array_size(json_object_get(answer, "requests")), 2);
    json_decref(answer);

    json_decref(sandbox_proc_call(&sandbox, "DELETE", "/__sandbox/requests",
                                  NULL, 200));
    requests = sandbox_proc_requests(&sandbox);
    assert_int_equal(json_array_size(requests), 0);
    json_decref(requests);
}

static void test_config_errors(void **state)
{
    json_t *answer;

    (void)state;
    answer = sandbox_proc_call(&sandbox, "POST", "/__sandbox/config",
                               "{\"wix\": {\"token_tll_s\": 5}}", 400);
    assert_non_null(strstr(json_string_value(json_at(answer, "error.message")),
                           "token_tll_s"));
    json_decref(answer);
    json_decref(sandbox_proc_call(&sandbox, "POST", "/__sandbox/config",
                                  "{\"stripe\": {}}", 400));
    json_decref(sandbox_proc_call(&sandbox, "POST", "/__sandbox/config",
                                  "{\"wix\": {\"token_ttl_s\": \"60\"}}", 400));
    json_decref(sandbox_proc_call(&sandbox, "POST", "/__sandbox/config",
                                  "{\"wix\": {\"token_failure_status\": 402}}",
                                  400));
}

static json_t *token_answer(const char *instance_id)
{
    char body[300];

    snprintf(body, sizeof(body),
             "{\"grant_type\": \"client_credentials\", \"client_id\": \"%s\", "
             "\"client_secret\": \"%s\", \"instance_id\": \"%s\"}",
             SANDBOX_PROC_APP_ID, SANDBOX_PROC_APP_SECRET, instance_id);
    return sandbox_proc_call(&sandbox, "POST", "/wix/oauth2/token", body, 200);
}

static void test_reset(void **state)
{
    struct site site;
    char path[160];
    json_t *clock;
    json_t *token;
    json_t *requests;

    (void)state;
    new_site(&sandbox, &site, "{}");
    sandbox_proc_configure(&sandbox, "{\"wix\": {\"token_ttl_s\": 60}}");
    json_decref(sandbox_proc_add_fault(&sandbox, "{\"endpoint\": \"*\", "
                                                 "\"status\": 500}"));
    sandbox_proc_advance(&sandbox, 100);
    sandbox_proc_reset(&sandbox);

    snprintf(path, sizeof(path), "/__sandbox/sites/%s", site.instance_id);
    json_decref(sandbox_proc_call(&sandbox, "GET", path, NULL, 404));
    clock = sandbox_proc_call(&sandbox, "GET", "/__sandbox/clock", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(clock, "offset_ms")),
                     0);
    json_decref(clock);
    requests = sandbox_proc_requests(&sandbox);
    assert_int_equal(json_array_size(requests), 0);
    json_decref(requests);

    /* No fault and the default token lifetime. */
    new_site(&sandbox, &site, "{}");
    token = token_answer(site.instance_id);
    assert_int_equal(json_integer_value(json_object_get(token, "expires_in")),
                     14400);
    json_decref(token);
}

static void state_path(char *out, size_t size)
{
    snprintf(out, size, "/tmp/sitesmith-sandbox-test-state-%d.json",
             (int)getpid());
}

/* Creates a site with a draft on proc, draws one of its fixture images,
 * moves the clock and saves. */
static void fill_state(struct sandbox_proc *proc, struct site *site,
                       char image_path[256])
{
    char body[256];
    json_t *answer;
    json_t *view;
    const char *image;
    struct http_client_response resp;

    new_site(proc, site, "{\"fixture\": \"store\"}");
    snprintf(body, sizeof(body),
             "{\"draftPost\": {\"title\": \"Saved draft\", \"memberId\": "
             "\"%s\"}}",
             site->member_id);
    json_decref(sandbox_proc_wix_call(proc, site->token, "POST",
                                      "/wix/blog/v3/draft-posts", body, 200));
    view = sandbox_proc_site(proc, site->instance_id);
    image = json_string_value(json_at(view, "media[0].url"));
    snprintf(image_path, 256, "%s", image + strlen(proc->url));
    json_decref(view);

    /* Drawing the image keeps its bytes, so the state file has them. */
    assert_int_equal(
        sandbox_proc_send(proc, "GET", image_path, NULL, NULL, &resp), 200);
    http_client_response_release(&resp);
    sandbox_proc_advance(proc, 100);
    answer = sandbox_proc_call(proc, "POST", "/__sandbox/save", "{}", 200);
    assert_true(json_is_string(json_object_get(answer, "saved")));
    json_decref(answer);
}

static void test_state_survives_restart(void **state)
{
    char path[256];
    char image_path[256];
    const char *args[] = {"--state", path, NULL};
    struct sandbox_proc first;
    struct sandbox_proc second;
    struct site site;
    struct stat info;
    json_t *view;
    json_t *clock;
    struct http_client_response resp;

    (void)state;
    state_path(path, sizeof(path));
    unlink(path);
    sandbox_proc_start(&first, args);
    fill_state(&first, &site, image_path);
    assert_int_equal(stat(path, &info), 0);
    json_decref(sandbox_proc_wix_call(
        &first, site.token, "POST", "/wix/blog/v3/draft-posts",
        "{\"draftPost\": {\"title\": \"x\"}}", 400));
    /* SIGTERM saves again. */
    assert_int_equal(sandbox_proc_stop(&first), 0);

    sandbox_proc_start(&second, args);
    view = sandbox_proc_site(&second, site.instance_id);
    assert_int_equal(json_array_size(json_object_get(view, "drafts")), 1);
    assert_string_equal(json_string_value(json_at(view, "drafts[0].title")),
                        "Saved draft");
    assert_true(json_array_size(json_object_get(view, "products")) >= 200);
    json_decref(view);
    json_decref(sandbox_proc_wix_call(&second, site.token, "GET",
                                      "/wix/apps/v1/instance", NULL, 200));
    clock = sandbox_proc_call(&second, "GET", "/__sandbox/clock", NULL, 200);
    assert_true(json_integer_value(json_object_get(clock, "offset_ms")) >=
                100000);
    json_decref(clock);
    assert_int_equal(
        sandbox_proc_send(&second, "GET", image_path, NULL, NULL, &resp), 200);
    assert_true(resp.body.len > 1000);
    http_client_response_release(&resp);
    sandbox_proc_stop(&second);
    unlink(path);
}

static void test_save_needs_state_file(void **state)
{
    json_t *answer;

    (void)state;
    answer = sandbox_proc_call(&sandbox, "POST", "/__sandbox/save", "{}", 400);
    assert_non_null(
        strstr(json_string_value(json_at(answer, "error.message")), "--state"));
    json_decref(answer);
}

/* Runs the sandbox program with args and returns its exit status. */
static int run_program(const char *args)
{
    const char *build_dir = getenv("SITESMITH_BUILD_DIR");
    char command[2048];
    int status;

    snprintf(command, sizeof(command),
             "%s%ssitesmith-sandbox %s </dev/null >/dev/null 2>&1",
             build_dir ? build_dir : "", build_dir ? "/" : "", args);
    status = system(command);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_command_line(void **state)
{
    char path[256];
    char args[400];
    FILE *file;

    (void)state;
    assert_int_equal(run_program("--help"), 0);
    assert_int_equal(run_program("--no-such-option"), 2);
    assert_int_equal(run_program("--listen 127.0.0.1:0 extra"), 2);

    state_path(path, sizeof(path));
    file = fopen(path, "w");
    assert_non_null(file);
    fputs("{\"format\": \"something else\"}", file);
    fclose(file);
    snprintf(args, sizeof(args), "--listen 127.0.0.1:0 --state %s", path);
    assert_int_equal(run_program(args), 1);
    unlink(path);
}

static int start_sandbox(void **state)
{
    (void)state;
    sandbox_proc_start(&sandbox, NULL);
    return 0;
}

/* A clean exit also means no leak report under AddressSanitizer. */
static int stop_sandbox(void **state)
{
    (void)state;
    return sandbox_proc_stop(&sandbox) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listening_line),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_fault_status_wix),
        cmocka_unit_test(test_fault_patterns),
        cmocka_unit_test(test_fault_other_services),
        cmocka_unit_test(test_fault_delay),
        cmocka_unit_test(test_fault_drop),
        cmocka_unit_test(test_fault_truncate_malformed),
        cmocka_unit_test(test_fault_share),
        cmocka_unit_test(test_fault_rules_api),
        cmocka_unit_test(test_request_log),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_state_survives_restart),
        cmocka_unit_test(test_save_needs_state_file),
        cmocka_unit_test(test_command_line),
    };

    return cmocka_run_group_tests(tests, start_sandbox, stop_sandbox);
}
