/* config.c - tokend.conf: libinih drives, this file tracks sections and
 * validates whole tokens; single values are parsed by config_keys.c.
 *
 * The Debian build of libinih does not pass line numbers to the handler,
 * so the text is fed through ini_parse_stream with a reader that counts
 * lines. The reader also sees section headers before inih does, which is
 * how empty sections are noticed and a token is validated as a whole (its
 * type may come after keys that depend on it) when its section ends.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_keys.h"
#include "secret.h"
#include "xalloc.h"

#define CONFIG_MAX_TOKENS 1024
#define CONFIG_FILE_MAX   (1024 * 1024)
#define TOKEN_NAME_MAX    64

enum section {
	SECTION_NONE,
	SECTION_DAEMON,
	SECTION_AWS,
	SECTION_TOKEN,
};

struct parser {
	struct config *cfg;
	struct err *err;
	bool failed;
	int fail_line;

	const char *text;
	size_t pos;
	int lineno;
	bool key_seen; /* inih's prev_name: an indented line continues it */

	mode_t too_open; /* the file's mode when others may read it or group or
	                  * others write it (literal secret warning), else 0 */
	bool warned;

	enum section section;
	int daemon_line, aws_line;
	struct token_def *tok;
	int seen[CONFIG_KEYS_MAX]; /* line each key was set on in this section */
};

static int fail(struct parser *p, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Keeps the first error only: later ones are usually its consequences. */
static int
fail(struct parser *p, int line, const char *fmt, ...)
{
	char msg[2048]; /* err_set elides what does not fit, keeping the end */
	va_list ap;

	if (p->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->failed = true;
	p->fail_line = line;
	return err_set(p->err, ERR_CONFIG, "%s:%d: %s", p->cfg->path, line, msg);
}

bool
config_valid_token_name(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= TOKEN_NAME_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                    "0123456789._-") == n;
}

const char *
config_token_type_name(enum token_type type)
{
	switch (type) {
	case TOKEN_TYPE_OAUTH2: return "oauth2";
	case TOKEN_TYPE_AUTH0: return "auth0";
	case TOKEN_TYPE_RDS: return "rds";
	case TOKEN_TYPE_ELASTICACHE: return "elasticache";
	}
	return "unknown";
}

const char *
config_client_auth_name(enum oauth2_auth auth)
{
	const struct config_key *key =
	        config_key_find(CONFIG_SECTION_TOKEN, "client_auth");

	return key->choices[auth];
}

const struct token_def *
config_find_token(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ntokens; i++) {
		if (strcmp(cfg->tokens[i]->name, name) == 0)
			return cfg->tokens[i];
	}
	return NULL;
}

static size_t
key_index(const struct config_key *key)
{
	return (size_t)(key - config_keys);
}

static bool
seen_key(const struct parser *p, const char *name)
{
	const struct config_key *key = config_key_find(CONFIG_SECTION_TOKEN, name);

	return p->seen[key_index(key)] != 0;
}

/* The first key (by line) set in the section that the type does not use. */
static const struct config_key *
first_inapplicable(const struct parser *p, unsigned type_bit)
{
	const struct config_key *bad = NULL;

	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *key = &config_keys[i];
		if (key->section != CONFIG_SECTION_TOKEN || p->seen[i] == 0 ||
		    (key->applies & type_bit) != 0)
			continue;
		if (bad == NULL || p->seen[i] < p->seen[key_index(bad)])
			bad = key;
	}
	return bad;
}

/* The line a key of the token was set on. */
static int
key_line(const struct parser *p, const char *name)
{
	return p->seen[key_index(config_key_find(CONFIG_SECTION_TOKEN, name))];
}

/* The credential keys each client_auth needs (the others are refused):
 * bit 0 client_secret, 1 client_key, 2 client_cert, 3 client_key_id and
 * client_assertion_alg. In enum oauth2_auth order. */
