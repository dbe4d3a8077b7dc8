/* check_aws_creds.c - the credentials parsers, the chain's local
 * providers, the refresh and skew maths, and the cache's call queue. */
#include <check.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws_creds.h"
#include "aws_creds_files.h"
#include "aws_creds_remote.h"
#include "config.h"
#include "secret.h"

int main(void);

static const char *const aws_vars[] = {
	"AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN",
	"AWS_SECURITY_TOKEN",
	"AWS_CREDENTIAL_EXPIRATION",
	"AWS_PROFILE",
	"AWS_DEFAULT_PROFILE",
	"AWS_SHARED_CREDENTIALS_FILE",
	"AWS_CONFIG_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_ROLE_ARN",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_EC2_METADATA_DISABLED",
	"AWS_REGION",
	"AWS_DEFAULT_REGION",
};

static char tmpdir[64];

static void
clean_env(void)
{
	for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
		unsetenv(aws_vars[i]);
	/* An empty HOME: no ~/.aws of the machine running the tests. */
	setenv("HOME", tmpdir, 1);
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_aws_creds.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	clean_env();
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* INI profile lookup. */

static const struct {
	const char *text, *section;
	int rc;
	bool found;
	const char *akid, *secret, *token, *region, *unsupported;
} ini_cases[] = {
	{ "[default]\naws_access_key_id = AK1\naws_secret_access_key=S1\n", "default", 0,
	  true, "AK1", "S1", NULL, NULL, "" },
	{ "[default]\naws_access_key_id=AK1\n[prod]\naws_access_key_id = AK2\n"
	  "aws_secret_access_key = S2\naws_session_token = T2\n",
	  "prod", 0, true, "AK2", "S2", "T2", NULL, "" },
	{ "# comment\n; other\n[profile  prod ]\nregion = eu-west-1\n", "profile prod", 0,
	  true, NULL, NULL, NULL, "eu-west-1", "" },
	{ "[prod]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n", "prod",
	  0, true, NULL, NULL, NULL, NULL, "role_arn" },
	{ "[default]\ncredential_process = /bin/x\n", "default", 0, true, NULL, NULL,
	  NULL, NULL, "credential_process" },
	{ "[default]\ns3 =\n  max_concurrent_requests = 20\naws_access_key_id = AK\n",
	  "default", 0, true, "AK", NULL, NULL, NULL, "" },
	{ "[default]\nAWS_ACCESS_KEY_ID = AKU\naws_security_token = LT\n", "default", 0,
	  true, "AKU", NULL, "LT", NULL, "" },
	{ "[other]\naws_access_key_id = AK\n", "default", 0, false, NULL, NULL, NULL,
	  NULL, "" },
	{ "; c\n[default\naws_access_key_id = AK\n", "default", -1, false, NULL, NULL,
	  NULL, NULL, "" },
	{ "[default]\njust words\n", "default", -1, true, NULL, NULL, NULL, NULL, "" },
	{ "", "default", 0, false, NULL, NULL, NULL, NULL, "" },
};

static void
ck_str_or_null(const char *got, const char *want)
{
	if (want == NULL)
		ck_assert_ptr_null(got);
	else
		ck_assert_str_eq(got, want);
}

START_TEST(test_ini_parse)
{
	struct aws_profile p = { 0 };
	struct err e = { 0 };
	int rc = aws_creds_files_parse(ini_cases[_i].text, ini_cases[_i].section, &p, &e);

	ck_assert_int_eq(rc, ini_cases[_i].rc);
	if (rc == 0) {
		ck_assert_int_eq(p.found, ini_cases[_i].found);
		ck_str_or_null(p.access_key_id, ini_cases[_i].akid);
		ck_str_or_null(p.secret_access_key, ini_cases[_i].secret);
		ck_str_or_null(p.session_token, ini_cases[_i].token);
		ck_str_or_null(p.region, ini_cases[_i].region);
		ck_assert_str_eq(p.unsupported, ini_cases[_i].unsupported);
	} else {
		ck_assert_ptr_nonnull(strstr(e.msg, "line 2"));
	}
	aws_creds_files_clear(&p);
}
END_TEST

/* The environment provider. */

static const struct {
	const char *akid, *secret, *token, *legacy, *exp;
	int rc;
	const char *want_token;
	int64_t want_exp_ms;
	const char *msg;
} env_cases[] = {
	{ NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, "env: AWS_ACCESS_KEY_ID not set" },
	{ "AK", "S", NULL, NULL, NULL, 1, NULL, 0, NULL },
	{ "AK", "S", "T", NULL, NULL, 1, "T", 0, NULL },
	{ "AK", "S", NULL, "LT", NULL, 1, "LT", 0, NULL },
	{ "AK", "S", "T", "LT", NULL, 1, "T", 0, NULL },
	{ "AK", "S", NULL, NULL, "2024-01-01T06:03:31Z", 1, NULL, 1704089011000, NULL },
	{ "AK", "S", NULL, NULL, "tomorrow", -1, NULL, 0, "AWS_CREDENTIAL_EXPIRATION" },
	{ "AK", NULL, NULL, NULL, NULL, -1, NULL, 0, "without AWS_SECRET_ACCESS_KEY" },
	{ NULL, "S", NULL, NULL, NULL, -1, NULL, 0, "without AWS_ACCESS_KEY_ID" },
	{ "", "", NULL, NULL, NULL, 0, NULL, 0, "not set" },
};

static void
setenv_opt(const char *name, const char *value)
{
	if (value != NULL)
		setenv(name, value, 1);
}

START_TEST(test_env)
{
	struct aws_credentials *cr = NULL;
	struct err e = { 0 };
	int rc;

	setenv_opt("AWS_ACCESS_KEY_ID", env_cases[_i].akid);
	setenv_opt("AWS_SECRET_ACCESS_KEY", env_cases[_i].secret);
	setenv_opt("AWS_SESSION_TOKEN", env_cases[_i].token);
	setenv_opt("AWS_SECURITY_TOKEN", env_cases[_i].legacy);
	setenv_opt("AWS_CREDENTIAL_EXPIRATION", env_cases[_i].exp);
	rc = aws_creds_files_env(&cr, &e);
	ck_assert_int_eq(rc, env_cases[_i].rc);
	if (rc == 1) {
		ck_assert_str_eq(cr->access_key_id, env_cases[_i].akid);
		ck_assert_str_eq(cr->secret_access_key->data, env_cases[_i].secret);
		ck_str_or_null(cr->session_token ? cr->session_token->data : NULL,
		               env_cases[_i].want_token);
		ck_assert_int_eq(cr->expiration_ms, env_cases[_i].want_exp_ms);
		ck_assert_str_eq(cr->provider, "env");
		aws_credentials_unref(cr);
	} else {
		ck_assert_ptr_null(cr);
		ck_assert_ptr_nonnull(strstr(e.msg, env_cases[_i].msg));
	}
}
END_TEST

/* The shared-files provider, over real files in a temp directory. */

static const struct {
	const char *credentials, *config, *profile_env, *profile_arg;
	int rc;
	const char *akid, *msg;
} profile_cases[] = {
	{ "[default]\naws_access_key_id=AKD\naws_secret_access_key=SD\n", NULL, NULL,
	  NULL, 1, "AKD", NULL },
	{ "[default]\naws_access_key_id=AKD\naws_secret_access_key=SD\n[prod]\n"
	  "aws_access_key_id=AKP\naws_secret_access_key=SP\n",
	  NULL, "prod", NULL, 1, "AKP", NULL },
	{ "[prod]\naws_access_key_id=AKP\naws_secret_access_key=SP\n", NULL, "other",
	  "prod", 1, "AKP", NULL },
	/* The credentials file wins over the config file. */
	{ "[prod]\naws_access_key_id=AKC\naws_secret_access_key=SC\n",
	  "[profile prod]\naws_access_key_id=AKF\naws_secret_access_key=SF\n", "prod",
	  NULL, 1, "AKC", NULL },
	{ NULL, "[profile prod]\naws_access_key_id=AKF\naws_secret_access_key=SF\n",
	  "prod", NULL, 1, "AKF", NULL },
	{ NULL, "[default]\naws_access_key_id=AKF\naws_secret_access_key=SF\n", NULL,
	  NULL, 1, "AKF", NULL },
	/* Without the "profile " prefix a config section is not the profile. */
	{ NULL, "[prod]\naws_access_key_id=AKF\naws_secret_access_key=SF\n", "prod", NULL,
	  0, NULL, "profile prod: not in the shared files" },
	{ NULL,
	  "[profile prod]\nrole_arn=arn:aws:iam::1:role/r\nsource_profile=default\n",
	  "prod", NULL, -1, NULL, "role_arn is not supported" },
	{ "[default]\naws_access_key_id=AK\n", NULL, NULL, NULL, -1, NULL,
	  "without aws_secret_access_key" },
	{ NULL, "[default]\nregion=eu-west-1\n", NULL, NULL, 0, NULL,
	  "profile default: no aws_access_key_id" },
	{ NULL, NULL, NULL, NULL, 0, NULL, "profile default: no " },
	{ "[default]\nbroken line\n", NULL, NULL, NULL, -1, NULL, "line 2" },
};

static char *
write_tmp(const char *name, const char *text)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", tmpdir, name) < 0)
		abort();
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(test_profile)
{
	struct aws_credentials *cr = NULL;
	struct err e = { 0 };
	char *cpath = NULL, *fpath = NULL;
	int rc;

	if (profile_cases[_i].credentials != NULL) {
		cpath = write_tmp("credentials", profile_cases[_i].credentials);
		setenv("AWS_SHARED_CREDENTIALS_FILE", cpath, 1);
	}
	if (profile_cases[_i].config != NULL) {
		fpath = write_tmp("config", profile_cases[_i].config);
		setenv("AWS_CONFIG_FILE", fpath, 1);
	}
	setenv_opt("AWS_PROFILE", profile_cases[_i].profile_env);
	rc = aws_creds_files_profile(profile_cases[_i].profile_arg, &cr, &e);
	ck_assert_msg(rc == profile_cases[_i].rc, "rc %d: %s", rc, e.msg);
	if (rc == 1) {
		ck_assert_str_eq(cr->access_key_id, profile_cases[_i].akid);
		ck_assert_str_eq(cr->provider, "profile");
		ck_assert_int_eq(cr->expiration_ms, 0);
		aws_credentials_unref(cr);
	} else {
		ck_assert_msg(strstr(e.msg, profile_cases[_i].msg) != NULL, "%s", e.msg);
	}
	free(cpath);
	free(fpath);
}
END_TEST

/* ECS and IMDS documents. */

static const struct {
	const char *body;
	bool imds;
	int rc;
	const char *akid, *token;
	int64_t exp_ms;
} json_cases[] = {
	{ "{\"AccessKeyId\":\"ASIA1\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
	  "\"Expiration\":\"2024-01-01T06:03:31Z\",\"RoleArn\":\"arn\"}",
	  false, 0, "ASIA1", "T", 1704089011000 },
	{ "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIA2\","
	  "\"SecretAccessKey\":\"S\",\"Token\":\"T2\",\"Expiration\":\"2024-06-04T06:37:"
	  "09Z\"}",
	  true, 0, "ASIA2", "T2", 1717483029000 },
	{ "{\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"S\"}", false, 0, "AK", NULL, 0 },
	{ "{\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"S\"}", true, -1, NULL, NULL, 0 },
	{ "{\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
	  "\"Expiration\":\"2024-01-01T06:03:31.123+02:00\"}",
	  false, 0, "AK", "T", 1704081811000 },
	{ "{\"Code\":\"Failure\",\"Message\":\"no\",\"AccessKeyId\":\"AK\"}", true, -1,
	  NULL, NULL, 0 },
	{ "{\"SecretAccessKey\":\"S\",\"Token\":\"T\"}", false, -1, NULL, NULL, 0 },
	{ "{\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"S\",\"Expiration\":\"soon\"}",
	  false, -1, NULL, NULL, 0 },
	{ "{\"AccessKeyId\":42,\"SecretAccessKey\":\"S\"}", false, -1, NULL, NULL, 0 },
	{ "[1,2]", false, -1, NULL, NULL, 0 },
	{ "not json", true, -1, NULL, NULL, 0 },
	{ "", false, -1, NULL, NULL, 0 },
};

START_TEST(test_json)
{
	struct aws_credentials *cr = NULL;
	struct err e = { 0 };
	int rc = aws_creds_remote_parse_json(json_cases[_i].body, "ecs",
	                                     json_cases[_i].imds, &cr, &e);

	ck_assert_msg(rc == json_cases[_i].rc, "rc %d: %s", rc, e.msg);
	if (rc == 0) {
		ck_assert_str_eq(cr->access_key_id, json_cases[_i].akid);
		ck_str_or_null(cr->session_token ? cr->session_token->data : NULL,
		               json_cases[_i].token);
		ck_assert_int_eq(cr->expiration_ms, json_cases[_i].exp_ms);
		aws_credentials_unref(cr);
	} else {
		ck_assert_ptr_null(cr);
		ck_assert_int_eq(strncmp(e.msg, "ecs: ", 5), 0);
	}
}
END_TEST

/* STS AssumeRoleWithWebIdentity answers. */

static const char sts_ok[] =
        "<AssumeRoleWithWebIdentityResponse "
        "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
        "  <AssumeRoleWithWebIdentityResult>\n"
        "    <SubjectFromWebIdentityToken>system:sa</SubjectFromWebIdentityToken>\n"
        "    <Credentials>\n"
        "      <SessionToken>FwoG+a/b=&amp;c</SessionToken>\n"
        "      <SecretAccessKey>wJalr</SecretAccessKey>\n"
        "      <Expiration>2024-01-01T01:00:00Z</Expiration>\n"
        "      <AccessKeyId>ASIAWEB</AccessKeyId>\n"
        "    </Credentials>\n"
        "  </AssumeRoleWithWebIdentityResult>\n"
        "</AssumeRoleWithWebIdentityResponse>\n";

static const struct {
	const char *body;
	int rc;
	enum err_code code;
	const char *msg;
} sts_cases[] = {
	{ sts_ok, 0, ERR_OK, NULL },
	{ "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
	  "<Message>bad jwt</Message></Error></ErrorResponse>",
	  -1, ERR_AUTH, "InvalidIdentityToken: bad jwt" },
	{ "<ErrorResponse><Error><Code>Throttling</Code><Message>slow down</Message>"
	  "</Error></ErrorResponse>",
	  -1, ERR_THROTTLED, "Throttling" },
	{ "<ErrorResponse><Error><Code>IDPCommunicationError</Code></Error></"
	  "ErrorResponse>",
	  -1, ERR_UNAVAILABLE, "IDPCommunicationError" },
	{ "<R><Credentials><AccessKeyId>A</AccessKeyId></Credentials></R>", -1, ERR_PARSE,
	  "lacks Credentials" },
	{ "<R><AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
	  "<SessionToken>T</SessionToken><Expiration>never</Expiration></R>",
	  -1, ERR_PARSE, "bad Expiration" },
	{ "", -1, ERR_PARSE, "lacks" },
};

START_TEST(test_sts)
{
	struct aws_credentials *cr = NULL;
	struct err e = { 0 };
	int rc = aws_creds_remote_parse_sts(sts_cases[_i].body, &cr, &e);

	ck_assert_int_eq(rc, sts_cases[_i].rc);
	if (rc == 0) {
		ck_assert_str_eq(cr->access_key_id, "ASIAWEB");
		ck_assert_str_eq(cr->secret_access_key->data, "wJalr");
		ck_assert_str_eq(cr->session_token->data, "FwoG+a/b=&c");
		ck_assert_int_eq(cr->expiration_ms, 1704070800000);
		ck_assert_str_eq(cr->provider, "web_identity");
		aws_credentials_unref(cr);
	} else {
		ck_assert_int_eq(e.code, sts_cases[_i].code);
		ck_assert_msg(strstr(e.msg, sts_cases[_i].msg) != NULL, "%s", e.msg);
	}
}
END_TEST

static const struct {
	const char *doc, *name, *want;
} xml_cases[] = {
	{ "<a><b>x</b></a>", "b", "x" },
	{ "<sts:a><sts:Code>C1</sts:Code></sts:a>", "Code", "C1" },
	{ "<a><Code attr=\"1\">C2</Code></a>", "Code", "C2" },
	{ "<a><CodeX>no</CodeX><Code>yes</Code></a>", "Code", "yes" },
	{ "<a><Code/></a>", "Code", NULL },
	{ "<a><Code>unterminated", "Code", NULL },
	{ "<a>&lt;&gt;&quot;&apos;&amp;amp;</a>", "a", "<>\"'&amp;" },
	{ "<a></a>", "a", "" },
	{ "no xml", "a", NULL },
};

START_TEST(test_xml_text)
{
	char *got = aws_creds_remote_xml_text(xml_cases[_i].doc, xml_cases[_i].name);

	ck_str_or_null(got, xml_cases[_i].want);
	free(got);
}
END_TEST

/* The container endpoint URL policy. */

static const struct {
	const char *rel, *full, *base;
	int rc;
	const char *url;
} ecs_cases[] = {
	{ "/v2/creds/abc", NULL, NULL, 0, "http://169.254.170.2/v2/creds/abc" },
	{ "/v2/creds/abc", "http://127.0.0.1:9/x", NULL, 0,
	  "http://169.254.170.2/v2/creds/abc" },
	{ "/v2/creds", NULL, "http://127.0.0.1:8080", 0,
	  "http://127.0.0.1:8080/v2/creds" },
	{ "v2/creds", NULL, NULL, -1, NULL },
	{ NULL, "http://127.0.0.1:8080/creds", NULL, 0, "http://127.0.0.1:8080/creds" },
	{ NULL, "http://localhost/creds", NULL, 0, "http://localhost/creds" },
	{ NULL, "http://[::1]:80/creds", NULL, 0, "http://[::1]:80/creds" },
	{ NULL, "http://169.254.170.23/v1/credentials", NULL, 0,
	  "http://169.254.170.23/v1/credentials" },
	{ NULL, "http://[fd00:ec2::23]/v1/credentials", NULL, 0,
	  "http://[fd00:ec2::23]/v1/credentials" },
	{ NULL, "https://creds.example.com/x", NULL, 0, "https://creds.example.com/x" },
	{ NULL, "http://creds.example.com/x", NULL, -1, NULL },
	{ NULL, "http://127.0.0.1.evil.com/x", NULL, -1, NULL },
	{ NULL, "http://169.254.169.254/x", NULL, -1, NULL },
	{ NULL, "http://user@127.0.0.1/x", NULL, -1, NULL },
	{ NULL, "ftp://127.0.0.1/x", NULL, -1, NULL },
	{ NULL, NULL, NULL, 0, NULL },
	{ "", "", NULL, 0, NULL },
};

START_TEST(test_ecs_url)
{
	char *url = NULL;
	struct err e = { 0 };
	int rc = aws_creds_remote_ecs_url(ecs_cases[_i].rel, ecs_cases[_i].full,
	                                  ecs_cases[_i].base, &url, &e);

	ck_assert_int_eq(rc, ecs_cases[_i].rc);
	ck_str_or_null(url, ecs_cases[_i].url);
	free(url);
}
END_TEST

START_TEST(test_form_encode)
{
	char *s = aws_creds_remote_form_encode("arn:aws:iam::1:role/r a+b=c~._-");

	ck_assert_str_eq(s, "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr%20a%2Bb%3Dc~._-");
	free(s);
}
END_TEST

/* Refresh and skew maths. */

#define MIN_MS (60 * 1000LL)

static const struct {
	int64_t now, exp, want;
	bool session;
} refresh_cases[] = {
	{ 0, 0, -1, false },                    /* static keys: never */
	{ 0, 0, 15 * MIN_MS, true },            /* a session without expiry */
	{ 5000, 0, 5000 + 15 * MIN_MS, true },  /* ... read again every 15 min */
	{ 0, 60 * MIN_MS, 55 * MIN_MS, true },  /* a session that says when */
	{ 0, 60 * MIN_MS, 55 * MIN_MS, false }, /* an hour: 5 min ahead */
	{ 0, 15 * MIN_MS, 10 * MIN_MS, false }, /* exactly 15 min: 5 min ahead */
	{ 0, 14 * MIN_MS, 7 * MIN_MS, false },  /* shorter: half what is left */
	{ 1000, 21000, 11000, false },          /* 20-second test credentials */
	{ 0, 1500, 1000, false },               /* never sooner than 1 s */
	{ 5000, 4000, 6000, false },            /* already expired: 1 s */
	{ 10 * MIN_MS, 70 * MIN_MS, 65 * MIN_MS, false }, /* offsets are absolute */
};

START_TEST(test_refresh_at)
{
	ck_assert_int_eq(aws_creds_refresh_at(refresh_cases[_i].now,
	                                      refresh_cases[_i].exp,
	                                      refresh_cases[_i].session),
	                 refresh_cases[_i].want);
}
END_TEST

static const struct {
	int64_t skew, server, local, want;
} skew_cases[] = {
	{ 0, 1000000, 1000000, 0 },
	{ 0, 1000000 + 239999, 1000000, 0 },           /* under 4 min: kept */
	{ 0, 1000000 + 240000, 1000000, 240000 },      /* 4 min: learned */
	{ 0, 1000000 + 420000, 1000000, 420000 },      /* §7.4: 7 min slow */
	{ 0, 1000000 - 300000, 1000000, -300000 },     /* fast clock */
	{ 420000, 1420500, 1000000, 420000 },          /* consistent: kept */
	{ 420000, 1000000, 1000000, 0 },               /* NTP fixed it: back to 0 */
	{ 420000, 1000000 + 300000, 1000000, 420000 }, /* 2 min off: kept */
};

START_TEST(test_skew)
{
	ck_assert_int_eq(aws_creds_skew_update(skew_cases[_i].skew, skew_cases[_i].server,
	                                       skew_cases[_i].local),
	                 skew_cases[_i].want);
}
END_TEST

START_TEST(test_observe_date)
{
	struct event_base *base = event_base_new();
	struct config_aws cfg = { .credentials = AWS_CREDS_ENV };
	struct aws_creds *c = aws_creds_new(base, NULL, &cfg, NULL);

	/* Mon, 01 Jan 2024 12:00:00 GMT = 1704110400 */
	aws_creds_observe_date(c, "Mon, 01 Jan 2024 12:00:00 GMT",
	                       1704110400000 - 420000);
	ck_assert_int_eq(aws_creds_skew_ms(c), 420000);
	aws_creds_observe_date(c, "garbage", 0);
	aws_creds_observe_date(c, NULL, 0);
	ck_assert_int_eq(aws_creds_skew_ms(c), 420000);
	ck_assert_int_ge(aws_creds_now_ms(c) - 420000, 1704110400000);
	aws_creds_free(c);
	event_base_free(base);
}
END_TEST

/* Region order. */

static const struct {
	const char *override, *cfg, *aws_region, *default_region, *want;
} region_cases[] = {
	{ "us-east-2", "eu-west-1", "ap-south-1", "sa-east-1", "us-east-2" },
	{ NULL, "eu-west-1", "ap-south-1", "sa-east-1", "eu-west-1" },
	{ NULL, NULL, "ap-south-1", "sa-east-1", "ap-south-1" },
	{ "", NULL, NULL, "sa-east-1", "sa-east-1" },
	{ NULL, NULL, NULL, NULL, NULL },
};

START_TEST(test_region)
{
	struct config_aws cfg = { .credentials = AWS_CREDS_ENV };
	struct event_base *base = event_base_new();
	struct aws_creds *c;

	cfg.region = (char *)region_cases[_i].cfg;
	setenv_opt("AWS_REGION", region_cases[_i].aws_region);
	setenv_opt("AWS_DEFAULT_REGION", region_cases[_i].default_region);
	c = aws_creds_new(base, NULL, &cfg, NULL);
	ck_str_or_null(aws_creds_region(c, region_cases[_i].override),
	               region_cases[_i].want);
	aws_creds_free(c);
	event_base_free(base);
}
END_TEST

/* The cache: answers come from the loop, queued calls, cancel, errors. */

struct answer {
	int calls;
	char akid[32];
	struct err err;
};

static void
on_answer(struct aws_credentials *cr, const struct err *err, void *arg)
{
	struct answer *a = arg;

	a->calls++;
	if (cr != NULL)
		snprintf(a->akid, sizeof(a->akid), "%s", cr->access_key_id);
	else
		a->err = *err;
}

static const struct {
	enum aws_creds_mode mode;
	bool env_keys;
	const char *akid, *msg;
} cache_cases[] = {
	{ AWS_CREDS_ENV, true, "AKCACHE", NULL },
	{ AWS_CREDS_CHAIN, true, "AKCACHE", NULL },
	{ AWS_CREDS_ENV, false, NULL, "AWS credentials: env: AWS_ACCESS_KEY_ID not set" },
	/* Every provider tried is named, with its reason. */
	{ AWS_CREDS_CHAIN, false, NULL,
	  "no AWS credentials: env: AWS_ACCESS_KEY_ID not set; profile default: no " },
	{ AWS_CREDS_ECS, false, NULL, "ecs: no AWS_CONTAINER_CREDENTIALS_* set" },
};

START_TEST(test_cache)
{
	struct config_aws cfg = { .credentials = cache_cases[_i].mode };
	struct event_base *base = event_base_new();
	struct answer a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	struct aws_creds_call *cancelled;
	struct aws_creds *c;

	if (cache_cases[_i].env_keys) {
		setenv("AWS_ACCESS_KEY_ID", "AKCACHE", 1);
		setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	}
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	c = aws_creds_new(base, NULL, &cfg, NULL);
	aws_creds_get(c, on_answer, &a1);
	aws_creds_get(c, on_answer, &a2);
	cancelled = aws_creds_get(c, on_answer, &a3);
	aws_creds_call_cancel(cancelled);
	/* Never from inside aws_creds_get. */
	ck_assert_int_eq(a1.calls, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(a1.calls, 1);
	ck_assert_int_eq(a2.calls, 1);
	ck_assert_int_eq(a3.calls, 0);
	if (cache_cases[_i].akid != NULL) {
		ck_assert_str_eq(a1.akid, cache_cases[_i].akid);
		ck_assert_str_eq(a2.akid, cache_cases[_i].akid);
		ck_assert_str_eq(aws_creds_provider(c), "env");
		/* Now cached: answered from the loop again, no query. */
		unsetenv("AWS_ACCESS_KEY_ID");
		aws_creds_get(c, on_answer, &a3);
		ck_assert_int_eq(a3.calls, 0);
		event_base_loop(base, EVLOOP_NONBLOCK);
		ck_assert_int_eq(a3.calls, 1);
		ck_assert_str_eq(a3.akid, cache_cases[_i].akid);
	} else {
		ck_assert_msg(strstr(a1.err.msg, cache_cases[_i].msg) != NULL, "%s",
		              a1.err.msg);
		if (cache_cases[_i].mode == AWS_CREDS_CHAIN) {
			ck_assert_ptr_nonnull(strstr(a1.err.msg, "web_identity: "));
			ck_assert_ptr_nonnull(strstr(a1.err.msg, "ecs: "));
			ck_assert_ptr_nonnull(strstr(a1.err.msg, "imds: disabled"));
		}
	}
	/* A pending call is dropped with the object, its callback never runs. */
	aws_creds_get(c, on_answer, &a3);
	aws_creds_free(c);
	event_base_free(base);
}
END_TEST

START_TEST(test_credentials_same)
{
	struct aws_credentials *a = aws_credentials_new("AK", "S", "T", 0, "env");
	struct aws_credentials *b = aws_credentials_new("AK", "S2", "T", 5, "ecs");
	struct aws_credentials *c = aws_credentials_new("AK", "S", "T2", 0, "env");
	struct aws_credentials *d = aws_credentials_new("AK", "S", NULL, 0, "env");

	ck_assert(aws_credentials_same(a, b));
	ck_assert(!aws_credentials_same(a, c));
	ck_assert(!aws_credentials_same(a, d));
	ck_assert(aws_credentials_same(d, d));
	ck_assert(aws_credentials_same(aws_credentials_ref(a), a));
	aws_credentials_unref(a);
	aws_credentials_unref(a);
	aws_credentials_unref(b);
	aws_credentials_unref(c);
	aws_credentials_unref(d);
	aws_credentials_unref(NULL);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int
main(void)
{
	Suite *s = suite_create("aws_creds");
	TCase *tc = tcase_create("aws_creds");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_ini_parse, 0, N(ini_cases));
	tcase_add_loop_test(tc, test_env, 0, N(env_cases));
	tcase_add_loop_test(tc, test_profile, 0, N(profile_cases));
	tcase_add_loop_test(tc, test_json, 0, N(json_cases));
	tcase_add_loop_test(tc, test_sts, 0, N(sts_cases));
	tcase_add_loop_test(tc, test_xml_text, 0, N(xml_cases));
	tcase_add_loop_test(tc, test_ecs_url, 0, N(ecs_cases));
	tcase_add_test(tc, test_form_encode);
	tcase_add_loop_test(tc, test_refresh_at, 0, N(refresh_cases));
	tcase_add_loop_test(tc, test_skew, 0, N(skew_cases));
	tcase_add_test(tc, test_observe_date);
	tcase_add_loop_test(tc, test_region, 0, N(region_cases));
	tcase_add_loop_test(tc, test_cache, 0, N(cache_cases));
	tcase_add_test(tc, test_credentials_same);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
