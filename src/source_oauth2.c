/* source_oauth2.c - client-credentials tokens from an OAuth2 issuer.
 *
 * Building the request and reading the answer are pure functions; the
 * source itself is one http_client call per fetch.
 */
#include "source_oauth2.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "jwt.h"
#include "log.h"
#include "oauth2_assert.h"
#include "oauth2_disco.h"
#include "oauth2_quota.h"
#include "oauth2_tls.h"
#include "secret.h"
#include "timeutil.h"
#include "xalloc.h"

/* --- the answer ------------------------------------------------------------- */

/* Issuer-supplied text made safe for a log line: printable ASCII only. */
static void
sanitize(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	for (; src != NULL && *src != '\0' && n + 1 < cap; src++)
		dst[n++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	dst[n] = '\0';
}

/* A non-negative decimal of at most 12 digits, or -1. */
static int64_t
parse_digits(const char *s)
{
	int64_t v = 0;
	size_t n = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	for (; isdigit((unsigned char)*s) && n < 12; s++, n++)
		v = v * 10 + (*s - '0');
	while (*s == ' ' || *s == '\t')
		s++;
	return n > 0 && *s == '\0' ? v : -1;
}

static int64_t
clamp_wait(int64_t ms)
{
	if (ms < 0)
		return 0;
	return ms > OAUTH2_MAX_RETRY_AFTER_MS ? OAUTH2_MAX_RETRY_AFTER_MS : ms;
}

/* Retry-After (delta seconds or an HTTP date) first; for 429 without it,
 * x-ratelimit-reset: epoch seconds as Auth0 sends them, or, for values
 * too small to be a recent epoch, delta seconds as some issuers send. */
static int64_t
wait_ms(long status, const char *retry_after, const char *reset, int64_t now_ms)
{
	int64_t v, epoch_s;

	if (retry_after != NULL) {
		if ((v = parse_digits(retry_after)) >= 0)
			return clamp_wait(v * 1000);
		if (timeutil_parse_http_date(retry_after, &epoch_s) == 0)
			return clamp_wait(epoch_s * 1000 - now_ms);
	}
	if (status == 429 && reset != NULL && (v = parse_digits(reset)) >= 0)
		return clamp_wait(v < 1000000000 ? v * 1000 : v * 1000 - now_ms);
	return 0;
}

/* The RFC 6749 §5.2 and RFC 8707 §2 errors that no retry can cure: the
 * issuer refuses the configuration. Each names the setting to check. */
static const struct {
	const char *code;
	enum err_code err;
	const char *hint;
} permanent_errors[] = {
	{ "invalid_client", ERR_AUTH,
	  "check client_id, client_secret/client_key and client_auth" },
	{ "unauthorized_client", ERR_AUTH,
	  "the client may not use client_credentials: check its grants at the "
	  "issuer and client_id" },
	{ "access_denied", ERR_AUTH,
	  "the client is not granted this API: check audience/resource and its "
	  "grants at the issuer" },
	{ "invalid_scope", ERR_CONFIG, "check scope" },
	{ "unsupported_grant_type", ERR_CONFIG,
	  "the issuer does not offer client_credentials here: check token_url" },
	{ "invalid_target", ERR_CONFIG, "check resource (and audience)" },
};

/* Fills the error's code and whether it is permanent; the hint or NULL. */
static const char *
classify(long status, const char *code, struct token_result *out)
{
	enum err_code ec = ERR_HTTP;

	out->permanent = false;
	/* A 401 is always about the client's own credentials (Auth0 says
	 * access_denied for a wrong secret). */
	if (status == 401) {
		out->err.code = ERR_AUTH;
		out->permanent = true;
		return "check client_id, client_secret/client_key and client_auth";
	}
	for (size_t i = 0; i < sizeof(permanent_errors) / sizeof(permanent_errors[0]);
	     i++) {
		if (strcmp(code, permanent_errors[i].code) == 0 &&
		    (status == 400 || status == 403)) {
			out->err.code = permanent_errors[i].err;
			out->permanent = true;
			return permanent_errors[i].hint;
		}
	}
	if (status == 403)
		ec = ERR_AUTH;
	else if (status == 429)
		ec = ERR_THROTTLED;
	out->err.code = ec;
	return NULL;
}

static int
parse_failure(long status, const char *body, size_t len, struct token_result *out)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *desc = NULL, *hint;
	char code[48], text[128];

	sanitize(code, sizeof(code), json_string_value(json_object_get(root, "error")));
	desc = json_string_value(json_object_get(root, "error_description"));
	if (desc == NULL)
		desc = json_string_value(json_object_get(root, "message"));
	sanitize(text, sizeof(text), desc);
	json_decref(root);
	hint = classify(status, code, out);
	return err_set(&out->err, out->err.code, "issuer answered %ld%s%s%s%s%s%s",
	               status, code[0] ? " " : "", code, text[0] ? ": " : "", text,
	               hint != NULL ? "; permanent, " : "", hint != NULL ? hint : "");
}

