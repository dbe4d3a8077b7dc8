/* server_accept.c - the listener of the local API (server_conn.h): it
 * never stops accepting, so that one local user cannot make the others
 * wait in the kernel's backlog.
 *
 * Like nginx reusing its idle keep-alive connections when it runs out,
 * at max_connections the connection that has gone longest without an
 * answer and has no request being answered (idle, or a request not yet
 * complete) is closed to make room; if every connection is busy, the
 * newcomer gets 503. Like HAProxy's per-source conn_cur rule, a uid beyond
 * its cap is answered 503 at once. Privileged peers are exempt from that
 * cap, are never shed for an unprivileged newcomer, and the last
 * max_conns/16 slots are theirs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "server_conn_int.h"
#include "timeutil.h"
#include "xalloc.h"

#define ACCEPT_BURST   64 /* accepts per wake-up, so serving goes on */
#define NOFILE_RESERVE 64 /* descriptors kept for issuer, SSM and AWS calls */
#define LOG_EVERY_MS   10000

/* --- the list, most recently accepted or answered first -------------------- */

void
sconn_link_front(struct sconn *c)
{
	struct sconn_listener *l = c->l;

	c->prev = NULL;
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	else
		l->tail = c;
	l->conns = c;
}

void
sconn_unlink(struct sconn *c)
{
	struct sconn_listener *l = c->l;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

/* --- limits ------------------------------------------------------------------ */

static int
vip_reserve(const struct sconn_listener *l)
{
	int r = l->lim.max_conns / 16;

	return r > 0 ? r : 1;
}

/* max_conns within RLIMIT_NOFILE, keeping NOFILE_RESERVE descriptors for
 * the calls tokend makes itself: a full listener must not make a refresh
 * fail with EMFILE. The soft limit is raised towards the hard one first
 * (tokend never uses select()); a seccomp filter may refuse that. */
static int
clamp_conns(int want)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)want + NOFILE_RESERVE;
	int fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return want;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit up = rl;

		up.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need
		                      ? need
		                      : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return want;
	fit = rl.rlim_cur > NOFILE_RESERVE + 1 ? (int)(rl.rlim_cur - NOFILE_RESERVE) : 1;
	log_warn("max_connections = %d does not fit RLIMIT_NOFILE %llu (%d descriptors "
	         "are kept for outbound calls): serving at most %d connections",
	         want, (unsigned long long)rl.rlim_cur, NOFILE_RESERVE, fit);
	return fit;
}

static void
set_limits(struct sconn_listener *l, const struct sconn_limits *lim)
{
	l->lim = *lim;
	l->lim.max_conns = clamp_conns(lim->max_conns);
	sconn_make_busy(l);
}

/* --- accept ------------------------------------------------------------------ */

/* Counts what was shed or refused; one log line per LOG_EVERY_MS at most,
 * whatever a flood does. */
static void
note(struct sconn_listener *l, bool refused)
{
	int64_t now = timeutil_mono_ms();

	refused ? l->refused++ : l->shed++;
	if (now - l->logged_ms < LOG_EVERY_MS)
		return;
	log_warn("server: %d connections open (max_connections %d): %llu refused "
	         "with 503, %llu idle or unfinished ones closed to make room",
	         l->nconns, l->lim.max_conns, (unsigned long long)l->refused,
	         (unsigned long long)l->shed);
	l->logged_ms = now;
	l->refused = l->shed = 0;
}

/* The connection longest without an answer and without a request being
 * answered or written; a privileged one only if vip_ok. */
static struct sconn *
victim(struct sconn_listener *l, bool vip_ok)
{
	for (struct sconn *c = l->tail; c != NULL; c = c->prev)
		if (!c->waiting && c->out_len == 0 && !c->close_after &&
		    (vip_ok || !c->vip))
			return c;
	return NULL;
}

