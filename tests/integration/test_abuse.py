"""Hostile local clients: malformed and oversized requests, slow and
half-open connections, connection floods.

Whatever a client sends, it gets a 4xx answer or a closed connection:
never a 5xx, never a token it did not ask for properly, and the daemon
keeps serving everyone else. Idle and half-open connections are closed
after [daemon] idle_timeout, 5,000 open connections cost bounded memory,
and [daemon] max_connections bounds how many are served at once: a
client beyond it is either held back (left in the socket's backlog) or
closed, never served, until a slot frees.

Every request here goes over a raw AF_UNIX socket, bytes exactly as
written, so no client library tidies them up first.
"""
import json
import os
import resource
import select
import socket
import subprocess
import sys
import time

import pytest

import harness
import neighbour
from harness import wait_for

IDLE = 2.0  # seconds: idle_timeout in the configs that set one


def config(issuer, extra=""):
    level = "" if "log_level" in extra else "log_level = info"
    return f"""
[daemon]
socket = {{socket}}
{level}
{extra}

[token "api"]
type = oauth2
token_url = {issuer.token_url}
client_id = {issuer.client_id}
client_secret = {issuer.client_secret}
"""


def start(issuer, tokend_factory, extra=""):
    """A daemon serving token "api"; returns it and the token's value."""
    tokend = tokend_factory(config(issuer, extra))
    status, doc = tokend.get_json("/v1/tokens/api")
    assert status == 200, doc
    return tokend, doc["token"]


def connect(tokend, timeout=5.0):
    """A new connection. With a timeout set, connect() on AF_UNIX fails
    with EAGAIN instead of waiting while the listen backlog is full (a
    flood outruns accept()), so retry until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(tokend.socket)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.001)


def complete(data):
    """True once data holds a whole answer (head and Content-Length body)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


def status_of(data):
    if not data or not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


