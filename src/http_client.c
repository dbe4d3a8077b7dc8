/* http_client.c - libcurl multi driven by libevent (curl's hiperfifo
 * pattern): the client owns the multi handle and curl's one timer, a call
 * owns an easy handle (CURLOPT_PRIVATE points back at it), and a socket
 * context owns the event curl asked for on one fd (curl_multi_assign).
 *
 * curl only ever runs from our event callbacks, through
 * curl_multi_socket_action. Finished transfers are moved to a done queue
 * first and their callbacks run afterwards, one at a time, so a callback
 * may start calls, cancel queued ones, or free the whole client.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "http_client.h"
#include "http_url.h"
#include "log.h"
#include "secret.h"
#include "xalloc.h"

#define DEFAULT_TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_MS 5000
#define MAX_HEADERS        100
#define MAX_HEADER_BYTES   (64 * 1024)
#define USER_AGENT         "User-Agent: tokend/" PACKAGE_VERSION

/* Never send loopback or metadata traffic through a proxy from the
 * environment; the user's own NO_PROXY list is appended. */
#define NOPROXY_BASE                                                                     \
	"127.0.0.0/8,localhost,::1,169.254.169.254,169.254.170.2,169.254.170.23,"        \
	"fd00:ec2::23,fd00:ec2::254"

enum call_state {
	CALL_ACTIVE,      /* in the multi handle */
	CALL_DONE,        /* finished, waiting in the done queue */
	CALL_IN_CALLBACK, /* its callback is running; freed when it returns */
};

struct http_call {
	struct http_client *client;
	TAILQ_ENTRY(http_call) entry; /* in client->active or client->done */
	enum call_state state;
	CURL *easy;
	CURLU *url;
	struct curl_slist *headers;
	char *req_body;
	size_t req_body_len;
	char *where; /* "METHOD scheme://host/path" for messages: no query */
	char *body;
	size_t body_len;
	size_t body_cap;
	struct http_header *resp_headers;
	size_t nheaders;
	size_t headers_cap;
	size_t headers_bytes;
	bool too_big;
	CURLcode result;
	http_done_fn *cb;
	void *arg;
	char *tls_key; /* the client key, lent to curl (CURL_BLOB_NOCOPY) */
	size_t tls_key_len;
	char errbuf[CURL_ERROR_SIZE];
};

struct http_sock {
	struct http_client *client;
	LIST_ENTRY(http_sock) entry;
	struct event *ev;
};

TAILQ_HEAD(call_list, http_call);

struct http_client {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct call_list active;
	struct call_list done;
	LIST_HEAD(, http_sock) socks;
	char *noproxy;
	int dispatching; /* > 0 while callbacks run */
	bool freeing;    /* http_client_free was called from a callback */
};

static void client_destroy(struct http_client *client);

/* --- calls ------------------------------------------------------------ */

