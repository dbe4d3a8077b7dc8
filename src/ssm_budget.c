/* ssm_budget.c - the adaptive send budget (CUBIC over a token bucket). */
#include "ssm_budget.h"

#include <math.h>
#include <string.h>

/* The AWS SDKs' adaptive retry constants (smithy's ClientRateLimiter). */
#define BETA      0.7 /* keep 70% of the rate on a throttle */
#define SCALE     0.4 /* CUBIC's C: how fast the rate regrows */
#define SMOOTH    0.8 /* weight of the newest measurement */
#define BUCKET_S  0.5 /* measurement bucket */
#define MIN_BURST 1.0
/* A deviation from the SDKs, which never switch the bucket off: a daemon
 * calls SSM a few times per token lifetime, so its measured rate decays to
 * nothing and a bucket left on would hold a later burst at 0.5/s. After
 * this long without a throttle the budget is off again, until the next. */
#define OFF_AFTER_S 120.0

static double
secs(int64_t ms)
{
	return (double)ms / 1000.0;
}

void
ssm_budget_init(struct ssm_budget *b, int64_t now_ms)
{
	double t = secs(now_ms);

	memset(b, 0, sizeof(*b));
	b->fill_rate = SSM_BUDGET_MIN_RATE;
	b->max_capacity = MIN_BURST;
	b->last_refill_s = t;
	b->last_throttle_s = t;
	b->bucket_s = floor(t / BUCKET_S) * BUCKET_S;
}

static void
refill(struct ssm_budget *b, double t)
{
	if (t <= b->last_refill_s)
		return;
	b->capacity += (t - b->last_refill_s) * b->fill_rate;
	if (b->capacity > b->max_capacity)
		b->capacity = b->max_capacity;
	b->last_refill_s = t;
}

int64_t
ssm_budget_take(struct ssm_budget *b, int64_t now_ms)
{
	double wait_ms;

	if (!b->enabled)
		return 0;
	refill(b, secs(now_ms));
	/* The epsilon absorbs float error: a caller that waited the time we
	 * said must find its token. */
	if (b->capacity >= 1.0 - 1e-9) {
		b->capacity -= 1.0;
		return 0;
	}
	wait_ms = ceil((1.0 - b->capacity) / b->fill_rate * 1000.0);
	return wait_ms < 1.0 ? 1 : (int64_t)wait_ms;
}

/* Answers per second, over closed half-second buckets, smoothed. */
static void
measure(struct ssm_budget *b, double t)
{
	double bucket = floor(t / BUCKET_S) * BUCKET_S;

	b->bucket_count++;
	if (bucket <= b->bucket_s)
		return;
	b->measured_rate = SMOOTH * ((double)b->bucket_count / (bucket - b->bucket_s)) +
	                   (1.0 - SMOOTH) * b->measured_rate;
	b->bucket_count = 0;
	b->bucket_s = bucket;
}

/* The send rate to judge by: the smoothed one, or at least what the open
 * bucket has seen. A second deviation from the SDKs, for bursts: a
 * daemon's calls come in bursts (start-up, a refresh), throttled before
 * any bucket closed, and a measured rate of 0 would cut the budget to its
 * floor for a burst of 20 calls in 100 ms. */
static double
sending_rate(const struct ssm_budget *b)
{
	double open = (double)b->bucket_count / BUCKET_S;

	return open > b->measured_rate ? open : b->measured_rate;
}

static void
set_rate(struct ssm_budget *b, double t, double rate)
{
	refill(b, t);
	b->fill_rate = rate > SSM_BUDGET_MIN_RATE ? rate : SSM_BUDGET_MIN_RATE;
	b->max_capacity = rate > MIN_BURST ? rate : MIN_BURST;
	if (b->capacity > b->max_capacity)
		b->capacity = b->max_capacity;
}

void
ssm_budget_answer(struct ssm_budget *b, bool throttled, int64_t now_ms)
{
	double t = secs(now_ms), rate;

	measure(b, t);
	if (throttled) {
		double sending = sending_rate(b);
		double base =
		        b->enabled && b->fill_rate < sending ? b->fill_rate : sending;

		b->throttles++;
		b->last_max_rate = base;
		b->time_window_s = cbrt(base * (1.0 - BETA) / SCALE);
		b->last_throttle_s = t;
		if (!b->enabled) {
			/* Start from a full burst, not an empty bucket. */
			b->enabled = true;
			b->capacity = MIN_BURST;
			b->last_refill_s = t;
		}
		rate = base * BETA;
	} else {
		if (!b->enabled)
			return;
		if (t - b->last_throttle_s >= OFF_AFTER_S) {
			b->enabled = false;
			return;
		}
		rate = SCALE * pow(t - b->last_throttle_s - b->time_window_s, 3.0) +
		       b->last_max_rate;
	}
	if (rate > 2.0 * sending_rate(b))
		rate = 2.0 * sending_rate(b);
	set_rate(b, t, rate);
}

double
ssm_budget_rate(const struct ssm_budget *b)
{
	return b->enabled ? b->fill_rate : 0.0;
}
