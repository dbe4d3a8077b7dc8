"""Reloads that cannot cross tokens (issue 13).

A parked long-poll names its token; a SIGHUP frees every token and builds
new ones, and the waiter follows its token by name to the rebuilt one, is
checked against the new allow lists (a peer that may no longer read gets
the 404 an unknown name gets) and never receives another token's value,
whatever addresses the allocator hands out. A SIGHUP while start-up's
ssm: secrets are still being read waits for them.

The second peer is uid 65534 through setpriv(1); run under an ASan build
to see the use-after-free these used to be (conftest fails a test whose
tokend log holds a sanitizer report).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse

import pytest

import harness
from harness import wait_for

NOBODY = 65534
N_TOKENS = 12
MINE = 5     # readable by NOBODY in every round
LOSING = 6   # readable by NOBODY in even rounds only

# Prints {"status": N, "body": "..."} for one GET on the socket.
CLIENT = r"""
import http.client, json, socket, sys
path, target = sys.argv[1:3]
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
c = C("localhost", timeout=30)
c.request("GET", target)
r = c.getresponse()
print(json.dumps({"status": r.status, "body": r.read().decode()}))
"""

needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="needs root and setpriv to act as a second uid")


def rds_config(rnd):
    parts = [f"""
[daemon]
socket = {{socket}}
socket_mode = 0666
log_level = debug
"""]
    for i in range(N_TOKENS):
        readable = i == MINE or (i == LOSING and rnd % 2 == 0)
        parts.append(f"""
[token "db{i}"]
type = rds
region = us-east-1
host = db{i}.example.internal
port = {5432 + rnd}
user = user{i}
allow_uids = {NOBODY if readable else 0}
""")
    return "".join(parts)


def long_poll(tokend, name, newer_than, uid):
    target = f"/v1/tokens/{name}?newer_than={newer_than}&timeout=15&format=raw"
    argv = [sys.executable, "-c", CLIENT, tokend.socket, target]
    if uid != 0:
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + argv
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


def answer(proc):
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return json.loads(out)


def owner(raw):
    """(host, DBUser) of a raw RDS token."""
    host = raw.split(":", 1)[0]
    user = urllib.parse.parse_qs(raw.split("?", 1)[1])["DBUser"][0]
    return host, user


def parked(tokend):
    return len(re.findall(r"long-poll parked", tokend.log_text()))


def version(tokend, name):
    status, doc = tokend.get_json(f"/v1/tokens/{name}")
    assert status == 200, (status, doc)
    return doc["version"]


@needs_root
def test_parked_long_polls_follow_their_token_across_reloads(tokend_factory):
    tokend = tokend_factory(rds_config(0), env=harness.aws_env(
        static=("AKIDEXAMPLERELOAD", "secret-key-for-reload-tests")))
    os.chmod(tokend.rundir, 0o711)
    for rnd in range(4):
        before = parked(tokend)
        mine = long_poll(tokend, f"db{MINE}", version(tokend, f"db{MINE}"), NOBODY)
        root = long_poll(tokend, "db0", version(tokend, "db0"), 0)
        losing = None
        if rnd % 2 == 0:
            losing = long_poll(tokend, f"db{LOSING}", version(tokend, f"db{LOSING}"), NOBODY)
        wait_for(lambda: parked(tokend) >= before + (3 if losing else 2), timeout=10,
                 message="the long-polls did not park")
        # Another port: every token is rebuilt and gets a new version.
        tokend.config_path.write_text(rds_config(rnd + 1).replace("{socket}", tokend.socket))
        tokend.reload()

        got = answer(mine)
        assert got["status"] == 200, (rnd, got)
        assert owner(got["body"]) == (f"db{MINE}.example.internal", f"user{MINE}"), \
            f"round {rnd}: a long-poll on db{MINE} received another token's value"
        assert f":{5433 + rnd}/" in got["body"], "not the rebuilt token's value"
        got = answer(root)
        assert got["status"] == 200 and owner(got["body"])[1] == "user0", (rnd, got)
        if losing is not None:
            got = answer(losing)
            assert got["status"] == 404, f"round {rnd}: {got}"
            assert json.loads(got["body"])["message"] == "no such token"
    # Reads outside long-polls agree with the allow lists of the last round.
    status, _ = tokend.get_json("/v1/tokens/db1")
    assert status == 200
    assert tokend.running


@needs_root
def test_reload_with_unchanged_config_keeps_waiters_parked(tokend_factory):
    """Nothing changed: values carry over (logged as such, not as new), the
    waiter stays parked and times out with 204 instead of being lost."""
    tokend = tokend_factory(rds_config(0), env=harness.aws_env(
        static=("AKIDEXAMPLERELOAD", "secret-key-for-reload-tests")))
    os.chmod(tokend.rundir, 0o711)
    v = version(tokend, f"db{MINE}")
    before = parked(tokend)
    argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            sys.executable, "-c", CLIENT, tokend.socket,
            f"/v1/tokens/db{MINE}?newer_than={v}&timeout=2&format=raw"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: parked(tokend) > before, timeout=10)
    tokend.reload()
    wait_for(lambda: "reloaded" in tokend.log_text(), timeout=10)
    got = answer(proc)
    assert got["status"] == 204, got
    assert "value carried over by the reload" in tokend.log_text()
    assert version(tokend, f"db{MINE}") == v


def oauth2_ssm_config(issuer, extra=""):
    return f"""
