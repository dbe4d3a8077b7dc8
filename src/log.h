/* log.h - leveled logging to stderr: text, journald prefixes, or JSON lines.
 *
 * Secrets never reach a log line: callers log log_fingerprint() of a token
 * or secret (the first 8 hex digits of its SHA-256) instead of the value.
 */
#ifndef TOKEND_LOG_H
#define TOKEND_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h> /* LOG_ERR ... LOG_DEBUG: the journald priorities */

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/* Sets the format and the most verbose priority written (LOG_DEBUG writes
 * everything). Text lines carry "<N>" journald prefixes instead of a
 * timestamp when JOURNAL_STREAM is set. Also routes libevent's own
 * warnings into this log. */
void log_setup(enum log_format format, int max_priority);

/* Parses "error|warn|warning|notice|info|debug"; 0 or -1 if unknown. */
int log_level_parse(const char *s, int *priority);
bool log_enabled(int priority);

/* One line; ctx_key/ctx name the object the line speaks of ("token",
 * "orders-db"), both may be NULL. */
void log_write(int priority, const char *ctx_key, const char *ctx, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* A structured field of a JSON log line: a string (s != NULL) or an
 * integer. Text lines carry the same facts in the message only. */
struct log_field {
	const char *key;
	const char *s;
	long long i;
};

/* log_write with fields that JSON lines carry as their own members
 * ("cause", "attempt", "delay_ms"), so a log pipeline need not parse msg. */
void log_write_fields(int priority, const char *ctx_key, const char *ctx,
                      const struct log_field *fields, size_t nfields, const char *fmt,
                      ...) __attribute__((format(printf, 6, 7)));

#define log_error(...)  log_write(LOG_ERR, NULL, NULL, __VA_ARGS__)
#define log_warn(...)   log_write(LOG_WARNING, NULL, NULL, __VA_ARGS__)
#define log_notice(...) log_write(LOG_NOTICE, NULL, NULL, __VA_ARGS__)
#define log_info(...)   log_write(LOG_INFO, NULL, NULL, __VA_ARGS__)
#define log_debug(...)  log_write(LOG_DEBUG, NULL, NULL, __VA_ARGS__)

#define LOG_FP_LEN 9 /* 8 hex digits and a NUL */

/* out = the first 8 hex digits of SHA-256(data): safe to log. */
void log_fingerprint(const void *data, size_t len, char out[LOG_FP_LEN]);

#endif
