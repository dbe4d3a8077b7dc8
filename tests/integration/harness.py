"""Integration-test harness for tokend: real peers, the real binary.

Everything here is stdlib only (Debian's python3-pytest 7.2 is the runner).

Peers (node servers in tests/servers, started with cwd tests/ so that
tests/node_modules resolves). Each binds 127.0.0.1 on port 0 and prints one
line ``{"port": N}``; the harness waits for it with a deadline.

    NodeServer(*args, log_dir=None, start=True)
        .url .port .log_path .log_text()
        .control(name, **args) -> dict    POST /__control/NAME (JSON)
        .request(method, path, body=None, headers=None) -> (status, headers, bytes)
        .stop(timeout=5) -> exit code     SIGTERM, SIGKILL after the deadline
        .restart()                        stop, then start on the same port
    Issuer(client_id=, client_secret=, expires_in=3600, audience=None)
        .token_url .jwks_url .issuer_url .client_id .client_secret
        .set_expires_in(seconds, jwt_exp=None)
        .fault(kind, count=None, **params)  status/rate_limit/delay/invalid_json/
                                            missing_token/reset (see issuer.mjs)
        .clear_faults() .count() (tokens issued) .token_requests()
        .requests() (t, headers, body, content_type, status) .tokens() .reset()
        .fetch_token(auth="post_json"|"post_form"|"basic", ...) -> (status, dict)
    SSM(credentials=None, credentials_file=None, region=None)
        .endpoint .access_key_id .secret_access_key
        .fault(kind, count=None, op=None, **params)  throttle/too_many_updates/
                                            status/access_denied/delay/reset/invalid_json
        .clear_faults() .counts(op=None) .calls() .set_clock_offset(seconds)
        .parameter(name) -> dict|None (plaintext, all versions)
        .put_parameter(name, value, **kw) .corrupt(name, value=None)
        .delete_parameter(name) .add_credentials(akid, secret, token=None)
    ECS(path=..., auth_token=None, lifetime=3600, credentials_file=None)
        .relative_uri .full_uri .env() -> dict of AWS_CONTAINER_* variables
    IMDS(role=..., region=..., lifetime=3600, credentials_file=None)
        .endpoint .env() .expire_sessions()
    STS(expected_token=None, lifetime=None, credentials_file=None)
        .endpoint .env(directory) (writes the web identity token file)
    (ECS, IMDS and STS share: .set_lifetime(s) .fault(kind, ...) .clear_faults()
     .calls() .issued() .last_credentials() .state())
    ECS/IMDS/STS append what they issue to credentials_file; give SSM the same
    file and it accepts signatures made with those credentials.

tokend:

    Tokend(config, workdir, env=None, args=(), wait_ready=True, timeout=20,
           binary=None)
        config: INI text; "{socket}", "{workdir}" and "{rundir}" are replaced
        (only those names, so other braces are left alone).
        Starts TOKEND_BIN -c FILE with NOTIFY_SOCKET bound by the harness (a
        thread collects every datagram in order), HOME=workdir, the caller's
        AWS_* variables removed and AWS_EC2_METADATA_DISABLED=true unless env
        sets an IMDS endpoint. stdout+stderr go to workdir/tokend.log.
        .socket .config_path .pid .running
        .wait_ready(timeout) .wait_notification(text, timeout)
        .notifications() -> list of datagrams (str)
        .request(method, path, headers=None, body=None) -> (status, headers, bytes)
        .get_json(path) -> (status, parsed JSON or None)
        .tokenctl(*args, timeout=10) -> CompletedProcess (TOKENCTL_BIN -s SOCKET)
        .reload()  SIGHUP    .stop(sig=SIGTERM, timeout=10) -> exit code
        .kill()    .log_text()    .sanitizer_report() -> str|None
        .expected_exit: exit codes the tokend_factory fixture accepts (default {0})

Helpers: aws_env(ssm=, ecs=, imds=, static=, region=) -> env dict pointing
tokend at the emulators (AWS_ENDPOINT_URL_SSM, AWS_CONTAINER_*, ...);
STS.env(directory) writes a web identity token file and returns its variables.
wait_for(predicate, timeout=10, interval=0.05, message=None)
returns the predicate's first truthy value or raises HarnessError; never
sleep to wait for a condition. binary_path(env_name) returns the path in an
environment variable when it is an executable file, else None.
"""

