/* server.c - the local API over a Unix socket: socket set-up, routing,
 * access control by peer credentials, long-polls. */
#include "server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <sys/queue.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "secret.h"
#include "timeutil.h"
#include "token.h"
#include "token_json.h"
#include "xalloc.h"

#define LONGPOLL_MAX_S 300
#define STATUS_MAX     600

/* A GET parked until its token has a version newer than newer_than. */
struct waiter {
	struct server *srv;
	struct evhttp_request *req;
	struct token *tok;
	uint64_t newer_than;
	bool raw;
	struct event *timer;
	struct waiter *next;
};

struct server {
	struct event_base *base;
	struct evhttp *http;
	const struct config_daemon *cfg;
	struct token_table *tokens;
	char *path; /* the socket we created and unlink; NULL if inherited */
	uid_t self_uid;
	struct waiter *waiters;
	server_metrics_fn *metrics_fn;
	void *metrics_arg;
	server_refresh_check_fn *refresh_check;
	void *refresh_check_arg;
	struct evhttp_bound_socket *bound;
	struct event *fresh_ev;     /* runs on_fresh after an accept */
	struct bufferevent **fresh; /* accepted, closecb not yet set */
	size_t nfresh, fresh_cap;
	unsigned nconns; /* connections open now */
	bool paused;     /* not accepting: max_connections reached */
	bool closing;    /* server_free: the listener is gone */
	uint64_t status_count[STATUS_MAX];
};

/* --- replies -------------------------------------------------------------- */

static void
wipe_cleanup(const void *data, size_t len, void *arg)
{
	OPENSSL_cleanse((void *)data, len);
	free((void *)data);
}

/* Sends body (heap, owned) and wipes it once evhttp has written it: a
 * reply may hold a token. */
static void
reply(struct server *srv, struct evhttp_request *req, int status, const char *ctype,
      char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (body != NULL && evbuffer_add_reference(out, body, len, wipe_cleanup, NULL) != 0)
		wipe_cleanup(body, len, NULL);
	if (status >= 0 && status < STATUS_MAX)
		srv->status_count[status]++;
	log_debug("%s %s -> %d", evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "GET",
		  evhttp_request_get_uri(req), status);
	evhttp_send_reply(req, status, NULL, out);
	evbuffer_free(out);
}

static void
reply_json(struct server *srv, struct evhttp_request *req, int status, json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t len = strlen(s);

	json_decref(doc);
	/* One newline, so `curl` output ends cleanly in a terminal. */
	s = xrealloc(s, len + 2);
	s[len++] = '\n';
	s[len] = '\0';
	reply(srv, req, status, "application/json", s, len);
}

static void
reply_error(struct server *srv, struct evhttp_request *req, int status, const char *code,
	    const char *msg)
{
	reply_json(srv, req, status, token_json_error(code, msg));
}

static void
reply_token(struct server *srv, struct evhttp_request *req, struct token *tok, bool raw)
{
	if (raw) {
		/* The exact bytes, no newline: what a client pastes into a header. */
		char *s = xmalloc(tok->value->len);

		memcpy(s, tok->value->data, tok->value->len);
		reply(srv, req, 200, "text/plain; charset=utf-8", s, tok->value->len);
		return;
	}
	reply_json(srv, req, 200, token_json_detail(tok, timeutil_wall_ms()));
}

/* --- access control --------------------------------------------------------- */

static int
peer_of(struct evhttp_request *req, struct ucred *uc)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	socklen_t len = sizeof(*uc);

	if (bev == NULL)
		return -1;
	return getsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_PEERCRED, uc, &len);
}

static bool
uid_listed(uid_t uid, const uid_t *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == uid)
			return true;
	return false;
}

/* A token without allow lists is readable by whoever can open the socket
 * (its mode and group are the first gate). With lists, only the listed
 * users, peers whose primary group is listed, and tokend's own user.
 * SO_PEERCRED carries no supplementary groups. */
