"""Fault matrix, AWS rows: SSM persistence faults, the AWS credentials
endpoint, kill -9 while holding the fleet lock, and a skewed AWS clock.
Each test asserts what docs/fault-matrix.md promises (log line, state,
API answer, what SSM holds).

SSM is an optimisation: whatever it does, the token keeps flowing from the
issuer (GET answers 200 within a bounded time), the failure is logged,
and once SSM is healthy again the next refresh persists the value.
"""
import json
import re
import signal
import time
import urllib.parse

import pytest

import harness
from harness import wait_for

PARAM = "/tokend/faults/api"
LOCK = PARAM + ".lock"
SECRET_ENV = "TOKEND_TEST_CLIENT_SECRET"
ECS_AUTH = "tokend-test-ecs-auth"


def oauth_conf(issuer, extra="", request_timeout="1s"):
    return f"""
[daemon]
socket = {{socket}}
log_level = debug
startup_timeout = 1s

[aws]
region = us-east-1

[token "api"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = env:{SECRET_ENV}
ssm_parameter = {PARAM}
request_timeout = {request_timeout}
{extra}
"""


RDS_CONF = """
[daemon]
socket = {socket}
log_level = debug
startup_timeout = 1s

[aws]
region = us-east-1
credentials = ecs

[token "db"]
type = rds
host = db.example.internal
port = 5432
user = app
request_timeout = 1s
"""


def ssm_env(ssm, issuer):
    env = harness.aws_env(ssm=ssm, static=ssm)
    env[SECRET_ENV] = issuer.client_secret
    return env


def served(tokend, name="api", timeout=15, newer_than=0):
    def ok():
        try:
            status, doc = tokend.get_json(f"/v1/tokens/{name}")
        except OSError:
            return None
        if status != 200:
            return None
        assert doc["expires_at"] > time.time(), f"an expired token was served: {doc}"
        return doc if doc["version"] > newer_than else None
    return wait_for(ok, timeout=timeout,
                    message=f"{name} not served (version > {newer_than}):\n"
                            f"{tokend.log_text()[-3000:]}")


def stored(ssm):
    p = ssm.parameter(PARAM)
    if not p:
        return None
    current = p.get("value") if "value" in p else p["versions"][-1]["value"]
    try:
        return json.loads(current)
    except (TypeError, ValueError):
        return None


def log_has(tokend, pattern, timeout=10):
    return wait_for(lambda: re.search(pattern, tokend.log_text()), timeout=timeout,
                    message=f"no log line matching {pattern!r}:\n{tokend.log_text()[-3000:]}")


# --- SSM ------------------------------------------------------------------

# (row id, fault kwargs for ssm.fault, pattern expected in a warning)
SSM_FAULTS = [
    ("throttling-storm", dict(kind="throttle"), r"(?i:throttl).*fetching without SSM"),
    ("access-denied-on-put-only", dict(kind="access_denied", op="PutParameter"),
     r"AccessDenied"),
    ("5xx", dict(kind="status", status=500), r"500.*fetching without SSM"),
    ("latency-over-request-timeout", dict(kind="delay", ms=3000),
     r"(?i:timed out|timeout).*fetching without SSM"),
    ("malformed-json", dict(kind="invalid_json"), r"ssm .*fetching without SSM"),
]


@pytest.mark.parametrize("fault,pattern", [f[1:] for f in SSM_FAULTS],
                         ids=[f[0] for f in SSM_FAULTS])
def test_ssm_fault_token_still_flows_then_persists(ssm, issuer, tokend_factory, fault,
                                                   pattern):
    issuer.set_expires_in(8)
    ssm.fault(**fault)
    started = time.monotonic()
    tokend = tokend_factory(oauth_conf(issuer, "refresh_before = 5s\njitter = 0s\n"
                                       "min_remaining = 1s"),
                            env=ssm_env(ssm, issuer), wait_ready=False)
    first = served(tokend)
    # Never held hostage by SSM: the retries and timeouts are bounded.
    assert time.monotonic() - started < 12
    assert first["source"] == "issuer" and first["token"] in issuer.tokens()
    log_has(tokend, pattern)
    assert stored(ssm) is None, "a value was persisted through the fault"
    if fault.get("op") == "PutParameter":
        # Reads work: the failure is on the write only.
        assert ssm.counts("GetParameter"), ssm.counts()
    assert first["token"] not in tokend.log_text()

    ssm.clear_faults()
    second = served(tokend, timeout=15, newer_than=first["version"])
    rec = wait_for(lambda: (r := stored(ssm)) and r.get("token") == second["token"] and r,
                   timeout=10, message=f"not persisted after the fault:\n{tokend.log_text()}")
    assert rec["expires_at"] == second["expires_at"]


