/* aws_creds_remote.c - credentials from STS web identity, the container
 * endpoint and IMDSv2, fetched through the async HTTP client. */
#include "aws_creds_remote.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_creds.h"
#include "http_client.h"
#include "secret.h"
#include "timeutil.h"
#include "xalloc.h"

#define ECS_DEFAULT_BASE  "http://169.254.170.2"
#define IMDS_DEFAULT_BASE "http://169.254.169.254"
#define IMDS_TOKEN_TTL_S  21600
#define IMDS_TIMEOUT_MS   1000
#define ECS_TIMEOUT_MS    2000
#define STS_TIMEOUT_MS    10000
#define SKEW_MAX_RTT_MS   5000
#define TOKEN_FILE_MAX    (64 * 1024)

enum imds_step { IMDS_TOKEN, IMDS_ROLE, IMDS_CREDS };

struct aws_creds_remote {
	struct http_client *http;
	struct aws_creds *owner;
	struct http_call *call;
	enum aws_creds_remote_kind kind;
	aws_creds_remote_done_fn *cb;
	void *arg;

	char *base; /* IMDS endpoint of the fetch under way */
	enum imds_step step;
	bool retried;                /* a 401 already got a new session token */
	char *imds_token;            /* wiped; reused until its TTL */
	int64_t imds_token_until_ms; /* monotonic */
	char *imds_role;
};

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static const char *
kind_name(enum aws_creds_remote_kind kind)
{
	switch (kind) {
	case AWS_CREDS_REMOTE_WEB_IDENTITY: return "web_identity";
	case AWS_CREDS_REMOTE_ECS: return "ecs";
	case AWS_CREDS_REMOTE_IMDS: return "imds";
	}
	return "?";
}

struct aws_creds_remote *
aws_creds_remote_new(struct http_client *http, struct aws_creds *owner)
{
	struct aws_creds_remote *r = xcalloc(1, sizeof(*r));

	r->http = http;
	r->owner = owner;
	return r;
}

void
aws_creds_remote_cancel(struct aws_creds_remote *r)
{
	if (r == NULL)
		return;
	http_call_cancel(r->call);
	r->call = NULL;
	free(r->base);
	r->base = NULL;
}

void
aws_creds_remote_free(struct aws_creds_remote *r)
{
	if (r == NULL)
		return;
	aws_creds_remote_cancel(r);
	secret_free_str(r->imds_token);
	free(r->imds_role);
	free(r);
}

/* Pure helpers. */

char *
aws_creds_remote_form_encode(const char *s)
{
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			*o++ = (char)ch;
		} else {
			snprintf(o, 4, "%%%02X", ch);
			o += 3;
		}
	}
	*o = '\0';
	return out;
}