def answer(s, timeout=5.0):
    """Reads one whole answer from s: its bytes, b"" if the daemon closed
    without a word, None if nothing came within timeout."""
    data = b""
    s.settimeout(timeout)
    try:
        while not complete(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        return data or None
    return data


def exchange(tokend, payload, timeout=5.0):
    """Sends payload on a new connection and reads the answer until the
    daemon closes it or a whole answer came. Returns (status or None, bytes)."""
    s = connect(tokend, timeout)
    try:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # it stopped reading or closed mid-send: read what it said
        data = answer(s, timeout) or b""
    finally:
        s.close()
    return status_of(data), data


def accepts_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
        return True
    except BlockingIOError:
        return False
    finally:
        s.close()


def served(tokend, token):
    """A normal client on a new connection still gets the token."""
    status, doc = tokend.get_json("/v1/tokens/api")
    assert status == 200, doc
    assert doc["token"] == token


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_fds(pid):
    """How many descriptors the daemon holds; None when /proc does not let
    us see (tokend is not dumpable, so only root can)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except PermissionError:
        return None


def closed_by_peer(s):
    """True once the daemon has closed s (EOF or reset), without blocking.
    Whatever it said first (a 408, say) is read and dropped."""
    while select.select([s], [], [], 0)[0]:
        try:
            if s.recv(65536) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def all_closed(socks):
    """A wait_for predicate: every socket in socks closed by the daemon."""
    for s in list(socks):
        if closed_by_peer(s):
            socks.remove(s)
    return not socks


GET = b"GET /v1/tokens/api HTTP/1.1\r\nHost: x\r\n"
REFRESH = b"POST /v1/tokens/api/refresh HTTP/1.1\r\nHost: x\r\n"
ABUSES = {
    "request-line-64k": b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "token-path-64k": b"GET /v1/tokens/api" + b"a" * 65536 + b" HTTP/1.1\r\n\r\n",
    "headers-1mib": GET + b"X-Big: " + b"b" * (1 << 20) + b"\r\n\r\n",
    "headers-10000": GET + b"".join(b"X-H%d: v\r\n" % i for i in range(10000)) + b"\r\n",
    "get-body-1mib": GET + b"Content-Length: 1048576\r\n\r\n" + b"z" * (1 << 20),
    "get-body-chunked": GET + b"Transfer-Encoding: chunked\r\n\r\n"
                        + b"100000\r\n" + b"z" * 0x100000 + b"\r\n0\r\n\r\n",
    "dotdot-encoded": b"GET /v1/tokens/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n",
    "dotdot": b"GET /v1/tokens/../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    "dotdot-token": b"GET /v1/tokens/../tokens/api HTTP/1.1\r\nHost: x\r\n\r\n",
    "encoded-nul": b"GET /v1/tokens/api%00x HTTP/1.1\r\nHost: x\r\n\r\n",
    "encoded-name": b"GET /v1/tokens/%61pi%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "raw-nul-in-line": b"GET /v1/tokens/api\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "control-bytes": b"GET /v1/tokens/\x01\x7f\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    "bogus-method": b"FROB /v1/tokens/api HTTP/1.1\r\nHost: x\r\n\r\n",
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "garbage": bytes(range(256)) * 16,
    "content-length-negative": REFRESH + b"Content-Length: -1\r\n\r\n",
    "content-length-twice": REFRESH + b"Content-Length: 1\r\nContent-Length: 5\r\n\r\nhello",
    "version-garbage": b"GET /v1/tokens/api HTTP/9.9x\r\nHost: x\r\n\r\n",
    "no-version": b"GET /v1/tokens/api\r\n\r\n",
}

@pytest.fixture
def abused(issuer, tokend_factory):
    return start(issuer, tokend_factory)


@pytest.mark.parametrize("name", sorted(ABUSES))
def test_abuse_gets_4xx_or_close_and_the_daemon_keeps_serving(abused, name):
    tokend, token = abused
    status, data = exchange(tokend, ABUSES[name])
    assert status is None or status in (400, 404, 405, 413, 414, 431), (name, data[:300])
    assert token.encode() not in data, f"{name}: the token came back"
    assert tokend.running, f"tokend died on {name}"
    served(tokend, token)


# Odd but valid: a header value that is not UTF-8 (obs-text) on a proper
# GET of the token. The token is the right answer, and the checks above
# are not passing merely because every raw request fails.
def test_header_bytes_beyond_ascii_are_tolerated(abused):
    tokend, token = abused
    status, data = exchange(tokend, GET + b"X-U: \xc3\x28\xa0\xa1\r\n\r\n")
    assert status == 200 and token.encode() in data, data[:300]
    served(tokend, token)


# A NUL in a header value of a proper GET: RFC 9110 5.5 lets a server
# reject the request or read the NUL as a space, so a 400 and a 200 with
# the token are both right; a 5xx or a crash is not.
def test_nul_in_a_header_value_is_rejected_or_ignored(abused):
    tokend, token = abused
    status, data = exchange(tokend, GET + b"X-N: a\x00b\r\n\r\n")
    assert status in (None, 200, 400), data[:300]
    assert status == 200 or token.encode() not in data
    assert tokend.running
    served(tokend, token)


def test_idle_and_slow_connections_are_closed_and_others_served(issuer, tokend_factory):
    tokend, token = start(issuer, tokend_factory, f"idle_timeout = {IDLE:g}s")
    silent, partial, trickle = [], [], []
    try:
        for i in range(200):
            s = connect(tokend)
            [silent, partial, trickle][i % 3].append(s)
        for s in partial:
            s.sendall(b"GET /v1/tok")  # a request line that never ends
        # Everyone else is still served promptly while they hang on, the
        # tricklers sending one more byte of their request line each round.
        line = b"GET /v1/tokens/" + b"a" * 64  # a valid start, no end in sight
        for i in range(50):
            for s in trickle:
                try:
                    s.send(line[i:i + 1])
                except OSError:
                    pass  # closed on us: allowed
            t0 = time.monotonic()
            served(tokend, token)
            took = time.monotonic() - t0
            assert took < 1.0, f"GET {i} took {took:.2f}s beside 200 slow clients"
        # Now all of them are idle: idle_timeout closes them.
        waiting = silent + partial + trickle
        wait_for(lambda: all_closed(waiting), timeout=IDLE + 6,
                 message=f"{len(waiting)} of 200 idle connections still open "
                         f"{IDLE + 6:g}s after they went quiet (idle_timeout {IDLE:g}s)")
    finally:
        for s in silent + partial + trickle:
            s.close()
    served(tokend, token)


def test_half_open_connections_are_closed(issuer, tokend_factory):
    # A long idle_timeout: a request cut short by the client's EOF can
    # never complete, so the daemon closes it on the EOF, not an hour later.
    tokend, token = start(issuer, tokend_factory, "idle_timeout = 60s")
    fds_before = open_fds(tokend.pid)
    held = []
    try:
        for _ in range(50):
            s = connect(tokend)
            s.sendall(b"GET /v1/tokens/api HTTP/1.1\r\nHo")
            s.shutdown(socket.SHUT_WR)
            held.append(s)
        waiting = list(held)
        wait_for(lambda: all_closed(waiting), timeout=5,
                 message=f"{len(waiting)} of 50 half-open connections still open 5s "
                         "after their EOF")
        if fds_before is not None:  # nothing left behind in the daemon
            wait_for(lambda: open_fds(tokend.pid) <= fds_before, timeout=5,
                     message=f"tokend holds {open_fds(tokend.pid)} fds, "
                             f"{fds_before} before the half-open clients")
    finally:
        for s in held:
            s.close()
    served(tokend, token)


# printf 'GET ...' | nc -U: the whole request, then EOF. The request is
# complete, so it is answered, and the connection then closed.
def test_whole_request_then_eof_is_answered_and_closed(abused):
    tokend, token = abused
    s = connect(tokend)
    try:
        s.sendall(GET + b"\r\n")
        s.shutdown(socket.SHUT_WR)
        data = answer(s)
        assert status_of(data) == 200 and token.encode() in data, data
        assert answer(s, timeout=5) == b"", "connection left open after EOF and answer"
    finally:
        s.close()
    served(tokend, token)


@pytest.fixture
def nofile():
    """raise(want) lifts this process's RLIMIT_NOFILE (tokend inherits it)
    for one test; the old limit comes back after it."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)

    def lift(want):
        soft, hard = saved
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want} needed for this test")
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    yield lift
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def test_max_connections_sheds_the_oldest_idle_then_refuses(issuer, tokend_factory):
    # At the limit tokend keeps accepting: a newcomer takes the slot of the
    # connection that has gone longest without an answer or a request under
    # way; when every connection is busy (parked long-polls here), the
    # newcomer gets 503 and the connection closes.
    limit = 50
    tokend, token = start(issuer, tokend_factory,
                          f"max_connections = {limit}\nlog_level = debug")
    held, extra = [], []
    try:
        for _ in range(limit):
            held.append(connect(tokend))
        for s in held:
            s.sendall(GET + b"\r\n")
            assert status_of(answer(s)) == 200, "a connection within the limit not served"
        # Beyond the limit: served, and the oldest idle ones closed for it.
        for _ in range(5):
            s = connect(tokend)
            s.sendall(GET + b"\r\n")
            data = answer(s)
            assert status_of(data) == 200 and token.encode() in data, data
            extra.append(s)
        waiting = list(held[:5])
        wait_for(lambda: all_closed(waiting), timeout=5,
                 message="the oldest idle connections were not shed")
        # The most recently served keep working.
        for s in held[10:20] + extra:
            s.sendall(GET + b"\r\n")
            assert status_of(answer(s)) == 200, "a recently used connection was shed"
        for s in held[:10]:
            s.close()
        # Now every slot busy: long-polls that nothing will answer soon.
        busy = held[10:] + extra
        for s in busy:
            s.sendall(b"GET /v1/tokens/api?newer_than=999999&timeout=30 HTTP/1.1\r\n\r\n")
        while len(busy) < limit:
            s = connect(tokend)
            s.sendall(b"GET /v1/tokens/api?newer_than=999999&timeout=30 HTTP/1.1\r\n\r\n")
            busy.append(s)
        extra = busy
        held = []
        wait_for(lambda: tokend.log_text().count("/v1/tokens/api parked")
                 >= limit, timeout=5, message="the long-polls did not all park")
        status, data = exchange(tokend, GET + b"\r\n")
        assert status == 503, data[:300]
        assert b'"error":"busy"' in data and token.encode() not in data
    finally:
        for s in held + extra:
            s.close()
    assert tokend.running
    # Once tokend has seen the closes, there is room again.
    wait_for(lambda: tokend.get_json("/v1/tokens/api")[0] == 200, timeout=5,
             message="no room after every connection closed")
    served(tokend, token)


