/* config_keys.c - the table of tokend.conf keys and their value parsers. */
#include "config_keys.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "config_secret.h"
#include "xalloc.h"

#define SECRET_FILE_MAX (64 * 1024)
#define SSM_NAME_MAX    1011
#define DURATION_MAX    ((int64_t)366 * 24 * 3600 * 1000)

/* Enum fields are written as int: the enums below must be int-sized. */
_Static_assert(sizeof(enum token_type) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum oauth2_auth) == sizeof(int), "enum size");
_Static_assert(sizeof(enum oauth2_body) == sizeof(int), "enum size");
_Static_assert(sizeof(enum ssm_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum coordinate) == sizeof(int), "enum size");

/* In enum order. */
static const char *const log_formats[] = { "text", "json", NULL };
static const char *const token_types[] = { "oauth2", "auth0", "rds", "elasticache",
	                                   NULL };
static const char *const client_auths[] = { "client_secret_post",
	                                    "client_secret_basic",
	                                    "client_secret_jwt",
	                                    "private_key_jwt",
	                                    "tls_client_auth",
	                                    "self_signed_tls_client_auth",
	                                    NULL };
static const char *const assertion_algs[] = { "RS256", "PS256", "ES256", NULL };
static const char *const body_formats[] = { "form", "json", NULL };
static const char *const ssm_formats[] = { "json", "value", NULL };
static const char *const coordinates[] = { "ssm-lock", "none", NULL };
static const char *const ssm_types[] = { "SecureString", "String", NULL };
static const char *const ssm_tiers[] = { "Standard", "Advanced", NULL };

static config_check_fn check_socket_path, check_token_url, check_issuer, check_domain,
        check_host, check_cache, check_region, check_ssm_parameter, check_resource,
        check_extra_param, check_abs_path;

#define D(m)    CONFIG_SECTION_DAEMON, offsetof(struct config_daemon, m)
#define A(m)    CONFIG_SECTION_AWS, offsetof(struct config_aws, m)
#define T(m)    CONFIG_SECTION_TOKEN, offsetof(struct token_def, m)
#define DUR(lo) .min = (lo), .max = DURATION_MAX

