/* server_peers.c - per-uid counts of the local API (server_peers.h). */
#include "server_peers.h"

#include <stdlib.h>

#include "xalloc.h"

#define BUCKETS 256 /* local users are few; a chain per bucket is plenty */

struct speers {
	struct speer *b[BUCKETS];
};

static size_t
bucket(uid_t uid)
{
	return ((size_t)uid * 2654435761u) % BUCKETS;
}

struct speers *
speers_new(void)
{
	return xcalloc(1, sizeof(struct speers));
}

void
speers_free(struct speers *ps)
{
	if (ps == NULL)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		while (ps->b[i] != NULL) {
			struct speer *p = ps->b[i];

			ps->b[i] = p->next;
			free(p);
		}
	}
	free(ps);
}

const struct speer *
speers_find(const struct speers *ps, uid_t uid)
{
	for (const struct speer *p = ps->b[bucket(uid)]; p != NULL; p = p->next)
		if (p->uid == uid)
			return p;
	return NULL;
}

struct speer *
speers_get(struct speers *ps, uid_t uid)
{
	struct speer **head = &ps->b[bucket(uid)], *p;

	for (p = *head; p != NULL; p = p->next)
		if (p->uid == uid)
			return p;
	p = xcalloc(1, sizeof(*p));
	p->uid = uid;
	p->next = *head;
	*head = p;
	return p;
}

void
speers_put(struct speers *ps, struct speer *p)
{
	struct speer **pp;

	if (p->conns > 0 || p->polls > 0)
		return;
	for (pp = &ps->b[bucket(p->uid)]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			free(p);
			return;
		}
	}
}
