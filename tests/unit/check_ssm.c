/* check_ssm.c - the SSM wire format: error codes and how they are retried,
 * request bodies, answers (exponent-form numbers), the endpoint. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "ssm.h"
#include "ssm_wire.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
	const char *raw, *want;
} sanitize_cases[] = {
	{ "ParameterNotFound", "ParameterNotFound" },
	{ "com.amazon.coral.service#InvalidSignatureException",
	  "InvalidSignatureException" },
	{ "ThrottlingException:http://internal.amazon.com/coral/",
	  "ThrottlingException" },
	{ "aws.protocoltests#FooError:http://x/#bar", "FooError" },
	{ "a#b#TooManyUpdates", "TooManyUpdates" },
	{ "", "" },
	{ ":nothing", "" },
	/* A code is one word in a log line: nothing else survives. */
	{ "Bad Code\n\x1b[31m", "Bad?Code???31m" },
};

START_TEST(test_sanitize)
{
	char out[64];

	ssm_wire_sanitize_code(sanitize_cases[_i].raw, out, sizeof(out));
	ck_assert_str_eq(out, sanitize_cases[_i].want);
}
END_TEST

START_TEST(test_sanitize_truncates)
{
	char out[8];

	ssm_wire_sanitize_code("x#ABCDEFGHIJKLMNOP", out, sizeof(out));
	ck_assert_str_eq(out, "ABCDEFG");
}
END_TEST

START_TEST(test_sanitize_text)
{
	char out[16], big[64];

	ssm_wire_sanitize_text("plain text", out, sizeof(out));
	ck_assert_str_eq(out, "plain text");
	ssm_wire_sanitize_text("a\nb\rc\x1b[0m\xc3\xa9\x7f", out, sizeof(out));
	ck_assert_str_eq(out, "a?b?c?[0m???");
	ssm_wire_sanitize_text("0123456789abcdefghij", out, sizeof(out));
	ck_assert_str_eq(out, "0123456789ab...");
	ssm_wire_sanitize_text("", big, sizeof(big));
	ck_assert_str_eq(big, "");
}
END_TEST

/* An AWS message is bounded and made printable before it reaches an
 * error message (and so a log line). */
START_TEST(test_classify_sanitizes_message)
{
	char code[64], body[1024];
	struct err e = { 0 };

	snprintf(body, sizeof(body),
	         "{\"__type\":\"AccessDeniedException\",\"message\":\"line1\\nline2"
	         "\\u001b[31m%0400d\"}",
	         7);
	ssm_wire_classify(400, NULL, body, "GetParameter", "/p", code, sizeof(code), &e);
	ck_assert_ptr_null(strchr(e.msg, '\n'));
	ck_assert_ptr_null(strchr(e.msg, '\x1b'));
	ck_assert_ptr_nonnull(strstr(e.msg, "line1?line2?[31m"));
	ck_assert_ptr_nonnull(strstr(e.msg, "...\""));
	for (const char *p = e.msg; *p != '\0'; p++)
		ck_assert_msg(*p >= 0x20 && *p < 0x7f, "byte 0x%02x", (unsigned char)*p);
}
END_TEST

/* Busy (wait and call again) against unusable (the issuer's turn). */
static const struct {
	enum err_code err;
	long status;
	bool busy;
	enum ssm_outcome outcome;
} busy_cases[] = {
	{ ERR_OK, 200, false, SSM_OUTCOME_OK },
	{ ERR_NOTFOUND, 400, false, SSM_OUTCOME_NOT_FOUND },
	{ ERR_EXISTS, 400, false, SSM_OUTCOME_EXISTS },
	{ ERR_THROTTLED, 400, true, SSM_OUTCOME_THROTTLED },
	{ ERR_THROTTLED, 429, true, SSM_OUTCOME_THROTTLED },
	{ ERR_THROTTLED, 0, true, SSM_OUTCOME_THROTTLED }, /* budget deadline */
	{ ERR_UNAVAILABLE, 500, true, SSM_OUTCOME_ERROR },
	{ ERR_UNAVAILABLE, 503, true, SSM_OUTCOME_ERROR },
	{ ERR_TIMEOUT, 0, true, SSM_OUTCOME_ERROR },
	{ ERR_UNAVAILABLE, 400, false, SSM_OUTCOME_ERROR }, /* ParameterLimitExceeded */
	{ ERR_NET, 0, false, SSM_OUTCOME_ERROR },           /* refused, DNS, TLS */
	{ ERR_AUTH, 400, false, SSM_OUTCOME_ERROR },
	{ ERR_AUTH, 403, false, SSM_OUTCOME_ERROR },
	{ ERR_CONFIG, 400, false, SSM_OUTCOME_ERROR }, /* InvalidKeyId, KMS */
	{ ERR_PARSE, 200, false, SSM_OUTCOME_ERROR },
	{ ERR_HTTP, 404, false, SSM_OUTCOME_ERROR },
};

