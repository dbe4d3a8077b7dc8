/* check_http_client.c - http_client against a real evhttp server that runs
 * in-process on the same event base: no mocks, no sleeps. Each test runs
 * the loop until the callbacks it expects have fired; a safety timer fails
 * the test instead of letting it hang.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http_client.h"

#define SAFETY_MS   5000
#define NCONCURRENT 50

struct result {
	int calls;
	struct err err;
	long status;
	char *body;
	size_t body_len;
	size_t nheaders;
	char *x_got_test;
	char *x_got_type;
	char *x_got_length;
	int ndup;
	int64_t elapsed_ms;
};

struct fixture {
	struct event_base *base;
	struct evhttp *server;
	struct http_client *client;
	int port;
	int done;   /* callbacks seen */
	int target; /* loop stops when done reaches it */
	bool timed_out;
	int slow_seen;
	struct http_call *cancel_on_slow; /* cancelled when /slow arrives */
	struct http_call *peer[2];        /* for callbacks that cancel a peer */
	struct result res[NCONCURRENT];
	char url[256];
};

static struct fixture fx;

/* --- the server ---------------------------------------------------------- */

static void
reply_bytes(struct evhttp_request *req, size_t n, bool chunked)
{
	struct evbuffer *buf = evbuffer_new();
	char *data = malloc(n > 0 ? n : 1);

	memset(data, 'a', n);
	evbuffer_add(buf, data, n);
	free(data);
	if (!chunked) {
		evhttp_send_reply(req, 200, "OK", buf);
	} else {
		evhttp_send_reply_start(req, 200, "OK");
		evhttp_send_reply_chunk(req, buf);
		evhttp_send_reply_end(req);
	}
	evbuffer_free(buf);
}

static void
reply_echo(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct evbuffer *buf = evbuffer_new();
	const char *v;

	evbuffer_add_printf(buf, "%d\n", (int)evhttp_request_get_command(req));
	evbuffer_add_buffer(buf, body);
	if ((v = evhttp_find_header(in, "X-Test")) != NULL)
		evhttp_add_header(out, "X-Got-Test", v);
	if ((v = evhttp_find_header(in, "Content-Type")) != NULL)
		evhttp_add_header(out, "X-Got-Type", v);
	if ((v = evhttp_find_header(in, "Content-Length")) != NULL)
		evhttp_add_header(out, "X-Got-Length", v);
	if ((v = evhttp_find_header(in, "User-Agent")) != NULL)
		evhttp_add_header(out, "X-Got-Agent", v);
	evhttp_add_header(out, "X-Dup", "one");
	evhttp_add_header(out, "X-Dup", "two");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

static void
on_server_request(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	unsigned long n;
	int status;

	if (strncmp(uri, "/echo", 5) == 0) {
		reply_echo(req);
	} else if (sscanf(uri, "/status/%d", &status) == 1) {
		evhttp_send_reply(req, status, "Status", NULL);
	} else if (sscanf(uri, "/big/%lu", &n) == 1) {
		reply_bytes(req, n, false);
	} else if (sscanf(uri, "/chunked/%lu", &n) == 1) {
		reply_bytes(req, n, true);
	} else if (strcmp(uri, "/slow") == 0) {
		/* Never answered: evhttp frees it with the connection. */
		fx.slow_seen++;
		if (fx.cancel_on_slow != NULL) {
			http_call_cancel(fx.cancel_on_slow);
			fx.cancel_on_slow = NULL;
			fx.done++;
			event_base_loopbreak(fx.base);
		}
	} else {
		evhttp_send_reply(req, 404, "Not Found", NULL);
	}
}

/* --- fixture and loop ---------------------------------------------------- */

static void
setup(void)
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct err err;

	memset(&fx, 0, sizeof(fx));
	fx.base = event_base_new();
	ck_assert_ptr_nonnull(fx.base);
	fx.server = evhttp_new(fx.base);
	bound = evhttp_bind_socket_with_handle(fx.server, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bound);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bound),
	                             (struct sockaddr *)&sin, &len),
	                 0);
	fx.port = ntohs(sin.sin_port);
	evhttp_set_gencb(fx.server, on_server_request, NULL);
	fx.client = http_client_new(fx.base, &err);
	ck_assert_msg(fx.client != NULL, "%s", err.msg);
}

