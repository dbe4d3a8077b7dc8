/* daemon.c - wiring: config to sources, tokens, server and systemd. */
#include "daemon.h"

#include <event2/event.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "aws_creds.h"
#include "clockstep.h"
#include "config.h"
#include "config_source.h"
#include "drain.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "server.h"
#include "source_elasticache.h"
#include "source_oauth2.h"
#include "source_rds.h"
#include "ssm.h"
#include "store_ssm.h"
#include "store_ssm_secrets.h"
#include "timeutil.h"
#include "token.h"
#include "xalloc.h"

/* How long the SSM writes and lease releases under way may hold up an
 * exit: --once exists to persist, so it waits longer; a stop must stay
 * well inside ECS's 30 s stopTimeout and systemd's TimeoutStopSec. */
#define ONCE_DRAIN_MS     10000
#define SHUTDOWN_DRAIN_MS 3000

static int
make_inner_source(struct daemon *d, const struct token_def *def, struct token_source *src,
                  struct err *err)
{
	switch (def->type) {
	case TOKEN_TYPE_OAUTH2:
	case TOKEN_TYPE_AUTH0: return source_oauth2_new(def, d->http, src, err);
	case TOKEN_TYPE_RDS: return source_rds_new(def, d->creds, src, err);
	case TOKEN_TYPE_ELASTICACHE:
		return source_elasticache_new(def, d->creds, src, err);
	}
	return err_set(err, ERR_INTERNAL, "unknown token type %d", (int)def->type);
}

/* The token's source: issuer or signer, behind the SSM store when the
 * token is persisted. */
static int
make_source(struct daemon *d, const struct token_def *def, struct token_source *src,
            struct err *err)
{
	if (make_inner_source(d, def, src, err) == -1 ||
	    (def->ssm_parameter != NULL &&
	     store_ssm_wrap(def, d->ssm, *src, src, err) == -1)) {
		err_prefix(err, "token \"%s\"", def->name);
		return -1;
	}
	return 0;
}

static void
free_source(struct token_source *src)
{
	if (src->ops != NULL && src->ops->free != NULL)
		src->ops->free(src->impl);
	src->ops = NULL;
}

/* One line for systemd's STATUS= and `systemctl status`. */
static void
update_status(struct daemon *d)
{
	char missing[160] = "";
	size_t n = token_table_count(d->tokens), valid = 0, off = 0;
	int64_t now = timeutil_wall_ms();
	char status[sizeof(d->status)];

	for (size_t i = 0; i < n; i++) {
		struct token *tok = token_table_at(d->tokens, i);

		if (token_servable(tok, now, NULL)) {
			valid++;
		} else if (off < sizeof(missing)) {
			int w = snprintf(missing + off, sizeof(missing) - off, "%s%s",
			                 off ? ", " : "", tok->name);
			off += w > 0 ? (size_t)w : 0;
		}
	}
	if (valid == n)
		snprintf(status, sizeof(status), "%zu/%zu tokens valid", valid, n);
	else
		snprintf(status, sizeof(status), "%zu/%zu tokens valid; waiting for: %s",
		         valid, n, missing);
	if (strcmp(status, d->status) != 0) {
		memcpy(d->status, status, sizeof(status));
		notify_status("%s", status);
	}
}

/* A value is served before it is written (store_ssm_write.c): --once and
 * a stop wait for the writes and lease releases under way, so that the
 * values are persisted and the fleet's next reader finds no lease. */
static void
on_drained(bool finished, void *arg)
{
	struct daemon *d = arg;

	if (!finished)
		log_warn("%s: exiting with a write to SSM still under way",
		         d->once ? "--once" : "shutdown");
	/* loopexit, not loopbreak: this may run before the loop starts (no
	 * tokens), and a break set then is forgotten. */
	event_base_loopexit(d->base, NULL);
}

/* tokend --once: one line per token on stdout, for init containers and
 * cron; the exit code says whether every token is valid. */
static void
finish_once(struct daemon *d)
{
	size_t n = token_table_count(d->tokens), valid = 0;
	int64_t now = timeutil_wall_ms();

	for (size_t i = 0; i < n; i++) {
		struct token *tok = token_table_at(d->tokens, i);
		struct err why = { 0 };

		if (token_servable(tok, now, &why)) {
			valid++;
			printf("%s\tvalid\t%s\texpires in %llds\n", tok->name,
			       token_origin_name(tok->origin),
			       (long long)((tok->expires_at_ms - now) / 1000));
		} else {
			printf("%s\tmissing\t%s\n", tok->name,
			       why.msg[0] ? why.msg : "no value yet");
		}
	}
	fflush(stdout);
	d->exit_code = valid == n ? 0 : 1;
	d->drain = drain_writes(d->base, d->tokens, ONCE_DRAIN_MS, on_drained, d);
}

