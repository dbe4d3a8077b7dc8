/* server.c - the local API over a Unix socket: socket set-up, routing,
 * access control by peer credentials, long-polls. */
#include "server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "secret.h"
#include "server_cache.h"
#include "server_conn.h"
#include "server_socket.h"
#include "server_target.h"
#include "timeutil.h"
#include "token.h"
#include "token_json.h"
#include "xalloc.h"

#define HEADER_MS 10000 /* a request's bytes must all arrive within this */
/* The body token_json_error("busy", ...) would make, as a constant: the
 * transport sends it on a connection it refuses at accept. */
#define BUSY_BODY                                                                        \
	"{\"error\":\"busy\",\"message\":\"too many connections (from this user, or "    \
	"in all); retry later\"}\n"

/* A GET parked until its token has a version newer than newer_than. It
 * names its token, never points at it: a reload frees every token and
 * builds a new one under the same name (a new generation), whose access
 * lists the peer is checked against again.
 * startup: a plain GET waiting for the first value (socket activation),
 * answered 503 if none comes in time. */
struct waiter {
	struct server *srv;
	struct sconn *c;
	char name[65];       /* a token name: at most 64 bytes */
	uint64_t generation; /* of the token last checked with may_read */
	struct ucred peer;
	uint64_t newer_than;
	bool raw;
	bool startup;
	struct event *timer;
	struct waiter *next;
};

struct server {
	struct event_base *base;
	struct sconn_listener *listener;
	struct server_cache *cache; /* GET /v1/tokens/NAME bodies */
	const struct config_daemon *cfg;
	struct token_table *tokens;
	char *path; /* the socket we created and unlink; NULL if inherited */
	uid_t self_uid;
	struct waiter *waiters;
	int64_t startup_until_ms; /* wall time; 0: a GET never waits */
	server_metrics_fn *metrics_fn;
	void *metrics_arg;
	server_refresh_check_fn *refresh_check;
	void *refresh_check_arg;
};

/* --- replies -------------------------------------------------------------- */

/* Sends body, which stays the caller's: the transport copies (and later
 * wipes) what it cannot write at once. */
static void
send_borrowed(struct server *srv, struct sconn *c, int status, const char *ctype,
              const char *extra, const char *body, size_t len)
{
	log_debug("%s -> %d", sconn_target(c), status);
	sconn_reply(c, status, ctype, extra, body, len);
}

/* Sends body (heap, owned, may be NULL) and wipes it: a reply may hold a
 * token. The transport keeps its own wiped copy of what it could not
 * write at once. */
static void
reply_hdr(struct server *srv, struct sconn *c, int status, const char *ctype,
          const char *extra, char *body, size_t len)
{
	send_borrowed(srv, c, status, ctype, extra, body, len);
	if (body != NULL) {
		OPENSSL_cleanse(body, len);
		free(body);
	}
}

static void
reply(struct server *srv, struct sconn *c, int status, const char *ctype, char *body,
      size_t len)
{
	reply_hdr(srv, c, status, ctype, NULL, body, len);
}

/* The compact JSON of doc (consumed) and one newline, so `curl` output
 * ends cleanly in a terminal. */
static char *
dump_json(json_t *doc, size_t *lenp)
{
	char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t len = strlen(s);

	json_decref(doc);
	s = xrealloc(s, len + 2);
	s[len++] = '\n';
	s[len] = '\0';
	*lenp = len;
	return s;
}

static void
reply_json(struct server *srv, struct sconn *c, int status, json_t *doc)
{
	size_t len;
	char *s = dump_json(doc, &len);

	reply(srv, c, status, "application/json", s, len);
}

static void
reply_error(struct server *srv, struct sconn *c, int status, const char *code,
            const char *msg)
{
	reply_json(srv, c, status, token_json_error(code, msg));
}

static void
reply_token(struct server *srv, struct sconn *c, struct token *tok, bool raw)
{
	const char *body;
	size_t len;

	if (raw) {
		/* The exact bytes, no newline: what a client pastes into a header. */
		send_borrowed(srv, c, 200, "text/plain; charset=utf-8", NULL,
		              tok->value->data, tok->value->len);
		return;
	}
	body = server_cache_detail(srv->cache, tok, timeutil_wall_ms(), &len);
	send_borrowed(srv, c, 200, "application/json", NULL, body, len);
}

