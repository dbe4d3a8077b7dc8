"""OAuth2 discovery against oidc-provider (tests/servers/oidc.mjs), a real
OpenID Connect server: with only `issuer` set the token endpoint comes from
/.well-known/openid-configuration; a metadata issuer that differs from the
configured one is refused as permanent; an unreachable issuer is retried
until it comes up; token_url wins over discovery."""
import os
import re
import socket
import subprocess

import pytest

import harness
from harness import wait_for
from test_oauth2_oidc import (client_entry, oidc_servers, summary, token_config, wait_failure,
                              wait_token)

CLIENT_ID = "tokend-disco-client"
CLIENT_SECRET = "tokend-disco-secret-0123456789abcdef"


@pytest.fixture
def oidc_factory(tmp_path, node_peers):
    yield from oidc_servers(tmp_path, [
        client_entry(CLIENT_ID, "client_secret_basic", client_secret=CLIENT_SECRET)])


def config(issuer, extra="", auth="client_secret_basic"):
    return token_config(f"issuer = {issuer}\nclient_id = {CLIENT_ID}\n"
                        f"client_secret = {CLIENT_SECRET}\nclient_auth = {auth}\n", extra)


def token_posts(server):
    return [r for r in server.control("requests")["requests"] if r.get("status")]


def test_issuer_alone_discovers_the_token_endpoint(oidc_factory, tokend_factory):
    server = oidc_factory()
    issuer = f"http://127.0.0.1:{server.port}"
    tokend = tokend_factory(config(issuer))
    doc = wait_token(tokend)
    assert doc["token_type"] == "Bearer" and doc["token"], doc
    assert f"issuer {issuer}: token endpoint {issuer}/token" in tokend.log_text()
    assert token_posts(server)[-1]["status"] == 200
    assert summary(tokend)["token_endpoint"] == f"{issuer}/token"
    assert doc["token_endpoint"] == f"{issuer}/token", doc
    # oidc-provider lists client_secret_basic: no warning about client_auth.
    assert "does not list client_auth" not in tokend.log_text()


def test_issuer_mismatch_is_refused_as_permanent(oidc_factory, tokend_factory):
    server = oidc_factory()
    # The metadata says http://127.0.0.1:PORT; a trailing '/' is another issuer.
    issuer = f"http://127.0.0.1:{server.port}/"
    tokend = tokend_factory(config(issuer))
    s = wait_failure(tokend, r'metadata names issuer "http://127\.0\.0\.1:\d+", not the '
                             r'configured "http://127\.0\.0\.1:\d+/".*permanent, check issuer')
    assert s["state"] == "retrying" and s["version"] == 0, s
    delay = int(re.search(r"not the configured.*retrying in (\d+) ms",
                          tokend.log_text()).group(1))
    assert 30000 <= delay <= 60000, delay
    assert token_posts(server) == []
    status, _, body = tokend.request("GET", "/metrics")
    assert re.search(r'failures_total{[^}]*reason="config"[^}]*} 1', body.decode()), \
        body.decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_issuer_is_retried_and_recovers(oidc_factory, tokend_factory):
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    tokend = tokend_factory(config(issuer))
    s = wait_failure(tokend, rf"issuer {re.escape(issuer)}: .*{port}")
    assert "permanent" not in s["last_error"], s
    # transient: the short backoff, not the permanent one.
    delays = [int(d) for d in re.findall(r"retrying in (\d+) ms", tokend.log_text())]
    assert delays and delays[0] <= 2000, delays
    server = oidc_factory(start=False)
    server.start(port=port)
    doc = wait_token(tokend, timeout=30)
    assert doc["token"], doc


def test_token_url_wins_over_discovery(oidc_factory, tokend_factory):
    server = oidc_factory()
    # An issuer that would be refused (mismatch) is never asked: token_url wins.
    issuer = f"http://127.0.0.1:{server.port}/"
    tokend = tokend_factory(config(issuer, f"token_url = {server.url}/token\n"))
    doc = wait_token(tokend)
    assert "token_endpoint" not in doc and "token_endpoint" not in summary(tokend)
    assert "metadata" not in tokend.log_text()
    assert "token endpoint" not in tokend.log_text()


CHECK_CASES = [
    ("issuer = https://id.example.com/realms/x\n", 0, None),
    ("", 2, "missing required key 'token_url' (or 'issuer' to discover it)"),
    ("issuer = https://id.example.com/?tenant=1\n", 2, "must not have a query"),
    ("issuer = http://id.example.com\n", 2, "plain http:// is refused"),
    ("issuer = https://id.example.com\ntoken_url = https://id.example.com/t\n", 0,
     'warning: token "api": issuer is not used: token_url is set'),
]


@pytest.mark.parametrize("keys,code,text", CHECK_CASES,
                         ids=["issuer", "neither", "query", "http", "both"])
def test_check_config_issuer(tokend_bin, tmp_path, keys, code, text):
    os.chmod(tmp_path, 0o700)
    path = tmp_path / "t.conf"
    path.write_text(f"[daemon]\nsocket = {tmp_path}/tokend.sock\n[token \"api\"]\n"
                    f"type = oauth2\nclient_id = x\nclient_secret = y\n{keys}")
    res = subprocess.run([tokend_bin, "--check-config", "-c", str(path)],
                         capture_output=True, text=True, timeout=20)
    assert res.returncode == code, res
    if text is not None:
        assert text in res.stderr, res.stderr
    else:
        assert "warning" not in res.stderr, res.stderr


class Disco(harness.NodeServer):
    script = "disco.mjs"