START_TEST(test_busy)
{
	struct ssm_result r = { 0 };

	r.err.code = busy_cases[_i].err;
	r.status = busy_cases[_i].status;
	ck_assert_msg(ssm_result_busy(&r) == busy_cases[_i].busy, "case %d", _i);
	ck_assert_int_eq(ssm_wire_outcome(&r.err), busy_cases[_i].outcome);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(ssm_op_name(SSM_OP_GET), "GetParameter");
	ck_assert_str_eq(ssm_op_name(SSM_OP_DELETE), "DeleteParameter");
	ck_assert_str_eq(ssm_op_name(SSM_OP_DESCRIBE), "DescribeParameters");
	ck_assert_str_eq(ssm_outcome_name(SSM_OUTCOME_NOT_FOUND), "not_found");
	ck_assert_str_eq(ssm_outcome_name(SSM_OUTCOME_THROTTLED), "throttled");
	ck_assert_str_eq(ssm_family_name(SSM_FAMILY_WRITE), "write");
}
END_TEST

/* Every documented code (wire-formats §4.6, §1.9, §7.2, appendix A). */
static const struct {
	long status;
	const char *header, *body;
	const char *code;
	enum err_code err;
	enum ssm_retry retry;
	const char *in_msg; /* must appear in the message */
} classify_cases[] = {
	{ 400, NULL, "{\"__type\":\"ParameterNotFound\",\"message\":\"\"}",
	  "ParameterNotFound", ERR_NOTFOUND, SSM_RETRY_NEVER, "no such parameter" },
	{ 400, NULL, "{\"__type\":\"ParameterNotFound\"}", "ParameterNotFound",
	  ERR_NOTFOUND, SSM_RETRY_NEVER, "ssm GetParameter /p: ParameterNotFound" },
	{ 400, NULL, "{\"__type\":\"ParameterVersionNotFound\"}",
	  "ParameterVersionNotFound", ERR_NOTFOUND, SSM_RETRY_NEVER, NULL },
	{ 400, NULL, "{\"__type\":\"ParameterAlreadyExists\",\"message\":\"exists\"}",
	  "ParameterAlreadyExists", ERR_EXISTS, SSM_RETRY_NEVER, "\"exists\"" },
	{ 400, NULL, "{\"__type\":\"ParameterLimitExceeded\"}", "ParameterLimitExceeded",
	  ERR_UNAVAILABLE, SSM_RETRY_NEVER, "quota" },
	{ 400, NULL, "{\"__type\":\"ParameterMaxVersionLimitExceeded\"}",
	  "ParameterMaxVersionLimitExceeded", ERR_UNAVAILABLE, SSM_RETRY_NEVER, "label" },
	{ 400, NULL, "{\"__type\":\"TooManyUpdates\",\"Message\":\"concurrent\"}",
	  "TooManyUpdates", ERR_THROTTLED, SSM_RETRY_BACKOFF, "\"concurrent\"" },
	{ 400, NULL, "{\"__type\":\"HierarchyLevelLimitExceededException\"}",
	  "HierarchyLevelLimitExceededException", ERR_CONFIG, SSM_RETRY_NEVER, "15" },
	{ 400, NULL, "{\"__type\":\"HierarchyTypeMismatchException\"}",
	  "HierarchyTypeMismatchException", ERR_CONFIG, SSM_RETRY_NEVER, "ssm_type" },
	{ 400, NULL, "{\"__type\":\"InvalidKeyId\"}", "InvalidKeyId", ERR_CONFIG,
	  SSM_RETRY_NEVER, "ssm_kms_key_id" },
	{ 400, NULL, "{\"__type\":\"ParameterPatternMismatchException\"}",
	  "ParameterPatternMismatchException", ERR_CONFIG, SSM_RETRY_NEVER, NULL },
	{ 400, NULL, "{\"__type\":\"UnsupportedParameterType\"}",
	  "UnsupportedParameterType", ERR_CONFIG, SSM_RETRY_NEVER, NULL },
	{ 400, NULL, "{\"__type\":\"InvalidAllowedPatternException\"}",
	  "InvalidAllowedPatternException", ERR_CONFIG, SSM_RETRY_NEVER, NULL },
	{ 400, NULL, "{\"__type\":\"ValidationException\",\"message\":\"bad name\"}",
	  "ValidationException", ERR_CONFIG, SSM_RETRY_NEVER, "bad name" },
	{ 400, NULL,
	  "{\"__type\":\"AccessDeniedException\",\"Message\":\"not authorized\"}",
	  "AccessDeniedException", ERR_AUTH, SSM_RETRY_NEVER, "not authorized" },
	{ 400, NULL, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}",
	  "ThrottlingException", ERR_THROTTLED, SSM_RETRY_BACKOFF, "Rate exceeded" },
	{ 500, NULL, "{\"__type\":\"InternalServerError\",\"Message\":\"x\"}",
	  "InternalServerError", ERR_UNAVAILABLE, SSM_RETRY_BACKOFF, "HTTP 500" },
	{ 500, NULL, "{\"__type\":\"InternalFailure\"}", "InternalFailure",
	  ERR_UNAVAILABLE, SSM_RETRY_BACKOFF, NULL },
	{ 503, NULL, "{\"__type\":\"ServiceUnavailable\"}", "ServiceUnavailable",
	  ERR_UNAVAILABLE, SSM_RETRY_BACKOFF, NULL },
	{ 400, NULL, "{\"__type\":\"UnrecognizedClientException\"}",
	  "UnrecognizedClientException", ERR_AUTH, SSM_RETRY_CREDS, NULL },
	{ 400, NULL, "{\"__type\":\"ExpiredTokenException\"}", "ExpiredTokenException",
	  ERR_AUTH, SSM_RETRY_CREDS, "expired" },
	{ 400, NULL,
	  "{\"__type\":\"com.amazon.coral.service#InvalidSignatureException\","
	  "\"message\":\"Signature expired: 20240101T115300Z is now earlier than "
	  "20240101T115500Z (20240101T120000Z - 5 min.)\"}",
	  "InvalidSignatureException", ERR_AUTH, SSM_RETRY_SKEW, "clock skew" },
	{ 400, NULL,
	  "{\"__type\":\"InvalidSignatureException\",\"message\":\"Signature not yet "
	  "current: 20240101T121000Z is still later than ...\"}",
	  "InvalidSignatureException", ERR_AUTH, SSM_RETRY_SKEW, NULL },
	{ 400, NULL,
	  "{\"__type\":\"InvalidSignatureException\",\"message\":\"The request "
	  "signature we calculated does not match\"}",
	  "InvalidSignatureException", ERR_AUTH, SSM_RETRY_NEVER, "a bug" },
	{ 400, NULL, "{\"__type\":\"RequestExpired\"}", "RequestExpired", ERR_AUTH,
	  SSM_RETRY_SKEW, NULL },
	{ 400, NULL, "{\"__type\":\"IncompleteSignatureException\"}",
	  "IncompleteSignatureException", ERR_AUTH, SSM_RETRY_NEVER, NULL },
	{ 403, NULL, "{\"__type\":\"MissingAuthenticationTokenException\"}",
	  "MissingAuthenticationTokenException", ERR_AUTH, SSM_RETRY_NEVER, NULL },
	/* The header wins over the body, and is sanitised too. */
	{ 400, "ThrottlingException:http://internal.amazon.com/coral/",
	  "{\"__type\":\"ParameterNotFound\"}", "ThrottlingException", ERR_THROTTLED,
	  SSM_RETRY_BACKOFF, NULL },
	{ 400, "", "{\"code\":\"ParameterAlreadyExists\"}", "ParameterAlreadyExists",
	  ERR_EXISTS, SSM_RETRY_NEVER, NULL },
	/* Appendix A throttling codes and bare statuses. */
	{ 400, NULL, "{\"__type\":\"RequestLimitExceeded\"}", "RequestLimitExceeded",
	  ERR_THROTTLED, SSM_RETRY_BACKOFF, NULL },
	{ 429, NULL, "", "", ERR_THROTTLED, SSM_RETRY_BACKOFF, "HTTP 429" },
	{ 502, NULL, "<html>bad gateway</html>", "", ERR_UNAVAILABLE, SSM_RETRY_BACKOFF,
	  NULL },
	{ 400, NULL, "{\"__type\":\"SomethingNew\"}", "SomethingNew", ERR_HTTP,
	  SSM_RETRY_NEVER, "SomethingNew" },
	{ 503, NULL, "{\"__type\":\"SomethingNew\"}", "SomethingNew", ERR_UNAVAILABLE,
	  SSM_RETRY_BACKOFF, NULL },
	{ 403, NULL, NULL, "", ERR_AUTH, SSM_RETRY_NEVER, NULL },
	/* KMS behind a SecureString: unusable, except its throttling. */
	{ 400, NULL, "{\"__type\":\"KMSAccessDeniedException\"}",
	  "KMSAccessDeniedException", ERR_AUTH, SSM_RETRY_NEVER, "KMS" },
	{ 400, NULL, "{\"__type\":\"KMSDisabledException\"}", "KMSDisabledException",
	  ERR_CONFIG, SSM_RETRY_NEVER, "disabled" },
	{ 400, NULL, "{\"__type\":\"KMSThrottlingException\"}", "KMSThrottlingException",
	  ERR_THROTTLED, SSM_RETRY_BACKOFF, NULL },
};

