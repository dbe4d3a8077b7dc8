/* server_cache.c - cached JSON answers per token value (server_cache.h). */
#include "server_cache.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "secret.h"
#include "token.h"
#include "token_json.h"
#include "xalloc.h"

/* Tokens are few (tens); past this many a slot is reused in turn. */
#define CACHE_SLOTS 64

struct entry {
	const struct token *tok; /* NULL: free slot */
	const struct token_def *def;
	uint64_t version;
	int64_t expires_in_s;
	enum token_origin origin;
	struct secret *body;
};

struct server_cache {
	struct entry e[CACHE_SLOTS];
	size_t next_victim;
};

struct server_cache *
server_cache_new(void)
{
	return xcalloc(1, sizeof(struct server_cache));
}

static void
entry_clear(struct entry *e)
{
	secret_unref(e->body);
	memset(e, 0, sizeof(*e));
}

void
server_cache_forget(struct server_cache *sc, const struct token *tok)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		if (sc->e[i].tok != NULL && (tok == NULL || sc->e[i].tok == tok))
			entry_clear(&sc->e[i]);
}

void
server_cache_free(struct server_cache *sc)
{
	if (sc == NULL)
		return;
	server_cache_forget(sc, NULL);
	free(sc);
}

/* token_json_detail states expires_in in whole seconds, rounded as here. */
static int64_t
expires_in_s(const struct token *tok, int64_t now_ms)
{
	int64_t left = token_expires_at(tok, now_ms) - now_ms;

	return left > 0 ? left / 1000 : 0;
}

static struct entry *
slot_for(struct server_cache *sc, const struct token *tok)
{
	struct entry *free_slot = NULL;

	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		if (sc->e[i].tok == tok)
			return &sc->e[i];
		if (sc->e[i].tok == NULL && free_slot == NULL)
			free_slot = &sc->e[i];
	}
	if (free_slot != NULL)
		return free_slot;
	free_slot = &sc->e[sc->next_victim];
	sc->next_victim = (sc->next_victim + 1) % CACHE_SLOTS;
	return free_slot;
}

/* The same bytes server.c's reply_json sends: compact JSON, one newline. */
static struct secret *
build(const struct token *tok, int64_t now_ms)
{
	json_t *doc = token_json_detail(tok, now_ms);
	char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t len = strlen(s);
	struct secret *body;

	char *nl;

	json_decref(doc);
	/* Copied, not grown with realloc: a moved block would leave an unwiped
	 * copy of the token behind. */
	nl = xmalloc(len + 2);
	memcpy(nl, s, len);
	secret_free_mem(s, len + 1);
	nl[len++] = '\n';
	nl[len] = '\0';
	body = secret_new(nl, len);
	secret_free_mem(nl, len + 1);
	return body;
}

const char *
server_cache_detail(struct server_cache *sc, const struct token *tok, int64_t now_ms,
                    size_t *len)
{
	struct entry *e = slot_for(sc, tok);
	int64_t in_s = expires_in_s(tok, now_ms);

	if (e->tok != tok || e->def != tok->def || e->version != tok->version ||
	    e->expires_in_s != in_s || e->origin != tok->origin) {
		entry_clear(e);
		e->tok = tok;
		e->def = tok->def;
		e->version = tok->version;
		e->expires_in_s = in_s;
		e->origin = tok->origin;
		e->body = build(tok, now_ms);
	}
	*len = e->body->len;
	return e->body->data;
}
