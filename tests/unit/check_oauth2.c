/* check_oauth2.c - the issuer's answers by table, request bodies and the
 * Basic header by table, and whole fetches against an in-process evhttp
 * issuer on 127.0.0.1. */
#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http_client.h"
#include "secret.h"
#include "source_oauth2.h"
#include "timeutil.h"

int main(void);

#define N(a)  (sizeof(a) / sizeof((a)[0]))
#define START 1700000000000LL /* 2023-11-14T22:13:20Z */
#define NOW   (START + 200)
/* {"alg":"none"} . {"exp":1700000100} . sig */
#define JWT_EARLY "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAxMDB9.c2ln"
/* {"alg":"none"} . {"exp":1800000000} . sig */
#define JWT_LATE "eyJhbGciOiJub25lIn0.eyJleHAiOjE4MDAwMDAwMDB9.c2ln"

struct parse_case {
	const char *what;
	long status;
	const char *body;
	const char *retry_after, *reset;
	enum err_code code;
	const char *msg;    /* substring of the error, or the token on success */
	int64_t expires_in; /* ms after START, success only */
	const char *type;   /* token_type, success only */
	int64_t retry_ms;
};

static const struct parse_case parse_cases[] = {
	{ "auth0 success", 200,
	  "{\"access_token\":\"abc.def\",\"token_type\":\"Bearer\",\"expires_in\":86400,"
	  "\"scope\":\"read:users\"}",
	  NULL, NULL, ERR_OK, "abc.def", 86400000, "Bearer", 0 },
	{ "expires_in as a string", 200,
	  "{\"access_token\":\"x\",\"token_type\":\"Bearer\",\"expires_in\":\"3600\"}",
	  NULL, NULL, ERR_OK, "x", 3600000, "Bearer", 0 },
	{ "no token_type", 200, "{\"access_token\":\"x\",\"expires_in\":60}", NULL, NULL,
	  ERR_OK, "x", 60000, "Bearer", 0 },
	{ "other token_type", 200,
	  "{\"access_token\":\"x\",\"token_type\":\"DPoP\",\"expires_in\":60}", NULL,
	  NULL, ERR_OK, "x", 60000, "DPoP", 0 },
	{ "JWT exp earlier than expires_in", 200,
	  "{\"access_token\":\"" JWT_EARLY "\",\"expires_in\":86400}", NULL, NULL, ERR_OK,
	  JWT_EARLY, 100000, "Bearer", 0 },
	{ "JWT exp later than expires_in", 200,
	  "{\"access_token\":\"" JWT_LATE "\",\"expires_in\":3600}", NULL, NULL, ERR_OK,
	  JWT_LATE, 3600000, "Bearer", 0 },
	{ "a year exactly", 200, "{\"access_token\":\"x\",\"expires_in\":31536000}", NULL,
	  NULL, ERR_OK, "x", 31536000000LL, "Bearer", 0 },
	{ "no expires_in", 200, "{\"access_token\":\"x\",\"token_type\":\"Bearer\"}",
	  NULL, NULL, ERR_PARSE, "no expires_in", 0, NULL, 0 },
	{ "expires_in zero", 200, "{\"access_token\":\"x\",\"expires_in\":0}", NULL, NULL,
	  ERR_PARSE, "not positive", 0, NULL, 0 },
	{ "expires_in negative", 200, "{\"access_token\":\"x\",\"expires_in\":-5}", NULL,
	  NULL, ERR_PARSE, "not positive", 0, NULL, 0 },
	{ "expires_in absurd", 200, "{\"access_token\":\"x\",\"expires_in\":31536001}",
	  NULL, NULL, ERR_PARSE, "over a year", 0, NULL, 0 },
	{ "expires_in float", 200, "{\"access_token\":\"x\",\"expires_in\":1.5}", NULL,
	  NULL, ERR_PARSE, "not an integer", 0, NULL, 0 },
	{ "expires_in word", 200, "{\"access_token\":\"x\",\"expires_in\":\"soon\"}",
	  NULL, NULL, ERR_PARSE, "not an integer", 0, NULL, 0 },
	{ "no access_token", 200, "{\"expires_in\":60}", NULL, NULL, ERR_PARSE,
	  "no access_token", 0, NULL, 0 },
	{ "access_token number", 200, "{\"access_token\":5,\"expires_in\":60}", NULL,
	  NULL, ERR_PARSE, "no access_token", 0, NULL, 0 },
	{ "access_token empty", 200, "{\"access_token\":\"\",\"expires_in\":60}", NULL,
	  NULL, ERR_PARSE, "0 bytes", 0, NULL, 0 },
	{ "access_token with a space", 200,
	  "{\"access_token\":\"a b\",\"expires_in\":60}", NULL, NULL, ERR_PARSE,
	  "printable", 0, NULL, 0 },
	{ "access_token with a newline", 200,
	  "{\"access_token\":\"ab\\n\",\"expires_in\":60}", NULL, NULL, ERR_PARSE,
	  "printable", 0, NULL, 0 },
	{ "access_token not ASCII", 200,
	  "{\"access_token\":\"caf\\u00e9\",\"expires_in\":60}", NULL, NULL, ERR_PARSE,
	  "printable", 0, NULL, 0 },
	{ "token_type too long", 200,
	  "{\"access_token\":\"x\",\"expires_in\":60,\"token_type\":"
	  "\"Bearerrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr\"}",
	  NULL, NULL, ERR_PARSE, "token_type", 0, NULL, 0 },
	{ "token_type not a word", 200,
	  "{\"access_token\":\"x\",\"expires_in\":60,\"token_type\":\"Bearer x\"}", NULL,
	  NULL, ERR_PARSE, "token_type", 0, NULL, 0 },
	{ "200 not JSON", 200, "access_token=s3cr3t-value", NULL, NULL, ERR_PARSE,
	  "not a JSON object", 0, NULL, 0 },
	{ "200 JSON array", 200, "[\"x\"]", NULL, NULL, ERR_PARSE, "not a JSON object", 0,
	  NULL, 0 },
	{ "200 empty", 200, "", NULL, NULL, ERR_PARSE, "not a JSON object", 0, NULL, 0 },
	{ "401 access_denied", 401,
	  "{\"error\":\"access_denied\",\"error_description\":\"Unauthorized\"}", NULL,
	  NULL, ERR_AUTH,
	  "issuer answered 401 access_denied: Unauthorized; permanent, check "
	  "client_id, client_secret/client_key and client_auth",
	  0, NULL, 0 },
	{ "403 client grant", 403,
	  "{\"error\":\"access_denied\",\"error_description\":\"Client is not "
	  "authorized\"}",
	  NULL, NULL, ERR_AUTH, "issuer answered 403 access_denied: Client is not", 0,
	  NULL, 0 },
	{ "400 invalid_client", 400, "{\"error\":\"invalid_client\"}", NULL, NULL,
	  ERR_AUTH, "issuer answered 400 invalid_client; permanent, check client_id", 0,
	  NULL, 0 },
	{ "403 hint", 403, "{\"error\":\"access_denied\"}", NULL, NULL, ERR_AUTH,
	  "access_denied; permanent, the client is not granted this API", 0, NULL, 0 },
	{ "400 invalid_request", 400,
	  "{\"error\":\"invalid_request\",\"error_description\":\"Missing parameter\"}",
	  NULL, NULL, ERR_HTTP, "issuer answered 400 invalid_request: Missing parameter",
	  0, NULL, 0 },
	{ "429 with Retry-After seconds", 429,
	  "{\"statusCode\":429,\"error\":\"Too Many Requests\",\"message\":\"Global "
	  "limit "
	  "has been reached\"}",
	  "7", "1700000030", ERR_THROTTLED,
	  "issuer answered 429 Too Many Requests: Global limit has been reached", 0, NULL,
	  7000 },
	{ "429 with Retry-After date", 429, "{}", "Tue, 14 Nov 2023 22:13:40 GMT", NULL,
	  ERR_THROTTLED, "issuer answered 429", 0, NULL, 19800 },
	{ "429 with x-ratelimit-reset", 429, "{\"error\":\"too_many_requests\"}", NULL,
	  "1700000030", ERR_THROTTLED, "429 too_many_requests", 0, NULL, 29800 },
	{ "429 reset far away: clamped", 429, "", NULL, "1800000000", ERR_THROTTLED,
	  "issuer answered 429", 0, NULL, OAUTH2_MAX_RETRY_AFTER_MS },
	{ "429 reset past", 429, "", NULL, "1690000000", ERR_THROTTLED, "429", 0, NULL,
	  0 },
	{ "429 reset as a delta", 429, "", NULL, "15", ERR_THROTTLED, "429", 0, NULL,
	  15000 },
	{ "429 Retry-After garbage", 429, "", "soon", "15", ERR_THROTTLED, "429", 0, NULL,
	  15000 },
	{ "503 HTML with Retry-After", 503, "<html>busy</html>", "120", NULL, ERR_HTTP,
	  "issuer answered 503", 0, NULL, 120000 },
	{ "500 empty", 500, "", NULL, "1700000030", ERR_HTTP, "issuer answered 500", 0,
	  NULL, 0 },
	{ "control characters sanitised", 401,
	  "{\"error\":\"bad\\u001b[31m\",\"error_description\":\"a\\nb\"}", NULL, NULL,
	  ERR_AUTH, "issuer answered 401 bad?[31m: a?b", 0, NULL, 0 },
};