static void
slist_wipe_free(struct curl_slist *list)
{
	/* Headers can carry an Authorization value. */
	for (struct curl_slist *l = list; l != NULL; l = l->next)
		OPENSSL_cleanse(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

static void
headers_clear(struct http_call *call)
{
	for (size_t i = 0; i < call->nheaders; i++) {
		secret_free_str(call->resp_headers[i].name);
		secret_free_str(call->resp_headers[i].value);
	}
	call->nheaders = 0;
	call->headers_bytes = 0;
}

static void
call_free(struct http_call *call)
{
	if (call == NULL)
		return;
	/* The easy handle points at the URL, headers and body: it goes first. */
	if (call->easy != NULL)
		curl_easy_cleanup(call->easy);
	curl_url_cleanup(call->url);
	slist_wipe_free(call->headers);
	secret_free_mem(call->req_body, call->req_body_len);
	secret_free_mem(call->tls_key, call->tls_key_len);
	secret_free_mem(call->body, call->body_cap);
	headers_clear(call);
	free(call->resp_headers);
	free(call->where);
	free(call);
}

/* Takes call out of the client without running its callback. */
static void
call_abandon(struct http_call *call)
{
	struct http_client *client = call->client;

	if (call->state == CALL_ACTIVE) {
		TAILQ_REMOVE(&client->active, call, entry);
		curl_multi_remove_handle(client->multi, call->easy);
	} else {
		TAILQ_REMOVE(&client->done, call, entry);
	}
	call_free(call);
}

void
http_call_cancel(struct http_call *call)
{
	if (call == NULL || call->state == CALL_IN_CALLBACK)
		return;
	call_abandon(call);
}

/* Grows the body buffer by copying, so no unwiped copy of a token is left
 * behind the way realloc could. */
static void
body_reserve(struct http_call *call, size_t need)
{
	size_t cap = call->body_cap < 1024 ? 1024 : call->body_cap;
	char *p;

	if (need <= call->body_cap)
		return;
	while (cap < need)
		cap *= 2;
	if (cap > HTTP_CLIENT_MAX_BODY + 1)
		cap = HTTP_CLIENT_MAX_BODY + 1;
	p = xmalloc(cap);
	if (call->body_len > 0)
		memcpy(p, call->body, call->body_len);
	secret_free_mem(call->body, call->body_cap);
	call->body = p;
	call->body_cap = cap;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_call *call = arg;
	size_t n = size * nmemb;

	if (n > HTTP_CLIENT_MAX_BODY - call->body_len) {
		call->too_big = true;
		return 0; /* curl aborts with CURLE_WRITE_ERROR */
	}
	body_reserve(call, call->body_len + n + 1);
	memcpy(call->body + call->body_len, data, n);
	call->body_len += n;
	call->body[call->body_len] = '\0';
	return n;
}

static void
header_add(struct http_call *call, const char *line, size_t len, size_t colon)
{
	size_t v = colon + 1, end = len;

	while (v < end && (line[v] == ' ' || line[v] == '\t'))
		v++;
	while (end > v && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	if (call->nheaders == call->headers_cap) {
		call->headers_cap = call->headers_cap ? call->headers_cap * 2 : 16;
		call->resp_headers =
		        xrealloc(call->resp_headers,
		                 call->headers_cap * sizeof(*call->resp_headers));
	}
	call->resp_headers[call->nheaders].name = xstrndup(line, colon);
	call->resp_headers[call->nheaders].value = xstrndup(line + v, end - v);
	call->nheaders++;
}

/* curl passes one header line at a time, the status line included. */
static size_t
on_header(char *data, size_t size, size_t nitems, void *arg)
{
	struct http_call *call = arg;
	size_t n = size * nitems, len = n;
	const char *colon;

	/* A new status line (after a 1xx) starts a new set of headers. */
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		headers_clear(call);
		return n;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	/* Skip blank lines and obsolete folded continuations. */
	if (len == 0 || data[0] == ' ' || data[0] == '\t')
		return n;
	if ((colon = memchr(data, ':', len)) == NULL || colon == data)
		return n;
	if (call->nheaders >= MAX_HEADERS ||
	    call->headers_bytes + len > MAX_HEADER_BYTES) {
		call->too_big = true;
		return 0;
	}
	call->headers_bytes += len;
	header_add(call, data, len, (size_t)(colon - data));
	return n;
}

static bool
method_valid(const char *method)
{
	static const char *const ok[] = { "GET", "POST", "PUT", "DELETE", "HEAD" };

	for (size_t i = 0; method != NULL && i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(method, ok[i]) == 0)
			return true;
	return false;
}

/* Checks what curl would not: header injection and a body on a method
 * that does not take one. */
static int
request_check(const struct http_request *req, struct err *err)
{
	bool has_body = req->body != NULL || req->body_len > 0;

	if (!method_valid(req->method))
		return err_set(err, ERR_INTERNAL, "HTTP method %s not supported",
		               req->method != NULL ? req->method : "(null)");
	if (has_body && (req->body == NULL || (strcmp(req->method, "POST") != 0 &&
	                                       strcmp(req->method, "PUT") != 0)))
		return err_set(err, ERR_INTERNAL, "%s request with a body", req->method);
	if (req->timeout_ms < 0)
		return err_set(err, ERR_INTERNAL, "negative request timeout");
	for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
		const char *h = req->headers[i];

		if (strpbrk(h, "\r\n") != NULL || strchr(h, ':') == NULL || h[0] == ':')
			return err_set(err, ERR_INTERNAL, "invalid request header #%zu",
			               i);
	}
	return 0;
}

static struct curl_slist *
headers_build(const struct http_request *req)
{
	struct curl_slist *list = NULL, *next;
	const char *fixed[] = { USER_AGENT, "Expect:" };

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if ((next = curl_slist_append(list, fixed[i])) == NULL)
			abort();
		list = next;
	}
	for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
		if ((next = curl_slist_append(list, req->headers[i])) == NULL)
			abort();
		list = next;
	}
	return list;
}