static bool
may_read(const struct server *srv, const struct ucred *uc, const struct token *tok)
{
	const struct token_def *def = tok->def;

	if (def->n_allow_uids == 0 && def->n_allow_gids == 0)
		return true;
	if (uc->uid == srv->self_uid || uid_listed(uc->uid, def->allow_uids, def->n_allow_uids))
		return true;
	for (size_t i = 0; i < def->n_allow_gids; i++)
		if (def->allow_gids[i] == uc->gid)
			return true;
	return false;
}

static bool
is_admin(const struct server *srv, const struct ucred *uc)
{
	return uc->uid == 0 || uc->uid == srv->self_uid ||
	       uid_listed(uc->uid, srv->cfg->admin_uids, srv->cfg->n_admin_uids);
}

/* --- long-polls ----------------------------------------------------------- */

static void
waiter_free(struct waiter *w)
{
	struct waiter **pp;

	for (pp = &w->srv->waiters; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	event_free(w->timer);
	free(w);
}

static void
on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	struct server *srv = w->srv;
	struct evhttp_request *req = w->req;

	waiter_free(w);
	/* Nothing newer within the timeout: 204, and the client asks again. */
	reply(srv, req, 204, "application/json", NULL, 0);
}

static void
park(struct server *srv, struct evhttp_request *req, struct token *tok, uint64_t newer_than,
     long timeout_s, bool raw)
{
	struct waiter *w = xcalloc(1, sizeof(*w));
	struct timeval tv = { .tv_sec = timeout_s };

	w->srv = srv;
	w->req = req;
	w->tok = tok;
	w->newer_than = newer_than;
	w->raw = raw;
	w->timer = evtimer_new(srv->base, on_waiter_timeout, w);
	evtimer_add(w->timer, &tv);
	w->next = srv->waiters;
	srv->waiters = w;
}

void
server_token_changed(struct server *srv, struct token *tok)
{
	struct waiter *w = srv->waiters, *next;
	int64_t now = timeutil_wall_ms();

	for (; w != NULL; w = next) {
		struct evhttp_request *req = w->req;
		bool raw = w->raw;

		next = w->next;
		if (w->tok != tok || tok->version <= w->newer_than ||
		    !token_servable(tok, now, NULL))
			continue;
		waiter_free(w);
		reply_token(srv, req, tok, raw);
	}
}

void
server_token_removed(struct server *srv, struct token *tok)
{
	struct waiter *w = srv->waiters, *next;

	for (; w != NULL; w = next) {
		struct evhttp_request *req = w->req;

		next = w->next;
		if (w->tok != tok)
			continue;
		waiter_free(w);
		reply_error(srv, req, 404, "not_found", "token removed by a reload");
	}
}

/* --- routes --------------------------------------------------------------- */

struct query {
	bool raw;
	bool has_newer_than;
	uint64_t newer_than;
	long timeout_s;
};

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* Only known parameters are accepted: a typo is a 400, not a silent
 * default. */
static int
parse_query(const char *q, struct query *out, const char **why)
{
	struct evkeyvalq params;
	struct evkeyval *kv;
	uint64_t v;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->timeout_s = 30;
	if (q == NULL)
		return 0;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(q, &params) != 0) {
		*why = "malformed query string";
		return -1;
	}
	TAILQ_FOREACH(kv, &params, next) {
		if (strcmp(kv->key, "format") == 0 && strcmp(kv->value, "raw") == 0) {
			out->raw = true;
		} else if (strcmp(kv->key, "format") == 0 && strcmp(kv->value, "json") == 0) {
			out->raw = false;
		} else if (strcmp(kv->key, "newer_than") == 0 && parse_u64(kv->value, &v) == 0) {
			out->has_newer_than = true;
			out->newer_than = v;
		} else if (strcmp(kv->key, "timeout") == 0 && parse_u64(kv->value, &v) == 0 &&
			   v <= LONGPOLL_MAX_S) {
			out->timeout_s = (long)v;
		} else {
			*why = "unknown query parameter or bad value (format=raw|json, "
			       "newer_than=VERSION, timeout=0..300)";
			rc = -1;
			break;
		}
	}
	evhttp_clear_headers(&params);
	return rc;
}

