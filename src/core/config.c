#include "core/config.h"

#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

struct entry {
    char *name;
    char *value;
};

struct config {
    struct entry *entries;
    size_t count;
    size_t capacity;
};

static const char *const provider_keys[] = {"OPENAI_API_KEY", "OPENAI_BASE_URL",
                                            "REPLICATE_API_TOKEN", NULL};

static int name_ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name);
    size_t s = strlen(suffix);

    return n >= s && strcmp(name + n - s, suffix) == 0;
}

int config_is_secret(const char *name)
{
    return name_ends_with(name, "_SECRET") || name_ends_with(name, "_KEY") ||
           name_ends_with(name, "_TOKEN") ||
           name_ends_with(name, "_PASSWORD") ||
           strcmp(name, "SITESMITH_DATABASE_URL") == 0;
}

static int is_known_key(const char *name)
{
    if (strncmp(name, "SITESMITH_", 10) == 0)
        return 1;
    for (int i = 0; provider_keys[i]; i++) {
        if (strcmp(name, provider_keys[i]) == 0)
            return 1;
    }
    return 0;
}

struct config *config_new_empty(void)
{
    return calloc(1, sizeof(struct config));
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->count; i++) {
        free(cfg->entries[i].name);
        free(cfg->entries[i].value);
    }
    free(cfg->entries);
    free(cfg);
}

static struct entry *find_entry(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->count; i++) {
        if (strcmp(cfg->entries[i].name, name) == 0)
            return &cfg->entries[i];
    }
    return NULL;
}

int config_set(struct config *cfg, const char *name, const char *value)
{
    struct entry *entry = find_entry(cfg, name);
    char *copy = strdup(value ? value : "");

    if (!copy)
        return -1;
    if (config_is_secret(name))
        log_add_secret(copy);
    if (entry) {
        free(entry->value);
        entry->value = copy;
        return 0;
    }
    if (cfg->count == cfg->capacity) {
        size_t capacity = cfg->capacity ? cfg->capacity * 2 : 32;
        struct entry *grown = realloc(cfg->entries, capacity * sizeof(*grown));

        if (!grown) {
            free(copy);
            return -1;
        }
        cfg->entries = grown;
        cfg->capacity = capacity;
    }
    cfg->entries[cfg->count].name = strdup(name);
    if (!cfg->entries[cfg->count].name) {
        free(copy);
        return -1;
    }
    cfg->entries[cfg->count].value = copy;
    cfg->count++;
    return 0;
}

static char *trim(char *text)
{
    char *end;

    while (isspace((unsigned char)*text))
        text++;
    end = text + strlen(text);
    while (end > text && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return text;
}

static int load_file(struct config *cfg, const char *path, struct error *err)
{
    FILE *file = fopen(path, "r");
    char line[4096];
    int number = 0;

    if (!file)
        return error_set(err, ERR_INVALID, "cannot read config file %s: %s",
                         path, strerror(errno));
    while (fgets(line, sizeof(line), file)) {
        char *text = trim(line);
        char *equals;
        char *name;
        char *value;
        size_t length;

        number++;
        if (*text == '\0' || *text == '#')
            continue;
        equals = strchr(text, '=');
        if (!equals) {
            fclose(file);
            return error_set(err, ERR_INVALID,
                             "%s:%d: expected KEY=VALUE, found \"%.60s\"", path,
                             number, text);
        }
        *equals = '\0';
        name = trim(text);
        value = trim(equals + 1);
        length = strlen(value);
        if (length >= 2 && value[0] == '"' && value[length - 1] == '"') {
            value[length - 1] = '\0';
            value++;
        }
        if (*name == '\0') {
            fclose(file);
            return error_set(err, ERR_INVALID, "%s:%d: empty key", path,
                             number);
        }
        config_set(cfg, name, value);
    }
    fclose(file);
    return 0;
}

struct config *config_load(const char *file, struct error *err)
{
    struct config *cfg = config_new_empty();

    if (!cfg) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    if (file && load_file(cfg, file, err) != 0) {
        config_free(cfg);
        return NULL;
    }
    for (char **env = environ; env && *env; env++) {
        const char *equals = strchr(*env, '=');
        char name[256];
        size_t length;

        if (!equals)
            continue;
        length = (size_t)(equals - *env);
        if (length >= sizeof(name))
            continue;
        memcpy(name, *env, length);
        name[length] = '\0';
        if (is_known_key(name))
            config_set(cfg, name, equals + 1);
    }
    return cfg;
}

const char *config_get(const struct config *cfg, const char *name)
{
    struct entry *entry = cfg ? find_entry(cfg, name) : NULL;

    if (!entry || entry->value[0] == '\0')
        return NULL;
    return entry->value;
}

const char *config_get_string(const struct config *cfg, const char *name,
                              const char *fallback)
{
    const char *value = config_get(cfg, name);

    return value ? value : fallback;
}

static int invalid(struct error *err, const char *name, const char *value,
                   const char *expected)
{
    if (config_is_secret(name))
        return error_set(err, ERR_INVALID, "%s: invalid value: expected %s",
                         name, expected);
    return error_set(err, ERR_INVALID,
                     "%s: invalid value \"%.100s\": expected %s", name, value,
                     expected);
}

int config_get_int(const struct config *cfg, const char *name, int64_t fallback,
                   int64_t min, int64_t max, int64_t *out, struct error *err)
{
    const char *value = config_get(cfg, name);
    char expected[96];
    char *end;
    long long parsed;

    if (!value) {
        *out = fallback;
        return 0;
    }
    snprintf(expected, sizeof(expected), "an integer from %lld to %lld",
             (long long)min, (long long)max);
    errno = 0;
    parsed = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *trim(end) != '\0' || parsed < min ||
        parsed > max)
        return invalid(err, name, value, expected);
    *out = parsed;
    return 0;
}

