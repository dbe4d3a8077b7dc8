"""The systemd side of tokend: the sd_notify protocol as a service manager
sees it (STATUS=, READY=1, WATCHDOG=1, RELOADING=1, STOPPING=1) and socket
activation through systemd-socket-activate(1).

The harness binds NOTIFY_SOCKET and records every datagram in order; times
below are taken by polling that record, so an observed time is never
earlier than the datagram it stands for. Lower bounds on those times are
therefore real (a READY=1 sent too early would be seen too early).
"""

import os
import shlex
import shutil
import signal
import time
from pathlib import Path

import pytest

import harness
from harness import wait_for

SSA = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"
# Sanitizer settings must survive systemd-socket-activate, which hands its
# child only HOME, PATH, TERM and what -E names.
PASSED_ENV = ("NOTIFY_SOCKET", "HOME", "AWS_EC2_METADATA_DISABLED", "ASAN_OPTIONS",
              "UBSAN_OPTIONS", "LSAN_OPTIONS", "MSAN_OPTIONS")


def conf(issuer, startup_timeout="20s", names=("api",)):
    text = f"""
[daemon]
socket = {{socket}}
startup_timeout = {startup_timeout}
log_level = debug
"""
    for name in names:
        text += f"""
[token "{name}"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = {issuer.client_secret}
audience = https://{name}/
"""
    return text


def seen_at(tokend, text, timeout=20.0, since=0):
    """Polls the notification record until a datagram holding the line
    text appears after index since; returns (wall time observed, index)."""
    def probe():
        msgs = tokend.notifications()
        for i in range(since, len(msgs)):
            if text in msgs[i].split("\n"):
                return time.time(), i
        if not tokend.running:
            raise harness.HarnessError(f"tokend exited before {text!r}:\n{tokend.log_text()}")
        return None
    return wait_for(probe, timeout, interval=0.01,
                    message=f"no {text!r} within {timeout}s:\n{tokend.log_text()}")


def count(tokend, text):
    return sum(1 for m in tokend.notifications() if text in m.split("\n"))


def statuses(msgs):
    return [m[len("STATUS="):] for m in msgs if m.startswith("STATUS=")]


def terminate(tokend):
    """SIGTERM, then the exit code once tokend has exited and its last
    datagram (STOPPING=1 if it sent one) has been recorded: a datagram sent
    just before exit may still be queued on the notify socket."""
    tokend.proc.send_signal(signal.SIGTERM)
    code = tokend.proc.wait(10)
    wait_for(lambda: "STOPPING=1" in tokend.notifications(), timeout=5,
             message=f"no STOPPING=1: {tokend.notifications()}")
    return code


def test_start_sequence_ready_after_token_then_stopping(issuer, tokend_factory):
    # The issuer holds its answer 1.5 s: READY=1 must wait for it.
    issuer.fault("delay", ms=1500, count=1)
    tokend = tokend_factory(conf(issuer), wait_ready=False)
    ready_at, ready_i = seen_at(tokend, "READY=1")
    status, doc = tokend.get_json("/v1/tokens/api")
    assert status == 200, doc
    assert doc["token"] == issuer.tokens()[0]

    reqs = issuer.requests()
    assert len(reqs) == 1 and reqs[0]["status"] == 200, reqs
    # READY=1 was observed no earlier than the issuer's answer left it.
    assert ready_at * 1000 >= reqs[0]["t"] + 1500, (ready_at, reqs[0]["t"])

    msgs = tokend.notifications()
    before = msgs[:ready_i]
    assert statuses(before) == ["0/1 tokens valid; waiting for: api", "1/1 tokens valid"], msgs
    # Nothing but STATUS= comes before READY=1 (no watchdog configured).
    assert all(m.startswith("STATUS=") for m in before), msgs
    assert count(tokend, "READY=1") == 1

    assert terminate(tokend) == 0
    msgs = tokend.notifications()
    assert msgs[-1] == "STOPPING=1", msgs
    assert count(tokend, "STOPPING=1") == 1
    assert count(tokend, "READY=1") == 1


