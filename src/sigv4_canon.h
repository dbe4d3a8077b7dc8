/* sigv4_canon.h - the canonical pieces of a SigV4 request: UriEncode, the
 * canonical URI, query and headers (wire-formats.md §1.2-1.3). Pure
 * string work, split from sigv4.c so the signer reads on its own. Every
 * buffer here may hold a session token, so all of them are wiped when freed.
 */
#ifndef TOKEND_SIGV4_CANON_H
#define TOKEND_SIGV4_CANON_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct sigv4_header;

/* A growing NUL-terminated string; zero-initialised is empty. */
struct sigv4_buf {
	char *p;
	size_t len;
	size_t cap;
};

void sigv4_buf_add(struct sigv4_buf *b, const char *s, size_t len);
void sigv4_buf_adds(struct sigv4_buf *b, const char *s);
/* Hands the string over (never NULL: "" when empty); b is empty again. */
char *sigv4_buf_take(struct sigv4_buf *b);
/* Wipes and frees; b is empty again. */
void sigv4_buf_clear(struct sigv4_buf *b);

/* Appends UriEncode(s[0..len)): unreserved bytes as is, every other byte
 * %XY in upper case; '/' is kept only when keep_slash. */
void sigv4_uri_encode(struct sigv4_buf *b, const char *s, size_t len, bool keep_slash);

/* The canonical URI of a wire path: dot segments removed and runs of '/'
 * collapsed (unless raw), then UriEncode with '/' kept - for a path that
 * is already percent-encoded this is the non-S3 double encoding. A
 * trailing '/' is kept. NULL or "" is "/". Never NULL. */
char *sigv4_canonical_path(const char *path, bool raw);

/* One query parameter, both halves already UriEncoded. */
struct sigv4_param {
	char *name;
	char *value;
};

/* A list of query parameters in the order they were added. */
struct sigv4_params {
	struct sigv4_param *v;
	size_t n;
	size_t cap;
};

/* Splits a raw query (no '?') on '&' and the first '=', percent-decodes
 * each half and re-encodes it, so "~", "%7E" and "%7e" all sign alike.
 * '+' is a literal plus, not a space. Empty pieces are skipped. */
void sigv4_params_parse(struct sigv4_params *p, const char *query);
/* Adds a raw (unencoded) name and value. */
void sigv4_params_add(struct sigv4_params *p, const char *name, const char *value);
/* "name=value&..." in insertion order, for the wire. */
char *sigv4_params_join(const struct sigv4_params *p);
/* The canonical query: sorted by name, then value, byte order. */
char *sigv4_params_canonical(const struct sigv4_params *p);
void sigv4_params_clear(struct sigv4_params *p);

/* True for headers a proxy or the HTTP stack may rewrite, which are never
 * signed (aws-c-auth's list), and for authorization itself. */
bool sigv4_header_skipped(const char *name);

/* The canonical headers block ("name:value\n" per name, sorted, values
 * trimmed and whitespace runs folded to one space, repeated names joined
 * with ',' in arrival order) and, in *signed_names, "a;b;c". Skipped
 * headers are left out. -1 with err for an empty or malformed name or a
 * request without host. */
int sigv4_canonical_headers(const struct sigv4_header *headers, size_t n,
                            char **canonical, char **signed_names, struct err *err);

#endif
