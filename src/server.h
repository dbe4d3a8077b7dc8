/* server.h - the local API: HTTP/1.1 over a Unix socket (server_conn.c).
 *
 * The server knows nothing of issuers: it reads the token table and
 * answers. Routes: GET /v1/tokens, GET /v1/tokens/NAME (JSON, or the bare
 * token with ?format=raw or Accept: text/plain; long-poll with
 * ?newer_than=V&timeout=S), POST /v1/tokens/NAME/refresh (admin peers),
 * GET /healthz, GET /readyz, GET /metrics.
 *
 * A token the peer may not read is answered as if it did not exist (404);
 * /metrics and /readyz name only the tokens the peer may read (admins see
 * all). Forced refreshes pass the refresh check (issuer_budget) first.
 */
#ifndef TOKEND_SERVER_H
#define TOKEND_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct event_base;
struct evbuffer;
struct config_daemon;
struct token_table;
struct token;
struct server;

/* True if the peer asking (ctx) may see tok's series. */
typedef bool server_visible_fn(const struct token *tok, const void *ctx);
/* Writes the Prometheus text of GET /metrics into out: the series of a
 * token only if visible(tok, ctx). */
typedef void server_metrics_fn(struct evbuffer *out, server_visible_fn *visible,
                               const void *ctx, void *arg);
/* Consulted before a forced refresh; -1 with err refuses it (429). */
typedef int server_refresh_check_fn(struct token *tok, struct err *err, void *arg);

/* listen_fd >= 0 is an inherited (socket-activated) listener that the
 * server neither creates nor unlinks. Otherwise the socket at
 * cfg->socket_path is created with cfg->socket_mode (through the umask,
 * before bind) and cfg->socket_group; a stale socket with nothing behind
 * it is replaced; a live one or a non-socket file is an error. cfg and
 * tokens are borrowed. */
struct server *server_new(struct event_base *base, const struct config_daemon *cfg,
                          struct token_table *tokens, int listen_fd, struct err *err);
/* Closes the listener and every connection; unlinks the socket the server
 * created. NULL does nothing. */
void server_free(struct server *srv);

/* A token's value or state changed: answers long-polls waiting on it. */
void server_token_changed(struct server *srv, struct token *tok);
/* A token is about to be freed (reload): answers its long-polls 404. */
void server_token_removed(struct server *srv, struct token *tok);
/* After a reload: limits and admin_uids from the new config. The socket
 * itself (path, mode, group) is kept: changing it needs a restart. */
void server_set_config(struct server *srv, const struct config_daemon *cfg);

/* Until wall time until_ms, a GET of a token that has never had a value
 * waits for its first one (socket activation: clients may connect before
 * it exists) and gets 503 only if none comes by then. 0 ends the wait and
 * answers every such waiting GET now. */
void server_set_startup_wait(struct server *srv, int64_t until_ms);

/* Serves fd, a connected socket accepted elsewhere (the fuzz harness). */
void server_adopt(struct server *srv, int fd);

void server_set_metrics(struct server *srv, server_metrics_fn *fn, void *arg);
void server_set_refresh_check(struct server *srv, server_refresh_check_fn *fn, void *arg);

/* Requests answered with this HTTP status since start (for metrics). */
uint64_t server_requests(const struct server *srv, int status);

#endif