/* --- access control --------------------------------------------------------- */

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
	if (uc->uid == srv->self_uid ||
	    uid_listed(uc->uid, def->allow_uids, def->n_allow_uids))
		return true;
	for (size_t i = 0; i < def->n_allow_gids; i++)
		if (def->allow_gids[i] == uc->gid)
			return true;
	return false;
}

static bool
is_admin_uid(const struct server *srv, uid_t uid)
{
	return uid == 0 || uid == srv->self_uid ||
	       uid_listed(uid, srv->cfg->admin_uids, srv->cfg->n_admin_uids);
}

static bool
is_admin(const struct server *srv, const struct ucred *uc)
{
	return is_admin_uid(srv, uc->uid);
}

/* Names, states and counters of a token: for those who may read it, and
 * for admins (who run the health checks and scrape the metrics). */
static bool
may_see(const struct server *srv, const struct ucred *uc, const struct token *tok)
{
	return is_admin(srv, uc) || may_read(srv, uc, tok);
}

/* A refusal, logged (without the token) so that an operator can tell a
 * misconfigured client from an intruder. */
static void
refuse(struct server *srv, struct sconn *c, const struct ucred *uc, int status,
       const char *code, const char *msg, const char *why)
{
	log_notice("server: %s refused for uid %ld gid %ld pid %ld: %s (answered %d)",
	           sconn_target(c), (long)uc->uid, (long)uc->gid, (long)uc->pid, why,
	           status);
	reply_error(srv, c, status, code, msg);
}

/* The one answer for a token that does not exist and one the peer may
 * not read: names are not disclosed to whom nothing is allowed. */
static void
no_such_token(struct server *srv, struct sconn *c)
{
	reply_error(srv, c, 404, "not_found", "no such token");
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

static void reply_unavailable(struct server *srv, struct sconn *c, struct token *tok,
                              bool raw);

static void
on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	struct server *srv = w->srv;
	struct sconn *c = w->c;
	struct token *tok = token_table_find(srv->tokens, w->name);
	bool startup = w->startup, raw = w->raw;

	waiter_free(w);
	if (startup) {
		if (tok != NULL)
			reply_unavailable(srv, c, tok, raw);
		else
			no_such_token(srv, c);
		return;
	}
	/* Nothing newer within the timeout: 204, and the client asks again. */
	reply(srv, c, 204, "application/json", NULL, 0);
}

static struct waiter *
park(struct server *srv, struct sconn *c, const struct ucred *uc, struct token *tok,
     uint64_t newer_than, int64_t timeout_ms, bool raw)
{
	struct waiter *w = xcalloc(1, sizeof(*w));
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
		              .tv_usec = (timeout_ms % 1000) * 1000 };

	w->srv = srv;
	w->c = c;
	snprintf(w->name, sizeof(w->name), "%s", tok->name);
	w->generation = tok->generation;
	w->peer = *uc;
	w->newer_than = newer_than;
	w->raw = raw;
	w->timer = evtimer_new(srv->base, on_waiter_timeout, w);
	evtimer_add(w->timer, &tv);
	log_debug("%s: long-poll parked (newer than version %" PRIu64 ", %" PRId64 " ms)",
	          w->name, newer_than, timeout_ms);
	w->next = srv->waiters;
	srv->waiters = w;
	return w;
}

void
server_set_startup_wait(struct server *srv, int64_t until_ms)
{
	struct waiter *w, *next;

	srv->startup_until_ms = until_ms;
	if (until_ms > 0)
		return;
	/* The daemon is ready: whoever still waits gets the answer now. */
	for (w = srv->waiters; w != NULL; w = next) {
		struct sconn *c = w->c;
		struct token *tok;
		bool raw = w->raw;

		next = w->next;
		if (!w->startup)
			continue;
		tok = token_table_find(srv->tokens, w->name);
		waiter_free(w);
		if (tok != NULL)
			reply_unavailable(srv, c, tok, raw);
		else
			no_such_token(srv, c);
	}
}

/* Answers w with 404 "no such token": the answer for a token that does
 * not exist and for one the peer may not read are the same. */
static void
waiter_not_found(struct waiter *w)
{
	struct server *srv = w->srv;
	struct sconn *c = w->c;

	waiter_free(w);
	reply_error(srv, c, 404, "not_found", "no such token");
}

