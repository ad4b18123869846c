#include "sandbox_proc.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000
#define REQUEST_TIMEOUT_MS 90000
#define MAX_ARGS 32

/* The program: $SITESMITH_BUILD_DIR/sitesmith-sandbox, else from PATH. */
static void program_path(char *out, size_t size)
{
    const char *build_dir = getenv("SITESMITH_BUILD_DIR");

    if (build_dir && *build_dir)
        snprintf(out, size, "%s/sitesmith-sandbox", build_dir);
    else
        snprintf(out, size, "sitesmith-sandbox");
}

static void run_child(const char *program, const char *const *extra_args,
                      int out_fd)
{
    const char *argv[MAX_ARGS + 6] = {"sitesmith-sandbox", "--listen",
                                      "127.0.0.1:0", "--quiet"};
    size_t count = 4;

    /* The sandbox must not outlive a test that crashes. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    for (size_t i = 0; extra_args && extra_args[i] && i < MAX_ARGS; i++)
        argv[count++] = extra_args[i];
    argv[count] = NULL;
    dup2(out_fd, STDOUT_FILENO);
    close(out_fd);
    execvp(program, (char *const *)argv);
    fprintf(stderr, "sandbox_proc: cannot run %s: %s\n", program,
            strerror(errno));
    _exit(127);
}

/* Reads the first line of the child's stdout within the start timeout. */
static int read_first_line(int fd, char *line, size_t size)
{
    struct pollfd waiter = {.fd = fd, .events = POLLIN};
    size_t used = 0;

    while (used + 1 < size) {
        char c;
        ssize_t got;

        if (poll(&waiter, 1, START_TIMEOUT_MS) <= 0)
            return -1;
        got = read(fd, &c, 1);
        if (got <= 0)
            return -1;
        if (c == '\n')
            break;
        line[used++] = c;
    }
    line[used] = '\0';
    return 0;
}

void sandbox_proc_start(struct sandbox_proc *proc,
                        const char *const *extra_args)
{
    char program[1024];
    char line[256];
    int pipe_fds[2];
    static const char prefix[] = "listening on ";

    memset(proc, 0, sizeof(*proc));
    assert_int_equal(http_client_global_init(), 0);
    program_path(program, sizeof(program));
    assert_int_equal(pipe(pipe_fds), 0);
    proc->pid = fork();
    assert_true(proc->pid >= 0);
    if (proc->pid == 0) {
        close(pipe_fds[0]);
        run_child(program, extra_args, pipe_fds[1]);
    }
    close(pipe_fds[1]);

    if (read_first_line(pipe_fds[0], line, sizeof(line)) != 0 ||
        strncmp(line, prefix, sizeof(prefix) - 1) != 0) {
        close(pipe_fds[0]);
        sandbox_proc_stop(proc);
        fail_msg("%s did not print \"listening on\" within %d ms: build the "
                 "sitesmith-sandbox target and set SITESMITH_BUILD_DIR",
                 program, START_TIMEOUT_MS);
    }
    close(pipe_fds[0]);
    if (strlen(line + sizeof(prefix) - 1) >= sizeof(proc->url)) {
        sandbox_proc_stop(proc);
        fail_msg("sandbox address too long: %s", line);
    }
    memcpy(proc->url, line + sizeof(prefix) - 1,
           strlen(line + sizeof(prefix) - 1) + 1);
    snprintf(proc->wix_url, sizeof(proc->wix_url), "%s/wix", proc->url);
    snprintf(proc->openai_url, sizeof(proc->openai_url), "%s/openai/v1",
             proc->url);
    snprintf(proc->replicate_url, sizeof(proc->replicate_url),
             "%s/replicate/v1", proc->url);
}

/* Waits for the child for up to timeout_ms; returns its status or -1. */
static int wait_child(pid_t pid, int timeout_ms)
{
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000000};
    int status;

    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pid_t done = waitpid(pid, &status, WNOHANG);

        if (done == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        if (done < 0)
            return -1;
        nanosleep(&pause, NULL);
    }
    return -1;
}

int sandbox_proc_stop(struct sandbox_proc *proc)
{
    int status;

    if (proc->pid <= 0)
        return 0;
    kill(proc->pid, SIGTERM);
    status = wait_child(proc->pid, STOP_TIMEOUT_MS);
    if (status < 0) {
        kill(proc->pid, SIGKILL);
        waitpid(proc->pid, &status, 0);
        status = -1;
    }
    proc->pid = 0;
    return status;
}

long sandbox_proc_send(struct sandbox_proc *proc, const char *method,
                       const char *path, const char *const *headers,
                       const char *body, struct http_client_response *resp)
{
    struct http_client_request req = {.method = method,
                                      .timeout_ms = REQUEST_TIMEOUT_MS};
    char url[2048];
    struct error err;
    size_t count = 0;

    snprintf(url, sizeof(url), "%s%s", proc->url, path);
    req.url = url;
    if (body) {
        req.headers[count++] = "Content-Type: application/json";
        req.body = body;
        req.body_len = strlen(body);
    }
    for (size_t i = 0; headers && headers[i]; i++) {
        assert_true(count < HTTP_CLIENT_MAX_HEADERS);
        req.headers[count++] = headers[i];
    }
    memset(resp, 0, sizeof(*resp));
    if (http_client_send(&req, resp, &err) != 0)
        fail_msg("%s %s: no response: %s", method, path, err.message);
    return resp->status;
}

