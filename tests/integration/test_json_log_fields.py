"""JSON logs carry a failed fetch's cause, attempt and delay as their own
members, not only inside msg (issue 14 item 9), and a 401 from the issuer
says what to check."""
import json

from harness import wait_for


def test_fetch_failure_fields(issuer, tokend_factory):
    issuer.fault("status", status=401)
    t = tokend_factory(f"""
[daemon]
socket = {{socket}}
log_format = json

[token "api"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = {issuer.client_secret}
""", wait_ready=False)

    def failure_lines():
        lines = [json.loads(l) for l in t.log_text().splitlines() if l.startswith("{")]
        got = [l for l in lines if l.get("msg", "").startswith("fetch failed")]
        return got if len(got) >= 2 else None

    lines = wait_for(failure_lines, timeout=15, message=t.log_text()[-2000:])
    first, second = lines[0], lines[1]
    assert first["token"] == "api" and first["level"] == "error"
    assert first["attempt"] == 1 and second["attempt"] == 2
    assert isinstance(first["delay_ms"], int) and first["delay_ms"] > 0
    assert first["error"] == "auth"
    assert first["cause"].startswith("issuer answered 401"), first
    assert "check client_id and client_secret" in first["cause"]
    assert first["cause"] in first["msg"]
