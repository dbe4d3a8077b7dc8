"""private_key_jwt (RFC 7523 §2.2) against oidc-provider (tests/servers/oidc.mjs),
a certified OAuth 2.0 server that verifies the assertion with the public key
in the client's registered jwks: RS256, PS256 and ES256 assertions obtain a
token; an assertion signed with a key the server does not know, a replayed
one and one that expired (tokend's clock ten minutes behind) are refused,
and the refusal is reported as permanent. RFC 8705 mutual TLS against the
same server behind a node https front that asks for client certificates:
tls_client_auth (CA-issued, subject DN bound) and self_signed_tls_client_auth
(x5t#S256 in the client's jwks) obtain tokens; an untrusted issuer, another
subject and an unregistered certificate are refused. --check-config names
the key that does not fit and the key that does not match the certificate."""
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import harness
from test_oauth2_oidc import (RESOURCE, assert_replay_refused, client_entry, jwt_claims,
                              oidc_servers, token_config, wait_failure, wait_token)

TOOLS = Path(__file__).resolve().parent.parent / "tools"

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
        clients.append(client_entry(f"pkjwt-{alg}", "private_key_jwt",
                                    token_endpoint_auth_signing_alg=alg,
                                    jwks={"keys": [jwk]}))
    servers = oidc_servers(tmp_path, clients)
    yield next(servers)(), keys
    next(servers, None)


def config(server, alg, key, extra=""):
    return token_config(f"token_url = http://127.0.0.1:{server.port}/token\n"
                        f"client_id = pkjwt-{alg}\nclient_auth = private_key_jwt\n"
                        f"client_key = file:{key}\nclient_key_id = kid-{alg}\n"
                        f"resource = {RESOURCE}\n", extra)


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


# --- RFC 8705 mutual TLS --------------------------------------------------------


def openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_client_certs(d):
    """A client certificate from the test CA (tls_client_auth), one from it
    for another subject, a self-signed one (self_signed_tls_client_auth), and
    one with the right subject from a CA the server does not know; the self-signed one's public JWK with its x5t#S256."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", *ec, "-keyout", d / "ca-client-key.pem", "-out", d / "ca-client.csr",
            "-subj", "/CN=tokend-mtls")
    openssl("x509", "-req", "-in", d / "ca-client.csr", "-CA", d / "ca.pem", "-CAkey",
            d / "ca-key.pem", "-CAcreateserial", "-out", d / "ca-client.pem", "-days", "2")
    openssl("req", *ec, "-keyout", d / "wrong-dn-key.pem", "-out", d / "wrong-dn.csr",
            "-subj", "/CN=tokend-someone-else")
    openssl("x509", "-req", "-in", d / "wrong-dn.csr", "-CA", d / "ca.pem", "-CAkey",
            d / "ca-key.pem", "-CAcreateserial", "-out", d / "wrong-dn.pem", "-days", "2")
    openssl("req", "-x509", *ec, "-keyout", d / "self-key.pem", "-out", d / "self.pem",
            "-subj", "/CN=tokend-self", "-days", "2")
    openssl("req", "-x509", *ec, "-keyout", d / "other-key.pem", "-out", d / "other.pem",
            "-subj", "/CN=tokend-mtls", "-days", "2")
    der = subprocess.run(["openssl", "x509", "-in", d / "self.pem", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    jwk = json.loads(subprocess.run(
        ["node", "-e", "const c=require('crypto'),fs=require('fs');process.stdout.write("
         "JSON.stringify(new c.X509Certificate(fs.readFileSync(process.argv[1]))"
         ".publicKey.export({format:'jwk'})))", str(d / "self.pem")],
        check=True, capture_output=True, text=True).stdout)
    jwk["x5t#S256"] = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    return jwk


@pytest.fixture
def mtls_server(tmp_path, node_peers):
    from test_oauth2_oidc import make_ca
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d)
    jwk = make_client_certs(d)
    servers = oidc_servers(tmp_path, [
        client_entry("mtls-ca", "tls_client_auth",
                     tls_client_auth_subject_dn="CN=tokend-mtls"),
        client_entry("mtls-self", "self_signed_tls_client_auth", jwks={"keys": [jwk]}),
    ])
    yield next(servers)("--tls-dir", d, "--mtls-ca", d / "ca.pem"), d
    next(servers, None)


def tls_requests(server, d):
    """The server's /token log, over its HTTPS (no client certificate)."""
    ctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
    conn.request("POST", "/__control/requests", body="{}")
    doc = json.loads(conn.getresponse().read())
    conn.close()
    return doc["requests"]


def mtls_config(server, d, client_id, auth, cert, key):
    return f"""
[daemon]
socket = {{socket}}
log_level = debug
startup_timeout = 1s
ca_file = {d}/ca.pem

[token "api"]
type = oauth2
token_url = https://127.0.0.1:{server.port}/token
client_id = {client_id}
client_auth = {auth}
client_cert = file:{d}/{cert}
client_key = file:{d}/{key}
resource = {RESOURCE}
request_timeout = 2s
"""


@pytest.mark.parametrize("client_id,auth,cert,key", [
    ("mtls-ca", "tls_client_auth", "ca-client.pem", "ca-client-key.pem"),
    ("mtls-self", "self_signed_tls_client_auth", "self.pem", "self-key.pem"),
], ids=["tls_client_auth", "self_signed_tls_client_auth"])
def test_mtls_obtains_a_token(mtls_server, tokend_factory, client_id, auth, cert, key):
    server, d = mtls_server
    tokend = tokend_factory(mtls_config(server, d, client_id, auth, cert, key))
    doc = wait_token(tokend)
    assert jwt_claims(doc["token"])["client_id"] == client_id
    req = tls_requests(server, d)[-1]
    assert req["status"] == 200 and "authorization" not in req["headers"], req
    assert req.get("assertion") is None, req
    assert (d / key).read_text().splitlines()[1] not in tokend.log_text()


