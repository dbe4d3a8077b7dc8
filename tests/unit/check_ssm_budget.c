/* check_ssm_budget.c - the adaptive SSM send budget, with injected time:
 * off until a throttle, cut on throttling, regrown along the CUBIC curve,
 * never above twice the measured rate, switched off after a quiet spell. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ssm_budget.h"

#define T0 INT64_C(1000000) /* any monotonic start */

/* Answers at rate per second from *now for ms, all successes; sends
 * that the budget lets through only. Returns how many went. */
static int
drive(struct ssm_budget *b, int64_t *now, double rate, int64_t ms)
{
	int64_t step = (int64_t)(1000.0 / rate), end = *now + ms;
	int sent = 0;

	for (; *now < end; *now += step) {
		if (ssm_budget_take(b, *now) == 0) {
			ssm_budget_answer(b, false, *now);
			sent++;
		}
	}
	return sent;
}

START_TEST(test_off_until_throttled)
{
	struct ssm_budget b;
	int64_t now = T0;

	ssm_budget_init(&b, now);
	ck_assert(!b.enabled);
	ck_assert(ssm_budget_rate(&b) == 0.0);
	/* 100/s for 5 s: nothing is ever held back. */
	ck_assert_int_eq(drive(&b, &now, 100, 5000), 500);
	ck_assert(!b.enabled);
	ck_assert_double_eq_tol(b.measured_rate, 100.0, 5.0);
}
END_TEST

START_TEST(test_throttle_cuts_to_beta_of_measured)
{
	struct ssm_budget b;
	int64_t now = T0;

	ssm_budget_init(&b, now);
	drive(&b, &now, 40, 5000);
	ssm_budget_answer(&b, true, now);
	ck_assert(b.enabled);
	ck_assert_double_eq_tol(ssm_budget_rate(&b), 0.7 * b.measured_rate, 0.5);
	ck_assert_double_eq_tol(ssm_budget_rate(&b), 28.0, 2.0);
	/* A second throttle at once cuts again, from the lower rate. */
	{
		double r1 = ssm_budget_rate(&b);

		ssm_budget_answer(&b, true, now + 1);
		ck_assert_double_lt(ssm_budget_rate(&b), r1);
		ck_assert_double_eq_tol(ssm_budget_rate(&b), 0.7 * r1, 1.0);
	}
	ck_assert_uint_eq(b.throttles, 2);
}
END_TEST

START_TEST(test_waits_are_paced)
{
	struct ssm_budget b;
	int64_t now = T0, wait;
	int sent = 0;

	ssm_budget_init(&b, now);
	drive(&b, &now, 20, 3000);
	ssm_budget_answer(&b, true, now);
	/* The burst (one second's worth at most) drains, then a send waits
	 * about 1/rate for each token. */
	while ((wait = ssm_budget_take(&b, now)) == 0)
		sent++;
	ck_assert_int_le(sent, (int)ceil(ssm_budget_rate(&b)) + 1);
	ck_assert_int_ge(wait, 1);
	ck_assert_int_le(wait, (int64_t)(1000.0 / ssm_budget_rate(&b)) + 1);
	/* Waiting the time said finds the token. */
	ck_assert_int_eq(ssm_budget_take(&b, now + wait), 0);
}
END_TEST

/* After a throttle at rate R the curve is back at R after K =
 * cbrt(R * 0.3 / 0.4) seconds, growing all along, if the process sends
 * fast enough for the 2x-measured cap not to bind. */
START_TEST(test_regrows_along_cubic)
{
	struct ssm_budget b;
	int64_t now = T0, t, end;
	double r_max, k, prev, want;

	ssm_budget_init(&b, now);
	drive(&b, &now, 40, 5000);
	ssm_budget_answer(&b, true, now);
	r_max = b.last_max_rate;
	k = cbrt(r_max * 0.3 / 0.4);
	ck_assert_double_eq_tol(b.time_window_s, k, 1e-9);
	prev = ssm_budget_rate(&b);
	/* Successes at 100/s (answers of sends made earlier): the 2x-measured
	 * cap stays far above the curve. The rate only grows. */
	end = now + (int64_t)(k * 1000.0) + 3000;
	for (t = now + 10; t <= end; t += 10) {
		ssm_budget_answer(&b, false, t);
		ck_assert_double_ge(ssm_budget_rate(&b), prev - 1e-9);
		prev = ssm_budget_rate(&b);
		if (t == now + (int64_t)(k * 1000.0) / 10 * 10)
			ck_assert_double_eq_tol(prev, r_max, 0.5);
	}
	/* Past K, CUBIC probes above the old maximum: 0.4 * 3^3 more. */
	want = 0.4 * pow((double)(end / 10 * 10 - now) / 1000.0 - k, 3.0) + r_max;
	ck_assert_double_eq_tol(prev, want, 0.5);
	ck_assert_double_gt(prev, r_max + 5.0);
}
END_TEST