/* The body as JSON: {} when empty, NULL when not JSON. */
static json_t *parse_body(const struct http_client_response *resp)
{
    if (resp->body.len == 0)
        return json_object();
    return json_loadb(resp->body.data, resp->body.len, 0, NULL);
}

json_t *sandbox_proc_call(struct sandbox_proc *proc, const char *method,
                          const char *path, const char *body,
                          long expected_status)
{
    struct http_client_response resp;
    json_t *parsed;

    sandbox_proc_send(proc, method, path, NULL, body, &resp);
    if (resp.status != expected_status)
        fail_msg("%s %s: expected HTTP %ld, got %ld: %s", method, path,
                 expected_status, resp.status,
                 resp.body.data ? resp.body.data : "");
    if (!(parsed = parse_body(&resp)))
        fail_msg("%s %s: the response is not JSON: %s", method, path,
                 resp.body.data);
    http_client_response_release(&resp);
    return parsed;
}

json_t *sandbox_proc_wix_call(struct sandbox_proc *proc, const char *token,
                              const char *method, const char *path,
                              const char *body, long expected_status)
{
    struct http_client_response resp;
    char authorization[512];
    const char *headers[] = {authorization, NULL};
    json_t *parsed;

    snprintf(authorization, sizeof(authorization), "Authorization: %s",
             token ? token : "");
    sandbox_proc_send(proc, method, path, token ? headers : NULL, body, &resp);
    if (resp.status != expected_status)
        fail_msg("%s %s: expected HTTP %ld, got %ld: %s", method, path,
                 expected_status, resp.status,
                 resp.body.data ? resp.body.data : "");
    if (!http_client_header(&resp, "x-wix-request-id"))
        fail_msg("%s %s: no x-wix-request-id header", method, path);
    if (!(parsed = parse_body(&resp)))
        fail_msg("%s %s: the response is not JSON: %s", method, path,
                 resp.body.data);
    http_client_response_release(&resp);
    return parsed;
}

void sandbox_proc_assert_wix_error(const json_t *body, const char *code,
                                   const char *field)
{
    const json_t *details = json_object_get(body, "details");
    const json_t *violation = json_array_get(
        json_object_get(json_object_get(details, "validationError"),
                        "fieldViolations"),
        0);

    assert_true(json_is_string(json_object_get(body, "message")));
    if (code) {
        assert_string_equal(
            json_string_value(json_object_get(
                json_object_get(details, "applicationError"), "code")),
            code);
        return;
    }
    assert_non_null(violation);
    assert_string_equal(json_string_value(json_object_get(violation, "field")),
                        field);
}

json_t *sandbox_proc_create_site(struct sandbox_proc *proc, const char *body)
{
    return sandbox_proc_call(proc, "POST", "/__sandbox/sites",
                             body ? body : "{}", 201);
}

json_t *sandbox_proc_site(struct sandbox_proc *proc, const char *instance_id)
{
    char path[256];

    snprintf(path, sizeof(path), "/__sandbox/sites/%s", instance_id);
    return sandbox_proc_call(proc, "GET", path, NULL, 200);
}

void sandbox_proc_wix_token(struct sandbox_proc *proc, const char *instance_id,
                            char *out, size_t size)
{
    json_t *request =
        json_pack("{ss ss ss ss}", "grant_type", "client_credentials",
                  "client_id", SANDBOX_PROC_APP_ID, "client_secret",
                  SANDBOX_PROC_APP_SECRET, "instance_id", instance_id);
    char *body = json_dumps(request, JSON_COMPACT);
    json_t *answer =
        sandbox_proc_call(proc, "POST", "/wix/oauth2/token", body, 200);
    const char *token =
        json_string_value(json_object_get(answer, "access_token"));

    assert_non_null(token);
    assert_true(strlen(token) < size);
    snprintf(out, size, "%s", token);
    json_decref(answer);
    json_decref(request);
    free(body);
}

void sandbox_proc_advance(struct sandbox_proc *proc, double seconds)
{
    char body[64];

    snprintf(body, sizeof(body), "{\"advance_seconds\": %.3f}", seconds);
    json_decref(sandbox_proc_call(proc, "POST", "/__sandbox/clock", body, 200));
}

json_t *sandbox_proc_add_fault(struct sandbox_proc *proc, const char *fault)
{
    json_t *answer =
        sandbox_proc_call(proc, "POST", "/__sandbox/faults", fault, 201);
    json_t *rule = json_incref(json_object_get(answer, "fault"));

    json_decref(answer);
    assert_non_null(rule);
    return rule;
}

json_t *sandbox_proc_requests(struct sandbox_proc *proc)
{
    json_t *answer =
        sandbox_proc_call(proc, "GET", "/__sandbox/requests", NULL, 200);
    json_t *requests = json_incref(json_object_get(answer, "requests"));

    json_decref(answer);
    assert_non_null(requests);
    return requests;
}

void sandbox_proc_configure(struct sandbox_proc *proc, const char *settings)
{
    json_decref(
        sandbox_proc_call(proc, "POST", "/__sandbox/config", settings, 200));
}

void sandbox_proc_reset(struct sandbox_proc *proc)
{
    json_decref(sandbox_proc_call(proc, "POST", "/__sandbox/reset", "{}", 200));
}