START_TEST(test_parse)
{
	const struct parse_case *c = &parse_cases[_i];
	struct token_result res;
	int rc = oauth2_parse_response(c->status, c->body, strlen(c->body),
	                               c->retry_after, c->reset, START, NOW, &res);

	ck_assert_int_eq(res.http_status, c->status);
	if (c->code == ERR_OK) {
		ck_assert_msg(rc == 0, "%s: %s", c->what, res.err.msg);
		ck_assert_int_eq(res.err.code, ERR_OK);
		ck_assert_str_eq(res.value->data, c->msg);
		ck_assert_int_eq(res.issued_at_ms, START);
		ck_assert_int_eq(res.expires_at_ms, START + c->expires_in);
		ck_assert_str_eq(res.token_type, c->type);
		ck_assert_int_eq(res.origin, TOKEN_ORIGIN_ISSUER);
		secret_unref(res.value);
		return;
	}
	ck_assert_msg(rc == -1, "%s: succeeded", c->what);
	ck_assert_ptr_null(res.value);
	ck_assert_msg(res.err.code == c->code, "%s: code %d", c->what, res.err.code);
	ck_assert_msg(strstr(res.err.msg, c->msg) != NULL, "%s: \"%s\"", c->what,
	              res.err.msg);
	ck_assert_msg(res.retry_after_ms == c->retry_ms, "%s: retry %lld", c->what,
	              (long long)res.retry_after_ms);
	/* Nothing of the body but the issuer's error text is echoed. */
	ck_assert_ptr_null(strstr(res.err.msg, "s3cr3t"));
}
END_TEST

