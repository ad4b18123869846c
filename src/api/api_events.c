/*
 * GET /api/events: Server-Sent Events that tell the dashboard page when
 * one of its site's generations (blog posts, product jobs and items, image
 * jobs and items) or its credit balance changed. The page then fetches
 * what changed instead of polling every resource.
 *
 * The stream polls the store about once a second, and sooner when a
 * worker of this process commits a change (store wake-ups). Events:
 *
 *   event: ready       data: {"poll_ms"}            once, first
 *   event: generation  data: {"id", "kind", "parent_id", "state",
 *                             "updated_at"}         one per change
 *   event: credits     data: {"credits", "reserved"} when the balance moved
 *   event: resync      data: {"reason"}             too many changes at
 *                                                   once: fetch everything
 *
 * Each batch carries "id: <ms>", the time up to which changes were sent;
 * EventSource sends it back as Last-Event-ID when it reconnects, and the
 * new stream goes on from there. A stream ends after STREAM_MAX_MS and the
 * browser reconnects, so the instance is verified again at least that
 * often.
 */
#include "api/api.h"

#include "core/clock.h"
#include "core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* How often the store is read without a wake-up, and at most with. */
#define POLL_MS 1000
#define MIN_POLL_GAP_MS 250
/*
 * The longest the callback blocks. The HTTP server calls it on a pool
 * thread that also serves other connections, and that thread is busy
 * until the callback returns bytes. So every tick ends with at least a
 * one-line comment, which bounds the delay other connections see.
 * NOTE: with 16 streams open on serve's 8 threads, /healthz took 0.2 s
 * (median) instead of 3 ms; suspending idle streams in the server would
 * remove that delay.
 */
#define TICK_MS 50
/* Lifetime of one stream before the browser reconnects. */
#define STREAM_MAX_MS (5 * 60 * 1000)
/*
 * Changes are read again this far back, because a transaction that
 * stamped its rows earlier may commit after a later one was already seen.
 * Rows sent in this window are remembered so they are not sent twice.
 */
#define OVERLAP_MS 2000
/* Changes read per poll; more than this sends one resync instead. */
#define CHANGES_MAX 200
/*
 * Rows remembered from the overlap window; more also means resync. Polls
 * at least MIN_POLL_GAP_MS apart send at most CHANGES_MAX rows each, so
 * the window contains at most 8 x 200 of them.
 */
#define SENT_MAX 2048
/* The oldest Last-Event-ID a reconnecting browser may resume from. */
#define RESUME_MAX_MS (10 * 60 * 1000)

struct sent_change {
    char id[STORE_UUID_SIZE];
    int64_t updated_at_ms;
};

struct event_stream {
    struct store *store;
    char instance_id[STORE_ID_MAX];
    int started;
    int64_t watermark_ms; /* changes stamped up to here were sent */
    int64_t last_poll_ms; /* monotonic */
    int64_t next_poll_ms; /* monotonic */
    int64_t ends_ms;      /* monotonic */
    uint64_t wakeups;     /* store_wakeup_count() at the last poll */
    struct store_credits credits;
    int credits_known;
    int poll_failed; /* the last poll failed (logged once per run) */
    struct sent_change sent[SENT_MAX];
    size_t sent_count;
};

static void free_stream(void *ctx)
{
    free(ctx);
}

/* Appends one event with a compact JSON data line; takes data. */
static void append_event(struct buf *out, const char *name, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT);

    if (text)
        buf_printf(out, "event: %s\ndata: %s\n\n", name, text);
    free(text);
    json_decref(data);
}

static int was_sent(const struct event_stream *stream,
                    const struct store_generation_change *row)
{
    for (size_t i = 0; i < stream->sent_count; i++)
        if (stream->sent[i].updated_at_ms == row->updated_at_ms &&
            strcmp(stream->sent[i].id, row->id) == 0)
            return 1;
    return 0;
}

/* Forgets sent rows that fell out of the overlap window. */
static void prune_sent(struct event_stream *stream)
{
    size_t kept = 0;

    for (size_t i = 0; i < stream->sent_count; i++)
        if (stream->sent[i].updated_at_ms > stream->watermark_ms - OVERLAP_MS)
            stream->sent[kept++] = stream->sent[i];
    stream->sent_count = kept;
}

static json_t *change_json(const struct store_generation_change *row)
{
    char time[32];

    clock_format_iso(row->updated_at_ms, time);
    return json_pack("{s:s, s:s, s:o, s:s, s:s}", "id", row->id, "kind",
                     row->kind, "parent_id",
                     row->parent_id[0] ? json_string(row->parent_id)
                                       : json_null(),
                     "state", row->state, "updated_at", time);
}

/* Starts over from now: the page fetches everything it shows. */
static void send_resync(struct event_stream *stream, struct buf *out,
                        const char *reason)
{
    stream->watermark_ms = clock_now_ms();
    stream->sent_count = 0;
    append_event(out, "resync", json_pack("{s:s}", "reason", reason));
}

static void send_changes(struct event_stream *stream, struct buf *out,
                         const struct store_generation_change *rows,
                         size_t count)
{
    if (count > CHANGES_MAX) {
        send_resync(stream, out, "more changes than one update carries");
        return;
    }
    for (size_t i = 0; i < count; i++) {
        if (was_sent(stream, &rows[i]))
            continue;
        if (stream->sent_count == SENT_MAX) {
            send_resync(stream, out, "more changes than one update carries");
            return;
        }
        append_event(out, "generation", change_json(&rows[i]));
        memcpy(stream->sent[stream->sent_count].id, rows[i].id,
               STORE_UUID_SIZE);
        stream->sent[stream->sent_count++].updated_at_ms =
            rows[i].updated_at_ms;
        if (rows[i].updated_at_ms > stream->watermark_ms)
            stream->watermark_ms = rows[i].updated_at_ms;
    }
    prune_sent(stream);
}

