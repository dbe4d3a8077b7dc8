"""Tests of the test peers themselves: if they are wrong, every tokend test
built on them proves nothing."""

import base64
import datetime
import hashlib
import hmac
import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

import harness

STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


def node(*args, timeout=60):
    return subprocess.run(["node", *map(str, args)], cwd=harness.TESTS_DIR,
                          capture_output=True, text=True, timeout=timeout)


def jwt_payload(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def sign_ssm(port, target, body, akid, secret, token=None, when=None, region="us-east-1"):
    """Independent SigV4 signer (stdlib only), wire-formats.md §1."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "content-type": "application/x-amz-json-1.1",
        "host": f"127.0.0.1:{port}",
        "x-amz-date": amz_date,
        "x-amz-target": f"AmazonSSM.{target}",
    }
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join([
        "POST", "/", "",
        "".join(f"{n}:{headers[n]}\n" for n in names),
        ";".join(names),
        hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{amz_date[:8]}/{region}/ssm/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, "ssm", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={akid}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={sig}")
    return headers


def ssm_call(ssm, target, payload, akid=None, secret=None, token=None, when=None,
             mutate=None):
    body = json.dumps(payload).encode()
    headers = sign_ssm(ssm.port, target, body, akid or ssm.access_key_id,
                       secret or ssm.secret_access_key, token, when)
    if mutate:
        body = mutate(headers, body)
    status, hdrs, data = ssm.request("POST", "/", body=body, headers=headers)
    return status, hdrs, json.loads(data)


# --- issuer -----------------------------------------------------------------

AUTH_METHODS = ["post_json", "post_form", "basic"]


@pytest.mark.parametrize("auth", AUTH_METHODS)
def test_issuer_rejects_wrong_secret(issuer, auth):
    status, body = issuer.fetch_token(auth, client_secret="wrong")
    assert status == 401
    assert body == {"error": "access_denied", "error_description": "Unauthorized"}
    status, body = issuer.fetch_token(auth, client_id="someone-else")
    assert status == 401
    assert issuer.count() == 0
    assert issuer.token_requests() == 2


@pytest.mark.parametrize("auth", AUTH_METHODS)
def test_issuer_accepts_right_secret(issuer, auth):
    status, body = issuer.fetch_token(auth, audience="https://api.test/", scope="read:a")
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "read:a"
    assert jwt_payload(body["access_token"])["aud"] == "https://api.test/"
    last = issuer.requests()[-1]
    expected_ct = "application/json" if auth == "post_json" else "application/x-www-form-urlencoded"
    assert last["content_type"] == expected_ct
    assert ("authorization" in last["headers"]) == (auth == "basic")
    assert last["status"] == 200
    assert issuer.count() == 1
    assert issuer.tokens() == [body["access_token"]]


def test_issuer_basic_and_post_together_is_invalid(issuer):
    raw = base64.b64encode(f"{issuer.client_id}:{issuer.client_secret}".encode()).decode()
    body = json.dumps({"grant_type": "client_credentials", "client_id": issuer.client_id,
                       "client_secret": issuer.client_secret})
    status, _, data = issuer.request("POST", "/token", body=body, headers={
        "Authorization": f"Basic {raw}", "Content-Type": "application/json"})
    assert status == 400
    assert json.loads(data)["error"] == "invalid_request"


def test_issued_token_verifies_against_jwks(issuer):
    status, body = issuer.fetch_token()
    assert status == 200
    res = node("servers/verify-jwt.mjs", body["access_token"], issuer.jwks_url, issuer.issuer_url)
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert payload["iss"] == issuer.issuer_url
    assert payload["exp"] - payload["iat"] == 3600
    assert payload["azp"] == issuer.client_id


def test_verify_jwt_rejects_tampered_token(issuer):
    _, body = issuer.fetch_token()
    head, payload, sig = body["access_token"].split(".")
    claims = jwt_payload(body["access_token"])
    claims["exp"] += 86400
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    res = node("servers/verify-jwt.mjs", f"{head}.{forged}.{sig}", issuer.jwks_url)
    assert res.returncode == 1
    res = node("servers/verify-jwt.mjs", body["access_token"], issuer.jwks_url, "http://other")
    assert res.returncode == 1


def test_issuer_expires_in_control(issuer):
    issuer.set_expires_in(120)
    _, body = issuer.fetch_token()
    claims = jwt_payload(body["access_token"])
    assert body["expires_in"] == 120
    assert claims["exp"] - claims["iat"] == 120
    issuer.set_expires_in(600, jwt_exp=60)
    _, body = issuer.fetch_token()
    claims = jwt_payload(body["access_token"])
    assert body["expires_in"] == 600
    assert claims["exp"] - claims["iat"] == 60


def test_issuer_rate_limit_with_retry_after(issuer):
    issuer.fault("rate_limit", count=1, retry_after=7)
    status, _, data = issuer.request("POST", "/token", body={
        "grant_type": "client_credentials", "client_id": issuer.client_id,
        "client_secret": issuer.client_secret})
    assert status == 429
    assert json.loads(data)["error"] == "too_many_requests"
    assert issuer.requests()[-1]["status"] == 429
    status, body = issuer.fetch_token()
    assert status == 200
    state = issuer.state()
    assert (state["token_requests"], state["tokens_issued"], state["faults"]) == (2, 1, [])


def test_issuer_rate_limit_headers(issuer):
    issuer.fault("rate_limit", count=1, retry_after=7)
    _, headers, _ = issuer.request("POST", "/token", body={"grant_type": "client_credentials"})
    assert headers["retry-after"] == "7"
    assert headers["x-ratelimit-remaining"] == "0"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_issuer_status_fault_until_cleared(issuer, status):
    issuer.fault("status", status=status)
    for _ in range(3):
        assert issuer.fetch_token()[0] == status
    issuer.clear_faults()
    assert issuer.fetch_token()[0] == 200
    assert issuer.token_requests() == 4


@pytest.mark.parametrize("kind", ["invalid_json", "missing_token"])
def test_issuer_bad_bodies(issuer, kind):
    issuer.fault(kind, count=1)
    status, body = issuer.fetch_token()
    assert status == 200
    if kind == "invalid_json":
        assert isinstance(body, bytes)
    else:
        assert "access_token" not in body and body["expires_in"] == 3600
    assert issuer.fetch_token()[0] == 200
    assert issuer.count() == 1


def test_issuer_request_timestamps_and_restart(issuer):
    issuer.fetch_token()
    issuer.fetch_token()
    times = [r["t"] for r in issuer.requests()]
    assert len(times) == 2 and times[0] <= times[1]
    port = issuer.port
    issuer.restart()
    assert issuer.port == port
    assert issuer.fetch_token()[0] == 200


# --- SSM --------------------------------------------------------------------

def test_ssm_passes_the_aws_sdk_check(ssm):
    res = node("servers/ssm-sdk-check.mjs", ssm.port,
               f"{ssm.access_key_id}:{ssm.secret_access_key}", timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all expectations held" in res.stdout
    assert ssm.counts("PutParameter")["ParameterAlreadyExists"] == 1
    # The check's rate-limit part: the SDK's standard retries were throttled
    # at least once, and it lifted the limits when done.
    assert ssm.counts("GetParameter").get("throttled", 0) >= 1
    assert all(b["tps"] is None for b in ssm.limits().values())


def test_ssm_rate_limits(tmp_path, creds_file, node_peers):
    ssm = harness.SSM(log_dir=tmp_path, credentials_file=creds_file,
                      get_tps=0.5, get_burst=3, put_tps=0.5)
    try:
        limits = ssm.limits()
        assert (limits["get"]["tps"], limits["get"]["burst"]) == (0.5, 3)
        assert (limits["put"]["tps"], limits["put"]["burst"]) == (0.5, 1)
        assert "DescribeParameters" in limits["get"]["ops"]
        assert "DeleteParameter" in limits["put"]["ops"]
        status, _, _ = ssm_call(ssm, "PutParameter", {"Name": "/t/a", "Value": "1", "Type": "String"})
        assert status == 200
        # The burst: three Get* calls pass, whichever operation, the next one not.
        for op, payload in [("GetParameter", {"Name": "/t/a"}), ("GetParameters", {"Names": ["/t/a"]}),
                            ("GetParameter", {"Name": "/t/a"})]:
            assert ssm_call(ssm, op, payload)[0] == 200
        status, headers, body = ssm_call(ssm, "GetParameters", {"Names": ["/t/a"]})
        assert (status, body) == (400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
        assert headers["x-amzn-errortype"] == "ThrottlingException"
        assert headers["content-type"] == "application/x-amz-json-1.1"
        status, _, body = ssm_call(ssm, "DeleteParameter", {"Name": "/t/a"})
        assert (status, body["__type"]) == (400, "ThrottlingException")
        # A bad signature is still a bad signature under a limit.
        status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/a"}, mutate=tamper_signature)
        assert body["__type"] == "InvalidSignatureException"
        assert ssm.counts("GetParameters") == {"ok": 1, "throttled": 1}
        assert ssm.counts("DeleteParameter") == {"throttled": 1}
        limits = ssm.limits()
        assert (limits["get"]["ok"], limits["get"]["throttled"]) == (3, 1)
        # At run time: a higher limit, then none.
        ssm.set_limits(get_tps=1000, get_burst=5)
        assert [ssm_call(ssm, "GetParameter", {"Name": "/t/a"})[0] for _ in range(5)] == [200] * 5
        ssm.set_limits(get_tps=None, put_tps=0)
        assert [ssm_call(ssm, "GetParameter", {"Name": "/t/a"})[0] for _ in range(20)] == [200] * 20
        assert ssm_call(ssm, "DeleteParameter", {"Name": "/t/a"})[0] == 200
    finally:
        ssm.stop()


def test_ssm_accepts_independent_signer(ssm):
    status, headers, body = ssm_call(ssm, "PutParameter",
                                     {"Name": "/t/p", "Value": "v", "Type": "SecureString"})
    assert status == 200, body
    assert body == {"Version": 1, "Tier": "Standard"}
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert "x-amzn-requestid" in headers and "date" in headers
    assert ssm.parameter("/t/p")["versions"][0]["value"] == "v"


def tamper_signature(headers, body):
    auth = headers["authorization"]
    last = auth[-1]
    headers["authorization"] = auth[:-1] + ("0" if last != "0" else "1")
    return body


def tamper_body(headers, body):
    return body.replace(b"/t/a", b"/t/b")


def drop_auth(headers, body):
    del headers["authorization"]
    return body


def garble_auth(headers, body):
    headers["authorization"] = headers["authorization"].split(",")[0]
    return body


@pytest.mark.parametrize("mutate,code", [
    (tamper_signature, "InvalidSignatureException"),
    (tamper_body, "InvalidSignatureException"),
    (drop_auth, "MissingAuthenticationTokenException"),
    (garble_auth, "IncompleteSignatureException"),
])
def test_ssm_rejects_bad_signatures(ssm, mutate, code):
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/a"}, mutate=mutate)
    assert status == 400
    assert body["__type"] == code
    assert ssm.counts("GetParameter") == {code: 1}


def test_ssm_unknown_key(ssm):
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/a"}, akid="AKIDUNKNOWN")
    assert (status, body["__type"]) == (400, "UnrecognizedClientException")


@pytest.mark.parametrize("offset,prefix", [
    (20 * 60, "Signature expired: "),
    (-20 * 60, "Signature not yet current: "),
])
def test_ssm_clock_window(ssm, offset, prefix):
    ssm.set_clock_offset(offset)
    status, headers, body = ssm_call(ssm, "GetParameter", {"Name": "/t/a"})
    assert (status, body["__type"]) == (400, "InvalidSignatureException")
    assert body["message"].startswith(prefix)
    server = datetime.datetime.strptime(headers["date"], "%a, %d %b %Y %H:%M:%S GMT")
    skew = server - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs(skew.total_seconds() - offset) < 60
    # Signing at the server's time is accepted: that is how skew is corrected.
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset)
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/a"}, when=when)
    assert body["__type"] == "ParameterNotFound"


def test_ssm_faults(ssm):
    ssm.fault("throttle", count=1, op="GetParameter")
    ssm.fault("too_many_updates", count=1)
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/a"})
    assert (status, body) == (400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
    status, _, body = ssm_call(ssm, "PutParameter", {"Name": "/t/a", "Value": "1", "Type": "String"})
    assert body["__type"] == "TooManyUpdates" and "Message" in body
    status, _, body = ssm_call(ssm, "PutParameter", {"Name": "/t/a", "Value": "1", "Type": "String"})
    assert status == 200
    ssm.fault("status", status=500, count=1)
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/a"})
    assert (status, body["__type"]) == (500, "InternalServerError")
    ssm.fault("access_denied", op="GetParameter")
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/a"})
    assert body["__type"] == "AccessDeniedException"
    ssm.clear_faults()
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/a"})
    assert body["Parameter"]["Value"] == "1"


def test_ssm_direct_parameter_control(ssm):
    ssm.put_parameter("/t/c", '{"v":1}')
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/c", "WithDecryption": True})
    assert body["Parameter"]["Value"] == '{"v":1}'
    assert body["Parameter"]["Type"] == "SecureString"
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/c"})
    assert body["Parameter"]["Value"] != '{"v":1}'
    ssm.corrupt("/t/c")
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/c", "WithDecryption": True})
    assert body["Parameter"]["Value"] != '{"v":1}' and body["Parameter"]["Version"] == 1
    ssm.delete_parameter("/t/c")
    assert ssm.parameter("/t/c") is None


# --- AWS credential sources -------------------------------------------------

def test_ecs_full_uri_auth_and_ssm_accepts_its_credentials(ecs, ssm):
    status, _, _ = ecs.request("GET", ecs.path)
    assert status == 401
    status, _, _ = ecs.request("GET", ecs.path, headers={"Authorization": "wrong"})
    assert status == 401
    status, _, data = ecs.request("GET", ecs.path, headers={"Authorization": ecs.auth_token})
    assert status == 200
    cred = json.loads(data)
    assert cred["AccessKeyId"].startswith("ASIA")
    expiry = datetime.datetime.strptime(cred["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    left = expiry - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert 3500 < left.total_seconds() <= 3600
    assert ecs.calls() == 3 and len(ecs.issued()) == 1

    args = dict(akid=cred["AccessKeyId"], secret=cred["SecretAccessKey"])
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/x"}, token=cred["Token"], **args)
    assert body["__type"] == "ParameterNotFound"
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/x"}, **args)
    assert body["__type"] == "UnrecognizedClientException"
    ssm.set_clock_offset(2 * 3600)
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/x"}, token=cred["Token"],
                               when=when, **args)
    assert body["__type"] == "ExpiredTokenException"


def test_ecs_lifetime_and_faults(ecs):
    ecs.set_lifetime(900)
    ecs.fault("status", count=1, status=500)
    ecs.fault("malformed", count=1)
    auth = {"Authorization": ecs.auth_token}
    assert ecs.request("GET", ecs.path, headers=auth)[0] == 500
    status, _, data = ecs.request("GET", ecs.path, headers=auth)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(data)
    status, _, data = ecs.request("GET", ecs.path, headers=auth)
    cred = json.loads(data)
    expiry = datetime.datetime.strptime(cred["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    left = expiry - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert 840 < left.total_seconds() <= 900
    assert ecs.request("GET", "/other", headers=auth)[0] == 404
    ecs.fault("down", count=1)
    with pytest.raises((ConnectionError, harness.http.client.HTTPException)):
        ecs.request("GET", ecs.path, headers=auth)
    assert ecs.request("GET", ecs.path, headers=auth)[0] == 200


def test_imds_token_flow(imds):
    base = "/latest/meta-data/iam/security-credentials/"
    assert imds.request("PUT", "/latest/api/token")[0] == 400
    assert imds.request("GET", base)[0] == 401
    status, headers, token = imds.request(
        "PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    assert status == 200
    auth = {"X-aws-ec2-metadata-token": token.decode()}
    assert imds.request("GET", base, headers={"X-aws-ec2-metadata-token": "bogus"})[0] == 401
    status, _, role = imds.request("GET", base, headers=auth)
    assert (status, role.decode()) == (200, imds.role)
    status, _, data = imds.request("GET", base + imds.role, headers=auth)
    cred = json.loads(data)
    assert cred["Code"] == "Success" and cred["Type"] == "AWS-HMAC"
    assert {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} <= cred.keys()
    assert imds.request("GET", base + "other-role", headers=auth)[0] == 404
    status, _, region = imds.request("GET", "/latest/meta-data/placement/region", headers=auth)
    assert region.decode() == "us-east-1"
    imds.expire_sessions()
    assert imds.request("GET", base, headers=auth)[0] == 401
    assert imds.state()["tokens"] == 1 and imds.calls() == 1


def sts_call(sts, **params):
    import urllib.parse
    fields = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
              "RoleArn": "arn:aws:iam::123456789012:role/my-role", "RoleSessionName": "tokend",
              "WebIdentityToken": "tokend-test-web-identity-token", **params}
    fields = {k: v for k, v in fields.items() if v is not None}
    status, _, data = sts.request("POST", "/", body=urllib.parse.urlencode(fields), headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    return status, ET.fromstring(data)


def test_sts_assume_role_with_web_identity(sts, ssm):
    status, root = sts_call(sts, DurationSeconds="900")
    assert status == 200
    assert root.tag == STS_NS + "AssumeRoleWithWebIdentityResponse"
    creds = root.find(f"{STS_NS}AssumeRoleWithWebIdentityResult/{STS_NS}Credentials")
    akid = creds.findtext(STS_NS + "AccessKeyId")
    expiry = datetime.datetime.strptime(creds.findtext(STS_NS + "Expiration"), "%Y-%m-%dT%H:%M:%SZ")
    left = expiry - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert akid.startswith("ASIA") and 840 < left.total_seconds() <= 900
    arn = root.findtext(f".//{STS_NS}AssumedRoleUser/{STS_NS}Arn")
    assert arn.endswith("assumed-role/my-role/tokend")
    status, _, body = ssm_call(ssm, "GetParameter", {"Name": "/t/x"}, akid=akid,
                               secret=creds.findtext(STS_NS + "SecretAccessKey"),
                               token=creds.findtext(STS_NS + "SessionToken"))
    assert body["__type"] == "ParameterNotFound"


@pytest.mark.parametrize("params,code", [
    ({"WebIdentityToken": "wrong"}, "InvalidIdentityToken"),
    ({"WebIdentityToken": None}, "ValidationError"),
    ({"DurationSeconds": "60"}, "ValidationError"),
    ({"Action": "AssumeRole"}, "InvalidAction"),
])
def test_sts_errors(sts, params, code):
    status, root = sts_call(sts, **params)
    assert status == 400
    assert root.tag == STS_NS + "ErrorResponse"
    assert root.findtext(f"{STS_NS}Error/{STS_NS}Code") == code
    assert sts.issued() == []


def test_aws_env_points_at_the_emulators(ssm, ecs, imds, sts, tmp_path):
    env = harness.aws_env(ssm=ssm, ecs=ecs, imds=imds, static=ssm)
    assert env["AWS_ENDPOINT_URL_SSM"] == ssm.endpoint
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == ecs.full_uri
    assert env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == ecs.auth_token
    assert env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] == imds.url
    assert env["AWS_ACCESS_KEY_ID"] == ssm.access_key_id
    web = sts.env(tmp_path)
    with open(web["AWS_WEB_IDENTITY_TOKEN_FILE"]) as f:
        token = f.read().strip()
    status, root = sts_call(sts, WebIdentityToken=token)
    assert status == 200
