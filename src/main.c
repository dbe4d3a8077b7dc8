/* main.c - tokend: keeps short-lived credentials fresh and serves them
 * over a Unix socket. Stays in the foreground: systemd or the container
 * runtime supervises it. */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "config.h"
#include "config_check.h"
#include "config_source.h"
#include "daemon.h"
#include "log.h"
#include "xalloc.h"

#define DEFAULT_CONFIG "/etc/tokend/tokend.conf"

enum { EXIT_USAGE = 2 };

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: tokend [-c FILE|env:NAME|ssm:/NAME] [--check-config | --once]\n"
	        "              [--version]\n"
	        "  -c, --config FILE   configuration file (default $TOKEND_CONFIG, else "
	        "%s);\n"
	        "                      env:NAME reads the text from a variable,\n"
	        "                      ssm:/NAME from an SSM parameter\n"
	        "      --check-config  validate the configuration as start-up would, "
	        "print\n"
	        "                      warnings for what only the running host can "
	        "tell,\n"
	        "                      exit 0 (valid) or 2\n"
	        "      --once          obtain and persist every token, print a summary,\n"
	        "                      exit 0 if all are valid, else 1\n"
	        "  -V, --version       print the version and exit\n"
	        "  -h, --help          print this help and exit\n",
	        DEFAULT_CONFIG);
}

/* jansson parses issuer and SSM answers, which hold tokens: every block it
 * frees is wiped first, so no token lingers in freed heap memory. */
static void *
json_alloc(size_t n)
{
	return xmalloc(n);
}

static void
json_wipe_free(void *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

struct options {
	const char *config_path;
	int check_config;
	int once;
};

/* Returns -1 to exit with `*status`. */
static int
parse_args(int argc, char **argv, struct options *opt, int *status)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "once", no_argument, NULL, 'O' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt->config_path = getenv("TOKEND_CONFIG");
	if (opt->config_path == NULL || *opt->config_path == '\0')
		opt->config_path = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': opt->config_path = optarg; break;
		case 'C': opt->check_config = 1; break;
		case 'O': opt->once = 1; break;
		case 'V':
			printf("tokend %s\n", PACKAGE_VERSION);
			*status = EXIT_SUCCESS;
			return -1;
		case 'h':
			usage(stdout);
			*status = EXIT_SUCCESS;
			return -1;
		default:
			usage(stderr);
			*status = EXIT_USAGE;
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tokend: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		*status = EXIT_USAGE;
		return -1;
	}
	if (opt->check_config && opt->once) {
		fprintf(stderr, "tokend: --check-config and --once cannot be used "
		                "together: --check-config obtains nothing, --once "
		                "obtains every token and exits\n");
		*status = EXIT_USAGE;
		return -1;
	}
	return 0;
}

/* --check-config: everything start-up would refuse is an error (the same
 * code builds every source, without starting one or binding the socket);
 * what only the running host can tell is a warning. */
static int
check_config(const char *path, struct config *cfg)
{
	struct daemon d;
	struct err err = { 0 };
	size_t ntokens = cfg->ntokens;
	int status = EXIT_SUCCESS;
	unsigned warnings;

	warnings = config_check_warnings(cfg, stderr);
	if (daemon_init(&d, cfg, DAEMON_CHECK, &err) == -1) {
		fprintf(stderr, "tokend: %s: %s\n", path, err.msg);
		status = EXIT_USAGE;
	} else {
		printf("%s: OK (%zu token%s%s)\n", path, ntokens, ntokens == 1 ? "" : "s",
		       warnings > 0 ? ", see the warnings" : "");
	}
	daemon_fini(&d);
	return status;
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct config *cfg = NULL;
	struct daemon d;
	struct err err = { 0 };
	int status = EXIT_FAILURE;

	if (parse_args(argc, argv, &opt, &status) == -1)
		return status;

	/* Tokens live in this process's memory: keep them out of core dumps
	 * and away from ptrace by other processes of the same user. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	json_set_alloc_funcs(json_alloc, json_wipe_free);

	/* Before the config: an ssm: config is read over HTTPS. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "tokend: curl_global_init failed\n");
		return EXIT_FAILURE;
	}
	if (config_source_load(opt.config_path, &cfg, &err) == -1) {
		fprintf(stderr, "tokend: %s\n", err.msg);
		curl_global_cleanup();
		return err.code == ERR_CONFIG || err.code == ERR_IO ? EXIT_USAGE
		                                                    : EXIT_FAILURE;
	}
	if (opt.check_config) {
		status = check_config(opt.config_path, cfg);
		curl_global_cleanup();
		return status;
	}
	log_setup(cfg->daemon.log_format, cfg->daemon.log_level);
	if (daemon_init(&d, cfg, opt.once ? DAEMON_ONCE : 0, &err) == -1) {
		log_error("cannot start: %s", err.msg);
		status = err.code == ERR_CONFIG ? EXIT_USAGE : EXIT_FAILURE;
	} else {
		status = daemon_run(&d);
	}
	daemon_fini(&d);
	curl_global_cleanup();
	return status;
}