static const unsigned auth_keys[] = { 1, 1, 1, 2 | 8, 2 | 4, 2 | 4 };
_Static_assert(sizeof(auth_keys) / sizeof(auth_keys[0]) ==
                       OAUTH2_AUTH_SELF_SIGNED_TLS + 1,
               "one auth_keys row per client_auth");

static int
check_client_auth(struct parser *p, const struct token_def *t)
{
	static const char *const names[] = { "client_secret", "client_key", "client_cert",
		                             "client_key_id", "client_assertion_alg" };
	static const char *const methods[] = {
		"client_secret_post", "client_secret_basic", "client_secret_jwt",
		"private_key_jwt",    "tls_client_auth",     "self_signed_tls_client_auth"
	};
	unsigned need = auth_keys[t->client_auth];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		unsigned bit = 1u << (i < 3 ? i : 3);
		bool seen = seen_key(p, names[i]);

		if ((need & bit) != 0 && !seen && bit != 8)
			return fail(p, t->line,
			            "token \"%s\": missing required key '%s'%s%s%s",
			            t->name, names[i], bit == 1 ? "" : " (client_auth ",
			            bit == 1 ? "" : methods[t->client_auth],
			            bit == 1 ? "" : ")");
		if ((need & bit) == 0 && seen)
			return fail(p, key_line(p, names[i]),
			            "%s does not apply to client_auth %s", names[i],
			            methods[t->client_auth]);
	}
	return 0;
}

static int
finish_token(struct parser *p)
{
	struct token_def *t = p->tok;
	unsigned bit = CONFIG_FOR(t->type);
	const struct config_key *bad;

	if (!seen_key(p, "type"))
		return fail(p, t->line, "token \"%s\": missing required key 'type'",
		            t->name);
	bad = first_inapplicable(p, bit);
	if (bad != NULL)
		return fail(p, p->seen[key_index(bad)],
		            "key '%s' does not apply to type %s%s", bad->name,
		            config_token_type_name(t->type),
		            t->type == TOKEN_TYPE_AUTH0 &&
		                            strcmp(bad->name, "token_url") == 0
		                    ? " (it is https://DOMAIN/oauth/token)"
		                    : "");
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *key = &config_keys[i];
		if (key->section != CONFIG_SECTION_TOKEN || p->seen[i] != 0)
			continue;
		if ((key->required & bit) != 0)
			return fail(p, t->line, "token \"%s\": missing required key '%s'",
			            t->name, key->name);
		if (key->def != NULL && (key->applies & bit) != 0 &&
		    config_key_set(key, t, key->def, p->err) == -1)
			return fail(p, t->line, "default of %s", key->name);
	}
	if (t->type == TOKEN_TYPE_OAUTH2 && t->token_url == NULL && t->issuer == NULL)
		return fail(p, t->line,
		            "token \"%s\": missing required key 'token_url' (or 'issuer' "
		            "to discover it)",
		            t->name);
	if ((t->type == TOKEN_TYPE_OAUTH2 || t->type == TOKEN_TYPE_AUTH0) &&
	    check_client_auth(p, t) == -1)
		return -1;
	if (t->type == TOKEN_TYPE_AUTH0) {
		xasprintf(&t->token_url, "https://%s/oauth/token", t->domain);
		if (!seen_key(p, "request_format"))
			t->request_format = OAUTH2_BODY_JSON;
	}
	return 0;
}

static int
finish_section(struct parser *p)
{
	int rc = 0;

	if (p->section == SECTION_TOKEN)
		rc = finish_token(p);
	p->section = SECTION_NONE;
	p->tok = NULL;
	memset(p->seen, 0, sizeof(p->seen));
	return rc;
}