START_TEST(test_parse_limits)
{
	size_t n = OAUTH2_MAX_TOKEN_LEN + 1;
	char *body = malloc(n + 64), *tok;
	struct token_result res;

	ck_assert_ptr_nonnull(body);
	strcpy(body, "{\"access_token\":\"");
	tok = body + strlen(body);
	memset(tok, 'a', n);
	strcpy(tok + n, "\",\"expires_in\":60}");
	ck_assert_int_eq(oauth2_parse_response(200, body, strlen(body), NULL, NULL, START,
	                                       NOW, &res),
	                 -1);
	ck_assert_ptr_nonnull(strstr(res.err.msg, "16385 bytes"));
	/* One byte less is accepted. */
	memmove(tok + n - 1, tok + n, strlen(tok + n) + 1);
	ck_assert_int_eq(oauth2_parse_response(200, body, strlen(body), NULL, NULL, START,
	                                       NOW, &res),
	                 0);
	ck_assert_uint_eq(res.value->len, OAUTH2_MAX_TOKEN_LEN);
	secret_unref(res.value);
	free(body);
	ck_assert_int_eq(
	        oauth2_parse_response(502, NULL, 0, NULL, NULL, START, NOW, &res), -1);
	ck_assert_str_eq(res.err.msg, "issuer answered 502");
}
END_TEST

/* Without expires_in: the JWT's exp, else default_lifetime, else refused;
 * the granted scope is kept, made printable. */
START_TEST(test_lifetime_fallbacks)
{
	static const char jwt[] = "{\"access_token\":\"" JWT_LATE "\",\"scope\":\"a b\"}";
	static const char opaque[] = "{\"access_token\":\"x\",\"scope\":\"a\\u0001\"}";
	struct token_result res;

	ck_assert_int_eq(oauth2_parse_answer(200, jwt, strlen(jwt), NULL, NULL, START,
	                                     NOW, 0, &res),
	                 0);
	ck_assert_int_eq(res.expires_at_ms, 1800000000000LL);
	ck_assert_str_eq(res.scope, "a b");
	secret_unref(res.value);
	ck_assert_int_eq(oauth2_parse_answer(200, opaque, strlen(opaque), NULL, NULL,
	                                     START, NOW, 90000, &res),
	                 0);
	ck_assert_int_eq(res.expires_at_ms, START + 90000);
	ck_assert_str_eq(res.scope, "a?");
	secret_unref(res.value);
	ck_assert_int_eq(oauth2_parse_answer(200, opaque, strlen(opaque), NULL, NULL,
	                                     START, NOW, 0, &res),
	                 -1);
	ck_assert_str_eq(res.err.msg, "issuer's answer has no expires_in and the token "
	                              "no JWT exp; set default_lifetime");
}
END_TEST