static bool
wants_text(struct evhttp_request *req)
{
	const char *accept =
		evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");

	return accept != NULL && strstr(accept, "text/plain") != NULL &&
	       strstr(accept, "application/json") == NULL;
}

static void
get_token(struct server *srv, struct evhttp_request *req, const struct ucred *uc,
	  struct token *tok, const struct query *q)
{
	struct err why = { 0 };
	bool raw = q->raw || wants_text(req);

	if (!may_read(srv, uc, tok)) {
		reply_error(srv, req, 403, "forbidden", "this peer may not read this token");
		return;
	}
	if (q->has_newer_than &&
	    (tok->version <= q->newer_than || !token_servable(tok, timeutil_wall_ms(), NULL))) {
		if (q->timeout_s == 0)
			reply(srv, req, 204, "application/json", NULL, 0);
		else
			park(srv, req, tok, q->newer_than, q->timeout_s, raw);
		return;
	}
	if (!token_servable(tok, timeutil_wall_ms(), &why)) {
		reply_error(srv, req, 503, "unavailable",
			    why.msg[0] ? why.msg : "no valid value yet");
		return;
	}
	reply_token(srv, req, tok, raw);
}

static void
post_refresh(struct server *srv, struct evhttp_request *req, const struct ucred *uc,
	     struct token *tok)
{
	struct err err = { 0 };

	if (!is_admin(srv, uc) || !may_read(srv, uc, tok)) {
		reply_error(srv, req, 403, "forbidden", "refresh needs an admin peer");
		return;
	}
	if (srv->refresh_check != NULL && srv->refresh_check(tok, &err, srv->refresh_check_arg) == -1) {
		reply_error(srv, req, 429, "refused", err.msg);
		return;
	}
	if (token_refresh_now(tok, &err) == -1) {
		reply_error(srv, req, err.code == ERR_THROTTLED ? 429 : 409, "refused", err.msg);
		return;
	}
	reply_json(srv, req, 202, json_pack("{s:s, s:s}", "name", tok->name, "status",
					     "refreshing"));
}

static void
list_tokens(struct server *srv, struct evhttp_request *req, const struct ucred *uc)
{
	json_t *arr = json_array();
	int64_t now = timeutil_wall_ms();
	size_t n = token_table_count(srv->tokens);

	for (size_t i = 0; i < n; i++) {
		struct token *tok = token_table_at(srv->tokens, i);

		if (may_read(srv, uc, tok))
			json_array_append_new(arr, token_json_summary(tok, now));
	}
	reply_json(srv, req, 200, json_pack("{s:o}", "tokens", arr));
}

static void
readyz(struct server *srv, struct evhttp_request *req)
{
	size_t n = token_table_count(srv->tokens), off = 0;
	int64_t now = timeutil_wall_ms();
	char missing[512] = "waiting for:";

	if (token_table_all_valid(srv->tokens)) {
		reply_json(srv, req, 200, json_pack("{s:s}", "status", "ready"));
		return;
	}
	off = strlen(missing);
	for (size_t i = 0; i < n && off < sizeof(missing) - 1; i++) {
		struct token *tok = token_table_at(srv->tokens, i);

		if (!token_servable(tok, now, NULL)) {
			int w = snprintf(missing + off, sizeof(missing) - off, " %s", tok->name);
			off += w > 0 ? (size_t)w : 0;
		}
	}
	reply_error(srv, req, 503, "not_ready", missing);
}

