/* http_client.h - asynchronous HTTP(S) requests: libcurl multi driven by
 * the libevent loop. No call here ever blocks.
 *
 * TLS peers are verified; plain http:// is refused except for loopback
 * hosts (127.0.0.0/8, ::1, localhost) and the link-local AWS metadata
 * endpoints (169.254.169.254, 169.254.170.2, 169.254.170.23, fd00:ec2::23,
 * fd00:ec2::254). Responses are capped at 1 MiB.
 */
#ifndef TOKEND_HTTP_CLIENT_H
#define TOKEND_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct event_base;
struct http_client;
struct http_call;

#define HTTP_CLIENT_MAX_BODY (1024 * 1024)

/* TLS of one request. Peers stay verified: ca adds trust, it never turns
 * verification off. Everything is copied by http_client_start; the key's
 * copy is wiped when the call ends. */
struct http_tls {
	const char *ca; /* PEM bundle trusted instead of the system's file
	                 * (callers append the system's: oauth2_tls.c); NULL: default */
	size_t ca_len;
	const char *cert; /* client certificate chain, PEM; NULL: none */
	size_t cert_len;
	const char *key; /* its private key, PEM; secret */
	size_t key_len;
};

struct http_request {
	const char *method; /* "GET", "POST", "PUT" */
	const char *url;
	const char *const *headers; /* "Name: value" strings, NULL-terminated, or NULL */
	const char *body;           /* may be NULL */
	size_t body_len;
	long timeout_ms;            /* whole transfer; 0: 10 s */
	const struct http_tls *tls; /* NULL: system CAs, no client certificate */
};

struct http_header {
	char *name; /* as received */
	char *value;
};

struct http_response {
	struct err err; /* ERR_OK when an HTTP answer arrived, whatever its status */
	long status;
	char *body; /* NUL-terminated; body_len excludes the NUL */
	size_t body_len;
	struct http_header *headers;
	size_t nheaders;
	int64_t elapsed_ms;
};

/* resp is valid only during the call; copy what you keep. The body and
 * header values are wiped when the callback returns. */
typedef void http_done_fn(const struct http_response *resp, void *arg);

struct http_client *http_client_new(struct event_base *base, struct err *err);
/* Cancels every call under way (their callbacks are not called). */
void http_client_free(struct http_client *client);

/* Starts req (copied; nothing is borrowed after return). cb is called
 * exactly once, later, from the loop, unless the call is cancelled; it
 * may start new calls, cancel others, or free the client. Every failure
 * found here is returned at once: NULL with err (ERR_CONFIG for a URL that
 * is refused, ERR_INTERNAL for a malformed request or a curl failure); cb
 * is then never called. */
struct http_call *http_client_start(struct http_client *client,
                                    const struct http_request *req, http_done_fn *cb,
                                    void *arg, struct err *err);
/* Abandons a call: its callback will not run. NULL does nothing; from
 * inside the call's own callback it does nothing either (the call ends
 * when the callback returns). */
void http_call_cancel(struct http_call *call);

/* Case-insensitive lookup; NULL when absent. */
const char *http_response_header(const struct http_response *resp, const char *name);

/* True for URLs this client may fetch: any https:// URL, and http:// only
 * to the hosts listed at the top of this file. URLs carrying userinfo
 * ("user:pass@") are refused: credentials travel in headers or bodies,
 * never in a URL that might be logged. False with err (ERR_CONFIG). */
int http_client_url_allowed(const char *url, struct err *err);

#endif