@pytest.mark.parametrize("client_id,auth,cert,key,detail", [
    # Same subject DN, but issued by a CA the server does not trust.
    ("mtls-ca", "tls_client_auth", "other.pem", "other-key.pem",
     "client certificate was not verified"),
    # Trusted and valid, but not the subject DN registered for this client.
    ("mtls-ca", "tls_client_auth", "wrong-dn.pem", "wrong-dn-key.pem",
     "certificate subject value does not match the registered one"),
    ("mtls-self", "self_signed_tls_client_auth", "ca-client.pem", "ca-client-key.pem",
     "unregistered client certificate provided"),
], ids=["untrusted_ca", "wrong_subject_dn", "not_registered"])
def test_mtls_certificate_not_bound_to_the_client_is_refused(mtls_server, tokend_factory,
                                                             client_id, auth, cert, key,
                                                             detail):
    server, d = mtls_server
    tokend = tokend_factory(mtls_config(server, d, client_id, auth, cert, key))
    s = wait_failure(tokend, r"issuer answered 401 invalid_client.*permanent")
    assert s["version"] == 0, s
    assert tls_requests(server, d)[-1]["detail"] == detail


def test_check_config_refuses_a_key_that_does_not_match_the_certificate(tmp_path,
                                                                        tokend_bin):
    d = tmp_path
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", d / "k1.pem", "-out", d / "c1.pem", "-subj", "/CN=a",
            "-days", "1")
    openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", d / "k2.pem")
    server = type("S", (), {"port": 9})
    path = d / "tokend.conf"
    path.write_text(mtls_config(server, d, "x", "tls_client_auth", "c1.pem", "k2.pem")
                    .replace("ca_file = ", "; ").replace("{socket}", str(d / "s.sock")))
    res = subprocess.run([tokend_bin, "--check-config", "-c", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 2, res
    assert re.search(r'token "api": client_key does not match client_cert\'s public key '
                     r'\(client_cert file:\S+c1.pem, line 13; client_key file:\S+k2.pem, '
                     r"line 14\)", res.stderr), res.stderr


# --- keys and certificates read from SSM at start-up ----------------------------


def test_private_key_jwt_with_the_key_in_ssm(keys_server, ssm, tokend_factory):
    server, keys = keys_server
    ssm.put_parameter("/app/jwt/key", keys["ES256"].read_text(), type="SecureString")
    conf = config(server, "ES256", keys["ES256"]).replace(
        f"client_key = file:{keys['ES256']}", "client_key = ssm:/app/jwt/key")
    tokend = tokend_factory(conf, env=harness.aws_env(ssm=ssm, static=ssm))
    doc = wait_token(tokend)
    assert jwt_claims(doc["token"])["client_id"] == "pkjwt-ES256"
    assert keys["ES256"].read_text().splitlines()[1] not in tokend.log_text()


def test_mtls_with_certificate_and_key_in_one_ssm_parameter(mtls_server, ssm,
                                                            tokend_factory):
    """Both halves from one SecureString JSON object (ssm:/NAME#KEY): two
    references of one token resolved before it starts."""
    server, d = mtls_server
    ssm.put_parameter("/app/mtls/pair", json.dumps({
        "cert": (d / "ca-client.pem").read_text(),
        "key": (d / "ca-client-key.pem").read_text()}), type="SecureString")
    conf = mtls_config(server, d, "mtls-ca", "tls_client_auth", "x", "y")
    conf = conf.replace(f"client_cert = file:{d}/x", "client_cert = ssm:/app/mtls/pair#cert")
    conf = conf.replace(f"client_key = file:{d}/y", "client_key = ssm:/app/mtls/pair#key")
    tokend = tokend_factory(conf, env=harness.aws_env(ssm=ssm, static=ssm))
    doc = wait_token(tokend)
    assert jwt_claims(doc["token"])["client_id"] == "mtls-ca"


def test_a_replayed_private_key_assertion_is_refused(keys_server, tokend_factory,
                                                     leak_secrets):
    server, keys = keys_server
    tokend = tokend_factory(config(server, "ES256", keys["ES256"]))
    wait_token(tokend)
    req = server.control("requests")["requests"][-1]
    leak_secrets.add(req["assertion"])
    assert_replay_refused(server, req["assertion"])


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs cc for the clock shim")
def test_an_expired_private_key_assertion_is_refused_and_reported(keys_server, tokend_factory,
                                                                  tmp_path):
    # tokend's wall clock ten minutes behind (tests/tools/clockshift.c): its
    # assertion expired before it was sent, and the server says so.
    server, keys = keys_server
    shim = tmp_path / "clockshift.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(shim),
                    str(TOOLS / "clockshift.c"), "-ldl"], check=True)
    offset = tmp_path / "clock-offset"
    offset.write_text("-600\n")
    env = {"LD_PRELOAD": str(shim), "CLOCKSHIFT_FILE": str(offset),
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    tokend = tokend_factory(config(server, "RS256", keys["RS256"]), env=env)
    s = wait_failure(tokend, r"issuer answered 401 invalid_client.*permanent")
    assert s["version"] == 0, s
    req = server.control("requests")["requests"][-1]
    claims = jwt_claims(req["assertion"])
    assert claims["exp"] < time.time(), claims
    assert "expired" in req["detail"] or "exp" in req["detail"], req["detail"]
