"""The SSM client under throttling: backpressure, not failure.

A throttled SSM delays a call but never fails it within its deadline; the
process's adaptive budget (a token bucket per quota family) shrinks when
SSM throttles and grows back, visible in /metrics; a throttling episode is
logged once when it starts and once when it ends, not per retry.
"""

import re
import time

import harness

SECRET_ENV = "TOKEND_TEST_CLIENT_SECRET"


def conf(issuer, n=1, extra=""):
    tokens = "".join(f"""
[token "t{i}"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = env:{SECRET_ENV}
ssm_parameter = /tokend/budget/t{i}
{extra}""" for i in range(n))
    return f"""
[daemon]
socket = {{socket}}
startup_timeout = 30s

[aws]
region = us-east-1
{tokens}"""


def env_for(ssm, issuer):
    env = harness.aws_env(ssm=ssm, static=ssm)
    env[SECRET_ENV] = issuer.client_secret
    return env


def served(t, name):
    status, body = t.get_json(f"/v1/tokens/{name}")
    return body if status == 200 and body and body["expires_at"] > time.time() else None


def metrics(t):
    status, _, body = t.request("GET", "/metrics")
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.startswith("tokend_ssm_"):
            continue
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out


def seed(ssm, issuer, tokend_factory, n):
    """One instance mints and stores n values, then dies without a word."""
    first = tokend_factory(conf(issuer, n), env=env_for(ssm, issuer))
    for i in range(n):
        harness.wait_for(lambda i=i: ssm.parameter(f"/tokend/budget/t{i}") and
                         not ssm.parameter(f"/tokend/budget/t{i}.lock"),
                         timeout=20, message=f"t{i} not stored:\n{first.log_text()}")
    first.expected_exit = {-9}
    first.kill()
    return issuer.count()


def test_throttled_read_delays_but_never_fails(ssm, issuer, tokend_factory):
    minted = seed(ssm, issuer, tokend_factory, 1)
    ssm.reset()
    ssm.fault("throttle", count=2, op="GetParameter")
    t = tokend_factory(conf(issuer), env=env_for(ssm, issuer))
    tok = harness.wait_for(lambda: served(t, "t0"), message="not served")
    # Adopted from SSM after the throttles: no issuer call.
    assert tok["source"] == "ssm", tok
    assert issuer.count() == minted
    m = metrics(t)
    assert m['tokend_ssm_throttles_total{op="GetParameter"}'] == 2
    assert m['tokend_ssm_calls_total{op="GetParameter",result="ok"}'] == 1
    assert m['tokend_ssm_calls_total{op="GetParameter",result="throttled"}'] == 0
    assert m['tokend_ssm_requests_total{op="GetParameter"}'] == 3
    assert m["tokend_ssm_retries_total"] == 2
    assert m["tokend_ssm_throttle_episodes_total"] == 1
    # The budget is on: SSM throttled.
    assert m['tokend_ssm_budget_rate{family="read"}'] > 0
    assert m['tokend_ssm_budget_rate{family="write"}'] == 0
    # Every series exists from the start.
    assert m['tokend_ssm_calls_total{op="DeleteParameter",result="exists"}'] == 0
    # One warning for the episode, one notice when it is over, with counts.
    harness.wait_for(lambda: "throttling is over" in t.log_text(), timeout=20,
                     message=f"no end of episode:\n{t.log_text()}")
    log = t.log_text()
    assert len(re.findall(r"SSM is throttling", log)) == 1, log
    assert re.search(r"throttling is over after [0-9.]+ s: 2 throttled answers, 2 retries",
                     log), log
    assert "retrying (attempt" not in log  # per-retry lines are debug only


def test_account_limits_delay_a_burst_without_fallback(ssm, issuer, tokend_factory):
    # The store spreads each token's first read over 0-2 s: 16 reads in
    # 2 s still exceed Get 4/s with a burst of 4 (12 in 2 s).
    n = 16
    minted = seed(ssm, issuer, tokend_factory, n)
    ssm.reset()
    ssm.set_limits(get_tps=4, get_burst=4)
    started = time.monotonic()
    t = tokend_factory(conf(issuer, n), env=env_for(ssm, issuer))
    for i in range(n):
        tok = harness.wait_for(lambda i=i: served(t, f"t{i}"), message=f"t{i} not served")
        assert tok["source"] == "ssm", tok
    elapsed = time.monotonic() - started
    assert issuer.count() == minted, t.log_text()
    m = metrics(t)
    throttled = ssm.limits()
    assert m['tokend_ssm_throttles_total{op="GetParameter"}'] >= 1, (m, throttled)
    assert m['tokend_ssm_calls_total{op="GetParameter",result="ok"}'] == n
    # A read whose deadline came while throttled ends busy and is read
    # again (on a loaded machine the floor of 0.5/s makes that happen):
    # backpressure, never a fallback to the issuer.
    fallbacks = sum(v for k, v in m.items() if k.startswith("tokend_ssm_fallbacks_total"))
    assert fallbacks == 0, m
    # The budget shrank below the rate the burst was sent at, and the
    # requests that found it short waited on a timer.
    rate = m['tokend_ssm_budget_rate{family="read"}']
    assert 0 < rate < 2 * n, m
    thr = m['tokend_ssm_throttles_total{op="GetParameter"}']
    waits = m['tokend_ssm_budget_waits_total{family="read"}']
    print(f"\n{n} reads against Get 4/s: all served in {elapsed:.1f} s, "
          f"{thr:.0f} throttled answers, {waits:.0f} budget waits, "
          f"read budget {rate:.2f}/s; emulator: {throttled}")


def test_budget_shrinks_and_grows_under_sustained_load(ssm, issuer, tokend_factory):
    # Six tokens of 6 s keep reading SSM (about 2 reads a second) against
    # a Get quota of 2/s: the budget must go down on throttles and back up
    # between them.
    issuer.set_expires_in(6)
    ssm.set_limits(get_tps=2, get_burst=2)
    t = tokend_factory(conf(issuer, 6, "refresh_before = 3s\njitter = 1s\n"),
                       env=env_for(ssm, issuer), timeout=40)
    seen, shrank, grew = [], None, None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and grew is None:
        rate = metrics(t)['tokend_ssm_budget_rate{family="read"}']
        if rate > 0 and (not seen or rate != seen[-1]):
            seen.append(rate)
            if len(seen) >= 2 and seen[-1] < seen[-2] and shrank is None:
                shrank = len(seen) - 1
            if shrank is not None and seen[-1] > seen[-2]:
                grew = len(seen) - 1
        time.sleep(0.1)
    assert shrank is not None and grew is not None, f"budget rates seen: {seen}"
    m = metrics(t)
    thr = m['tokend_ssm_throttles_total{op="GetParameter"}']
    waits = m['tokend_ssm_budget_waits_total{family="read"}']
    episodes = m["tokend_ssm_throttle_episodes_total"]
    print(f"\nread budget rates seen: {[round(r, 2) for r in seen]}; "
          f"throttles {thr:.0f}, episodes {episodes:.0f}, budget waits {waits:.0f}")
    # One warning per episode, not one per throttled answer.
    assert len(re.findall(r"SSM is throttling", t.log_text())) == episodes
    assert episodes < thr
