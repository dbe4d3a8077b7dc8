/* server_conn.c - the HTTP/1.1 transport of the local API (see
 * server_conn.h). evhttp cost ~6 system calls and several allocations per
 * request; here a keep-alive request is one read and one writev. */
#include "server_conn.h"

#include <errno.h>
#include <event2/event.h>
#include <http_parser.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "server_conn_int.h"
#include "timeutil.h"
#include "xalloc.h"

#define PEND_MAX    16384 /* input read ahead while a request is answered */
#define MAX_HEADERS 100

static void conn_on_read(evutil_socket_t fd, short what, void *arg);

/* --- timers ---------------------------------------------------------------- */

static void
conn_arm_at(struct sconn *c, int64_t deadline)
{
	int64_t ms = deadline - timeutil_mono_ms();
	struct timeval tv;

	ms = ms > 0 ? ms : 0;
	tv = (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	c->deadline = deadline;
	evtimer_add(c->tev, &tv);
}

/* After an answer: the next request, all of it, within idle_ms. */
static void
conn_arm_idle(struct sconn *c)
{
	conn_arm_at(c, timeutil_mono_ms() + c->l->lim.idle_ms);
}

static int64_t
first_request_ms(const struct sconn_limits *lim)
{
	return lim->header_ms < lim->idle_ms ? lim->header_ms : lim->idle_ms;
}

/* --- close ----------------------------------------------------------------- */

static void
conn_unpark(struct sconn *c)
{
	if (!c->parked)
		return;
	c->parked = false;
	c->pu->polls--;
}

void
sconn_free(struct sconn *c, bool notify)
{
	struct sconn_listener *l = c->l;

	if (notify && l->h.on_closed != NULL)
		l->h.on_closed(c, l->h.arg);
	sconn_unlink(c);
	if (c->pu != NULL) {
		conn_unpark(c);
		c->pu->conns--;
		speers_put(l->peers, c->pu);
	}
	if (!c->vip)
		l->nplain--;
	l->nconns--;
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->tev);
	close(c->fd);
	if (c->out != NULL) {
		OPENSSL_cleanse(c->out, c->out_len);
		free(c->out);
	}
	if (c->pend != NULL) {
		OPENSSL_cleanse(c->pend, c->pend_len);
		free(c->pend);
	}
	free(c->url);
	free(c);
}

static void
conn_close(struct sconn *c)
{
	sconn_free(c, true);
}

/* --- parser callbacks -------------------------------------------------------- */

static int
conn_count(struct sconn *c, size_t len)
{
	c->hbytes += len;
	if (c->hbytes > c->l->lim.max_header_size) {
		c->err_status = 431;
		return -1;
	}
	return 0;
}

static int
cb_message_begin(http_parser *p)
{
	struct sconn *c = p->data;

	c->url_len = 0;
	c->field_len = c->accept_len = 0;
	c->in_field = c->field_accept = false;
	c->hbytes = c->nheaders = c->body_bytes = 0;
	c->in_msg = true;
	/* Slowloris: once begun, the request must be in within header_ms; the
	 * deadline set at accept or at the last answer is never extended. */
	if (timeutil_mono_ms() + c->l->lim.header_ms < c->deadline)
		conn_arm_at(c, timeutil_mono_ms() + c->l->lim.header_ms);
	return 0;
}

