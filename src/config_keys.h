/* config_keys.h - the table of tokend.conf keys and their value parsers.
 *
 * Internal to config.c. One row per key, in the manner of pgbouncer: the
 * section it belongs to, how its value is parsed, the field it sets, its
 * default and the token types it applies to. config.c drives libinih and
 * the sections; everything about a single value lives here.
 */
#ifndef TOKEND_CONFIG_KEYS_H
#define TOKEND_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

enum config_section {
	CONFIG_SECTION_DAEMON, /* struct config_daemon */
	CONFIG_SECTION_AWS,    /* struct config_aws */
	CONFIG_SECTION_TOKEN,  /* struct token_def */
};

enum config_kind {
	CONFIG_KIND_STR,
	CONFIG_KIND_DURATION, /* int64_t milliseconds */
	CONFIG_KIND_INT,      /* int */
	CONFIG_KIND_SIZE,     /* size_t */
	CONFIG_KIND_INT64,
	CONFIG_KIND_BOOL,
	CONFIG_KIND_MODE,    /* mode_t, octal permission bits */
	CONFIG_KIND_ENUM,    /* an enum field, index into choices */
	CONFIG_KIND_STRENUM, /* a string field holding one of choices */
	CONFIG_KIND_LOGLEVEL,
	CONFIG_KIND_CREDS,   /* [aws] credentials and profile */
	CONFIG_KIND_GROUP,   /* a group name or number; aux: its gid_t */
	CONFIG_KIND_UIDS,    /* uid_t array; aux: its size_t count */
	CONFIG_KIND_GIDS,    /* gid_t array; aux: its size_t count */
	CONFIG_KIND_SECRET,  /* struct config_secret */
	CONFIG_KIND_STRLIST, /* char * array; aux: its size_t count; repeatable */
};

#define CONFIG_FOR(t)    (1u << (t))
#define CONFIG_FOR_OAUTH (CONFIG_FOR(TOKEN_TYPE_OAUTH2) | CONFIG_FOR(TOKEN_TYPE_AUTH0))
#define CONFIG_FOR_IAM   (CONFIG_FOR(TOKEN_TYPE_RDS) | CONFIG_FOR(TOKEN_TYPE_ELASTICACHE))
#define CONFIG_FOR_ALL   (CONFIG_FOR_OAUTH | CONFIG_FOR_IAM)

/* Extra validation of a string value; the message names no value that
 * could be a secret. */
typedef int config_check_fn(const char *value, struct err *err);

struct config_key {
	const char *name;
	enum config_section section;
	size_t offset; /* of the field in the section's struct */
	enum config_kind kind;
	size_t aux;                 /* offset of a companion field (counts, gid) */
	const char *def;            /* default, parsed like a value; NULL: none */
	unsigned applies;           /* token keys: CONFIG_FOR() mask */
	unsigned required;          /* token keys: types that must set it */
	int64_t min, max;           /* numbers and durations (ms) */
	const char *const *choices; /* enums, NULL-terminated */
	config_check_fn *check;
	bool lower; /* stored lowercased */
};

/* Upper bound of config_nkeys, for per-section arrays indexed by row. */
#define CONFIG_KEYS_MAX 64

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

/* The row for name in section, or NULL. */
const struct config_key *config_key_find(enum config_section section, const char *name);

/* Parses value into the key's field of base (a struct config_daemon,
 * config_aws or token_def), replacing what was there. On failure err->msg
 * is "KEY: reason" (the caller adds FILE:LINE). */
int config_key_set(const struct config_key *key, void *base, const char *value,
                   struct err *err);
/* Frees what the key's field of base owns; secrets are wiped. */
void config_key_free(const struct config_key *key, void *base);

#endif
