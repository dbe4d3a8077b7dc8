/* check_oauth2_keyjwt.c - private_key_jwt: RS256, PS256 and ES256 client
 * assertions against the RFC 7515 Appendix A.2 and A.3 examples, and the
 * key checks of client_key / client_assertion_alg. */
#include <check.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "oauth2_assert.h"
#include "secret.h"

int main(void);

/* The RSA key of RFC 7515 A.2 (RFC 7517 A.2's n, e, d; p and q recovered
 * from them), as PKCS#8 PEM. */
#define RFC7515_A2_PEM                                                                   \
	"-----BEGIN PRIVATE KEY-----\n"                                                  \
	"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCh+BYK4uPJtGXO\n"             \
	"jS1lYmM2K5J9vinh8CR3/BYlzJChNuOL2TSXxbbqY913EeZ8dCn5VrD7io8ImtxL\n"             \
	"aYk8wTM/U+3QGbh3hCUv7JFP5IV3aVlL6kKA0ywPVb9ilE8TA5a8bpvfbr3SvaNn\n"             \
	"juygxmj3AbONv/s4yDQs4v5tJ/reSlpIdJed1LnPmt7Ex1sFhSwsD174pcF1A5L5\n"             \
	"ROjtZMEQxrZHYJqkeDrrnGya11UxMFBji4NmXG9veoKjlnAqH2QbgtPr8jkiGUkf\n"             \
	"toaHLFcW9Qr4NY2ai50Xw0Byj3+H2JoY2PyrZ62EWQwuz3WTOTY8BwNNb2BvniHg\n"             \
	"VFbK5emhAgMBAAECggEAEq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyW\n"             \
	"PEAeP88vLNO97IjlA7/GQ5sLKMgvfTeXZx9SE+7YwVol2NXOoAJe46sui395IW/G\n"             \
	"O+pWJ1O0BkTGoVEn2bKVRUCgu+GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzj\n"             \
	"kn439X0M/V51gfpRLI9JYanrC4D4qAdGcopV/0ZHHzQlBjudU2QvXt4ehNYTCBr6\n"             \
	"XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl/x/jTj3ccPDVZFD9pIuhLhBOneufuBiB\n"             \
	"4cS98l2SR/RQyGWSeWjnczT0QU91p1DhOVRuOopznQKBgQDgHMQQ60imZV1URk0K\n"             \
	"pLttoLhyt3SmqdEf/kgHePDdtzEafpAu+cS191R2JiuoF2yzWXnwFDcqGigp5BNr\n"             \
	"0AHQfD8/Lk8l1Mk09jxxCfui5nYooNyac8YFjm3vItzVCVDnEd3BbVWG8qf6deqE\n"             \
	"lMGAg+C2V0L4oNXnP7LZcPAZRwKBgQC5A8R+CZW2MvRTLLHzwZkUXV866cff7tx6\n"             \
	"kqa0finGG0KgeqlaZPxgCZnFp7AeAcCMtiynVlJ7vMVgePsLq6XtON4tB5kP9jAP\n"             \
	"rq3rbAOal78eUH5OcED6eNuCV8ixEu1eWcPNCS/l1OW1EnXUEoEHKl54Xrrz2uNw\n"             \
	"kgMTP1FZ1wKBgAcCn1dwJKufzBWQxWQp1vsM5fggqPN1qGb5y0MAk3g7/Ls5bkUp\n"             \
	"5u9SN0Ai3Ya6hNnvWJMb7sXQX6U/zyO2M/hTip7tUeh7CXgwo59dkpN75gJLVds2\n"             \
	"9+DAncu3KXU4f2Fa+7bLNrur53k8KwPOq2bbuTG69QtV7Jr5MR0AHWKNAoGBAIf/\n"             \
	"evpitUf+4JYbLpvNXWcY052Mpz22aR84mY3nh3F2LF2mjMJDpTg7FmuyPcVw6EcG\n"             \
	"yoAe9fa65iNqCq+jdw6PVNGo2hxfjSiZ8IIzHdsPXI89//pMjZcQK9r+CCoRjaZj\n"             \
	"OYiIDktVWZzmevJuv6WywUqd57LE3Zar3dLSIkx1AoGAIYd7DHOhrWvxkwPQsRM2\n"             \
	"tOgrjbcrfvtQJipd+DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd/QJQ3\n"             \
	"ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp/gh6A56\n"             \
	"03k2+ZQwVK0JKSHuLFkuQ3U=\n"                                                     \
	"-----END PRIVATE KEY-----\n"