static void send_credits(struct event_stream *stream, struct buf *out,
                         const struct store_credits *credits)
{
    if (stream->credits_known &&
        stream->credits.available == credits->available &&
        stream->credits.reserved == credits->reserved)
        return;
    stream->credits = *credits;
    stream->credits_known = 1;
    append_event(out, "credits",
                 json_pack("{s:I, s:I}", "credits",
                           (json_int_t)credits->available, "reserved",
                           (json_int_t)credits->reserved));
}

/* Reads what changed since the watermark and appends it as events. */
static void poll_store(struct event_stream *stream, struct buf *out)
{
    struct store_generation_change *rows = NULL;
    struct store_credits credits;
    size_t count = 0;
    struct error err;
    struct store_tx *tx;
    int rc = -1;

    error_clear(&err);
    tx = store_begin_read(stream->store, &err);
    if (tx &&
        store_generation_changes(tx, stream->instance_id,
                                 stream->watermark_ms - OVERLAP_MS,
                                 CHANGES_MAX + 1, &rows, &count, &err) == 0 &&
        store_credits_get(tx, stream->instance_id, &credits, &err) == 0)
        rc = 0;
    store_rollback(tx);
    if (rc != 0) {
        if (!stream->poll_failed)
            log_warn("events", "poll failed instance=%s error=\"%s\"",
                     stream->instance_id, err.message);
        stream->poll_failed = 1;
        free(rows);
        return;
    }
    stream->poll_failed = 0;
    send_changes(stream, out, rows, count);
    send_credits(stream, out, &credits);
    free(rows);
    if (out->len > 0)
        buf_printf(out, "id: %" PRId64 "\n\n", stream->watermark_ms);
}

/*
 * Waits up to TICK_MS for the next poll, which comes POLL_MS after the
 * last one, or MIN_POLL_GAP_MS after it when a wake-up came. Returns 1
 * when it is time to poll.
 */
static int wait_for_poll(struct event_stream *stream)
{
    int64_t wait_ms = stream->next_poll_ms - clock_monotonic_ms();

    if (wait_ms > TICK_MS)
        wait_ms = TICK_MS;
    if (wait_ms > 0 &&
        store_wait_wakeup(stream->store, stream->wakeups, wait_ms)) {
        stream->wakeups = store_wakeup_count(stream->store);
        if (stream->next_poll_ms > stream->last_poll_ms + MIN_POLL_GAP_MS)
            stream->next_poll_ms = stream->last_poll_ms + MIN_POLL_GAP_MS;
    }
    return clock_monotonic_ms() >= stream->next_poll_ms;
}

/* The http_stream_fn: see the file comment and TICK_MS. */
static int stream_next(void *ctx, struct buf *out)
{
    struct event_stream *stream = ctx;

    if (!stream->started) {
        stream->started = 1;
        buf_printf(out, "retry: 2000\n\n");
        append_event(out, "ready", json_pack("{s:i}", "poll_ms", POLL_MS));
        return 0;
    }
    if (clock_monotonic_ms() >= stream->ends_ms) {
        buf_printf(out, "id: %" PRId64 "\n\n", stream->watermark_ms);
        return 1;
    }
    if (wait_for_poll(stream)) {
        stream->last_poll_ms = clock_monotonic_ms();
        stream->next_poll_ms = stream->last_poll_ms + POLL_MS;
        poll_store(stream, out);
    }
    if (out->len == 0)
        buf_printf(out, ":\n");
    return 0;
}

/* The Last-Event-ID to resume from, when it is recent; else now. */
static int64_t resume_point(const struct http_request *req)
{
    const char *text = http_request_header(req, "Last-Event-ID");
    int64_t now = clock_now_ms();
    char *end;
    long long value;

    if (!text || !*text)
        return now;
    errno = 0;
    value = strtoll(text, &end, 10);
    if (errno || *end || value < now - RESUME_MAX_MS || value > now)
        return now;
    return value;
}

static void handle_events(struct api_call *call)
{
    struct event_stream *stream = calloc(1, sizeof(*stream));

    if (!stream) {
        http_response_error(call->resp, 503, "unavailable",
                            "out of memory; try again in a minute");
        return;
    }
    stream->store = call->app->store;
    snprintf(stream->instance_id, sizeof(stream->instance_id), "%s",
             call->instance_id);
    stream->watermark_ms = resume_point(call->req);
    stream->wakeups = store_wakeup_count(stream->store);
    stream->ends_ms = clock_monotonic_ms() + STREAM_MAX_MS;

    call->resp->status = 200;
    snprintf(call->resp->content_type, sizeof(call->resp->content_type),
             "text/event-stream; charset=utf-8");
    http_response_header(call->resp, "X-Accel-Buffering", "no");
    call->resp->stream = stream_next;
    call->resp->stream_ctx = stream;
    call->resp->stream_free = free_stream;
}

int api_events_routes(struct http_server *server, struct app *app,
                      struct error *err)
{
    if (api_route_query_instance(server, app, "/api/events", handle_events))
        return error_set(err, ERR_PERMANENT, "failed to add the events route");
    return 0;
}
