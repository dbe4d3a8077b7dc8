/* aws_creds_files.c - credentials from the environment and the shared
 * ~/.aws files. */
#include "aws_creds_files.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_creds.h"
#include "secret.h"
#include "timeutil.h"
#include "xalloc.h"

#define FILE_MAX (1024 * 1024)

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

int
aws_creds_files_env(struct aws_credentials **out, struct err *err)
{
	const char *akid = env("AWS_ACCESS_KEY_ID");
	const char *secret = env("AWS_SECRET_ACCESS_KEY");
	const char *token = env("AWS_SESSION_TOKEN");
	const char *exp = env("AWS_CREDENTIAL_EXPIRATION");
	int64_t exp_s = 0;

	if (akid == NULL && secret == NULL)
		return err_set(err, ERR_UNAVAILABLE, "env: AWS_ACCESS_KEY_ID not set"), 0;
	/* Half a key pair is a mistake to report, not a reason to go on
	 * and pick up another identity. */
	if (akid == NULL)
		return err_set(
		        err, ERR_CONFIG,
		        "env: AWS_SECRET_ACCESS_KEY set without AWS_ACCESS_KEY_ID");
	if (secret == NULL)
		return err_set(
		        err, ERR_CONFIG,
		        "env: AWS_ACCESS_KEY_ID set without AWS_SECRET_ACCESS_KEY");
	if (token == NULL)
		token = env("AWS_SECURITY_TOKEN");
	if (exp != NULL && timeutil_parse_iso8601(exp, &exp_s) == -1)
		return err_set(err, ERR_CONFIG,
		               "env: AWS_CREDENTIAL_EXPIRATION \"%.40s\" is not ISO 8601",
		               exp);
	*out = aws_credentials_new(akid, secret, token, exp_s * 1000, "env");
	return 1;
}

/* INI parsing. */

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "[ profile   prod ]" -> "profile prod". */
static void
section_name(char *name, char *out, size_t outlen)
{
	name = trim(name);
	if (strncmp(name, "profile", 7) == 0 && isspace((unsigned char)name[7]))
		snprintf(out, outlen, "profile %s", trim(name + 8));
	else
		snprintf(out, outlen, "%s", name);
}

static bool
unsupported_key(const char *key)
{
	static const char *const keys[] = {
		"role_arn",           "source_profile", "credential_source",
		"credential_process", "sso_session",    "sso_start_url",
		"sso_account_id",     "sso_role_name",  "web_identity_token_file",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcasecmp(key, keys[i]) == 0)
			return true;
	return false;
}

static void
set_once(char **slot, const char *value)
{
	if (*slot == NULL)
		*slot = xstrdup(value);
}

static void
profile_key(struct aws_profile *p, const char *key, const char *value)
{
	if (strcasecmp(key, "aws_access_key_id") == 0)
		set_once(&p->access_key_id, value);
	else if (strcasecmp(key, "aws_secret_access_key") == 0)
		set_once(&p->secret_access_key, value);
	else if (strcasecmp(key, "aws_session_token") == 0 ||
	         strcasecmp(key, "aws_security_token") == 0)
		set_once(&p->session_token, value);
	else if (strcasecmp(key, "region") == 0)
		set_once(&p->region, value);
	else if (unsupported_key(key) && p->unsupported[0] == '\0')
		snprintf(p->unsupported, sizeof(p->unsupported), "%s", key);
}

int
aws_creds_files_parse(const char *text, const char *section, struct aws_profile *p,
                      struct err *err)
{
	char *copy = xstrdup(text), *line, *next, name[128];
	bool in = false, after_key = false;
	int lineno = 0, rc = -1;

	for (line = copy; line != NULL; line = next) {
		char *s, *eq;
		bool indented = line[0] == ' ' || line[0] == '\t';

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');

			if (close == NULL) {
				err_set(err, ERR_PARSE, "line %d: unterminated section",
				        lineno);
				goto out;
			}
			*close = '\0';
			section_name(s + 1, name, sizeof(name));
			in = strcmp(name, section) == 0;
			p->found |= in;
			after_key = false;
			continue;
		}
		/* Nested settings ("s3 =" then indented lines) belong to the
		 * key above: nothing tokend reads. */
		if (indented && after_key)
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			err_set(err, ERR_PARSE, "line %d: expected key = value", lineno);
			goto out;
		}
		*eq = '\0';
		after_key = true;
		if (in)
			profile_key(p, trim(s), trim(eq + 1));
	}
	rc = 0;
out:
	secret_free_str(copy);
	return rc;
}