START_TEST(test_scope_missing)
{
	char m[16];

	ck_assert_uint_eq(oauth2_scope_missing("a b", "b  a c", m, sizeof(m)), 0);
	ck_assert_str_eq(m, "");
	ck_assert_uint_eq(oauth2_scope_missing(" read write ", "read", m, sizeof(m)), 1);
	ck_assert_str_eq(m, "write");
	ck_assert_uint_eq(oauth2_scope_missing("ab a", "abc", m, sizeof(m)), 2);
	ck_assert_str_eq(m, "ab a");
	ck_assert_uint_eq(oauth2_scope_missing("x yyyyyyyyyyyyyyyy z", "", m, sizeof(m)),
	                  3);
	ck_assert_str_eq(m, "x z");
}
END_TEST

/* Refusals of the configuration are permanent, say which setting to
 * check, and count as auth or config; the rest stay transient. */
static const struct {
	long status;
	const char *body;
	enum err_code code;
	bool permanent;
	const char *hint;
} classify_cases[] = {
	{ 401, "{\"error\":\"invalid_client\"}", ERR_AUTH, true, "check client_id" },
	{ 401, "", ERR_AUTH, true, "check client_id, client_secret" },
	{ 400, "{\"error\":\"invalid_client\"}", ERR_AUTH, true, "client_auth" },
	{ 400, "{\"error\":\"unauthorized_client\"}", ERR_AUTH, true, "grants" },
	{ 400, "{\"error\":\"invalid_scope\"}", ERR_CONFIG, true, "check scope" },
	{ 400, "{\"error\":\"unsupported_grant_type\"}", ERR_CONFIG, true,
	  "check token_url" },
	{ 400, "{\"error\":\"invalid_target\"}", ERR_CONFIG, true, "check resource" },
	{ 403, "{\"error\":\"access_denied\"}", ERR_AUTH, true, "audience/resource" },
	{ 400, "{\"error\":\"invalid_request\"}", ERR_HTTP, false, NULL },
	{ 403, "", ERR_AUTH, false, NULL },
	{ 500, "{\"error\":\"invalid_client\"}", ERR_HTTP, false, NULL },
	{ 429, "{\"error\":\"invalid_scope\"}", ERR_THROTTLED, false, NULL },
};

START_TEST(test_classify)
{
	struct token_result res;

	oauth2_parse_response(classify_cases[_i].status, classify_cases[_i].body,
	                      strlen(classify_cases[_i].body), NULL, NULL, START, NOW,
	                      &res);
	ck_assert_int_eq(res.err.code, classify_cases[_i].code);
	ck_assert_int_eq(res.permanent, classify_cases[_i].permanent);
	if (classify_cases[_i].hint != NULL)
		ck_assert_msg(strstr(res.err.msg, classify_cases[_i].hint) != NULL &&
		                      strstr(res.err.msg, "permanent") != NULL,
		              "%s", res.err.msg);
	else
		ck_assert_ptr_null(strstr(res.err.msg, "permanent"));
}
END_TEST

/* 30-60 s, 60-120 s, ... up to 5-10 min; a Retry-After still wins. */
START_TEST(test_backoff_permanent)
{
	ck_assert_int_eq(token_backoff_permanent(0, 0, 0), 30000);
	ck_assert_int_ge(token_backoff_permanent(0, 0, UINT32_MAX), 59990);
	ck_assert_int_le(token_backoff_permanent(0, 0, UINT32_MAX), 60000);
	ck_assert_int_eq(token_backoff_permanent(1, 0, 0), 60000);
	ck_assert_int_eq(token_backoff_permanent(3, 0, 0), 240000);
	ck_assert_int_eq(token_backoff_permanent(40, 0, 0), 300000);
	ck_assert_int_le(token_backoff_permanent(40, 0, UINT32_MAX), 600000);
	ck_assert_int_eq(token_backoff_permanent(0, 900000, 0), 900000);
}
END_TEST