static void
metrics(struct server *srv, struct evhttp_request *req)
{
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (srv->metrics_fn != NULL)
		srv->metrics_fn(out, srv->metrics_arg);
	evhttp_add_header(h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	srv->status_count[200]++;
	evhttp_send_reply(req, 200, NULL, out);
	evbuffer_free(out);
}

/* --- dispatch ------------------------------------------------------------- */

static void
method_not_allowed(struct server *srv, struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	reply_error(srv, req, 405, "method_not_allowed", "method not allowed here");
}

/* /v1/tokens/NAME[/refresh] */
static void
route_token(struct server *srv, struct evhttp_request *req, const struct ucred *uc,
	    const char *rest, const struct query *q)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *slash = strchr(rest, '/');
	char name[65];
	size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
	struct token *tok;

	if (len == 0 || len >= sizeof(name)) {
		reply_error(srv, req, 404, "not_found", "no such token");
		return;
	}
	memcpy(name, rest, len);
	name[len] = '\0';
	if (!config_valid_token_name(name) || (tok = token_table_find(srv->tokens, name)) == NULL) {
		reply_error(srv, req, 404, "not_found", "no such token");
		return;
	}
	if (slash == NULL) {
		if (cmd != EVHTTP_REQ_GET)
			method_not_allowed(srv, req, "GET");
		else
			get_token(srv, req, uc, tok, q);
	} else if (strcmp(slash, "/refresh") == 0) {
		if (cmd != EVHTTP_REQ_POST)
			method_not_allowed(srv, req, "POST");
		else
			post_refresh(srv, req, uc, tok);
	} else {
		reply_error(srv, req, 404, "not_found", "no such route");
	}
}

/* evhttp takes the first of repeated Content-Length headers and reads a
 * chunked body on any method; a request whose length a proxy in front
 * could read differently (request smuggling) is refused. */
static bool
framing_ok(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	int lengths = 0, codings = 0;

	TAILQ_FOREACH(kv, h, next)
	{
		if (strcasecmp(kv->key, "Content-Length") == 0)
			lengths++;
		else if (strcasecmp(kv->key, "Transfer-Encoding") == 0)
			codings++;
	}
	return lengths <= 1 && codings <= 1 && !(lengths && codings);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	bool get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
	const char *why = "bad request";
	struct ucred uc;
	struct query q;

	if (peer_of(req, &uc) != 0) {
		reply_error(srv, req, 403, "forbidden", "cannot read peer credentials");
		return;
	}
	if (!framing_ok(req)) {
		/* Two readings of where the body ends: answer, then hang up. */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
				  "close");
		reply_error(srv, req, 400, "bad_request", "conflicting message framing");
		return;
	}
	/* Token names never need escaping: an escaped or odd path is no route. */
	if (path == NULL || path[0] != '/' || strchr(path, '%') != NULL) {
		reply_error(srv, req, 400, "bad_request", "bad request path");
		return;
	}
	if (parse_query(evhttp_uri_get_query(uri), &q, &why) == -1) {
		reply_error(srv, req, 400, "bad_request", why);
		return;
	}
	if (strncmp(path, "/v1/tokens/", 11) == 0) {
		route_token(srv, req, &uc, path + 11, &q);
	} else if (strcmp(path, "/v1/tokens") == 0) {
		get ? list_tokens(srv, req, &uc) : method_not_allowed(srv, req, "GET");
	} else if (strcmp(path, "/healthz") == 0) {
		get ? reply_json(srv, req, 200, json_pack("{s:s}", "status", "ok"))
		    : method_not_allowed(srv, req, "GET");
	} else if (strcmp(path, "/readyz") == 0) {
		get ? readyz(srv, req) : method_not_allowed(srv, req, "GET");
	} else if (strcmp(path, "/metrics") == 0) {
		get ? metrics(srv, req) : method_not_allowed(srv, req, "GET");
	} else {
		reply_error(srv, req, 404, "not_found", "no such route");
	}
}

/* --- connections ----------------------------------------------------------- */

/* evhttp (libevent 2.1) has no connection limit, and a close callback can
 * only be set on a connection it has already made. So the bufferevent of
 * each accepted connection is made here (evhttp_set_bevcb) and remembered;
 * right after the accept, on_fresh finds the connection evhttp built on it
 * (a connection is its bufferevent's callback argument) and sets
 * on_conn_closed. At max_connections the listener stops accepting: new
 * clients wait in the socket's backlog until a connection closes, as with
 * nginx's worker_connections, while those connected are served as before. */
