/* check_config.c - tokend.conf: every key and every default as parsed,
 * durations, token names, comparing token definitions and whether AWS is
 * needed. Refused configurations are in check_config_errors.c; files,
 * secret references and the shipped example in check_config_files.c. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_texts.h"
#include "secret.h"

/* Per-test state, set up and torn down by the checked fixture. */
static struct config *cfg;
static struct err err;

static void
setup(void)
{
	cfg = NULL;
	memset(&err, 0, sizeof(err));
}

static void
teardown(void)
{
	config_free(cfg);
	cfg = NULL;
}

static int
load(const char *text)
{
	return config_load_string(text, "t.conf", &cfg, &err);
}

/* A field of the first token or of [daemon]/[aws] as text, so that one
 * table can say where each value must land. */
static const char *
field(const struct config *c, const char *name, char *b, size_t n)
{
	const struct config_daemon *d = &c->daemon;
	const struct token_def *t = c->ntokens > 0 ? c->tokens[0] : NULL;
	const char *s = NULL;
	int64_t v = 0;
	bool num = true;

#define STR(key, expr)                                                                   \
	if (strcmp(name, key) == 0) {                                                    \
		s = (expr);                                                              \
		num = false;                                                             \
	} else
#define NUM(key, expr)                                                                   \
	if (strcmp(name, key) == 0) {                                                    \
		v = (int64_t)(expr);                                                     \
	} else
	STR("socket", d->socket_path)
	NUM("socket_mode_octal", d->socket_mode)
	STR("socket_group", d->socket_group)
	NUM("socket_gid", d->socket_gid)
	NUM("log_format", d->log_format)
	NUM("log_level", d->log_level)
	NUM("startup_timeout", d->startup_timeout_ms)
	NUM("max_connections", d->max_connections)
	NUM("idle_timeout", d->idle_timeout_ms)
	NUM("max_header_size", d->max_header_size)
	NUM("max_body_size", d->max_body_size)
	NUM("n_admin_uids", d->n_admin_uids)
	NUM("admin_uid0", d->n_admin_uids > 0 ? (int64_t)d->admin_uids[0] : -1)
	NUM("admin_uid1", d->n_admin_uids > 1 ? (int64_t)d->admin_uids[1] : -1)
	STR("aws.region", c->aws.region)
	NUM("aws.credentials", c->aws.credentials)
	STR("aws.profile", c->aws.profile)
	NUM("ntokens", c->ntokens)
	STR("name", t->name)
	NUM("type", t->type)
	NUM("line", t->line)
	STR("token_url", t->token_url)
	STR("domain", t->domain)
	STR("client_id", t->client_id)
	STR("secret.ref", t->client_secret.ref)
	STR("secret.value", t->client_secret.value ? t->client_secret.value->data : NULL)
	STR("secret.ssm_name", t->client_secret.ssm_name)
	STR("secret.ssm_key", t->client_secret.ssm_key)
	NUM("secret.line", t->client_secret.line)
	NUM("client_auth", t->client_auth)
	NUM("request_format", t->request_format)
	STR("audience", t->audience)
	STR("scope", t->scope)
	STR("host", t->host)
	NUM("port", t->port)
	STR("user", t->user)
	STR("region", t->region)
	STR("cache", t->cache)
	NUM("serverless", t->serverless)
	NUM("refresh_before", t->refresh_before_ms)
	NUM("jitter", t->jitter_ms)
	NUM("min_remaining", t->min_remaining_ms)
	NUM("request_timeout", t->request_timeout_ms)
	STR("ssm_parameter", t->ssm_parameter)
	STR("ssm_type", t->ssm_type)
	STR("ssm_kms_key_id", t->ssm_kms_key_id)
	STR("ssm_tier", t->ssm_tier)
	NUM("ssm_format", t->ssm_format)
	NUM("coordinate", t->coordinate)
	NUM("issuer_budget", t->issuer_budget)
	NUM("n_allow_uids", t->n_allow_uids)
	NUM("allow_uid0", t->n_allow_uids > 0 ? (int64_t)t->allow_uids[0] : -1)
	NUM("n_allow_gids", t->n_allow_gids)
	NUM("allow_gid0", t->n_allow_gids > 0 ? (int64_t)t->allow_gids[0] : -1)
	ck_abort_msg("no field %s in the test", name);
#undef STR
#undef NUM
	if (!num)
		return s != NULL ? s : "(null)";
	if (strcmp(name, "socket_mode_octal") == 0)
		snprintf(b, n, "%" PRIo64, v);
	else
		snprintf(b, n, "%" PRId64, v);
	return b;
}