/* --- requests ------------------------------------------------------------- */

struct body_case {
	enum oauth2_auth auth;
	enum oauth2_body format;
	const char *id, *secret, *audience, *scope;
	const char *want;
};

static const struct body_case body_cases[] = {
	/* wire-formats.md §6.6, byte for byte. */
	{ OAUTH2_AUTH_POST, OAUTH2_BODY_JSON, "AbC123", "s3cr3t",
	  "https://example-tenant.eu.auth0.com/api/v2/", NULL,
	  "{\"grant_type\":\"client_credentials\",\"client_id\":\"AbC123\",\"client_"
	  "secret\":\"s3cr3t\",\"audience\":\"https://example-tenant.eu.auth0.com/api/"
	  "v2/\"}" },
	{ OAUTH2_AUTH_POST, OAUTH2_BODY_FORM, "AbC123", "s3cr3t",
	  "https://api.example.com/", "read:a write:b",
	  "grant_type=client_credentials&client_id=AbC123&client_secret=s3cr3t&audience="
	  "https%3A%2F%2Fapi.example.com%2F&scope=read%3Aa+write%3Ab" },
	{ OAUTH2_AUTH_BASIC, OAUTH2_BODY_FORM, "AbC123", "s3cr3t",
	  "https://api.example.com/", NULL,
	  "grant_type=client_credentials&audience=https%3A%2F%2Fapi.example.com%2F" },
	{ OAUTH2_AUTH_BASIC, OAUTH2_BODY_JSON, "AbC123", "s3cr3t", NULL, "a b",
	  "{\"grant_type\":\"client_credentials\",\"scope\":\"a b\"}" },
	{ OAUTH2_AUTH_POST, OAUTH2_BODY_FORM, "id", "a+b:c%d \xc3\xa9&=", NULL, NULL,
	  "grant_type=client_credentials&client_id=id&client_secret=a%2Bb%3Ac%25d+%C3%A9%"
	  "26%"
	  "3D" },
	{ OAUTH2_AUTH_POST, OAUTH2_BODY_JSON, "id", "q\"b\\n\n\x01\xc3\xa9", NULL, NULL,
	  "{\"grant_type\":\"client_credentials\",\"client_id\":\"id\",\"client_secret\":"
	  "\"q\\\"b\\\\n\\u000a\\u0001\xc3\xa9\"}" },
	/* RFC 8705 §2: the mTLS methods identify the client in the body and
	 * send no secret; private_key_jwt sends neither (the assertion does). */
	{ OAUTH2_AUTH_TLS, OAUTH2_BODY_FORM, "AbC123", NULL, NULL, "a",
	  "grant_type=client_credentials&client_id=AbC123&scope=a" },
	{ OAUTH2_AUTH_SELF_SIGNED_TLS, OAUTH2_BODY_JSON, "AbC123", NULL, NULL, NULL,
	  "{\"grant_type\":\"client_credentials\",\"client_id\":\"AbC123\"}" },
	{ OAUTH2_AUTH_KEY_JWT, OAUTH2_BODY_FORM, "AbC123", NULL, NULL, NULL,
	  "grant_type=client_credentials" },
};

START_TEST(test_request_body)
{
	const struct body_case *c = &body_cases[_i];
	struct token_def def = { .name = "t" };
	char *body;

	def.client_auth = c->auth;
	def.request_format = c->format;
	def.client_id = (char *)c->id;
	def.audience = (char *)c->audience;
	def.scope = (char *)c->scope;
	body = oauth2_request_body(&def, c->auth == OAUTH2_AUTH_POST ? c->secret : NULL);
	ck_assert_str_eq(body, c->want);
	secret_free_str(body);
}
END_TEST

/* RFC 8707 resource, repeated in a form and an array in JSON, then the
 * extra parameters in the order written. */
