/* check_token_json.c - the JSON shapes of the local API. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "secret.h"
#include "token.h"
#include "token_json.h"

static struct token_def def;
static struct token tok;

static void
setup(void)
{
	memset(&def, 0, sizeof(def));
	memset(&tok, 0, sizeof(tok));
	def.name = "orders-db";
	def.type = TOKEN_TYPE_RDS;
	def.host = "orders.example";
	def.port = 5432;
	def.user = "iam_app";
	tok.name = "orders-db";
	tok.def = &def;
	tok.state = TOKEN_VALID;
	tok.origin = TOKEN_ORIGIN_SIGNER;
	tok.value = secret_new_str("orders.example:5432/?Action=connect");
	tok.issued_at_ms = 1700000000000;
	tok.expires_at_ms = 1700000900000;
	tok.refreshed_at_ms = 1700000000500;
	tok.version = 3;
}

static void
teardown(void)
{
	secret_unref(tok.value);
}

static const char *
str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_int_t
num(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

START_TEST(test_detail_rds)
{
	json_t *o = token_json_detail(&tok, 1700000300000);

	ck_assert_str_eq(str(o, "name"), "orders-db");
	ck_assert_str_eq(str(o, "type"), "rds");
	ck_assert_str_eq(str(o, "token"), "orders.example:5432/?Action=connect");
	ck_assert_str_eq(str(o, "token_type"), "");
	ck_assert_int_eq(num(o, "expires_at"), 1700000900);
	ck_assert_int_eq(num(o, "expires_in"), 600);
	ck_assert_int_eq(num(o, "version"), 3);
	ck_assert_str_eq(str(o, "source"), "signer");
	ck_assert_str_eq(str(o, "user"), "iam_app");
	ck_assert_str_eq(str(o, "host"), "orders.example");
	ck_assert_int_eq(num(o, "port"), 5432);
	ck_assert_ptr_null(json_object_get(o, "cache"));
	json_decref(o);
}
END_TEST

START_TEST(test_detail_elasticache_and_oauth2)
{
	json_t *o;

	def.type = TOKEN_TYPE_ELASTICACHE;
	def.cache = "sessions";
	def.serverless = true;
	o = token_json_detail(&tok, 1700000300000);
	ck_assert_str_eq(str(o, "type"), "elasticache");
	ck_assert_str_eq(str(o, "cache"), "sessions");
	ck_assert(json_is_true(json_object_get(o, "serverless")));
	ck_assert_ptr_null(json_object_get(o, "host"));
	json_decref(o);

	def.type = TOKEN_TYPE_AUTH0;
	def.audience = "https://api/";
	strcpy(tok.token_type, "Bearer");
	o = token_json_detail(&tok, 1700000300000);
	ck_assert_str_eq(str(o, "type"), "auth0");
	ck_assert_str_eq(str(o, "token_type"), "Bearer");
	ck_assert_str_eq(str(o, "audience"), "https://api/");
	ck_assert_ptr_null(json_object_get(o, "user"));
	json_decref(o);
}
END_TEST

START_TEST(test_detail_expired_clock)
{
	/* Past expiry the remaining time reads 0, never negative. */
	json_t *o = token_json_detail(&tok, 1700009999000);

	ck_assert_int_eq(num(o, "expires_in"), 0);
	json_decref(o);
}
END_TEST

START_TEST(test_summary_never_has_the_value)
{
	json_t *o;
	char *s;

	tok.last_error.code = ERR_HTTP;
	strcpy(tok.last_error.msg, "issuer answered 500");
	o = token_json_summary(&tok, 1700000300000);
	ck_assert_str_eq(str(o, "state"), "valid");
	ck_assert_int_eq(num(o, "refreshed_at"), 1700000000);
	ck_assert_str_eq(str(o, "last_error"), "issuer answered 500");
	ck_assert_ptr_null(json_object_get(o, "token"));
	s = json_dumps(o, 0);
	ck_assert_ptr_null(strstr(s, "Action=connect"));
	free(s);
	json_decref(o);
}
END_TEST

START_TEST(test_summary_without_value)
{
	json_t *o;

	secret_unref(tok.value);
	tok.value = NULL;
	tok.version = 0;
	tok.state = TOKEN_EMPTY;
	o = token_json_summary(&tok, 1700000300000);
	ck_assert_str_eq(str(o, "state"), "empty");
	ck_assert(json_is_null(json_object_get(o, "expires_at")));
	ck_assert(json_is_null(json_object_get(o, "source")));
	ck_assert_ptr_null(json_object_get(o, "last_error"));
	json_decref(o);
}
END_TEST

START_TEST(test_error)
{
	json_t *o = token_json_error("unavailable", "no value \"yet\"");
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	ck_assert_str_eq(
	        s, "{\"error\":\"unavailable\",\"message\":\"no value \\\"yet\\\"\"}");
	free(s);
	json_decref(o);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("token_json");
	TCase *tc = tcase_create("shapes");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_detail_rds);
	tcase_add_test(tc, test_detail_elasticache_and_oauth2);
	tcase_add_test(tc, test_detail_expired_clock);
	tcase_add_test(tc, test_summary_never_has_the_value);
	tcase_add_test(tc, test_summary_without_value);
	tcase_add_test(tc, test_error);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
