/* token_sched.h - pure scheduling maths for token.c, unit tested. */
#ifndef TOKEND_TOKEN_SCHED_H
#define TOKEND_TOKEN_SCHED_H

#include <stdint.h>

#include "config.h"

struct token_timing {
	int64_t refresh_before_ms;
	int64_t jitter_ms;
	int64_t min_remaining_ms;
};

/* Fills timing from def, deriving unset values from the value's lifetime:
 * refresh_before = lifetime/3, jitter = lifetime/10, min_remaining = 60 s
 * (lifetime/10 for lifetimes under 10 minutes). Then makes them fit the
 * lifetime: refresh_before is at least min_remaining (a value is renewed
 * before it stops being served) and, if it reaches the lifetime, half of
 * it; jitter is at most half of what remains before refresh_before. */
void token_timing_derive(const struct token_def *def, int64_t lifetime_ms,
                         struct token_timing *out);
/* Delay until the next refresh: expires_at - refresh_before - jitter*rnd,
 * where rnd in [0,1) comes from rnd32/2^32; never negative. */
int64_t token_refresh_delay(int64_t now_ms, int64_t expires_at_ms,
                            const struct token_timing *timing, uint32_t rnd32);
/* Exponential backoff with full jitter: uniform in [0, min(cap, base*2^attempt)],
 * base 1 s, cap 60 s; at least retry_after_ms when the peer asked. */
int64_t token_backoff_delay(unsigned attempt, int64_t retry_after_ms, uint32_t rnd32);
/* The same for a permanent failure: ceiling min(10 min, 60 s*2^attempt),
 * uniform in [ceiling/2, ceiling], so a refused configuration is asked
 * about a few times an hour rather than every minute. */
int64_t token_backoff_permanent(unsigned attempt, int64_t retry_after_ms, uint32_t rnd32);
/* The retry after a failed fetch while a value is still served for
 * left_ms more. Full jitter over a window: the backoff ceiling, cut to
 * end before the value stops being served, but never narrower than
 * min_window_ms (or the ceiling if smaller). A fleet that shares one
 * deadline thus keeps retrying at a steady rate up to it instead of
 * converging on it (halving what is left after each failure put ~80 %
 * of a fleet's retries into the last second). left_ms <= 0 (nothing
 * served): plain backoff. At least retry_after_ms. */
int64_t token_retry_delay(unsigned attempt, int64_t retry_after_ms, int64_t left_ms,
                          int64_t min_window_ms, uint32_t rnd32);

#endif
