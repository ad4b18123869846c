#include "core/log.h"

#include "core/clock.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_BYTES 8192
#define SECRET_MIN_LENGTH 6

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level current_level = LOG_INFO;
static FILE *log_output;
static char *secrets[LOG_MAX_SECRETS];
static size_t secret_count;
static size_t secret_next; /* ring position once the table is full */

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR",
                                          "OFF"};

int log_parse_level(const char *text, enum log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error",
                                        "off"};

    for (int i = 0; i <= LOG_OFF; i++) {
        if (text && strcasecmp(text, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_init_from_env(void)
{
    const char *text = getenv("SITESMITH_LOG_LEVEL");
    enum log_level level;

    if (!text || !*text)
        return 0;
    if (log_parse_level(text, &level) != 0)
        return -1;
    log_set_level(level);
    return 0;
}

void log_set_level(enum log_level level)
{
    pthread_mutex_lock(&log_lock);
    current_level = level;
    pthread_mutex_unlock(&log_lock);
}

enum log_level log_get_level(void)
{
    enum log_level level;

    pthread_mutex_lock(&log_lock);
    level = current_level;
    pthread_mutex_unlock(&log_lock);
    return level;
}

void log_set_output(FILE *out)
{
    pthread_mutex_lock(&log_lock);
    log_output = out;
    pthread_mutex_unlock(&log_lock);
}

void log_add_secret(const char *value)
{
    char *copy;

    if (!value || strlen(value) < SECRET_MIN_LENGTH)
        return;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < secret_count; i++) {
        if (strcmp(secrets[i], value) == 0) {
            pthread_mutex_unlock(&log_lock);
            return;
        }
    }
    copy = strdup(value);
    if (copy) {
        if (secret_count < LOG_MAX_SECRETS) {
            secrets[secret_count++] = copy;
        } else {
            free(secrets[secret_next]);
            secrets[secret_next] = copy;
            secret_next = (secret_next + 1) % LOG_MAX_SECRETS;
        }
    }
    pthread_mutex_unlock(&log_lock);
}

void log_clear_secrets(void)
{
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < secret_count; i++)
        free(secrets[i]);
    secret_count = 0;
    secret_next = 0;
    pthread_mutex_unlock(&log_lock);
}

const char *log_redact(const char *secret, char *out, size_t size)
{
    size_t length = secret ? strlen(secret) : 0;

    if (length < 8)
        snprintf(out, size, "[redacted]");
    else
        snprintf(out, size, "%.2s…(%zu chars)", secret, length);
    return out;
}

/* Replaces every registered secret in line, in place. Caller holds lock. */
static void redact_line(char *line)
{
    for (size_t i = 0; i < secret_count; i++) {
        size_t secret_length = strlen(secrets[i]);
        char *hit;

        while ((hit = strstr(line, secrets[i])) != NULL) {
            static const char mask[] = "[redacted]";
            size_t tail = strlen(hit + secret_length) + 1;

            /* The mask is never longer than a secret worth masking. */
            if (secret_length >= sizeof(mask) - 1) {
                memcpy(hit, mask, sizeof(mask) - 1);
                memmove(hit + sizeof(mask) - 1, hit + secret_length, tail);
            } else {
                memset(hit, '*', secret_length);
            }
        }
    }
}

void log_write(enum log_level level, const char *component, const char *fmt,
               ...)
{
    char line[LINE_MAX_BYTES];
    char when[32];
    size_t used;
    va_list ap;

    if (level < LOG_DEBUG || level >= LOG_OFF)
        return;
    pthread_mutex_lock(&log_lock);
    if (level < current_level) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    clock_format_iso(clock_now_ms(), when);
    snprintf(line, sizeof(line), "%s %s %s: ", when, level_names[level],
             component ? component : "-");
    used = strlen(line);
    va_start(ap, fmt);
    vsnprintf(line + used, sizeof(line) - used, fmt, ap);
    va_end(ap);

    /* One event, one line: a newline inside a message would split it. */
    for (char *p = line; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    redact_line(line);
    fprintf(log_output ? log_output : stderr, "%s\n", line);
    fflush(log_output ? log_output : stderr);
    pthread_mutex_unlock(&log_lock);
}
