/* check_store_ssm.c - what tokend keeps in SSM: both value formats, the
 * adoption decision, the fleet lock, the monthly mint count, ssm: secret
 * references' JSON keys, and when a fleet's instances read (pace). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "store_ssm_pace.h"
#include "store_ssm_record.h"
#include "store_ssm_secrets.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define JWT                                                                              \
	"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."                                          \
	"eyJzdWIiOiJ4IiwiZXhwIjoxOTAwMDAwMDAwLCJpYXQiOjE4OTk5OTY0MDB9.c2ln"
#define JWT_NO_EXP "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
#define RDS_TOKEN                                                                        \
	"db.example.com:5432/?Action=connect&DBUser=app"                                 \
	"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101"             \
	"%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=20240101T000000Z"               \
	"&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=ab"
#define EC_TOKEN                                                                         \
	"cache/?Action=connect&User=app&X-Amz-Algorithm=AWS4-HMAC-SHA256"                \
	"&X-Amz-Date=20240101T000000Z&X-Amz-Expires=900&X-Amz-Signature=ab"

START_TEST(test_json_roundtrip)
{
	struct store_ssm_record in = { 0 }, out;
	struct err e = { 0 };
	char *enc;

	in.token = "tok\"en\\";
	strcpy(in.token_type, "Bearer");
	in.issued_at_ms = INT64_C(1700000000000);
	in.expires_at_ms = INT64_C(1700086400999);
	strcpy(in.type, "oauth2");
	strcpy(in.writer, "host-a/123");
	strcpy(in.mints.month, "2026-11");
	in.mints.count = 41;
	enc = store_ssm_record_encode_json(&in);
	ck_assert_str_eq(enc,
	                 "{\"v\":1,\"token\":\"tok\\\"en\\\\\",\"token_type\":\"Bearer\","
	                 "\"expires_at\":1700086400,\"issued_at\":1700000000,"
	                 "\"type\":\"oauth2\",\"writer\":\"host-a/123\","
	                 "\"mints\":{\"month\":\"2026-11\",\"count\":41}}");
	ck_assert_int_eq(store_ssm_record_decode_json(enc, &out, &e), 0);
	ck_assert_str_eq(out.token, "tok\"en\\");
	ck_assert_str_eq(out.token_type, "Bearer");
	ck_assert_int_eq(out.issued_at_ms, INT64_C(1700000000000));
	ck_assert_int_eq(out.expires_at_ms, INT64_C(1700086400000));
	ck_assert_str_eq(out.type, "oauth2");
	ck_assert_str_eq(out.writer, "host-a/123");
	ck_assert_str_eq(out.mints.month, "2026-11");
	ck_assert_int_eq(out.mints.count, 41);
	store_ssm_record_clear(&out);
	ck_assert_ptr_null(out.token);
	secret_free_str(enc);

	/* No mints, no token_type: both left out. */
	in.mints.month[0] = '\0';
	in.token_type[0] = '\0';
	strcpy(in.type, "rds");
	enc = store_ssm_record_encode_json(&in);
	ck_assert_ptr_null(strstr(enc, "mints"));
	ck_assert_ptr_null(strstr(enc, "token_type"));
	secret_free_str(enc);
}
END_TEST

static const struct {
	const char *value;
	int rc;
	int64_t expires_ms;
	const char *month;
} decode_cases[] = {
	{ "{\"v\":1,\"token\":\"t\",\"expires_at\":200,\"issued_at\":100,\"type\":"
	  "\"rds\"}",
	  0, 200000, "" },
	/* Exponent-form and fractional seconds, as another writer may produce. */
	{ "{\"v\":1,\"token\":\"t\",\"expires_at\":1.7E9,\"issued_at\":1.6999E9,"
	  "\"type\":\"oauth2\"}",
	  0, INT64_C(1700000000000), "" },
	{ "{\"v\":1,\"token\":\"t\",\"expires_at\":200,\"issued_at\":100,\"type\":"
	  "\"rds\","
	  "\"mints\":{\"month\":\"2026-01\",\"count\":-3}}",
	  0, 200000, "" }, /* a damaged count is dropped, not fatal */
	{ "{\"v\":1,\"token\":\"t\",\"expires_at\":200,\"issued_at\":100,\"type\":"
	  "\"rds\","
	  "\"mints\":{\"month\":\"2026-01\",\"count\":7}}",
	  0, 200000, "2026-01" },
	{ "{\"v\":2,\"token\":\"t\",\"expires_at\":200,\"issued_at\":100,\"type\":"
	  "\"rds\"}",
	  -1, 0, NULL },
	{ "{\"v\":1,\"token\":\"\",\"expires_at\":200,\"issued_at\":100,\"type\":"
	  "\"rds\"}",
	  -1, 0, NULL },
	{ "{\"v\":1,\"token\":\"t\",\"expires_at\":100,\"issued_at\":200,\"type\":"
	  "\"rds\"}",
	  -1, 0, NULL },
	{ "{\"v\":1,\"token\":\"t\",\"expires_at\":\"200\",\"issued_at\":100,\"type\":"
	  "\"rds\"}",
	  -1, 0, NULL },
	{ "{\"v\":1,\"token\":\"t\",\"expires_at\":200,\"issued_at\":100}", -1, 0, NULL },
	{ "{\"v\":1,\"v\":1,\"token\":\"t\",\"expires_at\":200,\"issued_at\":100,"
	  "\"type\":\"rds\"}",
	  -1, 0, NULL },
	{ "\x01}{corrupt", -1, 0, NULL },
	{ "a-raw-token", -1, 0, NULL },
	{ "[1]", -1, 0, NULL },
};