def test_five_thousand_connections_leave_memory_bounded(issuer, tokend_factory, nofile):
    n = 5000
    nofile(n + 200)
    tokend, token = start(issuer, tokend_factory, f"max_connections = {n + 100}")
    fds_before = open_fds(tokend.pid)
    before = rss_kib(tokend.pid)
    held = []
    try:
        for i in range(n):
            s = connect(tokend)
            if i % 3 == 0:  # a third have a request under way
                s.sendall(b"GET /v1/tokens/api HTTP/1.1\r\nX-Slow: ")
            held.append(s)
        # Measure once the daemon holds them all (give or take the
        # connection of start()'s GET, counted in fds_before if it was
        # still closing).
        if fds_before is not None:
            wait_for(lambda: open_fds(tokend.pid) >= fds_before + n - 1, timeout=20,
                     message=f"tokend accepted only {open_fds(tokend.pid) - fds_before} "
                             f"of {n} connections")
        assert tokend.running, "tokend died under 5,000 connections"
        t0 = time.monotonic()
        served(tokend, token)  # client number 5,001
        took = time.monotonic() - t0
        assert took < 2.0, f"GET took {took:.2f}s beside {n} open connections"
        growth = rss_kib(tokend.pid) - before
        assert growth < 32 * 1024, f"RSS grew {growth} KiB with {n} connections"
    finally:
        for s in held:
            s.close()
    assert tokend.running
    served(tokend, token)


