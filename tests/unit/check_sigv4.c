/* check_sigv4.c - SigV4 against botocore's output (committed fixtures made
 * by tests/fixtures/gen_sigv4_fixtures.py), the worked examples of the
 * wire-formats reference, and tables for each canonical piece. Runs
 * without the shared vectors directory. The token caches
 * (sigv4_iam_cache) are tested in check_sigv4_cache.c. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "sigv4.h"
#include "sigv4_canon.h"
#include "xalloc.h"

static json_t *header_fixtures;
static json_t *token_fixtures;

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The added "Name: value" line called name, or NULL. */
static const char *
added(const struct sigv4_signed *out, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; out->headers[i] != NULL; i++)
		if (strncmp(out->headers[i], name, n) == 0 && out->headers[i][n] == ':')
			return out->headers[i] + n + 2;
	return NULL;
}

START_TEST(test_fixture_headers)
{
	const json_t *c = json_array_get(header_fixtures, (size_t)_i);
	const json_t *jh = json_object_get(c, "headers");
	struct sigv4_creds creds = { jstr(c, "access_key_id"),
		                     jstr(c, "secret_access_key"),
		                     jstr(c, "session_token") };
	struct sigv4_signer sg = { &creds, jstr(c, "region"), jstr(c, "service"),
		                   json_integer_value(json_object_get(c, "time")) };
	struct sigv4_header h[16];
	struct sigv4_signed out = { 0 };
	struct err err = { 0 };
	const char *name = jstr(c, "name"), *body = jstr(c, "body");
	struct sigv4_request req = { .method = jstr(c, "method"),
		                     .path = jstr(c, "path"),
		                     .query = jstr(c, "query"),
		                     .headers = h,
		                     .nheaders = json_array_size(jh),
		                     .body = body,
		                     .body_len = strlen(body) };

	ck_assert(c != NULL && req.nheaders <= 16);
	for (size_t i = 0; i < req.nheaders; i++) {
		h[i].name = json_string_value(json_array_get(json_array_get(jh, i), 0));
		h[i].value = json_string_value(json_array_get(json_array_get(jh, i), 1));
	}
	ck_assert_msg(sigv4_sign_headers(&sg, &req, &out, &err) == 0, "%s: %s", name,
	              err.msg);
	ck_assert_str_eq(out.canonical_request, jstr(c, "canonical_request"));
	ck_assert_str_eq(out.string_to_sign, jstr(c, "string_to_sign"));
	ck_assert_str_eq(out.signature, jstr(c, "signature"));
	ck_assert_str_eq(added(&out, "Authorization"), jstr(c, "authorization"));
	ck_assert_str_eq(added(&out, "X-Amz-Date"), jstr(c, "x_amz_date"));
	if (creds.session_token != NULL)
		ck_assert_str_eq(added(&out, "X-Amz-Security-Token"),
		                 creds.session_token);
	else
		ck_assert_ptr_null(added(&out, "X-Amz-Security-Token"));
	sigv4_signed_clear(&out);
}
END_TEST

START_TEST(test_fixture_tokens)
{
	const json_t *c = json_array_get(token_fixtures, (size_t)_i);
	struct sigv4_creds creds = { jstr(c, "access_key_id"),
		                     jstr(c, "secret_access_key"),
		                     jstr(c, "session_token") };
	int64_t t = json_integer_value(json_object_get(c, "time"));
	struct err err = { 0 };
	char *token;

	if (strcmp(jstr(c, "kind"), "rds") == 0)
		token = sigv4_rds_token(
		        &creds, jstr(c, "region"), jstr(c, "host"),
		        (int)json_integer_value(json_object_get(c, "port")),
		        jstr(c, "user"), t, &err);
	else
		token = sigv4_elasticache_token(
		        &creds, jstr(c, "region"), jstr(c, "cache"), jstr(c, "user"),
		        json_is_true(json_object_get(c, "serverless")), t, &err);
	ck_assert_msg(token != NULL, "%s: %s", jstr(c, "name"), err.msg);
	ck_assert_str_eq(token, jstr(c, "token"));
	secret_free_str(token);
}
END_TEST