START_TEST(test_request_body_resource)
{
	char *res[] = { "https://api.example.com/", "urn:x:y" };
	char *extra[] = { "organization=org_1", "prompt=a b&c" };
	struct token_def def = { .name = "t", .client_auth = OAUTH2_AUTH_BASIC };
	char *body;

	def.resources = res;
	def.n_resources = 1;
	body = oauth2_request_body(&def, NULL);
	ck_assert_str_eq(body, "grant_type=client_credentials&resource=https%3A%2F%2F"
	                       "api.example.com%2F");
	secret_free_str(body);
	def.n_resources = 2;
	def.extra_params = extra;
	def.n_extra_params = 2;
	body = oauth2_request_body(&def, NULL);
	ck_assert_str_eq(body, "grant_type=client_credentials&resource=https%3A%2F%2F"
	                       "api.example.com%2F&resource=urn%3Ax%3Ay&organization="
	                       "org_1&prompt=a+b%26c");
	secret_free_str(body);
	def.request_format = OAUTH2_BODY_JSON;
	body = oauth2_request_body(&def, NULL);
	ck_assert_str_eq(body, "{\"grant_type\":\"client_credentials\",\"resource\":["
	                       "\"https://api.example.com/\",\"urn:x:y\"],"
	                       "\"organization\":\"org_1\",\"prompt\":\"a b&c\"}");
	secret_free_str(body);
}
END_TEST

/* resource and extra_params repeat; other keys still may not. */
START_TEST(test_config_repeatable)
{
	static const char text[] = "[token \"t\"]\ntype = oauth2\n"
	                           "token_url = https://i.example/token\n"
	                           "client_id = id\nclient_secret = s\n"
	                           "resource = https://a.example/\n"
	                           "extra_params = x=1\n"
	                           "resource = urn:b\n"
	                           "extra_params = y=\n";
	struct config *cfg = NULL;
	struct err err = { 0 };
	const struct token_def *t;

	ck_assert_int_eq(config_load_string(text, "t.conf", &cfg, &err), 0);
	t = cfg->tokens[0];
	ck_assert_uint_eq(t->n_resources, 2);
	ck_assert_str_eq(t->resources[1], "urn:b");
	ck_assert_uint_eq(t->n_extra_params, 2);
	ck_assert_str_eq(t->extra_params[1], "y=");
	ck_assert(config_token_def_equal(t, t));
	config_free(cfg);
}
END_TEST

static const char *const basic_cases[][3] = {
	{ "AbC123", "s3cr3t", "Authorization: Basic QWJDMTIzOnMzY3IzdA==" },
	/* Form-encoded first (RFC 6749 §2.3.1): "id%3Ax:p%25%2B+w". */
	{ "id:x", "p%+ w", "Authorization: Basic aWQlM0F4OnAlMjUlMkIrdw==" },
	{ "a", "", "Authorization: Basic YTo=" },
};

START_TEST(test_basic_header)
{
	char *h = oauth2_basic_header(basic_cases[_i][0], basic_cases[_i][1]);

	ck_assert_str_eq(h, basic_cases[_i][2]);
	secret_free_str(h);
}
END_TEST

START_TEST(test_new_checks_url)
{
	struct token_def def = { .name = "t", .client_id = "id" };
	struct token_source src;
	struct err err;

	ck_assert_int_eq(source_oauth2_new(&def, NULL, &src, &err), -1);
	ck_assert_int_eq(err.code, ERR_CONFIG);
	def.token_url = "http://issuer.example.com/oauth/token";
	ck_assert_int_eq(source_oauth2_new(&def, NULL, &src, &err), -1);
	ck_assert_int_eq(err.code, ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "token_url"));
	def.token_url = "https://user:pw@issuer.example.com/oauth/token";
	ck_assert_int_eq(source_oauth2_new(&def, NULL, &src, &err), -1);
	def.token_url = "https://issuer.example.com/oauth/token";
	ck_assert_int_eq(source_oauth2_new(&def, NULL, &src, &err), 0);
	ck_assert_str_eq(src.ops->name, "oauth2");
	src.ops->free(src.impl);
}
END_TEST

static void
never_done(struct token_result *res, void *arg)
{
	ck_abort_msg("done called");
}

START_TEST(test_unresolved_secret)
{
	struct token_def def = { .name = "t", .client_id = "id" };
	struct token_source src;
	struct err err;

	def.token_url = "https://issuer.example.com/oauth/token";
	def.client_secret.ref = "ssm:/app/dev/secrets#AUTH0_CLIENT_SECRET";
	ck_assert_int_eq(source_oauth2_new(&def, NULL, &src, &err), 0);
	ck_assert_int_eq(src.ops->start_fetch(src.impl, never_done, NULL), -1);
	src.ops->start_error(src.impl, &err);
	ck_assert_int_eq(err.code, ERR_UNAVAILABLE);
	ck_assert_str_eq(err.msg,
	                 "client_secret (ssm:/app/dev/secrets#AUTH0_CLIENT_SECRET) "
	                 "not resolved");
	src.ops->cancel(src.impl);
	src.ops->free(src.impl);
}
END_TEST

