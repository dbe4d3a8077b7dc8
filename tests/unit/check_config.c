/* check_config.c - tokend.conf: every key, every default, every error. */
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_keys.h"
#include "secret.h"

/* Per-test state, set up and torn down by the checked fixture. */
static struct config *cfg;
static char tmpdir[64];
static struct err err;

static void
setup(void)
{
	cfg = NULL;
	memset(&err, 0, sizeof(err));
	strcpy(tmpdir, "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[128];

	config_free(cfg);
	cfg = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
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

#define OAUTH                                                                            \
	"[token \"t\"]\n"                                                                \
	"type = oauth2\n"                                                                \
	"token_url = https://issuer.example/oauth/token\n"                               \
	"client_id = id\n"                                                               \
	"client_secret = s3cret\n"
#define AUTH0                                                                            \
	"[token \"t\"]\n"                                                                \
	"type = auth0\n"                                                                 \
	"domain = Example.US.auth0.com\n"                                                \
	"client_id = id\n"                                                               \
	"client_secret = s3cret\n"
#define RDS                                                                              \
	"[token \"t\"]\n"                                                                \
	"type = rds\n"                                                                   \
	"host = db.example\n"                                                            \
	"user = iam_app\n"
#define EC                                                                               \
	"[token \"t\"]\n"                                                                \
	"type = elasticache\n"                                                           \
	"cache = Sessions-Valkey\n"                                                      \
	"user = app\n"
#define D "[daemon]\n"
#define A "[aws]\n"

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

#define LONG65 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
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
	  "t.conf:1: token \"t\": missing required key 'token_url'" },
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
	  "t.conf:3: token_url: 'https://u:p@x.example/t' must not carry credentials or "
	  "spaces" },
	{ "[token \"t\"]\ntype = auth0\ndomain = https://x.auth0.com\n",
	  "t.conf:3: domain: 'https://x.auth0.com' is a URL, expected a host name" },
	{ "[token \"t\"]\ntype = auth0\ndomain = x.auth0.com/\n",
	  "t.conf:3: domain: 'x.auth0.com/' is not a valid host name" },
	{ OAUTH "client_auth = private_key_jwt\n",
	  "t.conf:6: client_auth: expected client_secret_post|client_secret_basic, got "
	  "'private_key_jwt'" },
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

static char *
secret_config(const char *ref)
{
	char *text;

	ck_assert_int_ge(
	        asprintf(&text,
	                 "[token \"t\"]\ntype = oauth2\ntoken_url = https://i.example/t\n"
	                 "client_id = i\nclient_secret = %s\n",
	                 ref),
	        0);
	return text;
}

START_TEST(test_secret_env)
{
	char *text = secret_config("env:TOKEND_CHECK_SECRET");

	setenv("TOKEND_CHECK_SECRET", "from-env", 1);
	ck_assert_msg(load(text) == 0, "%s", err.msg);
	ck_assert_str_eq(cfg->tokens[0]->client_secret.ref, "env:TOKEND_CHECK_SECRET");
	ck_assert_str_eq(cfg->tokens[0]->client_secret.value->data, "from-env");
	ck_assert_uint_eq(cfg->tokens[0]->client_secret.value->len, 8);
	config_free(cfg);
	cfg = NULL;

	setenv("TOKEND_CHECK_SECRET", "", 1);
	ck_assert_int_eq(load(text), -1);
	ck_assert_str_eq(err.msg, "t.conf:5: client_secret: environment variable "
	                          "'TOKEND_CHECK_SECRET' is empty");
	unsetenv("TOKEND_CHECK_SECRET");
	free(text);
}
END_TEST

static const struct {
	const char *content; /* NULL: the path is a directory */
	const char *value;   /* NULL: an error ending in err_tail */
	const char *err_tail;
} file_cases[] = {
	{ "file-secret", "file-secret", NULL },
	{ "file-secret\n", "file-secret", NULL },
	{ "file-secret\r\n\n\n", "file-secret", NULL },
	{ "two\nlines\n", "two\nlines", NULL },
	{ "\n", NULL, " is empty" },
	{ "", NULL, " is empty" },
	{ NULL, NULL, ": Is a directory" },
};