/* wire-formats.md §1.10: SSM GetParameter, verified against botocore. */
START_TEST(test_doc_ssm_get_parameter)
{
	static const char body[] =
	        "{\"Name\":\"/myapp/db/password\",\"WithDecryption\":true}";
	struct sigv4_creds creds = { "AKIDEXAMPLE",
		                     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL };
	struct sigv4_signer sg = { &creds, "us-east-1", "ssm", 1440938160 };
	struct sigv4_header h[] = {
		{ "Host", "ssm.us-east-1.amazonaws.com" },
		{ "Content-Type", "application/x-amz-json-1.1" },
		{ "X-Amz-Target", "AmazonSSM.GetParameter" },
	};
	struct sigv4_request req = { .method = "POST",
		                     .headers = h,
		                     .nheaders = 3,
		                     .body = body,
		                     .body_len = sizeof(body) - 1 };
	struct sigv4_signed out = { 0 };
	struct err err = { 0 };

	ck_assert_uint_eq(req.body_len, 51);
	ck_assert_int_eq(sigv4_sign_headers(&sg, &req, &out, &err), 0);
	ck_assert_str_eq(
	        out.canonical_request,
	        "POST\n/\n\n"
	        "content-type:application/x-amz-json-1.1\n"
	        "host:ssm.us-east-1.amazonaws.com\n"
	        "x-amz-date:20150830T123600Z\n"
	        "x-amz-target:AmazonSSM.GetParameter\n\n"
	        "content-type;host;x-amz-date;x-amz-target\n"
	        "faf2ce8186237b9d19e13c534351fef113cb6ff24a6871aeaf9db2ec4dacbcbe");
	ck_assert_str_eq(
	        out.string_to_sign,
	        "AWS4-HMAC-SHA256\n20150830T123600Z\n"
	        "20150830/us-east-1/ssm/aws4_request\n"
	        "01b51935b880beffed1183fa1338e6e401ff95df82a5e77bc2268b4dd885d112");
	ck_assert_str_eq(out.headers[0], "X-Amz-Date: 20150830T123600Z");
	ck_assert_str_eq(
	        out.headers[1],
	        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
	        "us-east-1/ssm/aws4_request, SignedHeaders=content-type;host;"
	        "x-amz-date;x-amz-target, Signature=790a727db86d7ce479125ca00904b98c"
	        "254bd00835f428295584897646523316");
	ck_assert_ptr_null(out.headers[2]);
	sigv4_signed_clear(&out);
}
END_TEST

/* §2.5 (AWS SDK for Java v2 DefaultRdsUtilitiesTest) and §3.4 (AWS
 * ElastiCache IAM sample, plus the serverless example). */
static const struct {
	const char *akid, *secret, *token, *region;
	const char *host; /* RDS host, or NULL for ElastiCache */
	int port;
	const char *cache, *user;
	bool serverless;
	int64_t time;
	const char *want; /* the whole token, or "...&X-Amz-Signature=HEX" suffix */
} doc_tokens[] = {
	{ "access_key", "secret_key", NULL, "us-east-1", "host.us-east-1.amazonaws.com",
	  3306, NULL, "mySQLUser", false, 1478540373,
	  "host.us-east-1.amazonaws.com:3306/?Action=connect&DBUser=mySQLUser&X-Amz-"
	  "Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=access_key%2F20161107%2Fus-east-1%"
	  "2F"
	  "rds-db%2Faws4_request&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-"
	  "SignedHeaders=host&X-Amz-Signature="
	  "87ab58107ef49f1c311a412f98b7f976b0b5152ffb559f0d36c6c9a0c5e0e362" },
	{ "access_key", "secret_key", "session_token", "us-east-1",
	  "host.us-east-1.amazonaws.com", 3306, NULL, "mySQLUser", false, 1478540373,
	  "&X-Amz-Security-Token=session_token&X-Amz-Signature="
	  "259b3b49213d1c060f1058cf02f5a6f6f7a2c6ea229d28d6562831df97833de4" },
	{ "fakeAccessKeyId", "fakeSecretKey", NULL, "eu-west-1", NULL, 0,
	  "my-replication-group-id", "my-user-id", false, 1735689600,
	  "&X-Amz-Signature="
	  "9e361603d85874bce06114c6644725ed113e3b11ae6fa92efdf10c6bcf5de8d7" },
	{ "fakeAccessKeyId", "fakeSecretKey", "fakeSessionToken", "eu-west-1", NULL, 0,
	  "my-replication-group-id", "my-user-id", false, 1735689600,
	  "&X-Amz-Signature="
	  "bbce2bd61bd78461297ecb92e7001ddbeab2d85906c3cbedad6c9b81fb3466dc" },
	{ "accessKey", "secretKey", NULL, "eu-west-1", NULL, 0, "my-cache", "user123",
	  true, 1722600710,
	  "&X-Amz-Signature="
	  "5dda5db919b1337db6596b2a608924bc10197fb39289b933b60bdb114d5a70dc" },
};