static void
xml_decode(char *s)
{
	static const struct {
		const char *ent;
		char ch;
	} ents[] = { { "&amp;", '&' },
		     { "&lt;", '<' },
		     { "&gt;", '>' },
		     { "&quot;", '"' },
		     { "&apos;", '\'' } };
	char *o = s;

	while (*s != '\0') {
		size_t i, n = sizeof(ents) / sizeof(ents[0]);

		for (i = 0; *s == '&' && i < n; i++)
			if (strncmp(s, ents[i].ent, strlen(ents[i].ent)) == 0)
				break;
		if (*s == '&' && i < n) {
			*o++ = ents[i].ch;
			s += strlen(ents[i].ent);
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

char *
aws_creds_remote_xml_text(const char *doc, const char *name)
{
	size_t nlen = strlen(name);

	for (const char *p = strchr(doc, '<'); p != NULL; p = strchr(p + 1, '<')) {
		const char *tag = p + 1, *end = tag, *colon, *gt, *close;
		char *text;

		while (*end != '\0' && !isspace((unsigned char)*end) && *end != '>' &&
		       *end != '/')
			end++;
		colon = memchr(tag, ':', (size_t)(end - tag));
		if (colon != NULL)
			tag = colon + 1;
		if ((size_t)(end - tag) != nlen || strncmp(tag, name, nlen) != 0)
			continue;
		if ((gt = strchr(end, '>')) == NULL || gt[-1] == '/')
			return NULL;
		if ((close = strstr(gt + 1, "</")) == NULL)
			return NULL;
		text = xstrndup(gt + 1, (size_t)(close - gt - 1));
		xml_decode(text);
		return text;
	}
	return NULL;
}

static enum err_code
sts_error_code(const char *code)
{
	if (code == NULL)
		return ERR_HTTP;
	if (strcmp(code, "Throttling") == 0)
		return ERR_THROTTLED;
	if (strcmp(code, "IDPCommunicationError") == 0)
		return ERR_UNAVAILABLE;
	return ERR_AUTH;
}

int
aws_creds_remote_parse_sts(const char *body, struct aws_credentials **out,
                           struct err *err)
{
	char *akid = NULL, *secret = NULL, *token = NULL, *exp = NULL, *code, *msg;
	int64_t exp_s;
	int rc = -1;

	if (strstr(body, "ErrorResponse") != NULL || strstr(body, "<Error>") != NULL) {
		code = aws_creds_remote_xml_text(body, "Code");
		msg = aws_creds_remote_xml_text(body, "Message");
		err_set(err, sts_error_code(code), "web_identity: STS %s: %.120s",
		        code ? code : "error", msg ? msg : "");
		free(code);
		free(msg);
		return -1;
	}
	akid = aws_creds_remote_xml_text(body, "AccessKeyId");
	secret = aws_creds_remote_xml_text(body, "SecretAccessKey");
	token = aws_creds_remote_xml_text(body, "SessionToken");
	exp = aws_creds_remote_xml_text(body, "Expiration");
	if (akid == NULL || secret == NULL || token == NULL || exp == NULL ||
	    akid[0] == '\0' || secret[0] == '\0') {
		err_set(err, ERR_PARSE, "web_identity: STS answer lacks Credentials");
		goto out;
	}
	if (timeutil_parse_iso8601(exp, &exp_s) == -1) {
		err_set(err, ERR_PARSE, "web_identity: bad Expiration \"%.40s\"", exp);
		goto out;
	}
	*out = aws_credentials_new(akid, secret, token, exp_s * 1000, "web_identity");
	rc = 0;
out:
	free(akid);
	secret_free_str(secret);
	secret_free_str(token);
	free(exp);
	return rc;
}

static const char *
json_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && s[0] != '\0' ? s : NULL;
}

int
aws_creds_remote_parse_json(const char *body, const char *provider, bool imds,
                            struct aws_credentials **out, struct err *err)
{
	json_t *doc = json_loads(body, 0, NULL);
	const char *code, *akid, *secret, *token, *exp;
	int64_t exp_s = 0;
	int rc = -1;

	if (!json_is_object(doc)) {
		err_set(err, ERR_PARSE, "%s: credentials are not a JSON object",
		        provider);
		goto out;
	}
	code = json_str(doc, "Code");
	if (code != NULL && strcmp(code, "Success") != 0) {
		err_set(err, ERR_AUTH, "%s: Code %.40s: %.100s", provider, code,
		        json_str(doc, "Message") ? json_str(doc, "Message") : "");
		goto out;
	}
	akid = json_str(doc, "AccessKeyId");
	secret = json_str(doc, "SecretAccessKey");
	token = json_str(doc, "Token");
	exp = json_str(doc, "Expiration");
	if (akid == NULL || secret == NULL || (imds && (token == NULL || exp == NULL))) {
		err_set(err, ERR_PARSE, "%s: credentials lack %s", provider,
		        akid == NULL     ? "AccessKeyId"
		        : secret == NULL ? "SecretAccessKey"
		        : token == NULL  ? "Token"
		                         : "Expiration");
		goto out;
	}
	if (exp != NULL && timeutil_parse_iso8601(exp, &exp_s) == -1) {
		err_set(err, ERR_PARSE, "%s: bad Expiration \"%.40s\"", provider, exp);
		goto out;
	}
	*out = aws_credentials_new(akid, secret, token, exp_s * 1000, provider);
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

static bool
ecs_host_allowed(const char *host, size_t len)
{
	static const char *const hosts[] = { "localhost", "[::1]", "169.254.170.2",
		                             "169.254.170.23", "[fd00:ec2::23]" };

	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		if (strlen(hosts[i]) == len && strncasecmp(host, hosts[i], len) == 0)
			return true;
	/* 127.0.0.0/8 */
	if (len > 4 && strncmp(host, "127.", 4) == 0) {
		for (size_t i = 4; i < len; i++)
			if (!isdigit((unsigned char)host[i]) && host[i] != '.')
				return false;
		return true;
	}
	return false;
}

int
aws_creds_remote_ecs_url(const char *relative, const char *full, const char *ecs_base,
                         char **url, struct err *err)
{
	const char *host, *end;

	*url = NULL;
	if (relative != NULL && relative[0] != '\0') {
		if (relative[0] != '/')
			return err_set(err, ERR_CONFIG,
			               "ecs: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must "
			               "start with /");
		xasprintf(url, "%s%s", ecs_base ? ecs_base : ECS_DEFAULT_BASE, relative);
		return 0;
	}
	if (full == NULL || full[0] == '\0')
		return 0;
	if (strncasecmp(full, "https://", 8) == 0) {
		*url = xstrdup(full);
		return 0;
	}
	if (strncasecmp(full, "http://", 7) != 0)
		return err_set(err, ERR_CONFIG,
		               "ecs: AWS_CONTAINER_CREDENTIALS_FULL_URI is not http(s)");
	host = full + 7;
	if (host[0] == '[')
		end = strchr(host, ']') ? strchr(host, ']') + 1 : host + strlen(host);
	else
		end = host + strcspn(host, ":/?#@");
	if (*end == '@' || strchr(host, '@') != NULL ||
	    !ecs_host_allowed(host, (size_t)(end - host)))
		return err_set(
		        err, ERR_CONFIG,
		        "ecs: AWS_CONTAINER_CREDENTIALS_FULL_URI host is not loopback or "
		        "an ECS/EKS address");
	*url = xstrdup(full);
	return 0;
}

/* Fetching. */

static void on_response(const struct http_response *resp, void *arg);

/* Reads a small token file, trimmed; NULL with err. */
static char *
read_token_file(const char *path, const char *who, struct err *err)
{
	FILE *f = fopen(path, "r");
	char *buf, *s, *e;
	size_t n;

	if (f == NULL) {
		err_set(err, ERR_IO, "%s: %s: %m", who, path);
		return NULL;
	}
	buf = xmalloc(TOKEN_FILE_MAX + 1);
	n = fread(buf, 1, TOKEN_FILE_MAX, f);
	fclose(f);
	buf[n] = '\0';
	for (s = buf; isspace((unsigned char)*s); s++)
		;
	for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]);)
		*--e = '\0';
	s = *s != '\0' ? xstrdup(s) : NULL;
	secret_free_mem(buf, TOKEN_FILE_MAX + 1);
	if (s == NULL)
		err_set(err, ERR_CONFIG, "%s: %s is empty", who, path);
	return s;
}

