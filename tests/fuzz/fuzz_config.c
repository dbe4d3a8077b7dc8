/* fuzz_config.c - tokend.conf as it comes: the INI reader, every key's
 * parser and the cross-key checks (config_load_string). The input is the
 * file's text. env: and file: secrets do read the environment and the
 * filesystem; file: reads are bounded and stdin is /dev/null. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* What must hold of any configuration that loaded. */
static void
check_loaded(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->ntokens; i++) {
		const struct token_def *t = cfg->tokens[i];

		/* Names are unique, so each is found as itself. */
		if (config_find_token(cfg, t->name) != t)
			abort();
		if (!config_token_def_equal(t, t))
			abort();
	}
	(void)config_needs_aws(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	char *text = fuzz_take_rest(&in, NULL);
	struct config *cfg = NULL;
	struct err err;

	memset(&err, 0, sizeof(err));
	if (config_load_string(text, "fuzz.conf", &cfg, &err) == 0)
		check_loaded(cfg);
	else if (err.code == ERR_OK || err.msg[0] == '\0')
		abort(); /* a refusal the user could not read */
	config_free(cfg);
	free(text);
	return 0;
}