static void
become_ready(struct daemon *d, const char *why)
{
	if (d->ready)
		return;
	d->ready = true;
	if (d->startup_timer != NULL)
		event_del(d->startup_timer);
	if (d->server != NULL)
		server_set_startup_wait(d->server, 0);
	if (d->once) {
		finish_once(d);
		return;
	}
	log_notice("ready (%s): %s", why, d->status);
	/* Start-up (libraries' initialisation, the first fetches) leaves free
	 * chunks amid the heap; give their pages back before the long idle. */
	malloc_trim(0);
	notify_ready();
}

static void
on_token_change(struct token *tok, void *arg)
{
	struct daemon *d = arg;

	if (d->server != NULL)
		server_token_changed(d->server, tok);
	update_status(d);
	if (!d->ready && token_table_all_valid(d->tokens))
		become_ready(d, "every token holds a valid value");
}

static void
on_startup_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	update_status(d);
	log_warn("startup_timeout passed before every token was valid");
	become_ready(d, "startup_timeout passed");
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	/* The loop ran this callback on time: that is the health we report. */
	notify_watchdog();
}

static void
on_credentials_change(void *arg)
{
	struct daemon *d = arg;
	/* NULL while daemon_fini waits for the last lease deletes. */
	size_t n = d->tokens != NULL ? token_table_count(d->tokens) : 0;

	/* A token signed with the old credentials dies with them: re-sign now. */
	for (size_t i = 0; i < n; i++) {
		struct token *tok = token_table_at(d->tokens, i);

		if (tok->def->type == TOKEN_TYPE_RDS ||
		    tok->def->type == TOKEN_TYPE_ELASTICACHE)
			(void)token_refresh_now(tok, NULL);
	}
}

