/* check_secret.c - the secret arena: copies, refcounts, pages kept out of
 * core dumps, and nothing left mapped once every secret is freed. */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"

static void
assert_empty(void)
{
	struct secret_stats st;

	secret_stats(&st);
	ck_assert_uint_eq(st.live, 0);
	ck_assert_uint_eq(st.mapped, 0);
	ck_assert_uint_eq(st.fallback, 0);
}

static char *
pattern(size_t len, unsigned seed)
{
	char *p = malloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (char)('!' + (i * 7 + seed) % 90);
	p[len] = '\0';
	return p;
}

/* Lengths around every size class edge, and past the largest class. */
static const size_t lengths[] = { 0,   1,   15,   16,   40,   41,   100,  104,  105,
	                          232, 233, 1000, 2008, 2009, 4096, 5000, 70000 };

START_TEST(test_copy_and_free)
{
	size_t len = lengths[_i];
	char *want = pattern(len, (unsigned)_i);
	struct secret *s = secret_new(want, len);
	struct secret_stats st;

	ck_assert_uint_eq(s->len, len);
	ck_assert_uint_eq(s->refs, 1);
	ck_assert_int_eq(memcmp(s->data, want, len), 0);
	ck_assert_int_eq(s->data[len], '\0');
	ck_assert_uint_eq((uintptr_t)s % sizeof(max_align_t), 0);
	secret_stats(&st);
	ck_assert_uint_eq(st.live, 1);
	ck_assert_uint_gt(st.mapped, len);
	ck_assert_ptr_eq(secret_ref(s), s);
	secret_unref(s);
	ck_assert_int_eq(memcmp(s->data, want, len), 0);
	secret_unref(s);
	free(want);
	assert_empty();
}
END_TEST

START_TEST(test_str)
{
	struct secret *s = secret_new_str("client-secret");

	ck_assert_uint_eq(s->len, 13);
	ck_assert_str_eq(s->data, "client-secret");
	secret_unref(s);
	secret_unref(NULL);
	ck_assert_ptr_null(secret_ref(NULL));
	assert_empty();
}
END_TEST

/* Many secrets of mixed sizes, more than one slab per class, freed in an
 * order unlike the one they were made in: every copy stays intact and
 * the arena unmaps everything at the end. */
START_TEST(test_many_interleaved)
{
	enum { N = 1200 };
	struct secret **s = calloc(N, sizeof(*s));
	size_t i, len;

	for (i = 0; i < N; i++) {
		char *p = pattern(i % 300 * 7, (unsigned)i);

		s[i] = secret_new(p, i % 300 * 7);
		free(p);
	}
	for (i = 0; i < N; i += 2) /* every other one: slabs half empty */
		secret_unref(s[i]);
	for (i = 0; i < N; i += 2) { /* refill the holes */
		char *p = pattern(i % 300 * 7, (unsigned)i);

		s[i] = secret_new(p, i % 300 * 7);
		free(p);
	}
	for (i = N; i-- > 0;) {
		char *p = pattern(i % 300 * 7, (unsigned)i);

		len = i % 300 * 7;
		ck_assert_uint_eq(s[i]->len, len);
		ck_assert_int_eq(memcmp(s[i]->data, p, len + 1), 0);
		free(p);
		secret_unref(s[i]);
	}
	free(s);
	assert_empty();
}
END_TEST

/* The mapping that holds a secret carries the "dd" (do not dump) flag
 * in /proc/self/smaps. */
static int
smaps_flags(const void *addr, char *flags, size_t size)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	uintptr_t lo, hi, a = (uintptr_t)addr;
	int inside = 0, found = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2)
			inside = a >= lo && a < hi;
		else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, size, "%s", line + 8);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

START_TEST(test_dontdump)
{
	struct secret *small = secret_new_str("tok");
	char *big_data = pattern(10000, 3);
	struct secret *big = secret_new(big_data, 10000);
	char flags[512];

	ck_assert_int_eq(smaps_flags(small->data, flags, sizeof(flags)), 0);
	ck_assert_msg(strstr(flags, " dd") != NULL, "small: %s", flags);
	ck_assert_int_eq(smaps_flags(big->data, flags, sizeof(flags)), 0);
	ck_assert_msg(strstr(flags, " dd") != NULL, "big: %s", flags);
	secret_unref(small);
	secret_unref(big);
	free(big_data);
	assert_empty();
}
END_TEST

#if !defined(__SANITIZE_ADDRESS__)
/* A freed secret's bytes are wiped, not just handed back: look at them
 * while a neighbour keeps the slab mapped (ASan poisons freed chunks,
 * so only the plain build can look). */
START_TEST(test_wiped_on_free)
{
	struct secret *keep = secret_new_str("neighbour");
	struct secret *s = secret_new_str("wipe-me-please");
	volatile const char *bytes = s->data;
	size_t i;

	secret_unref(s);
	for (i = 0; i < 14; i++)
		ck_assert_int_eq(bytes[i], 0);
	secret_unref(keep);
	assert_empty();
}
END_TEST
#endif

START_TEST(test_free_helpers)
{
	char *s = strdup("secret");
	void *m = malloc(32);

	memset(m, 'x', 32);
	secret_free_str(s);
	secret_free_mem(m, 32);
	secret_free_str(NULL);
	secret_free_mem(NULL, 5);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("secret");
	TCase *tc = tcase_create("arena");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_copy_and_free, 0,
	                    (int)(sizeof(lengths) / sizeof(lengths[0])));
	tcase_add_test(tc, test_str);
	tcase_add_test(tc, test_many_interleaved);
	tcase_add_test(tc, test_dontdump);
#if !defined(__SANITIZE_ADDRESS__)
	tcase_add_test(tc, test_wiped_on_free);
#endif
	tcase_add_test(tc, test_free_helpers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
