/* server_target.c - request targets of the local API (server_conn.h
 * declares sconn_parse_target: the transport's check, kept apart so the
 * fuzz harness and the transport share it). */
#include <stdbool.h>
#include <string.h>

#include "server_conn.h"

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
