/* check_config_errors.c - tokend.conf: every refused configuration and
 * its exact message (structure, [daemon], [aws], tokens, secret
 * references), and the limit on the number of tokens. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_texts.h"

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

#define LONG108                                                                          \
	"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"     \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 108 bytes: one too many */
#define LONG200                                                                          \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"     \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"     \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TOK_OAUTH_NO(k) "[token \"t\"]\ntype = oauth2\n" k

static const struct {
	const char *text;
	const char *msg;
} error_cases[] = {
	/* structure */
	{ "[bogus]\n", "t.conf:1: unknown section [bogus]" },
	{ "[tokenx]\n", "t.conf:1: unknown section [tokenx]" },
	{ "socket = /x\n", "t.conf:1: key 'socket' is outside any section" },
	{ D "sockt = /x\n", "t.conf:2: unknown key 'sockt' in [daemon]" },
	{ A "foo = 1\n", "t.conf:2: unknown key 'foo' in [aws]" },
	{ A "socket = /x\n", "t.conf:2: unknown key 'socket' in [aws]" },
	{ OAUTH "foo = 1\n", "t.conf:6: unknown key 'foo' in [token \"t\"]" },
	{ D "log_level = info\nlog_level = debug\n",
	  "t.conf:3: duplicate key 'log_level' (first set on line 2)" },
	{ OAUTH "client_id = again\n",
	  "t.conf:6: duplicate key 'client_id' (first set on line 4)" },
	{ D D, "t.conf:2: duplicate section [daemon] (first on line 1)" },
	{ A "\n" A, "t.conf:3: duplicate section [aws] (first on line 1)" },
	{ OAUTH OAUTH, "t.conf:6: duplicate token \"t\" (first defined on line 1)" },
	{ "[token \"a b\"]\n",
	  "t.conf:1: invalid token name \"a b\" (1 to 64 of A-Z a-z 0-9 . _ -)" },
	{ "[token \"\"]\n",
	  "t.conf:1: invalid token name \"\" (1 to 64 of A-Z a-z 0-9 . _ -)" },
	{ "[token \"a/b\"]\n",
	  "t.conf:1: invalid token name \"a/b\" (1 to 64 of A-Z a-z 0-9 . _ -)" },
	{ "[token \"" LONG65 "\"]\n",
	  "t.conf:1: invalid token name \"" LONG65 "\" (1 to 64 of A-Z a-z 0-9 . _ -)" },
	{ "[token x]\n", "t.conf:1: section [token x]: expected [token \"NAME\"]" },
	{ "[token]\n", "t.conf:1: section [token]: expected [token \"NAME\"]" },
	{ "[token\"x\"]\n", "t.conf:1: section [token\"x\"]: expected [token \"NAME\"]" },
	{ "[token \"x\" ]\n",
	  "t.conf:1: section [token \"x\" ]: expected [token \"NAME\"]" },
	{ "[token \"x\"\n", "t.conf:1: section header without ']'" },
	{ D "socket\n", "t.conf:2: syntax error: expected [section] or key = value" },
	{ D "bogus line\nsockt = 1\n",
	  "t.conf:2: syntax error: expected [section] or key = value" },
	{ D "socket =\n", "t.conf:2: key 'socket' has an empty value" },
	{ D "socket = /a\n  log_level = info\n",
	  "t.conf:3: indented line would continue the value above (continuation lines "
	  "are not "
	  "supported)" },
	{ D "socket = /" LONG200 "\n", "t.conf:2: line longer than 198 bytes" },
	{ D "socket = /a\x01z\n", "t.conf:2: socket: control character in value" },
	/* [daemon] values */
	{ D "socket = relative.sock\n",
	  "t.conf:2: socket: 'relative.sock' is not an absolute path" },
	{ D "socket = " LONG108 "\n", "t.conf:2: socket: path longer than 107 bytes" },
	{ D "socket_mode = 0999\n",
	  "t.conf:2: socket_mode: '0999' is not an octal mode like 0660" },
	{ D "socket_mode = rw\n",
	  "t.conf:2: socket_mode: 'rw' is not an octal mode like 0660" },
	{ D "socket_mode = 04755\n",
	  "t.conf:2: socket_mode: 04755 has bits other than permissions (max 0777)" },
	{ D "socket_group = nosuchgroup-tokend\n",
	  "t.conf:2: socket_group: unknown group 'nosuchgroup-tokend'" },
	{ D "log_format = xml\n", "t.conf:2: log_format: expected text|json, got 'xml'" },
	{ D "log_level = loud\n",
	  "t.conf:2: log_level: expected error|warn|notice|info|debug, got 'loud'" },
	{ D "startup_timeout = 5d\n", "t.conf:2: startup_timeout: invalid duration '5d' "
	                              "(use e.g. 90, 90s, 5m, 2h, 500ms)" },
	{ D "startup_timeout = -1\n", "t.conf:2: startup_timeout: invalid duration '-1' "
	                              "(use e.g. 90, 90s, 5m, 2h, 500ms)" },
	{ D "startup_timeout = 9000h\n",
	  "t.conf:2: startup_timeout: 9000h is out of range" },
	{ D "idle_timeout = 0\n", "t.conf:2: idle_timeout: 0 is out of range" },
	{ D "max_connections = 0\n",
	  "t.conf:2: max_connections: 0 is out of range (1..65536)" },
	{ D "max_connections = 65537\n",
	  "t.conf:2: max_connections: 65537 is out of range (1..65536)" },
	{ D "max_connections = ten\n",
	  "t.conf:2: max_connections: 'ten' is not a number" },
	{ D "max_connections = 1e3\n",
	  "t.conf:2: max_connections: '1e3' is not a number" },
	{ D "max_connections = 99999999999999999999\n",
	  "t.conf:2: max_connections: '99999999999999999999' is not a number" },
	{ D "max_header_size = 1023\n",
	  "t.conf:2: max_header_size: 1023 is out of range (1024..1048576)" },
	{ D "max_body_size = 1048577\n",
	  "t.conf:2: max_body_size: 1048577 is out of range (0..1048576)" },
	{ D "admin_uids = root, nosuchuser-tokend\n",
	  "t.conf:2: admin_uids: unknown user 'nosuchuser-tokend'" },
	{ D "admin_uids = ,\n", "t.conf:2: admin_uids: no users listed" },
	/* [aws] values */
	{ A "region = US_WEST\n", "t.conf:2: region: 'US_WEST' is not a valid region" },
	{ A "credentials = magic\n", "t.conf:2: credentials: expected "
	                             "chain|env|profile:NAME|web_identity|ecs|imds, got "
	                             "'magic'" },
	{ A "credentials = profile:\n",
	  "t.conf:2: credentials: profile: needs a profile name" },
	/* whole tokens */
	{ "[token \"t\"]\n", "t.conf:1: token \"t\": missing required key 'type'" },
	{ "[token \"t\"]\nclient_id = x\n" D,
	  "t.conf:1: token \"t\": missing required key 'type'" },
	{ "[token \"t\"]\ntype = jwt\n",
	  "t.conf:2: type: expected oauth2|auth0|rds|elasticache, got 'jwt'" },
	{ TOK_OAUTH_NO("client_id = i\nclient_secret = s\n"),
	  "t.conf:1: token \"t\": missing required key 'token_url' (or 'issuer' to "
	  "discover it)" },
	{ TOK_OAUTH_NO("token_url = https://i.example/t\nclient_secret = s\n"),
	  "t.conf:1: token \"t\": missing required key 'client_id'" },
	{ TOK_OAUTH_NO("token_url = https://i.example/t\nclient_id = i\n") D,
	  "t.conf:1: token \"t\": missing required key 'client_secret'" },
	{ "[token \"t\"]\ntype = auth0\nclient_id = i\nclient_secret = s\n",
	  "t.conf:1: token \"t\": missing required key 'domain'" },
	{ "[token \"t\"]\ntype = rds\nuser = u\n",
	  "t.conf:1: token \"t\": missing required key 'host'" },
	{ "[token \"t\"]\ntype = rds\nhost = h\n",
	  "t.conf:1: token \"t\": missing required key 'user'" },
	{ "[token \"t\"]\ntype = elasticache\nuser = u\n",
	  "t.conf:1: token \"t\": missing required key 'cache'" },
	{ "[token \"t\"]\ntype = elasticache\ncache = c\n",
	  "t.conf:1: token \"t\": missing required key 'user'" },
	{ OAUTH "host = db\n", "t.conf:6: key 'host' does not apply to type oauth2" },
	{ OAUTH "domain = x.example\n",
	  "t.conf:6: key 'domain' does not apply to type oauth2" },
	{ AUTH0 "token_url = https://x.example/t\n",
	  "t.conf:6: key 'token_url' does not apply to type auth0 (it is "
	  "https://DOMAIN/oauth/token)" },
	{ RDS "client_id = x\n", "t.conf:5: key 'client_id' does not apply to type rds" },
	{ RDS "cache = c\n", "t.conf:5: key 'cache' does not apply to type rds" },
	{ EC "port = 6379\n", "t.conf:5: key 'port' does not apply to type elasticache" },
	{ EC "host = h\n", "t.conf:5: key 'host' does not apply to type elasticache" },
	{ OAUTH "serverless = true\nport = 1\n",
	  "t.conf:6: key 'serverless' does not apply to type oauth2" },
	{ "[token \"t\"]\nport = 1\nhost = h\ntype = elasticache\n",
	  "t.conf:2: key 'port' does not apply to type elasticache" },
	/* token values */
	{ TOK_OAUTH_NO("token_url = http://issuer.example/t\n"),
	  "t.conf:3: token_url: plain http:// is refused except to a loopback host "
	  "(localhost, "
	  "127.0.0.0/8, [::1]); use https://" },
	{ TOK_OAUTH_NO("token_url = http://127.0.0.1.evil.example/t\n"),
	  "t.conf:3: token_url: plain http:// is refused except to a loopback host "
	  "(localhost, "
	  "127.0.0.0/8, [::1]); use https://" },
	{ TOK_OAUTH_NO("token_url = ftp://x.example/t\n"),
	  "t.conf:3: token_url: 'ftp://x.example/t' is not an https:// URL" },
	{ TOK_OAUTH_NO("token_url = https://\n"),
	  "t.conf:3: token_url: 'https://' has no valid host" },
	{ TOK_OAUTH_NO("token_url = https://u:p@x.example/t\n"),
	  "t.conf:3: token_url: 'https://***@x.example/t' must not carry credentials "
	  "(user:password@): use client_id and client_secret" },
	/* Issue 13 item 7: a password or a query never echoed back. */
	{ TOK_OAUTH_NO("token_url = ftp://user:pa55@x.example/t?key=s3cr3t\n"),
	  "t.conf:3: token_url: 'ftp://***@x.example/t?***' is not an https:// URL" },
	{ TOK_OAUTH_NO("token_url = https://x.example/a b\n"),
	  "t.conf:3: token_url: 'https://x.example/a b' must not contain spaces" },
	{ "[token \"t\"]\ntype = auth0\ndomain = https://x.auth0.com\n",
	  "t.conf:3: domain: 'https://x.auth0.com' is a URL, expected a host name" },
	{ "[token \"t\"]\ntype = auth0\ndomain = x.auth0.com/\n",
	  "t.conf:3: domain: 'x.auth0.com/' is not a valid host name" },
	{ OAUTH "client_auth = mtls\n",
	  "t.conf:6: client_auth: expected client_secret_post|client_secret_basic|"
	  "client_secret_jwt|private_key_jwt|tls_client_auth|self_signed_tls_client_auth,"
	  " got 'mtls'" },
	{ OAUTH "client_auth = private_key_jwt\nclient_key = env:HOME\n",
	  "t.conf:5: client_secret does not apply to client_auth private_key_jwt" },
	{ OAUTH "client_auth = tls_client_auth\nclient_key = env:HOME\n",
	  "t.conf:5: client_secret does not apply to client_auth tls_client_auth" },
	{ TOK_OAUTH_NO(
	          "token_url = https://i.example/t\nclient_id = i\n"
	          "client_auth = self_signed_tls_client_auth\nclient_key = env:HOME\n"),
	  "t.conf:1: token \"t\": missing required key 'client_cert' (client_auth "
	  "self_signed_tls_client_auth)" },
	{ TOK_OAUTH_NO("token_url = https://i.example/t\nclient_id = i\n"
	               "client_auth = tls_client_auth\nclient_key = env:HOME\n"
	               "client_cert = env:HOME\nclient_key_id = k\n"),
	  "t.conf:8: client_key_id does not apply to client_auth tls_client_auth" },
	{ TOK_OAUTH_NO("token_url = https://i.example/t\nclient_id = i\n"
	               "client_auth = private_key_jwt\n") D,
	  "t.conf:1: token \"t\": missing required key 'client_key' (client_auth "
	  "private_key_jwt)" },
	{ TOK_OAUTH_NO("token_url = https://i.example/t\nclient_id = i\n"
	               "client_auth = private_key_jwt\nclient_key = literal-pem\n"),
	  "t.conf:6: client_key: give it by reference: file:/PATH, env:NAME or "
	  "ssm:/NAME" },
	{ OAUTH "client_key_id = k1\n",
	  "t.conf:6: client_key_id does not apply to client_auth client_secret_post" },
	{ OAUTH "client_assertion_alg = HS256\n",
	  "t.conf:6: client_assertion_alg: expected RS256|PS256|ES256, got 'HS256'" },
	{ OAUTH "resource = api.example.com\n",
	  "t.conf:6: resource: 'api.example.com' is not an absolute URI" },
	{ OAUTH "resource = https://a.example/#x\n",
	  "t.conf:6: resource: 'https://a.example/#x' must have no fragment and no "
	  "spaces (RFC 8707)" },
	{ OAUTH "extra_params = organization\n",
	  "t.conf:6: extra_params: expected NAME=VALUE, NAME of A-Z a-z 0-9 _ . - :" },
	{ OAUTH "extra_params = Client_Secret=x\n",
	  "t.conf:6: extra_params: 'client_secret' is set by tokend or has its own key" },
	{ OAUTH "extra_params = client_assertion_x=y\n",
	  "t.conf:6: extra_params: client_assertion* is set by tokend" },
	{ RDS "resource = https://a.example/\n",
	  "t.conf:5: key 'resource' does not apply to type rds" },
	{ OAUTH "request_format = xml\n",
	  "t.conf:6: request_format: expected form|json, got 'xml'" },
	{ RDS "host = db2\n", "t.conf:5: duplicate key 'host' (first set on line 3)" },
	{ "[token \"t\"]\ntype = rds\nhost = db:5432\n",
	  "t.conf:3: host: 'db:5432': give the port in 'port'" },
	{ "[token \"t\"]\ntype = rds\nhost = db/x\n",
	  "t.conf:3: host: 'db/x' is not a valid host name" },
	{ RDS "port = 0\n", "t.conf:5: port: 0 is out of range (1..65535)" },
	{ RDS "port = 65536\n", "t.conf:5: port: 65536 is out of range (1..65535)" },
	{ RDS "region = EU\n", "t.conf:5: region: 'EU' is not a valid region" },
	{ "[token \"t\"]\ntype = elasticache\ncache = my_cache\n",
	  "t.conf:3: cache: 'my_cache' is not a valid cache name" },
	{ EC "serverless = maybe\n",
	  "t.conf:5: serverless: expected true or false, got 'maybe'" },
	{ OAUTH "refresh_before = soon\n", "t.conf:6: refresh_before: invalid duration "
	                                   "'soon' (use e.g. 90, 90s, 5m, 2h, 500ms)" },
	{ OAUTH "jitter = 1.5s\n",
	  "t.conf:6: jitter: invalid duration '1.5s' (use e.g. 90, 90s, 5m, 2h, 500ms)" },
	{ OAUTH "min_remaining = 5 m\n", "t.conf:6: min_remaining: invalid duration '5 "
	                                 "m' (use e.g. 90, 90s, 5m, 2h, 500ms)" },
	{ OAUTH "request_timeout = 0\n", "t.conf:6: request_timeout: 0 is out of range" },
	{ OAUTH "ssm_parameter = app/x\n",
	  "t.conf:6: ssm_parameter: SSM name 'app/x' must start with '/'" },
	{ OAUTH "ssm_parameter = /app x\n", "t.conf:6: ssm_parameter: SSM name '/app x' "
	                                    "has characters outside a-zA-Z0-9_.-/" },
	{ OAUTH "ssm_type = Secure\n",
	  "t.conf:6: ssm_type: expected SecureString|String, got 'Secure'" },
	{ OAUTH "ssm_tier = Premium\n",
	  "t.conf:6: ssm_tier: expected Standard|Advanced, got 'Premium'" },
	{ OAUTH "ssm_format = xml\n",
	  "t.conf:6: ssm_format: expected json|value, got 'xml'" },
	{ OAUTH "coordinate = dynamo\n",
	  "t.conf:6: coordinate: expected ssm-lock|none, got 'dynamo'" },
	{ OAUTH "issuer_budget = -1\n",
	  "t.conf:6: issuer_budget: -1 is out of range (0..9223372036854775807)" },
	{ OAUTH "allow_uids = nosuchuser-tokend\n",
	  "t.conf:6: allow_uids: unknown user 'nosuchuser-tokend'" },
	{ OAUTH "allow_gids = nosuchgroup-tokend\n",
	  "t.conf:6: allow_gids: unknown group 'nosuchgroup-tokend'" },
	/* secrets: messages never carry the value */
	{ TOK_OAUTH_NO("client_secret = env:TOKEND_CHECK_UNSET\n"),
	  "t.conf:3: client_secret: environment variable 'TOKEND_CHECK_UNSET' is not "
	  "set" },
	{ TOK_OAUTH_NO("client_secret = file:relative/s\n"),
	  "t.conf:3: client_secret: file: needs an absolute path" },
	{ TOK_OAUTH_NO("client_secret = file:/nonexistent/tokend/s\n"),
	  "t.conf:3: client_secret: cannot read /nonexistent/tokend/s: No such file or "
	  "directory" },
	{ TOK_OAUTH_NO("client_secret = ssm:app\n"),
	  "t.conf:3: client_secret: SSM name 'app' must start with '/'" },
	{ TOK_OAUTH_NO("client_secret = ssm:/app#\n"),
	  "t.conf:3: client_secret: nothing after '#' in ssm:/app#" },
};

