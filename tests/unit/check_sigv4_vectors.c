/* check_sigv4_vectors.c - every case of AWS's public SigV4 test suites
 * (aws-c-auth header and query variants, botocore's aws4_testsuite), read
 * at test time from the shared vectors directory, never copied into the
 * repository. Without that directory the program reports SKIP (77). */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "sigv4.h"
#include "timeutil.h"
#include "xalloc.h"

#define MAX_CASES   64
#define MAX_HEADERS 32

static char *vec_dir;
static char *cauth_cases[MAX_CASES];
static size_t n_cauth;
static char *aws4_cases[MAX_CASES]; /* directory of each case; basename = name */
static size_t n_aws4;

/* A file's bytes (NUL-terminated); *len excludes the NUL. NULL if absent. */
static char *
slurp(const char *dir, const char *name, size_t *len)
{
	char *path = NULL, *data = NULL;
	FILE *f;
	long n;

	xasprintf(&path, "%s/%s", dir, name);
	f = fopen(path, "rb");
	free(path);
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		data = xmalloc((size_t)n + 1);
		if (fread(data, 1, (size_t)n, f) != (size_t)n) {
			free(data);
			data = NULL;
		} else {
			data[n] = '\0';
			if (len != NULL)
				*len = (size_t)n;
		}
	}
	fclose(f);
	return data;
}

static char *
must_slurp(const char *dir, const char *name)
{
	char *s = slurp(dir, name, NULL);

	ck_assert_msg(s != NULL, "%s/%s missing", dir, name);
	return s;
}

/* An unsigned request from a vector file. Continuation lines stay in the
 * value with their line breaks: folding them is the signer's job. */
struct vreq {
	char *buf;
	char *method;
	char *path;
	char *query;
	struct sigv4_header h[MAX_HEADERS];
	size_t nh;
	char *body;
	size_t body_len;
};

static void
vreq_parse(struct vreq *r, char *text, size_t len)
{
	char *line, *next, *sp, *proto, *end = text + len;

	memset(r, 0, sizeof(*r));
	r->buf = text;
	next = strchr(text, '\n');
	if (next != NULL)
		*next++ = '\0';
	sp = strchr(text, ' ');
	proto = strstr(text, " HTTP/");
	ck_assert_msg(sp != NULL && proto != NULL, "bad request line %s", text);
	*sp = '\0';
	*proto = '\0';
	r->method = text;
	r->path = sp + 1;
	if ((r->query = strchr(r->path, '?')) != NULL)
		*r->query++ = '\0';
	while (next != NULL && next < end) {
		line = next;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (*line == '\0') { /* blank line: the body follows */
			r->body = next;
			r->body_len = next ? (size_t)(end - next) : 0;
			break;
		}
		if (*line == ' ' || *line == '\t') {
			ck_assert(r->nh > 0);
			line[-1] = '\n'; /* rejoin with the previous value */
			continue;
		}
		ck_assert(r->nh < MAX_HEADERS);
		sp = strchr(line, ':');
		ck_assert_msg(sp != NULL, "bad header line %s", line);
		*sp = '\0';
		r->h[r->nh].name = line;
		r->h[r->nh].value = sp + 1;
		r->nh++;
	}
}

/* Removes header name from r, returning its value (or NULL). */
static const char *
vreq_take(struct vreq *r, const char *name)
{
	for (size_t i = 0; i < r->nh; i++) {
		if (strcasecmp(r->h[i].name, name) == 0) {
			const char *v = r->h[i].value;

			memmove(&r->h[i], &r->h[i + 1],
			        (r->nh - i - 1) * sizeof(r->h[0]));
			r->nh--;
			return v;
		}
	}
	return NULL;
}

static const char *
vreq_get(const struct vreq *r, const char *name)
{
	for (size_t i = 0; i < r->nh; i++)
		if (strcasecmp(r->h[i].name, name) == 0)
			return r->h[i].value;
	return NULL;
}

/* aws-c-auth's context.json. */
struct vctx {
	json_t *root;
	struct sigv4_creds creds;
	struct sigv4_signer signer;
	int expires;
	bool normalize, sign_body, omit_session_token;
};

