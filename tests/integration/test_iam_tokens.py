"""RDS and ElastiCache IAM tokens served by tokend, checked for validity.

Every token is verified here with an independent SigV4 presign check
(stdlib hmac/hashlib) against the secret the emulator issued for the
access key the token names: a well-formed token signed with the wrong key,
the wrong scope or the wrong host fails. The long test runs tokend on ECS
credentials living 20 s and polls the token for ~45 s: a token must never
outlive its credentials, and new credentials must be signed in at once.
"""

import calendar
import hashlib
import hmac
import time
from datetime import datetime, timezone
from urllib.parse import quote, unquote

import pytest

import harness

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
REGION = "us-east-1"
CRED_LIFETIME_S = 20
WATCH_S = 45
# How soon after tokend fetched new credentials the served token must be
# signed with them (the token itself would live on for ~10 s more).
ROTATION_LAG_MAX_S = 3.0
# X-Amz-Date has whole seconds; polling and scheduling add a little.
DATE_SLACK_S = 3.0

RDS_CONF = """
[daemon]
socket = {socket}
startup_timeout = 20s

[aws]
region = us-east-1

[token "db"]
type = rds
host = db.example.internal
port = 5432
user = app
"""

MIXED_CONF = RDS_CONF + """
[token "cache"]
type = elasticache
cache = sessions
user = app-web
serverless = true
region = eu-west-1

[token "cache-rg"]
type = elasticache
cache = Orders-RG
user = svc
"""

# wire-formats.md §2.5 (AWS SDK for Java v2 DefaultRdsUtilitiesTest).
VECTOR_RDS_TOKEN = (
    "host.us-east-1.amazonaws.com:3306/?Action=connect&DBUser=mySQLUser"
    "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=access_key%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request"
    "&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=87ab58107ef49f1c311a412f98b7f976b0b5152ffb559f0d36c6c9a0c5e0e362")
# wire-formats.md §3.4, the serverless example.
VECTOR_EC_TOKEN = (
    "my-cache/?Action=connect&User=user123&ResourceType=ServerlessCache"
    "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=accessKey%2F20240802%2Feu-west-1%2Felasticache%2Faws4_request"
    "&X-Amz-Date=20240802T121150Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=5dda5db919b1337db6596b2a608924bc10197fb39289b933b60bdb114d5a70dc")


# An independent SigV4 presign verifier (wire-formats.md §1.3-1.8).

def _uri_encode(s):
    return quote(s, safe="-_.~")


def parse_token(token):
    """host and the decoded query parameters (a list, wire order) of an IAM
    token "HOST[:PORT]/?QUERY"."""
    host, sep, query = token.partition("/?")
    assert sep, f"token has no '/?': {token[:60]}..."
    params = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        params.append((unquote(name), unquote(value)))
    return host, params


def token_params(token):
    host, params = parse_token(token)
    names = [n for n, _ in params]
    assert len(names) == len(set(names)), f"repeated parameters in {names}"
    return host, dict(params)


def amz_date_epoch(value):
    return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))


