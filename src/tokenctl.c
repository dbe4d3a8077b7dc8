/* tokenctl - the command-line client of tokend's Unix socket.
 *
 * Blocking libcurl is fine here: this is a short-lived CLI, not the loop.
 * Exit codes: 0 ok, 1 unavailable/unhealthy/not found, 2 usage. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "xalloc.h"

#define DEFAULT_SOCKET "/run/tokend/tokend.sock"
#define MAX_BODY       (1024 * 1024)

enum { EXIT_OK = 0, EXIT_UNAVAILABLE = 1, EXIT_USAGE = 2 };

struct body {
	char *data;
	size_t len;
};

static const char *sock_path;

static void
body_wipe(struct body *b)
{
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->len);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	char *grown;

	if (b->len + add > MAX_BODY)
		return 0;
	/* Grow by copying, so no unwiped copy of a token is left behind. */
	grown = xmalloc(b->len + add + 1);
	if (b->len > 0)
		memcpy(grown, b->data, b->len);
	memcpy(grown + b->len, p, add);
	grown[b->len + add] = '\0';
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->len);
		free(b->data);
	}
	b->data = grown;
	b->len += add;
	return add;
}

static void
group_name(gid_t gid, char *buf, size_t size)
{
	struct group *gr = getgrgid(gid);

	if (gr != NULL)
		snprintf(buf, size, "%s", gr->gr_name);
	else
		snprintf(buf, size, "%lu", (unsigned long)gid);
}

/* Permission denied: on the socket itself (its group may connect) or on
 * a directory on the way to it. */
static void
explain_eacces(void)
{
	char *dir = xstrdup(sock_path), *slash = strrchr(dir, '/');
	struct stat st;
	char grp[64];

	if (slash != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (slash != NULL && stat(dir, &st) == 0 && access(dir, X_OK) != 0) {
		group_name(st.st_gid, grp, sizeof(grp));
		fprintf(stderr,
		        "tokenctl: permission denied: directory %s (group %s, mode %04o) "
		        "may not be entered; join group %s or ask for access\n",
		        dir, grp, (unsigned)(st.st_mode & 07777), grp);
	} else if (stat(sock_path, &st) == 0) {
		group_name(st.st_gid, grp, sizeof(grp));
		fprintf(stderr,
		        "tokenctl: permission denied on socket %s (group %s, mode %04o): "
		        "join group %s (usermod -aG %s USER, then log in again), or run "
		        "as tokend's user\n",
		        sock_path, grp, (unsigned)(st.st_mode & 07777), grp, grp);
	} else {
		fprintf(stderr, "tokenctl: permission denied on %s: %s\n", sock_path,
		        strerror(EACCES));
	}
	free(dir);
}

/* curl says only "Failed to connect to localhost port 80": connect
 * ourselves to learn why, and say what to do about it. */
static void
explain_connect_failure(const char *curl_msg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err = 0;

	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "tokenctl: socket path %s is longer than %zu bytes\n",
		        sock_path, sizeof(sun.sun_path) - 1);
		return;
	}
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		err = 0;
	else
		err = errno;
	if (fd != -1)
		close(fd);
	if (err == ECONNREFUSED && stat(sock_path, &st) == 0 && !S_ISSOCK(st.st_mode))
		err = ENOTSOCK;
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		fprintf(stderr,
		        "tokenctl: no socket at %s: is tokend running? (another path? "
		        "-s PATH or TOKEND_SOCKET; tokend's log names its socket)\n",
		        sock_path);
		break;
	case ECONNREFUSED:
		fprintf(stderr,
		        "tokenctl: nothing listens on %s: is tokend running? (the "
		        "socket is left from one that stopped)\n",
		        sock_path);
		break;
	case EACCES:
	case EPERM: explain_eacces(); break;
	case ENOTSOCK:
		fprintf(stderr, "tokenctl: %s is not a socket (wrong -s path?)\n",
		        sock_path);
		break;
	default:
		fprintf(stderr, "tokenctl: cannot reach tokend at %s: %s\n", sock_path,
		        err ? strerror(err) : curl_msg);
	}
}

