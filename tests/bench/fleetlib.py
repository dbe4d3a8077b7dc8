"""The fleet driver behind tests/bench/fleet: N tokend instances sharing one
OAuth2 token through one SSM parameter, started at the same instant against
one issuer and one rate-limited SSM emulator, every instance read through
its socket once a second, and the figures the issue asks for gathered from
the peers, the answers, each instance's /metrics, its log and /proc.

Stdlib only (plus tests/integration/harness.py for the peers).
"""

import base64
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

_here = Path(__file__).resolve().parent
sys.path.insert(0, str(_here.parents[0] / "integration"))

import harness  # noqa: E402

SECRET_ENV = "TOKEND_FLEET_CLIENT_SECRET"
PARAMETER = "/tokend/fleet/api"
# The fallback log line of store_ssm.c ("…; fetching without SSM").
FALLBACK_LOG = re.compile(r"fetching without SSM")




def raise_nofile():
    """Soft RLIMIT_NOFILE up to the hard limit: the emulator (a child, so it
    inherits it) keeps a connection per instance, the driver polls them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def jwt_exp(token):
    try:
        part = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["exp"]
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def parse_metrics(text):
    """[(family, {label: value}, float)] from Prometheus text."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        try:
            out.append((m.group(1), labels, float(m.group(4))))
        except ValueError:
            continue
    return out


def fallbacks_from_metrics(samples):
    """(all, throttling) fallbacks of one instance, from whatever family
    carries them: a dedicated *fallback* family (by reason when labelled),
    else tokend_ssm_store_events_total{event="fallbacks"}. None when no
    family says anything about fallbacks."""
    dedicated = [(n, lab, v) for n, lab, v in samples
                 if "fallback" in n and not n.endswith(("_created", "_bucket"))]
    if dedicated:
        total = sum(v for _, _, v in dedicated)
        reasons = [lab.get("reason", "") for _, lab, _ in dedicated]
        if any(reasons):
            # reason="deadline": SSM was busy (throttled) or the lease held
            # until the token's deadline; "unusable" is not throttling.
            thr = sum(v for _, lab, v in dedicated
                      if lab.get("reason", "") in ("deadline", "busy")
                      or "throttl" in lab.get("reason", ""))
        else:
            thr = total
        return total, thr
    events = [v for n, lab, v in samples
              if n.startswith("tokend_ssm_store_events") and "fallback" in lab.get("event", "")]
    if events:
        # Before fallbacks had reasons: with SSM answering (only throttled),
        # every fallback in a run is a throttling one.
        return sum(events), sum(events)
    return None


class Instance:
    """One tokend started through a FIFO gate: `sh` blocks reading the
    FIFO, then execs tokend (same pid), so all of them start together."""

    def __init__(self, index, binary, workdir, config, env, gate):
        self.index = index
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rundir = Path(tempfile.mkdtemp(prefix="tkf-", dir="/tmp"))
        self.socket = str(self.rundir / "tokend.sock")
        self.config_path = self.workdir / "tokend.conf"
        self.config_path.write_text(config.replace("{socket}", self.socket))
        self.log_path = self.workdir / "tokend.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["/bin/sh", "-c", 'read _ < "$0"; exec "$@"', gate, binary, "-c",
                 str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.ready_at = None   # READY=1, seconds after the release
        self.first_ok = None   # first 200 seen by the poller
        self.answers = 0
        self.non200_after_first = 0
        self.errors_before_first = 0
        self.expired = 0
        self.overstated = 0
        self.metrics = None
        self.rss_kib = None
        self.private_kib = None

    pid = property(lambda self: self.proc.pid)

    def gated(self):
        """True while `sh` is blocked opening the FIFO (openat, x86-64
        syscall 257, as /proc/PID/syscall shows it)."""
        try:
            if Path(f"/proc/{self.pid}/comm").read_text().strip() != "sh":
                return False
            return Path(f"/proc/{self.pid}/syscall").read_text().startswith("257 ")
        except OSError:
            return False

    def get(self, path, timeout=5.0):
        conn = harness.UnixHTTPConnection(self.socket, timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def poll(self, t_rel, now):
        try:
            status, body = self.get("/v1/tokens/api")
        except OSError:
            status, body = 0, b""
        self.answers += 1
        if status == 200:
            if self.first_ok is None:
                self.first_ok = t_rel
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            exp = jwt_exp(doc.get("token", ""))
            if exp is not None and exp <= now:
                self.expired += 1
            claimed = doc.get("expires_at")
            if exp is not None and isinstance(claimed, (int, float)) and claimed > exp + 1:
                self.overstated += 1
        elif self.first_ok is not None:
            self.non200_after_first += 1
        else:
            self.errors_before_first += 1

    def collect(self):
        try:
            status, body = self.get("/metrics")
            if status == 200:
                self.metrics = parse_metrics(body.decode(errors="replace"))
        except OSError:
            pass
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.rss_kib = int(line.split()[1])
            roll = Path(f"/proc/{self.pid}/smaps_rollup").read_text()
            self.private_kib = sum(int(m) for m in re.findall(
                r"^Private_(?:Clean|Dirty):\s+(\d+) kB", roll, re.M))
        except OSError:
            pass

    def log_fallbacks(self):
        try:
            return len(FALLBACK_LOG.findall(self.log_path.read_text(errors="replace")))
        except OSError:
            return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.rundir, ignore_errors=True)


