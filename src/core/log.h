/*
 * Logging: one line per event on stderr (or a file set by a test):
 *
 *   2026-12-04T15:17:17.123Z INFO queue: job finished job=12 instance=abc
 *
 * time (UTC), level, component, message, then key=value ids. Library
 * layers return errors; the caller that handles an error logs it once.
 *
 * Secrets: every value passed to log_add_secret() is replaced by
 * "[redacted]" wherever it appears in a line, so a secret that slips into
 * a message is still not written. Config registers its secret values at
 * load; the token provider registers each token it receives.
 */
#ifndef SITESMITH_CORE_LOG_H
#define SITESMITH_CORE_LOG_H

#include <stddef.h>
#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Reads SITESMITH_LOG_LEVEL (debug, info, warn, error, off); -1 if invalid. */
int log_init_from_env(void);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "debug" ... "off"; returns -1 for anything else. */
int log_parse_level(const char *text, enum log_level *out);

/* Sends lines to out (not closed by log); NULL restores stderr. */
void log_set_output(FILE *out);

/*
 * Registers a secret value (at least 6 bytes; shorter ones are ignored) to
 * be redacted from every later line. The value is copied. Thread-safe.
 * Keeps the newest LOG_MAX_SECRETS values.
 */
#define LOG_MAX_SECRETS 4096
void log_add_secret(const char *value);

/* Forgets all registered secrets (tests). */
void log_clear_secrets(void);

/*
 * Writes the redacted form of a secret into out: its length and the first
 * two characters at most, e.g. "sk…(51 chars)". Returns out.
 */
const char *log_redact(const char *secret, char *out, size_t size);

/* Writes one line when level is enabled. fmt gives "message key=value...". */
void log_write(enum log_level level, const char *component, const char *fmt,
               ...) __attribute__((format(printf, 3, 4)));

#define log_debug(component, ...) log_write(LOG_DEBUG, component, __VA_ARGS__)
#define log_info(component, ...) log_write(LOG_INFO, component, __VA_ARGS__)
#define log_warn(component, ...) log_write(LOG_WARN, component, __VA_ARGS__)
#define log_error(component, ...) log_write(LOG_ERROR, component, __VA_ARGS__)

#endif