static void
teardown(void)
{
	http_client_free(fx.client);
	evhttp_free(fx.server);
	event_base_free(fx.base);
	for (size_t i = 0; i < NCONCURRENT; i++) {
		free(fx.res[i].body);
		free(fx.res[i].x_got_test);
		free(fx.res[i].x_got_type);
		free(fx.res[i].x_got_length);
	}
}

static void
on_safety(evutil_socket_t fd, short what, void *arg)
{
	fx.timed_out = true;
	event_base_loopbreak(fx.base);
}

/* Runs the loop until n callbacks in all have fired. */
static void
wait_for(int n)
{
	struct timeval tv = { SAFETY_MS / 1000, (SAFETY_MS % 1000) * 1000 };
	struct event *safety = evtimer_new(fx.base, on_safety, NULL);

	fx.target = n;
	evtimer_add(safety, &tv);
	while (fx.done < n && !fx.timed_out)
		event_base_dispatch(fx.base);
	event_free(safety);
	ck_assert_msg(!fx.timed_out, "timed out with %d of %d callbacks", fx.done, n);
	ck_assert_int_eq(fx.done, n);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void
record(const struct http_response *resp, struct result *r)
{
	r->calls++;
	r->err = resp->err;
	r->status = resp->status;
	free(r->body);
	r->body = malloc(resp->body_len + 1);
	memcpy(r->body, resp->body, resp->body_len + 1);
	r->body_len = resp->body_len;
	r->nheaders = resp->nheaders;
	r->x_got_test = dup_or_null(http_response_header(resp, "x-got-test"));
	r->x_got_type = dup_or_null(http_response_header(resp, "X-GOT-TYPE"));
	r->x_got_length = dup_or_null(http_response_header(resp, "X-Got-Length"));
	r->elapsed_ms = resp->elapsed_ms;
	for (size_t i = 0; i < resp->nheaders; i++)
		if (strcmp(resp->headers[i].name, "X-Dup") == 0)
			r->ndup++;
}

static void
on_done(const struct http_response *resp, void *arg)
{
	record(resp, arg);
	if (++fx.done >= fx.target)
		event_base_loopbreak(fx.base);
}

static const char *
url(const char *path)
{
	snprintf(fx.url, sizeof(fx.url), "http://127.0.0.1:%d%s", fx.port, path);
	return fx.url;
}

static struct http_call *
start(const char *method, const char *path, struct result *r)
{
	struct http_request req = { .method = method, .url = url(path) };
	struct err err;
	struct http_call *call = http_client_start(fx.client, &req, on_done, r, &err);

	ck_assert_msg(call != NULL, "%s", err.msg);
	return call;
}

/* --- tests --------------------------------------------------------------- */

START_TEST(test_get)
{
	struct result *r = &fx.res[0];

	start("GET", "/echo", r);
	wait_for(1);
	ck_assert_int_eq(r->calls, 1);
	ck_assert_int_eq(r->err.code, ERR_OK);
	ck_assert_int_eq(r->status, 200);
	ck_assert_str_eq(r->body, "1\n"); /* EVHTTP_REQ_GET, no body */
	ck_assert_int_eq(r->ndup, 2);
	ck_assert_ptr_null(r->x_got_test);
	ck_assert_int_ge(r->elapsed_ms, 0);
}
END_TEST

START_TEST(test_post_body_and_headers)
{
	static const char body[] = "{\"client_secret\":\"s3cr\0t\"}";
	const char *headers[] = { "X-Test: hello world", "Content-Type: application/json",
		                  NULL };
	struct http_request req = { .method = "POST",
		                    .url = url("/echo"),
		                    .headers = headers,
		                    .body = body,
		                    .body_len = sizeof(body) - 1 };
	struct result *r = &fx.res[0];
	struct err err;

	ck_assert_ptr_nonnull(http_client_start(fx.client, &req, on_done, r, &err));
	wait_for(1);
	ck_assert_int_eq(r->err.code, ERR_OK);
	ck_assert_int_eq(r->status, 200);
	ck_assert_uint_eq(r->body_len, 2 + sizeof(body) - 1);
	ck_assert_mem_eq(r->body, "2\n", 2); /* EVHTTP_REQ_POST */
	ck_assert_mem_eq(r->body + 2, body, sizeof(body) - 1);
	ck_assert_str_eq(r->x_got_test, "hello world");
	ck_assert_str_eq(r->x_got_type, "application/json");
}
END_TEST

START_TEST(test_put_empty_body)
{
	struct result *r = &fx.res[0];

	start("PUT", "/echo", r);
	wait_for(1);
	ck_assert_int_eq(r->err.code, ERR_OK);
	ck_assert_str_eq(r->body, "8\n"); /* EVHTTP_REQ_PUT */
	ck_assert_str_eq(r->x_got_length, "0");
}
END_TEST

static void
on_done_agent(const struct http_response *resp, void *arg)
{
	const char *agent = http_response_header(resp, "X-Got-Agent");

	ck_assert_ptr_nonnull(agent);
	ck_assert_str_eq(agent, "tokend/" PACKAGE_VERSION);
	on_done(resp, arg);
}

START_TEST(test_user_agent)
{
	struct http_request req = { .method = "GET", .url = url("/echo") };
	struct err err;

	ck_assert_ptr_nonnull(
	        http_client_start(fx.client, &req, on_done_agent, &fx.res[0], &err));
	wait_for(1);
}
END_TEST

static const int status_cases[] = { 200, 204, 404, 500, 503 };

START_TEST(test_status_passed_through)
{
	struct result *r = &fx.res[0];
	char path[32];

	snprintf(path, sizeof(path), "/status/%d", status_cases[_i]);
	start("GET", path, r);
	wait_for(1);
	ck_assert_int_eq(r->err.code, ERR_OK);
	ck_assert_int_eq(r->status, status_cases[_i]);
	ck_assert_uint_eq(r->body_len, 0);
	ck_assert_str_eq(r->body, "");
}
END_TEST

static const struct {
	const char *path;
	enum err_code code;
} size_cases[] = {
	{ "/big/1048576", ERR_OK },         /* exactly the cap */
	{ "/big/1048577", ERR_TOOBIG },     /* Content-Length over the cap */
	{ "/chunked/1048576", ERR_OK },     /* no length announced */
	{ "/chunked/1048577", ERR_TOOBIG }, /* caught while writing */
	{ "/chunked/5000000", ERR_TOOBIG },
};

START_TEST(test_body_cap)
{
	struct result *r = &fx.res[0];

	start("GET", size_cases[_i].path, r);
	wait_for(1);
	ck_assert_msg(r->err.code == size_cases[_i].code, "%s: %s", size_cases[_i].path,
	              r->err.msg);
	if (r->err.code == ERR_OK)
		ck_assert_uint_eq(r->body_len, HTTP_CLIENT_MAX_BODY);
	else
		ck_assert_ptr_nonnull(strstr(r->err.msg, "GET http://127.0.0.1:"));
}
END_TEST

START_TEST(test_timeout)
{
	struct http_request req = { .method = "GET",
		                    .url = url("/slow"),
		                    .timeout_ms = 300 };
	struct result *r = &fx.res[0];
	struct err err;

	ck_assert_ptr_nonnull(http_client_start(fx.client, &req, on_done, r, &err));
	wait_for(1);
	ck_assert_int_eq(fx.slow_seen, 1);
	ck_assert_msg(r->err.code == ERR_TIMEOUT, "%s", r->err.msg);
	ck_assert_int_ge(r->elapsed_ms, 250);
	ck_assert_int_lt(r->elapsed_ms, 3000);
}
END_TEST

START_TEST(test_connection_refused)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	struct result *r = &fx.res[0];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A port that was just free and that nobody listens on. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	fx.port = ntohs(sin.sin_port);
	start("GET", "/echo", r);
	wait_for(1);
	ck_assert_msg(r->err.code == ERR_NET, "%s", r->err.msg);
	ck_assert_int_eq(r->status, 0);
}
END_TEST