static void
vctx_load(struct vctx *c, const char *dir)
{
	char *text = must_slurp(dir, "context.json");
	json_error_t jerr;
	json_t *cr;
	int64_t t;

	memset(c, 0, sizeof(*c));
	c->root = json_loads(text, 0, &jerr);
	free(text);
	ck_assert_msg(c->root != NULL, "%s: %s", dir, jerr.text);
	cr = json_object_get(c->root, "credentials");
	c->creds.access_key_id = json_string_value(json_object_get(cr, "access_key_id"));
	c->creds.secret_access_key =
	        json_string_value(json_object_get(cr, "secret_access_key"));
	c->creds.session_token = json_string_value(json_object_get(cr, "token"));
	ck_assert_int_eq(
	        timeutil_parse_iso8601(
	                json_string_value(json_object_get(c->root, "timestamp")), &t),
	        0);
	c->signer = (struct sigv4_signer){
		&c->creds, json_string_value(json_object_get(c->root, "region")),
		json_string_value(json_object_get(c->root, "service")), t
	};
	c->expires = (int)json_integer_value(
	        json_object_get(c->root, "expiration_in_seconds"));
	c->normalize = json_is_true(json_object_get(c->root, "normalize"));
	c->sign_body = json_is_true(json_object_get(c->root, "sign_body"));
	c->omit_session_token =
	        json_is_true(json_object_get(c->root, "omit_session_token"));
}

static void
load_case(const char *dir, struct vctx *c, struct vreq *r, struct sigv4_request *req)
{
	size_t len = 0;
	char *text = slurp(dir, "request.txt", &len);

	ck_assert_msg(text != NULL, "%s/request.txt missing", dir);
	vctx_load(c, dir);
	vreq_parse(r, text, len);
	*req = (struct sigv4_request){
		.method = r->method,
		.path = r->path,
		.query = r->query,
		.headers = r->h,
		.nheaders = r->nh,
		.body = r->body,
		.body_len = r->body_len,
		.raw_path = !c->normalize,
		.sign_body = c->sign_body,
		.omit_session_token = c->omit_session_token,
	};
}

static void
expect_file(const char *dir, const char *name, const char *got)
{
	char *want = must_slurp(dir, name);

	ck_assert_msg(strcmp(want, got) == 0, "%s/%s:\nwant\n%s\ngot\n%s", dir, name,
	              want, got);
	free(want);
}

START_TEST(test_cauth_header)
{
	const char *dir = cauth_cases[_i];
	struct sigv4_signed out = { 0 };
	struct sigv4_request req;
	struct err err = { 0 };
	struct vreq r, sreq;
	struct vctx c;
	size_t slen = 0, nout = 0;
	char *signed_text;

	load_case(dir, &c, &r, &req);
	ck_assert_msg(sigv4_sign_headers(&c.signer, &req, &out, &err) == 0, "%s: %s", dir,
	              err.msg);
	expect_file(dir, "header-canonical-request.txt", out.canonical_request);
	expect_file(dir, "header-string-to-sign.txt", out.string_to_sign);
	expect_file(dir, "header-signature.txt", out.signature);

	/* Every header the signer adds is in the signed request, same value. */
	signed_text = slurp(dir, "header-signed-request.txt", &slen);
	ck_assert(signed_text != NULL);
	vreq_parse(&sreq, signed_text, slen);
	for (; out.headers[nout] != NULL; nout++) {
		char *line = xstrdup(out.headers[nout]), *colon = strstr(line, ": ");
		const char *want;

		ck_assert(colon != NULL);
		*colon = '\0';
		want = vreq_get(&sreq, line);
		ck_assert_msg(want != NULL && strcmp(want, colon + 2) == 0, "%s: %s: %s",
		              dir, line, want ? want : "(absent)");
		free(line);
	}
	ck_assert_uint_ge(nout, 2);
	free(signed_text);
	free(r.buf);
	json_decref(c.root);
	sigv4_signed_clear(&out);
}
END_TEST

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A query piece with raw bytes >= 0x80 percent-encoded: aws-c-auth sends
 * "ሴ=bar" raw where tokend sends "%E1%88%B4=bar"; both mean the same. */
static char *
escape_high(const char *s)
{
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x80)
			o += sprintf(o, "%%%02X", c);
		else
			*o++ = (char)c;
	}
	*o = '\0';
	return out;
}

/* The "&"-separated pieces of a query, sorted: order on the wire does not
 * matter to AWS, and aws-c-auth orders them differently from botocore. */
static char *
sorted_pieces(const char *query)
{
	char *copy = xstrdup(query), *save = NULL, *p, *v[64], *joined = xstrdup("");
	size_t n = 0;

	for (p = strtok_r(copy, "&", &save); p != NULL; p = strtok_r(NULL, "&", &save)) {
		ck_assert(n < 64);
		v[n++] = escape_high(p);
	}
	qsort(v, n, sizeof(v[0]), strp_cmp);
	for (size_t i = 0; i < n; i++) {
		char *tmp = NULL;

		xasprintf(&tmp, "%s%s&", joined, v[i]);
		free(v[i]);
		free(joined);
		joined = tmp;
	}
	free(copy);
	return joined;
}

