/* jwt.c - the exp claim of a JWT, nothing more. */
#include "jwt.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "xalloc.h"

/* 9999-12-31T23:59:59Z: keeps exp * 1000 far from overflowing. */
#define JWT_EXP_MAX 253402300799LL

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decodes len characters of base64url into out (room for len * 3 / 4
 * bytes); padding is optional but, when present, must be right. Returns
 * the decoded length or -1. */
static long
b64url_decode(const char *in, size_t len, unsigned char *out)
{
	size_t pad = 0, n = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	while (pad < 2 && len > 0 && in[len - 1] == '=') {
		len--;
		pad++;
	}
	if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero, or two encodings map to one value. */
	if (acc != 0)
		return -1;
	return (long)n;
}

/* The header and signature are not decoded, but must be base64url. */
static bool
b64url_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b64url_value((unsigned char)s[i]) < 0)
			return false;
	return true;
}

static int
exp_from_json(const json_t *exp, int64_t *exp_s)
{
	double d;

	if (json_is_integer(exp)) {
		json_int_t v = json_integer_value(exp);

		if (v <= 0 || v > JWT_EXP_MAX)
			return -1;
		*exp_s = (int64_t)v;
		return 0;
	}
	if (!json_is_real(exp))
		return -1;
	d = json_real_value(exp);
	if (!isfinite(d) || d < 1.0 || d > (double)JWT_EXP_MAX)
		return -1;
	*exp_s = (int64_t)floor(d);
	return 0;
}

int
jwt_decode_exp(const char *token, int64_t *exp_s)
{
	const char *dot1, *dot2, *payload;
	size_t len, plen = 0;
	unsigned char *buf = NULL;
	long n;
	json_t *root = NULL;
	int rc = -1;

	if (token == NULL || (len = strnlen(token, JWT_MAX_LEN + 1)) > JWT_MAX_LEN)
		goto out;
	dot1 = strchr(token, '.');
	dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
	/* A JWS has exactly three segments; a JWE (five) hides its claims. */
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL ||
	    dot1 == token)
		goto out;
	payload = dot1 + 1;
	plen = (size_t)(dot2 - payload);
	if (plen == 0 || !b64url_chars(token, (size_t)(dot1 - token)) ||
	    !b64url_chars(dot2 + 1, strlen(dot2 + 1)))
		goto out;
	buf = xmalloc(plen * 3 / 4 + 1);
	n = b64url_decode(payload, plen, buf);
	if (n <= 0)
		goto out;
	root = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		goto out;
	rc = exp_from_json(json_object_get(root, "exp"), exp_s);
out:
	json_decref(root);
	/* Claims are not secret, but they are part of one. */
	if (buf != NULL)
		secret_free_mem(buf, plen * 3 / 4 + 1);
	return rc;
}
