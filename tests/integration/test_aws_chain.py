"""The AWS credentials chain, end to end: each provider in turn must be the
one whose keys sign the RDS token tokend serves.

Order: env -> shared files -> web identity (STS) -> ECS -> IMDSv2. A
provider that is configured but fails stops the chain; only "not
configured" falls through. Each served token is verified against the
secret its provider handed out (test_iam_tokens.verify_token), so a test
passes only when that provider's credentials really signed it.
"""

import signal
import socket

import pytest

import harness
from test_iam_tokens import (REGION, RDS_CONF, assert_no_secret_logged, token_akid,
                             token_params, verify_token)

STATIC_AKID = "AKIDTOKENDENV0000001"
STATIC_SECRET = "tokend+env/secret=0000000000000001"
ENV_SESSION_TOKEN = "IQoJtokend/env+session=token"
PROFILE_AKID = "AKIDTOKENDPROFILE002"
PROFILE_SECRET = "tokend+profile/secret=000000000002"
DEFAULT_AKID = "AKIDTOKENDDEFAULT003"
ECS_AUTH = "tokend-test-ecs-auth"

ECS_ONLY_CONF = RDS_CONF.replace("region = us-east-1", "region = us-east-1\ncredentials = ecs")
NO_CREDS_CONF = RDS_CONF.replace("startup_timeout = 20s", "startup_timeout = 1s")


def served_token(tokend, timeout=15):
    """The first 200 answer for db (polled: credentials may be late)."""
    def ok():
        status, body = tokend.get_json("/v1/tokens/db")
        return body if status == 200 else None
    return harness.wait_for(ok, timeout, message=f"db never served:\n{tokend.log_text()}")


def check_token(tokend, akid, secret, session_token):
    body = served_token(tokend)
    token = body["token"]
    assert token_akid(token) == akid
    verify_token(token, secret, "rds-db", REGION, session_token)
    logged = [secret, token_params(token)[1]["X-Amz-Signature"]]
    assert_no_secret_logged(tokend, logged + ([session_token] if session_token else []))
    return token


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def provider_line(tokend, provider):
    return f"AWS credentials from {provider}:" in tokend.log_text()


@pytest.mark.parametrize("session_token", [None, ENV_SESSION_TOKEN], ids=["static", "session"])
def test_env_keys(tokend_factory, imds, session_token):
    creds = (STATIC_AKID, STATIC_SECRET) + ((session_token,) if session_token else ())
    # IMDS answers too: env comes first and must win.
    env = harness.aws_env(static=creds, imds=imds)
    tokend = tokend_factory(RDS_CONF, env=env)
    check_token(tokend, STATIC_AKID, STATIC_SECRET, session_token)
    assert provider_line(tokend, "env")
    assert imds.calls() == 0


def test_profile_file(tokend_factory, tmp_path, imds):
    path = tmp_path / "shared-credentials"
    path.write_text(f"[default]\naws_access_key_id = {DEFAULT_AKID}\n"
                    f"aws_secret_access_key = not-this-one\n\n"
                    f"[tokend-test]\naws_access_key_id = {PROFILE_AKID}\n"
                    f"aws_secret_access_key = {PROFILE_SECRET}\n")
    env = harness.aws_env(imds=imds)
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(path), AWS_PROFILE="tokend-test",
               AWS_CONFIG_FILE=str(tmp_path / "no-such-config"))
    tokend = tokend_factory(RDS_CONF, env=env)
    check_token(tokend, PROFILE_AKID, PROFILE_SECRET, None)
    assert provider_line(tokend, "profile")
    assert imds.calls() == 0


def test_web_identity(tokend_factory, tmp_path, sts, imds):
    env = harness.aws_env(imds=imds)
    env.update(sts.env(tmp_path))
    tokend = tokend_factory(RDS_CONF, env=env)
    cred = sts.last_credentials()
    assert cred is not None, "STS issued nothing"
    check_token(tokend, cred["akid"], cred["secret"], cred["token"])
    assert provider_line(tokend, "web_identity")
    # The emulator only answers when the token file's content was sent.
    bodies = [r["body"] for r in sts.requests()]
    assert any("WebIdentityToken=tokend-test-web-identity-token" in b for b in bodies)
    assert imds.calls() == 0


