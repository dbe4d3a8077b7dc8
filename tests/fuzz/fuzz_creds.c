/* fuzz_creds.c - where AWS credentials come from: the ECS/EKS container
 * and IMDS JSON documents, STS AssumeRoleWithWebIdentity XML (its element
 * reader too), the shared credentials/config INI files, and the container
 * endpoint URL check (aws_creds_remote.h, aws_creds_files.h).
 *
 * Input: one byte of flags (bit 0: read the INI text twice into one
 * profile, as the credentials file then the config file), a name line up
 * to '\n' (the INI section, the XML element, the relative ECS URI), then
 * the document, which every parser reads in turn. */
#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"
#include "aws_creds_files.h"
#include "aws_creds_remote.h"
#include "fuzz.h"
#include "secret.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* Credentials that parsed have keys, whatever the document looked like. */
static void
check_creds(int rc, struct aws_credentials *c, const struct err *err)
{
	if (rc == 0 &&
	    (c == NULL || c->access_key_id == NULL || c->secret_access_key == NULL))
		abort();
	if (rc != 0 && (c != NULL || err->msg[0] == '\0'))
		abort();
	aws_credentials_unref(c);
}

static void
fuzz_remote(const char *name, const char *doc)
{
	struct aws_credentials *c;
	struct err err;
	char *s;
	int rc;

	memset(&err, 0, sizeof(err));
	c = NULL;
	rc = aws_creds_remote_parse_json(doc, "ecs", false, &c, &err);
	check_creds(rc, c, &err);
	c = NULL;
	rc = aws_creds_remote_parse_json(doc, "imds", true, &c, &err);
	check_creds(rc, c, &err);
	c = NULL;
	rc = aws_creds_remote_parse_sts(doc, &c, &err);
	check_creds(rc, c, &err);
	secret_free_str(aws_creds_remote_xml_text(doc, name));
	secret_free_str(aws_creds_remote_form_encode(doc));
	s = NULL;
	if (aws_creds_remote_ecs_url(name, doc, NULL, &s, &err) == 0)
		free(s);
	s = NULL;
	if (aws_creds_remote_ecs_url(NULL, doc, "http://127.0.0.1:8080", &s, &err) == 0)
		free(s);
}

static void
fuzz_files(const char *section, const char *text, bool twice)
{
	struct aws_profile p;
	struct err err;

	memset(&p, 0, sizeof(p));
	if (aws_creds_files_parse(text, section, &p, &err) == 0 && twice)
		(void)aws_creds_files_parse(text, section, &p, &err);
	if (memchr(p.unsupported, '\0', sizeof(p.unsupported)) == NULL)
		abort();
	aws_creds_files_clear(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t flags = fuzz_take_byte(&in);
	char *name = fuzz_take_field(&in, '\n', NULL);
	char *doc = fuzz_take_rest(&in, NULL);

	fuzz_remote(name, doc);
	fuzz_files(name, doc, flags & 1);
	free(name);
	free(doc);
	return 0;
}
