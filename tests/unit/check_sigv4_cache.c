/* check_sigv4_cache.c - the RDS and ElastiCache token caches
 * (sigv4_iam_cache): the committed botocore token fixtures through a cache
 * warmed earlier in the day, a cache fed changing inputs against the
 * uncached signer, and targets the signer rejects. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "sigv4.h"
#include "xalloc.h"

static json_t *token_fixtures;

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The same fixtures through a cache whose template was built earlier in
 * the day, so the token comes from the fast path. */
START_TEST(test_fixture_tokens_cached)
{
	const json_t *c = json_array_get(token_fixtures, (size_t)_i);
	struct sigv4_creds creds = { jstr(c, "access_key_id"),
		                     jstr(c, "secret_access_key"),
		                     jstr(c, "session_token") };
	int64_t t = json_integer_value(json_object_get(c, "time"));
	struct sigv4_iam_cache *cache;
	struct err err = { 0 };
	char *token;

	if (strcmp(jstr(c, "kind"), "rds") == 0)
		cache = sigv4_rds_cache_new(
		        jstr(c, "host"),
		        (int)json_integer_value(json_object_get(c, "port")),
		        jstr(c, "user"), &err);
	else
		cache = sigv4_elasticache_cache_new(
		        jstr(c, "cache"), jstr(c, "user"),
		        json_is_true(json_object_get(c, "serverless")), &err);
	ck_assert_msg(cache != NULL, "%s: %s", jstr(c, "name"), err.msg);
	secret_free_str(sigv4_iam_cache_token(cache, &creds, jstr(c, "region"),
	                                      t - t % 86400, &err));
	token = sigv4_iam_cache_token(cache, &creds, jstr(c, "region"), t, &err);
	ck_assert_msg(token != NULL, "%s: %s", jstr(c, "name"), err.msg);
	ck_assert_str_eq(token, jstr(c, "token"));
	secret_free_str(token);
	sigv4_iam_cache_free(cache);
}
END_TEST

/* One cache fed a sequence of inputs gives, at every step, what the
 * uncached signer gives: a new second, a new day (new key), rotated
 * secret, session token or access key, another region, and a failure
 * in between. */
START_TEST(test_cache_sequence)
{
	static const struct {
		const char *akid, *secret, *token, *region;
		int64_t t;
	} steps[] = {
		{ "AKID", "s1", NULL, "us-east-1", 86400 + 5 },
		{ "AKID", "s1", NULL, "us-east-1", 86400 + 3723 },
		{ "AKID", "s1", NULL, "us-east-1", 2 * 86400 - 1 },
		{ "AKID", "s1", NULL, "us-east-1", 2 * 86400 },
		{ "AKID", "s2", NULL, "us-east-1", 2 * 86400 + 1 },
		{ "AKID", "s2", "tok/1+=", "us-east-1", 2 * 86400 + 2 },
		{ "AKID", "s2", "tok/2", "us-east-1", 2 * 86400 + 2 },
		{ "AKID", "", "tok/2", "us-east-1", 2 * 86400 + 3 }, /* fails */
		{ "AKID2", "s2", "tok/2", "us-east-1", 2 * 86400 + 3 },
		{ "AKID2", "s2", "tok/2", "eu-west-1", 2 * 86400 + 3 },
		{ "AKID2", "s2", "tok/2", "eu-west-1", -1 }, /* fails */
		{ "AKID2", "s2", "tok/2", "eu-west-1", 253402300799 },
	};
	struct sigv4_iam_cache *rds =
	        sigv4_rds_cache_new("Db.Example", 5432, "u s", NULL);
	struct sigv4_iam_cache *ec = sigv4_elasticache_cache_new("c1", "u", true, NULL);
	char *prev = NULL;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct sigv4_creds cr = { steps[i].akid, steps[i].secret,
			                  steps[i].token };
		struct err e1 = { 0 }, e2 = { 0 };
		char *want = sigv4_rds_token(&cr, steps[i].region, "Db.Example", 5432,
		                             "u s", steps[i].t, &e1);
		char *got =
		        sigv4_iam_cache_token(rds, &cr, steps[i].region, steps[i].t, &e2);

		ck_assert_int_eq(want == NULL, got == NULL);
		if (want != NULL) {
			ck_assert_str_eq(got, want);
			ck_assert(prev == NULL || strcmp(got, prev) != 0);
		} else {
			ck_assert_int_eq(e1.code, e2.code);
			ck_assert_str_eq(e1.msg, e2.msg);
		}
		secret_free_str(want);
		secret_free_str(prev);
		prev = got;
		want = sigv4_elasticache_token(&cr, steps[i].region, "c1", "u", true,
		                               steps[i].t, NULL);
		got = sigv4_iam_cache_token(ec, &cr, steps[i].region, steps[i].t, NULL);
		ck_assert(want == NULL ? got == NULL : strcmp(got, want) == 0);
		secret_free_str(want);
		secret_free_str(got);
	}
	secret_free_str(prev);
	sigv4_iam_cache_free(rds);
	sigv4_iam_cache_free(ec);
	sigv4_iam_cache_free(NULL);
}
END_TEST

/* A target the signer rejects gives no cache, with the signer's error. */
START_TEST(test_cache_bad_target)
{
	struct err err = { 0 };

	ck_assert_ptr_null(sigv4_rds_cache_new("db/x", 5432, "u", &err));
	ck_assert_int_eq(err.code, ERR_CONFIG);
	ck_assert_ptr_null(sigv4_rds_cache_new("db", 0, "u", &err));
	ck_assert_ptr_null(sigv4_elasticache_cache_new("c", "", false, &err));
	ck_assert_int_eq(err.code, ERR_CONFIG);
}
END_TEST

static json_t *
load_fixture(const char *name)
{
	const char *top = getenv("abs_top_srcdir");
	json_error_t jerr;
	char *path = NULL;
	json_t *j;

	xasprintf(&path, "%s/tests/fixtures/sigv4/%s", top ? top : ".", name);
	j = json_load_file(path, 0, &jerr);
	if (j == NULL || !json_is_array(j) || json_array_size(j) == 0) {
		fprintf(stderr, "%s: %s (is abs_top_srcdir set?)\n", path, jerr.text);
		exit(EXIT_FAILURE);
	}
	free(path);
	return j;
}

int main(void);

int
main(void)
{
	Suite *s = suite_create("sigv4_cache");
	TCase *tc = tcase_create("fixtures");
	SRunner *sr;
	int failed;

	token_fixtures = load_fixture("tokens.json");
	tcase_add_loop_test(tc, test_fixture_tokens_cached, 0,
	                    (int)json_array_size(token_fixtures));
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_add_test(tc, test_cache_sequence);
	tcase_add_test(tc, test_cache_bad_target);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	printf("sigv4_cache: %zu token fixtures\n", json_array_size(token_fixtures));
	srunner_free(sr);
	json_decref(token_fixtures);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
