/*
 * The token provider against sitesmith-sandbox: lifetimes taken from
 * expires_in, the refresh margin, forced refreshes, one token request for
 * many threads and (with PostgreSQL) for many processes, the database
 * cache, legacy refresh tokens, and the token endpoint's errors.
 *
 * Run as "test_token --child ..." it is one of the processes of the
 * PostgreSQL test (see child_main).
 */
#include "auth/token.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "http/client.h"
#include "store/store.h"
#include "store_fixture.h"
#include "wix_env.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define TOKEN_PATH "/wix/oauth2/token"
#define LEGACY_PATH "/wix/oauth/access"
#define HOUR_S (60 * 60)
#define THREADS 100
#define PROCESSES 4

static struct wix_env env;

static int setup_group(void **state)
{
    (void)state;
    wix_env_start(&env);
    return 0;
}

static int teardown_group(void **state)
{
    (void)state;
    wix_env_stop(&env);
    return 0;
}

/* Each test gets a site of its own, so that tests share no tokens. */
static int setup(void **state)
{
    char member_id[128];
    char *instance_id = malloc(128);

    assert_non_null(instance_id);
    wix_env_add_site(&env, instance_id, member_id);
    wix_env_clear_log(&env);
    *state = instance_id;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static struct token_provider *new_provider(struct store *store)
{
    struct error err;
    struct token_provider *provider = token_provider_new(env.cfg, store, &err);

    if (!provider)
        fail_msg("token_provider_new: %s", err.message);
    return provider;
}

static void get_token(struct token_provider *provider, const char *site,
                      unsigned flags, struct token *out)
{
    struct error err;

    if (token_get(provider, site, flags, out, &err) < 0)
        fail_msg("token_get: %s", err.message);
}

static int token_requests(void)
{
    return wix_env_count(&env, "POST", TOKEN_PATH, 200);
}

/* ------------------------------------------------------------------ */
/* Lifetime and margin                                                 */
/* ------------------------------------------------------------------ */

static void token_cached_until_margin(void **state)
{
    const char *site = *state;
    struct token_provider *provider = new_provider(NULL);
    struct token first;
    struct token again;
    int64_t start = clock_now_ms();

    get_token(provider, site, 0, &first);
    assert_int_equal(token_requests(), 1);
    /* The lifetime is the sandbox's expires_in of 4 hours. */
    assert_true(first.obtained_ms >= start);
    assert_int_equal(first.expires_ms - first.obtained_ms, 4LL * HOUR_S * 1000);

    /* 3:54 later the token still has more than the 5-minute margin. */
    wix_env_advance(&env, 3 * HOUR_S + 54 * 60);
    get_token(provider, site, 0, &again);
    assert_string_equal(again.access_token, first.access_token);
    assert_int_equal(token_requests(), 1);

    /* At 3:55 it has no more than the margin left: a new one. */
    wix_env_advance(&env, 60);
    get_token(provider, site, 0, &again);
    assert_string_not_equal(again.access_token, first.access_token);
    assert_int_equal(token_requests(), 2);
    token_provider_free(provider);
}

static void lifetime_from_expires_in(void **state)
{
    const char *site = *state;
    struct token_provider *provider = new_provider(NULL);
    struct token first;
    struct token again;

    json_decref(wix_env_request(&env, "POST", "/__sandbox/config",
                                "{\"wix\": {\"token_ttl_s\": 3600}}", 200));
    get_token(provider, site, 0, &first);
    assert_int_equal(first.expires_ms - first.obtained_ms, 3600LL * 1000);

    /* With one hour of life the token is replaced after 55 minutes, and
     * never used after it expired. */
    wix_env_advance(&env, 55 * 60 + 1);
    get_token(provider, site, 0, &again);
    assert_string_not_equal(again.access_token, first.access_token);
    assert_int_equal(token_requests(), 2);

    json_decref(wix_env_request(&env, "POST", "/__sandbox/config",
                                "{\"wix\": {\"token_ttl_s\": 14400}}", 200));
    token_provider_free(provider);
}

static void forced_refresh_gets_new_token(void **state)
{
    const char *site = *state;
    struct token_provider *provider = new_provider(NULL);
    struct token first;
    struct token forced;
    struct token refreshed;
    struct error err;

    get_token(provider, site, 0, &first);
    get_token(provider, site, TOKEN_FORCE_REFRESH, &forced);
    assert_string_not_equal(forced.access_token, first.access_token);
    assert_int_equal(token_requests(), 2);

    /* A caller whose older token was rejected gets the newer one that is
     * already cached, without a request. */
    assert_int_equal(
        token_refresh(provider, site, first.access_token, &refreshed, &err), 0);
    assert_string_equal(refreshed.access_token, forced.access_token);
    assert_int_equal(token_requests(), 2);
    token_provider_free(provider);
}

/* ------------------------------------------------------------------ */
/* Many threads                                                        */
/* ------------------------------------------------------------------ */

struct crowd {
    struct token_provider *provider;
    const char *site;
    const char *rejected; /* NULL: token_get, else token_refresh */
    pthread_barrier_t start;
    struct token tokens[THREADS];
    int rc[THREADS];
    int next;
    pthread_mutex_t lock;
};

static void *ask_for_token(void *arg)
{
    struct crowd *crowd = arg;
    struct error err;
    int index;

    pthread_mutex_lock(&crowd->lock);
    index = crowd->next++;
    pthread_mutex_unlock(&crowd->lock);
    pthread_barrier_wait(&crowd->start);
    if (crowd->rejected)
        crowd->rc[index] =
            token_refresh(crowd->provider, crowd->site, crowd->rejected,
                          &crowd->tokens[index], &err);
    else
        crowd->rc[index] = token_get(crowd->provider, crowd->site, 0,
                                     &crowd->tokens[index], &err);
    return NULL;
}

/* Runs THREADS callers at once and checks they all got the same token. */
static void run_crowd(struct crowd *crowd)
{
    pthread_t threads[THREADS];

    crowd->next = 0;
    pthread_mutex_init(&crowd->lock, NULL);
    pthread_barrier_init(&crowd->start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(
            pthread_create(&threads[i], NULL, ask_for_token, crowd), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&crowd->start);
    pthread_mutex_destroy(&crowd->lock);

    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(crowd->rc[i], 0);
        assert_string_equal(crowd->tokens[i].access_token,
                            crowd->tokens[0].access_token);
    }
}

static void threads_share_one_request(void **state,
                                      struct token_provider *provider)
{
    struct crowd *crowd = calloc(1, sizeof(*crowd));
    struct token first;

    assert_non_null(crowd);
    crowd->provider = provider;
    crowd->site = *state;
    get_token(provider, crowd->site, 0, &first);
    assert_int_equal(token_requests(), 1);

    /* The moment the cached token enters the margin. */
    wix_env_advance(&env, 4 * HOUR_S - 5 * 60);
    run_crowd(crowd);
    assert_string_not_equal(crowd->tokens[0].access_token, first.access_token);
    assert_int_equal(token_requests(), 2);

    /* All of them saw that token rejected: still one request. */
    /* first keeps the rejected token while the crowd's slots are reused. */
    memcpy(&first, &crowd->tokens[0], sizeof(first));
    crowd->rejected = first.access_token;
    run_crowd(crowd);
    assert_string_not_equal(crowd->tokens[0].access_token, first.access_token);
    assert_int_equal(token_requests(), 3);
    free(crowd);
}

static void hundred_threads_one_request(void **state)
{
    struct token_provider *provider = new_provider(NULL);

    threads_share_one_request(state, provider);
    token_provider_free(provider);
}

/* ------------------------------------------------------------------ */
/* The database cache                                                  */
/* ------------------------------------------------------------------ */

static struct store_fixture *open_fixture(enum store_backend backend)
{
    struct store_fixture *fixture = calloc(1, sizeof(*fixture));

    assert_non_null(fixture);
    if (store_fixture_open(fixture, backend, 0, 1) < 0)
        fail_msg("could not open a %s store",
                 store_fixture_backend_name(backend));
    return fixture;
}

static void close_fixture(struct store_fixture *fixture)
{
    store_fixture_close(fixture);
    free(fixture);
}

static void sqlite_cache_survives_restart(void **state)
{
    const char *site = *state;
    struct store_fixture *fixture = open_fixture(STORE_SQLITE);
    struct store *store = fixture->st;
    struct token_provider *provider = new_provider(store);
    struct token first;
    struct token again;

    get_token(provider, site, 0, &first);
    token_provider_free(provider);

    /* A new process (a new provider) finds the token in the database. */
    provider = new_provider(store);
    get_token(provider, site, 0, &again);
    assert_string_equal(again.access_token, first.access_token);
    assert_int_equal(again.expires_ms, first.expires_ms);
    assert_int_equal(token_requests(), 1);

    /* A forced refresh replaces it in the database too. */
    get_token(provider, site, TOKEN_FORCE_REFRESH, &again);
    token_provider_free(provider);
    provider = new_provider(store);
    get_token(provider, site, 0, &first);
    assert_string_equal(first.access_token, again.access_token);
    assert_int_equal(token_requests(), 2);

    token_provider_free(provider);
    close_fixture(fixture);
}

static void sqlite_threads_one_request(void **state)
{
    struct store_fixture *fixture = open_fixture(STORE_SQLITE);
    struct token_provider *provider = new_provider(fixture->st);

    threads_share_one_request(state, provider);
    token_provider_free(provider);
    close_fixture(fixture);
}

/* Stores a legacy refresh token for site, got from an authorization code
 * the way the legacy install flow does. */
static char *legacy_refresh_token(const char *site)
{
    char path[256];
    char body[512];
    json_t *code;
    json_t *tokens;
    char *refresh;

    snprintf(path, sizeof(path), "/__sandbox/sites/%s/auth-code", site);
    code = wix_env_request(&env, "POST", path, NULL, 200);
    snprintf(body, sizeof(body),
             "{\"grant_type\": \"authorization_code\", \"client_id\": \"%s\","
             " \"client_secret\": \"%s\", \"code\": \"%s\"}",
             WIX_ENV_APP_ID, WIX_ENV_APP_SECRET,
             json_string_value(json_object_get(code, "code")));
    tokens = wix_env_request(&env, "POST", "/wix/oauth/access", body, 200);
    refresh =
        strdup(json_string_value(json_object_get(tokens, "refresh_token")));
    json_decref(tokens);
    json_decref(code);
    return refresh;
}

static void legacy_site_uses_refresh_token(void **state)
{
    const char *site = *state;
    struct store_fixture *fixture = open_fixture(STORE_SQLITE);
    struct store *store = fixture->st;
    struct token_provider *provider = new_provider(store);
    char *refresh = legacy_refresh_token(site);
    struct store_tx *tx;
    struct token first;
    struct token again;
    struct error err;
    char *stored = NULL;

    tx = store_begin(store, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_secret_put(tx, site, TOKEN_REFRESH_SECRET, refresh, &err), 0);
    assert_int_equal(store_commit(tx, &err), 0);
    wix_env_clear_log(&env);

    get_token(provider, site, 0, &first);
    assert_int_equal(wix_env_count(&env, "POST", LEGACY_PATH, 200), 1);
    assert_int_equal(token_requests(), 0);
    /* Legacy responses carry no expires_in: tokens live 5 minutes, and a
     * quarter of that is the margin. */
    assert_int_equal(first.expires_ms - first.obtained_ms, 5 * 60 * 1000);

    wix_env_advance(&env, 3 * 60);
    get_token(provider, site, 0, &again);
    assert_string_equal(again.access_token, first.access_token);
    wix_env_advance(&env, 46);
    get_token(provider, site, 0, &again);
    assert_string_not_equal(again.access_token, first.access_token);
    assert_int_equal(wix_env_count(&env, "POST", LEGACY_PATH, 200), 2);

    /* The refresh token is still stored, sealed. */
    tx = store_begin_read(store, &err);
    assert_int_equal(
        store_secret_get(tx, site, TOKEN_REFRESH_SECRET, &stored, &err), 1);
    store_rollback(tx);
    assert_string_equal(stored, refresh);

    free(stored);
    free(refresh);
    token_provider_free(provider);
    close_fixture(fixture);
}

/* Wix documents no rotation of legacy refresh tokens, but a changed one
 * must replace the stored one, or the site is lost at the next refresh. */
static void rotated_refresh_token_stored(void **state)
{
    const char *site = *state;
    struct store_fixture *fixture = open_fixture(STORE_SQLITE);
    struct token_provider *provider = new_provider(fixture->st);
    char *refresh = legacy_refresh_token(site);
    struct store_tx *tx;
    struct token token;
    struct error err;
    char *stored = NULL;

    tx = store_begin(fixture->st, &err);
    assert_non_null(tx);
    assert_int_equal(
        store_secret_put(tx, site, TOKEN_REFRESH_SECRET, refresh, &err), 0);
    assert_int_equal(store_commit(tx, &err), 0);

    /* The sandbox answers this once with a new refresh token. */
    json_decref(wix_env_request(
        &env, "POST", "/__sandbox/faults",
        "{\"endpoint\": \"POST " LEGACY_PATH "\", \"mode\": \"status\", "
        "\"status\": 200, \"count\": 1, \"body\": {\"access_token\": "
        "\"legacy-access-token-from-the-fault\", \"refresh_token\": "
        "\"OAUTH2.rotated-refresh-token\"}}",
        201));
    get_token(provider, site, 0, &token);
    assert_string_equal(token.access_token,
                        "legacy-access-token-from-the-fault");

    tx = store_begin_read(fixture->st, &err);
    assert_int_equal(
        store_secret_get(tx, site, TOKEN_REFRESH_SECRET, &stored, &err), 1);
    store_rollback(tx);
    assert_string_equal(stored, "OAUTH2.rotated-refresh-token");

    free(stored);
    free(refresh);
    token_provider_free(provider);
    close_fixture(fixture);
}

/* ------------------------------------------------------------------ */
/* Errors of the token endpoint                                        */
/* ------------------------------------------------------------------ */

static void wrong_secret_is_unauthorized(void **state)
{
    const char *site = *state;
    struct config *cfg = config_new_empty();
    struct token_provider *provider;
    struct token token;
    struct error err;

    config_set(cfg, "SITESMITH_WIX_APP_ID", WIX_ENV_APP_ID);
    config_set(cfg, "SITESMITH_WIX_APP_SECRET", "not-the-secret-at-all");
    config_set(cfg, "SITESMITH_WIX_API_URL", env.wix_url);
    provider = token_provider_new(cfg, NULL, &err);
    assert_non_null(provider);

    assert_int_equal(token_get(provider, site, 0, &token, &err), -1);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_string_equal(err.code, "token_rejected");
    assert_int_equal(err.http_status, 401);
    assert_non_null(strstr(err.message, site));
    assert_non_null(strstr(err.message, "SITESMITH_WIX_APP_SECRET"));
    assert_string_equal(token.access_token, "");
    token_provider_free(provider);
    config_free(cfg);
}

static void unknown_site_is_unauthorized(void **state)
{
    struct token_provider *provider = new_provider(NULL);
    struct token token;
    struct error err;

    (void)state;
    assert_int_equal(token_get(provider, "no-such-instance", 0, &token, &err),
                     -1);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_int_equal(err.http_status, 400);
    assert_true(err.request_id[0] != '\0');
    token_provider_free(provider);
}

static void server_error_is_retryable(void **state)
{
    const char *site = *state;
    struct token_provider *provider = new_provider(NULL);
    struct token token;
    struct error err;

    wix_env_fault(&env, "POST " TOKEN_PATH, 503, 1);
    assert_int_equal(token_get(provider, site, 0, &token, &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_int_equal(err.http_status, 503);

    /* The failure is not cached: the next call succeeds. */
    get_token(provider, site, 0, &token);
    assert_true(token.access_token[0] != '\0');
    token_provider_free(provider);
}

static void invalid_input_is_rejected(void **state)
{
    struct token_provider *provider = new_provider(NULL);
    struct config *cfg = config_new_empty();
    struct token token;
    struct error err;

    (void)state;
    assert_int_equal(token_get(provider, "", 0, &token, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(token_get(provider, "a b", 0, &token, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(token_requests(), 0);

    /* A provider without app credentials can't be made. */
    assert_null(token_provider_new(cfg, NULL, &err));
    assert_non_null(strstr(err.message, "SITESMITH_WIX_APP_ID"));
    config_set(cfg, "SITESMITH_WIX_APP_ID", "x");
    assert_null(token_provider_new(cfg, NULL, &err));
    assert_non_null(strstr(err.message, "SITESMITH_WIX_APP_SECRET"));
    config_free(cfg);
    token_provider_free(provider);
}

/* ------------------------------------------------------------------ */
/* PostgreSQL: many processes                                          */
/* ------------------------------------------------------------------ */

/*
 * One process of the PostgreSQL test: argv is "--child STORE_URL KEY_HEX
 * WIX_URL SITE". Prints "ready", waits for a line on stdin, gets a token
 * and prints it.
 */
static int child_main(char **argv)
{
    struct config *cfg = config_new_empty();
    struct token_provider *provider;
    struct store *store;
    unsigned char key[CRYPTO_KEY_BYTES];
    struct token token;
    struct error err;
    char line[16];

    http_client_global_init();
    config_set(cfg, "SITESMITH_WIX_APP_ID", WIX_ENV_APP_ID);
    config_set(cfg, "SITESMITH_WIX_APP_SECRET", WIX_ENV_APP_SECRET);
    config_set(cfg, "SITESMITH_WIX_API_URL", argv[4]);
    store = store_open(argv[2], &err);
    if (!store || crypto_parse_key(argv[3], key, &err) < 0) {
        fprintf(stderr, "child: %s\n", err.message);
        return 2;
    }
    store_set_secret_key(store, key);
    provider = token_provider_new(cfg, store, &err);
    if (!provider)
        return 3;

    printf("ready\n");
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin))
        return 4;
    if (token_get(provider, argv[5], 0, &token, &err) < 0) {
        fprintf(stderr, "child: %s\n", err.message);
        return 5;
    }
    printf("%s\n", token.access_token);
    fflush(stdout);
    token_provider_free(provider);
    store_close(store);
    config_free(cfg);
    return 0;
}

struct child {
    pid_t pid;
    FILE *to;
    FILE *from;
};

static void spawn_child(struct child *child,
                        const struct store_fixture *fixture, const char *site)
{
    char key[2 * CRYPTO_KEY_BYTES + 1];
    int in[2];
    int out[2];

    for (int i = 0; i < CRYPTO_KEY_BYTES; i++)
        snprintf(key + 2 * i, 3, "%02x", fixture->key[i]);
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    child->pid = fork();
    assert_true(child->pid >= 0);
    if (child->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/proc/self/exe", "test_token", "--child", fixture->url, key,
              env.wix_url, site, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    child->to = fdopen(in[1], "w");
    child->from = fdopen(out[0], "r");
}

static void processes_share_one_request(void **state)
{
    const char *site = *state;
    struct child children[PROCESSES];
    char tokens[PROCESSES][TOKEN_MAX_LEN];
    struct store_fixture *fixture;

    if (!store_fixture_have_postgres()) {
        store_fixture_announce();
        skip();
        return;
    }
    fixture = open_fixture(STORE_POSTGRES);
    for (int i = 0; i < PROCESSES; i++)
        spawn_child(&children[i], fixture, site);
    for (int i = 0; i < PROCESSES; i++) {
        char line[16];

        assert_non_null(fgets(line, sizeof(line), children[i].from));
        assert_string_equal(line, "ready\n");
    }

    /* All four ask at once, each with its own provider and connections. */
    for (int i = 0; i < PROCESSES; i++) {
        fputs("go\n", children[i].to);
        fflush(children[i].to);
    }
    for (int i = 0; i < PROCESSES; i++) {
        int status;

        assert_non_null(fgets(tokens[i], sizeof(tokens[i]), children[i].from));
        assert_int_equal(waitpid(children[i].pid, &status, 0), children[i].pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        fclose(children[i].to);
        fclose(children[i].from);
    }
    for (int i = 1; i < PROCESSES; i++)
        assert_string_equal(tokens[i], tokens[0]);
    assert_int_equal(token_requests(), 1);
    close_fixture(fixture);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(token_cached_until_margin, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(lifetime_from_expires_in, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(forced_refresh_gets_new_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(hundred_threads_one_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sqlite_cache_survives_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sqlite_threads_one_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(legacy_site_uses_refresh_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rotated_refresh_token_stored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(wrong_secret_is_unauthorized, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unknown_site_is_unauthorized, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(server_error_is_retryable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(invalid_input_is_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(processes_share_one_request, setup,
                                        teardown),
    };

    if (argc == 6 && strcmp(argv[1], "--child") == 0)
        return child_main(argv);
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
