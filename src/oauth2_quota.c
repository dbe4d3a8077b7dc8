/* oauth2_quota.c - Auth0's token quota headers (oauth2_quota.h). */
#include "oauth2_quota.h"

#include <string.h>
#include <strings.h>

#include "http_client.h"

#define QUOTA_MAX_NUM 2147483647LL /* Auth0's own bound on a quota */

static const char *const header_names[] = {
	[OAUTH2_QUOTA_CLIENT] = "Auth0-Client-Quota-Limit",
	[OAUTH2_QUOTA_ORGANIZATION] = "Auth0-Organization-Quota-Limit",
};

const char *
oauth2_quota_scope_name(enum oauth2_quota_scope scope)
{
	return scope == OAUTH2_QUOTA_ORGANIZATION ? "organization" : "client";
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* s[0..len) without the spaces and tabs around it. */
static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_ows(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_ows((*s)[*len - 1]))
		(*len)--;
}

/* 0..QUOTA_MAX_NUM in decimal digits only, or -1. */
static int64_t
number(const char *s, size_t len)
{
	int64_t v = 0;

	if (len == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= QUOTA_MAX_NUM ? v : -1;
}

static bool
name_ok(const char *s, size_t len)
{
	if (len == 0 || len >= OAUTH2_QUOTA_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!(c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

/* One key=value of a bucket into out; seen collects the keys met. */
static bool
parse_pair(const char *s, size_t len, struct oauth2_quota_bucket *out, int64_t *t,
           unsigned *seen)
{
	const char *eq = memchr(s, '=', len);
	const char *k = s, *v;
	size_t klen, vlen;
	unsigned bit;
	int64_t num = 0;

	if (eq == NULL)
		return false;
	klen = (size_t)(eq - s);
	v = eq + 1;
	vlen = len - klen - 1;
	trim(&k, &klen);
	trim(&v, &vlen);
	if (klen != 1)
		return true; /* a key of another version: ignored */
	bit = k[0] == 'b'   ? 1u
	      : k[0] == 'q' ? 2u
	      : k[0] == 'r' ? 4u
	      : k[0] == 't' ? 8u
	                    : 0;
	if (bit == 0)
		return true;
	if (*seen & bit)
		return false; /* twice: which one to believe? */
	*seen |= bit;
	if (bit == 1u) {
		if (!name_ok(v, vlen))
			return false;
		memcpy(out->name, v, vlen);
		out->name[vlen] = '\0';
		return true;
	}
	if ((num = number(v, vlen)) < 0)
		return false;
	if (bit == 2u)
		out->limit = num;
	else if (bit == 4u)
		out->remaining = num;
	else
		*t = num;
	return true;
}

/* One bucket, s[0..len), or false when it is malformed. */
static bool
parse_bucket(const char *s, size_t len, int64_t now_ms, struct oauth2_quota_bucket *out)
{
	unsigned seen = 0;
	int64_t t = 0;

	memset(out, 0, sizeof(*out));
	while (len > 0) {
		const char *semi = memchr(s, ';', len);
		size_t n = semi != NULL ? (size_t)(semi - s) : len;

		if (!parse_pair(s, n, out, &t, &seen))
			return false;
		s += n;
		len -= n;
		if (semi != NULL) {
			s++;
			len--;
		}
	}
	if (seen != 15u || out->limit == 0 || out->remaining > out->limit)
		return false;
	out->reset_at_ms = now_ms + t * 1000;
	return true;
}

static void
keep(struct oauth2_quota *q, const struct oauth2_quota_bucket *b, size_t *taken)
{
	for (size_t i = 0; i < q->n; i++) {
		if (q->b[i].scope == b->scope && strcmp(q->b[i].name, b->name) == 0) {
			q->b[i] = *b;
			(*taken)++;
			return;
		}
	}
	if (q->n == OAUTH2_QUOTA_MAX)
		return;
	q->b[q->n++] = *b;
	(*taken)++;
}

size_t
oauth2_quota_parse(const char *value, enum oauth2_quota_scope scope, int64_t now_ms,
                   struct oauth2_quota *q)
{
	const char *s = value;
	size_t len = strlen(value), taken = 0;

	while (len > 0) {
		const char *comma = memchr(s, ',', len);
		size_t n = comma != NULL ? (size_t)(comma - s) : len;
		struct oauth2_quota_bucket b;

		if (parse_bucket(s, n, now_ms, &b)) {
			b.scope = scope;
			keep(q, &b, &taken);
		}
		s += n;
		len -= n;
		if (comma != NULL) {
			s++;
			len--;
		}
	}
	if (taken > 0)
		q->seen_at_ms = now_ms;
	return taken;
}

void
oauth2_quota_read(const struct http_response *resp, int64_t now_ms,
                  struct oauth2_quota *q)
{
	memset(q, 0, sizeof(*q));
	for (size_t i = 0; i < resp->nheaders; i++) {
		for (int s = OAUTH2_QUOTA_CLIENT; s <= OAUTH2_QUOTA_ORGANIZATION; s++)
			if (strcasecmp(resp->headers[i].name, header_names[s]) == 0)
				oauth2_quota_parse(resp->headers[i].value,
				                   (enum oauth2_quota_scope)s, now_ms, q);
	}
}

int
oauth2_quota_used_pct(const struct oauth2_quota_bucket *b)
{
	if (b->limit <= 0)
		return 0;
	return (int)((b->limit - b->remaining) * 100 / b->limit);
}

static const struct oauth2_quota_bucket *
find(const struct oauth2_quota *q, const struct oauth2_quota_bucket *b)
{
	for (size_t i = 0; i < q->n; i++)
		if (q->b[i].scope == b->scope && strcmp(q->b[i].name, b->name) == 0)
			return &q->b[i];
	return NULL;
}

unsigned
oauth2_quota_merge(struct oauth2_quota *kept, const struct oauth2_quota *fresh)
{
	struct oauth2_quota next;
	unsigned crossed = 0;

	if (fresh->n == 0)
		return 0;
	next = *fresh;
	for (size_t i = 0; i < next.n && i < OAUTH2_QUOTA_MAX; i++) {
		struct oauth2_quota_bucket *b = &next.b[i];
		const struct oauth2_quota_bucket *old = find(kept, b);
		bool over = oauth2_quota_used_pct(b) >= OAUTH2_QUOTA_WARN_PCT;

		b->warned = over && old != NULL && old->warned;
		if (over && !b->warned) {
			b->warned = true;
			crossed |= 1u << i;
		}
	}
	*kept = next;
	return crossed;
}
