/* config.h - tokend.conf: INI parsed with libinih into an immutable struct.
 *
 * A loaded config is never modified: SIGHUP builds a new one and the daemon
 * swaps it in, so every pointer into a config stays valid until the config
 * that holds it is freed. Every key is described in tokend.conf(5).
 */
#ifndef TOKEND_CONFIG_H
#define TOKEND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "log.h"

struct secret;

enum token_type {
	TOKEN_TYPE_OAUTH2,
	TOKEN_TYPE_AUTH0, /* oauth2 with token_url https://DOMAIN/oauth/token */
	TOKEN_TYPE_RDS,
	TOKEN_TYPE_ELASTICACHE,
};

enum oauth2_auth {
	OAUTH2_AUTH_POST,       /* client_secret_post: id and secret in the body */
	OAUTH2_AUTH_BASIC,      /* client_secret_basic: Authorization: Basic */
	OAUTH2_AUTH_SECRET_JWT, /* client_secret_jwt: an HS256 assertion (RFC 7523) */
	OAUTH2_AUTH_KEY_JWT,    /* private_key_jwt: RS256/PS256/ES256 assertion */
	OAUTH2_AUTH_TLS,        /* tls_client_auth: a CA-issued certificate (RFC 8705) */
	OAUTH2_AUTH_SELF_SIGNED_TLS, /* self_signed_tls_client_auth: a registered one */
};

enum oauth2_body {
	OAUTH2_BODY_FORM, /* application/x-www-form-urlencoded (RFC 6749) */
	OAUTH2_BODY_JSON, /* application/json (Auth0's default) */
};

enum ssm_format {
	SSM_FORMAT_JSON,  /* {"v":1,"token":...,"expires_at":...} */
	SSM_FORMAT_VALUE, /* raw token in Value, expires:EPOCH_MS in Description */
};

enum coordinate {
	COORDINATE_SSM_LOCK,
	COORDINATE_NONE,
};

enum aws_creds_mode {
	AWS_CREDS_CHAIN,
	AWS_CREDS_ENV,
	AWS_CREDS_PROFILE,
	AWS_CREDS_WEB_IDENTITY,
	AWS_CREDS_ECS,
	AWS_CREDS_IMDS,
};

/* A configured secret. Literal, env:NAME and file:/path values are
 * resolved when the config loads (so a missing variable is a config error
 * with its line); ssm:/path[#KEY] is resolved at run time. */
struct config_secret {
	char *ref; /* as written, minus literals: "env:X", "ssm:/p#k", "literal" */
	struct secret *value; /* NULL until resolved (ssm:) or when unset */
	char *ssm_name;       /* ssm: references only */
	char *ssm_key;        /* JSON key after '#', or NULL */
	int line;
};

struct token_def {
	char *name;
	enum token_type type;
	int line; /* the [token "NAME"] line */

	/* oauth2 / auth0 */
	char *token_url; /* derived from domain for auth0; NULL: from issuer */
	char *issuer;    /* metadata source when token_url is unset */
	char *domain;
	char *client_id;
	struct config_secret client_secret;
	enum oauth2_auth client_auth;
	struct config_secret client_key;  /* PEM private key (private_key_jwt, mTLS) */
	struct config_secret client_cert; /* PEM certificate chain (mTLS) */
	char *client_key_id;              /* the assertion's kid; NULL: none */
	char *client_assertion_alg;       /* RS256|PS256|ES256; NULL: the key's */
	enum oauth2_body request_format;
	char *audience;
	char *scope;
	char **resources; /* RFC 8707 resource, repeatable */
	size_t n_resources;
	char **extra_params; /* "name=value", repeatable; reserved names refused */
	size_t n_extra_params;
	int64_t default_lifetime_ms; /* without expires_in or a JWT exp; 0: none */
	char *ca_file; /* PEM CAs trusted for the issuer besides the system's;
	                * [daemon] ca_file when unset */

	/* rds / elasticache */
	char *host;
	int port;
	char *user;
	char *region; /* NULL: the [aws] region */
	char *cache;
	bool serverless;

	/* scheduling, in milliseconds; -1 means "derive from the lifetime" */
	int64_t refresh_before_ms;
	int64_t jitter_ms;
	int64_t min_remaining_ms;
	int64_t request_timeout_ms;

	/* persistence and fleet coordination (SSM) */
	char *ssm_parameter; /* NULL: not persisted */
	char *ssm_type;      /* "SecureString" or "String" */
	char *ssm_kms_key_id;
	char *ssm_tier; /* "Standard" or "Advanced" */
	enum ssm_format ssm_format;
	int64_t ssm_cold_wait_ms; /* no token yet, SSM busy: wait this long */
	enum coordinate coordinate;
	int64_t issuer_budget; /* 0: no budget */

	/* access control by peer credentials; none configured: socket perms */
	uid_t *allow_uids;
	size_t n_allow_uids;
	gid_t *allow_gids;
	size_t n_allow_gids;
};

struct config_daemon {
	char *socket_path;
	mode_t socket_mode;
	char *socket_group; /* NULL: the process's group */
	gid_t socket_gid;   /* socket_group resolved at load time */
	enum log_format log_format;
	int log_level; /* syslog priority */
	int64_t startup_timeout_ms;
	int max_connections;
	int64_t idle_timeout_ms;
	int max_connections_per_uid; /* root, tokend's uid, admin_uids: no cap */
	int max_longpolls_per_uid;
	size_t max_header_size;
	size_t max_body_size;
	uid_t *admin_uids;
	size_t n_admin_uids;
	char *ca_file; /* default of the tokens' ca_file */
};

struct config_aws {
	char *region; /* NULL: AWS_REGION, then AWS_DEFAULT_REGION */
	enum aws_creds_mode credentials;
	char *profile; /* credentials = profile:NAME */
};

struct config {
	char *path;
	struct config_daemon daemon;
	struct config_aws aws;
	struct token_def **tokens;
	size_t ntokens;
};

/* Loads and validates path. On failure err->msg is "FILE:LINE: reason"
 * and err->code ERR_CONFIG (ERR_IO if the file cannot be read). */
int config_load(const char *path, struct config **out, struct err *err);
/* The same from memory; name stands for the file in messages. */
int config_load_string(const char *text, const char *name, struct config **out,
                       struct err *err);
void config_free(struct config *cfg);

const struct token_def *config_find_token(const struct config *cfg, const char *name);
/* True when two definitions would obtain the same tokens (reload keeps
 * the value and timers of such a token). */
bool config_token_def_equal(const struct token_def *a, const struct token_def *b);
/* True when the token needs AWS credentials (rds, elasticache, ssm). */
bool config_needs_aws(const struct config *cfg);

/* "90", "90s", "5m", "2h", "1500ms" to milliseconds (bare numbers are
 * seconds). 0 or -1. */
int config_parse_duration(const char *s, int64_t *ms);
/* Token names: [A-Za-z0-9._-]{1,64}. */
bool config_valid_token_name(const char *name);

const char *config_token_type_name(enum token_type type);
/* client_auth as written in the config ("client_secret_basic"). */
const char *config_client_auth_name(enum oauth2_auth auth);

#endif