static int
begin_token(struct parser *p, const char *section)
{
	const char *q = section + strlen("token");
	const char *end;
	const struct token_def *dup;
	struct token_def *t;
	char *name;

	q += strspn(q, " \t");
	end = *q == '"' ? strchr(q + 1, '"') : NULL;
	if (q == section + strlen("token") || end == NULL || end[1] != '\0')
		return fail(p, p->lineno, "section [%s]: expected [token \"NAME\"]",
		            section);
	name = xstrndup(q + 1, (size_t)(end - q - 1));
	if (!config_valid_token_name(name)) {
		fail(p, p->lineno,
		     "invalid token name \"%s\" (1 to %d of A-Z a-z 0-9 . _ -)", name,
		     TOKEN_NAME_MAX);
		free(name);
		return -1;
	}
	dup = config_find_token(p->cfg, name);
	if (dup != NULL || p->cfg->ntokens >= CONFIG_MAX_TOKENS) {
		if (dup != NULL)
			fail(p, p->lineno,
			     "duplicate token \"%s\" (first defined on line %d)", name,
			     dup->line);
		else
			fail(p, p->lineno, "more than %d tokens", CONFIG_MAX_TOKENS);
		free(name);
		return -1;
	}
	t = xcalloc(1, sizeof(*t));
	t->name = name;
	t->line = p->lineno;
	t->refresh_before_ms = -1;
	t->jitter_ms = -1;
	t->min_remaining_ms = -1;
	p->cfg->tokens =
	        xrealloc(p->cfg->tokens, (p->cfg->ntokens + 1) * sizeof(*p->cfg->tokens));
	p->cfg->tokens[p->cfg->ntokens++] = t;
	p->tok = t;
	p->section = SECTION_TOKEN;
	return 0;
}

static int
begin_section(struct parser *p, const char *section)
{
	int *first = NULL;

	if (finish_section(p) == -1)
		return -1;
	if (strncmp(section, "token", 5) == 0 &&
	    (section[5] == '\0' || strchr(" \t\"", section[5]) != NULL))
		return begin_token(p, section);
	if (strcmp(section, "daemon") == 0) {
		first = &p->daemon_line;
		p->section = SECTION_DAEMON;
	} else if (strcmp(section, "aws") == 0) {
		first = &p->aws_line;
		p->section = SECTION_AWS;
	} else {
		return fail(p, p->lineno, "unknown section [%s]", section);
	}
	if (*first != 0)
		return fail(p, p->lineno, "duplicate section [%s] (first on line %d)",
		            section, *first);
	*first = p->lineno;
	return 0;
}

/* Sees each line before inih does: counts it, starts sections, and stops
 * on what inih would silently misread. */
static int
classify_line(struct parser *p, const char *line)
{
	const char *start = line;
	const char *end;
	char *section;
	int rc;

	if (p->lineno == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0)
		start += 3;
	start += strspn(start, " \t\r\n\v\f");
	if (*start == '\0' || *start == ';' || *start == '#')
		return 0;
	if (start > line && p->key_seen)
		return fail(p, p->lineno,
		            "indented line would continue the value above "
		            "(continuation lines are not supported)");
	if (*start != '[') {
		p->key_seen = true;
		return 0;
	}
	end = strchr(start, ']');
	if (end == NULL)
		return fail(p, p->lineno, "section header without ']'");
	section = xstrndup(start + 1, (size_t)(end - start - 1));
	rc = begin_section(p, section);
	free(section);
	p->key_seen = false;
	return rc;
}

static char *
read_line(char *buf, int size, void *arg)
{
	struct parser *p = arg;
	const char *line = p->text + p->pos;
	size_t len, n;

	if (p->failed || *line == '\0')
		return NULL;
	len = strcspn(line, "\n");
	n = len + (line[len] == '\n');
	p->lineno++;
	if (len + 2 > (size_t)size) {
		fail(p, p->lineno, "line longer than %d bytes", size - 2);
		return NULL;
	}
	memcpy(buf, line, n);
	buf[n] = '\0';
	p->pos += n;
	if (classify_line(p, buf) == -1)
		return NULL;
	return buf;
}