def test_status_names_every_missing_token(issuer, tokend_factory):
    issuer.fault("delay", ms=1000, count=2)
    tokend = tokend_factory(conf(issuer, names=("alpha", "beta")), wait_ready=False)
    _, ready_i = seen_at(tokend, "READY=1")
    seen = statuses(tokend.notifications()[:ready_i])
    assert seen[0] == "0/2 tokens valid; waiting for: alpha, beta", seen
    assert seen[-1] == "2/2 tokens valid", seen
    # One token arrives before the other: the summary names the one left.
    assert any(s in seen for s in ("1/2 tokens valid; waiting for: alpha",
                                   "1/2 tokens valid; waiting for: beta")), seen


def test_startup_timeout_ready_with_missing_token(issuer, tokend_factory):
    issuer.fault("status", status=500)  # every call fails until cleared
    start = time.time()
    tokend = tokend_factory(conf(issuer, startup_timeout="2s"), wait_ready=False)
    ready_at, ready_i = seen_at(tokend, "READY=1", timeout=30)
    elapsed = ready_at - start
    assert 2.0 <= elapsed < 15, f"READY=1 after {elapsed:.2f}s, startup_timeout is 2s"

    msgs = tokend.notifications()
    seen = statuses(msgs[:ready_i])
    assert seen and seen[-1] == "0/1 tokens valid; waiting for: api", msgs
    reqs = issuer.requests()
    assert reqs and all(r["status"] == 500 for r in reqs), reqs
    assert tokend.get_json("/v1/tokens/api")[0] == 503
    assert "startup_timeout passed" in tokend.log_text()

    # The summary stays current after READY=1; READY=1 is not repeated.
    issuer.clear_faults()
    seen_at(tokend, "STATUS=1/1 tokens valid", timeout=40, since=ready_i)
    assert tokend.get_json("/v1/tokens/api")[0] == 200
    assert count(tokend, "READY=1") == 1


def test_watchdog_pings_at_half_interval(issuer, tokend_factory):
    tokend = tokend_factory(conf(issuer), env={"WATCHDOG_USEC": "1000000"})
    first = count(tokend, "WATCHDOG=1")
    start = time.monotonic()
    wait_for(lambda: count(tokend, "WATCHDOG=1") >= first + 4, timeout=5, interval=0.01,
             message=f"fewer than 4 WATCHDOG=1 in 5s: {tokend.notifications()}")
    elapsed = time.monotonic() - start
    # Four pings 0.5 s apart span at least three intervals; at 1 s apart
    # (the full WATCHDOG_USEC, too late for systemd) they would take 3 s.
    assert 1.5 <= elapsed < 3.0, f"4 pings took {elapsed:.2f}s"
    assert terminate(tokend) == 0
    assert tokend.notifications()[-1] == "STOPPING=1"


@pytest.mark.parametrize("env", [{}, {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}],
                         ids=["unset", "other-pid"])
def test_no_watchdog_unless_asked(issuer, tokend_factory, env):
    quiet = tokend_factory(conf(issuer), env=env)
    # A second tokend with the watchdog on is the clock: once it has pinged
    # three times, the first has run well past several intervals.
    control = tokend_factory(conf(issuer), env={"WATCHDOG_USEC": "1000000"})
    wait_for(lambda: count(control, "WATCHDOG=1") >= 3, timeout=10,
             message="the control tokend did not ping")
    assert count(quiet, "WATCHDOG=1") == 0, quiet.notifications()