/* The P-256 key of RFC 7515 A.3. */
#define RFC7515_A3_PEM                                                                   \
	"-----BEGIN PRIVATE KEY-----\n"                                                  \
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjpsQnnGQmL+YBIff\n"             \
	"H1136cspYG6+0iY7X1fCE9+E9LKhRANCAAR/zc4ncPbEXUGDy+5v20t7WAczNXvp\n"             \
	"7xO6z248e9FURcfxRM0bvZt+hyzf7bnuufSzaV1uqQskrYpGIyiFiOWt\n"                     \
	"-----END PRIVATE KEY-----\n"

#define RFC7515_PAYLOAD                                                                  \
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc1" \
	"9yb"                                                                            \
	"290Ijp0cnVlfQ"

static EVP_PKEY *
load(const char *pem, const char *wanted, enum oauth2_alg *alg)
{
	struct err err = { 0 };
	EVP_PKEY *key = oauth2_key_load(pem, strlen(pem), wanted, alg, &err);

	ck_assert_msg(key != NULL, "%s", err.msg);
	return key;
}

static unsigned char *
b64url_decode(const char *s, size_t *len)
{
	size_t n = strlen(s), cap = n + 4;
	char *std = calloc(1, cap + 1);
	unsigned char *out = calloc(1, cap);
	int m;

	for (size_t i = 0; i < n; i++)
		std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (n % 4 != 0)
		std[n++] = '=';
	m = EVP_DecodeBlock(out, (unsigned char *)std, (int)n);
	ck_assert_int_ge(m, 0);
	*len = (size_t)m - (size_t)(strstr(std, "==") ? 2 : strchr(std, '=') ? 1 : 0);
	free(std);
	return out;
}

/* Verifies jws (input "." sig) with key as alg would. */
static bool
verify(const char *jws, enum oauth2_alg alg, EVP_PKEY *key)
{
	const char *dot = strrchr(jws, '.');
	size_t len;
	unsigned char *sig = b64url_decode(dot + 1, &len), *der = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok;

	ck_assert_int_eq(EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key), 1);
	if (alg == OAUTH2_ALG_PS256) {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
	}
	if (alg == OAUTH2_ALG_ES256) {
		ECDSA_SIG *es = ECDSA_SIG_new();

		ck_assert_uint_eq(len, 64);
		ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL),
		               BN_bin2bn(sig + 32, 32, NULL));
		len = (size_t)i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
	}
	ok = EVP_DigestVerify(md, der != NULL ? der : sig, len,
	                      (const unsigned char *)jws, (size_t)(dot - jws)) == 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	free(sig);
	return ok;
}

/* RFC 7515 A.2: RS256 is deterministic, so the signature is the RFC's,
 * byte for byte. */
