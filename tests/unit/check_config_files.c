/* check_config_files.c - tokend.conf read from files and the
 * environment: env: and file: secrets, config_load's errors and size
 * limit, the warning about literal secrets in readable files, and the
 * shipped example and manual naming every key. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_texts.h"
#include "config_keys.h"
#include "secret.h"

/* Per-test state, set up and torn down by the checked fixture. */
static struct config *cfg;
static char tmpdir[64];
static struct err err;

static void
setup(void)
{
	cfg = NULL;
	memset(&err, 0, sizeof(err));
	strcpy(tmpdir, "/tmp/check_config_files.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[128];

	config_free(cfg);
	cfg = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static int
load(const char *text)
{
	return config_load_string(text, "t.conf", &cfg, &err);
}

static char *
secret_config(const char *ref)
{
	char *text;

	ck_assert_int_ge(
	        asprintf(&text,
	                 "[token \"t\"]\ntype = oauth2\ntoken_url = https://i.example/t\n"
	                 "client_id = i\nclient_secret = %s\n",
	                 ref),
	        0);
	return text;
}

START_TEST(test_secret_env)
{
	char *text = secret_config("env:TOKEND_CHECK_SECRET");

	setenv("TOKEND_CHECK_SECRET", "from-env", 1);
	ck_assert_msg(load(text) == 0, "%s", err.msg);
	ck_assert_str_eq(cfg->tokens[0]->client_secret.ref, "env:TOKEND_CHECK_SECRET");
	ck_assert_str_eq(cfg->tokens[0]->client_secret.value->data, "from-env");
	ck_assert_uint_eq(cfg->tokens[0]->client_secret.value->len, 8);
	config_free(cfg);
	cfg = NULL;

	setenv("TOKEND_CHECK_SECRET", "", 1);
	ck_assert_int_eq(load(text), -1);
	ck_assert_str_eq(err.msg, "t.conf:5: client_secret: environment variable "
	                          "'TOKEND_CHECK_SECRET' is empty");
	unsetenv("TOKEND_CHECK_SECRET");
	free(text);
}
END_TEST

static const struct {
	const char *content; /* NULL: the path is a directory */
	const char *value;   /* NULL: an error ending in err_tail */
	const char *err_tail;
} file_cases[] = {
	{ "file-secret", "file-secret", NULL },
	{ "file-secret\n", "file-secret", NULL },
	{ "file-secret\r\n\n\n", "file-secret", NULL },
	{ "two\nlines\n", "two\nlines", NULL },
	{ "\n", NULL, " is empty" },
	{ "", NULL, " is empty" },
	{ NULL, NULL, ": Is a directory" },
};

START_TEST(test_secret_file)
{
	char path[128], ref[160], *text;
	int rc;

	snprintf(path, sizeof(path), "%s/secret", tmpdir);
	if (file_cases[_i].content != NULL)
		write_file(path, file_cases[_i].content, 0600);
	else
		ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(ref, sizeof(ref), "file:%s", path);
	text = secret_config(ref);
	rc = load(text);
	free(text);
	if (file_cases[_i].value != NULL) {
		ck_assert_msg(rc == 0, "%s", err.msg);
		ck_assert_str_eq(cfg->tokens[0]->client_secret.value->data,
		                 file_cases[_i].value);
		ck_assert_str_eq(cfg->tokens[0]->client_secret.ref, ref);
		return;
	}
	char want[256];
	snprintf(want, sizeof(want), "t.conf:5: client_secret: %s%s%s",
	         file_cases[_i].content != NULL ? "" : "cannot read ", path,
	         file_cases[_i].err_tail);
	ck_assert_int_eq(rc, -1);
	ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_load_missing)
{
	char path[128], want[256];

	snprintf(path, sizeof(path), "%s/nope.conf", tmpdir);
	ck_assert_int_eq(config_load(path, &cfg, &err), -1);
	ck_assert_ptr_null(cfg);
	ck_assert_int_eq(err.code, ERR_IO);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
	ck_assert_str_eq(err.msg, want);

	ck_assert_int_eq(config_load(tmpdir, &cfg, &err), -1);
	ck_assert_int_eq(err.code, ERR_IO);
	snprintf(want, sizeof(want), "%s: cannot read: is a directory", tmpdir);
	ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_load_file_error)
{
	char path[128], want[256];

	snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);
	write_file(path, "[daemon]\n\nlog_level = loud\n", 0600);
	ck_assert_int_eq(config_load(path, &cfg, &err), -1);
	ck_assert_int_eq(err.code, ERR_CONFIG);
	snprintf(want, sizeof(want),
	         "%s:3: log_level: expected error|warn|notice|info|debug, got 'loud'",
	         path);
	ck_assert_str_eq(err.msg, want);

	write_file(path, "[daemon]\nlog_level = debug\n", 0600);
	ck_assert_int_eq(config_load(path, &cfg, &err), 0);
	ck_assert_str_eq(cfg->path, path);
	ck_assert_int_eq(cfg->daemon.log_level, LOG_DEBUG);
}
END_TEST

/* The reader sizes its buffer from the file: a file of exactly 1 MiB
 * (mostly comment) loads, one byte more is refused. */
START_TEST(test_load_size_limit)
{
	const size_t limit = 1024 * 1024;
	const char *head = "[daemon]\nlog_level = debug\n";
	char path[128], want[256];
	char *text = malloc(limit + 2);

	ck_assert_ptr_nonnull(text);
	memset(text, ';', limit + 1);
	for (size_t i = 99; i < limit; i += 100)
		text[i] = '\n'; /* comment lines inih accepts */
	memcpy(text, head, strlen(head));
	text[limit - 1] = '\n';
	text[limit] = '\0';
	snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	write_file(path, text, 0600);
	ck_assert_msg(config_load(path, &cfg, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(cfg->daemon.log_level, LOG_DEBUG);
	config_free(cfg);
	cfg = NULL;

	text[limit] = '\n';
	text[limit + 1] = '\0';
	write_file(path, text, 0600);
	ck_assert_int_eq(config_load(path, &cfg, &err), -1);
	ck_assert_int_eq(err.code, ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: larger than %zu bytes", path, limit);
	ck_assert_str_eq(err.msg, want);
	free(text);
}
END_TEST

/* Runs config_load on text in a file of the given mode and returns what
 * it wrote to stderr (the log). */
static char *
load_capturing_log(const char *text, mode_t mode)
{
	char path[128], logpath[128];
	static char logbuf[4096];
	int saved = dup(STDERR_FILENO), fd, rc;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
	write_file(path, text, mode);
	fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	rc = config_load(path, &cfg, &err);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_msg(rc == 0, "%s", err.msg);
	n = pread(fd, logbuf, sizeof(logbuf) - 1, 0);
	close(fd);
	ck_assert_int_ge(n, 0);
	logbuf[n] = '\0';
	return logbuf;
}

START_TEST(test_literal_secret_warning)
{
	const char *two =
	        OAUTH "[token \"u\"]\ntype = oauth2\ntoken_url = https://i.example/t\n"
	              "client_id = i\nclient_secret = other-s3cret\n";
	char *log = load_capturing_log(two, 0644);

	ck_assert_ptr_nonnull(strstr(log,
	                             "t.conf:5: token \"t\": client_secret is written "
	                             "literally in a file that others may read or "
	                             "group or others may write (mode 0644)"));
	ck_assert_ptr_null(strstr(log, "s3cret"));
	ck_assert_ptr_null(strstr(log, "token \"u\"")); /* once per file */
	config_free(cfg);
	cfg = NULL;

	log = load_capturing_log(two, 0600);
	ck_assert_str_eq(log, "");
	config_free(cfg);
	cfg = NULL;

	/* tokend(8) recommends 0640 (root:tokend): no warning. */
	log = load_capturing_log(two, 0640);
	ck_assert_str_eq(log, "");
	config_free(cfg);
	cfg = NULL;

	log = load_capturing_log(two, 0660); /* the group may write it */
	ck_assert_ptr_nonnull(strstr(log, "(mode 0660)"));
	config_free(cfg);
	cfg = NULL;

	setenv("TOKEND_CHECK_SECRET", "from-env", 1);
	log = load_capturing_log(
	        "[token \"t\"]\ntype = oauth2\ntoken_url = https://i.example/t\n"
	        "client_id = i\nclient_secret = env:TOKEND_CHECK_SECRET\n",
	        0644);
	ck_assert_str_eq(log, "");
	unsetenv("TOKEND_CHECK_SECRET");
}
END_TEST

START_TEST(test_example_file)
{
	const char *srcdir = getenv("abs_top_srcdir");
	char path[1024];

	ck_assert_msg(srcdir != NULL,
	              "abs_top_srcdir is not set (run through make check)");
	snprintf(path, sizeof(path), "%s/conf/tokend.conf.example", srcdir);
	ck_assert_msg(config_load(path, &cfg, &err) == 0, "%s", err.msg);
	ck_assert_uint_ge(cfg->ntokens, 4);
	ck_assert_ptr_nonnull(config_find_token(cfg, "auth0-mgmt"));
	ck_assert_ptr_nonnull(config_find_token(cfg, "sessions"));
}
END_TEST

static char *
slurp(const char *rel)
{
	const char *srcdir = getenv("abs_top_srcdir");
	char path[1024];
	FILE *f;
	char *text = calloc(1, 1 << 20);
	size_t n;

	ck_assert_msg(srcdir != NULL,
	              "abs_top_srcdir is not set (run through make check)");
	snprintf(path, sizeof(path), "%s/%s", srcdir, rel);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: cannot read", path);
	n = fread(text, 1, (1 << 20) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* The example shows every key, set or commented out; the manual
 * describes every key. */
START_TEST(test_every_key_documented)
{
	char *example = slurp("conf/tokend.conf.example");
	char *man = slurp("man/tokend.conf.5");
	char want[128];

	for (size_t i = 0; i < config_nkeys; i++) {
		const char *k = config_keys[i].name;
		snprintf(want, sizeof(want), "\n%s = ", k);
		bool set = strstr(example, want) != NULL;
		snprintf(want, sizeof(want), "\n;%s = ", k);
		ck_assert_msg(set || strstr(example, want) != NULL, "example lacks %s",
		              k);
		snprintf(want, sizeof(want), "\n.It Ic %s Ns = ", k);
		ck_assert_msg(strstr(man, want) != NULL, "tokend.conf.5 lacks %s", k);
	}
	free(example);
	free(man);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
config_files_suite(void)
{
	Suite *s = suite_create("config_files");
	TCase *tc = tcase_create("files");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_secret_file, 0, N(file_cases));
	tcase_add_test(tc, test_secret_env);
	tcase_add_test(tc, test_load_missing);
	tcase_add_test(tc, test_load_file_error);
	tcase_add_test(tc, test_load_size_limit);
	tcase_add_test(tc, test_literal_secret_warning);
	tcase_add_test(tc, test_example_file);
	tcase_add_test(tc, test_every_key_documented);
	suite_add_tcase(s, tc);
	return s;
}

int main(void);

int
main(void)
{
	SRunner *sr = srunner_create(config_files_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