/* expires_in as a positive number of seconds; Azure AD v1 and others send
 * it as a string. */
static int
parse_expires_in(json_t *v, int64_t *out, struct err *err)
{
	int64_t s;

	if (v == NULL)
		return err_set(err, ERR_PARSE, "issuer's answer has no expires_in");
	if (json_is_integer(v))
		s = json_integer_value(v);
	else if (!json_is_string(v) || (s = parse_digits(json_string_value(v))) < 0)
		return err_set(err, ERR_PARSE, "issuer's expires_in is not an integer");
	if (s <= 0)
		return err_set(err, ERR_PARSE, "issuer's expires_in %lld is not positive",
		               (long long)s);
	if (s > OAUTH2_MAX_EXPIRES_IN_S)
		return err_set(err, ERR_PARSE, "issuer's expires_in %lld is over a year",
		               (long long)s);
	*out = s;
	return 0;
}

static int
check_access_token(json_t *v, struct err *err)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);

	if (s == NULL)
		return err_set(err, ERR_PARSE,
		               "issuer's answer has no access_token string");
	if (len == 0 || len > OAUTH2_MAX_TOKEN_LEN)
		return err_set(err, ERR_PARSE,
		               "issuer's access_token is %zu bytes long (1..%d)", len,
		               OAUTH2_MAX_TOKEN_LEN);
	for (size_t i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return err_set(err, ERR_PARSE,
			               "issuer's access_token has a character "
			               "that is not printable ASCII at %zu",
			               i);
	return 0;
}

static int
parse_token_type(json_t *v, char out[32], struct err *err)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);

	/* Required by RFC 6749, missing in some issuers' answers. */
	if (v == NULL) {
		strcpy(out, "Bearer");
		return 0;
	}
	if (s == NULL || len == 0 || len >= 32)
		return err_set(err, ERR_PARSE,
		               "issuer's token_type is not a short string");
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return err_set(err, ERR_PARSE,
			               "issuer's token_type is not a word");
	memcpy(out, s, len + 1);
	return 0;
}

/* Lifetime from expires_in, else the JWT's exp, else default_lifetime
 * (RFC 6749 §5.1 only recommends expires_in). A JWT exp earlier than
 * expires_in wins: the token's own word on its expiry. */
static int
set_expiry(json_t *root, const char *tok, int64_t start_ms, int64_t default_ms,
           struct token_result *out)
{
	json_t *ei = json_object_get(root, "expires_in");
	int64_t expires_in = 0, exp_s = 0;
	bool has_exp = jwt_decode_exp(tok, &exp_s) == 0;

	if (ei != NULL) {
		if (parse_expires_in(ei, &expires_in, &out->err) == -1)
			return -1;
		out->expires_at_ms = start_ms + expires_in * 1000;
		if (has_exp && exp_s * 1000 < out->expires_at_ms)
			out->expires_at_ms = exp_s * 1000;
	} else if (has_exp) {
		out->expires_at_ms = exp_s * 1000;
	} else if (default_ms > 0) {
		out->expires_at_ms = start_ms + default_ms;
	} else {
		return err_set(&out->err, ERR_PARSE,
		               "issuer's answer has no expires_in and the token no JWT "
		               "exp; set default_lifetime");
	}
	return 0;
}

static int
parse_success(const char *body, size_t len, int64_t request_start_ms,
              int64_t default_lifetime_ms, struct token_result *out)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr), *tok;
	int rc = -1;

	/* jerr.text may quote the body, which may hold the token. */
	if (!json_is_object(root)) {
		err_set(&out->err, ERR_PARSE,
		        "issuer answered 200 with a body that is not a JSON object "
		        "(line %d, column %d)",
		        jerr.line, jerr.column);
		goto out;
	}
	tok = json_object_get(root, "access_token");
	if (check_access_token(tok, &out->err) == -1 ||
	    parse_token_type(json_object_get(root, "token_type"), out->token_type,
	                     &out->err) == -1 ||
	    set_expiry(root, json_string_value(tok), request_start_ms,
	               default_lifetime_ms, out) == -1)
		goto out;
	out->issued_at_ms = request_start_ms;
	sanitize(out->scope, sizeof(out->scope),
	         json_string_value(json_object_get(root, "scope")));
	out->value = secret_new(json_string_value(tok), json_string_length(tok));
	out->origin = TOKEN_ORIGIN_ISSUER;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int