/* Options every call shares; true when one of them was refused. */
static bool
easy_setup_common(struct http_call *call, long timeout_ms)
{
	CURL *e = call->easy;
	bool bad = false;

	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, call) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CURLU, call->url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOPROXY, call->client->noproxy) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                        timeout_ms < CONNECT_TIMEOUT_MS
	                                ? timeout_ms
	                                : CONNECT_TIMEOUT_MS) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	                        (curl_off_t)HTTP_CLIENT_MAX_BODY) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, call) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, call) != CURLE_OK;
	return bad;
}

/* CA bundle and client certificate from memory. curl copies the
 * certificate and CAs; the key it only borrows, from a copy this call
 * owns and wipes, so no unwiped copy is left in curl's heap. */
static bool
easy_setup_tls(struct http_call *call, const struct http_tls *tls)
{
	CURL *e = call->easy;
	bool bad = false;
	struct curl_blob blob;

	if (tls == NULL)
		return false;
	if (tls->ca != NULL) {
		blob = (struct curl_blob){ (void *)tls->ca, tls->ca_len, CURL_BLOB_COPY };
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob) != CURLE_OK;
	}
	if (tls->cert != NULL && tls->key != NULL) {
		blob = (struct curl_blob){ (void *)tls->cert, tls->cert_len,
			                   CURL_BLOB_COPY };
		bad |= curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK;
		call->tls_key = xmalloc(tls->key_len + 1);
		call->tls_key_len = tls->key_len + 1;
		memcpy(call->tls_key, tls->key, tls->key_len);
		call->tls_key[tls->key_len] = '\0';
		blob = (struct curl_blob){ call->tls_key, tls->key_len,
			                   CURL_BLOB_NOCOPY };
		bad |= curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK;
	}
	return bad;
}

static bool
easy_setup_method(struct http_call *call, const char *method)
{
	CURL *e = call->easy;
	bool bad = false;

	if (strcmp(method, "GET") == 0)
		return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	if (strcmp(method, "HEAD") == 0)
		return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK;
	if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		/* An empty body still goes out with Content-Length: 0. */
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		                        (curl_off_t)call->req_body_len) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		                        call->req_body != NULL ? call->req_body : "") !=
		       CURLE_OK;
	}
	if (strcmp(method, "POST") != 0)
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK;
	return bad;
}

struct http_call *
http_client_start(struct http_client *client, const struct http_request *req,
                  http_done_fn *cb, void *arg, struct err *err)
{
	struct http_call *call = NULL;
	CURLU *url = NULL;
	CURLMcode mc;

	if (client == NULL || req == NULL || cb == NULL || client->freeing) {
		err_set(err, ERR_INTERNAL, "http_client_start: bad arguments");
		goto out;
	}
	if (request_check(req, err) < 0 || (url = http_url_parse(req->url, err)) == NULL)
		goto out;
	call = xcalloc(1, sizeof(*call));
	call->client = client;
	call->url = url;
	call->cb = cb;
	call->arg = arg;
	call->where = http_url_where(url, req->method);
	call->headers = headers_build(req);
	if (req->body != NULL) {
		call->req_body = xmalloc(req->body_len + 1);
		memcpy(call->req_body, req->body, req->body_len);
		call->req_body[req->body_len] = '\0';
		call->req_body_len = req->body_len;
	}
	if ((call->easy = curl_easy_init()) == NULL) {
		err_set(err, ERR_INTERNAL, "%s: curl_easy_init failed", call->where);
		goto fail;
	}
	if (easy_setup_common(call, req->timeout_ms > 0 ? req->timeout_ms
	                                                : DEFAULT_TIMEOUT_MS) ||
	    easy_setup_method(call, req->method) || easy_setup_tls(call, req->tls)) {
		err_set(err, ERR_INTERNAL, "%s: curl refused an option", call->where);
		goto fail;
	}
	if ((mc = curl_multi_add_handle(client->multi, call->easy)) != CURLM_OK) {
		err_set(err, ERR_INTERNAL, "%s: %s", call->where,
		        curl_multi_strerror(mc));
		goto fail;
	}
	call->state = CALL_ACTIVE;
	TAILQ_INSERT_TAIL(&client->active, call, entry);
	goto out;
fail:
	call_free(call);
	call = NULL;
out:
	return call;
}