static const char *
section_label(const struct parser *p, char *buf, size_t size)
{
	switch (p->section) {
	case SECTION_DAEMON: return "[daemon]";
	case SECTION_AWS: return "[aws]";
	case SECTION_TOKEN:
		snprintf(buf, size, "[token \"%s\"]", p->tok->name);
		return buf;
	case SECTION_NONE: break;
	}
	return "no section";
}

static void
warn_literal(struct parser *p, int line)
{
	if (p->too_open == 0 || p->warned)
		return;
	p->warned = true;
	/* 0640 (tokend(8): root owns it, tokend's group reads it) is fine. */
	log_warn("%s:%d: token \"%s\": client_secret is written literally in a file "
	         "that others may read or group or others may write (mode %04o); "
	         "use env:, file: or ssm:, or chmod 0640 or 0600",
	         p->cfg->path, line, p->tok->name, (unsigned)(p->too_open & 07777));
}

static int
handle_key(struct parser *p, const char *name, const char *value)
{
	static const enum config_section kinds[] = {
		[SECTION_DAEMON] = CONFIG_SECTION_DAEMON,
		[SECTION_AWS] = CONFIG_SECTION_AWS,
		[SECTION_TOKEN] = CONFIG_SECTION_TOKEN,
	};
	void *bases[] = { NULL, &p->cfg->daemon, &p->cfg->aws, p->tok };
	const struct config_key *key;
	char label[96];
	int line = p->lineno;

	if (p->section == SECTION_NONE)
		return fail(p, line, "key '%s' is outside any section", name);
	key = config_key_find(kinds[p->section], name);
	if (key == NULL)
		return fail(p, line, "unknown key '%s' in %s", name,
		            section_label(p, label, sizeof(label)));
	if (p->seen[key_index(key)] != 0 && key->kind != CONFIG_KIND_STRLIST)
		return fail(p, line, "duplicate key '%s' (first set on line %d)", name,
		            p->seen[key_index(key)]);
	if (*value == '\0')
		return fail(p, line, "key '%s' has an empty value", name);
	if (p->seen[key_index(key)] == 0)
		p->seen[key_index(key)] = line;
	if (config_key_set(key, bases[p->section], value, p->err) == -1) {
		err_prefix(p->err, "%s:%d", p->cfg->path, line);
		p->failed = true;
		p->fail_line = line;
		return -1;
	}
	if (key->kind == CONFIG_KIND_SECRET) {
		struct config_secret *cs = (void *)((char *)p->tok + key->offset);

		cs->line = line;
		if (strcmp(cs->ref, "literal") == 0 && cs != &p->tok->client_secret)
			return fail(p, line,
			            "%s: give it by reference: file:/PATH, env:NAME or "
			            "ssm:/NAME",
			            name);
		if (strcmp(cs->ref, "literal") == 0)
			warn_literal(p, line);
	}
	return 0;
}

static int
handle_ini(void *arg, const char *section, const char *name, const char *value)
{
	struct parser *p = arg;

	(void)section; /* the reader tracks sections, with their lines */
	if (p->failed)
		return 0;
	return handle_key(p, name, value) == 0;
}

static struct config *
config_new(const char *path)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));

	cfg->path = xstrdup(path);
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *key = &config_keys[i];
		void *base = key->section == CONFIG_SECTION_DAEMON ? (void *)&cfg->daemon
		                                                   : (void *)&cfg->aws;
		if (key->section != CONFIG_SECTION_TOKEN && key->def != NULL &&
		    config_key_set(key, base, key->def, NULL) == -1)
			abort(); /* a default in the table does not parse */
	}
	return cfg;
}

