/*
 * PostgreSQL LISTEN on a dedicated connection and thread. Each
 * notification bumps the store's wake-up counter; while the connection is
 * down, the thread reconnects every second and waiters fall back to
 * polling.
 */
#include "store/store_internal.h"

#include "core/log.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECONNECT_MS 1000

struct store_listener {
    pthread_t thread;
    pthread_mutex_t lock;
    char channels[STORE_MAX_CHANNELS][STORE_CHANNEL_MAX];
    int channel_count;
    int listened; /* channels LISTENed on the current connection */
    int stop;
    int pipe[2]; /* written to wake the thread (new channel, stop) */
};

static PGconn *listener_connect(struct store *st)
{
    PGconn *pg = PQconnectdb(st->url);

    if (PQstatus(pg) != CONNECTION_OK) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* LISTENs on the channels added since the last call; -1 when it failed. */
static int listen_new_channels(struct store_listener *l, PGconn *pg)
{
    char sql[STORE_CHANNEL_MAX + 16];
    int rc = 0;

    pthread_mutex_lock(&l->lock);
    while (l->listened < l->channel_count && rc == 0) {
        PGresult *res;

        snprintf(sql, sizeof(sql), "LISTEN %s", l->channels[l->listened]);
        res = PQexec(pg, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = -1;
        else
            l->listened++;
        PQclear(res);
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

static int drain_notifications(struct store *st, PGconn *pg)
{
    PGnotify *notify;
    int received = 0;

    if (!PQconsumeInput(pg))
        return -1;
    while ((notify = PQnotifies(pg)) != NULL) {
        received = 1;
        PQfreemem(notify);
    }
    if (received)
        store_wakeup_bump(st);
    return 0;
}

static int listener_stopping(struct store_listener *l)
{
    int stop;

    pthread_mutex_lock(&l->lock);
    stop = l->stop;
    pthread_mutex_unlock(&l->lock);
    return stop;
}

/* Serves one connection until it fails or the store closes. */
static void listen_on(struct store *st, struct store_listener *l, PGconn *pg)
{
    struct pollfd fds[2];
    char drain[64];
    int first = 1;

    fds[0].fd = PQsocket(pg);
    fds[0].events = POLLIN;
    fds[1].fd = l->pipe[0];
    fds[1].events = POLLIN;
    while (!listener_stopping(l)) {
        if (listen_new_channels(l, pg) != 0)
            return;

        /* Work may have arrived while no one listened. */
        if (first) {
            store_wakeup_bump(st);
            first = 0;
        }
        if (poll(fds, 2, RECONNECT_MS) < 0)
            continue;
        if (fds[1].revents & POLLIN) {
            if (read(l->pipe[0], drain, sizeof(drain)) < 0)
                continue;
        }
        if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) &&
            drain_notifications(st, pg) != 0)
            return;
    }
}

static void *listener_main(void *arg)
{
    struct store *st = arg;
    struct store_listener *l = st->listener;
    int failures = 0;

    while (!listener_stopping(l)) {
        PGconn *pg = listener_connect(st);

        if (pg) {
            if (failures > 0)
                log_info("store", "listener reconnected");
            failures = 0;
            pthread_mutex_lock(&l->lock);
            l->listened = 0;
            pthread_mutex_unlock(&l->lock);
            listen_on(st, l, pg);
            PQfinish(pg);
        }
        if (listener_stopping(l))
            break;
        if (failures++ == 0)
            log_warn("store", "listener connection lost; polling until it "
                              "comes back");
        struct pollfd fd = {.fd = l->pipe[0], .events = POLLIN};
        poll(&fd, 1, RECONNECT_MS);
    }
    return NULL;
}

static int listener_start(struct store *st, struct error *err)
{
    struct store_listener *l = calloc(1, sizeof(*l));

    if (!l)
        return error_set(err, ERR_PERMANENT, "out of memory");
    if (pipe(l->pipe) != 0) {
        free(l);
        return error_set(err, ERR_PERMANENT,
                         "cannot create a pipe for the listener");
    }
    pthread_mutex_init(&l->lock, NULL);
    st->listener = l;
    if (pthread_create(&l->thread, NULL, listener_main, st) != 0) {
        st->listener = NULL;
        close(l->pipe[0]);
        close(l->pipe[1]);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return error_set(err, ERR_PERMANENT,
                         "cannot start the listener thread");
    }
    return 0;
}

int store_listen(struct store *st, const char *channel, struct error *err)
{
    struct store_listener *l;
    int rc = 0;

    if (!store_channel_valid(channel))
        return error_set(err, ERR_INVALID,
                         "wake-up channel \"%s\" is invalid: use lower-case "
                         "letters, digits and _",
                         channel);
    if (st->backend != STORE_POSTGRES)
        return 0;

    pthread_mutex_lock(&st->lock);
    if (!st->listener)
        rc = listener_start(st, err);
    l = st->listener;
    pthread_mutex_unlock(&st->lock);
    if (rc != 0)
        return -1;

    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->channel_count; i++) {
        if (strcmp(l->channels[i], channel) == 0) {
            pthread_mutex_unlock(&l->lock);
            return 0;
        }
    }
    if (l->channel_count == STORE_MAX_CHANNELS) {
        pthread_mutex_unlock(&l->lock);
        return error_set(err, ERR_INVALID, "more than %d wake-up channels",
                         STORE_MAX_CHANNELS);
    }
    store_copy(l->channels[l->channel_count++], STORE_CHANNEL_MAX, channel);
    pthread_mutex_unlock(&l->lock);
    if (write(l->pipe[1], "c", 1) < 0)
        log_warn("store", "cannot wake the listener thread");
    return 0;
}

void store_listener_free(struct store *st)
{
    struct store_listener *l = st->listener;

    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_mutex_unlock(&l->lock);
    if (write(l->pipe[1], "s", 1) < 0)
        log_warn("store", "cannot wake the listener thread to stop it");
    pthread_join(l->thread, NULL);
    close(l->pipe[0]);
    close(l->pipe[1]);
    pthread_mutex_destroy(&l->lock);
    free(l);
    st->listener = NULL;
}
