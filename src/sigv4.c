/* sigv4.c - AWS SigV4 signing: key derivation, header signing, presigning,
 * and the RDS / ElastiCache IAM tokens built on presigning. */
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secret.h"
#include "sigv4_canon.h"
#include "timeutil.h"
#include "xalloc.h"

#define ALGORITHM     "AWS4-HMAC-SHA256"
#define SHA256_BLOCK  64
#define AMZ_TIME_OFF  9 /* "123600" in "20150830T123600Z" */
#define SIG_PARAM     "X-Amz-Signature="
#define SIG_PARAM_LEN (sizeof(SIG_PARAM) - 1)
#define HEX_HASH_LEN  (2 * SIGV4_KEY_LEN) /* a SHA-256 or signature in hex */

static void
to_hex(const unsigned char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static void
sha256_hex(const void *data, size_t len, char out[SIGV4_SIGNATURE_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	/* Only fails on out of memory, which we do not survive anyway. */
	if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1)
		abort();
	to_hex(md, mdlen, out);
}

static void
hmac(const void *key, size_t keylen, const char *msg, unsigned char out[SIGV4_KEY_LEN])
{
	unsigned int outlen = SIGV4_KEY_LEN;

	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg),
	         out, &outlen) == NULL)
		abort();
}

void
sigv4_signing_key(const char *secret_access_key, const char *date, const char *region,
                  const char *service, unsigned char key[SIGV4_KEY_LEN])
{
	unsigned char k[SIGV4_KEY_LEN];
	char *seed = NULL;

	xasprintf(&seed, "AWS4%s", secret_access_key);
	hmac(seed, strlen(seed), date, k);
	hmac(k, sizeof(k), region, key);
	hmac(key, SIGV4_KEY_LEN, service, k);
	hmac(k, sizeof(k), "aws4_request", key);
	OPENSSL_cleanse(k, sizeof(k));
	secret_free_str(seed);
}

void
sigv4_signed_clear(struct sigv4_signed *out)
{
	for (size_t i = 0; i < SIGV4_ADDED_HEADERS_MAX; i++)
		secret_free_str(out->headers[i]);
	secret_free_str(out->query);
	secret_free_str(out->canonical_request);
	secret_free_str(out->string_to_sign);
	memset(out, 0, sizeof(*out));
}

