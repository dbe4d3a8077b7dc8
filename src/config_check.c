/* config_check.c - warnings of tokend --check-config. Errors are found by
 * building the daemon itself (main.c), so they match start-up exactly. */
#include "config_check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xalloc.h"

static bool
env_set(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0';
}

/* $var, else $HOME/.aws/name. */
static bool
shared_file_exists(const char *var, const char *name)
{
	const char *home = getenv("HOME");
	char *path = NULL;
	bool found;

	if (env_set(var))
		path = xstrdup(getenv(var));
	else if (home != NULL && *home != '\0')
		xasprintf(&path, "%s/.aws/%s", home, name);
	found = path != NULL && access(path, R_OK) == 0;
	free(path);
	return found;
}

static void
add(char *buf, size_t size, const char *what)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s%s", n ? ", " : "", what);
}

void
config_check_creds_sources(enum aws_creds_mode mode, char *buf, size_t size)
{
	bool all = mode == AWS_CREDS_CHAIN;
	const char *imds_off = getenv("AWS_EC2_METADATA_DISABLED");

	buf[0] = '\0';
	if ((all || mode == AWS_CREDS_ENV) && env_set("AWS_ACCESS_KEY_ID") &&
	    env_set("AWS_SECRET_ACCESS_KEY"))
		add(buf, size, "environment");
	if ((all || mode == AWS_CREDS_PROFILE) &&
	    (shared_file_exists("AWS_SHARED_CREDENTIALS_FILE", "credentials") ||
	     shared_file_exists("AWS_CONFIG_FILE", "config")))
		add(buf, size, "shared files");
	if ((all || mode == AWS_CREDS_WEB_IDENTITY) &&
	    env_set("AWS_WEB_IDENTITY_TOKEN_FILE") && env_set("AWS_ROLE_ARN"))
		add(buf, size, "web identity");
	if ((all || mode == AWS_CREDS_ECS) &&
	    (env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") ||
	     env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI")))
		add(buf, size, "ECS container endpoint");
	if ((all || mode == AWS_CREDS_IMDS) &&
	    (imds_off == NULL || strcasecmp(imds_off, "true") != 0))
		add(buf, size, "EC2 instance metadata");
}

static unsigned
warn_socket_dir(const struct config *cfg, FILE *out)
{
	const char *path = cfg->daemon.socket_path;
	const char *slash = strrchr(path, '/');
	char *dir;
	struct stat st;
	unsigned n = 0;

	if (slash == NULL)
		return 0;
	dir = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
	if (stat(dir, &st) == -1) {
		fprintf(out,
		        "tokend: warning: socket directory %s: %s (start-up fails "
		        "unless something creates it first: systemd's "
		        "RuntimeDirectory=, tmpfiles, a volume)\n",
		        dir, strerror(errno));
		n++;
	} else if (!S_ISDIR(st.st_mode)) {
		fprintf(out, "tokend: warning: socket directory %s is not a directory\n",
		        dir);
		n++;
	}
	free(dir);
	return n;
}

/* Why the first token that needs AWS needs it, for the message. */
static const char *
aws_user(const struct config *cfg, char *buf, size_t size)
{
	for (size_t i = 0; i < cfg->ntokens; i++) {
		const struct token_def *t = cfg->tokens[i];
		const char *why = NULL;

		if (t->client_secret.ssm_name != NULL)
			why = "its client_secret is an ssm: reference";
		else if (t->type == TOKEN_TYPE_RDS || t->type == TOKEN_TYPE_ELASTICACHE)
			why = config_token_type_name(t->type);
		else if (t->ssm_parameter != NULL)
			why = "ssm_parameter";
		if (why != NULL) {
			snprintf(buf, size, "token \"%s\": %s", t->name, why);
			return buf;
		}
	}
	return "";
}

static unsigned
warn_credentials(const struct config *cfg, FILE *out)
{
	char sources[160], who[128];

	if (!config_needs_aws(cfg))
		return 0;
	config_check_creds_sources(cfg->aws.credentials, sources, sizeof(sources));
	if (sources[0] == '\0') {
		fprintf(out,
		        "tokend: warning: AWS credentials are needed (%s) but this "
		        "environment offers no source for [aws] credentials (and EC2 "
		        "instance metadata is disabled or not selected)\n",
		        aws_user(cfg, who, sizeof(who)));
		return 1;
	}
	if (strcmp(sources, "EC2 instance metadata") == 0) {
		fprintf(out,
		        "tokend: warning: AWS credentials are needed (%s) and only EC2 "
		        "instance metadata is left to provide them: no "
		        "AWS_ACCESS_KEY_ID, "
		        "shared files, web identity or ECS container endpoint here; "
		        "fine on EC2, fatal elsewhere\n",
		        aws_user(cfg, who, sizeof(who)));
		return 1;
	}
	return 0;
}

/* token_url wins over issuer: the metadata is never read. */
static unsigned
warn_issuer_unused(const struct config *cfg, FILE *out)
{
	unsigned n = 0;

	for (size_t i = 0; i < cfg->ntokens; i++) {
		const struct token_def *t = cfg->tokens[i];

		if (t->issuer == NULL || t->token_url == NULL)
			continue;
		fprintf(out,
		        "tokend: warning: token \"%s\": issuer is not used: token_url "
		        "is set and wins over discovery\n",
		        t->name);
		n++;
	}
	return n;
}

unsigned
config_check_warnings(const struct config *cfg, FILE *out)
{
	return warn_socket_dir(cfg, out) + warn_credentials(cfg, out) +
	       warn_issuer_unused(cfg, out);
}
