/* check_metrics.c - label escaping by table, and the text metrics_write
 * makes of a daemon with two tokens and nothing else (no AWS, no SSM, no
 * server): which series appear, with which values, and which do not. */
#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "metrics.h"
#include "secret.h"
#include "timeutil.h"
#include "token.h"

int main(void);

struct escape_case {
	const char *in, *want;
};

static const struct escape_case escape_cases[] = {
	{ "", "" },
	{ "orders-db", "orders-db" },
	{ "say \"hi\"", "say \\\"hi\\\"" },
	{ "C:\\path", "C:\\\\path" },
	{ "two\nlines", "two\\nlines" },
	{ "\"\\\n", "\\\"\\\\\\n" },
	{ "tab\tstays", "tab\tstays" },
};

static char *
drain(struct evbuffer *b)
{
	size_t len = evbuffer_get_length(b);
	char *s = malloc(len + 1);

	ck_assert_ptr_nonnull(s);
	evbuffer_remove(b, s, len);
	s[len] = '\0';
	return s;
}

START_TEST(test_escape)
{
	const struct escape_case *c = &escape_cases[_i];
	struct evbuffer *b = evbuffer_new();
	char *got;

	metrics_escape(b, c->in);
	got = drain(b);
	ck_assert_str_eq(got, c->want);
	free(got);
	evbuffer_free(b);
}
END_TEST

static int
idle_start(void *impl, token_fetch_done_fn *done, void *arg)
{
	(void)impl, (void)done, (void)arg;
	return -1;
}

static void
idle_noop(void *impl)
{
	(void)impl;
}

static const struct token_source_ops idle_ops = {
	.name = "idle",
	.start_fetch = idle_start,
	.cancel = idle_noop,
	.free = idle_noop,
};

/* Lines that must be in the text, whole. */
static const char *const present[] = {
	"# HELP tokend_build_info ",
	"# TYPE tokend_build_info gauge\n",
	"tokend_build_info{version=\"" PACKAGE_VERSION "\"} 1\n",
	"tokend_ready 0\n",
	"tokend_reloads_total{result=\"ok\"} 2\n",
	"tokend_reloads_total{result=\"failed\"} 1\n",
	"# TYPE tokend_token_refreshes_total counter\n",
	"tokend_token_state{token=\"we\\\"ird\",state=\"empty\"} 0\n",
	"tokend_token_state{token=\"we\\\"ird\",state=\"retrying\"} 1\n",
	"tokend_token_state{token=\"db\",state=\"valid\"} 1\n",
	"tokend_token_version{token=\"we\\\"ird\"} 0\n",
	"tokend_token_version{token=\"db\"} 3\n",
	"tokend_token_refreshes_total{token=\"we\\\"ird\",source=\"issuer\"} 0\n",
	"tokend_token_refreshes_total{token=\"db\",source=\"signer\"} 3\n",
	"tokend_token_failures_total{token=\"we\\\"ird\",reason=\"http\"} 2\n",
	"tokend_token_failures_total{token=\"we\\\"ird\",reason=\"timeout\"} 1\n",
	/* Every reason from the start, at 0 until it happens. */
	"tokend_token_failures_total{token=\"we\\\"ird\",reason=\"auth\"} 0\n",
	"tokend_token_failures_total{token=\"db\",reason=\"http\"} 0\n",
	/* No value: expiry 0, so `expiry - time() < 60` alerts on it too. */
	"tokend_token_expiry_timestamp_seconds{token=\"we\\\"ird\"} 0.000\n",
	"tokend_issuer_calls_total{token=\"we\\\"ird\",result=\"ok\"} 0\n",
	"tokend_issuer_calls_total{token=\"we\\\"ird\",result=\"failed\"} 3\n",
};

/* Text that must not be there: no value, no issuer, no AWS, no server. */
static const char *const absent[] = {
	"tokend_token_expiry_seconds",
	"source=\"ssm\"",
	"tokend_token_refreshes_total{token=\"db\",source=\"issuer\"}",
	"tokend_issuer_calls_total{token=\"db\"",
	"reason=\"ok\"",
	"tokend_ssm_calls_total",
	"tokend_clock_skew_seconds",
	"tokend_aws_credentials_expiry",
	"tokend_api_requests_total",
};

START_TEST(test_write_tokens)
{
	struct event_base *base = event_base_new();
	struct token_def odef = { .name = "we\"ird", .type = TOKEN_TYPE_OAUTH2 };
	struct token_def rdef = { .name = "db", .type = TOKEN_TYPE_RDS };
	struct token_source src = { &idle_ops, NULL };
	struct daemon d = { .base = base, .reloads_ok = 2, .reloads_failed = 1 };
	struct evbuffer *out = evbuffer_new();
	struct token *o, *r;
	char *text, *expiry;
	long secs, now_s;

	d.tokens = token_table_new(base);
	o = token_table_add(d.tokens, &odef, src);
	r = token_table_add(d.tokens, &rdef, src);
	/* As token.c would leave them after two failures and three values. */
	o->state = TOKEN_RETRYING;
	o->failures = 3;
	o->failures_by_code[ERR_HTTP] = 2;
	o->failures_by_code[ERR_TIMEOUT] = 1;
	r->state = TOKEN_VALID;
	r->version = 3;
	r->values_by_origin[TOKEN_ORIGIN_SIGNER] = 3;
	r->value = secret_new_str("not-a-real-token");
	r->expires_at_ms = timeutil_wall_ms() + 900 * 1000;

	metrics_write(out, NULL, NULL, &d);
	text = drain(out);
	for (size_t i = 0; i < sizeof(present) / sizeof(present[0]); i++) {
		/* The whole text is too long for a check message. */
		if (strstr(text, present[i]) == NULL)
			fprintf(stderr, "%s", text);
		ck_assert_msg(strstr(text, present[i]) != NULL, "missing %s", present[i]);
	}
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		ck_assert_msg(strstr(text, absent[i]) == NULL, "unexpected %s",
		              absent[i]);
	ck_assert_ptr_null(strstr(text, "not-a-real-token"));
	expiry = strstr(text, "tokend_token_expiry_timestamp_seconds{token=\"db\"} ");
	ck_assert_ptr_nonnull(expiry);
	secs = strtol(
	        expiry + strlen("tokend_token_expiry_timestamp_seconds{token=\"db\"} "),
	        NULL, 10);
	now_s = (long)(timeutil_wall_ms() / 1000);
	ck_assert_int_ge(secs, now_s + 895);
	ck_assert_int_le(secs, now_s + 900);

	free(text);
	evbuffer_free(out);
	token_table_free(d.tokens);
	event_base_free(base);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("text");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_escape, 0,
	                    (int)(sizeof(escape_cases) / sizeof(escape_cases[0])));
	tcase_add_test(tc, test_write_tokens);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