oauth2_parse_answer(long status, const char *body, size_t len, const char *retry_after,
                    const char *ratelimit_reset, int64_t request_start_ms, int64_t now_ms,
                    int64_t default_lifetime_ms, struct token_result *out)
{
	memset(out, 0, sizeof(*out));
	out->http_status = (int)status;
	if (body == NULL)
		len = 0;
	if (status == 200)
		return parse_success(body != NULL ? body : "", len, request_start_ms,
		                     default_lifetime_ms, out);
	out->retry_after_ms = wait_ms(status, retry_after, ratelimit_reset, now_ms);
	return parse_failure(status, body != NULL ? body : "", len, out);
}

int
oauth2_parse_response(long status, const char *body, size_t len, const char *retry_after,
                      const char *ratelimit_reset, int64_t request_start_ms,
                      int64_t now_ms, struct token_result *out)
{
	return oauth2_parse_answer(status, body, len, retry_after, ratelimit_reset,
	                           request_start_ms, now_ms, 0, out);
}

/* Whether a scope word is one of list's space-separated words. */
static bool
has_word(const char *list, const char *w, size_t n)
{
	for (const char *p = list; *p != '\0';) {
		size_t m;

		p += strspn(p, " ");
		m = strcspn(p, " ");
		if (m == n && strncmp(p, w, n) == 0)
			return true;
		p += m;
	}
	return false;
}

size_t
oauth2_scope_missing(const char *requested, const char *granted, char *missing,
                     size_t cap)
{
	size_t count = 0, used = 0;

	if (cap > 0)
		missing[0] = '\0';
	for (const char *p = requested; p != NULL && *p != '\0';) {
		size_t n;

		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n > 0 && !has_word(granted, p, n)) {
			count++;
			if (used + n + 2 <= cap) {
				used += (size_t)snprintf(missing + used, cap - used,
				                         "%s%.*s", used ? " " : "",
				                         (int)n, p);
			}
		}
		p += n;
	}
	return count;
}

/* --- the source ------------------------------------------------------------- */

struct oauth2_source {
	const struct token_def *def;
	struct http_client *http;
	struct http_call *call;
	token_fetch_done_fn *done;
	void *arg;
	int64_t start_ms;
	struct err start_err;   /* why the last start_fetch returned -1 */
	char warned_scope[256]; /* the narrowed grant last warned about */
	struct oauth2_tls tls;
	struct oauth2_disco *disco; /* issuer without token_url; else NULL */
	EVP_PKEY *key;              /* private_key_jwt, once client_key is resolved */
	enum oauth2_alg alg;
};

static void disco_after_token(struct oauth2_source *s, const struct token_result *res);

/* RFC 6749 §3.3: the issuer may grant less than asked, and some drop a
 * scope they do not know without an error. Said once per distinct grant. */
static void
check_scope(struct oauth2_source *s, const struct token_result *res)
{
	char missing[160];
	size_t n;

	if (s->def->scope == NULL || res->scope[0] == '\0')
		return;
	n = oauth2_scope_missing(s->def->scope, res->scope, missing, sizeof(missing));
	if (n == 0) {
		s->warned_scope[0] = '\0';
		return;
	}
	if (strcmp(s->warned_scope, res->scope) == 0)
		return;
	snprintf(s->warned_scope, sizeof(s->warned_scope), "%s", res->scope);
	log_write(LOG_WARNING, "token", s->def->name,
	          "issuer granted scope \"%s\", narrower than asked: %zu missing "
	          "(%s); check scope and the client's grants at the issuer",
	          res->scope, n, missing);
}