START_TEST(test_cauth_query)
{
	const char *dir = cauth_cases[_i];
	struct sigv4_signed out = { 0 };
	struct sigv4_request req;
	struct err err = { 0 };
	struct vreq r, sreq;
	struct vctx c;
	size_t slen = 0;
	char *signed_text, *want, *got;

	load_case(dir, &c, &r, &req);
	ck_assert_msg(sigv4_presign(&c.signer, &req, c.expires, &out, &err) == 0,
	              "%s: %s", dir, err.msg);
	expect_file(dir, "query-canonical-request.txt", out.canonical_request);
	expect_file(dir, "query-string-to-sign.txt", out.string_to_sign);
	expect_file(dir, "query-signature.txt", out.signature);

	signed_text = slurp(dir, "query-signed-request.txt", &slen);
	ck_assert(signed_text != NULL);
	vreq_parse(&sreq, signed_text, slen);
	ck_assert(sreq.query != NULL);
	want = sorted_pieces(sreq.query);
	got = sorted_pieces(out.query);
	ck_assert_msg(strcmp(want, got) == 0, "%s:\nwant %s\ngot  %s", dir, want, got);
	ck_assert_msg(strncmp(strrchr(out.query, '&'), "&X-Amz-Signature=", 17) == 0,
	              "%s: X-Amz-Signature is not last: %s", dir, out.query);
	free(want);
	free(got);
	free(signed_text);
	free(r.buf);
	json_decref(c.root);
	sigv4_signed_clear(&out);
}
END_TEST

static int64_t
parse_amz(const char *s)
{
	struct tm tm = { 0 };
	char z = 0;

	ck_assert_msg(sscanf(s, "%4d%2d%2dT%2d%2d%2d%c", &tm.tm_year, &tm.tm_mon,
	                     &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) == 7 &&
	                      z == 'Z',
	              "bad X-Amz-Date %s", s);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* Some cases name their session token only in the signed request (.sreq):
 * get-vanilla-with-session-token, post-sts-header-after. Returns the text
 * *token points into, to be freed. */
static char *
sreq_token(const char *dir, const char *name, const char **token)
{
	char *file = NULL, *text;
	size_t len = 0;
	struct vreq r;

	xasprintf(&file, "%s.sreq", name);
	text = slurp(dir, file, &len);
	free(file);
	*token = NULL;
	if (text == NULL)
		return NULL;
	vreq_parse(&r, text, len);
	*token = vreq_get(&r, "X-Amz-Security-Token");
	return text;
}

/* botocore's classic suite: the request carries X-Amz-Date (and, once, the
 * session token) already; both are handed to the signer instead. */
START_TEST(test_aws4)
{
	const char *dir = aws4_cases[_i], *name = strrchr(dir, '/') + 1;
	struct sigv4_creds creds = { "AKIDEXAMPLE",
		                     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL };
	struct sigv4_signer sg = { &creds, "us-east-1", "service", 0 };
	struct sigv4_signed out = { 0 };
	struct sigv4_request req;
	struct err err = { 0 };
	struct vreq r;
	size_t len = 0, i;
	char *file = NULL, *text, *sreq_text = NULL;
	const char *date;

	xasprintf(&file, "%s.req", name);
	text = slurp(dir, file, &len);
	ck_assert_msg(text != NULL, "%s/%s missing", dir, file);
	vreq_parse(&r, text, len);
	date = vreq_take(&r, "X-Amz-Date");
	ck_assert_msg(date != NULL, "%s: no X-Amz-Date", dir);
	sg.time_s = parse_amz(date);
	creds.session_token = vreq_take(&r, "X-Amz-Security-Token");
	if (creds.session_token == NULL)
		sreq_text = sreq_token(dir, name, &creds.session_token);
	req = (struct sigv4_request){
		.method = r.method,
		.path = r.path,
		.query = r.query,
		.headers = r.h,
		.nheaders = r.nh,
		.body = r.body,
		.body_len = r.body_len,
		/* the suite's readme: a token "added after you calculate" */
		.omit_session_token = strstr(name, "header-after") != NULL,
	};
	ck_assert_msg(sigv4_sign_headers(&sg, &req, &out, &err) == 0, "%s: %s", dir,
	              err.msg);

	free(file);
	xasprintf(&file, "%s.creq", name);
	expect_file(dir, file, out.canonical_request);
	free(file);
	xasprintf(&file, "%s.sts", name);
	expect_file(dir, file, out.string_to_sign);
	free(file);
	xasprintf(&file, "%s.authz", name);
	for (i = 0; out.headers[i + 1] != NULL; i++)
		;
	ck_assert(strncmp(out.headers[i], "Authorization: ", 15) == 0);
	expect_file(dir, file, out.headers[i] + 15);
	free(file);
	free(text);
	free(sreq_text);
	sigv4_signed_clear(&out);
}
END_TEST

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool
is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Case directories under dir: for aws-c-auth every subdirectory; for the
 * classic suite a directory holding NAME/NAME.req, searched one level down
 * too (normalize-path/, post-sts-token/). */
static void
find_cases(const char *dir, bool classic, int depth, char **cases, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *sub = NULL, *req = NULL;

		if (de->d_name[0] == '.')
			continue;
		xasprintf(&sub, "%s/%s", dir, de->d_name);
		xasprintf(&req, "%s/%s.req", sub, de->d_name);
		if (!is_dir(sub)) {
			free(sub);
		} else if (!classic || is_file(req)) {
			if (*n < MAX_CASES)
				cases[(*n)++] = sub;
			else
				free(sub);
		} else {
			if (depth == 0)
				find_cases(sub, classic, depth + 1, cases, n);
			free(sub);
		}
		free(req);
	}
	closedir(d);
	qsort(cases, *n, sizeof(cases[0]), name_cmp);
}

