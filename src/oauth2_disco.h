/* oauth2_disco.h - the token endpoint from the issuer's metadata: OpenID
 * Connect Discovery (/.well-known/openid-configuration), else RFC 8414
 * (/.well-known/oauth-authorization-server, inserted before the issuer's
 * path). Fetched with http_client on the loop, cached, checked.
 */
#ifndef TOKEND_OAUTH2_DISCO_H
#define TOKEND_OAUTH2_DISCO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct http_client;
struct http_tls;

enum oauth2_disco_kind {
	OAUTH2_DISCO_OIDC,    /* ISSUER/.well-known/openid-configuration */
	OAUTH2_DISCO_RFC8414, /* HOST/.well-known/oauth-authorization-server/PATH */
};

/* Metadata older than this is fetched again before the next token. */
#define OAUTH2_DISCO_MAX_AGE_MS (24LL * 3600 * 1000)

struct oauth2_metadata {
	char *token_endpoint;
	char **auth_methods; /* token_endpoint_auth_methods_supported */
	size_t n_auth_methods;
	bool has_auth_methods; /* the field was present */
};

/* The metadata URL of issuer (an https:// URL without query or fragment),
 * malloc'd; NULL with err (ERR_CONFIG) when issuer is not such a URL. */
char *oauth2_disco_url(const char *issuer, enum oauth2_disco_kind kind, struct err *err);

/* Reads a metadata document and checks it: its issuer equals issuer
 * exactly, token_endpoint is a URL http_client may fetch (https, http
 * only to loopback). -1 with err (ERR_CONFIG for a mismatch or refused
 * endpoint, ERR_PARSE for a document that is not metadata). */
int oauth2_metadata_parse(const char *issuer, const char *body, size_t len,
                          struct oauth2_metadata *out, struct err *err);
void oauth2_metadata_clear(struct oauth2_metadata *md);
/* Whether md lists method; true when it lists none (RFC 8414 default). */
bool oauth2_metadata_supports(const struct oauth2_metadata *md, const char *method);

/* The cache of one token's metadata. */
struct oauth2_disco;

/* done: err is ERR_OK and oauth2_disco_endpoint is set, or err says why
 * and permanent whether the issuer's configuration is at fault. */
typedef void oauth2_disco_done_fn(const struct err *err, bool permanent, void *arg);

/* name (the token's), issuer and http are borrowed; tls may be NULL. */
struct oauth2_disco *oauth2_disco_new(const char *name, const char *issuer,
                                      const char *client_auth, struct http_client *http,
                                      const struct http_tls *tls, long timeout_ms);
void oauth2_disco_free(struct oauth2_disco *d);
/* The token endpoint when fresh metadata is cached at now_ms, else NULL. */
const char *oauth2_disco_fresh(const struct oauth2_disco *d, int64_t now_ms);
/* The last token endpoint found, fresh or not; NULL: none yet. */
const char *oauth2_disco_endpoint(const struct oauth2_disco *d);
/* Fetches the metadata; done is called once, from the loop. A stale
 * endpoint is kept when the fetch fails for a transient reason (done then
 * says ERR_OK). -1 with err when the fetch cannot start. */
int oauth2_disco_start(struct oauth2_disco *d, oauth2_disco_done_fn *done, void *arg,
                       struct err *err);
void oauth2_disco_cancel(struct oauth2_disco *d);
/* The token endpoint failed in a way new metadata might cure: the next
 * fetch asks again. */
void oauth2_disco_invalidate(struct oauth2_disco *d);

#endif
