/* oauth2_assert.c - RFC 7523 client assertions (client_secret_jwt and
 * private_key_jwt). */
#include "oauth2_assert.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "xalloc.h"

char *
oauth2_b64url(const unsigned char *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);

	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (char *p = out; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	return out;
}

char *
oauth2_jws_hs256(const char *input, const unsigned char *key, size_t key_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char *sig, *out;
	size_t n;

	if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)input,
	         strlen(input), mac, &mac_len) == NULL)
		return NULL;
	sig = oauth2_b64url(mac, mac_len);
	OPENSSL_cleanse(mac, sizeof(mac));
	n = strlen(input) + 1 + strlen(sig) + 1;
	out = xmalloc(n);
	snprintf(out, n, "%s.%s", input, sig);
	free(sig);
	return out;
}

/* base64url of a JSON object's compact text. */
static char *
b64_json(json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	char *out = oauth2_b64url((const unsigned char *)text, strlen(text));

	free(text);
	return out;
}

/* base64url(header) "." base64url(claims): the signing input of an
 * assertion with alg, kid (NULL: none) and a fresh jti; NULL if the random
 * generator fails. */
static char *
signing_input(const char *alg, const char *kid, const char *client_id, const char *aud,
              int64_t now_s)
{
	unsigned char rnd[16];
	char jti[33], *head = NULL, *claims = NULL, *input = NULL;
	json_t *h, *c;
	size_t n;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
	h = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
	if (h != NULL && kid != NULL)
		json_object_set_new(h, "kid", json_string(kid));
	c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", client_id, "sub",
	              client_id, "aud", aud, "jti", jti, "iat", (json_int_t)now_s, "exp",
	              (json_int_t)(now_s + OAUTH2_ASSERT_LIFETIME_S));
	if (h == NULL || c == NULL)
		goto out;
	head = b64_json(h);
	claims = b64_json(c);
	n = strlen(head) + strlen(claims) + 2;
	input = xmalloc(n);
	snprintf(input, n, "%s.%s", head, claims);
out:
	json_decref(h);
	json_decref(c);
	free(head);
	free(claims);
	return input;
}

char *
oauth2_assertion_hs256(const char *client_id, const char *aud, const char *secret,
                       int64_t now_s)
{
	char *input = signing_input("HS256", NULL, client_id, aud, now_s), *out;

	if (input == NULL)
		return NULL;
	out = oauth2_jws_hs256(input, (const unsigned char *)secret, strlen(secret));
	free(input);
	return out;
}

char *
oauth2_assertion_key(const char *client_id, const char *aud, const char *kid,
                     enum oauth2_alg alg, EVP_PKEY *key, int64_t now_s)
{
	char *input = signing_input(oauth2_alg_name(alg), kid, client_id, aud, now_s);
	char *out;

	if (input == NULL)
		return NULL;
	out = oauth2_jws_sign(input, alg, key);
	free(input);
	return out;
}

/* --- private_key_jwt: RS256, PS256, ES256 (RFC 7518 §3.3-3.5) --------------- */

static const char *const alg_names[] = { "RS256", "PS256", "ES256" };

const char *
oauth2_alg_name(enum oauth2_alg alg)
{
	return alg_names[alg];
}

int
oauth2_alg_parse(const char *name, enum oauth2_alg *out)
{
	for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
		if (name != NULL && strcmp(name, alg_names[i]) == 0) {
			*out = (enum oauth2_alg)i;
			return 0;
		}
	}
	return -1;
}

int
oauth2_es256_raw(const unsigned char *der, size_t der_len, unsigned char raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r, *s;
	int rc = -1;

	if (sig == NULL || p != der + der_len)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
		goto out;
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	return rc;
}

/* The signature of input over SHA-256 with key, as JWS wants it. */
static unsigned char *
sign_input(const char *input, enum oauth2_alg alg, EVP_PKEY *key, size_t *len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig = NULL, *raw = NULL;
	size_t n = 0;

	if (md == NULL || EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1)
		goto out;
	if (alg == OAUTH2_ALG_PS256 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	if (EVP_DigestSign(md, NULL, &n, (const unsigned char *)input, strlen(input)) !=
	    1)
		goto out;
	sig = xmalloc(n);
	if (EVP_DigestSign(md, sig, &n, (const unsigned char *)input, strlen(input)) != 1)
		goto out;
	if (alg == OAUTH2_ALG_ES256) {
		raw = xmalloc(64);
		if (oauth2_es256_raw(sig, n, raw) == -1)
			goto out;
		n = 64;
		free(sig);
		sig = raw;
		raw = NULL;
	}
	*len = n;
	EVP_MD_CTX_free(md);
	return sig;
out:
	ERR_clear_error();
	free(raw);
	free(sig);
	EVP_MD_CTX_free(md);
	return NULL;
}

char *
oauth2_jws_sign(const char *input, enum oauth2_alg alg, EVP_PKEY *key)
{
	size_t len = 0, n;
	unsigned char *sig = sign_input(input, alg, key, &len);
	char *b64, *out;

	if (sig == NULL)
		return NULL;
	b64 = oauth2_b64url(sig, len);
	free(sig);
	n = strlen(input) + 1 + strlen(b64) + 1;
	out = xmalloc(n);
	snprintf(out, n, "%s.%s", input, b64);
	free(b64);
	return out;
}

/* The algorithm for key: wanted if it fits, else the key type's own. */
static int
pick_alg(EVP_PKEY *key, const char *wanted, enum oauth2_alg *alg, struct err *err)
{
	bool rsa = EVP_PKEY_is_a(key, "RSA");
	char curve[32] = "";

	if (!rsa && !EVP_PKEY_is_a(key, "EC"))
		return err_set(err, ERR_CONFIG, "neither an RSA nor an EC key");
	if (!rsa && (EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof(curve),
	                                            NULL) != 1 ||
	             strcmp(curve, "prime256v1") != 0))
		return err_set(err, ERR_CONFIG,
		               "an EC key not on P-256 (ES256 needs P-256)");
	if (rsa && EVP_PKEY_get_bits(key) < 2048)
		return err_set(err, ERR_CONFIG,
		               "an RSA key of %d bits (RFC 7518: 2048 or more)",
		               EVP_PKEY_get_bits(key));
	*alg = rsa ? OAUTH2_ALG_RS256 : OAUTH2_ALG_ES256;
	if (wanted == NULL)
		return 0;
	if (oauth2_alg_parse(wanted, alg) == -1)
		return err_set(err, ERR_CONFIG, "client_assertion_alg %s is unknown",
		               wanted);
	if (rsa != (*alg != OAUTH2_ALG_ES256))
		return err_set(err, ERR_CONFIG,
		               "an %s key, and client_assertion_alg %s needs %s",
		               rsa ? "RSA" : "EC", wanted,
		               rsa ? "an EC P-256 key" : "an RSA key");
	return 0;
}

EVP_PKEY *
oauth2_key_load(const char *pem, size_t len, const char *wanted, enum oauth2_alg *alg,
                struct err *err)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *key =
	        bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	ERR_clear_error(); /* its messages may quote nothing, but say nothing useful */
	if (key == NULL) {
		err_set(err, ERR_CONFIG,
		        "not a PEM private key (unencrypted PKCS#8, "
		        "PKCS#1 or SEC1)");
		return NULL;
	}
	if (pick_alg(key, wanted, alg, err) == -1) {
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}
