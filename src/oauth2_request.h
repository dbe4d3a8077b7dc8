/* oauth2_request.h - the body and headers of a token request (RFC 6749
 * §4.4.2, RFC 8707 resource, RFC 7523 client assertions), as pure
 * functions. Every buffer that held a secret is wiped.
 */
#ifndef TOKEND_OAUTH2_REQUEST_H
#define TOKEND_OAUTH2_REQUEST_H

#include "config.h"

/* The request body for def with client secret (NULL with client_secret_basic),
 * form-encoded or JSON as def says. A heap string holding the secret:
 * free it with secret_free_str. */
char *oauth2_request_body(const struct token_def *def, const char *secret);
/* The same with an RFC 7523 client assertion (NULL: none). */
char *oauth2_request_body_assert(const struct token_def *def, const char *secret,
                                 const char *assertion);

/* "Authorization: Basic base64(formenc(id) ":" formenc(secret))", RFC 6749
 * §2.3.1. Free with secret_free_str. */
char *oauth2_basic_header(const char *client_id, const char *secret);

#endif