/* Returns the HTTP status, or -1 when tokend cannot be reached. */
static long
call(const char *method, const char *path, long timeout_s, struct body *out)
{
	char url[512], errbuf[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	long status = -1;
	CURLcode rc;

	if (c == NULL)
		return -1;
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock_path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else if (rc == CURLE_COULDNT_CONNECT)
		explain_connect_failure(errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else
		fprintf(stderr, "tokenctl: tokend at %s: %s\n", sock_path,
		        errbuf[0] ? errbuf : curl_easy_strerror(rc));
	curl_easy_cleanup(c);
	return status;
}

/* One line for a non-2xx answer: "tokenctl: NAME: 503 message". */
static int
complain(const char *what, long status, const struct body *b)
{
	json_t *doc = b->data ? json_loads(b->data, 0, NULL) : NULL;
	const char *msg = doc ? json_string_value(json_object_get(doc, "message")) : NULL;

	fprintf(stderr, "tokenctl: %s: %ld %s\n", what, status, msg ? msg : "");
	json_decref(doc);
	return EXIT_UNAVAILABLE;
}

static int
cmd_get(const char *name, int as_json)
{
	char path[256];
	struct body b = { 0 };
	long st;
	int rc = EXIT_OK;

	snprintf(path, sizeof(path), "/v1/tokens/%s%s", name,
	         as_json ? "" : "?format=raw");
	st = call("GET", path, 10, &b);
	if (st < 0)
		rc = EXIT_UNAVAILABLE;
	else if (st != 200)
		rc = complain(name, st, &b);
	else if (as_json)
		fputs(b.data, stdout);
	else
		printf("%.*s\n", (int)b.len, b.data);
	body_wipe(&b);
	return rc;
}

static const char *
str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

static int
cmd_list(int with_errors)
{
	struct body b = { 0 };
	long st = call("GET", "/v1/tokens", 10, &b);
	json_t *doc, *arr, *t;
	size_t i;

	if (st != 200) {
		int rc = st < 0 ? EXIT_UNAVAILABLE : complain("list", st, &b);

		body_wipe(&b);
		return rc;
	}
	doc = json_loads(b.data, 0, NULL);
	body_wipe(&b);
	arr = json_object_get(doc, "tokens");
	printf("%-24s %-12s %-11s %-10s %s\n", "NAME", "TYPE", "STATE", "EXPIRES",
	       "SOURCE");
	json_array_foreach(arr, i, t)
	{
		json_t *in = json_object_get(t, "expires_in");
		char exp[32] = "-";

		if (json_is_integer(in))
			snprintf(exp, sizeof(exp), "%llds",
			         (long long)json_integer_value(in));
		printf("%-24s %-12s %-11s %-10s %s\n", str_or(t, "name", "?"),
		       str_or(t, "type", "?"), str_or(t, "state", "?"), exp,
		       str_or(t, "source", "-"));
		if (with_errors && json_object_get(t, "last_error") != NULL)
			printf("  last error: %s\n", str_or(t, "last_error", ""));
	}
	json_decref(doc);
	return EXIT_OK;
}

static int
cmd_health(void)
{
	struct body b = { 0 };
	long st = call("GET", "/readyz", 5, &b);
	int rc = st == 200 ? EXIT_OK : EXIT_UNAVAILABLE;

	if (st > 0 && st != 200)
		complain("not ready", st, &b);
	body_wipe(&b);
	return rc;
}

static int
cmd_status(void)
{
	int rc = cmd_list(1);

	return rc != EXIT_OK ? rc : cmd_health();
}

static int
cmd_refresh(const char *name)
{
	char path[256];
	struct body b = { 0 };
	long st;
	int rc = EXIT_OK;

	snprintf(path, sizeof(path), "/v1/tokens/%s/refresh", name);
	st = call("POST", path, 10, &b);
	if (st < 0)
		rc = EXIT_UNAVAILABLE;
	else if (st != 202)
		rc = complain(name, st, &b);
	else
		printf("%s: refreshing\n", name);
	body_wipe(&b);
	return rc;
}

/* Prints each new version: long-polls with ?newer_than=, forever. */
static int
cmd_watch(const char *name)
{
	unsigned long long version = 0;
	char path[256];

	for (;;) {
		struct body b = { 0 };
		json_t *doc;
		long st;

		snprintf(path, sizeof(path), "/v1/tokens/%s?newer_than=%llu&timeout=60",
		         name, version);
		st = call("GET", path, 90, &b);
		if (st == 204) {
			body_wipe(&b);
			continue;
		}
		if (st != 200) {
			int rc = st < 0 ? EXIT_UNAVAILABLE : complain(name, st, &b);

			body_wipe(&b);
			return rc;
		}
		doc = json_loads(b.data, 0, NULL);
		version = (unsigned long long)json_integer_value(
		        json_object_get(doc, "version"));
		printf("%s\n", str_or(doc, "token", ""));
		fflush(stdout);
		json_decref(doc);
		body_wipe(&b);
	}
}

/* Fetches one token's bare value (heap, the caller wipes it). */
static char *
fetch_raw(const char *name)
{
	char path[256];
	struct body b = { 0 };
	long st;

	snprintf(path, sizeof(path), "/v1/tokens/%s?format=raw", name);
	st = call("GET", path, 10, &b);
	if (st != 200) {
		if (st > 0)
			complain(name, st, &b);
		body_wipe(&b);
		return NULL;
	}
	return b.data;
}

/* exec --env VAR=NAME... -- CMD ARGS: CMD runs with fresh tokens. */
static int
cmd_exec(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		char *eq, *value;

		if (strcmp(argv[i], "--env") != 0 || i + 1 >= argc ||
		    (eq = strchr(argv[i + 1], '=')) == NULL || eq == argv[i + 1] ||
		    !eq[1]) {
			fprintf(stderr, "tokenctl: exec takes --env VAR=NAME ... -- CMD "
			                "[ARGS]\n");
			return EXIT_USAGE;
		}
		*eq = '\0';
		if ((value = fetch_raw(eq + 1)) == NULL)
			return EXIT_UNAVAILABLE;
		setenv(argv[i + 1], value, 1);
		OPENSSL_cleanse(value, strlen(value));
		free(value);
		i++;
	}
	if (i + 1 >= argc) {
		fprintf(stderr, "tokenctl: exec: no command after --\n");
		return EXIT_USAGE;
	}
	execvp(argv[i + 1], &argv[i + 1]);
	fprintf(stderr, "tokenctl: exec %s: %s\n", argv[i + 1], strerror(errno));
	return 127;
}

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: tokenctl [-s SOCKET] COMMAND [-s SOCKET]\n"
	        "  get NAME [--json]   print the token (bare, or the JSON document)\n"
	        "  list                every token, its state and expiry\n"
	        "  status              list with last errors; exit 1 unless all are "
	        "valid\n"
	        "  health              exit 0 when every token is valid, else 1\n"
	        "  refresh NAME        ask for a refresh now (admin peers)\n"
	        "  watch NAME          print each new value as it arrives\n"
	        "  exec --env VAR=NAME [--env ...] -- CMD [ARGS]\n"
	        "                      run CMD with tokens in its environment\n"
	        "SOCKET defaults to $TOKEND_SOCKET, else %s.\n",
	        DEFAULT_SOCKET);
}