START_TEST(test_classify)
{
	char code[64];
	struct err e = { 0 };
	enum ssm_retry r = ssm_wire_classify(
	        classify_cases[_i].status, classify_cases[_i].header,
	        classify_cases[_i].body, "GetParameter", "/p", code, sizeof(code), &e);

	ck_assert_str_eq(code, classify_cases[_i].code);
	ck_assert_msg(e.code == classify_cases[_i].err, "case %d: err %d (%s)", _i,
	              (int)e.code, e.msg);
	ck_assert_msg(r == classify_cases[_i].retry, "case %d: retry %d", _i, (int)r);
	if (classify_cases[_i].in_msg != NULL)
		ck_assert_msg(strstr(e.msg, classify_cases[_i].in_msg) != NULL,
		              "case %d: '%s' not in '%s'", _i, classify_cases[_i].in_msg,
		              e.msg);
}
END_TEST

START_TEST(test_bodies)
{
	char *b;
	struct ssm_put put = {
		.name = "/app/tok",
		.value = "a\"b\\c\n\x01",
		.type = "SecureString",
		.key_id = "alias/app",
		.overwrite = true,
		.tier = "Standard",
		.description = "expires:1",
	};

	b = ssm_wire_get_body("/app/tok", true);
	ck_assert_str_eq(b, "{\"Name\":\"/app/tok\",\"WithDecryption\":true}");
	secret_free_str(b);
	b = ssm_wire_get_body("/x", false);
	ck_assert_str_eq(b, "{\"Name\":\"/x\",\"WithDecryption\":false}");
	secret_free_str(b);
	b = ssm_wire_delete_body("/x.lock");
	ck_assert_str_eq(b, "{\"Name\":\"/x.lock\"}");
	secret_free_str(b);
	b = ssm_wire_describe_body("/app/\"tok");
	ck_assert_str_eq(b, "{\"ParameterFilters\":[{\"Key\":\"Name\",\"Option\":"
	                    "\"Equals\",\"Values\":[\"/app/\\\"tok\"]}]}");
	secret_free_str(b);
	b = ssm_wire_put_body(&put);
	ck_assert_str_eq(b,
	                 "{\"Name\":\"/app/tok\",\"Value\":\"a\\\"b\\\\c\\u000a\\u0001\","
	                 "\"Type\":\"SecureString\",\"KeyId\":\"alias/app\","
	                 "\"Tier\":\"Standard\",\"Description\":\"expires:1\","
	                 "\"Overwrite\":true}");
	secret_free_str(b);
	put.type = put.key_id = put.tier = put.description = NULL;
	put.overwrite = false;
	b = ssm_wire_put_body(&put);
	ck_assert_str_eq(b,
	                 "{\"Name\":\"/app/tok\",\"Value\":\"a\\\"b\\\\c\\u000a\\u0001\","
	                 "\"Overwrite\":false}");
	secret_free_str(b);
}
END_TEST

