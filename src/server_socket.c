/* server_socket.c - the local API's listening socket (server_socket.h). */
#include "server_socket.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "xalloc.h"

/* A path that exists may be replaced only if it is a socket nobody
 * listens on: a crashed tokend's leftover. */
static int
clear_stale(const char *path, struct err *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1)
		return errno == ENOENT
		               ? 0
		               : err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return err_set(err, ERR_IO,
		               "%s exists and is not a socket; not replacing it", path);
	strncpy(sun.sun_path, path, sizeof(sun.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return err_set(err, ERR_IO, "socket: %s", strerror(errno));
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0)
		return err_set(err, ERR_IO,
		               "%s: another process (a running tokend?) is "
		               "listening on it",
		               path);
	if (errno != ECONNREFUSED)
		return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	if (unlink(path) == -1)
		return err_set(err, ERR_IO, "unlink stale %s: %s", path, strerror(errno));
	log_notice("replaced stale socket %s", path);
	return 0;
}

static void
make_parent(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');

	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) == 0)
			log_info("created %s (0750)", dir);
	}
	free(dir);
}

/* The mode is applied through the umask before bind, never by chmod after
 * listen: in between, anyone could connect. */
int
server_socket_listen(const struct config_daemon *cfg, struct err *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	if (strlen(cfg->socket_path) >= sizeof(sun.sun_path))
		return err_set(err, ERR_CONFIG, "socket path too long: %s",
		               cfg->socket_path);
	strcpy(sun.sun_path, cfg->socket_path);
	make_parent(cfg->socket_path);
	if (clear_stale(cfg->socket_path, err) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return err_set(err, ERR_IO, "socket: %s", strerror(errno));
	old = umask(~cfg->socket_mode & 0777);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1) {
		err_set(err, ERR_IO, "bind %s: %s", cfg->socket_path, strerror(errno));
		goto fail;
	}
	if (cfg->socket_group != NULL &&
	    chown(cfg->socket_path, (uid_t)-1, cfg->socket_gid) == -1) {
		err_set(err, ERR_IO, "chown %s to group %s: %s", cfg->socket_path,
		        cfg->socket_group, strerror(errno));
		goto fail_unlink;
	}
	/* Not SOMAXCONN (4096): the backlog is a FIFO that tokend drains, and
	 * under a connection flood a legitimate client waits behind every
	 * connection queued ahead of it, each costing an accept, a 503 and a
	 * close. 511, as nginx and Redis use, bounds that wait to a few
	 * milliseconds; clients beyond it block in connect() (or get EAGAIN
	 * when non-blocking) until tokend accepts, which it always does. */
	if (listen(fd, SERVER_SOCKET_BACKLOG) == -1) {
		err_set(err, ERR_IO, "listen %s: %s", cfg->socket_path, strerror(errno));
		goto fail_unlink;
	}
	return fd;
fail_unlink:
	unlink(cfg->socket_path);
fail:
	close(fd);
	return -1;
}
