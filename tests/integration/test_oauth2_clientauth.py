"""private_key_jwt (RFC 7523 §2.2) against oidc-provider (tests/servers/oidc.mjs),
a certified OAuth 2.0 server that verifies the assertion with the public key
in the client's registered jwks: RS256, PS256 and ES256 assertions obtain a
token; an assertion signed with a key the server does not know is refused,
and the refusal is reported as permanent. --check-config names the key that
does not fit."""
import base64
import json
import re
import subprocess

import pytest

import harness
from test_oauth2_oidc import OIDC, RESOURCE, jwt_claims, summary, wait_failure, wait_token

ALGS = {"RS256": ["rsa", "-pkeyopt", "rsa_keygen_bits:2048"],
        "PS256": ["rsa", "-pkeyopt", "rsa_keygen_bits:2048"],
        "ES256": ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]}


def make_key(d, name, alg):
    """A PEM private key by the openssl CLI and its public JWK by node."""
    path = d / f"{name}.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", *ALGS[alg], "-out", path],
                   check=True, capture_output=True)
    out = subprocess.run(
        ["node", "-e", "const c=require('crypto'),fs=require('fs');process.stdout.write("
         "JSON.stringify(c.createPublicKey(fs.readFileSync(process.argv[1]))"
         ".export({format:'jwk'})))", str(path)],
        check=True, capture_output=True, text=True)
    return path, json.loads(out.stdout)


@pytest.fixture
def keys_server(tmp_path, node_peers):
    clients, keys = [], {}
    for alg in ALGS:
        path, jwk = make_key(tmp_path, alg, alg)
        jwk.update(kid=f"kid-{alg}", alg=alg, use="sig")
        keys[alg] = path
        clients.append({
            "client_id": f"pkjwt-{alg}", "grant_types": ["client_credentials"],
            "response_types": [], "redirect_uris": [],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": alg, "jwks": {"keys": [jwk]},
        })
    (tmp_path / "clients.json").write_text(json.dumps(clients))
    server = OIDC("--clients", tmp_path / "clients.json", log_dir=tmp_path)
    yield server, keys
    server.stop()


def config(server, alg, key, extra=""):
    return f"""
[daemon]
socket = {{socket}}
log_level = debug
startup_timeout = 1s

[token "api"]
type = oauth2
token_url = http://127.0.0.1:{server.port}/token
client_id = pkjwt-{alg}
client_auth = private_key_jwt
client_key = file:{key}
client_key_id = kid-{alg}
resource = {RESOURCE}
request_timeout = 2s
{extra}
"""


@pytest.mark.parametrize("alg", list(ALGS))
def test_private_key_jwt_obtains_a_token(keys_server, tokend_factory, leak_secrets, alg):
    server, keys = keys_server
    extra = "client_assertion_alg = PS256\n" if alg == "PS256" else ""
    tokend = tokend_factory(config(server, alg, keys[alg], extra))
    doc = wait_token(tokend)
    assert jwt_claims(doc["token"])["client_id"] == f"pkjwt-{alg}"
    req = server.control("requests")["requests"][-1]
    assert req["status"] == 200 and "authorization" not in req["headers"], req
    leak_secrets.add(req["assertion"])
    part = req["assertion"].split(".")[0]
    head = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert head == {"alg": alg, "kid": f"kid-{alg}", "typ": "JWT"}, head
    claims = jwt_claims(req["assertion"])
    assert claims["iss"] == claims["sub"] == f"pkjwt-{alg}", claims
    assert claims["aud"] == f"{server.url}/token" and claims["exp"] - claims["iat"] == 60
    assert len(claims["jti"]) == 32, claims
    assert req["assertion"] not in tokend.log_text()
    assert keys[alg].read_text().splitlines()[1] not in tokend.log_text()


def test_a_key_the_issuer_does_not_know_is_refused_as_permanent(keys_server, tokend_factory,
                                                                 tmp_path):
    server, _ = keys_server
    other, _ = make_key(tmp_path, "other", "RS256")
    tokend = tokend_factory(config(server, "RS256", other))
    s = wait_failure(tokend, r"issuer answered 401 invalid_client.*permanent, check "
                             r"client_id, client_secret/client_key and client_auth")
    assert s["state"] == "retrying" and s["version"] == 0, s
    detail = server.control("requests")["requests"][-1]["detail"]
    assert "signature" in detail or "key" in detail, detail


@pytest.mark.parametrize("alg,key_alg,extra,message", [
    ("ES256", "RS256", "client_assertion_alg = ES256\n",
     r"client_key file:\S+ \(line 12\): an RSA key, and client_assertion_alg ES256 needs "
     r"an EC P-256 key"),
    ("RS256", None, "", r"client_key file:\S+ \(line 12\): not a PEM private key"),
])
def test_check_config_refuses_a_key_that_does_not_fit(tmp_path, tokend_bin, alg, key_alg,
                                                      extra, message):
    if key_alg is None:
        key = tmp_path / "notakey.pem"
        key.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    else:
        key = tmp_path / "k.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", *ALGS[key_alg], "-out", key],
                       check=True, capture_output=True)
    server = type("S", (), {"port": 9})
    path = tmp_path / "tokend.conf"
    path.write_text(config(server, alg, key, extra).replace("{socket}",
                                                          str(tmp_path / "s.sock")))
    res = subprocess.run([tokend_bin, "--check-config", "-c", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 2, res
    assert re.search(message, res.stderr), res.stderr
    assert "AAAA" not in res.stderr