static void
on_clock_step(int64_t step_ms, void *arg)
{
	struct daemon *d = arg;

	log_notice("clock: the wall clock was set (%+" PRId64 " ms against the boot "
	           "clock): re-arming every token's timers",
	           step_ms);
	token_table_clock_stepped(d->tokens);
	update_status(d);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	if (sig == SIGHUP) {
		daemon_reload(d);
		return;
	}
	if (d->drain != NULL || d->tokens == NULL) {
		/* A second signal, one during --once's wait, or one while
		 * daemon_fini waits for the lease deletes: no more waiting. */
		log_notice("%s: exiting now", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		event_base_loopbreak(d->base);
		return;
	}
	log_notice("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	notify_stopping();
	d->drain = drain_writes(d->base, d->tokens, SHUTDOWN_DRAIN_MS, on_drained, d);
}

static bool uses_ssm(const struct config *cfg);

/* --- reload (SIGHUP) ------------------------------------------------------ */

/* Everything a new config needs that may not exist yet: AWS credentials
 * and the SSM client appear when the first token needing them does. */
static int
reload_prepare(struct daemon *d, struct config *next, struct err *err)
{
	if (d->creds == NULL && config_needs_aws(next)) {
		d->creds = aws_creds_new(d->base, d->http, &next->aws, err);
		if (d->creds == NULL)
			return -1;
		aws_creds_subscribe(d->creds, on_credentials_change, d);
		aws_creds_start(d->creds);
	}
	if (d->ssm == NULL && d->creds != NULL && uses_ssm(next)) {
		d->ssm = ssm_client_new(d->base, d->http, d->creds,
		                        aws_creds_region(d->creds, NULL), err);
		if (d->ssm == NULL)
			return -1;
	}
	return 0;
}

static void
reload_failed(struct daemon *d, struct config *next, const char *msg)
{
	log_error("reload failed, keeping the running configuration: %s", msg);
	d->reloads_failed++;
	config_free(next);
	notify_ready();
}

static void
warn_restart_needed(const struct config *prev, const struct config *next)
{
	const struct config_daemon *a = &prev->daemon, *b = &next->daemon;

	if (strcmp(a->socket_path, b->socket_path) != 0 ||
	    a->socket_mode != b->socket_mode ||
	    (a->socket_group == NULL) != (b->socket_group == NULL) ||
	    (a->socket_group != NULL && strcmp(a->socket_group, b->socket_group) != 0))
		log_warn("reload: socket, socket_mode and socket_group changes take "
		         "effect at the next restart");
	if (prev->aws.credentials != next->aws.credentials)
		log_warn("reload: [aws] credentials changes take effect at the next "
		         "restart");
}

/* Swaps next in: removed tokens go, changed ones are rebuilt, unchanged
 * ones keep their value and version, new ones start. Every source is
 * built before anything changes, so a failure leaves all as it was. */
static void
reload_apply(struct daemon *d, struct config *next)
{
	struct config *prev = d->config;
	struct token_source *srcs = xcalloc(next->ntokens, sizeof(*srcs));
	size_t kept = 0, rebuilt = 0, added = 0, removed = 0;
	struct err err = { 0 };

	for (size_t i = 0; i < next->ntokens; i++) {
		if (make_source(d, next->tokens[i], &srcs[i], &err) == -1) {
			for (size_t j = 0; j < i; j++)
				free_source(&srcs[j]);
			free(srcs);
			reload_failed(d, next, err.msg);
			return;
		}
	}
	for (size_t i = token_table_count(d->tokens); i-- > 0;) {
		struct token *tok = token_table_at(d->tokens, i);

		if (config_find_token(next, tok->name) == NULL) {
			server_token_removed(d->server, tok);
			token_table_remove(d->tokens, tok);
			removed++;
		}
	}
	for (size_t i = 0; i < next->ntokens; i++) {
		const struct token_def *def = next->tokens[i];
		struct token *tok = token_table_find(d->tokens, def->name);

		if (tok == NULL) {
			token_table_add(d->tokens, def, srcs[i]);
			added++;
		} else {
			bool same = config_token_def_equal(tok->def, def);

			token_table_replace(d->tokens, tok, def, srcs[i], same);
			same ? kept++ : rebuilt++;
		}
	}
	free(srcs);
	warn_restart_needed(prev, next);
	if (d->server != NULL)
		server_set_config(d->server, &next->daemon);
	if (d->creds != NULL)
		aws_creds_set_config(d->creds, &next->aws);
	log_setup(next->daemon.log_format, next->daemon.log_level);
	d->config = next;
	config_free(prev);
	d->reloads_ok++;
	log_notice("reloaded %s: %zu kept, %zu rebuilt, %zu added, %zu removed",
	           next->path ? next->path : "configuration", kept, rebuilt, added,
	           removed);
	update_status(d);
	notify_ready();
}

/* A SIGHUP that came while secrets were being read runs now. */
static void
run_deferred_reload(struct daemon *d)
{
	if (!d->reload_deferred)
		return;
	d->reload_deferred = false;
	log_notice("SIGHUP: running the reload deferred while secrets were read");
	daemon_reload(d);
}

static void
on_reload_secrets(const struct err *err, void *arg)
{
	struct daemon *d = arg;
	struct config *next = d->pending;

	d->secrets = NULL;
	d->pending = NULL;
	if (err->code != ERR_OK)
		reload_failed(d, next, err->msg);
	else
		reload_apply(d, next);
	run_deferred_reload(d);
}

void
daemon_reload(struct daemon *d)
{
	struct config *next = NULL;
	struct err err = { 0 };

	/* Start-up's or a reload's ssm: secrets are still being read: their
	 * completion must not meet tokens or a config that a reload freed. */
	if (d->secrets != NULL || d->pending != NULL) {
		if (!d->reload_deferred)
			log_notice("SIGHUP: ssm: secrets are still being read; the "
			           "reload runs when they are done");
		d->reload_deferred = true;
		return;
	}
	notify_reloading();
	log_notice("SIGHUP: reloading %s", d->config->path);
	if (config_source_load(d->config->path, &next, &err) == -1) {
		reload_failed(d, NULL, err.msg);
		return;
	}
	if (reload_prepare(d, next, &err) == -1) {
		reload_failed(d, next, err.msg);
		return;
	}
	/* ssm: secret references resolve before the new tokens exist. */
	if (d->ssm != NULL && store_ssm_secrets_needed(next)) {
		d->pending = next;
		d->secrets =
		        store_ssm_secrets_resolve(d->ssm, next, on_reload_secrets, d);
		return;
	}
	reload_apply(d, next);
}

static struct event_base *
new_base(struct err *err)
{
	struct event_config *ec = event_config_new();
	struct event_base *base = NULL;

	if (ec == NULL) {
		err_set(err, ERR_INTERNAL, "event_config_new failed");
		return NULL;
	}
	/* Coalesces the event changes made within one loop iteration into one
	 * epoll_ctl each (libcurl adds and removes its sockets often). */
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (base == NULL)
		err_set(err, ERR_INTERNAL, "event_base_new failed");
	return base;
}

static int
add_signals(struct daemon *d, struct err *err)
{
	d->sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sigint = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sighup = evsignal_new(d->base, SIGHUP, on_signal, d);
	if (d->sigterm == NULL || d->sigint == NULL || d->sighup == NULL ||
	    evsignal_add(d->sigterm, NULL) || evsignal_add(d->sigint, NULL) ||
	    evsignal_add(d->sighup, NULL))
		return err_set(err, ERR_INTERNAL, "cannot install signal handlers");
	return 0;
}

static bool
uses_ssm(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->ntokens; i++) {
		if (cfg->tokens[i]->ssm_parameter != NULL)
			return true;
	}
	return store_ssm_secrets_needed(cfg);
}

static int
add_tokens(struct daemon *d, struct err *err)
{
	const struct config *cfg = d->config;

	for (size_t i = 0; i < cfg->ntokens; i++) {
		struct token_source src;

		if (make_source(d, cfg->tokens[i], &src, err) == -1)
			return -1;
		token_table_add(d->tokens, cfg->tokens[i], src);
	}
	return 0;
}

static void
add_timers(struct daemon *d)
{
	uint64_t wd = notify_watchdog_usec();
	struct timeval tv;

	d->startup_timer = evtimer_new(d->base, on_startup_timeout, d);
	tv.tv_sec = d->config->daemon.startup_timeout_ms / 1000;
	tv.tv_usec = (d->config->daemon.startup_timeout_ms % 1000) * 1000;
	evtimer_add(d->startup_timer, &tv);

	if (wd > 0) {
		wd /= 2;
		tv.tv_sec = (time_t)(wd / 1000000);
		tv.tv_usec = (suseconds_t)(wd % 1000000);
		d->watchdog_timer = event_new(d->base, -1, EV_PERSIST, on_watchdog, d);
		event_add(d->watchdog_timer, &tv);
	}
}

/* issuer_budget (tokend.conf(5)): past this month's budget a forced
 * refresh is refused; scheduled refreshes go on, so the token never lapses. */
static int
refresh_check(struct token *tok, struct err *err, void *arg)
{
	(void)arg;
	if (!store_ssm_budget_exceeded(&tok->source, timeutil_wall_ms()))
		return 0;
	return err_set(err, ERR_THROTTLED,
	               "%s: issuer_budget (%lld issuer calls a month) is used up: "
	               "forced refreshes are refused until next month; scheduled "
	               "refreshes go on",
	               tok->name, (long long)tok->def->issuer_budget);
}

/* Socket activation starts tokend at the first connection: that client
 * waits for the first value this long at most (startup_timeout, capped
 * below tokenctl's 10 s timeout) instead of getting a 503 at once. */
#define ACTIVATION_WAIT_MAX_MS 8000

static int64_t
activation_wait_ms(const struct config *cfg)
{
	int64_t ms = cfg->daemon.startup_timeout_ms;

	return ms < ACTIVATION_WAIT_MAX_MS ? ms : ACTIVATION_WAIT_MAX_MS;
}

int
daemon_init(struct daemon *d, struct config *cfg, unsigned flags, struct err *err)
{
	int listen_fd;

	memset(d, 0, sizeof(*d));
	d->listen_fd = -1;
	d->config = cfg;
	d->once = (flags & DAEMON_ONCE) != 0;
	if ((d->base = new_base(err)) == NULL)
		return -1;
	if (add_signals(d, err) == -1)
		return -1;
	if ((d->http = http_client_new(d->base, err)) == NULL)
		return -1;
	if (config_needs_aws(cfg)) {
		d->creds = aws_creds_new(d->base, d->http, &cfg->aws, err);
		if (d->creds == NULL)
			return -1;
		aws_creds_subscribe(d->creds, on_credentials_change, d);
		/* Resolve now, so the first IAM tokens do not wait on it. */
		if ((flags & DAEMON_CHECK) == 0)
			aws_creds_start(d->creds);
		if (uses_ssm(cfg)) {
			d->ssm = ssm_client_new(d->base, d->http, d->creds,
			                        aws_creds_region(d->creds, NULL), err);
			if (d->ssm == NULL)
				return -1;
		}
	}
	d->tokens = token_table_new(d->base);
	if (add_tokens(d, err) == -1)
		return -1;

	if ((flags & DAEMON_CHECK) != 0)
		return 0;
	if (!d->once) {
		listen_fd = notify_listen_fd();
		if (listen_fd == -2)
			return err_set(err, ERR_CONFIG,
			               "socket activation passed more than one socket");
		d->listen_fd = listen_fd;
		d->server = server_new(d->base, &cfg->daemon, d->tokens, listen_fd, err);
		if (d->server == NULL)
			return -1;
		server_set_metrics(d->server, metrics_write, d);
		server_set_refresh_check(d->server, refresh_check, d);
		if (listen_fd >= 0)
			server_set_startup_wait(
			        d->server, timeutil_wall_ms() + activation_wait_ms(cfg));
	}

	token_table_set_observer(d->tokens, on_token_change, d);
	add_timers(d);
	d->clock = clockstep_new(d->base, on_clock_step, d);
	return 0;
}

/* ssm: secret references are resolved before any token starts. */
static void
on_secrets(const struct err *err, void *arg)
{
	struct daemon *d = arg;

	d->secrets = NULL;
	if (err->code != ERR_OK) {
		log_error("%s", err->msg);
		d->exit_code = 1;
		event_base_loopbreak(d->base);
		return;
	}
	token_table_start(d->tokens);
	run_deferred_reload(d);
}

/* The socket clients reach: under socket activation the one systemd
 * passed (its path may differ from the config's, which is then unused). */
static void
describe_socket(const struct daemon *d, char *buf, size_t size)
{
	struct sockaddr_un sun = { 0 };
	socklen_t len = sizeof(sun);

	if (d->once) {
		snprintf(buf, size, "none (--once)");
		return;
	}
	if (d->listen_fd < 0) {
		snprintf(buf, size, "%s", d->config->daemon.socket_path);
		return;
	}
	if (getsockname(d->listen_fd, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path))
		snprintf(buf, size, "fd %d (passed by systemd, not a Unix socket?)",
		         d->listen_fd);
	else if (sun.sun_path[0] == '\0')
		snprintf(buf, size, "@%.*s (passed by systemd)",
		         (int)(len - offsetof(struct sockaddr_un, sun_path) - 1),
		         sun.sun_path + 1);
	else
		snprintf(buf, size, "%.*s (passed by systemd)", (int)sizeof(sun.sun_path),
		         sun.sun_path);
}

int
daemon_run(struct daemon *d)
{
	char sock[160];

	describe_socket(d, sock, sizeof(sock));
	log_notice("tokend %s started: config %s, %zu token(s), socket %s",
	           PACKAGE_VERSION, d->config->path, d->config->ntokens, sock);
	update_status(d);
	if (d->ssm != NULL && store_ssm_secrets_needed(d->config))
		d->secrets = store_ssm_secrets_resolve(d->ssm, d->config, on_secrets, d);
	else
		token_table_start(d->tokens);
	if (token_table_count(d->tokens) == 0)
		become_ready(d, "no tokens configured");
	if (event_base_dispatch(d->base) == -1) {
		log_error("event loop failed");
		return 1;
	}
	return d->exit_code;
}

static void
del_events(struct daemon *d)
{
	struct event *evs[] = { d->startup_timer, d->watchdog_timer, d->sighup };

	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			event_del(evs[i]);
}

void
daemon_fini(struct daemon *d)
{
	/* Order matters: the server and the tokens hold calls into the HTTP
	 * client and the credentials, which hold events of the base. */
	server_free(d->server);
	clockstep_free(d->clock);
	store_ssm_secrets_cancel(d->secrets);
	config_free(d->pending);
	drain_free(d->drain); /* before the tokens it reads */
	d->drain = NULL;
	token_table_free(d->tokens);
	d->tokens = NULL;
	/* A token cancelled holding its lease sent the lease's delete: it
	 * goes out before the SSM client, or the fleet waits the lease out.
	 * Only SIGTERM and SIGINT may run meanwhile (and end the wait). */
	del_events(d);
	drain_ssm_calls(d->base, d->ssm, STORE_SSM_DROP_MS);
	ssm_client_free(d->ssm); /* after the tokens: their stores hold calls */
	aws_creds_free(d->creds);
	http_client_free(d->http);
	if (d->startup_timer != NULL)
		event_free(d->startup_timer);
	if (d->watchdog_timer != NULL)
		event_free(d->watchdog_timer);
	if (d->sigterm != NULL)
		event_free(d->sigterm);
	if (d->sigint != NULL)
		event_free(d->sigint);
	if (d->sighup != NULL)
		event_free(d->sighup);
	if (d->base != NULL)
		event_base_free(d->base);
	config_free(d->config);
	memset(d, 0, sizeof(*d));
}