/* --- whole fetches against a local issuer ----------------------------------- */

struct fetch_case {
	const char *what;
	enum oauth2_auth auth;
	enum oauth2_body format;
	int status; /* 0: no issuer listening; -1: never answers */
	const char *reply, *retry_after;
	/* what the issuer must see */
	const char *want_type, *want_auth, *want_body;
	/* what the source must hand back */
	enum err_code code;
	int64_t retry_ms;
};

static const struct fetch_case fetch_cases[] = {
	{ "post json", OAUTH2_AUTH_POST, OAUTH2_BODY_JSON, 200,
	  "{\"access_token\":\"tok-1\",\"token_type\":\"Bearer\",\"expires_in\":3600}",
	  NULL, "application/json", NULL,
	  "{\"grant_type\":\"client_credentials\",\"client_id\":\"id\",\"client_secret\":"
	  "\"se cret\",\"audience\":\"aud\"}",
	  ERR_OK, 0 },
	{ "basic form", OAUTH2_AUTH_BASIC, OAUTH2_BODY_FORM, 200,
	  "{\"access_token\":\"tok-1\",\"token_type\":\"Bearer\",\"expires_in\":3600}",
	  NULL, "application/x-www-form-urlencoded", "Basic aWQ6c2UrY3JldA==",
	  "grant_type=client_credentials&audience=aud", ERR_OK, 0 },
	{ "throttled", OAUTH2_AUTH_POST, OAUTH2_BODY_FORM, 429,
	  "{\"error\":\"too_many_requests\"}", "3", "application/x-www-form-urlencoded",
	  NULL,
	  "grant_type=client_credentials&client_id=id&client_secret=se+cret&audience=aud",
	  ERR_THROTTLED, 3000 },
	{ "denied", OAUTH2_AUTH_POST, OAUTH2_BODY_JSON, 401,
	  "{\"error\":\"access_denied\",\"error_description\":\"Unauthorized\"}", NULL,
	  NULL, NULL, NULL, ERR_AUTH, 0 },
	{ "no issuer", OAUTH2_AUTH_POST, OAUTH2_BODY_JSON, 0, NULL, NULL, NULL, NULL,
	  NULL, ERR_NET, 0 },
	{ "cancelled", OAUTH2_AUTH_POST, OAUTH2_BODY_JSON, -1, NULL, NULL, NULL, NULL,
	  NULL, ERR_CANCELLED, 0 },
};

static struct event_base *fbase;
static const struct fetch_case *fcase;
static char seen_type[128], seen_auth[128], seen_body[512], seen_method[8];
static struct token_result got;
static bool got_result, timed_out;

static void
issuer_handle(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req), *out;
	const char *v;
	size_t n;

	snprintf(seen_method, sizeof(seen_method), "%s",
	         evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "other");
	snprintf(seen_type, sizeof(seen_type), "%s",
	         (v = evhttp_find_header(in, "Content-Type")) ? v : "");
	snprintf(seen_auth, sizeof(seen_auth), "%s",
	         (v = evhttp_find_header(in, "Authorization")) ? v : "");
	n = evbuffer_get_length(body);
	n = n < sizeof(seen_body) - 1 ? n : sizeof(seen_body) - 1;
	evbuffer_remove(body, seen_body, n);
	seen_body[n] = '\0';
	if (fcase->status < 0) {
		event_base_loopbreak(fbase); /* hold the request: the test cancels */
		return;
	}
	out = evbuffer_new();
	evbuffer_add_printf(out, "%s", fcase->reply);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	if (fcase->retry_after != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
		                  fcase->retry_after);
	evhttp_send_reply(req, fcase->status, "X", out);
	evbuffer_free(out);
}

static void
on_fetched(struct token_result *res, void *arg)
{
	got = *res;
	got_result = true;
	event_base_loopbreak(fbase);
}

static void
on_fetch_deadline(evutil_socket_t fd, short what, void *arg)
{
	timed_out = true;
	event_base_loopbreak(fbase);
}

static int
issuer_port(struct evhttp_bound_socket *bound)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bound),
	                             (struct sockaddr *)&sin, &len),
	                 0);
	return ntohs(sin.sin_port);
}