def expected_signature(token, secret):
    host, params = parse_token(token)
    signed = sorted((_uri_encode(n), _uri_encode(v)) for n, v in params
                    if n != "X-Amz-Signature")
    query = "&".join(f"{n}={v}" for n, v in signed)
    p = dict(params)
    canonical = "\n".join(["GET", "/", query, f"host:{host.lower()}", "",
                           p["X-Amz-SignedHeaders"], EMPTY_SHA256])
    akid, date, region, service, term = p["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/{term}"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", p["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, term):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify_token(token, secret, service, region, session_token=None):
    """Asserts token is a presigned IAM token valid for these credentials."""
    host, p = token_params(token)
    assert p["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert p["X-Amz-Expires"] == "900"
    assert p["X-Amz-SignedHeaders"] == "host"
    akid, date, scope_region, scope_service, term = p["X-Amz-Credential"].split("/")
    assert (scope_region, scope_service, term) == (region, service, "aws4_request")
    assert p["X-Amz-Date"][:8] == date
    assert p.get("X-Amz-Security-Token") == session_token
    want = expected_signature(token, secret)
    assert hmac.compare_digest(p["X-Amz-Signature"], want), \
        f"signature of the token for {akid} does not verify"
    return host, p


def token_akid(token):
    return token_params(token)[1]["X-Amz-Credential"].split("/")[0]


def epoch_s(value):
    """expires_at as epoch seconds, whether the API gives seconds, ms or
    an ISO 8601 string."""
    if isinstance(value, str):
        v = value.replace("Z", "+00:00")
        return datetime.fromisoformat(v).astimezone(timezone.utc).timestamp()
    value = float(value)
    return value / 1000 if value > 1e11 else value


def get_token(tokend, name):
    status, body = tokend.get_json(f"/v1/tokens/{name}")
    assert status == 200, f"GET /v1/tokens/{name}: {status} {body}"
    return body


def assert_no_secret_logged(tokend, secrets):
    log = tokend.log_text()
    for s in secrets:
        assert s not in log, "a secret or token value appears in tokend's log"


# The verifier itself, on AWS's published vector: it must accept it and
# reject any tampering, or the checks below would prove nothing.

def test_verifier_accepts_the_aws_vectors():
    verify_token(VECTOR_RDS_TOKEN, "secret_key", "rds-db", "us-east-1")
    verify_token(VECTOR_EC_TOKEN, "secretKey", "elasticache", "eu-west-1")


@pytest.mark.parametrize("old,new", [
    ("DBUser=mySQLUser", "DBUser=mySQLUsr"),
    ("host.us-east-1", "hast.us-east-1"),
    (":3306/", ":3307/"),
    ("X-Amz-Date=20161107T173933Z", "X-Amz-Date=20161107T173934Z"),
    ("Action=connect", "Action=connect&User=x"),
])
def test_verifier_rejects_tampering(old, new):
    bad = VECTOR_RDS_TOKEN.replace(old, new)
    assert bad != VECTOR_RDS_TOKEN
    with pytest.raises(AssertionError):
        verify_token(bad, "secret_key", "rds-db", "us-east-1")


def test_verifier_rejects_another_secret():
    with pytest.raises(AssertionError):
        verify_token(VECTOR_RDS_TOKEN, "secret_kez", "rds-db", "us-east-1")


# tokend's tokens.

def test_rds_and_elasticache_tokens_verify(tokend_factory, ecs):
    tokend = tokend_factory(MIXED_CONF, env=harness.aws_env(ecs=ecs))
    now = time.time()
    db, cache, rg = (get_token(tokend, n) for n in ("db", "cache", "cache-rg"))
    issued = {c["akid"]: c for c in ecs.issued()}
    assert issued, "tokend never asked the ECS emulator"

    for body in (db, cache, rg):
        akid = token_akid(body["token"])
        assert akid in issued, f"{body['name']}: signed with unknown key {akid}"
    cred = issued[token_akid(db["token"])]

    host, p = verify_token(db["token"], cred["secret"], "rds-db", REGION, cred["token"])
    assert host == "db.example.internal:5432"
    assert (p["Action"], p["DBUser"]) == ("connect", "app")
    assert "ResourceType" not in p
    assert (db["user"], db["host"], int(db["port"])) == ("app", "db.example.internal", 5432)

    # Per-token region overrides [aws] region.
    host, p = verify_token(cache["token"], cred["secret"], "elasticache", "eu-west-1",
                           cred["token"])
    assert host == "sessions"
    assert (p["Action"], p["User"], p["ResourceType"]) == \
        ("connect", "app-web", "ServerlessCache")
    assert (cache["cache"], cache["user"], cache["serverless"]) == \
        ("sessions", "app-web", True)

    host, p = verify_token(rg["token"], cred["secret"], "elasticache", REGION, cred["token"])
    assert host.lower() == "orders-rg"
    assert "ResourceType" not in p, "a node-based cache must not name ServerlessCache"
    assert (rg["cache"].lower(), rg["user"], rg["serverless"]) == ("orders-rg", "svc", False)

    for body in (db, cache, rg):
        assert body["type"] in ("rds", "elasticache")
        signed = amz_date_epoch(token_params(body["token"])[1]["X-Amz-Date"])
        assert abs(signed - now) <= DATE_SLACK_S + 1, \
            f"{body['name']}: X-Amz-Date {signed} is not near now {now:.0f}"
        exp = epoch_s(body["expires_at"])
        assert now < exp <= min(signed + 900, cred["expiration"] / 1000)
    assert_no_secret_logged(tokend, [cred["secret"], cred["token"],
                                     token_params(db["token"])[1]["X-Amz-Signature"]])


def test_static_keys_token_has_no_security_token(tokend_factory):
    akid, secret = "AKIDTOKENDSTATIC0001", "tokend/static+secret=0001"
    tokend = tokend_factory(RDS_CONF, env=harness.aws_env(static=(akid, secret)))
    body = get_token(tokend, "db")
    verify_token(body["token"], secret, "rds-db", REGION, None)
    assert token_akid(body["token"]) == akid
    # Long-term keys do not cap the token: it lives its full 900 s.
    signed = amz_date_epoch(token_params(body["token"])[1]["X-Amz-Date"])
    assert epoch_s(body["expires_at"]) == pytest.approx(signed + 900, abs=1)
    assert_no_secret_logged(tokend, [secret])


def _observe(tokend, seconds):
    """Polls GET /v1/tokens/db for seconds; returns every answer as
    (local time, status, body)."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, body = tokend.get_json("/v1/tokens/db")
        seen.append((time.time(), status, body))
        time.sleep(0.05)  # a polling client's pace, not a wait for a condition
    return seen


def test_tokens_follow_rotating_credentials(tokend_factory, ecs):
    ecs.set_lifetime(CRED_LIFETIME_S)
    # min_remaining follows the token's 15 min (60 s): 20 s credentials
    # need a margin that fits them.
    tokend = tokend_factory(RDS_CONF + "min_remaining = 1s\n", env=harness.aws_env(ecs=ecs))
    seen = _observe(tokend, WATCH_S)
    end = time.time()
    issued = {c["akid"]: c for c in ecs.issued()}

    failures = [(t, s, b) for t, s, b in seen if s != 200]
    assert not failures, f"{len(failures)} of {len(seen)} polls failed, first: {failures[0]}"

    first_seen = {}
    for t, _, body in seen:
        token = body["token"]
        akid = token_akid(token)
        assert akid in issued, f"token signed with a key the emulator never issued: {akid}"
        cred = issued[akid]
        cred_exp = cred["expiration"] / 1000
        _, p = verify_token(token, cred["secret"], "rds-db", REGION, cred["token"])
        exp = epoch_s(body["expires_at"])
        signed = amz_date_epoch(p["X-Amz-Date"])
        assert exp <= cred_exp, \
            f"expires_at {exp} is after the credentials' Expiration {cred_exp}"
        assert exp <= signed + 900
        assert t < cred_exp, f"served at {t:.3f} with credentials expired at {cred_exp}"
        assert signed <= t + 1, f"X-Amz-Date {signed} is in the future at {t:.3f}"
        key = (akid, p["X-Amz-Date"])
        if key not in first_seen:
            first_seen[key] = t
            assert t - signed <= DATE_SLACK_S, \
                f"a new token signed at {signed} first served at {t:.3f}"

    akids_seen = {akid for akid, _ in first_seen}
    # 20 s credentials are refreshed at half their life: ~4 sets in 45 s.
    assert len(akids_seen) >= 3, f"only {len(akids_seen)} credential sets in {WATCH_S} s"
    minted = sorted((c["expiration"] / 1000 - CRED_LIFETIME_S, akid)
                    for akid, c in issued.items())
    lags = []
    for t_mint, akid in minted[1:]:
        if t_mint > end - ROTATION_LAG_MAX_S:
            continue  # too late to be seen within the window
        assert akid in akids_seen, f"credentials {akid} fetched at {t_mint:.3f} never used"
        first = min(t for (a, _), t in first_seen.items() if a == akid)
        lags.append(first - t_mint)
    assert lags, "no credential rotation happened during the window"
    assert max(lags) < ROTATION_LAG_MAX_S, f"re-signing lags: {lags}"
    print(f"rotations: {len(lags)}, lag max {max(lags):.3f} s, polls {len(seen)}")
    assert_no_secret_logged(tokend, [c["secret"] for c in issued.values()] +
                            [c["token"] for c in issued.values()])