static const struct {
	const char *text;
	const char *field;
	const char *want;
} valid_cases[] = {
	/* [daemon] defaults */
	{ "", "socket", "/run/tokend/tokend.sock" },
	{ "", "socket_mode_octal", "660" },
	{ "", "socket_group", "(null)" },
	{ "", "log_format", "0" },
	{ "", "log_level", "6" },
	{ "", "startup_timeout", "30000" },
	{ "", "max_connections", "1024" },
	{ "", "idle_timeout", "60000" },
	{ "", "max_header_size", "8192" },
	{ "", "max_body_size", "1024" },
	{ "", "n_admin_uids", "0" },
	{ "", "aws.region", "(null)" },
	{ "", "aws.credentials", "0" },
	{ "", "aws.profile", "(null)" },
	{ "", "ntokens", "0" },
	{ "; only a comment\n# another\n\n", "ntokens", "0" },
	/* [daemon] keys */
	{ D "socket = /tmp/t.sock\n", "socket", "/tmp/t.sock" },
	{ D "socket_mode = 0600\n", "socket_mode_octal", "600" },
	{ D "socket_mode = 755\n", "socket_mode_octal", "755" },
	{ D "socket_group = root\n", "socket_group", "root" },
	{ D "socket_group = root\n", "socket_gid", "0" },
	{ D "socket_group = 0\n", "socket_gid", "0" },
	{ D "socket_group = none\n", "socket_group", "(null)" },
	{ D "log_format = json\n", "log_format", "1" },
	{ D "log_format = JSON\n", "log_format", "1" },
	{ D "log_format = text\n", "log_format", "0" },
	{ D "log_level = error\n", "log_level", "3" },
	{ D "log_level = warn\n", "log_level", "4" },
	{ D "log_level = notice\n", "log_level", "5" },
	{ D "log_level = debug ; inline comment\n", "log_level", "7" },
	{ D "startup_timeout = 0\n", "startup_timeout", "0" },
	{ D "startup_timeout = 2m\n", "startup_timeout", "120000" },
	{ D "max_connections = 1\n", "max_connections", "1" },
	{ D "max_connections = 65536\n", "max_connections", "65536" },
	{ D "idle_timeout = 1500ms\n", "idle_timeout", "1500" },
	{ D "max_header_size = 1024\n", "max_header_size", "1024" },
	{ D "max_header_size = 1048576\n", "max_header_size", "1048576" },
	{ D "max_body_size = 0\n", "max_body_size", "0" },
	{ D "admin_uids = root, 1000\n", "n_admin_uids", "2" },
	{ D "admin_uids = root, 1000\n", "admin_uid0", "0" },
	{ D "admin_uids = root 1000\n", "admin_uid1", "1000" },
	/* [aws] */
	{ A "region = us-west-2\n", "aws.region", "us-west-2" },
	{ A "credentials = chain\n", "aws.credentials", "0" },
	{ A "credentials = env\n", "aws.credentials", "1" },
	{ A "credentials = profile:dev\n", "aws.credentials", "2" },
	{ A "credentials = profile:dev\n", "aws.profile", "dev" },
	{ A "credentials = web_identity\n", "aws.credentials", "3" },
	{ A "credentials = ecs\n", "aws.credentials", "4" },
	{ A "credentials = imds\n", "aws.credentials", "5" },
	/* oauth2 and its defaults */
	{ OAUTH, "ntokens", "1" },
	{ OAUTH, "name", "t" },
	{ OAUTH, "type", "0" },
	{ OAUTH, "line", "1" },
	{ OAUTH, "token_url", "https://issuer.example/oauth/token" },
	{ OAUTH, "client_id", "id" },
	{ OAUTH, "secret.ref", "literal" },
	{ OAUTH, "secret.value", "s3cret" },
	{ OAUTH, "secret.line", "5" },
	{ OAUTH, "client_auth", "0" },
	{ OAUTH, "request_format", "0" },
	{ OAUTH, "audience", "(null)" },
	{ OAUTH, "port", "0" },
	{ OAUTH, "refresh_before", "-1" },
	{ OAUTH, "jitter", "-1" },
	{ OAUTH, "min_remaining", "-1" },
	{ OAUTH, "request_timeout", "10000" },
	{ OAUTH, "ssm_parameter", "(null)" },
	{ OAUTH, "ssm_type", "SecureString" },
	{ OAUTH, "ssm_tier", "Standard" },
	{ OAUTH, "ssm_format", "0" },
	{ OAUTH, "coordinate", "0" },
	{ OAUTH, "issuer_budget", "0" },
	{ OAUTH, "n_allow_uids", "0" },
	{ OAUTH, "n_allow_gids", "0" },
	{ OAUTH "client_auth = client_secret_basic\n", "client_auth", "1" },
	{ OAUTH "client_auth = client_secret_post\n", "client_auth", "0" },
	{ OAUTH "request_format = json\n", "request_format", "1" },
	{ OAUTH "audience = https://api.example/\n", "audience", "https://api.example/" },
	{ OAUTH "scope = read:a write:b\n", "scope", "read:a write:b" },
	{ OAUTH "refresh_before = 2h\n", "refresh_before", "7200000" },
	{ OAUTH "jitter = 5m\n", "jitter", "300000" },
	{ OAUTH "min_remaining = 60\n", "min_remaining", "60000" },
	{ OAUTH "min_remaining = 0\n", "min_remaining", "0" },
	{ OAUTH "request_timeout = 500ms\n", "request_timeout", "500" },
	{ OAUTH "ssm_parameter = /app/dev/tok_1.x-y\n", "ssm_parameter",
	  "/app/dev/tok_1.x-y" },
	{ OAUTH "ssm_type = String\n", "ssm_type", "String" },
	{ OAUTH "ssm_type = securestring\n", "ssm_type", "SecureString" },
	{ OAUTH "ssm_kms_key_id = alias/tokend\n", "ssm_kms_key_id", "alias/tokend" },
	{ OAUTH "ssm_tier = Advanced\n", "ssm_tier", "Advanced" },
	{ OAUTH "ssm_format = value\n", "ssm_format", "1" },
	{ OAUTH "coordinate = none\n", "coordinate", "1" },
	{ OAUTH "coordinate = ssm-lock\n", "coordinate", "0" },
	{ OAUTH "issuer_budget = 100\n", "issuer_budget", "100" },
	{ OAUTH "allow_uids = root\n", "n_allow_uids", "1" },
	{ OAUTH "allow_uids = root\n", "allow_uid0", "0" },
	{ OAUTH "allow_gids = root, 0\n", "n_allow_gids", "2" },
	{ OAUTH "allow_gids = 4242\n", "allow_gid0", "4242" },
	/* http:// only to loopback */
	{ "[token \"t\"]\ntype = oauth2\ntoken_url = http://127.0.0.1:8080/token\n"
	  "client_id = i\nclient_secret = s\n",
	  "token_url", "http://127.0.0.1:8080/token" },
	{ "[token \"t\"]\ntype = oauth2\ntoken_url = http://localhost/t\n"
	  "client_id = i\nclient_secret = s\n",
	  "token_url", "http://localhost/t" },
	{ "[token \"t\"]\ntype = oauth2\ntoken_url = http://[::1]:9000/t\n"
	  "client_id = i\nclient_secret = s\n",
	  "token_url", "http://[::1]:9000/t" },
	/* type may come last */
	{ "[token \"t\"]\nclient_id = i\ntoken_url = https://i.example/t\n"
	  "client_secret = s\ntype = oauth2\n",
	  "type", "0" },
	/* ssm: references are kept for run time */
	{ "[token \"t\"]\ntype = oauth2\ntoken_url = https://i.example/t\nclient_id = i\n"
	  "client_secret = ssm:/app/dev/secrets#AUTH0_SECRET\n",
	  "secret.ssm_name", "/app/dev/secrets" },
	{ "[token \"t\"]\ntype = oauth2\ntoken_url = https://i.example/t\nclient_id = i\n"
	  "client_secret = ssm:/app/dev/secrets#AUTH0_SECRET\n",
	  "secret.ssm_key", "AUTH0_SECRET" },
	{ "[token \"t\"]\ntype = oauth2\ntoken_url = https://i.example/t\nclient_id = i\n"
	  "client_secret = ssm:/app/dev/secrets#AUTH0_SECRET\n",
	  "secret.value", "(null)" },
	{ "[token \"t\"]\ntype = oauth2\ntoken_url = https://i.example/t\nclient_id = i\n"
	  "client_secret = ssm:/app/s\n",
	  "secret.ref", "ssm:/app/s" },
	{ "[token \"t\"]\ntype = oauth2\ntoken_url = https://i.example/t\nclient_id = i\n"
	  "client_secret = ssm:/app/s\n",
	  "secret.ssm_key", "(null)" },
	{ "[token \"t\"]\ntype = oauth2\ntoken_url = https://i.example/t\nclient_id = i\n"
	  "client_secret = a:b=c\n",
	  "secret.value", "a:b=c" },
	/* auth0 */
	{ AUTH0, "type", "1" },
	{ AUTH0, "domain", "example.us.auth0.com" },
	{ AUTH0, "token_url", "https://example.us.auth0.com/oauth/token" },
	{ AUTH0, "request_format", "1" },
	{ AUTH0 "request_format = form\n", "request_format", "0" },
	/* rds */
	{ RDS, "type", "2" },
	{ RDS, "host", "db.example" },
	{ RDS, "user", "iam_app" },
	{ RDS, "port", "5432" },
	{ RDS, "region", "(null)" },
	{ RDS, "client_id", "(null)" },
	{ RDS, "secret.ref", "(null)" },
	{ RDS "port = 3306\n", "port", "3306" },
	{ RDS "region = eu-west-1\n", "region", "eu-west-1" },
	/* elasticache */
	{ EC, "type", "3" },
	{ EC, "cache", "sessions-valkey" },
	{ EC, "user", "app" },
	{ EC, "serverless", "0" },
	{ EC "serverless = true\n", "serverless", "1" },
	{ EC "serverless = YES\n", "serverless", "1" },
	{ EC "serverless = 1\n", "serverless", "1" },
	{ EC "serverless = no\n", "serverless", "0" },
	{ EC "serverless = 0\n", "serverless", "0" },
	{ EC "region = us-east-1\n", "region", "us-east-1" },
	/* names, spacing, BOM, several tokens */
	{ "[token \"a.b-c_9\"]\ntype = rds\nhost = h\nuser = u\n", "name", "a.b-c_9" },
	{ "[token   \"x\"]\ntype = rds\nhost = h\nuser = u\n", "name", "x" },
	{ "\xEF\xBB\xBF[daemon]\nlog_level = debug\n", "log_level", "7" },
	{ "[daemon]\n  log_level = debug\n", "log_level", "7" },
	{ "[daemon]\r\nlog_level = debug\r\n", "log_level", "7" },
	{ RDS "[token \"u\"]\ntype = rds\nhost = h\nuser = u\n", "ntokens", "2" },
	{ D "log_level = warn\n" RDS A "region = us-west-2\n", "aws.region",
	  "us-west-2" },
};