@pytest.mark.parametrize("garbage", ["{not json", "\u0000\u0001binary", '{"v":1,"token":5}'],
                         ids=["broken-json", "binary", "wrong-types"])
def test_foreign_writer_garbage_is_ignored_and_replaced(ssm, issuer, tokend_factory,
                                                        garbage):
    ssm.put_parameter(PARAM, garbage, type="SecureString")
    tokend = tokend_factory(oauth_conf(issuer), env=ssm_env(ssm, issuer), wait_ready=False)
    doc = served(tokend)
    assert doc["source"] == "issuer" and issuer.count() == 1
    log_has(tokend, rf"ssm {re.escape(PARAM)} version \d+ ignored: .*; it will be replaced")
    wait_for(lambda: (r := stored(ssm)) and r.get("token") == doc["token"], timeout=10,
             message="the garbage was not replaced")


def test_foreign_writer_rewrites_while_running(ssm, issuer, tokend_factory):
    issuer.set_expires_in(8)
    tokend = tokend_factory(oauth_conf(issuer, "refresh_before = 5s\njitter = 0s\n"
                                       "min_remaining = 1s"),
                            env=ssm_env(ssm, issuer), wait_ready=False)
    first = served(tokend)
    wait_for(lambda: (r := stored(ssm)) and r.get("token") == first["token"], timeout=10)
    ssm.corrupt(PARAM, "garbage from a foreign writer")
    # The running value is untouched; the next refresh ignores and replaces.
    status, doc = tokend.get_json("/v1/tokens/api")
    assert status == 200 and doc["token"] == first["token"]
    second = served(tokend, newer_than=first["version"])
    assert second["source"] == "issuer"
    log_has(tokend, r"ignored: .*; it will be replaced")
    wait_for(lambda: (r := stored(ssm)) and r.get("token") == second["token"], timeout=10,
             message="the garbage was not replaced")


# --- AWS credentials --------------------------------------------------------

def rds_env(ecs):
    return harness.aws_env(ecs=ecs)


def test_credentials_endpoint_down_at_start_then_up(ecs, tokend_factory):
    ecs.stop()
    tokend = tokend_factory(RDS_CONF, env=rds_env(ecs), wait_ready=False)

    def failing():
        try:
            status, doc = tokend.get_json("/v1/tokens/db")
        except OSError:
            return None
        return (status, doc) if status == 503 and "last error" in doc["message"] else None
    status, doc = wait_for(failing, timeout=15, message=tokend.log_text())
    assert doc["error"] == "unavailable" and "has no value yet" in doc["message"], doc
    assert re.search(r"(?i:connect)", doc["message"]), doc
    log_has(tokend, r"fetch failed \(attempt \d+\): .*no value to serve")
    ecs.restart()
    doc = served(tokend, "db", timeout=20)
    assert doc["source"] == "signer" and ecs.calls() >= 1
    log_has(tokend, r"AWS credentials from ecs:")


def test_malformed_credentials_json_then_recovers(ecs, tokend_factory):
    ecs.fault("malformed")
    tokend = tokend_factory(RDS_CONF, env=rds_env(ecs), wait_ready=False)

    def failing():
        try:
            status, doc = tokend.get_json("/v1/tokens/db")
        except OSError:
            return None
        return doc if status == 503 and "last error" in doc["message"] else None
    doc = wait_for(failing, timeout=15, message=tokend.log_text())
    assert doc["error"] == "unavailable", doc
    log_has(tokend, r"fetch failed .*no value to serve")
    ecs.clear_faults()
    served(tokend, "db", timeout=20)


