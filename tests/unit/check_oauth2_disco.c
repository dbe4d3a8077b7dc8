/* check_oauth2_disco.c - metadata URLs (OIDC and RFC 8414 path insertion),
 * metadata parsing and checks, and the issuer key of the config, by table. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "oauth2_disco.h"

int main(void);

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *issuer, *oidc, *rfc8414; /* NULL: refused */
} url_cases[] = {
	{ "https://id.example.com",
	  "https://id.example.com/.well-known/openid-configuration",
	  "https://id.example.com/.well-known/oauth-authorization-server" },
	{ "https://id.example.com/",
	  "https://id.example.com/.well-known/openid-configuration",
	  "https://id.example.com/.well-known/oauth-authorization-server" },
	/* RFC 8414 §3.1: the well-known part goes between host and path. */
	{ "https://id.example.com/realms/prod",
	  "https://id.example.com/realms/prod/.well-known/openid-configuration",
	  "https://id.example.com/.well-known/oauth-authorization-server/realms/prod" },
	{ "https://id.example.com/t/1/",
	  "https://id.example.com/t/1/.well-known/openid-configuration",
	  "https://id.example.com/.well-known/oauth-authorization-server/t/1" },
	{ "http://127.0.0.1:8080",
	  "http://127.0.0.1:8080/.well-known/openid-configuration",
	  "http://127.0.0.1:8080/.well-known/oauth-authorization-server" },
	{ "https://id.example.com/?x=1", NULL, NULL },
	{ "https://id.example.com/#f", NULL, NULL },
	{ "ftp://id.example.com", NULL, NULL },
	{ "https:///path", NULL, NULL },
};

START_TEST(test_url)
{
	struct err err = { 0 };
	char *oidc = oauth2_disco_url(url_cases[_i].issuer, OAUTH2_DISCO_OIDC, &err);
	char *rfc = oauth2_disco_url(url_cases[_i].issuer, OAUTH2_DISCO_RFC8414, &err);

	if (url_cases[_i].oidc == NULL) {
		ck_assert_ptr_null(oidc);
		ck_assert_ptr_null(rfc);
		ck_assert_int_eq(err.code, ERR_CONFIG);
	} else {
		ck_assert_str_eq(oidc, url_cases[_i].oidc);
		ck_assert_str_eq(rfc, url_cases[_i].rfc8414);
	}
	free(oidc);
	free(rfc);
}
END_TEST

#define ISS "https://id.example.com"

static const struct {
	const char *what, *body;
	enum err_code code; /* ERR_OK: parsed */
	const char *msg;    /* error substring, or the token endpoint */
	int methods;        /* -1: field absent */
} parse_cases[] = {
	{ "ok",
	  "{\"issuer\":\"" ISS "\",\"token_endpoint\":\"" ISS "/oauth/token\","
	  "\"token_endpoint_auth_methods_supported\":[\"client_secret_basic\","
	  "\"private_key_jwt\",7]}",
	  ERR_OK, ISS "/oauth/token", 2 },
	{ "no methods", "{\"issuer\":\"" ISS "\",\"token_endpoint\":\"" ISS "/t\"}",
	  ERR_OK, ISS "/t", -1 },
	{ "trailing slash differs",
	  "{\"issuer\":\"" ISS "/\",\"token_endpoint\":\"" ISS "/t\"}", ERR_CONFIG,
	  "metadata names issuer \"" ISS "/\", not the configured \"" ISS "\"", 0 },
	{ "case differs",
	  "{\"issuer\":\"https://ID.example.com\",\"token_endpoint\":\"" ISS "/t\"}",
	  ERR_CONFIG, "must be equal exactly", 0 },
	{ "plain http endpoint",
	  "{\"issuer\":\"" ISS "\",\"token_endpoint\":\"http://id.example.com/t\"}",
	  ERR_CONFIG, "metadata's token_endpoint", 0 },
	{ "no endpoint", "{\"issuer\":\"" ISS "\"}", ERR_PARSE, "no token_endpoint", 0 },
	{ "no issuer", "{\"token_endpoint\":\"" ISS "/t\"}", ERR_PARSE, "no issuer", 0 },
	{ "html", "<html>hello</html>", ERR_PARSE, "not a JSON object", 0 },
	{ "methods not array",
	  "{\"issuer\":\"" ISS "\",\"token_endpoint\":\"" ISS "/t\","
	  "\"token_endpoint_auth_methods_supported\":\"client_secret_basic\"}",
	  ERR_PARSE, "not an array", 0 },
};