static int
send_request(struct aws_creds_remote *r, const char *method, const char *url,
             const char *const *headers, const char *body, long timeout_ms,
             struct err *err)
{
	struct http_request req = {
		.method = method,
		.url = url,
		.headers = headers,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.timeout_ms = timeout_ms,
	};

	if (r->http == NULL)
		return err_set(err, ERR_UNAVAILABLE, "%s: no HTTP client",
		               kind_name(r->kind)),
		       0;
	r->call = http_client_start(r->http, &req, on_response, r, err);
	if (r->call == NULL) {
		err_prefix(err, "%s", kind_name(r->kind));
		return -1;
	}
	return 1;
}

static char *
sts_url(struct aws_creds_remote *r)
{
	const char *ep = env("AWS_ENDPOINT_URL_STS"), *region;
	char *url;

	if (ep == NULL)
		ep = env("AWS_ENDPOINT_URL");
	if (ep != NULL)
		return xstrdup(ep);
	region = aws_creds_region(r->owner, NULL);
	if (region == NULL)
		return xstrdup("https://sts.amazonaws.com/");
	xasprintf(&url, "https://sts.%s.amazonaws.com/", region);
	return url;
}

static int
start_web_identity(struct aws_creds_remote *r, struct err *err)
{
	static const char *const headers[] = {
		"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL
	};
	const char *file = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *arn = env("AWS_ROLE_ARN");
	const char *session = env("AWS_ROLE_SESSION_NAME");
	char *jwt, *e_arn, *e_jwt, *e_sess, *body, *url, fallback[40];
	int rc;

	if (file == NULL)
		return err_set(err, ERR_UNAVAILABLE,
		               "web_identity: AWS_WEB_IDENTITY_TOKEN_FILE not set"),
		       0;
	if (arn == NULL)
		return err_set(err, ERR_UNAVAILABLE,
		               "web_identity: AWS_ROLE_ARN not set"),
		       0;
	/* Projected tokens rotate: read the file on every refresh. */
	if ((jwt = read_token_file(file, "web_identity", err)) == NULL)
		return -1;
	if (session == NULL) {
		snprintf(fallback, sizeof(fallback), "tokend-%lld",
		         (long long)(timeutil_wall_ms() / 1000));
		session = fallback;
	}
	e_arn = aws_creds_remote_form_encode(arn);
	e_jwt = aws_creds_remote_form_encode(jwt);
	e_sess = aws_creds_remote_form_encode(session);
	xasprintf(&body,
	          "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=%s"
	          "&RoleSessionName=%s&WebIdentityToken=%s",
	          e_arn, e_sess, e_jwt);
	url = sts_url(r);
	rc = send_request(r, "POST", url, headers, body, STS_TIMEOUT_MS, err);
	free(url);
	free(e_arn);
	free(e_sess);
	secret_free_str(e_jwt);
	secret_free_str(jwt);
	secret_free_str(body);
	return rc;
}

