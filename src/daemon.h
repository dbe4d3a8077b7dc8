/* daemon.h - the one object that ties tokend together: event loop, config,
 * HTTP client, AWS credentials, token table and server. Created by main.c
 * and passed down; there is no other global state. */
#ifndef TOKEND_DAEMON_H
#define TOKEND_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct config;

struct daemon {
	struct event_base *base;
	struct config *config; /* owned */
	struct http_client *http;
	struct aws_creds *creds; /* NULL when no token needs AWS */
	struct ssm_client *ssm;  /* NULL when nothing is kept in or read from SSM */
	struct store_ssm_secrets *secrets; /* ssm: references being resolved */
	struct token_table *tokens;
	struct server *server;
	struct clockstep *clock; /* NULL when the kernel has no such timer */
	int listen_fd;           /* the listener socket activation passed, else -1 */

	struct event *sigterm, *sigint, *sighup;
	struct event *startup_timer, *watchdog_timer;
	struct drain *drain;    /* --once or SIGTERM: waits for the stores' writes */
	struct config *pending; /* a reload waiting for its ssm: secrets */
	/* A SIGHUP came while start-up or a reload was still resolving ssm:
	 * secrets: it runs when they are done, never beside them. */
	bool reload_deferred;
	uint64_t reloads_ok, reloads_failed;
	bool ready;
	bool once;        /* tokend --once: obtain every token, persist, exit */
	char status[256]; /* last STATUS= sent, to send only changes */
	int exit_code;
};

#define DAEMON_ONCE  0x1 /* no socket: obtain every token, print, exit 0/1 */
#define DAEMON_CHECK 0x2 /* --check-config: build everything, start nothing */

/* Builds everything from cfg (ownership of cfg passes to d, also on
 * failure). -1 with err when something cannot start (the socket is taken,
 * a source cannot be built). */
int daemon_init(struct daemon *d, struct config *cfg, unsigned flags, struct err *err);
/* SIGHUP: re-reads the config file. A config that fails validation leaves
 * the running one untouched (logged, counted in reloads_failed). While
 * ssm: secrets of the start-up or of a reload are still being read, the
 * reload is deferred until they are done. */
void daemon_reload(struct daemon *d);
/* Runs the loop until SIGTERM/SIGINT (then the SSM writes under way get
 * up to 3 s, a second signal ends the wait); returns the exit code. */
int daemon_run(struct daemon *d);
/* Frees everything daemon_init built; the lease deletes of tokens cancelled
 * mid-refresh get up to 2 s to reach SSM first. Safe after a failed init. */
void daemon_fini(struct daemon *d);

#endif