const struct config_key config_keys[] = {
	{ "socket", D(socket_path), CONFIG_KIND_STR, .def = "/run/tokend/tokend.sock",
	  .check = check_socket_path },
	{ "socket_mode", D(socket_mode), CONFIG_KIND_MODE, .def = "0660" },
	{ "socket_group", D(socket_group), CONFIG_KIND_GROUP,
	  .aux = offsetof(struct config_daemon, socket_gid) },
	{ "log_format", D(log_format), CONFIG_KIND_ENUM, .def = "text",
	  .choices = log_formats },
	{ "log_level", D(log_level), CONFIG_KIND_LOGLEVEL, .def = "info" },
	{ "startup_timeout", D(startup_timeout_ms), CONFIG_KIND_DURATION, .def = "30s",
	  DUR(0) },
	{ "max_connections", D(max_connections), CONFIG_KIND_INT, .def = "1024", .min = 1,
	  .max = 65536 },
	{ "idle_timeout", D(idle_timeout_ms), CONFIG_KIND_DURATION, .def = "60s",
	  DUR(1) },
	{ "max_connections_per_uid", D(max_connections_per_uid), CONFIG_KIND_INT,
	  .def = "128", .min = 1, .max = 65536 },
	{ "max_longpolls_per_uid", D(max_longpolls_per_uid), CONFIG_KIND_INT, .def = "32",
	  .min = 0, .max = 65536 },
	{ "max_header_size", D(max_header_size), CONFIG_KIND_SIZE, .def = "8192",
	  .min = 1024, .max = 1048576 },
	{ "max_body_size", D(max_body_size), CONFIG_KIND_SIZE, .def = "1024", .min = 0,
	  .max = 1048576 },
	{ "admin_uids", D(admin_uids), CONFIG_KIND_UIDS,
	  .aux = offsetof(struct config_daemon, n_admin_uids) },
	{ "ca_file", D(ca_file), CONFIG_KIND_STR, .check = check_abs_path },

	{ "region", A(region), CONFIG_KIND_STR, .check = check_region },
	{ "credentials", A(credentials), CONFIG_KIND_CREDS, .def = "chain",
	  .aux = offsetof(struct config_aws, profile) },

	{ "type", T(type), CONFIG_KIND_ENUM, .choices = token_types,
	  .applies = CONFIG_FOR_ALL, .required = CONFIG_FOR_ALL },
	{ "token_url", T(token_url), CONFIG_KIND_STR, .check = check_token_url,
	  .applies = CONFIG_FOR(TOKEN_TYPE_OAUTH2) },
	/* token_url or issuer: config.c requires one of them. */
	{ "issuer", T(issuer), CONFIG_KIND_STR, .check = check_issuer,
	  .applies = CONFIG_FOR(TOKEN_TYPE_OAUTH2) },
	{ "domain", T(domain), CONFIG_KIND_STR, .check = check_domain, .lower = true,
	  .applies = CONFIG_FOR(TOKEN_TYPE_AUTH0),
	  .required = CONFIG_FOR(TOKEN_TYPE_AUTH0) },
	{ "client_id", T(client_id), CONFIG_KIND_STR, .applies = CONFIG_FOR_OAUTH,
	  .required = CONFIG_FOR_OAUTH },
	/* Required or refused by client_auth: config.c checks. */
	{ "client_secret", T(client_secret), CONFIG_KIND_SECRET,
	  .applies = CONFIG_FOR_OAUTH },
	{ "client_key", T(client_key), CONFIG_KIND_SECRET, .applies = CONFIG_FOR_OAUTH },
	{ "client_cert", T(client_cert), CONFIG_KIND_SECRET,
	  .applies = CONFIG_FOR_OAUTH },
	{ "client_key_id", T(client_key_id), CONFIG_KIND_STR,
	  .applies = CONFIG_FOR_OAUTH },
	{ "client_assertion_alg", T(client_assertion_alg), CONFIG_KIND_STRENUM,
	  .choices = assertion_algs, .applies = CONFIG_FOR_OAUTH },
	{ "client_auth", T(client_auth), CONFIG_KIND_ENUM, .def = "client_secret_post",
	  .choices = client_auths, .applies = CONFIG_FOR_OAUTH },
	/* The default depends on the type: config.c fills it in. */
	{ "request_format", T(request_format), CONFIG_KIND_ENUM, .choices = body_formats,
	  .applies = CONFIG_FOR_OAUTH },
	{ "audience", T(audience), CONFIG_KIND_STR, .applies = CONFIG_FOR_OAUTH },
	{ "scope", T(scope), CONFIG_KIND_STR, .applies = CONFIG_FOR_OAUTH },
	{ "resource", T(resources), CONFIG_KIND_STRLIST, .check = check_resource,
	  .aux = offsetof(struct token_def, n_resources), .applies = CONFIG_FOR_OAUTH },
	{ "extra_params", T(extra_params), CONFIG_KIND_STRLIST,
	  .check = check_extra_param, .aux = offsetof(struct token_def, n_extra_params),
	  .applies = CONFIG_FOR_OAUTH },
	{ "default_lifetime", T(default_lifetime_ms), CONFIG_KIND_DURATION, DUR(1000),
	  .applies = CONFIG_FOR_OAUTH },
	{ "ca_file", T(ca_file), CONFIG_KIND_STR, .check = check_abs_path,
	  .applies = CONFIG_FOR_OAUTH },

	{ "host", T(host), CONFIG_KIND_STR, .check = check_host,
	  .applies = CONFIG_FOR(TOKEN_TYPE_RDS), .required = CONFIG_FOR(TOKEN_TYPE_RDS) },
	{ "port", T(port), CONFIG_KIND_INT, .def = "5432", .min = 1, .max = 65535,
	  .applies = CONFIG_FOR(TOKEN_TYPE_RDS) },
	{ "user", T(user), CONFIG_KIND_STR, .applies = CONFIG_FOR_IAM,
	  .required = CONFIG_FOR_IAM },
	{ "region", T(region), CONFIG_KIND_STR, .check = check_region,
	  .applies = CONFIG_FOR_IAM },
	{ "cache", T(cache), CONFIG_KIND_STR, .check = check_cache, .lower = true,
	  .applies = CONFIG_FOR(TOKEN_TYPE_ELASTICACHE),
	  .required = CONFIG_FOR(TOKEN_TYPE_ELASTICACHE) },
	{ "serverless", T(serverless), CONFIG_KIND_BOOL, .def = "false",
	  .applies = CONFIG_FOR(TOKEN_TYPE_ELASTICACHE) },

	/* -1 (unset) comes from config.c: derived from the lifetime. */
	{ "refresh_before", T(refresh_before_ms), CONFIG_KIND_DURATION, DUR(0),
	  .applies = CONFIG_FOR_ALL },
	{ "jitter", T(jitter_ms), CONFIG_KIND_DURATION, DUR(0),
	  .applies = CONFIG_FOR_ALL },
	{ "min_remaining", T(min_remaining_ms), CONFIG_KIND_DURATION, DUR(0),
	  .applies = CONFIG_FOR_ALL },
	{ "request_timeout", T(request_timeout_ms), CONFIG_KIND_DURATION, .def = "10s",
	  DUR(1), .applies = CONFIG_FOR_ALL },
	{ "ssm_parameter", T(ssm_parameter), CONFIG_KIND_STR,
	  .check = check_ssm_parameter, .applies = CONFIG_FOR_ALL },
	{ "ssm_type", T(ssm_type), CONFIG_KIND_STRENUM, .def = "SecureString",
	  .choices = ssm_types, .applies = CONFIG_FOR_ALL },
	{ "ssm_kms_key_id", T(ssm_kms_key_id), CONFIG_KIND_STR,
	  .applies = CONFIG_FOR_ALL },
	{ "ssm_tier", T(ssm_tier), CONFIG_KIND_STRENUM, .def = "Standard",
	  .choices = ssm_tiers, .applies = CONFIG_FOR_ALL },
	{ "ssm_format", T(ssm_format), CONFIG_KIND_ENUM, .def = "json",
	  .choices = ssm_formats, .applies = CONFIG_FOR_ALL },
	{ "ssm_cold_wait", T(ssm_cold_wait_ms), CONFIG_KIND_DURATION, .def = "8s",
	  DUR(1000), .applies = CONFIG_FOR_ALL },
	{ "coordinate", T(coordinate), CONFIG_KIND_ENUM, .def = "ssm-lock",
	  .choices = coordinates, .applies = CONFIG_FOR_ALL },
	{ "issuer_budget", T(issuer_budget), CONFIG_KIND_INT64, .def = "0", .min = 0,
	  .max = INT64_MAX, .applies = CONFIG_FOR_ALL },
	{ "allow_uids", T(allow_uids), CONFIG_KIND_UIDS,
	  .aux = offsetof(struct token_def, n_allow_uids), .applies = CONFIG_FOR_ALL },
	{ "allow_gids", T(allow_gids), CONFIG_KIND_GIDS,
	  .aux = offsetof(struct token_def, n_allow_gids), .applies = CONFIG_FOR_ALL },
};