# --- a hostile neighbour: another uid on the same socket ----------------------
#
# Issue 13: as uid 65534, allowed no token, 2,000 partial requests, 2,000
# silent connections and 5,200 connections (max_connections plus a full
# backlog) each took the service away from every other uid. The neighbour
# re-opens every connection tokend closes, for as long as the attack runs.
# Service must go on for root; how fast is measured by tests/bench/abuse,
# not asserted here.

needs_setpriv = pytest.mark.skipif(not neighbour.available(),
                                   reason="needs root and setpriv for a second uid")

DEFENCES = {
    # the per-uid cap holds the neighbour to 128 connections
    "per-uid-cap": "",
    # no per-uid cap to speak of: shedding at max_connections does the work
    "shedding": "max_connections_per_uid = 65536",
}


def open_socket_to_all(tokend):
    """The harness's socket directory is 0700 and the socket 0660: let the
    neighbour in, so that only tokend's own defences stand in its way."""
    os.chmod(tokend.rundir, 0o711)


@needs_setpriv
@pytest.mark.parametrize("defence", sorted(DEFENCES))
@pytest.mark.parametrize("attack", sorted(neighbour.ATTACKS))
def test_a_hostile_neighbour_cannot_deny_service(issuer, tokend_factory, nofile, attack,
                                                 defence):
    nofile(8000)
    tokend, token = start(issuer, tokend_factory,
                          f"socket_mode = 0666\n{DEFENCES[defence]}")
    open_socket_to_all(tokend)
    with neighbour.Neighbour(tokend.socket, attack) as n:
        assert n.held > 0
        for i in range(20):
            for target in ("/healthz", "/v1/tokens/api"):
                status, body, took = neighbour.request(tokend.socket, target, timeout=5)
                assert status == 200, (attack, defence, i, target, body[:200])
            assert token.encode() in body
            assert tokend.running
        summary = n.stop()
    assert tokend.running, summary
    wait_for(lambda: tokend.get_json("/v1/tokens/api")[0] == 200, timeout=10)


LONGPOLLS = r"""
import json, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
socks, out = [], []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b"GET /v1/tokens/api?newer_than=999999&timeout=2 HTTP/1.1\r\n\r\n")
    socks.append(s)
for s in socks:
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    out.append(int(data.split(b" ", 2)[1]))
print(json.dumps(out))
"""