static void
check_fetch_result(const struct fetch_case *c, int64_t before)
{
	ck_assert_msg(got.err.code == c->code, "%s: %d %s", c->what, got.err.code,
	              got.err.msg);
	if (c->want_body != NULL) {
		ck_assert_str_eq(seen_method, "POST");
		ck_assert_str_eq(seen_type, c->want_type);
		ck_assert_str_eq(seen_auth, c->want_auth ? c->want_auth : "");
		ck_assert_str_eq(seen_body, c->want_body);
	}
	if (c->code == ERR_OK) {
		ck_assert_str_eq(got.value->data, "tok-1");
		ck_assert_int_ge(got.expires_at_ms, before + 3600000);
		ck_assert_int_le(got.expires_at_ms, timeutil_wall_ms() + 3600000);
		ck_assert_int_eq(got.http_status, 200);
	} else {
		ck_assert_ptr_null(got.value);
		ck_assert_int_eq(got.retry_after_ms, c->retry_ms);
		ck_assert_int_eq(got.http_status, c->status > 0 ? c->status : 0);
	}
	secret_unref(got.value);
}

START_TEST(test_fetch)
{
	const struct fetch_case *c = fcase = &fetch_cases[_i];
	struct token_def def = { .name = "t", .client_id = "id", .audience = "aud" };
	struct timeval tv = { 5, 0 };
	struct http_client *http;
	struct evhttp *issuer;
	struct evhttp_bound_socket *bound;
	struct event *deadline;
	struct token_source src;
	struct err err;
	char url[64];
	int64_t before = timeutil_wall_ms();

	got_result = timed_out = false;
	memset(&got, 0, sizeof(got));
	seen_body[0] = seen_type[0] = seen_auth[0] = seen_method[0] = '\0';
	fbase = event_base_new();
	http = http_client_new(fbase, &err);
	ck_assert_ptr_nonnull(http);
	issuer = evhttp_new(fbase);
	bound = evhttp_bind_socket_with_handle(issuer, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bound);
	evhttp_set_gencb(issuer, issuer_handle, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/oauth/token", issuer_port(bound));
	if (c->status == 0) {
		evhttp_free(issuer);
		issuer = NULL;
	}
	def.token_url = url;
	def.client_auth = c->auth;
	def.request_format = c->format;
	def.client_secret.value = secret_new_str("se cret");
	def.request_timeout_ms = 5000;
	ck_assert_int_eq(source_oauth2_new(&def, http, &src, &err), 0);
	ck_assert_int_eq(src.ops->start_fetch(src.impl, on_fetched, NULL), 0);
	ck_assert(!got_result); /* never from inside start_fetch */
	deadline = evtimer_new(fbase, on_fetch_deadline, NULL);
	evtimer_add(deadline, &tv);
	event_base_dispatch(fbase);
	ck_assert(!timed_out);
	if (c->status < 0) {
		/* The issuer holds the request: cancel, and no answer comes. */
		ck_assert(!got_result);
		src.ops->cancel(src.impl);
		for (int i = 0; i < 20; i++)
			event_base_loop(fbase, EVLOOP_NONBLOCK);
		ck_assert(!got_result);
	} else {
		ck_assert(got_result);
		check_fetch_result(c, before);
	}
	src.ops->free(src.impl);
	event_free(deadline);
	secret_unref(def.client_secret.value);
	if (issuer != NULL)
		evhttp_free(issuer);
	http_client_free(http);
	event_base_free(fbase);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("oauth2");
	TCase *parse = tcase_create("parse");
	TCase *request = tcase_create("request");
	TCase *fetch = tcase_create("fetch");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(parse, test_parse, 0, (int)N(parse_cases));
	tcase_add_test(parse, test_parse_limits);
	tcase_add_loop_test(parse, test_classify, 0, N(classify_cases));
	tcase_add_test(parse, test_backoff_permanent);
	tcase_add_test(parse, test_lifetime_fallbacks);
	tcase_add_test(parse, test_scope_missing);
	suite_add_tcase(s, parse);

	tcase_add_loop_test(request, test_request_body, 0, (int)N(body_cases));
	tcase_add_loop_test(request, test_basic_header, 0, (int)N(basic_cases));
	tcase_add_test(request, test_new_checks_url);
	tcase_add_test(request, test_request_body_resource);
	tcase_add_test(request, test_config_repeatable);
	tcase_add_test(request, test_unresolved_secret);
	suite_add_tcase(s, request);

	tcase_set_timeout(fetch, 15);
	tcase_add_loop_test(fetch, test_fetch, 0, (int)N(fetch_cases));
	suite_add_tcase(s, fetch);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
