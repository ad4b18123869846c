/*
 * Waits between retries, shared by the OpenAI and Replicate clients.
 */
#ifndef SITESMITH_AI_RETRY_H
#define SITESMITH_AI_RETRY_H

#include <stdint.h>

/*
 * Returns min(base_ms * 2^retries, max_ms) less up to 25% random jitter,
 * the official OpenAI SDKs' formula (with base 500 ms and max 8 s).
 * retries counts the retries made so far. Any thread may call this.
 */
int64_t ai_backoff_ms(int retries, int64_t base_ms, int64_t max_ms);

#endif
