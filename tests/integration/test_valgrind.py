"""tokend under valgrind: two OAuth2 tokens (one persisted to SSM), a few
refreshes and requests, SIGTERM; valgrind must report no errors and no
definite or indirect leaks (--error-exitcode turns either into exit 99).

Skipped without valgrind, and for an ASan build (ASan and valgrind cannot
share a process): TOKEND_SANITIZERS set, or libasan in the binary."""

import os
import shutil
import stat
import subprocess
import time

import pytest

import harness

SECRET_ENV = "TOKEND_TEST_CLIENT_SECRET"
VG_EXIT = 99


def asan_build(binary):
    if os.environ.get("TOKEND_SANITIZERS"):
        return True
    for cmd in (["ldd", binary], ["nm", "-D", binary]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        if "libasan" in out or "__asan_init" in out:
            return True
    return False


@pytest.fixture
def valgrind_tokend(tmp_path, tokend_bin):
    vg = shutil.which("valgrind")
    if vg is None:
        pytest.skip("valgrind is not installed")
    if asan_build(tokend_bin):
        pytest.skip("tokend is a sanitizer build")
    log = tmp_path / "valgrind.log"
    wrapper = tmp_path / "tokend-vg"
    wrapper.write_text(f"#!/bin/sh\nexec {vg} -q --leak-check=full "
                       f"--errors-for-leak-kinds=definite,indirect "
                       f"--error-exitcode={VG_EXIT} --log-file={log} {tokend_bin} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return str(wrapper), log


def conf(issuer):
    tok = (f"type = oauth2\ntoken_url = {issuer.token_url}\n"
           f"client_id = {issuer.client_id}\nclient_secret = env:{SECRET_ENV}\n"
           f"refresh_before = 2s\n")
    return f"""
[daemon]
socket = {{socket}}
startup_timeout = 60s

[aws]
region = us-east-1

[token "plain"]
{tok}
[token "persisted"]
{tok}ssm_parameter = /tokend/test/valgrind
"""


def test_no_leaks_no_errors(tmp_path, issuer, ssm, valgrind_tokend):
    binary, log = valgrind_tokend
    issuer.set_expires_in(4)
    env = harness.aws_env(ssm=ssm, static=ssm)
    env[SECRET_ENV] = issuer.client_secret
    t = harness.Tokend(conf(issuer), tmp_path / "tokend", env=env, binary=binary,
                       timeout=120)
    try:
        versions = {}
        for name in ("plain", "persisted"):
            status, body = t.get_json(f"/v1/tokens/{name}")
            assert status == 200, body
            assert body["expires_at"] > time.time()
            versions[name] = body["version"]
        # At least one refresh of each under valgrind, then a few requests.
        def refreshed():
            return all(t.get_json(f"/v1/tokens/{n}")[1]["version"] > v
                       for n, v in versions.items())
        harness.wait_for(refreshed, timeout=60, interval=0.5,
                         message="no refresh under valgrind")
        for _ in range(5):
            assert t.get_json("/v1/tokens")[0] == 200
        harness.wait_for(lambda: ssm.parameter("/tokend/test/valgrind") is not None,
                         timeout=30, message="nothing persisted to SSM")
    finally:
        code = t.stop(timeout=120)
    report = log.read_text(errors="replace") if log.exists() else ""
    assert code == 0, f"tokend under valgrind exited {code}:\n{report}"
    assert "definitely lost" not in report and "indirectly lost" not in report, report
