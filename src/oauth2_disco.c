/* oauth2_disco.c - the issuer's metadata: URLs, parsing and checks (pure),
 * and a per-token cache fetched with http_client on the loop. */
#include "oauth2_disco.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_client.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

#define WK_OIDC    "/.well-known/openid-configuration"
#define WK_RFC8414 "/.well-known/oauth-authorization-server"

/* --- pure ------------------------------------------------------------------- */

char *
oauth2_disco_url(const char *issuer, enum oauth2_disco_kind kind, struct err *err)
{
	const char *auth, *path;
	size_t alen, plen;
	char *url = NULL;

	if (strncasecmp(issuer, "https://", 8) == 0)
		auth = issuer + 8;
	else if (strncasecmp(issuer, "http://", 7) == 0)
		auth = issuer + 7;
	else {
		err_set(err, ERR_CONFIG, "issuer is not an https:// URL");
		return NULL;
	}
	if (strpbrk(issuer, "?# \t") != NULL) {
		err_set(err, ERR_CONFIG,
		        "issuer must not have a query, a fragment or spaces (RFC 8414 "
		        "§2)");
		return NULL;
	}
	alen = strcspn(auth, "/");
	if (alen == 0) {
		err_set(err, ERR_CONFIG, "issuer has no host");
		return NULL;
	}
	path = auth + alen;
	plen = strlen(path);
	/* Both rules drop a terminating '/' before adding their part. */
	if (plen > 0 && path[plen - 1] == '/')
		plen--;
	if (kind == OAUTH2_DISCO_OIDC)
		xasprintf(&url, "%.*s%.*s%s", (int)(path - issuer), issuer, (int)plen,
		          path, WK_OIDC);
	else
		xasprintf(&url, "%.*s%s%.*s", (int)(path - issuer), issuer, WK_RFC8414,
		          (int)plen, path);
	return url;
}

/* Issuer-supplied text made safe and short for a message. */
static void
shown(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	for (; src != NULL && *src != '\0' && n + 1 < cap; src++)
		dst[n++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	dst[n] = '\0';
}

static int
parse_methods(json_t *v, struct oauth2_metadata *out, struct err *err)
{
	size_t i;
	json_t *m;

	if (v == NULL)
		return 0;
	if (!json_is_array(v))
		return err_set(err, ERR_PARSE,
		               "metadata's "
		               "token_endpoint_auth_methods_supported "
		               "is not an array");
	out->has_auth_methods = true;
	out->auth_methods = xcalloc(json_array_size(v) + 1, sizeof(char *));
	json_array_foreach(v, i, m)
	{
		if (json_is_string(m))
			out->auth_methods[out->n_auth_methods++] =
			        xstrdup(json_string_value(m));
	}
	return 0;
}

static int
check_metadata(const char *issuer, json_t *root, struct err *err)
{
	const char *iss = json_string_value(json_object_get(root, "issuer"));
	const char *te = json_string_value(json_object_get(root, "token_endpoint"));
	char a[160];

	if (iss == NULL)
		return err_set(err, ERR_PARSE, "metadata has no issuer");
	if (strcmp(iss, issuer) != 0) {
		shown(a, sizeof(a), iss);
		return err_set(err, ERR_CONFIG,
		               "metadata names issuer \"%s\", not the configured \"%s\" "
		               "(they must be equal exactly, RFC 8414 §3.3)",
		               a, issuer);
	}
	if (te == NULL)
		return err_set(err, ERR_PARSE, "metadata has no token_endpoint");
	if (!http_client_url_allowed(te, err)) {
		err_prefix(err, "metadata's token_endpoint");
		return -1;
	}
	return 0;
}

int
oauth2_metadata_parse(const char *issuer, const char *body, size_t len,
                      struct oauth2_metadata *out, struct err *err)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(root)) {
		err_set(err, ERR_PARSE, "metadata is not a JSON object");
		goto out;
	}
	if (check_metadata(issuer, root, err) == -1 ||
	    parse_methods(json_object_get(root, "token_endpoint_auth_methods_supported"),
	                  out, err) == -1)
		goto out;
	out->token_endpoint =
	        xstrdup(json_string_value(json_object_get(root, "token_endpoint")));
	rc = 0;
out:
	if (rc == -1)
		oauth2_metadata_clear(out);
	json_decref(root);
	return rc;
}

void
oauth2_metadata_clear(struct oauth2_metadata *md)
{
	for (size_t i = 0; i < md->n_auth_methods; i++)
		free(md->auth_methods[i]);
	free(md->auth_methods);
	free(md->token_endpoint);
	memset(md, 0, sizeof(*md));
}

bool
oauth2_metadata_supports(const struct oauth2_metadata *md, const char *method)
{
	if (!md->has_auth_methods)
		return true;
	for (size_t i = 0; i < md->n_auth_methods; i++)
		if (strcmp(md->auth_methods[i], method) == 0)
			return true;
	return false;
}

/* --- the cache -------------------------------------------------------------- */

struct oauth2_disco {
	const char *name, *issuer, *client_auth;
	struct http_client *http;
	const struct http_tls *tls;
	long timeout_ms;
	struct oauth2_metadata md; /* token_endpoint NULL: none yet */
	int64_t fetched_at_ms;
	bool stale;
	enum oauth2_disco_kind kind; /* of the call under way */
	struct http_call *call;
	oauth2_disco_done_fn *done;
	void *arg;
};

