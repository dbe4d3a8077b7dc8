/* oauth2_tls.c - CA bundle and client certificate of an OAuth2 token. */
#include "oauth2_tls.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "xalloc.h"

/* Appends the whole of path to *buf; -1 with errno. */
static int
append_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "re");
	char chunk[8192];
	size_t n;
	int rc = 0;

	if (f == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (*len + n > OAUTH2_TLS_MAX_FILE * 2) {
			errno = EFBIG;
			rc = -1;
			break;
		}
		*buf = xrealloc(*buf, *len + n + 2);
		memcpy(*buf + *len, chunk, n);
		*len += n;
	}
	if (ferror(f))
		rc = -1;
	fclose(f);
	if (rc == 0) {
		*buf = xrealloc(*buf, *len + 2);
		(*buf)[(*len)++] = '\n';
		(*buf)[*len] = '\0';
	}
	return rc;
}

int
oauth2_tls_count_certs(const char *text, size_t len)
{
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	X509 *x;
	int n = 0;

	while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		X509_free(x);
		n++;
	}
	ERR_clear_error(); /* the read that ended the loop */
	BIO_free(bio);
	return n;
}

/* curl's own bundle first, so ca_file adds trust and takes none away;
 * where curl has only a CA directory, that directory stays in use too. */
static int
load_ca(struct oauth2_tls *t, const char *ca_file, struct err *err)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	size_t own_start;

	if (v->cainfo != NULL)
		(void)append_file(v->cainfo, &t->ca, &t->ca_len);
	own_start = t->ca_len;
	if (append_file(ca_file, &t->ca, &t->ca_len) == -1)
		return err_set(err, ERR_CONFIG, "ca_file %s: %s", ca_file,
		               strerror(errno));
	if (oauth2_tls_count_certs(t->ca + own_start, t->ca_len - own_start) == 0)
		return err_set(err, ERR_CONFIG, "ca_file %s: no PEM certificate",
		               ca_file);
	t->http.ca = t->ca;
	t->http.ca_len = t->ca_len;
	t->used = true;
	return 0;
}

int
oauth2_tls_load(struct oauth2_tls *t, const struct token_def *def, struct err *err)
{
	memset(t, 0, sizeof(*t));
	if (def->ca_file != NULL && load_ca(t, def->ca_file, err) == -1) {
		oauth2_tls_clear(t);
		return -1;
	}
	return 0;
}

void
oauth2_tls_clear(struct oauth2_tls *t)
{
	free(t->ca);
	memset(t, 0, sizeof(*t));
}
