/*
 * The expiry of unchosen ideas (job "blog.expire"). A generation holds its
 * whole reservation while its ideas wait for the owner's choice, so a
 * choice not made within SITESMITH_BLOG_SELECTION_TTL cancels it and
 * releases the credits. The job is queued with the ideas of each round,
 * due when they expire. It does nothing when the owner chose an idea,
 * asked for new ones or cancelled meanwhile.
 *
 * NOTE: a generation that reached awaiting_selection before this job
 * existed has none queued, so it waits until the owner acts on it.
 */
#include "pipelines/blog_internal.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define HOUR_MS (3600LL * 1000)
#define MINUTE_MS (60LL * 1000)

int blog_expire_schedule(struct store_tx *tx, const struct blog_job *bj,
                         int round, struct error *err)
{
    return blog_enqueue_at(tx, bj->gen.instance_id, bj->gen.id, BLOG_JOB_EXPIRE,
                           round,
                           clock_now_ms() + bj->settings.selection_ttl_ms, err);
}

/* Writes a duration as the owner reads it: "24 hours", "90 minutes" or
 * "45 seconds" (whole seconds, rounded up). */
static void describe_duration(int64_t ms, char *out, size_t size)
{
    long long count;
    const char *unit;

    if (ms % HOUR_MS == 0) {
        count = ms / HOUR_MS;
        unit = "hour";
    } else if (ms % MINUTE_MS == 0) {
        count = ms / MINUTE_MS;
        unit = "minute";
    } else {
        count = (ms + 999) / 1000;
        unit = "second";
    }
    snprintf(out, size, "%lld %s%s", count, unit, count == 1 ? "" : "s");
}

/* Reads the round of the ideas that generation id shows now, in tx. */
static int shown_round(struct store_tx *tx, const char *id, json_int_t *round,
                       struct error *err)
{
    char *text = NULL;
    json_t *ideas;

    *round = 0;
    if (store_generation_get_checkpoint(tx, id, "ideas", &text, err) < 0)
        return -1;
    ideas = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    *round = json_integer_value(json_object_get(ideas, "round"));
    json_decref(ideas);
    return 0;
}

/* Nothing to call outside: the work is all in the transaction. */
static int expire_work(struct blog_job *bj, json_t **output, struct error *err)
{
    (void)bj;
    *output = json_object();
    return *output ? 0 : error_set(err, ERR_PERMANENT, "out of memory");
}

static int expire_advance(struct blog_job *bj, struct store_tx *tx,
                          const json_t *output, struct error *err)
{
    json_int_t round =
        json_integer_value(json_object_get(bj->payload, "round"));
    json_int_t shown;
    struct error expired;
    int64_t cancelled = 0;
    char ttl[32];

    (void)output;
    if (shown_round(tx, bj->gen.id, &shown, err) != 0)
        return -1;
    if (shown != round) {
        log_info("blog",
                 "ideas expiry skipped: newer ideas are shown "
                 "instance=%s generation=%s job=%" PRId64 " round=%d shown=%d",
                 bj->gen.instance_id, bj->gen.id, bj->job->id, (int)round,
                 (int)shown);
        return 0;
    }

    describe_duration(bj->settings.selection_ttl_ms, ttl, sizeof(ttl));
    error_set(&expired, ERR_PERMANENT,
              "These ideas expired unused: none was chosen within %s, so the "
              "generation was cancelled and its %" PRId64 " reserved credits "
              "were released. No credits were charged. Start a new "
              "generation when you are ready to write a post.",
              ttl, bj->gen.credits_reserved);
    if (blog_set_state(tx, bj->gen.id, BLOG_AWAITING_SELECTION, BLOG_CANCELLED,
                       err) != 0 ||
        store_generation_set_error(tx, bj->gen.id, &expired, err) != 0 ||
        queue_cancel_generation(tx, bj->gen.id, &cancelled, err) != 0 ||
        store_credits_release(tx, bj->gen.id, err) < 0)
        return -1;
    log_info("blog",
             "ideas expired, generation cancelled instance=%s generation=%s "
             "job=%" PRId64 " round=%d released=%" PRId64,
             bj->gen.instance_id, bj->gen.id, bj->job->id, (int)round,
             bj->gen.credits_reserved);
    return 0;
}

const struct blog_step blog_expire_step = {
    .kind = BLOG_JOB_EXPIRE,
    .state = BLOG_AWAITING_SELECTION,
    .work = expire_work,
    .advance = expire_advance,
};
