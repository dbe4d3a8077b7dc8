/* store_ssm_pace.h - when an instance of a fleet reads SSM and when it
 * gives up waiting: the pure timing of store_ssm (docs/architecture.md
 * "Fleet coordination", "Who reads when").
 *
 * A fleet sharing one value refreshes it in turns. Every instance's refresh
 * timer fires at the same point (token_source_ops.spreads_refresh): the
 * start of the value's jitter window. The instance that wrote the stored
 * value (the leader) takes the lease at once (store_ssm.c) and refreshes. Every other (a
 * follower) draws its first read uniformly from what is left of its window after the
 * leader's turn, so that N followers cost N reads spread over the window instead of a
 * burst, and almost all find the leader's new value with that one read. */
#ifndef TOKEND_STORE_SSM_PACE_H
#define TOKEND_STORE_SSM_PACE_H

#include <stdbool.h>
#include <stdint.h>

#include "token_sched.h"

/* What the leader is given before followers start reading, at most a
 * quarter of the followers' window. */
#define STORE_SSM_PACE_SETTLE_MS 1000
/* A follower's last first read comes this long before its deadline, so
 * that a throttled read is retried and a missing value waited for. */
#define STORE_SSM_PACE_MARGIN_MS 1000

/* When a refresh gives up on SSM and the fleet and calls the issuer, in ms
 * from now. Cold (held_exp_ms <= 0): cold_wait_ms. Warm: before the held
 * value stops being served (held_exp_ms - min_remaining), less a reserve
 * for the issuer call of a third of what is left, 1 s to
 * request_timeout_ms; 0 when that time has passed. */
int64_t store_ssm_pace_deadline(int64_t now_ms, int64_t held_exp_ms,
                                int64_t min_remaining_ms, int64_t cold_wait_ms,
                                int64_t request_timeout_ms);

struct store_ssm_pace_turn {
	int64_t now_ms;         /* wall clock */
	int64_t held_exp_ms;    /* the held value's expiry, <= 0: none held */
	struct token_timing t;  /* the held value's timing */
	int64_t deadline_in_ms; /* store_ssm_pace_deadline's answer */
	bool leader;            /* this instance wrote the stored value */
	bool leader_known;      /* the stored value names its writer */
};

/* Delay in ms before a warm refresh's first read. 0 for the leader, when
 * nothing is held, or when no window is left; else uniform (rnd32 over
 * 2^32) in [window start + settle, deadline - margin], the window starting
 * at held_exp - refresh_before - jitter (settle only when a leader is
 * known: with none, the first reader becomes it). */
int64_t store_ssm_pace_first_read(const struct store_ssm_pace_turn *in, uint32_t rnd32);

#endif
