/* aws_creds_files.h - the local credential providers: environment
 * variables and the shared credentials/config files (static keys only).
 *
 * Providers answer 1 with credentials (*out, owned by the caller), 0 when
 * they are not configured (err says why, for the chain's summary), or -1
 * when they are configured but cannot work (partial keys, assume-role
 * profiles): the chain stops there rather than fall through to another
 * identity.
 */
#ifndef TOKEND_AWS_CREDS_FILES_H
#define TOKEND_AWS_CREDS_FILES_H

#include <stdbool.h>

#include "err.h"

struct aws_credentials;

/* AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (or the
 * legacy AWS_SECURITY_TOKEN), AWS_CREDENTIAL_EXPIRATION. */
int aws_creds_files_env(struct aws_credentials **out, struct err *err);

/* The profile named (NULL: AWS_PROFILE, else "default") from
 * AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), then AWS_CONFIG_FILE
 * (~/.aws/config, "[profile NAME]" sections). */
int aws_creds_files_profile(const char *profile, struct aws_credentials **out,
                            struct err *err);

/* One profile's keys as found in one file. Pure parsing, unit tested. */
struct aws_profile {
	bool found; /* the section exists */
	char *access_key_id;
	char *secret_access_key; /* wiped by clear */
	char *session_token;     /* wiped by clear */
	char *region;
	char unsupported[40]; /* first key tokend cannot honour, "" if none */
};

/* Reads section `section` (exact name, e.g. "default" or "profile prod")
 * of the INI text into p, which must be zeroed or cleared. Keys already
 * set in p are kept (the first file read wins). -1 with err on a line that
 * is not INI. */
int aws_creds_files_parse(const char *text, const char *section, struct aws_profile *p,
                          struct err *err);
void aws_creds_files_clear(struct aws_profile *p);

#endif