@needs_setpriv
def test_per_uid_longpoll_cap_leaves_room_for_admins(issuer, tokend_factory):
    tokend, token = start(issuer, tokend_factory,
                          "socket_mode = 0666\nmax_longpolls_per_uid = 2")
    open_socket_to_all(tokend)
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          sys.executable, "-c", LONGPOLLS, tokend.socket, "4"],
                         capture_output=True, text=True, timeout=20)
    assert res.returncode == 0, res.stderr
    statuses = json.loads(res.stdout)
    # Two park (and end 204 after their 2 s), the rest are refused at once.
    assert sorted(statuses) == [204, 204, 429, 429], statuses
    # Root is not held to the cap.
    socks = [connect(tokend) for _ in range(4)]
    try:
        for s in socks:
            s.sendall(b"GET /v1/tokens/api?newer_than=999999&timeout=1 HTTP/1.1\r\n\r\n")
        assert [status_of(answer(s)) for s in socks] == [204] * 4
    finally:
        for s in socks:
            s.close()


def test_a_silent_connection_gets_the_request_deadline_not_idle_timeout(issuer,
                                                                        tokend_factory):
    # The deadline of a connection's first request starts at accept: a
    # client that connects and says nothing is closed after the request
    # deadline (10 s), not after idle_timeout (1 h here).
    tokend, token = start(issuer, tokend_factory, "idle_timeout = 1h")
    s = connect(tokend)
    try:
        t0 = time.monotonic()
        wait_for(lambda: closed_by_peer(s), timeout=15,
                 message="a silent connection outlived the request deadline")
        assert time.monotonic() - t0 > 5
    finally:
        s.close()
    served(tokend, token)


def test_max_connections_is_clamped_to_the_open_file_limit(issuer, tmp_path, tokend_bin):
    # RLIMIT_NOFILE 300 (soft and hard, so tokend cannot raise it): 64
    # descriptors stay for tokend's own calls, 236 for clients.
    wrapper = tmp_path / "tokend-nofile-300"
    wrapper.write_text(f'#!/bin/sh\nulimit -n 300 || exit 99\nexec "{tokend_bin}" "$@"\n')
    wrapper.chmod(0o755)
    issuer.set_expires_in(3)  # refreshed every second or two, under the flood
    tokend = harness.Tokend(config(issuer, "max_connections = 1024"), tmp_path / "t",
                            binary=str(wrapper))
    held = []
    try:
        wait_for(lambda: "serving at most 236 connections" in tokend.log_text(), timeout=5,
                 message="the clamp to RLIMIT_NOFILE was not logged")
        status, doc = tokend.get_json("/v1/tokens/api")
        assert status == 200, doc
        token = doc["token"]
        for _ in range(400):  # more than fit: tokend sheds, never hits EMFILE
            held.append(connect(tokend))
        # Every slot is taken, yet the token's own refreshes still connect.
        v = tokend.get_json("/v1/tokens/api")[1]["version"]
        wait_for(lambda: tokend.get_json("/v1/tokens/api")[1]["version"] > v + 1,
                 timeout=15, message="no refresh while the connections were held")
        log = tokend.log_text()
        assert "EMFILE" not in log and "Too many open files" not in log, log[-2000:]
    finally:
        for s in held:
            s.close()
        code = tokend.stop()
    assert code == 0, tokend.log_text()[-2000:]


def test_the_listen_backlog_is_short(issuer, tokend_factory):
    # Under a flood a client waits behind every connection queued ahead of
    # it: the backlog is 511, not SOMAXCONN (4096). With tokend stopped,
    # non-blocking connects succeed until the queue is full (the kernel
    # takes backlog + 1), then fail with EAGAIN.
    import signal
    tokend, token = start(issuer, tokend_factory)
    held = []
    tokend.proc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(5000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(tokend.socket)
            except BlockingIOError:
                s.close()
                break
            held.append(s)
    finally:
        tokend.proc.send_signal(signal.SIGCONT)
    with open("/proc/sys/net/core/somaxconn") as f:
        cap = int(f.read())  # the kernel's own cap on any backlog
    try:
        assert len(held) == min(511, cap) + 1, len(held)
    finally:
        for s in held:
            s.close()
    # Closed clients stay in the accept queue until tokend drains it: a new
    # connect may meet a full queue until then.
    harness.wait_for(lambda: accepts_connect(tokend.socket), timeout=10,
                     message="tokend did not drain its accept queue")
    served(tokend, token)