START_TEST(test_valid)
{
	char buf[64];
	int rc = load(valid_cases[_i].text);

	ck_assert_msg(rc == 0, "case %d: %s", _i, err.msg);
	ck_assert_str_eq(field(cfg, valid_cases[_i].field, buf, sizeof(buf)),
	                 valid_cases[_i].want);
}
END_TEST

#define TOK_OAUTH_NO(k) "[token \"t\"]\ntype = oauth2\n" k

static const struct {
	const char *in;
	int rc;
	int64_t ms;
} duration_cases[] = {
	{ "90", 0, 90000 },
	{ "90s", 0, 90000 },
	{ "5m", 0, 300000 },
	{ "2h", 0, 7200000 },
	{ "1500ms", 0, 1500 },
	{ "0", 0, 0 },
	{ "0ms", 0, 0 },
	{ "9223372036854775807ms", 0, INT64_MAX },
	{ "9223372036854775807s", -1, 0 },
	{ "99999999999999999999", -1, 0 },
	{ "", -1, 0 },
	{ "s", -1, 0 },
	{ "5 m", -1, 0 },
	{ " 5m", -1, 0 },
	{ "5M", -1, 0 },
	{ "-5", -1, 0 },
	{ "+5", -1, 0 },
	{ "1.5h", -1, 0 },
	{ "5d", -1, 0 },
	{ "1h30m", -1, 0 },
	{ "5mss", -1, 0 },
};