static void
set_paused(struct server *srv, bool pause)
{
	struct evconnlistener *l;

	if (pause == srv->paused || srv->closing || srv->bound == NULL)
		return;
	l = evhttp_bound_socket_get_listener(srv->bound);
	srv->paused = pause;
	if (pause) {
		evconnlistener_disable(l);
		log_warn("max_connections (%d) reached: new clients wait until a "
			 "connection closes",
			 srv->cfg->max_connections);
	} else {
		evconnlistener_enable(l);
		log_info("below max_connections again: accepting");
	}
}

static void
check_limit(struct server *srv)
{
	set_paused(srv, srv->nconns >= (unsigned)srv->cfg->max_connections);
}

/* The connection is going away: a long-poll parked on it is forgotten
 * (evhttp frees the request) and its slot is free again. */
static void
on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct server *srv = arg;
	struct waiter *w = srv->waiters, *next;

	for (; w != NULL; w = next) {
		next = w->next;
		if (evhttp_request_get_connection(w->req) == evcon)
			waiter_free(w);
	}
	srv->nconns--;
	check_limit(srv);
}

static void
on_fresh(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	void *cbarg;

	for (size_t i = 0; i < srv->nfresh; i++) {
		struct bufferevent *bev = srv->fresh[i];
		struct evhttp_connection *evcon;

		bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
		evcon = cbarg;
		if (evcon != NULL && evhttp_connection_get_bufferevent(evcon) == bev) {
			evhttp_connection_set_closecb(evcon, on_conn_closed, srv);
		} else {
			log_error("server: accepted connection not found; not counted");
			srv->nconns--;
		}
	}
	srv->nfresh = 0;
	check_limit(srv);
}

static struct bufferevent *
conn_new(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

	if (bev == NULL)
		return NULL;
	if (srv->nfresh == srv->fresh_cap) {
		srv->fresh_cap = srv->fresh_cap ? srv->fresh_cap * 2 : 16;
		srv->fresh = xrealloc(srv->fresh, srv->fresh_cap * sizeof(*srv->fresh));
	}
	srv->fresh[srv->nfresh++] = bev;
	srv->nconns++;
	event_active(srv->fresh_ev, EV_TIMEOUT, 0);
	return bev;
}

/* --- the socket ------------------------------------------------------------ */

/* A path that exists may be replaced only if it is a socket nobody
 * listens on: a crashed tokend's leftover. */
static int
clear_stale(const char *path, struct err *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return err_set(err, ERR_IO, "%s exists and is not a socket; not replacing it",
			       path);
	strncpy(sun.sun_path, path, sizeof(sun.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return err_set(err, ERR_IO, "socket: %s", strerror(errno));
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0)
		return err_set(err, ERR_IO, "%s: another process (a running tokend?) is "
					    "listening on it", path);
	if (errno != ECONNREFUSED)
		return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	if (unlink(path) == -1)
		return err_set(err, ERR_IO, "unlink stale %s: %s", path, strerror(errno));
	log_notice("replaced stale socket %s", path);
	return 0;
}

static void
make_parent(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');

	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) == 0)
			log_info("created %s (0750)", dir);
	}
	free(dir);
}

/* The mode is applied through the umask before bind, never by chmod after
 * listen: in between, anyone could connect. */
