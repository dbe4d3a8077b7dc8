/* sigv4_canon.c - canonical URI, query and headers for SigV4. */
#include "sigv4_canon.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secret.h"
#include "sigv4.h"
#include "xalloc.h"

static void
buf_reserve(struct sigv4_buf *b, size_t more)
{
	size_t need = b->len + more + 1;
	size_t cap = b->cap ? b->cap : 64;
	char *p;

	if (need <= b->cap)
		return;
	while (cap < need)
		cap *= 2;
	/* Not xrealloc: the old block may hold a token and must be wiped. */
	p = xmalloc(cap);
	p[0] = '\0';
	if (b->p != NULL) {
		memcpy(p, b->p, b->len + 1);
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
}

void
sigv4_buf_add(struct sigv4_buf *b, const char *s, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void
sigv4_buf_adds(struct sigv4_buf *b, const char *s)
{
	sigv4_buf_add(b, s, strlen(s));
}

static void
buf_addc(struct sigv4_buf *b, char c)
{
	sigv4_buf_add(b, &c, 1);
}

char *
sigv4_buf_take(struct sigv4_buf *b)
{
	char *p;

	buf_reserve(b, 0);
	p = b->p;
	memset(b, 0, sizeof(*b));
	return p;
}

void
sigv4_buf_clear(struct sigv4_buf *b)
{
	if (b->p != NULL) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

static bool
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

void
sigv4_uri_encode(struct sigv4_buf *b, const char *s, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	buf_reserve(b, len * 3);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			b->p[b->len++] = (char)c;
		} else {
			b->p[b->len++] = '%';
			b->p[b->len++] = hex[c >> 4];
			b->p[b->len++] = hex[c & 0xf];
		}
	}
	b->p[b->len] = '\0';
}

/* Path segments as (start, length) pairs into the original path. */
struct segs {
	const char **start;
	size_t *len;
	size_t n;
};

/* RFC 3986 remove_dot_segments, with empty segments dropped too. */
static void
normalize_segments(const char *path, struct segs *sg)
{
	size_t cap = strlen(path) / 2 + 1;
	const char *p = path;

	sg->start = xcalloc(cap, sizeof(*sg->start));
	sg->len = xcalloc(cap, sizeof(*sg->len));
	sg->n = 0;
	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (sg->n > 0)
				sg->n--;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			sg->start[sg->n] = p;
			sg->len[sg->n++] = n;
		}
		p += n;
		if (*p == '/')
			p++;
	}
}

char *
sigv4_canonical_path(const char *path, bool raw)
{
	struct sigv4_buf b = { 0 };
	struct segs sg = { 0 };
	size_t len;

	if (path == NULL || *path == '\0')
		path = "/";
	len = strlen(path);
	if (raw) {
		sigv4_uri_encode(&b, path, len, true);
		return sigv4_buf_take(&b);
	}
	normalize_segments(path, &sg);
	for (size_t i = 0; i < sg.n; i++) {
		buf_addc(&b, '/');
		sigv4_uri_encode(&b, sg.start[i], sg.len[i], true);
	}
	if (sg.n == 0 || path[len - 1] == '/')
		buf_addc(&b, '/');
	free(sg.start);
	free(sg.len);
	return sigv4_buf_take(&b);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..len) and UriEncodes the bytes; a '%' that does not
 * start a valid escape is taken literally (and so becomes %25). */
static char *
reencode(const char *s, size_t len)
{
	struct sigv4_buf raw = { 0 }, out = { 0 };

	buf_reserve(&raw, len);
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			buf_addc(&raw, (char)(hi << 4 | lo));
			i += 2;
		} else {
			buf_addc(&raw, s[i]);
		}
	}
	sigv4_uri_encode(&out, raw.p, raw.len, false);
	sigv4_buf_clear(&raw);
	return sigv4_buf_take(&out);
}

static void
params_push(struct sigv4_params *p, char *name, char *value)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n].name = name;
	p->v[p->n].value = value;
	p->n++;
}

void
sigv4_params_parse(struct sigv4_params *p, const char *query)
{
	const char *s = query ? query : "";

	while (*s != '\0') {
		size_t n = strcspn(s, "&");
		const char *eq = memchr(s, '=', n);
		size_t nlen = eq ? (size_t)(eq - s) : n;

		if (n > 0)
			params_push(p, reencode(s, nlen),
			            eq ? reencode(eq + 1, n - nlen - 1) : xstrdup(""));
		s += n;
		if (*s == '&')
			s++;
	}
}

void
sigv4_params_add(struct sigv4_params *p, const char *name, const char *value)
{
	struct sigv4_buf n = { 0 }, v = { 0 };

	sigv4_uri_encode(&n, name, strlen(name), false);
	sigv4_uri_encode(&v, value, strlen(value), false);
	params_push(p, sigv4_buf_take(&n), sigv4_buf_take(&v));
}

