/* server_peers.h - what each local user (peer uid) holds of the local API:
 * its open connections and its parked long-polls, so that one user cannot
 * take every slot (server_conn.c enforces the caps).
 *
 * Entries exist only while a user holds something: a flood of distinct
 * uids costs at most one small entry per open connection.
 */
#ifndef TOKEND_SERVER_PEERS_H
#define TOKEND_SERVER_PEERS_H

#include <sys/types.h>

struct speers;

struct speer {
	uid_t uid;
	int conns; /* open connections */
	int polls; /* requests parked (long-polls) */
	struct speer *next;
};

struct speers *speers_new(void);
/* Every entry must have been put back. NULL does nothing. */
void speers_free(struct speers *ps);
/* The entry of uid, made (at zero) if it has none. */
struct speer *speers_get(struct speers *ps, uid_t uid);
/* Frees p once it holds nothing any more. */
void speers_put(struct speers *ps, struct speer *p);
/* The entry of uid, or NULL if it holds nothing. */
const struct speer *speers_find(const struct speers *ps, uid_t uid);

#endif