START_TEST(test_rfc7515_a2_rs256)
{
	enum oauth2_alg alg = OAUTH2_ALG_ES256;
	EVP_PKEY *key = load(RFC7515_A2_PEM, NULL, &alg);
	char *jws = oauth2_jws_sign("eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD, alg, key);

	ck_assert_int_eq(alg, OAUTH2_ALG_RS256);
	ck_assert_str_eq(
	        strrchr(jws, '.') + 1,
	        "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
	        "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
	        "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
	        "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
	        "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
	        "p0igcN_IoypGlUPQGe77Rw");
	secret_free_str(jws);
	EVP_PKEY_free(key);
}
END_TEST

/* RFC 7515 A.3's ES256 signature as OpenSSL gives it (DER) becomes the
 * RFC's 64-byte R || S (RFC 7518 §3.4). */
START_TEST(test_rfc7515_a3_es256_der_to_raw)
{
	static const char der_hex[] =
	        "304502200ed1215379636c483c2f7f155807d402a3b228033af97c7e17819ac3169ea665"
	        "0221"
	        "00c50a07d38c3c70e5d8f12daf084a5480a66590c5f293509a8f3f7f8a83a354d5";
	unsigned char der[71], raw[64];
	char *b64;

	for (size_t i = 0; i < sizeof(der); i++)
		sscanf(der_hex + 2 * i, "%2hhx", &der[i]);
	ck_assert_int_eq(oauth2_es256_raw(der, sizeof(der), raw), 0);
	b64 = oauth2_b64url(raw, sizeof(raw));
	ck_assert_str_eq(b64,
	                 "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8IS"
	                 "lSApmWQxfKTUJqPP3-Kg6NU1Q");
	free(b64);
	/* Trailing bytes and truncation are refused. */
	ck_assert_int_eq(oauth2_es256_raw(der, sizeof(der) - 1, raw), -1);
	unsigned char longer[72];
	memcpy(longer, der, sizeof(der));
	longer[71] = 0;
	ck_assert_int_eq(oauth2_es256_raw(longer, sizeof(longer), raw), -1);
}
END_TEST

/* Short R and S are left-padded to 32 bytes each. */
START_TEST(test_es256_short_integers)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	unsigned char *der = NULL, raw[64], want[64] = { 0 };
	int n;

	ECDSA_SIG_set0(es, BN_new(), BN_new());
	BN_set_word((BIGNUM *)ECDSA_SIG_get0_r(es), 0x01);
	BN_set_word((BIGNUM *)ECDSA_SIG_get0_s(es), 0x80ff);
	n = i2d_ECDSA_SIG(es, &der);
	want[31] = 0x01;
	want[62] = 0x80;
	want[63] = 0xff;
	ck_assert_int_eq(oauth2_es256_raw(der, (size_t)n, raw), 0);
	ck_assert_mem_eq(raw, want, 64);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
}
END_TEST

/* With the A.3 key: our ES256 signature verifies; with the A.2 key, the
 * PS256 one verifies as PSS with a 32-byte salt. */
START_TEST(test_es256_ps256_verify)
{
	enum oauth2_alg alg;
	EVP_PKEY *ec = load(RFC7515_A3_PEM, NULL, &alg);
	char *jws = oauth2_jws_sign("eyJhbGciOiJFUzI1NiJ9." RFC7515_PAYLOAD, alg, ec);
	EVP_PKEY *rsa;

	ck_assert_int_eq(alg, OAUTH2_ALG_ES256);
	ck_assert_uint_eq(strlen(strrchr(jws, '.') + 1), 86);
	ck_assert(verify(jws, alg, ec));
	secret_free_str(jws);
	rsa = load(RFC7515_A2_PEM, "PS256", &alg);
	ck_assert_int_eq(alg, OAUTH2_ALG_PS256);
	jws = oauth2_jws_sign("eyJhbGciOiJQUzI1NiJ9." RFC7515_PAYLOAD, alg, rsa);
	ck_assert(verify(jws, alg, rsa));
	ck_assert(!verify(jws, OAUTH2_ALG_RS256, rsa));
	secret_free_str(jws);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}
END_TEST

static json_t *
part(const char *jws, int i)
{
	char *copy = strdup(jws), *save = NULL, *p = strtok_r(copy, ".", &save);
	size_t len;
	unsigned char *text;
	json_t *o;

	while (i-- > 0)
		p = strtok_r(NULL, ".", &save);
	text = b64url_decode(p, &len);
	o = json_loadb((char *)text, len, 0, NULL);
	free(text);
	free(copy);
	ck_assert_ptr_nonnull(o);
	return o;
}

