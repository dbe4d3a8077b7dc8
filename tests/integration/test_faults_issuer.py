"""Fault matrix, issuer rows: one test per fault, each asserting what
docs/fault-matrix.md promises (log line, /v1/tokens state and last_error,
the API answer, metrics when tokend exports them).

Cold rows: the fault is there from the start, so there is no value to
serve: GET answers 503 "unavailable" naming the cause, the summary says
"retrying" with the cause in last_error, the log says "fetch failed ...
no value to serve". Once the fault is cleared the token arrives without a
restart. Warm rows: a value exists when the fault starts; it keeps being
served (200, same version) until min_remaining, then 503 "expired".
"""
import re
import time

import pytest

from harness import wait_for

MIB = 1024 * 1024


def config(issuer, secret=None, extra=""):
    return f"""
[daemon]
socket = {{socket}}
log_level = debug
startup_timeout = 1s

[token "api"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = {secret or issuer.client_secret}
request_timeout = 1s
{extra}
"""


def summary(tokend):
    status, doc = tokend.get_json("/v1/tokens")
    assert status == 200, doc
    items = doc if isinstance(doc, list) else doc.get("tokens", [])
    return next(t for t in items if t["name"] == "api")


def socket_up(tokend):
    try:
        return summary(tokend)
    except OSError:
        return None


def metric(tokend, name, **labels):
    """The sum of a family's samples that carry all of labels (other labels,
    such as a failure's reason, are summed over); 0 when none does, None
    when tokend exports no such family at all."""
    status, _, body = tokend.request("GET", "/metrics")
    text = body.decode() if status == 200 else ""
    if not re.search(rf"^{name}[{{ ]", text, re.M):
        return None
    want = {f'{k}="{v}"' for k, v in labels.items()}
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{([^}}]*)\}} (\S+)$", line)
        if m and want <= set(m.group(1).split(",")):
            total += float(m.group(2))
    return total


def wait_failure(tokend, pattern, timeout=15):
    """Waits until the token is between retries with last_error matching
    pattern; returns the summary. A retry can already be in flight when the
    error first shows (state "refreshing"), so the state is part of the wait,
    not an assertion on the first match."""
    def failed():
        s = socket_up(tokend)
        if not s or s.get("state") != "retrying":
            return None
        return s if re.search(pattern, s.get("last_error") or "") else None
    return wait_for(failed, timeout=timeout,
                    message=f"not retrying with a last_error matching {pattern!r}:\n{tokend.log_text()[-3000:]}")


def wait_token(tokend, timeout=15, newer_than=0):
    def served():
        status, doc = tokend.get_json("/v1/tokens/api")
        return doc if status == 200 and doc["version"] > newer_than else None
    return wait_for(served, timeout=timeout,
                    message=f"no token (version > {newer_than}):\n{tokend.log_text()[-3000:]}")


def assert_cold_failure(tokend, pattern):
    s = wait_failure(tokend, pattern)
    assert s["state"] == "retrying" and s["version"] == 0, s
    status, doc = tokend.get_json("/v1/tokens/api")
    assert status == 503, doc
    assert doc["error"] == "unavailable", doc
    assert re.search(pattern, doc["message"]), doc
    assert "has no value yet" in doc["message"], doc
    assert re.search(r"fetch failed \(attempt \d+\): .*" + pattern + r".*no value to serve",
                     tokend.log_text()), tokend.log_text()[-3000:]
    failures = metric(tokend, "tokend_token_failures_total", token="api")
    if failures is not None:
        assert failures >= 1
    readyz = tokend.request("GET", "/readyz")[0]
    assert readyz == 503


def assert_recovers(tokend, issuer):
    issuer.clear_faults()
    doc = wait_token(tokend, timeout=20)
    assert doc["version"] == 1 and doc["token"] in issuer.tokens()
    s = summary(tokend)
    assert s["state"] == "valid" and "last_error" not in s, s
    assert doc["token"] not in tokend.log_text()


# (row id, fault kwargs for issuer.fault, pattern expected in last_error)
COLD = [
    ("timeout", dict(kind="delay", ms=3000), r"(?i:timeout|timed out)"),
    ("500", dict(kind="status", status=500), r"issuer answered 500 server_error"),
    ("502", dict(kind="status", status=502), r"issuer answered 502"),
    ("503", dict(kind="status", status=503), r"issuer answered 503"),
    ("reset", dict(kind="reset"), r"(?i:empty reply|reset|recv|closed)"),
    ("invalid-json", dict(kind="invalid_json"),
     r"answered 200 with a body that is not a JSON object"),
    ("missing-access-token", dict(kind="missing_token"), r"has no access_token string"),
    ("expires-in-absent", dict(kind="answer", omit=["expires_in"]),
     r"answer has no expires_in"),
    ("expires-in-zero", dict(kind="answer", expires_in=0), r"expires_in 0 is not positive"),
    ("expires-in-negative", dict(kind="answer", expires_in=-60),
     r"expires_in -60 is not positive"),
    ("expires-in-huge", dict(kind="answer", expires_in=10**12),
     r"expires_in 1000000000000 is over a year"),
    ("expires-in-float-1e30", dict(kind="answer", expires_in=1e30),
     r"expires_in is not an integer"),
    ("expires-in-string-garbage", dict(kind="answer", expires_in="soon"),
     r"expires_in is not an integer"),
    ("token-not-printable", dict(kind="answer", access_token="abc\u0001def"),
     r"not printable ASCII at 3"),
    ("token-with-space", dict(kind="answer", access_token="abc def"),
     r"not printable ASCII at 3"),
    ("token-non-ascii", dict(kind="answer", access_token="abc\u00e9"),
     r"not printable ASCII at 3"),
    ("token-empty", dict(kind="answer", access_token=""), r"access_token is 0 bytes long"),
    ("body-10MiB", dict(kind="huge_body", bytes=10 * MIB), r"over 1048576 bytes"),
]


