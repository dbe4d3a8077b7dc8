/* server_conn.h - the HTTP/1.1 transport of the local API: accept on the
 * Unix listener, parse with http_parser, answer with one writev.
 *
 * One persistent read event per connection; EV_WRITE only after a short
 * write. Peer credentials are read once, at accept. Requests on one
 * connection are answered in order: while one waits for its answer (a
 * long-poll) the next is not parsed. Limits: header bytes and count (431),
 * body bytes (413), a deadline for each request that starts at accept and
 * after each answer (not at its first byte: a silent client is no better
 * than a slow one), and connection caps. The listener never stops
 * accepting: at max_connections it sheds the connection that has waited
 * longest without a request under way, or answers the newcomer 503; one
 * uid holds at most max_conns_per_uid connections; privileged peers
 * (root, tokend's uid, admin_uids: the vip hook) are exempt from the
 * per-uid cap and have room kept for them (server_accept.c).
 */
#ifndef TOKEND_SERVER_CONN_H
#define TOKEND_SERVER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "err.h"

struct event_base;
struct sconn;
struct sconn_listener;

enum sconn_method {
	SCONN_GET,
	SCONN_HEAD,
	SCONN_POST,
	SCONN_OTHER,
};

/* One parsed request; valid until the request is answered. */
struct sconn_req {
	enum sconn_method method;
	const char *path;  /* NUL-terminated; starts with '/' */
	const char *query; /* NUL-terminated, without '?'; NULL if none */
	bool accept_text;  /* Accept names text/plain but not application/json */
	bool peer_ok;      /* SO_PEERCRED could be read at accept */
	struct ucred peer;
};

struct sconn_limits {
	size_t max_header_size; /* request line and headers, bytes */
	size_t max_body_size;
	int64_t idle_ms;   /* after an answer, for the next whole request */
	int64_t header_ms; /* from accept, or a request's first byte, to its end */
	int max_conns;     /* clamped to what RLIMIT_NOFILE leaves */
	int max_conns_per_uid;
	/* The JSON body of the 503 a connection refused at accept gets
	 * (borrowed: copied into the ready-made answer). */
	const char *busy_body;
	size_t busy_len;
};

/* Called for each request; must answer it now or later with sconn_reply
 * (later: the connection stays open and reads nothing more meanwhile). */
typedef void sconn_request_fn(struct sconn *c, const struct sconn_req *req, void *arg);
/* A request the transport refuses itself (400, 413, 431, or 503 at
 * accept): must answer it at once with sconn_reply (so every answer is
 * built and counted in one place); the connection closes after it. */
typedef void sconn_error_fn(struct sconn *c, int status, const char *msg, void *arg);
/* The connection is about to be freed (with a request unanswered or not). */
typedef void sconn_closed_fn(struct sconn *c, void *arg);
/* True for a privileged peer uid. */
typedef bool sconn_vip_fn(uid_t uid, void *arg);

struct sconn_hooks {
	sconn_request_fn *on_request;
	sconn_error_fn *on_error;
	sconn_closed_fn *on_closed;
	sconn_vip_fn *is_vip;
	void *arg;
};

/* Takes fd (a listening socket; closed by sconn_listener_free). */
struct sconn_listener *sconn_listener_new(struct event_base *base, int fd,
                                          const struct sconn_limits *lim,
                                          const struct sconn_hooks *hooks,
                                          struct err *err);
/* Serves fd, a connected socket accepted elsewhere (the fuzz harness
 * feeds one end of a socketpair). Counts toward max_conns. */
void sconn_listener_adopt(struct sconn_listener *l, int fd);
/* Closes every connection (on_closed is not called) and the listener. */
void sconn_listener_free(struct sconn_listener *l);
/* New limits (a reload); max_conns is clamped to RLIMIT_NOFILE. */
void sconn_listener_set_limits(struct sconn_listener *l, const struct sconn_limits *lim);
/* Answers sent with this status since start, by whichever layer. */
uint64_t sconn_listener_requests(const struct sconn_listener *l, int status);
/* Requests of c's peer uid parked now (answered later), c's own excluded. */
int sconn_peer_parked(const struct sconn *c);

/* Answers the request under way on c. extra_headers is NULL or complete
 * lines ("Allow: GET\r\n"). body is copied if it cannot be written at
 * once; the copy is wiped when written (a body may hold a token). Never
 * frees c. */
void sconn_reply(struct sconn *c, int status, const char *ctype,
                 const char *extra_headers, const void *body, size_t len);

/* The request target as received, for logs. */
const char *sconn_target(const struct sconn *c);

/* Splits a request target into path and query in place (target is
 * NUL-terminated and len long). Returns 0, or an HTTP status (400) for a
 * target that is not an absolute path without escapes, dot segments or
 * control bytes. Pure: the fuzz harness calls it. */
int sconn_parse_target(char *target, size_t len, const char **path, const char **query);

#endif