START_TEST(test_case_counts)
{
	/* Guards against a listing that silently misses cases. */
	ck_assert_uint_eq(n_cauth, 38);
	ck_assert_uint_eq(n_aws4, 34);
}
END_TEST

/* $TOKEND_SHARED_DIR/vectors/sigv4, else $abs_top_srcdir/../shared/... */
static char *
locate_vectors(void)
{
	const char *shared = getenv("TOKEND_SHARED_DIR");
	const char *top = getenv("abs_top_srcdir");
	char *path = NULL;

	if (shared != NULL && *shared != '\0')
		xasprintf(&path, "%s/vectors/sigv4", shared);
	else if (top != NULL && *top != '\0')
		xasprintf(&path, "%s/../shared/vectors/sigv4", top);
	if (path != NULL && is_dir(path))
		return path;
	free(path);
	return NULL;
}

static int
count_passed(SRunner *sr, const char *tcase)
{
	TestResult **res = srunner_results(sr);
	int n = srunner_ntests_run(sr), passed = 0;

	for (int i = 0; i < n; i++)
		if (strcmp(tr_tcname(res[i]), tcase) == 0 && tr_rtype(res[i]) == CK_PASS)
			passed++;
	free(res);
	return passed;
}

int main(void);

int
main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	char *dir;
	int failed;

	vec_dir = locate_vectors();
	if (vec_dir == NULL) {
		printf("SKIP: SigV4 vectors not found (set TOKEND_SHARED_DIR)\n");
		return 77;
	}
	/* Created only now: the skip above must leave nothing for LSan. */
	s = suite_create("sigv4_vectors");
	xasprintf(&dir, "%s/aws-c-auth", vec_dir);
	find_cases(dir, false, 0, cauth_cases, &n_cauth);
	free(dir);
	xasprintf(&dir, "%s/aws4_testsuite", vec_dir);
	find_cases(dir, true, 0, aws4_cases, &n_aws4);
	free(dir);

	tc = tcase_create("counts");
	tcase_add_test(tc, test_case_counts);
	suite_add_tcase(s, tc);
	tc = tcase_create("aws-c-auth-header");
	tcase_add_loop_test(tc, test_cauth_header, 0, (int)n_cauth);
	suite_add_tcase(s, tc);
	tc = tcase_create("aws-c-auth-query");
	tcase_add_loop_test(tc, test_cauth_query, 0, (int)n_cauth);
	suite_add_tcase(s, tc);
	tc = tcase_create("aws4_testsuite");
	tcase_add_loop_test(tc, test_aws4, 0, (int)n_aws4);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	printf("sigv4 vectors passed: aws-c-auth header %d/%zu, query %d/%zu, "
	       "aws4_testsuite %d/%zu\n",
	       count_passed(sr, "aws-c-auth-header"), n_cauth,
	       count_passed(sr, "aws-c-auth-query"), n_cauth,
	       count_passed(sr, "aws4_testsuite"), n_aws4);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	for (size_t i = 0; i < n_cauth; i++)
		free(cauth_cases[i]);
	for (size_t i = 0; i < n_aws4; i++)
		free(aws4_cases[i]);
	free(vec_dir);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