int config_get_duration_ms(const struct config *cfg, const char *name,
                           int64_t fallback_ms, int64_t *out_ms,
                           struct error *err)
{
    static const char expected[] =
        "a duration such as 30, 30s, 250ms, 5m or 4h (seconds by default)";
    const char *value = config_get(cfg, name);
    double number;
    double scale;
    char *end;

    if (!value) {
        *out_ms = fallback_ms;
        return 0;
    }
    errno = 0;
    number = strtod(value, &end);
    if (errno != 0 || end == value || number < 0)
        return invalid(err, name, value, expected);
    if (*end == '\0' || strcmp(end, "s") == 0)
        scale = 1000;
    else if (strcmp(end, "ms") == 0)
        scale = 1;
    else if (strcmp(end, "m") == 0)
        scale = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        scale = 3600 * 1000;
    else
        return invalid(err, name, value, expected);
    if (number * scale > 1e15)
        return invalid(err, name, value, expected);
    *out_ms = (int64_t)(number * scale);
    return 0;
}

int config_get_bool(const struct config *cfg, const char *name, int fallback,
                    int *out, struct error *err)
{
    static const char *const yes[] = {"1", "true", "yes", "on", NULL};
    static const char *const no[] = {"0", "false", "no", "off", NULL};
    const char *value = config_get(cfg, name);

    if (!value) {
        *out = fallback;
        return 0;
    }
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return invalid(err, name, value, "true or false");
}

int config_get_url(const struct config *cfg, const char *name,
                   const char *fallback, char *out, size_t size,
                   struct error *err)
{
    const char *value = config_get_string(cfg, name, fallback);
    size_t length;

    if (!value)
        return error_set(err, ERR_INVALID, "%s: missing: expected a URL", name);
    length = strlen(value);
    if ((strncmp(value, "http://", 7) != 0 &&
         strncmp(value, "https://", 8) != 0) ||
        strchr(value, ' ') || length >= size || length < 10)
        return invalid(err, name, value,
                       "an http:// or https:// URL such as "
                       "http://127.0.0.1:8080/wix");
    memcpy(out, value, length + 1);
    while (length > 0 && out[length - 1] == '/')
        out[--length] = '\0';
    return 0;
}

void config_describe(const struct config *cfg, FILE *out)
{
    for (size_t i = 0; i < cfg->count; i++) {
        char redacted[64];
        const char *value = cfg->entries[i].value;

        if (config_is_secret(cfg->entries[i].name))
            value = log_redact(value, redacted, sizeof(redacted));
        fprintf(out, "%s=%s\n", cfg->entries[i].name, value);
    }
}