START_TEST(test_duration)
{
	int64_t ms = -42;
	int rc = config_parse_duration(duration_cases[_i].in, &ms);

	ck_assert_msg(rc == duration_cases[_i].rc, "'%s': rc %d", duration_cases[_i].in,
	              rc);
	ck_assert_int_eq(ms, rc == 0 ? duration_cases[_i].ms : -42);
}
END_TEST

static const struct {
	const char *name;
	bool ok;
} name_cases[] = {
	{ "a", true },        { "orders-db", true }, { "A.b_c-9", true },
	{ LONG65 + 1, true }, { LONG65, false },     { "", false },
	{ "a b", false },     { "a\"b", false },     { "a/b", false },
	{ "é", false },
};

START_TEST(test_token_name)
{
	ck_assert_int_eq(config_valid_token_name(name_cases[_i].name), name_cases[_i].ok);
}
END_TEST

START_TEST(test_type_names)
{
	ck_assert_str_eq(config_token_type_name(TOKEN_TYPE_OAUTH2), "oauth2");
	ck_assert_str_eq(config_token_type_name(TOKEN_TYPE_AUTH0), "auth0");
	ck_assert_str_eq(config_token_type_name(TOKEN_TYPE_RDS), "rds");
	ck_assert_str_eq(config_token_type_name(TOKEN_TYPE_ELASTICACHE), "elasticache");
}
END_TEST