/* "Authorization: TOKEN" for a full URI, or NULL (none configured). */
static int
ecs_auth_header(char **out, struct err *err)
{
	const char *file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *value = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	char *tok = NULL;
	int rc = -1;

	*out = NULL;
	if (file != NULL) {
		/* The file wins and is re-read: the agent rotates it. */
		if ((tok = read_token_file(file, "ecs", err)) == NULL)
			return -1;
	} else if (value != NULL) {
		tok = xstrdup(value);
	} else {
		return 0;
	}
	if (strpbrk(tok, "\r\n") != NULL) {
		err_set(err, ERR_CONFIG,
		        "ecs: the authorization token contains CR or LF");
		goto out;
	}
	xasprintf(out, "Authorization: %s", tok);
	rc = 0;
out:
	secret_free_str(tok);
	return rc;
}

static int
start_ecs(struct aws_creds_remote *r, struct err *err)
{
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *headers[2] = { NULL, NULL };
	char *url = NULL, *auth = NULL;
	int rc = -1;

	/* TOKEND_ECS_ENDPOINT is a test/debug knob: the base the relative URI
	 * goes to instead of http://169.254.170.2. */
	if (aws_creds_remote_ecs_url(rel, env("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
	                             env("TOKEND_ECS_ENDPOINT"), &url, err) == -1)
		return -1;
	if (url == NULL)
		return err_set(err, ERR_UNAVAILABLE,
		               "ecs: no AWS_CONTAINER_CREDENTIALS_* set"),
		       0;
	if (rel == NULL && ecs_auth_header(&auth, err) == -1)
		goto out;
	headers[0] = auth;
	rc = send_request(r, "GET", url, auth ? headers : NULL, NULL, ECS_TIMEOUT_MS,
	                  err);
out:
	free(url);
	secret_free_str(auth);
	return rc;
}

static int
imds_send(struct aws_creds_remote *r, struct err *err)
{
	char *url, *hdr = NULL;
	const char *headers[2] = { NULL, NULL };
	int rc;

	if (r->step == IMDS_TOKEN && r->imds_token != NULL &&
	    timeutil_mono_ms() < r->imds_token_until_ms)
		r->step = IMDS_ROLE;
	switch (r->step) {
	case IMDS_TOKEN:
		xasprintf(&url, "%s/latest/api/token", r->base);
		xasprintf(&hdr, "X-aws-ec2-metadata-token-ttl-seconds: %d",
		          IMDS_TOKEN_TTL_S);
		break;
	case IMDS_ROLE:
		xasprintf(&url, "%s/latest/meta-data/iam/security-credentials/", r->base);
		break;
	default:
		xasprintf(&url, "%s/latest/meta-data/iam/security-credentials/%s",
		          r->base, r->imds_role);
		break;
	}
	if (hdr == NULL)
		xasprintf(&hdr, "X-aws-ec2-metadata-token: %s", r->imds_token);
	headers[0] = hdr;
	rc = send_request(r, r->step == IMDS_TOKEN ? "PUT" : "GET", url, headers, NULL,
	                  IMDS_TIMEOUT_MS, err);
	free(url);
	secret_free_str(hdr);
	return rc;
}

static int
start_imds(struct aws_creds_remote *r, struct err *err)
{
	const char *off = env("AWS_EC2_METADATA_DISABLED");
	const char *base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	size_t len;

	if (off != NULL && strcasecmp(off, "true") == 0)
		return err_set(err, ERR_UNAVAILABLE,
		               "imds: disabled by AWS_EC2_METADATA_DISABLED"),
		       0;
	if (base == NULL)
		base = IMDS_DEFAULT_BASE;
	len = strlen(base);
	while (len > 0 && base[len - 1] == '/')
		len--;
	r->base = xstrndup(base, len);
	r->step = IMDS_TOKEN;
	r->retried = false;
	return imds_send(r, err);
}

int
aws_creds_remote_start(struct aws_creds_remote *r, enum aws_creds_remote_kind kind,
                       aws_creds_remote_done_fn *cb, void *arg, struct err *err)
{
	aws_creds_remote_cancel(r);
	r->kind = kind;
	r->cb = cb;
	r->arg = arg;
	switch (kind) {
	case AWS_CREDS_REMOTE_WEB_IDENTITY: return start_web_identity(r, err);
	case AWS_CREDS_REMOTE_ECS: return start_ecs(r, err);
	case AWS_CREDS_REMOTE_IMDS: return start_imds(r, err);
	}
	return err_set(err, ERR_INTERNAL, "unknown provider");
}

static void
finish(struct aws_creds_remote *r, struct aws_credentials *cr, const struct err *err)
{
	free(r->base);
	r->base = NULL;
	r->cb(cr, err, r->arg);
}

/* 1: the next request is under way; 0: done (cr or err set). */
static int
imds_next(struct aws_creds_remote *r, const struct http_response *resp,
          struct aws_credentials **cr, struct err *err)
{
	if (resp->status == 401 && r->step != IMDS_TOKEN && !r->retried) {
		/* The session token expired or was revoked: one new one. */
		r->retried = true;
		secret_free_str(r->imds_token);
		r->imds_token = NULL;
		r->step = IMDS_TOKEN;
		return imds_send(r, err) == 1 ? 1 : 0;
	}
	if (resp->status != 200) {
		err_set(err, resp->status == 404 ? ERR_NOTFOUND : ERR_HTTP,
		        "imds: HTTP %ld from %s%s", resp->status, r->base,
		        r->step == IMDS_TOKEN ? " (token)"
		        : resp->status == 404 && r->step == IMDS_ROLE
		                ? " (no instance profile)"
		                : "");
		return 0;
	}
	switch (r->step) {
	case IMDS_TOKEN:
		secret_free_str(r->imds_token);
		r->imds_token = xstrndup(resp->body, strcspn(resp->body, "\r\n"));
		r->imds_token_until_ms =
		        timeutil_mono_ms() + (IMDS_TOKEN_TTL_S - 60) * 1000LL;
		r->step = IMDS_ROLE;
		return imds_send(r, err) == 1 ? 1 : 0;
	case IMDS_ROLE:
		free(r->imds_role);
		r->imds_role = xstrndup(resp->body, strcspn(resp->body, "\r\n"));
		if (r->imds_role[0] == '\0' || strchr(r->imds_role, '/') != NULL) {
			err_set(err, ERR_PARSE, "imds: bad role name");
			return 0;
		}
		r->step = IMDS_CREDS;
		return imds_send(r, err) == 1 ? 1 : 0;
	case IMDS_CREDS:
		aws_creds_remote_parse_json(resp->body, "imds", true, cr, err);
		return 0;
	}
	return 0;
}

static void
observe(struct aws_creds_remote *r, const struct http_response *resp)
{
	/* A cached answer or a slow round trip says little about the clock. */
	if (http_response_header(resp, "Age") != NULL ||
	    resp->elapsed_ms > SKEW_MAX_RTT_MS)
		return;
	aws_creds_observe_date(r->owner, http_response_header(resp, "Date"),
	                       timeutil_wall_ms());
}

static void
on_response(const struct http_response *resp, void *arg)
{
	struct aws_creds_remote *r = arg;
	struct aws_credentials *cr = NULL;
	struct err e = { 0 };

	r->call = NULL;
	if (resp->err.code != ERR_OK) {
		e = resp->err;
		err_prefix(&e, "%s", kind_name(r->kind));
		finish(r, NULL, &e);
		return;
	}
	observe(r, resp);
	switch (r->kind) {
	case AWS_CREDS_REMOTE_WEB_IDENTITY:
		if (aws_creds_remote_parse_sts(resp->body, &cr, &e) == 0 &&
		    resp->status != 200) {
			aws_credentials_unref(cr);
			cr = NULL;
			err_set(&e, ERR_HTTP, "web_identity: HTTP %ld from STS",
			        resp->status);
		}
		break;
	case AWS_CREDS_REMOTE_ECS:
		if (resp->status != 200)
			err_set(&e,
			        resp->status == 401 || resp->status == 403 ? ERR_AUTH
			                                                   : ERR_HTTP,
			        "ecs: HTTP %ld from the container endpoint",
			        resp->status);
		else
			aws_creds_remote_parse_json(resp->body, "ecs", false, &cr, &e);
		break;
	case AWS_CREDS_REMOTE_IMDS:
		if (imds_next(r, resp, &cr, &e) == 1)
			return;
		break;
	}
	finish(r, cr, cr != NULL ? NULL : &e);
}
