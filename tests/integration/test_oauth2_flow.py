"""OAuth2 tokens end to end: issuer -> tokend -> Unix socket -> client.

The walking skeleton's promises: a real issued token passes through intact,
short-lived tokens keep flowing and are never served past their exp, an
issuer outage is ridden out until min_remaining and then answered with
503, Retry-After is honoured, and bad configs fail with FILE:LINE.
"""
import base64
import json
import os
import subprocess
import time

import pytest

from harness import SERVERS_DIR, TESTS_DIR, wait_for


def oauth2_config(issuer, name="api", extra=""):
    return f"""
[daemon]
socket = {{socket}}
log_level = debug

[token "{name}"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = {issuer.client_secret}
audience = https://api.test.local/
{extra}
"""


def poll_json(tokend, path, pred, timeout=10):
    """Polls GET path until pred((status, doc)) holds; connection errors
    (the socket is not there yet) count as not yet."""
    def attempt():
        try:
            r = tokend.get_json(path)
        except OSError:
            return None
        return r if pred(r) else None
    return wait_for(attempt, timeout=timeout, message=f"GET {path}")


def jwt_claims(token):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def test_served_token_is_the_issued_token_and_verifies(issuer, tokend_factory):
    tokend = tokend_factory(oauth2_config(issuer))
    status, doc = tokend.get_json("/v1/tokens/api")
    assert status == 200, doc
    assert doc["name"] == "api" and doc["type"] == "oauth2"
    assert doc["token_type"] == "Bearer"
    assert doc["token"] in issuer.tokens(), "tokend served a token the issuer never issued"
    assert doc["version"] == 1
    assert 0 < doc["expires_in"] <= 3600

    # The JWT verifies against the issuer's JWKS with jose.
    out = subprocess.run(
        ["node", str(SERVERS_DIR / "verify-jwt.mjs"), doc["token"], issuer.jwks_url],
        cwd=TESTS_DIR, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["aud"] == "https://api.test.local/"
    assert abs(doc["expires_at"] - jwt_claims(doc["token"])["exp"]) <= 1

    # Raw forms: ?format=raw and Accept: text/plain; and tokenctl.
    status, headers, body = tokend.request("GET", "/v1/tokens/api?format=raw")
    assert status == 200 and body.decode() == doc["token"]
    status, headers, body = tokend.request("GET", "/v1/tokens/api",
                                           headers={"Accept": "text/plain"})
    assert status == 200 and body.decode() == doc["token"]
    res = tokend.tokenctl("get", "api")
    assert res.returncode == 0 and res.stdout.strip() == doc["token"]

    # The client secret went to the issuer as configured (form post).
    req = issuer.requests()[-1]
    assert req["content_type"].startswith("application/x-www-form-urlencoded")
    assert "client_secret=" in req["body"]

    # Never a token or the secret in the logs.
    log = tokend.log_text()
    assert doc["token"] not in log
    assert issuer.client_secret not in log


def test_json_body_and_basic_auth(issuer, tokend_factory):
    tokend = tokend_factory(
        oauth2_config(issuer, "json", "request_format = json")
        + f"""
[token "basic"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = {issuer.client_secret}
client_auth = client_secret_basic
""")
    assert tokend.get_json("/v1/tokens/json")[0] == 200
    assert tokend.get_json("/v1/tokens/basic")[0] == 200
    kinds = {(r["content_type"].split(";")[0],
              "authorization" in {k.lower() for k in r["headers"]}) for r in issuer.requests()}
    assert ("application/json", False) in kinds
    assert ("application/x-www-form-urlencoded", True) in kinds


def test_short_tokens_keep_flowing_and_never_expired(issuer, tokend_factory):
    issuer.set_expires_in(6)
    tokend = tokend_factory(oauth2_config(issuer, extra="refresh_before = 3s\njitter = 0s\nmin_remaining = 1s"))
    seen = set()
    deadline = time.time() + 30
    served = 0
    while time.time() < deadline:
        status, doc = tokend.get_json("/v1/tokens/api")
        now = time.time()
        if status == 200:
            served += 1
            exp = jwt_claims(doc["token"])["exp"]
            assert exp > now, f"served a token {now - exp:.1f}s past its exp"
            seen.add(doc["token"])
        else:
            assert status == 503, doc
        time.sleep(0.02)  # polling pace of the client, not a wait for a condition
    assert len(seen) >= 8, f"only {len(seen)} distinct tokens in 30 s"
    assert served > 100


def test_issuer_outage_serves_until_min_remaining_then_503(issuer, tokend_factory):
    issuer.set_expires_in(8)
    tokend = tokend_factory(oauth2_config(
        issuer, extra="refresh_before = 6s\njitter = 0s\nmin_remaining = 3s"))
    status, first = tokend.get_json("/v1/tokens/api")
    assert status == 200
    issuer.fault("status", status=500)  # every call fails until cleared

    # The last value keeps being served while it has >= 3 s left ...
    assert tokend.get_json("/v1/tokens/api")[1]["token"] == first["token"]
    # ... then 503 with a reason, never the expired value.
    status, err = poll_json(tokend, "/v1/tokens/api", lambda r: r[0] == 503, timeout=15)
    assert time.time() >= first["expires_at"] - 3 - 0.5
    assert err["error"] and "500" in err["message"], err
    status, ready = tokend.get_json("/readyz")
    assert status == 503

    # Issuer back: a valid token returns within the backoff cap (60 s).
    issuer.clear_faults()
    start = time.time()
    status, doc = poll_json(tokend, "/v1/tokens/api", lambda r: r[0] == 200, timeout=65)
    assert doc["token"] != first["token"]
    assert doc["version"] > first["version"]
    assert time.time() - start <= 62


def test_retry_after_is_honoured(issuer, tokend_factory):
    # The first call is answered 429 with Retry-After: 3.
    issuer.fault("rate_limit", count=1, retry_after=3)
    tokend = tokend_factory(oauth2_config(issuer, extra="min_remaining = 1s"),
                            wait_ready=False)
    tokend.wait_ready(timeout=20)
    reqs = issuer.requests()
    assert len(reqs) >= 2
    assert reqs[0]["status"] == 429
    gap = (reqs[1]["t"] - reqs[0]["t"]) / 1000.0
    assert gap >= 3.0, f"retried {gap:.2f}s after a Retry-After: 3"


def test_wrong_secret_is_reported_not_crashed(issuer, tokend_factory):
    cfg = oauth2_config(issuer).replace(f"client_secret = {issuer.client_secret}",
                                        "client_secret = wrong-secret")
    tokend = tokend_factory(cfg, wait_ready=False)
    status, err = poll_json(tokend, "/v1/tokens/api",
                            lambda r: r[0] == 503 and "401" in r[1].get("message", ""))
    assert "401" in err["message"] and "access_denied" in err["message"], err
    assert "wrong-secret" not in tokend.log_text()
    assert tokend.get_json("/healthz")[0] == 200


BAD_CONFIGS = [
    ("[daemon]\nsocket = relative.sock\n", 2, "absolute"),
    ("[daemon]\nbogus = 1\n", 2, "bogus"),
    ("[nonsense]\n", 1, "nonsense"),
    ('[token "a"]\ntype = oauth2\nclient_id = x\nclient_secret = y\n', 1, "token_url"),
    ('[token "a"]\ntype = oauth2\ntoken_url = http://example.com/t\nclient_id = x\nclient_secret = y\n',
     3, "http"),
    ('[token "a"]\ntype = rds\nhost = h\nuser = u\nport = 99999\n', 5, "port"),
    ('[token "a"]\ntype = oauth2\ntoken_url = https://x/t\nclient_id = x\nclient_secret = y\n'
     'refresh_before = 5 parsecs\n', 6, "refresh_before"),
    ('[token "a b"]\ntype = rds\n', 1, "name"),
    ('[token "a"]\ntype = rds\nhost = h\nuser = u\n[token "a"]\ntype = rds\nhost = h\nuser = u\n',
     5, "duplicate"),
    ('[token "a"]\ntype = oauth2\ntoken_url = https://x/t\nclient_id = x\nclient_secret = env:TOKEND_TEST_UNSET_VAR\n',
     5, "TOKEND_TEST_UNSET_VAR"),
]


@pytest.mark.parametrize("text,line,word", BAD_CONFIGS)
def test_bad_config_exits_2_with_file_and_line(tmp_path, tokend_bin, text, line, word):
    path = tmp_path / "bad.conf"
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "TOKEND_TEST_UNSET_VAR"}
    for args in (["--check-config", "-c", str(path)], ["-c", str(path)]):
        res = subprocess.run([tokend_bin, *args], capture_output=True, text=True,
                             timeout=10, env=env)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert f"{path}:{line}:" in res.stderr, res.stderr
        assert word.lower() in res.stderr.lower(), res.stderr


def test_check_config_accepts_the_example(tokend_bin):
    example = TESTS_DIR.parent / "conf" / "tokend.conf.example"
    res = subprocess.run([tokend_bin, "--check-config", "-c", str(example)],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 0, res.stderr


def test_version_and_usage(tokend_bin):
    res = subprocess.run([tokend_bin, "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("tokend ")
    res = subprocess.run([tokend_bin, "--no-such-flag"], capture_output=True, text=True)
    assert res.returncode == 2


def test_sigterm_is_a_clean_shutdown(issuer, tokend_factory):
    tokend = tokend_factory(oauth2_config(issuer))
    sock = tokend.socket
    assert os.path.exists(sock)
    assert tokend.stop() == 0
    assert not os.path.exists(sock), "socket file left behind"
    assert "STOPPING=1" in tokend.notifications()