/* [daemon] may come after the tokens: its defaults are applied last. */
static void
inherit_daemon_defaults(struct config *cfg)
{
	for (size_t i = 0; i < cfg->ntokens; i++) {
		struct token_def *t = cfg->tokens[i];

		if (t->ca_file == NULL && cfg->daemon.ca_file != NULL &&
		    (t->type == TOKEN_TYPE_OAUTH2 || t->type == TOKEN_TYPE_AUTH0))
			t->ca_file = xstrdup(cfg->daemon.ca_file);
	}
}

static int
load_text(const char *text, const char *name, mode_t too_open, struct config **out,
          struct err *err)
{
	struct parser p = { .err = err, .text = text, .too_open = too_open };
	int rc;

	p.cfg = config_new(name);
	rc = ini_parse_stream(read_line, &p, handle_ini, &p);
	if (!p.failed)
		finish_section(&p);
	if (rc > 0 && (!p.failed || rc < p.fail_line)) {
		err_set(err, ERR_CONFIG,
		        "%s:%d: syntax error: expected [section] or key = value", name,
		        rc);
		p.failed = true;
	} else if (rc < 0 && !p.failed) {
		err_set(err, ERR_INTERNAL, "%s: the INI parser failed (%d)", name, rc);
		p.failed = true;
	}
	if (p.failed) {
		config_free(p.cfg);
		return -1;
	}
	inherit_daemon_defaults(p.cfg);
	*out = p.cfg;
	return 0;
}

int
config_load_string(const char *text, const char *name, struct config **out,
                   struct err *err)
{
	return load_text(text, name, 0, out, err);
}

/* Grows a buffer that may hold secrets: a copy, never realloc, which
 * would leave the old bytes behind in freed memory. */
static char *
grow_secret_buf(char *buf, size_t len, size_t *cap, size_t want)
{
	char *bigger = xmalloc(want);

	memcpy(bigger, buf, len);
	secret_free_mem(buf, *cap);
	*cap = want;
	return bigger;
}

/* The whole file in memory: inih reads lines from it through read_line,
 * and it is wiped afterwards since it may hold literal secrets. The buffer
 * is sized from fstat, not the 1 MiB limit: a megabyte malloc'd and freed
 * at start-up would raise glibc's mmap threshold and leave the heap of an
 * idle daemon larger than it needs to be. */
static int
read_file(int fd, const char *path, off_t size, char **out, size_t *cap, struct err *err)
{
	size_t len = 0;
	ssize_t n = 0;
	char *buf;

	*cap = (size > 0 && size < CONFIG_FILE_MAX ? (size_t)size : 0) + 2;
	buf = xmalloc(*cap);
	for (;;) {
		if (len + 1 >= *cap) {
			if (len > CONFIG_FILE_MAX)
				break;
			buf = grow_secret_buf(buf, len, cap, *cap * 2 + 4096);
		}
		n = read(fd, buf + len, *cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (n == -1) {
		err_set(err, ERR_IO, "%s: cannot read: %s", path, strerror(errno));
		goto fail;
	}
	if (len > CONFIG_FILE_MAX) {
		err_set(err, ERR_CONFIG, "%s: larger than %d bytes", path,
		        CONFIG_FILE_MAX);
		goto fail;
	}
	if (memchr(buf, '\0', len) != NULL) {
		err_set(err, ERR_CONFIG, "%s: contains a NUL byte", path);
		goto fail;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
fail:
	secret_free_mem(buf, *cap);
	return -1;
}

int
config_load(const char *path, struct config **out, struct err *err)
{
	struct stat st;
	char *text = NULL;
	size_t cap = 0;
	int rc = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1) {
		err_set(err, ERR_IO, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		err_set(err, ERR_IO, "%s: cannot read: %s", path,
		        S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
		goto out;
	}
	if (read_file(fd, path, st.st_size, &text, &cap, err) == -1)
		goto out;
	rc = load_text(text, path,
	               (st.st_mode & (S_IROTH | S_IWGRP | S_IWOTH)) != 0 ? st.st_mode : 0,
	               out, err);
out:
	if (fd != -1)
		close(fd);
	secret_free_mem(text, cap);
	return rc;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t t = 0; t < cfg->ntokens; t++) {
		for (size_t i = 0; i < config_nkeys; i++) {
			if (config_keys[i].section == CONFIG_SECTION_TOKEN)
				config_key_free(&config_keys[i], cfg->tokens[t]);
		}
		free(cfg->tokens[t]->name);
		free(cfg->tokens[t]);
	}
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *key = &config_keys[i];
		if (key->section == CONFIG_SECTION_DAEMON)
			config_key_free(key, &cfg->daemon);
		else if (key->section == CONFIG_SECTION_AWS)
			config_key_free(key, &cfg->aws);
	}
	free(cfg->tokens);
	free(cfg->path);
	free(cfg);
}

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
list_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return false;
	}
	return true;
}

