/*
 * Configuration: environment variables, optionally overlaid on a KEY=VALUE
 * file (given by --config FILE; the environment wins). Modules read their
 * own keys with the typed getters below, once at start-up, so that an
 * invalid value stops the program with a message that names the variable,
 * the value and the expected form.
 *
 * Keys whose names end in _SECRET, _KEY, _TOKEN or _PASSWORD, and
 * SITESMITH_DATABASE_URL, are secrets: their values are registered with
 * the log's redaction and are never printed by config_describe().
 */
#ifndef SITESMITH_CORE_CONFIG_H
#define SITESMITH_CORE_CONFIG_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config;

/*
 * Reads the environment and, when file is not NULL, the file (lines of
 * KEY=VALUE; blank lines and lines starting with # are skipped; the value
 * may be wrapped in double quotes). Returns NULL and sets err when the file
 * can't be read or a line is malformed (the message names the line).
 * The caller frees the result with config_free().
 */
struct config *config_load(const char *file, struct error *err);

/* An empty configuration that ignores the environment (tests). */
struct config *config_new_empty(void);

void config_free(struct config *cfg);

/* Sets or replaces a value (tests, and the demo's overrides). */
int config_set(struct config *cfg, const char *name, const char *value);

/* True when name is treated as a secret. */
int config_is_secret(const char *name);

/* The raw value, or NULL when unset or empty. Borrowed from cfg. */
const char *config_get(const struct config *cfg, const char *name);

/* The value or fallback when unset. Borrowed. */
const char *config_get_string(const struct config *cfg, const char *name,
                              const char *fallback);

/*
 * Reads an integer in [min, max]; fallback when unset. On a bad value sets
 * err to "SITESMITH_X: invalid value "abc": expected an integer from 1 to
 * 100" (kind ERR_INVALID) and returns -1.
 */
int config_get_int(const struct config *cfg, const char *name, int64_t fallback,
                   int64_t min, int64_t max, int64_t *out, struct error *err);

/* Reads a number of seconds, with optional unit: 30, 30s, 5m, 4h, 250ms. */
int config_get_duration_ms(const struct config *cfg, const char *name,
                           int64_t fallback_ms, int64_t *out_ms,
                           struct error *err);

/* Reads true/false, 1/0, yes/no, on/off. */
int config_get_bool(const struct config *cfg, const char *name, int fallback,
                    int *out, struct error *err);

/*
 * Reads an http:// or https:// base URL and stores it without a trailing
 * slash in out (size bytes). Sets err for anything else.
 */
int config_get_url(const struct config *cfg, const char *name,
                   const char *fallback, char *out, size_t size,
                   struct error *err);

/* Prints every set SITESMITH_ and provider key, secrets redacted. */
void config_describe(const struct config *cfg, FILE *out);

#endif
