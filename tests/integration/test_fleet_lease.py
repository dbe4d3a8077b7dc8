"""The fleet lease NAME.lock against faults: a holder that crashed (also
found by twelve instances at once with slow deletes), a lock claiming a
far future, a lost PutParameter answer, an instance whose clock
is off from SSM's, a poisoned record, SSM busy (throttling) that must
never send an instance to the issuer, and a holder stopped mid-refresh or
mid-write, which must leave no lease and lose no value.

Each planted lock is a real record in the SSM emulator; the instance under
test must serve its first token within the bound the protocol promises
(docs/architecture.md "Fleet coordination") and call the issuer once.
"""

import base64
import json
import re
import time

import harness

PARAM = "/tokend/lease/api"
LOCK = PARAM + ".lock"
# request_timeout 2s: a lease spans 2*2+5 = 9 s; a far-future "until" is
# stale 2*9 s after its LastModifiedDate (+2 s skew slack).
def start(ssm, issuer, tokend_factory, cold="60s"):
    config = harness.ssm_token_config(
        issuer, PARAM, token_extra=f"request_timeout = 2s\nssm_cold_wait = {cold}\n")
    return tokend_factory(config, env=harness.ssm_token_env(ssm, issuer), wait_ready=False)


def served(t):
    try:
        status, body = t.get_json("/v1/tokens/api")
    except OSError:  # not listening yet
        return None
    if status != 200 or not body:
        return None
    assert body["expires_at"] > time.time(), f"an expired token was served: {body}"
    return body


def metric(t, name, **labels):
    """The sample of name with exactly these labels (token="api" added)."""
    _, _, body = t.request("GET", "/metrics")
    want = {"token": "api", **labels}
    for line in body.decode().splitlines():
        m = re.match(r'^(\w+)\{(.*)\} (\S+)$', line)
        if m and m.group(1) == name and \
                dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))) == want:
            return float(m.group(3))
    raise AssertionError(f"no {name} {want}")


def first_token_after(t, timeout):
    began = time.monotonic()
    harness.wait_for(lambda: served(t), timeout=timeout, interval=0.1,
                     message=f"no token within {timeout} s")
    return time.monotonic() - began


def plant_lock(ssm, until_s, owner="dead-host/1", nonce="0123456789abcdef"):
    ssm.put_parameter(LOCK, json.dumps({"owner": owner, "nonce": nonce, "until": until_s}),
                      type="String")


def test_crashed_holder_lease_is_taken_over(ssm, issuer, tokend_factory):
    plant_lock(ssm, int(time.time()) + 4)
    t = start(ssm, issuer, tokend_factory)
    took = first_token_after(t, 30)
    # Not before the lease (+ skew slack) ran out, well before cold_wait.
    assert 4 <= took <= 20, took
    assert issuer.count() == 1
    log = t.log_text()
    assert "taking it over" in log and "dead-host/1" in log, log
    assert "fetching without SSM" not in log
    harness.wait_for(lambda: ssm.parameter(LOCK) is None, message="our lease stayed")
    assert metric(t, "tokend_ssm_lease_takeovers_total") == 1
    assert metric(t, "tokend_ssm_lock_waits_total") == 1


def test_slow_deletes_cost_at_most_one_extra_issuer_call(ssm, issuer, tokend_factory):
    """Twelve instances find the same crashed lease and every
    DeleteParameter takes 1.5 s: the stale lock is re-read before it is
    deleted and a release deletes only its own nonce, so a slow delete
    can remove at most one new holder's lock, once (docs/architecture.md
    "Why two holders coexist only briefly"); it used to cost up to 3."""
    plant_lock(ssm, int(time.time()) + 3)
    ssm.fault("delay", op="DeleteParameter", ms=1500)
    fleet = [start(ssm, issuer, tokend_factory) for _ in range(12)]
    for t in fleet:
        first_token_after(t, 45)
    assert issuer.count() <= 2, f"{issuer.count()} issuer calls for one crashed lease"
    assert ssm.counts("DeleteParameter").get("ok", 0) >= 1
    for t in fleet:
        assert "fetching without SSM" not in t.log_text()


def test_far_future_lock_is_stale_after_a_bounded_span(ssm, issuer, tokend_factory):
    plant_lock(ssm, int(time.time()) + 10 * 365 * 86400)
    t = start(ssm, issuer, tokend_factory)
    took = first_token_after(t, 45)
    # 2 * 9 s after the lock's LastModifiedDate, +2 s slack, + polling.
    assert 15 <= took <= 30, took
    assert issuer.count() == 1
    assert "taking it over" in t.log_text()
    assert "fetching without SSM" not in t.log_text()


def test_lost_put_answer_is_recognised_by_the_nonce(ssm, issuer, tokend_factory):
    # The lock's PutParameter is done but its answer is lost; the client's
    # resend finds it existing: the nonce says it is ours, no waiting.
    ssm.fault("drop_answer", count=1, op="PutParameter")
    t = start(ssm, issuer, tokend_factory)
    took = first_token_after(t, 30)
    assert took < 6, f"waited {took:.1f} s on our own lease"
    assert ssm.counts("PutParameter").get("dropped", 0) == 1
    assert issuer.count() == 1
    assert "taking it over" not in t.log_text()
    harness.wait_for(lambda: ssm.parameter(LOCK) is None, message="our lease stayed")