import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

SRCDIR = Path(os.environ.get("TOKEND_SRCDIR") or Path(__file__).resolve().parents[2])
TESTS_DIR = SRCDIR / "tests"
SERVERS_DIR = TESTS_DIR / "servers"
DEFAULT_AKID = "AKIDEXAMPLE"
DEFAULT_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class HarnessError(AssertionError):
    pass


def wait_for(predicate, timeout=10.0, interval=0.05, message=None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError(message or f"condition not met within {timeout}s")
        time.sleep(interval)


def binary_path(env_name):
    path = os.environ.get(env_name)
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return None


def _http(host_port, method, path, body=None, headers=None, timeout=10.0):
    conn = http.client.HTTPConnection(*host_port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class NodeServer:
    script = None
    start_timeout = 20.0

    def __init__(self, *args, log_dir=None, start=True):
        self.args = [str(a) for a in args]
        self.port = None
        self.proc = None
        self._own_log_dir = log_dir is None
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="peer-"))
        self.log_path = self.log_dir / f"{Path(self.script).stem}-{id(self):x}.log"
        if start:
            self.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, port=None):
        if shutil.which(os.environ.get("NODE", "node")) is None:
            raise HarnessError("node is not installed")
        cmd = [os.environ.get("NODE", "node"), str(SERVERS_DIR / self.script),
               "--port", str(port or 0), *self.args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=TESTS_DIR, stdout=subprocess.PIPE,
                                         stderr=log, stdin=subprocess.DEVNULL)
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()),
                         daemon=True).start()
        try:
            line = lines.get(timeout=self.start_timeout)
        except queue.Empty:
            self.stop()
            raise HarnessError(f"{self.script} did not report its port:\n{self.log_text()}")
        if not line:
            self.proc.wait(5)
            raise HarnessError(f"{self.script} exited {self.proc.returncode}:\n{self.log_text()}")
        self.port = json.loads(line)["port"]
        return self

    def stop(self, timeout=5.0):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def restart(self):
        port = self.port
        self.stop()
        # The port was ours a moment ago; a TIME_WAIT leftover is the only
        # reason for a retry, so poll briefly instead of failing at once.
        wait_for(lambda: self._try_start(port), timeout=10,
                 message=f"{self.script} could not restart on port {port}")
        return self

    def _try_start(self, port):
        try:
            self.start(port)
            return True
        except HarnessError:
            return False

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        return _http(("127.0.0.1", self.port), method, path, body, headers, timeout)

    def control(self, endpoint, /, **args):
        args = {k: v for k, v in args.items() if v is not None}
        status, _, body = self.request("POST", f"/__control/{endpoint}", body=args)
        data = json.loads(body or b"{}")
        if status != 200:
            raise HarnessError(f"{self.script} control {endpoint}: {status} {data}")
        return data

    def fault(self, kind, count=None, **params):
        spec = {"kind": kind, **params}
        if count is not None:
            spec["count"] = count
        return self.control("fault", **spec)

    def clear_faults(self):
        return self.control("clear_faults")

    def state(self):
        return self.control("state")


