/* server_cache.h - the JSON answer of GET /v1/tokens/NAME, built once per
 * token value rather than by jansson on every request (it was ~22 % of
 * the server's CPU under load).
 *
 * An entry is keyed by the token, its definition, its version, its origin
 * and the expires_in second the body states; any change rebuilds it. The
 * server also forgets a token's entry when the token changes or goes, and
 * every entry on a reload (a freed token's address may come back). Bodies
 * hold the token, so they live in the secret arena and are wiped.
 */
#ifndef TOKEND_SERVER_CACHE_H
#define TOKEND_SERVER_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct token;
struct server_cache;

struct server_cache *server_cache_new(void);
/* NULL does nothing. */
void server_cache_free(struct server_cache *sc);

/* The body (compact JSON and a newline) for tok at now_ms; valid until
 * the next call on sc. */
const char *server_cache_detail(struct server_cache *sc, const struct token *tok,
                                int64_t now_ms, size_t *len);
/* Forgets tok's entry; NULL forgets every entry. */
void server_cache_forget(struct server_cache *sc, const struct token *tok);

#endif
