"""OAuth2 against oidc-provider 8.8.1 (tests/servers/oidc.mjs), a certified
OpenID Connect / OAuth 2.0 server, not a mock: RFC 8707 resource yields a
JWT for that audience, a narrowed scope is reported, the lifetime comes
from the JWT's exp when expires_in is missing, and refusals of the
configuration are classified permanent and backed off."""
import base64
import json
import re
import subprocess

import pytest

import harness
from harness import wait_for

CLIENT_ID = "tokend-oidc-client"
CLIENT_SECRET = "tokend-oidc-secret-0123456789abcdef"
RESOURCE = "https://api.example.com/"
JWT_CLIENT_ID = "tokend-oidc-jwt-client"


class OIDC(harness.NodeServer):
    script = "oidc.mjs"


def client_entry(client_id, auth, **extra):
    """A client_credentials client of oidc.mjs's --clients file."""
    return {"client_id": client_id, "grant_types": ["client_credentials"],
            "response_types": [], "redirect_uris": [], "token_endpoint_auth_method": auth,
            **extra}


def oidc_servers(tmp_path, clients):
    """For a fixture: a factory of oidc-provider servers that know clients;
    every server started is stopped at the fixture's end."""
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(clients))
    started = []

    def factory(*args, start=True):
        server = OIDC("--clients", path, *args, log_dir=tmp_path, start=start)
        started.append(server)
        return server
    yield factory
    for s in started:
        s.stop()


@pytest.fixture
def oidc_factory(tmp_path, node_peers):
    yield from oidc_servers(tmp_path, [
        client_entry(CLIENT_ID, "client_secret_basic", client_secret=CLIENT_SECRET,
                     scope="api:read"),
        client_entry(JWT_CLIENT_ID, "client_secret_jwt", client_secret=CLIENT_SECRET,
                     token_endpoint_auth_signing_alg="HS256"),
    ])


def token_config(lines, extra=""):
    """A config with one oauth2 token "api": lines (its endpoint and client
    keys), then extra; debug log, 1 s start-up, 2 s requests."""
    return f"""
[daemon]
socket = {{socket}}
log_level = debug
startup_timeout = 1s

[token "api"]
type = oauth2
{lines}request_timeout = 2s
{extra}
"""


def config(server, extra="", secret=CLIENT_SECRET, scheme="http", client_id=CLIENT_ID,
           auth="client_secret_basic"):
    return token_config(f"token_url = {scheme}://127.0.0.1:{server.port}/token\n"
                        f"client_id = {client_id}\nclient_secret = {secret}\n"
                        f"client_auth = {auth}\n", extra)


