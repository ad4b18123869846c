#include "ai_sandbox.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

void ai_sandbox_start(struct ai_sandbox *sandbox)
{
    memset(sandbox, 0, sizeof(*sandbox));
    sandbox_proc_start(&sandbox->proc, NULL);
    snprintf(sandbox->base_url, sizeof(sandbox->base_url), "%s",
             sandbox->proc.url);
}

void ai_sandbox_stop(struct ai_sandbox *sandbox)
{
    sandbox_proc_stop(&sandbox->proc);
}

long ai_sandbox_send(struct ai_sandbox *sandbox, const char *method,
                     const char *path, const char *const *headers,
                     const char *body, struct http_client_response *resp)
{
    return sandbox_proc_send(&sandbox->proc, method, path, headers, body, resp);
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
    sandbox_proc_configure(&sandbox->proc, settings_json);
}

void ai_sandbox_advance(struct ai_sandbox *sandbox, int64_t seconds)
{
    sandbox_proc_advance(&sandbox->proc, (double)seconds);
}

void ai_sandbox_reset(struct ai_sandbox *sandbox)
{
    sandbox_proc_reset(&sandbox->proc);
}

struct config *ai_sandbox_config(struct ai_sandbox *sandbox,
                                 const char *url_name, const char *url_path,
                                 const char *const *defaults,
                                 const char *const *settings)
{
    struct config *cfg = config_new_empty();
    char url[300];

    assert_non_null(cfg);
    snprintf(url, sizeof(url), "%s%s", sandbox->base_url, url_path);
    config_set(cfg, url_name, url);
    for (size_t i = 0; defaults && defaults[i]; i += 2)
        config_set(cfg, defaults[i], defaults[i + 1]);
    for (size_t i = 0; settings && settings[i]; i += 2)
        config_set(cfg, settings[i], settings[i + 1]);
    return cfg;
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
