/* check_timeutil.c - time formats AWS and HTTP peers send us. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

static const struct {
	const char *in;
	int rc;
	int64_t epoch;
} iso_cases[] = {
	{ "2024-01-01T06:03:31Z", 0, 1704089011 },
	{ "2024-01-01T06:03:31.123Z", 0, 1704089011 },
	{ "2024-01-01T06:03:31+00:00", 0, 1704089011 },
	{ "2024-01-01T08:03:31+02:00", 0, 1704089011 },
	{ "2024-01-01T04:33:31-0130", 0, 1704089011 },
	{ "1970-01-01T00:00:00Z", 0, 0 },
	{ "2024-01-01T06:03:31", -1, 0 }, /* no zone */
	{ "2024-01-01 06:03", -1, 0 },
	{ "2024-13-01T06:03:31Z", -1, 0 }, /* month */
	{ "2024-01-01T25:03:31Z", -1, 0 }, /* hour */
	{ "2024-01-01T06:03:31Zjunk", -1, 0 },
	{ "2024-01-01T06:03:31.Z", -1, 0 },
	{ "", -1, 0 },
	{ "garbage", -1, 0 },
};

START_TEST(test_iso8601)
{
	int64_t got = -42;
	int rc = timeutil_parse_iso8601(iso_cases[_i].in, &got);

	ck_assert_msg(rc == iso_cases[_i].rc, "%s: rc %d", iso_cases[_i].in, rc);
	if (rc == 0)
		ck_assert_int_eq(got, iso_cases[_i].epoch);
}
END_TEST

static const struct {
	const char *in;
	int rc;
	int64_t epoch;
} http_cases[] = {
	{ "Mon, 01 Jan 2024 00:00:00 GMT", 0, 1704067200 },
	{ "Sun, 06 Nov 1994 08:49:37 GMT", 0, 784111777 },
	{ "Sun, 06 Nov 1994 08:49:37 UTC", -1, 0 },
	{ "Sun, 06 Xyz 1994 08:49:37 GMT", -1, 0 },
	{ "Sun, 06 Nov 1994 08:49:37 GMT trailing", -1, 0 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT", -1, 0 },
	{ "", -1, 0 },
};

START_TEST(test_http_date)
{
	int64_t got = -42;
	int rc = timeutil_parse_http_date(http_cases[_i].in, &got);

	ck_assert_msg(rc == http_cases[_i].rc, "%s: rc %d", http_cases[_i].in, rc);
	if (rc == 0)
		ck_assert_int_eq(got, http_cases[_i].epoch);
}
END_TEST

START_TEST(test_formats)
{
	char amz[TIMEUTIL_AMZ_LEN], iso[21];
	int64_t back;

	timeutil_format_amz(1440938160, amz);
	ck_assert_str_eq(amz, "20150830T123600Z");
	timeutil_format_iso8601(1704089011, iso);
	ck_assert_str_eq(iso, "2024-01-01T06:03:31Z");
	ck_assert_int_eq(timeutil_parse_iso8601(iso, &back), 0);
	ck_assert_int_eq(back, 1704089011);
}
END_TEST

START_TEST(test_clocks)
{
	int64_t m1 = timeutil_mono_ms(), m2 = timeutil_mono_ms();

	ck_assert_int_ge(m2, m1);
	/* After 2020 and before 2100: a sanity bound, not a timing test. */
	ck_assert_int_gt(timeutil_wall_ms(), INT64_C(1577836800000));
	ck_assert_int_lt(timeutil_wall_ms(), INT64_C(4102444800000));
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void);

int
main(void)
{
	Suite *s = suite_create("timeutil");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_iso8601, 0, N(iso_cases));
	tcase_add_loop_test(tc, test_http_date, 0, N(http_cases));
	tcase_add_test(tc, test_formats);
	tcase_add_test(tc, test_clocks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
