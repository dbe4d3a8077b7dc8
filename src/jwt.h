/* jwt.h - reads the exp claim of a JWT access token.
 *
 * No signature is verified: the issuer is trusted over TLS and the token
 * is opaque to us. We only want its own idea of when it expires, which
 * may be earlier than what expires_in claims.
 */
#ifndef TOKEND_JWT_H
#define TOKEND_JWT_H

#include <stdint.h>

/* Tokens longer than this are not decoded. */
#define JWT_MAX_LEN (16 * 1024)

/* *exp_s = the payload's exp (epoch seconds; a fractional exp is rounded
 * down). -1 when token is not a three-segment JWS, a segment is not
 * base64url, the payload is not a JSON object, or exp is missing, not a
 * positive number or beyond year 9999. */
int jwt_decode_exp(const char *token, int64_t *exp_s);

#endif