START_TEST(test_doc_tokens)
{
	struct sigv4_creds creds = { doc_tokens[_i].akid, doc_tokens[_i].secret,
		                     doc_tokens[_i].token };
	const char *want = doc_tokens[_i].want;
	struct err err = { 0 };
	char *got;
	size_t glen, wlen = strlen(want);

	if (doc_tokens[_i].host != NULL)
		got = sigv4_rds_token(&creds, doc_tokens[_i].region, doc_tokens[_i].host,
		                      doc_tokens[_i].port, doc_tokens[_i].user,
		                      doc_tokens[_i].time, &err);
	else
		got = sigv4_elasticache_token(&creds, doc_tokens[_i].region,
		                              doc_tokens[_i].cache, doc_tokens[_i].user,
		                              doc_tokens[_i].serverless,
		                              doc_tokens[_i].time, &err);
	ck_assert_msg(got != NULL, "%s", err.msg);
	glen = strlen(got);
	if (want[0] == '&')
		ck_assert_msg(glen > wlen && strcmp(got + glen - wlen, want) == 0,
		              "got %s\nwant suffix %s", got, want);
	else
		ck_assert_str_eq(got, want);
	if (doc_tokens[_i].serverless)
		ck_assert_ptr_nonnull(
		        strstr(got, "&User=user123&ResourceType=ServerlessCache&"));
	secret_free_str(got);
}
END_TEST

/* §1.5 known signing keys. */
START_TEST(test_signing_key)
{
	static const struct {
		const char *service, *hex;
	} keys[] = {
		{ "iam",
		  "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9" },
		{ "service",
		  "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75" },
	};

	for (size_t i = 0; i < 2; i++) {
		unsigned char key[SIGV4_KEY_LEN];
		char hex[2 * SIGV4_KEY_LEN + 1];

		sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830",
		                  "us-east-1", keys[i].service, key);
		for (size_t j = 0; j < SIGV4_KEY_LEN; j++)
			snprintf(hex + 2 * j, 3, "%02x", key[j]);
		ck_assert_str_eq(hex, keys[i].hex);
	}
}
END_TEST

static const struct {
	const char *in;
	bool keep_slash;
	const char *want;
} encode_cases[] = {
	{ "AZaz09-._~", false, "AZaz09-._~" },
	{ "a b", false, "a%20b" },
	{ "+=;/", false, "%2B%3D%3B%2F" },
	{ "+=;/", true, "%2B%3D%3B/" },
	{ "!*'()", false, "%21%2A%27%28%29" },
	{ "%20", false, "%2520" },
	{ "\xe1\x88\xb4", false, "%E1%88%B4" },
	{ "/a b/c", true, "/a%20b/c" },
	{ "&?#[]@:,$\"<>\\^`{|}", false,
	  "%26%3F%23%5B%5D%40%3A%2C%24%22%3C%3E%5C%5E%60%7B%7C%7D" },
	{ "\x01\x7f\xff", false, "%01%7F%FF" },
	{ "", false, "" },
};

START_TEST(test_uri_encode)
{
	struct sigv4_buf b = { 0 };
	char *got;

	sigv4_uri_encode(&b, encode_cases[_i].in, strlen(encode_cases[_i].in),
	                 encode_cases[_i].keep_slash);
	got = sigv4_buf_take(&b);
	ck_assert_str_eq(got, encode_cases[_i].want);
	free(got);
}
END_TEST