START_TEST(test_secret_file)
{
	char path[128], ref[160], *text;
	int rc;

	snprintf(path, sizeof(path), "%s/secret", tmpdir);
	if (file_cases[_i].content != NULL)
		write_file(path, file_cases[_i].content, 0600);
	else
		ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(ref, sizeof(ref), "file:%s", path);
	text = secret_config(ref);
	rc = load(text);
	free(text);
	if (file_cases[_i].value != NULL) {
		ck_assert_msg(rc == 0, "%s", err.msg);
		ck_assert_str_eq(cfg->tokens[0]->client_secret.value->data,
		                 file_cases[_i].value);
		ck_assert_str_eq(cfg->tokens[0]->client_secret.ref, ref);
		return;
	}
	char want[256];
	snprintf(want, sizeof(want), "t.conf:5: client_secret: %s%s%s",
	         file_cases[_i].content != NULL ? "" : "cannot read ", path,
	         file_cases[_i].err_tail);
	ck_assert_int_eq(rc, -1);
	ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_load_missing)
{
	char path[128], want[256];

	snprintf(path, sizeof(path), "%s/nope.conf", tmpdir);
	ck_assert_int_eq(config_load(path, &cfg, &err), -1);
	ck_assert_ptr_null(cfg);
	ck_assert_int_eq(err.code, ERR_IO);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
	ck_assert_str_eq(err.msg, want);

	ck_assert_int_eq(config_load(tmpdir, &cfg, &err), -1);
	ck_assert_int_eq(err.code, ERR_IO);
	snprintf(want, sizeof(want), "%s: cannot read: is a directory", tmpdir);
	ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_load_file_error)
{
	char path[128], want[256];

	snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);
	write_file(path, "[daemon]\n\nlog_level = loud\n", 0600);
	ck_assert_int_eq(config_load(path, &cfg, &err), -1);
	ck_assert_int_eq(err.code, ERR_CONFIG);
	snprintf(want, sizeof(want),
	         "%s:3: log_level: expected error|warn|notice|info|debug, got 'loud'",
	         path);
	ck_assert_str_eq(err.msg, want);

	write_file(path, "[daemon]\nlog_level = debug\n", 0600);
	ck_assert_int_eq(config_load(path, &cfg, &err), 0);
	ck_assert_str_eq(cfg->path, path);
	ck_assert_int_eq(cfg->daemon.log_level, LOG_DEBUG);
}
END_TEST

/* The reader sizes its buffer from the file: a file of exactly 1 MiB
 * (mostly comment) loads, one byte more is refused. */
