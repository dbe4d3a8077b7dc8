/* server_target.h - the query of a local API request: only known
 * parameters are accepted (a typo is a 400, not a silent default). */
#ifndef TOKEND_SERVER_TARGET_H
#define TOKEND_SERVER_TARGET_H

#include <stdbool.h>
#include <stdint.h>

struct server_query {
	bool raw;
	bool has_newer_than;
	uint64_t newer_than;
	long timeout_s;
	bool accept_text;
};

/* Parses q (NULL: no query) into out; -1 with *why for a 400. */
int server_parse_query(const char *q, struct server_query *out, const char **why);

#endif
