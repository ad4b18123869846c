/*
 * Fault rules and request counts on a sitesmith-sandbox started with
 * ai_sandbox_start(), for the tests of the OpenAI and Replicate clients.
 * Each function fails the running cmocka test on an error.
 */
#ifndef SITESMITH_TEST_AI_FAULTS_H
#define SITESMITH_TEST_AI_FAULTS_H

#include "ai_sandbox.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Adds a fault rule: spec_json is a POST /__sandbox/faults body, e.g.
 * {"endpoint":"POST /openai/v1/chat/completions","status":429,"count":1}.
 */
void ai_faults_add(struct ai_sandbox *sandbox, const char *spec_json);

/* As ai_faults_add(), with spec_json formatted from fmt as by printf. */
void ai_faults_addf(struct ai_sandbox *sandbox, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Counts the calls in the sandbox's request log with this method whose
 * path starts with path_prefix and, when status is not -1, whose final
 * status is status (0 for a dropped connection).
 */
int ai_faults_count(struct ai_sandbox *sandbox, const char *method,
                    const char *path_prefix, int status);

/*
 * Copies the sandbox times (ms) of the matching calls, oldest first, into
 * times (at most max of them) and returns how many it copied.
 */
size_t ai_faults_times(struct ai_sandbox *sandbox, const char *method,
                       const char *path_prefix, int64_t *times, size_t max);

#endif