/* Cancelled once the server holds the request: the callback never runs,
 * and the client keeps working. */
START_TEST(test_cancel_in_flight)
{
	struct result *slow = &fx.res[0], *after = &fx.res[1];

	fx.cancel_on_slow = start("GET", "/slow", slow);
	wait_for(1); /* the server's cancel counts as the first event */
	start("GET", "/echo", after);
	wait_for(2);
	ck_assert_int_eq(slow->calls, 0);
	ck_assert_int_eq(after->calls, 1);
	ck_assert_int_eq(after->err.code, ERR_OK);
}
END_TEST

START_TEST(test_cancel_before_loop)
{
	struct result *cancelled = &fx.res[0], *after = &fx.res[1];

	http_call_cancel(start("GET", "/echo", cancelled));
	http_call_cancel(NULL);
	start("GET", "/echo", after);
	wait_for(1);
	ck_assert_int_eq(cancelled->calls, 0);
	ck_assert_int_eq(after->calls, 1);
}
END_TEST

/* Two calls race; the first to finish cancels the other, which may be
 * still running or already queued behind it. */
static void
on_done_cancel_other(const struct http_response *resp, void *arg)
{
	http_call_cancel(arg == &fx.res[0] ? fx.peer[1] : fx.peer[0]);
	on_done(resp, arg);
}