static int
cb_url(http_parser *p, const char *at, size_t len)
{
	struct sconn *c = p->data;

	if (conn_count(c, len) == -1)
		return -1;
	if (c->url_len + len + 1 > c->url_cap) {
		c->url_cap = c->url_len + len + 1 < 256 ? 256 : c->url_len + len + 1;
		c->url = xrealloc(c->url, c->url_cap);
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->url[c->url_len] = '\0';
	return 0;
}

static int
cb_header_field(http_parser *p, const char *at, size_t len)
{
	struct sconn *c = p->data;

	if (conn_count(c, len) == -1)
		return -1;
	if (!c->in_field) {
		if (++c->nheaders > MAX_HEADERS) {
			c->err_status = 431;
			return -1;
		}
		c->in_field = true;
		c->field_len = 0;
	}
	if (c->field_len + len <= SCONN_FIELD_MAX) {
		memcpy(c->field + c->field_len, at, len);
		c->field_len += len;
	} else {
		c->field_len = SCONN_FIELD_MAX + 1; /* not a name we look at */
	}
	return 0;
}

static int
cb_header_value(http_parser *p, const char *at, size_t len)
{
	struct sconn *c = p->data;
	size_t room;

	if (conn_count(c, len) == -1)
		return -1;
	if (c->in_field) {
		c->in_field = false;
		c->field_accept =
		        c->field_len == 6 && strncasecmp(c->field, "accept", 6) == 0;
		if (c->field_accept)
			c->accept_len = 0; /* the last Accept wins */
	}
	if (c->field_accept) {
		room = SCONN_ACCEPT_MAX - c->accept_len;
		len = len < room ? len : room;
		memcpy(c->accept + c->accept_len, at, len);
		c->accept_len += len;
	}
	return 0;
}

static int
cb_body(http_parser *p, const char *at, size_t len)
{
	struct sconn *c = p->data;

	/* Bodies are read and dropped (no route takes one), up to the limit. */
	c->body_bytes += len;
	if (c->body_bytes > c->l->lim.max_body_size) {
		c->err_status = 413;
		return -1;
	}
	return 0;
}

static int
cb_message_complete(http_parser *p)
{
	struct sconn *c = p->data;

	c->in_msg = false;
	c->keep_alive = http_should_keep_alive(p);
	/* Stop after this request: it is answered before the next is parsed. */
	http_parser_pause(p, 1);
	return 0;
}

/* --- requests ---------------------------------------------------------------- */

static enum sconn_method
conn_method(const http_parser *p)
{
	switch (p->method) {
	case HTTP_GET: return SCONN_GET;
	case HTTP_HEAD: return SCONN_HEAD;
	case HTTP_POST: return SCONN_POST;
	default: return SCONN_OTHER;
	}
}

void
sconn_fail(struct sconn *c, int status, const char *msg)
{
	c->keep_alive = false;
	c->waiting = true;
	c->l->h.on_error(c, status, msg, c->l->h.arg);
}

static void
conn_dispatch(struct sconn *c)
{
	struct sconn_req req = { .method = conn_method(&c->p),
		                 .peer_ok = c->peer_ok,
		                 .peer = c->peer };
	int status;

	if (c->p.http_major != 1) {
		sconn_fail(c, 400, "HTTP/1.x only");
		return;
	}
	status = sconn_parse_target(c->url != NULL ? c->url : (char[]){ 0 }, c->url_len,
	                            &req.path, &req.query);
	if (status != 0) {
		sconn_fail(c, status, "bad request path");
		return;
	}
	c->accept[c->accept_len] = '\0';
	req.accept_text = strstr(c->accept, "text/plain") != NULL &&
	                  strstr(c->accept, "application/json") == NULL;
	c->waiting = true;
	c->dispatching = true;
	c->l->h.on_request(c, &req, c->l->h.arg);
	c->dispatching = false;
	if (c->waiting)
		log_debug("server: %s parked", sconn_target(c));
	if (c->waiting && c->pu != NULL) {
		c->parked = true; /* a long-poll, which keeps its own timer */
		c->pu->polls++;
	}
	if (c->waiting)
		evtimer_del(c->tev);
}

static bool
conn_can_parse(const struct sconn *c)
{
	return !c->waiting && c->out_len == 0 && !c->close_after;
}

/* Runs the parser over data; stops after a request that is not answered
 * at once. Returns the bytes consumed, or -1: answered with an error and
 * the connection closes once that is written. */
static ssize_t
conn_feed(struct sconn *c, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len && conn_can_parse(c)) {
		size_t n = http_parser_execute(&c->p, &c->l->settings, data + off,
		                               len - off);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->p);

		off += n;
		if (e == HPE_PAUSED) {
			http_parser_pause(&c->p, 0);
			conn_dispatch(c);
			continue;
		}
		if (e != HPE_OK) {
			int status = c->err_status ? c->err_status : 400;

			log_debug("server: bad request (%s): %d", http_errno_name(e),
			          status);
			sconn_fail(c, status,
			           status == 431   ? "request headers too large"
			           : status == 413 ? "request body too large"
			                           : "malformed request");
			c->close_after = true;
			return -1;
		}
	}
	return (ssize_t)off;
}

/* Keeps input that arrives while a request is answered; beyond PEND_MAX
 * the connection stops reading until it is parsed. */
