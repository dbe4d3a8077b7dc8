/* store_ssm_pace.c - the timing of a fleet's reads (store_ssm_pace.h). */
#include "store_ssm_pace.h"

int64_t
store_ssm_pace_deadline(int64_t now_ms, int64_t held_exp_ms, int64_t min_remaining_ms,
                        int64_t cold_wait_ms, int64_t request_timeout_ms)
{
	int64_t left, reserve;

	if (held_exp_ms <= 0)
		return cold_wait_ms;
	left = held_exp_ms - min_remaining_ms - now_ms;
	if (left <= 0)
		return 0;
	/* The issuer call must fit before the value stops being served. */
	reserve = left / 3;
	if (reserve > request_timeout_ms)
		reserve = request_timeout_ms;
	if (reserve < 1000)
		reserve = 1000;
	return left > reserve ? left - reserve : 0;
}

int64_t
store_ssm_pace_first_read(const struct store_ssm_pace_turn *in, uint32_t rnd32)
{
	int64_t start, end, settle;

	if (in->leader || in->held_exp_ms <= 0)
		return 0;
	start = in->held_exp_ms - in->t.refresh_before_ms - in->t.jitter_ms - in->now_ms;
	if (start < 0)
		start = 0;
	end = in->deadline_in_ms - STORE_SSM_PACE_MARGIN_MS;
	if (end <= start)
		return 0; /* late already (a retry, a forced refresh): read now */
	if (in->leader_known) {
		settle = (end - start) / 4;
		if (settle > STORE_SSM_PACE_SETTLE_MS)
			settle = STORE_SSM_PACE_SETTLE_MS;
		start += settle;
	}
	return start + (int64_t)(((uint64_t)(end - start + 1) * rnd32) >> 32);
}
