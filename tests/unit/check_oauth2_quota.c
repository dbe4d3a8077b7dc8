/* check_oauth2_quota.c - Auth0's quota headers: the documented format,
 * hostile variants, and the once-per-crossing warning. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "oauth2_quota.h"

int main(void);

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NOW  1800000000000LL

/* Auth0's documented example, then variants; each with the buckets kept. */
static const struct {
	const char *in;
	size_t n;
	const char *name0;
	long long q0, r0, t0;
} cases[] = {
	{ "b=per_hour;q=10;r=7;t=3540,b=per_day;q=50;r=47;t=43200", 2, "per_hour", 10, 7,
	  3540 },
	{ "b=per_day;q=100;r=0;t=1", 1, "per_day", 100, 0, 1 },
	{ " b = per_hour ; q=5 ;r=5; t=0 ", 1, "per_hour", 5, 5, 0 },
	{ "t=60;r=1;q=2;b=per_hour", 1, "per_hour", 2, 1, 60 }, /* any order */
	{ "b=per_hour;q=2;r=1;t=60;x=9;zz=1", 1, "per_hour", 2, 1,
	  60 },                                             /* unknown keys */
	{ "b=per_hour;q=2;r=3;t=60", 0, NULL, 0, 0, 0 },    /* remaining over quota */
	{ "b=per_hour;q=0;r=0;t=60", 0, NULL, 0, 0, 0 },    /* no quota */
	{ "b=per_hour;q=2;r=1", 0, NULL, 0, 0, 0 },         /* t missing */
	{ "b=per_hour;q=2;q=3;r=1;t=1", 0, NULL, 0, 0, 0 }, /* a key twice */
	{ "b=per_hour;q=-2;r=1;t=1", 0, NULL, 0, 0, 0 },
	{ "b=per_hour;q=2x;r=1;t=1", 0, NULL, 0, 0, 0 },
	{ "b=per_hour;q=99999999999;r=1;t=1", 0, NULL, 0, 0, 0 }, /* overflow */
	{ "b=per_hour;q=2147483648;r=1;t=1", 0, NULL, 0, 0, 0 },
	{ "b=per_hour;q=2147483647;r=2147483647;t=2147483647", 1, "per_hour", 2147483647,
	  2147483647, 2147483647 },
	{ "b=per\"hour;q=2;r=1;t=1", 0, NULL, 0, 0, 0 }, /* a label breaker */
	{ "b=per_hour\n;q=2;r=1;t=1", 0, NULL, 0, 0, 0 },
	{ "b=a_name_far_too_long;q=2;r=1;t=1", 0, NULL, 0, 0, 0 },
	{ "b=;q=2;r=1;t=1", 0, NULL, 0, 0, 0 },
	{ "b=x;q=;r=1;t=1", 0, NULL, 0, 0, 0 },
	{ "bq=2;r=1;t=1", 0, NULL, 0, 0, 0 },
	{ "", 0, NULL, 0, 0, 0 },
	{ ",,,;;;===", 0, NULL, 0, 0, 0 },
	{ "garbage,b=per_day;q=9;r=8;t=7", 1, "per_day", 9, 8, 7 }, /* skip the bad one */
	/* More buckets than kept: the first OAUTH2_QUOTA_MAX. */
	{ "b=a;q=1;r=1;t=1,b=b;q=1;r=1;t=1,b=c;q=1;r=1;t=1,b=d;q=1;r=1;t=1,"
	  "b=e;q=1;r=1;t=1",
	  4, "a", 1, 1, 1 },
	/* The same bucket twice: the last one wins. */
	{ "b=per_hour;q=10;r=9;t=5,b=per_hour;q=10;r=3;t=4", 1, "per_hour", 10, 3, 4 },
};

START_TEST(test_parse)
{
	struct oauth2_quota q;
	size_t got;

	memset(&q, 0, sizeof(q));
	got = oauth2_quota_parse(cases[_i].in, OAUTH2_QUOTA_CLIENT, NOW, &q);
	ck_assert_msg(q.n == cases[_i].n, "%s: %zu buckets", cases[_i].in, q.n);
	ck_assert_uint_ge(got, q.n);
	if (q.n == 0) {
		ck_assert_int_eq(q.seen_at_ms, 0);
		return;
	}
	ck_assert_int_eq(q.seen_at_ms, NOW);
	ck_assert_str_eq(q.b[0].name, cases[_i].name0);
	ck_assert_int_eq(q.b[0].limit, cases[_i].q0);
	ck_assert_int_eq(q.b[0].remaining, cases[_i].r0);
	ck_assert_int_eq(q.b[0].reset_at_ms, NOW + cases[_i].t0 * 1000);
	ck_assert_int_eq(q.b[0].scope, OAUTH2_QUOTA_CLIENT);
	ck_assert(!q.b[0].warned);
}
END_TEST

