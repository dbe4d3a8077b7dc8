"""Fleet coordination: N tokend instances sharing one SSM parameter and one
issuer cost no more than 1.1x the issuer calls of a single instance (+1).

A single instance and a fleet of FLEET_N (default 20) run side by side for
FLEET_SECONDS (default 60; tests/bench/fleet runs longer), each group with
its own issuer (tokens living FLEET_EXPIRES_IN = 20 s) and its own SSM
emulator. Every instance's socket is polled throughout: each one must
serve a valid token all the time. The figures are printed.
"""

import os
import time

import harness

FLEET_N = int(os.environ.get("FLEET_N", "20"))
FLEET_SECONDS = float(os.environ.get("FLEET_SECONDS", "60"))
EXPIRES_IN = int(os.environ.get("FLEET_EXPIRES_IN", "20"))
class Group:
    def __init__(self, n, tmp_path, tokend_factory, label):
        self.label = label
        log_dir = tmp_path / label
        log_dir.mkdir()
        self.issuer = harness.Issuer(expires_in=EXPIRES_IN, log_dir=log_dir)
        self.ssm = harness.SSM(log_dir=log_dir)
        env = harness.ssm_token_env(self.ssm, self.issuer)
        config = harness.ssm_token_config(self.issuer, "/tokend/fleet/api")
        self.instances = [tokend_factory(config, workdir=log_dir / f"tokend{i}", env=env,
                                         wait_ready=False)
                          for i in range(n)]
        self.gaps = []

    def wait_ready(self):
        for t in self.instances:
            t.wait_ready(60)

    def poll(self):
        now = time.time()
        for i, t in enumerate(self.instances):
            status, body = t.get_json("/v1/tokens/api")
            if status != 200 or not body or body["expires_at"] <= now:
                self.gaps.append((round(now, 1), i, status))

    def stop(self):
        self.issuer.stop()
        self.ssm.stop()


def test_fleet_costs_one_instance(tmp_path, tokend_factory, node_peers):
    single = Group(1, tmp_path, tokend_factory, "single")
    fleet = Group(FLEET_N, tmp_path, tokend_factory, "fleet")
    try:
        single.wait_ready()
        fleet.wait_ready()
        deadline = time.monotonic() + FLEET_SECONDS
        while time.monotonic() < deadline:
            single.poll()
            fleet.poll()
            time.sleep(0.2)
        one, many = single.issuer.count(), fleet.issuer.count()
        ssm_calls = fleet.ssm.counts()
        print(f"\nfleet: {FLEET_SECONDS:.0f} s, tokens living {EXPIRES_IN} s: "
              f"N=1 made {one} issuer calls, N={FLEET_N} made {many} "
              f"(ratio {many / max(one, 1):.2f}); fleet SSM calls {ssm_calls}")
        assert not single.gaps, f"the single instance served no valid token: {single.gaps[:10]}"
        assert not fleet.gaps, f"fleet instances served no valid token: {fleet.gaps[:10]}"
        assert one >= 2, "no refresh happened: make FLEET_SECONDS longer"
        assert many <= 1.1 * one + 1, f"N={FLEET_N}: {many} issuer calls against {one}"
    finally:
        single.stop()
        fleet.stop()