void
aws_creds_files_clear(struct aws_profile *p)
{
	free(p->access_key_id);
	secret_free_str(p->secret_access_key);
	secret_free_str(p->session_token);
	free(p->region);
	memset(p, 0, sizeof(*p));
}

/* The shared files. */

/* A file's text, NULL when it does not exist (-1 on other errors). */
static int
read_file(const char *path, char **out, struct err *err)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	*out = NULL;
	if (f == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	}
	buf = xmalloc(FILE_MAX + 1);
	n = fread(buf, 1, FILE_MAX, f);
	if (ferror(f) || !feof(f)) {
		fclose(f);
		secret_free_mem(buf, FILE_MAX + 1);
		return err_set(err, ERR_IO, "%s: unreadable or over 1 MiB", path);
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	return 0;
}

static char *
file_path(const char *var, const char *base)
{
	const char *v = env(var), *home = env("HOME");
	char *path = NULL;

	if (v != NULL && v[0] == '~' && v[1] == '/' && home != NULL)
		xasprintf(&path, "%s%s", home, v + 1);
	else if (v != NULL)
		path = xstrdup(v);
	else if (home != NULL)
		xasprintf(&path, "%s/.aws/%s", home, base);
	return path;
}

/* Parses section of the file at path into p; a missing file is fine. */
static int
load_section(const char *path, const char *section, struct aws_profile *p, bool *exists,
             struct err *err)
{
	char *text = NULL;
	int rc;

	*exists = false;
	if (path == NULL)
		return 0;
	if (read_file(path, &text, err) == -1)
		return -1;
	if (text == NULL)
		return 0;
	*exists = true;
	rc = aws_creds_files_parse(text, section, p, err);
	if (rc == -1)
		err_prefix(err, "%s", path);
	secret_free_str(text);
	return rc;
}

static int
load_profiles(const char *name, struct aws_profile *pc, struct aws_profile *pf,
              char *const paths[2], bool exists[2], struct err *err)
{
	char section[160];

	if (load_section(paths[0], name, pc, &exists[0], err) == -1)
		return -1;
	snprintf(section, sizeof(section), "profile %s", name);
	if (load_section(paths[1], section, pf, &exists[1], err) == -1)
		return -1;
	if (!pf->found && strcmp(name, "default") == 0)
		return load_section(paths[1], name, pf, &exists[1], err);
	return 0;
}

static int
pick_profile(const char *name, struct aws_profile *pc, struct aws_profile *pf,
             char *const paths[2], const bool exists[2], struct aws_credentials **out,
             struct err *err)
{
	struct aws_profile *src = pc->access_key_id ? pc : pf->access_key_id ? pf : NULL;
	const char *bad = pc->unsupported[0] ? pc->unsupported : pf->unsupported;

	if (!pc->found && !pf->found) {
		if (!exists[0] && !exists[1])
			return err_set(err, ERR_UNAVAILABLE, "profile %s: no %s", name,
			               paths[0] ? paths[0] : "$HOME/.aws/credentials"),
			       0;
		return err_set(err, ERR_UNAVAILABLE,
		               "profile %s: not in the shared files", name),
		       0;
	}
	if (bad[0] != '\0')
		return err_set(err, ERR_CONFIG,
		               "profile %s: %s is not supported (static keys only)", name,
		               bad);
	if (src == NULL)
		return err_set(err, ERR_UNAVAILABLE, "profile %s: no aws_access_key_id",
		               name),
		       0;
	if (src->secret_access_key == NULL)
		return err_set(
		        err, ERR_CONFIG,
		        "profile %s: aws_access_key_id without aws_secret_access_key",
		        name);
	*out = aws_credentials_new(src->access_key_id, src->secret_access_key,
	                           src->session_token, 0, "profile");
	return 1;
}

int
aws_creds_files_profile(const char *profile, struct aws_credentials **out,
                        struct err *err)
{
	struct aws_profile pc = { 0 }, pf = { 0 };
	char *paths[2];
	bool exists[2] = { false, false };
	const char *name = profile;
	int rc = -1;

	if (name == NULL)
		name = env("AWS_PROFILE");
	if (name == NULL)
		name = env("AWS_DEFAULT_PROFILE");
	if (name == NULL)
		name = "default";
	paths[0] = file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	paths[1] = file_path("AWS_CONFIG_FILE", "config");
	if (load_profiles(name, &pc, &pf, paths, exists, err) == -1) {
		err_prefix(err, "profile %s", name);
		goto out;
	}
	rc = pick_profile(name, &pc, &pf, paths, exists, out, err);
out:
	aws_creds_files_clear(&pc);
	aws_creds_files_clear(&pf);
	free(paths[0]);
	free(paths[1]);
	return rc;
}