void
server_token_changed(struct server *srv, struct token *tok)
{
	struct waiter *w = srv->waiters, *next;
	int64_t now = timeutil_wall_ms();

	server_cache_forget(srv->cache, tok);

	for (; w != NULL; w = next) {
		struct sconn *c = w->c;
		bool raw = w->raw;

		next = w->next;
		if (strcmp(w->name, tok->name) != 0)
			continue;
		/* A rebuilt token (reload): the peer's right is checked anew. */
		if (w->generation != tok->generation) {
			if (!may_read(srv, &w->peer, tok)) {
				waiter_not_found(w);
				continue;
			}
			w->generation = tok->generation;
		}
		if (tok->version <= w->newer_than || !token_servable(tok, now, NULL))
			continue;
		waiter_free(w);
		reply_token(srv, c, tok, raw);
	}
}

void
server_token_removed(struct server *srv, struct token *tok)
{
	struct waiter *w = srv->waiters, *next;

	server_cache_forget(srv->cache, tok);

	for (; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->name, tok->name) == 0)
			waiter_not_found(w);
	}
}

/* --- routes --------------------------------------------------------------- */

static void
get_token(struct server *srv, struct sconn *c, const struct ucred *uc, struct token *tok,
          const struct server_query *q)
{
	int64_t now = timeutil_wall_ms();
	bool raw = q->raw || q->accept_text;

	if (!may_read(srv, uc, tok)) {
		log_notice("server: %s refused for uid %ld gid %ld pid %ld: not allowed "
		           "to read it (answered 404)",
		           sconn_target(c), (long)uc->uid, (long)uc->gid, (long)uc->pid);
		no_such_token(srv, c);
		return;
	}
	if (q->has_newer_than &&
	    (tok->version <= q->newer_than || !token_servable(tok, now, NULL))) {
		if (q->timeout_s == 0)
			reply(srv, c, 204, "application/json", NULL, 0);
		else if (!is_admin(srv, uc) &&
		         sconn_peer_parked(c) >= srv->cfg->max_longpolls_per_uid)
			refuse(srv, c, uc, 429, "too_many_requests",
			       "too many long-polls from this user; retry later",
			       "max_longpolls_per_uid reached");
		else
			park(srv, c, uc, tok, q->newer_than, q->timeout_s * 1000, raw);
		return;
	}
	if (!token_servable(tok, now, NULL)) {
		token_expired_seen(tok);
		/* Socket activation: the first client may connect before the
		 * first value; it waits for it (bounded) instead of a 503. */
		if (tok->version == 0 && srv->startup_until_ms > now)
			park(srv, c, uc, tok, 0, srv->startup_until_ms - now, raw)
			        ->startup = true;
		else
			reply_unavailable(srv, c, tok, raw);
		return;
	}
	reply_token(srv, c, tok, raw);
}

/* 503 with the reason, or the value if it has come meanwhile. */
static void
reply_unavailable(struct server *srv, struct sconn *c, struct token *tok, bool raw)
{
	struct err why = { 0 };

	if (token_servable(tok, timeutil_wall_ms(), &why))
		reply_token(srv, c, tok, raw);
	else
		reply_error(srv, c, 503, "unavailable",
		            why.msg[0] ? why.msg : "no valid value yet");
}

static void
post_refresh(struct server *srv, struct sconn *c, const struct ucred *uc,
             struct token *tok)
{
	struct err err = { 0 };

	if (!may_read(srv, uc, tok)) {
		log_notice("server: %s refused for uid %ld gid %ld pid %ld: not allowed "
		           "to read it (answered 404)",
		           sconn_target(c), (long)uc->uid, (long)uc->gid, (long)uc->pid);
		no_such_token(srv, c);
		return;
	}
	if (!is_admin(srv, uc)) {
		refuse(srv, c, uc, 403, "forbidden", "refresh needs an admin peer",
		       "not in admin_uids");
		return;
	}
	if (srv->refresh_check != NULL &&
	    srv->refresh_check(tok, &err, srv->refresh_check_arg) == -1) {
		refuse(srv, c, uc, 429, "budget_exhausted", err.msg, err.msg);
		return;
	}
	if (token_refresh_now(tok, &err) == -1) {
		reply_error(srv, c, err.code == ERR_THROTTLED ? 429 : 409, "refused",
		            err.msg);
		return;
	}
	reply_json(srv, c, 202,
	           json_pack("{s:s, s:s}", "name", tok->name, "status", "refreshing"));
}