def test_credentials_that_expire_early_bound_the_token(ecs, tokend_factory):
    """Credentials living 6 s: every token is bounded by its credentials'
    Expiration, and new credentials are fetched before the old expire."""
    ecs.set_lifetime(6)
    # min_remaining follows the token's 15 min (60 s), more than 6 s
    # credentials ever have: a margin that fits them.
    tokend = tokend_factory(RDS_CONF + "min_remaining = 1s\n", env=rds_env(ecs),
                            wait_ready=False)
    served(tokend, "db")
    seen = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, doc = tokend.get_json("/v1/tokens/db")
        now = time.time()
        assert status == 200, (status, doc)
        assert doc["expires_at"] > now
        seen.setdefault(doc["token"], (now, doc))
        time.sleep(0.2)
    issued = {c["akid"]: c for c in ecs.issued()}
    for token, (t, doc) in seen.items():
        query = urllib.parse.parse_qs(token.split("?", 1)[1])
        akid = query["X-Amz-Credential"][0].split("/")[0]
        cred = issued[akid]
        assert doc["expires_at"] <= cred["expiration"] / 1000, (doc, cred["expiration"])
        assert t < cred["expiration"] / 1000
    assert len(issued) >= 2, "credentials were not refreshed ahead of their expiry"
    assert len(seen) >= 2, "the token was not re-signed with the new credentials"


# --- process: kill -9 while holding the fleet lock -------------------------

def test_kill9_while_holding_the_lock_others_recover_within_lock_expiry(
        ssm, issuer, tokend_factory, tmp_path):
    # request_timeout 2 s: the lock lives 2 * 2 s + 5 s = 9 s.
    lock_span = 9
    env = ssm_env(ssm, issuer)
    conf = oauth_conf(issuer, request_timeout="2s")
    issuer.fault("delay", count=1, ms=1800)
    holder = tokend_factory(conf, workdir=tmp_path / "holder", env=env, wait_ready=False)
    holder.expected_exit = {-signal.SIGKILL}
    wait_for(lambda: ssm.parameter(LOCK), timeout=10, message="the lock was never taken")
    wait_for(lambda: issuer.token_requests() >= 1, timeout=5)
    holder.kill()
    killed = time.monotonic()
    assert stored(ssm) is None
    assert ssm.parameter(LOCK), "the lock vanished with its holder"

    restarted = tokend_factory(conf, workdir=tmp_path / "restarted", env=env, wait_ready=False)
    other = tokend_factory(conf, workdir=tmp_path / "other", env=env, wait_ready=False)
    docs = [served(t, timeout=lock_span + 10) for t in (restarted, other)]
    waited = time.monotonic() - killed
    assert waited < lock_span + 5, f"recovered {waited:.1f} s after the kill"
    assert docs[0]["token"] == docs[1]["token"], "the instances did not share one token"
    # The dead holder's request (answered after it died) plus one.
    assert issuer.token_requests() <= 3, issuer.token_requests()
    wait_for(lambda: not ssm.parameter(LOCK), timeout=10, message="the lock was left behind")
    logs = restarted.log_text() + other.log_text()
    assert re.search(r"lock of .* expired; deleting it|another instance is refreshing", logs)


# --- clock ----------------------------------------------------------------

@pytest.mark.parametrize("offset", [600, -600, 1200], ids=["+10min", "-10min", "+20min"])
def test_skewed_aws_clock_is_corrected_for_signing(ssm, issuer, tokend_factory, offset):
    ssm.set_clock_offset(offset)
    tokend = tokend_factory(oauth_conf(issuer), env=ssm_env(ssm, issuer), wait_ready=False)
    doc = served(tokend)
    log_has(tokend, r"clock skew: AWS time is [+-]\d+ ms from the local clock")
    skew_ms = int(re.search(r"clock skew: AWS time is ([+-]\d+) ms", tokend.log_text()).group(1))
    assert abs(skew_ms - offset * 1000) < 5000, skew_ms
    # Signed with the corrected time: SSM accepted the write, no fallback.
    wait_for(lambda: (r := stored(ssm)) and r.get("token") == doc["token"], timeout=10,
             message=f"not persisted:\n{tokend.log_text()}")
    assert "fetching without SSM" not in tokend.log_text()
    assert issuer.count() == 1
