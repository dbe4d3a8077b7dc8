/* server_target.c - request targets of the local API: the path check
 * (server_conn.h declares sconn_parse_target: the transport's check, kept
 * apart so the fuzz harness and the transport share it) and the query
 * (server_target.h). */
#include "server_target.h"

#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "server_conn.h"

#define LONGPOLL_MAX_S 300

static bool
dot_segment(const char *path)
{
	for (const char *s = path; (s = strchr(s, '/')) != NULL; s++) {
		size_t n = strcspn(s + 1, "/");

		if ((n == 1 && s[1] == '.') || (n == 2 && s[1] == '.' && s[2] == '.'))
			return true;
	}
	return false;
}

int
sconn_parse_target(char *target, size_t len, const char **path, const char **query)
{
	char *q;

	*path = *query = NULL;
	if (len == 0 || target[0] != '/' || strlen(target) != len)
		return 400;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			return 400;
	if ((q = strchr(target, '#')) != NULL)
		*q = '\0';
	if ((q = strchr(target, '?')) != NULL) {
		*q = '\0';
		*query = q + 1;
	}
	/* Token names never need escaping: an escaped or odd path is no route. */
	if (strchr(target, '%') != NULL || dot_segment(target))
		return 400;
	*path = target;
	return 0;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* Only known parameters are accepted: a typo is a 400, not a silent
 * default. */
int
server_parse_query(const char *q, struct server_query *out, const char **why)
{
	struct evkeyvalq params;
	struct evkeyval *kv;
	uint64_t v;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->timeout_s = 30;
	if (q == NULL)
		return 0;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(q, &params) != 0) {
		*why = "malformed query string";
		return -1;
	}
	TAILQ_FOREACH(kv, &params, next)
	{
		if (strcmp(kv->key, "format") == 0 && strcmp(kv->value, "raw") == 0) {
			out->raw = true;
		} else if (strcmp(kv->key, "format") == 0 &&
		           strcmp(kv->value, "json") == 0) {
			out->raw = false;
		} else if (strcmp(kv->key, "newer_than") == 0 &&
		           parse_u64(kv->value, &v) == 0) {
			out->has_newer_than = true;
			out->newer_than = v;
		} else if (strcmp(kv->key, "timeout") == 0 &&
		           parse_u64(kv->value, &v) == 0 && v <= LONGPOLL_MAX_S) {
			out->timeout_s = (long)v;
		} else {
			*why = "unknown query parameter or bad value (format=raw|json, "
			       "newer_than=VERSION, timeout=0..300)";
			rc = -1;
			break;
		}
	}
	evhttp_clear_headers(&params);
	return rc;
}
