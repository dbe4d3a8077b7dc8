/* store_ssm_write.c - what store_ssm does after a value is handed out:
 * the holder's write and lease release, and the write-back of a value
 * fetched without the lease. Serve first, persist after: the value
 * reaches the token table at once and these calls follow in the
 * background, one at a time (s->bg_call); the next fetch's first read
 * waits for them (store_ssm_bg_busy), so that it reads what was written. */
#include <stdio.h>
#include <string.h>

#include "secret.h"
#include "store_ssm_int.h"
#include "timeutil.h"
#include "xalloc.h"

/* The value to persist, or NULL with err when it cannot be. */
static char *
encode_result(struct store *s, const struct token_result *r, char *desc, size_t size,
              struct err *err)
{
	struct store_ssm_record rec;
	char *value;

	memset(&rec, 0, sizeof(rec));
	if (s->def->ssm_format == SSM_FORMAT_VALUE) {
		value = xstrdup(r->value->data);
		store_ssm_record_description(r->expires_at_ms, desc, size);
	} else {
		rec.token = r->value->data;
		snprintf(rec.token_type, sizeof(rec.token_type), "%s", r->token_type);
		rec.issued_at_ms = r->issued_at_ms;
		rec.expires_at_ms = r->expires_at_ms;
		snprintf(rec.type, sizeof(rec.type), "%s",
		         store_ssm_record_type_name(s->def->type));
		snprintf(rec.writer, sizeof(rec.writer), "%s", s->owner);
		rec.mints = s->stats.mints;
		value = store_ssm_record_encode_json(&rec);
		snprintf(desc, size, "tokend token %s", s->def->name);
	}
	if (store_ssm_record_check_size(s->def->ssm_parameter, s->def->ssm_tier,
	                                strlen(value), err) == -1) {
		secret_free_str(value);
		return NULL;
	}
	return value;
}

/* PutParameter of s->wb in the background slot. */
static struct ssm_call *
put_value(struct store *s, ssm_done_fn *cb, enum ssm_priority prio, struct err *e)
{
	char desc[96];
	char *value = encode_result(s, &s->wb, desc, sizeof(desc), e);
	struct ssm_put put = {
		.name = s->def->ssm_parameter,
		.value = value,
		.type = s->def->ssm_type,
		.key_id = strcmp(s->def->ssm_type, "SecureString") == 0
		                  ? s->def->ssm_kms_key_id
		                  : NULL,
		.overwrite = true,
		.tier = s->def->ssm_tier,
		.description = desc,
	};
	struct ssm_call *call;

	if (value == NULL)
		return NULL;
	call = store_ssm_sent_until(s, ssm_put_parameter(s->ssm, &put, cb, s), prio,
	                            s->bg_end_mono);
	secret_free_str(value);
	return call;
}

bool
store_ssm_bg_busy(const struct store *s)
{
	return s->bg_call != NULL;
}

/* The background work is over: a first read that waited for it goes. */
void
store_ssm_bg_done(struct store *s)
{
	s->bg_call = NULL;
	s->bg_release = s->bg_write_back = false;
	s->bg_nonce[0] = '\0';
	secret_unref(s->wb.value);
	memset(&s->wb, 0, sizeof(s->wb));
	if (s->read_deferred) {
		s->read_deferred = false;
		store_ssm_read(s);
	}
}

void
store_ssm_bg_cancel(struct store *s)
{
	ssm_call_cancel(s->bg_call);
	s->bg_call = NULL;
	if (s->bg_nonce[0] != '\0')
		store_ssm_lease_drop(s); /* handed over, not yet released */
	s->read_deferred = false;
	store_ssm_bg_done(s);
}

static void
wrote(struct store *s, const struct ssm_result *res)
{
	s->stats.writes++;
	if (s->wb.expires_at_ms > s->stored_exp_ms)
		s->stored_exp_ms = s->wb.expires_at_ms;
	/* Whoever wrote the stored value leads the fleet's next refresh. */
	snprintf(s->stored_writer, sizeof(s->stored_writer), "%s", s->owner);
	slog_debug(s, "persisted to ssm %s version %lld", s->def->ssm_parameter,
	           (long long)res->version);
}

/* The background write's answer, the holder's or a write-back's; the
 * holder's lease is released after it. */
static void
on_written(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;

	s->bg_call = NULL;
	if (res->err.code == ERR_OK) {
		wrote(s, res);
		if (s->bg_write_back) {
			s->stats.write_backs++;
			slog_info(s,
			          "wrote the value fetched without the lease back to ssm "
			          "%s",
			          s->def->ssm_parameter);
		}
	} else {
		s->stats.write_failures++;
		slog_warn(s, "%s; %s", res->err.msg,
		          s->bg_write_back
		                  ? "the value fetched without the lease is not shared"
		                  : "the value is served but not persisted");
	}
	if (s->bg_release)
		store_ssm_lease_release_bg(s);
	else
		store_ssm_bg_done(s);
}

/* Hands s->result out now; then, for a value the issuer gave the lease
 * holder (or coordinate = none), writes it and releases the lease. The
 * holder's calls keep their priority and are retried until its lease
 * ends. */
void
store_ssm_persist(struct store *s, bool write)
{
	struct token_result out = s->result;
	struct err e = { 0 };

	memset(&s->result, 0, sizeof(s->result));
	store_ssm_bg_cancel(s); /* a write-back still under way is superseded */
	s->bg_release = s->locked;
	s->bg_end_mono = s->locked ? s->lease_end_mono
	                           : timeutil_mono_ms() + SSM_DEFAULT_DEADLINE_MS;
	store_ssm_lease_hand_over(s); /* the lease now belongs to the background */
	if (write && out.err.code == ERR_OK) {
		s->wb = out;
		s->wb.value = secret_ref(out.value);
		s->bg_call = put_value(s, on_written, SSM_PRIO_HOLDER, &e);
		if (s->bg_call == NULL) {
			struct ssm_result failed = { .err = e };

			on_written(&failed, s);
		}
	} else if (s->bg_release) {
		store_ssm_lease_release_bg(s);
	}
	store_ssm_deliver(s, &out);
}

/* The value fetched without the lease (SSM busy) is handed out at once and
 * written back after, with the client's default deadline, when it outlives
 * the stored one. */
void
store_ssm_write_back(struct store *s)
{
	struct token_result out = s->result;
	struct err e = { 0 };

	memset(&s->result, 0, sizeof(s->result));
	store_ssm_bg_cancel(s);
	s->bg_end_mono = timeutil_mono_ms() + SSM_DEFAULT_DEADLINE_MS;
	s->wb = out;
	s->wb.value = secret_ref(out.value);
	s->bg_write_back = true;
	s->bg_call = put_value(s, on_written, SSM_PRIO_NORMAL, &e);
	if (s->bg_call == NULL) {
		slog_warn(s, "%s; the value is served but not persisted", e.msg);
		store_ssm_bg_done(s);
	}
	store_ssm_deliver(s, &out);
}