struct oauth2_disco *
oauth2_disco_new(const char *name, const char *issuer, const char *client_auth,
                 struct http_client *http, const struct http_tls *tls, long timeout_ms)
{
	struct oauth2_disco *d = xcalloc(1, sizeof(*d));

	d->name = name;
	d->issuer = issuer;
	d->client_auth = client_auth;
	d->http = http;
	d->tls = tls;
	d->timeout_ms = timeout_ms;
	return d;
}

void
oauth2_disco_free(struct oauth2_disco *d)
{
	if (d == NULL)
		return;
	http_call_cancel(d->call);
	oauth2_metadata_clear(&d->md);
	free(d);
}

const char *
oauth2_disco_fresh(const struct oauth2_disco *d, int64_t now_ms)
{
	if (d->md.token_endpoint == NULL || d->stale ||
	    now_ms - d->fetched_at_ms > OAUTH2_DISCO_MAX_AGE_MS)
		return NULL;
	return d->md.token_endpoint;
}

const char *
oauth2_disco_endpoint(const struct oauth2_disco *d)
{
	return d->md.token_endpoint;
}

void
oauth2_disco_invalidate(struct oauth2_disco *d)
{
	d->stale = true;
}

void
oauth2_disco_cancel(struct oauth2_disco *d)
{
	http_call_cancel(d->call);
	d->call = NULL;
}

static void
install(struct oauth2_disco *d, struct oauth2_metadata *md)
{
	bool changed = d->md.token_endpoint == NULL ||
	               strcmp(d->md.token_endpoint, md->token_endpoint) != 0;

	if (changed)
		log_write(LOG_INFO, "token", d->name, "issuer %s: token endpoint %s",
		          d->issuer, md->token_endpoint);
	if (!oauth2_metadata_supports(md, d->client_auth) &&
	    (changed || oauth2_metadata_supports(&d->md, d->client_auth)))
		log_write(LOG_WARNING, "token", d->name,
		          "issuer %s does not list client_auth %s in "
		          "token_endpoint_auth_methods_supported; trying it anyway "
		          "(check client_auth)",
		          d->issuer, d->client_auth);
	oauth2_metadata_clear(&d->md);
	d->md = *md;
	d->fetched_at_ms = timeutil_wall_ms();
	d->stale = false;
}

static int start_kind(struct oauth2_disco *d, enum oauth2_disco_kind kind,
                      struct err *err);

/* Sorts one answer: 0 with md, 1 to try the next document, -1 with err. */
static int
read_answer(struct oauth2_disco *d, const struct http_response *resp,
            struct oauth2_metadata *md, bool *permanent, struct err *err)
{
	*permanent = false;
	if (resp->err.code != ERR_OK) {
		*err = resp->err;
		return -1;
	}
	if (resp->status == 404 && d->kind == OAUTH2_DISCO_OIDC)
		return 1;
	if (resp->status != 200) {
		*permanent = resp->status >= 400 && resp->status < 500 &&
		             resp->status != 408 && resp->status != 429;
		return err_set(err, *permanent ? ERR_CONFIG : ERR_HTTP,
		               "metadata answered %ld", resp->status);
	}
	if (oauth2_metadata_parse(d->issuer, resp->body, resp->body_len, md, err) == -1) {
		*permanent = true;
		return -1;
	}
	return 0;
}

static void
on_metadata(const struct http_response *resp, void *arg)
{
	struct oauth2_disco *d = arg;
	struct oauth2_metadata md;
	struct err err = { 0 };
	bool permanent;
	int rc;

	d->call = NULL;
	rc = read_answer(d, resp, &md, &permanent, &err);
	if (rc == 1 && start_kind(d, OAUTH2_DISCO_RFC8414, &err) == 0)
		return;
	if (rc == 0) {
		install(d, &md);
	} else {
		if (rc == 1)
			permanent = true;
		err_prefix(&err, "issuer %s", d->issuer);
		if (permanent) {
			char msg[ERR_MSG_MAX];

			memcpy(msg, err.msg, sizeof(msg));
			err_set(&err, err.code,
			        "%s; permanent, check issuer (or set token_url)", msg);
		}
		if (!permanent && d->md.token_endpoint != NULL) {
			log_write(LOG_WARNING, "token", d->name,
			          "%s; keeping token endpoint %s", err.msg,
			          d->md.token_endpoint);
			err_clear(&err);
		}
	}
	d->done(&err, permanent, d->arg);
}

static int
start_kind(struct oauth2_disco *d, enum oauth2_disco_kind kind, struct err *err)
{
	const char *headers[] = { "Accept: application/json", NULL };
	struct http_request req = { 0 };
	char *url = oauth2_disco_url(d->issuer, kind, err);

	if (url == NULL)
		return -1;
	req.method = "GET";
	req.url = url;
	req.headers = headers;
	req.timeout_ms = d->timeout_ms;
	req.tls = d->tls;
	d->kind = kind;
	d->call = http_client_start(d->http, &req, on_metadata, d, err);
	free(url);
	return d->call != NULL ? 0 : -1;
}

int
oauth2_disco_start(struct oauth2_disco *d, oauth2_disco_done_fn *done, void *arg,
                   struct err *err)
{
	d->done = done;
	d->arg = arg;
	return start_kind(d, OAUTH2_DISCO_OIDC, err);
}
