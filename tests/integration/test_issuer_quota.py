"""Auth0's quota headers (issue 13): Auth0-Client-Quota-Limit and
Auth0-Organization-Quota-Limit on the issuer's answers show in /v1/tokens
and /metrics, and crossing 80 % used is warned about once.

The test issuer counts the tokens it issues against the quotas it is told
and answers with the headers in Auth0's format, b=NAME;q=Q;r=LEFT;t=S.
"""
import os
import time

import harness
from harness import wait_for
from test_metrics import parse, scrape, value

CONF = """
[daemon]
socket = {{socket}}
admin_uids = {uid}

[token "api"]
type = oauth2
token_url = {token_url}
client_id = {client_id}
client_secret = {client_secret}
audience = https://api.test.local/
"""

WARN = "issuer quota client per_hour is"


def start(issuer, tokend_factory):
    conf = CONF.format(uid=os.getuid(), token_url=issuer.token_url,
                       client_id=issuer.client_id, client_secret=issuer.client_secret)
    return tokend_factory(conf)


def quota_of(tokend):
    status, doc = tokend.get_json("/v1/tokens")
    assert status == 200, doc
    (api,) = [t for t in doc["tokens"] if t["name"] == "api"]
    return {(q["scope"], q["bucket"]): q for q in api.get("issuer_quota", [])}


def test_quota_shown_and_warned_once_at_80_percent(issuer, tokend_factory):
    issuer.control("quota", client={"per_hour": 10}, organization={"per_day": 100})
    issuer.set_expires_in(3)  # a fetch every second or two
    tokend = start(issuer, tokend_factory)

    q = quota_of(tokend)
    assert q[("client", "per_hour")]["limit"] == 10
    assert q[("organization", "per_day")]["limit"] == 100
    assert q[("client", "per_hour")]["remaining"] <= 9

    # Used 8 of 10 after the 8th token: warned; the fetches after say so no more.
    wait_for(lambda: issuer.state()["tokens_issued"] >= 11, timeout=60,
             message="the issuer did not issue 11 tokens")
    wait_for(lambda: quota_of(tokend)[("client", "per_hour")]["remaining"] == 0, timeout=10)
    log = tokend.log_text()
    assert log.count(WARN) == 1, log[-3000:]
    assert "80% used: 2 of 10 tokens left" in log, log[-3000:]
    assert "issuer quota organization" not in log  # 11 % of 100: no warning

    now = time.time()
    q = quota_of(tokend)
    client, org = q[("client", "per_hour")], q[("organization", "per_day")]
    assert client["remaining"] == 0
    assert now - 5 <= client["seen_at"] <= now + 1
    assert now - 5 < client["reset_at"] <= now + 3600
    assert 100 - issuer.state()["tokens_issued"] <= org["remaining"] <= 89

    series, families = parse(scrape(tokend))
    assert families["tokend_issuer_quota_remaining"] == "gauge"
    lbl = dict(token="api", scope="client", bucket="per_hour")
    assert value(series, "tokend_issuer_quota_limit", **lbl) == 10
    assert value(series, "tokend_issuer_quota_remaining", **lbl) == 0
    reset = value(series, "tokend_issuer_quota_reset_timestamp_seconds", **lbl)
    assert now - 5 < reset <= now + 3600
    lbl = dict(token="api", scope="organization", bucket="per_day")
    assert value(series, "tokend_issuer_quota_limit", **lbl) == 100


def test_hostile_quota_header_keeps_only_well_formed_buckets(issuer, tokend_factory):
    issuer.control("quota", raw='b=per"hour;q=1;r=1;t=1,b=per_day;q=5;r=0;t=60,'
                                'b=x;q=99999999999;r=1;t=1,b=\u00e9;q=1;r=1;t=1;;==')
    tokend = start(issuer, tokend_factory)
    q = quota_of(tokend)
    assert list(q) == [("client", "per_day")], q
    assert q[("client", "per_day")]["remaining"] == 0
    wait_for(lambda: "issuer quota client per_day is 100% used" in tokend.log_text(),
             timeout=5)
    series, _ = parse(scrape(tokend))
    names = {dict(k[1]).get("bucket") for k in series if k[0].startswith("tokend_issuer_quota")}
    assert names == {"per_day"}


def test_no_quota_headers_no_quota(issuer, tokend_factory):
    tokend = start(issuer, tokend_factory)
    assert quota_of(tokend) == {}
    _, families = parse(scrape(tokend))
    assert not [f for f in families if f.startswith("tokend_issuer_quota")]


def test_a_peer_sees_the_quota_only_of_tokens_it_may_read(issuer, tokend_factory):
    import shutil

    import pytest
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as a second uid")
    from test_access import NOBODY, open_rundir, peer_request
    issuer.control("quota", client={"per_hour": 10})
    conf = CONF.format(uid=os.getuid(), token_url=issuer.token_url,
                       client_id=issuer.client_id, client_secret=issuer.client_secret)
    conf = conf.replace("[daemon]\n", "[daemon]\nsocket_mode = 0666\n")
    conf += "allow_uids = 0\n"
    conf += conf[conf.index('[token "api"]'):].replace('"api"', '"theirs"').replace(
        "allow_uids = 0", f"allow_uids = {NOBODY}")
    tokend = tokend_factory(conf)
    open_rundir(tokend)
    wait_for(lambda: quota_of(tokend), timeout=10)
    status, text = peer_request(tokend, "GET", "/metrics")
    assert status == 200
    quota_lines = [line for line in text.splitlines()
                   if line.startswith("tokend_issuer_quota")]
    assert quota_lines and all('token="theirs"' in line for line in quota_lines), text
    series, _ = parse(scrape(tokend))  # root (an admin) sees both
    assert value(series, "tokend_issuer_quota_limit", token="api", scope="client",
                 bucket="per_hour") == 10
