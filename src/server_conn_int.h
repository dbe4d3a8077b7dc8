/* server_conn_int.h - what server_conn.c (one connection: parse, answer)
 * and server_accept.c (the listener: accept, caps, shedding) share. Not
 * for other modules: they see server_conn.h. */
#ifndef TOKEND_SERVER_CONN_INT_H
#define TOKEND_SERVER_CONN_INT_H

#include <event2/event.h>
#include <http_parser.h>

#include "server_conn.h"
#include "server_peers.h"

#define SCONN_READ_BUF   16384 /* shared by all connections */
#define SCONN_FIELD_MAX  32    /* longest header name we look at */
#define SCONN_ACCEPT_MAX 256   /* Accept value kept (the rest is ignored) */
#define SCONN_STATUS_MAX 600

struct sconn {
	struct sconn_listener *l;
	/* the listener's list, most recently accepted or answered first */
	struct sconn *prev, *next;
	int fd;
	struct event *rev, *wev, *tev;
	http_parser p;
	struct ucred peer;
	bool peer_ok;
	bool vip;         /* a privileged peer: no per-uid cap */
	struct speer *pu; /* the per-uid counts of peer.uid; NULL without peer */
	bool parked;      /* counted in pu->polls */
	int64_t deadline; /* monotonic ms: the request under way must be in */
	/* the request being parsed or answered */
	char *url; /* NUL-terminated; grown up to max_header_size */
	size_t url_len, url_cap;
	char field[SCONN_FIELD_MAX + 1];
	size_t field_len;
	bool in_field, field_accept;
	char accept[SCONN_ACCEPT_MAX + 1];
	size_t accept_len;
	size_t hbytes, nheaders, body_bytes;
	int err_status;   /* a limit broken in a callback */
	bool in_msg;      /* a request has begun and is not complete */
	bool waiting;     /* dispatched, not answered */
	bool keep_alive;  /* of the request under way */
	bool close_after; /* close once the output is written */
	bool dispatching; /* inside the request callback */
	/* output not yet written; wiped when written */
	char *out;
	size_t out_off, out_len;
	/* input read while a request was answered */
	char *pend;
	size_t pend_off, pend_len;
};

struct sconn_listener {
	struct event_base *base;
	int fd;
	struct event *ev;
	struct event *retry;     /* out of descriptors: accept again later */
	struct sconn_limits lim; /* max_conns as clamped */
	/* The whole 503 for a connection refused at accept, made once: a
	 * flood is refused with one send() each, nothing allocated. */
	char *busy;
	size_t busy_len;
	struct sconn_hooks h;
	struct sconn *conns, *tail;
	int nconns;
	int nplain; /* connections of unprivileged peers */
	struct speers *peers;
	uint64_t status_count[SCONN_STATUS_MAX];
	uint64_t refused, shed; /* since the last log line about them */
	int64_t logged_ms;
	http_parser_settings settings;
	char buf[SCONN_READ_BUF];
};

/* server_conn.c */
void sconn_parser_settings(http_parser_settings *s);
/* Sets c up to be served: events, parser, the deadline of its first
 * request. c is zeroed, linked and counted by the caller. */
void sconn_start(struct sconn *c);
/* Frees c (notify: tell the server first). Unlinks and uncounts it. */
void sconn_free(struct sconn *c, bool notify);
/* Answers c's request with an error through the server's hook and closes
 * c once that is written. */
void sconn_fail(struct sconn *c, int status, const char *msg);
/* Makes l->busy from l->lim.busy_body. */
void sconn_make_busy(struct sconn_listener *l);
/* Sends l->busy on fd (never blocking), counts it, closes fd. */
void sconn_refuse_fd(struct sconn_listener *l, int fd);

/* server_accept.c */
void sconn_link_front(struct sconn *c);
void sconn_unlink(struct sconn *c);

#endif