static void
on_response(const struct http_response *resp, void *arg)
{
	struct oauth2_source *s = arg;
	struct token_result res;

	s->call = NULL;
	if (resp->err.code != ERR_OK) {
		memset(&res, 0, sizeof(res));
		res.err = resp->err;
	} else {
		oauth2_parse_answer(resp->status, resp->body, resp->body_len,
		                    http_response_header(resp, "Retry-After"),
		                    http_response_header(resp, "x-ratelimit-reset"),
		                    s->start_ms, timeutil_wall_ms(),
		                    s->def->default_lifetime_ms, &res);
		if (res.err.code == ERR_OK)
			check_scope(s, &res);
		/* Auth0's quota headers, on successes and refusals alike. */
		oauth2_quota_read(resp, timeutil_wall_ms(), &res.quota);
	}
	if (s->disco != NULL)
		snprintf(res.token_endpoint, sizeof(res.token_endpoint), "%s",
		         oauth2_disco_endpoint(s->disco));
	disco_after_token(s, &res);
	/* done owns res.value and may start the next fetch. */
	s->done(&res, s->arg);
}

/* Parses client_key once it is resolved (at once for file: and env:,
 * after the ssm: read otherwise). */
static int
load_key(struct oauth2_source *s, struct err *err)
{
	const struct config_secret *ck = &s->def->client_key;

	if (s->def->client_auth == OAUTH2_AUTH_TLS ||
	    s->def->client_auth == OAUTH2_AUTH_SELF_SIGNED_TLS)
		return oauth2_tls_load_client(&s->tls, s->def, err);
	if (s->key != NULL || ck->value == NULL)
		return 0;
	s->key = oauth2_key_load(ck->value->data, ck->value->len,
	                         s->def->client_assertion_alg, &s->alg, err);
	if (s->key == NULL) {
		err_prefix(err, "client_key %s (line %d)", ck->ref, ck->line);
		return -1;
	}
	return 0;
}

/* The RFC 7523 assertion of the JWT methods, NULL for the others (and on
 * failure, with s->start_err set). */
static int
make_assertion(struct oauth2_source *s, const struct secret *secret, const char *aud,
               char **out)
{
	const struct token_def *def = s->def;
	int64_t now_s = timeutil_wall_ms() / 1000;

	*out = NULL;
	if (def->client_auth == OAUTH2_AUTH_SECRET_JWT)
		*out = oauth2_assertion_hs256(def->client_id, aud, secret->data, now_s);
	else if (def->client_auth == OAUTH2_AUTH_KEY_JWT)
		*out = oauth2_assertion_key(def->client_id, aud, def->client_key_id,
		                            s->alg, s->key, now_s);
	else
		return 0;
	if (*out == NULL)
		return err_set(&s->start_err, ERR_INTERNAL,
		               "client assertion: signing failed");
	return 0;
}

/* The credential the method needs, resolved; -1 with s->start_err. */
static int
check_credential(struct oauth2_source *s)
{
	const struct token_def *def = s->def;
	bool tls = def->client_auth == OAUTH2_AUTH_TLS ||
	           def->client_auth == OAUTH2_AUTH_SELF_SIGNED_TLS;
	const struct config_secret *cs = def->client_auth == OAUTH2_AUTH_KEY_JWT || tls
	                                         ? &def->client_key
	                                         : &def->client_secret;

	if (tls && def->client_cert.value == NULL)
		cs = &def->client_cert;
	if (cs->value == NULL)
		return err_set(&s->start_err, ERR_UNAVAILABLE, "%s (%s) not resolved",
		               cs == &def->client_key    ? "client_key"
		               : cs == &def->client_cert ? "client_cert"
		                                         : "client_secret",
		               cs->ref != NULL ? cs->ref : "unset");
	return load_key(s, &s->start_err);
}

/* Starts the POST to url; -1 with s->start_err. */
static int
start_token(struct oauth2_source *s, const char *url)
{
	const struct token_def *def = s->def;
	const struct secret *secret = def->client_secret.value;
	bool basic = def->client_auth == OAUTH2_AUTH_BASIC;
	const char *headers[4] = { NULL };
	char *body = NULL, *auth = NULL, *assertion = NULL;
	struct http_request req = { 0 };
	int rc = -1;

	if (check_credential(s) == -1 || make_assertion(s, secret, url, &assertion) == -1)
		goto out;
	/* The mTLS methods have no secret: client_id alone goes in the body. */
	body = oauth2_request_body_assert(
	        def, basic || assertion || secret == NULL ? NULL : secret->data,
	        assertion);
	headers[0] = def->request_format == OAUTH2_BODY_JSON
	                     ? "Content-Type: application/json"
	                     : "Content-Type: application/x-www-form-urlencoded";
	headers[1] = "Accept: application/json";
	if (basic) {
		auth = oauth2_basic_header(def->client_id, secret->data);
		headers[2] = auth;
	}
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = (long)def->request_timeout_ms;
	req.tls = s->tls.used ? &s->tls.http : NULL;
	s->start_ms = timeutil_wall_ms();
	s->call = http_client_start(s->http, &req, on_response, s, &s->start_err);
	if (s->call == NULL)
		goto out;
	rc = 0;
out:
	/* http_client copied both. */
	secret_free_str(body);
	secret_free_str(auth);
	secret_free_str(assertion);
	return rc;
}

