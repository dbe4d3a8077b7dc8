"""A hostile neighbour on tokend's socket, for test_abuse.py and
tests/bench/abuse: a process of another uid (setpriv, as the tests run as
root) that opens many connections and keeps them open, re-opening each one
tokend closes, until it is told to stop.

Attacks (issue 13): "partial" connections each hold an unfinished request
line; "silent" ones send nothing; "flood" is 5,200 silent ones, more than
max_connections and the listen backlog together. time_requests() times a
legitimate client beside it: one new connection per request, as `curl
--unix-socket` or tokenctl make them.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

NOBODY = 65534

ATTACKS = {"partial": 2000, "silent": 2000, "flood": 5200}

# Runs as the neighbour. argv: socket, attack, count. Prints "holding N"
# once N connections are open (or the deadline passed), then keeps
# re-opening closed ones until stdin closes, and prints what it saw.
ATTACKER = r"""
import errno, os, resource, selectors, socket, sys, time
path, attack, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
sel = selectors.DefaultSelector()
sel.register(sys.stdin, selectors.EVENT_READ, None)
opened = closed = 0

def open_one():
    global opened
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
    except (BlockingIOError, InterruptedError):
        s.close()  # the backlog is full: try again later
        return False
    if attack == "partial":
        try:
            s.send(b"GET /v1/tokens/api HTTP/1.1\r\nX-Slow: ")
        except OSError:
            pass
    sel.register(s, selectors.EVENT_READ, "conn")
    opened += 1
    return True

held = 0
deadline = time.monotonic() + 60
while held < count and time.monotonic() < deadline:
    if open_one():
        held += 1
    else:
        time.sleep(0.001)
print(f"holding {held}", flush=True)
want = held
while True:
    for key, _ in sel.select(timeout=0.05):
        if key.data is None:
            print(f"opened {opened} closed-by-tokend {closed}", flush=True)
            sys.exit(0)
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            closed += 1
            held -= 1
    while held < want:
        if not open_one():
            break
        held += 1
"""


def available():
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


class Neighbour:
    """The attacker process; use as a context manager."""

    def __init__(self, sock, attack, count=None, uid=NOBODY):
        self.count = count or ATTACKS[attack]
        self.proc = subprocess.Popen(
            ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
             sys.executable, "-c", ATTACKER, sock, attack, str(self.count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        line = self.proc.stdout.readline()
        if not line.startswith("holding "):
            self.proc.kill()
            raise RuntimeError(f"the neighbour did not start: {line!r}")
        self.held = int(line.split()[1])
        self.summary = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.summary = self.proc.stdout.read().strip()
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.summary


def request(sock, target="/healthz", timeout=10.0):
    """One request on a new connection: (status, body, seconds)."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        deadline = t0 + timeout
        while True:
            try:
                s.connect(sock)
                break
            except BlockingIOError:  # backlog full: the client retries
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.001)
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    took = time.monotonic() - t0
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else None
    return status, body, took


def percentile(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]
