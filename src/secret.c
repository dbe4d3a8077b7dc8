/* secret.c - immutable, reference-counted secret buffers. */
#include "secret.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct secret *
secret_new(const char *data, size_t len)
{
	struct secret *s = xmalloc(sizeof(*s) + len + 1);

	s->refs = 1;
	s->len = len;
	memcpy(s->data, data, len);
	s->data[len] = '\0';
	return s;
}

struct secret *
secret_new_str(const char *str)
{
	return secret_new(str, strlen(str));
}

struct secret *
secret_ref(struct secret *s)
{
	if (s != NULL)
		s->refs++;
	return s;
}

void
secret_unref(struct secret *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	OPENSSL_cleanse(s->data, s->len);
	free(s);
}

void
secret_free_str(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void
secret_free_mem(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}