START_TEST(test_error)
{
	int rc = load(error_cases[_i].text);

	ck_assert_msg(rc == -1, "case %d loaded: %s", _i, error_cases[_i].text);
	ck_assert_ptr_null(cfg);
	ck_assert_int_eq(err.code, ERR_CONFIG);
	ck_assert_str_eq(err.msg, error_cases[_i].msg);
}
END_TEST

START_TEST(test_too_many_tokens)
{
	size_t cap = 1025 * 64;
	char *text = malloc(cap), *p = text;

	ck_assert_ptr_nonnull(text);
	for (int i = 0; i < 1025; i++)
		p += sprintf(p, "[token \"t%d\"]\ntype = rds\nhost = h\nuser = u\n", i);
	ck_assert_int_eq(load(text), -1);
	ck_assert_str_eq(err.msg, "t.conf:4097: more than 1024 tokens");

	/* 1024 is fine: cut the text before the last section */
	*strstr(text, "[token \"t1024\"]") = '\0';
	ck_assert_msg(load(text) == 0, "%s", err.msg);
	ck_assert_uint_eq(cfg->ntokens, 1024);
	free(text);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
config_errors_suite(void)
{
	Suite *s = suite_create("config_errors");
	TCase *tc = tcase_create("errors");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_error, 0, N(error_cases));
	tcase_add_test(tc, test_too_many_tokens);
	suite_add_tcase(s, tc);
	return s;
}

int main(void);

int
main(void)
{
	SRunner *sr = srunner_create(config_errors_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
