/* oauth2_tls.h - the TLS material of an OAuth2 token: the CA bundle its
 * issuer is verified with (ca_file added to the system's) and, for
 * RFC 8705 mutual TLS, the client certificate and key held in memory.
 *
 * Loaded when the source is made (start-up or reload), so a missing or
 * malformed file is an error then rather than a failed fetch later.
 */
#ifndef TOKEND_OAUTH2_TLS_H
#define TOKEND_OAUTH2_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "http_client.h"

/* Longest ca_file read. */
#define OAUTH2_TLS_MAX_FILE (4 * 1024 * 1024)

struct oauth2_tls {
	char *ca; /* system bundle + ca_file, PEM; NULL: curl's default */
	size_t ca_len;
	struct http_tls http; /* what requests pass to http_client */
	bool used;            /* http is worth passing */
};

/* Fills t from def (ca_file; client_cert/client_key for the mTLS
 * methods). -1 with err (ERR_CONFIG, naming the key, never the key's
 * bytes). */
int oauth2_tls_load(struct oauth2_tls *t, const struct token_def *def, struct err *err);
/* For tls_client_auth and self_signed_tls_client_auth: checks that
 * client_cert holds a PEM certificate, client_key a PEM private key, and
 * that they match, then lends both (from def) to t->http. Nothing until
 * both are resolved (ssm: references are read after start-up). -1 with
 * err (ERR_CONFIG, naming the references, never their bytes). */
int oauth2_tls_load_client(struct oauth2_tls *t, const struct token_def *def,
                           struct err *err);
/* Frees (and wipes) what t holds. */
void oauth2_tls_clear(struct oauth2_tls *t);

/* How many PEM certificates text holds (0: none or malformed). */
int oauth2_tls_count_certs(const char *text, size_t len);

#endif