static const struct {
	const char *name;
	const char *args;
} commands[] = {
	{ "get", " NAME [--json]" },
	{ "list", "" },
	{ "status", "" },
	{ "health", "" },
	{ "refresh", " NAME" },
	{ "watch", " NAME" },
	{ "exec", " --env VAR=NAME [--env ...] -- CMD [ARGS]" },
};

static int
dispatch(int argc, char **argv)
{
	const char *cmd = argv[0];

	if (strcmp(cmd, "get") == 0 && argc == 2)
		return cmd_get(argv[1], 0);
	if (strcmp(cmd, "get") == 0 && argc == 3 && strcmp(argv[2], "--json") == 0)
		return cmd_get(argv[1], 1);
	if (strcmp(cmd, "list") == 0 && argc == 1)
		return cmd_list(0);
	if (strcmp(cmd, "status") == 0 && argc == 1)
		return cmd_status();
	if (strcmp(cmd, "health") == 0 && argc == 1)
		return cmd_health();
	if (strcmp(cmd, "refresh") == 0 && argc == 2)
		return cmd_refresh(argv[1]);
	if (strcmp(cmd, "watch") == 0 && argc == 2)
		return cmd_watch(argv[1]);
	if (strcmp(cmd, "exec") == 0)
		return cmd_exec(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name) == 0) {
			fprintf(stderr, "tokenctl: usage: tokenctl %s%s\n", cmd,
			        commands[i].args);
			return EXIT_USAGE;
		}
	}
	fprintf(stderr, "tokenctl: unknown command '%s'; commands:", cmd);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, " %s", commands[i].name);
	fprintf(stderr, " (tokenctl --help)\n");
	return EXIT_USAGE;
}

/* -s/--socket after the command too (`tokenctl get api -s PATH`): taken
 * out of argv up to a "--", which begins exec's own command line. */
static int
take_socket_option(int *argc, char **argv)
{
	int i = 0, out = 0;

	for (; i < *argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "tokenctl: %s needs a path\n", a);
				return -1;
			}
			sock_path = argv[++i];
		} else if (strncmp(a, "--socket=", 9) == 0) {
			sock_path = a + 9;
		} else {
			argv[out++] = argv[i];
		}
	}
	for (; i < *argc; i++)
		argv[out++] = argv[i];
	argv[out] = NULL;
	*argc = out;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	sock_path = getenv("TOKEND_SOCKET");
	if (sock_path == NULL || *sock_path == '\0')
		sock_path = DEFAULT_SOCKET;
	/* '+': stop at the command, so `exec -- CMD -x` keeps CMD's options. */
	while ((c = getopt_long(argc, argv, "+s:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': sock_path = optarg; break;
		case 'V': printf("tokenctl %s\n", PACKAGE_VERSION); return EXIT_OK;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (take_socket_option(&argc, argv) == -1)
		return EXIT_USAGE;
	if (argc == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return EXIT_UNAVAILABLE;
	rc = dispatch(argc, argv);
	curl_global_cleanup();
	return rc;
}