const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);
_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) <= CONFIG_KEYS_MAX,
               "raise CONFIG_KEYS_MAX");

const struct config_key *
config_key_find(enum config_section section, const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++) {
		if (config_keys[i].section == section &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	}
	return NULL;
}

int
config_parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *suffix;
		int64_t ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }
	};
	int64_t n = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (INT64_MAX - (*p - '0')) / 10)
			return -1;
		n = n * 10 + (*p - '0');
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (n > INT64_MAX / units[i].ms)
			return -1;
		*ms = n * units[i].ms;
		return 0;
	}
	return -1;
}

static void *
field_of(const struct config_key *key, void *base)
{
	return (char *)base + key->offset;
}

static void *
aux_of(const struct config_key *key, void *base)
{
	return (char *)base + key->aux;
}

static int
parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)*s) && !(*s == '-' && isdigit((unsigned char)s[1])))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
set_number(const struct config_key *key, void *field, const char *value, struct err *err)
{
	int64_t v;
	int rc = key->kind == CONFIG_KIND_DURATION ? config_parse_duration(value, &v)
	                                           : parse_int64(value, &v);

	if (rc == -1 && key->kind == CONFIG_KIND_DURATION)
		return err_set(
		        err, ERR_CONFIG,
		        "%s: invalid duration '%s' (use e.g. 90, 90s, 5m, 2h, 500ms)",
		        key->name, value);
	if (rc == -1)
		return err_set(err, ERR_CONFIG, "%s: '%s' is not a number", key->name,
		               value);
	if (v < key->min || v > key->max) {
		if (key->kind == CONFIG_KIND_DURATION)
			return err_set(err, ERR_CONFIG, "%s: %s is out of range",
			               key->name, value);
		return err_set(err, ERR_CONFIG,
		               "%s: %s is out of range (%" PRId64 "..%" PRId64 ")",
		               key->name, value, key->min, key->max);
	}
	switch (key->kind) {
	case CONFIG_KIND_INT: *(int *)field = (int)v; break;
	case CONFIG_KIND_SIZE: *(size_t *)field = (size_t)v; break;
	default: *(int64_t *)field = v; break;
	}
	return 0;
}

