/* ssm_budget.h - an adaptive client-side send budget: a token bucket whose
 * fill rate follows SSM's throttling answers, as the AWS SDKs' adaptive
 * retry mode does. Pure: no loop, the caller passes the time (monotonic
 * milliseconds), so it is unit tested deterministically (check_ssm_budget.c).
 *
 * Until the first throttling answer the bucket is off: sends are never
 * delayed. A throttling answer turns it on and cuts the rate to BETA (0.7)
 * times the lower of the current rate and the measured send rate (answers
 * per second, smoothed over half-second buckets, or at least what the
 * current bucket has seen, so that a burst counts before its bucket
 * closes). Every other answer grows
 * the rate back along a CUBIC curve (RFC 8312: scale constant 0.4) centred
 * on the rate at the last throttle, never above twice the measured rate:
 * the budget probes upwards only as fast as the process really sends.
 *
 * One budget per quota: SSM limits GetParameter/GetParameters/
 * GetParametersByPath together and PutParameter/DeleteParameter apart.
 */
#ifndef TOKEND_SSM_BUDGET_H
#define TOKEND_SSM_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#define SSM_BUDGET_MIN_RATE 0.5 /* sends per second, never less */

struct ssm_budget {
	bool enabled;           /* off until the first throttling answer */
	double fill_rate;       /* tokens per second */
	double capacity;        /* tokens now, at most max_capacity */
	double max_capacity;    /* the burst: one second's worth, at least 1 */
	double last_refill_s;   /* when capacity was last brought up to date */
	double last_max_rate;   /* the rate when the last throttle came */
	double last_throttle_s; /* when it came */
	double time_window_s;   /* CUBIC's K: time to regrow to last_max_rate */
	double measured_rate;   /* answers per second, smoothed */
	double bucket_s;        /* start of the current measurement bucket */
	unsigned bucket_count;  /* answers counted in it */
	uint64_t throttles;     /* throttling answers fed in */
};

/* An idle, unlimited budget at now_ms. */
void ssm_budget_init(struct ssm_budget *b, int64_t now_ms);

/* Takes one send token if the budget has one (or is off): returns 0. Else
 * takes nothing and returns the milliseconds until one is due (>= 1). */
int64_t ssm_budget_take(struct ssm_budget *b, int64_t now_ms);

/* Feeds an answer in: throttled or not (any other HTTP answer). */
void ssm_budget_answer(struct ssm_budget *b, bool throttled, int64_t now_ms);

/* The sends per second allowed now; 0 while the budget is off. */
double ssm_budget_rate(const struct ssm_budget *b);

#endif
