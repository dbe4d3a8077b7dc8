"""issuer_budget, end to end (tokend.conf(5)): once this month's issuer
calls, counted fleet-wide in the SSM parameter (ssm_format = json), reach
the budget, a forced refresh (POST /v1/tokens/NAME/refresh) is refused
with 429 and says why, while scheduled refreshes go on so that the token
never lapses.
"""
import json
import re

import harness

SECRET_ENV = "TOKEND_TEST_CLIENT_SECRET"
PARAM = "/tokend/test/budget"


def conf(issuer, budget):
    return f"""
[daemon]
socket = {{socket}}

[aws]
region = us-east-1

[token "api"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = env:{SECRET_ENV}
ssm_parameter = {PARAM}
ssm_format = json
issuer_budget = {budget}
"""


def version(t):
    status, doc = t.get_json("/v1/tokens/api")
    return doc["version"] if status == 200 else 0


def mints(t):
    status, _, body = t.request("GET", "/metrics")
    m = re.search(r'^tokend_fleet_issuer_calls_this_month\{token="api"\} (\d+)$', body.decode(), re.M)
    return int(m.group(1)) if m else 0


def api_count(t, code):
    _, _, body = t.request("GET", "/metrics")
    m = re.search(r'^tokend_api_requests_total\{code="%d"\} (\d+)$' % code, body.decode(),
                  re.M)
    return int(m.group(1))


def test_forced_refresh_refused_past_the_budget_scheduled_go_on(ssm, issuer, tokend_factory):
    # 3 s tokens: tokend refreshes on its own schedule every second or two.
    issuer.set_expires_in(3)
    env = harness.aws_env(ssm=ssm, static=ssm)
    env[SECRET_ENV] = issuer.client_secret
    t = tokend_factory(conf(issuer, 1), env=env)
    # The first mint, persisted, uses the whole budget.
    harness.wait_for(lambda: version(t) >= 1 and mints(t) >= 1, timeout=15,
                     message="no first token persisted")
    refused = api_count(t, 429)
    for _ in range(4):
        status, _, body = t.request("POST", "/v1/tokens/api/refresh")
        assert status == 429, body
        doc = json.loads(body)
        assert doc["error"] == "budget_exhausted", doc
        assert "issuer_budget" in doc["message"] and "scheduled" in doc["message"], doc
    assert api_count(t, 429) == refused + 4
    harness.wait_for(lambda: "forced refreshes are refused" in t.log_text(), timeout=5)
    # Scheduled refreshes go on past the budget: the token never lapses.
    v, n = version(t), issuer.count()
    harness.wait_for(lambda: version(t) > v + 1 and issuer.count() > n + 1, timeout=20,
                     message="scheduled refreshes stopped at the budget")
    assert t.request("POST", "/v1/tokens/api/refresh")[0] == 429


def test_forced_refresh_accepted_within_the_budget(ssm, issuer, tokend_factory):
    env = harness.aws_env(ssm=ssm, static=ssm)
    env[SECRET_ENV] = issuer.client_secret
    t = tokend_factory(conf(issuer, 1000), env=env)
    harness.wait_for(lambda: version(t) >= 1, timeout=15, message="no first token")
    v = version(t)
    status, _, body = t.request("POST", "/v1/tokens/api/refresh")
    assert status == 202, body
    harness.wait_for(lambda: version(t) > v, timeout=15,
                     message="the accepted refresh produced no new value")
