"""Persistence in SSM Parameter Store: tokend against the SSM emulator and
the OAuth2 issuer.

Both formats are read back through the emulator's control API and through
the real AWS SDK (@aws-sdk/client-ssm); a restarted tokend adopts the
persisted token without calling the issuer; a corrupted, expired or
wrong-type value is ignored and replaced; the value layout interoperates
with the seed's writers and readers (an opaque token's expiry in the
Description); ssm: secret references resolve;
a throttling storm or SSM being down never stops tokens from flowing.
"""

import json
import os
import subprocess
import time

import pytest

import harness

PARAM = "/tokend/test/api-token"
SECRET_ENV = "TOKEND_TEST_CLIENT_SECRET"


def conf(issuer, extra="", secret=f"env:{SECRET_ENV}", param=PARAM):
    persisted = f"ssm_parameter = {param}\n" if param else ""
    return f"""
[daemon]
socket = {{socket}}
startup_timeout = 30s

[aws]
region = us-east-1

[token "api"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = {secret}
{persisted}{extra}
"""


def env_for(ssm, issuer):
    env = harness.aws_env(ssm=ssm, static=ssm)
    env[SECRET_ENV] = issuer.client_secret
    return env


def served(t, name="api"):
    """The token as the API serves it, or None (never an expired one)."""
    status, body = t.get_json(f"/v1/tokens/{name}")
    if status != 200 or not body:
        return None
    assert body["expires_at"] > time.time(), f"an expired token was served: {body}"
    return body


def listed(t, name="api"):
    status, body = t.get_json("/v1/tokens")
    assert status == 200, body
    items = body.get("tokens", body) if isinstance(body, dict) else body
    return next(item for item in items if item["name"] == name)


def current_value(ssm, name=PARAM):
    param = ssm.parameter(name)
    return None if param is None else param["versions"][-1]


def wait_released(ssm, name=PARAM):
    """Served first, persisted after: the lease is deleted after the value
    is written."""
    harness.wait_for(lambda: ssm.parameter(name + ".lock") is None, timeout=10,
                     message="the lease was not released")