START_TEST(test_json_decode)
{
	struct store_ssm_record r;
	struct err e = { 0 };
	int rc = store_ssm_record_decode_json(decode_cases[_i].value, &r, &e);

	ck_assert_int_eq(rc, decode_cases[_i].rc);
	if (rc == 0) {
		ck_assert_int_eq(r.expires_at_ms, decode_cases[_i].expires_ms);
		ck_assert_str_eq(r.mints.month, decode_cases[_i].month);
	} else {
		ck_assert_int_eq(e.code, ERR_PARSE);
		ck_assert_ptr_null(r.token);
	}
	store_ssm_record_clear(&r);
}
END_TEST

static const struct {
	const char *value, *description;
	int rc;
	const char *type;
	int64_t issued_ms, expires_ms;
} value_cases[] = {
	{ JWT, NULL, 0, "oauth2", 0, INT64_C(1900000000000) },
	{ JWT, "expires:1900000000500", 0, "oauth2", 0, INT64_C(1900000000500) },
	{ "opaque-token", "expires:1900000000500", 0, "oauth2", 0,
	  INT64_C(1900000000500) },
	{ RDS_TOKEN, NULL, 0, "rds", INT64_C(1704067200000), INT64_C(1704068100000) },
	{ EC_TOKEN, NULL, 0, "elasticache", INT64_C(1704067200000),
	  INT64_C(1704068100000) },
	{ "opaque-token", NULL, -1, NULL, 0, 0 },
	{ JWT_NO_EXP, NULL, -1, NULL, 0, 0 },
	{ "a.b!.c", NULL, -1, NULL, 0, 0 },
	{ JWT, "expires:soon", -1, NULL, 0, 0 },
	{ "two words", "expires:1", -1, NULL, 0, 0 },
	{ "", NULL, -1, NULL, 0, 0 },
};

START_TEST(test_value_decode)
{
	struct store_ssm_record r;
	struct err e = { 0 };
	int rc = store_ssm_record_decode_value(value_cases[_i].value,
	                                       value_cases[_i].description, &r, &e);

	ck_assert_msg(rc == value_cases[_i].rc, "case %d: rc %d (%s)", _i, rc, e.msg);
	if (rc == 0) {
		ck_assert_str_eq(r.token, value_cases[_i].value);
		ck_assert_str_eq(r.type, value_cases[_i].type);
		ck_assert_int_eq(r.issued_at_ms, value_cases[_i].issued_ms);
		ck_assert_int_eq(r.expires_at_ms, value_cases[_i].expires_ms);
		ck_assert_str_eq(r.token_type,
		                 strcmp(r.type, "oauth2") == 0 ? "Bearer" : "");
	}
	store_ssm_record_clear(&r);
}
END_TEST

START_TEST(test_description)
{
	char d[40];

	store_ssm_record_description(INT64_C(1900000000500), d, sizeof(d));
	ck_assert_str_eq(d, "expires:1900000000500");
}
END_TEST

#define MIN 60000
/* A 30-minute token: refresh_before 10 min, jitter 3 min, min_remaining 60 s. */
static const struct token_timing timing30 = { 10 * MIN, 3 * MIN, MIN };

