/* check_err.c - error messages keep their informative end. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define ELLIPSIS "\xe2\x80\xa6"

static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(test_short_unchanged)
{
	struct err e;

	err_set(&e, ERR_NET, "imds: HTTP %d", 404);
	ck_assert_str_eq(e.msg, "imds: HTTP 404");
	ck_assert_int_eq(e.code, ERR_NET);
	err_prefix(&e, "token \"%s\"", "db");
	ck_assert_str_eq(e.msg, "token \"db\": imds: HTTP 404");
}
END_TEST

/* The example of issue 14: a long chain whose cause is at the end. */
START_TEST(test_long_keeps_end)
{
	char *mid = repeat('x', 3 * ERR_MSG_MAX);
	struct err e;

	err_set(&e, ERR_UNAVAILABLE, "no AWS credentials: env: %s; imds: HTTP 404", mid);
	ck_assert_uint_lt(strlen(e.msg), ERR_MSG_MAX);
	ck_assert_uint_gt(strlen(e.msg), ERR_MSG_MAX - 8);
	ck_assert_msg(strncmp(e.msg, "no AWS credentials: env: x", 26) == 0, "%s", e.msg);
	ck_assert_ptr_nonnull(strstr(e.msg, ELLIPSIS));
	ck_assert_msg(strcmp(e.msg + strlen(e.msg) - 14, "imds: HTTP 404") == 0, "%s",
	              e.msg);
	free(mid);
}
END_TEST

START_TEST(test_prefix_keeps_end)
{
	char *mid = repeat('y', ERR_MSG_MAX - 20);
	struct err e;

	err_set(&e, ERR_AUTH, "%s: AWS_WEB_IDENTITY_TOKEN_FILE is empty", mid);
	err_prefix(&e, "token \"%s\"", "orders-db");
	ck_assert_uint_lt(strlen(e.msg), ERR_MSG_MAX);
	ck_assert_msg(strncmp(e.msg, "token \"orders-db\": y", 20) == 0, "%s", e.msg);
	ck_assert_ptr_nonnull(strstr(e.msg, "AWS_WEB_IDENTITY_TOKEN_FILE is empty"));
	free(mid);
}
END_TEST

/* Never a broken UTF-8 sequence on either side of the ellipsis, whatever
 * the alignment of the cut. */
START_TEST(test_utf8_boundaries)
{
	char src[200], dst[40];
	size_t n = 0;

	for (int i = 0; i < _i; i++)
		src[n++] = 'a';
	while (n + 2 < sizeof(src) - 1) {
		src[n++] = '\xc3'; /* U+00E9 */
		src[n++] = '\xa9';
	}
	src[n] = '\0';
	err_elide(dst, sizeof(dst), src);
	ck_assert_uint_lt(strlen(dst), sizeof(dst));
	for (size_t i = 0; dst[i] != '\0'; i++) {
		unsigned char c = (unsigned char)dst[i];
		if ((c & 0xC0) == 0x80)
			continue;
		if (c == 0xC3)
			ck_assert_int_eq((unsigned char)dst[i + 1] & 0xC0, 0x80);
		else if (c == 0xE2)
			ck_assert(memcmp(dst + i, ELLIPSIS, 3) == 0);
		else
			ck_assert_int_eq(c, 'a');
	}
	ck_assert((unsigned char)dst[strlen(dst) - 1] == 0xa9);
}
END_TEST

START_TEST(test_exact_fit_and_tiny)
{
	char dst[8];

	ck_assert_str_eq(err_elide(dst, sizeof(dst), "1234567"), "1234567");
	err_elide(dst, sizeof(dst), "12345678");
	ck_assert_uint_lt(strlen(dst), sizeof(dst));
	ck_assert_ptr_nonnull(strstr(dst, ELLIPSIS));
	ck_assert_str_eq(err_elide(dst, 4, "12345678"), "");
}
END_TEST

static Suite *
err_suite(void)
{
	Suite *s = suite_create("err");
	TCase *tc = tcase_create("elide");

	tcase_add_test(tc, test_short_unchanged);
	tcase_add_test(tc, test_long_keeps_end);
	tcase_add_test(tc, test_prefix_keeps_end);
	tcase_add_loop_test(tc, test_utf8_boundaries, 0, 4);
	tcase_add_test(tc, test_exact_fit_and_tiny);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(err_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
