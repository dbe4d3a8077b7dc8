/* check_token_retry.c - where a fleet's retries land after an issuer
 * outage (token_retry_delay), against the rule it replaced.
 *
 * 1,000 instances share one value, so they share the moment it stops
 * being served. The issuer is down from before the first refresh until
 * after that moment; each failure is immediate. Counted: the retries in
 * each of the last ten seconds before it. The numbers are printed
 * (tests/unit/check_token_retry.log). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int main(void);

#define S       1000LL
#define M       (60 * S)
#define FLEET   1000
#define BASE_MS 1000
#define CAP_MS  60000
#define GAP_MS  1000 /* min_gap for min_remaining >= 4 s */
#define BUCKETS 10

struct scenario {
	const char *what;
	int64_t lifetime, refresh_before, jitter, min_remaining;
};

/* Default timing as token_timing_derive gives it. */
static const struct scenario scenarios[] = {
	{ "1 h token", 60 * M, 20 * M, 6 * M, 60 * S },
	{ "15 min token (IAM)", 15 * M, 5 * M, 90 * S, 60 * S },
	{ "2 min token", 2 * M, 40 * S, 12 * S, 12 * S },
};

static uint64_t rng;

static uint32_t
rnd32(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* The rule before: a backoff draw past the deadline (less min_gap) came
 * at half the time left instead, while that half was at least min_gap. */
static int64_t
halving_delay(unsigned attempt, int64_t left, uint32_t r)
{
	int64_t delay = token_backoff_delay(attempt, 0, r);

	if (delay > left - GAP_MS && left / 2 >= GAP_MS)
		delay = left / 2;
	return delay;
}

/* As token.c's fetch_failed calls it. */
static int64_t
window_delay(const struct scenario *sc, unsigned attempt, int64_t left, uint32_t r)
{
	int64_t min_window = (sc->refresh_before - sc->min_remaining) / 2;

	if (min_window < GAP_MS)
		min_window = GAP_MS;
	return token_retry_delay(attempt, 0, left > GAP_MS ? left - GAP_MS : 0,
	                         min_window, r);
}

/* Fills per_s[i]: retries in [deadline - (i+1) s, deadline - i s). */
static void
simulate(const struct scenario *sc, bool halving, unsigned per_s[BUCKETS])
{
	int64_t deadline = sc->lifetime - sc->min_remaining;

	memset(per_s, 0, BUCKETS * sizeof(per_s[0]));
	rng = 42;
	for (int i = 0; i < FLEET; i++) {
		uint64_t j = ((uint64_t)sc->jitter * rnd32()) >> 32;
		int64_t t = sc->lifetime - sc->refresh_before - (int64_t)j;

		for (unsigned attempt = 0; t < deadline; attempt++) {
			int64_t left = deadline - t;

			if (left <= BUCKETS * S)
				per_s[(left - 1) / S]++;
			t += halving ? halving_delay(attempt, left, rnd32())
			             : window_delay(sc, attempt, left, rnd32());
		}
	}
}

static void
print(const char *what, const char *rule, const unsigned per_s[BUCKETS])
{
	fprintf(stderr, "%-20s %-8s last 10 s, 10th..1st second before: ", what, rule);
	for (int i = BUCKETS - 1; i >= 0; i--)
		fprintf(stderr, "%u%s", per_s[i], i ? " " : "\n");
}

START_TEST(test_fleet_retries_spread)
{
	const struct scenario *sc = &scenarios[_i];
	unsigned before[BUCKETS], after[BUCKETS], max_after = 0;

	simulate(sc, true, before);
	simulate(sc, false, after);
	print(sc->what, "halving", before);
	print(sc->what, "window", after);
	fprintf(stderr, "%-20s last 2 s: %u retries before, %u after (of %d instances)\n",
	        sc->what, before[0] + before[1], after[0] + after[1], FLEET);
	for (int i = 0; i < BUCKETS; i++)
		max_after = after[i] > max_after ? after[i] : max_after;
	/* The old rule piles the fleet up 1 to 2 s before the deadline. */
	ck_assert_uint_ge(before[0] + before[1], FLEET / 2);
	/* The new one does not: no second of the last ten is more than
	 * twice as busy as the tenth, and the last two hold a third of the
	 * old count at most. */
	ck_assert_uint_le(max_after, 2 * after[BUCKETS - 1] + 20);
	ck_assert_uint_le(after[0] + after[1], (before[0] + before[1]) / 3);
}
END_TEST

struct retry_case {
	unsigned attempt;
	int64_t retry_after, left, min_window;
	uint32_t rnd;
	int64_t want;
};

static const struct retry_case retry_cases[] = {
	{ 0, 0, 0, 0, 0xffffffffu, 1000 },          /* nothing served: backoff */
	{ 6, 0, 0, 0, 0xffffffffu, 60000 },         /* ... capped */
	{ 6, 0, 100000, 5000, 0xffffffffu, 60000 }, /* time enough: backoff */
	{ 6, 0, 30000, 5000, 0xffffffffu, 30000 },  /* the window ends in time */
	{ 6, 0, 30000, 5000, 0x80000000u, 15000 },  /* ... full jitter over it */
	{ 6, 0, 2000, 5000, 0xffffffffu, 5000 },    /* never under min_window */
	{ 1, 0, 1000, 5000, 0xffffffffu, 2000 },    /* ... nor over the ceiling */
	{ 6, 0, -5000, 5000, 0xffffffffu, 60000 },  /* past it: backoff runs free */
	{ 6, 20000, 2000, 5000, 0, 20000 },         /* Retry-After wins */
};

START_TEST(test_retry_delay)
{
	const struct retry_case *c = &retry_cases[_i];
	int64_t got = token_retry_delay(c->attempt, c->retry_after, c->left,
	                                c->min_window, c->rnd);

	ck_assert_msg(got == c->want, "case %d: %lld, want %lld", _i, (long long)got,
	              (long long)c->want);
}
END_TEST

#define N(a) (sizeof(a) / sizeof((a)[0]))

int
main(void)
{
	Suite *s = suite_create("token_retry");
	TCase *tc = tcase_create("retry");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_retry_delay, 0, (int)N(retry_cases));
	tcase_add_loop_test(tc, test_fleet_retries_spread, 0, (int)N(scenarios));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
