/* oauth2_request.c - the body and Basic header of a token request. */
#include "oauth2_request.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "xalloc.h"

/* --- a growing buffer that wipes what it leaves behind --------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void
sbuf_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (b->len + n + 1 > cap)
			cap *= 2;
		/* Not realloc: the old block may hold the client secret. */
		p = xmalloc(cap);
		if (b->p != NULL)
			memcpy(p, b->p, b->len);
		secret_free_mem(b->p, b->cap);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_put(b, s, strlen(s));
}

/* application/x-www-form-urlencoded, as RFC 6749 Appendix B asks. */
static void
form_encode(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '*')
			sbuf_put(b, (const char *)p, 1);
		else if (*p == ' ')
			sbuf_put(b, "+", 1);
		else
			sbuf_put(b, esc, 3);
	}
}

/* A JSON string; UTF-8 passes through, controls are escaped. Written here
 * rather than with jansson so that no copy of the secret is left behind
 * in memory we cannot wipe. */
static void
json_quote(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	sbuf_put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };

		if (*p == '"' || *p == '\\') {
			sbuf_put(b, "\\", 1);
			sbuf_put(b, (const char *)p, 1);
		} else if (*p < 0x20) {
			sbuf_put(b, esc, 6);
		} else {
			sbuf_put(b, (const char *)p, 1);
		}
	}
	sbuf_put(b, "\"", 1);
}

/* --- the request ------------------------------------------------------------ */

/* One name/value pair of the body. */
static void
put_field(struct sbuf *b, bool json, bool *first, const char *name, const char *v)
{
	if (!*first)
		sbuf_puts(b, json ? "," : "&");
	*first = false;
	if (json) {
		json_quote(b, name);
		sbuf_puts(b, ":");
		json_quote(b, v);
	} else {
		form_encode(b, name);
		sbuf_puts(b, "=");
		form_encode(b, v);
	}
}

/* RFC 8707 repeats resource in a form; JSON has no repeated keys, so
 * several become an array. */
static void
put_resources(struct sbuf *b, bool json, bool *first, const struct token_def *def)
{
	if (def->n_resources == 0)
		return;
	if (!json || def->n_resources == 1) {
		for (size_t i = 0; i < def->n_resources; i++)
			put_field(b, json, first, "resource", def->resources[i]);
		return;
	}
	sbuf_puts(b, *first ? "\"resource\":[" : ",\"resource\":[");
	*first = false;
	for (size_t i = 0; i < def->n_resources; i++) {
		if (i > 0)
			sbuf_puts(b, ",");
		json_quote(b, def->resources[i]);
	}
	sbuf_puts(b, "]");
}

char *
oauth2_request_body(const struct token_def *def, const char *secret)
{
	return oauth2_request_body_assert(def, secret, NULL);
}

char *
oauth2_request_body_assert(const struct token_def *def, const char *secret,
                           const char *assertion)
{
	bool json = def->request_format == OAUTH2_BODY_JSON;
	bool post = def->client_auth == OAUTH2_AUTH_POST;
	/* RFC 8705 §2: the client_id identifies the client; the certificate
	 * authenticates it. */
	bool send_id = post || def->client_auth == OAUTH2_AUTH_TLS ||
	               def->client_auth == OAUTH2_AUTH_SELF_SIGNED_TLS;
	const char *fields[][2] = {
		{ "grant_type", "client_credentials" },
		{ "client_id", send_id ? def->client_id : NULL },
		{ "client_secret", post ? secret : NULL },
		{ "client_assertion_type",
		  assertion != NULL
		          ? "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
		          : NULL },
		{ "client_assertion", assertion },
		{ "audience", def->audience },
		{ "scope", def->scope },
	};
	struct sbuf b = { 0 };
	bool first = true;

	sbuf_puts(&b, json ? "{" : "");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (fields[i][1] != NULL)
			put_field(&b, json, &first, fields[i][0], fields[i][1]);
	}
	put_resources(&b, json, &first, def);
	for (size_t i = 0; i < def->n_extra_params; i++) {
		const char *kv = def->extra_params[i], *eq = strchr(kv, '=');
		char *name = xstrndup(kv, (size_t)(eq - kv));

		put_field(&b, json, &first, name, eq + 1);
		free(name);
	}
	sbuf_puts(&b, json ? "}" : "");
	return b.p;
}

char *
oauth2_basic_header(const char *client_id, const char *secret)
{
	static const char prefix[] = "Authorization: Basic ";
	struct sbuf cred = { 0 };
	size_t cap;
	char *out;

	form_encode(&cred, client_id);
	sbuf_puts(&cred, ":");
	form_encode(&cred, secret);
	cap = sizeof(prefix) + 4 * ((cred.len + 2) / 3);
	out = xmalloc(cap);
	memcpy(out, prefix, sizeof(prefix) - 1);
	EVP_EncodeBlock((unsigned char *)out + sizeof(prefix) - 1,
	                (const unsigned char *)cred.p, (int)cred.len);
	secret_free_mem(cred.p, cred.cap);
	return out;
}