static void
conn_keep(struct sconn *c, const char *data, size_t len)
{
	if (c->pend_off > 0) {
		memmove(c->pend, c->pend + c->pend_off, c->pend_len - c->pend_off);
		c->pend_len -= c->pend_off;
		c->pend_off = 0;
	}
	if (c->pend == NULL)
		c->pend = xmalloc(PEND_MAX);
	memcpy(c->pend + c->pend_len, data, len);
	c->pend_len += len;
	if (c->pend_len == PEND_MAX)
		event_del(c->rev);
}

static int
conn_feed_pending(struct sconn *c)
{
	ssize_t n = conn_feed(c, c->pend + c->pend_off, c->pend_len - c->pend_off);

	if (n < 0)
		return -1;
	c->pend_off += (size_t)n;
	if (c->pend_off == c->pend_len) {
		OPENSSL_cleanse(c->pend, c->pend_len);
		free(c->pend);
		c->pend = NULL;
		c->pend_off = c->pend_len = 0;
	}
	return 0;
}

/* --- events ------------------------------------------------------------------ */

static bool
conn_done(struct sconn *c)
{
	return c->close_after && c->out_len == 0;
}

static void
conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *c = arg;
	struct sconn_listener *l = c->l;
	size_t room;
	ssize_t n, used;

	if (conn_done(c))
		goto close;
	if (conn_can_parse(c) && c->pend_len > 0 && conn_feed_pending(c) == -1)
		goto check;
	if (conn_can_parse(c) && !event_pending(c->rev, EV_READ, NULL))
		event_add(c->rev, NULL);
	room = conn_can_parse(c) ? sizeof(l->buf) : PEND_MAX - c->pend_len + c->pend_off;
	if (room == 0) {
		event_del(c->rev);
		return;
	}
	n = read(fd, l->buf, room < sizeof(l->buf) ? room : sizeof(l->buf));
	/* At EOF the client is gone: a pending answer has nobody to read it. */
	if (n == 0)
		goto close;
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		goto close;
	}
	used = conn_can_parse(c) ? conn_feed(c, l->buf, (size_t)n) : 0;
	if (used >= 0 && (size_t)used < (size_t)n && !c->close_after)
		conn_keep(c, l->buf + used, (size_t)n - (size_t)used);
	OPENSSL_cleanse(l->buf, (size_t)n);
check:
	if (conn_done(c))
		goto close;
	return;
close:
	conn_close(c);
}

static void
conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *c = arg;
	ssize_t n = write(fd, c->out + c->out_off, c->out_len - c->out_off);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		goto close;
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len)
		return;
	OPENSSL_cleanse(c->out, c->out_len);
	free(c->out);
	c->out = NULL;
	c->out_off = c->out_len = 0;
	event_del(c->wev);
	if (c->close_after)
		goto close;
	/* Input kept meanwhile is parsed now. */
	if (c->pend_len > 0 || !event_pending(c->rev, EV_READ, NULL)) {
		event_add(c->rev, NULL);
		event_active(c->rev, EV_READ, 0);
	}
	return;
close:
	conn_close(c);
}

static void
conn_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *c = arg;

	log_debug("server: closing a connection: %s",
	          c->in_msg ? "request too slow" : "idle");
	conn_close(c);
}

/* --- answers ----------------------------------------------------------------- */

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default:
		return status < 400   ? "OK"
		       : status < 500 ? "Client Error"
		                      : "Server Error";
	}
}

static void
conn_queue(struct sconn *c, const struct iovec *iov, int n, size_t done)
{
	size_t total = 0, off = 0;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	c->out_len = total - done;
	c->out_off = 0;
	c->out = xmalloc(c->out_len);
	for (int i = 0; i < n; i++) {
		const char *b = iov[i].iov_base;
		size_t l = iov[i].iov_len;

		if (done >= l) {
			done -= l;
			continue;
		}
		memcpy(c->out + off, b + done, l - done);
		off += l - done;
		done = 0;
	}
	event_add(c->wev, NULL);
}

/* Every answer's head, whichever path sends it. */
static int
format_head(char *head, size_t size, int status, const char *ctype, const char *extra,
            size_t len, const char *connection)
{
	char clen[48] = "";

	if (status != 204 && status != 304)
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", len);
	return snprintf(
	        head, size,
	        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n"
	        "%s%s%s\r\n",
	        status, status_text(status), ctype, clen, extra != NULL ? extra : "",
	        connection);
}

