"""A fleet under SSM's account quotas, scaled down: FLEET_N (default 20)
instances share one parameter in an emulator whose GetParameter rate is
FLEET_GET_TPS (default 4/s, AWS: 40/s for ~200 instances) and whose
PutParameter/DeleteParameter rate is FLEET_PUT_TPS (default 1/s, AWS:
3/s), tokens living FLEET_EXPIRES_IN = 20 s, for FLEET_SECONDS = 60 s.

Throttling is backpressure: the fleet must call the issuer no more than a
single instance (+1), no instance may fall back to the issuer because SSM
was busy, and once an instance served a token it never answers 503 or
serves an expired one. The figures are printed.
"""

import os
import re
import time

import pytest

import harness

FLEET_N = int(os.environ.get("FLEET_N", "20"))
FLEET_SECONDS = float(os.environ.get("FLEET_SECONDS", "60"))
EXPIRES_IN = int(os.environ.get("FLEET_EXPIRES_IN", "20"))
GET_TPS = float(os.environ.get("FLEET_GET_TPS", "4"))
PUT_TPS = float(os.environ.get("FLEET_PUT_TPS", "1"))
SECRET_ENV = "TOKEND_TEST_CLIENT_SECRET"

CONF = """
[daemon]
socket = {{socket}}
startup_timeout = 60s

[aws]
region = us-east-1

[token "api"]
type = oauth2
token_url = {token_url}
client_id = {client_id}
client_secret = env:{secret_env}
ssm_parameter = /tokend/quota/api
"""


def start_group(n, tmp_path, tokend_factory, label, limits):
    log_dir = tmp_path / label
    log_dir.mkdir()
    issuer = harness.Issuer(expires_in=EXPIRES_IN, log_dir=log_dir)
    ssm = harness.SSM(log_dir=log_dir)
    if limits:
        ssm.set_limits(**limits)
    env = harness.aws_env(ssm=ssm, static=ssm)
    env[SECRET_ENV] = issuer.client_secret
    config = CONF.format(token_url=issuer.token_url, client_id=issuer.client_id,
                         secret_env=SECRET_ENV)
    instances = [tokend_factory(config, workdir=log_dir / f"tokend{i}", env=env,
                                wait_ready=False) for i in range(n)]
    return issuer, ssm, instances


def poll(instances, served_once, faults):
    now = time.time()
    for i, t in enumerate(instances):
        try:
            status, body = t.get_json("/v1/tokens/api")
        except OSError:
            status, body = None, None
        ok = status == 200 and body and body["expires_at"] > now
        if ok:
            served_once.add(i)
        elif i in served_once:
            faults.append((round(now, 1), i, status))


# Not met yet (see docs/benchmarks.md "Fleet under SSM quotas"): measured
# N=20 made 49-67 issuer calls against 5-6 for one instance, with 46-63
# warm/cold-deadline fallbacks and 503s after a first token. strict: the
# mark must go when the target is met.
@pytest.mark.xfail(strict=True, reason="fleet under scaled quotas: deadline fallbacks "
                   "still call the issuer ~10x a single instance")
def test_fleet_under_ssm_quotas_costs_one_instance(tmp_path, tokend_factory, node_peers):
    limits = dict(get_tps=GET_TPS, get_burst=GET_TPS, put_tps=PUT_TPS, put_burst=PUT_TPS)
    one_issuer, one_ssm, single = start_group(1, tmp_path, tokend_factory, "single", None)
    issuer, ssm, fleet = start_group(FLEET_N, tmp_path, tokend_factory, "fleet", limits)
    try:
        started = time.monotonic()
        served_single, served_fleet, faults_single, faults_fleet = set(), set(), [], []
        while time.monotonic() < started + FLEET_SECONDS:
            poll(single, served_single, faults_single)
            poll(fleet, served_fleet, faults_fleet)
            time.sleep(0.25)
        one, many = one_issuer.count(), issuer.count()
        logs = [t.log_text() for t in fleet]
        fallbacks = sum(len(re.findall(r"fetching without SSM", log)) for log in logs)
        takeovers = sum(log.count("taking it over") for log in logs)
        print(f"\nfleet under quotas (get {GET_TPS}/s, put {PUT_TPS}/s), "
              f"{FLEET_SECONDS:.0f} s, tokens living {EXPIRES_IN} s: N=1 made {one} "
              f"issuer calls, N={FLEET_N} made {many}; fallbacks {fallbacks}, "
              f"takeovers {takeovers}; emulator limits {ssm.limits()}; "
              f"SSM calls {ssm.counts()}")
        assert len(served_fleet) == FLEET_N, f"never served: {set(range(FLEET_N)) - served_fleet}"
        assert not faults_fleet, f"503 or expired after a first token: {faults_fleet[:10]}"
        assert not faults_single, faults_single[:10]
        assert one >= 2, "no refresh happened: make FLEET_SECONDS longer"
        assert fallbacks == 0, "an instance called the issuer because SSM was busy"
        assert many <= one + 1, f"N={FLEET_N}: {many} issuer calls against {one}"
        throttled = sum(v.get("throttled", 0) for v in ssm.counts().values())
        assert throttled > 0, "the quotas never bit: the test proves nothing"
    finally:
        for group in ((one_issuer, one_ssm), (issuer, ssm)):
            for server in group:
                server.stop()
