/* config_secret.c - secret references in tokend.conf: literal, env:,
 * file: (resolved at load) and ssm: (kept for run time). */
#include "config_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"
#include "xalloc.h"

#define SECRET_FILE_MAX (64 * 1024)
#define SSM_NAME_MAX    1011

int
config_check_ssm_name(const char *name, struct err *err)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                         "0123456789_.-/";
	size_t n = strlen(name);

	if (name[0] != '/')
		return err_set(err, ERR_CONFIG, "SSM name '%s' must start with '/'",
		               name);
	if (strspn(name, ok) != n)
		return err_set(err, ERR_CONFIG,
		               "SSM name '%s' has characters outside a-zA-Z0-9_.-/",
		               name);
	if (n > SSM_NAME_MAX)
		return err_set(err, ERR_CONFIG, "SSM name is longer than %d characters",
		               SSM_NAME_MAX);
	return 0;
}

/* Reads a file: secret. The bytes are wiped wherever they are dropped. */
static int
read_secret_file(const char *path, struct secret **out, struct err *err)
{
	char *buf = xmalloc(SECRET_FILE_MAX + 1);
	size_t len = 0;
	ssize_t n = 0;
	int rc = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1) {
		err_set(err, ERR_CONFIG, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	while (len <= SECRET_FILE_MAX &&
	       (n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len)) > 0)
		len += (size_t)n;
	if (n == -1) {
		err_set(err, ERR_CONFIG, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (len > SECRET_FILE_MAX) {
		err_set(err, ERR_CONFIG, "%s is larger than %d bytes", path,
		        SECRET_FILE_MAX);
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0) {
		err_set(err, ERR_CONFIG, "%s is empty", path);
		goto out;
	}
	*out = secret_new(buf, len);
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	secret_free_mem(buf, SECRET_FILE_MAX + 1);
	return rc;
}

static int
parse_ssm_ref(struct config_secret *cs, const char *ref, struct err *err)
{
	const char *hash = strchr(ref, '#');
	char *name = hash != NULL ? xstrndup(ref, (size_t)(hash - ref)) : xstrdup(ref);

	if (config_check_ssm_name(name, err) == -1) {
		free(name);
		return -1;
	}
	if (hash != NULL && hash[1] == '\0') {
		free(name);
		return err_set(err, ERR_CONFIG, "nothing after '#' in ssm:%s", ref);
	}
	cs->ssm_name = name;
	cs->ssm_key = hash != NULL ? xstrdup(hash + 1) : NULL;
	return 0;
}

void
config_secret_clear(struct config_secret *cs)
{
	free(cs->ref);
	secret_unref(cs->value);
	free(cs->ssm_name);
	free(cs->ssm_key);
	memset(cs, 0, sizeof(*cs));
}

/* Never puts the value itself in a message: it may be the secret. */
static int
resolve_secret(const char *value, struct config_secret *cs, struct err *err)
{
	if (strncmp(value, "env:", 4) == 0) {
		const char *v = getenv(value + 4);
		if (v == NULL || *v == '\0')
			return err_set(err, ERR_CONFIG, "environment variable '%s' is %s",
			               value + 4, v == NULL ? "not set" : "empty");
		cs->value = secret_new_str(v);
	} else if (strncmp(value, "file:", 5) == 0) {
		if (value[5] != '/')
			return err_set(err, ERR_CONFIG, "file: needs an absolute path");
		if (read_secret_file(value + 5, &cs->value, err) == -1)
			return -1;
	} else if (strncmp(value, "ssm:", 4) == 0) {
		if (parse_ssm_ref(cs, value + 4, err) == -1)
			return -1;
	} else {
		cs->value = secret_new_str(value);
		cs->ref = xstrdup("literal");
		return 0;
	}
	cs->ref = xstrdup(value);
	return 0;
}

int
config_secret_set(struct config_secret *cs, const char *value, struct err *err)
{
	struct config_secret tmp = { 0 };

	if (resolve_secret(value, &tmp, err) == -1) {
		config_secret_clear(&tmp);
		return -1;
	}
	config_secret_clear(cs);
	*cs = tmp;
	return 0;
}