static int
set_bool(const struct config_key *key, bool *field, const char *value, struct err *err)
{
	static const char *const yes[] = { "true", "yes", "1" };
	static const char *const no[] = { "false", "no", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*field = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*field = false;
			return 0;
		}
	}
	return err_set(err, ERR_CONFIG, "%s: expected true or false, got '%s'", key->name,
	               value);
}

static int
set_mode(const struct config_key *key, mode_t *field, const char *value, struct err *err)
{
	unsigned long v = 0;
	size_t n = strlen(value);

	if (n == 0 || n > 6 || strspn(value, "01234567") != n)
		return err_set(err, ERR_CONFIG, "%s: '%s' is not an octal mode like 0660",
		               key->name, value);
	v = strtoul(value, NULL, 8);
	if (v > 0777)
		return err_set(err, ERR_CONFIG,
		               "%s: %s has bits other than permissions (max 0777)",
		               key->name, value);
	*field = (mode_t)v;
	return 0;
}

static int
choice_index(const struct config_key *key, const char *value)
{
	for (int i = 0; key->choices[i] != NULL; i++) {
		if (strcasecmp(value, key->choices[i]) == 0)
			return i;
	}
	return -1;
}

static int
set_choice(const struct config_key *key, void *field, const char *value, struct err *err)
{
	char list[128] = "";
	int i = choice_index(key, value);

	if (i >= 0 && key->kind == CONFIG_KIND_ENUM) {
		memcpy(field, &i, sizeof(i));
		return 0;
	}
	if (i >= 0) {
		free(*(char **)field);
		*(char **)field = xstrdup(key->choices[i]);
		return 0;
	}
	for (int j = 0; key->choices[j] != NULL; j++) {
		if (j > 0)
			strncat(list, "|", sizeof(list) - strlen(list) - 1);
		strncat(list, key->choices[j], sizeof(list) - strlen(list) - 1);
	}
	return err_set(err, ERR_CONFIG, "%s: expected %s, got '%s'", key->name, list,
	               value);
}

static int
set_credentials(const struct config_key *key, void *base, const char *value,
                struct err *err)
{
	static const char *const modes[] = { "chain",        "env", NULL,
		                             "web_identity", "ecs", "imds" };
	enum aws_creds_mode *mode = field_of(key, base);
	char **profile = aux_of(key, base);

	if (strncmp(value, "profile:", 8) == 0) {
		if (value[8] == '\0')
			return err_set(err, ERR_CONFIG,
			               "%s: profile: needs a profile name", key->name);
		free(*profile);
		*profile = xstrdup(value + 8);
		*mode = AWS_CREDS_PROFILE;
		return 0;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (modes[i] != NULL && strcmp(value, modes[i]) == 0) {
			*mode = (enum aws_creds_mode)i;
			return 0;
		}
	}
	return err_set(
	        err, ERR_CONFIG,
	        "%s: expected chain|env|profile:NAME|web_identity|ecs|imds, got '%s'",
	        key->name, value);
}