static int
listen_unix(const struct config_daemon *cfg, struct err *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	if (strlen(cfg->socket_path) >= sizeof(sun.sun_path))
		return err_set(err, ERR_CONFIG, "socket path too long: %s", cfg->socket_path);
	strcpy(sun.sun_path, cfg->socket_path);
	make_parent(cfg->socket_path);
	if (clear_stale(cfg->socket_path, err) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return err_set(err, ERR_IO, "socket: %s", strerror(errno));
	old = umask(~cfg->socket_mode & 0777);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1) {
		err_set(err, ERR_IO, "bind %s: %s", cfg->socket_path, strerror(errno));
		goto fail;
	}
	if (cfg->socket_group != NULL && chown(cfg->socket_path, (uid_t)-1, cfg->socket_gid) == -1) {
		err_set(err, ERR_IO, "chown %s to group %s: %s", cfg->socket_path,
			cfg->socket_group, strerror(errno));
		goto fail_unlink;
	}
	if (listen(fd, 1024) == -1) {
		err_set(err, ERR_IO, "listen %s: %s", cfg->socket_path, strerror(errno));
		goto fail_unlink;
	}
	return fd;
fail_unlink:
	unlink(cfg->socket_path);
fail:
	close(fd);
	return -1;
}

static void
apply_limits(struct server *srv)
{
	const struct config_daemon *cfg = srv->cfg;
	struct timeval tv = { .tv_sec = cfg->idle_timeout_ms / 1000,
			      .tv_usec = (cfg->idle_timeout_ms % 1000) * 1000 };

	evhttp_set_max_headers_size(srv->http, (ev_ssize_t)cfg->max_header_size);
	evhttp_set_max_body_size(srv->http, (ev_ssize_t)cfg->max_body_size);
	evhttp_set_timeout_tv(srv->http, &tv);
}

struct server *
server_new(struct event_base *base, const struct config_daemon *cfg,
	   struct token_table *tokens, int listen_fd, struct err *err)
{
	struct server *srv = xcalloc(1, sizeof(*srv));
	int fd = listen_fd;

	srv->base = base;
	srv->cfg = cfg;
	srv->tokens = tokens;
	srv->self_uid = geteuid();
	if ((srv->http = evhttp_new(base)) == NULL) {
		err_set(err, ERR_INTERNAL, "evhttp_new failed");
		goto fail;
	}
	/* Every method reaches on_request, which answers a JSON 405. */
	evhttp_set_allowed_methods(srv->http, 0xffff);
	evhttp_set_gencb(srv->http, on_request, srv);
	evhttp_set_bevcb(srv->http, conn_new, srv);
	srv->fresh_ev = event_new(base, -1, 0, on_fresh, srv);
	apply_limits(srv);
	if (fd < 0) {
		if ((fd = listen_unix(cfg, err)) == -1)
			goto fail;
		srv->path = xstrdup(cfg->socket_path);
	} else {
		evutil_make_socket_nonblocking(fd);
	}
	if ((srv->bound = evhttp_accept_socket_with_handle(srv->http, fd)) == NULL) {
		err_set(err, ERR_INTERNAL, "cannot accept on the socket");
		if (listen_fd < 0)
			close(fd);
		goto fail;
	}
	return srv;
fail:
	server_free(srv);
	return NULL;
}

void
server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	while (srv->waiters != NULL)
		waiter_free(srv->waiters);
	srv->closing = true;
	if (srv->http != NULL)
		evhttp_free(srv->http);
	if (srv->fresh_ev != NULL)
		event_free(srv->fresh_ev);
	free(srv->fresh);
	if (srv->path != NULL) {
		unlink(srv->path);
		free(srv->path);
	}
	free(srv);
}

void
server_set_config(struct server *srv, const struct config_daemon *cfg)
{
	srv->cfg = cfg;
	apply_limits(srv);
	check_limit(srv);
}

void
server_set_metrics(struct server *srv, server_metrics_fn *fn, void *arg)
{
	srv->metrics_fn = fn;
	srv->metrics_arg = arg;
}

void
server_set_refresh_check(struct server *srv, server_refresh_check_fn *fn, void *arg)
{
	srv->refresh_check = fn;
	srv->refresh_check_arg = arg;
}

uint64_t
server_requests(const struct server *srv, int status)
{
	return status >= 0 && status < STATUS_MAX ? srv->status_count[status] : 0;
}