@pytest.mark.parametrize("fault,pattern", [c[1:] for c in COLD], ids=[c[0] for c in COLD])
def test_cold_fault_is_503_with_reason_then_recovers(issuer, tokend_factory, fault, pattern):
    issuer.fault(**fault)
    tokend = tokend_factory(config(issuer), wait_ready=False)
    assert_cold_failure(tokend, pattern)
    assert issuer.count() == 0
    assert_recovers(tokend, issuer)


def test_connection_refused_then_issuer_comes_back(issuer, tokend_factory):
    issuer.stop()
    tokend = tokend_factory(config(issuer), wait_ready=False)
    assert_cold_failure(tokend, r"(?i:connect)")
    issuer.restart()
    assert_recovers(tokend, issuer)


def test_wrong_secret_is_401_logged_without_the_secret(issuer, tokend_factory):
    wrong = "not-the-secret-5f3c"
    tokend = tokend_factory(config(issuer, secret=wrong), wait_ready=False)
    assert_cold_failure(tokend, r"issuer answered 401 access_denied")
    assert wrong not in tokend.log_text()
    status, doc = tokend.get_json("/v1/tokens/api")
    assert wrong not in doc["message"]
    assert issuer.count() == 0


def test_429_with_retry_after_is_honoured(issuer, tokend_factory):
    issuer.fault("rate_limit", count=1, retry_after=3)
    tokend = tokend_factory(config(issuer), wait_ready=False)
    assert_cold_failure(tokend, r"issuer answered 429 too_many_requests")
    assert re.search(r"retrying in (\d+) ms", tokend.log_text())
    delay = int(re.search(r"429.*retrying in (\d+) ms", tokend.log_text()).group(1))
    assert delay >= 3000, delay
    doc = wait_token(tokend, timeout=15)
    reqs = issuer.requests()
    assert [r["status"] for r in reqs[:2]] == [429, 200], reqs
    gap_ms = reqs[1]["t"] - reqs[0]["t"]
    assert gap_ms >= 2900, f"retried {gap_ms} ms after a 429 with Retry-After: 3"
    assert doc["version"] == 1


def test_429_without_retry_after_backs_off_and_recovers(issuer, tokend_factory):
    issuer.fault("rate_limit", count=2)
    tokend = tokend_factory(config(issuer), wait_ready=False)
    assert_cold_failure(tokend, r"issuer answered 429")
    wait_token(tokend, timeout=15)
    reqs = issuer.requests()
    assert [r["status"] for r in reqs[:3]] == [429, 429, 200], reqs
    # No hammering: x-ratelimit-reset (at least 1 s ahead) floors each wait.
    gaps = [b["t"] - a["t"] for a, b in zip(reqs, reqs[1:3])]
    assert all(g >= 900 for g in gaps), gaps


def warm(issuer, tokend_factory, lifetime=8):
    """A tokend holding version 1 of a token living `lifetime` s, due for
    refresh after ~2 s and served until 1 s before its expiry."""
    issuer.set_expires_in(lifetime)
    tokend = tokend_factory(config(issuer, extra=f"refresh_before = {lifetime - 2}s\n"
                                   "jitter = 0s\nmin_remaining = 1s"))
    first = wait_token(tokend)
    assert first["version"] == 1
    return tokend, first


WARM = [
    ("revoked-client", lambda i: i.control("client", client_secret="rotated-away"),
     r"issuer answered 401 access_denied"),
    ("503", lambda i: i.fault("status", status=503), r"issuer answered 503"),
    ("10MiB-body", lambda i: i.fault("huge_body"), r"over 1048576 bytes"),
]


@pytest.mark.parametrize("inject,pattern", [w[1:] for w in WARM], ids=[w[0] for w in WARM])
def test_warm_fault_serves_old_value_until_min_remaining_then_503(issuer, tokend_factory,
                                                                 inject, pattern):
    tokend, first = warm(issuer, tokend_factory)
    inject(issuer)
    s = wait_failure(tokend, pattern)
    assert s["state"] == "retrying" and s["version"] == 1, s
    status, doc = tokend.get_json("/v1/tokens/api")
    if time.time() < first["expires_at"] - 1.5:
        assert status == 200 and doc["token"] == first["token"], (status, doc)
    assert re.search(pattern + r".*still serving version 1", tokend.log_text())

    def expired():
        st, d = tokend.get_json("/v1/tokens/api")
        if st == 200:
            assert d["token"] == first["token"] and time.time() < first["expires_at"], d
            return None
        return (st, d)
    status, doc = wait_for(expired, timeout=15, message="the old value was never withdrawn")
    assert status == 503 and doc["error"] == "unavailable", doc
    assert "expired at" in doc["message"] and re.search(pattern, doc["message"]), doc
    assert summary(tokend)["state"] == "expired"
    assert "value expired (under min_remaining" in tokend.log_text()
    assert time.time() >= first["expires_at"] - 1.5