void
sconn_make_busy(struct sconn_listener *l)
{
	char head[256];
	int hl = format_head(head, sizeof(head), 503, "application/json", NULL,
	                     l->lim.busy_len, "Connection: close\r\n");

	free(l->busy);
	l->busy_len = (size_t)hl + l->lim.busy_len;
	l->busy = xmalloc(l->busy_len);
	memcpy(l->busy, head, (size_t)hl);
	memcpy(l->busy + hl, l->lim.busy_body, l->lim.busy_len);
}

void
sconn_refuse_fd(struct sconn_listener *l, int fd)
{
	/* A client that does not read loses the answer, not our time. */
	(void)send(fd, l->busy, l->busy_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	l->status_count[503]++;
	close(fd);
}

void
sconn_reply(struct sconn *c, int status, const char *ctype, const char *extra_headers,
            const void *body, size_t len)
{
	char head[512];
	struct iovec iov[2];
	ssize_t n;
	int hl;

	hl = format_head(head, sizeof(head), status, ctype, extra_headers, len,
	                 !c->keep_alive         ? "Connection: close\r\n"
	                 : c->p.http_minor == 0 ? "Connection: keep-alive\r\n"
	                                        : "");
	/* A head that does not fit (oversized extra headers) becomes a bodiless
	 * 500 that ends the connection, as it says. */
	if (hl < 0 || (size_t)hl >= sizeof(head)) {
		hl = snprintf(head, sizeof(head),
		              "HTTP/1.1 500 Server Error\r\n"
		              "Content-Length: 0\r\nConnection: close\r\n\r\n");
		c->keep_alive = false;
		len = 0;
		status = 500;
	}
	if (status >= 0 && status < SCONN_STATUS_MAX)
		c->l->status_count[status]++;
	if (status == 204 || c->p.method == HTTP_HEAD)
		len = 0;
	iov[0] = (struct iovec){ head, (size_t)hl };
	iov[1] = (struct iovec){ (void *)body, len };
	c->waiting = false;
	conn_unpark(c);
	/* Just served: the last a shed at max_connections would pick. */
	sconn_unlink(c);
	sconn_link_front(c);
	if (!c->keep_alive)
		c->close_after = true;
	n = writev(c->fd, iov, len > 0 ? 2 : 1);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		c->close_after = true; /* the read callback closes it */
		n = (ssize_t)(hl + len);
	}
	if ((size_t)(n < 0 ? 0 : n) < (size_t)hl + len)
		conn_queue(c, iov, 2, n < 0 ? 0 : (size_t)n);
	if (!c->close_after)
		conn_arm_idle(c);
	/* Answered later (a long-poll): what comes next, or the close, is
	 * handled by the read callback. */
	if (!c->dispatching && c->out_len == 0)
		event_active(c->rev, EV_READ, 0);
}

const char *
sconn_target(const struct sconn *c)
{
	return c->url != NULL ? c->url : "";
}

/* --- set-up ---------------------------------------------------------------- */

void
sconn_parser_settings(http_parser_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->on_message_begin = cb_message_begin;
	s->on_url = cb_url;
	s->on_header_field = cb_header_field;
	s->on_header_value = cb_header_value;
	s->on_body = cb_body;
	s->on_message_complete = cb_message_complete;
}

void
sconn_start(struct sconn *c)
{
	struct sconn_listener *l = c->l;

	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	c->rev = event_new(l->base, c->fd, EV_READ | EV_PERSIST, conn_on_read, c);
	c->wev = event_new(l->base, c->fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
	c->tev = evtimer_new(l->base, conn_on_timeout, c);
	c->keep_alive = true;
	event_add(c->rev, NULL);
	/* The first request's deadline starts now, not at its first byte. */
	conn_arm_at(c, timeutil_mono_ms() + first_request_ms(&l->lim));
}

uint64_t
sconn_listener_requests(const struct sconn_listener *l, int status)
{
	return l != NULL && status >= 0 && status < SCONN_STATUS_MAX
	               ? l->status_count[status]
	               : 0;
}

int
sconn_peer_parked(const struct sconn *c)
{
	return c->pu != NULL ? c->pu->polls - (c->parked ? 1 : 0) : 0;
}