def jwt_claims(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def summary(tokend):
    status, doc = tokend.get_json("/v1/tokens")
    assert status == 200, doc
    items = doc if isinstance(doc, list) else doc.get("tokens", [])
    return next(t for t in items if t["name"] == "api")


def wait_token(tokend, timeout=15):
    def served():
        status, doc = tokend.get_json("/v1/tokens/api")
        return doc if status == 200 else None
    return wait_for(served, timeout=timeout,
                    message=f"no token:\n{tokend.log_text()[-3000:]}")


def assert_replay_refused(server, assertion):
    """oidc-provider's own replay detection refuses an assertion (its jti)
    presented a second time."""
    body = ("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth"
            "%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" + assertion)
    status, _, answer = server.request("POST", "/token", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and b"invalid_client" in answer, (status, answer)
    detail = server.control("requests")["requests"][-1]["detail"]
    assert detail == "client assertion tokens must only be used once", detail


def wait_failure(tokend, pattern):
    def failed():
        s = summary(tokend)
        return s if re.search(pattern, s.get("last_error") or "") else None
    return wait_for(failed, timeout=15,
                    message=f"no last_error {pattern!r}:\n{tokend.log_text()[-3000:]}")


def test_resource_yields_jwt_for_that_audience_and_narrowed_scope_is_reported(
        oidc_factory, tokend_factory):
    server = oidc_factory()
    tokend = tokend_factory(config(server, f"resource = {RESOURCE}\n"
                                           "scope = api:read api:write\n"))
    doc = wait_token(tokend)
    claims = jwt_claims(doc["token"])
    assert claims["aud"] == RESOURCE, claims
    assert claims["client_id"] == CLIENT_ID and claims["scope"] == "api:read", claims
    assert summary(tokend)["scope"] == "api:read"
    assert re.search(r'issuer granted scope "api:read", narrower than asked: 1 missing '
                     r'\(api:write\)', tokend.log_text())
    reqs = server.control("requests")["requests"]
    assert reqs and reqs[-1]["status"] == 200, reqs


def test_missing_expires_in_uses_the_jwt_exp(oidc_factory, tokend_factory):
    server = oidc_factory("--strip-expires-in", "--ttl", "40")
    tokend = tokend_factory(config(server, f"resource = {RESOURCE}\n"))
    doc = wait_token(tokend)
    assert doc["expires_at"] == jwt_claims(doc["token"])["exp"], doc


def test_missing_expires_in_of_an_opaque_token_needs_default_lifetime(oidc_factory,
                                                                      tokend_factory):
    server = oidc_factory("--strip-expires-in")
    tokend = tokend_factory(config(server))
    wait_failure(tokend, r"no expires_in and the token no JWT exp; set default_lifetime")
    tokend.stop()
    tokend = tokend_factory(config(server, "default_lifetime = 45s\n"))
    doc = wait_token(tokend)
    assert 40 <= doc["expires_in"] <= 45, doc


PERMANENT = [
    ("invalid_client", dict(secret="wrong-secret-0123456789"),
     r"issuer answered 401 invalid_client.*permanent, check client_id", "auth"),
    ("invalid_target", dict(extra="resource = https://other.example/\n"),
     r"issuer answered 400 invalid_target.*permanent, check resource", "config"),
    ("invalid_scope", dict(extra="scope = openid offline_access\n"),
     r"issuer answered 400 invalid_scope.*permanent, check scope", "config"),
]


@pytest.mark.parametrize("kw,pattern,reason", [p[1:] for p in PERMANENT],
                         ids=[p[0] for p in PERMANENT])
def test_permanent_errors_are_classified_and_backed_off(oidc_factory, tokend_factory,
                                                        kw, pattern, reason):
    server = oidc_factory()
    tokend = tokend_factory(config(server, **kw))
    s = wait_failure(tokend, pattern)
    assert s["state"] == "retrying" and s["version"] == 0, s
    delay = int(re.search(pattern + r".*retrying in (\d+) ms", tokend.log_text()).group(1))
    assert 30000 <= delay <= 60000, delay
    status, _, body = tokend.request("GET", "/metrics")
    assert re.search(rf'failures_total{{[^}}]*reason="{reason}"[^}}]*}} 1', body.decode()), \
        body.decode()


def make_ca(d):
    """A private CA and a server certificate for 127.0.0.1, by the openssl CLI."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", d / "ca-key.pem", "-out", d / "ca.pem", "-subj", "/CN=tokend test CA",
        "-days", "2")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", d / "server-key.pem", "-out", d / "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.pem", "-CAkey",
        d / "ca-key.pem", "-CAcreateserial", "-out", d / "server.pem", "-days", "2",
        "-extfile", d / "ext")


def test_ca_file_trusts_a_private_ca_and_verification_stays_on(oidc_factory,
                                                                tokend_factory, tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d)
    server = oidc_factory("--tls-dir", d)
    tokend = tokend_factory(config(server, scheme="https"))
    wait_failure(tokend, r"POST https://127\.0\.0\.1:\d+/token: .*(certificate|SSL)")
    tokend.stop()
    tokend = tokend_factory(config(server, scheme="https",
                                   extra=f"resource = {RESOURCE}\nca_file = {d}/ca.pem\n"))
    doc = wait_token(tokend)
    assert jwt_claims(doc["token"])["iss"] == f"https://127.0.0.1:{server.port}"
    tokend.stop()
    conf = config(server, scheme="https").replace("[daemon]\n",
                                                  f"[daemon]\nca_file = {d}/ca.pem\n")
    tokend = tokend_factory(conf)
    wait_token(tokend)


def test_client_secret_jwt_is_accepted_once_and_a_wrong_secret_refused(oidc_factory,
                                                                       tokend_factory,
                                                                       leak_secrets):
    server = oidc_factory()
    tokend = tokend_factory(config(server, f"resource = {RESOURCE}\n",
                                   client_id=JWT_CLIENT_ID, auth="client_secret_jwt"))
    doc = wait_token(tokend)
    assert jwt_claims(doc["token"])["client_id"] == JWT_CLIENT_ID
    req = server.control("requests")["requests"][-1]
    assert req["status"] == 200 and "authorization" not in req["headers"], req
    leak_secrets.add(req["assertion"])
    leak_secrets.add(CLIENT_SECRET)
    claims = jwt_claims(req["assertion"])
    assert claims["iss"] == claims["sub"] == JWT_CLIENT_ID, claims
    assert claims["aud"] == f"{server.url}/token" and claims["exp"] - claims["iat"] == 60
    assert CLIENT_SECRET not in tokend.log_text() and req["assertion"] not in tokend.log_text()
    # The server's own replay detection refuses the same jti twice.
    assert_replay_refused(server, req["assertion"])
    tokend.stop()
    tokend = tokend_factory(config(server, client_id=JWT_CLIENT_ID, auth="client_secret_jwt",
                                   secret="not-the-secret-0123456789abcdef"))
    wait_failure(tokend, r"issuer answered 401 invalid_client.*permanent")
