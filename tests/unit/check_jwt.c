/* check_jwt.c - jwt_decode_exp over a table of well and badly formed tokens. */
#include <check.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int main(void);

#define HDR "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9" /* {"alg":"RS256","typ":"JWT"} */

/* base64url of s without padding, into out. */
static const char *
b64url(const char *s, char *out, size_t cap)
{
	int n;

	ck_assert_uint_lt(4 * (strlen(s) + 2) / 3 + 1, cap);
	n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s,
	                    (int)strlen(s));
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (int i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

/* Either payload (JSON, encoded here) or raw (the whole token). */
struct jwt_case {
	const char *what;
	const char *payload;
	const char *raw;
	int rc;
	int64_t exp;
};

static const struct jwt_case cases[] = {
	{ "valid", "{\"sub\":\"x\",\"exp\":1704153600}", NULL, 0, 1704153600 },
	{ "exp as float", "{\"exp\":1704153600.75}", NULL, 0, 1704153600 },
	{ "exp only", "{\"exp\":1}", NULL, 0, 1 },
	{ "no exp", "{\"sub\":\"x\",\"iat\":1704067200}", NULL, -1, 0 },
	{ "exp null", "{\"exp\":null}", NULL, -1, 0 },
	{ "exp string", "{\"exp\":\"1704153600\"}", NULL, -1, 0 },
	{ "exp zero", "{\"exp\":0}", NULL, -1, 0 },
	{ "negative exp", "{\"exp\":-5}", NULL, -1, 0 },
	{ "negative float exp", "{\"exp\":-0.5}", NULL, -1, 0 },
	{ "exp past year 9999", "{\"exp\":253402300800}", NULL, -1, 0 },
	{ "exp huge float", "{\"exp\":1e300}", NULL, -1, 0 },
	{ "payload is an array", "[1704153600]", NULL, -1, 0 },
	{ "payload not JSON", "exp=1704153600", NULL, -1, 0 },
	{ "duplicate exp", "{\"exp\":1,\"exp\":2}", NULL, -1, 0 },
	{ "two segments", NULL, HDR ".eyJleHAiOjE3MDQxNTM2MDB9", -1, 0 },
	{ "unsigned JWS (empty signature)", NULL, HDR ".eyJleHAiOjE3MDQxNTM2MDB9.", 0,
	  1704153600 },
	{ "short signature", NULL, HDR ".eyJleHAiOjE3MDQxNTM2MDB9.c2ln", 0, 1704153600 },
	{ "five segments (JWE)", NULL, HDR ".eyJleHAiOjF9.a.b.c", -1, 0 },
	{ "empty payload", NULL, HDR "..c2ln", -1, 0 },
	{ "empty header", NULL, ".eyJleHAiOjF9.c2ln", -1, 0 },
	{ "bad char in payload", NULL, HDR ".eyJleHAi*jF9.c2ln", -1, 0 },
	{ "standard base64 '+'", NULL, HDR ".eyJleHAiOjF+.c2ln", -1, 0 },
	{ "bad char in signature", NULL, HDR ".eyJleHAiOjF9.c2l n", -1, 0 },
	{ "bad char in header", NULL, "eyJh!GciOiJ9.eyJleHAiOjF9.c2ln", -1, 0 },
	{ "length 4n+1", NULL, HDR ".eyJleHAiOjF9e.c2ln", -1, 0 },
	{ "wrong padding", NULL, HDR ".eyJleHAiOjF9=.c2ln", -1, 0 },
	{ "not a JWT", NULL, "opaque-token-value", -1, 0 },
	{ "empty", NULL, "", -1, 0 },
};

START_TEST(test_decode)
{
	const struct jwt_case *c = &cases[_i];
	char tok[512], enc[256];
	int64_t exp = 42;
	int rc;

	if (c->payload != NULL)
		snprintf(tok, sizeof(tok), HDR ".%s.c2lnbmF0dXJl",
		         b64url(c->payload, enc, sizeof(enc)));
	else
		snprintf(tok, sizeof(tok), "%s", c->raw);
	rc = jwt_decode_exp(tok, &exp);
	ck_assert_msg(rc == c->rc, "%s: rc %d, want %d", c->what, rc, c->rc);
	if (c->rc == 0)
		ck_assert_msg(exp == c->exp, "%s: exp %lld, want %lld", c->what,
		              (long long)exp, (long long)c->exp);
	else
		ck_assert_msg(exp == 42, "%s: exp written on failure", c->what);
}
END_TEST

START_TEST(test_padded_payload)
{
	/* {"exp":1} is 9 bytes: 12 characters, so no padding; {"exp":12} is
	 * 10: "eyJleHAiOjEyfQ" plus "==". Both spellings decode. */
	int64_t exp = 0;

	ck_assert_int_eq(jwt_decode_exp(HDR ".eyJleHAiOjEyfQ==.c2ln", &exp), 0);
	ck_assert_int_eq(exp, 12);
	ck_assert_int_eq(jwt_decode_exp(HDR ".eyJleHAiOjEyfQ.c2ln", &exp), 0);
	ck_assert_int_eq(exp, 12);
	ck_assert_int_eq(jwt_decode_exp(HDR ".eyJleHAiOjEyfQ=.c2ln", &exp), -1);
	/* Non-zero leftover bits ("fR" instead of "fQ") are refused. */
	ck_assert_int_eq(jwt_decode_exp(HDR ".eyJleHAiOjEyfR.c2ln", &exp), -1);
}
END_TEST

START_TEST(test_huge)
{
	size_t n = JWT_MAX_LEN + 100;
	char *tok = malloc(n + 1);
	int64_t exp = 0;

	ck_assert_ptr_nonnull(tok);
	/* A valid JWT whose signature pads it over the limit. */
	memset(tok, 'A', n);
	memcpy(tok, HDR ".eyJleHAiOjF9.", strlen(HDR ".eyJleHAiOjF9."));
	tok[n] = '\0';
	ck_assert_int_eq(jwt_decode_exp(tok, &exp), -1);
	/* The same at exactly the limit decodes. */
	tok[JWT_MAX_LEN] = '\0';
	ck_assert_int_eq(jwt_decode_exp(tok, &exp), 0);
	ck_assert_int_eq(exp, 1);
	free(tok);
	ck_assert_int_eq(jwt_decode_exp(NULL, &exp), -1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("jwt");
	TCase *tc = tcase_create("decode_exp");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_decode, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_padded_payload);
	tcase_add_test(tc, test_huge);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