def test_skewed_instance_judges_on_the_ssm_clock(ssm, issuer, tokend_factory):
    # SSM's clock is 300 s ahead of this host's. The planted lease ran out
    # 100 s ago on SSM's clock but not on ours: judged on the measured skew,
    # it is stale now, long before the far-future bound (18 s).
    ssm.set_clock_offset(300)
    plant_lock(ssm, int(time.time()) + 200)
    t = start(ssm, issuer, tokend_factory)
    took = first_token_after(t, 30)
    assert took < 12, f"{took:.1f} s: the lease was judged on the local clock"
    assert issuer.count() == 1
    assert "taking it over" in t.log_text()


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_poisoned_record_is_not_adopted(ssm, issuer, tokend_factory):
    # The record claims an hour; the JWT inside expired a minute ago.
    now = int(time.time())
    jwt = ".".join([b64({"alg": "RS256", "typ": "JWT"}),
                    b64({"sub": "x", "iat": now - 3600, "exp": now - 60}), "c2ln"])
    record = {"v": 1, "token": jwt, "token_type": "Bearer", "expires_at": now + 3600,
              "issued_at": now - 10, "type": "oauth2", "writer": "poison/1"}
    ssm.put_parameter(PARAM, json.dumps(record), type="SecureString")
    t = start(ssm, issuer, tokend_factory)
    first_token_after(t, 30)
    assert served(t)["token"] != jwt
    assert issuer.count() == 1
    assert "ignored" in t.log_text()


def test_throttling_never_calls_the_issuer_early(ssm, issuer, tokend_factory):
    # Every GetParameter throttled for a while: the instance waits (busy is
    # backpressure), then SSM recovers and the one issuer call goes through
    # the lease; nothing falls back.
    ssm.fault("throttle", count=12, op="GetParameter")
    t = start(ssm, issuer, tokend_factory, cold="40s")
    first_token_after(t, 45)
    assert issuer.count() == 1
    log = t.log_text()
    assert "fetching without SSM" not in log, log
    assert ssm.counts("GetParameter").get("ThrottlingException", 0) >= 12
    harness.wait_for(lambda: ssm.parameter(PARAM) is not None, message="not persisted")
    assert metric(t, "tokend_ssm_busy_waits_total") >= 1
    for reason in ("unusable", "deadline"):
        assert metric(t, "tokend_ssm_fallbacks_total", reason=reason) == 0


def test_cold_wait_bounds_a_busy_ssm(ssm, issuer, tokend_factory):
    # SSM throttles every call: after ssm_cold_wait the issuer is called
    # (a deadline fallback), never earlier.
    ssm.fault("throttle", fraction=1.0)
    t = start(ssm, issuer, tokend_factory, cold="4s")
    took = first_token_after(t, 30)
    assert 3 <= took <= 15, took
    assert issuer.count() == 1
    assert "cold deadline" in t.log_text()
    assert metric(t, "tokend_ssm_fallbacks_total", reason="deadline") == 1
    assert metric(t, "tokend_ssm_fallbacks_total", reason="unusable") == 0


def start_patient(ssm, issuer, tokend_factory):
    """request_timeout 10s: a slow issuer keeps the lease held."""
    config = harness.ssm_token_config(
        issuer, PARAM, token_extra="request_timeout = 10s\nssm_cold_wait = 60s\n")
    return tokend_factory(config, env=harness.ssm_token_env(ssm, issuer), wait_ready=False)


def test_stop_mid_refresh_releases_the_lease(ssm, issuer, tokend_factory):
    # SIGTERM while the lease is held (the issuer is slow): the lease's
    # delete reaches SSM before tokend exits, or every instance started
    # next would wait the lease out.
    issuer.fault("delay", count=1, ms=8000)
    t = start_patient(ssm, issuer, tokend_factory)
    harness.wait_for(lambda: ssm.parameter(LOCK) is not None, timeout=20,
                     message="no lease taken")
    code = t.stop()
    log = t.log_text()
    assert code == 0, log[-2000:]
    assert ssm.parameter(LOCK) is None, "the stopped holder's lease stayed:\n" + log[-2000:]
    assert "releasing it" in log, log[-2000:]


def test_stop_mid_write_persists_the_value(ssm, issuer, tokend_factory):
    # Served first, persisted after: a stop right after the first token
    # is served still writes it (slow PutParameter) and releases the lease.
    ssm.fault("delay", op="PutParameter", ms=1500)
    t = start_patient(ssm, issuer, tokend_factory)
    tok = harness.wait_for(lambda: served(t), timeout=20, interval=0.02,
                           message="no token served")
    assert ssm.parameter(PARAM) is None, "written before served: nothing to test"
    code = t.stop()
    log = t.log_text()
    assert code == 0, log[-2000:]
    stored = ssm.parameter(PARAM)
    assert stored is not None, "the value served was not persisted:\n" + log[-2000:]
    assert json.loads(stored["versions"][-1]["value"])["token"] == tok["token"]
    assert ssm.parameter(LOCK) is None, "the lease stayed:\n" + log[-2000:]
    assert "still under way" not in log, log[-2000:]
