#include "ai/retry.h"

#include "core/crypto.h"

int64_t ai_backoff_ms(int retries, int64_t base_ms, int64_t max_ms)
{
    int64_t delay = base_ms;
    uint32_t jitter_permille = crypto_random_below(250);

    for (int i = 0; i < retries && delay < max_ms; i++)
        delay *= 2;
    if (delay > max_ms)
        delay = max_ms;
    return delay - delay * (int64_t)jitter_permille / 1000;
}