START_TEST(test_buf_grows)
{
	struct ssm_wire_buf b = { 0 };
	char *s;

	for (int i = 0; i < 1000; i++)
		ssm_wire_buf_add_str(&b, "0123456789");
	ck_assert_uint_eq(b.len, 10000);
	ssm_wire_buf_add_int(&b, -42);
	s = ssm_wire_buf_take(&b);
	ck_assert_uint_eq(strlen(s), 10003);
	ck_assert_str_eq(s + 10000, "-42");
	ck_assert_ptr_null(b.p);
	secret_free_str(s);
	s = ssm_wire_buf_take(&b);
	ck_assert_str_eq(s, "");
	secret_free_str(s);
	ssm_wire_buf_add_str(&b, "x");
	ssm_wire_buf_wipe(&b);
	ck_assert_ptr_null(b.p);
}
END_TEST

static const struct {
	const char *body;
	int rc;
	const char *value;
	int64_t version, modified_ms;
} get_cases[] = {
	{ "{\"Parameter\":{\"Name\":\"/"
	  "p\",\"Type\":\"SecureString\",\"Value\":\"s3cr3t\","
	  "\"Version\":3,\"LastModifiedDate\":1.7040672001E9,\"ARN\":\"arn:x\","
	  "\"DataType\":\"text\"}}",
	  0, "s3cr3t", 3, INT64_C(1704067200100) },
	{ "{\"Parameter\":{\"Name\":\"/p\",\"Type\":\"String\",\"Value\":\"v\","
	  "\"Version\":4.0E0,\"LastModifiedDate\":1704067200}}",
	  0, "v", 4, INT64_C(1704067200000) },
	{ "{\"Parameter\":{\"Name\":\"/p\",\"Value\":\"\\u00e9\"}}", 0, "\xc3\xa9", 0,
	  0 },
	{ "{\"Parameter\":{\"Name\":\"/p\",\"Value\":\"\\u0000}{corrupt\"}}", 0, "", 0,
	  0 },
	{ "{\"Parameter\":{\"Name\":\"/p\"}}", -1, NULL, 0, 0 },
	{ "{\"Parameter\":null}", -1, NULL, 0, 0 },
	{ "{\"Parameter\": {\"Name\": ", -1, NULL, 0, 0 },
	{ "[]", -1, NULL, 0, 0 },
	{ "", -1, NULL, 0, 0 },
};