static const struct {
	const char *what;
	const char *rec_type;
	enum token_type type;
	int64_t left_ms, held_left_ms; /* from now; held 0: start-up */
	enum store_ssm_verdict want;
} judge_cases[] = {
	{ "start-up, fresh", "oauth2", TOKEN_TYPE_OAUTH2, 29 * MIN, 0, STORE_SSM_ADOPT },
	{ "start-up, auth0 reads oauth2", "oauth2", TOKEN_TYPE_AUTH0, 29 * MIN, 0,
	  STORE_SSM_ADOPT },
	{ "start-up, inside refresh window", "oauth2", TOKEN_TYPE_OAUTH2, 5 * MIN, 0,
	  STORE_SSM_ADOPT },
	{ "start-up, just above min_remaining", "rds", TOKEN_TYPE_RDS, MIN + 1, 0,
	  STORE_SSM_ADOPT },
	{ "start-up, at min_remaining", "rds", TOKEN_TYPE_RDS, MIN, 0,
	  STORE_SSM_EXPIRED },
	{ "start-up, expired", "rds", TOKEN_TYPE_RDS, -MIN, 0, STORE_SSM_EXPIRED },
	{ "wrong type", "rds", TOKEN_TYPE_ELASTICACHE, 29 * MIN, 0,
	  STORE_SSM_WRONG_TYPE },
	{ "wrong type on refresh", "oauth2", TOKEN_TYPE_RDS, 29 * MIN, 8 * MIN,
	  STORE_SSM_WRONG_TYPE },
	{ "refresh, another instance wrote a new one", "oauth2", TOKEN_TYPE_OAUTH2,
	  29 * MIN, 9 * MIN, STORE_SSM_ADOPT },
	{ "refresh, our own value again", "oauth2", TOKEN_TYPE_OAUTH2, 9 * MIN, 9 * MIN,
	  STORE_SSM_STALE },
	{ "refresh, older than ours", "oauth2", TOKEN_TYPE_OAUTH2, 8 * MIN, 9 * MIN,
	  STORE_SSM_STALE },
	{ "refresh, later but in its refresh window", "oauth2", TOKEN_TYPE_OAUTH2,
	  12 * MIN, 9 * MIN, STORE_SSM_STALE },
	{ "refresh, later and just past the window", "oauth2", TOKEN_TYPE_OAUTH2,
	  13 * MIN + 1, 9 * MIN, STORE_SSM_ADOPT },
	{ "refresh, ours expired, the stored one too", "oauth2", TOKEN_TYPE_OAUTH2, 0,
	  -MIN, STORE_SSM_EXPIRED },
};

START_TEST(test_judge)
{
	const int64_t now = INT64_C(1800000000000);
	struct store_ssm_record r = { 0 };
	int64_t held =
	        judge_cases[_i].held_left_ms ? now + judge_cases[_i].held_left_ms : 0;
	enum store_ssm_verdict v;

	strcpy(r.type, judge_cases[_i].rec_type);
	r.expires_at_ms = now + judge_cases[_i].left_ms;
	r.issued_at_ms = r.expires_at_ms - 30 * MIN;
	v = store_ssm_record_judge(&r, judge_cases[_i].type, now, held, &timing30);
	ck_assert_msg(v == judge_cases[_i].want, "%s: verdict %d", judge_cases[_i].what,
	              (int)v);
}
END_TEST

START_TEST(test_lock)
{
	struct store_ssm_lock in = { .owner = "host-a/42",
		                     .nonce = "00ff",
		                     .until_s = 1800000000 };
	char *v = store_ssm_record_lock_encode(&in);
	struct store_ssm_lock l;
	struct err e = { 0 };

	ck_assert_str_eq(
	        v, "{\"owner\":\"host-a/42\",\"nonce\":\"00ff\",\"until\":1800000000}");
	ck_assert_int_eq(store_ssm_record_lock_decode(v, &l, &e), 0);
	ck_assert_str_eq(l.owner, "host-a/42");
	ck_assert_str_eq(l.nonce, "00ff");
	ck_assert_int_eq(l.until_s, 1800000000);
	secret_free_str(v);
	ck_assert_int_eq(store_ssm_record_lock_decode("{\"until\":1.8E9}", &l, &e), 0);
	ck_assert_int_eq(l.until_s, 1800000000);
	ck_assert_str_eq(l.owner, "");
	ck_assert_str_eq(l.nonce, "");
	ck_assert_int_eq(store_ssm_record_lock_decode("{\"owner\":\"x\"}", &l, &e), -1);
	ck_assert_int_eq(e.code, ERR_PARSE);
	ck_assert_int_eq(store_ssm_record_lock_decode("garbage", &l, &e), -1);
}
END_TEST

/* 2026-11-30T23:59:59Z and one second later. */
#define NOV_END INT64_C(1796083199000)
#define DEC_1   INT64_C(1796083200000)

