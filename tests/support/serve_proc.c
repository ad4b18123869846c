#include "serve_proc.h"

#include "core/crypto.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 30000

void serve_proc_start(struct serve_proc *proc, const char *log_path,
                      int workers)
{
    const char *build = getenv("SITESMITH_BUILD_DIR");
    char program[1024];
    char worker_count[16];
    char *argv[] = {program,     "serve",      "--listen", "127.0.0.1:0",
                    "--workers", worker_count, NULL};
    struct error err;
    int saved_stderr = -1;
    int log_fd;
    int rc;

    memset(proc, 0, sizeof(*proc));
    snprintf(program, sizeof(program), "%s/sitesmith", build ? build : ".");
    snprintf(worker_count, sizeof(worker_count), "%d", workers);
    if (log_path) {
        /* The child inherits fd 2, so it is pointed at the file just for
         * the fork. */
        fflush(stderr);
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(log_fd >= 0);
        saved_stderr = dup(STDERR_FILENO);
        assert_true(saved_stderr >= 0);
        assert_int_equal(dup2(log_fd, STDERR_FILENO), STDERR_FILENO);
        close(log_fd);
    }
    error_clear(&err);
    rc = child_start(&proc->child, "sitesmith serve", argv, &err);
    if (log_path) {
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
    }
    if (rc != 0)
        fail_msg("%s", err.message);
    if (child_read_url(&proc->child, START_TIMEOUT_MS, proc->url,
                       sizeof(proc->url), &err) != 0)
        fail_msg("%s", err.message);
}

int serve_proc_stop(struct serve_proc *proc)
{
    return child_stop(&proc->child, STOP_TIMEOUT_MS);
}

long serve_proc_send(struct serve_proc *proc, const char *method,
                     const char *path, const char *const *headers,
                     const char *content_type, const char *body,
                     struct http_client_response *resp)
{
    struct http_client_request req = {.method = method};
    char url[2048];
    char type_header[160];
    struct error err;
    int count = 0;

    snprintf(url, sizeof(url), "%s%s", proc->url, path);
    req.url = url;
    for (size_t i = 0; headers && headers[i]; i++)
        req.headers[count++] = headers[i];
    if (content_type) {
        snprintf(type_header, sizeof(type_header), "Content-Type: %s",
                 content_type);
        req.headers[count++] = type_header;
    }
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    memset(resp, 0, sizeof(*resp));
    error_clear(&err);
    if (http_client_send(&req, resp, &err) != 0)
        fail_msg("%s %s: %s", method, path, err.message);
    return resp->status;
}

json_t *serve_proc_api(struct serve_proc *proc, const char *method,
                       const char *path, const char *instance, const char *body,
                       long *status)
{
    struct http_client_response resp;
    char instance_header[8192];
    const char *headers[2] = {NULL, NULL};
    json_t *json;

    if (instance) {
        snprintf(instance_header, sizeof(instance_header), "X-Wix-Instance: %s",
                 instance);
        headers[0] = instance_header;
    }
    *status = serve_proc_send(proc, method, path, headers,
                              body ? "application/json" : NULL, body, &resp);
    json = json_loads(resp.body.data ? resp.body.data : "", 0, NULL);
    http_client_response_release(&resp);
    return json;
}

void serve_proc_make_dir(char *dir, size_t size, const char *name)
{
    assert_int_equal(crypto_init(), 0);
    snprintf(dir, size, "/tmp/sitesmith-%s-XXXXXX", name);
    assert_non_null(mkdtemp(dir));
}

int serve_proc_remove_dir(const char *dir)
{
    char command[512];

    snprintf(command, sizeof(command), "rm -rf %s", dir);
    return system(command) == 0 ? 0 : -1;
}

static void export_database(const struct serve_env *env)
{
    const char *postgres = getenv("SITESMITH_TEST_POSTGRES_URL");
    char value[512];

    if (env->postgres && postgres && *postgres) {
        setenv("SITESMITH_DATABASE_URL", postgres, 1);
    } else {
        snprintf(value, sizeof(value), "sqlite:%s/%s", env->dir, env->database);
        setenv("SITESMITH_DATABASE_URL", value, 1);
    }
    snprintf(value, sizeof(value), "%s/data", env->dir);
    setenv("SITESMITH_DATA_DIR", value, 1);
}

void serve_proc_export(const struct serve_env *env)
{
    const struct sandbox_proc *sandbox = env->sandbox;
    char key[65];

    export_database(env);
    setenv("SITESMITH_WIX_API_URL",
           sandbox ? sandbox->wix_url : "http://127.0.0.1:9/wix", 1);
    setenv("OPENAI_BASE_URL",
           sandbox ? sandbox->openai_url : "http://127.0.0.1:9/openai/v1", 1);
    setenv("SITESMITH_REPLICATE_API_URL",
           sandbox ? sandbox->replicate_url : "http://127.0.0.1:9/replicate/v1",
           1);
    setenv("OPENAI_API_KEY", env->openai_key, 1);
    setenv("REPLICATE_API_TOKEN", env->replicate_token, 1);
    setenv("SITESMITH_WIX_APP_ID", SANDBOX_PROC_APP_ID, 1);
    setenv("SITESMITH_WIX_APP_SECRET", SANDBOX_PROC_APP_SECRET, 1);
    crypto_random_hex(key, 32);
    setenv("SITESMITH_SECRET_KEY", key, 1);
    setenv("SITESMITH_LOG_LEVEL", "warn", 1);
}

char *serve_proc_create_site(struct sandbox_proc *sandbox, char *id,
                             size_t size)
{
    json_t *site = sandbox_proc_create_site(
        sandbox, "{\"fixture\": \"store\", \"catalog_version\": 1}");
    char *instance;

    snprintf(id, size, "%s",
             json_string_value(json_object_get(site, "instance_id")));
    instance = strdup(json_string_value(json_object_get(site, "instance")));
    assert_non_null(instance);
    json_decref(site);
    return instance;
}

json_t *serve_proc_call(struct serve_proc *proc, const char *method,
                        const char *path, const char *instance,
                        const char *body, long expected)
{
    struct http_client_response resp;
    char instance_header[8192];
    const char *headers[2] = {NULL, NULL};
    long status;
    json_t *json;

    if (instance) {
        snprintf(instance_header, sizeof(instance_header), "X-Wix-Instance: %s",
                 instance);
        headers[0] = instance_header;
    }
    status = serve_proc_send(proc, method, path, headers,
                             body ? "application/json" : NULL, body, &resp);
    if (status != expected)
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path, expected,
                 status, resp.body.data ? resp.body.data : "");
    json = json_loads(resp.body.data ? resp.body.data : "{}", 0, NULL);
    http_client_response_release(&resp);
    assert_non_null(json);
    return json;
}

int serve_proc_run(const char *args, char *out, size_t size)
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