class Issuer(NodeServer):
    script = "issuer.mjs"

    def __init__(self, client_id="tokend-test-client", client_secret="tokend-test-secret",
                 expires_in=3600, audience=None, **kw):
        self.client_id = client_id
        self.client_secret = client_secret
        args = ["--client-id", client_id, "--client-secret", client_secret,
                "--expires-in", expires_in]
        if audience:
            args += ["--audience", audience]
        super().__init__(*args, **kw)

    token_url = property(lambda self: f"{self.url}/token")
    jwks_url = property(lambda self: f"{self.url}/jwks")
    issuer_url = property(lambda self: self.url)

    def set_expires_in(self, seconds, jwt_exp=None):
        return self.control("expires_in", seconds=seconds, jwt_exp=jwt_exp)

    def count(self):
        return self.state()["tokens_issued"]

    def token_requests(self):
        return self.state()["token_requests"]

    def requests(self):
        return self.control("requests")["requests"]

    def tokens(self):
        return self.control("tokens")["tokens"]

    def reset(self):
        return self.control("reset")

    def fetch_token(self, auth="post_json", client_id=None, client_secret=None,
                    audience=None, scope=None):
        """Asks for a token the way tokend would; returns (status, JSON body)."""
        import base64
        import urllib.parse
        cid = self.client_id if client_id is None else client_id
        secret = self.client_secret if client_secret is None else client_secret
        fields = {"grant_type": "client_credentials"}
        if audience is not None:
            fields["audience"] = audience
        if scope is not None:
            fields["scope"] = scope
        headers = {}
        if auth == "basic":
            q = urllib.parse.quote_plus
            raw = f"{q(cid)}:{q(secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        else:
            fields.update(client_id=cid, client_secret=secret)
        if auth == "post_json":
            body = json.dumps(fields)
            headers["Content-Type"] = "application/json"
        else:
            body = urllib.parse.urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, _, data = self.request("POST", "/token", body=body, headers=headers)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data


class SSM(NodeServer):
    script = "ssm.mjs"

    def __init__(self, credentials=None, credentials_file=None, region=None,
                 get_tps=None, get_burst=None, put_tps=None, put_burst=None, **kw):
        credentials = credentials or f"{DEFAULT_AKID}:{DEFAULT_SECRET}"
        first = credentials.split(",")[0]
        self.access_key_id, self.secret_access_key = first.split(":", 1)
        args = ["--credentials", credentials]
        if credentials_file:
            args += ["--credentials-file", credentials_file]
        if region:
            args += ["--region", region]
        # Account-wide rate limits (token buckets), unlimited when None.
        for flag, value in (("--get-tps", get_tps), ("--get-burst", get_burst),
                            ("--put-tps", put_tps), ("--put-burst", put_burst)):
            if value is not None:
                args += [flag, value]
        super().__init__(*args, **kw)

    endpoint = property(lambda self: self.url)

    def fault(self, kind, count=None, op=None, **params):
        if op is not None:
            params["op"] = op
        return super().fault(kind, count, **params)

    def counts(self, op=None):
        counts = self.state()["counts"]
        return counts.get(op, {}) if op else counts

    def calls(self):
        return self.control("calls")["calls"]

    def set_clock_offset(self, seconds):
        return self.control("clock", offset_s=seconds)

    def parameter(self, name):
        status, _, body = self.request("POST", "/__control/parameter", body={"name": name})
        return json.loads(body) if status == 200 else None

    def put_parameter(self, name, value, type=None, description=None, tier=None, key_id=None):
        return self.control("put_parameter", name=name, value=value, type=type,
                            description=description, tier=tier, key_id=key_id)

    def corrupt(self, name, value=None):
        return self.control("corrupt", name=name, value=value)

    def delete_parameter(self, name):
        return self.control("delete_parameter", name=name)

    def add_credentials(self, akid, secret, token=None, expiration=None):
        return self.control("credentials", akid=akid, secret=secret, token=token,
                            expiration=expiration)

    def reset(self):
        return self.control("reset")

    def set_limits(self, **limits):
        """get_tps/get_burst/put_tps/put_burst; a tps of 0 or None lifts
        that limit. Returns the limits with their ok/throttled counts."""
        limits = {k: (0 if v is None and k.endswith("_tps") else v) for k, v in limits.items()}
        return self.control("limits", **limits)["limits"]

    def limits(self):
        return self.state()["limits"]


class AwsCreds(NodeServer):
    script = "aws-creds.mjs"
    mode = None

    def __init__(self, *args, lifetime=3600, credentials_file=None, **kw):
        args = ["--mode", self.mode, "--lifetime", lifetime, *args]
        if credentials_file:
            args += ["--credentials-file", credentials_file]
        super().__init__(*args, **kw)

    def set_lifetime(self, seconds):
        return self.control("lifetime", seconds=seconds)

    def calls(self):
        return self.state()["calls"]

    def issued(self):
        return self.control("issued")["issued"]

    def last_credentials(self):
        return self.state()["last"]

    def requests(self):
        return self.control("requests")["requests"]

    def settings(self, **kw):
        return self.control("settings", **kw)


