/* token_sched.c - the pure scheduling maths of token.c: timing derived
 * from a value's lifetime, the refresh moment, backoff and the retry
 * window before expiry. No clock, no state. */
#include "token_sched.h"

#define BACKOFF_BASE_MS   1000
#define BACKOFF_CAP_MS    60000
#define BACKOFF_PERM_MS   (10 * 60000)
#define SHORT_LIFETIME_MS (10 * 60 * 1000)
#define MIN_REMAINING_MS  (60 * 1000)

void
token_timing_derive(const struct token_def *def, int64_t lifetime_ms,
                    struct token_timing *out)
{
	int64_t life = lifetime_ms > 0 ? lifetime_ms : 0;

	out->refresh_before_ms =
	        def->refresh_before_ms >= 0 ? def->refresh_before_ms : life / 3;
	out->jitter_ms = def->jitter_ms >= 0 ? def->jitter_ms : life / 10;
	if (def->min_remaining_ms >= 0)
		out->min_remaining_ms = def->min_remaining_ms;
	else
		out->min_remaining_ms =
		        life < SHORT_LIFETIME_MS ? life / 10 : MIN_REMAINING_MS;

	if (out->refresh_before_ms < out->min_remaining_ms)
		out->refresh_before_ms = out->min_remaining_ms;
	if (out->refresh_before_ms >= life)
		out->refresh_before_ms = life / 2;
	if (out->jitter_ms > (life - out->refresh_before_ms) / 2)
		out->jitter_ms = (life - out->refresh_before_ms) / 2;
}

int64_t
token_refresh_delay(int64_t now_ms, int64_t expires_at_ms,
                    const struct token_timing *timing, uint32_t rnd32)
{
	int64_t jitter = (int64_t)(((uint64_t)timing->jitter_ms * rnd32) >> 32);
	int64_t at = expires_at_ms - timing->refresh_before_ms - jitter;

	return at > now_ms ? at - now_ms : 0;
}

static int64_t
backoff_ceiling(unsigned attempt)
{
	int64_t ceiling = BACKOFF_CAP_MS;

	/* 2^6 s already passes the cap: no shift can overflow. */
	if (attempt < 6)
		ceiling = (int64_t)BACKOFF_BASE_MS << attempt;
	return ceiling < BACKOFF_CAP_MS ? ceiling : BACKOFF_CAP_MS;
}

/* Uniform in [0, window], both ends included. */
static int64_t
full_jitter(int64_t window, uint32_t rnd32)
{
	return (int64_t)(((uint64_t)(window + 1) * rnd32) >> 32);
}

int64_t
token_backoff_delay(unsigned attempt, int64_t retry_after_ms, uint32_t rnd32)
{
	int64_t delay = full_jitter(backoff_ceiling(attempt), rnd32);

	return retry_after_ms > delay ? retry_after_ms : delay;
}

int64_t
token_retry_delay(unsigned attempt, int64_t retry_after_ms, int64_t left_ms,
                  int64_t min_window_ms, uint32_t rnd32)
{
	int64_t ceiling = backoff_ceiling(attempt), window = ceiling, delay;

	/* A retry drawn past the moment the value stops being served would
	 * skip the last chances to replace it: the window ends there. But
	 * it never shrinks below min_window, so the retries of instances
	 * sharing that moment do not pile up just before it. */
	if (left_ms > 0 && window > left_ms) {
		window = left_ms;
		if (window < min_window_ms)
			window = min_window_ms < ceiling ? min_window_ms : ceiling;
	}
	delay = full_jitter(window, rnd32);
	return retry_after_ms > delay ? retry_after_ms : delay;
}

int64_t
token_backoff_permanent(unsigned attempt, int64_t retry_after_ms, uint32_t rnd32)
{
	int64_t ceiling = BACKOFF_PERM_MS, delay;

	if (attempt < 4)
		ceiling = (int64_t)BACKOFF_CAP_MS << attempt;
	if (ceiling > BACKOFF_PERM_MS)
		ceiling = BACKOFF_PERM_MS;
	delay = ceiling / 2 + (int64_t)(((uint64_t)(ceiling / 2 + 1) * rnd32) >> 32);
	return retry_after_ms > delay ? retry_after_ms : delay;
}