@pytest.fixture
def disco(tmp_path, node_peers):
    server = Disco("--issuer-path", "/tenant-1", log_dir=tmp_path)
    yield server
    server.stop()


def metadata_paths(disco):
    return [r["path"] for r in disco.control("requests")["requests"]]


def test_rfc8414_metadata_with_path_insertion_and_unlisted_client_auth(
        oidc_factory, disco, tokend_factory):
    server = oidc_factory()
    disco.control("set", oidc=False, token_endpoint=f"{server.url}/token",
                  methods=["private_key_jwt", "client_secret_post"])
    tokend = tokend_factory(config(f"{disco.url}/tenant-1"))
    wait_token(tokend)
    assert metadata_paths(disco)[:2] == [
        "/tenant-1/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/tenant-1"], metadata_paths(disco)
    assert re.search(r"does not list client_auth client_secret_basic in "
                     r"token_endpoint_auth_methods_supported; trying it anyway",
                     tokend.log_text()), tokend.log_text()


def test_metadata_500_is_transient_and_recovers(oidc_factory, disco, tokend_factory):
    server = oidc_factory()
    disco.control("set", status=500, token_endpoint=f"{server.url}/token")
    tokend = tokend_factory(config(f"{disco.url}/tenant-1"))
    s = wait_failure(tokend, r"issuer http://127\.0\.0\.1:\d+/tenant-1: metadata "
                             r"answered 500")
    assert "permanent" not in s["last_error"] and s["version"] == 0, s
    disco.control("set", status=200)
    wait_token(tokend, timeout=30)
    status, _, body = tokend.request("GET", "/metrics")
    assert re.search(r'failures_total{[^}]*reason="http"[^}]*} [1-9]', body.decode()), \
        body.decode()


def test_metadata_4xx_and_no_metadata_are_permanent(disco, tokend_factory):
    disco.control("set", oidc=False, status=404)
    tokend = tokend_factory(config(f"{disco.url}/tenant-1"))
    s = wait_failure(tokend, r"tenant-1: metadata answered 404; permanent, check issuer")
    assert s["state"] == "retrying", s
    assert metadata_paths(disco) == [
        "/tenant-1/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/tenant-1"], metadata_paths(disco)
    delay = int(re.search(r"answered 404; permanent.*retrying in (\d+) ms",
                          tokend.log_text()).group(1))
    assert 30000 <= delay <= 60000, delay


def test_token_endpoint_failure_reads_the_metadata_again(oidc_factory, disco,
                                                         tokend_factory):
    server = oidc_factory()
    gone = free_port()
    disco.control("set", token_endpoint=f"http://127.0.0.1:{gone}/token")
    tokend = tokend_factory(config(f"{disco.url}/tenant-1"))
    wait_failure(tokend, rf"127\.0\.0\.1:{gone}/token")
    disco.control("set", token_endpoint=f"{server.url}/token")
    wait_token(tokend, timeout=30)
    assert len(metadata_paths(disco)) >= 2, metadata_paths(disco)
    assert f"token endpoint {server.url}/token" in tokend.log_text()


def test_discovery_under_valgrind(oidc_factory, disco, tmp_path, tokend_bin):
    """Discovery found, refused, re-read after an endpoint failure and
    replaced, then SIGTERM: no valgrind error, no definite or indirect leak."""
    import shutil
    vg = shutil.which("valgrind")
    from test_valgrind import asan_build
    if vg is None or os.environ.get("TOKEND_SANITIZERS") or asan_build(tokend_bin):
        pytest.skip("valgrind is not installed, or a sanitizer build")
    log = tmp_path / "valgrind.log"
    wrapper = tmp_path / "tokend-vg"
    wrapper.write_text(f"#!/bin/sh\nexec {vg} -q --leak-check=full "
                       f"--errors-for-leak-kinds=definite,indirect --error-exitcode=99 "
                       f"--log-file={log} {tokend_bin} \"$@\"\n")
    wrapper.chmod(0o755)
    server = oidc_factory("--ttl", "6")
    gone = free_port()
    disco.control("set", token_endpoint=f"http://127.0.0.1:{gone}/token")
    good = f"http://127.0.0.1:{server.port}"
    text = config(good).replace("startup_timeout = 1s", "startup_timeout = 5s")
    for name, iss in (("bad", good + "/"), ("moved", f"{disco.url}/tenant-1")):
        text += (f'\n[token "{name}"]\ntype = oauth2\nissuer = {iss}\n'
                 f"client_id = {CLIENT_ID}\nclient_secret = {CLIENT_SECRET}\n"
                 "client_auth = client_secret_basic\nrequest_timeout = 5s\n")
    t = harness.Tokend(text, tmp_path / "tokend", binary=str(wrapper), timeout=120)
    try:
        first = wait_token(t, timeout=60)["version"]
        wait_for(lambda: t.get_json("/v1/tokens/api")[1].get("version", 0) > first,
                 timeout=60, interval=0.5, message="no refresh under valgrind")
        disco.control("set", token_endpoint=f"{server.url}/token")
        wait_for(lambda: t.get_json("/v1/tokens/moved")[0] == 200, timeout=60,
                 interval=0.5, message=t.log_text()[-3000:])
        assert "not the configured" in t.log_text()
    finally:
        code = t.stop(timeout=120)
    report = log.read_text(errors="replace") if log.exists() else ""
    assert code == 0, f"tokend under valgrind exited {code}:\n{report}"
    assert "definitely lost" not in report and "indirectly lost" not in report, report
