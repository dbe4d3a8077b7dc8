"""Secrets hygiene: no token or client secret in a log line, the warning
about a literal client_secret in a file others can read, and a daemon
that cannot be dumped or ptraced by its own user.

conftest.py also searches every tokend.log of the whole run at session
end for every token an issuer minted and every secret a test handed out;
test_leak_scan_* checks that search on planted files.
"""
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

import conftest
import harness
from harness import wait_for

SECRET_ENV = "TOKEND_TEST_CLIENT_SECRET"
NOBODY = "--reuid=65534 --regid=65534 --clear-groups"
LITERAL_WARNING = "client_secret is written literally in a file that others may read"


def config(issuer, secret=None, extra="", daemon_extra=""):
    return f"""
[daemon]
socket = {{socket}}
log_level = debug
{daemon_extra}

[token "api"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = {secret or issuer.client_secret}
{extra}
"""


def served(tokend, newer_than=0, timeout=15):
    def ok():
        try:
            status, doc = tokend.get_json("/v1/tokens/api")
        except OSError:
            return None
        return doc if status == 200 and doc["version"] > newer_than else None
    return wait_for(ok, timeout=timeout,
                    message=f"no version > {newer_than}:\n{tokend.log_text()[-3000:]}")


def reloads_ok(tokend):
    _, _, body = tokend.request("GET", "/metrics")
    m = re.search(r'^tokend_reloads_total\{result="ok"\} (\d+)$', body.decode(), re.M)
    return int(m.group(1)) if m else 0


def assert_not_in_log(tokend, secrets):
    text = tokend.log_text()
    leaked = [conftest.leak_fingerprint(s) for s in secrets if s and s in text]
    assert not leaked, f"{tokend.log_path}: secrets with sha256 {leaked} are in the log"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_refreshed_tokens_and_secret_never_logged(issuer, tokend_factory, log_format):
    """Three short-lived values pass through at debug level, served both
    ways; the log names them by fingerprint only."""
    issuer.set_expires_in(4)
    tokend = tokend_factory(config(issuer, extra="refresh_before = 3s\njitter = 0s\n"
                                   "min_remaining = 1s",
                                   daemon_extra=f"log_format = {log_format}"))
    doc = served(tokend)
    for _ in range(2):
        assert tokend.request("GET", "/v1/tokens/api?format=raw")[0] == 200
        doc = served(tokend, newer_than=doc["version"])
    tokens = issuer.tokens()
    assert len(tokens) >= 3 and doc["token"] in tokens
    fp = conftest.leak_fingerprint(doc["token"])
    assert fp in tokend.log_text(), "the new value's fingerprint is not logged"
    assert tokend.stop() == 0
    assert_not_in_log(tokend, tokens + [issuer.client_secret])


def test_wrong_and_rotated_secrets_never_logged(issuer, tokend_factory):
    wrong = "wrong-secret-7d1e9a"
    tokend = tokend_factory(config(issuer, secret=wrong), wait_ready=False)
    wait_for(lambda: "401" in tokend.log_text(), timeout=10,
             message=f"no 401 logged:\n{tokend.log_text()}")
    assert_not_in_log(tokend, [wrong, issuer.client_secret])


