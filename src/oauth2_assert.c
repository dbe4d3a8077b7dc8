/* oauth2_assert.c - RFC 7523 client assertions (client_secret_jwt). */
#include "oauth2_assert.h"

#include <jansson.h>
#include <openssl/evp.h>
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

char *
oauth2_assertion_hs256(const char *client_id, const char *aud, const char *secret,
                       int64_t now_s)
{
	unsigned char rnd[16];
	char jti[33], *head = NULL, *claims = NULL, *input = NULL, *out = NULL;
	json_t *h = NULL, *c = NULL;
	size_t n;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
	h = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
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
	out = oauth2_jws_hs256(input, (const unsigned char *)secret, strlen(secret));
out:
	json_decref(h);
	json_decref(c);
	free(head);
	free(claims);
	free(input);
	return out;
}
