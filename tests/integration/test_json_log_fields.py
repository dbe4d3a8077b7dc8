"""JSON logs carry a failed fetch's cause, attempt and delay as their own
members, not only inside msg (issue 14 item 9), and a 401 from the issuer
says what to check (a 401 is permanent: it backs off for minutes, so the
two-attempt check uses a transient 503)."""
import json

from harness import wait_for


CONFIG = """
[daemon]
socket = {{socket}}
log_format = json

[token "api"]
type = oauth2
token_url = {token_url}
client_id = {client_id}
client_secret = {client_secret}
"""


def _lines(t, n):
    def failure_lines():
        lines = [json.loads(l) for l in t.log_text().splitlines() if l.startswith("{")]
        got = [l for l in lines if l.get("msg", "").startswith("fetch failed")]
        return got if len(got) >= n else None

    return wait_for(failure_lines, timeout=15, message=t.log_text()[-2000:])


def _config(issuer):
    return CONFIG.format(token_url=issuer.token_url, client_id=issuer.client_id,
                         client_secret=issuer.client_secret)


def test_fetch_failure_fields(issuer, tokend_factory):
    issuer.fault("status", status=503)
    t = tokend_factory(_config(issuer), wait_ready=False)
    first, second = _lines(t, 2)[:2]
    assert first["token"] == "api" and first["level"] == "error"
    assert first["attempt"] == 1 and second["attempt"] == 2
    assert isinstance(first["delay_ms"], int) and first["delay_ms"] > 0
    assert first["error"] == "http"
    assert first["cause"].startswith("issuer answered 503"), first
    assert first["cause"] in first["msg"]


def test_401_says_what_to_check(issuer, tokend_factory):
    issuer.fault("status", status=401)
    t = tokend_factory(_config(issuer), wait_ready=False)
    (first,) = _lines(t, 1)[:1]
    assert first["attempt"] == 1 and first["error"] == "auth"
    assert first["cause"].startswith("issuer answered 401"), first
    assert "permanent, check client_id" in first["cause"]
    assert first["delay_ms"] >= 30000  # a permanent refusal backs off long