class ECS(AwsCreds):
    mode = "ecs"

    def __init__(self, path="/v2/credentials/tokend-test", auth_token=None, **kw):
        self.path = path
        self.auth_token = auth_token
        args = ["--path", path]
        if auth_token is not None:
            args += ["--auth-token", auth_token]
        super().__init__(*args, **kw)

    relative_uri = property(lambda self: self.path)
    full_uri = property(lambda self: f"{self.url}{self.path}")

    def env(self):
        """AWS_CONTAINER_* for full-URI mode (a relative URI always means
        169.254.170.2, which a test cannot bind)."""
        env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.full_uri}
        if self.auth_token is not None:
            env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = self.auth_token
        return env


class IMDS(AwsCreds):
    mode = "imds"

    def __init__(self, role="tokend-test-role", region="us-east-1", **kw):
        self.role = role
        self.region = region
        super().__init__("--role", role, "--region", region, **kw)

    endpoint = property(lambda self: self.url)

    def env(self):
        return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": self.url}

    def expire_sessions(self):
        return self.control("expire_sessions")


class STS(AwsCreds):
    mode = "sts"

    def __init__(self, expected_token=None, lifetime=None, **kw):
        self.expected_token = expected_token
        args = []
        if expected_token is not None:
            args += ["--expected-token", expected_token]
        super().__init__(*args, lifetime=lifetime or 3600, **kw)
        if lifetime is not None:
            self.set_lifetime(lifetime)

    endpoint = property(lambda self: self.url)

    def env(self, directory, token=None, role_arn="arn:aws:iam::123456789012:role/tokend-test"):
        """Writes the web identity token file into directory and returns the
        variables that make tokend use this STS."""
        path = Path(directory) / "web-identity-token"
        path.write_text((token or self.expected_token or "tokend-test-jwt") + "\n")
        return {"AWS_WEB_IDENTITY_TOKEN_FILE": str(path), "AWS_ROLE_ARN": role_arn,
                "AWS_ROLE_SESSION_NAME": "tokend-test", "AWS_ENDPOINT_URL_STS": self.url}


def aws_env(ssm=None, ecs=None, imds=None, static=None, region="us-east-1"):
    """Environment for a tokend that talks to the emulators. static: an SSM
    instance (its first key pair) or (akid, secret[, token]) for AWS_* keys.
    For STS use STS.env(directory) as well."""
    env = {"AWS_REGION": region}
    if ssm is not None:
        env["AWS_ENDPOINT_URL_SSM"] = ssm.endpoint
    if ecs is not None:
        env.update(ecs.env())
    if imds is not None:
        env.update(imds.env())
    if isinstance(static, SSM):
        static = (static.access_key_id, static.secret_access_key)
    if static is not None:
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = static[0], static[1]
        if len(static) > 2:
            env["AWS_SESSION_TOKEN"] = static[2]
    return env


SSM_TOKEN_SECRET_ENV = "TOKEND_TEST_CLIENT_SECRET"


def ssm_token_config(issuer, parameter, token_extra="", daemon_extra="",
                     startup_timeout="60s", secret_env=SSM_TOKEN_SECRET_ENV):
    """A config with one OAuth2 token "api" from issuer kept in SSM under
    parameter (the fleet tests' and benchmarks' shape); its client secret
    is read from secret_env (ssm_token_env sets it), {socket} is left for
    Tokend to fill."""
    return (f"[daemon]\nsocket = {{socket}}\nstartup_timeout = {startup_timeout}\n"
            f"{daemon_extra}\n"
            f"[aws]\nregion = us-east-1\n\n"
            f'[token "api"]\ntype = oauth2\ntoken_url = {issuer.token_url}\n'
            f"client_id = {issuer.client_id}\nclient_secret = env:{secret_env}\n"
            f"ssm_parameter = {parameter}\n{token_extra}")