START_TEST(test_find_token)
{
	ck_assert_int_eq(load(RDS "[token \"u\"]\ntype = rds\nhost = h2\nuser = u\n"), 0);
	ck_assert_str_eq(config_find_token(cfg, "u")->host, "h2");
	ck_assert_str_eq(config_find_token(cfg, "t")->host, "db.example");
	ck_assert_ptr_null(config_find_token(cfg, "v"));
}
END_TEST

static const struct {
	const char *a, *b;
	bool equal;
} equal_cases[] = {
	{ OAUTH, OAUTH, true },
	{ OAUTH, OAUTH "refresh_before = 1h\njitter = 1m\nmin_remaining = 2m\n", true },
	{ OAUTH, OAUTH "allow_uids = 0\nallow_gids = 0\nrequest_timeout = 1s\n", true },
	{ OAUTH, OAUTH "issuer_budget = 10\n", true },
	{ OAUTH, OAUTH "scope = read\n", false },
	{ OAUTH, OAUTH "audience = x\n", false },
	{ OAUTH, OAUTH "client_auth = client_secret_basic\n", false },
	{ OAUTH, OAUTH "request_format = json\n", false },
	{ OAUTH, OAUTH "ssm_parameter = /a\n", false },
	{ OAUTH "ssm_parameter = /a\n", OAUTH "ssm_parameter = /a\nssm_format = value\n",
	  false },
	{ OAUTH "ssm_parameter = /a\n", OAUTH "ssm_parameter = /a\ncoordinate = none\n",
	  false },
	{ OAUTH, OAUTH "ssm_tier = Advanced\n", false },
	{ OAUTH, OAUTH "ssm_type = String\n", false },
	{ OAUTH, OAUTH "ssm_kms_key_id = k\n", false },
	{ OAUTH,
	  TOK_OAUTH_NO("token_url = https://issuer.example/oauth/token\nclient_id = id\n"
	               "client_secret = other\n"),
	  false },
	{ OAUTH,
	  TOK_OAUTH_NO("token_url = https://issuer.example/oauth/token\nclient_id = id2\n"
	               "client_secret = s3cret\n"),
	  false },
	{ OAUTH,
	  TOK_OAUTH_NO("token_url = https://issuer.example/v2/token\nclient_id = id\n"
	               "client_secret = s3cret\n"),
	  false },
	{ TOK_OAUTH_NO("token_url = https://i.example/t\nclient_id = i\nclient_secret = "
	               "ssm:/a#k\n"),
	  TOK_OAUTH_NO("token_url = https://i.example/t\nclient_id = i\nclient_secret = "
	               "ssm:/a#j\n"),
	  false },
	{ AUTH0, AUTH0, true },
	{ RDS, RDS, true },
	{ RDS, RDS "port = 5433\n", false },
	{ RDS, RDS "region = eu-west-1\n", false },
	{ RDS, "[token \"t\"]\ntype = rds\nhost = db.example\nuser = other\n", false },
	{ EC, EC "serverless = true\n", false },
	{ RDS, EC, false },
};

