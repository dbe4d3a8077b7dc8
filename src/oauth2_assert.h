/* oauth2_assert.h - RFC 7523 client assertions: a JWT the client signs to
 * authenticate at the token endpoint instead of sending its secret.
 *
 * client_secret_jwt signs with HMAC SHA-256 keyed by the client secret
 * (RFC 7518 §3.2). Claims: iss = sub = client_id, aud = the token
 * endpoint, a fresh random jti, iat = now and a short exp. Assertions are
 * secrets for as long as they live: callers wipe them.
 */
#ifndef TOKEND_OAUTH2_ASSERT_H
#define TOKEND_OAUTH2_ASSERT_H

#include <stddef.h>
#include <stdint.h>

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

#endif
