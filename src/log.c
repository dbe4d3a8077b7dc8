/* log.c - leveled logging to stderr. */
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

/* Process-wide by nature: stderr is one stream, and libevent's log
 * callback takes no argument to carry a context. */
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static int log_max = LOG_INFO;
static bool log_journal;

static const struct {
	const char *name;
	int priority;
} levels[] = {
	{ "error", LOG_ERR },     { "warn", LOG_WARNING }, { "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE }, { "info", LOG_INFO },    { "debug", LOG_DEBUG },
};

static const char *
level_name(int priority)
{
	switch (priority) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warn";
	case LOG_NOTICE: return "notice";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

static void
libevent_log(int severity, const char *msg)
{
	int prio = LOG_DEBUG;

	if (severity == EVENT_LOG_ERR)
		prio = LOG_ERR;
	else if (severity == EVENT_LOG_WARN)
		prio = LOG_WARNING;
	else if (severity == EVENT_LOG_MSG)
		prio = LOG_INFO;
	log_write(prio, "component", "libevent", "%s", msg);
}

void
log_setup(enum log_format format, int max_priority)
{
	log_fmt = format;
	log_max = max_priority;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	event_set_log_callback(libevent_log);
}

int
log_level_parse(const char *s, int *priority)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcasecmp(s, levels[i].name) == 0) {
			*priority = levels[i].priority;
			return 0;
		}
	}
	return -1;
}

bool
log_enabled(int priority)
{
	return priority <= log_max;
}

static void
timestamp(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;

	size_t n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(tv.tv_usec / 1000) % 1000u);
}

static void
write_json(int priority, const char *ctx_key, const char *ctx, const char *msg,
           const struct log_field *fields, size_t nfields)
{
	char ts[32];
	json_t *o;
	char *line;

	timestamp(ts, sizeof(ts));
	o = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_name(priority), "msg",
	              msg);
	if (o == NULL)
		return;
	if (ctx_key != NULL && ctx != NULL)
		json_object_set_new(o, ctx_key, json_string(ctx));
	for (size_t i = 0; i < nfields; i++)
		json_object_set_new(o, fields[i].key,
		                    fields[i].s != NULL ? json_string(fields[i].s)
		                                        : json_integer(fields[i].i));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line != NULL) {
		fprintf(stderr, "%s\n", line);
		free(line);
	}
	json_decref(o);
}

static void log_vwrite(int priority, const char *ctx_key, const char *ctx,
                       const struct log_field *fields, size_t nfields, const char *fmt,
                       va_list ap) __attribute__((format(printf, 6, 0)));

void
log_write(int priority, const char *ctx_key, const char *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(priority, ctx_key, ctx, NULL, 0, fmt, ap);
	va_end(ap);
}

void
log_write_fields(int priority, const char *ctx_key, const char *ctx,
                 const struct log_field *fields, size_t nfields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(priority, ctx_key, ctx, fields, nfields, fmt, ap);
	va_end(ap);
}

static void
log_vwrite(int priority, const char *ctx_key, const char *ctx,
           const struct log_field *fields, size_t nfields, const char *fmt, va_list ap)
{
	char msg[2048], ts[32];
	int saved = errno;

	if (!log_enabled(priority))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);

	if (log_fmt == LOG_FORMAT_JSON) {
		write_json(priority, ctx_key, ctx, msg, fields, nfields);
	} else if (log_journal) {
		if (ctx_key != NULL && ctx != NULL)
			fprintf(stderr, "<%d>%s=%s: %s\n", priority, ctx_key, ctx, msg);
		else
			fprintf(stderr, "<%d>%s\n", priority, msg);
	} else {
		timestamp(ts, sizeof(ts));
		if (ctx_key != NULL && ctx != NULL)
			fprintf(stderr, "%s %s %s=%s: %s\n", ts, level_name(priority),
			        ctx_key, ctx, msg);
		else
			fprintf(stderr, "%s %s %s\n", ts, level_name(priority), msg);
	}
	fflush(stderr);
	errno = saved;
}

void
log_fingerprint(const void *data, size_t len, char out[LOG_FP_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 4) {
		strcpy(out, "????????");
		return;
	}
	snprintf(out, LOG_FP_LEN, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}