static bool
all_digits(const char *s)
{
	return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* A uid or gid by number or name; false if unknown. */
static bool
resolve_id(const char *s, bool group, unsigned *id)
{
	if (all_digits(s)) {
		errno = 0;
		unsigned long v = strtoul(s, NULL, 10);
		if (errno != 0 || v >= UINT32_MAX)
			return false;
		*id = (unsigned)v;
		return true;
	}
	if (group) {
		struct group *gr = getgrnam(s);
		if (gr != NULL)
			*id = gr->gr_gid;
		return gr != NULL;
	}
	struct passwd *pw = getpwnam(s);
	if (pw != NULL)
		*id = pw->pw_uid;
	return pw != NULL;
}

static int
set_group(const struct config_key *key, void *base, const char *value, struct err *err)
{
	char **name = field_of(key, base);
	gid_t *gid = aux_of(key, base);
	unsigned id;

	if (strcmp(value, "none") == 0) {
		free(*name);
		*name = NULL;
		return 0;
	}
	if (!resolve_id(value, true, &id))
		return err_set(err, ERR_CONFIG, "%s: unknown group '%s'", key->name,
		               value);
	free(*name);
	*name = xstrdup(value);
	*gid = (gid_t)id;
	return 0;
}

/* uid_t and gid_t are both unsigned int on Linux: one list parser. */
_Static_assert(sizeof(uid_t) == sizeof(unsigned) && sizeof(gid_t) == sizeof(unsigned),
               "id size");

static int
set_ids(const struct config_key *key, void *base, const char *value, struct err *err)
{
	bool group = key->kind == CONFIG_KIND_GIDS;
	unsigned **ids = field_of(key, base);
	size_t *n = aux_of(key, base);
	char *copy = xstrdup(value), *save = NULL;
	unsigned *list = NULL;
	size_t count = 0;
	int rc = -1;

	for (char *w = strtok_r(copy, ", \t", &save); w != NULL;
	     w = strtok_r(NULL, ", \t", &save)) {
		list = xrealloc(list, (count + 1) * sizeof(*list));
		if (!resolve_id(w, group, &list[count])) {
			err_set(err, ERR_CONFIG, "%s: unknown %s '%s'", key->name,
			        group ? "group" : "user", w);
			goto out;
		}
		count++;
	}
	if (count == 0) {
		err_set(err, ERR_CONFIG, "%s: no %s listed", key->name,
		        group ? "groups" : "users");
		goto out;
	}
	free(*ids);
	*ids = list;
	*n = count;
	list = NULL;
	rc = 0;
out:
	free(list);
	free(copy);
	return rc;
}

static int
check_ssm_parameter(const char *value, struct err *err)
{
	return config_check_ssm_name(value, err);
}

static int
check_socket_path(const char *value, struct err *err)
{
	struct sockaddr_un sun;

	if (value[0] != '/')
		return err_set(err, ERR_CONFIG, "'%s' is not an absolute path", value);
	if (strlen(value) >= sizeof(sun.sun_path))
		return err_set(err, ERR_CONFIG, "path longer than %zu bytes",
		               sizeof(sun.sun_path) - 1);
	return 0;
}

static bool
loopback_host(const char *host)
{
	unsigned char addr[16];

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, addr) == 1)
		return addr[0] == 127;
	return strcmp(host, "[::1]") == 0;
}

/* value for a message: a user:password@ and a query (either may hold a
 * secret) become "***". */
static const char *
url_for_message(const char *value, char *buf, size_t size)
{
	const char *scheme = strstr(value, "://");
	const char *auth = scheme != NULL ? scheme + 3 : value;
	size_t alen = strcspn(auth, "/?#");
	const char *at = memchr(auth, '@', alen);
	const char *rest = at != NULL ? at + 1 : auth;
	size_t plen = strcspn(rest, "?#");

	snprintf(buf, size, "%.*s%s%.*s%s", (int)(auth - value), value,
	         at != NULL ? "***@" : "", (int)plen, rest, rest[plen] ? "?***" : "");
	return buf;
}

/* RFC 8414 §2: an https URL (http for loopback) without query or fragment. */
static int
check_issuer(const char *value, struct err *err)
{
	char shown[512];

	if (check_token_url(value, err) == -1)
		return -1;
	if (strpbrk(value, "?#") != NULL)
		return err_set(err, ERR_CONFIG,
		               "'%s' must not have a query or a fragment (RFC 8414 §2)",
		               url_for_message(value, shown, sizeof(shown)));
	return 0;
}