def test_reload_notifies_reloading_then_ready(issuer, tokend_factory):
    tokend = tokend_factory(conf(issuer))
    before = len(tokend.notifications())
    mono_before = time.monotonic()
    tokend.reload()
    _, ready_i = seen_at(tokend, "READY=1", timeout=10, since=before)
    mono_after = time.monotonic()
    msgs = tokend.notifications()[before:ready_i + 1]
    assert msgs[0].split("\n")[0] == "RELOADING=1", msgs
    # systemd >= 253 takes MONOTONIC_USEC with RELOADING=1 to order them.
    fields = dict(line.split("=", 1) for line in msgs[0].split("\n"))
    usec = int(fields["MONOTONIC_USEC"])
    assert mono_before * 1e6 <= usec <= mono_after * 1e6, (mono_before, usec, mono_after)
    assert sum(1 for m in msgs if m.startswith("RELOADING=1")) == 1
    assert tokend.get_json("/v1/tokens/api")[0] == 200

    # A config that does not load still ends the reload with READY=1.
    tokend.config_path.write_text("[daemon]\nbogus_key = 1\n")
    before = len(tokend.notifications())
    tokend.reload()
    _, ready_i = seen_at(tokend, "READY=1", timeout=10, since=before)
    msgs = tokend.notifications()[before:ready_i + 1]
    assert msgs[0].startswith("RELOADING=1\n"), msgs
    assert tokend.running and tokend.get_json("/v1/tokens/api")[0] == 200

    assert terminate(tokend) == 0
    assert tokend.notifications()[-1] == "STOPPING=1"


# --- socket activation --------------------------------------------------------

@pytest.fixture
def activated(tmp_path, tokend_bin):
    """Starts tokend under systemd-socket-activate: yields a factory
    (config, sockets=1, **kw) -> harness.Tokend whose pid is tokend's (the
    tool execs it). The listening path is the config's socket; a second
    socket, when asked for, is that path + ".2"."""
    if not os.access(SSA, os.X_OK):
        pytest.skip("systemd-socket-activate is not installed")
    started = []

    def factory(config, sockets=1, **kw):
        wrapper = tmp_path / f"activate{len(started)}.sh"
        listen = '-l "$sock"' + (' -l "$sock.2"' if sockets == 2 else "")
        passed = " ".join(f"-E {name}" for name in PASSED_ENV)
        # harness.Tokend runs BINARY -c CONFIG: take the socket from it.
        wrapper.write_text("#!/bin/sh\n"
                           "sock=$(sed -n 's/^socket *= *//p' \"$2\")\n"
                           f"exec {shlex.quote(SSA)} {listen} --fdname=tokend {passed} "
                           f"{shlex.quote(tokend_bin)} \"$@\"\n")
        wrapper.chmod(0o755)
        t = harness.Tokend(config, tmp_path / f"tokend{len(started)}", binary=str(wrapper),
                           wait_ready=False, **kw)
        started.append(t)
        return t

    yield factory
    problems = []
    for t in started:
        code = t.stop()
        report = t.sanitizer_report()
        if report:
            problems.append(f"pid {t.pid}: sanitizer report:\n{report}")
        elif code not in t.expected_exit:
            problems.append(f"pid {t.pid} exited {code}:\n{t.log_text()[-4000:]}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def test_socket_activation_serves_and_leaves_the_socket(issuer, activated):
    tokend = activated(conf(issuer))
    path = Path(tokend.socket)
    wait_for(path.exists, timeout=10, message="systemd-socket-activate did not listen")
    inode = path.stat().st_ino
    # The first connection makes systemd-socket-activate exec tokend, which
    # answers it on the inherited socket once the token is there.
    status, doc = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        tokend.get_json("/v1/tokens/api")), timeout=20)
    assert doc["token"] == issuer.tokens()[0]
    tokend.wait_ready(10)
    assert path.stat().st_ino == inode, "tokend replaced the inherited socket"

    assert terminate(tokend) == 0
    # tokend neither unlinked nor replaced the socket it was given.
    assert path.exists() and path.stat().st_ino == inode
    assert tokend.notifications()[-1] == "STOPPING=1"


def test_socket_activation_refuses_two_sockets(issuer, activated):
    tokend = activated(conf(issuer), sockets=2)
    tokend.expected_exit = {2}
    path = Path(tokend.socket)
    wait_for(path.exists, timeout=10, message="systemd-socket-activate did not listen")
    try:
        tokend.request("GET", "/healthz", timeout=5)
    except OSError:
        pass  # tokend closes the connection as it refuses to start
    wait_for(lambda: not tokend.running, timeout=10, message="tokend kept running")
    assert tokend.proc.returncode == 2
    assert "more than one socket" in tokend.log_text()
    assert path.exists(), "tokend removed a socket it did not create"
