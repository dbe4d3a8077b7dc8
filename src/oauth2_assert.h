/* oauth2_assert.h - RFC 7523 client assertions: a JWT the client signs to
 * authenticate at the token endpoint instead of sending its secret.
 *
 * client_secret_jwt signs with HMAC SHA-256 keyed by the client secret
 * (RFC 7518 §3.2); private_key_jwt with the client's RSA or EC P-256 key:
 * RS256, PS256 or ES256 (§3.3-3.5). Claims: iss = sub = client_id, aud = the token
 * endpoint, a fresh random jti, iat = now and a short exp. Assertions are
 * secrets for as long as they live: callers wipe them.
 */
#ifndef TOKEND_OAUTH2_ASSERT_H
#define TOKEND_OAUTH2_ASSERT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "err.h"

/* How long an assertion is valid. */
#define OAUTH2_ASSERT_LIFETIME_S 60

/* base64url (RFC 7515 §2, no padding) of len bytes; a heap string. */
char *oauth2_b64url(const unsigned char *data, size_t len);

/* input "." base64url(HMAC-SHA256(key, input)): the JWS compact
 * serialization of an HS256 signing input. Free with secret_free_str. */
char *oauth2_jws_hs256(const char *input, const unsigned char *key, size_t key_len);

/* A client_secret_jwt assertion for client_id at aud, issued at now_s;
 * jti is 128 random bits in hex. Free with secret_free_str; NULL if the
 * random generator fails. */
char *oauth2_assertion_hs256(const char *client_id, const char *aud, const char *secret,
                             int64_t now_s);

enum oauth2_alg {
	OAUTH2_ALG_RS256,
	OAUTH2_ALG_PS256,
	OAUTH2_ALG_ES256,
};

/* "RS256", "PS256", "ES256". */
const char *oauth2_alg_name(enum oauth2_alg alg);
/* By name, case-sensitive as JWA names are; -1 if unknown. */
int oauth2_alg_parse(const char *name, enum oauth2_alg *out);

/* A DER ECDSA-Sig-Value (OpenSSL's form) as the 64-byte R || S of
 * RFC 7518 §3.4; -1 if der is not one or R or S is over 32 bytes. */
int oauth2_es256_raw(const unsigned char *der, size_t der_len, unsigned char raw[64]);

/* input "." base64url(signature) with key; NULL if signing fails. */
char *oauth2_jws_sign(const char *input, enum oauth2_alg alg, EVP_PKEY *key);

/* Parses the PEM private key (len bytes, not logged) and picks its
 * algorithm: wanted (client_assertion_alg, NULL: the key's default, RS256
 * for RSA, ES256 for EC P-256) if the key fits it. NULL with err
 * (ERR_CONFIG, a phrase to follow the key's name). */
EVP_PKEY *oauth2_key_load(const char *pem, size_t len, const char *wanted,
                          enum oauth2_alg *alg, struct err *err);

/* A private_key_jwt assertion signed with key; kid NULL: no kid header.
 * Free with secret_free_str; NULL if signing or the random generator
 * fails. */
char *oauth2_assertion_key(const char *client_id, const char *aud, const char *kid,
                           enum oauth2_alg alg, EVP_PKEY *key, int64_t now_s);

#endif