static void
list_tokens(struct server *srv, struct sconn *c, const struct ucred *uc)
{
	json_t *arr = json_array();
	int64_t now = timeutil_wall_ms();
	size_t n = token_table_count(srv->tokens);

	for (size_t i = 0; i < n; i++) {
		struct token *tok = token_table_at(srv->tokens, i);

		if (may_read(srv, uc, tok))
			json_array_append_new(arr, token_json_summary(tok, now));
	}
	reply_json(srv, c, 200, json_pack("{s:o}", "tokens", arr));
}

/* The status is for everyone (tokenctl health, the image's health check);
 * the names waited for only for those who may see them. */
static void
readyz(struct server *srv, struct sconn *c, const struct ucred *uc)
{
	size_t n = token_table_count(srv->tokens), off = 0;
	int64_t now = timeutil_wall_ms();
	char missing[512] = "waiting for:";

	if (token_table_all_valid(srv->tokens)) {
		reply_json(srv, c, 200, json_pack("{s:s}", "status", "ready"));
		return;
	}
	off = strlen(missing);
	for (size_t i = 0; i < n && off < sizeof(missing) - 1; i++) {
		struct token *tok = token_table_at(srv->tokens, i);

		if (!token_servable(tok, now, NULL) && may_see(srv, uc, tok)) {
			int w = snprintf(missing + off, sizeof(missing) - off, " %s",
			                 tok->name);
			off += w > 0 ? (size_t)w : 0;
		}
	}
	reply_error(srv, c, 503, "not_ready", missing);
}

struct viewer {
	const struct server *srv;
	const struct ucred *uc;
};

static bool
viewer_sees(const struct token *tok, const void *ctx)
{
	const struct viewer *v = ctx;

	return may_see(v->srv, v->uc, tok);
}

/* Token series only for the tokens the peer may see; the daemon's own
 * series for everyone. */
static void
metrics(struct server *srv, struct sconn *c, const struct ucred *uc)
{
	struct evbuffer *out = evbuffer_new();
	struct viewer v = { srv, uc };
	size_t len;

	if (srv->metrics_fn != NULL)
		srv->metrics_fn(out, viewer_sees, &v, srv->metrics_arg);
	len = evbuffer_get_length(out);
	send_borrowed(srv, c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
	              len ? (const char *)evbuffer_pullup(out, -1) : "", len);
	evbuffer_free(out);
}

/* --- dispatch ------------------------------------------------------------- */

static void
method_not_allowed(struct server *srv, struct sconn *c, const char *allow)
{
	char hdr[64];
	size_t len;
	char *body = dump_json(
	        token_json_error("method_not_allowed", "method not allowed here"), &len);

	snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
	reply_hdr(srv, c, 405, "application/json", hdr, body, len);
}

/* /v1/tokens/NAME[/refresh] */
static void
route_token(struct server *srv, struct sconn *c, const struct sconn_req *r,
            const struct server_query *q)
{
	const struct ucred *uc = &r->peer;
	const char *rest = r->path + 11;
	const char *slash = strchr(rest, '/');
	char name[65];
	size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
	struct token *tok;

	if (len == 0 || len >= sizeof(name)) {
		no_such_token(srv, c);
		return;
	}
	memcpy(name, rest, len);
	name[len] = '\0';
	if (!config_valid_token_name(name) ||
	    (tok = token_table_find(srv->tokens, name)) == NULL) {
		no_such_token(srv, c);
		return;
	}
	if (slash == NULL) {
		if (r->method != SCONN_GET)
			method_not_allowed(srv, c, "GET");
		else
			get_token(srv, c, uc, tok, q);
	} else if (strcmp(slash, "/refresh") == 0) {
		if (r->method != SCONN_POST)
			method_not_allowed(srv, c, "POST");
		else
			post_refresh(srv, c, uc, tok);
	} else {
		reply_error(srv, c, 404, "not_found", "no such route");
	}
}

/* The transport has parsed the request (http_parser refuses conflicting
 * framing: two Content-Lengths, or one with chunked coding). */
