/* check_oauth2_auth.c - the TLS material of an OAuth2 token (ca_file)
 * and, later, client authentication by JWT assertion. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "jwt.h"
#include "oauth2_assert.h"
#include "oauth2_tls.h"
#include "secret.h"

int main(void);

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A self-signed P-256 CA made once with the openssl CLI. */
#define TEST_CA_PEM                                                                      \
	"-----BEGIN CERTIFICATE-----\n"                                                  \
	"MIIBiDCCAS+gAwIBAgIUE1Qhdw/2lVtvScnd7YxkDzAcF7gwCgYIKoZIzj0EAwIw\n"             \
	"GTEXMBUGA1UEAwwOdG9rZW5kLXRlc3QtY2EwIBcNMjYxMjA1MTQxNzA2WhgPMjEy\n"             \
	"NjExMTExNDE3MDZaMBkxFzAVBgNVBAMMDnRva2VuZC10ZXN0LWNhMFkwEwYHKoZI\n"             \
	"zj0CAQYIKoZIzj0DAQcDQgAEOc3pdSpVjC+xj1xoBiBgchj6lhio4lX5iExO/V81\n"             \
	"mQlQ5zicqNmPbMo8IE2iWt9888Lb8daXYWpqCZiFdhMUQ6NTMFEwHQYDVR0OBBYE\n"             \
	"FBCRAQj+AvYs0htk0eLaSDWdDsZfMB8GA1UdIwQYMBaAFBCRAQj+AvYs0htk0eLa\n"             \
	"SDWdDsZfMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgWlZJHxbt\n"             \
	"Bsja0L/N36SZL8GRrzeKRySUz0MUPeXobnMCIDjb8qyFaNjKD5FZiR3vjH5tZUe+\n"             \
	"TBzJkF84TB4jp0Nj\n"                                                             \
	"-----END CERTIFICATE-----\n"

static char tmpdir[64];