START_TEST(test_parse_get)
{
	struct ssm_parameter p;
	struct err e = { 0 };
	int rc = ssm_wire_parse_get(get_cases[_i].body, &p, &e);

	ck_assert_int_eq(rc, get_cases[_i].rc);
	if (rc == 0) {
		ck_assert_str_eq(p.name, "/p");
		ck_assert_str_eq(p.value, get_cases[_i].value);
		ck_assert_int_eq(p.version, get_cases[_i].version);
		ck_assert_int_eq(p.last_modified_ms, get_cases[_i].modified_ms);
	} else {
		ck_assert_int_eq(e.code, ERR_PARSE);
		ck_assert_ptr_null(p.value);
	}
	ssm_wire_parameter_clear(&p);
	ck_assert_ptr_null(p.name);
}
END_TEST

START_TEST(test_parse_put)
{
	int64_t v = 0;
	struct err e = { 0 };

	ck_assert_int_eq(
	        ssm_wire_parse_put("{\"Version\":4,\"Tier\":\"Standard\"}", &v, &e), 0);
	ck_assert_int_eq(v, 4);
	ck_assert_int_eq(ssm_wire_parse_put("{\"Version\":1.2E1}", &v, &e), 0);
	ck_assert_int_eq(v, 12);
	ck_assert_int_eq(ssm_wire_parse_put("{\"Tier\":\"Standard\"}", &v, &e), -1);
	ck_assert_int_eq(e.code, ERR_PARSE);
	ck_assert_int_eq(ssm_wire_parse_put("nope", &v, &e), -1);
}
END_TEST

