/* fuzz_disco.c - the issuer's metadata (oauth2_disco.h): the input is the
 * configured issuer, a newline, then the metadata document. Checks the
 * header's promises: a metadata URL keeps the issuer's scheme and host and
 * holds the well-known part; parsed metadata has an endpoint http_client
 * accepts and the issuer it was asked for; a refusal has a message and
 * leaves nothing behind. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_client.h"
#include "oauth2_disco.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

static void
check_url(const char *issuer, enum oauth2_disco_kind kind, const char *part)
{
	struct err err = { 0 };
	char *url = oauth2_disco_url(issuer, kind, &err);
	size_t host =
	        strcspn(strstr(issuer, "://") ? strstr(issuer, "://") + 3 : "", "/");

	if (url == NULL) {
		if (err.code != ERR_CONFIG || err.msg[0] == '\0')
			abort();
		return;
	}
	/* scheme://host is kept as it was written. */
	if (strncmp(url, issuer, (size_t)(strstr(issuer, "://") - issuer) + 3 + host) !=
	            0 ||
	    strstr(url, part) == NULL)
		abort();
	free(url);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	char *issuer = fuzz_take_field(&in, '\n', NULL);
	size_t len;
	char *body = fuzz_take_rest(&in, &len);
	struct oauth2_metadata md;
	struct err err = { 0 };

	check_url(issuer, OAUTH2_DISCO_OIDC, "/.well-known/openid-configuration");
	check_url(issuer, OAUTH2_DISCO_RFC8414,
	          "/.well-known/oauth-authorization-server");
	if (oauth2_metadata_parse(issuer, body, len, &md, &err) == 0) {
		if (md.token_endpoint == NULL ||
		    !http_client_url_allowed(md.token_endpoint, &err) ||
		    (!md.has_auth_methods && md.n_auth_methods != 0))
			abort();
		for (size_t i = 0; i < md.n_auth_methods; i++)
			if (!oauth2_metadata_supports(&md, md.auth_methods[i]))
				abort();
	} else if (err.msg[0] == '\0' || md.token_endpoint != NULL ||
	           md.auth_methods != NULL) {
		abort();
	}
	oauth2_metadata_clear(&md);
	free(issuer);
	free(body);
	return 0;
}
