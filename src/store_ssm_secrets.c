/* store_ssm_secrets.c - resolves ssm: secret references, one GetParameter
 * at a time, before the tokens start. */
#include "store_ssm_secrets.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "ssm.h"
#include "xalloc.h"

struct store_ssm_secrets {
	struct ssm_client *ssm;
	struct config *cfg;
	store_ssm_secrets_done_fn *done;
	void *arg;
	size_t next; /* the token to look at next */
	struct ssm_call *call;
	struct event *start;
};

/* The token's first ssm: reference still unresolved (client_secret, then
 * client_key), or NULL; *key_name names its key. */
static struct config_secret *
pending_secret(const struct token_def *def, const char **key_name)
{
	struct config_secret *list[] = { (struct config_secret *)&def->client_secret,
		                         (struct config_secret *)&def->client_key,
		                         (struct config_secret *)&def->client_cert };
	static const char *const names[] = { "client_secret", "client_key",
		                             "client_cert" };

	for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
		if (list[i]->ssm_name != NULL && list[i]->value == NULL) {
			if (key_name != NULL)
				*key_name = names[i];
			return list[i];
		}
	}
	return NULL;
}

bool
store_ssm_secrets_needed(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->ntokens; i++) {
		if (pending_secret(cfg->tokens[i], NULL) != NULL)
			return true;
	}
	return false;
}

struct secret *
store_ssm_secrets_value(const char *value, const char *key, struct err *err)
{
	json_t *doc;
	const char *member;
	struct secret *out = NULL;

	if (key == NULL)
		return secret_new_str(value);
	doc = json_loads(value, 0, NULL);
	if (!json_is_object(doc)) {
		err_set(err, ERR_PARSE, "the value is not a JSON object (needed for #%s)",
		        key);
		goto out;
	}
	member = json_string_value(json_object_get(doc, key));
	if (member == NULL) {
		err_set(err, ERR_NOTFOUND, "no string key \"%s\" in its JSON object",
		        key);
		goto out;
	}
	out = secret_new_str(member);
out:
	json_decref(doc);
	return out;
}

static void
finish(struct store_ssm_secrets *r, const struct err *err)
{
	store_ssm_secrets_done_fn *done = r->done;
	void *arg = r->arg;

	store_ssm_secrets_cancel(r);
	done(err, arg);
}

static void step(struct store_ssm_secrets *r);

static void
on_get(const struct ssm_result *res, void *arg)
{
	struct store_ssm_secrets *r = arg;
	const struct token_def *def = r->cfg->tokens[r->next];
	const char *key_name = "";
	struct config_secret *cs = pending_secret(def, &key_name);
	struct err e = res->err;

	r->call = NULL;
	if (e.code == ERR_OK)
		cs->value = store_ssm_secrets_value(res->param.value, cs->ssm_key, &e);
	if (cs->value == NULL) {
		if (e.code == ERR_NOTFOUND && cs->ssm_key == NULL)
			err_set(&e, ERR_NOTFOUND, "parameter %s not found", cs->ssm_name);
		err_prefix(&e, "token \"%s\": %s ssm:%s%s%s (line %d)", def->name,
		           key_name, cs->ssm_name, cs->ssm_key ? "#" : "",
		           cs->ssm_key ? cs->ssm_key : "", cs->line);
		finish(r, &e);
		return;
	}
	if (pending_secret(def, NULL) == NULL)
		r->next++;
	step(r);
}

static void
step(struct store_ssm_secrets *r)
{
	struct err ok = { 0 };

	for (; r->next < r->cfg->ntokens; r->next++) {
		struct config_secret *cs = pending_secret(r->cfg->tokens[r->next], NULL);

		if (cs != NULL) {
			r->call =
			        ssm_get_parameter(r->ssm, cs->ssm_name, true, on_get, r);
			return;
		}
	}
	finish(r, &ok);
}

static void
on_start(evutil_socket_t fd, short what, void *arg)
{
	step(arg);
}

struct store_ssm_secrets *
store_ssm_secrets_resolve(struct ssm_client *ssm, struct config *cfg,
                          store_ssm_secrets_done_fn *done, void *arg)
{
	struct store_ssm_secrets *r = xcalloc(1, sizeof(*r));
	struct timeval now = { 0, 0 };

	r->ssm = ssm;
	r->cfg = cfg;
	r->done = done;
	r->arg = arg;
	/* Even with nothing to resolve, done runs from the loop. */
	r->start = evtimer_new(ssm_client_base(ssm), on_start, r);
	if (r->start == NULL)
		abort(); /* out of memory, as xmalloc */
	evtimer_add(r->start, &now);
	return r;
}

void
store_ssm_secrets_cancel(struct store_ssm_secrets *r)
{
	if (r == NULL)
		return;
	ssm_call_cancel(r->call);
	event_free(r->start);
	free(r);
}
