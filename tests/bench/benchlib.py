"""What the tests/bench scripts share: finding binaries, starting the local
issuer and SSM emulator (through tests/integration/harness.py), tokend with
N OAuth2 tokens, nginx, the load generator, and reading /proc.

Stdlib only. Binaries come from TOKEND_BIN, UDS_LOAD_BIN and SIGN_TOOL_BIN,
else from BUILD_DIR (default: the current directory, then the source tree).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SRCDIR = Path(os.environ.get("TOKEND_SRCDIR") or BENCH_DIR.parents[1])
sys.path.insert(0, str(SRCDIR / "tests" / "integration"))

import harness  # noqa: E402  (needs the path above)

CLIENT_ID = "tokend-bench-client"
CLIENT_SECRET = "tokend-bench-secret"
# The secret reaches tokend through its environment, as it should in use.
SECRET_ENV = "TOKEND_BENCH_CLIENT_SECRET"
# Long enough that no token is refreshed while a benchmark runs.
TOKEN_LIFETIME = 7 * 24 * 3600


class BenchError(RuntimeError):
    pass


def run_main(main, prefix):
    """main(tmp) in a fresh temporary directory (peer and tokend logs),
    removed when main returns 0 and kept, with a message, otherwise."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    rc = 1
    try:
        rc = main(tmp)
    finally:
        if rc == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)
    return rc


def env_float(name, default):
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise BenchError(f"{name} must be a number")


def find_binary(env_name, relpath):
    path = harness.binary_path(env_name)
    if path:
        return path
    for base in (os.environ.get("BUILD_DIR"), os.getcwd(), str(SRCDIR)):
        if base:
            cand = Path(base) / relpath
            if cand.is_file() and os.access(cand, os.X_OK):
                return str(cand)
    return None


def tokend_config(issuer, ntokens=10, ssm=False, extra=""):
    """INI for ntokens OAuth2 tokens tok01..tokNN against issuer; with ssm,
    each is persisted to /tokend/bench/tokNN."""
    parts = ["[daemon]\nsocket = {socket}\nlog_level = warn\n", extra]
    if ssm:
        parts.append("[aws]\nregion = us-east-1\n")
    for i in range(1, ntokens + 1):
        parts.append(f'[token "tok{i:02d}"]\ntype = oauth2\n'
                     f"token_url = {issuer.token_url}\nclient_id = {issuer.client_id}\n"
                     f"client_secret = env:{SECRET_ENV}\n"
                     f"audience = https://bench.tokend.local/\n")
        if ssm:
            parts.append(f"ssm_parameter = /tokend/bench/tok{i:02d}\n")
    return "\n".join(parts)


def start_issuer(log_dir):
    return harness.Issuer(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                          expires_in=TOKEN_LIFETIME, log_dir=log_dir)


def tokend_env(extra=None):
    """What tokend needs in its environment besides the harness's."""
    return {SECRET_ENV: CLIENT_SECRET, **(extra or {})}


def start_tokend(config, workdir, env=None, timeout=30):
    """harness.Tokend, or a BenchError that says why it did not come up."""
    binary = find_binary("TOKEND_BIN", "src/tokend")
    if binary is None:
        raise BenchError("no tokend binary (set TOKEND_BIN or build src/tokend)")
    try:
        return harness.Tokend(config, workdir, env=tokend_env(env), timeout=timeout,
                              binary=binary)
    except harness.HarnessError as e:
        raise BenchError(f"tokend did not become ready: {str(e)[:2000]}")


def uds_load(sock, conns, seconds, warmup, path="/", new_conn=False, threads=1):
    binary = find_binary("UDS_LOAD_BIN", "tests/bench/uds-load")
    if binary is None:
        raise BenchError("no uds-load binary (set UDS_LOAD_BIN or make check)")
    cmd = [binary, "-s", sock, "-c", str(conns), "-d", str(seconds), "-w", str(warmup),
           "-p", path, "-t", str(threads)]
    if new_conn:
        cmd.append("--new-conn")
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=seconds + warmup + 60)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BenchError(f"uds-load failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout.splitlines()[0])


# --- nginx -----------------------------------------------------------------

def ensure_nginx():
    """Path of nginx, installing the Debian package if it is missing."""
    path = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx")
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError("nginx is not installed and cannot be installed here "
                         "(apt-get install nginx-light)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for pkg in ("nginx-light", "nginx"):
        if subprocess.run(["apt-get", "install", "-y", "-q", pkg], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            break
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(path):
        raise BenchError("apt-get could not install nginx")
    # The package starts a system nginx on port 80; it is not ours to keep.
    subprocess.run(["service", "nginx", "stop"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return path


def nginx_quote(body):
    """body as an nginx single-quoted string; None if it cannot be one
    ($ would be read as a variable)."""
    if "$" in body:
        return None
    return "'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Nginx:
    """nginx in the foreground, one worker, answering every GET on a Unix
    socket with 200, Content-Type application/json and the given body."""

    def __init__(self, body, content_type="application/json"):
        self.binary = ensure_nginx()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-nginx-", dir="/tmp"))
        self.socket = str(self.dir / "nginx.sock")
        quoted = nginx_quote(body)
        if quoted is None:
            (self.dir / "body").write_text(body)
            location = f"default_type {content_type}; alias {self.dir}/body;"
        else:
            location = f"default_type {content_type}; return 200 {quoted};"
        template = (BENCH_DIR / "nginx.conf.in").read_text()
        conf = template.replace("@DIR@", str(self.dir)).replace("@SOCKET@", self.socket)
        conf = conf.replace("@LOCATION@", location)
        (self.dir / "nginx.conf").write_text(conf)
        self.log = open(self.dir / "stderr.log", "wb")
        self.proc = subprocess.Popen([self.binary, "-p", str(self.dir), "-c",
                                      str(self.dir / "nginx.conf")],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            harness.wait_for(self._listening, timeout=10,
                             message="nginx did not listen within 10 s")
        except (harness.HarnessError, BenchError):
            text = self.errors()
            self.stop()
            raise BenchError("nginx did not start: " + text)

    def _listening(self):
        if self.proc.poll() is not None:
            raise BenchError("nginx exited: " + self.errors())
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.socket)
            s.close()
            return True
        except OSError:
            return False

    def errors(self):
        text = ""
        for name in ("stderr.log", "error.log"):
            p = self.dir / name
            if p.exists():
                text += p.read_text(errors="replace")
        return text.strip()[-2000:]

    def worker_pid(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                             text=True).stdout.split()
        return int(out[0]) if out else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers first
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- /proc -----------------------------------------------------------------

def cpu_ticks(pid):
    """utime + stime of pid (all its threads), in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def ticks_per_second():
    return os.sysconf("SC_CLK_TCK")


def smaps_rollup(pid):
    """{field: kB} from /proc/PID/smaps_rollup."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        m = re.match(r"(\w+):\s+(\d+) kB", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def context_switches(pid):
    """Voluntary + involuntary context switches over all threads of pid."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except FileNotFoundError:
            continue
        for m in re.finditer(r"(?:non)?voluntary_ctxt_switches:\s+(\d+)", text):
            total += int(m.group(1))
    return total


def machine():
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": os.uname().release}


def print_table(headers, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = "  ".join(f"{{:>{w}}}" for w in widths)
    print(line.format(*headers))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
