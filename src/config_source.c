/* config_source.c - the configuration from a file, an environment variable
 * or an SSM parameter. */
#include "config_source.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"
#include "config_secret.h"
#include "http_client.h"
#include "secret.h"
#include "ssm.h"
#include "xalloc.h"

#define CONFIG_TEXT_MAX (1024 * 1024)

const char *
config_source_kind(const char *ref)
{
	if (strncmp(ref, "env:", 4) == 0)
		return "environment variable";
	if (strncmp(ref, "ssm:", 4) == 0)
		return "SSM parameter";
	return "file";
}

static int
load_env(const char *ref, struct config **out, struct err *err)
{
	const char *name = ref + 4;
	const char *text;

	if (*name == '\0' || strchr(name, '=') != NULL)
		return err_set(err, ERR_CONFIG,
		               "%s: expected env:NAME, the variable holding the "
		               "configuration text",
		               ref);
	text = getenv(name);
	if (text == NULL || *text == '\0')
		return err_set(err, ERR_CONFIG,
		               "%s: environment variable %s is %s (it should hold the "
		               "whole configuration text)",
		               ref, name, text == NULL ? "not set" : "empty");
	if (strlen(text) > CONFIG_TEXT_MAX)
		return err_set(err, ERR_CONFIG, "%s: larger than %d bytes", ref,
		               CONFIG_TEXT_MAX);
	return config_load_string(text, ref, out, err);
}

/* One GetParameter on a loop of its own: the daemon's loop may not exist
 * yet (start-up) or its SSM client may not (no token uses SSM). */
struct fetch {
	struct event_base *base;
	bool done;
	struct err err;
	char *text;
	size_t len;
};

static void
on_parameter(const struct ssm_result *res, void *arg)
{
	struct fetch *f = arg;

	f->done = true;
	if (res->err.code != ERR_OK) {
		f->err = res->err;
	} else if (res->param.value == NULL) {
		err_set(&f->err, ERR_PARSE, "GetParameter returned no value");
	} else {
		f->len = strlen(res->param.value);
		f->text = xstrdup(res->param.value);
	}
	event_base_loopexit(f->base, NULL);
}

static void
on_budget(evutil_socket_t fd, short what, void *arg)
{
	struct fetch *f = arg;

	(void)fd;
	(void)what;
	err_set(&f->err, ERR_TIMEOUT, "no answer from SSM within %d ms",
	        CONFIG_SOURCE_SSM_BUDGET_MS);
	event_base_loopexit(f->base, NULL);
}

static int
fetch_ssm(const char *name, struct fetch *f, struct err *err)
{
	static const struct config_aws aws = { .credentials = AWS_CREDS_CHAIN };
	struct timeval budget = { CONFIG_SOURCE_SSM_BUDGET_MS / 1000,
		                  (CONFIG_SOURCE_SSM_BUDGET_MS % 1000) * 1000 };
	struct http_client *http = NULL;
	struct aws_creds *creds = NULL;
	struct ssm_client *ssm = NULL;
	struct event *timer = NULL;
	const char *region;
	int rc = -1;

	if ((f->base = event_base_new()) == NULL) {
		err_set(err, ERR_INTERNAL, "event_base_new failed");
		goto out;
	}
	if ((http = http_client_new(f->base, err)) == NULL ||
	    (creds = aws_creds_new(f->base, http, &aws, err)) == NULL)
		goto out;
	region = aws_creds_region(creds, NULL);
	if (region == NULL) {
		err_set(err, ERR_CONFIG,
		        "no AWS region to read it from: set AWS_REGION (ECS and "
		        "Lambda set it for you)");
		goto out;
	}
	if ((ssm = ssm_client_new(f->base, http, creds, region, err)) == NULL)
		goto out;
	ssm_client_set_retry(ssm, 3, 200, 1000);
	timer = evtimer_new(f->base, on_budget, f);
	evtimer_add(timer, &budget);
	ssm_call_set_timeout(ssm_get_parameter(ssm, name, true, on_parameter, f), 4000);
	event_base_dispatch(f->base);
	if (f->err.code != ERR_OK || !f->done) {
		*err = f->err;
		goto out;
	}
	rc = 0;
out:
	if (timer != NULL)
		event_free(timer);
	ssm_client_free(ssm); /* cancels the call if the budget ran out */
	aws_creds_free(creds);
	http_client_free(http);
	if (f->base != NULL)
		event_base_free(f->base);
	return rc;
}

static int
load_ssm(const char *ref, struct config **out, struct err *err)
{
	struct fetch f = { 0 };
	int rc;

	if (config_check_ssm_name(ref + 4, err) == -1 ||
	    fetch_ssm(ref + 4, &f, err) == -1) {
		err_prefix(err, "%s", ref);
		return -1;
	}
	if (f.len > CONFIG_TEXT_MAX || memchr(f.text, '\0', f.len) != NULL) {
		rc = err_set(err, ERR_CONFIG, "%s: larger than %d bytes", ref,
		             CONFIG_TEXT_MAX);
	} else {
		rc = config_load_string(f.text, ref, out, err);
	}
	/* The text may hold literal secrets. */
	secret_free_mem(f.text, f.len + 1);
	return rc;
}

int
config_source_load(const char *ref, struct config **out, struct err *err)
{
	if (strncmp(ref, "env:", 4) == 0)
		return load_env(ref, out, err);
	if (strncmp(ref, "ssm:", 4) == 0)
		return load_ssm(ref, out, err);
	return config_load(ref, out, err);
}