def sdk_get(ssm, name):
    """GetParameter WithDecryption through @aws-sdk/client-ssm."""
    script = f"""
import {{ SSMClient, GetParameterCommand }} from '@aws-sdk/client-ssm';
const c = new SSMClient({{ endpoint: '{ssm.endpoint}', region: 'us-east-1',
  credentials: {{ accessKeyId: '{ssm.access_key_id}',
                  secretAccessKey: '{ssm.secret_access_key}' }} }});
const out = await c.send(new GetParameterCommand({{ Name: '{name}', WithDecryption: true }}));
process.stdout.write(JSON.stringify(out.Parameter));
"""
    proc = subprocess.run([os.environ.get("NODE", "node"), "--input-type=module", "-e", script],
                          cwd=harness.TESTS_DIR, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_persists_json(ssm, issuer, tokend_factory):
    t = tokend_factory(conf(issuer), env=env_for(ssm, issuer))
    tok = harness.wait_for(lambda: served(t), message="no token served")
    stored = harness.wait_for(lambda: current_value(ssm), message="nothing persisted")
    record = json.loads(stored["value"])
    assert record["v"] == 1
    assert record["token"] == tok["token"]
    assert record["type"] == "oauth2"
    assert abs(record["expires_at"] - tok["expires_at"]) <= 1
    assert record["issued_at"] < record["expires_at"]
    assert "/" in record["writer"]
    assert record["mints"]["count"] == 1
    assert record["mints"]["month"] == time.strftime("%Y-%m", time.gmtime())
    assert ssm.parameter(PARAM)["type"] == "SecureString"
    # The same through the AWS SDK, decrypted.
    param = sdk_get(ssm, PARAM)
    assert param["Type"] == "SecureString"
    assert json.loads(param["Value"])["token"] == tok["token"]
    wait_released(ssm)
    assert issuer.count() == 1


def test_persists_value_format(ssm, issuer, tokend_factory):
    extra = "ssm_format = value\nssm_type = String\n"
    t = tokend_factory(conf(issuer, extra), env=env_for(ssm, issuer))
    tok = harness.wait_for(lambda: served(t), message="no token served")
    stored = harness.wait_for(lambda: current_value(ssm), message="nothing persisted")
    assert stored["value"] == tok["token"]
    assert stored["description"].startswith("expires:")
    assert abs(int(stored["description"][len("expires:"):]) / 1000 - tok["expires_at"]) <= 1
    assert ssm.parameter(PARAM)["type"] == "String"
    assert sdk_get(ssm, PARAM)["Value"] == tok["token"]


VALUE_LAYOUT = "ssm_format = value\nssm_type = String\n"


def test_value_layout_adopts_a_seed_writers_opaque_token(ssm, issuer, tokend_factory):
    """The seed's layout, written by another program: an opaque token (no
    JWT exp) and expires:EPOCH_MS in the Description, which only
    DescribeParameters returns. tokend adopts it with that expiry."""
    expires_ms = int(time.time() * 1000) + 600_000
    ssm.put_parameter(PARAM, "opaque-seed-writer-0123456789", type="String",
                      description=f"expires:{expires_ms}")
    t = tokend_factory(conf(issuer, VALUE_LAYOUT), env=env_for(ssm, issuer))
    tok = harness.wait_for(lambda: served(t), message="no token served")
    assert tok["token"] == "opaque-seed-writer-0123456789"
    assert abs(tok["expires_at"] - expires_ms / 1000) <= 1
    assert listed(t)["source"] == "ssm"
    assert issuer.count() == 0, "the seed writer's token was not adopted"
    assert ssm.counts("DescribeParameters").get("ok", 0) >= 1


def test_value_layout_refuses_an_opaque_token_whose_description_expired(
        ssm, issuer, tokend_factory):
    ssm.put_parameter(PARAM, "opaque-stale-0123456789", type="String",
                      description=f"expires:{int(time.time() * 1000) - 1000}")
    t = tokend_factory(conf(issuer, VALUE_LAYOUT), env=env_for(ssm, issuer))
    tok = harness.wait_for(lambda: served(t), message="no token served")
    assert tok["token"] != "opaque-stale-0123456789"
    assert issuer.count() == 1
    # Replaced in the seed's layout, for the seed's readers.
    stored = harness.wait_for(
        lambda: (v := current_value(ssm)) and v["value"] == tok["token"] and v,
        message="the stale value was not replaced")
    assert abs(int(stored["description"][len("expires:"):]) / 1000 - tok["expires_at"]) <= 1


def test_value_layout_round_trip_of_an_opaque_token(ssm, issuer, tokend_factory):
    """An opaque token from the issuer, written by one tokend in the value
    layout, is adopted by the next through its Description."""
    issuer.fault("answer", count=1, expires_in=600)
    first = tokend_factory(conf(issuer, VALUE_LAYOUT), env=env_for(ssm, issuer))
    tok = harness.wait_for(lambda: served(first), message="no token served")
    assert tok["token"].startswith("opaque-"), tok
    harness.wait_for(lambda: current_value(ssm), message="nothing persisted")
    first.expected_exit = {-9}
    first.kill()

    second = tokend_factory(conf(issuer, VALUE_LAYOUT), env=env_for(ssm, issuer))
    again = harness.wait_for(lambda: served(second), message="no token after restart")
    assert again["token"] == tok["token"]
    assert abs(again["expires_at"] - tok["expires_at"]) <= 1
    # The fault's answers are not counted as issued: count the requests.
    assert issuer.token_requests() == 1, "the opaque token was not adopted"


@pytest.mark.parametrize("fmt", ["json", "value"])
def test_restart_adopts_without_issuer_call(ssm, issuer, tokend_factory, fmt):
    extra = f"ssm_format = {fmt}\n"
    first = tokend_factory(conf(issuer, extra), env=env_for(ssm, issuer))
    tok = harness.wait_for(lambda: served(first), message="no token served")
    harness.wait_for(lambda: current_value(ssm), message="nothing persisted")
    first.expected_exit = {-9}  # killed on purpose: no clean shutdown
    first.kill()
    assert issuer.count() == 1

    second = tokend_factory(conf(issuer, extra), env=env_for(ssm, issuer))
    again = harness.wait_for(lambda: served(second), message="no token after restart")
    assert again["token"] == tok["token"]
    assert abs(again["expires_at"] - tok["expires_at"]) <= 1
    assert listed(second)["source"] == "ssm"
    assert issuer.count() == 1, "the restart called the issuer"


CORRUPTIONS = {
    "garbage": "\u0000}{corrupt",
    "wrong_type": json.dumps({"v": 1, "token": "x", "expires_at": int(time.time()) + 3600,
                              "issued_at": int(time.time()), "type": "rds",
                              "writer": "other/1"}),
    "expired": json.dumps({"v": 1, "token": "old", "expires_at": int(time.time()) - 10,
                           "issued_at": int(time.time()) - 3610, "type": "oauth2",
                           "writer": "other/1"}),
    "future_version": json.dumps({"v": 2, "token": "x"}),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_bad_value_is_ignored_and_replaced(ssm, issuer, tokend_factory, kind):
    ssm.put_parameter(PARAM, CORRUPTIONS[kind], type="SecureString")
    t = tokend_factory(conf(issuer), env=env_for(ssm, issuer))
    tok = harness.wait_for(lambda: served(t), message="no token served")
    assert tok["token"] not in ("x", "old")
    assert issuer.count() == 1
    replaced = harness.wait_for(
        lambda: (v := current_value(ssm)) and v["value"] != CORRUPTIONS[kind] and v,
        message="the bad value was not replaced")
    assert json.loads(replaced["value"])["token"] == tok["token"]
    warnings = [line for line in t.log_text().splitlines()
                if "ignored" in line and PARAM in line]
    assert len(warnings) == 1, warnings
    assert CORRUPTIONS[kind] not in t.log_text()


def test_corrupted_between_runs(ssm, issuer, tokend_factory):
    first = tokend_factory(conf(issuer), env=env_for(ssm, issuer))
    old = harness.wait_for(lambda: served(first), message="no token served")
    harness.wait_for(lambda: current_value(ssm), message="nothing persisted")
    # Only a corrupt value: the first instance stops after its persist is
    # done (a stop in the middle of it is test_fleet_lease.py's case).
    wait_released(ssm)
    first.stop()
    ssm.corrupt(PARAM)
    second = tokend_factory(conf(issuer), env=env_for(ssm, issuer))
    tok = harness.wait_for(lambda: served(second), message="no token served")
    assert tok["source"] == "issuer", tok
    assert tok["token"] != old["token"]
    assert issuer.count() == 2
    harness.wait_for(lambda: json.loads(current_value(ssm)["value"])["token"] == tok["token"],
                     message="the corrupted value was not replaced")


def test_secret_reference_from_json_key(ssm, issuer, tokend_factory):
    blob = {"AUTH0_CLIENT_SECRET": issuer.client_secret, "OTHER": "unused"}
    ssm.put_parameter("/app/dev/secrets", json.dumps(blob), type="SecureString")
    t = tokend_factory(conf(issuer, secret="ssm:/app/dev/secrets#AUTH0_CLIENT_SECRET",
                            param=None),
                       env=harness.aws_env(ssm=ssm, static=ssm))
    assert harness.wait_for(lambda: served(t), message="no token served")
    assert issuer.count() == 1
    assert issuer.client_secret not in t.log_text()


def test_secret_reference_whole_value(ssm, issuer, tokend_factory):
    ssm.put_parameter("/app/dev/client-secret", issuer.client_secret, type="SecureString")
    t = tokend_factory(conf(issuer, secret="ssm:/app/dev/client-secret", param=None),
                       env=harness.aws_env(ssm=ssm, static=ssm))
    assert harness.wait_for(lambda: served(t), message="no token served")


@pytest.mark.parametrize("ref,value,reason", [
    ("ssm:/app/dev/missing", None, "not found"),
    ("ssm:/app/dev/secrets#NOPE", '{"OTHER":"x"}', "NOPE"),
    ("ssm:/app/dev/secrets#KEY", "not json", "not a JSON object"),
])
def test_secret_reference_errors(ssm, issuer, tokend_factory, ref, value, reason):
    if value is not None:
        ssm.put_parameter("/app/dev/secrets", value, type="SecureString")
    t = tokend_factory(conf(issuer, secret=ref, param=None),
                       env=harness.aws_env(ssm=ssm, static=ssm), wait_ready=False)
    t.expected_exit = {1, 2}
    harness.wait_for(lambda: not t.running, timeout=30, message="tokend kept running")
    log = t.log_text()
    assert reason in log and "client_secret" in log, log
    assert issuer.count() == 0


def test_throttling_storm_loses_no_token(ssm, issuer, tokend_factory):
    # Long enough that one refresh falls inside the watch, short enough
    # for CI; SSM's retries must fit in the refresh window.
    issuer.set_expires_in(40)
    ssm.fault("throttle", fraction=0.8)
    t = tokend_factory(conf(issuer), env=env_for(ssm, issuer), timeout=40)
    deadline = time.monotonic() + 35
    gaps = 0
    while time.monotonic() < deadline:
        if served(t) is None:
            gaps += 1
        time.sleep(0.5)
    assert gaps == 0, f"{gaps} polls found no valid token"
    throttled = ssm.counts("GetParameter").get("ThrottlingException", 0) + \
        ssm.counts("PutParameter").get("ThrottlingException", 0)
    assert throttled > 0
    assert issuer.count() >= 2, "no refresh happened during the watch"


def test_ssm_down_tokens_keep_flowing(ssm, issuer, tokend_factory):
    env = env_for(ssm, issuer)
    ssm.stop()
    t = tokend_factory(conf(issuer), env=env, timeout=40)
    assert harness.wait_for(lambda: served(t), message="no token without SSM")
    log = t.log_text()
    assert "fetching without SSM" in log, log
    assert listed(t)["source"] == "issuer"
    assert issuer.count() == 1


def test_access_denied_falls_back(ssm, issuer, tokend_factory):
    ssm.fault("access_denied")
    t = tokend_factory(conf(issuer), env=env_for(ssm, issuer))
    assert harness.wait_for(lambda: served(t), message="no token when SSM denies")
    assert "AccessDeniedException" in t.log_text()
    assert ssm.parameter(PARAM) is None

