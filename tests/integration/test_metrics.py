"""GET /metrics: the Prometheus text format, checked for shape and values.

tokend runs an oauth2 token (from the local issuer) and an rds token
(signed with static keys from the environment). The text is parsed here
(every family has HELP and TYPE before its samples, no series repeats) and
the values are compared with what the API and the issuer say; promtool,
when installed, lints the same text.
"""
import os
import re
import shutil
import subprocess

import pytest

import harness
from harness import wait_for

CONF = """
[daemon]
socket = {{socket}}
admin_uids = {uid}

[aws]
region = us-east-1

[token "api"]
type = oauth2
token_url = {token_url}
client_id = {client_id}
client_secret = {client_secret}
audience = https://api.test.local/

[token "db"]
type = rds
host = db.example.internal
port = 5432
user = app
"""

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse(text):
    """{(name, frozenset(labels.items())): value}, asserting the format's
    rules on the way: HELP then TYPE before a family's samples, a family
    in one piece, no repeated series, counters named *_total."""
    series, families, current = {}, {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in families, f"family {name} appears twice"
            families[name], current = None, name
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name == current and families[name] is None, f"TYPE without HELP: {line}"
            families[name] = kind
            if kind == "counter":
                assert name.endswith("_total"), name
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name = m.group(1)
        assert name == current and families[name], f"{name} outside its family"
        assert name.startswith("tokend_"), name
        labels = {}
        for lm in LABEL.finditer(m.group(3) or ""):
            assert lm.group(1) not in labels
            labels[lm.group(1)] = lm.group(2)
        key = (name, frozenset(labels.items()))
        assert key not in series, f"series repeated: {line}"
        series[key] = float(m.group(4))
    return series, families


def scrape(tokend):
    status, headers, body = tokend.request("GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return body.decode()


def value(series, name, **labels):
    return series.get((name, frozenset(labels.items())))


@pytest.fixture
def tokend(issuer, tokend_factory):
    conf = CONF.format(uid=os.getuid(), token_url=issuer.token_url,
                       client_id=issuer.client_id, client_secret=issuer.client_secret)
    return tokend_factory(conf, env=harness.aws_env(
        static=("AKIDTOKENDMETRICS001", "tokend/metrics+secret=0001")))


def test_metrics_values_follow_the_tokens(tokend, issuer, tokend_bin):
    series, families = parse(scrape(tokend))
    version = subprocess.run([tokend_bin, "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    assert value(series, "tokend_build_info", version=version) == 1
    assert value(series, "tokend_ready") == 1
    assert value(series, "tokend_reloads_total", result="ok") == 0
    assert value(series, "tokend_reloads_total", result="failed") == 0

    for name, source in (("api", "issuer"), ("db", "signer")):
        status, doc = tokend.get_json(f"/v1/tokens/{name}")
        assert status == 200, doc
        assert value(series, "tokend_token_version", token=name) == doc["version"] == 1
        assert value(series, "tokend_token_refreshes_total", token=name, source=source) == 1
        states = {s: value(series, "tokend_token_state", token=name, state=s)
                  for s in ("empty", "valid", "refreshing", "retrying", "expired")}
        assert states == {"empty": 0, "valid": 1, "refreshing": 0, "retrying": 0,
                          "expired": 0}
        # Absolute, Unix time: the API's expires_at.
        expiry = value(series, "tokend_token_expiry_timestamp_seconds", token=name)
        assert abs(expiry - doc["expires_at"]) <= 1, (expiry, doc)
    assert value(series, "tokend_issuer_calls_total", token="api", result="ok") == 1
    assert value(series, "tokend_issuer_calls_total", token="api", result="failed") == 0
    assert value(series, "tokend_issuer_calls_total", token="db", result="ok") is None
    # Every failure reason is a series from the start, at 0.
    failures = {dict(k[1])["reason"]: v for k, v in series.items()
                if k[0] == "tokend_token_failures_total" and dict(k[1])["token"] == "api"}
    assert len(failures) >= 10 and set(failures.values()) == {0}, failures
    assert {"http", "network", "timeout", "auth", "throttled"} <= set(failures)
    assert value(series, "tokend_clock_skew_seconds") == 0
    # Static keys never expire: no expiry is made up for them.
    assert "tokend_aws_credentials_expiry_timestamp_seconds" not in families
    assert "tokend_ssm_calls_total" not in families  # no SSM configured
    assert families["tokend_token_state"] == "gauge"

    # A 404 we cause is counted, and nothing else moves but the 200s.
    before = value(series, "tokend_api_requests_total", code="404")
    assert tokend.request("GET", "/v1/tokens/no-such-token")[0] == 404
    after, _ = parse(scrape(tokend))
    assert value(after, "tokend_api_requests_total", code="404") == before + 1
    assert value(after, "tokend_api_requests_total", code="503") == 0


def test_metrics_count_a_failed_issuer_call(tokend, issuer):
    issuer.fault("status", count=1, status=500)
    status, _, body = tokend.request("POST", "/v1/tokens/api/refresh")
    assert status == 202, body

    def refreshed():
        series, _ = parse(scrape(tokend))
        ok = value(series, "tokend_issuer_calls_total", token="api", result="ok")
        return series if ok == 2 else None
    series = wait_for(refreshed, timeout=15, message="no second value after the 500")
    failures = {dict(k[1])["reason"]: v for k, v in series.items()
                if k[0] == "tokend_token_failures_total" and dict(k[1])["token"] == "api"
                and v}
    assert failures == {"http": 1}
    assert value(series, "tokend_issuer_calls_total", token="api", result="failed") == 1
    assert value(series, "tokend_token_refreshes_total", token="api", source="issuer") == 2
    assert value(series, "tokend_token_version", token="api") == 2
    assert value(series, "tokend_api_requests_total", code="202") == 1
    # The issuer saw the same: three requests, two tokens minted.
    assert issuer.token_requests() == 3 and issuer.count() == 2


def test_promtool_accepts_the_metrics(tokend):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    text = scrape(tokend)
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, f"{out.stdout}{out.stderr}\n{text}"
    assert out.stdout.strip() == "" and out.stderr.strip() == "", out.stdout + out.stderr


def test_ready_follows_readyz_after_startup_timeout(issuer, tokend_factory):
    """READY=1 goes out at startup_timeout with the token missing; the
    gauge says what /readyz says (503), then 1 once the token is valid."""
    issuer.fault("status", status=500)  # every call fails until cleared
    conf = CONF.format(uid=os.getuid(), token_url=issuer.token_url,
                       client_id=issuer.client_id, client_secret=issuer.client_secret)
    conf = conf.replace("[aws]", "startup_timeout = 1s\n\n[aws]")
    tokend = tokend_factory(conf, env=harness.aws_env(
        static=("AKIDTOKENDMETRICS001", "tokend/metrics+secret=0001")), wait_ready=False)
    wait_for(lambda: "startup_timeout passed" in tokend.log_text(), timeout=30,
             message="no startup_timeout")
    series, _ = parse(scrape(tokend))
    assert tokend.request("GET", "/readyz")[0] == 503
    assert value(series, "tokend_ready") == 0
    assert value(series, "tokend_token_expiry_timestamp_seconds", token="api") == 0
    assert value(series, "tokend_token_failures_total", token="api", reason="http") >= 1
    issuer.clear_faults()
    wait_for(lambda: tokend.request("GET", "/readyz")[0] == 200, timeout=60,
             message="never ready")
    series, _ = parse(scrape(tokend))
    assert value(series, "tokend_ready") == 1


SSM_CONF = """
[daemon]
socket = {{socket}}

[aws]
region = us-east-1

[token "api"]
type = oauth2
token_url = {token_url}
client_id = {client_id}
client_secret = {client_secret}
ssm_parameter = /tokend/test/metrics
"""


def test_ssm_calls_outcomes_and_events(issuer, ssm, tokend_factory):
    """A first start finds no parameter: ParameterNotFound is an expected
    answer (result not_found), not an error; calls (by how they ended) and
    requests (events) are separate families, each summing to something."""
    conf = SSM_CONF.format(token_url=issuer.token_url, client_id=issuer.client_id,
                           client_secret=issuer.client_secret)
    tokend = tokend_factory(conf, env=harness.aws_env(ssm=ssm, static=ssm))

    def stored():
        series, _ = parse(scrape(tokend))
        ok = value(series, "tokend_ssm_store_writes_total", token="api", result="ok")
        return series if ok else None
    series = wait_for(stored, timeout=30, message="the value was never written")
    text = scrape(tokend)
    series, families = parse(text)
    calls = {(dict(k[1])["op"], dict(k[1])["result"]): v for k, v in series.items()
             if k[0] == "tokend_ssm_calls_total"}
    ops = {"GetParameter", "PutParameter", "DeleteParameter", "DescribeParameters"}
    results = {"ok", "not_found", "exists", "throttled", "error"}
    assert set(calls) == {(o, r) for o in ops for r in results}
    assert calls[("GetParameter", "not_found")] >= 1
    assert calls[("PutParameter", "ok")] >= 1
    assert sum(v for (o, r), v in calls.items() if r == "error") == 0, calls
    for op in ops:
        sent = value(series, "tokend_ssm_requests_total", op=op)
        finished = sum(v for (o, _), v in calls.items() if o == op)
        # Calls still under way have sent requests but not finished.
        assert sent >= finished
        assert value(series, "tokend_ssm_throttles_total", op=op) == 0
    assert value(series, "tokend_ssm_retries_total") == 0
    for name in ("tokend_ssm_values_adopted_total", "tokend_ssm_lock_waits_total",
                 "tokend_ssm_records_ignored_total", "tokend_ssm_lease_takeovers_total",
                 "tokend_ssm_write_backs_total", "tokend_ssm_busy_waits_total"):
        assert families[name] == "counter"
        assert value(series, name, token="api") == 0, name
    assert families["tokend_ssm_fallbacks_total"] == "counter"
    for reason in ("unusable", "deadline"):
        assert value(series, "tokend_ssm_fallbacks_total", token="api", reason=reason) == 0
    assert value(series, "tokend_ssm_store_writes_total", token="api",
                 result="failed") == 0
    assert value(series, "tokend_fleet_issuer_calls_this_month", token="api") >= 1
    promtool = shutil.which("promtool")
    if promtool is not None:
        out = subprocess.run([promtool, "check", "metrics"], input=text,
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and not (out.stdout + out.stderr).strip(), \
            out.stdout + out.stderr
