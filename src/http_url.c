/* http_url.c - the URL policy of http_client: which URLs may be fetched,
 * and how a URL is shown in messages without its query.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "http_url.h"
#include "xalloc.h"

static bool
host_is_plain_http_ok(const char *host)
{
	static const char *const v4[] = { "169.254.169.254", "169.254.170.2",
		                          "169.254.170.23" };
	static const char *const v6[] = { "::1", "fd00:ec2::23", "fd00:ec2::254" };
	struct in_addr a4, b4;
	struct in6_addr a6, b6;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		if ((ntohl(a4.s_addr) >> 24) == 127)
			return true;
		for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++)
			if (inet_pton(AF_INET, v4[i], &b4) == 1 && a4.s_addr == b4.s_addr)
				return true;
		return false;
	}
	/* curl hands IPv6 hosts back in brackets; a zone id never matches. */
	if (len < 3 || len >= sizeof(buf) || host[0] != '[' || host[len - 1] != ']')
		return false;
	memcpy(buf, host + 1, len - 2);
	buf[len - 2] = '\0';
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return false;
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++)
		if (inet_pton(AF_INET6, v6[i], &b6) == 1 &&
		    memcmp(&a6, &b6, sizeof(a6)) == 0)
			return true;
	return false;
}

/* Parses url with curl's own parser (the same one that will fetch it, so
 * what we check is what curl connects to) and applies the policy. */
CURLU *
http_url_parse(const char *url, struct err *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL;
	CURLUcode uc;
	bool ok = false;

	if (u == NULL)
		abort(); /* out of memory */
	if (url == NULL) {
		err_set(err, ERR_CONFIG, "no URL");
		goto out;
	}
	if ((uc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		err_set(err, ERR_CONFIG, "invalid URL: %s", curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		err_set(err, ERR_CONFIG, "URL must not carry user credentials");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		err_set(err, ERR_CONFIG, "invalid URL: no scheme or host");
		goto out;
	}
	if (strcmp(scheme, "https") == 0) {
		ok = true;
	} else if (strcmp(scheme, "http") != 0) {
		err_set(err, ERR_CONFIG, "URL scheme %s not supported", scheme);
	} else if (!host_is_plain_http_ok(host)) {
		err_set(err, ERR_CONFIG,
		        "plain http:// to %s refused: only loopback and AWS metadata "
		        "hosts may be reached without TLS",
		        host);
	} else {
		ok = true;
	}
out:
	if (user != NULL) {
		OPENSSL_cleanse(user, strlen(user));
		curl_free(user);
	}
	curl_free(scheme);
	curl_free(host);
	if (!ok) {
		curl_url_cleanup(u);
		u = NULL;
	}
	return u;
}

/* "METHOD scheme://host[:port]/path": safe for messages and logs. */
char *
http_url_where(CURLU *u, const char *method)
{
	CURLU *copy = curl_url_dup(u);
	char *s = NULL, *where;

	if (copy == NULL)
		abort();
	curl_url_set(copy, CURLUPART_QUERY, NULL, 0);
	curl_url_set(copy, CURLUPART_FRAGMENT, NULL, 0);
	if (curl_url_get(copy, CURLUPART_URL, &s, 0) != CURLUE_OK)
		s = NULL;
	xasprintf(&where, "%s %s", method, s != NULL ? s : "?");
	curl_free(s);
	curl_url_cleanup(copy);
	return where;
}