static const struct {
	const char *in;
	bool raw;
	const char *want;
} path_cases[] = {
	{ NULL, false, "/" },
	{ "", false, "/" },
	{ "/", false, "/" },
	{ "//example//", false, "/example/" },
	{ "/example/..", false, "/" },
	{ "/./example", false, "/example" },
	{ "/./", false, "/" },
	{ "/example1/example2/../..", false, "/" },
	{ "/a/b/../c/./d", false, "/a/c/d" },
	{ "/../../a", false, "/a" },
	{ "/my%20doc", false, "/my%2520doc" },
	{ "/%E1%88%B4", false, "/%25E1%2588%25B4" },
	{ "/example space/", false, "/example%20space/" },
	{ "//example//", true, "//example//" },
	{ "/example/..", true, "/example/.." },
	{ "/a+b=c", false, "/a%2Bb%3Dc" },
};

START_TEST(test_canonical_path)
{
	char *got = sigv4_canonical_path(path_cases[_i].in, path_cases[_i].raw);

	ck_assert_msg(strcmp(got, path_cases[_i].want) == 0, "%s: got %s want %s",
	              path_cases[_i].in ? path_cases[_i].in : "(null)", got,
	              path_cases[_i].want);
	free(got);
}
END_TEST

static const struct {
	const char *in, *canonical, *wire;
} query_cases[] = {
	{ NULL, "", "" },
	{ "", "", "" },
	{ "Param2=value2&Param1=value1", "Param1=value1&Param2=value2",
	  "Param2=value2&Param1=value1" },
	{ "Param1=value2&Param1=Value1", "Param1=Value1&Param1=value2",
	  "Param1=value2&Param1=Value1" },
	{ "Param-3=Value3&Param=Value2", "Param=Value2&Param-3=Value3",
	  "Param-3=Value3&Param=Value2" },
	{ "Param1=value1&param1=value2", "Param1=value1&param1=value2",
	  "Param1=value1&param1=value2" },
	{ "a=%7e&b=~&c=%7E", "a=~&b=~&c=~", "a=~&b=~&c=~" },
	{ "x=a b+c", "x=a%20b%2Bc", "x=a%20b%2Bc" },
	{ "x=%2f%2B%3d", "x=%2F%2B%3D", "x=%2F%2B%3D" },
	{ "flag&x=", "flag=&x=", "flag=&x=" },
	{ "&&a=1&", "a=1", "a=1" },
	{ "bad=%zz&end=%4", "bad=%25zz&end=%254", "bad=%25zz&end=%254" },
	{ "a=1=2", "a=1%3D2", "a=1%3D2" },
	{ "\xe1\x88\xb4=bar", "%E1%88%B4=bar", "%E1%88%B4=bar" },
};

START_TEST(test_canonical_query)
{
	struct sigv4_params p = { 0 };
	char *canonical, *wire;

	sigv4_params_parse(&p, query_cases[_i].in);
	canonical = sigv4_params_canonical(&p);
	wire = sigv4_params_join(&p);
	ck_assert_str_eq(canonical, query_cases[_i].canonical);
	ck_assert_str_eq(wire, query_cases[_i].wire);
	free(canonical);
	free(wire);
	sigv4_params_clear(&p);
}
END_TEST

#define H(n, v)                                                                          \
	{                                                                                \
		n, v                                                                     \
	}
static const struct {
	struct sigv4_header h[4];
	size_t n;
	const char *canonical, *names; /* NULL canonical: an error */
} header_cases[] = {
	{ { H("Host", "h"), H("My-Header1", "  a   b   c  ") },
	  2,
	  "host:h\nmy-header1:a b c\n",
	  "host;my-header1" },
	{ { H("X", "value1\n  value2\n     value3"), H("host", "h") },
	  2,
	  "host:h\nx:value1 value2 value3\n",
	  "host;x" },
	{ { H("A", "2"), H("a", "2"), H("A", "1"), H("host", "h") },
	  4,
	  "a:2,2,1\nhost:h\n",
	  "a;host" },
	{ { H("host", "h"), H("User-Agent", "x"), H("Authorization", "y"),
	    H("sec-websocket-key", "z") },
	  4,
	  "host:h\n",
	  "host" },
	{ { H("host", "h"), H("Empty", ""), H("Tabs", "\t\tx\ty\t") },
	  3,
	  "empty:\nhost:h\ntabs:x y\n",
	  "empty;host;tabs" },
	{ { H("X", "\"a   b\"") }, 1, NULL, NULL },                /* no host */
	{ { H("host", "h"), H("bad name", "x") }, 2, NULL, NULL }, /* not a token */
	{ { H("host", "h"), H("", "x") }, 2, NULL, NULL },
	{ { H("host", "h"), H("a:b", "x") }, 2, NULL, NULL },
};