START_TEST(test_equal)
{
	struct config *a = NULL, *b = NULL;

	ck_assert_msg(config_load_string(equal_cases[_i].a, "a", &a, &err) == 0, "%s",
	              err.msg);
	ck_assert_msg(config_load_string(equal_cases[_i].b, "b", &b, &err) == 0, "%s",
	              err.msg);
	ck_assert_int_eq(config_token_def_equal(a->tokens[0], b->tokens[0]),
	                 equal_cases[_i].equal);
	ck_assert_int_eq(config_token_def_equal(b->tokens[0], a->tokens[0]),
	                 equal_cases[_i].equal);
	config_free(a);
	config_free(b);
}
END_TEST

static const struct {
	const char *text;
	bool aws;
} aws_cases[] = {
	{ "", false },
	{ OAUTH, false },
	{ AUTH0, false },
	{ RDS, true },
	{ EC, true },
	{ OAUTH "ssm_parameter = /app/t\n", true },
	{ TOK_OAUTH_NO("token_url = https://i.example/t\nclient_id = i\nclient_secret = "
	               "ssm:/s\n"),
	  true },
	{ OAUTH "[token \"u\"]\ntype = rds\nhost = h\nuser = u\n", true },
};

START_TEST(test_needs_aws)
{
	ck_assert_msg(load(aws_cases[_i].text) == 0, "%s", err.msg);
	ck_assert_int_eq(config_needs_aws(cfg), aws_cases[_i].aws);
}
END_TEST

START_TEST(test_free_null)
{
	config_free(NULL);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_valid, 0, N(valid_cases));
	tcase_add_loop_test(tc, test_duration, 0, N(duration_cases));
	tcase_add_loop_test(tc, test_token_name, 0, N(name_cases));
	tcase_add_loop_test(tc, test_equal, 0, N(equal_cases));
	tcase_add_loop_test(tc, test_needs_aws, 0, N(aws_cases));
	tcase_add_test(tc, test_type_names);
	tcase_add_test(tc, test_find_token);
	tcase_add_test(tc, test_free_null);
	suite_add_tcase(s, tc);
	return s;
}

int main(void);

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