/* --- completion --------------------------------------------------------- */

static void
result_to_err(const struct http_call *call, struct err *err)
{
	const char *why =
	        call->errbuf[0] ? call->errbuf : curl_easy_strerror(call->result);
	enum err_code code;

	switch (call->result) {
	case CURLE_OK: err_clear(err); return;
	case CURLE_OPERATION_TIMEDOUT: code = ERR_TIMEOUT; break;
	case CURLE_FILESIZE_EXCEEDED: code = ERR_TOOBIG; break;
	case CURLE_WRITE_ERROR: code = call->too_big ? ERR_TOOBIG : ERR_INTERNAL; break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL: code = ERR_CONFIG; break;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_BAD_FUNCTION_ARGUMENT: code = ERR_INTERNAL; break;
	case CURLE_ABORTED_BY_CALLBACK: code = ERR_CANCELLED; break;
	default: code = ERR_NET; break; /* resolve, connect, TLS, reset, ... */
	}
	if (code == ERR_TOOBIG)
		err_set(err, code, "%s: response over %d bytes or too many headers",
		        call->where, HTTP_CLIENT_MAX_BODY);
	else
		err_set(err, code, "%s: %s", call->where, why);
}

static void
call_complete(struct http_call *call)
{
	struct http_response resp = { 0 };
	curl_off_t total_us = 0;

	result_to_err(call, &resp.err);
	curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &resp.status);
	if (curl_easy_getinfo(call->easy, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK)
		resp.elapsed_ms = (int64_t)(total_us / 1000);
	body_reserve(call, 1);
	call->body[call->body_len] = '\0';
	resp.body = call->body;
	resp.body_len = call->body_len;
	resp.headers = call->resp_headers;
	resp.nheaders = call->nheaders;

	call->state = CALL_IN_CALLBACK;
	call->cb(&resp, call->arg);
}

/* Moves every finished transfer from curl to the done queue. */
static void
client_collect(struct http_client *client)
{
	struct http_call *call;
	char *priv;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(client->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv) !=
		            CURLE_OK ||
		    priv == NULL)
			continue;
		call = (struct http_call *)(void *)priv;
		call->result = msg->data.result;
		/* msg points into curl: read it before removing the handle. */
		curl_multi_remove_handle(client->multi, call->easy);
		TAILQ_REMOVE(&client->active, call, entry);
		call->state = CALL_DONE;
		TAILQ_INSERT_TAIL(&client->done, call, entry);
	}
}

/* Runs the done queue. A callback may cancel queued calls (they leave the
 * queue) or free the client (freeing is set and we stop here). */
static void
client_dispatch(struct http_client *client)
{
	struct http_call *call;

	client->dispatching++;
	while (!client->freeing && (call = TAILQ_FIRST(&client->done)) != NULL) {
		TAILQ_REMOVE(&client->done, call, entry);
		call_complete(call);
		call_free(call);
	}
	client->dispatching--;
	if (client->freeing && client->dispatching == 0)
		client_destroy(client);
}

/* The only place curl runs; the client may be gone when it returns. */
static void
client_run(struct http_client *client, curl_socket_t fd, int action)
{
	int running;
	CURLMcode mc = curl_multi_socket_action(client->multi, fd, action, &running);

	if (mc != CURLM_OK)
		log_error("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	client_collect(client);
	client_dispatch(client);
}

/* --- libevent glue ------------------------------------------------------ */

static void
on_sock_event(evutil_socket_t fd, short what, void *arg)
{
	int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
	             ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);

	client_run(arg, fd, action);
}

