/* err.h - error codes and a message a user can read. */
#ifndef TOKEND_ERR_H
#define TOKEND_ERR_H

#include <stddef.h>

enum err_code {
	ERR_OK = 0,
	ERR_CONFIG,      /* invalid configuration */
	ERR_IO,          /* local file or socket failure */
	ERR_NET,         /* connection refused, reset, DNS */
	ERR_TIMEOUT,     /* the peer did not answer in time */
	ERR_HTTP,        /* unexpected HTTP status */
	ERR_PARSE,       /* a peer's answer could not be understood */
	ERR_AUTH,        /* the peer refused our credentials (401/403) */
	ERR_THROTTLED,   /* rate limited (429, ThrottlingException) */
	ERR_NOTFOUND,    /* the thing asked for does not exist */
	ERR_EXISTS,      /* the thing to create exists already */
	ERR_TOOBIG,      /* a value or body over its limit */
	ERR_CANCELLED,   /* the operation was cancelled */
	ERR_UNAVAILABLE, /* a dependency cannot be used now */
	ERR_INTERNAL,
};

/* Room for a chain of causes ("no AWS credentials: env: ...; imds: ...").
 * A longer message loses its middle, not its end: the end usually holds
 * the cause (err_elide). */
#define ERR_MSG_MAX 512

struct err {
	enum err_code code;
	char msg[ERR_MSG_MAX];
};

/* Fills *e (if e is not NULL) and returns -1, so callers can write
 * `return err_set(e, ERR_IO, "open %s: %s", path, strerror(errno));`. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prefixes e->msg with "prefix: " (context added by a caller); the
 * result is elided in the middle when it does not fit. */
void err_prefix(struct err *e, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

void err_clear(struct err *e);

/* Copies src into dst[size]; when it does not fit, keeps its head and its
 * tail around a "..." (U+2026) in the middle, never splitting a UTF-8
 * sequence. Returns dst. */
char *err_elide(char *dst, size_t size, const char *src);

/* A short lower-case word for the code, for metrics labels and JSON. */
const char *err_code_name(enum err_code code);

#endif