START_TEST(test_canonical_headers)
{
	char *canonical = NULL, *names = NULL;
	struct err err = { 0 };
	int rc = sigv4_canonical_headers(header_cases[_i].h, header_cases[_i].n,
	                                 &canonical, &names, &err);

	if (header_cases[_i].canonical == NULL) {
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(err.code, ERR_INTERNAL);
		ck_assert_ptr_null(canonical);
		return;
	}
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_str_eq(canonical, header_cases[_i].canonical);
	ck_assert_str_eq(names, header_cases[_i].names);
	free(canonical);
	free(names);
}
END_TEST

START_TEST(test_presign_omit_token)
{
	struct sigv4_creds creds = { "AKID", "secret", "tok/en+=" };
	struct sigv4_signer sg = { &creds, "us-east-1", "service", 1440938160 };
	struct sigv4_header h = { "Host", "example.amazonaws.com" };
	struct sigv4_request req = { .method = "GET",
		                     .query = "b=2&a=1",
		                     .headers = &h,
		                     .nheaders = 1,
		                     .omit_session_token = true };
	struct sigv4_signed out = { 0 }, signed_in = { 0 };
	struct err err = { 0 };

	ck_assert_int_eq(sigv4_presign(&sg, &req, 60, &out, &err), 0);
	ck_assert_ptr_null(strstr(out.canonical_request, "Security-Token"));
	ck_assert_ptr_nonnull(strstr(out.query, "&X-Amz-Security-Token=tok%2Fen%2B%3D&"
	                                        "X-Amz-Signature="));
	ck_assert(strncmp(out.query, "b=2&a=1&X-Amz-Algorithm=", 24) == 0);
	ck_assert_ptr_null(out.headers[0]);

	/* Signed into the query by default: a different signature. */
	req.omit_session_token = false;
	ck_assert_int_eq(sigv4_presign(&sg, &req, 60, &signed_in, &err), 0);
	ck_assert_ptr_nonnull(
	        strstr(signed_in.canonical_request,
	               "&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-SignedHeaders"));
	ck_assert_str_ne(out.signature, signed_in.signature);
	sigv4_signed_clear(&out);
	sigv4_signed_clear(&signed_in);
	sigv4_signed_clear(&out); /* twice is harmless */
}
END_TEST

START_TEST(test_sign_body_header)
{
	struct sigv4_creds creds = { "AKID", "secret", "tok" };
	struct sigv4_signer sg = { &creds, "us-east-1", "service", 1440938160 };
	struct sigv4_header h = { "host", "example.amazonaws.com" };
	struct sigv4_request req = { .method = "POST",
		                     .headers = &h,
		                     .nheaders = 1,
		                     .body = "Param1=value1",
		                     .body_len = 13,
		                     .sign_body = true,
		                     .omit_session_token = true };
	struct sigv4_signed out = { 0 };
	struct err err = { 0 };
	static const char sha[] =
	        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";

	ck_assert_int_eq(sigv4_sign_headers(&sg, &req, &out, &err), 0);
	ck_assert_str_eq(added(&out, "X-Amz-Content-Sha256"), sha);
	ck_assert_str_eq(added(&out, "X-Amz-Security-Token"), "tok");
	ck_assert_ptr_nonnull(strstr(out.canonical_request, "\nx-amz-content-sha256:"));
	ck_assert_ptr_null(strstr(out.canonical_request, "security-token"));
	ck_assert_ptr_nonnull(
	        strstr(added(&out, "Authorization"),
	               "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="));
	ck_assert_ptr_null(out.headers[4]);
	sigv4_signed_clear(&out);
}
END_TEST