static char *
join(struct sigv4_param *const *v, size_t n)
{
	struct sigv4_buf b = { 0 };

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_addc(&b, '&');
		sigv4_buf_adds(&b, v[i]->name);
		buf_addc(&b, '=');
		sigv4_buf_adds(&b, v[i]->value);
	}
	return sigv4_buf_take(&b);
}

char *
sigv4_params_join(const struct sigv4_params *p)
{
	struct sigv4_param **v = xcalloc(p->n + 1, sizeof(*v));
	char *s;

	for (size_t i = 0; i < p->n; i++)
		v[i] = &p->v[i];
	s = join(v, p->n);
	free(v);
	return s;
}

static int
param_cmp(const void *a, const void *b)
{
	const struct sigv4_param *x = *(struct sigv4_param *const *)a;
	const struct sigv4_param *y = *(struct sigv4_param *const *)b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

char *
sigv4_params_canonical(const struct sigv4_params *p)
{
	struct sigv4_param **v = xcalloc(p->n + 1, sizeof(*v));
	char *s;

	for (size_t i = 0; i < p->n; i++)
		v[i] = &p->v[i];
	qsort(v, p->n, sizeof(*v), param_cmp);
	s = join(v, p->n);
	free(v);
	return s;
}

void
sigv4_params_clear(struct sigv4_params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		secret_free_str(p->v[i].name);
		secret_free_str(p->v[i].value);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

bool
sigv4_header_skipped(const char *name)
{
	static const char *const skipped[] = {
		"authorization", "connection", "expect",          "transfer-encoding",
		"upgrade",       "user-agent", "x-amzn-trace-id",
	};

	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		if (strcasecmp(name, skipped[i]) == 0)
			return true;
	return strncasecmp(name, "sec-websocket-", 14) == 0;
}

/* RFC 9110 token characters. */
static bool
valid_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
			return false;
	}
	return true;
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trimmed, with every run of whitespace (folded continuation lines too)
 * turned into one space. */
static void
add_folded(struct sigv4_buf *b, const char *v)
{
	bool gap = false, any = false;

	for (; *v != '\0'; v++) {
		if (is_ws(*v)) {
			gap = any;
			continue;
		}
		if (gap)
			buf_addc(b, ' ');
		buf_addc(b, *v);
		gap = false;
		any = true;
	}
}

struct hsort {
	char *name; /* lower case */
	const char *value;
	size_t index;
};

static int
hsort_cmp(const void *a, const void *b)
{
	const struct hsort *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* The signed headers, lower-cased and sorted (stable for repeated names). */
static struct hsort *
sort_headers(const struct sigv4_header *headers, size_t n, size_t *kept, struct err *err)
{
	struct hsort *h = xcalloc(n + 1, sizeof(*h));
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (headers[i].name == NULL || !valid_name(headers[i].name)) {
			err_set(err, ERR_INTERNAL, "sigv4: bad header name");
			goto fail;
		}
		if (sigv4_header_skipped(headers[i].name))
			continue;
		h[k].name = xstrdup(headers[i].name);
		for (char *c = h[k].name; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		h[k].value = headers[i].value ? headers[i].value : "";
		h[k].index = i;
		k++;
	}
	qsort(h, k, sizeof(*h), hsort_cmp);
	*kept = k;
	return h;
fail:
	for (size_t i = 0; i < k; i++)
		free(h[i].name);
	free(h);
	return NULL;
}

int
sigv4_canonical_headers(const struct sigv4_header *headers, size_t n, char **canonical,
                        char **signed_names, struct err *err)
{
	struct sigv4_buf c = { 0 }, s = { 0 };
	bool have_host = false;
	size_t k = 0;
	struct hsort *h = sort_headers(headers, n, &k, err);
	int rc = -1;

	if (h == NULL)
		goto out;
	for (size_t i = 0; i < k; i++) {
		bool repeat = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;

		if (repeat) {
			buf_addc(&c, ',');
		} else {
			if (i > 0) {
				buf_addc(&c, '\n');
				buf_addc(&s, ';');
			}
			sigv4_buf_adds(&c, h[i].name);
			buf_addc(&c, ':');
			sigv4_buf_adds(&s, h[i].name);
		}
		add_folded(&c, h[i].value);
		have_host = have_host || strcmp(h[i].name, "host") == 0;
	}
	if (!have_host) {
		err_set(err, ERR_INTERNAL, "sigv4: the request has no host header");
		goto out;
	}
	buf_addc(&c, '\n');
	*canonical = sigv4_buf_take(&c);
	*signed_names = sigv4_buf_take(&s);
	rc = 0;
out:
	for (size_t i = 0; i < k; i++)
		free(h[i].name);
	free(h);
	sigv4_buf_clear(&c);
	sigv4_buf_clear(&s);
	return rc;
}