class Notify:
    """One NOTIFY_SOCKET for every instance; SO_PASSCRED tells which pid
    sent READY=1."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.path = path
        self.ready = {}  # pid -> time.monotonic()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        size = socket.CMSG_SPACE(12)
        while self.running:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, size)
            except socket.timeout:
                continue
            except OSError:
                return
            t = time.monotonic()
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = int.from_bytes(cdata[0:4], sys.byteorder)
                    if b"READY=1" in data.split(b"\n"):
                        self.ready.setdefault(pid, t)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


class Group:
    """n instances against their own issuer and SSM emulator."""

    def __init__(self, n, workdir, binary, expires_in, get_tps=None, put_tps=None,
                 get_burst=None, put_burst=None, token_extra="", daemon_extra="",
                 startup_timeout=120, label=None):
        self.n = n
        self.label = label or f"N={n}"
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.limits = dict(get_tps=get_tps, put_tps=put_tps)
        self.issuer = harness.Issuer(expires_in=expires_in, log_dir=self.workdir)
        self.ssm = harness.SSM(log_dir=self.workdir, get_tps=get_tps, get_burst=get_burst,
                               put_tps=put_tps, put_burst=put_burst)
        self.gate = str(self.workdir / "gate")
        os.mkfifo(self.gate)
        self.rundir = Path(tempfile.mkdtemp(prefix="tkn-", dir="/tmp"))
        self.notify = Notify(str(self.rundir / "notify"))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k != "NOTIFY_SOCKET"}
        env.update(harness.ssm_token_env(self.ssm, self.issuer, SECRET_ENV))
        env.update({"AWS_EC2_METADATA_DISABLED": "true", "NOTIFY_SOCKET": self.notify.path})
        config = harness.ssm_token_config(self.issuer, PARAMETER,
                                          token_extra="coordinate = ssm-lock\n" + token_extra,
                                          daemon_extra=daemon_extra,
                                          startup_timeout=f"{startup_timeout}s",
                                          secret_env=SECRET_ENV)
        self.instances = []
        for i in range(n):
            home = self.workdir / f"tokend{i:03d}"
            inst_env = dict(env, HOME=str(home))
            self.instances.append(Instance(i, binary, home, config, inst_env, self.gate))
        self.t0 = None

    def wait_gated(self, timeout=60):
        harness.wait_for(lambda: all(i.gated() or i.proc.poll() is not None
                                     for i in self.instances),
                         timeout, message=f"{self.label}: instances did not reach the gate")

    def release(self):
        """Opens the gate: every `sh` blocked in open(FIFO) reads EOF and
        execs tokend. Stragglers (not yet in open) get another opening."""
        self.t0 = time.monotonic()
        for _ in range(500):
            try:
                fd = os.open(self.gate, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass
            time.sleep(0.02)
            if not any(i.gated() for i in self.instances):
                return
        raise harness.HarnessError(f"{self.label}: instances still gated after release")

    def stop(self):
        for i in self.instances:
            if i.proc.poll() is None:
                i.proc.send_signal(signal.SIGTERM)
        for i in self.instances:
            i.stop()
        self.notify.close()
        shutil.rmtree(self.rundir, ignore_errors=True)
        self.issuer.stop()
        self.ssm.stop()

    def figures(self, seconds):
        for i in self.instances:
            i.collect()
        issuer_tokens = self.issuer.count()
        counts = self.ssm.counts()
        ssm_by_op = {op: sum(v for k, v in res.items()) for op, res in counts.items()}
        throttled = {op: res.get("throttled", 0) + res.get("ThrottlingException", 0)
                     for op, res in counts.items()}
        ttft = []
        unserved = 0
        for i in self.instances:
            ready = self.notify.ready.get(i.pid)
            t = ready - self.t0 if ready is not None else i.first_ok
            if t is None:
                unserved += 1
            else:
                ttft.append(t)
        fb_total = fb_thr = 0
        fb_source = "metrics"
        fb_instances = 0
        for i in self.instances:
            got = fallbacks_from_metrics(i.metrics or [])
            if got is None:
                fb_source = "log"
                n_log = i.log_fallbacks()
                got = (n_log, n_log)
            fb_total += got[0]
            fb_thr += got[1]
            fb_instances += 1 if got[0] else 0
        rss = [i.rss_kib for i in self.instances if i.rss_kib]
        private = [i.private_kib for i in self.instances if i.private_kib]
        non200 = sum(i.non200_after_first for i in self.instances)
        return {
            "label": self.label,
            "n": self.n,
            "seconds": seconds,
            "get_tps": self.limits["get_tps"],
            "put_tps": self.limits["put_tps"],
            "issuer_calls": issuer_tokens,
            "ssm_calls": ssm_by_op,
            "ssm_calls_total": sum(ssm_by_op.values()),
            "ssm_throttled": {k: v for k, v in throttled.items() if v},
            "ssm_throttled_total": sum(throttled.values()),
            "fallbacks": int(fb_total),
            "throttling_fallbacks": int(fb_thr),
            "fallback_instances": fb_instances,
            "fallbacks_from": fb_source,
            "log_fallbacks": sum(i.log_fallbacks() for i in self.instances),
            "ttft_p50": percentile(ttft, 50),
            "ttft_p99": percentile(ttft, 99),
            "ttft_max": max(ttft) if ttft else None,
            "unserved": unserved,
            "answers": sum(i.answers for i in self.instances),
            "non200_after_first": non200,
            "non200_instances": sum(1 for i in self.instances if i.non200_after_first),
            "expired_served": sum(i.expired for i in self.instances),
            "expiry_overstated": sum(i.overstated for i in self.instances),
            "rss_mib_median": round(statistics.median(rss) / 1024, 2) if rss else None,
            "rss_mib_max": round(max(rss) / 1024, 2) if rss else None,
            "private_mib_median": (round(statistics.median(private) / 1024, 2)
                                   if private else None),
            "exited": sum(1 for i in self.instances if i.proc.poll() is not None),
        }


def poll_groups(groups, seconds, interval=1.0, threads=8):
    """Reads every instance of every group once per interval for seconds
    after the release, spread over `threads` pollers."""
    everyone = [(g, i) for g in groups for i in g.instances]
    stop_at = time.monotonic() + seconds

    def worker(slice_):
        nxt = time.monotonic()
        while True:
            now_m = time.monotonic()
            if now_m >= stop_at:
                return
            for g, inst in slice_:
                inst.poll(time.monotonic() - g.t0, time.time())
            nxt += interval
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, max(0.0, stop_at - time.monotonic())))
            else:
                nxt = time.monotonic()

    pool = [threading.Thread(target=worker, args=(everyone[k::threads],), daemon=True)
            for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def run(groups, seconds):
    """Cold deploy of every group at once, then polling; the figures of each."""
    for g in groups:
        g.wait_gated()
    for g in groups:
        g.release()
    poll_groups(groups, seconds)
    return [g.figures(seconds) for g in groups]


def targets(fig, single):
    """[(what, value, target, met)] of the issue's targets for a fleet run
    against the single instance's run."""
    g = fig["get_tps"]
    bound = 2 * fig["n"] / g + 5 if g else None
    issuer_bound = 1.1 * single["issuer_calls"] + 1
    rows = [
        ("issuer calls", fig["issuer_calls"], f"<= {issuer_bound:.1f}",
         fig["issuer_calls"] <= issuer_bound),
        ("throttling fallbacks", fig["throttling_fallbacks"], "0",
         fig["throttling_fallbacks"] == 0),
        ("expired served", fig["expired_served"], "0", fig["expired_served"] == 0),
        ("non-200 after a first token", fig["non200_after_first"], "0",
         fig["non200_after_first"] == 0),
    ]
    if bound is not None:
        worst = fig["ttft_max"] if fig["unserved"] == 0 else None
        rows.append(("last instance served (s)",
                     "never" if worst is None else f"{worst:.1f}", f"<= {bound:.1f}",
                     worst is not None and worst <= bound))
    return rows