/* The rate never runs ahead of twice what the process really sends. */
START_TEST(test_capped_by_measured)
{
	struct ssm_budget b;
	int64_t now = T0;

	ssm_budget_init(&b, now);
	drive(&b, &now, 40, 5000);
	ssm_budget_answer(&b, true, now);
	/* Then two sends a second, for long past K. */
	drive(&b, &now, 2, 30000);
	ck_assert(b.enabled);
	ck_assert_double_le(ssm_budget_rate(&b), 2.0 * b.measured_rate + 1e-9);
	ck_assert_double_lt(ssm_budget_rate(&b), 10.0);
}
END_TEST

/* A burst throttled before its first measurement bucket closed is judged
 * by what the open bucket saw, not cut to the floor. */
START_TEST(test_burst_before_measurement)
{
	struct ssm_budget b;
	int64_t now = T0 - T0 % 500 + 10; /* early in a bucket */

	ssm_budget_init(&b, now);
	for (int i = 0; i < 10; i++)
		ssm_budget_answer(&b, false, now += 10);
	ssm_budget_answer(&b, true, now += 10);
	/* 11 answers in an open half-second bucket: at least 22/s. */
	ck_assert_double_eq_tol(ssm_budget_rate(&b), 0.7 * 22.0, 0.01);
}
END_TEST

START_TEST(test_floor)
{
	struct ssm_budget b;
	int64_t now = T0;

	ssm_budget_init(&b, now);
	/* Throttled from the very first answer: nothing measured yet. */
	for (int i = 0; i < 20; i++)
		ssm_budget_answer(&b, true, now += 100);
	ck_assert_double_eq(ssm_budget_rate(&b), SSM_BUDGET_MIN_RATE);
	ck_assert_int_le(ssm_budget_take(&b, now), 2000);
}
END_TEST

START_TEST(test_switches_off_after_quiet)
{
	struct ssm_budget b;
	int64_t now = T0;

	ssm_budget_init(&b, now);
	drive(&b, &now, 10, 3000);
	ssm_budget_answer(&b, true, now);
	drive(&b, &now, 1, 119000);
	ck_assert(b.enabled);
	drive(&b, &now, 1, 2000);
	ck_assert(!b.enabled);
	ck_assert(ssm_budget_rate(&b) == 0.0);
	ck_assert_int_eq(ssm_budget_take(&b, now), 0);
	/* A new throttle starts a new episode from the measured rate. */
	ssm_budget_answer(&b, true, now);
	ck_assert(b.enabled);
	ck_assert_double_ge(ssm_budget_rate(&b), SSM_BUDGET_MIN_RATE);
}
END_TEST

/* Time that goes backwards (never on the monotonic clock, but cheap to
 * survive) neither adds tokens nor breaks the bucket. */
START_TEST(test_time_backwards)
{
	struct ssm_budget b;
	int64_t now = T0;

	ssm_budget_init(&b, now);
	drive(&b, &now, 10, 2000);
	ssm_budget_answer(&b, true, now);
	while (ssm_budget_take(&b, now) == 0)
		;
	ck_assert_int_gt(ssm_budget_take(&b, now - 5000), 0);
	ck_assert(b.capacity >= 0.0 && b.capacity <= b.max_capacity);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("ssm_budget");
	TCase *tc = tcase_create("budget");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_off_until_throttled);
	tcase_add_test(tc, test_throttle_cuts_to_beta_of_measured);
	tcase_add_test(tc, test_waits_are_paced);
	tcase_add_test(tc, test_regrows_along_cubic);
	tcase_add_test(tc, test_capped_by_measured);
	tcase_add_test(tc, test_burst_before_measurement);
	tcase_add_test(tc, test_floor);
	tcase_add_test(tc, test_switches_off_after_quiet);
	tcase_add_test(tc, test_time_backwards);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