enum bad_kind { BAD_HEADERS, BAD_PRESIGN };

static const struct {
	enum bad_kind kind;
	struct sigv4_creds creds;
	const char *region, *method, *extra_header;
	int expires;
	enum err_code code;
} sign_errors[] = {
	{ BAD_HEADERS, { NULL, "s", NULL }, "r", "GET", NULL, 0, ERR_AUTH },
	{ BAD_HEADERS, { "a", "", NULL }, "r", "GET", NULL, 0, ERR_AUTH },
	{ BAD_HEADERS, { "a", "s", "t\r\nX-Evil: 1" }, "r", "GET", NULL, 0, ERR_AUTH },
	{ BAD_HEADERS, { "a/b", "s", NULL }, "r", "GET", NULL, 0, ERR_AUTH },
	{ BAD_HEADERS, { "a", "s", NULL }, "", "GET", NULL, 0, ERR_INTERNAL },
	{ BAD_HEADERS, { "a", "s", NULL }, "r", "", NULL, 0, ERR_INTERNAL },
	{ BAD_HEADERS, { "a", "s", NULL }, "r", "G T", NULL, 0, ERR_INTERNAL },
	{ BAD_HEADERS, { "a", "s", NULL }, "r", "GET", "X-Amz-Date", 0, ERR_INTERNAL },
	{ BAD_HEADERS, { "a", "s", NULL }, "r", "GET", "authorization", 0, ERR_INTERNAL },
	{ BAD_HEADERS,
	  { "a", "s", NULL },
	  "r",
	  "GET",
	  "x-amz-security-token",
	  0,
	  ERR_INTERNAL },
	{ BAD_PRESIGN, { "a", "s", NULL }, "r", "GET", NULL, 0, ERR_INTERNAL },
	{ BAD_PRESIGN,
	  { "a", "s", NULL },
	  "r",
	  "GET",
	  NULL,
	  SIGV4_MAX_EXPIRES_S + 1,
	  ERR_INTERNAL },
	{ BAD_PRESIGN, { NULL, NULL, NULL }, "r", "GET", NULL, 900, ERR_AUTH },
};