static int
check_token_url(const char *value, struct err *err)
{
	bool https = strncasecmp(value, "https://", 8) == 0;
	const char *auth = value + (https ? 8 : 7);
	size_t alen;
	char host[256], shown[512];

	if (!https && strncasecmp(value, "http://", 7) != 0)
		return err_set(err, ERR_CONFIG, "'%s' is not an https:// URL",
		               url_for_message(value, shown, sizeof(shown)));
	alen = strcspn(auth, "/?#");
	if (alen == 0 || alen >= sizeof(host))
		return err_set(err, ERR_CONFIG, "'%s' has no valid host",
		               url_for_message(value, shown, sizeof(shown)));
	if (memchr(auth, '@', alen) != NULL)
		return err_set(err, ERR_CONFIG,
		               "'%s' must not carry credentials (user:password@): "
		               "use client_id and client_secret",
		               url_for_message(value, shown, sizeof(shown)));
	if (strpbrk(value, " \t") != NULL)
		return err_set(err, ERR_CONFIG, "'%s' must not contain spaces",
		               url_for_message(value, shown, sizeof(shown)));
	memcpy(host, auth, alen);
	host[alen] = '\0';
	/* Cut the port: after the last ':' unless it is inside [v6]. */
	char *colon = strrchr(host, ':');
	if (colon != NULL && strchr(colon, ']') == NULL)
		*colon = '\0';
	if (!https && !loopback_host(host))
		return err_set(err, ERR_CONFIG,
		               "plain http:// is refused except to a loopback host "
		               "(localhost, 127.0.0.0/8, [::1]); use https://");
	return 0;
}

static int
check_chars(const char *what, const char *value, const char *ok, struct err *err)
{
	if (strstr(value, "://") != NULL)
		return err_set(err, ERR_CONFIG, "'%s' is a URL, expected a %s", value,
		               what);
	if (strspn(value, ok) != strlen(value))
		return err_set(err, ERR_CONFIG, "'%s' is not a valid %s", value, what);
	return 0;
}

static int
check_domain(const char *value, struct err *err)
{
	return check_chars("host name", value,
	                   "abcdefghijklmnopqrstuvwxyz0123456789.-:", err);
}

static int
check_host(const char *value, struct err *err)
{
	if (strchr(value, ':') != NULL && strstr(value, "://") == NULL)
		return err_set(err, ERR_CONFIG, "'%s': give the port in 'port'", value);
	return check_chars(
	        "host name", value,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", err);
}

static int
check_cache(const char *value, struct err *err)
{
	return check_chars("cache name", value, "abcdefghijklmnopqrstuvwxyz0123456789-",
	                   err);
}

static int
check_region(const char *value, struct err *err)
{
	return check_chars("region", value, "abcdefghijklmnopqrstuvwxyz0123456789-", err);
}

static int
check_abs_path(const char *value, struct err *err)
{
	if (value[0] != '/')
		return err_set(err, ERR_CONFIG, "'%s' is not an absolute path", value);
	return 0;
}

/* RFC 8707 §2: an absolute URI without a fragment. */
static int
check_resource(const char *value, struct err *err)
{
	const char *colon = strchr(value, ':');

	if (colon == NULL || colon == value || !isalpha((unsigned char)value[0]) ||
	    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                  "0123456789+.-") != (size_t)(colon - value))
		return err_set(err, ERR_CONFIG, "'%s' is not an absolute URI", value);
	if (strchr(value, '#') != NULL || strpbrk(value, " \t") != NULL)
		return err_set(err, ERR_CONFIG,
		               "'%s' must have no fragment and no spaces (RFC 8707)",
		               value);
	return 0;
}

/* Parameters tokend sets itself, or that carry credentials: a config
 * that sets them here would send them twice or leak a secret into a
 * plain key. */
static const char *const reserved_params[] = { "grant_type",
	                                       "client_id",
	                                       "client_secret",
	                                       "client_assertion",
	                                       "client_assertion_type",
	                                       "scope",
	                                       "audience",
	                                       "resource",
	                                       NULL };