def test_web_identity_failure_stops_the_chain(tokend_factory, tmp_path, sts, imds):
    """A wrong identity token is an error to report, not a reason to pick
    up the instance role further down the chain."""
    env = harness.aws_env(imds=imds)
    env.update(sts.env(tmp_path, token="not-the-expected-token"))
    tokend = tokend_factory(RDS_CONF, env=env, wait_ready=False)
    harness.wait_for(lambda: "InvalidIdentityToken" in tokend.log_text(), 15,
                     message=f"no STS error logged:\n{tokend.log_text()}")
    status, body = tokend.get_json("/v1/tokens/db")
    assert status == 503, body
    assert imds.calls() == 0 and imds.state()["tokens"] == 0
    assert not sts.issued()


def test_ecs_relative_uri(tokend_factory, tmp_path, creds_file, node_peers):
    with harness.ECS(log_dir=tmp_path, credentials_file=creds_file) as ecs:
        env = {"AWS_REGION": REGION, "TOKEND_ECS_ENDPOINT": ecs.url,
               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": ecs.relative_uri}
        tokend = tokend_factory(RDS_CONF, env=env)
        cred = ecs.last_credentials()
        check_token(tokend, cred["akid"], cred["secret"], cred["token"])
        assert provider_line(tokend, "ecs")
        assert all(r["path"] == ecs.relative_uri for r in ecs.requests())
        tokend.stop()  # while its endpoint is still up (the factory checks the exit)


def test_ecs_full_uri_with_token_file(tokend_factory, tmp_path, ecs):
    token_file = tmp_path / "ecs-auth-token"
    token_file.write_text(ECS_AUTH + "\n")
    env = harness.aws_env()
    # The file wins over the variable (the agent rotates the file).
    env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=ecs.full_uri,
               AWS_CONTAINER_AUTHORIZATION_TOKEN="stale-token",
               AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token_file))
    tokend = tokend_factory(RDS_CONF, env=env)
    cred = ecs.last_credentials()
    assert cred is not None, f"ECS issued nothing: {ecs.requests()}"
    check_token(tokend, cred["akid"], cred["secret"], cred["token"])
    auths = {r["headers"].get("authorization") for r in ecs.requests()}
    assert auths == {ECS_AUTH}
    assert_no_secret_logged(tokend, [ECS_AUTH])


def test_imds_v2(tokend_factory, imds):
    tokend = tokend_factory(RDS_CONF, env=harness.aws_env(imds=imds))
    cred = imds.last_credentials()
    check_token(tokend, cred["akid"], cred["secret"], cred["token"])
    assert provider_line(tokend, "imds")
    state = imds.state()
    assert state["tokens"] >= 1, "no IMDSv2 session token was asked for"
    gets = [r for r in imds.requests() if r["method"] == "GET"]
    assert gets and all(r["headers"].get("x-aws-ec2-metadata-token") for r in gets)


def test_single_provider_ignores_env_keys(tokend_factory, ecs):
    env = harness.aws_env(ecs=ecs, static=(STATIC_AKID, STATIC_SECRET))
    tokend = tokend_factory(ECS_ONLY_CONF, env=env)
    cred = ecs.last_credentials()
    assert cred is not None, "credentials = ecs did not ask the container endpoint"
    token = check_token(tokend, cred["akid"], cred["secret"], cred["token"])
    assert STATIC_AKID not in token
    assert not provider_line(tokend, "env")


def test_no_provider(tokend_factory):
    port = closed_port()
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{port}"}
    tokend = tokend_factory(NO_CREDS_CONF, env=env, wait_ready=False)

    def chain_logged():
        lines = [l for l in tokend.log_text().splitlines() if "no AWS credentials" in l]
        return lines[0] if lines else None
    line = harness.wait_for(chain_logged, 15,
                            message=f"no chain summary:\n{tokend.log_text()}")
    # Every provider, in order, each with its reason.
    at = [line.find(p) for p in ("env: ", "profile ", "web_identity: ", "ecs: ", "imds: ")]
    assert -1 not in at and at == sorted(at), line
    assert str(port) in line[at[-1]:] or "refused" in line[at[-1]:].lower(), line

    # startup_timeout (1 s) makes it READY for systemd, but never ready.
    tokend.wait_ready(10)
    assert tokend.running
    status, body = tokend.get_json("/readyz")
    assert status == 503, body
    status, body = tokend.get_json("/v1/tokens/db")
    assert status == 503, body
    assert body and body.get("error") and body.get("message"), body
    # The reason names the cause, not just "unavailable".
    assert "credentials" in body["message"].lower(), body
    status, _ = tokend.get_json("/healthz")
    assert status == 200
    assert tokend.running
    assert tokend.stop(signal.SIGTERM) == 0