START_TEST(test_parse_describe)
{
	struct ssm_parameter p;
	struct err e = { 0 };

	ck_assert_int_eq(
	        ssm_wire_parse_describe(
	                "{\"Parameters\":[{\"Name\":\"/a/other\",\"Description\":\"x\"},"
	                "{\"Name\":\"/a/tok\",\"Type\":\"String\",\"Version\":7,"
	                "\"LastModifiedDate\":1.7040672E9,"
	                "\"Description\":\"expires:1704070800000\"}]}",
	                "/a/tok", &p, &e),
	        0);
	ck_assert_str_eq(p.name, "/a/tok");
	ck_assert_str_eq(p.description, "expires:1704070800000");
	ck_assert_ptr_null(p.value);
	ck_assert_int_eq(p.version, 7);
	ck_assert_int_eq(p.last_modified_ms, INT64_C(1704067200000));
	ssm_wire_parameter_clear(&p);
	/* No Description: an empty one. */
	ck_assert_int_eq(ssm_wire_parse_describe("{\"Parameters\":[{\"Name\":\"/a\"}]}",
	                                         "/a", &p, &e),
	                 0);
	ck_assert_str_eq(p.description, "");
	ssm_wire_parameter_clear(&p);
	ck_assert_int_eq(ssm_wire_parse_describe("{\"Parameters\":[]}", "/a", &p, &e),
	                 -1);
	ck_assert_int_eq(e.code, ERR_NOTFOUND);
	ck_assert_int_eq(ssm_wire_parse_describe("{\"Nope\":1}", "/a", &p, &e), -1);
	ck_assert_int_eq(e.code, ERR_PARSE);
}
END_TEST

static const struct {
	const char *env_ssm, *env_all, *region, *want;
} endpoint_cases[] = {
	{ NULL, NULL, "us-east-1", "https://ssm.us-east-1.amazonaws.com" },
	{ NULL, NULL, "cn-north-1", "https://ssm.cn-north-1.amazonaws.com.cn" },
	{ "http://127.0.0.1:4566/", NULL, "us-east-1", "http://127.0.0.1:4566" },
	{ "", "http://localhost:9000", "eu-west-1", "http://localhost:9000" },
	{ "http://127.0.0.1:1", "http://localhost:9000", "eu-west-1",
	  "http://127.0.0.1:1" },
};

START_TEST(test_endpoint)
{
	char *got;

	unsetenv("AWS_ENDPOINT_URL_SSM");
	unsetenv("AWS_ENDPOINT_URL");
	if (endpoint_cases[_i].env_ssm != NULL)
		setenv("AWS_ENDPOINT_URL_SSM", endpoint_cases[_i].env_ssm, 1);
	if (endpoint_cases[_i].env_all != NULL)
		setenv("AWS_ENDPOINT_URL", endpoint_cases[_i].env_all, 1);
	got = ssm_endpoint_for(endpoint_cases[_i].region);
	ck_assert_str_eq(got, endpoint_cases[_i].want);
	free(got);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("ssm");
	TCase *tc = tcase_create("wire");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_sanitize, 0, N(sanitize_cases));
	tcase_add_test(tc, test_sanitize_truncates);
	tcase_add_test(tc, test_sanitize_text);
	tcase_add_test(tc, test_classify_sanitizes_message);
	tcase_add_loop_test(tc, test_busy, 0, N(busy_cases));
	tcase_add_test(tc, test_names);
	tcase_add_loop_test(tc, test_classify, 0, N(classify_cases));
	tcase_add_test(tc, test_bodies);
	tcase_add_test(tc, test_buf_grows);
	tcase_add_loop_test(tc, test_parse_get, 0, N(get_cases));
	tcase_add_test(tc, test_parse_put);
	tcase_add_test(tc, test_parse_describe);
	tcase_add_loop_test(tc, test_endpoint, 0, N(endpoint_cases));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
