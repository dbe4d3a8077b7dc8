"""A fleet under SSM's account quotas, scaled down from tests/bench/fleet
(N=200 at Get 40/s): FLEET_N (default 20) instances share one parameter in
an emulator whose GetParameter rate is FLEET_GET_TPS (default 5/s: N/G
of 4 s, a little margin under the bench's 5 s, which `make check` runs
under load and ASan; 4/s passed 6 runs of 6 with the final build, one of
five failed before the leader took its lease first) and whose PutParameter/DeleteParameter rate is
FLEET_PUT_TPS (default 3/s, AWS's low end: a refresh costs the leader
three writes whatever N is), tokens living FLEET_EXPIRES_IN = 30 s, for
FLEET_SECONDS = 60 s.

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
EXPIRES_IN = int(os.environ.get("FLEET_EXPIRES_IN", "30"))
GET_TPS = float(os.environ.get("FLEET_GET_TPS", "5"))
PUT_TPS = float(os.environ.get("FLEET_PUT_TPS", "3"))
def start_group(n, tmp_path, tokend_factory, label, limits):
    log_dir = tmp_path / label
    log_dir.mkdir()
    issuer = harness.Issuer(expires_in=EXPIRES_IN, log_dir=log_dir)
    ssm = harness.SSM(log_dir=log_dir)
    if limits:
        ssm.set_limits(**limits)
    env = harness.ssm_token_env(ssm, issuer)
    config = harness.ssm_token_config(issuer, "/tokend/quota/api")
    instances = [tokend_factory(config, workdir=log_dir / f"tokend{i}", env=env,
                                wait_ready=False) for i in range(n)]
    return issuer, ssm, instances


def poll(instances, served_once, faults, expired):
    now = time.time()
    for i, t in enumerate(instances):
        try:
            status, body = t.get_json("/v1/tokens/api")
        except OSError:
            status, body = None, None
        if status == 200 and body and body["expires_at"] <= now:
            expired.append((round(now, 1), i, body["expires_at"]))
        ok = status == 200 and body and body["expires_at"] > now
        if ok:
            served_once.add(i)
        elif i in served_once:
            faults.append((round(now, 1), i, status))


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory, tokend_factory_module, node_peers):
    """Runs the scenario once; the tests below judge its figures."""
    tmp_path = tmp_path_factory.mktemp("fleet_quota")
    tokend_factory = tokend_factory_module
    limits = dict(get_tps=GET_TPS, get_burst=GET_TPS, put_tps=PUT_TPS, put_burst=PUT_TPS)
    one_issuer, one_ssm, single = start_group(1, tmp_path, tokend_factory, "single", None)
    issuer, ssm, fleet = start_group(FLEET_N, tmp_path, tokend_factory, "fleet", limits)
    try:
        started = time.monotonic()
        run = dict(served_single=set(), served_fleet=set(), faults_single=[],
                   faults_fleet=[], expired=[])
        while time.monotonic() < started + FLEET_SECONDS:
            poll(single, run["served_single"], run["faults_single"], run["expired"])
            poll(fleet, run["served_fleet"], run["faults_fleet"], run["expired"])
            time.sleep(0.25)
        run["one"], run["many"] = one_issuer.count(), issuer.count()
        logs = [t.log_text() for t in fleet]
        run["fallbacks"] = sum(len(re.findall(r"fetching without SSM", log)) for log in logs)
        run["unusable"] = sum(log.count("fetching without SSM (unusable") for log in logs)
        takeovers = sum(log.count("taking it over") for log in logs)
        run["throttled"] = sum(v.get("throttled", 0) for v in ssm.counts().values())
        print(f"\nfleet under quotas (get {GET_TPS}/s, put {PUT_TPS}/s), "
              f"{FLEET_SECONDS:.0f} s, tokens living {EXPIRES_IN} s: N=1 made {run['one']} "
              f"issuer calls, N={FLEET_N} made {run['many']}; fallbacks {run['fallbacks']}, "
              f"takeovers {takeovers}; emulator limits {ssm.limits()}; "
              f"SSM calls {ssm.counts()}")
        yield run
    finally:
        for group in ((one_issuer, one_ssm), (issuer, ssm)):
            for server in group:
                server.stop()


def test_fleet_under_ssm_quotas_never_serves_expired(fleet_run):
    """The invariants that hold today: every instance is served, nothing
    expired is ever answered 200, the quotas really bit, and no instance
    took throttling for an unusable SSM."""
    assert fleet_run["throttled"] > 0, "the quotas never bit: the test proves nothing"
    assert len(fleet_run["served_fleet"]) == FLEET_N, \
        f"never served: {set(range(FLEET_N)) - fleet_run['served_fleet']}"
    assert not fleet_run["expired"], f"expired token answered 200: {fleet_run['expired'][:10]}"
    assert fleet_run["unusable"] == 0, "throttling was taken for an unusable SSM"
    assert not fleet_run["faults_single"], fleet_run["faults_single"][:10]


def test_fleet_under_ssm_quotas_costs_one_instance(fleet_run):
    assert fleet_run["one"] >= 2, "no refresh happened: make FLEET_SECONDS longer"
    assert not fleet_run["faults_fleet"], \
        f"503 after a first token: {fleet_run['faults_fleet'][:10]}"
    assert fleet_run["fallbacks"] == 0, "an instance called the issuer because SSM was busy"
    assert fleet_run["many"] <= fleet_run["one"] + 1, \
        f"N={FLEET_N}: {fleet_run['many']} issuer calls against {fleet_run['one']}"
