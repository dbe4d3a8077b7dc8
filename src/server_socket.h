/* server_socket.h - the local API's listening socket: created with its
 * mode through the umask before bind (never chmod after listen: in
 * between, anyone could connect), its group set, a stale socket of a
 * crashed tokend replaced, a live one or a non-socket file refused.
 */
#ifndef TOKEND_SERVER_SOCKET_H
#define TOKEND_SERVER_SOCKET_H

#include "err.h"

/* The listen backlog (server_socket.c says why not SOMAXCONN). */
#define SERVER_SOCKET_BACKLOG 511

struct config_daemon;

/* A listening, non-blocking AF_UNIX socket at cfg->socket_path (its parent
 * directory made 0750 if missing), or -1 with err. */
int server_socket_listen(const struct config_daemon *cfg, struct err *err);

#endif
