/* fuzz_router.c - the local API as a client sees it: raw bytes on one
 * connection, through the HTTP parser (server_conn.c), the target checks
 * (sconn_parse_target) and the routes (server.c), with an empty token
 * table. The input is what the client sends before it shuts its side;
 * every answer must be well-formed HTTP and the connection must end. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "server.h"
#include "server_conn.h"
#include "token.h"

static struct event_base *base;
static struct config *cfg;
static struct token_table *tokens;
static struct server *srv;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct err err = { 0 };
	int idle[2];

	(void)argc;
	(void)argv;
	fuzz_setup();
	base = event_base_new();
	if (config_load_string("[daemon]\nmax_connections = 4\n", "fuzz.conf", &cfg,
	                       &err) != 0)
		abort();
	tokens = token_table_new(base);
	/* The listener is a pipe nobody writes: only adopted connections. */
	if (pipe(idle) != 0)
		abort();
	srv = server_new(base, &cfg->daemon, tokens, idle[0], &err);
	if (srv == NULL)
		abort();
	return 0;
}

/* Reads what the server answered until it closes; checks each answer
 * starts as HTTP/1.1 does. */
static void
drain(int fd)
{
	char buf[65536];
	bool first = true;

	for (int spins = 0; spins < 10000; spins++) {
		ssize_t n;

		event_base_loop(base, EVLOOP_NONBLOCK);
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return;
		if (n < 0)
			continue;
		if (first && (n < 9 || memcmp(buf, "HTTP/1.1 ", 9) != 0))
			abort();
		first = false;
	}
	abort(); /* the connection never ended */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	const char *path, *query;
	char *target;
	size_t len;
	struct fuzz_input in = { data, size };

	/* The pure target check on the first line's bytes. */
	target = fuzz_take_field(&in, '\n', &len);
	if (sconn_parse_target(target, len, &path, &query) == 0 && path[0] != '/')
		abort();
	free(target);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	server_adopt(srv, sv[0]);
	/* max_len keeps the input within the socket buffer. */
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	drain(sv[1]);
	close(sv[1]);
	return 0;
}