static void
on_request(struct sconn *c, const struct sconn_req *r, void *arg)
{
	struct server *srv = arg;
	const char *path = r->path;
	bool get = r->method == SCONN_GET;
	const char *why = "bad request";
	struct server_query q;

	if (!r->peer_ok) {
		log_notice("server: %s refused: cannot read the peer's credentials "
		           "(answered 403)",
		           sconn_target(c));
		reply_error(srv, c, 403, "forbidden", "cannot read peer credentials");
		return;
	}
	if (server_parse_query(r->query, &q, &why) == -1) {
		reply_error(srv, c, 400, "bad_request", why);
		return;
	}
	q.accept_text = r->accept_text;
	if (strncmp(path, "/v1/tokens/", 11) == 0) {
		route_token(srv, c, r, &q);
	} else if (strcmp(path, "/v1/tokens") == 0) {
		get ? list_tokens(srv, c, &r->peer) : method_not_allowed(srv, c, "GET");
	} else if (strcmp(path, "/healthz") == 0) {
		get ? reply_json(srv, c, 200, json_pack("{s:s}", "status", "ok"))
		    : method_not_allowed(srv, c, "GET");
	} else if (strcmp(path, "/readyz") == 0) {
		get ? readyz(srv, c, &r->peer) : method_not_allowed(srv, c, "GET");
	} else if (strcmp(path, "/metrics") == 0) {
		get ? metrics(srv, c, &r->peer) : method_not_allowed(srv, c, "GET");
	} else {
		reply_error(srv, c, 404, "not_found", "no such route");
	}
}

/* The connection is going away: a long-poll parked on it is forgotten. */
static void
on_conn_closed(struct sconn *c, void *arg)
{
	struct server *srv = arg;
	struct waiter *w = srv->waiters, *next;

	for (; w != NULL; w = next) {
		next = w->next;
		if (w->c == c)
			waiter_free(w);
	}
}

/* The transport's own refusals (400, 413, 431; 503 at accept), answered
 * and counted like every other answer. */
static void
on_transport_error(struct sconn *c, int status, const char *msg, void *arg)
{
	struct server *srv = arg;

	reply_error(srv, c, status,
	            status == 503   ? "busy"
	            : status == 413 ? "too_large"
	            : status == 431 ? "too_large"
	                            : "bad_request",
	            msg);
}

static bool
on_is_vip(uid_t uid, void *arg)
{
	return is_admin_uid(arg, uid);
}

static void
limits_of(const struct config_daemon *cfg, struct sconn_limits *lim)
{
	lim->max_header_size = cfg->max_header_size;
	lim->max_body_size = cfg->max_body_size;
	lim->idle_ms = cfg->idle_timeout_ms;
	lim->header_ms = HEADER_MS;
	lim->max_conns = cfg->max_connections;
	lim->max_conns_per_uid = cfg->max_connections_per_uid;
	lim->busy_body = BUSY_BODY;
	lim->busy_len = sizeof(BUSY_BODY) - 1;
}

struct server *
server_new(struct event_base *base, const struct config_daemon *cfg,
           struct token_table *tokens, int listen_fd, struct err *err)
{
	struct server *srv = xcalloc(1, sizeof(*srv));
	struct sconn_limits lim;
	struct sconn_hooks hooks = { .on_request = on_request,
		                     .on_error = on_transport_error,
		                     .on_closed = on_conn_closed,
		                     .is_vip = on_is_vip,
		                     .arg = srv };
	int fd = listen_fd;

	srv->base = base;
	srv->cfg = cfg;
	srv->tokens = tokens;
	srv->self_uid = geteuid();
	srv->cache = server_cache_new();
	if (fd < 0) {
		if ((fd = server_socket_listen(cfg, err)) == -1)
			goto fail;
		srv->path = xstrdup(cfg->socket_path);
	} else {
		evutil_make_socket_nonblocking(fd);
	}
	limits_of(cfg, &lim);
	srv->listener = sconn_listener_new(base, fd, &lim, &hooks, err);
	if (srv->listener == NULL) {
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
	sconn_listener_free(srv->listener);
	server_cache_free(srv->cache);
	if (srv->path != NULL) {
		unlink(srv->path);
		free(srv->path);
	}
	free(srv);
}

void
server_set_config(struct server *srv, const struct config_daemon *cfg)
{
	struct sconn_limits lim;

	srv->cfg = cfg;
	/* Tokens were replaced: a freed token's address may come back. */
	server_cache_forget(srv->cache, NULL);
	limits_of(cfg, &lim);
	sconn_listener_set_limits(srv->listener, &lim);
}

void
server_adopt(struct server *srv, int fd)
{
	sconn_listener_adopt(srv->listener, fd);
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
	return sconn_listener_requests(srv->listener, status);
}
