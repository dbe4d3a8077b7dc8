/* err.c - error codes and messages. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void
err_prefix(struct err *e, const char *fmt, ...)
{
	char buf[2 * ERR_MSG_MAX + 2];
	va_list ap;
	int n;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, ERR_MSG_MAX, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= ERR_MSG_MAX)
		n = ERR_MSG_MAX - 1;
	/* Longer than a message may be: cut, never overflow. */
	snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s", e->msg);
	memcpy(e->msg, buf, ERR_MSG_MAX - 1);
	e->msg[ERR_MSG_MAX - 1] = '\0';
}

void
err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = ERR_OK;
	e->msg[0] = '\0';
}

const char *
err_code_name(enum err_code code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_CONFIG: return "config";
	case ERR_IO: return "io";
	case ERR_NET: return "network";
	case ERR_TIMEOUT: return "timeout";
	case ERR_HTTP: return "http";
	case ERR_PARSE: return "parse";
	case ERR_AUTH: return "auth";
	case ERR_THROTTLED: return "throttled";
	case ERR_NOTFOUND: return "not_found";
	case ERR_EXISTS: return "exists";
	case ERR_TOOBIG: return "too_big";
	case ERR_CANCELLED: return "cancelled";
	case ERR_UNAVAILABLE: return "unavailable";
	case ERR_INTERNAL: return "internal";
	}
	return "unknown";
}