def test_leak_scan_reports_file_and_fingerprint_only():
    # Outside the run's temp tree, or the session-end scan would find these.
    root = Path(tempfile.mkdtemp(prefix="tokend-leakscan-", dir="/tmp"))
    try:
        leaks, found, planted = _scan_planted(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    secret = planted["token"]
    assert "planted-client-secret" in found and "env:NOT_A_VALUE" not in found
    assert leaks == sorted([(planted["leaky"], conftest.leak_fingerprint(secret)),
                            (planted["clean"],
                             conftest.leak_fingerprint("planted-client-secret"))])
    assert all(secret not in fp and "planted" not in fp for _, fp in leaks)


def _scan_planted(root):
    secret = "eyJhbGciOiJSUzI1NiJ9.planted.signature"
    leaky = root / "a" / "tokend.log"
    leaky.parent.mkdir()
    leaky.write_text(f"info token=api: value {secret} oops\n")
    clean = root / "b" / "tokend.log"
    clean.parent.mkdir()
    clean.write_text("info token=api: new value 0123abcd (version 1)\n"
                     "debug sent planted-client-secret\n")
    (root / "b" / "tokend.conf").write_text(
        '[token "x"]\nclient_secret = planted-client-secret\n'
        '[token "y"]\nclient_secret = env:NOT_A_VALUE\n')
    found = conftest.secrets_in_files(root)
    leaks = conftest.find_leaks(root, found | {secret, "short"})
    return leaks, found, {"token": secret, "leaky": str(leaky), "clean": str(clean)}


def test_literal_secret_in_a_readable_config_is_warned_about(issuer, tokend_factory):
    """The harness writes the config 0644: a literal client_secret gets the
    warning (file and line, never the value). After chmod 0640 a reload
    parses it again without the warning."""
    tokend = tokend_factory(config(issuer))
    mode = stat.S_IMODE(os.stat(tokend.config_path).st_mode)
    assert mode & 0o044, oct(mode)
    warnings = [l for l in tokend.log_text().splitlines() if LITERAL_WARNING in l]
    assert len(warnings) == 1, tokend.log_text()
    assert f"{tokend.config_path}:" in warnings[0] and 'token "api"' in warnings[0]
    assert issuer.client_secret not in tokend.log_text()

    os.chmod(tokend.config_path, 0o640)  # tokend(8)'s recommendation
    tokend.reload()
    wait_for(lambda: reloads_ok(tokend) == 1, timeout=10,
             message=f"the reload did not complete:\n{tokend.log_text()}")
    assert tokend.log_text().count(LITERAL_WARNING) == 1


def test_secret_by_reference_is_not_warned_about(issuer, tokend_factory):
    tokend = tokend_factory(config(issuer, secret=f"env:{SECRET_ENV}"),
                            env={SECRET_ENV: issuer.client_secret})
    served(tokend)
    assert LITERAL_WARNING not in tokend.log_text()


def _proc_owner(pid):
    st = os.stat(f"/proc/{pid}/status")
    with open(f"/proc/{pid}/status") as f:
        uid = int(next(l for l in f if l.startswith("Uid:")).split()[1])
    return st.st_uid, uid


def test_daemon_is_not_dumpable(issuer, tokend_bin):
    """The kernel gives a non-dumpable process's /proc/PID files to root
    (and refuses it ptrace and core dumps): owner root while the process
    runs as another user means PR_SET_DUMPABLE 0 took effect. Run as root,
    the test starts tokend as nobody (setpriv) so that the owner tells."""
    workdir = Path(tempfile.mkdtemp(prefix="tokend-nd-", dir="/tmp"))
    workdir.chmod(0o777)  # nobody writes the socket there
    binary = tokend_bin
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv")
        wrapper = workdir / "as-nobody"
        wrapper.write_text(f"#!/bin/sh\nexec setpriv {NOBODY} {tokend_bin} \"$@\"\n")
        wrapper.chmod(0o755)
        binary = str(wrapper)
        # A process that does not call prctl keeps its /proc files: the
        # observable is real on this kernel. Between setpriv's setresuid
        # (which makes it non-dumpable) and its exec of sleep (which makes
        # it dumpable again) the owner is root: wait for the exec.
        control = subprocess.Popen(["setpriv", *NOBODY.split(), "sleep", "30"])
        try:
            wait_for(lambda: _proc_owner(control.pid) == (65534, 65534), timeout=5,
                     message=f"/proc of a plain process run as nobody is not "
                             f"nobody's: {_proc_owner(control.pid)}")
        finally:
            control.kill()
            control.wait()
    conf = config(issuer, secret=f"env:{SECRET_ENV}").replace(
        "socket = {socket}", "socket = {workdir}/tokend.sock")
    tokend = harness.Tokend(conf, workdir, binary=binary, wait_ready=False,
                            env={SECRET_ENV: issuer.client_secret})
    try:
        wait_for(lambda: "started:" in tokend.log_text(), timeout=10,
                 message=f"tokend did not start:\n{tokend.log_text()}")
        owner, uid = _proc_owner(tokend.pid)
        assert uid != 0, "tokend runs as root: the owner of its /proc files tells nothing"
        assert owner == 0, f"/proc/{tokend.pid}/status is owned by {owner}: tokend is dumpable"
    finally:
        code = tokend.stop()
        log = tokend.log_text()
        shutil.rmtree(workdir, ignore_errors=True)
    assert code == 0, log