START_TEST(test_parse)
{
	struct oauth2_metadata md;
	struct err err = { 0 };
	const char *body = parse_cases[_i].body;
	int rc = oauth2_metadata_parse(ISS, body, strlen(body), &md, &err);

	if (parse_cases[_i].code == ERR_OK) {
		ck_assert_msg(rc == 0, "%s: %s", parse_cases[_i].what, err.msg);
		ck_assert_str_eq(md.token_endpoint, parse_cases[_i].msg);
		if (parse_cases[_i].methods < 0) {
			ck_assert(!md.has_auth_methods);
		} else {
			ck_assert(md.has_auth_methods);
			ck_assert_uint_eq(md.n_auth_methods,
			                  (size_t)parse_cases[_i].methods);
		}
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(err.code, parse_cases[_i].code);
		ck_assert_msg(strstr(err.msg, parse_cases[_i].msg) != NULL, "%s: %s",
		              parse_cases[_i].what, err.msg);
		ck_assert_ptr_null(md.token_endpoint);
	}
	oauth2_metadata_clear(&md);
}
END_TEST

START_TEST(test_supports)
{
	const char *listed = "{\"issuer\":\"" ISS "\",\"token_endpoint\":\"" ISS "/t\","
	                     "\"token_endpoint_auth_methods_supported\":"
	                     "[\"client_secret_basic\"]}";
	const char *absent = "{\"issuer\":\"" ISS "\",\"token_endpoint\":\"" ISS "/t\"}";
	struct oauth2_metadata md;
	struct err err = { 0 };

	ck_assert_int_eq(oauth2_metadata_parse(ISS, listed, strlen(listed), &md, &err),
	                 0);
	ck_assert(oauth2_metadata_supports(&md, "client_secret_basic"));
	ck_assert(!oauth2_metadata_supports(&md, "client_secret_post"));
	oauth2_metadata_clear(&md);
	ck_assert_int_eq(oauth2_metadata_parse(ISS, absent, strlen(absent), &md, &err),
	                 0);
	ck_assert(oauth2_metadata_supports(&md, "client_secret_post"));
	oauth2_metadata_clear(&md);
}
END_TEST

static const struct {
	const char *keys, *msg; /* msg NULL: loads */
} config_cases[] = {
	{ "issuer = https://id.example.com/realms/x\n", NULL },
	{ "issuer = https://id.example.com\ntoken_url = https://id.example.com/t\n",
	  NULL },
	{ "", "missing required key 'token_url' (or 'issuer'" },
	{ "issuer = https://id.example.com/?tenant=1\n", "must not have a query" },
	{ "issuer = http://id.example.com\n", "plain http:// is refused" },
	{ "issuer = http://127.0.0.1:9000\n", NULL },
};

START_TEST(test_config)
{
	struct config *cfg = NULL;
	struct err err = { 0 };
	char text[512];
	int rc;

	snprintf(text, sizeof(text),
	         "[token \"a\"]\ntype = oauth2\nclient_id = c\nclient_secret = s\n%s",
	         config_cases[_i].keys);
	rc = config_load_string(text, "t.conf", &cfg, &err);
	if (config_cases[_i].msg == NULL) {
		ck_assert_msg(rc == 0, "%s", err.msg);
		ck_assert_ptr_nonnull(cfg->tokens[0]->issuer);
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_msg(strstr(err.msg, config_cases[_i].msg) != NULL, "%s",
		              err.msg);
	}
	config_free(cfg);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("oauth2_disco");
	TCase *tc = tcase_create("metadata");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_url, 0, (int)N(url_cases));
	tcase_add_loop_test(tc, test_parse, 0, (int)N(parse_cases));
	tcase_add_test(tc, test_supports);
	tcase_add_loop_test(tc, test_config, 0, (int)N(config_cases));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