START_TEST(test_two_scopes)
{
	struct oauth2_quota q;

	memset(&q, 0, sizeof(q));
	ck_assert_uint_eq(oauth2_quota_parse("b=per_hour;q=10;r=7;t=60",
	                                     OAUTH2_QUOTA_CLIENT, NOW, &q),
	                  1);
	ck_assert_uint_eq(oauth2_quota_parse("b=per_hour;q=100;r=1;t=60",
	                                     OAUTH2_QUOTA_ORGANIZATION, NOW, &q),
	                  1);
	ck_assert_uint_eq(q.n, 2);
	ck_assert_int_eq(q.b[1].scope, OAUTH2_QUOTA_ORGANIZATION);
	ck_assert_int_eq(q.b[1].limit, 100);
	ck_assert_int_eq(oauth2_quota_used_pct(&q.b[0]), 30);
	ck_assert_int_eq(oauth2_quota_used_pct(&q.b[1]), 99);
	ck_assert_str_eq(oauth2_quota_scope_name(q.b[1].scope), "organization");
}
END_TEST

/* Hostile bytes: every prefix of a long mixed string, and random bytes,
 * parse without reading past the end (ASan/valgrind see it) and keep only
 * buckets whose name is label-safe. */
START_TEST(test_hostile)
{
	static const char mix[] = "b=per_hour;q=10;r=7;t=3540,\xff\x01;=,b==;q==1;;r=1,"
	                          "b=per_day;q=50;r=47;t=43200,b=\x80;q=1;r=1;t=1";
	char buf[256];
	struct oauth2_quota q;

	for (size_t n = 0; n < sizeof(mix); n++) {
		char *p = malloc(n + 1);

		memcpy(p, mix, n);
		p[n] = '\0';
		memset(&q, 0, sizeof(q));
		oauth2_quota_parse(p, OAUTH2_QUOTA_CLIENT, NOW, &q);
		ck_assert_uint_le(q.n, 2);
		free(p);
	}
	srand(13);
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(rand() % 255);

		for (size_t i = 0; i < n; i++)
			buf[i] = (char)(1 + rand() % 255);
		buf[n] = '\0';
		memset(&q, 0, sizeof(q));
		oauth2_quota_parse(buf, OAUTH2_QUOTA_CLIENT, NOW, &q);
		ck_assert_uint_le(q.n, OAUTH2_QUOTA_MAX);
		for (size_t i = 0; i < q.n; i++) {
			ck_assert_uint_lt(strlen(q.b[i].name), OAUTH2_QUOTA_NAME_MAX);
			ck_assert_uint_eq(strspn(q.b[i].name, "abcdefghijklmnopqrstuvwxyz"
			                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			                                      "0123456789_"),
			                  strlen(q.b[i].name));
			ck_assert_int_le(q.b[i].remaining, q.b[i].limit);
		}
	}
}
END_TEST

static unsigned
feed(struct oauth2_quota *kept, const char *value)
{
	struct oauth2_quota fresh;

	memset(&fresh, 0, sizeof(fresh));
	oauth2_quota_parse(value, OAUTH2_QUOTA_CLIENT, NOW, &fresh);
	return oauth2_quota_merge(kept, &fresh);
}

/* Warned once when 80 % is crossed, not on every answer after; again
 * only after the bucket reset and filled up again. */
START_TEST(test_warn_once_per_crossing)
{
	struct oauth2_quota kept;

	memset(&kept, 0, sizeof(kept));
	ck_assert_uint_eq(feed(&kept, "b=per_hour;q=10;r=3;t=60"), 0); /* 70 % */
	ck_assert_uint_eq(feed(&kept, "b=per_hour;q=10;r=2;t=60"), 1); /* 80 % */
	ck_assert(kept.b[0].warned);
	ck_assert_uint_eq(feed(&kept, "b=per_hour;q=10;r=1;t=60"), 0);
	ck_assert_uint_eq(feed(&kept, "b=per_hour;q=10;r=0;t=60"), 0);
	/* An answer without headers changes nothing. */
	ck_assert_uint_eq(feed(&kept, ""), 0);
	ck_assert_uint_eq(kept.n, 1);
	ck_assert_int_eq(kept.b[0].remaining, 0);
	/* Reset, then over again. */
	ck_assert_uint_eq(feed(&kept, "b=per_hour;q=10;r=9;t=3600"), 0);
	ck_assert(!kept.b[0].warned);
	ck_assert_uint_eq(feed(&kept, "b=per_hour;q=10;r=1;t=3500"), 1);
	/* A second bucket crossing on its own: its bit only. */
	ck_assert_uint_eq(feed(&kept, "b=per_hour;q=10;r=1;t=3,b=per_day;q=100;r=10;t=9"),
	                  2);
	ck_assert_uint_eq(feed(&kept, "b=per_hour;q=10;r=1;t=3,b=per_day;q=100;r=9;t=9"),
	                  0);
	/* Already over at the first answer: warned at once. */
	memset(&kept, 0, sizeof(kept));
	ck_assert_uint_eq(feed(&kept, "b=per_day;q=5;r=0;t=60"), 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("oauth2_quota");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_parse, 0, (int)N(cases));
	tcase_add_test(tc, test_two_scopes);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_warn_once_per_crossing);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