/* --- discovery hook: the token endpoint from the issuer's metadata ---------- */

static void
on_disco(const struct err *err, bool permanent, void *arg)
{
	struct oauth2_source *s = arg;
	struct token_result res;

	if (err->code == ERR_OK && start_token(s, oauth2_disco_endpoint(s->disco)) == 0)
		return;
	memset(&res, 0, sizeof(res));
	res.err = err->code == ERR_OK ? s->start_err : *err;
	res.permanent = permanent;
	s->done(&res, s->arg);
}

/* The cached endpoint, else the metadata first. */
static int
disco_start(struct oauth2_source *s)
{
	const char *url = oauth2_disco_fresh(s->disco, timeutil_wall_ms());

	if (url != NULL)
		return start_token(s, url);
	return oauth2_disco_start(s->disco, on_disco, s, &s->start_err);
}

/* A token endpoint that cannot be reached, is gone or fails may have
 * moved: the next fetch reads the metadata again (token.c's backoff
 * paces it). An OAuth2 error answer is the client's, not the endpoint's. */
static void
disco_after_token(struct oauth2_source *s, const struct token_result *res)
{
	int st = res->http_status;

	if (s->disco != NULL && res->err.code != ERR_OK &&
	    (st == 0 || st == 404 || st == 405 || st == 410 || st >= 500))
		oauth2_disco_invalidate(s->disco);
}

/* --- the source's operations ------------------------------------------------ */

static int
oauth2_start_fetch(void *impl, token_fetch_done_fn *done, void *arg)
{
	struct oauth2_source *s = impl;

	s->done = done;
	s->arg = arg;
	if (s->disco != NULL)
		return disco_start(s);
	return start_token(s, s->def->token_url);
}

static void
oauth2_cancel(void *impl)
{
	struct oauth2_source *s = impl;

	http_call_cancel(s->call);
	s->call = NULL;
	if (s->disco != NULL)
		oauth2_disco_cancel(s->disco);
}

static void
oauth2_free(void *impl)
{
	struct oauth2_source *s = impl;

	if (s == NULL)
		return;
	http_call_cancel(s->call);
	oauth2_disco_free(s->disco);
	oauth2_tls_clear(&s->tls);
	EVP_PKEY_free(s->key); /* OpenSSL cleanses the key's bignums */
	free(s);
}

static void
oauth2_start_error(void *impl, struct err *err)
{
	struct oauth2_source *s = impl;

	*err = s->start_err;
}

static const struct token_source_ops oauth2_ops = {
	.name = "oauth2",
	.start_fetch = oauth2_start_fetch,
	.cancel = oauth2_cancel,
	.free = oauth2_free,
	.start_error = oauth2_start_error,
};

int
source_oauth2_new(const struct token_def *def, struct http_client *http,
                  struct token_source *out, struct err *err)
{
	struct oauth2_source *s;

	if ((def->token_url == NULL && def->issuer == NULL) || def->client_id == NULL)
		return err_set(
		        err, ERR_CONFIG,
		        "oauth2: token_url (or issuer) and client_id are required");
	if (def->token_url != NULL && !http_client_url_allowed(def->token_url, err)) {
		err_prefix(err, "token_url");
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->def = def;
	if (oauth2_tls_load(&s->tls, def, err) == -1 || load_key(s, err) == -1) {
		oauth2_tls_clear(&s->tls);
		free(s);
		return -1;
	}
	s->http = http;
	if (def->token_url == NULL)
		s->disco = oauth2_disco_new(def->name, def->issuer,
		                            config_client_auth_name(def->client_auth),
		                            http, s->tls.used ? &s->tls.http : NULL,
		                            (long)def->request_timeout_ms);
	out->ops = &oauth2_ops;
	out->impl = s;
	return 0;
}
