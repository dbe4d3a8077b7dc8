/* source_oauth2.h - OAuth2 client-credentials tokens (RFC 6749 §4.4),
 * Auth0 M2M included: one POST to the token endpoint per fetch.
 *
 * The source only obtains a value or an error; token.c decides what to
 * do with either and logs it. Secrets never reach a log line or an error
 * message, and every buffer that held one is wiped.
 */
#ifndef TOKEND_SOURCE_OAUTH2_H
#define TOKEND_SOURCE_OAUTH2_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "oauth2_request.h"
#include "err.h"
#include "token.h"

struct http_client;

/* Longest access_token accepted. */
#define OAUTH2_MAX_TOKEN_LEN (16 * 1024)
/* expires_in above this (a year) is taken for a mistake. */
#define OAUTH2_MAX_EXPIRES_IN_S (365LL * 24 * 3600)
/* Retry-After or x-ratelimit-reset further away than this are clamped. */
#define OAUTH2_MAX_RETRY_AFTER_MS (60LL * 60 * 1000)

/* Fills *out with an oauth2 source for def; def and http are borrowed and
 * must outlive it. -1 with err (ERR_CONFIG) when token_url is missing or
 * refused by the HTTP client. An unresolved client_secret (ssm:) is not
 * an error here: each fetch fails until it is resolved. */
int source_oauth2_new(const struct token_def *def, struct http_client *http,
                      struct token_source *out, struct err *err);

/* Reads the issuer's answer. retry_after and ratelimit_reset are the
 * headers' values or NULL; request_start_ms and now_ms are wall times.
 * 0 with out->value set, or -1 with out->err (and out->retry_after_ms
 * when the issuer said when to come back). out->http_status is set. */
int oauth2_parse_response(long status, const char *body, size_t len,
                          const char *retry_after, const char *ratelimit_reset,
                          int64_t request_start_ms, int64_t now_ms,
                          struct token_result *out);

/* The same with def's default_lifetime (ms, 0: none) for an answer that
 * has neither expires_in nor a JWT exp. out->scope is the granted scope. */
int oauth2_parse_answer(long status, const char *body, size_t len,
                        const char *retry_after, const char *ratelimit_reset,
                        int64_t request_start_ms, int64_t now_ms,
                        int64_t default_lifetime_ms, struct token_result *out);

/* How many of requested's space-separated scopes granted lacks; the
 * first of them, space-separated, in missing (cut to cap). */
size_t oauth2_scope_missing(const char *requested, const char *granted, char *missing,
                            size_t cap);

#endif