static bool
empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/* Values that end up in a header line or a scope must not break it. */
static bool
has_ctl(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int
check_signer(const struct sigv4_signer *sg, const struct sigv4_request *req,
             struct err *err)
{
	const struct sigv4_creds *c = sg->creds;

	if (c == NULL || empty(c->access_key_id) || empty(c->secret_access_key))
		return err_set(err, ERR_AUTH, "sigv4: no AWS credentials");
	if (has_ctl(c->access_key_id) || has_ctl(c->session_token) ||
	    strchr(c->access_key_id, '/') != NULL)
		return err_set(err, ERR_AUTH, "sigv4: malformed AWS credentials");
	if (empty(sg->region) || empty(sg->service) || strchr(sg->region, '/') != NULL ||
	    strchr(sg->service, '/') != NULL || has_ctl(sg->region) ||
	    has_ctl(sg->service))
		return err_set(err, ERR_INTERNAL, "sigv4: bad region or service");
	if (sg->time_s < 0 || sg->time_s > 253402300799) /* year 9999 */
		return err_set(err, ERR_INTERNAL, "sigv4: signing time out of range");
	if (empty(req->method) || has_ctl(req->method) ||
	    strchr(req->method, ' ') != NULL)
		return err_set(err, ERR_INTERNAL, "sigv4: bad method");
	if (req->nheaders > 0 && req->headers == NULL)
		return err_set(err, ERR_INTERNAL, "sigv4: headers missing");
	return 0;
}

/* The amz date, the date alone and the credential scope
 * ("20150830/us-east-1/ssm/aws4_request"). */
struct when {
	char amz[TIMEUTIL_AMZ_LEN];
	char date[9];
	char *scope;
};

static void
when_init(struct when *w, const struct sigv4_signer *sg)
{
	timeutil_format_amz(sg->time_s, w->amz);
	memcpy(w->date, w->amz, 8);
	w->date[8] = '\0';
	xasprintf(&w->scope, "%s/%s/%s/aws4_request", w->date, sg->region, sg->service);
}

/* Joins the canonical request, derives the string to sign and signs it. */
static void
finish(const struct sigv4_signer *sg, const struct sigv4_request *req,
       const struct when *w, const char *cquery, const char *cheaders,
       const char *signed_names, const char *payload_hash, struct sigv4_signed *out)
{
	char *path = sigv4_canonical_path(req->path, req->raw_path);
	char creq_hash[SIGV4_SIGNATURE_LEN];
	unsigned char key[SIGV4_KEY_LEN], sig[SIGV4_KEY_LEN];

	xasprintf(&out->canonical_request, "%s\n%s\n%s\n%s\n%s\n%s", req->method, path,
	          cquery, cheaders, signed_names, payload_hash);
	sha256_hex(out->canonical_request, strlen(out->canonical_request), creq_hash);
	xasprintf(&out->string_to_sign, ALGORITHM "\n%s\n%s\n%s", w->amz, w->scope,
	          creq_hash);
	sigv4_signing_key(sg->creds->secret_access_key, w->date, sg->region, sg->service,
	                  key);
	hmac(key, sizeof(key), out->string_to_sign, sig);
	to_hex(sig, sizeof(sig), out->signature);
	OPENSSL_cleanse(key, sizeof(key));
	free(path);
}

/* Headers the header signer adds itself must not come in twice. */
static int
check_added(const struct sigv4_request *req, struct err *err)
{
	for (size_t i = 0; i < req->nheaders; i++) {
		const char *n = req->headers[i].name ? req->headers[i].name : "";

		if (strcasecmp(n, "authorization") == 0 ||
		    strcasecmp(n, "x-amz-date") == 0 ||
		    strcasecmp(n, "x-amz-security-token") == 0 ||
		    (req->sign_body && strcasecmp(n, "x-amz-content-sha256") == 0))
			return err_set(err, ERR_INTERNAL,
			               "sigv4: the signer adds %s itself", n);
	}
	return 0;
}

static void
add_line(struct sigv4_signed *out, size_t *n, const char *name, const char *value)
{
	xasprintf(&out->headers[(*n)++], "%s: %s", name, value);
}

int
sigv4_sign_headers(const struct sigv4_signer *sg, const struct sigv4_request *req,
                   struct sigv4_signed *out, struct err *err)
{
	const char *token = sg->creds ? sg->creds->session_token : NULL;
	struct sigv4_header *all = NULL;
	struct sigv4_params params = { 0 };
	struct when w = { 0 };
	char payload[SIGV4_SIGNATURE_LEN];
	char *cheaders = NULL, *signed_names = NULL, *cquery = NULL, *auth = NULL;
	size_t n, lines = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (check_signer(sg, req, err) < 0 || check_added(req, err) < 0)
		goto out;
	when_init(&w, sg);
	sha256_hex(req->body, req->body_len, payload);
	all = xcalloc(req->nheaders + 3, sizeof(*all));
	if (req->nheaders > 0)
		memcpy(all, req->headers, req->nheaders * sizeof(*all));
	n = req->nheaders;
	all[n++] = (struct sigv4_header){ "x-amz-date", w.amz };
	if (!empty(token) && !req->omit_session_token)
		all[n++] = (struct sigv4_header){ "x-amz-security-token", token };
	if (req->sign_body)
		all[n++] = (struct sigv4_header){ "x-amz-content-sha256", payload };
	if (sigv4_canonical_headers(all, n, &cheaders, &signed_names, err) < 0)
		goto out;
	sigv4_params_parse(&params, req->query);
	cquery = sigv4_params_canonical(&params);
	finish(sg, req, &w, cquery, cheaders, signed_names, payload, out);

	add_line(out, &lines, "X-Amz-Date", w.amz);
	if (!empty(token))
		add_line(out, &lines, "X-Amz-Security-Token", token);
	if (req->sign_body)
		add_line(out, &lines, "X-Amz-Content-Sha256", payload);
	xasprintf(&auth, ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
	          sg->creds->access_key_id, w.scope, signed_names, out->signature);
	add_line(out, &lines, "Authorization", auth);
	rc = 0;
out:
	if (rc < 0)
		sigv4_signed_clear(out);
	free(all);
	free(w.scope);
	free(auth);
	secret_free_str(cheaders);
	free(signed_names);
	secret_free_str(cquery);
	sigv4_params_clear(&params);
	return rc;
}

int
sigv4_presign(const struct sigv4_signer *sg, const struct sigv4_request *req,
              int expires_s, struct sigv4_signed *out, struct err *err)
{
	const char *token = sg->creds ? sg->creds->session_token : NULL;
	struct sigv4_params params = { 0 };
	struct when w = { 0 };
	char payload[SIGV4_SIGNATURE_LEN], expires[16];
	char *cheaders = NULL, *signed_names = NULL, *cquery = NULL, *cred = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (check_signer(sg, req, err) < 0)
		goto out;
	if (expires_s < 1 || expires_s > SIGV4_MAX_EXPIRES_S) {
		err_set(err, ERR_INTERNAL, "sigv4: expiry %d s out of range", expires_s);
		goto out;
	}
	if (sigv4_canonical_headers(req->headers, req->nheaders, &cheaders, &signed_names,
	                            err) < 0)
		goto out;
	when_init(&w, sg);
	sha256_hex(req->body, req->body_len, payload);
	snprintf(expires, sizeof(expires), "%d", expires_s);
	xasprintf(&cred, "%s/%s", sg->creds->access_key_id, w.scope);

	/* botocore's order: the request's own parameters, then ours. */
	sigv4_params_parse(&params, req->query);
	sigv4_params_add(&params, "X-Amz-Algorithm", ALGORITHM);
	sigv4_params_add(&params, "X-Amz-Credential", cred);
	sigv4_params_add(&params, "X-Amz-Date", w.amz);
	sigv4_params_add(&params, "X-Amz-Expires", expires);
	sigv4_params_add(&params, "X-Amz-SignedHeaders", signed_names);
	if (!empty(token) && !req->omit_session_token)
		sigv4_params_add(&params, "X-Amz-Security-Token", token);
	cquery = sigv4_params_canonical(&params);
	finish(sg, req, &w, cquery, cheaders, signed_names, payload, out);

	if (!empty(token) && req->omit_session_token)
		sigv4_params_add(&params, "X-Amz-Security-Token", token);
	sigv4_params_add(&params, "X-Amz-Signature", out->signature);
	out->query = sigv4_params_join(&params);
	rc = 0;
out:
	if (rc < 0)
		sigv4_signed_clear(out);
	free(w.scope);
	free(cred);
	secret_free_str(cheaders);
	free(signed_names);
	secret_free_str(cquery);
	sigv4_params_clear(&params);
	return rc;
}

/* A DNS name (RDS endpoint) or a cache id: letters, digits, '-', '.', '_'.
 * Anything else would change what the token says, not just how. */
static bool
valid_host(const char *s)
{
	if (empty(s) || strlen(s) > 253)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' || *s == '_'))
			return false;
	return true;
}

/* Presigns GET / on host with query into out. The host header is signed
 * in lower case, as botocore does (host names are case blind, and AWS
 * stores cache names in lower case); the token starts with the name as
 * configured. */
static int
iam_presign(const struct sigv4_creds *creds, const char *region, const char *service,
            const char *host, const char *query, int64_t time_s, struct sigv4_signed *out,
            struct err *err)
{
	struct sigv4_signer sg = { creds, region, service, time_s };
	char *lower = xstrdup(host);
	struct sigv4_header h = { "host", lower };
	struct sigv4_request req = {
		.method = "GET", .path = "/", .query = query, .headers = &h, .nheaders = 1
	};
	int rc;

	for (char *c = lower; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	rc = sigv4_presign(&sg, &req, SIGV4_IAM_TOKEN_TTL_S, out, err);
	free(lower);
	return rc;
}

/* "HOST/?QUERY", or NULL with err. */
static char *
iam_token(const struct sigv4_creds *creds, const char *region, const char *service,
          const char *host, const char *query, int64_t time_s, struct err *err)
{
	struct sigv4_signed out = { 0 };
	char *token = NULL;

	if (iam_presign(creds, region, service, host, query, time_s, &out, err) == 0)
		xasprintf(&token, "%s/?%s", host, out.query);
	sigv4_signed_clear(&out);
	return token;
}

static int
check_user(const char *user, struct err *err)
{
	if (empty(user))
		return err_set(err, ERR_CONFIG, "sigv4: empty user name");
	return 0;
}

/* What an IAM token is signed for: fixed for the life of a token source. */
struct iam_target {
	const char *service;
	char *host;  /* as the token starts: "HOST:PORT" (RDS) or the cache name */
	char *query; /* the request's own parameters, encoded */
};

static void
target_clear(struct iam_target *t)
{
	free(t->host);
	free(t->query);
	memset(t, 0, sizeof(*t));
}

static int
rds_target(const char *host, int port, const char *user, struct iam_target *t,
           struct err *err)
{
	struct sigv4_buf q = { 0 };

	if (!valid_host(host))
		return err_set(err, ERR_CONFIG, "sigv4: bad RDS host name");
	if (port < 1 || port > 65535)
		return err_set(err, ERR_CONFIG, "sigv4: bad RDS port %d", port);
	if (check_user(user, err) < 0)
		return -1;
	/* The port is always signed: 3306 and 5432 are no HTTPS default. */
	t->service = "rds-db";
	xasprintf(&t->host, "%s:%d", host, port);
	sigv4_buf_adds(&q, "Action=connect&DBUser=");
	sigv4_uri_encode(&q, user, strlen(user), false);
	t->query = sigv4_buf_take(&q);
	return 0;
}

static int
elasticache_target(const char *cache, const char *user, bool serverless,
                   struct iam_target *t, struct err *err)
{
	struct sigv4_buf q = { 0 };

	if (!valid_host(cache))
		return err_set(err, ERR_CONFIG, "sigv4: bad ElastiCache cache name");
	if (check_user(user, err) < 0)
		return -1;
	t->service = "elasticache";
	t->host = xstrdup(cache);
	sigv4_buf_adds(&q, "Action=connect&User=");
	sigv4_uri_encode(&q, user, strlen(user), false);
	if (serverless)
		sigv4_buf_adds(&q, "&ResourceType=ServerlessCache");
	t->query = sigv4_buf_take(&q);
	return 0;
}

char *
sigv4_rds_token(const struct sigv4_creds *creds, const char *region, const char *host,
                int port, const char *user, int64_t time_s, struct err *err)
{
	struct iam_target t = { 0 };
	char *token = NULL;

	if (rds_target(host, port, user, &t, err) == 0)
		token = iam_token(creds, region, t.service, t.host, t.query, time_s, err);
	target_clear(&t);
	return token;
}

char *
sigv4_elasticache_token(const struct sigv4_creds *creds, const char *region,
                        const char *cache, const char *user, bool serverless,
                        int64_t time_s, struct err *err)
{
	struct iam_target t = { 0 };
	char *token = NULL;

	if (elasticache_target(cache, user, serverless, &t, err) == 0)
		token = iam_token(creds, region, t.service, t.host, t.query, time_s, err);
	target_clear(&t);
	return token;
}

/* The cache keeps the last token as a template: within one UTC day and
 * for the same credentials and region, only the time of day in X-Amz-Date
 * and the signature change, both fixed-width, so a new token is the old
 * one with those bytes rewritten, one SHA-256 of the canonical request
 * and one HMAC with the kept signing key. Anything else rebuilds the
 * template with the general presigner, which also checks every input. */
struct sigv4_iam_cache {
	struct iam_target target;
	bool valid;
	int64_t day; /* time_s / 86400 of the template */
	char *region, *access_key_id;
	/* Secret or holding the session token: in the secret arena, out of
	 * core dumps. The cache holds the only reference, so the templates
	 * are rewritten in place. */
	struct secret *secret_access_key, *session_token;
	struct secret *pads; /* HMAC key blocks: ipad, then opad */
	struct secret *creq; /* canonical request */
	struct secret *token;
	char *sts; /* string to sign */
	size_t creq_len, sts_len, token_len;
	size_t creq_amz, sts_amz, token_amz; /* offsets of X-Amz-Date's value */
	EVP_MD *sha256;
	EVP_MD_CTX *md;
};

static struct sigv4_iam_cache *
cache_new(struct iam_target *t)
{
	struct sigv4_iam_cache *c = xcalloc(1, sizeof(*c));

	c->target = *t;
	memset(t, 0, sizeof(*t));
	/* Fetched once: the implicit fetch of EVP_sha256() takes a lock and a
	 * lookup on every call. */
	c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	c->md = EVP_MD_CTX_new();
	if (c->sha256 == NULL || c->md == NULL)
		abort();
	return c;
}

struct sigv4_iam_cache *
sigv4_rds_cache_new(const char *host, int port, const char *user, struct err *err)
{
	struct iam_target t = { 0 };

	if (rds_target(host, port, user, &t, err) < 0) {
		target_clear(&t);
		return NULL;
	}
	return cache_new(&t);
}

struct sigv4_iam_cache *
sigv4_elasticache_cache_new(const char *cache, const char *user, bool serverless,
                            struct err *err)
{
	struct iam_target t = { 0 };

	if (elasticache_target(cache, user, serverless, &t, err) < 0) {
		target_clear(&t);
		return NULL;
	}
	return cache_new(&t);
}

/* Forgets the template, wiping the key and everything that holds a
 * secret or the session token. */
static void
cache_drop(struct sigv4_iam_cache *c)
{
	secret_unref(c->secret_access_key);
	secret_unref(c->session_token);
	secret_unref(c->pads);
	secret_unref(c->creq);
	secret_unref(c->token);
	free(c->sts);
	free(c->region);
	free(c->access_key_id);
	c->secret_access_key = c->session_token = c->pads = c->creq = c->token = NULL;
	c->sts = c->region = c->access_key_id = NULL;
	c->valid = false;
}

void
sigv4_iam_cache_free(struct sigv4_iam_cache *c)
{
	if (c == NULL)
		return;
	cache_drop(c);
	target_clear(&c->target);
	EVP_MD_CTX_free(c->md);
	EVP_MD_free(c->sha256);
	free(c);
}

static bool
same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool
cache_hit(const struct sigv4_iam_cache *c, const struct sigv4_creds *creds,
          const char *region, int64_t time_s)
{
	return c->valid && creds != NULL && time_s >= 0 && time_s / 86400 == c->day &&
	       same(c->region, region) && same(c->access_key_id, creds->access_key_id) &&
	       same(c->secret_access_key->data, creds->secret_access_key) &&
	       same(c->session_token->data, creds->session_token);
}

/* SHA-256 of a then b on the kept context. */
static void
digest2(struct sigv4_iam_cache *c, const void *a, size_t alen, const void *b, size_t blen,
        unsigned char out[SIGV4_KEY_LEN])
{
	if (EVP_DigestInit_ex2(c->md, c->sha256, NULL) != 1 ||
	    EVP_DigestUpdate(c->md, a, alen) != 1 ||
	    (blen > 0 && EVP_DigestUpdate(c->md, b, blen) != 1) ||
	    EVP_DigestFinal_ex(c->md, out, NULL) != 1)
		abort();
}

/* The offset of X-Amz-Date's value in s, 0 if none. The request's own
 * parameters are encoded ('=' is %3D) and host names have no '=', so the
 * first match is the parameter. */
static size_t
amz_offset(const char *s)
{
	const char *p = strstr(s, "X-Amz-Date=");

	return p ? (size_t)(p - s) + strlen("X-Amz-Date=") : 0;
}

/* kSigning as the two HMAC key blocks (RFC 2104). */
static void
cache_key(struct sigv4_iam_cache *c, const char *region)
{
	unsigned char key[SIGV4_KEY_LEN];
	char date[9], pads[2 * SHA256_BLOCK];

	memcpy(date, c->sts + c->sts_amz, 8);
	date[8] = '\0';
	sigv4_signing_key(c->secret_access_key->data, date, region, c->target.service,
	                  key);
	memset(pads, 0x36, SHA256_BLOCK);
	memset(pads + SHA256_BLOCK, 0x5c, SHA256_BLOCK);
	for (size_t i = 0; i < sizeof(key); i++) {
		pads[i] ^= (char)key[i];
		pads[SHA256_BLOCK + i] ^= (char)key[i];
	}
	c->pads = secret_new(pads, sizeof(pads));
	OPENSSL_cleanse(pads, sizeof(pads));
	OPENSSL_cleanse(key, sizeof(key));
}

/* Signs with the general presigner and keeps the result as the template. */
static char *
cache_build(struct sigv4_iam_cache *c, const struct sigv4_creds *creds,
            const char *region, int64_t time_s, struct err *err)
{
	struct iam_target *t = &c->target;
	struct sigv4_signed out = { 0 };
	char *token = NULL;

	cache_drop(c);
	if (iam_presign(creds, region, t->service, t->host, t->query, time_s, &out, err) <
	    0)
		goto out;
	xasprintf(&token, "%s/?%s", t->host, out.query);
	c->token = secret_new_str(token);
	c->creq = secret_new_str(out.canonical_request);
	c->sts = xstrdup(out.string_to_sign);
	c->token_len = c->token->len;
	c->creq_len = c->creq->len;
	c->sts_len = strlen(c->sts);
	c->token_amz = amz_offset(token);
	c->creq_amz = amz_offset(out.canonical_request);
	c->sts_amz = strlen(ALGORITHM "\n");
	c->region = xstrdup(region);
	c->access_key_id = xstrdup(creds->access_key_id);
	c->secret_access_key = secret_new_str(creds->secret_access_key);
	c->session_token =
	        secret_new_str(creds->session_token ? creds->session_token : "");
	cache_key(c, region);
	c->day = time_s / 86400;
	/* The template is usable only if its fixed-width fields are where
	 * they are expected: X-Amz-Signature last, the hash last. */
	c->valid = c->token_amz != 0 && c->creq_amz != 0 &&
	           c->token_len > HEX_HASH_LEN + SIG_PARAM_LEN &&
	           strncmp(token + c->token_len - HEX_HASH_LEN - SIG_PARAM_LEN, SIG_PARAM,
	                   SIG_PARAM_LEN) == 0;
out:
	sigv4_signed_clear(&out);
	return token;
}

static void
put2(char *p, int64_t v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* A token from the template: a new time of day and a new signature. */
static char *
cache_sign(struct sigv4_iam_cache *c, int64_t time_s)
{
	char *creq = c->creq->data, *tok = c->token->data, *pads = c->pads->data;
	unsigned char h[SIGV4_KEY_LEN];
	int64_t sod = time_s % 86400;
	char hms[6];
	char *token;

	put2(hms, sod / 3600);
	put2(hms + 2, sod / 60 % 60);
	put2(hms + 4, sod % 60);
	memcpy(creq + c->creq_amz + AMZ_TIME_OFF, hms, sizeof(hms));
	memcpy(c->sts + c->sts_amz + AMZ_TIME_OFF, hms, sizeof(hms));
	memcpy(tok + c->token_amz + AMZ_TIME_OFF, hms, sizeof(hms));
	digest2(c, creq, c->creq_len, NULL, 0, h);
	to_hex(h, sizeof(h), c->sts + c->sts_len - HEX_HASH_LEN);
	digest2(c, pads, SHA256_BLOCK, c->sts, c->sts_len, h);
	digest2(c, pads + SHA256_BLOCK, SHA256_BLOCK, h, sizeof(h), h);
	to_hex(h, sizeof(h), tok + c->token_len - HEX_HASH_LEN);
	OPENSSL_cleanse(h, sizeof(h));
	token = xmalloc(c->token_len + 1);
	memcpy(token, tok, c->token_len + 1);
	return token;
}

char *
sigv4_iam_cache_token(struct sigv4_iam_cache *c, const struct sigv4_creds *creds,
                      const char *region, int64_t time_s, struct err *err)
{
	if (cache_hit(c, creds, region, time_s))
		return cache_sign(c, time_s);
	return cache_build(c, creds, region, time_s, err);
}
