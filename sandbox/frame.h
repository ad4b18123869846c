/*
 * Internals of the sandbox frame shared by sandbox.c (routes, request log,
 * state file), faults.c (fault rules) and control.c (the /__sandbox API).
 * Not for the emulated services: they use sandbox.h.
 */
#ifndef SITESMITH_SANDBOX_FRAME_H
#define SITESMITH_SANDBOX_FRAME_H

#include "sandbox.h"

enum fault_mode {
    FAULT_STATUS,    /* answer with an error status instead of the handler */
    FAULT_DELAY,     /* wait delay_ms, then run the handler */
    FAULT_DROP,      /* close the connection without an answer */
    FAULT_TRUNCATE,  /* send the headers and half the body, then close */
    FAULT_MALFORMED, /* send a body that is not valid JSON */
};

/* What one call takes from a matching fault rule. */
struct fault_hit {
    int64_t fault_id;
    enum fault_mode mode;
    int status;
    int64_t delay_ms;
    int64_t retry_after_s; /* 0: no Retry-After header */
    int skip_handler;      /* drop/truncate/malformed before any effect */
    json_t *body;          /* replaces the status body when set; owned */
};

/*
 * Adds a rule from a POST /__sandbox/faults body. Returns the rule as JSON
 * (new reference), or NULL with err set (ERR_INVALID) naming the field.
 * Takes the lock.
 */
json_t *faults_add(struct sandbox *sb, const json_t *spec, struct error *err);

/* All rules as a JSON array (new reference). Takes the lock. */
json_t *faults_list(struct sandbox *sb);

/* Removes one rule (returns 0, or -1 when there is none with that id) or
 * every rule. Take the lock. */
int faults_remove(struct sandbox *sb, int64_t id);
void faults_clear(struct sandbox *sb);

/*
 * Looks for the first rule matching "METHOD path" or "METHOD pattern" and
 * consumes one use of it. Returns 1 and fills hit (release with
 * fault_hit_release()), or 0 when no rule applies. Call with the lock held.
 */
int faults_take(struct sandbox *sb, const char *method, const char *path,
                const char *pattern, struct fault_hit *hit);

void fault_hit_release(struct fault_hit *hit);

/* The name of a mode as the control API spells it ("status", ...). */
const char *fault_mode_name(enum fault_mode mode);

/*
 * Applies a taken fault to a response that the handler has filled (or, for
 * a status fault or skip_handler, that it has not): the error body that the
 * emulated service sends for that status, the abort flags, or the garbled
 * body.
 */
void faults_apply(const struct fault_hit *hit, const char *path,
                  struct http_response *resp);

/* Frees every rule; for sandbox_free(). */
void faults_free(struct sandbox *sb);

#endif
