/* oauth2_tls.c - CA bundle and client certificate of an OAuth2 token. */
#include "oauth2_tls.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
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

/* Whether the certificate (first of the chain) and key match; NULL when
 * they do, else what is wrong. */
static const char *
check_pair(const struct secret *cert, const struct secret *key)
{
	BIO *cb = BIO_new_mem_buf(cert->data, (int)cert->len);
	BIO *kb = BIO_new_mem_buf(key->data, (int)key->len);
	X509 *x = cb != NULL ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	const char *why = NULL;

	if (x == NULL)
		why = "client_cert holds no PEM certificate";
	else if (k == NULL)
		why = "client_key is not a PEM private key (unencrypted PKCS#8, PKCS#1 "
		      "or SEC1)";
	else if (X509_check_private_key(x, k) != 1)
		why = "client_key does not match client_cert's public key";
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	return why;
}

int
oauth2_tls_load_client(struct oauth2_tls *t, const struct token_def *def, struct err *err)
{
	const struct config_secret *cert = &def->client_cert, *key = &def->client_key;
	const char *why;

	if (t->http.cert != NULL || cert->value == NULL || key->value == NULL)
		return 0;
	why = check_pair(cert->value, key->value);
	if (why != NULL)
		return err_set(err, ERR_CONFIG,
		               "%s (client_cert %s, line %d; client_key "
		               "%s, line %d)",
		               why, cert->ref, cert->line, key->ref, key->line);
	t->http.cert = cert->value->data;
	t->http.cert_len = cert->value->len;
	t->http.key = key->value->data;
	t->http.key_len = key->value->len;
	t->used = true;
	return 0;
}

void
oauth2_tls_clear(struct oauth2_tls *t)
{
	free(t->ca);
	memset(t, 0, sizeof(*t));
}
