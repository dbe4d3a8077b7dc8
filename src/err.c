/* err.c - error codes and messages. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Formatting room before elision: a message may be built from a long
 * chain or a peer's answer and still has to keep its end. */
#define ERR_BUILD_MAX 4096

static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */

/* A UTF-8 continuation byte: never cut just before one. */
static int
is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

char *
err_elide(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src), keep, head, tail;

	if (size == 0)
		return dst;
	if (len < size) {
		memmove(dst, src, len + 1);
		return dst;
	}
	if (size < sizeof(ellipsis) + 2) {
		dst[0] = '\0';
		return dst;
	}
	/* Room for head + ellipsis + tail + NUL; the tail gets the larger
	 * half, since the cause is usually at the end. */
	keep = size - sizeof(ellipsis);
	head = keep / 3;
	while (head > 0 && is_cont((unsigned char)src[head]))
		head--;
	tail = keep - head;
	while (tail > 0 && is_cont((unsigned char)src[len - tail]))
		tail--;
	memmove(dst, src, head);
	memcpy(dst + head, ellipsis, sizeof(ellipsis) - 1);
	memmove(dst + head + sizeof(ellipsis) - 1, src + len - tail, tail);
	dst[head + sizeof(ellipsis) - 1 + tail] = '\0';
	return dst;
}

int
err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	char buf[ERR_BUILD_MAX];
	va_list ap;

	if (e == NULL)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	err_elide(e->msg, sizeof(e->msg), buf);
	return -1;
}

void
err_prefix(struct err *e, const char *fmt, ...)
{
	char buf[ERR_BUILD_MAX];
	va_list ap;
	int n;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - ERR_MSG_MAX - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf) - ERR_MSG_MAX - 2)
		n = (int)(sizeof(buf) - ERR_MSG_MAX - 3);
	snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s", e->msg);
	err_elide(e->msg, sizeof(e->msg), buf);
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