static bool
secret_eq(const struct config_secret *a, const struct config_secret *b)
{
	if (!str_eq(a->ref, b->ref) || !str_eq(a->ssm_name, b->ssm_name) ||
	    !str_eq(a->ssm_key, b->ssm_key))
		return false;
	if (a->value == NULL || b->value == NULL)
		return a->value == b->value;
	return a->value->len == b->value->len &&
	       CRYPTO_memcmp(a->value->data, b->value->data, a->value->len) == 0;
}

/* Scheduling, request_timeout, issuer_budget and the ACLs are left out on
 * purpose: they change when a token is refreshed or who may read it, not
 * which token is obtained, so a reload that only touches them keeps the
 * value. */
bool
config_token_def_equal(const struct token_def *a, const struct token_def *b)
{
	return str_eq(a->name, b->name) && a->type == b->type &&
	       str_eq(a->token_url, b->token_url) && str_eq(a->issuer, b->issuer) &&
	       str_eq(a->domain, b->domain) && str_eq(a->client_id, b->client_id) &&
	       secret_eq(&a->client_secret, &b->client_secret) &&
	       a->client_auth == b->client_auth &&
	       secret_eq(&a->client_key, &b->client_key) &&
	       secret_eq(&a->client_cert, &b->client_cert) &&
	       str_eq(a->client_key_id, b->client_key_id) &&
	       str_eq(a->client_assertion_alg, b->client_assertion_alg) &&
	       a->request_format == b->request_format &&
	       str_eq(a->audience, b->audience) && str_eq(a->scope, b->scope) &&
	       list_eq(a->resources, a->n_resources, b->resources, b->n_resources) &&
	       list_eq(a->extra_params, a->n_extra_params, b->extra_params,
	               b->n_extra_params) &&
	       a->default_lifetime_ms == b->default_lifetime_ms &&
	       str_eq(a->ca_file, b->ca_file) && str_eq(a->host, b->host) &&
	       a->port == b->port && str_eq(a->user, b->user) &&
	       str_eq(a->region, b->region) && str_eq(a->cache, b->cache) &&
	       a->serverless == b->serverless &&
	       str_eq(a->ssm_parameter, b->ssm_parameter) &&
	       str_eq(a->ssm_type, b->ssm_type) &&
	       str_eq(a->ssm_kms_key_id, b->ssm_kms_key_id) &&
	       str_eq(a->ssm_tier, b->ssm_tier) && a->ssm_format == b->ssm_format &&
	       a->ssm_cold_wait_ms == b->ssm_cold_wait_ms &&
	       a->coordinate == b->coordinate;
}

bool
config_needs_aws(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->ntokens; i++) {
		const struct token_def *t = cfg->tokens[i];
		if (t->type == TOKEN_TYPE_RDS || t->type == TOKEN_TYPE_ELASTICACHE ||
		    t->ssm_parameter != NULL || t->client_secret.ssm_name != NULL ||
		    t->client_key.ssm_name != NULL || t->client_cert.ssm_name != NULL)
			return true;
	}
	return false;
}
