/* fuzz.c - helpers shared by the libFuzzer harnesses (fuzz.h). */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "xalloc.h"

void
fuzz_setup(void)
{
	log_setup(LOG_FORMAT_TEXT, LOG_CRIT);
	if (freopen("/dev/null", "r", stdin) == NULL)
		perror("fuzz: /dev/null");
}

uint8_t
fuzz_take_byte(struct fuzz_input *in)
{
	uint8_t b;

	if (in->n == 0)
		return 0;
	b = in->p[0];
	in->p++;
	in->n--;
	return b;
}

static char *
copy(const uint8_t *p, size_t n)
{
	char *s = xmalloc(n + 1);

	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

char *
fuzz_take_field(struct fuzz_input *in, char sep, size_t *len)
{
	const uint8_t *end = in->n > 0 ? memchr(in->p, (unsigned char)sep, in->n) : NULL;
	size_t n = end != NULL ? (size_t)(end - in->p) : in->n;
	char *s = copy(in->p, n);

	if (len != NULL)
		*len = n;
	/* Skip the separator too, when there was one. */
	n += end != NULL;
	in->p += n;
	in->n -= n;
	return s;
}

char *
fuzz_take_rest(struct fuzz_input *in, size_t *len)
{
	char *s = copy(in->p, in->n);

	if (len != NULL)
		*len = in->n;
	in->p += in->n;
	in->n = 0;
	return s;
}
