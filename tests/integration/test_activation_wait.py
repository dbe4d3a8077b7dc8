"""Socket activation (issue 14 item 6): the connection that makes systemd
start tokend waits (bounded by startup_timeout, at most 8 s) for the
first value instead of a 503 "no value yet", and the start-up log names
the socket systemd passed, not the config's. Runs tokend under
systemd-socket-activate(1), with the fixture of test_systemd.py."""
import os
import shlex
import shutil
import tempfile
import time

import pytest

from harness import wait_for
from test_systemd import PASSED_ENV, SSA, activated, conf, terminate  # noqa: F401

import harness


def test_first_request_waits_for_the_first_value(issuer, activated):  # noqa: F811
    issuer.fault("delay", ms=1500)
    tokend = activated(conf(issuer))
    wait_for(lambda: os.path.exists(tokend.socket), timeout=10,
             message="systemd-socket-activate did not listen")
    started = time.monotonic()
    # One request, no retry: it starts tokend and must get the value.
    status, doc = tokend.get_json("/v1/tokens/api")
    assert status == 200, (doc, tokend.log_text()[-3000:])
    assert doc["token"] == issuer.tokens()[0]
    assert time.monotonic() - started >= 1.4
    status, _, body = tokend.request("GET", "/v1/tokens/api?format=raw")
    assert status == 200 and body.decode() == doc["token"]
    tokend.wait_ready(10)
    assert terminate(tokend) == 0


def test_the_wait_is_bounded_by_startup_timeout(issuer, activated):  # noqa: F811
    issuer.fault("status", status=500)
    tokend = activated(conf(issuer, startup_timeout="2s"))
    wait_for(lambda: os.path.exists(tokend.socket), timeout=10,
             message="systemd-socket-activate did not listen")
    started = time.monotonic()
    status, doc = tokend.get_json("/v1/tokens/api")
    waited = time.monotonic() - started
    assert status == 503, doc
    assert "no value yet" in doc["message"] and "500" in doc["message"], doc
    assert 1.5 <= waited < 8, waited
    # After startup_timeout a request is answered at once.
    started = time.monotonic()
    assert tokend.get_json("/v1/tokens/api")[0] == 503
    assert time.monotonic() - started < 1
    assert terminate(tokend) == 0


def test_startup_log_names_the_socket_systemd_passed(issuer, tmp_path, tokend_bin):
    if not os.access(SSA, os.X_OK):
        pytest.skip("systemd-socket-activate is not installed")
    rundir = tempfile.mkdtemp(prefix="tka-", dir="/tmp")
    passed = f"{rundir}/passed.sock"
    wrapper = tmp_path / "activate.sh"
    env_args = " ".join(f"-E {name}" for name in PASSED_ENV)
    wrapper.write_text("#!/bin/sh\n"
                       f"exec {shlex.quote(SSA)} -l {shlex.quote(passed)} {env_args} "
                       f"{shlex.quote(tokend_bin)} \"$@\"\n")
    wrapper.chmod(0o755)
    tokend = harness.Tokend(conf(issuer), tmp_path / "tokend", binary=str(wrapper),
                            wait_ready=False)
    try:
        tokend.socket = passed
        wait_for(lambda: os.path.exists(passed), timeout=10)
        assert tokend.get_json("/v1/tokens/api")[0] == 200
        log = tokend.log_text()
        assert f"socket {passed} (passed by systemd)" in log, log
        assert "tokend.sock" not in log.split("started:")[1].splitlines()[0]
        assert terminate(tokend) == 0
    finally:
        tokend.stop()
        shutil.rmtree(rundir, ignore_errors=True)
