#include "ai_sandbox.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

void ai_sandbox_start(struct ai_sandbox *sandbox)
{
    const char *build_dir = getenv("SITESMITH_BUILD_DIR");
    char program[512];
    char line[200] = "";
    int out[2];
    FILE *stream;

    memset(sandbox, 0, sizeof(*sandbox));
    assert_int_equal(http_client_global_init(), 0);
    snprintf(program, sizeof(program), "%s%ssitesmith-sandbox",
             build_dir ? build_dir : "", build_dir ? "/" : "");
    assert_int_equal(pipe(out), 0);
    sandbox->pid = fork();
    assert_true(sandbox->pid >= 0);
    if (sandbox->pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execlp(program, "sitesmith-sandbox", "--listen", "127.0.0.1:0",
               "--quiet", (char *)NULL);
        fprintf(stderr, "ai_sandbox: can't run %s\n", program);
        _exit(127);
    }
    close(out[1]);

    /* Only the first line matters; the pipe closes with the stream. */
    stream = fdopen(out[0], "r");
    assert_non_null(stream);
    if (!fgets(line, sizeof(line), stream) ||
        strncmp(line, "listening on ", 13) != 0)
        fail_msg("sitesmith-sandbox did not start: set SITESMITH_BUILD_DIR "
                 "to the build folder");
    fclose(stream);
    line[strcspn(line, "\n")] = '\0';
    snprintf(sandbox->base_url, sizeof(sandbox->base_url), "%s", line + 13);
}

void ai_sandbox_stop(struct ai_sandbox *sandbox)
{
    int status;

    if (sandbox->pid <= 0)
        return;
    kill(sandbox->pid, SIGTERM);
    waitpid(sandbox->pid, &status, 0);
    sandbox->pid = 0;
}

long ai_sandbox_send(struct ai_sandbox *sandbox, const char *method,
                     const char *path, const char *const *headers,
                     const char *body, struct http_client_response *resp)
{
    struct http_client_request req = {.method = method, .timeout_ms = 90000};
    char url[1024];
    struct error err;
    size_t count = 0;

    snprintf(url, sizeof(url), "%s%s", sandbox->base_url, path);
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
        fail_msg("%s %s: %s", method, path, err.message);
    return resp->status;
}

json_t *ai_sandbox_json(struct ai_sandbox *sandbox, const char *method,
                        const char *path, const char *const *headers,
                        const char *body, long expected_status)
{
    struct http_client_response resp;
    json_t *parsed;

    ai_sandbox_send(sandbox, method, path, headers, body, &resp);
    if (resp.status != expected_status)
        fail_msg("%s %s: expected HTTP %ld, got %ld: %s", method, path,
                 expected_status, resp.status,
                 resp.body.data ? resp.body.data : "");
    parsed = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0,
                        NULL);
    if (!parsed)
        fail_msg("%s %s: the response is not JSON: %s", method, path,
                 resp.body.data ? resp.body.data : "");
    http_client_response_release(&resp);
    return parsed;
}

void ai_sandbox_configure(struct ai_sandbox *sandbox, const char *settings_json)
{
    json_decref(ai_sandbox_json(sandbox, "POST", "/__sandbox/config", NULL,
                                settings_json, 200));
}

void ai_sandbox_advance(struct ai_sandbox *sandbox, int64_t seconds)
{
    char body[64];

    snprintf(body, sizeof(body), "{\"advance_seconds\": %lld}",
             (long long)seconds);
    json_decref(
        ai_sandbox_json(sandbox, "POST", "/__sandbox/clock", NULL, body, 200));
}

void ai_sandbox_reset(struct ai_sandbox *sandbox)
{
    json_decref(
        ai_sandbox_json(sandbox, "POST", "/__sandbox/reset", NULL, "{}", 200));
}

static unsigned read_be32(const unsigned char *p)
{
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 |
           p[3];
}

void ai_sandbox_png_info(const char *data, size_t len, int *width, int *height,
                         int *color_type)
{
    const unsigned char *bytes = (const unsigned char *)data;

    if (!data || len < 26 || memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) != 0)
        fail_msg("expected a PNG file (%zu bytes)", len);
    *width = (int)read_be32(bytes + 16);
    *height = (int)read_be32(bytes + 20);
    *color_type = bytes[25];
}