static void
on_timer_event(evutil_socket_t fd, short what, void *arg)
{
	client_run(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void
sock_free(struct http_sock *sock)
{
	if (sock == NULL)
		return;
	LIST_REMOVE(sock, entry);
	event_free(sock->ev);
	free(sock);
}

/* CURLMOPT_SOCKETFUNCTION: only (re)arms events. curl_multi_assign is the
 * one multi call curl allows from here. */
static int
on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *client = userp;
	struct http_sock *sock = socketp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		sock_free(sock);
		return 0;
	}
	if (sock == NULL) {
		sock = xcalloc(1, sizeof(*sock));
		sock->client = client;
		LIST_INSERT_HEAD(&client->socks, sock, entry);
		curl_multi_assign(client->multi, fd, sock);
	} else {
		event_free(sock->ev);
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	sock->ev = event_new(client->base, fd, kind, on_sock_event, client);
	if (sock->ev == NULL || event_add(sock->ev, NULL) < 0) {
		log_error("http: cannot watch socket %d", (int)fd);
		return -1;
	}
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: a zero timeout is honoured from the loop, never
 * by calling back into curl from here. */
static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *client = userp;
	struct timeval tv;

	if (timeout_ms < 0)
		return evtimer_del(client->timer);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(client->timer, &tv);
}

/* --- client ------------------------------------------------------------- */

static char *
noproxy_build(void)
{
	const char *env = getenv("no_proxy");
	char *s;

	if (env == NULL || *env == '\0')
		env = getenv("NO_PROXY");
	if (env == NULL || *env == '\0')
		return xstrdup(NOPROXY_BASE);
	xasprintf(&s, "%s,%s", NOPROXY_BASE, env);
	return s;
}

struct http_client *
http_client_new(struct event_base *base, struct err *err)
{
	struct http_client *client = NULL;
	CURLcode cc;

	/* Reference counted and thread-safe in the curl we require. */
	if ((cc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		err_set(err, ERR_INTERNAL, "curl_global_init: %s",
		        curl_easy_strerror(cc));
		goto out;
	}
	client = xcalloc(1, sizeof(*client));
	client->base = base;
	TAILQ_INIT(&client->active);
	TAILQ_INIT(&client->done);
	LIST_INIT(&client->socks);
	client->noproxy = noproxy_build();
	if ((client->timer = evtimer_new(base, on_timer_event, client)) == NULL ||
	    (client->multi = curl_multi_init()) == NULL) {
		err_set(err, ERR_INTERNAL, "cannot create the HTTP client");
		client_destroy(client); /* also drops our curl_global_init */
		client = NULL;
		goto out;
	}
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
out:
	return client;
}

static void
client_abandon_all(struct http_client *client)
{
	struct http_call *call;

	while ((call = TAILQ_FIRST(&client->active)) != NULL)
		call_abandon(call);
	while ((call = TAILQ_FIRST(&client->done)) != NULL)
		call_abandon(call);
}

/* Our events go before curl_multi_cleanup, which closes the cached
 * connections; the event base is the caller's and outlives us. */
static void
client_destroy(struct http_client *client)
{
	client_abandon_all(client);
	if (client->multi != NULL) {
		curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, NULL);
		curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, NULL);
	}
	while (!LIST_EMPTY(&client->socks))
		sock_free(LIST_FIRST(&client->socks));
	if (client->timer != NULL)
		event_free(client->timer);
	if (client->multi != NULL)
		curl_multi_cleanup(client->multi);
	free(client->noproxy);
	free(client);
	curl_global_cleanup();
}

void
http_client_free(struct http_client *client)
{
	if (client == NULL)
		return;
	if (client->dispatching > 0) {
		/* Called from a callback: client_dispatch finishes the job. */
		client->freeing = true;
		client_abandon_all(client);
		return;
	}
	client_destroy(client);
}

int
http_client_url_allowed(const char *url, struct err *err)
{
	CURLU *u = http_url_parse(url, err);

	curl_url_cleanup(u);
	return u != NULL;
}

const char *
http_response_header(const struct http_response *resp, const char *name)
{
	for (size_t i = 0; resp != NULL && i < resp->nheaders; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}