START_TEST(test_callback_cancels_peer)
{
	struct http_request req = { .method = "GET", .url = url("/echo") };
	struct err err;

	for (int i = 0; i < 2; i++) {
		fx.peer[i] = http_client_start(fx.client, &req, on_done_cancel_other,
		                               &fx.res[i], &err);
		ck_assert_ptr_nonnull(fx.peer[i]);
	}
	wait_for(1);
	start("GET", "/echo", &fx.res[2]);
	wait_for(2);
	ck_assert_int_eq(fx.res[0].calls + fx.res[1].calls, 1);
	ck_assert_int_eq(fx.res[2].calls, 1);
}
END_TEST

START_TEST(test_many_concurrent)
{
	char path[32];

	for (int i = 0; i < NCONCURRENT; i++) {
		snprintf(path, sizeof(path), "/echo?n=%d", i);
		start(i % 2 ? "GET" : "POST", path, &fx.res[i]);
	}
	wait_for(NCONCURRENT);
	for (int i = 0; i < NCONCURRENT; i++) {
		ck_assert_int_eq(fx.res[i].calls, 1);
		ck_assert_int_eq(fx.res[i].err.code, ERR_OK);
		ck_assert_str_eq(fx.res[i].body, i % 2 ? "1\n" : "2\n");
	}
}
END_TEST

/* Each callback starts the next call, three deep. */
static void
on_done_chain(const struct http_response *resp, void *arg)
{
	struct result *r = arg;

	struct http_request req = { .method = "GET", .url = url("/echo") };
	struct err err;

	record(resp, r);
	fx.done++;
	if (r < &fx.res[2])
		ck_assert_ptr_nonnull(
		        http_client_start(fx.client, &req, on_done_chain, r + 1, &err));
	if (fx.done >= fx.target)
		event_base_loopbreak(fx.base);
}