/* Makes room for a newcomer; false if there is none to make. */
static bool
make_room(struct sconn_listener *l, bool vip)
{
	bool over_plain = !vip && l->nplain >= l->lim.max_conns - vip_reserve(l);
	struct sconn *v;

	if (l->nconns < l->lim.max_conns && !over_plain)
		return true;
	if ((v = victim(l, vip)) == NULL)
		return false;
	/* An unprivileged newcomer over its share must free an unprivileged
	 * slot, not a privileged one (victim() already skips those). */
	sconn_free(v, true);
	note(l, false);
	return true;
}

/* A newcomer over its uid's cap, or with no room to make: refused before
 * anything is allocated for it, so that a flood costs an accept, a
 * getsockopt and a send per connection. */
static bool
admit(struct sconn_listener *l, bool vip, const struct speer *pu)
{
	if (!vip && pu != NULL && pu->conns >= l->lim.max_conns_per_uid)
		return false;
	return make_room(l, vip);
}

static void
conn_new(struct sconn_listener *l, int fd)
{
	struct ucred peer;
	socklen_t slen = sizeof(peer);
	bool peer_ok = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &slen) == 0;
	bool vip = peer_ok && l->h.is_vip != NULL && l->h.is_vip(peer.uid, l->h.arg);
	struct sconn *c;

	if (!admit(l, vip, peer_ok ? speers_find(l->peers, peer.uid) : NULL)) {
		note(l, true);
		sconn_refuse_fd(l, fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->l = l;
	c->fd = fd;
	c->peer = peer;
	c->peer_ok = peer_ok;
	c->vip = vip;
	if (peer_ok) {
		c->pu = speers_get(l->peers, peer.uid);
		c->pu->conns++;
	}
	l->nconns++;
	if (!vip)
		l->nplain++;
	sconn_link_front(c);
	sconn_start(c);
}

static void
listener_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct sconn_listener *l = arg;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Level-triggered: retrying at once would spin. The
				 * descriptors kept by clamp_conns are for the refreshes:
				 * wait for them rather than take them. */
				struct timeval tv = { .tv_usec = 100000 };

				log_warn("server: accept: %s; pausing 100 ms",
				         strerror(errno));
				event_del(l->ev);
				evtimer_add(l->retry, &tv);
			} else if (errno != EAGAIN && errno != EINTR &&
			           errno != ECONNABORTED) {
				log_warn("server: accept: %s", strerror(errno));
			}
			return;
		}
		conn_new(l, fd);
	}
}

static void
listener_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct sconn_listener *l = arg;

	event_add(l->ev, NULL);
}

struct sconn_listener *
sconn_listener_new(struct event_base *base, int fd, const struct sconn_limits *lim,
                   const struct sconn_hooks *hooks, struct err *err)
{
	struct sconn_listener *l = xcalloc(1, sizeof(*l));

	l->base = base;
	l->fd = fd;
	l->h = *hooks;
	l->peers = speers_new();
	l->logged_ms = timeutil_mono_ms() - LOG_EVERY_MS;
	set_limits(l, lim);
	sconn_parser_settings(&l->settings);
	l->retry = evtimer_new(base, listener_on_retry, l);
	l->ev = event_new(base, fd, EV_READ | EV_PERSIST, listener_on_accept, l);
	if (l->ev == NULL || event_add(l->ev, NULL) == -1) {
		err_set(err, ERR_INTERNAL, "cannot watch the listening socket");
		if (l->ev != NULL)
			event_free(l->ev);
		event_free(l->retry);
		speers_free(l->peers);
		free(l->busy);
		free(l);
		return NULL;
	}
	return l;
}

void
sconn_listener_free(struct sconn_listener *l)
{
	if (l == NULL)
		return;
	while (l->conns != NULL)
		sconn_free(l->conns, false);
	event_free(l->ev);
	event_free(l->retry);
	speers_free(l->peers);
	free(l->busy);
	close(l->fd);
	free(l);
}

void
sconn_listener_adopt(struct sconn_listener *l, int fd)
{
	evutil_make_socket_nonblocking(fd);
	conn_new(l, fd);
}

void
sconn_listener_set_limits(struct sconn_listener *l, const struct sconn_limits *lim)
{
	set_limits(l, lim);
}