static const struct {
	const char *seen_month;
	int64_t seen_count, now_ms;
	const char *want_month;
	int64_t want_count;
} mint_cases[] = {
	{ "", 0, NOV_END, "2026-11", 1 },       { "2026-11", 41, NOV_END, "2026-11", 42 },
	{ "2026-11", 41, DEC_1, "2026-12", 1 }, { "2026-10", 999, NOV_END, "2026-11", 1 },
	{ "2027-01", 5, DEC_1, "2026-12", 1 }, /* a writer with a clock ahead */
};

START_TEST(test_mints)
{
	struct store_ssm_mints seen = { "", mint_cases[_i].seen_count }, out;

	strcpy(seen.month, mint_cases[_i].seen_month);
	store_ssm_record_mints_next(&seen, mint_cases[_i].now_ms, &out);
	ck_assert_str_eq(out.month, mint_cases[_i].want_month);
	ck_assert_int_eq(out.count, mint_cases[_i].want_count);
	ck_assert_int_eq(store_ssm_record_mints_now(&out, mint_cases[_i].now_ms),
	                 mint_cases[_i].want_count);
}
END_TEST

START_TEST(test_month)
{
	char m[STORE_SSM_MONTH_LEN];

	store_ssm_record_month(NOV_END, m);
	ck_assert_str_eq(m, "2026-11");
	store_ssm_record_month(DEC_1, m);
	ck_assert_str_eq(m, "2026-12");
	store_ssm_record_month(0, m);
	ck_assert_str_eq(m, "1970-01");
}
END_TEST

static const struct {
	const char *tier;
	size_t len;
	int rc;
	const char *in_msg;
} size_cases[] = {
	{ "Standard", 4096, 0, NULL },
	{ "Standard", 4097, -1, "set ssm_tier = Advanced" },
	{ "Advanced", 4097, 0, NULL },
	{ "Advanced", 8192, 0, NULL },
	{ "Advanced", 8193, -1, "Advanced tier's 8192" },
};

START_TEST(test_size)
{
	struct err e = { 0 };
	int rc = store_ssm_record_check_size("/p", size_cases[_i].tier,
	                                     size_cases[_i].len, &e);

	ck_assert_int_eq(rc, size_cases[_i].rc);
	if (rc == -1) {
		ck_assert_int_eq(e.code, ERR_TOOBIG);
		ck_assert_ptr_nonnull(strstr(e.msg, size_cases[_i].in_msg));
		ck_assert_ptr_nonnull(strstr(e.msg, "/p"));
	}
}
END_TEST

static const struct {
	const char *value, *key;
	enum err_code err;
	const char *want;
} secret_cases[] = {
	{ "{\"AUTH0_CLIENT_SECRET\":\"s3\",\"OTHER\":\"x\"}", "AUTH0_CLIENT_SECRET",
	  ERR_OK, "s3" },
	{ "plain secret", NULL, ERR_OK, "plain secret" },
	{ "{\"a\":\"b\"}", NULL, ERR_OK, "{\"a\":\"b\"}" },
	{ "{\"OTHER\":\"x\"}", "AUTH0_CLIENT_SECRET", ERR_NOTFOUND, NULL },
	{ "{\"K\":42}", "K", ERR_NOTFOUND, NULL },
	{ "not json", "K", ERR_PARSE, NULL },
	{ "[\"K\"]", "K", ERR_PARSE, NULL },
};

START_TEST(test_secret_value)
{
	struct err e = { 0 };
	struct secret *s =
	        store_ssm_secrets_value(secret_cases[_i].value, secret_cases[_i].key, &e);

	if (secret_cases[_i].want == NULL) {
		ck_assert_ptr_null(s);
		ck_assert_int_eq(e.code, secret_cases[_i].err);
		ck_assert_ptr_nonnull(strstr(e.msg, secret_cases[_i].key));
	} else {
		ck_assert_ptr_nonnull(s);
		ck_assert_str_eq(s->data, secret_cases[_i].want);
	}
	secret_unref(s);
}
END_TEST

/* A 30 s value: refresh_before 10 s, jitter 3 s, min_remaining 3 s. */
static const struct deadline_case {
	int64_t now, held_exp, cold_wait, timeout, want;
} deadline_cases[] = {
	{ 1000, 0, 8000, 10000, 8000 },       /* cold: ssm_cold_wait */
	{ 17000, 30000, 8000, 10000, 6667 },  /* 10 s left: a third kept back */
	{ 25500, 30000, 8000, 10000, 500 },   /* 1.5 s left: 1 s kept back */
	{ 26500, 30000, 8000, 10000, 0 },     /* 0.5 s left: under the reserve */
	{ 40000, 30000, 8000, 10000, 0 },     /* past: now */
	{ 0, 3600000, 8000, 10000, 3587000 }, /* 1 h: request_timeout kept back */
};

