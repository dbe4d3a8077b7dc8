/* sigv4.h - AWS Signature Version 4: header signing and query presigning.
 * Pure functions: no loop, no network, no clock (the caller passes the
 * skew-corrected signing time). Rules: shared wire-formats.md §1-3, non-S3
 * semantics throughout (dot segments removed, path double-encoded). */
#ifndef TOKEND_SIGV4_H
#define TOKEND_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SIGV4_IAM_TOKEN_TTL_S   900
#define SIGV4_MAX_EXPIRES_S     604800 /* 7 days: the SigV4 ceiling */
#define SIGV4_KEY_LEN           32
#define SIGV4_SIGNATURE_LEN     65 /* 64 hex digits and a NUL */
#define SIGV4_ADDED_HEADERS_MAX 4

struct sigv4_creds {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL for long-term keys */
};

/* Who signs, where and when; everything borrowed. */
struct sigv4_signer {
	const struct sigv4_creds *creds;
	const char *region;  /* "us-east-1" */
	const char *service; /* the signing name: "ssm", "rds-db", "elasticache" */
	int64_t time_s;      /* epoch seconds, skew-corrected */
};

struct sigv4_header {
	const char *name;
	const char *value;
};

/* The request to sign; everything borrowed. A zeroed struct plus method,
 * headers (host is required) and body is the usual case. */
struct sigv4_request {
	const char *method; /* "GET", "POST" */
	const char *path;   /* as on the wire, no query; NULL or "" is "/" */
	const char *query;  /* raw query without '?', or NULL */
	const struct sigv4_header *headers;
	size_t nheaders;
	const void *body; /* NULL for none */
	size_t body_len;
	bool raw_path;           /* keep dot segments and repeated '/' */
	bool sign_body;          /* header signing: add x-amz-content-sha256 */
	bool omit_session_token; /* send the token but do not sign it */
};

/* What signing produced. Zero-initialise before the first use; release
 * with sigv4_signed_clear, after which it can be reused. */
struct sigv4_signed {
	/* Header signing: "Name: value" lines to add to the request,
	 * NULL-terminated: X-Amz-Date, [X-Amz-Security-Token],
	 * [X-Amz-Content-Sha256], Authorization. */
	char *headers[SIGV4_ADDED_HEADERS_MAX + 1];
	/* Presigning: the whole query to send - the request's parameters in
	 * their order, then X-Amz-Algorithm, -Credential, -Date, -Expires,
	 * -SignedHeaders, [-Security-Token], and X-Amz-Signature last. */
	char *query;
	char *canonical_request; /* for tests and for debugging AWS errors */
	char *string_to_sign;
	char signature[SIGV4_SIGNATURE_LEN];
};

/* Signs req for an Authorization header. The request's headers must not
 * already carry authorization, x-amz-date or x-amz-security-token (the
 * signer adds them). For an SSM call: method POST, path "/", headers
 * content-type, host and x-amz-target, the JSON body. 0, or -1 with err
 * (out then holds nothing). */
int sigv4_sign_headers(const struct sigv4_signer *signer, const struct sigv4_request *req,
                       struct sigv4_signed *out, struct err *err);

/* Presigns req into out->query, valid expires_s seconds (1..7 days) from
 * signer->time_s. The body, if any, is hashed into the signature. */
int sigv4_presign(const struct sigv4_signer *signer, const struct sigv4_request *req,
                  int expires_s, struct sigv4_signed *out, struct err *err);

/* Wipes and frees what out holds; a zeroed out does nothing. */
void sigv4_signed_clear(struct sigv4_signed *out);

/* kSigning = HMAC chain over date ("YYYYMMDD"), region, service and
 * "aws4_request". The caller wipes key when done. */
void sigv4_signing_key(const char *secret_access_key, const char *date,
                       const char *region, const char *service,
                       unsigned char key[SIGV4_KEY_LEN]);

/* An RDS IAM auth token: the presigned
 * GET https://HOST:PORT/?Action=connect&DBUser=USER with the scheme
 * stripped, service rds-db, X-Amz-Expires 900. Returns a heap string the
 * caller frees with secret_free_str, or NULL with err. */
char *sigv4_rds_token(const struct sigv4_creds *creds, const char *region,
                      const char *host, int port, const char *user, int64_t time_s,
                      struct err *err);

/* An ElastiCache IAM auth token: presigned
 * GET http://CACHE/?Action=connect&User=USER[&ResourceType=ServerlessCache],
 * service elasticache, scheme stripped. Same ownership as above. Both
 * tokens sign the host in lower case, as botocore does; the token starts
 * with the name as given. */
char *sigv4_elasticache_token(const struct sigv4_creds *creds, const char *region,
                              const char *cache, const char *user, bool serverless,
                              int64_t time_s, struct err *err);

/* A caller-owned cache for one IAM token target (an RDS host:port and
 * user, or an ElastiCache cache and user). Same output as the functions
 * above, much faster when the UTC day, region and credentials repeat:
 * the signing key is derived once a day and the last token is kept as a
 * template. Holds a copy of the credentials and the key, wiped when they
 * change and on free. NULL with err for a bad host, port or user. */
struct sigv4_iam_cache;

struct sigv4_iam_cache *sigv4_rds_cache_new(const char *host, int port, const char *user,
                                            struct err *err);
struct sigv4_iam_cache *sigv4_elasticache_cache_new(const char *cache, const char *user,
                                                    bool serverless, struct err *err);
/* The token for creds, region and time_s; same ownership as above. */
char *sigv4_iam_cache_token(struct sigv4_iam_cache *c, const struct sigv4_creds *creds,
                            const char *region, int64_t time_s, struct err *err);
/* NULL does nothing. */
void sigv4_iam_cache_free(struct sigv4_iam_cache *c);

#endif