START_TEST(test_callback_starts_call)
{
	struct http_request req = { .method = "GET", .url = url("/echo") };
	struct err err;

	ck_assert_ptr_nonnull(
	        http_client_start(fx.client, &req, on_done_chain, &fx.res[0], &err));
	wait_for(3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(fx.res[i].calls, 1);
}
END_TEST

static void
on_done_free_client(const struct http_response *resp, void *arg)
{
	http_client_free(fx.client);
	fx.client = NULL;
	on_done(resp, arg);
}

START_TEST(test_callback_frees_client)
{
	struct http_request req = { .method = "GET" };
	struct err err;

	start("GET", "/slow", &fx.res[1]);
	start("GET", "/slow", &fx.res[2]);
	req.url = url("/echo");
	/* Whichever echo finishes first frees the client; the other never runs. */
	ck_assert_ptr_nonnull(http_client_start(fx.client, &req, on_done_free_client,
	                                        &fx.res[0], &err));
	ck_assert_ptr_nonnull(http_client_start(fx.client, &req, on_done_free_client,
	                                        &fx.res[3], &err));
	wait_for(1);
	ck_assert_ptr_null(fx.client);
	ck_assert_int_eq(fx.res[0].calls + fx.res[3].calls, 1);
	ck_assert_int_eq(fx.res[1].calls + fx.res[2].calls, 0);
}
END_TEST

static const struct {
	const char *method;
	const char *url;
	const char *header;
	const char *body;
	enum err_code code;
} refused_cases[] = {
	{ "GET", "http://example.com/", NULL, NULL, ERR_CONFIG },
	{ "GET", "http://10.0.0.1/", NULL, NULL, ERR_CONFIG },
	{ "GET", "ftp://127.0.0.1/", NULL, NULL, ERR_CONFIG },
	{ "GET", "https://user:pw@example.com/", NULL, NULL, ERR_CONFIG },
	{ "GET", "not a url", NULL, NULL, ERR_CONFIG },
	{ "GET", NULL, NULL, NULL, ERR_CONFIG },
	{ "BREW", "https://example.com/", NULL, NULL, ERR_INTERNAL },
	{ "GET", "https://example.com/", NULL, "body", ERR_INTERNAL },
	{ "GET", "https://example.com/", "X-Evil: a\r\nHost: b", NULL, ERR_INTERNAL },
	{ "GET", "https://example.com/", "no colon", NULL, ERR_INTERNAL },
};

/* Refused at start, synchronously; the callback never runs. */
START_TEST(test_refused_at_start)
{
	const char *headers[] = { refused_cases[_i].header, NULL };
	struct http_request req = {
		.method = refused_cases[_i].method,
		.url = refused_cases[_i].url,
		.headers = headers,
		.body = refused_cases[_i].body,
		.body_len = refused_cases[_i].body ? strlen(refused_cases[_i].body) : 0,
	};
	struct err err = { 0 };

	ck_assert_ptr_null(http_client_start(fx.client, &req, on_done, &fx.res[0], &err));
	ck_assert_int_eq(err.code, refused_cases[_i].code);
	ck_assert_str_ne(err.msg, "");
	start("GET", "/echo", &fx.res[1]);
	wait_for(1);
	ck_assert_int_eq(fx.res[0].calls, 0);
	ck_assert_int_eq(fx.res[1].calls, 1);
}
END_TEST

static const struct {
	const char *url;
	int allowed;
} url_cases[] = {
	{ "https://example.com/oauth/token", 1 },
	{ "https://10.1.2.3:8443/x", 1 },
	{ "HTTPS://Example.COM/", 1 },
	{ "http://127.0.0.1:8080/", 1 },
	{ "http://127.200.3.4/", 1 },
	{ "http://localhost/", 1 },
	{ "http://LocalHost:9000/creds", 1 },
	{ "http://[::1]:8080/", 1 },
	{ "http://169.254.169.254/latest/api/token", 1 },
	{ "http://169.254.170.2/v2/credentials/abc", 1 },
	{ "http://169.254.170.23/v1/credentials", 1 },
	{ "http://[fd00:ec2::23]/v1/credentials", 1 },
	{ "http://[fd00:ec2::254]/latest/api/token", 1 },
	{ "http://example.com/", 0 },
	{ "http://128.0.0.1/", 0 },
	{ "http://169.254.169.253/", 0 },
	{ "http://[::2]/", 0 },
	{ "http://[::ffff:127.0.0.1]/", 0 },
	{ "http://localhost.example.com/", 0 },
	{ "http://127.0.0.1.nip.io/", 0 },
	{ "http://user@127.0.0.1/", 0 },
	{ "https://user:secret@example.com/", 0 },
	{ "ftp://127.0.0.1/", 0 },
	{ "file:///etc/passwd", 0 },
	{ "gopher://127.0.0.1/", 0 },
	{ "example.com", 0 },
	{ "", 0 },
};

START_TEST(test_url_allowed)
{
	struct err err = { 0 };
	int got = http_client_url_allowed(url_cases[_i].url, &err);

	ck_assert_msg(got == url_cases[_i].allowed, "%s: got %d (%s)", url_cases[_i].url,
	              got, err.msg);
	if (!got)
		ck_assert_int_eq(err.code, ERR_CONFIG);
}
END_TEST

START_TEST(test_free_null_and_idle)
{
	struct err err;
	struct http_client *c = http_client_new(fx.base, &err);

	ck_assert_ptr_nonnull(c);
	http_client_free(c);
	http_client_free(NULL);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
http_client_suite(void)
{
	Suite *s = suite_create("http_client");
	TCase *tc = tcase_create("loop");
	TCase *pure = tcase_create("pure");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_post_body_and_headers);
	tcase_add_test(tc, test_put_empty_body);
	tcase_add_test(tc, test_user_agent);
	tcase_add_loop_test(tc, test_status_passed_through, 0, N(status_cases));
	tcase_add_loop_test(tc, test_body_cap, 0, N(size_cases));
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_cancel_in_flight);
	tcase_add_test(tc, test_cancel_before_loop);
	tcase_add_test(tc, test_callback_cancels_peer);
	tcase_add_test(tc, test_many_concurrent);
	tcase_add_test(tc, test_callback_starts_call);
	tcase_add_test(tc, test_callback_frees_client);
	tcase_add_loop_test(tc, test_refused_at_start, 0, N(refused_cases));
	tcase_add_test(tc, test_free_null_and_idle);
	suite_add_tcase(s, tc);
	tcase_add_loop_test(pure, test_url_allowed, 0, N(url_cases));
	suite_add_tcase(s, pure);
	return s;
}

int main(void);

int
main(void)
{
	SRunner *sr = srunner_create(http_client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
