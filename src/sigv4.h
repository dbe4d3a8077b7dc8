/* sigv4.h - AWS Signature Version 4: header signing and query presigning.
 * Pure functions: no loop, no network, no clock (the caller passes the
 * skew-corrected signing time). */
#ifndef TOKEND_SIGV4_H
#define TOKEND_SIGV4_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define SIGV4_IAM_TOKEN_TTL_S 900

struct sigv4_creds {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL for long-term keys */
};

/* An RDS IAM auth token: the presigned
 * GET https://HOST:PORT/?Action=connect&DBUser=USER with the scheme
 * stripped, service rds-db, X-Amz-Expires 900. Returns a heap string the
 * caller frees with secret_free_str, or NULL with err. */
char *sigv4_rds_token(const struct sigv4_creds *creds, const char *region,
		      const char *host, int port, const char *user, int64_t time_s,
		      struct err *err);

/* An ElastiCache IAM auth token: presigned
 * GET http://CACHE/?Action=connect&User=USER[&ResourceType=ServerlessCache],
 * service elasticache, scheme stripped. Same ownership as above. */
char *sigv4_elasticache_token(const struct sigv4_creds *creds, const char *region,
			      const char *cache, const char *user, bool serverless,
			      int64_t time_s, struct err *err);

#endif