START_TEST(test_sign_errors)
{
	struct sigv4_signer sg = { &sign_errors[_i].creds, sign_errors[_i].region, "svc",
		                   1440938160 };
	struct sigv4_header h[2] = { { "host", "h" },
		                     { sign_errors[_i].extra_header, "v" } };
	struct sigv4_request req = { .method = sign_errors[_i].method,
		                     .headers = h,
		                     .nheaders = sign_errors[_i].extra_header ? 2 : 1 };
	struct sigv4_signed out = { 0 };
	struct err err = { 0 };
	int rc;

	if (sign_errors[_i].kind == BAD_HEADERS)
		rc = sigv4_sign_headers(&sg, &req, &out, &err);
	else
		rc = sigv4_presign(&sg, &req, sign_errors[_i].expires, &out, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(err.code, sign_errors[_i].code);
	ck_assert_ptr_null(out.headers[0]);
	ck_assert_ptr_null(out.query);
	ck_assert_ptr_null(out.canonical_request);
}
END_TEST

static const struct {
	const char *host; /* NULL: ElastiCache with cache */
	int port;
	const char *cache, *user;
	enum err_code code;
} token_errors[] = {
	{ "db.example.com", 0, NULL, "u", ERR_CONFIG },
	{ "db.example.com", 65536, NULL, "u", ERR_CONFIG },
	{ "db.example.com/x", 5432, NULL, "u", ERR_CONFIG },
	{ "db.example.com:5432", 5432, NULL, "u", ERR_CONFIG },
	{ "", 5432, NULL, "u", ERR_CONFIG },
	{ "db.example.com", 5432, NULL, "", ERR_CONFIG },
	{ "db.example.com", 5432, NULL, NULL, ERR_CONFIG },
	{ NULL, 0, "", "u", ERR_CONFIG },
	{ NULL, 0, "my cache", "u", ERR_CONFIG },
	{ NULL, 0, "c?x=1", "u", ERR_CONFIG },
	{ NULL, 0, "cache", "", ERR_CONFIG },
};

START_TEST(test_token_errors)
{
	struct sigv4_creds creds = { "a", "s", NULL };
	struct err err = { 0 };
	char *tok;

	if (token_errors[_i].host != NULL)
		tok = sigv4_rds_token(&creds, "us-east-1", token_errors[_i].host,
		                      token_errors[_i].port, token_errors[_i].user, 0,
		                      &err);
	else
		tok = sigv4_elasticache_token(&creds, "us-east-1", token_errors[_i].cache,
		                              token_errors[_i].user, false, 0, &err);
	ck_assert_ptr_null(tok);
	ck_assert_int_eq(err.code, token_errors[_i].code);
}
END_TEST

/* A token is not reproducible from the same inputs at another second, and
 * credentials that rotate change it: no caching across inputs. */
START_TEST(test_tokens_vary)
{
	struct sigv4_creds c1 = { "AKID", "secret1", NULL },
	                   c2 = { "AKID", "secret2", NULL };
	char *a = sigv4_rds_token(&c1, "us-east-1", "db", 5432, "u", 1000, NULL);
	char *b = sigv4_rds_token(&c1, "us-east-1", "db", 5432, "u", 1001, NULL);
	char *c = sigv4_rds_token(&c2, "us-east-1", "db", 5432, "u", 1000, NULL);
	char *d = sigv4_rds_token(&c1, "us-east-1", "db", 5432, "u", 1000, NULL);

	ck_assert_str_ne(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_str_eq(a, d);
	ck_assert(strncmp(a, "db:5432/?Action=connect&DBUser=u&X-Amz-Algorithm=", 49) ==
	          0);
	secret_free_str(a);
	secret_free_str(b);
	secret_free_str(c);
	secret_free_str(d);
}
END_TEST

static json_t *
load_fixture(const char *name)
{
	const char *top = getenv("abs_top_srcdir");
	json_error_t jerr;
	char *path = NULL;
	json_t *j;

	xasprintf(&path, "%s/tests/fixtures/sigv4/%s", top ? top : ".", name);
	j = json_load_file(path, 0, &jerr);
	if (j == NULL || !json_is_array(j) || json_array_size(j) == 0) {
		fprintf(stderr, "%s: %s (is abs_top_srcdir set?)\n", path, jerr.text);
		exit(EXIT_FAILURE);
	}
	free(path);
	return j;
}

#define LOOP(tc, fn, table)                                                              \
	tcase_add_loop_test(tc, fn, 0, (int)(sizeof(table) / sizeof(table[0])))

int main(void);

int
main(void)
{
	Suite *s = suite_create("sigv4");
	TCase *tc = tcase_create("fixtures");
	SRunner *sr;
	int failed;

	header_fixtures = load_fixture("headers.json");
	token_fixtures = load_fixture("tokens.json");
	tcase_add_loop_test(tc, test_fixture_headers, 0,
	                    (int)json_array_size(header_fixtures));
	tcase_add_loop_test(tc, test_fixture_tokens, 0,
	                    (int)json_array_size(token_fixtures));
	suite_add_tcase(s, tc);

	tc = tcase_create("documented");
	tcase_add_test(tc, test_doc_ssm_get_parameter);
	LOOP(tc, test_doc_tokens, doc_tokens);
	tcase_add_test(tc, test_signing_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("canonical");
	LOOP(tc, test_uri_encode, encode_cases);
	LOOP(tc, test_canonical_path, path_cases);
	LOOP(tc, test_canonical_query, query_cases);
	LOOP(tc, test_canonical_headers, header_cases);
	suite_add_tcase(s, tc);

	tc = tcase_create("signing");
	tcase_add_test(tc, test_presign_omit_token);
	tcase_add_test(tc, test_sign_body_header);
	LOOP(tc, test_sign_errors, sign_errors);
	LOOP(tc, test_token_errors, token_errors);
	tcase_add_test(tc, test_tokens_vary);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	printf("sigv4: %zu header fixtures, %zu token fixtures\n",
	       json_array_size(header_fixtures), json_array_size(token_fixtures));
	srunner_free(sr);
	json_decref(header_fixtures);
	json_decref(token_fixtures);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