def ssm_token_env(ssm, issuer, secret_env=SSM_TOKEN_SECRET_ENV):
    """The environment for ssm_token_config: static credentials the SSM
    emulator accepts, its endpoint, and the client secret."""
    env = aws_env(ssm=ssm, static=ssm)
    env[secret_env] = issuer.client_secret
    return env


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


class _NotifyListener:
    """Binds a NOTIFY_SOCKET and records every datagram, in order."""

    def __init__(self, path):
        self.path = path
        self.messages = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append(data.decode(errors="replace"))

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def close(self):
        self.running = False
        self.thread.join(2)
        # Datagrams sent just before tokend exited (STOPPING=1) may still be
        # queued: read them before closing.
        self.sock.setblocking(False)
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            with self.lock:
                self.messages.append(data.decode(errors="replace"))
        self.sock.close()


class Tokend:
    def __init__(self, config, workdir, env=None, args=(), wait_ready=True, timeout=20.0,
                 binary=None):
        self.binary = binary or binary_path("TOKEND_BIN")
        if not self.binary:
            raise HarnessError("TOKEND_BIN is not set to an executable")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        # sun_path holds 108 bytes; pytest's tmp_path can be longer.
        self.rundir = Path(tempfile.mkdtemp(prefix="tkd-", dir="/tmp"))
        self.socket = str(self.rundir / "tokend.sock")
        self.config_path = self.workdir / "tokend.conf"
        self.log_path = self.workdir / "tokend.log"
        self.expected_exit = {0}
        subs = {"socket": self.socket, "workdir": str(self.workdir), "rundir": str(self.rundir)}
        text = re.sub(r"\{(socket|workdir|rundir)\}", lambda m: subs[m.group(1)], config)
        self.config_path.write_text(text)
        self.notify = _NotifyListener(str(self.rundir / "notify"))
        self.env = self._environment(env or {})
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.config_path), *args],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env)
        self.returncode = None
        if wait_ready:
            self.wait_ready(timeout)

    def _environment(self, extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k != "NOTIFY_SOCKET"}
        env.update(HOME=str(self.workdir), NOTIFY_SOCKET=self.notify.path)
        if "AWS_EC2_METADATA_SERVICE_ENDPOINT" not in extra:
            env["AWS_EC2_METADATA_DISABLED"] = "true"
        env.update({k: str(v) for k, v in extra.items()})
        return env

    pid = property(lambda self: self.proc.pid)
    running = property(lambda self: self.proc.poll() is None)

    def notifications(self):
        return self.notify.snapshot()

    def wait_notification(self, text, timeout=20.0):
        def seen():
            for msg in self.notifications():
                if text in msg.split("\n"):
                    return msg
            if not self.running:
                raise HarnessError(f"tokend exited {self.proc.returncode} before {text!r}:\n"
                                   f"{self.log_text()}")
            return None
        return wait_for(seen, timeout, message=f"no {text!r} from tokend within {timeout}s:\n"
                        f"{self.log_text()}")

    def wait_ready(self, timeout=20.0):
        return self.wait_notification("READY=1", timeout)

    def request(self, method, path, headers=None, body=None, timeout=10.0):
        conn = UnixHTTPConnection(self.socket, timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def get_json(self, path, headers=None):
        status, _, body = self.request("GET", path, headers=headers)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, None

    def tokenctl(self, *args, timeout=10.0, env=None):
        binary = binary_path("TOKENCTL_BIN")
        if not binary:
            raise HarnessError("TOKENCTL_BIN is not set to an executable")
        return subprocess.run([binary, "-s", self.socket, *map(str, args)],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self._cleanup()
        return self.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def _cleanup(self):
        if self.notify is not None:
            self.notify.close()
            self.notify_messages = self.notify.snapshot()
            self.notify = _Closed(self.notify_messages)
        shutil.rmtree(self.rundir, ignore_errors=True)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def sanitizer_report(self):
        text = self.log_text()
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                return text[max(0, i - 200):i + 4000]
        return None


class _Closed:
    """What Tokend.notify becomes after stop: the messages, still readable."""

    def __init__(self, messages):
        self.messages = messages

    def snapshot(self):
        return list(self.messages)

    def close(self):
        pass