START_TEST(test_load_size_limit)
{
	const size_t limit = 1024 * 1024;
	const char *head = "[daemon]\nlog_level = debug\n";
	char path[128], want[256];
	char *text = malloc(limit + 2);

	ck_assert_ptr_nonnull(text);
	memset(text, ';', limit + 1);
	for (size_t i = 99; i < limit; i += 100)
		text[i] = '\n'; /* comment lines inih accepts */
	memcpy(text, head, strlen(head));
	text[limit - 1] = '\n';
	text[limit] = '\0';
	snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	write_file(path, text, 0600);
	ck_assert_msg(config_load(path, &cfg, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(cfg->daemon.log_level, LOG_DEBUG);
	config_free(cfg);
	cfg = NULL;

	text[limit] = '\n';
	text[limit + 1] = '\0';
	write_file(path, text, 0600);
	ck_assert_int_eq(config_load(path, &cfg, &err), -1);
	ck_assert_int_eq(err.code, ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: larger than %zu bytes", path, limit);
	ck_assert_str_eq(err.msg, want);
	free(text);
}
END_TEST

/* Runs config_load on text in a file of the given mode and returns what
 * it wrote to stderr (the log). */
static char *
load_capturing_log(const char *text, mode_t mode)
{
	char path[128], logpath[128];
	static char logbuf[4096];
	int saved = dup(STDERR_FILENO), fd, rc;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
	write_file(path, text, mode);
	fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	rc = config_load(path, &cfg, &err);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_msg(rc == 0, "%s", err.msg);
	n = pread(fd, logbuf, sizeof(logbuf) - 1, 0);
	close(fd);
	ck_assert_int_ge(n, 0);
	logbuf[n] = '\0';
	return logbuf;
}

START_TEST(test_literal_secret_warning)
{
	const char *two =
	        OAUTH "[token \"u\"]\ntype = oauth2\ntoken_url = https://i.example/t\n"
	              "client_id = i\nclient_secret = other-s3cret\n";
	char *log = load_capturing_log(two, 0644);

	ck_assert_ptr_nonnull(strstr(log,
	                             "t.conf:5: token \"t\": client_secret is written "
	                             "literally in a file readable by group or others"));
	ck_assert_ptr_null(strstr(log, "s3cret"));
	ck_assert_ptr_null(strstr(log, "token \"u\"")); /* once per file */
	config_free(cfg);
	cfg = NULL;

	log = load_capturing_log(two, 0600);
	ck_assert_str_eq(log, "");
	config_free(cfg);
	cfg = NULL;

	setenv("TOKEND_CHECK_SECRET", "from-env", 1);
	log = load_capturing_log(
	        "[token \"t\"]\ntype = oauth2\ntoken_url = https://i.example/t\n"
	        "client_id = i\nclient_secret = env:TOKEND_CHECK_SECRET\n",
	        0644);
	ck_assert_str_eq(log, "");
	unsetenv("TOKEND_CHECK_SECRET");
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

START_TEST(test_example_file)
{
	const char *srcdir = getenv("abs_top_srcdir");
	char path[1024];

	ck_assert_msg(srcdir != NULL,
	              "abs_top_srcdir is not set (run through make check)");
	snprintf(path, sizeof(path), "%s/conf/tokend.conf.example", srcdir);
	ck_assert_msg(config_load(path, &cfg, &err) == 0, "%s", err.msg);
	ck_assert_uint_ge(cfg->ntokens, 4);
	ck_assert_ptr_nonnull(config_find_token(cfg, "auth0-mgmt"));
	ck_assert_ptr_nonnull(config_find_token(cfg, "sessions"));
}
END_TEST

static char *
slurp(const char *rel)
{
	const char *srcdir = getenv("abs_top_srcdir");
	char path[1024];
	FILE *f;
	char *text = calloc(1, 1 << 20);
	size_t n;

	ck_assert_msg(srcdir != NULL,
	              "abs_top_srcdir is not set (run through make check)");
	snprintf(path, sizeof(path), "%s/%s", srcdir, rel);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: cannot read", path);
	n = fread(text, 1, (1 << 20) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* The example shows every key, set or commented out; the manual
 * describes every key. */
START_TEST(test_every_key_documented)
{
	char *example = slurp("conf/tokend.conf.example");
	char *man = slurp("man/tokend.conf.5");
	char want[128];

	for (size_t i = 0; i < config_nkeys; i++) {
		const char *k = config_keys[i].name;
		snprintf(want, sizeof(want), "\n%s = ", k);
		bool set = strstr(example, want) != NULL;
		snprintf(want, sizeof(want), "\n;%s = ", k);
		ck_assert_msg(set || strstr(example, want) != NULL, "example lacks %s",
		              k);
		snprintf(want, sizeof(want), "\n.It Ic %s Ns = ", k);
		ck_assert_msg(strstr(man, want) != NULL, "tokend.conf.5 lacks %s", k);
	}
	free(example);
	free(man);
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
	tcase_add_loop_test(tc, test_error, 0, N(error_cases));
	tcase_add_loop_test(tc, test_duration, 0, N(duration_cases));
	tcase_add_loop_test(tc, test_token_name, 0, N(name_cases));
	tcase_add_loop_test(tc, test_secret_file, 0, N(file_cases));
	tcase_add_loop_test(tc, test_equal, 0, N(equal_cases));
	tcase_add_loop_test(tc, test_needs_aws, 0, N(aws_cases));
	tcase_add_test(tc, test_type_names);
	tcase_add_test(tc, test_find_token);
	tcase_add_test(tc, test_secret_env);
	tcase_add_test(tc, test_load_missing);
	tcase_add_test(tc, test_load_file_error);
	tcase_add_test(tc, test_load_size_limit);
	tcase_add_test(tc, test_literal_secret_warning);
	tcase_add_test(tc, test_too_many_tokens);
	tcase_add_test(tc, test_example_file);
	tcase_add_test(tc, test_every_key_documented);
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