[daemon]
socket = {{socket}}
log_level = debug

[token "api"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = ssm:/app/reload/client-secret
{extra}
"""


def test_sighup_during_startup_secret_reads_is_deferred(issuer, ssm, tokend_factory):
    """SIGHUPs while start-up's ssm: secret read is delayed: the reload runs
    after it, the token is served, and nothing is freed under the read."""
    ssm.put_parameter("/app/reload/client-secret", issuer.client_secret, type="SecureString")
    ssm.fault("delay", ms=1500, count=1)
    tokend = tokend_factory(oauth2_ssm_config(issuer), wait_ready=False,
                            env=harness.aws_env(ssm=ssm, static=ssm))
    wait_for(lambda: "started" in tokend.log_text(), timeout=10)
    tokend.reload()
    tokend.reload()
    wait_for(lambda: "reload runs when they are done" in tokend.log_text(), timeout=5,
             message=tokend.log_text())
    tokend.wait_ready(timeout=20)
    wait_for(lambda: "reloaded" in tokend.log_text(), timeout=10, message=tokend.log_text())
    wait_for(lambda: tokend.get_json("/v1/tokens/api")[0] == 200, timeout=10,
             message=tokend.log_text())
    assert tokend.log_text().count("reloaded") == 1, "two SIGHUPs made more than one reload"
    assert tokend.running


def test_sighup_during_a_reloads_secret_reads_is_deferred(issuer, ssm, tokend_factory):
    """A second SIGHUP while the first reload's secrets are read runs after
    it, and the token ends up served with the last config."""
    ssm.put_parameter("/app/reload/client-secret", issuer.client_secret, type="SecureString")
    tokend = tokend_factory(oauth2_ssm_config(issuer),
                            env=harness.aws_env(ssm=ssm, static=ssm))
    assert tokend.get_json("/v1/tokens/api")[0] == 200
    ssm.fault("delay", ms=1500, count=1)
    tokend.config_path.write_text(oauth2_ssm_config(issuer, "audience = https://a/")
                                  .replace("{socket}", tokend.socket))
    tokend.reload()
    wait_for(lambda: "SIGHUP: reloading" in tokend.log_text(), timeout=5)
    tokend.config_path.write_text(oauth2_ssm_config(issuer, "audience = https://b/")
                                  .replace("{socket}", tokend.socket))
    tokend.reload()
    wait_for(lambda: "reload runs when they are done" in tokend.log_text(), timeout=5)
    wait_for(lambda: tokend.log_text().count("reloaded") >= 2, timeout=15,
             message=tokend.log_text())
    def served_b():
        status, doc = tokend.get_json("/v1/tokens/api")
        return status == 200 and doc.get("audience") == "https://b/"
    wait_for(served_b, timeout=10, message=tokend.log_text())