static int
check_extra_param(const char *value, struct err *err)
{
	const char *eq = strchr(value, '=');
	size_t n = eq != NULL ? (size_t)(eq - value) : 0;

	if (n == 0 || strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                            "0123456789_.-:") != n)
		return err_set(err, ERR_CONFIG,
		               "expected NAME=VALUE, NAME of "
		               "A-Z a-z 0-9 _ . - :");
	for (size_t i = 0; reserved_params[i] != NULL; i++) {
		if (strlen(reserved_params[i]) == n &&
		    strncasecmp(value, reserved_params[i], n) == 0)
			return err_set(err, ERR_CONFIG,
			               "'%s' is set by tokend or has its own key",
			               reserved_params[i]);
	}
	if (strncasecmp(value, "client_assertion", 16) == 0)
		return err_set(err, ERR_CONFIG, "client_assertion* is set by tokend");
	return 0;
}

/* A repeatable key: each line adds one element. */
static int
add_string(const struct config_key *key, void *base, const char *value, struct err *err)
{
	char ***list = field_of(key, base);
	size_t *n = aux_of(key, base);

	if (key->check != NULL && key->check(value, err) == -1) {
		err_prefix(err, "%s", key->name);
		return -1;
	}
	*list = xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = xstrdup(value);
	return 0;
}

static int
set_string(const struct config_key *key, char **field, const char *value, struct err *err)
{
	char *copy = xstrdup(value);

	if (key->lower) {
		for (char *p = copy; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	if (key->check != NULL && key->check(copy, err) == -1) {
		err_prefix(err, "%s", key->name);
		free(copy);
		return -1;
	}
	free(*field);
	*field = copy;
	return 0;
}

int
config_key_set(const struct config_key *key, void *base, const char *value,
               struct err *err)
{
	void *field = field_of(key, base);

	for (const char *p = value; *p != '\0'; p++) {
		if (iscntrl((unsigned char)*p))
			return err_set(err, ERR_CONFIG, "%s: control character in value",
			               key->name);
	}
	switch (key->kind) {
	case CONFIG_KIND_STR: return set_string(key, field, value, err);
	case CONFIG_KIND_DURATION:
	case CONFIG_KIND_INT:
	case CONFIG_KIND_SIZE:
	case CONFIG_KIND_INT64: return set_number(key, field, value, err);
	case CONFIG_KIND_BOOL: return set_bool(key, field, value, err);
	case CONFIG_KIND_MODE: return set_mode(key, field, value, err);
	case CONFIG_KIND_ENUM:
	case CONFIG_KIND_STRENUM: return set_choice(key, field, value, err);
	case CONFIG_KIND_LOGLEVEL:
		if (log_level_parse(value, field) == 0)
			return 0;
		return err_set(err, ERR_CONFIG,
		               "%s: expected error|warn|notice|info|debug, got '%s'",
		               key->name, value);
	case CONFIG_KIND_CREDS: return set_credentials(key, base, value, err);
	case CONFIG_KIND_GROUP: return set_group(key, base, value, err);
	case CONFIG_KIND_UIDS:
	case CONFIG_KIND_GIDS: return set_ids(key, base, value, err);
	case CONFIG_KIND_SECRET:
		if (config_secret_set(field, value, err) == 0)
			return 0;
		err_prefix(err, "%s", key->name);
		return -1;
	case CONFIG_KIND_STRLIST: return add_string(key, base, value, err);
	}
	return err_set(err, ERR_INTERNAL, "%s: unknown kind", key->name);
}

void
config_key_free(const struct config_key *key, void *base)
{
	void *field = field_of(key, base);

	switch (key->kind) {
	case CONFIG_KIND_STR:
	case CONFIG_KIND_STRENUM:
	case CONFIG_KIND_GROUP:
	case CONFIG_KIND_UIDS:
	case CONFIG_KIND_GIDS:
		free(*(void **)field);
		*(void **)field = NULL;
		break;
	case CONFIG_KIND_CREDS:
		free(*(char **)aux_of(key, base));
		*(char **)aux_of(key, base) = NULL;
		break;
	case CONFIG_KIND_SECRET: config_secret_clear(field); break;
	case CONFIG_KIND_STRLIST:
		for (size_t i = 0; i < *(size_t *)aux_of(key, base); i++)
			free((*(char ***)field)[i]);
		free(*(char ***)field);
		*(char ***)field = NULL;
		*(size_t *)aux_of(key, base) = 0;
		break;
	default: break;
	}
}