static void
setup(void)
{
	strcpy(tmpdir, "/tmp/check_oauth2_auth.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
write_tmp(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(test_count_certs)
{
	static const char two[] = TEST_CA_PEM "junk\n" TEST_CA_PEM;

	ck_assert_int_eq(oauth2_tls_count_certs(two, strlen(two)), 2);
	ck_assert_int_eq(oauth2_tls_count_certs("nope", 4), 0);
	ck_assert_int_eq(oauth2_tls_count_certs("", 0), 0);
}
END_TEST

/* ca_file is added after the system bundle; a missing or certificate-less
 * file is a config error naming the file. */
START_TEST(test_ca_file)
{
	struct token_def def = { .name = "t" };
	struct oauth2_tls t;
	struct err err = { 0 };

	ck_assert_int_eq(oauth2_tls_load(&t, &def, &err), 0);
	ck_assert(!t.used);
	oauth2_tls_clear(&t);

	def.ca_file = write_tmp("ca.pem", TEST_CA_PEM);
	ck_assert_int_eq(oauth2_tls_load(&t, &def, &err), 0);
	ck_assert(t.used);
	ck_assert_ptr_nonnull(strstr(t.http.ca, TEST_CA_PEM));
	ck_assert_int_ge(oauth2_tls_count_certs(t.http.ca, t.http.ca_len), 1);
	ck_assert_uint_eq(t.http.ca_len, strlen(t.http.ca));
	oauth2_tls_clear(&t);

	def.ca_file = write_tmp("bad.pem", "not a certificate\n");
	ck_assert_int_eq(oauth2_tls_load(&t, &def, &err), -1);
	ck_assert_int_eq(err.code, ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "bad.pem: no PEM certificate"));

	def.ca_file = "/nonexistent/ca.pem";
	ck_assert_int_eq(oauth2_tls_load(&t, &def, &err), -1);
	ck_assert_str_eq(err.msg,
	                 "ca_file /nonexistent/ca.pem: No such file or directory");
}
END_TEST

/* [daemon] ca_file is the default of the OAuth2 tokens, wherever it is
 * written; a token's own wins. */
START_TEST(test_ca_file_default)
{
	static const char text[] = "[token \"a\"]\ntype = oauth2\n"
	                           "token_url = https://i.example/token\n"
	                           "client_id = id\nclient_secret = s\n"
	                           "[token \"b\"]\ntype = oauth2\n"
	                           "token_url = https://i.example/token\n"
	                           "client_id = id\nclient_secret = s\n"
	                           "ca_file = /own.pem\n"
	                           "[token \"c\"]\ntype = rds\nhost = db\nuser = u\n"
	                           "[daemon]\nca_file = /etc/ca.pem\n";
	struct config *cfg = NULL;
	struct err err = { 0 };

	ck_assert_int_eq(config_load_string(text, "t.conf", &cfg, &err), 0);
	ck_assert_str_eq(cfg->tokens[0]->ca_file, "/etc/ca.pem");
	ck_assert_str_eq(cfg->tokens[1]->ca_file, "/own.pem");
	ck_assert_ptr_null(cfg->tokens[2]->ca_file);
	config_free(cfg);
	ck_assert_int_eq(
	        config_load_string("[daemon]\nca_file = rel.pem\n", "t.conf", &cfg, &err),
	        -1);
	ck_assert_str_eq(err.msg, "t.conf:2: ca_file: 'rel.pem' is not an absolute path");
}
END_TEST

/* RFC 7515 Appendix A.1: the HS256 example, byte for byte. */
START_TEST(test_rfc7515_a1_hs256)
{
	static const unsigned char k[] =
	        "\x03\x23\x35\x4b\x2b\x0f\xa5\xbc\x83\x7e\x06\x65\x77\x7b\xa6\x8f"
	        "\x5a\xb3\x28\xe6\xf0\x54\xc9\x28\xa9\x0f\x84\xb2\xd2\x50\x2e\xbf"
	        "\xd3\xfb\x5a\x92\xd2\x06\x47\xef\x96\x8a\xb4\xc3\x77\x62\x3d\x22"
	        "\x3d\x2e\x21\x72\x05\x2e\x4f\x08\xc0\xcd\x9a\xf5\x67\xd0\x80\xa3";
	static const char input[] =
	        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
	        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEz"
	        "MDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
	char *jws = oauth2_jws_hs256(input, k, 64);

	ck_assert_str_eq(jws + strlen(input),
	                 ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
	ck_assert(strncmp(jws, input, strlen(input)) == 0);
	secret_free_str(jws);
}
END_TEST

/* RFC 4648 §10 vectors in the URL-safe alphabet, unpadded. */
START_TEST(test_b64url)
{
	static const char *const v[][2] = { { "", "" },           { "f", "Zg" },
		                            { "fo", "Zm8" },      { "foo", "Zm9v" },
		                            { "foob", "Zm9vYg" }, { "\xfb\xff", "-_8" } };

	for (size_t i = 0; i < N(v); i++) {
		char *e = oauth2_b64url((const unsigned char *)v[i][0], strlen(v[i][0]));
		ck_assert_str_eq(e, v[i][1]);
		free(e);
	}
}
END_TEST

/* Claims and freshness of a client_secret_jwt assertion. */
START_TEST(test_assertion_hs256)
{
	char *a = oauth2_assertion_hs256("cid", "https://i.example/token", "s3cr3t",
	                                 1700000000);
	char *b = oauth2_assertion_hs256("cid", "https://i.example/token", "s3cr3t",
	                                 1700000000);
	int64_t exp;
	const char *dot2 = strrchr(a, '.');

	ck_assert_ptr_nonnull(a);
	ck_assert_str_ne(a, b); /* a fresh jti each time */
	ck_assert_int_eq(jwt_decode_exp(a, &exp), 0);
	ck_assert_int_eq(exp, 1700000000 + OAUTH2_ASSERT_LIFETIME_S);
	/* eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9 = {"alg":"HS256","typ":"JWT"} */
	ck_assert(strncmp(a, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0);
	ck_assert_ptr_null(strstr(a, "s3cr3t"));
	ck_assert_uint_eq(strlen(dot2 + 1), 43);
	secret_free_str(a);
	secret_free_str(b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("oauth2_auth");
	TCase *tls = tcase_create("tls");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tls, setup, teardown);
	tcase_add_test(tls, test_count_certs);
	tcase_add_test(tls, test_ca_file);
	tcase_add_test(tls, test_ca_file_default);
	suite_add_tcase(s, tls);
	TCase *jws = tcase_create("jws");
	tcase_add_test(jws, test_rfc7515_a1_hs256);
	tcase_add_test(jws, test_b64url);
	tcase_add_test(jws, test_assertion_hs256);
	suite_add_tcase(s, jws);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