/* Header (alg, kid), claims (RFC 7523 §3) and a fresh jti each time. */
START_TEST(test_assertion_key)
{
	enum oauth2_alg alg;
	EVP_PKEY *key = load(RFC7515_A3_PEM, NULL, &alg);
	char *a = oauth2_assertion_key("cid", "https://i.example/t", "k1", alg, key,
	                               1700000000);
	char *b = oauth2_assertion_key("cid", "https://i.example/t", NULL, alg, key,
	                               1700000000);
	json_t *h = part(a, 0), *c = part(a, 1), *c2 = part(b, 1), *h2 = part(b, 0);

	ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), "ES256");
	ck_assert_str_eq(json_string_value(json_object_get(h, "kid")), "k1");
	ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
	ck_assert_ptr_null(json_object_get(h2, "kid"));
	ck_assert_str_eq(json_string_value(json_object_get(c, "iss")), "cid");
	ck_assert_str_eq(json_string_value(json_object_get(c, "sub")), "cid");
	ck_assert_str_eq(json_string_value(json_object_get(c, "aud")),
	                 "https://i.example/t");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "iat")), 1700000000);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "exp")),
	                 1700000000 + OAUTH2_ASSERT_LIFETIME_S);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(c, "jti"))), 32);
	ck_assert_str_ne(json_string_value(json_object_get(c, "jti")),
	                 json_string_value(json_object_get(c2, "jti")));
	ck_assert(verify(a, alg, key));
	json_decref(h);
	json_decref(h2);
	json_decref(c);
	json_decref(c2);
	secret_free_str(a);
	secret_free_str(b);
	EVP_PKEY_free(key);
}
END_TEST

/* Keys that do not fit are refused with a message that quotes no key. */
START_TEST(test_key_refused)
{
	static const struct {
		const char *pem, *wanted, *msg;
	} cases[] = {
		{ RFC7515_A2_PEM, "ES256",
		  "an RSA key, and client_assertion_alg ES256 needs an EC P-256 key" },
		{ RFC7515_A3_PEM, "RS256",
		  "an EC key, and client_assertion_alg RS256 needs an RSA key" },
		{ RFC7515_A3_PEM, "PS256",
		  "an EC key, and client_assertion_alg PS256 needs an RSA key" },
		{ "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", NULL,
		  "not a PEM private key (unencrypted PKCS#8, PKCS#1 or SEC1)" },
	};
	enum oauth2_alg alg;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err err = { 0 };

		ck_assert_ptr_null(oauth2_key_load(cases[i].pem, strlen(cases[i].pem),
		                                   cases[i].wanted, &alg, &err));
		ck_assert_str_eq(err.msg, cases[i].msg);
	}
}
END_TEST

/* An EC key off P-256 and a short RSA key, made here. */
START_TEST(test_key_refused_generated)
{
	static const struct {
		const char *type, *param, *msg;
	} cases[] = {
		{ "EC", "P-384", "an EC key not on P-256 (ES256 needs P-256)" },
		{ "RSA", NULL, "an RSA key of 1024 bits (RFC 7518: 2048 or more)" },
	};

	for (size_t i = 0; i < 2; i++) {
		EVP_PKEY *k = i == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", cases[i].param)
		                     : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
		BIO *bio = BIO_new(BIO_s_mem());
		char *pem;
		long n;
		enum oauth2_alg alg;
		struct err err = { 0 };

		ck_assert_ptr_nonnull(k);
		PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
		n = BIO_get_mem_data(bio, &pem);
		ck_assert_ptr_null(oauth2_key_load(pem, (size_t)n, NULL, &alg, &err));
		ck_assert_str_eq(err.msg, cases[i].msg);
		BIO_free(bio);
		EVP_PKEY_free(k);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("oauth2_keyjwt");
	TCase *tc = tcase_create("keyjwt");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_rfc7515_a2_rs256);
	tcase_add_test(tc, test_rfc7515_a3_es256_der_to_raw);
	tcase_add_test(tc, test_es256_short_integers);
	tcase_add_test(tc, test_es256_ps256_verify);
	tcase_add_test(tc, test_assertion_key);
	tcase_add_test(tc, test_key_refused);
	tcase_add_test(tc, test_key_refused_generated);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