START_TEST(test_pace_deadline)
{
	const struct deadline_case *c = &deadline_cases[_i];

	ck_assert_int_eq(store_ssm_pace_deadline(c->now, c->held_exp, 3000, c->cold_wait,
	                                         c->timeout),
	                 c->want);
}
END_TEST

static struct store_ssm_pace_turn
turn_at(int64_t now, bool leader, bool known)
{
	struct store_ssm_pace_turn t = {
		.now_ms = now,
		.held_exp_ms = 30000,
		.t = { .refresh_before_ms = 10000,
		       .jitter_ms = 3000,
		       .min_remaining_ms = 3000 },
		.leader = leader,
		.leader_known = known,
	};

	t.deadline_in_ms = store_ssm_pace_deadline(now, 30000, 3000, 8000, 10000);
	return t;
}

START_TEST(test_pace_first_read)
{
	/* The refresh timer fires at 17 s; the deadline is 23.67 s. */
	struct store_ssm_pace_turn t = turn_at(17000, false, true);
	int64_t lo = store_ssm_pace_first_read(&t, 0);
	int64_t hi = store_ssm_pace_first_read(&t, UINT32_MAX);
	int64_t mid = store_ssm_pace_first_read(&t, UINT32_MAX / 2);

	/* Followers: after the leader's second, up to a second before the
	 * deadline, spread evenly. */
	ck_assert_int_eq(lo, 1000);
	ck_assert_int_eq(hi, 6667 - 1000);
	ck_assert_int_ge(mid, (lo + hi) / 2 - 1);
	ck_assert_int_le(mid, (lo + hi) / 2 + 1);
	/* The leader, and a fleet whose value names no writer, start now. */
	t = turn_at(17000, true, true);
	ck_assert_int_eq(store_ssm_pace_first_read(&t, UINT32_MAX), 0);
	t = turn_at(17000, false, false);
	ck_assert_int_eq(store_ssm_pace_first_read(&t, 0), 0);
	ck_assert_int_eq(store_ssm_pace_first_read(&t, UINT32_MAX), 5667);
	/* Nothing held: now. */
	t = turn_at(17000, false, true);
	t.held_exp_ms = 0;
	ck_assert_int_eq(store_ssm_pace_first_read(&t, UINT32_MAX), 0);
	/* Late (a retry after a failure): what is left of the window. */
	t = turn_at(21000, false, true);
	ck_assert_int_ge(store_ssm_pace_first_read(&t, 0), 0);
	ck_assert_int_le(store_ssm_pace_first_read(&t, UINT32_MAX),
	                 t.deadline_in_ms - STORE_SSM_PACE_MARGIN_MS);
	/* Past the window: now. */
	t = turn_at(25000, false, true);
	ck_assert_int_eq(store_ssm_pace_first_read(&t, UINT32_MAX), 0);
}
END_TEST

START_TEST(test_pace_settle_shrinks)
{
	/* A window of 2 s: the leader's turn is a quarter of it, not 1 s. */
	struct store_ssm_pace_turn t = turn_at(17000, false, true);

	t.deadline_in_ms = 3000;
	ck_assert_int_eq(store_ssm_pace_first_read(&t, 0), 500);
	ck_assert_int_eq(store_ssm_pace_first_read(&t, UINT32_MAX), 2000);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("store_ssm");
	TCase *tc = tcase_create("record");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_json_roundtrip);
	tcase_add_loop_test(tc, test_json_decode, 0, N(decode_cases));
	tcase_add_loop_test(tc, test_value_decode, 0, N(value_cases));
	tcase_add_test(tc, test_description);
	tcase_add_loop_test(tc, test_judge, 0, N(judge_cases));
	tcase_add_test(tc, test_lock);
	tcase_add_loop_test(tc, test_mints, 0, N(mint_cases));
	tcase_add_test(tc, test_month);
	tcase_add_loop_test(tc, test_size, 0, N(size_cases));
	tcase_add_loop_test(tc, test_secret_value, 0, N(secret_cases));
	tcase_add_loop_test(tc, test_pace_deadline, 0, N(deadline_cases));
	tcase_add_test(tc, test_pace_first_read);
	tcase_add_test(tc, test_pace_settle_shrinks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
